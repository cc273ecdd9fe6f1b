/* Pooling: Max/AveragePooling1D/2D/3D (Keras 1: pool_length/stride/border_mode/dim_ordering) and
 * GlobalMax/GlobalAveragePooling1D/2D/3D.
 *
 * IR pools are channels-last and use TensorFlow's padding: "same" pads (total split with the
 * smaller half first), padded taps never count (max ignores them, average divides by the taps
 * inside the input). */
#include <string.h>

#include "import/keras_config.h"

krt_status *kl_convert_pool(const keras_layer_ctx *ctx, int variant, int *out) {
  int spatial = variant & 0xf;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int size[3], stride[3], channels_first;
  if (spatial == 1 && kc_has(ctx, "pool_length")) { /* Keras 1 */
    KRT_TRY(kc_int(ctx, NULL, "pool_length", 2, &size[0]));
    KRT_TRY(kc_int(ctx, NULL, "stride", size[0], &stride[0]));
  } else {
    KRT_TRY(kc_int_tuple(ctx, NULL, "pool_size", spatial, 2, size));
    /* strides None (or absent) means pool_size */
    const char *skey = kc_has(ctx, "strides") ? "strides" : "stride";
    if (kc_has(ctx, skey)) KRT_TRY(kc_int_tuple(ctx, NULL, skey, spatial, 1, stride));
    else memcpy(stride, size, sizeof size);
  }
  for (int i = 0; i < spatial; i++)
    if (size[i] < 1 || stride[i] < 1) return kl_bad_file(ctx, "pool_size and strides must be positive");
  kc_padding padding;
  KRT_TRY(kc_padding_mode(ctx, KC_PAD_VALID | KC_PAD_SAME, &padding));
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  /* Theano pools "same" with a different padding and crop than TensorFlow's. */
  if (padding == KC_PAD_SAME && kc_theano_kernels(ctx))
    return kl_unsupported(ctx, "padding='same' pooling of a Theano model is not supported");
  int x = ctx->inputs[0];
  KRT_TRY(kl_expect_rank(ctx, x, spatial + 2, spatial + 2));
  if (channels_first) KRT_TRY(kl_to_channels_last(ctx, x, &x));
  const ir_value *xv = kl_value(ctx, x);
  ir_attrs a = kl_attrs();
  a.pool = (variant & KL_POOL_AVG) ? IR_POOL_AVG : IR_POOL_MAX;
  a.spatial = spatial;
  for (int i = 0; i < spatial; i++) {
    a.kernel[i] = size[i];
    a.stride[i] = stride[i];
    KRT_TRY(kc_conv_padding(ctx, padding, xv->dims[1 + i], size[i], stride[i], 1, &a.pad_begin[i],
                            &a.pad_end[i]));
  }
  int y;
  KRT_TRY(kl_emit(ctx, IR_OP_POOL, NULL, &x, 1, &a, &y));
  if (channels_first) KRT_TRY(kl_to_channels_first(ctx, y, &y));
  *out = y;
  return NULL;
}

/* Global pooling: a Reduce over the spatial axes (1..s channels_last, 2..s+1 channels_first),
 * kept as 1 with keepdims. */
krt_status *kl_convert_global_pool(const keras_layer_ctx *ctx, int variant, int *out) {
  int spatial = variant & 0xf;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int channels_first, keepdims;
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  KRT_TRY(kc_bool(ctx, NULL, "keepdims", 0, &keepdims));
  int x = ctx->inputs[0];
  KRT_TRY(kl_expect_rank(ctx, x, spatial + 2, spatial + 2));
  ir_attrs a = kl_attrs();
  a.reduce = (variant & KL_POOL_AVG) ? IR_REDUCE_MEAN : IR_REDUCE_MAX;
  a.keepdims = keepdims;
  a.n_axes = spatial;
  for (int i = 0; i < spatial; i++) a.axes[i] = (channels_first ? 2 : 1) + i;
  return kl_emit(ctx, IR_OP_REDUCE, NULL, &x, 1, &a, out);
}
