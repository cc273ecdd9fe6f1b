/* Many threads, each with its own context of ONE engine, run many times at once on different
 * inputs and batch sizes; every output must equal, bit for bit, what a single context computed
 * for the same input beforehand. This is the promise of include/krt.h ("an engine is immutable
 * and shared by any number of contexts on any number of threads"). scripts/test.sh also builds
 * this test alone with ThreadSanitizer (-DKRT_TSAN=ON), which reports any data race between the
 * contexts, or on the engine, even one that happens not to change a result. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

/* Conv2D, BatchNormalization, DepthwiseConv2D, Conv2DTranspose, MaxPooling2D, Concatenate, Add,
 * GlobalAveragePooling2D, Dense: most CPU kernel families and the planner's in-place Concat. */
#define CASE "concat_inception"
#define THREADS 8
#define ITERATIONS 30
#define INPUT_SETS 12 /* distinct inputs; a thread walks them in its own order */
#define MAX_BATCH 3

typedef struct input_set {
  int64_t batch;
  float *data[8];  /* one buffer per engine input */
  size_t bytes[8];
  float *out[8];   /* the reference outputs, one per engine output */
  size_t out_bytes[8];
} input_set;

typedef struct job {
  const krt_engine *engine;
  const input_set *sets;
  int index;
  int runs, mismatches, errors;
  char first_error[256];
} job;

static size_t n_inputs, n_outputs;

/* A deterministic pseudo-random value in [-1, 1) (xorshift32). */
static float next_value(uint32_t *state) {
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return (float)(x >> 8) / (float)(1u << 23) - 1.0f;
}

/* Binds set's inputs to c, runs, and leaves the outputs in c. */
static krt_status *run_set(const krt_engine *e, krt_context *c, const input_set *set) {
  krt_status *s = NULL;
  for (size_t i = 0; !s && i < n_inputs; i++) {
    krt_tensor_info info;
    s = krt_engine_input_info(e, i, &info);
    if (s) break;
    int64_t dims[KRT_MAX_RANK];
    for (int d = 0; d < info.rank; d++) dims[d] = d == info.batch_axis ? set->batch : info.dims[d];
    s = krt_context_set_input(c, i, KRT_FLOAT32, dims, info.rank, set->data[i], set->bytes[i]);
  }
  return s ? s : krt_context_run(c);
}

static void *thread_main(void *arg) {
  job *j = arg;
  krt_context *c = NULL;
  krt_status *s = krt_context_create(j->engine, &c);
  for (int it = 0; !s && it < ITERATIONS; it++) {
    /* Threads start at different sets and stride differently, so that at any moment several
     * batch sizes and inputs are in flight. */
    const input_set *set = &j->sets[(j->index * 5 + it * (1 + j->index % 3)) % INPUT_SETS];
    s = run_set(j->engine, c, set);
    for (size_t o = 0; !s && o < n_outputs; o++) {
      krt_tensor_view v;
      s = krt_context_get_output(c, o, &v);
      size_t bytes = s ? 0 : (size_t)krt_view_element_count(&v) * sizeof(float);
      if (!s && (bytes != set->out_bytes[o] || memcmp(v.data, set->out[o], bytes) != 0))
        j->mismatches++;
    }
    j->runs++;
  }
  if (s) {
    j->errors++;
    snprintf(j->first_error, sizeof j->first_error, "%s", krt_status_message(s));
  }
  krt_status_release(s);
  krt_context_release(c);
  return NULL;
}

