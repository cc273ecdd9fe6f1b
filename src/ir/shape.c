/* Shape inference: checks each node's inputs and attributes against its op (ops.def) and sets its
 * output value's dtype, rank, dims, batched flag and layout.
 *
 * Unknown dimensions (-1 on a non-batch axis: a model input declared (None, None, 3)) flow through
 * ops that do not need their size (elementwise ops, the spatial axes of convolutions and pools,
 * concat on other axes, ...) and are an error where the op needs the number (Dense's K, Reshape's
 * element count, a slice bound). ir_infer_all runs again once the caller has fixed the input
 * shapes, so every check is then made with the real numbers.
 *
 * Codes: KRT_ERR_SHAPE for shapes that do not fit (a model can cause these), KRT_ERR_INTERNAL for
 * attribute values no importer or pass should produce (a krt bug). Every message starts with
 * "node 'NAME' (Op): ".
 *
 * Every graph input is converted to float32 before the first node runs, so inputs of any numeric
 * dtype are accepted and every output is FLOAT32.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"

/* No axis of a real tensor is this long. Bounding dims, pads and window attributes keeps every
 * size formula below (a few products and sums of them) inside int64. */
#define DIM_LIMIT ((int64_t)1 << 40)
#define WINDOW_LIMIT (1 << 20)

typedef struct shape {
  krt_dtype dtype; /* the op's infer_ function may set it; left INVALID (0) it is FLOAT32 */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int batched;
  ir_layout layout;
} shape;

typedef struct infer {
  const ir_graph *g;
  const ir_node *n;
  shape *out; /* n->n_outputs shapes: out[k] becomes output k's value */
} infer;

/* ---- messages ---------------------------------------------------------------------------- */

static krt_status *node_error(const infer *c, krt_code code, const char *fmt, ...) KRT_PRINTF(3, 4);

static krt_status *node_error(const infer *c, krt_code code, const char *fmt, ...) {
  char stack[512];
  char *detail = stack, *heap = NULL;
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(stack, sizeof stack, fmt, ap);
  va_end(ap);
  if (len >= (int)sizeof stack && (heap = malloc((size_t)len + 1)) != NULL) {
    va_start(ap, fmt);
    vsnprintf(heap, (size_t)len + 1, fmt, ap);
    va_end(ap);
    detail = heap;
  }
  krt_status *s = krt_error(code, "node '%s' (%s): %s", c->n->name ? c->n->name : "?",
                            ir_op_name(c->n->op), detail);
  free(heap);
  return s;
}

/* "[Nx28x28x1]" for messages: N the batch, ? unknown. */
typedef struct dims_text {
  char s[160];
} dims_text;

static dims_text value_dims(const ir_value *v) {
  dims_text t;
  ir_format_value_dims(v, t.s, sizeof t.s);
  return t;
}

static dims_text plain_dims(const int64_t *dims, int rank) {
  dims_text t;
  ir_format_dims(dims, rank, t.s, sizeof t.s);
  return t;
}

static const ir_value *input(const infer *c, int i) {
  return &c->g->values[c->n->inputs[i]];
}

static const char *input_name(const infer *c, int i) {
  const char *name = input(c, i)->name;
  return name ? name : "?";
}

static int is_batch_axis(const ir_value *v, int axis) {
  return v->batched && axis == 0;
}

static krt_status *unknown_dim_error(const infer *c, int i, int axis) {
  return node_error(c, KRT_ERR_SHAPE,
                    "input '%s' %s dimension %d is unknown; give the input shape "
                    "(krt build --input NAME:DIMS)",
                    input_name(c, i), value_dims(input(c, i)).s, axis);
}

/* Input i's size on `axis`, which the op needs as a number. */
static krt_status *known_dim(const infer *c, int i, int axis, int64_t *size) {
  const ir_value *v = input(c, i);
  if (is_batch_axis(v, axis))
    return node_error(c, KRT_ERR_SHAPE, "input '%s' %s: the op needs axis 0, the batch",
                      input_name(c, i), value_dims(v).s);
  if (v->dims[axis] < 0) return unknown_dim_error(c, i, axis);
  *size = v->dims[axis];
  return NULL;
}

static krt_status *require_rank(const infer *c, int i, int rank, const char *layout) {
  const ir_value *v = input(c, i);
  if (v->rank != rank)
    return node_error(c, KRT_ERR_SHAPE, "input '%s' is %s (rank %d); expected rank %d %s",
                      input_name(c, i), value_dims(v).s, v->rank, rank, layout);
  return NULL;
}

/* A weight-like input (kernel, bias, gamma, table): not batched, every dim known, rank `rank`,
 * and dims equal to `expect` wherever expect >= 0. `layout` names the axes for the reader. */
static krt_status *expect_weight(const infer *c, int i, const char *role, int rank,
                                 const int64_t *expect, const char *layout) {
  const ir_value *w = input(c, i);
  int ok = !w->batched && w->rank == rank;
  for (int k = 0; ok && k < rank; k++)
    ok = w->dims[k] >= 0 && (expect[k] < 0 || w->dims[k] == expect[k]);
  if (ok) return NULL;
  if (w->batched)
    return node_error(c, KRT_ERR_SHAPE, "%s '%s' %s is batched; it must be a constant %s", role,
                      input_name(c, i), value_dims(w).s, layout);
  return node_error(c, KRT_ERR_SHAPE, "%s '%s' is %s, expected %s %s", role, input_name(c, i),
                    value_dims(w).s, plain_dims(expect, rank).s, layout);
}

/* ---- shared checks ----------------------------------------------------------------------- */

static int op_uses_activation(ir_op op) {
  return (ir_op_attr_groups(op) & IR_A_ACT) != 0;
}

static int op_takes_residual(ir_op op) {
  return (ir_op_attr_groups(op) & IR_A_RESIDUAL) != 0;
}

static krt_status *check_input_count(const infer *c) {
  int lo = ir_op_min_inputs(c->n->op), hi = ir_op_max_inputs(c->n->op);
  /* [x, W, b?], or [x, W, b, r] once a residual add is fused in (ops.def) */
  if (op_takes_residual(c->n->op)) lo = c->n->attrs.residual ? 4 : 2, hi = c->n->attrs.residual ? 4 : 3;
  int k = c->n->n_inputs;
  if (k >= lo && k <= hi) return NULL;
  if (lo == hi) return node_error(c, KRT_ERR_INTERNAL, "takes %d inputs, got %d", lo, k);
  if (hi == lo + 1)
    return node_error(c, KRT_ERR_INTERNAL, "takes %d or %d inputs, got %d", lo, hi, k);
  return node_error(c, KRT_ERR_INTERNAL, "takes at least %d input, got %d", lo, k);
}

/* A field the op does not read would be ignored by every kernel and left out of engine files. */
static krt_status *check_stray_attrs(const infer *c) {
  const char *key = ir_node_stray_attr(c->n);
  if (key)
    return node_error(c, KRT_ERR_INTERNAL, "sets attribute '%s', which %s does not read", key,
                      ir_op_name(c->n->op));
  return NULL;
}

