/* Legacy Keras HDF5 model files (Keras 1, Keras 2, tf.keras, Keras 3's legacy .h5 save).
 *
 * Layout (keras/src/legacy/saving/legacy_h5_format.py and its Keras 1/2 ancestors):
 *   /                         attrs model_config (JSON), keras_version, backend (absent in Keras 1)
 *   /model_weights            attrs layer_names, keras_version, backend
 *   /model_weights/<layer>    attr weight_names: paths relative to this group, in the layer's
 *                             weight order: "conv1/kernel:0" (Keras 2), "conv1_W" (Keras 1),
 *                             "seq/conv1/kernel" (Keras 3: prefixed by the enclosing model)
 * A nested model has one group holding the weights of all its layers, named after the inner layer
 * ("i1/kernel:0") or with the model path in front ("inner/i1/kernel"); Keras 1 writes
 * "<inner layer>_W" without any slash. Weights-only files (save_weights) have no model_config.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "import/hdf5_util.h"
#include "import/keras_model.h"

typedef struct h5_reader {
  hid_t weights; /* /model_weights, or -1 when the file has none */
} h5_reader;

#define MAX_DEPTH 64

/* Whether path `s` starts with the entry's own name (2) or the name of a layer nested in it (1),
 * followed by '/'; 0 when neither. Layer names may hold '/' themselves ("blk/dense"), so names are
 * matched against the path, not against one component of it. *len gets the longest such name's
 * length; an own-name match is preferred at equal length. */
static int entry_holds_prefix(const cJSON *entry, const char *s, size_t *len) {
  int held = 0;
  *len = 0;
  const char *own = keras_entry_name(entry);
  if (own) {
    size_t n = strlen(own);
    if (n > 0 && strncmp(s, own, n) == 0 && s[n] == '/') held = 2, *len = n;
  }
  if (!keras_is_model_class(keras_entry_class(entry))) return held;
  const cJSON *inner;
  cJSON_ArrayForEach(inner, keras_model_layers(entry)) {
    size_t n = 0;
    if (entry_holds_prefix(inner, s, &n) && n > *len) held = 1, *len = n;
  }
  return held;
}

/* The longest name in the entry's subtree that `weight` starts with, followed by '_' (Keras 1:
 * "dense_1_W"); 0 when none. */
static size_t entry_prefix(const cJSON *entry, const char *weight) {
  size_t best = 0;
  const char *own = keras_entry_name(entry);
  if (own) {
    size_t n = strlen(own);
    if (strncmp(weight, own, n) == 0 && weight[n] == '_') best = n;
  }
  if (keras_is_model_class(keras_entry_class(entry))) {
    const cJSON *inner;
    cJSON_ArrayForEach(inner, keras_model_layers(entry)) {
      size_t n = entry_prefix(inner, weight);
      if (n > best) best = n;
    }
  }
  return best;
}

/* Which entry of `layers` owns weight `w`: at the first path component (from *start on) where
 * the rest of the path begins with the name of an entry or of a layer inside one, followed by
 * '/', the entry with the longest such name. *start moves past a name that was the entry's own,
 * so the next level looks further right. -1 when none. */
static int weight_owner(const cJSON *layers, const char *w, size_t *start) {
  const char *last = strrchr(w, '/');
  if (!last) {
    size_t best = 0;
    int owner = -1, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, layers) {
      size_t n = entry_prefix(e, w);
      if (n > best) best = n, owner = i;
      i++;
    }
    return owner;
  }
  for (const char *p = w + *start; p < last;) {
    size_t best = 0;
    int owner = -1, owner_held = 0, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, layers) {
      size_t n = 0;
      int held = entry_holds_prefix(e, p, &n);
      if (held && (n > best || (n == best && held > owner_held)))
        best = n, owner = i, owner_held = held;
      i++;
    }
    if (owner >= 0) {
      *start = owner_held == 2 ? (size_t)(p + best + 1 - w) : (size_t)(p - w);
      return owner;
    }
    const char *slash = strchr(p, '/');
    p = slash + 1;
  }
  return -1;
}

