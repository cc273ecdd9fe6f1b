/* Dense: x[..., K] @ W[K, M] + b[M] (+ r[..., M], a fused residual) -> y[..., M], then the fused
 * activation.
 * Dot products accumulate in double, so the reference is closer to exact than any float kernel.
 */
#include <stdlib.h>

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
