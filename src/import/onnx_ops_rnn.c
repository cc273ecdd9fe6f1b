/* ONNX recurrent ops: LSTM, GRU, RNN (opsets 7 to 22). Each direction becomes one Recurrent node
 * (ops.def) with return_sequences; the ONNX outputs are cut from its sequence.
 *
 * ONNX keeps, per direction d (dirs = 1, or 2 for bidirectional: forward then reverse):
 *   W [dirs, G*H, F], R [dirs, G*H, H]  rows in gate blocks (LSTM i o f c, GRU z r h, RNN one)
 *   B [dirs, 2*G*H]                     Wb (G*H) then Rb (G*H), same gate order; absent: zeros
 *   initial_h, initial_c [dirs, N, H] (layout 0) or [N, dirs, H] (layout 1)
 *   X [T, N, F] (layout 0) or [N, T, F] (layout 1)
 * krt's Recurrent reads x [N, T, F], W [F, G*H], R [H, G*H], b and h0, c0 [N, H], gate blocks in
 * Keras's order (LSTM i f c o, GRU z r h). Per direction, W and R are sliced per gate, the gate
 * blocks reordered, transposed and the direction axis dropped (a Reduce over that axis of size 1),
 * all with IR ops, so that weights given as graph inputs work as initializers do (those fold to
 * constants at build time).
 *
 * The cells against ops.def's equations (f = gate activation, g = candidate, h = output; xw_k =
 * x W_k^T, hr_k = H R_k^T):
 *   RNN:  H = f(xw + hr + Wb + Rb)                              = SIMPLE, b = Wb + Rb
 *   LSTM: i = f(xw_i + hr_i + Wb_i + Rb_i), o, f likewise, c~ = g(...), C = f*C + i*c~,
 *         H = o * h(C)                                          = LSTM, b = Wb + Rb, a = g = h
 *   GRU, linear_before_reset 0: h~ = g(xw_h + (r*H) R_h^T + Rb_h + Wb_h): Rb_h adds outside the
 *         reset product as Wb_h does                            = GRU, b = Wb + Rb
 *   GRU, linear_before_reset 1: h~ = g(xw_h + r*(hr_h + Rb_h) + Wb_h)
 *                                                               = GRU_RESET_AFTER, b = [Wb, Rb]
 *   both GRUs: H = (1-z)*h~ + z*H, as Keras.
 * The reverse direction consumes x[T-1] first and ONNX stores each step's state at the time
 * step it consumed (Y in original time order): go_backwards with reverse_output; its final
 * state Y_h is then Y[0].
 *
 * Outputs: Y [T, dirs, N, H] (layout 0) or [N, T, dirs, H] (layout 1), Y_h [dirs, N, H] or
 * [N, dirs, H]; Y_c (LSTM's final cell state) like Y_h, from the Recurrent node's third output.
 * Layout 0 puts the sequence on axis 0, where krt keeps the batch (its only dynamic axis). With
 * a dynamic batch, X comes as a batch-major view ([N, T, F] IR value, onnx_internal.h: tf2onnx's
 * Transpose of the batched input) and Y, Y_h leave as views ([N, T, dirs, H], [N, dirs, H]);
 * with fixed sizes X is transposed to [N, T, F] and the outputs back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import/onnx_internal.h"

enum { IN_X, IN_W, IN_R, IN_B, IN_SEQUENCE_LENS, IN_INITIAL_H, IN_INITIAL_C, IN_P };

/* variant: the ONNX op */
enum { OP_RNN, OP_GRU, OP_LSTM };

typedef struct rnn_node {
  int op;
  ir_rnn_cell cell;
  int gates;                         /* G */
  int64_t h, t, n, f;                /* hidden size, steps, batch (-1: batched), features */
  int dirs, reverse, layout;         /* reverse: direction "reverse" (dirs 1) */
  int batched;                       /* X is batched */
  int x_view;                        /* X as a view: its IR value [N, T, F] (layout 0), or -1 */
  ir_activation act[2], gate_act[2]; /* per direction */
} rnn_node;

static const char *op_name(int op) {
  return op == OP_LSTM ? "LSTM" : op == OP_GRU ? "GRU" : "RNN";
}

/* ONNX row block of krt gate k: LSTM ONNX i o f c -> krt i f c o; GRU and RNN keep the order. */
static int onnx_gate(int op, int k) {
  static const int lstm[4] = {0, 2, 3, 1};
  return op == OP_LSTM ? lstm[k] : k;
}

