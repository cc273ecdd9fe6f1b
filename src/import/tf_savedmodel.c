/* TensorFlow 2 SavedModel directories (saved_model.pb and variables/), as Keras 3's
 * model.export(), tf_keras's model.save() and tf.saved_model.save write them.
 *
 * The serving signature ("serving_default", the one import_options.signature names, or the only
 * one there is) names its inputs
 * (Placeholders of the MetaGraphDef's graph, "serving_default_x:0") and outputs (by key, each a
 * tensor "StatefulPartitionedCall:0"). The computation behind an output is a chain of
 * StatefulPartitionedCall / PartitionedCall nodes into the graph's FunctionDefLibrary; the
 * variables reach it as resource arguments: the top-level call passes VarHandleOp nodes, the
 * object graph lists the object id of each (the concrete function's bound_inputs), the
 * checkpoint's object graph gives that object's checkpoint key, and the tensor bundle its value.
 *
 * This file turns that into one frozen GraphDef and hands it to the GraphDef importer
 * (tf_import_graph), so every op the .pb importer converts works here too:
 *   - calls are inlined: a function's node "n" called from node "c" becomes "c/n" (nested calls
 *     "c/d/n"); its arguments are the call's inputs, the call's output k is the tensor the
 *     function's ret gives for its output argument k;
 *   - function-body inputs "node:output_arg:index" become "node:k", k the position of that
 *     output of the op (ops with several output arguments are listed below);
 *   - ReadVariableOp of a variable becomes one Const per variable holding the bundle's tensor;
 *   - Identity, StopGradient and Snapshot are looked through, control inputs ("^n") dropped;
 *   - only what the outputs need is visited (the save and restore functions never are).
 * Anything else in the way (control flow, a variable created in a function, a resource read
 * otherwise than by ReadVariableOp, a variable the bundle lacks) is refused naming the node and
 * its function. The graph outputs are named by the signature's keys. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/tf_bundle.h"
#include "import/tf_internal.h"
#include "savedmodel.pb-c.h"

/* saved_model.pb over this is refused (protobuf's own limit is 2 GiB). */
#define SM_MAX_FILE_BYTES ((long)2 << 30)
/* Calls nested deeper than this, or a walk deeper than SM_MAX_RECURSION nodes, are refused. The
 * walk is recursive (about 520 bytes of stack per node on x86-64), so it runs on a thread of its
 * own with SM_WALK_STACK bytes of stack (reserved, touched only as deep as the graph goes); where
 * no thread can be started it runs on the caller's, to SM_MAX_RECURSION_HERE nodes deep. */
#define SM_MAX_CALL_DEPTH 64
#define SM_MAX_RECURSION 100000
#define SM_MAX_RECURSION_HERE 3000
#define SM_WALK_STACK ((size_t)128 << 20)
/* Every inlined call indexes its function's nodes anew; a library whose calls multiply (each
 * function calling the next twice) would grow without end, so the nodes of all inlined calls
 * together are bounded (about 90 bytes each). */
#define SM_MAX_SCOPE_NODES ((size_t)1 << 20)

/* ---- resolved tensors and scopes ------------------------------------------------------------ */

typedef enum { REF_TENSOR, REF_VARIABLE } ref_kind;

/* A tensor of the flat graph ("node:k"), or a variable (a top-level VarHandleOp). */
typedef struct sm_ref {
  ref_kind kind;
  const char *node; /* REF_TENSOR: the flat node's name */
  int k;
  size_t var; /* REF_VARIABLE: index of the VarHandleOp in the top-level graph */
} sm_ref;

typedef struct sm_scope sm_scope;

typedef struct sm_node {
  int state;        /* 0 not visited, 1 being resolved (a cycle if reached again), 2 done */
  int is_alias;     /* Identity-like, ReadVariableOp, VarHandleOp: output 0 is alias */
  sm_ref alias;
  sm_scope *callee; /* a call: the inlined function */
  sm_ref *call_out; /* its outputs, resolved on demand */
  unsigned char *call_out_state;
  const char *flat_name; /* a node copied into the flat graph */
  const char *arg_seen;  /* the output argument name first read (ops with one output argument) */
} sm_node;

typedef struct name_slot {
  const char *name;
  size_t index;
} name_slot;

struct sm_scope {
  const Krt__Tf__FunctionDef *fn; /* NULL: the MetaGraphDef's graph */
  const char *fn_name;            /* for messages */
  char *prefix;                   /* flat names are prefix + node name */
  Krt__Tf__NodeDef **nodes;
  size_t n_nodes;
  name_slot *by_name;
  sm_ref *args; /* a function's arguments, bound by the call */
  size_t n_args;
  sm_node *st;
  int depth;
};

typedef struct sm_import {
  const char *dir;
  Krt__Tf__MetaGraphDef *mg;
  Krt__Tf__FunctionDef **fns; /* the library, decoded */
  size_t n_fns;
  name_slot *fn_by_name;
  sm_scope *top;
  const Krt__Tf__TensorInfo **input_info; /* per top-level node: its signature input, or NULL */
  long *var_object;                       /* per top-level node: the variable's object id */
  const char **var_const;                 /* per top-level node: the variable's Const node */
  tf_bundle *bundle;
  Krt__Tf__TrackableObjectGraph *objects;
  Krt__Tf__NodeDef **flat; /* the graph handed to tf_import_graph */
  size_t n_flat, cap_flat;
  void **owned; /* every allocation the flat graph uses, freed at the end */
  size_t n_owned, cap_owned;
  sm_scope **scopes;
  size_t n_scopes, cap_scopes;
  int recursion, max_recursion;
  size_t scope_nodes; /* nodes of all scopes so far (SM_MAX_SCOPE_NODES) */
} sm_import;

static krt_status *grow(void **array, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return NULL;
  size_t c = *cap ? *cap * 2 : 64;
  void *p = realloc(*array, c * size);
  if (!p) return krt_error_oom("SavedModel import");
  *array = p;
  *cap = c;
  return NULL;
}

