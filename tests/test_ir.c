/* Shape inference (src/ir/shape.c) and the text dump (src/ir/dump.c) on small hand-built graphs.
 * Expected sizes come from the formulas in ops.def and, for convolutions, from what Keras gives
 * for the same layer (noted at each case). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"
#include "test.h"

#define N (-1) /* the batch, or an unknown dimension */
#define DIMS(...) \
  ((const int64_t[]){__VA_ARGS__}), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* ---- builders ---------------------------------------------------------------------------- */

static int add_input(ir_graph *g, const char *name, const int64_t *dims, int rank, int batched,
                     ir_layout layout) {
  int id = -1;
  CHECK_OK(ir_add_input(g, name, KRT_FLOAT32, rank, dims, batched, layout, &id));
  return id;
}

/* A batched channels-last (rank >= 3) or plain float input. */
static int batched_input(ir_graph *g, const char *name, const int64_t *dims, int rank) {
  return add_input(g, name, dims, rank, 1, rank >= 3 ? IR_LAYOUT_CHANNELS_LAST : IR_LAYOUT_PLAIN);
}

static int add_const(ir_graph *g, const char *name, const int64_t *dims, int rank) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  float *data = calloc((size_t)(n ? n : 1), sizeof *data);
  int id = -1;
  CHECK(data != NULL);
  if (data) CHECK_OK(ir_add_const(g, name, rank, dims, data, &id));
  return id;
}

static ir_attrs no_attrs(void) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

/* 2D window attributes, pads given as (top, bottom, left, right). */
static ir_attrs window2d(int k, int s, int d, int pt, int pb, int pl, int pr) {
  ir_attrs a = no_attrs();
  a.spatial = 2;
  for (int i = 0; i < 2; i++) a.kernel[i] = k, a.stride[i] = s, a.dilation[i] = d;
  a.pad_begin[0] = pt, a.pad_end[0] = pb, a.pad_begin[1] = pl, a.pad_end[1] = pr;
  a.groups = 1;
  return a;
}

/* A pool's window: no dilation, no groups (Pool reads neither). */
static ir_attrs pool2d(int k, int s, int pt, int pb, int pl, int pr) {
  ir_attrs a = window2d(k, s, 0, pt, pb, pl, pr);
  for (int i = 0; i < IR_MAX_SPATIAL; i++) a.dilation[i] = 0;
  a.groups = 0;
  return a;
}

static ir_attrs window1d(int k, int s, int d, int pb, int pe) {
  ir_attrs a = no_attrs();
  a.spatial = 1;
  a.kernel[0] = k, a.stride[0] = s, a.dilation[0] = d;
  a.pad_begin[0] = pb, a.pad_end[0] = pe;
  a.groups = 1;
  return a;
}

static int emit(ir_graph *g, ir_op op, const char *name, const int *in, int n, const ir_attrs *a) {
  int out = -1;
  CHECK_OK(ir_emit(g, op, name, -1, in, n, a, &out));
  return out;
}

/* Checks value v's shape and batched flag; prints what it got on a mismatch. */
#define CHECK_SHAPE(g, v, batched, ...) check_shape(g, v, batched, DIMS(__VA_ARGS__), __LINE__)

static void check_shape(const ir_graph *g, int v, int batched, const int64_t *dims, int rank,
                        int line) {
  test_checks++;
  if (v < 0 || v >= g->n_values) {
    test_failures++;
    fprintf(stderr, "test_ir.c:%d: no value\n", line);
    return;
  }
  const ir_value *val = &g->values[v];
  int ok = val->rank == rank && val->batched == batched && val->dtype == KRT_FLOAT32;
  for (int i = 0; ok && i < rank; i++) ok = val->dims[i] == dims[i];
  if (!ok) {
    char got[160], want[160];
    ir_format_value_dims(val, got, sizeof got);
    ir_format_dims(dims, rank, want, sizeof want);
    test_failures++;
    fprintf(stderr, "test_ir.c:%d: value '%s' is %s (batched %d), expected %s (batched %d)\n", line,
            val->name, got, val->batched, want, batched);
  }
}

/* Emits a node expected to fail; returns its status for CHECK_ERR. */
static krt_status *emit_status(ir_graph *g, ir_op op, const char *name, const int *in, int n,
                               const ir_attrs *a) {
  int out;
  return ir_emit(g, op, name, -1, in, n, a, &out);
}

/* ---- Dense, Conv, ConvTranspose, Pool ------------------------------------------------------ */

static void test_dense(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 10));
  int w = add_const(g, "dense/kernel", DIMS(10, 4));
  int b = add_const(g, "dense/bias", DIMS(4));
  ir_attrs a = no_attrs();
  a.act.kind = IR_ACT_RELU;
  CHECK_SHAPE(g, emit(g, IR_OP_DENSE, "dense", (int[]){x, w, b}, 3, &a), 1, N, 4);
  /* Dense on a sequence acts on the last axis. */
  int seq = add_input(g, "seq", DIMS(N, 7, 10), 1, IR_LAYOUT_PLAIN);
  int y = emit(g, IR_OP_DENSE, "td", (int[]){seq, w}, 2, &a);
  CHECK_SHAPE(g, y, 1, N, 7, 4);
  CHECK(g->values[y].layout == IR_LAYOUT_PLAIN);
  /* Dense over the channels of an image keeps it channels-last. */
  int img = batched_input(g, "img", DIMS(N, 2, 2, 10));
  y = emit(g, IR_OP_DENSE, "pointwise", (int[]){img, w, b}, 3, &a);
  CHECK_SHAPE(g, y, 1, N, 2, 2, 4);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);

  int w_bad = add_const(g, "bad/kernel", DIMS(9, 4));
  CHECK_ERR(emit_status(g, IR_OP_DENSE, "dense_bad", (int[]){x, w_bad}, 2, &a), KRT_ERR_SHAPE,
            "node 'dense_bad' (Dense): kernel 'bad/kernel' is [9x4], expected [10x?]");
  int b_bad = add_const(g, "bad/bias", DIMS(5));
  CHECK_ERR(emit_status(g, IR_OP_DENSE, "dense_bias", (int[]){x, w, b_bad}, 3, &a), KRT_ERR_SHAPE,
            "node 'dense_bias' (Dense): bias 'bad/bias'");
  int unknown = batched_input(g, "unknown", DIMS(N, N));
  CHECK_ERR(emit_status(g, IR_OP_DENSE, "dense_unknown", (int[]){unknown, w}, 2, &a), KRT_ERR_SHAPE,
            "dimension 1 is unknown; give the input shape");
  CHECK_ERR(emit_status(g, IR_OP_DENSE, "dense_one", (int[]){x}, 1, &a), KRT_ERR_INTERNAL,
            "node 'dense_one' (Dense): takes 2 or 3 inputs, got 1");
  ir_graph_free(g);
}

