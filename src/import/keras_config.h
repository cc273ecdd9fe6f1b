/* Helpers shared by the Keras layer converters (keras_layers*.c): reading a layer's config with
 * the spellings of Keras 1, 2 and 3, making errors that name the file, layer and class, and
 * emitting IR nodes and constants named after the layer.
 *
 * Config readers take the JSON object to read (NULL: the layer's own config, ctx->config). A key
 * that is absent or JSON null gives the default; a value of the wrong type is KRT_ERR_BAD_FILE.
 */
#ifndef KRT_IMPORT_KERAS_CONFIG_H
#define KRT_IMPORT_KERAS_CONFIG_H

#include "core/status.h"
#include "import/keras_internal.h"

/* ---- errors: "FILE: layer 'NAME' (CLASS): <message>" --------------------------------------- */

krt_status *kl_error(const keras_layer_ctx *ctx, krt_code code, const char *fmt, ...)
    KRT_PRINTF(3, 4);
#define kl_unsupported(ctx, ...) kl_error((ctx), KRT_ERR_UNSUPPORTED, __VA_ARGS__)
#define kl_bad_file(ctx, ...) kl_error((ctx), KRT_ERR_BAD_FILE, __VA_ARGS__)

/* ---- config -------------------------------------------------------------------------------- */

/* The member `key` of obj (NULL: ctx->config), or NULL when absent or JSON null. */
const cJSON *kc_get(const keras_layer_ctx *ctx, const cJSON *obj, const char *key);
int kc_has(const keras_layer_ctx *ctx, const char *key);  /* present and not null in ctx->config */

krt_status *kc_int(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, int def, int *out);
krt_status *kc_float(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, double def,
                     double *out);
krt_status *kc_bool(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, int def,
                    int *out);
/* *out points into the JSON (or is def). */
krt_status *kc_string(const keras_layer_ctx *ctx, const cJSON *obj, const char *key,
                      const char *def, const char **out);

/* Refuses (KRT_ERR_UNSUPPORTED, naming the option) every non-null key of the layer's config other
 * than the base Layer keys, which do not change what a layer computes at inference (name,
 * trainable, dtype (kc_check_dtype_policy reads it), activity_regularizer, batch_input_shape,
 * batch_shape), and the NULL-terminated list `known`. For layers whose every option is read. */
krt_status *kc_refuse_unknown_keys(const keras_layer_ctx *ctx, const char *const *known);

/* An int or a list of n ints (Keras's standardize_tuple): "kernel_size": 3 or [3, 3]. */
krt_status *kc_int_tuple(const keras_layer_ctx *ctx, const cJSON *obj, const char *key, int n,
                         int def, int *out);
/* A JSON value that must be a list of ints (any length up to max); *n gets the length. An int
 * alone counts as a list of one. */
krt_status *kc_int_list(const keras_layer_ctx *ctx, const cJSON *item, const char *what, int max,
                        int *out, int *n);

/* Whether the layer computes channels_first: Keras 2/3 data_format "channels_first", Keras 1
 * dim_ordering "th" ("default" means the backend's: th for theano). Absent: channels_last. */
krt_status *kc_channels_first(const keras_layer_ctx *ctx, int *channels_first);

typedef enum kc_padding {
  KC_PAD_VALID = 1,
  KC_PAD_SAME = 2,
  KC_PAD_CAUSAL = 4, /* Conv1D: pad d*(k-1) at the start only */
  KC_PAD_FULL = 8    /* Keras 1 (Theano) border_mode 'full': pad d*(k-1) at both ends */
} kc_padding;
/* "padding" (Keras 2/3) or "border_mode" (Keras 1), case-insensitive; `allowed` is a mask of
 * kc_padding values; anything else is unsupported. */
krt_status *kc_padding_mode(const keras_layer_ctx *ctx, int allowed, kc_padding *out);

/* TensorFlow's padding of one spatial axis of a forward conv or pool: in, window k, stride s,
 * dilation d. in < 0 (unknown) is accepted only when the result does not depend on it. */
krt_status *kc_conv_padding(const keras_layer_ctx *ctx, kc_padding mode, int64_t in, int k, int s,
                            int d, int64_t *begin, int64_t *end);

/* Whether the conv kernels of this layer were trained under Theano, which computes a true
 * convolution (kernel spatially flipped relative to TensorFlow's cross-correlation): the file
 * says backend "theano", or it is a Keras 1 file that records no backend and the layer uses
 * dim_ordering 'th' (Theano's ordering; Keras 1 files made under TensorFlow used 'tf'). */
int kc_theano_kernels(const keras_layer_ctx *ctx);

/* A reduced-precision or quantized dtype policy that krt would not reproduce exactly. */
krt_status *kc_check_dtype_policy(const keras_layer_ctx *ctx);

