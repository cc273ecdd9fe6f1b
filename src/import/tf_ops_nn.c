/* TensorFlow ops that compute: convolutions, matrix products, activations, elementwise
 * arithmetic, batch normalisation, pooling, reductions, resizing.
 *
 * Spatial ops read data_format: NHWC maps onto krt's channels-last ops directly; NCHW gets a
 * Transpose to NHWC before and back after (cancel_transposes removes the pairs between
 * consecutive NCHW ops). strides, ksize and dilations are given in data_format's axis order.
 * Elementwise ops on static integers (shape arithmetic) are folded while importing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/tf_ops.h"

typedef struct spatial_format {
  int nchw;       /* data_format NCHW */
  int h, w, ch;   /* axis of H, W and C in the 4-D tensor */
} spatial_format;

static krt_status *read_format(tf_op_call *c, spatial_format *f) {
  char df[16];
  KRT_TRY(tf_attr_string(c, "data_format", "NHWC", df, sizeof df));
  if (strcmp(df, "NHWC") == 0)
    *f = (spatial_format){0, 1, 2, 3};
  else if (strcmp(df, "NCHW") == 0)
    *f = (spatial_format){1, 2, 3, 1};
  else
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "attribute 'data_format' is '%s' (NHWC or NCHW)", df);
  return NULL;
}

/* A 4-entry attribute in data_format order whose N and C entries must be 1; *hw gets H and W. */
static krt_status *read_hw(tf_op_call *c, const spatial_format *f, const char *key, int required,
                           int hw[2]) {
  if (!tf_attr(c, key) && !required) {
    hw[0] = hw[1] = 1;
    return NULL;
  }
  int64_t v[8];
  int n;
  KRT_TRY(tf_attr_ints(c, key, v, 8, &n));
  if (n != 4 || v[0] != 1 || v[f->ch] != 1)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "attribute '%s' must have 4 entries with 1 for N and C (krt runs the op "
                         "over H and W)",
                         key);
  for (int i = 0; i < 2; i++) {
    int64_t x = v[i == 0 ? f->h : f->w];
    if (x < 1 || x > 65536) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "'%s' holds %lld", key, (long long)x);
    hw[i] = (int)x;
  }
  return NULL;
}

/* padding SAME / VALID / EXPLICIT into pad_begin/pad_end for spatial sizes in[2]. */
static krt_status *read_padding(tf_op_call *c, const spatial_format *f, const int64_t in[2],
                                const int k[2], const int s[2], const int d[2], ir_attrs *a) {
  char pad[16];
  KRT_TRY(tf_attr_string(c, "padding", NULL, pad, sizeof pad));
  if (strcmp(pad, "VALID") == 0) return NULL;
  if (strcmp(pad, "SAME") == 0) {
    for (int i = 0; i < 2; i++) {
      if (in[i] < 0)
        return tf_node_error(c, KRT_ERR_SHAPE,
                             "padding SAME on an unknown spatial size; give the input's shape "
                             "with --input NAME:D1xD2x...");
      int64_t out = (in[i] + s[i] - 1) / s[i];
      int64_t total = (out - 1) * s[i] + (int64_t)(k[i] - 1) * d[i] + 1 - in[i];
      if (total < 0) total = 0;
      a->pad_begin[i] = total / 2;
      a->pad_end[i] = total - total / 2;
    }
    return NULL;
  }
  if (strcmp(pad, "EXPLICIT") == 0) {
    int64_t p[8];
    int n;
    KRT_TRY(tf_attr_ints(c, "explicit_paddings", p, 8, &n));
    if (n != 8 || p[0] || p[1] || p[2 * f->ch] || p[2 * f->ch + 1])
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "attribute 'explicit_paddings' must pad H and W only (8 entries)");
    int axes[2] = {f->h, f->w};
    for (int i = 0; i < 2; i++) {
      if (p[2 * axes[i]] < 0 || p[2 * axes[i] + 1] < 0)
        return tf_node_error(c, KRT_ERR_UNSUPPORTED, "negative explicit padding");
      a->pad_begin[i] = p[2 * axes[i]];
      a->pad_end[i] = p[2 * axes[i] + 1];
    }
    return NULL;
  }
  return tf_node_error(c, KRT_ERR_UNSUPPORTED, "attribute 'padding' is '%s' (SAME, VALID or EXPLICIT)", pad);
}

/* The input as NHWC and its H, W sizes. */
static krt_status *nhwc_input(tf_op_call *c, const spatial_format *f, int *x, int64_t hw[2]) {
  KRT_TRY(tf_value(c, c->inputs[0], x));
  const ir_value *v = &c->t->g->values[*x];
  if (v->rank != 4)
    return tf_node_error(c, KRT_ERR_SHAPE, "input has rank %d; krt converts the 2-D (rank 4) op", v->rank);
  hw[0] = v->dims[f->h];
  hw[1] = v->dims[f->w];
  if (f->nchw) KRT_TRY(tf_to_channels_last(c, *x, x));
  return NULL;
}

static krt_status *finish_spatial(tf_op_call *c, const spatial_format *f, int y) {
  if (f->nchw) KRT_TRY(tf_to_channels_first(c, y, &y));
  return tf_set_output_value(c, 0, y);
}

static krt_status *static_weight(tf_op_call *c, int i, int rank, const char *what) {
  if (i >= c->n_inputs) return tf_node_error(c, KRT_ERR_BAD_FILE, "has no %s input", what);
  const tf_tensor *w = c->inputs[i];
  if (!w->is_static || w->is_int || w->rank != rank)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "the %s must be a float constant of rank %d", what, rank);
  return NULL;
}

