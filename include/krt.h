/*
 * krt.h: the one public header of krt, a runtime that turns a trained Keras model into an engine
 * and runs it from plain C.
 *
 * CONVENTIONS
 *   - Every handle is opaque. Objects come from krt_*_create / krt_*_build / krt_*_load / *_import
 *     and are freed by the matching krt_*_release; every release function accepts NULL.
 *   - Every call that can fail returns a krt_status*. NULL means success. A non-NULL status is owned
 *     by the caller, carries a code (krt_status_code) and a one-line message that names what was
 *     wrong and where (file, layer, option); free it with krt_status_release. Nothing in the library
 *     aborts or exits on anything a caller or a file can cause.
 *   - Output parameters are written only on success.
 *   - Strings returned by the library (names, messages) are owned by the object they came from and
 *     live as long as it does, unless a function says otherwise.
 *   - Shapes are arrays of int64_t, outermost dimension first. In a tensor's declared shape, -1
 *     marks the batch dimension (always axis 0 of a batched tensor) or a dimension still unknown.
 *   - Threads: a krt_engine is immutable once built or loaded and may be shared by any number of
 *     threads. A krt_context is single-threaded: use one context per thread (create as many per
 *     engine as you like). krt_model and krt_build_options are not to be shared while modified.
 *
 * LIFETIMES
 *   engine  must outlive every context created from it.
 *   buffers bound with krt_context_set_input / krt_context_set_output are borrowed, not copied:
 *           they must stay valid until the krt_context_run that uses them returns.
 *
 * EXAMPLE: build an engine from a Keras file and run one batch (examples/classify.c is this
 * program, complete).
 *
 *   #include <krt.h>
 *   #include <stdio.h>
 *
 *   static int check(krt_status *s) {
 *     if (!s) return 0;
 *     fprintf(stderr, "krt: %s\n", krt_status_message(s));
 *     krt_status_release(s);
 *     return 1;
 *   }
 *
 *   int main(void) {
 *     krt_engine *engine = NULL;
 *     krt_context *ctx = NULL;
 *     if (check(krt_engine_build("model.keras", NULL, &engine))) return 1;  // NULL: defaults
 *     if (check(krt_context_create(engine, &ctx))) return 1;
 *
 *     float x[2 * 28 * 28] = {0};                    // batch of 2, input declared (-1, 28, 28)
 *     int64_t dims[3] = {2, 28, 28};
 *     if (check(krt_context_set_input(ctx, 0, KRT_FLOAT32, dims, 3, x, sizeof x))) return 1;
 *     if (check(krt_context_run(ctx))) return 1;
 *
 *     krt_tensor_view y;                             // points into the context; valid until the
 *     if (check(krt_context_get_output(ctx, 0, &y))) return 1;   // next run or release
 *     const float *p = y.data;
 *     printf("%s: %lld values, first %g\n", y.name, (long long)krt_view_element_count(&y), p[0]);
 *
 *     krt_context_release(ctx);
 *     krt_engine_release(engine);
 *     return 0;
 *   }
 */
#ifndef KRT_H
#define KRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KRT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define KRT_API __attribute__((visibility("default")))
#else
#define KRT_API
#endif

/* The version of krt, in one place: CMakeLists.txt reads these three lines for the project's
 * version, the shared library's version and soname, krt.pc and krtConfigVersion.cmake, and
 * krt_version_string() is made of them. */
#define KRT_VERSION_MAJOR 0
#define KRT_VERSION_MINOR 1
#define KRT_VERSION_PATCH 0

/* The most dimensions a tensor may have. */
#define KRT_MAX_RANK 8

/* ---------------------------------------------------------------------------------------------
 * Status
 * ------------------------------------------------------------------------------------------- */

