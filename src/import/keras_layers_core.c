/* Core Keras layers: Dense, activation layers, PReLU, training-only layers, Flatten, Reshape,
 * Permute, Embedding, Rescaling, Normalization. Formulas follow keras/src/layers/... (Keras 3),
 * tf_keras/src/layers/... (Keras 2) and Keras 1.2's keras/layers/core.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

/* Keras 3 LoRA (lora_rank, lora_alpha, default lora_rank): Keras computes with the weight
 * W [rows, cols] + (lora_alpha / lora_rank) * A @ B, A [rows, rank], B [rank, cols]. The .keras
 * writer saves the merged W alone; the legacy .h5 writer saves W and, after the layer's other
 * weights, A and B (lora_kernel_a/b, lora_embeddings_a/b). *n_lora: how many weight arrays the
 * file adds (0 or 2). */
static krt_status *lora_options(const keras_layer_ctx *ctx, int base_weights, int *rank,
                                double *scale, int *n_lora) {
  double alpha;
  KRT_TRY(kc_int(ctx, NULL, "lora_rank", 0, rank));
  KRT_TRY(kc_float(ctx, NULL, "lora_alpha", *rank, &alpha));
  if (*rank < 0) return kl_bad_file(ctx, "option lora_rank=%d is negative", *rank);
  *scale = *rank > 0 ? alpha / *rank : 0.0;
  *n_lora = *rank > 0 && ctx->n_weights == base_weights + 2 ? 2 : 0;
  return NULL;
}

/* Index of the weight whose last path component (":0" dropped) is short, or -1. Keras 3's legacy
 * .h5 writer lists a LoRA layer's weights as layer.weights orders them once enable_lora re-tracked
 * them (bias, lora_kernel_a, lora_kernel_b, kernel), so they are found by name. */
static int weight_named(const keras_layer_ctx *ctx, const char *short_name) {
  size_t n = strlen(short_name);
  for (int i = 0; i < ctx->n_weights; i++) {
    const char *name = ctx->weights[i].name;
    if (!name) continue;
    const char *slash = strrchr(name, '/');
    const char *last = slash ? slash + 1 : name;
    if (strncmp(last, short_name, n) == 0 && (last[n] == '\0' || last[n] == ':')) return i;
  }
  return -1;
}

/* The indices of the base weights and of A and B in a file that holds a LoRA adapter. */
static krt_status *lora_indices(const keras_layer_ctx *ctx, const char *const *names, int count,
                                int *index) {
  for (int i = 0; i < count; i++) {
    index[i] = weight_named(ctx, names[i]);
    if (index[i] < 0)
      return kl_unsupported(ctx, "option lora_rank: no weight named %s among the %d saved",
                            names[i], ctx->n_weights);
  }
  return NULL;
}

/* A copy of weight w [rows, cols] with the LoRA update of weights a and b merged in. */
static krt_status *merge_lora(const keras_layer_ctx *ctx, int w, int a, int b, int rank,
                              double scale, float **out) {
  const keras_array *W = &ctx->weights[w];
  int64_t rows = W->dims[0], cols = W->dims[1];
  int64_t adims[2] = {rows, rank}, bdims[2] = {rank, cols};
  KRT_TRY(kl_expect_weight(ctx, a, "lora_a", 2, adims));
  KRT_TRY(kl_expect_weight(ctx, b, "lora_b", 2, bdims));
  const float *A = ctx->weights[a].data, *B = ctx->weights[b].data;
  float *m = malloc((size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof *m);
  if (!m) return krt_error_oom("LoRA merge");
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      double acc = 0.0;
      for (int r = 0; r < rank; r++) acc += (double)A[i * rank + r] * B[(int64_t)r * cols + j];
      m[i * cols + j] = (float)(W->data[i * cols + j] + scale * acc);
    }
  *out = m;
  return NULL;
}

/* Dense (Keras 2/3: units, use_bias; Keras 1: output_dim, bias): y = act(x @ W + b) over the last
 * axis of an input of any rank. Weights: kernel [K, units], bias [units]. */
