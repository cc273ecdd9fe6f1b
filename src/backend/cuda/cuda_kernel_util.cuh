/* Helpers shared by krt's own CUDA kernels (*.cu in this folder; private to them).
 *
 * Storage is float32 or float16; arithmetic is float32 (ld/st convert at the edges). Launchers
 * enqueue on the caller's stream, never synchronise and never allocate (runs are captured into
 * CUDA graphs); cuda_check_launch turns a failed launch into KRT_ERR_DEVICE naming the node.
 */
#ifndef KRT_BACKEND_CUDA_KERNEL_UTIL_CUH
#define KRT_BACKEND_CUDA_KERNEL_UTIL_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "backend/cuda/cuda_kernels.h"
#include "core/status.h"
}

#define CUDA_THREADS 256
/* Grid-stride loops cover the rest; more blocks than this only adds scheduling work. */
#define CUDA_MAX_BLOCKS 65536

static inline unsigned cuda_blocks_for(int64_t work, int threads) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > CUDA_MAX_BLOCKS) blocks = CUDA_MAX_BLOCKS;
  return (unsigned)blocks;
}

/* ---- float32 / float16 storage ---- */

static __device__ __forceinline__ float ld(const float *p) {
  return *p;
}
static __device__ __forceinline__ float ld(const __half *p) {
  return __half2float(*p);
}
static __device__ __forceinline__ void st(float *p, float v) {
  *p = v;
}
static __device__ __forceinline__ void st(__half *p, float v) {
  *p = __float2half_rn(v);
}

