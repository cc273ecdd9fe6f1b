/* TensorRT UFF files (.uff, written by NVIDIA's convert_to_uff from TensorFlow 1 frozen graphs;
 * TensorRT 10 removed the parser): the file, the walk over the nodes and one converter per UFF
 * core op. The schema is src/import/proto/uff.proto (declared for krt; its comment says where
 * the facts come from).
 *
 * What a UFF graph means: the converter keeps TensorFlow's semantics and axis order. Each tensor
 * is stored in the order of the TensorFlow graph (NHWC for a Keras model); a spatial op says
 * which order its input has in "inputs_orders" ('N+C' channels-last, 'NC+' channels-first) and
 * its kernel's ('+CK' for Conv: [kh, kw, Ci/groups, Co], TensorFlow's HWIO, which is krt's Conv
 * layout as it is). Binary broadcasts as numpy does (TensorFlow's BiasAdd became Binary add with
 * a [C] constant, [C, 1, 1] for NCHW graphs). UFF Input nodes of Keras graphs carry no shape:
 * import_options.input_shapes (krt build --input NAME:D1xD2x..., batch first, in the graph's
 * order) gives it.
 *
 * Which nodes are converted: those the outputs need. The outputs are the nodes the caller names
 * (import_options.outputs) or else the inputs of the MarkOutput nodes; nodes are converted inputs
 * first (an iterative depth-first walk). A node whose op has no converter, or that sets a field
 * its converter does not read, is refused by op, node id and field before anything is converted. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/import.h"
#include "uff.pb-c.h"

#define UFF_MAX_FILE_BYTES ((long)2 << 30) /* protobuf's own limit is 2 GiB */
#define UFF_MAX_ELEMENTS ((int64_t)1 << 31)

/* UFF DataType codes: class << 16 | bits (float32 0x20020 read from real files; int32 0x10020
 * follows the same scheme and is what the converter writes for Reshape shapes). */
#define UFF_DT_INT32 0x10020
#define UFF_DT_FLOAT32 0x20020

/* The spatial range '+' of a dim order is written as these two codes (uff.proto). */
#define UFF_SPATIAL_FIRST 2
#define UFF_SPATIAL_REST 2147483647

typedef struct uff_tensor {
  int value;     /* IR value id, or -1 while the tensor is only a constant */
  int is_static; /* a Const: data known while importing */
  int is_int;    /* static int32 data (ints) instead of float32 (floats) */
  int rank;      /* static tensors only; IR values carry their own shape */
  int64_t dims[KRT_MAX_RANK];
  float *floats;
  int64_t *ints;
} uff_tensor;

typedef struct uff_node {
  const Krt__Uff__Node *def;
  int state; /* 0 not reached, 1 queued, 2 converted */
  int converted;
  uff_tensor out;
} uff_node;

typedef struct uff_import {
  const char *file;
  const import_options *options;
  ir_graph *g;
  Krt__Uff__MetaGraph *meta;
  uff_node *nodes;
  size_t n_nodes;
  size_t *by_id; /* node indices sorted by id */
} uff_import;

typedef struct uff_call {
  uff_import *u;
  uff_node *node;
  const char *name;
  const char *op;
  int n_inputs;
  uff_tensor **inputs;
} uff_call;

typedef krt_status *(*uff_convert_fn)(uff_call *c);

/* ---- errors, fields ------------------------------------------------------------------------ */

static krt_status *node_error(const uff_call *c, krt_code code, const char *fmt, ...)
    KRT_PRINTF(3, 4);
static krt_status *node_error(const uff_call *c, krt_code code, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return krt_error(code, "%s: node '%s' (UFF op %s): %s", c->u->file, c->name, c->op, msg);
}

/* The value of a field, references to referenced_data followed; NULL when the node has none. */
static krt_status *field(const uff_call *c, const char *key, const Krt__Uff__Data **out) {
  *out = NULL;
  const Krt__Uff__Node *d = c->node->def;
  for (size_t i = 0; i < d->n_fields; i++)
    if (d->fields[i]->key && strcmp(d->fields[i]->key, key) == 0) *out = d->fields[i]->value;
  if (!*out) return NULL;
  if ((*out)->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_REF) return NULL;
  const char *ref = (*out)->ref;
  const Krt__Uff__MetaGraph *m = c->u->meta;
  for (size_t i = 0; i < m->n_referenced_data; i++)
    if (m->referenced_data[i]->key && strcmp(m->referenced_data[i]->key, ref) == 0) {
      *out = m->referenced_data[i]->value;
      if (!*out || (*out)->data_oneof_case == KRT__UFF__DATA__DATA_ONEOF_REF)
        return node_error(c, KRT_ERR_BAD_FILE, "field '%s': referenced data '%s' is %s", key, ref,
                          *out ? "another reference" : "empty");
      return NULL;
    }
  return node_error(c, KRT_ERR_BAD_FILE, "field '%s' refers to '%s', which the file does not hold",
                    key, ref);
}

static krt_status *wrong_kind(const uff_call *c, const char *key, const char *want) {
  return node_error(c, KRT_ERR_BAD_FILE, "field '%s' is not %s", key, want);
}

static krt_status *field_int(const uff_call *c, const char *key, int has_default, int64_t def,
                             int64_t *out) {
  const Krt__Uff__Data *v;
  KRT_TRY(field(c, key, &v));
  if (!v) {
    if (!has_default) return node_error(c, KRT_ERR_BAD_FILE, "field '%s' is missing", key);
    *out = def;
    return NULL;
  }
  if (v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_I) return wrong_kind(c, key, "an integer");
  *out = v->i;
  return NULL;
}

/* A string field into buf; "" when absent. */
static krt_status *field_string(const uff_call *c, const char *key, char *buf, size_t size) {
  const Krt__Uff__Data *v = NULL;
  buf[0] = '\0';
  KRT_TRY(field(c, key, &v));
  if (!v) return NULL;
  if (v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_S || !v->s)
    return wrong_kind(c, key, "a string");
  if (strlen(v->s) >= size)
    return node_error(c, KRT_ERR_UNSUPPORTED, "field '%s' is '%.40s...' (unknown)", key, v->s);
  snprintf(buf, size, "%s", v->s);
  return NULL;
}

