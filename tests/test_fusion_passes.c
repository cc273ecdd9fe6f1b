/* The fusing passes (const_fold, fold_batchnorm, fuse_residual, fuse_activation), each alone:
 * IR before -> IR after, checking the structure and the numbers. Every case runs the graph
 * before and after the pass on the CPU reference backend, on the same random inputs, and the
 * outputs must agree within 1e-5 (relative to max(|value|, 1)). */
#include <stdint.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "ir/graph.h"
#include "opt/passes.h"
#include "plan/plan.h"
#include "test.h"

#define BATCH 2

/* ---- building graphs ------------------------------------------------------------------------ */

static uint32_t rng = 2024;
static float uniform(float lo, float hi) {
  rng = rng * 1664525u + 1013904223u;
  return lo + (hi - lo) * (float)(rng >> 8) / (float)(1u << 24);
}

static int64_t product(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

static int random_const(ir_graph *g, const char *name, int rank, const int64_t *dims, float lo,
                        float hi) {
  int64_t n = product(rank, dims);
  float *d = malloc((size_t)n * sizeof *d);
  for (int64_t i = 0; i < n; i++) d[i] = uniform(lo, hi);
  int id = -1;
  CHECK_OK(ir_add_const(g, name, rank, dims, d, &id));
  return id;
}

static int vec_const(ir_graph *g, const char *name, int64_t n, float lo, float hi) {
  return random_const(g, name, 1, &n, lo, hi);
}

static ir_attrs no_attrs(void) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

static ir_activation relu(float max_value) {
  ir_activation a = ir_act_none();
  a.kind = IR_ACT_RELU;
  a.max_value = max_value;
  return a;
}

static int emit(ir_graph *g, ir_op op, const char *name, const int *in, int n_in,
                const ir_attrs *a) {
  int out = -1;
  CHECK_OK(ir_emit(g, op, name, -1, in, n_in, a, &out));
  return out;
}

static int input(ir_graph *g, const char *name, int rank, const int64_t *dims) {
  int x = -1;
  CHECK_OK(ir_add_input(g, name, KRT_FLOAT32, rank, dims, 1, IR_LAYOUT_CHANNELS_LAST, &x));
  return x;
}

/* x[N,6,6,ci] -> Conv k3 same, groups, Co = w_out channels; bias when with_bias. */
static int conv(ir_graph *g, const char *name, int x, int64_t ci, int64_t co, int groups,
                int with_bias, ir_activation act) {
  char wname[64], bname[64];
  snprintf(wname, sizeof wname, "%s/kernel", name);
  snprintf(bname, sizeof bname, "%s/bias", name);
  int64_t wd[4] = {3, 3, ci / groups, co};
  int in[3] = {x, random_const(g, wname, 4, wd, -0.5f, 0.5f), -1};
  if (with_bias) in[2] = vec_const(g, bname, co, -0.5f, 0.5f);
  ir_attrs a = no_attrs();
  a.spatial = 2;
  for (int i = 0; i < 2; i++) {
    a.kernel[i] = 3, a.stride[i] = 1, a.dilation[i] = 1;
    a.pad_begin[i] = a.pad_end[i] = 1;
  }
  a.groups = groups;
  a.act = act;
  return emit(g, IR_OP_CONV, name, in, with_bias ? 3 : 2, &a);
}

/* BatchNorm over `axis` with random statistics (variance > 0). */
static int batchnorm(ir_graph *g, const char *name, int x, int axis) {
  int64_t c = g->values[x].dims[axis];
  char n[4][64];
  static const char *const part[] = {"gamma", "beta", "mean", "var"};
  for (int i = 0; i < 4; i++) snprintf(n[i], sizeof n[i], "%s/%s", name, part[i]);
  int in[5] = {x, vec_const(g, n[0], c, 0.5f, 1.5f), vec_const(g, n[1], c, -0.5f, 0.5f),
               vec_const(g, n[2], c, -0.3f, 0.3f), vec_const(g, n[3], c, 0.2f, 2.0f)};
  ir_attrs a = no_attrs();
  a.axis = axis;
  a.epsilon = 1e-3f;
  return emit(g, IR_OP_BATCHNORM, name, in, 5, &a);
}

static int binary(ir_graph *g, const char *name, ir_binary_kind kind, int a0, int a1,
                  ir_activation act) {
  ir_attrs a = no_attrs();
  a.binary = kind;
  a.act = act;
  int in[2] = {a0, a1};
  return emit(g, IR_OP_BINARY, name, in, 2, &a);
}

static int activation(ir_graph *g, const char *name, int x, ir_activation act) {
  ir_attrs a = no_attrs();
  a.act = act;
  return emit(g, IR_OP_ACTIVATION, name, &x, 1, &a);
}

static ir_graph *image_graph(int64_t channels, int *x) {
  ir_graph *g = ir_graph_create();
  int64_t d[4] = {-1, 6, 6, channels};
  *x = input(g, "x", 4, d);
  return g;
}

/* ---- running graphs on the CPU backend ------------------------------------------------------ */

typedef struct run_result {
  int n;
  float *data[4];
  int64_t count[4];
} run_result;

static void result_free(run_result *r) {
  for (int i = 0; i < r->n; i++) free(r->data[i]);
  r->n = 0;
}

/* Runs g at BATCH with inputs filled from `seed`; every output into r. */
static void run_graph(const ir_graph *g, uint32_t seed, run_result *r) {
  memset(r, 0, sizeof *r);
  const krt_backend *be = krt_backend_cpu();
  krt_plan plan;
  memset(&plan, 0, sizeof plan);
  void *engine = NULL, *ctx = NULL;
  CHECK_OK(plan_memory(g, BATCH, NULL, &plan));
  CHECK_OK(be->engine_prepare(g, &plan, &engine));
  if (engine) CHECK_OK(be->context_create(engine, &ctx));
  if (ctx) {
    uint32_t saved = rng;
    rng = seed;
    for (int i = 0; i < g->n_inputs; i++) {
      int v = g->inputs[i];
      int64_t n = ir_value_elements(&g->values[v], BATCH);
      float *in = malloc((size_t)n * sizeof *in);
      for (int64_t k = 0; k < n; k++) in[k] = uniform(-2.0f, 2.0f);
      if (plan.offset[v] >= 0) CHECK_OK(be->write_value(ctx, v, in, n));
      free(in);
    }
    rng = saved;
    CHECK_OK(be->run(ctx, BATCH));
    for (int i = 0; i < g->n_outputs && i < 4; i++) {
      int64_t n = ir_value_elements(&g->values[g->outputs[i]], BATCH);
      r->data[i] = calloc((size_t)n, sizeof(float));
      r->count[i] = n;
      r->n = i + 1;
      CHECK_OK(be->read_value(ctx, g->outputs[i], r->data[i], n));
    }
  }
  if (ctx) be->context_release(ctx);
  if (engine) be->engine_release(engine);
  plan_free(&plan);
}

static void check_same_results(const char *what, const run_result *a, const run_result *b) {
  CHECK(a->n == b->n);
  for (int i = 0; i < a->n && i < b->n; i++) {
    CHECK(a->count[i] == b->count[i]);
    double worst = 0.0;
    for (int64_t k = 0; k < a->count[i] && k < b->count[i]; k++) {
      double x = a->data[i][k], y = b->data[i][k];
      double scale = fabs(x) > 1.0 ? fabs(x) : 1.0;
      double err = fabs(x - y) / scale;
      if (!(err <= worst)) worst = err;
    }
    if (!(worst <= 1e-5)) fprintf(stderr, "%s: output %d differs by %g\n", what, i, worst);
    CHECK(worst <= 1e-5);
  }
}

/* Runs `pass` (and remove_dead, to see the result) on g, checking that the outputs do not change
 * on random inputs and that the result passes shape inference. */
static void run_pass_checked(const char *what, ir_graph *g, krt_status *(*pass)(ir_graph *)) {
  run_result before, after;
  run_graph(g, 77, &before);
  CHECK_OK(pass(g));
  CHECK_OK(opt_remove_dead(g));
  CHECK_OK(ir_infer_all(g));
  run_graph(g, 77, &after);
  check_same_results(what, &before, &after);
  result_free(&before);
  result_free(&after);
}

static int count_op(const ir_graph *g, ir_op op) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].op == op;
  return n;
}

