/* The graph passes, each alone: IR before -> IR after. */
#include <stdlib.h>

#include "ir/graph.h"
#include "opt/passes.h"
#include "test.h"

static int emit(ir_graph *g, ir_op op, const char *name, const int *in, int n_in, ir_attrs *a) {
  int out = -1;
  CHECK_OK(ir_emit(g, op, name, -1, in, n_in, a, &out));
  return out;
}

static ir_attrs transpose_attrs(int p0, int p1, int p2, int p3) {
  ir_attrs a = {0};
  a.perm[0] = p0, a.perm[1] = p1, a.perm[2] = p2, a.perm[3] = p3;
  return a;
}

/* to channels-first, back to channels-last, relu, identity: only relu survives, reading x. */
static void test_transpose_pair_and_identity_vanish(void) {
  ir_graph *g = ir_graph_create();
  int64_t dims[4] = {-1, 4, 5, 3};
  int x;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 4, dims, 1, IR_LAYOUT_CHANNELS_LAST, &x));
  ir_attrs to_cf = transpose_attrs(0, 3, 1, 2), to_cl = transpose_attrs(0, 2, 3, 1);
  int t1 = emit(g, IR_OP_TRANSPOSE, "t1", &x, 1, &to_cf);
  int t2 = emit(g, IR_OP_TRANSPOSE, "t2", &t1, 1, &to_cl);
  ir_attrs relu = {0};
  relu.act = ir_act_none();
  relu.act.kind = IR_ACT_RELU;
  int r = emit(g, IR_OP_ACTIVATION, "relu", &t2, 1, &relu);
  int id = emit(g, IR_OP_IDENTITY, "copy", &r, 1, NULL);
  CHECK_OK(ir_add_output(g, id, "out"));

  CHECK_OK(opt_run_default(g));
  CHECK(g->n_nodes == 1);
  CHECK(g->nodes[0].op == IR_OP_ACTIVATION);
  CHECK(g->nodes[0].inputs[0] == g->inputs[0]);
  CHECK(g->n_outputs == 1 && g->outputs[0] == g->nodes[0].outputs[0]);
  CHECK(strcmp(g->output_names[0], "out") == 0);
  CHECK(g->values[g->nodes[0].outputs[0]].producer == 0);
  ir_graph_free(g);
}

/* Two transposes that do not cancel become one with the composed permutation. */
static void test_transposes_merge(void) {
  ir_graph *g = ir_graph_create();
  int64_t dims[4] = {-1, 2, 3, 4};
  int x;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 4, dims, 1, IR_LAYOUT_PLAIN, &x));
  ir_attrs a = transpose_attrs(0, 3, 1, 2), b = transpose_attrs(0, 1, 3, 2);
  int t1 = emit(g, IR_OP_TRANSPOSE, "t1", &x, 1, &a);  /* [N,4,2,3] */
  int t2 = emit(g, IR_OP_TRANSPOSE, "t2", &t1, 1, &b); /* [N,4,3,2] */
  CHECK_OK(ir_add_output(g, t2, "y"));
  CHECK_OK(opt_run_default(g));
  CHECK(g->n_nodes == 1);
  const ir_value *y = &g->values[g->outputs[0]];
  CHECK(y->rank == 4 && y->dims[1] == 4 && y->dims[2] == 3 && y->dims[3] == 2);
  const ir_node *n = &g->nodes[0];
  CHECK(n->inputs[0] == g->inputs[0]);
  CHECK(n->attrs.perm[0] == 0 && n->attrs.perm[1] == 3 && n->attrs.perm[2] == 2 &&
        n->attrs.perm[3] == 1);
  ir_graph_free(g);
}

