/* CUDA contexts and runs.
 *
 * Every run is enqueued on the context's own stream; a caller's stream is joined with events
 * (its earlier work before ours, its later work after ours), so cuDNN and cuBLASLt handles stay
 * bound to one stream and graphs are captured there. A run:
 *   inputs   host float32 -> pinned staging -> the value's arena slot (converted to float16 on the
 *            device in FP16 engines); a device buffer of the value's device dtype is read in place
 *            by the nodes (zero-copy: bind_in_place), one of another dtype is converted into the
 *            slot
 *   compute  every node (cuda_run_compute: eager, or the CUDA graph of this batch and these
 *            bound pointers)
 *   outputs  a device buffer of the value's dtype is written in place by the node producing the
 *            value (zero-copy; later readers read it there); else slot -> the caller's device
 *            buffer (converted), or -> pinned staging -> (host callback) the caller's host
 *            buffer; the per-node error flags -> pinned memory
 * Errors found on the device (Gather's index out of range) are read once the run completed: at
 * the end of a synchronous run, else at the next synchronize or run of the context.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend_internal.h"
#include "backend/debug_hooks.h"

#define STAGING_ALIGNMENT 256

static size_t align_up(size_t n) {
  return (n + STAGING_ALIGNMENT - 1) / STAGING_ALIGNMENT * STAGING_ALIGNMENT;
}

/* ---- create / release ---------------------------------------------------------------------- */

void cuda_context_release(void *state) {
  cuda_context *c = state;
  if (!c) return;
  const cuda_engine *e = c->engine;
  cudaSetDevice(e->device);
  if (c->stream) cudaStreamSynchronize(c->stream);
  cuda_graphs_release(c);
  if (c->op_state)
    for (int i = 0; i < e->g->n_nodes; i++)
      if (c->op_state[i]) cuda_release_node(&e->g->nodes[i], c->op_state[i]);
  free(c->op_state);
  for (int i = 0; i < EV_COUNT; i++)
    if (c->events[i]) cudaEventDestroy(c->events[i]);
  if (c->joined) cudaEventDestroy(c->joined);
  if (c->node_events)
    for (int i = 0; i <= e->g->n_nodes; i++)
      if (c->node_events[i]) cudaEventDestroy(c->node_events[i]);
  free(c->node_events);
  free(c->node_ms);
  if (c->arena) cudaFree(c->arena);
  if (c->workspace) cudaFree(c->workspace);
  if (c->error_flags) cudaFree(c->error_flags);
  if (c->device_staging) cudaFree(c->device_staging);
  if (c->break_offset) cudaFree(c->break_offset);
  if (c->error_host) cudaFreeHost(c->error_host);
  if (c->host_staging) cudaFreeHost(c->host_staging);
  if (c->cublaslt) cublasLtDestroy(c->cublaslt);
  if (c->cudnn) cudnnDestroy(c->cudnn);
  if (c->stream) cudaStreamDestroy(c->stream);
  free(c->views);
  free(c->output_views);
  free(c->host_copies);
  free(c->bound_ptr);
  free(c->alias_root);
  free(c->is_graph_input);
  free(c->keys);
  free(c);
}

/* Bytes of float32 staging for the graph inputs and outputs at max batch. */
static size_t io_staging_bytes(const cuda_engine *e) {
  const ir_graph *g = e->g;
  size_t bytes = 0;
  for (int k = 0; k < g->n_inputs + g->n_outputs; k++) {
    int v = k < g->n_inputs ? g->inputs[k] : g->outputs[k - g->n_inputs];
    int64_t n = ir_value_elements(&g->values[v], e->plan->max_batch);
    if (n > 0) bytes += align_up((size_t)n * sizeof(float));
  }
  return bytes;
}

