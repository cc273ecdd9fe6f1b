/* ONNX data-movement and shape ops: Identity, Dropout, Constant, Cast, Shape, Flatten, Reshape,
 * Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Gather, Pad, Expand.
 *
 * On known tensors (initializers, Constant, Shape of a value with static dims) Shape, Gather,
 * Concat, Cast, Unsqueeze, Squeeze, Reshape and Slice are computed at import, so a shape built by
 * a subgraph (Shape -> Gather -> Concat -> Reshape) is a number when Reshape reads it. The batch
 * of a batched value is the marker OX_BATCH there. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/onnx_internal.h"

static krt_status *identity_of(ox_ctx *c, int cl_ok) {
  ox_tensor *t = ox_in(c, 0);
  if (t->known) {
    ox_known *k = ox_known_new(t->known->dtype, t->known->rank, t->known->dims);
    if (!k) return krt_error_oom("ONNX constant");
    if (k->f) memcpy(k->f, t->known->f, (size_t)k->count * sizeof *k->f);
    if (k->i) memcpy(k->i, t->known->i, (size_t)k->count * sizeof *k->i);
    return ox_set_known(c, 0, k);
  }
  int cl = cl_ok && ox_in_is_cl_only(c, 0), x, y;
  KRT_TRY(cl ? ox_value_cl(c, 0, &x) : ox_value(c, 0, &x));
  ir_attrs a = ox_attrs();
  KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, cl);
}

static krt_status *convert_identity(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  return identity_of(c, 1);
}

static krt_status *convert_dropout(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 3));
  KRT_TRY(ox_require_one_output(c));
  if (ox_has_input(c, 2)) {
    const ox_known *k = ox_in_known(c, 2);
    if (!k || !k->i || k->count != 1 || k->i[0])
      return ox_unsupported(c, "training_mode (input 2) must be a constant false");
  }
  return identity_of(c, 1);
}

static krt_status *convert_constant(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 0, 0));
  KRT_TRY(ox_require_one_output(c));
  if (c->node->n_attribute != 1)
    return ox_error(c, KRT_ERR_BAD_FILE, "Constant needs exactly one attribute");
  const KrtOnnx__AttributeProto *a = c->node->attribute[0];
  const char *name = a->name ? a->name : "";
  ox_known *k = NULL;
  if (strcmp(name, "value") == 0 && a->t) {
    krt_status *ox_decode_tensor(const ox_ctx *, const KrtOnnx__TensorProto *, ox_known **);
    KRT_TRY(ox_decode_tensor(c, a->t, &k));
  } else if (strcmp(name, "value_float") == 0 || strcmp(name, "value_int") == 0) {
    k = ox_known_new(name[6] == 'f' ? OX_FLOAT : OX_INT64, 0, NULL);
    if (!k) return krt_error_oom("Constant");
    if (k->f) k->f[0] = a->f; else k->i[0] = a->i;
  } else if (strcmp(name, "value_floats") == 0 || strcmp(name, "value_ints") == 0) {
    int is_f = name[6] == 'f';
    int64_t n = is_f ? (int64_t)a->n_floats : (int64_t)a->n_ints;
    k = ox_known_new(is_f ? OX_FLOAT : OX_INT64, 1, &n);
    if (!k) return krt_error_oom("Constant");
    for (int64_t j = 0; j < n; j++)
      if (is_f) k->f[j] = a->floats[j]; else k->i[j] = a->ints[j];
  } else {
    return ox_unsupported(c, "attribute '%s' is not supported", name);
  }
  return ox_set_known(c, 0, k);
}

static krt_status *convert_cast(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int64_t to, saturate;
  KRT_TRY(ox_attr_int(c, "to", 0, &to));
  KRT_TRY(ox_attr_int(c, "saturate", 1, &saturate));
  const ox_known *in = ox_in_known(c, 0);
  int to_float = to == OX_FLOAT || to == OX_DOUBLE || to == OX_FLOAT16;
  int to_int = to == OX_INT64 || to == OX_INT32 || to == OX_INT8 || to == OX_UINT8 ||
               to == OX_INT16 || to == OX_UINT16 || to == OX_BOOL;
  if (!to_float && !to_int) return ox_unsupported(c, "attribute 'to' %lld (type not supported)", (long long)to);
  if (in) {
    ox_known *k = ox_known_new((int)to, in->rank, in->dims);
    if (!k) return krt_error_oom("Cast");
    for (int64_t j = 0; j < in->count; j++) {
      if (to_float) {
        if (in->i && in->i[j] == OX_BATCH) {
          ox_known_free(k);
          return ox_unsupported(c, "a cast of the batch size to float");
        }
        k->f[j] = in->f ? in->f[j] : (float)in->i[j];
      } else if (in->i) {
        k->i[j] = to == OX_BOOL ? in->i[j] != 0 : in->i[j];
      } else {
        float f = in->f[j];
        k->i[j] = to == OX_BOOL ? f != 0 : (int64_t)truncf(isfinite(f) ? f : 0);
      }
    }
    return ox_set_known(c, 0, k);
  }
  if (!to_float)
    return ox_unsupported(c, "a cast of computed values to an integer type (krt computes in "
                             "float32)");
  return identity_of(c, 1);
}

static krt_status *convert_shape(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int rank, batched;
  int64_t dims[KRT_MAX_RANK], start, end;
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  KRT_TRY(ox_attr_int(c, "start", 0, &start));
  KRT_TRY(ox_attr_int(c, "end", rank, &end));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  if (start < 0) start = 0;
  if (end > rank) end = rank;
  int64_t n = end > start ? end - start : 0;
  ox_known *k = ox_known_new(OX_INT64, 1, &n);
  if (!k) return krt_error_oom("Shape");
  for (int64_t j = 0; j < n; j++) {
    int64_t d = dims[start + j];
    if (d < 0 && !(batched && start + j == 0)) {
      ox_known_free(k);
      return ox_unsupported(c, "axis %lld of '%s' has an unknown size (give it with --input)",
                            (long long)(start + j), c->node->input[0]);
    }
    k->i[j] = d < 0 ? OX_BATCH : d;
  }
  return ox_set_known(c, 0, k);
}

/* a *= b for element counts; 1 when the product would pass 2^62 (no tensor is that large) */
static int count_overflows(int64_t *a, int64_t b) {
  if (b != 0 && *a > (INT64_C(1) << 62) / b) return 1;
  *a *= b;
  return 0;
}

