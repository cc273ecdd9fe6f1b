/* tf.keras 2 operation layers: a TensorFlow function called on Keras tensors in a functional model
 * (x + 1.0, tf.reduce_mean(x, -1), tf.concat([a, b], 1)) is recorded as a layer of class
 * TFOpLambda whose config names the function ("function": "math.reduce_mean", the tf.* API name
 * without "tf."); a subscript (x[:, 1:-1]) as a SlicingOpLambda ("__operators__.getitem"). The
 * call's arguments sit in the inbound node, which keeps the structure of the function's FIRST
 * argument, one [layer, node, tensor, kwargs] entry per tensor in it, and puts every other
 * argument, by the function's parameter name, in the kwargs of each entry (tf_keras
 * engine/node.py, Node.serialize; functional.py, process_node reads the last entry's):
 *
 *   "function": "math.multiply"   "inbound_nodes": [["dense", 0, 0, {"y": ["other", 0, 0], "name": null}]]
 *   "function": "concat"          "inbound_nodes": [[["a", 0, 0, {"axis": 1}], ["b", 0, 0, {"axis": 1}]]]
 *   "function": "math.truediv"    "inbound_nodes": [["_CONSTANT_VALUE", -1, 1.0, {"y": ["x", 0, 0]}]]
 *
 * A first argument that is a constant is an entry ["_CONSTANT_VALUE", -1, value, kwargs]; a
 * tensor among the kwargs is [layer, node, tensor] (at any depth); constants are JSON numbers and
 * (nested) lists. Each supported function is translated into the Keras 3 operation that computes
 * the same thing (class name, a call {"args", "kwargs"} with __keras_tensor__ placeholders and a
 * config), with TensorFlow's parameter names and defaults turned into Keras's (tf.nn.softmax's
 * axis=None is the last axis; tf.nn.gelu is exact unless approximate=True; tf.split takes section
 * sizes, ops.split cut indices), and keras_convert_operation (keras_ops.c) maps it. Any other
 * function, and any argument not read here, is refused by name. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

int keras_is_tfop_class(const char *class_name) {
  return class_name &&
         (strcmp(class_name, "TFOpLambda") == 0 || strcmp(class_name, "SlicingOpLambda") == 0);
}

/* ---- the inbound node ---------------------------------------------------------------------- */

#define CONSTANT_VALUE "_CONSTANT_VALUE"

/* An entry of the first argument's structure: [layer, node, tensor] or [layer, node, tensor,
 * kwargs] (the test of tf_keras's convert_inner_node_data: a list of 3 or 4 led by a string). */
static int is_entry(const cJSON *j) {
  int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 0;
  return (n == 3 || n == 4) && cJSON_IsString(cJSON_GetArrayItem(j, 0));
}

static int is_constant_entry(const cJSON *j) {
  return is_entry(j) && strcmp(cJSON_GetArrayItem(j, 0)->valuestring, CONSTANT_VALUE) == 0;
}

/* A tensor among the kwargs: [layer, node, tensor] (node and tensor numbers). */
static int is_kwarg_ref(const cJSON *j) {
  return is_entry(j) && cJSON_IsNumber(cJSON_GetArrayItem(j, 1)) &&
         cJSON_IsNumber(cJSON_GetArrayItem(j, 2)) &&
         strcmp(cJSON_GetArrayItem(j, 0)->valuestring, CONSTANT_VALUE) != 0;
}

/* The last entry of the first argument's structure (whose kwargs Keras uses), or NULL. */
static const cJSON *last_entry(const cJSON *j) {
  if (is_entry(j)) return j;
  const cJSON *found = NULL, *item;
  if (cJSON_IsArray(j)) cJSON_ArrayForEach(item, j) {
      const cJSON *e = last_entry(item);
      if (e) found = e;
    }
  return found;
}

static const cJSON *node_kwargs(const cJSON *node) {
  const cJSON *e = last_entry(node);
  const cJSON *kw = e ? cJSON_GetArrayItem(e, 3) : NULL;
  return cJSON_IsObject(kw) ? kw : NULL;
}

static krt_status *visit_first(const cJSON *j, keras_tfop_visit_fn visit, void *user) {
  if (is_entry(j)) return is_constant_entry(j) ? NULL : visit(user, j);
  if (cJSON_IsArray(j)) {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) KRT_TRY(visit_first(item, visit, user));
  }
  return NULL;
}

static krt_status *visit_kwargs(const cJSON *j, keras_tfop_visit_fn visit, void *user) {
  if (is_kwarg_ref(j)) return visit(user, j);
  if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) KRT_TRY(visit_kwargs(item, visit, user));
  }
  return NULL;
}

krt_status *keras_tfop_visit_tensors(const cJSON *node, keras_tfop_visit_fn visit, void *user) {
  KRT_TRY(visit_first(node, visit, user));
  const cJSON *kw = node_kwargs(node);
  return kw ? visit_kwargs(kw, visit, user) : NULL;
}

/* ---- translation --------------------------------------------------------------------------- */

typedef enum tf_kind {
  TF_BINARY,     /* f(x, y): y (or other) in kwargs */
  TF_UNARY,      /* f(x) and the activations' own parameters */
  TF_REDUCE,     /* f(input_tensor, axis=None, keepdims=False) */
  TF_SOFTMAX,    /* f(logits, axis=None): None is the last axis */
  TF_RESHAPE,    /* reshape(tensor, shape): shape includes the batch */
  TF_TRANSPOSE,  /* transpose(a, perm=None, conjugate=False) */
  TF_EXPAND,     /* expand_dims(input, axis) */
  TF_SQUEEZE,    /* squeeze(input, axis=None) (compat.v1: squeeze_dims too) */
  TF_CONCAT,     /* concat(values, axis) */
  TF_STACK,      /* stack(values, axis=0) */
  TF_SPLIT,      /* split(value, num_or_size_splits, axis=0, num=None) */
  TF_UNSTACK,    /* unstack(value, num=None, axis=0) */
  TF_CAST,       /* cast(x, dtype) */
  TF_CLIP,       /* clip_by_value(t, clip_value_min, clip_value_max) */
  TF_GETITEM,    /* __operators__.getitem: slice_spec */
  TF_TILE,       /* tile(input, multiples) */
  TF_REPEAT,     /* repeat(input, repeats, axis=None) */
  TF_GATHER,     /* gather(params, indices, validate_indices=None, axis=None, batch_dims=0) */
  TF_WHERE,      /* where(condition, x=None, y=None) */
  TF_MATMUL      /* linalg.matmul(a, b, transpose_a, transpose_b, adjoint_a, adjoint_b, ...) */
} tf_kind;

