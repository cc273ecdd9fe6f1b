/* krt_engine: finishing a built or loaded graph, saving and loading .krt files, and the queries.
 * Nothing here changes an engine after engine_finish, so contexts on other threads may read it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "core/status.h"

#define NODE_DETAIL_BYTES 1024

/* The node's attributes and fused layers; a node with several outputs first lists them, since
 * krt_layer_info's dims give only the first: "outputs: split:0 [Nx2], split:1 [Nx3]; axis=1". */
static char *node_detail(const ir_graph *g, const ir_node *n) {
  char attrs[NODE_DETAIL_BYTES], outputs[NODE_DETAIL_BYTES];
  attrs[0] = outputs[0] = '\0';
  ir_format_attrs(g, n, attrs, sizeof attrs);
  if (n->n_outputs > 1) {
    size_t used = (size_t)snprintf(outputs, sizeof outputs, "outputs:");
    for (int k = 0; k < n->n_outputs && used < sizeof outputs; k++) {
      const ir_value *v = &g->values[n->outputs[k]];
      char dims[160];
      ir_format_value_dims(v, dims, sizeof dims);
      int w = snprintf(outputs + used, sizeof outputs - used, "%s %s %s", k ? "," : "", v->name,
                       dims);
      if (w < 0) break;
      used += (size_t)w;
    }
  }
  size_t fused = n->fused ? strlen(n->fused) : 0;
  size_t size = strlen(outputs) + strlen(attrs) + fused + 16;
  char *text = malloc(size);
  if (!text) return NULL;
  size_t used = (size_t)snprintf(text, size, "%s%s%s", outputs, outputs[0] && attrs[0] ? "; " : "",
                                 attrs);
  if (fused) snprintf(text + used, size - used, "%sfused: %s", used ? " " : "", n->fused);
  return text;
}

/* Appends " [note]" to node i's detail string. */
static krt_status *append_note(krt_engine *e, int i, const char *note) {
  size_t size = strlen(e->node_details[i]) + strlen(note) + 8;
  char *text = malloc(size);
  if (!text) return krt_error_oom("engine node details");
  snprintf(text, size, "%s%s[%s]", e->node_details[i], e->node_details[i][0] ? " " : "", note);
  free(e->node_details[i]);
  e->node_details[i] = text;
  return NULL;
}

/* Names, on each Concat, the inputs the plan has their producers write in place. */
static krt_status *note_concats_in_place(krt_engine *e) {
  const ir_graph *g = e->graph;
  if (!e->plan.n_views) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_CONCAT) continue;
    char note[256];
    int used = snprintf(note, sizeof note, "written in place:"), count = 0;
    for (int k = 0; k < n->n_inputs && used < (int)sizeof note; k++) {
      int x = n->inputs[k];
      if (e->plan.view_of[x] != n->outputs[0]) continue;
      int p = g->values[x].producer;
      used += snprintf(note + used, sizeof note - (size_t)used, "%s%s", count ? ", " : " ",
                       p >= 0 && g->nodes[p].name ? g->nodes[p].name : g->values[x].name);
      count++;
    }
    if (!count) continue;
    if (used < (int)sizeof note && count < n->n_inputs)
      snprintf(note + used, sizeof note - (size_t)used, " (%d of %d inputs)", count, n->n_inputs);
    KRT_TRY(append_note(e, i, note));
  }
  return NULL;
}

/* Appends the backend's note on node i (its tuned choice) to the node's detail string. */
static krt_status *add_backend_notes(krt_engine *e) {
  if (!e->backend->engine_node_note) return NULL;
  for (int i = 0; i < e->graph->n_nodes; i++) {
    char note[256] = "";
    e->backend->engine_node_note(e->backend_state, i, note, sizeof note);
    if (note[0]) KRT_TRY(append_note(e, i, note));
  }
  return NULL;
}

