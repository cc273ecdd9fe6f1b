/* krt_bench.c: `krt bench ENGINE`, a benchmark of one engine through the public API, modelled on
 * trtexec: random inputs at a batch, a warm-up by time, then timed runs until both a minimum count
 * and a minimum duration are reached; latency percentiles, throughput, the host->device /
 * compute / device->host split when the backend measures it, and optionally per-node times.
 *
 * Each latency is the host clock (CLOCK_MONOTONIC) around krt_context_run, which is synchronous:
 * on a CUDA engine it includes copying the float32 inputs from host memory and the outputs back.
 * --device-buffers (trtexec's --noDataTransfers) leaves those copies out: the inputs are uploaded
 * once into device memory and bound with krt_context_set_input_device, the outputs are bound to
 * device memory with krt_context_set_output_device. The CLI links only libkrt, never CUDA, so the
 * CUDA runtime that allocates those buffers is dlopen()ed only then (cudart_loader.h). */
#include "krt_bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_errors.h"

#include "bench_stats.h"
#include "cudart_loader.h"
#include "krt.h"

#define BENCH_EXIT_USAGE 2
#define PROFILE_MAX_RUNS 20
#define PROFILE_MAX_SECONDS 2.0

static const char *bench_help =
    "usage: krt bench ENGINE [options]\n"
    "\n"
    "Times an engine (.krt) on random inputs, as trtexec does.\n"
    "\n"
    "  --batch N        the batch to run (default: the engine's max batch)\n"
    "  --iterations N   time at least N runs (default 10)\n"
    "  --duration S     time runs for at least S seconds (default 3; 0 with --iterations alone)\n"
    "                   both limits must be reached when both are given\n"
    "  --warmup MS      run untimed for MS milliseconds first (default 200; at least one run)\n"
    "  --json FILE      write every number (and each run's latency) to FILE as JSON\n"
    "  --profile        afterwards, time every node (slower runs, no CUDA-graph replay) and\n"
    "                   list the nodes slowest first with their share of the total\n"
    "  --device-buffers CUDA engines: keep inputs and outputs in device memory (inputs uploaded\n"
    "                   once), so no host<->device copies are timed (trtexec's\n"
    "                   --noDataTransfers); loads the CUDA runtime (libcudart) at run time\n"
    "\n"
    "Latency is the host clock around krt_context_run, which is synchronous and, on a CUDA\n"
    "engine, includes copying the float32 inputs from host memory and the outputs back\n"
    "(unless --device-buffers). Throughput is batch / mean latency.\n";

typedef struct bench_options {
  const char *engine_path;
  const char *json_path;
  int64_t batch; /* 0: the engine's max batch */
  int64_t min_iterations;
  double min_seconds;
  double warmup_ms;
  int profile;
  int device_buffers; /* --device-buffers */
} bench_options;

/* Sums of the backend's per-run timing split; runs counts the runs that reported one. */
typedef struct timing_sums {
  int available; /* 0 when the backend has no timings (CPU engines) */
  long runs;
  krt_run_timing total;
} timing_sums;

typedef struct node_time {
  size_t index;
  double ms; /* mean per profiled run */
} node_time;

typedef struct bench_result {
  int64_t batch;
  long warmup_runs;
  double warmup_s, timed_s;
  double *samples_ms; /* in run order */
  size_t n_samples;
  bench_stats stats;
  timing_sums timing;
  /* --profile */
  int profiled;
  char *profile_note; /* why there is no profile, when --profile was asked for */
  long profile_runs;
  timing_sums profile_timing;
  node_time *nodes; /* slowest first */
  size_t n_nodes;
  double node_total_ms;
} bench_result;

