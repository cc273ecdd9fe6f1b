/* Ops that move data: Concat, Reshape, Identity, Transpose, Pad, Slice, Split, plus Resize and
 * Gather, which mostly copy. Pure moves are dtype-agnostic: they copy 2- or 4-byte elements
 * (Concat in the widest word, up to 16 bytes, that every chunk and pointer allows).
 *
 * Index arithmetic is cut down on the host first: axes of size 1 are dropped and neighbouring
 * axes that the op treats alike are merged (Transpose: axes that stay adjacent; Pad/Slice: an
 * axis whose inner neighbour is neither padded nor sliced), so an NHWC tensor usually reaches
 * the kernel as 1 to 3 axes. A transpose that swaps the last two (merged) axes, NCHW <-> NHWC
 * for example, goes through 32x32 shared-memory tiles so reads and writes stay coalesced.
 */
#include <math.h>

#include "backend/cuda/cuda_kernel_util.cuh"

/* An element of 2 or 4 bytes, moved as an integer. */
template <int BYTES>
struct word_of;
template <>
struct word_of<2> {
  typedef unsigned short type;
};
template <>
struct word_of<4> {
  typedef unsigned int type;
};
template <>
struct word_of<8> {
  typedef uint2 type;
};
template <>
struct word_of<16> {
  typedef uint4 type;
};

#define DISPATCH_ELEMENT(dtype, ...) \
  do {                               \
    if ((dtype) == KRT_FLOAT16) {    \
      typedef unsigned short W;      \
      __VA_ARGS__;                   \
    } else {                         \
      typedef unsigned int W;        \
      __VA_ARGS__;                   \
    }                                \
  } while (0)

/* ---- Concat: one launch; blockIdx.y picks the input ---- */

#define CONCAT_MAX_PER_LAUNCH 32

typedef struct concat_args {
  const void *src[CONCAT_MAX_PER_LAUNCH];
  int64_t chunk[CONCAT_MAX_PER_LAUNCH]; /* words per outer index, input i */
  int64_t at[CONCAT_MAX_PER_LAUNCH];    /* where input i starts within an output chunk (words) */
  int64_t outer, y_chunk;
} concat_args;

template <typename W>
__global__ void concat_kernel(W *y, concat_args a) {
  int i = blockIdx.y;
  const W *src = (const W *)a.src[i];
  int64_t chunk = a.chunk[i], count = a.outer * chunk;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += stride) {
    int64_t o = e / chunk, r = e - o * chunk;
    y[o * a.y_chunk + a.at[i] + r] = src[e];
  }
}