/* Prepares the backend; at a build (o set or `building`) it tunes and the choices go to meta. */
static krt_status *prepare_backend(krt_engine *e, const krt_build_options *o, int building) {
  const krt_backend *b = e->backend;
  if (!b->engine_prepare_ex) return b->engine_prepare(e->graph, &e->plan, &e->backend_state);
  backend_engine_args args;
  memset(&args, 0, sizeof args);
  args.graph = e->graph;
  args.plan = &e->plan;
  args.precision = e->meta.precision;
  args.tune = building;
  args.tuning = building ? NULL : e->meta.tuning;
  args.tuning_size = building ? 0 : e->meta.tuning_size;
  args.tuned_device = building ? "" : e->meta.device_name;
  if (o) {
    args.timing_cache = o->timing_cache;
    args.progress = o->progress;
    args.progress_user = o->progress_user;
  }
  KRT_TRY(b->engine_prepare_ex(&args, &e->backend_state));
  if (!building) return NULL;
  if (b->engine_device_name)
    snprintf(e->meta.device_name, sizeof e->meta.device_name, "%s",
             b->engine_device_name(e->backend_state));
  if (b->engine_tuning) {
    void *blob = NULL;
    size_t size = 0;
    KRT_TRY(b->engine_tuning(e->backend_state, &blob, &size));
    free(e->tuning_blob);
    e->tuning_blob = blob;
    e->meta.tuning = blob;
    e->meta.tuning_size = blob ? size : 0;
  }
  return NULL;
}

static krt_status *finish(krt_engine *e, const krt_build_options *o, int building) {
  ir_graph *g = e->graph;
  KRT_TRY(krt_backend_for_device(e->meta.device, &e->backend));
  if (e->meta.precision != KRT_PRECISION_FP32 && e->backend->device == KRT_DEVICE_CPU)
    return krt_error(KRT_ERR_UNSUPPORTED, "precision %s is not supported on the CPU",
                     engine_precision_name(e->meta.precision));
  if (e->meta.max_batch < 1)
    return krt_error(KRT_ERR_BAD_FILE, "max batch %lld is not positive",
                     (long long)e->meta.max_batch);
  for (int i = 0; i < g->n_nodes; i++) KRT_TRY(e->backend->check_node(g, &g->nodes[i]));

  e->node_details = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *e->node_details);
  if (!e->node_details) return krt_error_oom("engine node details");
  for (int i = 0; i < g->n_nodes; i++)
    if (!(e->node_details[i] = node_detail(g, &g->nodes[i])))
      return krt_error_oom("engine node details");
  e->weight_bytes = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].data) e->weight_bytes += ir_value_elements(&g->values[v], 1) * 4;

  plan_options plan_opts = {e->backend->writes_rows};
  KRT_TRY(plan_memory(g, e->meta.max_batch, &plan_opts, &e->plan));
  KRT_TRY(note_concats_in_place(e));
  KRT_TRY(prepare_backend(e, o, building));
  if (e->backend->engine_weight_bytes)
    e->weight_bytes = (int64_t)e->backend->engine_weight_bytes(e->backend_state);
  return add_backend_notes(e);
}

krt_status *engine_finish(krt_engine *e) {
  return finish(e, NULL, 0);
}

krt_status *engine_finish_build(krt_engine *e, const krt_build_options *o) {
  return finish(e, o, 1);
}

void krt_engine_release(krt_engine *engine) {
  if (!engine) return;
  if (engine->backend && engine->backend_state) engine->backend->engine_release(engine->backend_state);
  plan_free(&engine->plan);
  if (engine->node_details)
    for (int i = 0; i < engine->graph->n_nodes; i++) free(engine->node_details[i]);
  free(engine->node_details);
  /* The graph's constants may point into the file: free the graph first. */
  ir_graph_free(engine->graph);
  if (engine->file_data) {
    if (engine->file_is_mapped) munmap(engine->file_data, engine->file_size);
    else free(engine->file_data);
  }
  free(engine->tuning_blob);
  free(engine);
}