/* An ONNX activation name as a krt activation; 0 when krt has no exact match without
 * parameters (LeakyRelu, HardSigmoid, Affine, ... take activation_alpha/beta, refused). */
static int parse_activation(const char *name, ir_activation *out) {
  static const struct {
    const char *name;
    ir_act_kind kind;
  } known[] = {{"Sigmoid", IR_ACT_SIGMOID},
               {"Tanh", IR_ACT_TANH},
               {"Relu", IR_ACT_RELU},
               {"Softsign", IR_ACT_SOFTSIGN},
               {"Softplus", IR_ACT_SOFTPLUS}};
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (strcasecmp(name, known[i].name) == 0) {
      *out = ir_act_none();
      out->kind = known[i].kind;
      return 1;
    }
  return 0;
}

/* The activations attribute: per direction f (gates), then g (candidate), then h (LSTM output),
 * defaults Sigmoid, Tanh, Tanh (RNN: Tanh alone). krt's cell uses one activation for LSTM's g
 * and h. */
static krt_status *read_activations(ox_ctx *c, rnn_node *r) {
  int per_dir = r->op == OP_LSTM ? 3 : r->op == OP_GRU ? 2 : 1;
  const KrtOnnx__AttributeProto *a = ox_attr(c, "activations");
  for (int d = 0; d < r->dirs; d++) {
    r->act[d] = ir_act_none(), r->act[d].kind = IR_ACT_TANH;
    r->gate_act[d] = ir_act_none();
    if (r->op != OP_RNN) r->gate_act[d].kind = IR_ACT_SIGMOID;
  }
  if (!a) return NULL;
  if ((int)a->n_strings != per_dir * r->dirs)
    return ox_error(c, KRT_ERR_BAD_FILE,
                    "attribute 'activations' has %zu names; %s with %d direction%s takes %d",
                    a->n_strings, op_name(r->op), r->dirs, r->dirs > 1 ? "s" : "",
                    per_dir * r->dirs);
  for (int d = 0; d < r->dirs; d++) {
    ir_activation acts[3];
    for (int k = 0; k < per_dir; k++) {
      const ProtobufCBinaryData *s = &a->strings[d * per_dir + k];
      char name[32];
      size_t len = s->len < sizeof name - 1 ? s->len : sizeof name - 1;
      if (len) memcpy(name, s->data, len);
      name[len] = '\0';
      if (memchr(name, '\0', len) || !parse_activation(name, &acts[k]))
        return ox_unsupported(c,
                              "attribute 'activations': '%s' is not supported (krt maps "
                              "Sigmoid, Tanh, Relu, Softsign and Softplus)",
                              name);
    }
    if (r->op == OP_RNN) {
      r->act[d] = acts[0];
      continue;
    }
    r->gate_act[d] = acts[0];
    r->act[d] = acts[1];
    if (r->op == OP_LSTM && acts[2].kind != acts[1].kind)
      return ox_unsupported(c,
                            "attribute 'activations': LSTM with different cell (g, %s) and "
                            "output (h, %s) activations is not supported",
                            ir_act_name(acts[1].kind), ir_act_name(acts[2].kind));
  }
  return NULL;
}

/* Shape of input i, which must be rank 3 with the sizes of `want` (-1: any; the batch -1). */
static krt_status *expect_input(ox_ctx *c, int i, const char *what, const int64_t *want,
                                int64_t *dims) {
  int rank, batched;
  KRT_TRY(ox_in_shape(c, i, &rank, dims, &batched));
  int ok = rank == 3;
  for (int k = 0; ok && k < 3; k++) ok = want[k] < 0 || dims[k] == want[k];
  if (!ok)
    return ox_error(c, KRT_ERR_BAD_FILE,
                    "input %s ('%s') is rank %d [%lld, %lld, %lld]; expected [%lld, %lld, %lld] "
                    "(-1: any)",
                    what, c->node->input[i], rank, (long long)dims[0],
                    (long long)(rank > 1 ? dims[1] : 0), (long long)(rank > 2 ? dims[2] : 0),
                    (long long)want[0], (long long)want[1], (long long)want[2]);
  return NULL;
}

