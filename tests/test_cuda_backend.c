/* The CUDA runtime through the public API: builds real-Keras fixtures for the GPU and checks
 * synchronous runs (eager, then CUDA-graph replay at several batch sizes), FP16 engines, saved
 * and reloaded engines, runs on the caller's stream, device buffers, profiling and timings, the
 * device error flag (Gather out of range) and contexts on several threads at once.
 *
 * The CPU-engine side of the CUDA API (KRT_ERR_UNSUPPORTED, synchronous run_async) is checked
 * first, everywhere. Without a loadable CUDA backend (no GPU, driver or module) the rest is
 * skipped: exit 77. Device buffers need the CUDA runtime: libcudart is dlopen()ed for them, and
 * those checks are skipped when it cannot be.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npy.h"
#include "test.h"

/* tests/fixtures/<case>/<file> (KRT_SOURCE_DIR or the working directory). */
static void fixture(const char *name, const char *file, char *out, size_t size) {
  const char *root = getenv("KRT_SOURCE_DIR");
  snprintf(out, size, "%s%stests/fixtures/%s/%s", root ? root : "", root ? "/" : "", name, file);
}

typedef struct case_io {
  npy_array input, expected;
} case_io;

static int load_io(const char *name, case_io *io) {
  char path[1024], err[512];
  fixture(name, "inputs/0.npy", path, sizeof path);
  if (npy_read(path, &io->input, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  fixture(name, "expected/0.npy", path, sizeof path);
  if (npy_read(path, &io->expected, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    npy_free(&io->input);
    return -1;
  }
  return 0;
}

static void free_io(case_io *io) {
  npy_free(&io->input);
  npy_free(&io->expected);
}

static krt_status *build(const char *name, krt_device device, krt_precision precision,
                         int64_t max_batch, krt_engine **out) {
  char path[1024];
  fixture(name, "model.keras", path, sizeof path);
  krt_build_options *o = NULL;
  krt_status *s = krt_build_options_create(&o);
  if (!s) s = krt_build_options_set_device(o, device);
  if (!s) s = krt_build_options_set_precision(o, precision);
  if (!s) s = krt_build_options_set_max_batch(o, max_batch);
  if (!s) s = krt_engine_build(path, o, out);
  krt_build_options_release(o);
  return s;
}

/* ||got - expected|| / ||expected|| over n floats. */
static double norm_error(const float *got, const float *expected, int64_t n) {
  double d = 0, e = 0;
  for (int64_t i = 0; i < n; i++) {
    d += ((double)got[i] - expected[i]) * ((double)got[i] - expected[i]);
    e += (double)expected[i] * expected[i];
  }
  if (d != d) return INFINITY;
  return e > 0 ? sqrt(d / e) : sqrt(d);
}

/* Binds input 0 (the first `batch` rows of io->input) and runs; returns the normalised error of
 * output 0 against the same rows of io->expected, or INFINITY on failure. */
static double run_rows(krt_context *ctx, const case_io *io, int64_t batch) {
  int64_t dims[KRT_MAX_RANK];
  memcpy(dims, io->input.dims, sizeof dims);
  dims[0] = batch;
  size_t row_bytes = io->input.bytes / (size_t)io->input.dims[0];
  krt_status *s = krt_context_set_input(ctx, 0, io->input.dtype, dims, io->input.rank,
                                        io->input.data, row_bytes * (size_t)batch);
  if (!s) s = krt_context_run(ctx);
  krt_tensor_view y;
  if (!s) s = krt_context_get_output(ctx, 0, &y);
  if (s) {
    fprintf(stderr, "run at batch %lld: %s\n", (long long)batch, krt_status_message(s));
    krt_status_release(s);
    return INFINITY;
  }
  int64_t n = krt_view_element_count(&y);
  int64_t want = (int64_t)(io->expected.bytes / sizeof(float)) / io->expected.dims[0] * batch;
  if (n != want || y.dtype != KRT_FLOAT32) return INFINITY;
  return norm_error(y.data, io->expected.data, n);
}

/* ---- the CPU side of the CUDA API ----------------------------------------------------------- */

static void test_cpu_engine_refuses_cuda_calls(void) {
  case_io io;
  if (load_io("small_cnn", &io)) {
    CHECK(0);
    return;
  }
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CPU, KRT_PRECISION_FP32, 3, &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  if (ctx) {
    float dummy[4];
    CHECK_ERR(krt_context_set_input_device(ctx, 0, KRT_FLOAT32, io.input.dims, io.input.rank, dummy),
              KRT_ERR_UNSUPPORTED, "CUDA");
    CHECK_ERR(krt_context_set_output_device(ctx, 0, KRT_FLOAT32, dummy, sizeof dummy),
              KRT_ERR_UNSUPPORTED, "CUDA");
    CHECK_ERR(krt_context_set_profiling(ctx, 1), KRT_ERR_UNSUPPORTED, "CUDA");
    double ms = -1;
    CHECK_ERR(krt_context_node_time(ctx, 0, &ms), KRT_ERR_UNSUPPORTED, "CUDA");
    CHECK_OK(krt_context_set_input(ctx, 0, io.input.dtype, io.input.dims, io.input.rank,
                                   io.input.data, io.input.bytes));
    CHECK_OK(krt_context_run_async(ctx, NULL)); /* synchronous on the CPU */
    CHECK_OK(krt_context_synchronize(ctx));
    krt_tensor_view y;
    CHECK_OK(krt_context_get_output(ctx, 0, &y));
    CHECK(norm_error(y.data, io.expected.data, krt_view_element_count(&y)) < 1e-5);
    krt_run_timing t = {1, 1, 1};
    CHECK_OK(krt_context_last_timing(ctx, &t));
    CHECK(t.host_to_device_ms == 0 && t.compute_ms == 0 && t.device_to_host_ms == 0);
    CHECK(strcmp(krt_engine_device_name(e), "") == 0);
    CHECK(strcmp(krt_engine_run_device_name(e), "") == 0);
  }
  krt_build_options *o = NULL;
  CHECK_OK(krt_build_options_create(&o));
  CHECK_OK(krt_build_options_set_timing_cache(o, "cache.bin"));
  CHECK_OK(krt_build_options_set_timing_cache(o, NULL));
  CHECK_ERR(krt_build_options_set_timing_cache(o, ""), KRT_ERR_INVALID_ARGUMENT, "empty");
  CHECK_OK(krt_build_options_set_progress(o, NULL, NULL));
  krt_build_options_release(o);
  krt_context_release(ctx);
  krt_engine_release(e);
  free_io(&io);
}

/* ---- the CUDA runtime (dlopen'ed for device buffers) ---------------------------------------- */

typedef struct cudart {
  void *lib;
  int (*malloc_)(void **, size_t);
  int (*free_)(void *);
  int (*memcpy_)(void *, const void *, size_t, int);
  int (*stream_create)(void **);
  int (*stream_sync)(void *);
  int (*stream_destroy)(void *);
} cudart;

static int load_cudart(cudart *rt) {
  static const char *const names[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so"};
  memset(rt, 0, sizeof *rt);
  for (size_t i = 0; i < 3 && !rt->lib; i++) rt->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!rt->lib) return -1;
  void *p[6] = {dlsym(rt->lib, "cudaMalloc"), dlsym(rt->lib, "cudaFree"),
                dlsym(rt->lib, "cudaMemcpy"), dlsym(rt->lib, "cudaStreamCreate"),
                dlsym(rt->lib, "cudaStreamSynchronize"), dlsym(rt->lib, "cudaStreamDestroy")};
  for (int i = 0; i < 6; i++)
    if (!p[i]) return -1;
  memcpy(&rt->malloc_, &p[0], sizeof p[0]);
  memcpy(&rt->free_, &p[1], sizeof p[1]);
  memcpy(&rt->memcpy_, &p[2], sizeof p[2]);
  memcpy(&rt->stream_create, &p[3], sizeof p[3]);
  memcpy(&rt->stream_sync, &p[4], sizeof p[4]);
  memcpy(&rt->stream_destroy, &p[5], sizeof p[5]);
  return 0;
}

enum { H2D = 1, D2H = 2 }; /* cudaMemcpyKind */

/* ---- GPU checks ------------------------------------------------------------------------------ */

static void test_fp32_eager_and_graphs(const case_io *io) {
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &e));
  if (!e) return;
  CHECK(krt_engine_device_name(e)[0] != '\0');
  CHECK(strcmp(krt_engine_device_name(e), krt_engine_run_device_name(e)) == 0);
  printf("tuned on %s\n", krt_engine_device_name(e));
  CHECK_OK(krt_context_create(e, &ctx));
  /* Eager, validated, captured, replayed: the same numbers each time, at each batch. */
  for (int round = 0; ctx && round < 4; round++)
    for (int64_t batch = 1; batch <= 3; batch++) {
      double err = run_rows(ctx, io, batch);
      if (!(err < 1e-3)) fprintf(stderr, "fp32 batch %lld round %d: error %g\n", (long long)batch, round, err);
      CHECK(err < 1e-3);
    }
  krt_run_timing t;
  if (ctx) {
    CHECK_OK(krt_context_last_timing(ctx, &t));
    CHECK(t.compute_ms > 0);
  }
  /* Saved and loaded: the same GPU, so its tuning is used; results equal. */
  void *bytes = NULL;
  size_t size = 0;
  krt_engine *loaded = NULL;
  krt_context *c2 = NULL;
  CHECK_OK(krt_engine_serialize(e, &bytes, &size));
  if (bytes) CHECK_OK(krt_engine_load_memory(bytes, size, &loaded));
  krt_free(bytes);
  if (loaded) {
    CHECK(strcmp(krt_engine_device_name(loaded), krt_engine_device_name(e)) == 0);
    CHECK_OK(krt_context_create(loaded, &c2));
    if (c2) CHECK(run_rows(c2, io, 3) < 1e-3);
    for (size_t i = 0; i < krt_engine_node_count(loaded); i++) {
      krt_layer_info info;
      CHECK_OK(krt_engine_node(loaded, i, &info));
      if (strcmp(info.kind, "Conv") == 0 || strcmp(info.kind, "Dense") == 0)
        printf("  node %s: %s\n", info.name, info.detail);
    }
  }
  krt_context_release(c2);
  krt_engine_release(loaded);
  krt_context_release(ctx);
  krt_engine_release(e);
}

static void test_fp16(const case_io *io) {
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP16, 3, &e));
  if (!e) return;
  CHECK(krt_engine_precision(e) == KRT_PRECISION_FP16);
  CHECK_OK(krt_context_create(e, &ctx));
  for (int round = 0; ctx && round < 3; round++) {
    double err = run_rows(ctx, io, 3);
    if (!(err < 1e-2)) fprintf(stderr, "fp16 round %d: error %g\n", round, err);
    CHECK(err < 1e-2);
  }
  krt_context_release(ctx);
  krt_engine_release(e);
}

