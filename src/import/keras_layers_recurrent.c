/* Recurrent layers: SimpleRNN, LSTM, GRU (Keras 1, 2 and 3 spellings), CuDNNLSTM and CuDNNGRU
 * (Keras 2 files), and the Bidirectional wrapper around any of them. Each layer becomes one
 * Recurrent node (ops.def) with its weights rearranged into the IR's layout. A layer's outputs
 * are Keras's: y, then with return_state the final h (and c for LSTM), each an output of the
 * node; Bidirectional gives its merged y (both halves for merge_mode None), then the forward
 * half's states and the backward half's. Initial states are the call's further tensors
 * (initial_state=...), Bidirectional's the forward half's first.
 *
 *   W[F, G*H], R[H, G*H], b[B] with gate blocks in Keras 2/3 order: LSTM i f c o, GRU z r h.
 *
 * Where the files keep the weights:
 *   - Keras 2/3: kernel [F, G*H], recurrent_kernel [H, G*H], bias (if use_bias): [G*H], GRU
 *     reset_after [2, 3H] (input bias row, then recurrent bias row), all already in IR order.
 *   - Keras 1: one W_<g> [F, H], U_<g> [H, H], b_<g> [H] per gate, named by the gate (LSTM
 *     i c f o as saved, GRU z r h, SimpleRNN W U b), always with a bias; or, with
 *     consume_less='gpu', W U b concatenated in the Keras 2 order.
 *   - CuDNNLSTM: bias [8H] = cuDNN's input bias then its recurrent bias, which add up; CuDNNGRU:
 *     bias [6H] = input then recurrent bias, the reset_after GRU (cuDNN resets after the product).
 *
 * Keras computes each step in the order of ops.def's equations; options that only matter when
 * training (initializers, regularizers, constraints, dropout, recurrent_dropout) or that change how
 * the same sum is scheduled (unroll, implementation, use_cudnn, consume_less) are accepted,
 * everything else is mapped or refused by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

/* One recurrent layer as read from its config (a layer of its own or one half of Bidirectional). */
typedef struct rnn_layer {
  ir_rnn_cell cell;
  int units;
  ir_activation act, gate_act;
  int use_bias, go_backwards, return_sequences;
  int return_state; /* the final states after the output: h (GRU, SimpleRNN), h and c (LSTM) */
  int zero_output_for_mask; /* masked steps output zeros, not the previous step's output */
  int cudnn;                /* CuDNNLSTM / CuDNNGRU: fixed activations, bias as cuDNN keeps it */
} rnn_layer;

static int gate_count(ir_rnn_cell cell) {
  return cell == IR_RNN_SIMPLE ? 1 : cell == IR_RNN_LSTM ? 4 : 3;
}

/* Config keys that change nothing at inference, in any Keras version. */
static const char *const inert_keys[] = {
    "name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape",
    "activity_regularizer", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
    "unit_forget_bias",                      /* an initializer of the forget gate's bias */
    "unroll", "implementation", "use_cudnn", /* the same sums, scheduled differently */
    /* Keras 1 */
    "init", "inner_init", "forget_bias_init", "dropout_W", "dropout_U", "W_regularizer",
    "U_regularizer", "b_regularizer", "consume_less", "input_dim", "input_length", "input_dtype",
    NULL};

/* Keys read below. */
static const char *const read_keys[] = {"units",
                                        "output_dim",
                                        "activation",
                                        "recurrent_activation",
                                        "inner_activation",
                                        "use_bias",
                                        "go_backwards",
                                        "return_sequences",
                                        "stateful",
                                        "return_state",
                                        "time_major",
                                        "reset_after",
                                        "zero_output_for_mask",
                                        NULL};

static int in_list(const char *const *list, const char *key) {
  for (int i = 0; list[i]; i++)
    if (strcmp(list[i], key) == 0) return 1;
  return 0;
}

