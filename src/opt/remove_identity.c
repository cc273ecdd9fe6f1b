/* Identity nodes (and the importers' no-op copies) cost a copy at run time: read through them. */
#include "opt/passes.h"
#include "opt/rewrite.h"

krt_status *opt_remove_identity(ir_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_IDENTITY || n->n_inputs != 1) continue;
    rewrite_replace_uses(g, n->outputs[0], n->inputs[0]);
  }
  return NULL;
}
