/* The CPU reference backend: runs a planned graph node by node with the kernels of
 * cpu_kernels.h. Each context owns one 64-byte aligned arena laid out by the krt_plan; constants
 * are read in place from the graph.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_util.h"
#include "backend/debug_hooks.h"

cpu_kernel_fn cpu_kernel_for(ir_op op) {
  switch (op) {
    case IR_OP_DENSE: return cpu_kernel_dense;
    case IR_OP_CONV: return cpu_kernel_conv;
    case IR_OP_CONV_TRANSPOSE: return cpu_kernel_conv_transpose;
    case IR_OP_POOL: return cpu_kernel_pool;
    case IR_OP_REDUCE: return cpu_kernel_reduce;
    case IR_OP_BATCHNORM: return cpu_kernel_batchnorm;
    case IR_OP_LAYERNORM: return cpu_kernel_layernorm;
    case IR_OP_ACTIVATION: return cpu_kernel_activation;
    case IR_OP_SOFTMAX: return cpu_kernel_softmax;
    case IR_OP_LOG_SOFTMAX: return cpu_kernel_log_softmax;
    case IR_OP_PRELU: return cpu_kernel_prelu;
    case IR_OP_BINARY: return cpu_kernel_binary;
    case IR_OP_CONCAT: return cpu_kernel_concat;
    case IR_OP_RESHAPE: return cpu_kernel_reshape;
    case IR_OP_TRANSPOSE: return cpu_kernel_transpose;
    case IR_OP_PAD: return cpu_kernel_pad;
    case IR_OP_SLICE: return cpu_kernel_slice;
    case IR_OP_SPLIT: return cpu_kernel_split;
    case IR_OP_RESIZE: return cpu_kernel_resize;
    case IR_OP_GATHER: return cpu_kernel_gather;
    case IR_OP_IDENTITY: return cpu_kernel_identity;
    case IR_OP_MATMUL: return cpu_kernel_matmul;
    case IR_OP_RECURRENT: return cpu_kernel_recurrent;
    default: return NULL;
  }
}

/* ---- check_node: what the kernels can do, beyond what shape inference already checked ---- */

static krt_status *unsupported(const ir_node *n, const char *what, int value) {
  return cpu_node_error(n, KRT_ERR_UNSUPPORTED, "the CPU backend does not support %s %d", what,
                        value);
}

static krt_status *check_window_attrs(const ir_node *n, int use_dilation) {
  const ir_attrs *a = &n->attrs;
  if (a->spatial < 1 || a->spatial > IR_MAX_SPATIAL)
    return unsupported(n, "spatial axes:", a->spatial);
  for (int i = 0; i < a->spatial; i++) {
    if (a->kernel[i] < 1) return unsupported(n, "kernel size", a->kernel[i]);
    if (a->stride[i] < 1) return unsupported(n, "stride", a->stride[i]);
    if (use_dilation && a->dilation[i] < 0) return unsupported(n, "dilation", a->dilation[i]);
  }
  return NULL;
}

static int act_kind_known(ir_act_kind kind) {
  return (int)kind >= IR_ACT_NONE && (int)kind <= IR_ACT_LAST;
}

