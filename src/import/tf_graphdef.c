/* TensorFlow frozen graphs (GraphDef .pb, as convert_variables_to_constants / freeze_graph write
 * them): the file, the walk over the nodes and the graph's inputs and outputs. The converters,
 * one per op, are in tf_ops*.c.
 *
 * Which nodes are converted: those the outputs need. The outputs are the nodes the caller names
 * (import_options.outputs, `krt build --output NODE`), or by default every node that no other
 * node reads (NoOp, Const and Placeholder left out). Nodes are converted inputs first (an
 * iterative depth-first walk, so a deep graph cannot overflow the stack); a node whose op has no
 * converter is refused, naming it, before anything is converted. Control inputs ("^node") order
 * side effects, which a frozen inference graph has none of, and are not followed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/tf_internal.h"

/* Files larger than this are refused (protobuf's own limit is 2 GiB). */
#define TF_MAX_FILE_BYTES ((long)2 << 30)

/* ---- names -------------------------------------------------------------------------------- */

static tf_import *sort_target;
static int compare_node_names(const void *a, const void *b) {
  const tf_import *t = sort_target;
  return strcmp(t->nodes[*(const size_t *)a].def->name, t->nodes[*(const size_t *)b].def->name);
}

static krt_status *index_names(tf_import *t) {
  t->by_name = malloc((t->n_nodes ? t->n_nodes : 1) * sizeof *t->by_name);
  if (!t->by_name) return krt_error_oom("node index");
  for (size_t i = 0; i < t->n_nodes; i++) {
    const char *name = t->nodes[i].def->name;
    if (!name || !name[0])
      return krt_error(KRT_ERR_BAD_FILE, "%s: node %zu has no name", t->file, i);
    t->by_name[i] = i;
  }
  sort_target = t; /* qsort has no context argument; the import runs on one thread at a time */
  qsort(t->by_name, t->n_nodes, sizeof *t->by_name, compare_node_names);
  sort_target = NULL;
  for (size_t i = 1; i < t->n_nodes; i++)
    if (strcmp(t->nodes[t->by_name[i]].def->name, t->nodes[t->by_name[i - 1]].def->name) == 0)
      return krt_error(KRT_ERR_BAD_FILE, "%s: two nodes are named '%s'", t->file,
                       t->nodes[t->by_name[i]].def->name);
  return NULL;
}

/* Index of the node named exactly name[0..len), or -1. */
static long find_node(const tf_import *t, const char *name, size_t len) {
  size_t lo = 0, hi = t->n_nodes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *m = t->nodes[t->by_name[mid]].def->name;
    int c = strncmp(m, name, len);
    if (c == 0 && m[len] != '\0') c = 1;
    if (c == 0) return (long)t->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* "node", "node:k" or "^node" -> node index and output k; *control set for "^node". */
static krt_status *parse_tensor_name(const tf_import *t, const char *who, const char *spec,
                                     long *node, int *k, int *control) {
  *control = spec[0] == '^';
  if (*control) spec++;
  size_t len = strlen(spec);
  *k = 0;
  const char *colon = strrchr(spec, ':');
  if (colon && colon[1]) {
    char *end;
    errno = 0;
    long v = strtol(colon + 1, &end, 10);
    if (*end == '\0' && v >= 0 && v < (1 << 20) && errno == 0 && colon[1] >= '0' &&
        colon[1] <= '9') {
      *k = (int)v;
      len = (size_t)(colon - spec);
    }
  }
  *node = find_node(t, spec, len);
  if (*node < 0)
    return krt_error(KRT_ERR_NOT_FOUND, "%s: %s names '%s', which is no node of the graph",
                     t->file, who, spec);
  return NULL;
}

/* ---- the walk ----------------------------------------------------------------------------- */

/* Refuses a node whose op krt does not convert, or that sets an attribute its converter does not
 * understand. */
static krt_status *check_convertible(const tf_import *t, const tf_node *n) {
  const char *attrs = NULL, *why = NULL;
  const Krt__Tf__NodeDef *d = n->def;
  if (!tf_find_converter(d->op, &attrs, &why))
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: node '%s' (op %s): %s", t->file, d->name, d->op,
                     why ? why : "krt does not support this TensorFlow op");
  for (size_t i = 0; i < d->n_attr; i++) {
    const char *key = d->attr[i]->key;
    if (!key || key[0] == '_') continue;
    size_t len = strlen(key);
    int known = 0;
    for (const char *p = attrs; p && *p && !known;) {
      const char *comma = strchr(p, ',');
      size_t l = comma ? (size_t)(comma - p) : strlen(p);
      known = l == len && strncmp(p, key, len) == 0;
      p = comma ? comma + 1 : NULL;
    }
    if (!known)
      return krt_error(KRT_ERR_UNSUPPORTED,
                       "%s: node '%s' (op %s): attribute '%s' is not understood by krt", t->file,
                       d->name, d->op, key);
  }
  return NULL;
}

