/* CPU reference kernels: every op on small cases whose answers are worked out by hand or by a
 * naive formula written here independently of the kernel (an explicitly padded direct
 * convolution, a scatter-form transposed convolution, ...), plus the backend vtable on a small
 * planned graph. */
#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/status.h"
#include "test.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static cpu_tensor tensor(float *data, int rank, const int64_t *dims) {
  cpu_tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = KRT_FLOAT32;
  t.rank = rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

static ir_node make_node(ir_op op, const char *name) {
  ir_node n;
  memset(&n, 0, sizeof n);
  n.op = op;
  n.name = (char *)name;
  n.layer = -1;
  n.attrs.act = ir_act_none();
  return n;
}

/* |got - want| <= atol + rtol * |want| for every element; reports the first mismatch. */
static void check_close(const char *what, const float *got, const double *want, int64_t n,
                        double rtol, double atol) {
  test_checks++;
  for (int64_t i = 0; i < n; i++) {
    double diff = fabs((double)got[i] - want[i]);
    if (!(diff <= atol + rtol * fabs(want[i]))) {
      test_failures++;
      fprintf(stderr, "%s: element %lld is %.9g, expected %.9g\n", what, (long long)i, got[i],
              want[i]);
      return;
    }
  }
}

static void check_close_f(const char *what, const float *got, const float *want, int64_t n) {
  double *w = malloc((size_t)n * sizeof *w);
  if (!w) return;
  for (int64_t i = 0; i < n; i++) w[i] = want[i];
  check_close(what, got, w, n, 1e-5, 1e-6);
  free(w);
}

static uint32_t rng_state = 12345u;
static float random_value(void) { /* uniform in [-1, 1) */
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)((rng_state >> 8) / 8388608.0 - 1.0);
}
static float *random_array(int64_t n) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  if (p)
    for (int64_t i = 0; i < n; i++) p[i] = random_value();
  return p;
}

/* ---- Dense ---------------------------------------------------------------------------------- */

static void test_dense(void) {
  ir_node n = make_node(IR_OP_DENSE, "fc");
  float x[] = {1, 2, 3, -1, 0, 1}; /* [2, 3] */
  float w[] = {1, 0, 0, 1, 1, -1}; /* [3, 2] */
  float b[] = {0.5f, -0.5f};
  float y[4];
  cpu_tensor in[3] = {tensor(x, 2, DIMS(2, 3)), tensor(w, 2, DIMS(3, 2)), tensor(b, 1, DIMS(2))};
  cpu_tensor out = tensor(y, 2, DIMS(2, 2));
  CHECK_OK(cpu_kernel_dense(&n, in, 3, &out));
  /* row 0: [1+3, 2-3] + b = [4.5, -1.5]; row 1: [-1+1, 0-1] + b = [0.5, -1.5] */
  check_close_f("dense", y, (const float[]){4.5f, -1.5f, 0.5f, -1.5f}, 4);
  n.attrs.act.kind = IR_ACT_RELU;
  CHECK_OK(cpu_kernel_dense(&n, in, 3, &out));
  check_close_f("dense relu", y, (const float[]){4.5f, 0, 0.5f, 0}, 4);
  /* Wrong weight shape: an internal error naming the node, not a read out of bounds. */
  in[1] = tensor(w, 2, DIMS(2, 3));
  CHECK_ERR(cpu_kernel_dense(&n, in, 3, &out), KRT_ERR_INTERNAL, "node 'fc' (Dense)");
}

/* ---- Conv ----------------------------------------------------------------------------------- */

typedef struct conv_case {
  int spatial;
  int64_t in[3]; /* spatial sizes (first `spatial` used) */
  int64_t ci, co, groups;
  int kernel[3], stride[3], dilation[3];
  int64_t pb[3], pe[3];
} conv_case;

/* Direct definition: copy x into an explicitly zero-padded buffer, then every output is a plain
 * sum over the window. Output channel co belongs to group co / (Co/G) and reads that group's
 * input channels. Spatial axes beyond `spatial` are size 1. */
static void conv_naive(const conv_case *c, int64_t batch, const float *x, const float *w,
                       const float *b, float *y, int64_t out[3]) {
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0}, padded[3];
  for (int i = 0; i < c->spatial; i++) {
    in[i] = c->in[i], k[i] = c->kernel[i], s[i] = c->stride[i], d[i] = c->dilation[i];
    pb[i] = c->pb[i], pe[i] = c->pe[i];
  }
  for (int i = 0; i < 3; i++) {
    padded[i] = in[i] + pb[i] + pe[i];
    out[i] = (padded[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
  }
  int64_t ci = c->ci, co = c->co, cig = ci / c->groups, cog = co / c->groups;
  float *xp = calloc((size_t)(batch * padded[0] * padded[1] * padded[2] * ci), sizeof *xp);
  if (!xp) return;
  for (int64_t n = 0; n < batch; n++)
    for (int64_t a = 0; a < in[0]; a++)
      for (int64_t bb = 0; bb < in[1]; bb++)
        for (int64_t e = 0; e < in[2]; e++)
          for (int64_t ch = 0; ch < ci; ch++)
            xp[(((n * padded[0] + a + pb[0]) * padded[1] + bb + pb[1]) * padded[2] + e + pb[2]) *
                   ci +
               ch] = x[(((n * in[0] + a) * in[1] + bb) * in[2] + e) * ci + ch];
  float *yp = y;
  for (int64_t n = 0; n < batch; n++)
    for (int64_t o0 = 0; o0 < out[0]; o0++)
      for (int64_t o1 = 0; o1 < out[1]; o1++)
        for (int64_t o2 = 0; o2 < out[2]; o2++)
          for (int64_t oc = 0; oc < co; oc++) {
            int64_t g = oc / cog;
            double sum = b ? b[oc] : 0;
            for (int64_t t0 = 0; t0 < k[0]; t0++)
              for (int64_t t1 = 0; t1 < k[1]; t1++)
                for (int64_t t2 = 0; t2 < k[2]; t2++)
                  for (int64_t cl = 0; cl < cig; cl++) {
                    int64_t p0 = o0 * s[0] + t0 * d[0], p1 = o1 * s[1] + t1 * d[1],
                            p2 = o2 * s[2] + t2 * d[2];
                    float xv = xp[(((n * padded[0] + p0) * padded[1] + p1) * padded[2] + p2) * ci +
                                  g * cig + cl];
                    float wv = w[(((t0 * k[1] + t1) * k[2] + t2) * cig + cl) * co + oc];
                    sum += (double)xv * wv;
                  }
            *yp++ = (float)sum;
          }
  free(xp);
}

static void run_conv_case(const char *what, const conv_case *c) {
  const int64_t batch = 2;
  int sp = c->spatial;
  ir_node n = make_node(IR_OP_CONV, what);
  n.attrs.spatial = sp;
  n.attrs.groups = (int)c->groups;
  int64_t x_dims[5], w_dims[5], y_dims[5], x_count = batch * c->ci,
                                           w_count = c->ci / c->groups * c->co;
  x_dims[0] = batch;
  for (int i = 0; i < sp; i++) {
    n.attrs.kernel[i] = c->kernel[i];
    n.attrs.stride[i] = c->stride[i];
    n.attrs.dilation[i] = c->dilation[i];
    n.attrs.pad_begin[i] = c->pb[i];
    n.attrs.pad_end[i] = c->pe[i];
    x_dims[1 + i] = c->in[i];
    w_dims[i] = c->kernel[i];
    x_count *= c->in[i];
    w_count *= c->kernel[i];
  }
  x_dims[sp + 1] = c->ci;
  w_dims[sp] = c->ci / c->groups;
  w_dims[sp + 1] = c->co;
  float *x = random_array(x_count), *w = random_array(w_count), *b = random_array(c->co);
  int64_t out[3];
  float *want = malloc(4096 * sizeof *want), *y = malloc(4096 * sizeof *y);
  if (!x || !w || !b || !want || !y) {
    CHECK(!"out of memory");
  } else {
    conv_naive(c, batch, x, w, b, want, out);
    y_dims[0] = batch;
    int64_t y_count = batch * c->co;
    for (int i = 0; i < sp; i++) {
      y_dims[1 + i] = out[i]; /* the naive form keeps the spatial axes first */
      y_count *= out[i];
    }
    y_dims[sp + 1] = c->co;
    CHECK(y_count <= 4096);
    cpu_tensor in[3] = {tensor(x, sp + 2, x_dims), tensor(w, sp + 2, w_dims), tensor(b, 1, &c->co)};
    cpu_tensor yt = tensor(y, sp + 2, y_dims);
    CHECK_OK(cpu_kernel_conv(&n, in, 3, &yt));
    double *wd = malloc((size_t)y_count * sizeof *wd);
    if (wd) {
      for (int64_t i = 0; i < y_count; i++) wd[i] = want[i];
      check_close(what, y, wd, y_count, 1e-5, 1e-5);
      free(wd);
    }
  }
  free(x), free(w), free(b), free(want), free(y);
}

static void test_conv(void) {
  /* By hand: 3x3 input 1..9, 2x2 kernel of ones, valid, stride 1 -> window sums. */
  ir_node n = make_node(IR_OP_CONV, "c");
  n.attrs.spatial = 2;
  n.attrs.groups = 1;
  n.attrs.kernel[0] = n.attrs.kernel[1] = 2;
  n.attrs.stride[0] = n.attrs.stride[1] = 1;
  n.attrs.dilation[0] = n.attrs.dilation[1] = 1;
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, y[4];
  cpu_tensor in[2] = {tensor(x, 4, DIMS(1, 3, 3, 1)), tensor(w, 4, DIMS(2, 2, 1, 1))};
  cpu_tensor yt = tensor(y, 4, DIMS(1, 2, 2, 1));
  CHECK_OK(cpu_kernel_conv(&n, in, 2, &yt));
  check_close_f("conv by hand", y, (const float[]){12, 16, 24, 28}, 4);
  /* Stride 2, 'same' on 3x3: total pad (2-1)*2 + 2 - 3 = 1 -> pb 0, pe 1: windows at 0 and 2,
   * the second one half in the padding. */
  n.attrs.stride[0] = n.attrs.stride[1] = 2;
  n.attrs.pad_end[0] = n.attrs.pad_end[1] = 1;
  CHECK_OK(cpu_kernel_conv(&n, in, 2, &yt));
  check_close_f("conv same stride 2 by hand", y, (const float[]){12, 9, 15, 9}, 4);
  /* Output dims that disagree with the attributes: internal error. */
  yt = tensor(y, 4, DIMS(1, 1, 2, 1));
  CHECK_ERR(cpu_kernel_conv(&n, in, 2, &yt), KRT_ERR_INTERNAL, "node 'c' (Conv)");

  /* Against the naive definition. TF 'same' with stride 2 on 7x6, k=3: out 4x3, total pads
   * 2 and 1 -> asymmetric (pb 1/0, pe 1/1). */
  conv_case same = {2, {7, 6}, 3, 4, 1, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {1, 1}};
  run_conv_case("conv stride 2 same", &same);
  conv_case dilated = {2, {7, 7}, 2, 3, 1, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}};
  run_conv_case("conv dilation 2", &dilated);
  conv_case grouped = {2, {5, 4}, 4, 6, 2, {3, 2}, {1, 1}, {1, 1}, {1, 0}, {1, 1}};
  run_conv_case("conv groups 2", &grouped);
  conv_case depthwise = {2, {5, 5}, 3, 6, 3, {3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}};
  run_conv_case("depthwise multiplier 2", &depthwise);
  conv_case conv1d = {1, {9}, 3, 2, 1, {4}, {3}, {1}, {2}, {1}};
  run_conv_case("conv 1d", &conv1d);
  conv_case conv3d = {3, {4, 3, 5}, 2, 3, 1, {2, 2, 3}, {1, 2, 2}, {1, 1, 1}, {0, 1, 1}, {1, 0, 1}};
  run_conv_case("conv 3d", &conv3d);
}

