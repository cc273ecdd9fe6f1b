/* The public API (include/krt.h) from a caller's side: misuse (NULLs, bad indices, wrong dtypes,
 * shapes and sizes), build options, engine files (round trip, refusals), dtype conversion,
 * contexts used from several threads at once, and the version and build information. Models are
 * the committed fixtures in tests/fixtures (paths relative to the repo root, ctest's working
 * directory, or KRT_SOURCE_DIR). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "format/engine_file_layout.h"
#include "npy.h"
#include "test.h"

#define MLP_CASE "mlp_sequential"  /* features (8) -> hidden1 (16) -> hidden2 (12) -> probs (4) */
#define MULTI_CASE "multi_input"   /* vector (6), sequence (4x3) -> out (3) */
#define CNN_CASE "h5k2_small_cnn"  /* a legacy .h5 CNN */

static char fixture_buf[8][1024];
static int fixture_next;

/* tests/fixtures/<case>/<file>, or NULL when the fixture is absent. */
static const char *fixture(const char *name, const char *file) {
  const char *root = getenv("KRT_SOURCE_DIR");
  char *buf = fixture_buf[fixture_next++ % 8];
  snprintf(buf, sizeof fixture_buf[0], "%s%stests/fixtures/%s/%s", root ? root : "",
           root ? "/" : "", name, file);
  struct stat st;
  return stat(buf, &st) == 0 ? buf : NULL;
}

static char scratch_dir[1024];

/* A fresh name under $TMPDIR (else the build directory ctest names, else "."). */
static void scratch_path(char *out, size_t size, const char *suffix) {
  static int counter;
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = getenv("KRT_BUILD_DIR");
  if (!dir || !*dir) dir = ".";
  snprintf(scratch_dir, sizeof scratch_dir, "%s", dir);
  snprintf(out, size, "%s/krt_test_api_%ld_%d%s", scratch_dir, (long)getpid(), counter++, suffix);
}

static void write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(data, 1, size, f) == size);
  fclose(f);
}

static krt_engine *build_mlp(int64_t max_batch) {
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_set_max_batch(o, max_batch));
  CHECK_OK(krt_engine_build(fixture(MLP_CASE, "model.keras"), o, &e));
  krt_build_options_release(o);
  return e;
}

/* Runs x (batch x 8 float32) through a new context and copies the output (batch x 4). */
static int run_once(const krt_engine *e, const float *x, int64_t batch, float *y) {
  krt_context *c = NULL;
  krt_status *s = krt_context_create(e, &c);
  int64_t dims[2] = {batch, 8};
  if (!s) s = krt_context_set_input(c, 0, KRT_FLOAT32, dims, 2, x, (size_t)batch * 8 * 4);
  if (!s) s = krt_context_run(c);
  krt_tensor_view v;
  if (!s) s = krt_context_get_output(c, 0, &v);
  if (!s) memcpy(y, v.data, (size_t)batch * 4 * 4);
  krt_context_release(c);
  if (s) fprintf(stderr, "run_once: %s\n", krt_status_message(s));
  int failed = s != NULL;
  krt_status_release(s);
  return failed;
}

/* ---- NULLs and releases ------------------------------------------------------------------- */

