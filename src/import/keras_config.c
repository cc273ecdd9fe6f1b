/* Reading Keras layer configs: typed getters, tuples, padding and data-format strings, dtype
 * policies, and activation specs of Keras 1, 2 and 3. See keras_config.h. */
#include "import/keras_config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

krt_status *kl_error(const keras_layer_ctx *ctx, krt_code code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return krt_error(code, "%s: layer '%s' (%s): %s", ctx->file ? ctx->file : "?",
                   ctx->layer_name ? ctx->layer_name : "?",
                   ctx->class_name ? ctx->class_name : "?", msg);
}

/* ---- typed getters ------------------------------------------------------------------------- */

const cJSON *kc_get(const keras_layer_ctx *ctx, const cJSON *obj, const char *key) {
  if (!obj) obj = ctx->config;
  if (!obj || !cJSON_IsObject(obj)) return NULL;
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item || cJSON_IsNull(item)) return NULL;
  return item;
}

int kc_has(const keras_layer_ctx *ctx, const char *key) { return kc_get(ctx, NULL, key) != NULL; }

/* A JSON number that is an integer within int range. */
static int json_int(const cJSON *item, int *out) {
  if (!cJSON_IsNumber(item)) return 0;
  double v = item->valuedouble;
  if (!(v >= -2147483648.0 && v <= 2147483647.0) || v != floor(v)) return 0;
  *out = (int)v;
  return 1;
}

krt_status *kc_int(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, int def,
                   int *out) {
  const cJSON *item = kc_get(ctx, obj, key);
  if (!item) {
    *out = def;
    return NULL;
  }
  /* Keras 1/2 sometimes wrote a one-element list where an int was meant ("strides": [2]). */
  if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 1) item = cJSON_GetArrayItem(item, 0);
  if (!json_int(item, out)) return kl_bad_file(ctx, "option %s is not an integer", key);
  return NULL;
}

krt_status *kc_float(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, double def,
                     double *out) {
  const cJSON *item = kc_get(ctx, obj, key);
  if (!item) {
    *out = def;
    return NULL;
  }
  if (!cJSON_IsNumber(item)) return kl_bad_file(ctx, "option %s is not a number", key);
  *out = item->valuedouble;
  return NULL;
}

krt_status *kc_bool(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, int def,
                    int *out) {
  const cJSON *item = kc_get(ctx, obj, key);
  if (!item) {
    *out = def;
    return NULL;
  }
  if (cJSON_IsBool(item)) *out = cJSON_IsTrue(item);
  else if (cJSON_IsNumber(item)) *out = item->valuedouble != 0.0; /* Keras 1 wrote 0/1 at times */
  else return kl_bad_file(ctx, "option %s is not a boolean", key);
  return NULL;
}

krt_status *kc_string(const keras_layer_ctx *ctx, const cJSON *obj, const char *key,
                      const char *def, const char **out) {
  const cJSON *item = kc_get(ctx, obj, key);
  if (!item) {
    *out = def;
    return NULL;
  }
  if (!cJSON_IsString(item)) return kl_bad_file(ctx, "option %s is not a string", key);
  *out = item->valuestring;
  return NULL;
}

krt_status *kc_refuse_unknown_keys(const keras_layer_ctx *ctx, const char *const *known) {
  static const char *const base[] = {
      "name",        "trainable", "dtype", "activity_regularizer", "batch_input_shape",
      "batch_shape", NULL};
  if (!cJSON_IsObject(ctx->config)) return NULL;
  const cJSON *item;
  cJSON_ArrayForEach(item, ctx->config) {
    if (!item->string || cJSON_IsNull(item)) continue;
    int ok = 0;
    for (int k = 0; base[k] && !ok; k++) ok = strcmp(base[k], item->string) == 0;
    for (int k = 0; known && known[k] && !ok; k++) ok = strcmp(known[k], item->string) == 0;
    if (!ok) return kl_unsupported(ctx, "option %s is not supported", item->string);
  }
  return NULL;
}