/* ---- activations --------------------------------------------------------------------------- */

typedef struct kc_activation {
  ir_activation act; /* the elementwise part (IR_ACT_NONE: linear) */
  int softmax;       /* 0: none; 1: softmax; 2: log_softmax, over `axes` jointly */
  int n_axes;
  int axes[KRT_MAX_RANK]; /* as written in Keras (may be negative); resolved when applied */
} kc_activation;

kc_activation kc_linear(void);
/* A Keras activation spec: NULL/"linear", a name ("relu", "gelu", ...), a Keras 3 serialized
 * function {"class_name": "function", "config": "relu"} or an activation layer object
 * {"class_name": "ReLU", "config": {...}}. */
krt_status *kc_activation_parse(const keras_layer_ctx *ctx, const cJSON *spec, kc_activation *out);
/* The "activation" key of the layer's config. */
krt_status *kc_activation_option(const keras_layer_ctx *ctx, kc_activation *out);
/* The activation computed by an activation layer class (ReLU, LeakyReLU, ELU, Softmax,
 * ThresholdedReLU, Activation) with config obj. *known = 0 when class is no such layer. */
krt_status *kc_activation_layer(const keras_layer_ctx *ctx, const char *class_name,
                                const cJSON *obj, kc_activation *out, int *known);

/* ---- emitting ------------------------------------------------------------------------------ */

ir_attrs kl_attrs(void); /* all zero, act = linear */
const ir_value *kl_value(const keras_layer_ctx *ctx, int id);

/* Emits op; the node is named after the layer, or "layer/part" when part is not NULL. */
krt_status *kl_emit(const keras_layer_ctx *ctx, ir_op op, const char *part, const int *inputs,
                    int n_inputs, const ir_attrs *attrs, int *out);
/* Emits op as one node with n_outputs outputs (a Split's pieces; a recurrent layer's sequence and
 * states), named like kl_emit's node; their value ids, in the op's output order, go to outs
 * (n_outputs entries; the values are named "NODE:0", "NODE:1", ...). Every output's shape is
 * inferred at once. The layer's outputs are what the caller returns: a layer with several
 * outputs returns outs (or values computed from them) as its output list. */
krt_status *kl_emit_outputs(const keras_layer_ctx *ctx, ir_op op, const char *part,
                            const int *inputs, int n_inputs, const ir_attrs *attrs, int n_outputs,
                            int *outs);
/* A constant named "layer/part". Takes ownership of data (also on failure). A later call of a
 * shared layer reuses the constant its first call made. */
krt_status *kl_const(const keras_layer_ctx *ctx, const char *part, int rank, const int64_t *dims,
                     float *data, int *id);
krt_status *kl_const_copy(const keras_layer_ctx *ctx, const char *part, int rank,
                          const int64_t *dims, const float *data, int *id);
/* A constant of `count` copies of value, shaped [count]. */
krt_status *kl_const_fill(const keras_layer_ctx *ctx, const char *part, int64_t count, float value,
                          int *id);

krt_status *kl_transpose(const keras_layer_ctx *ctx, int x, const int *perm, const char *part,
                         int *out);
/* [N, C, S...] -> [N, S..., C] and back, for channels_first layers around channels-last IR ops. */
krt_status *kl_to_channels_last(const keras_layer_ctx *ctx, int x, int *out);
krt_status *kl_to_channels_first(const keras_layer_ctx *ctx, int x, int *out);

/* Applies an activation as separate nodes (elementwise part, then softmax) to x; the first node
 * is named by part (NULL: the layer's name), a softmax after an elementwise node "layer/softmax".
 * A linear activation returns x. */
krt_status *kl_apply_activation(const keras_layer_ctx *ctx, int x, const kc_activation *a,
                                const char *part, int *out);
/* The softmax/log_softmax part only (after a node that fused the elementwise part). */
krt_status *kl_apply_softmax(const keras_layer_ctx *ctx, int x, const kc_activation *a, int *out);

/* ---- inputs and weights -------------------------------------------------------------------- */

krt_status *kl_expect_inputs(const keras_layer_ctx *ctx, int min, int max);
/* Rank of the (first) input must be in [min, max]. */
krt_status *kl_expect_rank(const keras_layer_ctx *ctx, int x, int min, int max);
krt_status *kl_expect_weights(const keras_layer_ctx *ctx, int min, int max);
/* Weight i must have this rank and these dims (-1: any); KRT_ERR_BAD_FILE otherwise. */
krt_status *kl_expect_weight(const keras_layer_ctx *ctx, int i, const char *what, int rank,
                             const int64_t *dims);
/* Normalises a Keras axis (negative counts from the end) for a tensor of this rank. */
krt_status *kl_axis(const keras_layer_ctx *ctx, int axis, int rank, int *out);

