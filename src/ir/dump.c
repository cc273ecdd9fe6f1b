/* The readable text form of the IR (krt inspect, krt_model_dump), e.g.
 *
 *   graph from model.keras: 1 input, 1 output, 3 nodes, 4 constants (1,290 weights)
 *   input  %0 input_1 float32 [Nx28x28x1] channels_last
 *   %5 = Conv conv1(%0, %1 conv1/kernel[3x3x1x16], %2 conv1/bias[16]) k=3x3 s=1x1 d=1x1
 *        pad=0,0/0,0 groups=1 act=relu -> [Nx26x26x16]            (one line in the output)
 *   output dense_1 = %11
 *
 * Dims: "N" is the batch (axis 0 of a batched value), "?" a dimension not known yet. Inputs that
 * are computed values print as their id only (their line comes earlier); constants print with
 * their name and shape.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"

/* ---- fixed buffers: append with snprintf, never past the end ----------------------------- */

typedef struct fixed_buf {
  char *s;
  size_t size, used;
  int truncated;
} fixed_buf;

static void fixed_put(fixed_buf *b, const char *fmt, ...) KRT_PRINTF(2, 3);

static void fixed_put(fixed_buf *b, const char *fmt, ...) {
  if (b->size == 0 || b->truncated) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->s + b->used, b->size - b->used, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= b->size - b->used) {
    b->used = b->size - 1;
    b->truncated = 1;
    /* A cut line ends in "..." so the reader knows. */
    if (b->size >= 4) memcpy(b->s + b->size - 4, "...", 4);
  } else {
    b->used += (size_t)n;
  }
}

static fixed_buf fixed_start(char *buf, size_t size) {
  fixed_buf b = {buf, buf ? size : 0, 0, 0};
  if (b.size) buf[0] = '\0';
  return b;
}

static void put_dims(fixed_buf *b, const int64_t *dims, int rank, int batched) {
  fixed_put(b, "[");
  for (int i = 0; i < rank; i++) {
    const char *sep = i ? "x" : "";
    if (batched && i == 0)
      fixed_put(b, "%sN", sep);
    else if (dims[i] < 0)
      fixed_put(b, "%s?", sep);
    else
      fixed_put(b, "%s%lld", sep, (long long)dims[i]);
  }
  fixed_put(b, "]");
}

void ir_format_dims(const int64_t *dims, int rank, char *buf, size_t size) {
  fixed_buf b = fixed_start(buf, size);
  put_dims(&b, dims, rank < 0 ? 0 : rank, 0);
}

void ir_format_value_dims(const ir_value *v, char *buf, size_t size) {
  fixed_buf b = fixed_start(buf, size);
  int rank = v->rank < 0 ? 0 : v->rank > KRT_MAX_RANK ? KRT_MAX_RANK : v->rank;
  put_dims(&b, v->dims, rank, v->batched);
}

/* ---- attributes -------------------------------------------------------------------------- */

static void put_ints(fixed_buf *b, const char *sep, const int *v, int n) {
  for (int i = 0; i < n; i++) fixed_put(b, "%s%d", i ? sep : "", v[i]);
}

static void put_int64s(fixed_buf *b, const char *sep, const int64_t *v, int n) {
  for (int i = 0; i < n; i++) fixed_put(b, "%s%lld", i ? sep : "", (long long)v[i]);
}

/* "LABEL=relu", with the parameters a reader needs when they are not Keras's defaults. */
static void put_labelled_activation(fixed_buf *b, const char *label, const ir_activation *a) {
  fixed_put(b, " %s=%s", label, a->kind == IR_ACT_NONE ? "linear" : ir_act_name(a->kind));
  switch (a->kind) {
    case IR_ACT_RELU: {
      const char *sep = "(";
      if (a->alpha != 0.0f) fixed_put(b, "%salpha=%g", sep, (double)a->alpha), sep = ",";
      if (!isinf(a->max_value)) fixed_put(b, "%smax=%g", sep, (double)a->max_value), sep = ",";
      if (a->threshold != 0.0f)
        fixed_put(b, "%sthreshold=%g", sep, (double)a->threshold), sep = ",";
      if (sep[0] == ',') fixed_put(b, ")");
      break;
    }
    /* Keras 1/2 and Keras 3 differ in these two, so always show them. */
    case IR_ACT_HARD_SIGMOID:
    case IR_ACT_HARD_SWISH:
      fixed_put(b, "(alpha=%g,beta=%g)", (double)a->alpha, (double)a->beta);
      break;
    case IR_ACT_ELU:
      if (a->alpha != 1.0f) fixed_put(b, "(alpha=%g)", (double)a->alpha);
      break;
    case IR_ACT_THRESHOLDED_RELU: fixed_put(b, "(theta=%g)", (double)a->alpha); break;
    case IR_ACT_CLIP: fixed_put(b, "(%g,%g)", (double)a->alpha, (double)a->max_value); break;
    default: break;
  }
}

