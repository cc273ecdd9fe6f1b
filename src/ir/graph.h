/* The krt graph IR: typed values (tensors), constants and nodes, in the order they were added.
 *
 * Every importer produces this IR; passes in src/opt rewrite it; the engine file serialises it;
 * backends execute it. Ops and their exact semantics are listed in ops.def.
 *
 * Shapes: dims[i] >= 0 is known; -1 is the batch (axis 0 of a value whose `batched` is set) or a
 * dimension still unknown. Every batched value carries its batch on axis 0, so a value's size at
 * batch n is n * (product of dims[1..rank)).
 */
#ifndef KRT_IR_GRAPH_H
#define KRT_IR_GRAPH_H

#include <stdint.h>
#include <stddef.h>

#include "krt.h"

typedef enum ir_op {
#define X(op, id, name, ...) op = id,
#include "ops.def"
#undef X
  IR_OP_COUNT_PLUS_ONE
} ir_op;

/* Elementwise activations (ids stable: stored in engine files). y = f(x) with the parameters in
 * ir_activation. Softmax and log-softmax are ops of their own, not activations. */
typedef enum ir_act_kind {
  IR_ACT_NONE = 0,          /* linear */
  IR_ACT_RELU = 1,          /* x > threshold ? min(x, max_value) : alpha*(x - threshold), as Keras 3's
                             * relu. max_value = INFINITY for none. LeakyReLU: alpha = slope; ReLU6: 6 */
  IR_ACT_SIGMOID = 2,
  IR_ACT_HARD_SIGMOID = 3,  /* clip(alpha*x + beta, 0, 1): Keras 3 alpha=1/6 beta=0.5; Keras 1/2 0.2, 0.5 */
  IR_ACT_TANH = 4,
  IR_ACT_SOFTPLUS = 5,      /* log(1 + exp(x)), computed without overflow */
  IR_ACT_SOFTSIGN = 6,      /* x / (1 + |x|) */
  IR_ACT_ELU = 7,           /* x > 0 ? x : alpha*(exp(x) - 1) */
  IR_ACT_SELU = 8,          /* scale*(x > 0 ? x : alpha*(exp(x)-1)), Keras's fixed alpha and scale */
  IR_ACT_GELU = 9,          /* x * 0.5 * (1 + erf(x / sqrt 2)) */
  IR_ACT_GELU_TANH = 10,    /* 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) */
  IR_ACT_SWISH = 11,        /* x * sigmoid(x) (silu) */
  IR_ACT_HARD_SWISH = 12,   /* x * clip(alpha*x + beta, 0, 1), alpha/beta as HARD_SIGMOID */
  IR_ACT_EXPONENTIAL = 13,  /* exp(x) */
  IR_ACT_MISH = 14,         /* x * tanh(softplus(x)) */
  IR_ACT_THRESHOLDED_RELU = 15, /* x > alpha ? x : 0 (Keras ThresholdedReLU, theta = alpha) */
  /* Keras 3 operations (keras.ops) beyond the activation functions */
  IR_ACT_SQRT = 16,
  IR_ACT_RSQRT = 17,        /* 1 / sqrt(x) */
  IR_ACT_ABS = 18,
  IR_ACT_LOG = 19,          /* natural log */
  IR_ACT_NEG = 20,
  IR_ACT_SQUARE = 21,
  IR_ACT_ERF = 22,
  IR_ACT_CLIP = 23,         /* min(max(x, alpha), max_value) (ops.clip), NaN stays NaN */
  /* math functions of TensorFlow and ONNX graphs, each as the C library function of that name */
  IR_ACT_SIN = 24, IR_ACT_COS = 25, IR_ACT_TAN = 26,
  IR_ACT_ASIN = 27, IR_ACT_ACOS = 28, IR_ACT_ATAN = 29,
  IR_ACT_SINH = 30, IR_ACT_COSH = 31, IR_ACT_ASINH = 32, IR_ACT_ACOSH = 33, IR_ACT_ATANH = 34,
  IR_ACT_LOG1P = 35,        /* log(1 + x) */
  IR_ACT_EXPM1 = 36,        /* exp(x) - 1 */
  IR_ACT_ERFC = 37,         /* 1 - erf(x) */
  IR_ACT_ROUND = 38,        /* to the nearest integer, halves to even (TF Round and Rint, ONNX
                             * Round): 0.5 -> 0, 1.5 -> 2, -2.5 -> -2 */
  IR_ACT_FLOOR = 39, IR_ACT_CEIL = 40,
  IR_ACT_SIGN = 41          /* -1, 0 or 1 (0 for -0 too); NaN stays NaN */
} ir_act_kind;
#define IR_ACT_LAST IR_ACT_SIGN