static void test_conv(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 28, 28, 3));
  int w = add_const(g, "conv/kernel", DIMS(3, 3, 3, 16));
  int b = add_const(g, "conv/bias", DIMS(16));
  /* valid: 28 - 3 + 1 = 26 */
  ir_attrs a = window2d(3, 1, 1, 0, 0, 0, 0);
  int y = emit(g, IR_OP_CONV, "valid", (int[]){x, w, b}, 3, &a);
  CHECK_SHAPE(g, y, 1, N, 26, 26, 16);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);
  /* same: pads 1/1 keep 28 */
  a = window2d(3, 1, 1, 1, 1, 1, 1);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "same", (int[]){x, w, b}, 3, &a), 1, N, 28, 28, 16);
  /* same, stride 2: Keras gives ceil(28/2) = 14 with pads 0/1 */
  a = window2d(3, 2, 1, 0, 1, 0, 1);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "same_s2", (int[]){x, w}, 2, &a), 1, N, 14, 14, 16);
  /* valid, stride 2: floor((28 - 3) / 2) + 1 = 13 */
  a = window2d(3, 2, 1, 0, 0, 0, 0);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "valid_s2", (int[]){x, w}, 2, &a), 1, N, 13, 13, 16);
  /* dilation 2: effective window 5 -> 24 */
  a = window2d(3, 1, 2, 0, 0, 0, 0);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "dilated", (int[]){x, w}, 2, &a), 1, N, 24, 24, 16);

  /* Depthwise (groups = Ci = 3, multiplier 2): W [3, 3, 1, 6]. */
  int dw = add_const(g, "dw/kernel", DIMS(3, 3, 1, 6));
  a = window2d(3, 1, 1, 1, 1, 1, 1);
  a.groups = 3;
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "depthwise", (int[]){x, dw}, 2, &a), 1, N, 28, 28, 6);
  /* Groups that do not divide the channels. */
  a.groups = 2;
  CHECK_ERR(emit_status(g, IR_OP_CONV, "bad_groups", (int[]){x, dw}, 2, &a), KRT_ERR_SHAPE,
            "node 'bad_groups' (Conv): input channels 3 are not divisible by groups 2");
  /* Kernel whose window does not match the attributes. */
  a = window2d(5, 1, 1, 0, 0, 0, 0);
  CHECK_ERR(emit_status(g, IR_OP_CONV, "bad_kernel", (int[]){x, w}, 2, &a), KRT_ERR_SHAPE,
            "kernel 'conv/kernel' is [3x3x3x16], expected [5x5x3x?]");

  /* Conv1D, causal: pad k-1 on the left only keeps the length (Keras padding='causal'). */
  int seq = batched_input(g, "seq", DIMS(N, 10, 4));
  int w1 = add_const(g, "c1/kernel", DIMS(3, 4, 8));
  ir_attrs c = window1d(3, 1, 2, 4, 0);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "causal", (int[]){seq, w1}, 2, &c), 1, N, 10, 8);

  /* Unknown spatial dims flow through; unknown channels do not. */
  int any = batched_input(g, "any", DIMS(N, N, N, 3));
  a = window2d(3, 1, 1, 0, 0, 0, 0);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV, "fcn", (int[]){any, w}, 2, &a), 1, N, N, N, 16);
  int no_c = batched_input(g, "no_c", DIMS(N, 8, 8, N));
  CHECK_ERR(emit_status(g, IR_OP_CONV, "no_channels", (int[]){no_c, w}, 2, &a), KRT_ERR_SHAPE,
            "node 'no_channels' (Conv): input 'no_c' [Nx8x8x?] dimension 3 is unknown");

  /* Window larger than the padded input. */
  int tiny = batched_input(g, "tiny", DIMS(N, 2, 2, 3));
  CHECK_ERR(emit_status(g, IR_OP_CONV, "too_small", (int[]){tiny, w}, 2, &a), KRT_ERR_SHAPE,
            "node 'too_small' (Conv): window 3 larger than padded input 2 on spatial axis 0");
  /* Wrong rank for a 2D conv. */
  CHECK_ERR(emit_status(g, IR_OP_CONV, "rank", (int[]){seq, w}, 2, &a), KRT_ERR_SHAPE,
            "node 'rank' (Conv): input 'seq' is [Nx10x4] (rank 3); expected rank 4");
  /* Impossible attributes are krt bugs. */
  a.stride[0] = 0;
  CHECK_ERR(emit_status(g, IR_OP_CONV, "stride0", (int[]){x, w}, 2, &a), KRT_ERR_INTERNAL,
            "node 'stride0' (Conv)");
  ir_graph_free(g);
}

/* Keras Conv2DTranspose output sizes and crops, as keras 3.15 / TF 2.21 give them (checked with
 * the real layers: output shape, and where a single input 1 lands in the output) for in = 5,
 * k = 3, s = 2: same -> 10, valid -> 11; output_padding = 1: same -> 10, valid -> 12. Full
 * length F = (5-1)*2 + 3 = 11. TF crops like the forward SAME conv's padding, so pad_begin =
 * max(k - s, 0) / 2 whatever output_padding is. */
static void test_conv_transpose(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 5, 5, 4));
  int w = add_const(g, "deconv/kernel", DIMS(3, 3, 8, 4)); /* [k, k, Co, Ci] */
  int b = add_const(g, "deconv/bias", DIMS(8));
  struct {
    const char *name;
    int pb, pe;
    int64_t out;
  } cases[] = {
      {"same", 0, 1, 10},       /* TF: total crop max(k - s, 0) = 1, begin floor(1/2) = 0 */
      {"valid", 0, 0, 11},      /* F */
      {"same_op1", 0, 1, 10},   /* output_padding 1: the same crop here */
      {"valid_op1", 0, -1, 12}, /* output_padding 1: one zero column appended */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ir_attrs a = window2d(3, 2, 1, cases[i].pb, cases[i].pe, cases[i].pb, cases[i].pe);
    int y = emit(g, IR_OP_CONV_TRANSPOSE, cases[i].name, (int[]){x, w, b}, 3, &a);
    CHECK_SHAPE(g, y, 1, N, cases[i].out, cases[i].out, 8);
  }
  /* k = 5, s = 2, same, output_padding 1: Keras gives (5-1)*2 + 5 - 2*2 + 1 = 10, the input's
   * first element lands at output 0 through kernel tap 1: pb = 1, pe = F (13) - 1 - 10 = 2. */
  int w5 = add_const(g, "k5/kernel", DIMS(5, 5, 8, 4));
  ir_attrs a5 = window2d(5, 2, 1, 1, 2, 1, 2);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV_TRANSPOSE, "k5_op1", (int[]){x, w5}, 2, &a5), 1, N, 10, 10, 8);
  /* k = 2, s = 3 (k < s), valid: Keras gives 5*3 + max(2-3, 0) = 15 = F (4*3 + 2 = 14) + one
   * zero row (pe = -1). */
  int w2 = add_const(g, "k2/kernel", DIMS(2, 2, 8, 4));
  ir_attrs a = window2d(2, 3, 1, 0, -1, 0, -1);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV_TRANSPOSE, "k2s3", (int[]){x, w2}, 2, &a), 1, N, 15, 15, 8);
  /* Conv1DTranspose, dilation 2, same (in 6, k 3, s 1): F = 5 + 4 + 1 = 10, crop 2/2 -> 6. */
  int seq = batched_input(g, "seq", DIMS(N, 6, 4));
  int w1 = add_const(g, "d1/kernel", DIMS(3, 2, 4));
  ir_attrs c = window1d(3, 1, 2, 2, 2);
  CHECK_SHAPE(g, emit(g, IR_OP_CONV_TRANSPOSE, "dilated", (int[]){seq, w1}, 2, &c), 1, N, 6, 2);
  /* Kernel in the Conv layout ([k, k, Ci, Co]) is caught. */
  int wrong = add_const(g, "wrong/kernel", DIMS(3, 3, 4, 8));
  a = window2d(3, 2, 1, 0, 0, 0, 0);
  CHECK_ERR(emit_status(g, IR_OP_CONV_TRANSPOSE, "layout", (int[]){x, wrong}, 2, &a), KRT_ERR_SHAPE,
            "node 'layout' (ConvTranspose): kernel 'wrong/kernel' is [3x3x4x8]");
  /* Cropping more than the full length. */
  a = window2d(3, 2, 1, 6, 6, 0, 0);
  CHECK_ERR(emit_status(g, IR_OP_CONV_TRANSPOSE, "cropped", (int[]){x, w}, 2, &a), KRT_ERR_SHAPE,
            "node 'cropped' (ConvTranspose): output size -1 on spatial axis 0");
  ir_graph_free(g);
}

