#include "opt/rewrite.h"

void rewrite_replace_uses(ir_graph *g, int from, int to) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int j = 0; j < g->nodes[i].n_inputs; j++)
      if (g->nodes[i].inputs[j] == from) g->nodes[i].inputs[j] = to;
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == from) g->outputs[i] = to;
  for (int i = 0; i < g->n_layers; i++)
    if (g->layers[i].output == from) g->layers[i].output = to;
}

int rewrite_use_count(const ir_graph *g, int v) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++)
    for (int j = 0; j < g->nodes[i].n_inputs; j++) n += g->nodes[i].inputs[j] == v;
  for (int i = 0; i < g->n_outputs; i++) n += g->outputs[i] == v;
  return n;
}