static krt_status *cpu_check_node(const ir_graph *g, const ir_node *n) {
  (void)g;
  if (!cpu_kernel_for(n->op))
    return cpu_node_error(n, KRT_ERR_UNSUPPORTED, "the CPU backend has no kernel for op %d (%s)",
                          (int)n->op, ir_op_name(n->op));
  const ir_attrs *a = &n->attrs;
  switch (n->op) {
    case IR_OP_DENSE:
    case IR_OP_MATMUL:
    case IR_OP_ACTIVATION: break;
    case IR_OP_CONV:
      if (a->groups < 0) return unsupported(n, "groups", a->groups);
      KRT_TRY(check_window_attrs(n, 1));
      break;
    case IR_OP_CONV_TRANSPOSE:
      if (a->groups > 1)
        return unsupported(n, "a grouped transposed convolution, groups", a->groups);
      KRT_TRY(check_window_attrs(n, 1));
      break;
    case IR_OP_POOL:
      if (a->pool != IR_POOL_MAX && a->pool != IR_POOL_AVG)
        return unsupported(n, "pool kind", (int)a->pool);
      KRT_TRY(check_window_attrs(n, 0));
      break;
    case IR_OP_REDUCE:
      if (a->reduce != IR_REDUCE_MEAN && a->reduce != IR_REDUCE_MAX && a->reduce != IR_REDUCE_SUM)
        return unsupported(n, "reduce kind", (int)a->reduce);
      break;
    case IR_OP_BINARY:
      if ((unsigned)a->binary > IR_BINARY_LAST) return unsupported(n, "binary kind", (int)a->binary);
      break;
    case IR_OP_RESIZE:
      if (a->resize != IR_RESIZE_NEAREST && a->resize != IR_RESIZE_BILINEAR)
        return unsupported(n, "resize kind", (int)a->resize);
      if (a->spatial < 1 || a->spatial > IR_MAX_SPATIAL)
        return unsupported(n, "spatial axes:", a->spatial);
      for (int i = 0; i < a->spatial; i++)
        if (a->scale[i] < 1) return unsupported(n, "scale", a->scale[i]);
      break;
    case IR_OP_RECURRENT:
      if ((unsigned)a->rnn_cell > IR_RNN_CELL_LAST) return unsupported(n, "cell kind", (int)a->rnn_cell);
      if (!act_kind_known(a->rnn_act.kind)) return unsupported(n, "activation kind", (int)a->rnn_act.kind);
      if (!act_kind_known(a->rnn_gate_act.kind))
        return unsupported(n, "recurrent activation kind", (int)a->rnn_gate_act.kind);
      break;
    default: break;
  }
  /* Ops with a fused activation, and Activation itself. */
  if ((n->op == IR_OP_DENSE || n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE ||
       n->op == IR_OP_BATCHNORM || n->op == IR_OP_BINARY || n->op == IR_OP_ACTIVATION) &&
      !act_kind_known(a->act.kind))
    return unsupported(n, "activation kind", (int)a->act.kind);
  return NULL;
}

/* ---- engine and context state ---- */

typedef struct cpu_engine {
  const ir_graph *g;
  const krt_plan *plan;
  int max_inputs;  /* most inputs of any node: size of the per-run view array */
  int max_outputs; /* most outputs of any node: size of the per-run output view array */
  krt_dtype *value_dtype; /* per value: KRT_FLOAT32, or KRT_INT32 for an exact integer input */
} cpu_engine;

typedef struct cpu_context {
  const cpu_engine *engine;
  unsigned char *arena; /* plan->arena_bytes, KRT_PLAN_ALIGNMENT-aligned */
  cpu_tensor *views;    /* max_inputs input views, reused for every node */
  cpu_tensor *outputs;  /* max_outputs output views, reused for every node */
  int broken_node;      /* debug_hooks.h: the node whose output is spoilt after it runs, or -1 */
} cpu_context;

/* An integer graph input is kept as int32, exact over its whole range, when every node that
 * reads it reads it as Gather indices (the only kernel with an integer operand) and it is not
 * itself a graph output (outputs are read back as float32). Any other reader gets it as float32,
 * converted by the API, which refuses integers float32 would round. */
static krt_dtype exact_input_dtype(const ir_graph *g, int value) {
  const ir_value *v = &g->values[value];
  if (v->data || (v->dtype != KRT_INT32 && v->dtype != KRT_INT64 && v->dtype != KRT_UINT8))
    return KRT_FLOAT32;
  int read = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++) {
      if (n->inputs[k] != value) continue;
      if (n->op != IR_OP_GATHER || k != 0) return KRT_FLOAT32;
      read = 1;
    }
  }
  for (int k = 0; k < g->n_outputs; k++)
    if (g->outputs[k] == value) return KRT_FLOAT32;
  return read ? KRT_INT32 : KRT_FLOAT32;
}