static void test_profiling(const case_io *io) {
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  if (!ctx) {
    krt_engine_release(e);
    return;
  }
  double ms = 0;
  CHECK_ERR(krt_context_node_time(ctx, 0, &ms), KRT_ERR_INVALID_ARGUMENT, "profil");
  CHECK_OK(krt_context_set_profiling(ctx, 1));
  CHECK(run_rows(ctx, io, 3) < 1e-3);
  double total = 0;
  for (size_t i = 0; i < krt_engine_node_count(e); i++) {
    ms = -1;
    CHECK_OK(krt_context_node_time(ctx, i, &ms));
    CHECK(ms >= 0);
    total += ms;
  }
  CHECK(total > 0);
  CHECK_ERR(krt_context_node_time(ctx, krt_engine_node_count(e), &ms), KRT_ERR_INVALID_ARGUMENT,
            "out of range");
  CHECK_OK(krt_context_set_profiling(ctx, 0));
  CHECK(run_rows(ctx, io, 3) < 1e-3);
  printf("profiled: %zu nodes, %.3f ms in all\n", krt_engine_node_count(e), total);
  krt_context_release(ctx);
  krt_engine_release(e);
}

/* Device buffers in and out, and run_async on a stream of ours, with host and device bindings. */
static void test_device_buffers(const case_io *io, const cudart *rt) {
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  void *din = NULL, *dout = NULL, *stream = NULL;
  size_t out_bytes = io->expected.bytes;
  float *host = malloc(out_bytes);
  if (!ctx || !host || rt->malloc_(&din, io->input.bytes) || rt->malloc_(&dout, out_bytes) ||
      rt->stream_create(&stream)) {
    CHECK(0);
    goto done;
  }
  CHECK(rt->memcpy_(din, io->input.data, io->input.bytes, H2D) == 0);
  CHECK_ERR(krt_context_set_input_device(ctx, 0, KRT_FLOAT16, io->input.dims, io->input.rank, din),
            KRT_ERR_INVALID_ARGUMENT, "float16");
  CHECK_OK(krt_context_set_input_device(ctx, 0, KRT_FLOAT32, io->input.dims, io->input.rank, din));
  CHECK_OK(krt_context_set_output_device(ctx, 0, KRT_FLOAT32, dout, out_bytes));
  for (int round = 0; round < 3; round++) { /* eager, captured, replayed */
    memset(host, 0, out_bytes);
    CHECK_OK(krt_context_run_async(ctx, stream));
    CHECK(rt->stream_sync(stream) == 0);
    CHECK_OK(krt_context_synchronize(ctx));
    CHECK(rt->memcpy_(host, dout, out_bytes, D2H) == 0);
    CHECK(norm_error(host, io->expected.data, (int64_t)(out_bytes / 4)) < 1e-3);
  }
  /* Back to a host output buffer, still on the caller's stream. */
  memset(host, 0, out_bytes);
  CHECK_OK(krt_context_set_output(ctx, 0, host, out_bytes));
  CHECK_OK(krt_context_run_async(ctx, stream));
  CHECK(rt->stream_sync(stream) == 0);
  CHECK(norm_error(host, io->expected.data, (int64_t)(out_bytes / 4)) < 1e-3);
  CHECK_OK(krt_context_synchronize(ctx));
done:
  if (din) rt->free_(din);
  if (dout) rt->free_(dout);
  if (stream) rt->stream_destroy(stream);
  free(host);
  krt_context_release(ctx);
  krt_engine_release(e);
}

