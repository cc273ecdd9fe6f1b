/* TensorFlow ops that make, pass on and rearrange tensors: Placeholder, Const, Identity, Shape
 * and its arithmetic, Reshape, Squeeze, ExpandDims, Transpose, ConcatV2, Pack, Unpack, Split,
 * Slice, StridedSlice, Pad, Tile, GatherV2, Cast, Fill, Range.
 *
 * Static inputs (constants, shapes) are folded while importing, so shape arithmetic never reaches
 * the engine; a batched tensor's Shape gives TF_BATCH_DIM for axis 0, which may only flow into a
 * Reshape target's axis 0 (tf_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/tf_internal.h"
#include "import/tf_ops.h"

/* ---- Placeholder, Const, Identity --------------------------------------------------------- */

static krt_status *dtype_of(const tf_op_call *c, int type, krt_dtype *out) {
  switch (type) {
    case KRT__TF__DATA_TYPE__DT_FLOAT: *out = KRT_FLOAT32; return NULL;
    case KRT__TF__DATA_TYPE__DT_DOUBLE: *out = KRT_FLOAT64; return NULL;
    case KRT__TF__DATA_TYPE__DT_HALF: *out = KRT_FLOAT16; return NULL;
    case KRT__TF__DATA_TYPE__DT_INT32: *out = KRT_INT32; return NULL;
    case KRT__TF__DATA_TYPE__DT_INT64: *out = KRT_INT64; return NULL;
    case KRT__TF__DATA_TYPE__DT_UINT8: *out = KRT_UINT8; return NULL;
    default:
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "dtype %s is not supported for a graph input",
                           tf_dtype_name(type));
  }
}

/* The input's shape from its "shape" attribute; -1 dims from the caller's input shapes. A
 * leading -1 is the batch, except on tf_import_graph's second try (fixed_first_dims), where a
 * given first size replaces it. */
krt_status *tf_convert_placeholder(tf_op_call *c) {
  int type;
  KRT_TRY(tf_attr_type(c, "dtype", 0, 0, &type));
  krt_dtype dtype = KRT_FLOAT32;
  KRT_TRY(dtype_of(c, type, &dtype));
  const Krt__Tf__AttrValue *a = tf_attr(c, "shape");
  const import_options *o = c->t->options;
  const import_input_shape *given = NULL;
  for (int i = 0; o && i < o->n_input_shapes; i++)
    if (o->input_shapes[i].name && strcmp(o->input_shapes[i].name, c->name) == 0)
      given = &o->input_shapes[i];
  int rank = 0;
  int64_t dims[KRT_MAX_RANK];
  int known_rank = a && a->value_case == KRT__TF__ATTR_VALUE__VALUE_SHAPE && !a->shape->unknown_rank;
  if (known_rank) {
    if (a->shape->n_dim > KRT_MAX_RANK)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "rank %zu (at most %d)", a->shape->n_dim,
                           KRT_MAX_RANK);
    rank = (int)a->shape->n_dim;
    for (int i = 0; i < rank; i++) {
      dims[i] = a->shape->dim[i]->size;
      if (dims[i] < -1 || dims[i] > ((int64_t)1 << 40))
        return tf_node_error(c, KRT_ERR_BAD_FILE, "shape has dimension %lld", (long long)dims[i]);
    }
  } else if (given) {
    rank = given->rank;
    for (int i = 0; i < rank; i++) dims[i] = i == 0 ? -1 : given->dims[i];
  } else {
    return tf_node_error(c, KRT_ERR_SHAPE,
                         "the placeholder has no shape; give it with --input %s:D1xD2x... (batch "
                         "first)",
                         c->name);
  }
  if (given) {
    if (given->rank != rank)
      return tf_node_error(c, KRT_ERR_SHAPE, "has rank %d, but the input shape given has rank %d",
                           rank, given->rank);
    for (int i = 1; i < rank; i++) {
      if (given->dims[i] < 0) continue;
      if (dims[i] < 0)
        dims[i] = given->dims[i];
      else if (dims[i] != given->dims[i])
        return tf_node_error(c, KRT_ERR_SHAPE,
                             "axis %d: the graph says %lld, the input shape given says %lld", i,
                             (long long)dims[i], (long long)given->dims[i]);
    }
  }
  int batched = rank > 0 && dims[0] == -1;
  if (batched) c->t->batched_inputs++;
  if (batched && given && given->rank == rank && given->dims[0] > 0) {
    c->t->first_dim_given = 1;
    if (c->t->fixed_first_dims) {
      dims[0] = given->dims[0];
      batched = 0;
    }
  }
  ir_layout layout = IR_LAYOUT_PLAIN;
  int id;
  KRT_TRY(ir_add_input(c->t->g, c->name, dtype, rank, dims, batched, layout, &id));
  return tf_set_output_value(c, 0, id);
}

/* Reads a TensorProto into static ints or floats. */
krt_status *tf_read_tensor(tf_op_call *c, const Krt__Tf__TensorProto *p, int k) {
  int rank = 0;
  int64_t dims[KRT_MAX_RANK];
  if (p->tensor_shape) {
    if (p->tensor_shape->n_dim > KRT_MAX_RANK)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a tensor of rank %zu (at most %d)",
                           p->tensor_shape->n_dim, KRT_MAX_RANK);
    rank = (int)p->tensor_shape->n_dim;
    for (int i = 0; i < rank; i++) dims[i] = p->tensor_shape->dim[i]->size;
  }
  int64_t n = tf_elements(rank, dims);
  if (n < 0)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "the tensor's shape is unknown or too large");
  int type = p->dtype;
  size_t width = 0, n_val = 0;
  int is_int = 1;
  switch (type) {
    case KRT__TF__DATA_TYPE__DT_FLOAT: width = 4; n_val = p->n_float_val; is_int = 0; break;
    case KRT__TF__DATA_TYPE__DT_DOUBLE: width = 8; n_val = p->n_double_val; is_int = 0; break;
    case KRT__TF__DATA_TYPE__DT_INT32: width = 4; n_val = p->n_int_val; break;
    case KRT__TF__DATA_TYPE__DT_INT16: width = 2; n_val = p->n_int_val; break;
    case KRT__TF__DATA_TYPE__DT_INT8: width = 1; n_val = p->n_int_val; break;
    case KRT__TF__DATA_TYPE__DT_UINT8: width = 1; n_val = p->n_int_val; break;
    case KRT__TF__DATA_TYPE__DT_UINT16: width = 2; n_val = p->n_int_val; break;
    case KRT__TF__DATA_TYPE__DT_INT64: width = 8; n_val = p->n_int64_val; break;
    case KRT__TF__DATA_TYPE__DT_BOOL: width = 1; n_val = p->n_bool_val; break;
    default:
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a constant of dtype %s", tf_dtype_name(type));
  }
  int64_t *ints = is_int ? malloc((size_t)(n ? n : 1) * sizeof *ints) : NULL;
  float *floats = is_int ? NULL : malloc((size_t)(n ? n : 1) * sizeof *floats);
  if (!ints && !floats) return krt_error_oom("constant");
  const uint8_t *raw = p->tensor_content.data;
  if (p->tensor_content.len) {
    if (p->tensor_content.len != (size_t)n * width) {
      free(ints);
      free(floats);
      return tf_node_error(c, KRT_ERR_BAD_FILE,
                           "the tensor holds %zu bytes; %lld elements of %s take %lld",
                           p->tensor_content.len, (long long)n, tf_dtype_name(type),
                           (long long)n * (long long)width);
    }
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *e = raw + (size_t)i * width;
      uint64_t u = 0;
      for (size_t b = 0; b < width; b++) u |= (uint64_t)e[b] << (8 * b); /* little-endian */
      switch (type) {
        case KRT__TF__DATA_TYPE__DT_FLOAT: {
          uint32_t w = (uint32_t)u;
          float f;
          memcpy(&f, &w, 4);
          floats[i] = f;
          break;
        }
        case KRT__TF__DATA_TYPE__DT_DOUBLE: {
          double d;
          memcpy(&d, &u, 8);
          floats[i] = (float)d;
          break;
        }
        case KRT__TF__DATA_TYPE__DT_INT32: ints[i] = (int32_t)(uint32_t)u; break;
        case KRT__TF__DATA_TYPE__DT_INT16: ints[i] = (int16_t)(uint16_t)u; break;
        case KRT__TF__DATA_TYPE__DT_INT8: ints[i] = (int8_t)(uint8_t)u; break;
        case KRT__TF__DATA_TYPE__DT_INT64: ints[i] = (int64_t)u; break;
        case KRT__TF__DATA_TYPE__DT_BOOL: ints[i] = u != 0; break;
        default: ints[i] = (int64_t)u; break; /* uint8, uint16 */
      }
    }
  } else if (n > 0) {
    /* Repeated values: fewer than n repeat the last one (TensorFlow's rule); none are zeros. */
    if (n_val > (size_t)n) {
      free(ints);
      free(floats);
      return tf_node_error(c, KRT_ERR_BAD_FILE, "the tensor lists %zu values for %lld elements",
                           n_val, (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
      size_t j = n_val == 0 ? 0 : ((size_t)i < n_val ? (size_t)i : n_val - 1);
      switch (type) {
        case KRT__TF__DATA_TYPE__DT_FLOAT: floats[i] = n_val ? p->float_val[j] : 0.0f; break;
        case KRT__TF__DATA_TYPE__DT_DOUBLE: floats[i] = n_val ? (float)p->double_val[j] : 0.0f; break;
        case KRT__TF__DATA_TYPE__DT_INT64: ints[i] = n_val ? p->int64_val[j] : 0; break;
        case KRT__TF__DATA_TYPE__DT_BOOL: ints[i] = n_val ? p->bool_val[j] != 0 : 0; break;
        default: ints[i] = n_val ? p->int_val[j] : 0; break;
      }
    }
  }
  krt_status *s = is_int ? tf_set_output_ints(c, k, rank, dims, ints)
                         : tf_set_output_floats(c, k, rank, dims, floats);
  if (!s) c->node->outputs[k].dtype = type;
  return s;
}

krt_status *tf_convert_const(tf_op_call *c) {
  const Krt__Tf__AttrValue *a = tf_attr(c, "value");
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_TENSOR)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "attribute 'value' is missing or not a tensor");
  return tf_read_tensor(c, a->tensor, 0);
}

