/* keras_convert_layer: the table from Keras layer class names (every spelling of Keras 1, 2 and
 * 3) to the family converters in keras_layers_*.c, and the node/constant helpers they share.
 *
 * A class name alone does not make a layer Keras's own: krt refuses user code (Lambda layers,
 * custom classes) and calls whose keyword arguments change what the layer computes, before the
 * table is consulted; see check_origin and check_call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_config.h"

typedef struct layer_entry {
  const char *class_name;
  kl_convert_fn convert;
  int variant;
} layer_entry;

static const layer_entry layer_table[] = {
    /* core */
    {"Dense", kl_convert_dense, 0},
    {"EinsumDense", kl_convert_einsum_dense, 0},
    {"TimeDistributedDense", kl_convert_dense, 0}, /* Keras 1: Dense over the last axis */
    {"Activation", kl_convert_activation, 0},
    {"ReLU", kl_convert_activation, 0},
    {"LeakyReLU", kl_convert_activation, 0},
    {"ELU", kl_convert_activation, 0},
    {"Softmax", kl_convert_activation, 0},
    {"ThresholdedReLU", kl_convert_activation, 0},
    {"PReLU", kl_convert_prelu, 0},
    {"Flatten", kl_convert_flatten, 0},
    {"Reshape", kl_convert_reshape, 0},
    {"Permute", kl_convert_permute, 0},
    {"Embedding", kl_convert_embedding, 0},
    {"Rescaling", kl_convert_rescaling, 0},
    {"Normalization", kl_convert_normalization, 0},
    /* the identity at inference */
    {"Dropout", kl_convert_identity, 0},
    {"SpatialDropout1D", kl_convert_identity, 0},
    {"SpatialDropout2D", kl_convert_identity, 0},
    {"SpatialDropout3D", kl_convert_identity, 0},
    {"GaussianNoise", kl_convert_identity, 0},
    {"GaussianDropout", kl_convert_identity, 0},
    {"AlphaDropout", kl_convert_identity, 0},
    {"ActivityRegularization", kl_convert_identity, 0},
    {"Identity", kl_convert_identity, 0},
    /* convolutions (Keras 1 spellings included) */
    {"Conv1D", kl_convert_conv, 1},
    {"Conv2D", kl_convert_conv, 2},
    {"Conv3D", kl_convert_conv, 3},
    {"Convolution1D", kl_convert_conv, 1},
    {"Convolution2D", kl_convert_conv, 2},
    {"AtrousConvolution1D", kl_convert_conv, 1},
    {"AtrousConvolution2D", kl_convert_conv, 2},
    {"DepthwiseConv1D", kl_convert_depthwise_conv, 1},
    {"DepthwiseConv2D", kl_convert_depthwise_conv, 2},
    {"SeparableConv1D", kl_convert_separable_conv, 1},
    {"SeparableConv2D", kl_convert_separable_conv, 2},
    {"SeparableConvolution1D", kl_convert_separable_conv, 1},
    {"SeparableConvolution2D", kl_convert_separable_conv, 2},
    {"Conv1DTranspose", kl_convert_conv_transpose, 1},
    {"Conv2DTranspose", kl_convert_conv_transpose, 2},
    {"Convolution1DTranspose", kl_convert_conv_transpose, 1},
    {"Convolution2DTranspose", kl_convert_conv_transpose, 2},
    {"Conv3DTranspose", kl_convert_conv_transpose, 3},
    /* pooling */
    {"MaxPooling1D", kl_convert_pool, KL_POOL_MAX | 1},
    {"MaxPooling2D", kl_convert_pool, KL_POOL_MAX | 2},
    {"MaxPool1D", kl_convert_pool, KL_POOL_MAX | 1},
    {"MaxPool2D", kl_convert_pool, KL_POOL_MAX | 2},
    {"AveragePooling1D", kl_convert_pool, KL_POOL_AVG | 1},
    {"AveragePooling2D", kl_convert_pool, KL_POOL_AVG | 2},
    {"AvgPool1D", kl_convert_pool, KL_POOL_AVG | 1},
    {"AvgPool2D", kl_convert_pool, KL_POOL_AVG | 2},
    {"MaxPooling3D", kl_convert_pool, KL_POOL_MAX | 3},
    {"MaxPool3D", kl_convert_pool, KL_POOL_MAX | 3},
    {"AveragePooling3D", kl_convert_pool, KL_POOL_AVG | 3},
    {"AvgPool3D", kl_convert_pool, KL_POOL_AVG | 3},
    {"GlobalMaxPooling1D", kl_convert_global_pool, KL_POOL_MAX | 1},
    {"GlobalMaxPooling2D", kl_convert_global_pool, KL_POOL_MAX | 2},
    {"GlobalMaxPool1D", kl_convert_global_pool, KL_POOL_MAX | 1},
    {"GlobalMaxPool2D", kl_convert_global_pool, KL_POOL_MAX | 2},
    {"GlobalAveragePooling1D", kl_convert_global_pool, KL_POOL_AVG | 1},
    {"GlobalAveragePooling2D", kl_convert_global_pool, KL_POOL_AVG | 2},
    {"GlobalAvgPool1D", kl_convert_global_pool, KL_POOL_AVG | 1},
    {"GlobalAvgPool2D", kl_convert_global_pool, KL_POOL_AVG | 2},
    {"GlobalMaxPooling3D", kl_convert_global_pool, KL_POOL_MAX | 3},
    {"GlobalMaxPool3D", kl_convert_global_pool, KL_POOL_MAX | 3},
    {"GlobalAveragePooling3D", kl_convert_global_pool, KL_POOL_AVG | 3},
    {"GlobalAvgPool3D", kl_convert_global_pool, KL_POOL_AVG | 3},
    /* normalization */
    {"BatchNormalization", kl_convert_batchnorm, 0},
    {"LayerNormalization", kl_convert_layernorm, 0},
    /* merging */
    {"Dot", kl_convert_dot, 0},
    {"Add", kl_convert_merge, KL_MERGE_ADD},
    {"Subtract", kl_convert_merge, KL_MERGE_SUB},
    {"Multiply", kl_convert_merge, KL_MERGE_MUL},
    {"Average", kl_convert_merge, KL_MERGE_AVG},
    {"Maximum", kl_convert_merge, KL_MERGE_MAX},
    {"Minimum", kl_convert_merge, KL_MERGE_MIN},
    {"Concatenate", kl_convert_merge, KL_MERGE_CONCAT},
    {"Merge", kl_convert_merge, KL_MERGE_KERAS1},
    /* padding, cropping, upsampling */
    {"ZeroPadding1D", kl_convert_zero_padding, 1},
    {"ZeroPadding2D", kl_convert_zero_padding, 2},
    {"ZeroPadding3D", kl_convert_zero_padding, 3},
    {"Cropping1D", kl_convert_cropping, 1},
    {"Cropping2D", kl_convert_cropping, 2},
    {"Cropping3D", kl_convert_cropping, 3},
    {"UpSampling1D", kl_convert_upsampling, 1},
    {"UpSampling2D", kl_convert_upsampling, 2},
    {"UpSampling3D", kl_convert_upsampling, 3},
    /* keras.applications' own layers (check_origin admits them from their modules only) */
    {"LayerScale", kl_convert_layer_scale, 0},
    {"CustomScaleLayer", kl_convert_custom_scale, 0},
    /* masks for the recurrent layers (keras_layers_mask.c) */
    {"Masking", kl_convert_masking, 0},
    /* compositions of existing ops (keras_layers_compose.c) */
    {"GroupNormalization", kl_convert_group_norm, 0},
    {"UnitNormalization", kl_convert_unit_norm, 0},
    {"RMSNormalization", kl_convert_rms_norm, 0},
    {"RepeatVector", kl_convert_repeat_vector, 0},
    {"CategoryEncoding", kl_convert_category_encoding, 0},
    {"Discretization", kl_convert_discretization, 0},
    {"TimeDistributed", kl_convert_time_distributed, 0},
};