/* ---- dilated convolution as TF 1 writes it ------------------------------------------------
 *
 * SpaceToBatchND(x, block [r0, r1], paddings [[b0, e0], [b1, e1]]) pads x[N, H, W, C] to
 * P[N, H + b0 + e0, W + b1 + e1, C] (both multiples of the block) and makes phase (i, j) of it,
 * P[:, i::r0, j::r1], a batch element of its own. A VALID convolution with stride 1 and filter
 * k[2] of each phase, and BatchToSpaceND with the same block interleaving the phases back, give
 *   full[n, p, q] = sum_t sum_u P[n, p + t*r0, q + u*r1] * w[t, u]   (p < H + b0 + e0 - (k0-1)*r0)
 * which is exactly the convolution of x with dilation r and padding (b, e); BatchToSpaceND's crops
 * [[c0, d0], [c1, d1]] then keep full[:, c0 : len - d0, c1 : len - d1]. So the convolution is
 * emitted dilated over x itself and BatchToSpaceND becomes a Slice (none when no crops); the
 * batch-form tensors in between are never made (tf_internal.h, TF_S2B_*). */

/* Reads block_shape (input 1) and a [2, 2] paddings or crops (input 2), all >= 0 (block >= 1). */
static krt_status *read_block_and_pads(tf_op_call *c, const char *what, int64_t block[2],
                                       int64_t pads[2][2]) {
  if (c->n_inputs != 3) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  const int64_t *b, *p;
  int64_t nb, np;
  KRT_TRY(tf_static_ints(c, 1, &b, &nb));
  KRT_TRY(tf_static_ints(c, 2, &p, &np));
  if (nb != 2 || np != 4)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "block_shape has %lld entries and %s %lld; krt converts the 2-D form "
                         "(block_shape of 2, %s [2, 2]) only",
                         (long long)nb, what, (long long)np, what);
  for (int i = 0; i < 2; i++) {
    if (b[i] < 1 || b[i] > 65536 || p[2 * i] < 0 || p[2 * i + 1] < 0 ||
        p[2 * i] == TF_BATCH_DIM || p[2 * i + 1] == TF_BATCH_DIM)
      return tf_node_error(c, KRT_ERR_BAD_FILE, "block_shape %lld or %s %lld, %lld out of range",
                           (long long)b[i], what, (long long)p[2 * i], (long long)p[2 * i + 1]);
    block[i] = b[i];
    pads[i][0] = p[2 * i];
    pads[i][1] = p[2 * i + 1];
  }
  return NULL;
}

/* SpaceToBatchND: nothing is emitted; its output remembers x, the block and the paddings for
 * the convolution that must read it (tf_graphdef.c refuses any other reader). */
krt_status *tf_convert_space_to_batch(tf_op_call *c) {
  int64_t block[2], pads[2][2];
  KRT_TRY(read_block_and_pads(c, "paddings", block, pads));
  int x;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  const ir_value *v = &c->t->g->values[x];
  if (v->rank != 4 || !v->batched)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "input of rank %d%s: krt converts SpaceToBatchND only on a batched "
                         "[N, H, W, C] input, before a convolution",
                         v->rank, v->batched ? "" : " without a batch");
  KRT_TRY(tf_set_output_value(c, 0, x));
  tf_tensor *out = &c->node->outputs[0];
  out->s2b = TF_S2B_INPUT;
  memcpy(out->s2b_block, block, sizeof block);
  memcpy(out->s2b_pad, pads, sizeof pads);
  return NULL;
}

/* The convolution's attributes over x when its input is SpaceToBatchND's: dilation = block,
 * padding = SpaceToBatchND's, which needs NHWC, stride 1, no dilation of its own and VALID. */
static krt_status *dilate_for_space_to_batch(tf_op_call *c, const spatial_format *f,
                                             const tf_tensor *s2b, const int64_t hw[2],
                                             ir_attrs *a) {
  char pad[16];
  KRT_TRY(tf_attr_string(c, "padding", NULL, pad, sizeof pad));
  if (f->nchw || strcmp(pad, "VALID") != 0 || a->stride[0] != 1 || a->stride[1] != 1 ||
      a->dilation[0] != 1 || a->dilation[1] != 1)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "reads SpaceToBatchND's output with data_format %s, padding %s, strides "
                         "%d,%d, dilations %d,%d; krt converts the dilated convolution that TF "
                         "writes this way only with NHWC, VALID, strides 1 and dilations 1",
                         f->nchw ? "NCHW" : "NHWC", pad, a->stride[0], a->stride[1],
                         a->dilation[0], a->dilation[1]);
  for (int i = 0; i < 2; i++) {
    int64_t r = s2b->s2b_block[i], padded = hw[i] + s2b->s2b_pad[i][0] + s2b->s2b_pad[i][1];
    if (hw[i] < 0)
      return tf_node_error(c, KRT_ERR_SHAPE,
                           "SpaceToBatchND of an unknown spatial size; give the input's shape "
                           "with --input NAME:D1xD2x...");
    if (padded % r != 0 || padded / r < a->kernel[i])
      return tf_node_error(c, KRT_ERR_SHAPE,
                           "spatial axis %d: padded size %lld is not a multiple of the block %lld "
                           "of at least the filter's %d",
                           i + 1, (long long)padded, (long long)r, a->kernel[i]);
    a->dilation[i] = (int)r;
    a->pad_begin[i] = s2b->s2b_pad[i][0];
    a->pad_end[i] = s2b->s2b_pad[i][1];
  }
  return NULL;
}