static void test_pool(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 7, 7, 3));
  ir_attrs a = pool2d(2, 2, 0, 0, 0, 0);
  a.pool = IR_POOL_MAX;
  /* MaxPooling2D(2), valid: floor(7/2) = 3 */
  CHECK_SHAPE(g, emit(g, IR_OP_POOL, "pool_valid", &x, 1, &a), 1, N, 3, 3, 3);
  /* same: ceil(7/2) = 4, pads 0/1 */
  a = pool2d(2, 2, 0, 1, 0, 1);
  a.pool = IR_POOL_AVG;
  CHECK_SHAPE(g, emit(g, IR_OP_POOL, "pool_same", &x, 1, &a), 1, N, 4, 4, 3);
  /* 3x3 stride 1 same keeps 7 */
  a = pool2d(3, 1, 1, 1, 1, 1);
  CHECK_SHAPE(g, emit(g, IR_OP_POOL, "pool_3x3", &x, 1, &a), 1, N, 7, 7, 3);
  /* Pool1D */
  int seq = batched_input(g, "seq", DIMS(N, 9, 2));
  ir_attrs p = window1d(3, 3, 1, 0, 0);
  p.dilation[0] = 0, p.groups = 0;
  CHECK_SHAPE(g, emit(g, IR_OP_POOL, "pool1d", &seq, 1, &p), 1, N, 3, 2);
  /* Window too large. */
  int small = batched_input(g, "small", DIMS(N, 2, 5, 3));
  a = pool2d(3, 1, 0, 0, 0, 0);
  CHECK_ERR(emit_status(g, IR_OP_POOL, "pool1", &small, 1, &a), KRT_ERR_SHAPE,
            "node 'pool1' (Pool): window 3 larger than padded input 2 on spatial axis 0");
  /* Padding as large as the window would make windows of padding only. */
  a = pool2d(2, 1, 2, 0, 0, 0);
  CHECK_ERR(emit_status(g, IR_OP_POOL, "pool_pad", &x, 1, &a), KRT_ERR_INTERNAL,
            "node 'pool_pad' (Pool): padding 2/0 on spatial axis 0");
  ir_graph_free(g);
}

/* ---- reductions and normalisations -------------------------------------------------------- */

static void test_reduce_softmax_norms(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 4, 5, 6));
  ir_attrs a = no_attrs();
  a.reduce = IR_REDUCE_MEAN;
  a.n_axes = 2, a.axes[0] = 1, a.axes[1] = 2;
  /* GlobalAveragePooling2D */
  int gap = emit(g, IR_OP_REDUCE, "gap", &x, 1, &a);
  CHECK_SHAPE(g, gap, 1, N, 6);
  CHECK(g->values[gap].layout == IR_LAYOUT_PLAIN);
  a.keepdims = 1;
  int kept = emit(g, IR_OP_REDUCE, "gap_keep", &x, 1, &a);
  CHECK_SHAPE(g, kept, 1, N, 1, 1, 6);
  CHECK(g->values[kept].layout == IR_LAYOUT_CHANNELS_LAST);
  a.keepdims = 0;
  a.n_axes = 1, a.axes[0] = 3;
  CHECK_SHAPE(g, emit(g, IR_OP_REDUCE, "last", &x, 1, &a), 1, N, 4, 5);
  a.axes[0] = 0;
  CHECK_ERR(emit_status(g, IR_OP_REDUCE, "batch_reduce", &x, 1, &a), KRT_ERR_SHAPE,
            "node 'batch_reduce' (Reduce): axis 0 of input 'x' [Nx4x5x6] is the batch: this "
            "would reduce the batch");
  a.axes[0] = 4;
  CHECK_ERR(emit_status(g, IR_OP_REDUCE, "out_of_range", &x, 1, &a), KRT_ERR_SHAPE,
            "node 'out_of_range' (Reduce): axis 4 is outside");
  a.n_axes = 2, a.axes[0] = 2, a.axes[1] = 1;
  CHECK_ERR(emit_status(g, IR_OP_REDUCE, "descending", &x, 1, &a), KRT_ERR_INTERNAL,
            "not strictly ascending");

  ir_attrs s = no_attrs();
  s.n_axes = 1, s.axes[0] = 3;
  CHECK_SHAPE(g, emit(g, IR_OP_SOFTMAX, "softmax", &x, 1, &s), 1, N, 4, 5, 6);
  CHECK_SHAPE(g, emit(g, IR_OP_LOG_SOFTMAX, "log_softmax", &x, 1, &s), 1, N, 4, 5, 6);
  s.axes[0] = 0;
  CHECK_ERR(emit_status(g, IR_OP_SOFTMAX, "softmax_batch", &x, 1, &s), KRT_ERR_SHAPE,
            "node 'softmax_batch' (Softmax): axis 0");

  /* BatchNorm on the channels (axis 3) and on axis 1 (channels_first style). */
  int c6 = add_const(g, "bn/c6", DIMS(6)), c4 = add_const(g, "bn/c4", DIMS(4));
  ir_attrs bn = no_attrs();
  bn.axis = 3, bn.epsilon = 1e-3f;
  CHECK_SHAPE(g, emit(g, IR_OP_BATCHNORM, "bn", (int[]){x, c6, c6, c6, c6}, 5, &bn), 1, N, 4, 5, 6);
  bn.axis = 1;
  CHECK_SHAPE(g, emit(g, IR_OP_BATCHNORM, "bn1", (int[]){x, c4, c4, c4, c4}, 5, &bn), 1, N, 4, 5,
              6);
  CHECK_ERR(emit_status(g, IR_OP_BATCHNORM, "bn_bad", (int[]){x, c4, c4, c6, c4}, 5, &bn),
            KRT_ERR_SHAPE, "node 'bn_bad' (BatchNorm): moving mean 'bn/c6' is [6], expected [4]");

  /* LayerNorm over the last axis, and over two axes with gamma [5, 6]. */
  ir_attrs ln = no_attrs();
  ln.n_axes = 1, ln.axes[0] = 3, ln.epsilon = 1e-5f;
  CHECK_SHAPE(g, emit(g, IR_OP_LAYERNORM, "ln", (int[]){x, c6, c6}, 3, &ln), 1, N, 4, 5, 6);
  int g56 = add_const(g, "ln/g56", DIMS(5, 6));
  ln.n_axes = 2, ln.axes[0] = 2, ln.axes[1] = 3;
  CHECK_SHAPE(g, emit(g, IR_OP_LAYERNORM, "ln2", (int[]){x, g56, g56}, 3, &ln), 1, N, 4, 5, 6);
  CHECK_ERR(emit_status(g, IR_OP_LAYERNORM, "ln_bad", (int[]){x, c6, c6}, 3, &ln), KRT_ERR_SHAPE,
            "node 'ln_bad' (LayerNorm): gamma 'bn/c6' is [6], expected [5x6]");
  ir_graph_free(g);
}

