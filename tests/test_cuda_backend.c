/* The CUDA runtime through the public API: builds real-Keras fixtures for the GPU and checks
 * synchronous runs (eager, then CUDA-graph replay at several batch sizes), FP16 engines, saved
 * and reloaded engines, runs on the caller's stream, device buffers, profiling and timings, the
 * device error flag (Gather out of range), contexts on several threads at once, and device
 * allocations that fail at build and at context creation (KRT_DEBUG_FAIL_CUDA_MALLOC) or cannot
 * fit (a huge max batch): KRT_ERR_OUT_OF_MEMORY, nothing leaked, the engine still usable. Device-buffer
 * runs are zero-copy: the context's run counters (backend/cuda/cuda_debug.h, read through the
 * context's backend state) must show no device-to-device copy, and the CUDA graphs must follow
 * the bound pointers when they change between runs.
 *
 * The CPU-engine side of the CUDA API (KRT_ERR_UNSUPPORTED, synchronous run_async) is checked
 * first, everywhere. Without a loadable CUDA backend (no GPU, driver or module) the rest is
 * skipped: exit 77. Device buffers need the CUDA runtime: libcudart is dlopen()ed for them, and
 * those checks are skipped when it cannot be.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api_internal.h"
#include "backend/cuda/cuda_debug.h"
#include "cudart_loader.h"
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

/* ---- the CUDA runtime (dlopen'ed for device buffers: tools/cudart_loader.h) ---------------- */

enum { H2D = CUDART_HOST_TO_DEVICE, D2H = CUDART_DEVICE_TO_HOST };

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
static void test_device_buffers(const case_io *io, const cudart_api *rt) {
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  void *din = NULL, *dout = NULL, *stream = NULL;
  size_t out_bytes = io->expected.bytes;
  float *host = malloc(out_bytes);
  if (!ctx || !host || rt->malloc_device(&din, io->input.bytes) ||
      rt->malloc_device(&dout, out_bytes) || rt->stream_create(&stream)) {
    CHECK(0);
    goto done;
  }
  CHECK(rt->copy(din, io->input.data, io->input.bytes, H2D) == 0);
  CHECK_ERR(krt_context_set_input_device(ctx, 0, KRT_FLOAT16, io->input.dims, io->input.rank, din),
            KRT_ERR_INVALID_ARGUMENT, "float16");
  CHECK_OK(krt_context_set_input_device(ctx, 0, KRT_FLOAT32, io->input.dims, io->input.rank, din));
  CHECK_OK(krt_context_set_output_device(ctx, 0, KRT_FLOAT32, dout, out_bytes));
  for (int round = 0; round < 3; round++) { /* eager, captured, replayed */
    memset(host, 0, out_bytes);
    CHECK_OK(krt_context_run_async(ctx, stream));
    CHECK(rt->stream_synchronize(stream) == 0);
    CHECK_OK(krt_context_synchronize(ctx));
    CHECK(rt->copy(host, dout, out_bytes, D2H) == 0);
    CHECK(norm_error(host, io->expected.data, (int64_t)(out_bytes / 4)) < 1e-3);
  }
  /* Back to a host output buffer, still on the caller's stream. */
  memset(host, 0, out_bytes);
  CHECK_OK(krt_context_set_output(ctx, 0, host, out_bytes));
  CHECK_OK(krt_context_run_async(ctx, stream));
  CHECK(rt->stream_synchronize(stream) == 0);
  CHECK(norm_error(host, io->expected.data, (int64_t)(out_bytes / 4)) < 1e-3);
  CHECK_OK(krt_context_synchronize(ctx));
done:
  if (din) rt->free_device(din);
  if (dout) rt->free_device(dout);
  if (stream) rt->stream_destroy(stream);
  free(host);
  krt_context_release(ctx);
  krt_engine_release(e);
}

/* ---- zero-copy device buffers ---------------------------------------------------------------- */

