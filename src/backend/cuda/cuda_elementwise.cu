/* Elementwise kernels: Activation, PReLU, Binary (numpy broadcasting), the epilogue of library
 * calls (bias + residual + activation) and float32 <-> float16 conversion; plus the error helpers
 * every kernel file shares (cuda_kernel_util.cuh).
 *
 * Broadcasting: both operands get element strides over y's dims (0 where an operand has size 1
 * or lacks the axis); adjacent axes that are contiguous for y, a and b alike are merged, so the
 * common cases (same shape, per-channel vector, scalar) become rank 1 or 2 before the kernel
 * divides an index into coordinates. Same-shape and scalar operands take a 16-byte vector path.
 */
#include <stdarg.h>
#include <stdio.h>

#include "backend/cuda/cuda_kernel_util.cuh"

extern "C" krt_status *cuda_node_error(const ir_node *n, krt_code code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return krt_error(code, "node '%s' (%s): %s", n && n->name ? n->name : "?",
                   n ? ir_op_name(n->op) : "?", message);
}

extern "C" krt_status *cuda_check_launch(const ir_node *n) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return NULL;
  return cuda_node_error(n, KRT_ERR_DEVICE, "CUDA kernel launch failed: %s (%s)",
                         cudaGetErrorString(e), cudaGetErrorName(e));
}

extern "C" krt_status *cuda_check_dtypes(const ir_node *n, const cuda_tensor *in, int n_in,
                                         const cuda_tensor *y) {
  if (y->dtype != KRT_FLOAT32 && y->dtype != KRT_FLOAT16)
    return cuda_node_error(n, KRT_ERR_INTERNAL,
                           "output dtype %s; CUDA kernels store float32 "
                           "or float16",
                           krt_dtype_name(y->dtype));
  for (int i = 0; i < n_in; i++)
    if (in[i].dtype != y->dtype)
      return cuda_node_error(n, KRT_ERR_INTERNAL, "input %d is %s but the output is %s", i,
                             krt_dtype_name(in[i].dtype), krt_dtype_name(y->dtype));
  return NULL;
}

extern "C" krt_status *cuda_check_inputs(const ir_node *n, int n_in, int lo, int hi) {
  if (n_in >= lo && n_in <= hi) return NULL;
  return cuda_node_error(n, KRT_ERR_INTERNAL, "%d inputs, expected %d to %d", n_in, lo, hi);
}

/* ---- Activation ---- */

template <typename T>
__global__ void activation_kernel(T *y, const T *x, int64_t count, ir_activation act, int vec) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  int64_t start = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  constexpr int V = vec16<T>::n;
  int64_t done = 0;
  if (vec) {
    int64_t chunks = count / V;
    for (int64_t c = start; c < chunks; c += stride) {
      float v[V];
      vec16<T>::load(x + c * V, v);
#pragma unroll
      for (int k = 0; k < V; k++) v[k] = act_eval(act, v[k]);
      vec16<T>::store(y + c * V, v);
    }
    done = chunks * V;
  }
  for (int64_t i = done + start; i < count; i += stride) st(y + i, act_eval(act, ld(x + i)));
}

extern "C" krt_status *cuda_launch_activation(const ir_node *n, const cuda_tensor *in, int n_in,
                                              cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  int64_t count = cuda_count(&in[0]);
  if (cuda_count(y) != count)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output holds %lld elements, input %lld",
                           (long long)cuda_count(y), (long long)count);
  if (count == 0) return NULL;
  int vec = cuda_aligned16(in[0].data) && cuda_aligned16(y->data);
  CUDA_DISPATCH(y->dtype, {
    int64_t work = vec ? count / vec16<T>::n + vec16<T>::n : count;
    activation_kernel<T><<<cuda_blocks_for(work, CUDA_THREADS), CUDA_THREADS, 0, launch->stream>>>(
        (T *)y->data, (const T *)in[0].data, count, n->attrs.act, vec);
  });
  return cuda_check_launch(n);
}

/* ---- Binary and PReLU: y = a OP b under broadcasting ---- */

