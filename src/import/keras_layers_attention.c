/* Layers built from products of tensors: EinsumDense, Dot, Attention, AdditiveAttention,
 * MultiHeadAttention and GroupedQueryAttention, composed of MatMul (or Dense, by a constant matrix), Softmax, Binary,
 * Reduce, Reshape and Transpose nodes; no op of their own. The einsums are keras_ops.c's
 * (keras_einsum), so ops.einsum and these layers share one implementation.
 *
 * Formulas follow Keras 3 (keras/src/layers/core/einsum_dense.py, merging/dot.py,
 * attention/attention.py, additive_attention.py, multi_head_attention.py,
 * grouped_query_attention.py and the TensorFlow
 * backend's dot_product_attention), in Keras's order of operations. Dropout is the identity at
 * inference, so any dropout rate is accepted. Keras masks (query_mask, value_mask, key_mask)
 * are refused; the causal mask is built as a constant, an attention_mask tensor turned into 0/1,
 * and either is applied with the same where() Keras uses (Binary WHERE_TRUE / WHERE_FALSE,
 * exact). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

/* ---- small emitters ---------------------------------------------------------------------- */

static krt_status *binary(const keras_layer_ctx *ctx, ir_binary_kind kind, int a, int b,
                          const char *part, int *out) {
  ir_attrs at = kl_attrs();
  at.binary = kind;
  return kl_emit(ctx, IR_OP_BINARY, part, (int[]){a, b}, 2, &at, out);
}

static krt_status *unary(const keras_layer_ctx *ctx, ir_act_kind kind, int x, const char *part,
                         int *out) {
  ir_attrs at = kl_attrs();
  at.act.kind = kind;
  return kl_emit(ctx, IR_OP_ACTIVATION, part, &x, 1, &at, out);
}

/* x -> x with its per-sample shape set to dims[0 .. rank) (the batch stays axis 0). */
static krt_status *reshape(const keras_layer_ctx *ctx, int x, const int64_t *dims, int rank,
                           const char *part, int *out) {
  ir_attrs at = kl_attrs();
  at.shape_rank = rank;
  for (int i = 0; i < rank; i++) at.shape[i] = dims[i];
  return kl_emit(ctx, IR_OP_RESHAPE, part, &x, 1, &at, out);
}

static krt_status *softmax_last(const keras_layer_ctx *ctx, int x, const char *part, int *out) {
  ir_attrs at = kl_attrs();
  at.n_axes = 1;
  at.axes[0] = kl_value(ctx, x)->rank - 1;
  return kl_emit(ctx, IR_OP_SOFTMAX, part, &x, 1, &at, out);
}

/* A boolean call argument (Keras 3 kwargs or a Keras 1/2 inbound entry's). */
static krt_status *call_flag(const keras_layer_ctx *ctx, const char *name, int *out) {
  const cJSON *kw = kl_call_kwarg(ctx, name);
  *out = 0;
  if (!kw) return NULL;
  if (!cJSON_IsBool(kw)) return kl_bad_file(ctx, "call argument %s is not a boolean", name);
  *out = cJSON_IsTrue(kw);
  return NULL;
}

/* Weight i holding one number (saved with shape () or (1,)). */
static krt_status *scalar_weight(const keras_layer_ctx *ctx, int i, const char *what, float *out) {
  if (i >= ctx->n_weights) return kl_bad_file(ctx, "weight %s is missing", what);
  const keras_array *w = &ctx->weights[i];
  int64_t n = 1;
  for (int d = 0; d < w->rank; d++) n *= w->dims[d];
  if (n != 1 || !w->data)
    return kl_bad_file(ctx, "weight %s ('%s') is not a single number", what,
                       w->name ? w->name : "?");
  *out = w->data[0];
  return NULL;
}

/* The causal "padding" mask [T, S] as a constant: 1 where key position j > query position i
 * (masked), 0 where j <= i (kept): the complement of Keras's cumsum(rows) >= cumsum(cols), which
 * is tf.linalg.band_part(ones, -1, 0). keep = 1 gives the kept positions instead. */
static krt_status *causal_const(const keras_layer_ctx *ctx, int64_t t, int64_t s, int keep,
                                const char *part, int *id) {
  if (t < 0 || s < 0)
    return kl_unsupported(ctx, "call argument use_causal_mask=True needs the sequence lengths "
                               "known (give the inputs a fixed length)");
  float *data = malloc((size_t)(t * s > 0 ? t * s : 1) * sizeof *data);
  if (!data) return krt_error_oom("causal mask");
  for (int64_t i = 0; i < t; i++)
    for (int64_t j = 0; j < s; j++) data[i * s + j] = (j > i) != keep ? 1.0f : 0.0f;
  return kl_const(ctx, part, 2, (int64_t[]){t, s}, data, id);
}

/* where(cond, a, fill) with cond a constant mask (nonzero: a) and fill a number:
 * WHERE_TRUE(a, cond) + WHERE_FALSE(fill, cond), exact (the other term is 0). */
static krt_status *where_const(const keras_layer_ctx *ctx, int cond, int a, float fill,
                               const char *part, int *out) {
  char name[64];
  int kept, f, filled;
  snprintf(name, sizeof name, "%s_kept", part);
  KRT_TRY(binary(ctx, IR_BINARY_WHERE_TRUE, a, cond, name, &kept));
  snprintf(name, sizeof name, "%s_fill", part);
  KRT_TRY(kl_const_fill(ctx, name, 1, fill, &f));
  snprintf(name, sizeof name, "%s_filled", part);
  KRT_TRY(binary(ctx, IR_BINARY_WHERE_FALSE, f, cond, name, &filled));
  return binary(ctx, IR_BINARY_ADD, kept, filled, part, out);
}

/* ---- EinsumDense ------------------------------------------------------------------------- */

