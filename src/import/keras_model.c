/* Walks a Keras model config into the IR: Sequential and Functional models, nested models (called
 * like layers, possibly several times), shared layers, in the Keras 1, 2 and 3 spellings.
 *
 * Wiring (Functional): each layer entry lists its calls ("inbound_nodes"); every input of a call
 * names the producing layer, which of that layer's calls produced it (node index) and which of its
 * outputs (tensor index). Keras 1/2 write a call as [[layer, node, tensor, kwargs], ...];
 * Keras 3 as {"args": [...], "kwargs": {...}} with {"class_name": "__keras_tensor__",
 * "config": {"keras_history": [layer, node, tensor]}} wherever a tensor goes. A nested Functional model (and,
 * before Keras 3, a nested Sequential built with an input shape) owns a node from its own
 * construction, so references to it count from 1, not 0 (Keras's get_config keeps that node:
 * keras/src/models/functional.py, "Functional models start with a pre-existing node").
 */
#include "import/keras_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/hdf5_isolate.h"
#include "import/hdf5_util.h"
#include "import/keras_wiring.h"

/* ---- per-call conversion ------------------------------------------------------------------ */

static krt_status *run_model(kw_builder *b, kw_model *m, const int *inputs, int n_inputs,
                             int **outputs, int *n_outputs);

static int64_t array_elements(const keras_array *a) {
  int64_t n = 1;
  for (int i = 0; i < a->rank; i++) n *= a->dims[i];
  return n;
}

/* Converts one call of one layer (`call`: its inbound node in this run of the model, NULL in a
 * Sequential model); the call's outputs are returned in a new array. A nested model run twice
 * runs its layers' calls twice: the node is the run's, not the times_called-th. */
/* ---- Keras masks ---------------------------------------------------------------------------
 * Keras sets a mask on the tensors that Masking and Embedding(mask_zero=True) return, and layers
 * pass it on or use it; Keras 3 records it only where a layer's call takes it as keyword
 * argument mask. krt applies masks in the recurrent layers, from that recorded tensor, and so
 * follows which values carry one: a masked value may reach a recurrent layer whose call records
 * the mask, or a keras.ops operation (which ignores masks and drops them: Keras 3 records no mask
 * for a layer after one, fixture rnn_mask_through_operation); any other layer would use or pass
 * on a mask krt does not apply, and is refused. */

static int value_masked(const kw_builder *b, int v) {
  return v >= 0 && v < b->n_masked && b->masked[v];
}

static krt_status *mark_masked(kw_builder *b, int v) {
  if (v < 0) return NULL;
  if (v >= b->n_masked) {
    int n = b->g->n_values > v + 1 ? b->g->n_values : v + 1;
    unsigned char *grown = realloc(b->masked, (size_t)n);
    if (!grown) return krt_error_oom("mask flags");
    memset(grown + b->n_masked, 0, (size_t)(n - b->n_masked));
    b->masked = grown, b->n_masked = n;
  }
  b->masked[v] = 1;
  return NULL;
}

static int is_mask_reader(const char *cls) {
  static const char *const classes[] = {"SimpleRNN", "LSTM",          "GRU", "CuDNNLSTM",
                                        "CuDNNGRU",  "Bidirectional", NULL};
  for (int i = 0; classes[i]; i++)
    if (strcmp(classes[i], cls) == 0) return 1;
  return 0;
}

/* The outputs of a layer that carry a mask after it ran (Keras's compute_mask): Masking's and
 * Embedding(mask_zero=True)'s output; a masked recurrent layer's sequence (return_sequences; for
 * Bidirectional merge_mode None both halves), never its states. */
static krt_status *mark_layer_outputs(kw_builder *b, const kw_layer *l, int masked_call,
                                      const int *outs, int n_outs) {
  const char *cls = l->class_name;
  const cJSON *cfg = l->config;
  if (strcmp(cls, "Masking") == 0) return mark_masked(b, outs[0]);
  if (strcmp(cls, "Embedding") == 0)
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "mask_zero"))
               ? mark_masked(b, outs[0])
               : NULL;
  if (!masked_call || !is_mask_reader(cls)) return NULL;
  int sequences_out = 1;
  if (strcmp(cls, "Bidirectional") == 0) {
    const cJSON *merge = cJSON_GetObjectItemCaseSensitive(cfg, "merge_mode");
    if (merge && cJSON_IsNull(merge)) sequences_out = 2;
    cfg =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "layer"), "config");
  }
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "return_sequences"))) return NULL;
  for (int i = 0; i < sequences_out && i < n_outs; i++) KRT_TRY(mark_masked(b, outs[i]));
  return NULL;
}