/* Per-node library state (cuDNN plans, cuBLASLt algorithms) for this context's handles. */
static krt_status *prepare_nodes(cuda_context *c) {
  const cuda_engine *e = c->engine;
  cuda_prepare_ctx p;
  memset(&p, 0, sizeof p);
  p.graph = e->g;
  p.plan = e->plan;
  p.precision = e->precision;
  p.max_batch = e->plan->max_batch;
  p.device = e->device;
  p.cudnn = c->cudnn;
  p.cublaslt = c->cublaslt;
  p.stream = c->stream;
  p.weights = e->weight_ptr;
  p.tuning = e->tuning;
  size_t most = 0;
  for (int i = 0; i < e->g->n_nodes; i++) {
    const ir_node *n = &e->g->nodes[i];
    if (!cuda_node_is_tunable(n)) continue;
    size_t ws = 0;
    KRT_TRY(cuda_prepare_node(&p, n, &c->op_state[i], &ws));
    if (ws > most) most = ws;
  }
  c->workspace_bytes = most;
  if (most) KRT_TRY(cuda_alloc_device(&c->workspace, most, "the context's workspace"));
  return NULL;
}

/* The per-value tables of zero-copy bindings. Alias roots follow the planner's rule
 * (src/plan/plan.c): a Reshape or Identity of a non-constant value shares its first input's bytes,
 * so a caller's buffer bound at the root is where every alias of it lives too. */
static krt_status *init_bindings(cuda_context *c) {
  const ir_graph *g = c->engine->g;
  const krt_plan *plan = c->engine->plan;
  size_t n = (size_t)(g->n_values ? g->n_values : 1);
  c->n_keys = g->n_inputs + g->n_outputs;
  c->bound_ptr = calloc(n, sizeof *c->bound_ptr);
  c->alias_root = malloc(n * sizeof *c->alias_root);
  c->is_graph_input = calloc(n, 1);
  c->keys = calloc((size_t)(c->n_keys ? c->n_keys : 1), sizeof *c->keys);
  if (!c->bound_ptr || !c->alias_root || !c->is_graph_input || !c->keys)
    return krt_error_oom("cuda context bindings");
  for (int v = 0; v < g->n_values; v++) c->alias_root[v] = v;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *node = &g->nodes[i];
    int in0 = node->n_inputs > 0 ? node->inputs[0] : -1;
    /* The op list of plan_op_aliases_input (plan.c is not part of this module), and the
     * planner's placement as the proof: outputs never share their inputs' bytes otherwise. */
    int aliasing = node->op == IR_OP_RESHAPE || node->op == IR_OP_IDENTITY;
    int out = node->outputs[0]; /* aliasing ops have one output */
    if (aliasing && in0 >= 0 && !g->values[in0].data && plan->offset[out] >= 0 &&
        plan->offset[out] == plan->offset[in0])
      c->alias_root[out] = c->alias_root[in0];
  }
  for (int i = 0; i < g->n_inputs; i++) c->is_graph_input[g->inputs[i]] = 1;
  return cuda_graphs_init(c);
}

/* debug_hooks.h: finds the node to break and puts the offset on the device, in the dtype of that
 * node's first output (float16 in FP16 engines; the outputs of one node share a dtype, checked
 * where they are broken). */
static krt_status *prepare_break_hook(cuda_context *c) {
  const cuda_engine *e = c->engine;
  KRT_TRY(debug_break_node(e->g, &c->broken_node));
  if (c->broken_node < 0) return NULL;
  const float offset = DEBUG_BREAK_OFFSET;
  krt_dtype dtype = e->value_dtype[e->g->nodes[c->broken_node].outputs[0]];
  /* [0]: the offset in `dtype`; [1]: the float32 it is converted from. */
  KRT_TRY(cuda_alloc_device(&c->break_offset, 2 * sizeof(float), "the break hook"));
  float *as_float = (float *)c->break_offset + 1;
  void *dst = dtype == KRT_FLOAT32 ? c->break_offset : (void *)as_float;
  CUDA_TRY(cudaMemcpy(dst, &offset, sizeof offset, cudaMemcpyHostToDevice), "the break hook");
  if (dtype == KRT_FLOAT32) return NULL;
  KRT_TRY(cuda_convert(c->break_offset, dtype, as_float, KRT_FLOAT32, 1, c->stream));
  CUDA_TRY(cudaStreamSynchronize(c->stream), "the break hook");
  return NULL;
}