static const ir_node *only_node(const ir_graph *g, ir_op op) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op == op) return &g->nodes[i];
  return NULL;
}

static int fused_is(const ir_node *n, const char *names) {
  return n && n->fused && strcmp(n->fused, names) == 0;
}

/* ---- fold_batchnorm ------------------------------------------------------------------------- */

static void test_fold_conv_bn(void) {
  int x;
  ir_graph *g = image_graph(3, &x);
  int c = conv(g, "conv", x, 3, 4, 1, 1, ir_act_none());
  int y = batchnorm(g, "bn", c, 3);
  CHECK_OK(ir_add_output(g, y, "bn"));
  int old_kernel = g->nodes[0].inputs[1];
  float kernel0 = g->values[old_kernel].data[0];
  run_pass_checked("conv+bn", g, opt_fold_batchnorm);
  CHECK(g->n_nodes == 1 && count_op(g, IR_OP_BATCHNORM) == 0);
  const ir_node *n = only_node(g, IR_OP_CONV);
  CHECK(n && n->n_inputs == 3 && fused_is(n, "bn"));
  CHECK(n && n->outputs[0] == g->outputs[0] && strcmp(g->output_names[0], "bn") == 0);
  CHECK(n && g->values[n->inputs[1]].data[0] != kernel0); /* a new, scaled kernel */
  ir_graph_free(g);
}

