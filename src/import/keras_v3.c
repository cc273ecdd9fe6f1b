/* Keras 3 .keras archives (a zip): config.json (the model config), metadata.json
 * (keras_version), model.weights.h5 (read from memory through HDF5's core driver).
 *
 * Weights layout (keras/src/saving/saving_lib.py, _save_state / _save_container_state):
 *   /layers/<key>/vars/0, 1, ...      the layer's own variables in its order
 *   /layers/<key>/<attr>/...          sub-layers (LSTM: cell/vars/...; Bidirectional:
 *                                     forward_layer/..., backward_layer/...)
 *   /layers/<key>/layers/<key>/...    the layers of a nested model
 * <key> is the layer's class in snake_case, made unique within its container with _1, _2, ...
 * in model.layers order (a Sequential model's layers exclude its InputLayer, a Functional
 * model's include them). Keras >= 3.? also records the layer name as attribute "name" of each
 * vars group, which is checked when present. tf.keras 2.13+ wrote the same layout, some versions
 * under _layer_checkpoint_dependencies instead of layers.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/status.h"
#include "import/hdf5_util.h"
#include "import/keras_model.h"

#define MAX_DEPTH 64
#define MAX_PATH 4096
/* Bigger members are not a model we could hold in memory anyway. */
#define MAX_MEMBER_BYTES ((zip_uint64_t)1 << 36)

/* snprintf into a path buffer; 0 when the path did not fit (treated as absent). */
static int set_path(char *out, size_t size, const char *fmt, ...) KRT_PRINTF(3, 4);
static int set_path(char *out, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, size, fmt, ap);
  va_end(ap);
  return n >= 0 && (size_t)n < size;
}

/* ---- zip ---------------------------------------------------------------------------------- */

/* Reads one archive member into a new NUL-terminated buffer; KRT_ERR_NOT_FOUND when absent. */
static krt_status *read_member(const char *path, zip_t *zip, const char *name, char **data,
                               size_t *size) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(zip, name, 0, &st) != 0)
    return krt_error(KRT_ERR_NOT_FOUND, "%s: the archive has no %s", path, name);
  if (!(st.valid & ZIP_STAT_SIZE) || st.size > MAX_MEMBER_BYTES)
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s has no usable size in the archive", path, name);
  char *buf = malloc((size_t)st.size + 1);
  if (!buf) return krt_error_oom("archive member");
  zip_file_t *f = zip_fopen(zip, name, 0);
  if (!f) {
    free(buf);
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s cannot be opened in the archive (%s)", path, name,
                     zip_strerror(zip));
  }
  zip_uint64_t got = 0;
  while (got < st.size) {
    zip_int64_t r = zip_fread(f, buf + got, st.size - got);
    if (r <= 0) break;
    got += (zip_uint64_t)r;
  }
  int failed = got != st.size;
  zip_fclose(f);
  if (failed) {
    free(buf);
    return krt_error(KRT_ERR_BAD_FILE, "%s: %s is truncated or corrupt in the archive", path, name);
  }
  buf[got] = '\0';
  *data = buf;
  *size = (size_t)got;
  return NULL;
}

/* ---- weights ------------------------------------------------------------------------------ */

typedef struct v3_reader {
  hid_t file;
} v3_reader;

/* Keras's naming.to_snake_case: drop non-word characters, then "(.)([A-Z][a-z]+)" -> "\1_\2",
 * then "([a-z])([A-Z])" -> "\1_\2", then lower case (each pass left to right, non-overlapping). */