static void test_nulls(const krt_engine *e, const krt_model *m) {
  const krt_code INV = KRT_ERR_INVALID_ARGUMENT;
  krt_model *mo = NULL;
  krt_engine *eo = NULL;
  krt_context *co = NULL;
  krt_build_options *oo = NULL;
  krt_layer_info li;
  krt_tensor_info ti;
  krt_tensor_view tv;
  size_t index;
  void *data;
  size_t size;
  char *text;
  float x[8] = {0};
  int64_t dims[2] = {1, 8};
  const char *path = fixture(MLP_CASE, "model.keras");

  CHECK(krt_status_code(NULL) == KRT_OK);
  CHECK(strcmp(krt_status_message(NULL), "") == 0);
  krt_status_release(NULL);
  krt_model_release(NULL);
  krt_build_options_release(NULL);
  krt_engine_release(NULL);
  krt_context_release(NULL);
  krt_free(NULL);
  CHECK(krt_view_element_count(NULL) == 0);

  CHECK_ERR(krt_model_import(NULL, &mo), INV, "path is NULL");
  CHECK_ERR(krt_model_import(path, NULL), INV, "out is NULL");
  CHECK(krt_model_layer_count(NULL) == 0);
  CHECK(krt_model_input_count(NULL) == 0);
  CHECK(krt_model_output_count(NULL) == 0);
  CHECK_ERR(krt_model_layer(NULL, 0, &li), INV, "model is NULL");
  CHECK_ERR(krt_model_layer(m, 0, NULL), INV, "out is NULL");
  CHECK_ERR(krt_model_input_info(NULL, 0, &ti), INV, "model is NULL");
  CHECK_ERR(krt_model_input_info(m, 0, NULL), INV, "out is NULL");
  CHECK_ERR(krt_model_output_info(NULL, 0, &ti), INV, "model is NULL");
  CHECK_ERR(krt_model_output_info(m, 0, NULL), INV, "out is NULL");
  CHECK_ERR(krt_model_dump(NULL, &text), INV, "model is NULL");
  CHECK_ERR(krt_model_dump(m, NULL), INV, "text is NULL");

  CHECK_ERR(krt_build_options_create(NULL), INV, "out is NULL");
  CHECK_ERR(krt_build_options_add_output(NULL, "x"), INV, "options is NULL");
  CHECK_OK(krt_build_options_create(&oo));
  CHECK_ERR(krt_build_options_add_output(oo, NULL), INV, "layer is NULL");
  CHECK_ERR(krt_build_options_set_input_shape(NULL, "x", 2, dims), INV, "options is NULL");
  CHECK_ERR(krt_build_options_set_input_shape(oo, NULL, 2, dims), INV, "input is NULL");
  CHECK_ERR(krt_build_options_set_input_shape(oo, "x", 2, NULL), INV, "dims is NULL");
  CHECK_ERR(krt_build_options_set_max_batch(NULL, 1), INV, "options is NULL");
  CHECK_ERR(krt_build_options_set_device(NULL, KRT_DEVICE_CPU), INV, "options is NULL");
  CHECK_ERR(krt_build_options_set_precision(NULL, KRT_PRECISION_FP32), INV, "options is NULL");
  krt_build_options_release(oo);

  CHECK_ERR(krt_engine_build(NULL, NULL, &eo), INV, "model_path is NULL");
  CHECK_ERR(krt_engine_build(path, NULL, NULL), INV, "out is NULL");
  CHECK_ERR(krt_engine_build_from_model(NULL, NULL, &eo), INV, "model is NULL");
  CHECK_ERR(krt_engine_build_from_model(m, NULL, NULL), INV, "out is NULL");
  CHECK_ERR(krt_engine_save(NULL, "x.krt"), INV, "engine is NULL");
  CHECK_ERR(krt_engine_save(e, NULL), INV, "path is NULL");
  CHECK_ERR(krt_engine_serialize(NULL, &data, &size), INV, "engine is NULL");
  CHECK_ERR(krt_engine_serialize(e, NULL, &size), INV, "data is NULL");
  CHECK_ERR(krt_engine_serialize(e, &data, NULL), INV, "size is NULL");
  CHECK_ERR(krt_engine_load(NULL, &eo), INV, "path is NULL");
  CHECK_ERR(krt_engine_load(path, NULL), INV, "out is NULL");
  CHECK_ERR(krt_engine_load_memory(NULL, 10, &eo), INV, "data is NULL");
  CHECK_ERR(krt_engine_load_memory(x, sizeof x, NULL), INV, "out is NULL");
  CHECK(krt_engine_input_count(NULL) == 0 && krt_engine_output_count(NULL) == 0);
  CHECK(krt_engine_node_count(NULL) == 0 && krt_engine_layer_count(NULL) == 0);
  CHECK(krt_engine_max_batch(NULL) == 0);
  CHECK(krt_engine_activation_bytes(NULL) == 0 && krt_engine_weight_bytes(NULL) == 0);
  CHECK(krt_engine_device(NULL) == KRT_DEVICE_CPU);
  CHECK(krt_engine_precision(NULL) == KRT_PRECISION_FP32);
  CHECK_ERR(krt_engine_input_info(NULL, 0, &ti), INV, "engine is NULL");
  CHECK_ERR(krt_engine_input_info(e, 0, NULL), INV, "out is NULL");
  CHECK_ERR(krt_engine_output_info(NULL, 0, &ti), INV, "engine is NULL");
  CHECK_ERR(krt_engine_output_info(e, 0, NULL), INV, "out is NULL");
  CHECK_ERR(krt_engine_find_input(NULL, "features", &index), INV, "engine is NULL");
  CHECK_ERR(krt_engine_find_input(e, NULL, &index), INV, "name is NULL");
  CHECK_ERR(krt_engine_find_input(e, "features", NULL), INV, "index is NULL");
  CHECK_ERR(krt_engine_find_output(NULL, "probs", &index), INV, "engine is NULL");
  CHECK_ERR(krt_engine_find_output(e, NULL, &index), INV, "name is NULL");
  CHECK_ERR(krt_engine_find_output(e, "probs", NULL), INV, "index is NULL");
  CHECK_ERR(krt_engine_node(NULL, 0, &li), INV, "engine is NULL");
  CHECK_ERR(krt_engine_node(e, 0, NULL), INV, "out is NULL");
  CHECK_ERR(krt_engine_layer(NULL, 0, &li), INV, "engine is NULL");
  CHECK_ERR(krt_engine_layer(e, 0, NULL), INV, "out is NULL");

  CHECK_ERR(krt_context_create(NULL, &co), INV, "engine is NULL");
  CHECK_ERR(krt_context_create(e, NULL), INV, "out is NULL");
  CHECK_OK(krt_context_create(e, &co));
  CHECK_ERR(krt_context_set_input(NULL, 0, KRT_FLOAT32, dims, 2, x, sizeof x), KRT_ERR_INVALID_ARGUMENT,
            "context is NULL");
  CHECK_ERR(krt_context_set_input(co, 0, KRT_FLOAT32, NULL, 2, x, sizeof x), INV, "dims is NULL");
  CHECK_ERR(krt_context_set_input(co, 0, KRT_FLOAT32, dims, 2, NULL, sizeof x), KRT_ERR_INVALID_ARGUMENT,
            "data is NULL");
  CHECK_ERR(krt_context_set_input_by_name(NULL, "features", KRT_FLOAT32, dims, 2, x, sizeof x),
            INV, "context is NULL");
  CHECK_ERR(krt_context_set_input_by_name(co, NULL, KRT_FLOAT32, dims, 2, x, sizeof x), KRT_ERR_INVALID_ARGUMENT,
            "name is NULL");
  CHECK_ERR(krt_context_set_output(NULL, 0, x, sizeof x), INV, "context is NULL");
  CHECK_ERR(krt_context_set_output_by_name(NULL, "probs", x, sizeof x), INV, "context is NULL");
  CHECK_ERR(krt_context_set_output_by_name(co, NULL, x, sizeof x), INV, "name is NULL");
  CHECK_ERR(krt_context_run(NULL), INV, "context is NULL");
  CHECK_ERR(krt_context_get_output(NULL, 0, &tv), INV, "context is NULL");
  CHECK_ERR(krt_context_get_output(co, 0, NULL), INV, "out is NULL");
  krt_context_release(co);
}

/* ---- model queries ------------------------------------------------------------------------- */

static void test_model(const krt_model *m) {
  CHECK(krt_model_input_count(m) == 1);
  CHECK(krt_model_output_count(m) == 1);
  krt_tensor_info t;
  CHECK_OK(krt_model_input_info(m, 0, &t));
  CHECK(strcmp(t.name, "features") == 0 && t.dtype == KRT_FLOAT32 && t.rank == 2);
  CHECK(t.dims[0] == -1 && t.dims[1] == 8 && t.batch_axis == 0);
  CHECK_OK(krt_model_output_info(m, 0, &t));
  CHECK(strcmp(t.name, "probs") == 0 && t.rank == 2 && t.dims[1] == 4);
  CHECK_ERR(krt_model_input_info(m, 1, &t), KRT_ERR_INVALID_ARGUMENT, "1 inputs");
  CHECK_ERR(krt_model_output_info(m, 5, &t), KRT_ERR_INVALID_ARGUMENT, "out of range");

  size_t n = krt_model_layer_count(m);
  CHECK(n >= 3);
  int64_t params = 0;
  int hidden_found = 0;
  for (size_t i = 0; i < n; i++) {
    krt_layer_info l;
    CHECK_OK(krt_model_layer(m, i, &l));
    params += l.param_count;
    if (strcmp(l.kind, "InputLayer") == 0) CHECK(!l.can_be_output);
    if (strcmp(l.name, "hidden1") == 0) {
      hidden_found = 1;
      CHECK(strcmp(l.kind, "Dense") == 0 && l.can_be_output && l.param_count == 8 * 16 + 16);
      CHECK(l.rank == 2 && l.dims[0] == -1 && l.dims[1] == 16);
    }
  }
  CHECK(hidden_found);
  CHECK(params == 8 * 16 + 16 + 16 * 12 + 12 + 12 * 4 + 4);
  krt_layer_info l;
  CHECK_ERR(krt_model_layer(m, n, &l), KRT_ERR_INVALID_ARGUMENT, "out of range");

  char *text = NULL;
  CHECK_OK(krt_model_dump(m, &text));
  CHECK(text && strstr(text, "hidden1"));
  krt_free(text);
}

/* ---- engine queries and build options ---------------------------------------------------- */