/* BatchToSpaceND after such a convolution: its crops as a Slice of the dilated convolution. */
krt_status *tf_convert_batch_to_space(tf_op_call *c) {
  int64_t block[2], crops[2][2];
  KRT_TRY(read_block_and_pads(c, "crops", block, crops));
  const tf_tensor *in = c->inputs[0];
  if (in->s2b != TF_S2B_CONV)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "krt converts BatchToSpaceND only after a convolution of "
                         "SpaceToBatchND's output (a dilated convolution)");
  if (block[0] != in->s2b_block[0] || block[1] != in->s2b_block[1])
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "block_shape %lld,%lld differs from SpaceToBatchND's %lld,%lld: not a "
                         "dilated convolution",
                         (long long)block[0], (long long)block[1], (long long)in->s2b_block[0],
                         (long long)in->s2b_block[1]);
  int x = in->value;
  const ir_value *v = &c->t->g->values[x];
  ir_attrs a;
  memset(&a, 0, sizeof a);
  int cut = 0;
  for (int k = 0; k < 4; k++) {
    a.begin[k] = 0;
    a.end[k] = v->dims[k];
  }
  for (int i = 0; i < 2; i++) {
    int64_t len = v->dims[1 + i];
    if (crops[i][0] + crops[i][1] >= len)
      return tf_node_error(c, KRT_ERR_SHAPE, "crops %lld, %lld leave nothing of %lld",
                           (long long)crops[i][0], (long long)crops[i][1], (long long)len);
    a.begin[1 + i] = crops[i][0];
    a.end[1 + i] = len - crops[i][1];
    cut |= crops[i][0] || crops[i][1];
  }
  int y = x;
  if (cut) KRT_TRY(tf_emit(c, IR_OP_SLICE, "", &x, 1, &a, &y));
  return tf_set_output_value(c, 0, y);
}

/* Conv2D (x, filter[kh, kw, Ci, Co]) and DepthwiseConv2dNative (x, filter[kh, kw, Ci, M]): the
 * depthwise filter read as [kh, kw, 1, Ci*M] is krt's grouped Conv with groups = Ci (output
 * channel c*M + m is filter[.., c, m], the same row-major order). */
static krt_status *convert_conv(tf_op_call *c, int depthwise) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  spatial_format f = {0}; /* filled by the format check; zeroed for -O3's flow analysis */
  KRT_TRY(read_format(c, &f));
  KRT_TRY(static_weight(c, 1, 4, "filter"));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.spatial = 2;
  KRT_TRY(read_hw(c, &f, "strides", 1, a.stride));
  KRT_TRY(read_hw(c, &f, "dilations", 0, a.dilation));
  tf_tensor *w = c->inputs[1];
  a.kernel[0] = (int)w->dims[0];
  a.kernel[1] = (int)w->dims[1];
  int x;
  int64_t hw[2];
  tf_tensor *s2b = c->inputs[0]->s2b == TF_S2B_INPUT ? c->inputs[0] : NULL;
  KRT_TRY(nhwc_input(c, &f, &x, hw));
  if (s2b)
    KRT_TRY(dilate_for_space_to_batch(c, &f, s2b, hw, &a));
  else
    KRT_TRY(read_padding(c, &f, hw, a.kernel, a.stride, a.dilation, &a));
  int64_t ci = c->t->g->values[x].dims[3];
  a.groups = 1;
  int ids[2] = {x, -1};
  if (depthwise) {
    if (ci != w->dims[2])
      return tf_node_error(c, KRT_ERR_SHAPE, "the filter has %lld input channels, the input %lld",
                           (long long)w->dims[2], (long long)ci);
    a.groups = (int)ci;
    int64_t wd[4] = {w->dims[0], w->dims[1], 1, w->dims[2] * w->dims[3]};
    KRT_TRY(tf_const(c, "/filter", 4, wd, w->floats, &ids[1]));
  } else {
    if (ci > 0 && w->dims[2] > 0 && ci % w->dims[2] == 0) a.groups = (int)(ci / w->dims[2]);
    KRT_TRY(tf_value(c, w, &ids[1]));
  }
  int y;
  KRT_TRY(tf_emit(c, IR_OP_CONV, "", ids, 2, &a, &y));
  if (s2b) {
    KRT_TRY(tf_set_output_value(c, 0, y));
    tf_tensor *out = &c->node->outputs[0];
    out->s2b = TF_S2B_CONV;
    out->s2b_block[0] = s2b->s2b_block[0];
    out->s2b_block[1] = s2b->s2b_block[1];
    return NULL;
  }
  return finish_spatial(c, &f, y);
}

krt_status *tf_convert_conv2d(tf_op_call *c) { return convert_conv(c, 0); }
krt_status *tf_convert_depthwise_conv2d(tf_op_call *c) { return convert_conv(c, 1); }

/* Conv2DBackpropInput (output_shape, filter[kh, kw, Co, Ci], x): krt's ConvTranspose, whose
 * weights are [k..., Co, Ci] as TensorFlow's; padding as the forward convolution that maps the
 * output_shape back to x would have had. */