enum {
  OP_ADD = IR_BINARY_ADD,
  OP_SUB = IR_BINARY_SUB,
  OP_MUL = IR_BINARY_MUL,
  OP_DIV = IR_BINARY_DIV,
  OP_MAX = IR_BINARY_MAX,
  OP_MIN = IR_BINARY_MIN,
  OP_POW = IR_BINARY_POW,
  OP_GT = IR_BINARY_GREATER,
  OP_GE = IR_BINARY_GREATER_EQUAL,
  OP_LT = IR_BINARY_LESS,
  OP_LE = IR_BINARY_LESS_EQUAL,
  OP_EQ = IR_BINARY_EQUAL,
  OP_NE = IR_BINARY_NOT_EQUAL,
  OP_WHERE_TRUE = IR_BINARY_WHERE_TRUE,
  OP_WHERE_FALSE = IR_BINARY_WHERE_FALSE,
  OP_FLOOR_DIV = IR_BINARY_FLOOR_DIV,
  OP_FLOOR_MOD = IR_BINARY_FLOOR_MOD,
  OP_TRUNC_MOD = IR_BINARY_TRUNC_MOD,
  OP_ATAN2 = IR_BINARY_ATAN2,
  OP_PRELU = 100
};

static __device__ __forceinline__ float binary_eval(int op, float a, float b) {
  switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_MAX: return (a != a || a > b) ? a : b;
    case OP_MIN: return (a != a || a < b) ? a : b;
    case OP_POW: return powf(a, b);
    case OP_GT: return a > b ? 1.0f : 0.0f;
    case OP_GE: return a >= b ? 1.0f : 0.0f;
    case OP_LT: return a < b ? 1.0f : 0.0f;
    case OP_LE: return a <= b ? 1.0f : 0.0f;
    case OP_EQ: return a == b ? 1.0f : 0.0f;
    case OP_NE: return a != b ? 1.0f : 0.0f;
    case OP_WHERE_TRUE: return b != 0.0f ? a : 0.0f;
    case OP_WHERE_FALSE: return b != 0.0f ? 0.0f : a;
    case OP_FLOOR_DIV: return floorf(a / b);
    case OP_FLOOR_MOD: { /* as the CPU reference: fmod is exact, then moved to b's sign */
      float m = fmodf(a, b);
      return (m != 0.0f && ((m < 0.0f) != (b < 0.0f))) ? m + b : m;
    }
    case OP_TRUNC_MOD: return fmodf(a, b);
    case OP_ATAN2: return atan2f(a, b);
    case OP_PRELU: return a >= 0.0f ? a : b * a; /* a = x, b = alpha */
  }
  return a;
}

/* y's dims (merged) and each operand's strides over them. */
typedef struct broadcast_plan {
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int64_t sa[KRT_MAX_RANK], sb[KRT_MAX_RANK];
} broadcast_plan;

/* Strides for reading t along y's axes (right-aligned numpy broadcasting); 0 when it cannot
 * broadcast. */
static int broadcast_strides(const cuda_tensor *t, const cuda_tensor *y, int64_t *strides) {
  if (t->rank > y->rank) return 0;
  int shift = y->rank - t->rank;
  int64_t own = 1;
  for (int i = y->rank - 1; i >= 0; i--) {
    if (i < shift) {
      strides[i] = 0;
      continue;
    }
    int64_t d = t->dims[i - shift];
    if (d == y->dims[i])
      strides[i] = d == 1 ? 0 : own;
    else if (d == 1)
      strides[i] = 0;
    else
      return 0;
    own *= d;
  }
  return 1;
}

/* Drops axes of size 1 and merges axis i into i+1 where every operand walks them as one. */
static void merge_axes(const cuda_tensor *y, broadcast_plan *p) {
  int r = 0;
  for (int i = 0; i < y->rank; i++) {
    if (y->dims[i] == 1) continue;
    if (r > 0) {
      int64_t d = y->dims[i];
      if (p->sa[r - 1] == p->sa[i] * d && p->sb[r - 1] == p->sb[i] * d) {
        p->dims[r - 1] *= d;
        p->sa[r - 1] = p->sa[i];
        p->sb[r - 1] = p->sb[i];
        continue;
      }
    }
    p->dims[r] = y->dims[i];
    p->sa[r] = p->sa[i];
    p->sb[r] = p->sb[i];
    r++;
  }
  if (r == 0) { /* a single element */
    p->dims[0] = 1;
    p->sa[0] = p->sb[0] = 0;
    r = 1;
  }
  p->rank = r;
}

template <typename T>
__global__ void binary_general_kernel(T *y, const T *a, const T *b, broadcast_plan p, int64_t count,
                                      int op, ir_activation act) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
    int64_t rest = i, oa = 0, ob = 0;
    for (int k = p.rank - 1; k > 0; k--) {
      int64_t q = rest / p.dims[k], c = rest - q * p.dims[k];
      oa += c * p.sa[k];
      ob += c * p.sb[k];
      rest = q;
    }
    oa += rest * p.sa[0];
    ob += rest * p.sb[0];
    st(y + i, act_eval(act, binary_eval(op, ld(a + oa), ld(b + ob))));
  }
}