static cuda_run_counters counters_of(const krt_context *ctx) {
  return *cuda_counters_of(ctx->backend_state);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* IEEE binary16 <-> float, round to nearest even (the FP16 engine's device dtype). */
static uint16_t to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u, mant = x & 0x7fffffu;
  int exp = (int)((x >> 23) & 0xffu) - 127 + 15;
  if (((x >> 23) & 0xffu) == 0xffu) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - exp), h = mant >> shift, rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (uint16_t)h;
}

static float from_half(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, mant = h & 0x3ffu;
  int exp = (h >> 10) & 0x1f;
  float f;
  if (exp == 0) {
    f = ldexpf((float)mant, -24);
    return sign ? -f : f;
  }
  uint32_t x = exp == 31 ? (sign | 0x7f800000u | (mant << 13))
                         : (sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13));
  memcpy(&f, &x, sizeof f);
  return f;
}

/* n floats to the device dtype (esize 4: float32, 2: float16) and back. */
static void pack(const float *src, void *dst, int64_t n, size_t esize) {
  if (esize == 4) memcpy(dst, src, (size_t)n * 4);
  else
    for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = to_half(src[i]);
}

static void unpack(const void *src, float *dst, int64_t n, size_t esize) {
  if (esize == 4) memcpy(dst, src, (size_t)n * 4);
  else
    for (int64_t i = 0; i < n; i++) dst[i] = from_half(((const uint16_t *)src)[i]);
}

/* Rows of `src` (rows x row floats) in the order `perm`. */
static void permute_rows(const float *src, float *dst, const int *perm, int rows, int64_t row) {
  for (int r = 0; r < rows; r++) memcpy(dst + r * row, src + perm[r] * row, (size_t)row * 4);
}

enum { PAIRS = 6 };

/* small_cnn at batch 3 with device input and output buffers in the engine's storage dtype:
 * PAIRS pairs of buffers, each input holding the rows in another order, used in a sequence that
 * replays cached graphs, captures new ones and updates old ones. Every run is enqueued on our
 * stream and read back with a copy on that stream: no host wait until cudaStreamSynchronize.
 * No device-to-device copy and no conversion may happen. */
