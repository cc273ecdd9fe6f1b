/* Reads a Keras model config (JSON) into kw_model: layer entries, their calls and the tensors
 * each call reads, input_layers / output_layers, and the shape and dtype of the inputs. */
#include "import/keras_wiring.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static char *join(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  char *s = malloc(na + nb + 1);
  if (!s) return NULL;
  memcpy(s, a, na);
  memcpy(s + na, b, nb + 1);
  return s;
}

const char *keras_entry_class(const cJSON *entry) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(entry, "class_name");
  return cJSON_IsString(c) ? c->valuestring : NULL;
}

const char *keras_entry_name(const cJSON *entry) {
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(entry, "name");
  if (cJSON_IsString(n)) return n->valuestring;
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(entry, "config");
  n = cJSON_GetObjectItemCaseSensitive(config, "name");
  return cJSON_IsString(n) ? n->valuestring : NULL;
}

const cJSON *keras_model_layers(const cJSON *model) {
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(model, "config");
  if (cJSON_IsArray(config)) return config; /* Keras 1 and 2.0/2.1 Sequential */
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(config, "layers");
  return cJSON_IsArray(layers) ? layers : NULL;
}

int keras_major_from_version(const char *version, int fallback) {
  if (!version || !isdigit((unsigned char)version[0])) return fallback;
  int major = atoi(version);
  return major >= 1 && major <= 3 ? major : fallback;
}

/* Python's json module writes NaN and Infinity, which are not JSON: spell them as cJSON reads
 * them (null, 1e999) outside strings. Returns a new text or NULL when out of memory. */
static char *fix_python_json(const char *text, size_t size) {
  char *out = malloc(size * 2 + 1);
  if (!out) return NULL;
  size_t o = 0;
  int in_string = 0;
  for (size_t i = 0; i < size; i++) {
    char c = text[i];
    if (in_string) {
      out[o++] = c;
      if (c == '\\' && i + 1 < size)
        out[o++] = text[++i];
      else if (c == '"')
        in_string = 0;
    } else if (c == '"') {
      in_string = 1;
      out[o++] = c;
    } else if (size - i >= 3 && strncmp(text + i, "NaN", 3) == 0) {
      memcpy(out + o, "null", 4);
      o += 4;
      i += 2;
    } else if (size - i >= 8 && strncmp(text + i, "Infinity", 8) == 0) {
      memcpy(out + o, "1e999", 5);
      o += 5;
      i += 7;
    } else {
      out[o++] = c;
    }
  }
  out[o] = '\0';
  return out;
}

krt_status *keras_parse_json(const char *file, const char *what, const char *text, size_t size,
                             cJSON **out) {
  cJSON *json = cJSON_ParseWithLength(text, size);
  if (!json) {
    char *fixed = fix_python_json(text, size);
    if (!fixed) return krt_error_oom("JSON");
    json = cJSON_Parse(fixed);
    free(fixed);
  }
  if (!json) return krt_error(KRT_ERR_BAD_FILE, "%s: %s is not valid JSON", file, what);
  if (!cJSON_IsObject(json)) {
    cJSON_Delete(json);
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s is not a JSON object", file, what);
  }
  *out = json;
  return NULL;
}

/* ---- tensor references ------------------------------------------------------------------- */

typedef struct ref_list {
  kw_ref *refs;
  int n, cap;
} ref_list;

static int find_layer(const kw_model *m, const char *name) {
  for (int i = 0; i < m->n_layers; i++)
    if (strcmp(m->layers[i].name, name) == 0) return i;
  return -1;
}

