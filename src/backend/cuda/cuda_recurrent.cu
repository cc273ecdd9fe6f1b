/* Recurrent (SimpleRNN, LSTM, GRU; ops.def) as one persistent kernel: one thread block per
 * sample walks all T steps, with the state in shared memory, so a whole layer is one launch and
 * needs no workspace. The steps of a sample depend on each other; the parallelism is across the
 * G*H gate columns of a step (threads) and across samples (blocks).
 *
 * Layouts (ops.def): x[N, T, F], W[F, G*H], R[H, G*H] row-major with gate block k in columns
 * k*H .. k*H+H-1 (LSTM i f c o, GRU z r h), b[B] (GRU_RESET_AFTER: input bias [3H] then recurrent
 * bias [3H]), h0 and c0 [N, H], y [N, T, H] (return_sequences) or [N, H], then the final
 * states h_T and (LSTM) c_T [N, H] when the node has those outputs (Keras return_state). A mask
 * m[N, T] (rnn_masked, the last input) skips the steps where it is 0: the state stays, the step
 * outputs the previous step's output (zeros before the first; zeros with rnn_zero_masked_output).
 *
 * Per step s (t = s, or T-1-s with go_backwards), in shared memory:
 *   xw[q] = b[q] + x_t . W[:, q]            for every gate column q < G*H
 *   hr[q] = (b_rec[q]) + h . R[:, q]        the recurrent product (GRU reset-before: gates z, r
 *                                           only; its candidate column needs r first)
 *   then each thread updates the units j it owns: h[j], c[j] from xw, hr (ops.def's equations).
 * Column q is read with consecutive threads on consecutive q, so every row of W and R is read
 * coalesced. Products accumulate in float32 (fmaf) whatever the storage dtype.
 */
#include "backend/cuda/cuda_kernel_util.cuh"

#define RNN_THREADS 256

static __host__ __device__ int rnn_gates(ir_rnn_cell cell) {
  return cell == IR_RNN_SIMPLE ? 1 : cell == IR_RNN_LSTM ? 4 : 3;
}

/* Shared floats of one block: h, c, rh [H], xw, hr [G*H] and, masked, out [H]. */
static __host__ __device__ int64_t rnn_shared_floats(ir_rnn_cell cell, int64_t units, int masked) {
  return (3 + (masked != 0)) * units + 2 * (int64_t)rnn_gates(cell) * units;
}

extern "C" size_t cuda_recurrent_shared_bytes(ir_rnn_cell cell, int64_t units, int masked) {
  return (size_t)rnn_shared_floats(cell, units, masked) * sizeof(float);
}

typedef struct rnn_params {
  ir_rnn_cell cell;
  ir_activation act, gate_act;
  int64_t steps, features, units;
  int go_backwards, return_sequences, reverse_output, has_h0, has_c0, zero_masked_output;
} rnn_params;

/* acc + sum_k v[k] * m[k, col] for a row-major m [rows, stride]; v in shared memory. */
template <typename T>
static __device__ __forceinline__ float dot_column(const float *v, const T *__restrict__ m,
                                                   int64_t rows, int64_t stride, int64_t col,
                                                   float acc) {
  for (int64_t k = 0; k < rows; k++) acc = fmaf(v[k], ld(m + k * stride + col), acc);
  return acc;
}

template <typename T>
static __device__ __forceinline__ float dot_row(const T *__restrict__ x, const T *__restrict__ m,
                                                int64_t rows, int64_t stride, int64_t col,
                                                float acc) {
  for (int64_t k = 0; k < rows; k++) acc = fmaf(ld(x + k), ld(m + k * stride + col), acc);
  return acc;
}