/* ---- ConvTranspose -------------------------------------------------------------------------- */

/* Scatter form straight from ops.def: every input position i and tap t adds x[i] * W[t] at full
 * position i*stride + t*dil, which lands at output o = that - pb (dropped when outside). 2D. */
static void conv_transpose_naive(int64_t batch, const int64_t in[2], int64_t ci, int64_t co,
                                 const int k[2], const int s[2], const int d[2],
                                 const int64_t pb[2], const int64_t out[2], const float *x,
                                 const float *w, const float *b, float *y) {
  for (int64_t n = 0; n < batch; n++)
    for (int64_t p = 0; p < out[0] * out[1]; p++)
      for (int64_t c = 0; c < co; c++) y[(n * out[0] * out[1] + p) * co + c] = b[c];
  for (int64_t n = 0; n < batch; n++)
    for (int64_t i0 = 0; i0 < in[0]; i0++)
      for (int64_t i1 = 0; i1 < in[1]; i1++)
        for (int64_t t0 = 0; t0 < k[0]; t0++)
          for (int64_t t1 = 0; t1 < k[1]; t1++) {
            int64_t o0 = i0 * s[0] + t0 * d[0] - pb[0], o1 = i1 * s[1] + t1 * d[1] - pb[1];
            if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1]) continue;
            for (int64_t c = 0; c < co; c++)
              for (int64_t cin = 0; cin < ci; cin++)
                y[((n * out[0] + o0) * out[1] + o1) * co + c] +=
                    x[((n * in[0] + i0) * in[1] + i1) * ci + cin] *
                    w[((t0 * k[1] + t1) * co + c) * ci + cin];
          }
}

static void test_conv_transpose(void) {
  /* By hand, 1D: x = [1, 2], W = [1, 10, 100], stride 2: full = [1, 10, 102, 20, 200] (length
   * 5). pb = 1, pe = -1 drops the first and appends one zero: [10, 102, 20, 200, 0] + bias 0.5. */
  ir_node n = make_node(IR_OP_CONV_TRANSPOSE, "up");
  n.attrs.spatial = 1;
  n.attrs.kernel[0] = 3;
  n.attrs.stride[0] = 2;
  n.attrs.dilation[0] = 1;
  n.attrs.pad_begin[0] = 1;
  n.attrs.pad_end[0] = -1;
  float x[2] = {1, 2}, w[3] = {1, 10, 100}, b[1] = {0.5f}, y[5];
  cpu_tensor in[3] = {tensor(x, 3, DIMS(1, 2, 1)), tensor(w, 3, DIMS(3, 1, 1)),
                      tensor(b, 1, DIMS(1))};
  cpu_tensor yt = tensor(y, 3, DIMS(1, 5, 1));
  CHECK_OK(cpu_kernel_conv_transpose(&n, in, 3, &yt));
  check_close_f("conv transpose by hand", y, (const float[]){10.5f, 102.5f, 20.5f, 200.5f, 0.5f},
                5);

  /* 2D against the scatter form: stride 2 with Keras 'same'-like pads, then dilation 2 with a
   * negative pad_end on one axis. */
  struct {
    int k[2], s[2], d[2];
    int64_t pb[2], pe[2];
  } cases[] = {{{3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 0}}, {{2, 3}, {2, 1}, {1, 2}, {0, 1}, {-1, 2}}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const int64_t batch = 2, in_sp[2] = {3, 4}, ci = 3, co = 2;
    int64_t out[2];
    ir_node t = make_node(IR_OP_CONV_TRANSPOSE, "upsample");
    t.attrs.spatial = 2;
    for (int i = 0; i < 2; i++) {
      t.attrs.kernel[i] = cases[c].k[i];
      t.attrs.stride[i] = cases[c].s[i];
      t.attrs.dilation[i] = cases[c].d[i];
      t.attrs.pad_begin[i] = cases[c].pb[i];
      t.attrs.pad_end[i] = cases[c].pe[i];
      out[i] = (in_sp[i] - 1) * cases[c].s[i] + cases[c].d[i] * (cases[c].k[i] - 1) + 1 -
               cases[c].pb[i] - cases[c].pe[i];
    }
    int64_t y_count = batch * out[0] * out[1] * co;
    float *xs = random_array(batch * 12 * ci),
          *ws = random_array(cases[c].k[0] * cases[c].k[1] * ci * co);
    float *bs = random_array(co), *ys = malloc((size_t)y_count * sizeof *ys);
    float *want = malloc((size_t)y_count * sizeof *want);
    if (xs && ws && bs && ys && want) {
      conv_transpose_naive(batch, in_sp, ci, co, cases[c].k, cases[c].s, cases[c].d, cases[c].pb,
                           out, xs, ws, bs, want);
      cpu_tensor tin[3] = {tensor(xs, 4, DIMS(batch, 3, 4, ci)),
                           tensor(ws, 4, DIMS(cases[c].k[0], cases[c].k[1], co, ci)),
                           tensor(bs, 1, DIMS(co))};
      cpu_tensor ty = tensor(ys, 4, DIMS(batch, out[0], out[1], co));
      CHECK_OK(cpu_kernel_conv_transpose(&t, tin, 3, &ty));
      check_close_f("conv transpose 2d", ys, want, y_count);
    } else {
      CHECK(!"out of memory");
    }
    free(xs), free(ws), free(bs), free(ys), free(want);
  }
}

/* 3-D ConvTranspose against the scatter form of ops.def (Conv3DTranspose): x[N, 2, 3, 2, Ci],
 * strides 2x1x3, dilation 1x2x1, pad_begin 1/0/0 and pad_end 0/1/-2 (the last axis two longer
 * than its full length, so its tail is bias only). */
static void test_conv_transpose_3d(void) {
  const int64_t batch = 2, in[3] = {2, 3, 2}, ci = 3, co = 2;
  const int k[3] = {3, 2, 2}, s[3] = {2, 1, 3}, d[3] = {1, 2, 1};
  const int64_t pb[3] = {1, 0, 0}, pe[3] = {0, 1, -2};
  int64_t out[3];
  ir_node t = make_node(IR_OP_CONV_TRANSPOSE, "up3d");
  t.attrs.spatial = 3;
  for (int i = 0; i < 3; i++) {
    t.attrs.kernel[i] = k[i], t.attrs.stride[i] = s[i], t.attrs.dilation[i] = d[i];
    t.attrs.pad_begin[i] = pb[i], t.attrs.pad_end[i] = pe[i];
    out[i] = (in[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - pb[i] - pe[i];
  }
  int64_t x_count = batch * in[0] * in[1] * in[2] * ci, w_count = k[0] * k[1] * k[2] * co * ci;
  int64_t y_count = batch * out[0] * out[1] * out[2] * co;
  float *x = random_array(x_count), *w = random_array(w_count), *b = random_array(co);
  float *y = malloc((size_t)y_count * sizeof *y), *want = malloc((size_t)y_count * sizeof *want);
  if (!x || !w || !b || !y || !want) {
    CHECK(!"out of memory");
  } else {
    for (int64_t e = 0; e < y_count; e++) want[e] = b[e % co];
    for (int64_t n = 0; n < batch; n++)
      for (int64_t i0 = 0; i0 < in[0]; i0++)
        for (int64_t i1 = 0; i1 < in[1]; i1++)
          for (int64_t i2 = 0; i2 < in[2]; i2++)
            for (int64_t t0 = 0; t0 < k[0]; t0++)
              for (int64_t t1 = 0; t1 < k[1]; t1++)
                for (int64_t t2 = 0; t2 < k[2]; t2++) {
                  int64_t o0 = i0 * s[0] + t0 * d[0] - pb[0], o1 = i1 * s[1] + t1 * d[1] - pb[1],
                          o2 = i2 * s[2] + t2 * d[2] - pb[2];
                  if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1] || o2 < 0 || o2 >= out[2])
                    continue;
                  for (int64_t c = 0; c < co; c++)
                    for (int64_t cin = 0; cin < ci; cin++)
                      want[(((n * out[0] + o0) * out[1] + o1) * out[2] + o2) * co + c] +=
                          x[(((n * in[0] + i0) * in[1] + i1) * in[2] + i2) * ci + cin] *
                          w[(((t0 * k[1] + t1) * k[2] + t2) * co + c) * ci + cin];
                }
    cpu_tensor tin[3] = {tensor(x, 5, DIMS(batch, in[0], in[1], in[2], ci)),
                         tensor(w, 5, DIMS(k[0], k[1], k[2], co, ci)), tensor(b, 1, DIMS(co))};
    cpu_tensor ty = tensor(y, 5, DIMS(batch, out[0], out[1], out[2], co));
    CHECK_OK(cpu_kernel_conv_transpose(&t, tin, 3, &ty));
    check_close_f("conv transpose 3d", y, want, y_count);
  }
  free(x), free(w), free(b), free(y), free(want);
}

