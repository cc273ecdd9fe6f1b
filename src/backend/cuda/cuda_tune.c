/* Tune / prepare / release dispatch for the library-backed ops (cuda_prepare.h), the timing
 * loop every candidate goes through, and the staged-output helpers Conv and Dense share.
 *
 * Tuning times each node at max_batch and, when that is larger, at batch 1 too (batch 1 is the
 * latency case, where other engines win). Per node it times at most ~17 candidates (6 fused
 * cuDNN engines, 6 plain ones, the legacy API, krt's depthwise variants; up to 8 cuBLASLt
 * algorithms for Dense), each with one checked run and then 10 runs captured into a CUDA graph
 * replayed 1 + 3 times; nodes with the same key (same shapes and attributes) are tuned once, so
 * a ResNet-50 tunes in seconds. Engines needing runtime compilation (NVRTC, ~0.3 s each) are
 * limited to 2 fused + 1 plain per node. Conv candidates are checked against a reference before
 * they are timed, and the choice again as prepare rebuilds it (cuda_conv.c, "verification"): a
 * fast engine that computes the wrong thing is never recorded.
 */
#include <string.h>

#include "backend/cuda/cuda_library_ops.h"
#include "core/status.h"

#define TIMED_RUNS 10   /* runs captured into the timed graph */
#define WARM_UPS 1      /* graph replays before timing */
#define REPLAYS 3       /* timed graph replays */
#define SLOW_RUN_MS 5.0 /* one run slower than this: 2 runs per graph */

krt_status *cuda_runtime_error(const ir_node *n, const char *call, cudaError_t e) {
  return krt_error(e == cudaErrorMemoryAllocation ? KRT_ERR_OUT_OF_MEMORY : KRT_ERR_DEVICE,
                   "node '%s' (%s): %s failed: %s (%s)", n && n->name ? n->name : "?",
                   n ? ir_op_name(n->op) : "?", call, cudaGetErrorString(e), cudaGetErrorName(e));
}

void cuda_tune_progress(const cuda_prepare_ctx *ctx, const ir_node *n, int done, int total) {
  if (ctx->progress) ctx->progress(ctx->progress_user, done, total, n->name ? n->name : "?");
}

/* Candidates are timed the way krt runs them: captured into a CUDA graph and replayed (krt
 * replays one graph per run), so launch overhead does not drown small batch-1 kernels and an
 * implementation that cannot be captured is rejected here rather than at run time. */
krt_status *cuda_time_candidate(cudaStream_t stream, cuda_candidate_fn run, void *arg,
                                double *ms) {
  *ms = 0.0;
  cudaEvent_t start = NULL, stop = NULL;
  cudaGraph_t graph = NULL;
  cudaGraphExec_t exec = NULL;
  krt_status *s = NULL;
  const char *what = "cudaEventCreate";
  cudaError_t e = cudaEventCreate(&start);
  if (e == cudaSuccess) e = cudaEventCreate(&stop);
  if (e != cudaSuccess) goto cuda_failed;
  /* One checked eager run: engines that fail at execution are dropped by the caller. */
  float first = 0.0f;
  what = "a checked run";
  if ((e = cudaEventRecord(start, stream)) != cudaSuccess) goto cuda_failed;
  if ((s = run(arg))) goto done;
  if ((e = cudaEventRecord(stop, stream)) != cudaSuccess) goto cuda_failed;
  if ((e = cudaEventSynchronize(stop)) != cudaSuccess) goto cuda_failed;
  if ((e = cudaEventElapsedTime(&first, start, stop)) != cudaSuccess) goto cuda_failed;
  int per_graph = first > SLOW_RUN_MS ? 2 : TIMED_RUNS;
  what = "capturing it into a CUDA graph";
  if ((e = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal)) != cudaSuccess)
    goto cuda_failed;
  for (int i = 0; i < per_graph && !s; i++) s = run(arg);
  e = cudaStreamEndCapture(stream, &graph);
  if (s) goto done;
  if (e != cudaSuccess) goto cuda_failed;
  if ((e = cudaGraphInstantiate(&exec, graph, 0)) != cudaSuccess) goto cuda_failed;
  what = "replaying it";
  for (int i = 0; i < WARM_UPS; i++)
    if ((e = cudaGraphLaunch(exec, stream)) != cudaSuccess) goto cuda_failed;
  if ((e = cudaEventRecord(start, stream)) != cudaSuccess) goto cuda_failed;
  for (int i = 0; i < REPLAYS; i++)
    if ((e = cudaGraphLaunch(exec, stream)) != cudaSuccess) goto cuda_failed;
  if ((e = cudaEventRecord(stop, stream)) != cudaSuccess) goto cuda_failed;
  if ((e = cudaEventSynchronize(stop)) != cudaSuccess) goto cuda_failed;
  float total = 0.0f;
  if ((e = cudaEventElapsedTime(&total, start, stop)) != cudaSuccess) goto cuda_failed;
  *ms = total / (REPLAYS * per_graph);
  goto done;
