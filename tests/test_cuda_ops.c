/* krt's own CUDA kernels against the CPU reference kernels, op by op (the ggml test-backend-ops
 * idea): each case builds one node with the IR builder (ir_emit, so shapes are inferred as in a
 * real graph), fills random inputs, runs cpu_kernel_for(op) and the CUDA launcher on the same
 * data and compares, in float32 and in float16 storage.
 *
 * Pass criteria:
 *   FP32: every element |got - ref| <= 1e-5 + 1e-4 * |ref|
 *   FP16: normalised error ||got - ref|| / ||ref|| <= 5e-3 per case, where ref is computed from
 *         the float16-rounded inputs (so it measures the kernel, not the input rounding)
 * Outputs are poisoned (NaN) before each launch, so an element the kernel never writes fails.
 * Also: Gather's out-of-range index sets the device error flag and zeroes its row; Reshape with
 * y == x is a no-op; the fused epilogue; every depthwise variant (timed on model-like shapes).
 * Exits 77 (skipped) when there is no CUDA device. Prints one line per case, then a per-op
 * summary table last.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cuda/cuda_depthwise.h"
#include "backend/cuda/cuda_kernels.h"
#include "core/status.h"
#include "test.h"

#define FP16_TOLERANCE 5e-3
#define FP32_RTOL 1e-4
#define FP32_ATOL 1e-5

static cudaStream_t stream;
static int *error_flag; /* device */

/* ---- random numbers ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}
static int rand_int(int lo, int hi) { /* inclusive */
  return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1));
}
static float rand_float(float lo, float hi) {
  return lo + (hi - lo) * (float)((next_u32() & 0xFFFFFF) / 16777216.0);
}

/* ---- device helpers ---- */

static int cuda_ok(cudaError_t e, const char *what, int line) {
  if (e == cudaSuccess) return 1;
  fprintf(stderr, "line %d: %s: %s\n", line, what, cudaGetErrorString(e));
  test_failures++;
  return 0;
}
#define CUDA_OK(call) cuda_ok((call), #call, __LINE__)

static int status_ok(krt_status *s, const char *what) {
  if (!s) return 1;
  fprintf(stderr, "%s: %s\n", what, krt_status_message(s));
  krt_status_release(s);
  return 0;
}

/* n floats to the device in dtype; NULL on failure. */
static void *to_device(const float *h, int64_t n, krt_dtype dtype) {
  size_t bytes = (size_t)(n ? n : 1) * sizeof(float);
  float *f = NULL;
  if (!CUDA_OK(cudaMalloc((void **)&f, bytes))) return NULL;
  CUDA_OK(cudaMemcpy(f, h, (size_t)n * sizeof(float), cudaMemcpyHostToDevice));
  if (dtype == KRT_FLOAT32) return f;
  void *half = NULL;
  if (CUDA_OK(cudaMalloc(&half, bytes / 2 + 2)) &&
      !status_ok(cuda_convert(half, KRT_FLOAT16, f, KRT_FLOAT32, n, stream), "to float16")) {
    cudaFree(half);
    half = NULL;
  }
  CUDA_OK(cudaStreamSynchronize(stream));
  cudaFree(f);
  return half;
}

static void from_device(float *h, const void *d, int64_t n, krt_dtype dtype) {
  if (dtype == KRT_FLOAT32) {
    CUDA_OK(cudaMemcpy(h, d, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost));
    return;
  }
  float *f = NULL;
  if (!CUDA_OK(cudaMalloc((void **)&f, (size_t)(n ? n : 1) * sizeof(float)))) return;
  status_ok(cuda_convert(f, KRT_FLOAT32, d, KRT_FLOAT16, n, stream), "to float32");
  CUDA_OK(cudaStreamSynchronize(stream));
  CUDA_OK(cudaMemcpy(h, f, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(f);
}

/* h rounded to float16 and back, in place. */
static void round_to_half(float *h, int64_t n) {
  void *d = to_device(h, n, KRT_FLOAT16);
  if (!d) return;
  from_device(h, d, n, KRT_FLOAT16);
  cudaFree(d);
}

/* ---- results: one line per case, a summary per op and dtype ---- */

typedef struct summary {
  char op[32];
  krt_dtype dtype;
  int cases, failed;
  double max_err, norm_err;
  char worst[128];
} summary;

static summary summaries[128];
static int n_summaries;

static void record(const char *op, krt_dtype dtype, const char *shapes, double max_err,
                   double norm_err, int pass) {
  printf("  %-22s %-7s %-44s max %.3g  norm %.3g  %s\n", op, krt_dtype_name(dtype), shapes, max_err,
         norm_err, pass ? "ok" : "FAIL");
  test_checks++;
  if (!pass) test_failures++;
  summary *s = NULL;
  for (int i = 0; i < n_summaries && !s; i++)
    if (!strcmp(summaries[i].op, op) && summaries[i].dtype == dtype) s = &summaries[i];
  if (!s && n_summaries < 128) {
    s = &summaries[n_summaries++];
    memset(s, 0, sizeof *s);
    snprintf(s->op, sizeof s->op, "%s", op);
    s->dtype = dtype;
  }
  if (!s) return;
  s->cases++;
  s->failed += !pass;
  if (norm_err > s->norm_err || s->cases == 1 || isnan(norm_err)) {
    s->norm_err = norm_err;
    snprintf(s->worst, sizeof s->worst, "%s", shapes);
  }
  if (max_err > s->max_err || isnan(max_err)) s->max_err = max_err;
}

/* Compares got with ref (n values) under the dtype's criterion; records the case. */
static int compare(const char *op, krt_dtype dtype, const char *shapes, const float *got,
                   const float *ref, int64_t n) {
  double max_err = 0, diff2 = 0, ref2 = 0;
  int pass = 1;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - ref[i]);
    if (isnan(got[i]) != isnan(ref[i])) d = NAN;
    if (isnan(d) || d > max_err) max_err = d;
    diff2 += d * d;
    ref2 += (double)ref[i] * ref[i];
    if (dtype == KRT_FLOAT32 && !(d <= FP32_ATOL + FP32_RTOL * fabs(ref[i]))) {
      if (pass)
        fprintf(stderr, "%s %s: element %lld is %.9g, expected %.9g\n", op, shapes, (long long)i,
                got[i], ref[i]);
      pass = 0;
    }
  }
  double norm = ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2);
  if (dtype == KRT_FLOAT16 && !(norm <= FP16_TOLERANCE)) pass = 0;
  record(op, dtype, shapes, max_err, norm, pass);
  return pass;
}

/* ---- cases: one node in a fresh graph ---- */

#define MAX_IN 8

typedef struct op_case {
  ir_graph *g;
  int inputs[MAX_IN]; /* value ids, in node order */
  int n_inputs;
  float *data[MAX_IN];  /* host data of non-constant inputs (owned) */
  int keep_f32[MAX_IN]; /* stays float32 in FP16 runs (Gather's indices) */
  int ok;
} op_case;

static void case_begin(op_case *c) {
  memset(c, 0, sizeof *c);
  c->g = ir_graph_create();
  c->ok = c->g != NULL;
}

static void case_end(op_case *c) {
  for (int i = 0; i < c->n_inputs; i++) free(c->data[i]);
  ir_graph_free(c->g);
}

static int64_t count_of(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

static float *random_data(int64_t n, float lo, float hi) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  if (p)
    for (int64_t i = 0; i < n; i++) p[i] = rand_float(lo, hi);
  return p;
}

/* A computed input (graph input) with uniform values in [lo, hi). */
static float *add_input(op_case *c, int rank, const int64_t *dims, float lo, float hi) {
  if (!c->ok || c->n_inputs == MAX_IN) return c->ok = 0, NULL;
  char name[16];
  snprintf(name, sizeof name, "in%d", c->n_inputs);
  int id;
  if (!status_ok(ir_add_input(c->g, name, KRT_FLOAT32, rank, dims, 0, IR_LAYOUT_PLAIN, &id),
                 "ir_add_input"))
    return c->ok = 0, NULL;
  float *p = random_data(count_of(rank, dims), lo, hi);
  c->inputs[c->n_inputs] = id;
  c->data[c->n_inputs++] = p;
  if (!p) c->ok = 0;
  return p;
}

