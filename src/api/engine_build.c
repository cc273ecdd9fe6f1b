/* krt_engine_build / krt_engine_build_from_model: import -> cut at the requested outputs ->
 * default passes -> (mark all outputs) -> every dimension known but the batch -> backend checks -> memory plan ->
 * backend preparation (engine_finish in engine.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/status.h"
#include "opt/passes.h"

/* The largest batch the engine serves: the one set explicitly, else the batch of an input shape
 * given in the options, else 1. */
static int64_t resolve_max_batch(const krt_build_options *o) {
  if (!o) return 1;
  if (o->max_batch > 0) return o->max_batch;
  for (int i = 0; i < o->n_input_shapes; i++)
    if (o->input_shapes[i].rank > 0 && o->input_shapes[i].dims[0] > 0)
      return o->input_shapes[i].dims[0];
  return 1;
}

/* The first axis of v still unknown (the batch excepted), or -1 when all are known. */
static int unknown_axis(const ir_value *v) {
  for (int i = v->batched ? 1 : 0; i < v->rank; i++)
    if (v->dims[i] < 0) return i;
  return -1;
}

static int is_graph_input(const ir_graph *g, int value) {
  for (int i = 0; i < g->n_inputs; i++)
    if (g->inputs[i] == value) return 1;
  return 0;
}

/* A graph input with an unknown dimension that `value` is computed from, or -1. */
static krt_status *find_unknown_source(const ir_graph *g, int value, int *found) {
  *found = -1;
  char *seen = calloc((size_t)g->n_values, 1);
  int *stack = malloc((size_t)g->n_values * sizeof *stack);
  if (!seen || !stack) {
    free(seen);
    free(stack);
    return krt_error_oom("shape check");
  }
  int top = 0;
  stack[top++] = value;
  seen[value] = 1;
  while (top > 0 && *found < 0) {
    int v = stack[--top];
    if (is_graph_input(g, v) && unknown_axis(&g->values[v]) >= 0) {
      *found = v;
      break;
    }
    int p = g->values[v].producer;
    if (p < 0 || p >= g->n_nodes) continue;
    const ir_node *n = &g->nodes[p];
    for (int i = 0; i < n->n_inputs; i++) {
      int w = n->inputs[i];
      if (w >= 0 && w < g->n_values && !seen[w]) {
        seen[w] = 1;
        stack[top++] = w;
      }
    }
  }
  free(seen);
  free(stack);
  return NULL;
}

/* Every computed value must have a known size per sample so the planner can place it. */
static krt_status *check_dims_known(const ir_graph *g) {
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (val->data || unknown_axis(val) < 0) continue;
    if (val->producer < 0 && !is_graph_input(g, v)) continue; /* nothing reads or writes it */
    int source;
    KRT_TRY(find_unknown_source(g, v, &source));
    if (source < 0)
      return krt_error(KRT_ERR_SHAPE, "value '%s' has unknown dimension %d after shape inference",
                       val->name, unknown_axis(val));
    const ir_value *in = &g->values[source];
    int axis = unknown_axis(in);
    /* Suggest the --input spelling with what is known filled in. */
    char example[256];
    size_t used = 0;
    for (int i = 0; i < in->rank && used < sizeof example; i++) {
      int w;
      if (i == 0 && in->batched) w = snprintf(example + used, sizeof example - used, "1");
      else if (in->dims[i] < 0)
        w = snprintf(example + used, sizeof example - used, "%s<dim%d>", i ? "x" : "", i);
      else
        w = snprintf(example + used, sizeof example - used, "%s%lld", i ? "x" : "",
                     (long long)in->dims[i]);
      if (w < 0) break;
      used += (size_t)w;
    }
    return krt_error(KRT_ERR_SHAPE,
                     "input '%s' has unknown dimension %d; give its shape (krt build --input "
                     "%s:%s, or krt_build_options_set_input_shape)",
                     in->name, axis, in->name, example);
  }
  return NULL;
}

