/* Memory planner: reuse along chains, liveness of branches and outputs, aliasing, Concat inputs
 * written in place (views), batch scaling, errors, and on random DAGs the invariant "values live
 * at the same time never share bytes", checked twice: pairwise, and by replaying the plan on an
 * arena of tags where every read must find what its producer wrote. */
#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"
#include "ir/graph.h"
#include "plan/plan.h"
#include "test.h"

/* ---- graph building ------------------------------------------------------------------------- */

static int add_input(ir_graph *g, const char *name, int64_t features) {
  int64_t dims[2] = {-1, features};
  int id = -1;
  CHECK_OK(ir_add_input(g, name, KRT_FLOAT32, 2, dims, 1, IR_LAYOUT_PLAIN, &id));
  return id;
}

static int emit(ir_graph *g, ir_op op, const char *name, const int *inputs, int n,
                const ir_attrs *attrs) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  int out = -1;
  CHECK_OK(ir_emit(g, op, name, -1, inputs, n, attrs ? attrs : &a, &out));
  return out;
}

static int relu(ir_graph *g, const char *name, int x) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.act.kind = IR_ACT_RELU;
  return emit(g, IR_OP_ACTIVATION, name, &x, 1, &a);
}

static int add2(ir_graph *g, const char *name, int x, int y) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.binary = IR_BINARY_ADD;
  int in[2] = {x, y};
  return emit(g, IR_OP_BINARY, name, in, 2, &a);
}

static int concat2(ir_graph *g, const char *name, int x, int y) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.axis = 1;
  int in[2] = {x, y};
  return emit(g, IR_OP_CONCAT, name, in, 2, &a);
}

/* Reshape [N, ...] to [N, per_sample...]. */
static int reshape(ir_graph *g, const char *name, int x, int rank, const int64_t *per_sample) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.shape_rank = rank;
  memcpy(a.shape, per_sample, (size_t)rank * sizeof *per_sample);
  return emit(g, IR_OP_RESHAPE, name, &x, 1, &a);
}

static int identity(ir_graph *g, const char *name, int x) {
  return emit(g, IR_OP_IDENTITY, name, &x, 1, NULL);
}

static int dense(ir_graph *g, const char *name, int x, int64_t k, int64_t m) {
  int64_t wd[2] = {k, m};
  float *w = calloc((size_t)(k * m), sizeof *w);
  char wname[64];
  snprintf(wname, sizeof wname, "%s/kernel", name);
  int wid = -1;
  CHECK_OK(ir_add_const(g, wname, 2, wd, w, &wid));
  int in[2] = {x, wid};
  return emit(g, IR_OP_DENSE, name, in, 2, NULL);
}

/* ---- the invariant -------------------------------------------------------------------------- */

/* The value whose bytes v uses: follows Reshape/Identity chains back to a non-alias. */
static int reshape_root(const ir_graph *g, int v) {
  for (;;) {
    int p = g->values[v].producer;
    if (p < 0 || !plan_op_aliases_input(g->nodes[p].op)) return v;
    int in = g->nodes[p].inputs[0];
    if (g->values[in].data) return v;
    v = in;
  }
}

/* The group owning v's bytes: a view's is its Concat output's. */
static int alias_root(const ir_graph *g, const krt_plan *p, int v) {
  v = reshape_root(g, v);
  if (p->view_of && p->view_of[v] >= 0) v = reshape_root(g, p->view_of[v]);
  return v;
}

/* Checks every property the planner promises; returns the number of violations. Liveness is
 * recomputed here from scratch (per value, not per alias group) so it checks the planner's. */