static void snake_case(const char *in, char *out, size_t size) {
  char a[256], b[512];
  size_t n = 0;
  for (const char *p = in; *p && n + 1 < sizeof a; p++)
    if (isalnum((unsigned char)*p) || *p == '_') a[n++] = *p;
  a[n] = '\0';
  size_t o = 0;
  for (size_t i = 0; i < n && o + 3 < sizeof b;) {
    if (i + 2 < n && isupper((unsigned char)a[i + 1]) && islower((unsigned char)a[i + 2])) {
      b[o++] = a[i];
      b[o++] = '_';
      b[o++] = a[i + 1];
      size_t j = i + 2;
      while (j < n && islower((unsigned char)a[j]) && o + 1 < sizeof b) b[o++] = a[j++];
      i = j;
    } else {
      b[o++] = a[i++];
    }
  }
  b[o] = '\0';
  size_t w = 0;
  for (size_t i = 0; b[i] && w + 2 < size;) {
    if (islower((unsigned char)b[i]) && isupper((unsigned char)b[i + 1])) {
      out[w++] = b[i];
      out[w++] = '_';
      out[w++] = (char)tolower((unsigned char)b[i + 1]);
      i += 2;
    } else {
      out[w++] = (char)tolower((unsigned char)b[i]);
      i++;
    }
  }
  out[w] = '\0';
}

/* The key Keras saved entry `position` of `layers` under, counting only the entries that are
 * tracked (InputLayers only when `with_inputs`); "" for an entry that is not tracked. */
static void tracked_key(const cJSON *layers, int position, int with_inputs, char *key,
                        size_t size) {
  char base[256], other[256];
  const cJSON *entry = cJSON_GetArrayItem(layers, position);
  key[0] = '\0';
  if (!with_inputs && keras_is_input_class(keras_entry_class(entry))) return;
  snake_case(keras_entry_class(entry) ? keras_entry_class(entry) : "", base, sizeof base);
  int seen = 0;
  for (int i = 0; i < position; i++) {
    const cJSON *e = cJSON_GetArrayItem(layers, i);
    if (!with_inputs && keras_is_input_class(keras_entry_class(e))) continue;
    snake_case(keras_entry_class(e) ? keras_entry_class(e) : "", other, sizeof other);
    if (strcmp(base, other) == 0) seen++;
  }
  if (seen)
    set_path(key, size, "%s_%d", base, seen);
  else
    set_path(key, size, "%s", base);
}

/* The "name" attribute of <group>/vars (Keras >= 3.?), or NULL. */
static char *recorded_name(hid_t file, const char *group) {
  char vars[MAX_PATH];
  if (!set_path(vars, sizeof vars, "%s/vars", group) || !h5u_is_group(file, vars)) return NULL;
  hid_t g = H5Gopen2(file, vars, H5P_DEFAULT);
  if (g < 0) return NULL;
  char *name = NULL;
  if (h5u_has_attr(g, "name")) krt_status_release(h5u_read_string_attr(g, "name", &name));
  H5Gclose(g);
  return name;
}

/* The children of group `path` (malloc'd names; the caller frees them with h5u_free_strings);
 * 0 when the group cannot be opened or listed, which callers treat as "not here". */
static int list_group(hid_t file, const char *path, char ***children, int *n) {
  hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
  if (g < 0) return 0;
  krt_status *s = h5u_list_children(g, children, n);
  H5Gclose(g);
  if (s) {
    krt_status_release(s);
    return 0;
  }
  return 1;
}

/* The group under `container` whose recorded name is `name`; 0 when there is none. */
static int find_by_recorded_name(hid_t file, const char *container, const char *name, char *out,
                                 size_t size) {
  char **children = NULL;
  int n = 0, found = 0;
  if (!list_group(file, container, &children, &n)) return 0;
  for (int i = 0; i < n && !found; i++) {
    char path[MAX_PATH];
    if (!set_path(path, sizeof path, "%s/%s", container, children[i])) continue;
    char *recorded = recorded_name(file, path);
    if (recorded && strcmp(recorded, name) == 0) {
      set_path(out, size, "%s", path);
      found = 1;
    }
    free(recorded);
  }
  h5u_free_strings(children, n);
  return found;
}

/* Finds the group of entry `position` of `level` under the model group `parent` ("" at the top)
 * into out; 0 when the file has none for it. */
