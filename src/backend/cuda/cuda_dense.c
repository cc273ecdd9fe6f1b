/* Dense on cuBLASLt: x[..., K] @ W[K, N] + b[N] (+ r) -> act -> y[..., N], M = rows of x.
 *
 * cuBLASLt is column-major, so the row-major product y[M, N] = x[M, K] W[K, N] is computed as
 * the column-major D[N, M] = A[N, K] B[K, M] with A = W (ld N), B = x (ld K), D = y (ld N): the
 * same bytes, no transposes. The bias is per row of D (length N, CUBLASLT_EPILOGUE_BIAS); a
 * residual is C = r with beta = 1, so D = epilogue(A B + r + bias) = act(x W + b + r).
 *
 * Precision: float32 accumulation everywhere. FP32 engines: CUBLAS_COMPUTE_32F (never TF32, so
 * they match Keras); TF32 engines: CUBLAS_COMPUTE_32F_FAST_TF32 (float32 data, products on TF32
 * tensor cores); FP16 engines: CUBLAS_COMPUTE_32F with half A, B, C, D and bias. cuBLASLt's
 * epilogue fuses ReLU (plain max(x, 0) only) and GELU (cuBLASLt's GELU is the tanh approximation,
 * so only gelu_tanh); any other activation runs in cuda_launch_epilogue after the matmul.
 *
 * Writing into a Concat in place (y's rows `pitch` elements apart, plan.h): D's leading dimension
 * is the pitch, C (the residual) keeps its own. When cuBLASLt offers nothing for that, or an
 * activation runs after the matmul (cuda_launch_epilogue writes dense rows), the result is
 * "staged": written dense into the workspace after cuBLASLt's part, then moved into place by one
 * cudaMemcpy2DAsync (the copy the Concat would have made).
 *
 * Tuning records the fastest heuristic algorithm: CUDA_IMPL_CUBLASLT, knobs = the 64-byte
 * cublasLtMatmulAlgo_t (serialisable for the same cuBLASLt version, which the table's context
 * names), id = its config id (for reading). Prepare re-validates it with cublasLtMatmulAlgoCheck.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_library_ops.h"
#include "core/status.h"

#define DENSE_MAX_EXECS 8
#define DENSE_TUNE_ALGOS 8
#define DENSE_MAX_WORKSPACE ((size_t)32 << 20)
#define DENSE_ALIGNMENT 16u /* the alignment krt guarantees; cuBLASLt assumes 256 by default */

typedef struct dense_exec {
  int64_t batch;
  cublasLtMatrixLayout_t b, d; /* x and y at this batch (d: ld = the pitch unless staged) */
  cublasLtMatrixLayout_t c;    /* the residual (ld n) when the node has one, else NULL (C = D) */
  cublasLtMatmulAlgo_t algo;
  size_t workspace; /* cuBLASLt's */
  int staged;       /* pitched output written dense into the workspace first */
  size_t staged_bytes;
} dense_exec;

typedef struct dense_state {
  const ir_node *node;
  cublasLtHandle_t lt;
  krt_dtype dtype;
  int64_t k, n;                 /* features in, out */
  int64_t rows_per_sample;      /* rows of x per batch element */
  int64_t pitch;                /* elements between rows of y; 0: dense (n) */
  int x_batched;                /* 0: x has no batch axis, M is fixed */
  const void *w, *bias;         /* the runtime's uploads */
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t a;
  int act_fused;                /* the activation is in cuBLASLt's epilogue */
  cuda_choice max_choice;
  int has_max_choice;
  dense_exec execs[DENSE_MAX_EXECS];
  int n_execs;
} dense_state;

static const char *node_name(const ir_node *n) { return n->name ? n->name : "?"; }

static krt_status *lt_error(const ir_node *n, const char *call, cublasStatus_t s) {
  return krt_error(s == CUBLAS_STATUS_NOT_SUPPORTED ? KRT_ERR_UNSUPPORTED
                   : s == CUBLAS_STATUS_ALLOC_FAILED ? KRT_ERR_OUT_OF_MEMORY
                                                     : KRT_ERR_DEVICE,
                   "node '%s' (Dense): %s failed: %s (%s)", node_name(n), call,
                   cublasLtGetStatusString(s), cublasLtGetStatusName(s));
}