/* Post-order over the data inputs of the roots: order[] gets every needed node, inputs first. */
static krt_status *order_nodes(tf_import *t, const long *roots, size_t n_roots, size_t **order,
                               size_t *n_order) {
  typedef struct frame {
    size_t node, next_input;
  } frame;
  frame *stack = malloc((t->n_nodes + 1) * sizeof *stack);
  *order = malloc((t->n_nodes + 1) * sizeof **order);
  if (!stack || !*order) {
    free(stack);
    return krt_error_oom("node order");
  }
  *n_order = 0;
  krt_status *s = NULL;
  for (size_t r = 0; r < n_roots && !s; r++) {
    if (t->nodes[roots[r]].state) continue;
    size_t depth = 0;
    stack[depth++] = (frame){(size_t)roots[r], 0};
    t->nodes[roots[r]].state = 1;
    s = check_convertible(t, &t->nodes[roots[r]]);
    while (depth && !s) {
      frame *f = &stack[depth - 1];
      const Krt__Tf__NodeDef *d = t->nodes[f->node].def;
      if (f->next_input == d->n_input) {
        t->nodes[f->node].state = 2;
        (*order)[(*n_order)++] = f->node;
        depth--;
        continue;
      }
      const char *spec = d->input[f->next_input++];
      long in;
      int k, control;
      char who[300];
      snprintf(who, sizeof who, "node '%.200s' input", d->name);
      s = parse_tensor_name(t, who, spec, &in, &k, &control);
      if (s || control) continue;
      tf_node *m = &t->nodes[in];
      if (m->state == 1)
        s = krt_error(KRT_ERR_UNSUPPORTED,
                      "%s: node '%s' (op %s): the graph has a cycle through it (a while loop); "
                      "krt does not support control flow",
                      t->file, m->def->name, m->def->op);
      else if (m->state == 0) {
        m->state = 1;
        s = check_convertible(t, m);
        stack[depth++] = (frame){(size_t)in, 0};
      }
    }
  }
  free(stack);
  return s;
}