static int locate_layer(hid_t file, const char *parent, const keras_level *level, int position,
                        char *out, size_t size) {
  const char *containers[] = {"layers", "_layer_checkpoint_dependencies"};
  const char *name = keras_entry_name(cJSON_GetArrayItem(level->layers, position));
  for (int c = 0; c < 2; c++) {
    char container[MAX_PATH];
    if (!set_path(container, sizeof container, "%s%s%s", parent, parent[0] ? "/" : "",
                  containers[c]) ||
        !h5u_is_group(file, container))
      continue;
    /* Keras's own rule first, then the other choice about InputLayers. */
    for (int attempt = 0; attempt < 2; attempt++) {
      int with_inputs = attempt == 0 ? !level->is_sequential : level->is_sequential;
      char key[300];
      tracked_key(level->layers, position, with_inputs, key, sizeof key);
      if (!key[0]) continue;
      if (!set_path(out, size, "%s/%s", container, key) || !h5u_is_group(file, out)) continue;
      char *recorded = name ? recorded_name(file, out) : NULL;
      int agrees = !recorded || strcmp(recorded, name) == 0;
      free(recorded);
      if (agrees) return 1;
    }
    if (name && find_by_recorded_name(file, container, name, out, size)) return 1;
  }
  return 0;
}

/* Sub-layer groups in the order the layer lists its weights (layer.weights), which is not the
 * alphabetical order they are saved in: forward before backward, query/key/value/output. */
static int sublayer_rank(const char *name) {
  static const char *order[] = {"forward_layer", "backward_layer", "query_dense",
                                "key_dense",     "value_dense",    "output_dense"};
  while (*name == '_') name++;
  for (int i = 0; i < (int)(sizeof order / sizeof *order); i++)
    if (strcmp(name, order[i]) == 0) return i;
  return 100;
}

static int compare_sublayers(const void *pa, const void *pb) {
  const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
  int ra = sublayer_rank(a), rb = sublayer_rank(b);
  if (ra != rb) return ra - rb;
  int private_a = a[0] == '_', private_b = b[0] == '_';
  if (private_a != private_b) return private_a - private_b; /* Keras visits _private last */
  return strcmp(a, b);
}

static int compare_indices(const void *pa, const void *pb) {
  const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
  long ia = strtol(a, NULL, 10), ib = strtol(b, NULL, 10);
  return ia < ib ? -1 : ia > ib;
}

typedef struct array_list {
  keras_array *items;
  int n, cap;
} array_list;

static krt_status *push_array(array_list *list, hid_t file, const char *path, const char *name) {
  if (list->n == list->cap) {
    int cap = list->cap ? list->cap * 2 : 8;
    keras_array *grown = realloc(list->items, (size_t)cap * sizeof *grown);
    if (!grown) return krt_error_oom("weights");
    list->items = grown;
    list->cap = cap;
  }
  keras_array *a = &list->items[list->n];
  KRT_TRY(h5u_read_float_dataset(file, path, a));
  char *short_name = malloc(strlen(name) + 1);
  if (!short_name) {
    free(a->name);
    free(a->data);
    return krt_error_oom("weights");
  }
  strcpy(short_name, name);
  free(a->name);
  a->name = short_name;
  list->n++;
  return NULL;
}

/* Collects <group>/vars/0.. then each sub-layer's, recursively; names are relative to the
 * layer ("0", "cell/1", "forward_layer/cell/0"). */