/* 16 bytes of storage: 4 floats or 8 halves, converted to/from floats. */
template <typename T>
struct vec16;
template <>
struct vec16<float> {
  static constexpr int n = 4;
  static __device__ __forceinline__ void load(const float *p, float *v) {
    float4 q = *reinterpret_cast<const float4 *>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  }
  static __device__ __forceinline__ void store(float *p, const float *v) {
    *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};
template <>
struct vec16<__half> {
  static constexpr int n = 8;
  static __device__ __forceinline__ void load(const __half *p, float *v) {
    uint4 q = *reinterpret_cast<const uint4 *>(p);
    const __half2 *h = reinterpret_cast<const __half2 *>(&q);
    for (int i = 0; i < 4; i++) {
      float2 f = __half22float2(h[i]);
      v[2 * i] = f.x, v[2 * i + 1] = f.y;
    }
  }
  static __device__ __forceinline__ void store(__half *p, const float *v) {
    uint4 q;
    __half2 *h = reinterpret_cast<__half2 *>(&q);
    for (int i = 0; i < 4; i++) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4 *>(p) = q;
  }
};

static inline int cuda_aligned16(const void *p) {
  return ((uintptr_t)p & 15u) == 0;
}

/* ---- activations, exactly as graph.h defines each ir_act_kind (see cpu_elementwise.c) ---- */

static __device__ __forceinline__ float act_sigmoid(float x) {
  /* exp of a non-positive number only: neither branch overflows */
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}
static __device__ __forceinline__ float act_softplus(float x) {
  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}
static __device__ __forceinline__ float act_clip01(float v) {
  return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

static __device__ __forceinline__ float act_eval(const ir_activation &a, float x) {
  switch (a.kind) {
    case IR_ACT_NONE: return x;
    case IR_ACT_RELU: return x > a.threshold ? fminf(x, a.max_value) : a.alpha * (x - a.threshold);
    case IR_ACT_SIGMOID: return act_sigmoid(x);
    case IR_ACT_HARD_SIGMOID: return act_clip01(a.alpha * x + a.beta);
    case IR_ACT_TANH: return tanhf(x);
    case IR_ACT_SOFTPLUS: return act_softplus(x);
    case IR_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case IR_ACT_ELU: return x > 0.0f ? x : a.alpha * expm1f(x);
    case IR_ACT_SELU: /* Keras's fixed constants */
      return 1.05070098735548049342f * (x > 0.0f ? x : 1.67326324235437728481f * expm1f(x));
    case IR_ACT_GELU: return 0.5f * x * erfcf(-x * 0.70710678118654752440f); /* erfc form */
    case IR_ACT_GELU_TANH:
      return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    case IR_ACT_SWISH: return x * act_sigmoid(x);
    case IR_ACT_HARD_SWISH: return x * act_clip01(a.alpha * x + a.beta);
    case IR_ACT_EXPONENTIAL: return expf(x);
    case IR_ACT_MISH: return x * tanhf(act_softplus(x));
    case IR_ACT_THRESHOLDED_RELU: return x > a.alpha ? x : 0.0f;
    case IR_ACT_SQRT: return sqrtf(x);
    case IR_ACT_RSQRT: return 1.0f / sqrtf(x); /* not rsqrtf: its approximation is off by ulps */
    case IR_ACT_ABS: return fabsf(x);
    case IR_ACT_LOG: return logf(x);
    case IR_ACT_NEG: return -x;
    case IR_ACT_SQUARE: return x * x;
    case IR_ACT_ERF: return erff(x);
    case IR_ACT_CLIP: return x != x ? x : fminf(fmaxf(x, a.alpha), a.max_value);
    case IR_ACT_SIN: return sinf(x);
    case IR_ACT_COS: return cosf(x);
    case IR_ACT_TAN: return tanf(x);
    case IR_ACT_ASIN: return asinf(x);
    case IR_ACT_ACOS: return acosf(x);
    case IR_ACT_ATAN: return atanf(x);
    case IR_ACT_SINH: return sinhf(x);
    case IR_ACT_COSH: return coshf(x);
    case IR_ACT_ASINH: return asinhf(x);
    case IR_ACT_ACOSH: return acoshf(x);
    case IR_ACT_ATANH: return atanhf(x);
    case IR_ACT_LOG1P: return log1pf(x);
    case IR_ACT_EXPM1: return expm1f(x);
    case IR_ACT_ERFC: return erfcf(x);
    case IR_ACT_ROUND: return rintf(x); /* CUDA rounds to nearest even, whatever the host mode */
    case IR_ACT_FLOOR: return floorf(x);
    case IR_ACT_CEIL: return ceilf(x);
    case IR_ACT_SIGN: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x != x ? x : 0.0f;
  }
  return x;
}

/* NaN-propagating max/min, as the CPU reference (a NaN operand wins). */
static __device__ __forceinline__ float nan_max(float a, float b) {
  return (a > b || a != a) ? a : b;
}

/* ---- shapes ---- */

/* Row-major dims with element strides; up to KRT_MAX_RANK axes. Passed to kernels by value. */
typedef struct cuda_shape {
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int64_t strides[KRT_MAX_RANK]; /* meaning depends on the user (own or another tensor's) */
} cuda_shape;

static inline int64_t cuda_count(const cuda_tensor *t) {
  int64_t c = 1;
  for (int i = 0; i < t->rank; i++) c *= t->dims[i];
  return c;
}

static inline size_t cuda_elem_size(krt_dtype d) {
  return d == KRT_FLOAT16 ? 2 : 4;
}

/* Dispatches on a storage dtype: defines T as float or __half around `body`. */
#define CUDA_DISPATCH(dtype, ...) \
  do {                            \
    if ((dtype) == KRT_FLOAT16) { \
      typedef __half T;           \
      __VA_ARGS__;                \
    } else {                      \
      typedef float T;            \
      __VA_ARGS__;                \
    }                             \
  } while (0)

/* ---- axis splits: Reduce, Softmax, LogSoftmax, LayerNorm ----
 *
 * x's axes split into kept ("outer") and reduced ("inner") ones, each list merged where adjacent
 * axes are contiguous. The outer index runs row-major over the kept axes (so it is the element
 * index of a Reduce output), the inner index row-major over the reduced axes (so it is the
 * element index within LayerNorm's gamma/beta). */
typedef struct cuda_axis_split {
  int n_outer, n_inner;
  int64_t outer_dims[KRT_MAX_RANK], outer_strides[KRT_MAX_RANK];
  int64_t inner_dims[KRT_MAX_RANK], inner_strides[KRT_MAX_RANK];
  int64_t outer_count, inner_count;
  int inner_last; /* x's last axis (of size > 1) is reduced: rows are contiguous */
} cuda_axis_split;

static inline void cuda_split_push(int *n, int64_t *dims, int64_t *strides, int64_t d,
                                   int64_t stride) {
  if (d == 1) return;
  if (*n > 0 && strides[*n - 1] == stride * d) { /* contiguous with the previous one: merge */
    dims[*n - 1] *= d;
    strides[*n - 1] = stride;
    return;
  }
  dims[*n] = d;
  strides[*n] = stride;
  (*n)++;
}

/* Returns 0 when axes are out of range or not ascending. */
static inline int cuda_axis_split_init(const cuda_tensor *x, int n_axes, const int *axes,
                                       cuda_axis_split *s) {
  memset(s, 0, sizeof *s);
  if (n_axes < 1 || n_axes > x->rank) return 0;
  int reduced[KRT_MAX_RANK] = {0};
  for (int i = 0; i < n_axes; i++) {
    if (axes[i] < 0 || axes[i] >= x->rank || (i > 0 && axes[i] <= axes[i - 1])) return 0;
    reduced[axes[i]] = 1;
  }
  int64_t strides[KRT_MAX_RANK], stride = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= x->dims[i];
  }
  s->outer_count = s->inner_count = 1;
  for (int i = 0; i < x->rank; i++) {
    if (reduced[i]) {
      s->inner_count *= x->dims[i];
      cuda_split_push(&s->n_inner, s->inner_dims, s->inner_strides, x->dims[i], strides[i]);
    } else {
      s->outer_count *= x->dims[i];
      cuda_split_push(&s->n_outer, s->outer_dims, s->outer_strides, x->dims[i], strides[i]);
    }
  }
  s->inner_last = s->n_inner > 0 && s->inner_strides[s->n_inner - 1] == 1;
  return 1;
}

static __device__ __forceinline__ int64_t split_offset(int64_t index, int n, const int64_t *dims,
                                                       const int64_t *strides) {
  if (n == 1) return index * strides[0];
  int64_t off = 0;
  for (int k = n - 1; k >= 0; k--) {
    int64_t q = index / dims[k];
    off += (index - q * dims[k]) * strides[k];
    index = q;
  }
  return off;
}
static __device__ __forceinline__ int64_t outer_offset(const cuda_axis_split &s, int64_t o) {
  return s.n_outer == 0 ? 0 : split_offset(o, s.n_outer, s.outer_dims, s.outer_strides);
}
static __device__ __forceinline__ int64_t inner_offset(const cuda_axis_split &s, int64_t j) {
  return s.n_inner == 0 ? 0 : split_offset(j, s.n_inner, s.inner_dims, s.inner_strides);
}

/* Threads that cooperate on one outer index ("row"), three ways:
 *   COOP_WARP   rows contiguous and short: a warp per row
 *   COOP_BLOCK  rows contiguous and long: a block (CUDA_THREADS) per row
 *   COOP_COLUMN rows strided (the last axis is kept): a 32x8 block, x over 32 adjacent outer
 *               indices (adjacent in memory), y splitting the inner range in 8
 * Every thread of a block runs the same number of loop trips (rows past the end are `valid` 0)
 * so the barriers inside the reductions are reached by all. */
enum { COOP_WARP = 0, COOP_BLOCK = 1, COOP_COLUMN = 2 };

template <int MODE>
struct coop {
  float *smem; /* COOP_BLOCK: 32 floats; COOP_COLUMN: 8 x 32 */
  __device__ int lane() const {
    return MODE == COOP_WARP ? (threadIdx.x & 31) : MODE == COOP_BLOCK ? threadIdx.x : threadIdx.y;
  }
  __device__ int lanes() const {
    return MODE == COOP_WARP ? 32 : MODE == COOP_BLOCK ? blockDim.x : blockDim.y;
  }
  /* first row of this thread and the step between its rows (block-uniform trip counts) */
  __device__ int64_t first_base() const {
    return MODE == COOP_WARP    ? (int64_t)blockIdx.x * (blockDim.x / 32)
           : MODE == COOP_BLOCK ? (int64_t)blockIdx.x
                                : (int64_t)blockIdx.x * 32;
  }
  __device__ int64_t step() const {
    return MODE == COOP_WARP    ? (int64_t)gridDim.x * (blockDim.x / 32)
           : MODE == COOP_BLOCK ? (int64_t)gridDim.x
                                : (int64_t)gridDim.x * 32;
  }
  __device__ int64_t row_in(int64_t base) const {
    return MODE == COOP_WARP    ? base + threadIdx.x / 32
           : MODE == COOP_BLOCK ? base
                                : base + threadIdx.x;
  }
  template <bool IS_MAX>
  __device__ float reduce(float v) {
    if constexpr (MODE == COOP_COLUMN) {
      __syncthreads(); /* the previous reduction's readers are done */
      smem[threadIdx.y * 32 + threadIdx.x] = v;
      __syncthreads();
      float r = smem[threadIdx.x];
      for (int k = 1; k < (int)blockDim.y; k++) {
        float o = smem[k * 32 + threadIdx.x];
        r = IS_MAX ? nan_max(r, o) : r + o;
      }
      return r;
    } else {
      for (int m = 16; m > 0; m >>= 1) {
        float o = __shfl_xor_sync(0xffffffffu, v, m);
        v = IS_MAX ? nan_max(v, o) : v + o;
      }
      if constexpr (MODE == COOP_WARP) {
        return v;
      } else {
        __syncthreads();
        int warps = blockDim.x / 32;
        if ((threadIdx.x & 31) == 0) smem[threadIdx.x / 32] = v;
        __syncthreads();
        float r = smem[0];
        for (int k = 1; k < warps; k++) r = IS_MAX ? nan_max(r, smem[k]) : r + smem[k];
        return r;
      }
    }
  }
};

/* The launch shape for a split: block dims, grid size and mode. */
typedef struct coop_launch {
  int mode;
  dim3 block, grid;
} coop_launch;

static inline coop_launch cuda_coop_launch(const cuda_axis_split *s) {
  coop_launch l;
  if (!s->inner_last) {
    l.mode = COOP_COLUMN;
    l.block = dim3(32, 8, 1);
    l.grid = dim3(cuda_blocks_for(s->outer_count, 32), 1, 1);
  } else if (s->inner_count <= 1024) {
    l.mode = COOP_WARP;
    l.block = dim3(CUDA_THREADS, 1, 1);
    l.grid = dim3(cuda_blocks_for(s->outer_count, CUDA_THREADS / 32), 1, 1);
  } else {
    l.mode = COOP_BLOCK;
    l.block = dim3(CUDA_THREADS, 1, 1);
    l.grid = dim3(cuda_blocks_for(s->outer_count, 1), 1, 1);
  }
  return l;
}

/* Runs body.run(coop, x, y, split, row, valid) for every outer index; body reads the row's
 * elements at x + outer_offset(row) + inner_offset(j) for j = lane, lane + lanes, ... */
template <int MODE, typename T, typename Body>
__global__ void split_kernel(const T *x, T *y, cuda_axis_split s, Body body) {
  __shared__ float smem[256];
  coop<MODE> c;
  c.smem = smem;
  for (int64_t base = c.first_base(); base < s.outer_count; base += c.step()) {
    int64_t row = c.row_in(base);
    body.run(c, x, y, s, row, row < s.outer_count);
  }
}

template <typename T, typename Body>
static void launch_split(const cuda_axis_split *s, const T *x, T *y, const Body &body,
                         cudaStream_t stream) {
  coop_launch l = cuda_coop_launch(s);
  if (l.mode == COOP_WARP)
    split_kernel<COOP_WARP, T, Body><<<l.grid, l.block, 0, stream>>>(x, y, *s, body);
  else if (l.mode == COOP_BLOCK)
    split_kernel<COOP_BLOCK, T, Body><<<l.grid, l.block, 0, stream>>>(x, y, *s, body);
  else
    split_kernel<COOP_COLUMN, T, Body><<<l.grid, l.block, 0, stream>>>(x, y, *s, body);
}

extern "C" {
/* "node 'NAME' (Op): " + message. */
krt_status *cuda_node_error(const ir_node *n, krt_code code, const char *fmt, ...) KRT_PRINTF(3, 4);
/* KRT_ERR_DEVICE naming the node when the last launch failed, else NULL. */
krt_status *cuda_check_launch(const ir_node *n);
/* Checks that every tensor is FLOAT32 or FLOAT16 and that all share y's dtype. */
krt_status *cuda_check_dtypes(const ir_node *n, const cuda_tensor *in, int n_in,
                              const cuda_tensor *y);
krt_status *cuda_check_inputs(const ir_node *n, int n_in, int lo, int hi);
}

#endif