/* out dims from a known shape: 0 copies (unless allowzero), -1 is inferred */
static krt_status *resolve_shape(ox_ctx *c, int rank, const int64_t *in, int batched,
                                 const int64_t *want, int n, int allowzero, int64_t *out) {
  int64_t total = 1, known = 1;
  int infer = -1;
  for (int k = (batched ? 1 : 0); k < rank; k++) {
    if (in[k] < 0) return ox_unsupported(c, "the input's axis %d has an unknown size", k);
    if (count_overflows(&total, in[k]))
      return ox_error(c, KRT_ERR_SHAPE, "the input has more than 2^62 elements");
  }
  for (int k = 0; k < n; k++) {
    int64_t d = want[k];
    if (k == 0 && batched && c->declared_batch >= 1 && d == c->declared_batch) d = OX_BATCH;
    if (d == OX_BATCH) {
      if (k != 0 || !batched) return ox_unsupported(c, "the batch size would move to axis %d", k);
      out[k] = -1;
      continue;
    }
    if (d == 0 && !allowzero) {
      if (k >= rank) return ox_error(c, KRT_ERR_SHAPE, "shape copies axis %d of a rank-%d input", k, rank);
      out[k] = in[k];
      if (k == 0 && batched) continue;
      if (count_overflows(&known, out[k]))
        return ox_error(c, KRT_ERR_SHAPE, "the target shape has more than 2^62 elements");
    } else if (d == -1) {
      if (infer >= 0) return ox_error(c, KRT_ERR_SHAPE, "shape has two -1");
      infer = k;
      out[k] = -1;
    } else if (d < 0) {
      return ox_error(c, KRT_ERR_SHAPE, "shape holds %lld", (long long)d);
    } else {
      out[k] = d;
      if (k == 0 && batched) return ox_unsupported(c, "axis 0 gets the fixed size %lld, but it is the batch (symbolic in the model)", (long long)d);
      if (count_overflows(&known, d))
        return ox_error(c, KRT_ERR_SHAPE, "the target shape has more than 2^62 elements");
    }
  }
  if (batched) {
    /* axis 0 stays the batch: copied (0), the batch marker, or the -1 with all else fixed */
    if (infer == 0) {
      if (known != total) return ox_unsupported(c, "the reshape would mix the batch axis with others");
      infer = -1;
    } else if (n < 1 || out[0] != -1) {
      return ox_unsupported(c, "the reshape would mix the batch axis with others");
    }
  }
  if (infer >= 0) {
    if (!known || total % known) return ox_error(c, KRT_ERR_SHAPE, "cannot infer the -1 dimension");
    out[infer] = total / known;
  }
  return NULL;
}

