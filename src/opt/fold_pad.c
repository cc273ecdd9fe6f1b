/* Zero padding folded into the convolution or max pooling that reads it.
 *
 * Keras models often pad explicitly (ZeroPadding2D, then a 'valid' Conv2D or MaxPooling2D:
 * ResNet50's conv1_pad and pool1_pad, MobileNetV2's block_N_pad). A separate Pad node costs a full
 * read and write of its tensor; the reader can pad for free.
 *
 *   Pad -> Conv (any groups): exact. A convolution's own padding is zeros, so padding the spatial
 *     axes first and convolving with pads (pb, pe) equals convolving with pads (pb + p, pe + q).
 *   Pad -> Pool MAX: exact only when the padded value is never negative. Pool padding is ignored
 *     (max over in-bounds taps) while explicit zeros take part in the max; the two agree when every
 *     in-bounds tap is >= 0, because then max(taps, 0) = max(taps) (every window keeps at least
 *     one in-bounds tap: shape inference requires pad < kernel). So the Pad's input must come
 *     from an activation whose outputs are never negative (a ReLU without slope, ReLU6, sigmoid).
 *   Pad -> Pool AVG: never (explicit zeros count in the divisor, pool padding does not).
 *
 * Only spatial padding folds: the Pad must leave the batch and channel axes alone, and the Pad's
 * output must have no other reader. */
#include <stdlib.h>

#include "core/status.h"
#include "opt/fusion_util.h"
#include "opt/passes.h"

static int never_negative(const ir_graph *g, int value) {
  int p = g->values[value].producer;
  if (p < 0) return 0;
  const ir_node *n = &g->nodes[p];
  const ir_activation *a = NULL;
  if (n->op == IR_OP_ACTIVATION || n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE ||
      n->op == IR_OP_DENSE || n->op == IR_OP_BINARY || n->op == IR_OP_BATCHNORM)
    a = &n->attrs.act;
  if (!a) return 0;
  switch (a->kind) {
    case IR_ACT_RELU: return a->alpha == 0.0f && a->threshold >= 0.0f && a->max_value >= 0.0f;
    case IR_ACT_SIGMOID:
    case IR_ACT_HARD_SIGMOID:
    case IR_ACT_SOFTPLUS:
    case IR_ACT_EXPONENTIAL: return 1;
    default: return 0;
  }
}

/* Whether Pad node `pad` pads only the spatial axes of its [N, S..., C] input, by >= 0. */
static int pads_spatial_only(const ir_graph *g, const ir_node *pad, int spatial) {
  const ir_value *x = &g->values[pad->inputs[0]];
  if (x->rank != spatial + 2) return 0;
  const ir_attrs *a = &pad->attrs;
  if (a->pad_begin[0] || a->pad_end[0] || a->pad_begin[x->rank - 1] || a->pad_end[x->rank - 1])
    return 0;
  for (int k = 1; k <= spatial; k++)
    if (a->pad_begin[k] < 0 || a->pad_end[k] < 0) return 0;
  return 1;
}

krt_status *opt_fold_pad(ir_graph *g) {
  char *live = NULL;
  KRT_TRY(fusion_live_nodes(g, &live));
  krt_status *s = NULL;
  for (int i = 0; i < g->n_nodes && !s; i++) {
    ir_node *reader = &g->nodes[i];
    int is_conv = reader->op == IR_OP_CONV;
    int is_max_pool = reader->op == IR_OP_POOL && reader->attrs.pool == IR_POOL_MAX;
    if (!live[i] || (!is_conv && !is_max_pool) || reader->n_inputs < 1) continue;
    int padded = reader->inputs[0];
    int p = g->values[padded].producer;
    if (p < 0 || g->nodes[p].op != IR_OP_PAD || !live[p]) continue;
    if (fusion_single_reader(g, live, padded) != i) continue;
    const ir_node *pad = &g->nodes[p];
    int spatial = reader->attrs.spatial;
    if (!pads_spatial_only(g, pad, spatial)) continue;
    if (is_max_pool && !never_negative(g, pad->inputs[0])) continue;
    ir_attrs folded = reader->attrs;
    for (int k = 0; k < spatial; k++) {
      folded.pad_begin[k] += pad->attrs.pad_begin[k + 1];
      folded.pad_end[k] += pad->attrs.pad_end[k + 1];
      /* Pool windows must keep an in-bounds tap (shape inference's rule); leave it unfolded. */
      if (is_max_pool && (folded.pad_begin[k] >= folded.kernel[k] ||
                          folded.pad_end[k] >= folded.kernel[k]))
        goto next;
    }
    reader->attrs = folded;
    reader->inputs[0] = pad->inputs[0];
    s = fusion_record(g, i, p);
    if (!s) s = ir_infer_node(g, i);
  next:;
  }
  free(live);
  return s;
}
