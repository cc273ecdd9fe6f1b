/* Statuses from CUDA, cuDNN and cuBLASLt return codes; device and pinned allocations; each
 * value's device dtype; the engine's weights on the device. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend_internal.h"
#include "backend/debug_hooks.h"

krt_status *cuda_status(cudaError_t err, const char *call, const char *where) {
  if (err == cudaSuccess) return NULL;
  krt_code code = err == cudaErrorMemoryAllocation ? KRT_ERR_OUT_OF_MEMORY : KRT_ERR_DEVICE;
  return krt_error(code, "%s: %s failed: %s (%s)", where, call, cudaGetErrorName(err),
                   cudaGetErrorString(err));
}

krt_status *cudnn_status(cudnnStatus_t err, const char *call, const char *where) {
  if (err == CUDNN_STATUS_SUCCESS) return NULL;
  krt_code code = err == CUDNN_STATUS_ALLOC_FAILED ? KRT_ERR_OUT_OF_MEMORY : KRT_ERR_DEVICE;
  return krt_error(code, "%s: %s failed: %s", where, call, cudnnGetErrorString(err));
}

krt_status *cublas_status(cublasStatus_t err, const char *call, const char *where) {
  if (err == CUBLAS_STATUS_SUCCESS) return NULL;
  krt_code code = err == CUBLAS_STATUS_ALLOC_FAILED ? KRT_ERR_OUT_OF_MEMORY : KRT_ERR_DEVICE;
  return krt_error(code, "%s: %s failed: cuBLAS status %d", where, call, (int)err);
}

krt_status *cuda_alloc_device(void **ptr, size_t bytes, const char *what) {
  *ptr = NULL;
  int forced = debug_fail_cuda_malloc(); /* debug_hooks.h: a test's failure on purpose */
  cudaError_t err = forced ? cudaErrorMemoryAllocation : cudaMalloc(ptr, bytes ? bytes : 1);
  if (err == cudaSuccess) return NULL;
  *ptr = NULL;
  (void)cudaGetLastError(); /* not sticky: clear it so later calls do not report it */
  if (err == cudaErrorMemoryAllocation) {
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    return krt_error(KRT_ERR_OUT_OF_MEMORY,
                     "cannot allocate %zu bytes of device memory for %s (%zu of %zu bytes free%s)",
                     bytes, what, free_bytes, total,
                     forced ? "; failed on purpose: " DEBUG_FAIL_CUDA_MALLOC_ENV : "");
  }
  return cuda_status(err, "cudaMalloc", what);
}

krt_status *cuda_alloc_pinned(void **ptr, size_t bytes, const char *what) {
  *ptr = NULL;
  cudaError_t err = cudaMallocHost(ptr, bytes ? bytes : 1);
  if (err == cudaSuccess) return NULL;
  *ptr = NULL;
  (void)cudaGetLastError();
  if (err == cudaErrorMemoryAllocation)
    return krt_error(KRT_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of pinned host memory for %s",
                     bytes, what);
  return cuda_status(err, "cudaMallocHost", what);
}

int cuda_node_is_tunable(const ir_node *n) {
  return n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE || n->op == IR_OP_DENSE;
}

/* Index-carrying values stay float32 in FP16 engines: half precision holds integers exactly only
 * up to 2048, and a vocabulary is larger. They are Gather's first input and whatever reaches it
 * through ops that only move data (walked back from the Gather). */
static int moves_data_only(ir_op op) {
  return op == IR_OP_RESHAPE || op == IR_OP_IDENTITY || op == IR_OP_TRANSPOSE ||
         op == IR_OP_SLICE || op == IR_OP_PAD || op == IR_OP_CONCAT || op == IR_OP_SPLIT;
}

