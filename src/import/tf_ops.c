/* The TensorFlow ops krt converts: op name -> converter and the attributes it understands (any
 * other attribute on a node is refused by name: tf_graphdef.c check_convertible). Ops krt knows
 * it cannot run are listed with the reason given in the refusal. */
#include <string.h>

#include "import/tf_ops.h"

typedef struct tf_op_entry {
  const char *op;
  tf_convert_fn convert;
  const char *attrs; /* understood attributes, comma-separated */
} tf_op_entry;

#define CONV_ATTRS "T,strides,padding,explicit_paddings,data_format,dilations,use_cudnn_on_gpu"
#define POOL_ATTRS "T,ksize,strides,padding,explicit_paddings,data_format"
#define REDUCE_ATTRS "T,Tidx,keep_dims"

static const tf_op_entry ops[] = {
    {"Placeholder", tf_convert_placeholder, "dtype,shape"},
    {"PlaceholderWithDefault", tf_convert_identity, "dtype,shape"},
    {"Const", tf_convert_const, "dtype,value"},
    {"Identity", tf_convert_identity, "T"},
    {"StopGradient", tf_convert_identity, "T"},
    {"Snapshot", tf_convert_identity, "T"},
    {"PreventGradient", tf_convert_identity, "T,message"},
    {"NoOp", tf_convert_noop, ""},
    {"Shape", tf_convert_shape, "T,out_type"},
    {"Size", tf_convert_shape, "T,out_type"},
    {"Rank", tf_convert_shape, "T"},
    {"Reshape", tf_convert_reshape, "T,Tshape"},
    {"Squeeze", tf_convert_squeeze, "T,squeeze_dims"},
    {"ExpandDims", tf_convert_expand_dims, "T,Tdim"},
    {"Transpose", tf_convert_transpose, "T,Tperm"},
    {"ConcatV2", tf_convert_concat, "T,N,Tidx"},
    {"Concat", tf_convert_concat, "T,N"},
    {"Pack", tf_convert_pack, "T,N,axis"},
    {"Unpack", tf_convert_unpack, "T,num,axis"},
    {"Split", tf_convert_split, "T,num_split"},
    {"SplitV", tf_convert_split, "T,num_split,Tlen"},
    {"Slice", tf_convert_slice, "T,Index"},
    {"StridedSlice", tf_convert_strided_slice,
     "T,Index,begin_mask,end_mask,ellipsis_mask,new_axis_mask,shrink_axis_mask"},
    {"Pad", tf_convert_pad, "T,Tpaddings"},
    {"PadV2", tf_convert_pad, "T,Tpaddings"},
    {"Tile", tf_convert_tile, "T,Tmultiples"},
    {"ReverseV2", tf_convert_reverse, "T,Tidx"},
    {"Cross", tf_convert_cross, "T"},
    {"MatrixDiag", tf_convert_matrix_diag, "T"},
    {"MatrixDiagPart", tf_convert_matrix_diag_part, "T"},
    {"ReverseSequence", tf_convert_reverse_sequence, "T,Tlen,seq_dim,batch_dim"},
    {"GatherV2", tf_convert_gather, "Tparams,Tindices,Taxis,batch_dims"},
    {"Gather", tf_convert_gather, "Tparams,Tindices,validate_indices"},
    {"Cast", tf_convert_cast, "SrcT,DstT,Truncate"},
    {"Fill", tf_convert_fill, "T,index_type"},
    {"Range", tf_convert_range, "Tidx"},
    {"Conv2D", tf_convert_conv2d, CONV_ATTRS},
    {"DepthwiseConv2dNative", tf_convert_depthwise_conv2d, CONV_ATTRS},
    {"Conv2DBackpropInput", tf_convert_conv2d_backprop_input, CONV_ATTRS},
    {"BiasAdd", tf_convert_bias_add, "T,data_format"},
    {"SpaceToBatchND", tf_convert_space_to_batch, "T,Tblock_shape,Tpaddings"},
    {"BatchToSpaceND", tf_convert_batch_to_space, "T,Tblock_shape,Tcrops"},
    {"MatMul", tf_convert_matmul, "T,transpose_a,transpose_b,grad_a,grad_b"},
    {"BatchMatMul", tf_convert_batch_matmul, "T,adj_x,adj_y,grad_x,grad_y"},
    {"BatchMatMulV2", tf_convert_batch_matmul, "T,adj_x,adj_y,grad_x,grad_y"},
    {"BatchMatMulV3", tf_convert_batch_matmul, "Ta,Tb,Tout,adj_x,adj_y,grad_x,grad_y"},
    {"Relu", tf_convert_activation, "T"},
    {"Relu6", tf_convert_activation, "T"},
    {"LeakyRelu", tf_convert_activation, "T,alpha"},
    {"Elu", tf_convert_activation, "T"},
    {"Selu", tf_convert_activation, "T"},
    {"Sigmoid", tf_convert_activation, "T"},
    {"Tanh", tf_convert_activation, "T"},
    {"Softplus", tf_convert_activation, "T"},
    {"Softsign", tf_convert_activation, "T"},
    {"Square", tf_convert_activation, "T"},
    {"Sqrt", tf_convert_activation, "T"},
    {"Rsqrt", tf_convert_activation, "T"},
    {"Exp", tf_convert_activation, "T"},
    {"Log", tf_convert_activation, "T"},
    {"Neg", tf_convert_activation, "T"},
    {"Abs", tf_convert_activation, "T"},
    {"Erf", tf_convert_activation, "T"},
    {"Sin", tf_convert_activation, "T"},
    {"Cos", tf_convert_activation, "T"},
    {"Tan", tf_convert_activation, "T"},
    {"Asin", tf_convert_activation, "T"},
    {"Acos", tf_convert_activation, "T"},
    {"Atan", tf_convert_activation, "T"},
    {"Sinh", tf_convert_activation, "T"},
    {"Cosh", tf_convert_activation, "T"},
    {"Asinh", tf_convert_activation, "T"},
    {"Acosh", tf_convert_activation, "T"},
    {"Atanh", tf_convert_activation, "T"},
    {"Log1p", tf_convert_activation, "T"},
    {"Expm1", tf_convert_activation, "T"},
    {"Erfc", tf_convert_activation, "T"},
    {"Round", tf_convert_activation, "T"},
    {"Rint", tf_convert_activation, "T"},
    {"Floor", tf_convert_activation, "T"},
    {"Ceil", tf_convert_activation, "T"},
    {"Sign", tf_convert_activation, "T"},
    {"Softmax", tf_convert_softmax, "T"},
    {"LogSoftmax", tf_convert_softmax, "T"},
    {"FusedBatchNorm", tf_convert_fused_batch_norm,
     "T,epsilon,data_format,is_training,exponential_avg_factor"},
    {"FusedBatchNormV2", tf_convert_fused_batch_norm,
     "T,U,epsilon,data_format,is_training,exponential_avg_factor"},
    {"FusedBatchNormV3", tf_convert_fused_batch_norm,
     "T,U,epsilon,data_format,is_training,exponential_avg_factor"},
    {"Add", tf_convert_binary, "T"},
    {"AddV2", tf_convert_binary, "T"},
    {"Sub", tf_convert_binary, "T"},
    {"Mul", tf_convert_binary, "T"},
    {"RealDiv", tf_convert_binary, "T"},
    {"FloorDiv", tf_convert_binary, "T"},
    {"FloorMod", tf_convert_binary, "T"},
    {"TruncateDiv", tf_convert_binary, "T"},
    {"TruncateMod", tf_convert_binary, "T"},
    {"Atan2", tf_convert_binary, "T"},
    {"Maximum", tf_convert_binary, "T"},
    {"Minimum", tf_convert_binary, "T"},
    {"Pow", tf_convert_binary, "T"},
    {"SquaredDifference", tf_convert_binary, "T"},
    {"AddN", tf_convert_add_n, "T,N"},
    {"Reciprocal", tf_convert_reciprocal, "T"},
    {"Inv", tf_convert_reciprocal, "T"},
    {"MaxPool", tf_convert_pool, POOL_ATTRS},
    {"AvgPool", tf_convert_pool, POOL_ATTRS},
    {"Mean", tf_convert_reduce, REDUCE_ATTRS},
    {"Sum", tf_convert_reduce, REDUCE_ATTRS},
    {"Max", tf_convert_reduce, REDUCE_ATTRS},
    {"Min", tf_convert_reduce, REDUCE_ATTRS},
    {"Any", tf_convert_reduce, "Tidx,keep_dims"},
    {"All", tf_convert_reduce, "Tidx,keep_dims"},
    {"Equal", tf_convert_compare, "T,incompatible_shape_error"},
    {"NotEqual", tf_convert_compare, "T,incompatible_shape_error"},
    {"Less", tf_convert_compare, "T"},
    {"LessEqual", tf_convert_compare, "T"},
    {"Greater", tf_convert_compare, "T"},
    {"GreaterEqual", tf_convert_compare, "T"},
    {"IsNan", tf_convert_is_special, "T"},
    {"IsInf", tf_convert_is_special, "T"},
    {"IsFinite", tf_convert_is_special, "T"},
    {"LogicalNot", tf_convert_logical, ""},
    {"LogicalAnd", tf_convert_logical, ""},
    {"LogicalOr", tf_convert_logical, ""},
    {"Select", tf_convert_select, "T"},
    {"SelectV2", tf_convert_select, "T"},
    {"ResizeNearestNeighbor", tf_convert_resize, "T,align_corners,half_pixel_centers"},
    {"ResizeBilinear", tf_convert_resize, "T,align_corners,half_pixel_centers"},
};