/* Cutting at an inner layer removes what follows it and its constants, keeps every input. */
static void test_set_outputs_and_dead_code(void) {
  ir_graph *g = ir_graph_create();
  int64_t xd[2] = {-1, 3}, unused_d[2] = {-1, 2}, wd[2] = {3, 2}, w2d[2] = {2, 1};
  float w[6] = {1, 2, 3, 4, 5, 6}, w2[2] = {1, -1};
  int x, unused, wc, w2c, l1, l2;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 2, xd, 1, IR_LAYOUT_PLAIN, &x));
  CHECK_OK(ir_add_input(g, "side", KRT_FLOAT32, 2, unused_d, 1, IR_LAYOUT_PLAIN, &unused));
  CHECK_OK(ir_add_const_copy(g, "d1/kernel", 2, wd, w, &wc));
  CHECK_OK(ir_add_const_copy(g, "d2/kernel", 2, w2d, w2, &w2c));
  CHECK_OK(ir_add_layer(g, "d1", "Dense", &l1));
  CHECK_OK(ir_add_layer(g, "d2", "Dense", &l2));
  ir_attrs dense = {0};
  dense.act = ir_act_none();
  int in1[2] = {x, wc};
  int h = -1, y = -1;
  CHECK_OK(ir_emit(g, IR_OP_DENSE, "d1", l1, in1, 2, &dense, &h));
  int in2[2] = {h, w2c};
  CHECK_OK(ir_emit(g, IR_OP_DENSE, "d2", l2, in2, 2, &dense, &y));
  g->layers[l1].output = h;
  g->layers[l2].output = y;
  CHECK_OK(ir_add_output(g, y, "d2"));

  const char *missing[] = {"d3"};
  CHECK_ERR(opt_set_outputs(g, missing, 1), KRT_ERR_NOT_FOUND, "d1, d2");
  const char *cut[] = {"d1"};
  CHECK_OK(opt_set_outputs(g, cut, 1));
  CHECK_OK(opt_remove_dead(g));
  CHECK(g->n_nodes == 1 && strcmp(g->nodes[0].name, "d1") == 0);
  CHECK(g->n_inputs == 2);
  CHECK(ir_find_value(g, "d2/kernel") < 0);
  CHECK(ir_find_value(g, "d1/kernel") >= 0);
  CHECK(g->layers[l2].output == -1);
  CHECK(g->layers[l1].output == g->outputs[0]);
  CHECK(strcmp(g->output_names[0], "d1") == 0);
  for (int i = 0; i < g->nodes[0].n_inputs; i++)
    CHECK(g->nodes[0].inputs[i] >= 0 && g->nodes[0].inputs[i] < g->n_values);
  CHECK_OK(ir_infer_all(g));
  ir_graph_free(g);
}

/* Pad folds into the conv reading it; not into a max pool reading a possibly negative input. */
static void test_fold_pad(void) {
  ir_graph *g = ir_graph_create();
  int64_t xd[4] = {-1, 5, 5, 2}, wd[4] = {3, 3, 2, 1};
  float w[18];
  for (int i = 0; i < 18; i++) w[i] = (float)i;
  int x, wc;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 4, xd, 1, IR_LAYOUT_CHANNELS_LAST, &x));
  CHECK_OK(ir_add_const_copy(g, "w", 4, wd, w, &wc));
  ir_attrs pad = {0};
  pad.pad_begin[1] = 1, pad.pad_end[1] = 2, pad.pad_begin[2] = 2, pad.pad_end[2] = 1;
  int p1 = emit(g, IR_OP_PAD, "pad1", &x, 1, &pad);
  ir_attrs conv = {0};
  conv.act = ir_act_none();
  conv.spatial = 2;
  conv.kernel[0] = conv.kernel[1] = 3;
  conv.stride[0] = conv.stride[1] = 1;
  conv.dilation[0] = conv.dilation[1] = 1;
  conv.groups = 1;
  int cin[2] = {p1, wc};
  int c = emit(g, IR_OP_CONV, "conv", cin, 2, &conv);
  int p2 = emit(g, IR_OP_PAD, "pad2", &x, 1, &pad);
  ir_attrs pool = {0};
  pool.spatial = 2;
  pool.pool = IR_POOL_MAX;
  pool.kernel[0] = pool.kernel[1] = 3;
  pool.stride[0] = pool.stride[1] = 1;
  int m = emit(g, IR_OP_POOL, "pool", &p2, 1, &pool);
  CHECK_OK(ir_add_output(g, c, "conv"));
  CHECK_OK(ir_add_output(g, m, "pool"));
  CHECK_OK(opt_run_default(g));
  CHECK(g->n_nodes == 3);
  int conv_node = g->values[g->outputs[0]].producer;
  const ir_node *cn = &g->nodes[conv_node];
  CHECK(cn->op == IR_OP_CONV && cn->inputs[0] == g->inputs[0]);
  CHECK(cn->attrs.pad_begin[0] == 1 && cn->attrs.pad_end[0] == 2);
  CHECK(cn->attrs.pad_begin[1] == 2 && cn->attrs.pad_end[1] == 1);
  CHECK(cn->fused && strcmp(cn->fused, "pad1") == 0);
  const ir_value *y = &g->values[g->outputs[0]];
  CHECK(y->dims[1] == 6 && y->dims[2] == 6);
  const ir_node *pn = &g->nodes[g->values[g->outputs[1]].producer];
  CHECK(pn->op == IR_OP_POOL && g->nodes[g->values[pn->inputs[0]].producer].op == IR_OP_PAD);
  ir_graph_free(g);
}