krt_status *tf_convert_conv2d_backprop_input(tf_op_call *c) {
  if (c->n_inputs != 3) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  spatial_format f = {0}; /* filled by the format check; zeroed for -O3's flow analysis */
  KRT_TRY(read_format(c, &f));
  KRT_TRY(static_weight(c, 1, 4, "filter"));
  const int64_t *os;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 0, &os, &n));
  if (n != 4) return tf_node_error(c, KRT_ERR_BAD_FILE, "input_sizes has %lld entries", (long long)n);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.spatial = 2;
  a.groups = 1;
  KRT_TRY(read_hw(c, &f, "strides", 1, a.stride));
  KRT_TRY(read_hw(c, &f, "dilations", 0, a.dilation));
  tf_tensor *w = c->inputs[1];
  a.kernel[0] = (int)w->dims[0];
  a.kernel[1] = (int)w->dims[1];
  tf_op_call shifted = *c; /* x is input 2 */
  tf_tensor *order[1] = {c->inputs[2]};
  shifted.inputs = order;
  shifted.n_inputs = 1;
  int x;
  int64_t in[2];
  KRT_TRY(nhwc_input(&shifted, &f, &x, in));
  int64_t out[2] = {os[f.h], os[f.w]};
  KRT_TRY(read_padding(c, &f, out, a.kernel, a.stride, a.dilation, &a));
  for (int i = 0; i < 2; i++) {
    int64_t full = (in[i] - 1) * a.stride[i] + (int64_t)a.dilation[i] * (a.kernel[i] - 1) + 1;
    int64_t fwd = (out[i] + a.pad_begin[i] + a.pad_end[i] - (int64_t)a.dilation[i] * (a.kernel[i] - 1) - 1) / a.stride[i] + 1;
    if (in[i] < 0 || out[i] < 0 || fwd != in[i])
      return tf_node_error(c, KRT_ERR_SHAPE, "input_sizes do not match the input's spatial size");
    a.pad_end[i] = full - out[i] - a.pad_begin[i];
  }
  int ids[2] = {x, -1};
  KRT_TRY(tf_value(c, w, &ids[1]));
  int y;
  KRT_TRY(tf_emit(c, IR_OP_CONV_TRANSPOSE, "", ids, 2, &a, &y));
  return finish_spatial(c, &f, y);
}

/* BiasAdd (x, bias[C]): an Add; NCHW bias broadcast as [C, 1, ...]. */
krt_status *tf_convert_bias_add(tf_op_call *c) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  spatial_format f = {0}; /* filled by the format check; zeroed for -O3's flow analysis */
  KRT_TRY(read_format(c, &f));
  int ids[2];
  KRT_TRY(tf_value(c, c->inputs[0], &ids[0]));
  int rank = c->t->g->values[ids[0]].rank;
  tf_tensor *b = c->inputs[1];
  if (f.nchw && rank > 2) {
    if (!b->is_static || b->is_int || b->rank != 1)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "an NCHW bias that is not a float constant");
    int64_t d[KRT_MAX_RANK];
    d[0] = b->dims[0];
    for (int i = 1; i < rank - 1; i++) d[i] = 1;
    KRT_TRY(tf_const(c, "/bias", rank - 1, d, b->floats, &ids[1]));
  } else {
    KRT_TRY(tf_value(c, b, &ids[1]));
  }
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.binary = IR_BINARY_ADD;
  int y;
  KRT_TRY(tf_emit(c, IR_OP_BINARY, "", ids, 2, &a, &y));
  return tf_set_output_value(c, 0, y);
}

/* Swaps the last two axes of a value (transpose_a/b, adj_x/y); static data is transposed here. */
static krt_status *swap_last_two(tf_op_call *c, int x, const char *suffix, int *out) {
  const ir_value *v = &c->t->g->values[x];
  int perm[KRT_MAX_RANK];
  for (int i = 0; i < v->rank; i++) perm[i] = i;
  perm[v->rank - 1] = v->rank - 2;
  perm[v->rank - 2] = v->rank - 1;
  return tf_transpose(c, x, perm, suffix, out);
}

/* MatMul (a[M, K], b[K, N]) and BatchMatMul (a[..., M, K], b[..., K, N]). A constant b without
 * transposes on a rank-2 product is a Dense. */
static krt_status *convert_matmul(tf_op_call *c, const char *ta_key, const char *tb_key) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  KRT_TRY(tf_require_float_type(c, "Ta")); /* BatchMatMulV3 types its operands apart */
  KRT_TRY(tf_require_float_type(c, "Tb"));
  KRT_TRY(tf_require_float_type(c, "Tout"));
  int ta, tb;
  KRT_TRY(tf_attr_bool(c, ta_key, 1, 0, &ta));
  KRT_TRY(tf_attr_bool(c, tb_key, 1, 0, &tb));
  tf_tensor *bt = c->inputs[1];
  int ids[2];
  KRT_TRY(tf_value(c, c->inputs[0], &ids[0]));
  if (c->t->g->values[ids[0]].rank < 2 || tf_rank(c, bt) < 2)
    return tf_node_error(c, KRT_ERR_SHAPE, "operands must have rank 2 or more");
  if (bt->is_static && !bt->is_int && bt->rank == 2 && !ta && c->t->g->values[ids[0]].rank == 2) {
    if (tb) {
      int64_t d[2] = {bt->dims[1], bt->dims[0]};
      int64_t n = tf_elements(2, bt->dims);
      float *w = malloc((size_t)(n ? n : 1) * sizeof *w);
      if (!w) return krt_error_oom("matmul");
      for (int64_t i = 0; i < bt->dims[0]; i++)
        for (int64_t j = 0; j < bt->dims[1]; j++) w[j * bt->dims[0] + i] = bt->floats[i * bt->dims[1] + j];
      krt_status *s = tf_const(c, "/kernel", 2, d, w, &ids[1]);
      free(w);
      KRT_TRY(s);
    } else {
      KRT_TRY(tf_value(c, bt, &ids[1]));
    }
    ir_attrs a;
    memset(&a, 0, sizeof a);
    int y;
    KRT_TRY(tf_emit(c, IR_OP_DENSE, "", ids, 2, &a, &y));
    return tf_set_output_value(c, 0, y);
  }
  KRT_TRY(tf_value(c, bt, &ids[1]));
  if (ta) KRT_TRY(swap_last_two(c, ids[0], "/transpose_a", &ids[0]));
  if (tb) KRT_TRY(swap_last_two(c, ids[1], "/transpose_b", &ids[1]));
  int y;
  KRT_TRY(tf_emit(c, IR_OP_MATMUL, "", ids, 2, NULL, &y));
  return tf_set_output_value(c, 0, y);
}