static krt_status *convert_node(tf_import *t, tf_node *n) {
  const Krt__Tf__NodeDef *d = n->def;
  const char *attrs, *why;
  tf_convert_fn fn = tf_find_converter(d->op, &attrs, &why);
  tf_tensor **inputs = calloc(d->n_input + 1, sizeof *inputs);
  if (!inputs) return krt_error_oom("node inputs");
  tf_op_call c = {t, n, d->name, d->op, 0, inputs};
  krt_status *s = NULL;
  for (size_t i = 0; i < d->n_input && !s; i++) {
    long in;
    int k, control;
    s = parse_tensor_name(t, "input", d->input[i], &in, &k, &control);
    if (s || control) continue;
    tf_node *m = &t->nodes[in];
    if (k >= m->n_outputs)
      s = krt_error(KRT_ERR_UNSUPPORTED,
                    "%s: node '%s' (op %s) reads output %d of node '%s' (op %s), which krt gives "
                    "%d output%s",
                    t->file, d->name, d->op, k, m->def->name, m->def->op, m->n_outputs,
                    m->n_outputs == 1 ? "" : "s");
    else
      inputs[c.n_inputs++] = &m->outputs[k];
  }
  /* The halves of a dilated convolution (tf_internal.h) are read by its next op only. */
  for (int i = 0; !s && i < c.n_inputs; i++) {
    int tag = inputs[i]->s2b;
    int ok = !tag || (i == 0 && tag == TF_S2B_INPUT &&
                      (strcmp(d->op, "Conv2D") == 0 || strcmp(d->op, "DepthwiseConv2dNative") == 0));
    ok |= i == 0 && tag == TF_S2B_CONV && strcmp(d->op, "BatchToSpaceND") == 0;
    if (!ok)
      s = krt_error(KRT_ERR_UNSUPPORTED,
                    "%s: node '%s' (op %s) reads the output of %s; krt converts SpaceToBatchND "
                    "only into a Conv2D or DepthwiseConv2dNative followed by BatchToSpaceND (a "
                    "dilated convolution)",
                    t->file, d->name, d->op, tag == TF_S2B_INPUT ? "SpaceToBatchND" : "a convolution after SpaceToBatchND");
  }
  if (!s) s = fn(&c);
  /* Params: the float constants the node reads (its weights), as `krt inspect` shows them. */
  int64_t params = 0;
  for (int i = 0; !s && i < c.n_inputs; i++)
    if (inputs[i]->is_static && !inputs[i]->is_int && strcmp(d->op, "Identity") != 0)
      params += tf_elements(inputs[i]->rank, inputs[i]->dims);
  free(inputs);
  if (s) return s;
  /* A layer per computed output, so that `--output NODE` (or NODE:k) can cut there. */
  for (int k = 0; k < n->n_outputs; k++) {
    if (n->outputs[k].value < 0 || n->outputs[k].s2b) continue; /* s2b: no such tensor */
    char name[1024];
    if (k == 0)
      snprintf(name, sizeof name, "%s", d->name);
    else
      snprintf(name, sizeof name, "%s:%d", d->name, k);
    if (ir_find_layer(t->g, name) >= 0) continue;
    int layer;
    KRT_TRY(ir_add_layer(t->g, name, d->op, &layer));
    t->g->layers[layer].output = n->outputs[k].value;
    if (k == 0) t->g->layers[layer].param_count = params;
  }
  return NULL;
}

static int is_default_output(const tf_node *n) {
  static const char *const never[] = {"NoOp", "Const", "Placeholder", "Assert", "SaveV2",
                                      "RestoreV2", "VarHandleOp", "VariableV2"};
  if (n->consumers) return 0;
  for (size_t i = 0; i < sizeof never / sizeof *never; i++)
    if (strcmp(n->def->op, never[i]) == 0) return 0;
  return 1;
}

static void free_import(tf_import *t) {
  for (size_t i = 0; t->nodes && i < t->n_nodes; i++) {
    for (int k = 0; k < t->nodes[i].n_outputs; k++) {
      free(t->nodes[i].outputs[k].ints);
      free(t->nodes[i].outputs[k].floats);
    }
    free(t->nodes[i].outputs);
  }
  free(t->nodes);
  free(t->by_name);
}

