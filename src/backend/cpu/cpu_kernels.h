/* The CPU reference kernels: portable C, float32, written to be read. They are the oracle every
 * faster backend is tested against, so clarity wins over speed here.
 *
 * Each kernel computes one node. Tensors are concrete (batch substituted), dense, row-major,
 * channels-last where spatial (see src/ir/ops.def for every op's exact semantics). Inputs are in
 * node order, constants included. A kernel never allocates its outputs: y points to the node's
 * n->n_outputs output tensors, in the op's output order (y[0] alone for most ops), each planned
 * memory of the right size, never shared with an input or another output (for Reshape/Identity
 * y[0] may be the same memory as the input).
 */
#ifndef KRT_BACKEND_CPU_KERNELS_H
#define KRT_BACKEND_CPU_KERNELS_H

#include "ir/graph.h"

typedef struct cpu_tensor {
  float *data;     /* float32; int32 when dtype is KRT_INT32 (an exact integer graph input) */
  krt_dtype dtype; /* KRT_FLOAT32, or KRT_INT32 for Gather indices (cpu_input_dtype) */
  int rank;
  int64_t dims[KRT_MAX_RANK];
} cpu_tensor;

/* in: n_in input tensors; y: n->n_outputs output tensors */
typedef krt_status *(*cpu_kernel_fn)(const ir_node *n, const cpu_tensor *in, int n_in,
                                     cpu_tensor *y);

/* One per op, by family:                                                   file            */
krt_status *cpu_kernel_dense(const ir_node *, const cpu_tensor *, int, cpu_tensor *); /* cpu_dense.c */
krt_status *cpu_kernel_matmul(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_conv(const ir_node *, const cpu_tensor *, int, cpu_tensor *);  /* cpu_conv.c  */
krt_status *cpu_kernel_conv_transpose(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_pool(const ir_node *, const cpu_tensor *, int, cpu_tensor *);  /* cpu_pool.c  */
krt_status *cpu_kernel_reduce(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_batchnorm(const ir_node *, const cpu_tensor *, int, cpu_tensor *); /* cpu_norm.c */
krt_status *cpu_kernel_layernorm(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_softmax(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_log_softmax(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_activation(const ir_node *, const cpu_tensor *, int, cpu_tensor *); /* cpu_elementwise.c */
krt_status *cpu_kernel_prelu(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_binary(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_concat(const ir_node *, const cpu_tensor *, int, cpu_tensor *); /* cpu_layout.c */
krt_status *cpu_kernel_reshape(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_transpose(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_pad(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_slice(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_split(const ir_node *, const cpu_tensor *, int, cpu_tensor *); /* y[k] */
krt_status *cpu_kernel_resize(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_gather(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_identity(const ir_node *, const cpu_tensor *, int, cpu_tensor *);
krt_status *cpu_kernel_recurrent(const ir_node *, const cpu_tensor *, int, cpu_tensor *); /* cpu_recurrent.c */

/* y[i] = act(y[i]) in place, for the fused activation of Dense, Conv and Binary nodes. */
void cpu_apply_activation(const ir_activation *act, float *y, int64_t count);

/* The kernel for an op; NULL when the CPU backend has none. */
cpu_kernel_fn cpu_kernel_for(ir_op op);

#endif