krt_status *kl_convert_dense(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  KRT_TRY(kl_expect_rank(ctx, x, 2, KRT_MAX_RANK));
  if (kc_get(ctx, NULL, "quantization_config"))
    return kl_unsupported(ctx, "option quantization_config is not supported");
  int units, use_bias;
  KRT_TRY(kc_int(ctx, NULL, kc_has(ctx, "units") ? "units" : "output_dim", -1, &units));
  KRT_TRY(kc_bool(ctx, NULL, kc_has(ctx, "use_bias") ? "use_bias" : "bias", 1, &use_bias));
  kc_activation act;
  KRT_TRY(kc_activation_option(ctx, &act));
  const ir_value *xv = kl_value(ctx, x);
  int64_t k = xv->dims[xv->rank - 1];
  int base = use_bias ? 2 : 1, lora_rank, n_lora;
  double lora_scale;
  KRT_TRY(lora_options(ctx, base, &lora_rank, &lora_scale, &n_lora));
  KRT_TRY(kl_expect_weights(ctx, base, base + n_lora));
  int w[4] = {0, 1, -1, -1}; /* kernel, bias, lora_kernel_a, lora_kernel_b */
  if (n_lora) {
    static const char *const with_bias[4] = {"kernel", "bias", "lora_kernel_a", "lora_kernel_b"};
    static const char *const no_bias[3] = {"kernel", "lora_kernel_a", "lora_kernel_b"};
    int found[4];
    KRT_TRY(lora_indices(ctx, use_bias ? with_bias : no_bias, base + 2, found));
    w[0] = found[0];
    w[1] = use_bias ? found[1] : -1;
    w[2] = found[base];
    w[3] = found[base + 1];
  }
  int64_t kdims[2] = {k, units};
  KRT_TRY(kl_expect_weight(ctx, w[0], "kernel", 2, kdims));
  units = (int)ctx->weights[w[0]].dims[1];
  int ins[3] = {x, -1, -1};
  kdims[0] = ctx->weights[w[0]].dims[0];
  if (n_lora) {
    float *merged = NULL;
    KRT_TRY(merge_lora(ctx, w[0], w[2], w[3], lora_rank, lora_scale, &merged));
    KRT_TRY(kl_const(ctx, "kernel", 2, kdims, merged, &ins[1]));
  } else {
    KRT_TRY(kl_const_copy(ctx, "kernel", 2, kdims, ctx->weights[w[0]].data, &ins[1]));
  }
  if (use_bias) {
    int64_t bdims[1] = {units};
    KRT_TRY(kl_expect_weight(ctx, w[1], "bias", 1, bdims));
    KRT_TRY(kl_const_copy(ctx, "bias", 1, bdims, ctx->weights[w[1]].data, &ins[2]));
  }
  ir_attrs a = kl_attrs();
  a.act = act.act;
  int y;
  KRT_TRY(kl_emit(ctx, IR_OP_DENSE, NULL, ins, use_bias ? 3 : 2, &a, &y));
  return kl_apply_softmax(ctx, y, &act, out);
}

/* Activation, ReLU, LeakyReLU, ELU, Softmax, ThresholdedReLU: one elementwise or softmax node. */
krt_status *kl_convert_activation(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  kc_activation act;
  int known = 0;
  KRT_TRY(kc_activation_layer(ctx, ctx->class_name, NULL, &act, &known));
  if (!known) return kl_unsupported(ctx, "layer class %s is not supported", ctx->class_name);
  return kl_apply_activation(ctx, ctx->inputs[0], &act, NULL, out);
}

/* PReLU: y = x >= 0 ? x : alpha * x, alpha of shape input_shape[1:] with 1 on shared_axes (as
 * saved, so the weight's own shape already says which axes are shared). */
krt_status *kl_convert_prelu(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  const ir_value *xv = kl_value(ctx, x);
  KRT_TRY(kl_expect_rank(ctx, x, 2, KRT_MAX_RANK));
  KRT_TRY(kl_expect_weights(ctx, 1, 1));
  int64_t dims[KRT_MAX_RANK];
  for (int i = 1; i < xv->rank; i++) dims[i - 1] = -1;
  KRT_TRY(kl_expect_weight(ctx, 0, "alpha", xv->rank - 1, dims));
  const keras_array *w = &ctx->weights[0];
  for (int i = 1; i < xv->rank; i++)
    if (w->dims[i - 1] != 1 && xv->dims[i] >= 0 && w->dims[i - 1] != xv->dims[i])
      return kl_bad_file(ctx, "weight alpha does not fit the input's axis %d", i);
  int ins[2] = {x, -1};
  KRT_TRY(kl_const_copy(ctx, "alpha", w->rank, w->dims, w->data, &ins[1]));
  ir_attrs a = kl_attrs();
  return kl_emit(ctx, IR_OP_PRELU, NULL, ins, 2, &a, out);
}