/* ---- save / serialize ---------------------------------------------------------------------- */

krt_status *krt_engine_serialize(const krt_engine *engine, void **data, size_t *size) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_serialize: engine is NULL");
  if (!data) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_serialize: data is NULL");
  if (!size) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_serialize: size is NULL");
  return engine_file_write(engine->graph, &engine->meta, data, size);
}

static krt_status *write_all(int fd, const void *data, size_t size, const char *path) {
  const char *p = data;
  while (size > 0) {
    ssize_t w = write(fd, p, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return krt_error(KRT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    p += w;
    size -= (size_t)w;
  }
  return NULL;
}

krt_status *krt_engine_save(const krt_engine *engine, const char *path) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_save: engine is NULL");
  if (!path) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_save: path is NULL");
  void *data = NULL;
  size_t size = 0;
  KRT_TRY(engine_file_write(engine->graph, &engine->meta, &data, &size));

  /* Written beside the target and renamed over it, so an engine mapped from the same path (or a
   * reader of it) never sees a half-written file. */
  size_t n = strlen(path) + 48;
  char *tmp = malloc(n);
  if (!tmp) {
    free(data);
    return krt_error_oom("engine save");
  }
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, n, "%s.tmp%ld.%d", path, (long)getpid(), attempt);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  krt_status *s = NULL;
  if (fd < 0) {
    s = krt_error(KRT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  } else {
    s = write_all(fd, data, size, path);
    if (close(fd) != 0 && !s) s = krt_error(KRT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (!s && rename(tmp, path) != 0)
      s = krt_error(KRT_ERR_IO, "%s: cannot replace: %s", path, strerror(errno));
    if (s) unlink(tmp);
  }
  free(tmp);
  free(data);
  return s;
}

/* ---- load ---------------------------------------------------------------------------------- */

/* Takes ownership of data (mapped or malloc'd) on failure too. */
static krt_status *engine_from_bytes(void *data, size_t size, int mapped, const char *what,
                                     krt_engine **out) {
  krt_engine *e = calloc(1, sizeof *e);
  if (!e) {
    if (mapped) munmap(data, size);
    else free(data);
    return krt_error_oom("engine");
  }
  e->file_data = data;
  e->file_size = size;
  e->file_is_mapped = mapped;

  static const unsigned char hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  krt_status *s = NULL;
  if ((size >= 8 && memcmp(data, hdf5_magic, 8) == 0) || (size >= 4 && memcmp(data, "PK\3\4", 4) == 0))
    s = krt_error(KRT_ERR_BAD_FILE,
                  "%s: this is a Keras model, not a krt engine; build an engine from it first "
                  "(krt build, or krt_engine_build)", what);
  if (!s) s = engine_file_read(data, size, what, &e->graph, &e->meta);
  if (!s) s = krt_error_wrap(engine_finish(e), "%s: ", what);
  if (s) {
    krt_engine_release(e);
    return s;
  }
  *out = e;
  return NULL;
}

/* Reads the whole file into memory, for when it cannot be mapped. */
static krt_status *read_file(int fd, const char *path, size_t size, void **out) {
  void *buf = NULL;
  if (posix_memalign(&buf, KRT_ENGINE_ALIGNMENT, size ? size : 1) != 0)
    return krt_error(KRT_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes to read it", path, size);
  size_t done = 0;
  while (done < size) {
    ssize_t r = pread(fd, (char *)buf + done, size - done, (off_t)done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(buf);
      return krt_error(KRT_ERR_IO, "%s: cannot read: %s", path, r < 0 ? strerror(errno) : "file shrank");
    }
    done += (size_t)r;
  }
  *out = buf;
  return NULL;
}

krt_status *krt_engine_load(const char *path, krt_engine **out) {
  if (!path) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_load: path is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_load: out is NULL");
  int fd = open(path, O_RDONLY);
  if (fd < 0) return krt_error(KRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    krt_status *s = krt_error(KRT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return krt_error(KRT_ERR_IO, "%s: not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  if (size == 0) {
    close(fd);
    return krt_error(KRT_ERR_BAD_FILE, "%s: the file is empty (not a krt engine)", path);
  }
  /* Mapped read-only and private: constants are used in place, pages shared between processes. */
  void *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int mapped = data != MAP_FAILED;
  krt_status *s = NULL;
  if (!mapped) s = read_file(fd, path, size, &data);
  close(fd);
  if (s) return s;
  return engine_from_bytes(data, size, mapped, path, out);
}

krt_status *krt_engine_load_memory(const void *data, size_t size, krt_engine **out) {
  if (!data) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_load_memory: data is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_load_memory: out is NULL");
  if (size == 0)
    return krt_error(KRT_ERR_BAD_FILE, "memory: the buffer is empty (not a krt engine)");
  void *copy = NULL;
  /* Aligned like a mapping so the constants inside are aligned as the file promises. */
  if (posix_memalign(&copy, KRT_ENGINE_ALIGNMENT, size) != 0)
    return krt_error(KRT_ERR_OUT_OF_MEMORY, "memory: cannot allocate %zu bytes for the engine", size);
  memcpy(copy, data, size);
  return engine_from_bytes(copy, size, 0, "memory", out);
}

/* ---- queries ------------------------------------------------------------------------------- */

const ir_value *engine_input_value(const krt_engine *e, size_t index) {
  return &e->graph->values[e->graph->inputs[index]];
}

const ir_value *engine_output_value(const krt_engine *e, size_t index) {
  return &e->graph->values[e->graph->outputs[index]];
}

size_t krt_engine_input_count(const krt_engine *engine) {
  return engine ? (size_t)engine->graph->n_inputs : 0;
}

size_t krt_engine_output_count(const krt_engine *engine) {
  return engine ? (size_t)engine->graph->n_outputs : 0;
}

krt_status *krt_engine_input_info(const krt_engine *engine, size_t index, krt_tensor_info *out) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_input_info: engine is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_input_info: out is NULL");
  if (index >= (size_t)engine->graph->n_inputs)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_engine_input_info: index %zu is out of range (the engine has %d inputs)",
                     index, engine->graph->n_inputs);
  const ir_value *v = engine_input_value(engine, index);
  api_tensor_info(v, v->name, out);
  return NULL;
}

krt_status *krt_engine_output_info(const krt_engine *engine, size_t index, krt_tensor_info *out) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_output_info: engine is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_output_info: out is NULL");
  if (index >= (size_t)engine->graph->n_outputs)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_engine_output_info: index %zu is out of range (the engine has %d outputs)",
                     index, engine->graph->n_outputs);
  api_tensor_info(engine_output_value(engine, index), engine->graph->output_names[index], out);
  return NULL;
}

krt_status *krt_engine_output_node(const krt_engine *engine, size_t index, size_t *node) {
  static const char *fn = "krt_engine_output_node";
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: engine is NULL", fn);
  if (!node) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: node is NULL", fn);
  const ir_graph *g = engine->graph;
  if (index >= (size_t)g->n_outputs)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: index %zu is out of range (the engine has %d outputs)", fn, index,
                     g->n_outputs);
  int producer = g->values[g->outputs[index]].producer;
  if (producer < 0 || producer >= g->n_nodes)
    return krt_error(KRT_ERR_NOT_FOUND,
                     "%s: output '%s' is computed by no node (it is an input or a constant)", fn,
                     g->output_names[index]);
  *node = (size_t)producer;
  return NULL;
}