/* Rank 1 with each operand either contiguous (step 1) or a scalar (step 0). */
template <typename T>
__global__ void binary_flat_kernel(T *y, const T *a, const T *b, int64_t step_a, int64_t step_b,
                                   int64_t count, int op, ir_activation act, int vec) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  int64_t start = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  constexpr int V = vec16<T>::n;
  int64_t done = 0;
  if (vec) {
    int64_t chunks = count / V;
    for (int64_t c = start; c < chunks; c += stride) {
      float va[V], vb[V], vy[V];
      if (step_a)
        vec16<T>::load(a + c * V, va);
      else
        for (int k = 0; k < V; k++) va[k] = ld(a);
      if (step_b)
        vec16<T>::load(b + c * V, vb);
      else
        for (int k = 0; k < V; k++) vb[k] = ld(b);
#pragma unroll
      for (int k = 0; k < V; k++) vy[k] = act_eval(act, binary_eval(op, va[k], vb[k]));
      vec16<T>::store(y + c * V, vy);
    }
    done = chunks * V;
  }
  for (int64_t i = done + start; i < count; i += stride)
    st(y + i, act_eval(act, binary_eval(op, ld(a + i * step_a), ld(b + i * step_b))));
}

static krt_status *launch_broadcast(const ir_node *n, const cuda_tensor *a, const cuda_tensor *b,
                                    cuda_tensor *y, int op, ir_activation act,
                                    cudaStream_t stream) {
  broadcast_plan p;
  if (!broadcast_strides(a, y, p.sa) || !broadcast_strides(b, y, p.sb))
    return cuda_node_error(n, KRT_ERR_INTERNAL,
                           "inputs of rank %d and %d do not broadcast to the output of rank %d",
                           a->rank, b->rank, y->rank);
  merge_axes(y, &p);
  int64_t count = cuda_count(y);
  if (count == 0) return NULL;
  int flat = p.rank == 1 && (p.sa[0] == 0 || p.sa[0] == 1) && (p.sb[0] == 0 || p.sb[0] == 1);
  CUDA_DISPATCH(y->dtype, {
    if (flat) {
      int vec = cuda_aligned16(y->data) && (p.sa[0] == 0 || cuda_aligned16(a->data)) &&
                (p.sb[0] == 0 || cuda_aligned16(b->data));
      int64_t work = vec ? count / vec16<T>::n + vec16<T>::n : count;
      binary_flat_kernel<T><<<cuda_blocks_for(work, CUDA_THREADS), CUDA_THREADS, 0, stream>>>(
          (T *)y->data, (const T *)a->data, (const T *)b->data, p.sa[0], p.sb[0], count, op, act,
          vec);
    } else {
      binary_general_kernel<T><<<cuda_blocks_for(count, CUDA_THREADS), CUDA_THREADS, 0, stream>>>(
          (T *)y->data, (const T *)a->data, (const T *)b->data, p, count, op, act);
    }
  });
  return cuda_check_launch(n);
}

extern "C" krt_status *cuda_launch_binary(const ir_node *n, const cuda_tensor *in, int n_in,
                                          cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 2, 2));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  if ((unsigned)n->attrs.binary > IR_BINARY_LAST)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "unknown binary kind %d", (int)n->attrs.binary);
  int rank = in[0].rank > in[1].rank ? in[0].rank : in[1].rank;
  if (y->rank != rank)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output rank %d, inputs of rank %d and %d", y->rank,
                           in[0].rank, in[1].rank);
  return launch_broadcast(n, &in[0], &in[1], y, (int)n->attrs.binary, n->attrs.act, launch->stream);
}

extern "C" krt_status *cuda_launch_prelu(const ir_node *n, const cuda_tensor *in, int n_in,
                                         cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 2, 2));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  if (y->rank != in[0].rank || cuda_count(y) != cuda_count(&in[0]))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output does not have the input's shape");
  ir_activation none;
  memset(&none, 0, sizeof none);
  none.kind = IR_ACT_NONE;
  return launch_broadcast(n, &in[0], &in[1], y, OP_PRELU, none, launch->stream);
}

/* ---- Epilogue: y[r, c] = act(y[r, c] + bias[c] + residual[r, c]) in place ---- */