/* Depthwise (groups = Ci, multiplier 2) without a bias: the fold adds one. The old kernel is also
 * read by a second conv, so it must stay as it was. */
static void test_fold_depthwise_bn_shared_kernel(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  int c = conv(g, "dw", x, 4, 8, 4, 0, ir_act_none());
  int y = batchnorm(g, "dw_bn", c, 3);
  int kernel = g->nodes[0].inputs[1];
  ir_attrs a = g->nodes[0].attrs;
  int in[2] = {x, kernel};
  int twin = emit(g, IR_OP_CONV, "dw_twin", in, 2, &a);
  CHECK_OK(ir_add_output(g, y, "dw_bn"));
  CHECK_OK(ir_add_output(g, twin, "dw_twin"));
  int64_t n = ir_value_elements(&g->values[kernel], 1);
  float *copy = malloc((size_t)n * sizeof *copy);
  memcpy(copy, g->values[kernel].data, (size_t)n * sizeof *copy);
  run_pass_checked("depthwise+bn", g, opt_fold_batchnorm);
  CHECK(count_op(g, IR_OP_BATCHNORM) == 0 && count_op(g, IR_OP_CONV) == 2);
  const ir_node *dw = &g->nodes[0], *tw = &g->nodes[1];
  CHECK(dw->n_inputs == 3 && fused_is(dw, "dw_bn") && dw->attrs.groups == 4);
  CHECK(tw->n_inputs == 2 && tw->fused == NULL);
  CHECK(dw->inputs[1] != tw->inputs[1]);
  CHECK(memcmp(g->values[tw->inputs[1]].data, copy, (size_t)n * sizeof *copy) == 0);
  free(copy);
  ir_graph_free(g);
}

static void test_fold_dense_bn(void) {
  ir_graph *g = ir_graph_create();
  int64_t xd[3] = {-1, 3, 5}, wd[2] = {5, 6};
  int x = input(g, "x", 3, xd);
  int in[3] = {x, random_const(g, "fc/kernel", 2, wd, -1, 1), vec_const(g, "fc/bias", 6, -1, 1)};
  ir_attrs a = no_attrs();
  int d = emit(g, IR_OP_DENSE, "fc", in, 3, &a);
  int y = batchnorm(g, "fc_bn", d, 2);
  CHECK_OK(ir_add_output(g, y, "out"));
  run_pass_checked("dense+bn", g, opt_fold_batchnorm);
  CHECK(g->n_nodes == 1 && fused_is(only_node(g, IR_OP_DENSE), "fc_bn"));
  ir_graph_free(g);
}

/* ConvTranspose W[k, k, Co, Ci]: the channel axis is second to last. */
static void test_fold_conv_transpose_bn(void) {
  int x;
  ir_graph *g = image_graph(3, &x);
  int64_t wd[4] = {2, 2, 5, 3};
  int in[2] = {x, random_const(g, "up/kernel", 4, wd, -1, 1)};
  ir_attrs a = no_attrs();
  a.spatial = 2;
  for (int i = 0; i < 2; i++) a.kernel[i] = 2, a.stride[i] = 2, a.dilation[i] = 1;
  int t = emit(g, IR_OP_CONV_TRANSPOSE, "up", in, 2, &a);
  int y = batchnorm(g, "up_bn", t, 3);
  CHECK_OK(ir_add_output(g, y, "out"));
  run_pass_checked("convT+bn", g, opt_fold_batchnorm);
  const ir_node *n = only_node(g, IR_OP_CONV_TRANSPOSE);
  CHECK(g->n_nodes == 1 && n && n->n_inputs == 3 && fused_is(n, "up_bn"));
  ir_graph_free(g);
}