/* calloc'd memory freed with the import. */
static void *take(sm_import *m, size_t size) {
  if (grow((void **)&m->owned, &m->cap_owned, m->n_owned, sizeof *m->owned)) return NULL;
  void *p = calloc(1, size ? size : 1);
  if (p) m->owned[m->n_owned++] = p;
  return p;
}

static char *take_string(sm_import *m, const char *a, const char *b) {
  size_t la = strlen(a), lb = b ? strlen(b) : 0;
  char *s = take(m, la + lb + 1);
  if (!s) return NULL;
  memcpy(s, a, la);
  if (b) memcpy(s + la, b, lb);
  s[la + lb] = '\0';
  return s;
}

static int compare_slots(const void *a, const void *b) {
  return strcmp(((const name_slot *)a)->name, ((const name_slot *)b)->name);
}

static long find_slot(const name_slot *slots, size_t n, const char *name, size_t len) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strncmp(slots[mid].name, name, len);
    if (c == 0 && slots[mid].name[len] != '\0') c = 1;
    if (c == 0) return (long)slots[mid].index;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* An error about node d of scope sc: "DIR: function 'f' node 'n' (op X): ...". Not inlined: its
 * buffer stays off the frames of the recursive walk. */
static __attribute__((noinline)) krt_status *node_error_v(const sm_import *m, const sm_scope *sc,
                                                          const Krt__Tf__NodeDef *d, krt_code code,
                                                          const char *what, const char *name) {
  char text[1024];
  snprintf(text, sizeof text, what, name ? name : "");
  if (sc->fn)
    return krt_error(code, "%s: function '%s', node '%s' (op %s): %s", m->dir, sc->fn_name,
                     d->name, d->op, text);
  return krt_error(code, "%s: node '%s' (op %s): %s", m->dir, d->name, d->op, text);
}

static krt_status *node_error(const sm_import *m, const sm_scope *sc, const Krt__Tf__NodeDef *d,
                              krt_code code, const char *what) {
  return node_error_v(m, sc, d, code, "%s", what);
}

static krt_status *new_scope(sm_import *m, const Krt__Tf__FunctionDef *fn, const char *fn_name,
                             char *prefix, Krt__Tf__NodeDef **nodes, size_t n_nodes, int depth,
                             sm_scope **out) {
  if (n_nodes > SM_MAX_SCOPE_NODES - m->scope_nodes)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: inlining function '%s' would make more than %zu "
                     "nodes; krt does not import a graph this large", m->dir,
                     fn_name ? fn_name : "(the graph)", SM_MAX_SCOPE_NODES);
  m->scope_nodes += n_nodes;
  KRT_TRY(grow((void **)&m->scopes, &m->cap_scopes, m->n_scopes, sizeof *m->scopes));
  sm_scope *sc = calloc(1, sizeof *sc);
  if (!sc) return krt_error_oom("SavedModel import");
  m->scopes[m->n_scopes++] = sc;
  sc->fn = fn;
  sc->fn_name = fn_name;
  sc->prefix = prefix;
  sc->nodes = nodes;
  sc->n_nodes = n_nodes;
  sc->depth = depth;
  sc->by_name = calloc(n_nodes + 1, sizeof *sc->by_name);
  sc->st = calloc(n_nodes + 1, sizeof *sc->st);
  if (!sc->by_name || !sc->st) return krt_error_oom("SavedModel import");
  for (size_t i = 0; i < n_nodes; i++) {
    if (!nodes[i]->name || !nodes[i]->name[0] || !nodes[i]->op || !nodes[i]->op[0])
      return krt_error(KRT_ERR_BAD_FILE, "%s: %s%s%s: node %zu has no name or no op", m->dir,
                       fn ? "function '" : "the graph", fn ? fn_name : "", fn ? "'" : "", i);
    sc->by_name[i] = (name_slot){nodes[i]->name, i};
  }
  qsort(sc->by_name, n_nodes, sizeof *sc->by_name, compare_slots);
  for (size_t i = 1; i < n_nodes; i++)
    if (strcmp(sc->by_name[i].name, sc->by_name[i - 1].name) == 0)
      return krt_error(KRT_ERR_BAD_FILE, "%s: %s%s%s: two nodes are named '%s'", m->dir,
                       fn ? "function '" : "the graph", fn ? fn_name : "", fn ? "'" : "",
                       sc->by_name[i].name);
  *out = sc;
  return NULL;
}

static void free_scope(sm_scope *sc) {
  for (size_t i = 0; i < sc->n_nodes; i++) {
    free(sc->st[i].call_out);
    free(sc->st[i].call_out_state);
  }
  free(sc->st);
  free(sc->by_name);
  free(sc->args);
  free(sc);
}

/* ---- output arguments ----------------------------------------------------------------------- */

/* Ops krt converts that have several output arguments, in their OpDef's order; every other op
 * has one (a single tensor or a list), so "node:arg:i" is its output i. */