typedef struct tf_function {
  const char *function; /* config "function" */
  const char *op;       /* the Keras 3 operation class */
  tf_kind kind;
} tf_function;

static const tf_function tf_functions[] = {
    /* binary, with broadcasting; tf.divide of floats is truediv */
    {"__operators__.add", "Add", TF_BINARY},
    {"math.add", "Add", TF_BINARY},
    {"math.subtract", "Subtract", TF_BINARY},
    {"math.multiply", "Multiply", TF_BINARY},
    {"math.divide", "TrueDivide", TF_BINARY},
    {"math.truediv", "TrueDivide", TF_BINARY},
    {"math.maximum", "Maximum", TF_BINARY},
    {"math.minimum", "Minimum", TF_BINARY},
    {"math.pow", "Power", TF_BINARY},
    {"math.greater", "Greater", TF_BINARY},
    {"math.greater_equal", "GreaterEqual", TF_BINARY},
    {"math.less", "Less", TF_BINARY},
    {"math.less_equal", "LessEqual", TF_BINARY},
    {"math.equal", "Equal", TF_BINARY},
    {"math.not_equal", "NotEqual", TF_BINARY},
    {"__operators__.eq", "Equal", TF_BINARY},  /* tf.Tensor.__eq__(self, other) */
    {"__operators__.ne", "NotEqual", TF_BINARY},
    /* elementwise */
    {"math.square", "Square", TF_UNARY},
    {"math.sqrt", "Sqrt", TF_UNARY},
    {"math.rsqrt", "Rsqrt", TF_UNARY},
    {"math.exp", "Exp", TF_UNARY},
    {"math.log", "Log", TF_UNARY},
    {"math.abs", "Absolute", TF_UNARY},
    {"math.negative", "Negative", TF_UNARY},
    {"math.erf", "Erf", TF_UNARY},
    {"math.sigmoid", "Sigmoid", TF_UNARY},
    {"nn.sigmoid", "Sigmoid", TF_UNARY},
    {"math.tanh", "Tanh", TF_UNARY},
    {"nn.tanh", "Tanh", TF_UNARY},
    {"math.softplus", "Softplus", TF_UNARY},
    {"nn.softplus", "Softplus", TF_UNARY},
    {"nn.softsign", "Softsign", TF_UNARY},
    {"math.softsign", "Softsign", TF_UNARY},
    {"nn.relu", "Relu", TF_UNARY},
    {"nn.relu6", "Relu6", TF_UNARY},
    {"nn.elu", "Elu", TF_UNARY},
    {"nn.selu", "Selu", TF_UNARY},
    {"nn.silu", "Silu", TF_UNARY},  /* tf.nn.swish is the same function, recorded as nn.silu */
    {"nn.swish", "Silu", TF_UNARY},
    {"nn.gelu", "Gelu", TF_UNARY},
    {"nn.leaky_relu", "LeakyRelu", TF_UNARY},
    {"nn.softmax", "Softmax", TF_SOFTMAX},
    {"math.softmax", "Softmax", TF_SOFTMAX},
    {"nn.log_softmax", "LogSoftmax", TF_SOFTMAX},
    {"math.log_softmax", "LogSoftmax", TF_SOFTMAX},
    {"math.reduce_mean", "Mean", TF_REDUCE},
    {"math.reduce_sum", "Sum", TF_REDUCE},
    {"math.reduce_max", "Max", TF_REDUCE},
    {"math.reduce_min", "Min", TF_REDUCE},
    {"reshape", "Reshape", TF_RESHAPE},
    {"transpose", "Transpose", TF_TRANSPOSE},
    {"compat.v1.transpose", "Transpose", TF_TRANSPOSE},
    {"expand_dims", "ExpandDims", TF_EXPAND},
    {"squeeze", "Squeeze", TF_SQUEEZE},
    {"compat.v1.squeeze", "Squeeze", TF_SQUEEZE},
    {"concat", "Concatenate", TF_CONCAT},
    {"stack", "Stack", TF_STACK},
    {"split", "Split", TF_SPLIT},
    {"unstack", "Unstack", TF_UNSTACK},
    {"cast", "Cast", TF_CAST},
    {"clip_by_value", "Clip", TF_CLIP},
    {"__operators__.getitem", "GetItem", TF_GETITEM},
    {"tile", "Tile", TF_TILE},
    {"repeat", "Repeat", TF_REPEAT},
    {"compat.v1.gather", "Take", TF_GATHER},
    {"gather", "Take", TF_GATHER},
    {"where", "Where", TF_WHERE},
    {"linalg.matmul", "Einsum", TF_MATMUL}, /* tf.matmul is recorded under this name */
    {"__operators__.matmul", "Einsum", TF_MATMUL},
};

/* One translation in progress: the TF call read from the layer's inbound node and the Keras 3
 * call and config being built for it. */
typedef struct tf_call {
  const keras_layer_ctx *ctx;
  const char *function;
  const tf_function *entry;
  const cJSON *node;   /* the inbound node as written */
  const cJSON *kwargs; /* its keyword arguments (NULL: none) */
  cJSON *call;         /* {"args": [...], "kwargs": {}} */
  cJSON *args;
  cJSON *config;       /* {"name": ..., ...} */
} tf_call;