/* Layers whose calls read keyword arguments of their own (they are skipped by check_call, the
 * converter reads or refuses each) and may return several tensors. */
typedef struct multi_layer_entry {
  const char *class_name;
  kl_convert_multi_fn convert;
  int variant;
  const char *const *call_kwargs; /* NULL-terminated */
} multi_layer_entry;

static const char *const attention_kwargs[] = {"return_attention_scores", "use_causal_mask", NULL};
static const char *const mha_kwargs[] = {"query",         "value",      "key",
                                         "query_mask",    "value_mask", "key_mask",
                                         "attention_mask", "return_attention_scores",
                                         "use_causal_mask", NULL};

static const char *const mask_kwarg[] = {"mask", NULL}; /* read by the converter */
static const char *const training_kwarg[] = {"training", NULL};

/* Random augmentation: Keras transforms only when training; at inference every one of these
 * returns its input, whatever its options (checked against Keras 3.15 and tf_keras by the
 * options walk's default cases). Their call's `training` defaults to True, so Keras 3 records
 * training=True in every functional model that holds one, and its predict() overrides the
 * recorded value with training=False (Functional.call hands the model's training to every
 * layer): the identity. tf_keras honours an explicit training=True even in predict(), so there
 * it is refused like everywhere else. RandomCrop is not one of them: tf_keras center-crops at
 * inference, and Keras 3 returns a tensor of another shape than its declared output shape. */