#define LT_CHECK(n, call)                                        \
  do {                                                           \
    cublasStatus_t lt_s_ = (call);                               \
    if (lt_s_ != CUBLAS_STATUS_SUCCESS) return lt_error((n), #call, lt_s_); \
  } while (0)

static int plain_relu(const ir_activation *a) {
  return a->kind == IR_ACT_RELU && a->alpha == 0.0f && a->threshold == 0.0f &&
         (isinf(a->max_value) || a->max_value >= 3.0e38f);
}

/* The cuBLASLt epilogue for this node; *act_fused says whether it covers the activation. */
static cublasLtEpilogue_t choose_epilogue(const ir_node *n, int has_bias, int *act_fused) {
  const ir_activation *a = &n->attrs.act;
  *act_fused = 1;
  if (plain_relu(a)) return has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  if (a->kind == IR_ACT_GELU_TANH) return has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  *act_fused = a->kind == IR_ACT_NONE;
  return has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

static void exec_free(dense_exec *e);

void cuda_dense_release(void *op_state) {
  dense_state *st = op_state;
  if (!st) return;
  for (int i = 0; i < st->n_execs; i++) exec_free(&st->execs[i]);
  if (st->a) cublasLtMatrixLayoutDestroy(st->a);
  if (st->desc) cublasLtMatmulDescDestroy(st->desc);
  free(st);
}

static krt_status *state_init(const cuda_prepare_ctx *ctx, const ir_node *n, dense_state *st) {
  const ir_graph *g = ctx->graph;
  if (n->n_inputs < (n->attrs.residual ? 4 : 2))
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (Dense): %d inputs", node_name(n), n->n_inputs);
  const ir_value *x = &g->values[n->inputs[0]], *w = &g->values[n->inputs[1]];
  if (w->rank != 2 || x->rank < 1 || x->dims[x->rank - 1] != w->dims[0])
    return krt_error(KRT_ERR_SHAPE, "node '%s' (Dense): x of rank %d, W of rank %d",
                     node_name(n), x->rank, w->rank);
  st->node = n;
  st->lt = ctx->cublaslt;
  st->pitch = cuda_output_pitch(ctx, n);
  st->dtype = ctx->precision == KRT_PRECISION_FP16 ? KRT_FLOAT16 : KRT_FLOAT32;
  st->k = w->dims[0];
  st->n = w->dims[1];
  st->rows_per_sample = 1;
  st->x_batched = x->batched;
  for (int i = x->batched ? 1 : 0; i < x->rank - 1; i++) st->rows_per_sample *= x->dims[i];
  st->w = ctx->weights ? ctx->weights[n->inputs[1]] : NULL;
  st->bias = n->n_inputs > 2 && ctx->weights ? ctx->weights[n->inputs[2]] : NULL;
  if (!st->w || (n->n_inputs > 2 && !st->bias))
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (Dense): weights were not uploaded",
                     node_name(n));
  cudaDataType_t type = st->dtype == KRT_FLOAT16 ? CUDA_R_16F : CUDA_R_32F;
  cublasComputeType_t compute =
      ctx->precision == KRT_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  LT_CHECK(n, cublasLtMatmulDescCreate(&st->desc, compute, CUDA_R_32F));
  cublasLtEpilogue_t epi = choose_epilogue(n, st->bias != NULL, &st->act_fused);
  LT_CHECK(n, cublasLtMatmulDescSetAttribute(st->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                             sizeof epi));
  if (st->bias) {
    LT_CHECK(n, cublasLtMatmulDescSetAttribute(st->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                               &st->bias, sizeof st->bias));
    LT_CHECK(n, cublasLtMatmulDescSetAttribute(st->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                               &type, sizeof type));
  }
  LT_CHECK(n, cublasLtMatrixLayoutCreate(&st->a, type, (uint64_t)st->n, (uint64_t)st->k, st->n));
  return NULL;
}

static krt_status *preference(const ir_node *n, size_t limit, cublasLtMatmulPreference_t *pref) {
  uint64_t ws = limit;
  uint32_t align = DENSE_ALIGNMENT;
  LT_CHECK(n, cublasLtMatmulPreferenceCreate(pref));
  cublasLtMatmulPreferenceAttributes_t aligns[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
      *pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  for (int i = 0; i < 4 && s == CUBLAS_STATUS_SUCCESS; i++)
    s = cublasLtMatmulPreferenceSetAttribute(*pref, aligns[i], &align, sizeof align);
  if (s != CUBLAS_STATUS_SUCCESS) {
    cublasLtMatmulPreferenceDestroy(*pref);
    return lt_error(n, "cublasLtMatmulPreferenceSetAttribute", s);
  }
  return NULL;
}

/* The dense output at this batch, when an exec stages it. */
static size_t dense_staged_bytes(const dense_state *st, int64_t batch) {
  size_t esize = st->dtype == KRT_FLOAT16 ? 2 : 4;
  return cuda_stage_align((size_t)(batch * st->rows_per_sample * st->n) * esize);
}

/* All the workspace an exec uses: cuBLASLt's, then the staged output. */
static size_t exec_workspace(const dense_exec *e) {
  return e->staged ? cuda_stage_align(e->workspace) + e->staged_bytes : e->workspace;
}

/* Layouts for this batch; `staged`: D dense (the output goes through the workspace), else D at
 * the node's pitch. */
static krt_status *exec_layouts(const dense_state *st, int64_t batch, int staged, dense_exec *e) {
  cudaDataType_t type = st->dtype == KRT_FLOAT16 ? CUDA_R_16F : CUDA_R_32F;
  uint64_t m = (uint64_t)(batch * st->rows_per_sample);
  int64_t ldd = st->pitch && !staged ? st->pitch : st->n;
  e->batch = batch;
  e->staged = st->pitch && staged;
  e->staged_bytes = e->staged ? dense_staged_bytes(st, batch) : 0;
  LT_CHECK(st->node, cublasLtMatrixLayoutCreate(&e->b, type, (uint64_t)st->k, m, st->k));
  LT_CHECK(st->node, cublasLtMatrixLayoutCreate(&e->d, type, (uint64_t)st->n, m, ldd));
  if (st->node->attrs.residual)
    LT_CHECK(st->node, cublasLtMatrixLayoutCreate(&e->c, type, (uint64_t)st->n, m, st->n));
  return NULL;
}

static cublasLtMatrixLayout_t c_layout(const dense_exec *e) {
  return e->c ? e->c : e->d;
}

static krt_status *heuristics(const dense_state *st, const dense_exec *e, size_t limit,
                              cublasLtMatmulHeuristicResult_t *out, int max, int *n) {
  cublasLtMatmulPreference_t pref;
  *n = 0;
  KRT_TRY(preference(st->node, limit, &pref));
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st->lt, st->desc, st->a, e->b, c_layout(e),
                                                    e->d, pref, max, out, n);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS && s != CUBLAS_STATUS_NOT_SUPPORTED)
    return lt_error(st->node, "cublasLtMatmulAlgoGetHeuristic", s);
  if (s != CUBLAS_STATUS_SUCCESS) *n = 0;
  int kept = 0;
  for (int i = 0; i < *n; i++)
    if (out[i].state == CUBLAS_STATUS_SUCCESS && out[i].workspaceSize <= limit) out[kept++] = out[i];
  *n = kept;
  return NULL;
}

