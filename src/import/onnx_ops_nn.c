/* ONNX spatial and normalisation ops: Conv, ConvTranspose, MaxPool, AveragePool, the global
 * pools, BatchNormalization, InstanceNormalization, LayerNormalization, Resize and Upsample.
 *
 * ONNX images are [N, C, S...]; the IR's spatial ops read [N, S..., C]. Each op here reads its
 * input channels-last (ox_value_cl) and leaves its output channels-last, so consecutive spatial
 * ops share one layout and no Transpose runs between them. Weights are re-laid on the host:
 * Conv W [Co, Ci/g, k...] -> [k..., Ci/g, Co], ConvTranspose W [Ci, Co, k...] -> [k..., Co, Ci]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/onnx_internal.h"

/* dst = src transposed: dst.dims[i] = src.dims[perm[i]] */
static void permute(const float *src, int rank, const int64_t *dims, const int *perm, float *dst) {
  int64_t stride[KRT_MAX_RANK], count = 1;
  for (int k = rank - 1; k >= 0; k--) {
    stride[k] = count;
    count *= dims[k];
  }
  int64_t idx[KRT_MAX_RANK] = {0};
  for (int64_t o = 0; o < count; o++) {
    int64_t at = 0;
    for (int k = 0; k < rank; k++) at += idx[k] * stride[perm[k]];
    dst[o] = src[at];
    for (int k = rank - 1; k >= 0; k--) {
      if (++idx[k] < dims[perm[k]]) break;
      idx[k] = 0;
    }
  }
}

/* A known input as an IR constant transposed by perm. */
static krt_status *permuted_const(ox_ctx *c, int i, const int *perm, const char *part, int *id) {
  const ox_known *k = ox_in_known(c, i);
  float *src = NULL;
  KRT_TRY(ox_known_floats(c, k, &src));
  float *dst = malloc((size_t)(k->count ? k->count : 1) * sizeof *dst);
  if (!dst) {
    free(src);
    return krt_error_oom("ONNX weights");
  }
  permute(src, k->rank, k->dims, perm, dst);
  free(src);
  int64_t dims[KRT_MAX_RANK];
  for (int a = 0; a < k->rank; a++) dims[a] = k->dims[perm[a]];
  krt_status *s = ox_const(c, part, k->rank, dims, dst, id);
  free(dst);
  return s;
}

static krt_status *require_known(ox_ctx *c, int i, const char *what) {
  if (ox_has_input(c, i) && !ox_in_known(c, i))
    return ox_unsupported(c, "the %s (input %d, '%s') must be a constant: krt reads weights at "
                             "build time", what, i, c->node->input[i]);
  return NULL;
}

/* The window attributes shared by Conv, ConvTranspose and the pools. */
typedef struct window {
  int spatial;
  int64_t in[IR_MAX_SPATIAL];  /* input sizes, -1 unknown */
  int64_t kernel[IR_MAX_SPATIAL], stride[IR_MAX_SPATIAL], dilation[IR_MAX_SPATIAL];
  int64_t pb[IR_MAX_SPATIAL], pe[IR_MAX_SPATIAL];
  char auto_pad[32];
} window;