static void test_engine_queries(const krt_engine *e) {
  CHECK(krt_engine_input_count(e) == 1 && krt_engine_output_count(e) == 1);
  CHECK(krt_engine_max_batch(e) == 4);
  CHECK(krt_engine_device(e) == KRT_DEVICE_CPU && krt_engine_precision(e) == KRT_PRECISION_FP32);
  CHECK(krt_engine_activation_bytes(e) > 0);
  CHECK(krt_engine_weight_bytes(e) == 4 * (8 * 16 + 16 + 16 * 12 + 12 + 12 * 4 + 4));
  size_t index = 99;
  CHECK_OK(krt_engine_find_input(e, "features", &index));
  CHECK(index == 0);
  CHECK_OK(krt_engine_find_output(e, "probs", &index));
  CHECK(index == 0);
  CHECK_ERR(krt_engine_find_input(e, "nope", &index), KRT_ERR_NOT_FOUND, "'features'");
  CHECK_ERR(krt_engine_find_output(e, "nope", &index), KRT_ERR_NOT_FOUND, "'probs'");
  krt_tensor_info t;
  CHECK_ERR(krt_engine_input_info(e, 1, &t), KRT_ERR_INVALID_ARGUMENT, "1 inputs");
  CHECK_ERR(krt_engine_output_info(e, 7, &t), KRT_ERR_INVALID_ARGUMENT, "1 outputs");
  CHECK_OK(krt_engine_output_info(e, 0, &t));
  CHECK(t.rank == 2 && t.dims[0] == -1 && t.dims[1] == 4 && t.batch_axis == 0);

  size_t nodes = krt_engine_node_count(e);
  CHECK(nodes >= 3);
  krt_layer_info l;
  for (size_t i = 0; i < nodes; i++) {
    CHECK_OK(krt_engine_node(e, i, &l));
    CHECK(l.name && l.name[0] && l.kind && l.kind[0] && l.detail);
  }
  CHECK_OK(krt_engine_node(e, nodes - 1, &l));
  CHECK(l.rank == 2 && l.dims[1] == 4);
  CHECK_ERR(krt_engine_node(e, nodes, &l), KRT_ERR_INVALID_ARGUMENT, "nodes");
  size_t layers = krt_engine_layer_count(e);
  CHECK(layers >= 3);
  CHECK_ERR(krt_engine_layer(e, layers, &l), KRT_ERR_INVALID_ARGUMENT, "layers");
}

static void test_build_options(const krt_model *m) {
  const char *path = fixture(MLP_CASE, "model.keras");
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_ERR(krt_build_options_set_max_batch(o, 0), KRT_ERR_INVALID_ARGUMENT, "max batch");
  CHECK_ERR(krt_build_options_set_max_batch(o, -3), KRT_ERR_INVALID_ARGUMENT, "max batch");
  int64_t dims[KRT_MAX_RANK + 1] = {1, 8, 1, 1, 1, 1, 1, 1, 1};
  CHECK_ERR(krt_build_options_set_input_shape(o, "features", 0, dims), KRT_ERR_INVALID_ARGUMENT,
            "rank 0");
  CHECK_ERR(krt_build_options_set_input_shape(o, "features", KRT_MAX_RANK + 1, dims),
            KRT_ERR_INVALID_ARGUMENT, "rank 9");
  int64_t zero[2] = {1, 0};
  CHECK_ERR(krt_build_options_set_input_shape(o, "features", 2, zero), KRT_ERR_INVALID_ARGUMENT,
            "dimension 1");
  CHECK_ERR(krt_build_options_set_device(o, (krt_device)7), KRT_ERR_INVALID_ARGUMENT, "device");
  CHECK_ERR(krt_build_options_set_precision(o, (krt_precision)7), KRT_ERR_INVALID_ARGUMENT,
            "precision");
  CHECK_ERR(krt_build_options_add_output(o, ""), KRT_ERR_INVALID_ARGUMENT, "empty");

  /* FP16 and TF32 on the CPU. */
  CHECK_OK(krt_build_options_set_precision(o, KRT_PRECISION_FP16));
  CHECK_ERR(krt_engine_build(path, o, &e), KRT_ERR_UNSUPPORTED, "FP16");
  CHECK_OK(krt_build_options_set_precision(o, KRT_PRECISION_TF32));
  CHECK_ERR(krt_engine_build(path, o, &e), KRT_ERR_UNSUPPORTED,
            "precision TF32 is not supported on the CPU");
  CHECK_ERR(krt_engine_build_from_model(m, o, &e), KRT_ERR_UNSUPPORTED, "TF32");
  CHECK(e == NULL);
  CHECK_OK(krt_build_options_set_precision(o, KRT_PRECISION_FP32));

  /* CUDA, when this build has no usable CUDA backend. */
  const krt_backend *cuda = NULL;
  krt_status *have_cuda = krt_backend_for_device(KRT_DEVICE_CUDA, &cuda);
  if (have_cuda) {
    CHECK_OK(krt_build_options_set_device(o, KRT_DEVICE_CUDA));
    CHECK_ERR(krt_engine_build(path, o, &e), KRT_ERR_DEVICE, "");
    CHECK_ERR(krt_engine_build_from_model(m, o, &e), KRT_ERR_DEVICE, "");
    CHECK_OK(krt_build_options_set_device(o, KRT_DEVICE_CPU));
    krt_status_release(have_cuda);
  }
  krt_build_options_release(o);

  /* An output that is no layer; an input shape for no input; a batch above the max. */
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_add_output(o, "no_such_layer"));
  CHECK_ERR(krt_engine_build_from_model(m, o, &e), KRT_ERR_NOT_FOUND, "no_such_layer");
  krt_build_options_release(o);
  CHECK_OK(krt_build_options_create(&o));
  int64_t shape[2] = {2, 8};
  CHECK_OK(krt_build_options_set_input_shape(o, "no_such_input", 2, shape));
  CHECK_ERR(krt_engine_build_from_model(m, o, &e), KRT_ERR_NOT_FOUND, "no_such_input");
  krt_build_options_release(o);
  CHECK_OK(krt_build_options_create(&o));
  int64_t wrong[2] = {2, 9};
  CHECK_OK(krt_build_options_set_input_shape(o, "features", 2, wrong));
  CHECK_ERR(krt_engine_build(path, o, &e), KRT_ERR_SHAPE, "features");
  krt_build_options_release(o);

  /* An input shape sets the max batch; a cut at an inner layer makes it the output. */
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_set_input_shape(o, "features", 2, shape));
  CHECK_OK(krt_build_options_add_output(o, "hidden1"));
  CHECK_OK(krt_engine_build_from_model(m, o, &e));
  krt_build_options_release(o);
  if (e) {
    krt_tensor_info t;
    CHECK(krt_engine_max_batch(e) == 2);
    CHECK(krt_engine_output_count(e) == 1);
    CHECK_OK(krt_engine_output_info(e, 0, &t));
    CHECK(strcmp(t.name, "hidden1") == 0 && t.dims[1] == 16);
    CHECK(krt_engine_weight_bytes(e) == 4 * (8 * 16 + 16));
    krt_engine_release(e);
    e = NULL;
  }
  CHECK_ERR(krt_engine_build("tests/fixtures/does-not-exist.keras", NULL, &e), KRT_ERR_IO,
            "does-not-exist");
}

