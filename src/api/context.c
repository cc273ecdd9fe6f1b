/* krt_context: the caller's buffers bound to an engine's inputs and outputs, and one run at a
 * time. Inputs arrive in any krt dtype and are converted to float32 at the boundary (backends
 * take float32 host data); outputs leave as float32. CUDA engines also take device buffers and
 * runs on the caller's stream (the backend's run_bound); the CPU backend runs synchronously. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/status.h"

static size_t n_inputs(const krt_context *c) { return (size_t)c->engine->graph->n_inputs; }
static size_t n_outputs(const krt_context *c) { return (size_t)c->engine->graph->n_outputs; }

krt_status *krt_context_create(const krt_engine *engine, krt_context **out) {
  if (!engine) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_create: engine is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_create: out is NULL");
  krt_context *c = calloc(1, sizeof *c);
  if (!c) return krt_error_oom("context");
  c->engine = engine;
  const ir_graph *g = engine->graph;
  int64_t max_batch = engine->meta.max_batch;
  krt_status *s = NULL;
  c->inputs = calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *c->inputs);
  c->outputs = calloc((size_t)(g->n_outputs ? g->n_outputs : 1), sizeof *c->outputs);
  if (!c->inputs || !c->outputs) s = krt_error_oom("context bindings");

  /* One conversion area per input: a CUDA run reads them all after the last one is converted. */
  int64_t scratch = 1;
  if (!s && !(c->scratch_offset = calloc((size_t)(g->n_inputs ? g->n_inputs : 1),
                                         sizeof *c->scratch_offset)))
    s = krt_error_oom("context bindings");
  for (int i = 0; !s && i < g->n_inputs; i++) {
    int64_t n = ir_value_elements(&g->values[g->inputs[i]], max_batch);
    c->scratch_offset[i] = scratch;
    if (n > 0) scratch += n;
  }
  if (!s && engine->backend->run_bound &&
      (!(c->in_bindings = calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *c->in_bindings)) ||
       !(c->out_bindings = calloc((size_t)(g->n_outputs ? g->n_outputs : 1), sizeof *c->out_bindings))))
    s = krt_error_oom("context bindings");
  if (!s && !(c->scratch = malloc((size_t)scratch * sizeof(float))))
    s = krt_error(KRT_ERR_OUT_OF_MEMORY, "context: cannot allocate %lld bytes for input conversion",
                  (long long)scratch * 4);
  for (int i = 0; !s && i < g->n_outputs; i++) {
    int64_t n = ir_value_elements(&g->values[g->outputs[i]], max_batch);
    if (n < 1) n = 1;
    if (!(c->outputs[i].own = malloc((size_t)n * sizeof(float))))
      s = krt_error(KRT_ERR_OUT_OF_MEMORY, "context: cannot allocate %lld bytes for output '%s'",
                    (long long)n * 4, g->output_names[i]);
  }
  if (!s) s = engine->backend->context_create(engine->backend_state, &c->backend_state);
  if (s) {
    krt_context_release(c);
    return s;
  }
  *out = c;
  return NULL;
}

void krt_context_release(krt_context *context) {
  if (!context) return;
  if (context->backend_state) context->engine->backend->context_release(context->backend_state);
  if (context->outputs)
    for (size_t i = 0; i < n_outputs(context); i++) free(context->outputs[i].own);
  free(context->outputs);
  free(context->inputs);
  free(context->scratch);
  free(context->scratch_offset);
  free(context->in_bindings);
  free(context->out_bindings);
  free(context);
}

/* ---- inputs -------------------------------------------------------------------------------- */