static krt_status *collect_vars(hid_t file, const char *group, const char *rel, int depth,
                                array_list *list) {
  if (depth > MAX_DEPTH) return krt_error(KRT_ERR_BAD_FILE, "'%s' is nested too deeply", group);
  hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
  if (g < 0) return krt_error(KRT_ERR_BAD_FILE, "group '%s' cannot be opened", group);
  char **children = NULL;
  int n = 0;
  krt_status *s = h5u_list_children(g, &children, &n);
  H5Gclose(g);
  if (s) return s;
  char path[MAX_PATH], name[MAX_PATH];
  if (set_path(path, sizeof path, "%s/vars", group) && h5u_is_group(file, path)) {
    hid_t vars = H5Gopen2(file, path, H5P_DEFAULT);
    char **items = NULL;
    int m = 0;
    s = vars < 0 ? krt_error(KRT_ERR_BAD_FILE, "'%s' cannot be opened", path)
                 : h5u_list_children(vars, &items, &m);
    if (vars >= 0) H5Gclose(vars);
    if (!s && m > 1) qsort(items, (size_t)m, sizeof *items, compare_indices);
    for (int i = 0; i < m && !s; i++) {
      if (!set_path(path, sizeof path, "%s/vars/%s", group, items[i]) ||
          !set_path(name, sizeof name, "%s%s", rel, items[i]))
        s = krt_error(KRT_ERR_BAD_FILE, "a weight path under '%s' is too long", group);
      else
        s = push_array(list, file, path, name);
    }
    h5u_free_strings(items, m);
  }
  /* n > 1: an empty group (nothing saved for the layer) lists no array, and qsort wants one. */
  if (!s && n > 1) qsort(children, (size_t)n, sizeof *children, compare_sublayers);
  for (int i = 0; i < n && !s; i++) {
    if (strcmp(children[i], "vars") == 0) continue;
    if (!set_path(path, sizeof path, "%s/%s", group, children[i]) ||
        !set_path(name, sizeof name, "%s%s/", rel, children[i]) || !h5u_is_group(file, path))
      continue;
    s = collect_vars(file, path, name, depth + 1, list);
  }
  h5u_free_strings(children, n);
  return s;
}

/* A model object used in two places of a config is saved once, where Keras met it first. Finds
 * the group of a nested model named `name` anywhere below `root` by its recorded name. */
static int find_model_anywhere(hid_t file, const char *root, const char *name, int depth, char *out,
                               size_t size) {
  if (depth > MAX_DEPTH) return 0;
  char **children = NULL;
  int n = 0, found = 0;
  if (!list_group(file, root[0] ? root : "/", &children, &n)) return 0;
  for (int i = 0; i < n && !found; i++) {
    char path[MAX_PATH], layers[MAX_PATH];
    if (strcmp(children[i], "vars") == 0 ||
        !set_path(path, sizeof path, "%s%s%s", root, root[0] ? "/" : "", children[i]) ||
        !h5u_is_group(file, path))
      continue;
    char *recorded = recorded_name(file, path);
    if (recorded && strcmp(recorded, name) == 0 &&
        set_path(layers, sizeof layers, "%s/layers", path) && h5u_is_group(file, layers))
      found = set_path(out, size, "%s", path);
    free(recorded);
    if (!found) found = find_model_anywhere(file, path, name, depth + 1, out, size);
  }
  h5u_free_strings(children, n);
  return found;
}

static krt_status *v3_read_weights(void *self, const keras_level *level, int position,
                                   keras_array **arrays, int *n) {
  v3_reader *r = self;
  const keras_level *chain[MAX_DEPTH];
  int pos[MAX_DEPTH], depth = 0;
  for (const keras_level *l = level; l; l = l->parent) {
    if (depth == MAX_DEPTH) return krt_error(KRT_ERR_UNSUPPORTED, "models nested too deeply");
    chain[depth] = l;
    pos[depth] = l == level ? position : chain[depth - 1]->position;
    depth++;
  }
  *arrays = NULL;
  *n = 0;
  char group[MAX_PATH] = "";
  for (int d = depth - 1; d >= 0; d--) {
    char next[MAX_PATH];
    if (!locate_layer(r->file, group, chain[d], pos[d], next, sizeof next)) {
      const cJSON *entry = cJSON_GetArrayItem(chain[d]->layers, pos[d]);
      const char *name = keras_entry_name(entry);
      if (d == 0 || !name || !find_model_anywhere(r->file, "", name, 0, next, sizeof next))
        return NULL;
    }
    set_path(group, sizeof group, "%s", next);
  }
  array_list list = {NULL, 0, 0};
  krt_status *s = collect_vars(r->file, group, "", 0, &list);
  if (s) {
    keras_arrays_free(list.items, list.n);
    return s;
  }
  *arrays = list.items;
  *n = list.n;
  return NULL;
}

/* ---- the archive -------------------------------------------------------------------------- */