/* ---- elementwise --------------------------------------------------------------------------- */

static void test_activation_prelu(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 4, 4, 3));
  ir_attrs a = no_attrs();
  a.act.kind = IR_ACT_SIGMOID;
  int y = emit(g, IR_OP_ACTIVATION, "sigmoid", &x, 1, &a);
  CHECK_SHAPE(g, y, 1, N, 4, 4, 3);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);
  CHECK_SHAPE(g, emit(g, IR_OP_IDENTITY, "identity", &x, 1, NULL), 1, N, 4, 4, 3);
  /* An activation on an op that takes none is a pass bug. */
  CHECK_ERR(emit_status(g, IR_OP_IDENTITY, "id_act", &x, 1, &a), KRT_ERR_INTERNAL,
            "node 'id_act' (Identity): sets attribute 'act', which Identity does not read");

  int full = add_const(g, "prelu/full", DIMS(4, 4, 3));
  int shared = add_const(g, "prelu/shared", DIMS(1, 1, 3)); /* shared_axes=[1, 2] */
  int bad = add_const(g, "prelu/bad", DIMS(4, 4, 2));
  CHECK_SHAPE(g, emit(g, IR_OP_PRELU, "prelu", (int[]){x, full}, 2, NULL), 1, N, 4, 4, 3);
  CHECK_SHAPE(g, emit(g, IR_OP_PRELU, "prelu_s", (int[]){x, shared}, 2, NULL), 1, N, 4, 4, 3);
  CHECK_ERR(emit_status(g, IR_OP_PRELU, "prelu_bad", (int[]){x, bad}, 2, NULL), KRT_ERR_SHAPE,
            "node 'prelu_bad' (PReLU): alpha 'prelu/bad' [4x4x2] does not broadcast");
  ir_graph_free(g);
}

static void test_binary(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 4, 4, 3));
  int x2 = batched_input(g, "x2", DIMS(N, 4, 4, 3));
  int c3 = add_const(g, "c3", DIMS(3));
  int c113 = add_const(g, "c113", DIMS(1, 1, 3));
  int c1113 = add_const(g, "c1113", DIMS(1, 1, 1, 3));
  int c4113 = add_const(g, "c4113", DIMS(4, 1, 1, 3));
  int c41 = add_const(g, "c41", DIMS(4, 1));
  int c5 = add_const(g, "c5", DIMS(5));
  ir_attrs a = no_attrs();
  a.binary = IR_BINARY_ADD;
  int y = emit(g, IR_OP_BINARY, "add_c3", (int[]){x, c3}, 2, &a);
  CHECK_SHAPE(g, y, 1, N, 4, 4, 3);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);
  a.binary = IR_BINARY_MUL;
  y = emit(g, IR_OP_BINARY, "mul_c113", (int[]){c113, x}, 2, &a);
  CHECK_SHAPE(g, y, 1, N, 4, 4, 3);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);
  CHECK_SHAPE(g, emit(g, IR_OP_BINARY, "c1113", (int[]){x, c1113}, 2, &a), 1, N, 4, 4, 3);
  CHECK_SHAPE(g, emit(g, IR_OP_BINARY, "c41", (int[]){x, c41}, 2, &a), 1, N, 4, 4, 3);
  CHECK_SHAPE(g, emit(g, IR_OP_BINARY, "both", (int[]){x, x2}, 2, &a), 1, N, 4, 4, 3);
  /* A batched value against a lower-rank batched one would put the batch on a data axis. */
  int v = batched_input(g, "v", DIMS(N, 3));
  CHECK_ERR(emit_status(g, IR_OP_BINARY, "ranks", (int[]){x, v}, 2, &a), KRT_ERR_SHAPE,
            "node 'ranks' (Binary)");
  /* A constant with a real axis where the batch is. */
  CHECK_ERR(emit_status(g, IR_OP_BINARY, "against_batch", (int[]){x, c4113}, 2, &a), KRT_ERR_SHAPE,
            "would broadcast against the batch");
  CHECK_ERR(emit_status(g, IR_OP_BINARY, "mismatch", (int[]){x, c5}, 2, &a), KRT_ERR_SHAPE,
            "node 'mismatch' (Binary): inputs 'x' [Nx4x4x3] and 'c5' [5] do not broadcast");
  /* Unknown dims: against 1 stay unknown, against a known size take it. */
  int u = batched_input(g, "u", DIMS(N, N, 3));
  int c73 = add_const(g, "c73", DIMS(7, 3));
  CHECK_SHAPE(g, emit(g, IR_OP_BINARY, "u_c3", (int[]){u, c3}, 2, &a), 1, N, N, 3);
  CHECK_SHAPE(g, emit(g, IR_OP_BINARY, "u_c73", (int[]){u, c73}, 2, &a), 1, N, 7, 3);
  /* Two constants: plain numpy broadcasting, not batched. */
  CHECK_SHAPE(g, emit(g, IR_OP_BINARY, "consts", (int[]){c41, c113}, 2, &a), 0, 1, 4, 3);
  a.binary = (ir_binary_kind)(IR_BINARY_LAST + 1);
  char unknown[48];
  snprintf(unknown, sizeof unknown, "unknown binary kind %d", IR_BINARY_LAST + 1);
  CHECK_ERR(emit_status(g, IR_OP_BINARY, "kind", (int[]){x, c3}, 2, &a), KRT_ERR_INTERNAL,
            unknown);
  ir_graph_free(g);
}

