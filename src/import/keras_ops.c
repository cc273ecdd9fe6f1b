/* Keras 3 operation nodes: keras.ops calls and tensor operators (x + 3.0, x[..., :2]) that a
 * functional model records as entries of their own, with "module": "keras.src.ops.numpy" (or
 * .nn, .math, .core, ...). Unlike a layer's, an operation's operands are its call's positional
 * args and kwargs as written, where tensors ({"class_name": "__keras_tensor__"}) and Python
 * constants (3.0, [1, 2]) sit side by side:
 *
 *   {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
 *    "inbound_nodes": [{"args": [<tensor>, 3.0], "kwargs": {}}]}
 *
 * The wiring (keras_wiring.c) hands over the tensors in depth-first order of args then kwargs;
 * this file walks the same JSON to put the constants back in their places. Every operation and
 * every config key of it that changes the result is mapped here or refused: an operation whose
 * class also names a layer (Add, Multiply, Concatenate, Reshape) is never taken for that layer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

int keras_is_operation(const char *module) {
  return module && (strncmp(module, "keras.src.ops.", 14) == 0 || strncmp(module, "keras.ops", 9) == 0);
}

static int is_tensor(const cJSON *j) {
  if (!cJSON_IsObject(j)) return 0;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "class_name");
  return cJSON_IsString(c) && strcmp(c->valuestring, "__keras_tensor__") == 0;
}

/* Counts the tensors before `target` in the wiring's order (depth first; "mask" members are not
 * data). Returns 1 when target was reached. */
static int tensors_before(const cJSON *j, const cJSON *target, int *count) {
  if (j == target) return 1;
  if (is_tensor(j)) {
    (*count)++;
    return 0;
  }
  if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) {
      if (item->string && strcmp(item->string, "mask") == 0) continue;
      if (tensors_before(item, target, count)) return 1;
    }
  }
  return 0;
}

static krt_status *tensor_value(const keras_layer_ctx *ctx, const cJSON *tensor, int *value) {
  int count = 0;
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(ctx->call, "args");
  const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(ctx->call, "kwargs");
  int found = args && tensors_before(args, tensor, &count);
  if (!found && kwargs) found = tensors_before(kwargs, tensor, &count);
  if (!found || count >= ctx->n_inputs)
    return kl_error(ctx, KRT_ERR_INTERNAL, "an operand tensor is not among the call's inputs");
  *value = ctx->inputs[count];
  return NULL;
}

/* Positional argument i, or the keyword `name` (NULL when neither is given). */
static const cJSON *operand_json(const keras_layer_ctx *ctx, int i, const char *name) {
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(ctx->call, "args");
  if (cJSON_IsArray(args) && i < cJSON_GetArraySize(args)) return cJSON_GetArrayItem(args, i);
  const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(ctx->call, "kwargs");
  return name ? cJSON_GetObjectItemCaseSensitive(kwargs, name) : NULL;
}

/* Flattens a (nested) list of numbers or a number into data; *rank/dims get its shape. */
static int const_shape(const cJSON *j, int depth, int *rank, int64_t *dims) {
  if (cJSON_IsNumber(j) || cJSON_IsBool(j)) {
    if (*rank < 0) *rank = depth;
    return *rank == depth;
  }
  if (!cJSON_IsArray(j) || depth >= KRT_MAX_RANK) return 0;
  int n = cJSON_GetArraySize(j);
  if (*rank >= 0 && depth >= *rank) return 0;
  if (dims[depth] < 0) dims[depth] = n;
  else if (dims[depth] != n) return 0;
  if (n == 0) {
    if (*rank < 0) *rank = depth + 1;
    return *rank == depth + 1;
  }
  const cJSON *item;
  cJSON_ArrayForEach(item, j) if (!const_shape(item, depth + 1, rank, dims)) return 0;
  return 1;
}

static void const_fill(const cJSON *j, float *data, int64_t *at) {
  if (cJSON_IsNumber(j)) data[(*at)++] = (float)j->valuedouble;
  else if (cJSON_IsBool(j)) data[(*at)++] = cJSON_IsTrue(j) ? 1.0f : 0.0f;
  else {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) const_fill(item, data, at);
  }
}

/* An operand: a tensor of the call, or a constant (number, bool, nested list) made into an IR
 * constant named "op/<what>". A scalar becomes shape [1], which broadcasts like a scalar. */
static krt_status *operand(const keras_layer_ctx *ctx, int i, const char *name, int *value) {
  const cJSON *j = operand_json(ctx, i, name);
  if (!j || cJSON_IsNull(j)) return kl_bad_file(ctx, "operand %d (%s) is missing", i, name);
  if (is_tensor(j)) return tensor_value(ctx, j, value);
  /* A constant tensor (ops.convert_to_tensor) or numpy array is written as
   * {"class_name": "__tensor__" or "__numpy__", "config": {"value": [...], "dtype": "float32"}}.
   * Only dtypes that leave the result float32 are taken: a float64 array would make Keras compute
   * in float64, a float16 one round. */
  const cJSON *cls = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "class_name") : NULL;
  if (cJSON_IsString(cls) && (strcmp(cls->valuestring, "__tensor__") == 0 ||
                              strcmp(cls->valuestring, "__numpy__") == 0)) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    const cJSON *dt = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "dtype") : NULL;
    if (cJSON_IsString(dt) && strcmp(dt->valuestring, "float32") != 0 &&
        strcmp(dt->valuestring, "int32") != 0 && strcmp(dt->valuestring, "bool") != 0)
      return kl_unsupported(ctx, "a constant operand of dtype %s is not supported (float32, int32 "
                                 "and bool only)", dt->valuestring);
    j = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "value") : NULL;
    if (!j) return kl_bad_file(ctx, "constant operand %d (%s) has no value", i, name);
  }
  int rank = -1;
  int64_t dims[KRT_MAX_RANK];
  for (int d = 0; d < KRT_MAX_RANK; d++) dims[d] = -1;
  if (!const_shape(j, 0, &rank, dims))
    return kl_unsupported(ctx, "operand %d (%s) is neither a tensor nor a numeric constant", i,
                          name);
  int64_t count = 1;
  for (int d = 0; d < rank; d++) count *= dims[d];
  if (rank == 0) {
    rank = 1;
    dims[0] = 1;
  }
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof *data);
  if (!data) return krt_error_oom("constant operand");
  int64_t at = 0;
  const_fill(j, data, &at);
  char part[32];
  snprintf(part, sizeof part, "const_%s", name);
  return kl_const(ctx, part, rank, dims, data, value);
}

/* Config keys an operation may carry that do not change its result. */
static krt_status *refuse_unknown_keys(const keras_layer_ctx *ctx, const char *const *known) {
  const cJSON *item;
  cJSON_ArrayForEach(item, ctx->config) {
    if (!item->string || cJSON_IsNull(item) || strcmp(item->string, "name") == 0) continue;
    int ok = 0;
    for (int k = 0; known && known[k]; k++)
      if (strcmp(known[k], item->string) == 0) ok = 1;
    if (!ok)
      return kl_unsupported(ctx, "option %s of operation %s is not supported", item->string,
                            ctx->class_name);
  }
  /* Keyword arguments of the call other than the operands read above change the result too. */
  return NULL;
}

static krt_status *expect_operands(const keras_layer_ctx *ctx, int n) {
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(ctx->call, "args");
  const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(ctx->call, "kwargs");
  int given = (cJSON_IsArray(args) ? cJSON_GetArraySize(args) : 0);
  const cJSON *kw;
  cJSON_ArrayForEach(kw, kwargs) if (!cJSON_IsNull(kw)) given++;
  if (given != n)
    return kl_unsupported(ctx, "operation %s is called with %d arguments; krt maps it with %d",
                          ctx->class_name, given, n);
  return NULL;
}

/* ---- the operations ----------------------------------------------------------------------- */

typedef struct binary_entry {
  const char *name;
  ir_binary_kind kind;
} binary_entry;

static const binary_entry binary_ops[] = {
    {"Add", IR_BINARY_ADD},        {"Subtract", IR_BINARY_SUB},
    {"Multiply", IR_BINARY_MUL},   {"Divide", IR_BINARY_DIV},
    {"TrueDivide", IR_BINARY_DIV}, {"Maximum", IR_BINARY_MAX},
    {"Minimum", IR_BINARY_MIN},    {"Power", IR_BINARY_POW},
    {"Greater", IR_BINARY_GREATER}, {"GreaterEqual", IR_BINARY_GREATER_EQUAL},
    {"Less", IR_BINARY_LESS},      {"LessEqual", IR_BINARY_LESS_EQUAL},
    {"Equal", IR_BINARY_EQUAL},    {"NotEqual", IR_BINARY_NOT_EQUAL},
};

static krt_status *convert_binary(const keras_layer_ctx *ctx, ir_binary_kind kind, int *out) {
  KRT_TRY(refuse_unknown_keys(ctx, NULL));
  KRT_TRY(expect_operands(ctx, 2));
  int ins[2];
  KRT_TRY(operand(ctx, 0, "x1", &ins[0]));
  KRT_TRY(operand(ctx, 1, "x2", &ins[1]));
  if (kl_value(ctx, ins[0])->data && kl_value(ctx, ins[1])->data)
    return kl_unsupported(ctx, "an operation on two constants is not supported");
  ir_attrs a = kl_attrs();
  a.binary = kind;
  return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, out);
}

static ir_activation act(ir_act_kind kind, float alpha, float beta) {
  ir_activation a = ir_act_none();
  a.kind = kind;
  a.alpha = alpha;
  a.beta = beta;
  return a;
}

/* Elementwise operations of one tensor; *known = 0 when the class is none of them. */
static krt_status *unary_activation(const keras_layer_ctx *ctx, const char *cls, ir_activation *a,
                                    int *known) {
  static const char *const no_keys[] = {NULL};
  const char *const *keys = no_keys;
  static const char *const gelu_keys[] = {"approximate", NULL};
  static const char *const elu_keys[] = {"alpha", NULL};
  static const char *const leaky_keys[] = {"negative_slope", NULL};
  static const char *const clip_keys[] = {"x_min", "x_max", NULL};
  *known = 1;
  if (strcmp(cls, "Relu") == 0) *a = act(IR_ACT_RELU, 0, 0);
  else if (strcmp(cls, "Relu6") == 0) {
    *a = act(IR_ACT_RELU, 0, 0);
    a->max_value = 6.0f;
  } else if (strcmp(cls, "Sigmoid") == 0) *a = act(IR_ACT_SIGMOID, 0, 0);
  else if (strcmp(cls, "HardSigmoid") == 0) *a = act(IR_ACT_HARD_SIGMOID, 1.0f / 6.0f, 0.5f);
  else if (strcmp(cls, "Silu") == 0 || strcmp(cls, "Swish") == 0) *a = act(IR_ACT_SWISH, 0, 0);
  else if (strcmp(cls, "HardSilu") == 0 || strcmp(cls, "HardSwish") == 0)
    *a = act(IR_ACT_HARD_SWISH, 1.0f / 6.0f, 0.5f);
  else if (strcmp(cls, "Gelu") == 0) {
    int approximate;
    KRT_TRY(kc_bool(ctx, NULL, "approximate", 1, &approximate));
    *a = act(approximate ? IR_ACT_GELU_TANH : IR_ACT_GELU, 0, 0);
    keys = gelu_keys;
  } else if (strcmp(cls, "Tanh") == 0) *a = act(IR_ACT_TANH, 0, 0);
  else if (strcmp(cls, "Softplus") == 0) *a = act(IR_ACT_SOFTPLUS, 0, 0);
  else if (strcmp(cls, "Softsign") == 0) *a = act(IR_ACT_SOFTSIGN, 0, 0);
  else if (strcmp(cls, "Elu") == 0) {
    double alpha;
    KRT_TRY(kc_float(ctx, NULL, "alpha", 1.0, &alpha));
    *a = act(IR_ACT_ELU, (float)alpha, 0);
    keys = elu_keys;
  } else if (strcmp(cls, "Selu") == 0) *a = act(IR_ACT_SELU, 0, 0);
  else if (strcmp(cls, "LeakyRelu") == 0) {
    double slope;
    KRT_TRY(kc_float(ctx, NULL, "negative_slope", 0.2, &slope));
    *a = act(IR_ACT_RELU, (float)slope, 0);
    keys = leaky_keys;
  } else if (strcmp(cls, "Exp") == 0) *a = act(IR_ACT_EXPONENTIAL, 0, 0);
  else if (strcmp(cls, "Sqrt") == 0) *a = act(IR_ACT_SQRT, 0, 0);
  else if (strcmp(cls, "Rsqrt") == 0) *a = act(IR_ACT_RSQRT, 0, 0);
  else if (strcmp(cls, "Absolute") == 0 || strcmp(cls, "Abs") == 0) *a = act(IR_ACT_ABS, 0, 0);
  else if (strcmp(cls, "Log") == 0) *a = act(IR_ACT_LOG, 0, 0);
  else if (strcmp(cls, "Negative") == 0) *a = act(IR_ACT_NEG, 0, 0);
  else if (strcmp(cls, "Square") == 0) *a = act(IR_ACT_SQUARE, 0, 0);
  else if (strcmp(cls, "Erf") == 0) *a = act(IR_ACT_ERF, 0, 0);
  else if (strcmp(cls, "Clip") == 0) {
    double lo, hi;
    if (!kc_get(ctx, NULL, "x_min") || !kc_get(ctx, NULL, "x_max"))
      return kl_unsupported(ctx, "clip without constant x_min and x_max is not supported");
    KRT_TRY(kc_float(ctx, NULL, "x_min", 0, &lo));
    KRT_TRY(kc_float(ctx, NULL, "x_max", 0, &hi));
    *a = act(IR_ACT_CLIP, (float)lo, 0);
    a->max_value = (float)hi;
    keys = clip_keys;
  } else {
    *known = 0;
    return NULL;
  }
  return refuse_unknown_keys(ctx, keys);
}

