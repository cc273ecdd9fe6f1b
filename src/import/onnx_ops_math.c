/* ONNX elementwise, matrix and reduction ops: Gemm, MatMul, the binary arithmetic and comparison
 * ops (numpy broadcasting, as the IR's Binary), Where, the activations, Softmax/LogSoftmax and the
 * Reduce family. Elementwise ops keep their input's layout: a channels-last input gives a
 * channels-last output (constants are re-laid to match), so they sit between convolutions
 * without Transposes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/onnx_internal.h"

/* A known tensor broadcast (leading ones) to `rank` and laid channels-last, as a constant. */
static krt_status *cl_const(ox_ctx *c, const ox_known *k, int rank, const char *part, int *id) {
  int64_t dims[KRT_MAX_RANK], out_dims[KRT_MAX_RANK];
  int lead = rank - k->rank;
  for (int a = 0; a < rank; a++) dims[a] = a < lead ? 1 : k->dims[a - lead];
  int perm[KRT_MAX_RANK];
  ox_perm_to_cl(rank, perm);
  for (int a = 0; a < rank; a++) out_dims[a] = dims[perm[a]];
  float *src = NULL;
  KRT_TRY(ox_known_floats(c, k, &src));
  float *dst = malloc((size_t)(k->count ? k->count : 1) * sizeof *dst);
  if (!dst) {
    free(src);
    return krt_error_oom("ONNX constant");
  }
  /* dims with ones moved: only the order of axes changes, so walk the output in order */
  int64_t stride[KRT_MAX_RANK], n = 1;
  for (int a = rank - 1; a >= 0; a--) {
    stride[a] = n;
    n *= dims[a];
  }
  int64_t idx[KRT_MAX_RANK] = {0};
  for (int64_t o = 0; o < n; o++) {
    int64_t at = 0;
    for (int a = 0; a < rank; a++) at += idx[a] * stride[perm[a]];
    dst[o] = src[at];
    for (int a = rank - 1; a >= 0; a--) {
      if (++idx[a] < out_dims[a]) break;
      idx[a] = 0;
    }
  }
  free(src);
  krt_status *s = ox_const(c, part, rank, out_dims, dst, id);
  free(dst);
  return s;
}

/* The two operands of an elementwise op, channels-last when input `i`'s tensor is (and the other
 * can follow without a new Transpose, or is a constant); *cl says which. */
static krt_status *operands(ox_ctx *c, int i0, int i1, int *a, int *b, int *cl) {
  int r0, r1, bat;
  int64_t d[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, i0, &r0, d, &bat));
  KRT_TRY(ox_in_shape(c, i1, &r1, d, &bat));
  int c0 = ox_in_is_cl_only(c, i0), c1 = ox_in_is_cl_only(c, i1);
  const ox_known *k0 = ox_in_known(c, i0), *k1 = ox_in_known(c, i1);
  *cl = 0;
  if (c0 && (c1 || (k1 && r1 <= r0))) {
    *cl = 1;
    KRT_TRY(ox_value_cl(c, i0, a));
    return c1 ? ox_value_cl(c, i1, b) : cl_const(c, k1, r0, "operand_cl", b);
  }
  if (c1 && k0 && r0 <= r1) {
    *cl = 1;
    KRT_TRY(cl_const(c, k0, r1, "operand_cl", a));
    return ox_value_cl(c, i1, b);
  }
  KRT_TRY(ox_value(c, i0, a));
  return ox_value(c, i1, b);
}

/* Integer arithmetic on known tensors (shape computations), numpy-broadcast. */
static int64_t fold_int(ir_binary_kind kind, int64_t x, int64_t y, int *ok) {
  switch (kind) {
    case IR_BINARY_ADD: return x + y;
    case IR_BINARY_SUB: return x - y;
    case IR_BINARY_MUL: return x * y;
    case IR_BINARY_DIV: if (!y) { *ok = 0; return 0; } return x / y;
    case IR_BINARY_MAX: return x > y ? x : y;
    case IR_BINARY_MIN: return x < y ? x : y;
    case IR_BINARY_EQUAL: return x == y;
    case IR_BINARY_GREATER: return x > y;
    case IR_BINARY_LESS: return x < y;
    case IR_BINARY_GREATER_EQUAL: return x >= y;
    case IR_BINARY_LESS_EQUAL: return x <= y;
    case IR_BINARY_FLOOR_MOD: /* Mod fmod=0: the sign of the divisor */
      if (!y) { *ok = 0; return 0; }
      return x % y + ((x % y != 0) && ((x % y < 0) != (y < 0)) ? y : 0);
    case IR_BINARY_TRUNC_MOD: if (!y) { *ok = 0; return 0; } return x % y;
    default: *ok = 0; return 0;
  }
}