/* y = einsum(eq, x, kernel) (+ bias, the saved shape broadcast against y's trailing axes), the
 * weights being ctx->weights[kernel] and [bias] (bias < 0: none); constants "<part>kernel" and
 * "<part>bias". */
static krt_status *einsum_dense(const keras_layer_ctx *ctx, int x, const char *eq, int kernel,
                                int bias, const char *part, const char *out_part, int *out) {
  char name[64];
  const keras_array *k = &ctx->weights[kernel];
  if (!k->data || k->rank < 1) return kl_bad_file(ctx, "weight %skernel is missing", part);
  snprintf(name, sizeof name, "%skernel", part);
  int w, y;
  KRT_TRY(kl_const_copy(ctx, name, k->rank, k->dims, k->data, &w));
  KRT_TRY(keras_einsum(ctx, eq, x, w, name, &y));
  if (bias < 0) {
    *out = y;
    return NULL;
  }
  const keras_array *b = &ctx->weights[bias];
  const ir_value *yv = kl_value(ctx, y);
  if (!b->data || b->rank < 1 || b->rank >= yv->rank)
    return kl_bad_file(ctx, "weight %sbias ('%s') does not fit the output of rank %d", part,
                       b->name ? b->name : "?", yv->rank);
  for (int i = 0; i < b->rank; i++) {
    int64_t d = yv->dims[yv->rank - b->rank + i];
    if (b->dims[i] != 1 && b->dims[i] != d)
      return kl_bad_file(ctx, "weight %sbias ('%s') does not fit the output's axis %d", part,
                         b->name ? b->name : "?", yv->rank - b->rank + i);
  }
  snprintf(name, sizeof name, "%sbias", part);
  int bc;
  KRT_TRY(kl_const_copy(ctx, name, b->rank, b->dims, b->data, &bc));
  return binary(ctx, IR_BINARY_ADD, y, bc, out_part, out);
}

/* EinsumDense: y = act(einsum(equation, x, kernel) + bias); output_shape only sizes the kernel
 * (the saved one says it all); bias_axes says whether there is a bias (its saved shape says
 * where). Regularizers, constraints and initializers do not change inference. A .keras file holds
 * a LoRA layer's kernel merged (lora_rank is then harmless); the legacy .h5 writer saves the
 * adapter apart, which is refused. */
krt_status *kl_convert_einsum_dense(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  static const char *const known[] = {
      "equation",         "output_shape",     "activation",        "bias_axes",
      "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
      "kernel_constraint", "bias_constraint",  "lora_rank",         "lora_alpha",
      NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, known));
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  const char *eq = NULL;
  KRT_TRY(kc_string(ctx, NULL, "equation", NULL, &eq));
  if (!eq) return kl_bad_file(ctx, "option equation is missing");
  int has_bias = kc_has(ctx, "bias_axes");
  int base = has_bias ? 2 : 1;
  if (ctx->n_weights == base + 2 && kc_has(ctx, "lora_rank"))
    return kl_unsupported(ctx, "option lora_rank with the LoRA weights saved apart from the "
                               "kernel (legacy .h5) is not supported; save as .keras");
  KRT_TRY(kl_expect_weights(ctx, base, base));
  kc_activation act;
  KRT_TRY(kc_activation_option(ctx, &act));
  int y;
  KRT_TRY(einsum_dense(ctx, ctx->inputs[0], eq, 0, has_bias ? 1 : -1, "",
                       act.act.kind == IR_ACT_NONE && !act.softmax ? NULL : "linear", &y));
  return kl_apply_activation(ctx, y, &act, NULL, out);
}

/* ---- Dot --------------------------------------------------------------------------------- */

/* Keras 3's normalize(x, axis) for order 2 (ops.nn.normalize):
 * x * min(rsqrt(sum(x^2, axis, keepdims)), 1/epsilon), epsilon = backend.epsilon() = 1e-7 (the
 * default; keras.config.set_epsilon is not saved in the file). Keras 1/2 files: tf_keras's Dot
 * calls tf.linalg.l2_normalize, x * rsqrt(max(sum(x^2), 1e-12)). */
static krt_status *l2_normalize(const keras_layer_ctx *ctx, int x, int axis, int index, int *out) {
  char part[32];
  int sq, sum, inv, c;
  snprintf(part, sizeof part, "square_%d", index);
  KRT_TRY(unary(ctx, IR_ACT_SQUARE, x, part, &sq));
  ir_attrs at = kl_attrs();
  at.reduce = IR_REDUCE_SUM;
  at.n_axes = 1;
  at.axes[0] = axis;
  at.keepdims = 1;
  snprintf(part, sizeof part, "square_sum_%d", index);
  KRT_TRY(kl_emit(ctx, IR_OP_REDUCE, part, &sq, 1, &at, &sum));
  if (ctx->keras_major < 3) {
    KRT_TRY(kl_const_fill(ctx, "epsilon", 1, 1e-12f, &c));
    snprintf(part, sizeof part, "square_sum_floored_%d", index);
    KRT_TRY(binary(ctx, IR_BINARY_MAX, sum, c, part, &sum));
  }
  snprintf(part, sizeof part, "inv_norm_%d", index);
  KRT_TRY(unary(ctx, IR_ACT_RSQRT, sum, part, &inv));
  if (ctx->keras_major >= 3) {
    KRT_TRY(kl_const_fill(ctx, "inv_epsilon", 1, (float)(1.0 / 1e-7), &c));
    snprintf(part, sizeof part, "inv_norm_capped_%d", index);
    KRT_TRY(binary(ctx, IR_BINARY_MIN, inv, c, part, &inv));
  }
  snprintf(part, sizeof part, "normalized_%d", index);
  return binary(ctx, IR_BINARY_MUL, x, inv, part, out);
}