static int check_plan(const ir_graph *g, const krt_plan *p, int64_t max_batch) {
  int bad = 0, nv = g->n_values, nn = g->n_nodes;
  int *first = malloc((size_t)nv * sizeof *first), *last = malloc((size_t)nv * sizeof *last);
  for (int v = 0; v < nv; v++) {
    first[v] = g->values[v].producer >= 0 ? g->values[v].producer : nn + 1;
    last[v] = g->values[v].producer;
  }
  for (int i = 0; i < g->n_inputs; i++) first[g->inputs[i]] = -1;
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (last[g->nodes[i].inputs[k]] < i) last[g->nodes[i].inputs[k]] = i;
  for (int i = 0; i < g->n_outputs; i++) last[g->outputs[i]] = nn;
  CHECK(p->n_values == nv && p->max_batch == max_batch);
  for (int v = 0; v < nv; v++) {
    const ir_value *val = &g->values[v];
    if (val->data) {
      if (p->offset[v] != -1 || p->bytes[v] != 0) bad++;
      continue;
    }
    if (first[v] > nn) {
      if (p->offset[v] != -1) bad++;
      continue;
    }
    /* A view spans its Concat output's bytes. */
    int sized = p->view_of && p->view_of[v] >= 0 ? p->view_of[v] : v;
    int64_t need = ir_value_elements(&g->values[sized], max_batch) * 4;
    if (p->offset[v] < 0 || p->offset[v] % KRT_PLAN_ALIGNMENT || p->bytes[v] < need ||
        p->bytes[v] % KRT_PLAN_ALIGNMENT || p->bytes[v] >= need + KRT_PLAN_ALIGNMENT ||
        p->offset[v] + p->bytes[v] > p->arena_bytes) {
      fprintf(stderr, "value '%s': offset %lld bytes %lld need %lld arena %lld\n", val->name,
              (long long)p->offset[v], (long long)p->bytes[v], (long long)need,
              (long long)p->arena_bytes);
      bad++;
    }
    int r = alias_root(g, p, v);
    if (r != v && p->offset[v] != p->offset[r]) bad++;
  }
  for (int u = 0; u < nv; u++) {
    if (p->offset[u] < 0) continue;
    for (int v = u + 1; v < nv; v++) {
      if (p->offset[v] < 0 || alias_root(g, p, u) == alias_root(g, p, v)) continue;
      int live_together = first[u] <= last[v] && first[v] <= last[u];
      int share = p->offset[u] < p->offset[v] + p->bytes[v] &&
                  p->offset[v] < p->offset[u] + p->bytes[u];
      if (live_together && share && p->bytes[u] && p->bytes[v]) {
        fprintf(stderr, "'%s' [%d,%d] and '%s' [%d,%d] share bytes\n", g->values[u].name,
                first[u], last[u], g->values[v].name, first[v], last[v]);
        bad++;
      }
    }
  }
  /* An alias group stays alive while any member is: check every member against the others'
   * readers, through the root's bytes. */
  for (int u = 0; u < nv; u++) {
    if (p->offset[u] < 0) continue;
    for (int v = 0; v < nv; v++) {
      if (p->offset[v] < 0 || alias_root(g, p, u) != alias_root(g, p, v) || u == v) continue;
      for (int w = 0; w < nv; w++) {
        if (p->offset[w] < 0 || alias_root(g, p, w) == alias_root(g, p, u)) continue;
        int live_together = first[v] <= last[w] && first[w] <= last[v];
        int share = p->offset[u] < p->offset[w] + p->bytes[w] &&
                    p->offset[w] < p->offset[u] + p->bytes[u];
        if (live_together && share && p->bytes[w]) bad++;
      }
    }
  }
  free(first);
  free(last);
  return bad;
}

/* Element positions (in floats from the arena's start) of value v at max batch: a view's rows
 * inside its Concat output, else a dense run from its offset. Returns the count written. */
static int64_t positions(const ir_graph *g, const krt_plan *p, int v, int64_t *out) {
  int64_t n = ir_value_elements(&g->values[v], p->max_batch);
  if (p->view_of[v] < 0) {
    for (int64_t e = 0; e < n; e++) out[e] = p->offset[v] / 4 + e;
    return n;
  }
  const ir_value *x = &g->values[v];
  int64_t width = x->dims[x->rank - 1], base = p->offset[p->view_of[v]] / 4;
  for (int64_t e = 0; e < n; e++)
    out[e] = base + (e / width) * p->view_pitch[v] + p->view_at[v] + e % width;
  return n;
}

/* Replays the plan: graph inputs are written first, then each node checks that every input's
 * elements still hold what its producer wrote (tag = the value's Reshape root) and writes its
 * outputs'; aliasing ops write nothing. Graph outputs are checked at the end. Returns the number
 * of clobbered reads (0 when the plan is sound). */
