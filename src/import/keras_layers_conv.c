/* Convolutions: Conv1D/2D/3D (Keras 1 Convolution1D/2D, AtrousConvolution1D/2D),
 * DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1D/2D/3DTranspose.
 *
 * IR convs are channels-last with kernels [k..., Cin/groups, Cout] (transposed convs
 * [k..., Cout, Cin]), as Keras 2/3 save them. channels_first layers get a Transpose to
 * channels-last before and back after; a later pass cancels back-to-back transposes.
 *
 * Kernel layouts in files:
 *   Keras 2/3                 [k..., Cin/groups, Cout]
 *   Keras 1 Convolution2D     dim_ordering 'tf': (rows, cols, Cin, Cout); 'th': (Cout, Cin, rows, cols)
 *   Keras 1 Convolution1D     1.2: (k, 1, Cin, Cout), run as a 2-D conv over (k, 1); 1.1: (Cout, Cin, k, 1)
 * Theano computes a true convolution (kernel flipped along every spatial axis) where TensorFlow
 * correlates; kernels trained under Theano are flipped here (see kc_theano_kernels), as Keras's
 * own convert_kernel does when it loads a Theano file under TensorFlow.
 */
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

typedef struct conv_opts {
  int spatial;
  int filters;
  int kernel[3], stride[3], dilation[3];
  int groups, depth_multiplier, use_bias, channels_first;
  int output_padding[3], has_output_padding;
  kc_padding padding;
  kc_activation act;
} conv_opts;

/* Reads the options every conv layer shares, in Keras 1, 2 and 3 spellings. */
static krt_status *read_conv_opts(const keras_layer_ctx *ctx, int spatial, int allowed_padding,
                                  conv_opts *o) {
  memset(o, 0, sizeof *o);
  o->spatial = spatial;
  KRT_TRY(kc_int(ctx, NULL, kc_has(ctx, "filters") ? "filters" : "nb_filter", -1, &o->filters));
  if (kc_has(ctx, "kernel_size")) {
    KRT_TRY(kc_int_tuple(ctx, NULL, "kernel_size", spatial, 1, o->kernel));
  } else if (spatial == 2 && kc_has(ctx, "nb_row")) {
    KRT_TRY(kc_int(ctx, NULL, "nb_row", 1, &o->kernel[0]));
    KRT_TRY(kc_int(ctx, NULL, "nb_col", 1, &o->kernel[1]));
  } else if (spatial == 1 && kc_has(ctx, "filter_length")) {
    KRT_TRY(kc_int(ctx, NULL, "filter_length", 1, &o->kernel[0]));
  } else {
    return kl_bad_file(ctx, "option kernel_size is missing");
  }
  if (kc_has(ctx, "strides") || spatial == 3)
    KRT_TRY(kc_int_tuple(ctx, NULL, "strides", spatial, 1, o->stride));
  else if (spatial == 2) KRT_TRY(kc_int_tuple(ctx, NULL, "subsample", 2, 1, o->stride));
  else KRT_TRY(kc_int_tuple(ctx, NULL, "subsample_length", 1, 1, o->stride));
  KRT_TRY(kc_int_tuple(ctx, NULL, kc_has(ctx, "dilation_rate") ? "dilation_rate" : "atrous_rate",
                       spatial, 1, o->dilation));
  KRT_TRY(kc_int(ctx, NULL, "groups", 1, &o->groups));
  KRT_TRY(kc_int(ctx, NULL, "depth_multiplier", 1, &o->depth_multiplier));
  KRT_TRY(kc_bool(ctx, NULL, kc_has(ctx, "use_bias") ? "use_bias" : "bias", 1, &o->use_bias));
  KRT_TRY(kc_channels_first(ctx, &o->channels_first));
  KRT_TRY(kc_padding_mode(ctx, allowed_padding, &o->padding));
  KRT_TRY(kc_activation_option(ctx, &o->act));
  for (int i = 0; i < spatial; i++)
    if (o->kernel[i] < 1 || o->stride[i] < 1 || o->dilation[i] < 1)
      return kl_bad_file(ctx, "kernel_size, strides and dilation_rate must be positive");
  if (o->groups < 1 || o->depth_multiplier < 1)
    return kl_bad_file(ctx, "groups and depth_multiplier must be positive");
  const cJSON *op = kc_get(ctx, NULL, "output_padding");
  if (op) {
    o->has_output_padding = 1;
    KRT_TRY(kc_int_tuple(ctx, NULL, "output_padding", spatial, 0, o->output_padding));
  }
  if (kc_get(ctx, NULL, "quantization_config"))
    return kl_unsupported(ctx, "option quantization_config is not supported");
  return NULL;
}

