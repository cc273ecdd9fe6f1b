/* krt_model: an imported Keras file, queried before it is built (krt inspect, krt dump). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/status.h"

void api_tensor_info(const ir_value *v, const char *name, krt_tensor_info *out) {
  memset(out, 0, sizeof *out);
  out->name = name;
  out->dtype = v->dtype;
  out->rank = v->rank;
  for (int i = 0; i < v->rank && i < KRT_MAX_RANK; i++) out->dims[i] = v->dims[i];
  if (v->batched && v->rank > 0) out->dims[0] = -1;
  out->batch_axis = v->batched ? 0 : -1;
}

void api_join_names(char *buf, size_t size, const char *const *names, size_t n) {
  if (!size) return;
  buf[0] = '\0';
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "", names[i]);
    if (w < 0 || (size_t)w >= size - used) {
      /* Ran out of room (snprintf filled the buffer): end it with an ellipsis. */
      if (size >= 4) memcpy(buf + size - 4, "...", 4);
      return;
    }
    used += (size_t)w;
  }
  if (n == 0) snprintf(buf, size, "(none)");
}

krt_status *krt_model_import(const char *path, krt_model **out) {
  if (!path) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_import: path is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_import: out is NULL");
  krt_model *m = calloc(1, sizeof *m);
  if (!m) return krt_error_oom("model");
  size_t n = strlen(path) + 1;
  m->path = malloc(n);
  if (!m->path) {
    free(m);
    return krt_error_oom("model path");
  }
  memcpy(m->path, path, n);
  krt_status *s = import_model(path, NULL, &m->graph);
  if (s) {
    krt_model_release(m);
    return s;
  }
  *out = m;
  return NULL;
}

void krt_model_release(krt_model *model) {
  if (!model) return;
  ir_graph_free(model->graph);
  free(model->path);
  free(model);
}

size_t krt_model_layer_count(const krt_model *model) {
  return model ? (size_t)model->graph->n_layers : 0;
}

size_t krt_model_input_count(const krt_model *model) {
  return model ? (size_t)model->graph->n_inputs : 0;
}

size_t krt_model_output_count(const krt_model *model) {
  return model ? (size_t)model->graph->n_outputs : 0;
}

krt_status *api_layer_info(const ir_graph *g, size_t index, const char *function,
                           const char *owner, krt_layer_info *out) {
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: out is NULL", function);
  if (index >= (size_t)g->n_layers)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: index %zu is out of range (the %s has %d layers)", function, index,
                     owner, g->n_layers);
  const ir_layer *l = &g->layers[index];
  memset(out, 0, sizeof *out);
  out->name = l->name;
  out->kind = l->class_name;
  out->detail = "";
  out->param_count = l->param_count;
  if (l->output >= 0 && l->output < g->n_values) {
    const ir_value *v = &g->values[l->output];
    krt_tensor_info info;
    api_tensor_info(v, v->name, &info);
    out->rank = info.rank;
    memcpy(out->dims, info.dims, sizeof out->dims);
    /* Input layers are what the graph starts from: cutting there would leave nothing to run. */
    out->can_be_output = strcmp(l->class_name, "InputLayer") != 0;
  }
  return NULL;
}

krt_status *krt_model_layer(const krt_model *model, size_t index, krt_layer_info *out) {
  if (!model) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_layer: model is NULL");
  return api_layer_info(model->graph, index, "krt_model_layer", "model", out);
}

krt_status *krt_model_input_info(const krt_model *model, size_t index, krt_tensor_info *out) {
  if (!model) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_input_info: model is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_input_info: out is NULL");
  const ir_graph *g = model->graph;
  if (index >= (size_t)g->n_inputs)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_model_input_info: index %zu is out of range (the model has %d inputs)",
                     index, g->n_inputs);
  const ir_value *v = &g->values[g->inputs[index]];
  api_tensor_info(v, v->name, out);
  return NULL;
}

krt_status *krt_model_output_info(const krt_model *model, size_t index, krt_tensor_info *out) {
  if (!model) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_output_info: model is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_output_info: out is NULL");
  const ir_graph *g = model->graph;
  if (index >= (size_t)g->n_outputs)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_model_output_info: index %zu is out of range (the model has %d outputs)",
                     index, g->n_outputs);
  api_tensor_info(&g->values[g->outputs[index]], g->output_names[index], out);
  return NULL;
}

krt_status *krt_model_dump(const krt_model *model, char **text) {
  if (!model) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_dump: model is NULL");
  if (!text) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_model_dump: text is NULL");
  return ir_dump(model->graph, text);
}