static krt_status *read_window(ox_ctx *c, int spatial, const int64_t *kernel_from_w,
                               const int64_t *in_dims, window *w) {
  memset(w, 0, sizeof *w);
  w->spatial = spatial;
  int64_t v[2 * IR_MAX_SPATIAL];
  int n;
  KRT_TRY(ox_attr_ints(c, "kernel_shape", IR_MAX_SPATIAL, v, &n));
  if (n >= 0 && n != spatial)
    return ox_error(c, KRT_ERR_BAD_FILE, "kernel_shape has %d values for %d spatial axes", n,
                    spatial);
  for (int k = 0; k < spatial; k++) {
    w->in[k] = in_dims[k];
    w->kernel[k] = n >= 0 ? v[k] : kernel_from_w ? kernel_from_w[k] : 0;
    if (kernel_from_w && w->kernel[k] != kernel_from_w[k])
      return ox_error(c, KRT_ERR_BAD_FILE, "kernel_shape %lld on spatial axis %d, but the weights "
                      "have %lld", (long long)w->kernel[k], k, (long long)kernel_from_w[k]);
    if (w->kernel[k] < 1 || w->kernel[k] > 4096)
      return ox_error(c, KRT_ERR_BAD_FILE, "kernel size %lld on spatial axis %d",
                      (long long)w->kernel[k], k);
  }
  static const char *const names[2] = {"strides", "dilations"};
  int64_t *dst[2] = {w->stride, w->dilation};
  for (int a = 0; a < 2; a++) {
    KRT_TRY(ox_attr_ints(c, names[a], IR_MAX_SPATIAL, v, &n));
    if (n >= 0 && n != spatial)
      return ox_error(c, KRT_ERR_BAD_FILE, "%s has %d values for %d spatial axes", names[a], n,
                      spatial);
    for (int k = 0; k < spatial; k++) {
      dst[a][k] = n >= 0 ? v[k] : 1;
      if (dst[a][k] < 1 || dst[a][k] > 4096)
        return ox_error(c, KRT_ERR_BAD_FILE, "%s %lld on spatial axis %d", names[a],
                        (long long)dst[a][k], k);
    }
  }
  KRT_TRY(ox_attr_string(c, "auto_pad", "NOTSET", w->auto_pad, sizeof w->auto_pad));
  KRT_TRY(ox_attr_ints(c, "pads", 2 * IR_MAX_SPATIAL, v, &n));
  if (strcmp(w->auto_pad, "NOTSET") == 0) {
    if (n >= 0 && n != 2 * spatial)
      return ox_error(c, KRT_ERR_BAD_FILE, "pads has %d values for %d spatial axes", n, spatial);
    for (int k = 0; k < spatial && n > 0; k++) {
      w->pb[k] = v[k];
      w->pe[k] = v[spatial + k];
      if (w->pb[k] < 0 || w->pe[k] < 0 || w->pb[k] > 4096 || w->pe[k] > 4096)
        return ox_unsupported(c, "pads %lld/%lld on spatial axis %d (negative pads crop)",
                              (long long)w->pb[k], (long long)w->pe[k], k);
    }
  } else if (strcmp(w->auto_pad, "VALID") == 0) {
    /* no padding */
  } else if (strcmp(w->auto_pad, "SAME_UPPER") == 0 || strcmp(w->auto_pad, "SAME_LOWER") == 0) {
    for (int k = 0; k < spatial; k++) {
      if (w->in[k] < 0)
        return ox_unsupported(c, "auto_pad %s needs spatial axis %d's size, which is unknown "
                              "(give it with --input)", w->auto_pad, k);
      int64_t out = (w->in[k] + w->stride[k] - 1) / w->stride[k];
      int64_t total = (out - 1) * w->stride[k] + (w->kernel[k] - 1) * w->dilation[k] + 1 - w->in[k];
      if (total < 0) total = 0;
      int64_t small = total / 2;
      w->pb[k] = w->auto_pad[5] == 'U' ? small : total - small;
      w->pe[k] = total - w->pb[k];
    }
  } else {
    return ox_unsupported(c, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER",
                          w->auto_pad);
  }
  return NULL;
}

static void window_attrs(const window *w, ir_attrs *a) {
  a->spatial = w->spatial;
  for (int k = 0; k < w->spatial; k++) {
    a->kernel[k] = (int)w->kernel[k];
    a->stride[k] = (int)w->stride[k];
    a->dilation[k] = (int)w->dilation[k];
    a->pad_begin[k] = w->pb[k];
    a->pad_end[k] = w->pe[k];
  }
}

/* Input 0's spatial sizes (ONNX [N, C, S...]) and the spatial count; rank 3..5. */
static krt_status *spatial_input(ox_ctx *c, int *spatial, int64_t *in) {
  int rank, batched;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  if (rank < 3 || rank > 2 + IR_MAX_SPATIAL)
    return ox_unsupported(c, "input '%s' has rank %d; krt reads [N, C, S...] with 1 to %d spatial "
                          "axes", c->node->input[0], rank, IR_MAX_SPATIAL);
  *spatial = rank - 2;
  for (int k = 0; k < *spatial; k++) in[k] = dims[k + 2];
  return NULL;
}

/* What Conv and ConvTranspose share. Before the window: X [N, C, S...], the known weight W
 * (Conv [M, C/group, K...], ConvTranspose [C, M/group, K...]) of rank spatial + 2, a known
 * bias, and the group attribute. */
typedef struct conv_common {
  int spatial;
  int64_t in[IR_MAX_SPATIAL];
  const ox_known *w;
  int64_t group;
  window win;
} conv_common;