/* ---- data movement ------------------------------------------------------------------------- */

static void test_concat(void) {
  ir_graph *g = ir_graph_create();
  int a1 = batched_input(g, "a", DIMS(N, 8, 8, 3));
  int a2 = batched_input(g, "b", DIMS(N, 8, 8, 5));
  int a3 = batched_input(g, "c", DIMS(N, 8, 6, 3));
  int seq = batched_input(g, "seq", DIMS(N, 8, 8));
  int k = add_const(g, "k", DIMS(1, 8, 8, 3));
  ir_attrs a = no_attrs();
  a.axis = 3;
  int y = emit(g, IR_OP_CONCAT, "cat", (int[]){a1, a2, a1}, 3, &a);
  CHECK_SHAPE(g, y, 1, N, 8, 8, 11);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);
  a.axis = 2;
  CHECK_SHAPE(g, emit(g, IR_OP_CONCAT, "cat_w", (int[]){a1, a3}, 2, &a), 1, N, 8, 14, 3);
  CHECK_ERR(emit_status(g, IR_OP_CONCAT, "cat_bad", (int[]){a1, a2}, 2, &a), KRT_ERR_SHAPE,
            "node 'cat_bad' (Concat): input 'b' [Nx8x8x5] does not match input 'a' [Nx8x8x3] "
            "on axis 3");
  CHECK_ERR(emit_status(g, IR_OP_CONCAT, "cat_rank", (int[]){a1, seq}, 2, &a), KRT_ERR_SHAPE,
            "node 'cat_rank' (Concat)");
  CHECK_ERR(emit_status(g, IR_OP_CONCAT, "cat_const", (int[]){a1, k}, 2, &a), KRT_ERR_SHAPE,
            "is not batched");
  a.axis = 0;
  CHECK_ERR(emit_status(g, IR_OP_CONCAT, "cat_batch", (int[]){a1, a1}, 2, &a), KRT_ERR_SHAPE,
            "would join along the batch");
  /* Unknown on the joined axis makes the sum unknown; elsewhere a known size wins. */
  int u = batched_input(g, "u", DIMS(N, N, 4));
  int w = batched_input(g, "w", DIMS(N, 5, 4));
  a.axis = 1;
  CHECK_SHAPE(g, emit(g, IR_OP_CONCAT, "cat_u", (int[]){u, w}, 2, &a), 1, N, N, 4);
  int u2 = batched_input(g, "u2", DIMS(N, 5, N));
  a.axis = 2;
  CHECK_SHAPE(g, emit(g, IR_OP_CONCAT, "cat_u2", (int[]){u2, w}, 2, &a), 1, N, 5, N);
  ir_graph_free(g);
}

static void test_reshape_transpose(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 4, 4, 3));
  ir_attrs a = no_attrs();
  a.shape_rank = 1, a.shape[0] = 48;
  int flat = emit(g, IR_OP_RESHAPE, "flatten", &x, 1, &a);
  CHECK_SHAPE(g, flat, 1, N, 48);
  CHECK(g->values[flat].layout == IR_LAYOUT_PLAIN);
  a.shape_rank = 3, a.shape[0] = 2, a.shape[1] = 8, a.shape[2] = 3;
  CHECK_SHAPE(g, emit(g, IR_OP_RESHAPE, "reshape", &x, 1, &a), 1, N, 2, 8, 3);
  a.shape_rank = 1, a.shape[0] = 47;
  CHECK_ERR(emit_status(g, IR_OP_RESHAPE, "bad_reshape", &x, 1, &a), KRT_ERR_SHAPE,
            "node 'bad_reshape' (Reshape): cannot reshape input 'x' [Nx4x4x3] (48 elements per "
            "sample) into [47] (47)");
  int u = batched_input(g, "u", DIMS(N, N, 3));
  a.shape[0] = 48;
  CHECK_ERR(emit_status(g, IR_OP_RESHAPE, "flatten_u", &u, 1, &a), KRT_ERR_SHAPE,
            "node 'flatten_u' (Reshape): input 'u' [Nx?x3] dimension 1 is unknown; give the "
            "input shape (krt build --input NAME:DIMS)");

  /* channels_first round trip: [N, C, H, W] -> [N, H, W, C] -> back. */
  int cf = add_input(g, "cf", DIMS(N, 3, 8, 6), 1, IR_LAYOUT_CHANNELS_FIRST);
  ir_attrs t = no_attrs();
  t.perm[0] = 0, t.perm[1] = 2, t.perm[2] = 3, t.perm[3] = 1;
  int cl = emit(g, IR_OP_TRANSPOSE, "to_last", &cf, 1, &t);
  CHECK_SHAPE(g, cl, 1, N, 8, 6, 3);
  CHECK(g->values[cl].layout == IR_LAYOUT_CHANNELS_LAST);
  t.perm[1] = 3, t.perm[2] = 1, t.perm[3] = 2;
  int back = emit(g, IR_OP_TRANSPOSE, "to_first", &cl, 1, &t);
  CHECK_SHAPE(g, back, 1, N, 3, 8, 6);
  CHECK(g->values[back].layout == IR_LAYOUT_CHANNELS_FIRST);
  /* Permute((2, 1)) on a sequence. */
  int seq = batched_input(g, "seq", DIMS(N, 7, 5));
  t.perm[1] = 2, t.perm[2] = 1;
  CHECK_SHAPE(g, emit(g, IR_OP_TRANSPOSE, "permute", &seq, 1, &t), 1, N, 5, 7);
  t.perm[2] = 2;
  CHECK_ERR(emit_status(g, IR_OP_TRANSPOSE, "bad_perm", &seq, 1, &t), KRT_ERR_SHAPE,
            "node 'bad_perm' (Transpose): perm [0,2,2] is not a permutation");
  t.perm[0] = 1, t.perm[1] = 0, t.perm[2] = 2;
  CHECK_ERR(emit_status(g, IR_OP_TRANSPOSE, "move_batch", &seq, 1, &t), KRT_ERR_SHAPE,
            "node 'move_batch' (Transpose): perm[0] is 1: this would move the batch");
  ir_graph_free(g);
}