/* The shape of input `index` as the engine accepts it; *elements is its element count. */
static krt_status *check_input_dims(const krt_context *context, size_t index, const int64_t *dims,
                                    int rank, const char *fn, int64_t *elements_out) {
  const ir_value *v = engine_input_value(context->engine, index);
  const char *name = v->name;
  if (!dims && rank > 0) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: input '%s': dims is NULL", fn, name);
  if (rank != v->rank)
    return krt_error(KRT_ERR_SHAPE, "%s: input '%s': rank %d given, the engine expects rank %d", fn,
                     name, rank, v->rank);
  int64_t max_batch = context->engine->meta.max_batch;
  int64_t elements = 1;
  for (int i = 0; i < rank; i++) {
    if (i == 0 && v->batched) {
      if (dims[0] < 1 || dims[0] > max_batch)
        return krt_error(KRT_ERR_SHAPE, "%s: input '%s': batch %lld is outside 1..%lld (the engine's max batch)",
                         fn, name, (long long)dims[0], (long long)max_batch);
    } else if (dims[i] != v->dims[i]) {
      return krt_error(KRT_ERR_SHAPE, "%s: input '%s': axis %d is %lld, the engine expects %lld", fn,
                       name, i, (long long)dims[i], (long long)v->dims[i]);
    }
    elements *= dims[i];
  }
  *elements_out = elements;
  return NULL;
}

static int dtype_is_float(krt_dtype d) {
  return d == KRT_FLOAT32 || d == KRT_FLOAT16 || d == KRT_FLOAT64;
}

/* The dtype contract of krt.h: a float input takes float data (converted to float32, as Keras
 * would), an integer input integer data; nothing is reinterpreted across the two. */
static krt_status *check_input_dtype(const ir_value *v, krt_dtype given, const char *fn) {
  if (dtype_is_float(v->dtype) == dtype_is_float(given)) return NULL;
  return krt_error(KRT_ERR_INVALID_ARGUMENT,
                   "%s: input '%s' is %s; %s data given (give %s data: krt does not convert "
                   "between integer and float inputs)",
                   fn, v->name, krt_dtype_name(v->dtype), krt_dtype_name(given),
                   dtype_is_float(v->dtype) ? "float32, float16 or float64"
                                            : "int32, int64 or uint8");
}

krt_status *krt_context_set_input(krt_context *context, size_t index, krt_dtype dtype,
                                  const int64_t *dims, int rank, const void *data, size_t bytes) {
  static const char *fn = "krt_context_set_input";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  if (index >= n_inputs(context))
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index %zu is out of range (the engine has %zu inputs)",
                     fn, index, n_inputs(context));
  const ir_value *v = engine_input_value(context->engine, index);
  const char *name = v->name;
  if (!data) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: input '%s': data is NULL", fn, name);
  size_t esize = krt_dtype_size(dtype);
  if (esize == 0)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: input '%s': unknown dtype %d", fn, name, (int)dtype);
  KRT_TRY(check_input_dtype(v, dtype, fn));
  int64_t elements = 1;
  KRT_TRY(check_input_dims(context, index, dims, rank, fn, &elements));
  if ((uint64_t)bytes != (uint64_t)elements * esize)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: input '%s': %zu bytes given, the shape needs %lld (%lld %s elements)", fn,
                     name, bytes, (long long)elements * (long long)esize, (long long)elements,
                     krt_dtype_name(dtype));
  context_input *in = &context->inputs[index];
  in->bound = 1;
  in->on_device = 0;
  in->dtype = dtype;
  in->rank = rank;
  memcpy(in->dims, dims, (size_t)rank * sizeof *dims);
  in->data = data;
  in->bytes = bytes;
  return NULL;
}

krt_status *krt_context_set_input_by_name(krt_context *context, const char *name, krt_dtype dtype,
                                          const int64_t *dims, int rank, const void *data,
                                          size_t bytes) {
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_set_input_by_name: context is NULL");
  if (!name) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_set_input_by_name: name is NULL");
  size_t index;
  KRT_TRY(krt_engine_find_input(context->engine, name, &index));
  return krt_context_set_input(context, index, dtype, dims, rank, data, bytes);
}

/* ---- outputs ------------------------------------------------------------------------------- */