/* What every input value must satisfy whatever the op. */
static krt_status *check_input_value(const infer *c, int i) {
  const ir_value *v = input(c, i);
  if (v->rank < 0 || v->rank > KRT_MAX_RANK)
    return node_error(c, KRT_ERR_INTERNAL, "input '%s' has rank %d", input_name(c, i), v->rank);
  if (krt_dtype_size(v->dtype) == 0)
    return node_error(c, KRT_ERR_INTERNAL, "input '%s' has no valid dtype (%d)", input_name(c, i),
                      (int)v->dtype);
  if (v->batched && (v->rank < 1 || v->data))
    return node_error(c, KRT_ERR_INTERNAL, "input '%s' is batched but %s", input_name(c, i),
                      v->data ? "a constant" : "of rank 0");
  for (int k = 0; k < v->rank; k++)
    if (v->dims[k] < -1 || v->dims[k] > DIM_LIMIT)
      return node_error(c, KRT_ERR_SHAPE, "input '%s' has dimension %d of size %lld",
                        input_name(c, i), k, (long long)v->dims[k]);
  return NULL;
}

static krt_status *check_residual_flag(const infer *c) {
  int r = c->n->attrs.residual;
  if (r != 0 && r != 1) return node_error(c, KRT_ERR_INTERNAL, "residual flag %d is not 0 or 1", r);
  return NULL;
}

/* A fused residual r (input 3) is added to the output as it is: same rank, batch and dims, no
 * broadcasting. Runs once the output shape is known. */
static krt_status *check_residual_shape(const infer *c) {
  if (!c->n->attrs.residual) return NULL;
  const ir_value *r = input(c, 3);
  int ok = r->rank == c->out->rank && r->batched == c->out->batched;
  for (int k = r->batched ? 1 : 0; ok && k < r->rank; k++) ok = r->dims[k] == c->out->dims[k];
  if (ok) return NULL;
  ir_value out;
  memset(&out, 0, sizeof out);
  out.rank = c->out->rank;
  memcpy(out.dims, c->out->dims, sizeof out.dims);
  out.batched = c->out->batched;
  return node_error(c, KRT_ERR_SHAPE,
                    "residual '%s' %s%s does not match the output %s%s; a fused residual is "
                    "added without broadcasting",
                    input_name(c, 3), value_dims(r).s, r->batched ? "" : " (not batched)",
                    value_dims(&out).s, out.batched ? "" : " (not batched)");
}

static krt_status *check_activation(const infer *c) {
  const ir_activation *a = &c->n->attrs.act;
  /* An op without one has kind NONE (check_stray_attrs) and its parameters mean nothing. */
  if (!op_uses_activation(c->n->op)) return NULL;
  if ((int)a->kind < IR_ACT_NONE || (int)a->kind > IR_ACT_LAST)
    return node_error(c, KRT_ERR_INTERNAL, "unknown activation %d", (int)a->kind);
  if (isnan(a->alpha) || isnan(a->beta) || isnan(a->max_value) || isnan(a->threshold))
    return node_error(c, KRT_ERR_INTERNAL, "activation %s has a NaN parameter",
                      ir_act_name(a->kind));
  return NULL;
}

/* Axis-list attributes (Reduce, Softmax, LayerNorm): in range, strictly ascending, and not the
 * batch. `over_batch` completes "this would ..." for the message. */
static krt_status *check_axes(const infer *c, const char *over_batch) {
  const ir_attrs *a = &c->n->attrs;
  const ir_value *x = input(c, 0);
  if (a->n_axes < 1 || a->n_axes > KRT_MAX_RANK)
    return node_error(c, KRT_ERR_INTERNAL, "n_axes %d is outside 1..%d", a->n_axes, KRT_MAX_RANK);
  for (int k = 0; k < a->n_axes; k++) {
    if (a->axes[k] < 0 || a->axes[k] >= x->rank)
      return node_error(c, KRT_ERR_SHAPE, "axis %d is outside input '%s' %s (rank %d)", a->axes[k],
                        input_name(c, 0), value_dims(x).s, x->rank);
    if (k > 0 && a->axes[k] <= a->axes[k - 1])
      return node_error(c, KRT_ERR_INTERNAL, "axes are not strictly ascending (%d after %d)",
                        a->axes[k], a->axes[k - 1]);
  }
  if (x->batched && a->axes[0] == 0)
    return node_error(c, KRT_ERR_SHAPE, "axis 0 of input '%s' %s is the batch: this would %s",
                      input_name(c, 0), value_dims(x).s, over_batch);
  return NULL;
}

/* Window attributes of Conv, ConvTranspose and Pool; x must be [N, spatial..., C]. */
static krt_status *check_window(const infer *c, int uses_dilation) {
  const ir_attrs *a = &c->n->attrs;
  if (a->spatial < 1 || a->spatial > IR_MAX_SPATIAL)
    return node_error(c, KRT_ERR_INTERNAL, "spatial %d is outside 1..%d", a->spatial,
                      IR_MAX_SPATIAL);
  for (int k = 0; k < a->spatial; k++) {
    if (a->kernel[k] < 1 || a->kernel[k] > WINDOW_LIMIT || a->stride[k] < 1 ||
        a->stride[k] > WINDOW_LIMIT ||
        (uses_dilation && (a->dilation[k] < 1 || a->dilation[k] > WINDOW_LIMIT)))
      return node_error(
          c, KRT_ERR_INTERNAL, "spatial axis %d: kernel %d, stride %d, dilation %d must be 1..%d",
          k, a->kernel[k], a->stride[k], uses_dilation ? a->dilation[k] : 1, WINDOW_LIMIT);
    if (a->pad_begin[k] < -DIM_LIMIT || a->pad_begin[k] > DIM_LIMIT || a->pad_end[k] < -DIM_LIMIT ||
        a->pad_end[k] > DIM_LIMIT)
      return node_error(c, KRT_ERR_INTERNAL, "spatial axis %d: padding %lld/%lld out of range", k,
                        (long long)a->pad_begin[k], (long long)a->pad_end[k]);
  }
  const ir_value *x = input(c, 0);
  KRT_TRY(require_rank(c, 0, a->spatial + 2, "[N, spatial..., C]"));
  for (int k = 1; k <= a->spatial; k++)
    if (x->dims[k] == 0)
      return node_error(c, KRT_ERR_SHAPE, "input '%s' %s is empty on spatial axis %d",
                        input_name(c, 0), value_dims(x).s, k - 1);
  return NULL;
}

/* Output size of a strided window with padding (Conv, Pool); -1 for an unknown input. */
static krt_status *window_output(const infer *c, int axis, int64_t in, int dilation, int64_t *out) {
  const ir_attrs *a = &c->n->attrs;
  if (in < 0) {
    *out = -1;
    return NULL;
  }
  int64_t window = (int64_t)dilation * (a->kernel[axis] - 1) + 1;
  int64_t padded = in + a->pad_begin[axis] + a->pad_end[axis];
  if (padded < window)
    return node_error(c, KRT_ERR_SHAPE,
                      "window %lld larger than padded input %lld on spatial axis %d",
                      (long long)window, (long long)padded, axis);
  *out = (padded - window) / a->stride[axis] + 1;
  return NULL;
}

static void copy_shape(shape *s, const ir_value *v) {
  s->rank = v->rank;
  memcpy(s->dims, v->dims, sizeof s->dims);
  s->batched = v->batched;
  s->layout = v->layout;
}

