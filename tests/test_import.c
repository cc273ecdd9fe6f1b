/* The Keras model containers (src/import/import.c, keras_h5.c, keras_v3.c, keras_model.c):
 * file detection, bad and truncated files, Sequential / Functional / nested / shared wiring in
 * the Keras 2 and 3 spellings, input shapes from the options, and the real corpus files.
 *
 * tests/data/import/ is written by tools/fixtures/make_import_test_files.py with real Keras
 * (keras 3.15, tf_keras 2.21); each model's outputs for a fixed input (see that script) are saved
 * beside it as <name>.out<k>.npy and compared here through the public API.
 * The corpus part (../shared/corpus/keras_h5) is skipped when that folder is absent.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <zip.h>

#include "core/status.h"
#include "import/import.h"
#include "npy.h"
#include "test.h"

static const char *source_dir(void) {
  const char *d = getenv("KRT_SOURCE_DIR");
  return d && d[0] ? d : ".";
}

/* tests/data/import/<name> under the source tree. */
static const char *data_path(const char *name) {
  static char path[2][1024];
  static int turn = 0;
  turn ^= 1;
  snprintf(path[turn], sizeof path[turn], "%s/tests/data/import/%s", source_dir(), name);
  return path[turn];
}

/* A scratch file in the build tree (or the working directory). */
static const char *scratch_path(const char *name) {
  static char path[1024];
  const char *d = getenv("KRT_BUILD_DIR");
  snprintf(path, sizeof path, "%s/test_import_%s", d && d[0] ? d : ".", name);
  return path;
}

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)(n > 0 ? n : 1));
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static int write_file(const char *path, const unsigned char *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  int ok = fwrite(data, 1, size, f) == size;
  return fclose(f) == 0 && ok;
}

static ir_graph *import_ok(const char *path, const import_options *options) {
  ir_graph *g = NULL;
  krt_status *s = import_model(path, options, &g);
  if (s) {
    fprintf(stderr, "import %s failed: %s\n", path, krt_status_message(s));
    krt_status_release(s);
  }
  CHECK(g != NULL);
  return g;
}

static import_options no_options(void) {
  import_options o = {0, NULL, NULL, 0, NULL, NULL};
  return o;
}

static import_options *null_options(void) {
  return NULL;
}

/* ---- bad files ------------------------------------------------------------------------------ */

static void test_bad_files(void) {
  ir_graph *g = NULL;
  CHECK_ERR(import_model(data_path("no_such_model.h5"), NULL, &g), KRT_ERR_IO, "no_such_model.h5");
  char cmake[1024];
  snprintf(cmake, sizeof cmake, "%s/CMakeLists.txt", source_dir());
  CHECK_ERR(import_model(cmake, NULL, &g), KRT_ERR_BAD_FILE, "not a Keras model");
  CHECK_ERR(import_model(data_path("weights_only.weights.h5"), NULL, &g), KRT_ERR_BAD_FILE,
            "weights only");
  CHECK_ERR(import_model(data_path("bad_config.h5"), NULL, &g), KRT_ERR_BAD_FILE,
            "model_config is not valid JSON");
  CHECK_ERR(import_model(data_path("bad_config.keras"), NULL, &g), KRT_ERR_BAD_FILE,
            "config.json is not valid JSON");
  CHECK(g == NULL);
}

/* Every prefix length tried must give BAD_FILE, never a crash or a graph. */
static void test_truncated(const char *name) {
  size_t size = 0;
  unsigned char *data = read_file(data_path(name), &size);
  CHECK(data != NULL);
  if (!data) return;
  const char *tmp = scratch_path(strstr(name, ".keras") ? "cut.keras" : "cut.h5");
  size_t cuts[] = {4, 9, 100, 600, 2048, size / 3, size / 2, size - 600, size - 100, size - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    if (cuts[i] >= size || !write_file(tmp, data, cuts[i])) continue;
    ir_graph *g = NULL;
    krt_status *s = import_model(tmp, NULL, &g);
    CHECK(s != NULL && g == NULL);
    if (s && krt_status_code(s) != KRT_ERR_BAD_FILE)
      fprintf(stderr, "%s cut at %zu: %s\n", name, cuts[i], krt_status_message(s));
    CHECK(krt_status_code(s) == KRT_ERR_BAD_FILE);
    krt_status_release(s);
    ir_graph_free(g);
  }
  /* Damaged in the middle: any clean outcome is fine, a crash is not. */
  for (size_t at = size / 8; at + 64 < size; at += size / 8) {
    unsigned char *copy = malloc(size);
    if (!copy) break;
    memcpy(copy, data, size);
    for (size_t k = 0; k < 64; k++) copy[at + k] ^= 0x5a;
    if (write_file(tmp, copy, size)) {
      ir_graph *g = NULL;
      krt_status *s = import_model(tmp, NULL, &g);
      CHECK((s == NULL) != (g == NULL));
      krt_status_release(s);
      ir_graph_free(g);
    }
    free(copy);
  }
  remove(tmp);
  free(data);
}