krt_status *krt_context_set_output(krt_context *context, size_t index, void *data, size_t bytes) {
  static const char *fn = "krt_context_set_output";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  if (index >= n_outputs(context))
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index %zu is out of range (the engine has %zu outputs)",
                     fn, index, n_outputs(context));
  context_output *o = &context->outputs[index];
  o->on_device = 0;
  if (!data) {
    o->bound_data = NULL;
    o->bound_bytes = 0;
    return NULL;
  }
  /* The batch is only known at run time; a buffer too small for even one sample is wrong now. */
  int64_t per_sample = ir_value_elements(engine_output_value(context->engine, index), 1);
  if ((uint64_t)bytes < (uint64_t)per_sample * 4)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: output '%s': %zu bytes is less than one sample (%lld float32 values, %lld bytes)",
                     fn, context->engine->graph->output_names[index], bytes, (long long)per_sample,
                     (long long)per_sample * 4);
  o->bound_data = data;
  o->bound_bytes = bytes;
  return NULL;
}

krt_status *krt_context_set_output_by_name(krt_context *context, const char *name, void *data,
                                           size_t bytes) {
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_set_output_by_name: context is NULL");
  if (!name) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_set_output_by_name: name is NULL");
  size_t index;
  KRT_TRY(krt_engine_find_output(context->engine, name, &index));
  return krt_context_set_output(context, index, data, bytes);
}

/* ---- run ----------------------------------------------------------------------------------- */

/* IEEE 754 binary16 -> binary32, exact for every half value (subnormals, infinities, NaN). */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0) magnitude = ldexpf((float)mantissa, -24); /* zero or subnormal */
  else if (exponent == 31) magnitude = mantissa ? NAN : INFINITY;
  else magnitude = ldexpf((float)(mantissa | 0x400), (int)exponent - 25);
  return sign ? -magnitude : magnitude;
}

/* Element i of integer data of `dtype` (INT32, INT64 or UINT8, the caller's native order). */
static int64_t integer_at(krt_dtype dtype, const void *src, int64_t i) {
  if (dtype == KRT_INT32) {
    int32_t t;
    memcpy(&t, (const char *)src + i * 4, 4);
    return t;
  }
  if (dtype == KRT_INT64) {
    int64_t t;
    memcpy(&t, (const char *)src + i * 8, 8);
    return t;
  }
  return ((const uint8_t *)src)[i];
}

static int integer_dtype(krt_dtype dtype) {
  return dtype == KRT_INT32 || dtype == KRT_INT64 || dtype == KRT_UINT8;
}

/* Integer values (of an integer input) that the float32 backends would round or that lie outside
 * the input's declared dtype give an error naming the first one, never a rounded answer. The
 * limit goes when integer tensors flow through the backends (issue: typed tensors). */
static krt_status *check_integer_values(const ir_value *v, krt_dtype dtype, const void *src,
                                        int64_t n) {
  const int64_t exact = (int64_t)1 << 24; /* float32 holds every integer up to 2^24 */
  int64_t lo = v->dtype == KRT_UINT8 ? 0 : -exact, hi = v->dtype == KRT_UINT8 ? 255 : exact;
  if (!integer_dtype(dtype)) return NULL;
  for (int64_t i = 0; i < n; i++) {
    int64_t x = integer_at(dtype, src, i);
    if (x < lo || x > hi)
      return krt_error(v->dtype == KRT_UINT8 ? KRT_ERR_INVALID_ARGUMENT : KRT_ERR_UNSUPPORTED,
                       "krt_context_run: input '%s' (%s): element %lld is %lld, %s", v->name,
                       krt_dtype_name(v->dtype), (long long)i, (long long)x,
                       v->dtype == KRT_UINT8
                           ? "outside uint8's range"
                           : "beyond 2^24: krt computes in float32 and would round it (integer "
                             "inputs are exact up to 2^24 in magnitude)");
  }
  return NULL;
}

/* Converts n integers of `dtype` at src to int32, for an input the backend keeps as int32
 * (Gather indices); a value outside int32 is refused naming the element (no table has 2^31 rows,
 * so such an index could only be out of range). */
