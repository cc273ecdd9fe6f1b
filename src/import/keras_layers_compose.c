/* Keras layers that krt computes as compositions of existing IR ops (no op of their own):
 *
 *   GroupNormalization   x[N, ..., C, ...] reshaped to [N, ..., G, C/G, ...], LayerNorm over
 *                        every axis but the batch and G (unit gamma, zero beta), reshaped back,
 *                        then * gamma[C] + beta[C] on the channel axis (Keras: moments over the
 *                        group, (x - mean) * rsqrt(var + eps) * gamma + beta).
 *   UnitNormalization    Keras 3 ops.normalize(order=2, epsilon=1e-12):
 *                        x * min(rsqrt(sum(x^2, axes)), 1e12); tf_keras tf.math.l2_normalize:
 *                        x * rsqrt(max(sum(x^2, axes), 1e-12)).
 *   RMSNormalization     Keras 3 ops.rms_normalization: x * rsqrt(mean(x^2, axes) + eps) * scale,
 *                        scale numpy-broadcast in the shape Keras saved it (dims at the sorted
 *                        axes), as Keras multiplies it.
 *   RepeatVector         x[N, F] -> [N, 1, F] * ones[n, 1] = [N, n, F] (x * 1 is x exactly).
 *   CenterCrop           a Slice of the centre (start (in - out) // 2), when the input is at
 *                        least the target size.
 *   Resizing             the aspect-ratio crop (Slice) or pad (Pad) Keras computes, then TF's
 *                        half-pixel nearest or bilinear sampling by whole-number factors: a
 *                        Slice and a strided Pool where it shrinks, a Resize where it grows.
 *   CategoryEncoding     one_hot: (x[..., 1] == iota[V]) -> [..., V]; multi_hot / count over
 *                        x[N, k]: (x[N, k, 1] == iota[V]) reduced over k by max / sum.
 *   Discretization       index = sum over b of (x >= b) (numpy digitize, right=False, over
 *                        sorted boundaries), then CategoryEncoding's modes over B + 1 tokens.
 *   TimeDistributed      the inner layer applied to each step: x[N, T, ...] is sliced per step,
 *                        reshaped to [N, ...], converted by the inner layer's own converter
 *                        (its constants shared between steps) and the T results concatenated
 *                        on axis 1. krt's dynamic axis is the batch, and Reshape keeps it on axis
 *                        0, so folding T into the batch as Keras does cannot be written in the
 *                        IR; computing each step alone is the same function. Dense and the
 *                        layers that are the identity at inference take the whole sequence.
 *
 * Integer-valued inputs (CategoryEncoding's token ids) arrive as float32, exact up to 2^24.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

/* ---- small emitters ------------------------------------------------------------------------ */

static krt_status *emit_binary(const keras_layer_ctx *ctx, ir_binary_kind kind, int a, int b,
                               const char *part, int *out) {
  ir_attrs at = kl_attrs();
  at.binary = kind;
  int ins[2] = {a, b};
  return kl_emit(ctx, IR_OP_BINARY, part, ins, 2, &at, out);
}

static krt_status *emit_act(const keras_layer_ctx *ctx, ir_act_kind kind, int x, const char *part,
                            int *out) {
  ir_attrs at = kl_attrs();
  at.act.kind = kind;
  return kl_emit(ctx, IR_OP_ACTIVATION, part, &x, 1, &at, out);
}

static krt_status *emit_reduce(const keras_layer_ctx *ctx, ir_reduce_kind kind, int x,
                               const int *axes, int n_axes, int keepdims, const char *part,
                               int *out) {
  ir_attrs at = kl_attrs();
  at.reduce = kind;
  at.n_axes = n_axes;
  for (int i = 0; i < n_axes; i++) at.axes[i] = axes[i];
  at.keepdims = keepdims;
  return kl_emit(ctx, IR_OP_REDUCE, part, &x, 1, &at, out);
}

/* x[N, ...] -> [N, dims[0..rank)]. */
static krt_status *emit_reshape(const keras_layer_ctx *ctx, int x, const int64_t *dims, int rank,
                                const char *part, int *out) {
  ir_attrs at = kl_attrs();
  at.shape_rank = rank;
  for (int i = 0; i < rank; i++) at.shape[i] = dims[i];
  return kl_emit(ctx, IR_OP_RESHAPE, part, &x, 1, &at, out);
}

/* A constant [1] holding `value` (numpy-broadcast by Binary). */
static krt_status *const_scalar(const keras_layer_ctx *ctx, const char *part, float value,
                                int *id) {
  return kl_const_fill(ctx, part, 1, value, id);
}

/* Every per-sample axis of x must be known (the batch excluded). */
static krt_status *known_sample_dims(const keras_layer_ctx *ctx, int x) {
  const ir_value *v = kl_value(ctx, x);
  for (int i = v->batched ? 1 : 0; i < v->rank; i++)
    if (v->dims[i] < 0)
      return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): axis %d of the input has an unknown "
                       "size", ctx->file, ctx->layer_name, ctx->class_name, i);
  return NULL;
}

/* The layer's "axis" option (an int or a list of ints; absent: -1) as sorted, distinct,
 * non-negative axes of a rank-`rank` input, none of them the batch. */