static krt_status *refuse(const tf_call *tc, const char *fmt, ...) KRT_PRINTF(2, 3);
static krt_status *refuse(const tf_call *tc, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return kl_unsupported(tc->ctx, "function tf.%s: %s", tc->function, msg);
}

static krt_status *oom(void) { return krt_error_oom("TFOpLambda call"); }

/* {"class_name": class_name, "config": cfg}, as Keras 3 writes tensors and slices; takes cfg
 * (freed on failure; NULL counts as an allocation that failed). */
static krt_status *class_object(const char *class_name, cJSON *cfg, cJSON **out) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cfg || !cJSON_AddStringToObject(o, "class_name", class_name)) {
    cJSON_Delete(o);
    cJSON_Delete(cfg);
    return oom();
  }
  cJSON_AddItemToObject(o, "config", cfg);
  *out = o;
  return NULL;
}

/* Which input (of ctx->inputs, in keras_tfop_visit_tensors' order) a reference is. */
typedef struct ref_search {
  const cJSON *target;
  int count, found;
} ref_search;

static krt_status *count_ref(void *user, const cJSON *ref) {
  ref_search *s = user;
  if (ref == s->target) s->found = s->count;
  s->count++;
  return NULL;
}

/* What TensorFlow would hold in a value: graph inputs keep their declared dtype, comparisons give
 * bool; every other value krt computes in float32 (a tf.cast from an integer tensor computed
 * in the model is then taken for one from float32, which refuses what might round). */
static const char *value_dtype(const keras_layer_ctx *ctx, int id) {
  const ir_value *v = kl_value(ctx, id);
  if (v->producer >= 0) {
    const ir_node *n = &ctx->graph->nodes[v->producer];
    if (n->op == IR_OP_BINARY && IR_BINARY_IS_COMPARISON(n->attrs.binary)) return "bool";
    return "float32";
  }
  if (v->data) return "float32";
  const char *name = krt_dtype_name(v->dtype);
  return name ? name : "float32";
}

/* {"class_name": "__keras_tensor__", "config": {"dtype": ..., "input": i}}: input i of ctx. */
static krt_status *placeholder(const tf_call *tc, const cJSON *ref, cJSON **out) {
  ref_search s = {ref, 0, -1};
  KRT_TRY(keras_tfop_visit_tensors(tc->node, count_ref, &s));
  if (s.found < 0 || s.found >= tc->ctx->n_inputs)
    return kl_error(tc->ctx, KRT_ERR_INTERNAL, "an operand tensor is not among the call's inputs");
  cJSON *cfg = cJSON_CreateObject();
  if (cfg && (!cJSON_AddStringToObject(cfg, "dtype", value_dtype(tc->ctx, tc->ctx->inputs[s.found])) ||
              !cJSON_AddNumberToObject(cfg, "input", s.found))) {
    cJSON_Delete(cfg);
    cfg = NULL;
  }
  return class_object("__keras_tensor__", cfg, out);
}

static int contains_ref(const cJSON *j) {
  if (is_kwarg_ref(j)) return 1;
  const cJSON *item;
  if (cJSON_IsArray(j) || cJSON_IsObject(j)) cJSON_ArrayForEach(item, j) if (contains_ref(item)) return 1;
  return 0;
}

/* A keyword argument as a Keras 3 operand: a tensor reference becomes a placeholder, a number
 * or (nested) list of numbers stays as written. */
static krt_status *operand_from_kwarg(const tf_call *tc, const char *key, const cJSON *j,
                                      cJSON **out) {
  if (is_kwarg_ref(j)) return placeholder(tc, j, out);
  if (contains_ref(j)) return refuse(tc, "argument %s is a list holding tensors", key);
  if (!cJSON_IsNumber(j) && !cJSON_IsBool(j) && !cJSON_IsArray(j))
    return refuse(tc, "argument %s is neither a tensor nor a numeric constant", key);
  if (!(*out = cJSON_Duplicate(j, 1))) return oom();
  return NULL;
}

/* The first argument as a Keras 3 operand: its structure with each entry replaced by a
 * placeholder, or by the constant a _CONSTANT_VALUE entry holds. */
static krt_status *operand_from_first(const tf_call *tc, const cJSON *j, cJSON **out) {
  if (is_constant_entry(j)) {
    const cJSON *value = cJSON_GetArrayItem(j, 2);
    if (contains_ref(value) || !(cJSON_IsNumber(value) || cJSON_IsBool(value) || cJSON_IsArray(value)))
      return refuse(tc, "its first argument is neither a tensor nor a numeric constant");
    if (!(*out = cJSON_Duplicate(value, 1))) return oom();
    return NULL;
  }
  if (is_entry(j)) return placeholder(tc, j, out);
  if (!cJSON_IsArray(j))
    return refuse(tc, "its first argument is neither a tensor, a constant nor a list of them");
  cJSON *list = cJSON_CreateArray();
  if (!list) return oom();
  const cJSON *item;
  cJSON_ArrayForEach(item, j) {
    cJSON *x = NULL;
    krt_status *s = operand_from_first(tc, item, &x);
    if (s) {
      cJSON_Delete(list);
      return s;
    }
    cJSON_AddItemToArray(list, x);
  }
  *out = list;
  return NULL;
}

static krt_status *add_arg(tf_call *tc, cJSON *x) {
  if (!x) return oom();
  cJSON_AddItemToArray(tc->args, x);
  return NULL;
}

/* The first argument, which must be one tensor (not a list or a constant). */
static krt_status *add_first_tensor(tf_call *tc) {
  if (!is_entry(tc->node) || is_constant_entry(tc->node))
    return refuse(tc, "its first argument is not a tensor of the model (%s)",
                  is_constant_entry(tc->node) ? "a constant" : "a list");
  cJSON *x = NULL;
  KRT_TRY(placeholder(tc, tc->node, &x));
  return add_arg(tc, x);
}

