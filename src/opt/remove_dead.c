/* Dead-code removal: keeps the nodes and constants that some graph output depends on, plus every
 * graph input (callers bind inputs by index and name, so the input table never changes), and
 * renumbers values and nodes densely in their original order. A node with several outputs stays
 * while any of them is used, and keeps all of them (its kernel writes every one). */
#include <stdlib.h>

#include "core/status.h"
#include "opt/passes.h"

krt_status *opt_remove_dead(ir_graph *g) {
  char *live = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
  int *value_map = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *value_map);
  int *node_map = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *node_map);
  if (!live || !value_map || !node_map) {
    free(live);
    free(value_map);
    free(node_map);
    return krt_error_oom("dead-code pass");
  }
  for (int i = 0; i < g->n_inputs; i++) live[g->inputs[i]] = 1;
  for (int i = 0; i < g->n_outputs; i++) live[g->outputs[i]] = 1;
  /* Nodes are topologically ordered, so one backward sweep marks every dependency. */
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const ir_node *n = &g->nodes[i];
    int used = 0;
    for (int k = 0; k < n->n_outputs; k++) used |= live[n->outputs[k]];
    if (!used) continue;
    for (int k = 0; k < n->n_outputs; k++) live[n->outputs[k]] = 1;
    for (int j = 0; j < n->n_inputs; j++) live[n->inputs[j]] = 1;
  }

  int nv = 0;
  for (int v = 0; v < g->n_values; v++) {
    if (live[v]) {
      value_map[v] = nv;
      g->values[nv++] = g->values[v];
    } else {
      value_map[v] = -1;
      free(g->values[v].name);
      if (g->values[v].owns_data) free(g->values[v].data);
    }
  }
  int nn = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *n = &g->nodes[i];
    if (value_map[n->outputs[0]] < 0) { /* all outputs live or none */
      node_map[i] = -1;
      free(n->name);
      free(n->inputs);
      free(n->outputs);
      free(n->fused);
      continue;
    }
    node_map[i] = nn;
    for (int k = 0; k < n->n_outputs; k++) n->outputs[k] = value_map[n->outputs[k]];
    for (int j = 0; j < n->n_inputs; j++) n->inputs[j] = value_map[n->inputs[j]];
    g->nodes[nn++] = *n;
  }
  for (int v = 0; v < nv; v++)
    if (g->values[v].producer >= 0) g->values[v].producer = node_map[g->values[v].producer];
  for (int i = 0; i < g->n_inputs; i++) g->inputs[i] = value_map[g->inputs[i]];
  for (int i = 0; i < g->n_outputs; i++) g->outputs[i] = value_map[g->outputs[i]];
  for (int i = 0; i < g->n_layers; i++)
    if (g->layers[i].output >= 0) g->layers[i].output = value_map[g->layers[i].output];
  g->n_values = nv;
  g->n_nodes = nn;
  free(live);
  free(value_map);
  free(node_map);
  return NULL;
}