/* ---- converters (one per family of layer classes; the dispatch table in keras_layers.c picks
 * one by class name and passes `variant`: the number of spatial axes, or the merge/pool kind) -- */

typedef krt_status *(*kl_convert_fn)(const keras_layer_ctx *ctx, int variant, int *out);

enum { KL_POOL_MAX = 0x10, KL_POOL_AVG = 0x20 }; /* | spatial axes */
enum { KL_MERGE_ADD, KL_MERGE_SUB, KL_MERGE_MUL, KL_MERGE_AVG, KL_MERGE_MAX, KL_MERGE_MIN,
       KL_MERGE_CONCAT, KL_MERGE_KERAS1 };

/* keras_layers_core.c */
krt_status *kl_convert_dense(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_activation(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_prelu(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_identity(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_flatten(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_reshape(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_permute(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_embedding(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_rescaling(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_normalization(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_conv.c */
krt_status *kl_convert_conv(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_depthwise_conv(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_separable_conv(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_conv_transpose(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_pool.c */
krt_status *kl_convert_pool(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_global_pool(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_norm.c */
krt_status *kl_convert_batchnorm(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_layernorm(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_merge.c */
krt_status *kl_convert_merge(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_apps.c: the small layers keras.applications defines itself */
krt_status *kl_convert_layer_scale(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_custom_scale(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_ops.c, for layers built from the same products */
/* einsum `eq` of two values, one of them batched (the other batched too, or a constant, which
 * becomes the constant "<layer>/<const_part>"): the MatMul (or Dense, by a constant matrix) after
 * transposes and reshapes that ops.einsum gives; refusals name ctx->class_name and eq. */
krt_status *keras_einsum(const keras_layer_ctx *ctx, const char *eq, int x0, int x1,
                         const char *const_part, int *out);
/* Keras 3 calls: the IR value of the tensor passed as positional argument i or as keyword
 * `name`; *value = -1 when neither is given (or it is null). */
krt_status *keras_call_tensor(const keras_layer_ctx *ctx, int i, const char *name, int *value);
/* keras_layers_attention.c (several outputs: the attention scores) */
typedef krt_status *(*kl_convert_multi_fn)(const keras_layer_ctx *ctx, int variant, int *outputs,
                                           int *n_outputs);
krt_status *kl_convert_einsum_dense(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_dot(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_attention(const keras_layer_ctx *ctx, int variant, int *outputs,
                                 int *n_outputs);
krt_status *kl_convert_multi_head_attention(const keras_layer_ctx *ctx, int variant,
                                            int *outputs, int *n_outputs);
krt_status *kl_convert_grouped_query_attention(const keras_layer_ctx *ctx, int variant,
                                               int *outputs, int *n_outputs);
enum { KL_ATTENTION_DOT = 0, KL_ATTENTION_ADDITIVE = 1 };
/* The keyword argument `name` of this call (Keras 3 kwargs, or a Keras 1/2 inbound entry's), or
 * NULL when absent or null. */
const cJSON *kl_call_kwarg(const keras_layer_ctx *ctx, const char *name);
/* keras_layers_recurrent.c: SimpleRNN, LSTM, GRU, CuDNNLSTM, CuDNNGRU (one Recurrent node each;
 * return_state adds the final states as outputs) and Bidirectional (two, merged; merge_mode None
 * gives both halves as two outputs; then the forward and the backward half's states) */
krt_status *kl_convert_recurrent(const keras_layer_ctx *ctx, int variant, int *outputs,
                                 int *n_outputs);
krt_status *kl_convert_bidirectional(const keras_layer_ctx *ctx, int variant, int *outputs,
                                     int *n_outputs);
/* keras_layers_mask.c: Masking (Keras 3 files, whose masks are recorded) */
krt_status *kl_convert_masking(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_spatial.c */
krt_status *kl_convert_zero_padding(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_cropping(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_upsampling(const keras_layer_ctx *ctx, int variant, int *out);
/* keras_layers_compose.c: layers computed by compositions of existing IR ops */
krt_status *kl_convert_group_norm(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_unit_norm(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_rms_norm(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_repeat_vector(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_center_crop(const keras_layer_ctx *ctx, int variant, int *outputs,
                          int *n_outputs); /* multi-layer table: reads `training` */
krt_status *kl_convert_resizing(const keras_layer_ctx *ctx, int variant, int *outputs,
                          int *n_outputs); /* multi-layer table: reads `training` */
krt_status *kl_convert_category_encoding(const keras_layer_ctx *ctx, int variant, int *out);
krt_status *kl_convert_discretization(const keras_layer_ctx *ctx, int variant, int *out);
/* TimeDistributed: the inner layer (any class keras_convert_layer_outputs converts, one output)
 * applied to each time step */
krt_status *kl_convert_time_distributed(const keras_layer_ctx *ctx, int variant, int *out);

#endif
