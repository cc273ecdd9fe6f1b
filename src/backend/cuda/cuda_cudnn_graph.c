/* cuDNN 9 graph (backend) API: one convolution (+ bias + residual + activation) as an operation
 * graph, its engine configurations and execution plans. See cuda_cudnn_graph.h.
 *
 * The graph for a fused forward convolution (virtual tensors are float, never stored):
 *   x, w -> conv_fprop -> v0 -> (+ bias) -> v1 -> (+ residual) -> v2 -> act -> y
 * Steps that are absent are skipped, and the last step writes the real y.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_cudnn_graph.h"
#include "core/status.h"

/* All krt tensors handed to cuDNN are at least this aligned (cudaMalloc and the planner's arena
 * give 256). Launches check it. */
#define CG_ALIGNMENT 16

krt_status *cg_error(const char *node, const char *call, cudnnStatus_t s) {
  char last[512];
  last[0] = '\0';
  cudnnGetLastErrorString(last, sizeof last);
  krt_code code = (s == CUDNN_STATUS_NOT_SUPPORTED || s == CUDNN_STATUS_NOT_SUPPORTED_SHAPE ||
                   s == CUDNN_STATUS_NOT_SUPPORTED_LAYOUT ||
                   s == CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH)
                      ? KRT_ERR_UNSUPPORTED
                      : s == CUDNN_STATUS_ALLOC_FAILED ? KRT_ERR_OUT_OF_MEMORY : KRT_ERR_DEVICE;
  return krt_error(code, "node '%s': %s failed: %s%s%s", node, call, cudnnGetErrorString(s),
                   last[0] ? ": " : "", last);
}

#define CG_CHECK(call)                                   \
  do {                                                   \
    cudnnStatus_t cg_s_ = (call);                        \
    if (cg_s_ != CUDNN_STATUS_SUCCESS) return cg_error(node, #call, cg_s_); \
  } while (0)

static krt_status *create(const char *node, cg_graph *g, cudnnBackendDescriptorType_t type,
                          cudnnBackendDescriptor_t *d) {
  if (g->n_owned == (int)(sizeof g->owned / sizeof g->owned[0]))
    return krt_error(KRT_ERR_INTERNAL, "node '%s': too many cuDNN descriptors", node);
  CG_CHECK(cudnnBackendCreateDescriptor(type, d));
  g->owned[g->n_owned++] = *d;
  return NULL;
}

/* A tensor with logical dims [N, C, spatial...] stored channels-last over alloc_sp (the spatial
 * sizes of its buffer; dims <= alloc), positions `pitch` elements apart (0: c, dense). */
static krt_status *make_tensor(const char *node, cg_graph *g, int64_t uid, cudnnDataType_t type,
                               int nsp, int64_t n, int64_t c, int64_t pitch, const int64_t *sp,
                               const int64_t *alloc_sp, int is_virtual,
                               cudnnBackendDescriptor_t *out) {
  int64_t dims[5], strides[5];
  int nd = nsp + 2;
  dims[0] = n;
  dims[1] = c;
  strides[1] = 1;
  int64_t stride = pitch > 0 ? pitch : c;
  for (int i = nsp - 1; i >= 0; i--) {
    dims[2 + i] = sp[i];
    strides[2 + i] = stride;
    stride *= alloc_sp[i];
  }
  strides[0] = stride;
  int64_t alignment = CG_ALIGNMENT;
  bool virt = is_virtual != 0;
  cudnnBackendDescriptor_t d;
  KRT_TRY(create(node, g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, &d));
  CG_CHECK(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
  CG_CHECK(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, nd, dims));
  CG_CHECK(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, nd, strides));
  CG_CHECK(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  CG_CHECK(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1,
                                    &alignment));
  CG_CHECK(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt));
  CG_CHECK(cudnnBackendFinalize(d));
  *out = d;
  return NULL;
}

int cg_act_fusable(const ir_activation *a) {
  switch (a->kind) {
    case IR_ACT_NONE:
    case IR_ACT_SIGMOID:
    case IR_ACT_TANH:
    case IR_ACT_ELU:
    case IR_ACT_GELU:
    case IR_ACT_GELU_TANH:
    case IR_ACT_SWISH:
    case IR_ACT_SOFTPLUS:
      return 1;
    case IR_ACT_RELU: /* Keras relu below a non-zero threshold has no cuDNN equivalent */
      return a->threshold == 0.0f;
    default:
      return 0;
  }
}