/* Opens model.weights.h5 from memory (no temporary file). */
static krt_status *open_weights_image(const char *path, void *image, size_t size, hid_t *out) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return krt_error(KRT_ERR_INTERNAL, "%s: HDF5 property list failed", path);
  hid_t file = -1;
  if (H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 && H5Pset_file_image(fapl, image, size) >= 0)
    file = H5Fopen("model.weights.h5", H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (file < 0)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: model.weights.h5 in the archive is not a readable "
                     "HDF5 file (truncated or corrupt?)",
                     path);
  *out = file;
  return NULL;
}

/* keras_version and backend from metadata.json (both optional). */
static void read_metadata(const char *path, zip_t *zip, char **version, char **backend) {
  char *text = NULL;
  size_t size = 0;
  cJSON *meta = NULL;
  krt_status *s = read_member(path, zip, "metadata.json", &text, &size);
  if (!s) s = keras_parse_json(path, "metadata.json", text, size, &meta);
  krt_status_release(s);
  free(text);
  const char *keys[2] = {"keras_version", "backend"};
  char **outs[2] = {version, backend};
  for (int k = 0; k < 2; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, keys[k]);
    *outs[k] = NULL;
    if (cJSON_IsString(v) && (*outs[k] = malloc(strlen(v->valuestring) + 1)))
      strcpy(*outs[k], v->valuestring);
  }
  cJSON_Delete(meta);
}

static krt_status *import_archive(const char *path, zip_t *zip, const import_options *options,
                                  ir_graph **out) {
  char *text = NULL, *image = NULL, *version = NULL, *backend = NULL;
  size_t size = 0, image_size = 0;
  cJSON *model = NULL;
  v3_reader reader = {-1};
  krt_status *s = read_member(path, zip, "config.json", &text, &size);
  if (s && krt_status_code(s) == KRT_ERR_NOT_FOUND) {
    krt_status_release(s);
    s = krt_error(KRT_ERR_BAD_FILE, "%s: a zip archive without config.json is not a .keras model",
                  path);
  }
  if (!s) s = keras_parse_json(path, "config.json", text, size, &model);
  if (!s) {
    read_metadata(path, zip, &version, &backend);
    s = read_member(path, zip, "model.weights.h5", &image, &image_size);
    if (s && krt_status_code(s) == KRT_ERR_NOT_FOUND) {
      krt_status_release(s);
      s = krt_error(KRT_ERR_BAD_FILE,
                    "%s: the archive has no model.weights.h5 (sharded or npz "
                    "weights are not supported)",
                    path);
    }
  }
  if (!s) s = open_weights_image(path, image, image_size, &reader.file);
  if (!s &&
      (s = h5u_check_file_global_heaps(reader.file, (const unsigned char *)image, image_size)))
    s = krt_error_wrap(s, "%s: model.weights.h5: ", path);
  free(image); /* HDF5 copied the image */
  if (!s) {
    keras_model_source src;
    memset(&src, 0, sizeof src);
    src.file = path;
    src.model = model;
    src.config_what = "config.json";
    src.config_text = text;
    src.config_size = size;
    src.keras_major = keras_major_from_version(version, 3);
    src.backend = backend;
    src.options = options;
    src.weights.self = &reader;
    src.weights.read = v3_read_weights;
    s = keras_import_graph(&src, out);
  }
  if (reader.file >= 0) H5Fclose(reader.file);
  free(text);
  free(version);
  free(backend);
  cJSON_Delete(model);
  return s;
}

krt_status *import_keras_v3(const char *path, const import_options *options, ir_graph **out) {
  int err = 0;
  zip_t *zip = zip_open(path, ZIP_RDONLY, &err);
  if (!zip) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    krt_code code = err == ZIP_ER_NOENT || err == ZIP_ER_OPEN ? KRT_ERR_IO : KRT_ERR_BAD_FILE;
    krt_status *s =
        krt_error(code, "%s: not a readable .keras archive (%s)", path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return s;
  }
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  krt_status *s = import_archive(path, zip, options, out);
  h5u_quiet_end(&quiet);
  zip_discard(zip);
  return s;
}