/* The attributes and shapes of the node; refuses what krt does not compute. */
static krt_status *read_node(ox_ctx *c, int op, rnn_node *r) {
  memset(r, 0, sizeof *r);
  r->op = op;
  r->gates = op == OP_LSTM ? 4 : op == OP_GRU ? 3 : 1;
  KRT_TRY(ox_require_inputs(c, 3, op == OP_LSTM ? 8 : 6));
  if (ox_n_outputs(c) < 1) return ox_error(c, KRT_ERR_BAD_FILE, "has no output");
  if (ox_n_outputs(c) > (op == OP_LSTM ? 3 : 2))
    return ox_error(c, KRT_ERR_BAD_FILE, "has %d outputs", ox_n_outputs(c));
  static const char *const refused[] = {"activation_alpha", "activation_beta", "clip"};
  for (size_t k = 0; k < sizeof refused / sizeof *refused; k++)
    if (ox_attr(c, refused[k]))
      return ox_unsupported(c, "attribute '%s' is not supported", refused[k]);
  int64_t v;
  if (op == OP_LSTM) {
    KRT_TRY(ox_attr_int(c, "input_forget", 0, &v));
    if (v) return ox_unsupported(c, "attribute 'input_forget'=%lld is not supported", (long long)v);
    if (ox_has_input(c, IN_P))
      return ox_unsupported(c, "input P (peepholes, '%s') is not supported", c->node->input[IN_P]);
  }
  r->cell = op == OP_LSTM ? IR_RNN_LSTM : op == OP_RNN ? IR_RNN_SIMPLE : IR_RNN_GRU;
  if (op == OP_GRU) {
    KRT_TRY(ox_attr_int(c, "linear_before_reset", 0, &v));
    if (v != 0 && v != 1)
      return ox_error(c, KRT_ERR_BAD_FILE, "attribute 'linear_before_reset' is %lld", (long long)v);
    if (v) r->cell = IR_RNN_GRU_RESET_AFTER;
  }
  char dir[32];
  KRT_TRY(ox_attr_string(c, "direction", "forward", dir, sizeof dir));
  if (strcmp(dir, "forward") == 0 || strcmp(dir, "reverse") == 0)
    r->dirs = 1, r->reverse = dir[0] == 'r';
  else if (strcmp(dir, "bidirectional") == 0)
    r->dirs = 2;
  else
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute 'direction' is '%s'", dir);
  KRT_TRY(ox_attr_int(c, "layout", 0, &v));
  if (v != 0 && v != 1)
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute 'layout' is %lld", (long long)v);
  r->layout = (int)v;

  int64_t xd[KRT_MAX_RANK], wd[KRT_MAX_RANK], rd[KRT_MAX_RANK], any[3] = {-1, -1, -1};
  int rank, batched, perm[KRT_MAX_RANK];
  if (ox_in_view(c, IN_X, perm) >= 0) {
    /* time-major X whose batch-major IR value is [N, T, F] (a Transpose of the batched input) */
    ox_view_shape(c, IN_X, &rank, xd);
    if (r->layout != 0 || rank != 3 || perm[0] != 1 || perm[1] != 0 || perm[2] != 2)
      return ox_unsupported(c, "input X ('%s') has the batch on an axis other than the %s's",
                            c->node->input[IN_X], r->layout ? "first" : "second");
    batched = 1;
  } else {
    KRT_TRY(expect_input(c, IN_X, "X", any, xd));
    KRT_TRY(ox_in_shape(c, IN_X, &rank, xd, &batched));
  }
  if (batched && r->layout == 0 && ox_in_view(c, IN_X, NULL) < 0)
    return ox_unsupported(c,
                          "layout 0 keeps the sequence on axis 0 of X [T, N, F], where krt keeps "
                          "its one dynamic axis, the batch: declare X with fixed sizes, or export "
                          "with layout 1 ([N, T, F])");
  r->batched = batched;
  r->x_view = ox_in_view(c, IN_X, NULL);
  r->t = r->layout ? xd[1] : xd[0];
  r->n = r->layout ? xd[0] : xd[1];
  r->f = xd[2];
  if (r->t < 1)
    return ox_unsupported(c,
                          "X has %s steps; krt needs a fixed sequence length of at least 1 "
                          "(--input)",
                          r->t < 0 ? "an unknown number of" : "no");
  if (r->f < 0) return ox_unsupported(c, "X has an unknown feature size");
  for (int i = IN_W; i <= IN_R; i++) {
    KRT_TRY(ox_in_shape(c, i, &rank, wd, &batched));
    if (batched)
      return ox_unsupported(c, "input %s ('%s') has a dynamic first axis; weights need fixed sizes",
                            i == IN_W ? "W" : "R", c->node->input[i]);
  }
  int64_t want_w[3] = {r->dirs, -1, r->f};
  KRT_TRY(expect_input(c, IN_W, "W", want_w, wd));
  if (wd[1] % r->gates || wd[1] < r->gates)
    return ox_error(c, KRT_ERR_BAD_FILE, "W has %lld rows, not %d gate blocks", (long long)wd[1],
                    r->gates);
  r->h = wd[1] / r->gates;
  int64_t want_r[3] = {r->dirs, r->gates * r->h, r->h};
  KRT_TRY(expect_input(c, IN_R, "R", want_r, rd));
  KRT_TRY(ox_attr_int(c, "hidden_size", r->h, &v));
  if (v != r->h)
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute 'hidden_size' is %lld; W and R hold %lld",
                    (long long)v, (long long)r->h);
  if (r->h > (1 << 20)) return ox_unsupported(c, "hidden size %lld is too large", (long long)r->h);
  if (ox_has_input(c, IN_B)) {
    int64_t bd[KRT_MAX_RANK];
    KRT_TRY(ox_in_shape(c, IN_B, &rank, bd, &batched));
    if (rank != 2 || batched || bd[0] != r->dirs || bd[1] != 2 * r->gates * r->h)
      return ox_error(c, KRT_ERR_BAD_FILE, "input B ('%s') must be [%d, %lld] (fixed sizes)",
                      c->node->input[IN_B], r->dirs, (long long)(2 * r->gates * r->h));
  }
  if (ox_has_input(c, IN_SEQUENCE_LENS)) {
    /* Only the lengths that change nothing: every sequence runs all T steps. */
    const ox_known *k = ox_in_known(c, IN_SEQUENCE_LENS);
    if (!k || !k->i)
      return ox_unsupported(c,
                            "input sequence_lens ('%s') is not a constant; krt runs every "
                            "sequence for all T steps",
                            c->node->input[IN_SEQUENCE_LENS]);
    for (int64_t j = 0; j < k->count; j++)
      if (k->i[j] != r->t)
        return ox_unsupported(c,
                              "input sequence_lens ('%s') holds %lld, not T = %lld: "
                              "sequences of different lengths are not supported",
                              c->node->input[IN_SEQUENCE_LENS], (long long)k->i[j],
                              (long long)r->t);
  }
  return read_activations(c, r);
}

