/* Normalisations: BatchNorm (inference form), LayerNorm (incl. Keras 3 rms_scaling), Softmax and
 * LogSoftmax over one or several axes jointly. Statistics are computed in double.
 */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_util.h"

/* x, gamma[C], beta[C], mean[C], var[C] -> y like x, C = dims[axis]:
 * y = act((x - mean) / sqrt(var + eps) * gamma + beta), act fused by fuse_activation. */
krt_status *cpu_kernel_batchnorm(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 5, 5));
  const cpu_tensor *x = &in[0];
  int axis = n->attrs.axis;
  if (axis < 0 || axis >= x->rank)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "axis %d for an input of rank %d", axis, x->rank);
  int64_t c_dim = x->dims[axis];
  for (int i = 1; i < 5; i++)
    if (cpu_count(&in[i]) != c_dim)
      return cpu_node_error(n, KRT_ERR_INTERNAL, "parameter %d has %lld values for %lld channels",
                            i, (long long)cpu_count(&in[i]), (long long)c_dim);
  KRT_TRY(cpu_check_count(n, y, cpu_count(x)));
  const float *gamma = in[1].data, *beta = in[2].data, *mean = in[3].data, *var = in[4].data;
  /* x viewed as [outer, C, inner]. */
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  double eps = n->attrs.epsilon;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < c_dim; c++) {
      double scale = gamma[c] / sqrt((double)var[c] + eps);
      const float *xp = x->data + (o * c_dim + c) * inner;
      float *yp = y->data + (o * c_dim + c) * inner;
      for (int64_t i = 0; i < inner; i++)
        yp[i] = (float)((xp[i] - (double)mean[c]) * scale + beta[c]);
    }
  cpu_apply_activation(&n->attrs.act, y->data, cpu_count(y));
  return NULL;
}

/* x, gamma[P]?, beta[P]? -> y like x, P = product of dims at axes (gamma and beta are indexed
 * row-major over those axes). Keras 3 makes gamma/beta optional (scale=False, center=False); they
 * come positionally. rms_scaling: y = x / sqrt(var + eps) * gamma, var still about the mean. */
krt_status *cpu_kernel_layernorm(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 3));
  const cpu_tensor *x = &in[0];
  const float *gamma = n_in > 1 ? in[1].data : NULL, *beta = n_in > 2 ? in[2].data : NULL;
  KRT_TRY(cpu_check_count(n, y, cpu_count(x)));
  cpu_axis_split s;
  KRT_TRY(cpu_axis_split_init(n, x, &s));
  for (int i = 1; i < n_in; i++)
    if (cpu_count(&in[i]) != s.inner_count) {
      cpu_axis_split_free(&s);
      return cpu_node_error(n, KRT_ERR_INTERNAL, "parameter %d has %lld values, expected %lld", i,
                            (long long)cpu_count(&in[i]), (long long)s.inner_count);
    }
  double eps = n->attrs.epsilon;
  double count = (double)s.inner_count;
  for (int64_t o = 0; o < s.outer_count; o++) {
    int64_t base = cpu_axis_split_base(&s, o);
    const float *xp = x->data + base;
    float *yp = y->data + base;
    double sum = 0.0;
    for (int64_t j = 0; j < s.inner_count; j++) sum += xp[s.inner_offsets[j]];
    double mean = sum / count;
    double sq = 0.0; /* two-pass variance, as tf.nn.moments */
    for (int64_t j = 0; j < s.inner_count; j++) {
      double d = xp[s.inner_offsets[j]] - mean;
      sq += d * d;
    }
    double inv = 1.0 / sqrt(sq / count + eps);
    for (int64_t j = 0; j < s.inner_count; j++) {
      int64_t at = s.inner_offsets[j];
      double v = n->attrs.rms_scaling ? xp[at] * inv : (xp[at] - mean) * inv;
      if (gamma) v *= gamma[j];
      if (beta && !n->attrs.rms_scaling) v += beta[j];
      yp[at] = (float)v;
    }
  }
  cpu_axis_split_free(&s);
  return NULL;
}

/* Softmax (log_form 0) or LogSoftmax (1) over the node's axes jointly. The max is subtracted
 * first so exp never overflows. */
static krt_status *softmax(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y,
                           int log_form) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  KRT_TRY(cpu_check_count(n, y, cpu_count(x)));
  cpu_axis_split s;
  KRT_TRY(cpu_axis_split_init(n, x, &s));
  for (int64_t o = 0; o < s.outer_count; o++) {
    int64_t base = cpu_axis_split_base(&s, o);
    const float *xp = x->data + base;
    float *yp = y->data + base;
    double max = -INFINITY;
    for (int64_t j = 0; j < s.inner_count; j++)
      if (xp[s.inner_offsets[j]] > max) max = xp[s.inner_offsets[j]];
    double sum = 0.0;
    for (int64_t j = 0; j < s.inner_count; j++) sum += exp(xp[s.inner_offsets[j]] - max);
    double log_sum = log(sum);
    for (int64_t j = 0; j < s.inner_count; j++) {
      int64_t at = s.inner_offsets[j];
      double shifted = xp[at] - max;
      yp[at] = (float)(log_form ? shifted - log_sum : exp(shifted) / sum);
    }
  }
  cpu_axis_split_free(&s);
  return NULL;
}

krt_status *cpu_kernel_softmax(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  return softmax(n, in, n_in, y, 0);
}

krt_status *cpu_kernel_log_softmax(const ir_node *n, const cpu_tensor *in, int n_in,
                                   cpu_tensor *y) {
  return softmax(n, in, n_in, y, 1);
}
