/* Elementwise ops: Activation (and the activation fused into Dense/Conv/Binary), PReLU, and
 * Binary with numpy broadcasting. Activations are evaluated in double and rounded once.
 */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"

/* Keras's fixed SELU constants (keras.activations.selu). */
static const double kSeluAlpha = 1.6732632423543772848170429916717;
static const double kSeluScale = 1.0507009873554804934193349852946;

static double sigmoid(double x) {
  /* exp of a non-positive number only, so neither branch overflows. */
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

/* log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow for large x, exact for small. */
static double softplus(double x) {
  return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

static double clip01(double v) {
  return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

/* The nearest integer, halves to the even one, whatever the floating-point rounding mode
 * (nearbyint would follow the mode). */
static double round_half_even(double x) {
  double r = floor(x), d = x - r; /* 0 <= d < 1, exact for |x| < 2^52 */
  if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
  return isfinite(x) ? r : x;
}

/* f(x) for one activation, exactly as graph.h defines each ir_act_kind. */
static double activation_value(const ir_activation *act, double x) {
  switch (act->kind) {
    case IR_ACT_NONE: return x;
    case IR_ACT_RELU:
      if (x > act->threshold) return fmin(x, act->max_value);
      return act->alpha * (x - act->threshold);
    case IR_ACT_SIGMOID: return sigmoid(x);
    case IR_ACT_HARD_SIGMOID: return clip01(act->alpha * x + act->beta);
    case IR_ACT_TANH: return tanh(x);
    case IR_ACT_SOFTPLUS: return softplus(x);
    case IR_ACT_SOFTSIGN: return x / (1.0 + fabs(x));
    case IR_ACT_ELU: return x > 0 ? x : act->alpha * expm1(x);
    case IR_ACT_SELU: return kSeluScale * (x > 0 ? x : kSeluAlpha * expm1(x));
    /* 1 + erf(z) as erfc(-z): no cancellation for large negative x (as tf.nn.gelu) */
    case IR_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case IR_ACT_GELU_TANH: {
      const double k = 0.79788456080286535588; /* sqrt(2 / pi) */
      return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    case IR_ACT_SWISH: return x * sigmoid(x);
    case IR_ACT_HARD_SWISH: return x * clip01(act->alpha * x + act->beta);
    case IR_ACT_EXPONENTIAL: return exp(x);
    case IR_ACT_MISH: return x * tanh(softplus(x));
    case IR_ACT_THRESHOLDED_RELU: return x > act->alpha ? x : 0.0;
    case IR_ACT_SQRT: return sqrt(x);
    case IR_ACT_RSQRT: return 1.0 / sqrt(x);
    case IR_ACT_ABS: return fabs(x);
    case IR_ACT_LOG: return log(x);
    case IR_ACT_NEG: return -x;
    case IR_ACT_SQUARE: return x * x;
    case IR_ACT_ERF: return erf(x);
    case IR_ACT_CLIP: return isnan(x) ? x : fmin(fmax(x, act->alpha), act->max_value);
    case IR_ACT_SIN: return sin(x);
    case IR_ACT_COS: return cos(x);
    case IR_ACT_TAN: return tan(x);
    case IR_ACT_ASIN: return asin(x);
    case IR_ACT_ACOS: return acos(x);
    case IR_ACT_ATAN: return atan(x);
    case IR_ACT_SINH: return sinh(x);
    case IR_ACT_COSH: return cosh(x);
    case IR_ACT_ASINH: return asinh(x);
    case IR_ACT_ACOSH: return acosh(x);
    case IR_ACT_ATANH: return atanh(x);
    case IR_ACT_LOG1P: return log1p(x);
    case IR_ACT_EXPM1: return expm1(x);
    case IR_ACT_ERFC: return erfc(x);
    /* x is a float, so it is exact in double and its rounding is the float's */
    case IR_ACT_ROUND: return round_half_even(x);
    case IR_ACT_FLOOR: return floor(x);
    case IR_ACT_CEIL: return ceil(x);
    case IR_ACT_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : isnan(x) ? x : 0.0;
  }
  return NAN; /* unreachable: check_node rejects unknown kinds */
}

void cpu_apply_activation(const ir_activation *act, float *y, int64_t count) {
  if (act->kind == IR_ACT_NONE) return;
  for (int64_t i = 0; i < count; i++) y[i] = (float)activation_value(act, y[i]);
}

krt_status *cpu_kernel_activation(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 1, 1));
  int64_t count = cpu_count(&in[0]);
  KRT_TRY(cpu_check_count(n, y, count));
  for (int64_t i = 0; i < count; i++)
    y->data[i] = (float)activation_value(&n->attrs.act, in[0].data[i]);
  return NULL;
}

/* Visits y's elements in order; for each, the offsets into a and b under broadcasting (strides
 * from cpu_broadcast_strides). Calls fn on each innermost row: y[0..len) from a and b with
 * element strides sa and sb. */
typedef void (*row_fn)(const ir_node *n, float *y, const float *a, int64_t sa, const float *b,
                       int64_t sb, int64_t len);

static void broadcast_rows(const ir_node *n, const cpu_tensor *y, const float *a,
                           const int64_t *a_strides, const float *b, const int64_t *b_strides,
                           row_fn fn) {
  int rank = y->rank;
  if (rank == 0) {
    fn(n, y->data, a, 0, b, 0, 1);
    return;
  }
  int64_t len = y->dims[rank - 1];
  int64_t rows = len ? cpu_count(y) / len : 0;
  int64_t index[KRT_MAX_RANK] = {0};
  for (int64_t r = 0; r < rows; r++) {
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < rank - 1; i++) {
      oa += index[i] * a_strides[i];
      ob += index[i] * b_strides[i];
    }
    fn(n, y->data + r * len, a + oa, a_strides[rank - 1], b + ob, b_strides[rank - 1], len);
    for (int i = rank - 2; i >= 0; i--) {
      if (++index[i] < y->dims[i]) break;
      index[i] = 0;
    }
  }
}

static void prelu_row(const ir_node *n, float *y, const float *x, int64_t sx, const float *alpha,
                      int64_t sa, int64_t len) {
  (void)n;
  for (int64_t i = 0; i < len; i++) {
    float v = x[i * sx];
    y[i] = v >= 0 ? v : alpha[i * sa] * v;
  }
}

/* x[N, d...], alpha[a...] numpy-broadcast to x's shape -> x >= 0 ? x : alpha * x. */
krt_status *cpu_kernel_prelu(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 2, 2));
  const cpu_tensor *x = &in[0], *alpha = &in[1];
  int64_t xs[KRT_MAX_RANK], as[KRT_MAX_RANK];
  if (y->rank != x->rank || memcmp(y->dims, x->dims, (size_t)x->rank * sizeof *x->dims) ||
      !cpu_broadcast_strides(x, y, xs) || !cpu_broadcast_strides(alpha, y, as))
    return cpu_node_error(n, KRT_ERR_INTERNAL,
                          "alpha of rank %d does not broadcast to the input of rank %d",
                          alpha->rank, x->rank);
  broadcast_rows(n, y, x->data, xs, alpha->data, as, prelu_row);
  return NULL;
}