static void mark_index_value(const ir_graph *g, krt_dtype *dtype, int value) {
  /* Iterative: a chain of data-moving ops, each marking its inputs. */
  int *stack = malloc((size_t)g->n_values * sizeof *stack);
  if (!stack) return; /* left in FP16: only precision, never memory, is at stake */
  int top = 0;
  stack[top++] = value;
  while (top > 0) {
    int v = stack[--top];
    if (dtype[v] == KRT_FLOAT32) continue;
    dtype[v] = KRT_FLOAT32;
    int p = g->values[v].producer;
    if (p < 0 || !moves_data_only(g->nodes[p].op)) continue;
    for (int i = 0; i < g->nodes[p].n_inputs && top < g->n_values; i++)
      stack[top++] = g->nodes[p].inputs[i];
    /* the outputs of one node share their input's dtype (a Split's other pieces) */
    for (int k = 0; k < g->nodes[p].n_outputs && top < g->n_values; k++)
      stack[top++] = g->nodes[p].outputs[k];
  }
  free(stack);
}

static krt_status *set_value_dtypes(cuda_engine *e) {
  const ir_graph *g = e->g;
  e->value_dtype = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *e->value_dtype);
  if (!e->value_dtype) return krt_error_oom("cuda value dtypes");
  for (int v = 0; v < g->n_values; v++) e->value_dtype[v] = e->compute_dtype;
  if (e->compute_dtype == KRT_FLOAT32) return NULL;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op == IR_OP_GATHER && g->nodes[i].n_inputs > 0)
      mark_index_value(g, e->value_dtype, g->nodes[i].inputs[0]);
  return NULL;
}

#define WEIGHT_ALIGNMENT 256

/* Which layouts each constant is needed in (CUDA_LAYOUT_* mask per value id). */
static krt_status *weight_layouts(const cuda_prepare_ctx *ctx, int for_tuning, int **out) {
  const ir_graph *g = ctx->graph;
  int *need = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *need);
  if (!need) return krt_error_oom("cuda weight layouts");
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    for (int j = 0; j < n->n_inputs; j++) {
      int v = n->inputs[j];
      if (v >= 0 && v < g->n_values && g->values[v].data)
        need[v] |= cuda_node_weight_layouts(ctx, n, j, for_tuning);
    }
  }
  /* Graph outputs folded into constants are read back as they are; a constant no node reads
   * keeps its IR copy too (it costs nothing to be safe, and none is expected after the passes). */
  for (int k = 0; k < g->n_outputs; k++)
    if (g->values[g->outputs[k]].data) need[g->outputs[k]] |= CUDA_LAYOUT_IR;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].data && !need[v]) need[v] = CUDA_LAYOUT_IR;
  *out = need;
  return NULL;
}

/* Value v in the FILTER layout: its last axis moved first, out[k][r] = in[r][k] (float32). */
static void move_last_axis_first(const ir_value *v, int64_t count, float *out) {
  int64_t k = v->rank > 0 ? v->dims[v->rank - 1] : 1;
  if (k <= 0) k = 1;
  int64_t rest = count / k;
  for (int64_t kk = 0; kk < k; kk++)
    for (int64_t r = 0; r < rest; r++) out[kk * rest + r] = v->data[r * k + kk];
}

void cuda_weights_free(cuda_weights *w) {
  if (!w) return;
  if (w->base) cudaFree(w->base);
  free(w->ptr);
  memset(w, 0, sizeof *w);
}

/* Every needed (value, layout) pair gets one aligned slot of the allocation. Float32 data goes
 * up as it is (re-laid on the host first for FILTER); FP16 constants go up as float32 through a
 * device staging buffer and are converted on the device (cuda_convert). */