static krt_status *convert_to_int32(const ir_value *v, krt_dtype dtype, const void *src,
                                    int32_t *dst, int64_t n) {
  if (!integer_dtype(dtype))
    return krt_error(KRT_ERR_INTERNAL, "krt_context_run: input '%s': %s data for an integer "
                     "input", v->name, krt_dtype_name(dtype));
  for (int64_t i = 0; i < n; i++) {
    int64_t x = integer_at(dtype, src, i);
    int64_t lo = v->dtype == KRT_UINT8 ? 0 : INT32_MIN, hi = v->dtype == KRT_UINT8 ? 255 : INT32_MAX;
    if (x < lo || x > hi)
      return krt_error(KRT_ERR_INVALID_ARGUMENT,
                       "krt_context_run: input '%s' (%s): element %lld is %lld, %s", v->name,
                       krt_dtype_name(v->dtype), (long long)i, (long long)x,
                       v->dtype == KRT_UINT8 ? "outside uint8's range"
                                             : "outside int32 (krt keeps integer indices as int32)");
    dst[i] = (int32_t)x;
  }
  return NULL;
}

/* Converts n elements of `dtype` at src to float32. Integers above 2^24 round to the nearest
 * float, as any float32 model would see them. */
static void convert_to_float(krt_dtype dtype, const void *src, float *dst, int64_t n) {
  switch (dtype) {
    case KRT_FLOAT32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case KRT_FLOAT16: {
      const unsigned char *p = src;
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + i * 2, 2); /* native order, as the caller's uint16_t array */
        dst[i] = half_to_float(h);
      }
      break;
    }
    case KRT_FLOAT64: {
      const double *p = src;
      for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
      break;
    }
    case KRT_INT32: {
      const int32_t *p = src;
      for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
      break;
    }
    case KRT_INT64: {
      const int64_t *p = src;
      for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
      break;
    }
    case KRT_UINT8: {
      const uint8_t *p = src;
      for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
      break;
    }
    default: break; /* set_input refused it */
  }
}

/* The batch every bound batched input agrees on (1 when no input is batched). */
static krt_status *run_batch(const krt_context *c, int64_t *batch) {
  const ir_graph *g = c->engine->graph;
  int first = -1;
  for (int i = 0; i < g->n_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (!c->inputs[i].bound)
      return krt_error(KRT_ERR_INVALID_ARGUMENT,
                       "krt_context_run: input '%s' is not bound (krt_context_set_input)", v->name);
    if (!v->batched) continue;
    if (first < 0) first = i;
    else if (c->inputs[i].dims[0] != c->inputs[first].dims[0])
      return krt_error(KRT_ERR_SHAPE, "krt_context_run: input '%s' has batch %lld but input '%s' has batch %lld",
                       v->name, (long long)c->inputs[i].dims[0], g->values[g->inputs[first]].name,
                       (long long)c->inputs[first].dims[0]);
  }
  *batch = first >= 0 ? c->inputs[first].dims[0] : 1;
  return NULL;
}

static krt_status *run_bound(krt_context *c, void *stream, int wait);

/* Records how a run ended. A failed run leaves no outputs: the caller asked for new results, so
 * the previous run's (possibly half overwritten) are not current either. */
static krt_status *finish_run(krt_context *c, krt_status *s) {
  c->has_run = !s;
  c->last_run_failed = s != NULL;
  return s;
}