static void exec_free(dense_exec *e) {
  if (e->b) cublasLtMatrixLayoutDestroy(e->b);
  if (e->c) cublasLtMatrixLayoutDestroy(e->c);
  if (e->d) cublasLtMatrixLayoutDestroy(e->d);
  memset(e, 0, sizeof *e);
}

static krt_status *exec_build_layout(const dense_state *st, int64_t batch,
                                     const cuda_choice *choice, size_t limit, int staged,
                                     dense_exec *e);

/* A pitched output is written by cuBLASLt directly when it can (nothing runs after it, an
 * algorithm takes the leading dimension), else staged. `limit` bounds everything the exec uses
 * of the workspace, a staged output included. */
static krt_status *exec_build(const dense_state *st, int64_t batch, const cuda_choice *choice,
                              size_t limit, dense_exec *e) {
  if (st->pitch && st->act_fused) {
    krt_status *s = exec_build_layout(st, batch, choice, limit, 0, e);
    if (!s || krt_status_code(s) != KRT_ERR_UNSUPPORTED) return s;
    krt_status_release(s);
  }
  return exec_build_layout(st, batch, choice, limit, st->pitch != 0, e);
}

/* The recorded algorithm when cuBLASLt still accepts it for this batch, else the first
 * heuristic one whose workspace fits. */