/* ---- IR building blocks ---------------------------------------------------------------------- */

static krt_status *slice(ox_ctx *c, int x, const int64_t *begin, const int64_t *end,
                         const char *part, int *out) {
  ir_attrs a = ox_attrs();
  int rank = ox_ir(c, x)->rank;
  memcpy(a.begin, begin, (size_t)rank * sizeof *begin);
  memcpy(a.end, end, (size_t)rank * sizeof *end);
  return ox_emit(c, IR_OP_SLICE, part, &x, 1, &a, out);
}

static krt_status *transpose(ox_ctx *c, int x, const int *perm, const char *part, int *out) {
  ir_attrs a = ox_attrs();
  memcpy(a.perm, perm, (size_t)ox_ir(c, x)->rank * sizeof *perm);
  return ox_emit(c, IR_OP_TRANSPOSE, part, &x, 1, &a, out);
}

static krt_status *concat(ox_ctx *c, const int *xs, int n, int axis, const char *part, int *out) {
  if (n == 1) {
    *out = xs[0];
    return NULL;
  }
  ir_attrs a = ox_attrs();
  a.axis = axis;
  return ox_emit(c, IR_OP_CONCAT, part, xs, n, &a, out);
}

/* Drops axis 0 (of size 1) of a value that is not batched: a sum over that one element. */
static krt_status *drop_axis0(ox_ctx *c, int x, const char *part, int *out) {
  ir_attrs a = ox_attrs();
  a.reduce = IR_REDUCE_SUM;
  a.n_axes = 1;
  a.axes[0] = 0;
  a.keepdims = 0;
  return ox_emit(c, IR_OP_REDUCE, part, &x, 1, &a, out);
}

