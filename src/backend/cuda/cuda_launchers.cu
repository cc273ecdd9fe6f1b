/* The op -> launcher table of the CUDA backend. Conv, ConvTranspose and Dense are library-backed
 * (cuda_conv.c, cuda_dense.c); every other op is one of krt's own kernels (*.cu).
 *
 * A .cu rather than a .c file: the core library globs src/ for *.c, and libkrt never includes
 * CUDA headers; everything under the module's .cu files is built only into libkrt_cuda.so.
 */
#include "backend/cuda/cuda_kernel_util.cuh"

extern "C" cuda_launch_fn cuda_launcher_for(ir_op op) {
  switch (op) {
    case IR_OP_DENSE: return cuda_launch_dense;
    case IR_OP_CONV: return cuda_launch_conv;
    case IR_OP_CONV_TRANSPOSE: return cuda_launch_conv_transpose;
    case IR_OP_POOL: return cuda_launch_pool;
    case IR_OP_REDUCE: return cuda_launch_reduce;
    case IR_OP_BATCHNORM: return cuda_launch_batchnorm;
    case IR_OP_LAYERNORM: return cuda_launch_layernorm;
    case IR_OP_ACTIVATION: return cuda_launch_activation;
    case IR_OP_SOFTMAX: return cuda_launch_softmax;
    case IR_OP_LOG_SOFTMAX: return cuda_launch_log_softmax;
    case IR_OP_PRELU: return cuda_launch_prelu;
    case IR_OP_BINARY: return cuda_launch_binary;
    case IR_OP_CONCAT: return cuda_launch_concat;
    case IR_OP_RESHAPE: return cuda_launch_reshape;
    case IR_OP_TRANSPOSE: return cuda_launch_transpose;
    case IR_OP_PAD: return cuda_launch_pad;
    case IR_OP_SLICE: return cuda_launch_slice;
    case IR_OP_SPLIT: return cuda_launch_split;
    case IR_OP_RESIZE: return cuda_launch_resize;
    case IR_OP_GATHER: return cuda_launch_gather;
    case IR_OP_IDENTITY: return cuda_launch_identity;
    case IR_OP_MATMUL: return cuda_launch_matmul;
    case IR_OP_RECURRENT: return cuda_launch_recurrent;
    default: return NULL;
  }
}
