#include "opt/fusion_util.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "opt/rewrite.h"

krt_status *fusion_live_nodes(const ir_graph *g, char **live) {
  char *node_live = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
  char *value_live = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
  if (!node_live || !value_live) {
    free(node_live);
    free(value_live);
    return krt_error_oom("fusion pass");
  }
  for (int i = 0; i < g->n_outputs; i++) value_live[g->outputs[i]] = 1;
  /* Topological order: one backward sweep reaches every dependency. */
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const ir_node *n = &g->nodes[i];
    int used = 0;
    for (int k = 0; k < n->n_outputs; k++) used |= value_live[n->outputs[k]];
    if (!used) continue;
    node_live[i] = 1;
    for (int j = 0; j < n->n_inputs; j++) value_live[n->inputs[j]] = 1;
  }
  free(value_live);
  *live = node_live;
  return NULL;
}

int fusion_single_reader(const ir_graph *g, const char *live, int v) {
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == v) return -1;
  int reader = -1, reads = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (!live[i]) continue;
    for (int j = 0; j < g->nodes[i].n_inputs; j++)
      if (g->nodes[i].inputs[j] == v) {
        reader = i;
        reads++;
      }
  }
  return reads == 1 ? reader : -1;
}

int fusion_inputs_constant(const ir_graph *g, const ir_node *n, int first, int last) {
  for (int i = first; i <= last && i < n->n_inputs; i++)
    if (!g->values[n->inputs[i]].data) return 0;
  return 1;
}

/* Appends ",text" (or "text" to an empty list) to *list. */
static krt_status *append_name(char **list, const char *text) {
  if (!text || !text[0]) return NULL;
  size_t old = *list ? strlen(*list) : 0, add = strlen(text);
  char *s = realloc(*list, old + add + 2);
  if (!s) return krt_error_oom("fused layer names");
  if (old) s[old++] = ',';
  memcpy(s + old, text, add + 1);
  *list = s;
  return NULL;
}

krt_status *fusion_record(ir_graph *g, int into, int absorbed) {
  KRT_TRY(append_name(&g->nodes[into].fused, g->nodes[absorbed].name));
  return append_name(&g->nodes[into].fused, g->nodes[absorbed].fused);
}

int fusion_same_known_shape(const ir_value *a, const ir_value *b) {
  if (a->rank != b->rank || a->batched != b->batched) return 0;
  for (int k = a->batched ? 1 : 0; k < a->rank; k++)
    if (a->dims[k] < 0 || a->dims[k] != b->dims[k]) return 0;
  return 1;
}

krt_status *fusion_set_inputs(ir_node *n, const int *inputs, int n_inputs) {
  int *p = realloc(n->inputs, (size_t)n_inputs * sizeof *p);
  if (!p) return krt_error_oom("node inputs");
  memcpy(p, inputs, (size_t)n_inputs * sizeof *p);
  n->inputs = p;
  n->n_inputs = n_inputs;
  return NULL;
}

void fusion_move_node_later(ir_graph *g, char *live, int from, int to) {
  ir_node moved = g->nodes[from];
  char moved_live = live[from];
  memmove(&g->nodes[from], &g->nodes[from + 1], (size_t)(to - from) * sizeof moved);
  memmove(&live[from], &live[from + 1], (size_t)(to - from));
  g->nodes[to] = moved;
  live[to] = moved_live;
  for (int i = from; i <= to; i++)
    for (int k = 0; k < g->nodes[i].n_outputs; k++) g->values[g->nodes[i].outputs[k]].producer = i;
}