/* An integer list; *n = -1 when the field is absent. */
static krt_status *field_ints(const uff_call *c, const char *key, int64_t *out, int max, int *n) {
  const Krt__Uff__Data *v;
  KRT_TRY(field(c, key, &v));
  *n = -1;
  if (!v) return NULL;
  if (v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_I_LIST)
    return wrong_kind(c, key, "a list of integers");
  size_t len = v->i_list ? v->i_list->n_val : 0;
  if (len > (size_t)max)
    return node_error(c, KRT_ERR_UNSUPPORTED, "field '%s' has %zu entries (at most %d)", key, len,
                      max);
  for (size_t i = 0; i < len; i++) out[i] = v->i_list->val[i];
  *n = (int)len;
  return NULL;
}

/* What a dim order says, for the orders krt maps (uff.proto gives the codes). */
typedef enum uff_order {
  ORDER_CHANNELS_LAST,  /* 'N+C': [N, spatial..., C] */
  ORDER_CHANNELS_FIRST, /* 'NC+': [N, C, spatial...] */
  ORDER_KERNEL_CK,      /* '+CK': [spatial..., Ci, Co] (Conv) */
  ORDER_KERNEL_KC,      /* '+KC': [spatial..., Co, Ci] (ConvTranspose) */
  ORDER_NC,             /* 'NC' (a matrix product's left side) and 'KC' (its right, transposed) */
  ORDER_CN,             /* 'CN' and 'CK' */
  ORDER_OTHER
} uff_order;

/* The order of input k from field "inputs_orders" for a tensor of the given rank. */
static krt_status *input_order(const uff_call *c, int k, int rank, uff_order *out) {
  const Krt__Uff__Data *v;
  KRT_TRY(field(c, "inputs_orders", &v));
  if (!v) return node_error(c, KRT_ERR_BAD_FILE, "field 'inputs_orders' is missing");
  if (v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_DIM_ORDERS_LIST || !v->dim_orders_list)
    return wrong_kind(c, "inputs_orders", "a list of dim orders");
  if ((size_t)k >= v->dim_orders_list->n_val)
    return node_error(c, KRT_ERR_BAD_FILE, "field 'inputs_orders' has no order for input %d", k);
  const Krt__Uff__DimOrders *o = v->dim_orders_list->val[k];
  const Krt__Uff__ListInt64 *codes = NULL;
  for (size_t i = 0; o && i < o->n_orders; i++)
    if (o->orders[i]->key == rank || (o->orders[i]->key == -1 && !codes))
      codes = o->orders[i]->value;
  if (!codes)
    return node_error(c, KRT_ERR_BAD_FILE, "field 'inputs_orders' gives input %d no order for rank %d",
                      k, rank);
  static const struct {
    int n;
    int64_t codes[4];
    uff_order order;
  } known[] = {{4, {0, UFF_SPATIAL_FIRST, UFF_SPATIAL_REST, 1}, ORDER_CHANNELS_LAST},
               {4, {0, 1, UFF_SPATIAL_FIRST, UFF_SPATIAL_REST}, ORDER_CHANNELS_FIRST},
               {4, {UFF_SPATIAL_FIRST, UFF_SPATIAL_REST, 1, 0}, ORDER_KERNEL_CK},
               {4, {UFF_SPATIAL_FIRST, UFF_SPATIAL_REST, 0, 1}, ORDER_KERNEL_KC},
               {2, {0, 1}, ORDER_NC},
               {2, {1, 0}, ORDER_CN}};
  *out = ORDER_OTHER;
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (codes->n_val == (size_t)known[i].n &&
        memcmp(codes->val, known[i].codes, (size_t)known[i].n * sizeof(int64_t)) == 0)
      *out = known[i].order;
  return NULL;
}

/* ---- tensors ------------------------------------------------------------------------------- */

static int64_t elements(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0 || (dims[i] && n > UFF_MAX_ELEMENTS / dims[i])) return -1;
    n *= dims[i];
  }
  return n;
}

static krt_status *emit(uff_call *c, ir_op op, const char *suffix, const int *inputs, int n,
                        const ir_attrs *attrs, int *out) {
  return import_emit_node(c->u->g, c->name, suffix, op, inputs, n, attrs, out, c->u->file, "UFF",
                          c->op);
}

static krt_status *transpose(uff_call *c, int x, const int *perm, const char *suffix, int *out) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  for (int i = 0; i < c->u->g->values[x].rank; i++) a.perm[i] = perm[i];
  return emit(c, IR_OP_TRANSPOSE, suffix, &x, 1, &a, out);
}

/* The IR value of x, a float32 constant made of a Const's data on first use. */
static krt_status *value_of(uff_call *c, uff_tensor *x, int *out) {
  if (x->value >= 0) {
    *out = x->value;
    return NULL;
  }
  if (!x->is_static || x->is_int)
    return node_error(c, KRT_ERR_UNSUPPORTED, "reads an integer constant as data");
  char name[1024];
  snprintf(name, sizeof name, "%s/const", c->name);
  for (int i = 2; ir_find_value(c->u->g, name) >= 0 && i < 1000; i++)
    snprintf(name, sizeof name, "%s/const_%d", c->name, i);
  KRT_TRY(ir_add_const_copy(c->u->g, name, x->rank, x->dims, x->floats, &x->value));
  *out = x->value;
  return NULL;
}

static krt_status *set_output(uff_call *c, int value) {
  c->node->out.value = value;
  return NULL;
}

static krt_status *need_inputs(const uff_call *c, int lo, int hi) {
  if (c->n_inputs < lo || c->n_inputs > hi)
    return node_error(c, KRT_ERR_BAD_FILE, "has %d inputs (%d expected)", c->n_inputs, lo);
  return NULL;
}

/* A float constant weight of the given rank. */
static krt_status *need_weight(const uff_call *c, int i, int rank, const char *what) {
  const uff_tensor *w = c->inputs[i];
  if (!w->is_static || w->is_int || w->rank != rank)
    return node_error(c, KRT_ERR_UNSUPPORTED, "the %s (input %d) must be a float constant of rank %d",
                      what, i, rank);
  return NULL;
}

/* ---- Input, Const, Identity, MarkOutput ------------------------------------------------------ */

/* The shape comes from the "shape" field (empty in files converted from Keras) and the caller's
 * input shape (full, batch first); a -1 or missing dimension 0 is the batch. */
