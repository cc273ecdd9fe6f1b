/* A residual Add fused into the Conv, ConvTranspose or Dense that produces one of its operands.
 *
 *   z = op(x, W) + b;  y = act(z + r)   ->   y = op(x, W, b, r) with attrs.residual = 1 and act
 *
 * (ResNet's conv -> BN -> add -> relu once fold_batchnorm ran; fuse_activation later moves a
 * separate ReLU after it in.) The fused operand z must have no other reader, no activation of its
 * own and no residual yet; z, r and the sum must have the same known shape, since a fused residual
 * is added without broadcasting. The producer gets a zero bias when it had none: graph.h's [x, W,
 * b, r] always carries one.
 *
 * Which operand: when both qualify, the one produced later in node order, so r is computed before
 * it. When the one that qualifies was produced before r, the producer moves down to just before
 * the Add: its only reader is the Add and its own inputs come earlier still, so the order stays
 * topological.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "opt/fusion_util.h"
#include "opt/passes.h"
#include "opt/rewrite.h"

/* Whether operand k of Add node `add` can be the fused one. */
static int fusable_operand(const ir_graph *g, const char *live, int add, int k) {
  const ir_node *a = &g->nodes[add];
  int v = a->inputs[k], r = a->inputs[1 - k];
  int p = g->values[v].producer;
  if (p < 0) return 0;
  const ir_node *n = &g->nodes[p];
  if (n->op != IR_OP_DENSE && n->op != IR_OP_CONV && n->op != IR_OP_CONV_TRANSPOSE) return 0;
  if (n->attrs.act.kind != IR_ACT_NONE || n->attrs.residual || n->n_inputs < 2 || n->n_inputs > 3)
    return 0;
  const ir_value *sum = &g->values[a->outputs[0]];
  if (!fusion_same_known_shape(&g->values[v], sum) || !fusion_same_known_shape(&g->values[r], sum))
    return 0;
  return fusion_single_reader(g, live, v) == add;
}

/* Gives node p a zero bias of its output channels when it has none. */
static krt_status *ensure_bias(ir_graph *g, int p) {
  if (g->nodes[p].n_inputs >= 3) return NULL;
  const ir_value *z = &g->values[g->nodes[p].outputs[0]];
  int64_t channels = z->dims[z->rank - 1];
  float *zeros = calloc((size_t)(channels > 0 ? channels : 1), sizeof *zeros);
  if (!zeros) return krt_error_oom("fuse_residual");
  char name[512];
  snprintf(name, sizeof name, "%s/bias", g->nodes[p].name);
  int b;
  KRT_TRY(ir_add_const(g, name, 1, &channels, zeros, &b));
  int inputs[3] = {g->nodes[p].inputs[0], g->nodes[p].inputs[1], b};
  return fusion_set_inputs(&g->nodes[p], inputs, 3);
}

/* Fuses Add node `add` into the producer of its operand k. */
static krt_status *fuse_one(ir_graph *g, char *live, int add, int k) {
  int v = g->nodes[add].inputs[k], r = g->nodes[add].inputs[1 - k];
  int p = g->values[v].producer;
  if (g->values[r].producer > p) {
    fusion_move_node_later(g, live, p, add - 1);
    p = add - 1;
  }
  KRT_TRY(ensure_bias(g, p));
  ir_node *n = &g->nodes[p];
  int inputs[4] = {n->inputs[0], n->inputs[1], n->inputs[2], r};
  KRT_TRY(fusion_set_inputs(n, inputs, 4));
  n->attrs.residual = 1;
  n->attrs.act = g->nodes[add].attrs.act;
  KRT_TRY(ir_infer_node(g, p));
  KRT_TRY(fusion_record(g, p, add));
  rewrite_replace_uses(g, g->nodes[add].outputs[0], g->nodes[p].outputs[0]);
  live[add] = 0;
  return NULL;
}

krt_status *opt_fuse_residual(ir_graph *g) {
  char *live = NULL;
  KRT_TRY(fusion_live_nodes(g, &live));
  krt_status *s = NULL;
  for (int i = 0; i < g->n_nodes && !s; i++) {
    const ir_node *a = &g->nodes[i];
    if (!live[i] || a->op != IR_OP_BINARY || a->attrs.binary != IR_BINARY_ADD || a->n_inputs != 2)
      continue;
    int ok0 = fusable_operand(g, live, i, 0), ok1 = fusable_operand(g, live, i, 1);
    if (!ok0 && !ok1) continue;
    int k =
        ok0 && ok1 ? (g->values[a->inputs[1]].producer > g->values[a->inputs[0]].producer) : ok1;
    s = fuse_one(g, live, i, k);
  }
  free(live);
  return s;
}
