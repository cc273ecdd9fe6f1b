/* Memory planner: liveness over node order, then greedy-by-size best-fit placement.
 *
 * Time runs over node indices: graph inputs are written (by the caller) at time -1, node i writes
 * its outputs at time i and reads its inputs at time i, graph outputs are read at time n_nodes.
 * Liveness is per value: each output of a node with several gets its own slot and its own
 * interval (an output nothing reads ends where it is written), so one output of a Split can be
 * freed long before another.
 * A value occupies its slot over the closed interval [first write, last read]; two slots may share
 * bytes only when their intervals are disjoint. Because a node's output interval starts at the
 * same time as its inputs' end, an output never shares bytes with its own inputs (no kernel runs
 * in place), except for the aliasing ops below, which are no-ops on memory. Every graph input
 * gets bytes, even one no node reads, since the caller binds and copies it anyway; a node output
 * nothing reads still gets bytes for the node to write.
 *
 * Aliases: Reshape and Identity outputs (single-output ops) share their first input's slot.
 * Values are grouped by their root (the first value of an alias chain that owns bytes); the
 * group's interval spans every member's reads, and a group containing a graph output lives to
 * the end.
 *
 * Views (Concat inputs written in place, plan.h) join their Concat output's group too: the group
 * starts at the earliest write of any member, which for a view is before the Concat runs.
 */
#include "plan/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

int plan_op_aliases_input(ir_op op) { return op == IR_OP_RESHAPE || op == IR_OP_IDENTITY; }

void plan_free(krt_plan *plan) {
  if (!plan) return;
  free(plan->offset);
  free(plan->bytes);
  free(plan->view_of);
  free(plan->view_at);
  free(plan->view_pitch);
  memset(plan, 0, sizeof *plan);
}

/* One group of values sharing bytes: the interval it is live over and its size at max batch. */
typedef struct plan_slot {
  int root;       /* value id owning the bytes */
  int start, end; /* closed interval of times, -1 .. n_nodes */
  int64_t bytes;
  int64_t offset; /* -1 until placed */
} plan_slot;

static int is_constant(const ir_value *v) { return v->data != NULL; }

/* a * b into *out, 0 when it would pass INT64_MAX (both non-negative). */
static int mul_checked(int64_t a, int64_t b, int64_t *out) {
  if (a != 0 && b > INT64_MAX / a) return 0;
  *out = a * b;
  return 1;
}

static int add_checked(int64_t a, int64_t b, int64_t *out) {
  if (b > INT64_MAX - a) return 0;
  *out = a + b;
  return 1;
}

static int align_up_checked(int64_t n, int64_t *out) {
  int64_t padded;
  if (!add_checked(n, KRT_PLAN_ALIGNMENT - 1, &padded)) return 0;
  *out = padded / KRT_PLAN_ALIGNMENT * KRT_PLAN_ALIGNMENT;
  return 1;
}

/* Bytes of value v at max_batch as float32, rounded up to the alignment. */
static krt_status *value_bytes(const ir_value *v, int64_t max_batch, int64_t *out) {
  int64_t n = v->batched ? max_batch : 1;
  if (v->rank < 0 || v->rank > KRT_MAX_RANK)
    return krt_error(KRT_ERR_INTERNAL, "planning value '%s': rank %d", v->name, v->rank);
  for (int i = v->batched ? 1 : 0; i < v->rank; i++) {
    if (v->dims[i] < 0)
      return krt_error(KRT_ERR_SHAPE,
                       "value '%s': dimension %d is unknown; give the input's full shape "
                       "(set_input_shape) so every dimension but the batch is known",
                       v->name, i);
    if (!mul_checked(n, v->dims[i], &n)) goto overflow;
  }
  if (!mul_checked(n, (int64_t)sizeof(float), &n) || !align_up_checked(n, out)) goto overflow;
  return NULL;
overflow:
  return krt_error(KRT_ERR_SHAPE, "value '%s' is too large to plan at max batch %lld", v->name,
                   (long long)max_batch);
}

/* Marks the Concat inputs written in place (plan.h says which qualify). uses[v]: how many node
 * inputs name v, counted here; is_io[v]: a graph input or output. */