/* Adds the hook's offset to every element of y (the broken node's output), on the stream, so
 * CUDA graphs capture it with the node. */
static krt_status *break_output(cuda_context *c, const ir_node *n, const cuda_tensor *y) {
  if (y->dtype != c->engine->value_dtype[n->outputs[0]])
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "%s: node '%s' has outputs of different dtypes; break another node",
                     DEBUG_BREAK_ENV, n->name);
  if (y->row_pitch)
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "%s: node '%s' writes into its Concat in place; break another node",
                     DEBUG_BREAK_ENV, n->name);
  int64_t count = 1;
  for (int d = 0; d < y->rank; d++) count *= y->dims[d];
  return cuda_launch_epilogue(n->name, y->data, y->dtype, count, 1, c->break_offset, NULL, NULL,
                              c->stream);
}

static krt_status *create_context(cuda_context *c) {
  const cuda_engine *e = c->engine;
  const ir_graph *g = e->g;
  const char *where = "context";
  CUDA_TRY(cudaSetDevice(e->device), where);
  CUDA_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), where);
  KRT_TRY(cudnn_status(cudnnCreate(&c->cudnn), "cudnnCreate", where));
  KRT_TRY(cudnn_status(cudnnSetStream(c->cudnn, c->stream), "cudnnSetStream", where));
  KRT_TRY(cublas_status(cublasLtCreate(&c->cublaslt), "cublasLtCreate", where));
  for (int i = 0; i < EV_COUNT; i++) CUDA_TRY(cudaEventCreate(&c->events[i]), where);
  CUDA_TRY(cudaEventCreateWithFlags(&c->joined, cudaEventDisableTiming), where);

  size_t nodes = (size_t)(g->n_nodes ? g->n_nodes : 1);
  c->op_state = calloc(nodes, sizeof *c->op_state);
  c->views = malloc((size_t)e->max_inputs * sizeof *c->views);
  c->output_views = malloc((size_t)e->max_outputs * sizeof *c->output_views);
  c->host_copies = malloc((size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof *c->host_copies);
  if (!c->op_state || !c->views || !c->output_views || !c->host_copies)
    return krt_error_oom("cuda context");
  KRT_TRY(init_bindings(c));
  KRT_TRY(prepare_break_hook(c));

  KRT_TRY(cuda_alloc_device((void **)&c->arena, (size_t)e->plan->arena_bytes,
                            "the activation arena"));
  KRT_TRY(cuda_alloc_device((void **)&c->error_flags, nodes * sizeof(int), "error flags"));
  KRT_TRY(cuda_alloc_pinned((void **)&c->error_host, nodes * sizeof(int), "error flags"));
  memset(c->error_host, 0, nodes * sizeof(int));
  c->host_staging_bytes = io_staging_bytes(e);
  KRT_TRY(cuda_alloc_pinned((void **)&c->host_staging, c->host_staging_bytes,
                            "input and output staging"));
  if (e->compute_dtype != KRT_FLOAT32) {
    c->device_staging_bytes = c->host_staging_bytes;
    KRT_TRY(cuda_alloc_device((void **)&c->device_staging, c->device_staging_bytes,
                              "input and output conversion"));
  }
  return prepare_nodes(c);
}

krt_status *cuda_context_create(void *engine_state, void **state) {
  cuda_context *c = calloc(1, sizeof *c);
  if (!c) return krt_error_oom("cuda context");
  c->engine = engine_state;
  c->broken_node = -1;
  krt_status *s = create_context(c);
  if (s) {
    cuda_context_release(c);
    return s;
  }
  *state = c;
  return NULL;
}

/* ---- launching nodes ----------------------------------------------------------------------- */

/* A tensor for value `id` at this batch: constants from the engine's weights, others in the
 * arena (or the caller's bound buffer); a Concat input written in place lies inside its Concat
 * output, wherever that is. */