static void test_zero_copy(const case_io *io, const cudart_api *rt, krt_precision precision) {
  static const int perms[PAIRS][3] = {{0, 1, 2}, {2, 1, 0}, {1, 0, 2},
                                      {0, 2, 1}, {1, 2, 0}, {2, 0, 1}};
  static const int sequence[] = {0, 1, 0, 1, 0, 1, 2, 3, 4, 5, 0, 4, 5, 0, 0};
  const int n_runs = (int)(sizeof sequence / sizeof sequence[0]);
  int fp16 = precision == KRT_PRECISION_FP16;
  krt_dtype dtype = fp16 ? KRT_FLOAT16 : KRT_FLOAT32;
  size_t esize = fp16 ? 2 : 4;
  double tolerance = fp16 ? 1e-2 : 1e-3, same = fp16 ? 1e-3 : 1e-5;
  const char *tag = fp16 ? "fp16" : "fp32";
  int rows = (int)io->input.dims[0];
  int64_t n_in = (int64_t)(io->input.bytes / 4), n_out = (int64_t)(io->expected.bytes / 4);
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  void *din[PAIRS] = {0}, *dout[PAIRS] = {0}, *stream = NULL;
  float *in_rows = malloc((size_t)n_in * 4), *ref = malloc((size_t)n_out * 4);
  float *want = malloc((size_t)n_out * 4), *want_ref = malloc((size_t)n_out * 4);
  float *got = malloc((size_t)n_out * 4);
  void *staged = malloc((size_t)(n_in > n_out ? n_in : n_out) * esize);
  void *zeros = calloc((size_t)n_out, esize);
  CHECK(rows == 3);
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, precision, rows, &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  if (!ctx || !in_rows || !ref || !want || !want_ref || !got || !staged || !zeros ||
      rt->stream_create(&stream) || rows != 3) {
    CHECK(0);
    goto done;
  }
  /* The host run: the reference the device runs must equal (and it validates batch 3). */
  CHECK(run_rows(ctx, io, rows) < tolerance);
  krt_tensor_view y;
  CHECK_OK(krt_context_get_output(ctx, 0, &y));
  memcpy(ref, y.data, (size_t)n_out * 4);
  for (int p = 0; p < PAIRS; p++) {
    if (rt->malloc_device(&din[p], (size_t)n_in * esize) ||
        rt->malloc_device(&dout[p], (size_t)n_out * esize)) {
      CHECK(0);
      goto done;
    }
    permute_rows(io->input.data, in_rows, perms[p], rows, n_in / rows);
    pack(in_rows, staged, n_in, esize);
    CHECK(rt->copy(din[p], staged, (size_t)n_in * esize, H2D) == 0);
  }
  cuda_run_counters start = counters_of(ctx);
  double replay_ms = 0, instantiate_ms = 0, update_ms = 0;
  int replays = 0, instantiations = 0, updates = 0;
  for (int run = 0; run < n_runs; run++) {
    int p = sequence[run];
    CHECK(rt->copy(dout[p], zeros, (size_t)n_out * esize, H2D) == 0);
    CHECK_OK(krt_context_set_input_device(ctx, 0, dtype, io->input.dims, io->input.rank, din[p]));
    CHECK_OK(krt_context_set_output_device(ctx, 0, dtype, dout[p], (size_t)n_out * esize));
    cuda_run_counters before = counters_of(ctx);
    double t0 = now_ms();
    CHECK_OK(krt_context_run_async(ctx, stream));
    CHECK(rt->copy_async(staged, dout[p], (size_t)n_out * esize, D2H, stream) == 0);
    CHECK(rt->stream_synchronize(stream) == 0);
    double ms = now_ms() - t0;
    CHECK_OK(krt_context_synchronize(ctx));
    cuda_run_counters after = counters_of(ctx);
    if (after.graph_updates > before.graph_updates) update_ms += ms, updates++;
    else if (after.captures > before.captures) instantiate_ms += ms, instantiations++;
    else if (after.replays > before.replays) replay_ms += ms, replays++;
    unpack(staged, got, n_out, esize);
    permute_rows(io->expected.data, want, perms[p], rows, n_out / rows);
    permute_rows(ref, want_ref, perms[p], rows, n_out / rows);
    double err = norm_error(got, want, n_out), diff = norm_error(got, want_ref, n_out);
    if (!(err < tolerance && diff < same))
      fprintf(stderr, "%s zero-copy run %d (buffers %d): error %g, against the host run %g\n", tag,
              run, p, err, diff);
    CHECK(err < tolerance);
    CHECK(diff < same);
  }
  cuda_run_counters end = counters_of(ctx);
  CHECK(end.device_copies == start.device_copies);
  CHECK(end.conversions == start.conversions);
  CHECK(end.eager_runs == start.eager_runs);
  /* Captured: pairs 0 and 1, 2 and 3 (4 graphs for batch 3, the most kept per batch), then 4, 5
   * and 0 again over the least recently used ones (updated); every other run replays. */
  CHECK(end.captures - start.captures == 7);
  CHECK(end.replays - start.replays == (uint64_t)n_runs - 7);
  printf("%s zero-copy: %d runs, %llu copies; replay %.3f ms (%d), capture + instantiate %.3f ms "
         "(%d), capture + cudaGraphExecUpdate %.3f ms (%d) per run, host wall time\n",
         tag, n_runs, (unsigned long long)(end.device_copies - start.device_copies),
         replays ? replay_ms / replays : 0.0, replays,
         instantiations ? instantiate_ms / instantiations : 0.0, instantiations,
         updates ? update_ms / updates : 0.0, updates);

  /* Float32 buffers on an FP16 engine: converted (not copied) in and out. */
  if (fp16) {
    float *f32 = malloc((size_t)n_out * 4);
    void *din32 = NULL, *dout32 = NULL;
    if (f32 && !rt->malloc_device(&din32, io->input.bytes) &&
        !rt->malloc_device(&dout32, (size_t)n_out * 4)) {
      CHECK(rt->copy(din32, io->input.data, io->input.bytes, H2D) == 0);
      CHECK_OK(krt_context_set_input_device(ctx, 0, KRT_FLOAT32, io->input.dims, io->input.rank,
                                            din32));
      CHECK_OK(krt_context_set_output_device(ctx, 0, KRT_FLOAT32, dout32, (size_t)n_out * 4));
      cuda_run_counters before = counters_of(ctx);
      CHECK_OK(krt_context_run(ctx));
      cuda_run_counters after = counters_of(ctx);
      CHECK(after.device_copies == before.device_copies);
      CHECK(after.conversions == before.conversions + 2);
      CHECK(rt->copy(f32, dout32, (size_t)n_out * 4, D2H) == 0);
      CHECK(norm_error(f32, io->expected.data, n_out) < tolerance);
      CHECK(norm_error(f32, ref, n_out) < same);
    } else {
      CHECK(0);
    }
    if (din32) rt->free_device(din32);
    if (dout32) rt->free_device(dout32);
    free(f32);
  }
done:
  for (int p = 0; p < PAIRS; p++) {
    if (din[p]) rt->free_device(din[p]);
    if (dout[p]) rt->free_device(dout[p]);
  }
  if (stream) rt->stream_destroy(stream);
  free(in_rows);
  free(ref);
  free(want);
  free(want_ref);
  free(got);
  free(staged);
  free(zeros);
  krt_context_release(ctx);
  krt_engine_release(e);
}