krt_status *tf_convert_matmul(tf_op_call *c) { return convert_matmul(c, "transpose_a", "transpose_b"); }
krt_status *tf_convert_batch_matmul(tf_op_call *c) { return convert_matmul(c, "adj_x", "adj_y"); }

/* ---- elementwise -------------------------------------------------------------------------- */

krt_status *tf_convert_activation(tf_op_call *c) {
  if (c->n_inputs != 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  static const struct {
    const char *op;
    ir_act_kind kind;
  } table[] = {{"Relu", IR_ACT_RELU},       {"Relu6", IR_ACT_RELU},     {"LeakyRelu", IR_ACT_RELU},
               {"Elu", IR_ACT_ELU},         {"Selu", IR_ACT_SELU},      {"Sigmoid", IR_ACT_SIGMOID},
               {"Tanh", IR_ACT_TANH},       {"Softplus", IR_ACT_SOFTPLUS},
               {"Softsign", IR_ACT_SOFTSIGN}, {"Square", IR_ACT_SQUARE}, {"Sqrt", IR_ACT_SQRT},
               {"Rsqrt", IR_ACT_RSQRT},     {"Exp", IR_ACT_EXPONENTIAL}, {"Log", IR_ACT_LOG},
               {"Neg", IR_ACT_NEG},         {"Abs", IR_ACT_ABS},        {"Erf", IR_ACT_ERF},
               {"Sin", IR_ACT_SIN},         {"Cos", IR_ACT_COS},        {"Tan", IR_ACT_TAN},
               {"Asin", IR_ACT_ASIN},       {"Acos", IR_ACT_ACOS},      {"Atan", IR_ACT_ATAN},
               {"Sinh", IR_ACT_SINH},       {"Cosh", IR_ACT_COSH},      {"Asinh", IR_ACT_ASINH},
               {"Acosh", IR_ACT_ACOSH},     {"Atanh", IR_ACT_ATANH},    {"Log1p", IR_ACT_LOG1P},
               {"Expm1", IR_ACT_EXPM1},     {"Erfc", IR_ACT_ERFC},      {"Round", IR_ACT_ROUND},
               {"Rint", IR_ACT_ROUND},      {"Floor", IR_ACT_FLOOR},    {"Ceil", IR_ACT_CEIL},
               {"Sign", IR_ACT_SIGN}};
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  int found = 0;
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strcmp(c->op, table[i].op) == 0) a.act.kind = table[i].kind, found = 1;
  if (!found) return tf_node_error(c, KRT_ERR_INTERNAL, "no activation for this op");
  if (a.act.kind == IR_ACT_RELU) a.act.max_value = strcmp(c->op, "Relu6") == 0 ? 6.0f : INFINITY;
  if (strcmp(c->op, "LeakyRelu") == 0) KRT_TRY(tf_attr_float(c, "alpha", 1, 0.2f, &a.act.alpha));
  if (a.act.kind == IR_ACT_ELU) a.act.alpha = 1.0f;
  int x, y;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  KRT_TRY(tf_emit(c, IR_OP_ACTIVATION, "", &x, 1, &a, &y));
  return tf_set_output_value(c, 0, y);
}

krt_status *tf_convert_softmax(tf_op_call *c) {
  if (c->n_inputs != 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  int x, y;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.n_axes = 1;
  a.axes[0] = c->t->g->values[x].rank - 1;
  if (a.axes[0] < 0) return tf_node_error(c, KRT_ERR_SHAPE, "softmax of a scalar");
  KRT_TRY(tf_emit(c, strcmp(c->op, "LogSoftmax") == 0 ? IR_OP_LOG_SOFTMAX : IR_OP_SOFTMAX, "", &x,
                  1, &a, &y));
  return tf_set_output_value(c, 0, y);
}

/* Elementwise integer arithmetic on static data, numpy broadcasting. */
static krt_status *fold_binary_ints(tf_op_call *c, const tf_tensor *a, const tf_tensor *b) {
  int rank = a->rank > b->rank ? a->rank : b->rank;
  int64_t dims[KRT_MAX_RANK];
  for (int i = 0; i < rank; i++) {
    int64_t da = i - (rank - a->rank) >= 0 ? a->dims[i - (rank - a->rank)] : 1;
    int64_t db = i - (rank - b->rank) >= 0 ? b->dims[i - (rank - b->rank)] : 1;
    if (da != db && da != 1 && db != 1) return tf_node_error(c, KRT_ERR_SHAPE, "shapes do not broadcast");
    dims[i] = da == 1 ? db : da;
  }
  int64_t n = tf_elements(rank, dims);
  int64_t *out = malloc((size_t)(n ? n : 1) * sizeof *out);
  if (!out) return krt_error_oom("arithmetic");
  int64_t idx[KRT_MAX_RANK] = {0};
  for (int64_t o = 0; o < n; o++) {
    int64_t ia = 0, ib = 0;
    for (int i = 0; i < rank; i++) {
      int ka = i - (rank - a->rank), kb = i - (rank - b->rank);
      if (ka >= 0) ia = ia * a->dims[ka] + (a->dims[ka] == 1 ? 0 : idx[i]);
      if (kb >= 0) ib = ib * b->dims[kb] + (b->dims[kb] == 1 ? 0 : idx[i]);
    }
    int64_t x = a->ints[ia], y = b->ints[ib], r;
    if (x == TF_BATCH_DIM || y == TF_BATCH_DIM) {
      free(out);
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "computes with the batch size");
    }
    const char *op = c->op;
    if (strcmp(op, "Add") == 0 || strcmp(op, "AddV2") == 0)
      r = x + y;
    else if (strcmp(op, "Sub") == 0)
      r = x - y;
    else if (strcmp(op, "Mul") == 0)
      r = x * y;
    else if (strcmp(op, "Maximum") == 0)
      r = x > y ? x : y;
    else if (strcmp(op, "Minimum") == 0)
      r = x < y ? x : y;
    else if ((strcmp(op, "FloorDiv") == 0 || strcmp(op, "RealDiv") == 0) && y != 0)
      r = x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
    else if (strcmp(op, "FloorMod") == 0 && y != 0)
      r = x % y + ((x % y != 0) && ((x % y < 0) != (y < 0)) ? y : 0);
    else if (strcmp(op, "TruncateDiv") == 0 && y != 0)
      r = x / y; /* C division truncates */
    else if (strcmp(op, "TruncateMod") == 0 && y != 0)
      r = x % y;
    else {
      free(out);
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "integer %s", op);
    }
    out[o] = r;
    for (int i = rank - 1; i >= 0; i--) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
  return tf_set_output_ints(c, 0, rank, dims, out);
}

