/* The CUDA backend's op launchers: one per IR op, mirroring src/backend/cpu/cpu_kernels.h.
 *
 * Tensors are device memory, dense, row-major, channels-last (NHWC) whatever the model's layout
 * (importers already made spatial ops channels-last), batch substituted. dtype is FLOAT32 or, in
 * FP16 engines, FLOAT16 storage (arithmetic accumulates in float32 where it matters: reductions,
 * normalisations, softmax, dot products). Every launcher enqueues on `stream` and never
 * synchronises or touches host memory, so a whole run can be captured into one CUDA graph.
 * Launchers check the launch (cudaGetLastError) and return a status naming the node; they never
 * allocate: scratch comes from `workspace` (sized by cuda_workspace_bytes at prepare time).
 *
 * Conv, ConvTranspose and Dense use cuDNN / cuBLASLt (cuda_conv.c, cuda_dense.c) with the choice
 * made at build time (cuda_tuning.h); the other ops are krt's own kernels (*.cu).
 */
#ifndef KRT_BACKEND_CUDA_KERNELS_H
#define KRT_BACKEND_CUDA_KERNELS_H

#include <cuda_runtime.h>

#include "ir/graph.h"

typedef struct cuda_tensor {
  void *data;       /* device pointer */
  krt_dtype dtype;  /* KRT_FLOAT32 or KRT_FLOAT16 */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int64_t row_pitch; /* 0: dense. Else a Concat input written in place (src/plan/plan.h): row r
                      * of the last axis starts at data + r * row_pitch elements. Only the ops
                      * cuda_writes_rows accepts get such an output, and only their Concat reads
                      * such an input (and skips it: the data is already in place). */
} cuda_tensor;

/* What every launcher gets besides its tensors. */
typedef struct cuda_launch {
  cudaStream_t stream;
  void *workspace;          /* device scratch for this node, workspace_bytes long */
  size_t workspace_bytes;
  int *error_flag;          /* device int: kernels that find bad data at run time (Gather's index
                             * out of range) store a non-zero code here; read after the run */
  const void *op_state;     /* per-node state prepared at engine prepare time (cuDNN descriptors
                             * and plans, cuBLASLt algorithms), or NULL */
} cuda_launch;

/* in: n_in input tensors; y: the node's n->n_outputs output tensors, in the op's output order
 * (y[0] alone for most ops), each its own memory (src/plan: outputs never share bytes with each
 * other or with the inputs, Reshape and Identity aside). */
typedef krt_status *(*cuda_launch_fn)(const ir_node *n, const cuda_tensor *in, int n_in,
                                      cuda_tensor *y, const cuda_launch *launch);

/* Library-backed (cuda_conv.c, cuda_dense.c) */
krt_status *cuda_launch_conv(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_conv_transpose(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_dense(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
/* krt's own kernels (*.cu) */
krt_status *cuda_launch_pool(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_reduce(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_batchnorm(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_layernorm(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_softmax(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_log_softmax(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_activation(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_prelu(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_binary(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_concat(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_reshape(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_transpose(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_pad(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_slice(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
/* y: the node's n_outputs pieces */
krt_status *cuda_launch_split(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_resize(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_gather(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
krt_status *cuda_launch_identity(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
/* cuda_matmul.cu: MatMul of two tensors (its own tiled kernel, float32 accumulation) */
krt_status *cuda_launch_matmul(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
/* cuda_recurrent.cu: Recurrent (SimpleRNN, LSTM, GRU), one persistent block per sample with the
 * state in shared memory: cuda_recurrent_shared_bytes(cell, units, masked) of it, which must not
 * exceed CUDA_RECURRENT_MAX_SHARED (the shared memory every CUDA device gives a block without
 * opting in; about 1100 LSTM, 1350 GRU or 2450 SimpleRNN units, a masked layer a little fewer) */
krt_status *cuda_launch_recurrent(const ir_node *, const cuda_tensor *, int, cuda_tensor *, const cuda_launch *);
size_t cuda_recurrent_shared_bytes(ir_rnn_cell cell, int64_t units, int masked);
#define CUDA_RECURRENT_MAX_SHARED (48 * 1024)

/* Elementwise epilogue for library calls that cannot fuse it themselves:
 * y = act(y + bias[channel] + residual) over a [rows, channels] tensor (any of bias, residual may
 * be NULL), in place. */
krt_status *cuda_launch_epilogue(const char *node_name, void *y, krt_dtype dtype, int64_t rows,
                                 int64_t channels, const void *bias, const void *residual,
                                 const ir_activation *act, cudaStream_t stream);

/* float32 <-> float16 conversion of `count` elements (engine boundaries and weight upload). */
krt_status *cuda_convert(void *dst, krt_dtype dst_type, const void *src, krt_dtype src_type,
                         int64_t count, cudaStream_t stream);

/* The launcher for an op; NULL when the CUDA backend has none. */
cuda_launch_fn cuda_launcher_for(ir_op op);

/* plan_row_writer_fn for the CUDA backend: Conv, ConvTranspose and Dense write their output at a
 * row pitch (cuDNN output strides, cuBLASLt's ldd, or a dense result in the workspace moved by
 * one 2-D copy where the chosen implementation cannot). `at` and `pitch` must keep rows 16-byte
 * aligned in float16 (multiples of 8 elements), as the libraries are told. */
int cuda_writes_rows(const ir_graph *g, const ir_node *n, int64_t at, int64_t pitch);

#endif