static krt_status *read_axes(const keras_layer_ctx *ctx, int rank, int *axes, int *n_axes) {
  int raw[KRT_MAX_RANK], n = 1, used[KRT_MAX_RANK] = {0};
  raw[0] = -1;
  const cJSON *ax = kc_get(ctx, NULL, "axis");
  if (ax) KRT_TRY(kc_int_list(ctx, ax, "axis", KRT_MAX_RANK, raw, &n));
  if (n == 0) return kl_unsupported(ctx, "option axis=[] is not supported");
  for (int i = 0; i < n; i++) {
    int a;
    KRT_TRY(kl_axis(ctx, raw[i], rank, &a));
    if (a == 0) return kl_unsupported(ctx, "option axis: normalizing over the batch axis is "
                                           "not supported");
    used[a] = 1;
  }
  *n_axes = 0;
  for (int i = 0; i < rank; i++)
    if (used[i]) axes[(*n_axes)++] = i;
  return NULL;
}

static int64_t weight_elements(const keras_array *w) {
  int64_t n = 1;
  for (int d = 0; d < w->rank; d++) n *= w->dims[d];
  return n;
}

/* ---- normalization ------------------------------------------------------------------------- */

static const char *const group_norm_keys[] = {
    "groups", "axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
    "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", NULL};

krt_status *kl_convert_group_norm(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, group_norm_keys));
  int x = ctx->inputs[0];
  KRT_TRY(known_sample_dims(ctx, x));
  const ir_value *xv = kl_value(ctx, x);
  int rank = xv->rank, groups, center, scale, axis_raw;
  double epsilon;
  KRT_TRY(kc_int(ctx, NULL, "groups", 32, &groups));
  KRT_TRY(kc_int(ctx, NULL, "axis", -1, &axis_raw));
  KRT_TRY(kc_float(ctx, NULL, "epsilon", 1e-3, &epsilon));
  KRT_TRY(kc_bool(ctx, NULL, "center", 1, &center));
  KRT_TRY(kc_bool(ctx, NULL, "scale", 1, &scale));
  int axis;
  KRT_TRY(kl_axis(ctx, axis_raw, rank, &axis));
  if (axis == 0) return kl_unsupported(ctx, "option axis=0 (the batch) is not supported");
  if (rank + 1 > KRT_MAX_RANK)
    return kl_unsupported(ctx, "an input of rank %d is not supported (the grouped view has one "
                               "axis more, at most %d)", rank, KRT_MAX_RANK);
  int64_t c = xv->dims[axis];
  if (groups == -1) groups = (int)c; /* instance normalization */
  if (groups < 1 || groups > c || c % groups != 0)
    return kl_bad_file(ctx, "option groups=%d does not divide the %lld channels of axis %d",
                       groups, (long long)c, axis);
  /* [N, d1.., C, ..] -> [N, d1.., G, C/G, ..]: per-sample dims of the grouped view */
  int64_t grouped[KRT_MAX_RANK], ln_dims[KRT_MAX_RANK];
  int g = 0;
  for (int i = 1; i < rank; i++) {
    if (i == axis) {
      grouped[g++] = groups;
      grouped[g++] = c / groups;
    } else {
      grouped[g++] = xv->dims[i];
    }
  }
  ir_attrs ln = kl_attrs();
  for (int i = 1; i <= g; i++) /* axis i of the grouped value is grouped[i - 1] */
    if (i != axis) {
      ln_dims[ln.n_axes] = grouped[i - 1];
      ln.axes[ln.n_axes++] = i;
    }
  ln.epsilon = (float)epsilon;
  KRT_TRY(kl_expect_weights(ctx, scale + center, scale + center));
  int y, ins[3];
  KRT_TRY(emit_reshape(ctx, x, grouped, g, "groups", &ins[0]));
  int64_t p = 1;
  for (int i = 0; i < ln.n_axes; i++) p *= ln_dims[i];
  float *ones = malloc((size_t)p * sizeof *ones), *zeros = calloc((size_t)p, sizeof *zeros);
  if (!ones || !zeros) {
    free(ones);
    free(zeros);
    return krt_error_oom("group normalization constants");
  }
  for (int64_t i = 0; i < p; i++) ones[i] = 1.0f;
  krt_status *s = kl_const(ctx, "unit_gamma", ln.n_axes, ln_dims, ones, &ins[1]);
  if (s) {
    free(zeros);
    return s;
  }
  KRT_TRY(kl_const(ctx, "zero_beta", ln.n_axes, ln_dims, zeros, &ins[2]));
  KRT_TRY(kl_emit(ctx, IR_OP_LAYERNORM, "normalize", ins, 3, &ln, &y));
  int64_t back[KRT_MAX_RANK];
  for (int i = 1; i < rank; i++) back[i - 1] = xv->dims[i];
  /* gamma/beta [C, 1, ...]: one 1 per axis after the channel axis, so numpy broadcasting puts C
   * on `axis` */
  int64_t bdims[KRT_MAX_RANK];
  int brank = rank - axis;
  bdims[0] = c;
  for (int i = 1; i < brank; i++) bdims[i] = 1;
  int w = 0, last = !scale && !center;
  KRT_TRY(emit_reshape(ctx, y, back, rank - 1, last ? NULL : "ungroup", &y));
  static const char *const names[2] = {"gamma", "beta"};
  for (int k = 0; k < 2; k++) {
    if (!(k ? center : scale)) continue;
    KRT_TRY(kl_expect_weight(ctx, w, names[k], 1, &c));
    int p_id;
    KRT_TRY(kl_const_copy(ctx, names[k], brank, bdims, ctx->weights[w].data, &p_id));
    w++;
    int final = k == 1 || !center;
    KRT_TRY(emit_binary(ctx, k ? IR_BINARY_ADD : IR_BINARY_MUL, y, p_id,
                        final ? NULL : "scale", &y));
  }
  *out = y;
  return NULL;
}