static krt_status *need_inputs(const tf_op_call *c, int lo, int hi) {
  if (c->n_inputs < lo || c->n_inputs > hi)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs (expected %d%s%d)", c->n_inputs, lo,
                         lo == hi ? "" : " to ", hi);
  return NULL;
}

/* A copy of input i's static data as output k (Identity of a constant stays static). */
static krt_status *copy_static(tf_op_call *c, const tf_tensor *x, int k, int rank,
                               const int64_t *dims) {
  int64_t n = tf_elements(x->rank, x->dims);
  if (x->is_int) {
    int64_t *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d) return krt_error_oom("constant");
    if (n) memcpy(d, x->ints, (size_t)n * sizeof *d);
    return tf_set_output_ints(c, k, rank, dims, d);
  }
  float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (!d) return krt_error_oom("constant");
  if (n) memcpy(d, x->floats, (size_t)n * sizeof *d);
  return tf_set_output_floats(c, k, rank, dims, d);
}

/* Identity, StopGradient, Snapshot, PlaceholderWithDefault (frozen: its default) */
krt_status *tf_convert_identity(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  tf_tensor *x = c->inputs[0];
  if (x->value < 0) return copy_static(c, x, 0, x->rank, x->dims);
  return tf_set_output_value(c, 0, x->value);
}

krt_status *tf_convert_noop(tf_op_call *c) {
  (void)c;
  return NULL;
}

/* ---- shapes ------------------------------------------------------------------------------- */

krt_status *tf_convert_shape(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  int rank = tf_rank(c, c->inputs[0]);
  const int64_t *dims = tf_dims(c, c->inputs[0]);
  int batched = tf_batched(c, c->inputs[0]);
  int64_t *d = malloc((size_t)(rank ? rank : 1) * sizeof *d);
  if (!d) return krt_error_oom("shape");
  for (int i = 0; i < rank; i++) {
    d[i] = batched && i == 0 ? TF_BATCH_DIM : dims[i];
    if (d[i] < 0 && d[i] != TF_BATCH_DIM) {
      free(d);
      return tf_node_error(c, KRT_ERR_SHAPE,
                           "axis %d of its input is unknown; give the graph input's shape with "
                           "--input NAME:D1xD2x...",
                           i);
    }
  }
  int64_t n = rank;
  if (strcmp(c->op, "Shape") == 0) return tf_set_output_ints(c, 0, 1, &n, d);
  int64_t v = strcmp(c->op, "Rank") == 0 ? rank : tf_elements(rank, d);
  if (strcmp(c->op, "Size") == 0 && batched) v = -1;
  free(d);
  if (v < 0)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "the size of a batched tensor depends on the batch");
  int64_t *one = malloc(sizeof *one);
  if (!one) return krt_error_oom("shape");
  *one = v;
  return tf_set_output_ints(c, 0, 0, NULL, one);
}

/* Output dims of a reshape of x into target (TensorFlow's rules: one -1 inferred). For a batched
 * x, target[0] must be the batch (-1 or TF_BATCH_DIM) and the rest the sample's elements. */
static krt_status *reshape_to(tf_op_call *c, tf_tensor *x, const int64_t *target, int64_t n_target,
                              int k) {
  if (n_target > KRT_MAX_RANK)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a result of rank %lld (at most %d)",
                         (long long)n_target, KRT_MAX_RANK);
  int rank = (int)n_target, batched = tf_batched(c, x);
  int64_t dims[KRT_MAX_RANK];
  int unknown = -1;
  int64_t known = 1;
  for (int i = 0; i < rank; i++) {
    dims[i] = target[i];
    if (batched && i == 0) {
      if (target[0] != -1 && target[0] != TF_BATCH_DIM)
        return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                             "reshapes a batched tensor to axis 0 of %lld; krt keeps the batch on "
                             "axis 0 (-1 or the input's batch)",
                             (long long)target[0]);
      continue;
    }
    if (dims[i] == -1) {
      if (unknown >= 0) return tf_node_error(c, KRT_ERR_BAD_FILE, "the shape has two -1 entries");
      unknown = i;
    } else if (dims[i] < 0 || dims[i] > TF_MAX_ELEMENTS) {
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "shape entry %d is %lld", i, (long long)dims[i]);
    } else {
      known *= dims[i];
      if (known > TF_MAX_ELEMENTS) return tf_node_error(c, KRT_ERR_SHAPE, "the shape is too large");
    }
  }
  int xrank = tf_rank(c, x);
  const int64_t *xd = tf_dims(c, x);
  int64_t have = tf_elements(xrank - batched, xd + batched);
  if (have < 0)
    return tf_node_error(c, KRT_ERR_SHAPE, "its input's shape is not fully known");
  if (unknown >= 0) {
    if (known == 0 || have % known)
      return tf_node_error(c, KRT_ERR_SHAPE, "cannot infer the -1 of the shape");
    dims[unknown] = have / known;
    known = have;
  }
  if (known != have)
    return tf_node_error(c, KRT_ERR_SHAPE, "cannot reshape %lld elements (per sample) into %lld",
                         (long long)have, (long long)known);
  if (x->value < 0) return copy_static(c, x, k, rank, dims);
  if (!batched) {
    if (rank < 1 || xrank < 1 || dims[0] != xd[0])
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "reshapes axis 0 of an unbatched tensor; krt's Reshape keeps axis 0");
  }
  if (batched && rank < 1)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "reshapes a batched tensor into a scalar");
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.shape_rank = rank - 1;
  for (int i = 1; i < rank; i++) a.shape[i - 1] = dims[i];
  /* A reshape that changes nothing is left out. */
  int same = xrank == rank;
  for (int i = 1; same && i < rank; i++) same = xd[i] == dims[i];
  if (same) return tf_set_output_value(c, k, x->value);
  int y;
  char suffix[32] = "";
  if (k) snprintf(suffix, sizeof suffix, ":%d", k);
  KRT_TRY(tf_emit(c, IR_OP_RESHAPE, suffix, &x->value, 1, &a, &y));
  return tf_set_output_value(c, k, y);
}

krt_status *tf_convert_reshape(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const int64_t *target;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &target, &n));
  return reshape_to(c, c->inputs[0], target, n, 0);
}

static int normalise_axis(int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank) return 0;
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 1;
}

krt_status *tf_convert_squeeze(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  int64_t axes[KRT_MAX_RANK];
  int n_axes = 0;
  if (tf_attr(c, "squeeze_dims")) KRT_TRY(tf_attr_ints(c, "squeeze_dims", axes, KRT_MAX_RANK, &n_axes));
  int rank = tf_rank(c, c->inputs[0]);
  const int64_t *d = tf_dims(c, c->inputs[0]);
  int drop[KRT_MAX_RANK] = {0};
  for (int i = 0; i < n_axes; i++) {
    int a;
    if (!normalise_axis(axes[i], rank, &a) || d[a] != 1)
      return tf_node_error(c, KRT_ERR_SHAPE, "cannot squeeze axis %lld", (long long)axes[i]);
    drop[a] = 1;
  }
  for (int i = 0; n_axes == 0 && i < rank; i++) drop[i] = d[i] == 1;
  if (tf_batched(c, c->inputs[0])) drop[0] = 0;
  int64_t target[KRT_MAX_RANK];
  int n = 0;
  for (int i = 0; i < rank; i++)
    if (!drop[i]) target[n++] = tf_batched(c, c->inputs[0]) && i == 0 ? -1 : d[i];
  return reshape_to(c, c->inputs[0], target, n, 0);
}

krt_status *tf_convert_expand_dims(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const int64_t *axis;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &axis, &n));
  int rank = tf_rank(c, c->inputs[0]), a;
  if (n != 1 || !normalise_axis(axis[0], rank + 1, &a))
    return tf_node_error(c, KRT_ERR_BAD_FILE, "the axis is not one value in [-%d, %d]", rank + 1,
                         rank);
  if (rank + 1 > KRT_MAX_RANK)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a result of rank %d (at most %d)", rank + 1,
                         KRT_MAX_RANK);
  const int64_t *d = tf_dims(c, c->inputs[0]);
  int64_t target[KRT_MAX_RANK];
  int m = 0;
  for (int i = 0; i <= rank; i++) {
    if (i == a) target[m++] = 1;
    if (i < rank) target[m++] = tf_batched(c, c->inputs[0]) && i == 0 ? -1 : d[i];
  }
  return reshape_to(c, c->inputs[0], target, m, 0);
}