static krt_status *try_fold_ints(ox_ctx *c, ir_binary_kind kind, int *done) {
  *done = 0;
  const ox_known *a = ox_in_known(c, 0), *b = ox_in_known(c, 1);
  if (!a || !b || !a->i || !b->i || a->count > 64 || b->count > 64) return NULL;
  int rank = a->rank > b->rank ? a->rank : b->rank;
  int64_t dims[KRT_MAX_RANK];
  for (int k = 0; k < rank; k++) {
    int ka = k - (rank - a->rank), kb = k - (rank - b->rank);
    int64_t da = ka >= 0 ? a->dims[ka] : 1, db = kb >= 0 ? b->dims[kb] : 1;
    if (da != db && da != 1 && db != 1) return ox_error(c, KRT_ERR_SHAPE, "operands do not broadcast");
    dims[k] = da == 1 ? db : da;
  }
  ox_known *out = ox_known_new(a->dtype, rank, dims);
  if (!out) return krt_error_oom("ONNX fold");
  int ok = 1;
  for (int64_t o = 0; o < out->count && ok; o++) {
    int64_t rem = o, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int k = rank - 1; k >= 0; k--) {
      int64_t idx = rem % dims[k];
      rem /= dims[k];
      int ka = k - (rank - a->rank), kb = k - (rank - b->rank);
      if (ka >= 0) { if (a->dims[ka] != 1) ia += idx * sa; sa *= a->dims[ka]; }
      if (kb >= 0) { if (b->dims[kb] != 1) ib += idx * sb; sb *= b->dims[kb]; }
    }
    if (a->i[ia] == OX_BATCH || b->i[ib] == OX_BATCH) ok = 0;
    out->i[o] = fold_int(kind, a->i[ia], b->i[ib], &ok);
  }
  if (!ok) {
    ox_known_free(out);
    return NULL; /* computed at run time instead (or refused there) */
  }
  if (IR_BINARY_IS_COMPARISON(kind)) out->dtype = OX_BOOL;
  *done = 1;
  return ox_set_known(c, 0, out);
}

static krt_status *convert_binary(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 2, 2));
  KRT_TRY(ox_require_one_output(c));
  int done;
  KRT_TRY(try_fold_ints(c, (ir_binary_kind)variant, &done));
  if (done) return NULL;
  int a, b, cl, y;
  KRT_TRY(operands(c, 0, 1, &a, &b, &cl));
  KRT_TRY(ox_binary(c, (ir_binary_kind)variant, a, b, "", &y));
  return ox_set_output(c, 0, y, cl);
}

/* Mod: fmod=1 is C's fmod (the dividend's sign), fmod=0 the integer modulo with the divisor's
 * sign (which ONNX allows on integer inputs only; krt computes it exactly on their float values). */
static krt_status *convert_mod(ox_ctx *c, int variant) {
  (void)variant;
  int64_t fmod_attr;
  KRT_TRY(ox_attr_int(c, "fmod", 0, &fmod_attr));
  if (fmod_attr != 0 && fmod_attr != 1)
    return ox_unsupported(c, "attribute 'fmod' must be 0 or 1");
  return convert_binary(c, fmod_attr ? IR_BINARY_TRUNC_MOD : IR_BINARY_FLOOR_MOD);
}

/* Max, Min, Sum, Mean of any number of inputs: a chain of Binary nodes (Mean: then / n). */
static krt_status *convert_variadic(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, 64));
  KRT_TRY(ox_require_one_output(c));
  int n = ox_n_inputs(c);
  int y;
  ir_binary_kind kind = variant == -1 ? IR_BINARY_ADD : (ir_binary_kind)variant;
  KRT_TRY(ox_value(c, 0, &y));
  if (n == 1) {
    ir_attrs none = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &y, 1, &none, &y));
  }
  for (int i = 1; i < n; i++) {
    int b;
    char part[32];
    snprintf(part, sizeof part, "%d", i);
    KRT_TRY(ox_value(c, i, &b));
    KRT_TRY(ox_binary(c, kind, y, b, part, &y));
  }
  if (variant == -1) {
    int d;
    KRT_TRY(ox_const_scalar(c, "count", (float)n, &d));
    KRT_TRY(ox_binary(c, IR_BINARY_DIV, y, d, "mean", &y));
  }
  return ox_set_output(c, 0, y, 0);
}