static int replay_plan(const ir_graph *g, const krt_plan *p) {
  int64_t cells = p->arena_bytes / 4, most = 1;
  for (int v = 0; v < g->n_values; v++) {
    int64_t n = ir_value_elements(&g->values[v], p->max_batch);
    if (n > most) most = n;
  }
  int *tag = malloc((size_t)(cells ? cells : 1) * sizeof *tag);
  int64_t *pos = malloc((size_t)most * sizeof *pos);
  int bad = 0;
  for (int64_t i = 0; i < cells; i++) tag[i] = -1;
#define WRITE(v)                             \
  do {                                       \
    int64_t n_ = positions(g, p, (v), pos);  \
    for (int64_t e_ = 0; e_ < n_; e_++) {    \
      if (pos[e_] < 0 || pos[e_] >= cells) { \
        bad++;                               \
        break;                               \
      }                                      \
      tag[pos[e_]] = (v);                    \
    }                                        \
  } while (0)
#define READ(v, when)                                                             \
  do {                                                                            \
    int r_ = reshape_root(g, (v));                                                \
    int64_t n_ = positions(g, p, r_, pos);                                        \
    for (int64_t e_ = 0; e_ < n_; e_++)                                           \
      if (pos[e_] < 0 || pos[e_] >= cells || tag[pos[e_]] != r_) {                \
        fprintf(stderr, "%s reads '%s': clobbered\n", (when), g->values[v].name); \
        bad++;                                                                    \
        break;                                                                    \
      }                                                                           \
  } while (0)
  for (int i = 0; i < g->n_inputs; i++)
    if (p->offset[g->inputs[i]] >= 0) WRITE(g->inputs[i]);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++)
      if (!g->values[n->inputs[k]].data) READ(n->inputs[k], n->name);
    int in0 = n->n_inputs > 0 ? n->inputs[0] : -1;
    int aliases = plan_op_aliases_input(n->op) && in0 >= 0 && !g->values[in0].data;
    if (!aliases)
      for (int k = 0; k < n->n_outputs; k++) WRITE(n->outputs[k]);
  }
  for (int i = 0; i < g->n_outputs; i++)
    if (!g->values[g->outputs[i]].data) READ(g->outputs[i], "the caller");
#undef WRITE
#undef READ
  free(tag);
  free(pos);
  return bad;
}

