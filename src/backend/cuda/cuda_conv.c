/* Conv and ConvTranspose on cuDNN, NHWC, float32 or float16 storage with float32 accumulation.
 * FP32 engines use no engine that rounds float32 (no TF32 tensor cores, FFT or Winograd); TF32
 * engines (float32 storage) may use those, never one that down-converts inputs to half
 * (cg_numerics).
 *
 *   Conv           x[N, S..., Ci], W[k..., Ci/g, Co], b[Co]?, r? -> y = act(conv(x, W) + b + r)
 *   ConvTranspose  the data gradient (dgrad) of the forward convolution that maps y's shape to
 *                  x's with the same kernel, stride, dilation and pads (ops.def: o + pb == i*s +
 *                  t*d is exactly dgrad's index relation, no kernel flip), then the epilogue.
 *
 * Implementations (the tuning table records which, cuda_prepare.h):
 *   CUDA_IMPL_CUDNN_GRAPH  id = cuDNN engine global index; knobs[0] = 0 when bias, residual and
 *                          (if cuDNN can express it) the activation run inside the cuDNN graph, 1
 *                          for the plain convolution + cuda_launch_epilogue; knobs[1..] = the knob
 *                          choices (u8 type, i32 value each). The engine global index and knob
 *                          values are cuDNN's own identity of a configuration, stable for one cuDNN
 *                          version and GPU (the table's context includes both), unlike the order
 *                          of a heuristic list. A choice cuDNN no longer accepts falls back to the
 *                          heuristics.
 *   CUDA_IMPL_CUDNN_LEGACY cudnnConvolutionForward (id = algorithm, -1: cuDNN's heuristic pick)
 *                          + epilogue; 2-D, symmetric pads only. Also the baseline of the tests.
 *   A recorded id of -1 (graph or legacy) means cuDNN's first heuristic pick of that kind.
 *   CUDA_IMPL_KRT_KERNEL   depthwise convs (groups == Ci, 1-2 spatial axes): krt's own kernel
 *                          (cuda_depthwise.h), id = its variant, epilogue included.
 *
 * Weights: cuDNN wants filters KRSC ([K][taps][C], K = output channels of the forward conv), Keras
 * stores W[taps][C][K] (Conv: C = Ci/g, K = Co; ConvTranspose: C = Co, K = Ci). The engine
 * uploads W once in the layouts cuda_conv_filter_layouts asks for (CUDA_LAYOUT_FILTER for cuDNN,
 * CUDA_LAYOUT_IR for krt's depthwise kernel); contexts only borrow the pointers, as they do the
 * biases (ctx->weights, in the engine's dtype).
 *
 * Plans depend on the batch: each context builds them for max_batch and 1 at prepare and any
 * other batch at its first launch (host work only: cuDNN finalizes a plan, nothing is allocated
 * on the device), within the workspace reserved at prepare.
 *
 * Writing into a Concat in place (the output's positions `pitch` elements apart, plan.h): a
 * cuDNN graph whose last tensor is y takes the pitch as y's strides. Every other case (the
 * legacy API, krt's kernels, ConvTranspose, an epilogue left to cuda_launch_epilogue, an engine
 * that rejects the strides) is "staged": it writes a dense result into the workspace, after the
 * library's own part, and one cudaMemcpy2DAsync moves it into place: the copy the Concat would
 * have made.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_cudnn_graph.h"
#include "backend/cuda/cuda_depthwise.h"
#include "backend/cuda/cuda_library_ops.h"
#include "core/status.h"

#define CONV_MAX_EXECS 8
#define CONV_TUNE_PER_LIST 6      /* candidates timed per graph kind (fused, plain) */
#define CONV_TUNE_MAX_WORKSPACE ((size_t)256 << 20)

typedef struct conv_exec {
  int64_t batch;
  int impl;                       /* CUDA_IMPL_CUDNN_GRAPH, _CUDNN_LEGACY or _KRT_KERNEL */
  int variant;                    /* krt kernel only */
  int fused;                      /* graph: bias, residual and a fusable act run in cuDNN */
  cg_graph graph;                 /* graph only; n_owned 0 in tuning's borrowed copies */
  cg_config cfg;
  cudnnTensorDescriptor_t xd, yd; /* legacy only */
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  cudnnConvolutionFwdAlgo_t algo;
  size_t workspace;    /* the library's */
  int staged;          /* pitched output written dense into the workspace first */
  size_t staged_bytes; /* that dense result, after the library's workspace */
} conv_exec;

typedef struct conv_state {
  const ir_node *node;
  cudnnHandle_t handle;
  int transpose;
  krt_dtype dtype;
  cg_numerics numerics;           /* which cuDNN engines the precision accepts */
  cg_conv geom;                   /* batch set per exec */
  int zero_fill;                  /* ConvTranspose longer than cuDNN writes: clear y first */
  const void *weights;            /* the engine's KRSC upload (cuDNN), or NULL */
  const void *ir_weights;         /* the engine's upload in the IR layout (krt kernels), or NULL */
  int depthwise;                  /* krt's depthwise kernel applies */
  int rank;                       /* x's and y's rank, and their dims (batch set per run) */
  int64_t x_dims[KRT_MAX_RANK], y_dims[KRT_MAX_RANK];
  const void *bias;               /* borrowed; NULL when the node has none */
  int64_t out_channels;           /* the node's output channels (epilogue) */
  int64_t out_positions;          /* output positions per sample (epilogue rows / batch) */
  int64_t pitch;                  /* elements between output positions; 0: dense (out_channels) */
  cuda_choice max_choice;         /* recorded choice at max batch, tried first for others */
  int has_max_choice;
  conv_exec execs[CONV_MAX_EXECS];
  int n_execs;
} conv_state;

static const char *node_name(const ir_node *n) { return n->name ? n->name : "?"; }

/* ---- geometry and weights ------------------------------------------------------------------- */