static krt_status *one_tensor(const keras_layer_ctx *ctx, int *x) {
  KRT_TRY(expect_operands(ctx, 1));
  const cJSON *j = operand_json(ctx, 0, "x");
  if (!is_tensor(j)) return kl_unsupported(ctx, "operation %s on a constant is not supported",
                                           ctx->class_name);
  return tensor_value(ctx, j, x);
}

/* Axes from config "axis" (int, list or null = all); the batch axis may not be among them. */
static krt_status *read_axes(const keras_layer_ctx *ctx, int x, int *axes, int *n_axes) {
  const ir_value *v = kl_value(ctx, x);
  const cJSON *axis = kc_get(ctx, NULL, "axis");
  int raw[KRT_MAX_RANK], n = 0;
  if (!axis) {
    for (int i = 0; i < v->rank; i++) raw[n++] = i;
  } else {
    KRT_TRY(kc_int_list(ctx, axis, "axis", KRT_MAX_RANK, raw, &n));
  }
  int used[KRT_MAX_RANK] = {0};
  for (int i = 0; i < n; i++) {
    int a;
    KRT_TRY(kl_axis(ctx, raw[i], v->rank, &a));
    if (a == 0 && v->batched)
      return kl_unsupported(ctx, "operation %s over the batch axis is not supported",
                            ctx->class_name);
    used[a] = 1;
  }
  *n_axes = 0;
  for (int i = 0; i < v->rank; i++)
    if (used[i]) axes[(*n_axes)++] = i;
  return NULL;
}

/* Any over constant axes (Masking's mask in Keras 3 files): 1 where an element is nonzero, else
 * 0, as the max of x != 0 (booleans are the values 0 and 1 in krt). */
static krt_status *convert_any(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"axis", "keepdims", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  ir_attrs a = kl_attrs();
  KRT_TRY(read_axes(ctx, x, a.axes, &a.n_axes));
  KRT_TRY(kc_bool(ctx, NULL, "keepdims", 0, &a.keepdims));
  a.reduce = IR_REDUCE_MAX;
  int ins[2] = {x, -1}, nonzero;
  KRT_TRY(kl_const_fill(ctx, "zero", 1, 0.0f, &ins[1]));
  ir_attrs ne = kl_attrs();
  ne.binary = IR_BINARY_NOT_EQUAL;
  KRT_TRY(kl_emit(ctx, IR_OP_BINARY, "not_equal", ins, 2, &ne, &nonzero));
  return kl_emit(ctx, IR_OP_REDUCE, NULL, &nonzero, 1, &a, out);
}

/* Mean, Sum, Max and Min over constant axes. Max and Min take numpy's `initial` as Keras's
 * backends compute it: maximum(max(x), initial) and minimum(min(x), initial), both exact. */
static krt_status *convert_reduce(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"axis", "keepdims", "initial", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  const char *cls = ctx->class_name;
  int is_max = strcmp(cls, "Max") == 0, is_min = strcmp(cls, "Min") == 0;
  const cJSON *initial = kc_get(ctx, NULL, "initial");
  if (initial && !is_max && !is_min)
    return kl_unsupported(ctx, "option initial of operation %s is not supported", cls);
  if (initial && !cJSON_IsNumber(initial))
    return kl_unsupported(ctx, "option initial of operation %s is not a number", cls);
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  ir_attrs a = kl_attrs();
  KRT_TRY(read_axes(ctx, x, a.axes, &a.n_axes));
  KRT_TRY(kc_bool(ctx, NULL, "keepdims", 0, &a.keepdims));
  a.reduce = strcmp(cls, "Mean") == 0 ? IR_REDUCE_MEAN
             : strcmp(cls, "Sum") == 0 ? IR_REDUCE_SUM
                                       : IR_REDUCE_MAX;
  int *reduced = initial ? &x : out;
  if (is_min) { /* min(x) = -max(-x): exact */
    ir_attrs n = kl_attrs();
    n.act = act(IR_ACT_NEG, 0, 0);
    KRT_TRY(kl_emit(ctx, IR_OP_ACTIVATION, "negate_in", &x, 1, &n, &x));
    KRT_TRY(kl_emit(ctx, IR_OP_REDUCE, "max", &x, 1, &a, &x));
    KRT_TRY(kl_emit(ctx, IR_OP_ACTIVATION, initial ? "negate_out" : NULL, &x, 1, &n, reduced));
  } else {
    KRT_TRY(kl_emit(ctx, IR_OP_REDUCE, initial ? "reduce" : NULL, &x, 1, &a, reduced));
  }
  if (!initial) return NULL;
  int ins[2] = {x, 0};
  KRT_TRY(kl_const_fill(ctx, "initial", 1, (float)initial->valuedouble, &ins[1]));
  ir_attrs b = kl_attrs();
  b.binary = is_max ? IR_BINARY_MAX : IR_BINARY_MIN;
  return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &b, out);
}