static const char *const unit_norm_keys[] = {"axis", NULL};

krt_status *kl_convert_unit_norm(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, unit_norm_keys));
  int x = ctx->inputs[0], axes[KRT_MAX_RANK], n_axes;
  KRT_TRY(read_axes(ctx, kl_value(ctx, x)->rank, axes, &n_axes));
  int sq, sum, inv, bound, y;
  KRT_TRY(emit_act(ctx, IR_ACT_SQUARE, x, "square", &sq));
  KRT_TRY(emit_reduce(ctx, IR_REDUCE_SUM, sq, axes, n_axes, 1, "sum", &sum));
  if (ctx->keras_major >= 3) { /* min(rsqrt(s), 1 / 1e-12) */
    KRT_TRY(emit_act(ctx, IR_ACT_RSQRT, sum, "rsqrt", &inv));
    KRT_TRY(const_scalar(ctx, "max_inverse_norm", (float)(1.0 / 1e-12), &bound));
    KRT_TRY(emit_binary(ctx, IR_BINARY_MIN, inv, bound, "bound", &inv));
  } else { /* rsqrt(max(s, 1e-12)) */
    KRT_TRY(const_scalar(ctx, "epsilon", 1e-12f, &bound));
    KRT_TRY(emit_binary(ctx, IR_BINARY_MAX, sum, bound, "bound", &sum));
    KRT_TRY(emit_act(ctx, IR_ACT_RSQRT, sum, "rsqrt", &inv));
  }
  KRT_TRY(emit_binary(ctx, IR_BINARY_MUL, x, inv, NULL, &y));
  *out = y;
  return NULL;
}

static const char *const rms_norm_keys[] = {"axis", "epsilon", NULL};

krt_status *kl_convert_rms_norm(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, rms_norm_keys));
  int x = ctx->inputs[0], axes[KRT_MAX_RANK], n_axes;
  const ir_value *xv = kl_value(ctx, x);
  KRT_TRY(read_axes(ctx, xv->rank, axes, &n_axes));
  double epsilon;
  KRT_TRY(kc_float(ctx, NULL, "epsilon", 1e-6, &epsilon));
  KRT_TRY(kl_expect_weights(ctx, 1, 1));
  const keras_array *scale = &ctx->weights[0];
  int64_t want = 1;
  for (int i = 0; i < n_axes; i++) {
    if (xv->dims[axes[i]] < 0)
      return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): axis %d has an unknown size",
                       ctx->file, ctx->layer_name, ctx->class_name, axes[i]);
    want *= xv->dims[axes[i]];
  }
  if (!scale->data || scale->rank < 1 || weight_elements(scale) != want)
    return kl_bad_file(ctx, "weight scale ('%s') has %lld values, expected %lld",
                       scale->name ? scale->name : "?", (long long)weight_elements(scale),
                       (long long)want);
  int sq, mean, eps, inv, y, s_id;
  KRT_TRY(emit_act(ctx, IR_ACT_SQUARE, x, "square", &sq));
  KRT_TRY(emit_reduce(ctx, IR_REDUCE_MEAN, sq, axes, n_axes, 1, "mean", &mean));
  KRT_TRY(const_scalar(ctx, "epsilon", (float)epsilon, &eps));
  KRT_TRY(emit_binary(ctx, IR_BINARY_ADD, mean, eps, "add_epsilon", &mean));
  KRT_TRY(emit_act(ctx, IR_ACT_RSQRT, mean, "rsqrt", &inv));
  KRT_TRY(emit_binary(ctx, IR_BINARY_MUL, x, inv, "normalize", &y));
  KRT_TRY(kl_const_copy(ctx, "scale", scale->rank, scale->dims, scale->data, &s_id));
  KRT_TRY(emit_binary(ctx, IR_BINARY_MUL, y, s_id, NULL, &y));
  *out = y;
  return NULL;
}

/* ---- reshaping ----------------------------------------------------------------------------- */

static const char *const repeat_vector_keys[] = {"n", NULL};

krt_status *kl_convert_repeat_vector(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, repeat_vector_keys));
  int x = ctx->inputs[0], n;
  KRT_TRY(kl_expect_rank(ctx, x, 2, 2));
  KRT_TRY(known_sample_dims(ctx, x));
  KRT_TRY(kc_int(ctx, NULL, "n", 1, &n));
  if (n < 1) return kl_bad_file(ctx, "option n=%d is not positive", n);
  int64_t dims[2] = {1, kl_value(ctx, x)->dims[1]}, odims[2] = {n, 1};
  int y, ones;
  KRT_TRY(emit_reshape(ctx, x, dims, 2, "one_step", &y));
  float *data = malloc((size_t)n * sizeof *data);
  if (!data) return krt_error_oom("repeat constant");
  for (int i = 0; i < n; i++) data[i] = 1.0f;
  KRT_TRY(kl_const(ctx, "ones", 2, odims, data, &ones));
  return emit_binary(ctx, IR_BINARY_MUL, y, ones, NULL, out);
}

