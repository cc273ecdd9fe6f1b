/* Normalisations: BatchNorm (inference form), LayerNorm (incl. Keras 3 rms_scaling), Softmax and
 * LogSoftmax over one or several axes jointly. Statistics accumulate in float32 whatever the
 * storage; LayerNorm's variance is two-pass (about the mean) and softmax subtracts the max first,
 * as the CPU reference does. Rows are split and walked as in cuda_kernel_util.cuh.
 */
#include <math.h>

#include "backend/cuda/cuda_kernel_util.cuh"

/* ---- BatchNorm: x viewed as [outer, C, inner]; params gamma, beta, mean, var [C] ----
 * y = act((x - mean) * gamma / sqrt(var + eps) + beta): the activation fuse_activation moved in
 * (DenseNet's BatchNorm -> ReLU) is applied in float32 before the store, saving a pass. */

template <typename T, int V>
__global__ void batchnorm_kernel(const T *x, T *y, const T *gamma, const T *beta, const T *mean,
                                 const T *var, int64_t count, int64_t channels, int64_t inner,
                                 float eps, ir_activation act) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count / V; i += stride) {
    float v[V];
    if (V > 1)
      vec16<T>::load(x + i * V, v);
    else
      v[0] = ld(x + i);
#pragma unroll
    for (int k = 0; k < V; k++) {
      int64_t c = ((i * V + k) / inner) % channels;
      float scale = ld(gamma + c) / sqrtf(ld(var + c) + eps);
      v[k] = act_eval(act, (v[k] - ld(mean + c)) * scale + ld(beta + c));
    }
    if (V > 1)
      vec16<T>::store(y + i * V, v);
    else
      st(y + i, v[0]);
  }
}

extern "C" krt_status *cuda_launch_batchnorm(const ir_node *n, const cuda_tensor *in, int n_in,
                                             cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 5, 5));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const cuda_tensor *x = &in[0];
  int axis = n->attrs.axis;
  if (axis < 0 || axis >= x->rank)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "axis %d for an input of rank %d", axis, x->rank);
  int64_t channels = x->dims[axis], inner = 1;
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  for (int i = 1; i < 5; i++)
    if (cuda_count(&in[i]) != channels)
      return cuda_node_error(n, KRT_ERR_INTERNAL,
                             "parameter %d has %lld values for %lld "
                             "channels",
                             i, (long long)cuda_count(&in[i]), (long long)channels);
  int64_t count = cuda_count(x);
  if (cuda_count(y) != count)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output holds %lld elements, input %lld",
                           (long long)cuda_count(y), (long long)count);
  if (count == 0) return NULL;
  CUDA_DISPATCH(y->dtype, {
    constexpr int V = vec16<T>::n;
    const T *p[4] = {(const T *)in[1].data, (const T *)in[2].data, (const T *)in[3].data,
                     (const T *)in[4].data};
    if (count % V == 0 && cuda_aligned16(x->data) && cuda_aligned16(y->data))
      batchnorm_kernel<T, V>
          <<<cuda_blocks_for(count / V, CUDA_THREADS), CUDA_THREADS, 0, launch->stream>>>(
              (const T *)x->data, (T *)y->data, p[0], p[1], p[2], p[3], count, channels, inner,
              n->attrs.epsilon, n->attrs.act);
    else
      batchnorm_kernel<T, 1>
          <<<cuda_blocks_for(count, CUDA_THREADS), CUDA_THREADS, 0, launch->stream>>>(
              (const T *)x->data, (T *)y->data, p[0], p[1], p[2], p[3], count, channels, inner,
              n->attrs.epsilon, n->attrs.act);
  });
  return cuda_check_launch(n);
}

/* ---- LayerNorm ---- */

template <typename T>
struct layernorm_body {
  const T *gamma, *beta; /* [inner] each, or NULL */
  float eps;
  int rms_scaling;
  template <int M>
  __device__ void run(coop<M> &c, const T *x, T *y, const cuda_axis_split &s, int64_t row,
                      bool valid) const {
    int64_t base = valid ? outer_offset(s, row) : 0;
    float sum = 0.0f;
    if (valid)
      for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes())
        sum += ld(x + base + inner_offset(s, j));
    float mean = c.template reduce<false>(sum) / (float)s.inner_count;
    float sq = 0.0f;
    if (valid)
      for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes()) {
        float d = ld(x + base + inner_offset(s, j)) - mean;
        sq += d * d;
      }
    float inv = 1.0f / sqrtf(c.template reduce<false>(sq) / (float)s.inner_count + eps);
    if (!valid) return;
    for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes()) {
      int64_t at = base + inner_offset(s, j);
      float v = ld(x + at);
      v = rms_scaling ? v * inv : (v - mean) * inv;
      if (gamma) v *= ld(gamma + j);
      if (beta && !rms_scaling) v += ld(beta + j);
      st(y + at, v);
    }
  }
};