/* x -> Split into 3 pieces along axis 1; a relu reads piece 1 only. */
static ir_graph *split_graph(int *pieces, int *relu_out) {
  ir_graph *g = ir_graph_create();
  int64_t dims[2] = {-1, 6};
  int x;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 2, dims, 1, IR_LAYOUT_PLAIN, &x));
  ir_attrs s = {0};
  s.axis = 1, s.sizes[0] = 1, s.sizes[1] = 2, s.sizes[2] = 3;
  CHECK_OK(ir_emit_outputs(g, IR_OP_SPLIT, "split", -1, &x, 1, &s, 3, pieces));
  ir_attrs relu = {0};
  relu.act = ir_act_none();
  relu.act.kind = IR_ACT_RELU;
  *relu_out = emit(g, IR_OP_ACTIVATION, "relu", &pieces[1], 1, &relu);
  return g;
}

/* A node stays while one of its outputs is used, with all its outputs (its kernel writes them);
 * nothing fuses into a node of several outputs; publish_all publishes every output. */
static void test_several_outputs(void) {
  int pieces[3], r;
  ir_graph *g = split_graph(pieces, &r);
  CHECK_OK(ir_add_output(g, r, "y"));
  CHECK_OK(opt_run_default(g));
  CHECK(g->n_nodes == 2);
  const ir_node *split = &g->nodes[0];
  CHECK(split->op == IR_OP_SPLIT && split->n_outputs == 3);
  for (int k = 0; k < 3 && split->n_outputs == 3; k++) {
    const ir_value *v = &g->values[split->outputs[k]];
    CHECK(v->producer == 0 && v->producer_output == k && v->data == NULL);
  }
  CHECK(g->nodes[1].op == IR_OP_ACTIVATION && g->nodes[1].inputs[0] == split->outputs[1]);
  CHECK_OK(ir_infer_all(g));
  CHECK_OK(opt_publish_all_values(g));
  CHECK(g->n_outputs == 4);
  int published = 0;
  for (int i = 0; i < g->n_outputs; i++)
    for (int k = 0; k < 3; k++) published += g->outputs[i] == split->outputs[k];
  CHECK(published == 3);
  CHECK(ir_find_value(g, "split:2") >= 0);
  ir_graph_free(g);

  /* no output used: the whole node goes */
  g = split_graph(pieces, &r);
  int64_t dims[2] = {-1, 4};
  int other;
  CHECK_OK(ir_add_input(g, "other", KRT_FLOAT32, 2, dims, 1, IR_LAYOUT_PLAIN, &other));
  ir_attrs relu = {0};
  relu.act = ir_act_none();
  relu.act.kind = IR_ACT_RELU;
  int y = emit(g, IR_OP_ACTIVATION, "relu_other", &other, 1, &relu);
  CHECK_OK(ir_add_output(g, y, "y"));
  CHECK_OK(opt_remove_dead(g));
  CHECK(g->n_nodes == 1 && g->nodes[0].op == IR_OP_ACTIVATION);
  CHECK(g->n_values == 3); /* x, other, relu_other */
  CHECK_OK(ir_infer_all(g));
  ir_graph_free(g);

  /* --output names one output of several by its value */
  g = split_graph(pieces, &r);
  CHECK_OK(ir_add_output(g, r, "y"));
  const char *names[] = {"split:2"};
  CHECK_OK(opt_set_outputs(g, names, 1));
  CHECK(g->n_outputs == 1 && g->outputs[0] == pieces[2]);
  CHECK_OK(opt_run_default(g));
  CHECK(g->n_nodes == 1 && g->nodes[0].op == IR_OP_SPLIT && g->nodes[0].n_outputs == 3);
  ir_graph_free(g);
}

int main(void) {
  test_fold_pad();
  test_several_outputs();
  test_transpose_pair_and_identity_vanish();
  test_transposes_merge();
  test_set_outputs_and_dead_code();
  return test_summary("test_passes");
}
