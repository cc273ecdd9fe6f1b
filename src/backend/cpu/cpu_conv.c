/* Conv and ConvTranspose, channels-last, 1 to 3 spatial axes (handled as 3, see cpu_window).
 *
 *   Conv:          x[N, S..., Ci], W[k..., Ci/groups, Co], b[Co]? -> y[N, S'..., Co]
 *                  y[o] = b + sum over taps t and group channels: x[o*stride - pb + t*dil] * W[t]
 *                  (taps that fall in the padding read zero). Group g maps input channels
 *                  [g*Ci/G, (g+1)*Ci/G) to output channels [g*Co/G, (g+1)*Co/G); depthwise with
 *                  multiplier m is G = Ci, Co = Ci*m.
 *   ConvTranspose: x[N, S..., Ci], W[k..., Co, Ci], b[Co]? -> y[N, S'..., Co]
 *                  y[o] += x[i] * W[t] wherever o + pb == i*stride + t*dil (ops.def); computed
 *                  as a gather per output position, so pe < 0 (output longer than the full
 *                  length) simply leaves bias-only positions at the end.
 * Sums accumulate in double, one output position at a time (acc[Co]).
 * With attrs.residual the inputs are [x, W, b, r] and y = act(conv + b + r), r shaped like y.
 */
#include <stdlib.h>

#include "backend/cpu/cpu_util.h"

/* Checks W's and b's shapes: W[kernel..., w_in, w_out], b[Co]. */
static krt_status *check_weights(const ir_node *n, const cpu_window *w, const cpu_tensor *wt,
                                 const cpu_tensor *b, int64_t w_in, int64_t w_out) {
  int sp = n->attrs.spatial;
  int ok = wt->rank == sp + 2 && wt->dims[sp] == w_in && wt->dims[sp + 1] == w_out;
  for (int i = 0; ok && i < sp; i++) ok = wt->dims[i] == w->kernel[3 - sp + i];
  if (!ok)
    return cpu_node_error(n, KRT_ERR_INTERNAL,
                          "weights of rank %d do not match kernel, %lld and %lld channels",
                          wt->rank, (long long)w_in, (long long)w_out);
  if (b && cpu_count(b) != w->out_channels)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "bias has %lld values for %lld channels",
                          (long long)cpu_count(b), (long long)w->out_channels);
  return NULL;
}

/* The inputs [x, W, b?] or, with a fused residual, [x, W, b, r]. */
static krt_status *check_conv_inputs(const ir_node *n, int n_in) {
  return n->attrs.residual ? cpu_check_inputs(n, n_in, 4, 4) : cpu_check_inputs(n, n_in, 2, 3);
}

/* y += r, the fused residual, before the activation; r must be y's size (no broadcasting). */
krt_status *cpu_add_residual(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  if (!n->attrs.residual) return NULL;
  if (n_in < 4) return cpu_node_error(n, KRT_ERR_INTERNAL, "residual set but no residual input");
  const cpu_tensor *r = &in[3];
  int64_t count = cpu_count(y);
  if (cpu_count(r) != count)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "residual has %lld values, the output %lld",
                          (long long)cpu_count(r), (long long)count);
  for (int64_t i = 0; i < count; i++) y->data[i] += r->data[i];
  return NULL;
}

static double *alloc_accumulators(int64_t count) {
  return malloc((size_t)(count > 0 ? count : 1) * sizeof(double));
}

krt_status *cpu_kernel_conv(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(check_conv_inputs(n, n_in));
  const cpu_tensor *x = &in[0], *wt = &in[1], *b = n_in > 2 ? &in[2] : NULL;
  cpu_window w;
  KRT_TRY(cpu_window_init(n, x, y, 1, &w));
  int64_t groups = n->attrs.groups > 0 ? n->attrs.groups : 1;
  int64_t ci = w.in_channels, co = w.out_channels;
  if (ci % groups || co % groups)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "%lld groups do not divide %lld -> %lld channels",
                          (long long)groups, (long long)ci, (long long)co);
  int64_t ci_g = ci / groups, co_g = co / groups;
  KRT_TRY(check_weights(n, &w, wt, b, ci_g, co));
  for (int i = 0; i < 3; i++) {
    int64_t span = w.in[i] + w.pad_begin[i] + w.pad_end[i] - w.dilation[i] * (w.kernel[i] - 1) - 1;
    int64_t expect = span < 0 ? 0 : span / w.stride[i] + 1;
    if (w.out[i] != expect)
      return cpu_node_error(n, KRT_ERR_INTERNAL, "output length %lld, expected %lld",
                            (long long)w.out[i], (long long)expect);
  }

  double *acc = alloc_accumulators(co);
  if (!acc)
    return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate %lld accumulators",
                          (long long)co);
  const int64_t tap_size = ci_g * co; /* floats of W per kernel tap */
  float *yp = y->data;
  for (int64_t b_ = 0; b_ < w.batch; b_++)
    for (int64_t o0 = 0; o0 < w.out[0]; o0++)
      for (int64_t o1 = 0; o1 < w.out[1]; o1++)
        for (int64_t o2 = 0; o2 < w.out[2]; o2++, yp += co) {
          for (int64_t c = 0; c < co; c++) acc[c] = b ? b->data[c] : 0.0;
          for (int64_t k0 = 0; k0 < w.kernel[0]; k0++) {
            int64_t i0 = o0 * w.stride[0] - w.pad_begin[0] + k0 * w.dilation[0];
            if (i0 < 0 || i0 >= w.in[0]) continue;
            for (int64_t k1 = 0; k1 < w.kernel[1]; k1++) {
              int64_t i1 = o1 * w.stride[1] - w.pad_begin[1] + k1 * w.dilation[1];
              if (i1 < 0 || i1 >= w.in[1]) continue;
              for (int64_t k2 = 0; k2 < w.kernel[2]; k2++) {
                int64_t i2 = o2 * w.stride[2] - w.pad_begin[2] + k2 * w.dilation[2];
                if (i2 < 0 || i2 >= w.in[2]) continue;
                const float *xv =
                    x->data + (((b_ * w.in[0] + i0) * w.in[1] + i1) * w.in[2] + i2) * ci;
                const float *wv =
                    wt->data + ((k0 * w.kernel[1] + k1) * w.kernel[2] + k2) * tap_size;
                for (int64_t g = 0; g < groups; g++)
                  for (int64_t cin = 0; cin < ci_g; cin++) {
                    double xval = xv[g * ci_g + cin];
                    const float *wrow = wv + cin * co + g * co_g; /* W[t, cin, g*co_g ...] */
                    double *accg = acc + g * co_g;
                    for (int64_t c = 0; c < co_g; c++) accg[c] += xval * wrow[c];
                  }
              }
            }
          }
          for (int64_t c = 0; c < co; c++) yp[c] = (float)acc[c];
        }
  free(acc);
  KRT_TRY(cpu_add_residual(n, in, n_in, y));
  cpu_apply_activation(&n->attrs.act, y->data, cpu_count(y));
  return NULL;
}

