/* The readers under fuzzing, driven through the public API as a program would drive them
 * (fuzz_targets.h). Used by the libFuzzer harnesses and by tests/test_fuzz_regressions.c. */
#include "fuzz_targets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "krt.h"
#include "npy.h"
#include "uff.pb-c.h"

/* A run is tried only on engines this small, so that one input costs milliseconds: a fuzzed
 * shape can ask for gigabytes, which is a valid (if silly) model, not a bug. */
#define RUN_MAX_ACTIVATION_BYTES (16 << 20)
#define RUN_MAX_INPUT_ELEMENTS (1 << 20)

void fuzz_setup(void) { setenv("KRT_HDF5_IN_PROCESS", "1", 1); }

/* ---- engines ------------------------------------------------------------------------------- */

/* Binds zeros of batch 1 to every input and runs once. Skipped when a dimension other than the
 * batch is unknown or the engine is big. */
static void run_small_engine(const krt_engine *e) {
  if (krt_engine_activation_bytes(e) > RUN_MAX_ACTIVATION_BYTES) return;
  size_t n_inputs = krt_engine_input_count(e);
  krt_context *c = NULL;
  krt_status *s = krt_context_create(e, &c);
  float *zeros = calloc(RUN_MAX_INPUT_ELEMENTS, sizeof(float));
  int bound = 0;
  for (size_t i = 0; !s && zeros && i < n_inputs; i++) {
    krt_tensor_info info;
    s = krt_engine_input_info(e, i, &info);
    if (s) break;
    int64_t dims[KRT_MAX_RANK], elements = 1;
    int known = 1;
    for (int d = 0; d < info.rank && d < KRT_MAX_RANK; d++) {
      dims[d] = d == info.batch_axis ? 1 : info.dims[d];
      if (dims[d] < 0 || (dims[d] && elements > RUN_MAX_INPUT_ELEMENTS / dims[d])) known = 0;
      if (known) elements *= dims[d];
    }
    if (!known) break;
    s = krt_context_set_input(c, i, KRT_FLOAT32, dims, info.rank, zeros,
                              (size_t)elements * sizeof(float));
    if (!s) bound++;
  }
  if (!s && zeros && (size_t)bound == n_inputs) {
    s = krt_context_run(c);
    for (size_t o = 0; !s && o < krt_engine_output_count(e); o++) {
      krt_tensor_view v;
      s = krt_context_get_output(c, o, &v);
    }
  }
  krt_status_release(s);
  free(zeros);
  krt_context_release(c);
}

/* Every query a caller may make, then a save and load round trip and a run. */
static void exercise_engine(const krt_engine *e) {
  for (size_t i = 0; i < krt_engine_input_count(e); i++) {
    krt_tensor_info info;
    krt_status *s = krt_engine_input_info(e, i, &info);
    size_t found = 0;
    if (!s) s = krt_engine_find_input(e, info.name, &found);
    krt_status_release(s);
  }
  for (size_t i = 0; i < krt_engine_output_count(e); i++) {
    krt_tensor_info info;
    size_t node = 0, found = 0;
    krt_status *s = krt_engine_output_info(e, i, &info);
    if (!s) s = krt_engine_find_output(e, info.name, &found);
    krt_status_release(s);
    krt_status_release(krt_engine_output_node(e, i, &node));
  }
  for (size_t i = 0; i < krt_engine_node_count(e); i++) {
    krt_layer_info info;
    krt_status_release(krt_engine_node(e, i, &info));
  }
  for (size_t i = 0; i < krt_engine_layer_count(e); i++) {
    krt_layer_info info;
    krt_status_release(krt_engine_layer(e, i, &info));
  }
  (void)krt_engine_max_batch(e);
  (void)krt_engine_device(e);
  (void)krt_engine_precision(e);
  (void)krt_engine_weight_bytes(e);

  void *bytes = NULL;
  size_t size = 0;
  krt_engine *again = NULL;
  krt_status *s = krt_engine_serialize(e, &bytes, &size);
  if (!s) s = krt_engine_load_memory(bytes, size, &again);
  krt_status_release(s);
  krt_engine_release(again);
  krt_free(bytes);

  run_small_engine(e);
}