/* Takes ownership of g, on failure too. */
static krt_status *build_from_graph(ir_graph *g, const krt_build_options *o,
                                    const krt_backend *backend, krt_engine **out) {
  krt_status *s = NULL;
  if (o && o->n_outputs > 0)
    s = opt_set_outputs(g, (const char *const *)o->outputs, o->n_outputs);
  if (!s) s = opt_run_default(g);
  /* After the passes, so the engine keeps the fusions of the one built without the option. */
  if (!s && o && o->mark_all_outputs) s = opt_publish_all_values(g);
  if (!s) s = check_dims_known(g);
  int64_t max_batch = resolve_max_batch(o);
  for (int i = 0; !s && o && i < o->n_input_shapes; i++) {
    const import_input_shape *shape = &o->input_shapes[i];
    if (shape->dims[0] > max_batch)
      s = krt_error(KRT_ERR_INVALID_ARGUMENT,
                    "input '%s': the shape given has batch %lld but the max batch is %lld",
                    shape->name, (long long)shape->dims[0], (long long)max_batch);
  }
  krt_engine *e = NULL;
  if (!s && !(e = calloc(1, sizeof *e))) s = krt_error_oom("engine");
  if (s) {
    ir_graph_free(g);
    return s;
  }
  e->graph = g;
  e->meta.device = backend->device;
  e->meta.precision = o ? o->precision : KRT_PRECISION_FP32;
  e->meta.max_batch = max_batch;
  snprintf(e->meta.krt_version, sizeof e->meta.krt_version, "%s", krt_version_string());
  s = engine_finish_build(e, o);
  if (s) {
    krt_engine_release(e);
    return s;
  }
  *out = e;
  return NULL;
}

/* The backend the options ask for, refused before any import work when it cannot serve them. */
static krt_status *pick_backend(const krt_build_options *o, const krt_backend **backend) {
  krt_device device = o ? o->device : KRT_DEVICE_CPU;
  KRT_TRY(krt_error_wrap(krt_backend_for_device(device, backend), "device %s: ",
                         device == KRT_DEVICE_CUDA ? "cuda" : "cpu"));
  if (o && o->precision != KRT_PRECISION_FP32 && (*backend)->device == KRT_DEVICE_CPU)
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "precision %s is not supported on the CPU (it computes in FP32); "
                     "build for device cuda or leave the precision at FP32",
                     engine_precision_name(o->precision));
  return NULL;
}

static void fill_import_options(const krt_build_options *o, import_options *io) {
  memset(io, 0, sizeof *io);
  if (!o) return;
  io->n_input_shapes = o->n_input_shapes;
  io->input_shapes = o->input_shapes;
  io->n_outputs = o->n_outputs;
  io->outputs = (const char *const *)o->outputs;
  io->signature = o->signature;
}

/* Whether the model's graph lacks a layer the options ask for as an output: a GraphDef import
 * converts only what its outputs need, so another output means reading the file again. */
static int needs_other_outputs(const krt_model *model, const krt_build_options *o) {
  for (int i = 0; o && i < o->n_outputs; i++) {
    int layer = ir_find_layer(model->graph, o->outputs[i]);
    if (layer < 0 || model->graph->layers[layer].output < 0) return 1;
  }
  return 0;
}

krt_status *krt_engine_build(const char *model_path, const krt_build_options *options,
                             krt_engine **out) {
  if (!model_path) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_build: model_path is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_build: out is NULL");
  const krt_backend *backend;
  KRT_TRY(pick_backend(options, &backend));
  import_options io;
  fill_import_options(options, &io);
  ir_graph *g = NULL;
  KRT_TRY(import_model(model_path, &io, &g));
  return build_from_graph(g, options, backend, out);
}

krt_status *krt_engine_build_from_model(const krt_model *model, const krt_build_options *options,
                                        krt_engine **out) {
  if (!model)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_build_from_model: model is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_build_from_model: out is NULL");
  const krt_backend *backend;
  KRT_TRY(pick_backend(options, &backend));
  ir_graph *g = NULL;
  if (options && (options->n_input_shapes > 0 || options->signature ||
                  needs_other_outputs(model, options))) {
    /* Shapes are fixed while importing (each layer's shape follows from its input's), so the
     * file is read again with them. */
    import_options io;
    fill_import_options(options, &io);
    KRT_TRY(import_model(model->path, &io, &g));
  } else {
    KRT_TRY(ir_graph_clone(model->graph, &g));
  }
  return build_from_graph(g, options, backend, out);
}
