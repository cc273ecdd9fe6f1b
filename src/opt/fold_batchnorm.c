/* BatchNorm folded into the Conv, ConvTranspose or Dense that produces its input.
 *
 * With z = op(x, W) + b the BatchNorm computes, per output channel c,
 *   y = (z - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c] = op(x, W') + b'
 *   scale[c] = gamma[c] / sqrt(var[c] + eps)
 *   W'[..., c, ...] = W[..., c, ...] * scale[c]   (the output-channel axis of W: last for Dense
 *                                                  W[K, M] and Conv W[k..., Ci/groups, Co], also
 *                                                  grouped and depthwise; second to last for
 *                                                  ConvTranspose W[k..., Co, Ci])
 *   b'[c] = (b[c] - mean[c]) * scale[c] + beta[c]  (b = 0 when the node had no bias)
 * It applies only when
 *   - the BatchNorm normalises the last axis, the output channels of a channels-last result;
 *   - z has no other reader (z itself changes) and is not a graph output;
 *   - the producer has no activation (act(z) then BatchNorm does not fold) and no residual;
 *   - W, b and the four BatchNorm vectors are constants.
 * W' and b' are new constants: the old ones may be read by another node (a layer called twice);
 * remove_dead drops them when nothing else does. Scales are computed in double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "opt/fusion_util.h"
#include "opt/passes.h"
#include "opt/rewrite.h"

static int folds_into(ir_op op) {
  return op == IR_OP_DENSE || op == IR_OP_CONV || op == IR_OP_CONV_TRANSPOSE;
}

/* The index of the node BatchNorm node `bn` folds into, or -1. */
static int fold_target(const ir_graph *g, const char *live, int bn) {
  const ir_node *n = &g->nodes[bn];
  /* A BatchNorm carrying a fused activation (fuse_activation ran first) is left as it is. */
  if (n->op != IR_OP_BATCHNORM || n->n_inputs != 5 || !live[bn] || n->attrs.act.kind != IR_ACT_NONE)
    return -1;
  const ir_value *z = &g->values[n->inputs[0]];
  int p = z->producer;
  if (p < 0) return -1;
  const ir_node *producer = &g->nodes[p];
  if (!folds_into(producer->op) || producer->attrs.act.kind != IR_ACT_NONE ||
      producer->attrs.residual || producer->n_inputs < 2 || producer->n_inputs > 3)
    return -1;
  if (z->rank < 1 || n->attrs.axis != z->rank - 1 || z->dims[z->rank - 1] < 1) return -1;
  if (!fusion_inputs_constant(g, n, 1, 4) || !fusion_inputs_constant(g, producer, 1, 2)) return -1;
  if (fusion_single_reader(g, live, n->inputs[0]) != bn) return -1;
  return p;
}

/* scale[c] and shift[c] = beta[c] - mean[c] * scale[c]; 0 when a scale is not finite (a
 * variance below -eps): such a BatchNorm is left to run as it is. */
static int batchnorm_scale_shift(const ir_graph *g, const ir_node *bn, int64_t channels,
                                 double *scale, double *shift) {
  const float *gamma = g->values[bn->inputs[1]].data, *beta = g->values[bn->inputs[2]].data;
  const float *mean = g->values[bn->inputs[3]].data, *var = g->values[bn->inputs[4]].data;
  for (int64_t c = 0; c < channels; c++) {
    double denom = (double)var[c] + (double)bn->attrs.epsilon;
    if (!(denom > 0.0)) return 0;
    scale[c] = (double)gamma[c] / sqrt(denom);
    if (!isfinite(scale[c])) return 0;
    shift[c] = (double)beta[c] - (double)mean[c] * scale[c];
  }
  return 1;
}

