/* The attribute schema: every field of ir_attrs with its engine-file key, type, length, range and
 * the IR_A_* groups it belongs to, and which groups each op reads (ops.def).
 *
 * Engines store a node's attributes as key/value records of the fields its op reads, and nothing
 * else (engine_file_attrs.c), so a field added here for a new op changes no other op's records.
 * Shape inference refuses a node that sets a field its op does not read (ir_node_stray_attr):
 * such a setting would be dropped by the kernels and by the engine file, a silent wrong answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ir/graph.h"

_Static_assert(sizeof(ir_act_kind) == sizeof(int32_t) && sizeof(ir_pool_kind) == sizeof(int32_t) &&
                   sizeof(ir_reduce_kind) == sizeof(int32_t) &&
                   sizeof(ir_binary_kind) == sizeof(int32_t) &&
                   sizeof(ir_resize_kind) == sizeof(int32_t) &&
                   sizeof(ir_rnn_cell) == sizeof(int32_t) && sizeof(int) == sizeof(int32_t),
               "enum and int fields are read and written as 32-bit integers");

/* No real tensor has an axis this long (the engine reader's bound too). */
#define DIM_MAX ((int64_t)1 << 40)

#define FIELD(key, type, member, count, lo, hi, groups) \
  {key, type, offsetof(ir_attrs, member), count, lo, hi, groups}
#define INT(key, member, lo, hi, groups) FIELD(key, IR_ATTR_INT32, member, 1, lo, hi, groups)
#define INTS(key, member, n, lo, hi, groups) FIELD(key, IR_ATTR_INT32, member, n, lo, hi, groups)
#define INT64S(key, member, n, lo, hi, groups) FIELD(key, IR_ATTR_INT64, member, n, lo, hi, groups)
#define FLOAT(key, member, groups) FIELD(key, IR_ATTR_FLOAT32, member, 1, 0, 0, groups)

static const ir_attr_field fields[] = {
    INT("act", act.kind, 0, IR_ACT_LAST, IR_A_ACT),
    FLOAT("act_alpha", act.alpha, IR_A_ACT),
    FLOAT("act_beta", act.beta, IR_A_ACT),
    FLOAT("act_max_value", act.max_value, IR_A_ACT),
    FLOAT("act_threshold", act.threshold, IR_A_ACT),
    INT("spatial", spatial, 0, IR_MAX_SPATIAL, IR_A_WINDOW | IR_A_RESIZE),
    INTS("kernel", kernel, IR_MAX_SPATIAL, 0, INT32_MAX, IR_A_WINDOW),
    INTS("stride", stride, IR_MAX_SPATIAL, 0, INT32_MAX, IR_A_WINDOW),
    INTS("dilation", dilation, IR_MAX_SPATIAL, 0, INT32_MAX, IR_A_DILATION),
    INTS("scale", scale, IR_MAX_SPATIAL, 0, INT32_MAX, IR_A_RESIZE),
    INT("groups", groups, 0, INT32_MAX, IR_A_GROUPS),
    INT64S("pad_begin", pad_begin, KRT_MAX_RANK, -DIM_MAX, DIM_MAX, IR_A_WINDOW | IR_A_PADS),
    INT64S("pad_end", pad_end, KRT_MAX_RANK, -DIM_MAX, DIM_MAX, IR_A_WINDOW | IR_A_PADS),
    INT64S("begin", begin, KRT_MAX_RANK, -DIM_MAX, DIM_MAX, IR_A_BEGIN_END),
    INT64S("end", end, KRT_MAX_RANK, -DIM_MAX, DIM_MAX, IR_A_BEGIN_END),
    INT("axis", axis, 0, KRT_MAX_RANK - 1, IR_A_AXIS),
    INT("n_axes", n_axes, 0, KRT_MAX_RANK, IR_A_AXES),
    INTS("axes", axes, KRT_MAX_RANK, 0, KRT_MAX_RANK - 1, IR_A_AXES),
    INT("keepdims", keepdims, 0, 1, IR_A_KEEPDIMS),
    INTS("perm", perm, KRT_MAX_RANK, 0, KRT_MAX_RANK - 1, IR_A_PERM),
    INT("shape_rank", shape_rank, 0, KRT_MAX_RANK, IR_A_SHAPE),
    INT64S("shape", shape, KRT_MAX_RANK, -1, DIM_MAX, IR_A_SHAPE),
    FLOAT("epsilon", epsilon, IR_A_EPSILON),
    INT("rms_scaling", rms_scaling, 0, 1, IR_A_RMS_SCALING),
    INT("pool", pool, IR_POOL_MAX, IR_POOL_AVG, IR_A_POOL),
    INT("reduce", reduce, IR_REDUCE_MEAN, IR_REDUCE_SUM, IR_A_REDUCE),
    INT("binary", binary, 0, IR_BINARY_LAST, IR_A_BINARY),
    INT("resize", resize, IR_RESIZE_NEAREST, IR_RESIZE_BILINEAR, IR_A_RESIZE),
    INT("residual", residual, 0, 1, IR_A_RESIDUAL),
    INT64S("sizes", sizes, IR_MAX_SPLIT, 0, DIM_MAX, IR_A_SIZES),
    INT("rnn_cell", rnn_cell, IR_RNN_SIMPLE, IR_RNN_CELL_LAST, IR_A_RNN),
    INT("rnn_units", rnn_units, 1, INT32_MAX, IR_A_RNN),
    INT("rnn_act", rnn_act.kind, 0, IR_ACT_LAST, IR_A_RNN),
    FLOAT("rnn_act_alpha", rnn_act.alpha, IR_A_RNN),
    FLOAT("rnn_act_beta", rnn_act.beta, IR_A_RNN),
    FLOAT("rnn_act_max_value", rnn_act.max_value, IR_A_RNN),
    FLOAT("rnn_act_threshold", rnn_act.threshold, IR_A_RNN),
    INT("rnn_gate_act", rnn_gate_act.kind, 0, IR_ACT_LAST, IR_A_RNN),
    FLOAT("rnn_gate_act_alpha", rnn_gate_act.alpha, IR_A_RNN),
    FLOAT("rnn_gate_act_beta", rnn_gate_act.beta, IR_A_RNN),
    FLOAT("rnn_gate_act_max_value", rnn_gate_act.max_value, IR_A_RNN),
    FLOAT("rnn_gate_act_threshold", rnn_gate_act.threshold, IR_A_RNN),
    INT("rnn_go_backwards", rnn_go_backwards, 0, 1, IR_A_RNN),
    INT("rnn_return_sequences", rnn_return_sequences, 0, 1, IR_A_RNN),
    INT("rnn_reverse_output", rnn_reverse_output, 0, 1, IR_A_RNN),
    INT("rnn_masked", rnn_masked, 0, 1, IR_A_RNN),
    INT("rnn_zero_masked_output", rnn_zero_masked_output, 0, 1, IR_A_RNN),
};