/* A .keras archive with config.json from `model` (a committed .keras file) and a
 * model.weights.h5 that holds the layer's group but nothing in it (no "vars", no sub-layers):
 * what a writer that skips weightless layers leaves. Returns 0 when it cannot be made. */
static int make_keras_without_weights(const char *model, const char *layer_group, const char *out) {
  char h5[1024];
  snprintf(h5, sizeof h5, "%s", scratch_path("empty.weights.h5"));
  hid_t file = H5Fcreate(h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) return 0;
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t g = H5Gcreate2(file, layer_group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  if (g >= 0) H5Gclose(g);
  H5Fclose(file);
  size_t weights_size = 0;
  unsigned char *weights = g >= 0 ? read_file(h5, &weights_size) : NULL;
  remove(h5);
  if (!weights) return 0;

  int err = 0, ok = 0;
  char *config = NULL;
  zip_int64_t config_size = 0;
  zip_t *in = zip_open(model, ZIP_RDONLY, &err);
  zip_stat_t st;
  if (in && zip_stat(in, "config.json", 0, &st) == 0 && (config = malloc(st.size + 1))) {
    zip_file_t *f = zip_fopen(in, "config.json", 0);
    config_size = f ? zip_fread(f, config, st.size) : -1;
    if (f) zip_fclose(f);
  }
  if (in) zip_discard(in);
  zip_t *zip = config_size > 0 ? zip_open(out, ZIP_CREATE | ZIP_TRUNCATE, &err) : NULL;
  if (zip) {
    /* A buffer source made with freep = 1 frees its buffer; one not added is freed here. */
    zip_source_t *c = zip_source_buffer(zip, config, (zip_uint64_t)config_size, 1);
    if (c) config = NULL;
    zip_source_t *w = zip_source_buffer(zip, weights, weights_size, 1);
    if (w) weights = NULL;
    int added_c = c && zip_file_add(zip, "config.json", c, 0) >= 0;
    if (c && !added_c) zip_source_free(c);
    int added_w = w && zip_file_add(zip, "model.weights.h5", w, 0) >= 0;
    if (w && !added_w) zip_source_free(w);
    ok = added_c && added_w && zip_close(zip) == 0;
    if (!ok) zip_discard(zip);
  }
  free(config);
  free(weights);
  return ok;
}

/* Issue 12: a layer whose weights group is empty used to reach qsort with a NULL array
 * (undefined behaviour, flagged by UBSan). A weightless layer needs nothing there: it imports. */
static void test_empty_weights_group(void) {
  char model[1024];
  snprintf(model, sizeof model, "%s/tests/fixtures/act_relu/model.keras", source_dir());
  char path[1024];
  snprintf(path, sizeof path, "%s", scratch_path("no_weights.keras"));
  int made = make_keras_without_weights(model, "/layers/activation", path);
  CHECK(made);
  if (!made) return;
  ir_graph *g = import_ok(path, NULL);
  CHECK(g && ir_find_layer(g, "activation") >= 0);
  ir_graph_free(g);
  remove(path);
}

/* ---- structure --------------------------------------------------------------------------------
 */

static const ir_layer *layer(const ir_graph *g, const char *name) {
  int i = ir_find_layer(g, name);
  if (i < 0) fprintf(stderr, "%s: no layer '%s'\n", g->source, name);
  return i >= 0 ? &g->layers[i] : NULL;
}

static void check_layer(const ir_graph *g, const char *name, const char *cls, int64_t params) {
  const ir_layer *l = layer(g, name);
  CHECK(l != NULL);
  if (!l) return;
  CHECK(strcmp(l->class_name, cls) == 0);
  CHECK(l->param_count == params);
  CHECK(l->output >= 0 && l->output < g->n_values);
}

/* Nodes that came from this layer (one per call for a Dense). */
static int nodes_of(const ir_graph *g, const char *name) {
  int index = ir_find_layer(g, name), n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += index >= 0 && g->nodes[i].layer == index;
  return n;
}

static void check_io(const ir_graph *g, int is_input, int k, const char *name, int rank,
                     const int64_t *dims) {
  int n = is_input ? g->n_inputs : g->n_outputs;
  CHECK(k < n);
  if (k >= n) return;
  const ir_value *v = &g->values[is_input ? g->inputs[k] : g->outputs[k]];
  const char *published = is_input ? v->name : g->output_names[k];
  if (strcmp(published, name) != 0)
    fprintf(stderr, "%s: '%s' != '%s'\n", g->source, published, name);
  CHECK(strcmp(published, name) == 0);
  CHECK(v->rank == rank && v->batched);
  for (int i = 0; i < rank && v->rank == rank; i++) CHECK(v->dims[i] == dims[i]);
}

static void test_sequential(const char *name, const char *input, int rank) {
  ir_graph *g = import_ok(data_path(name), NULL);
  if (!g) return;
  CHECK(strcmp(g->source, data_path(name)) == 0);
  int64_t in3[3] = {-1, -1, 4}, out3[3] = {-1, -1, 2}, in2[2] = {-1, 4}, out2[2] = {-1, 2};
  CHECK(g->n_inputs == 1 && g->n_outputs == 1);
  check_io(g, 1, 0, input, rank, rank == 3 ? in3 : in2);
  check_io(g, 0, 0, "d2", rank, rank == 3 ? out3 : out2);
  check_layer(g, input, "InputLayer", 0);
  check_layer(g, "d1", "Dense", 4 * 3 + 3);
  check_layer(g, "d2", "Dense", 3 * 2 + 2);
  CHECK(g->layers[0].output == g->inputs[0]); /* the input's record comes first */
  ir_graph_free(g);
}

/* func_k*: a, b -> shared Dense twice -> nested Sequential "inner" twice -> cat -> out1;
 * add -> nested Functional "innerf" (second output). */
static void test_functional(const char *name) {
  ir_graph *g = import_ok(data_path(name), NULL);
  if (!g) return;
  int64_t in[2] = {-1, 4}, out[2] = {-1, 2};
  CHECK(g->n_inputs == 2 && g->n_outputs == 2);
  check_io(g, 1, 0, "a", 2, in);
  check_io(g, 1, 1, "b", 2, in);
  check_io(g, 0, 0, "out1", 2, out);
  check_io(g, 0, 1, "innerf", 2, out);
  check_layer(g, "shared", "Dense", 20);
  check_layer(g, "inner", "Sequential", 0); /* its weights are its layers' */
  check_layer(g, "inner/i1", "Dense", 15);
  check_layer(g, "inner/i2", "Dense", 16);
  check_layer(g, "cat", "Concatenate", 0);
  check_layer(g, "out1", "Dense", 18);
  check_layer(g, "innerf", "Functional", 0);
  check_layer(g, "innerf/fd", "Dense", 10);
  CHECK(nodes_of(g, "shared") == 2);   /* a shared layer: one node per call */
  CHECK(nodes_of(g, "inner/i1") == 2); /* a nested model called twice */
  CHECK(nodes_of(g, "innerf/fd") == 1);
  int64_t total = 0;
  for (int i = 0; i < g->n_layers; i++) total += g->layers[i].param_count;
  CHECK(total == 79); /* Keras's count_params() */
  ir_graph_free(g);
}

static void test_input_options(void) {
  const char *path = data_path("seq_k2.h5");
  ir_graph *g = NULL;
  import_input_shape shape = {"nope", 3, {1, 5, 4}};
  import_options o = {1, &shape, NULL, 0, NULL, NULL};
  CHECK_ERR(import_model(path, &o, &g), KRT_ERR_NOT_FOUND, "'d1_input'");
  shape.name = "d1_input";
  shape.dims[2] = 3;
  CHECK_ERR(import_model(path, &o, &g), KRT_ERR_SHAPE, "axis 2");
  shape.rank = 2;
  CHECK_ERR(import_model(path, &o, &g), KRT_ERR_SHAPE, "rank");
  CHECK(g == NULL);
  shape.rank = 3;
  shape.dims[2] = 4;
  g = import_ok(path, &o);
  if (!g) return;
  int64_t in[3] = {-1, 5, 4}, out[3] = {-1, 5, 2};
  check_io(g, 1, 0, "d1_input", 3, in);
  check_io(g, 0, 0, "d2", 3, out);
  ir_graph_free(g);
  import_options none = no_options();
  g = import_ok(path, &none);
  ir_graph_free(g);
  g = import_ok(path, null_options());
  ir_graph_free(g);
}

/* ---- numbers, through the public API, against Keras's own outputs ---------------------------- */

/* Runs `file` on the fixed inputs and compares with <name>.out<k>.npy. */
static void test_outputs(const char *file, const char *name, int seq_len) {
  krt_build_options *opt = NULL;
  CHECK_OK(krt_build_options_create(&opt));
  CHECK_OK(krt_build_options_set_max_batch(opt, 2));
  if (seq_len > 0) {
    int64_t dims[3] = {2, seq_len, 4};
    CHECK_OK(krt_build_options_set_input_shape(opt, "d1_input", 3, dims));
  }
  krt_engine *engine = NULL;
  krt_context *ctx = NULL;
  krt_status *s = krt_engine_build(data_path(file), opt, &engine);
  krt_build_options_release(opt);
  if (s) {
    fprintf(stderr, "%s: %s\n", file, krt_status_message(s));
    krt_status_release(s);
    CHECK(0);
    return;
  }
  CHECK_OK(krt_context_create(engine, &ctx));
  float *inputs[4] = {NULL};
  size_t n_in = krt_engine_input_count(engine);
  for (size_t k = 0; k < n_in && k < 4 && ctx; k++) {
    krt_tensor_info info;
    CHECK_OK(krt_engine_input_info(engine, k, &info));
    int64_t n = 1;
    info.dims[0] = 2;
    for (int i = 0; i < info.rank; i++) n *= info.dims[i];
    inputs[k] = malloc((size_t)n * sizeof(float));
    if (!inputs[k]) break;
    for (int64_t i = 0; i < n; i++) inputs[k][i] = (float)sin(0.37 * (double)i + 1.3 * (double)k);
    CHECK_OK(krt_context_set_input(ctx, k, KRT_FLOAT32, info.dims, info.rank, inputs[k],
                                   (size_t)n * sizeof(float)));
  }
  if (ctx) CHECK_OK(krt_context_run(ctx));
  for (size_t k = 0; ctx && k < krt_engine_output_count(engine); k++) {
    char npy_name[300], err[256];
    snprintf(npy_name, sizeof npy_name, "%s.out%zu.npy", name, k);
    npy_array want;
    if (npy_read(data_path(npy_name), &want, err, sizeof err) != 0) {
      fprintf(stderr, "%s\n", err);
      CHECK(0);
      continue;
    }
    krt_tensor_view got;
    krt_status *gs = krt_context_get_output(ctx, k, &got);
    CHECK(gs == NULL);
    krt_status_release(gs);
    int64_t n = 1;
    for (int i = 0; i < want.rank; i++) n *= want.dims[i];
    CHECK(!gs && krt_view_element_count(&got) == n && want.dtype == KRT_FLOAT32);
    if (!gs && krt_view_element_count(&got) == n && want.dtype == KRT_FLOAT32) {
      const float *a = got.data, *b = want.data;
      double worst = 0;
      for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / (1e-5 + 1e-4 * fabs((double)b[i]));
        if (e > worst) worst = e;
      }
      if (worst > 1.0) fprintf(stderr, "%s output %zu differs from Keras\n", name, k);
      CHECK(worst <= 1.0);
    }
    npy_free(&want);
  }
  for (int k = 0; k < 4; k++) free(inputs[k]);
  krt_context_release(ctx);
  krt_engine_release(engine);
}