static int64_t sum_of_slots(const krt_plan *p) {
  int64_t s = 0;
  for (int v = 0; v < p->n_values; v++) s += p->bytes[v];
  return s;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_chain_reuses_memory(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 256);
  int a = relu(g, "a", x), b = relu(g, "b", a), c = relu(g, "c", b), d = relu(g, "d", c);
  CHECK_OK(ir_add_output(g, d, "d"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  CHECK(p.arena_bytes < sum_of_slots(&p));
  CHECK(p.arena_bytes == 2 * 1024); /* ping-pong between two slots */
  CHECK(p.offset[x] == p.offset[b] && p.offset[a] == p.offset[c]);
  plan_free(&p);
  ir_graph_free(g);
}

static void test_diamond_keeps_branches(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 64);
  int a = relu(g, "a", x), b = relu(g, "b", a), c = relu(g, "c", a), d = add2(g, "d", b, c);
  CHECK_OK(ir_add_output(g, d, "d"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 2, NULL, &p));
  CHECK(check_plan(g, &p, 2) == 0);
  CHECK(p.offset[b] != p.offset[c]);  /* both alive when d runs */
  CHECK(p.offset[a] != p.offset[b] && p.offset[a] != p.offset[c]); /* c reads a after b exists */
  CHECK(p.offset[d] != p.offset[b] && p.offset[d] != p.offset[c]);
  CHECK(p.arena_bytes == 3 * 512);
  plan_free(&p);
  ir_graph_free(g);
}

static void test_reshape_aliases(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 32);
  int a = relu(g, "a", x);
  int64_t shape[2] = {4, 8};
  int r = reshape(g, "r", a, 2, shape);
  int i = identity(g, "i", r);
  int b = relu(g, "b", x);   /* x still alive: b can't take a's bytes while r, i are used */
  int c = relu(g, "c", i);   /* last read of the alias chain */
  int br = reshape(g, "br", b, 2, shape);
  int d = add2(g, "d", br, c);
  int e = relu(g, "e", d);
  CHECK_OK(ir_add_output(g, e, "e"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  CHECK(p.offset[r] == p.offset[a] && p.offset[i] == p.offset[a]);
  CHECK(p.bytes[r] == p.bytes[a]);
  CHECK(p.offset[b] != p.offset[a]);
  CHECK(p.offset[c] != p.offset[a]);
  plan_free(&p);

  /* An alias that is a graph output keeps its root alive to the end. */
  CHECK_OK(ir_add_output(g, i, "i"));
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  CHECK(p.offset[e] != p.offset[a] && p.offset[d] != p.offset[a]);
  plan_free(&p);
  ir_graph_free(g);
}

static void test_reshape_of_constant_gets_bytes(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 16);
  int64_t cd[1] = {16};
  float w[16] = {0};
  int c = -1;
  CHECK_OK(ir_add_const_copy(g, "c", 1, cd, w, &c));
  int64_t shape[2] = {4, 4};
  int r = reshape(g, "r", x, 2, shape);
  int y = relu(g, "y", r);
  int i = identity(g, "i", c); /* an unbatched copy of a constant: needs its own bytes */
  CHECK_OK(ir_add_output(g, y, "y"));
  CHECK_OK(ir_add_output(g, i, "i"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 3, NULL, &p));
  CHECK(check_plan(g, &p, 3) == 0);
  CHECK(p.offset[c] == -1 && p.bytes[c] == 0);
  CHECK(p.offset[i] >= 0 && p.bytes[i] == 64);
  CHECK(p.offset[r] == p.offset[x]);
  plan_free(&p);
  ir_graph_free(g);
}

static void test_outputs_alive_at_end(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 128);
  int early = relu(g, "early", x);
  int v = relu(g, "t0", early);
  int chain[6];
  for (int k = 0; k < 6; k++) {
    char name[16];
    snprintf(name, sizeof name, "t%d", k + 1);
    v = chain[k] = relu(g, name, v);
  }
  CHECK_OK(ir_add_output(g, early, "early"));
  CHECK_OK(ir_add_output(g, v, "last"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  for (int k = 0; k < 6; k++) CHECK(p.offset[chain[k]] != p.offset[early]);
  plan_free(&p);
  ir_graph_free(g);
}

static void test_unused_values(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 8);
  int unused = add_input(g, "unused", 8);
  int dead = relu(g, "dead", x);  /* written but never read: still needs bytes to be written */
  int y = relu(g, "y", x);
  CHECK_OK(ir_add_output(g, y, "y"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  CHECK(p.offset[dead] >= 0 && p.bytes[dead] == 64);
  CHECK(p.offset[unused] >= 0); /* the caller still binds and copies it */
  plan_free(&p);
  ir_graph_free(g);
}

static void test_batch_scaling(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 48);
  int64_t ud[1] = {10};
  int u = -1;
  CHECK_OK(ir_add_input(g, "u", KRT_INT32, 1, ud, 0, IR_LAYOUT_PLAIN, &u));
  int a = relu(g, "a", x), b = relu(g, "b", a);
  int c = concat2(g, "c", a, b);
  int odd = add_input(g, "odd", 3);
  int o = relu(g, "o", odd);
  CHECK_OK(ir_add_output(g, c, "c"));
  CHECK_OK(ir_add_output(g, o, "o"));
  CHECK_OK(ir_add_output(g, u, "u"));
  krt_plan p1, p8;
  CHECK_OK(plan_memory(g, 1, NULL, &p1));
  CHECK_OK(plan_memory(g, 8, NULL, &p8));
  CHECK(check_plan(g, &p1, 1) == 0);
  CHECK(check_plan(g, &p8, 8) == 0);
  CHECK(p1.bytes[x] == 192 && p8.bytes[x] == 8 * 192);
  CHECK(p1.bytes[c] == 384 && p8.bytes[c] == 8 * 384);
  CHECK(p1.bytes[u] == 64 && p8.bytes[u] == 64);   /* unbatched, int32 stored as float32 */
  CHECK(p1.bytes[o] == 64 && p8.bytes[o] == 128);  /* 12 and 96 bytes, rounded up */
  CHECK(p8.arena_bytes > p1.arena_bytes);
  plan_free(&p1);
  plan_free(&p8);
  CHECK_ERR(plan_memory(g, 0, NULL, &p1), KRT_ERR_INVALID_ARGUMENT, "max batch");
  ir_graph_free(g);
}

static void test_errors(void) {
  ir_graph *g = ir_graph_create();
  int64_t dims[3] = {-1, -1, 4};
  int x = -1;
  CHECK_OK(ir_add_input(g, "ragged", KRT_FLOAT32, 3, dims, 1, IR_LAYOUT_PLAIN, &x));
  CHECK_OK(ir_add_output(g, x, "ragged"));
  krt_plan p;
  CHECK_ERR(plan_memory(g, 1, NULL, &p), KRT_ERR_SHAPE, "'ragged'");
  ir_graph_free(g);

  g = ir_graph_create();
  int64_t huge[3] = {-1, (int64_t)1 << 41, (int64_t)1 << 20};
  CHECK_OK(ir_add_input(g, "huge", KRT_FLOAT32, 3, huge, 1, IR_LAYOUT_PLAIN, &x));
  CHECK_OK(ir_add_output(g, x, "huge"));
  CHECK_ERR(plan_memory(g, 1, NULL, &p), KRT_ERR_SHAPE, "'huge'");
  CHECK_ERR(plan_memory(g, INT64_MAX, NULL, &p), KRT_ERR_SHAPE, "'huge'");
  ir_graph_free(g);
}

/* ---- Concat inputs written in place ---------------------------------------------------------- */

/* A backend that writes Dense outputs at any 8-aligned offset and pitch (as CUDA's does). */
static int dense_writes_rows(const ir_graph *g, const ir_node *n, int64_t at, int64_t pitch) {
  (void)g;
  return n->op == IR_OP_DENSE && at % 8 == 0 && pitch % 8 == 0;
}

/* Any node but a Concat, at any offset: the random DAGs' backend. */
static int all_write_rows(const ir_graph *g, const ir_node *n, int64_t at, int64_t pitch) {
  (void)g;
  (void)at;
  (void)pitch;
  return n->op != IR_OP_CONCAT;
}

static int concat_n(ir_graph *g, const char *name, const int *inputs, int n, int axis) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.axis = axis;
  return emit(g, IR_OP_CONCAT, name, inputs, n, &a);
}

static void test_concat_in_place(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 16);
  int a = dense(g, "a", x, 16, 8); /* at 0: in place */
  int b = dense(g, "b", x, 16, 4); /* at 8: in place (a 4-wide row at an aligned offset) */
  int c = dense(g, "c", x, 16, 4); /* at 12: not 8-aligned, copied */
  int d = relu(g, "d", x);         /* at 16: not a Dense, copied */
  int e = dense(g, "e", x, 16, 8); /* at 32: also read by f, copied */
  int f = relu(g, "f", e);
  int parts[5] = {a, b, c, d, e};
  int y = concat_n(g, "y", parts, 5, 1); /* [N, 40] */
  int out = dense(g, "out", y, 40, 3);
  CHECK_OK(ir_add_output(g, out, "out"));
  CHECK_OK(ir_add_output(g, f, "f"));
  plan_options opts = {dense_writes_rows};
  krt_plan p;
  CHECK_OK(plan_memory(g, 4, &opts, &p));
  CHECK(p.n_views == 2);
  CHECK(p.view_of[a] == y && p.view_at[a] == 0 && p.view_pitch[a] == 40);
  CHECK(p.view_of[b] == y && p.view_at[b] == 8 && p.view_pitch[b] == 40);
  CHECK(p.view_of[c] < 0 && p.view_of[d] < 0 && p.view_of[e] < 0 && p.view_of[y] < 0);
  CHECK(p.offset[a] == p.offset[y] && p.offset[b] == p.offset[y]);
  CHECK(check_plan(g, &p, 4) == 0);
  CHECK(replay_plan(g, &p) == 0);
  /* Without the option nothing is a view, and the plan is as before. */
  krt_plan plain;
  CHECK_OK(plan_memory(g, 4, NULL, &plain));
  CHECK(plain.n_views == 0 && plain.view_of[a] < 0);
  CHECK(check_plan(g, &plain, 4) == 0 && replay_plan(g, &plain) == 0);
  plan_free(&plain);
  plan_free(&p);
  ir_graph_free(g);
}