static krt_status *refuse_unknown_keys(const keras_layer_ctx *ctx) {
  const cJSON *item;
  cJSON_ArrayForEach(item, ctx->config) {
    if (!item->string || cJSON_IsNull(item)) continue;
    if (in_list(inert_keys, item->string) || in_list(read_keys, item->string)) continue;
    return kl_unsupported(ctx, "option %s is not supported", item->string);
  }
  return NULL;
}

/* An activation option with Keras's default when absent; recurrent_activation's default changed
 * (hard_sigmoid in Keras 1 and early Keras 2, sigmoid since), so it must be written unless Keras
 * 3 wrote the file. */
static krt_status *read_activation(const keras_layer_ctx *ctx, const char *key, const char *key1,
                                   ir_act_kind def, ir_activation *out) {
  const cJSON *spec = kc_get(ctx, NULL, key);
  if (!spec && key1) spec = kc_get(ctx, NULL, key1);
  if (!spec) {
    if (def == IR_ACT_SIGMOID && ctx->keras_major < 3)
      return kl_bad_file(ctx,
                         "option %s is not written; its default differs between Keras "
                         "versions",
                         key);
    *out = ir_act_none();
    out->kind = def;
    return NULL;
  }
  kc_activation a;
  KRT_TRY(kc_activation_parse(ctx, spec, &a));
  if (a.softmax)
    return kl_unsupported(ctx, "option %s=%s is not supported in a recurrent layer", key,
                          a.softmax == 2 ? "log_softmax" : "softmax");
  *out = a.act;
  return NULL;
}

static krt_status *read_flag(const keras_layer_ctx *ctx, const char *key, int *out) {
  return kc_bool(ctx, NULL, key, 0, out);
}

/* The options of ctx's layer (class ctx->class_name, config ctx->config). */
static krt_status *read_rnn_layer(const keras_layer_ctx *ctx, rnn_layer *l) {
  const char *cls = ctx->class_name;
  memset(l, 0, sizeof *l);
  KRT_TRY(kc_check_dtype_policy(ctx));
  KRT_TRY(refuse_unknown_keys(ctx));
  int flag;
  KRT_TRY(read_flag(ctx, "stateful", &flag));
  if (flag)
    return kl_unsupported(ctx,
                          "option stateful=True is not supported: krt starts every run "
                          "from the initial state (pass the state as an initial_state input)");
  KRT_TRY(read_flag(ctx, "return_state", &l->return_state));
  KRT_TRY(read_flag(ctx, "zero_output_for_mask", &l->zero_output_for_mask));
  KRT_TRY(read_flag(ctx, "time_major", &flag));
  if (flag) return kl_unsupported(ctx, "option time_major=True is not supported");
  KRT_TRY(kc_int(ctx, NULL, kc_has(ctx, "units") ? "units" : "output_dim", -1, &l->units));
  if (l->units < 1) return kl_bad_file(ctx, "option units is %d", l->units);
  KRT_TRY(kc_bool(ctx, NULL, "use_bias", 1, &l->use_bias));
  KRT_TRY(read_flag(ctx, "go_backwards", &l->go_backwards));
  KRT_TRY(read_flag(ctx, "return_sequences", &l->return_sequences));
  l->cudnn = strncmp(cls, "CuDNN", 5) == 0;
  if (strstr(cls, "LSTM")) {
    l->cell = IR_RNN_LSTM;
  } else if (strstr(cls, "GRU")) {
    int reset_after = 0;
    /* Keras 1 has no reset_after (it resets before); Keras 2 defaults to False, 3 to True;
     * cuDNN always resets after. */
    KRT_TRY(kc_bool(ctx, NULL, "reset_after", ctx->keras_major >= 3, &reset_after));
    if (l->cudnn && kc_has(ctx, "reset_after") && !reset_after)
      return kl_bad_file(ctx, "option reset_after=False is not what CuDNNGRU computes");
    l->cell = reset_after || l->cudnn ? IR_RNN_GRU_RESET_AFTER : IR_RNN_GRU;
  } else {
    l->cell = IR_RNN_SIMPLE;
  }
  if (l->cudnn) { /* cuDNN's cells: tanh and sigmoid, nothing else */
    if (kc_has(ctx, "activation") || kc_has(ctx, "recurrent_activation"))
      return kl_unsupported(ctx, "option activation of a CuDNN layer is not supported");
    l->act = ir_act_none(), l->act.kind = IR_ACT_TANH;
    l->gate_act = ir_act_none(), l->gate_act.kind = IR_ACT_SIGMOID;
    l->use_bias = 1;
    return NULL;
  }
  KRT_TRY(read_activation(ctx, "activation", NULL, IR_ACT_TANH, &l->act));
  if (l->cell == IR_RNN_SIMPLE) {
    if (kc_has(ctx, "recurrent_activation") || kc_has(ctx, "inner_activation"))
      return kl_bad_file(ctx, "a SimpleRNN has no recurrent activation");
    memset(&l->gate_act, 0, sizeof l->gate_act); /* unused */
  } else {
    KRT_TRY(read_activation(ctx, "recurrent_activation", "inner_activation", IR_ACT_SIGMOID,
                            &l->gate_act));
  }
  return NULL;
}