/* 3-D pools by hand: x[1, 3, 3, 3, 1] = 1..27, kernel 2, stride 2, 'same' (pb 0, pe 1 per axis):
 * windows along each axis {0, 1} and {2}, so the 8 outputs average 8, 4, 4, 2, 4, 2, 2 and 1
 * in-bounds taps. */
static void test_pool_3d(void) {
  float x[27], y[8], neg[27];
  for (int i = 0; i < 27; i++) x[i] = (float)(i + 1), neg[i] = -x[i];
  ir_node n = make_node(IR_OP_POOL, "pool3d");
  n.attrs.spatial = 3;
  for (int i = 0; i < 3; i++) n.attrs.kernel[i] = n.attrs.stride[i] = 2, n.attrs.pad_end[i] = 1;
  cpu_tensor in = tensor(x, 5, DIMS(1, 3, 3, 3, 1)), yt = tensor(y, 5, DIMS(1, 2, 2, 2, 1));
  n.attrs.pool = IR_POOL_AVG;
  CHECK_OK(cpu_kernel_pool(&n, &in, 1, &yt));
  /* index (a, b, c) = 9a + 3b + c + 1; window means along each axis: {0, 1} -> 0.5, {2} -> 2 */
  float want[8];
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < 2; c++)
        want[(a * 2 + b) * 2 + c] =
            9 * (a ? 2.0f : 0.5f) + 3 * (b ? 2.0f : 0.5f) + (c ? 2.0f : 0.5f) + 1;
  check_close_f("avg pool 3d same", y, want, 8);
  n.attrs.pool = IR_POOL_MAX;
  in.data = neg; /* the padding must not win as a 0: the max is each window's first tap */
  CHECK_OK(cpu_kernel_pool(&n, &in, 1, &yt));
  check_close_f("max pool 3d same", y, (const float[]){-1, -3, -7, -9, -19, -21, -25, -27}, 8);
}

/* ---- Pool and Reduce ------------------------------------------------------------------------ */

static void test_pool(void) {
  /* 3x3 input 1..9, k=2, s=2, 'same': pb 0, pe 1. Windows {1,2,4,5} {3,6} {7,8} {9}. */
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
  ir_node n = make_node(IR_OP_POOL, "pool");
  n.attrs.spatial = 2;
  n.attrs.kernel[0] = n.attrs.kernel[1] = 2;
  n.attrs.stride[0] = n.attrs.stride[1] = 2;
  n.attrs.pad_end[0] = n.attrs.pad_end[1] = 1;
  cpu_tensor in = tensor(x, 4, DIMS(1, 3, 3, 1)), yt = tensor(y, 4, DIMS(1, 2, 2, 1));
  n.attrs.pool = IR_POOL_AVG; /* divides by the in-bounds taps only */
  CHECK_OK(cpu_kernel_pool(&n, &in, 1, &yt));
  check_close_f("avg pool same", y, (const float[]){3, 4.5f, 7.5f, 9}, 4);
  n.attrs.pool = IR_POOL_MAX;
  float neg[9];
  for (int i = 0; i < 9; i++) neg[i] = -x[i]; /* padding must not win as a 0 */
  in.data = neg;
  CHECK_OK(cpu_kernel_pool(&n, &in, 1, &yt));
  check_close_f("max pool same", y, (const float[]){-1, -3, -7, -9}, 4);
  /* 1D valid, 2 channels, stride 1, k 3. */
  float x1[8] = {1, -1, 5, 2, 3, 0, 4, 7}, y1[4];
  ir_node p = make_node(IR_OP_POOL, "p1");
  p.attrs.spatial = 1;
  p.attrs.kernel[0] = 3;
  p.attrs.stride[0] = 1;
  p.attrs.pool = IR_POOL_MAX;
  cpu_tensor in1 = tensor(x1, 3, DIMS(1, 4, 2)), y1t = tensor(y1, 3, DIMS(1, 2, 2));
  CHECK_OK(cpu_kernel_pool(&p, &in1, 1, &y1t));
  check_close_f("max pool 1d", y1, (const float[]){5, 2, 5, 7}, 4);
}

static void test_reduce(void) {
  float x[24];
  for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 11); /* [2, 3, 4] */
  cpu_tensor in = tensor(x, 3, DIMS(2, 3, 4));
  ir_node n = make_node(IR_OP_REDUCE, "r");
  /* mean over axis 1, keepdims -> [2, 1, 4] */
  n.attrs.reduce = IR_REDUCE_MEAN;
  n.attrs.n_axes = 1;
  n.attrs.axes[0] = 1;
  n.attrs.keepdims = 1;
  float y[8];
  double want[8];
  cpu_tensor yt = tensor(y, 3, DIMS(2, 1, 4));
  CHECK_OK(cpu_kernel_reduce(&n, &in, 1, &yt));
  for (int a = 0; a < 2; a++)
    for (int c = 0; c < 4; c++)
      want[a * 4 + c] = (x[a * 12 + c] + x[a * 12 + 4 + c] + x[a * 12 + 8 + c]) / 3.0;
  check_close("reduce mean keepdims", y, want, 8, 1e-6, 1e-6);
  /* max over axes {0, 2}, keepdims -> [1, 3, 1] */
  n.attrs.reduce = IR_REDUCE_MAX;
  n.attrs.n_axes = 2;
  n.attrs.axes[0] = 0;
  n.attrs.axes[1] = 2;
  yt = tensor(y, 3, DIMS(1, 3, 1));
  CHECK_OK(cpu_kernel_reduce(&n, &in, 1, &yt));
  for (int b = 0; b < 3; b++) {
    want[b] = -1;
    /* A comparison, not fmax(): Debian 12's aarch64-linux-gnu-gcc 12.2 crashes (internal compiler
     * error in vect_transform_reduction) vectorising this fmax reduction at -O2. */
    for (int a = 0; a < 2; a++)
      for (int c = 0; c < 4; c++)
        if (x[a * 12 + b * 4 + c] > want[b]) want[b] = x[a * 12 + b * 4 + c];
  }
  check_close("reduce max keepdims", y, want, 3, 0, 0);
  /* sum over axes {1, 2}, no keepdims -> [2] */
  n.attrs.reduce = IR_REDUCE_SUM;
  n.attrs.axes[0] = 1;
  n.attrs.axes[1] = 2;
  n.attrs.keepdims = 0;
  yt = tensor(y, 1, DIMS(2));
  CHECK_OK(cpu_kernel_reduce(&n, &in, 1, &yt));
  for (int a = 0; a < 2; a++) {
    want[a] = 0;
    for (int i = 0; i < 12; i++) want[a] += x[a * 12 + i];
  }
  check_close("reduce sum", y, want, 2, 0, 0);
  yt = tensor(y, 1, DIMS(3));
  CHECK_ERR(cpu_kernel_reduce(&n, &in, 1, &yt), KRT_ERR_INTERNAL, "node 'r' (Reduce)");
}

/* ---- Normalisations ------------------------------------------------------------------------- */

static void test_batchnorm(void) {
  float gamma[3] = {1, 2, 0.5f}, beta[3] = {0, 1, -1}, mean[3] = {1, 0, 2}, var[3] = {3, 0.25f, 8};
  ir_node n = make_node(IR_OP_BATCHNORM, "bn");
  n.attrs.epsilon = 1.0f;
  /* axis 1 of [2, 3, 2]: channel = (i / 2) % 3 */
  float x[12], y[12];
  double want[12];
  for (int i = 0; i < 12; i++) {
    x[i] = (float)i - 4;
    int c = (i / 2) % 3;
    want[i] = (x[i] - mean[c]) / sqrt(var[c] + 1.0) * gamma[c] + beta[c];
  }
  n.attrs.axis = 1;
  cpu_tensor in[5] = {tensor(x, 3, DIMS(2, 3, 2)), tensor(gamma, 1, DIMS(3)),
                      tensor(beta, 1, DIMS(3)), tensor(mean, 1, DIMS(3)), tensor(var, 1, DIMS(3))};
  cpu_tensor yt = tensor(y, 3, DIMS(2, 3, 2));
  CHECK_OK(cpu_kernel_batchnorm(&n, in, 5, &yt));
  check_close("batchnorm axis 1", y, want, 12, 1e-6, 1e-6);
  /* last axis of [4, 3]: channel = i % 3. Channel 0 by hand at x=-4: (-4-1)/2*1+0 = -2.5 */
  for (int i = 0; i < 12; i++) {
    int c = i % 3;
    want[i] = (x[i] - mean[c]) / sqrt(var[c] + 1.0) * gamma[c] + beta[c];
  }
  CHECK_NEAR(want[0], -2.5, 1e-12);
  n.attrs.axis = 1;
  in[0] = tensor(x, 2, DIMS(4, 3));
  yt = tensor(y, 2, DIMS(4, 3));
  CHECK_OK(cpu_kernel_batchnorm(&n, in, 5, &yt));
  check_close("batchnorm last axis", y, want, 12, 1e-6, 1e-6);
}

static void test_layernorm(void) {
  /* [2, 2, 3] normalised over axes {1, 2} (6 values per sample), gamma/beta [6] row-major. */
  float x[12] = {1, 2, 3, 4, 5, 6, -2, 0, 2, 4, 8, 0}, gamma[6] = {1, 2, 3, 1, 1, 0.5f},
        beta[6] = {0, 0, 1, -1, 0, 0}, y[12];
  double want[12];
  ir_node n = make_node(IR_OP_LAYERNORM, "ln");
  n.attrs.n_axes = 2;
  n.attrs.axes[0] = 1;
  n.attrs.axes[1] = 2;
  n.attrs.epsilon = 1e-3f;
  cpu_tensor in[3] = {tensor(x, 3, DIMS(2, 2, 3)), tensor(gamma, 1, DIMS(6)),
                      tensor(beta, 1, DIMS(6))};
  cpu_tensor yt = tensor(y, 3, DIMS(2, 2, 3));
  for (int rms = 0; rms <= 1; rms++) {
    n.attrs.rms_scaling = rms;
    for (int s = 0; s < 2; s++) {
      double mean = 0, var = 0;
      for (int j = 0; j < 6; j++) mean += x[s * 6 + j] / 6.0;
      for (int j = 0; j < 6; j++) var += (x[s * 6 + j] - mean) * (x[s * 6 + j] - mean) / 6.0;
      for (int j = 0; j < 6; j++) {
        double v = x[s * 6 + j];
        /* rms_scaling: x / sqrt(var + eps) * gamma, no centring, no beta (Keras 3) */
        want[s * 6 + j] = rms ? v / sqrt(var + 1e-3) * gamma[j]
                              : (v - mean) / sqrt(var + 1e-3) * gamma[j] + beta[j];
      }
    }
    CHECK_OK(cpu_kernel_layernorm(&n, in, 3, &yt));
    check_close(rms ? "layernorm rms_scaling" : "layernorm 2 axes", y, want, 12, 1e-5, 1e-6);
  }
  /* sample 0 by hand: mean 3.5, var 35/12; x=1 -> -2.5/sqrt(35/12 + 0.001) */
  CHECK_NEAR(want[0], 1 / sqrt(35.0 / 12 + 1e-3), 1e-12);
}