/* ---- binding and running ------------------------------------------------------------------- */

static void test_context_misuse(const krt_engine *e) {
  const krt_code INV = KRT_ERR_INVALID_ARGUMENT;
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  if (!c) return;
  float x[5 * 8] = {0};
  int64_t dims[2] = {2, 8};
  krt_tensor_view v;
  CHECK_ERR(krt_context_get_output(c, 0, &v), INV, "no run has completed");
  CHECK_ERR(krt_context_run(c), INV, "input 'features' is not bound");
  CHECK_ERR(krt_context_set_input(c, 1, KRT_FLOAT32, dims, 2, x, 64), INV, "1 inputs");
  CHECK_ERR(krt_context_set_input(c, 0, KRT_DTYPE_INVALID, dims, 2, x, 64), INV, "dtype");
  CHECK_ERR(krt_context_set_input(c, 0, (krt_dtype)42, dims, 2, x, 64), INV, "dtype");
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, dims, 1, x, 64), KRT_ERR_SHAPE, "rank 1");
  int64_t bad_dims[2] = {2, 7};
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, bad_dims, 2, x, 56), KRT_ERR_SHAPE, "axis 1");
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, dims, 2, x, 60), INV, "bytes");
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT64, dims, 2, x, 64), INV, "bytes");
  int64_t big[2] = {5, 8};
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, big, 2, x, sizeof x), KRT_ERR_SHAPE, "batch 5");
  int64_t none[2] = {0, 8};
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, none, 2, x, 0), KRT_ERR_SHAPE, "batch 0");
  CHECK_ERR(krt_context_set_input_by_name(c, "nope", KRT_FLOAT32, dims, 2, x, 64),
            KRT_ERR_NOT_FOUND, "features");
  CHECK_ERR(krt_context_set_output(c, 3, x, sizeof x), INV, "1 outputs");
  CHECK_ERR(krt_context_set_output_by_name(c, "nope", x, sizeof x), KRT_ERR_NOT_FOUND, "probs");
  float y[4 * 4];
  CHECK_ERR(krt_context_set_output(c, 0, y, 8), INV, "less than one sample");
  /* Room for one sample, but the run is batch 2. */
  CHECK_OK(krt_context_set_output(c, 0, y, 16));
  CHECK_OK(krt_context_set_input(c, 0, KRT_FLOAT32, dims, 2, x, 64));
  CHECK_ERR(krt_context_run(c), INV, "output 'probs'");
  CHECK_ERR(krt_context_get_output(c, 0, &v), INV, "the last run on this context failed");
  /* Bound output: the run writes into the caller's buffer. */
  CHECK_OK(krt_context_set_output_by_name(c, "probs", y, sizeof y));
  CHECK_OK(krt_context_run(c));
  CHECK_OK(krt_context_get_output(c, 0, &v));
  CHECK(v.data == y && v.rank == 2 && v.dims[0] == 2 && v.dims[1] == 4 && v.dtype == KRT_FLOAT32);
  CHECK(strcmp(v.name, "probs") == 0);
  CHECK_NEAR(y[0] + y[1] + y[2] + y[3], 1.0, 1e-5); /* softmax */
  CHECK_ERR(krt_context_get_output(c, 1, &v), INV, "1 outputs");
  /* Unbound again: the context's own buffer. */
  CHECK_OK(krt_context_set_output(c, 0, NULL, 0));
  CHECK_OK(krt_context_run(c));
  CHECK_OK(krt_context_get_output(c, 0, &v));
  CHECK(v.data != y && memcmp(v.data, y, 2 * 4 * 4) == 0);
  /* A run that fails after a good one: the good run's outputs are not current any more. */
  CHECK_OK(krt_context_set_output(c, 0, y, 16));
  CHECK_ERR(krt_context_run(c), INV, "output 'probs'");
  CHECK_ERR(krt_context_get_output(c, 0, &v), INV, "the last run on this context failed");
  CHECK_OK(krt_context_set_output(c, 0, NULL, 0));
  CHECK_OK(krt_context_run(c));
  CHECK_OK(krt_context_get_output(c, 0, &v));
  CHECK(v.rank == 2 && v.dims[0] == 2 && v.data != y);
  krt_context_release(c);
}

/* Runs one input buffer of any dtype (batch 2) and compares with the float32 reference. */
static void check_same_as_float(const krt_engine *e, krt_dtype dtype, const void *data,
                                size_t bytes, const float *ref) {
  int64_t dims[2] = {2, 8};
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  CHECK_OK(krt_context_set_input(c, 0, dtype, dims, 2, data, bytes));
  CHECK_OK(krt_context_run(c));
  krt_tensor_view v;
  krt_status *s = krt_context_get_output(c, 0, &v);
  CHECK(s == NULL);
  if (!s) {
    CHECK(memcmp(v.data, ref, 8 * sizeof(float)) == 0);
    if (memcmp(v.data, ref, 8 * sizeof(float)) != 0)
      fprintf(stderr, "  %s input differs from float32\n", krt_dtype_name(dtype));
  }
  krt_status_release(s);
  krt_context_release(c);
}

/* Inputs given as float64, float16 and integers give exactly what the same float32 values give. */
static void test_dtype_conversion(const krt_engine *e) {
  /* Exact in half precision: integers, the smallest subnormal 2^-24, 0x3555, -2^-14. */
  const float values[8] = {-2.0f, -1.0f, 0.0f, 1.0f, 2.0f, 5.9604644775390625e-08f,
                           0.333251953125f, -6.103515625e-05f};
  const uint16_t halves[8] = {0xc000, 0xbc00, 0x0000, 0x3c00, 0x4000, 0x0001, 0x3555, 0x8400};
  float x[16], ref[8];
  double x64[16];
  uint16_t xh[16];
  for (int i = 0; i < 16; i++) {
    x[i] = values[(i * 3) % 8];
    x64[i] = x[i];
    xh[i] = halves[(i * 3) % 8];
  }
  CHECK(run_once(e, x, 2, ref) == 0);
  check_same_as_float(e, KRT_FLOAT64, x64, sizeof x64, ref);
  check_same_as_float(e, KRT_FLOAT16, xh, sizeof xh, ref);

  /* Integer data for a float input is refused, not reinterpreted. */
  int32_t xi[16] = {0};
  int64_t dims[2] = {2, 8};
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  CHECK_ERR(krt_context_set_input(c, 0, KRT_INT32, dims, 2, xi, sizeof xi), KRT_ERR_INVALID_ARGUMENT,
            "input 'features' is float32; int32 data given");
  CHECK_ERR(krt_context_set_input(c, 0, KRT_UINT8, dims, 2, xi, 16), KRT_ERR_INVALID_ARGUMENT,
            "input 'features' is float32; uint8 data given");
  krt_context_release(c);
}