static krt_status *convert_softmax(const keras_layer_ctx *ctx, int log, int *out) {
  static const char *const keys[] = {"axis", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  ir_attrs a = kl_attrs();
  if (!kc_get(ctx, NULL, "axis")) return kl_unsupported(ctx, "softmax over every axis is not supported");
  KRT_TRY(read_axes(ctx, x, a.axes, &a.n_axes));
  return kl_emit(ctx, log ? IR_OP_LOG_SOFTMAX : IR_OP_SOFTMAX, NULL, &x, 1, &a, out);
}

/* A Reshape of x to per-sample dims (the batch excluded). */
static krt_status *reshape_to(const keras_layer_ctx *ctx, int x, const int64_t *dims, int rank,
                              int *out) {
  ir_attrs a = kl_attrs();
  a.shape_rank = rank;
  for (int i = 0; i < rank; i++) a.shape[i] = dims[i];
  return kl_emit(ctx, IR_OP_RESHAPE, NULL, &x, 1, &a, out);
}

static krt_status *batched_known(const keras_layer_ctx *ctx, int x) {
  const ir_value *v = kl_value(ctx, x);
  if (!v->batched) return kl_unsupported(ctx, "operation %s on an unbatched tensor is not supported", ctx->class_name);
  for (int i = 1; i < v->rank; i++)
    if (v->dims[i] < 0)
      return kl_unsupported(ctx, "operation %s needs the input's dimensions known", ctx->class_name);
  return NULL;
}

static krt_status *convert_reshape(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"newshape", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  KRT_TRY(batched_known(ctx, x));
  int shape[KRT_MAX_RANK + 1], n = 0;
  const cJSON *ns = kc_get(ctx, NULL, "newshape");
  if (!ns) return kl_bad_file(ctx, "reshape has no newshape");
  KRT_TRY(kc_int_list(ctx, ns, "newshape", KRT_MAX_RANK, shape, &n));
  if (n < 1 || shape[0] != -1)
    return kl_unsupported(ctx, "reshape must keep the batch as its first dimension (-1), newshape "
                               "starts with %d", n ? shape[0] : 0);
  int64_t dims[KRT_MAX_RANK];
  int64_t total = ir_value_sample_elements(kl_value(ctx, x)), known = 1;
  int unknown = -1;
  for (int i = 1; i < n; i++) {
    if (shape[i] == -1 && unknown < 0) unknown = i - 1;
    else if (shape[i] < 0) return kl_unsupported(ctx, "newshape has two unknown dimensions");
    else known *= shape[i];
    dims[i - 1] = shape[i];
  }
  if (unknown >= 0) dims[unknown] = known ? total / known : 0;
  return reshape_to(ctx, x, dims, n - 1, out);
}

static krt_status *convert_transpose(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"axes", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  int rank = kl_value(ctx, x)->rank, perm[KRT_MAX_RANK], n = 0;
  const cJSON *axes = kc_get(ctx, NULL, "axes");
  if (axes) KRT_TRY(kc_int_list(ctx, axes, "axes", KRT_MAX_RANK, perm, &n));
  else
    for (n = 0; n < rank; n++) perm[n] = rank - 1 - n; /* numpy: reverse every axis */
  if (n != rank) return kl_bad_file(ctx, "axes has %d entries for a tensor of rank %d", n, rank);
  for (int i = 0; i < n; i++) KRT_TRY(kl_axis(ctx, perm[i], rank, &perm[i]));
  if (kl_value(ctx, x)->batched && perm[0] != 0)
    return kl_unsupported(ctx, "a transpose that moves the batch axis is not supported");
  ir_attrs a = kl_attrs();
  for (int i = 0; i < rank; i++) a.perm[i] = perm[i];
  return kl_emit(ctx, IR_OP_TRANSPOSE, NULL, &x, 1, &a, out);
}

/* ExpandDims and Squeeze: a Reshape. */
static krt_status *convert_expand_squeeze(const keras_layer_ctx *ctx, int squeeze, int *out) {
  static const char *const keys[] = {"axis", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  KRT_TRY(batched_known(ctx, x));
  const ir_value *v = kl_value(ctx, x);
  int raw[KRT_MAX_RANK], n = 0;
  const cJSON *axis = kc_get(ctx, NULL, "axis");
  if (axis) KRT_TRY(kc_int_list(ctx, axis, "axis", KRT_MAX_RANK, raw, &n));
  int64_t dims[KRT_MAX_RANK];
  int rank = 0;
  if (squeeze) {
    int drop[KRT_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
      int a;
      KRT_TRY(kl_axis(ctx, raw[i], v->rank, &a));
      if (a == 0 || v->dims[a] != 1)
        return kl_bad_file(ctx, "cannot squeeze axis %d of size %lld", raw[i],
                           (long long)v->dims[a]);
      drop[a] = 1;
    }
    for (int i = 1; i < v->rank; i++)
      if (!drop[i] && !(n == 0 && v->dims[i] == 1)) dims[rank++] = v->dims[i];
  } else {
    if (n != 1) return kl_unsupported(ctx, "expand_dims needs one axis");
    int a;
    KRT_TRY(kl_axis(ctx, raw[0], v->rank + 1, &a));
    if (a == 0) return kl_unsupported(ctx, "expand_dims before the batch axis is not supported");
    for (int i = 1; i <= v->rank; i++) {
      if (i == a) dims[rank++] = 1;
      if (i < v->rank) dims[rank++] = v->dims[i];
    }
  }
  return reshape_to(ctx, x, dims, rank, out);
}

static krt_status *convert_concatenate(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"axis", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  KRT_TRY(expect_operands(ctx, 1));
  const cJSON *list = operand_json(ctx, 0, "xs");
  if (!cJSON_IsArray(list)) return kl_bad_file(ctx, "concatenate is not called on a list");
  int n = cJSON_GetArraySize(list);
  int *ins = malloc((size_t)(n ? n : 1) * sizeof *ins);
  if (!ins) return krt_error_oom("concatenate");
  krt_status *s = NULL;
  const cJSON *item;
  int i = 0;
  cJSON_ArrayForEach(item, list) {
    if (!is_tensor(item)) {
      s = kl_unsupported(ctx, "concatenating a constant is not supported");
      break;
    }
    if ((s = tensor_value(ctx, item, &ins[i++]))) break;
  }
  int axis_raw = 0;
  if (!s) s = kc_int(ctx, NULL, "axis", 0, &axis_raw);
  ir_attrs a = kl_attrs();
  if (!s && n > 0) s = kl_axis(ctx, axis_raw, kl_value(ctx, ins[0])->rank, &a.axis);
  if (!s && a.axis == 0)
    s = kl_unsupported(ctx, "concatenating along the batch axis is not supported");
  if (!s) s = kl_emit(ctx, IR_OP_CONCAT, NULL, ins, n, &a, out);
  free(ins);
  return s;
}

/* ops.cast: its config "dtype" is the target, not a policy. Every value krt computes is float32
 * and comparisons give 0/1, so a cast that cannot change a value (to a float type from float32,
 * to any type from bool or integers) is an identity and a cast to bool is x != 0; a cast that
 * rounds (float to int, to float16) is refused. */
static int dtype_is(const char *name, const char *prefix) {
  return name && strncmp(name, prefix, strlen(prefix)) == 0;
}

static krt_status *convert_cast(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"dtype", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  const char *to = NULL, *from = NULL;
  KRT_TRY(kc_string(ctx, NULL, "dtype", NULL, &to));
  if (!to) return kl_bad_file(ctx, "cast has no dtype");
  const cJSON *tensor = operand_json(ctx, 0, "x");
  const cJSON *tcfg = cJSON_GetObjectItemCaseSensitive(tensor, "config");
  const cJSON *tdt = tcfg ? cJSON_GetObjectItemCaseSensitive(tcfg, "dtype") : NULL;
  if (cJSON_IsString(tdt)) from = tdt->valuestring;
  if (!from) return kl_bad_file(ctx, "the tensor cast has no dtype");
  int exact_from = strcmp(from, "bool") == 0 || dtype_is(from, "int") || dtype_is(from, "uint");
  int float_from = strcmp(from, "float32") == 0 || strcmp(from, "float64") == 0;
  int float_to = strcmp(to, "float32") == 0 || strcmp(to, "float64") == 0;
  int int_to = dtype_is(to, "int") || dtype_is(to, "uint");
  ir_attrs a = kl_attrs();
  if (strcmp(to, "bool") == 0 && (float_from || exact_from)) {
    int zero;
    static const int64_t one[1] = {1};
    float *data = calloc(1, sizeof *data);
    if (!data) return krt_error_oom("cast");
    KRT_TRY(kl_const(ctx, "zero", 1, one, data, &zero));
    int ins[2] = {x, zero};
    a.binary = IR_BINARY_NOT_EQUAL;
    return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, out);
  }
  if ((float_to && (float_from || exact_from)) || (int_to && exact_from))
    return kl_emit(ctx, IR_OP_IDENTITY, NULL, &x, 1, &a, out);
  return kl_unsupported(ctx, "cast from %s to %s is not supported (krt computes in float32 and "
                             "does not round)", from, to);
}

/* A Slice of x on one axis: [begin, end). */
static krt_status *slice_axis(const keras_layer_ctx *ctx, int x, int axis, int64_t begin,
                              int64_t end, const char *part, int *out) {
  const ir_value *v = kl_value(ctx, x);
  ir_attrs a = kl_attrs();
  for (int i = 0; i < v->rank; i++) {
    a.begin[i] = 0;
    a.end[i] = v->dims[i];
  }
  a.begin[axis] = begin;
  a.end[axis] = end;
  return kl_emit(ctx, IR_OP_SLICE, part, &x, 1, &a, out);
}

/* The per-sample dims of x without axis `drop` (> 0), for Unstack and integer indexing. */
static int dims_without(const ir_value *v, int drop, int64_t *dims) {
  int r = 0;
  for (int i = 1; i < v->rank; i++)
    if (i != drop) dims[r++] = v->dims[i];
  return r;
}

/* Exact gathers with constant indices are built from what the IR has: y takes, along one
 * per-sample axis, the elements idx[0..n) of x (each in [0, dims[axis])), as a Concat of one Slice
 * per run of consecutive indices (one Slice when idx is a single run). Take, strided and reversed
 * subscripts, Tile, Repeat and BroadcastTo all reduce to it. More than KL_MAX_PIECES runs is
 * refused rather than built as a graph that large. */
#define KL_MAX_PIECES 1024

static krt_status *pick_along_axis(const keras_layer_ctx *ctx, int x, int axis, const int64_t *idx,
                                   int64_t n, const char *part, int *out) {
  const ir_value *v = kl_value(ctx, x);
  int64_t runs = 0;
  for (int64_t k = 0; k < n; k++)
    if (k == 0 || idx[k] != idx[k - 1] + 1) runs++;
  if (runs > KL_MAX_PIECES)
    return kl_unsupported(ctx, "operation %s needs %lld pieces on axis %d (krt builds at most %d)",
                          ctx->class_name, (long long)runs, axis, KL_MAX_PIECES);
  int contiguous_all = runs == 1 && idx[0] == 0 && n == v->dims[axis];
  if (contiguous_all) {
    ir_attrs none = kl_attrs();
    return kl_emit(ctx, IR_OP_IDENTITY, part, &x, 1, &none, out);
  }
  int *pieces = malloc((size_t)runs * sizeof *pieces);
  if (!pieces) return krt_error_oom("pieces of a gather");
  krt_status *s = NULL;
  int r = 0;
  for (int64_t k = 0; !s && k < n;) {
    int64_t e = k + 1;
    while (e < n && idx[e] == idx[e - 1] + 1) e++;
    char piece[40];
    snprintf(piece, sizeof piece, "axis%d_piece%d", axis, r);
    s = slice_axis(ctx, x, axis, idx[k], idx[e - 1] + 1, runs == 1 ? part : piece, &pieces[r]);
    r++;
    k = e;
  }
  ir_attrs a = kl_attrs();
  a.axis = axis;
  if (!s && runs > 1) s = kl_emit(ctx, IR_OP_CONCAT, part, pieces, r, &a, out);
  if (!s && runs == 1) *out = pieces[0];
  free(pieces);
  return s;
}

/* A JSON number as int64, clamped to +-2^62: converting a double outside int64's range is
 * undefined behaviour, and a slice bound that large means "to the end" anyway. NaN gives 0. */
static int64_t json_clamped_int64(const cJSON *j) {
  double v = j->valuedouble;
  const double limit = 4611686018427387904.0; /* 2^62 */
  if (!(v == v)) return 0;
  return v > limit ? (int64_t)1 << 62 : v < -limit ? -((int64_t)1 << 62) : (int64_t)v;
}

/* The per-axis indices of numpy's x[start:stop:step] on an axis of length len (Python's
 * slice.indices: None ends, negative bounds from the end, clamped). Returns the count. */
static int64_t slice_indices(const cJSON *start, const cJSON *stop, int64_t step, int64_t len,
                             int64_t *idx) {
  int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? len : len - 1;
  int64_t b = cJSON_IsNumber(start) ? json_clamped_int64(start) : (step > 0 ? lo : hi);
  int64_t e = cJSON_IsNumber(stop) ? json_clamped_int64(stop) : (step > 0 ? hi : lo);
  if (cJSON_IsNumber(start) && b < 0) b += len;
  if (cJSON_IsNumber(stop) && e < 0) e += len;
  b = b < lo ? lo : b > hi ? hi : b;
  e = e < lo ? lo : e > hi ? hi : e;
  int64_t n = 0;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step) idx[n++] = i;
  return n;
}

_Static_assert(KERAS_MAX_OP_OUTPUTS <= IR_MAX_SPLIT, "a split into every piece fits one Split");

/* ops.split(x, indices_or_sections, axis) and ops.unstack(x, num, axis): one Split node whose
 * outputs are the pieces (unstack then drops the axis of each with a Reshape); a single piece is
 * a Slice. */
static krt_status *convert_split(const keras_layer_ctx *ctx, int unstack, int *outs, int *n_outs) {
  static const char *const split_keys[] = {"indices_or_sections", "axis", NULL};
  static const char *const unstack_keys[] = {"num", "axis", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, unstack ? unstack_keys : split_keys));
  int x;
  KRT_TRY(one_tensor(ctx, &x));
  KRT_TRY(batched_known(ctx, x));
  const ir_value *v = kl_value(ctx, x);
  int raw = 0, axis;
  KRT_TRY(kc_int(ctx, NULL, "axis", 0, &raw));
  KRT_TRY(kl_axis(ctx, raw, v->rank, &axis));
  if (axis == 0) return kl_unsupported(ctx, "%s along the batch axis is not supported", ctx->class_name);
  int64_t len = v->dims[axis];
  int64_t cuts[KERAS_MAX_OP_OUTPUTS + 1];
  int n = 0;
  if (unstack) {
    int num = (int)len;
    if (kc_get(ctx, NULL, "num")) KRT_TRY(kc_int(ctx, NULL, "num", 0, &num));
    if (num != len) return kl_bad_file(ctx, "unstack num %d for an axis of %lld", num, (long long)len);
    n = num;
    for (int i = 0; i <= n && i <= KERAS_MAX_OP_OUTPUTS; i++) cuts[i] = i;
  } else {
    const cJSON *ios = kc_get(ctx, NULL, "indices_or_sections");
    if (cJSON_IsNumber(ios)) {
      n = ios->valueint;
      if (n < 1 || len % n != 0)
        return kl_bad_file(ctx, "cannot split an axis of %lld into %d equal sections", (long long)len, n);
      for (int i = 0; i <= n && i <= KERAS_MAX_OP_OUTPUTS; i++) cuts[i] = len / n * i;
    } else {
      int idx[KERAS_MAX_OP_OUTPUTS], m = 0;
      if (!ios) return kl_bad_file(ctx, "split has no indices_or_sections");
      KRT_TRY(kc_int_list(ctx, ios, "indices_or_sections", KERAS_MAX_OP_OUTPUTS - 1, idx, &m));
      n = m + 1;
      cuts[0] = 0;
      for (int i = 0; i < m; i++) {
        int64_t c = idx[i] < 0 ? idx[i] + len : idx[i];
        cuts[i + 1] = c < 0 ? 0 : c > len ? len : c;
        if (cuts[i + 1] < cuts[i]) return kl_unsupported(ctx, "split indices must not decrease");
      }
      cuts[n] = len;
    }
  }
  if (n < 1 || n > KERAS_MAX_OP_OUTPUTS)
    return kl_unsupported(ctx, "%s into %d parts is not supported (at most %d)", ctx->class_name,
                          n, KERAS_MAX_OP_OUTPUTS);
  for (int i = 0; i < n; i++)
    if (cuts[i + 1] == cuts[i]) return kl_unsupported(ctx, "an empty split part is not supported");
  if (n > 1) { /* one Split node, its pieces its outputs */
    ir_attrs a = kl_attrs();
    a.axis = axis;
    for (int i = 0; i < n; i++) a.sizes[i] = cuts[i + 1] - cuts[i];
    KRT_TRY(kl_emit_outputs(ctx, IR_OP_SPLIT, NULL, &x, 1, &a, n, outs));
  }
  for (int i = 0; i < n; i++) {
    char part[32];
    snprintf(part, sizeof part, "part_%d", i);
    /* a single piece is the whole axis: a Slice, as before Split existed */
    if (n == 1)
      KRT_TRY(slice_axis(ctx, x, axis, cuts[0], cuts[1], unstack ? part : NULL, &outs[0]));
    if (unstack) {
      int64_t dims[KRT_MAX_RANK];
      int r = dims_without(kl_value(ctx, x), axis, dims);
      snprintf(part, sizeof part, "out_%d", i);
      ir_attrs a = kl_attrs();
      a.shape_rank = r;
      for (int k = 0; k < r; k++) a.shape[k] = dims[k];
      KRT_TRY(kl_emit(ctx, IR_OP_RESHAPE, part, &outs[i], 1, &a, &outs[i]));
    }
  }
  *n_outs = n;
  return NULL;
}