const ir_attr_field *ir_attr_fields(int *count) {
  *count = (int)(sizeof fields / sizeof fields[0]);
  return fields;
}

uint32_t ir_op_attr_groups(ir_op op) {
  switch (op) {
#define X(e, id, name, lo, hi, out_lo, out_hi, attrs, ...) \
  case e: return (attrs);
#include "ops.def"
#undef X
    default: return 0;
  }
}

int ir_op_min_inputs(ir_op op) {
  switch (op) {
#define X(e, id, name, lo, ...) \
  case e: return (lo);
#include "ops.def"
#undef X
    default: return 0;
  }
}

int ir_op_max_inputs(ir_op op) {
  switch (op) {
#define X(e, id, name, lo, hi, ...) \
  case e: return (hi);
#include "ops.def"
#undef X
    default: return 0;
  }
}

int ir_op_min_outputs(ir_op op) {
  switch (op) {
#define X(e, id, name, lo, hi, out_lo, ...) \
  case e: return (out_lo);
#include "ops.def"
#undef X
    default: return 0;
  }
}

int ir_op_max_outputs(ir_op op) {
  switch (op) {
#define X(e, id, name, lo, hi, out_lo, out_hi, ...) \
  case e: return (out_hi);
#include "ops.def"
#undef X
    default: return 0;
  }
}

int ir_field_belongs(const ir_attr_field *f, ir_op op) {
  return (f->groups & ir_op_attr_groups(op)) != 0;
}

int ir_attr_int_in_range(const ir_attr_field *f, int64_t v) {
  return v >= f->lo && v <= f->hi;
}

const char *ir_node_stray_attr(const ir_node *n) {
  static const ir_attrs zero;
  const uint8_t *set = (const uint8_t *)&n->attrs;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const ir_attr_field *f = &fields[i];
    if (ir_field_belongs(f, n->op)) continue;
    /* An activation's parameters mean nothing while its kind is NONE (ir_act_none() sets
     * max_value to infinity), so an op without one only needs the kind to be NONE. */
    if (f->groups == IR_A_ACT) {
      if (f->offset == offsetof(ir_attrs, act.kind) && n->attrs.act.kind != IR_ACT_NONE)
        return f->key;
      continue;
    }
    size_t bytes = (size_t)f->count * (f->type == IR_ATTR_INT64 ? 8 : 4);
    if (memcmp(set + f->offset, (const uint8_t *)&zero + f->offset, bytes) != 0) return f->key;
  }
  return NULL;
}