/* A pointwise op y = mode(x [, b]). */
static krt_status *pointwise(const char *node, cg_graph *g, cudnnPointwiseMode_t mode,
                             const ir_activation *act, cudnnBackendDescriptor_t x,
                             cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y,
                             cudnnBackendDescriptor_t *op) {
  cudnnBackendDescriptor_t pw;
  cudnnDataType_t prec = CUDNN_DATA_FLOAT;
  KRT_TRY(create(node, g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw));
  CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1,
                                    &mode));
  CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1,
                                    &prec));
  if (mode == CUDNN_POINTWISE_RELU_FWD) {
    double lower = 0.0, slope = act->alpha, upper = act->max_value;
    CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_DOUBLE,
                                      1, &lower));
    CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE,
                                      CUDNN_TYPE_DOUBLE, 1, &slope));
    if (upper < 3.0e38) /* finite max_value: ReLU6 and friends */
      CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP,
                                        CUDNN_TYPE_DOUBLE, 1, &upper));
  } else if (mode == CUDNN_POINTWISE_ELU_FWD) {
    double alpha = act->alpha;
    CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_ELU_ALPHA, CUDNN_TYPE_DOUBLE, 1,
                                      &alpha));
  } else if (mode == CUDNN_POINTWISE_SWISH_FWD) {
    double beta = 1.0;
    CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_DOUBLE, 1,
                                      &beta));
  } else if (mode == CUDNN_POINTWISE_SOFTPLUS_FWD) {
    double beta = 1.0;
    CG_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_SOFTPLUS_BETA, CUDNN_TYPE_DOUBLE,
                                      1, &beta));
  }
  CG_CHECK(cudnnBackendFinalize(pw));
  KRT_TRY(create(node, g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, op));
  CG_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
  CG_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
  if (b)
    CG_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
  CG_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
  CG_CHECK(cudnnBackendFinalize(*op));
  return NULL;
}

static cudnnPointwiseMode_t act_mode(ir_act_kind kind) {
  switch (kind) {
    case IR_ACT_SIGMOID: return CUDNN_POINTWISE_SIGMOID_FWD;
    case IR_ACT_TANH: return CUDNN_POINTWISE_TANH_FWD;
    case IR_ACT_ELU: return CUDNN_POINTWISE_ELU_FWD;
    case IR_ACT_GELU: return CUDNN_POINTWISE_GELU_FWD;
    case IR_ACT_GELU_TANH: return CUDNN_POINTWISE_GELU_APPROX_TANH_FWD;
    case IR_ACT_SWISH: return CUDNN_POINTWISE_SWISH_FWD;
    case IR_ACT_SOFTPLUS: return CUDNN_POINTWISE_SOFTPLUS_FWD;
    default: return CUDNN_POINTWISE_RELU_FWD;
  }
}