static void test_pad_slice_resize_gather(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 5, 6, 3));
  ir_attrs p = no_attrs();
  p.pad_begin[1] = 1, p.pad_end[1] = 2, p.pad_begin[2] = 3, p.pad_end[2] = 0;
  int y = emit(g, IR_OP_PAD, "zero_pad", &x, 1, &p);
  CHECK_SHAPE(g, y, 1, N, 8, 9, 3);
  CHECK(g->values[y].layout == IR_LAYOUT_CHANNELS_LAST);
  p.pad_begin[0] = 1;
  CHECK_ERR(emit_status(g, IR_OP_PAD, "pad_batch", &x, 1, &p), KRT_ERR_SHAPE,
            "node 'pad_batch' (Pad): padding 1/0 on axis 0 would pad the batch");
  p.pad_begin[0] = 0, p.pad_end[2] = -1;
  CHECK_ERR(emit_status(g, IR_OP_PAD, "pad_neg", &x, 1, &p), KRT_ERR_INTERNAL,
            "node 'pad_neg' (Pad)");

  /* Cropping2D(((1, 2), (0, 3))): end given per axis; the batch axis takes begin 0. */
  ir_attrs s = no_attrs();
  s.begin[1] = 1, s.end[1] = 3, s.begin[2] = 0, s.end[2] = 3, s.begin[3] = 0, s.end[3] = 3;
  CHECK_SHAPE(g, emit(g, IR_OP_SLICE, "crop", &x, 1, &s), 1, N, 2, 3, 3);
  s.end[2] = 7;
  CHECK_ERR(emit_status(g, IR_OP_SLICE, "crop_out", &x, 1, &s), KRT_ERR_SHAPE,
            "node 'crop_out' (Slice): slice 0:7 on axis 2");
  s.end[2] = 3, s.begin[1] = 3;
  CHECK_ERR(emit_status(g, IR_OP_SLICE, "crop_empty", &x, 1, &s), KRT_ERR_SHAPE,
            "slice 3:3 on axis 1");
  s.begin[1] = 1, s.begin[0] = 1;
  CHECK_ERR(emit_status(g, IR_OP_SLICE, "crop_batch", &x, 1, &s), KRT_ERR_SHAPE,
            "would slice the batch");

  ir_attrs r = no_attrs();
  r.spatial = 2, r.scale[0] = 2, r.scale[1] = 3, r.resize = IR_RESIZE_BILINEAR;
  CHECK_SHAPE(g, emit(g, IR_OP_RESIZE, "up", &x, 1, &r), 1, N, 10, 18, 3);
  r.scale[1] = 0;
  CHECK_ERR(emit_status(g, IR_OP_RESIZE, "up0", &x, 1, &r), KRT_ERR_INTERNAL,
            "node 'up0' (Resize): scale 0 on spatial axis 1");
  int seq = batched_input(g, "seq", DIMS(N, 4, 2));
  r.spatial = 1, r.scale[0] = 2;
  CHECK_SHAPE(g, emit(g, IR_OP_RESIZE, "up1d", &seq, 1, &r), 1, N, 8, 2);

  /* Embedding: int32 token ids [N, 10] into a table [100, 16]. */
  int ids = -1;
  CHECK_OK(
      ir_add_input(g, "ids", KRT_INT32, 2, (const int64_t[]){N, 10}, 1, IR_LAYOUT_PLAIN, &ids));
  int table = add_const(g, "embedding/embeddings", DIMS(100, 16));
  CHECK_SHAPE(g, emit(g, IR_OP_GATHER, "embedding", (int[]){ids, table}, 2, NULL), 1, N, 10, 16);
  int table3 = add_const(g, "t3", DIMS(2, 3, 4));
  CHECK_ERR(emit_status(g, IR_OP_GATHER, "gather_bad", (int[]){ids, table3}, 2, NULL),
            KRT_ERR_SHAPE, "node 'gather_bad' (Gather): table 't3' is [2x3x4], expected [?x?]");

  /* MatMul: q [N, 4, 6, 8] @ k^T [N, 4, 8, 6] -> [N, 4, 6, 6]; leading axes broadcast */
  int q = batched_input(g, "q", DIMS(N, 4, 6, 8)), kt = batched_input(g, "kt", DIMS(N, 4, 8, 6));
  CHECK_SHAPE(g, emit(g, IR_OP_MATMUL, "scores", (int[]){q, kt}, 2, NULL), 1, N, 4, 6, 6);
  int w2 = add_const(g, "w2", DIMS(8, 3)), w3 = add_const(g, "w3", DIMS(1, 8, 3));
  CHECK_SHAPE(g, emit(g, IR_OP_MATMUL, "by_w2", (int[]){q, w2}, 2, NULL), 1, N, 4, 6, 3);
  CHECK_SHAPE(g, emit(g, IR_OP_MATMUL, "by_w3", (int[]){q, w3}, 2, NULL), 1, N, 4, 6, 3);
  int rows = batched_input(g, "rows", DIMS(N, 8)); /* M is the batch */
  CHECK_SHAPE(g, emit(g, IR_OP_MATMUL, "rows_w2", (int[]){rows, w2}, 2, NULL), 1, N, 3);
  int k5 = batched_input(g, "k5", DIMS(N, 4, 5, 6));
  CHECK_ERR(emit_status(g, IR_OP_MATMUL, "k_mismatch", (int[]){q, k5}, 2, NULL), KRT_ERR_SHAPE,
            "node 'k_mismatch' (MatMul): inputs 'q' [Nx4x6x8] and 'k5' [Nx4x5x6]: a's K (last "
            "axis, 8) differs from b's K (second to last axis, 5)");
  int h3 = batched_input(g, "h3", DIMS(N, 3, 8, 6));
  CHECK_ERR(emit_status(g, IR_OP_MATMUL, "heads", (int[]){q, h3}, 2, NULL), KRT_ERR_SHAPE,
            "node 'heads' (MatMul): inputs 'q' [Nx4x6x8] and 'h3' [Nx3x8x6]: the batch axes do "
            "not broadcast (4 vs 3 on output axis 1)");
  CHECK_ERR(emit_status(g, IR_OP_MATMUL, "batch_k", (int[]){q, rows}, 2, NULL), KRT_ERR_SHAPE,
            "input 'rows' [Nx8] is batched on its K axis");
  int c5 = add_const(g, "c5", DIMS(5, 8, 6));
  CHECK_ERR(emit_status(g, IR_OP_MATMUL, "c_batch", (int[]){rows, c5}, 2, NULL), KRT_ERR_SHAPE,
            "has its batch on M; b 'c5' [5x8x6] must then be an unbatched [K, N]");
  int c58 = add_const(g, "c58", DIMS(5, 4, 8, 6));
  CHECK_ERR(emit_status(g, IR_OP_MATMUL, "c_lead", (int[]){q, c58}, 2, NULL), KRT_ERR_SHAPE,
            "would broadcast against the batch of 'q'");
  CHECK_ERR(emit_status(g, IR_OP_MATMUL, "one", (int[]){q}, 1, NULL), KRT_ERR_INTERNAL,
            "takes 2 inputs, got 1");
  ir_graph_free(g);
}

/* ---- whole graphs -------------------------------------------------------------------------- */

/* Conv -> Pool -> Reshape -> Dense with the input shape fixed afterwards, as the builder does for
 * --input: ir_infer_all recomputes every shape, and catches what no longer fits. */