static krt_status *value_tensor(cuda_context *c, int id, int64_t batch, cuda_tensor *t) {
  const cuda_engine *e = c->engine;
  const ir_value *v = &e->g->values[id];
  t->dtype = e->value_dtype[id];
  t->rank = v->rank;
  memcpy(t->dims, v->dims, sizeof t->dims);
  if (v->batched && v->rank > 0) t->dims[0] = batch;
  t->row_pitch = 0;
  int whole = e->plan->view_of[id];
  if (whole >= 0) {
    cuda_tensor concat;
    KRT_TRY(value_tensor(c, whole, batch, &concat)); /* a Concat output is never a view */
    if (concat.dtype != t->dtype)
      return krt_error(KRT_ERR_INTERNAL, "value '%s' is %s but its Concat output is %s", v->name,
                       krt_dtype_name(t->dtype), krt_dtype_name(concat.dtype));
    t->data = (unsigned char *)concat.data + e->plan->view_at[id] * krt_dtype_size(t->dtype);
    t->row_pitch = e->plan->view_pitch[id];
    return NULL;
  }
  if (v->data) {
    t->data = (void *)(uintptr_t)e->weight_ptr[id];
    return NULL;
  }
  void *bound = c->bound_ptr[c->alias_root[id]];
  if (bound) { /* the caller's device buffer, in place of the slot */
    t->data = bound;
    return NULL;
  }
  if (e->plan->offset[id] < 0)
    return krt_error(KRT_ERR_INTERNAL, "value '%s' has no place in the activation arena", v->name);
  t->data = c->arena + e->plan->offset[id];
  return NULL;
}

krt_status *cuda_launch_nodes(cuda_context *c, int64_t batch, int profile) {
  const cuda_engine *e = c->engine;
  const ir_graph *g = e->g;
  cuda_launch launch;
  launch.stream = c->stream;
  launch.workspace = c->workspace;
  launch.workspace_bytes = c->workspace_bytes;
  if (profile) CUDA_TRY(cudaEventRecord(c->node_events[0], c->stream), "profiling");
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    cuda_launch_fn fn = cuda_launcher_for(n->op);
    if (!fn)
      return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): the CUDA backend has no kernel for it",
                       n->name, ir_op_name(n->op));
    for (int k = 0; k < n->n_inputs; k++) KRT_TRY(value_tensor(c, n->inputs[k], batch, &c->views[k]));
    cuda_tensor *y = c->output_views;
    for (int k = 0; k < n->n_outputs; k++) {
      KRT_TRY(value_tensor(c, n->outputs[k], batch, &y[k]));
      if (y[k].row_pitch && (n->n_outputs != 1 || !cuda_writes_rows(g, n, 0, y[k].row_pitch)))
        return krt_error(KRT_ERR_INTERNAL, "node '%s' (%s) cannot write into its Concat in place",
                         n->name, ir_op_name(n->op));
    }
    launch.error_flag = c->error_flags + i;
    launch.op_state = c->op_state[i];
    KRT_TRY(fn(n, c->views, n->n_inputs, y, &launch));
    if (i == c->broken_node)
      for (int k = 0; k < n->n_outputs; k++) KRT_TRY(break_output(c, n, &y[k]));
    if (profile) CUDA_TRY(cudaEventRecord(c->node_events[i + 1], c->stream), n->name);
  }
  return NULL;
}

/* ---- finishing a run ----------------------------------------------------------------------- */

static double elapsed_ms(cudaEvent_t from, cudaEvent_t to) {
  float ms = 0.0f;
  if (cudaEventElapsedTime(&ms, from, to) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0.0;
  }
  return (double)ms;
}

/* Waits for the run in flight and reports what went wrong on the device. */
static krt_status *finish_pending(cuda_context *c) {
  if (!c->pending) return NULL;
  const ir_graph *g = c->engine->g;
  c->pending = 0;
  CUDA_TRY(cudaStreamSynchronize(c->stream), "run");
  for (int i = 0; i < g->n_nodes; i++) {
    if (!c->error_host[i]) continue;
    const ir_node *n = &g->nodes[i];
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "node '%s' (%s): the input holds an index outside the table (error code %d)",
                     n->name, ir_op_name(n->op), c->error_host[i]);
  }
  c->timing.host_to_device_ms = elapsed_ms(c->events[EV_START], c->events[EV_INPUTS_DONE]);
  c->timing.compute_ms = elapsed_ms(c->events[EV_INPUTS_DONE], c->events[EV_COMPUTE_DONE]);
  c->timing.device_to_host_ms = elapsed_ms(c->events[EV_COMPUTE_DONE], c->events[EV_END]);
  c->has_timing = 1;
  if (c->pending_profiled)
    for (int i = 0; i < g->n_nodes; i++)
      c->node_ms[i] = elapsed_ms(c->node_events[i], c->node_events[i + 1]);
  if (c->pending_eager) cuda_graph_mark_validated(c, c->pending_batch);
  return NULL;
}

