#include "ir/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static char *dup_string(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Grows *items (of *cap entries of `size` bytes) to hold at least `need`. */
static int grow(void **items, int *cap, int need, size_t size) {
  if (need <= *cap) return 1;
  int n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *p = realloc(*items, (size_t)n * size);
  if (!p) return 0;
  memset((char *)p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
  *items = p;
  *cap = n;
  return 1;
}

ir_graph *ir_graph_create(void) { return calloc(1, sizeof(ir_graph)); }

void ir_graph_free(ir_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_values; i++) {
    free(g->values[i].name);
    if (g->values[i].owns_data) free(g->values[i].data);
  }
  for (int i = 0; i < g->n_nodes; i++) {
    free(g->nodes[i].name);
    free(g->nodes[i].inputs);
    free(g->nodes[i].outputs);
    free(g->nodes[i].fused);
  }
  for (int i = 0; i < g->n_layers; i++) {
    free(g->layers[i].name);
    free(g->layers[i].class_name);
  }
  for (int i = 0; i < g->n_outputs; i++) free(g->output_names[i]);
  free(g->values);
  free(g->nodes);
  free(g->layers);
  free(g->inputs);
  free(g->outputs);
  free(g->output_names);
  free(g->source);
  free(g);
}

int ir_find_value(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->n_values; i++)
    if (strcmp(g->values[i].name, name) == 0) return i;
  return -1;
}

int ir_find_layer(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->n_layers; i++)
    if (strcmp(g->layers[i].name, name) == 0) return i;
  return -1;
}

static int node_name_taken(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, name) == 0) return 1;
  return ir_find_value(g, name) >= 0;
}

/* A name not yet used by a node or value: `base`, else "base_1", "base_2", ... */
static char *unique_name(const ir_graph *g, const char *base) {
  if (!node_name_taken(g, base)) return dup_string(base);
  size_t n = strlen(base) + 24;
  char *s = malloc(n);
  if (!s) return NULL;
  for (int k = 1;; k++) {
    snprintf(s, n, "%s_%d", base, k);
    if (!node_name_taken(g, s)) return s;
  }
}

static krt_status *add_value(ir_graph *g, const char *name, int *id) {
  if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(ir_value)))
    return krt_error_oom("graph values");
  ir_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = unique_name(g, name);
  if (!v->name) return krt_error_oom("value name");
  v->producer = -1;
  v->producer_output = -1;
  v->dtype = KRT_FLOAT32;
  *id = g->n_values++;
  return NULL;
}

static krt_status *check_dims(const char *what, const char *name, int rank, const int64_t *dims) {
  if (rank < 0 || rank > KRT_MAX_RANK)
    return krt_error(KRT_ERR_SHAPE, "%s '%s': rank %d is outside 0..%d", what, name, rank,
                     KRT_MAX_RANK);
  for (int i = 0; i < rank; i++)
    if (dims[i] < -1)
      return krt_error(KRT_ERR_SHAPE, "%s '%s': dimension %d is %lld", what, name, i,
                       (long long)dims[i]);
  return NULL;
}

krt_status *ir_add_input(ir_graph *g, const char *name, krt_dtype dtype, int rank,
                         const int64_t *dims, int batched, ir_layout layout, int *id) {
  KRT_TRY(check_dims("input", name, rank, dims));
  int *p = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *p);
  if (!p) return krt_error_oom("graph inputs");
  g->inputs = p;
  int v;
  KRT_TRY(add_value(g, name, &v));
  ir_value *val = &g->values[v];
  val->dtype = dtype;
  val->rank = rank;
  memcpy(val->dims, dims, (size_t)rank * sizeof *dims);
  val->batched = batched;
  val->layout = layout;
  g->inputs[g->n_inputs++] = v;
  *id = v;
  return NULL;
}

krt_status *ir_add_const(ir_graph *g, const char *name, int rank, const int64_t *dims,
                         float *data, int *id) {
  krt_status *s = check_dims("constant", name, rank, dims);
  if (!s) {
    for (int i = 0; i < rank; i++)
      if (dims[i] < 0) s = krt_error(KRT_ERR_SHAPE, "constant '%s': unknown dimension", name);
  }
  if (!s && !data) s = krt_error(KRT_ERR_INVALID_ARGUMENT, "constant '%s': no data", name);
  int v = -1;
  if (!s) s = add_value(g, name, &v);
  if (s) {
    free(data);
    return s;
  }
  ir_value *val = &g->values[v];
  val->rank = rank;
  if (rank > 0) memcpy(val->dims, dims, (size_t)rank * sizeof *dims); /* a scalar may give no dims */
  val->data = data;
  val->owns_data = 1;
  *id = v;
  return NULL;
}

