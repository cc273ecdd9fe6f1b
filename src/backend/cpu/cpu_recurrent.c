/* The CPU reference of Recurrent (SimpleRNN, LSTM, GRU): one sample and one time step at a time,
 * exactly the equations of ops.def, products accumulated in double and rounded to float32 once
 * per gate value before its activation.
 *
 * Layouts (ops.def): x[N, T, F]; W[F, G*H] and R[H, G*H] row-major with gate block k in columns
 * k*H .. k*H+H-1 (Keras's order: LSTM i f c o, GRU z r h); b[B]; h0, c0 [N, H]; y [N, T, H] or
 * [N, H], then the final states h_T and (LSTM) c_T [N, H] when the node has those outputs.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"

/* acc[j] += sum_k v[k] * m[k, col0 + j] for j < n_cols; m is [rows, stride] row-major. */
static void add_vector_times_matrix(const float *v, int64_t rows, const float *m, int64_t stride,
                                    int64_t col0, int64_t n_cols, double *acc) {
  for (int64_t k = 0; k < rows; k++) {
    double vk = v[k];
    const float *row = m + k * stride + col0;
    for (int64_t j = 0; j < n_cols; j++) acc[j] += vk * row[j];
  }
}

/* Scratch of one sample: the state, the pre-activations and the double accumulators. */
typedef struct rnn_scratch {
  float *h, *c;  /* [H] each */
  float *gate;   /* [G*H] pre-activations, then activated in place */
  float *rh;     /* [H] r*h (GRU) or hr_h + b_rec_h (GRU_RESET_AFTER) */
  double *acc_x; /* [G*H] x_s W + input bias */
  double *acc_h; /* [G*H] h R (+ recurrent bias) */
} rnn_scratch;

static krt_status *scratch_alloc(const ir_node *n, int64_t h, int64_t g, rnn_scratch *s) {
  memset(s, 0, sizeof *s);
  s->h = calloc((size_t)h, sizeof *s->h);
  s->c = calloc((size_t)h, sizeof *s->c);
  s->gate = calloc((size_t)(g * h), sizeof *s->gate);
  s->rh = calloc((size_t)h, sizeof *s->rh);
  s->acc_x = calloc((size_t)(g * h), sizeof *s->acc_x);
  s->acc_h = calloc((size_t)(g * h), sizeof *s->acc_h);
  if (s->h && s->c && s->gate && s->rh && s->acc_x && s->acc_h) return NULL;
  return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate the state of %lld units",
                        (long long)h);
}

static void scratch_free(rnn_scratch *s) {
  free(s->h), free(s->c), free(s->gate), free(s->rh), free(s->acc_x), free(s->acc_h);
}

/* One step of one sample: x_s [F] in, s->h (and s->c) updated. */
static void rnn_step(const ir_attrs *a, const float *x_s, int64_t f, const float *w, const float *r,
                     const float *b, int64_t h, rnn_scratch *s) {
  int64_t g = a->rnn_cell == IR_RNN_SIMPLE ? 1 : a->rnn_cell == IR_RNN_LSTM ? 4 : 3;
  int64_t gh = g * h;
  for (int64_t j = 0; j < gh; j++) s->acc_x[j] = b[j], s->acc_h[j] = 0.0;
  add_vector_times_matrix(x_s, f, w, gh, 0, gh, s->acc_x);
  switch (a->rnn_cell) {
    case IR_RNN_SIMPLE:
      add_vector_times_matrix(s->h, h, r, gh, 0, h, s->acc_h);
      for (int64_t j = 0; j < h; j++) s->h[j] = (float)(s->acc_x[j] + s->acc_h[j]);
      cpu_apply_activation(&a->rnn_act, s->h, h);
      break;
    case IR_RNN_LSTM: {
      add_vector_times_matrix(s->h, h, r, gh, 0, gh, s->acc_h);
      for (int64_t j = 0; j < gh; j++) s->gate[j] = (float)(s->acc_x[j] + s->acc_h[j]);
      float *i = s->gate, *fg = s->gate + h, *cc = s->gate + 2 * h, *o = s->gate + 3 * h;
      cpu_apply_activation(&a->rnn_gate_act, i, 2 * h); /* i and f */
      cpu_apply_activation(&a->rnn_act, cc, h);
      cpu_apply_activation(&a->rnn_gate_act, o, h);
      for (int64_t j = 0; j < h; j++) s->c[j] = fg[j] * s->c[j] + i[j] * cc[j];
      memcpy(s->h, s->c, (size_t)h * sizeof *s->h);
      cpu_apply_activation(&a->rnn_act, s->h, h);
      for (int64_t j = 0; j < h; j++) s->h[j] *= o[j];
      break;
    }
    case IR_RNN_GRU:
    case IR_RNN_GRU_RESET_AFTER: {
      float *z = s->gate, *rg = s->gate + h, *hh = s->gate + 2 * h;
      if (a->rnn_cell == IR_RNN_GRU_RESET_AFTER) {
        for (int64_t j = 0; j < gh; j++) s->acc_h[j] = b[gh + j]; /* the recurrent bias */
        add_vector_times_matrix(s->h, h, r, gh, 0, gh, s->acc_h);
      } else {
        add_vector_times_matrix(s->h, h, r, gh, 0, 2 * h, s->acc_h); /* z and r only */
      }
      for (int64_t j = 0; j < 2 * h; j++) s->gate[j] = (float)(s->acc_x[j] + s->acc_h[j]);
      cpu_apply_activation(&a->rnn_gate_act, z, 2 * h); /* z and r */
      if (a->rnn_cell == IR_RNN_GRU_RESET_AFTER) {
        for (int64_t j = 0; j < h; j++)
          hh[j] = (float)(s->acc_x[2 * h + j] + (double)(rg[j] * (float)s->acc_h[2 * h + j]));
      } else {
        for (int64_t j = 0; j < h; j++) s->rh[j] = rg[j] * s->h[j];
        double *acc = s->acc_h + 2 * h;
        for (int64_t j = 0; j < h; j++) acc[j] = 0.0;
        add_vector_times_matrix(s->rh, h, r, gh, 2 * h, h, acc);
        for (int64_t j = 0; j < h; j++) hh[j] = (float)(s->acc_x[2 * h + j] + acc[j]);
      }
      cpu_apply_activation(&a->rnn_act, hh, h);
      for (int64_t j = 0; j < h; j++) s->h[j] = z[j] * s->h[j] + (1.0f - z[j]) * hh[j];
      break;
    }
  }
}