/* Dot(axes, normalize): Keras's batch_dot of two batched inputs x [N, ...] and y [N, ...] along
 * axes (a0 of x, a1 of y; an int is both, a negative one counts from each input's end, the batch
 * axis is refused): the einsum "n<x's axes>,n<y's axes>->n<x's other axes><y's other axes>", of
 * shape [N, 1] when both inputs are rank 2. */
krt_status *kl_convert_dot(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  static const char *const known[] = {"axes", "normalize", NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, known));
  KRT_TRY(kl_expect_inputs(ctx, 2, 2));
  int x[2] = {ctx->inputs[0], ctx->inputs[1]}, rank[2], axes[2], n = 0, normalize;
  for (int i = 0; i < 2; i++) {
    rank[i] = kl_value(ctx, x[i])->rank;
    if (!kl_value(ctx, x[i])->batched || rank[i] < 2)
      return kl_unsupported(ctx, "input %d is not a batched tensor of rank 2 or more", i);
  }
  int raw[2];
  KRT_TRY(kc_int_list(ctx, kc_get(ctx, NULL, "axes"), "axes", 2, raw, &n));
  if (n == 1) raw[1] = raw[0];
  else if (n != 2) return kl_bad_file(ctx, "option axes has %d entries (1 or 2)", n);
  for (int i = 0; i < 2; i++) {
    axes[i] = raw[i] < 0 ? ((raw[i] % rank[i]) + rank[i]) % rank[i] : raw[i]; /* Python's % */
    if (axes[i] >= rank[i])
      return kl_bad_file(ctx, "option axes: axis %d is out of range for input %d of rank %d",
                         raw[i], i, rank[i]);
    if (axes[i] == 0)
      return kl_bad_file(ctx, "option axes: the dot product over the batch axis (axis 0) is not "
                              "defined (Keras refuses it too)");
  }
  KRT_TRY(kc_bool(ctx, NULL, "normalize", 0, &normalize));
  if (normalize)
    for (int i = 0; i < 2; i++) KRT_TRY(l2_normalize(ctx, x[i], axes[i], i, &x[i]));
  /* letters: 'a' the batch, 'z' the contracted axis, the others b, c, ... in order */
  char t[2][KRT_MAX_RANK + 1], o[2 * KRT_MAX_RANK + 1], eq[4 * KRT_MAX_RANK + 8];
  int ro = 0;
  char next = 'b';
  o[ro++] = 'a';
  for (int i = 0; i < 2; i++) {
    for (int d = 0; d < rank[i]; d++) {
      t[i][d] = d == 0 ? 'a' : d == axes[i] ? 'z' : next++;
      if (d != 0 && d != axes[i]) o[ro++] = t[i][d];
    }
    t[i][rank[i]] = 0;
  }
  o[ro] = 0;
  if (ro > KRT_MAX_RANK)
    return kl_unsupported(ctx, "the result would have rank %d (at most %d)", ro, KRT_MAX_RANK);
  snprintf(eq, sizeof eq, "%s,%s->%s", t[0], t[1], o);
  if (ro > 1) return keras_einsum(ctx, eq, x[0], x[1], "operand", out);
  int prod;
  KRT_TRY(keras_einsum(ctx, eq, x[0], x[1], "operand", &prod));
  return reshape(ctx, prod, (int64_t[]){1}, 1, NULL, out);
}

/* ---- Attention, AdditiveAttention ---------------------------------------------------------- */

/* q [N, Tq, d] and k [N, Tv, d] -> q[:, :, None, :] + k[:, None, :, :], [N, Tq, Tv, d]. */
static krt_status *pairwise_sum(const keras_layer_ctx *ctx, int q, int k, int *out) {
  const ir_value *qv = kl_value(ctx, q), *kv = kl_value(ctx, k);
  int64_t tq = qv->dims[1], d = qv->dims[2], tv = kv->dims[1];
  if (tq < 0 || tv < 0 || d < 0)
    return kl_unsupported(ctx, "concat scores need the sequence lengths known");
  int qr, kr;
  KRT_TRY(reshape(ctx, q, (int64_t[]){tq, 1, d}, 3, "query_expanded", &qr));
  KRT_TRY(reshape(ctx, k, (int64_t[]){1, tv, d}, 3, "key_expanded", &kr));
  return binary(ctx, IR_BINARY_ADD, qr, kr, "query_plus_key", out);
}

static krt_status *sum_last(const keras_layer_ctx *ctx, int x, const char *part, int *out) {
  ir_attrs at = kl_attrs();
  at.reduce = IR_REDUCE_SUM;
  at.n_axes = 1;
  at.axes[0] = kl_value(ctx, x)->rank - 1;
  return kl_emit(ctx, IR_OP_REDUCE, part, &x, 1, &at, out);
}

/* Attention (Luong) and AdditiveAttention (Bahdanau), called on [query, value] or
 * [query, value, key] (key = value when absent), q [N, Tq, d], k [N, Tv, d], v [N, Tv, dv]:
 *   dot:      scores = (q @ k^T) * scale                       (scale: weight, use_scale)
 *   concat:   scores = w * sum(tanh(scale * (q + k)), -1)      (w: concat_score_weight)
 *   additive: scores = sum(scale[d] * tanh(q + k), -1)
 *   use_causal_mask: scores = where(j > i, scores - 1e9, scores)
 *   weights = softmax(scores, -1); output = weights @ v, [N, Tq, dv]
 * Outputs: output, and weights [N, Tq, Tv] with return_attention_scores=True. */