krt_status *ir_add_const_copy(ir_graph *g, const char *name, int rank, const int64_t *dims,
                              const float *data, int *id) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i] > 0 ? dims[i] : 0;
  float *copy = malloc((size_t)(n ? n : 1) * sizeof *copy);
  if (!copy) return krt_error_oom("constant");
  if (n) memcpy(copy, data, (size_t)n * sizeof *copy);
  return ir_add_const(g, name, rank, dims, copy, id);
}

krt_status *ir_emit_outputs(ir_graph *g, ir_op op, const char *name, int layer, const int *inputs,
                            int n_inputs, const ir_attrs *attrs, int n_outputs, int *outs) {
  if (!ir_op_is_valid(op)) return krt_error(KRT_ERR_INTERNAL, "node '%s': bad op %d", name, op);
  if (n_outputs < 1)
    return krt_error(KRT_ERR_INTERNAL, "node '%s': %d outputs (at least one)", name, n_outputs);
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i] < 0 || inputs[i] >= g->n_values)
      return krt_error(KRT_ERR_INTERNAL, "node '%s': input %d refers to no value", name, i);
  if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(ir_node)))
    return krt_error_oom("graph nodes");
  char *node_name = unique_name(g, name);
  int *ins = malloc((size_t)(n_inputs ? n_inputs : 1) * sizeof *ins);
  int *value_ids = malloc((size_t)n_outputs * sizeof *value_ids);
  if (!node_name || !ins || !value_ids) {
    free(node_name);
    free(ins);
    free(value_ids);
    return krt_error_oom("node");
  }
  memcpy(ins, inputs, (size_t)n_inputs * sizeof *ins);
  /* The output values come before the node record exists; a failure leaves them as unused
   * values without a producer, which no pass or backend reads (dead-code removal drops them). */
  krt_status *s = NULL;
  for (int k = 0; k < n_outputs && !s; k++) {
    char value_name[512];
    if (n_outputs == 1)
      snprintf(value_name, sizeof value_name, "%s", node_name);
    else
      snprintf(value_name, sizeof value_name, "%s:%d", node_name, k);
    s = add_value(g, value_name, &value_ids[k]);
  }
  if (s) {
    free(node_name);
    free(ins);
    free(value_ids);
    return s;
  }
  ir_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->name = node_name;
  n->layer = layer;
  n->inputs = ins;
  n->n_inputs = n_inputs;
  n->outputs = value_ids;
  n->n_outputs = n_outputs;
  if (attrs) n->attrs = *attrs;
  for (int k = 0; k < n_outputs; k++) {
    g->values[value_ids[k]].producer = g->n_nodes;
    g->values[value_ids[k]].producer_output = k;
  }
  int index = g->n_nodes++;
  KRT_TRY(ir_infer_node(g, index));
  memcpy(outs, value_ids, (size_t)n_outputs * sizeof *outs);
  return NULL;
}

krt_status *ir_emit(ir_graph *g, ir_op op, const char *name, int layer, const int *inputs,
                    int n_inputs, const ir_attrs *attrs, int *out) {
  return ir_emit_outputs(g, op, name, layer, inputs, n_inputs, attrs, 1, out);
}

krt_status *ir_add_layer(ir_graph *g, const char *name, const char *class_name, int *index) {
  if (!grow((void **)&g->layers, &g->cap_layers, g->n_layers + 1, sizeof(ir_layer)))
    return krt_error_oom("graph layers");
  ir_layer *l = &g->layers[g->n_layers];
  l->name = dup_string(name);
  l->class_name = dup_string(class_name);
  l->output = -1;
  l->param_count = 0;
  if (!l->name || !l->class_name) {
    free(l->name);
    free(l->class_name);
    return krt_error_oom("layer");
  }
  *index = g->n_layers++;
  return NULL;
}

krt_status *ir_add_output(ir_graph *g, int value, const char *name) {
  if (value < 0 || value >= g->n_values)
    return krt_error(KRT_ERR_INTERNAL, "output '%s' refers to no value", name);
  int *o = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *o);
  if (!o) return krt_error_oom("graph outputs");
  g->outputs = o;
  char **names = realloc(g->output_names, (size_t)(g->n_outputs + 1) * sizeof *names);
  if (!names) return krt_error_oom("graph outputs");
  g->output_names = names;
  char *copy = dup_string(name);
  if (!copy) return krt_error_oom("output name");
  g->outputs[g->n_outputs] = value;
  g->output_names[g->n_outputs] = copy;
  g->n_outputs++;
  return NULL;
}