static krt_status *geometry(const ir_graph *g, const ir_node *n, krt_precision precision,
                            conv_state *st) {
  const ir_attrs *a = &n->attrs;
  const ir_value *x = &g->values[n->inputs[0]], *y = &g->values[n->outputs[0]];
  int sp = a->spatial;
  if (sp < 1 || sp > 3 || x->rank != sp + 2 || y->rank != sp + 2)
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): %d spatial axes, ranks %d -> %d",
                     node_name(n), ir_op_name(n->op), sp, x->rank, y->rank);
  cg_conv *c = &st->geom;
  memset(c, 0, sizeof *c);
  c->nsp = sp < 2 ? 2 : sp;
  int off = c->nsp - sp; /* 1-D convs are 2-D ones of height 1 */
  for (int i = 0; i < 3; i++) {
    c->x_sp[i] = c->y_sp[i] = c->x_alloc_sp[i] = c->kernel[i] = c->stride[i] = c->dilation[i] = 1;
    c->pre[i] = c->post[i] = 0;
  }
  c->batch = 1;
  c->io_type = precision == KRT_PRECISION_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  st->dtype = precision == KRT_PRECISION_FP16 ? KRT_FLOAT16 : KRT_FLOAT32;
  st->numerics = precision == KRT_PRECISION_FP16   ? CG_NUMERICS_HALF
                 : precision == KRT_PRECISION_TF32 ? CG_NUMERICS_TF32
                                                   : CG_NUMERICS_STRICT_FP32;
  st->transpose = n->op == IR_OP_CONV_TRANSPOSE;
  st->out_channels = y->dims[sp + 1];
  st->out_positions = 1;
  for (int i = 0; i < sp; i++) {
    int j = off + i;
    int64_t in = x->dims[1 + i], out = y->dims[1 + i];
    if (in <= 0 || out <= 0 || a->kernel[i] <= 0 || a->stride[i] <= 0)
      return krt_error(KRT_ERR_SHAPE, "node '%s' (%s): spatial axis %d is %lld -> %lld",
                       node_name(n), ir_op_name(n->op), i, (long long)in, (long long)out);
    st->out_positions *= out;
    c->kernel[j] = a->kernel[i];
    c->stride[j] = a->stride[i];
    c->dilation[j] = a->dilation[i] > 0 ? a->dilation[i] : 1;
    int64_t pb = a->pad_begin[i], pe = a->pad_end[i];
    if (pb < 0 || (!st->transpose && pe < 0))
      return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): negative padding %lld/%lld",
                       node_name(n), ir_op_name(n->op), (long long)pb, (long long)pe);
    c->pre[j] = pb;
    if (!st->transpose) {
      c->x_sp[j] = c->x_alloc_sp[j] = in;
      c->y_sp[j] = out;
      c->post[j] = pe;
    } else {
      /* Forward view: x = our output (only its first out + min(pe, 0) positions are written),
       * y = our input. */
      c->x_alloc_sp[j] = out;
      c->x_sp[j] = pe < 0 ? out + pe : out;
      c->y_sp[j] = in;
      c->post[j] = pe < 0 ? 0 : pe;
      if (pe < 0) st->zero_fill = 1;
    }
  }
  int64_t x_ch = x->dims[sp + 1], y_ch = y->dims[sp + 1];
  c->groups = a->groups > 0 ? a->groups : 1;
  st->depthwise = !st->transpose && c->groups > 1 && c->groups == x_ch && sp <= 2;
  st->rank = x->rank;
  memcpy(st->x_dims, x->dims, sizeof st->x_dims);
  memcpy(st->y_dims, y->dims, sizeof st->y_dims);
  if (st->transpose && c->groups != 1)
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (ConvTranspose): groups=%lld",
                     node_name(n), (long long)c->groups);
  c->ci = st->transpose ? y_ch : x_ch;
  c->co = st->transpose ? x_ch : y_ch;
  if (c->ci % c->groups || c->co % c->groups)
    return krt_error(KRT_ERR_SHAPE, "node '%s' (%s): %lld groups for %lld -> %lld channels",
                     node_name(n), ir_op_name(n->op), (long long)c->groups, (long long)x_ch,
                     (long long)y_ch);
  return NULL;
}

static krt_status *state_create(const cuda_prepare_ctx *ctx, const ir_node *n, conv_state **out) {
  *out = NULL;
  if (n->n_inputs < 2 || n->n_inputs < (n->attrs.residual ? 4 : 2))
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): %d inputs", node_name(n),
                     ir_op_name(n->op), n->n_inputs);
  conv_state *st = calloc(1, sizeof *st);
  if (!st) return krt_error_oom("convolution state");
  st->node = n;
  st->handle = ctx->cudnn;
  st->pitch = cuda_output_pitch(ctx, n);
  krt_status *s = geometry(ctx->graph, n, ctx->precision, st);
  if (!s && n->n_inputs > 2) {
    st->bias = ctx->weights ? ctx->weights[n->inputs[2]] : NULL;
    if (!st->bias)
      s = krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): its bias was not uploaded", node_name(n),
                    ir_op_name(n->op));
  }
  int w = n->inputs[1];
  if (!s && (w < 0 || w >= ctx->graph->n_values || !ctx->graph->values[w].data))
    s = krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): its weights are not a constant", node_name(n),
                  ir_op_name(n->op));
  if (!s && ctx->weights) {
    st->weights = ctx->weights[ctx->graph->n_values + w];
    st->ir_weights = ctx->weights[w];
  }
  if (!st->ir_weights) st->depthwise = 0;
  if (!s && !st->weights && !st->ir_weights)
    s = krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): its weights were not uploaded", node_name(n),
                  ir_op_name(n->op));
  if (s) {
    cuda_conv_release(st);
    return s;
  }
  *out = st;
  return NULL;
}

/* ---- building one implementation for one batch ---------------------------------------------- */

static void exec_free(conv_exec *e) {
  cg_config_free(&e->cfg);
  cg_graph_free(&e->graph);
  if (e->xd) cudnnDestroyTensorDescriptor(e->xd);
  if (e->yd) cudnnDestroyTensorDescriptor(e->yd);
  if (e->wd) cudnnDestroyFilterDescriptor(e->wd);
  if (e->cd) cudnnDestroyConvolutionDescriptor(e->cd);
  memset(e, 0, sizeof *e);
}

static cg_epilogue fused_epilogue(const conv_state *st) {
  cg_epilogue epi;
  memset(&epi, 0, sizeof epi);
  if (st->transpose) return epi; /* dgrad runs plain; the epilogue kernel does the rest */
  epi.bias = st->bias != NULL;
  epi.residual = st->node->attrs.residual;
  epi.activation = st->node->attrs.act;
  epi.act = epi.activation.kind != IR_ACT_NONE && cg_act_fusable(&epi.activation);
  return epi;
}

static int has_fusable_work(const cg_epilogue *e) { return e->bias || e->residual || e->act; }

/* Whether the cuDNN graph (fused or plain) writes the pitched output itself: only when nothing
 * runs after it (cuda_launch_epilogue writes dense rows). */
static int graph_writes_pitch(const conv_state *st, int fused) {
  if (!st->pitch || st->transpose) return 0;
  cg_epilogue epi = fused_epilogue(st);
  int act = st->node->attrs.act.kind != IR_ACT_NONE;
  if (fused) return !act || epi.act;
  return !epi.bias && !epi.residual && !act;
}

/* The dense output at this batch, when an implementation stages it. */
static size_t staged_bytes(const conv_state *st, int64_t batch) {
  if (!st->pitch) return 0;
  size_t esize = st->dtype == KRT_FLOAT16 ? 2 : 4;
  return cuda_stage_align((size_t)(batch * st->out_positions * st->out_channels) * esize);
}

/* Sets e->staged for the implementation chosen in e (graph: whether its output is pitched). */
static void set_staging(const conv_state *st, int64_t batch, conv_exec *e) {
  e->staged = st->pitch && !(e->impl == CUDA_IMPL_CUDNN_GRAPH && graph_writes_pitch(st, e->fused));
  e->staged_bytes = e->staged ? staged_bytes(st, batch) : 0;
}

/* All the workspace an exec uses: the library's, then the staged output. */
static size_t exec_workspace(const conv_exec *e) {
  return e->staged ? cuda_stage_align(e->workspace) + e->staged_bytes : e->workspace;
}

static krt_status *graph_for(const conv_state *st, int64_t batch, int fused, cg_graph *g) {
  cg_conv c = st->geom;
  c.batch = batch;
  c.y_pitch = graph_writes_pitch(st, fused) ? st->pitch : 0;
  cg_epilogue epi = fused_epilogue(st);
  return cg_graph_build(node_name(st->node), st->handle, &c, st->transpose ? CG_DGRAD : CG_FPROP,
                        fused ? &epi : NULL, g);
}