/* Makes output k of node i a graph output named "node" or "node:k" (and a layer of that name). */
static krt_status *publish_output(tf_import *t, long i, int k) {
  tf_node *n = &t->nodes[i];
  if (k >= n->n_outputs)
    return krt_error(KRT_ERR_NOT_FOUND, "%s: node '%s' (op %s) has %d output%s, not %d", t->file,
                     n->def->name, n->def->op, n->n_outputs, n->n_outputs == 1 ? "" : "s", k + 1);
  char name[1024];
  if (k == 0)
    snprintf(name, sizeof name, "%s", n->def->name);
  else
    snprintf(name, sizeof name, "%s:%d", n->def->name, k);
  tf_op_call c = {t, n, n->def->name, n->def->op, 0, NULL};
  if (n->outputs[k].s2b)
    return tf_node_error(&c, KRT_ERR_UNSUPPORTED,
                         "is an output, but krt converts SpaceToBatchND only as part of a dilated "
                         "convolution (SpaceToBatchND, Conv2D, BatchToSpaceND) and makes no tensor "
                         "in between");
  int value;
  KRT_TRY(tf_value(&c, &n->outputs[k], &value));
  int layer = ir_find_layer(t->g, name);
  if (layer < 0) {
    KRT_TRY(ir_add_layer(t->g, name, n->def->op, &layer));
    t->g->layers[layer].output = value;
  }
  return ir_add_output(t->g, value, name);
}

krt_status *import_tf_graphdef(const char *path, const import_options *options, ir_graph **out) {
  if (!path || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "import_tf_graphdef: NULL argument");
  *out = NULL;
  uint8_t *bytes = NULL;
  size_t size = 0;
  KRT_TRY(import_read_file(path, TF_MAX_FILE_BYTES, "more than a protocol buffer can hold", &bytes,
                           &size));
  Krt__Tf__GraphDef *graph = krt__tf__graph_def__unpack(NULL, size, bytes);
  free(bytes);
  if (!graph)
    return krt_error(KRT_ERR_BAD_FILE, "%s: not a TensorFlow GraphDef (the protocol buffer does not "
                                       "decode)", path);
  krt_status *s = tf_import_graph(path, graph, options, out);
  krt__tf__graph_def__free_unpacked(graph, NULL);
  return s;
}