/* Copies weight i into IR layout [k..., a, b], undoing the Keras 1 layouts and Theano's flip.
 * a, b: the expected last two dims (-1: any). */
static krt_status *load_kernel(const keras_layer_ctx *ctx, const conv_opts *o, int i,
                               const char *what, int64_t a, int64_t b, int64_t *dims, float **out) {
  if (i >= ctx->n_weights) return kl_bad_file(ctx, "weight %s is missing", what);
  const keras_array *w = &ctx->weights[i];
  int s = o->spatial, rank = s + 2;
  int64_t want[5];
  for (int d = 0; d < s; d++) want[d] = o->kernel[d];
  want[s] = a;
  want[s + 1] = b;
  int64_t n = 1;
  for (int d = 0; d < w->rank; d++) n *= w->dims[d];
  float *k = malloc((size_t)(n ? n : 1) * sizeof *k);
  if (!k) return krt_error_oom("kernel");
  int keras1_th = ctx->keras_major == 1 && s == 2 && w->rank == 4 && kc_has(ctx, "nb_filter") &&
                  o->channels_first;
  if (keras1_th) {
    /* (Cout, Cin, rows, cols) -> (rows, cols, Cin, Cout) */
    int64_t co = w->dims[0], ci = w->dims[1], kh = w->dims[2], kw = w->dims[3];
    for (int64_t p = 0; p < co; p++)
      for (int64_t q = 0; q < ci; q++)
        for (int64_t r = 0; r < kh; r++)
          for (int64_t c = 0; c < kw; c++)
            k[((r * kw + c) * ci + q) * co + p] = w->data[((p * ci + q) * kh + r) * kw + c];
    dims[0] = kh, dims[1] = kw, dims[2] = ci, dims[3] = co;
  } else if (s == 1 && w->rank == 4 && w->dims[0] == o->kernel[0] && w->dims[1] == 1) {
    /* Keras 1.2 Convolution1D: (k, 1, Cin, Cout) holds the same data as (k, Cin, Cout). */
    memcpy(k, w->data, (size_t)n * sizeof *k);
    dims[0] = w->dims[0], dims[1] = w->dims[2], dims[2] = w->dims[3];
  } else if (s == 1 && w->rank == 4 && w->dims[2] == o->kernel[0] && w->dims[3] == 1) {
    /* Keras 1.1 Convolution1D: (Cout, Cin, k, 1) -> (k, Cin, Cout) (Keras 2's loader does the
     * same transpose). */
    int64_t co = w->dims[0], ci = w->dims[1], kl = w->dims[2];
    for (int64_t p = 0; p < co; p++)
      for (int64_t q = 0; q < ci; q++)
        for (int64_t t = 0; t < kl; t++) k[(t * ci + q) * co + p] = w->data[(p * ci + q) * kl + t];
    dims[0] = kl, dims[1] = ci, dims[2] = co;
  } else if (w->rank == rank) {
    memcpy(k, w->data, (size_t)n * sizeof *k);
    memcpy(dims, w->dims, (size_t)rank * sizeof *dims);
  } else {
    dims[0] = -2; /* forces the shape error below */
  }
  int bad = dims[0] == -2;
  for (int d = 0; d < rank && !bad; d++)
    if (want[d] >= 0 && dims[d] != want[d]) bad = 1;
  if (bad) {
    free(k);
    return kl_bad_file(ctx, "weight %s ('%s') has a shape that does not fit the layer's options "
                       "and input", what, w->name ? w->name : "?");
  }
  if (kc_theano_kernels(ctx)) {
    /* Flip every spatial axis: k[r, c, ...] <- k[kh-1-r, kw-1-c, ...]. With the taps in row-major
     * order, flipping every axis reverses the tap order: tap t swaps with tap taps-1-t. */
    int64_t inner = dims[s] * dims[s + 1], taps = 1;
    for (int d = 0; d < s; d++) taps *= dims[d];
    for (int64_t dst = 0; dst < taps / 2; dst++) {
      int64_t src = taps - 1 - dst;
      for (int64_t e = 0; e < inner; e++) {
        float t = k[dst * inner + e];
        k[dst * inner + e] = k[src * inner + e];
        k[src * inner + e] = t;
      }
    }
  }
  *out = k;
  return NULL;
}