extern "C" krt_status *cuda_launch_concat(const ir_node *n, const cuda_tensor *in, int n_in,
                                          cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1 << 30));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  int axis = n->attrs.axis;
  if (axis < 0 || axis >= y->rank)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "axis %d for an output of rank %d", axis, y->rank);
  int64_t outer = 1, inner = 1, total = 0;
  for (int i = 0; i < axis; i++) outer *= y->dims[i];
  for (int i = axis + 1; i < y->rank; i++) inner *= y->dims[i];
  for (int i = 0; i < n_in; i++) {
    int ok = in[i].rank == y->rank;
    for (int k = 0; ok && k < y->rank; k++) ok = k == axis || in[i].dims[k] == y->dims[k];
    if (!ok)
      return cuda_node_error(n, KRT_ERR_INTERNAL, "input %d does not match the output off axis %d",
                             i, axis);
    total += in[i].dims[axis];
  }
  if (total != y->dims[axis])
    return cuda_node_error(n, KRT_ERR_INTERNAL, "inputs give %lld along axis %d, output has %lld",
                           (long long)total, axis, (long long)y->dims[axis]);
  if (outer * inner * total == 0) return NULL;
  /* Inputs written in place by their producers (row_pitch set: the plan made them views of y)
   * are already there: check that they are where this Concat expects them, and skip them. */
  size_t es = cuda_elem_size(y->dtype);
  int64_t at_elems = 0;
  int copied = 0;
  for (int i = 0; i < n_in; i++) {
    if (in[i].row_pitch) {
      if (axis != y->rank - 1 || in[i].row_pitch != y->dims[axis] ||
          (const unsigned char *)in[i].data != (const unsigned char *)y->data + at_elems * es)
        return cuda_node_error(n, KRT_ERR_INTERNAL, "input %d is not where it was placed", i);
    } else {
      copied++;
    }
    at_elems += in[i].dims[axis] * inner;
  }
  if (!copied) return NULL;
  /* The widest word that divides every chunk, offset and pointer (in bytes). */
  uintptr_t bits = (uintptr_t)y->data | (uintptr_t)(total * inner * es);
  for (int i = 0; i < n_in; i++)
    bits |= (uintptr_t)(in[i].row_pitch ? NULL : in[i].data) |
            (uintptr_t)(in[i].dims[axis] * inner * es);
  int word = (bits & 15) == 0 ? 16 : (bits & 7) == 0 ? 8 : (bits & 3) == 0 ? 4 : 2;
  int64_t at = 0;
  int next = 0; /* the next input to consider */
  while (next < n_in) {
    concat_args a;
    memset(&a, 0, sizeof a);
    int count = 0;
    int64_t biggest = 0;
    for (; next < n_in && count < CONCAT_MAX_PER_LAUNCH; next++) {
      const cuda_tensor *t = &in[next];
      int64_t chunk = t->dims[axis] * inner * (int64_t)es / word;
      if (!t->row_pitch) {
        a.src[count] = t->data;
        a.chunk[count] = chunk;
        a.at[count] = at;
        if (chunk > biggest) biggest = chunk;
        count++;
      }
      at += chunk;
    }
    if (!count || !biggest) continue;
    a.outer = outer;
    a.y_chunk = total * inner * (int64_t)es / word;
    dim3 grid(cuda_blocks_for(outer * biggest, CUDA_THREADS), (unsigned)count, 1);
    if (grid.x > 4096) grid.x = 4096; /* times up to 32 inputs */
    switch (word) {
      case 16:
        concat_kernel<uint4><<<grid, CUDA_THREADS, 0, launch->stream>>>((uint4 *)y->data, a);
        break;
      case 8:
        concat_kernel<uint2><<<grid, CUDA_THREADS, 0, launch->stream>>>((uint2 *)y->data, a);
        break;
      case 4:
        concat_kernel<unsigned><<<grid, CUDA_THREADS, 0, launch->stream>>>((unsigned *)y->data, a);
        break;
      default:
        concat_kernel<unsigned short>
            <<<grid, CUDA_THREADS, 0, launch->stream>>>((unsigned short *)y->data, a);
        break;
    }
    KRT_TRY(cuda_check_launch(n));
  }
  return NULL;
}

/* ---- Reshape, Identity: the same elements; nothing to do when the planner aliased them ---- */

static krt_status *copy_through(const ir_node *n, const cuda_tensor *in, int n_in, cuda_tensor *y,
                                const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  int64_t count = cuda_count(&in[0]);
  if (cuda_count(y) != count)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output holds %lld elements, input %lld",
                           (long long)cuda_count(y), (long long)count);
  if (y->data == in[0].data || count == 0) return NULL;
  cudaError_t e = cudaMemcpyAsync(y->data, in[0].data, (size_t)count * cuda_elem_size(y->dtype),
                                  cudaMemcpyDeviceToDevice, launch->stream);
  if (e != cudaSuccess)
    return cuda_node_error(n, KRT_ERR_DEVICE, "device copy failed: %s", cudaGetErrorString(e));
  return NULL;
}

extern "C" krt_status *cuda_launch_reshape(const ir_node *n, const cuda_tensor *in, int n_in,
                                           cuda_tensor *y, const cuda_launch *launch) {
  return copy_through(n, in, n_in, y, launch);
}

extern "C" krt_status *cuda_launch_identity(const ir_node *n, const cuda_tensor *in, int n_in,
                                            cuda_tensor *y, const cuda_launch *launch) {
  return copy_through(n, in, n_in, y, launch);
}

/* ---- Transpose ---- */

/* y element i (row-major over dims) reads x at sum(coord_k * read[k]). */
typedef struct gather_plan {
  int rank;
  int64_t dims[KRT_MAX_RANK], read[KRT_MAX_RANK];
} gather_plan;