static krt_status *build(const char *node, cudnnHandle_t handle, const cg_conv *c, cg_direction dir,
                         const cg_epilogue *epi, cg_graph *g) {
  int nsp = c->nsp;
  cudnnDataType_t io = c->io_type, f32 = CUDNN_DATA_FLOAT;
  int fuse_bias = epi && epi->bias, fuse_res = epi && epi->residual;
  int fuse_act = epi && epi->act && epi->activation.kind != IR_ACT_NONE;
  int steps = fuse_bias + fuse_res + fuse_act;
  if (dir == CG_DGRAD && (steps || c->y_pitch))
    return krt_error(KRT_ERR_INTERNAL, "node '%s': no fused or pitched dgrad graphs", node);
  const int64_t y_pitch = c->y_pitch;

  /* Real tensors. The conv result is virtual when an epilogue step follows. */
  cudnnBackendDescriptor_t x, w, y, conv_out, ops[4];
  int n_ops = 0;
  int64_t k_sp[3];
  for (int i = 0; i < nsp; i++) k_sp[i] = c->kernel[i];
  KRT_TRY(
      make_tensor(node, g, CG_UID_X, io, nsp, c->batch, c->ci, 0, c->x_sp, c->x_alloc_sp, 0, &x));
  KRT_TRY(make_tensor(node, g, CG_UID_W, io, nsp, c->co, c->ci / c->groups, 0, k_sp, k_sp, 0, &w));
  KRT_TRY(make_tensor(node, g, steps ? 100 : CG_UID_Y, steps ? f32 : io, nsp, c->batch, c->co,
                      steps ? 0 : y_pitch, c->y_sp, c->y_sp, steps > 0, &conv_out));
  y = conv_out;
  g->uids[g->n_uids++] = CG_UID_X;
  g->uids[g->n_uids++] = CG_UID_W;
  g->uids[g->n_uids++] = CG_UID_Y;

  cudnnBackendDescriptor_t cd;
  int64_t dims = nsp;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  KRT_TRY(create(node, g, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                    &f32));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                    CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1,
                                    &dims));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, nsp,
                                    c->dilation));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64,
                                    nsp, c->stride));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, nsp,
                                    c->pre));
  CG_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64,
                                    nsp, c->post));
  CG_CHECK(cudnnBackendFinalize(cd));

  float alpha = 1.0f, beta = 0.0f;
  if (dir == CG_FPROP) {
    KRT_TRY(create(node, g, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, &ops[0]));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                      CUDNN_TYPE_FLOAT, 1, &alpha));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                      CUDNN_TYPE_FLOAT, 1, &beta));
  } else {
    KRT_TRY(create(node, g, CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, &ops[0]));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
                                      CUDNN_TYPE_FLOAT, 1, &alpha));
    CG_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
                                      CUDNN_TYPE_FLOAT, 1, &beta));
  }
  CG_CHECK(cudnnBackendFinalize(ops[0]));
  n_ops = 1;

  /* Epilogue chain: each step reads the previous result; the last writes the real y. */
  int64_t ones[3] = {1, 1, 1};
  int done = 0;
  if (fuse_bias) {
    cudnnBackendDescriptor_t b, out;
    done++;
    KRT_TRY(make_tensor(node, g, CG_UID_BIAS, io, nsp, 1, c->co, 0, ones, ones, 0, &b));
    KRT_TRY(make_tensor(node, g, done == steps ? CG_UID_Y : 100 + done, done == steps ? io : f32,
                        nsp, c->batch, c->co, done == steps ? y_pitch : 0, c->y_sp, c->y_sp,
                        done < steps, &out));
    KRT_TRY(pointwise(node, g, CUDNN_POINTWISE_ADD, NULL, y, b, out, &ops[n_ops++]));
    y = out;
    g->uids[g->n_uids++] = CG_UID_BIAS;
  }
  if (fuse_res) {
    cudnnBackendDescriptor_t r, out;
    done++;
    KRT_TRY(make_tensor(node, g, CG_UID_RESIDUAL, io, nsp, c->batch, c->co, 0, c->y_sp, c->y_sp, 0,
                        &r));
    KRT_TRY(make_tensor(node, g, done == steps ? CG_UID_Y : 100 + done, done == steps ? io : f32,
                        nsp, c->batch, c->co, done == steps ? y_pitch : 0, c->y_sp, c->y_sp,
                        done < steps, &out));
    KRT_TRY(pointwise(node, g, CUDNN_POINTWISE_ADD, NULL, y, r, out, &ops[n_ops++]));
    y = out;
    g->uids[g->n_uids++] = CG_UID_RESIDUAL;
  }
  if (fuse_act) {
    cudnnBackendDescriptor_t out;
    done++;
    KRT_TRY(make_tensor(node, g, CG_UID_Y, io, nsp, c->batch, c->co, y_pitch, c->y_sp, c->y_sp, 0,
                        &out));
    KRT_TRY(pointwise(node, g, act_mode(epi->activation.kind), &epi->activation, y, NULL, out,
                      &ops[n_ops++]));
  }

  KRT_TRY(create(node, g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g->op_graph));
  CG_CHECK(cudnnBackendSetAttribute(g->op_graph, CUDNN_ATTR_OPERATIONGRAPH_OPS,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, n_ops, ops));
  CG_CHECK(cudnnBackendSetAttribute(g->op_graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE,
                                    CUDNN_TYPE_HANDLE, 1, &handle));
  CG_CHECK(cudnnBackendFinalize(g->op_graph));
  return NULL;
}

