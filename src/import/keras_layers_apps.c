/* The small layers that keras.applications defines in its own modules (not in keras.layers) and
 * saves into its models:
 *
 *   LayerScale (keras/src/applications/convnext.py, ConvNeXt*): y = x * gamma, gamma a weight of
 *   shape [projection_dim] (numpy broadcasting: along the last axis). Config: init_values (only
 *   the initial value of gamma), projection_dim.
 *
 *   CustomScaleLayer (keras/src/applications/inception_resnet_v2.py): called on a list [a, b],
 *   y = a + b * scale, scale a Python float in the config. No weights.
 *
 * keras_convert_layer accepts them only from those modules (or from HDF5 files, which record no
 * module); the same class names from any other module are user code and refused there. */
#include "import/keras_config.h"

krt_status *kl_convert_layer_scale(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  static const char *const known[] = {"init_values", "projection_dim", NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, known));
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  KRT_TRY(kl_expect_rank(ctx, x, 2, KRT_MAX_RANK));
  int dim;
  KRT_TRY(kc_int(ctx, NULL, "projection_dim", -1, &dim));
  if (dim < 1) return kl_bad_file(ctx, "option projection_dim is missing or not positive");
  KRT_TRY(kl_expect_weights(ctx, 1, 1));
  int64_t gdims[1] = {dim};
  KRT_TRY(kl_expect_weight(ctx, 0, "gamma", 1, gdims));
  const ir_value *xv = kl_value(ctx, x);
  int64_t last = xv->dims[xv->rank - 1];
  if (last >= 0 && last != 1 && last != dim)
    return krt_error(KRT_ERR_SHAPE,
                     "%s: layer '%s' (%s): gamma of shape (%d) does not broadcast against the "
                     "input's last axis of size %lld",
                     ctx->file, ctx->layer_name, ctx->class_name, dim, (long long)last);
  ir_attrs a = kl_attrs();
  a.binary = IR_BINARY_MUL;
  int ins[2] = {x, -1};
  KRT_TRY(kl_const_copy(ctx, "gamma", 1, gdims, ctx->weights[0].data, &ins[1]));
  return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, out);
}

krt_status *kl_convert_custom_scale(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  static const char *const known[] = {"scale", NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, known));
  /* Keras reads inputs[0] and inputs[1] and ignores any further entries of the list. */
  KRT_TRY(kl_expect_inputs(ctx, 2, 2));
  KRT_TRY(kl_expect_weights(ctx, 0, 0));
  if (!kc_get(ctx, NULL, "scale")) return kl_bad_file(ctx, "option scale is missing");
  double scale;
  KRT_TRY(kc_float(ctx, NULL, "scale", 1.0, &scale));
  /* b * scale first, then a + that: the order Keras computes in (float32 throughout). */
  int c, scaled;
  KRT_TRY(kl_const_fill(ctx, "scale", 1, (float)scale, &c));
  ir_attrs a = kl_attrs();
  a.binary = IR_BINARY_MUL;
  int mul_ins[2] = {ctx->inputs[1], c};
  KRT_TRY(kl_emit(ctx, IR_OP_BINARY, "scaled", mul_ins, 2, &a, &scaled));
  a.binary = IR_BINARY_ADD;
  int add_ins[2] = {ctx->inputs[0], scaled};
  return kl_emit(ctx, IR_OP_BINARY, NULL, add_ins, 2, &a, out);
}