/* A constant input (weights), values in [lo, hi). */
static float *add_const(op_case *c, int rank, const int64_t *dims, float lo, float hi) {
  if (!c->ok || c->n_inputs == MAX_IN) return c->ok = 0, NULL;
  char name[16];
  snprintf(name, sizeof name, "w%d", c->n_inputs);
  int id;
  float *p = random_data(count_of(rank, dims), lo, hi);
  if (!p || !status_ok(ir_add_const(c->g, name, rank, dims, p, &id), "ir_add_const"))
    return c->ok = 0, NULL;
  c->inputs[c->n_inputs++] = id;
  return c->g->values[id].data;
}

static void format_dims(char *buf, size_t size, int rank, const int64_t *dims) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "x" : "", (long long)dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

static void cpu_view(const ir_value *v, float *data, cpu_tensor *t) {
  memset(t, 0, sizeof *t);
  t->data = data;
  t->rank = v->rank;
  memcpy(t->dims, v->dims, sizeof t->dims);
}

static void cuda_view(const ir_value *v, void *data, krt_dtype dtype, cuda_tensor *t) {
  memset(t, 0, sizeof *t);
  t->data = data;
  t->dtype = dtype;
  t->rank = v->rank;
  memcpy(t->dims, v->dims, sizeof t->dims);
}

#define MAX_OUT 8

/* Emits the node with n_outputs outputs and runs it in both dtypes. label names it in the tables.
 * The outputs lie one after another in one buffer (CPU and device alike), compared as a whole. */
static void run_case_outputs(op_case *c, const char *label, ir_op op, const ir_attrs *attrs,
                             int n_outputs) {
  int out[MAX_OUT];
  if (n_outputs < 1 || n_outputs > MAX_OUT) c->ok = 0;
  if (c->ok && !status_ok(ir_emit_outputs(c->g, op, label, -1, c->inputs, c->n_inputs, attrs,
                                          n_outputs, out),
                          label))
    c->ok = 0;
  if (!c->ok) {
    record(label, KRT_FLOAT32, "(case could not be built)", NAN, NAN, 0);
    case_end(c);
    return;
  }
  const ir_node *n = &c->g->nodes[c->g->n_nodes - 1];
  const ir_value *yv = &c->g->values[n->outputs[0]];
  int64_t y_at[MAX_OUT], y_count = 0; /* where output k starts in the buffers, in elements */
  for (int k = 0; k < n_outputs; k++) {
    const ir_value *v = &c->g->values[n->outputs[k]];
    y_at[k] = y_count;
    y_count += count_of(v->rank, v->dims);
  }
  char shapes[128], a[48], b[48];
  const ir_value *x0 = &c->g->values[c->inputs[0]];
  format_dims(a, sizeof a, x0->rank, x0->dims);
  format_dims(b, sizeof b, yv->rank, yv->dims);
  snprintf(shapes, sizeof shapes, "%s->%s", a, b);

  for (int pass = 0; pass < 2; pass++) {
    krt_dtype dtype = pass ? KRT_FLOAT16 : KRT_FLOAT32;
    float *host[MAX_IN] = {0};
    cpu_tensor cin[MAX_IN];
    cuda_tensor gin[MAX_IN];
    void *dev[MAX_IN] = {0};
    float *ref = malloc((size_t)(y_count ? y_count : 1) * sizeof *ref);
    float *got = malloc((size_t)(y_count ? y_count : 1) * sizeof *got);
    void *dy = NULL;
    int fine = ref && got;
    for (int i = 0; fine && i < c->n_inputs; i++) {
      const ir_value *v = &c->g->values[c->inputs[i]];
      int64_t cnt = count_of(v->rank, v->dims);
      krt_dtype dt = c->keep_f32[i] ? KRT_FLOAT32 : dtype;
      host[i] = malloc((size_t)(cnt ? cnt : 1) * sizeof(float));
      if (!host[i]) {
        fine = 0;
        break;
      }
      memcpy(host[i], v->data ? v->data : c->data[i], (size_t)cnt * sizeof(float));
      if (dt == KRT_FLOAT16) round_to_half(host[i], cnt);
      cpu_view(v, host[i], &cin[i]);
      dev[i] = to_device(host[i], cnt, dt);
      fine = dev[i] != NULL;
      cuda_view(v, dev[i], dt, &gin[i]);
    }
    size_t es = dtype == KRT_FLOAT16 ? 2 : 4;
    fine = fine && CUDA_OK(cudaMalloc(&dy, (size_t)(y_count ? y_count : 1) * es));
    if (fine) {
      cpu_tensor cy[MAX_OUT];
      for (int k = 0; k < n_outputs; k++)
        cpu_view(&c->g->values[n->outputs[k]], ref + y_at[k], &cy[k]);
      fine = status_ok(cpu_kernel_for(op)(n, cin, c->n_inputs, cy), "cpu kernel");
    }
    if (fine) {
      cuda_tensor gy[MAX_OUT];
      for (int k = 0; k < n_outputs; k++)
        cuda_view(&c->g->values[n->outputs[k]], (char *)dy + (size_t)y_at[k] * es, dtype, &gy[k]);
      cuda_launch l = {stream, NULL, 0, error_flag, NULL};
      CUDA_OK(cudaMemset(dy, 0xFF, (size_t)y_count * es)); /* NaN in both dtypes */
      CUDA_OK(cudaMemset(error_flag, 0, sizeof(int)));
      cuda_launch_fn fn = cuda_launcher_for(op);
      fine = fn && status_ok(fn(n, gin, c->n_inputs, gy, &l), label) &&
             CUDA_OK(cudaStreamSynchronize(stream));
      int flag = 0;
      CUDA_OK(cudaMemcpy(&flag, error_flag, sizeof flag, cudaMemcpyDeviceToHost));
      if (flag) fprintf(stderr, "%s: error flag set unexpectedly\n", label), fine = 0;
    }
    if (fine) {
      from_device(got, dy, y_count, dtype);
      compare(label, dtype, shapes, got, ref, y_count);
    } else {
      record(label, dtype, shapes, NAN, NAN, 0);
    }
    for (int i = 0; i < c->n_inputs; i++) {
      free(host[i]);
      cudaFree(dev[i]);
    }
    cudaFree(dy);
    free(ref);
    free(got);
  }
  case_end(c);
}

static void run_case(op_case *c, const char *label, ir_op op, const ir_attrs *attrs) {
  run_case_outputs(c, label, op, attrs, 1);
}

static ir_attrs no_attrs(void) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

/* A random activation with parameters in the ranges Keras produces. */
static ir_activation act_of(ir_act_kind kind) {
  ir_activation a = ir_act_none();
  a.kind = kind;
  switch (kind) {
    case IR_ACT_RELU:
      a.alpha = rand_int(0, 1) ? 0.0f : 0.2f;
      a.max_value = rand_int(0, 1) ? INFINITY : 6.0f;
      a.threshold = rand_int(0, 2) ? 0.0f : 0.5f;
      break;
    case IR_ACT_HARD_SIGMOID:
    case IR_ACT_HARD_SWISH:
      if (rand_int(0, 1))
        a.alpha = 1.0f / 6.0f, a.beta = 0.5f;
      else
        a.alpha = 0.2f, a.beta = 0.5f;
      break;
    case IR_ACT_ELU: a.alpha = rand_float(0.5f, 1.5f); break;
    case IR_ACT_THRESHOLDED_RELU: a.alpha = rand_float(0.0f, 1.0f); break;
    default: break;
  }
  return a;
}

static ir_activation random_act(void) {
  return act_of((ir_act_kind)rand_int(0, IR_ACT_THRESHOLDED_RELU));
}