typedef enum krt_code {
  KRT_OK = 0,
  KRT_ERR_INVALID_ARGUMENT = 1, /* a NULL, a bad index, a wrong dtype or size from the caller */
  KRT_ERR_NOT_FOUND = 2,        /* a named input, output or layer that does not exist */
  KRT_ERR_IO = 3,               /* a file could not be opened, read or written */
  KRT_ERR_BAD_FILE = 4,         /* a model or engine file is corrupt, truncated or malformed */
  KRT_ERR_VERSION = 5,          /* an engine file written by an incompatible krt */
  KRT_ERR_UNSUPPORTED = 6,      /* a layer, option or dtype krt does not implement */
  KRT_ERR_SHAPE = 7,            /* shapes that do not fit together, or a dimension left unknown */
  KRT_ERR_OUT_OF_MEMORY = 8,    /* host or device allocation failed */
  KRT_ERR_DEVICE = 9,           /* the requested device is absent or its runtime failed */
  KRT_ERR_INTERNAL = 10         /* a bug in krt; please report it with the message */
} krt_code;

typedef struct krt_status krt_status;

KRT_API krt_code krt_status_code(const krt_status *status);       /* KRT_OK for NULL */
KRT_API const char *krt_status_message(const krt_status *status); /* "" for NULL; owned by status */
KRT_API void krt_status_release(krt_status *status);

/* A short stable name for a code ("unsupported", "bad file", ...). Static storage. */
KRT_API const char *krt_code_name(krt_code code);

/* "0.1.0": the library's KRT_VERSION_*, which may differ from the header's a program was compiled
 * with. Static storage. */
KRT_API const char *krt_version_string(void);

/* How this libkrt was built, fixed when it was configured: one "key: value" line each (every
 * line ends in a newline), in this order:
 *   commit: the git commit of the source (12 hex digits), or "unknown" outside git
 *   build type: Release, RelWithDebInfo, Debug, ... ("none" when not set)
 *   cuda module: "built (architectures ...)" or "not built" (libkrt_cuda.so)
 *   sanitizers: "address, undefined" or "off"
 *   debug hooks: "on" or "off" (KRT_DEBUG_BREAK_NODE is honoured)
 * Static storage. */
KRT_API const char *krt_build_info(void);

/* ---------------------------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------------------------- */

typedef enum krt_dtype {
  KRT_DTYPE_INVALID = 0,
  KRT_FLOAT32 = 1,
  KRT_FLOAT16 = 2,
  KRT_FLOAT64 = 3,
  KRT_INT32 = 4,
  KRT_INT64 = 5,
  KRT_UINT8 = 6
} krt_dtype;

KRT_API size_t krt_dtype_size(krt_dtype dtype);       /* bytes per element; 0 if invalid */
KRT_API const char *krt_dtype_name(krt_dtype dtype);  /* "float32", ...; static storage */

typedef enum krt_device { KRT_DEVICE_CPU = 0, KRT_DEVICE_CUDA = 1 } krt_device;

/* FP32: strict float32 arithmetic (matches Keras to about 1e-4). FP16: float16 storage with float32
 * accumulation. TF32: float32 storage and API, but convolutions and matrix products may round
 * their inputs to TF32 (10-bit mantissa) on tensor cores, accumulating in float32 (TensorRT's TF32
 * flag, PyTorch's default for cuDNN convolutions); expect relative errors of 1e-4 to 1e-3. FP16
 * and TF32 are CUDA only. */
typedef enum krt_precision {
  KRT_PRECISION_FP32 = 0,
  KRT_PRECISION_FP16 = 1,
  KRT_PRECISION_TF32 = 2
} krt_precision;

/* The declared shape of an engine or model input/output. name is owned by the object queried. */
typedef struct krt_tensor_info {
  const char *name;
  krt_dtype dtype;
  int rank;
  int64_t dims[KRT_MAX_RANK]; /* -1: the batch dimension (axis batch_axis) or unknown */
  int batch_axis;             /* 0 when the tensor has a batch dimension, -1 when it has none */
} krt_tensor_info;

/* A concrete tensor held by a context after a run: name and data are owned by the context and
 * stay valid until its next run or its release. */
typedef struct krt_tensor_view {
  const char *name;
  krt_dtype dtype;
  int rank;
  int64_t dims[KRT_MAX_RANK];
  const void *data;
} krt_tensor_view;

KRT_API int64_t krt_view_element_count(const krt_tensor_view *view);

/* One layer of a model (a Keras layer) or one node of an engine (after optimisation: a fused
 * node names every layer it absorbed). Strings are owned by the model or engine. */