static krt_status *convert_input(uff_call *c) {
  KRT_TRY(need_inputs(c, 0, 0));
  const Krt__Uff__Data *v;
  KRT_TRY(field(c, "dtype", &v));
  if (!v) return node_error(c, KRT_ERR_BAD_FILE, "field 'dtype' is missing");
  if (v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_DTYPE) return wrong_kind(c, "dtype", "a dtype");
  if (v->dtype != UFF_DT_FLOAT32)
    return node_error(c, KRT_ERR_UNSUPPORTED, "dtype 0x%llx (krt reads float32 inputs, 0x20020)",
                      (unsigned long long)v->dtype);
  int64_t dims[KRT_MAX_RANK];
  int rank;
  KRT_TRY(field_ints(c, "shape", dims, KRT_MAX_RANK, &rank));
  const import_options *o = c->u->options;
  const import_input_shape *given = NULL;
  for (int i = 0; o && i < o->n_input_shapes; i++)
    if (o->input_shapes[i].name && strcmp(o->input_shapes[i].name, c->name) == 0)
      given = &o->input_shapes[i];
  if (rank <= 0) {
    if (!given)
      return node_error(c, KRT_ERR_SHAPE,
                        "the input has no shape in the file; give it with --input %s:D1xD2x... "
                        "(batch first, in the graph's axis order: NHWC for a Keras model)",
                        c->name);
    rank = given->rank;
    for (int i = 0; i < rank; i++) dims[i] = i == 0 ? -1 : given->dims[i];
  }
  for (int i = 0; i < rank; i++)
    if (dims[i] < -1 || dims[i] > ((int64_t)1 << 40))
      return node_error(c, KRT_ERR_BAD_FILE, "shape has dimension %lld", (long long)dims[i]);
  if (given) {
    if (given->rank != rank)
      return node_error(c, KRT_ERR_SHAPE, "has rank %d, but the input shape given has rank %d",
                        rank, given->rank);
    for (int i = 1; i < rank; i++) {
      if (given->dims[i] < 0) continue;
      if (dims[i] < 0)
        dims[i] = given->dims[i];
      else if (dims[i] != given->dims[i])
        return node_error(c, KRT_ERR_SHAPE, "axis %d: the file says %lld, the shape given %lld",
                          i, (long long)dims[i], (long long)given->dims[i]);
    }
  }
  int id;
  KRT_TRY(ir_add_input(c->u->g, c->name, KRT_FLOAT32, rank, dims, rank > 0 && dims[0] == -1,
                       IR_LAYOUT_PLAIN, &id));
  return set_output(c, id);
}

/* Const: dtype, shape, values (raw little-endian elements, mostly a reference to
 * referenced_data). float32 data and int32 data (shapes) are read. */
static krt_status *convert_const(uff_call *c) {
  KRT_TRY(need_inputs(c, 0, 0));
  const Krt__Uff__Data *v;
  KRT_TRY(field(c, "dtype", &v));
  if (!v || v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_DTYPE)
    return node_error(c, KRT_ERR_BAD_FILE, "field 'dtype' is missing or not a dtype");
  if (v->dtype != UFF_DT_FLOAT32 && v->dtype != UFF_DT_INT32)
    return node_error(c, KRT_ERR_UNSUPPORTED, "a constant of dtype 0x%llx (krt reads float32 "
                      "0x20020 and int32 0x10020)", (unsigned long long)v->dtype);
  int is_int = v->dtype == UFF_DT_INT32;
  uff_tensor *t = &c->node->out;
  KRT_TRY(field_ints(c, "shape", t->dims, KRT_MAX_RANK, &t->rank));
  if (t->rank < 0) return node_error(c, KRT_ERR_BAD_FILE, "field 'shape' is missing");
  int64_t n = elements(t->rank, t->dims);
  if (n < 0) return node_error(c, KRT_ERR_BAD_FILE, "the shape is negative or too large");
  KRT_TRY(field(c, "values", &v));
  if (!v || v->data_oneof_case != KRT__UFF__DATA__DATA_ONEOF_BLOB)
    return node_error(c, KRT_ERR_UNSUPPORTED, "field 'values' is %s (krt reads raw data, a blob)",
                      v ? "not a blob" : "missing");
  if (v->blob.len != (size_t)n * 4)
    return node_error(c, KRT_ERR_BAD_FILE, "values hold %zu bytes; %lld elements take %lld",
                      v->blob.len, (long long)n, (long long)n * 4);
  t->is_static = 1;
  t->is_int = is_int;
  if (is_int) {
    t->ints = malloc((size_t)(n ? n : 1) * sizeof *t->ints);
    if (!t->ints) return krt_error_oom("constant");
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *b = v->blob.data + 4 * i;
      t->ints[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                             (uint32_t)b[3] << 24);
    }
  } else {
    t->floats = malloc((size_t)(n ? n : 1) * sizeof *t->floats);
    if (!t->floats) return krt_error_oom("constant");
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *b = v->blob.data + 4 * i;
      uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 24;
      memcpy(&t->floats[i], &bits, sizeof bits);
    }
  }
  return NULL;
}

static krt_status *convert_identity(uff_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  uff_tensor *x = c->inputs[0];
  if (x->value < 0) {
    /* a constant passed on: a copy of its data */
    uff_tensor *t = &c->node->out;
    int64_t n = elements(x->rank, x->dims);
    size_t width = x->is_int ? sizeof(int64_t) : sizeof(float);
    void *p = malloc((size_t)(n ? n : 1) * width);
    if (!p) return krt_error_oom("constant");
    memcpy(p, x->is_int ? (const void *)x->ints : (const void *)x->floats, (size_t)n * width);
    *t = *x;
    t->value = -1;
    t->ints = x->is_int ? p : NULL;
    t->floats = x->is_int ? NULL : p;
    return NULL;
  }
  int y;
  KRT_TRY(emit(c, IR_OP_IDENTITY, "", &x->value, 1, NULL, &y));
  return set_output(c, y);
}

/* ---- arithmetic, activations --------------------------------------------------------------- */