template <typename W>
__global__ void transpose_general_kernel(W *y, const W *x, gather_plan p, int64_t count) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
    int64_t rest = i, off = 0;
    for (int k = p.rank - 1; k > 0; k--) {
      int64_t q = rest / p.dims[k];
      off += (rest - q * p.dims[k]) * p.read[k];
      rest = q;
    }
    y[i] = x[off + rest * p.read[0]];
  }
}

/* y[b][r][c] = x[b][c][r]; x is [batch, cols, rows]. Block 32x8, tile 32x32. */
template <typename W>
__global__ void transpose_tiled_kernel(W *y, const W *x, int64_t rows, int64_t cols) {
  __shared__ W tile[32][33];
  int64_t b = blockIdx.z;
  int64_t r0 = (int64_t)blockIdx.x * 32, c0 = (int64_t)blockIdx.y * 32;
  const W *xb = x + b * rows * cols;
  W *yb = y + b * rows * cols;
  for (int k = threadIdx.y; k < 32; k += 8) { /* x row c0 + k, columns r0 + tx */
    int64_t c = c0 + k, r = r0 + threadIdx.x;
    if (c < cols && r < rows) tile[k][threadIdx.x] = xb[c * rows + r];
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += 8) { /* y row r0 + k, columns c0 + tx */
    int64_t r = r0 + k, c = c0 + threadIdx.x;
    if (r < rows && c < cols) yb[r * cols + c] = tile[threadIdx.x][k];
  }
}

extern "C" krt_status *cuda_launch_transpose(const ir_node *n, const cuda_tensor *in, int n_in,
                                             cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const cuda_tensor *x = &in[0];
  const int *perm = n->attrs.perm;
  int seen[KRT_MAX_RANK] = {0};
  int ok = y->rank == x->rank;
  for (int i = 0; ok && i < x->rank; i++) {
    ok = perm[i] >= 0 && perm[i] < x->rank && !seen[perm[i]] && y->dims[i] == x->dims[perm[i]];
    if (ok) seen[perm[i]] = 1;
  }
  if (!ok)
    return cuda_node_error(n, KRT_ERR_INTERNAL,
                           "perm does not map the input of rank %d onto the "
                           "output",
                           x->rank);
  int64_t count = cuda_count(y);
  if (count == 0) return NULL;
  int64_t xs[KRT_MAX_RANK], stride = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    xs[i] = stride;
    stride *= x->dims[i];
  }
  gather_plan p;
  p.rank = 0;
  for (int i = 0; i < y->rank; i++) {
    int64_t d = y->dims[i], r = xs[perm[i]];
    if (d == 1) continue;
    if (p.rank > 0 && p.read[p.rank - 1] == r * d) { /* still adjacent in x: merge */
      p.dims[p.rank - 1] *= d;
      p.read[p.rank - 1] = r;
      continue;
    }
    p.dims[p.rank] = d;
    p.read[p.rank] = r;
    p.rank++;
  }
  if (p.rank <= 1) { /* nothing actually moves */
    cuda_tensor flat = *x;
    return copy_through(n, &flat, 1, y, launch);
  }
  /* [rows, cols] reading x[cols, rows], or [B, rows, cols] reading x[B, cols, rows] */
  int last = p.rank - 1;
  int tiled = p.read[last] == p.dims[last - 1] && p.read[last - 1] == 1 &&
              (p.rank == 2 || (p.rank == 3 && p.read[0] == p.dims[1] * p.dims[2]));
  DISPATCH_ELEMENT(y->dtype, {
    if (tiled) {
      int64_t batch = p.rank == 3 ? p.dims[0] : 1;
      int64_t rows = p.dims[last - 1], cols = p.dims[last];
      if (batch > 65535 || (rows + 31) / 32 > 2147483647 || (cols + 31) / 32 > 65535) {
        tiled = 0;
      } else {
        dim3 grid((unsigned)((rows + 31) / 32), (unsigned)((cols + 31) / 32), (unsigned)batch);
        transpose_tiled_kernel<W><<<grid, dim3(32, 8, 1), 0, launch->stream>>>(
            (W *)y->data, (const W *)x->data, rows, cols);
      }
    }
    if (!tiled)
      transpose_general_kernel<W>
          <<<cuda_blocks_for(count, CUDA_THREADS), CUDA_THREADS, 0, launch->stream>>>(
              (W *)y->data, (const W *)x->data, p, count);
  });
  return cuda_check_launch(n);
}