typedef struct krt_layer_info {
  const char *name;       /* layer or node name */
  const char *kind;       /* Keras class ("Conv2D") for a model layer; op name for an engine node */
  const char *detail;     /* for engine nodes: attributes and fused layers; "" otherwise */
  int rank;               /* of the first output; -1 in dims as in krt_tensor_info */
  int64_t dims[KRT_MAX_RANK];
  int64_t param_count;    /* trainable and non-trainable weights held by this layer */
  int can_be_output;      /* 1 when krt_build_options_add_output accepts this name */
} krt_layer_info;

/* ---------------------------------------------------------------------------------------------
 * Models: an imported Keras file, before it is built into an engine.
 * Supported: .keras (Keras 3 zip) and legacy .h5 (Keras 1, 2, tf.keras, Keras 3 legacy save).
 * ------------------------------------------------------------------------------------------- */

typedef struct krt_model krt_model;

/* Reads and checks a model file. On success *out is owned by the caller (krt_model_release). */
KRT_API krt_status *krt_model_import(const char *path, krt_model **out);
KRT_API void krt_model_release(krt_model *model);

KRT_API size_t krt_model_layer_count(const krt_model *model);
KRT_API krt_status *krt_model_layer(const krt_model *model, size_t index, krt_layer_info *out);
KRT_API size_t krt_model_input_count(const krt_model *model);
KRT_API size_t krt_model_output_count(const krt_model *model);
KRT_API krt_status *krt_model_input_info(const krt_model *model, size_t index,
                                         krt_tensor_info *out);
KRT_API krt_status *krt_model_output_info(const krt_model *model, size_t index,
                                          krt_tensor_info *out);
/* A readable dump of the imported graph (one line per node). Caller frees with krt_free. */
KRT_API krt_status *krt_model_dump(const krt_model *model, char **text);

/* ---------------------------------------------------------------------------------------------
 * Build options
 * ------------------------------------------------------------------------------------------- */

typedef struct krt_build_options krt_build_options;

KRT_API krt_status *krt_build_options_create(krt_build_options **out);
KRT_API void krt_build_options_release(krt_build_options *options);

/* Keep only these layers' outputs as the engine's outputs, in the order given (call once per
 * output). The graph is cut there; layers that no longer feed an output are removed. Default:
 * the model's own outputs. The name is copied. */
KRT_API krt_status *krt_build_options_add_output(krt_build_options *options, const char *layer);

/* Debugging (krt compare): on = 1 publishes, besides the model's outputs, every tensor the
 * optimised graph still computes as an extra engine output, so a run can be checked layer by
 * layer. Default 0.
 *   - The outputs are published AFTER the optimisation passes, so the engine is the one built
 *     without the option: same fusions (BatchNorm folded, activations and residual adds fused),
 *     same kernels. Unlike krt_build_options_add_output, nothing is cut or kept from fusing.
 *     Memory differs: every output lives to the end of the run and gets its own buffer in the
 *     context, and a published tensor is never written into a Concat in place.
 *   - Outputs 0 .. n-1 stay the model's own (or those asked for with add_output), in order; the
 *     extra ones follow in execution order (krt_engine_output_node gives each one's node).
 *   - A published tensor is named after the Keras layer whose result it holds: a fused node's
 *     output after the LAST layer fused into it (conv1 + bn1 + relu1 -> "relu1"; conv1's and bn1's
 *     own results exist no more, so they have no output). A tensor that stands for no layer (an
 *     importer's helper node such as "conv1/pad") is named after its node. A name already taken
 *     gets ":2", ":3"... appended.
 *   - Constants (folded layers) and graph inputs are not published. */
KRT_API krt_status *krt_build_options_mark_all_outputs(krt_build_options *options, int on);

/* The full shape of an input, batch dimension included (as trtexec's --shapes): fixes dimensions
 * the model left unknown. dims[0] also becomes the max batch unless one is set explicitly. */
KRT_API krt_status *krt_build_options_set_input_shape(krt_build_options *options,
                                                      const char *input, int rank,
                                                      const int64_t *dims);

/* The largest batch the engine accepts (default 1). Contexts size their memory for it. */
KRT_API krt_status *krt_build_options_set_max_batch(krt_build_options *options, int64_t batch);