krt_status *ir_graph_clone(const ir_graph *g, ir_graph **out) {
  ir_graph *c = ir_graph_create();
  if (!c) return krt_error_oom("graph");
  krt_status *s = NULL;
  c->values = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(ir_value));
  c->nodes = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(ir_node));
  c->layers = calloc((size_t)(g->n_layers ? g->n_layers : 1), sizeof(ir_layer));
  c->inputs = malloc((size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof(int));
  c->outputs = malloc((size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof(int));
  c->output_names = calloc((size_t)(g->n_outputs ? g->n_outputs : 1), sizeof(char *));
  if (!c->values || !c->nodes || !c->layers || !c->inputs || !c->outputs || !c->output_names) {
    ir_graph_free(c);
    return krt_error_oom("graph clone");
  }
  c->cap_values = g->n_values ? g->n_values : 1;
  c->cap_nodes = g->n_nodes ? g->n_nodes : 1;
  c->cap_layers = g->n_layers ? g->n_layers : 1;
  for (int i = 0; i < g->n_values && !s; i++) {
    ir_value *d = &c->values[i];
    *d = g->values[i];
    d->name = dup_string(g->values[i].name);
    d->data = NULL;
    d->owns_data = 0;
    c->n_values = i + 1;
    if (!d->name) s = krt_error_oom("graph clone");
    if (!s && g->values[i].data) {
      int64_t n = ir_value_elements(&g->values[i], 1);
      d->data = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
      if (!d->data) s = krt_error_oom("graph clone");
      else {
        memcpy(d->data, g->values[i].data, (size_t)(n > 0 ? n : 0) * sizeof(float));
        d->owns_data = 1;
      }
    }
  }
  for (int i = 0; i < g->n_nodes && !s; i++) {
    ir_node *d = &c->nodes[i];
    *d = g->nodes[i];
    d->name = dup_string(g->nodes[i].name);
    d->inputs = malloc((size_t)(d->n_inputs ? d->n_inputs : 1) * sizeof(int));
    d->outputs = malloc((size_t)(d->n_outputs ? d->n_outputs : 1) * sizeof(int));
    d->fused = g->nodes[i].fused ? dup_string(g->nodes[i].fused) : NULL;
    c->n_nodes = i + 1;
    if (!d->name || !d->inputs || !d->outputs || (g->nodes[i].fused && !d->fused)) {
      s = krt_error_oom("graph clone");
      break;
    }
    memcpy(d->inputs, g->nodes[i].inputs, (size_t)d->n_inputs * sizeof(int));
    memcpy(d->outputs, g->nodes[i].outputs, (size_t)d->n_outputs * sizeof(int));
  }
  for (int i = 0; i < g->n_layers && !s; i++) {
    ir_layer *d = &c->layers[i];
    *d = g->layers[i];
    d->name = dup_string(g->layers[i].name);
    d->class_name = dup_string(g->layers[i].class_name);
    c->n_layers = i + 1;
    if (!d->name || !d->class_name) s = krt_error_oom("graph clone");
  }
  if (!s) {
    memcpy(c->inputs, g->inputs, (size_t)g->n_inputs * sizeof(int));
    c->n_inputs = g->n_inputs;
    memcpy(c->outputs, g->outputs, (size_t)g->n_outputs * sizeof(int));
    for (int i = 0; i < g->n_outputs && !s; i++) {
      c->output_names[i] = dup_string(g->output_names[i]);
      c->n_outputs = i + 1;
      if (!c->output_names[i]) s = krt_error_oom("graph clone");
    }
    if (g->source && !(c->source = dup_string(g->source))) s = krt_error_oom("graph clone");
  }
  if (s) {
    ir_graph_free(c);
    return s;
  }
  *out = c;
  return NULL;
}

const char *ir_op_name(ir_op op) {
  switch (op) {
#define X(e, id, name, ...) \
  case e: return name;
#include "ops.def"
#undef X
    default: return "?";
  }
}

int ir_op_is_valid(int op) {
  switch (op) {
#define X(e, id, name, ...) case id:
#include "ops.def"
#undef X
    return 1;
    default: return 0;
  }
}

const char *ir_act_name(ir_act_kind kind) {
  static const char *names[] = {"linear",  "relu",    "sigmoid",     "hard_sigmoid",  "tanh",
                                "softplus", "softsign", "elu",       "selu",          "gelu",
                                "gelu_tanh", "swish",  "hard_swish", "exponential",   "mish",
                                "thresholded_relu", "sqrt", "rsqrt", "abs", "log", "neg",
                                "square", "erf", "clip", "sin", "cos", "tan", "asin", "acos",
                                "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log1p",
                                "expm1", "erfc", "round", "floor", "ceil", "sign"};
  if ((int)kind < 0 || (size_t)kind >= sizeof names / sizeof *names) return "?";
  return names[kind];
}

ir_activation ir_act_none(void) {
  ir_activation a = {IR_ACT_NONE, 0.0f, 0.0f, INFINITY, 0.0f};
  return a;
}

int64_t ir_value_sample_elements(const ir_value *v) {
  int64_t n = 1;
  for (int i = v->batched ? 1 : 0; i < v->rank; i++) {
    if (v->dims[i] < 0) return -1;
    n *= v->dims[i];
  }
  return n;
}

int64_t ir_value_elements(const ir_value *v, int64_t batch) {
  int64_t n = ir_value_sample_elements(v);
  if (n < 0) return -1;
  return v->batched ? n * batch : n;
}
