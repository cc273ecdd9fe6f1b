/* MatMul of two computed tensors: a[..., M, K] @ b[..., K, N] -> y[..., M, N], the leading axes
 * numpy-broadcast (ops.def). One of krt's own kernels, not cuBLASLt: the leading axes broadcast
 * in any pattern (a[2, 1, M, K] @ b[1, 3, K, N]), any alignment and odd sizes need no special
 * case, and the launcher needs no per-context library state, so it runs like the other krt
 * kernels (and in tests/test_cuda_ops.c against the CPU reference). Products accumulate in float32
 * whatever the storage (float16 in FP16 engines); TF32 engines compute it in strict float32 too,
 * so a MatMul is never less exact than FP32 there.
 *
 * Tiling: each 16x16 thread block computes a 16x16 tile of one output matrix, walking K in steps
 * of 16 through shared-memory tiles of a (rows of the tile, 16 of K) and b (16 of K, columns of
 * the tile). blockIdx.z (grid-strided) is the leading index of y; the matrices of a and b it
 * reads are found through per-axis element strides that are 0 where an operand broadcasts.
 */
#include "backend/cuda/cuda_kernel_util.cuh"

#define MATMUL_TILE 16
#define MATMUL_MAX_Z 65535

/* The leading axes of y, with the element offset of a's and b's matrix per step on each axis
 * (0 where that operand has size 1 or lacks the axis). */
typedef struct matmul_leads {
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int64_t a_strides[KRT_MAX_RANK], b_strides[KRT_MAX_RANK];
} matmul_leads;

template <typename T>
__global__ void matmul_kernel(const T *__restrict__ a, const T *__restrict__ b, T *__restrict__ y,
                              int64_t m, int64_t k, int64_t n, int64_t count, matmul_leads leads) {
  __shared__ float at[MATMUL_TILE][MATMUL_TILE + 1]; /* +1: no bank conflicts on columns */
  __shared__ float bt[MATMUL_TILE][MATMUL_TILE + 1];
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t row = (int64_t)blockIdx.y * MATMUL_TILE + ty, col = (int64_t)blockIdx.x * MATMUL_TILE + tx;
  for (int64_t z = blockIdx.z; z < count; z += gridDim.z) {
    int64_t rest = z, a_off = 0, b_off = 0;
    for (int d = leads.rank - 1; d >= 0; d--) {
      int64_t i = rest % leads.dims[d];
      rest /= leads.dims[d];
      a_off += i * leads.a_strides[d];
      b_off += i * leads.b_strides[d];
    }
    const T *am = a + a_off, *bm = b + b_off;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < k; k0 += MATMUL_TILE) {
      /* at[ty][tx] = a[row, k0 + tx]; bt[ty][tx] = b[k0 + ty, col]; zeros outside */
      int64_t ka = k0 + tx, kb = k0 + ty;
      at[ty][tx] = row < m && ka < k ? ld(am + row * k + ka) : 0.0f;
      bt[ty][tx] = kb < k && col < n ? ld(bm + kb * n + col) : 0.0f;
      __syncthreads();
#pragma unroll
      for (int i = 0; i < MATMUL_TILE; i++) acc = fmaf(at[ty][i], bt[i][tx], acc);
      __syncthreads();
    }
    if (row < m && col < n) st(y + z * m * n + row * n + col, acc);
  }
}

extern "C" krt_status *cuda_launch_matmul(const ir_node *n, const cuda_tensor *in, int n_in,
                                          cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 2, 2));
  KRT_TRY(cuda_check_dtypes(n, in, 2, y));
  const cuda_tensor *a = &in[0], *b = &in[1];
  int rank = a->rank > b->rank ? a->rank : b->rank;
  if (a->rank < 2 || b->rank < 2 || y->rank != rank)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "ranks a %d, b %d, y %d", a->rank, b->rank,
                           y->rank);
  int64_t m = a->dims[a->rank - 2], k = a->dims[a->rank - 1], cols = b->dims[b->rank - 1];
  if (b->dims[b->rank - 2] != k || y->dims[rank - 2] != m || y->dims[rank - 1] != cols)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "a is ..x%lldx%lld, b ..x%lldx%lld, y ..x%lldx%lld",
                           (long long)m, (long long)k, (long long)b->dims[b->rank - 2],
                           (long long)cols, (long long)y->dims[rank - 2],
                           (long long)y->dims[rank - 1]);
  matmul_leads leads;
  memset(&leads, 0, sizeof leads);
  leads.rank = rank - 2;
  int64_t count = 1, a_stride = m * k, b_stride = k * cols;
  for (int d = rank - 3; d >= 0; d--) { /* innermost leading axis first: strides build up */
    int at_a = d - (rank - a->rank), at_b = d - (rank - b->rank);
    int64_t da = at_a >= 0 ? a->dims[at_a] : 1, db = at_b >= 0 ? b->dims[at_b] : 1;
    if ((da != 1 && db != 1 && da != db) || y->dims[d] != (da == 1 ? db : da))
      return cuda_node_error(n, KRT_ERR_INTERNAL, "output axis %d has %lld, inputs %lld and %lld",
                             d, (long long)y->dims[d], (long long)da, (long long)db);
    leads.dims[d] = y->dims[d];
    leads.a_strides[d] = da == 1 ? 0 : a_stride;
    leads.b_strides[d] = db == 1 ? 0 : b_stride;
    a_stride *= da;
    b_stride *= db;
    count *= y->dims[d];
  }
  if (y->row_pitch)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "MatMul writes its output dense, not at a pitch");
  if (count * m * cols == 0) return NULL;
  if (k == 0) { /* an empty sum: zeros (all-zero bits are 0.0 in both dtypes) */
    cudaError_t e = cudaMemsetAsync(y->data, 0, (size_t)(count * m * cols) * cuda_elem_size(y->dtype),
                                    launch->stream);
    return e == cudaSuccess ? NULL
                            : cuda_node_error(n, KRT_ERR_DEVICE, "cudaMemsetAsync failed: %s",
                                              cudaGetErrorString(e));
  }
  int64_t gx = (cols + MATMUL_TILE - 1) / MATMUL_TILE, gy = (m + MATMUL_TILE - 1) / MATMUL_TILE;
  if (gx > INT32_MAX || gy > MATMUL_MAX_Z)
    return cuda_node_error(n, KRT_ERR_UNSUPPORTED, "a %lld x %lld output matrix is too large",
                           (long long)m, (long long)cols);
  dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)(count < MATMUL_MAX_Z ? count : MATMUL_MAX_Z));
  dim3 block(MATMUL_TILE, MATMUL_TILE);
  CUDA_DISPATCH(y->dtype, {
    matmul_kernel<T><<<grid, block, 0, launch->stream>>>((const T *)a->data, (const T *)b->data,
                                                         (T *)y->data, m, k, cols, count, leads);
  });
  return cuda_check_launch(n);
}