static void test_softmax(void) {
  /* [2, 2, 3] over axes {1, 2}: each sample's 6 values jointly. */
  float x[12] = {1, 2, 3, 0, -1, 0.5f, 3, 3, 3, 3, 3, 3}, y[12];
  double want[12];
  for (int s = 0; s < 2; s++) {
    double sum = 0;
    for (int j = 0; j < 6; j++) sum += exp(x[s * 6 + j]);
    for (int j = 0; j < 6; j++) want[s * 6 + j] = exp(x[s * 6 + j]) / sum;
  }
  CHECK_NEAR(want[6], 1.0 / 6, 1e-12);
  ir_node n = make_node(IR_OP_SOFTMAX, "sm");
  n.attrs.n_axes = 2;
  n.attrs.axes[0] = 1;
  n.attrs.axes[1] = 2;
  cpu_tensor in = tensor(x, 3, DIMS(2, 2, 3)), yt = tensor(y, 3, DIMS(2, 2, 3));
  CHECK_OK(cpu_kernel_softmax(&n, &in, 1, &yt));
  check_close("softmax 2 axes", y, want, 12, 1e-6, 1e-7);
  n.op = IR_OP_LOG_SOFTMAX;
  for (int i = 0; i < 12; i++) want[i] = log(want[i]);
  CHECK_OK(cpu_kernel_log_softmax(&n, &in, 1, &yt));
  check_close("log softmax 2 axes", y, want, 12, 1e-6, 1e-6);
  /* Large logits: the max is subtracted, so no overflow. Softmax over axis 0 of [3]. */
  float big[3] = {1000, 1000, -1000}, yb[3];
  n.op = IR_OP_SOFTMAX;
  n.attrs.n_axes = 1;
  n.attrs.axes[0] = 0;
  in = tensor(big, 1, DIMS(3));
  yt = tensor(yb, 1, DIMS(3));
  CHECK_OK(cpu_kernel_softmax(&n, &in, 1, &yt));
  check_close_f("softmax large", yb, (const float[]){0.5f, 0.5f, 0}, 3);
  CHECK_OK(cpu_kernel_log_softmax(&n, &in, 1, &yt));
  check_close_f("log softmax large", yb, (const float[]){-0.69314718f, -0.69314718f, -2000.6931f},
                3);
}

/* ---- Elementwise ---------------------------------------------------------------------------- */

typedef struct act_point {
  ir_act_kind kind;
  float alpha, beta, max_value, threshold;
  float x;
  double want; /* worked out by hand / with Python's math module */
} act_point;

static void test_activations(void) {
  const float inf = INFINITY, k3a = 1.0f / 6.0f; /* Keras 3 hard_sigmoid alpha */
  const act_point points[] = {
      {IR_ACT_NONE, 0, 0, inf, 0, -3.5f, -3.5},
      {IR_ACT_RELU, 0, 0, inf, 0, -2, 0},
      {IR_ACT_RELU, 0, 0, inf, 0, 1e30f, 1e30},
      {IR_ACT_RELU, 0, 0, 6, 0, 7, 6},           /* ReLU6 */
      {IR_ACT_RELU, 0.1f, 0, inf, 0, -2, -0.2},  /* LeakyReLU */
      {IR_ACT_RELU, 0.1f, 0, 6, 1, 0.5f, -0.05}, /* alpha*(x - threshold) */
      {IR_ACT_RELU, 0.1f, 0, 6, 1, 3, 3},
      {IR_ACT_RELU, 0, 0, inf, 1, 1, 0}, /* x == threshold: not above */
      {IR_ACT_SIGMOID, 0, 0, inf, 0, 0, 0.5},
      {IR_ACT_SIGMOID, 0, 0, inf, 0, 1, 0.7310585786300049},
      {IR_ACT_SIGMOID, 0, 0, inf, 0, 100, 1},
      {IR_ACT_SIGMOID, 0, 0, inf, 0, -100, 3.7200759760208356e-44},
      {IR_ACT_SIGMOID, 0, 0, inf, 0, -1000, 0},
      {IR_ACT_HARD_SIGMOID, k3a, 0.5f, inf, 0, 1, 2.0 / 3},
      {IR_ACT_HARD_SIGMOID, 0.2f, 0.5f, inf, 0, 1, 0.7}, /* Keras 2 constants */
      {IR_ACT_HARD_SIGMOID, k3a, 0.5f, inf, 0, 5, 1},
      {IR_ACT_HARD_SIGMOID, k3a, 0.5f, inf, 0, -5, 0},
      {IR_ACT_TANH, 0, 0, inf, 0, 0.5f, 0.46211715726000974},
      {IR_ACT_TANH, 0, 0, inf, 0, -50, -1},
      {IR_ACT_SOFTPLUS, 0, 0, inf, 0, 0, 0.69314718055994531},
      {IR_ACT_SOFTPLUS, 0, 0, inf, 0, 2, 2.1269280110429727},
      {IR_ACT_SOFTPLUS, 0, 0, inf, 0, 100, 100},
      {IR_ACT_SOFTPLUS, 0, 0, inf, 0, 1000, 1000}, /* no overflow */
      {IR_ACT_SOFTPLUS, 0, 0, inf, 0, -100, 3.720075976020836e-44},
      {IR_ACT_SOFTSIGN, 0, 0, inf, 0, 3, 0.75},
      {IR_ACT_SOFTSIGN, 0, 0, inf, 0, -1, -0.5},
      {IR_ACT_ELU, 1, 0, inf, 0, -1, -0.6321205588285577},
      {IR_ACT_ELU, 0.5f, 0, inf, 0, 2, 2},
      {IR_ACT_ELU, 2, 0, inf, 0, -100, -2},
      {IR_ACT_SELU, 0, 0, inf, 0, -1, -1.1113307378125625},
      {IR_ACT_SELU, 0, 0, inf, 0, 2, 2.101401974710961},
      {IR_ACT_SELU, 0, 0, inf, 0, -100, -1.7580993408473766},
      {IR_ACT_GELU, 0, 0, inf, 0, 1, 0.8413447460685429},
      {IR_ACT_GELU, 0, 0, inf, 0, -1, -0.15865525393145707},
      {IR_ACT_GELU, 0, 0, inf, 0, 10, 10},
      {IR_ACT_GELU, 0, 0, inf, 0, -10, -7.619853024160593e-23},
      {IR_ACT_GELU_TANH, 0, 0, inf, 0, 1, 0.8411919906082768},
      {IR_ACT_SWISH, 0, 0, inf, 0, 1, 0.7310585786300049},
      {IR_ACT_SWISH, 0, 0, inf, 0, -100, -3.7200759760208356e-42},
      {IR_ACT_HARD_SWISH, k3a, 0.5f, inf, 0, 1, 2.0 / 3},
      {IR_ACT_HARD_SWISH, k3a, 0.5f, inf, 0, -4, 0},
      {IR_ACT_HARD_SWISH, k3a, 0.5f, inf, 0, 4, 4},
      {IR_ACT_EXPONENTIAL, 0, 0, inf, 0, 1, 2.718281828459045},
      {IR_ACT_EXPONENTIAL, 0, 0, inf, 0, -2, 0.1353352832366127},
      {IR_ACT_MISH, 0, 0, inf, 0, 1, 0.8650983882673103},
      {IR_ACT_MISH, 0, 0, inf, 0, -2, -0.2525014826957089},
      {IR_ACT_MISH, 0, 0, inf, 0, 100, 100},
      {IR_ACT_MISH, 0, 0, inf, 0, -100, -3.7200759760208363e-42},
      {IR_ACT_THRESHOLDED_RELU, 1, 0, inf, 0, 1, 0},
      {IR_ACT_THRESHOLDED_RELU, 1, 0, inf, 0, 1.5f, 1.5},
      /* the math functions (values from Python's math module) */
      {IR_ACT_SIN, 0, 0, inf, 0, 0.5f, 0.479425538604203},
      {IR_ACT_COS, 0, 0, inf, 0, 0.5f, 0.8775825618903728},
      {IR_ACT_TAN, 0, 0, inf, 0, 1, 1.5574077246549023},
      {IR_ACT_ASIN, 0, 0, inf, 0, 0.5f, 0.5235987755982989},
      {IR_ACT_ACOS, 0, 0, inf, 0, 0.5f, 1.0471975511965979},
      {IR_ACT_ATAN, 0, 0, inf, 0, 2, 1.1071487177940904},
      {IR_ACT_SINH, 0, 0, inf, 0, 1, 1.1752011936438014},
      {IR_ACT_COSH, 0, 0, inf, 0, 1, 1.5430806348152437},
      {IR_ACT_ASINH, 0, 0, inf, 0, 1, 0.881373587019543},
      {IR_ACT_ACOSH, 0, 0, inf, 0, 2, 1.3169578969248166},
      {IR_ACT_ATANH, 0, 0, inf, 0, 0.5f, 0.5493061443340548},
      {IR_ACT_LOG1P, 0, 0, inf, 0, 0.5f, 0.4054651081081644},
      {IR_ACT_EXPM1, 0, 0, inf, 0, 0.5f, 0.6487212707001282},
      {IR_ACT_EXPM1, 0, 0, inf, 0, -20, -0.9999999979388464},
      {IR_ACT_ERFC, 0, 0, inf, 0, 1, 0.15729920705028513},
      {IR_ACT_ERFC, 0, 0, inf, 0, 5, 1.5374597944280351e-12}, /* no cancellation */
      /* halves to even, as TensorFlow's Round and ONNX's */
      {IR_ACT_ROUND, 0, 0, inf, 0, 0.5f, 0},
      {IR_ACT_ROUND, 0, 0, inf, 0, 1.5f, 2},
      {IR_ACT_ROUND, 0, 0, inf, 0, 2.5f, 2},
      {IR_ACT_ROUND, 0, 0, inf, 0, -2.5f, -2},
      {IR_ACT_ROUND, 0, 0, inf, 0, -0.6f, -1},
      {IR_ACT_ROUND, 0, 0, inf, 0, 2.5000002f, 3},
      {IR_ACT_ROUND, 0, 0, inf, 0, 8388609.0f, 8388609}, /* 2^23 + 1: already an integer */
      {IR_ACT_FLOOR, 0, 0, inf, 0, -1.5f, -2},
      {IR_ACT_FLOOR, 0, 0, inf, 0, 2.75f, 2},
      {IR_ACT_CEIL, 0, 0, inf, 0, -1.5f, -1},
      {IR_ACT_CEIL, 0, 0, inf, 0, 2.25f, 3},
      {IR_ACT_SIGN, 0, 0, inf, 0, -3, -1},
      {IR_ACT_SIGN, 0, 0, inf, 0, 0, 0},
      {IR_ACT_SIGN, 0, 0, inf, 0, 1e-30f, 1},
  };
  int seen[IR_ACT_LAST + 1] = {0};
  ir_node n = make_node(IR_OP_ACTIVATION, "act");
  for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
    const act_point *p = &points[i];
    seen[p->kind] = 1;
    ir_activation a = {p->kind, p->alpha, p->beta, p->max_value, p->threshold};
    float v = p->x;
    cpu_apply_activation(&a, &v, 1);
    char what[64];
    snprintf(what, sizeof what, "%s(%g)", ir_act_name(p->kind), p->x);
    /* relative 1e-6, and absolute far below any float normal for the tiny tails */
    check_close(what, &v, &p->want, 1, 1e-6, 1e-45);
    /* The Activation node computes the same. */
    n.attrs.act = a;
    float x = p->x, y = 0;
    cpu_tensor in = tensor(&x, 1, DIMS(1)), yt = tensor(&y, 1, DIMS(1));
    CHECK_OK(cpu_kernel_activation(&n, &in, 1, &yt));
    CHECK(y == v || (isnan(y) && isnan(v)));
  }
  for (int k = 0; k < 16; k++) CHECK(seen[k]); /* every activation function has a point */
  for (int k = IR_ACT_SIN; k <= IR_ACT_LAST; k++) CHECK(seen[k]); /* and every math function */
  /* NaN stays NaN through Round and Sign (no 0 or 1 made of it) */
  ir_activation r = ir_act_none();
  float v = NAN;
  r.kind = IR_ACT_ROUND;
  cpu_apply_activation(&r, &v, 1);
  CHECK(isnan(v));
  r.kind = IR_ACT_SIGN;
  cpu_apply_activation(&r, &v, 1);
  CHECK(isnan(v));
  v = -INFINITY;
  r.kind = IR_ACT_ROUND;
  cpu_apply_activation(&r, &v, 1);
  CHECK(v == -INFINITY);
}