krt_status *tf_convert_binary(tf_op_call *c) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  tf_tensor *p = c->inputs[0], *q = c->inputs[1];
  if (p->value < 0 && q->value < 0 && p->is_int && q->is_int) return fold_binary_ints(c, p, q);
  KRT_TRY(tf_require_float_type(c, "T"));
  static const struct {
    const char *op;
    ir_binary_kind kind;
  } table[] = {{"Add", IR_BINARY_ADD},     {"AddV2", IR_BINARY_ADD},   {"Sub", IR_BINARY_SUB},
               {"Mul", IR_BINARY_MUL},     {"RealDiv", IR_BINARY_DIV}, {"Div", IR_BINARY_DIV},
               {"Maximum", IR_BINARY_MAX}, {"Minimum", IR_BINARY_MIN}, {"Pow", IR_BINARY_POW},
               {"SquaredDifference", IR_BINARY_SUB}, {"FloorDiv", IR_BINARY_FLOOR_DIV},
               {"FloorMod", IR_BINARY_FLOOR_MOD}, {"TruncateMod", IR_BINARY_TRUNC_MOD},
               {"Atan2", IR_BINARY_ATAN2}};
  ir_attrs a;
  memset(&a, 0, sizeof a);
  int found = 0;
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strcmp(c->op, table[i].op) == 0) a.binary = table[i].kind, found = 1;
  if (!found) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "this op on float tensors");
  int ids[2], y;
  KRT_TRY(tf_value(c, p, &ids[0]));
  KRT_TRY(tf_value(c, q, &ids[1]));
  int squared = strcmp(c->op, "SquaredDifference") == 0;
  KRT_TRY(tf_emit(c, IR_OP_BINARY, squared ? "/difference" : "", ids, 2, &a, &y));
  if (squared) {
    ir_attrs s;
    memset(&s, 0, sizeof s);
    s.act = ir_act_none();
    s.act.kind = IR_ACT_SQUARE;
    KRT_TRY(tf_emit(c, IR_OP_ACTIVATION, "", &y, 1, &s, &y));
  }
  return tf_set_output_value(c, 0, y);
}