krt_status *kl_convert_attention(const keras_layer_ctx *ctx, int variant, int *outputs,
                                 int *n_outputs) {
  int additive = variant == KL_ATTENTION_ADDITIVE;
  static const char *const known_dot[] = {"use_scale", "score_mode", "dropout", "seed", NULL};
  static const char *const known_additive[] = {"use_scale", "dropout", "seed", NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, additive ? known_additive : known_dot));
  KRT_TRY(kl_expect_inputs(ctx, 2, 3));
  int use_scale, concat = 0, scores_out, causal;
  double dropout;
  KRT_TRY(kc_bool(ctx, NULL, "use_scale", additive, &use_scale));
  KRT_TRY(kc_float(ctx, NULL, "dropout", 0.0, &dropout)); /* the identity at inference */
  if (!additive) {
    const char *mode = NULL;
    KRT_TRY(kc_string(ctx, NULL, "score_mode", "dot", &mode));
    if (strcmp(mode, "concat") == 0) concat = 1;
    else if (strcmp(mode, "dot") != 0)
      return kl_unsupported(ctx, "option score_mode='%s' is not supported", mode);
  }
  KRT_TRY(call_flag(ctx, "return_attention_scores", &scores_out));
  KRT_TRY(call_flag(ctx, "use_causal_mask", &causal));
  int q = ctx->inputs[0], v = ctx->inputs[1], k = ctx->n_inputs > 2 ? ctx->inputs[2] : v;
  int rank = kl_value(ctx, q)->rank;
  const int ids[3] = {q, v, k};
  for (int i = 0; i < 3; i++) {
    const ir_value *iv = kl_value(ctx, ids[i]);
    if (!iv->batched || iv->rank != rank || rank < 3)
      return kl_unsupported(ctx, "query, value and key must be batched tensors of one rank, 3 or "
                                 "more ([batch, ..., steps, features])");
  }
  if ((concat || additive) && rank != 3)
    return kl_unsupported(ctx, "%s scores of rank-%d inputs are not supported (rank 3 only)",
                          additive ? "additive" : "concat", rank);
  int n_weights = use_scale + concat;
  KRT_TRY(kl_expect_weights(ctx, n_weights, n_weights));
  int scores;
  if (!concat && !additive) {
    /* batch axes a.., x = Tq, y = Tv, z = d */
    char pre[KRT_MAX_RANK + 1], eq[64];
    for (int i = 0; i < rank - 2; i++) pre[i] = (char)('a' + i);
    pre[rank - 2] = 0;
    snprintf(eq, sizeof eq, "%sxz,%syz->%sxy", pre, pre, pre);
    KRT_TRY(keras_einsum(ctx, eq, q, k, "operand", &scores));
    if (use_scale) {
      float s;
      int sc;
      KRT_TRY(scalar_weight(ctx, 0, "scale", &s));
      KRT_TRY(kl_const_fill(ctx, "scale", 1, s, &sc));
      KRT_TRY(binary(ctx, IR_BINARY_MUL, scores, sc, "scaled_scores", &scores));
    }
  } else {
    int sum, th;
    KRT_TRY(pairwise_sum(ctx, q, k, &sum));
    if (concat) {
      if (use_scale) {
        float s;
        int sc;
        KRT_TRY(scalar_weight(ctx, 0, "scale", &s));
        KRT_TRY(kl_const_fill(ctx, "scale", 1, s, &sc));
        KRT_TRY(binary(ctx, IR_BINARY_MUL, sc, sum, "scaled_sum", &sum));
      }
      float w;
      int wc;
      KRT_TRY(unary(ctx, IR_ACT_TANH, sum, "tanh", &th));
      KRT_TRY(sum_last(ctx, th, "sum", &scores));
      KRT_TRY(scalar_weight(ctx, use_scale, "concat_score_weight", &w));
      KRT_TRY(kl_const_fill(ctx, "concat_score_weight", 1, w, &wc));
      KRT_TRY(binary(ctx, IR_BINARY_MUL, wc, scores, "scores", &scores));
    } else {
      KRT_TRY(unary(ctx, IR_ACT_TANH, sum, "tanh", &th));
      if (use_scale) {
        int64_t d = kl_value(ctx, q)->dims[2];
        int sc;
        KRT_TRY(kl_expect_weight(ctx, 0, "scale", 1, &d));
        KRT_TRY(kl_const_copy(ctx, "scale", 1, &d, ctx->weights[0].data, &sc));
        KRT_TRY(binary(ctx, IR_BINARY_MUL, sc, th, "scaled_tanh", &th));
      }
      KRT_TRY(sum_last(ctx, th, "scores", &scores));
    }
  }
  if (causal) {
    const ir_value *sv = kl_value(ctx, scores);
    int pad, shifted, t, f;
    KRT_TRY(causal_const(ctx, sv->dims[sv->rank - 2], sv->dims[sv->rank - 1], 0, "causal_padding",
                         &pad));
    KRT_TRY(kl_const_fill(ctx, "mask_offset", 1, 1.0e9f, &t));
    KRT_TRY(binary(ctx, IR_BINARY_SUB, scores, t, "scores_offset", &shifted));
    /* where(padding, scores - 1e9, scores) */
    KRT_TRY(binary(ctx, IR_BINARY_WHERE_TRUE, shifted, pad, "masked_padding", &t));
    KRT_TRY(binary(ctx, IR_BINARY_WHERE_FALSE, scores, pad, "masked_kept", &f));
    KRT_TRY(binary(ctx, IR_BINARY_ADD, t, f, "masked_scores", &scores));
  }
  int weights, pre_rank = rank - 2;
  KRT_TRY(softmax_last(ctx, scores, "attention_scores", &weights));
  char pre[KRT_MAX_RANK + 1], eq[64];
  for (int i = 0; i < pre_rank; i++) pre[i] = (char)('a' + i);
  pre[pre_rank] = 0;
  snprintf(eq, sizeof eq, "%sxy,%syz->%sxz", pre, pre, pre);
  KRT_TRY(keras_einsum(ctx, eq, weights, v, "operand", &outputs[0]));
  *n_outputs = 1;
  if (scores_out) outputs[(*n_outputs)++] = weights;
  return NULL;
}

