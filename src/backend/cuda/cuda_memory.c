/* Statuses from CUDA, cuDNN and cuBLASLt return codes; device and pinned allocations; each
 * value's device dtype; the engine's weights on the device. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend_internal.h"

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
  cudaError_t err = cudaMalloc(ptr, bytes ? bytes : 1);
  if (err == cudaSuccess) return NULL;
  *ptr = NULL;
  (void)cudaGetLastError(); /* not sticky: clear it so later calls do not report it */
  if (err == cudaErrorMemoryAllocation) {
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    return krt_error(KRT_ERR_OUT_OF_MEMORY,
                     "cannot allocate %zu bytes of device memory for %s (%zu of %zu bytes free)",
                     bytes, what, free_bytes, total);
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
         op == IR_OP_SLICE || op == IR_OP_PAD || op == IR_OP_CONCAT;
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

/* Uploads every constant, in its device dtype, into one allocation. FP16 constants go up as
 * float32 through a staging buffer and are converted on the device (cuda_convert). */
krt_status *cuda_engine_upload_weights(cuda_engine *e, cudaStream_t stream) {
  const ir_graph *g = e->g;
  KRT_TRY(set_value_dtypes(e));
  e->weight_ptr = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *e->weight_ptr);
  size_t *offset = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *offset);
  if (!e->weight_ptr || !offset) {
    free(offset);
    return krt_error_oom("cuda weights table");
  }
  size_t total = 0, largest = 0;
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (!val->data) continue;
    int64_t n = ir_value_elements(val, 1);
    size_t bytes = (size_t)(n > 0 ? n : 0) * krt_dtype_size(e->value_dtype[v]);
    offset[v] = total;
    total += (bytes + WEIGHT_ALIGNMENT - 1) / WEIGHT_ALIGNMENT * WEIGHT_ALIGNMENT;
    if ((size_t)(n > 0 ? n : 0) * sizeof(float) > largest) largest = (size_t)n * sizeof(float);
  }
  e->weight_bytes = total;
  krt_status *s = cuda_alloc_device(&e->weights, total, "the engine's weights");
  void *staging = NULL;
  if (!s && e->compute_dtype != KRT_FLOAT32 && largest > 0)
    s = cuda_alloc_device(&staging, largest, "converting the weights to float16");
  for (int v = 0; !s && v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (!val->data) continue;
    int64_t n = ir_value_elements(val, 1);
    void *dst = (unsigned char *)e->weights + offset[v];
    e->weight_ptr[v] = dst;
    if (n <= 0) continue;
    if (e->value_dtype[v] == KRT_FLOAT32) {
      s = cuda_status(cudaMemcpyAsync(dst, val->data, (size_t)n * sizeof(float),
                                      cudaMemcpyHostToDevice, stream),
                      "cudaMemcpyAsync", val->name);
    } else {
      s = cuda_status(cudaMemcpyAsync(staging, val->data, (size_t)n * sizeof(float),
                                      cudaMemcpyHostToDevice, stream),
                      "cudaMemcpyAsync", val->name);
      if (!s)
        s = krt_error_wrap(cuda_convert(dst, e->value_dtype[v], staging, KRT_FLOAT32, n, stream),
                           "weights '%s': ", val->name);
    }
    /* The staging buffer is reused by the next constant, and the host data may be pageable. */
    if (!s) s = cuda_status(cudaStreamSynchronize(stream), "cudaStreamSynchronize", val->name);
  }
  if (staging) cudaFree(staging);
  free(offset);
  return s;
}

void cuda_engine_free_weights(cuda_engine *e) {
  if (e->weights) cudaFree(e->weights);
  e->weights = NULL;
  free(e->weight_ptr);
  e->weight_ptr = NULL;
  free(e->value_dtype);
  e->value_dtype = NULL;
}
