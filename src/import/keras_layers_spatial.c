/* ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D.
 *
 * Padding and cropping act on the spatial axes in place (axes 1..s channels_last, 2..s+1
 * channels_first), so they need no transposes. Upsampling is an IR Resize (channels-last):
 * nearest repeats each pixel (Keras's repeat), bilinear is TensorFlow 2's half-pixel resize. */
#include <string.h>

#include "import/keras_config.h"

/* Reads a per-axis (begin, end) amount in every form Keras allows, for s spatial axes:
 *   p                       -> (p, p) on every axis
 *   [a, b]                  -> s == 1: (a, b); s == 2: (a, a), (b, b)
 *   [a, b, c]               -> s == 3: (a, a), (b, b), (c, c)
 *   [[t, b], [l, r]]        -> per axis (s pairs)
 *   [t, b, l, r]            -> Keras 1 ZeroPadding2D (top, bottom, left, right)
 *   {"top_pad": ...} / {"left_pad": ..., "right_pad": ...}  (Keras 1 dicts)
 */
static krt_status *read_amounts(const keras_layer_ctx *ctx, const char *key, int s, int def,
                                int64_t begin[3], int64_t end[3]) {
  const cJSON *item = kc_get(ctx, NULL, key);
  for (int i = 0; i < s; i++) begin[i] = end[i] = def;
  if (!item) return NULL;
  if (cJSON_IsObject(item)) {
    if (s > 2) return kl_bad_file(ctx, "option %s is an object, not a list", key);
    static const char *names[2][2] = {{"top_pad", "bottom_pad"}, {"left_pad", "right_pad"}};
    for (int i = 0; i < s; i++) {
      int b, e;
      const char *const *n = names[s == 1 ? 1 : i];
      KRT_TRY(kc_int(ctx, item, n[0], 0, &b));
      KRT_TRY(kc_int(ctx, item, n[1], 0, &e));
      begin[i] = b, end[i] = e;
    }
  } else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == s &&
             cJSON_IsArray(cJSON_GetArrayItem(item, 0))) {
    for (int i = 0; i < s; i++) {
      int v[2], n = 0;
      KRT_TRY(kc_int_list(ctx, cJSON_GetArrayItem(item, i), key, 2, v, &n));
      if (n != 2) return kl_bad_file(ctx, "option %s is not a pair per axis", key);
      begin[i] = v[0], end[i] = v[1];
    }
  } else {
    int v[4], n = 0;
    KRT_TRY(kc_int_list(ctx, item, key, 4, v, &n));
    if (n == 1 && !cJSON_IsArray(item)) {
      for (int i = 0; i < s; i++) begin[i] = end[i] = v[0];
    } else if (n == 2 && s == 1) {
      begin[0] = v[0], end[0] = v[1];
    } else if (n == 2 && s == 2) {
      begin[0] = end[0] = v[0], begin[1] = end[1] = v[1];
    } else if (n == 3 && s == 3) {
      for (int i = 0; i < 3; i++) begin[i] = end[i] = v[i];
    } else if (n == 4 && s == 2) {
      begin[0] = v[0], end[0] = v[1], begin[1] = v[2], end[1] = v[3];
    } else {
      return kl_bad_file(ctx, "option %s has %d entries", key, n);
    }
  }
  for (int i = 0; i < s; i++)
    if (begin[i] < 0 || end[i] < 0) return kl_bad_file(ctx, "option %s is negative", key);
  return NULL;
}

/* Axis index of spatial axis i. Keras 1/2 ZeroPadding1D and Cropping1D are always channels_last. */
static int spatial_axis(int channels_first, int i) { return (channels_first ? 2 : 1) + i; }

krt_status *kl_convert_zero_padding(const keras_layer_ctx *ctx, int spatial, int *out) {
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0], channels_first;
  KRT_TRY(kl_expect_rank(ctx, x, spatial + 2, spatial + 2));
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  int64_t b[3], e[3];
  KRT_TRY(read_amounts(ctx, "padding", spatial, 1, b, e));
  ir_attrs a = kl_attrs();
  for (int i = 0; i < spatial; i++) {
    a.pad_begin[spatial_axis(channels_first, i)] = b[i];
    a.pad_end[spatial_axis(channels_first, i)] = e[i];
  }
  return kl_emit(ctx, IR_OP_PAD, NULL, &x, 1, &a, out);
}

krt_status *kl_convert_cropping(const keras_layer_ctx *ctx, int spatial, int *out) {
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0], channels_first;
  KRT_TRY(kl_expect_rank(ctx, x, spatial + 2, spatial + 2));
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  int64_t b[3], e[3];
  /* Keras's defaults: Cropping1D (1, 1), Cropping2D ((0, 0), (0, 0)), Cropping3D 1 per side. */
  KRT_TRY(read_amounts(ctx, "cropping", spatial, spatial == 2 ? 0 : 1, b, e));
  const ir_value *xv = kl_value(ctx, x);
  ir_attrs a = kl_attrs();
  for (int k = 0; k < xv->rank; k++) a.end[k] = xv->dims[k]; /* the batch axis: ignored */
  for (int i = 0; i < spatial; i++) {
    int k = spatial_axis(channels_first, i);
    if (xv->dims[k] < 0)
      return kl_unsupported(ctx, "cropping an axis of unknown size is not supported");
    if (b[i] + e[i] >= xv->dims[k])
      return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): cropping %lld+%lld leaves nothing of %lld",
                       ctx->file, ctx->layer_name, ctx->class_name, (long long)b[i],
                       (long long)e[i], (long long)xv->dims[k]);
    a.begin[k] = b[i];
    a.end[k] = xv->dims[k] - e[i];
  }
  return kl_emit(ctx, IR_OP_SLICE, NULL, &x, 1, &a, out);
}

krt_status *kl_convert_upsampling(const keras_layer_ctx *ctx, int spatial, int *out) {
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0], channels_first = 0, size[3];
  KRT_TRY(kl_expect_rank(ctx, x, spatial + 2, spatial + 2));
  if (spatial == 1) {
    KRT_TRY(kc_int(ctx, NULL, kc_has(ctx, "size") ? "size" : "length", 2, &size[0]));
  } else {
    KRT_TRY(kc_int_tuple(ctx, NULL, "size", spatial, 2, size));
    KRT_TRY(kc_channels_first(ctx, &channels_first));
  }
  for (int i = 0; i < spatial; i++)
    if (size[i] < 1) return kl_bad_file(ctx, "option size must be positive");
  const char *interp = "nearest";
  KRT_TRY(kc_string(ctx, NULL, "interpolation", "nearest", &interp));
  ir_attrs a = kl_attrs();
  /* Bilinear is 2-D only: Keras's UpSampling1D and UpSampling3D have no interpolation option. */
  int bilinear = strcmp(interp, "bilinear") == 0 && spatial == 2;
  if (strcmp(interp, "nearest") == 0) a.resize = IR_RESIZE_NEAREST;
  else if (bilinear) a.resize = IR_RESIZE_BILINEAR;
  else return kl_unsupported(ctx, "option interpolation='%s' is not supported", interp);
  a.spatial = spatial;
  for (int i = 0; i < spatial; i++) a.scale[i] = size[i];
  if (channels_first) KRT_TRY(kl_to_channels_last(ctx, x, &x));
  int y;
  KRT_TRY(kl_emit(ctx, IR_OP_RESIZE, NULL, &x, 1, &a, &y));
  if (channels_first) KRT_TRY(kl_to_channels_first(ctx, y, &y));
  *out = y;
  return NULL;
}