/* Random dims: rank axes of 1..hi, halving the largest until at most 400k elements. */
static void random_dims(int rank, int hi, int64_t *dims) {
  for (int i = 0; i < rank; i++) dims[i] = rand_int(1, hi);
  for (;;) {
    int64_t total = 1;
    int big = 0;
    for (int i = 0; i < rank; i++) {
      total *= dims[i];
      if (dims[i] > dims[big]) big = i;
    }
    if (total <= 400000) return;
    dims[big] = (dims[big] + 1) / 2;
  }
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

/* ---- per op ---- */

static void test_activation(void) {
  static const char *names[] = {"none",       "relu",        "sigmoid",   "hard_sigmoid",
                                "tanh",       "softplus",    "softsign",  "elu",
                                "selu",       "gelu",        "gelu_tanh", "swish",
                                "hard_swish", "exponential", "mish",      "thresholded_relu"};
  for (int k = 0; k <= IR_ACT_THRESHOLDED_RELU; k++)
    for (int rep = 0; rep < 2; rep++) {
      op_case c;
      case_begin(&c);
      int64_t dims[4];
      int rank = rand_int(1, 4);
      random_dims(rank, 13, dims);
      if (rep == 1) rank = 2, dims[0] = 3, dims[1] = 1001; /* odd count: the scalar tail */
      add_input(&c, rank, dims, -4.0f, 4.0f);
      ir_attrs a = no_attrs();
      a.act = act_of((ir_act_kind)k);
      char label[32];
      snprintf(label, sizeof label, "Act:%s", names[k]);
      run_case(&c, label, IR_OP_ACTIVATION, &a);
    }
  /* The math functions (TF/ONNX ops), each on inputs inside its domain. */
  static const struct {
    ir_act_kind kind;
    const char *name;
    float lo, hi;
  } math[] = {{IR_ACT_SIN, "sin", -4, 4},        {IR_ACT_COS, "cos", -4, 4},
              {IR_ACT_TAN, "tan", -1.2f, 1.2f},  {IR_ACT_ASIN, "asin", -0.95f, 0.95f},
              {IR_ACT_ACOS, "acos", -0.95f, 0.95f}, {IR_ACT_ATAN, "atan", -4, 4},
              {IR_ACT_SINH, "sinh", -4, 4},      {IR_ACT_COSH, "cosh", -4, 4},
              {IR_ACT_ASINH, "asinh", -4, 4},    {IR_ACT_ACOSH, "acosh", 1.1f, 5},
              {IR_ACT_ATANH, "atanh", -0.9f, 0.9f}, {IR_ACT_LOG1P, "log1p", -0.9f, 4},
              {IR_ACT_EXPM1, "expm1", -4, 4},    {IR_ACT_ERFC, "erfc", -3, 3},
              {IR_ACT_ROUND, "round", -6, 6},    {IR_ACT_FLOOR, "floor", -6, 6},
              {IR_ACT_CEIL, "ceil", -6, 6},      {IR_ACT_SIGN, "sign", -2, 2}};
  for (size_t k = 0; k < sizeof math / sizeof *math; k++) {
    op_case c;
    case_begin(&c);
    int64_t dims[4];
    int rank = rand_int(1, 4);
    random_dims(rank, 13, dims);
    float *x = add_input(&c, rank, dims, math[k].lo, math[k].hi);
    if (x && math[k].kind == IR_ACT_ROUND) /* some exact halves: 2.5 -> 2, -0.5 -> -0 */
      for (int64_t i = 0; i < count_of(rank, dims); i += 3) x[i] = (float)(int)x[i] + 0.5f;
    ir_attrs a = no_attrs();
    a.act = ir_act_none();
    a.act.kind = math[k].kind;
    char label[32];
    snprintf(label, sizeof label, "Act:%s", math[k].name);
    run_case(&c, label, IR_OP_ACTIVATION, &a);
  }
  op_case c; /* model-like: MobileNet's ReLU6 */
  case_begin(&c);
  add_input(&c, 4, DIMS(1, 112, 112, 32), -8.0f, 8.0f);
  ir_attrs a = no_attrs();
  a.act = act_of(IR_ACT_RELU);
  a.act.alpha = 0, a.act.max_value = 6, a.act.threshold = 0;
  run_case(&c, "Act:relu", IR_OP_ACTIVATION, &a);
}

/* Binary: a and b shapes as numpy broadcasting allows. */
static void binary_case(const int64_t *da, int ra, const int64_t *db, int rb, int kind) {
  op_case c;
  case_begin(&c);
  add_input(&c, ra, da, -2.0f, 2.0f);
  float *b = add_input(&c, rb, db, -2.0f, 2.0f);
  if (b && (kind == IR_BINARY_DIV || kind == IR_BINARY_FLOOR_DIV || kind == IR_BINARY_FLOOR_MOD ||
            kind == IR_BINARY_TRUNC_MOD)) /* keep divisors away from 0 */
    for (int64_t i = 0; i < count_of(rb, db); i++) b[i] += b[i] >= 0 ? 0.5f : -0.5f;
  if (b && (kind == IR_BINARY_WHERE_TRUE || kind == IR_BINARY_WHERE_FALSE)) /* a mask of 0 and 1 */
    for (int64_t i = 0; i < count_of(rb, db); i++) b[i] = b[i] > 0 ? 1.0f : 0.0f;
  ir_attrs a = no_attrs();
  a.binary = (ir_binary_kind)kind;
  a.act = rand_int(0, 2) ? ir_act_none() : random_act();
  static const char *names[] = {"add", "sub", "mul", "div", "max", "min", "pow", "gt", "ge",
                                "lt", "le", "eq", "ne", "where_true", "where_false",
                                "floor_div", "floor_mod", "trunc_mod", "atan2"};
  char label[32];
  snprintf(label, sizeof label, "Binary:%s", names[kind]);
  run_case(&c, label, IR_OP_BINARY, &a);
}

static void test_binary(void) {
  static const int kinds[] = {IR_BINARY_ADD, IR_BINARY_SUB, IR_BINARY_MUL, IR_BINARY_DIV,
                              IR_BINARY_MAX, IR_BINARY_MIN, IR_BINARY_GREATER, IR_BINARY_EQUAL,
                              IR_BINARY_WHERE_TRUE, IR_BINARY_WHERE_FALSE, IR_BINARY_FLOOR_DIV,
                              IR_BINARY_FLOOR_MOD, IR_BINARY_TRUNC_MOD, IR_BINARY_ATAN2};
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
    int kind = kinds[k];
    int64_t d[4];
    random_dims(4, 9, d);
    binary_case(d, 4, d, 4, kind);                             /* same shape */
    binary_case(d, 4, &d[3], 1, kind);                         /* per channel */
    binary_case(d, 4, DIMS(1), 1, kind);                       /* scalar */
    binary_case(DIMS(1), 1, d, 4, kind);                       /* scalar first */
    binary_case(d, 4, (int64_t[]){d[0], 1, 1, d[3]}, 4, kind); /* squeeze-excite */
    binary_case((int64_t[]){d[0], 1, d[2], 1}, 4, (int64_t[]){1, d[1], 1, d[3]}, 4, kind);
    binary_case(&d[1], 3, (int64_t[]){d[2], 1}, 2, kind); /* lower rank */
  }
  binary_case(DIMS(1, 56, 56, 24), 4, DIMS(1, 56, 56, 24), 4, IR_BINARY_ADD); /* residual */
  binary_case(DIMS(1, 14, 14, 672), 4, DIMS(1, 1, 1, 672), 4, IR_BINARY_MUL);
  binary_case(DIMS(2, 197, 768), 3, DIMS(768), 1, IR_BINARY_ADD);
}

static void test_prelu(void) {
  for (int rep = 0; rep < 4; rep++) {
    op_case c;
    case_begin(&c);
    int64_t d[4];
    random_dims(4, 11, d);
    add_input(&c, 4, d, -2.0f, 2.0f);
    if (rep == 0)
      add_const(&c, 1, &d[3], 0.0f, 0.5f);
    else if (rep == 1)
      add_const(&c, 3, (int64_t[]){1, 1, d[3]}, 0.0f, 0.5f);
    else if (rep == 2)
      add_const(&c, 3, &d[1], 0.0f, 0.5f);
    else
      add_const(&c, 3, (int64_t[]){d[1], d[2], 1}, 0.0f, 0.5f);
    ir_attrs a = no_attrs();
    run_case(&c, "PReLU", IR_OP_PRELU, &a);
  }
}

/* TF 'same' padding for one axis. */
static void same_pads(int64_t in, int k, int s, int d, int64_t *pb, int64_t *pe) {
  int64_t out = (in + s - 1) / s, eff = (int64_t)d * (k - 1) + 1;
  int64_t total = (out - 1) * s + eff - in;
  if (total < 0) total = 0;
  *pb = total / 2;
  *pe = total - *pb;
}

static void pool_case(int sp, const int64_t *dims, int kind, const int *k, const int *s, int same) {
  op_case c;
  case_begin(&c);
  add_input(&c, sp + 2, dims, -3.0f, 3.0f);
  ir_attrs a = no_attrs();
  a.pool = (ir_pool_kind)kind;
  a.spatial = sp;
  for (int i = 0; i < sp; i++) {
    a.kernel[i] = k[i];
    a.stride[i] = s[i];
    if (same) same_pads(dims[1 + i], k[i], s[i], 1, &a.pad_begin[i], &a.pad_end[i]);
  }
  run_case(&c, kind == IR_POOL_MAX ? "Pool:max" : "Pool:avg", IR_OP_POOL, &a);
}