static krt_status *convert_call(kw_builder *b, kw_model *m, int index, const kw_call *call,
                                const int *inputs, int n_inputs, int **outputs, int *n_outputs) {
  kw_layer *l = &m->layers[index];
  ir_layer *record = NULL;
  int has_mask = call && call->has_mask;
  if (has_mask) n_inputs--; /* the mask is the last reference, not an input (keras_wiring.h) */
  if (has_mask && l->nested)
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "%s: model '%s' (%s): the call passes a mask (keyword argument mask) "
                     "into a nested model; krt applies masks in recurrent layers only",
                     b->src->file, l->full_name, l->class_name);
  const cJSON *module_entry = cJSON_GetObjectItemCaseSensitive(l->entry, "module");
  int operation =
      keras_is_operation(cJSON_IsString(module_entry) ? module_entry->valuestring : NULL);
  for (int i = 0; i < n_inputs && !operation; i++) {
    if (!value_masked(b, inputs[i])) continue;
    const char *name = b->g->values[inputs[i]].name ? b->g->values[inputs[i]].name : "?";
    if (!is_mask_reader(l->class_name) || l->nested)
      return krt_error(KRT_ERR_UNSUPPORTED,
                       "%s: layer '%s' (%s): its input '%s' carries a Keras mask (from Masking or "
                       "Embedding mask_zero), which this layer would use or pass on; krt "
                       "applies masks in recurrent layers only",
                       b->src->file, l->full_name, l->class_name, name);
    if (!has_mask)
      return krt_error(KRT_ERR_UNSUPPORTED,
                       "%s: layer '%s' (%s): its input '%s' carries a Keras mask that the file "
                       "does not record for this call (a Sequential model records no calls); "
                       "krt applies masks it can read: save the model as a functional one",
                       b->src->file, l->full_name, l->class_name, name);
  }
  int masked_call = has_mask;
  if (l->nested) {
    KRT_TRY(run_model(b, l->nested, inputs, n_inputs, outputs, n_outputs));
    /* Its param_count stays 0: the weights belong to its own layers, which have records of their
     * own ("outer/inner"), so a sum over all records counts every weight once. */
    record = &b->g->layers[l->record];
    if (l->times_called++ == 0 && *n_outputs > 0) record->output = (*outputs)[0];
    return NULL;
  }
  keras_array *weights = NULL;
  int n_weights = 0;
  krt_status *s =
      b->src->weights.read(b->src->weights.self, &m->level, index, &weights, &n_weights);
  if (s)
    return krt_error_wrap(s, "%s: layer '%s' (%s): ", b->src->file, l->full_name, l->class_name);
  int64_t params = 0;
  for (int i = 0; i < n_weights; i++) params += array_elements(&weights[i]);
  b->g->layers[l->record].param_count = params;

  keras_layer_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.graph = b->g;
  ctx.file = b->src->file;
  ctx.layer_name = l->full_name;
  ctx.class_name = l->class_name;
  ctx.config = l->config;
  const cJSON *module = cJSON_GetObjectItemCaseSensitive(l->entry, "module");
  ctx.module = cJSON_IsString(module) ? module->valuestring : NULL;
  const cJSON *registered = cJSON_GetObjectItemCaseSensitive(l->entry, "registered_name");
  ctx.registered_name = cJSON_IsString(registered) ? registered->valuestring : NULL;
  ctx.call = call ? call->node : NULL;
  ctx.keras_major = b->src->keras_major;
  ctx.backend = b->src->backend;
  ctx.layer_index = l->record;
  ctx.call_index = l->times_called;
  ctx.n_inputs = n_inputs;
  ctx.inputs = inputs;
  ctx.has_mask = has_mask;
  ctx.mask = has_mask ? inputs[n_inputs] : -1;
  ctx.n_weights = n_weights;
  ctx.weights = weights;
  int outs[KERAS_MAX_OP_OUTPUTS], n_outs = 1;
  outs[0] = -1;
  if (keras_is_operation(ctx.module))
    s = keras_convert_operation(&ctx, outs, &n_outs);
  else if (keras_is_tfop_class(ctx.class_name))
    s = keras_convert_tfop(&ctx, outs, &n_outs);
  else
    s = keras_convert_layer_outputs(&ctx, outs, &n_outs);
  keras_arrays_free(weights, n_weights);
  /* The converter names file, layer and class itself; add them should a message lack them. */
  if (s && strncmp(krt_status_message(s), b->src->file, strlen(b->src->file)) != 0)
    s = krt_error_wrap(s, "%s: layer '%s' (%s): ", b->src->file, l->full_name, l->class_name);
  if (s) return s;
  if (n_outs < 1 || n_outs > KERAS_MAX_OP_OUTPUTS)
    return krt_error(KRT_ERR_INTERNAL, "%s: layer '%s' (%s): the converter returned %d outputs",
                     b->src->file, l->full_name, l->class_name, n_outs);
  for (int i = 0; i < n_outs; i++)
    if (outs[i] < 0 || outs[i] >= b->g->n_values)
      return krt_error(KRT_ERR_INTERNAL, "%s: layer '%s' (%s): the converter returned no output",
                       b->src->file, l->full_name, l->class_name);
  int *result = malloc((size_t)n_outs * sizeof *result);
  if (!result) return krt_error_oom("layer outputs");
  memcpy(result, outs, (size_t)n_outs * sizeof *result);
  record = &b->g->layers[l->record];
  if (l->times_called++ == 0) record->output = outs[0];
  *outputs = result;
  *n_outputs = n_outs;
  return mark_layer_outputs(b, l, masked_call, outs, n_outs);
}

