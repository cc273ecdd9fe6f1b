/* Between the Keras containers (keras_h5.c, keras_v3.c) and the model walker (keras_model.c).
 *
 * A container parses its file far enough to hand over the model config (JSON) and a weight
 * reader; keras_build_graph walks the config (Sequential, Functional, nested models, shared
 * layers; Keras 1, 2 and 3 spellings) and asks the reader for each layer's weights, addressed by
 * where the layer sits in the (possibly nested) config, since the two file formats store weights
 * under different keys (.h5: layer names; .keras: snake-cased class names in model order).
 */
#ifndef KRT_IMPORT_KERAS_MODEL_H
#define KRT_IMPORT_KERAS_MODEL_H

#include <cjson/cJSON.h>

#include "import/import.h"
#include "import/keras_internal.h"

/* One model of the config: the top model or a nested one. */
typedef struct keras_level {
  const struct keras_level *parent; /* NULL for the top model */
  int position;                     /* index of this nested model's entry in parent's layers */
  const cJSON *layers;              /* this model's layer entries, in config order */
  int is_sequential;                /* Sequential (its InputLayer entry holds no weights slot) */
} keras_level;

typedef struct keras_weight_reader {
  void *self;
  /* The weights of the layer at `position` in level->layers, in the order the layer saved them.
   * On success *arrays (n entries, possibly 0) is owned by the caller: keras_arrays_free. */
  krt_status *(*read)(void *self, const keras_level *level, int position, keras_array **arrays,
                      int *n);
} keras_weight_reader;

typedef struct keras_model_source {
  const char *file;    /* for messages */
  const cJSON *model;  /* {"class_name": ..., "config": ...} */
  /* The JSON text `model` was parsed from and what it is ("model_config", "config.json"): the
   * reader process sends it to the parent (hdf5_isolate.c), which parses it the same way. */
  const char *config_what;
  const char *config_text;
  size_t config_size;
  int keras_major;     /* 1, 2 or 3 */
  const char *backend; /* or NULL */
  const import_options *options;
  keras_weight_reader weights;
} keras_model_source;

/* Fills g (fresh from ir_graph_create) with the model's inputs, nodes, layers and outputs. */
krt_status *keras_build_graph(const keras_model_source *src, ir_graph *g);
/* A new graph for the model, its source set to src->file; *out is the caller's on success. */
krt_status *keras_import_graph(const keras_model_source *src, ir_graph **out);

/* The layer entries of a model config object ({"class_name", "config"}): Keras 1/2.0 Sequential
 * configs are a bare list, later ones {"name", "layers"}. NULL when there are none. */
const cJSON *keras_model_layers(const cJSON *model);
/* A layer entry's name (entry "name" or config "name") and class; NULL when absent. */
const char *keras_entry_name(const cJSON *entry);
const char *keras_entry_class(const cJSON *entry);

/* "1.2.2" -> 1, "2.2.4-tf" -> 2, "3.15.1" -> 3; `fallback` when NULL or unreadable. */
int keras_major_from_version(const char *version, int fallback);

/* Parses JSON text; errors name the file and what the text was ("model_config"). */
krt_status *keras_parse_json(const char *file, const char *what, const char *text, size_t size,
                             cJSON **out);

#endif
