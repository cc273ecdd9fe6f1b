/* The structs behind the public handles of include/krt.h, shared by the files of src/api/. */
#ifndef KRT_API_INTERNAL_H
#define KRT_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "format/engine_file.h"
#include "import/import.h"
#include "ir/graph.h"
#include "plan/plan.h"

/* An imported model file, before any pass ran on it. */
struct krt_model {
  ir_graph *graph;
  char *path;  /* re-imported when a build fixes input shapes */
};

struct krt_build_options {
  char **outputs;  /* layer names, in the order asked for */
  int n_outputs;
  import_input_shape *input_shapes;  /* name fields point at input_names[i] */
  char **input_names;
  int n_input_shapes;
  int64_t max_batch;  /* 0: not set (then an input shape's batch, else 1) */
  krt_device device;
  krt_precision precision;
  char *timing_cache;       /* CUDA tuning: file read before and written after, or NULL */
  krt_progress_fn progress; /* CUDA tuning progress, or NULL */
  void *progress_user;
  int mark_all_outputs;     /* 1: every tensor left after the passes is an output too */
  char *signature;          /* SavedModel: the signature to build, or NULL (serving_default) */
};

/* Immutable once built or loaded, so any number of contexts may use it from any threads. */
struct krt_engine {
  ir_graph *graph;
  engine_meta meta;
  krt_plan plan;
  const krt_backend *backend;
  void *backend_state;
  /* The serialised file a loaded graph's constants (and meta.tuning) point into. */
  void *file_data;
  size_t file_size;
  int file_is_mapped;   /* 1: munmap(file_data), 0: free(file_data) */
  char **node_details;  /* per node: attributes, fused layers and the backend's choice */
  int64_t weight_bytes;
  void *tuning_blob;    /* a built engine's TUNING section (meta.tuning points here), or NULL */
};

/* What one input holds between krt_context_set_input and krt_context_run. */
typedef struct context_input {
  int bound;
  int on_device;  /* 1: data is a device pointer (krt_context_set_input_device) */
  krt_dtype dtype;
  int rank;
  int64_t dims[KRT_MAX_RANK];
  const void *data;  /* borrowed */
  size_t bytes;      /* host bindings only */
} context_input;

typedef struct context_output {
  void *bound_data;   /* the caller's buffer, or NULL */
  size_t bound_bytes;
  int on_device;      /* 1: bound_data is a device buffer of device_dtype */
  krt_dtype device_dtype;
  float *own;         /* the context's buffer at max batch, used while none is bound */
  /* From the last successful run: */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  const void *last_data;
  krt_dtype last_dtype;
} context_output;

struct krt_context {
  const krt_engine *engine;
  void *backend_state;
  context_input *inputs;
  context_output *outputs;
  float *scratch;  /* inputs converted to float32: input i at scratch_offset[i], max batch */
  int64_t *scratch_offset;
  backend_binding *in_bindings;   /* run_bound's arrays, reused by every run */
  backend_binding *out_bindings;
  int has_run;          /* 1 once a run succeeded and no later run failed */
  int last_run_failed;  /* 1 when the last run (or its synchronize) failed: outputs refused */
};

/* Completes an engine whose graph and meta are set (after a build or a load): picks the backend
 * for meta.device, checks every node against it, plans memory at meta.max_batch, prepares the
 * backend and builds the strings info queries return. */
krt_status *engine_finish(krt_engine *engine);
/* The same for a build: `options` (may be NULL) give the tuning settings, and the backend tunes
 * for this device and records its choices in meta (device_name, tuning). */
krt_status *engine_finish_build(krt_engine *engine, const krt_build_options *options);

/* Engine helpers shared by engine.c and context.c. */
const ir_value *engine_input_value(const krt_engine *engine, size_t index);
const ir_value *engine_output_value(const krt_engine *engine, size_t index);

/* Fills a krt_tensor_info from a value. */
void api_tensor_info(const ir_value *v, const char *name, krt_tensor_info *out);
/* Layer `index` of g as a krt_layer_info (strings owned by g); `function` and `owner` ("model",
 * "engine") name the caller in messages. */
krt_status *api_layer_info(const ir_graph *g, size_t index, const char *function,
                           const char *owner, krt_layer_info *out);

/* "a, b, c" of up to a few hundred bytes, for messages listing what exists. */
void api_join_names(char *buf, size_t size, const char *const *names, size_t n);

#endif