static void test_infer_all(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 6, 6, 1));
  int w = add_const(g, "conv/kernel", DIMS(3, 3, 1, 2));
  ir_attrs c = window2d(3, 1, 1, 0, 0, 0, 0);
  int conv = emit(g, IR_OP_CONV, "conv", (int[]){x, w}, 2, &c);
  ir_attrs p = pool2d(2, 2, 0, 0, 0, 0);
  int pool = emit(g, IR_OP_POOL, "pool", &conv, 1, &p);
  ir_attrs r = no_attrs();
  r.shape_rank = 1, r.shape[0] = 8;
  int flat = emit(g, IR_OP_RESHAPE, "flatten", &pool, 1, &r);
  CHECK_SHAPE(g, flat, 1, N, 8);
  CHECK_OK(ir_add_output(g, flat, "flatten"));
  CHECK_OK(ir_infer_all(g));
  CHECK_SHAPE(g, pool, 1, N, 2, 2, 2);

  g->values[x].dims[1] = 10, g->values[x].dims[2] = 10;
  CHECK_ERR(ir_infer_all(g), KRT_ERR_SHAPE,
            "node 'flatten' (Reshape): cannot reshape input 'pool' [Nx4x4x2]");
  CHECK_SHAPE(g, pool, 1, N, 4, 4, 2); /* earlier nodes were updated */
  g->values[x].dims[1] = N;
  CHECK_ERR(ir_infer_all(g), KRT_ERR_SHAPE,
            "node 'flatten' (Reshape): input 'pool' [Nx?x4x2] dimension 1 is unknown");
  CHECK_SHAPE(g, conv, 1, N, N, 8, 2);

  /* A node reading a value produced later is a broken graph. */
  g->values[x].dims[1] = 6, g->values[x].dims[2] = 6;
  g->nodes[0].inputs[0] = flat;
  CHECK_ERR(ir_infer_all(g), KRT_ERR_INTERNAL,
            "node 'conv' (Conv): input 'flatten' is produced "
            "by a later node");
  CHECK_ERR(ir_infer_node(g, 7), KRT_ERR_INTERNAL, "node 7 does not exist");
  ir_graph_free(g);
}

static void test_dump(void) {
  ir_graph *g = ir_graph_create();
  g->source = malloc(16);
  if (g->source) strcpy(g->source, "model.keras");
  int x = batched_input(g, "input_1", DIMS(N, 28, 28, 1));
  int w = add_const(g, "conv1/kernel", DIMS(3, 3, 1, 16));
  int b = add_const(g, "conv1/bias", DIMS(16));
  ir_attrs c = window2d(3, 1, 1, 0, 0, 0, 0);
  c.act.kind = IR_ACT_RELU;
  c.act.max_value = 6.0f;
  int conv = emit(g, IR_OP_CONV, "conv1", (int[]){x, w, b}, 3, &c);
  ir_attrs r = no_attrs();
  r.reduce = IR_REDUCE_MEAN, r.n_axes = 2, r.axes[0] = 1, r.axes[1] = 2;
  int gap = emit(g, IR_OP_REDUCE, "gap", &conv, 1, &r);
  CHECK_OK(ir_add_output(g, gap, "gap"));

  char *text = NULL;
  CHECK_OK(ir_dump(g, &text));
  if (text) {
    const char *expect[] = {
        "graph from model.keras: 1 input, 1 output, 2 nodes, 2 constants (160 weights)\n",
        "input  %0 input_1 float32 [Nx28x28x1] channels_last\n",
        "%3 = Conv conv1(%0, %1 conv1/kernel[3x3x1x16], %2 conv1/bias[16]) k=3x3 s=1x1 d=1x1 "
        "pad=0,0/0,0 groups=1 act=relu(max=6) -> [Nx26x26x16]\n",
        "%4 = Reduce gap(%3) mean axes=1,2 -> [Nx16]\n",
        "output gap = %4\n",
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
      CHECK(strstr(text, expect[i]) != NULL);
      if (!strstr(text, expect[i])) fprintf(stderr, "missing: %sin:\n%s", expect[i], text);
    }
    free(text);
  }

  /* Attribute text for a few ops. */
  char buf[256];
  ir_format_attrs(g, &g->nodes[1], buf, sizeof buf);
  CHECK(strcmp(buf, "mean axes=1,2") == 0);
  ir_attrs a = no_attrs();
  a.act.kind = IR_ACT_RELU;
  a.act.alpha = 0.3f;
  int d = emit(g, IR_OP_ACTIVATION, "leaky", &gap, 1, &a);
  (void)d;
  ir_format_attrs(g, &g->nodes[2], buf, sizeof buf);
  CHECK(strcmp(buf, "act=relu(alpha=0.3)") == 0);
  ir_node identity = g->nodes[2];
  identity.op = IR_OP_IDENTITY;
  identity.attrs = no_attrs();
  ir_format_attrs(g, &identity, buf, sizeof buf);
  CHECK(buf[0] == '\0');

  /* Dims text: never past the buffer, always terminated. */
  ir_format_dims((const int64_t[]){-1, 224, 224, 3}, 4, buf, sizeof buf);
  CHECK(strcmp(buf, "[?x224x224x3]") == 0);
  char small[8];
  memset(small, 'z', sizeof small);
  ir_format_dims((const int64_t[]){-1, 224, 224, 3}, 4, small, 6);
  CHECK(small[5] == '\0' && small[6] == 'z' && strlen(small) == 5);
  ir_format_dims((const int64_t[]){1}, 1, small, 0); /* no room: nothing written */
  CHECK(small[6] == 'z');
  ir_format_value_dims(&g->values[conv], buf, sizeof buf);
  CHECK(strcmp(buf, "[Nx26x26x16]") == 0);
  ir_format_attrs(g, &g->nodes[0], small, sizeof small);
  CHECK(strlen(small) == sizeof small - 1);
  ir_graph_free(g);
}

/* ---- several outputs: Split ------------------------------------------------------------------ */

static krt_status *emit_split(ir_graph *g, const char *name, int x, int axis, const int64_t *sizes,
                              int k, int *outs) {
  ir_attrs a = no_attrs();
  a.axis = axis;
  for (int i = 0; i < k && i < IR_MAX_SPLIT; i++) a.sizes[i] = sizes[i];
  return ir_emit_outputs(g, IR_OP_SPLIT, name, -1, &x, 1, &a, k, outs);
}

