/* The CUDA backend: the plugin's entry point, its vtable, which nodes it runs, and engines
 * (weights on the device, tuning at build time, the tuning table for the engine file).
 * Contexts and runs: cuda_context.c; CUDA graphs: cuda_graph.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend_internal.h"

/* ---- which nodes run here ------------------------------------------------------------------ */

static krt_status *cuda_check_node(const ir_graph *g, const ir_node *n) {
  (void)g;
  if (!cuda_launcher_for(n->op))
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): the CUDA backend has no kernel for it",
                     n->name, ir_op_name(n->op));
  int fused_act = n->op == IR_OP_DENSE || n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE ||
                  n->op == IR_OP_BATCHNORM || n->op == IR_OP_BINARY || n->op == IR_OP_ACTIVATION;
  if (fused_act && ((int)n->attrs.act.kind < IR_ACT_NONE ||
                    (int)n->attrs.act.kind > IR_ACT_LAST))
    return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): unknown activation kind %d", n->name,
                     ir_op_name(n->op), (int)n->attrs.act.kind);
  if (n->op == IR_OP_RECURRENT) {
    const ir_attrs *a = &n->attrs;
    if ((unsigned)a->rnn_cell > IR_RNN_CELL_LAST || (int)a->rnn_act.kind < IR_ACT_NONE ||
        (int)a->rnn_act.kind > IR_ACT_LAST || (int)a->rnn_gate_act.kind < IR_ACT_NONE ||
        (int)a->rnn_gate_act.kind > IR_ACT_LAST)
      return krt_error(KRT_ERR_UNSUPPORTED, "node '%s' (%s): unknown cell or activation kind",
                       n->name, ir_op_name(n->op));
    size_t shared = cuda_recurrent_shared_bytes(a->rnn_cell, a->rnn_units, a->rnn_masked);
    if (shared > CUDA_RECURRENT_MAX_SHARED)
      return krt_error(KRT_ERR_UNSUPPORTED,
                       "node '%s' (%s): %d units need %zu bytes of shared memory per block, the "
                       "CUDA kernel holds at most %d",
                       n->name, ir_op_name(n->op), a->rnn_units, shared, CUDA_RECURRENT_MAX_SHARED);
  }
  if (n->attrs.residual && n->n_inputs != 4)
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "node '%s' (%s): a fused residual needs inputs [x, W, b, r], it has %d",
                     n->name, ir_op_name(n->op), n->n_inputs);
  return NULL;
}

/* ---- engines ------------------------------------------------------------------------------- */

static void cuda_engine_release(void *state) {
  cuda_engine *e = state;
  if (!e) return;
  cudaSetDevice(e->device);
  cuda_engine_free_weights(e);
  cuda_tuning_free(e->tuning);
  free(e);
}

static void report_progress(const backend_engine_args *args, int done, int total, const char *what) {
  if (args->progress) args->progress(args->progress_user, done, total, what);
}

/* Times the candidates of every library-backed node on this GPU (build time), on a temporary
 * upload of the weights in every layout some candidate reads (the engine's own upload, made
 * afterwards, holds only the chosen ones). */
static krt_status *tune_engine(cuda_engine *e, const backend_engine_args *args,
                               cudaStream_t stream) {
  const ir_graph *g = e->g;
  int total = 0;
  for (int i = 0; i < g->n_nodes; i++) total += cuda_node_is_tunable(&g->nodes[i]);
  if (total == 0) return NULL;
  if (args->timing_cache)
    KRT_TRY(krt_error_wrap(cuda_tuning_merge_file(e->tuning, args->timing_cache),
                           "timing cache %s: ", args->timing_cache));
  cuda_prepare_ctx p;
  memset(&p, 0, sizeof p);
  p.graph = g;
  p.plan = e->plan;
  p.precision = e->precision;
  p.max_batch = e->plan->max_batch;
  p.device = e->device;
  p.stream = stream;
  p.tuning = e->tuning;
  /* No shared scratch: the tuners allocate their candidates' buffers per node (cuda_conv.c,
   * cuda_dense.c), so p.scratch stays NULL. */
  cuda_weights all;
  krt_status *s = cuda_weights_upload(&p, e->value_dtype, 1, &all);
  if (s) return s;
  p.weights = all.ptr;
  s = cudnn_status(cudnnCreate(&p.cudnn), "cudnnCreate", "tuning");
  if (!s) s = cudnn_status(cudnnSetStream(p.cudnn, stream), "cudnnSetStream", "tuning");
  if (!s) s = cublas_status(cublasLtCreate(&p.cublaslt), "cublasLtCreate", "tuning");
  int done = 0;
  for (int i = 0; !s && i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (!cuda_node_is_tunable(n)) continue;
    report_progress(args, done, total, n->name);
    /* Progress is reported per node here; the per-candidate steps stay inside the tuner. */
    s = cuda_tune_node(&p, n);
    done++;
  }
  if (!s) report_progress(args, total, total, "done");
  if (p.cublaslt) cublasLtDestroy(p.cublaslt);
  if (p.cudnn) cudnnDestroy(p.cudnn);
  cuda_weights_free(&all);
  if (!s && args->timing_cache)
    s = krt_error_wrap(cuda_tuning_write_file(e->tuning, args->timing_cache), "timing cache %s: ",
                       args->timing_cache);
  return s;
}