static krt_status *emit_reshape(ox_ctx *c, const int64_t *want, int n, int allowzero) {
  if (n < 0 || n > KRT_MAX_RANK) return ox_unsupported(c, "target rank %d", n);
  int rank, batched;
  int64_t dims[KRT_MAX_RANK], out[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  KRT_TRY(resolve_shape(c, rank, dims, batched, want, n, allowzero, out));
  const ox_known *k = ox_in_known(c, 0);
  if (k) {
    int64_t count = 1;
    for (int j = 0; j < n; j++) count *= out[j];
    if (count != k->count) return ox_error(c, KRT_ERR_SHAPE, "reshape changes the element count");
    ox_known *r = ox_known_new(k->dtype, n, out);
    if (!r) return krt_error_oom("Reshape");
    if (r->f) memcpy(r->f, k->f, (size_t)count * sizeof *r->f);
    if (r->i) memcpy(r->i, k->i, (size_t)count * sizeof *r->i);
    return ox_set_known(c, 0, r);
  }
  int x, y;
  KRT_TRY(ox_value(c, 0, &x));
  KRT_TRY(ox_reshape(c, x, n, out, "", &y));
  if (y == x) {
    ir_attrs a = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &a, &y));
  }
  return ox_set_output(c, 0, y, 0);
}

static krt_status *convert_reshape(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 2));
  KRT_TRY(ox_require_one_output(c));
  int64_t allowzero, want[KRT_MAX_RANK + 1];
  int n;
  KRT_TRY(ox_attr_int(c, "allowzero", 0, &allowzero));
  KRT_TRY(ox_known_ints(c, 1, KRT_MAX_RANK, want, &n));
  return emit_reshape(c, want, n, (int)allowzero);
}

static krt_status *convert_flatten(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int rank, batched, axis;
  int64_t dims[KRT_MAX_RANK], ax;
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  KRT_TRY(ox_attr_int(c, "axis", 1, &ax));
  if (ax == rank) axis = rank; else KRT_TRY(ox_axis(c, ax, rank, &axis));
  /* axis 0 makes [1, everything]: at the batch of 1 the model declares, the same as axis 1 */
  if (axis == 0 && batched && c->declared_batch == 1) axis = 1;
  int64_t want[2] = {1, 1};
  for (int k = 0; k < rank; k++) {
    if (dims[k] < 0 && !(batched && k == 0)) return ox_unsupported(c, "axis %d has an unknown size", k);
    int64_t d = batched && k == 0 ? 1 : dims[k];
    want[k < axis ? 0 : 1] *= d;
  }
  if (batched) {
    if (axis != 1) return ox_unsupported(c, "attribute 'axis' %d with a batched input: only 1 keeps the batch alone on axis 0", axis);
    want[0] = OX_BATCH;
  }
  return emit_reshape(c, want, 2, 0);
}

/* variant 0: Squeeze, 1: Unsqueeze */
/* Squeeze of a view (ox_tensor.value_bm): the ONNX axes (n < 0: every axis of size 1) are the
 * view's IR axes perm[a], dropped by a Reshape of the IR value (the batch, its axis 0, stays). */
static krt_status *squeeze_view(ox_ctx *c, const int64_t *axes, int n) {
  int perm[KRT_MAX_RANK], rank;
  int x = ox_in_view(c, 0, perm);
  int64_t dims[KRT_MAX_RANK];
  ox_view_shape(c, 0, &rank, dims);
  int drop[KRT_MAX_RANK] = {0}; /* by IR axis */
  for (int k = 0; k < (n >= 0 ? n : rank); k++) {
    int axis = k;
    if (n >= 0) KRT_TRY(ox_axis(c, axes[k], rank, &axis));
    if (n < 0 && dims[axis] != 1) continue;
    if (dims[axis] < 0) return ox_unsupported(c, "squeezing axis %d, the batch", axis);
    if (dims[axis] != 1)
      return ox_error(c, KRT_ERR_SHAPE, "axis %d has size %lld, not 1", axis, (long long)dims[axis]);
    drop[perm[axis]] = 1;
  }
  const ir_value *v = ox_ir(c, x);
  int64_t want[KRT_MAX_RANK];
  int m = 0, renumber[KRT_MAX_RANK], out_perm[KRT_MAX_RANK], j = 0;
  for (int k = 0; k < v->rank; k++) {
    renumber[k] = m;
    if (!drop[k]) want[m++] = v->dims[k];
  }
  for (int k = 0; k < rank; k++)
    if (!drop[perm[k]]) out_perm[j++] = renumber[perm[k]];
  int y;
  KRT_TRY(ox_reshape(c, x, m, want, "", &y));
  if (y == x) { /* nothing dropped */
    ir_attrs none = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &none, &y));
  }
  return ox_set_output_view(c, 0, y, out_perm);
}