static krt_status *read_conv_common(ox_ctx *c, const char *what, conv_common *cc) {
  KRT_TRY(ox_require_inputs(c, 2, 3));
  KRT_TRY(ox_require_one_output(c));
  KRT_TRY(require_known(c, 1, "weight W"));
  KRT_TRY(require_known(c, 2, "bias B"));
  cc->spatial = 0; /* set by the shape check below; initialised for -O3's flow analysis */
  memset(cc->in, 0, sizeof cc->in);
  KRT_TRY(spatial_input(c, &cc->spatial, cc->in));
  cc->w = ox_in_known(c, 1);
  if (cc->w->rank != cc->spatial + 2)
    return ox_error(c, KRT_ERR_BAD_FILE, "W has rank %d; a %d-D %s needs %d", cc->w->rank,
                    cc->spatial, what, cc->spatial + 2);
  return ox_attr_int(c, "group", 1, &cc->group);
}

/* After the attributes: the IR node of `op` from X (channels-last), W permuted to krt's
 * [K..., in, out] layout and the bias B of `bias_size` values. */
static krt_status *emit_conv_common(ox_ctx *c, const conv_common *cc, ir_op op,
                                    const ir_attrs *a, int64_t bias_size) {
  int perm[KRT_MAX_RANK];
  for (int k = 0; k < cc->spatial; k++) perm[k] = k + 2;
  perm[cc->spatial] = 1;
  perm[cc->spatial + 1] = 0;
  int inputs[3], n = 2;
  KRT_TRY(ox_value_cl(c, 0, &inputs[0]));
  KRT_TRY(permuted_const(c, 1, perm, "kernel", &inputs[1]));
  if (ox_has_input(c, 2)) {
    const ox_known *b = ox_in_known(c, 2);
    if (b->rank != 1 || b->dims[0] != bias_size)
      return ox_error(c, KRT_ERR_BAD_FILE, "B must be [%lld]", (long long)bias_size);
    KRT_TRY(ox_value(c, 2, &inputs[2]));
    n = 3;
  }
  int y;
  KRT_TRY(ox_emit(c, op, "", inputs, n, a, &y));
  return ox_set_output(c, 0, y, 1);
}

static krt_status *convert_conv(ox_ctx *c, int variant) {
  (void)variant;
  conv_common cc;
  KRT_TRY(read_conv_common(c, "convolution", &cc));
  if (cc.group < 1 || cc.group > cc.w->dims[0])
    return ox_error(c, KRT_ERR_BAD_FILE, "group %lld", (long long)cc.group);
  KRT_TRY(read_window(c, cc.spatial, &cc.w->dims[2], cc.in, &cc.win));
  ir_attrs a = ox_attrs();
  window_attrs(&cc.win, &a);
  a.groups = (int)cc.group;
  return emit_conv_common(c, &cc, IR_OP_CONV, &a, cc.w->dims[0]);
}

static krt_status *convert_conv_transpose(ox_ctx *c, int variant) {
  (void)variant;
  conv_common cc;
  KRT_TRY(read_conv_common(c, "transposed convolution", &cc));
  if (cc.group != 1)
    return ox_unsupported(c, "attribute 'group' %lld: krt's ConvTranspose has no groups",
                          (long long)cc.group);
  if (ox_attr(c, "output_shape"))
    return ox_unsupported(c, "attribute 'output_shape' is not supported (give pads instead)");
  KRT_TRY(read_window(c, cc.spatial, &cc.w->dims[2], cc.in, &cc.win));
  if (strncmp(cc.win.auto_pad, "SAME", 4) == 0)
    return ox_unsupported(c, "attribute 'auto_pad' %s is not supported for ConvTranspose",
                          cc.win.auto_pad);
  int64_t op[IR_MAX_SPATIAL];
  int n_op;
  KRT_TRY(ox_attr_ints(c, "output_padding", IR_MAX_SPATIAL, op, &n_op));
  if (n_op >= 0 && n_op != cc.spatial)
    return ox_error(c, KRT_ERR_BAD_FILE, "output_padding has %d values", n_op);
  ir_attrs a = ox_attrs();
  window_attrs(&cc.win, &a);
  a.groups = 1;
  for (int k = 0; k < cc.spatial && n_op > 0; k++) {
    if (op[k] < 0 || op[k] >= cc.win.stride[k])
      return ox_error(c, KRT_ERR_BAD_FILE, "output_padding %lld on axis %d", (long long)op[k], k);
    a.pad_end[k] -= op[k]; /* the IR appends zeros-fed rows for a negative pad_end */
  }
  return emit_conv_common(c, &cc, IR_OP_CONV_TRANSPOSE, &a, cc.w->dims[1]);
}