/* ---- MultiHeadAttention ------------------------------------------------------------------ */

/* Keras's _build_proj_equation: free letters, bound letters (contracted), output letters. */
static void proj_equation(int free_dims, int bound_dims, int output_dims, char *eq, size_t size) {
  char in[KRT_MAX_RANK + 1], kernel[KRT_MAX_RANK + 1], o[KRT_MAX_RANK + 1];
  int ni = 0, nk = 0, no = 0, letter = 0;
  for (int i = 0; i < free_dims; i++, letter++) in[ni++] = o[no++] = (char)('a' + letter);
  for (int i = 0; i < bound_dims; i++, letter++) in[ni++] = kernel[nk++] = (char)('a' + letter);
  for (int i = 0; i < output_dims; i++, letter++) kernel[nk++] = o[no++] = (char)('a' + letter);
  in[ni] = kernel[nk] = o[no] = 0;
  snprintf(eq, size, "%s,%s->%s", in, kernel, o);
}

/* Index of the weight saved as "<sub>/<i>" (.keras: the sublayer's vars) or ".../<sub>/<var>:0"
 * (legacy .h5: "query/kernel:0"), or -1. */
static int sublayer_weight(const keras_layer_ctx *ctx, const char *keras3_sub, const char *h5_sub,
                           int i, const char *var) {
  char a[64], b[64];
  snprintf(a, sizeof a, "%s/%d", keras3_sub, i);
  snprintf(b, sizeof b, "%s/%s", h5_sub, var);
  size_t lb = strlen(b);
  for (int w = 0; w < ctx->n_weights; w++) {
    const char *name = ctx->weights[w].name;
    if (!name) continue;
    if (strcmp(name, a) == 0) return w;
    const char *at = strstr(name, b);
    if (at && (at == name || at[-1] == '/') && (at[lb] == '\0' || at[lb] == ':')) return w;
  }
  return -1;
}

typedef struct mha_proj {
  const char *keras3, *h5, *part; /* sublayer in .keras, in legacy .h5, constant prefix */
  int kernel, bias;
} mha_proj;

/* What MultiHeadAttention and GroupedQueryAttention check first: a Keras 3 functional call, no
 * unknown option, no Keras mask of the inputs (query_mask ...; an attention_mask tensor is
 * applied, attention_keep). */
static krt_status *attention_preamble(const keras_layer_ctx *ctx, const char *cls,
                                      const char *const *known) {
  if (ctx->keras_major < 3 || !cJSON_IsObject(ctx->call))
    return kl_unsupported(ctx, "%s is supported from Keras 3 functional models only (this file "
                               "is Keras %d or has no call record)",
                          cls, ctx->keras_major);
  KRT_TRY(kc_refuse_unknown_keys(ctx, known));
  static const char *const masks[] = {"query_mask", "value_mask", "key_mask"};
  for (int i = 0; i < 3; i++)
    if (kl_call_kwarg(ctx, masks[i]))
      return kl_unsupported(ctx, "call argument %s is not supported (krt applies no Keras "
                                 "masks)", masks[i]);
  return NULL;
}

/* The call's flags and tensors: query, value, key (the value when not given), each a batched
 * [batch, steps, features]; attention_mask (positional 6) or -1. */
static krt_status *attention_inputs(const keras_layer_ctx *ctx, int *scores_out, int *causal,
                                    int *query, int *value, int *key, int *mask) {
  KRT_TRY(call_flag(ctx, "return_attention_scores", scores_out));
  KRT_TRY(call_flag(ctx, "use_causal_mask", causal));
  KRT_TRY(keras_call_tensor(ctx, 0, "query", query));
  KRT_TRY(keras_call_tensor(ctx, 1, "value", value));
  KRT_TRY(keras_call_tensor(ctx, 2, "key", key));
  if (*query < 0 || *value < 0) return kl_bad_file(ctx, "the call has no query or no value");
  if (*key < 0) *key = *value;
  KRT_TRY(keras_call_tensor(ctx, 6, "attention_mask", mask));
  const int ids[3] = {*query, *value, *key};
  for (int i = 0; i < 3; i++) {
    const ir_value *iv = kl_value(ctx, ids[i]);
    if (!iv->batched || iv->rank != 3)
      return kl_unsupported(ctx, "query, value and key of rank %d: only batched [batch, steps, "
                                 "features] inputs (rank 3) are supported", iv->rank);
  }
  return NULL;
}

/* The four projections' kernels (and biases) found by sublayer name; the layer holds no other. */
static krt_status *projection_weights(const keras_layer_ctx *ctx, mha_proj *proj, int use_bias) {
  for (int i = 0; i < 4; i++) {
    proj[i].kernel = sublayer_weight(ctx, proj[i].keras3, proj[i].h5, 0, "kernel");
    if (use_bias) proj[i].bias = sublayer_weight(ctx, proj[i].keras3, proj[i].h5, 1, "bias");
    if (proj[i].kernel < 0 || (use_bias && proj[i].bias < 0))
      return kl_bad_file(ctx, "the weights of sublayer %s are missing", proj[i].h5);
  }
  return kl_expect_weights(ctx, use_bias ? 8 : 4, use_bias ? 8 : 4);
}