static krt_status *convert_squeeze(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, 2));
  KRT_TRY(ox_require_one_output(c));
  int64_t axes[KRT_MAX_RANK];
  int n;
  KRT_TRY(ox_ints_attr_or_input(c, "axes", 1, 13, KRT_MAX_RANK, axes, &n));
  if (!variant && ox_in_view(c, 0, NULL) >= 0) return squeeze_view(c, axes, n);
  int rank, batched;
  int64_t dims[KRT_MAX_RANK], want[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  int out_rank = variant ? rank + (n > 0 ? n : 0) : rank;
  if (variant && n < 0) return ox_error(c, KRT_ERR_BAD_FILE, "Unsqueeze needs axes");
  if (out_rank > KRT_MAX_RANK) return ox_unsupported(c, "output rank %d", out_rank);
  int mark[KRT_MAX_RANK] = {0};
  for (int k = 0; k < n; k++) {
    int axis;
    KRT_TRY(ox_axis(c, axes[k], out_rank, &axis));
    if (mark[axis]++) return ox_error(c, KRT_ERR_BAD_FILE, "axis %d given twice", axis);
  }
  int m = 0;
  if (variant) {
    for (int k = 0, src = 0; k < out_rank; k++)
      want[m++] = mark[k] ? 1 : (src == 0 && batched ? OX_BATCH : dims[src]), src += !mark[k];
  } else {
    for (int k = 0; k < rank; k++) {
      int drop = n > 0 ? mark[k] : dims[k] == 1;
      if (drop && dims[k] != 1) return ox_error(c, KRT_ERR_SHAPE, "axis %d has size %lld, not 1", k, (long long)dims[k]);
      if (!drop) want[m++] = k == 0 && batched ? OX_BATCH : dims[k];
      else if (k == 0 && batched) return ox_unsupported(c, "squeezing axis 0, the batch");
    }
  }
  if (variant && mark[0] && batched) return ox_unsupported(c, "a new axis 0 before the batch");
  const ox_known *k = ox_in_known(c, 0);
  if (k) {
    for (int j = 0; j < m; j++) if (want[j] == OX_BATCH) want[j] = -1;
    ox_known *r = ox_known_new(k->dtype, m, want);
    if (!r) return krt_error_oom("Squeeze");
    if (r->f) memcpy(r->f, k->f, (size_t)k->count * sizeof *r->f);
    if (r->i) memcpy(r->i, k->i, (size_t)k->count * sizeof *r->i);
    return ox_set_known(c, 0, r);
  }
  if (m == 0 || (!batched && want[0] != dims[0]) || rank == 0)
    return ox_unsupported(c, "a reshape that changes axis 0 (or to a scalar)");
  int x, y;
  KRT_TRY(ox_value(c, 0, &x));
  for (int j = 0; j < m; j++) if (want[j] == OX_BATCH) want[j] = -1;
  KRT_TRY(ox_reshape(c, x, m, want, "", &y));
  if (y == x) {
    ir_attrs a = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &a, &y));
  }
  return ox_set_output(c, 0, y, 0);
}

static krt_status *convert_transpose(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int x, y, view_perm[KRT_MAX_RANK];
  int view = (x = ox_in_view(c, 0, view_perm)) >= 0;
  if (!view) KRT_TRY(ox_value(c, 0, &x));
  int rank = ox_ir(c, x)->rank, n;
  int64_t perm[KRT_MAX_RANK];
  KRT_TRY(ox_attr_ints(c, "perm", KRT_MAX_RANK, perm, &n));
  if (n >= 0 && n != rank) return ox_error(c, KRT_ERR_BAD_FILE, "perm has %d values for rank %d", n, rank);
  ir_attrs a = ox_attrs();
  for (int k = 0; k < rank; k++) {
    int64_t p = n >= 0 ? perm[k] : rank - 1 - k;
    if (p < 0 || p >= rank) return ox_error(c, KRT_ERR_BAD_FILE, "perm holds %lld", (long long)p);
    a.perm[k] = (int)p;
  }
  if (view || (ox_ir(c, x)->batched && a.perm[0] != 0)) {
    /* The batch leaves axis 0 (a view of x, time-major as recurrent ops read it), or a view
     * is permuted again: output axis k is x's axis view_perm[perm[k]]. */
    int composed[KRT_MAX_RANK], identity = 1;
    for (int k = 0; k < rank; k++) {
      composed[k] = view ? view_perm[a.perm[k]] : a.perm[k];
      identity &= composed[k] == k;
    }
    if (identity) { /* back in x's order: a value of this node's own */
      ir_attrs none = ox_attrs();
      KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &none, &y));
      return ox_set_output(c, 0, y, 0);
    }
    return ox_set_output_view(c, 0, x, composed);
  }
  KRT_TRY(ox_emit(c, IR_OP_TRANSPOSE, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, 0);
}

/* Concat of views (ox_tensor.value_bm) with one permutation: a Concat of their IR values on the
 * axis the ONNX axis maps to. */