/* Three BatchNorms that must stay: the conv output has another reader, the conv has an
 * activation, the BatchNorm is over a spatial axis. */
static void test_bn_not_foldable(void) {
  int x;
  ir_graph *g = image_graph(3, &x);
  int c1 = conv(g, "shared", x, 3, 4, 1, 1, ir_act_none());
  int b1 = batchnorm(g, "bn_shared", c1, 3);
  int c2 = conv(g, "with_act", x, 3, 4, 1, 1, relu(INFINITY));
  int b2 = batchnorm(g, "bn_after_act", c2, 3);
  int c3 = conv(g, "spatial", x, 3, 4, 1, 1, ir_act_none());
  int b3 = batchnorm(g, "bn_axis1", c3, 1);
  CHECK_OK(ir_add_output(g, b1, "b1"));
  CHECK_OK(ir_add_output(g, c1, "c1"));
  CHECK_OK(ir_add_output(g, b2, "b2"));
  CHECK_OK(ir_add_output(g, b3, "b3"));
  int nodes = g->n_nodes;
  run_pass_checked("bn not foldable", g, opt_fold_batchnorm);
  CHECK(g->n_nodes == nodes && count_op(g, IR_OP_BATCHNORM) == 3);
  for (int i = 0; i < g->n_nodes; i++) CHECK(g->nodes[i].fused == NULL);
  ir_graph_free(g);
}

/* ---- fuse_residual -------------------------------------------------------------------------- */

/* ResNet's block: conv -> BN -> add(x) -> relu, through fold_batchnorm, fuse_residual and
 * fuse_activation one at a time. */
static void test_resnet_block(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  int c = conv(g, "conv", x, 4, 4, 1, 0, ir_act_none());
  int b = batchnorm(g, "bn", c, 3);
  int s = binary(g, "add", IR_BINARY_ADD, x, b, ir_act_none());
  int y = activation(g, "relu", s, relu(INFINITY));
  CHECK_OK(ir_add_output(g, y, "out"));
  run_pass_checked("resnet: fold", g, opt_fold_batchnorm);
  run_pass_checked("resnet: residual", g, opt_fuse_residual);
  CHECK(g->n_nodes == 2 && count_op(g, IR_OP_BINARY) == 0);
  const ir_node *n = only_node(g, IR_OP_CONV);
  CHECK(n && n->attrs.residual == 1 && n->n_inputs == 4 && n->inputs[3] == g->inputs[0]);
  CHECK(n && n->attrs.act.kind == IR_ACT_NONE && fused_is(n, "bn,add"));
  run_pass_checked("resnet: activation", g, opt_fuse_activation);
  n = only_node(g, IR_OP_CONV);
  CHECK(g->n_nodes == 1 && n && n->attrs.act.kind == IR_ACT_RELU && fused_is(n, "bn,add,relu"));
  char *text = NULL;
  CHECK_OK(ir_dump(g, &text));
  CHECK(text && strstr(text, "+residual act=relu") && strstr(text, "fused=bn,add,relu"));
  free(text);
  ir_graph_free(g);
}

/* The Add's own activation goes with it, and when both operands qualify the later one is fused. */
static void test_residual_both_operands_and_act(void) {
  int x;
  ir_graph *g = image_graph(3, &x);
  int c1 = conv(g, "first", x, 3, 4, 1, 1, ir_act_none());
  int c2 = conv(g, "second", x, 3, 4, 1, 1, ir_act_none());
  int s = binary(g, "add", IR_BINARY_ADD, c1, c2, relu(6.0f));
  CHECK_OK(ir_add_output(g, s, "out"));
  run_pass_checked("residual both", g, opt_fuse_residual);
  CHECK(g->n_nodes == 2 && strcmp(g->nodes[1].name, "second") == 0);
  const ir_node *n = &g->nodes[1];
  CHECK(n->attrs.residual && n->inputs[3] == g->nodes[0].outputs[0] && fused_is(n, "add"));
  CHECK(n->attrs.act.kind == IR_ACT_RELU && n->attrs.act.max_value == 6.0f);
  ir_graph_free(g);
}