/* Offsets in the .krt header (src/format/engine_file_layout.h): the file size (u64) and the
 * CRC-32 of everything after the 64-byte header (u32), both little-endian. */
#define ENGINE_HEADER_BYTES 64
#define ENGINE_FILE_SIZE_AT 16
#define ENGINE_CRC_AT 24

int fuzz_engine_file(const uint8_t *data, size_t size) {
  /* Almost every mutation breaks the checksum, and the reader checks it before anything else,
   * so the file size and checksum are set as the writer would have set them: the mutations reach
   * the section table, the graph records and the weights. (A wrong checksum and size are
   * refused: test_api and test_format.) */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  if (size >= ENGINE_HEADER_BYTES) {
    for (int i = 0; i < 8; i++) copy[ENGINE_FILE_SIZE_AT + i] = (uint8_t)((uint64_t)size >> (8 * i));
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, copy + ENGINE_HEADER_BYTES, (uInt)(size - ENGINE_HEADER_BYTES));
    for (int i = 0; i < 4; i++) copy[ENGINE_CRC_AT + i] = (uint8_t)(crc >> (8 * i));
  }
  krt_engine *e = NULL;
  krt_status *s = krt_engine_load_memory(copy, size, &e);
  free(copy);
  if (!s) exercise_engine(e);
  krt_status_release(s);
  krt_engine_release(e);
  return 0;
}

/* ---- .npy ---------------------------------------------------------------------------------- */

int fuzz_npy_file(const uint8_t *data, size_t size) {
  npy_array a;
  char err[256];
  if (npy_read_memory(data, size, "fuzz.npy", &a, err, sizeof err) == 0) npy_free(&a);
  return 0;
}

/* ---- models -------------------------------------------------------------------------------- */

/* One temporary file per process (libFuzzer's -fork and -jobs workers are processes), rewritten
 * for every input: krt_model_import reads a path. */
static char temp_path[64];

static void remove_temp_file(void) {
  if (temp_path[0]) unlink(temp_path);
}

static const char *temp_file(void) {
  if (temp_path[0]) return temp_path;
  const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(temp_path, sizeof temp_path, "%s/krt-fuzz-XXXXXX", dir);
  int fd = mkstemp(temp_path);
  if (fd < 0) {
    fprintf(stderr, "fuzz: cannot create a temporary file in %s: %s\n", dir, strerror(errno));
    temp_path[0] = '\0';
    return NULL;
  }
  close(fd);
  atexit(remove_temp_file);
  return temp_path;
}

static int write_temp_file(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return 1;
  size_t wrote = size ? fwrite(data, 1, size, f) : 0;
  return (fclose(f) != 0) | (wrote != size);
}

static void import_and_build(const char *path) {
  krt_model *m = NULL;
  krt_status *s = krt_model_import(path, &m);
  if (!s) {
    for (size_t i = 0; i < krt_model_layer_count(m); i++) {
      krt_layer_info info;
      krt_status_release(krt_model_layer(m, i, &info));
    }
    for (size_t i = 0; i < krt_model_input_count(m); i++) {
      krt_tensor_info info;
      krt_status_release(krt_model_input_info(m, i, &info));
    }
    for (size_t i = 0; i < krt_model_output_count(m); i++) {
      krt_tensor_info info;
      krt_status_release(krt_model_output_info(m, i, &info));
    }
    char *text = NULL;
    krt_status_release(krt_model_dump(m, &text));
    krt_free(text);
    krt_engine *e = NULL;
    s = krt_engine_build_from_model(m, NULL, &e);
    if (!s) exercise_engine(e);
    krt_engine_release(e);
  }
  krt_status_release(s);
  krt_model_release(m);
}

int fuzz_h5_file(const uint8_t *data, size_t size) {
  const char *path = temp_file();
  if (path && write_temp_file(path, data, size) == 0) import_and_build(path);
  return 0;
}

int fuzz_tfpb_file(const uint8_t *data, size_t size) { return fuzz_h5_file(data, size); }
int fuzz_onnx_file(const uint8_t *data, size_t size) { return fuzz_h5_file(data, size); }