krt_status *cuda_synchronize(void *state) {
  cuda_context *c = state;
  CUDA_TRY(cudaSetDevice(c->engine->device), "synchronize");
  return finish_pending(c);
}

/* Runs on the stream's host thread once the outputs are in pinned memory. No CUDA calls here. */
static void CUDART_CB copy_outputs_to_host(void *user) {
  cuda_context *c = user;
  for (int i = 0; i < c->n_host_copies; i++)
    memcpy(c->host_copies[i].dst, c->host_copies[i].src, c->host_copies[i].bytes);
}

/* ---- inputs and outputs -------------------------------------------------------------------- */

/* Copies (converting when the dtypes differ) count elements between device buffers. */
static krt_status *device_copy(cuda_context *c, void *dst, krt_dtype dst_type, const void *src,
                               krt_dtype src_type, int64_t count, const char *what) {
  if (count <= 0) return NULL;
  if (dst_type == src_type) {
    c->counters.device_copies++;
    return cuda_status(cudaMemcpyAsync(dst, src, (size_t)count * krt_dtype_size(dst_type),
                                       cudaMemcpyDeviceToDevice, c->stream),
                       "cudaMemcpyAsync", what);
  }
  c->counters.conversions++;
  return krt_error_wrap(cuda_convert(dst, dst_type, src, src_type, count, c->stream), "%s: ", what);
}

/* Whether a device buffer can stand in for a value's slot: the value's device dtype, and aligned
 * as arena slots are (library kernels may rely on it). */
static int usable_in_place(const cuda_context *c, const backend_binding *b) {
  return b->on_device && b->data && b->dtype == c->engine->value_dtype[b->value] &&
         (uintptr_t)b->data % KRT_PLAN_ALIGNMENT == 0;
}

static int overlaps(const backend_binding *x, const backend_binding *y) {
  uintptr_t x0 = (uintptr_t)x->data, y0 = (uintptr_t)y->data;
  uintptr_t x1 = x0 + (uintptr_t)x->count * krt_dtype_size(x->dtype);
  uintptr_t y1 = y0 + (uintptr_t)y->count * krt_dtype_size(y->dtype);
  return x0 < y1 && y0 < x1;
}

/* Sets c->bound_ptr (and c->keys, the graph cache key) for this run's zero-copy bindings.
 * Inputs: a usable device buffer replaces the input's slot (nodes only read it). Outputs: a
 * usable device buffer replaces the slot of the value's alias root, which the node producing the
 * root then writes, except where the data is not produced by a node of this run: the root is a
 * graph input (an identity model) or a constant; where another output already took that root
 * (two outputs of one value); or where the buffer overlaps a bound input (writing it could
 * clobber data still to be read). Those keep a copy after the compute. */