/* The first argument, which must be a list (concat, stack). */
static krt_status *add_first_list(tf_call *tc) {
  if (is_entry(tc->node) || !cJSON_IsArray(tc->node))
    return refuse(tc, "its first argument is not a list of tensors");
  cJSON *x = NULL;
  KRT_TRY(operand_from_first(tc, tc->node, &x));
  return add_arg(tc, x);
}

/* The keyword argument `key` (NULL when absent or null: TensorFlow's default). */
static const cJSON *kwarg(const tf_call *tc, const char *key) {
  const cJSON *j = tc->kwargs ? cJSON_GetObjectItemCaseSensitive(tc->kwargs, key) : NULL;
  return j && !cJSON_IsNull(j) ? j : NULL;
}

/* Every keyword argument must be among `known` (name never changes the result). */
static krt_status *check_kwargs(const tf_call *tc, const char *const *known) {
  const cJSON *item;
  if (!tc->kwargs) return NULL;
  cJSON_ArrayForEach(item, tc->kwargs) {
    const char *key = item->string ? item->string : "?";
    if (strcmp(key, "name") == 0) continue;
    int ok = 0;
    for (int k = 0; known[k]; k++)
      if (strcmp(known[k], key) == 0) ok = 1;
    if (!ok) {
      char *text = cJSON_PrintUnformatted(item);
      krt_status *s = refuse(tc, "argument %s=%.60s is not supported", key, text ? text : "?");
      cJSON_free(text);
      return s;
    }
  }
  return NULL;
}

/* A keyword argument that must be a constant (not computed by the model); copied into the
 * Keras 3 config under `as`. */
static krt_status *config_const(tf_call *tc, const char *key, const char *as) {
  const cJSON *j = kwarg(tc, key);
  if (!j) return NULL;
  if (contains_ref(j)) return refuse(tc, "argument %s is a tensor computed by the model; krt needs a constant", key);
  cJSON *copy = cJSON_Duplicate(j, 1);
  if (!copy) return oom();
  cJSON_AddItemToObject(tc->config, as, copy);
  return NULL;
}

static krt_status *config_number(tf_call *tc, const char *as, double value) {
  return cJSON_AddNumberToObject(tc->config, as, value) ? NULL : oom();
}

static krt_status *kwarg_number(const tf_call *tc, const char *key, double def, double *out) {
  const cJSON *j = kwarg(tc, key);
  if (!j) {
    *out = def;
    return NULL;
  }
  if (!cJSON_IsNumber(j)) return refuse(tc, "argument %s is not a constant number", key);
  *out = j->valuedouble;
  return NULL;
}

static krt_status *kwarg_int(const tf_call *tc, const char *key, int def, int *out) {
  double v = def;
  KRT_TRY(kwarg_number(tc, key, def, &v));
  if (v != (double)(int)v) return refuse(tc, "argument %s is not an integer", key);
  *out = (int)v;
  return NULL;
}

/* ---- per function -------------------------------------------------------------------------- */

static krt_status *tr_binary(tf_call *tc) {
  /* tf.math.*(x, y); tf.Tensor.__eq__/__ne__(self, other) */
  const char *second = strncmp(tc->function, "__operators__.", 14) == 0 &&
                               (strcmp(tc->function + 14, "eq") == 0 || strcmp(tc->function + 14, "ne") == 0)
                           ? "other"
                           : "y";
  const char *const known[] = {second, NULL};
  KRT_TRY(check_kwargs(tc, known));
  const cJSON *y = kwarg(tc, second);
  if (!y) return refuse(tc, "the call has no second operand %s", second);
  cJSON *x1 = NULL, *x2 = NULL;
  if (!is_entry(tc->node)) return refuse(tc, "its first argument is a list");
  KRT_TRY(operand_from_first(tc, tc->node, &x1));
  KRT_TRY(add_arg(tc, x1));
  KRT_TRY(operand_from_kwarg(tc, second, y, &x2));
  return add_arg(tc, x2);
}

static krt_status *tr_unary(tf_call *tc) {
  const char *op = tc->entry->op;
  if (strcmp(op, "Gelu") == 0) {
    static const char *const known[] = {"approximate", NULL};
    KRT_TRY(check_kwargs(tc, known));
    const cJSON *ap = kwarg(tc, "approximate");
    if (ap && !cJSON_IsBool(ap)) return refuse(tc, "argument approximate is not a constant bool");
    /* TensorFlow's default is the exact gelu; Keras 3's ops.gelu defaults to the tanh form */
    if (!cJSON_AddBoolToObject(tc->config, "approximate", ap && cJSON_IsTrue(ap))) return oom();
  } else if (strcmp(op, "LeakyRelu") == 0) {
    static const char *const known[] = {"alpha", NULL};
    KRT_TRY(check_kwargs(tc, known));
    double alpha = 0.2;
    KRT_TRY(kwarg_number(tc, "alpha", 0.2, &alpha));
    KRT_TRY(config_number(tc, "negative_slope", alpha));
  } else if (strcmp(op, "Silu") == 0) {
    static const char *const known[] = {"beta", NULL};
    KRT_TRY(check_kwargs(tc, known));
    double beta = 1.0;
    KRT_TRY(kwarg_number(tc, "beta", 1.0, &beta));
    if (beta != 1.0) return refuse(tc, "argument beta=%g is not supported (1 only)", beta);
  } else if (strcmp(op, "Elu") == 0) {
    static const char *const none[] = {NULL};
    KRT_TRY(check_kwargs(tc, none));
    KRT_TRY(config_number(tc, "alpha", 1.0)); /* tf.nn.elu has no alpha */
  } else {
    static const char *const none[] = {NULL};
    KRT_TRY(check_kwargs(tc, none));
  }
  return add_first_tensor(tc);
}

static krt_status *tr_reduce(tf_call *tc) {
  static const char *const known[] = {"axis", "keepdims", NULL};
  KRT_TRY(check_kwargs(tc, known));
  KRT_TRY(config_const(tc, "axis", "axis")); /* absent: every axis, as in Keras */
  const cJSON *kd = kwarg(tc, "keepdims");
  if (kd && !cJSON_IsBool(kd)) return refuse(tc, "argument keepdims is not a constant bool");
  if (!cJSON_AddBoolToObject(tc->config, "keepdims", kd && cJSON_IsTrue(kd))) return oom();
  return add_first_tensor(tc);
}