/* ---- image preprocessing ------------------------------------------------------------------- */

/* The height and width axes of a rank-4 image batch. */
static void image_axes(int channels_first, int *h_axis, int *w_axis) {
  *h_axis = channels_first ? 2 : 1;
  *w_axis = channels_first ? 3 : 2;
}

static krt_status *emit_crop(const keras_layer_ctx *ctx, int x, int h_axis, int w_axis,
                             int64_t h0, int64_t h, int64_t w0, int64_t w, const char *part,
                             int *out) {
  const ir_value *xv = kl_value(ctx, x);
  if (h0 == 0 && w0 == 0 && h == xv->dims[h_axis] && w == xv->dims[w_axis]) {
    *out = x;
    return NULL;
  }
  ir_attrs a = kl_attrs();
  for (int k = 0; k < xv->rank; k++) a.end[k] = xv->dims[k]; /* the batch axis: ignored */
  a.begin[h_axis] = h0, a.end[h_axis] = h0 + h;
  a.begin[w_axis] = w0, a.end[w_axis] = w0 + w;
  return kl_emit(ctx, IR_OP_SLICE, part, &x, 1, &a, out);
}

static const char *const center_crop_keys[] = {"height", "width", "data_format", NULL};

/* Called from the multi-layer table with the `training` keyword its own: Keras 3 records
 * training=True for this preprocessing layer in a functional model, and the crop or resize is
 * the same in training as at inference, in Keras 3 and in tf_keras. */
krt_status *kl_convert_center_crop(const keras_layer_ctx *ctx, int variant, int *outputs,
                          int *n_outputs) {
  (void)variant;
  *n_outputs = 1;
  int *out = &outputs[0];
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, center_crop_keys));
  int x = ctx->inputs[0], height, width, channels_first, h_axis, w_axis;
  KRT_TRY(kl_expect_rank(ctx, x, 4, 4));
  KRT_TRY(known_sample_dims(ctx, x));
  KRT_TRY(kc_int(ctx, NULL, "height", 0, &height));
  KRT_TRY(kc_int(ctx, NULL, "width", 0, &width));
  if (height < 1 || width < 1)
    return kl_bad_file(ctx, "options height=%d, width=%d must be positive", height, width);
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  image_axes(channels_first, &h_axis, &w_axis);
  const ir_value *xv = kl_value(ctx, x);
  int64_t in_h = xv->dims[h_axis], in_w = xv->dims[w_axis];
  if (in_h < height || in_w < width)
    return kl_unsupported(ctx,
                          "an input of %lldx%lld smaller than the crop %dx%d is not supported "
                          "(Keras then resizes it with smart_resize)",
                          (long long)in_h, (long long)in_w, height, width);
  int y;
  KRT_TRY(emit_crop(ctx, x, h_axis, w_axis, (in_h - height) / 2, height, (in_w - width) / 2, width,
                    NULL, &y));
  if (y == x) return kl_convert_identity(ctx, 0, out);
  *out = y;
  return NULL;
}

static const char *const resizing_keys[] = {
    "height",    "width",      "interpolation", "crop_to_aspect_ratio", "pad_to_aspect_ratio",
    "fill_mode", "fill_value", "antialias",     "data_format",          NULL};

/* int(float32(a * b) / c), as Keras's TensorFlow backend computes its crop and pad sizes. */
static int64_t tf_ratio(int64_t a, int64_t b, int64_t c) {
  return (int64_t)((float)(a * b) / (float)c);
}

/* Called from the multi-layer table with the `training` keyword its own: Keras 3 records
 * training=True for this preprocessing layer in a functional model, and the crop or resize is
 * the same in training as at inference, in Keras 3 and in tf_keras. */