static krt_status *kl_convert_augmentation(const keras_layer_ctx *ctx, int variant, int *outputs,
                                           int *n_outputs) {
  (void)variant;
  const cJSON *training = kl_call_kwarg(ctx, "training");
  if (cJSON_IsTrue(training) && ctx->keras_major != 3)
    return kl_unsupported(ctx, "the call passes training=True, which makes Keras %d apply the "
                               "random augmentation at inference too; krt computes inference "
                               "only: call the layer without training=True",
                          ctx->keras_major);
  *n_outputs = 1;
  return kl_convert_identity(ctx, 0, &outputs[0]);
}

static const multi_layer_entry multi_layer_table[] = {
    {"Bidirectional", kl_convert_bidirectional, 0, mask_kwarg},
    {"Attention", kl_convert_attention, KL_ATTENTION_DOT, attention_kwargs},
    {"AdditiveAttention", kl_convert_attention, KL_ATTENTION_ADDITIVE, attention_kwargs},
    {"MultiHeadAttention", kl_convert_multi_head_attention, 0, mha_kwargs},
    {"GroupQueryAttention", kl_convert_grouped_query_attention, 0, mha_kwargs},
    /* the class's own name, which Keras 3's legacy .h5 writer records */
    {"GroupedQueryAttention", kl_convert_grouped_query_attention, 0, mha_kwargs},
    /* random augmentation, the identity at inference (kl_convert_augmentation) */
    {"RandomBrightness", kl_convert_augmentation, 0, training_kwarg},
    {"RandomColorDegeneration", kl_convert_augmentation, 0, training_kwarg},
    {"RandomColorJitter", kl_convert_augmentation, 0, training_kwarg},
    {"RandomContrast", kl_convert_augmentation, 0, training_kwarg},
    {"RandomElasticTransform", kl_convert_augmentation, 0, training_kwarg},
    {"RandomErasing", kl_convert_augmentation, 0, training_kwarg},
    {"RandomFlip", kl_convert_augmentation, 0, training_kwarg},
    {"RandomGaussianBlur", kl_convert_augmentation, 0, training_kwarg},
    {"RandomGrayscale", kl_convert_augmentation, 0, training_kwarg},
    {"RandomHeight", kl_convert_augmentation, 0, training_kwarg},
    {"RandomHue", kl_convert_augmentation, 0, training_kwarg},
    {"RandomInvert", kl_convert_augmentation, 0, training_kwarg},
    {"RandomPerspective", kl_convert_augmentation, 0, training_kwarg},
    {"RandomPosterization", kl_convert_augmentation, 0, training_kwarg},
    {"RandomRotation", kl_convert_augmentation, 0, training_kwarg},
    {"RandomSaturation", kl_convert_augmentation, 0, training_kwarg},
    {"RandomSharpness", kl_convert_augmentation, 0, training_kwarg},
    {"RandomShear", kl_convert_augmentation, 0, training_kwarg},
    {"RandomTranslation", kl_convert_augmentation, 0, training_kwarg},
    {"RandomWidth", kl_convert_augmentation, 0, training_kwarg},
    {"RandomZoom", kl_convert_augmentation, 0, training_kwarg},
    {"AugMix", kl_convert_augmentation, 0, training_kwarg},
    {"CutMix", kl_convert_augmentation, 0, training_kwarg},
    {"MixUp", kl_convert_augmentation, 0, training_kwarg},
    {"RandAugment", kl_convert_augmentation, 0, training_kwarg},
    /* recurrent (keras_layers_recurrent.c): return_state gives the final states too */
    {"SimpleRNN", kl_convert_recurrent, 0, mask_kwarg},
    {"LSTM", kl_convert_recurrent, 0, mask_kwarg},
    {"GRU", kl_convert_recurrent, 0, mask_kwarg},
    {"CuDNNLSTM", kl_convert_recurrent, 0, mask_kwarg},
    {"CuDNNGRU", kl_convert_recurrent, 0, mask_kwarg},
    /* image preprocessing whose result does not depend on training (keras_layers_compose.c) */
    {"CenterCrop", kl_convert_center_crop, 0, training_kwarg},
    {"Resizing", kl_convert_resizing, 0, training_kwarg},
};