typedef struct ir_activation {
  ir_act_kind kind;
  float alpha, beta, max_value, threshold;
} ir_activation;

typedef enum ir_pool_kind { IR_POOL_MAX = 0, IR_POOL_AVG = 1 } ir_pool_kind;
typedef enum ir_reduce_kind { IR_REDUCE_MEAN = 0, IR_REDUCE_MAX = 1, IR_REDUCE_SUM = 2 } ir_reduce_kind;
typedef enum ir_binary_kind {
  IR_BINARY_ADD = 0, IR_BINARY_SUB = 1, IR_BINARY_MUL = 2, IR_BINARY_DIV = 3,
  IR_BINARY_MAX = 4, IR_BINARY_MIN = 5,
  IR_BINARY_POW = 6,             /* a ** b, as powf */
  /* comparisons give 1.0 where true, 0.0 where false (Keras's bool tensors, as float32) */
  IR_BINARY_GREATER = 7, IR_BINARY_GREATER_EQUAL = 8, IR_BINARY_LESS = 9, IR_BINARY_LESS_EQUAL = 10,
  IR_BINARY_EQUAL = 11, IR_BINARY_NOT_EQUAL = 12,
  /* masks for where(c, x, y) = WHERE_TRUE(x, c) + WHERE_FALSE(y, c), exact (x + 0 is x, inf and
   * NaN included): WHERE_TRUE(a, b) = b != 0 ? a : 0, WHERE_FALSE(a, b) = b != 0 ? 0 : a */
  IR_BINARY_WHERE_TRUE = 13, IR_BINARY_WHERE_FALSE = 14,
  IR_BINARY_FLOOR_DIV = 15,      /* floor(a / b), the quotient rounded to float first (TF FloorDiv) */
  IR_BINARY_FLOOR_MOD = 16,      /* a - floor(a / b) * b, exactly: fmod(a, b), plus b where that is
                                  * non-zero and its sign differs from b's (TF FloorMod, Python %) */
  IR_BINARY_TRUNC_MOD = 17,      /* fmod(a, b): the sign of a (TF TruncateMod, ONNX Mod fmod=1) */
  IR_BINARY_ATAN2 = 18           /* atan2(a, b): a is y, b is x (TF Atan2) */
} ir_binary_kind;
#define IR_BINARY_LAST IR_BINARY_ATAN2
#define IR_BINARY_IS_COMPARISON(k) ((k) >= IR_BINARY_GREATER && (k) <= IR_BINARY_NOT_EQUAL)
typedef enum ir_resize_kind { IR_RESIZE_NEAREST = 0, IR_RESIZE_BILINEAR = 1 } ir_resize_kind;
/* The cell of a Recurrent node (ops.def gives each one's equations and weight layout). */
typedef enum ir_rnn_cell {
  IR_RNN_SIMPLE = 0,          /* Keras SimpleRNN */
  IR_RNN_LSTM = 1,            /* Keras LSTM (and CuDNNLSTM) */
  IR_RNN_GRU = 2,             /* Keras GRU with reset_after=False (Keras 1's and 2's default) */
  IR_RNN_GRU_RESET_AFTER = 3  /* Keras GRU with reset_after=True (Keras 3's default, CuDNNGRU) */
} ir_rnn_cell;
#define IR_RNN_CELL_LAST IR_RNN_GRU_RESET_AFTER

/* What a value holds, for readers and for backends that choose layouts. Data is always stored in
 * the order of dims; this only says what the axes mean. */
typedef enum ir_layout {
  IR_LAYOUT_PLAIN = 0,          /* no spatial meaning (features, sequences of features, ...) */
  IR_LAYOUT_CHANNELS_LAST = 1,  /* [N, spatial..., C] */
  IR_LAYOUT_CHANNELS_FIRST = 2  /* [N, C, spatial...] */
} ir_layout;

#define IR_MAX_SPATIAL 3
#define IR_MAX_SPLIT 64 /* most outputs of one Split node */

/* One flat attribute record for every op; each op reads the fields ops.def names and leaves the
 * others zero. Flat and fixed-size so it serialises field by field. */