static krt_status *tr_softmax(tf_call *tc) {
  static const char *const known[] = {"axis", NULL};
  KRT_TRY(check_kwargs(tc, known));
  if (kwarg(tc, "axis")) KRT_TRY(config_const(tc, "axis", "axis"));
  else KRT_TRY(config_number(tc, "axis", -1)); /* tf.nn.softmax: axis=None is the last axis */
  return add_first_tensor(tc);
}

static krt_status *tr_reshape(tf_call *tc) {
  static const char *const known[] = {"shape", NULL};
  KRT_TRY(check_kwargs(tc, known));
  if (!kwarg(tc, "shape")) return refuse(tc, "the call has no shape");
  KRT_TRY(config_const(tc, "shape", "newshape")); /* with the batch first, as ops.reshape's */
  return add_first_tensor(tc);
}

static krt_status *tr_transpose(tf_call *tc) {
  static const char *const known[] = {"perm", "conjugate", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const cJSON *conj = kwarg(tc, "conjugate");
  if (conj && !cJSON_IsFalse(conj)) return refuse(tc, "argument conjugate is not false");
  KRT_TRY(config_const(tc, "perm", "axes")); /* absent: every axis reversed, in both */
  return add_first_tensor(tc);
}

static krt_status *tr_expand(tf_call *tc) {
  static const char *const known[] = {"axis", NULL};
  KRT_TRY(check_kwargs(tc, known));
  if (!kwarg(tc, "axis")) return refuse(tc, "the call has no axis");
  KRT_TRY(config_const(tc, "axis", "axis"));
  return add_first_tensor(tc);
}

static krt_status *tr_squeeze(tf_call *tc) {
  static const char *const known[] = {"axis", "squeeze_dims", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const char *key = kwarg(tc, "axis") ? "axis" : "squeeze_dims"; /* compat.v1's older name */
  if (!kwarg(tc, key))
    return refuse(tc, "squeeze without an axis is not supported (it would drop the batch axis "
                      "too when the batch is 1)");
  KRT_TRY(config_const(tc, key, "axis"));
  return add_first_tensor(tc);
}

static krt_status *tr_concat_stack(tf_call *tc) {
  static const char *const known[] = {"axis", NULL};
  KRT_TRY(check_kwargs(tc, known));
  if (kwarg(tc, "axis")) KRT_TRY(config_const(tc, "axis", "axis"));
  else if (tc->entry->kind == TF_CONCAT) return refuse(tc, "the call has no axis");
  else KRT_TRY(config_number(tc, "axis", 0)); /* tf.stack's default; refused (the batch) */
  return add_first_list(tc);
}

/* The input's axis `raw` and its length, for split. */
static krt_status *first_axis(const tf_call *tc, int raw, int *axis, int64_t *len) {
  const ir_value *v = kl_value(tc->ctx, tc->ctx->inputs[0]);
  KRT_TRY(kl_axis(tc->ctx, raw, v->rank, axis));
  *len = v->dims[*axis];
  if (*len < 0) return refuse(tc, "the length of axis %d is not known", raw);
  return NULL;
}

static krt_status *tr_split(tf_call *tc) {
  static const char *const known[] = {"num_or_size_splits", "axis", "num", NULL};
  KRT_TRY(check_kwargs(tc, known));
  KRT_TRY(add_first_tensor(tc));
  int raw = 0, axis;
  int64_t len;
  KRT_TRY(kwarg_int(tc, "axis", 0, &raw)); /* tf.split's default: the batch (refused) */
  KRT_TRY(config_number(tc, "axis", raw));
  const cJSON *nss = kwarg(tc, "num_or_size_splits");
  if (!nss) return refuse(tc, "the call has no num_or_size_splits");
  if (contains_ref(nss)) return refuse(tc, "argument num_or_size_splits is a tensor");
  int parts;
  if (cJSON_IsNumber(nss)) {
    KRT_TRY(kwarg_int(tc, "num_or_size_splits", 0, &parts));
    KRT_TRY(config_number(tc, "indices_or_sections", parts)); /* equal sections in both */
  } else {
    /* section sizes (one may be -1: the rest) -> the cut indices ops.split takes */
    int sizes[KERAS_MAX_OP_OUTPUTS], n = 0, unknown = -1;
    KRT_TRY(kc_int_list(tc->ctx, nss, "num_or_size_splits", KERAS_MAX_OP_OUTPUTS, sizes, &n));
    KRT_TRY(first_axis(tc, raw, &axis, &len));
    int64_t known_sum = 0;
    for (int i = 0; i < n; i++) {
      if (sizes[i] == -1 && unknown < 0) unknown = i;
      else if (sizes[i] < 0) return refuse(tc, "num_or_size_splits has a size %d", sizes[i]);
      else known_sum += sizes[i];
    }
    if (unknown >= 0) sizes[unknown] = (int)(len - known_sum);
    int64_t total = unknown >= 0 ? len : known_sum;
    if (n < 1 || total != len || (unknown >= 0 && sizes[unknown] < 0))
      return kl_bad_file(tc->ctx, "tf.split: section sizes do not add up to the axis length %lld",
                         (long long)len);
    cJSON *cuts = cJSON_CreateArray();
    if (!cuts) return oom();
    cJSON_AddItemToObject(tc->config, "indices_or_sections", cuts);
    int64_t at = 0;
    for (int i = 0; i + 1 < n; i++) {
      at += sizes[i];
      cJSON *c = cJSON_CreateNumber((double)at);
      if (!c) return oom();
      cJSON_AddItemToArray(cuts, c);
    }
    parts = n;
  }
  int num = parts;
  KRT_TRY(kwarg_int(tc, "num", parts, &num));
  if (num != parts) return kl_bad_file(tc->ctx, "tf.split: num=%d for %d parts", num, parts);
  return NULL;
}

static krt_status *tr_unstack(tf_call *tc) {
  static const char *const known[] = {"num", "axis", NULL};
  KRT_TRY(check_kwargs(tc, known));
  int raw = 0;
  KRT_TRY(kwarg_int(tc, "axis", 0, &raw)); /* tf.unstack's default: the batch (refused) */
  KRT_TRY(config_number(tc, "axis", raw));
  KRT_TRY(config_const(tc, "num", "num"));
  return add_first_tensor(tc);
}

static krt_status *tr_cast(tf_call *tc) {
  static const char *const known[] = {"dtype", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const cJSON *dt = kwarg(tc, "dtype");
  if (!cJSON_IsString(dt)) return refuse(tc, "argument dtype is not a dtype name");
  if (!cJSON_AddStringToObject(tc->config, "dtype", dt->valuestring)) return oom();
  return add_first_tensor(tc);
}

static krt_status *tr_clip(tf_call *tc) {
  static const char *const known[] = {"clip_value_min", "clip_value_max", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const char *keys[2] = {"clip_value_min", "clip_value_max"}, *as[2] = {"x_min", "x_max"};
  for (int i = 0; i < 2; i++) {
    const cJSON *j = kwarg(tc, keys[i]);
    if (!j) return refuse(tc, "the call has no %s", keys[i]);
    if (!cJSON_IsNumber(j))
      return refuse(tc, "argument %s is not a constant number (a tensor or a list)", keys[i]);
    KRT_TRY(config_number(tc, as[i], j->valuedouble));
  }
  return add_first_tensor(tc);
}

/* One subscript of slice_spec as Keras 3 writes it: {"start", "stop", "step"} ->
 * {"class_name": "__slice__", "config": {...}}; an integer stays. */
static krt_status *subscript(const tf_call *tc, int i, const cJSON *k, cJSON **out) {
  if (cJSON_IsNumber(k)) {
    *out = cJSON_Duplicate(k, 1);
    return *out ? NULL : oom();
  }
  if (cJSON_IsNull(k)) { /* tf.newaxis */
    *out = cJSON_CreateNull();
    return *out ? NULL : oom();
  }
  if (!cJSON_IsObject(k) || cJSON_GetObjectItemCaseSensitive(k, "class_name") ||
      contains_ref(k))
    return refuse(tc, "subscript %d is not a slice or an integer (tensor, boolean or other indices "
                      "are not supported)", i);
  const cJSON *item;
  cJSON_ArrayForEach(item, k) {
    const char *key = item->string ? item->string : "?";
    if (strcmp(key, "start") != 0 && strcmp(key, "stop") != 0 && strcmp(key, "step") != 0)
      return kl_bad_file(tc->ctx, "subscript %d has a member %s", i, key);
    if (!cJSON_IsNull(item) && !cJSON_IsNumber(item))
      return refuse(tc, "the %s of subscript %d is not a constant integer", key, i);
  }
  return class_object("__slice__", cJSON_Duplicate(k, 1), out);
}

static int is_ellipsis(const cJSON *k) {
  const cJSON *c = cJSON_IsObject(k) ? cJSON_GetObjectItemCaseSensitive(k, "class_name") : NULL;
  return cJSON_IsString(c) && strcmp(c->valuestring, "__ellipsis__") == 0;
}

/* x[slice_spec]: a slice, an integer, tf.newaxis or Ellipsis, or a list of them, passed to GetItem
 * as Keras 3 writes them. */
static krt_status *tr_getitem(tf_call *tc) {
  static const char *const known[] = {"slice_spec", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const cJSON *spec = kwarg(tc, "slice_spec");
  if (!spec) {
    const cJSON *raw = tc->kwargs ? cJSON_GetObjectItemCaseSensitive(tc->kwargs, "slice_spec") : NULL;
    if (!raw) return kl_bad_file(tc->ctx, "the subscript has no slice_spec");
    spec = raw; /* x[tf.newaxis] */
  }
  KRT_TRY(add_first_tensor(tc));
  int n = cJSON_IsArray(spec) ? cJSON_GetArraySize(spec) : 1;
  cJSON *key = cJSON_CreateArray();
  if (!key) return oom();
  KRT_TRY(add_arg(tc, key));
  for (int i = 0; i < n; i++) {
    const cJSON *k = cJSON_IsArray(spec) ? cJSON_GetArrayItem(spec, i) : spec;
    cJSON *s = NULL;
    if (is_ellipsis(k)) KRT_TRY(class_object("__ellipsis__", cJSON_CreateObject(), &s));
    else KRT_TRY(subscript(tc, i, k, &s));
    cJSON_AddItemToArray(key, s);
  }
  return NULL;
}

static krt_status *tr_tile(tf_call *tc) {
  static const char *const known[] = {"multiples", NULL};
  KRT_TRY(check_kwargs(tc, known));
  if (!kwarg(tc, "multiples")) return refuse(tc, "the call has no multiples");
  KRT_TRY(config_const(tc, "multiples", "repeats"));
  return add_first_tensor(tc);
}

static krt_status *tr_repeat(tf_call *tc) {
  static const char *const known[] = {"repeats", "axis", NULL};
  KRT_TRY(check_kwargs(tc, known));
  if (!kwarg(tc, "repeats")) return refuse(tc, "the call has no repeats");
  KRT_TRY(config_const(tc, "repeats", "repeats"));
  KRT_TRY(config_const(tc, "axis", "axis")); /* absent: the flattened tensor, refused by Repeat */
  return add_first_tensor(tc);
}

static int has_negative(const cJSON *j) {
  if (cJSON_IsNumber(j)) return j->valuedouble < 0;
  const cJSON *item;
  if (cJSON_IsArray(j)) cJSON_ArrayForEach(item, j) if (has_negative(item)) return 1;
  return 0;
}

/* tf.gather(params, indices, axis=0): constant indices only (Take); TensorFlow's default axis 0
 * is the batch, which Take refuses. batch_dims other than 0 is refused. */
static krt_status *tr_gather(tf_call *tc) {
  static const char *const known[] = {"indices", "validate_indices", "axis", "batch_dims", NULL};
  KRT_TRY(check_kwargs(tc, known));
  int batch_dims = 0;
  KRT_TRY(kwarg_int(tc, "batch_dims", 0, &batch_dims));
  if (batch_dims != 0) return refuse(tc, "argument batch_dims=%d is not supported", batch_dims);
  const cJSON *idx = kwarg(tc, "indices");
  if (!idx) return refuse(tc, "the call has no indices");
  if (contains_ref(idx))
    return refuse(tc, "gather with tensor indices is not supported (constant indices only)");
  if (has_negative(idx))
    return refuse(tc, "a negative index is not supported (TensorFlow rejects it on the CPU and "
                      "gives zeros on the GPU)");
  if (kwarg(tc, "axis")) KRT_TRY(config_const(tc, "axis", "axis"));
  else KRT_TRY(config_number(tc, "axis", 0));
  KRT_TRY(add_first_tensor(tc));
  cJSON *x = NULL;
  KRT_TRY(operand_from_kwarg(tc, "indices", idx, &x));
  return add_arg(tc, x);
}

/* tf.where(condition, x, y): Where; without x and y (the indices of true entries) it is
 * refused. */
static krt_status *tr_where(tf_call *tc) {
  static const char *const known[] = {"x", "y", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const cJSON *x = kwarg(tc, "x"), *y = kwarg(tc, "y");
  if (!x || !y)
    return refuse(tc, "where without x and y (the indices of true entries) is not supported");
  KRT_TRY(add_first_tensor(tc));
  cJSON *xo = NULL, *yo = NULL;
  KRT_TRY(operand_from_kwarg(tc, "x", x, &xo));
  KRT_TRY(add_arg(tc, xo));
  KRT_TRY(operand_from_kwarg(tc, "y", y, &yo));
  return add_arg(tc, yo);
}

/* tf.linalg.matmul(a, b): both of rank >= 2, leading axes broadcast; transpose_* (and adjoint_*,
 * the same on real values) swap the last two axes of that operand first. An Einsum with "..."
 * says exactly that: "...ij,...jk->...ik", with "ji" or "kj" for a transposed operand. The
 * sparse hints change nothing; output_type other than float32 is refused. */
static krt_status *tr_matmul(tf_call *tc) {
  static const char *const known[] = {"b", "transpose_a", "transpose_b", "adjoint_a",
                                      "adjoint_b", "a_is_sparse", "b_is_sparse", "output_type",
                                      "grad_a", "grad_b", "y", NULL};
  KRT_TRY(check_kwargs(tc, known));
  const char *second = kwarg(tc, "b") ? "b" : "y"; /* __operators__.matmul(x, y) */
  const cJSON *b = kwarg(tc, second);
  if (!b) return refuse(tc, "the call has no second operand b");
  int flags[4] = {0, 0, 0, 0};
  static const char *const names[4] = {"transpose_a", "transpose_b", "adjoint_a", "adjoint_b"};
  for (int i = 0; i < 4; i++) {
    const cJSON *f = kwarg(tc, names[i]);
    if (f && !cJSON_IsBool(f)) return refuse(tc, "argument %s is not a constant bool", names[i]);
    flags[i] = f && cJSON_IsTrue(f);
  }
  const cJSON *ot = kwarg(tc, "output_type");
  if (ot && !(cJSON_IsString(ot) && strcmp(ot->valuestring, "float32") == 0))
    return refuse(tc, "argument output_type is not supported (float32 only)");
  int ta = flags[0] || flags[2], tb = flags[1] || flags[3];
  if ((flags[0] && flags[2]) || (flags[1] && flags[3]))
    return refuse(tc, "transpose and adjoint of the same operand (TensorFlow refuses it too)");
  char subscripts[32];
  snprintf(subscripts, sizeof subscripts, "...%s,...%s->...ik", ta ? "ji" : "ij", tb ? "kj" : "jk");
  if (!cJSON_AddStringToObject(tc->config, "subscripts", subscripts)) return oom();
  cJSON *x1 = NULL, *x2 = NULL;
  if (!is_entry(tc->node)) return refuse(tc, "its first argument is a list");
  KRT_TRY(operand_from_first(tc, tc->node, &x1));
  KRT_TRY(add_arg(tc, x1));
  KRT_TRY(operand_from_kwarg(tc, second, b, &x2));
  return add_arg(tc, x2);
}

/* Appends the input each placeholder in j stands for, depth first. */
static void collect_inputs(const keras_layer_ctx *ctx, const cJSON *j, int *inputs, int *n) {
  const cJSON *cls = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "class_name") : NULL;
  if (cJSON_IsString(cls) && strcmp(cls->valuestring, "__keras_tensor__") == 0) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(cfg, "input");
    if (cJSON_IsNumber(in) && in->valueint >= 0 && in->valueint < ctx->n_inputs &&
        *n < ctx->n_inputs)
      inputs[(*n)++] = ctx->inputs[in->valueint];
    return;
  }
  const cJSON *item;
  if (cJSON_IsArray(j) || cJSON_IsObject(j)) cJSON_ArrayForEach(item, j) collect_inputs(ctx, item, inputs, n);
}

/* ---- the layer ----------------------------------------------------------------------------- */

/* Where the class comes from: HDF5 records no module; tf_keras's .keras files say
 * "tf_keras.src.layers.core.tf_op_layer" (TensorFlow's bundled Keras 2: "keras.src.layers..."
 * or "keras.layers.core..."), with the class as registered name. */
static krt_status *check_origin(const keras_layer_ctx *ctx) {
  const char *module = ctx->module, *reg = ctx->registered_name;
  const char *tail = ".layers.core.tf_op_layer";
  size_t n = module ? strlen(module) : 0, t = strlen(tail);
  int keras_module = module && n > t && strcmp(module + n - t, tail) == 0 &&
                     (strncmp(module, "keras.", 6) == 0 || strncmp(module, "tf_keras.", 9) == 0);
  if ((module && !keras_module) || (reg && strcmp(reg, ctx->class_name) != 0))
    return kl_unsupported(ctx, "layer class %s is user code, not tf.keras's own (module %s, "
                               "registered name '%s')",
                          ctx->class_name, module ? module : "none", reg ? reg : ctx->class_name);
  if (ctx->keras_major != 2)
    return kl_unsupported(ctx, "%s is a tf.keras 2 class, but the file says Keras %d",
                          ctx->class_name, ctx->keras_major);
  return NULL;
}

/* A message of the Keras 3 converter names the layer with the operation's class ("(Mean)"):
 * name the TFOpLambda and its function instead. */
static krt_status *rename_error(const keras_layer_ctx *ctx, const tf_call *tc, krt_status *s) {
  if (!s || krt_status_code(s) == KRT_ERR_OUT_OF_MEMORY) return s;
  char prefix[600];
  snprintf(prefix, sizeof prefix, "%s: layer '%s' (%s): ", ctx->file ? ctx->file : "?",
           ctx->layer_name ? ctx->layer_name : "?", tc->entry->op);
  const char *msg = krt_status_message(s);
  size_t n = strlen(prefix);
  if (strncmp(msg, prefix, n) == 0) msg += n;
  krt_status *out = kl_error(ctx, krt_status_code(s), "function tf.%s (as Keras operation %s): %s",
                             tc->function, tc->entry->op, msg);
  krt_status_release(s);
  return out;
}

krt_status *keras_convert_tfop(const keras_layer_ctx *ctx, int *outputs, int *n_outputs) {
  KRT_TRY(check_origin(ctx));
  static const char *const keys[] = {"function", NULL};
  KRT_TRY(kc_refuse_unknown_keys(ctx, keys));
  KRT_TRY(kc_check_dtype_policy(ctx));
  const char *function = NULL;
  KRT_TRY(kc_string(ctx, NULL, "function", NULL, &function));
  if (!function) return kl_bad_file(ctx, "the layer has no function");
  if (!ctx->call || !cJSON_IsArray(ctx->call))
    return kl_bad_file(ctx, "the layer has no call arguments (inbound node)");
  const tf_function *entry = NULL;
  for (size_t i = 0; i < sizeof tf_functions / sizeof *tf_functions; i++)
    if (strcmp(tf_functions[i].function, function) == 0) entry = &tf_functions[i];
  int slicing = strcmp(ctx->class_name, "SlicingOpLambda") == 0;
  if (!entry || (slicing != (entry->kind == TF_GETITEM)))
    return kl_unsupported(ctx, "function tf.%s is not supported", function);

  tf_call tc = {ctx, function, entry, ctx->call, node_kwargs(ctx->call), NULL, NULL, NULL};
  krt_status *s = NULL;
  tc.call = cJSON_CreateObject();
  tc.args = cJSON_CreateArray();
  tc.config = cJSON_CreateObject();
  int *inputs = NULL;
  if (!tc.call || !tc.args || !tc.config) s = oom();
  if (!s) {
    cJSON_AddItemToObject(tc.call, "args", tc.args);
    if (!cJSON_AddObjectToObject(tc.call, "kwargs") ||
        !cJSON_AddStringToObject(tc.config, "name", ctx->layer_name ? ctx->layer_name : ""))
      s = oom();
  } else {
    cJSON_Delete(tc.args);
  }
  if (!s) {
    switch (entry->kind) {
      case TF_BINARY: s = tr_binary(&tc); break;
      case TF_UNARY: s = tr_unary(&tc); break;
      case TF_REDUCE: s = tr_reduce(&tc); break;
      case TF_SOFTMAX: s = tr_softmax(&tc); break;
      case TF_RESHAPE: s = tr_reshape(&tc); break;
      case TF_TRANSPOSE: s = tr_transpose(&tc); break;
      case TF_EXPAND: s = tr_expand(&tc); break;
      case TF_SQUEEZE: s = tr_squeeze(&tc); break;
      case TF_CONCAT:
      case TF_STACK: s = tr_concat_stack(&tc); break;
      case TF_SPLIT: s = tr_split(&tc); break;
      case TF_UNSTACK: s = tr_unstack(&tc); break;
      case TF_CAST: s = tr_cast(&tc); break;
      case TF_CLIP: s = tr_clip(&tc); break;
      case TF_GETITEM: s = tr_getitem(&tc); break;
      case TF_TILE: s = tr_tile(&tc); break;
      case TF_REPEAT: s = tr_repeat(&tc); break;
      case TF_GATHER: s = tr_gather(&tc); break;
      case TF_WHERE: s = tr_where(&tc); break;
      case TF_MATMUL: s = tr_matmul(&tc); break;
    }
  }
  /* The operands in the order keras_ops.c counts them (depth first through args; kwargs stay
   * empty): every placeholder names the input it stands for. */
  int n = 0;
  if (!s && !(inputs = malloc((size_t)(ctx->n_inputs > 0 ? ctx->n_inputs : 1) * sizeof *inputs)))
    s = oom();
  if (!s) collect_inputs(ctx, tc.args, inputs, &n);
  if (!s && n != ctx->n_inputs)
    s = kl_unsupported(ctx, "function tf.%s: %d of the call's %d tensors are not operands krt "
                            "maps", function, ctx->n_inputs - n, ctx->n_inputs);
  if (!s) {
    keras_layer_ctx op = *ctx;
    op.class_name = entry->op;
    op.module = "keras.src.ops";
    op.registered_name = NULL;
    op.config = tc.config;
    op.call = tc.call;
    op.inputs = inputs;
    op.n_inputs = n;
    s = rename_error(ctx, &tc, keras_convert_operation(&op, outputs, n_outputs));
  }
  free(inputs);
  cJSON_Delete(tc.call);
  cJSON_Delete(tc.config);
  return s;
}