/* variant: IR_POOL_MAX or IR_POOL_AVG */
static krt_status *convert_pool(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int spatial = 0; /* set by the shape check below; initialised for -O3's flow analysis */
  int64_t in[IR_MAX_SPATIAL] = {0};
  KRT_TRY(spatial_input(c, &spatial, in));
  window win;
  KRT_TRY(read_window(c, spatial, NULL, in, &win));
  for (int k = 0; k < spatial; k++)
    if (win.dilation[k] != 1)
      return ox_unsupported(c, "attribute 'dilations' %lld on axis %d: krt's pools have no "
                            "dilation", (long long)win.dilation[k], k);
  int64_t storage_order, ceil_mode, count_include_pad;
  KRT_TRY(ox_attr_int(c, "storage_order", 0, &storage_order));
  KRT_TRY(ox_attr_int(c, "ceil_mode", 0, &ceil_mode));
  KRT_TRY(ox_attr_int(c, "count_include_pad", 0, &count_include_pad));
  if (storage_order != 0)
    return ox_unsupported(c, "attribute 'storage_order' %lld (only the indices output uses it)",
                          (long long)storage_order);
  int x;
  KRT_TRY(ox_value_cl(c, 0, &x));
  /* count_include_pad: the padding counts as zeros in the average, exactly a zero Pad before a
   * pool without padding. */
  int padded = 0;
  for (int k = 0; k < spatial; k++) padded |= win.pb[k] || win.pe[k];
  if (variant == IR_POOL_AVG && count_include_pad && padded) {
    ir_attrs p = ox_attrs();
    for (int k = 0; k < spatial; k++) {
      p.pad_begin[k + 1] = win.pb[k];
      p.pad_end[k + 1] = win.pe[k];
      if (in[k] >= 0) in[k] += win.pb[k] + win.pe[k];
      win.pb[k] = win.pe[k] = 0;
    }
    KRT_TRY(ox_emit(c, IR_OP_PAD, "count_include_pad", &x, 1, &p, &x));
  }
  if (ceil_mode) {
    /* The last window may start past the end (not past the begin padding): extra end padding,
     * which the IR never counts, as ONNX does not. */
    for (int k = 0; k < spatial; k++) {
      if (in[k] < 0)
        return ox_unsupported(c, "ceil_mode needs spatial axis %d's size, which is unknown", k);
      int64_t span = in[k] + win.pb[k] + win.pe[k] - win.kernel[k];
      if (span < 0) return ox_error(c, KRT_ERR_SHAPE, "the window is larger than the input");
      int64_t out = (span + win.stride[k] - 1) / win.stride[k] + 1;
      if ((out - 1) * win.stride[k] >= in[k] + win.pb[k]) out--;
      int64_t extra = (out - 1) * win.stride[k] + win.kernel[k] - (in[k] + win.pb[k] + win.pe[k]);
      if (extra > 0) win.pe[k] += extra;
    }
  }
  for (int k = 0; k < spatial; k++)
    if (win.pb[k] >= win.kernel[k] || win.pe[k] >= win.kernel[k])
      return ox_unsupported(c, "padding %lld/%lld on axis %d is not below the window %lld",
                            (long long)win.pb[k], (long long)win.pe[k], k,
                            (long long)win.kernel[k]);
  ir_attrs a = ox_attrs();
  window_attrs(&win, &a);
  for (int k = 0; k < spatial; k++) a.dilation[k] = 0;
  a.pool = (ir_pool_kind)variant;
  int y;
  KRT_TRY(ox_emit(c, IR_OP_POOL, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, 1);
}

/* variant: IR_REDUCE_MEAN or IR_REDUCE_MAX over the spatial axes, kept as 1 */
static krt_status *convert_global_pool(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int spatial = 0; /* set by the shape check below; initialised for -O3's flow analysis */
  int64_t in[IR_MAX_SPATIAL] = {0};
  KRT_TRY(spatial_input(c, &spatial, in));
  int cl = ox_in_is_cl_only(c, 0), x;
  KRT_TRY(cl ? ox_value_cl(c, 0, &x) : ox_value(c, 0, &x));
  ir_attrs a = ox_attrs();
  a.reduce = (ir_reduce_kind)variant;
  a.keepdims = 1;
  a.n_axes = spatial;
  for (int k = 0; k < spatial; k++) a.axes[k] = cl ? k + 1 : k + 2;
  int y;
  KRT_TRY(ox_emit(c, IR_OP_REDUCE, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, cl);
}

static krt_status *convert_batchnorm(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 5, 5));
  KRT_TRY(ox_require_one_output(c));
  for (int i = 1; i < 5; i++) KRT_TRY(require_known(c, i, "statistics and scale"));
  int64_t spatial = 1, training = 0;
  float eps;
  KRT_TRY(ox_attr_int(c, "spatial", 1, &spatial));
  KRT_TRY(ox_attr_int(c, "training_mode", 0, &training));
  KRT_TRY(ox_attr_float(c, "epsilon", 1e-5f, &eps));
  if (spatial != 1)
    return ox_unsupported(c, "attribute 'spatial' 0 (statistics per element) is not supported");
  if (training) return ox_unsupported(c, "attribute 'training_mode' 1: krt runs inference only");
  int rank, batched;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  if (rank < 2) return ox_error(c, KRT_ERR_SHAPE, "input has rank %d; BatchNormalization needs a channel axis", rank);
  int cl = ox_in_is_cl_only(c, 0) && rank >= 3;
  int in[5];
  KRT_TRY(cl ? ox_value_cl(c, 0, &in[0]) : ox_value(c, 0, &in[0]));
  for (int i = 1; i < 5; i++) {
    const ox_known *k = ox_in_known(c, i);
    if (k->rank != 1 || k->dims[0] != dims[1])
      return ox_error(c, KRT_ERR_BAD_FILE, "input %d must be [C] = [%lld]", i, (long long)dims[1]);
    KRT_TRY(ox_value(c, i, &in[i]));
  }
  ir_attrs a = ox_attrs();
  a.axis = cl ? rank - 1 : 1;
  a.epsilon = eps;
  int y;
  KRT_TRY(ox_emit(c, IR_OP_BATCHNORM, "", in, 5, &a, &y));
  return ox_set_output(c, 0, y, cl);
}

