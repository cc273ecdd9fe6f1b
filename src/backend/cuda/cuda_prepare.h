/* How the CUDA runtime (cuda_backend.c) sets up library-backed ops (Conv, ConvTranspose, Dense:
 * cuda_conv.c, cuda_dense.c) and records what was chosen (cuda_tuning.c).
 *
 * Two steps per node:
 *   tune     once per engine, at build time on the target GPU: time the candidates (cuDNN engines,
 *            cuBLASLt algorithms, krt's own kernels such as the depthwise one) for this node's
 *            shapes at max batch and record the fastest in the tuning table. Looked up first in
 *            the timing cache (same key, same GPU) so rebuilding is fast. At load time tuning is
 *            skipped when the table has an entry for the node on this GPU.
 *   prepare  once per context (cuDNN handles and plans are per context so contexts can run on
 *            different threads at once): build the executable state for the recorded choice (or,
 *            with no entry, the heuristic first choice) and report the workspace it needs.
 * Weights are no per-context state: the engine uploads each constant once, in every layout its
 * nodes' chosen implementations read (cuda_weights_upload), and prepare only borrows pointers.
 */
#ifndef KRT_BACKEND_CUDA_PREPARE_H
#define KRT_BACKEND_CUDA_PREPARE_H

#include <cublasLt.h>
#include <cudnn.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"
#include "plan/plan.h"

/* The tuning table: choices keyed by a node signature (op, shapes, dtype, attributes) and the GPU
 * name. Serialised into the engine's TUNING section and into the timing cache file. */
typedef struct cuda_tuning cuda_tuning;

typedef struct cuda_choice {
  int kind;           /* which implementation: CUDA_IMPL_* below */
  int64_t id;         /* cuDNN engine global index / cuBLASLt algorithm id / kernel variant */
  uint8_t knobs[64];  /* implementation-specific settings (e.g. cuDNN knob choices), zero-padded */
  int n_knobs;
  double ms;          /* measured time at tuning, for `krt inspect` and the timing cache */
} cuda_choice;

enum {
  CUDA_IMPL_CUDNN_GRAPH = 1,   /* cuDNN graph API: conv (+bias +residual +activation) fused */
  CUDA_IMPL_CUDNN_LEGACY = 2,  /* cudnnConvolutionForward / BiasActivationForward + epilogue */
  CUDA_IMPL_CUBLASLT = 3,      /* cublasLtMatmul with epilogue */
  CUDA_IMPL_KRT_KERNEL = 4     /* one of krt's own kernels (id = variant) */
};

krt_status *cuda_tuning_create(const char *device_name, cuda_tuning **out);
/* Reads a table serialised by cuda_tuning_save; entries for another GPU are kept but unused. */
krt_status *cuda_tuning_load(const void *data, size_t size, const char *device_name,
                             cuda_tuning **out);
krt_status *cuda_tuning_save(const cuda_tuning *t, void **data, size_t *size); /* free() data */
/* Merges a timing cache file (missing file: nothing to merge) / writes it back. */
krt_status *cuda_tuning_merge_file(cuda_tuning *t, const char *path);
krt_status *cuda_tuning_write_file(const cuda_tuning *t, const char *path);
void cuda_tuning_free(cuda_tuning *t);
/* NULL when absent. The key is built by cuda_node_key. */
const cuda_choice *cuda_tuning_find(const cuda_tuning *t, const char *key);
krt_status *cuda_tuning_put(cuda_tuning *t, const char *key, const cuda_choice *choice);
/* A stable text key for a node's signature at this batch and precision, and its output pitch. */
void cuda_node_key(const ir_graph *g, const ir_node *n, int64_t batch, krt_precision precision,
                   int64_t out_pitch, char *key, size_t size);