static krt_status *h5_read_weights(void *self, const keras_level *level, int position,
                                   keras_array **arrays, int *n) {
  h5_reader *r = self;
  const keras_level *chain[MAX_DEPTH];
  int pos[MAX_DEPTH], depth = 0;
  for (const keras_level *l = level; l; l = l->parent) {
    if (depth == MAX_DEPTH) return krt_error(KRT_ERR_UNSUPPORTED, "models nested too deeply");
    chain[depth] = l;
    pos[depth++] = l == level ? position : -1;
  }
  /* chain[0] is the innermost level; positions of the outer ones come from their children. */
  for (int d = 1; d < depth; d++) pos[d] = chain[d - 1]->position;
  *arrays = NULL;
  *n = 0;
  const cJSON *top_entry = cJSON_GetArrayItem(chain[depth - 1]->layers, pos[depth - 1]);
  const char *top_name = keras_entry_name(top_entry);
  if (r->weights < 0 || !top_name || !h5u_is_group(r->weights, top_name)) return NULL;
  hid_t group = H5Gopen2(r->weights, top_name, H5P_DEFAULT);
  if (group < 0)
    return krt_error(KRT_ERR_BAD_FILE, "weights group '%s' cannot be opened", top_name);
  char **names = NULL;
  int n_names = 0;
  krt_status *s = h5u_read_string_list_attr(group, "weight_names", &names, &n_names);
  if (s && krt_status_code(s) == KRT_ERR_NOT_FOUND) {
    krt_status_release(s); /* a group without the attribute holds no weights */
    s = NULL;
  }
  keras_array *result = NULL;
  int count = 0;
  if (!s && n_names > 0 && !(result = calloc((size_t)n_names, sizeof *result)))
    s = krt_error_oom("weights");
  for (int i = 0; i < n_names && !s; i++) {
    size_t start = 0;
    int owned = 1;
    /* Walk down from the outermost nested model to this layer's level. */
    for (int d = depth - 2; d >= 0 && owned; d--)
      owned = weight_owner(chain[d]->layers, names[i], &start) == pos[d];
    if (owned && !(s = h5u_read_float_dataset(group, names[i], &result[count]))) count++;
  }
  h5u_free_strings(names, n_names);
  H5Gclose(group);
  if (s) {
    keras_arrays_free(result, count);
    return s;
  }
  *arrays = result;
  *n = count;
  return NULL;
}

/* A string attribute of the root or of /model_weights (older files put them only there). */
static char *read_meta(hid_t file, hid_t weights, const char *name) {
  char *value = NULL;
  if (h5u_has_attr(file, name)) krt_status_release(h5u_read_string_attr(file, name, &value));
  if (!value && weights >= 0 && h5u_has_attr(weights, name))
    krt_status_release(h5u_read_string_attr(weights, name, &value));
  return value;
}

static krt_status *import_open_h5(const char *path, hid_t file, const import_options *options,
                                  ir_graph **out) {
  if (!h5u_has_attr(file, "model_config")) {
    if (h5u_has_attr(file, "layer_names") || h5u_is_group(file, "model_weights") ||
        h5u_is_group(file, "layers") || h5u_is_group(file, "vars"))
      return krt_error(KRT_ERR_BAD_FILE,
                       "%s: the file holds weights only (no model_config); save the whole model "
                       "(model.save) to import it",
                       path);
    return krt_error(KRT_ERR_BAD_FILE, "%s: an HDF5 file without a Keras model_config", path);
  }
  char *text = NULL;
  krt_status *s = h5u_read_string_attr(file, "model_config", &text);
  if (s) return krt_error_wrap(s, "%s: ", path);
  cJSON *model = NULL;
  s = keras_parse_json(path, "model_config", text, strlen(text), &model);
  if (s) {
    free(text);
    return s;
  }

  h5_reader reader = {-1};
  if (h5u_is_group(file, "model_weights"))
    reader.weights = H5Gopen2(file, "model_weights", H5P_DEFAULT);
  char *version = read_meta(file, reader.weights, "keras_version");
  char *backend = read_meta(file, reader.weights, "backend");
  keras_model_source src;
  memset(&src, 0, sizeof src);
  src.file = path;
  src.model = model;
  src.config_what = "model_config";
  src.config_text = text;
  src.config_size = strlen(text);
  src.keras_major = keras_major_from_version(version, 2);
  src.backend = backend;
  src.options = options;
  src.weights.self = &reader;
  src.weights.read = h5_read_weights;
  s = keras_import_graph(&src, out);
  if (reader.weights >= 0) H5Gclose(reader.weights);
  free(version);
  free(backend);
  free(text);
  cJSON_Delete(model);
  return s;
}

/* The file's global heaps, checked before libhdf5 reads a string from them (hdf5_util.c). */
static krt_status *check_global_heaps(const char *path, hid_t file) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    return krt_error(KRT_ERR_IO, "%s: cannot open the file", path);
  }
  krt_status *s = NULL;
  size_t size = (size_t)st.st_size;
  void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  close(fd);
  if (size && map == MAP_FAILED)
    return krt_error(KRT_ERR_IO, "%s: cannot map the file (%zu bytes)", path, size);
  if (size) {
    s = h5u_check_file_global_heaps(file, map, size);
    munmap(map, size);
  }
  return s ? krt_error_wrap(s, "%s: ", path) : NULL;
}

krt_status *import_keras_h5(const char *path, const import_options *options, ir_graph **out) {
  FILE *probe = fopen(path, "rb");
  if (!probe) return krt_error(KRT_ERR_IO, "%s: cannot open the file", path);
  fclose(probe);
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  krt_status *s = NULL;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    s = krt_error(KRT_ERR_BAD_FILE, "%s: not a readable HDF5 file (truncated or corrupt?)", path);
  } else {
    s = check_global_heaps(path, file);
    if (!s) s = import_open_h5(path, file, options, out);
    H5Fclose(file);
  }
  h5u_quiet_end(&quiet);
  return s;
}