static void choose_views(const ir_graph *g, const plan_options *opts, krt_plan *plan, int *uses,
                         unsigned char *is_io) {
  for (int v = 0; v < g->n_values; v++) {
    plan->view_of[v] = -1;
    uses[v] = 0;
    is_io[v] = 0;
  }
  if (!opts || !opts->writes_rows) return;
  for (int i = 0; i < g->n_inputs; i++) is_io[g->inputs[i]] = 1;
  for (int i = 0; i < g->n_outputs; i++) is_io[g->outputs[i]] = 1;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) uses[g->nodes[i].inputs[k]]++;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *c = &g->nodes[i];
    if (c->op != IR_OP_CONCAT) continue;
    const ir_value *y = &g->values[c->outputs[0]];
    if (c->op != IR_OP_CONCAT || y->rank < 1 || c->attrs.axis != y->rank - 1 || is_constant(y))
      continue;
    int64_t pitch = y->dims[y->rank - 1], at = 0;
    for (int k = 0; k < c->n_inputs; k++) {
      int x = c->inputs[k];
      const ir_value *xv = &g->values[x];
      int64_t width = xv->rank == y->rank ? xv->dims[xv->rank - 1] : -1;
      if (width < 0) break; /* malformed: leave the rest to the Concat (shape checks report it) */
      int p = xv->producer;
      /* writes_rows speaks of a node's one output: producers of several write dense outputs */
      if (width > 0 && pitch > 0 && !is_constant(xv) && !is_io[x] && uses[x] == 1 && p >= 0 &&
          p < i && g->nodes[p].n_outputs == 1 && xv->batched == y->batched &&
          !plan_op_aliases_input(g->nodes[p].op) &&
          g->nodes[p].op != IR_OP_CONCAT && plan->view_of[x] < 0 &&
          opts->writes_rows(g, &g->nodes[p], at, pitch)) {
        plan->view_of[x] = c->outputs[0];
        plan->view_at[x] = at;
        plan->view_pitch[x] = pitch;
        plan->n_views++;
      }
      at += width;
    }
  }
}

/* root[v] and the live interval [start, end] of each root; start = n_nodes + 1 marks a value no
 * node reads or writes. view_of: plan->view_of (views join their Concat output's group). */
static krt_status *compute_liveness(const ir_graph *g, const int *view_of, int *root, int *start,
                                    int *end) {
  const int never = g->n_nodes + 1;
  for (int v = 0; v < g->n_values; v++) {
    root[v] = v;
    start[v] = never;
    end[v] = -1;
  }
  for (int i = 0; i < g->n_inputs; i++) {
    int v = g->inputs[i];
    if (v < 0 || v >= g->n_values)
      return krt_error(KRT_ERR_INTERNAL, "planning: graph input %d refers to no value", i);
    start[v] = -1;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->n_outputs < 1 || !n->outputs)
      return krt_error(KRT_ERR_INTERNAL, "planning: node '%s' writes no value", n->name);
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] < 0 || n->outputs[k] >= g->n_values)
        return krt_error(KRT_ERR_INTERNAL, "planning: node '%s' output %d refers to no value",
                         n->name, k);
    for (int k = 0; k < n->n_inputs; k++) {
      int in = n->inputs[k];
      if (in < 0 || in >= g->n_values)
        return krt_error(KRT_ERR_INTERNAL, "planning: node '%s' input %d refers to no value",
                         n->name, k);
      if (is_constant(&g->values[in])) continue;
      int r = root[in];
      if (start[r] > i)
        return krt_error(KRT_ERR_INTERNAL,
                         "planning: node '%s' reads '%s' before anything writes it", n->name,
                         g->values[in].name);
      if (end[r] < i) end[r] = i;
    }
    int in0 = n->n_inputs > 0 ? n->inputs[0] : -1;
    if (n->n_outputs == 1 && plan_op_aliases_input(n->op) && in0 >= 0 &&
        !is_constant(&g->values[in0])) {
      int out = n->outputs[0];
      root[out] = root[in0];
      if (end[root[out]] < i) end[root[out]] = i;
      continue;
    }
    for (int k = 0; k < n->n_outputs; k++) {
      /* A view is written now, into the bytes of the Concat output (its own root: a Concat
       * never aliases), which is written later. */
      int out = n->outputs[k];
      int r = view_of[out] >= 0 ? view_of[out] : out;
      root[out] = r;
      if (start[r] > i) start[r] = i;
      if (end[r] < i) end[r] = i;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int v = g->outputs[i];
    if (v < 0 || v >= g->n_values)
      return krt_error(KRT_ERR_INTERNAL, "planning: graph output %d refers to no value", i);
    if (is_constant(&g->values[v])) continue;
    int r = root[v];
    if (start[r] == never)
      return krt_error(KRT_ERR_INTERNAL, "planning: graph output '%s' is never written",
                       g->values[v].name);
    end[r] = g->n_nodes;
  }
  return NULL;
}

/* Largest first; ties by earlier start, then id, so plans are reproducible. */
static int by_size_desc(const void *pa, const void *pb) {
  const plan_slot *a = pa, *b = pb;
  if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return (a->root > b->root) - (a->root < b->root);
}

static int by_offset(const void *pa, const void *pb) {
  const plan_slot *a = *(plan_slot *const *)pa, *b = *(plan_slot *const *)pb;
  return (a->offset > b->offset) - (a->offset < b->offset);
}

/* Places slots[i] (slots[0..i) are placed, larger or equal) in the smallest gap between the
 * placed slots whose lifetimes overlap its own; past the last of them when no gap fits. */