static const struct {
  const char *op;
  const char *args[6];
} multi_output_ops[] = {
    {"FusedBatchNorm", {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"}},
    {"FusedBatchNormV2", {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"}},
    {"FusedBatchNormV3",
     {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"}},
};

static krt_status *output_index(const sm_import *m, const sm_scope *sc, size_t node,
                                const char *arg, size_t arg_len, long index, int *k) {
  const Krt__Tf__NodeDef *d = sc->nodes[node];
  for (size_t i = 0; i < sizeof multi_output_ops / sizeof *multi_output_ops; i++) {
    if (strcmp(d->op, multi_output_ops[i].op) != 0) continue;
    for (int a = 0; a < 6 && multi_output_ops[i].args[a]; a++)
      if (strlen(multi_output_ops[i].args[a]) == arg_len &&
          strncmp(multi_output_ops[i].args[a], arg, arg_len) == 0 && index == 0) {
        *k = a;
        return NULL;
      }
    return node_error(m, sc, d, KRT_ERR_BAD_FILE, "an input reads an output argument this op "
                                                  "does not have");
  }
  /* One output argument: every reader must name the same one. */
  sm_node *st = &sc->st[node];
  if (!st->arg_seen) {
    char *copy = malloc(arg_len + 1);
    if (!copy) return krt_error_oom("SavedModel import");
    if (arg_len) memcpy(copy, arg, arg_len);
    copy[arg_len] = '\0';
    st->arg_seen = copy;
  } else if (strlen(st->arg_seen) != arg_len || strncmp(st->arg_seen, arg, arg_len) != 0) {
    return node_error(m, sc, d, KRT_ERR_UNSUPPORTED,
                      "its outputs are read under two output argument names; krt knows the "
                      "output arguments of this op only when it has one");
  }
  *k = (int)index;
  return NULL;
}

/* ---- variables ------------------------------------------------------------------------------ */

/* The checkpoint key of the variable with object id `object`. */
static krt_status *checkpoint_key(sm_import *m, const char *var, long object, const char **key) {
  if (!m->bundle) {
    char *prefix = take_string(m, m->dir, "/variables/variables");
    if (!prefix) return krt_error_oom("SavedModel import");
    KRT_TRY(tf_bundle_open(prefix, &m->bundle));
  }
  if (!m->objects) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    krt_status *s = tf_bundle_read_string(m->bundle, "_CHECKPOINTABLE_OBJECT_GRAPH", &bytes, &size);
    if (s)
      return krt_error_wrap(s, "%s: the variables have no object graph (a TF1 checkpoint?): ",
                            m->dir);
    m->objects = krt__tf__trackable_object_graph__unpack(NULL, size, bytes);
    free(bytes);
    if (!m->objects)
      return krt_error(KRT_ERR_BAD_FILE, "%s: the checkpoint's object graph does not decode",
                       m->dir);
  }
  if (object < 0 || (size_t)object >= m->objects->n_nodes)
    return krt_error(KRT_ERR_BAD_FILE, "%s: variable '%s' is object %ld, which the checkpoint's "
                     "object graph (%zu objects) does not have", m->dir, var, object,
                     m->objects->n_nodes);
  const Krt__Tf__TrackableObjectGraph__TrackableObject *o = m->objects->nodes[object];
  for (size_t i = 0; i < o->n_attributes; i++)
    if (o->attributes[i]->name && strcmp(o->attributes[i]->name, "VARIABLE_VALUE") == 0 &&
        o->attributes[i]->checkpoint_key && o->attributes[i]->checkpoint_key[0]) {
      *key = o->attributes[i]->checkpoint_key;
      return NULL;
    }
  return krt_error(KRT_ERR_BAD_FILE, "%s: variable '%s' (object %ld) has no value in the "
                   "checkpoint", m->dir, var, object);
}

/* The Const node holding top-level variable `var`'s value (made on first use). */
static krt_status *variable_const(sm_import *m, const sm_scope *reader_scope,
                                  const Krt__Tf__NodeDef *reader, size_t var, sm_ref *out) {
  const Krt__Tf__NodeDef *v = m->top->nodes[var];
  if (!m->var_const[var]) {
    if (m->var_object[var] < 0)
      return node_error(m, reader_scope, reader, KRT_ERR_UNSUPPORTED,
                        "reads a variable that is no captured input of a function the object "
                        "graph lists; krt cannot find its value");
    const char *key = NULL;
    KRT_TRY(checkpoint_key(m, v->name, m->var_object[var], &key));
    tf_bundle_tensor t;
    krt_status *s = tf_bundle_read(m->bundle, key, &t);
    if (s) return krt_error_wrap(s, "%s: variable '%s': ", m->dir, v->name);
    /* A Const node: attr dtype and value (a TensorProto with tensor_content). */
    Krt__Tf__NodeDef *c = take(m, sizeof *c);
    Krt__Tf__TensorProto *tp = take(m, sizeof *tp);
    Krt__Tf__TensorShapeProto *shape = take(m, sizeof *shape);
    Krt__Tf__TensorShapeProto__Dim **dims = take(m, (size_t)(t.rank + 1) * sizeof *dims);
    Krt__Tf__NodeDef__AttrEntry **attrs = take(m, 2 * sizeof *attrs);
    Krt__Tf__NodeDef__AttrEntry *a_dtype = take(m, sizeof *a_dtype), *a_value = take(m, sizeof *a_value);
    Krt__Tf__AttrValue *v_dtype = take(m, sizeof *v_dtype), *v_value = take(m, sizeof *v_value);
    int ok = c && tp && shape && dims && attrs && a_dtype && a_value && v_dtype && v_value &&
             !grow((void **)&m->owned, &m->cap_owned, m->n_owned, sizeof *m->owned);
    for (int i = 0; ok && i < t.rank; i++) {
      dims[i] = take(m, sizeof **dims);
      ok = dims[i] != NULL;
      if (ok) {
        krt__tf__tensor_shape_proto__dim__init(dims[i]);
        dims[i]->size = t.dims[i];
      }
    }
    if (!ok) {
      free(t.data);
      return krt_error_oom("SavedModel import");
    }
    m->owned[m->n_owned++] = t.data;
    krt__tf__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)t.rank;
    shape->dim = dims;
    krt__tf__tensor_proto__init(tp);
    tp->dtype = t.dtype;
    tp->tensor_shape = shape;
    tp->tensor_content.data = t.data;
    tp->tensor_content.len = t.size;
    krt__tf__attr_value__init(v_dtype);
    v_dtype->value_case = KRT__TF__ATTR_VALUE__VALUE_TYPE;
    v_dtype->type = t.dtype;
    krt__tf__attr_value__init(v_value);
    v_value->value_case = KRT__TF__ATTR_VALUE__VALUE_TENSOR;
    v_value->tensor = tp;
    krt__tf__node_def__attr_entry__init(a_dtype);
    a_dtype->key = "dtype";
    a_dtype->value = v_dtype;
    krt__tf__node_def__attr_entry__init(a_value);
    a_value->key = "value";
    a_value->value = v_value;
    attrs[0] = a_dtype;
    attrs[1] = a_value;
    krt__tf__node_def__init(c);
    c->name = v->name;
    c->op = "Const";
    c->n_attr = 2;
    c->attr = attrs;
    KRT_TRY(grow((void **)&m->flat, &m->cap_flat, m->n_flat, sizeof *m->flat));
    m->flat[m->n_flat++] = c;
    m->var_const[var] = v->name;
  }
  *out = (sm_ref){REF_TENSOR, m->var_const[var], 0, 0};
  return NULL;
}

/* ---- the walk ------------------------------------------------------------------------------- */

static krt_status *resolve_input(sm_import *m, sm_scope *sc, const Krt__Tf__NodeDef *reader,
                                 const char *spec, sm_ref *out);

static const Krt__Tf__AttrValue *node_attr(const Krt__Tf__NodeDef *d, const char *key) {
  for (size_t i = 0; i < d->n_attr; i++)
    if (d->attr[i]->key && strcmp(d->attr[i]->key, key) == 0) return d->attr[i]->value;
  return NULL;
}

static int is_call(const sm_import *m, const Krt__Tf__NodeDef *d, const char **fn_name) {
  if (strcmp(d->op, "StatefulPartitionedCall") == 0 || strcmp(d->op, "PartitionedCall") == 0) {
    const Krt__Tf__AttrValue *f = node_attr(d, "f");
    *fn_name = f && f->value_case == KRT__TF__ATTR_VALUE__VALUE_FUNC && f->func->name ? f->func->name
                                                                                       : "";
    return 1;
  }
  /* A node whose op is a library function is a call too. */
  if (find_slot(m->fn_by_name, m->n_fns, d->op, strlen(d->op)) >= 0) {
    *fn_name = d->op;
    return 1;
  }
  return 0;
}

static int is_control_flow(const char *op) {
  static const char *const ops[] = {"If", "StatelessIf", "While", "StatelessWhile", "Case",
                                    "StatelessCase", "For", "Switch", "Merge", "Enter", "Exit",
                                    "NextIteration", "LoopCond"};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (strcmp(op, ops[i]) == 0) return 1;
  return 0;
}

/* Inlines the function a call node calls: binds its arguments; outputs are resolved on demand. */
static krt_status *inline_call(sm_import *m, sm_scope *sc, size_t i, const char *fn_name) {
  const Krt__Tf__NodeDef *d = sc->nodes[i];
  long f = find_slot(m->fn_by_name, m->n_fns, fn_name, strlen(fn_name));
  if (f < 0)
    return node_error_v(m, sc, d, KRT_ERR_BAD_FILE,
                        "calls function '%.400s', which the library does not have", fn_name);
  if (sc->depth >= SM_MAX_CALL_DEPTH)
    return node_error(m, sc, d, KRT_ERR_UNSUPPORTED, "calls nested too deeply");
  const Krt__Tf__FunctionDef *fn = m->fns[f];
  const Krt__Tf__OpDef *sig = fn->signature;
  char *prefix = take(m, strlen(sc->prefix) + strlen(d->name) + 2);
  if (!prefix) return krt_error_oom("SavedModel import");
  sprintf(prefix, "%s%s/", sc->prefix, d->name);
  sm_scope *callee = NULL;
  KRT_TRY(new_scope(m, fn, sig->name, prefix, fn->node_def, fn->n_node_def, sc->depth + 1, &callee));
  for (size_t a = 0; a < sig->n_input_arg + sig->n_output_arg; a++) {
    const Krt__Tf__OpDef__ArgDef *arg =
        a < sig->n_input_arg ? sig->input_arg[a] : sig->output_arg[a - sig->n_input_arg];
    if ((arg->number_attr && arg->number_attr[0]) || (arg->type_list_attr && arg->type_list_attr[0]))
      return krt_error(KRT_ERR_UNSUPPORTED, "%s: function '%s': argument '%s' is a list of "
                       "tensors; krt inlines functions of single tensors only", m->dir,
                       sig->name, arg->name ? arg->name : "");
    if (!arg->name || !arg->name[0])
      return krt_error(KRT_ERR_BAD_FILE, "%s: function '%s' has an argument without a name",
                       m->dir, sig->name);
  }
  callee->args = calloc(sig->n_input_arg + 1, sizeof *callee->args);
  if (!callee->args) return krt_error_oom("SavedModel import");
  for (size_t j = 0; j < d->n_input; j++) {
    if (d->input[j][0] == '^') continue;
    if (callee->n_args == sig->n_input_arg)
      return node_error(m, sc, d, KRT_ERR_BAD_FILE, "passes more inputs than its function has "
                                                    "arguments");
    KRT_TRY(resolve_input(m, sc, d, d->input[j], &callee->args[callee->n_args]));
    callee->n_args++;
  }
  if (callee->n_args != sig->n_input_arg)
    return node_error(m, sc, d, KRT_ERR_BAD_FILE, "passes fewer inputs than its function has "
                                                  "arguments");
  /* Variables passed from the top level: the concrete function's bound inputs are the object ids
   * of its trailing (captured) arguments. */
  const Krt__Tf__SavedObjectGraph *og = m->mg->object_graph_def;
  for (size_t e = 0; !sc->fn && og && e < og->n_concrete_functions; e++) {
    const Krt__Tf__SavedObjectGraph__FunctionEntry *cf = og->concrete_functions[e];
    if (!cf->key || strcmp(cf->key, sig->name) != 0 || !cf->value) continue;
    size_t bound = cf->value->n_bound_inputs;
    if (bound > callee->n_args)
      return node_error(m, sc, d, KRT_ERR_BAD_FILE, "its function has more bound inputs than "
                                                    "arguments");
    for (size_t b = 0; b < bound; b++) {
      const sm_ref *r = &callee->args[callee->n_args - bound + b];
      if (r->kind != REF_VARIABLE) continue;
      long id = cf->value->bound_inputs[b];
      if (m->var_object[r->var] >= 0 && m->var_object[r->var] != id)
        return node_error(m, sc, d, KRT_ERR_BAD_FILE, "the object graph gives one of its "
                                                      "variables two object ids");
      m->var_object[r->var] = id;
    }
  }
  sc->st[i].callee = callee;
  sc->st[i].call_out = calloc(sig->n_output_arg + 1, sizeof *sc->st[i].call_out);
  sc->st[i].call_out_state = calloc(sig->n_output_arg + 1, 1);
  if (!sc->st[i].call_out || !sc->st[i].call_out_state) return krt_error_oom("SavedModel import");
  return NULL;
}

/* Copies node i of sc into the flat graph, its data inputs resolved, control inputs dropped. */
static krt_status *copy_node(sm_import *m, sm_scope *sc, size_t i) {
  const Krt__Tf__NodeDef *d = sc->nodes[i];
  Krt__Tf__NodeDef *c = take(m, sizeof *c);
  char **inputs = take(m, (d->n_input + 1) * sizeof *inputs);
  Krt__Tf__NodeDef__AttrEntry **attrs = take(m, (d->n_attr + 1) * sizeof *attrs);
  char *name = take_string(m, sc->prefix, d->name);
  if (!c || !inputs || !attrs || !name) return krt_error_oom("SavedModel import");
  krt__tf__node_def__init(c);
  c->name = name;
  c->op = d->op;
  sc->st[i].flat_name = name;
  if (d->n_attr) memcpy(attrs, d->attr, d->n_attr * sizeof *attrs);
  c->attr = attrs;
  c->n_attr = d->n_attr;
  /* A signature input: its shape as the signature gives it. */
  const Krt__Tf__TensorInfo *info = sc->fn ? NULL : m->input_info[i];
  if (info && info->tensor_shape && !info->tensor_shape->unknown_rank) {
    Krt__Tf__NodeDef__AttrEntry *e = take(m, sizeof *e);
    Krt__Tf__AttrValue *v = take(m, sizeof *v);
    if (!e || !v) return krt_error_oom("SavedModel import");
    krt__tf__attr_value__init(v);
    v->value_case = KRT__TF__ATTR_VALUE__VALUE_SHAPE;
    v->shape = info->tensor_shape;
    krt__tf__node_def__attr_entry__init(e);
    e->key = "shape";
    e->value = v;
    size_t a = 0;
    while (a < c->n_attr && strcmp(c->attr[a]->key ? c->attr[a]->key : "", "shape") != 0) a++;
    c->attr[a] = e;
    if (a == c->n_attr) c->n_attr++;
  }
  for (size_t j = 0; j < d->n_input; j++) {
    if (d->input[j][0] == '^') continue;
    sm_ref r;
    KRT_TRY(resolve_input(m, sc, d, d->input[j], &r));
    if (r.kind == REF_VARIABLE)
      return node_error(m, sc, d, KRT_ERR_UNSUPPORTED,
                        "reads a variable's resource handle; krt reads variables only through "
                        "ReadVariableOp");
    char *spec = take(m, strlen(r.node) + 16);
    if (!spec) return krt_error_oom("SavedModel import");
    if (r.k == 0)
      strcpy(spec, r.node);
    else
      sprintf(spec, "%s:%d", r.node, r.k);
    inputs[c->n_input++] = spec;
  }
  c->input = inputs;
  KRT_TRY(grow((void **)&m->flat, &m->cap_flat, m->n_flat, sizeof *m->flat));
  m->flat[m->n_flat++] = c;
  return NULL;
}

/* First visit of node i of sc: a call is inlined, plumbing looked through, variables and their
 * reads resolved, any other node copied. */
static krt_status *visit_node(sm_import *m, sm_scope *sc, size_t i) {
  sm_node *st = &sc->st[i];
  const Krt__Tf__NodeDef *d = sc->nodes[i];
  const char *fn_name;
  if (is_control_flow(d->op))
    return node_error(m, sc, d, KRT_ERR_UNSUPPORTED, "krt does not support control flow");
  if (is_call(m, d, &fn_name)) return inline_call(m, sc, i, fn_name);
  int first_data = -1;
  for (size_t j = 0; j < d->n_input && first_data < 0; j++)
    if (d->input[j][0] != '^') first_data = (int)j;
  if (strcmp(d->op, "Identity") == 0 || strcmp(d->op, "StopGradient") == 0 ||
      strcmp(d->op, "Snapshot") == 0) {
    if (first_data < 0) return node_error(m, sc, d, KRT_ERR_BAD_FILE, "has no input");
    st->is_alias = 1;
    return resolve_input(m, sc, d, d->input[first_data], &st->alias);
  }
  if (strcmp(d->op, "VarHandleOp") == 0) {
    if (sc->fn)
      return node_error(m, sc, d, KRT_ERR_UNSUPPORTED,
                        "a variable made inside a function; krt reads the variables a SavedModel's "
                        "functions capture");
    st->is_alias = 1;
    st->alias = (sm_ref){REF_VARIABLE, NULL, 0, i};
    return NULL;
  }
  if (strcmp(d->op, "ReadVariableOp") == 0) {
    if (first_data < 0) return node_error(m, sc, d, KRT_ERR_BAD_FILE, "has no input");
    sm_ref r;
    KRT_TRY(resolve_input(m, sc, d, d->input[first_data], &r));
    if (r.kind != REF_VARIABLE)
      return node_error(m, sc, d, KRT_ERR_UNSUPPORTED,
                        "reads a resource that krt cannot trace to a variable");
    st->is_alias = 1;
    return variable_const(m, sc, d, r.var, &st->alias);
  }
  return copy_node(m, sc, i);
}

/* Output (arg, index) of node i in sc; arg NULL in the top-level graph ("node:k"). */
static krt_status *node_output(sm_import *m, sm_scope *sc, size_t i, const char *arg,
                               size_t arg_len, long index, sm_ref *out) {
  sm_node *st = &sc->st[i];
  const Krt__Tf__NodeDef *d = sc->nodes[i];
  if (st->state == 1)
    return node_error(m, sc, d, KRT_ERR_UNSUPPORTED,
                      "the graph has a cycle through it (a loop); krt does not support control "
                      "flow");
  if (++m->recursion > m->max_recursion)
    return node_error(m, sc, d, KRT_ERR_UNSUPPORTED, "the graph is nested too deeply for krt");
  krt_status *s = NULL;
  if (st->state == 0) {
    st->state = 1;
    s = visit_node(m, sc, i);
    st->state = 2;
  }
  if (!s && st->callee) {
    const Krt__Tf__OpDef *sig = st->callee->fn->signature;
    if (index < 0 || (size_t)index >= sig->n_output_arg ||
        (arg && (arg_len != 6 || strncmp(arg, "output", 6) != 0)))
      s = node_error(m, sc, d, KRT_ERR_BAD_FILE, "an input reads an output the call does not have");
    else if (st->call_out_state[index] == 1)
      s = node_error(m, sc, d, KRT_ERR_UNSUPPORTED, "the graph has a cycle through this call");
    else if (st->call_out_state[index] == 0) {
      st->call_out_state[index] = 1;
      const char *want = sig->output_arg[index]->name, *ret = NULL;
      for (size_t r = 0; r < st->callee->fn->n_ret && !ret; r++)
        if (st->callee->fn->ret[r]->key && strcmp(st->callee->fn->ret[r]->key, want) == 0)
          ret = st->callee->fn->ret[r]->value;
      if (!ret)
        s = krt_error(KRT_ERR_BAD_FILE, "%s: function '%s' returns nothing for its output '%s'",
                      m->dir, sig->name, want);
      else
        s = resolve_input(m, st->callee, d, ret, &st->call_out[index]);
      st->call_out_state[index] = 2;
    }
    if (!s) *out = st->call_out[index];
  } else if (!s && st->is_alias) {
    if (index != 0)
      s = node_error(m, sc, d, KRT_ERR_BAD_FILE, "an input reads an output it does not have");
    else
      *out = st->alias;
  } else if (!s) {
    int k = (int)index;
    if (arg) s = output_index(m, sc, i, arg, arg_len, index, &k);
    if (!s) *out = (sm_ref){REF_TENSOR, st->flat_name, k, 0};
  }
  m->recursion--;
  return s;
}

/* spec in sc's form: top level "node" or "node:k"; in a function "arg" or "node:out_arg:i". */
static krt_status *resolve_input(sm_import *m, sm_scope *sc, const Krt__Tf__NodeDef *reader,
                                 const char *spec, sm_ref *out) {
  const char *c1 = strchr(spec, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  size_t name_len = c1 ? (size_t)(c1 - spec) : strlen(spec);
  const char *num = sc->fn ? (c2 ? c2 + 1 : NULL) : (c1 ? c1 + 1 : NULL);
  long index = 0;
  if (num) {
    char *end;
    index = strtol(num, &end, 10);
    if (end == num || *end || index < 0 || index > (1 << 20) || (!sc->fn && c2))
      return node_error(m, sc, reader, KRT_ERR_BAD_FILE, "an input is not a tensor name");
  }
  if (sc->fn && !c1) { /* an argument */
    for (size_t a = 0; a < sc->fn->signature->n_input_arg && a < sc->n_args; a++)
      if (strcmp(sc->fn->signature->input_arg[a]->name, spec) == 0) {
        *out = sc->args[a];
        return NULL;
      }
  }
  if (sc->fn && c1 && !c2)
    return node_error(m, sc, reader, KRT_ERR_BAD_FILE, "an input is not of the form "
                                                       "node:output:index");
  long node = find_slot(sc->by_name, sc->n_nodes, spec, name_len);
  if (node < 0)
    return node_error_v(m, sc, reader, KRT_ERR_BAD_FILE,
                        sc->fn ? "reads '%.600s', which is no node or argument of its function"
                               : "reads '%.600s', which is no node of the graph",
                        spec);
  return node_output(m, sc, (size_t)node, sc->fn && c1 ? c1 + 1 : NULL,
                     c2 ? (size_t)(c2 - c1 - 1) : 0, index, out);
}

/* ---- the SavedModel ------------------------------------------------------------------------- */

static krt_status *choose_meta_graph(const char *dir, const Krt__Tf__SavedModel *sm,
                                     Krt__Tf__MetaGraphDef **out) {
  if (sm->n_meta_graphs == 0)
    return krt_error(KRT_ERR_BAD_FILE, "%s: the SavedModel has no meta graph", dir);
  for (size_t i = 0; i < sm->n_meta_graphs; i++) {
    const Krt__Tf__MetaGraphDef__MetaInfoDef *info = sm->meta_graphs[i]->meta_info_def;
    for (size_t t = 0; info && t < info->n_tags; t++)
      if (info->tags[t] && strcmp(info->tags[t], "serve") == 0) {
        *out = sm->meta_graphs[i];
        return NULL;
      }
  }
  if (sm->n_meta_graphs == 1) {
    *out = sm->meta_graphs[0];
    return NULL;
  }
  return krt_error(KRT_ERR_UNSUPPORTED, "%s: the SavedModel has %zu meta graphs and none is tagged "
                   "'serve'", dir, sm->n_meta_graphs);
}

/* The signature asked for; by default "serving_default", or the one signature that is not the
 * init op. */
static krt_status *choose_signature(const char *dir, const Krt__Tf__MetaGraphDef *mg,
                                    const char *wanted, const Krt__Tf__SignatureDef **out) {
  const Krt__Tf__SignatureDef *only = NULL;
  size_t n = 0;
  char names[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < mg->n_signature_def; i++) {
    const char *key = mg->signature_def[i]->key ? mg->signature_def[i]->key : "";
    if (strcmp(key, wanted ? wanted : "serving_default") == 0 && mg->signature_def[i]->value) {
      *out = mg->signature_def[i]->value;
      return NULL;
    }
    if (strcmp(key, "__saved_model_init_op") == 0 || !mg->signature_def[i]->value) continue;
    only = mg->signature_def[i]->value;
    n++;
    if (used < sizeof names)
      used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", n > 1 ? ", " : "", key);
  }
  if (wanted)
    return krt_error(KRT_ERR_NOT_FOUND, "%s: the SavedModel has no signature '%s' (it has %s)", dir,
                     wanted, n ? names : "none");
  if (n == 1) {
    *out = only;
    return NULL;
  }
  if (n == 0) return krt_error(KRT_ERR_BAD_FILE, "%s: the SavedModel has no signature", dir);
  return krt_error(KRT_ERR_UNSUPPORTED, "%s: the SavedModel has no 'serving_default' signature "
                   "and several others (%s); krt does not know which to build", dir, names);
}

/* A signature tensor: its top-level node and output index ("node:k"). */
static krt_status *signature_tensor(sm_import *m, const char *key, const Krt__Tf__TensorInfo *info,
                                    long *node, long *k) {
  if (!info || !info->name || !info->name[0])
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: signature tensor '%s' is sparse or composite; krt "
                     "reads dense tensors only", m->dir, key);
  const char *colon = strrchr(info->name, ':');
  size_t len = colon ? (size_t)(colon - info->name) : strlen(info->name);
  *k = 0;
  if (colon) {
    char *end;
    *k = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || *k < 0 || *k > (1 << 20))
      return krt_error(KRT_ERR_BAD_FILE, "%s: signature tensor '%s' names '%s', not node:k",
                       m->dir, key, info->name);
  }
  *node = find_slot(m->top->by_name, m->top->n_nodes, info->name, len);
  if (*node < 0)
    return krt_error(KRT_ERR_BAD_FILE, "%s: signature tensor '%s' names '%s', which is no node of "
                     "the graph", m->dir, key, info->name);
  return NULL;
}

static krt_status *decode_library(sm_import *m) {
  const Krt__Tf__FunctionDefLibrary *lib = m->mg->graph_def->library;
  size_t n = lib ? lib->n_function : 0;
  m->fns = calloc(n + 1, sizeof *m->fns);
  m->fn_by_name = calloc(n + 1, sizeof *m->fn_by_name);
  if (!m->fns || !m->fn_by_name) return krt_error_oom("SavedModel import");
  for (size_t i = 0; i < n; i++) {
    m->fns[i] = krt__tf__function_def__unpack(NULL, lib->function[i].len, lib->function[i].data);
    if (!m->fns[i])
      return krt_error(KRT_ERR_BAD_FILE, "%s: function %zu of the library does not decode", m->dir, i);
    m->n_fns++;
    if (!m->fns[i]->signature || !m->fns[i]->signature->name || !m->fns[i]->signature->name[0])
      return krt_error(KRT_ERR_BAD_FILE, "%s: function %zu of the library has no name", m->dir, i);
    m->fn_by_name[i] = (name_slot){m->fns[i]->signature->name, i};
  }
  qsort(m->fn_by_name, m->n_fns, sizeof *m->fn_by_name, compare_slots);
  for (size_t i = 1; i < m->n_fns; i++)
    if (strcmp(m->fn_by_name[i].name, m->fn_by_name[i - 1].name) == 0)
      return krt_error(KRT_ERR_BAD_FILE, "%s: two library functions are named '%s'", m->dir,
                       m->fn_by_name[i].name);
  return NULL;
}

/* Builds the flat GraphDef for the signature; outputs become Identity nodes named by their keys. */
static krt_status *flatten(sm_import *m, const Krt__Tf__SignatureDef *sig, const char ***keys,
                           int *n_keys) {
  KRT_TRY(decode_library(m));
  Krt__Tf__GraphDef *g = m->mg->graph_def;
  char *empty = take(m, 1);
  if (!empty) return krt_error_oom("SavedModel import");
  KRT_TRY(new_scope(m, NULL, NULL, empty, g->node, g->n_node, 0, &m->top));
  size_t n = g->n_node + 1;
  m->input_info = calloc(n, sizeof *m->input_info);
  m->var_object = calloc(n, sizeof *m->var_object);
  m->var_const = calloc(n, sizeof *m->var_const);
  if (!m->input_info || !m->var_object || !m->var_const) return krt_error_oom("SavedModel import");
  for (size_t i = 0; i < n; i++) m->var_object[i] = -1;
  for (size_t i = 0; i < sig->n_inputs; i++) {
    const char *key = sig->inputs[i]->key ? sig->inputs[i]->key : "";
    long node, k;
    KRT_TRY(signature_tensor(m, key, sig->inputs[i]->value, &node, &k));
    const Krt__Tf__NodeDef *d = g->node[node];
    if (strcmp(d->op, "Placeholder") != 0 || k != 0)
      return krt_error(KRT_ERR_UNSUPPORTED, "%s: signature input '%s' is '%s' (op %s), not a "
                       "Placeholder's output", m->dir, key, sig->inputs[i]->value->name, d->op);
    const Krt__Tf__AttrValue *dtype = node_attr(d, "dtype");
    if (dtype && dtype->value_case == KRT__TF__ATTR_VALUE__VALUE_TYPE &&
        dtype->type != sig->inputs[i]->value->dtype)
      return krt_error(KRT_ERR_BAD_FILE, "%s: signature input '%s' says dtype %d, its Placeholder "
                       "'%s' dtype %d", m->dir, key, sig->inputs[i]->value->dtype, d->name,
                       dtype->type);
    m->input_info[node] = sig->inputs[i]->value;
    sm_ref r;
    KRT_TRY(node_output(m, m->top, (size_t)node, NULL, 0, 0, &r));
  }
  if (sig->n_outputs == 0) return krt_error(KRT_ERR_BAD_FILE, "%s: the signature has no outputs", m->dir);
  *keys = (const char **)take(m, sig->n_outputs * sizeof **keys);
  if (!*keys) return krt_error_oom("SavedModel import");
  for (size_t i = 0; i < sig->n_outputs; i++) {
    const char *key = sig->outputs[i]->key ? sig->outputs[i]->key : "";
    long node, k;
    KRT_TRY(signature_tensor(m, key, sig->outputs[i]->value, &node, &k));
    if (!key[0] || find_slot(m->top->by_name, m->top->n_nodes, key, strlen(key)) >= 0)
      return krt_error(KRT_ERR_UNSUPPORTED, "%s: signature output '%s' has the name of a node of "
                       "the graph; krt names the outputs by their keys", m->dir, key);
    sm_ref r;
    KRT_TRY(node_output(m, m->top, (size_t)node, NULL, 0, k, &r));
    if (r.kind != REF_TENSOR)
      return krt_error(KRT_ERR_UNSUPPORTED, "%s: signature output '%s' is a variable's handle",
                       m->dir, key);
    Krt__Tf__NodeDef *c = take(m, sizeof *c);
    char **inputs = take(m, sizeof *inputs);
    char *spec = take(m, strlen(r.node) + 16);
    if (!c || !inputs || !spec) return krt_error_oom("SavedModel import");
    if (r.k == 0)
      strcpy(spec, r.node);
    else
      sprintf(spec, "%s:%d", r.node, r.k);
    inputs[0] = spec;
    krt__tf__node_def__init(c);
    c->name = (char *)key;
    c->op = "Identity";
    c->n_input = 1;
    c->input = inputs;
    KRT_TRY(grow((void **)&m->flat, &m->cap_flat, m->n_flat, sizeof *m->flat));
    m->flat[m->n_flat++] = c;
    (*keys)[i] = key;
  }
  *n_keys = (int)sig->n_outputs;
  return NULL;
}

typedef struct flatten_job {
  sm_import *m;
  const Krt__Tf__SignatureDef *sig;
  const char **keys;
  int n_keys;
  krt_status *s;
} flatten_job;

static void *flatten_thread(void *arg) {
  flatten_job *j = arg;
  j->s = flatten(j->m, j->sig, &j->keys, &j->n_keys);
  return NULL;
}

/* flatten() on a thread with a deep stack (SM_WALK_STACK), else here with a lower depth limit. */
static krt_status *flatten_deep(sm_import *m, const Krt__Tf__SignatureDef *sig, const char ***keys,
                                int *n_keys) {
  flatten_job job = {m, sig, NULL, 0, NULL};
  pthread_attr_t attr;
  pthread_t thread;
  int started = 0;
  if (pthread_attr_init(&attr) == 0) {
    m->max_recursion = SM_MAX_RECURSION;
    started = pthread_attr_setstacksize(&attr, SM_WALK_STACK) == 0 &&
              pthread_create(&thread, &attr, flatten_thread, &job) == 0;
    pthread_attr_destroy(&attr);
  }
  if (started) {
    pthread_join(thread, NULL);
  } else {
    m->max_recursion = SM_MAX_RECURSION_HERE;
    flatten_thread(&job);
  }
  *keys = job.keys;
  *n_keys = job.n_keys;
  return job.s;
}

static void free_sm(sm_import *m) {
  for (size_t i = 0; i < m->n_scopes; i++) {
    for (size_t j = 0; j < m->scopes[i]->n_nodes; j++) free((void *)m->scopes[i]->st[j].arg_seen);
    free_scope(m->scopes[i]);
  }
  free(m->scopes);
  for (size_t i = 0; i < m->n_fns; i++) krt__tf__function_def__free_unpacked(m->fns[i], NULL);
  free(m->fns);
  free(m->fn_by_name);
  free(m->input_info);
  free(m->var_object);
  free((void *)m->var_const);
  for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
  free(m->owned);
  free(m->flat);
  if (m->objects) krt__tf__trackable_object_graph__free_unpacked(m->objects, NULL);
  tf_bundle_close(m->bundle);
}

krt_status *import_tf_savedmodel(const char *path, const import_options *options, ir_graph **out) {
  if (!path || !out)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "import_tf_savedmodel: NULL argument");
  *out = NULL;
  char *pb_path = malloc(strlen(path) + sizeof "/saved_model.pb");
  if (!pb_path) return krt_error_oom("SavedModel import");
  sprintf(pb_path, "%s/saved_model.pb", path);
  uint8_t *bytes = NULL;
  size_t size = 0;
  krt_status *s = import_read_file(pb_path, SM_MAX_FILE_BYTES, "more than a protocol buffer can "
                                   "hold", &bytes, &size);
  free(pb_path);
  if (s) return s;
  Krt__Tf__SavedModel *sm = krt__tf__saved_model__unpack(NULL, size, bytes);
  free(bytes);
  if (!sm)
    return krt_error(KRT_ERR_BAD_FILE, "%s: saved_model.pb is not a SavedModel (the protocol "
                     "buffer does not decode)", path);
  sm_import m = {0};
  m.dir = path;
  const Krt__Tf__SignatureDef *sig = NULL;
  s = choose_meta_graph(path, sm, &m.mg);
  if (!s && !m.mg->graph_def)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: the SavedModel's meta graph has no graph", path);
  if (!s) s = choose_signature(path, m.mg, options ? options->signature : NULL, &sig);
  const char **keys = NULL;
  int n_keys = 0;
  if (!s) s = flatten_deep(&m, sig, &keys, &n_keys);
  if (!s) {
    Krt__Tf__GraphDef flat;
    krt__tf__graph_def__init(&flat);
    flat.node = m.flat;
    flat.n_node = m.n_flat;
    /* The signature's outputs, unless the caller cuts elsewhere. */
    import_options o = {0};
    if (options) o = *options;
    if (o.n_outputs == 0) {
      o.n_outputs = n_keys;
      o.outputs = keys;
    }
    s = tf_import_graph(path, &flat, &o, out);
  }
  free_sm(&m);
  krt__tf__saved_model__free_unpacked(sm, NULL);
  return s;
}