/* Inputs that must not be views: a graph input, a graph output, one listed twice, a Reshape's
 * output, a Concat's output (nested), a Concat along another axis. */
static void test_concat_views_refused(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 8);
  int a = dense(g, "a", x, 8, 8);
  int twice[2] = {a, a};
  int y1 = concat_n(g, "twice", twice, 2, 1);
  int b = dense(g, "b", x, 8, 8);
  int64_t shape[1] = {8};
  int r = reshape(g, "r", dense(g, "rd", x, 8, 8), 1, shape);
  int o = dense(g, "o", x, 8, 8);
  int mixed[4] = {x, b, r, o};
  int y2 = concat_n(g, "mixed", mixed, 4, 1); /* x: input, r: reshape, o: output; b in place */
  int nested[2] = {y2, dense(g, "n", x, 8, 8)};
  int y3 = concat_n(g, "nested", nested, 2, 1);
  CHECK_OK(ir_add_output(g, y1, "y1"));
  CHECK_OK(ir_add_output(g, y3, "y3"));
  CHECK_OK(ir_add_output(g, o, "o"));
  plan_options opts = {all_write_rows};
  krt_plan p;
  CHECK_OK(plan_memory(g, 2, &opts, &p));
  CHECK(p.view_of[a] < 0 && p.view_of[x] < 0 && p.view_of[r] < 0 && p.view_of[o] < 0);
  CHECK(p.view_of[b] == y2 && p.view_at[b] == 8);
  CHECK(p.view_of[y2] < 0); /* a Concat output is never written into another in place */
  CHECK(p.view_of[nested[1]] == y3 && p.view_at[nested[1]] == 32 && p.view_pitch[nested[1]] == 40);
  CHECK(check_plan(g, &p, 2) == 0 && replay_plan(g, &p) == 0);
  plan_free(&p);
  ir_graph_free(g);

  /* Along axis 1 of a rank-3 value (not the last axis): no views. */
  g = ir_graph_create();
  int64_t dims[3] = {-1, 2, 8};
  int in = -1;
  CHECK_OK(ir_add_input(g, "x3", KRT_FLOAT32, 3, dims, 1, IR_LAYOUT_PLAIN, &in));
  int u = relu(g, "u", in), v = relu(g, "v", in);
  int both[2] = {u, v};
  CHECK_OK(ir_add_output(g, concat_n(g, "axis1", both, 2, 1), "y"));
  CHECK_OK(plan_memory(g, 2, &opts, &p));
  CHECK(p.n_views == 0);
  plan_free(&p);
  ir_graph_free(g);
}