static krt_status *convert_where(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 3, 3));
  KRT_TRY(ox_require_one_output(c));
  int cond, x, y, t, f;
  KRT_TRY(ox_value(c, 0, &cond));
  KRT_TRY(ox_value(c, 1, &x));
  KRT_TRY(ox_value(c, 2, &y));
  KRT_TRY(ox_binary(c, IR_BINARY_WHERE_TRUE, x, cond, "true", &t));
  KRT_TRY(ox_binary(c, IR_BINARY_WHERE_FALSE, y, cond, "false", &f));
  KRT_TRY(ox_binary(c, IR_BINARY_ADD, t, f, "", &t));
  return ox_set_output(c, 0, t, 0);
}

/* The input in whichever layout it has (channels-last when only that exists). */
static krt_status *same_layout_input(ox_ctx *c, int *x, int *cl) {
  *cl = ox_in_is_cl_only(c, 0);
  return *cl ? ox_value_cl(c, 0, x) : ox_value(c, 0, x);
}

enum { ACT_RELU = 100, ACT_LEAKY, ACT_ELU, ACT_SELU, ACT_HSIG, ACT_CLIP, ACT_RECIP, ACT_GELU,
       ACT_THRESH };

static krt_status *convert_activation(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, variant == ACT_CLIP ? 3 : 1));
  KRT_TRY(ox_require_one_output(c));
  int x, cl, y;
  KRT_TRY(same_layout_input(c, &x, &cl));
  float alpha = 0, beta = 0, mx = INFINITY;
  ir_act_kind kind;
  switch (variant) {
    case ACT_RELU: kind = IR_ACT_RELU; break;
    case ACT_LEAKY: kind = IR_ACT_RELU; KRT_TRY(ox_attr_float(c, "alpha", 0.01f, &alpha)); break;
    case ACT_ELU: kind = IR_ACT_ELU; KRT_TRY(ox_attr_float(c, "alpha", 1.0f, &alpha)); break;
    case ACT_THRESH: kind = IR_ACT_THRESHOLDED_RELU; KRT_TRY(ox_attr_float(c, "alpha", 1.0f, &alpha)); break;
    case ACT_HSIG:
      kind = IR_ACT_HARD_SIGMOID;
      KRT_TRY(ox_attr_float(c, "alpha", 0.2f, &alpha));
      KRT_TRY(ox_attr_float(c, "beta", 0.5f, &beta));
      break;
    case ACT_SELU: {
      float gamma;
      KRT_TRY(ox_attr_float(c, "alpha", 1.67326319217681884765625f, &alpha));
      KRT_TRY(ox_attr_float(c, "gamma", 1.05070102214813232421875f, &gamma));
      if (alpha == 1.67326319217681884765625f && gamma == 1.05070102214813232421875f) {
        kind = IR_ACT_SELU;
        alpha = 0;
        break;
      }
      int g;
      KRT_TRY(ox_activation(c, x, IR_ACT_ELU, alpha, 0, INFINITY, "elu", &y));
      KRT_TRY(ox_const_scalar(c, "gamma", gamma, &g));
      KRT_TRY(ox_binary(c, IR_BINARY_MUL, y, g, "", &y));
      return ox_set_output(c, 0, y, cl);
    }
    case ACT_CLIP: {
      kind = IR_ACT_CLIP;
      if (c->opset < 11) {
        KRT_TRY(ox_attr_float(c, "min", -INFINITY, &alpha));
        KRT_TRY(ox_attr_float(c, "max", INFINITY, &mx));
      } else {
        if (ox_attr(c, "min") || ox_attr(c, "max"))
          return ox_unsupported(c, "attributes 'min'/'max' belong to Clip before opset 11");
        KRT_TRY(ox_known_scalar(c, 1, -INFINITY, &alpha));
        KRT_TRY(ox_known_scalar(c, 2, INFINITY, &mx));
      }
      break;
    }
    case ACT_RECIP: {
      int one;
      KRT_TRY(ox_const_scalar(c, "one", 1.0f, &one));
      KRT_TRY(ox_binary(c, IR_BINARY_DIV, one, x, "", &y));
      return ox_set_output(c, 0, y, cl);
    }
    case ACT_GELU: {
      char approx[16];
      KRT_TRY(ox_attr_string(c, "approximate", "none", approx, sizeof approx));
      if (strcmp(approx, "none") == 0)
        kind = IR_ACT_GELU;
      else if (strcmp(approx, "tanh") == 0)
        kind = IR_ACT_GELU_TANH;
      else
        return ox_unsupported(c, "attribute 'approximate' '%s'", approx);
      break;
    }
    case IR_ACT_HARD_SWISH: kind = IR_ACT_HARD_SWISH; alpha = 1.0f / 6.0f; beta = 0.5f; break;
    default: kind = (ir_act_kind)variant; break;
  }
  KRT_TRY(ox_activation(c, x, kind, alpha, beta, mx, "", &y));
  return ox_set_output(c, 0, y, cl);
}

