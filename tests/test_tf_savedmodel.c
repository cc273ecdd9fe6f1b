/* The SavedModel importer (src/import/tf_savedmodel.c) through the public API, on the sm_tf_module
 * fixture (tools/fixtures/make_saved_models.py: a tf.Module saved by tf.saved_model.save with the
 * signatures serving_default {y, z} and tanh_scaled {t}) and damaged copies of it: the signature
 * option, a signature the model lacks, a missing data shard, another model's variables (its
 * variables have no value there), a missing variables folder, a
 * directory that is no SavedModel, a saved_model.pb that does not decode. The numbers of both
 * signatures are checked by run_cases against TensorFlow's (the fixture's expected/ for
 * serving_default); here tanh_scaled is checked against its definition, t = tanh(x w) * scale,
 * with w and scale read back from the fixture's bundle. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graphdef.pb-c.h"
#include "import/tf_bundle.h"
#include "test.h"

#define FIXTURE "tests/fixtures/sm_tf_module/saved_model"
#define SHARD "variables/variables.data-00000-of-00001"

static char dir[256];

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out, ch;
  while (ok && (ch = fgetc(in)) != EOF) fputc(ch, out);
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok;
}

/* dir/m: a copy of the fixture. */
static void fresh_copy(void) {
  static const char *const files[] = {"saved_model.pb", "variables/variables.index", SHARD};
  char from[512], to[512], cmd[600];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/m/variables'", dir);
  CHECK(system(cmd) == 0);
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(from, sizeof from, "%s/%s", FIXTURE, files[i]);
    snprintf(to, sizeof to, "%s/m/%s", dir, files[i]);
    CHECK(copy_file(from, to));
  }
}

static krt_status *build(const char *path, const char *signature, krt_engine **e) {
  krt_build_options *o = NULL;
  krt_status *s = krt_build_options_create(&o);
  if (!s && signature) s = krt_build_options_set_signature(o, signature);
  if (!s) s = krt_build_options_set_max_batch(o, 2);
  if (!s) s = krt_engine_build(path, o, e);
  krt_build_options_release(o);
  return s;
}

static void test_signatures(void) {
  krt_engine *e = NULL;
  CHECK_OK(build(FIXTURE, NULL, &e));
  if (e) {
    CHECK(krt_engine_output_count(e) == 2);
    krt_tensor_info info;
    CHECK_OK(krt_engine_output_info(e, 0, &info));
    CHECK(strcmp(info.name, "y") == 0 || strcmp(info.name, "z") == 0);
    CHECK_OK(krt_engine_input_info(e, 0, &info));
    CHECK(strcmp(info.name, "serving_default_x") == 0 && info.rank == 2 && info.dims[1] == 6);
  }
  krt_engine_release(e);
  e = NULL;

  /* tanh_scaled: t = tanh(x w) * scale, with the bundle's w [6, 4] and scale. */
  CHECK_OK(build(FIXTURE, "tanh_scaled", &e));
  tf_bundle *b = NULL;
  tf_bundle_tensor w = {0}, scale = {0};
  CHECK_OK(tf_bundle_open(FIXTURE "/variables/variables", &b));
  if (b) CHECK_OK(tf_bundle_read(b, "w/.ATTRIBUTES/VARIABLE_VALUE", &w));
  if (b) CHECK_OK(tf_bundle_read(b, "scale/.ATTRIBUTES/VARIABLE_VALUE", &scale));
  tf_bundle_close(b);
  if (e && w.size == 24 * sizeof(float) && scale.size == sizeof(float)) {
    CHECK(krt_engine_output_count(e) == 1);
    krt_tensor_info info;
    CHECK_OK(krt_engine_output_info(e, 0, &info));
    CHECK(strcmp(info.name, "t") == 0);
    CHECK_OK(krt_engine_input_info(e, 0, &info));
    CHECK(strcmp(info.name, "tanh_scaled_x") == 0);
    float x[2][6], t[2][4], wv[6][4], sv;
    memcpy(wv, w.data, sizeof wv);
    memcpy(&sv, scale.data, sizeof sv);
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 6; j++) x[i][j] = (float)((i * 6 + j) % 5) * 0.25f - 0.5f;
    krt_context *c = NULL;
    CHECK_OK(krt_context_create(e, &c));
    const int64_t dims[2] = {2, 6};
    memset(t, 0, sizeof t);
    if (c) CHECK_OK(krt_context_set_input(c, 0, KRT_FLOAT32, dims, 2, x, sizeof x));
    if (c) CHECK_OK(krt_context_set_output(c, 0, t, sizeof t));
    if (c) CHECK_OK(krt_context_run(c));
    double worst = 0;
    for (int i = 0; i < 2; i++)
      for (int k = 0; k < 4; k++) {
        double acc = 0;
        for (int j = 0; j < 6; j++) acc += (double)x[i][j] * wv[j][k];
        double want = tanh(acc) * sv;
        if (fabs(want - t[i][k]) > worst) worst = fabs(want - t[i][k]);
      }
    CHECK(worst < 1e-5);
    krt_context_release(c);
  }
  free(w.data);
  free(scale.data);
  krt_engine_release(e);
  e = NULL;

  CHECK_ERR(build(FIXTURE, "nope", &e), KRT_ERR_NOT_FOUND, "no signature 'nope'");
  CHECK_ERR(build(FIXTURE, "nope", &e), KRT_ERR_NOT_FOUND, "'tanh_scaled'");
}