#define LEGACY_CHECK(call)                                                          \
  do {                                                                              \
    cudnnStatus_t l_s_ = (call);                                                    \
    if (l_s_ != CUDNN_STATUS_SUCCESS) return cg_error(node_name(st->node), #call, l_s_); \
  } while (0)

/* cudnnConvolutionForward: 2-D, symmetric pads. algo < 0: cuDNN's first acceptable pick. */
static krt_status *legacy_build(const conv_state *st, int64_t batch, int64_t algo, size_t limit,
                                conv_exec *e) {
  const cg_conv *c = &st->geom;
  if (st->transpose || c->nsp != 2 || c->pre[0] != c->post[0] || c->pre[1] != c->post[1])
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s': the legacy cuDNN API needs a 2-D forward "
                     "convolution with symmetric padding", node_name(st->node));
  cudnnDataType_t io = c->io_type;
  e->impl = CUDA_IMPL_CUDNN_LEGACY;
  e->batch = batch;
  LEGACY_CHECK(cudnnCreateTensorDescriptor(&e->xd));
  LEGACY_CHECK(cudnnCreateTensorDescriptor(&e->yd));
  LEGACY_CHECK(cudnnCreateFilterDescriptor(&e->wd));
  LEGACY_CHECK(cudnnCreateConvolutionDescriptor(&e->cd));
  LEGACY_CHECK(cudnnSetTensor4dDescriptor(e->xd, CUDNN_TENSOR_NHWC, io, (int)batch, (int)c->ci,
                                          (int)c->x_sp[0], (int)c->x_sp[1]));
  LEGACY_CHECK(cudnnSetTensor4dDescriptor(e->yd, CUDNN_TENSOR_NHWC, io, (int)batch, (int)c->co,
                                          (int)c->y_sp[0], (int)c->y_sp[1]));
  LEGACY_CHECK(cudnnSetFilter4dDescriptor(e->wd, io, CUDNN_TENSOR_NHWC, (int)c->co,
                                          (int)(c->ci / c->groups), (int)c->kernel[0],
                                          (int)c->kernel[1]));
  LEGACY_CHECK(cudnnSetConvolution2dDescriptor(e->cd, (int)c->pre[0], (int)c->pre[1],
                                               (int)c->stride[0], (int)c->stride[1],
                                               (int)c->dilation[0], (int)c->dilation[1],
                                               CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  LEGACY_CHECK(cudnnSetConvolutionGroupCount(e->cd, (int)c->groups));
  /* FP32: plain FMA math, never TF32 (krt's float32 must match Keras to 1e-4). TF32: the default
   * math, which lets Ampere and newer round float32 to TF32 on tensor cores but never down-
   * converts to half (PyTorch's setting when it allows TF32). */
  int tf32 = st->numerics == CG_NUMERICS_TF32;
  cudnnMathType_t math = io == CUDNN_DATA_HALF ? CUDNN_TENSOR_OP_MATH
                         : tf32                ? CUDNN_DEFAULT_MATH
                                               : CUDNN_FMA_MATH;
  LEGACY_CHECK(cudnnSetConvolutionMathType(e->cd, math));
  if (algo < 0) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    LEGACY_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(st->handle, e->xd, e->wd, e->cd, e->yd,
                                                        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got,
                                                        perf));
    for (int i = 0; i < got && algo < 0; i++) {
      cudnnConvolutionFwdAlgo_t a = perf[i].algo;
      int exact = a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
                  a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD &&
                  a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
      int allowed = io == CUDNN_DATA_HALF ||
                    (tf32 && perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) ||
                    (exact && perf[i].mathType == CUDNN_FMA_MATH);
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit && allowed) algo = a;
    }
    if (algo < 0)
      return krt_error(KRT_ERR_UNSUPPORTED, "node '%s': no legacy cuDNN algorithm fits",
                       node_name(st->node));
  }
  e->algo = (cudnnConvolutionFwdAlgo_t)algo;
  LEGACY_CHECK(cudnnGetConvolutionForwardWorkspaceSize(st->handle, e->xd, e->wd, e->cd, e->yd,
                                                       e->algo, &e->workspace));
  if (e->workspace > limit)
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s': legacy algorithm %d needs %zu workspace bytes",
                     node_name(st->node), (int)algo, e->workspace);
  set_staging(st, batch, e);
  return NULL;
}

/* The graph implementation for a recorded engine, or (cfg NULL) the first heuristic one whose
 * workspace fits. */
static krt_status *graph_build_exec(const conv_state *st, int64_t batch, int fused,
                                    const cg_config *recorded, size_t limit, conv_exec *e) {
  cg_epilogue epi = fused_epilogue(st);
  fused = fused && has_fusable_work(&epi); /* nothing to fuse: the plain graph */
  e->impl = CUDA_IMPL_CUDNN_GRAPH;
  e->batch = batch;
  e->fused = fused;
  KRT_TRY(graph_for(st, batch, fused, &e->graph));
  const char *name = node_name(st->node);
  if (recorded) {
    e->cfg = *recorded;
    e->cfg.plan = NULL;
    KRT_TRY(cg_config_from_choice(name, st->handle, &e->graph, &e->cfg));
  } else {
    cg_config cfgs[4];
    int n = 0, pick = -1;
    /* Usually the first engine fits; finalizing more plans costs time (runtime compilation). */
    KRT_TRY(cg_list_configs(name, st->handle, &e->graph, st->numerics, 1, cfgs, 1, &n));
    if (n == 1 && (size_t)cfgs[0].workspace > limit) {
      cg_config_free(&cfgs[0]);
      KRT_TRY(cg_list_configs(name, st->handle, &e->graph, st->numerics, 1, cfgs, 4, &n));
    }
    for (int i = 0; i < n; i++)
      if (pick < 0 && (size_t)cfgs[i].workspace <= limit)
        pick = i;
      else
        cg_config_free(&cfgs[i]);
    if (pick < 0)
      return krt_error(KRT_ERR_UNSUPPORTED, "node '%s': cuDNN offers no %s engine", name,
                       fused ? "fused" : "plain");
    e->cfg = cfgs[pick];
  }
  e->workspace = (size_t)e->cfg.workspace;
  if (e->workspace > limit)
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s': engine needs %zu workspace bytes", name,
                     e->workspace);
  set_staging(st, batch, e);
  return NULL;
}

/* Builds an implementation for this batch: the recorded choice when it still works, else the
 * heuristics (fused graph, plain graph, legacy API, in that order). `limit` bounds everything
 * the exec uses of the workspace, a staged output included. */