/* ---- the corpus ------------------------------------------------------------------------------ */

static int corpus_dir(char *out, size_t size) {
  snprintf(out, size, "%s/../shared/corpus/keras_h5", source_dir());
  DIR *d = opendir(out);
  if (!d) return 0;
  closedir(d);
  return 1;
}

static void test_corpus_named(const char *dir) {
  char path[1200];
  snprintf(path, sizeof path, "%s/dl4j__simple_sparse_xent_mlp_keras_2/model.h5", dir);
  ir_graph *g = import_ok(path, NULL);
  if (g) {
    CHECK(g->n_inputs == 1 && strcmp(g->values[g->inputs[0]].name, "dense_1_input") == 0);
    CHECK(g->n_outputs == 1 && strcmp(g->output_names[0], "activation_1") == 0);
    ir_graph_free(g);
  }
  /* Keras 1.2.2, Theano backend: implicit input "<class>_input_1". */
  snprintf(path, sizeof path, "%s/dl4j__conv2d_theano_1/model.h5", dir);
  g = import_ok(path, NULL);
  if (g) {
    CHECK(g->n_inputs == 1 && strcmp(g->values[g->inputs[0]].name, "convolution2d_input_1") == 0);
    check_layer(g, "convolution2d_input_1", "InputLayer", 0);
    check_layer(g, "convolution2d_1", "Convolution2D", 3 * 3 * 5 * 6 + 6);
    ir_graph_free(g);
  }
  snprintf(path, sizeof path, "%s/dl4j__embedding_conv1d_theano_1/model.h5", dir);
  g = import_ok(path, NULL);
  if (g) {
    const ir_value *in = &g->values[g->inputs[0]];
    CHECK(strcmp(in->name, "embedding_input_1") == 0 && in->dtype == KRT_INT32);
    ir_graph_free(g);
  }
}