static void test_damaged(void) {
  char path[600], m[300];
  snprintf(m, sizeof m, "%s/m", dir);
  krt_model *model = NULL;

  fresh_copy();
  snprintf(path, sizeof path, "%s/%s", m, SHARD);
  unlink(path);
  CHECK_ERR(krt_model_import(m, &model), KRT_ERR_BAD_FILE, "cannot open the data shard");

  /* Another model's variables: the object ids of this one's variables name objects that hold no
   * value there. */
  fresh_copy();
  char from[512];
  snprintf(from, sizeof from, "tests/fixtures/sm_keras3_mlp/saved_model/variables/variables.index");
  snprintf(path, sizeof path, "%s/variables/variables.index", m);
  CHECK(copy_file(from, path));
  snprintf(from, sizeof from, "tests/fixtures/sm_keras3_mlp/saved_model/%s", SHARD);
  snprintf(path, sizeof path, "%s/%s", m, SHARD);
  CHECK(copy_file(from, path));
  CHECK_ERR(krt_model_import(m, &model), KRT_ERR_BAD_FILE, "has no value in the checkpoint");

  fresh_copy();
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/variables'", m);
  CHECK(system(cmd) == 0);
  CHECK_ERR(krt_model_import(m, &model), KRT_ERR_IO, "variables.index");

  fresh_copy();
  snprintf(path, sizeof path, "%s/saved_model.pb", m);
  FILE *f = fopen(path, "wb");
  if (f) {
    fputs("not a protocol buffer \xff\xff\xff", f);
    fclose(f);
  }
  CHECK_ERR(krt_model_import(m, &model), KRT_ERR_BAD_FILE, "does not decode");
  unlink(path);
  CHECK_ERR(krt_model_import(m, &model), KRT_ERR_BAD_FILE, "no saved_model.pb");
  CHECK(model == NULL);
}

int main(void) {
  FILE *probe = fopen(FIXTURE "/saved_model.pb", "rb");
  if (!probe) {
    fprintf(stderr, "test_tf_savedmodel: %s missing (run from the source tree)\n", FIXTURE);
    return 1;
  }
  fclose(probe);
  snprintf(dir, sizeof dir, "/tmp/krt-savedmodel-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_signatures();
  test_damaged();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  return test_summary("test_tf_savedmodel");
}