/* The fusable operand (a Dense) comes before the other operand's producer: the Dense moves down
 * to just before the Add. */
static void test_residual_moves_node(void) {
  ir_graph *g = ir_graph_create();
  int64_t xd[2] = {-1, 6}, wd[2] = {6, 6};
  int x = input(g, "x", 2, xd);
  int in[2] = {x, random_const(g, "fc/kernel", 2, wd, -1, 1)};
  ir_attrs a = no_attrs();
  int d = emit(g, IR_OP_DENSE, "fc", in, 2, &a);
  int t = activation(g, "tanh", x, (ir_activation){IR_ACT_TANH, 0, 0, INFINITY, 0});
  int other = binary(g, "other", IR_BINARY_MUL, t, x, ir_act_none());
  int s = binary(g, "add", IR_BINARY_ADD, d, other, ir_act_none());
  CHECK_OK(ir_add_output(g, s, "out"));
  CHECK_OK(ir_add_output(g, t, "tanh"));
  run_pass_checked("residual move", g, opt_fuse_residual);
  CHECK(g->n_nodes == 3 && g->nodes[2].op == IR_OP_DENSE && g->nodes[2].attrs.residual);
  CHECK(g->nodes[2].n_inputs == 4 && g->values[g->nodes[2].inputs[2]].data); /* zero bias */
  CHECK(g->nodes[2].inputs[3] == g->nodes[1].outputs[0]);
  ir_graph_free(g);
}

/* Not fused: an Add that broadcasts, a Sub, a conv with an activation, a conv read twice. */
static void test_residual_not_fused(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  int64_t pd[4] = {1, 1, 1, 4};
  int c1 = conv(g, "c1", x, 4, 4, 1, 1, ir_act_none());
  int s1 =
      binary(g, "add_bias", IR_BINARY_ADD, c1, random_const(g, "p", 4, pd, -1, 1), ir_act_none());
  int64_t rd[4] = {-1, 1, 1, 4};
  int r = input(g, "r", 4, rd);
  int c2 = conv(g, "c2", x, 4, 4, 1, 1, ir_act_none());
  int s2 = binary(g, "add_broadcast", IR_BINARY_ADD, c2, r, ir_act_none());
  int c3 = conv(g, "c3", x, 4, 4, 1, 1, ir_act_none());
  int s3 = binary(g, "sub", IR_BINARY_SUB, c3, x, ir_act_none());
  int c4 = conv(g, "c4", x, 4, 4, 1, 1, relu(INFINITY));
  int s4 = binary(g, "add_after_act", IR_BINARY_ADD, c4, x, ir_act_none());
  int c5 = conv(g, "c5", x, 4, 4, 1, 1, ir_act_none());
  int s5 = binary(g, "add_twice", IR_BINARY_ADD, c5, c5, ir_act_none());
  int outs[5] = {s1, s2, s3, s4, s5};
  for (int i = 0; i < 5; i++) CHECK_OK(ir_add_output(g, outs[i], "o"));
  int nodes = g->n_nodes;
  run_pass_checked("residual not fused", g, opt_fuse_residual);
  CHECK(g->n_nodes == nodes && count_op(g, IR_OP_BINARY) == 5);
  for (int i = 0; i < g->n_nodes; i++) CHECK(!g->nodes[i].attrs.residual);
  ir_graph_free(g);
}

/* Shape inference and the kernels on hand-made residual nodes. */
static void test_residual_shapes(void) {
  ir_graph *g = ir_graph_create();
  int64_t xd[2] = {-1, 4}, wd[2] = {4, 3}, rd[2] = {-1, 4};
  int x = input(g, "x", 2, xd), r = input(g, "r", 2, rd);
  int w = random_const(g, "w", 2, wd, -1, 1), b = vec_const(g, "b", 3, -1, 1);
  ir_attrs a = no_attrs();
  a.residual = 1;
  int out = -1;
  CHECK_ERR(ir_emit(g, IR_OP_DENSE, "d3", -1, (const int[]){x, w, b}, 3, &a, &out),
            KRT_ERR_INTERNAL, "takes 4 inputs");
  CHECK_ERR(ir_emit(g, IR_OP_DENSE, "d4", -1, (const int[]){x, w, b, r}, 4, &a, &out),
            KRT_ERR_SHAPE, "residual 'r' [Nx4] does not match the output [Nx3]");
  CHECK_ERR(ir_emit(g, IR_OP_ACTIVATION, "act", -1, &x, 1, &a, &out), KRT_ERR_INTERNAL,
            "sets attribute 'residual', which Activation does not read");
  ir_graph_free(g);
}