/* An integer input (Embedding's token ids, int32 in the model): int32, int64 and uint8 data give
 * the same answer; float data is refused; a value float32 cannot hold exactly is refused at run
 * time, naming the element, rather than rounded. */
static void test_integer_input(void) {
  const char *model = fixture("embedding", "model.keras");
  if (!model) {
    printf("test_api: fixture embedding absent, integer inputs skipped\n");
    return;
  }
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_set_max_batch(o, 2));
  CHECK_OK(krt_engine_build(model, o, &e));
  krt_build_options_release(o);
  if (!e) return;
  krt_tensor_info info;
  CHECK_OK(krt_engine_input_info(e, 0, &info));
  CHECK(info.dtype == KRT_INT32 && info.rank == 2 && info.dims[1] == 5);
  int32_t xi[10];
  int64_t xl[10];
  uint8_t xb[10];
  float xf[10];
  for (int i = 0; i < 10; i++) xi[i] = (i * 7) % 10, xl[i] = xi[i], xb[i] = (uint8_t)xi[i], xf[i] = (float)xi[i];
  int64_t dims[2] = {2, 5};
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  CHECK_OK(krt_context_set_input(c, 0, KRT_INT32, dims, 2, xi, sizeof xi));
  CHECK_OK(krt_context_run(c));
  krt_tensor_view v;
  CHECK_OK(krt_context_get_output(c, 0, &v));
  int64_t n = krt_view_element_count(&v);
  float *ref = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (ref) memcpy(ref, v.data, (size_t)n * sizeof(float));
  const void *datas[2] = {xl, xb};
  const krt_dtype dtypes[2] = {KRT_INT64, KRT_UINT8};
  const size_t sizes[2] = {sizeof xl, sizeof xb};
  for (int k = 0; k < 2 && ref; k++) {
    CHECK_OK(krt_context_set_input(c, 0, dtypes[k], dims, 2, datas[k], sizes[k]));
    CHECK_OK(krt_context_run(c));
    CHECK_OK(krt_context_get_output(c, 0, &v));
    CHECK(krt_view_element_count(&v) == n && memcmp(v.data, ref, (size_t)n * sizeof(float)) == 0);
  }
  free(ref);
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, dims, 2, xf, sizeof xf), KRT_ERR_INVALID_ARGUMENT,
            "input 'tokens' is int32; float32 data given");
  /* The CPU keeps Gather indices as int32: exact at any size (tests/large_index_test.sh runs a
   * table of 2^24 + 8 rows), so 2^24 + 1 is simply outside this 10-row table, and an int64 value
   * beyond int32 is refused before the run. */
  xl[3] = ((int64_t)1 << 24) + 1;
  CHECK_OK(krt_context_set_input(c, 0, KRT_INT64, dims, 2, xl, sizeof xl));
  CHECK_ERR(krt_context_run(c), KRT_ERR_INVALID_ARGUMENT,
            "index 16777217 at position 3 is outside [0, 10)");
  xl[3] = (int64_t)1 << 31;
  CHECK_OK(krt_context_set_input(c, 0, KRT_INT64, dims, 2, xl, sizeof xl));
  CHECK_ERR(krt_context_run(c), KRT_ERR_INVALID_ARGUMENT,
            "input 'tokens' (int32): element 3 is 2147483648, outside int32");
  krt_context_release(c);
  krt_engine_release(e);
}

/* Against real Keras: a fixture case's inputs/<i>.npy (model input order) through an engine
 * built for their batch, compared with expected/<j>.npy. */
static void check_case_against_keras(const char *name, const char *model_file) {
  const char *model = fixture(name, model_file);
  if (!model) {
    printf("test_api: fixture %s absent, its comparison skipped\n", name);
    return;
  }
  enum { MAX_IO = 4 };
  npy_array in[MAX_IO], want[MAX_IO];
  int n_in = 0, n_want = 0;
  char file[64], err[512];
  memset(in, 0, sizeof in);
  memset(want, 0, sizeof want);
  for (; n_in < MAX_IO; n_in++) {
    snprintf(file, sizeof file, "inputs/%d.npy", n_in);
    const char *p = fixture(name, file);
    if (!p) break;
    CHECK(npy_read(p, &in[n_in], err, sizeof err) == 0);
  }
  for (; n_want < MAX_IO; n_want++) {
    snprintf(file, sizeof file, "expected/%d.npy", n_want);
    const char *p = fixture(name, file);
    if (!p) break;
    CHECK(npy_read(p, &want[n_want], err, sizeof err) == 0);
  }
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  krt_context *c = NULL;
  CHECK_OK(krt_build_options_create(&o));
  if (n_in > 0 && in[0].rank > 0) CHECK_OK(krt_build_options_set_max_batch(o, in[0].dims[0]));
  CHECK_OK(krt_engine_build(model, o, &e));
  if (e) CHECK_OK(krt_context_create(e, &c));
  if (c) {
    CHECK((size_t)n_in == krt_engine_input_count(e));
    for (int i = 0; i < n_in; i++)
      CHECK_OK(krt_context_set_input(c, (size_t)i, in[i].dtype, in[i].dims, in[i].rank,
                                     in[i].data, in[i].bytes));
    CHECK_OK(krt_context_run(c));
    for (int j = 0; j < n_want; j++) {
      krt_tensor_view v;
      krt_status *s = krt_context_get_output(c, (size_t)j, &v);
      CHECK(s == NULL);
      krt_status_release(s);
      if (s) continue;
      int64_t n = krt_view_element_count(&v);
      CHECK(want[j].dtype == KRT_FLOAT32 && n * 4 == (int64_t)want[j].bytes);
      if (want[j].dtype != KRT_FLOAT32 || n * 4 != (int64_t)want[j].bytes) continue;
      const float *a = v.data, *b = want[j].data;
      int bad = 0;
      for (int64_t i = 0; i < n; i++) bad += fabs((double)a[i] - b[i]) > 1e-5 + 1e-4 * fabs(b[i]);
      CHECK(bad == 0);
      if (bad) fprintf(stderr, "  %s output %d: %d of %lld values differ from Keras\n", name, j, bad, (long long)n);
    }
  }
  krt_context_release(c);
  krt_engine_release(e);
  krt_build_options_release(o);
  for (int i = 0; i < n_in; i++) npy_free(&in[i]);
  for (int j = 0; j < n_want; j++) npy_free(&want[j]);
}

/* ---- engine files -------------------------------------------------------------------------- */

/* Sets the META precision of a serialised engine (META: u32 device, u32 precision, ...) and
 * re-computes the checksum, as a file written with that precision would have. */