/* An index outside the Embedding's table is reported by the run, naming the node. */
static void test_gather_error(void) {
  case_io io;
  if (load_io("embedding", &io)) {
    CHECK(0);
    return;
  }
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("embedding", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, io.input.dims[0], &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  if (ctx) {
    CHECK(run_rows(ctx, &io, io.input.dims[0]) < 1e-5);
    int32_t *bad = malloc(io.input.bytes);
    if (bad && io.input.dtype == KRT_INT32) {
      memcpy(bad, io.input.data, io.input.bytes);
      bad[1] = 1000;
      CHECK_OK(krt_context_set_input(ctx, 0, KRT_INT32, io.input.dims, io.input.rank, bad,
                                     io.input.bytes));
      CHECK_ERR(krt_context_run(ctx), KRT_ERR_INVALID_ARGUMENT, "index");
      /* Asynchronously: reported by synchronize. */
      CHECK_OK(krt_context_run_async(ctx, NULL));
      CHECK_ERR(krt_context_synchronize(ctx), KRT_ERR_INVALID_ARGUMENT, "index");
      CHECK(run_rows(ctx, &io, io.input.dims[0]) < 1e-5); /* and the context still works */
    }
    free(bad);
  }
  krt_context_release(ctx);
  krt_engine_release(e);
  free_io(&io);
}

/* Contexts of one engine on several threads at once. */
typedef struct thread_job {
  const krt_engine *engine;
  const case_io *io;
  int failures;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *job = arg;
  krt_context *ctx = NULL;
  krt_status *s = krt_context_create(job->engine, &ctx);
  if (s) {
    fprintf(stderr, "thread context: %s\n", krt_status_message(s));
    krt_status_release(s);
    job->failures++;
    return NULL;
  }
  for (int i = 0; i < 20; i++)
    if (!(run_rows(ctx, job->io, 1 + i % 3) < 1e-3)) job->failures++;
  krt_context_release(ctx);
  return NULL;
}

static void test_threads(const case_io *io) {
  krt_engine *e = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &e));
  if (!e) return;
  enum { N = 4 };
  pthread_t threads[N];
  thread_job jobs[N];
  int started = 0;
  for (int i = 0; i < N; i++) {
    jobs[i] = (thread_job){e, io, 0};
    if (pthread_create(&threads[i], NULL, thread_main, &jobs[i]) == 0) started++;
    else break;
  }
  CHECK(started == N);
  for (int i = 0; i < started; i++) {
    pthread_join(threads[i], NULL);
    CHECK(jobs[i].failures == 0);
  }
  krt_engine_release(e);
}

int main(void) {
  test_cpu_engine_refuses_cuda_calls();

  krt_engine *probe = NULL;
  krt_status *s = build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 1, &probe);
  krt_engine_release(probe);
  if (krt_status_code(s) == KRT_ERR_DEVICE) {
    printf("test_cuda_backend: skipped: %s\n", krt_status_message(s));
    krt_status_release(s);
    test_summary("test_cuda_backend (CPU part)");
    return test_failures ? 1 : 77;
  }
  CHECK_OK(s);

  case_io io;
  if (load_io("small_cnn", &io)) return 1;
  test_fp32_eager_and_graphs(&io);
  test_fp16(&io);
  test_profiling(&io);
  cudart rt;
  if (load_cudart(&rt) == 0) test_device_buffers(&io, &rt);
  else printf("device-buffer checks skipped: libcudart could not be loaded (%s)\n", dlerror());
  test_gather_error();
  test_threads(&io);
  free_io(&io);
  return test_summary("test_cuda_backend");
}