/* ---- Sequential --------------------------------------------------------------------------- */

static krt_status *run_sequential(kw_builder *b, kw_model *m, const int *inputs, int n_inputs,
                                  int **outputs, int *n_outputs) {
  if (n_inputs != 1)
    return krt_error(KRT_ERR_BAD_FILE, "%s: Sequential model '%s' is called with %d inputs, not 1",
                     b->src->file, m->display_name, n_inputs);
  int value = inputs[0];
  for (int i = 0; i < m->n_layers; i++) {
    kw_layer *l = &m->layers[i];
    if (l->is_input) {
      if (b->g->layers[l->record].output < 0) b->g->layers[l->record].output = value;
      continue;
    }
    int *outs = NULL, n_outs = 0;
    KRT_TRY(convert_call(b, m, i, NULL, &value, 1, &outs, &n_outs));
    if (n_outs != 1) {
      free(outs);
      return krt_error(KRT_ERR_UNSUPPORTED,
                       "%s: layer '%s' (%s) gives %d outputs inside a Sequential model, which "
                       "passes one tensor from layer to layer",
                       b->src->file, l->full_name, l->class_name, n_outs);
    }
    value = outs[0];
    free(outs);
  }
  int *result = malloc(sizeof *result);
  if (!result) return krt_error_oom("model outputs");
  result[0] = value;
  *outputs = result;
  *n_outputs = 1;
  return NULL;
}

/* ---- Functional --------------------------------------------------------------------------- */

/* The outputs of every call made so far during one run of a Functional model. */
typedef struct run_state {
  int *done;    /* per layer: calls converted */
  int ***outs;  /* per layer, per call: output value ids */
  int **n_outs; /* per layer, per call: how many */
} run_state;

static void free_run_state(const kw_model *m, run_state *st) {
  for (int i = 0; i < m->n_layers; i++) {
    int calls = m->layers[i].is_input ? 1 : m->layers[i].n_calls;
    if (st->outs && st->outs[i]) {
      for (int k = 0; k < calls; k++) free(st->outs[i][k]);
      free(st->outs[i]);
    }
    if (st->n_outs) free(st->n_outs[i]);
  }
  free(st->done);
  free(st->outs);
  free(st->n_outs);
}

static krt_status *alloc_run_state(const kw_model *m, run_state *st) {
  memset(st, 0, sizeof *st);
  size_t n = (size_t)(m->n_layers ? m->n_layers : 1);
  st->done = calloc(n, sizeof *st->done);
  st->outs = calloc(n, sizeof *st->outs);
  st->n_outs = calloc(n, sizeof *st->n_outs);
  if (!st->done || !st->outs || !st->n_outs) return krt_error_oom("model wiring");
  for (int i = 0; i < m->n_layers; i++) {
    int calls = m->layers[i].is_input ? 1 : m->layers[i].n_calls;
    st->outs[i] = calloc((size_t)(calls ? calls : 1), sizeof **st->outs);
    st->n_outs[i] = calloc((size_t)(calls ? calls : 1), sizeof **st->n_outs);
    if (!st->outs[i] || !st->n_outs[i]) return krt_error_oom("model wiring");
  }
  return NULL;
}

/* The call of ref->layer that a reference points at (node index minus the layer's offset). */
static int ref_call(const kw_model *m, const kw_ref *ref) {
  const kw_layer *p = &m->layers[ref->layer];
  return p->is_input ? ref->node : ref->node - p->node_offset;
}

