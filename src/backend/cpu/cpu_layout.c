/* Ops that move data without arithmetic (and Resize/Gather, which mostly copy):
 * Concat, Reshape, Identity, Transpose, Pad, Slice, Resize, Gather. All tensors row-major.
 */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"

static int same_dims_except(const cpu_tensor *a, const cpu_tensor *b, int axis) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (i != axis && a->dims[i] != b->dims[i]) return 0;
  return 1;
}

/* x0, x1, ... -> y joined along axis. Each input is [outer, dims[axis] * inner] and contributes
 * one contiguous chunk per outer index. */
krt_status *cpu_kernel_concat(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1 << 30));
  int axis = n->attrs.axis;
  if (axis < 0 || axis >= y->rank)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "axis %d for an output of rank %d", axis, y->rank);
  int64_t total = 0;
  for (int i = 0; i < n_in; i++) {
    if (!same_dims_except(&in[i], y, axis))
      return cpu_node_error(n, KRT_ERR_INTERNAL, "input %d does not match the output off axis %d",
                            i, axis);
    total += in[i].dims[axis];
  }
  if (total != y->dims[axis])
    return cpu_node_error(n, KRT_ERR_INTERNAL, "inputs give %lld along axis %d, output has %lld",
                          (long long)total, axis, (long long)y->dims[axis]);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= y->dims[i];
  for (int i = axis + 1; i < y->rank; i++) inner *= y->dims[i];
  int64_t y_chunk = y->dims[axis] * inner;
  int64_t at = 0; /* where input i starts within each output chunk */
  for (int i = 0; i < n_in; i++) {
    int64_t chunk = in[i].dims[axis] * inner;
    for (int64_t o = 0; o < outer; o++)
      memcpy(y->data + o * y_chunk + at, in[i].data + o * chunk, (size_t)chunk * sizeof(float));
    at += chunk;
  }
  return NULL;
}

/* Reshape and Identity copy the elements unchanged; the planner may give y the same memory as x,
 * in which case there is nothing to do. */
static krt_status *copy_through(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  int64_t count = cpu_count(&in[0]);
  KRT_TRY(cpu_check_count(n, y, count));
  if (y->data != in[0].data) memmove(y->data, in[0].data, (size_t)count * sizeof(float));
  return NULL;
}

krt_status *cpu_kernel_reshape(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  return copy_through(n, in, n_in, y);
}

krt_status *cpu_kernel_identity(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  return copy_through(n, in, n_in, y);
}

/* y.dims[i] = x.dims[perm[i]]: walk y in order, reading x through permuted strides. */
krt_status *cpu_kernel_transpose(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  const int *perm = n->attrs.perm;
  int seen[KRT_MAX_RANK] = {0};
  int ok = y->rank == x->rank;
  for (int i = 0; ok && i < x->rank; i++) {
    ok = perm[i] >= 0 && perm[i] < x->rank && !seen[perm[i]] && y->dims[i] == x->dims[perm[i]];
    if (ok) seen[perm[i]] = 1;
  }
  if (!ok)
    return cpu_node_error(n, KRT_ERR_INTERNAL,
                          "perm does not map the input of rank %d "
                          "onto the output",
                          x->rank);
  if (x->rank == 0) {
    y->data[0] = x->data[0];
    return NULL;
  }
  int64_t x_strides[KRT_MAX_RANK], read_strides[KRT_MAX_RANK];
  cpu_strides(x, x_strides);
  for (int i = 0; i < y->rank; i++) read_strides[i] = x_strides[perm[i]];
  int64_t count = cpu_count(y);
  int64_t index[KRT_MAX_RANK] = {0};
  int64_t from = 0; /* offset in x of y's element `e`, kept in step with index */
  for (int64_t e = 0; e < count; e++) {
    y->data[e] = x->data[from];
    for (int i = y->rank - 1; i >= 0; i--) {
      from += read_strides[i];
      if (++index[i] < y->dims[i]) break;
      from -= index[i] * read_strides[i];
      index[i] = 0;
    }
  }
  return NULL;
}

/* Copies the block of `src` (dims `dims`, row-major with strides src_strides) to `dst` (strides
 * dst_strides), one innermost row at a time. Used by Pad and Slice. */