/* For a TensorFlow SavedModel directory: the signature to build (its key in the meta graph's
 * signature_def, e.g. "serving_default", the default; then the only signature when the model has
 * one other). Other formats ignore it. A name the SavedModel lacks fails the build with
 * KRT_ERR_NOT_FOUND naming the signatures it has. The name is copied. */
KRT_API krt_status *krt_build_options_set_signature(krt_build_options *options, const char *name);

/* Where the engine will run (default KRT_DEVICE_CPU). KRT_ERR_DEVICE at build time when the
 * device is not available in this process. */
KRT_API krt_status *krt_build_options_set_device(krt_build_options *options, krt_device device);

/* Arithmetic precision (default FP32; see krt_precision). The CPU backend supports FP32 only:
 * FP16 and TF32 builds for it fail with KRT_ERR_UNSUPPORTED. */
KRT_API krt_status *krt_build_options_set_precision(krt_build_options *options,
                                                    krt_precision precision);

/* ---------------------------------------------------------------------------------------------
 * Engines: an optimised, device-specific plan with its weights, saved as a .krt file.
 * ------------------------------------------------------------------------------------------- */

typedef struct krt_engine krt_engine;

/* Imports a model file and builds an engine. options may be NULL (defaults). On success *out is
 * owned by the caller (krt_engine_release). */
KRT_API krt_status *krt_engine_build(const char *model_path, const krt_build_options *options,
                                     krt_engine **out);
/* The same from an imported model; the model is not modified and may be released afterwards. */
KRT_API krt_status *krt_engine_build_from_model(const krt_model *model,
                                                const krt_build_options *options,
                                                krt_engine **out);

/* Writes the engine to a .krt file (replaced if it exists). */
KRT_API krt_status *krt_engine_save(const krt_engine *engine, const char *path);
/* Serialises into a new buffer: *data is owned by the caller and freed with krt_free. */
KRT_API krt_status *krt_engine_serialize(const krt_engine *engine, void **data, size_t *size);

/* Loads a .krt file. The file is checked (magic, version, checksum, bounds) before use. */
KRT_API krt_status *krt_engine_load(const char *path, krt_engine **out);
/* Loads from memory; the bytes are copied, so the buffer may be freed once this returns. */
KRT_API krt_status *krt_engine_load_memory(const void *data, size_t size, krt_engine **out);
KRT_API void krt_engine_release(krt_engine *engine);

KRT_API size_t krt_engine_input_count(const krt_engine *engine);
KRT_API size_t krt_engine_output_count(const krt_engine *engine);
KRT_API krt_status *krt_engine_input_info(const krt_engine *engine, size_t index,
                                          krt_tensor_info *out);
KRT_API krt_status *krt_engine_output_info(const krt_engine *engine, size_t index,
                                           krt_tensor_info *out);
/* Index of the input/output with this name; KRT_ERR_NOT_FOUND names the ones that exist. */
KRT_API krt_status *krt_engine_find_input(const krt_engine *engine, const char *name,
                                          size_t *index);
KRT_API krt_status *krt_engine_find_output(const krt_engine *engine, const char *name,
                                           size_t *index);
/* The node (an index for krt_engine_node, execution order) that computes output `index`.
 * KRT_ERR_NOT_FOUND when that output is a graph input or a constant, computed by no node. */
KRT_API krt_status *krt_engine_output_node(const krt_engine *engine, size_t index, size_t *node);
KRT_API int64_t krt_engine_max_batch(const krt_engine *engine);
KRT_API krt_device krt_engine_device(const krt_engine *engine);
KRT_API krt_precision krt_engine_precision(const krt_engine *engine);

/* The engine's nodes in execution order, and the source model's layers as imported. */
KRT_API size_t krt_engine_node_count(const krt_engine *engine);
KRT_API krt_status *krt_engine_node(const krt_engine *engine, size_t index, krt_layer_info *out);
KRT_API size_t krt_engine_layer_count(const krt_engine *engine);
KRT_API krt_status *krt_engine_layer(const krt_engine *engine, size_t index, krt_layer_info *out);
/* Bytes of activation memory one context needs at max batch (the planner's peak, counted in
 * float32), and of weights the engine holds on its device (CUDA: in the engine's precision and
 * in each layout its kernels read, alignment included; CPU: float32 constants). */