static krt_status *concat_views(ox_ctx *c, int n, int64_t ax) {
  int perm[KRT_MAX_RANK], rank = ox_ir(c, ox_in_view(c, 0, perm))->rank, axis;
  KRT_TRY(ox_axis(c, ax, rank, &axis));
  int *in = malloc((size_t)n * sizeof *in);
  if (!in) return krt_error_oom("Concat");
  krt_status *s = NULL;
  for (int i = 0; i < n && !s; i++) {
    int p[KRT_MAX_RANK];
    in[i] = ox_in_view(c, i, p);
    if (in[i] < 0 || ox_ir(c, in[i])->rank != rank || memcmp(p, perm, (size_t)rank * sizeof *p))
      s = ox_unsupported(c, "input %d ('%s') is not in the time-major order of input 0; krt "
                         "joins such tensors only when all are", i, c->node->input[i]);
  }
  int y = -1;
  if (!s) {
    ir_attrs a = ox_attrs();
    a.axis = perm[axis];
    s = ox_emit(c, IR_OP_CONCAT, "", in, n, &a, &y);
  }
  free(in);
  KRT_TRY(s);
  return ox_set_output_view(c, 0, y, perm);
}

static krt_status *convert_concat(ox_ctx *c, int variant) {
  (void)variant;
  int n = ox_n_inputs(c);
  KRT_TRY(ox_require_inputs(c, 1, 1 << 16));
  KRT_TRY(ox_require_one_output(c));
  int64_t ax;
  KRT_TRY(ox_attr_int(c, "axis", 0, &ax));
  int all_known = 1, all_cl = 1;
  for (int i = 0; i < n; i++) {
    if (!ox_has_input(c, i)) return ox_error(c, KRT_ERR_BAD_FILE, "input %d is empty", i);
    all_known &= ox_in_known(c, i) != NULL && ox_in_known(c, i)->i != NULL;
    all_cl &= ox_in_is_cl_only(c, i);
  }
  if (all_known) { /* shapes: 1-D integer lists */
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
      const ox_known *k = ox_in_known(c, i);
      if (k->rank != 1) { all_known = 0; break; }
      total += k->count;
    }
    if (all_known) {
      ox_known *r = ox_known_new(OX_INT64, 1, &total);
      if (!r) return krt_error_oom("Concat");
      int64_t at = 0;
      for (int i = 0; i < n; i++) {
        const ox_known *k = ox_in_known(c, i);
        memcpy(r->i + at, k->i, (size_t)k->count * sizeof *r->i);
        at += k->count;
      }
      return ox_set_known(c, 0, r);
    }
  }
  if (ox_in_view(c, 0, NULL) >= 0) return concat_views(c, n, ax);
  int *in = malloc((size_t)n * sizeof *in);
  if (!in) return krt_error_oom("Concat");
  krt_status *s = NULL;
  int rank = 0;
  for (int i = 0; i < n && !s; i++) s = all_cl ? ox_value_cl(c, i, &in[i]) : ox_value(c, i, &in[i]);
  int axis = 0;
  if (!s) {
    rank = ox_ir(c, in[0])->rank;
    s = ox_axis(c, ax, rank, &axis);
  }
  if (!s && all_cl) {
    int perm[KRT_MAX_RANK];
    ox_perm_to_cl(rank, perm);
    for (int p = 0; p < rank; p++)
      if (perm[p] == axis) { axis = p; break; }
  }
  int y = -1;
  if (!s) {
    ir_attrs a = ox_attrs();
    a.axis = axis;
    s = ox_emit(c, IR_OP_CONCAT, "", in, n, &a, &y);
  }
  free(in);
  KRT_TRY(s);
  return ox_set_output(c, 0, y, all_cl);
}

/* begin/end per axis (ONNX order) of input 0 into a Slice node; the output given */
static krt_status *emit_slice(ox_ctx *c, const int64_t *begin, const int64_t *end, int out) {
  int x, y, perm[KRT_MAX_RANK];
  int view = (x = ox_in_view(c, 0, perm)) >= 0; /* ONNX axis k is x's axis perm[k] */
  if (!view) KRT_TRY(ox_value(c, 0, &x));
  const ir_value *v = ox_ir(c, x);
  ir_attrs a = ox_attrs();
  int whole = 1;
  for (int k = 0; k < v->rank; k++) {
    int ir_axis = view ? perm[k] : k;
    a.begin[ir_axis] = begin[k];
    a.end[ir_axis] = end[k];
    whole &= begin[k] == 0 && (end[k] == v->dims[ir_axis] || (ir_axis == 0 && v->batched));
  }
  char part[32];
  snprintf(part, sizeof part, "%d", out);
  if (whole)
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, part, &x, 1, &(ir_attrs){.act = ir_act_none()}, &y));
  else
    KRT_TRY(ox_emit(c, IR_OP_SLICE, part, &x, 1, &a, &y));
  return view ? ox_set_output_view(c, out, y, perm) : ox_set_output(c, out, y, 0);
}