/* ---- Transpose ---------------------------------------------------------------------------- */

/* Static data permuted: y.dims[i] = x.dims[perm[i]]. */
static krt_status *transpose_static(tf_op_call *c, const tf_tensor *x, const int *perm) {
  int rank = x->rank;
  int64_t dims[KRT_MAX_RANK], stride[KRT_MAX_RANK];
  int64_t n = tf_elements(rank, x->dims);
  for (int i = rank - 1, s = 1; i >= 0; i--) {
    stride[i] = s;
    s *= (int)x->dims[i];
  }
  for (int i = 0; i < rank; i++) dims[i] = x->dims[perm[i]];
  int64_t *oi = x->is_int ? malloc((size_t)(n ? n : 1) * sizeof *oi) : NULL;
  float *of = x->is_int ? NULL : malloc((size_t)(n ? n : 1) * sizeof *of);
  if (!oi && !of) return krt_error_oom("transpose");
  int64_t idx[KRT_MAX_RANK] = {0};
  for (int64_t o = 0; o < n; o++) {
    int64_t src = 0;
    for (int i = 0; i < rank; i++) src += idx[i] * stride[perm[i]];
    if (oi)
      oi[o] = x->ints[src];
    else
      of[o] = x->floats[src];
    for (int i = rank - 1; i >= 0; i--) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
  return oi ? tf_set_output_ints(c, 0, rank, dims, oi) : tf_set_output_floats(c, 0, rank, dims, of);
}

krt_status *tf_convert_transpose(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const int64_t *p;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &p, &n));
  int rank = tf_rank(c, c->inputs[0]);
  if (n != rank)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "perm has %lld entries for rank %d", (long long)n,
                         rank);
  int perm[KRT_MAX_RANK], seen[KRT_MAX_RANK] = {0};
  for (int i = 0; i < rank; i++) {
    if (p[i] < 0 || p[i] >= rank || seen[p[i]])
      return tf_node_error(c, KRT_ERR_BAD_FILE, "perm is not a permutation");
    seen[p[i]] = 1;
    perm[i] = (int)p[i];
  }
  if (c->inputs[0]->value < 0) return transpose_static(c, c->inputs[0], perm);
  int identity = 1;
  for (int i = 0; i < rank; i++) identity &= perm[i] == i;
  if (identity) return tf_set_output_value(c, 0, c->inputs[0]->value);
  int y;
  KRT_TRY(tf_transpose(c, c->inputs[0]->value, perm, "", &y));
  return tf_set_output_value(c, 0, y);
}

/* ---- ConcatV2, Pack, Unpack, Split --------------------------------------------------------- */

/* Joins static inputs along axis (all of one kind). */
static krt_status *concat_static(tf_op_call *c, tf_tensor **xs, int n, int axis, int k) {
  int rank = xs[0]->rank, is_int = xs[0]->is_int;
  int64_t dims[KRT_MAX_RANK];
  memcpy(dims, xs[0]->dims, sizeof dims);
  dims[axis] = 0;
  for (int i = 0; i < n; i++) {
    if (xs[i]->rank != rank || xs[i]->is_int != is_int)
      return tf_node_error(c, KRT_ERR_SHAPE, "inputs of different ranks or types");
    for (int a = 0; a < rank; a++)
      if (a != axis && xs[i]->dims[a] != xs[0]->dims[a])
        return tf_node_error(c, KRT_ERR_SHAPE, "inputs disagree on axis %d", a);
    dims[axis] += xs[i]->dims[axis];
    if (dims[axis] > TF_MAX_ELEMENTS) return tf_node_error(c, KRT_ERR_SHAPE, "too large");
  }
  int64_t total = tf_elements(rank, dims);
  if (total < 0) return tf_node_error(c, KRT_ERR_SHAPE, "too large");
  int64_t outer = tf_elements(axis, dims), inner = tf_elements(rank - axis - 1, dims + axis + 1);
  int64_t *oi = is_int ? malloc((size_t)(total ? total : 1) * sizeof *oi) : NULL;
  float *of = is_int ? NULL : malloc((size_t)(total ? total : 1) * sizeof *of);
  if (!oi && !of) return krt_error_oom("concat");
  int64_t at = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int i = 0; i < n; i++) {
      int64_t len = xs[i]->dims[axis] * inner, from = o * len;
      for (int64_t e = 0; e < len; e++, at++) {
        if (oi)
          oi[at] = xs[i]->ints[from + e];
        else
          of[at] = xs[i]->floats[from + e];
      }
    }
  return oi ? tf_set_output_ints(c, k, rank, dims, oi) : tf_set_output_floats(c, k, rank, dims, of);
}

static krt_status *concat_values(tf_op_call *c, tf_tensor **xs, int n, int axis, const char *suffix,
                                 int *out) {
  int *ids = malloc((size_t)n * sizeof *ids);
  if (!ids) return krt_error_oom("concat");
  krt_status *s = NULL;
  for (int i = 0; i < n && !s; i++) s = tf_value(c, xs[i], &ids[i]);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.axis = axis;
  if (!s && n == 1) *out = ids[0];
  if (!s && n > 1) s = tf_emit(c, IR_OP_CONCAT, suffix, ids, n, &a, out);
  free(ids);
  return s;
}

krt_status *tf_convert_concat(tf_op_call *c) {
  int v2 = strcmp(c->op, "ConcatV2") == 0;
  if (c->n_inputs < 2) return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs", c->n_inputs);
  const int64_t *axis;
  int64_t n;
  KRT_TRY(tf_static_ints(c, v2 ? c->n_inputs - 1 : 0, &axis, &n));
  tf_tensor **xs = c->inputs + (v2 ? 0 : 1);
  int count = c->n_inputs - 1, rank = tf_rank(c, xs[0]), a, all_static = 1;
  if (n != 1 || !normalise_axis(axis[0], rank, &a))
    return tf_node_error(c, KRT_ERR_BAD_FILE, "the axis is not one value within the rank %d", rank);
  for (int i = 0; i < count; i++) all_static &= xs[i]->value < 0;
  if (all_static) return concat_static(c, xs, count, a, 0);
  int y;
  KRT_TRY(concat_values(c, xs, count, a, "", &y));
  return tf_set_output_value(c, 0, y);
}

krt_status *tf_convert_pack(tf_op_call *c) {
  if (c->n_inputs < 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "has no inputs");
  int64_t axis;
  KRT_TRY(tf_attr_int(c, "axis", 1, 0, &axis));
  int rank = tf_rank(c, c->inputs[0]), a, all_static = 1;
  if (!normalise_axis(axis, rank + 1, &a) || rank + 1 > KRT_MAX_RANK)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "axis %lld for inputs of rank %d", (long long)axis,
                         rank);
  for (int i = 0; i < c->n_inputs; i++) all_static &= c->inputs[i]->value < 0;
  if (all_static) {
    /* Each input with a new axis of 1 at a, then joined. */
    tf_tensor *views = calloc((size_t)c->n_inputs, sizeof *views);
    tf_tensor **ptrs = calloc((size_t)c->n_inputs, sizeof *ptrs);
    krt_status *s = views && ptrs ? NULL : krt_error_oom("pack");
    for (int i = 0; !s && i < c->n_inputs; i++) {
      views[i] = *c->inputs[i];
      if (views[i].rank != rank) s = tf_node_error(c, KRT_ERR_SHAPE, "inputs of different ranks");
      for (int d = rank; d > a; d--) views[i].dims[d] = views[i].dims[d - 1];
      views[i].dims[a] = 1;
      views[i].rank = rank + 1;
      ptrs[i] = &views[i];
    }
    if (!s) s = concat_static(c, ptrs, c->n_inputs, a, 0);
    free(views);
    free(ptrs);
    return s;
  }
  /* Each input reshaped to have the new axis, then a Concat. */
  int *ids = malloc((size_t)c->n_inputs * sizeof *ids);
  if (!ids) return krt_error_oom("pack");
  krt_status *s = NULL;
  for (int i = 0; i < c->n_inputs && !s; i++) {
    int x;
    s = tf_value(c, c->inputs[i], &x);
    if (s) break;
    const ir_value *v = &c->t->g->values[x];
    if (v->batched && a == 0) {
      s = tf_node_error(c, KRT_ERR_UNSUPPORTED, "stacks batched tensors on axis 0 (the batch)");
      break;
    }
    ir_attrs r;
    memset(&r, 0, sizeof r);
    r.shape_rank = rank;
    for (int d = 1, m = 0; d <= rank; d++) r.shape[m++] = d == a ? 1 : v->dims[d - (d > a)];
    if (a == 0) {
      s = tf_node_error(c, KRT_ERR_UNSUPPORTED, "stacks unbatched tensors on axis 0");
      break;
    }
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/expand_%d", i);
    s = tf_emit(c, IR_OP_RESHAPE, suffix, &x, 1, &r, &ids[i]);
  }
  ir_attrs ca;
  memset(&ca, 0, sizeof ca);
  ca.axis = a;
  int y = ids[0];
  if (!s && c->n_inputs > 1) s = tf_emit(c, IR_OP_CONCAT, "", ids, c->n_inputs, &ca, &y);
  free(ids);
  KRT_TRY(s);
  return tf_set_output_value(c, 0, y);
}