KRT_API int64_t krt_engine_activation_bytes(const krt_engine *engine);
KRT_API int64_t krt_engine_weight_bytes(const krt_engine *engine);

/* ---------------------------------------------------------------------------------------------
 * Execution contexts: the memory and state of one run at a time. One per thread.
 * ------------------------------------------------------------------------------------------- */

typedef struct krt_context krt_context;

/* The engine must outlive the context. Allocates the context's activation arena. */
KRT_API krt_status *krt_context_create(const krt_engine *engine, krt_context **out);
KRT_API void krt_context_release(krt_context *context);

/* Binds a host buffer to an input. dims is the concrete shape (batch included, at most the
 * engine's max batch; every other dimension as declared); bytes must equal the element count
 * times krt_dtype_size(dtype). The dtype must be of the input's kind (krt_tensor_info.dtype):
 * a float input takes FLOAT32, FLOAT16 or FLOAT64 data (converted to float32, as Keras converts
 * it), an integer input (INT32, INT64, UINT8: token ids, Embedding indices) INT32, INT64 or UINT8
 * data; integer data for a float input or float data for an integer input is KRT_ERR_INVALID_ARGUMENT.
 * An integer input that only indexes (Embedding, Gather) is exact over the whole int32 range on
 * the CPU; elsewhere (another consumer, or a CUDA engine) integers are computed in float32 and
 * are exact up to 2^24 in magnitude: krt_context_run refuses a larger value (KRT_ERR_UNSUPPORTED,
 * naming the element) rather than round it. A value outside the input's declared dtype (300 for
 * UINT8), or beyond int32 for an int32-kept index, is KRT_ERR_INVALID_ARGUMENT. The buffer is borrowed until the
 * next krt_context_run returns. All inputs must agree on the batch. */
KRT_API krt_status *krt_context_set_input(krt_context *context, size_t index, krt_dtype dtype,
                                          const int64_t *dims, int rank, const void *data,
                                          size_t bytes);
KRT_API krt_status *krt_context_set_input_by_name(krt_context *context, const char *name,
                                                  krt_dtype dtype, const int64_t *dims, int rank,
                                                  const void *data, size_t bytes);

/* Optionally binds a caller's host buffer for an output (FLOAT32, at least batch x the
 * per-sample size bytes); the run writes there. Unbound outputs are kept in the context and read
 * with krt_context_get_output. Pass data = NULL to unbind. */
KRT_API krt_status *krt_context_set_output(krt_context *context, size_t index, void *data,
                                           size_t bytes);
KRT_API krt_status *krt_context_set_output_by_name(krt_context *context, const char *name,
                                                   void *data, size_t bytes);

/* Runs the engine on the bound inputs (every input must be bound). Synchronous. When it fails,
 * for any reason (an unbound input, inputs disagreeing on the batch, a bound output buffer too
 * small, a backend error), the context has no outputs: the previous run's are not readable either,
 * until a later run succeeds. The same holds for krt_context_run_async and a failed
 * krt_context_synchronize. */
KRT_API krt_status *krt_context_run(krt_context *context);

/* The output of the last run, when it succeeded: concrete shape and data (in the caller's buffer
 * if one was bound, else in the context). KRT_ERR_INVALID_ARGUMENT before any run and after a
 * failed one (the message says which). */
KRT_API krt_status *krt_context_get_output(const krt_context *context, size_t index,
                                           krt_tensor_view *out);

/* ---------------------------------------------------------------------------------------------
 * CUDA engines: device buffers, the caller's stream, timings. On a CPU engine: device-buffer
 * binds and profiling return KRT_ERR_UNSUPPORTED; krt_context_run_async runs synchronously (the
 * stream is ignored); krt_context_synchronize does nothing; krt_context_last_timing gives zeros.
 * ------------------------------------------------------------------------------------------- */

/* Binds a device buffer (cudaMalloc'd by the caller, on the engine's device) to an input. The
 * nodes that read the input read this buffer in place (no copy) when its dtype is the engine's
 * storage dtype (FLOAT32 on an FP32 or TF32 engine, FLOAT16 on an FP16 engine) and it is 64-byte
 * aligned; otherwise it is converted or copied into the context's memory on the run's stream.
 * Borrowed until the run that uses it has completed on its stream. A run with buffers the context
 * has not seen before captures a new CUDA graph once (about 0.1-0.4 ms); the same buffers again
 * replay. */