/* Classes that keras.applications defines in its own modules and saves into its models. */
typedef struct application_layer {
  const char *class_name;
  const char *module;
} application_layer;

static const application_layer application_layers[] = {
    {"LayerScale", "keras.src.applications.convnext"},
    {"CustomScaleLayer", "keras.src.applications.inception_resnet_v2"},
};

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define USER_CODE_ADVICE                                                                      \
  "its Python code is not in the file and krt never runs it; rebuild the model from Keras's " \
  "built-in layers and keras.ops calls"

/* Where the layer's class comes from. Keras 3 entries say it: Keras's own layers carry module
 * "keras.layers" and registered_name null (keras/src/saving/serialization_lib.py,
 * serialize_with_public_class: the public keras.* name of the class); a class outside Keras
 * carries its Python module (null for __main__) and its registered name ("Package>Name" when
 * registered with keras.saving.register_keras_serializable, else the class name), and Keras
 * loads it from that code, whatever its class name, so a custom class named "Dense" is not
 * Dense. HDF5 files record no module: their class names are all there is, and a registered class
 * is spelled "Package>Name" there. */
static krt_status *check_origin(const keras_layer_ctx *ctx) {
  const char *cls = ctx->class_name ? ctx->class_name : "";
  const char *module = ctx->module, *registered = ctx->registered_name;
  if (strchr(cls, '>'))
    return kl_unsupported(
        ctx,
        "layer class %s is a custom class registered with "
        "keras.saving.register_keras_serializable, not a Keras built-in: " USER_CODE_ADVICE,
        cls);
  if (!module && !registered) return NULL; /* HDF5 (or a hand-written config): by class name */
  if (module && !registered &&
      (strcmp(module, "keras.layers") == 0 || starts_with(module, "keras.layers.")))
    return NULL;
  if (module && starts_with(module, "keras.src.layers.") &&
      (!registered || strcmp(registered, cls) == 0))
    return NULL; /* a Keras layer class without a public name */
  for (size_t i = 0; i < sizeof application_layers / sizeof *application_layers; i++)
    if (module && strcmp(cls, application_layers[i].class_name) == 0 &&
        strcmp(module, application_layers[i].module) == 0 &&
        (!registered || strcmp(registered, cls) == 0))
      return NULL;
  if (registered && strchr(registered, '>'))
    return kl_unsupported(ctx,
                          "layer class %s is the custom class registered as '%s' (module %s), "
                          "not a Keras built-in: " USER_CODE_ADVICE,
                          cls, registered, module ? module : "none recorded");
  return kl_unsupported(ctx,
                        "layer class %s is user code, not a Keras built-in (module %s, registered "
                        "name '%s'): " USER_CODE_ADVICE,
                        cls, module ? module : "none: defined in the script that saved the model",
                        registered ? registered : cls);
}

/* ---- the call's arguments ------------------------------------------------------------------ */

/* Keras 3: {"class_name": "__keras_tensor__", ...}; Keras 1/2: [layer, node, tensor]. */
static int is_tensor_ref(const cJSON *j, int keras3) {
  if (keras3) {
    const cJSON *c = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "class_name") : NULL;
    return cJSON_IsString(c) && strcmp(c->valuestring, "__keras_tensor__") == 0;
  }
  int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 0;
  return (n == 3 || n == 4) && cJSON_IsString(cJSON_GetArrayItem(j, 0)) &&
         cJSON_IsNumber(cJSON_GetArrayItem(j, 1)) && cJSON_IsNumber(cJSON_GetArrayItem(j, 2));
}