/* ---- fuse_activation ------------------------------------------------------------------------ */

static void test_activation_fusion(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  /* fused: conv -> sigmoid */
  int c1 = conv(g, "c1", x, 4, 4, 1, 1, ir_act_none());
  int a1 = activation(g, "sig", c1, (ir_activation){IR_ACT_SIGMOID, 0, 0, INFINITY, 0});
  /* not fused: the conv output has two readers */
  int c2 = conv(g, "c2", x, 4, 4, 1, 1, ir_act_none());
  int a2 = activation(g, "relu_shared", c2, relu(INFINITY));
  int m = binary(g, "mix", IR_BINARY_MUL, c2, a2, ir_act_none());
  /* fused into an Add; not into a Mul */
  int s = binary(g, "sum", IR_BINARY_ADD, a1, x, ir_act_none());
  int a3 = activation(g, "relu_sum", s, relu(INFINITY));
  int p = binary(g, "prod", IR_BINARY_MUL, a1, x, ir_act_none());
  int a4 = activation(g, "relu_prod", p, relu(INFINITY));
  CHECK_OK(ir_add_output(g, m, "m"));
  CHECK_OK(ir_add_output(g, a3, "a3"));
  CHECK_OK(ir_add_output(g, a4, "a4"));
  run_pass_checked("activation", g, opt_fuse_activation);
  CHECK(count_op(g, IR_OP_ACTIVATION) == 2);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (strcmp(n->name, "c1") == 0)
      CHECK(n->attrs.act.kind == IR_ACT_SIGMOID && fused_is(n, "sig"));
    if (strcmp(n->name, "c2") == 0) CHECK(n->attrs.act.kind == IR_ACT_NONE && !n->fused);
    if (strcmp(n->name, "sum") == 0)
      CHECK(n->attrs.act.kind == IR_ACT_RELU && fused_is(n, "relu_sum"));
    if (strcmp(n->name, "prod") == 0) CHECK(n->attrs.act.kind == IR_ACT_NONE);
  }
  ir_graph_free(g);
}

/* ReLU chains: relu after relu goes (even with other readers), relu6 after relu merges, a linear
 * Activation goes, a leaky relu after relu6 goes (identity on [0, 6]), relu after tanh stays. */
static void test_relu_chains(void) {
  int x;
  ir_graph *g = image_graph(3, &x);
  int c1 = conv(g, "c1", x, 3, 4, 1, 1, relu(INFINITY));
  int r1 = activation(g, "relu_again", c1, relu(INFINITY));
  int c2 = conv(g, "c2", x, 3, 4, 1, 1, relu(INFINITY));
  int r2 = activation(g, "relu6", c2, relu(6.0f));
  int lin = activation(g, "linear", r2, ir_act_none());
  ir_activation leaky = relu(INFINITY);
  leaky.alpha = 0.3f;
  int r3 = activation(g, "leaky", lin, leaky);
  int t = activation(g, "tanh", x, (ir_activation){IR_ACT_TANH, 0, 0, INFINITY, 0});
  int r4 = activation(g, "relu_tanh", t, relu(INFINITY));
  CHECK_OK(ir_add_output(g, r1, "r1"));
  CHECK_OK(ir_add_output(g, c1, "c1"));
  CHECK_OK(ir_add_output(g, r3, "r3"));
  CHECK_OK(ir_add_output(g, r4, "r4"));
  run_pass_checked("relu chains", g, opt_fuse_activation);
  CHECK(g->n_nodes == 4 && count_op(g, IR_OP_ACTIVATION) == 2);
  CHECK(g->outputs[0] == g->outputs[1]);
  const ir_node *n = &g->nodes[1];
  CHECK(strcmp(n->name, "c2") == 0 && n->attrs.act.max_value == 6.0f);
  CHECK(fused_is(n, "relu6,linear,leaky"));
  CHECK(fused_is(&g->nodes[0], "relu_again"));
  ir_graph_free(g);
}