static void test_pool(void) {
  for (int rep = 0; rep < 10; rep++) {
    int sp = rep < 7 ? 2 : rep < 9 ? 1 : 3;
    int64_t dims[5];
    int k[3], s[3];
    dims[0] = rand_int(1, 3);
    for (int i = 0; i < sp; i++) {
      k[i] = rand_int(1, 4);
      s[i] = rand_int(1, 3);
      dims[1 + i] = rand_int(k[i], 17);
    }
    dims[sp + 1] = rep % 3 == 0 ? 8 * rand_int(1, 6) : rand_int(1, 13);
    pool_case(sp, dims, rep % 2, k, s, rand_int(0, 1));
  }
  pool_case(2, DIMS(1, 7, 7, 2048), IR_POOL_AVG, (int[]){7, 7}, (int[]){1, 1}, 0);
  pool_case(2, DIMS(1, 112, 112, 64), IR_POOL_MAX, (int[]){3, 3}, (int[]){2, 2}, 1);
  pool_case(2, DIMS(2, 35, 35, 192), IR_POOL_AVG, (int[]){3, 3}, (int[]){1, 1}, 1);
  /* MaxPooling3D / AveragePooling3D: anisotropic windows, 'same' padding on odd volumes */
  pool_case(3, DIMS(2, 5, 6, 7, 8), IR_POOL_MAX, (int[]){3, 2, 3}, (int[]){2, 1, 2}, 1);
  pool_case(3, DIMS(2, 5, 6, 7, 3), IR_POOL_AVG, (int[]){3, 3, 3}, (int[]){2, 2, 2}, 1);
  pool_case(3, DIMS(1, 8, 8, 8, 16), IR_POOL_AVG, (int[]){2, 2, 2}, (int[]){2, 2, 2}, 0);
}

static void reduce_case(int rank, const int64_t *dims, int n_axes, const int *axes, int kind) {
  op_case c;
  case_begin(&c);
  add_input(&c, rank, dims, -1.0f, 1.0f);
  ir_attrs a = no_attrs();
  a.reduce = (ir_reduce_kind)kind;
  a.n_axes = n_axes;
  memcpy(a.axes, axes, (size_t)n_axes * sizeof *axes);
  a.keepdims = rand_int(0, 1);
  static const char *names[] = {"mean", "max", "sum"};
  char label[32];
  snprintf(label, sizeof label, "Reduce:%s", names[kind]);
  run_case(&c, label, IR_OP_REDUCE, &a);
}

/* A random non-empty ascending subset of 0..rank-1. */
static int random_axes(int rank, int *axes) {
  int n = 0;
  while (n == 0)
    for (int i = 0; i < rank; i++)
      if (rand_int(0, 2) == 0) axes[n++] = i;
  return n;
}

static void test_reduce(void) {
  for (int rep = 0; rep < 15; rep++) {
    int rank = rand_int(1, 5), axes[8];
    int64_t dims[8];
    random_dims(rank, rep % 5 == 0 ? 70 : 9, dims);
    int n = random_axes(rank, axes);
    reduce_case(rank, dims, n, axes, rep % 3);
  }
  reduce_case(4, DIMS(1, 7, 7, 2048), 2, (int[]){1, 2}, IR_REDUCE_MEAN);
  reduce_case(3, DIMS(2, 197, 768), 1, (int[]){2}, IR_REDUCE_MEAN);
  reduce_case(2, DIMS(4, 50176), 1, (int[]){1}, IR_REDUCE_SUM);
  reduce_case(3, DIMS(1, 50176, 3), 1, (int[]){1}, IR_REDUCE_MAX);
}

/* BatchNorm's gamma, beta, mean and variance over `channels` (variance kept positive). */
static void add_batchnorm_params(op_case *c, int64_t channels) {
  add_const(c, 1, &channels, 0.5f, 1.5f);
  add_const(c, 1, &channels, -0.5f, 0.5f);
  add_const(c, 1, &channels, -0.5f, 0.5f);
  add_const(c, 1, &channels, 0.1f, 2.0f);
}

static void test_batchnorm(void) {
  for (int rep = 0; rep < 6; rep++) {
    op_case c;
    case_begin(&c);
    int rank = rand_int(2, 4);
    int64_t dims[4];
    random_dims(rank, 12, dims);
    if (rep == 5) rank = 4, dims[0] = 1, dims[1] = 56, dims[2] = 56, dims[3] = 64;
    int axis = rep % 3 == 2 ? 1 : rank - 1;
    add_input(&c, rank, dims, -3.0f, 3.0f);
    add_batchnorm_params(&c, dims[axis]);
    ir_attrs a = no_attrs();
    a.axis = axis;
    a.epsilon = rand_int(0, 1) ? 1e-3f : 1e-5f;
    run_case(&c, "BatchNorm", IR_OP_BATCHNORM, &a);
  }
}

/* BatchNorm with the activation fuse_activation moves into it (DenseNet's BatchNorm -> ReLU):
 * every kind, on random shapes over the last axis, plus a DenseNet-121 shape. */
static void batchnorm_act_case(int rank, const int64_t *dims, int axis, ir_activation act) {
  op_case c;
  case_begin(&c);
  add_input(&c, rank, dims, -3.0f, 3.0f);
  add_batchnorm_params(&c, dims[axis]);
  ir_attrs a = no_attrs();
  a.axis = axis;
  a.epsilon = 1.001e-5f; /* DenseNet's */
  a.act = act;
  run_case(&c, "BatchNorm:act", IR_OP_BATCHNORM, &a);
}

static void test_batchnorm_act(void) {
  for (int k = IR_ACT_RELU; k <= IR_ACT_THRESHOLDED_RELU; k++) {
    int rank = rand_int(2, 4);
    int64_t dims[4];
    random_dims(rank, 12, dims);
    batchnorm_act_case(rank, dims, k % 4 == 0 ? 1 : rank - 1, act_of((ir_act_kind)k));
  }
  ir_activation relu = act_of(IR_ACT_RELU);
  relu.alpha = 0, relu.max_value = INFINITY, relu.threshold = 0;
  batchnorm_act_case(4, DIMS(2, 28, 28, 160), 3, relu);
  batchnorm_act_case(2, DIMS(3, 1001), 1, relu); /* odd count: the scalar kernel */
}

static void layernorm_case(int rank, const int64_t *dims, int n_axes, const int *axes, int rms) {
  op_case c;
  case_begin(&c);
  add_input(&c, rank, dims, -2.0f, 3.0f);
  int64_t p[8];
  for (int i = 0; i < n_axes; i++) p[i] = dims[axes[i]];
  add_const(&c, n_axes, p, 0.5f, 1.5f);
  add_const(&c, n_axes, p, -0.5f, 0.5f);
  ir_attrs a = no_attrs();
  a.n_axes = n_axes;
  memcpy(a.axes, axes, (size_t)n_axes * sizeof *axes);
  a.epsilon = rand_int(0, 1) ? 1e-3f : 1e-6f;
  a.rms_scaling = rms;
  run_case(&c, rms ? "LayerNorm:rms" : "LayerNorm", IR_OP_LAYERNORM, &a);
}

static void test_layernorm(void) {
  for (int rep = 0; rep < 8; rep++) {
    int rank = rand_int(2, 4), axes[8];
    int64_t dims[8];
    random_dims(rank, rep % 4 == 0 ? 300 : 12, dims);
    int n;
    if (rep % 3 == 0)
      n = 1, axes[0] = rank - 1;
    else if (rep % 3 == 1)
      n = 2, axes[0] = rank - 2, axes[1] = rank - 1;
    else
      n = random_axes(rank, axes);
    layernorm_case(rank, dims, n, axes, rep % 2);
  }
  layernorm_case(3, DIMS(2, 197, 768), 1, (int[]){2}, 0);
  layernorm_case(3, DIMS(4, 16, 2048), 1, (int[]){2}, 1);
}

static void softmax_case(int rank, const int64_t *dims, int n_axes, const int *axes, int log) {
  op_case c;
  case_begin(&c);
  add_input(&c, rank, dims, -5.0f, 5.0f);
  ir_attrs a = no_attrs();
  a.n_axes = n_axes;
  memcpy(a.axes, axes, (size_t)n_axes * sizeof *axes);
  run_case(&c, log ? "LogSoftmax" : "Softmax", log ? IR_OP_LOG_SOFTMAX : IR_OP_SOFTMAX, &a);
}

