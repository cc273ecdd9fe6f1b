/* Depthwise convolution, NHWC, with the fused epilogue (see cuda_depthwise.h for shapes and
 * variants). One spatial axis runs as H = 1.
 *
 * A thread owns V adjacent output channels (V = 1, or 16 bytes of storage) at TILE neighbouring
 * positions along W: per kernel tap it loads the weights of its channels once and reuses them
 * for its TILE outputs; adjacent threads own adjacent channel runs, so loads of x, w and y are
 * coalesced. Sums accumulate in float32.
 */
#include "backend/cuda/cuda_kernel_util.cuh"

#include "backend/cuda/cuda_depthwise.h"

typedef struct dw_geom {
  int64_t batch, in_h, in_w, ci, out_h, out_w, co, mult;
  int64_t k_h, k_w, s_h, s_w, d_h, d_w, p_h, p_w;
} dw_geom;

/* X_VEC: x can be read 16 bytes at a time (multiplier 1, aligned) */
template <typename T, int V, int TILE, bool X_VEC>
__global__ void depthwise_kernel(const T *__restrict__ x, const T *__restrict__ w,
                                 const T *__restrict__ bias, const T *__restrict__ residual,
                                 T *__restrict__ y, dw_geom g, ir_activation act) {
  const int64_t groups = g.co / V, tiles = (g.out_w + TILE - 1) / TILE;
  const int64_t count = g.batch * g.out_h * tiles * groups;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
    int64_t rest = i;
    const int64_t co0 = (rest % groups) * V;
    rest /= groups;
    const int64_t ow0 = (rest % tiles) * TILE;
    rest /= tiles;
    const int64_t oh = rest % g.out_h, b = rest / g.out_h;
    /* output channel co0 + k reads input channel ci0 + ci_step[k] (division once, not per tap) */
    const int64_t ci0 = co0 / g.mult;
    int ci_step[V];
    {
      int64_t r = co0 - ci0 * g.mult;
      int c = 0;
#pragma unroll
      for (int k = 0; k < V; k++) {
        ci_step[k] = c;
        if (++r == g.mult) r = 0, c++;
      }
    }
    float acc[TILE][V];
#pragma unroll
    for (int t = 0; t < TILE; t++)
#pragma unroll
      for (int k = 0; k < V; k++) acc[t][k] = 0.0f;
    for (int64_t kh = 0; kh < g.k_h; kh++) {
      int64_t ih = oh * g.s_h - g.p_h + kh * g.d_h;
      if (ih < 0 || ih >= g.in_h) continue;
      const T *xrow = x + (b * g.in_h + ih) * g.in_w * g.ci;
      for (int64_t kw = 0; kw < g.k_w; kw++) {
        const T *wp = w + (kh * g.k_w + kw) * g.co + co0;
        float wv[V];
        if (V > 1)
          vec16<T>::load(wp, wv);
        else
          wv[0] = ld(wp);
#pragma unroll
        for (int t = 0; t < TILE; t++) {
          int64_t iw = (ow0 + t) * g.s_w - g.p_w + kw * g.d_w;
          if (ow0 + t >= g.out_w || iw < 0 || iw >= g.in_w) continue;
          const T *xp = xrow + iw * g.ci;
          float xv[V];
          if (X_VEC)
            vec16<T>::load(xp + co0, xv);
          else
#pragma unroll
            for (int k = 0; k < V; k++) xv[k] = ld(xp + ci0 + ci_step[k]);
#pragma unroll
          for (int k = 0; k < V; k++) acc[t][k] = fmaf(xv[k], wv[k], acc[t][k]);
        }
      }
    }
    float bv[V];
#pragma unroll
    for (int k = 0; k < V; k++) bv[k] = 0.0f;
    if (bias) {
      if (V > 1)
        vec16<T>::load(bias + co0, bv);
      else
        bv[0] = ld(bias + co0);
    }
#pragma unroll
    for (int t = 0; t < TILE; t++) {
      if (ow0 + t >= g.out_w) break;
      int64_t at = ((b * g.out_h + oh) * g.out_w + ow0 + t) * g.co + co0;
      float v[V], r[V];
#pragma unroll
      for (int k = 0; k < V; k++) v[k] = acc[t][k] + bv[k];
      if (residual) {
        if (V > 1)
          vec16<T>::load(residual + at, r);
        else
          r[0] = ld(residual + at);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] += r[k];
      }
#pragma unroll
      for (int k = 0; k < V; k++) v[k] = act_eval(act, v[k]);
      if (V > 1)
        vec16<T>::store(y + at, v);
      else
        st(y + at, v[0]);
    }
  }
}

extern "C" int cuda_depthwise_variants(void) {
  return 4;
}