/* Binary: func add, sub, mul, div, min, max; numpy broadcasting. */
static krt_status *convert_binary(uff_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  char func[32];
  KRT_TRY(field_string(c, "func", func, sizeof func));
  static const struct {
    const char *name;
    ir_binary_kind kind;
  } table[] = {{"add", IR_BINARY_ADD}, {"sub", IR_BINARY_SUB}, {"mul", IR_BINARY_MUL},
               {"div", IR_BINARY_DIV}, {"min", IR_BINARY_MIN}, {"max", IR_BINARY_MAX}};
  ir_attrs a;
  memset(&a, 0, sizeof a);
  size_t i = 0;
  while (i < sizeof table / sizeof *table && strcmp(table[i].name, func) != 0) i++;
  if (i == sizeof table / sizeof *table)
    return node_error(c, KRT_ERR_UNSUPPORTED, "func '%s' is not supported (add, sub, mul, div, "
                      "min, max)", func);
  a.binary = table[i].kind;
  int ids[2];
  KRT_TRY(value_of(c, c->inputs[0], &ids[0]));
  KRT_TRY(value_of(c, c->inputs[1], &ids[1]));
  int y;
  KRT_TRY(emit(c, IR_OP_BINARY, "", ids, 2, &a, &y));
  return set_output(c, y);
}

/* Activation: func relu, relu6, sigmoid, tanh, elu, selu, softplus, softsign. */
static krt_status *convert_activation(uff_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  char func[32];
  KRT_TRY(field_string(c, "func", func, sizeof func));
  static const struct {
    const char *name;
    ir_act_kind kind;
  } table[] = {{"relu", IR_ACT_RELU},       {"relu6", IR_ACT_RELU},      {"sigmoid", IR_ACT_SIGMOID},
               {"tanh", IR_ACT_TANH},       {"elu", IR_ACT_ELU},         {"selu", IR_ACT_SELU},
               {"softplus", IR_ACT_SOFTPLUS}, {"softsign", IR_ACT_SOFTSIGN}};
  size_t i = 0;
  while (i < sizeof table / sizeof *table && strcmp(table[i].name, func) != 0) i++;
  if (i == sizeof table / sizeof *table)
    return node_error(c, KRT_ERR_UNSUPPORTED, "func '%s' is not supported (relu, relu6, sigmoid, "
                      "tanh, elu, selu, softplus, softsign)", func);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.act.kind = table[i].kind;
  if (a.act.kind == IR_ACT_RELU) a.act.max_value = strcmp(func, "relu6") == 0 ? 6.0f : INFINITY;
  if (a.act.kind == IR_ACT_ELU) a.act.alpha = 1.0f;
  int x, y;
  KRT_TRY(value_of(c, c->inputs[0], &x));
  KRT_TRY(emit(c, IR_OP_ACTIVATION, "", &x, 1, &a, &y));
  return set_output(c, y);
}

/* Unary: func neg, abs, sqrt, rsqrt, square, exp, log (the converter's names for TensorFlow's Neg,
 * Abs, ...; it also writes trigonometric funcs, floor, ceil and a 'pow' that has lost its
 * exponent, all refused). */
static krt_status *convert_unary(uff_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  char func[32];
  KRT_TRY(field_string(c, "func", func, sizeof func));
  static const struct {
    const char *name;
    ir_act_kind kind;
  } table[] = {{"neg", IR_ACT_NEG},       {"abs", IR_ACT_ABS},     {"sqrt", IR_ACT_SQRT},
               {"rsqrt", IR_ACT_RSQRT},   {"square", IR_ACT_SQUARE}, {"exp", IR_ACT_EXPONENTIAL},
               {"log", IR_ACT_LOG}};
  size_t i = 0;
  while (i < sizeof table / sizeof *table && strcmp(table[i].name, func) != 0) i++;
  if (i == sizeof table / sizeof *table)
    return node_error(c, KRT_ERR_UNSUPPORTED, "func '%s' is not supported (neg, abs, sqrt, rsqrt, "
                      "square, exp, log)", func);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.act.kind = table[i].kind;
  int x, y;
  KRT_TRY(value_of(c, c->inputs[0], &x));
  KRT_TRY(emit(c, IR_OP_ACTIVATION, "", &x, 1, &a, &y));
  return set_output(c, y);
}

/* ---- spatial ops ----------------------------------------------------------------------------- */

/* x as channels-last [N, H, W, C] from its order ('N+C' as it is, 'NC+' transposed). */
static krt_status *channels_last_input(uff_call *c, int *x, int *channels_first) {
  KRT_TRY(value_of(c, c->inputs[0], x));
  int rank = c->u->g->values[*x].rank;
  if (rank != 4)
    return node_error(c, KRT_ERR_UNSUPPORTED, "input has rank %d; krt converts the 2-D op (rank 4)",
                      rank);
  uff_order o = ORDER_OTHER;
  KRT_TRY(input_order(c, 0, rank, &o));
  if (o != ORDER_CHANNELS_LAST && o != ORDER_CHANNELS_FIRST)
    return node_error(c, KRT_ERR_UNSUPPORTED, "input 0's dim order is neither N+C nor NC+");
  *channels_first = o == ORDER_CHANNELS_FIRST;
  if (*channels_first) {
    static const int to_last[4] = {0, 2, 3, 1};
    KRT_TRY(transpose(c, *x, to_last, "/to_nhwc", x));
  }
  return NULL;
}

static krt_status *finish_spatial(uff_call *c, int channels_first, int y) {
  if (channels_first) {
    static const int to_first[4] = {0, 3, 1, 2};
    KRT_TRY(transpose(c, y, to_first, "/to_nchw", &y));
  }
  return set_output(c, y);
}

/* A two-entry list field (strides, dilation, kernel) into hw; def when absent. */
static krt_status *field_hw(uff_call *c, const char *key, int required, int def, int hw[2]) {
  int64_t v[KRT_MAX_RANK];
  int n = -1;
  KRT_TRY(field_ints(c, key, v, KRT_MAX_RANK, &n));
  if (n < 0) {
    if (required) return node_error(c, KRT_ERR_BAD_FILE, "field '%s' is missing", key);
    hw[0] = hw[1] = def;
    return NULL;
  }
  if (n != 2) return node_error(c, KRT_ERR_UNSUPPORTED, "field '%s' has %d entries (2: H, W)", key, n);
  for (int i = 0; i < 2; i++) {
    if (v[i] < 1 || v[i] > 65536)
      return node_error(c, KRT_ERR_UNSUPPORTED, "field '%s' holds %lld", key, (long long)v[i]);
    hw[i] = (int)v[i];
  }
  return NULL;
}