/* y = (x - mean) / sqrt(var + eps) * scale[c] + B[c], statistics per sample and channel over the
 * spatial axes: a LayerNorm over those axes (unit gamma, zero beta), then scale and bias. */
static krt_status *convert_instance_norm(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 3, 3));
  KRT_TRY(ox_require_one_output(c));
  KRT_TRY(require_known(c, 1, "scale"));
  KRT_TRY(require_known(c, 2, "bias B"));
  float eps;
  KRT_TRY(ox_attr_float(c, "epsilon", 1e-5f, &eps));
  int spatial = 0; /* set by the shape check below; initialised for -O3's flow analysis */
  int64_t in[IR_MAX_SPATIAL], count = 1;
  KRT_TRY(spatial_input(c, &spatial, in));
  for (int k = 0; k < spatial; k++) {
    if (in[k] < 0) return ox_unsupported(c, "spatial axis %d's size is unknown (give it with --input)", k);
    count *= in[k];
  }
  int x;
  KRT_TRY(ox_value_cl(c, 0, &x));
  int64_t ch = ox_ir(c, x)->dims[spatial + 1];
  for (int i = 1; i < 3; i++) {
    const ox_known *k = ox_in_known(c, i);
    if (k->rank != 1 || k->dims[0] != ch)
      return ox_error(c, KRT_ERR_BAD_FILE, "input %d must be [C] = [%lld]", i, (long long)ch);
  }
  float *ones = malloc((size_t)count * sizeof *ones), *zeros = calloc((size_t)count, sizeof *zeros);
  if (!ones || !zeros) {
    free(ones);
    free(zeros);
    return krt_error_oom("InstanceNormalization");
  }
  for (int64_t j = 0; j < count; j++) ones[j] = 1.0f;
  int in3[3] = {x, -1, -1};
  krt_status *s = ox_const(c, "unit_gamma", spatial, in, ones, &in3[1]);
  if (!s) s = ox_const(c, "zero_beta", spatial, in, zeros, &in3[2]);
  free(ones);
  free(zeros);
  KRT_TRY(s);
  ir_attrs a = ox_attrs();
  a.epsilon = eps;
  a.n_axes = spatial;
  for (int k = 0; k < spatial; k++) a.axes[k] = k + 1;
  int y, scale, bias;
  KRT_TRY(ox_emit(c, IR_OP_LAYERNORM, "normalise", in3, 3, &a, &y));
  KRT_TRY(ox_value(c, 1, &scale));
  KRT_TRY(ox_value(c, 2, &bias));
  KRT_TRY(ox_binary(c, IR_BINARY_MUL, y, scale, "scale", &y));
  KRT_TRY(ox_binary(c, IR_BINARY_ADD, y, bias, "bias", &y));
  return ox_set_output(c, 0, y, 1);
}