/* ---- weights ------------------------------------------------------------------------------- */

/* w's shape must be `rank` dims equal to dims (-1 any). */
static krt_status *expect_array(const keras_layer_ctx *ctx, const keras_array *w, const char *what,
                                int rank, const int64_t *dims) {
  int ok = w->data && w->rank == rank;
  for (int i = 0; ok && i < rank; i++) ok = dims[i] < 0 || w->dims[i] == dims[i];
  if (ok) return NULL;
  char want[96] = "(", got[96] = "(";
  for (int i = 0; i < rank; i++)
    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "",
             (long long)dims[i]);
  for (int i = 0; i < w->rank; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
             (long long)w->dims[i]);
  return kl_bad_file(ctx, "weight %s ('%s') has shape %s), expected %s)", what,
                     w->name ? w->name : "?", got, want);
}

/* The weight whose name (without a ":0" suffix) ends in "_<suffix>" (Keras 1 per-gate names:
 * "lstm_1_W_i:0"), or NULL. */
static const keras_array *keras1_weight(const keras_layer_ctx *ctx, const char *suffix) {
  size_t n = strlen(suffix);
  for (int i = 0; i < ctx->n_weights; i++) {
    const char *name = ctx->weights[i].name ? ctx->weights[i].name : "";
    const char *colon = strrchr(name, ':');
    size_t len = colon ? (size_t)(colon - name) : strlen(name);
    if (len > n && name[len - n - 1] == '_' && strncmp(name + len - n, suffix, n) == 0)
      return &ctx->weights[i];
  }
  return NULL;
}

/* Keras 1's per-gate weights into W[F, G*H], R[H, G*H], b[G*H] (zeroed by the caller). */
static krt_status *gather_keras1_gates(const keras_layer_ctx *ctx, const rnn_layer *l, int64_t f,
                                       float *w, float *r, float *b) {
  static const char *const lstm[] = {"i", "f", "c", "o"}, *const gru[] = {"z", "r", "h"};
  int64_t h = l->units, g = gate_count(l->cell);
  for (int64_t k = 0; k < g; k++) {
    char names[3][8];
    const char *gate = l->cell == IR_RNN_SIMPLE ? "" : l->cell == IR_RNN_LSTM ? lstm[k] : gru[k];
    snprintf(names[0], sizeof names[0], "W%s%s", *gate ? "_" : "", gate);
    snprintf(names[1], sizeof names[1], "U%s%s", *gate ? "_" : "", gate);
    snprintf(names[2], sizeof names[2], "b%s%s", *gate ? "_" : "", gate);
    const keras_array *a[3];
    for (int j = 0; j < 3; j++) {
      a[j] = keras1_weight(ctx, names[j]);
      if (!a[j]) return kl_bad_file(ctx, "the Keras 1 weight %s is missing", names[j]);
    }
    int64_t wd[2] = {f, h}, rd[2] = {h, h};
    KRT_TRY(expect_array(ctx, a[0], names[0], 2, wd));
    KRT_TRY(expect_array(ctx, a[1], names[1], 2, rd));
    KRT_TRY(expect_array(ctx, a[2], names[2], 1, &h));
    for (int64_t i = 0; i < f; i++)
      memcpy(w + i * g * h + k * h, a[0]->data + i * h, (size_t)h * sizeof *w);
    for (int64_t i = 0; i < h; i++)
      memcpy(r + i * g * h + k * h, a[1]->data + i * h, (size_t)h * sizeof *r);
    memcpy(b + k * h, a[2]->data, (size_t)h * sizeof *b);
  }
  return NULL;
}