static krt_status *convert_graph(const char *path, Krt__Tf__GraphDef *graph,
                                 const import_options *options, int fixed_first_dims,
                                 int *first_dim_given, ir_graph **out) {
  *out = NULL;
  tf_import t = {0};
  t.file = path;
  t.options = options;
  t.graph = graph;
  t.fixed_first_dims = fixed_first_dims;
  krt_status *s = NULL;
  t.n_nodes = t.graph->n_node;
  t.nodes = calloc(t.n_nodes + 1, sizeof *t.nodes);
  t.g = ir_graph_create();
  if (!t.nodes || !t.g) s = krt_error_oom("graph");
  for (size_t i = 0; !s && i < t.n_nodes; i++) {
    t.nodes[i].def = t.graph->node[i];
    if (!t.nodes[i].def->op || !t.nodes[i].def->op[0])
      s = krt_error(KRT_ERR_BAD_FILE, "%s: node %zu has no op", path, i);
  }
  if (!s && t.n_nodes == 0) s = krt_error(KRT_ERR_BAD_FILE, "%s: the graph has no nodes", path);
  if (!s) s = index_names(&t);
  if (!s) t.g->source = strdup(path);
  if (!s && !t.g->source) s = krt_error_oom("graph");
  /* Who reads whom: the default outputs are the nodes nobody reads. */
  for (size_t i = 0; !s && i < t.n_nodes; i++)
    for (size_t j = 0; !s && j < t.nodes[i].def->n_input; j++) {
      long in;
      int k, control;
      char who[300];
      snprintf(who, sizeof who, "node '%.200s' input", t.nodes[i].def->name);
      s = parse_tensor_name(&t, who, t.nodes[i].def->input[j], &in, &k, &control);
      if (!s) t.nodes[in].consumers++;
    }
  /* The roots: the outputs asked for, or the default ones. */
  long *roots = calloc(t.n_nodes + (options ? (size_t)options->n_outputs : 0) + 1, sizeof *roots);
  int *root_k = calloc(t.n_nodes + (options ? (size_t)options->n_outputs : 0) + 1, sizeof *root_k);
  size_t n_roots = 0;
  if (!s && (!roots || !root_k)) s = krt_error_oom("outputs");
  if (!s && options && options->n_outputs > 0) {
    for (int i = 0; i < options->n_outputs && !s; i++) {
      int control;
      s = parse_tensor_name(&t, "an output asked for", options->outputs[i], &roots[n_roots],
                            &root_k[n_roots], &control);
      n_roots++;
    }
  } else if (!s) {
    for (size_t i = 0; i < t.n_nodes; i++)
      if (is_default_output(&t.nodes[i])) roots[n_roots++] = (long)i;
    if (n_roots == 0)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: the graph has no node that could be an output", path);
  }
  size_t *order = NULL, n_order = 0;
  if (!s) s = order_nodes(&t, roots, n_roots, &order, &n_order);
  for (size_t i = 0; !s && i < n_order; i++) s = convert_node(&t, &t.nodes[order[i]]);
  /* Default outputs publish every output of their node ("outputA", "outputA:1", ...). */
  for (size_t r = 0; !s && r < n_roots; r++) {
    if (options && options->n_outputs > 0) {
      s = publish_output(&t, roots[r], root_k[r]);
    } else {
      int n = t.nodes[roots[r]].n_outputs;
      if (n == 0)
        s = krt_error(KRT_ERR_BAD_FILE, "%s: node '%s' (op %s) would be an output but has none",
                      path, t.nodes[roots[r]].def->name, t.nodes[roots[r]].def->op);
      for (int k = 0; k < n && !s; k++) s = publish_output(&t, roots[r], k);
    }
  }
  free(order);
  free(roots);
  free(root_k);
  if (!s && t.g->n_inputs == 0 && t.g->n_nodes == 0)
    s = krt_error(KRT_ERR_UNSUPPORTED, "%s: the outputs are constants: there is nothing to run",
                  path);
  *first_dim_given = t.first_dim_given;
  if (s && !t.first_dim_given && t.batched_inputs &&
      (krt_status_code(s) == KRT_ERR_UNSUPPORTED || krt_status_code(s) == KRT_ERR_SHAPE) &&
      strstr(krt_status_message(s), "batch")) {
    krt_status *hint = krt_error(krt_status_code(s), "%s; to build for exactly one shape, with "
                                 "axis 0 as any other, give every input's shape, first size "
                                 "included (--input NAME:D1xD2x...)", krt_status_message(s));
    krt_status_release(s);
    s = hint;
  }
  if (s) {
    ir_graph_free(t.g);
    free_import(&t);
    return s;
  }
  *out = t.g;
  free_import(&t);
  return NULL;
}

/* First with each placeholder's leading -1 as the batch (the engine runs any batch up to its
 * maximum). When that cannot be built because an op moves, reshapes or reduces axis 0 (Transpose,
 * Pack, Sum over the batch) and the caller gave that input's shape with a first size, again with
 * that size fixed: an engine for exactly the shapes given. */
krt_status *tf_import_graph(const char *path, Krt__Tf__GraphDef *graph,
                            const import_options *options, ir_graph **out) {
  int first_dim_given = 0;
  krt_status *s = convert_graph(path, graph, options, 0, &first_dim_given, out);
  krt_code code = s ? krt_status_code(s) : KRT_OK;
  if (!s || !first_dim_given || (code != KRT_ERR_UNSUPPORTED && code != KRT_ERR_SHAPE)) return s;
  krt_status *fixed = convert_graph(path, graph, options, 1, &first_dim_given, out);
  if (!fixed) {
    krt_status_release(s);
    return NULL;
  }
  /* With the sizes fixed, what stops the build now is the more useful reason. */
  krt_status_release(s);
  return krt_error_wrap(fixed, "(with the first sizes given fixed) ");
}
