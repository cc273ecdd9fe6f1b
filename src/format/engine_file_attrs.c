/* ir_attrs in the engine file: every field, in declaration order, little-endian. Writer and reader
 * sit side by side so the order visibly matches; adding a field to ir_attrs means a new format
 * version. Enums are u32, ints i32, int64s i64, floats their IEEE-754 bits as u32. */
#include "format/engine_file_layout.h"

static void write_ints(byte_writer *w, const int *v, int n) {
  for (int i = 0; i < n; i++) bw_i32(w, v[i]);
}

static void write_int64s(byte_writer *w, const int64_t *v, int n) {
  for (int i = 0; i < n; i++) bw_i64(w, v[i]);
}

void engine_attrs_write(byte_writer *w, const ir_attrs *a) {
  bw_u32(w, (uint32_t)a->act.kind);
  bw_f32(w, a->act.alpha);
  bw_f32(w, a->act.beta);
  bw_f32(w, a->act.max_value);
  bw_f32(w, a->act.threshold);
  bw_i32(w, a->spatial);
  write_ints(w, a->kernel, IR_MAX_SPATIAL);
  write_ints(w, a->stride, IR_MAX_SPATIAL);
  write_ints(w, a->dilation, IR_MAX_SPATIAL);
  write_ints(w, a->scale, IR_MAX_SPATIAL);
  bw_i32(w, a->groups);
  write_int64s(w, a->pad_begin, KRT_MAX_RANK);
  write_int64s(w, a->pad_end, KRT_MAX_RANK);
  write_int64s(w, a->begin, KRT_MAX_RANK);
  write_int64s(w, a->end, KRT_MAX_RANK);
  bw_i32(w, a->axis);
  bw_i32(w, a->n_axes);
  write_ints(w, a->axes, KRT_MAX_RANK);
  bw_i32(w, a->keepdims);
  write_ints(w, a->perm, KRT_MAX_RANK);
  bw_i32(w, a->shape_rank);
  write_int64s(w, a->shape, KRT_MAX_RANK);
  bw_f32(w, a->epsilon);
  bw_i32(w, a->rms_scaling);
  bw_u32(w, (uint32_t)a->pool);
  bw_u32(w, (uint32_t)a->reduce);
  bw_u32(w, (uint32_t)a->binary);
  bw_u32(w, (uint32_t)a->resize);
  bw_i32(w, a->residual);
}

static void read_ints(byte_reader *r, int *v, int n) {
  for (int i = 0; i < n; i++) v[i] = br_i32(r);
}

static void read_int64s(byte_reader *r, int64_t *v, int n) {
  for (int i = 0; i < n; i++) v[i] = br_i64(r);
}

/* Whether every v[i] lies in [lo, hi]. */
static int ints_in(const int *v, int n, int lo, int hi) {
  for (int i = 0; i < n; i++)
    if (v[i] < lo || v[i] > hi) return 0;
  return 1;
}

const char *engine_attrs_read(byte_reader *r, ir_attrs *a) {
  uint32_t act = br_u32(r);
  a->act.alpha = br_f32(r);
  a->act.beta = br_f32(r);
  a->act.max_value = br_f32(r);
  a->act.threshold = br_f32(r);
  a->spatial = br_i32(r);
  read_ints(r, a->kernel, IR_MAX_SPATIAL);
  read_ints(r, a->stride, IR_MAX_SPATIAL);
  read_ints(r, a->dilation, IR_MAX_SPATIAL);
  read_ints(r, a->scale, IR_MAX_SPATIAL);
  a->groups = br_i32(r);
  read_int64s(r, a->pad_begin, KRT_MAX_RANK);
  read_int64s(r, a->pad_end, KRT_MAX_RANK);
  read_int64s(r, a->begin, KRT_MAX_RANK);
  read_int64s(r, a->end, KRT_MAX_RANK);
  a->axis = br_i32(r);
  a->n_axes = br_i32(r);
  read_ints(r, a->axes, KRT_MAX_RANK);
  a->keepdims = br_i32(r);
  read_ints(r, a->perm, KRT_MAX_RANK);
  a->shape_rank = br_i32(r);
  read_int64s(r, a->shape, KRT_MAX_RANK);
  a->epsilon = br_f32(r);
  a->rms_scaling = br_i32(r);
  uint32_t pool = br_u32(r), reduce = br_u32(r), binary = br_u32(r), resize = br_u32(r);
  a->residual = br_i32(r);
  if (r->failed) return NULL;

  /* Enums are stored as u32 and range-checked before they become enum values. */
  if (act > IR_ACT_LAST) return "activation kind";
  if (pool > IR_POOL_AVG) return "pool kind";
  if (reduce > IR_REDUCE_SUM) return "reduce kind";
  if (binary > IR_BINARY_LAST) return "binary kind";
  if (resize > IR_RESIZE_BILINEAR) return "resize kind";
  a->act.kind = (ir_act_kind)act;
  a->pool = (ir_pool_kind)pool;
  a->reduce = (ir_reduce_kind)reduce;
  a->binary = (ir_binary_kind)binary;
  a->resize = (ir_resize_kind)resize;

  /* Counts and indices that code will use to index arrays; the rest is shape inference's. */
  if (a->spatial < 0 || a->spatial > IR_MAX_SPATIAL) return "spatial";
  if (!ints_in(a->kernel, IR_MAX_SPATIAL, 0, INT32_MAX)) return "kernel";
  if (!ints_in(a->stride, IR_MAX_SPATIAL, 0, INT32_MAX)) return "stride";
  if (!ints_in(a->dilation, IR_MAX_SPATIAL, 0, INT32_MAX)) return "dilation";
  if (!ints_in(a->scale, IR_MAX_SPATIAL, 0, INT32_MAX)) return "scale";
  if (a->groups < 0) return "groups";
  if (a->residual != 0 && a->residual != 1) return "residual flag";
  if (a->axis < 0 || a->axis >= KRT_MAX_RANK) return "axis";
  if (a->n_axes < 0 || a->n_axes > KRT_MAX_RANK) return "axis count";
  if (!ints_in(a->axes, KRT_MAX_RANK, 0, KRT_MAX_RANK - 1)) return "axes";
  if (!ints_in(a->perm, KRT_MAX_RANK, 0, KRT_MAX_RANK - 1)) return "perm";
  if (a->shape_rank < 0 || a->shape_rank > KRT_MAX_RANK) return "shape rank";
  for (int i = 0; i < KRT_MAX_RANK; i++)
    if (a->shape[i] < -1 || a->shape[i] > ENGINE_MAX_DIM) return "shape";
  return NULL;
}
