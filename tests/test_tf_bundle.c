/* The tensor bundle reader (src/import/tf_bundle.c) on the variables TensorFlow wrote for the
 * sm_tf_module fixture (tools/fixtures/make_saved_models.py: a tf.Module with w [6, 4], b [4] and
 * a scalar), then on damaged copies of them: a truncated data shard, a flipped byte in the data
 * (the tensor's CRC-32C), a flipped byte in the index (the block's CRC-32C), a truncated index and
 * a missing shard. CRC-32C itself against the standard check value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/status.h"
#include "graphdef.pb-c.h"
#include "import/tf_bundle.h"
#include "savedmodel.pb-c.h"
#include "test.h"

#define FIXTURE "tests/fixtures/sm_tf_module/saved_model/variables/variables"
#define SHARD ".data-00000-of-00001"

static char dir[256];

static int copy_file(const char *from, const char *to, long keep) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out;
  long n = 0;
  int ch;
  while (ok && (keep < 0 || n < keep) && (ch = fgetc(in)) != EOF) {
    fputc(ch, out);
    n++;
  }
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok;
}

/* A fresh copy of the bundle as dir/v.index and dir/v.data-...; keep_* < 0: whole file. */
static void fresh_copy(long keep_index, long keep_data) {
  char from[512], to[512];
  snprintf(from, sizeof from, "%s.index", FIXTURE);
  snprintf(to, sizeof to, "%s/v.index", dir);
  CHECK(copy_file(from, to, keep_index));
  snprintf(from, sizeof from, "%s%s", FIXTURE, SHARD);
  snprintf(to, sizeof to, "%s/v%s", dir, SHARD);
  CHECK(copy_file(from, to, keep_data));
}