/* A tensor, or a non-empty (nested) list of tensors: what the wiring passes as inputs. */
static int is_tensor_arg(const cJSON *j, int keras3) {
  if (is_tensor_ref(j, keras3)) return 1;
  if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) == 0) return 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, j) if (!is_tensor_arg(item, keras3)) return 0;
  return 1;
}

/* The JSON of an argument, shortened, for messages. */
static void describe_json(const cJSON *j, char *buf, size_t size) {
  char *text = cJSON_PrintUnformatted(j);
  snprintf(buf, size, "%s", text ? text : "?");
  if (text && strlen(text) >= size && size > 4) memcpy(buf + size - 4, "...", 4);
  cJSON_free(text);
}

/* One keyword argument of a layer call. Real Keras writes "training" (false or null unless the
 * model passes training=True), "mask" (null, or the mask tensor that Embedding(mask_zero=True),
 * Masking or an explicit mask=... hands on) and tensors passed by keyword ("inputs"). */
static krt_status *check_call_kwarg(const keras_layer_ctx *ctx, const cJSON *kw, int keras3,
                                    const char *const *own) {
  const char *key = kw->string ? kw->string : "?";
  if (cJSON_IsNull(kw)) return NULL; /* the default of every keyword Keras writes */
  for (int i = 0; own && own[i]; i++)
    if (strcmp(own[i], key) == 0) return NULL; /* the converter reads it */
  if (strcmp(key, "training") == 0) {
    if (cJSON_IsFalse(kw)) return NULL;
    if (cJSON_IsTrue(kw))
      return kl_unsupported(ctx,
                            "the call passes training=True, which makes Keras compute the layer "
                            "as in training (dropout applied, batch statistics); krt computes "
                            "inference only: call the layer without training=True");
  } else if (strcmp(key, "mask") == 0) {
    return kl_unsupported(ctx,
                          "the call passes a mask (keyword argument mask), which changes the "
                          "result; krt applies masks in recurrent layers only");
  } else if (is_tensor_arg(kw, keras3)) {
    return NULL; /* an input, wired and counted like a positional one */
  }
  char value[96];
  describe_json(kw, value, sizeof value);
  return kl_unsupported(ctx, "keyword argument %s=%s of the call is not supported", key, value);
}

/* The arguments of this call (ctx->call, as written: Keras 3 {"args", "kwargs"}; Keras 1/2
 * [[layer, node, tensor, {kwargs}], ...]) other than its tensors, which must not change what the
 * layer computes. Sequential models record no calls. */
static krt_status *check_call(const keras_layer_ctx *ctx, const char *const *own) {
  const cJSON *call = ctx->call, *item;
  if (cJSON_IsObject(call)) {
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(call, "args");
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(call, "kwargs");
    int i = 0;
    cJSON_ArrayForEach(item, args) {
      if (!is_tensor_arg(item, 1)) {
        char value[96];
        describe_json(item, value, sizeof value);
        return kl_unsupported(ctx, "positional argument %d of the call is not a tensor: %s", i,
                              value);
      }
      i++;
    }
    cJSON_ArrayForEach(item, kwargs) KRT_TRY(check_call_kwarg(ctx, item, 1, own));
  } else if (cJSON_IsArray(call)) {
    cJSON_ArrayForEach(item, call) {
      const cJSON *kwargs = cJSON_IsArray(item) ? cJSON_GetArrayItem(item, 3) : NULL, *kw;
      if (!cJSON_IsObject(kwargs)) continue;
      cJSON_ArrayForEach(kw, kwargs) KRT_TRY(check_call_kwarg(ctx, kw, 0, own));
    }
  }
  return NULL;
}

int keras_is_input_class(const char *class_name) {
  return class_name && strcmp(class_name, "InputLayer") == 0;
}

int keras_is_model_class(const char *class_name) {
  return class_name && (strcmp(class_name, "Sequential") == 0 ||
                        strcmp(class_name, "Functional") == 0 || strcmp(class_name, "Model") == 0);
}