/* ops.stack(xs, axis): each x reshaped with a 1 at axis, then one Concat. */
static krt_status *convert_stack(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"axis", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  KRT_TRY(expect_operands(ctx, 1));
  const cJSON *list = operand_json(ctx, 0, "x");
  if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1)
    return kl_bad_file(ctx, "stack is not called on a list of tensors");
  int n = cJSON_GetArraySize(list);
  int *ins = malloc((size_t)n * sizeof *ins);
  if (!ins) return krt_error_oom("stack");
  krt_status *s = NULL;
  int raw = 0, axis = 0, i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, list) {
    if (!is_tensor(item)) s = kl_unsupported(ctx, "stacking a constant is not supported");
    if (!s) s = tensor_value(ctx, item, &ins[i]);
    if (!s) s = batched_known(ctx, ins[i]);
    if (s) break;
    i++;
  }
  if (!s) s = kc_int(ctx, NULL, "axis", 0, &raw);
  if (!s) s = kl_axis(ctx, raw, kl_value(ctx, ins[0])->rank + 1, &axis);
  if (!s && axis == 0) s = kl_unsupported(ctx, "stacking along the batch axis is not supported");
  for (int k = 0; !s && k < n; k++) {
    const ir_value *v = kl_value(ctx, ins[k]);
    int64_t dims[KRT_MAX_RANK];
    int r = 0;
    for (int d = 1; d <= v->rank; d++) {
      if (d == axis) dims[r++] = 1;
      if (d < v->rank) dims[r++] = v->dims[d];
    }
    char part[32];
    snprintf(part, sizeof part, "expand_%d", k);
    ir_attrs a = kl_attrs();
    a.shape_rank = r;
    for (int d = 0; d < r; d++) a.shape[d] = dims[d];
    s = kl_emit(ctx, IR_OP_RESHAPE, part, &ins[k], 1, &a, &ins[k]);
  }
  ir_attrs a = kl_attrs();
  a.axis = axis;
  if (!s) s = kl_emit(ctx, IR_OP_CONCAT, NULL, ins, n, &a, out);
  free(ins);
  return s;
}

/* Applies pick_along_axis on each axis with a list in idx[axis] (NULL: axis untouched); the last
 * node is named `part` (NULL: the layer's own name). */
static krt_status *pick_axes(const keras_layer_ctx *ctx, int x, int64_t *const *idx,
                             const int64_t *n, int rank, const char *part, int *out) {
  int last = 0;
  for (int i = 1; i < rank; i++)
    if (idx[i]) last = i;
  if (!last) {
    ir_attrs none = kl_attrs();
    return kl_emit(ctx, IR_OP_IDENTITY, part, &x, 1, &none, out);
  }
  for (int i = 1; i <= last; i++) {
    if (!idx[i]) continue;
    char step[32];
    snprintf(step, sizeof step, "axis%d", i);
    KRT_TRY(pick_along_axis(ctx, x, i, idx[i], n[i], i == last ? part : step, i == last ? out : &x));
  }
  return NULL;
}

static void free_axes(int64_t **idx, int rank) {
  for (int i = 0; i < rank; i++) free(idx[i]);
}

static int is_class(const cJSON *j, const char *name) {
  const cJSON *c = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "class_name") : NULL;
  return cJSON_IsString(c) && strcmp(c->valuestring, name) == 0;
}

/* x[...] (GetItem), numpy's basic indexing: per axis a slice {start, stop, step} (None ends,
 * negative bounds from the end, clamped as Python does; any nonzero step, negative ones
 * reversing) or an integer (the axis dropped); one Ellipsis (as many full slices as the rank
 * leaves) and None (a new axis of size 1) anywhere after the batch axis. The batch axis takes
 * only `:`. Tensor and boolean indices are refused. Built as one Slice, the stepped axes picked
 * after it (pick_along_axis), and a Reshape where axes are dropped or added. */
static krt_status *convert_get_item(const keras_layer_ctx *ctx, int *out) {
  KRT_TRY(refuse_unknown_keys(ctx, NULL));
  KRT_TRY(expect_operands(ctx, 2));
  int x;
  const cJSON *xj = operand_json(ctx, 0, "x");
  if (!is_tensor(xj)) return kl_unsupported(ctx, "indexing a constant is not supported");
  KRT_TRY(tensor_value(ctx, xj, &x));
  KRT_TRY(batched_known(ctx, x));
  const ir_value *v = kl_value(ctx, x);
  int rank = v->rank;
  const cJSON *key = operand_json(ctx, 1, "key");
  int n_keys = cJSON_IsArray(key) ? cJSON_GetArraySize(key) : 1, n_axes = 0, ellipses = 0;
  for (int i = 0; i < n_keys; i++) {
    const cJSON *k = cJSON_IsArray(key) ? cJSON_GetArrayItem(key, i) : key;
    if (is_class(k, "__ellipsis__")) ellipses++;
    else if (!cJSON_IsNull(k)) n_axes++;
  }
  if (ellipses > 1) return kl_bad_file(ctx, "the subscript has %d Ellipsis", ellipses);
  if (n_axes > rank)
    return kl_bad_file(ctx, "%d indices for a tensor of rank %d", n_axes, rank);
  ir_attrs a = kl_attrs();
  int drop[KRT_MAX_RANK] = {0}, any_reshape = 0;
  int64_t step_of[KRT_MAX_RANK] = {0}; /* 0: step 1, else the step of that axis */
  int new_before[KRT_MAX_RANK + 1] = {0}; /* new axes (None) before input axis i (rank: at the end) */
  for (int i = 0; i < rank; i++) {
    a.begin[i] = 0;
    a.end[i] = v->dims[i];
  }
  int i = 0; /* the input axis the next subscript applies to */
  for (int q = 0; q < n_keys; q++) {
    const cJSON *k = cJSON_IsArray(key) ? cJSON_GetArrayItem(key, q) : key;
    if (is_class(k, "__ellipsis__")) {
      i += rank - n_axes;
      continue;
    }
    if (cJSON_IsNull(k)) {
      if (i == 0) return kl_unsupported(ctx, "a new axis (None) before the batch axis is not supported");
      new_before[i]++;
      any_reshape = 1;
      continue;
    }
    int64_t len = v->dims[i];
    if (cJSON_IsNumber(k)) {
      if (i == 0) return kl_unsupported(ctx, "indexing the batch axis is not supported");
      int64_t idx = json_clamped_int64(k);
      if (idx < 0) idx += len;
      if (idx < 0 || idx >= len)
        return kl_bad_file(ctx, "index %g is out of range for axis %d of size %lld",
                           k->valuedouble, i, (long long)len);
      a.begin[i] = idx;
      a.end[i] = idx + 1;
      drop[i] = any_reshape = 1;
      i++;
      continue;
    }
    if (!is_class(k, "__slice__"))
      return kl_unsupported(ctx, "index %d of the subscript is not a slice, an integer, Ellipsis "
                                 "or None (tensor and boolean indices are not supported)", q);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(k, "config");
    const cJSON *st = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "start") : NULL;
    const cJSON *sp = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "stop") : NULL;
    const cJSON *step = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "step") : NULL;
    if ((st && !cJSON_IsNull(st) && !cJSON_IsNumber(st)) ||
        (sp && !cJSON_IsNull(sp) && !cJSON_IsNumber(sp)) ||
        (step && !cJSON_IsNull(step) && !cJSON_IsNumber(step)))
      return kl_unsupported(ctx, "a slice bound or step on axis %d is not a constant integer", i);
    int64_t stp = cJSON_IsNumber(step) ? json_clamped_int64(step) : 1;
    if (stp == 0 || (cJSON_IsNumber(step) && step->valuedouble != (double)stp))
      return kl_bad_file(ctx, "slice step %g on axis %d", step->valuedouble, i);
    if (i == 0) {
      if (cJSON_IsNumber(st) || cJSON_IsNumber(sp) || stp != 1)
        return kl_unsupported(ctx, "slicing the batch axis is not supported");
      i++;
      continue;
    }
    int64_t *idx = malloc((size_t)(len > 0 ? len : 1) * sizeof *idx);
    if (!idx) return krt_error_oom("slice indices");
    int64_t n = slice_indices(st, sp, stp, len, idx);
    int64_t first = n ? idx[0] : 0, last = n ? idx[n - 1] : 0;
    free(idx);
    if (n == 0) return kl_unsupported(ctx, "an empty slice on axis %d is not supported", i);
    a.begin[i] = stp > 0 ? first : last;
    a.end[i] = (stp > 0 ? last : first) + 1;
    if (stp != 1) step_of[i] = stp;
    i++;
  }
  int has_steps = 0;
  for (int d = 1; d < rank; d++) has_steps |= step_of[d] != 0;
  if (!any_reshape && !has_steps) return kl_emit(ctx, IR_OP_SLICE, NULL, &x, 1, &a, out);
  KRT_TRY(kl_emit(ctx, IR_OP_SLICE, "slice", &x, 1, &a, &x));
  if (has_steps) {
    /* within the slice [begin, end): every |step|-th element, from the far end when step < 0 */
    int64_t *idx[KRT_MAX_RANK] = {0}, n[KRT_MAX_RANK] = {0};
    krt_status *s = NULL;
    for (int d = 1; !s && d < rank; d++) {
      if (!step_of[d]) continue;
      int64_t span = a.end[d] - a.begin[d], mag = step_of[d] > 0 ? step_of[d] : -step_of[d];
      n[d] = (span - 1) / mag + 1;
      if (!(idx[d] = malloc((size_t)n[d] * sizeof *idx[d]))) s = krt_error_oom("slice indices");
      for (int64_t k = 0; !s && k < n[d]; k++) idx[d][k] = step_of[d] > 0 ? k * mag : span - 1 - k * mag;
    }
    if (!s) s = pick_axes(ctx, x, idx, n, rank, any_reshape ? "steps" : NULL, any_reshape ? &x : out);
    free_axes(idx, rank);
    if (s || !any_reshape) return s;
  }
  const ir_value *sliced = kl_value(ctx, x);
  int64_t dims[KRT_MAX_RANK];
  int r = 0;
  for (int d = 1; d <= rank; d++) {
    for (int k = 0; k < new_before[d]; k++) {
      if (r >= KRT_MAX_RANK - 1) return kl_unsupported(ctx, "the subscript gives too many axes");
      dims[r++] = 1;
    }
    if (d < rank && !drop[d]) dims[r++] = sliced->dims[d];
  }
  return reshape_to(ctx, x, dims, r, out);
}

/* What Tile, Repeat, BroadcastTo and Take share: only config `keys`, n_operands operands, the
 * first a batched tensor x with known dims (copied to dims: pick_along_axis may move the graph's
 * values). */
static krt_status *gather_operand(const keras_layer_ctx *ctx, const char *const *keys,
                                  int n_operands, int *x, int *rank, int64_t *dims) {
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  KRT_TRY(expect_operands(ctx, n_operands));
  const cJSON *xj = operand_json(ctx, 0, "x");
  if (!is_tensor(xj)) return kl_unsupported(ctx, "operation %s on a constant is not supported", ctx->class_name);
  KRT_TRY(tensor_value(ctx, xj, x));
  KRT_TRY(batched_known(ctx, *x));
  const ir_value *v = kl_value(ctx, *x);
  *rank = v->rank;
  for (int i = 0; i < v->rank; i++) dims[i] = v->dims[i];
  return NULL;
}

/* Config "axis" as a per-sample axis: None (numpy's flattened tensor, the batch included) and
 * the batch axis are refused. */