/* Appends [layer_name, node, tensor] (a JSON array) to the list. */
static krt_status *add_triple(kw_builder *b, const kw_model *m, const cJSON *triple,
                              const char *user, ref_list *list) {
  const cJSON *name = cJSON_GetArrayItem(triple, 0);
  const cJSON *node = cJSON_GetArrayItem(triple, 1);
  const cJSON *tensor = cJSON_GetArrayItem(triple, 2);
  if (!cJSON_IsString(name) || (node && !cJSON_IsNumber(node)) ||
      (tensor && !cJSON_IsNumber(tensor)))
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s: a tensor reference is not [layer, node, tensor]",
                     b->src->file, user);
  int layer = find_layer(m, name->valuestring);
  if (layer < 0)
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s refers to layer '%s', which the model does not have",
                     b->src->file, user, name->valuestring);
  if (list->n == list->cap) {
    int cap = list->cap ? list->cap * 2 : 4;
    kw_ref *grown = realloc(list->refs, (size_t)cap * sizeof *grown);
    if (!grown) return krt_error_oom("model wiring");
    list->refs = grown;
    list->cap = cap;
  }
  kw_ref *r = &list->refs[list->n++];
  r->layer = layer;
  r->node = node ? node->valueint : 0;
  r->tensor = tensor ? tensor->valueint : 0;
  return NULL;
}

static int is_triple(const cJSON *j) {
  return cJSON_IsArray(j) && cJSON_GetArraySize(j) >= 2 && cJSON_IsString(cJSON_GetArrayItem(j, 0));
}

/* input_layers / output_layers: a list of triples, one triple (Keras 3, single tensor), or a
 * dict of them (Keras 3 dict inputs), in order. */
static krt_status *collect_triples(kw_builder *b, const kw_model *m, const cJSON *j,
                                   const char *user, ref_list *list) {
  if (is_triple(j)) return add_triple(b, m, j, user, list);
  if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) KRT_TRY(collect_triples(b, m, item, user, list));
  }
  return NULL;
}

/* Keras 3: every {"class_name": "__keras_tensor__"} inside args/kwargs, depth first. */
static krt_status *collect_keras3_tensors(kw_builder *b, const kw_model *m, const cJSON *j,
                                          const char *user, ref_list *list) {
  if (cJSON_IsObject(j)) {
    const char *cls = keras_entry_class(j);
    if (cls && strcmp(cls, "__keras_tensor__") == 0) {
      const cJSON *config = cJSON_GetObjectItemCaseSensitive(j, "config");
      const cJSON *history = cJSON_GetObjectItemCaseSensitive(config, "keras_history");
      if (!is_triple(history))
        return krt_error(KRT_ERR_BAD_FILE, "%s: %s: a tensor has no keras_history", b->src->file,
                         user);
      return add_triple(b, m, history, user, list);
    }
  }
  if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) {
      /* A mask is not data: converters that need one read it from the config. */
      if (item->string && strcmp(item->string, "mask") == 0) continue;
      KRT_TRY(collect_keras3_tensors(b, m, item, user, list));
    }
  }
  return NULL;
}

/* tf.keras 2 TFOpLambda / SlicingOpLambda nodes (keras_tfop_visit_tensors). */
typedef struct tfop_refs {
  kw_builder *b;
  const kw_model *m;
  const char *user;
  ref_list *list;
} tfop_refs;

static krt_status *add_tfop_ref(void *user, const cJSON *ref) {
  tfop_refs *t = user;
  return add_triple(t->b, t->m, ref, t->user, t->list);
}

/* One inbound node in either spelling. Keras 1/2: [[layer, node, tensor, {kwargs}], ...], where
 * tf.keras puts further tensors as triples in kwargs ({"y": ["dense", 0, 0]}); tf.keras 2's
 * operation layers (tfop) write the structure of their first argument instead (keras_internal.h).
 */