const cJSON *kl_call_kwarg(const keras_layer_ctx *ctx, const char *name) {
  const cJSON *call = ctx->call, *item, *kw = NULL;
  if (cJSON_IsObject(call)) {
    kw = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(call, "kwargs"), name);
  } else if (cJSON_IsArray(call)) {
    cJSON_ArrayForEach(item, call) {
      const cJSON *kwargs = cJSON_IsArray(item) ? cJSON_GetArrayItem(item, 3) : NULL;
      kw = cJSON_IsObject(kwargs) ? cJSON_GetObjectItemCaseSensitive(kwargs, name) : NULL;
      if (kw && !cJSON_IsNull(kw)) break;
    }
  }
  return kw && !cJSON_IsNull(kw) ? kw : NULL;
}

krt_status *keras_convert_layer(const keras_layer_ctx *ctx, int *output) {
  int outs[KERAS_MAX_OP_OUTPUTS], n = 0;
  KRT_TRY(keras_convert_layer_outputs(ctx, outs, &n));
  *output = outs[0];
  return NULL;
}

krt_status *keras_convert_layer_outputs(const keras_layer_ctx *ctx, int *outputs, int *n_outputs) {
  const char *cls = ctx->class_name ? ctx->class_name : "";
  *n_outputs = 1;
  outputs[0] = -1;
  KRT_TRY(check_origin(ctx));
  if (strcmp(cls, "Lambda") == 0)
    return kl_unsupported(ctx,
                          "a Lambda layer holds Python code (its function, saved as bytecode or "
                          "by name), which krt never runs; rebuild the model with built-in layers "
                          "or keras.ops calls in place of the Lambda");
  for (size_t i = 0; i < sizeof layer_table / sizeof *layer_table; i++) {
    if (strcmp(layer_table[i].class_name, cls) != 0) continue;
    if (ctx->n_inputs < 1) return kl_bad_file(ctx, "the layer is called on no input");
    KRT_TRY(kc_check_dtype_policy(ctx));
    KRT_TRY(check_call(ctx, NULL));
    return layer_table[i].convert(ctx, layer_table[i].variant, &outputs[0]);
  }
  for (size_t i = 0; i < sizeof multi_layer_table / sizeof *multi_layer_table; i++) {
    const multi_layer_entry *e = &multi_layer_table[i];
    if (strcmp(e->class_name, cls) != 0) continue;
    if (ctx->n_inputs < 1) return kl_bad_file(ctx, "the layer is called on no input");
    KRT_TRY(kc_check_dtype_policy(ctx));
    KRT_TRY(check_call(ctx, e->call_kwargs));
    return e->convert(ctx, e->variant, outputs, n_outputs);
  }
  return kl_unsupported(ctx, "layer class %s is not supported", cls);
}

/* ---- emitting ------------------------------------------------------------------------------ */

ir_attrs kl_attrs(void) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

const ir_value *kl_value(const keras_layer_ctx *ctx, int id) { return &ctx->graph->values[id]; }

/* "layer" or "layer/part", malloc'd. */
static char *part_name(const keras_layer_ctx *ctx, const char *part) {
  const char *layer = ctx->layer_name ? ctx->layer_name : "layer";
  size_t n = strlen(layer) + (part ? strlen(part) + 1 : 0) + 1;
  char *s = malloc(n);
  if (!s) return NULL;
  if (part) snprintf(s, n, "%s/%s", layer, part);
  else snprintf(s, n, "%s", layer);
  return s;
}

krt_status *kl_emit(const keras_layer_ctx *ctx, ir_op op, const char *part, const int *inputs,
                    int n_inputs, const ir_attrs *attrs, int *out) {
  char *name = part_name(ctx, part);
  if (!name) return krt_error_oom("node name");
  krt_status *s = ir_emit(ctx->graph, op, name, ctx->layer_index, inputs, n_inputs, attrs, out);
  free(name);
  return krt_error_wrap(s, "%s: layer '%s' (%s): ", ctx->file ? ctx->file : "?", ctx->layer_name,
                        ctx->class_name);
}