/* ---- Pad and Slice: y[idx] = x[idx + shift] where inside x, else 0 ---- */

typedef struct window_plan {
  int rank;
  int64_t y_dims[KRT_MAX_RANK], x_dims[KRT_MAX_RANK], x_strides[KRT_MAX_RANK];
  int64_t shift[KRT_MAX_RANK]; /* -pad_begin (Pad) or +begin (Slice) */
} window_plan;

template <typename W>
__global__ void window_kernel(W *y, const W *x, window_plan p, int64_t count) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
    int64_t rest = i, off = 0;
    bool inside = true;
    for (int k = p.rank - 1; k >= 0; k--) {
      int64_t q = rest / p.y_dims[k];
      int64_t src = rest - q * p.y_dims[k] + p.shift[k];
      inside = inside && src >= 0 && src < p.x_dims[k];
      off += src * p.x_strides[k];
      rest = q;
    }
    y[i] = inside ? x[off] : W(0);
  }
}

/* Builds the plan from per-axis (y dim, x dim, shift), merging axis k into k+1 when axis k+1 is
 * copied whole (same length, no shift). */
static void window_plan_init(int rank, const int64_t *y_dims, const int64_t *x_dims,
                             const int64_t *shift, window_plan *p) {
  int64_t xs[KRT_MAX_RANK], stride = 1;
  for (int i = rank - 1; i >= 0; i--) {
    xs[i] = stride;
    stride *= x_dims[i];
  }
  /* walk from the innermost axis outwards, building the plan reversed */
  int64_t yd[KRT_MAX_RANK], xd[KRT_MAX_RANK], st[KRT_MAX_RANK], sh[KRT_MAX_RANK];
  int r = 0;
  for (int i = rank - 1; i >= 0; i--) {
    if (r > 0 && sh[r - 1] == 0 && yd[r - 1] == xd[r - 1] && xs[i] == st[r - 1] * xd[r - 1]) {
      /* the inner (merged) axis is whole: fold axis i into it */
      int64_t inner = yd[r - 1];
      yd[r - 1] = y_dims[i] * inner;
      xd[r - 1] = x_dims[i] * inner;
      sh[r - 1] = shift[i] * inner;
      continue;
    }
    yd[r] = y_dims[i], xd[r] = x_dims[i], st[r] = xs[i], sh[r] = shift[i];
    r++;
  }
  p->rank = r;
  for (int k = 0; k < r; k++) {
    p->y_dims[k] = yd[r - 1 - k];
    p->x_dims[k] = xd[r - 1 - k];
    p->x_strides[k] = st[r - 1 - k];
    p->shift[k] = sh[r - 1 - k];
  }
}

static krt_status *launch_window(const ir_node *n, const cuda_tensor *x, cuda_tensor *y,
                                 const int64_t *shift, const cuda_launch *launch) {
  int64_t count = cuda_count(y);
  if (count == 0) return NULL;
  window_plan p;
  window_plan_init(y->rank, y->dims, x->dims, shift, &p);
  if (p.rank == 0) { /* rank-0 tensors */
    p.rank = 1;
    p.y_dims[0] = p.x_dims[0] = 1;
    p.x_strides[0] = 1;
    p.shift[0] = 0;
  }
  DISPATCH_ELEMENT(y->dtype, window_kernel<W>
                   <<<cuda_blocks_for(count, CUDA_THREADS), CUDA_THREADS, 0, launch->stream>>>(
                       (W *)y->data, (const W *)x->data, p, count));
  return cuda_check_launch(n);
}

extern "C" krt_status *cuda_launch_pad(const ir_node *n, const cuda_tensor *in, int n_in,
                                       cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const cuda_tensor *x = &in[0];
  const int64_t *pb = n->attrs.pad_begin, *pe = n->attrs.pad_end;
  int ok = y->rank == x->rank;
  int64_t shift[KRT_MAX_RANK];
  for (int i = 0; ok && i < x->rank; i++) {
    ok = pb[i] >= 0 && pe[i] >= 0 && y->dims[i] == x->dims[i] + pb[i] + pe[i];
    shift[i] = -pb[i];
  }
  if (!ok) return cuda_node_error(n, KRT_ERR_INTERNAL, "pads do not take the input to the output");
  return launch_window(n, x, y, shift, launch);
}