static krt_status *convert_slice(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 5));
  KRT_TRY(ox_require_one_output(c));
  int64_t starts[KRT_MAX_RANK], ends[KRT_MAX_RANK], axes[KRT_MAX_RANK], steps[KRT_MAX_RANK];
  int ns, ne, na = -1, nst = -1;
  if (c->opset < 10) {
    KRT_TRY(ox_attr_ints(c, "starts", KRT_MAX_RANK, starts, &ns));
    KRT_TRY(ox_attr_ints(c, "ends", KRT_MAX_RANK, ends, &ne));
    KRT_TRY(ox_attr_ints(c, "axes", KRT_MAX_RANK, axes, &na));
  } else {
    if (ox_attr(c, "starts") || ox_attr(c, "ends") || ox_attr(c, "axes"))
      return ox_unsupported(c, "attributes 'starts'/'ends'/'axes' belong to Slice before opset 10");
    KRT_TRY(ox_known_ints(c, 1, KRT_MAX_RANK, starts, &ns));
    KRT_TRY(ox_known_ints(c, 2, KRT_MAX_RANK, ends, &ne));
    if (ox_has_input(c, 3)) KRT_TRY(ox_known_ints(c, 3, KRT_MAX_RANK, axes, &na));
    if (ox_has_input(c, 4)) KRT_TRY(ox_known_ints(c, 4, KRT_MAX_RANK, steps, &nst));
  }
  if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
    return ox_error(c, KRT_ERR_BAD_FILE, "starts, ends, axes and steps disagree in length");
  int rank, batched = 0;
  int64_t dims[KRT_MAX_RANK], begin[KRT_MAX_RANK], end[KRT_MAX_RANK];
  if (ox_in_view(c, 0, NULL) >= 0) /* the batch's axis -1: only taken whole */
    ox_view_shape(c, 0, &rank, dims);
  else
    KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  for (int k = 0; k < rank; k++) begin[k] = 0, end[k] = dims[k];
  for (int j = 0; j < ns; j++) {
    int axis;
    KRT_TRY(ox_axis(c, na >= 0 ? axes[j] : j, rank, &axis));
    if (nst >= 0 && steps[j] != 1)
      return ox_unsupported(c, "step %lld on axis %d: krt slices with step 1 only", (long long)steps[j], axis);
    int64_t d = dims[axis];
    if (d < 0) {
      if (starts[j] == 0 && ends[j] >= INT32_MAX) continue; /* the whole (batch) axis */
      return ox_unsupported(c, "a slice of axis %d, whose size is unknown", axis);
    }
    int64_t b = starts[j] < 0 ? starts[j] + d : starts[j], e = ends[j] < 0 ? ends[j] + d : ends[j];
    b = b < 0 ? 0 : b > d ? d : b;
    e = e < 0 ? 0 : e > d ? d : e;
    if (e <= b) return ox_unsupported(c, "an empty slice on axis %d", axis);
    begin[axis] = b;
    end[axis] = e;
  }
  const ox_known *k = ox_in_known(c, 0);
  if (k && k->i && rank == 1) {
    int64_t n = end[0] - begin[0];
    ox_known *r = ox_known_new(k->dtype, 1, &n);
    if (!r) return krt_error_oom("Slice");
    memcpy(r->i, k->i + begin[0], (size_t)n * sizeof *r->i);
    return ox_set_known(c, 0, r);
  }
  return emit_slice(c, begin, end, 0);
}

static krt_status *convert_split(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 2));
  int n_out = (int)c->node->n_output;
  int64_t ax, split[64];
  int n;
  KRT_TRY(ox_attr_int(c, "axis", 0, &ax));
  if (n_out < 1 || n_out > 64) return ox_unsupported(c, "%d outputs", n_out);
  KRT_TRY(ox_ints_attr_or_input(c, "split", 1, 13, 64, split, &n));
  int rank, batched, axis;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  KRT_TRY(ox_axis(c, ax, rank, &axis));
  if (dims[axis] < 0) return ox_unsupported(c, "a split of axis %d, whose size is unknown", axis);
  if (n < 0) {
    int64_t parts = n_out, each = (dims[axis] + parts - 1) / parts;
    for (int j = 0; j < n_out; j++) {
      int64_t left = dims[axis] - each * j;
      split[j] = left < each ? left : each;
    }
    n = n_out;
  }
  if (n != n_out) return ox_error(c, KRT_ERR_BAD_FILE, "split has %d sizes for %d outputs", n, n_out);
  int64_t begin[KRT_MAX_RANK], end[KRT_MAX_RANK], at = 0;
  for (int j = 0; j < n; j++) {
    for (int k = 0; k < rank; k++) begin[k] = 0, end[k] = dims[k];
    begin[axis] = at;
    end[axis] = at + split[j];
    at += split[j];
    if (split[j] < 1 || at > dims[axis]) return ox_unsupported(c, "split sizes do not fit axis %d", axis);
    if (c->node->output[j] && c->node->output[j][0]) KRT_TRY(emit_slice(c, begin, end, j));
  }
  return NULL;
}