/* UFF Input nodes mostly carry no shape, and an import without one stops at the first Input.
 * So the file is also built with a shape for every Input node it names (decoded here with the
 * same declaration): [1, 6, 6, 2] for rank 4 consumers (Conv, Pool), which also serves Flatten
 * and Concat, a common shape in the seeds. */
int fuzz_uff_file(const uint8_t *data, size_t size) {
  const char *path = temp_file();
  if (!path || write_temp_file(path, data, size) != 0) return 0;
  import_and_build(path);
  Krt__Uff__MetaGraph *m = krt__uff__meta_graph__unpack(NULL, size, data);
  if (!m) return 0;
  krt_build_options *o = NULL;
  krt_status *s = krt_build_options_create(&o);
  const int64_t dims[4] = {1, 6, 6, 2};
  int named = 0;
  for (size_t g = 0; !s && g < m->n_graphs; g++)
    for (size_t i = 0; !s && i < m->graphs[g]->n_nodes && named < 16; i++) {
      const Krt__Uff__Node *n = m->graphs[g]->nodes[i];
      if (!n->id || !n->operation || strcmp(n->operation, "Input") != 0) continue;
      krt_status_release(krt_build_options_set_input_shape(o, n->id, 4, dims));
      named++;
    }
  krt__uff__meta_graph__free_unpacked(m, NULL);
  krt_engine *e = NULL;
  if (!s && named) s = krt_engine_build(path, o, &e);
  if (!s && e) exercise_engine(e);
  krt_engine_release(e);
  krt_status_release(s);
  krt_build_options_release(o);
  return 0;
}

/* Finds the separator in [from, end); NULL when absent. */
static const uint8_t *find_separator(const uint8_t *from, const uint8_t *end) {
  size_t n = strlen(FUZZ_KERAS_SEPARATOR);
  for (const uint8_t *p = from; p && (size_t)(end - p) >= n; p++) {
    p = memchr(p, FUZZ_KERAS_SEPARATOR[0], (size_t)(end - p));
    if (!p || (size_t)(end - p) < n) return NULL;
    if (memcmp(p, FUZZ_KERAS_SEPARATOR, n) == 0) return p;
  }
  return NULL;
}

/* Writes a stored (uncompressed) zip of the three members; a member of length 0 is left out, as
 * a damaged archive might. */
static int write_keras_archive(const char *path, const uint8_t *member[3], const size_t size[3]) {
  static const char *const names[3] = {"config.json", "metadata.json", "model.weights.h5"};
  int err = 0;
  zip_t *zip = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!zip) return 1;
  for (int i = 0; i < 3; i++) {
    if (!size[i]) continue;
    zip_source_t *src = zip_source_buffer(zip, member[i], size[i], 0);
    zip_int64_t index = src ? zip_file_add(zip, names[i], src, ZIP_FL_OVERWRITE) : -1;
    if (index < 0) {
      zip_source_free(src);
      zip_discard(zip);
      return 1;
    }
    zip_set_file_compression(zip, (zip_uint64_t)index, ZIP_CM_STORE, 0);
  }
  if (zip_close(zip) == 0) return 0;
  zip_discard(zip); /* a failed zip_close leaves the handle open */
  return 1;
}

int fuzz_keras_file(const uint8_t *data, size_t size) {
  const char *path = temp_file();
  if (!path) return 0;
  if (size >= 4 && memcmp(data, "PK\3\4", 4) == 0) return fuzz_h5_file(data, size);
  const uint8_t *end = data + size, *member[3] = {data, NULL, NULL};
  size_t member_size[3] = {size, 0, 0};
  size_t n = strlen(FUZZ_KERAS_SEPARATOR);
  for (int i = 1; i < 3; i++) {
    const uint8_t *sep = find_separator(member[i - 1], end);
    if (!sep) break;
    member_size[i - 1] = (size_t)(sep - member[i - 1]);
    member[i] = sep + n;
    member_size[i] = (size_t)(end - member[i]);
  }
  /* libzip refuses a NULL buffer even of length 0; such members are left out anyway. */
  for (int i = 0; i < 3; i++)
    if (!member[i]) member[i] = data;
  if (write_keras_archive(path, member, member_size) == 0) import_and_build(path);
  return 0;
}