/* Dropout and friends compute nothing at inference. */
krt_status *kl_convert_identity(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  *out = ctx->inputs[0];
  return NULL;
}

/* Per-sample element count of x, or an error naming the layer when a dimension is unknown. */
static krt_status *known_sample_size(const keras_layer_ctx *ctx, int x, int64_t *n) {
  const ir_value *v = kl_value(ctx, x);
  *n = ir_value_sample_elements(v);
  if (*n < 0)
    return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): needs an input of known size", ctx->file,
                     ctx->layer_name, ctx->class_name);
  return NULL;
}

static krt_status *emit_reshape(const keras_layer_ctx *ctx, int x, int rank, const int64_t *shape,
                                const char *part, int *out) {
  ir_attrs a = kl_attrs();
  a.shape_rank = rank;
  for (int i = 0; i < rank; i++) a.shape[i] = shape[i];
  return kl_emit(ctx, IR_OP_RESHAPE, part, &x, 1, &a, out);
}

/* Flatten: [N, d...] -> [N, prod(d)]. channels_first (Keras 2/3 data_format) first moves the
 * channels last, as Keras does, so the order of the features is that of channels_last. */
krt_status *kl_convert_flatten(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  int channels_first;
  KRT_TRY(kc_channels_first(ctx, &channels_first));
  int64_t n;
  KRT_TRY(known_sample_size(ctx, x, &n));
  if (channels_first && kl_value(ctx, x)->rank > 2) KRT_TRY(kl_to_channels_last(ctx, x, &x));
  return emit_reshape(ctx, x, 1, &n, NULL, out);
}

/* Reshape: target_shape excludes the batch; one entry may be -1. */
krt_status *kl_convert_reshape(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  int target[KRT_MAX_RANK], rank = 0;
  const cJSON *t = kc_get(ctx, NULL, "target_shape");
  if (!t) return kl_bad_file(ctx, "option target_shape is missing");
  KRT_TRY(kc_int_list(ctx, t, "target_shape", KRT_MAX_RANK - 1, target, &rank));
  int64_t n;
  KRT_TRY(known_sample_size(ctx, x, &n));
  int64_t shape[KRT_MAX_RANK], known = 1;
  int unknown = -1;
  for (int i = 0; i < rank; i++) {
    shape[i] = target[i];
    if (target[i] == -1 && unknown < 0) unknown = i;
    else if (target[i] < 0) return kl_bad_file(ctx, "option target_shape has a bad entry %d", target[i]);
    else known *= target[i];
  }
  if (unknown >= 0) {
    if (known == 0 || n % known != 0)
      return kl_bad_file(ctx, "option target_shape does not fit %lld elements", (long long)n);
    shape[unknown] = n / known;
  } else if (known != n) {
    return kl_bad_file(ctx, "option target_shape has %lld elements, the input %lld",
                       (long long)known, (long long)n);
  }
  return emit_reshape(ctx, x, rank, shape, NULL, out);
}

/* Permute: dims are 1-based and exclude the batch: perm = [0, dims...]. */
krt_status *kl_convert_permute(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0], rank = kl_value(ctx, x)->rank;
  int dims[KRT_MAX_RANK], n = 0;
  const cJSON *d = kc_get(ctx, NULL, "dims");
  if (!d) return kl_bad_file(ctx, "option dims is missing");
  KRT_TRY(kc_int_list(ctx, d, "dims", KRT_MAX_RANK - 1, dims, &n));
  if (n != rank - 1) return kl_bad_file(ctx, "option dims has %d entries for an input of rank %d", n, rank);
  int perm[KRT_MAX_RANK], seen[KRT_MAX_RANK] = {0};
  perm[0] = 0;
  for (int i = 0; i < n; i++) {
    if (dims[i] < 1 || dims[i] >= rank || seen[dims[i]]++)
      return kl_bad_file(ctx, "option dims is not a permutation of 1..%d", rank - 1);
    perm[i + 1] = dims[i];
  }
  return kl_transpose(ctx, x, perm, NULL, out);
}