static krt_status *per_sample_axis(const keras_layer_ctx *ctx, const char *what, int rank,
                                   int *axis) {
  const cJSON *aj = kc_get(ctx, NULL, "axis");
  if (!cJSON_IsNumber(aj))
    return kl_unsupported(ctx, "%s without an axis (over the flattened tensor, batch included) "
                               "is not supported", what);
  KRT_TRY(kl_axis(ctx, (int)aj->valuedouble, rank, axis));
  if (*axis == 0) return kl_unsupported(ctx, "%s along the batch axis is not supported", what);
  return NULL;
}

/* ops.tile(x, repeats): numpy's tile; repeats shorter than the rank apply to the last axes. The
 * batch axis is not tiled, and more repeats than axes (new leading axes) are refused. */
static krt_status *convert_tile(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"repeats", NULL};
  int x, rank, reps[KRT_MAX_RANK], n_reps = 0;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(gather_operand(ctx, keys, 1, &x, &rank, dims));
  const cJSON *rj = kc_get(ctx, NULL, "repeats");
  if (cJSON_IsNumber(rj)) {
    reps[0] = (int)rj->valuedouble;
    n_reps = 1;
  } else {
    KRT_TRY(kc_int_list(ctx, rj, "repeats", KRT_MAX_RANK, reps, &n_reps));
  }
  if (n_reps > rank)
    return kl_unsupported(ctx, "tile with %d repeats on a tensor of rank %d (new leading axes "
                               "before the batch) is not supported", n_reps, rank);
  int64_t *idx[KRT_MAX_RANK] = {0}, n[KRT_MAX_RANK] = {0};
  krt_status *s = NULL;
  for (int k = 0; !s && k < n_reps; k++) {
    int i = rank - n_reps + k, r = reps[k];
    if (r < 1) s = kl_unsupported(ctx, "tile with repeats %d on axis %d is not supported", r, i);
    else if (i == 0 && r != 1) s = kl_unsupported(ctx, "tiling the batch axis is not supported");
    if (s || r == 1) continue;
    n[i] = dims[i] * r;
    idx[i] = malloc((size_t)n[i] * sizeof *idx[i]);
    if (!idx[i]) s = krt_error_oom("tile");
    for (int64_t j = 0; !s && j < n[i]; j++) idx[i][j] = j % dims[i];
  }
  if (!s) s = pick_axes(ctx, x, idx, n, rank, NULL, out);
  free_axes(idx, rank);
  return s;
}

/* ops.repeat(x, repeats, axis): every element repeated along axis, repeats an integer or one
 * count per element. An integer count r is a Reshape to [..., d, 1, ...], a Concat of r copies
 * on the new axis and a Reshape to [..., d*r, ...]; per-element counts pick their elements.
 * axis=None (the flattened tensor, batch included) is refused. */
static krt_status *convert_repeat(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"repeats", "axis", NULL};
  int x, rank;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(gather_operand(ctx, keys, 1, &x, &rank, dims));
  int axis = 0;
  KRT_TRY(per_sample_axis(ctx, "repeat", rank, &axis));
  const cJSON *rj = kc_get(ctx, NULL, "repeats");
  int64_t d = dims[axis];
  int64_t *counts = malloc((size_t)d * sizeof *counts);
  if (!counts) return krt_error_oom("repeat");
  krt_status *s = NULL;
  int uniform = 1;
  if (cJSON_IsNumber(rj)) {
    for (int64_t j = 0; j < d; j++) counts[j] = (int64_t)rj->valuedouble;
  } else if (cJSON_IsArray(rj) && (cJSON_GetArraySize(rj) == d || cJSON_GetArraySize(rj) == 1)) {
    int64_t j = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, rj) {
      if (!cJSON_IsNumber(c)) s = kl_bad_file(ctx, "repeats is not a list of integers");
      else counts[j++] = (int64_t)c->valuedouble;
    }
    for (; !s && j < d; j++) counts[j] = counts[0];
  } else {
    s = kl_bad_file(ctx, "repeats is not an integer or a list of %lld integers", (long long)d);
  }
  int64_t total = 0;
  for (int64_t j = 0; !s && j < d; j++) {
    if (counts[j] < 0) s = kl_bad_file(ctx, "negative repeats");
    total += counts[j];
    uniform &= counts[j] == counts[0];
  }
  if (!s && total == 0) s = kl_unsupported(ctx, "a repeat giving an empty tensor is not supported");
  if (!s && uniform) {
    int r = (int)counts[0];
    int64_t shape[KRT_MAX_RANK];
    int n_shape = 0;
    for (int i = 1; i < rank; i++) {
      shape[n_shape++] = dims[i];
      if (i == axis) shape[n_shape++] = 1;
    }
    int col = x;
    if (n_shape + 1 > KRT_MAX_RANK) s = kl_unsupported(ctx, "repeat on a tensor of rank %d", rank);
    if (!s) {
      ir_attrs ra = kl_attrs();
      ra.shape_rank = n_shape;
      for (int i = 0; i < n_shape; i++) ra.shape[i] = shape[i];
      s = kl_emit(ctx, IR_OP_RESHAPE, "column", &x, 1, &ra, &col);
    }
    int *copies = s ? NULL : malloc((size_t)r * sizeof *copies);
    if (!s && !copies) s = krt_error_oom("repeat");
    int joined = col;
    if (!s) {
      for (int k = 0; k < r; k++) copies[k] = col;
      ir_attrs ca = kl_attrs();
      ca.axis = axis + 1;
      if (r > 1) s = kl_emit(ctx, IR_OP_CONCAT, "copies", copies, r, &ca, &joined);
    }
    free(copies);
    for (int i = 1; i < rank; i++) shape[i - 1] = i == axis ? d * r : dims[i];
    if (!s) s = reshape_to(ctx, joined, shape, rank - 1, out);
  } else if (!s) {
    int64_t *idx[KRT_MAX_RANK] = {0}, n[KRT_MAX_RANK] = {0};
    idx[axis] = malloc((size_t)total * sizeof *idx[axis]);
    if (!idx[axis]) s = krt_error_oom("repeat");
    n[axis] = total;
    int64_t at = 0;
    for (int64_t j = 0; !s && j < d; j++)
      for (int64_t c = 0; c < counts[j]; c++) idx[axis][at++] = j;
    if (!s) s = pick_axes(ctx, x, idx, n, rank, NULL, out);
    free_axes(idx, rank);
  }
  free(counts);
  return s;
}

/* ops.broadcast_to(x, shape): axes of size 1 repeated to the shape's. The shape's leading entry
 * is the batch: it must be left open (None or -1), since a fixed one would change the batch; new
 * leading axes (which would move the batch axis) are refused. */
static krt_status *convert_broadcast_to(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"shape", NULL};
  int x, rank;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(gather_operand(ctx, keys, 1, &x, &rank, dims));
  const cJSON *sj = kc_get(ctx, NULL, "shape");
  if (!cJSON_IsArray(sj)) return kl_bad_file(ctx, "shape is not a list");
  int n_shape = cJSON_GetArraySize(sj);
  if (n_shape != rank)
    return kl_unsupported(ctx, "broadcast_to from rank %d to rank %d is not supported (new leading "
                               "axes would move the batch axis)", rank, n_shape);
  const cJSON *b = cJSON_GetArrayItem(sj, 0);
  if (!(cJSON_IsNull(b) || (cJSON_IsNumber(b) && b->valuedouble == -1)))
    return kl_unsupported(ctx, "broadcast_to a fixed batch size %g is not supported (the batch "
                               "must stay None)", cJSON_IsNumber(b) ? b->valuedouble : 0.0);
  int64_t *idx[KRT_MAX_RANK] = {0}, n[KRT_MAX_RANK] = {0};
  krt_status *s = NULL;
  for (int i = 1; !s && i < rank; i++) {
    const cJSON *e = cJSON_GetArrayItem(sj, i);
    if (!cJSON_IsNumber(e)) {
      s = kl_unsupported(ctx, "entry %d of the shape is not a constant integer", i);
      break;
    }
    int64_t to = (int64_t)e->valuedouble;
    if (to == dims[i]) continue;
    if (dims[i] != 1 || to < 1) {
      s = kl_bad_file(ctx, "cannot broadcast axis %d of size %lld to %lld", i, (long long)dims[i],
                      (long long)to);
      break;
    }
    n[i] = to;
    idx[i] = calloc((size_t)to, sizeof *idx[i]);
    if (!idx[i]) s = krt_error_oom("broadcast_to");
  }
  if (!s) s = pick_axes(ctx, x, idx, n, rank, NULL, out);
  free_axes(idx, rank);
  return s;
}

/* ops.take(x, indices, axis): constant indices (a number, a nested list or a numpy array; negative
 * ones from the end) along a per-sample axis; y's shape is x's with that axis replaced by the
 * indices' shape. Tensor indices, axis=None and out-of-range indices are refused. */
static krt_status *convert_take(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"axis", NULL};
  int x, rank;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(gather_operand(ctx, keys, 2, &x, &rank, dims));
  int axis = 0;
  KRT_TRY(per_sample_axis(ctx, "take", rank, &axis));
  const cJSON *ij = operand_json(ctx, 1, "indices");
  if (is_tensor(ij))
    return kl_unsupported(ctx, "take with tensor indices is not supported (constant indices only)");
  const cJSON *cls = cJSON_IsObject(ij) ? cJSON_GetObjectItemCaseSensitive(ij, "class_name") : NULL;
  if (cJSON_IsString(cls) && (strcmp(cls->valuestring, "__numpy__") == 0 ||
                              strcmp(cls->valuestring, "__tensor__") == 0)) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(ij, "config");
    ij = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "value") : NULL;
  }
  int irank = -1;
  int64_t idims[KRT_MAX_RANK];
  for (int d = 0; d < KRT_MAX_RANK; d++) idims[d] = -1;
  if (!ij || !const_shape(ij, 0, &irank, idims))
    return kl_unsupported(ctx, "the indices of take are not a constant list of integers");
  if (rank - 1 + irank > KRT_MAX_RANK)
    return kl_unsupported(ctx, "take gives a tensor of rank %d", rank - 1 + irank);
  int64_t count = 1;
  for (int d = 0; d < irank; d++) count *= idims[d];
  if (count == 0) return kl_unsupported(ctx, "take with no indices is not supported");
  float *raw = malloc((size_t)count * sizeof *raw);
  int64_t *idx[KRT_MAX_RANK] = {0}, n[KRT_MAX_RANK] = {0};
  idx[axis] = malloc((size_t)count * sizeof *idx[axis]);
  krt_status *s = (!raw || !idx[axis]) ? krt_error_oom("take") : NULL;
  int64_t at = 0;
  if (!s) const_fill(ij, raw, &at);
  for (int64_t k = 0; !s && k < count; k++) {
    int64_t i = (int64_t)raw[k];
    if ((float)i != raw[k]) s = kl_bad_file(ctx, "index %g of take is not an integer", raw[k]);
    else if (i < -dims[axis] || i >= dims[axis])
      s = kl_unsupported(ctx, "index %lld of take is out of range for axis %d of size %lld",
                         (long long)i, axis, (long long)dims[axis]);
    else idx[axis][k] = i < 0 ? i + dims[axis] : i;
  }
  n[axis] = count;
  free(raw);
  if (!s && irank == 1) s = pick_axes(ctx, x, idx, n, rank, NULL, out);
  else if (!s) {
    int picked;
    s = pick_along_axis(ctx, x, axis, idx[axis], count, "picked", &picked);
    int64_t shape[KRT_MAX_RANK];
    int r = 0;
    for (int i = 1; i < rank; i++) {
      if (i != axis) shape[r++] = dims[i];
      else for (int d = 0; d < irank; d++) shape[r++] = idims[d];
    }
    if (!s) s = reshape_to(ctx, picked, shape, r, out);
  }
  free_axes(idx, rank);
  return s;
}

/* x[..., K] times a constant W[K, M] (or w[K], the product's last axis dropped): a Dense without
 * bias. W comes from operand() as [K, M] in row-major order; transpose_w says the file holds
 * it as [M, K]. */