krt_status *kl_convert_resizing(const keras_layer_ctx *ctx, int variant, int *outputs,
                          int *n_outputs) {
  (void)variant;
  *n_outputs = 1;
  int *out = &outputs[0];
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, resizing_keys));
  int x = ctx->inputs[0], height, width, crop, pad, antialias, channels_first, h_axis, w_axis;
  KRT_TRY(kl_expect_rank(ctx, x, 4, 4));
  KRT_TRY(known_sample_dims(ctx, x));
  KRT_TRY(kc_int(ctx, NULL, "height", 0, &height));
  KRT_TRY(kc_int(ctx, NULL, "width", 0, &width));
  if (height < 1 || width < 1)
    return kl_bad_file(ctx, "options height=%d, width=%d must be positive", height, width);
  const char *interp, *fill_mode;
  double fill_value;
  KRT_TRY(kc_string(ctx, NULL, "interpolation", "bilinear", &interp));
  KRT_TRY(kc_bool(ctx, NULL, "crop_to_aspect_ratio", 0, &crop));
  KRT_TRY(kc_bool(ctx, NULL, "pad_to_aspect_ratio", 0, &pad));
  KRT_TRY(kc_string(ctx, NULL, "fill_mode", "constant", &fill_mode));
  KRT_TRY(kc_float(ctx, NULL, "fill_value", 0.0, &fill_value));
  KRT_TRY(kc_bool(ctx, NULL, "antialias", 0, &antialias));
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  ir_attrs a = kl_attrs();
  if (strcmp(interp, "nearest") == 0) a.resize = IR_RESIZE_NEAREST;
  else if (strcmp(interp, "bilinear") == 0) a.resize = IR_RESIZE_BILINEAR;
  else
    return kl_unsupported(ctx, "option interpolation='%s' is not supported (nearest and "
                               "bilinear are)", interp);
  if (crop && pad)
    return kl_bad_file(ctx, "options crop_to_aspect_ratio and pad_to_aspect_ratio are both true");
  image_axes(channels_first, &h_axis, &w_axis);
  const ir_value *xv = kl_value(ctx, x);
  int64_t in_h = xv->dims[h_axis], in_w = xv->dims[w_axis];
  int y = x;
  if (crop) {
    int64_t ch = tf_ratio(in_w, height, width), cw = tf_ratio(in_h, width, height);
    ch = ch < in_h ? ch : in_h;
    cw = cw < in_w ? cw : in_w;
    ch = ch > 1 ? ch : 1;
    cw = cw > 1 ? cw : 1;
    int64_t h0 = (int64_t)((float)(in_h - ch) / 2), w0 = (int64_t)((float)(in_w - cw) / 2);
    KRT_TRY(emit_crop(ctx, y, h_axis, w_axis, h0, ch, w0, cw, "crop", &y));
    in_h = ch, in_w = cw;
  } else if (pad) {
    if (strcmp(fill_mode, "constant") != 0)
      return kl_unsupported(ctx, "option fill_mode='%s' is not supported", fill_mode);
    if (fill_value != 0.0)
      return kl_unsupported(ctx, "option fill_value=%g is not supported (krt pads with zeros)",
                            fill_value);
    int64_t ph = tf_ratio(in_w, height, width), pw = tf_ratio(in_h, width, height);
    ph = ph > in_h ? ph : in_h;
    pw = pw > in_w ? pw : in_w;
    /* Keras puts the same margin (pad - in) / 2 on both sides */
    int64_t mh = (int64_t)((float)(ph - in_h) / 2), mw = (int64_t)((float)(pw - in_w) / 2);
    if (mh > 0 || mw > 0) {
      ir_attrs p = kl_attrs();
      p.pad_begin[h_axis] = p.pad_end[h_axis] = mh;
      p.pad_begin[w_axis] = p.pad_end[w_axis] = mw;
      KRT_TRY(kl_emit(ctx, IR_OP_PAD, "pad", &y, 1, &p, &y));
      in_h += 2 * mh, in_w += 2 * mw;
    }
  }
  int64_t in_hw[2] = {in_h, in_w}, out_hw[2] = {height, width};
  int up[2] = {1, 1}, down[2] = {1, 1}, any_up = 0, any_down = 0;
  for (int i = 0; i < 2; i++) {
    if (out_hw[i] % in_hw[i] == 0) up[i] = (int)(out_hw[i] / in_hw[i]);
    else if (in_hw[i] % out_hw[i] == 0) down[i] = (int)(in_hw[i] / out_hw[i]);
    else
      return kl_unsupported(ctx,
                            "resizing %lldx%lld to %dx%d is not supported: krt resizes by "
                            "whole-number factors only (up or down)",
                            (long long)in_h, (long long)in_w, height, width);
    any_up |= up[i] > 1;
    any_down |= down[i] > 1;
  }
  if (any_down && antialias)
    return kl_unsupported(ctx, "option antialias=True when downsampling (%lldx%lld to %dx%d) is "
                               "not supported", (long long)in_h, (long long)in_w, height, width);
  if (!any_up && !any_down) {
    if (y == x) return kl_convert_identity(ctx, 0, out);
    *out = y;
    return NULL;
  }
  if (channels_first) KRT_TRY(kl_to_channels_last(ctx, y, &y));
  if (any_down) {
    /* TF's half-pixel sampling by a whole factor d reads, for output o, source (o + 0.5) * d:
     * nearest takes pixel o*d + d/2 (rounded down); bilinear, at o*d + (d - 1)/2, takes that
     * pixel for odd d and the mean of pixels o*d + d/2 - 1 and o*d + d/2 for even d. So: a Slice
     * dropping the first offset pixels, then a Pool of window 1 (or 2) and stride d. */
    ir_attrs sl = kl_attrs(), pool = kl_attrs();
    const ir_value *yv = kl_value(ctx, y);
    for (int k = 0; k < yv->rank; k++) sl.end[k] = yv->dims[k];
    pool.pool = IR_POOL_AVG;
    pool.spatial = 2;
    int offset = 0;
    for (int i = 0; i < 2; i++) {
      int d = down[i], even = a.resize == IR_RESIZE_BILINEAR && d % 2 == 0;
      sl.begin[1 + i] = even ? d / 2 - 1 : d / 2;
      offset |= sl.begin[1 + i] != 0;
      pool.kernel[i] = even ? 2 : 1;
      pool.stride[i] = d;
    }
    if (offset) KRT_TRY(kl_emit(ctx, IR_OP_SLICE, "sample_offset", &y, 1, &sl, &y));
    KRT_TRY(kl_emit(ctx, IR_OP_POOL, any_up || channels_first ? "downsample" : NULL, &y, 1,
                    &pool, &y));
  }
  if (any_up) {
    a.spatial = 2;
    a.scale[0] = up[0];
    a.scale[1] = up[1];
    KRT_TRY(kl_emit(ctx, IR_OP_RESIZE, channels_first ? "resize" : NULL, &y, 1, &a, &y));
  }
  if (channels_first) KRT_TRY(kl_to_channels_first(ctx, y, &y));
  *out = y;
  return NULL;
}

