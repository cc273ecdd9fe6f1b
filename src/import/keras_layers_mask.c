/* Masking, the layer that makes a mask for the recurrent layers after it (keras_layers.c's table).
 *
 * Keras 3 records masks in the model: the mask is computed by operation nodes of its own
 * (Masking: any(x != mask_value, axis=-1); Embedding mask_zero: x != 0) and handed to each layer
 * call that reads one as its keyword argument mask (keras_wiring.c), where the recurrent layers
 * apply it and every other layer refuses it (check_call). Keras 1/2 files record no mask: it
 * travels with the tensors, so krt cannot tell which layer reads it, and refuses where it is made.
 */
#include <math.h>

#include "import/keras_config.h"

/* x[N, T, F] -> x where any feature of the step differs from mask_value, else 0 (Keras 3: where
 * (any(x != v, axis=-1, keepdims=True), x, 0)), computed as x * any(...) with any as the max of
 * the 0/1 comparisons: the same values for finite x (a masked step's x is v, finite). */
krt_status *kl_convert_masking(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  static const char *const keys[] = {"mask_value", NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, keys));
  if (ctx->keras_major < 3)
    return kl_unsupported(ctx,
                          "a Keras %d file records no mask: Masking's mask travels with its "
                          "output to layers krt cannot tell, so it is not supported (Keras 3 "
                          "files, which record the mask, are)",
                          ctx->keras_major);
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kl_expect_weights(ctx, 0, 0));
  double value;
  KRT_TRY(kc_float(ctx, NULL, "mask_value", 0.0, &value));
  /* Keras compares float32 inputs with mask_value as a float32, as krt does */
  if (!isfinite((float)value))
    return kl_unsupported(ctx, "option mask_value=%g is not supported (not a finite float32)",
                          value);
  int x = ctx->inputs[0];
  const ir_value *v = kl_value(ctx, x);
  if (v->rank < 2) return kl_unsupported(ctx, "expects an input of rank 2 or more");
  int ins[2] = {x, -1}, differs, step_used;
  KRT_TRY(kl_const_fill(ctx, "mask_value", 1, (float)value, &ins[1]));
  ir_attrs a = kl_attrs();
  a.binary = IR_BINARY_NOT_EQUAL;
  KRT_TRY(kl_emit(ctx, IR_OP_BINARY, "not_equal", ins, 2, &a, &differs));
  a = kl_attrs();
  a.reduce = IR_REDUCE_MAX;
  a.n_axes = 1;
  a.axes[0] = v->rank - 1;
  a.keepdims = 1;
  KRT_TRY(kl_emit(ctx, IR_OP_REDUCE, "any", &differs, 1, &a, &step_used));
  ins[1] = step_used;
  a = kl_attrs();
  a.binary = IR_BINARY_MUL;
  return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, out);
}