/* Fills the spatial attributes of a forward conv (or pool) and its TF-style padding. x is
 * channels-last. */
static krt_status *conv_attrs(const keras_layer_ctx *ctx, const conv_opts *o, int x, ir_attrs *a) {
  const ir_value *xv = kl_value(ctx, x);
  a->spatial = o->spatial;
  for (int i = 0; i < o->spatial; i++) {
    a->kernel[i] = o->kernel[i];
    a->stride[i] = o->stride[i];
    a->dilation[i] = o->dilation[i];
    KRT_TRY(kc_conv_padding(ctx, o->padding, xv->dims[1 + i], o->kernel[i], o->stride[i],
                            o->dilation[i], &a->pad_begin[i], &a->pad_end[i]));
  }
  return NULL;
}

/* Channels of the input (channels-last x): dims[rank-1], or -1 when unknown. */
static int64_t input_channels(const keras_layer_ctx *ctx, int x) {
  const ir_value *v = kl_value(ctx, x);
  return v->dims[v->rank - 1];
}

static krt_status *load_bias(const keras_layer_ctx *ctx, int i, int64_t n, int *id) {
  KRT_TRY(kl_expect_weight(ctx, i, "bias", 1, &n));
  return kl_const_copy(ctx, "bias", 1, &n, ctx->weights[i].data, id);
}

/* Wraps the layer's main computation: to channels-last, `body`, back to channels-first, softmax. */
static krt_status *finish(const keras_layer_ctx *ctx, const conv_opts *o, int y, int *out) {
  if (o->channels_first) KRT_TRY(kl_to_channels_first(ctx, y, &y));
  return kl_apply_softmax(ctx, y, &o->act, out);
}

static krt_status *start(const keras_layer_ctx *ctx, const conv_opts *o, int *x) {
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  *x = ctx->inputs[0];
  KRT_TRY(kl_expect_rank(ctx, *x, o->spatial + 2, o->spatial + 2));
  if (o->channels_first) KRT_TRY(kl_to_channels_last(ctx, *x, x));
  return NULL;
}

krt_status *kl_convert_conv(const keras_layer_ctx *ctx, int spatial, int *out) {
  conv_opts o;
  int pads = KC_PAD_VALID | KC_PAD_SAME | (spatial == 1 ? KC_PAD_CAUSAL : 0) |
             (ctx->keras_major == 1 ? KC_PAD_FULL : 0);
  KRT_TRY(read_conv_opts(ctx, spatial, pads, &o));
  int x;
  KRT_TRY(start(ctx, &o, &x));
  int64_t cin = input_channels(ctx, x);
  if (cin >= 0 && cin % o.groups != 0)
    return kl_bad_file(ctx, "%lld input channels do not split into %d groups", (long long)cin, o.groups);
  KRT_TRY(kl_expect_weights(ctx, o.use_bias ? 2 : 1, o.use_bias ? 2 : 1));
  int64_t kdims[5];
  float *k = NULL;
  KRT_TRY(load_kernel(ctx, &o, 0, "kernel", cin >= 0 ? cin / o.groups : -1, o.filters, kdims, &k));
  int64_t cout = kdims[spatial + 1];
  int ins[3] = {x, -1, -1};
  KRT_TRY(kl_const(ctx, "kernel", spatial + 2, kdims, k, &ins[1]));
  if (o.use_bias) KRT_TRY(load_bias(ctx, 1, cout, &ins[2]));
  ir_attrs a = kl_attrs();
  KRT_TRY(conv_attrs(ctx, &o, x, &a));
  a.groups = o.groups;
  a.act = o.act.act;
  int y;
  KRT_TRY(kl_emit(ctx, IR_OP_CONV, NULL, ins, o.use_bias ? 3 : 2, &a, &y));
  return finish(ctx, &o, y, out);
}