static void test_prelu(void) {
  /* x [2, 2, 3], alpha [1, 3] (shared along axis 1), broadcast on the right. */
  float x[12] = {-1, -2, -3, 1, 2, 3, -4, 0, 5, -1, -1, -1}, alpha[3] = {0.1f, 0.2f, 0.3f}, y[12];
  double want[12];
  for (int i = 0; i < 12; i++) want[i] = x[i] >= 0 ? x[i] : alpha[i % 3] * x[i];
  CHECK_NEAR(want[2], -0.9, 1e-6);
  ir_node n = make_node(IR_OP_PRELU, "prelu");
  cpu_tensor in[2] = {tensor(x, 3, DIMS(2, 2, 3)), tensor(alpha, 2, DIMS(1, 3))};
  cpu_tensor yt = tensor(y, 3, DIMS(2, 2, 3));
  CHECK_OK(cpu_kernel_prelu(&n, in, 2, &yt));
  check_close("prelu", y, want, 12, 1e-6, 0);
  in[1] = tensor(alpha, 1, DIMS(2));
  CHECK_ERR(cpu_kernel_prelu(&n, in, 2, &yt), KRT_ERR_INTERNAL, "node 'prelu' (PReLU)");
}

static void test_binary(void) {
  /* [2, 3, 1] op [4] -> [2, 3, 4] */
  float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {10, 20, -30, 0.5f}, y[24];
  double want[24];
  ir_node n = make_node(IR_OP_BINARY, "add");
  cpu_tensor in[2] = {tensor(a, 3, DIMS(2, 3, 1)), tensor(b, 1, DIMS(4))};
  cpu_tensor yt = tensor(y, 3, DIMS(2, 3, 4));
  const ir_binary_kind kinds[] = {IR_BINARY_ADD,     IR_BINARY_SUB,        IR_BINARY_MUL,
                                  IR_BINARY_DIV,     IR_BINARY_MAX,        IR_BINARY_MIN,
                                  IR_BINARY_POW,     IR_BINARY_GREATER,    IR_BINARY_GREATER_EQUAL,
                                  IR_BINARY_LESS,    IR_BINARY_LESS_EQUAL, IR_BINARY_EQUAL,
                                  IR_BINARY_NOT_EQUAL, IR_BINARY_WHERE_TRUE, IR_BINARY_WHERE_FALSE,
                                  IR_BINARY_FLOOR_DIV, IR_BINARY_FLOOR_MOD, IR_BINARY_TRUNC_MOD,
                                  IR_BINARY_ATAN2};
  const int nkinds = (int)(sizeof kinds / sizeof kinds[0]);
  for (int k = 0; k < nkinds; k++) {
    n.attrs.binary = kinds[k];
    for (int i = 0; i < 6; i++)
      for (int j = 0; j < 4; j++) {
        double u = a[i], v = b[j], r = 0;
        switch (kinds[k]) {
          case IR_BINARY_ADD: r = u + v; break;
          case IR_BINARY_SUB: r = u - v; break;
          case IR_BINARY_MUL: r = u * v; break;
          case IR_BINARY_DIV: r = u / v; break;
          case IR_BINARY_MAX: r = u > v ? u : v; break;
          case IR_BINARY_MIN: r = u < v ? u : v; break;
          case IR_BINARY_POW: r = pow(u, v); break;
          case IR_BINARY_GREATER: r = u > v; break;
          case IR_BINARY_GREATER_EQUAL: r = u >= v; break;
          case IR_BINARY_LESS: r = u < v; break;
          case IR_BINARY_LESS_EQUAL: r = u <= v; break;
          case IR_BINARY_EQUAL: r = u == v; break;
          case IR_BINARY_NOT_EQUAL: r = u != v; break;
          case IR_BINARY_WHERE_TRUE: r = v != 0 ? u : 0; break;
          case IR_BINARY_WHERE_FALSE: r = v != 0 ? 0 : u; break;
          /* a and b are small integers and a half: every quotient's floor is exact */
          case IR_BINARY_FLOOR_DIV: r = floor(u / v); break;
          case IR_BINARY_FLOOR_MOD: r = u - floor(u / v) * v; break;
          case IR_BINARY_TRUNC_MOD: r = fmod(u, v); break;
          case IR_BINARY_ATAN2: r = atan2(u, v); break;
        }
        want[i * 4 + j] = r;
      }
    CHECK_OK(cpu_kernel_binary(&n, in, 2, &yt));
    check_close("binary [2,3,1] op [4]", y, want, 24, 1e-6, 0);
  }
  /* The modulos' signs: floor_mod takes the divisor's (Python's %), trunc_mod the dividend's. */
  {
    float p[4] = {-7, 7, -7, 7}, q[4] = {3, -3, -3, 3}, m[4];
    cpu_tensor mi[2] = {tensor(p, 1, DIMS(4)), tensor(q, 1, DIMS(4))}, mt = tensor(m, 1, DIMS(4));
    ir_node mn = make_node(IR_OP_BINARY, "mod");
    mn.attrs.binary = IR_BINARY_FLOOR_MOD;
    CHECK_OK(cpu_kernel_binary(&mn, mi, 2, &mt));
    check_close_f("floor_mod signs", m, (const float[]){2, -2, -1, 1}, 4);
    mn.attrs.binary = IR_BINARY_TRUNC_MOD;
    CHECK_OK(cpu_kernel_binary(&mn, mi, 2, &mt));
    check_close_f("trunc_mod signs", m, (const float[]){-1, 1, -1, 1}, 4);
    mn.attrs.binary = IR_BINARY_FLOOR_DIV;
    CHECK_OK(cpu_kernel_binary(&mn, mi, 2, &mt));
    check_close_f("floor_div signs", m, (const float[]){-3, -3, 2, 2}, 4);
    mn.attrs.binary = IR_BINARY_ATAN2; /* atan2(y, x): the quadrant from both signs */
    CHECK_OK(cpu_kernel_binary(&mn, mi, 2, &mt));
    check_close_f("atan2 quadrants", m,
                  (const float[]){-1.1659045405098132f, 1.9756881130799799f,
                                  -1.9756881130799799f, 1.1659045405098132f}, 4);
  }
  /* [4] op [2, 3, 1]: the other operand order. */
  n.attrs.binary = IR_BINARY_SUB;
  cpu_tensor swapped[2] = {in[1], in[0]};
  CHECK_OK(cpu_kernel_binary(&n, swapped, 2, &yt));
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 4; j++) want[i * 4 + j] = (double)b[j] - a[i];
  check_close("binary [4] op [2,3,1]", y, want, 24, 1e-6, 0);
  /* batched op batched, same shape [2, 3], with a fused relu */
  float c[6] = {-1, 2, -3, 4, -5, 6}, d[6] = {0.5f, -3, 1, 1, 10, -7};
  n.attrs.binary = IR_BINARY_ADD;
  n.attrs.act.kind = IR_ACT_RELU;
  in[0] = tensor(c, 2, DIMS(2, 3));
  in[1] = tensor(d, 2, DIMS(2, 3));
  yt = tensor(y, 2, DIMS(2, 3));
  CHECK_OK(cpu_kernel_binary(&n, in, 2, &yt));
  check_close_f("binary batched + relu", y, (const float[]){0, 0, 0, 5, 5, 0}, 6);
  /* [2, 1] op [1, 3] -> [2, 3] */
  n.attrs.act.kind = IR_ACT_NONE;
  n.attrs.binary = IR_BINARY_MUL;
  in[0] = tensor(c, 2, DIMS(2, 1));
  in[1] = tensor(d, 2, DIMS(1, 3));
  CHECK_OK(cpu_kernel_binary(&n, in, 2, &yt));
  check_close_f("binary [2,1] op [1,3]", y, (const float[]){-0.5f, 3, -1, 1, -6, 2}, 6);
  /* incompatible shapes */
  in[1] = tensor(d, 1, DIMS(3));
  in[0] = tensor(c, 1, DIMS(2));
  CHECK_ERR(cpu_kernel_binary(&n, in, 2, &yt), KRT_ERR_INTERNAL, "node 'add' (Binary)");
}