/* MultiHeadAttention on query [N, T, C], value [N, S, Cv], key [N, S, Ck] (key = value when not
 * given), with the default attention axes (the sequence):
 *   Q = einsum("abc,cde->abde", query, Wq) + bq    [N, T, H, key_dim]   (EinsumDense "query")
 *   K, V likewise from key and value               [N, S, H, key_dim], [N, S, H, value_dim]
 * then, as Keras 3 computes it with the TensorFlow backend: when dropout is 0 and no scores are
 * returned, ops.dot_product_attention
 *   logits = einsum("BTNH,BSNH->BNTS", Q, K) * (1/sqrt(key_dim));
 *   causal: where(j <= i, logits, -0.7 * 3.38953e38); P = softmax(logits, -1);
 *   O = einsum("BNTS,BSNH->BTNH", P, V)
 * else the einsum path
 *   Q = Q * (1/sqrt(key_dim)); scores = einsum("aecd,abcd->acbe", K, Q) [N, H, T, S];
 *   causal: where(keep, scores, -1e9), P = where(keep, softmax(scores, -1), 0);
 *   O = einsum("acbe,aecd->abcd", P, V)
 * and the output projection einsum("abcd,cde->abe", O, Wo) + bo ("attention_output", its last
 * axes output_shape, else C). Outputs: the result, and P [N, H, T, S] with
 * return_attention_scores=True. */
static krt_status *scaled_dot_attention(const keras_layer_ctx *ctx, int q, int k, int v,
                                        int key_dim, double dropout, int scores_out, int causal,
                                        int mask, int *out, int *scores_value);

krt_status *kl_convert_multi_head_attention(const keras_layer_ctx *ctx, int variant,
                                            int *outputs, int *n_outputs) {
  (void)variant;
  static const char *const known[] = {
      "num_heads",         "key_dim",          "value_dim",          "dropout",
      "use_bias",          "use_gate",         "output_shape",       "attention_axes",
      "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
      "kernel_constraint", "bias_constraint",  "seed",               NULL};
  KRT_TRY(attention_preamble(ctx, "MultiHeadAttention", known));
  int use_gate, use_bias, heads, key_dim, value_dim, scores_out, causal;
  double dropout;
  KRT_TRY(kc_bool(ctx, NULL, "use_gate", 0, &use_gate));
  if (use_gate) return kl_unsupported(ctx, "option use_gate=True is not supported");
  KRT_TRY(kc_bool(ctx, NULL, "use_bias", 1, &use_bias));
  KRT_TRY(kc_int(ctx, NULL, "num_heads", 0, &heads));
  KRT_TRY(kc_int(ctx, NULL, "key_dim", 0, &key_dim));
  KRT_TRY(kc_int(ctx, NULL, "value_dim", key_dim, &value_dim));
  KRT_TRY(kc_float(ctx, NULL, "dropout", 0.0, &dropout)); /* the identity at inference */
  if (heads <= 0 || key_dim <= 0 || value_dim <= 0)
    return kl_bad_file(ctx, "options num_heads=%d, key_dim=%d, value_dim=%d must be positive",
                       heads, key_dim, value_dim);
  int query, value, key, mask;
  KRT_TRY(attention_inputs(ctx, &scores_out, &causal, &query, &value, &key, &mask));
  const cJSON *axes = kc_get(ctx, NULL, "attention_axes");
  if (axes) {
    int ax[KRT_MAX_RANK], n = 0;
    KRT_TRY(kc_int_list(ctx, axes, "attention_axes", KRT_MAX_RANK, ax, &n));
    if (n != 1 || (ax[0] != 1 && ax[0] != -3))
      return kl_unsupported(ctx, "option attention_axes other than the sequence axis ([1], the "
                                 "default) is not supported");
  }
  mha_proj proj[4] = {{"query_dense", "query", "query/", -1, -1},
                      {"key_dense", "key", "key/", -1, -1},
                      {"value_dense", "value", "value/", -1, -1},
                      {"output_dense", "attention_output", "attention_output/", -1, -1}};
  KRT_TRY(projection_weights(ctx, proj, use_bias));
  int64_t c[3] = {kl_value(ctx, query)->dims[2], kl_value(ctx, key)->dims[2],
                  kl_value(ctx, value)->dims[2]};
  int64_t qk_dims[3] = {c[0], heads, key_dim}, kk_dims[3] = {c[1], heads, key_dim},
          vk_dims[3] = {c[2], heads, value_dim};
  KRT_TRY(kl_expect_weight(ctx, proj[0].kernel, "query/kernel", 3, qk_dims));
  KRT_TRY(kl_expect_weight(ctx, proj[1].kernel, "key/kernel", 3, kk_dims));
  KRT_TRY(kl_expect_weight(ctx, proj[2].kernel, "value/kernel", 3, vk_dims));
  const keras_array *wo = &ctx->weights[proj[3].kernel];
  if (wo->rank < 3 || wo->dims[0] != heads || wo->dims[1] != value_dim)
    return kl_bad_file(ctx, "weight attention_output/kernel does not start with [%d, %d]", heads,
                       value_dim);
  char eq[64];
  int q, k, v;
  proj_equation(2, 1, 2, eq, sizeof eq); /* "abc,cde->abde" */
  KRT_TRY(einsum_dense(ctx, query, eq, proj[0].kernel, proj[0].bias, "query/", "query", &q));
  KRT_TRY(einsum_dense(ctx, key, eq, proj[1].kernel, proj[1].bias, "key/", "key", &k));
  KRT_TRY(einsum_dense(ctx, value, eq, proj[2].kernel, proj[2].bias, "value/", "value", &v));
  int o, probs;
  KRT_TRY(scaled_dot_attention(ctx, q, k, v, key_dim, dropout, scores_out, causal, mask, &o,
                               &probs));
  proj_equation(2, 2, wo->rank - 2, eq, sizeof eq); /* "abcd,cde->abe" */
  KRT_TRY(einsum_dense(ctx, o, eq, proj[3].kernel, proj[3].bias, "attention_output/", NULL,
                       &outputs[0]));
  *n_outputs = 1;
  if (scores_out) outputs[(*n_outputs)++] = probs;
  return NULL;
}