static krt_status *cpu_engine_prepare(const ir_graph *g, const krt_plan *plan, void **state) {
  if (plan->n_values != g->n_values)
    return krt_error(KRT_ERR_INTERNAL, "the memory plan covers %d values, the graph has %d",
                     plan->n_values, g->n_values);
  int max_inputs = 1, max_outputs = 1;
  for (int i = 0; i < g->n_nodes; i++) {
    KRT_TRY(cpu_check_node(g, &g->nodes[i]));
    if (g->nodes[i].n_inputs > max_inputs) max_inputs = g->nodes[i].n_inputs;
    if (g->nodes[i].n_outputs > max_outputs) max_outputs = g->nodes[i].n_outputs;
  }
  cpu_engine *e = malloc(sizeof *e);
  if (!e) return krt_error_oom("cpu engine");
  e->value_dtype = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *e->value_dtype);
  if (!e->value_dtype) {
    free(e);
    return krt_error_oom("cpu engine value dtypes");
  }
  for (int v = 0; v < g->n_values; v++) e->value_dtype[v] = KRT_FLOAT32;
  for (int i = 0; i < g->n_inputs; i++)
    e->value_dtype[g->inputs[i]] = exact_input_dtype(g, g->inputs[i]);
  e->g = g;
  e->plan = plan;
  e->max_inputs = max_inputs;
  e->max_outputs = max_outputs;
  *state = e;
  return NULL;
}

static void cpu_engine_release(void *state) {
  cpu_engine *e = state;
  if (e) free(e->value_dtype);
  free(e);
}

static krt_dtype cpu_input_dtype(const void *engine_state, int value) {
  const cpu_engine *e = engine_state;
  if (value < 0 || value >= e->g->n_values) return KRT_FLOAT32;
  return e->value_dtype[value];
}

static krt_status *cpu_context_create(void *engine_state, void **state) {
  const cpu_engine *e = engine_state;
  /* aligned_alloc wants a size that is a multiple of the alignment (and not 0). */
  size_t align = KRT_PLAN_ALIGNMENT;
  int64_t want = e->plan->arena_bytes > 0 ? e->plan->arena_bytes : 1;
  size_t bytes = ((size_t)want + align - 1) / align * align;
  cpu_context *c = calloc(1, sizeof *c);
  if (!c) return krt_error_oom("cpu context");
  c->engine = e;
  krt_status *hook = debug_break_node(e->g, &c->broken_node);
  if (hook) {
    free(c);
    return hook;
  }
  c->arena = aligned_alloc(align, bytes);
  c->views = malloc((size_t)e->max_inputs * sizeof *c->views);
  c->outputs = malloc((size_t)e->max_outputs * sizeof *c->outputs);
  if (!c->arena || !c->views || !c->outputs) {
    free(c->arena);
    free(c->views);
    free(c->outputs);
    free(c);
    return krt_error(KRT_ERR_OUT_OF_MEMORY,
                     "cannot allocate the CPU activation arena of %lld bytes",
                     (long long)e->plan->arena_bytes);
  }
  *state = c;
  return NULL;
}

static void cpu_context_release(void *state) {
  cpu_context *c = state;
  if (!c) return;
  free(c->arena);
  free(c->views);
  free(c->outputs);
  free(c);
}

/* The arena slot of value `value`, checked to hold `count` floats. */
static krt_status *value_slot(cpu_context *c, int value, int64_t count, float **out) {
  const ir_graph *g = c->engine->g;
  const krt_plan *plan = c->engine->plan;
  if (value < 0 || value >= g->n_values)
    return krt_error(KRT_ERR_INTERNAL, "value %d does not exist (the graph has %d)", value,
                     g->n_values);
  const char *name = g->values[value].name;
  if (plan->offset[value] < 0)
    return krt_error(KRT_ERR_INTERNAL, "value '%s' has no place in the activation arena", name);
  if (count < 0 || count > plan->bytes[value] / (int64_t)sizeof(float))
    return krt_error(KRT_ERR_INTERNAL, "value '%s': %lld floats do not fit its %lld bytes", name,
                     (long long)count, (long long)plan->bytes[value]);
  *out = (float *)(c->arena + plan->offset[value]);
  return NULL;
}