/* ---- Layout --------------------------------------------------------------------------------- */

static void test_concat(void) {
  /* [2, 1, 3] and [2, 2, 3] on axis 1 -> [2, 3, 3] */
  float a[6] = {1, 2, 3, 4, 5, 6}, b[12], y[18];
  for (int i = 0; i < 12; i++) b[i] = 10 + i;
  ir_node n = make_node(IR_OP_CONCAT, "cat");
  n.attrs.axis = 1;
  cpu_tensor in[2] = {tensor(a, 3, DIMS(2, 1, 3)), tensor(b, 3, DIMS(2, 2, 3))};
  cpu_tensor yt = tensor(y, 3, DIMS(2, 3, 3));
  CHECK_OK(cpu_kernel_concat(&n, in, 2, &yt));
  check_close_f("concat middle axis", y,
                (const float[]){1, 2, 3, 10, 11, 12, 13, 14, 15, 4, 5, 6, 16, 17, 18, 19, 20, 21},
                18);
}

static void test_reshape_identity(void) {
  float x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {0};
  ir_node n = make_node(IR_OP_RESHAPE, "flat");
  cpu_tensor in = tensor(x, 3, DIMS(1, 2, 3)), yt = tensor(y, 2, DIMS(1, 6));
  CHECK_OK(cpu_kernel_reshape(&n, &in, 1, &yt));
  check_close_f("reshape copy", y, x, 6);
  yt.data = x; /* aliased: the planner gave y the input's bytes */
  CHECK_OK(cpu_kernel_reshape(&n, &in, 1, &yt));
  check_close_f("reshape aliased", x, (const float[]){1, 2, 3, 4, 5, 6}, 6);
  n.op = IR_OP_IDENTITY;
  float z[6] = {0};
  yt = tensor(z, 3, DIMS(1, 2, 3));
  CHECK_OK(cpu_kernel_identity(&n, &in, 1, &yt));
  check_close_f("identity", z, x, 6);
  yt = tensor(z, 2, DIMS(1, 5));
  CHECK_ERR(cpu_kernel_identity(&n, &in, 1, &yt), KRT_ERR_INTERNAL, "node 'flat' (Identity)");
}

static void test_transpose(void) {
  /* [2, 3, 4] perm [2, 0, 1] -> [4, 2, 3], y[i][j][k] = x[j][k][i] */
  float x[24], y[24];
  for (int i = 0; i < 24; i++) x[i] = (float)i;
  ir_node n = make_node(IR_OP_TRANSPOSE, "t");
  n.attrs.perm[0] = 2, n.attrs.perm[1] = 0, n.attrs.perm[2] = 1;
  cpu_tensor in = tensor(x, 3, DIMS(2, 3, 4)), yt = tensor(y, 3, DIMS(4, 2, 3));
  CHECK_OK(cpu_kernel_transpose(&n, &in, 1, &yt));
  double want[24];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 3; k++) want[(i * 2 + j) * 3 + k] = x[(j * 3 + k) * 4 + i];
  check_close("transpose", y, want, 24, 0, 0);
  n.attrs.perm[2] = 0; /* not a permutation */
  CHECK_ERR(cpu_kernel_transpose(&n, &in, 1, &yt), KRT_ERR_INTERNAL, "node 't' (Transpose)");
}

static void test_pad_slice(void) {
  /* Pad [2, 3] by (1, 0) and (2, 1) -> [3, 6] */
  float x[6] = {1, 2, 3, 4, 5, 6}, y[18];
  ir_node n = make_node(IR_OP_PAD, "pad");
  n.attrs.pad_begin[0] = 1, n.attrs.pad_end[0] = 0;
  n.attrs.pad_begin[1] = 2, n.attrs.pad_end[1] = 1;
  cpu_tensor in = tensor(x, 2, DIMS(2, 3)), yt = tensor(y, 2, DIMS(3, 6));
  CHECK_OK(cpu_kernel_pad(&n, &in, 1, &yt));
  check_close_f("pad", y, (const float[]){0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0},
                18);
  /* Slice [3, 4] rows 1:3, cols 1:3 -> [2, 2] */
  float s[12], z[4];
  for (int i = 0; i < 12; i++) s[i] = (float)i;
  ir_node sl = make_node(IR_OP_SLICE, "slice");
  sl.attrs.begin[0] = 1, sl.attrs.end[0] = 3;
  sl.attrs.begin[1] = 1, sl.attrs.end[1] = 3;
  in = tensor(s, 2, DIMS(3, 4));
  yt = tensor(z, 2, DIMS(2, 2));
  CHECK_OK(cpu_kernel_slice(&sl, &in, 1, &yt));
  check_close_f("slice", z, (const float[]){5, 6, 9, 10}, 4);
  sl.attrs.begin[1] = 3;
  CHECK_ERR(cpu_kernel_slice(&sl, &in, 1, &yt), KRT_ERR_INTERNAL, "node 'slice' (Slice)");
}

/* Split [2, 5] along axis 1 into [2, 2] and [2, 3]; along axis 0 into two rows. */
static void test_split(void) {
  float x[10], a[4], b[6];
  for (int i = 0; i < 10; i++) x[i] = (float)i;
  ir_node n = make_node(IR_OP_SPLIT, "split");
  int outputs[2] = {1, 2};
  n.n_outputs = 2, n.outputs = outputs;
  n.attrs.axis = 1, n.attrs.sizes[0] = 2, n.attrs.sizes[1] = 3;
  cpu_tensor in = tensor(x, 2, DIMS(2, 5));
  cpu_tensor y[2] = {tensor(a, 2, DIMS(2, 2)), tensor(b, 2, DIMS(2, 3))};
  CHECK_OK(cpu_kernel_split(&n, &in, 1, y));
  check_close_f("split a", a, (const float[]){0, 1, 5, 6}, 4);
  check_close_f("split b", b, (const float[]){2, 3, 4, 7, 8, 9}, 6);
  n.attrs.axis = 0, n.attrs.sizes[0] = 1, n.attrs.sizes[1] = 1;
  float first[5], r[5];
  y[0] = tensor(first, 2, DIMS(1, 5));
  y[1] = tensor(r, 2, DIMS(1, 5));
  CHECK_OK(cpu_kernel_split(&n, &in, 1, y));
  check_close_f("split row 0", first, (const float[]){0, 1, 2, 3, 4}, 5);
  check_close_f("split row 1", r, (const float[]){5, 6, 7, 8, 9}, 5);
  /* pieces that run past the input are an internal error, not a write past the end */
  y[1] = tensor(b, 2, DIMS(2, 3));
  CHECK_ERR(cpu_kernel_split(&n, &in, 1, y), KRT_ERR_INTERNAL, "output 1 falls outside the input");
}

/* TF2 half-pixel bilinear along one axis, written as tf.image.resize does it: in = (o + 0.5) /
 * scale - 0.5, lower = max(floor(in), 0), upper = min(ceil(in), n - 1), lerp = in - floor(in). */
static void half_pixel(int64_t o, int scale, int64_t n, int64_t *lo, int64_t *hi, double *lerp) {
  double in = (o + 0.5) / scale - 0.5;
  double f = floor(in);
  *lo = f < 0 ? 0 : (int64_t)f;
  *hi = (int64_t)ceil(in) < n - 1 ? (int64_t)ceil(in) : n - 1;
  *lerp = in - f;
}

static void test_resize(void) {
  /* [1, 2, 3, 2] scaled 2x -> [1, 4, 6, 2] */
  float x[12], y[48];
  for (int i = 0; i < 12; i++) x[i] = (float)(i * i % 7) - 2;
  ir_node n = make_node(IR_OP_RESIZE, "up");
  n.attrs.spatial = 2;
  n.attrs.scale[0] = n.attrs.scale[1] = 2;
  cpu_tensor in = tensor(x, 4, DIMS(1, 2, 3, 2)), yt = tensor(y, 4, DIMS(1, 4, 6, 2));
  double want[48];
  n.attrs.resize = IR_RESIZE_NEAREST;
  CHECK_OK(cpu_kernel_resize(&n, &in, 1, &yt));
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 6; c++)
      for (int ch = 0; ch < 2; ch++) want[(r * 6 + c) * 2 + ch] = x[((r / 2) * 3 + c / 2) * 2 + ch];
  check_close("resize nearest", y, want, 48, 0, 0);
  n.attrs.resize = IR_RESIZE_BILINEAR;
  CHECK_OK(cpu_kernel_resize(&n, &in, 1, &yt));
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 6; c++)
      for (int ch = 0; ch < 2; ch++) {
        int64_t r0, r1, c0, c1;
        double fr, fc;
        half_pixel(r, 2, 2, &r0, &r1, &fr);
        half_pixel(c, 2, 3, &c0, &c1, &fc);
#define X_AT(rr, cc) ((double)x[((rr)*3 + (cc)) * 2 + ch])
        double top = X_AT(r0, c0) + (X_AT(r0, c1) - X_AT(r0, c0)) * fc;
        double bottom = X_AT(r1, c0) + (X_AT(r1, c1) - X_AT(r1, c0)) * fc;
#undef X_AT
        want[(r * 6 + c) * 2 + ch] = top + (bottom - top) * fr;
      }
  check_close("resize bilinear", y, want, 48, 1e-6, 1e-6);
  /* By hand on [1, 2]: 1, 1.25, 1.75, 2 */
  float line[2] = {1, 2}, out[4];
  n.attrs.spatial = 1;
  in = tensor(line, 3, DIMS(1, 2, 1));
  yt = tensor(out, 3, DIMS(1, 4, 1));
  CHECK_OK(cpu_kernel_resize(&n, &in, 1, &yt));
  check_close_f("resize linear by hand", out, (const float[]){1, 1.25f, 1.75f, 2}, 4);
}