static krt_status *exec_build_layout(const dense_state *st, int64_t batch,
                                     const cuda_choice *choice, size_t limit, int staged,
                                     dense_exec *e) {
  memset(e, 0, sizeof *e);
  krt_status *s = exec_layouts(st, batch, staged, e);
  if (s) {
    exec_free(e);
    return s;
  }
  if (e->staged) limit = cuda_stage_library_limit(limit, e->staged_bytes);
  if (choice && choice->kind == CUDA_IMPL_CUBLASLT && choice->n_knobs == (int)sizeof e->algo) {
    cublasLtMatmulHeuristicResult_t check;
    memcpy(&e->algo, choice->knobs, sizeof e->algo);
    if (cublasLtMatmulAlgoCheck(st->lt, st->desc, st->a, e->b, c_layout(e), e->d, &e->algo,
                                &check) == CUBLAS_STATUS_SUCCESS &&
        check.workspaceSize <= limit) {
      e->workspace = check.workspaceSize;
      return NULL;
    }
  }
  cublasLtMatmulHeuristicResult_t results[1];
  int n = 0;
  s = heuristics(st, e, limit, results, 1, &n);
  if (!s && n == 0)
    s = krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (Dense): cuBLASLt has no algorithm for "
                  "%lld x %lld x %lld", node_name(st->node), (long long)(batch * st->rows_per_sample),
                  (long long)st->k, (long long)st->n);
  if (s) {
    exec_free(e);
    return s;
  }
  e->algo = results[0].algo;
  e->workspace = results[0].workspaceSize;
  return NULL;
}

/* Runs e: y is the node's output (pitched when st->pitch), workspace holds exec_workspace(e). */
static krt_status *exec_run(const dense_state *st, const dense_exec *e, const void *x, void *y,
                            const void *residual, void *workspace, cudaStream_t stream) {
  const ir_node *n = st->node;
  void *out = e->staged ? (unsigned char *)workspace + cuda_stage_align(e->workspace) : y;
  float alpha = 1.0f, beta = residual ? 1.0f : 0.0f;
  const void *c = residual ? residual : out;
  int64_t rows = e->batch * st->rows_per_sample;
  LT_CHECK(n, cublasLtMatmul(st->lt, st->desc, &alpha, st->w, st->a, x, e->b, &beta, c, c_layout(e),
                             out, e->d, &e->algo, workspace, e->workspace, stream));
  if (!st->act_fused)
    KRT_TRY(cuda_launch_epilogue(node_name(n), out, st->dtype, rows, st->n, NULL, NULL,
                                 &n->attrs.act, stream));
  if (!e->staged) return NULL;
  return cuda_stage_copy(n, y, st->pitch, out, st->n, rows, st->dtype == KRT_FLOAT16 ? 2 : 4,
                         stream);
}