/* x[begin:end] on each axis (step 1) as output k: static data sliced here, a value by Slice. */
static krt_status *slice_to(tf_op_call *c, tf_tensor *x, const int64_t *begin, const int64_t *end,
                            const char *suffix, int *out) {
  int rank = tf_rank(c, x), full = 1;
  const int64_t *d = tf_dims(c, x);
  for (int i = 0; i < rank; i++) full &= begin[i] == 0 && end[i] == d[i];
  if (full) return tf_value(c, x, out);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  for (int i = 0; i < rank; i++) {
    a.begin[i] = begin[i];
    a.end[i] = end[i];
  }
  int v;
  KRT_TRY(tf_value(c, x, &v));
  return tf_emit(c, IR_OP_SLICE, suffix, &v, 1, &a, out);
}

/* Static data x[begin:end:step] per axis into a new array. */
static krt_status *slice_static(const tf_op_call *c, const tf_tensor *x, const int64_t *begin,
                                const int64_t *step, const int64_t *len, int64_t **oi, float **of) {
  int rank = x->rank;
  int64_t n = tf_elements(rank, len), stride[KRT_MAX_RANK];
  (void)c;
  for (int i = rank - 1, s = 1; i >= 0; i--) {
    stride[i] = s;
    s *= (int)x->dims[i];
  }
  *oi = x->is_int ? malloc((size_t)(n ? n : 1) * sizeof **oi) : NULL;
  *of = x->is_int ? NULL : malloc((size_t)(n ? n : 1) * sizeof **of);
  if (!*oi && !*of) return krt_error_oom("slice");
  int64_t idx[KRT_MAX_RANK] = {0};
  for (int64_t o = 0; o < n; o++) {
    int64_t src = 0;
    for (int i = 0; i < rank; i++) src += (begin[i] + idx[i] * step[i]) * stride[i];
    if (*oi)
      (*oi)[o] = x->ints[src];
    else
      (*of)[o] = x->floats[src];
    for (int i = rank - 1; i >= 0; i--) {
      if (++idx[i] < len[i]) break;
      idx[i] = 0;
    }
  }
  return NULL;
}

krt_status *tf_convert_unpack(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  int64_t num, axis;
  KRT_TRY(tf_attr_int(c, "num", 0, 0, &num));
  KRT_TRY(tf_attr_int(c, "axis", 1, 0, &axis));
  tf_tensor *x = c->inputs[0];
  int rank = tf_rank(c, x), a;
  const int64_t *d = tf_dims(c, x);
  if (!normalise_axis(axis, rank, &a) || d[a] != num || num < 1 || num > 1024)
    return tf_node_error(c, KRT_ERR_SHAPE, "cannot unstack axis %lld into %lld", (long long)axis,
                         (long long)num);
  if (tf_batched(c, x) && a == 0)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "unstacks the batch axis");
  int64_t xd[KRT_MAX_RANK];
  memcpy(xd, d, sizeof xd);
  for (int k = 0; k < num; k++) {
    int64_t begin[KRT_MAX_RANK], end[KRT_MAX_RANK], target[KRT_MAX_RANK], step[KRT_MAX_RANK];
    int m = 0;
    for (int i = 0; i < rank; i++) {
      begin[i] = i == a ? k : 0;
      end[i] = i == a ? k + 1 : xd[i];
      step[i] = 1;
      if (i != a) target[m++] = tf_batched(c, x) && i == 0 ? -1 : xd[i];
    }
    if (x->value < 0) {
      int64_t len[KRT_MAX_RANK], *oi;
      float *of;
      for (int i = 0; i < rank; i++) len[i] = end[i] - begin[i];
      KRT_TRY(slice_static(c, x, begin, step, len, &oi, &of));
      KRT_TRY(oi ? tf_set_output_ints(c, k, m, target, oi) : tf_set_output_floats(c, k, m, target, of));
      continue;
    }
    int y;
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/slice_%d", k);
    KRT_TRY(slice_to(c, x, begin, end, suffix, &y));
    tf_tensor piece = {.value = y};
    KRT_TRY(reshape_to(c, &piece, target, m, k));
  }
  return NULL;
}

/* Split (axis, x) into num_split equal parts; SplitV (x, size_splits, axis). */
krt_status *tf_convert_split(tf_op_call *c) {
  int v = strcmp(c->op, "SplitV") == 0;
  KRT_TRY(need_inputs(c, v ? 3 : 2, v ? 3 : 2));
  const int64_t *axis, *sizes = NULL;
  int64_t n, n_sizes = 0, num;
  KRT_TRY(tf_static_ints(c, v ? 2 : 0, &axis, &n));
  if (v) KRT_TRY(tf_static_ints(c, 1, &sizes, &n_sizes));
  KRT_TRY(tf_attr_int(c, "num_split", 0, 0, &num));
  tf_tensor *x = c->inputs[v ? 0 : 1];
  int rank = tf_rank(c, x), a;
  const int64_t *d = tf_dims(c, x);
  if (n != 1 || !normalise_axis(axis[0], rank, &a) || num < 1 || num > 1024 ||
      (v && n_sizes != num) || (!v && d[a] % num))
    return tf_node_error(c, KRT_ERR_SHAPE, "cannot split axis %lld into %lld parts",
                         (long long)(n == 1 ? axis[0] : -1), (long long)num);
  if (tf_batched(c, x) && a == 0) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "splits the batch axis");
  int64_t at = 0, xd[KRT_MAX_RANK];
  memcpy(xd, d, sizeof xd);
  int64_t split_len[1024];
  int64_t rest = xd[a], unknown = -1;
  for (int k = 0; k < num; k++) {
    split_len[k] = v ? sizes[k] : xd[a] / num;
    if (split_len[k] == -1 && unknown < 0)
      unknown = k;
    else if (split_len[k] < 0)
      return tf_node_error(c, KRT_ERR_SHAPE, "size_splits holds %lld", (long long)split_len[k]);
    else
      rest -= split_len[k];
  }
  if (unknown >= 0) split_len[unknown] = rest, rest = 0;
  if (rest != 0) return tf_node_error(c, KRT_ERR_SHAPE, "size_splits do not add up to the axis");
  for (int k = 0; k < num; k++) {
    int64_t begin[KRT_MAX_RANK], end[KRT_MAX_RANK], step[KRT_MAX_RANK], len[KRT_MAX_RANK];
    for (int i = 0; i < rank; i++) {
      begin[i] = i == a ? at : 0;
      end[i] = i == a ? at + split_len[k] : xd[i];
      step[i] = 1;
      len[i] = end[i] - begin[i];
    }
    at += split_len[k];
    if (x->value < 0) {
      int64_t *oi;
      float *of;
      KRT_TRY(slice_static(c, x, begin, step, len, &oi, &of));
      KRT_TRY(oi ? tf_set_output_ints(c, k, rank, len, oi) : tf_set_output_floats(c, k, rank, len, of));
      continue;
    }
    int y;
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/split_%d", k);
    KRT_TRY(slice_to(c, x, begin, end, suffix, &y));
    KRT_TRY(tf_set_output_value(c, k, y));
  }
  return NULL;
}

/* ---- Slice, StridedSlice ------------------------------------------------------------------- */

krt_status *tf_convert_slice(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 3, 3));
  const int64_t *begin, *size;
  int64_t nb, ns;
  KRT_TRY(tf_static_ints(c, 1, &begin, &nb));
  KRT_TRY(tf_static_ints(c, 2, &size, &ns));
  tf_tensor *x = c->inputs[0];
  int rank = tf_rank(c, x);
  const int64_t *d = tf_dims(c, x);
  if (nb != rank || ns != rank)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "begin and size must have %d entries", rank);
  int64_t b[KRT_MAX_RANK], e[KRT_MAX_RANK], step[KRT_MAX_RANK], len[KRT_MAX_RANK];
  for (int i = 0; i < rank; i++) {
    int batch_axis = tf_batched(c, x) && i == 0;
    b[i] = begin[i];
    e[i] = size[i] == -1 ? d[i] : begin[i] + size[i];
    if (batch_axis && !(begin[0] == 0 && size[0] == -1))
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "slices the batch axis");
    if (!batch_axis && (b[i] < 0 || e[i] < b[i] || e[i] > d[i]))
      return tf_node_error(c, KRT_ERR_SHAPE, "slice [%lld, %lld) outside axis %d of size %lld",
                           (long long)b[i], (long long)e[i], i, (long long)d[i]);
    step[i] = 1;
    len[i] = e[i] - b[i];
  }
  if (x->value < 0) {
    int64_t *oi;
    float *of;
    KRT_TRY(slice_static(c, x, b, step, len, &oi, &of));
    return oi ? tf_set_output_ints(c, 0, rank, len, oi) : tf_set_output_floats(c, 0, rank, len, of);
  }
  int y;
  KRT_TRY(slice_to(c, x, b, e, "", &y));
  return tf_set_output_value(c, 0, y);
}

/* StridedSlice: begin/end/strides with the five masks, resolved per input axis (TensorFlow's
 * rules: ellipsis expands to the axes not named, new_axis inserts 1, shrink_axis drops the
 * axis after taking one element). Static data: any strides; a value: stride 1, a Slice and a
 * Reshape for new and dropped axes. */