/* Embedding: table [input_dim, output_dim]; y[..., :] = table[int(x[...])]. */
krt_status *kl_convert_embedding(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int mask_zero;
  KRT_TRY(kc_bool(ctx, NULL, "mask_zero", 0, &mask_zero));
  /* The mask changes what mask-aware layers downstream compute, not this layer's output. Keras
   * 3 records it (a NotEqual node, handed to the layers that read it: keras_layers_mask.c);
   * Keras 1/2 files do not, so there it is refused. */
  if (mask_zero && ctx->keras_major < 3)
    return kl_unsupported(ctx, "option mask_zero=True is not supported in a Keras %d file, which "
                               "records no mask (Keras 3 files are)",
                          ctx->keras_major);
  int input_dim, output_dim;
  KRT_TRY(kc_int(ctx, NULL, "input_dim", -1, &input_dim));
  KRT_TRY(kc_int(ctx, NULL, "output_dim", -1, &output_dim));
  int lora_rank, n_lora;
  double lora_scale;
  KRT_TRY(lora_options(ctx, 1, &lora_rank, &lora_scale, &n_lora));
  KRT_TRY(kl_expect_weights(ctx, 1, 1 + n_lora));
  int w[3] = {0, 1, 2}; /* embeddings, lora_embeddings_a, lora_embeddings_b */
  if (n_lora) {
    static const char *const names[3] = {"embeddings", "lora_embeddings_a", "lora_embeddings_b"};
    KRT_TRY(lora_indices(ctx, names, 3, w));
  }
  int64_t dims[2] = {input_dim, output_dim};
  KRT_TRY(kl_expect_weight(ctx, w[0], "embeddings", 2, dims));
  int ins[2] = {ctx->inputs[0], -1};
  if (n_lora) {
    float *merged = NULL;
    KRT_TRY(merge_lora(ctx, w[0], w[1], w[2], lora_rank, lora_scale, &merged));
    KRT_TRY(kl_const(ctx, "embeddings", 2, ctx->weights[w[0]].dims, merged, &ins[1]));
  } else {
    KRT_TRY(kl_const_copy(ctx, "embeddings", 2, ctx->weights[0].dims, ctx->weights[0].data,
                          &ins[1]));
  }
  ir_attrs a = kl_attrs();
  return kl_emit(ctx, IR_OP_GATHER, NULL, ins, 2, &a, out);
}

/* ---- constants from config values (Rescaling, Normalization) -------------------------------- */

typedef struct host_array {
  float *data;
  int rank;
  int64_t dims[KRT_MAX_RANK];
} host_array;

/* The shape of a nested JSON list of numbers (a number alone: rank 0). */
static int json_array_shape(const cJSON *item, host_array *a) {
  a->rank = 0;
  while (cJSON_IsArray(item)) {
    if (a->rank == KRT_MAX_RANK) return 0;
    a->dims[a->rank++] = cJSON_GetArraySize(item);
    item = cJSON_GetArrayItem(item, 0);
    if (!item) break;
  }
  return a->rank == 0 ? cJSON_IsNumber(item) : 1;
}

static int json_fill(const cJSON *item, const host_array *a, int depth, float **dst) {
  if (depth == a->rank) {
    if (!cJSON_IsNumber(item)) return 0;
    *(*dst)++ = (float)item->valuedouble;
    return 1;
  }
  if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != a->dims[depth]) return 0;
  for (const cJSON *e = item->child; e; e = e->next)
    if (!json_fill(e, a, depth + 1, dst)) return 0;
  return 1;
}

/* A config value holding numbers: 0.5, [1, 2, 3], nested lists, or Keras 3's serialized numpy
 * array {"class_name": "__numpy__", "config": {"value": [...]}}. */
static krt_status *config_array(const keras_layer_ctx *ctx, const cJSON *item, const char *key,
                                host_array *a) {
  if (cJSON_IsObject(item)) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(item, "config");
    item = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "value") : NULL;
  }
  if (!item || !json_array_shape(item, a)) return kl_bad_file(ctx, "option %s is not numeric", key);
  int64_t n = 1;
  for (int i = 0; i < a->rank; i++) n *= a->dims[i];
  a->data = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!a->data) return krt_error_oom("config array");
  float *p = a->data;
  if (!json_fill(item, a, 0, &p)) {
    free(a->data);
    a->data = NULL;
    return kl_bad_file(ctx, "option %s is not a regular array of numbers", key);
  }
  return NULL;
}