/* ---- categorical ----------------------------------------------------------------------------- */

enum { ENCODE_ONE_HOT, ENCODE_MULTI_HOT, ENCODE_COUNT };

static krt_status *encode_mode(const keras_layer_ctx *ctx, const char *mode, int *out) {
  if (strcmp(mode, "one_hot") == 0) *out = ENCODE_ONE_HOT;
  else if (strcmp(mode, "multi_hot") == 0 || strcmp(mode, "binary") == 0) *out = ENCODE_MULTI_HOT;
  else if (strcmp(mode, "count") == 0) *out = ENCODE_COUNT;
  else return kl_unsupported(ctx, "option output_mode='%s' is not supported", mode);
  return NULL;
}

/* idx (integer-valued floats) -> one_hot [..., V] (a trailing axis of 1 replaced, as Keras
 * does), or multi_hot / count over idx[N, k] -> [N, V]. An index outside [0, V) matches no
 * token (its one-hot row is zero, as tf.one_hot gives). */
static krt_status *encode_tokens(const keras_layer_ctx *ctx, int idx, int64_t v, int mode,
                                 int *out) {
  const ir_value *xv = kl_value(ctx, idx);
  int rank = xv->rank;
  if (mode != ENCODE_ONE_HOT && rank != 2)
    return kl_unsupported(ctx, "output_mode %s over an input of rank %d is not supported (only "
                               "[batch, tokens]: over more axes Keras reduces axis 1, not the "
                               "token axis its declared output shape drops)",
                          mode == ENCODE_COUNT ? "count" : "multi_hot", rank);
  int x = idx;
  if (rank < 2 || xv->dims[rank - 1] != 1 || mode != ENCODE_ONE_HOT) {
    if (rank + 1 > KRT_MAX_RANK)
      return kl_unsupported(ctx, "an input of rank %d is not supported", rank);
    int64_t dims[KRT_MAX_RANK];
    for (int i = 1; i < rank; i++) dims[i - 1] = xv->dims[i];
    dims[rank - 1] = 1;
    KRT_TRY(emit_reshape(ctx, x, dims, rank, "tokens", &x));
  }
  float *iota = malloc((size_t)v * sizeof *iota);
  if (!iota) return krt_error_oom("token ids");
  for (int64_t i = 0; i < v; i++) iota[i] = (float)i;
  int ids, y;
  KRT_TRY(kl_const(ctx, "token_ids", 1, &v, iota, &ids));
  if (mode == ENCODE_ONE_HOT) return emit_binary(ctx, IR_BINARY_EQUAL, x, ids, NULL, out);
  KRT_TRY(emit_binary(ctx, IR_BINARY_EQUAL, x, ids, "one_hot", &y));
  int axis = 1;
  return emit_reduce(ctx, mode == ENCODE_COUNT ? IR_REDUCE_SUM : IR_REDUCE_MAX, y, &axis, 1, 0,
                     NULL, out);
}

static const char *const category_keys[] = {"num_tokens", "output_mode", "sparse", NULL};

krt_status *kl_convert_category_encoding(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  if (ctx->n_inputs == 2)
    return kl_unsupported(ctx, "the call passes count_weights, which is not supported");
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, category_keys));
  int num_tokens, sparse, mode;
  const char *mode_name;
  if (!kc_has(ctx, "num_tokens")) return kl_bad_file(ctx, "option num_tokens is missing");
  KRT_TRY(kc_int(ctx, NULL, "num_tokens", 0, &num_tokens));
  if (num_tokens < 1) return kl_bad_file(ctx, "option num_tokens=%d is not positive", num_tokens);
  KRT_TRY(kc_string(ctx, NULL, "output_mode", "multi_hot", &mode_name));
  KRT_TRY(kc_bool(ctx, NULL, "sparse", 0, &sparse));
  if (sparse) return kl_unsupported(ctx, "option sparse=True is not supported");
  KRT_TRY(encode_mode(ctx, mode_name, &mode));
  KRT_TRY(known_sample_dims(ctx, ctx->inputs[0]));
  return encode_tokens(ctx, ctx->inputs[0], num_tokens, mode, out);
}

static const char *const discretization_keys[] = {"bin_boundaries", "num_bins", "epsilon",
                                                  "output_mode", "sparse", NULL};