/* A fixture's input 0 on the device, its outputs named `names` (expected/k.npy in that order)
 * bound to device buffers where device[k], else to host buffers; three runs (eager, captured,
 * replayed), each checked. Returns the device-to-device copies per run, or -1 on failure. */
static int64_t run_case_on_device(const cudart_api *rt, const char *name, int n_outputs,
                                  const char *const *names, const int *device) {
  char path[1024], err[512];
  npy_array input, expected[2];
  int loaded = 0;
  int64_t copies = -1;
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  void *din = NULL, *dout[2] = {0};
  float *host[2] = {0};
  fixture(name, "inputs/0.npy", path, sizeof path);
  if (npy_read(path, &input, err, sizeof err)) return -1;
  for (; loaded < n_outputs; loaded++) {
    char file[32];
    snprintf(file, sizeof file, "expected/%d.npy", loaded);
    fixture(name, file, path, sizeof path);
    if (npy_read(path, &expected[loaded], err, sizeof err)) break;
  }
  if (loaded < n_outputs) goto done;
  CHECK_OK(build(name, KRT_DEVICE_CUDA, KRT_PRECISION_FP32, input.dims[0], &e));
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  if (!ctx || rt->malloc_device(&din, input.bytes)) goto done;
  CHECK(rt->copy(din, input.data, input.bytes, H2D) == 0);
  CHECK_OK(krt_context_set_input_device(ctx, 0, KRT_FLOAT32, input.dims, input.rank, din));
  size_t index[2] = {0, 0};
  for (int k = 0; k < n_outputs; k++) {
    CHECK_OK(krt_engine_find_output(e, names[k], &index[k]));
    host[k] = malloc(expected[k].bytes);
    if (!host[k]) goto done;
    if (device[k]) {
      if (rt->malloc_device(&dout[k], expected[k].bytes)) goto done;
      CHECK_OK(krt_context_set_output_device(ctx, index[k], KRT_FLOAT32, dout[k],
                                             expected[k].bytes));
    } else {
      CHECK_OK(krt_context_set_output(ctx, index[k], host[k], expected[k].bytes));
    }
  }
  cuda_run_counters start = counters_of(ctx);
  int ok = 1;
  for (int run = 0; run < 3; run++) {
    for (int k = 0; k < n_outputs; k++) memset(host[k], 0, expected[k].bytes);
    CHECK_OK(krt_context_run(ctx)); /* fills the host-bound outputs itself */
    for (int k = 0; k < n_outputs; k++) {
      if (device[k]) CHECK(rt->copy(host[k], dout[k], expected[k].bytes, D2H) == 0);
      double error = norm_error(host[k], expected[k].data, (int64_t)(expected[k].bytes / 4));
      if (!(error < 1e-3)) {
        fprintf(stderr, "%s run %d output %s: error %g\n", name, run, names[k], error);
        ok = 0;
      }
    }
  }
  CHECK(ok);
  cuda_run_counters end = counters_of(ctx);
  copies = (int64_t)(end.device_copies - start.device_copies) / 3;
  CHECK((end.device_copies - start.device_copies) % 3 == 0);
done:
  if (din) rt->free_device(din);
  for (int k = 0; k < 2; k++) {
    if (dout[k]) rt->free_device(dout[k]);
    free(host[k]);
  }
  krt_context_release(ctx);
  krt_engine_release(e);
  npy_free(&input);
  for (int k = 0; k < loaded; k++) npy_free(&expected[k]);
  return copies;
}