static void test_softmax(void) {
  for (int log = 0; log < 2; log++) {
    for (int rep = 0; rep < 6; rep++) {
      int rank = rand_int(1, 4), axes[8];
      int64_t dims[8];
      random_dims(rank, rep == 0 ? 1500 : 11, dims);
      int n = rep % 2 ? random_axes(rank, axes) : (axes[0] = rank - 1, 1);
      softmax_case(rank, dims, n, axes, log);
    }
    softmax_case(2, DIMS(1, 1000), 1, (int[]){1}, log);
    softmax_case(4, DIMS(2, 12, 197, 197), 1, (int[]){3}, log);
    softmax_case(4, DIMS(2, 5, 7, 3), 2, (int[]){1, 2}, log);
  }
}

static void test_concat(void) {
  for (int rep = 0; rep < 8; rep++) {
    op_case c;
    case_begin(&c);
    int rank = rand_int(1, 4), parts = rand_int(1, 5);
    int64_t dims[4];
    random_dims(rank, 9, dims);
    int axis = rand_int(0, rank - 1);
    for (int i = 0; i < parts; i++) {
      dims[axis] = rep % 2 ? 4 * rand_int(1, 4) : rand_int(1, 7);
      add_input(&c, rank, dims, -1.0f, 1.0f);
    }
    ir_attrs a = no_attrs();
    a.axis = axis;
    run_case(&c, "Concat", IR_OP_CONCAT, &a);
  }
  op_case c;
  case_begin(&c);
  add_input(&c, 4, DIMS(1, 28, 28, 64), -1.0f, 1.0f);
  add_input(&c, 4, DIMS(1, 28, 28, 32), -1.0f, 1.0f);
  add_input(&c, 4, DIMS(1, 28, 28, 32), -1.0f, 1.0f);
  ir_attrs a = no_attrs();
  a.axis = 3;
  run_case(&c, "Concat", IR_OP_CONCAT, &a);
}

static void test_reshape_identity(void) {
  op_case c;
  case_begin(&c);
  add_input(&c, 4, DIMS(2, 7, 7, 64), -1.0f, 1.0f);
  ir_attrs a = no_attrs();
  a.shape_rank = 1;
  a.shape[0] = 7 * 7 * 64;
  run_case(&c, "Reshape", IR_OP_RESHAPE, &a);
  case_begin(&c);
  add_input(&c, 3, DIMS(3, 5, 11), -1.0f, 1.0f);
  a = no_attrs();
  run_case(&c, "Identity", IR_OP_IDENTITY, &a);

  /* in place (the planner aliased y to x): nothing may change */
  float h[77], back[77];
  for (int i = 0; i < 77; i++) h[i] = rand_float(-1, 1);
  void *d = to_device(h, 77, KRT_FLOAT32);
  ir_node n;
  memset(&n, 0, sizeof n);
  n.op = IR_OP_RESHAPE;
  n.name = "alias";
  cuda_tensor x = {d, KRT_FLOAT32, 2, {7, 11}, 0}, y = {d, KRT_FLOAT32, 2, {1, 77}, 0};
  cuda_launch l = {stream, NULL, 0, error_flag, NULL};
  CHECK_OK(cuda_launch_reshape(&n, &x, 1, &y, &l));
  CUDA_OK(cudaStreamSynchronize(stream));
  from_device(back, d, 77, KRT_FLOAT32);
  CHECK(!memcmp(h, back, sizeof h));
  cudaFree(d);
}

static void test_transpose(void) {
  for (int rep = 0; rep < 10; rep++) {
    op_case c;
    case_begin(&c);
    int rank = rand_int(2, 5), perm[8];
    int64_t dims[8];
    random_dims(rank, rep % 3 == 0 ? 40 : 8, dims);
    for (int i = 0; i < rank; i++) perm[i] = i;
    for (int i = rank - 1; i > 0; i--) { /* Fisher-Yates */
      int j = rand_int(0, i), t = perm[i];
      perm[i] = perm[j], perm[j] = t;
    }
    add_input(&c, rank, dims, -1.0f, 1.0f);
    ir_attrs a = no_attrs();
    memcpy(a.perm, perm, sizeof perm);
    run_case(&c, "Transpose", IR_OP_TRANSPOSE, &a);
  }
  static const int to_last[] = {0, 2, 3, 1}, to_first[] = {0, 3, 1, 2};
  for (int i = 0; i < 2; i++) {
    op_case c;
    case_begin(&c);
    add_input(&c, 4, i ? DIMS(2, 56, 56, 24) : DIMS(2, 24, 56, 56), -1.0f, 1.0f);
    ir_attrs a = no_attrs();
    memcpy(a.perm, i ? to_first : to_last, 4 * sizeof(int));
    run_case(&c, "Transpose", IR_OP_TRANSPOSE, &a);
  }
}

/* Pad, Slice and Split (several outputs) on random shapes */
static void test_pad_slice(void) {
  for (int rep = 0; rep < 8; rep++) {
    op_case c;
    case_begin(&c);
    int rank = rand_int(1, 5);
    int64_t dims[8];
    random_dims(rank, 9, dims);
    add_input(&c, rank, dims, -1.0f, 1.0f);
    ir_attrs a = no_attrs();
    for (int i = 0; i < rank; i++)
      if (rand_int(0, 1)) a.pad_begin[i] = rand_int(0, 3), a.pad_end[i] = rand_int(0, 3);
    run_case(&c, "Pad", IR_OP_PAD, &a);

    case_begin(&c);
    add_input(&c, rank, dims, -1.0f, 1.0f);
    a = no_attrs();
    for (int i = 0; i < rank; i++) {
      a.begin[i] = rand_int(0, (int)dims[i] - 1);
      a.end[i] = rand_int((int)a.begin[i] + 1, (int)dims[i]);
    }
    run_case(&c, "Slice", IR_OP_SLICE, &a);

    /* Split along a random axis into up to 4 pieces of random lengths */
    int axis = rand_int(0, rank - 1), pieces = 0;
    if (dims[axis] < 2) dims[axis] = 2 + rand_int(0, 5);
    case_begin(&c);
    add_input(&c, rank, dims, -1.0f, 1.0f);
    a = no_attrs();
    a.axis = axis;
    for (int64_t left = dims[axis]; left > 0; pieces++) {
      int64_t len = pieces == 3 ? left : rand_int(1, (int)left);
      a.sizes[pieces] = len;
      left -= len;
    }
    run_case_outputs(&c, "Split", IR_OP_SPLIT, &a, pieces);
  }
  op_case s; /* a GRU-style gate split: [N, 3H] into three [N, H] along the channels */
  case_begin(&s);
  add_input(&s, 2, DIMS(33, 3 * 96), -1.0f, 1.0f);
  ir_attrs sa = no_attrs();
  sa.axis = 1, sa.sizes[0] = sa.sizes[1] = sa.sizes[2] = 96;
  run_case_outputs(&s, "Split", IR_OP_SPLIT, &sa, 3);
  op_case c; /* ZeroPadding2D before a stride-2 conv */
  case_begin(&c);
  add_input(&c, 4, DIMS(1, 112, 112, 32), -1.0f, 1.0f);
  ir_attrs a = no_attrs();
  a.pad_begin[1] = a.pad_begin[2] = 0, a.pad_end[1] = a.pad_end[2] = 1;
  run_case(&c, "Pad", IR_OP_PAD, &a);
  case_begin(&c); /* ZeroPadding3D: [N, D, H, W, C], every spatial axis padded differently */
  add_input(&c, 5, DIMS(2, 3, 4, 5, 6), -1.0f, 1.0f);
  a = no_attrs();
  a.pad_begin[1] = 1, a.pad_end[1] = 0, a.pad_begin[2] = 0, a.pad_end[2] = 2;
  a.pad_begin[3] = 2, a.pad_end[3] = 1;
  run_case(&c, "Pad", IR_OP_PAD, &a);
  case_begin(&c); /* Cropping3D of the same layout */
  add_input(&c, 5, DIMS(2, 5, 6, 7, 3), -1.0f, 1.0f);
  a = no_attrs();
  a.end[0] = 2, a.end[4] = 3;
  a.begin[1] = 1, a.end[1] = 5, a.begin[2] = 2, a.end[2] = 5, a.begin[3] = 0, a.end[3] = 4;
  run_case(&c, "Slice", IR_OP_SLICE, &a);
}