/* Reciprocal, Inv: 1 / x. */
krt_status *tf_convert_reciprocal(tf_op_call *c) {
  if (c->n_inputs != 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  static const float one = 1.0f;
  int ids[2], y;
  KRT_TRY(tf_const(c, "/one", 0, NULL, &one, &ids[0]));
  KRT_TRY(tf_value(c, c->inputs[0], &ids[1]));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.binary = IR_BINARY_DIV;
  KRT_TRY(tf_emit(c, IR_OP_BINARY, "", ids, 2, &a, &y));
  return tf_set_output_value(c, 0, y);
}

krt_status *tf_convert_add_n(tf_op_call *c) {
  if (c->n_inputs < 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has no inputs");
  KRT_TRY(tf_require_float_type(c, "T"));
  int y;
  KRT_TRY(tf_value(c, c->inputs[0], &y));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.binary = IR_BINARY_ADD;
  for (int i = 1; i < c->n_inputs; i++) {
    int ids[2] = {y, -1};
    KRT_TRY(tf_value(c, c->inputs[i], &ids[1]));
    char suffix[32] = "";
    if (i < c->n_inputs - 1) snprintf(suffix, sizeof suffix, "/add_%d", i);
    KRT_TRY(tf_emit(c, IR_OP_BINARY, suffix, ids, 2, &a, &y));
  }
  return tf_set_output_value(c, 0, y);
}

/* FusedBatchNorm(V2/V3) (x, scale, offset, mean, variance), inference only. Output 0 only: the
 * others are training statistics. */
krt_status *tf_convert_fused_batch_norm(tf_op_call *c) {
  if (c->n_inputs != 5) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  int training;
  KRT_TRY(tf_attr_bool(c, "is_training", 1, 1, &training));
  if (training)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "attribute 'is_training' is true (batch statistics); krt runs inference "
                         "with the stored mean and variance");
  if (tf_attr(c, "U")) KRT_TRY(tf_require_float_type(c, "U"));
  spatial_format f = {0}; /* filled by the format check; zeroed for -O3's flow analysis */
  KRT_TRY(read_format(c, &f));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  KRT_TRY(tf_attr_float(c, "epsilon", 1, 1e-4f, &a.epsilon));
  int ids[5];
  for (int i = 0; i < 5; i++) KRT_TRY(tf_value(c, c->inputs[i], &ids[i]));
  int rank = c->t->g->values[ids[0]].rank;
  a.axis = f.nchw ? 1 : rank - 1;
  int y;
  KRT_TRY(tf_emit(c, IR_OP_BATCHNORM, "", ids, 5, &a, &y));
  return tf_set_output_value(c, 0, y);
}

/* MaxPool / AvgPool (ksize, strides, padding, data_format). */
krt_status *tf_convert_pool(tf_op_call *c) {
  if (c->n_inputs != 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  spatial_format f = {0}; /* filled by the format check; zeroed for -O3's flow analysis */
  KRT_TRY(read_format(c, &f));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.spatial = 2;
  a.pool = strcmp(c->op, "MaxPool") == 0 ? IR_POOL_MAX : IR_POOL_AVG;
  KRT_TRY(read_hw(c, &f, "ksize", 1, a.kernel));
  KRT_TRY(read_hw(c, &f, "strides", 1, a.stride));
  int ones[2] = {1, 1}, x;
  int64_t hw[2];
  KRT_TRY(nhwc_input(c, &f, &x, hw));
  KRT_TRY(read_padding(c, &f, hw, a.kernel, a.stride, ones, &a));
  int y;
  KRT_TRY(tf_emit(c, IR_OP_POOL, "", &x, 1, &a, &y));
  return finish_spatial(c, &f, y);
}

/* Mean, Sum, Max, Min (x, reduction_indices; keep_dims). Min is -max(-x). */
krt_status *tf_convert_reduce(tf_op_call *c) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  const int64_t *axes;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &axes, &n));
  int keep;
  KRT_TRY(tf_attr_bool(c, "keep_dims", 1, 0, &keep));
  int x;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  int rank = c->t->g->values[x].rank;
  ir_attrs a;
  memset(&a, 0, sizeof a);
  int chosen[KRT_MAX_RANK] = {0};
  for (int64_t i = 0; i < n; i++) {
    if (axes[i] < -rank || axes[i] >= rank)
      return tf_node_error(c, KRT_ERR_BAD_FILE, "axis %lld for rank %d", (long long)axes[i], rank);
    chosen[axes[i] < 0 ? axes[i] + rank : axes[i]] = 1;
  }
  for (int i = 0; i < rank; i++)
    if (chosen[i]) a.axes[a.n_axes++] = i;
  if (a.n_axes == 0) return tf_set_output_value(c, 0, x);
  a.keepdims = keep;
  /* Any and All: Max and Min of the values 0 and 1 that stand for bools (tf_convert_compare) */
  int is_min = strcmp(c->op, "Min") == 0 || strcmp(c->op, "All") == 0;
  a.reduce = strcmp(c->op, "Mean") == 0 ? IR_REDUCE_MEAN
             : strcmp(c->op, "Sum") == 0 ? IR_REDUCE_SUM
                                         : IR_REDUCE_MAX;
  ir_attrs neg;
  memset(&neg, 0, sizeof neg);
  neg.act = ir_act_none();
  neg.act.kind = IR_ACT_NEG;
  if (is_min) KRT_TRY(tf_emit(c, IR_OP_ACTIVATION, "/negate", &x, 1, &neg, &x));
  int y;
  KRT_TRY(tf_emit(c, IR_OP_REDUCE, is_min ? "/max" : "", &x, 1, &a, &y));
  if (is_min) KRT_TRY(tf_emit(c, IR_OP_ACTIVATION, "", &y, 1, &neg, &y));
  return tf_set_output_value(c, 0, y);
}

/* ResizeNearestNeighbor / ResizeBilinear (x NHWC, size[2]) by whole factors. align_corners is
 * refused; bilinear must use half-pixel centres (TensorFlow 2's resize), nearest gives the same
 * pixels either way for a whole factor. */
krt_status *tf_convert_resize(tf_op_call *c) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  int align, half;
  KRT_TRY(tf_attr_bool(c, "align_corners", 1, 0, &align));
  KRT_TRY(tf_attr_bool(c, "half_pixel_centers", 1, 0, &half));
  int bilinear = strcmp(c->op, "ResizeBilinear") == 0;
  if (align) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "attribute 'align_corners' is true");
  if (bilinear && !half)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "attribute 'half_pixel_centers' is false (TensorFlow 1's resize); krt "
                         "resizes with half-pixel centres");
  const int64_t *size;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &size, &n));
  int x;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  const ir_value *v = &c->t->g->values[x];
  if (v->rank != 4 || n != 2) return tf_node_error(c, KRT_ERR_SHAPE, "resizes a tensor of rank %d", v->rank);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.spatial = 2;
  a.resize = bilinear ? IR_RESIZE_BILINEAR : IR_RESIZE_NEAREST;
  for (int i = 0; i < 2; i++) {
    int64_t in = v->dims[1 + i];
    if (in <= 0 || size[i] % in || size[i] / in < 1 || size[i] / in > 4096)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "resizes %lld to %lld, not by a whole factor", (long long)in,
                           (long long)size[i]);
    a.scale[i] = (int)(size[i] / in);
  }
  int y;
  KRT_TRY(tf_emit(c, IR_OP_RESIZE, "", &x, 1, &a, &y));
  return tf_set_output_value(c, 0, y);
}