/* CuDNNLSTM / CuDNNGRU keep each gate's kernels as cuDNN reads them; Keras turns them into
 * LSTM / GRU(reset_after=True) kernels when it loads such weights into those layers
 * (tf_keras saving/legacy/hdf5_format.py, _convert_rnn_weights), which is what they compute:
 *   input kernel of gate k, a [F, H] block c:  keras = c.T.reshape([F, H], order='F'), i.e.
 *     keras[i, j] = c[p / H, p % H] with p = i + F*j  (c.T read and written column-major)
 *   recurrent kernel of gate k, a [H, H] block: keras = block.T
 * Blocks are columns k*H .. k*H+H-1 of the [F, G*H] and [H, G*H] arrays. */
static void cudnn_kernels_to_keras(const float *kernel, const float *recurrent, int64_t f,
                                   int64_t h, int64_t gates, float *w, float *r) {
  int64_t gh = gates * h;
  for (int64_t k = 0; k < gates; k++) {
    for (int64_t i = 0; i < f; i++)
      for (int64_t j = 0; j < h; j++) {
        int64_t p = i + f * j;
        w[i * gh + k * h + j] = kernel[(p / h) * gh + k * h + p % h];
      }
    for (int64_t i = 0; i < h; i++)
      for (int64_t j = 0; j < h; j++) r[i * gh + k * h + j] = recurrent[j * gh + k * h + i];
  }
}

/* Keras 2/3 (and Keras 1 consume_less='gpu', CuDNN*) kernel, recurrent_kernel, bias? in order. */
static krt_status *gather_fused(const keras_layer_ctx *ctx, const rnn_layer *l, int64_t f, float *w,
                                float *r, float *b) {
  int64_t h = l->units, gh = gate_count(l->cell) * h;
  int expect = l->use_bias ? 3 : 2;
  if (ctx->n_weights != expect)
    return kl_bad_file(ctx,
                       "expected %d weight arrays (kernel, recurrent_kernel%s), the file has "
                       "%d",
                       expect, l->use_bias ? ", bias" : "", ctx->n_weights);
  int64_t wd[2] = {f, gh}, rd[2] = {h, gh};
  KRT_TRY(expect_array(ctx, &ctx->weights[0], "kernel", 2, wd));
  KRT_TRY(expect_array(ctx, &ctx->weights[1], "recurrent_kernel", 2, rd));
  if (l->cudnn) {
    cudnn_kernels_to_keras(ctx->weights[0].data, ctx->weights[1].data, f, h, gate_count(l->cell), w,
                           r);
  } else {
    memcpy(w, ctx->weights[0].data, (size_t)(f * gh) * sizeof *w);
    memcpy(r, ctx->weights[1].data, (size_t)(h * gh) * sizeof *r);
  }
  if (!l->use_bias) return NULL;
  const keras_array *bias = &ctx->weights[2];
  if (l->cudnn && l->cell == IR_RNN_LSTM) { /* [8H]: input bias + recurrent bias */
    int64_t n = 2 * gh;
    KRT_TRY(expect_array(ctx, bias, "bias", 1, &n));
    for (int64_t j = 0; j < gh; j++) b[j] = bias->data[j] + bias->data[gh + j];
  } else if (l->cell == IR_RNN_GRU_RESET_AFTER) { /* [2, 3H] or CuDNNGRU's [6H], same order */
    int64_t two[2] = {2, gh}, n = 2 * gh;
    if (bias->rank == 2)
      KRT_TRY(expect_array(ctx, bias, "bias", 2, two));
    else
      KRT_TRY(expect_array(ctx, bias, "bias", 1, &n));
    memcpy(b, bias->data, (size_t)n * sizeof *b);
  } else {
    KRT_TRY(expect_array(ctx, bias, "bias", 1, &gh));
    memcpy(b, bias->data, (size_t)gh * sizeof *b);
  }
  return NULL;
}

