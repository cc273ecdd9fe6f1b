/* The matrix products.
 * Dense: x[..., K] @ W[K, M] + b[M] (+ r[..., M], a fused residual) -> y[..., M], then the fused
 * activation.
 * MatMul: a[..., M, K] @ b[..., K, N] -> y[..., M, N], the leading axes numpy-broadcast.
 * Dot products accumulate in double, so the reference is closer to exact than any float kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"

krt_status *cpu_kernel_dense(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(n->attrs.residual ? cpu_check_inputs(n, n_in, 4, 4) : cpu_check_inputs(n, n_in, 2, 3));
  const cpu_tensor *x = &in[0], *w = &in[1], *b = n_in > 2 ? &in[2] : NULL;
  if (x->rank < 1 || w->rank != 2 || y->rank != x->rank)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "ranks x %d, W %d, y %d", x->rank, w->rank, y->rank);
  int64_t k_dim = w->dims[0], m_dim = w->dims[1];
  if (x->dims[x->rank - 1] != k_dim || y->dims[y->rank - 1] != m_dim ||
      (b && cpu_count(b) != m_dim))
    return cpu_node_error(n, KRT_ERR_INTERNAL, "x has %lld features, W is %lldx%lld",
                          (long long)x->dims[x->rank - 1], (long long)k_dim, (long long)m_dim);
  int64_t rows = k_dim ? cpu_count(x) / k_dim : 0;
  KRT_TRY(cpu_check_count(n, y, rows * m_dim));

  double *acc = malloc((size_t)(m_dim > 0 ? m_dim : 1) * sizeof *acc);
  if (!acc)
    return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate %lld accumulators",
                          (long long)m_dim);
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x->data + r * k_dim;
    for (int64_t m = 0; m < m_dim; m++) acc[m] = b ? b->data[m] : 0.0;
    /* k outer, m inner: W is read row by row, contiguously. */
    for (int64_t k = 0; k < k_dim; k++) {
      double xv = xr[k];
      const float *wr = w->data + k * m_dim;
      for (int64_t m = 0; m < m_dim; m++) acc[m] += xv * wr[m];
    }
    float *yr = y->data + r * m_dim;
    for (int64_t m = 0; m < m_dim; m++) yr[m] = (float)acc[m];
  }
  free(acc);
  KRT_TRY(cpu_add_residual(n, in, n_in, y));
  cpu_apply_activation(&n->attrs.act, y->data, rows * m_dim);
  return NULL;
}

/* Element offsets of the matrix of `t` [..., R, C] that the output's leading index `lead_index`
 * reads: t's leading axes are right-aligned with y's, an axis of size 1 repeats. */
static int64_t matrix_offset(const cpu_tensor *t, const cpu_tensor *y, int64_t lead_index) {
  int y_lead = y->rank - 2, t_lead = t->rank - 2;
  int64_t offset = 0, stride = t->dims[t->rank - 2] * t->dims[t->rank - 1];
  for (int k = y_lead - 1; k >= 0; k--) {
    int64_t i = lead_index % y->dims[k];
    lead_index /= y->dims[k];
    int at = k - (y_lead - t_lead);
    if (at < 0) break;
    if (t->dims[at] != 1) offset += i * stride;
    stride *= t->dims[at];
  }
  return offset;
}

krt_status *cpu_kernel_matmul(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 2, 2));
  const cpu_tensor *a = &in[0], *b = &in[1];
  int rank = a->rank > b->rank ? a->rank : b->rank;
  if (a->rank < 2 || b->rank < 2 || y->rank != rank)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "ranks a %d, b %d, y %d", a->rank, b->rank, y->rank);
  int64_t m_dim = a->dims[a->rank - 2], k_dim = a->dims[a->rank - 1], n_dim = b->dims[b->rank - 1];
  if (b->dims[b->rank - 2] != k_dim || y->dims[rank - 2] != m_dim || y->dims[rank - 1] != n_dim)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "a is ..x%lldx%lld, b ..x%lldx%lld, y ..x%lldx%lld",
                          (long long)m_dim, (long long)k_dim, (long long)b->dims[b->rank - 2],
                          (long long)n_dim, (long long)y->dims[rank - 2],
                          (long long)y->dims[rank - 1]);
  int64_t leads = 1;
  for (int k = 0; k < rank - 2; k++) { /* y's leading dims must be the broadcast of a's and b's */
    int64_t da = k >= rank - a->rank ? a->dims[k - (rank - a->rank)] : 1;
    int64_t db = k >= rank - b->rank ? b->dims[k - (rank - b->rank)] : 1;
    if ((da != 1 && db != 1 && da != db) || y->dims[k] != (da == 1 ? db : da))
      return cpu_node_error(n, KRT_ERR_INTERNAL, "output axis %d has %lld, inputs %lld and %lld", k,
                            (long long)y->dims[k], (long long)da, (long long)db);
    leads *= y->dims[k];
  }
  KRT_TRY(cpu_check_count(n, y, leads * m_dim * n_dim));
  double *acc = malloc((size_t)(n_dim > 0 ? n_dim : 1) * sizeof *acc);
  if (!acc)
    return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate %lld accumulators",
                          (long long)n_dim);
  for (int64_t l = 0; l < leads; l++) {
    const float *am = a->data + matrix_offset(a, y, l), *bm = b->data + matrix_offset(b, y, l);
    float *ym = y->data + l * m_dim * n_dim;
    for (int64_t i = 0; i < m_dim; i++) {
      memset(acc, 0, (size_t)n_dim * sizeof *acc);
      /* k outer, j inner: b is read row by row, contiguously. */
      for (int64_t k = 0; k < k_dim; k++) {
        double av = am[i * k_dim + k];
        const float *br = bm + k * n_dim;
        for (int64_t j = 0; j < n_dim; j++) acc[j] += av * br[j];
      }
      for (int64_t j = 0; j < n_dim; j++) ym[i * n_dim + j] = (float)acc[j];
    }
  }
  free(acc);
  return NULL;
}