static krt_status *parse_call(kw_builder *b, const kw_model *m, const cJSON *node, const char *user,
                              int tfop, kw_call *call) {
  ref_list list = {NULL, 0, 0};
  krt_status *s = NULL;
  if (tfop && cJSON_IsArray(node)) {
    tfop_refs t = {b, m, user, &list};
    s = keras_tfop_visit_tensors(node, add_tfop_ref, &t);
  } else if (cJSON_IsObject(node)) {
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(node, "kwargs");
    s = collect_keras3_tensors(b, m, cJSON_GetObjectItemCaseSensitive(node, "args"), user, &list);
    if (!s) s = collect_keras3_tensors(b, m, kwargs, user, &list);
    /* Keras 3 records the mask a layer's call receives (from Masking, Embedding mask_zero, a
     * masked recurrent layer's sequence) as its keyword argument mask: one tensor, kept apart
     * from the inputs, last */
    const cJSON *mask =
        cJSON_IsObject(kwargs) ? cJSON_GetObjectItemCaseSensitive(kwargs, "mask") : NULL;
    const char *mask_class = cJSON_IsObject(mask) ? keras_entry_class(mask) : NULL;
    if (!s && mask_class && strcmp(mask_class, "__keras_tensor__") == 0) {
      const cJSON *history = cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(mask, "config"), "keras_history");
      if (!is_triple(history))
        s = krt_error(KRT_ERR_BAD_FILE, "%s: %s: the mask tensor has no keras_history",
                      b->src->file, user);
      else if (!(s = add_triple(b, m, history, user, &list)))
        call->has_mask = 1;
    }
  } else if (cJSON_IsArray(node)) {
    const cJSON *item;
    cJSON_ArrayForEach(item, node) {
      if (!is_triple(item)) {
        s = krt_error(KRT_ERR_BAD_FILE, "%s: %s: an inbound node is not a list of tensors",
                      b->src->file, user);
        break;
      }
      if ((s = add_triple(b, m, item, user, &list))) break;
      const cJSON *kwargs = cJSON_GetArrayItem(item, 3), *kw;
      if (!cJSON_IsObject(kwargs)) continue;
      cJSON_ArrayForEach(kw, kwargs) {
        if (strcmp(kw->string, "mask") == 0 || !is_triple(kw) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(kw, 1)))
          continue;
        if ((s = add_triple(b, m, kw, user, &list))) break;
      }
      if (s) break;
    }
  } else {
    s = krt_error(KRT_ERR_BAD_FILE, "%s: %s: an inbound node is neither a list nor an object",
                  b->src->file, user);
  }
  if (s) {
    free(list.refs);
    return s;
  }
  call->node = node;
  call->refs = list.refs;
  call->n_refs = list.n;
  return NULL;
}

static krt_status *parse_calls(kw_builder *b, const kw_model *m, kw_layer *l) {
  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(l->entry, "inbound_nodes");
  if (nodes && !cJSON_IsArray(nodes) && !cJSON_IsNull(nodes))
    return krt_error(KRT_ERR_BAD_FILE, "%s: layer '%s' (%s): inbound_nodes is not a list",
                     b->src->file, l->full_name, l->class_name);
  int n = cJSON_IsArray(nodes) ? cJSON_GetArraySize(nodes) : 0;
  if (n == 0) return NULL;
  l->calls = calloc((size_t)n, sizeof *l->calls);
  if (!l->calls) return krt_error_oom("model wiring");
  char user[512];
  snprintf(user, sizeof user, "layer '%s' (%s)", l->full_name, l->class_name);
  const cJSON *node;
  cJSON_ArrayForEach(node, nodes) {
    KRT_TRY(parse_call(b, m, node, user, keras_is_tfop_class(l->class_name),
                       &l->calls[l->n_calls]));
    l->n_calls++;
  }
  return NULL;
}

/* Whether references to a nested model count its construction node (see keras_model.c). The
 * references themselves usually tell: an index equal to the number of calls needs the offset, an
 * index 0 excludes it. Otherwise: Keras 3 Sequential models have no such node; every other model
 * class has one when it was built with an input. */