static void patch_precision(unsigned char *file, size_t size, uint32_t precision) {
  const unsigned char *entry = file + ENGINE_HEADER_SIZE; /* META's table entry comes first */
  uint64_t meta = 0;
  for (int i = 7; i >= 0; i--) meta = meta << 8 | entry[8 + i];
  if (meta + 8 > size) return;
  for (int i = 0; i < 4; i++) file[meta + 4 + (size_t)i] = (unsigned char)(precision >> (8 * i));
  uint32_t crc = engine_crc32(file + ENGINE_HEADER_SIZE, size - ENGINE_HEADER_SIZE);
  for (int i = 0; i < 4; i++) file[ENGINE_OFF_CRC + i] = (unsigned char)(crc >> (8 * i));
}

/* A CPU engine file that says TF32 or FP16 loads as far as the backend, which refuses it; an
 * unknown precision is a bad file; the file's own FP32 still loads. */
static void test_file_precisions(const void *data, size_t size) {
  unsigned char *copy = malloc(size);
  if (!copy) return;
  krt_engine *loaded = NULL;
  memcpy(copy, data, size);
  patch_precision(copy, size, KRT_PRECISION_TF32);
  CHECK_ERR(krt_engine_load_memory(copy, size, &loaded), KRT_ERR_UNSUPPORTED,
            "precision TF32 is not supported on the CPU");
  patch_precision(copy, size, KRT_PRECISION_FP16);
  CHECK_ERR(krt_engine_load_memory(copy, size, &loaded), KRT_ERR_UNSUPPORTED, "FP16");
  patch_precision(copy, size, 3);
  CHECK_ERR(krt_engine_load_memory(copy, size, &loaded), KRT_ERR_BAD_FILE, "unknown precision 3");
  patch_precision(copy, size, KRT_PRECISION_FP32);
  CHECK(memcmp(copy, data, size) == 0);
  CHECK_OK(krt_engine_load_memory(copy, size, &loaded));
  CHECK(loaded && krt_engine_precision(loaded) == KRT_PRECISION_FP32);
  krt_engine_release(loaded);
  free(copy);
}

static void test_save_load(const krt_engine *e) {
  float x[4 * 8], ref[4 * 4], got[4 * 4];
  for (int i = 0; i < 32; i++) x[i] = (float)(i * 37 % 11) / 7.0f - 0.6f;
  CHECK(run_once(e, x, 4, ref) == 0);

  char path[1100];
  scratch_path(path, sizeof path, ".krt");
  CHECK_OK(krt_engine_save(e, path));
  CHECK_OK(krt_engine_save(e, path)); /* replaces */
  krt_engine *loaded = NULL;
  CHECK_OK(krt_engine_load(path, &loaded));
  if (loaded) {
    CHECK(krt_engine_max_batch(loaded) == 4);
    CHECK(krt_engine_node_count(loaded) == krt_engine_node_count(e));
    CHECK(krt_engine_layer_count(loaded) == krt_engine_layer_count(e));
    CHECK(krt_engine_activation_bytes(loaded) == krt_engine_activation_bytes(e));
    CHECK(krt_engine_weight_bytes(loaded) == krt_engine_weight_bytes(e));
    CHECK(run_once(loaded, x, 4, got) == 0);
    CHECK(memcmp(got, ref, sizeof ref) == 0);
    /* Saving a mapped engine over its own file leaves it working. */
    CHECK_OK(krt_engine_save(loaded, path));
    CHECK(run_once(loaded, x, 4, got) == 0);
    CHECK(memcmp(got, ref, sizeof ref) == 0);
    krt_engine_release(loaded);
    loaded = NULL;
  }

  void *data = NULL;
  size_t size = 0;
  CHECK_OK(krt_engine_serialize(e, &data, &size));
  if (!data) return;
  CHECK(size > 64 && memcmp(data, "KRTENGN", 7) == 0);
  CHECK_OK(krt_engine_load_memory(data, size, &loaded));
  if (loaded) {
    CHECK(run_once(loaded, x, 4, got) == 0);
    CHECK(memcmp(got, ref, sizeof ref) == 0);
    krt_engine_release(loaded);
    loaded = NULL;
  }

  /* Files that are not (whole) engines. */
  char missing[1100];
  scratch_path(missing, sizeof missing, ".missing.krt");
  CHECK_ERR(krt_engine_load(missing, &loaded), KRT_ERR_IO, missing);
  CHECK_ERR(krt_engine_load(fixture(MLP_CASE, "model.keras"), &loaded), KRT_ERR_BAD_FILE,
            "not a krt engine");
  write_file(path, data, size / 2);
  CHECK_ERR(krt_engine_load(path, &loaded), KRT_ERR_BAD_FILE, path);
  write_file(path, data, 0);
  CHECK_ERR(krt_engine_load(path, &loaded), KRT_ERR_BAD_FILE, "empty");
  write_file(path, "just some text, long enough to look like a header maybe? no.", 60);
  CHECK_ERR(krt_engine_load(path, &loaded), KRT_ERR_BAD_FILE, path);
  CHECK_ERR(krt_engine_load_memory(data, size - 1, &loaded), KRT_ERR_BAD_FILE, "memory");
  CHECK_ERR(krt_engine_load_memory(data, 0, &loaded), KRT_ERR_BAD_FILE, "empty");
  test_file_precisions(data, size);
  /* A flipped byte in the weights: the checksum. */
  unsigned char *bytes = data;
  bytes[size - 5] ^= 0x40;
  CHECK_ERR(krt_engine_load_memory(data, size, &loaded), KRT_ERR_BAD_FILE, "");
  CHECK(loaded == NULL);
  krt_free(data);
  unlink(path);
  CHECK_ERR(krt_engine_save(e, "no-such-directory-krt/x/engine.krt"), KRT_ERR_IO,
            "no-such-directory-krt");
}

/* ---- threads ------------------------------------------------------------------------------- */

#define THREADS 4
#define ITERATIONS 25

typedef struct thread_job {
  const krt_engine *engine;
  const float *x;
  const float *expected;
  int mismatches;
  int errors;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *job = arg;
  krt_context *c = NULL;
  krt_status *s = krt_context_create(job->engine, &c);
  int64_t dims[2] = {4, 8};
  for (int it = 0; !s && it < ITERATIONS; it++) {
    s = krt_context_set_input(c, 0, KRT_FLOAT32, dims, 2, job->x, 4 * 8 * 4);
    if (!s) s = krt_context_run(c);
    krt_tensor_view v;
    if (!s) s = krt_context_get_output(c, 0, &v);
    if (!s && memcmp(v.data, job->expected, 4 * 4 * 4) != 0) job->mismatches++;
  }
  if (s) job->errors++;
  krt_status_release(s);
  krt_context_release(c);
  return NULL;
}