typedef struct ir_attrs {
  ir_activation act;             /* DENSE, CONV*, BATCHNORM, BINARY (fused), ACTIVATION */
  int spatial;                   /* CONV*, POOL, RESIZE: number of spatial axes (1..3) */
  int kernel[IR_MAX_SPATIAL];    /* CONV*, POOL: window per spatial axis */
  int stride[IR_MAX_SPATIAL];
  int dilation[IR_MAX_SPATIAL];  /* CONV*: 1 for none */
  int scale[IR_MAX_SPATIAL];     /* RESIZE: integer factor per spatial axis */
  int groups;                    /* CONV: 1 normal, Ci for depthwise */
  int64_t pad_begin[KRT_MAX_RANK]; /* CONV*, POOL: per spatial axis; PAD: per axis */
  int64_t pad_end[KRT_MAX_RANK];
  int64_t begin[KRT_MAX_RANK];   /* SLICE: per axis */
  int64_t end[KRT_MAX_RANK];
  int axis;                      /* CONCAT, BATCHNORM: non-negative axis */
  int n_axes;                    /* REDUCE, SOFTMAX, LOG_SOFTMAX, LAYERNORM */
  int axes[KRT_MAX_RANK];        /* non-negative, ascending */
  int keepdims;                  /* REDUCE */
  int perm[KRT_MAX_RANK];        /* TRANSPOSE: rank entries */
  int shape_rank;                /* RESHAPE: rank of `shape` (the batch excluded) */
  int64_t shape[KRT_MAX_RANK];   /* RESHAPE: per-sample shape, all known */
  float epsilon;                 /* BATCHNORM, LAYERNORM */
  int rms_scaling;               /* LAYERNORM: y = x / sqrt(var + eps) * gamma (no centring of the
                                  * output, var still about the mean; Keras 3 rms_scaling=True) */
  ir_pool_kind pool;
  ir_reduce_kind reduce;
  ir_binary_kind binary;
  ir_resize_kind resize;
  int residual;                  /* DENSE, CONV, CONV_TRANSPOSE after fusion: 1 when the node's
                                  * inputs are [x, W, b, r] and y = act(op(x, W) + b + r), r of the
                                  * output's shape (bias always present then) */
  int64_t sizes[IR_MAX_SPLIT];   /* SPLIT: output k's length along axis, for k < n_outputs (each
                                  * >= 1, adding up to the input's); the rest 0 */
  ir_rnn_cell rnn_cell;          /* RECURRENT: the cell's kind */
  int rnn_units;                 /* RECURRENT: H, the state's size */
  ir_activation rnn_act;         /* RECURRENT: Keras's activation (candidate and output; tanh) */
  ir_activation rnn_gate_act;    /* RECURRENT: Keras's recurrent_activation (the gates; sigmoid);
                                  * unused (kind NONE) for SIMPLE */
  int rnn_go_backwards;          /* RECURRENT: 1 consumes x[:, T-1] first */
  int rnn_return_sequences;      /* RECURRENT: 1 gives every step's h [N, T, H], 0 the last [N, H] */
  int rnn_reverse_output;        /* RECURRENT with return_sequences: 1 stores step s's h at
                                  * y[:, T-1-s] instead of y[:, s] (Keras Bidirectional reverses
                                  * its backward half's sequence this way) */
  int rnn_masked;                /* RECURRENT: 1 when the last input is a mask m[N, T] (Keras's
                                  * Masking, Embedding mask_zero): a step with m = 0 keeps the
                                  * state and outputs the previous step's output (ops.def) */
  int rnn_zero_masked_output;    /* RECURRENT with rnn_masked: a masked step outputs zeros
                                  * instead (Keras zero_output_for_mask) */
} ir_attrs;

/* Attribute groups: which ir_attrs fields an op reads (the attributes column of ops.def). A field
 * belongs to an op when one of its groups does (attrs.c lists the fields, their keys in engine
 * files and their ranges). */