static krt_status *cpu_write_value(void *state, int value, const float *host, int64_t count) {
  float *slot = NULL;
  KRT_TRY(value_slot(state, value, count, &slot));
  if (count) memcpy(slot, host, (size_t)count * sizeof(float));
  return NULL;
}

static krt_status *cpu_read_value(void *state, int value, float *host, int64_t count) {
  const cpu_context *c = state;
  const ir_graph *g = c->engine->g;
  if (value >= 0 && value < g->n_values && g->values[value].data) {
    /* A graph output that passes folded into a constant: read it from the graph. */
    const ir_value *v = &g->values[value];
    if (count < 0 || count > ir_value_elements(v, 1))
      return krt_error(KRT_ERR_INTERNAL, "constant '%s': %lld floats asked of %lld", v->name,
                       (long long)count, (long long)ir_value_elements(v, 1));
    if (count) memcpy(host, v->data, (size_t)count * sizeof(float));
    return NULL;
  }
  float *slot = NULL;
  KRT_TRY(value_slot(state, value, count, &slot));
  if (count) memcpy(host, slot, (size_t)count * sizeof(float));
  return NULL;
}

/* A concrete view of value `id` at this batch: constants in place, the rest in the arena. */
static krt_status *value_view(cpu_context *c, int id, int64_t batch, cpu_tensor *t) {
  const ir_value *v = &c->engine->g->values[id];
  t->dtype = c->engine->value_dtype[id];
  t->rank = v->rank;
  memcpy(t->dims, v->dims, (size_t)v->rank * sizeof *v->dims);
  if (v->batched && v->rank > 0) t->dims[0] = batch;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0)
      return krt_error(KRT_ERR_INTERNAL, "value '%s': dimension %d is still unknown", v->name, i);
  if (v->data) {
    t->data = v->data;
    return NULL;
  }
  return value_slot(c, id, cpu_count(t), &t->data);
}

static krt_status *cpu_run(void *state, int64_t batch) {
  cpu_context *c = state;
  const ir_graph *g = c->engine->g;
  if (batch < 1 || batch > c->engine->plan->max_batch)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "batch %lld is outside 1..%lld", (long long)batch,
                     (long long)c->engine->plan->max_batch);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    cpu_kernel_fn kernel = cpu_kernel_for(n->op);
    if (!kernel) return cpu_check_node(g, n);
    for (int k = 0; k < n->n_inputs; k++) KRT_TRY(value_view(c, n->inputs[k], batch, &c->views[k]));
    for (int k = 0; k < n->n_outputs; k++)
      KRT_TRY(value_view(c, n->outputs[k], batch, &c->outputs[k]));
    KRT_TRY(kernel(n, c->views, n->n_inputs, c->outputs));
    if (i == c->broken_node) {
      for (int o = 0; o < n->n_outputs; o++) {
        cpu_tensor *y = &c->outputs[o];
        int64_t count = cpu_count(y);
        for (int64_t k = 0; k < count; k++) y->data[k] += DEBUG_BREAK_OFFSET;
      }
    }
  }
  return NULL;
}

static const krt_backend cpu_backend = {
    .name = "cpu",
    .device = KRT_DEVICE_CPU,
    .check_node = cpu_check_node,
    .engine_prepare = cpu_engine_prepare,
    .engine_release = cpu_engine_release,
    .context_create = cpu_context_create,
    .context_release = cpu_context_release,
    .write_value = cpu_write_value,
    .read_value = cpu_read_value,
    .run = cpu_run,
    /* No tuning, no device buffers, no streams: the API runs CPU engines through write_value,
     * run and read_value, synchronously. */
    .engine_prepare_ex = NULL,
    .engine_tuning = NULL,
    .engine_device_name = NULL,
    .engine_node_note = NULL,
    .run_bound = NULL,
    .synchronize = NULL,
    .set_profiling = NULL,
    .node_time = NULL,
    .last_timing = NULL,
    .input_dtype = cpu_input_dtype,
};

const krt_backend *krt_backend_cpu(void) {
  return &cpu_backend;
}
