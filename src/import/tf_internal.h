/* Shared by the TensorFlow GraphDef importer's files: tf_graphdef.c (the file, the walk over the
 * nodes, graph inputs and outputs) and tf_ops*.c (one converter per TensorFlow op).
 *
 * Every output of a converted node is a tf_tensor: either an IR value (computed at run time) or
 * static data known while importing (Const, and the shape arithmetic of Shape, StridedSlice,
 * Pack, ... folded here). Static data becomes an IR constant only when an IR op consumes it. */
#ifndef KRT_IMPORT_TF_INTERNAL_H
#define KRT_IMPORT_TF_INTERNAL_H

#include "graphdef.pb-c.h"
#include "core/status.h"
#include "import/import.h"

/* A static integer that stands for the batch (dims[0] of a batched value, as Shape gives it):
 * it may be passed on (Pack, StridedSlice, ConcatV2) and used as a Reshape target's axis 0;
 * any arithmetic on it is refused. */
#define TF_BATCH_DIM (INT64_MIN + 1)

/* Largest element count of a static tensor (and of any constant read from the file). */
#define TF_MAX_ELEMENTS ((int64_t)1 << 31)

typedef struct tf_tensor {
  int value;      /* IR value id, or -1 while the tensor is only static */
  int is_static;  /* data known while importing (ints or floats below) */
  int is_int;     /* static integers or booleans (ints); else static floats (floats) */
  int dtype;      /* the TensorFlow DataType it had in the graph (Krt__Tf__DataType) */
  int rank;       /* static tensors only; IR values carry their own shape */
  int64_t dims[KRT_MAX_RANK];
  int64_t *ints;
  float *floats;
  /* TF 1's dilated convolution, SpaceToBatchND -> Conv2D/DepthwiseConv2dNative -> BatchToSpaceND,
   * is imported as one dilated Conv (tf_ops_nn.c); the tensors in between are never made:
   * TF_S2B_INPUT: SpaceToBatchND's output; value is its input x[N, H, W, C] (NHWC), which would
   *   have been padded by s2b_pad and cut into s2b_block[0]*s2b_block[1] phases;
   * TF_S2B_CONV: the convolution's output; value is the dilated convolution of padded x, whole
   *   (what BatchToSpaceND gives before its crops).
   * Only those ops may read such a tensor (tf_graphdef.c checks every other reader). */
  int s2b;
  int64_t s2b_block[2], s2b_pad[2][2];
} tf_tensor;
#define TF_S2B_INPUT 1
#define TF_S2B_CONV 2

typedef struct tf_node {
  const Krt__Tf__NodeDef *def;
  int state;      /* 0 not reached, 1 queued, 2 converted */
  int n_outputs;  /* tensors set by the converter */
  tf_tensor *outputs;
  int consumers;  /* data inputs of other nodes that read this node */
} tf_node;

typedef struct tf_import {
  const char *file;
  const import_options *options;
  ir_graph *g;
  Krt__Tf__GraphDef *graph;
  tf_node *nodes;
  size_t n_nodes;
  size_t *by_name; /* node indices sorted by name */
  /* The second try (tf_import_graph): a placeholder whose leading dimension is -1 and whose input
   * shape is given with a concrete first size takes that size, unbatched, so ops that move or
   * reduce axis 0 can be built (an engine for exactly that shape, as TensorRT's static shapes). */
  int fixed_first_dims;
  int first_dim_given; /* set by a placeholder that such a second try would fix */
  int batched_inputs;  /* placeholders taken as batched (leading -1) */
} tf_import;

/* The node being converted and its data inputs (control inputs "^x" are left out). */
typedef struct tf_op_call {
  tf_import *t;
  tf_node *node;
  const char *name;
  const char *op;
  int n_inputs;
  tf_tensor **inputs;
} tf_op_call;

typedef krt_status *(*tf_convert_fn)(tf_op_call *c);