static void test_threads(const krt_engine *e) {
  float x[4 * 8], ref[4 * 4];
  for (int i = 0; i < 32; i++) x[i] = (float)((i * 13) % 9) / 4.0f - 1.0f;
  CHECK(run_once(e, x, 4, ref) == 0);
  pthread_t threads[THREADS];
  thread_job jobs[THREADS];
  int started[THREADS] = {0};
  for (int t = 0; t < THREADS; t++) {
    jobs[t] = (thread_job){e, x, ref, 0, 0};
    started[t] = pthread_create(&threads[t], NULL, thread_main, &jobs[t]) == 0;
    CHECK(started[t]);
  }
  for (int t = 0; t < THREADS; t++) {
    if (!started[t]) continue;
    pthread_join(threads[t], NULL);
    CHECK(jobs[t].errors == 0);
    CHECK(jobs[t].mismatches == 0);
  }
}

/* ---- several inputs ------------------------------------------------------------------------ */

static void test_multi_input(void) {
  const char *path = fixture(MULTI_CASE, "model.keras");
  if (!path) {
    printf("test_api: fixture %s absent, multi-input checks skipped\n", MULTI_CASE);
    return;
  }
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_set_max_batch(o, 3));
  CHECK_OK(krt_engine_build(path, o, &e));
  krt_build_options_release(o);
  if (!e) return;
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  float a[3 * 6] = {0}, b[3 * 4 * 3] = {0};
  int64_t da[2] = {2, 6}, db[3] = {3, 4, 3};
  CHECK_OK(krt_context_set_input_by_name(c, "vector", KRT_FLOAT32, da, 2, a, 2 * 6 * 4));
  CHECK_ERR(krt_context_run(c), KRT_ERR_INVALID_ARGUMENT, "input 'sequence' is not bound");
  CHECK_OK(krt_context_set_input_by_name(c, "sequence", KRT_FLOAT32, db, 3, b, sizeof b));
  CHECK_ERR(krt_context_run(c), KRT_ERR_SHAPE, "batch");
  db[0] = 2;
  CHECK_OK(krt_context_set_input_by_name(c, "sequence", KRT_FLOAT32, db, 3, b, 2 * 12 * 4));
  CHECK_OK(krt_context_run(c));
  krt_tensor_view v;
  CHECK_OK(krt_context_get_output(c, 0, &v));
  CHECK(v.rank == 2 && v.dims[0] == 2 && v.dims[1] == 3);
  /* Inputs that disagree on the batch after a good run: the run fails and its outputs, old or
   * new, are refused until a run succeeds again. */
  db[0] = 3;
  CHECK_OK(krt_context_set_input_by_name(c, "sequence", KRT_FLOAT32, db, 3, b, sizeof b));
  CHECK_ERR(krt_context_run(c), KRT_ERR_SHAPE, "batch");
  CHECK_ERR(krt_context_get_output(c, 0, &v), KRT_ERR_INVALID_ARGUMENT,
            "the last run on this context failed");
  db[0] = 2;
  CHECK_OK(krt_context_set_input_by_name(c, "sequence", KRT_FLOAT32, db, 3, b, 2 * 12 * 4));
  CHECK_OK(krt_context_run(c));
  CHECK_OK(krt_context_get_output(c, 0, &v));
  CHECK(v.rank == 2 && v.dims[0] == 2 && v.dims[1] == 3);
  krt_context_release(c);
  krt_engine_release(e);
}

/* A model whose sequence length is unknown: refused until its input shape is given. */
static void test_unknown_dims(void) {
  const char *root = getenv("KRT_SOURCE_DIR");
  char path[1100];
  snprintf(path, sizeof path, "%s%stests/data/import/seq_k2.h5", root ? root : "", root ? "/" : "");
  struct stat st;
  if (stat(path, &st) != 0) {
    printf("test_api: %s absent, unknown-dimension checks skipped\n", path);
    return;
  }
  krt_engine *e = NULL;
  CHECK_ERR(krt_engine_build(path, NULL, &e), KRT_ERR_SHAPE,
            "input 'd1_input' has unknown dimension 1");
  krt_build_options *o = NULL;
  CHECK_OK(krt_build_options_create(&o));
  int64_t shape[3] = {2, 5, 4};
  CHECK_OK(krt_build_options_set_input_shape(o, "d1_input", 3, shape));
  CHECK_OK(krt_engine_build(path, o, &e));
  krt_build_options_release(o);
  if (!e) return;
  krt_tensor_info t;
  CHECK_OK(krt_engine_input_info(e, 0, &t));
  CHECK(t.rank == 3 && t.dims[0] == -1 && t.dims[1] == 5 && t.dims[2] == 4);
  CHECK(krt_engine_max_batch(e) == 2);
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  float x[2 * 6 * 4] = {0};
  int64_t other[3] = {2, 6, 4};
  CHECK_ERR(krt_context_set_input(c, 0, KRT_FLOAT32, other, 3, x, sizeof x), KRT_ERR_SHAPE,
            "axis 1 is 6, the engine expects 5");
  CHECK_OK(krt_context_set_input(c, 0, KRT_FLOAT32, shape, 3, x, 2 * 5 * 4 * 4));
  CHECK_OK(krt_context_run(c));
  krt_tensor_view v;
  CHECK_OK(krt_context_get_output(c, 0, &v));
  CHECK(v.rank == 3 && v.dims[0] == 2 && v.dims[1] == 5 && v.dims[2] == 2);
  krt_context_release(c);
  krt_engine_release(e);
}

/* Whether every element of got is within 1e-5 + 1e-4 |want| (the fixtures' tolerance). */
static int close_to(const float *got, const npy_array *want, int64_t count) {
  if (want->dtype != KRT_FLOAT32 || (int64_t)want->bytes != count * 4) return 0;
  const float *w = want->data;
  for (int64_t i = 0; i < count; i++)
    if (!(fabs((double)got[i] - w[i]) <= 1e-5 + 1e-4 * fabs((double)w[i]))) return 0;
  return 1;
}

/* krt_build_options_mark_all_outputs on inner_output (image -> conv1 -> gap -> out), cut to "out"
 * alone: conv1 comes back as an extra output, named after its layer, holding Keras's values
 * (the fixture's expected/1.npy); the model's output stays output 0. On small_cnn the engine has
 * the same nodes as without the option (no fusion given up), and a fused conv+bn+relu node's
 * output is published under the relu's name, its conv's and bn's results not at all. */