static int guess_node_offset(const keras_model_source *src, const kw_model *m, int index) {
  int lo = 1 << 30, hi = -1;
  for (int i = 0; i <= m->n_layers; i++) {
    const kw_ref *refs;
    int n;
    if (i < m->n_layers) {
      for (int k = 0; k < m->layers[i].n_calls; k++) {
        refs = m->layers[i].calls[k].refs;
        n = m->layers[i].calls[k].n_refs;
        for (int r = 0; r < n; r++)
          if (refs[r].layer == index) {
            if (refs[r].node < lo) lo = refs[r].node;
            if (refs[r].node > hi) hi = refs[r].node;
          }
      }
    } else {
      for (int r = 0; r < m->n_out; r++)
        if (m->out_refs[r].layer == index) {
          if (m->out_refs[r].node < lo) lo = m->out_refs[r].node;
          if (m->out_refs[r].node > hi) hi = m->out_refs[r].node;
        }
    }
  }
  const kw_layer *l = &m->layers[index];
  if (hi >= l->n_calls) return 1;
  if (lo == 0) return 0;
  int sequential = strcmp(l->class_name, "Sequential") == 0;
  if (src->keras_major >= 3) return sequential ? 0 : 1;
  if (!sequential) return 1;
  const cJSON *inner = keras_model_layers(l->entry);
  const cJSON *first = cJSON_GetArrayItem(inner, 0);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(first, "config");
  return keras_is_input_class(keras_entry_class(first)) ||
         cJSON_GetObjectItemCaseSensitive(cfg, "batch_input_shape") != NULL;
}

/* ---- models ------------------------------------------------------------------------------ */

void kw_free_model(kw_model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_layers; i++) {
    kw_layer *l = &m->layers[i];
    free(l->full_name);
    for (int k = 0; k < l->n_calls; k++) free(l->calls[k].refs);
    free(l->calls);
    kw_free_model(l->nested);
  }
  free(m->layers);
  free(m->in_refs);
  free(m->out_refs);
  free(m->display_name);
  free(m->implicit_input);
  free(m);
}

/* The name Keras gave the implicit input of a Sequential model without an InputLayer entry:
 * Keras 2 "<first layer name>_input"; Keras 1 "<first layer class, lower case>_input_1". */
static char *implicit_input_name(int keras_major, const kw_layer *first) {
  if (keras_major >= 2) return join(first->name, "_input");
  char *lower = join(first->class_name, "_input_1");
  if (lower)
    for (char *p = lower; *p; p++) *p = (char)tolower((unsigned char)*p);
  return lower;
}

static krt_status *parse_layers(kw_builder *b, kw_model *m, const cJSON *layers,
                                const char *prefix) {
  const char *file = b->src->file;
  int n = cJSON_GetArraySize(layers);
  m->layers = calloc((size_t)(n ? n : 1), sizeof *m->layers);
  if (!m->layers) return krt_error_oom("model layers");
  const cJSON *entry;
  cJSON_ArrayForEach(entry, layers) {
    kw_layer *l = &m->layers[m->n_layers];
    l->entry = entry;
    l->name = keras_entry_name(entry);
    l->class_name = keras_entry_class(entry);
    if (!l->name || !l->class_name)
      return krt_error(KRT_ERR_BAD_FILE, "%s: layer %d of model '%s' has no %s", file, m->n_layers,
                       m->display_name, l->name ? "class_name" : "name");
    if (find_layer(m, l->name) >= 0)
      return krt_error(KRT_ERR_BAD_FILE, "%s: model '%s' has two layers named '%s'", file,
                       m->display_name, l->name);
    l->config = cJSON_GetObjectItemCaseSensitive(entry, "config");
    if (!cJSON_IsObject(l->config) && !keras_is_model_class(l->class_name))
      return krt_error(KRT_ERR_BAD_FILE, "%s: layer '%s%s' (%s) has no config object", file, prefix,
                       l->name, l->class_name);
    l->is_input = keras_is_input_class(l->class_name);
    l->record = -1;
    if (!(l->full_name = join(prefix, l->name))) return krt_error_oom("layer name");
    m->n_layers++;
    KRT_TRY(ir_add_layer(b->g, l->full_name, l->class_name, &l->record));
    if (keras_is_model_class(l->class_name)) {
      char *inner_prefix = join(l->full_name, "/");
      if (!inner_prefix) return krt_error_oom("layer name");
      krt_status *s =
          kw_parse_model(b, entry, &m->level, m->n_layers - 1, inner_prefix, &l->nested);
      free(inner_prefix);
      KRT_TRY(s);
    }
  }
  return NULL;
}