/* The input index that output o reads through tap t on one axis, or -1 when none does:
 * o + pb == i*stride + t*dil. */
static int64_t transpose_source(const cpu_window *w, int axis, int64_t o, int64_t t) {
  int64_t num = o + w->pad_begin[axis] - t * w->dilation[axis];
  if (num < 0 || num % w->stride[axis]) return -1;
  int64_t i = num / w->stride[axis];
  return i < w->in[axis] ? i : -1;
}

krt_status *cpu_kernel_conv_transpose(const ir_node *n, const cpu_tensor *in, int n_in,
                                      cpu_tensor *y) {
  KRT_TRY(check_conv_inputs(n, n_in));
  const cpu_tensor *x = &in[0], *wt = &in[1], *b = n_in > 2 ? &in[2] : NULL;
  cpu_window w;
  KRT_TRY(cpu_window_init(n, x, y, 1, &w));
  if (n->attrs.groups > 1)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "groups=%d is not supported", n->attrs.groups);
  int64_t ci = w.in_channels, co = w.out_channels;
  KRT_TRY(check_weights(n, &w, wt, b, co, ci));
  for (int i = 0; i < 3; i++) {
    int64_t full = (w.in[i] - 1) * w.stride[i] + w.dilation[i] * (w.kernel[i] - 1) + 1;
    int64_t expect = full - w.pad_begin[i] - w.pad_end[i];
    if (w.out[i] != expect)
      return cpu_node_error(n, KRT_ERR_INTERNAL, "output length %lld, expected %lld",
                            (long long)w.out[i], (long long)expect);
  }

  double *acc = alloc_accumulators(co);
  if (!acc)
    return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate %lld accumulators",
                          (long long)co);
  float *yp = y->data;
  for (int64_t b_ = 0; b_ < w.batch; b_++)
    for (int64_t o0 = 0; o0 < w.out[0]; o0++)
      for (int64_t o1 = 0; o1 < w.out[1]; o1++)
        for (int64_t o2 = 0; o2 < w.out[2]; o2++, yp += co) {
          for (int64_t c = 0; c < co; c++) acc[c] = b ? b->data[c] : 0.0;
          for (int64_t k0 = 0; k0 < w.kernel[0]; k0++) {
            int64_t i0 = transpose_source(&w, 0, o0, k0);
            if (i0 < 0) continue;
            for (int64_t k1 = 0; k1 < w.kernel[1]; k1++) {
              int64_t i1 = transpose_source(&w, 1, o1, k1);
              if (i1 < 0) continue;
              for (int64_t k2 = 0; k2 < w.kernel[2]; k2++) {
                int64_t i2 = transpose_source(&w, 2, o2, k2);
                if (i2 < 0) continue;
                const float *xv =
                    x->data + (((b_ * w.in[0] + i0) * w.in[1] + i1) * w.in[2] + i2) * ci;
                const float *wv = wt->data + ((k0 * w.kernel[1] + k1) * w.kernel[2] + k2) * co * ci;
                for (int64_t c = 0; c < co; c++) { /* W[t, c, :] . x[i, :] */
                  const float *wrow = wv + c * ci;
                  double sum = 0.0;
                  for (int64_t cin = 0; cin < ci; cin++) sum += (double)xv[cin] * wrow[cin];
                  acc[c] += sum;
                }
              }
            }
          }
          for (int64_t c = 0; c < co; c++) yp[c] = (float)acc[c];
        }
  free(acc);
  KRT_TRY(cpu_add_residual(n, in, n_in, y));
  cpu_apply_activation(&n->attrs.act, y->data, cpu_count(y));
  return NULL;
}