/* "act=relu" as above; nothing for linear. */
static void put_activation(fixed_buf *b, const ir_activation *a) {
  if (a->kind != IR_ACT_NONE) put_labelled_activation(b, "act", a);
}

static void put_window(fixed_buf *b, const ir_attrs *a, int with_dilation) {
  int s = a->spatial < 0 ? 0 : a->spatial > IR_MAX_SPATIAL ? IR_MAX_SPATIAL : a->spatial;
  fixed_put(b, " k=");
  put_ints(b, "x", a->kernel, s);
  fixed_put(b, " s=");
  put_ints(b, "x", a->stride, s);
  if (with_dilation) {
    fixed_put(b, " d=");
    put_ints(b, "x", a->dilation, s);
  }
  fixed_put(b, " pad=");
  put_int64s(b, ",", a->pad_begin, s);
  fixed_put(b, "/");
  put_int64s(b, ",", a->pad_end, s);
}

static void put_axes(fixed_buf *b, const ir_attrs *a) {
  int n = a->n_axes < 0 ? 0 : a->n_axes > KRT_MAX_RANK ? KRT_MAX_RANK : a->n_axes;
  fixed_put(b, " axes=");
  put_ints(b, ",", a->axes, n);
}

static int input_rank(const ir_graph *g, const ir_node *n) {
  if (n->n_inputs < 1 || !n->inputs || n->inputs[0] < 0 || n->inputs[0] >= g->n_values) return 0;
  int r = g->values[n->inputs[0]].rank;
  return r < 0 ? 0 : r > KRT_MAX_RANK ? KRT_MAX_RANK : r;
}

#define KIND_NAME(table, k) \
  ((unsigned)(k) < sizeof table / sizeof *table ? table[(unsigned)(k)] : "?")

/* The attribute text of each op (the last column of ops.def). */

static void format_none(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)b, (void)g, (void)n;
}

static void format_conv(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  put_window(b, &n->attrs, 1);
  fixed_put(b, " groups=%d", n->attrs.groups);
}

static void format_conv_transpose(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  put_window(b, &n->attrs, 1);
}

static void format_pool(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  static const char *const pools[] = {"max", "avg"};
  (void)g;
  fixed_put(b, " %s", KIND_NAME(pools, n->attrs.pool));
  put_window(b, &n->attrs, 0);
}

static void format_axes(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  put_axes(b, &n->attrs);
}

static void format_reduce(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  static const char *const reduces[] = {"mean", "max", "sum"};
  (void)g;
  fixed_put(b, " %s", KIND_NAME(reduces, n->attrs.reduce));
  put_axes(b, &n->attrs);
  if (n->attrs.keepdims) fixed_put(b, " keepdims");
}

static void format_batchnorm(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  fixed_put(b, " axis=%d eps=%g", n->attrs.axis, (double)n->attrs.epsilon);
}

static void format_layernorm(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  put_axes(b, &n->attrs);
  fixed_put(b, " eps=%g%s", (double)n->attrs.epsilon, n->attrs.rms_scaling ? " rms_scaling" : "");
}

static void format_binary(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  static const char *const binaries[] = {
      "add",  "sub",       "mul",   "div",        "max",      "min",        "pow",        "greater",
      "greater_equal", "less", "less_equal", "equal", "not_equal", "where_true", "where_false",
      "floor_div", "floor_mod", "trunc_mod", "atan2"};
  (void)g;
  fixed_put(b, " %s", KIND_NAME(binaries, n->attrs.binary));
}

static void format_concat(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  fixed_put(b, " axis=%d", n->attrs.axis);
}