krt_status *cg_graph_build(const char *node, cudnnHandle_t handle, const cg_conv *conv,
                           cg_direction dir, const cg_epilogue *epi, cg_graph *out) {
  memset(out, 0, sizeof *out);
  krt_status *s = build(node, handle, conv, dir, epi, out);
  if (s) cg_graph_free(out);
  return s;
}

void cg_graph_free(cg_graph *g) {
  if (!g) return;
  for (int i = g->n_owned - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(g->owned[i]);
  memset(g, 0, sizeof *g);
}

void cg_config_free(cg_config *cfg) {
  if (cfg && cfg->plan) cudnnBackendDestroyDescriptor(cfg->plan);
  if (cfg) cfg->plan = NULL;
}

/* ---- engine configurations ------------------------------------------------------------------ */

/* 1 when an engine with this numerical note is not acceptable in `numerics` (cg_numerics). */
static int note_refused(cudnnBackendNumericalNote_t note, cg_numerics numerics) {
  /* Every engine must accumulate in float32. */
  if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) return 1;
  if (numerics == CG_NUMERICS_HALF) return 0;
  if (note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return 1;
  if (numerics == CG_NUMERICS_TF32) return 0;
  return note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || note == CUDNN_NUMERICAL_NOTE_FFT ||
         note == CUDNN_NUMERICAL_NOTE_WINOGRAD || note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4 ||
         note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6 ||
         note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13;
}

/* Reads an engine config's identity and notes. *skip is set for engines `numerics` rules out. */
static krt_status *describe(const char *node, cudnnBackendDescriptor_t ecfg, cg_numerics numerics,
                            cg_config *cfg, int *skip) {
  cudnnBackendDescriptor_t engine = NULL, knobs[CUDNN_KNOB_TYPE_COUNTS];
  int n_created = 0;
  krt_status *s = NULL;
  int64_t count = 0;
  *skip = 0;
  memset(cfg, 0, sizeof *cfg);
#define DESCRIBE_CHECK(call)                                          \
  do {                                                                \
    cudnnStatus_t d_s_ = (call);                                      \
    if (d_s_ != CUDNN_STATUS_SUCCESS) {                               \
      s = cg_error(node, #call, d_s_);                                \
      goto done;                                                      \
    }                                                                 \
  } while (0)
  DESCRIBE_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
  DESCRIBE_CHECK(cudnnBackendGetAttribute(ecfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                          CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine));
  DESCRIBE_CHECK(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64,
                                          1, &count, &cfg->global_index));
  cudnnBackendNumericalNote_t numerical[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  DESCRIBE_CHECK(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                          CUDNN_TYPE_NUMERICAL_NOTE,
                                          CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, numerical));
  for (int64_t i = 0; i < count; i++)
    if (note_refused(numerical[i], numerics)) *skip = 1;
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  DESCRIBE_CHECK(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                          CUDNN_TYPE_BEHAVIOR_NOTE, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT,
                                          &count, behavior));
  for (int64_t i = 0; i < count; i++)
    if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) cfg->runtime_compiled = 1;

  for (; n_created < CUDNN_KNOB_TYPE_COUNTS; n_created++)
    DESCRIBE_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR,
                                                &knobs[n_created]));
  DESCRIBE_CHECK(cudnnBackendGetAttribute(ecfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                          CUDNN_TYPE_BACKEND_DESCRIPTOR, CUDNN_KNOB_TYPE_COUNTS,
                                          &count, knobs));
  if (count > CG_MAX_KNOBS) {
    *skip = 1; /* cannot be recorded; never seen in practice */
    goto done;
  }
  for (int64_t i = 0; i < count; i++) {
    cudnnBackendKnobType_t type;
    int64_t got;
    DESCRIBE_CHECK(cudnnBackendGetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                            CUDNN_TYPE_KNOB_TYPE, 1, &got, &type));
    DESCRIBE_CHECK(cudnnBackendGetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                            CUDNN_TYPE_INT64, 1, &got, &cfg->knob_value[i]));
    cfg->knob_type[i] = (int)type;
  }
  cfg->n_knobs = (int)count;
done:
  for (int i = 0; i < n_created; i++) cudnnBackendDestroyDescriptor(knobs[i]);
  if (engine) cudnnBackendDestroyDescriptor(engine);
  return s;
#undef DESCRIBE_CHECK
}