/* The states a cell carries from step to step: h, and c for an LSTM. */
static int state_count(const rnn_layer *l) {
  return l->cell == IR_RNN_LSTM ? 2 : 1;
}

/* Emits the Recurrent node of layer l (weights in ctx) on x with initial states states[0..n);
 * node and constants are named "<layer>/<part>/..." (part NULL: the layer's own name). Its
 * outputs go to outs: the sequence or last output, then with return_state the final h (and c),
 * as Keras returns them; *n_outs gets their count. */
static krt_status *emit_rnn(const keras_layer_ctx *ctx, const keras_layer_ctx *emit_ctx,
                            const rnn_layer *l, int x, const int *states, int n_states, int mask,
                            int reverse_output, const char *part, int *outs, int *n_outs) {
  const ir_value *xv = kl_value(emit_ctx, x);
  if (xv->rank != 3)
    return kl_unsupported(ctx, "expects an input of rank 3 [batch, steps, features], got rank %d",
                          xv->rank);
  int64_t f = xv->dims[2], h = l->units, g = gate_count(l->cell);
  if (f < 0) return kl_bad_file(ctx, "the input's feature axis has no known size");
  int64_t nb = l->cell == IR_RNN_GRU_RESET_AFTER ? 2 * g * h : g * h;
  float *w = calloc((size_t)(f * g * h > 0 ? f * g * h : 1), sizeof *w);
  float *r = calloc((size_t)(h * g * h), sizeof *r);
  float *b = calloc((size_t)nb, sizeof *b);
  krt_status *s = NULL;
  if (!w || !r || !b) s = krt_error_oom("recurrent weights");
  int keras1_gates = ctx->keras_major == 1 && ctx->n_weights == 3 * g;
  if (!s && keras1_gates && !l->use_bias)
    s = kl_bad_file(ctx, "a Keras 1 recurrent layer without bias");
  if (!s)
    s = keras1_gates ? gather_keras1_gates(ctx, l, f, w, r, b) : gather_fused(ctx, l, f, w, r, b);
  if (s) {
    free(w), free(r), free(b);
    return s;
  }
  char names[3][96];
  const char *const roles[3] = {"kernel", "recurrent_kernel", "bias"};
  for (int i = 0; i < 3; i++)
    snprintf(names[i], sizeof names[i], "%s%s%s", part ? part : "", part ? "/" : "", roles[i]);
  int ins[7] = {x, -1, -1, -1, -1, -1, -1};
  int64_t wd[2] = {f, g * h}, rd[2] = {h, g * h};
  s = kl_const(emit_ctx, names[0], 2, wd, w, &ins[1]);
  if (s) {
    free(r), free(b);
    return s;
  }
  s = kl_const(emit_ctx, names[1], 2, rd, r, &ins[2]);
  if (s) {
    free(b);
    return s;
  }
  KRT_TRY(kl_const(emit_ctx, names[2], 1, &nb, b, &ins[3]));
  for (int i = 0; i < n_states; i++) ins[4 + i] = states[i];
  if (mask >= 0) ins[4 + n_states] = mask;
  ir_attrs a = kl_attrs();
  a.rnn_masked = mask >= 0;
  a.rnn_zero_masked_output = mask >= 0 && l->zero_output_for_mask;
  a.rnn_cell = l->cell;
  a.rnn_units = l->units;
  a.rnn_act = l->act;
  a.rnn_gate_act = l->gate_act;
  a.rnn_go_backwards = l->go_backwards;
  a.rnn_return_sequences = l->return_sequences;
  a.rnn_reverse_output = reverse_output && l->return_sequences;
  *n_outs = l->return_state ? 1 + state_count(l) : 1;
  return kl_emit_outputs(emit_ctx, IR_OP_RECURRENT, part, ins, 4 + n_states + (mask >= 0), &a,
                         *n_outs, outs);
}