extern "C" krt_status *cuda_launch_layernorm(const ir_node *n, const cuda_tensor *in, int n_in,
                                             cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 3));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  cuda_axis_split s;
  if (!cuda_axis_split_init(&in[0], n->attrs.n_axes, n->attrs.axes, &s))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "%d axes are not ascending axes of rank %d",
                           n->attrs.n_axes, in[0].rank);
  for (int i = 1; i < n_in; i++)
    if (cuda_count(&in[i]) != s.inner_count)
      return cuda_node_error(n, KRT_ERR_INTERNAL, "parameter %d has %lld values, expected %lld", i,
                             (long long)cuda_count(&in[i]), (long long)s.inner_count);
  if (cuda_count(y) != cuda_count(&in[0]))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output does not have the input's size");
  if (s.outer_count * s.inner_count == 0) return NULL;
  CUDA_DISPATCH(y->dtype, {
    layernorm_body<T> body;
    body.gamma = n_in > 1 ? (const T *)in[1].data : NULL;
    body.beta = n_in > 2 ? (const T *)in[2].data : NULL;
    body.eps = n->attrs.epsilon;
    body.rms_scaling = n->attrs.rms_scaling;
    launch_split<T>(&s, (const T *)in[0].data, (T *)y->data, body, launch->stream);
  });
  return cuda_check_launch(n);
}

/* ---- Softmax / LogSoftmax ---- */

struct softmax_body {
  int log_form;
  template <int M, typename T>
  __device__ void run(coop<M> &c, const T *x, T *y, const cuda_axis_split &s, int64_t row,
                      bool valid) const {
    int64_t base = valid ? outer_offset(s, row) : 0;
    float mx = -INFINITY;
    if (valid)
      for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes())
        mx = fmaxf(mx, ld(x + base + inner_offset(s, j)));
    mx = c.template reduce<true>(mx);
    float sum = 0.0f;
    if (valid)
      for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes())
        sum += expf(ld(x + base + inner_offset(s, j)) - mx);
    sum = c.template reduce<false>(sum);
    if (!valid) return;
    float log_sum = logf(sum), inv = 1.0f / sum;
    for (int64_t j = c.lane(); j < s.inner_count; j += c.lanes()) {
      int64_t at = base + inner_offset(s, j);
      float shifted = ld(x + at) - mx;
      st(y + at, log_form ? shifted - log_sum : expf(shifted) * inv);
    }
  }
};

static krt_status *softmax(const ir_node *n, const cuda_tensor *in, int n_in, cuda_tensor *y,
                           const cuda_launch *launch, int log_form) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  cuda_axis_split s;
  if (!cuda_axis_split_init(&in[0], n->attrs.n_axes, n->attrs.axes, &s))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "%d axes are not ascending axes of rank %d",
                           n->attrs.n_axes, in[0].rank);
  if (cuda_count(y) != cuda_count(&in[0]))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output does not have the input's size");
  if (s.outer_count * s.inner_count == 0) return NULL;
  softmax_body body;
  body.log_form = log_form;
  CUDA_DISPATCH(y->dtype,
                launch_split<T>(&s, (const T *)in[0].data, (T *)y->data, body, launch->stream));
  return cuda_check_launch(n);
}

extern "C" krt_status *cuda_launch_softmax(const ir_node *n, const cuda_tensor *in, int n_in,
                                           cuda_tensor *y, const cuda_launch *launch) {
  return softmax(n, in, n_in, y, launch, 0);
}

extern "C" krt_status *cuda_launch_log_softmax(const ir_node *n, const cuda_tensor *in, int n_in,
                                               cuda_tensor *y, const cuda_launch *launch) {
  return softmax(n, in, n_in, y, launch, 1);
}