/* ---- small helpers ------------------------------------------------------------------------- */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: reproducible inputs without touching the C library's rand() state. */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static int parse_count(const char *option, const char *text, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno == ERANGE)
    return cli_fail("bench: %s '%s': out of range (expected a positive integer up to %lld)",
                    option, text, LLONG_MAX);
  if (errno || end == text || *end || v < 1)
    return cli_fail("bench: %s '%s': expected a positive integer", option, text);
  *out = v;
  return 0;
}

static int parse_nonnegative(const char *option, const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !isfinite(v) || v < 0)
    return cli_fail("bench: %s '%s': expected a number >= 0", option, text);
  *out = v;
  return 0;
}

static int parse_options(int argc, char **argv, bench_options *o) {
  int iterations_given = 0, duration_given = 0;
  *o = (bench_options){.warmup_ms = 200.0};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc && argv[i + 1][0] != '\0';
    if (strcmp(a, "--profile") == 0) {
      o->profile = 1;
    } else if (strcmp(a, "--device-buffers") == 0) {
      o->device_buffers = 1;
    } else if (strcmp(a, "--batch") == 0 || strcmp(a, "--iterations") == 0 ||
               strcmp(a, "--duration") == 0 || strcmp(a, "--warmup") == 0 ||
               strcmp(a, "--json") == 0) {
      if (!has_value) return cli_fail("bench: %s needs a value", a);
      const char *v = argv[++i];
      if (strcmp(a, "--batch") == 0) {
        if (parse_count(a, v, &o->batch)) return 1;
      } else if (strcmp(a, "--iterations") == 0) {
        if (parse_count(a, v, &o->min_iterations)) return 1;
        iterations_given = 1;
      } else if (strcmp(a, "--duration") == 0) {
        if (parse_nonnegative(a, v, &o->min_seconds)) return 1;
        duration_given = 1;
      } else if (strcmp(a, "--warmup") == 0) {
        if (parse_nonnegative(a, v, &o->warmup_ms)) return 1;
      } else {
        o->json_path = v;
      }
    } else if (a[0] == '-' && a[1]) {
      return cli_fail("bench: unknown option '%s' (krt bench --help)", a);
    } else if (o->engine_path) {
      return cli_fail("bench: one engine at a time ('%s' and '%s')", o->engine_path, a);
    } else {
      o->engine_path = a;
    }
  }
  if (!o->engine_path) return cli_fail("bench: no engine given (krt bench ENGINE.krt)");
  if (!iterations_given) o->min_iterations = 10;
  if (!duration_given) o->min_seconds = iterations_given ? 0.0 : 3.0;
  return 0;
}

/* ---- inputs -------------------------------------------------------------------------------- */

/* One random float32 buffer per engine input, at the benchmark's batch. */
typedef struct bench_inputs {
  size_t count;
  float **data;
  int64_t (*dims)[KRT_MAX_RANK]; /* dims[i]: input i's shape at the batch */
  int *rank;
  size_t *bytes;
} bench_inputs;

static void free_inputs(bench_inputs *in) {
  for (size_t i = 0; in->data && i < in->count; i++) free(in->data[i]);
  free(in->data);
  free(in->dims);
  free(in->rank);
  free(in->bytes);
}

/* Fills one random float32 buffer per input at `batch`: uniform in [-1, 1) for float inputs,
 * 0 or 1 for integer inputs (which usually hold indices). The same data in both modes. */