/* Outputs in the corner cases: an output that later nodes read too (inner_output's conv1), mixed
 * with a host output and both on the device; an output that is the graph input reshaped
 * (flatten: the data is not produced by this run, so it is copied, once). */
static void test_zero_copy_outputs(const cudart_api *rt) {
  static const char *const inner[2] = {"out", "conv1"};
  static const int conv1_on_device[2] = {0, 1}, both[2] = {1, 1}, out_only[2] = {1, 0};
  CHECK(run_case_on_device(rt, "inner_output", 2, inner, conv1_on_device) == 0);
  CHECK(run_case_on_device(rt, "inner_output", 2, inner, both) == 0);
  CHECK(run_case_on_device(rt, "inner_output", 2, inner, out_only) == 0);
  static const char *const flatten[1] = {"flatten"};
  static const int one[1] = {1};
  int64_t copies = run_case_on_device(rt, "flatten", 1, flatten, one);
  printf("flatten (output = the input reshaped): %lld device copies per run\n", (long long)copies);
  CHECK(copies == 1);
}

/* ---- Concat inputs written in place ---------------------------------------------------------- */

/* The detail of the engine node named `name` ("" when there is none). */
static const char *node_detail(const krt_engine *e, const char *name) {
  for (size_t i = 0; i < krt_engine_node_count(e); i++) {
    krt_layer_info info;
    krt_status *s = krt_engine_node(e, i, &info);
    if (s) {
      krt_status_release(s);
      continue;
    }
    if (strcmp(info.name, name) == 0) return info.detail;
  }
  return "";
}

/* Each case's Concat must say which producers write into it (what the plan decided: Conv,
 * ConvTranspose and Dense outputs read by nothing else, at 8-aligned offsets), and the results
 * must match Keras at the max batch, at 1 and in between (plans built at the first run there),
 * in FP32 and FP16, also after the engine is saved and loaded again (the plan is recomputed). */
