/* Helpers shared by the CPU reference kernels (private to src/backend/cpu): error messages that
 * name the node, element counts and strides, numpy broadcasting, sliding-window geometry and the
 * split of a tensor into "kept" and "reduced" axes used by Reduce, Softmax and LayerNorm.
 */
#ifndef KRT_BACKEND_CPU_UTIL_H
#define KRT_BACKEND_CPU_UTIL_H

#include "backend/cpu/cpu_kernels.h"
#include "core/status.h"

/* krt_error(code, "node 'NAME' (Op): " fmt, ...): every kernel error names its node. */
krt_status *cpu_node_error(const ir_node *n, krt_code code, const char *fmt, ...) KRT_PRINTF(3, 4);

int64_t cpu_count(const cpu_tensor *t);

/* Row-major element strides of t: strides[rank-1] = 1. */
void cpu_strides(const cpu_tensor *t, int64_t strides[KRT_MAX_RANK]);

/* Element strides for reading `in` while walking y's indices under numpy broadcasting (shapes
 * aligned on the right; an axis of size 1, or missing in `in`, gets stride 0). Returns 0 when in
 * cannot broadcast to y's shape. */
int cpu_broadcast_strides(const cpu_tensor *in, const cpu_tensor *y, int64_t strides[KRT_MAX_RANK]);

/* The geometry of a sliding-window op (Conv, ConvTranspose, Pool) on x[N, S..., C] -> y[N, S'...,
 * C'], with 1 to 3 spatial axes padded to exactly 3 (missing leading axes have size 1, kernel 1).
 */
typedef struct cpu_window {
  int64_t batch;
  int64_t in_channels, out_channels;
  int64_t in[3], out[3];
  int64_t kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
} cpu_window;

/* Fills w from the node's attributes and the tensors' dims; checks ranks, batch and attribute
 * ranges (KRT_ERR_INTERNAL naming the node). use_dilation is 0 for Pool (it has none). */
krt_status *cpu_window_init(const ir_node *n, const cpu_tensor *x, const cpu_tensor *y,
                            int use_dilation, cpu_window *w);

/* Splits x's axes into `reduced` (the node's axes) and `kept` (the others). Element e of x lies at
 * offset base(kept index) + inner_offsets[reduced index]; both indices run row-major in axis
 * order, so the kept index is also the element index of a reduced (or keepdims) output, and the
 * reduced index is the element index within gamma/beta of LayerNorm. */
typedef struct cpu_axis_split {
  int64_t outer_count;    /* product of the kept dims */
  int64_t inner_count;    /* product of the reduced dims */
  int64_t *inner_offsets; /* inner_count offsets (malloc'd) */
  int n_kept;
  int64_t kept_dims[KRT_MAX_RANK], kept_strides[KRT_MAX_RANK];
} cpu_axis_split;

krt_status *cpu_axis_split_init(const ir_node *n, const cpu_tensor *x, cpu_axis_split *s);
int64_t cpu_axis_split_base(const cpu_axis_split *s, int64_t outer_index);
void cpu_axis_split_free(cpu_axis_split *s);

/* Checks that n has between lo and hi inputs and that y holds `count` elements. */
krt_status *cpu_check_inputs(const ir_node *n, int n_in, int lo, int hi);
krt_status *cpu_check_count(const ir_node *n, const cpu_tensor *y, int64_t count);

/* y += in[3] elementwise when n has a fused residual (attrs.residual; Dense, Conv,
 * ConvTranspose), before the activation; nothing otherwise. In cpu_conv.c. */
krt_status *cpu_add_residual(const ir_node *n, const cpu_tensor *in, int n_in, cpu_tensor *y);

#endif
