/* Channels-first layers are imported as Transpose(to channels-last) -> op -> Transpose(back), so
 * two channels-first layers in a row leave "back" immediately followed by "to": they cancel.
 *
 * For Transpose B reading Transpose A: B.out[i] = A.in[permA[permB[i]]]. When that composition is
 * the identity, B's readers read A's input; otherwise B is rewritten to read A's input with the
 * composed permutation. A is left for remove_dead when nothing else reads it. */
#include "core/status.h"
#include "opt/passes.h"
#include "opt/rewrite.h"

krt_status *opt_cancel_transposes(ir_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *b = &g->nodes[i];
    if (b->op != IR_OP_TRANSPOSE || b->n_inputs != 1) continue;
    int producer = g->values[b->inputs[0]].producer;
    if (producer < 0 || g->nodes[producer].op != IR_OP_TRANSPOSE) continue;
    const ir_node *a = &g->nodes[producer];
    int rank = g->values[b->outputs[0]].rank;
    int composed[KRT_MAX_RANK];
    int identity = 1;
    for (int k = 0; k < rank; k++) {
      composed[k] = a->attrs.perm[b->attrs.perm[k]];
      identity &= composed[k] == k;
    }
    if (identity) {
      rewrite_replace_uses(g, b->outputs[0], a->inputs[0]);
    } else {
      b->inputs[0] = a->inputs[0];
      for (int k = 0; k < rank; k++) b->attrs.perm[k] = composed[k];
      KRT_TRY(ir_infer_node(g, i));
    }
  }
  return NULL;
}