static void bind_in_place(cuda_context *c, const backend_run_args *a) {
  const cuda_engine *e = c->engine;
  const ir_graph *g = e->g;
  memset(c->bound_ptr, 0, (size_t)g->n_values * sizeof *c->bound_ptr);
  for (int i = 0; i < a->n_inputs; i++) {
    const backend_binding *b = &a->inputs[i];
    if (e->plan->offset[b->value] >= 0 && usable_in_place(c, b))
      c->bound_ptr[c->alias_root[b->value]] = b->data;
  }
  for (int i = 0; i < a->n_outputs; i++) {
    const backend_binding *b = &a->outputs[i];
    int root = c->alias_root[b->value];
    if (!usable_in_place(c, b) || g->values[b->value].data || g->values[root].data ||
        c->is_graph_input[root] || e->plan->offset[root] < 0 || c->bound_ptr[root])
      continue;
    int clash = 0;
    for (int k = 0; k < a->n_inputs && !clash; k++)
      clash = a->inputs[k].on_device && overlaps(b, &a->inputs[k]);
    if (!clash) c->bound_ptr[root] = b->data;
  }
  for (int k = 0; k < c->n_keys; k++) {
    int v = k < g->n_inputs ? g->inputs[k] : g->outputs[k - g->n_inputs];
    c->keys[k] = c->bound_ptr[c->alias_root[v]];
  }
}

static krt_status *copy_inputs(cuda_context *c, const backend_run_args *a, size_t *staged) {
  const cuda_engine *e = c->engine;
  for (int i = 0; i < a->n_inputs; i++) {
    const backend_binding *b = &a->inputs[i];
    const ir_value *v = &e->g->values[b->value];
    if (e->plan->offset[b->value] < 0) continue;
    if (b->count > e->plan->bytes[b->value] / (int64_t)krt_dtype_size(e->value_dtype[b->value]))
      return krt_error(KRT_ERR_INTERNAL, "input '%s': %lld elements do not fit its slot", v->name,
                       (long long)b->count);
    void *slot = c->arena + e->plan->offset[b->value];
    krt_dtype slot_type = e->value_dtype[b->value];
    if (b->on_device) {
      if (c->bound_ptr[b->value] != b->data) /* else read in place: no copy */
        KRT_TRY(device_copy(c, slot, slot_type, b->data, b->dtype, b->count, v->name));
      continue;
    }
    size_t bytes = (size_t)b->count * sizeof(float);
    if (*staged + bytes > c->host_staging_bytes)
      return krt_error(KRT_ERR_INTERNAL, "input '%s' does not fit the staging buffer", v->name);
    /* A synchronous run copies straight from the caller's (pageable) memory: the driver pipelines
     * its own staging, which is much faster for large inputs than a host memcpy into our pinned
     * buffer first (19 MB: 2.9 ms through the pinned buffer on an H100 host). An asynchronous
     * run must not wait on the host, so it stages through pinned memory. */
    const unsigned char *pinned = c->host_staging + *staged;
    if (a->wait) pinned = b->data;
    else if (bytes) memcpy(c->host_staging + *staged, b->data, bytes);
    if (slot_type == KRT_FLOAT32) {
      if (bytes)
        CUDA_TRY(cudaMemcpyAsync(slot, pinned, bytes, cudaMemcpyHostToDevice, c->stream), v->name);
    } else {
      unsigned char *converted = c->device_staging + *staged;
      if (bytes)
        CUDA_TRY(cudaMemcpyAsync(converted, pinned, bytes, cudaMemcpyHostToDevice, c->stream),
                 v->name);
      KRT_TRY(device_copy(c, slot, slot_type, converted, KRT_FLOAT32, b->count, v->name));
    }
    *staged += align_up(bytes);
  }
  return NULL;
}

/* Where output value `value` is on the device (a bound buffer, the arena or the weights), and
 * its dtype there. */
static krt_status *output_source(cuda_context *c, int value, const void **src, krt_dtype *type) {
  const cuda_engine *e = c->engine;
  const ir_value *v = &e->g->values[value];
  *type = e->value_dtype[value];
  if (v->data) *src = e->weight_ptr[value]; /* an output folded into a constant */
  else if (c->bound_ptr[c->alias_root[value]]) *src = c->bound_ptr[c->alias_root[value]];
  else if (e->plan->offset[value] >= 0) *src = c->arena + e->plan->offset[value];
  else return krt_error(KRT_ERR_INTERNAL, "output '%s' has no place on the device", v->name);
  return NULL;
}