static krt_status *exec_build(const conv_state *st, int64_t batch, const cuda_choice *choice,
                              size_t limit, conv_exec *e) {
  memset(e, 0, sizeof *e);
  /* What the library may use, leaving room for a staged output (rounded as exec_workspace). */
  size_t stage = staged_bytes(st, batch);
  if (stage) limit = cuda_stage_library_limit(limit, stage);
  if (!st->weights && !(choice && choice->kind == CUDA_IMPL_KRT_KERNEL && st->depthwise))
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): the engine holds no filters in cuDNN's "
                     "layout for it", node_name(st->node), ir_op_name(st->node->op));
  if (choice && choice->kind == CUDA_IMPL_CUDNN_GRAPH && choice->n_knobs >= 1 && choice->id < 0) {
    /* id -1: cuDNN's first heuristic engine of that graph kind (tests force kinds this way) */
    krt_status *s = graph_build_exec(st, batch, choice->knobs[0] == 0, NULL, limit, e);
    if (!s) return NULL;
    krt_status_release(s);
    exec_free(e);
  } else if (choice && choice->kind == CUDA_IMPL_CUDNN_GRAPH && choice->n_knobs >= 1) {
    cg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.global_index = choice->id;
    if (cg_config_unpack(choice->knobs + 1, choice->n_knobs - 1, &cfg)) {
      krt_status *s = graph_build_exec(st, batch, choice->knobs[0] == 0, &cfg, limit, e);
      if (!s) return NULL;
      krt_status_release(s);
      exec_free(e);
    }
  } else if (choice && choice->kind == CUDA_IMPL_KRT_KERNEL && st->depthwise) {
    e->impl = CUDA_IMPL_KRT_KERNEL;
    e->batch = batch;
    e->variant = (int)choice->id;
    set_staging(st, batch, e);
    return NULL;
  } else if (choice && choice->kind == CUDA_IMPL_CUDNN_LEGACY) {
    krt_status *s = legacy_build(st, batch, choice->id, limit, e);
    if (!s) return NULL;
    krt_status_release(s);
    exec_free(e);
  }
  cg_epilogue epi = fused_epilogue(st);
  krt_status *first = NULL;
  for (int attempt = 0; attempt < 3; attempt++) {
    krt_status *s;
    if (attempt == 0 && !has_fusable_work(&epi)) continue;
    if (attempt < 2)
      s = graph_build_exec(st, batch, attempt == 0, NULL, limit, e);
    else
      s = legacy_build(st, batch, -1, limit, e);
    if (!s) {
      krt_status_release(first);
      return NULL;
    }
    exec_free(e);
    if (!first)
      first = s;
    else
      krt_status_release(s);
  }
  return krt_error_wrap(first, "%s", "no cuDNN implementation: ");
}

/* ---- running --------------------------------------------------------------------------------- */

static krt_status *exec_compute(const conv_state *st, const conv_exec *e, const void *x, void *y,
                                const void *residual, void *workspace, cudaStream_t stream);

/* Runs e: y is the node's output (pitched when st->pitch), workspace holds exec_workspace(e). */
static krt_status *exec_run(const conv_state *st, const conv_exec *e, const void *x, void *y,
                            const void *residual, void *workspace, cudaStream_t stream) {
  if (!e->staged) return exec_compute(st, e, x, y, residual, workspace, stream);
  void *dense = (unsigned char *)workspace + cuda_stage_align(e->workspace);
  KRT_TRY(exec_compute(st, e, x, dense, residual, workspace, stream));
  size_t esize = st->dtype == KRT_FLOAT16 ? 2 : 4;
  return cuda_stage_copy(st->node, y, st->pitch, dense, st->out_channels,
                         e->batch * st->out_positions, esize, stream);
}

/* The convolution and its epilogue, writing y as the exec's graph describes it (pitched only for
 * a graph that writes the pitch itself). */
static krt_status *exec_compute(const conv_state *st, const conv_exec *e, const void *x, void *y,
                                const void *residual, void *workspace, cudaStream_t stream) {
  const ir_node *n = st->node;
  const char *name = node_name(n);
  int64_t batch = e->batch;
  if (e->impl == CUDA_IMPL_KRT_KERNEL) {
    cuda_tensor xt, yt;
    memset(&xt, 0, sizeof xt);
    memset(&yt, 0, sizeof yt);
    xt.data = (void *)x;
    yt.data = y;
    xt.dtype = yt.dtype = st->dtype;
    xt.rank = yt.rank = st->rank;
    memcpy(xt.dims, st->x_dims, sizeof xt.dims);
    memcpy(yt.dims, st->y_dims, sizeof yt.dims);
    xt.dims[0] = yt.dims[0] = batch;
    return cuda_depthwise_conv(n, &xt, st->ir_weights, st->bias,
                               n->attrs.residual ? residual : NULL, &yt, e->variant, stream);
  }
  cudnnStatus_t cs = cudnnSetStream(st->handle, stream);
  if (cs != CUDNN_STATUS_SUCCESS) return cg_error(name, "cudnnSetStream", cs);
  size_t esize = st->dtype == KRT_FLOAT16 ? 2 : 4;
  int64_t rows = batch * st->out_positions;
  if (st->zero_fill) {
    cudaError_t ce = cudaMemsetAsync(y, 0, (size_t)(rows * st->out_channels) * esize, stream);
    if (ce != cudaSuccess) return cuda_runtime_error(n, "cudaMemsetAsync", ce);
  }
  if (e->impl == CUDA_IMPL_CUDNN_GRAPH) {
    void *ptrs[5];
    int k = 0;
    ptrs[k++] = st->transpose ? y : (void *)x; /* CG_UID_X */
    ptrs[k++] = (void *)st->weights;           /* CG_UID_W */
    ptrs[k++] = st->transpose ? (void *)x : y; /* CG_UID_Y */
    if (e->fused && st->bias) ptrs[k++] = (void *)st->bias;
    if (e->fused && n->attrs.residual) ptrs[k++] = (void *)residual;
    if (k != e->graph.n_uids)
      return krt_error(KRT_ERR_INTERNAL, "node '%s': %d pointers for %d cuDNN tensors", name, k,
                       e->graph.n_uids);
    KRT_TRY(cg_execute(name, st->handle, &e->graph, e->cfg.plan, ptrs, workspace));
  } else {
    float one = 1.0f, zero = 0.0f;
    cs = cudnnConvolutionForward(st->handle, &one, e->xd, x, e->wd, st->weights, e->cd, e->algo,
                                 workspace, e->workspace, &zero, e->yd, y);
    if (cs != CUDNN_STATUS_SUCCESS) return cg_error(name, "cudnnConvolutionForward", cs);
  }
  /* Whatever the library did not fuse. */
  cg_epilogue epi = fused_epilogue(st);
  int fused = e->impl == CUDA_IMPL_CUDNN_GRAPH && e->fused;
  const ir_activation *act = &n->attrs.act;
  ir_activation none;
  memset(&none, 0, sizeof none);
  if (fused && epi.act) act = &none;
  const void *bias = fused ? NULL : st->bias;
  const void *res = fused || !n->attrs.residual ? NULL : residual;
  return cuda_launch_epilogue(name, y, st->dtype, rows, st->out_channels, bias, res, act, stream);
}

static const conv_exec *find_exec(const conv_state *st, int64_t batch) {
  for (int i = 0; i < st->n_execs; i++)
    if (st->execs[i].batch == batch) return &st->execs[i];
  return NULL;
}