cuda_failed:
  s = krt_error(KRT_ERR_DEVICE, "tuning: %s failed: %s (%s)", what, cudaGetErrorString(e),
                cudaGetErrorName(e));
  cudaGetLastError(); /* clear a non-sticky error so the next candidate starts clean */
done:
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  if (start) cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
  return s;
}

static krt_status *unsupported(const ir_node *n) {
  return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s) is not a library-backed op",
                   n->name ? n->name : "?", ir_op_name(n->op));
}

krt_status *cuda_tune_node(const cuda_prepare_ctx *ctx, const ir_node *n) {
  if (!ctx || !n || !ctx->graph || !ctx->tuning)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "cuda_tune_node: NULL argument");
  int64_t batches[2] = {ctx->max_batch > 0 ? ctx->max_batch : 1, 1};
  int n_batches = batches[0] > 1 ? 2 : 1;
  for (int i = 0; i < n_batches; i++) {
    switch (n->op) {
      case IR_OP_CONV:
      case IR_OP_CONV_TRANSPOSE:
        KRT_TRY(cuda_conv_tune(ctx, n, batches[i]));
        break;
      case IR_OP_DENSE:
        KRT_TRY(cuda_dense_tune(ctx, n, batches[i]));
        break;
      default:
        return unsupported(n);
    }
  }
  return NULL;
}

krt_status *cuda_prepare_node(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                              size_t *workspace_bytes) {
  *op_state = NULL;
  *workspace_bytes = 0;
  if (!ctx || !n || !ctx->graph)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "cuda_prepare_node: NULL argument");
  switch (n->op) {
    case IR_OP_CONV:
    case IR_OP_CONV_TRANSPOSE:
      return cuda_conv_prepare(ctx, n, op_state, workspace_bytes);
    case IR_OP_DENSE:
      return cuda_dense_prepare(ctx, n, op_state, workspace_bytes);
    default:
      return unsupported(n);
  }
}

int cuda_node_weight_layouts(const cuda_prepare_ctx *ctx, const ir_node *n, int input,
                             int for_tuning) {
  /* Only a Conv/ConvTranspose filter (input 1) is read in another layout than the graph's. */
  if (input == 1 && (n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE))
    return cuda_conv_filter_layouts(ctx, n, for_tuning);
  return CUDA_LAYOUT_IR;
}

void cuda_release_node(const ir_node *n, void *op_state) {
  if (!n || !op_state) return;
  if (n->op == IR_OP_DENSE)
    cuda_dense_release(op_state);
  else if (n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE)
    cuda_conv_release(op_state);
}

#define STAGE_ALIGNMENT 256

size_t cuda_stage_align(size_t bytes) {
  return (bytes + STAGE_ALIGNMENT - 1) / STAGE_ALIGNMENT * STAGE_ALIGNMENT;
}

size_t cuda_stage_library_limit(size_t limit, size_t staged) {
  return limit > staged ? (limit - staged) / STAGE_ALIGNMENT * STAGE_ALIGNMENT : 0;
}

krt_status *cuda_stage_copy(const ir_node *n, void *dst, int64_t pitch, const void *src,
                            int64_t width, int64_t rows, size_t esize, cudaStream_t stream) {
  size_t row = (size_t)width * esize;
  cudaError_t e = cudaMemcpy2DAsync(dst, (size_t)pitch * esize, src, row, row, (size_t)rows,
                                    cudaMemcpyDeviceToDevice, stream);
  return e == cudaSuccess ? NULL : cuda_runtime_error(n, "cudaMemcpy2DAsync", e);
}
