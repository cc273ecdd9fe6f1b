/* Pool (sliding-window max/average) and Reduce (mean/max/sum over axes).
 *
 *   Pool:   x[N, S..., C] -> y[N, S'..., C], out = floor((in + pb + pe - k) / stride) + 1.
 *           Padding never counts, as in TensorFlow: MAX takes the maximum of the in-bounds taps,
 *           AVG divides by the number of in-bounds taps (so 'same' borders average fewer values).
 *   Reduce: x -> y with the node's axes reduced; keepdims only changes y's dims, not its layout.
 */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_util.h"

krt_status *cpu_kernel_pool(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  cpu_window w;
  KRT_TRY(cpu_window_init(n, x, y, 0, &w));
  int64_t c_dim = w.in_channels;
  if (w.out_channels != c_dim)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "%lld channels in, %lld out", (long long)c_dim,
                          (long long)w.out_channels);
  for (int i = 0; i < 3; i++) {
    int64_t span = w.in[i] + w.pad_begin[i] + w.pad_end[i] - w.kernel[i];
    int64_t expect = span < 0 ? 0 : span / w.stride[i] + 1;
    if (w.out[i] != expect)
      return cpu_node_error(n, KRT_ERR_INTERNAL, "output length %lld, expected %lld",
                            (long long)w.out[i], (long long)expect);
  }
  int is_max = n->attrs.pool == IR_POOL_MAX;
  if (!is_max && n->attrs.pool != IR_POOL_AVG)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "unknown pool kind %d", (int)n->attrs.pool);

  double *acc = malloc((size_t)(c_dim > 0 ? c_dim : 1) * sizeof *acc);
  if (!acc)
    return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate %lld accumulators",
                          (long long)c_dim);
  float *yp = y->data;
  for (int64_t b = 0; b < w.batch; b++)
    for (int64_t o0 = 0; o0 < w.out[0]; o0++)
      for (int64_t o1 = 0; o1 < w.out[1]; o1++)
        for (int64_t o2 = 0; o2 < w.out[2]; o2++, yp += c_dim) {
          for (int64_t c = 0; c < c_dim; c++) acc[c] = is_max ? -INFINITY : 0.0;
          int64_t taps = 0; /* in-bounds taps of this window */
          for (int64_t k0 = 0; k0 < w.kernel[0]; k0++) {
            int64_t i0 = o0 * w.stride[0] - w.pad_begin[0] + k0;
            if (i0 < 0 || i0 >= w.in[0]) continue;
            for (int64_t k1 = 0; k1 < w.kernel[1]; k1++) {
              int64_t i1 = o1 * w.stride[1] - w.pad_begin[1] + k1;
              if (i1 < 0 || i1 >= w.in[1]) continue;
              for (int64_t k2 = 0; k2 < w.kernel[2]; k2++) {
                int64_t i2 = o2 * w.stride[2] - w.pad_begin[2] + k2;
                if (i2 < 0 || i2 >= w.in[2]) continue;
                const float *xv =
                    x->data + (((b * w.in[0] + i0) * w.in[1] + i1) * w.in[2] + i2) * c_dim;
                taps++;
                if (is_max) {
                  for (int64_t c = 0; c < c_dim; c++)
                    if (xv[c] > acc[c] || isnan(xv[c])) acc[c] = xv[c];
                } else {
                  for (int64_t c = 0; c < c_dim; c++) acc[c] += xv[c];
                }
              }
            }
          }
          /* A window entirely in the padding has no value; write 0 (TF never forms one). */
          for (int64_t c = 0; c < c_dim; c++)
            yp[c] = taps == 0 ? 0.0f : (float)(is_max ? acc[c] : acc[c] / (double)taps);
        }
  free(acc);
  return NULL;
}

krt_status *cpu_kernel_reduce(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  ir_reduce_kind kind = n->attrs.reduce;
  if (kind != IR_REDUCE_MEAN && kind != IR_REDUCE_MAX && kind != IR_REDUCE_SUM)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "unknown reduce kind %d", (int)kind);
  cpu_axis_split s;
  KRT_TRY(cpu_axis_split_init(n, x, &s));
  krt_status *err = cpu_check_count(n, y, s.outer_count);
  for (int64_t o = 0; !err && o < s.outer_count; o++) {
    const float *base = x->data + cpu_axis_split_base(&s, o);
    double r = kind == IR_REDUCE_MAX ? -INFINITY : 0.0;
    for (int64_t j = 0; j < s.inner_count; j++) {
      float v = base[s.inner_offsets[j]];
      if (kind == IR_REDUCE_MAX) {
        if (v > r || isnan(v)) r = v;
      } else {
        r += v;
      }
    }
    if (kind == IR_REDUCE_MEAN) r /= (double)s.inner_count;
    y->data[o] = (float)r;
  }
  cpu_axis_split_free(&s);
  return err;
}