/* Makes the input sets and their reference outputs with one context, on this thread. */
static int make_sets(const krt_engine *e, input_set *sets) {
  krt_context *c = NULL;
  CHECK_OK(krt_context_create(e, &c));
  if (!c) return 1;
  uint32_t state = 12345;
  int failed = 0;
  for (int k = 0; k < INPUT_SETS && !failed; k++) {
    input_set *set = &sets[k];
    set->batch = 1 + k % MAX_BATCH;
    for (size_t i = 0; i < n_inputs; i++) {
      krt_tensor_info info;
      CHECK_OK(krt_engine_input_info(e, i, &info));
      size_t elements = 1;
      for (int d = 0; d < info.rank; d++)
        elements *= (size_t)(d == info.batch_axis ? set->batch : info.dims[d]);
      set->bytes[i] = elements * sizeof(float);
      set->data[i] = malloc(set->bytes[i]);
      if (!set->data[i]) return 1;
      for (size_t x = 0; x < elements; x++) set->data[i][x] = next_value(&state);
    }
    krt_status *s = run_set(e, c, set);
    for (size_t o = 0; !s && o < n_outputs; o++) {
      krt_tensor_view v;
      s = krt_context_get_output(c, o, &v);
      if (s) break;
      set->out_bytes[o] = (size_t)krt_view_element_count(&v) * sizeof(float); /* FLOAT32 */
      set->out[o] = malloc(set->out_bytes[o] ? set->out_bytes[o] : 1);
      if (set->out[o]) memcpy(set->out[o], v.data, set->out_bytes[o]);
      failed |= set->out[o] == NULL;
    }
    if (s) {
      fprintf(stderr, "test_contexts_threads: reference run %d failed: %s\n", k,
              krt_status_message(s));
      failed = 1;
    }
    krt_status_release(s);
  }
  krt_context_release(c);
  CHECK(!failed);
  return failed;
}

int main(void) {
  const char *root = getenv("KRT_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s%stests/fixtures/%s/model.keras", root ? root : "",
           root ? "/" : "", CASE);
  struct stat st;
  if (stat(path, &st) != 0) {
    printf("test_contexts_threads: fixture %s not found; skipped\n", path);
    return 77;
  }
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_set_max_batch(o, MAX_BATCH));
  /* Built before any thread exists: the import forks its reader process. */
  CHECK_OK(krt_engine_build(path, o, &e));
  krt_build_options_release(o);
  if (!e) return test_summary("test_contexts_threads");
  n_inputs = krt_engine_input_count(e);
  n_outputs = krt_engine_output_count(e);
  CHECK(n_inputs >= 1 && n_inputs <= 8 && n_outputs >= 1 && n_outputs <= 8);

  static input_set sets[INPUT_SETS];
  if (n_inputs <= 8 && n_outputs <= 8 && make_sets(e, sets) == 0) {
    pthread_t threads[THREADS];
    job jobs[THREADS];
    int started[THREADS];
    for (int t = 0; t < THREADS; t++) {
      jobs[t] = (job){.engine = e, .sets = sets, .index = t};
      started[t] = pthread_create(&threads[t], NULL, thread_main, &jobs[t]) == 0;
      CHECK(started[t]);
    }
    int runs = 0;
    for (int t = 0; t < THREADS; t++) {
      if (!started[t]) continue;
      pthread_join(threads[t], NULL);
      if (jobs[t].errors)
        fprintf(stderr, "test_contexts_threads: thread %d: %s\n", t, jobs[t].first_error);
      if (jobs[t].mismatches)
        fprintf(stderr, "test_contexts_threads: thread %d: %d of %d runs differ from the reference\n",
                t, jobs[t].mismatches, jobs[t].runs);
      CHECK(jobs[t].errors == 0);
      CHECK(jobs[t].mismatches == 0);
      CHECK(jobs[t].runs == ITERATIONS);
      runs += jobs[t].runs;
    }
    printf("test_contexts_threads: %d threads, %d runs of %s on %d inputs, all checked\n", THREADS,
           runs, CASE, INPUT_SETS);
  }
  for (int k = 0; k < INPUT_SETS; k++)
    for (int i = 0; i < 8; i++) {
      free(sets[k].data[i]);
      free(sets[k].out[i]);
    }
  krt_engine_release(e);
  return test_summary("test_contexts_threads");
}