static void test_gather(void) {
  float table[10] = {0, 1, 10, 11, 20, 21, 30, 31, 40, 41}; /* [5, 2] */
  float idx[4] = {1.7f, -0.5f, 4, 2}, y[8];                 /* truncated: 1, 0, 4, 2 */
  ir_node n = make_node(IR_OP_GATHER, "emb");
  cpu_tensor in[2] = {tensor(idx, 2, DIMS(2, 2)), tensor(table, 2, DIMS(5, 2))};
  cpu_tensor yt = tensor(y, 3, DIMS(2, 2, 2));
  CHECK_OK(cpu_kernel_gather(&n, in, 2, &yt));
  check_close_f("gather", y, (const float[]){10, 11, 0, 1, 40, 41, 20, 21}, 8);
  /* Out of range: a run-time error with the index and where it was. */
  float big_idx[8] = {0, 1, 2, 3, 4, 5, 6, 1234}, *big_table = calloc(1000, sizeof(float));
  float out[8];
  if (big_table) {
    cpu_tensor bin[2] = {tensor(big_idx, 2, DIMS(1, 8)), tensor(big_table, 2, DIMS(1000, 1))};
    cpu_tensor bout = tensor(out, 3, DIMS(1, 8, 1));
    CHECK_ERR(cpu_kernel_gather(&n, bin, 2, &bout), KRT_ERR_INVALID_ARGUMENT,
              "node 'emb' (Gather): index 1234 at position 7 is outside [0, 1000)");
    big_idx[7] = -1;
    CHECK_ERR(cpu_kernel_gather(&n, bin, 2, &bout), KRT_ERR_INVALID_ARGUMENT, "index -1 at");
    big_idx[7] = NAN;
    CHECK_ERR(cpu_kernel_gather(&n, bin, 2, &bout), KRT_ERR_INVALID_ARGUMENT, "position 7");
    free(big_table);
  }
}

/* MatMul against a naive triple loop written out here: broadcast leading axes on both sides
 * (a [2, 1, 3, 4] @ b [1, 3, 4, 5] -> [2, 3, 3, 5]) and a rank-2 b shared by every matrix. */
static void test_matmul(void) {
  float a[2 * 1 * 3 * 4], b[1 * 3 * 4 * 5], y[2 * 3 * 3 * 5], want[2 * 3 * 3 * 5];
  for (int i = 0; i < 24; i++) a[i] = (float)((i * 7) % 11) - 5.0f;
  for (int i = 0; i < 60; i++) b[i] = (float)((i * 5) % 13) * 0.25f - 1.5f;
  for (int p = 0; p < 2; p++)
    for (int q = 0; q < 3; q++)
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
          double acc = 0;
          for (int k = 0; k < 4; k++) acc += (double)a[p * 12 + i * 4 + k] * b[q * 20 + k * 5 + j];
          want[((p * 3 + q) * 3 + i) * 5 + j] = (float)acc;
        }
  ir_node n = make_node(IR_OP_MATMUL, "qk");
  cpu_tensor in[2] = {tensor(a, 4, DIMS(2, 1, 3, 4)), tensor(b, 4, DIMS(1, 3, 4, 5))};
  cpu_tensor yt = tensor(y, 4, DIMS(2, 3, 3, 5));
  CHECK_OK(cpu_kernel_matmul(&n, in, 2, &yt));
  check_close_f("matmul broadcast both", y, want, 90);

  /* a [2, 3, 4] @ b [4, 5]: the b matrix of the first case's q = 0 for every matrix of a */
  float y2[2 * 3 * 5], want2[2 * 3 * 5];
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 5; j++) want2[(p * 3 + i) * 5 + j] = want[((p * 3 + 0) * 3 + i) * 5 + j];
  cpu_tensor in2[2] = {tensor(a, 3, DIMS(2, 3, 4)), tensor(b, 2, DIMS(4, 5))};
  cpu_tensor yt2 = tensor(y2, 3, DIMS(2, 3, 5));
  CHECK_OK(cpu_kernel_matmul(&n, in2, 2, &yt2));
  check_close_f("matmul shared b", y2, want2, 30);

  /* shapes the kernel must refuse (shape inference never produces them) */
  cpu_tensor bad[2] = {tensor(a, 3, DIMS(2, 3, 4)), tensor(b, 2, DIMS(5, 4))};
  CHECK_ERR(cpu_kernel_matmul(&n, bad, 2, &yt2), KRT_ERR_INTERNAL, "node 'qk' (MatMul)");
}

/* ---- The backend on a planned graph --------------------------------------------------------- */

/* Recurrent on one unit, worked out by hand: SimpleRNN linear h = 2x + 0.5h + 1 (forwards,
 * backwards, reversed output, initial state) and a one-unit LSTM/GRU step against the equations
 * of ops.def written out here. */
static void test_recurrent(void) {
  float x[3] = {1, 2, 3}, w[1] = {2}, r[1] = {0.5f}, b[1] = {1}, h0[1] = {4}, y[3];
  cpu_tensor in[5] = {tensor(x, 3, DIMS(1, 3, 1)), tensor(w, 2, DIMS(1, 1)),
                      tensor(r, 2, DIMS(1, 1)), tensor(b, 1, DIMS(1)), tensor(h0, 2, DIMS(1, 1))};
  cpu_tensor out = tensor(y, 3, DIMS(1, 3, 1));
  ir_node n = make_node(IR_OP_RECURRENT, "rnn");
  n.attrs.rnn_cell = IR_RNN_SIMPLE;
  n.attrs.rnn_units = 1;
  n.attrs.rnn_act = ir_act_none();
  n.attrs.rnn_return_sequences = 1;
  CHECK_OK(cpu_kernel_recurrent(&n, in, 4, &out)); /* h: 3, 6.5, 10.25 */
  check_close("rnn forwards", y, (const double[]){3, 6.5, 10.25}, 3, 0, 0);
  n.attrs.rnn_go_backwards = 1; /* x 3, 2, 1: h 7, 8.5, 7.25 in the order computed */
  CHECK_OK(cpu_kernel_recurrent(&n, in, 4, &out));
  check_close("rnn backwards", y, (const double[]){7, 8.5, 7.25}, 3, 0, 0);
  n.attrs.rnn_reverse_output = 1; /* stored at the time index they consumed */
  CHECK_OK(cpu_kernel_recurrent(&n, in, 4, &out));
  check_close("rnn backwards reversed", y, (const double[]){7.25, 8.5, 7}, 3, 0, 0);
  n.attrs.rnn_go_backwards = n.attrs.rnn_reverse_output = 0;
  n.attrs.rnn_return_sequences = 0;
  out = tensor(y, 2, DIMS(1, 1));
  CHECK_OK(cpu_kernel_recurrent(&n, in, 5, &out)); /* from h0 = 4: 5, 7.5, 10.75 */
  check_close("rnn h0 last", y, (const double[]){10.75}, 1, 0, 0);
  /* masks: a masked step keeps h and repeats the previous output (zeros before the first), or
   * outputs zeros (rnn_zero_masked_output) */
  float m101[3] = {1, 0, 1}, m011[3] = {0, 1, 1}, m110[3] = {1, 1, 0}, ys[3], hl[1];
  cpu_tensor mi[6] = {in[0], in[1], in[2], in[3], tensor(m101, 2, DIMS(1, 3))};
  cpu_tensor mo[2] = {tensor(ys, 3, DIMS(1, 3, 1)), tensor(hl, 2, DIMS(1, 1))};
  n.attrs.rnn_masked = n.attrs.rnn_return_sequences = 1;
  n.n_outputs = 2;
  CHECK_OK(cpu_kernel_recurrent(&n, mi, 5, mo)); /* h: 3, (3), 2*3 + 0.5*3 + 1 */
  check_close("rnn masked", ys, (const double[]){3, 3, 8.5}, 3, 0, 0);
  check_close("rnn masked h_T", hl, (const double[]){8.5}, 1, 0, 0);
  n.attrs.rnn_zero_masked_output = 1;
  CHECK_OK(cpu_kernel_recurrent(&n, mi, 5, mo));
  check_close("rnn masked zero output", ys, (const double[]){3, 0, 8.5}, 3, 0, 0);
  n.attrs.rnn_zero_masked_output = 0;
  mi[4] = in[4], mi[5] = tensor(m011, 2, DIMS(1, 3)); /* from h0 = 4, the first step masked */
  CHECK_OK(cpu_kernel_recurrent(&n, mi, 6, mo));
  check_close("rnn masked first", ys, (const double[]){0, 7, 10.5}, 3, 0, 0);
  mi[5] = tensor(m110, 2, DIMS(1, 3)); /* the last step masked, last output only, zeroed */
  n.attrs.rnn_return_sequences = 0, n.attrs.rnn_zero_masked_output = 1;
  mo[0] = tensor(ys, 2, DIMS(1, 1));
  CHECK_OK(cpu_kernel_recurrent(&n, mi, 6, mo)); /* h: 4 -> 2 + 2 + 1 = 5 -> 4 + 2.5 + 1 */
  check_close("rnn masked last zeroed", ys, (const double[]){0}, 1, 0, 0);
  check_close("rnn masked last h_T", hl, (const double[]){7.5}, 1, 0, 0);
  n.attrs.rnn_masked = n.attrs.rnn_zero_masked_output = 0;
  n.n_outputs = 1;
  /* return_state with the sequence: h_T is the last step's h, backwards the last computed */
  float seq[3], last[1];
  cpu_tensor two[2] = {tensor(seq, 3, DIMS(1, 3, 1)), tensor(last, 2, DIMS(1, 1))};
  n.attrs.rnn_return_sequences = n.attrs.rnn_go_backwards = 1;
  n.n_outputs = 2;
  CHECK_OK(cpu_kernel_recurrent(&n, in, 4, two));
  check_close("rnn backwards h_T", last, (const double[]){7.25}, 1, 0, 0);
  /* T = 0: the final state is h0 */
  cpu_tensor empty[5] = {tensor(x, 3, DIMS(1, 0, 1)), in[1], in[2], in[3], in[4]};
  two[0] = tensor(seq, 3, DIMS(1, 0, 1));
  CHECK_OK(cpu_kernel_recurrent(&n, empty, 5, two));
  check_close("rnn T=0 h_T", last, (const double[]){4}, 1, 0, 0);
  n.attrs.rnn_return_sequences = n.attrs.rnn_go_backwards = 0;
  n.n_outputs = 1;

  /* one step, one unit, all gate weights 0.5, recurrent 0.25, biases 0.1 * (gate + 1) */
  float xs[1] = {1.5f}, hs[1] = {0.4f}, cs[1] = {-0.3f}, wg[4], rg[4], bg[6];
  for (int i = 0; i < 4; i++) wg[i] = 0.5f, rg[i] = 0.25f;
  for (int i = 0; i < 6; i++) bg[i] = 0.1f * (float)(i + 1);
  double sig[6];
  for (int i = 0; i < 6; i++) sig[i] = 0;
  cpu_tensor ins[6] = {tensor(xs, 3, DIMS(1, 1, 1)), tensor(wg, 2, DIMS(1, 4)),
                       tensor(rg, 2, DIMS(1, 4)), tensor(bg, 1, DIMS(4)),
                       tensor(hs, 2, DIMS(1, 1)), tensor(cs, 2, DIMS(1, 1))};
  out = tensor(y, 2, DIMS(1, 1));
  n = make_node(IR_OP_RECURRENT, "lstm");
  n.attrs.rnn_cell = IR_RNN_LSTM;
  n.attrs.rnn_units = 1;
  n.attrs.rnn_act = ir_act_none(), n.attrs.rnn_act.kind = IR_ACT_TANH;
  n.attrs.rnn_gate_act = ir_act_none(), n.attrs.rnn_gate_act.kind = IR_ACT_SIGMOID;
  CHECK_OK(cpu_kernel_recurrent(&n, ins, 6, &out));
  for (int k = 0; k < 4; k++) sig[k] = 0.75 + 0.1 + 0.1 * (k + 1); /* 0.5*1.5 + 0.25*0.4 + b_k */
  double i = 1 / (1 + exp(-sig[0])), f = 1 / (1 + exp(-sig[1])), cc = tanh(sig[2]),
         o = 1 / (1 + exp(-sig[3]));
  double c1 = f * -0.3 + i * cc;
  check_close("lstm step", y, (const double[]){o * tanh(c1)}, 1, 1e-6, 1e-7);
  /* return_state: y, h_T, c_T as three outputs */
  float yh[1], yc[1];
  cpu_tensor outs[3] = {tensor(y, 2, DIMS(1, 1)), tensor(yh, 2, DIMS(1, 1)),
                        tensor(yc, 2, DIMS(1, 1))};
  n.n_outputs = 3;
  CHECK_OK(cpu_kernel_recurrent(&n, ins, 6, outs));
  check_close("lstm y", y, (const double[]){o * tanh(c1)}, 1, 1e-6, 1e-7);
  check_close("lstm h_T", yh, (const double[]){o * tanh(c1)}, 1, 1e-6, 1e-7);
  check_close("lstm c_T", yc, (const double[]){c1}, 1, 1e-6, 1e-7);
  n.n_outputs = 1;
  /* GRU reset_after: b_in = 0.1 0.2 0.3, b_rec = 0.4 0.5 0.6 */
  ins[1] = tensor(wg, 2, DIMS(1, 3)), ins[2] = tensor(rg, 2, DIMS(1, 3));
  ins[3] = tensor(bg, 1, DIMS(6));
  n.attrs.rnn_cell = IR_RNN_GRU_RESET_AFTER;
  CHECK_OK(cpu_kernel_recurrent(&n, ins, 5, &out));
  double z = 1 / (1 + exp(-(0.75 + 0.1 + 0.1 + 0.4))), rr = 1 / (1 + exp(-(0.75 + 0.2 + 0.1 + 0.5)));
  double hh = tanh(0.75 + 0.3 + rr * (0.1 + 0.6));
  check_close("gru reset_after step", y, (const double[]){z * 0.4 + (1 - z) * hh}, 1, 1e-6, 1e-7);
  /* GRU reset before: b = 0.1 0.2 0.3; h~ = tanh(0.75 + 0.3 + (r*h) * 0.25) */
  ins[3] = tensor(bg, 1, DIMS(3));
  n.attrs.rnn_cell = IR_RNN_GRU;
  CHECK_OK(cpu_kernel_recurrent(&n, ins, 5, &out));
  z = 1 / (1 + exp(-(0.75 + 0.1 + 0.1))), rr = 1 / (1 + exp(-(0.75 + 0.2 + 0.1)));
  hh = tanh(0.75 + 0.3 + rr * 0.4 * 0.25);
  check_close("gru reset_before step", y, (const double[]){z * 0.4 + (1 - z) * hh}, 1, 1e-6, 1e-7);
}