static int make_random_inputs(const krt_engine *engine, int64_t batch, bench_inputs *in) {
  size_t count = krt_engine_input_count(engine), slots = count ? count : 1;
  in->data = calloc(slots, sizeof *in->data);
  in->dims = calloc(slots, sizeof *in->dims);
  in->rank = calloc(slots, sizeof *in->rank);
  in->bytes = calloc(slots, sizeof *in->bytes);
  if (!in->data || !in->dims || !in->rank || !in->bytes) return cli_fail("out of memory");
  in->count = count;
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < in->count; i++) {
    krt_tensor_info t;
    if (cli_failed(krt_engine_input_info(engine, i, &t))) return 1;
    int64_t elements = 1;
    for (int d = 0; d < t.rank; d++) {
      in->dims[i][d] = d == t.batch_axis ? batch : t.dims[d];
      if (in->dims[i][d] < 0)
        return cli_fail(
            "bench: input '%s' has dimension %d unknown; rebuild the engine with "
            "krt build --input %s:D1xD2x...",
            t.name, d, t.name);
      elements *= in->dims[i][d];
    }
    in->rank[i] = t.rank;
    in->bytes[i] = (size_t)elements * sizeof(float);
    float *buf = malloc((size_t)(elements ? elements : 1) * sizeof *buf);
    if (!buf)
      return cli_fail("out of memory for input '%s' (%lld values)", t.name, (long long)elements);
    in->data[i] = buf;
    int integer = t.dtype == KRT_INT32 || t.dtype == KRT_INT64 || t.dtype == KRT_UINT8;
    for (int64_t k = 0; k < elements; k++) {
      uint64_t r = next_random(&state);
      buf[k] = integer ? (float)(r >> 63) : (float)((double)(r >> 11) * 0x1.0p-52 - 1.0);
    }
  }
  return 0;
}

static int bind_host_inputs(krt_context *ctx, const bench_inputs *in) {
  for (size_t i = 0; i < in->count; i++)
    if (cli_failed(krt_context_set_input(ctx, i, KRT_FLOAT32, in->dims[i], in->rank[i], in->data[i],
                                         in->bytes[i])))
      return 1;
  return 0;
}

/* ---- --device-buffers ---------------------------------------------------------------------- */

/* Device memory for every input and output, from the dlopen()ed CUDA runtime. */
typedef struct device_buffers {
  cudart_api rt;
  size_t n_inputs, n_outputs;
  void **inputs, **outputs; /* cudaMalloc'd; NULL where not allocated */
  size_t total_bytes;
} device_buffers;

/* Call only after the context's last run has completed (krt_context_run is synchronous). */
static void free_device_buffers(device_buffers *dev) {
  for (size_t i = 0; dev->inputs && i < dev->n_inputs; i++)
    if (dev->inputs[i]) dev->rt.free_device(dev->inputs[i]);
  for (size_t i = 0; dev->outputs && i < dev->n_outputs; i++)
    if (dev->outputs[i]) dev->rt.free_device(dev->outputs[i]);
  free(dev->inputs);
  free(dev->outputs);
  cudart_unload(&dev->rt);
  memset(dev, 0, sizeof *dev);
}

static int device_alloc(device_buffers *dev, void **ptr, size_t bytes, const char *what,
                        const char *name) {
  int err = dev->rt.malloc_device(ptr, bytes ? bytes : 1);
  if (err) {
    *ptr = NULL;
    return cli_fail("--device-buffers: cudaMalloc of %zu bytes for %s '%s' failed: %s", bytes, what,
                    name, cudart_error_text(&dev->rt, err));
  }
  dev->total_bytes += bytes;
  return 0;
}

/* Bytes of output `index` at `batch` (float32, as the API returns every output). */
static int output_bytes(const krt_engine *engine, size_t index, int64_t batch, size_t *bytes,
                        const char **name) {
  krt_tensor_info t;
  if (cli_failed(krt_engine_output_info(engine, index, &t))) return 1;
  *name = t.name;
  int64_t elements = 1;
  for (int d = 0; d < t.rank; d++) {
    int64_t n = d == t.batch_axis ? batch : t.dims[d];
    if (n < 0) return cli_fail("--device-buffers: output '%s' has dimension %d unknown", t.name, d);
    elements *= n;
  }
  *bytes = (size_t)elements * sizeof(float);
  return 0;
}

/* Loads the CUDA runtime, uploads the inputs once and binds them, and binds device memory to
 * every output, so that the timed runs copy nothing between host and device. */