static krt_status *dense_by_constant(const keras_layer_ctx *ctx, int x, int w, int transpose_w,
                                     int *out) {
  const ir_value *xv = kl_value(ctx, x), *wv = kl_value(ctx, w);
  int vector = wv->rank == 1;
  if (xv->rank < 2 || (wv->rank != 1 && wv->rank != 2))
    return kl_unsupported(ctx, "%s of a rank-%d tensor by a rank-%d constant is not supported "
                               "(a matrix or a vector on the right only)", ctx->class_name,
                          xv->rank, wv->rank);
  int64_t k = xv->dims[xv->rank - 1];
  int64_t wk = transpose_w ? wv->dims[wv->rank - 1] : wv->dims[0];
  int64_t m = vector ? 1 : transpose_w ? wv->dims[0] : wv->dims[1];
  if (k < 0 || k != wk)
    return kl_bad_file(ctx, "%s: the tensor's last axis is %lld, the constant's %lld",
                       ctx->class_name, (long long)k, (long long)wk);
  const float *src = wv->data;
  float *data = malloc((size_t)(k * m) * sizeof *data);
  if (!data) return krt_error_oom("matmul weights");
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < m; j++) data[i * m + j] = transpose_w ? src[j * k + i] : src[i * m + j];
  int ins[2] = {x, -1};
  KRT_TRY(kl_const(ctx, "kernel", 2, (int64_t[]){k, m}, data, &ins[1]));
  ir_attrs a = kl_attrs();
  if (!vector) return kl_emit(ctx, IR_OP_DENSE, NULL, ins, 2, &a, out);
  int column;
  KRT_TRY(kl_emit(ctx, IR_OP_DENSE, "column", ins, 2, &a, &column));
  int64_t dims[KRT_MAX_RANK];
  xv = kl_value(ctx, x);
  for (int i = 1; i < xv->rank - 1; i++) dims[i - 1] = xv->dims[i];
  return reshape_to(ctx, column, dims, xv->rank - 2, out);
}

/* ---- products of two tensors: MatMul (ops.def) after transposes and reshapes ------------- */

/* A constant c permuted (new axis i = old axis perm[i]) and then viewed as `dims`: the host does
 * what a Transpose and a Reshape would, so no node reads an unbatched constant's axis 0. */
static krt_status *permuted_const(const keras_layer_ctx *ctx, int c, const int *perm,
                                  const int64_t *dims, int rank, const char *part, int *out) {
  const ir_value *v = kl_value(ctx, c);
  int64_t count = 1, strides[KRT_MAX_RANK], idx[KRT_MAX_RANK] = {0};
  for (int i = v->rank - 1; i >= 0; i--) strides[i] = count, count *= v->dims[i];
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof *data);
  if (!data) return krt_error_oom("matmul operand");
  for (int64_t e = 0; e < count; e++) {
    int64_t from = 0;
    for (int i = 0; i < v->rank; i++) from += idx[i] * strides[perm[i]];
    data[e] = v->data[from];
    for (int i = v->rank - 1; i >= 0; i--) { /* next index in the permuted order */
      if (++idx[i] < v->dims[perm[i]]) break;
      idx[i] = 0;
    }
  }
  return kl_const(ctx, part, rank, dims, data, out);
}

static int is_identity_perm(const int *perm, int rank) {
  for (int i = 0; i < rank; i++)
    if (perm[i] != i) return 0;
  return 1;
}

/* x permuted then reshaped to dims (the batch on axis 0 excluded from the Reshape's shape);
 * nodes only where they change something. A constant x becomes the constant "<layer>/<part>"
 * (distinct parts keep a shared layer's second call from taking another operand's constant). */
static krt_status *arrange(const keras_layer_ctx *ctx, int x, const int *perm, const int64_t *dims,
                           int rank, const char *part, int *out) {
  const ir_value *v = kl_value(ctx, x);
  if (v->data) return permuted_const(ctx, x, perm, dims, rank, part, out);
  *out = x;
  if (!is_identity_perm(perm, v->rank)) {
    ir_attrs a = kl_attrs();
    for (int i = 0; i < v->rank; i++) a.perm[i] = perm[i];
    KRT_TRY(kl_emit(ctx, IR_OP_TRANSPOSE, NULL, &x, 1, &a, out));
    v = kl_value(ctx, *out);
  }
  int same = v->rank == rank;
  for (int i = 1; same && i < rank; i++) same = v->dims[i] == dims[i];
  if (same) return NULL;
  return reshape_to(ctx, *out, dims + 1, rank - 1, out);
}

/* einsum of two operands, parsed: each operand's letters with "..." expanded into the internal
 * letters '0'..'7' (right-aligned, as numpy broadcasts them), and the output's. */
typedef struct einsum_eq {
  char in[2][KRT_MAX_RANK + 1];
  char out[KRT_MAX_RANK + 1];
} einsum_eq;