static void flip_byte(const char *suffix, long offset_from_end) {
  char path[512];
  snprintf(path, sizeof path, "%s/v%s", dir, suffix);
  FILE *f = fopen(path, "r+b");
  CHECK(f != NULL);
  if (!f) return;
  fseek(f, -offset_from_end, SEEK_END);
  int ch = fgetc(f);
  fseek(f, -offset_from_end, SEEK_END);
  fputc(ch ^ 0x20, f);
  fclose(f);
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static krt_status *read_all(tf_bundle *b) {
  for (size_t i = 0; i < tf_bundle_count(b); i++) {
    const char *key = tf_bundle_key(b, i);
    krt_status *s;
    if (strcmp(key, "_CHECKPOINTABLE_OBJECT_GRAPH") == 0) {
      uint8_t *data;
      size_t size;
      s = tf_bundle_read_string(b, key, &data, &size);
      if (!s) free(data);
    } else {
      tf_bundle_tensor t;
      s = tf_bundle_read(b, key, &t);
      if (!s) free(t.data);
    }
    if (s) return s;
  }
  return NULL;
}

static void test_crc32c(void) {
  CHECK(tf_crc32c((const uint8_t *)"123456789", 9) == 0xe3069283u);
  CHECK(tf_crc32c_extend(tf_crc32c((const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5) ==
        0xe3069283u);
  CHECK(tf_crc32c_mask(0) == 0xa282ead8u);
}

static void test_good_bundle(void) {
  tf_bundle *b = NULL;
  CHECK_OK(tf_bundle_open(FIXTURE, &b));
  if (!b) return;
  /* Keys in order: the object graph and the three variables. */
  CHECK(tf_bundle_count(b) == 4);
  tf_bundle_tensor t;
  CHECK_OK(tf_bundle_read(b, "w/.ATTRIBUTES/VARIABLE_VALUE", &t));
  CHECK(t.dtype == KRT__TF__DATA_TYPE__DT_FLOAT && t.rank == 2 && t.dims[0] == 6 &&
        t.dims[1] == 4 && t.size == 6 * 4 * sizeof(float));
  free(t.data);
  CHECK_OK(tf_bundle_read(b, "scale/.ATTRIBUTES/VARIABLE_VALUE", &t));
  float scale = 0;
  if (t.size == sizeof scale) memcpy(&scale, t.data, sizeof scale);
  CHECK(t.rank == 0 && scale == 0.5f); /* the fixture's tf.Variable(0.5) */
  free(t.data);
  CHECK_ERR(tf_bundle_read(b, "no/such/key", &t), KRT_ERR_NOT_FOUND, "no tensor 'no/such/key'");
  CHECK_ERR(tf_bundle_read(b, "_CHECKPOINTABLE_OBJECT_GRAPH", &t), KRT_ERR_UNSUPPORTED, "dtype 7");
  uint8_t *graph;
  size_t size;
  CHECK_OK(tf_bundle_read_string(b, "_CHECKPOINTABLE_OBJECT_GRAPH", &graph, &size));
  Krt__Tf__TrackableObjectGraph *g = krt__tf__trackable_object_graph__unpack(NULL, size, graph);
  CHECK(g != NULL && g->n_nodes >= 4);
  if (g) krt__tf__trackable_object_graph__free_unpacked(g, NULL);
  free(graph);
  tf_bundle_close(b);
}

static void test_damaged(void) {
  char prefix[300], path[512];
  snprintf(prefix, sizeof prefix, "%s/v", dir);
  char data_path[512];
  snprintf(data_path, sizeof data_path, "%s%s", FIXTURE, SHARD);
  long data_bytes = file_size(data_path);
  snprintf(path, sizeof path, "%s.index", FIXTURE);
  long index_bytes = file_size(path);
  CHECK(data_bytes > 8 && index_bytes > 48);
  tf_bundle *b = NULL;

  /* A truncated data shard: the last tensor lies past its end. */
  fresh_copy(-1, data_bytes - 4);
  CHECK_OK(tf_bundle_open(prefix, &b));
  if (b) CHECK_ERR(read_all(b), KRT_ERR_BAD_FILE, "truncated");
  tf_bundle_close(b);
  b = NULL;

  /* A flipped byte in the data: the CRC-32C of the tensor that holds it. */
  fresh_copy(-1, -1);
  flip_byte(SHARD, 2);
  CHECK_OK(tf_bundle_open(prefix, &b));
  if (b) CHECK_ERR(read_all(b), KRT_ERR_BAD_FILE, "CRC-32C");
  tf_bundle_close(b);
  b = NULL;

  /* A flipped byte in the index's first block (the header and entries). */
  fresh_copy(-1, -1);
  flip_byte(".index", index_bytes - 3);
  CHECK_ERR(tf_bundle_open(prefix, &b), KRT_ERR_BAD_FILE, "CRC-32C");
  CHECK(b == NULL);

  /* A truncated index: the footer's magic is gone. */
  fresh_copy(index_bytes - 10, -1);
  CHECK_ERR(tf_bundle_open(prefix, &b), KRT_ERR_BAD_FILE, "magic");
  fresh_copy(20, -1);
  CHECK_ERR(tf_bundle_open(prefix, &b), KRT_ERR_BAD_FILE, "footer");

  /* A missing shard. */
  fresh_copy(-1, -1);
  snprintf(path, sizeof path, "%s%s", prefix, SHARD);
  unlink(path);
  CHECK_OK(tf_bundle_open(prefix, &b));
  if (b) CHECK_ERR(read_all(b), KRT_ERR_BAD_FILE, "cannot open the data shard");
  tf_bundle_close(b);
  b = NULL;

  /* No index at all. */
  snprintf(path, sizeof path, "%s.index", prefix);
  unlink(path);
  CHECK_ERR(tf_bundle_open(prefix, &b), KRT_ERR_IO, "cannot open");
}

int main(void) {
  FILE *probe = fopen(FIXTURE ".index", "rb");
  if (!probe) {
    fprintf(stderr, "test_tf_bundle: %s.index missing (run from the source tree)\n", FIXTURE);
    return 1;
  }
  fclose(probe);
  snprintf(dir, sizeof dir, "/tmp/krt-bundle-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_crc32c();
  test_good_bundle();
  test_damaged();
  char path[512];
  snprintf(path, sizeof path, "%s/v.index", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/v%s", dir, SHARD);
  unlink(path);
  rmdir(dir);
  return test_summary("test_tf_bundle");
}