static int bind_device_buffers(const krt_engine *engine, krt_context *ctx, int64_t batch,
                               const bench_inputs *in, device_buffers *dev) {
  char why[512];
  if (cudart_load(&dev->rt, why, sizeof why))
    return cli_fail("--device-buffers: cannot load the CUDA runtime: %s", why);
  size_t n_out = krt_engine_output_count(engine);
  dev->inputs = calloc(in->count ? in->count : 1, sizeof *dev->inputs);
  dev->outputs = calloc(n_out ? n_out : 1, sizeof *dev->outputs);
  if (!dev->inputs || !dev->outputs) return cli_fail("out of memory");
  dev->n_inputs = in->count;
  dev->n_outputs = n_out;
  for (size_t i = 0; i < in->count; i++) {
    krt_tensor_info t;
    if (cli_failed(krt_engine_input_info(engine, i, &t))) return 1;
    if (device_alloc(dev, &dev->inputs[i], in->bytes[i], "input", t.name)) return 1;
    int err = dev->rt.copy(dev->inputs[i], in->data[i], in->bytes[i], CUDART_HOST_TO_DEVICE);
    if (err)
      return cli_fail("--device-buffers: uploading input '%s' failed: %s", t.name,
                      cudart_error_text(&dev->rt, err));
    if (cli_failed(krt_context_set_input_device(ctx, i, KRT_FLOAT32, in->dims[i], in->rank[i],
                                                dev->inputs[i])))
      return 1;
  }
  for (size_t i = 0; i < n_out; i++) {
    size_t bytes = 0;
    const char *name = "";
    if (output_bytes(engine, i, batch, &bytes, &name)) return 1;
    if (device_alloc(dev, &dev->outputs[i], bytes, "output", name)) return 1;
    if (cli_failed(krt_context_set_output_device(ctx, i, KRT_FLOAT32, dev->outputs[i], bytes)))
      return 1;
  }
  return 0;
}

/* ---- timing -------------------------------------------------------------------------------- */

/* Adds the last run's timing split, if the backend has one; a CPU engine answers unsupported. */
static void add_timing(const krt_context *ctx, timing_sums *sums) {
  krt_run_timing t;
  krt_status *s = krt_context_last_timing(ctx, &t);
  if (s) {
    krt_status_release(s);
    return;
  }
  sums->available = 1;
  if (t.host_to_device_ms <= 0 && t.compute_ms <= 0 && t.device_to_host_ms <= 0) return;
  sums->runs++;
  sums->total.host_to_device_ms += t.host_to_device_ms;
  sums->total.compute_ms += t.compute_ms;
  sums->total.device_to_host_ms += t.device_to_host_ms;
}

static int timed_runs(krt_context *ctx, const bench_options *o, bench_result *r) {
  double start = now_seconds(), t = start;
  do {
    if (cli_failed(krt_context_run(ctx))) return 1;
    r->warmup_runs++;
    t = now_seconds();
  } while ((t - start) * 1e3 < o->warmup_ms);
  r->warmup_s = t - start;

  size_t capacity = (size_t)o->min_iterations > 1024 ? (size_t)o->min_iterations : 1024;
  r->samples_ms = malloc(capacity * sizeof *r->samples_ms);
  if (!r->samples_ms) return cli_fail("out of memory");
  start = now_seconds();
  for (;;) {
    double before = now_seconds();
    if (cli_failed(krt_context_run(ctx))) return 1;
    double after = now_seconds();
    add_timing(ctx, &r->timing);
    if (r->n_samples == capacity) {
      double *grown = realloc(r->samples_ms, 2 * capacity * sizeof *grown);
      if (!grown) return cli_fail("out of memory after %zu runs", r->n_samples);
      r->samples_ms = grown;
      capacity *= 2;
    }
    r->samples_ms[r->n_samples++] = (after - before) * 1e3;
    if ((int64_t)r->n_samples >= o->min_iterations && after - start >= o->min_seconds) break;
  }
  r->timed_s = now_seconds() - start;

  double *sorted = malloc(r->n_samples * sizeof *sorted);
  if (!sorted) return cli_fail("out of memory");
  memcpy(sorted, r->samples_ms, r->n_samples * sizeof *sorted);
  bench_stats_compute(sorted, r->n_samples, &r->stats);
  free(sorted);
  return 0;
}