static krt_status *convert_gather(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 2));
  KRT_TRY(ox_require_one_output(c));
  int64_t ax;
  KRT_TRY(ox_attr_int(c, "axis", 0, &ax));
  const ox_known *data = ox_in_known(c, 0), *idx = ox_in_known(c, 1);
  int rank, batched, axis;
  int64_t dims[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  KRT_TRY(ox_axis(c, ax, rank, &axis));
  if (data && idx && data->rank == 1 && idx->i && idx->rank <= 1) { /* shape arithmetic */
    ox_known *r = ox_known_new(data->dtype, idx->rank, idx->dims);
    if (!r) return krt_error_oom("Gather");
    for (int64_t j = 0; j < idx->count; j++) {
      int64_t i = idx->i[j] < 0 ? idx->i[j] + data->count : idx->i[j];
      if (i < 0 || i >= data->count) {
        ox_known_free(r);
        return ox_error(c, KRT_ERR_BAD_FILE, "index %lld is out of range", (long long)idx->i[j]);
      }
      if (r->i) r->i[j] = data->i[i]; else r->f[j] = data->f[i];
    }
    return ox_set_known(c, 0, r);
  }
  if (data && axis == 0 && data->rank == 2 && !idx) { /* an embedding table */
    int in[2], y;
    KRT_TRY(ox_value(c, 1, &in[0]));
    KRT_TRY(ox_value(c, 0, &in[1]));
    ir_attrs a = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_GATHER, "", in, 2, &a, &y));
    return ox_set_output(c, 0, y, 0);
  }
  if (!data && idx && idx->i && idx->count == 1 && idx->rank <= 1) { /* one index: a slice */
    int64_t i = idx->i[0] < 0 ? idx->i[0] + dims[axis] : idx->i[0];
    if (dims[axis] < 0 || i < 0 || i >= dims[axis])
      return ox_unsupported(c, "index %lld on axis %d", (long long)idx->i[0], axis);
    int64_t begin[KRT_MAX_RANK], end[KRT_MAX_RANK], want[KRT_MAX_RANK];
    for (int k = 0; k < rank; k++) begin[k] = 0, end[k] = dims[k];
    begin[axis] = i;
    end[axis] = i + 1;
    int x, y;
    KRT_TRY(ox_value(c, 0, &x));
    ir_attrs a = ox_attrs();
    memcpy(a.begin, begin, sizeof begin);
    memcpy(a.end, end, sizeof end);
    KRT_TRY(ox_emit(c, IR_OP_SLICE, "slice", &x, 1, &a, &y));
    if (idx->rank == 0) {
      int m = 0;
      for (int k = 0; k < rank; k++)
        if (k != axis) want[m++] = k == 0 && batched ? -1 : dims[k];
      if (axis == 0) return ox_unsupported(c, "a scalar index on axis 0 drops axis 0");
      KRT_TRY(ox_reshape(c, y, m, want, "drop_axis", &y));
    }
    return ox_set_output(c, 0, y, 0);
  }
  return ox_unsupported(c, "this form of Gather (data %s, indices %s, axis %d) is not supported",
                        data ? "constant" : "computed", idx ? "constant" : "computed", axis);
}

