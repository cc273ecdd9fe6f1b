/* Hostile model files (issue 12): files that crash Debian's libhdf5 1.10 (SIGSEGV) or make it
 * loop forever, kept from a run of tools/mutate_models.py over the fixtures. Each must give a
 * clean KRT_ERR_BAD_FILE naming the file, from several threads at once too, while this process
 * lives on (and, in the sanitizer build, leaks nothing). Valid files still load meanwhile.
 * In the sanitizer build ASan catches the crashing files' overflows in the child first (its report
 * is printed, the child exits with status 1): that is a clean error here too.
 *
 *   tests/data/hostile/crash_*.{h5,keras}   libhdf5 segfaults (in process: krt dies)
 *   tests/data/hostile/hang_*.{h5,keras}    libhdf5 loops (in process: krt never returns)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const char *const crashing[] = {"crash_1.h5", "crash_2.h5", "crash_3.keras"};
static const char *const hanging[] = {"hang_1.h5", "hang_2.h5", "hang_3.keras"};

/* A path under the source tree (KRT_SOURCE_DIR, set by ctest). */
static void source_path(const char *rel, char *out, size_t size) {
  const char *dir = getenv("KRT_SOURCE_DIR");
  snprintf(out, size, "%s/%s", dir && dir[0] ? dir : ".", rel);
}

static void hostile_path(const char *name, char *out, size_t size) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/data/hostile/%s", name);
  source_path(rel, out, size);
}

/* Loads the file and expects KRT_ERR_BAD_FILE naming it and containing `needle` or `other`. */
static void check_refused(const char *name, const char *needle, const char *other) {
  char path[1024];
  hostile_path(name, path, sizeof path);
  krt_model *m = NULL;
  krt_status *s = krt_model_import(path, &m);
  CHECK(s != NULL && m == NULL);
  if (!s) {
    krt_model_release(m);
    return;
  }
  CHECK(krt_status_code(s) == KRT_ERR_BAD_FILE);
  CHECK(strstr(krt_status_message(s), path) != NULL);
  const char *msg = krt_status_message(s);
  int said = strstr(msg, needle) || (other && strstr(msg, other));
  CHECK(said);
  CHECK(strstr(msg, "corrupt or hostile") != NULL);
  if (!said) fprintf(stderr, "%s\n", msg);
  krt_status_release(s);
}

static void *load_crashing_and_valid(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++) {
    check_refused(crashing[i], "(signal", "exited with status");
    char valid[1024];
    source_path("examples/models/digits.keras", valid, sizeof valid);
    krt_model *m = NULL;
    CHECK_OK(krt_model_import(valid, &m));
    krt_model_release(m);
  }
  return NULL;
}

int main(void) {
  /* Hangs are stopped by the CPU-time limit: one second keeps the test short. */
  setenv("KRT_HDF5_TIME_LIMIT_S", "1", 1);
  for (int i = 0; i < 3; i++) check_refused(crashing[i], "(signal", "exited with status");
  for (int i = 0; i < 3; i++) check_refused(hanging[i], "s of CPU time", NULL);

  /* Forking from a process with other threads busy loading (the child has only the caller). */
  pthread_t threads[4];
  for (int i = 0; i < 4; i++)
    CHECK(pthread_create(&threads[i], NULL, load_crashing_and_valid, NULL) == 0);
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);

  /* The engine builder imports through the same path. */
  char path[1024];
  hostile_path("crash_1.h5", path, sizeof path);
  krt_engine *engine = NULL;
  CHECK_ERR(krt_engine_build(path, NULL, &engine), KRT_ERR_BAD_FILE, "corrupt or hostile");
  CHECK(engine == NULL);

  /* A malformed limit names the variable. */
  setenv("KRT_HDF5_TIME_LIMIT_S", "soon", 1);
  source_path("examples/models/digits.keras", path, sizeof path);
  krt_model *m = NULL;
  CHECK_ERR(krt_model_import(path, &m), KRT_ERR_INVALID_ARGUMENT, "KRT_HDF5_TIME_LIMIT_S=soon");
  unsetenv("KRT_HDF5_TIME_LIMIT_S");
  return test_summary("test_hostile_files");
}