static void format_split(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  int k = n->n_outputs < 0 ? 0 : n->n_outputs > IR_MAX_SPLIT ? IR_MAX_SPLIT : n->n_outputs;
  (void)g;
  fixed_put(b, " axis=%d sizes=", n->attrs.axis);
  put_int64s(b, ",", n->attrs.sizes, k);
}

static void format_reshape(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  const ir_attrs *a = &n->attrs;
  int r = a->shape_rank < 0 ? 0 : a->shape_rank > KRT_MAX_RANK ? KRT_MAX_RANK : a->shape_rank;
  (void)g;
  fixed_put(b, " shape=");
  put_dims(b, a->shape, r, 0);
}

static void format_transpose(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  fixed_put(b, " perm=");
  put_ints(b, ",", n->attrs.perm, input_rank(g, n));
}

static void format_pad(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  fixed_put(b, " pad=");
  put_int64s(b, ",", n->attrs.pad_begin, input_rank(g, n));
  fixed_put(b, "/");
  put_int64s(b, ",", n->attrs.pad_end, input_rank(g, n));
}

static void format_slice(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  fixed_put(b, " begin=");
  put_int64s(b, ",", n->attrs.begin, input_rank(g, n));
  fixed_put(b, " end=");
  put_int64s(b, ",", n->attrs.end, input_rank(g, n));
}

static void format_resize(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  static const char *const resizes[] = {"nearest", "bilinear"};
  const ir_attrs *a = &n->attrs;
  int s = a->spatial < 0 ? 0 : a->spatial > IR_MAX_SPATIAL ? IR_MAX_SPATIAL : a->spatial;
  (void)g;
  fixed_put(b, " %s scale=", KIND_NAME(resizes, a->resize));
  put_ints(b, "x", a->scale, s);
}

static void format_recurrent(fixed_buf *b, const ir_graph *g, const ir_node *n) {
  (void)g;
  static const char *const cells[] = {"simple", "lstm", "gru", "gru_reset_after"};
  const ir_attrs *a = &n->attrs;
  fixed_put(b, " cell=%s units=%d", KIND_NAME(cells, a->rnn_cell), a->rnn_units);
  put_labelled_activation(b, "activation", &a->rnn_act);
  if (a->rnn_cell != IR_RNN_SIMPLE) put_labelled_activation(b, "recurrent_activation", &a->rnn_gate_act);
  if (a->rnn_go_backwards) fixed_put(b, " backwards");
  fixed_put(b, "%s", a->rnn_return_sequences ? " sequences" : " last");
  if (a->rnn_reverse_output) fixed_put(b, "(reversed)");
  if (n->n_inputs > 4 + (a->rnn_masked != 0)) fixed_put(b, " initial_state");
  if (a->rnn_masked) fixed_put(b, " masked%s", a->rnn_zero_masked_output ? "(zero output)" : "");
}

#undef KIND_NAME

void ir_format_attrs(const ir_graph *g, const ir_node *n, char *buf, size_t size) {
  /* Every piece starts with a space; build the line here, then copy it without the first. */
  char line[1024];
  fixed_buf b = fixed_start(line, sizeof line);
  switch (n->op) {
#define X(e, id, name, lo, hi, out_lo, out_hi, attrs, infer, format) \
  case e: format_##format(&b, g, n); break;
#include "ops.def"
#undef X
    default: break;
  }
  /* y = act(op + b + r): the residual input comes before the activation */
  if (n->attrs.residual) fixed_put(&b, " +residual");
  put_activation(&b, &n->attrs.act);
  fixed_buf out = fixed_start(buf, size);
  fixed_put(&out, "%s", line[0] == ' ' ? line + 1 : line);
}

/* ---- the dump ---------------------------------------------------------------------------- */

typedef struct text_buf {
  char *s;
  size_t len, cap;
  int failed;
} text_buf;

static void text_put(text_buf *t, const char *fmt, ...) KRT_PRINTF(2, 3);

static void text_put(text_buf *t, const char *fmt, ...) {
  if (t->failed) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (t->len + (size_t)n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + (size_t)n + 1) cap *= 2;
    char *s = realloc(t->s, cap);
    if (!s) {
      t->failed = 1;
      return;
    }
    t->s = s;
    t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

/* 1234567 -> "1,234,567" */
static void format_count(int64_t n, char *buf, size_t size) {
  char digits[32];
  int len = snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? 0 : n));
  fixed_buf b = fixed_start(buf, size);
  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0) fixed_put(&b, ",");
    fixed_put(&b, "%c", digits[i]);
  }
}