template <typename T>
__global__ void recurrent_kernel(const T *__restrict__ x, const T *__restrict__ w,
                                 const T *__restrict__ r, const T *__restrict__ b,
                                 const T *__restrict__ h0, const T *__restrict__ c0,
                                 const T *__restrict__ mask, T *__restrict__ y,
                                 T *__restrict__ h_last, T *__restrict__ c_last, int64_t batch,
                                 rnn_params p) {
  extern __shared__ float shared[];
  const int64_t hn = p.units, gh = (int64_t)rnn_gates(p.cell) * hn, f = p.features;
  float *h = shared, *c = h + hn, *rh = c + hn, *xw = rh + hn, *hr = xw + gh;
  float *out = mask ? hr + gh : NULL; /* the last output, for masked steps */
  const int reset_after = p.cell == IR_RNN_GRU_RESET_AFTER;
  const int reset_before = p.cell == IR_RNN_GRU;
  for (int64_t n = blockIdx.x; n < batch; n += gridDim.x) {
    for (int64_t j = threadIdx.x; j < hn; j += blockDim.x) {
      h[j] = p.has_h0 ? ld(h0 + n * hn + j) : 0.0f;
      c[j] = p.has_c0 ? ld(c0 + n * hn + j) : 0.0f;
      if (out) out[j] = 0.0f;
    }
    __syncthreads();
    for (int64_t s = 0; s < p.steps; s++) {
      int64_t t = p.go_backwards ? p.steps - 1 - s : s;
      const T *xt = x + (n * p.steps + t) * f;
      /* a masked step: the state stays; the output is the previous one, or zeros (the same for
       * every thread of the block, so the branch does not split __syncthreads) */
      if (mask && ld(mask + n * p.steps + t) == 0.0f) {
        for (int64_t j = threadIdx.x; j < hn; j += blockDim.x) {
          if (p.zero_masked_output) out[j] = 0.0f;
          if (p.return_sequences) {
            int64_t at = p.reverse_output ? p.steps - 1 - s : s;
            st(y + (n * p.steps + at) * hn + j, out[j]);
          }
        }
        __syncthreads();
        continue;
      }
      /* 1. the input and recurrent products of every gate column */
      for (int64_t q = threadIdx.x; q < gh; q += blockDim.x) {
        xw[q] = dot_row(xt, w, f, gh, q, ld(b + q));
        int candidate = q >= 2 * hn;
        if (reset_before && candidate) continue; /* needs r*h: step 2 */
        hr[q] = dot_column(h, r, hn, gh, q, reset_after ? ld(b + gh + q) : 0.0f);
      }
      __syncthreads();
      /* 2. GRU reset-before: the candidate's product (r*h) R_h */
      if (reset_before) {
        for (int64_t j = threadIdx.x; j < hn; j += blockDim.x)
          rh[j] = act_eval(p.gate_act, xw[hn + j] + hr[hn + j]) * h[j];
        __syncthreads();
        for (int64_t j = threadIdx.x; j < hn; j += blockDim.x)
          hr[2 * hn + j] = dot_column(rh, r, hn, gh, 2 * hn + j, 0.0f);
        __syncthreads();
      }
      /* 3. the new state, unit by unit (each thread only touches its own units) */
      for (int64_t j = threadIdx.x; j < hn; j += blockDim.x) {
        float hj;
        if (p.cell == IR_RNN_SIMPLE) {
          hj = act_eval(p.act, xw[j] + hr[j]);
        } else if (p.cell == IR_RNN_LSTM) {
          float i = act_eval(p.gate_act, xw[j] + hr[j]);
          float fg = act_eval(p.gate_act, xw[hn + j] + hr[hn + j]);
          float cc = act_eval(p.act, xw[2 * hn + j] + hr[2 * hn + j]);
          float o = act_eval(p.gate_act, xw[3 * hn + j] + hr[3 * hn + j]);
          c[j] = fg * c[j] + i * cc;
          hj = o * act_eval(p.act, c[j]);
        } else {
          float z = act_eval(p.gate_act, xw[j] + hr[j]);
          float candidate;
          if (reset_after) {
            float rg = act_eval(p.gate_act, xw[hn + j] + hr[hn + j]);
            candidate = act_eval(p.act, xw[2 * hn + j] + rg * hr[2 * hn + j]);
          } else {
            candidate = act_eval(p.act, xw[2 * hn + j] + hr[2 * hn + j]);
          }
          hj = z * h[j] + (1.0f - z) * candidate;
        }
        h[j] = hj;
        if (out) out[j] = hj;
        if (p.return_sequences) {
          int64_t at = p.reverse_output ? p.steps - 1 - s : s;
          st(y + (n * p.steps + at) * hn + j, hj);
        }
      }
      __syncthreads();
    }
    for (int64_t j = threadIdx.x; j < hn; j += blockDim.x) {
      /* T = 0 gives the initial state; masked, the last step's output */
      if (!p.return_sequences) st(y + n * hn + j, out && p.steps > 0 ? out[j] : h[j]);
      if (h_last) st(h_last + n * hn + j, h[j]);
      if (c_last) st(c_last + n * hn + j, c[j]);
    }
    __syncthreads(); /* the next sample reuses the shared state */
  }
}

