/* Shared by the ONNX importer's files: onnx.c (file, tensors, graph walk, helpers) and the op
 * converters onnx_ops_*.c (one file per op family).
 *
 * Every ONNX tensor name maps to an ox_tensor: the IR value holding it in ONNX's own axis order
 * ([N, C, H, W] for images), the IR value holding it channels-last ([N, H, W, C], what the IR's
 * spatial ops read), either or both; and, for tensors known while importing (initializers,
 * Constant outputs, Shape/Gather/Concat/... chains over static shapes), their data. A spatial op
 * reads its input channels-last and leaves its output channels-last only; elementwise ops keep
 * whichever order their input is in, so Conv -> Relu -> Conv needs no Transpose between. The
 * ONNX-order value is made (one Transpose) only when an op that needs it reads the tensor. */
#ifndef KRT_IMPORT_ONNX_INTERNAL_H
#define KRT_IMPORT_ONNX_INTERNAL_H

#include <stdint.h>

#include "core/status.h"
#include "import/import.h"
#include "onnx.pb-c.h"

/* TensorProto.DataType codes krt reads. */
enum {
  OX_FLOAT = 1, OX_UINT8 = 2, OX_INT8 = 3, OX_UINT16 = 4, OX_INT16 = 5, OX_INT32 = 6,
  OX_INT64 = 7, OX_STRING = 8, OX_BOOL = 9, OX_FLOAT16 = 10, OX_DOUBLE = 11, OX_UINT32 = 12,
  OX_UINT64 = 13
};

/* In an integer known tensor: the batch size, unknown until run time (Shape of a batched value). */
#define OX_BATCH (INT64_MIN + 1)

/* A tensor whose value is known at import. Integer types (and bool) keep exact int64 values in
 * `i`, floating types float32 values in `f`; exactly one of the two is set. */
typedef struct ox_known {
  int dtype; /* TensorProto.DataType of the values */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int64_t count;
  float *f;
  int64_t *i;
} ox_known;

typedef struct ox_tensor {
  char *name;
  int value;    /* IR value in ONNX axis order, or -1 */
  int value_cl; /* IR value channels-last ([N, C, S...] -> [N, S..., C]), or -1 */
  ox_known *known;
  /* A tensor whose batch is not on axis 0 (time-major [T, N, ...], as the recurrent ops read and
   * write it): only a batched IR value with the axes permuted, value_bm, or -1; the tensor's
   * axis k is value_bm's axis perm_bm[k] (perm_bm[k] == 0 at the batch). krt keeps the batch on
   * axis 0, so only the converters that know views read one (Transpose, Squeeze, Slice, Concat,
   * LSTM/GRU/RNN); ox_value and ox_in_shape refuse it. */
  int value_bm;
  int perm_bm[KRT_MAX_RANK];
} ox_tensor;

typedef struct ox_ctx {
  const char *file;
  ir_graph *g;
  const import_options *options;
  int64_t opset; /* of the default domain */
  /* The first dimension graph inputs declare as a number (pytorch exports write the batch they
   * traced with), or -1: a shape constant holding it on axis 0 means the batch. */
  int64_t declared_batch;
  int fixed_is_batch; /* 1: a fixed first dimension of the inputs is taken as the batch */
  ox_tensor *tensors;
  int n_tensors, cap_tensors;
  int *slots; /* hash of names -> tensor index, -1 empty */
  int n_slots;
  const KrtOnnx__GraphProto *graph; /* the graph being imported */
  size_t node_index;                 /* graph->node[node_index] is the node being converted */
  /* the node being converted */
  const KrtOnnx__NodeProto *node;
  const char *label; /* its name, or its first output when it has none */
  int layer;
} ox_ctx;

typedef krt_status *(*ox_convert_fn)(ox_ctx *c, int variant);

/* One op type: its converter and the attributes it reads (all others are refused by name). */
typedef struct ox_op_entry {
  const char *op_type;
  ox_convert_fn convert;
  int variant;
  const char *const *attrs; /* NULL-terminated, or NULL for none */
} ox_op_entry;

/* The tables of onnx_ops_*.c, each ending with an entry whose op_type is NULL. */
extern const ox_op_entry ox_ops_nn[];
extern const ox_op_entry ox_ops_math[];
extern const ox_op_entry ox_ops_shape[];
extern const ox_op_entry ox_ops_rnn[];

/* ---- errors ------------------------------------------------------------------------------- */
/* "file: node 'name' (OpType): ..." */
krt_status *ox_error(const ox_ctx *c, krt_code code, const char *fmt, ...) KRT_PRINTF(3, 4);
#define ox_unsupported(c, ...) ox_error((c), KRT_ERR_UNSUPPORTED, __VA_ARGS__)