/* W' = W scaled along its output-channel axis. */
static float *scaled_kernel(const ir_graph *g, const ir_node *producer, int64_t channels,
                            const double *scale) {
  const ir_value *w = &g->values[producer->inputs[1]];
  int64_t count = ir_value_elements(w, 1);
  /* Elements between two steps of the channel index: 1 when channels are W's last axis. */
  int64_t inner = producer->op == IR_OP_CONV_TRANSPOSE ? w->dims[w->rank - 1] : 1;
  float *out = malloc((size_t)(count > 0 ? count : 1) * sizeof *out);
  if (!out) return NULL;
  for (int64_t e = 0; e < count; e++)
    out[e] = (float)((double)w->data[e] * scale[(e / inner) % channels]);
  return out;
}

/* Folds BatchNorm node `bn` into node p. */
static krt_status *fold_one(ir_graph *g, char *live, int bn, int p) {
  const ir_node *n = &g->nodes[bn];
  const ir_value *z = &g->values[n->inputs[0]];
  int64_t channels = z->dims[z->rank - 1];
  const ir_value *w = &g->values[g->nodes[p].inputs[1]];
  if (w->rank < 2) return NULL; /* shape inference rules this out */
  int64_t w_channels =
      g->nodes[p].op == IR_OP_CONV_TRANSPOSE ? w->dims[w->rank - 2] : w->dims[w->rank - 1];
  if (w_channels != channels) return NULL;

  double *scale = malloc((size_t)channels * sizeof *scale);
  double *shift = malloc((size_t)channels * sizeof *shift);
  float *kernel = NULL, *bias = NULL;
  krt_status *s = NULL;
  if (!scale || !shift) {
    s = krt_error_oom("fold_batchnorm");
    goto done;
  }
  if (!batchnorm_scale_shift(g, n, channels, scale, shift)) goto done;
  kernel = scaled_kernel(g, &g->nodes[p], channels, scale);
  bias = malloc((size_t)channels * sizeof *bias);
  if (!kernel || !bias) {
    s = krt_error_oom("fold_batchnorm");
    goto done;
  }
  const float *b = g->nodes[p].n_inputs > 2 ? g->values[g->nodes[p].inputs[2]].data : NULL;
  for (int64_t c = 0; c < channels; c++)
    bias[c] = (float)((b ? (double)b[c] : 0.0) * scale[c] + shift[c]);

  /* New constants, named after what they replace: "conv1/kernel+bn1". Adding values may move
   * g->values, so every pointer into it is dead from here on. */
  char name[512];
  int64_t w_dims[KRT_MAX_RANK], b_dims[1] = {channels};
  int w_rank = w->rank;
  for (int k = 0; k < w_rank; k++) w_dims[k] = w->dims[k];
  int new_w, new_b;
  snprintf(name, sizeof name, "%s+%s", w->name, n->name);
  s = ir_add_const(g, name, w_rank, w_dims, kernel, &new_w);
  kernel = NULL;
  if (s) goto done;
  snprintf(name, sizeof name, "%s/bias+%s", g->nodes[p].name, g->nodes[bn].name);
  s = ir_add_const(g, name, 1, b_dims, bias, &new_b);
  bias = NULL;
  if (s) goto done;

  int inputs[3] = {g->nodes[p].inputs[0], new_w, new_b};
  s = fusion_set_inputs(&g->nodes[p], inputs, 3);
  if (!s) s = ir_infer_node(g, p);
  if (!s) s = fusion_record(g, p, bn);
  if (s) goto done;
  rewrite_replace_uses(g, g->nodes[bn].outputs[0], g->nodes[p].outputs[0]);
  live[bn] = 0;
done:
  free(scale);
  free(shift);
  free(kernel);
  free(bias);
  return s;
}

krt_status *opt_fold_batchnorm(ir_graph *g) {
  char *live = NULL;
  KRT_TRY(fusion_live_nodes(g, &live));
  krt_status *s = NULL;
  for (int i = 0; i < g->n_nodes && !s; i++) {
    int p = fold_target(g, live, i);
    if (p >= 0) s = fold_one(g, live, i, p);
  }
  free(live);
  return s;
}
