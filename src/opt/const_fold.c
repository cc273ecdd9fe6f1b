/* Constant folding: a node whose inputs are all constants is computed once, at build time, with
 * the CPU reference kernel of its op, and its readers read the result as a constant (the
 * arithmetic importers emit on a Normalization's mean and variance, a Rescaling of a constant,
 * ...). Nodes are visited in order, so a chain of them folds in one pass.
 *
 * Left alone: nodes no output depends on, nodes of several outputs, nodes whose result would be
 * far larger than their inputs (a broadcast that would bloat the engine file), and nodes whose
 * kernel fails: they then fail at run time with the same message as without folding.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "core/status.h"
#include "opt/fusion_util.h"
#include "opt/passes.h"
#include "opt/rewrite.h"

/* A result may always be this many floats, and otherwise no more than its inputs together. */
#define FOLD_SMALL_ELEMENTS ((int64_t)1 << 16)

/* Whether node i is worth computing now; its result's element count into *count. */
static int foldable(const ir_graph *g, const char *live, int i, int64_t *count) {
  const ir_node *n = &g->nodes[i];
  /* one result per node: a node of several outputs (Split of a constant) is left to run */
  if (!live[i] || n->n_inputs < 1 || n->n_outputs != 1 || !cpu_kernel_for(n->op)) return 0;
  if (!fusion_inputs_constant(g, n, 0, n->n_inputs - 1)) return 0;
  const ir_value *out = &g->values[n->outputs[0]];
  if (out->batched) return 0;
  int64_t elements = ir_value_elements(out, 1), inputs = 0;
  if (elements < 0) return 0;
  for (int k = 0; k < n->n_inputs; k++) inputs += ir_value_elements(&g->values[n->inputs[k]], 1);
  if (elements > FOLD_SMALL_ELEMENTS && elements > inputs) return 0;
  *count = elements;
  return 1;
}

/* Runs node i's kernel on its constant inputs; *result is NULL when the kernel refused. */
static krt_status *compute(const ir_graph *g, int i, int64_t count, float **result) {
  const ir_node *n = &g->nodes[i];
  *result = NULL;
  cpu_tensor *in = calloc((size_t)n->n_inputs, sizeof *in);
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof *data);
  if (!in || !data) {
    free(in);
    free(data);
    return krt_error_oom("const_fold");
  }
  for (int k = 0; k < n->n_inputs; k++) {
    const ir_value *v = &g->values[n->inputs[k]];
    in[k].data = v->data; /* kernels only read their inputs */
    in[k].rank = v->rank;
    memcpy(in[k].dims, v->dims, sizeof in[k].dims);
  }
  const ir_value *out = &g->values[n->outputs[0]];
  cpu_tensor y;
  y.data = data;
  y.rank = out->rank;
  memcpy(y.dims, out->dims, sizeof y.dims);
  krt_status *s = cpu_kernel_for(n->op)(n, in, n->n_inputs, &y);
  free(in);
  if (s) {
    krt_status_release(s);
    free(data);
    return NULL;
  }
  *result = data;
  return NULL;
}

/* Replaces node i's output by the constant `data` (taken). */
static krt_status *replace_by_constant(ir_graph *g, char *live, int i, float *data) {
  int out = g->nodes[i].outputs[0], c;
  int64_t dims[KRT_MAX_RANK];
  int rank = g->values[out].rank;
  memcpy(dims, g->values[out].dims, sizeof dims);
  KRT_TRY(ir_add_const(g, g->values[out].name, rank, dims, data, &c));
  /* The constant keeps the value's name ("norm/sub"); the dead value takes the fresh one. */
  char *name = g->values[c].name;
  g->values[c].name = g->values[out].name;
  g->values[out].name = name;
  g->values[c].layout = g->values[out].layout;
  rewrite_replace_uses(g, out, c);
  live[i] = 0;
  return NULL;
}

krt_status *opt_const_fold(ir_graph *g) {
  char *live = NULL;
  KRT_TRY(fusion_live_nodes(g, &live));
  krt_status *s = NULL;
  for (int i = 0; i < g->n_nodes && !s; i++) {
    int64_t count = 0;
    if (!foldable(g, live, i, &count)) continue;
    float *data = NULL;
    s = compute(g, i, count, &data);
    if (!s && data) s = replace_by_constant(g, live, i, data);
  }
  free(live);
  return s;
}