/* "implicit_padding" same (TensorFlow's SAME: the extra pixel at the end) or valid, or an
 * explicit "padding" [ph, pw] applied on both sides (the converter folds a symmetric Pad into
 * it); neither is valid. */
static krt_status *read_padding(uff_call *c, int x, ir_attrs *a) {
  char implicit[16];
  KRT_TRY(field_string(c, "implicit_padding", implicit, sizeof implicit));
  int64_t p[KRT_MAX_RANK];
  int n = -1;
  KRT_TRY(field_ints(c, "padding", p, KRT_MAX_RANK, &n));
  if (strcmp(implicit, "same") == 0) {
    if (n >= 0)
      return node_error(c, KRT_ERR_UNSUPPORTED, "both 'implicit_padding' same and 'padding'");
    const int64_t *dims = c->u->g->values[x].dims;
    for (int i = 0; i < 2; i++) {
      int64_t in = dims[1 + i];
      if (in < 0)
        return node_error(c, KRT_ERR_SHAPE, "padding same on an unknown spatial size; give the "
                          "input's shape with --input NAME:D1xD2x...");
      int64_t out = (in + a->stride[i] - 1) / a->stride[i];
      int64_t total = (out - 1) * a->stride[i] + (int64_t)(a->kernel[i] - 1) * a->dilation[i] + 1 - in;
      if (total < 0) total = 0;
      a->pad_begin[i] = total / 2;
      a->pad_end[i] = total - total / 2;
    }
    return NULL;
  }
  if (implicit[0] && strcmp(implicit, "valid") != 0)
    return node_error(c, KRT_ERR_UNSUPPORTED, "field 'implicit_padding' is '%s' (same or valid)",
                      implicit);
  if (n < 0) return NULL;
  if (n != 2) return node_error(c, KRT_ERR_UNSUPPORTED, "field 'padding' has %d entries (2: H, W)", n);
  for (int i = 0; i < 2; i++) {
    if (p[i] < 0 || p[i] > 65536)
      return node_error(c, KRT_ERR_UNSUPPORTED, "field 'padding' holds %lld", (long long)p[i]);
    a->pad_begin[i] = a->pad_end[i] = p[i];
  }
  return NULL;
}

/* Conv: x ('N+C' or 'NC+'), kernel ('+CK': [kh, kw, Ci/groups, Co]); strides, dilation,
 * number_groups, padding. A depthwise kernel as TensorFlow writes it ([kh, kw, Ci, M] with
 * number_groups = Ci) holds the same bytes as the grouped kernel [kh, kw, 1, Ci*M]: output
 * channel c*M + m is element [.., c, m] in both. */
static krt_status *convert_conv(uff_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  KRT_TRY(need_weight(c, 1, 4, "kernel"));
  uff_tensor *w = c->inputs[1];
  uff_order ko = ORDER_OTHER;
  KRT_TRY(input_order(c, 1, 4, &ko));
  if (ko != ORDER_KERNEL_CK)
    return node_error(c, KRT_ERR_UNSUPPORTED, "the kernel's dim order is not +CK");
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.spatial = 2;
  KRT_TRY(field_hw(c, "strides", 0, 1, a.stride));
  KRT_TRY(field_hw(c, "dilation", 0, 1, a.dilation));
  a.kernel[0] = (int)w->dims[0];
  a.kernel[1] = (int)w->dims[1];
  int64_t groups = 1;
  KRT_TRY(field_int(c, "number_groups", 1, 1, &groups));
  if (groups < 1 || groups > (1 << 20))
    return node_error(c, KRT_ERR_BAD_FILE, "number_groups is %lld", (long long)groups);
  int x = -1, channels_first = 0;
  KRT_TRY(channels_last_input(c, &x, &channels_first));
  KRT_TRY(read_padding(c, x, &a));
  int64_t ci = c->u->g->values[x].dims[3];
  int64_t wd[4] = {w->dims[0], w->dims[1], w->dims[2], w->dims[3]};
  if (ci < 1 || ci % groups)
    return node_error(c, KRT_ERR_SHAPE, "the input has %lld channels, not a multiple of "
                      "number_groups %lld", (long long)ci, (long long)groups);
  if (groups > 1 && wd[2] == ci && ci == groups && ci > 1) {
    wd[3] *= wd[2]; /* depthwise [kh, kw, Ci, M] read as [kh, kw, 1, Ci*M] */
    wd[2] = 1;
  }
  if (wd[2] != ci / groups)
    return node_error(c, KRT_ERR_SHAPE, "the kernel has %lld input channels; the input has %lld "
                      "in %lld groups", (long long)w->dims[2], (long long)ci, (long long)groups);
  a.groups = (int)groups;
  int ids[2] = {x, -1}, y;
  char name[1024];
  snprintf(name, sizeof name, "%s/kernel", c->name);
  KRT_TRY(ir_add_const_copy(c->u->g, name, 4, wd, w->floats, &ids[1]));
  KRT_TRY(emit(c, IR_OP_CONV, "", ids, 2, &a, &y));
  return finish_spatial(c, channels_first, y);
}

/* Pool: func max or avg, kernel, strides, padding as Conv's; x 'N+C' or 'NC+'. */
static krt_status *convert_pool(uff_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  char func[16];
  KRT_TRY(field_string(c, "func", func, sizeof func));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  if (strcmp(func, "max") == 0)
    a.pool = IR_POOL_MAX;
  else if (strcmp(func, "avg") == 0)
    a.pool = IR_POOL_AVG;
  else
    return node_error(c, KRT_ERR_UNSUPPORTED, "func '%s' is not supported (max, avg)", func);
  a.spatial = 2;
  KRT_TRY(field_hw(c, "kernel", 1, 1, a.kernel));
  KRT_TRY(field_hw(c, "strides", 0, 1, a.stride));
  int dil[2] = {1, 1};
  memcpy(a.dilation, dil, sizeof dil); /* read_padding's SAME arithmetic; Pool has no dilation */
  int x = -1, channels_first = 0, y = -1;
  KRT_TRY(channels_last_input(c, &x, &channels_first));
  KRT_TRY(read_padding(c, x, &a));
  memset(a.dilation, 0, sizeof a.dilation);
  KRT_TRY(emit(c, IR_OP_POOL, "", &x, 1, &a, &y));
  return finish_spatial(c, channels_first, y);
}