static void copy_block(float *dst, const int64_t *dst_strides, const float *src,
                       const int64_t *src_strides, const int64_t *dims, int rank) {
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  int64_t len = dims[rank - 1], rows = 1;
  for (int i = 0; i < rank - 1; i++) rows *= dims[i];
  if (len == 0) return;
  int64_t index[KRT_MAX_RANK] = {0};
  for (int64_t r = 0; r < rows; r++) {
    int64_t d = 0, s = 0;
    for (int i = 0; i < rank - 1; i++) {
      d += index[i] * dst_strides[i];
      s += index[i] * src_strides[i];
    }
    memcpy(dst + d, src + s, (size_t)len * sizeof(float));
    for (int i = rank - 2; i >= 0; i--) {
      if (++index[i] < dims[i]) break;
      index[i] = 0;
    }
  }
}

/* Zero padding: y.dims[i] = x.dims[i] + pad_begin[i] + pad_end[i]. */
krt_status *cpu_kernel_pad(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  const int64_t *pb = n->attrs.pad_begin, *pe = n->attrs.pad_end;
  int ok = y->rank == x->rank;
  for (int i = 0; ok && i < x->rank; i++)
    ok = pb[i] >= 0 && pe[i] >= 0 && y->dims[i] == x->dims[i] + pb[i] + pe[i];
  if (!ok) return cpu_node_error(n, KRT_ERR_INTERNAL, "pads do not take the input to the output");
  memset(y->data, 0, (size_t)cpu_count(y) * sizeof(float));
  if (cpu_count(x) == 0) return NULL;
  int64_t ys[KRT_MAX_RANK], xs[KRT_MAX_RANK];
  cpu_strides(y, ys);
  cpu_strides(x, xs);
  int64_t start = 0;
  for (int i = 0; i < y->rank; i++) start += pb[i] * ys[i];
  copy_block(y->data + start, ys, x->data, xs, x->dims, x->rank);
  return NULL;
}

/* y = x[begin[i] : begin[i] + y.dims[i]] per axis. The lengths come from y (shape inference
 * resolved `end`, including on the batch axis, whose end the graph cannot know). */
krt_status *cpu_kernel_slice(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  const int64_t *begin = n->attrs.begin;
  int ok = y->rank == x->rank;
  for (int i = 0; ok && i < x->rank; i++) ok = begin[i] >= 0 && begin[i] + y->dims[i] <= x->dims[i];
  if (!ok) return cpu_node_error(n, KRT_ERR_INTERNAL, "slice falls outside the input");
  if (cpu_count(y) == 0) return NULL;
  int64_t ys[KRT_MAX_RANK], xs[KRT_MAX_RANK];
  cpu_strides(y, ys);
  cpu_strides(x, xs);
  int64_t start = 0;
  for (int i = 0; i < x->rank; i++) start += begin[i] * xs[i];
  copy_block(y->data, ys, x->data + start, xs, y->dims, y->rank);
  return NULL;
}

/* x -> y[0..k): piece i is x's elements from offset sizes[0] + .. + sizes[i-1] on axis (ops.def).
 * Each piece is a block copy, as Slice's. */
krt_status *cpu_kernel_split(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  int axis = n->attrs.axis;
  if (axis < 0 || axis >= x->rank)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "axis %d is outside the input", axis);
  int64_t xs[KRT_MAX_RANK];
  cpu_strides(x, xs);
  int64_t at = 0;
  for (int k = 0; k < n->n_outputs; k++) {
    cpu_tensor *piece = &y[k];
    int ok = piece->rank == x->rank && at + piece->dims[axis] <= x->dims[axis];
    for (int i = 0; ok && i < x->rank; i++) ok = i == axis || piece->dims[i] == x->dims[i];
    if (!ok) return cpu_node_error(n, KRT_ERR_INTERNAL, "output %d falls outside the input", k);
    if (cpu_count(piece) > 0) {
      int64_t ys[KRT_MAX_RANK];
      cpu_strides(piece, ys);
      copy_block(piece->data, ys, x->data + at * xs[axis], xs, piece->dims, piece->rank);
    }
    at += piece->dims[axis];
  }
  return NULL;
}

/* One output coordinate's source along one spatial axis: the two input indices it blends and the
 * weight of the upper one. Nearest: floor(o / scale). Bilinear (TF2 half-pixel centres):
 * src = (o + 0.5) / scale - 0.5, clamped to [0, in - 1]. */
typedef struct resize_tap {
  int64_t lower, upper;
  double frac;
} resize_tap;