krt_status *kl_convert_discretization(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, discretization_keys));
  const cJSON *bounds = kc_get(ctx, NULL, "bin_boundaries");
  if (!bounds)
    return kl_unsupported(ctx, "option bin_boundaries is missing: the layer's boundaries come "
                               "from adapt() and the file does not hold them");
  if (!cJSON_IsArray(bounds)) return kl_bad_file(ctx, "option bin_boundaries is not a list");
  int64_t n = cJSON_GetArraySize(bounds);
  if (n < 1) return kl_unsupported(ctx, "option bin_boundaries=[] is not supported");
  const char *mode_name;
  int sparse, mode = -1;
  KRT_TRY(kc_string(ctx, NULL, "output_mode", "int", &mode_name));
  KRT_TRY(kc_bool(ctx, NULL, "sparse", 0, &sparse));
  if (sparse) return kl_unsupported(ctx, "option sparse=True is not supported");
  if (strcmp(mode_name, "int") != 0) KRT_TRY(encode_mode(ctx, mode_name, &mode));
  float *b = malloc((size_t)n * sizeof *b);
  if (!b) return krt_error_oom("bin boundaries");
  const cJSON *item;
  int64_t i = 0;
  cJSON_ArrayForEach(item, bounds) {
    if (!cJSON_IsNumber(item) || (i > 0 && (float)item->valuedouble < b[i - 1])) {
      free(b);
      return kl_bad_file(ctx, "option bin_boundaries must be a sorted list of numbers (entry "
                              "%lld)", (long long)i);
    }
    b[i++] = (float)item->valuedouble;
  }
  int x = ctx->inputs[0], bid, y;
  KRT_TRY(known_sample_dims(ctx, x));
  const ir_value *xv = kl_value(ctx, x);
  if (xv->rank + 1 > KRT_MAX_RANK) {
    free(b);
    return kl_unsupported(ctx, "an input of rank %d is not supported", xv->rank);
  }
  /* x[N, ...] -> [N, ..., 1] >= b[B] -> [N, ..., B], summed over the last axis: the count of
   * boundaries at or below x, numpy digitize's index */
  int64_t dims[KRT_MAX_RANK];
  for (int k = 1; k < xv->rank; k++) dims[k - 1] = xv->dims[k];
  dims[xv->rank - 1] = 1;
  int rank = xv->rank;
  krt_status *s = kl_const(ctx, "bin_boundaries", 1, &n, b, &bid);
  if (s) return s;
  KRT_TRY(emit_reshape(ctx, x, dims, rank, "values", &y));
  KRT_TRY(emit_binary(ctx, IR_BINARY_GREATER_EQUAL, y, bid, "above", &y));
  int axis = rank;
  KRT_TRY(emit_reduce(ctx, IR_REDUCE_SUM, y, &axis, 1, 0, mode < 0 ? NULL : "bucket", &y));
  if (mode < 0) {
    *out = y;
    return NULL;
  }
  return encode_tokens(ctx, y, n + 1, mode, out);
}

/* ---- TimeDistributed ----------------------------------------------------------------------- */

static const char *const time_distributed_keys[] = {"layer", NULL};

/* Inner layers that compute on x[N, T, ...] what they compute on every x[:, t]: Dense works on
 * the last axis whatever the rank, the others are the identity at inference. They take the
 * whole sequence in one node. */