/* Scale (and B) broadcast to x.shape[axis:], as the IR's gamma and beta need them. */
static krt_status *expanded_param(ox_ctx *c, int i, int n_axes, const int64_t *shape, float fill,
                                  const char *part, int *id) {
  int64_t count = 1;
  for (int k = 0; k < n_axes; k++) count *= shape[k];
  float *data = malloc((size_t)(count ? count : 1) * sizeof *data);
  if (!data) return krt_error_oom("LayerNormalization");
  const ox_known *k = ox_has_input(c, i) ? ox_in_known(c, i) : NULL;
  float *src = NULL;
  krt_status *s = NULL;
  if (k) {
    if (k->rank > n_axes) s = ox_error(c, KRT_ERR_BAD_FILE, "input %d has more axes than the normalised ones", i);
    for (int a = 0; !s && a < k->rank; a++) {
      int64_t d = k->dims[a], want = shape[n_axes - k->rank + a];
      if (d != 1 && d != want)
        s = ox_error(c, KRT_ERR_SHAPE, "input %d does not broadcast to the normalised axes", i);
    }
    if (!s) s = ox_known_floats(c, k, &src);
  }
  for (int64_t o = 0; !s && o < count; o++) {
    if (!k) {
      data[o] = fill;
      continue;
    }
    int64_t rem = o, at = 0, stride = 1;
    for (int a = n_axes - 1; a >= 0; a--) {
      int64_t idx = rem % shape[a];
      rem /= shape[a];
      int ka = a - (n_axes - k->rank);
      if (ka >= 0) {
        if (k->dims[ka] != 1) at += idx * stride;
        stride *= k->dims[ka];
      }
    }
    data[o] = src[at];
  }
  if (!s) s = ox_const(c, part, n_axes, shape, data, id);
  free(src);
  free(data);
  return s;
}

static krt_status *convert_layer_norm(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 3));
  KRT_TRY(ox_require_one_output(c));
  KRT_TRY(require_known(c, 1, "scale"));
  KRT_TRY(require_known(c, 2, "bias B"));
  int64_t axis, stash;
  float eps;
  KRT_TRY(ox_attr_int(c, "axis", -1, &axis));
  KRT_TRY(ox_attr_int(c, "stash_type", 1, &stash));
  KRT_TRY(ox_attr_float(c, "epsilon", 1e-5f, &eps));
  (void)stash; /* float32 statistics: what krt computes for every stash type */
  int x;
  KRT_TRY(ox_value(c, 0, &x));
  const ir_value *v = ox_ir(c, x);
  int first;
  KRT_TRY(ox_axis(c, axis, v->rank, &first));
  ir_attrs a = ox_attrs();
  a.epsilon = eps;
  int64_t shape[KRT_MAX_RANK];
  for (int k = first; k < v->rank; k++) {
    if (v->dims[k] < 0) return ox_unsupported(c, "normalised axis %d has an unknown size", k);
    shape[a.n_axes] = v->dims[k];
    a.axes[a.n_axes++] = k;
  }
  int in[3] = {x, -1, -1};
  KRT_TRY(expanded_param(c, 1, a.n_axes, shape, 1.0f, "gamma", &in[1]));
  KRT_TRY(expanded_param(c, 2, a.n_axes, shape, 0.0f, "beta", &in[2]));
  int y;
  KRT_TRY(ox_emit(c, IR_OP_LAYERNORM, "", in, 3, &a, &y));
  return ox_set_output(c, 0, y, 0);
}

/* ---- Resize and Upsample ------------------------------------------------------------------- */

/* Whether nearest-neighbour sampling with this coordinate transform and rounding picks source
 * index dst / s (integer division) for every dst, at integer scale s: what the IR's NEAREST
 * Resize copies. x_original = q + g(r) for dst = q*s + r, so checking r = 0..s-1 suffices. */