/* Every corpus model imports or fails cleanly, naming the layer at fault. */
static void test_corpus_all(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  int imported = 0, refused = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s/model.h5", dir, e->d_name);
    ir_graph *g = NULL;
    krt_status *s = import_model(path, NULL, &g);
    if (!s) {
      imported++;
      CHECK(g && g->n_inputs > 0 && g->n_outputs > 0 && g->n_layers > 0);
    } else {
      refused++;
      krt_code code = krt_status_code(s);
      int clean =
          (code == KRT_ERR_UNSUPPORTED || code == KRT_ERR_BAD_FILE || code == KRT_ERR_SHAPE) &&
          strstr(krt_status_message(s), "layer '") != NULL;
      if (!clean) fprintf(stderr, "%s: %s\n", e->d_name, krt_status_message(s));
      CHECK(clean);
    }
    krt_status_release(s);
    ir_graph_free(g);
  }
  closedir(d);
  printf("corpus keras_h5: %d imported, %d refused with a message\n", imported, refused);
}

/* ---- numbers out of int64's range in a config ------------------------------------------------ */

/* Reads one member of a zip archive; NULL when absent. */
static char *read_member(zip_t *zip, const char *name, size_t *size) {
  zip_stat_t st;
  char *data = NULL;
  if (zip_stat(zip, name, 0, &st) != 0 || !(data = malloc(st.size + 1))) return NULL;
  zip_file_t *f = zip_fopen(zip, name, 0);
  zip_int64_t got = f ? zip_fread(f, data, st.size) : -1;
  if (f) zip_fclose(f);
  if (got != (zip_int64_t)st.size) {
    free(data);
    return NULL;
  }
  data[st.size] = '\0';
  *size = (size_t)st.size;
  return data;
}