krt_status *tf_convert_strided_slice(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 4, 4));
  const int64_t *begin, *end, *strides;
  int64_t nb, ne, ns;
  KRT_TRY(tf_static_ints(c, 1, &begin, &nb));
  KRT_TRY(tf_static_ints(c, 2, &end, &ne));
  KRT_TRY(tf_static_ints(c, 3, &strides, &ns));
  int64_t m_begin, m_end, m_ellipsis, m_new, m_shrink;
  KRT_TRY(tf_attr_int(c, "begin_mask", 1, 0, &m_begin));
  KRT_TRY(tf_attr_int(c, "end_mask", 1, 0, &m_end));
  KRT_TRY(tf_attr_int(c, "ellipsis_mask", 1, 0, &m_ellipsis));
  KRT_TRY(tf_attr_int(c, "new_axis_mask", 1, 0, &m_new));
  KRT_TRY(tf_attr_int(c, "shrink_axis_mask", 1, 0, &m_shrink));
  if (nb != ne || nb != ns || nb < 1 || nb > 2 * KRT_MAX_RANK)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "begin, end and strides have %lld, %lld, %lld entries",
                         (long long)nb, (long long)ne, (long long)ns);
  tf_tensor *x = c->inputs[0];
  int rank = tf_rank(c, x), batched = tf_batched(c, x);
  const int64_t *d = tf_dims(c, x);
  int64_t b[KRT_MAX_RANK], e[KRT_MAX_RANK], st[KRT_MAX_RANK], len[KRT_MAX_RANK];
  int64_t out_dims[2 * KRT_MAX_RANK];
  int n_out = 0, axis = 0;
  int n_named = 0;
  for (int i = 0; i < nb; i++)
    if (!(m_new >> i & 1) && !(m_ellipsis >> i & 1)) n_named++;
  for (int i = 0; i < nb; i++) {
    if (m_ellipsis >> i & 1) {
      int span = rank - n_named;
      for (int k = 0; k < span && axis < rank; k++, axis++) {
        b[axis] = 0;
        e[axis] = d[axis];
        st[axis] = 1;
        len[axis] = d[axis];
        out_dims[n_out++] = batched && axis == 0 ? -1 : d[axis];
      }
      continue;
    }
    if (m_new >> i & 1) {
      out_dims[n_out++] = 1;
      continue;
    }
    if (axis >= rank) return tf_node_error(c, KRT_ERR_SHAPE, "indexes more axes than rank %d", rank);
    int64_t size = d[axis], s = strides[i];
    if (s == 0) return tf_node_error(c, KRT_ERR_BAD_FILE, "a stride of 0");
    if (batched && axis == 0) {
      if (!((m_begin & 1 || begin[i] == 0) && (m_end & 1) && s == 1 && !(m_shrink & 1)))
        return tf_node_error(c, KRT_ERR_UNSUPPORTED, "slices the batch axis");
      b[0] = 0, e[0] = -1, st[0] = 1, len[0] = -1;
      out_dims[n_out++] = -1;
      axis++;
      continue;
    }
    int64_t lo, hi;
    if (m_shrink >> i & 1) {
      lo = begin[i] < 0 ? begin[i] + size : begin[i];
      if (lo < 0 || lo >= size)
        return tf_node_error(c, KRT_ERR_SHAPE, "index %lld outside axis %d of size %lld",
                             (long long)begin[i], axis, (long long)size);
      b[axis] = lo, e[axis] = lo + 1, st[axis] = 1, len[axis] = 1;
      axis++;
      continue;
    }
    /* Clamp as Python slicing does: [0, size] for positive strides, [-1, size-1] for negative. */
    int64_t lo_clamp = s > 0 ? 0 : -1, hi_clamp = s > 0 ? size : size - 1;
    if (m_begin >> i & 1)
      lo = s > 0 ? 0 : size - 1;
    else {
      lo = begin[i] < 0 ? begin[i] + size : begin[i];
      lo = lo < lo_clamp ? lo_clamp : lo > hi_clamp ? hi_clamp : lo;
    }
    if (m_end >> i & 1)
      hi = s > 0 ? size : -1;
    else {
      hi = end[i] < 0 ? end[i] + size : end[i];
      hi = hi < lo_clamp ? lo_clamp : hi > hi_clamp ? hi_clamp : hi;
    }
    int64_t n = s > 0 ? (hi > lo ? (hi - lo + s - 1) / s : 0) : (lo > hi ? (lo - hi - s - 1) / -s : 0);
    b[axis] = lo, e[axis] = hi, st[axis] = s, len[axis] = n;
    out_dims[n_out++] = n;
    axis++;
  }
  for (; axis < rank; axis++) {
    b[axis] = 0, e[axis] = d[axis], st[axis] = 1, len[axis] = d[axis];
    out_dims[n_out++] = batched && axis == 0 ? -1 : d[axis];
  }
  if (n_out > KRT_MAX_RANK)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a result of rank %d (at most %d)", n_out,
                         KRT_MAX_RANK);
  if (x->value < 0) {
    int64_t *oi;
    float *of;
    KRT_TRY(slice_static(c, x, b, st, len, &oi, &of));
    return oi ? tf_set_output_ints(c, 0, n_out, out_dims, oi)
              : tf_set_output_floats(c, 0, n_out, out_dims, of);
  }
  for (int i = 0; i < rank; i++)
    if (st[i] != 1)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "a stride of %lld on axis %d of a computed tensor (krt slices with "
                           "step 1)",
                           (long long)st[i], i);
  if (batched) e[0] = d[0] < 0 ? -1 : d[0];
  int y;
  int64_t full_end[KRT_MAX_RANK];
  for (int i = 0; i < rank; i++) full_end[i] = batched && i == 0 ? d[0] : e[i];
  KRT_TRY(slice_to(c, x, b, full_end, "/slice", &y));
  tf_tensor piece = {.value = y};
  return reshape_to(c, &piece, out_dims, n_out, 0);
}

/* ---- Pad, Tile, Gather, Cast, Fill, Range --------------------------------------------------- */

krt_status *tf_convert_pad(tf_op_call *c) {
  int v2 = strcmp(c->op, "PadV2") == 0;
  KRT_TRY(need_inputs(c, v2 ? 3 : 2, v2 ? 3 : 2));
  if (v2) {
    tf_tensor *cv = c->inputs[2];
    if (!cv->is_static || tf_elements(cv->rank, cv->dims) != 1 ||
        (cv->is_int ? cv->ints[0] != 0 : cv->floats[0] != 0.0f))
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "pads with a value other than 0");
  }
  const int64_t *p;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &p, &n));
  int x;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  int rank = c->t->g->values[x].rank;
  if (n != 2 * rank) return tf_node_error(c, KRT_ERR_BAD_FILE, "paddings is not [%d, 2]", rank);
  ir_attrs a;
  memset(&a, 0, sizeof a);
  int any = 0;
  for (int i = 0; i < rank; i++) {
    a.pad_begin[i] = p[2 * i];
    a.pad_end[i] = p[2 * i + 1];
    if (p[2 * i] < 0 || p[2 * i + 1] < 0)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "negative padding");
    any |= p[2 * i] || p[2 * i + 1];
  }
  if (!any) return tf_set_output_value(c, 0, x);
  int y;
  KRT_TRY(tf_emit(c, IR_OP_PAD, "", &x, 1, &a, &y));
  return tf_set_output_value(c, 0, y);
}

krt_status *tf_convert_tile(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const int64_t *m;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &m, &n));
  tf_tensor *x = c->inputs[0];
  int rank = tf_rank(c, x);
  if (n != rank) return tf_node_error(c, KRT_ERR_BAD_FILE, "multiples has %lld entries", (long long)n);
  /* Tiling axis a by m is a Concat of m copies along a, axis by axis. */
  tf_tensor cur = *x;
  cur.ints = NULL, cur.floats = NULL;
  int owned = 0;
  tf_tensor *now = x;
  for (int a = 0; a < rank; a++) {
    /* 0 would make an empty tensor, which krt does not represent (and concatenating no copies
     * leaves the output unset) */
    if (m[a] < 1 || m[a] > 4096) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a multiple of %lld", (long long)m[a]);
    if (m[a] == 1) continue;
    if (tf_batched(c, now) && a == 0) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "tiles the batch axis");
    tf_tensor **copies = malloc((size_t)m[a] * sizeof *copies);
    if (!copies) return krt_error_oom("tile");
    for (int64_t i = 0; i < m[a]; i++) copies[i] = now;
    krt_status *s;
    if (now->value < 0) {
      s = concat_static(c, copies, (int)m[a], a, 0);
    } else {
      int y;
      char suffix[32];
      snprintf(suffix, sizeof suffix, "/tile_%d", a);
      s = concat_values(c, copies, (int)m[a], a, suffix, &y);
      if (!s) s = tf_set_output_value(c, 0, y);
    }
    free(copies);
    if (owned) {
      free(cur.ints);
      free(cur.floats);
    }
    KRT_TRY(s);
    /* The result so far moves out of the output slot to be tiled further. */
    cur = c->node->outputs[0];
    c->node->outputs[0] = (tf_tensor){.value = -1};
    owned = 1;
    now = &cur;
  }
  if (!owned) {
    if (x->value < 0) return copy_static(c, x, 0, x->rank, x->dims);
    return tf_set_output_value(c, 0, x->value);
  }
  if (cur.value >= 0) return tf_set_output_value(c, 0, cur.value);
  return cur.ints ? tf_set_output_ints(c, 0, cur.rank, cur.dims, cur.ints)
                  : tf_set_output_floats(c, 0, cur.rank, cur.dims, cur.floats);
}