static krt_status *prepare_engine(cuda_engine *e, const backend_engine_args *args) {
  const ir_graph *g = e->g;
  if (e->plan->n_values != g->n_values)
    return krt_error(KRT_ERR_INTERNAL, "the memory plan covers %d values, the graph has %d",
                     e->plan->n_values, g->n_values);
  e->max_inputs = 1;
  e->max_outputs = 1;
  for (int i = 0; i < g->n_nodes; i++) {
    KRT_TRY(cuda_check_node(g, &g->nodes[i]));
    if (g->nodes[i].n_inputs > e->max_inputs) e->max_inputs = g->nodes[i].n_inputs;
    if (g->nodes[i].n_outputs > e->max_outputs) e->max_outputs = g->nodes[i].n_outputs;
  }
  CUDA_TRY(cudaGetDevice(&e->device), "engine");
  CUDA_TRY(cudaSetDevice(e->device), "engine");
  struct cudaDeviceProp prop;
  CUDA_TRY(cudaGetDeviceProperties(&prop, e->device), "engine");
  snprintf(e->device_name, sizeof e->device_name, "%s", prop.name);
  if (prop.major < 7 || (prop.major == 7 && prop.minor < 5))
    return krt_error(KRT_ERR_DEVICE, "%s (compute capability %d.%d): krt's CUDA backend needs 7.5 or newer",
                     prop.name, prop.major, prop.minor);

  /* Choices recorded for this device in a loaded engine are used as they are; a table for
   * another device is kept (and saved again) but unused, so nodes run their heuristic choice. */
  if (args->tuning && args->tuning_size > 0)
    KRT_TRY(krt_error_wrap(cuda_tuning_load(args->tuning, args->tuning_size, e->device_name,
                                            &e->tuning),
                           "the engine's tuning section: "));
  else
    KRT_TRY(cuda_tuning_create(e->device_name, &e->tuning));
  e->tuned_here = args->tune || (args->tuned_device && strcmp(args->tuned_device, e->device_name) == 0);

  cudaStream_t stream = NULL;
  CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "engine");
  /* Weights go up once, in the layouts the recorded (or heuristic) choices read. Build-time
   * tuning changes the choices, so its engine's weights go up after it. */
  krt_status *s = cuda_engine_upload_weights(e, stream); /* also sets e->value_dtype */
  if (!s && args->tune) {
    /* Not needed while tuning: hand the memory to the tuning upload. */
    cuda_weights held = {e->weights, e->weight_ptr, e->weight_bytes};
    cuda_weights_free(&held);
    e->weights = NULL;
    e->weight_ptr = NULL;
    e->weight_bytes = 0;
    s = tune_engine(e, args, stream);
    if (!s) s = cuda_engine_upload_weights(e, stream);
  }
  cudaStreamDestroy(stream);
  return s;
}

static krt_status *cuda_engine_prepare_ex(const backend_engine_args *args, void **state) {
  /* TF32 stores float32 like FP32; only the library calls differ (cuda_conv.c, cuda_dense.c). */
  if (args->precision != KRT_PRECISION_FP32 && args->precision != KRT_PRECISION_FP16 &&
      args->precision != KRT_PRECISION_TF32)
    return krt_error(KRT_ERR_UNSUPPORTED, "cuda: unknown precision %d", (int)args->precision);
  cuda_engine *e = calloc(1, sizeof *e);
  if (!e) return krt_error_oom("cuda engine");
  e->g = args->graph;
  e->plan = args->plan;
  e->precision = args->precision;
  e->compute_dtype = args->precision == KRT_PRECISION_FP16 ? KRT_FLOAT16 : KRT_FLOAT32;
  krt_status *s = prepare_engine(e, args);
  if (s) {
    cuda_engine_release(e);
    return s;
  }
  *state = e;
  return NULL;
}

/* The plain slot: FP32, untuned (heuristic choices). */
static krt_status *cuda_engine_prepare(const ir_graph *g, const krt_plan *plan, void **state) {
  backend_engine_args args;
  memset(&args, 0, sizeof args);
  args.graph = g;
  args.plan = plan;
  args.precision = KRT_PRECISION_FP32;
  args.tuned_device = "";
  return cuda_engine_prepare_ex(&args, state);
}

static krt_status *cuda_engine_tuning(const void *state, void **data, size_t *size) {
  const cuda_engine *e = state;
  return cuda_tuning_save(e->tuning, data, size);
}

static const char *cuda_engine_device_name(const void *state) {
  return ((const cuda_engine *)state)->device_name;
}

static size_t cuda_engine_weight_bytes(const void *state) {
  return ((const cuda_engine *)state)->weight_bytes;
}

int cuda_writes_rows(const ir_graph *g, const ir_node *n, int64_t at, int64_t pitch) {
  (void)g;
  int library = n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE || n->op == IR_OP_DENSE;
  return library && at >= 0 && pitch > 0 && at % 8 == 0 && pitch % 8 == 0;
}

