/* BatchNormalization and LayerNormalization at inference.
 *
 * BatchNormalization: y = (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta over
 * one axis. Weights as saved: [gamma if scale] [beta if center] moving_mean moving_variance
 * (Keras 2 renorm adds arrays after these, unused at inference). Keras 1 (mode 0) saves
 * gamma, beta, running_mean, running_std, where running_std holds the variance: its backends pass
 * it to batch_normalization as the variance.
 *
 * LayerNormalization (Keras 3 ops.layer_normalization): over the axes, y = (x - mean) /
 * sqrt(var + eps) * gamma + beta; with rms_scaling, y = x / sqrt(var + eps) * gamma (var still
 * about the mean, no beta). gamma is saved when scale or rms_scaling, beta when center and not
 * rms_scaling; their flat data is reshaped onto the sorted axes, as Keras does.
 */
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

static krt_status *fill_const(const keras_layer_ctx *ctx, const char *part, int rank,
                              const int64_t *dims, float value, int *id) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (!d) return krt_error_oom("constant");
  for (int64_t i = 0; i < n; i++) d[i] = value;
  return kl_const(ctx, part, rank, dims, d, id);
}

krt_status *kl_convert_batchnorm(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  const ir_value *xv = kl_value(ctx, x);
  int mode, center, scale, renorm, axis_raw = -1, n = 0;
  double epsilon;
  KRT_TRY(kc_int(ctx, NULL, "mode", 0, &mode));
  if (mode != 0) return kl_unsupported(ctx, "option mode=%d is not supported", mode);
  KRT_TRY(kc_bool(ctx, NULL, "center", 1, &center));
  KRT_TRY(kc_bool(ctx, NULL, "scale", 1, &scale));
  KRT_TRY(kc_bool(ctx, NULL, "renorm", 0, &renorm));
  KRT_TRY(kc_float(ctx, NULL, "epsilon", 1e-3, &epsilon));
  const cJSON *ax = kc_get(ctx, NULL, "axis");
  if (ax) {
    int axes[KRT_MAX_RANK];
    KRT_TRY(kc_int_list(ctx, ax, "axis", KRT_MAX_RANK, axes, &n));
    if (n != 1) return kl_unsupported(ctx, "normalizing over %d axes is not supported", n);
    axis_raw = axes[0];
  }
  int axis;
  KRT_TRY(kl_axis(ctx, axis_raw, xv->rank, &axis));
  if (axis == 0) return kl_unsupported(ctx, "option axis=0 (the batch) is not supported");
  int64_t c = xv->dims[axis];
  if (ctx->keras_major == 1 && !kc_has(ctx, "center")) center = scale = 1; /* Keras 1: always both */
  int want = 2 + center + scale;
  KRT_TRY(kl_expect_weights(ctx, want, renorm ? want + 3 : want));
  if (c < 0) c = ctx->weights[0].rank == 1 ? ctx->weights[0].dims[0] : -1;
  static const char *names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
  int ins[5] = {x, -1, -1, -1, -1}, w = 0;
  for (int k = 0; k < 4; k++) {
    if ((k == 0 && !scale) || (k == 1 && !center)) {
      KRT_TRY(fill_const(ctx, names[k], 1, &c, k == 0 ? 1.0f : 0.0f, &ins[1 + k]));
      continue;
    }
    KRT_TRY(kl_expect_weight(ctx, w, names[k], 1, &c));
    KRT_TRY(kl_const_copy(ctx, names[k], 1, &c, ctx->weights[w].data, &ins[1 + k]));
    w++;
  }
  ir_attrs a = kl_attrs();
  a.axis = axis;
  a.epsilon = (float)epsilon;
  return kl_emit(ctx, IR_OP_BATCHNORM, NULL, ins, 5, &a, out);
}

krt_status *kl_convert_layernorm(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  const ir_value *xv = kl_value(ctx, x);
  int center, scale, rms;
  double epsilon;
  KRT_TRY(kc_bool(ctx, NULL, "center", 1, &center));
  KRT_TRY(kc_bool(ctx, NULL, "scale", 1, &scale));
  KRT_TRY(kc_bool(ctx, NULL, "rms_scaling", 0, &rms));
  KRT_TRY(kc_float(ctx, NULL, "epsilon", 1e-3, &epsilon));
  int raw[KRT_MAX_RANK], n = 1, used[KRT_MAX_RANK] = {0};
  raw[0] = -1;
  const cJSON *ax = kc_get(ctx, NULL, "axis");
  if (ax) KRT_TRY(kc_int_list(ctx, ax, "axis", KRT_MAX_RANK, raw, &n));
  if (n == 0) return kl_unsupported(ctx, "option axis=[] is not supported");
  for (int i = 0; i < n; i++) {
    int a;
    KRT_TRY(kl_axis(ctx, raw[i], xv->rank, &a));
    if (a == 0) return kl_unsupported(ctx, "normalizing over the batch axis is not supported");
    used[a] = 1;
  }
  ir_attrs a = kl_attrs();
  int64_t pdims[KRT_MAX_RANK];
  for (int i = 0; i < xv->rank; i++)
    if (used[i]) {
      if (xv->dims[i] < 0)
        return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): axis %d has an unknown size",
                         ctx->file, ctx->layer_name, ctx->class_name, i);
      pdims[a.n_axes] = xv->dims[i];
      a.axes[a.n_axes++] = i;
    }
  int has_gamma = scale || rms, has_beta = center && !rms;
  KRT_TRY(kl_expect_weights(ctx, has_gamma + has_beta, has_gamma + has_beta));
  int64_t p = 1;
  for (int i = 0; i < a.n_axes; i++) p *= pdims[i];
  int ins[3] = {x, -1, -1}, w = 0;
  for (int k = 0; k < 2; k++) {
    const char *name = k ? "beta" : "gamma";
    if (!(k ? has_beta : has_gamma)) {
      KRT_TRY(fill_const(ctx, name, a.n_axes, pdims, k ? 0.0f : 1.0f, &ins[1 + k]));
      continue;
    }
    const keras_array *wa = &ctx->weights[w];
    int64_t count = 1;
    for (int d = 0; d < wa->rank; d++) count *= wa->dims[d];
    if (count != p || !wa->data)
      return kl_bad_file(ctx, "weight %s ('%s') has %lld values, expected %lld", name,
                         wa->name ? wa->name : "?", (long long)count, (long long)p);
    KRT_TRY(kl_const_copy(ctx, name, a.n_axes, pdims, wa->data, &ins[1 + k]));
    w++;
  }
  a.epsilon = (float)epsilon;
  a.rms_scaling = rms;
  return kl_emit(ctx, IR_OP_LAYERNORM, NULL, ins, 3, &a, out);
}