/* Inserts an axis of size 1 at `axis` (>= 1) of x. */
static krt_status *insert_axis(ox_ctx *c, int x, int axis, const char *part, int *out) {
  const ir_value *v = ox_ir(c, x);
  int64_t dims[KRT_MAX_RANK];
  int rank = v->rank + 1;
  for (int k = 0, j = 0; k < rank; k++) dims[k] = k == axis ? 1 : v->dims[j++];
  return ox_reshape(c, x, rank, dims, part, out);
}

/* W or R (input i, [dirs, G*H, cols]) of direction d as krt's [cols, G*H], gate blocks in krt's
 * order: per gate a [1, H, cols] slice, joined on axis 1, transposed to [1, cols, G*H]. */
static krt_status *kernel_for(ox_ctx *c, const rnn_node *r, int i, int d, const char *dname,
                              int *out) {
  int w;
  KRT_TRY(ox_value(c, i, &w));
  int64_t cols = ox_ir(c, w)->dims[2];
  const char *role = i == IN_W ? "kernel" : "recurrent_kernel";
  int blocks[4];
  char part[96];
  for (int k = 0; k < r->gates; k++) {
    int64_t src = onnx_gate(r->op, k) * r->h;
    int64_t begin[3] = {d, src, 0}, end[3] = {d + 1, src + r->h, cols};
    snprintf(part, sizeof part, "%s/%s/gate%d", dname, role, k);
    KRT_TRY(slice(c, w, begin, end, part, &blocks[k]));
  }
  int joined, t;
  snprintf(part, sizeof part, "%s/%s/gates", dname, role);
  KRT_TRY(concat(c, blocks, r->gates, 1, part, &joined));
  static const int perm[3] = {0, 2, 1};
  snprintf(part, sizeof part, "%s/%s/transposed", dname, role);
  KRT_TRY(transpose(c, joined, perm, part, &t));
  snprintf(part, sizeof part, "%s/%s", dname, role);
  return drop_axis0(c, t, part, out);
}

/* krt's bias of direction d from B ([dirs, 2*G*H]: Wb then Rb): Wb + Rb, or [Wb, Rb] for the
 * reset-after GRU; zeros without B. */
static krt_status *bias_for(ox_ctx *c, const rnn_node *r, int d, const char *dname, int *out) {
  int64_t gh = r->gates * r->h;
  char part[96];
  snprintf(part, sizeof part, "%s/bias", dname);
  if (!ox_has_input(c, IN_B)) {
    int64_t nb = r->cell == IR_RNN_GRU_RESET_AFTER ? 2 * gh : gh;
    float *zeros = calloc((size_t)nb, sizeof *zeros);
    if (!zeros) return krt_error_oom("recurrent bias");
    krt_status *s = ox_const(c, part, 1, &nb, zeros, out);
    free(zeros);
    return s;
  }
  int b, halves[2];
  KRT_TRY(ox_value(c, IN_B, &b));
  for (int half = 0; half < 2; half++) {
    int blocks[4];
    for (int k = 0; k < r->gates; k++) {
      int64_t src = half * gh + onnx_gate(r->op, k) * r->h;
      int64_t begin[2] = {d, src}, end[2] = {d + 1, src + r->h};
      snprintf(part, sizeof part, "%s/bias/%s%d", dname, half ? "Rb" : "Wb", k);
      KRT_TRY(slice(c, b, begin, end, part, &blocks[k]));
    }
    snprintf(part, sizeof part, "%s/bias/%s", dname, half ? "Rb" : "Wb");
    KRT_TRY(concat(c, blocks, r->gates, 1, part, &halves[half]));
  }
  int joined; /* [1, 2*G*H] or [1, G*H] */
  snprintf(part, sizeof part, "%s/bias/joined", dname);
  if (r->cell == IR_RNN_GRU_RESET_AFTER)
    KRT_TRY(concat(c, halves, 2, 1, part, &joined));
  else
    KRT_TRY(ox_binary(c, IR_BINARY_ADD, halves[0], halves[1], part, &joined));
  snprintf(part, sizeof part, "%s/bias", dname);
  return drop_axis0(c, joined, part, out);
}

/* Whether input i is a constant of zeros: an initial state that is krt's own start (exporters
 * write one for the batch they traced with, which would tie the engine to that batch). */
static int known_zeros(const ox_ctx *c, int i) {
  const ox_known *k = ox_in_known(c, i);
  if (!k || !k->f) return 0;
  for (int64_t j = 0; j < k->count; j++)
    if (k->f[j] != 0.0f) return 0;
  return 1;
}