template <typename T>
__global__ void epilogue_kernel(T *y, const T *bias, const T *residual, int64_t rows,
                                int64_t channels, ir_activation act, int vec) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  int64_t start = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  int64_t count = rows * channels;
  constexpr int V = vec16<T>::n;
  if (vec) { /* channels % V == 0: a vector never crosses a row */
    for (int64_t c = start; c < count / V; c += stride) {
      int64_t i = c * V;
      float v[V], r[V];
      vec16<T>::load(y + i, v);
      if (bias) {
        vec16<T>::load(bias + i % channels, r);
        for (int k = 0; k < V; k++) v[k] += r[k];
      }
      if (residual) {
        vec16<T>::load(residual + i, r);
        for (int k = 0; k < V; k++) v[k] += r[k];
      }
#pragma unroll
      for (int k = 0; k < V; k++) v[k] = act_eval(act, v[k]);
      vec16<T>::store(y + i, v);
    }
    return;
  }
  for (int64_t i = start; i < count; i += stride) {
    float v = ld(y + i);
    if (bias) v += ld(bias + i % channels);
    if (residual) v += ld(residual + i);
    st(y + i, act_eval(act, v));
  }
}

extern "C" krt_status *cuda_launch_epilogue(const char *node_name, void *y, krt_dtype dtype,
                                            int64_t rows, int64_t channels, const void *bias,
                                            const void *residual, const ir_activation *act,
                                            cudaStream_t stream) {
  const char *name = node_name ? node_name : "?";
  if (dtype != KRT_FLOAT32 && dtype != KRT_FLOAT16)
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (epilogue): %s data", name,
                     krt_dtype_name(dtype));
  ir_activation none;
  memset(&none, 0, sizeof none);
  const ir_activation a = act ? *act : none;
  if (rows * channels == 0 || (!bias && !residual && a.kind == IR_ACT_NONE)) return NULL;
  CUDA_DISPATCH(dtype, {
    constexpr int V = vec16<T>::n;
    int vec = channels % V == 0 && cuda_aligned16(y) && (!bias || cuda_aligned16(bias)) &&
              (!residual || cuda_aligned16(residual));
    int64_t work = vec ? rows * channels / V : rows * channels;
    epilogue_kernel<T><<<cuda_blocks_for(work, CUDA_THREADS), CUDA_THREADS, 0, stream>>>(
        (T *)y, (const T *)bias, (const T *)residual, rows, channels, a, vec);
  });
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    return krt_error(KRT_ERR_DEVICE, "node '%s' (epilogue): CUDA kernel launch failed: %s (%s)",
                     name, cudaGetErrorString(e), cudaGetErrorName(e));
  return NULL;
}

/* ---- float32 <-> float16 ---- */

__global__ void f32_to_f16_kernel(__half *dst, const float *src, int64_t count) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    dst[i] = __float2half_rn(src[i]);
}

__global__ void f16_to_f32_kernel(float *dst, const __half *src, int64_t count) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    dst[i] = __half2float(src[i]);
}

extern "C" krt_status *cuda_convert(void *dst, krt_dtype dst_type, const void *src,
                                    krt_dtype src_type, int64_t count, cudaStream_t stream) {
  int ok_types = (dst_type == KRT_FLOAT32 || dst_type == KRT_FLOAT16) &&
                 (src_type == KRT_FLOAT32 || src_type == KRT_FLOAT16);
  if (!ok_types || count < 0)
    return krt_error(KRT_ERR_INTERNAL, "cuda_convert: %s -> %s of %lld elements",
                     krt_dtype_name(src_type), krt_dtype_name(dst_type), (long long)count);
  if (count == 0) return NULL;
  if (dst_type == src_type) {
    cudaError_t e = dst == src ? cudaSuccess
                               : cudaMemcpyAsync(dst, src, (size_t)count * cuda_elem_size(dst_type),
                                                 cudaMemcpyDeviceToDevice, stream);
    if (e != cudaSuccess)
      return krt_error(KRT_ERR_DEVICE, "cuda_convert: copy of %lld elements failed: %s",
                       (long long)count, cudaGetErrorString(e));
    return NULL;
  }
  unsigned blocks = cuda_blocks_for(count, CUDA_THREADS);
  if (dst_type == KRT_FLOAT16)
    f32_to_f16_kernel<<<blocks, CUDA_THREADS, 0, stream>>>((__half *)dst, (const float *)src,
                                                           count);
  else
    f16_to_f32_kernel<<<blocks, CUDA_THREADS, 0, stream>>>((float *)dst, (const __half *)src,
                                                           count);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    return krt_error(KRT_ERR_DEVICE, "cuda_convert: %s -> %s kernel launch failed: %s",
                     krt_dtype_name(src_type), krt_dtype_name(dst_type), cudaGetErrorString(e));
  return NULL;
}
