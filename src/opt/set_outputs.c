/* --output NAME: cut the graph at named layers and make their outputs the graph's outputs. A
 * layer record holds one value (its first output); any other output of a node of several is
 * named by its value ("split:1", as krt inspect shows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "opt/passes.h"

/* "a, b, c" of the layers that have an output, for the message when a name is unknown. */
static void list_layers(const ir_graph *g, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < g->n_layers && used + 1 < size; i++) {
    if (g->layers[i].output < 0) continue;
    int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", g->layers[i].name);
    if (n < 0 || (size_t)n >= size - used) {
      if (size > 4) strcpy(buf + size - 4, "...");
      return;
    }
    used += (size_t)n;
  }
}

krt_status *opt_set_outputs(ir_graph *g, const char *const *layer_names, int n) {
  if (n <= 0) return NULL;
  int *values = malloc((size_t)n * sizeof *values);
  char **names = calloc((size_t)n, sizeof *names);
  if (!values || !names) {
    free(values);
    free(names);
    return krt_error_oom("outputs");
  }
  krt_status *s = NULL;
  for (int i = 0; i < n && !s; i++) {
    int layer = ir_find_layer(g, layer_names[i]);
    int value = layer >= 0 ? g->layers[layer].output : -1;
    if (value < 0) {
      int v = ir_find_value(g, layer_names[i]);
      if (v >= 0 && g->values[v].producer >= 0 && g->nodes[g->values[v].producer].n_outputs > 1)
        value = v;
    }
    if (value < 0) {
      char known[1024];
      list_layers(g, known, sizeof known);
      s = krt_error(KRT_ERR_NOT_FOUND, "%s: no layer named '%s' can be an output; layers: %s",
                    g->source ? g->source : "model", layer_names[i], known);
      break;
    }
    values[i] = value;
    size_t len = strlen(layer_names[i]) + 1;
    names[i] = malloc(len);
    if (!names[i]) s = krt_error_oom("output name");
    else memcpy(names[i], layer_names[i], len);
  }
  if (s) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(values);
    return s;
  }
  for (int i = 0; i < g->n_outputs; i++) free(g->output_names[i]);
  free(g->output_names);
  free(g->outputs);
  g->outputs = values;
  g->output_names = names;
  g->n_outputs = n;
  return NULL;
}