static void test_concat_in_place(void) {
  static const struct {
    const char *name, *concat, *note;
  } cases[] = {
      {"concat_inception", "mixed",
       "[written in place: b1_conv, b2_conv, b3_selu, b4_dw, b5_up, b8_narrow (6 of 9 inputs)]"},
      {"concat_dense", "joined", "[written in place: d_relu, d_tanh, d_plain (3 of 4 inputs)]"},
      {"concat_output", "joined", "[written in place: left, right]"},
      {"concat_dense_block", "cat2", "[written in place: grow2_conv (1 of 2 inputs)]"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    case_io io;
    if (load_io(cases[k].name, &io)) {
      CHECK(0);
      continue;
    }
    int64_t max = io.input.dims[0];
    for (int fp16 = 0; fp16 < 2; fp16++) {
      krt_engine *e = NULL, *loaded = NULL;
      CHECK_OK(build(cases[k].name, KRT_DEVICE_CUDA, fp16 ? KRT_PRECISION_FP16 : KRT_PRECISION_FP32,
                     max, &e));
      if (!e) continue;
      const char *detail = node_detail(e, cases[k].concat);
      if (!strstr(detail, cases[k].note)) {
        fprintf(stderr, "%s: node '%s' says \"%s\", expected \"%s\"\n", cases[k].name,
                cases[k].concat, detail, cases[k].note);
        CHECK(0);
      }
      void *blob = NULL;
      size_t size = 0;
      CHECK_OK(krt_engine_serialize(e, &blob, &size));
      if (blob) CHECK_OK(krt_engine_load_memory(blob, size, &loaded));
      free(blob);
      if (loaded) CHECK(strcmp(node_detail(loaded, cases[k].concat), detail) == 0);
      double bound = fp16 ? 5e-3 : 1e-5;
      krt_engine *engines[2] = {e, loaded};
      for (int which = 0; which < 2; which++) {
        krt_context *ctx = NULL;
        if (engines[which]) CHECK_OK(krt_context_create(engines[which], &ctx));
        if (!ctx) continue;
        int64_t batches[3] = {max, 1, max > 2 ? 2 : 1};
        for (int b = 0; b < 3; b++)
          for (int run = 0; run < 2; run++) { /* eager, then captured */
            double err = run_rows(ctx, &io, batches[b]);
            if (!(err <= bound))
              fprintf(stderr, "%s %s%s batch %lld run %d: error %g\n", cases[k].name,
                      fp16 ? "fp16" : "fp32", which ? " (loaded)" : "", (long long)batches[b], run,
                      err);
            CHECK(err <= bound);
          }
        krt_context_release(ctx);
      }
      krt_engine_release(loaded);
      krt_engine_release(e);
    }
    free_io(&io);
  }
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

/* ---- device allocation failures (KRT_DEBUG_FAIL_CUDA_MALLOC, backend/debug_hooks.h) -------- */

static size_t device_free_bytes(const cudart_api *rt) {
  size_t free_bytes = 0, total = 0;
  if (rt->mem_get_info(&free_bytes, &total) != 0) return 0;
  return free_bytes;
}

/* Checks a refusal: KRT_ERR_OUT_OF_MEMORY saying what could not be allocated. */
static int refused_for_memory(krt_status *s, const char *where) {
  int ok = s && krt_status_code(s) == KRT_ERR_OUT_OF_MEMORY &&
           strstr(krt_status_message(s), "device memory") != NULL;
  if (!ok)
    fprintf(stderr, "%s: expected KRT_ERR_OUT_OF_MEMORY, got %s\n", where,
            s ? krt_status_message(s) : "success");
  return ok;
}

/* Every device allocation of a build, then of a context creation, fails in turn (N = 1, 2, ...
 * until the call succeeds): each gives KRT_ERR_OUT_OF_MEMORY naming the allocation, the engine
 * stays usable, and the device has as much free memory afterwards as before (cudaMemGetInfo; a
 * slack of 4 MB for the driver's own bookkeeping). Then an engine whose arena cannot fit (max
 * batch 2^31) is refused at build or at context creation, as out of memory, leaking nothing. */
static void test_allocation_failures(const case_io *io, const cudart_api *rt) {
#ifdef KRT_DEBUG_HOOKS
  const char *env = "KRT_DEBUG_FAIL_CUDA_MALLOC";
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  /* Warm up: the first build and context load cuDNN's and cuBLASLt's handles, which stay. */
  CHECK_OK(build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &e));
  if (!e) return;
  CHECK_OK(krt_context_create(e, &ctx));
  krt_context_release(ctx);
  ctx = NULL;
  size_t before = device_free_bytes(rt);

  int failed_builds = 0, n;
  for (n = 1; n <= 64; n++) {
    char value[16];
    snprintf(value, sizeof value, "%d", n);
    setenv(env, value, 1);
    krt_engine *b = NULL;
    krt_status *s = build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, 3, &b);
    unsetenv(env);
    if (!s) {
      krt_engine_release(b);
      break;
    }
    CHECK(refused_for_memory(s, "build"));
    CHECK(strstr(krt_status_message(s), "failed on purpose") != NULL);
    CHECK(b == NULL);
    krt_status_release(s);
    failed_builds++;
  }
  CHECK(failed_builds >= 1 && n <= 64);

  int failed_contexts = 0;
  for (n = 1; n <= 64; n++) {
    char value[16];
    snprintf(value, sizeof value, "%d", n);
    setenv(env, value, 1);
    krt_status *s = krt_context_create(e, &ctx);
    unsetenv(env);
    if (!s) {
      CHECK(run_rows(ctx, io, 2) < 1e-3);
      krt_context_release(ctx);
      ctx = NULL;
      break;
    }
    CHECK(refused_for_memory(s, "context"));
    CHECK(ctx == NULL);
    krt_status_release(s);
    failed_contexts++;
  }
  CHECK(failed_contexts >= 1 && n <= 64);
  /* The engine is still usable after all these failures. */
  CHECK_OK(krt_context_create(e, &ctx));
  if (ctx) CHECK(run_rows(ctx, io, 3) < 1e-3);
  krt_context_release(ctx);
  ctx = NULL;

  /* An arena far beyond any device: 2^31 samples. */
  krt_engine *big = NULL;
  krt_status *s = build("small_cnn", KRT_DEVICE_CUDA, KRT_PRECISION_FP32, (int64_t)1 << 31, &big);
  if (!s) s = krt_context_create(big, &ctx);
  CHECK(s != NULL && ctx == NULL);
  CHECK(krt_status_code(s) == KRT_ERR_OUT_OF_MEMORY || krt_status_code(s) == KRT_ERR_SHAPE);
  printf("test_cuda_backend: max batch 2^31: %s\n", s ? krt_status_message(s) : "accepted");
  krt_status_release(s);
  krt_context_release(ctx);
  krt_engine_release(big);
  krt_engine_release(e);

  size_t after = device_free_bytes(rt);
  printf(
      "test_cuda_backend: allocation failures: %d at build, %d at context creation; device "
      "free %zu bytes before, %zu after\n",
      failed_builds, failed_contexts, before, after);
  CHECK(after + ((size_t)4 << 20) >= before);
#else
  (void)io;
  (void)rt;
  printf("test_cuda_backend: allocation failures skipped (built without KRT_DEBUG_HOOKS)\n");
#endif
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
  cudart_api rt;
  char why[512];
  if (cudart_load(&rt, why, sizeof why) == 0) {
    test_device_buffers(&io, &rt);
    test_zero_copy(&io, &rt, KRT_PRECISION_FP32);
    test_zero_copy(&io, &rt, KRT_PRECISION_FP16);
    test_zero_copy_outputs(&rt);
    /* The Concat as the output, bound to device memory: its producers write the caller's
     * buffer, so nothing is copied. */
    static const char *const joined[1] = {"joined"};
    static const int one[1] = {1};
    CHECK(run_case_on_device(&rt, "concat_output", 1, joined, one) == 0);
    test_allocation_failures(&io, &rt);
    cudart_unload(&rt);
  } else
    printf("device-buffer checks skipped: libcudart could not be loaded (%s)\n", why);
  test_concat_in_place();
  test_gather_error();
  test_threads(&io);
  free_io(&io);
  return test_summary("test_cuda_backend");
}