/* Copies the .keras archive `model` to `out` with the first `find` in config.json replaced. */
static int copy_keras_replacing(const char *model, const char *find, const char *replace,
                                const char *out) {
  int err = 0, ok = 0;
  zip_t *in = zip_open(model, ZIP_RDONLY, &err);
  if (!in) return 0;
  size_t config_size = 0, weights_size = 0;
  char *config = read_member(in, "config.json", &config_size);
  char *weights = read_member(in, "model.weights.h5", &weights_size);
  zip_discard(in);
  char *at = config ? strstr(config, find) : NULL;
  char *edited = at ? malloc(config_size + strlen(replace) + 1) : NULL;
  size_t edited_size = 0;
  if (edited) {
    size_t head = (size_t)(at - config);
    memcpy(edited, config, head);
    strcpy(edited + head, replace);
    strcat(edited + head, at + strlen(find));
    edited_size = strlen(edited);
  }
  zip_t *zip = edited && weights ? zip_open(out, ZIP_CREATE | ZIP_TRUNCATE, &err) : NULL;
  if (zip) {
    zip_source_t *c = zip_source_buffer(zip, edited, edited_size, 0);
    zip_source_t *w = zip_source_buffer(zip, weights, weights_size, 0);
    int added_c = c && zip_file_add(zip, "config.json", c, 0) >= 0;
    if (c && !added_c) zip_source_free(c);
    int added_w = w && zip_file_add(zip, "model.weights.h5", w, 0) >= 0;
    if (w && !added_w) zip_source_free(w);
    ok = added_c && added_w && zip_close(zip) == 0;
    if (!ok) zip_discard(zip);
  }
  free(config);
  free(weights);
  free(edited);
  return ok;
}