static krt_status *copy_outputs(cuda_context *c, const backend_run_args *a, size_t staged) {
  const cuda_engine *e = c->engine;
  c->n_host_copies = 0;
  for (int i = 0; i < a->n_outputs; i++) {
    const backend_binding *b = &a->outputs[i];
    const char *name = e->g->values[b->value].name;
    const void *src = NULL;
    krt_dtype src_type = KRT_FLOAT32;
    KRT_TRY(output_source(c, b->value, &src, &src_type));
    if (b->on_device) {
      if (src != b->data) /* else written in place by its node: no copy */
        KRT_TRY(device_copy(c, b->data, b->dtype, src, src_type, b->count, name));
      continue;
    }
    size_t bytes = (size_t)b->count * sizeof(float);
    if (staged + bytes > c->host_staging_bytes)
      return krt_error(KRT_ERR_INTERNAL, "output '%s' does not fit the staging buffer", name);
    if (src_type != KRT_FLOAT32) {
      unsigned char *converted = c->device_staging + staged;
      KRT_TRY(device_copy(c, converted, KRT_FLOAT32, src, src_type, b->count, name));
      src = converted;
    }
    if (a->wait) {
      /* Synchronous run: straight into the caller's memory (no host callback, no second copy). */
      if (bytes) CUDA_TRY(cudaMemcpyAsync(b->data, src, bytes, cudaMemcpyDeviceToHost, c->stream), name);
      staged += align_up(bytes);
      continue;
    }
    unsigned char *pinned = c->host_staging + staged;
    if (bytes) CUDA_TRY(cudaMemcpyAsync(pinned, src, bytes, cudaMemcpyDeviceToHost, c->stream), name);
    c->host_copies[c->n_host_copies++] = (cuda_host_copy){b->data, pinned, bytes};
    staged += align_up(bytes);
  }
  return NULL;
}

/* ---- run ------------------------------------------------------------------------------------ */

static krt_status *enqueue_run(cuda_context *c, const backend_run_args *a) {
  const cuda_engine *e = c->engine;
  cudaStream_t caller = (cudaStream_t)a->stream;
  if (caller) {
    CUDA_TRY(cudaEventRecord(c->joined, caller), "joining the caller's stream");
    CUDA_TRY(cudaStreamWaitEvent(c->stream, c->joined, 0), "joining the caller's stream");
  }
  CUDA_TRY(cudaEventRecord(c->events[EV_START], c->stream), "run");
  size_t flags = (size_t)(e->g->n_nodes ? e->g->n_nodes : 1) * sizeof(int);
  CUDA_TRY(cudaMemsetAsync(c->error_flags, 0, flags, c->stream), "run");
  size_t staged = 0;
  bind_in_place(c, a);
  KRT_TRY(copy_inputs(c, a, &staged));
  CUDA_TRY(cudaEventRecord(c->events[EV_INPUTS_DONE], c->stream), "run");
  int eager = 1;
  if (c->profiling) {
    c->counters.eager_runs++;
    KRT_TRY(cuda_launch_nodes(c, a->batch, 1));
  } else {
    KRT_TRY(cuda_run_compute(c, a->batch, &eager));
  }
  CUDA_TRY(cudaEventRecord(c->events[EV_COMPUTE_DONE], c->stream), "run");
  KRT_TRY(copy_outputs(c, a, staged));
  CUDA_TRY(cudaMemcpyAsync(c->error_host, c->error_flags, flags, cudaMemcpyDeviceToHost, c->stream),
           "run");
  if (c->n_host_copies)
    CUDA_TRY(cudaLaunchHostFunc(c->stream, copy_outputs_to_host, c), "run");
  CUDA_TRY(cudaEventRecord(c->events[EV_END], c->stream), "run");
  if (caller) {
    CUDA_TRY(cudaEventRecord(c->joined, c->stream), "joining the caller's stream");
    CUDA_TRY(cudaStreamWaitEvent(caller, c->joined, 0), "joining the caller's stream");
  }
  c->pending = 1;
  c->pending_batch = a->batch;
  c->pending_eager = eager && !c->profiling;
  c->pending_profiled = c->profiling;
  return NULL;
}

