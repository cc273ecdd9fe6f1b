/* krt's own depthwise convolution (NHWC), a candidate the Conv tuner times against cuDNN.
 *
 * Applies to a Conv node with groups == Ci (any depth multiplier m: Co = Ci * m), 1 or 2 spatial
 * axes, any strides, dilations and (asymmetric) pads, with the fused epilogue
 *   y = act(conv(x, w) + bias + residual).
 * Shapes (device memory, dense, row-major, all of y's dtype, FLOAT32 or FLOAT16 storage with
 * float32 accumulation):
 *   x         [N, (H,) W, Ci]
 *   w         [k_h, (k_w,) 1, Co]: the IR kernel layout, i.e. for each tap (row-major over the
 *             kernel window) one row of Co values; output channel co reads input channel co / m
 *   bias      [Co] or NULL
 *   residual  [N, (OH,) OW, Co] (y's shape) or NULL
 *   y         [N, (OH,) OW, Co]
 * Variants (0 .. cuda_depthwise_variants() - 1) trade work per thread:
 *   0  one output element per thread (always applicable)
 *   1  16 bytes of output channels per thread (needs Co a multiple of 4 for float32 / 8 for
 *      float16 and 16-byte aligned pointers)
 *   2  as 1, two neighbouring outputs along the last spatial axis per thread (weights reused)
 *   3  as 1, four neighbouring outputs per thread
 * A variant that does not apply to the node returns KRT_ERR_UNSUPPORTED without launching, so
 * a tuner can simply skip it. Enqueues on `stream`; never synchronises or allocates.
 */
#ifndef KRT_BACKEND_CUDA_DEPTHWISE_H
#define KRT_BACKEND_CUDA_DEPTHWISE_H

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend/cuda/cuda_kernels.h"

krt_status *cuda_depthwise_conv(const ir_node *n, const cuda_tensor *x, const void *w,
                                const void *bias, const void *residual, cuda_tensor *y, int variant,
                                cudaStream_t stream);

/* How many variants exist, for tuning. */
int cuda_depthwise_variants(void);

#ifdef __cplusplus
}
#endif

#endif