/* ---- booleans ------------------------------------------------------------------------------
 *
 * A computed bool tensor is a float32 IR value holding exactly 1.0 (true) and 0.0 (false), as
 * the IR's comparisons give (graph.h). Only the converters below make one (a bool Placeholder is
 * refused), and every op that computes on floats refuses T = bool, so no other op sees one. */

static krt_status *emit_binary(tf_op_call *c, ir_binary_kind kind, int a, int b, const char *suffix,
                               int *out) {
  ir_attrs at;
  memset(&at, 0, sizeof at);
  at.binary = kind;
  return tf_emit(c, IR_OP_BINARY, suffix, (const int[]){a, b}, 2, &at, out);
}

/* Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual on floats. */
krt_status *tf_convert_compare(tf_op_call *c) {
  if (c->n_inputs != 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  int strict_shapes;
  KRT_TRY(tf_attr_bool(c, "incompatible_shape_error", 1, 1, &strict_shapes));
  if (!strict_shapes)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "attribute 'incompatible_shape_error' is false (a constant result for "
                         "shapes that do not broadcast)");
  static const struct {
    const char *op;
    ir_binary_kind kind;
  } table[] = {{"Equal", IR_BINARY_EQUAL},         {"NotEqual", IR_BINARY_NOT_EQUAL},
               {"Less", IR_BINARY_LESS},           {"LessEqual", IR_BINARY_LESS_EQUAL},
               {"Greater", IR_BINARY_GREATER},     {"GreaterEqual", IR_BINARY_GREATER_EQUAL}};
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strcmp(c->op, table[i].op) == 0) {
      int a, b, y;
      KRT_TRY(tf_value(c, c->inputs[0], &a));
      KRT_TRY(tf_value(c, c->inputs[1], &b));
      KRT_TRY(emit_binary(c, table[i].kind, a, b, "", &y));
      return tf_set_output_value(c, 0, y);
    }
  return tf_node_error(c, KRT_ERR_INTERNAL, "no comparison for this op");
}

/* IsNan(x) = x != x; IsInf(x) = |x| == inf; IsFinite(x) = |x| < inf (false for NaN). */
krt_status *tf_convert_is_special(tf_op_call *c) {
  if (c->n_inputs != 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  int x, y;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  if (strcmp(c->op, "IsNan") == 0) {
    KRT_TRY(emit_binary(c, IR_BINARY_NOT_EQUAL, x, x, "", &y));
    return tf_set_output_value(c, 0, y);
  }
  ir_attrs abs_attrs;
  memset(&abs_attrs, 0, sizeof abs_attrs);
  abs_attrs.act = ir_act_none();
  abs_attrs.act.kind = IR_ACT_ABS;
  static const float inf = INFINITY;
  int m, k;
  KRT_TRY(tf_emit(c, IR_OP_ACTIVATION, "/abs", &x, 1, &abs_attrs, &m));
  KRT_TRY(tf_const(c, "/inf", 0, NULL, &inf, &k));
  KRT_TRY(emit_binary(c, strcmp(c->op, "IsInf") == 0 ? IR_BINARY_EQUAL : IR_BINARY_LESS, m, k, "",
                      &y));
  return tf_set_output_value(c, 0, y);
}

/* LogicalNot(a) = a == 0, LogicalAnd = a * b, LogicalOr = max(a, b), on values 0 and 1. */
krt_status *tf_convert_logical(tf_op_call *c) {
  int not = strcmp(c->op, "LogicalNot") == 0;
  if (c->n_inputs != (not ? 1 : 2))
    return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  int a, b, y;
  KRT_TRY(tf_value(c, c->inputs[0], &a));
  if (not) {
    static const float zero = 0.0f;
    KRT_TRY(tf_const(c, "/zero", 0, NULL, &zero, &b));
    KRT_TRY(emit_binary(c, IR_BINARY_EQUAL, a, b, "", &y));
  } else {
    KRT_TRY(tf_value(c, c->inputs[1], &b));
    KRT_TRY(emit_binary(c, strcmp(c->op, "LogicalAnd") == 0 ? IR_BINARY_MUL : IR_BINARY_MAX, a, b,
                        "", &y));
  }
  return tf_set_output_value(c, 0, y);
}

/* Select / SelectV2(cond, t, e) = WHERE_TRUE(t, cond) + WHERE_FALSE(e, cond): exact, the other
 * term being 0 (graph.h). SelectV2 broadcasts as numpy, which Binary does; Select's rank-1
 * condition over the first axis of a higher-rank t is not numpy's rule and is refused. */
krt_status *tf_convert_select(tf_op_call *c) {
  if (c->n_inputs != 3) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  KRT_TRY(tf_require_float_type(c, "T"));
  int cond, t, e, p, q, y;
  KRT_TRY(tf_value(c, c->inputs[0], &cond));
  KRT_TRY(tf_value(c, c->inputs[1], &t));
  KRT_TRY(tf_value(c, c->inputs[2], &e));
  const ir_value *vc = &c->t->g->values[cond], *vt = &c->t->g->values[t];
  if (strcmp(c->op, "Select") == 0 && vc->rank != vt->rank)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "a condition of rank %d for values of rank %d (Select's row-wise form)",
                         vc->rank, vt->rank);
  KRT_TRY(emit_binary(c, IR_BINARY_WHERE_TRUE, t, cond, "/true", &p));
  KRT_TRY(emit_binary(c, IR_BINARY_WHERE_FALSE, e, cond, "/false", &q));
  KRT_TRY(emit_binary(c, IR_BINARY_ADD, p, q, "", &y));
  return tf_set_output_value(c, 0, y);
}
