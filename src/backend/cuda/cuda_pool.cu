/* Pool (sliding-window max/average, NHWC) and Reduce (mean/max/sum over axes).
 *
 *   Pool:   x[N, S..., C] -> y[N, S'..., C] with 1..3 spatial axes handled as 3 (leading axes of
 *           size 1). One thread per output position and run of channels (16 bytes when C and the
 *           pointers allow), so a warp reads adjacent channels. Padding never counts, as in
 *           TensorFlow: AVG divides by the in-bounds taps, MAX ignores the padding; a window
 *           wholly in the padding writes 0 (the CPU reference does the same).
 *   Reduce: the axis split of cuda_kernel_util.cuh; float accumulation, one launch.
 */
#include <math.h>

#include "backend/cuda/cuda_kernel_util.cuh"

typedef struct pool_geom {
  int64_t batch, channels;
  int64_t in[3], out[3], kernel[3], stride[3], pad[3];
} pool_geom;

template <typename T, int V>
__global__ void pool_kernel(const T *x, T *y, pool_geom g, int is_max) {
  const int64_t groups = g.channels / V;
  const int64_t count = g.batch * g.out[0] * g.out[1] * g.out[2] * groups;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
    int64_t rest = i;
    int64_t cg = rest % groups;
    rest /= groups;
    int64_t o2 = rest % g.out[2];
    rest /= g.out[2];
    int64_t o1 = rest % g.out[1];
    rest /= g.out[1];
    int64_t o0 = rest % g.out[0];
    int64_t b = rest / g.out[0];
    /* the in-bounds part of the window on each axis */
    int64_t lo[3], hi[3], o[3] = {o0, o1, o2};
    int64_t taps = 1;
    for (int a = 0; a < 3; a++) {
      int64_t start = o[a] * g.stride[a] - g.pad[a];
      lo[a] = start < 0 ? 0 : start;
      hi[a] = start + g.kernel[a] < g.in[a] ? start + g.kernel[a] : g.in[a];
      taps *= hi[a] > lo[a] ? hi[a] - lo[a] : 0;
    }
    float acc[V];
    for (int k = 0; k < V; k++) acc[k] = is_max ? -INFINITY : 0.0f;
    for (int64_t i0 = lo[0]; i0 < hi[0]; i0++)
      for (int64_t i1 = lo[1]; i1 < hi[1]; i1++)
        for (int64_t i2 = lo[2]; i2 < hi[2]; i2++) {
          const T *xp =
              x + (((b * g.in[0] + i0) * g.in[1] + i1) * g.in[2] + i2) * g.channels + cg * V;
          float v[V];
          if (V > 1)
            vec16<T>::load(xp, v);
          else
            v[0] = ld(xp);
#pragma unroll
          for (int k = 0; k < V; k++) acc[k] = is_max ? nan_max(v[k], acc[k]) : acc[k] + v[k];
        }
    float r[V];
    for (int k = 0; k < V; k++) r[k] = taps == 0 ? 0.0f : is_max ? acc[k] : acc[k] / (float)taps;
    T *yp = y + i * V;
    if (V > 1)
      vec16<T>::store(yp, r);
    else
      st(yp, r[0]);
  }
}

extern "C" krt_status *cuda_launch_pool(const ir_node *n, const cuda_tensor *in, int n_in,
                                        cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const cuda_tensor *x = &in[0];
  const ir_attrs *a = &n->attrs;
  int sp = a->spatial;
  if (sp < 1 || sp > IR_MAX_SPATIAL || x->rank != sp + 2 || y->rank != sp + 2 ||
      x->dims[0] != y->dims[0] || x->dims[sp + 1] != y->dims[sp + 1])
    return cuda_node_error(n, KRT_ERR_INTERNAL, "spatial=%d with input rank %d, output rank %d", sp,
                           x->rank, y->rank);
  if (a->pool != IR_POOL_MAX && a->pool != IR_POOL_AVG)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "unknown pool kind %d", (int)a->pool);
  pool_geom g;
  g.batch = x->dims[0];
  g.channels = x->dims[sp + 1];
  int lead = 3 - sp;
  for (int i = 0; i < 3; i++) {
    int s = i - lead;
    g.in[i] = s < 0 ? 1 : x->dims[1 + s];
    g.out[i] = s < 0 ? 1 : y->dims[1 + s];
    g.kernel[i] = s < 0 ? 1 : a->kernel[s];
    g.stride[i] = s < 0 ? 1 : a->stride[s];
    g.pad[i] = s < 0 ? 0 : a->pad_begin[s];
    if (g.kernel[i] < 1 || g.stride[i] < 1)
      return cuda_node_error(n, KRT_ERR_INTERNAL, "kernel %lld, stride %lld on spatial axis %d",
                             (long long)g.kernel[i], (long long)g.stride[i], s);
  }
  int64_t positions = g.batch * g.out[0] * g.out[1] * g.out[2];
  if (positions * g.channels == 0) return NULL;
  int is_max = a->pool == IR_POOL_MAX;
  CUDA_DISPATCH(y->dtype, {
    constexpr int V = vec16<T>::n;
    if (g.channels % V == 0 && cuda_aligned16(x->data) && cuda_aligned16(y->data))
      pool_kernel<T, V><<<cuda_blocks_for(positions * g.channels / V, CUDA_THREADS), CUDA_THREADS,
                          0, launch->stream>>>((const T *)x->data, (T *)y->data, g, is_max);
    else
      pool_kernel<T, 1><<<cuda_blocks_for(positions * g.channels, CUDA_THREADS), CUDA_THREADS, 0,
                          launch->stream>>>((const T *)x->data, (T *)y->data, g, is_max);
  });
  return cuda_check_launch(n);
}

/* ---- Reduce ---- */

struct reduce_body {
  int kind; /* ir_reduce_kind */
  template <int M, typename T>
  __device__ void run(coop<M> &c, const T *x, T *y, const cuda_axis_split &s, int64_t row,
                      bool valid) const {
    const bool is_max = kind == IR_REDUCE_MAX;
    float acc = is_max ? -INFINITY : 0.0f;
    if (valid) {
      const T *xb = x + outer_offset(s, row);
      for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes()) {
        float v = ld(xb + inner_offset(s, j));
        acc = is_max ? nan_max(v, acc) : acc + v;
      }
    }
    float r = is_max ? c.template reduce<true>(acc) : c.template reduce<false>(acc);
    if (valid && c.lane() == 0) st(y + row, kind == IR_REDUCE_MEAN ? r / (float)s.inner_count : r);
  }
};

extern "C" krt_status *cuda_launch_reduce(const ir_node *n, const cuda_tensor *in, int n_in,
                                          cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  ir_reduce_kind kind = n->attrs.reduce;
  if (kind != IR_REDUCE_MEAN && kind != IR_REDUCE_MAX && kind != IR_REDUCE_SUM)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "unknown reduce kind %d", (int)kind);
  cuda_axis_split s;
  if (!cuda_axis_split_init(&in[0], n->attrs.n_axes, n->attrs.axes, &s))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "%d axes are not ascending axes of rank %d",
                           n->attrs.n_axes, in[0].rank);
  if (cuda_count(y) != s.outer_count)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output holds %lld elements, expected %lld",
                           (long long)cuda_count(y), (long long)s.outer_count);
  if (s.outer_count == 0) return NULL;
  reduce_body body;
  body.kind = (int)kind;
  CUDA_DISPATCH(y->dtype,
                launch_split<T>(&s, (const T *)in[0].data, (T *)y->data, body, launch->stream));
  return cuda_check_launch(n);
}
