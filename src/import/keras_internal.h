/* Shared by the Keras importers: keras_model.c walks a model config (Sequential, Functional,
 * nested models, shared layers, Keras 1/2/3 spellings of the wiring) and calls
 * keras_convert_layer (keras_layers_*.c) once per call of each layer.
 *
 * Weights are read by the container (keras_h5.c: model_weights/<layer>/...; keras_v3.c:
 * model.weights.h5 layers/<layer>/vars/<i>) and handed over as float32 arrays in the order the
 * layer saved them (Dense: kernel, bias; BatchNormalization: gamma?, beta?, moving_mean,
 * moving_variance, with gamma/beta absent when scale/center is false; ...).
 */
#ifndef KRT_IMPORT_KERAS_INTERNAL_H
#define KRT_IMPORT_KERAS_INTERNAL_H

#include <cjson/cJSON.h>

#include "ir/graph.h"

typedef struct keras_array {
  char *name;   /* as saved ("conv1/kernel:0", "kernel", "0"), for messages */
  float *data;  /* float32, row-major (converted from the file's dtype) */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int borrowed; /* data lies in the reader process's reply (hdf5_isolate.c): not freed here */
} keras_array;

typedef struct keras_layer_ctx {
  ir_graph *graph;
  const char *file;         /* for messages */
  const char *layer_name;   /* as in the file (nested: "outer/inner"); node names derive from it */
  const char *class_name;   /* as in the file: "Conv2D", "Convolution2D", ... */
  const cJSON *config;      /* the layer's "config" object */
  const char *module;       /* Keras 3: the entry's "module" ("keras.layers", "keras.src.ops.numpy",
                             * ...), or NULL */
  const char *registered_name; /* Keras 3: the entry's "registered_name" (null for Keras's own
                             * classes; "Package>Name" for registered custom classes, the class
                             * name for other classes outside keras.layers), or NULL */
  const cJSON *call;        /* Keras 3 functional: this call's inbound node {"args", "kwargs"},
                             * where constants sit beside the tensors; NULL otherwise */
  int keras_major;          /* 1, 2 or 3 (from the file's keras_version; 2 when absent) */
  const char *backend;      /* "tensorflow", "theano", "jax", ... or NULL when the file says none */
  int layer_index;          /* this layer's record in graph->layers (param_count is set by the
                             * container from the weights) */
  int call_index;           /* 0 for the first call of a shared layer, 1 for the second, ... */
  int n_inputs;
  const int *inputs;        /* IR value ids of this call's inbound tensors */
  int has_mask;             /* Keras 3: the call passes a mask tensor (keyword argument mask) */
  int mask;                 /* its IR value id when has_mask: 1 = use the step, 0 = masked */
  int n_weights;
  const keras_array *weights;
} keras_layer_ctx;

#define KERAS_MAX_OP_OUTPUTS 64 /* outputs of one layer call or operation */

/* Converts one call of one layer into IR nodes; writes the IR value id of its output. Layers that
 * are the identity at inference (Dropout, ...) return their input. Anything not supported returns
 * KRT_ERR_UNSUPPORTED naming the file, the layer, its class and the option. */
krt_status *keras_convert_layer(const keras_layer_ctx *ctx, int *output);
/* The same for layers that may return several tensors (Attention and MultiHeadAttention called
 * with return_attention_scores=True): outputs[0 .. *n_outputs), at most KERAS_MAX_OP_OUTPUTS;
 * keras_convert_layer gives the first. */
krt_status *keras_convert_layer_outputs(const keras_layer_ctx *ctx, int *outputs, int *n_outputs);

/* Whether a Keras 3 entry is an operation node (a keras.ops call or operator recorded in a
 * functional graph: module keras.src.ops.*), not a layer. */
int keras_is_operation(const char *module);
/* Converts one operation node (keras_ops.c): its tensor operands are ctx->inputs, in the order
 * they appear in ctx->call; its constants are read from ctx->call. Writes the IR value ids of its
 * outputs (one for most operations; ops.split and ops.unstack give several, each a node of its
 * own) to outputs[0 .. *n_outputs), at most KERAS_MAX_OP_OUTPUTS. */
krt_status *keras_convert_operation(const keras_layer_ctx *ctx, int *outputs, int *n_outputs);

/* tf.keras 2 operation layers (keras_tfop.c): TFOpLambda (a TensorFlow function called on Keras
 * tensors: "function": "math.multiply", ...) and SlicingOpLambda (x[...]). Their inbound node
 * keeps the structure of the function's first argument, [layer, node, tensor, kwargs] entries
 * and ["_CONSTANT_VALUE", -1, value, kwargs] for constants, with the other arguments in kwargs,
 * where a tensor is [layer, node, tensor] at any depth. keras_tfop_visit_tensors calls visit on
 * each tensor reference of such a node in the order the wiring hands them over as ctx->inputs:
 * the first argument's entries in order, then the kwargs' tensors depth first. */
int keras_is_tfop_class(const char *class_name);
typedef krt_status *(*keras_tfop_visit_fn)(void *user, const cJSON *ref);
krt_status *keras_tfop_visit_tensors(const cJSON *node, keras_tfop_visit_fn visit, void *user);
/* Converts one call of such a layer by translating it into the Keras 3 operation that computes
 * the same (keras_convert_operation); outputs as there. */
krt_status *keras_convert_tfop(const keras_layer_ctx *ctx, int *outputs, int *n_outputs);

/* Whether a class name is an input layer (InputLayer) or a model container (Sequential,
 * Functional, Model) that keras_model.c handles itself. */
int keras_is_input_class(const char *class_name);
int keras_is_model_class(const char *class_name);

#endif