/* ---- ops --------------------------------------------------------------------------------- */

/* x[..., K], W[K, M], b[M]? -> [..., M] */
static krt_status *infer_dense(infer *c) {
  const ir_value *x = input(c, 0);
  if (x->rank < (x->batched ? 2 : 1))
    return node_error(c, KRT_ERR_SHAPE, "input '%s' %s has no feature axis", input_name(c, 0),
                      value_dims(x).s);
  int64_t k = 0;
  KRT_TRY(known_dim(c, 0, x->rank - 1, &k));
  int64_t w_expect[2] = {k, -1};
  KRT_TRY(expect_weight(c, 1, "kernel", 2, w_expect, "[K, M]"));
  int64_t m = input(c, 1)->dims[1];
  if (c->n->n_inputs >= 3) KRT_TRY(expect_weight(c, 2, "bias", 1, &m, "[M]"));
  copy_shape(c->out, x);
  c->out->dims[x->rank - 1] = m;
  /* Dense over channels keeps a channels-last value channels-last; anything else is features. */
  if (x->layout != IR_LAYOUT_CHANNELS_LAST) c->out->layout = IR_LAYOUT_PLAIN;
  return NULL;
}

/* x[N, S..., Ci], W[k..., Ci/groups, Co], b[Co]? -> [N, S'..., Co] */
static krt_status *infer_conv(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  KRT_TRY(check_window(c, 1));
  int s = a->spatial;
  for (int k = 0; k < s; k++)
    if (a->pad_begin[k] < 0 || a->pad_end[k] < 0)
      return node_error(c, KRT_ERR_INTERNAL, "negative padding %lld/%lld on spatial axis %d",
                        (long long)a->pad_begin[k], (long long)a->pad_end[k], k);
  if (a->groups < 1)
    return node_error(c, KRT_ERR_INTERNAL, "groups %d must be at least 1", a->groups);
  const ir_value *x = input(c, 0);
  int64_t ci = 0;
  KRT_TRY(known_dim(c, 0, s + 1, &ci));
  if (ci % a->groups)
    return node_error(c, KRT_ERR_SHAPE, "input channels %lld are not divisible by groups %d",
                      (long long)ci, a->groups);
  int64_t expect[KRT_MAX_RANK];
  for (int k = 0; k < s; k++) expect[k] = a->kernel[k];
  expect[s] = ci / a->groups;
  expect[s + 1] = -1;
  KRT_TRY(expect_weight(c, 1, "kernel", s + 2, expect, "[k..., Ci/groups, Co]"));
  int64_t co = input(c, 1)->dims[s + 1];
  if (co < 1 || co % a->groups)
    return node_error(c, KRT_ERR_SHAPE,
                      "output channels %lld are not a positive multiple of "
                      "groups %d",
                      (long long)co, a->groups);
  if (c->n->n_inputs >= 3) KRT_TRY(expect_weight(c, 2, "bias", 1, &co, "[Co]"));
  copy_shape(c->out, x);
  for (int k = 0; k < s; k++)
    KRT_TRY(window_output(c, k, x->dims[k + 1], a->dilation[k], &c->out->dims[k + 1]));
  c->out->dims[s + 1] = co;
  c->out->layout = IR_LAYOUT_CHANNELS_LAST;
  return NULL;
}

/* x[N, S..., Ci], W[k..., Co, Ci], b[Co]? -> [N, S'..., Co];
 * S' = (S-1)*stride + dil*(k-1) + 1 - pb - pe, pe < 0 appending zeros. */
static krt_status *infer_conv_transpose(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  KRT_TRY(check_window(c, 1));
  int s = a->spatial;
  if (a->groups > 1)
    return node_error(c, KRT_ERR_INTERNAL, "groups %d: ConvTranspose has no groups", a->groups);
  for (int k = 0; k < s; k++)
    if (a->pad_begin[k] < 0)
      return node_error(c, KRT_ERR_INTERNAL, "negative pad_begin %lld on spatial axis %d",
                        (long long)a->pad_begin[k], k);
  const ir_value *x = input(c, 0);
  int64_t ci = 0;
  KRT_TRY(known_dim(c, 0, s + 1, &ci));
  int64_t expect[KRT_MAX_RANK];
  for (int k = 0; k < s; k++) expect[k] = a->kernel[k];
  expect[s] = -1;
  expect[s + 1] = ci;
  KRT_TRY(expect_weight(c, 1, "kernel", s + 2, expect, "[k..., Co, Ci]"));
  int64_t co = input(c, 1)->dims[s];
  if (co < 1) return node_error(c, KRT_ERR_SHAPE, "kernel has %lld output channels", (long long)co);
  if (c->n->n_inputs >= 3) KRT_TRY(expect_weight(c, 2, "bias", 1, &co, "[Co]"));
  copy_shape(c->out, x);
  for (int k = 0; k < s; k++) {
    int64_t in = x->dims[k + 1];
    if (in < 0) {
      c->out->dims[k + 1] = -1;
      continue;
    }
    int64_t full = (in - 1) * a->stride[k] + (int64_t)a->dilation[k] * (a->kernel[k] - 1) + 1;
    int64_t o = full - a->pad_begin[k] - a->pad_end[k];
    if (o < 1)
      return node_error(c, KRT_ERR_SHAPE,
                        "output size %lld on spatial axis %d (full size %lld, cropped %lld/%lld)",
                        (long long)o, k, (long long)full, (long long)a->pad_begin[k],
                        (long long)a->pad_end[k]);
    c->out->dims[k + 1] = o;
  }
  c->out->dims[s + 1] = co;
  c->out->layout = IR_LAYOUT_CHANNELS_LAST;
  return NULL;
}

/* x[N, S..., C] -> [N, S'..., C]. Padding never counts, so no window may lie wholly in it:
 * pads stay below the window on each side. */
static krt_status *infer_pool(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  KRT_TRY(check_window(c, 0));
  if (a->pool != IR_POOL_MAX && a->pool != IR_POOL_AVG)
    return node_error(c, KRT_ERR_INTERNAL, "unknown pool kind %d", (int)a->pool);
  for (int k = 0; k < a->spatial; k++)
    if (a->pad_begin[k] < 0 || a->pad_end[k] < 0 || a->pad_begin[k] >= a->kernel[k] ||
        a->pad_end[k] >= a->kernel[k])
      return node_error(c, KRT_ERR_INTERNAL,
                        "padding %lld/%lld on spatial axis %d must be 0..%d (below the window)",
                        (long long)a->pad_begin[k], (long long)a->pad_end[k], k, a->kernel[k] - 1);
  const ir_value *x = input(c, 0);
  copy_shape(c->out, x);
  for (int k = 0; k < a->spatial; k++)
    KRT_TRY(window_output(c, k, x->dims[k + 1], 1, &c->out->dims[k + 1]));
  c->out->layout = IR_LAYOUT_CHANNELS_LAST;
  return NULL;
}