/* BatchNorm -> ReLU: the BatchNorm takes the activation when only the ReLU reads it; not when its
 * output is also read by another node or is a graph output. */
static void test_batchnorm_activation(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  int b1 = batchnorm(g, "bn", x, 3);
  int r1 = activation(g, "relu", b1, relu(INFINITY));
  int b2 = batchnorm(g, "bn_shared", x, 3);
  int r2 = activation(g, "relu_shared", b2, relu(INFINITY));
  int m = binary(g, "mix", IR_BINARY_MUL, b2, r2, ir_act_none());
  int b3 = batchnorm(g, "bn_output", x, 3);
  int r3 = activation(g, "relu_output", b3, relu(6.0f));
  CHECK_OK(ir_add_output(g, r1, "r1"));
  CHECK_OK(ir_add_output(g, m, "m"));
  CHECK_OK(ir_add_output(g, r3, "r3"));
  CHECK_OK(ir_add_output(g, b3, "b3"));
  int nodes = g->n_nodes;
  run_pass_checked("bn activation", g, opt_fuse_activation);
  CHECK(g->n_nodes == nodes - 1 && count_op(g, IR_OP_ACTIVATION) == 2);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (strcmp(n->name, "bn") == 0) {
      CHECK(n->attrs.act.kind == IR_ACT_RELU && isinf(n->attrs.act.max_value));
      CHECK(fused_is(n, "relu") && n->outputs[0] == g->outputs[0]);
    }
    if (n->op == IR_OP_BATCHNORM && strcmp(n->name, "bn") != 0)
      CHECK(n->attrs.act.kind == IR_ACT_NONE && !n->fused);
  }
  char *text = NULL;
  CHECK_OK(ir_dump(g, &text));
  CHECK(text && strstr(text, "axis=3 eps=0.001 act=relu") && strstr(text, "fused=relu"));
  free(text);
  ir_graph_free(g);
}

/* DenseNet's pre-activation block through the default pipeline: Concat -> BN -> ReLU -> Conv ->
 * BN -> ELU. The first BN (after a Concat) cannot fold and takes the ReLU; the second folds into
 * the conv first, and the ELU then fuses into the conv, as before. */
static void test_preact_pipeline(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  int grow = conv(g, "grow", x, 4, 4, 1, 1, ir_act_none());
  ir_attrs a = no_attrs();
  a.axis = 3;
  int cat = emit(g, IR_OP_CONCAT, "cat", (const int[]){x, grow}, 2, &a);
  int b1 = batchnorm(g, "pre_bn", cat, 3);
  int r = activation(g, "pre_relu", b1, relu(INFINITY));
  int c = conv(g, "conv", r, 8, 6, 1, 1, ir_act_none());
  int b2 = batchnorm(g, "post_bn", c, 3);
  int y = activation(g, "post_elu", b2, (ir_activation){IR_ACT_ELU, 1.0f, 0, INFINITY, 0});
  CHECK_OK(ir_add_output(g, y, "out"));
  run_pass_checked("preact pipeline", g, opt_run_default);
  CHECK(g->n_nodes == 4 && count_op(g, IR_OP_ACTIVATION) == 0);
  CHECK(count_op(g, IR_OP_BATCHNORM) == 1);
  const ir_node *bn = only_node(g, IR_OP_BATCHNORM);
  CHECK(bn && bn->attrs.act.kind == IR_ACT_RELU && fused_is(bn, "pre_relu"));
  const ir_node *last = &g->nodes[g->n_nodes - 1];
  CHECK(last->op == IR_OP_CONV && strcmp(last->name, "conv") == 0);
  CHECK(last->attrs.act.kind == IR_ACT_ELU && fused_is(last, "post_bn,post_elu"));
  ir_graph_free(g);
}

/* ---- const_fold ----------------------------------------------------------------------------- */

/* A chain on constants, x + reshape((shift - mean) * scale), as importers build for Normalization
 * and Rescaling, plus a graph output that is wholly constant (a Gather of constant rows). */
