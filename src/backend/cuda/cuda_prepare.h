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
 */
#ifndef KRT_BACKEND_CUDA_PREPARE_H
#define KRT_BACKEND_CUDA_PREPARE_H

#include <cublasLt.h>
#include <cudnn.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"

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
/* A stable text key for a node's signature at this batch and precision. */
void cuda_node_key(const ir_graph *g, const ir_node *n, int64_t batch, krt_precision precision,
                   char *key, size_t size);

/* What tune/prepare get. The runtime owns every handle and buffer here. */
typedef struct cuda_prepare_ctx {
  const ir_graph *graph;
  krt_precision precision;
  int64_t max_batch;
  int device;                      /* CUDA device ordinal */
  cudnnHandle_t cudnn;             /* bound to `stream` */
  cublasLtHandle_t cublaslt;
  cudaStream_t stream;
  const void *const *weights;      /* per value id: device pointer of constants (else NULL), in the
                                    * engine's precision (biases and BN-like vectors in float32 when
                                    * precision is FP32, float16 in FP16 engines). Dense reads its
                                    * W and b here; Conv/ConvTranspose read b here, and W only for
                                    * krt's depthwise kernel (IR layout): cuDNN wants KRSC filters,
                                    * which each context re-lays from the graph's float32 constant.
                                    * Every pointer handed to tune/prepare/launch must be 16-byte
                                    * aligned (cuDNN and cuBLASLt are told so). */
  void *scratch;                   /* tune only: device scratch for candidate runs */
  size_t scratch_bytes;
  cuda_tuning *tuning;             /* read by prepare, written by tune */
  krt_progress_fn progress;        /* tune only; may be NULL */
  void *progress_user;
} cuda_prepare_ctx;

/* Tune node n (Conv, ConvTranspose or Dense) and record its choice. */
krt_status *cuda_tune_node(const cuda_prepare_ctx *ctx, const ir_node *n);
/* Build the per-context state for node n; *workspace_bytes is what its launches need. */
krt_status *cuda_prepare_node(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                              size_t *workspace_bytes);
void cuda_release_node(const ir_node *n, void *op_state);

#endif