/* Fills g from the node and the tensors; checks that the node is a depthwise Conv. */
static krt_status *dw_geometry(const ir_node *n, const cuda_tensor *x, const cuda_tensor *y,
                               dw_geom *g) {
  const ir_attrs *a = &n->attrs;
  int sp = a->spatial;
  if (n->op != IR_OP_CONV || (sp != 1 && sp != 2))
    return cuda_node_error(n, KRT_ERR_UNSUPPORTED,
                           "the depthwise kernel takes a Conv with 1 or "
                           "2 spatial axes (spatial=%d)",
                           sp);
  if (x->rank != sp + 2 || y->rank != sp + 2 || x->dims[0] != y->dims[0])
    return cuda_node_error(n, KRT_ERR_INTERNAL,
                           "input rank %d, output rank %d for %d spatial "
                           "axes",
                           x->rank, y->rank, sp);
  g->batch = x->dims[0];
  g->ci = x->dims[sp + 1];
  g->co = y->dims[sp + 1];
  if (a->groups != g->ci || g->ci < 1 || g->co % g->ci)
    return cuda_node_error(n, KRT_ERR_UNSUPPORTED,
                           "not depthwise: groups %d, %lld -> %lld "
                           "channels",
                           a->groups, (long long)g->ci, (long long)g->co);
  g->mult = g->co / g->ci;
  int64_t in[2] = {1, 1}, out[2] = {1, 1}, k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1};
  int64_t pb[2] = {0, 0};
  for (int i = 0; i < sp; i++) {
    int at = i + (2 - sp);
    in[at] = x->dims[1 + i];
    out[at] = y->dims[1 + i];
    k[at] = a->kernel[i];
    s[at] = a->stride[i];
    d[at] = a->dilation[i] > 0 ? a->dilation[i] : 1;
    pb[at] = a->pad_begin[i];
    int64_t span = in[at] + a->pad_begin[i] + a->pad_end[i] - d[at] * (k[at] - 1) - 1;
    if (k[at] < 1 || s[at] < 1 || pb[at] < 0 || span < 0 || out[at] != span / s[at] + 1)
      return cuda_node_error(n, KRT_ERR_INTERNAL,
                             "spatial axis %d: output %lld does not follow "
                             "from input %lld, kernel %lld, stride %lld, dilation %lld, pads "
                             "%lld/%lld",
                             i, (long long)out[at], (long long)in[at], (long long)k[at],
                             (long long)s[at], (long long)d[at], (long long)a->pad_begin[i],
                             (long long)a->pad_end[i]);
  }
  g->in_h = in[0], g->in_w = in[1], g->out_h = out[0], g->out_w = out[1];
  g->k_h = k[0], g->k_w = k[1], g->s_h = s[0], g->s_w = s[1];
  g->d_h = d[0], g->d_w = d[1], g->p_h = pb[0], g->p_w = pb[1];
  return NULL;
}

template <typename T, int V, int TILE>
static void dw_launch(const dw_geom &g, const cuda_tensor *x, const void *w, const void *bias,
                      const void *residual, cuda_tensor *y, const ir_activation &act, bool x_vec,
                      cudaStream_t stream) {
  int64_t work = g.batch * g.out_h * ((g.out_w + TILE - 1) / TILE) * (g.co / V);
  unsigned blocks = cuda_blocks_for(work, CUDA_THREADS);
  if (x_vec)
    depthwise_kernel<T, V, TILE, true>
        <<<blocks, CUDA_THREADS, 0, stream>>>((const T *)x->data, (const T *)w, (const T *)bias,
                                              (const T *)residual, (T *)y->data, g, act);
  else
    depthwise_kernel<T, V, TILE, false>
        <<<blocks, CUDA_THREADS, 0, stream>>>((const T *)x->data, (const T *)w, (const T *)bias,
                                              (const T *)residual, (T *)y->data, g, act);
}

extern "C" krt_status *cuda_depthwise_conv(const ir_node *n, const cuda_tensor *x, const void *w,
                                           const void *bias, const void *residual, cuda_tensor *y,
                                           int variant, cudaStream_t stream) {
  if (x->dtype != y->dtype || (y->dtype != KRT_FLOAT32 && y->dtype != KRT_FLOAT16))
    return cuda_node_error(n, KRT_ERR_INTERNAL, "input %s, output %s", krt_dtype_name(x->dtype),
                           krt_dtype_name(y->dtype));
  if (variant < 0 || variant >= cuda_depthwise_variants())
    return cuda_node_error(n, KRT_ERR_INTERNAL, "depthwise variant %d does not exist", variant);
  dw_geom g;
  KRT_TRY(dw_geometry(n, x, y, &g));
  if (g.batch * g.out_h * g.out_w * g.co == 0) return NULL;
  const int V = y->dtype == KRT_FLOAT16 ? 8 : 4;
  if (variant > 0) {
    int ok = g.co % V == 0 && cuda_aligned16(w) && cuda_aligned16(y->data) &&
             (!bias || cuda_aligned16(bias)) && (!residual || cuda_aligned16(residual));
    if (!ok)
      return cuda_node_error(n, KRT_ERR_UNSUPPORTED,
                             "depthwise variant %d needs %d-channel "
                             "runs and 16-byte aligned buffers (%lld channels)",
                             variant, V, (long long)g.co);
  }
  bool x_vec = g.mult == 1 && cuda_aligned16(x->data);
  const ir_activation act = n->attrs.act;
  CUDA_DISPATCH(y->dtype, {
    constexpr int VT = vec16<T>::n;
    switch (variant) {
      case 0: dw_launch<T, 1, 1>(g, x, w, bias, residual, y, act, false, stream); break;
      case 1: dw_launch<T, VT, 1>(g, x, w, bias, residual, y, act, x_vec, stream); break;
      case 2: dw_launch<T, VT, 2>(g, x, w, bias, residual, y, act, x_vec, stream); break;
      default: dw_launch<T, VT, 4>(g, x, w, bias, residual, y, act, x_vec, stream); break;
    }
  });
  return cuda_check_launch(n);
}