static const char *plural(int n) {
  return n == 1 ? "" : "s";
}

static const char *layout_name(ir_layout layout) {
  switch (layout) {
    case IR_LAYOUT_CHANNELS_LAST: return "channels_last";
    case IR_LAYOUT_CHANNELS_FIRST: return "channels_first";
    default: return "plain";
  }
}

static const char *name_or(const char *s) {
  return s ? s : "?";
}

static int value_exists(const ir_graph *g, int id) {
  return id >= 0 && id < g->n_values;
}

/* "%7 = Conv conv1(%3, w:conv1/kernel[3x3x3x16]) k=3x3 -> [Nx16x16x16]"; a node with several
 * outputs lists them all on the left and their shapes in order on the right:
 * "%7, %8 = Split s(%3) axis=1 sizes=2,3 -> [Nx2], [Nx3]" */
static void dump_node(const ir_graph *g, const ir_node *n, text_buf *t) {
  char dims[160], attrs[1024];
  for (int o = 0; o < n->n_outputs && n->outputs; o++)
    text_put(t, "%s%%%d", o ? ", " : "", n->outputs[o]);
  text_put(t, " = %s %s(", ir_op_name(n->op), name_or(n->name));
  for (int i = 0; i < n->n_inputs && n->inputs; i++) {
    int id = n->inputs[i];
    text_put(t, "%s%%%d", i ? ", " : "", id);
    if (value_exists(g, id) && g->values[id].data) {
      ir_format_value_dims(&g->values[id], dims, sizeof dims);
      text_put(t, " %s%s", name_or(g->values[id].name), dims);
    }
  }
  text_put(t, ")");
  ir_format_attrs(g, n, attrs, sizeof attrs);
  if (attrs[0]) text_put(t, " %s", attrs);
  if (n->fused) text_put(t, " fused=%s", n->fused);
  for (int o = 0, shown = 0; o < n->n_outputs && n->outputs; o++) {
    if (!value_exists(g, n->outputs[o])) continue;
    ir_format_value_dims(&g->values[n->outputs[o]], dims, sizeof dims);
    text_put(t, "%s%s", shown++ ? ", " : " -> ", dims);
  }
  text_put(t, "\n");
}

krt_status *ir_dump(const ir_graph *g, char **text) {
  if (!g || !text) return krt_error(KRT_ERR_INVALID_ARGUMENT, "ir_dump: no graph or no output");
  text_buf t = {NULL, 0, 0, 0};
  int n_consts = 0;
  int64_t weights = 0;
  for (int i = 0; i < g->n_values; i++)
    if (g->values[i].data) {
      n_consts++;
      int64_t e = ir_value_elements(&g->values[i], 1);
      if (e > 0) weights += e;
    }
  char count[40], dims[160];
  format_count(weights, count, sizeof count);
  text_put(&t, "graph%s%s: %d input%s, %d output%s, %d node%s, %d constant%s (%s weights)\n",
           g->source ? " from " : "", g->source ? g->source : "", g->n_inputs, plural(g->n_inputs),
           g->n_outputs, plural(g->n_outputs), g->n_nodes, plural(g->n_nodes), n_consts,
           plural(n_consts), count);
  for (int i = 0; i < g->n_inputs; i++) {
    int id = g->inputs[i];
    if (id < 0 || id >= g->n_values) continue;
    const ir_value *v = &g->values[id];
    ir_format_value_dims(v, dims, sizeof dims);
    text_put(&t, "input  %%%d %s %s %s %s\n", id, name_or(v->name), krt_dtype_name(v->dtype), dims,
             layout_name(v->layout));
  }
  for (int i = 0; i < g->n_nodes; i++) dump_node(g, &g->nodes[i], &t);
  for (int i = 0; i < g->n_outputs; i++)
    text_put(&t, "output %s = %%%d\n", g->output_names ? name_or(g->output_names[i]) : "?",
             g->outputs[i]);
  if (t.failed || !t.s) {
    free(t.s);
    return krt_error_oom("graph dump");
  }
  *text = t.s;
  return NULL;
}