extern "C" krt_status *cuda_launch_slice(const ir_node *n, const cuda_tensor *in, int n_in,
                                         cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const cuda_tensor *x = &in[0];
  const int64_t *begin = n->attrs.begin;
  int ok = y->rank == x->rank;
  for (int i = 0; ok && i < x->rank; i++) ok = begin[i] >= 0 && begin[i] + y->dims[i] <= x->dims[i];
  if (!ok) return cuda_node_error(n, KRT_ERR_INTERNAL, "slice falls outside the input");
  return launch_window(n, x, y, begin, launch);
}

/* Split: x -> y[0..k), piece k being x's window from offset sizes[0] + .. + sizes[k-1] on axis,
 * one window launch per output (as Slice's, on the same stream, so a graph captures them all). */
extern "C" krt_status *cuda_launch_split(const ir_node *n, const cuda_tensor *in, int n_in,
                                         cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  const cuda_tensor *x = &in[0];
  int axis = n->attrs.axis;
  if (axis < 0 || axis >= x->rank)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "axis %d is outside the input", axis);
  int64_t at = 0;
  for (int k = 0; k < n->n_outputs; k++) {
    cuda_tensor *piece = &y[k];
    KRT_TRY(cuda_check_dtypes(n, in, n_in, piece));
    if (piece->row_pitch)
      return cuda_node_error(n, KRT_ERR_INTERNAL, "output %d is a view into a Concat", k);
    int ok = piece->rank == x->rank && at + piece->dims[axis] <= x->dims[axis];
    for (int i = 0; ok && i < x->rank; i++) ok = i == axis || piece->dims[i] == x->dims[i];
    if (!ok) return cuda_node_error(n, KRT_ERR_INTERNAL, "output %d falls outside the input", k);
    int64_t shift[KRT_MAX_RANK] = {0};
    shift[axis] = at;
    KRT_TRY(launch_window(n, x, piece, shift, launch));
    at += piece->dims[axis];
  }
  return NULL;
}

/* ---- Resize: x[N, S..., C] -> y[N, S*scale..., C], 1..3 spatial axes handled as 3 ---- */

typedef struct resize_geom {
  int64_t batch, channels, in[3], out[3], scale[3];
  int bilinear, n_axes; /* n_axes: the node's spatial axes (the last n_axes of the 3) */
} resize_geom;

template <typename T>
__global__ void resize_kernel(const T *x, T *y, resize_geom g) {
  const int64_t count = g.batch * g.out[0] * g.out[1] * g.out[2] * g.channels;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
    int64_t rest = i, o[3];
    int64_t c = rest % g.channels;
    rest /= g.channels;
    for (int a = 2; a >= 0; a--) {
      o[a] = rest % g.out[a];
      rest /= g.out[a];
    }
    int64_t b = rest;
    int64_t lower[3], upper[3];
    float frac[3];
    for (int a = 0; a < 3; a++) {
      if (!g.bilinear) {
        lower[a] = upper[a] = o[a] / g.scale[a];
        frac[a] = 0.0f;
        continue;
      }
      /* TF2 half-pixel centres, clamped */
      float src = ((float)o[a] + 0.5f) / (float)g.scale[a] - 0.5f;
      if (src < 0.0f) src = 0.0f;
      if (src > (float)(g.in[a] - 1)) src = (float)(g.in[a] - 1);
      lower[a] = (int64_t)floorf(src);
      upper[a] = lower[a] + 1 < g.in[a] ? lower[a] + 1 : g.in[a] - 1;
      frac[a] = src - (float)lower[a];
    }
    float sum = 0.0f;
    int corners = g.bilinear ? 1 << g.n_axes : 1;
    for (int corner = 0; corner < corners; corner++) {
      float w = 1.0f;
      int64_t at[3];
      for (int a = 0; a < 3; a++) {
        int bit = a - (3 - g.n_axes); /* the node's axis, or < 0 for a padded one */
        int up = bit >= 0 && ((corner >> bit) & 1);
        if (g.bilinear && bit >= 0) w *= up ? frac[a] : 1.0f - frac[a];
        at[a] = up ? upper[a] : lower[a];
      }
      if (w != 0.0f)
        sum +=
            w *
            ld(x + (((b * g.in[0] + at[0]) * g.in[1] + at[1]) * g.in[2] + at[2]) * g.channels + c);
    }
    st(y + i, sum);
  }
}