#define IR_A_ACT (1u << 0)          /* act: kind, alpha, beta, max_value, threshold */
#define IR_A_WINDOW (1u << 1)       /* spatial, kernel, stride, pad_begin, pad_end */
#define IR_A_DILATION (1u << 2)     /* dilation */
#define IR_A_GROUPS (1u << 3)       /* groups */
#define IR_A_RESIDUAL (1u << 4)     /* residual */
#define IR_A_POOL (1u << 5)         /* pool */
#define IR_A_REDUCE (1u << 6)       /* reduce */
#define IR_A_AXES (1u << 7)         /* n_axes, axes */
#define IR_A_KEEPDIMS (1u << 8)     /* keepdims */
#define IR_A_AXIS (1u << 9)         /* axis */
#define IR_A_EPSILON (1u << 10)     /* epsilon */
#define IR_A_RMS_SCALING (1u << 11) /* rms_scaling */
#define IR_A_BINARY (1u << 12)      /* binary */
#define IR_A_SHAPE (1u << 13)       /* shape_rank, shape */
#define IR_A_PERM (1u << 14)        /* perm */
#define IR_A_PADS (1u << 15)        /* pad_begin, pad_end (every axis) */
#define IR_A_BEGIN_END (1u << 16)   /* begin, end */
#define IR_A_RESIZE (1u << 17)      /* spatial, scale, resize */
#define IR_A_SIZES (1u << 18)       /* sizes */
#define IR_A_RNN (1u << 19)         /* rnn_cell, rnn_units, rnn_act, rnn_gate_act, rnn_go_backwards,
                                     * rnn_return_sequences, rnn_reverse_output, rnn_masked,
                                     * rnn_zero_masked_output */

/* One field of ir_attrs as the engine file and the checks see it. */
typedef enum ir_attr_type {
  IR_ATTR_INT32 = 1,  /* int or enum */
  IR_ATTR_INT64 = 2,
  IR_ATTR_FLOAT32 = 3
} ir_attr_type;

typedef struct ir_attr_field {
  const char *key;     /* stable: the record's key in engine files ("kernel", "act_alpha") */
  ir_attr_type type;
  size_t offset;       /* offsetof(ir_attrs, ...) */
  int count;           /* elements: 1, or the array's length */
  int64_t lo, hi;      /* integer fields: every element within [lo, hi] */
  uint32_t groups;     /* IR_A_* groups it belongs to */
} ir_attr_field;

typedef struct ir_value {
  char *name;
  krt_dtype dtype;      /* FLOAT32 for everything computed; graph inputs keep their declared dtype */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int batched;          /* 1: axis 0 is the batch */
  ir_layout layout;
  int producer;         /* node index, or -1 for graph inputs and constants */
  int producer_output;  /* which of the producer's outputs it is (0 .. n_outputs-1); -1 when
                         * producer is -1 */
  /* Constants only (data != NULL): float32, dense, row-major. */
  float *data;
  int owns_data;        /* 0 when data points into memory owned elsewhere (a mapped engine file) */
} ir_value;

typedef struct ir_node {
  ir_op op;
  char *name;           /* unique in the graph; the Keras layer name, or "layer/part" */
  int layer;            /* index in graph->layers of the Keras layer it came from, or -1 */
  int n_inputs;
  int *inputs;          /* value ids */
  int n_outputs;        /* >= 1, within the op's min..max outputs (ops.def) */
  int *outputs;         /* value ids, each produced by this node only, in the op's output order */
  ir_attrs attrs;
  char *fused;          /* names of layers fused into this node by passes, comma-separated; or NULL */
} ir_node;

/* A layer of the source model, as the user sees it (krt inspect, --output NAME). */
typedef struct ir_layer {
  char *name;           /* nested layers: "outer/inner" */
  char *class_name;     /* Keras class as written in the file ("Convolution2D", "Conv2D", ...) */
  int output;           /* value id of its (first call's) output, or -1 */
  int64_t param_count;
} ir_layer;

typedef struct ir_graph {
  ir_value *values;
  int n_values, cap_values;
  ir_node *nodes;       /* in an order where every node comes after its inputs' producers */
  int n_nodes, cap_nodes;
  ir_layer *layers;
  int n_layers, cap_layers;
  int *inputs;          /* value ids of the graph inputs, in model order */
  int n_inputs;
  int *outputs;         /* value ids of the graph outputs, in model order */
  int n_outputs;
  char **output_names;  /* the name each output is published under (usually its layer's) */
  char *source;         /* the file it came from, for messages */
} ir_graph;

/* ---- building ---------------------------------------------------------------------------- */

ir_graph *ir_graph_create(void);
void ir_graph_free(ir_graph *g);
krt_status *ir_graph_clone(const ir_graph *g, ir_graph **out);

/* Adds a graph input; returns its value id through *id. */
krt_status *ir_add_input(ir_graph *g, const char *name, krt_dtype dtype, int rank,
                         const int64_t *dims, int batched, ir_layout layout, int *id);