/* FullyConnected: x[N, C] ('NC'), W[C, K] ('CK') or [K, C] ('KC', transposed here): Dense. */
static krt_status *convert_fully_connected(uff_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  KRT_TRY(need_weight(c, 1, 2, "weights"));
  int x;
  KRT_TRY(value_of(c, c->inputs[0], &x));
  if (c->u->g->values[x].rank != 2)
    return node_error(c, KRT_ERR_UNSUPPORTED, "input has rank %d (2: N, C)", c->u->g->values[x].rank);
  uff_order xo = ORDER_OTHER, wo = ORDER_OTHER;
  KRT_TRY(input_order(c, 0, 2, &xo));
  KRT_TRY(input_order(c, 1, 2, &wo));
  if (xo != ORDER_NC)
    return node_error(c, KRT_ERR_UNSUPPORTED, "input 0's dim order is not NC (a transposed input)");
  if (wo != ORDER_NC && wo != ORDER_CN)
    return node_error(c, KRT_ERR_UNSUPPORTED, "the weights' dim order is neither CK nor KC");
  const uff_tensor *w = c->inputs[1];
  int64_t rows = w->dims[0], cols = w->dims[1];
  /* codes: C 1, K 0; 'CK' is [1, 0] (ORDER_CN), 'KC' [0, 1] (ORDER_NC) */
  int kc = wo == ORDER_NC;
  int64_t wd[2] = {kc ? cols : rows, kc ? rows : cols};
  int64_t count = rows * cols;
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof *data);
  if (!data) return krt_error_oom("weights");
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < cols; k++)
      data[kc ? k * rows + r : r * cols + k] = w->floats[r * cols + k];
  char name[1024];
  snprintf(name, sizeof name, "%s/weights", c->name);
  int ids[2] = {x, -1}, y;
  KRT_TRY(ir_add_const(c->u->g, name, 2, wd, data, &ids[1]));
  KRT_TRY(emit(c, IR_OP_DENSE, "", ids, 2, NULL, &y));
  return set_output(c, y);
}

/* ---- shapes ---------------------------------------------------------------------------------- */

static krt_status *convert_concat(uff_call *c) {
  if (c->n_inputs < 1) return node_error(c, KRT_ERR_BAD_FILE, "has no inputs");
  int64_t axis = 0;
  KRT_TRY(field_int(c, "axis", 0, 0, &axis));
  int *ids = malloc((size_t)c->n_inputs * sizeof *ids);
  if (!ids) return krt_error_oom("concat");
  krt_status *s = NULL;
  for (int i = 0; i < c->n_inputs && !s; i++) s = value_of(c, c->inputs[i], &ids[i]);
  int rank = s ? 0 : c->u->g->values[ids[0]].rank;
  if (!s && (axis < -rank || axis >= rank))
    s = node_error(c, KRT_ERR_BAD_FILE, "axis %lld for rank %d", (long long)axis, rank);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.axis = (int)(axis < 0 ? axis + rank : axis);
  int y = -1;
  if (!s) s = emit(c, IR_OP_CONCAT, "", ids, c->n_inputs, &a, &y);
  free(ids);
  KRT_TRY(s);
  return set_output(c, y);
}

/* Reshape x to the per-sample shape dims[0..rank) (the batch left out). */
static krt_status *reshape_to(uff_call *c, int x, int rank, const int64_t *dims) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.shape_rank = rank;
  for (int i = 0; i < rank; i++) a.shape[i] = dims[i];
  int y;
  KRT_TRY(emit(c, IR_OP_RESHAPE, "", &x, 1, &a, &y));
  return set_output(c, y);
}

/* Flatten: [N, d...] -> [N, prod(d)]. */
static krt_status *convert_flatten(uff_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  int x;
  KRT_TRY(value_of(c, c->inputs[0], &x));
  const ir_value *v = &c->u->g->values[x];
  int64_t n = ir_value_sample_elements(v);
  if (!v->batched || n < 0)
    return node_error(c, KRT_ERR_SHAPE, "flattens a tensor without a batch or of unknown size");
  return reshape_to(c, x, 1, &n);
}

/* Reshape: x and an int32 Const shape in TensorFlow's form (batch first: -1 or the batch; one
 * other -1 is inferred). */
static krt_status *convert_reshape(uff_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const uff_tensor *t = c->inputs[1];
  if (!t->is_static || !t->is_int || t->rank != 1)
    return node_error(c, KRT_ERR_UNSUPPORTED, "the shape (input 1) must be an int32 constant list");
  int x;
  KRT_TRY(value_of(c, c->inputs[0], &x));
  const ir_value *v = &c->u->g->values[x];
  int64_t r = t->dims[0];
  if (r < 1 || r > KRT_MAX_RANK)
    return node_error(c, KRT_ERR_UNSUPPORTED, "a target of rank %lld", (long long)r);
  if (!v->batched || (t->ints[0] != -1))
    return node_error(c, KRT_ERR_UNSUPPORTED, "krt reshapes batched tensors keeping the batch "
                      "(target axis 0 -1)");
  int64_t n = ir_value_sample_elements(v), known = 1, dims[KRT_MAX_RANK];
  int unknown = -1;
  for (int64_t i = 1; i < r; i++) {
    dims[i - 1] = t->ints[i];
    if (t->ints[i] == -1 && unknown < 0)
      unknown = (int)i - 1;
    else if (t->ints[i] < 1 || t->ints[i] > ((int64_t)1 << 40))
      return node_error(c, KRT_ERR_UNSUPPORTED, "target dimension %lld", (long long)t->ints[i]);
    else if (known > UFF_MAX_ELEMENTS / t->ints[i])
      return node_error(c, KRT_ERR_UNSUPPORTED, "a target of more than 2^31 elements");
    else
      known *= t->ints[i];
  }
  if (unknown >= 0) {
    if (n < 0 || known == 0 || n % known)
      return node_error(c, KRT_ERR_SHAPE, "cannot infer the -1 of the target");
    dims[unknown] = n / known;
  }
  return reshape_to(c, x, (int)r - 1, dims);
}