/* initial_h or initial_c (input i) of direction d as [N, H]. */
static krt_status *state_for(ox_ctx *c, const rnn_node *r, int i, int d, const char *dname,
                             int *out) {
  const char *role = i == IN_INITIAL_H ? "initial_h" : "initial_c";
  char part[96];
  snprintf(part, sizeof part, "%s/%s", dname, role);
  if (!ox_has_input(c, i) || known_zeros(c, i)) { /* LSTM given only the other state */
    if (r->batched)
      return ox_unsupported(c,
                            "an LSTM given only one of initial_h, initial_c, with a dynamic "
                            "batch, is not supported");
    int64_t dims[2] = {r->n, r->h};
    float *zeros = calloc((size_t)(r->n * r->h), sizeof *zeros);
    if (!zeros) return krt_error_oom("recurrent state");
    krt_status *s = ox_const(c, part, 2, dims, zeros, out);
    free(zeros);
    return s;
  }
  int64_t want[3] = {r->layout ? r->n : r->dirs, r->layout ? r->dirs : r->n, r->h},
          dims[KRT_MAX_RANK];
  KRT_TRY(expect_input(c, i, role, want, dims));
  int s, x;
  KRT_TRY(ox_value(c, i, &s));
  char cut[96];
  snprintf(cut, sizeof cut, "%s/%s/direction", dname, role);
  if (r->layout) { /* [N, dirs, H] -> [N, 1, H] -> [N, H] */
    int64_t begin[3] = {0, d, 0}, end[3] = {ox_ir(c, s)->dims[0], d + 1, r->h};
    KRT_TRY(slice(c, s, begin, end, cut, &x));
    int64_t to[2] = {ox_ir(c, x)->dims[0], r->h};
    return ox_reshape(c, x, 2, to, part, out);
  }
  if (ox_ir(c, s)->batched)
    return ox_unsupported(c, "input %s ('%s') has a dynamic first axis (directions in layout 0)",
                          role, c->node->input[i]);
  int64_t begin[3] = {d, 0, 0}, end[3] = {d + 1, r->n, r->h}; /* [dirs, N, H] -> [1, N, H] */
  KRT_TRY(slice(c, s, begin, end, cut, &x));
  return drop_axis0(c, x, part, out);
}

