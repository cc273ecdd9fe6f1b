/* Activation nodes fused into the node that produces their input.
 *
 *   - Conv / ConvTranspose / Dense / BatchNorm / Binary ADD with no activation, whose output
 *     only the Activation reads: the producer takes the activation (after its residual, if any:
 *     y = act(op + b + r); after normalising for a BatchNorm). A BatchNorm that follows a conv
 *     was folded into it by fold_batchnorm before this pass; the ones left are those that could
 *     not fold (DenseNet's pre-activation Concat -> BatchNorm -> ReLU -> Conv).
 *   - An Activation that is the identity on everything its input can hold disappears: a ReLU
 *     (threshold 0, max_value >= the input's upper bound, any negative slope) after an activation
 *     whose outputs are never negative (ReLU without slope, sigmoid, hard sigmoid, softplus,
 *     exponential, thresholded ReLU). Its readers read its input; nothing else changes, so the
 *     input may have other readers.
 *   - A capped ReLU after a plain ReLU whose cap is higher (ReLU then ReLU6): the first takes the
 *     lower cap, when the Activation is its output's only reader.
 *   - A linear Activation after a node is a copy: its readers read its input.
 */
#include <math.h>
#include <stdlib.h>

#include "core/status.h"
#include "opt/fusion_util.h"
#include "opt/passes.h"
#include "opt/rewrite.h"

static int takes_activation(const ir_node *n) {
  return n->op == IR_OP_DENSE || n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE ||
         n->op == IR_OP_BATCHNORM || (n->op == IR_OP_BINARY && n->attrs.binary == IR_BINARY_ADD);
}

static int has_activation_field(ir_op op) {
  return op == IR_OP_DENSE || op == IR_OP_CONV || op == IR_OP_CONV_TRANSPOSE ||
         op == IR_OP_BATCHNORM || op == IR_OP_BINARY || op == IR_OP_ACTIVATION;
}

/* A plain ReLU without slope or threshold: x > 0 ? min(x, max) : 0. */
static int is_plain_relu(const ir_activation *a) {
  return a->kind == IR_ACT_RELU && a->alpha == 0.0f && a->threshold == 0.0f && a->max_value >= 0.0f;
}

/* Whether act's outputs are never negative; their upper bound into *high. */
static int output_never_negative(const ir_activation *a, double *high) {
  switch (a->kind) {
    case IR_ACT_RELU:
      /* alpha 0: x <= threshold gives 0, x > threshold gives min(x, max) >= 0 */
      *high = a->max_value;
      return a->alpha == 0.0f && a->threshold >= 0.0f && a->max_value >= 0.0f;
    case IR_ACT_SIGMOID:
    case IR_ACT_HARD_SIGMOID: *high = 1.0; return 1;
    case IR_ACT_SOFTPLUS:
    case IR_ACT_EXPONENTIAL: *high = INFINITY; return 1;
    case IR_ACT_THRESHOLDED_RELU: *high = INFINITY; return a->alpha >= 0.0f;
    default: return 0;
  }
}

/* Whether `second` returns every value in [0, high] unchanged. A ReLU with threshold 0 does:
 * x > 0 gives min(x, max) = x, and x = 0 gives alpha * 0 = 0. */
static int identity_on(const ir_activation *second, double high) {
  return second->kind == IR_ACT_RELU && second->threshold == 0.0f &&
         (double)second->max_value >= high;
}

/* Bypasses Activation node `act`: its readers read its input; recorded on node `into` (if >= 0). */
static krt_status *bypass(ir_graph *g, char *live, int act, int into) {
  if (into >= 0) KRT_TRY(fusion_record(g, into, act));
  rewrite_replace_uses(g, g->nodes[act].outputs[0], g->nodes[act].inputs[0]);
  live[act] = 0;
  return NULL;
}

static krt_status *fuse_one(ir_graph *g, char *live, int i) {
  const ir_node *a = &g->nodes[i];
  if (!live[i] || a->op != IR_OP_ACTIVATION || a->n_inputs != 1) return NULL;
  int v = a->inputs[0], p = g->values[v].producer;
  if (p < 0) return NULL; /* a graph input or a constant: nothing to fuse into */
  if (a->attrs.act.kind == IR_ACT_NONE) return bypass(g, live, i, p);
  if (!has_activation_field(g->nodes[p].op)) return NULL;
  ir_node *producer = &g->nodes[p];
  const ir_activation *first = &producer->attrs.act, *second = &a->attrs.act;

  if (first->kind == IR_ACT_NONE) {
    if (!takes_activation(producer) || fusion_single_reader(g, live, v) != i) return NULL;
    producer->attrs.act = *second;
    return bypass(g, live, i, p);
  }
  double high = 0.0;
  if (output_never_negative(first, &high) && identity_on(second, high))
    return bypass(g, live, i, p);
  if (is_plain_relu(second) && first->kind == IR_ACT_RELU && first->alpha == 0.0f &&
      first->threshold >= 0.0f && second->max_value < first->max_value &&
      fusion_single_reader(g, live, v) == i) {
    /* x > t ? min(min(x, m1), m2) : 0 = x > t ? min(x, m2) : 0 for m2 < m1 */
    producer->attrs.act.max_value = second->max_value;
    return bypass(g, live, i, p);
  }
  return NULL;
}

krt_status *opt_fuse_activation(ir_graph *g) {
  char *live = NULL;
  KRT_TRY(fusion_live_nodes(g, &live));
  krt_status *s = NULL;
  for (int i = 0; i < g->n_nodes && !s; i++) s = fuse_one(g, live, i);
  free(live);
  return s;
}