static const char *impl_name(int kind) {
  switch (kind) {
    case CUDA_IMPL_CUDNN_GRAPH: return "cudnn graph engine";
    case CUDA_IMPL_CUDNN_LEGACY: return "cudnn algo";
    case CUDA_IMPL_CUBLASLT: return "cublasLt algo";
    case CUDA_IMPL_KRT_KERNEL: return "krt kernel";
    default: return "implementation";
  }
}

static void cuda_engine_node_note(const void *state, int node, char *buf, size_t size) {
  const cuda_engine *e = state;
  const ir_node *n = &e->g->nodes[node];
  buf[0] = '\0';
  if (!cuda_node_is_tunable(n)) return;
  char key[1024];
  cuda_prepare_ctx p;
  memset(&p, 0, sizeof p);
  p.graph = e->g;
  p.plan = e->plan;
  p.precision = e->precision;
  cuda_node_key_ctx(&p, n, e->plan->max_batch, key, sizeof key);
  const cuda_choice *c = e->tuned_here ? cuda_tuning_find(e->tuning, key) : NULL;
  if (c)
    snprintf(buf, size, "%s %lld, %.3f ms", impl_name(c->kind), (long long)c->id, c->ms);
  else
    snprintf(buf, size, "untuned: heuristic choice");
}

/* ---- the plugin ---------------------------------------------------------------------------- */

/* "CUDA runtime 13.0 (static), driver 13.0, cuDNN 9.10.2, cuBLASLt 13.1.0, 1 GPU: NVIDIA H100
 * 80GB HBM3 (sm_90)". The runtime and driver encode 1000 * major + 10 * minor, cuDNN 9 and
 * cuBLASLt 10000 * major + 100 * minor + patch. */
static void cuda_runtime_info(char *buf, size_t size) {
  int runtime = 0, driver = 0, count = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  size_t cudnn = cudnnGetVersion(), lt = cublasLtGetVersion();
  size_t used = 0;
  int n = snprintf(buf, size,
                   "CUDA runtime %d.%d (static), driver %d.%d, cuDNN %zu.%zu.%zu, cuBLASLt "
                   "%zu.%zu.%zu, %d GPU%s",
                   runtime / 1000, runtime % 1000 / 10, driver / 1000, driver % 1000 / 10,
                   cudnn / 10000, cudnn % 10000 / 100, cudnn % 100, lt / 10000, lt % 10000 / 100,
                   lt % 100, count, count == 1 ? "" : "s");
  for (int d = 0; d < count && n > 0 && (used += (size_t)n) < size; d++) {
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) break;
    n = snprintf(buf + used, size - used, "%s %s (sm_%d%d)", d ? "," : ":", prop.name, prop.major,
                 prop.minor);
  }
}

static const krt_backend cuda_backend = {
    .name = "cuda",
    .device = KRT_DEVICE_CUDA,
    .check_node = cuda_check_node,
    .engine_prepare = cuda_engine_prepare,
    .engine_release = cuda_engine_release,
    .context_create = cuda_context_create,
    .context_release = cuda_context_release,
    .write_value = cuda_write_value,
    .read_value = cuda_read_value,
    .run = cuda_run,
    .engine_prepare_ex = cuda_engine_prepare_ex,
    .engine_tuning = cuda_engine_tuning,
    .engine_device_name = cuda_engine_device_name,
    .engine_node_note = cuda_engine_node_note,
    .run_bound = cuda_run_bound,
    .synchronize = cuda_synchronize,
    .set_profiling = cuda_set_profiling,
    .node_time = cuda_node_time,
    .last_timing = cuda_last_timing,
    .writes_rows = cuda_writes_rows,
    .engine_weight_bytes = cuda_engine_weight_bytes,
    .runtime_info = cuda_runtime_info,
};

__attribute__((visibility("default"))) const krt_backend *krt_cuda_backend_entry(
    uint32_t abi_version, krt_status **error);

const krt_backend *krt_cuda_backend_entry(uint32_t abi_version, krt_status **error) {
  if (abi_version != KRT_BACKEND_ABI) {
    *error = krt_error(KRT_ERR_DEVICE,
                       "libkrt_cuda.so was built for backend interface %u but this krt uses %u; "
                       "use the module built together with this krt",
                       KRT_BACKEND_ABI, abi_version);
    return NULL;
  }
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    *error = krt_error(KRT_ERR_DEVICE, "no usable CUDA device: cudaGetDeviceCount: %s (%s)",
                       cudaGetErrorName(err), cudaGetErrorString(err));
    return NULL;
  }
  if (count < 1) {
    *error = krt_error(KRT_ERR_DEVICE, "no CUDA device found");
    return NULL;
  }
  size_t cudnn = cudnnGetVersion();
  if (cudnn < 90000) {
    *error = krt_error(KRT_ERR_DEVICE, "cuDNN %zu is loaded; krt needs cuDNN 9", cudnn);
    return NULL;
  }
  return &cuda_backend;
}