/* Adds a float32 constant. Takes ownership of data (malloc'd, element count = product of dims)
 * even when it fails. */
krt_status *ir_add_const(ir_graph *g, const char *name, int rank, const int64_t *dims,
                         float *data, int *id);
/* Copies data instead. */
krt_status *ir_add_const_copy(ir_graph *g, const char *name, int rank, const int64_t *dims,
                              const float *data, int *id);

/* Adds a node with one new output value (named like the node), infers the output's shape at
 * once (ir_infer_node) and returns the output value id through *out. `name` is made unique if it
 * is taken. layer is the source layer index or -1. */
krt_status *ir_emit(ir_graph *g, ir_op op, const char *name, int layer, const int *inputs,
                    int n_inputs, const ir_attrs *attrs, int *out);

/* Adds a node with n_outputs new output values and infers all their shapes; outs (n_outputs
 * entries) gets the value ids in the op's output order. A single output is named like the node;
 * output k of several is named "NODE:k". Otherwise as ir_emit. */
krt_status *ir_emit_outputs(ir_graph *g, ir_op op, const char *name, int layer, const int *inputs,
                            int n_inputs, const ir_attrs *attrs, int n_outputs, int *outs);

/* Adds a layer record; returns its index through *index. */
krt_status *ir_add_layer(ir_graph *g, const char *name, const char *class_name, int *index);

krt_status *ir_add_output(ir_graph *g, int value, const char *name);

/* ---- queries ----------------------------------------------------------------------------- */

const char *ir_op_name(ir_op op);          /* "Conv"; "?" for unknown */
int ir_op_is_valid(int op);
const char *ir_act_name(ir_act_kind kind); /* "relu"; "?" for unknown */
int64_t ir_value_sample_elements(const ir_value *v); /* product of dims[1..] if batched, else all; -1 if unknown */
int64_t ir_value_elements(const ir_value *v, int64_t batch); /* at this batch; -1 if unknown */
int ir_find_value(const ir_graph *g, const char *name);  /* -1 when absent */
int ir_find_layer(const ir_graph *g, const char *name);  /* -1 when absent */
ir_activation ir_act_none(void);

/* ---- the op table (ops.def, attrs.c) ----------------------------------------------------- */

/* Every field of ir_attrs, in declaration order; *count gets their number. */
const ir_attr_field *ir_attr_fields(int *count);
uint32_t ir_op_attr_groups(ir_op op);          /* IR_A_* groups the op reads; 0 for unknown ops */
int ir_field_belongs(const ir_attr_field *f, ir_op op);
int ir_op_min_inputs(ir_op op);
int ir_op_max_inputs(ir_op op);
int ir_op_min_outputs(ir_op op);
int ir_op_max_outputs(ir_op op);
/* The key of the first field node n sets that its op does not read (nonzero where the op reads
 * nothing; for act: a kind other than NONE), or NULL when there is none. */
const char *ir_node_stray_attr(const ir_node *n);
/* Whether an integer field element lies in the field's range. */
int ir_attr_int_in_range(const ir_attr_field *f, int64_t v);

/* ---- shape inference (shape.c) ------------------------------------------------------------- */

/* Checks node n's inputs and output count against its op and attributes and sets every output
 * value's dtype, rank, dims, batched and layout. Errors name the node. */
krt_status *ir_infer_node(ir_graph *g, int node);
/* Re-infers every node in order (after a pass or after loading an engine). */
krt_status *ir_infer_all(ir_graph *g);

/* ---- text (dump.c) ------------------------------------------------------------------------- */

/* One line per input, constant summary and node: "%7 = Conv(%3, w:conv1/kernel[3x3x3x16]) ..." */
krt_status *ir_dump(const ir_graph *g, char **text);
/* "[?x32x32x3]" into buf: -1 (batch or unknown) prints as "?"; truncated to fit size */
void ir_format_dims(const int64_t *dims, int rank, char *buf, size_t size);
/* A value's dims, "[Nx32x32x3]": N the batch of a batched value, "?" a dimension not known */
void ir_format_value_dims(const ir_value *v, char *buf, size_t size);
/* The attributes of a node that matter to a reader, into buf ("k=3x3 s=2x2 pad=0,0/1,1 act=relu") */
void ir_format_attrs(const ir_graph *g, const ir_node *n, char *buf, size_t size);

#endif