static resize_tap resize_source(ir_resize_kind kind, int64_t o, int64_t scale, int64_t in) {
  resize_tap t;
  if (kind == IR_RESIZE_NEAREST) {
    t.lower = t.upper = o / scale;
    t.frac = 0.0;
    return t;
  }
  double src = (o + 0.5) / (double)scale - 0.5;
  if (src < 0) src = 0;
  if (src > (double)(in - 1)) src = (double)(in - 1);
  t.lower = (int64_t)floor(src);
  t.upper = t.lower + 1 < in ? t.lower + 1 : in - 1;
  t.frac = src - (double)t.lower;
  return t;
}

/* x[N, S..., C] -> y[N, S*scale..., C]. Bilinear on several axes blends the 2^spatial corners
 * (bilinear for 2 axes, as Keras; linear/trilinear for 1/3). */
krt_status *cpu_kernel_resize(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  const cpu_tensor *x = &in[0];
  const ir_attrs *a = &n->attrs;
  int sp = a->spatial;
  if (a->resize != IR_RESIZE_NEAREST && a->resize != IR_RESIZE_BILINEAR)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "unknown resize kind %d", (int)a->resize);
  int ok = sp >= 1 && sp <= IR_MAX_SPATIAL && x->rank == sp + 2 && y->rank == sp + 2 &&
           y->dims[0] == x->dims[0] && y->dims[sp + 1] == x->dims[sp + 1];
  for (int i = 0; ok && i < sp; i++)
    ok = a->scale[i] >= 1 && y->dims[1 + i] == x->dims[1 + i] * a->scale[i];
  if (!ok) return cpu_node_error(n, KRT_ERR_INTERNAL, "output is not the input scaled per axis");
  int64_t c_dim = x->dims[sp + 1];
  int64_t x_strides[KRT_MAX_RANK];
  cpu_strides(x, x_strides);
  int64_t positions = cpu_count(y) / (c_dim ? c_dim : 1);
  if (c_dim == 0) return NULL;
  int64_t index[KRT_MAX_RANK] = {0}; /* y's [n, spatial...] index */
  for (int64_t p = 0; p < positions; p++) {
    resize_tap taps[IR_MAX_SPATIAL];
    for (int i = 0; i < sp; i++)
      taps[i] = resize_source(a->resize, index[1 + i], a->scale[i], x->dims[1 + i]);
    /* Corner bit i set: the upper index on axis i, weighted frac; else lower, 1 - frac. */
    double weights[1 << IR_MAX_SPATIAL];
    const float *corners[1 << IR_MAX_SPATIAL];
    int n_corners = 1 << sp;
    for (int corner = 0; corner < n_corners; corner++) {
      double weight = 1.0;
      int64_t offset = index[0] * x_strides[0];
      for (int i = 0; i < sp; i++) {
        int upper = (corner >> i) & 1;
        weight *= upper ? taps[i].frac : 1.0 - taps[i].frac;
        offset += (upper ? taps[i].upper : taps[i].lower) * x_strides[1 + i];
      }
      weights[corner] = weight;
      corners[corner] = x->data + offset;
    }
    float *yp = y->data + p * c_dim;
    for (int64_t c = 0; c < c_dim; c++) {
      double sum = 0.0;
      for (int corner = 0; corner < n_corners; corner++)
        if (weights[corner] != 0.0) sum += weights[corner] * corners[corner][c];
      yp[c] = (float)sum;
    }
    for (int i = sp; i >= 0; i--) {
      if (++index[i] < y->dims[i]) break;
      index[i] = 0;
    }
  }
  return NULL;
}

/* idx[N, ...] (floats holding integers, truncated toward zero), table[V, D] -> y[N, ..., D]. */
krt_status *cpu_kernel_gather(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 2, 2));
  const cpu_tensor *idx = &in[0], *table = &in[1];
  if (table->rank != 2)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "table of rank %d, expected 2", table->rank);
  int64_t v_dim = table->dims[0], d_dim = table->dims[1];
  int64_t count = cpu_count(idx);
  KRT_TRY(cpu_check_count(n, y, count * d_dim));
  const int32_t *exact = idx->dtype == KRT_INT32 ? (const int32_t *)(const void *)idx->data : NULL;
  for (int64_t i = 0; i < count; i++) {
    double row = exact ? (double)exact[i] : trunc((double)idx->data[i]);
    if (!(row >= 0 && row < (double)v_dim)) /* also catches NaN */
      return cpu_node_error(n, KRT_ERR_INVALID_ARGUMENT,
                            "index %.17g at position %lld is outside [0, %lld)", row, (long long)i,
                            (long long)v_dim);
    memcpy(y->data + i * d_dim, table->data + (int64_t)row * d_dim, (size_t)d_dim * sizeof(float));
  }
  return NULL;
}
