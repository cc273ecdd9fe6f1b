/* Mark-all-outputs (krt compare): after the passes, every node output that still exists becomes
 * a graph output too, so an engine can be debugged tensor by tensor exactly as it was optimised.
 *
 * Which Keras layer a value stands for: the passes keep layer records pointing at the value that
 * now computes the layer's result (rewrite_replace_uses), so after conv -> BN -> relu was fused,
 * the records of conv, bn and relu all point at the fused node's output. That value holds what
 * Keras computes at the LAST of them (relu); conv's and bn's own results no longer exist. The
 * name is therefore the last layer in the node's fused list ("bn,relu") whose record points at
 * the value, else the node's own layer, else the last layer record (model order, every layer
 * after its inputs') pointing at it: a removed Identity (Dropout) after the node points there
 * too, and holds the same numbers. A value no record points at (an importer's helper such as
 * "conv1/pad", or a Dense before its separate softmax) is published under its node's name, or,
 * for one of several outputs of a node, under its value's name ("split:1"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "opt/passes.h"

static int output_name_taken(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->n_outputs; i++)
    if (strcmp(g->output_names[i], name) == 0) return 1;
  return 0;
}

/* name, or "name:2", "name:3"... when an output already has it. Written into buf. */
static void unique_output_name(const ir_graph *g, const char *name, char *buf, size_t size) {
  snprintf(buf, size, "%s", name);
  for (int k = 2; output_name_taken(g, buf); k++) snprintf(buf, size, "%s:%d", name, k);
}

/* The layer whose result node n's output v holds (see above), or -1. */
static int layer_of_value(const ir_graph *g, const ir_node *n, int v, const int *last_layer) {
  if (n->fused) {
    const char *end = n->fused + strlen(n->fused);
    while (end > n->fused) {
      const char *start = end;
      while (start > n->fused && start[-1] != ',') start--;
      char name[512];
      size_t len = (size_t)(end - start);
      if (len < sizeof name) {
        memcpy(name, start, len);
        name[len] = '\0';
        int l = ir_find_layer(g, name);
        if (l >= 0 && g->layers[l].output == v) return l;
      }
      end = start > n->fused ? start - 1 : start;
    }
  }
  if (n->layer >= 0 && n->layer < g->n_layers && g->layers[n->layer].output == v) return n->layer;
  return last_layer[v];
}

krt_status *opt_publish_all_values(ir_graph *g) {
  size_t n = (size_t)(g->n_values ? g->n_values : 1);
  char *published = calloc(n, 1);
  int *last_layer = malloc(n * sizeof *last_layer);
  if (!published || !last_layer) {
    free(published);
    free(last_layer);
    return krt_error_oom("mark all outputs");
  }
  for (int v = 0; v < g->n_values; v++) last_layer[v] = -1;
  for (int l = 0; l < g->n_layers; l++) {
    int v = g->layers[l].output;
    if (v >= 0 && v < g->n_values) last_layer[v] = l;
  }
  for (int i = 0; i < g->n_outputs; i++) published[g->outputs[i]] = 1;

  krt_status *s = NULL;
  for (int i = 0; i < g->n_nodes && !s; i++) {
    for (int k = 0; k < g->nodes[i].n_outputs && !s; k++) {
      int v = g->nodes[i].outputs[k];
      if (published[v] || g->values[v].data) continue;
      published[v] = 1;
      int layer = layer_of_value(g, &g->nodes[i], v, last_layer);
      /* output k of several, no layer's result: its value name ("split:1") tells them apart */
      const char *base = layer >= 0 ? g->layers[layer].name
                         : g->nodes[i].n_outputs > 1 ? g->values[v].name
                                                     : g->nodes[i].name;
      char name[1024];
      unique_output_name(g, base, name, sizeof name);
      s = ir_add_output(g, v, name);
    }
  }
  free(published);
  free(last_layer);
  return s;
}
