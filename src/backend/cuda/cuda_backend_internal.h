/* The CUDA runtime's own structures, shared by cuda_backend.c (entry point, engines),
 * cuda_memory.c (statuses from CUDA errors, weights, device dtypes), cuda_context.c (contexts and
 * runs) and cuda_graph.c (CUDA graph capture and replay).
 *
 * Engine: immutable after prepare, shared by every context on any thread: the graph and plan,
 * the weights on the device (one allocation, in the engine's precision), each value's device
 * dtype and the tuning table.
 * Context: everything a run writes: its own stream, cuDNN and cuBLASLt handles, activation
 * arena, per-node library state, workspace, error flags, pinned host staging and events.
 */
#ifndef KRT_BACKEND_CUDA_BACKEND_INTERNAL_H
#define KRT_BACKEND_CUDA_BACKEND_INTERNAL_H

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_debug.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_prepare.h"
#include "core/status.h"

/* ---- statuses from library return codes (cuda_memory.c) ---------------------------------- */

/* NULL on success; else KRT_ERR_DEVICE "<where>: <call> failed: <name> (<description>)", or
 * KRT_ERR_OUT_OF_MEMORY for an allocation failure. `where` names the node or the step. */
krt_status *cuda_status(cudaError_t err, const char *call, const char *where);
krt_status *cudnn_status(cudnnStatus_t err, const char *call, const char *where);
krt_status *cublas_status(cublasStatus_t err, const char *call, const char *where);
/* cudaMalloc / cudaMallocHost with KRT_ERR_OUT_OF_MEMORY naming the size and purpose. */
krt_status *cuda_alloc_device(void **ptr, size_t bytes, const char *what);
krt_status *cuda_alloc_pinned(void **ptr, size_t bytes, const char *what);

#define CUDA_TRY(call, where) KRT_TRY(cuda_status((call), #call, (where)))

/* ---- engine ------------------------------------------------------------------------------ */

typedef struct cuda_engine {
  const ir_graph *g;
  const krt_plan *plan;
  krt_precision precision;
  krt_dtype compute_dtype;   /* FLOAT32, or FLOAT16 for FP16 engines */
  int device;                /* CUDA ordinal the engine lives on */
  char device_name[256];     /* of that device */
  int tuned_here;            /* 1 when the tuning table is for this device */
  krt_dtype *value_dtype;    /* per value id: its dtype on the device */
  void *weights;             /* one device allocation holding every constant */
  const void **weight_ptr;   /* 2 x n_values slots (cuda_weights_upload): [v] the constant in the
                              * IR layout, [n_values + v] a conv filter in cuDNN's KRSC layout;
                              * NULL where no node reads that layout */
  size_t weight_bytes;
  cuda_tuning *tuning;
  int max_inputs;            /* most inputs of any node */
  int max_outputs;           /* most outputs of any node */
} cuda_engine;

/* Whether n is set up by cuda_prepare_node (library-backed: Conv, ConvTranspose, Dense). */
int cuda_node_is_tunable(const ir_node *n);

/* Sets engine->value_dtype and uploads the constants (cuda_memory.c). */
krt_status *cuda_engine_upload_weights(cuda_engine *e, cudaStream_t stream);
void cuda_engine_free_weights(cuda_engine *e);

/* ---- context ----------------------------------------------------------------------------- */

/* Graphs cached per context: keyed by batch and the bound device pointers baked into them. */
#define CUDA_GRAPH_SLOTS 16
/* Batch sizes remembered as validated (an eager run at that size completed without error). */
#define CUDA_VALIDATED_SLOTS 16

/* A CUDA graph of the compute at one batch with one set of bound device pointers (`keys`: per
 * graph input then output, the caller's pointer its nodes read or write, NULL for arena slots). */
typedef struct cuda_graph_slot {
  int64_t batch;          /* 0: free */
  void **keys;            /* n_keys pointers (cuda_context.n_keys) */
  cudaGraphExec_t exec;
  uint64_t last_use;
} cuda_graph_slot;

/* One output copied from pinned staging into the caller's host buffer once the run is done. */
typedef struct cuda_host_copy {
  void *dst;
  const void *src;
  size_t bytes;
} cuda_host_copy;

enum { EV_START, EV_INPUTS_DONE, EV_COMPUTE_DONE, EV_END, EV_COUNT };