/* Converts a decoded GraphDef into *out: what import_tf_graphdef does after decoding the file, and
 * what the SavedModel importer (tf_savedmodel.c) hands its inlined serving function to. graph stays
 * the caller's (read, never freed or changed); path names the model in messages. */
krt_status *tf_import_graph(const char *path, Krt__Tf__GraphDef *graph,
                            const import_options *options, ir_graph **out);

/* The converter for an op name and the attributes it understands ("a,b,c"; attributes starting
 * with '_' are TensorFlow's bookkeeping and never change the result). NULL when krt does not
 * convert the op; *why is then a reason when one is known (control flow, ...). */
tf_convert_fn tf_find_converter(const char *op, const char **attrs, const char **why);

/* ---- errors, attributes ------------------------------------------------------------------ */

krt_status *tf_node_error(const tf_op_call *c, krt_code code, const char *fmt, ...)
    KRT_PRINTF(3, 4);
const Krt__Tf__AttrValue *tf_attr(const tf_op_call *c, const char *key);
/* Each returns an error naming the attribute when it is missing (unless a default is given) or
 * of another kind. */
krt_status *tf_attr_int(const tf_op_call *c, const char *key, int has_default, int64_t def,
                        int64_t *out);
krt_status *tf_attr_float(const tf_op_call *c, const char *key, int has_default, float def,
                          float *out);
krt_status *tf_attr_bool(const tf_op_call *c, const char *key, int has_default, int def, int *out);
/* A string attribute into buf (NUL-terminated); def when absent (NULL: required). */
krt_status *tf_attr_string(const tf_op_call *c, const char *key, const char *def, char *buf,
                           size_t size);
krt_status *tf_attr_type(const tf_op_call *c, const char *key, int has_default, int def, int *out);
/* A list of ints; *n gets its length (at most max). */
krt_status *tf_attr_ints(const tf_op_call *c, const char *key, int64_t *out, int max, int *n);
/* The T attribute (when present) must be a float type krt computes in float32. */
krt_status *tf_require_float_type(const tf_op_call *c, const char *key);
const char *tf_dtype_name(int dtype);

/* ---- tensors ----------------------------------------------------------------------------- */

/* Rank and dims of any tensor (static or IR value). */
int tf_rank(const tf_op_call *c, const tf_tensor *x);
const int64_t *tf_dims(const tf_op_call *c, const tf_tensor *x);
int tf_batched(const tf_op_call *c, const tf_tensor *x);
int64_t tf_elements(int rank, const int64_t *dims); /* -1 if a dim is unknown or it overflows */
/* The IR value for x, making a float32 constant of static data on first use. */
krt_status *tf_value(tf_op_call *c, tf_tensor *x, int *value);
/* Static integers of input i (e.g. a shape, an axis list), required to be static. */
krt_status *tf_static_ints(const tf_op_call *c, int i, const int64_t **data, int64_t *n);
/* Output k of the node: an IR value, static ints or static floats (data owned by the tensor). */
krt_status *tf_set_output_value(tf_op_call *c, int k, int value);
krt_status *tf_set_output_ints(tf_op_call *c, int k, int rank, const int64_t *dims, int64_t *data);
krt_status *tf_set_output_floats(tf_op_call *c, int k, int rank, const int64_t *dims,
                                 float *data);
/* Emits an IR node named after the TensorFlow node (suffix "" or "/part"). */
krt_status *tf_emit(tf_op_call *c, ir_op op, const char *suffix, const int *inputs, int n_inputs,
                    const ir_attrs *attrs, int *out);
krt_status *tf_transpose(tf_op_call *c, int x, const int *perm, const char *suffix, int *out);
/* NCHW <-> NHWC around channels-last IR ops (any rank >= 3). */
krt_status *tf_to_channels_last(tf_op_call *c, int x, int *out);
krt_status *tf_to_channels_first(tf_op_call *c, int x, int *out);
/* A float32 constant owned by the graph (data copied). */
krt_status *tf_const(tf_op_call *c, const char *suffix, int rank, const int64_t *dims,
                     const float *data, int *out);

#endif