static krt_status *infer_reduce(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  if (a->reduce != IR_REDUCE_MEAN && a->reduce != IR_REDUCE_MAX && a->reduce != IR_REDUCE_SUM)
    return node_error(c, KRT_ERR_INTERNAL, "unknown reduce kind %d", (int)a->reduce);
  KRT_TRY(check_axes(c, "reduce the batch"));
  const ir_value *x = input(c, 0);
  int reduced[KRT_MAX_RANK] = {0};
  for (int k = 0; k < a->n_axes; k++) reduced[a->axes[k]] = 1;
  copy_shape(c->out, x);
  if (a->keepdims) {
    for (int k = 0; k < x->rank; k++)
      if (reduced[k]) c->out->dims[k] = 1;
    return NULL;
  }
  int r = 0;
  for (int k = 0; k < x->rank; k++)
    if (!reduced[k]) c->out->dims[r++] = x->dims[k];
  c->out->rank = r;
  c->out->layout = IR_LAYOUT_PLAIN;
  return NULL;
}

static krt_status *check_epsilon(const infer *c) {
  float eps = c->n->attrs.epsilon;
  if (!(eps >= 0.0f) || isinf(eps))
    return node_error(c, KRT_ERR_INTERNAL, "epsilon %g is not a finite non-negative number",
                      (double)eps);
  return NULL;
}

/* x, gamma[C], beta[C], mean[C], var[C] -> like x, C = dims[axis] */
static krt_status *infer_batchnorm(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  const ir_value *x = input(c, 0);
  KRT_TRY(check_epsilon(c));
  if (a->axis < 0 || a->axis >= x->rank)
    return node_error(c, KRT_ERR_SHAPE, "axis %d is outside input '%s' %s", a->axis,
                      input_name(c, 0), value_dims(x).s);
  int64_t channels = 0;
  KRT_TRY(known_dim(c, 0, a->axis, &channels));
  static const char *const roles[] = {"gamma", "beta", "moving mean", "moving variance"};
  for (int i = 1; i < 5; i++) KRT_TRY(expect_weight(c, i, roles[i - 1], 1, &channels, "[C]"));
  copy_shape(c->out, x);
  return NULL;
}

/* x, gamma[P], beta[P] -> like x, P = x's dims at axes (in order) */
static krt_status *infer_layernorm(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  KRT_TRY(check_epsilon(c));
  KRT_TRY(check_axes(c, "normalise across the batch"));
  int64_t p[KRT_MAX_RANK] = {0};
  for (int k = 0; k < a->n_axes; k++) KRT_TRY(known_dim(c, 0, a->axes[k], &p[k]));
  KRT_TRY(expect_weight(c, 1, "gamma", a->n_axes, p, "(the input's dims at the axes)"));
  KRT_TRY(expect_weight(c, 2, "beta", a->n_axes, p, "(the input's dims at the axes)"));
  copy_shape(c->out, input(c, 0));
  return NULL;
}

static krt_status *infer_softmax(infer *c) {
  KRT_TRY(check_axes(c, "mix samples across the batch"));
  copy_shape(c->out, input(c, 0));
  return NULL;
}

/* x[N, d...], alpha[a...] numpy-broadcast to d... (never across axis 0) */
static krt_status *infer_prelu(infer *c) {
  const ir_value *x = input(c, 0), *alpha = input(c, 1);
  int64_t any[KRT_MAX_RANK];
  for (int k = 0; k < KRT_MAX_RANK; k++) any[k] = -1;
  if (x->rank < 1 || alpha->rank > x->rank - 1)
    return node_error(c, KRT_ERR_SHAPE,
                      "alpha '%s' %s has more axes than input '%s' %s less "
                      "its axis 0",
                      input_name(c, 1), value_dims(alpha).s, input_name(c, 0), value_dims(x).s);
  KRT_TRY(expect_weight(c, 1, "alpha", alpha->rank, any, "(broadcast to the input's axes 1..)"));
  for (int k = 0; k < alpha->rank; k++) {
    int64_t a = alpha->dims[k], d = x->dims[x->rank - alpha->rank + k];
    if (a != 1 && d >= 0 && a != d)
      return node_error(c, KRT_ERR_SHAPE, "alpha '%s' %s does not broadcast to input '%s' %s",
                        input_name(c, 1), value_dims(alpha).s, input_name(c, 0), value_dims(x).s);
  }
  copy_shape(c->out, x);
  return NULL;
}

/* Inputs 0 and 1 broadcast right-aligned to `rank` axes: a batched operand's axis 0 (the batch)
 * must be the output's axis 0, so the other operand may not have more axes, and where it has as
 * many and is not batched its axis 0 must be 1 (Binary, and MatMul's leading axes). */
static krt_status *check_batch_alignment(const infer *c, int rank) {
  const ir_value *v[2] = {input(c, 0), input(c, 1)};
  for (int i = 0; i < 2; i++) {
    const ir_value *o = v[1 - i];
    if (v[i]->batched && v[i]->rank < rank)
      return node_error(c, KRT_ERR_SHAPE,
                        "input '%s' %s has more axes than batched input '%s' %s: its leading "
                        "axes would line up with the batch",
                        input_name(c, 1 - i), value_dims(o).s, input_name(c, i),
                        value_dims(v[i]).s);
    if (v[i]->batched && !o->batched && o->rank == rank && o->dims[0] != 1)
      return node_error(c, KRT_ERR_SHAPE,
                        "input '%s' %s would broadcast against the batch of '%s' %s: its axis 0 "
                        "must be 1",
                        input_name(c, 1 - i), value_dims(o).s, input_name(c, i),
                        value_dims(v[i]).s);
  }
  return NULL;
}

/* Numpy broadcasting with the batch: a batched operand's axis 0 is the batch and lines up with
 * the other operand's axis 0 only when that one is batched too or has size 1 there. */
static krt_status *infer_binary(infer *c) {
  if ((int)c->n->attrs.binary < IR_BINARY_ADD || (int)c->n->attrs.binary > IR_BINARY_LAST)
    return node_error(c, KRT_ERR_INTERNAL, "unknown binary kind %d", (int)c->n->attrs.binary);
  const ir_value *v[2] = {input(c, 0), input(c, 1)};
  int rank = v[0]->rank > v[1]->rank ? v[0]->rank : v[1]->rank;
  int batched = v[0]->batched || v[1]->batched;
  if (batched) KRT_TRY(check_batch_alignment(c, rank));
  shape *out = c->out;
  memset(out, 0, sizeof *out);
  out->rank = rank;
  out->batched = batched;
  for (int k = 0; k < rank; k++) {
    if (batched && k == 0) {
      out->dims[0] = -1;
      continue;
    }
    int64_t d[2];
    for (int i = 0; i < 2; i++) {
      int at = k - (rank - v[i]->rank);
      d[i] = at < 0 ? 1 : v[i]->dims[at];
    }
    /* Unknown against a known size > 1 takes that size (re-inference checks it later). */
    if (d[0] == d[1] || d[1] == 1)
      out->dims[k] = d[0];
    else if (d[0] == 1)
      out->dims[k] = d[1];
    else if (d[0] < 0)
      out->dims[k] = d[1];
    else if (d[1] < 0)
      out->dims[k] = d[0];
    else
      return node_error(c, KRT_ERR_SHAPE,
                        "inputs '%s' %s and '%s' %s do not broadcast (%lld vs %lld on output "
                        "axis %d)",
                        input_name(c, 0), value_dims(v[0]).s, input_name(c, 1), value_dims(v[1]).s,
                        (long long)d[0], (long long)d[1], k);
  }
  /* The layout of the operand that has every output axis, a computed value before a constant;
   * two computed full-rank operands that disagree give PLAIN. */
  int chosen = -1;
  for (int i = 0; i < 2; i++) {
    if (v[i]->rank != rank) continue;
    if (chosen < 0 || (v[chosen]->data && !v[i]->data))
      chosen = i;
    else if (!v[chosen]->data && !v[i]->data && v[chosen]->layout != v[i]->layout) {
      out->layout = IR_LAYOUT_PLAIN;
      return NULL;
    }
  }
  out->layout = v[chosen]->layout;
  return NULL;
}