static void test_backend(void) {
  const krt_backend *be = NULL;
  /* The CUDA backend is a plugin: it loads where there is a GPU, else reports a device error. */
  krt_status *cuda = krt_backend_for_device(KRT_DEVICE_CUDA, &be);
  CHECK(!cuda || krt_status_code(cuda) == KRT_ERR_DEVICE);
  CHECK(!cuda || strstr(krt_status_message(cuda), "CUDA backend is not available"));
  krt_status_release(cuda);
  CHECK_OK(krt_backend_for_device(KRT_DEVICE_CPU, &be));
  if (!be) return;
  CHECK(strcmp(be->name, "cpu") == 0);

  /* x[-1, 4] -> Dense(3) -> Reshape [3, 1] -> Softmax over axis 1 -> out[-1, 3, 1] */
  ir_graph *g = ir_graph_create();
  if (!g) return;
  int x = -1, w = -1, b = -1, d = -1, r = -1, s = -1;
  float wd[12] = {1, 0, -1, 0.5f, 2, 0, 0, -1, 1, 1, 1, 1}, bd[3] = {0.1f, 0.2f, 0.3f};
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 2, DIMS(-1, 4), 1, IR_LAYOUT_PLAIN, &x));
  CHECK_OK(ir_add_const_copy(g, "w", 2, DIMS(4, 3), wd, &w));
  CHECK_OK(ir_add_const_copy(g, "b", 1, DIMS(3), bd, &b));
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  CHECK_OK(ir_emit(g, IR_OP_DENSE, "fc", -1, (const int[]){x, w, b}, 3, &a, &d));
  a.shape_rank = 2;
  a.shape[0] = 3, a.shape[1] = 1;
  CHECK_OK(ir_emit(g, IR_OP_RESHAPE, "col", -1, &d, 1, &a, &r));
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.n_axes = 1;
  a.axes[0] = 1;
  CHECK_OK(ir_emit(g, IR_OP_SOFTMAX, "prob", -1, &r, 1, &a, &s));
  CHECK_OK(ir_add_output(g, s, "prob"));
  if (s < 0) {
    ir_graph_free(g);
    return;
  }
  krt_plan plan;
  memset(&plan, 0, sizeof plan);
  void *engine = NULL, *ctx = NULL;
  CHECK_OK(plan_memory(g, 4, NULL, &plan));
  CHECK_OK(be->engine_prepare(g, &plan, &engine));
  if (engine) CHECK_OK(be->context_create(engine, &ctx));
  if (ctx) {
    float xin[8] = {1, 2, 3, 4, -1, 0, 0.5f, 2}, yout[6];
    CHECK_OK(be->write_value(ctx, x, xin, 8));
    CHECK_OK(be->run(ctx, 2));
    CHECK_OK(be->read_value(ctx, s, yout, 6));
    double want[6];
    for (int n = 0; n < 2; n++) {
      double z[3], sum = 0;
      for (int m = 0; m < 3; m++) {
        z[m] = bd[m];
        for (int k = 0; k < 4; k++) z[m] += xin[n * 4 + k] * wd[k * 3 + m];
        sum += exp(z[m]);
      }
      for (int m = 0; m < 3; m++) want[n * 3 + m] = exp(z[m]) / sum;
    }
    check_close("backend dense-reshape-softmax", yout, want, 6, 1e-6, 1e-7);
    /* Misuse: more floats than the slot holds, a batch above the plan's, writing a constant. */
    float big[64] = {0};
    CHECK_ERR(be->write_value(ctx, x, big, 17), KRT_ERR_INTERNAL, "'x'");
    CHECK_ERR(be->run(ctx, 5), KRT_ERR_INVALID_ARGUMENT, "batch 5");
    CHECK_ERR(be->write_value(ctx, w, big, 1), KRT_ERR_INTERNAL, "'w'");
    CHECK_OK(be->read_value(ctx, w, big, 12)); /* a constant reads from the graph */
    check_close_f("read a constant", big, wd, 12);
    CHECK_ERR(be->read_value(ctx, w, big, 13), KRT_ERR_INTERNAL, "'w'");
  }
  be->context_release(ctx);
  be->engine_release(engine);

  /* check_node: an op without a kernel, a pool kind it cannot do. */
  ir_node bad = make_node((ir_op)99, "mystery");
  CHECK_ERR(be->check_node(g, &bad), KRT_ERR_UNSUPPORTED, "mystery");
  ir_node pool = make_node(IR_OP_POOL, "weird_pool");
  pool.attrs.spatial = 2;
  pool.attrs.kernel[0] = pool.attrs.kernel[1] = 2;
  pool.attrs.stride[0] = pool.attrs.stride[1] = 2;
  pool.attrs.pool = (ir_pool_kind)7;
  CHECK_ERR(be->check_node(g, &pool), KRT_ERR_UNSUPPORTED, "node 'weird_pool' (Pool)");
  pool.attrs.pool = IR_POOL_MAX;
  CHECK_OK(be->check_node(g, &pool));
  plan_free(&plan);
  ir_graph_free(g);
}

int main(void) {
  test_dense();
  test_conv();
  test_conv_transpose();
  test_conv_transpose_3d();
  test_pool();
  test_pool_3d();
  test_reduce();
  test_batchnorm();
  test_layernorm();
  test_softmax();
  test_activations();
  test_prelu();
  test_binary();
  test_concat();
  test_reshape_identity();
  test_transpose();
  test_pad_slice();
  test_split();
  test_resize();
  test_gather();
  test_matmul();
  test_recurrent();
  test_backend();
  return test_summary("test_cpu_kernels");
}