static krt_status *convert_rnn(ox_ctx *c, int variant) {
  rnn_node r;
  KRT_TRY(read_node(c, variant, &r));
  /* Y_c, LSTM's final cell state, is the Recurrent node's third output (y, h_T, c_T). */
  int want_c = 0;
  if (r.op == OP_LSTM && ox_n_outputs(c) > 2 && c->node->output[2][0]) {
    if (ox_output_used(c, 2))
      want_c = 1;
    else
      KRT_TRY(ox_set_unused_output(c, 2));
  }
  int x = r.x_view;
  if (x < 0) KRT_TRY(ox_value(c, IN_X, &x));
  if (r.layout == 0 && r.x_view < 0) { /* [T, N, F] -> [N, T, F] */
    static const int perm[3] = {1, 0, 2};
    KRT_TRY(transpose(c, x, perm, "batch_major", &x));
  }
  int seq[2], last[2]; /* per direction: [N, T, H], and the final state [N, 1, H] */
  int cell[2];         /* per direction with Y_c: the final cell state [N, 1, H] */
  for (int d = 0; d < r.dirs; d++) {
    int backward = r.reverse || d == 1;
    const char *dname =
        r.dirs == 1 ? (backward ? "reverse" : "forward") : (d ? "backward" : "forward");
    int ins[6] = {x, -1, -1, -1, -1, -1}, n_ins = 4;
    KRT_TRY(kernel_for(c, &r, IN_W, d, dname, &ins[1]));
    KRT_TRY(kernel_for(c, &r, IN_R, d, dname, &ins[2]));
    KRT_TRY(bias_for(c, &r, d, dname, &ins[3]));
    int given_h = ox_has_input(c, IN_INITIAL_H) && !known_zeros(c, IN_INITIAL_H);
    int given_c = r.op == OP_LSTM && ox_has_input(c, IN_INITIAL_C) && !known_zeros(c, IN_INITIAL_C);
    int lstm_state = r.op == OP_LSTM && (given_h || given_c);
    if (given_h || lstm_state) KRT_TRY(state_for(c, &r, IN_INITIAL_H, d, dname, &ins[n_ins++]));
    if (lstm_state) KRT_TRY(state_for(c, &r, IN_INITIAL_C, d, dname, &ins[n_ins++]));
    ir_attrs a = ox_attrs();
    a.rnn_cell = r.cell;
    a.rnn_units = (int)r.h;
    a.rnn_act = r.act[d];
    a.rnn_gate_act = r.gate_act[d];
    a.rnn_go_backwards = backward;
    a.rnn_return_sequences = 1;
    a.rnn_reverse_output = backward; /* ONNX's Y is in the original time order */
    int outs[3];
    KRT_TRY(ox_emit_outputs(c, IR_OP_RECURRENT, dname, ins, n_ins, &a, want_c ? 3 : 1, outs));
    seq[d] = outs[0];
    if (want_c) { /* c_T [N, H], after the last step in processing order (x[0] backward) */
      char part[96];
      snprintf(part, sizeof part, "%s/final_cell", dname);
      KRT_TRY(insert_axis(c, outs[2], 1, part, &cell[d]));
    }
    /* the final state: after the last step forward, after x[0] backward */
    int64_t step = backward ? 0 : r.t - 1;
    int64_t begin[3] = {0, step, 0}, end[3] = {ox_ir(c, seq[d])->dims[0], step + 1, r.h};
    char part[96];
    snprintf(part, sizeof part, "%s/final_state", dname);
    KRT_TRY(slice(c, seq[d], begin, end, part, &last[d]));
  }
  if (ox_n_outputs(c) > 0 && c->node->output[0][0]) {
    /* [N, T, H] per direction -> [N, T, dirs, H] (layout 1) -> [T, dirs, N, H] (layout 0) */
    int parts[2], y;
    for (int d = 0; d < r.dirs; d++) {
      char part[96];
      snprintf(part, sizeof part, "Y/direction%d", d);
      KRT_TRY(insert_axis(c, seq[d], 2, part, &parts[d]));
    }
    KRT_TRY(concat(c, parts, r.dirs, 2, "Y/directions", &y));
    static const int time_major[4] = {1, 2, 0, 3}, batch_major[4] = {0, 1, 2, 3};
    /* layout 0 with a dynamic batch: a view of y (onnx.c), a Transpose otherwise */
    KRT_TRY(ox_set_output_view(c, 0, y, r.layout == 0 ? time_major : batch_major));
  }
  if (ox_n_outputs(c) > 1 && c->node->output[1][0]) {
    /* [N, 1, H] per direction -> [N, dirs, H] (layout 1) -> [dirs, N, H] (layout 0) */
    int yh;
    KRT_TRY(concat(c, last, r.dirs, 1, "Y_h/directions", &yh));
    static const int time_major[3] = {1, 0, 2}, batch_major[3] = {0, 1, 2};
    KRT_TRY(ox_set_output_view(c, 1, yh, r.layout == 0 ? time_major : batch_major));
  }
  if (want_c) { /* as Y_h: [N, dirs, H] (layout 1) or [dirs, N, H] (layout 0) */
    int yc;
    KRT_TRY(concat(c, cell, r.dirs, 1, "Y_c/directions", &yc));
    static const int time_major[3] = {1, 0, 2}, batch_major[3] = {0, 1, 2};
    KRT_TRY(ox_set_output_view(c, 2, yc, r.layout == 0 ? time_major : batch_major));
  }
  return NULL;
}

static const char *const rnn_attrs[] = {
    "activation_alpha", "activation_beta", "activations", "clip",
    "direction",        "hidden_size",     "layout",      NULL};
static const char *const gru_attrs[] = {
    "activation_alpha", "activation_beta", "activations",         "clip", "direction",
    "hidden_size",      "layout",          "linear_before_reset", NULL};
static const char *const lstm_attrs[] = {
    "activation_alpha", "activation_beta", "activations",  "clip", "direction",
    "hidden_size",      "layout",          "input_forget", NULL};

const ox_op_entry ox_ops_rnn[] = {
    {"RNN", convert_rnn, OP_RNN, rnn_attrs},
    {"GRU", convert_rnn, OP_GRU, gru_attrs},
    {"LSTM", convert_rnn, OP_LSTM, lstm_attrs},
    {NULL, NULL, 0, NULL},
};