static void test_split(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 4, 6));
  int outs[3] = {-1, -1, -1};
  CHECK_OK(emit_split(g, "s", x, 2, (const int64_t[]){1, 2, 3}, 3, outs));
  CHECK_SHAPE(g, outs[0], 1, N, 4, 1);
  CHECK_SHAPE(g, outs[1], 1, N, 4, 2);
  CHECK_SHAPE(g, outs[2], 1, N, 4, 3);
  /* every output is its own value, produced by the node with its index */
  const ir_node *n = &g->nodes[g->n_nodes - 1];
  CHECK(n->n_outputs == 3 && n->outputs[0] == outs[0] && n->outputs[2] == outs[2]);
  for (int k = 0; k < 3; k++) {
    CHECK(g->values[outs[k]].producer == g->n_nodes - 1);
    CHECK(g->values[outs[k]].producer_output == k);
  }
  CHECK(strcmp(g->values[outs[1]].name, "s:1") == 0);
  CHECK(ir_op_min_outputs(IR_OP_SPLIT) == 1 && ir_op_max_outputs(IR_OP_SPLIT) == IR_MAX_SPLIT);
  CHECK(ir_op_min_outputs(IR_OP_DENSE) == 1 && ir_op_max_outputs(IR_OP_DENSE) == 1);

  /* a single piece is the whole axis */
  int one = -1;
  CHECK_OK(emit_split(g, "whole", x, 1, (const int64_t[]){4}, 1, &one));
  CHECK_SHAPE(g, one, 1, N, 4, 6);

  /* the dump lists every output and every shape; re-inference agrees */
  CHECK_OK(ir_add_output(g, outs[2], "last"));
  CHECK_OK(ir_infer_all(g));
  char *text = NULL;
  CHECK_OK(ir_dump(g, &text));
  if (text) {
    const char *expect =
        "%1, %2, %3 = Split s(%0) axis=2 sizes=1,2,3 -> [Nx4x1], [Nx4x2], [Nx4x3]\n";
    CHECK(strstr(text, expect) != NULL);
    if (!strstr(text, expect)) fprintf(stderr, "missing: %sin:\n%s", expect, text);
    free(text);
  }
  /* the output list and its values must agree */
  g->values[outs[1]].producer_output = 0;
  CHECK_ERR(ir_infer_all(g), KRT_ERR_INTERNAL, "output 1 's:1' names node 0 output 0");
  g->values[outs[1]].producer_output = 1;

  /* nodes that fail inference stay in the graph they were emitted into: their own graph */
  ir_graph_free(g);
  g = ir_graph_create();
  x = batched_input(g, "x", DIMS(N, 4, 6));
  int bad[4];
  CHECK_ERR(emit_split(g, "short", x, 2, (const int64_t[]){1, 2}, 2, bad), KRT_ERR_SHAPE,
            "the 2 pieces add up to 3 on axis 2, but input 'x' [Nx4x6] has 6");
  CHECK_ERR(emit_split(g, "empty", x, 2, (const int64_t[]){0, 6}, 2, bad), KRT_ERR_SHAPE,
            "output 0 would have length 0 on axis 2");
  CHECK_ERR(emit_split(g, "batch", x, 0, (const int64_t[]){1, 1}, 2, bad), KRT_ERR_SHAPE,
            "the op needs axis 0, the batch");
  CHECK_ERR(emit_split(g, "axis", x, 3, (const int64_t[]){1, 1}, 2, bad), KRT_ERR_SHAPE,
            "axis 3 is outside input 'x'");
  /* a size past the node's outputs would be dropped by every kernel */
  ir_attrs a = no_attrs();
  a.axis = 2, a.sizes[0] = 3, a.sizes[1] = 3, a.sizes[2] = 1;
  CHECK_ERR(ir_emit_outputs(g, IR_OP_SPLIT, "stray", -1, &x, 1, &a, 2, bad), KRT_ERR_INTERNAL,
            "sizes[2] is 1 but the node has 2 outputs");
  /* an op of one output refuses two, and no node has none */
  ir_attrs act = no_attrs();
  act.act.kind = IR_ACT_RELU;
  CHECK_ERR(ir_emit_outputs(g, IR_OP_ACTIVATION, "two", -1, &x, 1, &act, 2, bad),
            KRT_ERR_INTERNAL, "has 2 outputs, Activation has 1");
  CHECK_ERR(ir_emit_outputs(g, IR_OP_ACTIVATION, "none", -1, &x, 1, &act, 0, bad),
            KRT_ERR_INTERNAL, "0 outputs");
  a = no_attrs();
  a.axis = 2;
  for (int k = 0; k < IR_MAX_SPLIT; k++) a.sizes[k] = 1;
  int many[IR_MAX_SPLIT + 1];
  CHECK_ERR(ir_emit_outputs(g, IR_OP_SPLIT, "many", -1, &x, 1, &a, IR_MAX_SPLIT + 1, many),
            KRT_ERR_INTERNAL, "has 65 outputs, Split has 1 to 64");

  ir_graph_free(g);
}

/* Recurrent: y, then (return_state) h_T [N, H] and, LSTM only, c_T [N, H]. */
static void test_recurrent_outputs(void) {
  ir_graph *g = ir_graph_create();
  int x = batched_input(g, "x", DIMS(N, 9, 3));
  ir_attrs a = no_attrs();
  a.rnn_cell = IR_RNN_LSTM;
  a.rnn_units = 5;
  a.rnn_act.kind = IR_ACT_TANH;
  a.rnn_gate_act.kind = IR_ACT_SIGMOID;
  a.rnn_return_sequences = 1;
  int ins[4] = {x, add_const(g, "w", DIMS(3, 20)), add_const(g, "r", DIMS(5, 20)),
                add_const(g, "b", DIMS(20))};
  int outs[3] = {-1, -1, -1};
  CHECK_OK(ir_emit_outputs(g, IR_OP_RECURRENT, "lstm", -1, ins, 4, &a, 3, outs));
  CHECK_SHAPE(g, outs[0], 1, N, 9, 5);
  CHECK_SHAPE(g, outs[1], 1, N, 5);
  CHECK_SHAPE(g, outs[2], 1, N, 5);
  a.rnn_return_sequences = 0;
  CHECK_OK(ir_emit_outputs(g, IR_OP_RECURRENT, "lstm_h", -1, ins, 4, &a, 2, outs));
  CHECK_SHAPE(g, outs[0], 1, N, 5);
  CHECK_SHAPE(g, outs[1], 1, N, 5);
  /* only an LSTM has a c_T; nothing has a fourth output */
  a.rnn_cell = IR_RNN_SIMPLE;
  ins[1] = add_const(g, "w1", DIMS(3, 5)), ins[2] = add_const(g, "r1", DIMS(5, 5));
  ins[3] = add_const(g, "b1", DIMS(5));
  int bad[4];
  CHECK_ERR(ir_emit_outputs(g, IR_OP_RECURRENT, "rnn_c", -1, ins, 4, &a, 3, bad),
            KRT_ERR_INTERNAL, "which only LSTM has");
  CHECK_ERR(ir_emit_outputs(g, IR_OP_RECURRENT, "rnn_4", -1, ins, 4, &a, 4, bad),
            KRT_ERR_INTERNAL, "has 4 outputs, Recurrent has 1 to 3");
  ir_graph_free(g);
}

int main(void) {
  test_dense();
  test_conv();
  test_conv_transpose();
  test_pool();
  test_reduce_softmax_norms();
  test_activation_prelu();
  test_binary();
  test_concat();
  test_reshape_transpose();
  test_pad_slice_resize_gather();
  test_infer_all();
  test_dump();
  test_split();
  test_recurrent_outputs();
  return test_summary("test_ir");
}