/* x0, x1, ... joined along axis: same rank, equal dims elsewhere, all batched or none. */
static krt_status *infer_concat(infer *c) {
  int axis = c->n->attrs.axis;
  const ir_value *x0 = input(c, 0);
  if (axis < 0 || axis >= x0->rank)
    return node_error(c, KRT_ERR_SHAPE, "axis %d is outside input '%s' %s", axis, input_name(c, 0),
                      value_dims(x0).s);
  if (x0->batched && axis == 0)
    return node_error(c, KRT_ERR_SHAPE, "axis 0 is the batch: this would join along the batch");
  copy_shape(c->out, x0);
  for (int i = 1; i < c->n->n_inputs; i++) {
    const ir_value *x = input(c, i);
    if (x->rank != x0->rank)
      return node_error(c, KRT_ERR_SHAPE, "input '%s' %s and input '%s' %s differ in rank",
                        input_name(c, 0), value_dims(x0).s, input_name(c, i), value_dims(x).s);
    if (x->batched != x0->batched)
      return node_error(c, KRT_ERR_SHAPE,
                        "input '%s' %s is %sbatched but input '%s' %s is %sbatched",
                        input_name(c, 0), value_dims(x0).s, x0->batched ? "" : "not ",
                        input_name(c, i), value_dims(x).s, x->batched ? "" : "not ");
    for (int k = x->batched ? 1 : 0; k < x->rank; k++) {
      int64_t *d = &c->out->dims[k];
      if (k == axis) {
        *d = (*d < 0 || x->dims[k] < 0) ? -1 : *d + x->dims[k];
      } else if (*d >= 0 && x->dims[k] >= 0 && *d != x->dims[k]) {
        return node_error(c, KRT_ERR_SHAPE,
                          "input '%s' %s does not match input '%s' %s on axis %d (only axis %d "
                          "may differ)",
                          input_name(c, i), value_dims(x).s, input_name(c, 0), value_dims(x0).s, k,
                          axis);
      } else if (*d < 0) {
        *d = x->dims[k];
      }
    }
    if (x->layout != c->out->layout) c->out->layout = IR_LAYOUT_PLAIN;
  }
  return NULL;
}

/* x -> one output per piece: x's shape with sizes[k] on axis (ops.def). */
static krt_status *infer_split(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  const ir_value *x = input(c, 0);
  int k_outputs = c->n->n_outputs, axis = a->axis;
  if (axis < 0 || axis >= x->rank)
    return node_error(c, KRT_ERR_SHAPE, "axis %d is outside input '%s' %s", axis, input_name(c, 0),
                      value_dims(x).s);
  int64_t len = 0, total = 0;
  KRT_TRY(known_dim(c, 0, axis, &len));
  for (int k = 0; k < IR_MAX_SPLIT; k++) {
    if (k >= k_outputs && a->sizes[k] != 0)
      return node_error(c, KRT_ERR_INTERNAL, "sizes[%d] is %lld but the node has %d outputs", k,
                        (long long)a->sizes[k], k_outputs);
    if (k >= k_outputs) continue;
    if (a->sizes[k] < 1 || a->sizes[k] > DIM_LIMIT)
      return node_error(c, KRT_ERR_SHAPE, "output %d would have length %lld on axis %d", k,
                        (long long)a->sizes[k], axis);
    total += a->sizes[k];
  }
  if (total != len)
    return node_error(c, KRT_ERR_SHAPE,
                      "the %d pieces add up to %lld on axis %d, but input '%s' %s has %lld",
                      k_outputs, (long long)total, axis, input_name(c, 0), value_dims(x).s,
                      (long long)len);
  for (int k = 0; k < k_outputs; k++) {
    copy_shape(&c->out[k], x);
    c->out[k].dims[axis] = a->sizes[k];
  }
  return NULL;
}

/* Product of dims[from..rank), which must all be known; overflow is an error. */
static krt_status *sample_elements(const infer *c, int from, int64_t *count) {
  const ir_value *x = input(c, 0);
  int64_t n = 1;
  for (int k = from; k < x->rank; k++) {
    if (x->dims[k] < 0) return unknown_dim_error(c, 0, k);
    if (x->dims[k] && n > INT64_MAX / x->dims[k])
      return node_error(c, KRT_ERR_SHAPE, "input '%s' %s has too many elements", input_name(c, 0),
                        value_dims(x).s);
    n *= x->dims[k];
  }
  *count = n;
  return NULL;
}

/* x[N, ...] -> [N, shape...]: axis 0 is kept whether or not it is the batch. */
static krt_status *infer_reshape(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  const ir_value *x = input(c, 0);
  if (a->shape_rank < 0 || a->shape_rank > KRT_MAX_RANK - 1)
    return node_error(c, KRT_ERR_INTERNAL, "shape_rank %d is outside 0..%d", a->shape_rank,
                      KRT_MAX_RANK - 1);
  if (x->rank < 1)
    return node_error(c, KRT_ERR_SHAPE, "input '%s' is a scalar; Reshape keeps axis 0",
                      input_name(c, 0));
  int64_t target = 1;
  for (int k = 0; k < a->shape_rank; k++) {
    if (a->shape[k] < 0 || a->shape[k] > DIM_LIMIT)
      return node_error(c, KRT_ERR_INTERNAL, "shape %s has dimension %d of size %lld",
                        plain_dims(a->shape, a->shape_rank).s, k, (long long)a->shape[k]);
    if (a->shape[k] && target > INT64_MAX / a->shape[k])
      return node_error(c, KRT_ERR_SHAPE, "shape %s has too many elements",
                        plain_dims(a->shape, a->shape_rank).s);
    target *= a->shape[k];
  }
  int64_t have = 0;
  KRT_TRY(sample_elements(c, 1, &have));
  if (have != target)
    return node_error(c, KRT_ERR_SHAPE,
                      "cannot reshape input '%s' %s (%lld elements per sample) into %s (%lld)",
                      input_name(c, 0), value_dims(x).s, (long long)have,
                      plain_dims(a->shape, a->shape_rank).s, (long long)target);
  copy_shape(c->out, x);
  c->out->rank = a->shape_rank + 1;
  memcpy(&c->out->dims[1], a->shape, (size_t)a->shape_rank * sizeof a->shape[0]);
  c->out->layout = IR_LAYOUT_PLAIN;
  return NULL;
}

/* y.dims[i] = x.dims[perm[i]]. The layout follows the importers' channels_first round trip:
 * [N, C, S...] -> [N, S..., C] is channels-last, and back. */