/* Broadcasts src (numpy rules, aligned right) into a new array of shape dims[rank]. */
static krt_status *broadcast_to(const keras_layer_ctx *ctx, const host_array *src, int rank,
                                const int64_t *dims, const char *what, float **out) {
  if (src->rank > rank) return kl_bad_file(ctx, "%s has too many dimensions", what);
  int64_t sd[KRT_MAX_RANK], n = 1;
  for (int i = 0; i < rank; i++) {
    int j = i - (rank - src->rank);
    sd[i] = j >= 0 ? src->dims[j] : 1;
    if (sd[i] != 1 && sd[i] != dims[i]) return kl_bad_file(ctx, "%s does not fit the input", what);
    n *= dims[i];
  }
  float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (!d) return krt_error_oom("constant");
  for (int64_t flat = 0; flat < n; flat++) {
    int64_t rem = flat, s = 0, stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
      int64_t idx = rem % dims[i];
      rem /= dims[i];
      if (sd[i] != 1) s += idx * stride;
      stride *= sd[i];
    }
    d[flat] = src->data[s];
  }
  *out = d;
  return NULL;
}

static krt_status *emit_binary_const(const keras_layer_ctx *ctx, int x, ir_binary_kind kind,
                                     int cid, const char *part, int *out) {
  ir_attrs a = kl_attrs();
  a.binary = kind;
  int ins[2] = {x, cid};
  return kl_emit(ctx, IR_OP_BINARY, part, ins, 2, &a, out);
}

/* Rescaling: y = x * scale + offset (scalars, or lists broadcast against the trailing axes). */
krt_status *kl_convert_rescaling(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  host_array scale = {0}, offset = {0};
  const cJSON *s = kc_get(ctx, NULL, "scale"), *o = kc_get(ctx, NULL, "offset");
  if (!s) return kl_bad_file(ctx, "option scale is missing");
  KRT_TRY(config_array(ctx, s, "scale", &scale));
  krt_status *st = NULL;
  if (o) st = config_array(ctx, o, "offset", &offset);
  int x = ctx->inputs[0], y = x;
  int has_offset = o && offset.data && !(offset.rank == 0 && offset.data[0] == 0.0f);
  if (!st) {
    int64_t one = 1;
    int c;
    st = kl_const(ctx, "scale", scale.rank ? scale.rank : 1, scale.rank ? scale.dims : &one,
                  scale.data, &c);
    scale.data = NULL;
    if (!st) st = emit_binary_const(ctx, y, IR_BINARY_MUL, c, has_offset ? "scale_mul" : NULL, &y);
  }
  if (!st && has_offset) {
    int64_t one = 1;
    int c;
    st = kl_const(ctx, "offset", offset.rank ? offset.rank : 1, offset.rank ? offset.dims : &one,
                  offset.data, &c);
    offset.data = NULL;
    if (!st) st = emit_binary_const(ctx, y, IR_BINARY_ADD, c, NULL, &y);
  }
  free(scale.data);
  free(offset.data);
  if (st) return st;
  *out = y;
  return NULL;
}

/* Normalization: y = (x - mean) / max(sqrt(var), 1e-7) (Keras's backend epsilon), or with invert
 * y = mean + x * max(sqrt(var), 1e-7). mean/var from the weights [mean, variance, count] (adapted)
 * or from the config; both broadcast over the kept axes. Constants are shaped [d1, ...] (the
 * batch axis dropped) with 1 on the reduced axes. */