krt_status *cuda_launch_dense(const ir_node *n, const cuda_tensor *in, int n_in, cuda_tensor *y,
                              const cuda_launch *l) {
  dense_state *st = (dense_state *)l->op_state; /* per context: only this context's thread */
  if (!st || st->node != n)
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (Dense): not prepared", node_name(n));
  if (n_in < (n->attrs.residual ? 4 : 2) || in[0].dtype != st->dtype || y->dtype != st->dtype)
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (Dense): inputs or dtypes do not match the "
                     "engine's", node_name(n));
  const dense_exec *e = NULL;
  int64_t batch = st->x_batched ? in[0].dims[0] : 1;
  for (int i = 0; i < st->n_execs && !e; i++)
    if (st->execs[i].batch == batch) e = &st->execs[i];
  if (!e) {
    if (st->n_execs == DENSE_MAX_EXECS) exec_free(&st->execs[--st->n_execs]);
    KRT_TRY(exec_build(st, batch, st->has_max_choice ? &st->max_choice : NULL,
                       l->workspace_bytes, &st->execs[st->n_execs]));
    e = &st->execs[st->n_execs++];
  }
  if (((uintptr_t)in[0].data | (uintptr_t)y->data |
       (uintptr_t)(n->attrs.residual ? in[3].data : NULL)) % DENSE_ALIGNMENT)
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (Dense): tensors are not %u-byte aligned",
                     node_name(n), DENSE_ALIGNMENT);
  if (y->row_pitch != st->pitch || exec_workspace(e) > l->workspace_bytes)
    return krt_error(KRT_ERR_INTERNAL,
                     "node '%s' (Dense): output pitch %lld and %zu workspace "
                     "bytes; prepared for %lld and %zu",
                     node_name(n), (long long)y->row_pitch, l->workspace_bytes,
                     (long long)st->pitch, exec_workspace(e));
  return exec_run(st, e, in[0].data, y->data, n->attrs.residual ? in[3].data : NULL,
                  l->workspace, l->stream);
}

krt_status *cuda_dense_prepare(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                               size_t *workspace_bytes) {
  *op_state = NULL;
  *workspace_bytes = 0;
  dense_state *st = calloc(1, sizeof *st);
  if (!st) return krt_error_oom("Dense state");
  krt_status *s = state_init(ctx, n, st);
  char key[1024];
  cuda_node_key_ctx(ctx, n, ctx->max_batch, key, sizeof key);
  const cuda_choice *max_choice = cuda_tuning_find(ctx->tuning, key);
  if (max_choice) {
    st->max_choice = *max_choice;
    st->has_max_choice = 1;
  }
  int64_t batches[2] = {st->x_batched ? ctx->max_batch : 1, 1};
  int n_batches = batches[0] > 1 ? 2 : 1;
  size_t workspace = 0;
  for (int i = 0; i < n_batches && !s; i++) {
    cuda_node_key_ctx(ctx, n, batches[i], key, sizeof key);
    const cuda_choice *choice = cuda_tuning_find(ctx->tuning, key);
    s = exec_build(st, batches[i], choice ? choice : max_choice, DENSE_MAX_WORKSPACE,
                   &st->execs[st->n_execs]);
    if (!s && st->execs[st->n_execs].workspace > workspace)
      workspace = st->execs[st->n_execs].workspace;
    if (!s) st->n_execs++;
  }
  /* Any batch built later may stage its output: room for the largest one, after cuBLASLt's. */
  if (!s && st->pitch) workspace = cuda_stage_align(workspace) + dense_staged_bytes(st, batches[0]);
  if (s) {
    cuda_dense_release(st);
    return s;
  }
  *op_state = st;
  *workspace_bytes = workspace;
  return NULL;
}

typedef struct dense_trial {
  const dense_state *st;
  const dense_exec *e;
  const void *x, *residual;
  void *y, *workspace;
  cudaStream_t stream;
} dense_trial;

static krt_status *run_trial(void *arg) {
  dense_trial *t = arg;
  return exec_run(t->st, t->e, t->x, t->y, t->residual, t->workspace, t->stream);
}