/* A run on a backend without run_bound (the CPU): inputs written, run, outputs read back. */
static krt_status *run_host(krt_context *context) {
  const krt_engine *e = context->engine;
  const ir_graph *g = e->graph;
  const krt_backend *b = e->backend;
  int64_t batch = 1;
  KRT_TRY(run_batch(context, &batch));
  for (int i = 0; i < g->n_outputs; i++) {
    context_output *o = &context->outputs[i];
    int64_t n = ir_value_elements(&g->values[g->outputs[i]], batch);
    if (o->bound_data && (uint64_t)o->bound_bytes < (uint64_t)n * 4)
      return krt_error(KRT_ERR_INVALID_ARGUMENT,
                       "krt_context_run: output '%s': the bound buffer has %zu bytes, batch %lld needs %lld",
                       g->output_names[i], o->bound_bytes, (long long)batch, (long long)n * 4);
  }

  for (int i = 0; i < g->n_inputs; i++) {
    int value = g->inputs[i];
    if (e->plan.offset[value] < 0) continue; /* an input no output depends on */
    const context_input *in = &context->inputs[i];
    int64_t n = (int64_t)(in->bytes / krt_dtype_size(in->dtype));
    const float *host = in->data;
    if (b->input_dtype && b->input_dtype(e->backend_state, value) == KRT_INT32) {
      /* Kept as int32 by the backend: exact, whatever the magnitude. */
      KRT_TRY(convert_to_int32(&g->values[value], in->dtype, in->data, (int32_t *)(void *)context->scratch, n));
      KRT_TRY(b->write_value(context->backend_state, value, context->scratch, n));
      continue;
    }
    KRT_TRY(check_integer_values(&g->values[value], in->dtype, in->data, n));
    if (in->dtype != KRT_FLOAT32 || ((uintptr_t)in->data % sizeof(float)) != 0) {
      convert_to_float(in->dtype, in->data, context->scratch, n);
      host = context->scratch;
    }
    KRT_TRY(b->write_value(context->backend_state, value, host, n));
  }
  KRT_TRY(b->run(context->backend_state, batch));
  for (int i = 0; i < g->n_outputs; i++) {
    context_output *o = &context->outputs[i];
    const ir_value *v = &g->values[g->outputs[i]];
    int64_t n = ir_value_elements(v, batch);
    float *dst = o->bound_data ? o->bound_data : o->own;
    KRT_TRY(b->read_value(context->backend_state, g->outputs[i], dst, n));
    o->rank = v->rank;
    memcpy(o->dims, v->dims, sizeof o->dims);
    if (v->batched && v->rank > 0) o->dims[0] = batch;
    o->last_data = dst;
    o->last_dtype = KRT_FLOAT32;
  }
  return NULL;
}

krt_status *krt_context_run(krt_context *context) {
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_run: context is NULL");
  if (context->engine->backend->run_bound) return finish_run(context, run_bound(context, NULL, 1));
  return finish_run(context, run_host(context));
}

krt_status *krt_context_get_output(const krt_context *context, size_t index, krt_tensor_view *out) {
  static const char *fn = "krt_context_get_output";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (index >= n_outputs(context))
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index %zu is out of range (the engine has %zu outputs)",
                     fn, index, n_outputs(context));
  if (!context->has_run && context->last_run_failed)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: the last run on this context failed, so it has no outputs (they are "
                     "readable again after a run that succeeds)", fn);
  if (!context->has_run)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: no run has completed on this context (call krt_context_run first)", fn);
  const context_output *o = &context->outputs[index];
  memset(out, 0, sizeof *out);
  out->name = context->engine->graph->output_names[index];
  out->dtype = o->last_dtype;
  out->rank = o->rank;
  memcpy(out->dims, o->dims, sizeof out->dims);
  out->data = o->last_data;
  return NULL;
}

/* ---- CUDA engines: device buffers, streams, timings ---------------------------------------- */

static krt_status *cuda_only(const krt_context *c, const char *fn) {
  if (c->engine->backend->run_bound) return NULL;
  return krt_error(KRT_ERR_UNSUPPORTED, "%s: the engine runs on the %s, not on a CUDA device", fn,
                   c->engine->backend->name);
}

/* FLOAT32, or FLOAT16 on an FP16 engine: what device buffers may hold. */
static krt_status *check_device_dtype(const krt_context *c, krt_dtype dtype, const char *fn,
                                      const char *what, const char *name) {
  if (dtype == KRT_FLOAT32) return NULL;
  if (dtype == KRT_FLOAT16 && c->engine->meta.precision == KRT_PRECISION_FP16) return NULL;
  return krt_error(KRT_ERR_INVALID_ARGUMENT,
                   "%s: %s '%s': a device buffer of %s; use float32%s", fn, what, name,
                   krt_dtype_name(dtype),
                   c->engine->meta.precision == KRT_PRECISION_FP16 ? " or float16" : "");
}