static krt_status *make_plan(const char *node, cudnnHandle_t handle,
                             cudnnBackendDescriptor_t ecfg, cg_config *cfg) {
  cudnnBackendDescriptor_t plan;
  CG_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
  cudnnStatus_t s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                             CUDNN_TYPE_HANDLE, 1, &handle);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &ecfg);
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(plan);
  int64_t count, ws = 0;
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                 1, &count, &ws);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnBackendDestroyDescriptor(plan);
    return cg_error(node, "finalizing an execution plan", s);
  }
  cfg->plan = plan;
  cfg->workspace = ws;
  return NULL;
}

static int same_config(const cg_config *a, const cg_config *b) {
  if (a->global_index != b->global_index || a->n_knobs != b->n_knobs) return 0;
  for (int i = 0; i < a->n_knobs; i++)
    if (a->knob_type[i] != b->knob_type[i] || a->knob_value[i] != b->knob_value[i]) return 0;
  return 1;
}

/* Appends the finalizable configs of one heuristic mode to out[*n..max). */
static krt_status *list_mode(const char *node, cudnnHandle_t handle, const cg_graph *g,
                             cudnnBackendHeurMode_t mode, cg_numerics numerics, int *rtc_left,
                             cg_config *out, int max, int *n) {
  cudnnBackendDescriptor_t heur, cfgs[64];
  int64_t count = 0;
  int n_cfgs = 0;
  krt_status *s = NULL;
  CG_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
  cudnnStatus_t st = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                              CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->op_graph);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(heur);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL);
  if (st != CUDNN_STATUS_SUCCESS) {
    cudnnBackendDestroyDescriptor(heur);
    /* No heuristics for this graph is "no engine", not a failure. */
    return NULL;
  }
  if (count > 64) count = 64;
  for (; n_cfgs < count; n_cfgs++) {
    st = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[n_cfgs]);
    if (st != CUDNN_STATUS_SUCCESS) {
      s = cg_error(node, "cudnnBackendCreateDescriptor(ENGINECFG)", st);
      goto done;
    }
  }
  st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                count, &count, cfgs);
  if (st != CUDNN_STATUS_SUCCESS) {
    s = cg_error(node, "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)", st);
    goto done;
  }
  for (int64_t i = 0; i < count && *n < max; i++) {
    cg_config cfg;
    int skip = 0, dup = 0;
    krt_status *e = describe(node, cfgs[i], numerics, &cfg, &skip);
    if (e) { /* an engine cuDNN cannot describe is simply not a candidate */
      krt_status_release(e);
      continue;
    }
    if (skip || (cfg.runtime_compiled && *rtc_left <= 0)) continue;
    for (int j = 0; j < *n && !dup; j++) dup = same_config(&out[j], &cfg);
    if (dup) continue;
    e = make_plan(node, handle, cfgs[i], &cfg);
    if (e) {
      krt_status_release(e);
      continue;
    }
    out[(*n)++] = cfg;
    if (cfg.runtime_compiled) --*rtc_left;
  }
done:
  for (int i = 0; i < n_cfgs; i++) cudnnBackendDestroyDescriptor(cfgs[i]);
  cudnnBackendDestroyDescriptor(heur);
  return s;
}

krt_status *cg_list_configs(const char *node, cudnnHandle_t handle, const cg_graph *g,
                            cg_numerics numerics, int max_runtime_compiled, cg_config *out, int max,
                            int *n) {
  *n = 0;
  int rtc_left = max_runtime_compiled;
  krt_status *s = list_mode(node, handle, g, CUDNN_HEUR_MODE_A, numerics, &rtc_left, out, max, n);
  if (!s)
    s = list_mode(node, handle, g, CUDNN_HEUR_MODE_FALLBACK, numerics, &rtc_left, out, max, n);
  if (s) {
    for (int i = 0; i < *n; i++) cg_config_free(&out[i]);
    *n = 0;
  }
  return s;
}