static float binary_value(ir_binary_kind kind, float a, float b) {
  switch (kind) {
    case IR_BINARY_ADD: return a + b;
    case IR_BINARY_SUB: return a - b;
    case IR_BINARY_MUL: return a * b;
    case IR_BINARY_DIV: return a / b;
    case IR_BINARY_MAX: return isnan(a) || a > b ? a : b;
    case IR_BINARY_MIN: return isnan(a) || a < b ? a : b;
    case IR_BINARY_POW: return powf(a, b);
    case IR_BINARY_GREATER: return a > b ? 1.0f : 0.0f;
    case IR_BINARY_GREATER_EQUAL: return a >= b ? 1.0f : 0.0f;
    case IR_BINARY_LESS: return a < b ? 1.0f : 0.0f;
    case IR_BINARY_LESS_EQUAL: return a <= b ? 1.0f : 0.0f;
    case IR_BINARY_EQUAL: return a == b ? 1.0f : 0.0f;
    case IR_BINARY_NOT_EQUAL: return a != b ? 1.0f : 0.0f;
    case IR_BINARY_WHERE_TRUE: return b != 0.0f ? a : 0.0f;
    case IR_BINARY_WHERE_FALSE: return b != 0.0f ? 0.0f : a;
    case IR_BINARY_FLOOR_DIV: return floorf(a / b);
    case IR_BINARY_FLOOR_MOD: {
      float m = fmodf(a, b); /* exact */
      return m != 0.0f && ((m < 0.0f) != (b < 0.0f)) ? m + b : m;
    }
    case IR_BINARY_TRUNC_MOD: return fmodf(a, b);
    case IR_BINARY_ATAN2: return (float)atan2((double)a, (double)b);
  }
  return NAN;
}

static void binary_row(const ir_node *n, float *y, const float *a, int64_t sa, const float *b,
                       int64_t sb, int64_t len) {
  ir_binary_kind kind = n->attrs.binary;
  for (int64_t i = 0; i < len; i++) y[i] = binary_value(kind, a[i * sa], b[i * sb]);
}

/* a, b -> a OP b, both numpy-broadcast to y's shape, then the fused activation. */
krt_status *cpu_kernel_binary(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 2, 2));
  if ((unsigned)n->attrs.binary > IR_BINARY_LAST)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "unknown binary kind %d", (int)n->attrs.binary);
  int64_t as[KRT_MAX_RANK], bs[KRT_MAX_RANK];
  int rank = in[0].rank > in[1].rank ? in[0].rank : in[1].rank;
  if (y->rank != rank || !cpu_broadcast_strides(&in[0], y, as) ||
      !cpu_broadcast_strides(&in[1], y, bs))
    return cpu_node_error(n, KRT_ERR_INTERNAL,
                          "inputs of rank %d and %d do not broadcast to the "
                          "output of rank %d",
                          in[0].rank, in[1].rank, y->rank);
  for (int i = 0; i < rank; i++) { /* y's dims must be the broadcast of a's and b's */
    int64_t da = i >= rank - in[0].rank ? in[0].dims[i - (rank - in[0].rank)] : 1;
    int64_t db = i >= rank - in[1].rank ? in[1].dims[i - (rank - in[1].rank)] : 1;
    if (y->dims[i] != (da == 1 ? db : da))
      return cpu_node_error(n, KRT_ERR_INTERNAL, "output axis %d has %lld, inputs %lld and %lld", i,
                            (long long)y->dims[i], (long long)da, (long long)db);
  }
  broadcast_rows(n, y, in[0].data, as, in[1].data, bs, binary_row);
  cpu_apply_activation(&n->attrs.act, y->data, cpu_count(y));
  return NULL;
}