static krt_status *launch(const ir_node *n, const cuda_tensor *in, int n_in, cuda_tensor *y,
                          const cuda_launch *l) {
  conv_state *st = (conv_state *)l->op_state; /* per context: only this context's thread */
  if (!st || st->node != n)
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): not prepared", node_name(n),
                     ir_op_name(n->op));
  if (n_in < (n->attrs.residual ? 4 : 2) || in[0].dtype != st->dtype || y->dtype != st->dtype ||
      (n->attrs.residual && in[3].dtype != st->dtype))
    return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s): %d inputs or dtypes do not match the "
                     "engine's", node_name(n), ir_op_name(n->op), n_in);
  int64_t batch = in[0].dims[0];
  const conv_exec *e = find_exec(st, batch);
  if (!e) {
    /* First launch at this batch: build its plan within the reserved workspace. */
    if (st->n_execs == CONV_MAX_EXECS) exec_free(&st->execs[--st->n_execs]);
    conv_exec *slot = &st->execs[st->n_execs];
    KRT_TRY(exec_build(st, batch, st->has_max_choice ? &st->max_choice : NULL,
                       l->workspace_bytes, slot));
    st->n_execs++;
    e = slot;
  }
  if (exec_workspace(e) > l->workspace_bytes)
    return krt_error(KRT_ERR_INTERNAL, "node '%s': %zu workspace bytes, %zu needed", node_name(n),
                     l->workspace_bytes, exec_workspace(e));
  if (y->row_pitch != st->pitch)
    return krt_error(KRT_ERR_INTERNAL, "node '%s': output pitch %lld, prepared for %lld",
                     node_name(n), (long long)y->row_pitch, (long long)st->pitch);
  return exec_run(st, e, in[0].data, y->data, n->attrs.residual ? in[3].data : NULL, l->workspace,
                  l->stream);
}

krt_status *cuda_launch_conv(const ir_node *n, const cuda_tensor *in, int n_in, cuda_tensor *y,
                             const cuda_launch *l) {
  return launch(n, in, n_in, y, l);
}

krt_status *cuda_launch_conv_transpose(const ir_node *n, const cuda_tensor *in, int n_in,
                                       cuda_tensor *y, const cuda_launch *l) {
  return launch(n, in, n_in, y, l);
}

/* ---- prepare and release --------------------------------------------------------------------- */

void cuda_conv_release(void *op_state) {
  conv_state *st = op_state;
  if (!st) return;
  for (int i = 0; i < st->n_execs; i++) exec_free(&st->execs[i]);
  free(st); /* the weights are the engine's */
}

krt_status *cuda_conv_prepare(const cuda_prepare_ctx *ctx, const ir_node *n, void **op_state,
                              size_t *workspace_bytes) {
  *op_state = NULL;
  *workspace_bytes = 0;
  conv_state *st;
  KRT_TRY(state_create(ctx, n, &st));
  char key[1024];
  cuda_node_key_ctx(ctx, n, ctx->max_batch, key, sizeof key);
  const cuda_choice *max_choice = cuda_tuning_find(ctx->tuning, key);
  if (max_choice) {
    st->max_choice = *max_choice;
    st->has_max_choice = 1;
  }
  int64_t batches[2] = {ctx->max_batch, 1};
  int n_batches = ctx->max_batch > 1 ? 2 : 1;
  size_t workspace = 0;
  for (int i = 0; i < n_batches; i++) {
    cuda_node_key_ctx(ctx, n, batches[i], key, sizeof key);
    const cuda_choice *choice = cuda_tuning_find(ctx->tuning, key);
    if (!choice) choice = max_choice;
    krt_status *s = exec_build(st, batches[i], choice, CONV_TUNE_MAX_WORKSPACE,
                               &st->execs[st->n_execs]);
    if (s) {
      cuda_conv_release(st);
      return s;
    }
    if (st->execs[st->n_execs].workspace > workspace)
      workspace = st->execs[st->n_execs].workspace;
    st->n_execs++;
  }
  /* Any batch built later may stage its output: room for the largest one, after the library's. */
  if (st->pitch) workspace = cuda_stage_align(workspace) + staged_bytes(st, ctx->max_batch);
  *op_state = st;
  *workspace_bytes = workspace;
  return NULL;
}

/* ---- which layouts of W the engine uploads ---------------------------------------------------- */

static int reads_ir(const cuda_choice *c) { return c && c->kind == CUDA_IMPL_KRT_KERNEL; }

/* Mirrors cuda_conv_prepare and launch: krt's depthwise kernel (IR layout) runs only where the
 * recorded choice says so; every other choice, a missing one and the fallbacks are cuDNN's
 * (FILTER). Batches other than max_batch and 1 use the max_batch choice. */
int cuda_conv_filter_layouts(const cuda_prepare_ctx *ctx, const ir_node *n, int for_tuning) {
  conv_state *st = calloc(1, sizeof *st);
  if (!st) return CUDA_LAYOUT_FILTER | CUDA_LAYOUT_IR; /* prepare will report the memory */
  krt_status *s = geometry(ctx->graph, n, ctx->precision, st);
  int depthwise = !s && st->depthwise;
  krt_status_release(s);
  free(st);
  if (!depthwise) return CUDA_LAYOUT_FILTER;
  if (for_tuning) return CUDA_LAYOUT_FILTER | CUDA_LAYOUT_IR;
  char key[1024];
  cuda_node_key_ctx(ctx, n, ctx->max_batch, key, sizeof key);
  const cuda_choice *max_choice = cuda_tuning_find(ctx->tuning, key);
  int mask = reads_ir(max_choice) ? CUDA_LAYOUT_IR : CUDA_LAYOUT_FILTER;
  if (ctx->max_batch > 1) {
    cuda_node_key_ctx(ctx, n, 1, key, sizeof key);
    const cuda_choice *one = cuda_tuning_find(ctx->tuning, key);
    mask |= reads_ir(one ? one : max_choice) ? CUDA_LAYOUT_IR : CUDA_LAYOUT_FILTER;
  }
  return mask;
}

/* ---- tuning ---------------------------------------------------------------------------------- */

typedef struct conv_trial {
  const conv_state *st;
  const conv_exec *e;
  const void *x, *residual;
  void *y, *workspace;
  cudaStream_t stream;
} conv_trial;

static krt_status *run_trial(void *arg) {
  conv_trial *t = arg;
  return exec_run(t->st, t->e, t->x, t->y, t->residual, t->workspace, t->stream);
}

/* A borrowed copy of a candidate list entry as an exec (the graph stays owned by the list). */
static conv_exec borrowed_exec(const conv_state *st, const cg_graph *g, const cg_config *cfg,
                               int64_t batch, int fused) {
  conv_exec e;
  memset(&e, 0, sizeof e);
  e.impl = CUDA_IMPL_CUDNN_GRAPH;
  e.batch = batch;
  e.fused = fused;
  e.graph = *g;
  e.graph.n_owned = 0;
  e.cfg = *cfg;
  e.workspace = (size_t)cfg->workspace;
  set_staging(st, batch, &e);
  return e;
}

typedef struct conv_buffers {
  void *x, *y, *r, *ws;           /* the allocations; candidates are timed on these */
  void *x_chk, *y_chk, *r_chk;    /* the same, VERIFY_OFFSET bytes in: candidates are checked here */
  size_t ws_bytes;
  size_t y_elems;                 /* elements of y (pitched like the node's output) */
} conv_buffers;