static krt_status *convert_prelu(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 2));
  KRT_TRY(ox_require_one_output(c));
  const ox_known *k = ox_in_known(c, 1);
  if (!k) return ox_unsupported(c, "the slope must be a constant");
  int x, cl, y, r, bat;
  int64_t d[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &r, d, &bat));
  if (k->rank > r) return ox_error(c, KRT_ERR_SHAPE, "the slope has more axes than the input");
  KRT_TRY(same_layout_input(c, &x, &cl));
  /* The slope over axes 1.. of the input (in its layout): leading ones dropped. */
  int64_t dims[KRT_MAX_RANK];
  int lead = r - k->rank;
  for (int a = 0; a < r; a++) dims[a] = a < lead ? 1 : k->dims[a - lead];
  if (dims[0] != 1) return ox_unsupported(c, "a slope per sample (axis 0) is not supported");
  int alpha;
  if (cl) {
    KRT_TRY(cl_const(c, k, r, "slope", &alpha));
    c->g->values[alpha].rank = r - 1;
    memmove(c->g->values[alpha].dims, c->g->values[alpha].dims + 1, (size_t)(r - 1) * sizeof dims[0]);
  } else {
    float *f = NULL;
    KRT_TRY(ox_known_floats(c, k, &f));
    krt_status *s = ox_const(c, "slope", r - 1, dims + 1, f, &alpha);
    free(f);
    KRT_TRY(s);
  }
  int in[2] = {x, alpha};
  ir_attrs a = ox_attrs();
  KRT_TRY(ox_emit(c, IR_OP_PRELU, "", in, 2, &a, &y));
  return ox_set_output(c, 0, y, cl);
}

/* Gemm's y + beta * C, C (input 2) broadcast against y: *y becomes the sum. */
static krt_status *add_beta_c(ox_ctx *c, float beta, int *y) {
  int cv;
  KRT_TRY(ox_value(c, 2, &cv));
  if (beta != 1.0f) {
    int bv;
    KRT_TRY(ox_const_scalar(c, "beta", beta, &bv));
    KRT_TRY(ox_binary(c, IR_BINARY_MUL, cv, bv, "beta_c", &cv));
  }
  return ox_binary(c, IR_BINARY_ADD, *y, cv, "c", y);
}