/* Depthwise kernel [k..., Cin, mult] is an IR grouped conv with groups = Cin and kernel
 * [k..., 1, Cin*mult]: output channel c*mult + m reads input channel c, the same data order. */
static krt_status *depthwise_node(const keras_layer_ctx *ctx, const conv_opts *o, int x, int wi,
                                  int bias_i, const char *part, ir_activation act, int *y) {
  int64_t cin = input_channels(ctx, x);
  int64_t kdims[5];
  float *k = NULL;
  KRT_TRY(load_kernel(ctx, o, wi, "depthwise_kernel", cin, o->depth_multiplier, kdims, &k));
  int s = o->spatial;
  int64_t channels = kdims[s], mult = kdims[s + 1];
  kdims[s] = 1;
  kdims[s + 1] = channels * mult;
  int ins[3] = {x, -1, -1};
  KRT_TRY(kl_const(ctx, "depthwise_kernel", s + 2, kdims, k, &ins[1]));
  if (bias_i >= 0) KRT_TRY(load_bias(ctx, bias_i, channels * mult, &ins[2]));
  ir_attrs a = kl_attrs();
  KRT_TRY(conv_attrs(ctx, o, x, &a));
  a.groups = (int)channels;
  a.act = act;
  return kl_emit(ctx, IR_OP_CONV, part, ins, bias_i >= 0 ? 3 : 2, &a, y);
}

/* Keras never converted depthwise kernels between Theano and TensorFlow, and whether Theano's
 * depthwise op flipped them is not settled here: refuse rather than guess. */
static krt_status *refuse_theano_depthwise(const keras_layer_ctx *ctx) {
  if (kc_theano_kernels(ctx))
    return kl_unsupported(ctx, "depthwise kernels trained under Theano are not supported");
  return NULL;
}

krt_status *kl_convert_depthwise_conv(const keras_layer_ctx *ctx, int spatial, int *out) {
  conv_opts o;
  KRT_TRY(refuse_theano_depthwise(ctx));
  KRT_TRY(read_conv_opts(ctx, spatial, KC_PAD_VALID | KC_PAD_SAME, &o));
  int x, y;
  KRT_TRY(start(ctx, &o, &x));
  KRT_TRY(kl_expect_weights(ctx, o.use_bias ? 2 : 1, o.use_bias ? 2 : 1));
  KRT_TRY(depthwise_node(ctx, &o, x, 0, o.use_bias ? 1 : -1, NULL, o.act.act, &y));
  return finish(ctx, &o, y, out);
}

/* SeparableConv: the depthwise conv (strides, dilation and padding apply here; no bias), then a
 * 1x1 conv with pointwise_kernel [1..., Cin*mult, filters], the bias and the activation. */
krt_status *kl_convert_separable_conv(const keras_layer_ctx *ctx, int spatial, int *out) {
  conv_opts o;
  KRT_TRY(read_conv_opts(ctx, spatial, KC_PAD_VALID | KC_PAD_SAME | (spatial == 1 ? KC_PAD_CAUSAL : 0), &o));
  if (ctx->keras_major == 1) return kl_unsupported(ctx, "Keras 1 separable convolutions are not supported");
  KRT_TRY(refuse_theano_depthwise(ctx));
  int x, y;
  KRT_TRY(start(ctx, &o, &x));
  KRT_TRY(kl_expect_weights(ctx, o.use_bias ? 3 : 2, o.use_bias ? 3 : 2));
  KRT_TRY(depthwise_node(ctx, &o, x, 0, -1, "depthwise", ir_act_none(), &y));
  int64_t mid = input_channels(ctx, y);
  conv_opts pw = o;
  for (int i = 0; i < spatial; i++) pw.kernel[i] = pw.stride[i] = pw.dilation[i] = 1;
  pw.padding = KC_PAD_VALID;
  int64_t kdims[5];
  float *k = NULL;
  KRT_TRY(load_kernel(ctx, &pw, 1, "pointwise_kernel", mid, o.filters, kdims, &k));
  int ins[3] = {y, -1, -1};
  KRT_TRY(kl_const(ctx, "pointwise_kernel", spatial + 2, kdims, k, &ins[1]));
  if (o.use_bias) KRT_TRY(load_bias(ctx, 2, kdims[spatial + 1], &ins[2]));
  ir_attrs a = kl_attrs();
  KRT_TRY(conv_attrs(ctx, &pw, y, &a));
  a.groups = 1;
  a.act = o.act.act;
  KRT_TRY(kl_emit(ctx, IR_OP_CONV, NULL, ins, o.use_bias ? 3 : 2, &a, &y));
  return finish(ctx, &o, y, out);
}