/* One term into letters; *ellipsis says whether it had "...". 0 when malformed. */
static int einsum_term(const char *t, size_t len, char *letters, int *n, int *ellipsis) {
  *n = 0;
  *ellipsis = 0;
  for (size_t i = 0; i < len; i++) {
    if (t[i] == '.') {
      if (*ellipsis || i + 2 >= len || t[i + 1] != '.' || t[i + 2] != '.') return 0;
      *ellipsis = 1;
      letters[(*n)++] = '.';
      i += 2;
    } else if (((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')) && *n < KRT_MAX_RANK) {
      letters[(*n)++] = t[i];
    } else {
      return 0;
    }
  }
  letters[*n] = 0;
  return 1;
}

/* Replaces '.' in letters by the last `count` of `total` internal letters. 0 when too long. */
static int expand_ellipsis(const char *letters, int count, int total, char *out) {
  int n = 0;
  for (const char *c = letters; *c; c++) {
    if (*c != '.') {
      if (n >= KRT_MAX_RANK) return 0;
      out[n++] = *c;
      continue;
    }
    for (int i = total - count; i < total; i++) {
      if (n >= KRT_MAX_RANK) return 0;
      out[n++] = (char)('0' + i);
    }
  }
  out[n] = 0;
  return 1;
}

static krt_status *einsum_parse(const keras_layer_ctx *ctx, const char *eq, const int *ranks,
                                einsum_eq *p) {
  const char *comma = strchr(eq, ','), *arrow = strstr(eq, "->");
  if (!arrow)
    return kl_unsupported(ctx, "einsum '%s' has no '->': give the output subscripts", eq);
  if (!comma || comma > arrow || strchr(comma + 1, ','))
    return kl_unsupported(ctx, "einsum '%s' does not have two operands", eq);
  const char *terms[3] = {eq, comma + 1, arrow + 2};
  size_t lens[3] = {(size_t)(comma - eq), (size_t)(arrow - comma - 1), strlen(arrow + 2)};
  char raw[3][KRT_MAX_RANK + 1];
  int n[3], ell[3], extra[2] = {0, 0};
  for (int t = 0; t < 3; t++)
    if (!einsum_term(terms[t], lens[t], raw[t], &n[t], &ell[t]))
      return kl_unsupported(ctx, "einsum '%s': term '%.*s' is not letters with at most one '...' "
                                 "(rank %d at most)", eq, (int)lens[t], terms[t], KRT_MAX_RANK);
  for (int t = 0; t < 2; t++) {
    int named = n[t] - ell[t];
    extra[t] = ranks[t] - named;
    if (extra[t] < 0 || (!ell[t] && extra[t] != 0))
      return kl_bad_file(ctx, "einsum '%s': operand %d has rank %d but '%.*s' names %d axes", eq,
                         t, ranks[t], (int)lens[t], terms[t], named);
  }
  int total = extra[0] > extra[1] ? extra[0] : extra[1];
  if (total > 0 && !ell[2])
    return kl_unsupported(ctx, "einsum '%s': the output has no '...' for the operands' '...' axes",
                          eq);
  if (!expand_ellipsis(raw[0], extra[0], total, p->in[0]) ||
      !expand_ellipsis(raw[1], extra[1], total, p->in[1]) ||
      !expand_ellipsis(raw[2], total, total, p->out))
    return kl_unsupported(ctx, "einsum '%s' has more than %d axes", eq, KRT_MAX_RANK);
  for (int t = 0; t < 3; t++) {
    const char *l = t < 2 ? p->in[t] : p->out;
    for (int i = 0; l[i]; i++)
      if (strchr(l + i + 1, l[i]))
        return kl_unsupported(ctx, "einsum '%s': index '%c' repeats in %s (a diagonal or trace "
                                   "is not supported)", eq, l[i] >= 'A' ? l[i] : '.',
                              t < 2 ? "one operand" : "the output");
  }
  for (int i = 0; p->out[i]; i++)
    if (!strchr(p->in[0], p->out[i]) && !strchr(p->in[1], p->out[i]))
      return kl_bad_file(ctx, "einsum '%s': output index '%c' is in no operand", eq, p->out[i]);
  for (int t = 0; t < 2; t++)
    for (int i = 0; p->in[t][i]; i++)
      if (!strchr(p->out, p->in[t][i]) && !strchr(p->in[1 - t], p->in[t][i]))
        return kl_unsupported(ctx, "einsum '%s': index '%c' of one operand only is summed over "
                                   "(not supported)", eq, p->in[t][i]);
  return NULL;
}

/* Axis of letter c in operand t, or -1. */
static int letter_axis(const einsum_eq *p, int t, char c) {
  const char *at = strchr(p->in[t], c);
  return at ? (int)(at - p->in[t]) : -1;
}

/* The product of two tensors (or a tensor and a constant) as the einsum p, eq its text for
 * messages. Letters fall into: batch (both operands and the output), contracted (both operands,
 * not the output), and free letters of a or of b (one operand and the output). With the batch's
 * letter n (axis 0 of a batched operand), it computes
 *   a -> [lead..., M, K], b -> [batch..., K, N] (Transpose and Reshape, or host work on a
 *   constant), MatMul -> [lead..., M, N], Reshape -> [lead..., a's free..., b's free...],
 *   Transpose -> the output's order,
 * where lead = (n when it is a free letter of a) then the batch letters (n first), M the product
 * of a's other free letters, K of the contracted ones and N of b's free ones. When only b is
 * batched the operands swap (einsum does not depend on their order). */
static krt_status *einsum_product(const keras_layer_ctx *ctx, const char *eq, einsum_eq *p, int x0,
                                  int x1, const char *const_part, int *out) {
  int x[2] = {x0, x1};
  if (!kl_value(ctx, x[0])->batched && kl_value(ctx, x[1])->batched) {
    char t[KRT_MAX_RANK + 1];
    memcpy(t, p->in[0], sizeof t);
    memcpy(p->in[0], p->in[1], sizeof t);
    memcpy(p->in[1], t, sizeof t);
    x[0] = x1, x[1] = x0;
  }
  const ir_value *v[2] = {kl_value(ctx, x[0]), kl_value(ctx, x[1])};
  if (!v[0]->batched)
    return kl_unsupported(ctx, "%s '%s' of two unbatched values is not supported", ctx->class_name,
                          eq);
  if (!v[1]->batched && !v[1]->data)
    return kl_unsupported(ctx, "%s '%s' with an unbatched computed operand is not supported",
                          ctx->class_name, eq);
  char n = p->in[0][0];
  int n_is_batch = strchr(p->in[1], n) != NULL;
  if (v[1]->batched && p->in[1][0] != n)
    return kl_unsupported(ctx, "%s '%s': the operands' batch axes have different indices", ctx->class_name, eq);
  if (p->out[0] != n)
    return kl_unsupported(ctx, "%s '%s': the batch axis (index '%c') must stay the output's first "
                               "axis", ctx->class_name, eq, n);
  /* A constant's axis of size 1 under the batch's index broadcasts: it is dropped (moved first
   * and left out of b's shape, which a constant's host rearrangement allows). */
  int drop_n = n_is_batch && !v[1]->batched && v[1]->dims[letter_axis(p, 1, n)] == 1;
  if (n_is_batch && !v[1]->batched && !drop_n)
    return kl_unsupported(ctx, "%s '%s': index '%c' is the batch of one operand and a fixed axis "
                               "of the other", ctx->class_name, eq, n);
  if (drop_n) n_is_batch = 0;
  /* every size but the batch's known; the same letter's sizes agree (1 broadcasts on batch
   * letters) */
  int64_t size[128];
  for (int i = 0; i < 128; i++) size[i] = -2;
  for (int t = 0; t < 2; t++)
    for (int i = 0; p->in[t][i]; i++) {
      unsigned char c = (unsigned char)p->in[t][i];
      int64_t d = v[t]->dims[i];
      if (d < 0 && !(v[t]->batched && i == 0))
        return kl_unsupported(ctx, "%s '%s' needs the operands' dimensions known", ctx->class_name,
                              eq);
      int batch_letter = strchr(p->out, c) && strchr(p->in[1 - t], c);
      if (size[c] == -2 || (batch_letter && size[c] == 1)) size[c] = d;
      else if (d != size[c] && !(batch_letter && d == 1))
        return kl_bad_file(ctx, "%s '%s': index '%c' has sizes %lld and %lld", ctx->class_name,
                           eq, c, (long long)size[c], (long long)d);
    }
  char lead[KRT_MAX_RANK + 1] = {0}, arest[KRT_MAX_RANK + 1] = {0}, bfree[KRT_MAX_RANK + 1] = {0},
       contr[KRT_MAX_RANK + 1] = {0};
  int nl = 0, na = 0, nb = 0, nc = 0;
  lead[nl++] = n;
  for (int i = 0; p->out[i]; i++) {
    char c = p->out[i];
    int ia = letter_axis(p, 0, c) >= 0, ib = letter_axis(p, 1, c) >= 0;
    if (c == n) continue;
    if (ia && ib) lead[nl++] = c;
    else if (ia) arest[na++] = c;
    else bfree[nb++] = c;
  }
  for (int i = 0; p->in[0][i]; i++)
    if (!strchr(p->out, p->in[0][i])) contr[nc++] = p->in[0][i];
  /* a: [lead..., arest..., contr...] -> [lead..., M, K] */
  int perm[KRT_MAX_RANK], k = 0, ra = 0, rb = 0;
  int64_t adims[KRT_MAX_RANK], bdims[KRT_MAX_RANK], m = 1, kk = 1, nn = 1;
  for (int i = 0; i < nl; i++) perm[k++] = letter_axis(p, 0, lead[i]), adims[ra++] = size[(unsigned char)lead[i]];
  for (int i = 0; i < na; i++) perm[k++] = letter_axis(p, 0, arest[i]), m *= size[(unsigned char)arest[i]];
  for (int i = 0; i < nc; i++) perm[k++] = letter_axis(p, 0, contr[i]), kk *= size[(unsigned char)contr[i]];
  adims[ra++] = m;
  adims[ra++] = kk;
  adims[0] = v[0]->dims[letter_axis(p, 0, lead[0])]; /* the batch, or its fixed size */
  for (int i = 1; i < nl; i++) adims[i] = v[0]->dims[letter_axis(p, 0, lead[i])];
  if (ra > KRT_MAX_RANK)
    return kl_unsupported(ctx, "%s '%s' needs more than %d axes", ctx->class_name, eq, KRT_MAX_RANK);
  int ins[2];
  KRT_TRY(arrange(ctx, x[0], perm, adims, ra, const_part, &ins[0]));
  v[1] = kl_value(ctx, x[1]); /* emitting may have moved the values */
  /* b: [batch..., contr..., bfree...] -> [batch..., K, N] */
  k = 0;
  if (drop_n) perm[k++] = letter_axis(p, 1, n);
  for (int i = n_is_batch ? 0 : 1; i < nl; i++)
    perm[k++] = letter_axis(p, 1, lead[i]), bdims[rb++] = v[1]->dims[letter_axis(p, 1, lead[i])];
  for (int i = 0; i < nc; i++) perm[k++] = letter_axis(p, 1, contr[i]);
  for (int i = 0; i < nb; i++) perm[k++] = letter_axis(p, 1, bfree[i]), nn *= size[(unsigned char)bfree[i]];
  bdims[rb++] = kk;
  bdims[rb++] = nn;
  KRT_TRY(arrange(ctx, x[1], perm, bdims, rb, const_part, &ins[1]));
  int prod;
  ir_attrs a = kl_attrs();
  /* by a constant matrix: a Dense without bias ([N, M, K] x [K, N'], the same product) */
  const ir_value *bv = kl_value(ctx, ins[1]);
  ir_op op = bv->data && !bv->batched && bv->rank == 2 ? IR_OP_DENSE : IR_OP_MATMUL;
  KRT_TRY(kl_emit(ctx, op, NULL, ins, 2, &a, &prod));
  /* [lead..., M, N] -> [lead..., arest..., bfree...] -> the output's order */
  const ir_value *pv = kl_value(ctx, prod);
  int64_t odims[KRT_MAX_RANK];
  char order[KRT_MAX_RANK + 1] = {0};
  int ro = 0;
  for (int i = 0; i < nl; i++) odims[ro] = pv->dims[i], order[ro++] = lead[i];
  for (int i = 0; i < na; i++) odims[ro] = size[(unsigned char)arest[i]], order[ro++] = arest[i];
  for (int i = 0; i < nb; i++) odims[ro] = size[(unsigned char)bfree[i]], order[ro++] = bfree[i];
  int arranged;
  int identity[KRT_MAX_RANK];
  for (int i = 0; i < pv->rank; i++) identity[i] = i;
  KRT_TRY(arrange(ctx, prod, identity, odims, ro, const_part, &arranged));
  int operm[KRT_MAX_RANK];
  for (int i = 0; i < ro; i++) operm[i] = (int)(strchr(order, p->out[i]) - order);
  if (is_identity_perm(operm, ro)) {
    *out = arranged;
    return NULL;
  }
  a = kl_attrs();
  for (int i = 0; i < ro; i++) a.perm[i] = operm[i];
  return kl_emit(ctx, IR_OP_TRANSPOSE, NULL, &arranged, 1, &a, out);
}

/* ops.matmul(x1, x2), numpy's rules: a tensor times a constant matrix or vector is a Dense;
 * otherwise a MatMul, where a 1-D x1 is a row [1, K] whose axis is dropped from the result (a
 * 1-D x2 takes the Dense path, so it is always a constant). The leading axes broadcast. */
static krt_status *convert_matmul(const keras_layer_ctx *ctx, int *out) {
  KRT_TRY(refuse_unknown_keys(ctx, NULL));
  KRT_TRY(expect_operands(ctx, 2));
  int x, w;
  KRT_TRY(operand(ctx, 0, "x1", &x));
  KRT_TRY(operand(ctx, 1, "x2", &w));
  const ir_value *xv = kl_value(ctx, x), *wv = kl_value(ctx, w);
  if (xv->data && wv->data) return kl_unsupported(ctx, "matmul of two constants is not supported");
  if (!xv->data && wv->data && wv->rank <= 2) {
    if (!xv->batched) return batched_known(ctx, x);
    return dense_by_constant(ctx, x, w, 0, out);
  }
  for (int i = 0; i < 2; i++) {
    const ir_value *v = i ? wv : xv;
    if (v->rank == 1 && v->batched)
      return kl_unsupported(ctx, "matmul of a vector whose only axis is the batch (operand %d) is "
                                 "not supported", i);
  }
  int row = xv->rank == 1;
  if (row) KRT_TRY(kl_const_copy(ctx, "row", 2, (int64_t[]){1, xv->dims[0]}, xv->data, &x));
  /* einsum form of the same product: "...mk,...kn->...mn" */
  einsum_eq p;
  int ranks[2] = {kl_value(ctx, x)->rank, kl_value(ctx, w)->rank}; /* xv, wv moved: new value */
  KRT_TRY(einsum_parse(ctx, "...mk,...kn->...mn", ranks, &p));
  int prod;
  KRT_TRY(einsum_product(ctx, "x1 @ x2", &p, x, w, "operand", &prod));
  if (!row) {
    *out = prod;
    return NULL;
  }
  const ir_value *pv = kl_value(ctx, prod);
  int64_t dims[KRT_MAX_RANK];
  int r = 0;
  for (int i = 1; i < pv->rank; i++)
    if (i != pv->rank - 2) dims[r++] = pv->dims[i];
  return reshape_to(ctx, prod, dims, r, out);
}

/* ops.einsum(subscripts, x, w): the one form that is a Dense, "<x>,<j><k>-><x with its last
 * letter j replaced by k>" (or "...j,jk->...k"; w given as "kj" is transposed) with w a constant
 * matrix; every other two-operand equation that is a (batched) matrix product after transposes
 * and reshapes is a MatMul (einsum_product). Refused: other operand counts, an index repeated in
 * one operand, an index of one operand only that is summed over. */
static krt_status *convert_einsum(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"subscripts", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  const char *eq = NULL;
  KRT_TRY(kc_string(ctx, NULL, "subscripts", NULL, &eq));
  if (!eq) return kl_bad_file(ctx, "einsum has no subscripts");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(ctx->call, "args");
  int given = cJSON_IsArray(args) ? cJSON_GetArraySize(args) : 0;
  if (given != 2 || ctx->n_inputs > 2)
    return kl_unsupported(ctx, "einsum '%s' with %d operands is not supported (two only)", eq,
                          given);
  KRT_TRY(expect_operands(ctx, 2));
  int x, w;
  KRT_TRY(operand(ctx, 0, "x", &x));
  KRT_TRY(operand(ctx, 1, "w", &w));
  char a[64], b[64], c[64];
  const char *comma = strchr(eq, ','), *arrow = strstr(eq, "->");
  size_t la = comma ? (size_t)(comma - eq) : 0, lb = comma && arrow > comma ? (size_t)(arrow - comma - 1) : 0;
  int ok = comma && arrow && arrow > comma && !strchr(comma + 1, ',') && la > 0 && la < sizeof a &&
           lb == 2 && strlen(arrow + 2) < sizeof c && !strchr(eq, ' ');
  if (ok) {
    memcpy(a, eq, la), a[la] = 0;
    memcpy(b, comma + 1, lb), b[lb] = 0;
    snprintf(c, sizeof c, "%s", arrow + 2);
    char j = a[la - 1];
    int transpose = b[1] == j && b[0] != j;
    char k = transpose ? b[0] : b[1];
    ok = (b[0] == j || b[1] == j) && k != j && !strchr(a, k) && strlen(c) == la &&
         strncmp(a, c, la - 1) == 0 && c[la - 1] == k && strchr(a, j) == a + la - 1;
    if (ok && !kl_value(ctx, x)->data && kl_value(ctx, w)->data && kl_value(ctx, w)->rank == 2)
      return dense_by_constant(ctx, x, w, transpose, out);
  }
  if (kl_value(ctx, x)->data && kl_value(ctx, w)->data)
    return kl_unsupported(ctx, "einsum '%s' of two constants is not supported", eq);
  einsum_eq p;
  int ranks[2] = {kl_value(ctx, x)->rank, kl_value(ctx, w)->rank};
  KRT_TRY(einsum_parse(ctx, eq, ranks, &p));
  return einsum_product(ctx, eq, &p, x, w, "operand", out);
}

krt_status *keras_einsum(const keras_layer_ctx *ctx, const char *eq, int x0, int x1,
                         const char *const_part, int *out) {
  einsum_eq p;
  int ranks[2] = {kl_value(ctx, x0)->rank, kl_value(ctx, x1)->rank};
  KRT_TRY(einsum_parse(ctx, eq, ranks, &p));
  return einsum_product(ctx, eq, &p, x0, x1, const_part, out);
}

krt_status *keras_call_tensor(const keras_layer_ctx *ctx, int i, const char *name, int *value) {
  const cJSON *j = operand_json(ctx, i, name);
  *value = -1;
  if (!j || cJSON_IsNull(j)) return NULL;
  if (!is_tensor(j))
    return kl_unsupported(ctx, "argument %d (%s) of the call is not a tensor", i, name);
  return tensor_value(ctx, j, value);
}

/* ops.where(condition, x1, x2): x1 where condition is nonzero (true), else x2, all three
 * broadcast; a Binary WHERE_TRUE(x1, c) plus a Binary WHERE_FALSE(x2, c), which is exact (the
 * other term is 0). where(condition) alone (the indices of nonzero entries, a data-dependent
 * shape) is refused. */
static krt_status *convert_where(const keras_layer_ctx *ctx, int *out) {
  KRT_TRY(refuse_unknown_keys(ctx, NULL));
  const cJSON *x1 = operand_json(ctx, 1, "x1"), *x2 = operand_json(ctx, 2, "x2");
  if (!x1 || cJSON_IsNull(x1) || !x2 || cJSON_IsNull(x2))
    return kl_unsupported(ctx, "where with only a condition (the indices of its nonzero entries) "
                               "is not supported");
  KRT_TRY(expect_operands(ctx, 3));
  int c, x, y, kept[2];
  KRT_TRY(operand(ctx, 0, "condition", &c));
  KRT_TRY(operand(ctx, 1, "x1", &x));
  KRT_TRY(operand(ctx, 2, "x2", &y));
  if (kl_value(ctx, c)->data)
    return kl_unsupported(ctx, "where with a constant condition is not supported");
  ir_attrs a = kl_attrs();
  a.binary = IR_BINARY_WHERE_TRUE;
  KRT_TRY(kl_emit(ctx, IR_OP_BINARY, "if_true", (int[]){x, c}, 2, &a, &kept[0]));
  a.binary = IR_BINARY_WHERE_FALSE;
  KRT_TRY(kl_emit(ctx, IR_OP_BINARY, "if_false", (int[]){y, c}, 2, &a, &kept[1]));
  a.binary = IR_BINARY_ADD;
  return kl_emit(ctx, IR_OP_BINARY, NULL, kept, 2, &a, out);
}

/* The indices numpy's pad gathers along an axis of length len for mode reflect (the edge not
 * repeated: [c b | a b c | b a]) or symmetric (repeated: [b a | a b c | c b]). Returns the count,
 * or -1 when a width is too large for the mode (TensorFlow refuses those too). */
static int64_t mirror_indices(int symmetric, int64_t len, int64_t before, int64_t after,
                              int64_t *idx) {
  int64_t limit = symmetric ? len : len - 1;
  if (before > limit || after > limit) return -1;
  int64_t n = 0;
  for (int64_t k = 0; k < before; k++) idx[n++] = symmetric ? before - 1 - k : before - k;
  for (int64_t k = 0; k < len; k++) idx[n++] = k;
  for (int64_t k = 0; k < after; k++) idx[n++] = symmetric ? len - 1 - k : len - 2 - k;
  return n;
}

/* x plus a constant that is c on the padding of a zero Pad (outside begin..begin+dims on every
 * per-sample axis) and 0 inside: x + 0 = x and 0 + c = c, so the sum is exactly the pad with
 * constant_values c. */
static krt_status *fill_padding(const keras_layer_ctx *ctx, int padded, const ir_attrs *pad,
                                const ir_value *in, double c, int *out) {
  const ir_value *v = kl_value(ctx, padded);
  int first = v->batched ? 1 : 0, rank = v->rank - first;
  int64_t dims[KRT_MAX_RANK], count = 1;
  for (int d = 0; d < rank; d++) count *= dims[d] = v->dims[first + d];
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof *data);
  if (!data) return krt_error_oom("pad constant_values");
  for (int64_t e = 0; e < count; e++) {
    int64_t rest = e, inside = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t at = rest % dims[d], lo = pad->pad_begin[first + d];
      rest /= dims[d];
      if (at < lo || at >= lo + in->dims[first + d]) inside = 0;
    }
    data[e] = inside ? 0.0f : (float)c;
  }
  int ins[2] = {padded, 0};
  KRT_TRY(kl_const(ctx, "constant_values", rank, dims, data, &ins[1]));
  ir_attrs a = kl_attrs();
  a.binary = IR_BINARY_ADD;
  return kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, out);
}