/* Candidates are checked at pointers only as aligned as cuDNN is promised (CG_ALIGNMENT), not at
 * the 256 bytes of cudaMalloc: the arena places values 64 bytes apart (plan.h), and a kernel that
 * assumed more than it was told would be right here and wrong there. */
#define VERIFY_OFFSET 16
#define VERIFY_SLACK 256 /* bytes allocated past each buffer's end */

static void buffers_free(conv_buffers *b) {
  cudaFree(b->x);
  cudaFree(b->y);
  cudaFree(b->r);
  cudaFree(b->ws);
}

/* count values uniform in [-1, 1) (a fixed sequence from seed) into dev, in dtype. */
static krt_status *fill_random(const ir_node *n, void *dev, int64_t count, krt_dtype dtype,
                               uint64_t seed, cudaStream_t stream) {
  float *host = malloc((size_t)(count > 0 ? count : 1) * sizeof *host);
  if (!host) return krt_error_oom("tuning inputs");
  uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (int64_t i = 0; i < count; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    host[i] = (float)((state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
  }
  krt_status *s = NULL;
  void *f32 = NULL;
  cudaError_t e = cudaStreamSynchronize(stream);
  if (e == cudaSuccess && dtype == KRT_FLOAT32) {
    e = cudaMemcpy(dev, host, (size_t)count * sizeof *host, cudaMemcpyHostToDevice);
  } else if (e == cudaSuccess) {
    e = cudaMalloc(&f32, (size_t)count * sizeof *host);
    if (e == cudaSuccess) e = cudaMemcpy(f32, host, (size_t)count * sizeof *host, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) s = cuda_convert(dev, dtype, f32, KRT_FLOAT32, count, stream);
    if (e == cudaSuccess && !s) e = cudaStreamSynchronize(stream);
  }
  if (e != cudaSuccess && !s) s = cuda_runtime_error(n, "filling tuning inputs", e);
  cudaFree(f32);
  free(host);
  return s;
}

/* Candidate buffers at this batch: x and the residual (random, so that timings and checks see
 * real data), y (pitched like the node's output) and a workspace of ws_bytes. */
static krt_status *buffers_alloc(const cuda_prepare_ctx *ctx, const conv_state *st, int64_t batch,
                                 size_t ws_bytes, conv_buffers *b) {
  const ir_node *n = st->node;
  size_t esize = ctx->precision == KRT_PRECISION_FP16 ? 2 : 4;
  int64_t xe = ir_value_elements(&ctx->graph->values[n->inputs[0]], batch);
  int64_t ye = ir_value_elements(&ctx->graph->values[n->outputs[0]], batch);
  if (xe <= 0 || ye <= 0)
    return krt_error(KRT_ERR_SHAPE, "node '%s': unknown sizes at batch %lld", node_name(n),
                     (long long)batch);
  int64_t y_alloc = st->pitch ? batch * st->out_positions * st->pitch : ye;
  int64_t slack = VERIFY_SLACK / (int64_t)esize;
  b->y_elems = (size_t)y_alloc;
  cudaError_t e = cudaMalloc(&b->x, (size_t)(xe + slack) * esize);
  if (e == cudaSuccess) e = cudaMalloc(&b->y, (size_t)(y_alloc + slack) * esize);
  if (e == cudaSuccess && n->attrs.residual) e = cudaMalloc(&b->r, (size_t)(ye + slack) * esize);
  if (e == cudaSuccess && ws_bytes) e = cudaMalloc(&b->ws, ws_bytes);
  b->ws_bytes = ws_bytes;
  if (e != cudaSuccess) return cuda_runtime_error(n, "allocating tuning buffers", e);
  b->x_chk = (unsigned char *)b->x + VERIFY_OFFSET;
  b->y_chk = (unsigned char *)b->y + VERIFY_OFFSET;
  b->r_chk = b->r ? (unsigned char *)b->r + VERIFY_OFFSET : NULL;
  KRT_TRY(fill_random(n, b->x, xe + slack, st->dtype, 1, ctx->stream));
  if (b->r) KRT_TRY(fill_random(n, b->r, ye + slack, st->dtype, 2, ctx->stream));
  return NULL;
}

/* ---- verification ---------------------------------------------------------------------------
 * A candidate is recorded only if it computes the convolution: timing alone records whatever is
 * fastest, right or not. NASNetMobile in FP32 (2026-12): the choice recorded for its 1x1 convs
 * 264 -> 44 at 28x28 gave adjust_conv_projection_2 and _3 errors of 7e-3 and 0.42 (normalised)
 * while normal_conv_1_1 and _2, with the same key (so the same engine) and identical input
 * data, were right: the engine's result depended on more than its inputs (what the output or
 * workspace memory held before, or the pointers' alignment). Each candidate runs once before it
 * is timed, on random
 * inputs, with y and the workspace filled with NaN first (an engine that reads either, or leaves
 * an element unwritten, shows), at pointers only VERIFY_OFFSET-aligned, and its result is
 * compared with the reference: cudnnConvolutionForward's IMPLICIT_GEMM algorithm (plain FMA
 * loops, no workspace) where the legacy API applies (2-D forward, symmetric pads), else the
 * candidate's own result with y and the workspace zeroed instead (same answer whatever the
 * memory held). The choice is checked once more as prepare rebuilds it (engine index and knobs
 * -> plan) before it is recorded; a choice that fails gives way to the next fastest. */

typedef struct conv_check {
  const conv_state *st;
  const conv_buffers *buf;
  cudaStream_t stream;
  int64_t rows;       /* output positions at this batch */
  int64_t stride;     /* elements between them in y: the pitch, or out_channels */
  float *ref, *got;   /* host, y_elems each */
  void *f32;          /* device, y_elems floats: FP16 results converted for download */
  int has_ref;        /* ref holds the reference result (else: checked for consistency) */
  double tolerance;   /* on max|got - ref| / max|ref| over the node's columns */
} conv_check;

static void check_free(conv_check *k) {
  free(k->ref);
  free(k->got);
  cudaFree(k->f32);
  memset(k, 0, sizeof *k);
}

static krt_status *check_download(const conv_check *k, float *host) {
  const ir_node *n = k->st->node;
  cudaError_t e;
  const void *src = k->buf->y_chk;
  if (k->st->dtype != KRT_FLOAT32) {
    KRT_TRY(cuda_convert(k->f32, KRT_FLOAT32, src, k->st->dtype, (int64_t)k->buf->y_elems,
                         k->stream));
    src = k->f32;
  }
  e = cudaStreamSynchronize(k->stream);
  if (e == cudaSuccess)
    e = cudaMemcpy(host, src, k->buf->y_elems * sizeof *host, cudaMemcpyDeviceToHost);
  return e == cudaSuccess ? NULL : cuda_runtime_error(n, "reading a tuning result", e);
}

/* Runs e once on the check buffers with y and the workspace set to `fill` bytes first, and
 * downloads y to host. A failing run returns its status. */
static krt_status *check_run(const conv_check *k, const conv_exec *e, int fill, float *host) {
  const ir_node *n = k->st->node;
  size_t esize = k->st->dtype == KRT_FLOAT16 ? 2 : 4;
  cudaError_t ce = cudaMemsetAsync(k->buf->y_chk, fill, k->buf->y_elems * esize, k->stream);
  if (ce == cudaSuccess && k->buf->ws)
    ce = cudaMemsetAsync(k->buf->ws, fill, k->buf->ws_bytes, k->stream);
  if (ce != cudaSuccess) return cuda_runtime_error(n, "cudaMemsetAsync", ce);
  KRT_TRY(exec_run(k->st, e, k->buf->x_chk, k->buf->y_chk, k->buf->r_chk, k->buf->ws, k->stream));
  ce = cudaStreamSynchronize(k->stream);
  if (ce != cudaSuccess) {
    cudaGetLastError();
    return cuda_runtime_error(n, "a checked run", ce);
  }
  return check_download(k, host);
}

/* max|a - b| / max|b| over the node's columns; NaN or infinity anywhere: INFINITY. */
static double check_error(const conv_check *k, const float *a, const float *b) {
  double diff = 0.0, top = 0.0;
  int64_t channels = k->st->out_channels;
  for (int64_t r = 0; r < k->rows; r++)
    for (int64_t c = 0; c < channels; c++) {
      size_t i = (size_t)(r * k->stride + c);
      double d = fabs((double)a[i] - (double)b[i]), m = fabs((double)b[i]);
      if (!(d <= 1e300) || !(m <= 1e300)) return INFINITY;
      if (d > diff) diff = d;
      if (m > top) top = m;
    }
  return diff / (top > 1e-30 ? top : 1e-30);
}

/* The normalised error of e (check_run, conv_check); a failing run returns its status. */
static krt_status *check_exec(const conv_check *k, const conv_exec *e, double *err) {
  *err = INFINITY;
  KRT_TRY(check_run(k, e, 0xff, k->got)); /* 0xff bytes: NaN in float32 and float16 */
  if (k->has_ref) {
    *err = check_error(k, k->got, k->ref);
    return NULL;
  }
  KRT_TRY(check_run(k, e, 0x00, k->ref));
  *err = check_error(k, k->got, k->ref);
  return NULL;
}

static krt_status *check_init(const conv_state *st, int64_t batch, const conv_buffers *buf,
                              krt_precision precision, cudaStream_t stream, conv_check *k) {
  memset(k, 0, sizeof *k);
  k->st = st;
  k->buf = buf;
  k->stream = stream;
  k->rows = batch * st->out_positions;
  k->stride = st->pitch ? st->pitch : st->out_channels;
  /* FP32 engines agree with FMA loops to rounding (~1e-6 here); a wrong one is off by far more.
   * TF32 and FP16 round products' inputs (and FP16 the result) to 10-bit mantissas. */
  k->tolerance = precision == KRT_PRECISION_FP32 ? 1e-4 : 2e-2;
  k->ref = malloc(buf->y_elems * sizeof *k->ref);
  k->got = malloc(buf->y_elems * sizeof *k->got);
  if (!k->ref || !k->got) return krt_error_oom("checking tuning candidates");
  if (st->dtype != KRT_FLOAT32) {
    cudaError_t e = cudaMalloc(&k->f32, buf->y_elems * sizeof(float));
    if (e != cudaSuccess) return cuda_runtime_error(st->node, "allocating a tuning check", e);
  }
  conv_exec ref;
  memset(&ref, 0, sizeof ref);
  krt_status *s = legacy_build(st, batch, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                               buf->ws_bytes, &ref);
  if (!s && exec_workspace(&ref) <= buf->ws_bytes) s = check_run(k, &ref, 0xff, k->ref);
  else if (!s) s = krt_error(KRT_ERR_UNSUPPORTED, "no room for the reference");
  /* A reference with a hole or a NaN would reject every candidate: use it only when whole. */
  k->has_ref = !s && check_error(k, k->ref, k->ref) == 0.0;
  krt_status_release(s); /* no legacy reference: candidates are checked for consistency */
  exec_free(&ref);
  return NULL;
}

/* A candidate that passed its check and was timed. */
typedef struct conv_candidate {
  cuda_choice choice;
} conv_candidate;

static int by_ms(const void *pa, const void *pb) {
  const conv_candidate *a = pa, *b = pb;
  return (a->choice.ms > b->choice.ms) - (a->choice.ms < b->choice.ms);
}

/* Why candidates were dropped, for the message when none is left: a tuning refusal must say
 * whether the candidates computed wrong numbers or could not run at all (on a GPU shared with
 * other processes a launch can fail for want of memory, CUDA_ERROR_OUT_OF_MEMORY inside cuDNN). */
typedef struct conv_tally {
  int failed_to_run;      /* the check's run, or the timed replay, returned an error */
  int wrong;              /* ran, error beyond the tolerance */
  double smallest_wrong;  /* the smallest such error */
  char last_failure[256]; /* the last run failure's message */
} conv_tally;

static void tally_failure(conv_tally *tally, krt_status *s) {
  tally->failed_to_run++;
  snprintf(tally->last_failure, sizeof tally->last_failure, "%s", krt_status_message(s));
  krt_status_release(s);
}

/* Checks and times one candidate exec; on success appends it to list. */
static void try_candidate(const cuda_prepare_ctx *ctx, const conv_check *k, conv_trial *t,
                          const cuda_choice *choice, conv_candidate *list, int *n_list,
                          int max_list, conv_tally *tally) {
  double err, ms;
  krt_status *s = check_exec(k, t->e, &err);
  /* KRT_DEBUG_TUNE=1: every candidate's check on stderr (diagnosing a tuning refusal). */
  if (getenv("KRT_DEBUG_TUNE"))
    fprintf(stderr, "tune %s: candidate kind %d id %lld: %s error %.3g (tolerance %.3g, %s)\n",
            node_name(k->st->node), (int)choice->kind, (long long)choice->id,
            s ? krt_status_message(s) : "ran,", err, k->tolerance,
            k->has_ref ? "against IMPLICIT_GEMM" : "self-consistency");
  if (s) {
    tally_failure(tally, s);
    return;
  }
  if (!(err <= k->tolerance)) { /* wrong: no candidate */
    if (tally->wrong++ == 0 || err < tally->smallest_wrong) tally->smallest_wrong = err;
    return;
  }
  if (*n_list == max_list) return;
  s = cuda_time_candidate(ctx->stream, run_trial, t, &ms);
  if (s) { /* an engine that fails to run is no candidate */
    tally_failure(tally, s);
    return;
  }
  list[*n_list].choice = *choice;
  list[*n_list].choice.ms = ms;
  ++*n_list;
}

/* The refusal when no candidate is left, with the reasons and the device memory free now. */
static krt_status *no_candidate_error(const char *name, const ir_node *n, int total,
                                      const conv_tally *tally, const char *key) {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
  char wrong[96] = "";
  if (tally->wrong)
    snprintf(wrong, sizeof wrong, " (the closest off by %.3g)", tally->smallest_wrong);
  return krt_error(KRT_ERR_DEVICE,
                   "node '%s' (%s): none of %d candidates ran and computed the convolution "
                   "correctly: %d failed to run%s%s, %d computed a wrong result%s; %zu MiB of %zu "
                   "MiB device memory free (%s)",
                   name, ir_op_name(n->op), total, tally->failed_to_run,
                   tally->failed_to_run ? ", the last with: " : "", tally->last_failure,
                   tally->wrong, wrong, free_bytes >> 20, total_bytes >> 20, key);
}

#define CONV_MAX_CANDIDATES (2 * CONV_TUNE_PER_LIST + 1 + 8)

krt_status *cuda_conv_tune(const cuda_prepare_ctx *ctx, const ir_node *n, int64_t batch) {
  char key[1024];
  cuda_node_key_ctx(ctx, n, batch, key, sizeof key);
  if (cuda_tuning_find(ctx->tuning, key)) return NULL; /* timing cache or earlier tuning */
  conv_state *st;
  KRT_TRY(state_create(ctx, n, &st));
  const char *name = node_name(n);
  cg_graph graphs[2];
  cg_config cfgs[2][CONV_TUNE_PER_LIST];
  int n_cfgs[2] = {0, 0};
  memset(graphs, 0, sizeof graphs);
  conv_exec legacy;
  memset(&legacy, 0, sizeof legacy);
  int has_legacy = 0;
  conv_buffers buf;
  memset(&buf, 0, sizeof buf);
  conv_check check;
  memset(&check, 0, sizeof check);
  conv_candidate list[CONV_MAX_CANDIDATES];
  int n_list = 0;
  conv_tally tally;
  memset(&tally, 0, sizeof tally);
  krt_status *s = NULL;

  /* Candidates: fused graph engines, plain graph engines (+ epilogue kernel), the legacy API. */
  cg_epilogue epi = fused_epilogue(st);
  for (int fused = 1; fused >= 0 && !s; fused--) {
    if (fused && !has_fusable_work(&epi)) continue;
    krt_status *e = graph_for(st, batch, fused, &graphs[fused]);
    if (!e)
      e = cg_list_configs(name, st->handle, &graphs[fused], st->numerics, fused ? 2 : 1,
                          cfgs[fused], CONV_TUNE_PER_LIST, &n_cfgs[fused]);
    if (e && krt_status_code(e) != KRT_ERR_UNSUPPORTED)
      s = e;
    else
      krt_status_release(e);
  }
  if (!s) {
    krt_status *e = legacy_build(st, batch, -1, CONV_TUNE_MAX_WORKSPACE, &legacy);
    has_legacy = e == NULL;
    krt_status_release(e);
  }
  size_t ws = has_legacy ? legacy.workspace : 0;
  int n_variants = st->depthwise ? cuda_depthwise_variants() : 0;
  int total = n_cfgs[0] + n_cfgs[1] + has_legacy + n_variants;
  for (int f = 0; f < 2; f++)
    for (int i = 0; i < n_cfgs[f]; i++)
      if ((size_t)cfgs[f][i].workspace > ws && (size_t)cfgs[f][i].workspace <= CONV_TUNE_MAX_WORKSPACE)
        ws = (size_t)cfgs[f][i].workspace;
  size_t library_ws = ws;
  if (st->pitch)
    ws = cuda_stage_align(ws) + staged_bytes(st, batch); /* staged candidates' output */
  if (!s && total == 0)
    s = krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): cuDNN offers no engine for %s", name,
                  ir_op_name(n->op), key);
  if (!s) s = buffers_alloc(ctx, st, batch, ws, &buf);
  if (!s) s = check_init(st, batch, &buf, ctx->precision, ctx->stream, &check);

  int done = 0;
  for (int f = 1; f >= 0 && !s; f--)
    for (int i = 0; i < n_cfgs[f] && !s; i++) {
      if ((size_t)cfgs[f][i].workspace > library_ws) continue;
      conv_exec e = borrowed_exec(st, &graphs[f], &cfgs[f][i], batch, f);
      conv_trial t = {st, &e, buf.x, buf.r, buf.y, buf.ws, ctx->stream};
      cuda_choice c;
      memset(&c, 0, sizeof c);
      uint8_t packed[sizeof c.knobs - 1];
      int used = cg_config_pack(&cfgs[f][i], packed, (int)sizeof packed);
      cuda_tune_progress(ctx, n, ++done, total);
      if (used < 0) continue; /* cannot be recorded */
      memcpy(c.knobs + 1, packed, (size_t)used);
      c.kind = CUDA_IMPL_CUDNN_GRAPH;
      c.id = cfgs[f][i].global_index;
      c.knobs[0] = f ? 0 : 1;
      c.n_knobs = 1 + used;
      try_candidate(ctx, &check, &t, &c, list, &n_list, CONV_MAX_CANDIDATES, &tally);
    }
  if (!s && has_legacy) {
    conv_trial t = {st, &legacy, buf.x, buf.r, buf.y, buf.ws, ctx->stream};
    cuda_choice c;
    memset(&c, 0, sizeof c);
    c.kind = CUDA_IMPL_CUDNN_LEGACY;
    c.id = legacy.algo;
    cuda_tune_progress(ctx, n, ++done, total);
    try_candidate(ctx, &check, &t, &c, list, &n_list, CONV_MAX_CANDIDATES, &tally);
  }
  for (int v = 0; v < n_variants && !s; v++) {
    conv_exec e;
    memset(&e, 0, sizeof e);
    e.impl = CUDA_IMPL_KRT_KERNEL;
    e.batch = batch;
    e.variant = v;
    set_staging(st, batch, &e);
    conv_trial t = {st, &e, buf.x, buf.r, buf.y, buf.ws, ctx->stream};
    cuda_choice c;
    memset(&c, 0, sizeof c);
    c.kind = CUDA_IMPL_KRT_KERNEL;
    c.id = v;
    cuda_tune_progress(ctx, n, ++done, total);
    try_candidate(ctx, &check, &t, &c, list, &n_list, CONV_MAX_CANDIDATES, &tally);
  }

  /* The fastest candidate whose rebuilt implementation (as prepare builds it from the record)
   * passes the check too. */
  qsort(list, (size_t)n_list, sizeof *list, by_ms);
  const cuda_choice *best = NULL;
  for (int i = 0; i < n_list && !s && !best; i++) {
    const cuda_choice *c = &list[i].choice;
    conv_exec e;
    krt_status *err = exec_build(st, batch, c, buf.ws_bytes, &e);
    int same = !err && e.impl == c->kind &&
               (c->kind != CUDA_IMPL_CUDNN_GRAPH || e.cfg.global_index == c->id) &&
               (c->kind != CUDA_IMPL_CUDNN_LEGACY || (int64_t)e.algo == c->id) &&
               exec_workspace(&e) <= buf.ws_bytes;
    double error = INFINITY;
    if (same) err = check_exec(&check, &e, &error);
    if (same && !err && error <= check.tolerance) best = c;
    if (err) tally_failure(&tally, err);
    else if (same && !(error <= check.tolerance) && (tally.wrong++ == 0 || error < tally.smallest_wrong))
      tally.smallest_wrong = error;
    exec_free(&e);
  }
  if (!s && !best)
    s = no_candidate_error(name, n, total, &tally, key);
  if (!s) s = cuda_tuning_put(ctx->tuning, key, best);

  cudaStreamSynchronize(ctx->stream);
  check_free(&check);
  buffers_free(&buf);
  exec_free(&legacy);
  for (int f = 0; f < 2; f++) {
    for (int i = 0; i < n_cfgs[f]; i++) cg_config_free(&cfgs[f][i]);
    cg_graph_free(&graphs[f]);
  }
  cuda_conv_release(st);
  return s;
}