static int nearest_is_copy(const char *coord, const char *rounding, int64_t s) {
  const double q = 1000.0;
  for (int64_t r = 0; r < s; r++) {
    double dst = q * (double)s + (double)r, x;
    if (strcmp(coord, "half_pixel") == 0 || strcmp(coord, "pytorch_half_pixel") == 0 ||
        strcmp(coord, "half_pixel_symmetric") == 0)
      x = (dst + 0.5) / (double)s - 0.5;
    else if (strcmp(coord, "asymmetric") == 0)
      x = dst / (double)s;
    else if (strcmp(coord, "tf_half_pixel_for_nn") == 0)
      x = (dst + 0.5) / (double)s;
    else
      return s == 1 && strcmp(coord, "align_corners") == 0;
    double idx;
    if (strcmp(rounding, "floor") == 0)
      idx = floor(x);
    else if (strcmp(rounding, "ceil") == 0)
      idx = ceil(x);
    else if (strcmp(rounding, "round_prefer_ceil") == 0)
      idx = floor(x + 0.5);
    else if (strcmp(rounding, "round_prefer_floor") == 0)
      idx = ceil(x - 0.5);
    else
      return 0;
    if (idx != q) return 0;
  }
  return 1;
}

/* variant 0: Resize, 1: Upsample */
static krt_status *convert_resize(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, variant ? 2 : 4));
  KRT_TRY(ox_require_one_output(c));
  if (variant && c->opset >= 10)
    return ox_unsupported(c, "Upsample is deprecated from opset 10 (use Resize)");
  int rank, batched;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  char mode[32], coord[32], rounding[32], policy[32];
  KRT_TRY(ox_attr_string(c, "mode", "nearest", mode, sizeof mode));
  KRT_TRY(ox_attr_string(c, "coordinate_transformation_mode",
                         !variant && c->opset >= 11 ? "half_pixel" : "asymmetric", coord,
                         sizeof coord));
  KRT_TRY(ox_attr_string(c, "nearest_mode",
                         !variant && c->opset >= 11 ? "round_prefer_floor" : "floor", rounding,
                         sizeof rounding));
  KRT_TRY(ox_attr_string(c, "keep_aspect_ratio_policy", "stretch", policy, sizeof policy));
  if (ox_attr(c, "axes"))
    return ox_unsupported(c, "attribute 'axes' is not supported (give scales for every axis)");
  if (strcmp(policy, "stretch") != 0)
    return ox_unsupported(c, "attribute 'keep_aspect_ratio_policy' '%s' is not supported", policy);
  /* Per-axis factors: Upsample-7's attribute, or the scales input, or sizes / input size. */
  double scale[KRT_MAX_RANK];
  int n = -1;
  if (variant && c->opset < 9) {
    const KrtOnnx__AttributeProto *at = ox_attr(c, "scales");
    if (!at || at->n_floats > KRT_MAX_RANK)
      return ox_error(c, KRT_ERR_BAD_FILE, "Upsample needs attribute 'scales'");
    n = (int)at->n_floats;
    for (int k = 0; k < n; k++) scale[k] = at->floats[k];
  } else {
    if (ox_attr(c, "scales"))
      return ox_unsupported(c, "attribute 'scales' belongs to Upsample before opset 9");
    int scales_at = variant || c->opset < 11 ? 1 : 2, sizes_at = 3;
    const ox_known *ks = ox_has_input(c, scales_at) ? ox_in_known(c, scales_at) : NULL;
    if (ox_has_input(c, scales_at) && !ks)
      return ox_unsupported(c, "the scales (input %d) must be a constant", scales_at);
    if (ks && ks->count > 0) {
      if (ks->count > KRT_MAX_RANK || !ks->f)
        return ox_error(c, KRT_ERR_BAD_FILE, "scales must be floats, one per axis");
      n = (int)ks->count;
      for (int k = 0; k < n; k++) scale[k] = ks->f[k];
    } else if (!variant && c->opset >= 11 && ox_has_input(c, sizes_at)) {
      int64_t sizes[KRT_MAX_RANK];
      KRT_TRY(ox_known_ints(c, sizes_at, KRT_MAX_RANK, sizes, &n));
      for (int k = 0; k < n && k < rank; k++) {
        if (k == 0 && batched) {
          scale[k] = 1;
          continue;
        }
        if (dims[k] <= 0)
          return ox_unsupported(c, "sizes need the input's axis %d size, which is unknown", k);
        scale[k] = (double)sizes[k] / (double)dims[k];
      }
    }
  }
  if (n != rank)
    return ox_error(c, KRT_ERR_BAD_FILE, "%d scales or sizes for a rank-%d input", n, rank);
  if (rank < 3 || rank > 2 + IR_MAX_SPATIAL)
    return ox_unsupported(c, "input rank %d: krt resizes [N, C, S...]", rank);
  ir_attrs a = ox_attrs();
  a.spatial = rank - 2;
  int all_one = 1;
  for (int k = 0; k < rank; k++) {
    double s = scale[k];
    if (k < 2) {
      if (s != 1.0)
        return ox_unsupported(c, "scale %g on axis %d: krt resizes only the spatial axes", s, k);
      continue;
    }
    if (s < 1.0 || s != floor(s) || s > 4096)
      return ox_unsupported(c, "scale %g on axis %d: krt resizes by integer factors >= 1 only", s,
                            k);
    a.scale[k - 2] = (int)s;
    all_one &= s == 1.0;
  }
  int cl = 0, x, y;
  if (all_one) {
    ir_attrs none = ox_attrs();
    KRT_TRY(ox_value(c, 0, &x));
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &none, &y));
    return ox_set_output(c, 0, y, cl);
  }
  if (strcmp(mode, "nearest") == 0) {
    for (int k = 0; k < a.spatial; k++)
      if (!nearest_is_copy(coord, rounding, a.scale[k]))
        return ox_unsupported(c, "nearest resize with coordinate_transformation_mode '%s' and "
                              "nearest_mode '%s' at scale %d does not copy source pixels in "
                              "blocks, the only nearest resize krt computes", coord, rounding,
                              a.scale[k]);
    a.resize = IR_RESIZE_NEAREST;
  } else if (strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0) {
    if (strcmp(coord, "half_pixel") != 0 && strcmp(coord, "pytorch_half_pixel") != 0)
      return ox_unsupported(c, "linear resize with coordinate_transformation_mode '%s': krt "
                            "computes half_pixel only", coord);
    if (a.spatial != 2)
      return ox_unsupported(c, "linear resize of %d spatial axes (krt: 2)", a.spatial);
    a.resize = IR_RESIZE_BILINEAR;
  } else {
    return ox_unsupported(c, "attribute 'mode' '%s' is not supported (nearest, linear)", mode);
  }
  KRT_TRY(ox_value_cl(c, 0, &x));
  KRT_TRY(ox_emit(c, IR_OP_RESIZE, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, 1);
}