/* The call's attention_mask m [N, T, S] as Keras uses it: keep = (m != 0) [N, 1, T, S], ANDed with
 * the causal mask when use_causal_mask is set too (Keras's _compute_attention_mask; its
 * attention then takes the merged mask alone). keep is 0 or 1: WHERE_TRUE(1 or causal, m). */
static krt_status *attention_keep(const keras_layer_ctx *ctx, int mask, int64_t t, int64_t s,
                                  int causal, int *keep) {
  const ir_value *mv = kl_value(ctx, mask);
  if (!mv->batched || mv->rank != 3 || mv->dims[1] != t || mv->dims[2] != s) {
    char shape[64];
    ir_format_dims(mv->dims, mv->rank, shape, sizeof shape);
    return kl_unsupported(ctx, "call argument attention_mask of shape %s: krt takes a batched "
                               "[batch, %lld, %lld] mask", shape, (long long)t, (long long)s);
  }
  int m4, base;
  KRT_TRY(reshape(ctx, mask, (int64_t[]){1, t, s}, 3, "attention_mask_heads", &m4));
  if (causal)
    KRT_TRY(causal_const(ctx, t, s, 1, "causal_mask", &base));
  else
    KRT_TRY(kl_const_fill(ctx, "attention_mask_one", 1, 1.0f, &base));
  return binary(ctx, IR_BINARY_WHERE_TRUE, base, m4, "attention_keep", keep);
}

/* The attention of MultiHeadAttention and GroupedQueryAttention on projected Q [N, T, H, d],
 * K [N, S, H, d], V [N, S, H, dv], as the comment above kl_convert_multi_head_attention gives it
 * (the two layers share Keras's _compute_attention): O [N, T, H, dv], and P [N, H, T, S] (the
 * scores; -1 on the dot_product_attention path, which makes none). */
static krt_status *scaled_dot_attention(const keras_layer_ctx *ctx, int q, int k, int v,
                                        int key_dim, double dropout, int scores_out, int causal,
                                        int mask, int *out, int *scores_value) {
  int64_t t = kl_value(ctx, q)->dims[1], s = kl_value(ctx, k)->dims[1];
  /* Keras: 1.0 / math.sqrt(float(key_dim)) in double, cast to float32 */
  float scale = (float)(1.0 / sqrt((double)key_dim));
  int sc, probs = -1, o, keep = -1;
  KRT_TRY(kl_const_fill(ctx, "inverse_sqrt_key_dim", 1, scale, &sc));
  if (mask >= 0) KRT_TRY(attention_keep(ctx, mask, t, s, causal, &keep));
  if (dropout <= 0.0 && !scores_out) {
    int logits;
    KRT_TRY(keras_einsum(ctx, "BTNH,BSNH->BNTS", q, k, "operand", &logits));
    KRT_TRY(binary(ctx, IR_BINARY_MUL, logits, sc, "scaled_logits", &logits));
    if (causal && keep < 0) KRT_TRY(causal_const(ctx, t, s, 1, "causal_mask", &keep));
    if (keep >= 0)
      KRT_TRY(where_const(ctx, keep, logits, -0.7f * 3.38953e38f, "masked_logits", &logits));
    KRT_TRY(softmax_last(ctx, logits, "probs", &probs));
    KRT_TRY(keras_einsum(ctx, "BNTS,BSNH->BTNH", probs, v, "operand", &o));
  } else {
    int qs, scores;
    KRT_TRY(binary(ctx, IR_BINARY_MUL, q, sc, "scaled_query", &qs));
    KRT_TRY(keras_einsum(ctx, "aecd,abcd->acbe", k, qs, "operand", &scores));
    if (causal && keep < 0) KRT_TRY(causal_const(ctx, t, s, 1, "causal_mask", &keep));
    if (keep >= 0) KRT_TRY(where_const(ctx, keep, scores, -1e9f, "masked_scores", &scores));
    KRT_TRY(softmax_last(ctx, scores, keep >= 0 ? "softmax" : "attention_scores", &probs));
    if (keep >= 0) {
      /* Softmax(mask=...) zeroes masked positions after the softmax: where(keep, p, 0) */
      KRT_TRY(binary(ctx, IR_BINARY_WHERE_TRUE, probs, keep, "attention_scores", &probs));
    }
    KRT_TRY(keras_einsum(ctx, "acbe,aecd->abcd", probs, v, "operand", &o));
  }
  *out = o;
  *scores_value = probs;
  return NULL;
}

/* ---- GroupedQueryAttention --------------------------------------------------------------- */

/* GroupedQueryAttention (Keras 3) on query [N, T, Cq], value [N, S, Cv], key [N, S, Ck]:
 *   Q = einsum("bqm,muh->bquh", query, Wq) + bq    [N, T, u, h]   (u = num_query_heads)
 *   K, V = einsum("bkm,mvh->bkvh", key|value, W) + b  [N, S, v, h] (v = num_key_value_heads)
 *   K, V = repeat(K, u / v, axis 2)                [N, S, u, h]: head j reads K's head j / (u/v)
 * then MultiHeadAttention's attention with key_dim h (scaled_dot_attention), and
 * einsum("bquh,uhm->bqm", O, Wo) + bo. The repeat is a Reshape to [N, S, v, 1, h], a product
 * with ones [u/v, 1] (x * 1 is exact) and a Reshape to [N, S, u, h]. */