/* ---- the table ------------------------------------------------------------------------------- */

static const struct {
  const char *op;
  uff_convert_fn fn;
  const char *fields; /* the fields the converter reads; any other is refused */
} converters[] = {
    {"Input", convert_input, "dtype,shape"},
    {"Const", convert_const, "dtype,shape,values"},
    {"Identity", convert_identity, ""},
    {"Binary", convert_binary, "func"},
    {"Activation", convert_activation, "func"},
    {"Unary", convert_unary, "func"},
    {"Conv", convert_conv, "inputs_orders,strides,dilation,number_groups,implicit_padding,padding"},
    {"Pool", convert_pool, "func,inputs_orders,kernel,strides,implicit_padding,padding"},
    {"FullyConnected", convert_fully_connected, "inputs_orders"},
    {"Concat", convert_concat, "axis"},
    {"Flatten", convert_flatten, ""},
    {"Reshape", convert_reshape, ""},
};
#define N_CONVERTERS (sizeof converters / sizeof converters[0])

static int find_converter(const char *op) {
  for (size_t i = 0; i < N_CONVERTERS; i++)
    if (strcmp(converters[i].op, op) == 0) return (int)i;
  return -1;
}

/* ---- names and the walk ---------------------------------------------------------------------- */

static uff_import *sort_target;
static int compare_ids(const void *a, const void *b) {
  return strcmp(sort_target->nodes[*(const size_t *)a].def->id,
                sort_target->nodes[*(const size_t *)b].def->id);
}

static long find_node(const uff_import *u, const char *id) {
  size_t lo = 0, hi = u->n_nodes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(u->nodes[u->by_id[mid]].def->id, id);
    if (c == 0) return (long)u->by_id[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static krt_status *input_node(const uff_import *u, const Krt__Uff__Node *d, size_t k, long *out) {
  *out = find_node(u, d->inputs[k] ? d->inputs[k] : "");
  if (*out < 0)
    return krt_error(KRT_ERR_BAD_FILE, "%s: node '%s' (UFF op %s) reads '%s', which is no node of "
                     "the graph", u->file, d->id, d->operation, d->inputs[k] ? d->inputs[k] : "");
  return NULL;
}

static krt_status *check_convertible(const uff_import *u, const uff_node *n) {
  const Krt__Uff__Node *d = n->def;
  int i = find_converter(d->operation);
  if (i < 0 || strcmp(d->operation, "MarkOutput") == 0)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: node '%s' (UFF op %s): krt does not support this "
                     "UFF op", u->file, d->id, d->operation);
  if (d->n_extra_fields)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: node '%s' (UFF op %s): extra field '%s' is not "
                     "understood by krt", u->file, d->id, d->operation,
                     d->extra_fields[0]->key ? d->extra_fields[0]->key : "");
  for (size_t f = 0; f < d->n_fields; f++) {
    const char *key = d->fields[f]->key ? d->fields[f]->key : "";
    size_t len = strlen(key);
    int known = 0;
    for (const char *p = converters[i].fields; *p && !known;) {
      const char *comma = strchr(p, ',');
      size_t l = comma ? (size_t)(comma - p) : strlen(p);
      known = len && l == len && strncmp(p, key, len) == 0;
      p = comma ? comma + 1 : p + l;
    }
    if (!known)
      return krt_error(KRT_ERR_UNSUPPORTED, "%s: node '%s' (UFF op %s): field '%s' is not "
                       "understood by krt", u->file, d->id, d->operation, key);
  }
  return NULL;
}

/* Post-order over the inputs of the roots: order[] gets every needed node, inputs first. */
static krt_status *order_nodes(uff_import *u, const long *roots, size_t n_roots, size_t *order,
                               size_t *n_order) {
  typedef struct frame {
    size_t node, next_input;
  } frame;
  frame *stack = malloc((u->n_nodes + 1) * sizeof *stack);
  if (!stack) return krt_error_oom("node order");
  *n_order = 0;
  krt_status *s = NULL;
  for (size_t r = 0; r < n_roots && !s; r++) {
    if (u->nodes[roots[r]].state) continue;
    size_t depth = 0;
    stack[depth++] = (frame){(size_t)roots[r], 0};
    u->nodes[roots[r]].state = 1;
    s = check_convertible(u, &u->nodes[roots[r]]);
    while (depth && !s) {
      frame *f = &stack[depth - 1];
      const Krt__Uff__Node *d = u->nodes[f->node].def;
      if (f->next_input == d->n_inputs) {
        u->nodes[f->node].state = 2;
        order[(*n_order)++] = f->node;
        depth--;
        continue;
      }
      long in;
      s = input_node(u, d, f->next_input++, &in);
      if (s) continue;
      uff_node *m = &u->nodes[in];
      if (m->state == 1)
        s = krt_error(KRT_ERR_BAD_FILE, "%s: node '%s' (UFF op %s): the graph has a cycle through "
                      "it", u->file, m->def->id, m->def->operation);
      else if (m->state == 0) {
        m->state = 1;
        s = check_convertible(u, m);
        stack[depth++] = (frame){(size_t)in, 0};
      }
    }
  }
  free(stack);
  return s;
}

static krt_status *convert_node(uff_import *u, uff_node *n) {
  const Krt__Uff__Node *d = n->def;
  uff_tensor **inputs = calloc(d->n_inputs + 1, sizeof *inputs);
  if (!inputs) return krt_error_oom("node inputs");
  uff_call c = {u, n, d->id, d->operation, 0, inputs};
  krt_status *s = NULL;
  for (size_t i = 0; i < d->n_inputs && !s; i++) {
    long in;
    s = input_node(u, d, i, &in);
    if (!s) inputs[c.n_inputs++] = &u->nodes[in].out;
  }
  n->out.value = -1;
  if (!s) s = converters[find_converter(d->operation)].fn(&c);
  int64_t params = 0;
  for (int i = 0; !s && i < c.n_inputs; i++)
    if (inputs[i]->is_static && !inputs[i]->is_int)
      params += elements(inputs[i]->rank, inputs[i]->dims);
  free(inputs);
  if (s) return s;
  n->converted = 1;
  /* a layer per computed node, so that `--output NODE` can cut there */
  if (n->out.value >= 0 && ir_find_layer(u->g, d->id) < 0) {
    int layer;
    KRT_TRY(ir_add_layer(u->g, d->id, d->operation, &layer));
    u->g->layers[layer].output = n->out.value;
    u->g->layers[layer].param_count = params;
  }
  return NULL;
}