/* 1 when the tensor is available, 0 when its call has not run yet; errors for references that
 * can never be satisfied. */
static krt_status *ref_value(kw_builder *b, const kw_model *m, const run_state *st,
                             const kw_ref *ref, const char *user, int *ready, int *value) {
  const kw_layer *p = &m->layers[ref->layer];
  int call = ref_call(m, ref);
  int calls = p->is_input ? 1 : p->n_calls;
  if (call < 0 || call >= calls)
    return krt_error(
        KRT_ERR_BAD_FILE, "%s: %s refers to node %d of layer '%s' (%s), which has %d call%s",
        b->src->file, user, ref->node, p->full_name, p->class_name, calls, calls == 1 ? "" : "s");
  if (call >= st->done[ref->layer]) {
    *ready = 0;
    return NULL;
  }
  int n = st->n_outs[ref->layer][call];
  if (ref->tensor < 0 || ref->tensor >= n) {
    if (!p->nested && ref->tensor > 0)
      return krt_error(KRT_ERR_UNSUPPORTED,
                       "%s: %s uses output %d of layer '%s' (%s): layers with several outputs "
                       "are not supported",
                       b->src->file, user, ref->tensor, p->full_name, p->class_name);
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s uses output %d of layer '%s' (%s), which has %d",
                     b->src->file, user, ref->tensor, p->full_name, p->class_name, n);
  }
  *ready = 1;
  *value = st->outs[ref->layer][call][ref->tensor];
  return NULL;
}

/* Runs call `k` of layer `i` if all its inputs exist; *ran says whether it did. */
static krt_status *try_call(kw_builder *b, kw_model *m, run_state *st, int i, int *ran) {
  kw_layer *l = &m->layers[i];
  const kw_call *call = &l->calls[st->done[i]];
  char user[512];
  snprintf(user, sizeof user, "layer '%s' (%s)", l->full_name, l->class_name);
  int *values = malloc((size_t)(call->n_refs ? call->n_refs : 1) * sizeof *values);
  if (!values) return krt_error_oom("layer inputs");
  *ran = 0;
  for (int r = 0; r < call->n_refs; r++) {
    int ready = 0;
    krt_status *s = ref_value(b, m, st, &call->refs[r], user, &ready, &values[r]);
    if (s || !ready) {
      free(values);
      return s;
    }
  }
  int k = st->done[i];
  krt_status *s =
      convert_call(b, m, i, call, values, call->n_refs, &st->outs[i][k], &st->n_outs[i][k]);
  free(values);
  if (s) return s;
  st->done[i]++;
  *ran = 1;
  return NULL;
}

/* Names the first call that could not run, for the error when no progress is possible. */
static krt_status *stuck_error(kw_builder *b, const kw_model *m, const run_state *st) {
  for (int i = 0; i < m->n_layers; i++) {
    const kw_layer *l = &m->layers[i];
    if (l->is_input || st->done[i] >= l->n_calls) continue;
    const kw_call *call = &l->calls[st->done[i]];
    for (int r = 0; r < call->n_refs; r++) {
      const kw_ref *ref = &call->refs[r];
      if (ref_call(m, ref) < st->done[ref->layer]) continue;
      const kw_layer *p = &m->layers[ref->layer];
      if (p->is_input)
        return krt_error(KRT_ERR_BAD_FILE,
                         "%s: layer '%s' (%s) reads input '%s', which is not among the model's "
                         "inputs",
                         b->src->file, l->full_name, l->class_name, p->full_name);
      return krt_error(KRT_ERR_BAD_FILE,
                       "%s: layer '%s' (%s) waits for node %d of layer '%s' (%s), which never "
                       "becomes available (a cycle in the model config?)",
                       b->src->file, l->full_name, l->class_name, ref->node, p->full_name,
                       p->class_name);
    }
  }
  return krt_error(KRT_ERR_INTERNAL, "%s: model wiring made no progress", b->src->file);
}