KRT_API krt_status *krt_context_set_input_device(krt_context *context, size_t index,
                                                 krt_dtype dtype, const int64_t *dims, int rank,
                                                 const void *device_data);
/* Binds a device buffer for an output (dtype KRT_FLOAT32, or KRT_FLOAT16 on an FP16 engine), at
 * least batch x sample elements. The node producing the output writes there directly (no copy)
 * under the same conditions as inputs; an output that is a graph input or a constant, a second
 * binding of the same value, or a buffer overlapping a bound input is copied instead. */
KRT_API krt_status *krt_context_set_output_device(krt_context *context, size_t index,
                                                  krt_dtype dtype, void *device_data,
                                                  size_t bytes);

/* Enqueues a run on the caller's CUDA stream (a cudaStream_t, passed as void*; NULL = the
 * context's own stream) and returns without waiting. Host buffers bound to inputs/outputs are
 * copied on that stream (keep them valid, and read outputs only, after the stream completes);
 * device buffers are used in place. The whole network is replayed as one CUDA graph per batch
 * size after the first run at that size. */
KRT_API krt_status *krt_context_run_async(krt_context *context, void *cuda_stream);

/* Waits for the context's last run (synchronous runs return already completed). */
KRT_API krt_status *krt_context_synchronize(krt_context *context);

/* Timings of the last completed run, in milliseconds, measured with device events when
 * profiling is on (0 when not measured). */
typedef struct krt_run_timing {
  double host_to_device_ms;
  double compute_ms;
  double device_to_host_ms;
} krt_run_timing;
KRT_API krt_status *krt_context_last_timing(const krt_context *context, krt_run_timing *out);

/* Per-node profiling: when on, each run times every node (slower: no graph replay); then
 * krt_context_node_time gives node `index`'s time (engine node order) in milliseconds. */
KRT_API krt_status *krt_context_set_profiling(krt_context *context, int enable);
KRT_API krt_status *krt_context_node_time(const krt_context *context, size_t index, double *ms);

/* Build-time tuning (CUDA): a timing cache file read before and written after tuning, so
 * rebuilding is fast (NULL: none); and a progress callback called as candidates are timed
 * (done/total steps and the node being tuned). The CLI draws a progress bar with it. */
typedef void (*krt_progress_fn)(void *user, int done, int total, const char *what);
KRT_API krt_status *krt_build_options_set_timing_cache(krt_build_options *options,
                                                       const char *path);
KRT_API krt_status *krt_build_options_set_progress(krt_build_options *options,
                                                   krt_progress_fn fn, void *user);

/* The device an engine was tuned for ("NVIDIA H100 80GB HBM3", "" for CPU engines), and whether
 * it runs on a different one now (then it runs untuned or re-tuned, with a warning). */
KRT_API const char *krt_engine_device_name(const krt_engine *engine);
/* The device this process runs the engine on ("" for CPU engines). When it is not the one
 * krt_engine_device_name names, the engine runs with heuristic (untuned) choices: rebuild it on
 * this device for tuned ones. */
KRT_API const char *krt_engine_run_device_name(const krt_engine *engine);

/* ---------------------------------------------------------------------------------------------
 * Memory returned by the library (serialised engines, dumps).
 * ------------------------------------------------------------------------------------------- */

KRT_API void krt_free(void *ptr);

/* ---------------------------------------------------------------------------------------------
 * What a device's backend finds at run time.
 * ------------------------------------------------------------------------------------------- */

/* One line about the backend of `device` in this process, into *text (owned by the caller, freed
 * with krt_free). KRT_DEVICE_CUDA loads the CUDA module, as the first CUDA build or load would,
 * and names the CUDA runtime, driver, cuDNN and cuBLASLt versions and the GPUs. Where the module
 * is not built, not found or cannot run (no GPU, no driver, no cuDNN 9) it returns
 * KRT_ERR_DEVICE, whose message gives the reason. */
KRT_API krt_status *krt_device_info(krt_device device, char **text);

#ifdef __cplusplus
}
#endif

#endif /* KRT_H */