krt_status *kc_int_list(const keras_layer_ctx *ctx, const cJSON *item, const char *what, int max,
                        int *out, int *n) {
  if (item && json_int(item, out)) {
    *n = 1;
    return NULL;
  }
  if (!item || !cJSON_IsArray(item)) return kl_bad_file(ctx, "option %s is not a list of integers", what);
  int count = cJSON_GetArraySize(item);
  if (count > max) return kl_unsupported(ctx, "option %s has %d entries (at most %d)", what, count, max);
  for (int i = 0; i < count; i++)
    if (!json_int(cJSON_GetArrayItem(item, i), &out[i]))
      return kl_bad_file(ctx, "option %s is not a list of integers", what);
  *n = count;
  return NULL;
}

krt_status *kc_int_tuple(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, int n,
                         int def, int *out) {
  const cJSON *item = kc_get(ctx, obj, key);
  if (!item) {
    for (int i = 0; i < n; i++) out[i] = def;
    return NULL;
  }
  int v[KRT_MAX_RANK], count = 0;
  KRT_TRY(kc_int_list(ctx, item, key, KRT_MAX_RANK, v, &count));
  if (count == 1 && !cJSON_IsArray(item)) {
    for (int i = 0; i < n; i++) out[i] = v[0];
    return NULL;
  }
  if (count == 1 && n > 1) { /* [3] for a 2-D window: Keras would reject it */
    return kl_bad_file(ctx, "option %s has 1 entry, expected %d", key, n);
  }
  if (count != n) return kl_bad_file(ctx, "option %s has %d entries, expected %d", key, count, n);
  for (int i = 0; i < n; i++) out[i] = v[i];
  return NULL;
}

static int equals_ci(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
  return *a == *b;
}

krt_status *kc_channels_first(const keras_layer_ctx *ctx, int *channels_first) {
  const char *fmt = NULL;
  KRT_TRY(kc_string(ctx, NULL, "data_format", NULL, &fmt));
  if (fmt) {
    if (strcmp(fmt, "channels_last") == 0) *channels_first = 0;
    else if (strcmp(fmt, "channels_first") == 0) *channels_first = 1;
    else return kl_unsupported(ctx, "option data_format='%s' is not supported", fmt);
    return NULL;
  }
  const char *order = NULL;
  KRT_TRY(kc_string(ctx, NULL, "dim_ordering", NULL, &order));
  if (!order) {
    *channels_first = 0;
  } else if (strcmp(order, "tf") == 0) {
    *channels_first = 0;
  } else if (strcmp(order, "th") == 0) {
    *channels_first = 1;
  } else if (strcmp(order, "default") == 0) {
    *channels_first = ctx->backend && strcmp(ctx->backend, "theano") == 0;
  } else {
    return kl_unsupported(ctx, "option dim_ordering='%s' is not supported", order);
  }
  return NULL;
}

krt_status *kc_padding_mode(const keras_layer_ctx *ctx, int allowed, kc_padding *out) {
  const char *key = kc_has(ctx, "padding") ? "padding" : "border_mode";
  const char *s = NULL;
  KRT_TRY(kc_string(ctx, NULL, key, "valid", &s));
  kc_padding mode;
  if (equals_ci(s, "valid")) mode = KC_PAD_VALID;
  else if (equals_ci(s, "same")) mode = KC_PAD_SAME;
  else if (equals_ci(s, "causal")) mode = KC_PAD_CAUSAL;
  else if (equals_ci(s, "full")) mode = KC_PAD_FULL;
  else return kl_unsupported(ctx, "option %s='%s' is not supported", key, s);
  if (!(allowed & (int)mode)) return kl_unsupported(ctx, "option %s='%s' is not supported", key, s);
  *out = mode;
  return NULL;
}