/* What tune/prepare get. The runtime owns every handle and buffer here. */
typedef struct cuda_prepare_ctx {
  const ir_graph *graph;
  const krt_plan *plan; /* may be NULL: every output dense */
  krt_precision precision;
  int64_t max_batch;
  int device;                      /* CUDA device ordinal */
  cudnnHandle_t cudnn;             /* bound to `stream` */
  cublasLtHandle_t cublaslt;
  cudaStream_t stream;
  const void *const *weights;      /* the engine's weights (cuda_weights.ptr below): per value id
                                    * v, slot v = the constant in the IR layout and slot
                                    * g->n_values + v = the same constant in the FILTER layout,
                                    * each NULL where no node reads it that way. In the engine's
                                    * precision (float32, or float16 in FP16 engines; index values
                                    * stay float32). Dense reads W and b in the IR layout;
                                    * Conv/ConvTranspose read b in the IR layout and W in the
                                    * FILTER layout (cuDNN) or the IR layout (krt's depthwise
                                    * kernel). Every pointer is 16-byte aligned (cuDNN and
                                    * cuBLASLt are told so). Shared, read-only: contexts never
                                    * copy or re-lay weights. */
  void *scratch;                   /* tune only: device scratch for candidate runs */
  size_t scratch_bytes;
  cuda_tuning *tuning;             /* read by prepare, written by tune */
  krt_progress_fn progress;        /* tune only; may be NULL */
  void *progress_user;
} cuda_prepare_ctx;

/* The row pitch node n writes its output at: the Concat output's last dim when the plan writes
 * n's output in place (src/plan/plan.h), else 0 (dense). */
int64_t cuda_output_pitch(const cuda_prepare_ctx *ctx, const ir_node *n);
/* cuda_node_key for ctx's graph, precision and n's output pitch. */
void cuda_node_key_ctx(const cuda_prepare_ctx *ctx, const ir_node *n, int64_t batch, char *key,
                       size_t size);

/* Tune node n (Conv, ConvTranspose or Dense) and record its choice. */
krt_status *cuda_tune_node(const cuda_prepare_ctx *ctx, const ir_node *n);
/* Build the per-context state for node n; *workspace_bytes is what its launches need. */
krt_status *cuda_prepare_node(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                              size_t *workspace_bytes);
void cuda_release_node(const ir_node *n, void *op_state);

/* ---- the engine's weights: uploaded once per engine, in the layouts its nodes read ----------- */

/* Device layouts of a constant (bits of a mask). */
enum {
  CUDA_LAYOUT_IR = 1,     /* as the graph stores it: biases, Dense W[K, N] (cuBLASLt reads it as
                           * is), depthwise W[kh, kw, 1, Co] for krt's kernel, anything a
                           * non-library op reads */
  CUDA_LAYOUT_FILTER = 2  /* last axis moved first: conv filters W[taps][C][K] (Keras) ->
                           * KRSC [K][taps][C] (cuDNN). Conv: C = Ci/groups, K = Co;
                           * ConvTranspose: C = Co, K = Ci. Depends only on the value, so two
                           * nodes sharing a constant share its FILTER copy too. */
};

/* Which layouts node n reads its constant input `input` (an index into n->inputs) in. With
 * for_tuning, every candidate's (tuning times cuDNN and krt's kernels alike); else those of the
 * implementations ctx->tuning records for n at max_batch and 1, or the heuristic ones. */
int cuda_node_weight_layouts(const cuda_prepare_ctx *ctx, const ir_node *n, int input,
                             int for_tuning);

/* One device allocation holding every constant of ctx->graph in each layout some node reads it
 * in (unread constants and graph outputs: IR), in the dtype value_dtype[v]. */
typedef struct cuda_weights {
  void *base;          /* the allocation (cudaFree) */
  const void **ptr;    /* 2 * n_values slots, as cuda_prepare_ctx.weights describes (free) */
  size_t bytes;        /* device bytes held, alignment padding included */
} cuda_weights;

/* Uses ctx->graph, precision, max_batch, tuning and stream (synchronised before returning). */
krt_status *cuda_weights_upload(const cuda_prepare_ctx *ctx, const krt_dtype *value_dtype,
                                int for_tuning, cuda_weights *out);
void cuda_weights_free(cuda_weights *w);

#endif