/* ---- the node's inputs and outputs ------------------------------------------------------------ */
int ox_n_inputs(const ox_ctx *c);       /* trailing "" (left-out optional inputs) not counted */
int ox_has_input(const ox_ctx *c, int i);
int ox_n_outputs(const ox_ctx *c);      /* trailing "" not counted */
ox_tensor *ox_in(const ox_ctx *c, int i);  /* NULL when absent */
const ox_known *ox_in_known(const ox_ctx *c, int i); /* NULL when absent or not known */
/* The IR value of input i in ONNX axis order (constants made from known data). */
krt_status *ox_value(ox_ctx *c, int i, int *id);
/* The IR value of input i channels-last; rank >= 3. */
krt_status *ox_value_cl(ox_ctx *c, int i, int *id);
/* rank and dims of input i in ONNX order (known or IR) */
krt_status *ox_in_shape(ox_ctx *c, int i, int *rank, int64_t *dims, int *batched);
/* Whether input i is available channels-last without a new Transpose (and not in ONNX order). */
int ox_in_is_cl_only(const ox_ctx *c, int i);
krt_status *ox_set_output(ox_ctx *c, int k, int id, int channels_last);
/* Takes ownership of k (even on failure). */
krt_status *ox_set_known(ox_ctx *c, int k, ox_known *known);
krt_status *ox_require_inputs(const ox_ctx *c, int min, int max);
krt_status *ox_require_one_output(const ox_ctx *c);
/* Whether output k of the node being converted is read by a later node or is a graph output. */
int ox_output_used(const ox_ctx *c, int k);
/* Names output k without a value: for an output krt does not compute and nothing reads
 * (!ox_output_used), so that the node is not refused for leaving it out. */
krt_status *ox_set_unused_output(ox_ctx *c, int k);

/* ---- batch-major views (ox_tensor.value_bm) ------------------------------------------------- */
/* The view's IR value (perm into perm when not NULL), or -1 when input i is not a view. */
int ox_in_view(const ox_ctx *c, int i, int *perm);
/* Shape of view input i in ONNX order, the batch's axis as -1. */
void ox_view_shape(const ox_ctx *c, int i, int *rank, int64_t *dims);
/* Output k is IR value id with its axes permuted (the tensor's axis k is id's axis perm[k]): a
 * plain output when perm is the identity, a Transpose when id is not batched or perm keeps the
 * batch on axis 0, a view otherwise. */
krt_status *ox_set_output_view(ox_ctx *c, int k, int id, const int *perm);

/* ---- attributes ------------------------------------------------------------------------------ */
const KrtOnnx__AttributeProto *ox_attr(const ox_ctx *c, const char *name);
krt_status *ox_attr_int(const ox_ctx *c, const char *name, int64_t def, int64_t *out);
krt_status *ox_attr_float(const ox_ctx *c, const char *name, float def, float *out);
/* def when absent; *out points into the node (not owned). */
krt_status *ox_attr_string(const ox_ctx *c, const char *name, const char *def, char *buf,
                           size_t size);
/* *n = -1 when absent. */
krt_status *ox_attr_ints(const ox_ctx *c, const char *name, int max, int64_t *out, int *n);
/* Integer list from an attribute (opsets before `input_since`) or from input `input` (from that
 * opset on; it must be known). *n = -1 when neither is given. */
krt_status *ox_ints_attr_or_input(ox_ctx *c, const char *attr, int input, int64_t input_since,
                                  int max, int64_t *out, int *n);
/* Integer values of a known input (any integer type), at most max; *n gets the count. */
krt_status *ox_known_ints(ox_ctx *c, int i, int max, int64_t *out, int *n);
/* A float scalar input (known); def when absent. */
krt_status *ox_known_scalar(ox_ctx *c, int i, float def, float *out);

/* ---- known tensors --------------------------------------------------------------------------- */
ox_known *ox_known_new(int dtype, int rank, const int64_t *dims); /* zeroed data; NULL on OOM */
void ox_known_free(ox_known *k);
/* Float copy of a known tensor (integers converted; OX_BATCH refused) */
krt_status *ox_known_floats(const ox_ctx *c, const ox_known *k, float **out);

/* ---- emitting -------------------------------------------------------------------------------- */
ir_attrs ox_attrs(void);
const ir_value *ox_ir(const ox_ctx *c, int id);
krt_status *ox_emit(ox_ctx *c, ir_op op, const char *part, const int *inputs, int n,
                    const ir_attrs *attrs, int *out);
/* ox_emit for a node with n_outputs outputs (outs[n_outputs]) */
krt_status *ox_emit_outputs(ox_ctx *c, ir_op op, const char *part, const int *inputs, int n,
                            const ir_attrs *attrs, int n_outputs, int *outs);
/* Copies data. */
krt_status *ox_const(ox_ctx *c, const char *part, int rank, const int64_t *dims, const float *data,
                     int *id);
krt_status *ox_const_scalar(ox_ctx *c, const char *part, float v, int *id);
krt_status *ox_activation(ox_ctx *c, int x, ir_act_kind kind, float alpha, float beta,
                          float max_value, const char *part, int *out);
krt_status *ox_binary(ox_ctx *c, ir_binary_kind kind, int a, int b, const char *part, int *out);
/* Reshape in ONNX order to the full shape `dims` (axis 0 included: it must equal the input's,
 * or be the batch of a batched input). */
krt_status *ox_reshape(ox_ctx *c, int x, int rank, const int64_t *dims, const char *part, int *out);
/* A negative axis counted from the end; checked against rank. */
krt_status *ox_axis(const ox_ctx *c, int64_t axis, int rank, int *out);
/* perm from ONNX order to channels-last and back, for rank r */
void ox_perm_to_cl(int rank, int *perm);
void ox_perm_from_cl(int rank, int *perm);

#endif