static void free_import(uff_import *u) {
  for (size_t i = 0; u->nodes && i < u->n_nodes; i++) {
    free(u->nodes[i].out.floats);
    free(u->nodes[i].out.ints);
  }
  free(u->nodes);
  free(u->by_id);
  if (u->meta) krt__uff__meta_graph__free_unpacked(u->meta, NULL);
}

static krt_status *publish(uff_import *u, long i) {
  uff_node *n = &u->nodes[i];
  if (n->out.value < 0)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: output node '%s' (UFF op %s) is a constant: there "
                     "is nothing to run", u->file, n->def->id, n->def->operation);
  return ir_add_output(u->g, n->out.value, n->def->id);
}

static krt_status *load(uff_import *u, const char *path) {
  const Krt__Uff__MetaGraph *m = u->meta;
  const Krt__Uff__Graph *graph = NULL;
  for (size_t i = 0; i < m->n_graphs; i++)
    if (m->graphs[i]->id && strcmp(m->graphs[i]->id, "main") == 0) graph = m->graphs[i];
  if (!graph && m->n_graphs == 1) graph = m->graphs[0];
  if (!graph)
    return krt_error(m->n_graphs ? KRT_ERR_UNSUPPORTED : KRT_ERR_BAD_FILE,
                     "%s: %zu graphs and none named 'main'", path, m->n_graphs);
  u->n_nodes = graph->n_nodes;
  if (!u->n_nodes) return krt_error(KRT_ERR_BAD_FILE, "%s: the graph has no nodes", path);
  u->nodes = calloc(u->n_nodes, sizeof *u->nodes);
  u->by_id = malloc(u->n_nodes * sizeof *u->by_id);
  u->g = ir_graph_create();
  if (!u->nodes || !u->by_id || !u->g) return krt_error_oom("graph");
  for (size_t i = 0; i < u->n_nodes; i++) {
    u->nodes[i].def = graph->nodes[i];
    u->nodes[i].out.value = -1;
    u->by_id[i] = i;
    if (!graph->nodes[i]->id || !graph->nodes[i]->id[0] || !graph->nodes[i]->operation ||
        !graph->nodes[i]->operation[0])
      return krt_error(KRT_ERR_BAD_FILE, "%s: node %zu has no id or no operation", path, i);
  }
  sort_target = u; /* qsort has no context argument; the import runs on one thread at a time */
  qsort(u->by_id, u->n_nodes, sizeof *u->by_id, compare_ids);
  sort_target = NULL;
  for (size_t i = 1; i < u->n_nodes; i++)
    if (strcmp(u->nodes[u->by_id[i]].def->id, u->nodes[u->by_id[i - 1]].def->id) == 0)
      return krt_error(KRT_ERR_BAD_FILE, "%s: two nodes have the id '%s'", path,
                       u->nodes[u->by_id[i]].def->id);
  u->g->source = strdup(path);
  if (!u->g->source) return krt_error_oom("graph");

  /* the roots: the outputs asked for, or what the MarkOutput nodes mark */
  const import_options *o = u->options;
  size_t cap = u->n_nodes + (o ? (size_t)o->n_outputs : 0) + 1, n_roots = 0;
  long *roots = malloc(cap * sizeof *roots);
  size_t *order = malloc((u->n_nodes + 1) * sizeof *order), n_order = 0;
  krt_status *s = NULL;
  if (!roots || !order) s = krt_error_oom("outputs");
  if (!s && o && o->n_outputs > 0) {
    for (int i = 0; i < o->n_outputs && !s; i++) {
      roots[n_roots] = find_node(u, o->outputs[i]);
      if (roots[n_roots++] < 0)
        s = krt_error(KRT_ERR_NOT_FOUND, "%s: the output asked for, '%s', is no node of the graph",
                      path, o->outputs[i]);
    }
  } else {
    for (size_t i = 0; i < u->n_nodes && !s; i++) {
      const Krt__Uff__Node *d = u->nodes[i].def;
      if (strcmp(d->operation, "MarkOutput") != 0) continue;
      if (d->n_fields || d->n_extra_fields)
        s = krt_error(KRT_ERR_UNSUPPORTED, "%s: node '%s' (UFF op MarkOutput): field '%s' is not "
                      "understood by krt", path, d->id,
                      d->n_fields ? d->fields[0]->key : d->extra_fields[0]->key);
      for (size_t k = 0; k < d->n_inputs && !s; k++) s = input_node(u, d, k, &roots[n_roots++]);
    }
    if (!s && n_roots == 0)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: the graph marks no output (no MarkOutput node); name "
                    "one with --output NODE", path);
  }
  if (!s) s = order_nodes(u, roots, n_roots, order, &n_order);
  for (size_t i = 0; !s && i < n_order; i++) s = convert_node(u, &u->nodes[order[i]]);
  for (size_t r = 0; !s && r < n_roots; r++) {
    int dup = 0;
    for (size_t q = 0; q < r; q++) dup |= roots[q] == roots[r];
    if (!dup) s = publish(u, roots[r]);
  }
  free(roots);
  free(order);
  return s;
}

krt_status *import_uff(const char *path, const import_options *options, ir_graph **out) {
  if (!path || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "import_uff: NULL argument");
  *out = NULL;
  uint8_t *bytes = NULL;
  size_t size = 0;
  KRT_TRY(import_read_file(path, UFF_MAX_FILE_BYTES, "more than a protocol buffer can hold",
                           &bytes, &size));
  uff_import u;
  memset(&u, 0, sizeof u);
  u.file = path;
  u.options = options;
  u.meta = krt__uff__meta_graph__unpack(NULL, size, bytes);
  free(bytes);
  if (!u.meta)
    return krt_error(KRT_ERR_BAD_FILE, "%s: not a UFF file (the protocol buffer does not decode)",
                     path);
  krt_status *s = load(&u, path);
  if (s) {
    ir_graph_free(u.g);
    free_import(&u);
    return s;
  }
  *out = u.g;
  free_import(&u);
  return NULL;
}