krt_status *krt_context_set_input_device(krt_context *context, size_t index, krt_dtype dtype,
                                         const int64_t *dims, int rank, const void *device_data) {
  static const char *fn = "krt_context_set_input_device";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  KRT_TRY(cuda_only(context, fn));
  if (index >= n_inputs(context))
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index %zu is out of range (the engine has %zu inputs)",
                     fn, index, n_inputs(context));
  const char *name = engine_input_value(context->engine, index)->name;
  if (!device_data)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: input '%s': device_data is NULL", fn, name);
  KRT_TRY(check_device_dtype(context, dtype, fn, "input", name));
  int64_t elements = 1;
  KRT_TRY(check_input_dims(context, index, dims, rank, fn, &elements));
  context_input *in = &context->inputs[index];
  in->bound = 1;
  in->on_device = 1;
  in->dtype = dtype;
  in->rank = rank;
  memcpy(in->dims, dims, (size_t)rank * sizeof *dims);
  in->data = device_data;
  in->bytes = (size_t)elements * krt_dtype_size(dtype);
  return NULL;
}

krt_status *krt_context_set_output_device(krt_context *context, size_t index, krt_dtype dtype,
                                          void *device_data, size_t bytes) {
  static const char *fn = "krt_context_set_output_device";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  KRT_TRY(cuda_only(context, fn));
  if (index >= n_outputs(context))
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index %zu is out of range (the engine has %zu outputs)",
                     fn, index, n_outputs(context));
  const char *name = context->engine->graph->output_names[index];
  context_output *o = &context->outputs[index];
  if (!device_data) { /* unbind, as krt_context_set_output with NULL */
    o->on_device = 0;
    o->bound_data = NULL;
    o->bound_bytes = 0;
    return NULL;
  }
  KRT_TRY(check_device_dtype(context, dtype, fn, "output", name));
  int64_t per_sample = ir_value_elements(engine_output_value(context->engine, index), 1);
  size_t esize = krt_dtype_size(dtype);
  if ((uint64_t)bytes < (uint64_t)per_sample * esize)
    return krt_error(KRT_ERR_INVALID_ARGUMENT,
                     "%s: output '%s': %zu bytes is less than one sample (%lld %s values, %lld bytes)",
                     fn, name, bytes, (long long)per_sample, krt_dtype_name(dtype),
                     (long long)per_sample * (long long)esize);
  o->on_device = 1;
  o->device_dtype = dtype;
  o->bound_data = device_data;
  o->bound_bytes = bytes;
  return NULL;
}

/* A run through the backend's run_bound: host inputs converted to float32 here, device buffers
 * passed as they are; the backend copies, computes and (when `wait`) waits. */
