/* Model importers: each reads one file format and produces the IR (src/ir/graph.h), nothing else.
 * Errors name the file, the layer, its class and the option at fault. */
#ifndef KRT_IMPORT_IMPORT_H
#define KRT_IMPORT_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

/* Shapes the caller fixes for inputs whose dimensions the model leaves unknown: the full shape,
 * batch included (dims[0] is checked by the caller, not the importer). A known dimension that
 * disagrees is a KRT_ERR_SHAPE error; a name that is no input is KRT_ERR_NOT_FOUND. */
typedef struct import_input_shape {
  const char *name;
  int rank;
  int64_t dims[KRT_MAX_RANK];
} import_input_shape;

/* Set only inside the reader process of hdf5_isolate.c, where the importer records its reply. */
typedef struct import_tap import_tap;

typedef struct import_options {
  int n_input_shapes;
  const import_input_shape *input_shapes;
  import_tap *tap; /* NULL but in the reader process (hdf5_isolate.c) */
  /* The outputs the caller will cut the graph at (krt_build_options_add_output). Formats that are
   * a graph of nodes (TensorFlow GraphDef) convert only what these need, so a graph whose other
   * branches krt cannot run still builds; other importers ignore them. "node" or "node:k". */
  int n_outputs;
  const char *const *outputs;
  /* A SavedModel's signature to import (krt_build_options_set_signature), or NULL: its
   * "serving_default". Other importers ignore it. */
  const char *signature;
} import_options;

/* Picks the importer by the file's content (zip: .keras; HDF5 signature: legacy .h5), not its
 * name; a directory is a SavedModel when it holds saved_model.pb. options may be NULL. On success *out is owned by the caller (ir_graph_free). */
krt_status *import_model(const char *path, const import_options *options, ir_graph **out);

/* Reads the whole file at path into *data (malloc'd, the caller frees it), *size bytes. A file
 * over max_bytes is KRT_ERR_BAD_FILE, the message naming the size and `too_big` (why that is the
 * limit); one that cannot be opened or read is KRT_ERR_IO. For the protocol-buffer importers,
 * which decode a message from memory. */
krt_status *import_read_file(const char *path, long max_bytes, const char *too_big, uint8_t **data,
                             size_t *size);

/* One IR node of a graph-format importer (TensorFlow, UFF), named "<node><suffix>" after the
 * file's node; an error is prefixed "<file>: <format> op <op_name>: ". attrs may be NULL (none). */
krt_status *import_emit_node(ir_graph *g, const char *node, const char *suffix, ir_op op,
                             const int *inputs, int n_inputs, const ir_attrs *attrs, int *out,
                             const char *file, const char *format, const char *op_name);

krt_status *import_keras_v3(const char *path, const import_options *options, ir_graph **out);
krt_status *import_keras_h5(const char *path, const import_options *options, ir_graph **out);
krt_status *import_tf_graphdef(const char *path, const import_options *options, ir_graph **out);
krt_status *import_onnx(const char *path, const import_options *options, ir_graph **out);
krt_status *import_uff(const char *path, const import_options *options, ir_graph **out);
/* path is a SavedModel directory (saved_model.pb, variables/). */
krt_status *import_tf_savedmodel(const char *path, const import_options *options, ir_graph **out);

#endif
