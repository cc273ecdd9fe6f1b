/* The TensorFlow op converters (tf_ops_array.c, tf_ops_nn.c), listed by name in tf_ops.c. */
#ifndef KRT_IMPORT_TF_OPS_H
#define KRT_IMPORT_TF_OPS_H

#include "import/tf_internal.h"

#define TF_CONVERTERS(X)                                                                        \
  X(placeholder) X(const) X(identity) X(noop) X(shape) X(reshape) X(squeeze) X(expand_dims)     \
  X(transpose) X(concat) X(pack) X(unpack) X(split) X(slice) X(strided_slice) X(pad) X(tile)    \
  X(gather) X(cast) X(fill) X(range) X(conv2d) X(depthwise_conv2d) X(conv2d_backprop_input)     \
  X(bias_add) X(matmul) X(batch_matmul) X(activation) X(softmax) X(fused_batch_norm)            \
  X(binary) X(add_n) X(reciprocal) X(pool) X(reduce)  X(resize) X(space_to_batch)           \
  X(batch_to_space) X(reverse) X(cross) X(matrix_diag) X(matrix_diag_part) X(reverse_sequence) \
  X(compare) X(is_special) X(logical) X(select)

#define TF_DECLARE(name) krt_status *tf_convert_##name(tf_op_call *c);
TF_CONVERTERS(TF_DECLARE)
#undef TF_DECLARE

krt_status *tf_read_tensor(tf_op_call *c, const Krt__Tf__TensorProto *p, int k);

#endif