static krt_status *convert_pad(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 1, 4));
  KRT_TRY(ox_require_one_output(c));
  char mode[16];
  KRT_TRY(ox_attr_string(c, "mode", "constant", mode, sizeof mode));
  if (strcmp(mode, "constant") != 0) return ox_unsupported(c, "attribute 'mode' '%s': krt pads with zeros only", mode);
  int rank, batched, n, na = -1;
  int64_t dims[KRT_MAX_RANK], pads[2 * KRT_MAX_RANK], axes[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, dims, &batched));
  float value = 0;
  if (c->opset < 11) {
    KRT_TRY(ox_attr_ints(c, "pads", 2 * KRT_MAX_RANK, pads, &n));
    KRT_TRY(ox_attr_float(c, "value", 0, &value));
  } else {
    if (ox_attr(c, "pads") || ox_attr(c, "value")) return ox_unsupported(c, "attributes 'pads'/'value' belong to Pad before opset 11");
    KRT_TRY(ox_known_ints(c, 1, 2 * KRT_MAX_RANK, pads, &n));
    KRT_TRY(ox_known_scalar(c, 2, 0, &value));
    if (ox_has_input(c, 3)) KRT_TRY(ox_known_ints(c, 3, KRT_MAX_RANK, axes, &na));
  }
  if (value != 0) return ox_unsupported(c, "constant value %g: krt pads with zeros only", value);
  int count = na >= 0 ? na : rank;
  if (n != 2 * count) return ox_error(c, KRT_ERR_BAD_FILE, "pads has %d values for %d axes", n, count);
  ir_attrs a = ox_attrs();
  for (int j = 0; j < count; j++) {
    int axis;
    KRT_TRY(ox_axis(c, na >= 0 ? axes[j] : j, rank, &axis));
    if (pads[j] < 0 || pads[count + j] < 0) return ox_unsupported(c, "negative pads (cropping)");
    a.pad_begin[axis] = pads[j];
    a.pad_end[axis] = pads[count + j];
  }
  int cl = ox_in_is_cl_only(c, 0), x, y;
  KRT_TRY(cl ? ox_value_cl(c, 0, &x) : ox_value(c, 0, &x));
  if (cl) {
    ir_attrs b = a;
    int perm[KRT_MAX_RANK];
    ox_perm_to_cl(rank, perm);
    for (int p = 0; p < rank; p++) {
      b.pad_begin[p] = a.pad_begin[perm[p]];
      b.pad_end[p] = a.pad_end[perm[p]];
    }
    a = b;
  }
  KRT_TRY(ox_emit(c, IR_OP_PAD, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, cl);
}

/* x broadcast to a shape: x * ones(shape), exact (x * 1 is x, inf and NaN included). */
static krt_status *convert_expand(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 2));
  KRT_TRY(ox_require_one_output(c));
  int64_t shape[KRT_MAX_RANK];
  int n;
  KRT_TRY(ox_known_ints(c, 1, KRT_MAX_RANK, shape, &n));
  int64_t count = 1;
  for (int k = 0; k < n; k++) {
    if (shape[k] == OX_BATCH) shape[k] = 1;
    if (shape[k] < 0 || shape[k] > (1 << 24)) return ox_unsupported(c, "shape holds %lld", (long long)shape[k]);
    count *= shape[k]; /* at most 2^24 * 2^24 before the check below stops it */
    if (count > (1 << 24)) return ox_unsupported(c, "an expansion to more than 2^24 elements");
  }
  float *ones = malloc((size_t)(count ? count : 1) * sizeof *ones);
  if (!ones) return krt_error_oom("Expand");
  for (int64_t j = 0; j < count; j++) ones[j] = 1.0f;
  int o, x, y;
  krt_status *s = ox_const(c, "ones", n, shape, ones, &o);
  free(ones);
  KRT_TRY(s);
  KRT_TRY(ox_value(c, 0, &x));
  KRT_TRY(ox_binary(c, IR_BINARY_MUL, x, o, "", &y));
  return ox_set_output(c, 0, y, 0);
}

static const char *const dropout_attrs[] = {"ratio", "seed", "is_test", NULL};
static const char *const constant_attrs[] = {"value", "value_float", "value_floats", "value_int",
                                             "value_ints", NULL};
static const char *const cast_attrs[] = {"to", "saturate", NULL};
static const char *const shape_attrs[] = {"start", "end", NULL};
static const char *const reshape_attrs[] = {"allowzero", NULL};
static const char *const axis_attrs[] = {"axis", NULL};
static const char *const axes_attrs[] = {"axes", NULL};
static const char *const perm_attrs[] = {"perm", NULL};
static const char *const split_attrs[] = {"axis", "split", "num_outputs", NULL};
static const char *const slice_attrs[] = {"starts", "ends", "axes", NULL};
static const char *const pad_attrs[] = {"mode", "pads", "value", NULL};

const ox_op_entry ox_ops_shape[] = {
    {"Identity", convert_identity, 0, NULL},
    {"Dropout", convert_dropout, 0, dropout_attrs},
    {"Constant", convert_constant, 0, constant_attrs},
    {"Cast", convert_cast, 0, cast_attrs},
    {"Shape", convert_shape, 0, shape_attrs},
    {"Reshape", convert_reshape, 0, reshape_attrs},
    {"Flatten", convert_flatten, 0, axis_attrs},
    {"Squeeze", convert_squeeze, 0, axes_attrs},
    {"Unsqueeze", convert_squeeze, 1, axes_attrs},
    {"Transpose", convert_transpose, 0, perm_attrs},
    {"Concat", convert_concat, 0, axis_attrs},
    {"Split", convert_split, 0, split_attrs},
    {"Slice", convert_slice, 0, slice_attrs},
    {"Gather", convert_gather, 0, axis_attrs},
    {"Pad", convert_pad, 0, pad_attrs},
    {"Expand", convert_expand, 0, NULL},
    {NULL, NULL, 0, NULL},
};
