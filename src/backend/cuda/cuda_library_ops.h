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

/* Staged outputs (cuda_tune.c): an implementation that cannot write its rows at the pitch of the
 * Concat it writes into (plan.h) writes them dense into its workspace, after the library's own
 * part (at cuda_stage_align(library bytes)), and cuda_stage_copy moves them into place. */
size_t cuda_stage_align(size_t bytes); /* rounded up to 256 */
/* What the library may use of `limit` workspace bytes when `staged` (aligned) bytes follow. */
size_t cuda_stage_library_limit(size_t limit, size_t staged);
/* rows x width elements of esize bytes: dense src -> dst, rows `pitch` elements apart. */
krt_status *cuda_stage_copy(const ir_node *n, void *dst, int64_t pitch, const void *src,
                            int64_t width, int64_t rows, size_t esize, cudaStream_t stream);

#endif
