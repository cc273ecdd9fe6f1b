/* Turns ONNX's own backend node tests (Debian's libonnx-testdata: data/node/test_NAME/model.onnx
 * with test_data_set_0/input_*.pb and output_*.pb, TensorProto files) into cases of the case
 * runner (run_cases): model.onnx (a symbolic link), inputs/<i>.npy, expected/<j>.npy, case.json
 * with "refusal_ok", so that an op krt does not support is an answer, a wrong result a failure.
 *
 *   onnx_node_cases SRC_DIR OUT_DIR      prints "cases N skipped M" (M: non-float tensors)
 *
 * Only float32 inputs and outputs are converted; a test with other types is skipped (krt computes
 * in float32). The node tests compare with rtol 1e-3; atol here is 1e-4. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "onnx.pb-c.h"

static uint8_t *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
      fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)(n > 0 ? n : 0);
  return buf;
}

/* A float32 TensorProto file as npy; 1 when it is another type or unreadable. */
static int tensor_to_npy(const char *pb, const char *npy) {
  size_t size = 0;
  uint8_t *data = read_all(pb, &size);
  if (!data) return 1;
  KrtOnnx__TensorProto *t = krt_onnx__tensor_proto__unpack(NULL, size, data);
  free(data);
  if (!t) return 1;
  int rc = 1;
  int64_t count = 1; /* -1: a negative dimension or more elements than a file could hold */
  for (size_t d = 0; d < t->n_dims && count >= 0; d++)
    count = t->dims[d] < 0 || (t->dims[d] > 0 && count > (INT64_C(1) << 40) / t->dims[d])
                ? -1 : count * t->dims[d];
  if (t->data_type == 1 && t->n_dims <= 8 && count >= 0) {
    float *f = malloc((size_t)(count ? count : 1) * sizeof *f);
    int ok = f != NULL;
    /* an empty tensor copies nothing (and its data pointer may be NULL) */
    if (ok && t->has_raw_data && t->raw_data.len == (size_t)count * 4) {
      if (count) memcpy(f, t->raw_data.data, (size_t)count * 4);
    } else if (ok && t->n_float_data == (size_t)count) {
      if (count) memcpy(f, t->float_data, (size_t)count * 4);
    } else {
      ok = 0;
    }
    char err[256];
    if (ok) rc = npy_write_f32(npy, f, (int)t->n_dims, t->dims, err, sizeof err) != 0;
    free(f);
  }
  krt_onnx__tensor_proto__free_unpacked(t, NULL);
  return rc;
}

/* JSON string of s (names are plain ASCII in the node tests; quotes and backslashes escaped). */
static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s >= 0x20) fputc(*s, f);
  }
  fputc('"', f);
}

/* Writes one case; 0 on success, 1 when skipped. */
static int convert(const char *src, const char *name, const char *out) {
  char path[4096], dst[4096];
  snprintf(path, sizeof path, "%s/%s/model.onnx", src, name);
  size_t size = 0;
  uint8_t *data = read_all(path, &size);
  if (!data) return 1;
  KrtOnnx__ModelProto *m = krt_onnx__model_proto__unpack(NULL, size, data);
  free(data);
  if (!m || !m->graph) {
    if (m) krt_onnx__model_proto__free_unpacked(m, NULL);
    return 1;
  }
  const KrtOnnx__GraphProto *g = m->graph;
  snprintf(dst, sizeof dst, "%s/%s", out, name);
  mkdir(dst, 0755);
  snprintf(dst, sizeof dst, "%s/%s/inputs", out, name);
  mkdir(dst, 0755);
  snprintf(dst, sizeof dst, "%s/%s/expected", out, name);
  mkdir(dst, 0755);
  int skipped = 0, n_in = 0;
  char in_names[16][256];
  for (size_t i = 0; i < g->n_input && !skipped; i++) {
    int init = 0;
    for (size_t k = 0; k < g->n_initializer; k++)
      init |= strcmp(g->initializer[k]->name, g->input[i]->name) == 0;
    if (init) continue;
    if (n_in == 16) skipped = 1;
    snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", src, name, n_in);
    snprintf(dst, sizeof dst, "%s/%s/inputs/%d.npy", out, name, n_in);
    if (!skipped) skipped = tensor_to_npy(path, dst);
    if (!skipped) snprintf(in_names[n_in++], sizeof in_names[0], "%s", g->input[i]->name);
  }
  for (size_t j = 0; j < g->n_output && !skipped; j++) {
    snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%zu.pb", src, name, j);
    snprintf(dst, sizeof dst, "%s/%s/expected/%zu.npy", out, name, j);
    skipped = tensor_to_npy(path, dst);
  }
  if (!skipped) {
    snprintf(path, sizeof path, "%s/%s/model.onnx", src, name);
    snprintf(dst, sizeof dst, "%s/%s/model.onnx", out, name);
    skipped = symlink(path, dst) != 0;
  }
  if (!skipped) {
    snprintf(dst, sizeof dst, "%s/%s/case.json", out, name);
    FILE *f = fopen(dst, "w");
    if (!f) {
      skipped = 1;
    } else {
      fprintf(f, "{\"format\": \"onnx\", \"refusal_ok\": true, \"rtol\": 1e-3, \"atol\": 1e-4,\n"
                 " \"inputs\": [");
      for (int i = 0; i < n_in; i++) {
        fprintf(f, "%s{\"name\": ", i ? ", " : "");
        json_string(f, in_names[i]);
        fprintf(f, ", \"file\": \"inputs/%d.npy\"}", i);
      }
      fprintf(f, "],\n \"outputs\": [");
      for (size_t j = 0; j < g->n_output; j++) {
        fprintf(f, "%s{\"name\": ", j ? ", " : "");
        json_string(f, g->output[j]->name);
        fprintf(f, ", \"file\": \"expected/%zu.npy\"}", j);
      }
      fprintf(f, "]}\n");
      fclose(f);
    }
  }
  krt_onnx__model_proto__free_unpacked(m, NULL);
  if (skipped) { /* leave no half-written case for the runner */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s/%s", out, name);
    if (strchr(cmd, '\'') == NULL) {
      char rm[4300];
      snprintf(rm, sizeof rm, "rm -rf '%s'", cmd);
      if (system(rm) != 0) fprintf(stderr, "onnx_node_cases: cannot remove %s\n", cmd);
    }
  }
  return skipped;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: onnx_node_cases SRC_DIR OUT_DIR\n");
    return 2;
  }
  DIR *d = opendir(argv[1]);
  if (!d) {
    fprintf(stderr, "onnx_node_cases: %s: %s\n", argv[1], strerror(errno));
    return 77;
  }
  int cases = 0, skipped = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, "test_", 5) == 0) {
      if (convert(argv[1], e->d_name, argv[2]))
        skipped++;
      else
        cases++;
    }
  closedir(d);
  printf("cases %d skipped %d\n", cases, skipped);
  return 0;
}