krt_status *kl_emit_outputs(const keras_layer_ctx *ctx, ir_op op, const char *part,
                            const int *inputs, int n_inputs, const ir_attrs *attrs, int n_outputs,
                            int *outs) {
  char *name = part_name(ctx, part);
  if (!name) return krt_error_oom("node name");
  krt_status *s = ir_emit_outputs(ctx->graph, op, name, ctx->layer_index, inputs, n_inputs, attrs,
                                  n_outputs, outs);
  free(name);
  return krt_error_wrap(s, "%s: layer '%s' (%s): ", ctx->file ? ctx->file : "?", ctx->layer_name,
                        ctx->class_name);
}

krt_status *kl_const(const keras_layer_ctx *ctx, const char *part, int rank, const int64_t *dims,
                     float *data, int *id) {
  char *name = part_name(ctx, part);
  if (!name) {
    free(data);
    return krt_error_oom("constant name");
  }
  if (ctx->call_index > 0) { /* a shared layer: its first call made the same constant */
    int v = ir_find_value(ctx->graph, name);
    const ir_value *val = v >= 0 ? &ctx->graph->values[v] : NULL;
    if (val && val->data && val->producer < 0 && val->rank == rank &&
        memcmp(val->dims, dims, (size_t)rank * sizeof *dims) == 0) {
      free(name);
      free(data);
      *id = v;
      return NULL;
    }
  }
  krt_status *s = ir_add_const(ctx->graph, name, rank, dims, data, id);
  free(name);
  return s;
}

krt_status *kl_const_copy(const keras_layer_ctx *ctx, const char *part, int rank,
                          const int64_t *dims, const float *data, int *id) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  float *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
  if (!copy) return krt_error_oom("constant");
  if (n > 0) memcpy(copy, data, (size_t)n * sizeof *copy);
  return kl_const(ctx, part, rank, dims, copy, id);
}

krt_status *kl_const_fill(const keras_layer_ctx *ctx, const char *part, int64_t count, float value,
                          int *id) {
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof *data);
  if (!data) return krt_error_oom("constant");
  for (int64_t i = 0; i < count; i++) data[i] = value;
  return kl_const(ctx, part, 1, &count, data, id);
}

krt_status *kl_transpose(const keras_layer_ctx *ctx, int x, const int *perm, const char *part,
                         int *out) {
  ir_attrs a = kl_attrs();
  int rank = kl_value(ctx, x)->rank;
  for (int i = 0; i < rank; i++) a.perm[i] = perm[i];
  return kl_emit(ctx, IR_OP_TRANSPOSE, part, &x, 1, &a, out);
}

krt_status *kl_to_channels_last(const keras_layer_ctx *ctx, int x, int *out) {
  int rank = kl_value(ctx, x)->rank, perm[KRT_MAX_RANK];
  perm[0] = 0;
  for (int i = 1; i < rank - 1; i++) perm[i] = i + 1;
  perm[rank - 1] = 1;
  KRT_TRY(kl_transpose(ctx, x, perm, "to_channels_last", out));
  ctx->graph->values[*out].layout = IR_LAYOUT_CHANNELS_LAST;
  return NULL;
}

krt_status *kl_to_channels_first(const keras_layer_ctx *ctx, int x, int *out) {
  int rank = kl_value(ctx, x)->rank, perm[KRT_MAX_RANK];
  perm[0] = 0;
  perm[1] = rank - 1;
  for (int i = 2; i < rank; i++) perm[i] = i - 1;
  KRT_TRY(kl_transpose(ctx, x, perm, "to_channels_first", out));
  ctx->graph->values[*out].layout = IR_LAYOUT_CHANNELS_FIRST;
  return NULL;
}

static krt_status *emit_softmax(const keras_layer_ctx *ctx, int x, const kc_activation *a,
                                const char *part, int *out) {
  int rank = kl_value(ctx, x)->rank;
  int used[KRT_MAX_RANK] = {0};
  for (int i = 0; i < a->n_axes; i++) {
    int axis;
    KRT_TRY(kl_axis(ctx, a->axes[i], rank, &axis));
    if (axis == 0 && kl_value(ctx, x)->batched)
      return kl_unsupported(ctx, "softmax over the batch axis is not supported");
    used[axis] = 1;
  }
  ir_attrs attrs = kl_attrs();
  for (int i = 0; i < rank; i++)
    if (used[i]) attrs.axes[attrs.n_axes++] = i;
  return kl_emit(ctx, a->softmax == 2 ? IR_OP_LOG_SOFTMAX : IR_OP_SOFTMAX, part, &x, 1, &attrs, out);
}