static void test_const_fold(void) {
  int x;
  ir_graph *g = image_graph(3, &x);
  int64_t cd[2] = {1, 3};
  int mean = random_const(g, "mean", 2, cd, -1, 1), scale = random_const(g, "scale", 2, cd, 1, 2);
  int shift = random_const(g, "shift", 2, cd, -1, 1);
  int neg = binary(g, "neg_mean", IR_BINARY_SUB, shift, mean, ir_act_none());
  int prod = binary(g, "scaled", IR_BINARY_MUL, neg, scale, ir_act_none());
  ir_attrs a = no_attrs();
  a.shape_rank = 3;
  a.shape[0] = 1, a.shape[1] = 1, a.shape[2] = 3;
  int shaped = emit(g, IR_OP_RESHAPE, "shaped", &prod, 1, &a);
  int y = binary(g, "apply", IR_BINARY_ADD, x, shaped, ir_act_none());
  int64_t td[2] = {4, 3}, id[1] = {2};
  int table = random_const(g, "table", 2, td, -1, 1);
  float *idx = malloc(2 * sizeof *idx);
  idx[0] = 3, idx[1] = 1;
  int index = -1;
  CHECK_OK(ir_add_const(g, "idx", 1, id, idx, &index));
  ir_attrs none = no_attrs();
  int gathered = emit(g, IR_OP_GATHER, "rows", (const int[]){index, table}, 2, &none);
  CHECK_OK(ir_add_output(g, y, "y"));
  CHECK_OK(ir_add_output(g, gathered, "rows"));
  run_pass_checked("const fold", g, opt_const_fold);
  CHECK(g->n_nodes == 1 && g->nodes[0].op == IR_OP_BINARY);
  int folded = g->nodes[0].inputs[1];
  CHECK(g->values[folded].data && strcmp(g->values[folded].name, "shaped") == 0);
  CHECK(g->values[folded].rank == 4);
  CHECK(g->values[g->outputs[1]].data != NULL);
  ir_graph_free(g);
}

/* A kernel that fails on its constants (an index out of range) is left to fail at run time. */
static void test_const_fold_leaves_failing_node(void) {
  ir_graph *g = ir_graph_create();
  int64_t td[2] = {4, 3}, id[1] = {1};
  int table = random_const(g, "table", 2, td, -1, 1);
  float *idx = malloc(sizeof *idx);
  idx[0] = 9;
  int index = -1;
  CHECK_OK(ir_add_const(g, "idx", 1, id, idx, &index));
  ir_attrs none = no_attrs();
  int gathered = emit(g, IR_OP_GATHER, "rows", (const int[]){index, table}, 2, &none);
  CHECK_OK(ir_add_output(g, gathered, "rows"));
  CHECK_OK(opt_const_fold(g));
  CHECK(g->n_nodes == 1 && g->outputs[0] == g->nodes[0].outputs[0]);
  CHECK(g->values[g->outputs[0]].data == NULL);
  ir_graph_free(g);
}

/* The whole default pipeline on the ResNet block with a Dropout-like Identity in it: the
 * Identity's leftover read of the conv output must not block the fusions. */
static void test_default_pipeline(void) {
  int x;
  ir_graph *g = image_graph(4, &x);
  int c = conv(g, "conv", x, 4, 4, 1, 1, ir_act_none());
  int drop = emit(g, IR_OP_IDENTITY, "dropout", &c, 1, NULL);
  int b = batchnorm(g, "bn", drop, 3);
  int s = binary(g, "add", IR_BINARY_ADD, b, x, ir_act_none());
  int y = activation(g, "relu", s, relu(INFINITY));
  CHECK_OK(ir_add_output(g, y, "out"));
  run_pass_checked("default pipeline", g, opt_run_default);
  CHECK(g->n_nodes == 1);
  const ir_node *n = &g->nodes[0];
  CHECK(n->op == IR_OP_CONV && n->attrs.residual && n->attrs.act.kind == IR_ACT_RELU);
  CHECK(fused_is(n, "bn,add,relu"));
  ir_graph_free(g);
}

int main(void) {
  test_fold_conv_bn();
  test_fold_depthwise_bn_shared_kernel();
  test_fold_dense_bn();
  test_fold_conv_transpose_bn();
  test_bn_not_foldable();
  test_resnet_block();
  test_residual_both_operands_and_act();
  test_residual_moves_node();
  test_residual_not_fused();
  test_residual_shapes();
  test_activation_fusion();
  test_relu_chains();
  test_batchnorm_activation();
  test_preact_pipeline();
  test_const_fold();
  test_const_fold_leaves_failing_node();
  test_default_pipeline();
  return test_summary("test_fusion_passes");
}