krt_status *cuda_weights_upload(const cuda_prepare_ctx *ctx, const krt_dtype *value_dtype,
                                int for_tuning, cuda_weights *out) {
  memset(out, 0, sizeof *out);
  const ir_graph *g = ctx->graph;
  int *need = NULL;
  KRT_TRY(weight_layouts(ctx, for_tuning, &need));
  size_t slots = 2 * (size_t)(g->n_values ? g->n_values : 1);
  size_t *offset = malloc(slots * sizeof *offset);
  out->ptr = calloc(slots, sizeof *out->ptr);
  krt_status *s = NULL;
  if (!offset || !out->ptr) s = krt_error_oom("cuda weights table");
  size_t total = 0, largest = 0;
  int any_filter = 0;
  for (int v = 0; !s && v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (!val->data) continue;
    int64_t n = ir_value_elements(val, 1);
    size_t count = (size_t)(n > 0 ? n : 0);
    size_t bytes = count * krt_dtype_size(value_dtype[v]);
    if (count * sizeof(float) > largest) largest = count * sizeof(float);
    for (int layout = 0; layout < 2; layout++) {
      if (!(need[v] & (layout ? CUDA_LAYOUT_FILTER : CUDA_LAYOUT_IR))) continue;
      any_filter |= layout;
      offset[(size_t)layout * g->n_values + v] = total;
      total += (bytes + WEIGHT_ALIGNMENT - 1) / WEIGHT_ALIGNMENT * WEIGHT_ALIGNMENT;
    }
  }
  out->bytes = total;
  void *staging = NULL;
  float *host = NULL;
  int converts = 0;
  for (int v = 0; v < g->n_values; v++) converts |= g->values[v].data && value_dtype[v] != KRT_FLOAT32;
  if (!s) s = cuda_alloc_device(&out->base, total, "the engine's weights");
  if (!s && converts && largest > 0)
    s = cuda_alloc_device(&staging, largest, "converting the weights to float16");
  if (!s && any_filter && largest > 0 && !(host = malloc(largest)))
    s = krt_error_oom("re-laying convolution filters");
  for (int v = 0; !s && v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (!val->data) continue;
    int64_t n = ir_value_elements(val, 1);
    for (int layout = 0; !s && layout < 2; layout++) {
      if (!(need[v] & (layout ? CUDA_LAYOUT_FILTER : CUDA_LAYOUT_IR))) continue;
      size_t slot = (size_t)layout * g->n_values + v;
      void *dst = (unsigned char *)out->base + offset[slot];
      out->ptr[slot] = dst;
      if (n <= 0) continue;
      const float *src = val->data;
      if (layout) {
        move_last_axis_first(val, n, host);
        src = host;
      }
      if (value_dtype[v] == KRT_FLOAT32) {
        s = cuda_status(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float),
                                        cudaMemcpyHostToDevice, ctx->stream),
                        "cudaMemcpyAsync", val->name);
      } else {
        s = cuda_status(cudaMemcpyAsync(staging, src, (size_t)n * sizeof(float),
                                        cudaMemcpyHostToDevice, ctx->stream),
                        "cudaMemcpyAsync", val->name);
        if (!s)
          s = krt_error_wrap(cuda_convert(dst, value_dtype[v], staging, KRT_FLOAT32, n, ctx->stream),
                             "weights '%s': ", val->name);
      }
      /* The staging and host buffers are reused by the next copy, and val->data may be
       * pageable. */
      if (!s) s = cuda_status(cudaStreamSynchronize(ctx->stream), "cudaStreamSynchronize", val->name);
    }
  }
  if (staging) cudaFree(staging);
  free(host);
  free(offset);
  free(need);
  if (s) cuda_weights_free(out);
  return s;
}

/* The engine's weights for the implementations its tuning table records (or the heuristic ones).
 * Called again after build-time tuning: replaces the previous upload. */
krt_status *cuda_engine_upload_weights(cuda_engine *e, cudaStream_t stream) {
  cuda_weights old = {e->weights, e->weight_ptr, e->weight_bytes};
  cuda_weights_free(&old);
  e->weights = NULL;
  e->weight_ptr = NULL;
  e->weight_bytes = 0;
  if (!e->value_dtype) KRT_TRY(set_value_dtypes(e));
  cuda_prepare_ctx p;
  memset(&p, 0, sizeof p);
  p.graph = e->g;
  p.plan = e->plan;
  p.precision = e->precision;
  p.max_batch = e->plan->max_batch;
  p.device = e->device;
  p.stream = stream;
  p.tuning = e->tuning;
  cuda_weights w;
  KRT_TRY(cuda_weights_upload(&p, e->value_dtype, 0, &w));
  e->weights = w.base;
  e->weight_ptr = w.ptr;
  e->weight_bytes = w.bytes;
  return NULL;
}

void cuda_engine_free_weights(cuda_engine *e) {
  cuda_weights w = {e->weights, e->weight_ptr, e->weight_bytes};
  cuda_weights_free(&w);
  e->weights = NULL;
  e->weight_ptr = NULL;
  e->weight_bytes = 0;
  free(e->value_dtype);
  e->value_dtype = NULL;
}