krt_status *kl_apply_activation(const keras_layer_ctx *ctx, int x, const kc_activation *a,
                                const char *part, int *out) {
  int y = x;
  if (a->act.kind != IR_ACT_NONE) {
    ir_attrs attrs = kl_attrs();
    attrs.act = a->act;
    KRT_TRY(kl_emit(ctx, IR_OP_ACTIVATION, part, &y, 1, &attrs, &y));
    part = "softmax";
  }
  if (a->softmax) KRT_TRY(emit_softmax(ctx, y, a, part, &y));
  *out = y;
  return NULL;
}

krt_status *kl_apply_softmax(const keras_layer_ctx *ctx, int x, const kc_activation *a, int *out) {
  if (!a->softmax) {
    *out = x;
    return NULL;
  }
  return emit_softmax(ctx, x, a, "softmax", out);
}

/* ---- inputs and weights -------------------------------------------------------------------- */

krt_status *kl_expect_inputs(const keras_layer_ctx *ctx, int min, int max) {
  if (ctx->n_inputs < min || ctx->n_inputs > max) {
    if (min == max)
      return kl_bad_file(ctx, "the layer takes %d input%s, it is called on %d", min,
                         min == 1 ? "" : "s", ctx->n_inputs);
    return kl_bad_file(ctx, "the layer takes %d to %d inputs, it is called on %d", min, max,
                       ctx->n_inputs);
  }
  return NULL;
}

krt_status *kl_expect_rank(const keras_layer_ctx *ctx, int x, int min, int max) {
  int rank = kl_value(ctx, x)->rank;
  if (rank < min || rank > max) {
    char dims[128];
    ir_format_dims(kl_value(ctx, x)->dims, rank, dims, sizeof dims);
    if (min == max)
      return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): expects an input of rank %d, got %s",
                       ctx->file, ctx->layer_name, ctx->class_name, min, dims);
    return krt_error(KRT_ERR_SHAPE, "%s: layer '%s' (%s): expects an input of rank %d to %d, got %s",
                     ctx->file, ctx->layer_name, ctx->class_name, min, max, dims);
  }
  return NULL;
}

krt_status *kl_expect_weights(const keras_layer_ctx *ctx, int min, int max) {
  if (ctx->n_weights < min || ctx->n_weights > max) {
    if (min == max)
      return kl_bad_file(ctx, "expected %d weight arrays, the file has %d", min, ctx->n_weights);
    return kl_bad_file(ctx, "expected %d to %d weight arrays, the file has %d", min, max,
                       ctx->n_weights);
  }
  return NULL;
}

static void format_shape(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t used = 0;
  used += (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < rank && used < size; i++) {
    if (dims[i] < 0) used += (size_t)snprintf(buf + used, size - used, "%s?", i ? ", " : "");
    else used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)dims[i]);
  }
  if (used < size) snprintf(buf + used, size - used, ")");
}

krt_status *kl_expect_weight(const keras_layer_ctx *ctx, int i, const char *what, int rank,
                             const int64_t *dims) {
  if (i >= ctx->n_weights) return kl_bad_file(ctx, "weight %s is missing", what);
  const keras_array *w = &ctx->weights[i];
  int ok = w->rank == rank && w->data != NULL;
  for (int d = 0; ok && d < rank; d++)
    if (dims[d] >= 0 && w->dims[d] != dims[d]) ok = 0;
  if (!ok) {
    char want[160], got[160];
    format_shape(dims, rank, want, sizeof want);
    format_shape(w->dims, w->rank, got, sizeof got);
    return kl_bad_file(ctx, "weight %s ('%s') has shape %s, expected %s", what,
                       w->name ? w->name : "?", got, want);
  }
  return NULL;
}

krt_status *kl_axis(const keras_layer_ctx *ctx, int axis, int rank, int *out) {
  int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    return kl_bad_file(ctx, "axis %d is out of range for an input of rank %d", axis, rank);
  *out = a;
  return NULL;
}