/* Conv1D/2DTranspose. Keras's output length (deconv_output_length, both Keras 2 and 3), with
 * K = d*(k-1) + 1:  valid: (in-1)*s + K + (output_padding, or max(K, s) - K when None)
 *                   same:  in*s when output_padding is None, else (in-1)*s + K%2 + output_padding.
 * TensorFlow computes it as the gradient of a forward conv over an input of that length with the
 * same padding, so pad_begin is that forward conv's TF "SAME" begin padding (0 for valid):
 * total = max((ceil(out/s) - 1)*s + K - out, 0) with ceil(out/s) = in, begin = total/2. The IR's
 * full length is F = (in-1)*s + K, so pad_end = F - pad_begin - out (negative: zeros appended).
 * None of these depend on `in`. */
krt_status *kl_convert_conv_transpose(const keras_layer_ctx *ctx, int spatial, int *out) {
  conv_opts o;
  KRT_TRY(read_conv_opts(ctx, spatial, KC_PAD_VALID | KC_PAD_SAME, &o));
  if (o.groups != 1) return kl_unsupported(ctx, "option groups=%d is not supported", o.groups);
  int x, y;
  KRT_TRY(start(ctx, &o, &x));
  KRT_TRY(kl_expect_weights(ctx, o.use_bias ? 2 : 1, o.use_bias ? 2 : 1));
  int64_t kdims[5];
  float *k = NULL;
  KRT_TRY(load_kernel(ctx, &o, 0, "kernel", o.filters, input_channels(ctx, x), kdims, &k));
  int ins[3] = {x, -1, -1};
  KRT_TRY(kl_const(ctx, "kernel", spatial + 2, kdims, k, &ins[1]));
  if (o.use_bias) KRT_TRY(load_bias(ctx, 1, kdims[spatial], &ins[2]));
  ir_attrs a = kl_attrs();
  a.spatial = spatial;
  a.act = o.act.act;
  for (int i = 0; i < spatial; i++) {
    int64_t K = (int64_t)o.dilation[i] * (o.kernel[i] - 1) + 1, s = o.stride[i];
    int64_t op = o.output_padding[i];
    if (o.has_output_padding && (op < 0 || op >= s))
      return kl_bad_file(ctx, "output_padding %lld must be smaller than the stride", (long long)op);
    int64_t pb, pe;
    if (o.padding == KC_PAD_VALID) {
      pb = 0;
      pe = -(o.has_output_padding ? op : (K > s ? K : s) - K);
    } else if (!o.has_output_padding) {
      int64_t total = K - s > 0 ? K - s : 0;
      pb = total / 2;
      pe = K - s - pb;
    } else {
      int64_t total = K - K % 2 - op > 0 ? K - K % 2 - op : 0;
      pb = total / 2;
      pe = K - K % 2 - op - pb;
    }
    a.kernel[i] = o.kernel[i];
    a.stride[i] = o.stride[i];
    a.dilation[i] = o.dilation[i];
    a.pad_begin[i] = pb;
    a.pad_end[i] = pe;
  }
  KRT_TRY(kl_emit(ctx, IR_OP_CONV_TRANSPOSE, NULL, ins, o.use_bias ? 3 : 2, &a, &y));
  return finish(ctx, &o, y, out);
}