static krt_status *run_functional(kw_builder *b, kw_model *m, const int *inputs, int n_inputs,
                                  int **outputs, int *n_outputs) {
  if (n_inputs != m->n_in)
    return krt_error(KRT_ERR_BAD_FILE, "%s: model '%s' has %d inputs but is called with %d",
                     b->src->file, m->display_name, m->n_in, n_inputs);
  run_state st;
  krt_status *s = alloc_run_state(m, &st);
  for (int i = 0; i < m->n_in && !s; i++) {
    int layer = m->in_refs[i].layer;
    if (st.done[layer]) {
      s = krt_error(KRT_ERR_BAD_FILE, "%s: input layer '%s' is listed twice", b->src->file,
                    m->layers[layer].full_name);
      break;
    }
    if (!(st.outs[layer][0] = malloc(sizeof(int)))) {
      s = krt_error_oom("model inputs");
      break;
    }
    st.outs[layer][0][0] = inputs[i];
    st.n_outs[layer][0] = 1;
    st.done[layer] = 1;
    ir_layer *record = &b->g->layers[m->layers[layer].record];
    if (record->output < 0) record->output = inputs[i];
  }
  /* Repeated passes in config order, each layer's calls in their order, until every call ran:
   * the order Keras itself rebuilds a model in, robust to entries listed before their inputs. */
  for (int pending = 1; pending && !s;) {
    int progress = 0;
    pending = 0;
    for (int i = 0; i < m->n_layers && !s; i++) {
      kw_layer *l = &m->layers[i];
      if (l->is_input) continue;
      int ran = 1;
      while (!s && ran && st.done[i] < l->n_calls) {
        s = try_call(b, m, &st, i, &ran);
        if (ran) progress = 1;
      }
      if (st.done[i] < l->n_calls) pending = 1;
    }
    if (!s && pending && !progress) s = stuck_error(b, m, &st);
  }
  int *result = NULL;
  if (!s && !(result = malloc((size_t)(m->n_out ? m->n_out : 1) * sizeof *result)))
    s = krt_error_oom("model outputs");
  for (int o = 0; o < m->n_out && !s; o++) {
    int ready = 0;
    s = ref_value(b, m, &st, &m->out_refs[o], "the model's output list", &ready, &result[o]);
    if (!s && !ready)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: model output '%s' is never computed", b->src->file,
                    m->layers[m->out_refs[o].layer].full_name);
  }
  free_run_state(m, &st);
  if (s) {
    free(result);
    return s;
  }
  *outputs = result;
  *n_outputs = m->n_out;
  return NULL;
}

static krt_status *run_model(kw_builder *b, kw_model *m, const int *inputs, int n_inputs,
                             int **outputs, int *n_outputs) {
  if (m->is_sequential) return run_sequential(b, m, inputs, n_inputs, outputs, n_outputs);
  return run_functional(b, m, inputs, n_inputs, outputs, n_outputs);
}

/* ---- top level ---------------------------------------------------------------------------- */

/* Publishes the outputs under their layers' names ("name_1", ... should one repeat). */
static krt_status *add_outputs(kw_builder *b, const kw_model *m, const int *values, int n) {
  for (int o = 0; o < n; o++) {
    const char *base = m->layers[m->out_refs[o].layer].full_name;
    char name[512];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1;; k++) {
      int taken = 0;
      for (int j = 0; j < b->g->n_outputs; j++)
        if (strcmp(b->g->output_names[j], name) == 0) taken = 1;
      if (!taken) break;
      snprintf(name, sizeof name, "%s_%d", base, k);
    }
    KRT_TRY(ir_add_output(b->g, values[o], name));
  }
  return NULL;
}

krt_status *keras_build_graph(const keras_model_source *src, ir_graph *g) {
  kw_builder b = {src, g, NULL, 0};
  kw_model *top = NULL;
  int *inputs = NULL, *outputs = NULL, n_inputs = 0, n_outputs = 0;
  krt_status *s = kw_parse_model(&b, src->model, NULL, -1, "", &top);
  if (!s) s = kw_create_inputs(&b, top, &inputs, &n_inputs);
  if (!s) s = run_model(&b, top, inputs, n_inputs, &outputs, &n_outputs);
  if (!s && top->is_sequential) {
    /* A Sequential model's output is its last layer's, named after it. */
    top->n_out = 1;
    top->out_refs = calloc(1, sizeof *top->out_refs);
    if (!top->out_refs)
      s = krt_error_oom("model outputs");
    else
      top->out_refs[0].layer = top->n_layers - 1;
  }
  if (!s) s = add_outputs(&b, top, outputs, n_outputs);
  free(inputs);
  free(outputs);
  free(b.masked);
  kw_free_model(top);
  return s;
}

krt_status *keras_import_graph(const keras_model_source *src, ir_graph **out) {
  if (src->options && src->options->tap) return import_tap_graph(src, out);
  ir_graph *g = ir_graph_create();
  size_t len = strlen(src->file) + 1;
  if (!g || !(g->source = malloc(len))) {
    ir_graph_free(g);
    return krt_error_oom("graph");
  }
  memcpy(g->source, src->file, len);
  krt_status *s = keras_build_graph(src, g);
  if (s) {
    ir_graph_free(g);
    return s;
  }
  *out = g;
  return NULL;
}