krt_status *kc_conv_padding(const keras_layer_ctx *ctx, kc_padding mode, int64_t in, int k, int s,
                            int d, int64_t *begin, int64_t *end) {
  int64_t span = (int64_t)d * (k - 1); /* effective window minus one */
  switch (mode) {
    case KC_PAD_VALID: *begin = *end = 0; return NULL;
    case KC_PAD_CAUSAL: *begin = span; *end = 0; return NULL;
    case KC_PAD_FULL: *begin = *end = span; return NULL;
    case KC_PAD_SAME: break;
  }
  /* TensorFlow "SAME": out = ceil(in / s); total = max((out-1)*s + span + 1 - in, 0), the smaller
   * half before. With s == 1 the total is span whatever `in` is. */
  int64_t total;
  if (s == 1) {
    total = span;
  } else {
    if (in < 0)
      return kl_unsupported(ctx, "padding='same' with strides %d needs a known input size", s);
    int64_t out = (in + s - 1) / s;
    total = (out - 1) * s + span + 1 - in;
    if (total < 0) total = 0;
  }
  *begin = total / 2;
  *end = total - *begin;
  return NULL;
}

int kc_theano_kernels(const keras_layer_ctx *ctx) {
  if (ctx->backend) return strcmp(ctx->backend, "theano") == 0;
  if (ctx->keras_major != 1) return 0;
  const cJSON *order = kc_get(ctx, NULL, "dim_ordering");
  return order && cJSON_IsString(order) && strcmp(order->valuestring, "th") == 0;
}

krt_status *kc_check_dtype_policy(const keras_layer_ctx *ctx) {
  const cJSON *dt = kc_get(ctx, NULL, "dtype");
  if (!dt) return NULL;
  const char *name = NULL;
  if (cJSON_IsString(dt)) {
    name = dt->valuestring;
  } else if (cJSON_IsObject(dt)) {
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(dt, "class_name");
    if (cJSON_IsString(cls) && strstr(cls->valuestring, "Quantized"))
      return kl_unsupported(ctx, "quantized dtype policy %s is not supported", cls->valuestring);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(dt, "config");
    const cJSON *n = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "name") : NULL;
    if (cJSON_IsString(n)) name = n->valuestring;
  }
  if (!name || strcmp(name, "float32") == 0) return NULL;
  /* Integer inputs (Embedding indices) and float64 compute are fine; half precision and
   * quantized policies compute differently from float32. */
  if (strstr(name, "int4") || strstr(name, "int8") || strstr(name, "float8") ||
      strstr(name, "gptq") || strstr(name, "awq"))
    return kl_unsupported(ctx, "quantized dtype policy '%s' is not supported", name);
  if (strstr(name, "float16") || strstr(name, "bfloat16"))
    return kl_unsupported(ctx, "dtype policy '%s' is not supported (krt computes in float32)", name);
  return NULL;
}

/* ---- activations --------------------------------------------------------------------------- */