/* x[N, T, F], W[F, G*H], R[H, G*H], b[B], h0[N, H]?, c0[N, H]? -> y[0]: [N, T, H] or [N, H];
 * y[1] h_T [N, H]?, y[2] c_T [N, H]? (ops.def) */
krt_status *cpu_kernel_recurrent(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y) {
  KRT_TRY(cpu_check_inputs(n, n_in, 4, 7));
  const ir_attrs *a = &n->attrs;
  const cpu_tensor *mask = a->rnn_masked ? &in[--n_in] : NULL; /* n_in: inputs before it */
  const cpu_tensor *x = &in[0];
  int64_t h = a->rnn_units, g = a->rnn_cell == IR_RNN_SIMPLE ? 1
                                : a->rnn_cell == IR_RNN_LSTM ? 4
                                                             : 3;
  if (x->rank != 3 || in[1].rank != 2 || in[2].rank != 2 || h < 1 || in[1].dims[1] != g * h ||
      in[2].dims[0] != h || in[2].dims[1] != g * h || in[1].dims[0] != x->dims[2])
    return cpu_node_error(n, KRT_ERR_INTERNAL, "inputs do not match %lld units", (long long)h);
  int64_t batch = x->dims[0], steps = x->dims[1], f = x->dims[2];
  for (int i = 4; i < n_in; i++)
    if (in[i].rank != 2 || in[i].dims[0] != batch || in[i].dims[1] != h)
      return cpu_node_error(n, KRT_ERR_INTERNAL, "initial state %d is not [%lld, %lld]", i - 4,
                            (long long)batch, (long long)h);
  if (n_in < 4 || (mask && (mask->rank != 2 || mask->dims[0] != batch || mask->dims[1] != steps)))
    return cpu_node_error(n, KRT_ERR_INTERNAL, "the mask is not [%lld, %lld]", (long long)batch,
                          (long long)steps);
  KRT_TRY(cpu_check_count(n, y, batch * (a->rnn_return_sequences ? steps : 1) * h));
  if (n->n_outputs > 3 || (n->n_outputs == 3 && a->rnn_cell != IR_RNN_LSTM))
    return cpu_node_error(n, KRT_ERR_INTERNAL, "has %d outputs", n->n_outputs);
  for (int o = 1; o < n->n_outputs; o++) KRT_TRY(cpu_check_count(n, &y[o], batch * h));
  rnn_scratch s;
  krt_status *st = scratch_alloc(n, h, g, &s);
  /* masked steps output the previous step's output: zeros before the first, else that step's h
   * (the state a masked step keeps), so the last output needs no buffer of its own */
  float *out = NULL;
  if (!st && !(out = calloc((size_t)h, sizeof *out)))
    st = cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate the output of %lld units",
                        (long long)h);
  for (int64_t b = 0; !st && b < batch; b++) {
    if (n_in > 4)
      memcpy(s.h, in[4].data + b * h, (size_t)h * sizeof *s.h);
    else
      memset(s.h, 0, (size_t)h * sizeof *s.h);
    if (n_in > 5)
      memcpy(s.c, in[5].data + b * h, (size_t)h * sizeof *s.c);
    else
      memset(s.c, 0, (size_t)h * sizeof *s.c);
    memset(out, 0, (size_t)h * sizeof *out);
    for (int64_t step = 0; step < steps; step++) {
      int64_t t = a->rnn_go_backwards ? steps - 1 - step : step;
      if (!mask || mask->data[b * steps + t] != 0.0f) {
        rnn_step(a, x->data + (b * steps + t) * f, f, in[1].data, in[2].data, in[3].data, h, &s);
        memcpy(out, s.h, (size_t)h * sizeof *out);
      } else if (a->rnn_zero_masked_output) {
        memset(out, 0, (size_t)h * sizeof *out);
      } /* else: the previous step's output, already in out */
      if (a->rnn_return_sequences) {
        int64_t at = a->rnn_reverse_output ? steps - 1 - step : step;
        memcpy(y->data + (b * steps + at) * h, mask ? out : s.h, (size_t)h * sizeof *s.h);
      }
    }
    /* T = 0 gives the initial state, as Keras does; masked, the last step's output */
    if (!a->rnn_return_sequences)
      memcpy(y->data + b * h, mask && steps > 0 ? out : s.h, (size_t)h * sizeof *s.h);
    if (n->n_outputs > 1) memcpy(y[1].data + b * h, s.h, (size_t)h * sizeof *s.h);
    if (n->n_outputs > 2) memcpy(y[2].data + b * h, s.c, (size_t)h * sizeof *s.c);
  }
  scratch_free(&s);
  free(out);
  return st;
}