static krt_status *find_name(const char *fn, const char *what, const char *const *names, size_t n,
                             const char *name, size_t *index) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) {
      *index = i;
      return NULL;
    }
  char list[512];
  api_join_names(list, sizeof list, names, n);
  return krt_error(KRT_ERR_NOT_FOUND, "%s: the engine has no %s '%s'; its %ss are: %s", fn, what,
                   name, what, list);
}

krt_status *krt_engine_find_input(const krt_engine *engine, const char *name, size_t *index) {
  static const char *fn = "krt_engine_find_input";
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: engine is NULL", fn);
  if (!name) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: name is NULL", fn);
  if (!index) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index is NULL", fn);
  const ir_graph *g = engine->graph;
  const char **names = malloc((size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof *names);
  if (!names) return krt_error_oom("input names");
  for (int i = 0; i < g->n_inputs; i++) names[i] = g->values[g->inputs[i]].name;
  krt_status *s = find_name(fn, "input", names, (size_t)g->n_inputs, name, index);
  free(names);
  return s;
}

krt_status *krt_engine_find_output(const krt_engine *engine, const char *name, size_t *index) {
  static const char *fn = "krt_engine_find_output";
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: engine is NULL", fn);
  if (!name) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: name is NULL", fn);
  if (!index) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index is NULL", fn);
  const ir_graph *g = engine->graph;
  return find_name(fn, "output", (const char *const *)g->output_names, (size_t)g->n_outputs, name,
                   index);
}

int64_t krt_engine_max_batch(const krt_engine *engine) {
  return engine ? engine->meta.max_batch : 0;
}

krt_device krt_engine_device(const krt_engine *engine) {
  return engine ? engine->meta.device : KRT_DEVICE_CPU;
}

krt_precision krt_engine_precision(const krt_engine *engine) {
  return engine ? engine->meta.precision : KRT_PRECISION_FP32;
}

size_t krt_engine_node_count(const krt_engine *engine) {
  return engine ? (size_t)engine->graph->n_nodes : 0;
}

size_t krt_engine_layer_count(const krt_engine *engine) {
  return engine ? (size_t)engine->graph->n_layers : 0;
}

static void set_value_dims(const ir_value *v, krt_layer_info *out) {
  krt_tensor_info info;
  api_tensor_info(v, v->name, &info);
  out->rank = info.rank;
  memcpy(out->dims, info.dims, sizeof out->dims);
}

krt_status *krt_engine_node(const krt_engine *engine, size_t index, krt_layer_info *out) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_node: engine is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_node: out is NULL");
  const ir_graph *g = engine->graph;
  if (index >= (size_t)g->n_nodes)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_engine_node: index %zu is out of range (the engine has %d nodes)", index,
                     g->n_nodes);
  const ir_node *n = &g->nodes[index];
  memset(out, 0, sizeof *out);
  out->name = n->name;
  out->kind = ir_op_name(n->op);
  out->detail = engine->node_details[index];
  set_value_dims(&g->values[n->outputs[0]], out); /* the first; detail lists them all */
  for (int i = 0; i < n->n_inputs; i++) {
    const ir_value *in = &g->values[n->inputs[i]];
    if (in->data) out->param_count += ir_value_elements(in, 1);
  }
  return NULL;
}

krt_status *krt_engine_layer(const krt_engine *engine, size_t index, krt_layer_info *out) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_engine_layer: engine is NULL");
  return api_layer_info(engine->graph, index, "krt_engine_layer", "engine", out);
}

int64_t krt_engine_activation_bytes(const krt_engine *engine) {
  return engine ? engine->plan.arena_bytes : 0;
}

int64_t krt_engine_weight_bytes(const krt_engine *engine) {
  return engine ? engine->weight_bytes : 0;
}

const char *krt_engine_device_name(const krt_engine *engine) {
  return engine ? engine->meta.device_name : "";
}

const char *krt_engine_run_device_name(const krt_engine *engine) {
  if (!engine || !engine->backend || !engine->backend->engine_device_name ||
      !engine->backend_state)
    return "";
  return engine->backend->engine_device_name(engine->backend_state);
}
