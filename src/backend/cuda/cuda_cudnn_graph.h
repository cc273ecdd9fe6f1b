/* cuDNN 9 graph (backend) API helpers shared by Conv and ConvTranspose (cuda_conv.c): building an
 * operation graph for one convolution with its fused epilogue, listing the engine configurations
 * cuDNN's heuristics offer for it, turning one into an execution plan (also from a recorded
 * engine global index + knob choices), and executing a plan.
 *
 * cuDNN's tensors are described with logical dims in NCHW order ([N, C, H, W] or [N, C, D, H, W])
 * and strides; krt's NHWC buffers are described by their strides ([H*W*C, 1, W*C, C]). Filters are
 * [K, C/groups, R, S] logically, stored KRSC (krt re-lays the Keras weights at prepare time).
 */
#ifndef KRT_BACKEND_CUDA_CUDNN_GRAPH_H
#define KRT_BACKEND_CUDA_CUDNN_GRAPH_H

#include <cudnn.h>

#include "ir/graph.h"

/* Unique ids of the tensors in a variant pack. */
enum { CG_UID_X = 1, CG_UID_W = 2, CG_UID_Y = 3, CG_UID_BIAS = 4, CG_UID_RESIDUAL = 5 };

typedef enum cg_direction {
  CG_FPROP = 0, /* y = conv(x, w): Conv */
  CG_DGRAD = 1  /* x = conv^T(y, w), the data gradient: ConvTranspose, whose input is "y" here */
} cg_direction;

/* One convolution as cuDNN sees it (forward direction: x -> y), 2 or 3 spatial axes. */
typedef struct cg_conv {
  int nsp;                            /* spatial axes given to cuDNN (2 or 3) */
  int64_t batch, ci, co, groups;      /* x has ci channels, y co; filter [co, ci/groups, k...] */
  int64_t x_sp[3], y_sp[3];           /* spatial sizes */
  int64_t x_alloc_sp[3];              /* spatial sizes x's buffer is laid out with (>= x_sp; only
                                       * DGRAD writes a sub-block of a larger output) */
  int64_t kernel[3], stride[3], dilation[3], pre[3], post[3];
  int64_t y_pitch;                    /* FPROP: elements between y's positions, 0 = co (dense);
                                       * larger when y is written into a Concat in place */
  cudnnDataType_t io_type;            /* CUDNN_DATA_FLOAT or CUDNN_DATA_HALF; compute is float */
} cg_conv;

/* What the fused graph appends to a forward convolution. */
typedef struct cg_epilogue {
  int bias;         /* + bias[co] (broadcast over N and space) */
  int residual;     /* + residual (y's shape) */
  int act;          /* 1: apply `activation` (must be cg_act_fusable) */
  ir_activation activation;
} cg_epilogue;

/* A finalized operation graph and every descriptor it needed. */
typedef struct cg_graph {
  cudnnBackendDescriptor_t op_graph;
  cudnnBackendDescriptor_t owned[32];
  int n_owned;
  int64_t uids[5];
  int n_uids;
} cg_graph;

/* One engine configuration: what identifies it across processes, and its plan. */
#define CG_MAX_KNOBS 12
typedef struct cg_config {
  int64_t global_index;
  int n_knobs;
  int knob_type[CG_MAX_KNOBS];
  int64_t knob_value[CG_MAX_KNOBS];
  int runtime_compiled;               /* needs NVRTC at finalize (slow to build) */
  cudnnBackendDescriptor_t plan;      /* finalized execution plan (owned) */
  int64_t workspace;
} cg_config;

/* 1 when cuDNN's pointwise ops can express act exactly. */
int cg_act_fusable(const ir_activation *act);

/* Builds and finalizes the op graph. Returns KRT_ERR_UNSUPPORTED when cuDNN rejects the graph
 * (the caller falls back), another code on failure. epi may be NULL (plain conv). */
krt_status *cg_graph_build(const char *node, cudnnHandle_t handle, const cg_conv *conv,
                           cg_direction dir, const cg_epilogue *epi, cg_graph *out);
void cg_graph_free(cg_graph *g);

/* Which engines' numerics an engine precision accepts (by cuDNN's numerical notes). Engines that
 * reduce in reduced precision are never accepted.
 *   CG_NUMERICS_HALF         float16 data: any engine.
 *   CG_NUMERICS_STRICT_FP32  float32: none that rounds it (TF32 tensor cores, inputs down-
 *                            converted, FFT, Winograd), so results match Keras to about 1e-4.
 *   CG_NUMERICS_TF32         float32 that may round to TF32: tensor-core engines, FFT and Winograd
 *                            are fine, engines that down-convert inputs (to half) are not (as
 *                            PyTorch filters them when it allows TF32). */
typedef enum cg_numerics {
  CG_NUMERICS_HALF = 0,
  CG_NUMERICS_STRICT_FP32 = 1,
  CG_NUMERICS_TF32 = 2
} cg_numerics;

/* Up to `max` finalized configurations for g, heuristic mode A first then the fallback list,
 * without duplicates, keeping only the engines `numerics` accepts. Engines whose plan does not
 * finalize are skipped, and so are runtime-compiled engines (NVRTC at finalize: slow to build)
 * beyond the first max_runtime_compiled. *n may be 0. */
krt_status *cg_list_configs(const char *node, cudnnHandle_t handle, const cg_graph *g,
                            cg_numerics numerics, int max_runtime_compiled, cg_config *out, int max,
                            int *n);

/* The plan of the engine with this global index and these knob choices; KRT_ERR_UNSUPPORTED if
 * cuDNN no longer offers it. cfg->plan is owned by the caller (cg_config_free). */
krt_status *cg_config_from_choice(const char *node, cudnnHandle_t handle, const cg_graph *g,
                                  cg_config *cfg);
void cg_config_free(cg_config *cfg);

/* Serialises the identity of cfg into bytes (u8 type + i32 value per knob): returns the bytes
 * used, or 0 when it does not fit in `size`. */
int cg_config_pack(const cg_config *cfg, uint8_t *bytes, int size);
int cg_config_unpack(const uint8_t *bytes, int n, cg_config *cfg);

/* Executes plan with the data pointers for g's uids (in g->uids order). */
krt_status *cg_execute(const char *node, cudnnHandle_t handle, const cg_graph *g,
                       cudnnBackendDescriptor_t plan, void *const *pointers, void *workspace);

/* "CUDNN_STATUS_...: last error text" for messages. */
krt_status *cg_error(const char *node, const char *call, cudnnStatus_t s);

#endif