static krt_status *convert_gemm(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 3));
  KRT_TRY(ox_require_one_output(c));
  int64_t ta, tb;
  float alpha, beta;
  KRT_TRY(ox_attr_int(c, "transA", 0, &ta));
  KRT_TRY(ox_attr_int(c, "transB", 0, &tb));
  KRT_TRY(ox_attr_float(c, "alpha", 1.0f, &alpha));
  KRT_TRY(ox_attr_float(c, "beta", 1.0f, &beta));
  int x;
  KRT_TRY(ox_value(c, 0, &x));
  if (ox_ir(c, x)->rank != 2) return ox_error(c, KRT_ERR_SHAPE, "A must be a matrix");
  if (ta) {
    ir_attrs p = ox_attrs();
    p.perm[0] = 1;
    KRT_TRY(ox_emit(c, IR_OP_TRANSPOSE, "transA", &x, 1, &p, &x));
  }
  const ox_known *kb = ox_in_known(c, 1);
  if (!kb) { /* two computed matrices: a MatMul, then alpha and beta * C */
    int b, y;
    KRT_TRY(ox_value(c, 1, &b));
    if (ox_ir(c, b)->rank != 2) return ox_error(c, KRT_ERR_SHAPE, "B must be a matrix");
    if (tb) {
      ir_attrs p = ox_attrs();
      p.perm[0] = 1;
      KRT_TRY(ox_emit(c, IR_OP_TRANSPOSE, "transB", &b, 1, &p, &b));
    }
    int in[2] = {x, b};
    ir_attrs none = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_MATMUL, "", in, 2, &none, &y));
    if (alpha != 1.0f) {
      int av;
      KRT_TRY(ox_const_scalar(c, "alpha", alpha, &av));
      KRT_TRY(ox_binary(c, IR_BINARY_MUL, y, av, "alpha", &y));
    }
    if (ox_has_input(c, 2) && beta != 0.0f) KRT_TRY(add_beta_c(c, beta, &y));
    return ox_set_output(c, 0, y, 0);
  }
  if (kb->rank != 2) return ox_error(c, KRT_ERR_SHAPE, "B must be a matrix");
  int64_t K = tb ? kb->dims[1] : kb->dims[0], N = tb ? kb->dims[0] : kb->dims[1];
  float *src = NULL;
  KRT_TRY(ox_known_floats(c, kb, &src));
  float *w = malloc((size_t)(K * N > 0 ? K * N : 1) * sizeof *w);
  if (!w) {
    free(src);
    return krt_error_oom("Gemm");
  }
  for (int64_t i = 0; i < K; i++)
    for (int64_t j = 0; j < N; j++) w[i * N + j] = alpha * (tb ? src[j * K + i] : src[i * N + j]);
  free(src);
  int64_t wd[2] = {K, N};
  int in[3] = {x, -1, -1}, n = 2;
  krt_status *s = ox_const(c, "kernel", 2, wd, w, &in[1]);
  free(w);
  KRT_TRY(s);
  const ox_known *kc = ox_in_known(c, 2);
  int bias_after = ox_has_input(c, 2) && beta != 0.0f;
  if (bias_after && kc && kc->count == N && (kc->rank == 1 || (kc->rank == 2 && kc->dims[0] == 1))) {
    float *bf = NULL;
    KRT_TRY(ox_known_floats(c, kc, &bf));
    for (int64_t j = 0; j < N; j++) bf[j] *= beta;
    s = ox_const(c, "bias", 1, &N, bf, &in[2]);
    free(bf);
    KRT_TRY(s);
    n = 3;
    bias_after = 0;
  }
  int y;
  ir_attrs a = ox_attrs();
  KRT_TRY(ox_emit(c, IR_OP_DENSE, "", in, n, &a, &y));
  if (bias_after) KRT_TRY(add_beta_c(c, beta, &y));
  return ox_set_output(c, 0, y, 0);
}

static krt_status *convert_matmul(ox_ctx *c, int variant) {
  (void)variant;
  KRT_TRY(ox_require_inputs(c, 2, 2));
  KRT_TRY(ox_require_one_output(c));
  int a, b, y, ra, rb, bat;
  int64_t d[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &ra, d, &bat));
  KRT_TRY(ox_in_shape(c, 1, &rb, d, &bat));
  if (ra < 2 || rb < 2)
    return ox_unsupported(c, "a 1-D operand (rank %d x rank %d) is not supported", ra, rb);
  KRT_TRY(ox_value(c, 0, &a));
  KRT_TRY(ox_value(c, 1, &b));
  ir_attrs at = ox_attrs();
  int in[2] = {a, b};
  KRT_TRY(ox_emit(c, ox_in_known(c, 1) && rb == 2 ? IR_OP_DENSE : IR_OP_MATMUL, "", in, 2, &at, &y));
  return ox_set_output(c, 0, y, 0);
}

/* variant: IR_OP_SOFTMAX or IR_OP_LOG_SOFTMAX */
static krt_status *convert_softmax(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, 1));
  KRT_TRY(ox_require_one_output(c));
  int x, y;
  KRT_TRY(ox_value(c, 0, &x));
  int rank = ox_ir(c, x)->rank, axis;
  int64_t ax;
  KRT_TRY(ox_attr_int(c, "axis", c->opset < 13 ? 1 : -1, &ax));
  KRT_TRY(ox_axis(c, ax, rank, &axis));
  ir_attrs a = ox_attrs();
  /* Before opset 13 the input is seen as a matrix [prod(d[:axis]), prod(d[axis:])]: the softmax
   * runs jointly over every axis from `axis` on. From 13 on, over `axis` alone. */
  int last = c->opset < 13 ? rank - 1 : axis;
  for (int k = axis; k <= last; k++) a.axes[a.n_axes++] = k;
  KRT_TRY(ox_emit(c, (ir_op)variant, "", &x, 1, &a, &y));
  return ox_set_output(c, 0, y, 0);
}