/* The mask of this call (Keras 3 records it as the call's keyword argument mask: a [N, T] tensor,
 * nonzero where the step is used), or -1 without one. */
static krt_status *call_mask(const keras_layer_ctx *ctx, int *mask) {
  *mask = -1;
  if (!ctx->has_mask) {
    if (kl_call_kwarg(ctx, "mask"))
      return kl_unsupported(ctx, "the call's keyword argument mask is not one tensor");
    return NULL;
  }
  const ir_value *m = kl_value(ctx, ctx->mask), *x = kl_value(ctx, ctx->inputs[0]);
  if (m->rank != 2 || x->rank != 3 || m->dims[1] != x->dims[1] || m->batched != x->batched)
    return kl_unsupported(ctx, "the call's mask is %dD; expected [batch, %lld steps]", m->rank,
                          (long long)(x->rank == 3 ? x->dims[1] : -1));
  *mask = ctx->mask;
  return NULL;
}

krt_status *kl_convert_recurrent(const keras_layer_ctx *ctx, int variant, int *outputs,
                                 int *n_outputs) {
  (void)variant;
  rnn_layer l;
  KRT_TRY(read_rnn_layer(ctx, &l));
  int n_states = state_count(&l);
  if (ctx->n_inputs != 1 && ctx->n_inputs != 1 + n_states)
    return kl_bad_file(ctx,
                       "the layer is called on %d tensors; it takes the sequence and "
                       "optionally %d initial state%s",
                       ctx->n_inputs, n_states, n_states > 1 ? "s (h, c)" : "");
  int mask;
  KRT_TRY(call_mask(ctx, &mask));
  return emit_rnn(ctx, ctx, &l, ctx->inputs[0], ctx->inputs + 1, ctx->n_inputs - 1, mask, 0, NULL,
                  outputs, n_outputs);
}

/* ---- Bidirectional ------------------------------------------------------------------------- */

/* The wrapped layer {"class_name": ..., "config": {...}} as a context of its own: its config,
 * its class (must be one of the recurrent classes, Keras's own) and its share of the weights. */
static krt_status *sub_layer(const keras_layer_ctx *ctx, const cJSON *spec, const char *role,
                             char *class_buf, size_t class_size, keras_layer_ctx *sub) {
  const cJSON *cls =
      cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "class_name") : NULL;
  const cJSON *cfg = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "config") : NULL;
  if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg))
    return kl_bad_file(ctx, "option %s is not a layer {class_name, config}", role);
  const cJSON *module = cJSON_GetObjectItemCaseSensitive(spec, "module");
  const cJSON *registered = cJSON_GetObjectItemCaseSensitive(spec, "registered_name");
  static const char *const classes[] = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", NULL};
  if (!in_list(classes, cls->valuestring) ||
      (cJSON_IsString(module) && strncmp(module->valuestring, "keras.", 6) != 0) ||
      (cJSON_IsString(registered) && strcmp(registered->valuestring, cls->valuestring) != 0))
    return kl_unsupported(ctx,
                          "option %s: a Bidirectional around %s (module %s) is not "
                          "supported; krt supports LSTM, GRU and SimpleRNN",
                          role, cls->valuestring,
                          cJSON_IsString(module) ? module->valuestring : "none");
  *sub = *ctx;
  snprintf(class_buf, class_size, "%s(%s)", ctx->class_name, cls->valuestring);
  sub->class_name = class_buf;
  sub->config = cfg;
  return NULL;
}