static krt_status *repeat_heads(const keras_layer_ctx *ctx, int x, int repeats, const char *part,
                                int *out) {
  if (repeats == 1) {
    *out = x;
    return NULL;
  }
  const ir_value *xv = kl_value(ctx, x);
  int64_t s = xv->dims[1], heads = xv->dims[2], h = xv->dims[3];
  char name[64];
  int split, ones, wide;
  snprintf(name, sizeof name, "%s_heads", part);
  KRT_TRY(reshape(ctx, x, (int64_t[]){s, heads, 1, h}, 4, name, &split));
  snprintf(name, sizeof name, "%s_repeat_ones", part);
  float *data = malloc((size_t)repeats * sizeof *data);
  if (!data) return krt_error_oom("repeat ones");
  for (int i = 0; i < repeats; i++) data[i] = 1.0f;
  KRT_TRY(kl_const(ctx, name, 2, (int64_t[]){repeats, 1}, data, &ones));
  snprintf(name, sizeof name, "%s_repeated", part);
  KRT_TRY(binary(ctx, IR_BINARY_MUL, split, ones, name, &wide));
  snprintf(name, sizeof name, "%s_repeat", part);
  return reshape(ctx, wide, (int64_t[]){s, heads * repeats, h}, 3, name, out);
}

krt_status *kl_convert_grouped_query_attention(const keras_layer_ctx *ctx, int variant,
                                               int *outputs, int *n_outputs) {
  (void)variant;
  static const char *const known[] = {
      "head_dim",           "num_query_heads",   "num_key_value_heads", "dropout",
      "use_bias",           "use_gate",          "sliding_window",      "flash_attention",
      "kernel_initializer", "bias_initializer",  "kernel_regularizer",  "bias_regularizer",
      "kernel_constraint",  "bias_constraint",   "seed",                NULL};
  KRT_TRY(attention_preamble(ctx, "GroupedQueryAttention", known));
  int use_gate, use_bias, head_dim, q_heads, kv_heads, scores_out, causal, flash;
  double dropout;
  KRT_TRY(kc_bool(ctx, NULL, "use_gate", 0, &use_gate));
  if (use_gate) return kl_unsupported(ctx, "option use_gate=True is not supported");
  const cJSON *window = kc_get(ctx, NULL, "sliding_window");
  if (window && !cJSON_IsNull(window))
    return kl_unsupported(ctx, "option sliding_window is not supported");
  /* flash attention is another kernel for the same product; only the TensorFlow backend's
   * (which has none: False) is what krt computes in Keras's order */
  const cJSON *fl = kc_get(ctx, NULL, "flash_attention");
  flash = fl && cJSON_IsTrue(fl);
  if (flash) return kl_unsupported(ctx, "option flash_attention=True is not supported");
  KRT_TRY(kc_bool(ctx, NULL, "use_bias", 1, &use_bias));
  KRT_TRY(kc_int(ctx, NULL, "head_dim", 0, &head_dim));
  KRT_TRY(kc_int(ctx, NULL, "num_query_heads", 0, &q_heads));
  KRT_TRY(kc_int(ctx, NULL, "num_key_value_heads", 0, &kv_heads));
  KRT_TRY(kc_float(ctx, NULL, "dropout", 0.0, &dropout)); /* the identity at inference */
  if (head_dim <= 0 || q_heads <= 0 || kv_heads <= 0 || q_heads % kv_heads != 0)
    return kl_bad_file(ctx, "options head_dim=%d, num_query_heads=%d, num_key_value_heads=%d: "
                            "positive, the query heads a multiple of the key/value heads",
                       head_dim, q_heads, kv_heads);
  int query, value, key, mask;
  KRT_TRY(attention_inputs(ctx, &scores_out, &causal, &query, &value, &key, &mask));
  /* .keras files keep the sublayers' attribute names here ("_query_dense/0") */
  mha_proj proj[4] = {{"_query_dense", "query", "query/", -1, -1},
                      {"_key_dense", "key", "key/", -1, -1},
                      {"_value_dense", "value", "value/", -1, -1},
                      {"_output_dense", "attention_output", "attention_output/", -1, -1}};
  KRT_TRY(projection_weights(ctx, proj, use_bias));
  int64_t cq = kl_value(ctx, query)->dims[2], ck = kl_value(ctx, key)->dims[2],
          cv = kl_value(ctx, value)->dims[2];
  KRT_TRY(kl_expect_weight(ctx, proj[0].kernel, "query/kernel", 3,
                           (int64_t[]){cq, q_heads, head_dim}));
  KRT_TRY(kl_expect_weight(ctx, proj[1].kernel, "key/kernel", 3,
                           (int64_t[]){ck, kv_heads, head_dim}));
  KRT_TRY(kl_expect_weight(ctx, proj[2].kernel, "value/kernel", 3,
                           (int64_t[]){cv, kv_heads, head_dim}));
  KRT_TRY(kl_expect_weight(ctx, proj[3].kernel, "attention_output/kernel", 3,
                           (int64_t[]){q_heads, head_dim, cq}));
  char eq[64];
  int q, k, v, o, probs;
  proj_equation(2, 1, 2, eq, sizeof eq); /* "abc,cde->abde" */
  KRT_TRY(einsum_dense(ctx, query, eq, proj[0].kernel, proj[0].bias, "query/", "query", &q));
  KRT_TRY(einsum_dense(ctx, key, eq, proj[1].kernel, proj[1].bias, "key/", "key", &k));
  KRT_TRY(einsum_dense(ctx, value, eq, proj[2].kernel, proj[2].bias, "value/", "value", &v));
  KRT_TRY(repeat_heads(ctx, k, q_heads / kv_heads, "key", &k));
  KRT_TRY(repeat_heads(ctx, v, q_heads / kv_heads, "value", &v));
  KRT_TRY(scaled_dot_attention(ctx, q, k, v, head_dim, dropout, scores_out, causal, mask, &o,
                               &probs));
  proj_equation(2, 2, 1, eq, sizeof eq); /* "abcd,cde->abe" */
  KRT_TRY(einsum_dense(ctx, o, eq, proj[3].kernel, proj[3].bias, "attention_output/", NULL,
                       &outputs[0]));
  *n_outputs = 1;
  if (scores_out) outputs[(*n_outputs)++] = probs;
  return NULL;
}