kc_activation kc_linear(void) {
  kc_activation a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

static kc_activation elementwise(ir_act_kind kind, float alpha, float beta) {
  kc_activation a = kc_linear();
  a.act.kind = kind;
  a.act.alpha = alpha;
  a.act.beta = beta;
  return a;
}

/* Keras's relu(x, negative_slope, max_value, threshold) (Keras 2 calls the slope alpha). */
static kc_activation relu_act(double slope, double max_value, double threshold) {
  kc_activation a = elementwise(IR_ACT_RELU, (float)slope, 0.0f);
  a.act.max_value = (float)max_value;
  a.act.threshold = (float)threshold;
  return a;
}

/* A built-in activation function by name, with its function defaults for this Keras version. */
static krt_status *activation_by_name(const keras_layer_ctx *ctx, const char *name,
                                      const cJSON *options, kc_activation *out) {
  /* hard_sigmoid: Keras 3 is relu6(x + 3) / 6; Keras 1 and 2 are clip(0.2x + 0.5, 0, 1). */
  float hs_alpha = ctx->keras_major >= 3 ? 1.0f / 6.0f : 0.2f;
  if (strcmp(name, "linear") == 0) *out = kc_linear();
  else if (strcmp(name, "relu") == 0) *out = relu_act(0.0, INFINITY, 0.0);
  else if (strcmp(name, "relu6") == 0) *out = relu_act(0.0, 6.0, 0.0);
  else if (strcmp(name, "leaky_relu") == 0) *out = relu_act(0.2, INFINITY, 0.0); /* fn default 0.2 */
  else if (strcmp(name, "sigmoid") == 0) *out = elementwise(IR_ACT_SIGMOID, 0, 0);
  else if (strcmp(name, "hard_sigmoid") == 0) *out = elementwise(IR_ACT_HARD_SIGMOID, hs_alpha, 0.5f);
  else if (strcmp(name, "tanh") == 0) *out = elementwise(IR_ACT_TANH, 0, 0);
  else if (strcmp(name, "softplus") == 0) *out = elementwise(IR_ACT_SOFTPLUS, 0, 0);
  else if (strcmp(name, "softsign") == 0) *out = elementwise(IR_ACT_SOFTSIGN, 0, 0);
  else if (strcmp(name, "elu") == 0) *out = elementwise(IR_ACT_ELU, 1.0f, 0);
  else if (strcmp(name, "selu") == 0) *out = elementwise(IR_ACT_SELU, 0, 0);
  else if (strcmp(name, "swish") == 0 || strcmp(name, "silu") == 0) *out = elementwise(IR_ACT_SWISH, 0, 0);
  /* hard_silu exists only in Keras 3: x * relu6(x + 3) / 6. */
  else if (strcmp(name, "hard_swish") == 0 || strcmp(name, "hard_silu") == 0)
    *out = elementwise(IR_ACT_HARD_SWISH, 1.0f / 6.0f, 0.5f);
  else if (strcmp(name, "exponential") == 0) *out = elementwise(IR_ACT_EXPONENTIAL, 0, 0);
  else if (strcmp(name, "mish") == 0) *out = elementwise(IR_ACT_MISH, 0, 0);
  else if (strcmp(name, "gelu") == 0) {
    int approximate = 0; /* Keras 2 and 3 gelu(x, approximate=False) */
    if (options) KRT_TRY(kc_bool(ctx, options, "approximate", 0, &approximate));
    *out = elementwise(approximate ? IR_ACT_GELU_TANH : IR_ACT_GELU, 0, 0);
  } else if (strcmp(name, "softmax") == 0 || strcmp(name, "log_softmax") == 0) {
    *out = kc_linear();
    out->softmax = name[0] == 's' ? 1 : 2;
    out->n_axes = 1;
    out->axes[0] = -1;
    if (options) KRT_TRY(kc_int(ctx, options, "axis", -1, &out->axes[0]));
  } else {
    return kl_unsupported(ctx, "activation '%s' is not supported", name);
  }
  return NULL;
}

krt_status *kc_activation_layer(const keras_layer_ctx *ctx, const char *cls, const cJSON *obj,
                                kc_activation *out, int *known) {
  *known = 1;
  if (strcmp(cls, "ReLU") == 0) {
    double max_value, slope, threshold;
    KRT_TRY(kc_float(ctx, obj, "max_value", INFINITY, &max_value));
    KRT_TRY(kc_float(ctx, obj, "negative_slope", 0.0, &slope));
    KRT_TRY(kc_float(ctx, obj, "threshold", 0.0, &threshold));
    /* Keras rejects these; with them relu's clip-at-0 step would differ from the IR formula. */
    if (max_value < 0.0 || slope < 0.0 || threshold < 0.0)
      return kl_unsupported(ctx, "ReLU with a negative max_value, negative_slope or threshold is not supported");
    *out = relu_act(slope, max_value, threshold);
  } else if (strcmp(cls, "LeakyReLU") == 0) {
    double slope; /* Keras 3 negative_slope, Keras 1/2 alpha; default 0.3 in all */
    const char *key = kc_get(ctx, obj, "negative_slope") ? "negative_slope" : "alpha";
    KRT_TRY(kc_float(ctx, obj, key, 0.3, &slope));
    *out = relu_act(slope, INFINITY, 0.0);
  } else if (strcmp(cls, "ELU") == 0) {
    double alpha;
    KRT_TRY(kc_float(ctx, obj, "alpha", 1.0, &alpha));
    *out = elementwise(IR_ACT_ELU, (float)alpha, 0);
  } else if (strcmp(cls, "ThresholdedReLU") == 0) {
    double theta;
    KRT_TRY(kc_float(ctx, obj, "theta", 1.0, &theta));
    *out = elementwise(IR_ACT_THRESHOLDED_RELU, (float)theta, 0);
  } else if (strcmp(cls, "Softmax") == 0) {
    *out = kc_linear();
    out->softmax = 1;
    const cJSON *axis = kc_get(ctx, obj, "axis");
    if (!axis) {
      out->n_axes = 1;
      out->axes[0] = -1;
    } else {
      KRT_TRY(kc_int_list(ctx, axis, "axis", KRT_MAX_RANK, out->axes, &out->n_axes));
      if (out->n_axes == 0) return kl_unsupported(ctx, "option axis=[] is not supported");
    }
  } else if (strcmp(cls, "Activation") == 0) {
    return kc_activation_parse(ctx, kc_get(ctx, obj, "activation"), out);
  } else {
    *known = 0;
  }
  return NULL;
}

krt_status *kc_activation_parse(const keras_layer_ctx *ctx, const cJSON *spec, kc_activation *out) {
  if (!spec) {
    *out = kc_linear();
    return NULL;
  }
  if (cJSON_IsString(spec)) return activation_by_name(ctx, spec->valuestring, NULL, out);
  if (!cJSON_IsObject(spec)) return kl_bad_file(ctx, "option activation is neither a name nor an object");
  const cJSON *cls = cJSON_GetObjectItemCaseSensitive(spec, "class_name");
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(spec, "config");
  if (!cJSON_IsString(cls)) return kl_bad_file(ctx, "option activation has no class_name");
  /* Keras 3: {"module": "keras.activations", "class_name": "function", "config": "relu"}. */
  if (strcmp(cls->valuestring, "function") == 0) {
    const cJSON *module = cJSON_GetObjectItemCaseSensitive(spec, "module");
    /* "keras.activations", "keras.src.activations.activations", "tf_keras.activations", ... */
    if (cJSON_IsString(module) && !strstr(module->valuestring, "activations"))
      return kl_unsupported(ctx, "custom activation %s.%s is not supported", module->valuestring,
                            cJSON_IsString(cfg) ? cfg->valuestring : "?");
    if (!cJSON_IsString(cfg)) return kl_bad_file(ctx, "option activation has no function name");
    return activation_by_name(ctx, cfg->valuestring, NULL, out);
  }
  /* Never fall back to the layer's own config (obj NULL) for the activation's options. */
  static const cJSON empty = {.type = cJSON_Object};
  const cJSON *options = cJSON_IsObject(cfg) ? cfg : &empty;
  int known = 0;
  KRT_TRY(kc_activation_layer(ctx, cls->valuestring, options, out, &known));
  if (known) return NULL;
  /* A built-in named as a class with options ({"class_name": "gelu", "config": {...}}). */
  return activation_by_name(ctx, cls->valuestring, options, out);
}

krt_status *kc_activation_option(const keras_layer_ctx *ctx, kc_activation *out) {
  return kc_activation_parse(ctx, kc_get(ctx, NULL, "activation"), out);
}