static krt_status *infer_transpose(infer *c) {
  const int *perm = c->n->attrs.perm;
  const ir_value *x = input(c, 0);
  int seen[KRT_MAX_RANK] = {0};
  for (int k = 0; k < x->rank; k++) {
    if (perm[k] < 0 || perm[k] >= x->rank || seen[perm[k]]++) {
      char text[64] = "";
      size_t used = 0;
      for (int j = 0; j < x->rank && used < sizeof text; j++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%d", j ? "," : "", perm[j]);
      return node_error(c, KRT_ERR_SHAPE, "perm [%s] is not a permutation of the axes of '%s' %s",
                        text, input_name(c, 0), value_dims(x).s);
    }
  }
  if (x->batched && perm[0] != 0)
    return node_error(c, KRT_ERR_SHAPE,
                      "perm[0] is %d: this would move the batch (axis 0 of "
                      "'%s' %s)",
                      perm[0], input_name(c, 0), value_dims(x).s);
  copy_shape(c->out, x);
  int identity = 1, to_last = x->rank >= 3 && perm[0] == 0 && perm[x->rank - 1] == 1;
  int to_first = x->rank >= 3 && perm[0] == 0 && perm[1] == x->rank - 1;
  for (int k = 0; k < x->rank; k++) {
    c->out->dims[k] = x->dims[perm[k]];
    identity &= perm[k] == k;
    if (k >= 1 && k < x->rank - 1) to_last &= perm[k] == k + 1;
    if (k >= 2) to_first &= perm[k] == k - 1;
  }
  if (identity) return NULL;
  if (to_last && x->layout == IR_LAYOUT_CHANNELS_FIRST)
    c->out->layout = IR_LAYOUT_CHANNELS_LAST;
  else if (to_first && x->layout == IR_LAYOUT_CHANNELS_LAST)
    c->out->layout = IR_LAYOUT_CHANNELS_FIRST;
  else
    c->out->layout = IR_LAYOUT_PLAIN;
  return NULL;
}

static krt_status *infer_pad(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  const ir_value *x = input(c, 0);
  copy_shape(c->out, x);
  for (int k = 0; k < x->rank; k++) {
    if (a->pad_begin[k] < 0 || a->pad_end[k] < 0 || a->pad_begin[k] > DIM_LIMIT ||
        a->pad_end[k] > DIM_LIMIT)
      return node_error(c, KRT_ERR_INTERNAL, "padding %lld/%lld on axis %d is out of range",
                        (long long)a->pad_begin[k], (long long)a->pad_end[k], k);
    if (is_batch_axis(x, k)) {
      if (a->pad_begin[k] || a->pad_end[k])
        return node_error(c, KRT_ERR_SHAPE, "padding %lld/%lld on axis 0 would pad the batch",
                          (long long)a->pad_begin[k], (long long)a->pad_end[k]);
      continue;
    }
    if (x->dims[k] >= 0) c->out->dims[k] = x->dims[k] + a->pad_begin[k] + a->pad_end[k];
  }
  return NULL;
}

/* x[begin[i] : end[i]] per axis. On the batch axis begin must be 0 and end is ignored: the whole
 * batch is kept. */
static krt_status *infer_slice(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  const ir_value *x = input(c, 0);
  copy_shape(c->out, x);
  for (int k = 0; k < x->rank; k++) {
    if (is_batch_axis(x, k)) {
      if (a->begin[0] != 0)
        return node_error(c, KRT_ERR_SHAPE, "begin %lld on axis 0 would slice the batch",
                          (long long)a->begin[0]);
      continue;
    }
    int64_t d = 0;
    KRT_TRY(known_dim(c, 0, k, &d));
    if (a->begin[k] < 0 || a->end[k] > d || a->begin[k] >= a->end[k])
      return node_error(
          c, KRT_ERR_SHAPE, "slice %lld:%lld on axis %d of input '%s' %s is empty or out of bounds",
          (long long)a->begin[k], (long long)a->end[k], k, input_name(c, 0), value_dims(x).s);
    c->out->dims[k] = a->end[k] - a->begin[k];
  }
  return NULL;
}

/* x[N, S..., C] -> [N, S*scale..., C] */
static krt_status *infer_resize(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  if (a->spatial < 1 || a->spatial > IR_MAX_SPATIAL)
    return node_error(c, KRT_ERR_INTERNAL, "spatial %d is outside 1..%d", a->spatial,
                      IR_MAX_SPATIAL);
  if (a->resize != IR_RESIZE_NEAREST && a->resize != IR_RESIZE_BILINEAR)
    return node_error(c, KRT_ERR_INTERNAL, "unknown resize kind %d", (int)a->resize);
  for (int k = 0; k < a->spatial; k++)
    if (a->scale[k] < 1 || a->scale[k] > WINDOW_LIMIT)
      return node_error(c, KRT_ERR_INTERNAL, "scale %d on spatial axis %d must be 1..%d",
                        a->scale[k], k, WINDOW_LIMIT);
  KRT_TRY(require_rank(c, 0, a->spatial + 2, "[N, spatial..., C]"));
  const ir_value *x = input(c, 0);
  copy_shape(c->out, x);
  for (int k = 0; k < a->spatial; k++) {
    int64_t in = x->dims[k + 1];
    c->out->dims[k + 1] = in < 0 ? -1 : in * a->scale[k];
  }
  c->out->layout = IR_LAYOUT_CHANNELS_LAST;
  return NULL;
}

/* idx[N, ...] (any dtype, truncated to int at run time), table[V, D] -> [N, ..., D] */
static krt_status *infer_gather(infer *c) {
  const ir_value *idx = input(c, 0);
  int64_t any[2] = {-1, -1};
  KRT_TRY(expect_weight(c, 1, "table", 2, any, "[V, D]"));
  if (idx->rank + 1 > KRT_MAX_RANK)
    return node_error(c, KRT_ERR_SHAPE, "indices '%s' %s: the output would have rank %d > %d",
                      input_name(c, 0), value_dims(idx).s, idx->rank + 1, KRT_MAX_RANK);
  copy_shape(c->out, idx);
  c->out->dims[idx->rank] = input(c, 1)->dims[1];
  c->out->rank = idx->rank + 1;
  c->out->layout = IR_LAYOUT_PLAIN;
  return NULL;
}

/* a[..., M, K], b[..., K, N] -> [..., M, N]. The leading axes broadcast as Binary's do (right
 * aligned, size 1 against any size); a batched operand's axis 0 is the batch, so it must be an
 * output's leading axis too: either a leading axis of both (b's axis 0 batched too or of size 1),
 * or M of a rank-2 batched a against an unbatched [K, N] (a Dense-like product, one row per
 * sample). The batch can never be K or N: the sizes there must be known numbers. */
static krt_status *infer_matmul(infer *c) {
  const ir_value *v[2] = {input(c, 0), input(c, 1)};
  for (int i = 0; i < 2; i++)
    if (v[i]->rank < 2)
      return node_error(c, KRT_ERR_SHAPE, "input '%s' %s has rank %d; MatMul needs rank 2 or more "
                        "(the importer reshapes a vector)",
                        input_name(c, i), value_dims(v[i]).s, v[i]->rank);
  const ir_value *a = v[0], *b = v[1];
  int rank = a->rank > b->rank ? a->rank : b->rank, lead = rank - 2;
  int batched = a->batched || b->batched;
  if (b->batched && b->rank == 2)
    return node_error(c, KRT_ERR_SHAPE, "input '%s' %s is batched on its K axis: b is [..., K, N] "
                      "and K must be a known size", input_name(c, 1), value_dims(b).s);
  if (a->batched && a->rank == 2 && (b->rank != 2 || b->batched))
    return node_error(c, KRT_ERR_SHAPE,
                      "input '%s' %s has its batch on M; b '%s' %s must then be an unbatched "
                      "[K, N]", input_name(c, 0), value_dims(a).s, input_name(c, 1),
                      value_dims(b).s);
  if (batched && lead > 0) KRT_TRY(check_batch_alignment(c, rank));
  int64_t ka = 0, kb = 0, n = 0;
  KRT_TRY(known_dim(c, 0, a->rank - 1, &ka));
  KRT_TRY(known_dim(c, 1, b->rank - 2, &kb));
  KRT_TRY(known_dim(c, 1, b->rank - 1, &n));
  if (ka != kb)
    return node_error(c, KRT_ERR_SHAPE,
                      "inputs '%s' %s and '%s' %s: a's K (last axis, %lld) differs from b's K "
                      "(second to last axis, %lld)",
                      input_name(c, 0), value_dims(a).s, input_name(c, 1), value_dims(b).s,
                      (long long)ka, (long long)kb);
  shape *out = c->out;
  memset(out, 0, sizeof *out);
  out->rank = rank;
  out->batched = batched;
  out->layout = IR_LAYOUT_PLAIN;
  for (int k = 0; k < lead; k++) {
    if (batched && k == 0) {
      out->dims[0] = -1;
      continue;
    }
    int64_t d[2];
    for (int i = 0; i < 2; i++) {
      int at = k - (lead - (v[i]->rank - 2));
      d[i] = at < 0 ? 1 : v[i]->dims[at];
    }
    if (d[0] == d[1] || d[1] == 1)
      out->dims[k] = d[0];
    else if (d[0] == 1 || d[0] < 0)
      out->dims[k] = d[1];
    else if (d[1] < 0)
      out->dims[k] = d[0];
    else
      return node_error(c, KRT_ERR_SHAPE,
                        "inputs '%s' %s and '%s' %s: the batch axes do not broadcast (%lld vs "
                        "%lld on output axis %d)",
                        input_name(c, 0), value_dims(a).s, input_name(c, 1), value_dims(b).s,
                        (long long)d[0], (long long)d[1], k);
  }
  out->dims[rank - 2] = a->dims[a->rank - 2]; /* M: may be the batch or unknown */
  out->dims[rank - 1] = n;
  return NULL;
}

/* The weight blocks of each cell kind: G gate blocks of H columns in W and R, B bias values
 * (ops.def). */
static int rnn_gates(ir_rnn_cell cell) {
  return cell == IR_RNN_SIMPLE ? 1 : cell == IR_RNN_LSTM ? 4 : 3;
}

static int64_t rnn_bias_size(ir_rnn_cell cell, int64_t h) {
  return cell == IR_RNN_GRU_RESET_AFTER ? 6 * h : rnn_gates(cell) * h;
}

static krt_status *check_rnn_activation(const infer *c, const ir_activation *a, const char *what) {
  if ((int)a->kind < IR_ACT_NONE || (int)a->kind > IR_ACT_LAST)
    return node_error(c, KRT_ERR_INTERNAL, "unknown %s %d", what, (int)a->kind);
  if (isnan(a->alpha) || isnan(a->beta) || isnan(a->max_value) || isnan(a->threshold))
    return node_error(c, KRT_ERR_INTERNAL, "%s %s has a NaN parameter", what,
                      ir_act_name(a->kind));
  return NULL;
}

/* x[N, T, F], W[F, G*H], R[H, G*H], b[B], h0[N, H]?, c0[N, H]? -> [N, T, H] or [N, H], then
 * h_T [N, H] and (LSTM) c_T [N, H] when the node has those outputs */
static krt_status *infer_recurrent(infer *c) {
  const ir_attrs *a = &c->n->attrs;
  if ((int)a->rnn_cell < IR_RNN_SIMPLE || (int)a->rnn_cell > IR_RNN_CELL_LAST)
    return node_error(c, KRT_ERR_INTERNAL, "unknown cell kind %d", (int)a->rnn_cell);
  if (a->rnn_units < 1)
    return node_error(c, KRT_ERR_INTERNAL, "has %d units", a->rnn_units);
  if ((a->rnn_go_backwards | a->rnn_return_sequences | a->rnn_reverse_output | a->rnn_masked |
       a->rnn_zero_masked_output) & ~1)
    return node_error(c, KRT_ERR_INTERNAL, "has a direction or output flag other than 0 or 1");
  KRT_TRY(check_rnn_activation(c, &a->rnn_act, "activation"));
  KRT_TRY(check_rnn_activation(c, &a->rnn_gate_act, "recurrent activation"));
  int lstm = a->rnn_cell == IR_RNN_LSTM;
  int masked = a->rnn_masked, k = c->n->n_inputs - masked; /* k: inputs before the mask */
  if (a->rnn_zero_masked_output && !masked)
    return node_error(c, KRT_ERR_INTERNAL, "zeroes masked outputs but takes no mask");
  if (k < 4) return node_error(c, KRT_ERR_INTERNAL, "has no input left for its mask");
  if (c->n->n_outputs == 3 && !lstm)
    return node_error(c, KRT_ERR_INTERNAL,
                      "has a final c_T output (output 2), which only LSTM has");
  if (k == 6 && !lstm)
    return node_error(c, KRT_ERR_INTERNAL, "takes an initial c0 (input 5), which only LSTM has");
  if (k == 5 && lstm)
    return node_error(c, KRT_ERR_INTERNAL, "an LSTM takes both initial states h0 and c0 or neither");
  KRT_TRY(require_rank(c, 0, 3, "[N, T, F]"));
  const ir_value *x = input(c, 0);
  int64_t f = 0, h = a->rnn_units, g = rnn_gates(a->rnn_cell);
  KRT_TRY(known_dim(c, 0, 2, &f));
  int64_t w_expect[2] = {f, g * h}, r_expect[2] = {h, g * h}, b_expect = rnn_bias_size(a->rnn_cell, h);
  KRT_TRY(expect_weight(c, 1, "kernel", 2, w_expect, "[F, G*H]"));
  KRT_TRY(expect_weight(c, 2, "recurrent kernel", 2, r_expect, "[H, G*H]"));
  KRT_TRY(expect_weight(c, 3, "bias", 1, &b_expect, "[B]"));
  for (int i = 4; i < k; i++) {
    const ir_value *s = input(c, i);
    int ok = s->rank == 2 && s->dims[1] == h && s->batched == x->batched &&
             (s->batched || s->dims[0] == x->dims[0]);
    if (!ok)
      return node_error(c, KRT_ERR_SHAPE, "initial state '%s' is %s; expected [N, %lld] with the "
                        "batch of x %s", input_name(c, i), value_dims(s).s, (long long)h,
                        value_dims(x).s);
  }
  if (masked) { /* m[N, T], the batch and steps of x */
    const ir_value *m = input(c, k);
    int ok = m->rank == 2 && m->batched == x->batched && (m->batched || m->dims[0] == x->dims[0]) &&
             m->dims[1] == x->dims[1];
    if (!ok)
      return node_error(c, KRT_ERR_SHAPE, "mask '%s' is %s; expected [N, T] of x %s",
                        input_name(c, k), value_dims(m).s, value_dims(x).s);
  }
  copy_shape(c->out, x);
  c->out->layout = IR_LAYOUT_PLAIN;
  if (a->rnn_return_sequences) {
    c->out->dims[2] = h;
  } else {
    c->out->rank = 2;
    c->out->dims[1] = h;
    c->out->dims[2] = 0;
  }
  for (int o = 1; o < c->n->n_outputs; o++) { /* the final states h_T, c_T: [N, H] */
    copy_shape(&c->out[o], x);
    c->out[o].layout = IR_LAYOUT_PLAIN;
    c->out[o].rank = 2;
    c->out[o].dims[1] = h;
    c->out[o].dims[2] = 0;
  }
  return NULL;
}

/* x -> like x (elementwise ops that keep the shape) */
static krt_status *infer_same_shape(infer *c) {
  copy_shape(c->out, input(c, 0));
  return NULL;
}

static krt_status *infer_op(infer *c) {
  switch (c->n->op) {
#define X(e, id, name, lo, hi, out_lo, out_hi, attrs, infer, format) \
  case e: return infer_##infer(c);
#include "ops.def"
#undef X
    default: break;
  }
  return node_error(c, KRT_ERR_INTERNAL, "unknown op %d", (int)c->n->op);
}

/* ---- entry points ------------------------------------------------------------------------ */

/* Whether the node has as many outputs as its op gives (ops.def), each a distinct computed value
 * that is not also an input and that names this node as its producer. */
static krt_status *check_outputs(const infer *c, int node) {
  const ir_graph *g = c->g;
  const ir_node *n = c->n;
  int lo = ir_op_min_outputs(n->op), hi = ir_op_max_outputs(n->op), k = n->n_outputs;
  if (k < 1 || !n->outputs) return node_error(c, KRT_ERR_INTERNAL, "has %d outputs", k);
  if (k < lo || k > hi) {
    if (lo == hi) return node_error(c, KRT_ERR_INTERNAL, "has %d outputs, %s has %d", k,
                                    ir_op_name(n->op), lo);
    return node_error(c, KRT_ERR_INTERNAL, "has %d outputs, %s has %d to %d", k,
                      ir_op_name(n->op), lo, hi);
  }
  for (int o = 0; o < k; o++) {
    int v = n->outputs[o];
    if (v < 0 || v >= g->n_values || g->values[v].data)
      return node_error(c, KRT_ERR_INTERNAL, "output %d (value %d) is not a computed value", o, v);
    if (g->values[v].producer != node || g->values[v].producer_output != o)
      return node_error(c, KRT_ERR_INTERNAL,
                        "output %d '%s' names node %d output %d as its producer", o,
                        g->values[v].name ? g->values[v].name : "?", g->values[v].producer,
                        g->values[v].producer_output);
    for (int j = 0; j < o; j++)
      if (n->outputs[j] == v)
        return node_error(c, KRT_ERR_INTERNAL, "outputs %d and %d are the same value %d", j, o, v);
    for (int i = 0; i < n->n_inputs; i++)
      if (n->inputs[i] == v)
        return node_error(c, KRT_ERR_INTERNAL, "input %d is also its output %d", i, o);
  }
  return NULL;
}

/* Writes shape s (checked) into value v. */
static krt_status *set_output(const infer *c, int o, shape *s, ir_value *v) {
  if (s->batched) s->dims[0] = -1;
  if (s->rank < 0 || s->rank > KRT_MAX_RANK)
    return node_error(c, KRT_ERR_INTERNAL, "output %d would have rank %d", o, s->rank);
  for (int k = s->batched ? 1 : 0; k < s->rank; k++)
    if (s->dims[k] < -1 || s->dims[k] > DIM_LIMIT)
      return node_error(c, KRT_ERR_SHAPE, "output %d dimension %d would be %lld", o, k,
                        (long long)s->dims[k]);
  v->dtype = s->dtype == KRT_DTYPE_INVALID ? KRT_FLOAT32 : s->dtype;
  v->rank = s->rank;
  memset(v->dims, 0, sizeof v->dims);
  memcpy(v->dims, s->dims, (size_t)s->rank * sizeof s->dims[0]);
  v->batched = s->batched;
  v->layout = s->layout;
  return NULL;
}

/* Shapes of up to this many outputs live on the stack; more are allocated. */
#define STACK_OUTPUTS 8

krt_status *ir_infer_node(ir_graph *g, int node) {
  if (!g || node < 0 || node >= g->n_nodes)
    return krt_error(KRT_ERR_INTERNAL, "shape inference: node %d does not exist", node);
  infer c;
  memset(&c, 0, sizeof c);
  c.g = g;
  c.n = &g->nodes[node];
  const ir_node *n = c.n;
  if (n->n_inputs < 0 || (n->n_inputs > 0 && !n->inputs))
    return node_error(&c, KRT_ERR_INTERNAL, "has %d inputs", n->n_inputs);
  for (int i = 0; i < n->n_inputs; i++)
    if (n->inputs[i] < 0 || n->inputs[i] >= g->n_values)
      return node_error(&c, KRT_ERR_INTERNAL, "input %d refers to value %d", i, n->inputs[i]);
  if (!ir_op_is_valid((int)n->op)) return node_error(&c, KRT_ERR_INTERNAL, "unknown op %d", (int)n->op);
  KRT_TRY(check_outputs(&c, node));
  KRT_TRY(check_stray_attrs(&c));
  KRT_TRY(check_residual_flag(&c));
  KRT_TRY(check_input_count(&c));
  for (int i = 0; i < n->n_inputs; i++) KRT_TRY(check_input_value(&c, i));
  KRT_TRY(check_activation(&c));

  shape stack[STACK_OUTPUTS];
  shape *outs =
      n->n_outputs <= STACK_OUTPUTS ? stack : malloc((size_t)n->n_outputs * sizeof *outs);
  if (!outs) return krt_error_oom("shape inference");
  memset(outs, 0, (size_t)n->n_outputs * sizeof *outs);
  c.out = outs;
  krt_status *s = infer_op(&c);
  if (!s) s = check_residual_shape(&c);
  for (int o = 0; o < n->n_outputs && !s; o++)
    s = set_output(&c, o, &outs[o], &g->values[n->outputs[o]]);
  if (outs != stack) free(outs);
  return s;
}

krt_status *ir_infer_all(ir_graph *g) {
  if (!g) return krt_error(KRT_ERR_INTERNAL, "shape inference: no graph");
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    /* Topological order is what makes one pass enough; an engine file could break it. */
    for (int k = 0; k < n->n_inputs && n->inputs; k++) {
      int v = n->inputs[k];
      if (v >= 0 && v < g->n_values && g->values[v].producer >= i)
        return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): input '%s' is produced by a later node",
                         n->name ? n->name : "?", ir_op_name(n->op),
                         g->values[v].name ? g->values[v].name : "?");
    }
    KRT_TRY(ir_infer_node(g, i));
  }
  return NULL;
}