krt_status *cuda_dense_tune(const cuda_prepare_ctx *ctx, const ir_node *n, int64_t batch) {
  char key[1024];
  cuda_node_key_ctx(ctx, n, batch, key, sizeof key);
  if (cuda_tuning_find(ctx->tuning, key)) return NULL;
  dense_state *st = calloc(1, sizeof *st);
  if (!st) return krt_error_oom("Dense state");
  dense_exec e;
  memset(&e, 0, sizeof e);
  void *x = NULL, *y = NULL, *r = NULL, *ws = NULL;
  cublasLtMatmulHeuristicResult_t results[DENSE_TUNE_ALGOS];
  int n_results = 0;
  krt_status *s = state_init(ctx, n, st);
  /* A pitched output: cuBLASLt's algorithms for the pitched D when it writes it directly, else
   * (as exec_build falls back) for the dense one, staged. */
  int staged = st->pitch && !st->act_fused;
  if (!s) s = exec_layouts(st, st->x_batched ? batch : 1, staged, &e);
  if (!s) s = heuristics(st, &e, DENSE_MAX_WORKSPACE, results, DENSE_TUNE_ALGOS, &n_results);
  if (!s && n_results == 0 && st->pitch && !staged) {
    exec_free(&e);
    s = exec_layouts(st, st->x_batched ? batch : 1, 1, &e);
    if (!s) s = heuristics(st, &e, DENSE_MAX_WORKSPACE, results, DENSE_TUNE_ALGOS, &n_results);
  }
  if (!s && n_results == 0)
    s = krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (Dense): cuBLASLt has no algorithm for %s",
                  node_name(n), key);
  if (!s) {
    size_t esize = st->dtype == KRT_FLOAT16 ? 2 : 4, ws_max = 0;
    int64_t m = e.batch * st->rows_per_sample;
    for (int i = 0; i < n_results; i++)
      if (results[i].workspaceSize > ws_max) ws_max = results[i].workspaceSize;
    if (e.staged) ws_max = cuda_stage_align(ws_max) + e.staged_bytes;
    int64_t y_row = st->pitch ? st->pitch : st->n;
    cudaError_t ce = cudaMalloc(&x, (size_t)(m * st->k) * esize);
    if (ce == cudaSuccess) ce = cudaMemsetAsync(x, 0, (size_t)(m * st->k) * esize, ctx->stream);
    if (ce == cudaSuccess) ce = cudaMalloc(&y, (size_t)(m * y_row) * esize);
    if (ce == cudaSuccess && n->attrs.residual) ce = cudaMalloc(&r, (size_t)(m * st->n) * esize);
    if (ce == cudaSuccess && r) ce = cudaMemsetAsync(r, 0, (size_t)(m * st->n) * esize, ctx->stream);
    if (ce == cudaSuccess && ws_max) ce = cudaMalloc(&ws, ws_max);
    if (ce != cudaSuccess) s = cuda_runtime_error(n, "allocating tuning buffers", ce);
  }
  cuda_choice best;
  memset(&best, 0, sizeof best);
  best.ms = -1.0;
  char last_failure[256] = "";
  for (int i = 0; i < n_results && !s; i++) {
    e.algo = results[i].algo;
    e.workspace = results[i].workspaceSize;
    dense_trial t = {st, &e, x, r, y, ws, ctx->stream};
    double ms;
    krt_status *err = cuda_time_candidate(ctx->stream, run_trial, &t, &ms);
    cuda_tune_progress(ctx, n, i + 1, n_results);
    if (err) {
      snprintf(last_failure, sizeof last_failure, "%s", krt_status_message(err));
      krt_status_release(err);
      continue;
    }
    if (best.ms >= 0 && ms >= best.ms) continue;
    int config_id = 0;
    size_t written = 0;
    cublasLtMatmulAlgoConfigGetAttribute(&e.algo, CUBLASLT_ALGO_CONFIG_ID, &config_id,
                                         sizeof config_id, &written);
    best.kind = CUDA_IMPL_CUBLASLT;
    best.id = config_id;
    memcpy(best.knobs, &e.algo, sizeof e.algo);
    best.n_knobs = (int)sizeof e.algo;
    best.ms = ms;
  }
  if (!s && best.ms < 0) {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
    s = krt_error(KRT_ERR_DEVICE, "node '%s' (Dense): none of %d cuBLASLt algorithms ran, the "
                  "last with: %s; %zu MiB of %zu MiB device memory free", node_name(n), n_results,
                  last_failure, free_bytes >> 20, total_bytes >> 20);
  }
  if (!s) s = cuda_tuning_put(ctx->tuning, key, &best);
  cudaStreamSynchronize(ctx->stream);
  cudaFree(x);
  cudaFree(y);
  cudaFree(r);
  cudaFree(ws);
  exec_free(&e);
  cuda_dense_release(st);
  return s;
}