static int slower_first(const void *a, const void *b) {
  const node_time *x = a, *y = b;
  if (x->ms != y->ms) return (x->ms < y->ms) - (x->ms > y->ms);
  return (x->index > y->index) - (x->index < y->index); /* ties in execution order */
}

static char *copy_message(const krt_status *s) {
  const char *m = krt_status_message(s);
  char *copy = malloc(strlen(m) + 1);
  if (copy) strcpy(copy, m);
  return copy;
}

/* Per-node timing with profiling on; a backend without it leaves a note, not a failure. */
static int profile_runs(const krt_engine *engine, krt_context *ctx, bench_result *r) {
  krt_status *s = krt_context_set_profiling(ctx, 1);
  if (s) {
    r->profile_note = copy_message(s);
    krt_status_release(s);
    return r->profile_note ? 0 : cli_fail("out of memory");
  }
  int rc = 1;
  r->n_nodes = krt_engine_node_count(engine);
  r->nodes = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *r->nodes);
  if (!r->nodes) {
    cli_fail("out of memory");
    goto done;
  }
  for (size_t i = 0; i < r->n_nodes; i++) r->nodes[i].index = i;
  /* One untimed run first: a backend may switch execution paths when profiling starts. */
  if (cli_failed(krt_context_run(ctx))) goto done;
  double start = now_seconds();
  do {
    if (cli_failed(krt_context_run(ctx))) goto done;
    r->profile_runs++;
    add_timing(ctx, &r->profile_timing);
    for (size_t i = 0; i < r->n_nodes; i++) {
      double ms = 0;
      if (cli_failed(krt_context_node_time(ctx, i, &ms))) goto done;
      r->nodes[i].ms += ms;
    }
  } while (r->profile_runs < PROFILE_MAX_RUNS && now_seconds() - start < PROFILE_MAX_SECONDS);
  r->node_total_ms = 0;
  for (size_t i = 0; i < r->n_nodes; i++) {
    r->nodes[i].ms /= (double)r->profile_runs;
    r->node_total_ms += r->nodes[i].ms;
  }
  qsort(r->nodes, r->n_nodes, sizeof *r->nodes, slower_first);
  r->profiled = 1;
  rc = 0;
done:
  s = krt_context_set_profiling(ctx, 0);
  if (s) krt_status_release(s);
  return rc;
}

/* ---- reporting ----------------------------------------------------------------------------- */

static const char *device_name(krt_device d) {
  return d == KRT_DEVICE_CUDA ? "cuda" : "cpu";
}
static const char *precision_name(krt_precision p) {
  return p == KRT_PRECISION_FP16 ? "fp16" : p == KRT_PRECISION_TF32 ? "tf32" : "fp32";
}

/* With --device-buffers no input or output crosses between host and device, so those two columns
 * are "n/a"; what the backend still measures before and after compute is its own work around the
 * network (resetting and reading back its error flags, a dtype conversion or a copy of a buffer it
 * cannot use in place), shown as "outside compute" when there is any. */