static const char *const whole_sequence_classes[] = {
    "Dense", "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "Identity", NULL};

typedef struct inner_layer {
  keras_layer_ctx ctx;
  keras_array *weights; /* ctx's weights renamed as the inner layer names them */
  char class_name[160]; /* "TimeDistributed(Conv2D)", for messages */
  char layer_name[256]; /* "<wrapper>/<inner>" */
} inner_layer;

static krt_status *inner_layer_open(const keras_layer_ctx *ctx, const cJSON *spec,
                                    inner_layer *in) {
  const cJSON *cls = cJSON_GetObjectItemCaseSensitive(spec, "class_name");
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(spec, "config");
  const cJSON *module = cJSON_GetObjectItemCaseSensitive(spec, "module");
  const cJSON *registered = cJSON_GetObjectItemCaseSensitive(spec, "registered_name");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
  snprintf(in->class_name, sizeof in->class_name, "%s(%s)", ctx->class_name, cls->valuestring);
  snprintf(in->layer_name, sizeof in->layer_name, "%s/%s", ctx->layer_name,
           cJSON_IsString(name) ? name->valuestring : "layer");
  /* the container names the inner layer's weights "layer/...", after the wrapper's attribute */
  in->weights = calloc((size_t)ctx->n_weights + 1, sizeof *in->weights);
  if (!in->weights) return krt_error_oom("inner layer weights");
  for (int i = 0; i < ctx->n_weights; i++) {
    in->weights[i] = ctx->weights[i];
    if (in->weights[i].name && strncmp(in->weights[i].name, "layer/", 6) == 0)
      in->weights[i].name += 6;
  }
  in->ctx = *ctx;
  in->ctx.class_name = cls->valuestring;
  in->ctx.layer_name = in->layer_name;
  in->ctx.config = cfg;
  in->ctx.module = cJSON_IsString(module) ? module->valuestring : NULL;
  in->ctx.registered_name = cJSON_IsString(registered) ? registered->valuestring : NULL;
  in->ctx.call = NULL; /* the wrapper's call was checked; the inner layer has none of its own */
  in->ctx.weights = in->weights;
  in->ctx.n_inputs = 1;
  return NULL;
}

/* The inner layer called once on x (call_index: the constants of an earlier call with a lower
 * index are reused); its one output, batched. */
static krt_status *inner_layer_call(const keras_layer_ctx *ctx, inner_layer *in, int x,
                                    int call_index, int *out) {
  in->ctx.inputs = &x;
  in->ctx.call_index = call_index;
  int outs[KERAS_MAX_OP_OUTPUTS], n_outs = 1;
  krt_status *s = keras_convert_layer_outputs(&in->ctx, outs, &n_outs);
  if (s)
    return krt_error_wrap(s, "%s: layer '%s' (%s): the inner layer: ", ctx->file,
                          ctx->layer_name, in->class_name);
  if (n_outs != 1)
    return kl_unsupported(ctx, "option layer: the inner layer %s returns %d tensors; a "
                               "TimeDistributed around it is not supported",
                          in->ctx.class_name, n_outs);
  const ir_value *yv = kl_value(ctx, outs[0]);
  if (!yv->batched || ir_value_sample_elements(yv) < 0)
    return kl_unsupported(ctx, "option layer: the inner layer %s gives a value without the "
                               "batch or of unknown size", in->ctx.class_name);
  *out = outs[0];
  return NULL;
}

/* Step by step: x[:, t] -> inner -> [N, 1, ...'] for each t, concatenated on axis 1. */
static krt_status *time_distributed_steps(const keras_layer_ctx *ctx, inner_layer *in, int x,
                                          int64_t steps, int *pieces, int *out) {
  const ir_value *xv = kl_value(ctx, x);
  int rank = xv->rank;
  int64_t step_dims[KRT_MAX_RANK];
  for (int k = 2; k < rank; k++) step_dims[k - 2] = xv->dims[k];
  for (int64_t t = 0; t < steps; t++) {
    ir_attrs a = kl_attrs();
    for (int k = 0; k < rank; k++) a.end[k] = kl_value(ctx, x)->dims[k];
    a.begin[1] = t, a.end[1] = t + 1;
    int step, y;
    KRT_TRY(kl_emit(ctx, IR_OP_SLICE, "step", &x, 1, &a, &step));
    KRT_TRY(emit_reshape(ctx, step, step_dims, rank - 2, "step", &step));
    /* later steps reuse the constants (weights) the first step made, as a shared layer's later
     * calls do */
    KRT_TRY(inner_layer_call(ctx, in, step, ctx->call_index + (int)t, &y));
    const ir_value *yv = kl_value(ctx, y);
    if (yv->rank + 1 > KRT_MAX_RANK)
      return kl_unsupported(ctx, "the inner layer's output of rank %d is not supported",
                            yv->rank);
    int64_t odims[KRT_MAX_RANK];
    odims[0] = 1;
    for (int k = 1; k < yv->rank; k++) odims[k] = yv->dims[k];
    KRT_TRY(emit_reshape(ctx, y, odims, yv->rank, steps == 1 ? NULL : "unstep", &pieces[t]));
  }
  if (steps == 1) {
    *out = pieces[0];
    return NULL;
  }
  ir_attrs a = kl_attrs();
  a.axis = 1;
  return kl_emit(ctx, IR_OP_CONCAT, NULL, pieces, (int)steps, &a, out);
}

krt_status *kl_convert_time_distributed(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  KRT_TRY(kc_refuse_unknown_keys(ctx, time_distributed_keys));
  const cJSON *spec = kc_get(ctx, NULL, "layer");
  const cJSON *cls = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "class_name")
                                          : NULL;
  const cJSON *cfg = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "config") : NULL;
  if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg))
    return kl_bad_file(ctx, "option layer is not a layer {class_name, config}");
  if (keras_is_model_class(cls->valuestring))
    return kl_unsupported(ctx, "option layer: a TimeDistributed around a nested model (%s) is "
                               "not supported", cls->valuestring);
  int x = ctx->inputs[0];
  KRT_TRY(kl_expect_rank(ctx, x, 3, KRT_MAX_RANK));
  const ir_value *xv = kl_value(ctx, x);
  if (!xv->batched) return kl_unsupported(ctx, "an input without a batch axis is not supported");
  int64_t steps = xv->dims[1];
  if (steps < 1)
    return kl_unsupported(ctx, "an input whose time axis (axis 1) has no fixed size is not "
                               "supported");
  inner_layer in;
  KRT_TRY(inner_layer_open(ctx, spec, &in));
  int whole = 0;
  for (int i = 0; whole_sequence_classes[i]; i++)
    whole |= strcmp(whole_sequence_classes[i], cls->valuestring) == 0;
  krt_status *s = NULL;
  if (whole) {
    s = inner_layer_call(ctx, &in, x, ctx->call_index, out);
  } else {
    int *pieces = malloc((size_t)steps * sizeof *pieces);
    s = pieces ? time_distributed_steps(ctx, &in, x, steps, pieces, out)
               : krt_error_oom("time steps");
    free(pieces);
  }
  free(in.weights);
  return s;
}
