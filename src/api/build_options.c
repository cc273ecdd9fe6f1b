/* krt_build_options: what a build keeps (outputs), fixes (input shapes) and targets (device,
 * precision, max batch). Values are checked here; names are checked against the model at build. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/status.h"

static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

krt_status *krt_build_options_create(krt_build_options **out) {
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_create: out is NULL");
  krt_build_options *o = calloc(1, sizeof *o);
  if (!o) return krt_error_oom("build options");
  o->device = KRT_DEVICE_CPU;
  o->precision = KRT_PRECISION_FP32;
  *out = o;
  return NULL;
}

void krt_build_options_release(krt_build_options *options) {
  if (!options) return;
  for (int i = 0; i < options->n_outputs; i++) free(options->outputs[i]);
  for (int i = 0; i < options->n_input_shapes; i++) free(options->input_names[i]);
  free(options->outputs);
  free(options->input_names);
  free(options->input_shapes);
  free(options->timing_cache);
  free(options->signature);
  free(options);
}

krt_status *krt_build_options_add_output(krt_build_options *options, const char *layer) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_add_output: options is NULL");
  if (!layer)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_add_output: layer is NULL");
  if (!layer[0])
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_add_output: the layer name is empty");
  for (int i = 0; i < options->n_outputs; i++)
    if (strcmp(options->outputs[i], layer) == 0)
      return krt_error(KRT_ERR_INVALID_ARGUMENT,
                       "krt_build_options_add_output: output '%s' is already requested", layer);
  char **grown = realloc(options->outputs, (size_t)(options->n_outputs + 1) * sizeof *grown);
  if (!grown) return krt_error_oom("build options outputs");
  options->outputs = grown;
  char *copy = copy_string(layer);
  if (!copy) return krt_error_oom("build options output name");
  options->outputs[options->n_outputs++] = copy;
  return NULL;
}

krt_status *krt_build_options_mark_all_outputs(krt_build_options *options, int on) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_mark_all_outputs: options is NULL");
  options->mark_all_outputs = on != 0;
  return NULL;
}

krt_status *krt_build_options_set_input_shape(krt_build_options *options, const char *input,
                                              int rank, const int64_t *dims) {
  static const char *fn = "krt_build_options_set_input_shape";
  if (!options) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: options is NULL", fn);
  if (!input) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: input is NULL", fn);
  if (!dims && rank > 0) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: dims is NULL", fn);
  if (rank < 1 || rank > KRT_MAX_RANK)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: input '%s': rank %d is outside 1..%d (the shape includes the batch)", fn,
                     input, rank, KRT_MAX_RANK);
  for (int i = 0; i < rank; i++)
    if (dims[i] < 1)
      return krt_error(KRT_ERR_INVALID_ARGUMENT,
                       "%s: input '%s': dimension %d is %lld; every dimension must be at least 1",
                       fn, input, i, (long long)dims[i]);

  /* Setting the same input again replaces its shape. */
  int slot = -1;
  for (int i = 0; i < options->n_input_shapes; i++)
    if (strcmp(options->input_names[i], input) == 0) slot = i;
  if (slot < 0) {
    int n = options->n_input_shapes + 1;
    import_input_shape *shapes = realloc(options->input_shapes, (size_t)n * sizeof *shapes);
    if (!shapes) return krt_error_oom("build options input shapes");
    options->input_shapes = shapes;
    char **names = realloc(options->input_names, (size_t)n * sizeof *names);
    if (!names) return krt_error_oom("build options input shapes");
    options->input_names = names;
    char *copy = copy_string(input);
    if (!copy) return krt_error_oom("build options input name");
    slot = options->n_input_shapes++;
    options->input_names[slot] = copy;
  }
  import_input_shape *shape = &options->input_shapes[slot];
  memset(shape, 0, sizeof *shape);
  shape->rank = rank;
  memcpy(shape->dims, dims, (size_t)rank * sizeof *dims);
  /* realloc may have moved the names: point every shape at its name again. */
  for (int i = 0; i < options->n_input_shapes; i++)
    options->input_shapes[i].name = options->input_names[i];
  return NULL;
}

krt_status *krt_build_options_set_max_batch(krt_build_options *options, int64_t batch) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_set_max_batch: options is NULL");
  if (batch < 1)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_set_max_batch: max batch %lld must be at least 1",
                     (long long)batch);
  options->max_batch = batch;
  return NULL;
}

krt_status *krt_build_options_set_signature(krt_build_options *options, const char *name) {
  if (!options || !name)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_set_signature: NULL argument");
  if (!name[0])
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_set_signature: empty name");
  char *copy = strdup(name);
  if (!copy) return krt_error_oom("build options");
  free(options->signature);
  options->signature = copy;
  return NULL;
}

krt_status *krt_build_options_set_device(krt_build_options *options, krt_device device) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_set_device: options is NULL");
  if (device != KRT_DEVICE_CPU && device != KRT_DEVICE_CUDA)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_set_device: unknown device %d",
                     (int)device);
  options->device = device;
  return NULL;
}

krt_status *krt_build_options_set_precision(krt_build_options *options,
                                            krt_precision precision) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_set_precision: options is NULL");
  if (precision != KRT_PRECISION_FP32 && precision != KRT_PRECISION_FP16 &&
      precision != KRT_PRECISION_TF32)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_set_precision: unknown precision %d", (int)precision);
  options->precision = precision;
  return NULL;
}

krt_status *krt_build_options_set_timing_cache(krt_build_options *options, const char *path) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_set_timing_cache: options is NULL");
  if (path && !path[0])
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "krt_build_options_set_timing_cache: the path is empty (NULL for none)");
  char *copy = NULL;
  if (path && !(copy = copy_string(path))) return krt_error_oom("build options timing cache");
  free(options->timing_cache);
  options->timing_cache = copy;
  return NULL;
}

krt_status *krt_build_options_set_progress(krt_build_options *options, krt_progress_fn fn,
                                           void *user) {
  if (!options)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_build_options_set_progress: options is NULL");
  options->progress = fn;
  options->progress_user = user;
  return NULL;
}