krt_status *cuda_run_bound(void *state, const backend_run_args *a) {
  cuda_context *c = state;
  const cuda_engine *e = c->engine;
  CUDA_TRY(cudaSetDevice(e->device), "run");
  /* One run at a time per context: the previous one must be done before its buffers are reused,
   * and its errors are reported now if nobody synchronised. */
  KRT_TRY(finish_pending(c));
  if (a->batch < 1 || a->batch > e->plan->max_batch)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "batch %lld is outside 1..%lld",
                     (long long)a->batch, (long long)e->plan->max_batch);
  c->has_timing = 0;
  krt_status *s = enqueue_run(c, a);
  /* The bindings belong to this run only (write_value / read_value use the slots). */
  memset(c->bound_ptr, 0, (size_t)e->g->n_values * sizeof *c->bound_ptr);
  if (s) {
    /* Leave nothing half-enqueued behind: wait for what was, and forget the run. */
    cudaStreamSynchronize(c->stream);
    (void)cudaGetLastError();
    c->pending = 0;
    return s;
  }
  return a->wait ? finish_pending(c) : NULL;
}

krt_status *cuda_run(void *state, int64_t batch) {
  backend_run_args a;
  memset(&a, 0, sizeof a);
  a.batch = batch;
  a.wait = 1;
  return cuda_run_bound(state, &a);
}

/* ---- single values (the plain vtable slots, for tests of the backend itself) ---------------- */

krt_status *cuda_write_value(void *state, int value, const float *host, int64_t count) {
  cuda_context *c = state;
  backend_binding b = {value, 0, KRT_FLOAT32, (void *)(uintptr_t)host, count};
  CUDA_TRY(cudaSetDevice(c->engine->device), "write");
  KRT_TRY(finish_pending(c));
  size_t staged = 0;
  backend_run_args a;
  memset(&a, 0, sizeof a);
  a.inputs = &b;
  a.n_inputs = 1;
  krt_status *s = copy_inputs(c, &a, &staged);
  cudaError_t err = cudaStreamSynchronize(c->stream);
  return s ? s : cuda_status(err, "cudaStreamSynchronize", c->engine->g->values[value].name);
}

krt_status *cuda_read_value(void *state, int value, float *host, int64_t count) {
  cuda_context *c = state;
  backend_binding b = {value, 0, KRT_FLOAT32, host, count};
  CUDA_TRY(cudaSetDevice(c->engine->device), "read");
  KRT_TRY(finish_pending(c));
  backend_run_args a;
  memset(&a, 0, sizeof a);
  a.outputs = &b;
  a.n_outputs = 1;
  krt_status *s = copy_outputs(c, &a, 0);
  cudaError_t err = cudaStreamSynchronize(c->stream);
  if (!s) s = cuda_status(err, "cudaStreamSynchronize", c->engine->g->values[value].name);
  if (!s) copy_outputs_to_host(c);
  return s;
}

/* ---- profiling and timings ----------------------------------------------------------------- */

krt_status *cuda_set_profiling(void *state, int enable) {
  cuda_context *c = state;
  int n = c->engine->g->n_nodes;
  if (enable && !c->node_events) {
    CUDA_TRY(cudaSetDevice(c->engine->device), "profiling");
    c->node_events = calloc((size_t)n + 1, sizeof *c->node_events);
    c->node_ms = calloc((size_t)n + 1, sizeof *c->node_ms);
    if (!c->node_events || !c->node_ms) return krt_error_oom("profiling events");
    for (int i = 0; i <= n; i++) CUDA_TRY(cudaEventCreate(&c->node_events[i]), "profiling");
  }
  c->profiling = enable ? 1 : 0;
  return NULL;
}

krt_status *cuda_node_time(const void *state, int node, double *ms) {
  const cuda_context *c = state;
  if (!c->node_ms || !c->has_timing || !c->pending_profiled)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_context_node_time: no profiled run has completed (turn profiling on with "
                     "krt_context_set_profiling, then run)");
  *ms = c->node_ms[node];
  return NULL;
}

krt_status *cuda_last_timing(const void *state, krt_run_timing *out) {
  const cuda_context *c = state;
  if (c->has_timing) *out = c->timing;
  else memset(out, 0, sizeof *out);
  return NULL;
}