/* ---- seeds --------------------------------------------------------------------------------- */

static int read_zip_member(zip_t *zip, const char *name, char **out, zip_uint64_t *size) {
  zip_stat_t st;
  zip_stat_init(&st);
  *out = NULL;
  *size = 0;
  if (zip_stat(zip, name, 0, &st) != 0) return 0; /* absent: an empty member */
  zip_file_t *f = zip_fopen(zip, name, 0);
  char *buf = malloc(st.size ? st.size : 1);
  zip_int64_t got = f && buf ? zip_fread(f, buf, st.size) : -1;
  if (f) zip_fclose(f);
  if (got < 0 || (zip_uint64_t)got != st.size) {
    free(buf);
    return 1;
  }
  *out = buf;
  *size = st.size;
  return 0;
}

int fuzz_keras_split(const char *archive, const char *out_path, char *err, size_t err_size) {
  static const char *const names[3] = {"config.json", "metadata.json", "model.weights.h5"};
  int zerr = 0;
  zip_t *zip = zip_open(archive, ZIP_RDONLY, &zerr);
  if (!zip) {
    snprintf(err, err_size, "%s: not a readable zip archive (libzip error %d)", archive, zerr);
    return 1;
  }
  FILE *out = fopen(out_path, "wb");
  int failed = !out;
  for (int i = 0; i < 3 && !failed; i++) {
    char *bytes = NULL;
    zip_uint64_t size = 0;
    failed = read_zip_member(zip, names[i], &bytes, &size);
    if (!failed && i) failed = fputs(FUZZ_KERAS_SEPARATOR, out) < 0;
    if (!failed && size) failed = fwrite(bytes, 1, size, out) != size;
    free(bytes);
  }
  if (out && fclose(out) != 0) failed = 1;
  zip_discard(zip);
  if (failed) snprintf(err, err_size, "%s: cannot split into %s", archive, out_path);
  return failed;
}

/* ---- SavedModel directories ---------------------------------------------------------------- */

static char savedmodel_dir[64];
static const char *const savedmodel_files[3] = {"saved_model.pb", "variables/variables.index",
                                                "variables/variables.data-00000-of-00001"};

static void remove_savedmodel_dir(void) {
  char path[128];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", savedmodel_dir, savedmodel_files[i]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/variables", savedmodel_dir);
  rmdir(path);
  rmdir(savedmodel_dir);
}

int fuzz_savedmodel_dir(const uint8_t *data, size_t size) {
  if (!savedmodel_dir[0]) {
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char path[128];
    snprintf(savedmodel_dir, sizeof savedmodel_dir, "%s/krt-fuzz-sm-XXXXXX", tmp);
    if (!mkdtemp(savedmodel_dir)) {
      savedmodel_dir[0] = '\0';
      return 0;
    }
    snprintf(path, sizeof path, "%s/variables", savedmodel_dir);
    if (mkdir(path, 0700) != 0) return 0;
    atexit(remove_savedmodel_dir);
  }
  const uint8_t *end = data + size, *part = data;
  size_t n = strlen(FUZZ_SAVEDMODEL_SEPARATOR);
  for (int i = 0; i < 3; i++) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", savedmodel_dir, savedmodel_files[i]);
    unlink(path);
    if (!part) continue;
    const uint8_t *sep = NULL;
    for (const uint8_t *p = part; i < 2 && p && (size_t)(end - p) >= n; p++) {
      p = memchr(p, FUZZ_SAVEDMODEL_SEPARATOR[0], (size_t)(end - p));
      if (p && (size_t)(end - p) >= n && memcmp(p, FUZZ_SAVEDMODEL_SEPARATOR, n) == 0) {
        sep = p;
        break;
      }
      if (!p) break;
    }
    size_t len = sep ? (size_t)(sep - part) : (size_t)(end - part);
    if (write_temp_file(path, part, len) != 0) return 0;
    part = sep ? sep + n : NULL;
  }
  import_and_build(savedmodel_dir);
  return 0;
}