static void test_mark_all_outputs(void) {
  const char *model = fixture("inner_output", "model.keras");
  const char *input = fixture("inner_output", "inputs/0.npy");
  const char *want_out = fixture("inner_output", "expected/0.npy");
  const char *want_conv1 = fixture("inner_output", "expected/1.npy");
  if (!model || !input || !want_out || !want_conv1) {
    printf("test_api: fixture inner_output absent, mark-all test skipped\n");
    return;
  }
  CHECK_ERR(krt_build_options_mark_all_outputs(NULL, 1), KRT_ERR_INVALID_ARGUMENT, "options");
  npy_array x, out, conv1;
  char err[512];
  memset(&x, 0, sizeof x);
  memset(&out, 0, sizeof out);
  memset(&conv1, 0, sizeof conv1);
  CHECK(npy_read(input, &x, err, sizeof err) == 0);
  CHECK(npy_read(want_out, &out, err, sizeof err) == 0);
  CHECK(npy_read(want_conv1, &conv1, err, sizeof err) == 0);

  krt_build_options *o = NULL;
  krt_engine *plain = NULL, *all = NULL;
  krt_context *c = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_add_output(o, "out"));
  CHECK_OK(krt_build_options_set_max_batch(o, x.rank > 0 ? x.dims[0] : 1));
  CHECK_OK(krt_engine_build(model, o, &plain));
  CHECK_OK(krt_build_options_mark_all_outputs(o, 1));
  CHECK_OK(krt_engine_build(model, o, &all));
  if (plain && all) {
    CHECK(krt_engine_output_count(plain) == 1);
    CHECK(krt_engine_output_count(all) > 1);
    CHECK(krt_engine_node_count(all) == krt_engine_node_count(plain));
    krt_tensor_info t;
    CHECK_OK(krt_engine_output_info(all, 0, &t));
    CHECK(strcmp(t.name, "out") == 0);
    size_t conv1_index = 0, node = 0, previous = 0;
    CHECK_OK(krt_engine_find_output(all, "conv1", &conv1_index));
    CHECK(conv1_index > 0);
    /* Extra outputs follow in execution order, each from a node; names are unique. */
    for (size_t i = 1; i < krt_engine_output_count(all); i++) {
      CHECK_OK(krt_engine_output_node(all, i, &node));
      CHECK(i == 1 || node > previous);
      previous = node;
      krt_tensor_info a, b;
      CHECK_OK(krt_engine_output_info(all, i, &a));
      for (size_t j = 0; j < i; j++) {
        CHECK_OK(krt_engine_output_info(all, j, &b));
        CHECK(strcmp(a.name, b.name) != 0);
      }
    }
    CHECK_ERR(krt_engine_output_node(all, 99, &node), KRT_ERR_INVALID_ARGUMENT, "out of range");
    CHECK_ERR(krt_engine_output_node(NULL, 0, &node), KRT_ERR_INVALID_ARGUMENT, "engine");
    CHECK_OK(krt_context_create(all, &c));
  }
  if (c) {
    CHECK_OK(krt_context_set_input(c, 0, x.dtype, x.dims, x.rank, x.data, x.bytes));
    CHECK_OK(krt_context_run(c));
    krt_tensor_view v;
    size_t conv1_index = 0;
    CHECK_OK(krt_context_get_output(c, 0, &v));
    CHECK(close_to(v.data, &out, krt_view_element_count(&v)));
    CHECK_OK(krt_engine_find_output(all, "conv1", &conv1_index));
    CHECK_OK(krt_context_get_output(c, conv1_index, &v));
    CHECK(close_to(v.data, &conv1, krt_view_element_count(&v)));
  }
  krt_context_release(c);
  krt_engine_release(all);
  krt_engine_release(plain);
  krt_build_options_release(o);
  npy_free(&x);
  npy_free(&out);
  npy_free(&conv1);

  const char *cnn = fixture("small_cnn", "model.keras");
  if (!cnn) return;
  krt_engine *cnn_plain = NULL, *cnn_all = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_engine_build(cnn, o, &cnn_plain));
  CHECK_OK(krt_build_options_mark_all_outputs(o, 1));
  CHECK_OK(krt_engine_build(cnn, o, &cnn_all));
  if (cnn_plain && cnn_all) {
    size_t index;
    CHECK(krt_engine_node_count(cnn_all) == krt_engine_node_count(cnn_plain));
    CHECK(krt_engine_output_count(cnn_all) == krt_engine_node_count(cnn_all));
    CHECK_OK(krt_engine_find_output(cnn_all, "block1a_relu", &index));
    CHECK_ERR(krt_engine_find_output(cnn_all, "block1a_bn", &index), KRT_ERR_NOT_FOUND, "block1a_bn");
    CHECK_ERR(krt_engine_find_output(cnn_all, "block1a_conv", &index), KRT_ERR_NOT_FOUND, "block1a_conv");
  }
  krt_engine_release(cnn_all);
  krt_engine_release(cnn_plain);
  krt_build_options_release(o);
}

/* krt_version_string, krt_build_info and krt_device_info: the version is the header's, the build
 * lines come in their documented order, and the CUDA device answers with its versions or a
 * KRT_ERR_DEVICE reason, never a crash (CI has no GPU). */
static void test_version_and_build_info(void) {
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", KRT_VERSION_MAJOR, KRT_VERSION_MINOR,
           KRT_VERSION_PATCH);
  CHECK(strcmp(krt_version_string(), version) == 0);
  const char *info = krt_build_info();
  static const char *const keys[] = {"commit: ", "\nbuild type: ", "\ncuda module: ",
                                     "\nsanitizers: ", "\ndebug hooks: "};
  const char *at = info;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *found = strstr(at, keys[i]);
    CHECK(found != NULL && (i > 0 || found == info));
    if (found) at = found + 1;
  }
  CHECK(info[0] && info[strlen(info) - 1] == '\n');

  char *text = NULL;
  CHECK_ERR(krt_device_info(KRT_DEVICE_CPU, NULL), KRT_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_OK(krt_device_info(KRT_DEVICE_CPU, &text));
  CHECK(text && strstr(text, "cpu"));
  krt_free(text);
  text = NULL;
  krt_status *s = krt_device_info(KRT_DEVICE_CUDA, &text);
  if (s) {
    CHECK(krt_status_code(s) == KRT_ERR_DEVICE);
    CHECK(strstr(krt_status_message(s), "not available") != NULL);
    CHECK(text == NULL);
  } else {
    CHECK(text && strstr(text, "cuDNN"));
  }
  krt_status_release(s);
  krt_free(text);
}

int main(void) {
  test_version_and_build_info();
  if (!fixture(MLP_CASE, "model.keras")) {
    printf("test_api: fixture tests/fixtures/%s/model.keras not found; skipped\n", MLP_CASE);
    return 77;
  }
  krt_model *m = NULL;
  CHECK_OK(krt_model_import(fixture(MLP_CASE, "model.keras"), &m));
  krt_engine *e = build_mlp(4);
  if (!m || !e) {
    krt_model_release(m);
    krt_engine_release(e);
    return test_summary("test_api");
  }
  test_nulls(e, m);
  test_model(m);
  test_engine_queries(e);
  test_build_options(m);
  test_context_misuse(e);
  test_dtype_conversion(e);
  test_integer_input();
  check_case_against_keras(MLP_CASE, "model.keras");
  check_case_against_keras(CNN_CASE, "model.h5");
  check_case_against_keras(MULTI_CASE, "model.keras");
  test_save_load(e);
  test_threads(e);
  test_multi_input();
  test_unknown_dims();
  test_mark_all_outputs();
  krt_engine_release(e);
  krt_model_release(m);
  return test_summary("test_api");
}
