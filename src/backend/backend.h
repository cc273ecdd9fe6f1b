/* The backend interface: what the engine and context code need from a device.
 *
 * A backend runs a whole planned graph. The engine calls engine_prepare once (weights to the
 * device, per-device choices), and each context gets its own state with one activation arena laid
 * out by the krt_plan. Values are float32 in the backend; the context converts the caller's
 * dtypes at the boundary. Every function returns NULL or an error status; none aborts.
 */
#ifndef KRT_BACKEND_BACKEND_H
#define KRT_BACKEND_BACKEND_H

#include "ir/graph.h"
#include "plan/plan.h"

/* Bumped whenever krt_backend or anything it passes (the structs below, ir_graph, krt_plan,
 * krt_status) changes layout: a plugin built against another layout must not be used. */
#define KRT_BACKEND_ABI 4u

/* What an engine's preparation gets beyond the graph and plan (engine_prepare_ex). */
typedef struct backend_engine_args {
  const ir_graph *graph;
  const krt_plan *plan;
  krt_precision precision;
  int tune;                   /* 1 at build time: choose implementations by timing them here */
  const void *tuning;         /* a loaded engine's TUNING section (may be NULL / empty) */
  size_t tuning_size;
  const char *tuned_device;   /* the device a loaded engine was tuned on ("" at build) */
  const char *timing_cache;   /* file read before and written after tuning, or NULL */
  krt_progress_fn progress;   /* tuning progress, or NULL */
  void *progress_user;
} backend_engine_args;

/* One input or output of a run (run_bound). Host data is float32; device data is FLOAT32 or
 * FLOAT16, used in place of (copied into or out of) the value's arena slot. */
typedef struct backend_binding {
  int value;        /* value id */
  int on_device;
  krt_dtype dtype;
  void *data;
  int64_t count;    /* elements at this run's batch */
} backend_binding;

typedef struct backend_run_args {
  int64_t batch;
  const backend_binding *inputs;   /* every graph input the plan places (offset >= 0) */
  int n_inputs;
  const backend_binding *outputs;  /* every graph output */
  int n_outputs;
  void *stream;                    /* the caller's cudaStream_t, or NULL for the context's own */
  int wait;                        /* 1: return once the run completed (and report its errors) */
} backend_run_args;

typedef struct krt_backend {
  const char *name;  /* "cpu", "cuda" */
  krt_device device;

  /* NULL when this backend can run node n of g; else KRT_ERR_UNSUPPORTED naming the node and why. */
  krt_status *(*check_node)(const ir_graph *g, const ir_node *n);

  /* Per engine. g and plan must outlive the state. */
  krt_status *(*engine_prepare)(const ir_graph *g, const krt_plan *plan, void **engine_state);
  void (*engine_release)(void *engine_state);

  /* Per context: allocates the arena (plan->arena_bytes). */
  krt_status *(*context_create)(void *engine_state, void **context_state);
  void (*context_release)(void *context_state);

  /* Copies `count` values between the host and value `value`'s slot in the arena: float32, or
   * for a graph input that input_dtype says the backend keeps as KRT_INT32, int32 (4 bytes each
   * either way; `host` then points at int32_t data). */
  krt_status *(*write_value)(void *context_state, int value, const float *host, int64_t count);
  krt_status *(*read_value)(void *context_state, int value, float *host, int64_t count);

  /* Runs every node in order at this batch (1..max_batch), inputs already written. */
  krt_status *(*run)(void *context_state, int64_t batch);

  /* ---- Optional slots (NULL where a backend has no such thing, as the CPU) ---------------- */

  /* engine_prepare with precision, tuning and progress; used instead of engine_prepare when set.
   * args->graph and args->plan must outlive the state; the other pointers need not. */
  krt_status *(*engine_prepare_ex)(const backend_engine_args *args, void **engine_state);
  /* The tuning table to store in the engine file (*data malloc'd, freed with free()). */
  krt_status *(*engine_tuning)(const void *engine_state, void **data, size_t *size);
  /* The device the engine runs on in this process ("NVIDIA H100 80GB HBM3"). */
  const char *(*engine_device_name)(const void *engine_state);
  /* What was chosen for node `node` ("cudnn engine 7, 0.042 ms"), "" when nothing. */
  void (*engine_node_note)(const void *engine_state, int node, char *buf, size_t size);

  /* A whole run with its bindings: copies in, computes, copies out, on args->stream. */
  krt_status *(*run_bound)(void *context_state, const backend_run_args *args);
  /* Waits for the last run_bound and reports its errors (a device error flag, a failed copy). */
  krt_status *(*synchronize)(void *context_state);
  krt_status *(*set_profiling)(void *context_state, int enable);
  krt_status *(*node_time)(const void *context_state, int node, double *ms);
  krt_status *(*last_timing)(const void *context_state, krt_run_timing *out);
  /* Whether node n can write its output rows `pitch` elements apart, `at` elements into each row
   * of a Concat's output (plan_options.writes_rows: Concat inputs written in place). */
  int (*writes_rows)(const ir_graph *g, const ir_node *n, int64_t at, int64_t pitch);
  /* Device bytes the engine's weights take (in its precision and layouts). */
  size_t (*engine_weight_bytes)(const void *engine_state);
  /* What this backend runs on, found at run time, as one line into buf (krt_device_info):
   * library versions and devices. */
  void (*runtime_info)(char *buf, size_t size);
  /* The dtype this backend keeps graph input `value` in: KRT_INT32 for an integer input it
   * computes with exactly (Gather indices: every int32 value, where float32 rounds above 2^24),
   * else KRT_FLOAT32 (the API converts the caller's data to float32 first). NULL: always
   * KRT_FLOAT32. */
  krt_dtype (*input_dtype)(const void *engine_state, int value);
} krt_backend;

/* The plugin entry point libkrt_cuda.so exports (KRT_CUDA_ENTRY_SYMBOL). abi_version is
 * KRT_BACKEND_ABI of the caller; on failure returns NULL and sets *error. */
typedef const krt_backend *(*krt_backend_entry_fn)(uint32_t abi_version, krt_status **error);
#define KRT_CUDA_ENTRY_SYMBOL "krt_cuda_backend_entry"
#define KRT_CUDA_MODULE_NAME "libkrt_cuda.so"

/* The portable float32 reference backend (src/backend/cpu). */
const krt_backend *krt_backend_cpu(void);

/* The backend for a device, or KRT_ERR_DEVICE when it is not built in or not usable here. The
 * CUDA backend is the plugin libkrt_cuda.so, loaded on first use (backend.c says where from). */
krt_status *krt_backend_for_device(krt_device device, const krt_backend **out);

#endif