/* variant: IR_REDUCE_*, or -1 for ReduceMin (-max(-x)) */
static krt_status *convert_reduce(ox_ctx *c, int variant) {
  KRT_TRY(ox_require_inputs(c, 1, 2));
  KRT_TRY(ox_require_one_output(c));
  int64_t keepdims, noop, axes[KRT_MAX_RANK];
  int n;
  KRT_TRY(ox_attr_int(c, "keepdims", 1, &keepdims));
  KRT_TRY(ox_attr_int(c, "noop_with_empty_axes", 0, &noop));
  int input_since = variant == IR_REDUCE_SUM ? 13 : 18;
  KRT_TRY(ox_ints_attr_or_input(c, "axes", 1, input_since, KRT_MAX_RANK, axes, &n));
  int rank, bat;
  int64_t d[KRT_MAX_RANK];
  KRT_TRY(ox_in_shape(c, 0, &rank, d, &bat));
  int cl = ox_in_is_cl_only(c, 0) && keepdims, x, y;
  KRT_TRY(cl ? ox_value_cl(c, 0, &x) : ox_value(c, 0, &x));
  if (n <= 0 && noop) {
    ir_attrs none = ox_attrs();
    KRT_TRY(ox_emit(c, IR_OP_IDENTITY, "", &x, 1, &none, &y));
    return ox_set_output(c, 0, y, cl);
  }
  int used[KRT_MAX_RANK] = {0}, perm[KRT_MAX_RANK];
  ox_perm_to_cl(rank, perm);
  if (n <= 0)
    for (int k = 0; k < rank; k++) used[k] = 1;
  for (int k = 0; k < n; k++) {
    int axis;
    KRT_TRY(ox_axis(c, axes[k], rank, &axis));
    if (cl)
      for (int p = 0; p < rank; p++)
        if (perm[p] == axis) axis = p, p = rank;
    used[axis] = 1;
  }
  ir_attrs a = ox_attrs();
  a.keepdims = (int)keepdims;
  a.reduce = variant < 0 ? IR_REDUCE_MAX : (ir_reduce_kind)variant;
  for (int k = 0; k < rank; k++)
    if (used[k]) a.axes[a.n_axes++] = k;
  if (variant < 0) KRT_TRY(ox_activation(c, x, IR_ACT_NEG, 0, 0, 0, "negate", &x));
  KRT_TRY(ox_emit(c, IR_OP_REDUCE, "", &x, 1, &a, &y));
  if (variant < 0) KRT_TRY(ox_activation(c, y, IR_ACT_NEG, 0, 0, 0, "min", &y));
  return ox_set_output(c, 0, y, cl);
}

static const char *const alpha_attrs[] = {"alpha", NULL};
static const char *const hsig_attrs[] = {"alpha", "beta", NULL};
static const char *const selu_attrs[] = {"alpha", "gamma", NULL};
static const char *const clip_attrs[] = {"min", "max", NULL};
static const char *const gelu_attrs[] = {"approximate", NULL};
static const char *const mod_attrs[] = {"fmod", NULL};
static const char *const gemm_attrs[] = {"alpha", "beta", "transA", "transB", NULL};
static const char *const axis_attrs[] = {"axis", NULL};
static const char *const reduce_attrs[] = {"axes", "keepdims", "noop_with_empty_axes", NULL};