/* Splits ctx's weights between the halves: Keras 3 .keras names them "forward_layer/..." and
 * "backward_layer/..." (in no fixed order); HDF5 files keep the forward half's first. */
static krt_status *split_weights(const keras_layer_ctx *ctx, int n_forward, keras_array *forward,
                                 keras_array *backward, int *nf, int *nb) {
  *nf = *nb = 0;
  int named = 0;
  for (int i = 0; i < ctx->n_weights; i++) {
    const char *name = ctx->weights[i].name ? ctx->weights[i].name : "";
    if (strncmp(name, "forward_layer/", 14) == 0)
      forward[(*nf)++] = ctx->weights[i], named = 1;
    else if (strncmp(name, "backward_layer/", 15) == 0)
      backward[(*nb)++] = ctx->weights[i], named = 1;
  }
  if (named) {
    if (*nf + *nb != ctx->n_weights)
      return kl_bad_file(ctx, "weights outside forward_layer/ and backward_layer/");
    return NULL;
  }
  *nf = *nb = 0;
  for (int i = 0; i < ctx->n_weights; i++) {
    if (i < n_forward)
      forward[(*nf)++] = ctx->weights[i];
    else
      backward[(*nb)++] = ctx->weights[i];
  }
  return NULL;
}

/* How many arrays a layer saves: kernel, recurrent_kernel, bias?; Keras 1: 3 per gate. */
static int weight_count(const keras_layer_ctx *ctx, const rnn_layer *l) {
  if (ctx->keras_major == 1 && !kc_has(ctx, "consume_less")) return 3 * gate_count(l->cell);
  if (ctx->keras_major == 1) {
    const cJSON *c = kc_get(ctx, NULL, "consume_less");
    if (!cJSON_IsString(c) || strcmp(c->valuestring, "gpu") != 0) return 3 * gate_count(l->cell);
  }
  return l->use_bias ? 3 : 2;
}

static const char *const bidirectional_keys[] = {"layer", "merge_mode", "backward_layer", "weights",
                                                 NULL};