/* GatherV2 (params, indices, axis), Gather (params, indices): a constant table [V, D] read at
 * computed indices is krt's Gather; static indices into anything are Slices and a Concat. */
krt_status *tf_convert_gather(tf_op_call *c) {
  int v2 = strcmp(c->op, "GatherV2") == 0;
  KRT_TRY(need_inputs(c, v2 ? 3 : 2, v2 ? 3 : 2));
  int64_t axis = 0, batch_dims = 0;
  KRT_TRY(tf_attr_int(c, "batch_dims", 1, 0, &batch_dims));
  if (batch_dims != 0) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "batch_dims %lld", (long long)batch_dims);
  if (v2) {
    const int64_t *a;
    int64_t n;
    KRT_TRY(tf_static_ints(c, 2, &a, &n));
    if (n != 1) return tf_node_error(c, KRT_ERR_BAD_FILE, "axis is not one value");
    axis = a[0];
  }
  tf_tensor *params = c->inputs[0], *indices = c->inputs[1];
  int rank = tf_rank(c, params), a;
  if (!normalise_axis(axis, rank, &a)) return tf_node_error(c, KRT_ERR_BAD_FILE, "axis %lld", (long long)axis);
  int64_t pd[KRT_MAX_RANK]; /* a copy: emitting nodes may move the graph's values */
  memcpy(pd, tf_dims(c, params), (size_t)rank * sizeof *pd);
  if (params->is_static && indices->value >= 0) {
    if (a != 0 || rank != 2)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "gathers from a constant of rank %d on axis %d (krt's Gather reads "
                           "rows of a [V, D] table)",
                           rank, a);
    int ids[2];
    KRT_TRY(tf_value(c, indices, &ids[0]));
    KRT_TRY(tf_value(c, params, &ids[1]));
    int y;
    KRT_TRY(tf_emit(c, IR_OP_GATHER, "", ids, 2, NULL, &y));
    return tf_set_output_value(c, 0, y);
  }
  if (!indices->is_static || !indices->is_int)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "gathers at computed indices from a computed tensor");
  int64_t n = tf_elements(indices->rank, indices->dims);
  if (n < 1 || n > 4096 || (tf_batched(c, params) && a == 0))
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "gathers %lld entries on axis %d", (long long)n, a);
  tf_tensor **pieces = calloc((size_t)n, sizeof *pieces);
  tf_tensor *store = calloc((size_t)n, sizeof *store);
  krt_status *s = pieces && store ? NULL : krt_error_oom("gather");
  for (int64_t i = 0; i < n && !s; i++) {
    int64_t at = indices->ints[i] < 0 ? indices->ints[i] + pd[a] : indices->ints[i];
    if (at < 0 || at >= pd[a]) {
      s = tf_node_error(c, KRT_ERR_SHAPE, "index %lld outside axis %d of size %lld",
                        (long long)indices->ints[i], a, (long long)pd[a]);
      break;
    }
    int64_t b[KRT_MAX_RANK] = {0}, e[KRT_MAX_RANK];
    for (int k = 0; k < rank; k++) e[k] = pd[k];
    b[a] = at, e[a] = at + 1;
    if (params->value < 0) {
      int64_t step[KRT_MAX_RANK], len[KRT_MAX_RANK], *oi;
      float *of;
      for (int k = 0; k < rank; k++) step[k] = 1, len[k] = e[k] - b[k];
      s = slice_static(c, params, b, step, len, &oi, &of);
      if (s) break;
      store[i] = (tf_tensor){.value = -1, .is_static = 1, .is_int = oi != NULL, .rank = rank, .ints = oi, .floats = of};
      memcpy(store[i].dims, len, sizeof len);
    } else {
      char suffix[32];
      snprintf(suffix, sizeof suffix, "/at_%lld", (long long)i);
      store[i].value = -1;
      s = slice_to(c, params, b, e, suffix, &store[i].value);
    }
    pieces[i] = &store[i];
  }
  /* Joined on axis a, then the axis replaced by the indices' shape. */
  int64_t target[KRT_MAX_RANK * 2];
  int m = 0;
  for (int k = 0; k < rank; k++) {
    if (k == a)
      for (int j = 0; j < indices->rank; j++) target[m++] = indices->dims[j];
    else
      target[m++] = tf_batched(c, params) && k == 0 ? -1 : pd[k];
  }
  if (!s && m > KRT_MAX_RANK) s = tf_node_error(c, KRT_ERR_UNSUPPORTED, "a result of rank %d", m);
  if (!s && params->value < 0) {
    s = concat_static(c, pieces, (int)n, a, 0);
    if (!s) {
      tf_tensor joined = c->node->outputs[0];
      c->node->outputs[0] = (tf_tensor){.value = -1};
      s = copy_static(c, &joined, 0, m, target);
      free(joined.ints);
      free(joined.floats);
    }
  } else if (!s) {
    int y;
    s = concat_values(c, pieces, (int)n, a, "/join", &y);
    tf_tensor joined = {.value = y};
    if (!s) s = reshape_to(c, &joined, target, m, 0);
  }
  for (int64_t i = 0; store && i < n; i++) {
    free(store[i].ints);
    free(store[i].floats);
  }
  free(pieces);
  free(store);
  return s;
}

static int is_float_type(int t) {
  return t == KRT__TF__DATA_TYPE__DT_FLOAT || t == KRT__TF__DATA_TYPE__DT_DOUBLE ||
         t == KRT__TF__DATA_TYPE__DT_HALF;
}

static int is_int_type(int t) {
  return t == KRT__TF__DATA_TYPE__DT_INT32 || t == KRT__TF__DATA_TYPE__DT_INT64 ||
         t == KRT__TF__DATA_TYPE__DT_INT16 || t == KRT__TF__DATA_TYPE__DT_INT8 ||
         t == KRT__TF__DATA_TYPE__DT_UINT8 || t == KRT__TF__DATA_TYPE__DT_UINT16 ||
         t == KRT__TF__DATA_TYPE__DT_BOOL;
}

/* Cast: static data converted here; computed tensors only between float types (krt computes
 * everything in float32). */
krt_status *tf_convert_cast(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  int src, dst;
  KRT_TRY(tf_attr_type(c, "SrcT", 0, 0, &src));
  KRT_TRY(tf_attr_type(c, "DstT", 0, 0, &dst));
  tf_tensor *x = c->inputs[0];
  if (x->value < 0) {
    int64_t n = tf_elements(x->rank, x->dims);
    if (is_float_type(dst)) {
      float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
      if (!f) return krt_error_oom("cast");
      for (int64_t i = 0; i < n; i++) f[i] = x->is_int ? (float)x->ints[i] : x->floats[i];
      if (x->is_int)
        for (int64_t i = 0; i < n; i++)
          if (x->ints[i] == TF_BATCH_DIM) {
            free(f);
            return tf_node_error(c, KRT_ERR_UNSUPPORTED, "casts the batch size");
          }
      return tf_set_output_floats(c, 0, x->rank, x->dims, f);
    }
    if (is_int_type(dst)) {
      int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
      if (!v) return krt_error_oom("cast");
      for (int64_t i = 0; i < n; i++) {
        if (x->is_int)
          v[i] = dst == KRT__TF__DATA_TYPE__DT_BOOL ? x->ints[i] != 0 : x->ints[i];
        else
          v[i] = dst == KRT__TF__DATA_TYPE__DT_BOOL ? x->floats[i] != 0.0f
                                                    : (int64_t)truncf(x->floats[i]);
      }
      return tf_set_output_ints(c, 0, x->rank, x->dims, v);
    }
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "casts to %s", tf_dtype_name(dst));
  }
  krt_dtype have = c->t->g->values[x->value].dtype;
  /* A computed bool is a float value of 0 and 1 (tf_ops_nn.c, booleans): to a float it stays,
   * from a float it is x != 0. */
  if (src == KRT__TF__DATA_TYPE__DT_BOOL && is_float_type(dst) && have == KRT_FLOAT32)
    return tf_set_output_value(c, 0, x->value);
  if (is_float_type(src) && dst == KRT__TF__DATA_TYPE__DT_BOOL &&
      (have == KRT_FLOAT32 || have == KRT_FLOAT64 || have == KRT_FLOAT16)) {
    static const float zero = 0.0f;
    int z, y;
    ir_attrs ne;
    memset(&ne, 0, sizeof ne);
    ne.binary = IR_BINARY_NOT_EQUAL;
    KRT_TRY(tf_const(c, "/zero", 0, NULL, &zero, &z));
    KRT_TRY(tf_emit(c, IR_OP_BINARY, "", (const int[]){x->value, z}, 2, &ne, &y));
    return tf_set_output_value(c, 0, y);
  }
  if (!is_float_type(src) || !is_float_type(dst) || have == KRT_INT32 || have == KRT_INT64 ||
      have == KRT_UINT8)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "casts a computed tensor from %s to %s; krt casts between float types "
                         "only",
                         tf_dtype_name(src), tf_dtype_name(dst));
  return tf_set_output_value(c, 0, x->value);
}