/* ---- random DAGs ---------------------------------------------------------------------------- */

static uint32_t rng_state;
static uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (rng_state >> 8) % n;
}

static int64_t features(const ir_graph *g, int v) { return g->values[v].dims[1]; }

/* An earlier activation value, usually a recent one (as in real networks). */
static int pick(const int *pool, int n) {
  if (n > 8 && rnd(4) != 0) return pool[n - 1 - (int)rnd(8)];
  return pool[rnd((uint32_t)n)];
}

static ir_graph *random_dag(int n_nodes, uint32_t seed) {
  rng_state = seed;
  ir_graph *g = ir_graph_create();
  int *pool = malloc((size_t)(n_nodes + 2) * sizeof *pool);
  int n = 0;
  pool[n++] = add_input(g, "in0", 16 + rnd(64));
  pool[n++] = add_input(g, "in1", 16 + rnd(64));
  for (int i = 0; i < n_nodes; i++) {
    char name[32];
    snprintf(name, sizeof name, "n%d", i);
    int x = pick(pool, n), y = pick(pool, n), v = -1;
    switch (rnd(6)) {
      case 0: v = relu(g, name, x); break;
      case 1: v = dense(g, name, x, features(g, x), 1 + rnd(128)); break;
      case 2:
        for (int t = 0; t < 8 && features(g, y) != features(g, x); t++) y = pick(pool, n);
        v = features(g, y) == features(g, x) ? add2(g, name, x, y) : relu(g, name, x);
        break;
      case 3:
        v = features(g, x) + features(g, y) <= 512 ? concat2(g, name, x, y)
                                                    : dense(g, name, x, features(g, x), 32);
        break;
      case 4: {
        int64_t shape[1] = {features(g, x)};
        v = reshape(g, name, x, 1, shape);
        break;
      }
      default: v = identity(g, name, x); break;
    }
    pool[n++] = v;
  }
  CHECK_OK(ir_add_output(g, pool[n - 1], "last"));
  for (int k = 0; k < 3; k++) CHECK_OK(ir_add_output(g, pool[2 + rnd((uint32_t)n - 2)], "extra"));
  free(pool);
  return g;
}