const ox_op_entry ox_ops_math[] = {
    {"Gemm", convert_gemm, 0, gemm_attrs},
    {"MatMul", convert_matmul, 0, NULL},
    {"Add", convert_binary, IR_BINARY_ADD, NULL},
    {"Sub", convert_binary, IR_BINARY_SUB, NULL},
    {"Mul", convert_binary, IR_BINARY_MUL, NULL},
    {"Div", convert_binary, IR_BINARY_DIV, NULL},
    {"Pow", convert_binary, IR_BINARY_POW, NULL},
    {"Mod", convert_mod, 0, mod_attrs},
    {"Equal", convert_binary, IR_BINARY_EQUAL, NULL},
    {"Greater", convert_binary, IR_BINARY_GREATER, NULL},
    {"Less", convert_binary, IR_BINARY_LESS, NULL},
    {"GreaterOrEqual", convert_binary, IR_BINARY_GREATER_EQUAL, NULL},
    {"LessOrEqual", convert_binary, IR_BINARY_LESS_EQUAL, NULL},
    {"Max", convert_variadic, IR_BINARY_MAX, NULL},
    {"Min", convert_variadic, IR_BINARY_MIN, NULL},
    {"Sum", convert_variadic, IR_BINARY_ADD, NULL},
    {"Mean", convert_variadic, -1, NULL},
    {"Where", convert_where, 0, NULL},
    {"Relu", convert_activation, ACT_RELU, NULL},
    {"LeakyRelu", convert_activation, ACT_LEAKY, alpha_attrs},
    {"Elu", convert_activation, ACT_ELU, alpha_attrs},
    {"ThresholdedRelu", convert_activation, ACT_THRESH, alpha_attrs},
    {"Selu", convert_activation, ACT_SELU, selu_attrs},
    {"HardSigmoid", convert_activation, ACT_HSIG, hsig_attrs},
    {"HardSwish", convert_activation, IR_ACT_HARD_SWISH, NULL},
    {"Sigmoid", convert_activation, IR_ACT_SIGMOID, NULL},
    {"Tanh", convert_activation, IR_ACT_TANH, NULL},
    {"Softplus", convert_activation, IR_ACT_SOFTPLUS, NULL},
    {"Softsign", convert_activation, IR_ACT_SOFTSIGN, NULL},
    {"Mish", convert_activation, IR_ACT_MISH, NULL},
    {"Sqrt", convert_activation, IR_ACT_SQRT, NULL},
    {"Exp", convert_activation, IR_ACT_EXPONENTIAL, NULL},
    {"Log", convert_activation, IR_ACT_LOG, NULL},
    {"Abs", convert_activation, IR_ACT_ABS, NULL},
    {"Neg", convert_activation, IR_ACT_NEG, NULL},
    {"Erf", convert_activation, IR_ACT_ERF, NULL},
    {"Sin", convert_activation, IR_ACT_SIN, NULL},
    {"Cos", convert_activation, IR_ACT_COS, NULL},
    {"Tan", convert_activation, IR_ACT_TAN, NULL},
    {"Asin", convert_activation, IR_ACT_ASIN, NULL},
    {"Acos", convert_activation, IR_ACT_ACOS, NULL},
    {"Atan", convert_activation, IR_ACT_ATAN, NULL},
    {"Sinh", convert_activation, IR_ACT_SINH, NULL},
    {"Cosh", convert_activation, IR_ACT_COSH, NULL},
    {"Asinh", convert_activation, IR_ACT_ASINH, NULL},
    {"Acosh", convert_activation, IR_ACT_ACOSH, NULL},
    {"Atanh", convert_activation, IR_ACT_ATANH, NULL},
    {"Round", convert_activation, IR_ACT_ROUND, NULL},
    {"Floor", convert_activation, IR_ACT_FLOOR, NULL},
    {"Ceil", convert_activation, IR_ACT_CEIL, NULL},
    {"Sign", convert_activation, IR_ACT_SIGN, NULL},
    {"Clip", convert_activation, ACT_CLIP, clip_attrs},
    {"Reciprocal", convert_activation, ACT_RECIP, NULL},
    {"Gelu", convert_activation, ACT_GELU, gelu_attrs},
    {"PRelu", convert_prelu, 0, NULL},
    {"Softmax", convert_softmax, IR_OP_SOFTMAX, axis_attrs},
    {"LogSoftmax", convert_softmax, IR_OP_LOG_SOFTMAX, axis_attrs},
    {"ReduceMean", convert_reduce, IR_REDUCE_MEAN, reduce_attrs},
    {"ReduceSum", convert_reduce, IR_REDUCE_SUM, reduce_attrs},
    {"ReduceMax", convert_reduce, IR_REDUCE_MAX, reduce_attrs},
    {"ReduceMin", convert_reduce, -1, reduce_attrs},
    {NULL, NULL, 0, NULL},
};
