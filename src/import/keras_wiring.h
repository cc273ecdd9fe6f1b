/* The parsed form of a Keras model config, shared by keras_wiring.c (which reads the JSON: layer
 * entries, calls, input specs) and keras_model.c (which runs it into the IR). Private to the
 * Keras importer. */
#ifndef KRT_IMPORT_KERAS_WIRING_H
#define KRT_IMPORT_KERAS_WIRING_H

#include "import/keras_model.h"

/* A tensor reference: output `tensor` of call (node) `node` of layers[layer] in the same model. */
typedef struct kw_ref {
  int layer, node, tensor;
} kw_ref;

/* One call of a layer: its input tensors, in the order the layer receives them. */
typedef struct kw_call {
  const cJSON *node; /* the inbound node as written (Keras 3: {"args", "kwargs"}) */
  int n_refs;
  kw_ref *refs;
  int has_mask; /* Keras 3: the call's keyword argument mask is a tensor, refs[n_refs - 1] (not
                 * one of the layer's inputs; keras_layer_ctx.mask) */
} kw_call;

typedef struct kw_model kw_model;

typedef struct kw_layer {
  const cJSON *entry;
  const cJSON *config; /* the entry's "config" (an empty object when absent) */
  const char *name;    /* as in the entry */
  const char *class_name;
  char *full_name; /* "outer/inner" for nested layers */
  int record;      /* index in graph->layers */
  int is_input;    /* InputLayer */
  int n_calls;     /* Functional only: inbound nodes */
  kw_call *calls;
  int node_offset;  /* nested models: 1 when references count the construction node */
  kw_model *nested; /* the model a Sequential/Functional entry holds, else NULL */
  int times_called; /* calls converted so far: the converter's call_index */
} kw_layer;

struct kw_model {
  keras_level level;
  const char *name;   /* the model's own name, or "" */
  char *display_name; /* for messages: full path of a nested model, else its name */
  int is_sequential;
  int n_layers;
  kw_layer *layers;
  int n_in, n_out; /* Functional: input_layers / output_layers */
  kw_ref *in_refs, *out_refs;
  char *implicit_input; /* top Sequential without an InputLayer entry: its input's name */
  int implicit_record;  /* the layer record made for that input, or -1 */
};

typedef struct kw_builder {
  const keras_model_source *src;
  ir_graph *g;
  /* Keras masks (keras_layers_mask.c): masked[v] != 0 when IR value v carries one, as Keras
   * sets it on a tensor (Masking, Embedding mask_zero, a masked recurrent layer's sequence);
   * n_masked entries, grown on demand */
  unsigned char *masked;
  int n_masked;
} kw_builder;

/* Parses a model config object ({"class_name", "config"}) and adds the layer records of it and
 * of every nested model (in config order, nested ones right after their model). */
krt_status *kw_parse_model(kw_builder *b, const cJSON *model, const keras_level *parent,
                           int position, const char *prefix, kw_model **out);
void kw_free_model(kw_model *m);

/* Adds the top model's graph inputs (shape and dtype from the config, fixed by the import
 * options) and returns their value ids in model order. */
krt_status *kw_create_inputs(kw_builder *b, kw_model *top, int **ids, int *n);

#endif