krt_status *kl_convert_bidirectional(const keras_layer_ctx *ctx, int variant, int *outputs,
                                     int *n_outputs) {
  (void)variant;
  KRT_TRY(kc_refuse_unknown_keys(ctx, bidirectional_keys));
  if (kc_get(ctx, NULL, "weights"))
    return kl_unsupported(ctx, "option weights (initial weights in the config) is not supported");
  const char *merge = "concat";
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(ctx->config, "merge_mode");
  if (cJSON_IsString(m))
    merge = m->valuestring;
  else if (m && !cJSON_IsNull(m))
    return kl_bad_file(ctx, "option merge_mode is not a string");
  else if (m)
    merge = NULL; /* merge_mode None: the two halves */
  if (merge && strcmp(merge, "concat") != 0 && strcmp(merge, "sum") != 0 &&
      strcmp(merge, "mul") != 0 && strcmp(merge, "ave") != 0)
    return kl_unsupported(ctx, "option merge_mode='%s' is not supported", merge);

  char fwd_class[96], bwd_class[96];
  keras_layer_ctx fwd, bwd;
  KRT_TRY(sub_layer(ctx, kc_get(ctx, NULL, "layer"), "layer", fwd_class, sizeof fwd_class, &fwd));
  const cJSON *backward_spec = kc_get(ctx, NULL, "backward_layer");
  KRT_TRY(sub_layer(ctx, backward_spec ? backward_spec : kc_get(ctx, NULL, "layer"),
                    backward_spec ? "backward_layer" : "layer", bwd_class, sizeof bwd_class, &bwd));
  rnn_layer lf, lb;
  KRT_TRY(read_rnn_layer(&fwd, &lf));
  KRT_TRY(read_rnn_layer(&bwd, &lb));
  if (!backward_spec) lb.go_backwards = !lf.go_backwards; /* Keras's copy of the layer */
  if (lb.return_sequences != lf.return_sequences)
    return kl_bad_file(ctx, "the two halves differ in return_sequences");
  if (lb.return_state != lf.return_state)
    return kl_bad_file(ctx, "the two halves differ in return_state");
  /* initial_state: the forward half's states, then the backward half's; Keras gives each half
   * one half of the list */
  int nsf = state_count(&lf), nsb = state_count(&lb), n_init = ctx->n_inputs - 1;
  if (n_init != 0 && nsf != nsb)
    return kl_unsupported(ctx,
                          "initial states for halves that carry %d and %d states are not "
                          "supported (Keras gives each half one half of the list)",
                          nsf, nsb);
  if (n_init != 0 && n_init != nsf + nsb)
    return kl_bad_file(ctx,
                       "the layer is called on %d tensors; it takes the sequence and "
                       "optionally %d initial states (the forward half's, then the backward "
                       "half's)",
                       ctx->n_inputs, nsf + nsb);

  int mask;
  KRT_TRY(call_mask(ctx, &mask));
  /* Keras's Bidirectional sets each half's zero_output_for_mask to its return_sequences when it
   * is built, whatever the config says */
  lf.zero_output_for_mask = lf.return_sequences;
  lb.zero_output_for_mask = lb.return_sequences;

  keras_array *split = calloc((size_t)(2 * ctx->n_weights + 2), sizeof *split);
  if (!split) return krt_error_oom("bidirectional weights");
  int nf = 0, nb = 0;
  krt_status *s =
      split_weights(ctx, weight_count(&fwd, &lf), split, split + ctx->n_weights + 1, &nf, &nb);
  fwd.weights = split, fwd.n_weights = nf;
  bwd.weights = split + ctx->n_weights + 1, bwd.n_weights = nb;
  /* each half's outputs: y, then with return_state its final states */
  int fo[3] = {-1, -1, -1}, bo[3] = {-1, -1, -1}, nfo = 0, nbo = 0;
  const int *init = ctx->inputs + 1;
  if (!s)
    s = emit_rnn(&fwd, ctx, &lf, ctx->inputs[0], init, n_init / 2, mask, 0, "forward", fo, &nfo);
  /* Keras flips the backward half's sequence back into time order */
  if (!s)
    s = emit_rnn(&bwd, ctx, &lb, ctx->inputs[0], init + n_init / 2, n_init / 2, mask, 1, "backward",
                 bo, &nbo);
  free(split);
  KRT_TRY(s);
  /* Keras's outputs: the merged y (merge_mode None: y_forward, y_backward), then with
   * return_state the forward half's states and the backward half's */
  int n_merged = merge ? 1 : 2;
  *n_outputs = n_merged + (nfo - 1) + (nbo - 1);
  for (int i = 1; i < nfo; i++) outputs[n_merged + i - 1] = fo[i];
  for (int i = 1; i < nbo; i++) outputs[n_merged + nfo - 1 + i - 1] = bo[i];
  int y[2] = {fo[0], bo[0]};
  if (!merge) {
    outputs[0] = y[0], outputs[1] = y[1];
    return NULL;
  }
  ir_attrs a = kl_attrs();
  if (strcmp(merge, "concat") == 0) {
    a.axis = kl_value(ctx, y[0])->rank - 1;
    return kl_emit(ctx, IR_OP_CONCAT, NULL, y, 2, &a, &outputs[0]);
  }
  int ave = strcmp(merge, "ave") == 0;
  a.binary = strcmp(merge, "mul") == 0 ? IR_BINARY_MUL : IR_BINARY_ADD;
  int sum;
  KRT_TRY(kl_emit(ctx, IR_OP_BINARY, ave ? "sum" : NULL, y, 2, &a, &sum));
  if (!ave) {
    outputs[0] = sum;
    return NULL;
  }
  int two, ins[2] = {sum, -1};
  KRT_TRY(kl_const_fill(ctx, "two", 1, 2.0f, &two));
  ins[1] = two;
  a.binary = IR_BINARY_DIV;
  return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, &outputs[0]);
}