extern "C" krt_status *cuda_launch_resize(const ir_node *n, const cuda_tensor *in, int n_in,
                                          cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 1, 1));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const cuda_tensor *x = &in[0];
  const ir_attrs *a = &n->attrs;
  int sp = a->spatial;
  if (a->resize != IR_RESIZE_NEAREST && a->resize != IR_RESIZE_BILINEAR)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "unknown resize kind %d", (int)a->resize);
  int ok = sp >= 1 && sp <= IR_MAX_SPATIAL && x->rank == sp + 2 && y->rank == sp + 2 &&
           y->dims[0] == x->dims[0] && y->dims[sp + 1] == x->dims[sp + 1];
  for (int i = 0; ok && i < sp; i++)
    ok = a->scale[i] >= 1 && y->dims[1 + i] == x->dims[1 + i] * a->scale[i];
  if (!ok) return cuda_node_error(n, KRT_ERR_INTERNAL, "output is not the input scaled per axis");
  resize_geom g;
  g.batch = x->dims[0];
  g.channels = x->dims[sp + 1];
  g.bilinear = a->resize == IR_RESIZE_BILINEAR;
  g.n_axes = sp;
  for (int i = 0; i < 3; i++) {
    int s = i - (3 - sp);
    g.in[i] = s < 0 ? 1 : x->dims[1 + s];
    g.out[i] = s < 0 ? 1 : y->dims[1 + s];
    g.scale[i] = s < 0 ? 1 : a->scale[s];
  }
  int64_t count = cuda_count(y);
  if (count == 0) return NULL;
  CUDA_DISPATCH(y->dtype, resize_kernel<T>
                <<<cuda_blocks_for(count, CUDA_THREADS), CUDA_THREADS, 0, launch->stream>>>(
                    (const T *)x->data, (T *)y->data, g));
  return cuda_check_launch(n);
}

/* ---- Gather: idx[...] (float32 or float16, truncated toward zero), table[V, D] ---- */

template <typename I, typename T>
__global__ void gather_kernel(const I *idx, const T *table, T *y, int64_t count, int64_t rows,
                              int64_t depth, int *error_flag) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < count * depth; e += stride) {
    int64_t i = e / depth, d = e - i * depth;
    float row = truncf(ld(idx + i));
    if (row >= 0.0f && row < (float)rows) { /* false for NaN too */
      y[e] = table[(int64_t)row * depth + d];
    } else {
      st(y + e, 0.0f);
      if (d == 0 && error_flag) *error_flag = 1;
    }
  }
}

extern "C" krt_status *cuda_launch_gather(const ir_node *n, const cuda_tensor *in, int n_in,
                                          cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 2, 2));
  KRT_TRY(cuda_check_dtypes(n, &in[1], 1, y)); /* the indices may keep their own float type */
  const cuda_tensor *idx = &in[0], *table = &in[1];
  if (idx->dtype != KRT_FLOAT32 && idx->dtype != KRT_FLOAT16)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "indices are %s, expected float32 or float16",
                           krt_dtype_name(idx->dtype));
  if (table->rank != 2)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "table of rank %d, expected 2", table->rank);
  int64_t rows = table->dims[0], depth = table->dims[1], count = cuda_count(idx);
  if (cuda_count(y) != count * depth)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "output holds %lld elements, expected %lld",
                           (long long)cuda_count(y), (long long)(count * depth));
  if (count * depth == 0) return NULL;
  unsigned blocks = cuda_blocks_for(count * depth, CUDA_THREADS);
  CUDA_DISPATCH(y->dtype, {
    if (idx->dtype == KRT_FLOAT16)
      gather_kernel<__half, T><<<blocks, CUDA_THREADS, 0, launch->stream>>>(
          (const __half *)idx->data, (const T *)table->data, (T *)y->data, count, rows, depth,
          launch->error_flag);
    else
      gather_kernel<float, T><<<blocks, CUDA_THREADS, 0, launch->stream>>>(
          (const float *)idx->data, (const T *)table->data, (T *)y->data, count, rows, depth,
          launch->error_flag);
  });
  return cuda_check_launch(n);
}