static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads",
                                         "strides", NULL};
static const char *const convT_attrs[] = {"auto_pad", "dilations",      "group", "kernel_shape",
                                          "pads",     "strides", "output_padding", "output_shape",
                                          NULL};
static const char *const maxpool_attrs[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape",
                                            "pads", "storage_order", "strides", NULL};
static const char *const avgpool_attrs[] = {"auto_pad", "ceil_mode",   "count_include_pad",
                                            "dilations", "kernel_shape", "pads", "strides", NULL};
static const char *const bn_attrs[] = {"epsilon", "momentum", "spatial", "training_mode", NULL};
static const char *const eps_attrs[] = {"epsilon", NULL};
static const char *const ln_attrs[] = {"axis", "epsilon", "stash_type", NULL};
static const char *const resize_attrs[] = {"mode", "coordinate_transformation_mode", "nearest_mode",
                                           "cubic_coeff_a", "exclude_outside",
                                           "extrapolation_value", "antialias", "axes",
                                           "keep_aspect_ratio_policy", "scales", NULL};

const ox_op_entry ox_ops_nn[] = {
    {"Conv", convert_conv, 0, conv_attrs},
    {"ConvTranspose", convert_conv_transpose, 0, convT_attrs},
    {"MaxPool", convert_pool, IR_POOL_MAX, maxpool_attrs},
    {"AveragePool", convert_pool, IR_POOL_AVG, avgpool_attrs},
    {"GlobalAveragePool", convert_global_pool, IR_REDUCE_MEAN, NULL},
    {"GlobalMaxPool", convert_global_pool, IR_REDUCE_MAX, NULL},
    {"BatchNormalization", convert_batchnorm, 0, bn_attrs},
    {"InstanceNormalization", convert_instance_norm, 0, eps_attrs},
    {"LayerNormalization", convert_layer_norm, 0, ln_attrs},
    {"Resize", convert_resize, 0, resize_attrs},
    {"Upsample", convert_resize, 1, resize_attrs},
    {NULL, NULL, 0, NULL},
};
