/* Replays every input the fuzzers once crashed krt with (tests/data/fuzz-regressions/<harness>/,
 * one folder per harness of fuzz/) through the harness's own entry point (fuzz/fuzz_targets.c),
 * so that each fixed bug stays fixed in the ordinary and the sanitizer builds, without clang or
 * libFuzzer. A regression shows as a crash or a sanitizer report; each input must also leave the
 * process able to load a valid model afterwards. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_targets.h"
#include "test.h"

typedef int (*fuzz_entry)(const uint8_t *data, size_t size);

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
      fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = n > 0 ? (size_t)n : 0;
  return buf;
}

/* Runs every file of dir (README.md aside) through entry; returns how many. */
static int replay_folder(const char *dir, fuzz_entry entry) {
  DIR *d = opendir(dir);
  if (!d) return 0; /* no input has crashed this harness yet (git keeps no empty folder) */
  int count = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    size_t size = 0;
    unsigned char *data = read_file(path, &size);
    CHECK(data != NULL);
    if (!data) continue;
    printf("test_fuzz_regressions: %s\n", path);
    fflush(stdout); /* names the input that brought the process down */
    CHECK(entry(data, size) == 0);
    free(data);
    count++;
  }
  closedir(d);
  return count;
}

int main(void) {
  fuzz_setup();
  const char *root = getenv("KRT_SOURCE_DIR");
  static const struct {
    const char *name;
    fuzz_entry entry;
  } harnesses[] = {{"engine", fuzz_engine_file},
                   {"npy", fuzz_npy_file},
                   {"h5", fuzz_h5_file},
                   {"keras", fuzz_keras_file},
                   {"tfpb", fuzz_tfpb_file},
                   {"onnx", fuzz_onnx_file},
                   {"uff", fuzz_uff_file},
                   {"savedmodel", fuzz_savedmodel_dir}};
  int total = 0;
  for (size_t i = 0; i < sizeof harnesses / sizeof harnesses[0]; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s%stests/data/fuzz-regressions/%s", root ? root : "",
             root ? "/" : "", harnesses[i].name);
    total += replay_folder(dir, harnesses[i].entry);
  }
  /* After all that, a valid model still imports in this process. */
  char path[1024];
  snprintf(path, sizeof path, "%s%stests/fixtures/mlp_sequential/model.keras", root ? root : "",
           root ? "/" : "");
  krt_model *m = NULL;
  CHECK_OK(krt_model_import(path, &m));
  krt_model_release(m);
  printf("test_fuzz_regressions: %d inputs replayed\n", total);
  return test_summary("test_fuzz_regressions");
}