static void resize_case(int sp, const int64_t *dims, const int *scale, int kind) {
  op_case c;
  case_begin(&c);
  add_input(&c, sp + 2, dims, -1.0f, 1.0f);
  ir_attrs a = no_attrs();
  a.spatial = sp;
  a.resize = (ir_resize_kind)kind;
  memcpy(a.scale, scale, (size_t)sp * sizeof(int));
  run_case(&c, kind ? "Resize:bilinear" : "Resize:nearest", IR_OP_RESIZE, &a);
}

static void test_resize(void) {
  for (int rep = 0; rep < 8; rep++) {
    int sp = rep < 6 ? 2 : 1, scale[3];
    int64_t dims[5];
    dims[0] = rand_int(1, 2);
    for (int i = 0; i < sp; i++) dims[1 + i] = rand_int(1, 9), scale[i] = rand_int(1, 3);
    dims[sp + 1] = rand_int(1, 6);
    resize_case(sp, dims, scale, rep % 2);
  }
  resize_case(2, DIMS(1, 14, 14, 256), (int[]){2, 2}, IR_RESIZE_BILINEAR);
  resize_case(2, DIMS(1, 14, 14, 256), (int[]){2, 2}, IR_RESIZE_NEAREST);
  /* UpSampling3D (nearest only in Keras) */
  resize_case(3, DIMS(2, 2, 3, 4, 5), (int[]){2, 1, 3}, IR_RESIZE_NEAREST);
  resize_case(3, DIMS(1, 4, 4, 4, 16), (int[]){2, 2, 2}, IR_RESIZE_NEAREST);
}