krt_status *kw_parse_model(kw_builder *b, const cJSON *model, const keras_level *parent,
                           int position, const char *prefix, kw_model **out) {
  const char *file = b->src->file;
  const char *cls = keras_entry_class(model);
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(model, "config");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(config, "name");
  const cJSON *layers = keras_model_layers(model);
  if (!cls) return krt_error(KRT_ERR_BAD_FILE, "%s: the model config has no class_name", file);
  if (!keras_is_model_class(cls))
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "%s: model class '%s' is neither Sequential nor Functional (a subclassed "
                     "model keeps its graph in Python code, not in the file)",
                     file, cls);
  if (!layers)
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s model '%s' has no layer list", file, cls,
                     prefix[0] ? prefix : (cJSON_IsString(name) ? name->valuestring : ""));
  kw_model *m = calloc(1, sizeof *m);
  if (!m) return krt_error_oom("model");
  m->implicit_record = -1;
  m->name = cJSON_IsString(name) ? name->valuestring : "";
  m->is_sequential = strcmp(cls, "Sequential") == 0;
  m->level.parent = parent;
  m->level.position = position;
  m->level.layers = layers;
  m->level.is_sequential = m->is_sequential;
  size_t plen = strlen(prefix);
  m->display_name = plen ? malloc(plen) : join(m->name, "");
  krt_status *s = NULL;
  if (!m->display_name)
    s = krt_error_oom("model");
  else if (plen) {
    memcpy(m->display_name, prefix, plen - 1); /* "outer/inner/" -> "outer/inner" */
    m->display_name[plen - 1] = '\0';
  }
  /* A top Sequential model without an InputLayer entry: its input record comes first. */
  const cJSON *first = cJSON_GetArrayItem(layers, 0);
  if (!s && m->is_sequential && !parent && first &&
      !keras_is_input_class(keras_entry_class(first))) {
    kw_layer tmp = {0};
    tmp.name = keras_entry_name(first);
    tmp.class_name = keras_entry_class(first);
    if (!tmp.name || !tmp.class_name)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: the first layer of the model has no name or class",
                    file);
    else if (!(m->implicit_input = implicit_input_name(b->src->keras_major, &tmp)))
      s = krt_error_oom("input name");
    else
      s = ir_add_layer(b->g, m->implicit_input, "InputLayer", &m->implicit_record);
  }
  if (!s) s = parse_layers(b, m, layers, prefix);
  if (!s && m->is_sequential && m->n_layers == 0)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: Sequential model '%s' has no layers", file,
                  m->display_name);
  for (int i = 0; i < m->n_layers && !s && !m->is_sequential; i++)
    s = parse_calls(b, m, &m->layers[i]);
  if (!s && !m->is_sequential) {
    ref_list ins = {NULL, 0, 0}, outs = {NULL, 0, 0};
    char user[600];
    snprintf(user, sizeof user, "model '%s'", m->display_name);
    s = collect_triples(b, m, cJSON_GetObjectItemCaseSensitive(config, "input_layers"), user, &ins);
    m->in_refs = ins.refs;
    m->n_in = ins.n;
    if (!s)
      s = collect_triples(b, m, cJSON_GetObjectItemCaseSensitive(config, "output_layers"), user,
                          &outs);
    m->out_refs = outs.refs;
    m->n_out = outs.n;
    for (int i = 0; i < m->n_in && !s; i++)
      if (!m->layers[m->in_refs[i].layer].is_input)
        s = krt_error(KRT_ERR_BAD_FILE,
                      "%s: model '%s' lists '%s' (%s) as an input, not an "
                      "InputLayer",
                      file, m->display_name, m->layers[m->in_refs[i].layer].full_name,
                      m->layers[m->in_refs[i].layer].class_name);
    if (!s && (m->n_in == 0 || m->n_out == 0))
      s = krt_error(KRT_ERR_BAD_FILE, "%s: model '%s' lists no %s", file, m->display_name,
                    m->n_in == 0 ? "input_layers" : "output_layers");
    for (int i = 0; i < m->n_layers && !s; i++)
      if (m->layers[i].nested) m->layers[i].node_offset = guess_node_offset(b->src, m, i);
  }
  if (s) {
    kw_free_model(m);
    return s;
  }
  *out = m;
  return NULL;
}