krt_status *kl_convert_normalization(const keras_layer_ctx *ctx, int variant, int *out) {
  (void)variant;
  KRT_TRY(kl_expect_inputs(ctx, 1, 1));
  int x = ctx->inputs[0];
  const ir_value *xv = kl_value(ctx, x);
  int rank = xv->rank, invert;
  KRT_TRY(kc_bool(ctx, NULL, "invert", 0, &invert));
  int axes[KRT_MAX_RANK], n_axes = 0, keep[KRT_MAX_RANK] = {0};
  const cJSON *axis = kc_get(ctx, NULL, "axis");
  if (axis) KRT_TRY(kc_int_list(ctx, axis, "axis", KRT_MAX_RANK, axes, &n_axes));
  for (int i = 0; i < n_axes; i++) {
    int a;
    KRT_TRY(kl_axis(ctx, axes[i], rank, &a));
    if (a == 0) return kl_unsupported(ctx, "normalizing over the batch axis is not supported");
    keep[a] = 1;
  }
  /* Broadcast shape without the batch axis (rank-1 entries; at least one). */
  int crank = rank > 1 ? rank - 1 : 1;
  int64_t cdims[KRT_MAX_RANK], kept_dims[KRT_MAX_RANK];
  int n_kept = 0;
  cdims[0] = 1;
  for (int i = 1; i < rank; i++) {
    if (keep[i] && xv->dims[i] < 0)
      return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): kept axis %d has an unknown size",
                       ctx->file, ctx->layer_name, ctx->class_name, i);
    cdims[i - 1] = keep[i] ? xv->dims[i] : 1;
    if (keep[i]) kept_dims[n_kept++] = xv->dims[i];
  }
  host_array mean = {0}, var = {0};
  krt_status *st = NULL;
  const cJSON *cm = kc_get(ctx, NULL, "mean"), *cv = kc_get(ctx, NULL, "variance");
  if (cm && cv) {
    /* Config values: a scalar, or rank m <= kept axes laid onto the last m kept axes. */
    KRT_TRY(config_array(ctx, cm, "mean", &mean));
    st = config_array(ctx, cv, "variance", &var);
    if (!st && (mean.rank > n_kept || var.rank != mean.rank))
      st = kl_bad_file(ctx, "options mean/variance do not fit axis");
    if (!st && mean.rank > 0) {
      /* Expand to the kept axes' positions: [1 ... m_dims at the last m kept axes ...]. */
      host_array *arrs[2] = {&mean, &var};
      for (int k = 0; k < 2; k++) {
        host_array e = *arrs[k];
        e.rank = crank;
        for (int i = 0; i < crank; i++) e.dims[i] = 1;
        int m = arrs[k]->rank, seen = 0;
        for (int i = crank - 1; i >= 0 && seen < m; i--)
          if (keep[i + 1]) e.dims[i] = arrs[k]->dims[m - 1 - seen++];
        arrs[k]->rank = e.rank;
        memcpy(arrs[k]->dims, e.dims, sizeof e.dims);
      }
    }
  } else {
    if (ctx->n_weights < 2) {
      return kl_bad_file(ctx, "no mean/variance in the config and %d weight arrays", ctx->n_weights);
    }
    KRT_TRY(kl_expect_weights(ctx, 2, 3));
    KRT_TRY(kl_expect_weight(ctx, 0, "mean", n_kept, kept_dims));
    KRT_TRY(kl_expect_weight(ctx, 1, "variance", n_kept, kept_dims));
    /* The kept axes are in ascending order, so the weights' data is already laid out as cdims. */
    for (int k = 0; k < 2; k++) {
      host_array *h = k ? &var : &mean;
      h->rank = crank;
      memcpy(h->dims, cdims, sizeof cdims);
      int64_t n = 1;
      for (int i = 0; i < crank; i++) n *= cdims[i];
      h->data = malloc((size_t)n * sizeof(float));
      if (!h->data) {
        free(mean.data);
        return krt_error_oom("normalization");
      }
      memcpy(h->data, ctx->weights[k].data, (size_t)n * sizeof(float));
    }
  }
  float *m = NULL, *d = NULL;
  if (!st) st = broadcast_to(ctx, &mean, crank, cdims, "mean", &m);
  if (!st) st = broadcast_to(ctx, &var, crank, cdims, "variance", &d);
  free(mean.data);
  free(var.data);
  if (st) {
    free(m);
    free(d);
    return st;
  }
  int64_t n = 1;
  for (int i = 0; i < crank; i++) n *= cdims[i];
  for (int64_t i = 0; i < n; i++) d[i] = fmaxf(sqrtf(d[i]), 1e-7f);
  int mid, did, y;
  st = kl_const(ctx, "mean", crank, cdims, m, &mid);
  if (st) {
    free(d);
    return st;
  }
  KRT_TRY(kl_const(ctx, "stddev", crank, cdims, d, &did));
  if (invert) {
    KRT_TRY(emit_binary_const(ctx, x, IR_BINARY_MUL, did, "scale", &y));
    return emit_binary_const(ctx, y, IR_BINARY_ADD, mid, NULL, out);
  }
  KRT_TRY(emit_binary_const(ctx, x, IR_BINARY_SUB, mid, "center", &y));
  return emit_binary_const(ctx, y, IR_BINARY_DIV, did, NULL, out);
}