extern "C" krt_status *cuda_launch_recurrent(const ir_node *n, const cuda_tensor *in, int n_in,
                                             cuda_tensor *y, const cuda_launch *launch) {
  KRT_TRY(cuda_check_inputs(n, n_in, 4, 7));
  KRT_TRY(cuda_check_dtypes(n, in, n_in, y));
  const ir_attrs *a = &n->attrs;
  const cuda_tensor *mask = a->rnn_masked ? &in[--n_in] : NULL; /* n_in: inputs before it */
  if (n_in < 4) return cuda_node_error(n, KRT_ERR_INTERNAL, "has no input left for its mask");
  const cuda_tensor *x = &in[0];
  int64_t hn = a->rnn_units, g = rnn_gates(a->rnn_cell);
  if (x->rank != 3 || in[1].rank != 2 || in[2].rank != 2 || hn < 1 || in[1].dims[0] != x->dims[2] ||
      in[1].dims[1] != g * hn || in[2].dims[0] != hn || in[2].dims[1] != g * hn)
    return cuda_node_error(n, KRT_ERR_INTERNAL, "inputs do not match %lld units", (long long)hn);
  int64_t batch = x->dims[0], steps = x->dims[1];
  if (mask && (mask->rank != 2 || mask->dims[0] != batch || mask->dims[1] != steps))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "the mask is not [%lld, %lld]", (long long)batch,
                           (long long)steps);
  for (int i = 4; i < n_in; i++)
    if (in[i].rank != 2 || in[i].dims[0] != batch || in[i].dims[1] != hn)
      return cuda_node_error(n, KRT_ERR_INTERNAL, "initial state %d is not [%lld, %lld]", i - 4,
                             (long long)batch, (long long)hn);
  if (n->n_outputs > 3 || (n->n_outputs == 3 && a->rnn_cell != IR_RNN_LSTM))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "has %d outputs", n->n_outputs);
  for (int o = 0; o < n->n_outputs; o++) {
    if (o > 0) {
      KRT_TRY(cuda_check_dtypes(n, in, n_in, &y[o]));
      if (y[o].rank != 2 || y[o].dims[0] != batch || y[o].dims[1] != hn)
        return cuda_node_error(n, KRT_ERR_INTERNAL, "final state output %d is not [%lld, %lld]", o,
                               (long long)batch, (long long)hn);
    }
    if (y[o].row_pitch)
      return cuda_node_error(n, KRT_ERR_INTERNAL,
                             "Recurrent writes its outputs dense, not at a pitch");
  }
  if (batch == 0) return NULL;
  size_t shared = cuda_recurrent_shared_bytes(a->rnn_cell, hn, a->rnn_masked);
  if (shared > CUDA_RECURRENT_MAX_SHARED)
    return cuda_node_error(n, KRT_ERR_UNSUPPORTED, "%lld units need %zu bytes of shared memory",
                           (long long)hn, shared);
  rnn_params p;
  memset(&p, 0, sizeof p);
  p.cell = a->rnn_cell;
  p.act = a->rnn_act;
  p.gate_act = a->rnn_gate_act;
  p.steps = steps;
  p.features = x->dims[2];
  p.units = hn;
  p.go_backwards = a->rnn_go_backwards;
  p.return_sequences = a->rnn_return_sequences;
  p.reverse_output = a->rnn_reverse_output;
  p.has_h0 = n_in > 4;
  p.has_c0 = n_in > 5;
  p.zero_masked_output = a->rnn_zero_masked_output;
  unsigned blocks = (unsigned)(batch < CUDA_MAX_BLOCKS ? batch : CUDA_MAX_BLOCKS);
  CUDA_DISPATCH(y->dtype, {
    recurrent_kernel<T><<<blocks, RNN_THREADS, shared, launch->stream>>>(
        (const T *)x->data, (const T *)in[1].data, (const T *)in[2].data, (const T *)in[3].data,
        n_in > 4 ? (const T *)in[4].data : NULL, n_in > 5 ? (const T *)in[5].data : NULL,
        mask ? (const T *)mask->data : NULL, (T *)y->data, n->n_outputs > 1 ? (T *)y[1].data : NULL,
        n->n_outputs > 2 ? (T *)y[2].data : NULL, batch, p);
  });
  return cuda_check_launch(n);
}