krt_status *tf_convert_fill(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const int64_t *dims;
  int64_t rank;
  KRT_TRY(tf_static_ints(c, 0, &dims, &rank));
  tf_tensor *v = c->inputs[1];
  if (!v->is_static || tf_elements(v->rank, v->dims) != 1)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "the fill value is not a known scalar");
  if (rank > KRT_MAX_RANK) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "rank %lld", (long long)rank);
  for (int i = 0; i < rank; i++)
    if (dims[i] == TF_BATCH_DIM)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "fills a tensor as large as the batch (krt makes no tensor from the "
                           "batch size alone)");
  int64_t n = tf_elements((int)rank, dims);
  if (n < 0) return tf_node_error(c, KRT_ERR_SHAPE, "the shape is unknown or too large");
  if (v->is_int) {
    int64_t *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d) return krt_error_oom("fill");
    for (int64_t i = 0; i < n; i++) d[i] = v->ints[0];
    return tf_set_output_ints(c, 0, (int)rank, dims, d);
  }
  float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (!d) return krt_error_oom("fill");
  for (int64_t i = 0; i < n; i++) d[i] = v->floats[0];
  return tf_set_output_floats(c, 0, (int)rank, dims, d);
}

krt_status *tf_convert_range(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 3, 3));
  const int64_t *a, *b, *s;
  int64_t n1, n2, n3;
  KRT_TRY(tf_static_ints(c, 0, &a, &n1));
  KRT_TRY(tf_static_ints(c, 1, &b, &n2));
  KRT_TRY(tf_static_ints(c, 2, &s, &n3));
  if (n1 != 1 || n2 != 1 || n3 != 1 || s[0] == 0 || a[0] == TF_BATCH_DIM || b[0] == TF_BATCH_DIM)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "start, limit and delta must be known scalars");
  int64_t n = s[0] > 0 ? (b[0] > a[0] ? (b[0] - a[0] + s[0] - 1) / s[0] : 0)
                       : (a[0] > b[0] ? (a[0] - b[0] - s[0] - 1) / -s[0] : 0);
  if (n > TF_MAX_ELEMENTS) return tf_node_error(c, KRT_ERR_SHAPE, "too large");
  int64_t *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (!d) return krt_error_oom("range");
  for (int64_t i = 0; i < n; i++) d[i] = a[0] + i * s[0];
  return tf_set_output_ints(c, 0, 1, &n, d);
}

/* ---- ReverseV2, Cross --------------------------------------------------------------------- */

/* Static data reversed along the axes flagged in rev. */
static krt_status *reverse_static(tf_op_call *c, const tf_tensor *x, const int *rev) {
  int rank = x->rank;
  int64_t n = tf_elements(rank, x->dims);
  int64_t *oi = x->is_int ? malloc((size_t)(n ? n : 1) * sizeof *oi) : NULL;
  float *of = x->is_int ? NULL : malloc((size_t)(n ? n : 1) * sizeof *of);
  if (!oi && !of) return krt_error_oom("reverse");
  int64_t idx[KRT_MAX_RANK] = {0};
  for (int64_t o = 0; o < n; o++) {
    int64_t src = 0; /* row-major offset of the mirrored index */
    for (int i = 0; i < rank; i++) src = src * x->dims[i] + (rev[i] ? x->dims[i] - 1 - idx[i] : idx[i]);
    if (oi)
      oi[o] = x->ints[src];
    else
      of[o] = x->floats[src];
    for (int i = rank - 1; i >= 0; i--) {
      if (++idx[i] < x->dims[i]) break;
      idx[i] = 0;
    }
  }
  return oi ? tf_set_output_ints(c, 0, rank, x->dims, oi) : tf_set_output_floats(c, 0, rank, x->dims, of);
}

/* ReverseV2(x, axis): static data is reversed here; a value along axis a of length L (known,
 * not the batch, at most 64) as a Concat of its L one-wide Slices in reverse order (exact). */
krt_status *tf_convert_reverse(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  const int64_t *ax;
  int64_t n;
  KRT_TRY(tf_static_ints(c, 1, &ax, &n));
  tf_tensor *x = c->inputs[0];
  int rank = tf_rank(c, x);
  /* a copy: the dims may live in the graph's values, which emitting below moves */
  int64_t dims[KRT_MAX_RANK];
  if (rank > 0) memcpy(dims, tf_dims(c, x), (size_t)rank * sizeof dims[0]);
  int rev[KRT_MAX_RANK] = {0};
  for (int64_t i = 0; i < n; i++) {
    int64_t a = ax[i] < 0 ? ax[i] + rank : ax[i];
    if (a < 0 || a >= rank || rev[a])
      return tf_node_error(c, KRT_ERR_BAD_FILE, "axis %lld is out of range or repeated for rank %d",
                           (long long)ax[i], rank);
    rev[a] = 1;
  }
  if (x->value < 0) return reverse_static(c, x, rev);
  int y = x->value;
  for (int a = 0; a < rank; a++) {
    if (!rev[a] || dims[a] == 1) continue;
    if (a == 0 && tf_batched(c, x))
      return tf_node_error(c, KRT_ERR_UNSUPPORTED, "reverses the batch axis");
    if (dims[a] < 1 || dims[a] > 64)
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "reverses axis %d of length %lld at run time; krt does so for known "
                           "lengths up to 64 (as one-wide slices)",
                           a, (long long)dims[a]);
    int parts[64];
    const ir_value *v = &c->t->g->values[y];
    for (int k = 0; k < dims[a]; k++) {
      ir_attrs s;
      memset(&s, 0, sizeof s);
      for (int i = 0; i < rank; i++) {
        s.begin[i] = 0;
        s.end[i] = v->dims[i];
      }
      s.begin[a] = dims[a] - 1 - k;
      s.end[a] = dims[a] - k;
      char suffix[48];
      snprintf(suffix, sizeof suffix, "/axis%d_%d", a, k);
      KRT_TRY(tf_emit(c, IR_OP_SLICE, suffix, &y, 1, &s, &parts[k]));
      v = &c->t->g->values[y]; /* emitting may move the values */
    }
    ir_attrs cat;
    memset(&cat, 0, sizeof cat);
    cat.axis = a;
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/axis%d", a);
    KRT_TRY(tf_emit(c, IR_OP_CONCAT, suffix, parts, (int)dims[a], &cat, &y));
  }
  return tf_set_output_value(c, 0, y); /* x itself when every reversed axis has length 1 */
}

/* x rotated left by r (1 or 2) along its last axis of length 3: [x_r, x_(r+1)%3, x_(r+2)%3]. */
static krt_status *rotate3(tf_op_call *c, int x, int r, const char *suffix, int *out) {
  const ir_value *v = &c->t->g->values[x];
  int rank = v->rank;
  ir_attrs head, tail;
  memset(&head, 0, sizeof head);
  memset(&tail, 0, sizeof tail);
  for (int i = 0; i < rank; i++) {
    head.end[i] = tail.end[i] = v->dims[i];
  }
  tail.begin[rank - 1] = r; /* x[..., r:3] */
  head.end[rank - 1] = r;   /* x[..., 0:r] */
  int parts[2];
  char name[48];
  snprintf(name, sizeof name, "%s_tail", suffix);
  KRT_TRY(tf_emit(c, IR_OP_SLICE, name, &x, 1, &tail, &parts[0]));
  snprintf(name, sizeof name, "%s_head", suffix);
  KRT_TRY(tf_emit(c, IR_OP_SLICE, name, &x, 1, &head, &parts[1]));
  ir_attrs cat;
  memset(&cat, 0, sizeof cat);
  cat.axis = rank - 1;
  return tf_emit(c, IR_OP_CONCAT, suffix, parts, 2, &cat, out);
}

/* Cross(a, b), both [..., 3]: with a1 = a rotated by one ([a1, a2, a0]) and a2 by two
 * ([a2, a0, a1]), a x b = a1 * b2 - a2 * b1, component by component:
 * [a1 b2 - a2 b1, a2 b0 - a0 b2, a0 b1 - a1 b0]. */
krt_status *tf_convert_cross(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  KRT_TRY(tf_require_float_type(c, "T"));
  int a, b;
  KRT_TRY(tf_value(c, c->inputs[0], &a));
  KRT_TRY(tf_value(c, c->inputs[1], &b));
  const ir_value *va = &c->t->g->values[a], *vb = &c->t->g->values[b];
  int same = va->rank == vb->rank && va->rank >= 1;
  for (int i = 0; same && i < va->rank; i++) same = va->dims[i] == vb->dims[i];
  if (!same || va->dims[va->rank - 1] != 3 || (va->rank == 1 && va->batched))
    return tf_node_error(c, KRT_ERR_SHAPE,
                         "needs two inputs of the same shape [..., 3] (the batch not last)");
  int a1, a2, b1, b2, p, q, y;
  KRT_TRY(rotate3(c, a, 1, "/a1", &a1));
  KRT_TRY(rotate3(c, a, 2, "/a2", &a2));
  KRT_TRY(rotate3(c, b, 1, "/b1", &b1));
  KRT_TRY(rotate3(c, b, 2, "/b2", &b2));
  ir_attrs m;
  memset(&m, 0, sizeof m);
  m.binary = IR_BINARY_MUL;
  KRT_TRY(tf_emit(c, IR_OP_BINARY, "/p", (const int[]){a1, b2}, 2, &m, &p));
  KRT_TRY(tf_emit(c, IR_OP_BINARY, "/q", (const int[]){a2, b1}, 2, &m, &q));
  m.binary = IR_BINARY_SUB;
  KRT_TRY(tf_emit(c, IR_OP_BINARY, "", (const int[]){p, q}, 2, &m, &y));
  return tf_set_output_value(c, 0, y);
}