typedef struct cuda_context {
  cuda_run_counters counters;   /* FIRST member: tests read it through cuda_debug.h */
  const cuda_engine *engine;
  cudaStream_t stream;
  cudnnHandle_t cudnn;
  cublasLtHandle_t cublaslt;
  unsigned char *arena;         /* plan->arena_bytes of device memory */
  void **op_state;              /* per node, from cuda_prepare_node (or NULL) */
  void *workspace;              /* the largest any node asked for, shared (one stream) */
  size_t workspace_bytes;
  int *error_flags;             /* device: one int per node (cuda_launch.error_flag) */
  int *error_host;              /* pinned copy read after the run */
  unsigned char *host_staging;  /* pinned: float32 inputs then outputs at max batch */
  size_t host_staging_bytes;
  unsigned char *device_staging;/* float32 data being converted to/from the engine precision */
  size_t device_staging_bytes;
  cuda_tensor *views;           /* max_inputs input views, reused for every node */
  cuda_tensor *output_views;    /* max_outputs output views, reused for every node */
  cuda_host_copy *host_copies;  /* per output */
  int n_host_copies;
  cudaEvent_t events[EV_COUNT];
  cudaEvent_t joined;           /* the caller's stream -> ours and back */
  /* Profiling: events around every node, and the times of the last run. */
  int profiling;
  cudaEvent_t *node_events;     /* n_nodes + 1, created when profiling is first turned on */
  double *node_ms;
  /* The run in flight (run_bound with wait = 0), checked at the next synchronize or run. */
  int pending;
  int64_t pending_batch;
  int pending_eager;            /* it ran without a graph: validates its batch on success */
  int pending_profiled;
  krt_run_timing timing;
  int has_timing;
  /* Zero-copy bindings of the run being enqueued: per value id, the caller's device pointer that
   * replaces the value's arena slot (NULL: the slot). Set only at alias roots (alias_root). */
  void **bound_ptr;
  int *alias_root;              /* per value id: the value owning its bytes (Reshape/Identity) */
  unsigned char *is_graph_input;/* per value id */
  void **keys;                  /* n_keys: this run's bound pointers, the graph cache key */
  int n_keys;                   /* graph inputs + graph outputs */
  /* CUDA graphs, per batch size and set of bound pointers. */
  cuda_graph_slot graphs[CUDA_GRAPH_SLOTS];
  int64_t validated[CUDA_VALIDATED_SLOTS];
  uint64_t validated_use[CUDA_VALIDATED_SLOTS];
  uint64_t use_counter;
  int graphs_disabled;          /* capture failed once: run eagerly from then on */
  /* Test hook (src/backend/debug_hooks.h): the node whose output is spoilt after it runs (-1:
   * none) and the offset added, one element of that output's device dtype. */
  int broken_node;
  void *break_offset;
} cuda_context;

/* Enqueues every node at this batch on c->stream (events around each when `profile`). */
krt_status *cuda_launch_nodes(cuda_context *c, int64_t batch, int profile);

/* The compute part of a run at this batch (cuda_graph.c): replays the graph of (batch, c->keys),
 * captures it when the batch was validated, else runs eagerly. *eager says which happened. */
krt_status *cuda_run_compute(cuda_context *c, int64_t batch, int *eager);
void cuda_graph_mark_validated(cuda_context *c, int64_t batch);
void cuda_graphs_release(cuda_context *c);
/* Allocates the key arrays of the graph slots (n_keys each); at context creation. */
krt_status *cuda_graphs_init(cuda_context *c);

/* The vtable slots implemented in cuda_context.c. */
krt_status *cuda_context_create(void *engine_state, void **context_state);
void cuda_context_release(void *context_state);
krt_status *cuda_write_value(void *context_state, int value, const float *host, int64_t count);
krt_status *cuda_read_value(void *context_state, int value, float *host, int64_t count);
krt_status *cuda_run(void *context_state, int64_t batch);
krt_status *cuda_run_bound(void *context_state, const backend_run_args *args);
krt_status *cuda_synchronize(void *context_state);
krt_status *cuda_set_profiling(void *context_state, int enable);
krt_status *cuda_node_time(const void *context_state, int node, double *ms);
krt_status *cuda_last_timing(const void *context_state, krt_run_timing *out);

#endif