static krt_status *run_bound(krt_context *c, void *stream, int wait) {
  const char *fn = wait ? "krt_context_run" : "krt_context_run_async";
  const krt_engine *e = c->engine;
  const ir_graph *g = e->graph;
  int64_t batch = 1;
  KRT_TRY(run_batch(c, &batch));
  for (int i = 0; i < g->n_outputs; i++) {
    const context_output *o = &c->outputs[i];
    int64_t n = ir_value_elements(&g->values[g->outputs[i]], batch);
    size_t esize = o->on_device ? krt_dtype_size(o->device_dtype) : sizeof(float);
    if (o->bound_data && (uint64_t)o->bound_bytes < (uint64_t)n * esize)
      return krt_error(KRT_ERR_INVALID_ARGUMENT,
                       "%s: output '%s': the bound buffer has %zu bytes, batch %lld needs %lld", fn,
                       g->output_names[i], o->bound_bytes, (long long)batch,
                       (long long)n * (long long)esize);
  }
  int n_in = 0;
  for (int i = 0; i < g->n_inputs; i++) {
    int value = g->inputs[i];
    if (e->plan.offset[value] < 0) continue; /* an input no output depends on */
    const context_input *in = &c->inputs[i];
    backend_binding *b = &c->in_bindings[n_in++];
    b->value = value;
    b->on_device = in->on_device;
    b->count = (int64_t)(in->bytes / krt_dtype_size(in->dtype));
    b->dtype = in->dtype;
    b->data = (void *)(uintptr_t)in->data;
    if (!in->on_device) KRT_TRY(check_integer_values(&g->values[value], in->dtype, in->data, b->count));
    if (!in->on_device &&
        (in->dtype != KRT_FLOAT32 || ((uintptr_t)in->data % sizeof(float)) != 0)) {
      float *converted = c->scratch + c->scratch_offset[i];
      convert_to_float(in->dtype, in->data, converted, b->count);
      b->data = converted;
      b->dtype = KRT_FLOAT32;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    const context_output *o = &c->outputs[i];
    backend_binding *b = &c->out_bindings[i];
    b->value = g->outputs[i];
    b->on_device = o->on_device;
    b->dtype = o->on_device ? o->device_dtype : KRT_FLOAT32;
    b->data = o->bound_data ? o->bound_data : o->own;
    b->count = ir_value_elements(&g->values[g->outputs[i]], batch);
  }
  backend_run_args args = {batch, c->in_bindings, n_in, c->out_bindings, g->n_outputs, stream, wait};
  KRT_TRY(e->backend->run_bound(c->backend_state, &args));
  for (int i = 0; i < g->n_outputs; i++) {
    context_output *o = &c->outputs[i];
    const ir_value *v = &g->values[g->outputs[i]];
    o->rank = v->rank;
    memcpy(o->dims, v->dims, sizeof o->dims);
    if (v->batched && v->rank > 0) o->dims[0] = batch;
    o->last_data = c->out_bindings[i].data;
    o->last_dtype = c->out_bindings[i].dtype;
  }
  return NULL;
}

krt_status *krt_context_run_async(krt_context *context, void *cuda_stream) {
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_run_async: context is NULL");
  if (!context->engine->backend->run_bound) return krt_context_run(context);
  return finish_run(context, run_bound(context, cuda_stream, 0));
}

krt_status *krt_context_synchronize(krt_context *context) {
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_synchronize: context is NULL");
  const krt_backend *b = context->engine->backend;
  if (!b->synchronize) return NULL;
  krt_status *s = b->synchronize(context->backend_state);
  return s ? finish_run(context, s) : NULL; /* the outputs of a failed run are not results */
}

krt_status *krt_context_last_timing(const krt_context *context, krt_run_timing *out) {
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_last_timing: context is NULL");
  if (!out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "krt_context_last_timing: out is NULL");
  const krt_backend *b = context->engine->backend;
  memset(out, 0, sizeof *out);
  if (!b->last_timing) return NULL; /* nothing measured on this device */
  return b->last_timing(context->backend_state, out);
}

krt_status *krt_context_set_profiling(krt_context *context, int enable) {
  static const char *fn = "krt_context_set_profiling";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  const krt_backend *b = context->engine->backend;
  if (!b->set_profiling)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: per-node profiling needs a CUDA engine (this one runs on the %s)",
                     fn, b->name);
  return b->set_profiling(context->backend_state, enable);
}

krt_status *krt_context_node_time(const krt_context *context, size_t index, double *ms) {
  static const char *fn = "krt_context_node_time";
  if (!context) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: context is NULL", fn);
  if (!ms) return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: ms is NULL", fn);
  const krt_backend *b = context->engine->backend;
  if (!b->node_time)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: per-node profiling needs a CUDA engine (this one runs on the %s)",
                     fn, b->name);
  int n = context->engine->graph->n_nodes;
  if (index >= (size_t)n)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: index %zu is out of range (the engine has %d nodes)",
                     fn, index, n);
  return b->node_time(context->backend_state, (int)index, ms);
}