/* MatrixDiag(d[..., n]) -> [..., n, n] with d on the diagonals and 0 elsewhere: static data only
 * (tf.eye writes it over a Fill); a computed diagonal is refused. */
krt_status *tf_convert_matrix_diag(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  const tf_tensor *x = c->inputs[0];
  if (x->value >= 0 || !x->is_static)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "the diagonal is computed at run time; krt converts MatrixDiag of "
                         "static data only");
  if (x->rank < 1 || x->rank + 1 > KRT_MAX_RANK)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a diagonal of rank %d", x->rank);
  int64_t n = x->dims[x->rank - 1], rows = tf_elements(x->rank - 1, x->dims);
  int64_t dims[KRT_MAX_RANK];
  memcpy(dims, x->dims, (size_t)x->rank * sizeof *dims);
  dims[x->rank] = n;
  int64_t total = tf_elements(x->rank + 1, dims);
  if (total < 0 || total > TF_MAX_ELEMENTS)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "a result of more than %lld elements",
                         (long long)TF_MAX_ELEMENTS);
  int64_t *oi = x->is_int ? calloc((size_t)(total ? total : 1), sizeof *oi) : NULL;
  float *of = x->is_int ? NULL : calloc((size_t)(total ? total : 1), sizeof *of);
  if (!oi && !of) return krt_error_oom("diagonal");
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < n; i++) {
      int64_t at = (r * n + i) * n + i;
      if (oi)
        oi[at] = x->ints[r * n + i];
      else
        of[at] = x->floats[r * n + i];
    }
  return oi ? tf_set_output_ints(c, 0, x->rank + 1, dims, oi)
            : tf_set_output_floats(c, 0, x->rank + 1, dims, of);
}

/* ReverseSequence(x, seq_lengths): for each b along batch_dim, x's first seq_lengths[b] entries
 * along seq_dim reversed, the rest kept. With static lengths and known lengths of both axes (up to
 * 64 each, neither krt's batch axis) it is exact as one-wide Slices and Concats: per b, the
 * entries L-1 .. 0 then the slice L..S, joined along seq_dim, the b's joined along batch_dim. */
krt_status *tf_convert_reverse_sequence(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 2, 2));
  KRT_TRY(tf_require_float_type(c, "T"));
  int64_t bd, sd;
  KRT_TRY(tf_attr_int(c, "batch_dim", 1, 0, &bd));
  KRT_TRY(tf_attr_int(c, "seq_dim", 0, 0, &sd));
  const int64_t *len;
  int64_t n_len;
  KRT_TRY(tf_static_ints(c, 1, &len, &n_len));
  int x;
  KRT_TRY(tf_value(c, c->inputs[0], &x));
  const ir_value *v = &c->t->g->values[x];
  int rank = v->rank;
  if (bd < 0) bd += rank;
  if (sd < 0) sd += rank;
  if (bd < 0 || bd >= rank || sd < 0 || sd >= rank || bd == sd)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "batch_dim and seq_dim must be two axes of rank %d",
                         rank);
  if ((v->batched && (bd == 0 || sd == 0)) || v->dims[bd] < 1 || v->dims[bd] > 64 ||
      v->dims[sd] < 1 || v->dims[sd] > 64)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "batch_dim %lld or seq_dim %lld is the batch or not of a known length up "
                         "to 64; krt converts ReverseSequence as slices of such axes",
                         (long long)bd, (long long)sd);
  int64_t nb = v->dims[bd], ns = v->dims[sd];
  if (n_len != nb)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "seq_lengths has %lld entries for %lld", (long long)n_len,
                         (long long)nb);
  int64_t base_end[KRT_MAX_RANK];
  memcpy(base_end, v->dims, (size_t)rank * sizeof *base_end);
  int rows[64];
  for (int64_t b = 0; b < nb; b++) {
    if (len[b] < 0 || len[b] > ns)
      return tf_node_error(c, KRT_ERR_BAD_FILE, "seq_lengths[%lld] is %lld, outside 0..%lld",
                           (long long)b, (long long)len[b], (long long)ns);
    int parts[65], np = 0;
    /* lengths 0 and 1 reverse nothing: the row is kept whole */
    int64_t l = len[b] <= 1 ? 0 : len[b];
    for (int64_t k = -1; k < l; k++) {
      ir_attrs s;
      memset(&s, 0, sizeof s);
      for (int i = 0; i < rank; i++) s.end[i] = base_end[i];
      s.begin[bd] = b;
      s.end[bd] = b + 1;
      if (k < 0) { /* the kept tail L..S first in the list, moved last below */
        if (l == ns) continue;
        s.begin[sd] = l;
      } else {
        s.begin[sd] = l - 1 - k;
        s.end[sd] = l - k;
      }
      char suffix[48];
      snprintf(suffix, sizeof suffix, "/b%lld_%lld", (long long)b, (long long)(k < 0 ? l : k));
      KRT_TRY(tf_emit(c, IR_OP_SLICE, suffix, &x, 1, &s, &parts[np++]));
    }
    if (l < ns && np > 1) { /* the tail goes after the reversed entries */
      int tail = parts[0];
      memmove(parts, parts + 1, (size_t)(np - 1) * sizeof *parts);
      parts[np - 1] = tail;
    }
    if (np == 1) {
      rows[b] = parts[0];
      continue;
    }
    ir_attrs cat;
    memset(&cat, 0, sizeof cat);
    cat.axis = (int)sd;
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/b%lld", (long long)b);
    KRT_TRY(tf_emit(c, IR_OP_CONCAT, suffix, parts, np, &cat, &rows[b]));
  }
  int y = rows[0];
  if (nb > 1) {
    ir_attrs cat;
    memset(&cat, 0, sizeof cat);
    cat.axis = (int)bd;
    KRT_TRY(tf_emit(c, IR_OP_CONCAT, "", rows, (int)nb, &cat, &y));
  }
  return tf_set_output_value(c, 0, y);
}

/* MatrixDiagPart(x[..., n, n]) -> [..., n], the diagonals: static data here; a computed x of
 * rank >= 3 (any batch on axis 0) with n known and at most 64 as the one-element Slices
 * x[..., i, i] joined along the last axis ([..., 1, n]) and reshaped to [..., n] (exact). */
krt_status *tf_convert_matrix_diag_part(tf_op_call *c) {
  KRT_TRY(need_inputs(c, 1, 1));
  tf_tensor *x = c->inputs[0];
  int rank = tf_rank(c, x);
  const int64_t *dims = tf_dims(c, x);
  if (rank < 2 || dims[rank - 1] != dims[rank - 2])
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "the input is not [..., n, n] (square matrices)");
  int64_t n = dims[rank - 1];
  if (x->value < 0) {
    int64_t rows = tf_elements(rank - 2, dims), count = rows * n;
    int64_t *oi = x->is_int ? malloc((size_t)(count > 0 ? count : 1) * sizeof *oi) : NULL;
    float *of = x->is_int ? NULL : malloc((size_t)(count > 0 ? count : 1) * sizeof *of);
    if (!oi && !of) return krt_error_oom("diagonal");
    for (int64_t r = 0; r < rows; r++)
      for (int64_t i = 0; i < n; i++) {
        int64_t at = (r * n + i) * n + i;
        if (oi)
          oi[r * n + i] = x->ints[at];
        else
          of[r * n + i] = x->floats[at];
      }
    return oi ? tf_set_output_ints(c, 0, rank - 1, dims, oi)
              : tf_set_output_floats(c, 0, rank - 1, dims, of);
  }
  KRT_TRY(tf_require_float_type(c, "T"));
  if (rank < 3 || n < 1 || n > 64)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "a computed input of rank %d with n = %lld; krt converts MatrixDiagPart of "
                         "rank >= 3 (the batch before the matrices) and n up to 64",
                         rank, (long long)n);
  int parts[64], xv = x->value;
  for (int64_t i = 0; i < n; i++) {
    const ir_value *v = &c->t->g->values[xv];
    ir_attrs s;
    memset(&s, 0, sizeof s);
    for (int k = 0; k < rank; k++) s.end[k] = v->dims[k];
    s.begin[rank - 2] = s.begin[rank - 1] = i;
    s.end[rank - 2] = s.end[rank - 1] = i + 1;
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/d%lld", (long long)i);
    KRT_TRY(tf_emit(c, IR_OP_SLICE, suffix, &xv, 1, &s, &parts[i]));
  }
  int y = parts[0];
  if (n > 1) {
    ir_attrs cat;
    memset(&cat, 0, sizeof cat);
    cat.axis = rank - 1;
    KRT_TRY(tf_emit(c, IR_OP_CONCAT, "/join", parts, (int)n, &cat, &y));
  }
  ir_attrs r;
  memset(&r, 0, sizeof r);
  const ir_value *v = &c->t->g->values[xv];
  r.shape_rank = rank - 2; /* [..., n] without axis 0 */
  for (int k = 1; k < rank - 2; k++) r.shape[k - 1] = v->dims[k];
  r.shape[rank - 3] = n;
  KRT_TRY(tf_emit(c, IR_OP_RESHAPE, "", &y, 1, &r, &y));
  return tf_set_output_value(c, 0, y);
}