static void test_gather(void) {
  for (int rep = 0; rep < 5; rep++) {
    op_case c;
    case_begin(&c);
    int64_t v = rep == 4 ? 30000 : rand_int(1, 50), d = rand_int(1, 40);
    int64_t idims[3] = {rand_int(1, 3), rand_int(1, 20), 1};
    int irank = rand_int(1, 2);
    float *idx = add_input(&c, irank, idims, 0.0f, (float)v - 0.001f); /* fractions truncate */
    if (idx) idx[0] = -0.5f; /* truncates to 0: in range */
    c.keep_f32[0] = 1;
    add_const(&c, 2, (int64_t[]){v, d}, -1.0f, 1.0f);
    ir_attrs a = no_attrs();
    run_case(&c, "Gather", IR_OP_GATHER, &a);
  }
  /* out of range: the flag is set and the row zeroed; the other rows are still gathered */
  float table[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; /* [4, 3] */
  float idx[3] = {2.9f, 4.0f, NAN};
  float out[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
  void *dt = to_device(table, 12, KRT_FLOAT32), *di = to_device(idx, 3, KRT_FLOAT32);
  void *dy = to_device(out, 9, KRT_FLOAT32);
  ir_node n;
  memset(&n, 0, sizeof n);
  n.op = IR_OP_GATHER;
  n.name = "bad_index";
  cuda_tensor in[2] = {{di, KRT_FLOAT32, 1, {3}, 0}, {dt, KRT_FLOAT32, 2, {4, 3}, 0}};
  cuda_tensor y = {dy, KRT_FLOAT32, 2, {3, 3}, 0};
  cuda_launch l = {stream, NULL, 0, error_flag, NULL};
  CUDA_OK(cudaMemset(error_flag, 0, sizeof(int)));
  CHECK_OK(cuda_launch_gather(&n, in, 2, &y, &l));
  CUDA_OK(cudaStreamSynchronize(stream));
  int flag = 0;
  CUDA_OK(cudaMemcpy(&flag, error_flag, sizeof flag, cudaMemcpyDeviceToHost));
  from_device(out, dy, 9, KRT_FLOAT32);
  int pass = flag == 1 && out[0] == 7 && out[1] == 8 && out[2] == 9;
  for (int i = 3; i < 9; i++) pass = pass && out[i] == 0;
  record("Gather:out-of-range", KRT_FLOAT32, "idx {2.9, 4, nan}, table [4x3]", 0, 0, pass);
  cudaFree(dt), cudaFree(di), cudaFree(dy);
}

/* ---- epilogue (no node: a [rows, channels] buffer in place) ---- */

static void test_epilogue(void) {
  for (int rep = 0; rep < 8; rep++)
    for (int pass = 0; pass < 2; pass++) {
      krt_dtype dtype = pass ? KRT_FLOAT16 : KRT_FLOAT32;
      int64_t rows = rand_int(1, 300), ch = rep % 2 ? 8 * rand_int(1, 20) : rand_int(1, 50);
      int64_t n = rows * ch;
      int with_bias = rep % 4 != 3, with_res = rep % 3 != 0;
      ir_activation act = random_act();
      float *y = random_data(n, -2, 2), *b = random_data(ch, -1, 1), *r = random_data(n, -1, 1);
      float *got = malloc((size_t)n * sizeof *got);
      if (!y || !b || !r || !got) return;
      if (pass) round_to_half(y, n), round_to_half(b, ch), round_to_half(r, n);
      void *dy = to_device(y, n, dtype), *db = to_device(b, ch, dtype);
      void *dr = to_device(r, n, dtype);
      int ok =
          status_ok(cuda_launch_epilogue("epilogue", dy, dtype, rows, ch, with_bias ? db : NULL,
                                         with_res ? dr : NULL, &act, stream),
                    "epilogue") &&
          CUDA_OK(cudaStreamSynchronize(stream));
      from_device(got, dy, n, dtype);
      for (int64_t i = 0; i < n; i++)
        y[i] = y[i] + (with_bias ? b[i % ch] : 0.0f) + (with_res ? r[i] : 0.0f);
      cpu_apply_activation(&act, y, n);
      char shapes[128];
      snprintf(shapes, sizeof shapes, "[%lldx%lld] bias %d res %d act %s", (long long)rows,
               (long long)ch, with_bias, with_res, ir_act_name(act.kind));
      if (ok)
        compare("Epilogue", dtype, shapes, got, y, n);
      else
        record("Epilogue", dtype, shapes, NAN, NAN, 0);
      cudaFree(dy), cudaFree(db), cudaFree(dr);
      free(y), free(b), free(r), free(got);
    }
}

/* ---- depthwise convolution ---- */

typedef struct dw_case {
  int sp;
  int64_t dims[4]; /* N, (H,) W, C */
  int mult, k[2], s[2], d[2];
  int same; /* TF same pads, else random asymmetric */
  int bias, residual;
  ir_activation act;
  int timed;
} dw_case;

static void depthwise_case(const dw_case *t) {
  op_case c;
  case_begin(&c);
  int sp = t->sp;
  int64_t ci = t->dims[sp + 1], co = ci * t->mult;
  add_input(&c, sp + 2, t->dims, -1.0f, 1.0f);
  int64_t wd[4];
  for (int i = 0; i < sp; i++) wd[i] = t->k[i];
  wd[sp] = 1, wd[sp + 1] = co;
  add_const(&c, sp + 2, wd, -0.5f, 0.5f);
  ir_attrs a = no_attrs();
  a.spatial = sp;
  a.groups = (int)ci;
  a.act = t->act;
  int64_t odims[4];
  odims[0] = t->dims[0], odims[sp + 1] = co;
  for (int i = 0; i < sp; i++) {
    a.kernel[i] = t->k[i], a.stride[i] = t->s[i], a.dilation[i] = t->d[i];
    int64_t eff = (int64_t)t->d[i] * (t->k[i] - 1) + 1;
    if (t->same) {
      same_pads(t->dims[1 + i], t->k[i], t->s[i], t->d[i], &a.pad_begin[i], &a.pad_end[i]);
    } else {
      a.pad_begin[i] = rand_int(0, t->k[i] - 1);
      a.pad_end[i] = rand_int(0, t->k[i] - 1);
      while (t->dims[1 + i] + a.pad_begin[i] + a.pad_end[i] < eff) a.pad_end[i]++;
    }
    odims[1 + i] = (t->dims[1 + i] + a.pad_begin[i] + a.pad_end[i] - eff) / t->s[i] + 1;
  }
  if (t->bias || t->residual) add_const(&c, 1, &co, -0.5f, 0.5f);
  if (t->residual) {
    add_input(&c, sp + 2, odims, -1.0f, 1.0f);
    a.residual = 1;
  }
  int out;
  if (c.ok && !status_ok(ir_emit(c.g, IR_OP_CONV, "dw", -1, c.inputs, c.n_inputs, &a, &out),
                         "depthwise emit"))
    c.ok = 0;
  if (!c.ok) {
    record("Depthwise", KRT_FLOAT32, "(case could not be built)", NAN, NAN, 0);
    case_end(&c);
    return;
  }
  const ir_node *n = &c.g->nodes[c.g->n_nodes - 1];
  const ir_value *yv = &c.g->values[n->outputs[0]];
  int64_t y_count = count_of(yv->rank, yv->dims);
  char shapes[128], xs[40];
  format_dims(xs, sizeof xs, sp + 2, t->dims);
  snprintf(shapes, sizeof shapes, "%s k%dx%d s%d d%d m%d %s%s%s", xs, t->k[0], sp > 1 ? t->k[1] : 1,
           t->s[0], t->d[0], t->mult, t->bias || t->residual ? "b" : "", t->residual ? "r" : "",
           t->act.kind ? ir_act_name(t->act.kind) : "");

  for (int pass = 0; pass < 2; pass++) {
    krt_dtype dtype = pass ? KRT_FLOAT16 : KRT_FLOAT32;
    size_t es = pass ? 2 : 4;
    float *host[MAX_IN] = {0};
    void *dev[MAX_IN] = {0};
    cpu_tensor cin[MAX_IN];
    float *ref = malloc((size_t)y_count * sizeof *ref),
          *got = malloc((size_t)y_count * sizeof *got);
    void *dy = NULL;
    int fine = ref && got && CUDA_OK(cudaMalloc(&dy, (size_t)y_count * es));
    for (int i = 0; fine && i < c.n_inputs; i++) {
      const ir_value *v = &c.g->values[c.inputs[i]];
      int64_t cnt = count_of(v->rank, v->dims);
      host[i] = malloc((size_t)cnt * sizeof(float));
      if (!host[i]) {
        fine = 0;
        break;
      }
      memcpy(host[i], v->data ? v->data : c.data[i], (size_t)cnt * sizeof(float));
      if (pass) round_to_half(host[i], cnt);
      cpu_view(v, host[i], &cin[i]);
      fine = (dev[i] = to_device(host[i], cnt, dtype)) != NULL;
    }
    if (fine) {
      cpu_tensor cy;
      cpu_view(yv, ref, &cy);
      fine = status_ok(cpu_kernel_conv(n, cin, c.n_inputs, &cy), "cpu conv");
    }
    cuda_tensor gx, gy;
    cuda_view(&c.g->values[c.inputs[0]], dev[0], dtype, &gx);
    cuda_view(yv, dy, dtype, &gy);
    const void *bias = c.n_inputs > 2 ? dev[2] : NULL, *res = c.n_inputs > 3 ? dev[3] : NULL;
    for (int variant = 0; fine && variant < cuda_depthwise_variants(); variant++) {
      char label[32];
      snprintf(label, sizeof label, "Depthwise:v%d", variant);
      CUDA_OK(cudaMemset(dy, 0xFF, (size_t)y_count * es));
      krt_status *s = cuda_depthwise_conv(n, &gx, dev[1], bias, res, &gy, variant, stream);
      if (s && krt_status_code(s) == KRT_ERR_UNSUPPORTED && variant > 0) {
        krt_status_release(s); /* not applicable to these channels: allowed */
        continue;
      }
      if (!status_ok(s, label) || !CUDA_OK(cudaStreamSynchronize(stream))) {
        record(label, dtype, shapes, NAN, NAN, 0);
        continue;
      }
      from_device(got, dy, y_count, dtype);
      compare(label, dtype, shapes, got, ref, y_count);
      if (t->timed) { /* median-free but warm: 20 launches between events */
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        for (int w = 0; w < 3; w++)
          status_ok(cuda_depthwise_conv(n, &gx, dev[1], bias, res, &gy, variant, stream), "w");
        cudaEventRecord(e0, stream);
        for (int r = 0; r < 20; r++)
          status_ok(cuda_depthwise_conv(n, &gx, dev[1], bias, res, &gy, variant, stream), "t");
        cudaEventRecord(e1, stream);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        printf("  time %-12s %-7s %-44s %.2f us\n", label, krt_dtype_name(dtype), shapes,
               1000.0 * ms / 20);
        cudaEventDestroy(e0), cudaEventDestroy(e1);
      }
    }
    if (!fine) record("Depthwise", dtype, shapes, NAN, NAN, 0);
    for (int i = 0; i < c.n_inputs; i++) free(host[i]), cudaFree(dev[i]);
    cudaFree(dy);
    free(ref), free(got);
  }
  case_end(&c);
}

static void test_depthwise(void) {
  for (int rep = 0; rep < 12; rep++) {
    dw_case t;
    memset(&t, 0, sizeof t);
    t.sp = rep < 9 ? 2 : 1;
    t.dims[0] = rand_int(1, 2);
    t.mult = rep % 4 == 3 ? rand_int(2, 3) : 1;
    for (int i = 0; i < t.sp; i++) {
      t.k[i] = rand_int(1, 5), t.s[i] = rand_int(1, 2), t.d[i] = rep % 5 == 4 ? 2 : 1;
      t.dims[1 + i] = rand_int(1, 20);
    }
    t.dims[t.sp + 1] = rep % 2 ? 8 * rand_int(1, 6) : rand_int(1, 13);
    t.same = rand_int(0, 1);
    t.bias = rand_int(0, 3) != 0;
    t.residual = rand_int(0, 2) == 0;
    t.act = rand_int(0, 1) ? random_act() : ir_act_none();
    depthwise_case(&t);
  }
  ir_activation relu6 = act_of(IR_ACT_RELU);
  relu6.alpha = 0, relu6.max_value = 6, relu6.threshold = 0;
  const dw_case models[] = {
      /* MobileNetV2 / EfficientNet shapes */
      {2, {1, 112, 112, 32}, 1, {3, 3}, {2, 2}, {1, 1}, 1, 1, 0, relu6, 1},
      {2, {1, 112, 112, 32}, 1, {3, 3}, {1, 1}, {1, 1}, 1, 1, 0, relu6, 1},
      {2, {1, 56, 56, 144}, 1, {3, 3}, {1, 1}, {1, 1}, 1, 1, 1, relu6, 1},
      {2, {1, 7, 7, 960}, 1, {5, 5}, {1, 1}, {1, 1}, 1, 1, 0, act_of(IR_ACT_SWISH), 1},
      {2, {8, 28, 28, 192}, 2, {3, 3}, {1, 1}, {2, 2}, 1, 1, 0, ir_act_none(), 1},
  };
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) depthwise_case(&models[i]);
}

/* MatMul a[..., M, K] @ b[..., K, N]: odd sizes (not multiples of the 16x16 tile), K longer than
 * one tile, broadcast leading axes on either side, a constant b, and attention-like shapes. */
static void matmul_case(const int64_t *da, int ra, const int64_t *db, int rb, int b_const) {
  op_case c;
  case_begin(&c);
  add_input(&c, ra, da, -1.0f, 1.0f);
  if (b_const)
    add_const(&c, rb, db, -1.0f, 1.0f);
  else
    add_input(&c, rb, db, -1.0f, 1.0f);
  ir_attrs a = no_attrs();
  run_case(&c, "MatMul", IR_OP_MATMUL, &a);
}

static void test_matmul(void) {
  matmul_case(DIMS(5, 7), 2, DIMS(7, 3), 2, 0);
  matmul_case(DIMS(3, 17, 33), 3, DIMS(3, 33, 19), 3, 0);
  matmul_case(DIMS(2, 1, 9, 40), 4, DIMS(1, 3, 40, 5), 4, 0); /* both sides broadcast */
  matmul_case(DIMS(4, 6, 8), 3, DIMS(8, 11), 2, 0);           /* b shared by every matrix */
  matmul_case(DIMS(8, 11), 2, DIMS(4, 11, 6), 3, 0);          /* a shared by every matrix */
  matmul_case(DIMS(2, 5, 1), 3, DIMS(2, 1, 4), 3, 1);         /* outer products, constant b */
  matmul_case(DIMS(2, 4, 64, 32), 4, DIMS(2, 4, 32, 64), 4, 0); /* q @ k^T of attention */
  for (int i = 0; i < 4; i++) {
    int64_t m = rand_int(1, 40), k = rand_int(1, 70), n = rand_int(1, 40), l = rand_int(1, 5);
    matmul_case(DIMS(l, m, k), 3, DIMS(l, k, n), 3, 0);
  }
}

/* Recurrent x[N, T, F] -> [N, T, H] or [N, H]: every cell kind, both directions, reversed output
 * (Bidirectional's backward half), initial states, more units than the block has threads (256),
 * 60+ steps, and the Keras 1/2 and Keras 3 hard_sigmoid. Weights scaled by 1/sqrt(fan in) as
 * Keras initialises them, so the state neither vanishes nor saturates everywhere. */
static void recurrent_outputs_case(ir_rnn_cell cell, int64_t batch, int64_t steps,
                                   int64_t features, int64_t units, int backwards, int sequences,
                                   int reverse, int states, ir_act_kind act, ir_act_kind gate_act,
                                   int n_outputs, int masked) {
  int64_t g = cell == IR_RNN_SIMPLE ? 1 : cell == IR_RNN_LSTM ? 4 : 3;
  int64_t nb = cell == IR_RNN_GRU_RESET_AFTER ? 2 * g * units : g * units;
  float wx = 1.0f / sqrtf((float)features), wh = 1.0f / sqrtf((float)units);
  op_case c;
  case_begin(&c);
  add_input(&c, 3, DIMS(batch, steps, features), -1.0f, 1.0f);
  add_const(&c, 2, DIMS(features, g * units), -wx, wx);
  add_const(&c, 2, DIMS(units, g * units), -wh, wh);
  add_const(&c, 1, DIMS(nb), -0.3f, 0.3f);
  for (int i = 0; i < states; i++) add_input(&c, 2, DIMS(batch, units), -0.5f, 0.5f);
  if (masked) { /* m[N, T]: about a third of the steps masked, the first and last among them */
    float *m = add_input(&c, 2, DIMS(batch, steps), 0.0f, 1.0f);
    for (int64_t i = 0; m && i < batch * steps; i++) m[i] = m[i] < 0.35f ? 0.0f : 1.0f;
    if (m) m[0] = m[batch * steps - 1] = 0.0f;
  }
  ir_attrs a = no_attrs();
  a.rnn_masked = masked != 0;
  a.rnn_zero_masked_output = masked == 2;
  a.rnn_cell = cell;
  a.rnn_units = (int)units;
  a.rnn_act = act_of(act);
  if (cell != IR_RNN_SIMPLE) a.rnn_gate_act = act_of(gate_act);
  a.rnn_go_backwards = backwards;
  a.rnn_return_sequences = sequences;
  a.rnn_reverse_output = reverse && sequences;
  run_case_outputs(&c, "Recurrent", IR_OP_RECURRENT, &a, n_outputs);
}

static void recurrent_case(ir_rnn_cell cell, int64_t batch, int64_t steps, int64_t features,
                           int64_t units, int backwards, int sequences, int reverse, int states,
                           ir_act_kind act, ir_act_kind gate_act) {
  recurrent_outputs_case(cell, batch, steps, features, units, backwards, sequences, reverse, states,
                         act, gate_act, 1, 0);
}

static void test_recurrent(void) {
  const ir_rnn_cell cells[] = {IR_RNN_SIMPLE, IR_RNN_LSTM, IR_RNN_GRU, IR_RNN_GRU_RESET_AFTER};
  for (int k = 0; k < 4; k++) {
    ir_rnn_cell cell = cells[k];
    int states = cell == IR_RNN_LSTM ? 2 : 1;
    recurrent_case(cell, 3, 61, 5, 7, 0, 0, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID);
    recurrent_case(cell, 2, 53, 9, 33, 0, 1, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID);
    recurrent_case(cell, 2, 50, 4, 16, 1, 1, 0, states, IR_ACT_TANH, IR_ACT_HARD_SIGMOID);
    recurrent_case(cell, 4, 20, 3, 300, 1, 1, 1, 0, IR_ACT_TANH, IR_ACT_SIGMOID);
    recurrent_case(cell, 1, 12, 6, 5, 1, 0, 0, states, IR_ACT_SOFTSIGN, IR_ACT_TANH);
    recurrent_case(cell, 2, 1, 1, 1, 0, 1, 0, 0, IR_ACT_NONE, IR_ACT_SIGMOID);
  }
  recurrent_case(IR_RNN_SIMPLE, 3, 40, 8, 10, 0, 1, 0, 1, IR_ACT_RELU, IR_ACT_NONE);
  recurrent_case(IR_RNN_LSTM, 70, 30, 16, 64, 0, 0, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID);
  /* Keras return_state: the final h (and LSTM c) as outputs 1 (and 2), with and without the
   * sequence, backwards, from initial states, more units than threads; an LSTM with h_T
   * only */
  for (int k = 0; k < 4; k++) {
    ir_rnn_cell cell = cells[k];
    int states = cell == IR_RNN_LSTM ? 2 : 1, outs = 1 + states;
    recurrent_outputs_case(cell, 3, 57, 5, 9, 0, 1, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID, outs, 0);
    recurrent_outputs_case(cell, 2, 20, 4, 11, 1, 0, 0, states, IR_ACT_TANH, IR_ACT_SIGMOID, outs,
                           0);
    recurrent_outputs_case(cell, 2, 8, 3, 300, 1, 1, 1, states, IR_ACT_TANH, IR_ACT_SIGMOID, outs,
                           0);
    recurrent_outputs_case(cell, 2, 6, 3, 4, 0, 1, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID, 2, 0);
  }
  /* masks (Keras Masking, Embedding mask_zero): masked steps keep the state and repeat the
   * previous output or give zeros; with initial states, backwards, reversed, every output */
  for (int k = 0; k < 4; k++) {
    ir_rnn_cell cell = cells[k];
    int states = cell == IR_RNN_LSTM ? 2 : 1, outs = 1 + states;
    recurrent_outputs_case(cell, 3, 55, 5, 9, 0, 1, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID, outs, 1);
    recurrent_outputs_case(cell, 3, 52, 4, 7, 1, 1, 1, states, IR_ACT_TANH, IR_ACT_SIGMOID, outs,
                           2);
    recurrent_outputs_case(cell, 2, 30, 3, 260, 0, 0, 0, states, IR_ACT_TANH, IR_ACT_SIGMOID, 1, 2);
    recurrent_outputs_case(cell, 2, 30, 3, 5, 1, 0, 0, 0, IR_ACT_TANH, IR_ACT_SIGMOID, outs, 1);
  }
}

int main(void) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    printf("test_cuda_ops: no CUDA device, skipped\n");
    return 77;
  }
  struct cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) printf("device: %s\n", prop.name);
  if (!CUDA_OK(cudaStreamCreate(&stream)) ||
      !CUDA_OK(cudaMalloc((void **)&error_flag, sizeof(int))))
    return 1;

  test_activation();
  test_binary();
  test_prelu();
  test_pool();
  test_reduce();
  test_batchnorm();
  test_layernorm();
  test_softmax();
  test_concat();
  test_reshape_identity();
  test_transpose();
  test_pad_slice();
  test_resize();
  test_gather();
  test_matmul();
  test_epilogue();
  test_depthwise();
  test_batchnorm_act(); /* after the others: the random cases above keep their shapes */
  test_recurrent();
  CHECK(cuda_launcher_for(IR_OP_POOL) == cuda_launch_pool);
  CHECK(cuda_launcher_for(IR_OP_CONV) == cuda_launch_conv);

  printf("\n%-19s %-4s %3s %3s %-8s %-8s %-4s %s\n", "op", "type", "n", "bad", "max err",
         "norm err", "", "worst case (shapes)");
  for (int i = 0; i < n_summaries; i++) {
    const summary *s = &summaries[i];
    printf("%-19s %-4s %3d %3d %-8.2g %-8.2g %-4s %.44s\n", s->op,
           s->dtype == KRT_FLOAT16 ? "f16" : "f32", s->cases, s->failed, s->max_err, s->norm_err,
           s->failed ? "FAIL" : "pass", s->worst);
  }
  cudaFree(error_flag);
  cudaStreamDestroy(stream);
  printf("criteria: FP32 |d| <= %g + %g|ref| per element; FP16 ||d||/||ref|| <= %g per case\n",
         FP32_ATOL, FP32_RTOL, FP16_TOLERANCE);
  return test_summary("test_cuda_ops");
}