/* JSON numbers far outside int64's range, where the importer converts them to integers (a
 * double -> int64 conversion of such a value is undefined behaviour; x86 gives INT64_MIN). */
static void test_numbers_out_of_range(void) {
  /* A slice bound of 1e300 means "to the end", as in Python: on an axis of 6, x[-4:1e300] is
   * x[2:6]. Converted without a clamp, 1e300 became INT64_MIN + 6, an empty slice. */
  char model[1024], path[1024];
  snprintf(model, sizeof model, "%s/tests/fixtures/ops_slicing/model.keras", source_dir());
  snprintf(path, sizeof path, "%s", scratch_path("huge_slice.keras"));
  const char *find = "\"start\": -4, \"stop\": -1, \"step\": null";
  CHECK(copy_keras_replacing(model, find, "\"start\": -4, \"stop\": 1e300, \"step\": null",
                             path));
  /* get_item_1 is x[:, 1:3, -4:-1] of a [batch, 4, 6] input; now x[:, 1:3, -4:1e300], [N, 2, 4],
   * which the Reshape after it (to 6 per sample) refuses, naming the shape it got. */
  ir_graph *g = NULL;
  krt_status *s = import_model(path, NULL, &g);
  CHECK(s != NULL && g == NULL);
  if (s) CHECK(strstr(krt_status_message(s), "'get_item_1' [Nx2x4]") != NULL);
  krt_status_release(s);
  /* A step of 1e300 is no integer step: refused, and said so. */
  CHECK(copy_keras_replacing(model, "\"start\": 1, \"stop\": 3, \"step\": null", "\"start\": 1, "
                             "\"stop\": 3, \"step\": 1e300", path));
  s = import_model(path, NULL, &g);
  CHECK(s != NULL && g == NULL);
  if (s) CHECK(strstr(krt_status_message(s), "slice step") != NULL);
  krt_status_release(s);
  remove(path);

  /* Keras 1's input_dim of 1e300 (an .h5 with only a model_config): refused as no dimension. */
  snprintf(path, sizeof path, "%s", scratch_path("huge_input_dim.h5"));
  const char *config = "{\"class_name\": \"Sequential\", \"config\": [{\"class_name\": \"Dense\", "
                       "\"config\": {\"name\": \"d\", \"output_dim\": 2, \"input_dim\": 1e300}}]}";
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, strlen(config));
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(file, "model_config", type, space, H5P_DEFAULT, H5P_DEFAULT);
  CHECK(attr >= 0 && H5Awrite(attr, type, config) >= 0);
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
  H5Fclose(file);
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_BAD_FILE, "input_dim 1e+300 is not a dimension");
  remove(path);
}

int main(void) {
  test_bad_files();
  test_truncated("func_k3.h5");
  test_truncated("seq_k3.keras");
  test_truncated("func_k3.keras");
  test_empty_weights_group();
  test_numbers_out_of_range();
  test_sequential("seq_k3.keras", "x", 2);
  test_sequential("seq_k3.h5", "x", 2);
  test_sequential("seq_k2.h5", "d1_input", 3);
  test_functional("func_k3.keras");
  test_functional("func_k3.h5");
  test_functional("func_k2.h5");
  test_input_options();
  test_outputs("seq_k3.keras", "seq_k3", 0);
  test_outputs("seq_k3.h5", "seq_k3", 0);
  test_outputs("seq_k2.h5", "seq_k2", 5);
  test_outputs("func_k3.keras", "func_k3", 0);
  test_outputs("func_k3.h5", "func_k3", 0);
  test_outputs("func_k2.h5", "func_k2", 0);
  char dir[1100];
  if (corpus_dir(dir, sizeof dir)) {
    test_corpus_named(dir);
    test_corpus_all(dir);
  } else {
    printf("../shared/corpus/keras_h5 is absent: corpus checks skipped\n");
  }
  return test_summary("test_import");
}