static void place_slot(plan_slot *slots, int i, plan_slot **scratch) {
  plan_slot *s = &slots[i];
  int n = 0;
  for (int j = 0; j < i; j++)
    if (slots[j].start <= s->end && s->start <= slots[j].end) scratch[n++] = &slots[j];
  qsort(scratch, (size_t)n, sizeof *scratch, by_offset);
  int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
  for (int k = 0; k < n; k++) {
    int64_t gap = scratch[k]->offset - cursor;
    if (gap >= s->bytes && gap < best_gap) {
      best = cursor;
      best_gap = gap;
    }
    int64_t top = scratch[k]->offset + scratch[k]->bytes;
    if (top > cursor) cursor = top;
  }
  s->offset = best >= 0 ? best : cursor;
}

krt_status *plan_memory(const ir_graph *g, int64_t max_batch, const plan_options *opts,
                        krt_plan *out) {
  if (!g || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "plan_memory: NULL argument");
  if (max_batch < 1)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "max batch %lld: must be at least 1",
                     (long long)max_batch);
  size_t nv = (size_t)(g->n_values > 0 ? g->n_values : 1);
  krt_plan plan;
  memset(&plan, 0, sizeof plan);
  plan.max_batch = max_batch;
  plan.n_values = g->n_values;
  plan.offset = malloc(nv * sizeof *plan.offset);
  plan.bytes = calloc(nv, sizeof *plan.bytes);
  plan.view_of = malloc(nv * sizeof *plan.view_of);
  plan.view_at = calloc(nv, sizeof *plan.view_at);
  plan.view_pitch = calloc(nv, sizeof *plan.view_pitch);
  unsigned char *is_io = malloc(nv);
  int *uses = malloc(nv * sizeof *uses);
  int *root = malloc(nv * sizeof *root), *start = malloc(nv * sizeof *start);
  int *end = malloc(nv * sizeof *end);
  plan_slot *slots = malloc(nv * sizeof *slots);
  plan_slot **scratch = malloc(nv * sizeof *scratch);
  int *slot_of_root = malloc(nv * sizeof *slot_of_root);
  krt_status *s = NULL;
  if (!plan.offset || !plan.bytes || !plan.view_of || !plan.view_at || !plan.view_pitch || !is_io ||
      !uses || !root || !start || !end || !slots || !scratch || !slot_of_root) {
    s = krt_error_oom("memory plan");
    goto done;
  }
  choose_views(g, opts, &plan, uses, is_io);
  s = compute_liveness(g, plan.view_of, root, start, end);
  if (s) goto done;

  /* One slot per root that something writes; its size covers every alias in its group. */
  int n_slots = 0;
  for (int v = 0; v < g->n_values; v++) {
    slot_of_root[v] = -1;
    if (root[v] != v || start[v] > g->n_nodes) continue;
    slots[n_slots] = (plan_slot){v, start[v], end[v], 0, -1};
    slot_of_root[v] = n_slots++;
  }
  for (int v = 0; v < g->n_values; v++) {
    int slot = slot_of_root[root[v]];
    if (slot < 0 || is_constant(&g->values[v]) || plan.view_of[v] >= 0) continue;
    int64_t bytes;
    s = value_bytes(&g->values[v], max_batch, &bytes);
    if (s) goto done;
    if (bytes > slots[slot].bytes) slots[slot].bytes = bytes;
  }

  qsort(slots, (size_t)n_slots, sizeof *slots, by_size_desc);
  for (int i = 0; i < n_slots; i++) {
    place_slot(slots, i, scratch);
    int64_t top;
    if (!add_checked(slots[i].offset, slots[i].bytes, &top)) {
      s = krt_error(KRT_ERR_SHAPE, "activation memory at max batch %lld passes 2^63 bytes",
                    (long long)max_batch);
      goto done;
    }
    if (top > plan.arena_bytes) plan.arena_bytes = top;
    slot_of_root[slots[i].root] = i; /* slots moved when sorted */
  }
  for (int v = 0; v < g->n_values; v++) {
    int slot = slot_of_root[root[v]];
    if (slot < 0 || is_constant(&g->values[v])) {
      plan.offset[v] = -1;
      plan.bytes[v] = 0;
    } else {
      plan.offset[v] = slots[slot].offset;
      /* a view spans its Concat output's rows */
      int sized = plan.view_of[v] >= 0 ? plan.view_of[v] : v;
      s = value_bytes(&g->values[sized], max_batch, &plan.bytes[v]);
      if (s) goto done;
    }
  }
  *out = plan;
  memset(&plan, 0, sizeof plan);
done:
  plan_free(&plan);
  free(is_io);
  free(uses);
  free(root);
  free(start);
  free(end);
  free(slots);
  free(scratch);
  free(slot_of_root);
  return s;
}