static void print_split(const char *title, const timing_sums *t, krt_device device,
                        int device_buffers) {
  if (!t->available || t->runs == 0) {
    const char *why = device == KRT_DEVICE_CPU ? "a cpu engine has no device copies"
                      : t->available           ? "not measured: timed only with --profile"
                                               : "this backend has no timings";
    printf("%s (ms): host->device n/a  compute n/a  device->host n/a (%s)\n", title, why);
    return;
  }
  double n = (double)t->runs;
  if (device_buffers) {
    double outside = (t->total.host_to_device_ms + t->total.device_to_host_ms) / n;
    printf(
        "%s (ms, mean of %ld runs): host->device n/a  compute %.4f  device->host n/a "
        "(buffers on the device: no input/output copies",
        title, t->runs, t->total.compute_ms / n);
    if (outside >= 0.0005) printf("; outside compute %.4f", outside);
    printf(")\n");
    return;
  }
  printf("%s (ms, mean of %ld runs): host->device %.4f  compute %.4f  device->host %.4f\n", title,
         t->runs, t->total.host_to_device_ms / n, t->total.compute_ms / n,
         t->total.device_to_host_ms / n);
}

static void print_report(const krt_engine *engine, const bench_options *o, const bench_result *r) {
  const bench_stats *st = &r->stats;
  printf("Warm-up: %ld run%s in %.1f ms\n", r->warmup_runs, r->warmup_runs == 1 ? "" : "s",
         r->warmup_s * 1e3);
  printf("Timed: %zu runs in %.3f s (host clock around krt_context_run%s)\n", r->n_samples,
         r->timed_s, o->device_buffers ? "; device buffers" : "");
  printf(
      "Latency (ms): min %.4f  mean %.4f  median %.4f  p90 %.4f  p95 %.4f  p99 %.4f  "
      "max %.4f  stddev %.4f\n",
      st->min, st->mean, st->median, st->p90, st->p95, st->p99, st->max, st->stddev);
  printf("Throughput: %.1f inferences/s (batch %lld / mean latency)\n",
         (double)r->batch / (st->mean * 1e-3), (long long)r->batch);
  print_split("Split per run", &r->timing, krt_engine_device(engine), o->device_buffers);
  if (!o->profile) return;
  if (!r->profiled) {
    printf("\nProfile: not available: %s\n", r->profile_note ? r->profile_note : "");
    return;
  }
  printf("\nProfile: %ld runs with per-node timing (no graph replay: runs are slower than above)\n",
         r->profile_runs);
  print_split("Split per profiled run", &r->profile_timing, krt_engine_device(engine),
              o->device_buffers);
  int wname = 4;
  for (size_t i = 0; i < r->n_nodes; i++) {
    krt_layer_info node;
    krt_status *s = krt_engine_node(engine, r->nodes[i].index, &node);
    if (s) {
      krt_status_release(s);
      continue;
    }
    if ((int)strlen(node.name) > wname) wname = (int)strlen(node.name);
  }
  printf("  %4s  %10s  %6s  %6s  %5s  %-*s  %s\n", "rank", "ms/run", "share", "cumul", "node",
         wname, "name", "op");
  double cumulative = 0;
  for (size_t i = 0; i < r->n_nodes; i++) {
    krt_layer_info node = {.name = "?", .kind = "?"};
    krt_status *s = krt_engine_node(engine, r->nodes[i].index, &node);
    if (s) krt_status_release(s);
    double share = r->node_total_ms > 0 ? 100.0 * r->nodes[i].ms / r->node_total_ms : 0.0;
    cumulative += share;
    printf("  %4zu  %10.4f  %5.1f%%  %5.1f%%  %5zu  %-*s  %s\n", i + 1, r->nodes[i].ms, share,
           cumulative, r->nodes[i].index, wname, node.name, node.kind);
  }
  printf("  total %.4f ms per run over %zu nodes\n", r->node_total_ms, r->n_nodes);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(f, "\\u%04x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}

/* With device buffers the host<->device times are 0 (no input/output copies); what the backend
 * measured in those slots is its own work around the network, reported as outside_compute_ms. */
static void json_split(FILE *f, const timing_sums *t, int device_buffers) {
  if (!t->available || t->runs == 0) {
    fputs("null", f);
    return;
  }
  double n = (double)t->runs;
  double h2d = t->total.host_to_device_ms / n, d2h = t->total.device_to_host_ms / n;
  fprintf(f,
          "{\"runs\": %ld, \"host_to_device_ms\": %.6f, \"compute_ms\": %.6f, "
          "\"device_to_host_ms\": %.6f",
          t->runs, device_buffers ? 0.0 : h2d, t->total.compute_ms / n, device_buffers ? 0.0 : d2h);
  if (device_buffers) fprintf(f, ", \"outside_compute_ms\": %.6f", h2d + d2h);
  fputc('}', f);
}

/* Writes to f, opened before the runs so that a bad path fails early, and closes it. */
static int write_json(FILE *f, const char *path, const krt_engine *engine, const bench_options *o,
                      const bench_result *r) {
  const bench_stats *st = &r->stats;
  fputs("{\n  \"engine\": ", f);
  json_string(f, o->engine_path);
  fprintf(f,
          ",\n  \"device\": \"%s\",\n  \"device_name\": ", device_name(krt_engine_device(engine)));
  const char *dev = krt_engine_device_name(engine);
  json_string(f, dev ? dev : "");
  fprintf(f, ",\n  \"precision\": \"%s\",\n  \"max_batch\": %lld,\n  \"batch\": %lld,\n",
          precision_name(krt_engine_precision(engine)), (long long)krt_engine_max_batch(engine),
          (long long)r->batch);
  fprintf(f, "  \"krt_version\": \"%s\",\n", krt_version_string());
  /* "device": --device-buffers, inputs and outputs in device memory, no host<->device copies. */
  fprintf(f, "  \"buffers\": \"%s\",\n", o->device_buffers ? "device" : "host");
  fprintf(f, "  \"warmup\": {\"requested_ms\": %.3f, \"runs\": %ld, \"ms\": %.3f},\n", o->warmup_ms,
          r->warmup_runs, r->warmup_s * 1e3);
  fprintf(f,
          "  \"timed\": {\"min_iterations\": %lld, \"min_seconds\": %.3f, \"runs\": %zu, "
          "\"seconds\": %.6f},\n",
          (long long)o->min_iterations, o->min_seconds, r->n_samples, r->timed_s);
  fprintf(f,
          "  \"latency_ms\": {\"min\": %.6f, \"mean\": %.6f, \"median\": %.6f, \"p90\": %.6f, "
          "\"p95\": %.6f, \"p99\": %.6f, \"max\": %.6f, \"stddev\": %.6f},\n",
          st->min, st->mean, st->median, st->p90, st->p95, st->p99, st->max, st->stddev);
  fprintf(f, "  \"throughput_per_s\": %.3f,\n", (double)r->batch / (st->mean * 1e-3));
  fputs("  \"split_ms\": ", f);
  json_split(f, &r->timing, o->device_buffers);
  fputs(",\n  \"profile\": ", f);
  if (!r->profiled) {
    fputs("null", f);
  } else {
    fprintf(f, "{\n    \"runs\": %ld,\n    \"node_total_ms\": %.6f,\n    \"split_ms\": ",
            r->profile_runs, r->node_total_ms);
    json_split(f, &r->profile_timing, o->device_buffers);
    fputs(",\n    \"nodes\": [", f);
    for (size_t i = 0; i < r->n_nodes; i++) {
      krt_layer_info node = {.name = "?", .kind = "?"};
      krt_status *s = krt_engine_node(engine, r->nodes[i].index, &node);
      if (s) krt_status_release(s);
      fprintf(f, "%s\n      {\"index\": %zu, \"name\": ", i ? "," : "", r->nodes[i].index);
      json_string(f, node.name);
      fputs(", \"op\": ", f);
      json_string(f, node.kind);
      fprintf(f, ", \"ms\": %.6f, \"share\": %.6f}", r->nodes[i].ms,
              r->node_total_ms > 0 ? r->nodes[i].ms / r->node_total_ms : 0.0);
    }
    fputs("\n    ]\n  }", f);
  }
  fputs(",\n  \"samples_ms\": [", f);
  for (size_t i = 0; i < r->n_samples; i++)
    fprintf(f, "%s%.6f", i ? (i % 8 ? ", " : ",\n    ") : "\n    ", r->samples_ms[i]);
  fputs("\n  ]\n}\n", f);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return cli_fail("--json %s: write failed", path);
  return 0;
}

/* ---- the command --------------------------------------------------------------------------- */

static int run_bench(const bench_options *o) {
  krt_engine *engine = NULL;
  krt_context *ctx = NULL;
  bench_inputs inputs = {0};
  device_buffers dev = {0};
  bench_result r = {0};
  FILE *json = NULL;
  int rc = 1;
  if (o->json_path && !(json = fopen(o->json_path, "w"))) {
    cli_fail("--json %s: cannot open for writing: %s", o->json_path, strerror(errno));
    goto done;
  }
  if (cli_failed(krt_engine_load(o->engine_path, &engine))) goto done;
  int64_t max_batch = krt_engine_max_batch(engine);
  r.batch = o->batch ? o->batch : max_batch;
  if (r.batch > max_batch) {
    cli_fail("bench: --batch %lld is larger than the engine's max batch %lld (krt build --batch)",
               (long long)r.batch, (long long)max_batch);
    goto done;
  }
  if (o->device_buffers && krt_engine_device(engine) != KRT_DEVICE_CUDA) {
    cli_fail(
        "bench: --device-buffers needs a CUDA engine; %s runs on the %s (krt build --device "
        "cuda)",
        o->engine_path, device_name(krt_engine_device(engine)));
    rc = BENCH_EXIT_USAGE;
    goto done;
  }
  const char *dev_name = krt_engine_device_name(engine);
  printf("Engine: %s (%s%s%s, %s, max batch %lld, %zu nodes)\n", o->engine_path,
         device_name(krt_engine_device(engine)), dev_name && dev_name[0] ? ": " : "",
         dev_name ? dev_name : "", precision_name(krt_engine_precision(engine)),
         (long long)max_batch, krt_engine_node_count(engine));
  if (cli_failed(krt_context_create(engine, &ctx))) goto done;
  if (make_random_inputs(engine, r.batch, &inputs)) goto done;
  if (o->device_buffers ? bind_device_buffers(engine, ctx, r.batch, &inputs, &dev)
                        : bind_host_inputs(ctx, &inputs))
    goto done;
  printf("Batch %lld, %zu input%s of random float32 data\n", (long long)r.batch, inputs.count,
         inputs.count == 1 ? "" : "s");
  if (o->device_buffers)
    printf(
        "Buffers: inputs and outputs in device memory (%zu bytes, inputs uploaded once); "
        "no host<->device copies of inputs or outputs\n",
        dev.total_bytes);
  if (timed_runs(ctx, o, &r)) goto done;
  if (o->profile && profile_runs(engine, ctx, &r)) goto done;
  print_report(engine, o, &r);
  if (json) {
    FILE *f = json;
    json = NULL; /* write_json closes it */
    if (write_json(f, o->json_path, engine, o, &r)) goto done;
    printf("Wrote %s\n", o->json_path);
  }
  rc = 0;
done:
  if (json) fclose(json);
  free(r.samples_ms);
  free(r.nodes);
  free(r.profile_note);
  free_inputs(&inputs);
  /* The context first: it borrows the device buffers (every run has completed: runs are
   * synchronous). */
  krt_context_release(ctx);
  free_device_buffers(&dev);
  krt_engine_release(engine);
  return rc;
}

int krt_cmd_bench(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(bench_help, stdout);
      return 0;
    }
  bench_options o;
  if (parse_options(argc, argv, &o)) return BENCH_EXIT_USAGE;
  return run_bench(&o);
}