/* ops.pad(x, pad_width, mode="constant", constant_values=None): the batch axis unpadded. Mode
 * constant is a zero Pad, a constant_values other than 0 then added on the padding
 * (fill_padding); modes reflect and symmetric gather their elements along each padded axis
 * (pick_along_axis). The other numpy modes are refused (TensorFlow has none of them either). */
static krt_status *convert_pad(const keras_layer_ctx *ctx, int *out) {
  static const char *const keys[] = {"pad_width", "mode", NULL};
  KRT_TRY(refuse_unknown_keys(ctx, keys));
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(ctx->call, "args");
  const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(ctx->call, "kwargs");
  const cJSON *cv = cJSON_GetObjectItemCaseSensitive(kwargs, "constant_values");
  if (cJSON_IsArray(args) && cJSON_GetArraySize(args) > 1) cv = cJSON_GetArrayItem(args, 1);
  if (cv && cJSON_IsNull(cv)) cv = NULL;
  if (cv && !cJSON_IsNumber(cv))
    return kl_unsupported(ctx, "pad with constant_values that are not one number is not supported");
  double fill = cv ? cv->valuedouble : 0.0;
  const cJSON *kw;
  cJSON_ArrayForEach(kw, kwargs) if (strcmp(kw->string, "constant_values") != 0 && !cJSON_IsNull(kw))
    return kl_unsupported(ctx, "keyword argument %s of pad is not supported", kw->string);
  int x;
  const cJSON *xj = operand_json(ctx, 0, "x");
  if (!is_tensor(xj)) return kl_unsupported(ctx, "padding a constant is not supported");
  KRT_TRY(tensor_value(ctx, xj, &x));
  const char *mode = NULL;
  KRT_TRY(kc_string(ctx, NULL, "mode", "constant", &mode));
  int constant = strcmp(mode, "constant") == 0, symmetric = strcmp(mode, "symmetric") == 0;
  if (!constant && !symmetric && strcmp(mode, "reflect") != 0)
    return kl_unsupported(ctx, "pad mode '%s' is not supported (constant, reflect and symmetric "
                               "are)", mode);
  if (!constant && fill != 0.0)
    return kl_unsupported(ctx, "pad mode '%s' with constant_values is not supported", mode);
  const ir_value *v = kl_value(ctx, x);
  const cJSON *pw = kc_get(ctx, NULL, "pad_width");
  if (!cJSON_IsArray(pw)) return kl_bad_file(ctx, "pad_width is not a list");
  int n = cJSON_GetArraySize(pw);
  ir_attrs a = kl_attrs();
  for (int i = 0; i < v->rank; i++) {
    /* numpy: one pair for every axis, or a single pair for all */
    const cJSON *pair = n == v->rank ? cJSON_GetArrayItem(pw, i) : n == 1 ? cJSON_GetArrayItem(pw, 0) : NULL;
    if (cJSON_IsNumber(cJSON_GetArrayItem(pw, 0)) && n == 2) pair = pw;
    int both[2], m = 0;
    if (!pair) return kl_bad_file(ctx, "pad_width has %d entries for a tensor of rank %d", n, v->rank);
    KRT_TRY(kc_int_list(ctx, pair, "pad_width", 2, both, &m));
    if (m == 1) both[1] = both[0];
    else if (m != 2) return kl_bad_file(ctx, "pad_width entry %d is not a pair", i);
    if (both[0] < 0 || both[1] < 0) return kl_bad_file(ctx, "negative pad_width");
    if (i == 0 && v->batched && (both[0] || both[1]))
      return kl_unsupported(ctx, "padding the batch axis is not supported");
    a.pad_begin[i] = both[0];
    a.pad_end[i] = both[1];
  }
  if (constant && fill == 0.0) return kl_emit(ctx, IR_OP_PAD, NULL, &x, 1, &a, out);
  KRT_TRY(batched_known(ctx, x));
  if (constant) {
    int padded;
    KRT_TRY(kl_emit(ctx, IR_OP_PAD, "zero_pad", &x, 1, &a, &padded));
    return fill_padding(ctx, padded, &a, kl_value(ctx, x), fill, out);
  }
  int rank = v->rank;
  int64_t *idx[KRT_MAX_RANK] = {0}, counts[KRT_MAX_RANK] = {0};
  krt_status *s = NULL;
  for (int i = 1; !s && i < rank; i++) {
    if (!a.pad_begin[i] && !a.pad_end[i]) continue;
    idx[i] = malloc((size_t)(v->dims[i] + a.pad_begin[i] + a.pad_end[i]) * sizeof *idx[i]);
    if (!idx[i]) s = krt_error_oom("pad");
    else if ((counts[i] = mirror_indices(symmetric, v->dims[i], a.pad_begin[i], a.pad_end[i],
                                         idx[i])) < 0)
      s = kl_unsupported(ctx, "pad mode '%s' of %lld and %lld on axis %d of size %lld is not "
                              "supported", mode, (long long)a.pad_begin[i],
                         (long long)a.pad_end[i], i, (long long)v->dims[i]);
  }
  if (!s) s = pick_axes(ctx, x, idx, counts, rank, NULL, out);
  free_axes(idx, rank);
  return s;
}

static krt_status *convert_one(const keras_layer_ctx *ctx, int *output);

krt_status *keras_convert_operation(const keras_layer_ctx *ctx, int *outputs, int *n_outputs) {
  *n_outputs = 1;
  const char *cls = ctx->class_name ? ctx->class_name : "";
  if (ctx->call && (strcmp(cls, "Split") == 0 || strcmp(cls, "Unstack") == 0)) {
    KRT_TRY(kc_check_dtype_policy(ctx));
    return convert_split(ctx, strcmp(cls, "Unstack") == 0, outputs, n_outputs);
  }
  return convert_one(ctx, &outputs[0]);
}

static krt_status *convert_one(const keras_layer_ctx *ctx, int *output) {
  const char *cls = ctx->class_name ? ctx->class_name : "";
  if (!ctx->call) return kl_bad_file(ctx, "operation %s has no call arguments", cls);
  if (strcmp(cls, "Cast") == 0) return convert_cast(ctx, output);
  KRT_TRY(kc_check_dtype_policy(ctx));
  for (size_t i = 0; i < sizeof binary_ops / sizeof *binary_ops; i++)
    if (strcmp(binary_ops[i].name, cls) == 0) return convert_binary(ctx, binary_ops[i].kind, output);
  ir_activation a;
  int known = 0;
  KRT_TRY(unary_activation(ctx, cls, &a, &known));
  if (known) {
    int x;
    KRT_TRY(one_tensor(ctx, &x));
    ir_attrs attrs = kl_attrs();
    attrs.act = a;
    return kl_emit(ctx, IR_OP_ACTIVATION, NULL, &x, 1, &attrs, output);
  }
  if (strcmp(cls, "Mean") == 0 || strcmp(cls, "Sum") == 0 || strcmp(cls, "Max") == 0 ||
      strcmp(cls, "Min") == 0)
    return convert_reduce(ctx, output);
  if (strcmp(cls, "Any") == 0) return convert_any(ctx, output);
  if (strcmp(cls, "Softmax") == 0) return convert_softmax(ctx, 0, output);
  if (strcmp(cls, "LogSoftmax") == 0) return convert_softmax(ctx, 1, output);
  if (strcmp(cls, "Reshape") == 0) return convert_reshape(ctx, output);
  if (strcmp(cls, "Transpose") == 0) return convert_transpose(ctx, output);
  if (strcmp(cls, "ExpandDims") == 0) return convert_expand_squeeze(ctx, 0, output);
  if (strcmp(cls, "Squeeze") == 0) return convert_expand_squeeze(ctx, 1, output);
  if (strcmp(cls, "Concatenate") == 0) return convert_concatenate(ctx, output);
  if (strcmp(cls, "Stack") == 0) return convert_stack(ctx, output);
  if (strcmp(cls, "Pad") == 0) return convert_pad(ctx, output);
  if (strcmp(cls, "GetItem") == 0) return convert_get_item(ctx, output);
  if (strcmp(cls, "Where") == 0) return convert_where(ctx, output);
  if (strcmp(cls, "Matmul") == 0) return convert_matmul(ctx, output);
  if (strcmp(cls, "Einsum") == 0) return convert_einsum(ctx, output);
  if (strcmp(cls, "Tile") == 0) return convert_tile(ctx, output);
  if (strcmp(cls, "Repeat") == 0) return convert_repeat(ctx, output);
  if (strcmp(cls, "BroadcastTo") == 0) return convert_broadcast_to(ctx, output);
  if (strcmp(cls, "Take") == 0) return convert_take(ctx, output);
  return kl_unsupported(ctx, "Keras operation %s (module %s) is not supported", cls,
                        ctx->module ? ctx->module : "?");
}