static void test_random_dags(void) {
  for (uint32_t seed = 1; seed <= 12; seed++) {
    ir_graph *g = random_dag(200, seed);
    for (int64_t batch = 1; batch <= 5; batch += 4) {
      for (int views = 0; views < 2; views++) {
        plan_options opts = {all_write_rows};
        krt_plan p;
        CHECK_OK(plan_memory(g, batch, views ? &opts : NULL, &p));
        int bad = check_plan(g, &p, batch) + replay_plan(g, &p);
        CHECK(bad == 0);
        if (bad)
          fprintf(stderr, "seed %u batch %lld views %d: %d violations\n", seed, (long long)batch,
                  views, bad);
        CHECK(p.arena_bytes < sum_of_slots(&p));
        CHECK(views ? p.n_views > 0 : p.n_views == 0);
        plan_free(&p);
      }
    }
    ir_graph_free(g);
  }
}

/* x[N, 512] -> Split -> a[N, 256], b[N, 256]: a is read at once, b only at the end. Each output
 * has its own interval: a's bytes are free for later values while b still holds its own, and
 * neither shares bytes with x or with the other. */
static void test_split_outputs_live_apart(void) {
  ir_graph *g = ir_graph_create();
  int x = add_input(g, "x", 512);
  ir_attrs s;
  memset(&s, 0, sizeof s);
  s.act = ir_act_none();
  s.axis = 1, s.sizes[0] = 256, s.sizes[1] = 256;
  int piece[2] = {-1, -1};
  CHECK_OK(ir_emit_outputs(g, IR_OP_SPLIT, "split", -1, &x, 1, &s, 2, piece));
  int a = piece[0], b = piece[1];
  int a1 = relu(g, "a1", a), a2 = relu(g, "a2", a1), a3 = relu(g, "a3", a2);
  int y = add2(g, "y", a3, b);
  CHECK_OK(ir_add_output(g, y, "y"));
  krt_plan p;
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  CHECK(replay_plan(g, &p) == 0);
  /* the two pieces and the input: three distinct slots while the split runs */
  CHECK(p.offset[a] != p.offset[b] && p.offset[a] != p.offset[x] && p.offset[b] != p.offset[x]);
  /* b is never reused before y reads it */
  CHECK(p.offset[a1] != p.offset[b] && p.offset[a2] != p.offset[b] && p.offset[a3] != p.offset[b]);
  /* peak at the split: x (2 KiB), a and b (1 KiB each). The chain a1, a2, a3, y after it fits
   * there only because a's and x's bytes are reused while b lives on. */
  CHECK(p.arena_bytes == 4 * 1024);
  plan_free(&p);

  /* an output nothing reads still gets bytes for the kernel to write, live only at its node */
  ir_graph_free(g);
  g = ir_graph_create();
  x = add_input(g, "x", 512);
  CHECK_OK(ir_emit_outputs(g, IR_OP_SPLIT, "split", -1, &x, 1, &s, 2, piece));
  a1 = relu(g, "a1", piece[0]);
  a2 = relu(g, "a2", a1);
  CHECK_OK(ir_add_output(g, a2, "a2"));
  CHECK_OK(plan_memory(g, 1, NULL, &p));
  CHECK(check_plan(g, &p, 1) == 0);
  CHECK(replay_plan(g, &p) == 0);
  CHECK(p.offset[piece[1]] >= 0 && p.bytes[piece[1]] == 1024);
  CHECK(p.offset[piece[1]] != p.offset[piece[0]] && p.offset[piece[1]] != p.offset[x]);
  plan_free(&p);
  ir_graph_free(g);
}

int main(void) {
  test_chain_reuses_memory();
  test_split_outputs_live_apart();
  test_diamond_keeps_branches();
  test_reshape_aliases();
  test_reshape_of_constant_gets_bytes();
  test_outputs_alive_at_end();
  test_unused_values();
  test_batch_scaling();
  test_errors();
  test_concat_in_place();
  test_concat_views_refused();
  test_random_dags();
  return test_summary("test_plan");
}
