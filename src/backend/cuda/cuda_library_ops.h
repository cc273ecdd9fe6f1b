/* Internal to the library-backed ops: the per-op tune/prepare/release behind cuda_tune_node,
 * cuda_prepare_node and cuda_release_node (cuda_tune.c), and the helpers they share.
 */
#ifndef KRT_BACKEND_CUDA_LIBRARY_OPS_H
#define KRT_BACKEND_CUDA_LIBRARY_OPS_H

#include "backend/cuda/cuda_prepare.h"

/* cuda_conv.c: Conv and ConvTranspose */
krt_status *cuda_conv_tune(const cuda_prepare_ctx *ctx, const ir_node *n, int64_t batch);
krt_status *cuda_conv_prepare(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                              size_t *workspace_bytes);
void cuda_conv_release(void *op_state);
/* The layouts (CUDA_LAYOUT_* mask) a Conv/ConvTranspose reads its filter W in. */
int cuda_conv_filter_layouts(const cuda_prepare_ctx *ctx, const ir_node *n, int for_tuning);

/* cuda_dense.c */
krt_status *cuda_dense_tune(const cuda_prepare_ctx *ctx, const ir_node *n, int64_t batch);
krt_status *cuda_dense_prepare(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                               size_t *workspace_bytes);
void cuda_dense_release(void *op_state);

/* cuda_tune.c: times `run(arg)` on `stream` with events: one checked run, a few warm-ups, then the
 * mean of several timed runs (fewer when one run is slow). A failing run returns its status. */
typedef krt_status *(*cuda_candidate_fn)(void *arg);
krt_status *cuda_time_candidate(cudaStream_t stream, cuda_candidate_fn run, void *arg,
                                double *ms);
/* Reports one timed candidate to ctx->progress (when set). */
void cuda_tune_progress(const cuda_prepare_ctx *ctx, const ir_node *n, int done, int total);
/* A CUDA runtime failure as a status naming the node and the call. */
krt_status *cuda_runtime_error(const ir_node *n, const char *call, cudaError_t e);

#endif