/* Ops refused with a reason more useful than "not supported". */
static const struct {
  const char *op, *why;
} refused[] = {
    {"Switch", "control flow (tf.cond / tf.while_loop) is not supported"},
    {"Merge", "control flow (tf.cond / tf.while_loop) is not supported"},
    {"Enter", "control flow (tf.while_loop) is not supported"},
    {"Exit", "control flow (tf.while_loop) is not supported"},
    {"NextIteration", "control flow (tf.while_loop) is not supported"},
    {"LoopCond", "control flow (tf.while_loop) is not supported"},
    {"While", "control flow (tf.while_loop) is not supported"},
    {"StatelessWhile", "control flow (tf.while_loop) is not supported"},
    {"If", "control flow (tf.cond) is not supported"},
    {"StatelessIf", "control flow (tf.cond) is not supported"},
    {"PartitionedCall", "function calls are not supported (freeze the graph with inlining)"},
    {"StatefulPartitionedCall", "function calls are not supported (freeze the graph with inlining)"},
    {"VariableV2", "variables are not supported: freeze the graph (convert_variables_to_constants)"},
    {"VarHandleOp", "variables are not supported: freeze the graph (convert_variables_to_constants)"},
    {"ReadVariableOp", "variables are not supported: freeze the graph (convert_variables_to_constants)"},
    {"Assign", "variables are not supported: freeze the graph (convert_variables_to_constants)"},
    {"RandomUniform", "random ops are not supported (a dropout left in training mode?)"},
    {"RandomStandardNormal", "random ops are not supported (a dropout left in training mode?)"},
};

tf_convert_fn tf_find_converter(const char *op, const char **attrs, const char **why) {
  *attrs = NULL;
  *why = NULL;
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (strcmp(ops[i].op, op) == 0) {
      *attrs = ops[i].attrs;
      return ops[i].convert;
    }
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
    if (strcmp(refused[i].op, op) == 0) *why = refused[i].why;
  if (!*why && strncmp(op, "Scatter", 7) == 0) *why = "scatter ops (variable updates) are not supported";
  if (!*why && strncmp(op, "TensorArray", 11) == 0) *why = "TensorArrays (dynamic RNNs) are not supported";
  return NULL;
}