krt_status *cg_config_from_choice(const char *node, cudnnHandle_t handle, const cg_graph *g,
                                  cg_config *cfg) {
  cudnnBackendDescriptor_t engine = NULL, ecfg = NULL, knobs[CG_MAX_KNOBS];
  int n_knobs = 0;
  krt_status *s = NULL;
  cfg->plan = NULL;
#define CHOICE_CHECK(call)                                            \
  do {                                                                \
    cudnnStatus_t c_s_ = (call);                                      \
    if (c_s_ != CUDNN_STATUS_SUCCESS) {                               \
      s = cg_error(node, #call, c_s_);                                \
      goto done;                                                      \
    }                                                                 \
  } while (0)
  CHOICE_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
  CHOICE_CHECK(cudnnBackendSetAttribute(engine, CUDNN_ATTR_ENGINE_OPERATION_GRAPH,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->op_graph));
  CHOICE_CHECK(cudnnBackendSetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64,
                                        1, &cfg->global_index));
  CHOICE_CHECK(cudnnBackendFinalize(engine));
  for (; n_knobs < cfg->n_knobs && n_knobs < CG_MAX_KNOBS; n_knobs++) {
    cudnnBackendKnobType_t type = (cudnnBackendKnobType_t)cfg->knob_type[n_knobs];
    CHOICE_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR,
                                              &knobs[n_knobs]));
    CHOICE_CHECK(cudnnBackendSetAttribute(knobs[n_knobs], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                          CUDNN_TYPE_KNOB_TYPE, 1, &type));
    CHOICE_CHECK(cudnnBackendSetAttribute(knobs[n_knobs], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                          CUDNN_TYPE_INT64, 1, &cfg->knob_value[n_knobs]));
    CHOICE_CHECK(cudnnBackendFinalize(knobs[n_knobs]));
  }
  CHOICE_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &ecfg));
  CHOICE_CHECK(cudnnBackendSetAttribute(ecfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &engine));
  if (n_knobs)
    CHOICE_CHECK(cudnnBackendSetAttribute(ecfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                          CUDNN_TYPE_BACKEND_DESCRIPTOR, n_knobs, knobs));
  CHOICE_CHECK(cudnnBackendFinalize(ecfg));
  s = make_plan(node, handle, ecfg, cfg);
done:
  if (ecfg) cudnnBackendDestroyDescriptor(ecfg);
  for (int i = 0; i < n_knobs; i++) cudnnBackendDestroyDescriptor(knobs[i]);
  if (engine) cudnnBackendDestroyDescriptor(engine);
  return s;
#undef CHOICE_CHECK
}

int cg_config_pack(const cg_config *cfg, uint8_t *bytes, int size) {
  int need = 5 * cfg->n_knobs;
  if (need > size) return -1;
  for (int i = 0; i < cfg->n_knobs; i++) {
    uint32_t v = (uint32_t)(int32_t)cfg->knob_value[i];
    if (cfg->knob_value[i] != (int32_t)cfg->knob_value[i] || cfg->knob_type[i] > 255) return -1;
    bytes[5 * i] = (uint8_t)cfg->knob_type[i];
    for (int b = 0; b < 4; b++) bytes[5 * i + 1 + b] = (uint8_t)(v >> (8 * b));
  }
  return need;
}

int cg_config_unpack(const uint8_t *bytes, int n, cg_config *cfg) {
  if (n < 0 || n % 5 || n / 5 > CG_MAX_KNOBS) return 0;
  cfg->n_knobs = n / 5;
  for (int i = 0; i < cfg->n_knobs; i++) {
    uint32_t v = 0;
    for (int b = 0; b < 4; b++) v |= (uint32_t)bytes[5 * i + 1 + b] << (8 * b);
    cfg->knob_type[i] = bytes[5 * i];
    cfg->knob_value[i] = (int32_t)v;
  }
  return 1;
}

krt_status *cg_execute(const char *node, cudnnHandle_t handle, const cg_graph *g,
                       cudnnBackendDescriptor_t plan, void *const *pointers, void *workspace) {
  cudnnBackendDescriptor_t pack;
  for (int i = 0; i < g->n_uids; i++)
    if ((uintptr_t)pointers[i] % CG_ALIGNMENT)
      return krt_error(KRT_ERR_INTERNAL, "node '%s': tensor %lld is not %d-byte aligned", node,
                       (long long)g->uids[i], CG_ALIGNMENT);
  CG_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
  cudnnStatus_t s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                             CUDNN_TYPE_INT64, g->n_uids, g->uids);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                 g->n_uids, pointers);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                 &workspace);
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(pack);
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendExecute(handle, plan, pack);
  cudnnBackendDestroyDescriptor(pack);
  if (s != CUDNN_STATUS_SUCCESS) return cg_error(node, "cudnnBackendExecute", s);
  return NULL;
}
