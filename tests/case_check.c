/* One case: case.json and npy files in, a PASS/FAIL result out (case_check.h). */
#include "case_check.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krt.h"
#include "npy.h"

static void set_result(case_result *r, result_kind kind, const char *fmt, ...) {
  r->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
}

#define MAX_TENSORS 64

static krt_device target_device = KRT_DEVICE_CPU;
static krt_precision target_precision = KRT_PRECISION_FP32;

void case_check_set_target(krt_device device, krt_precision precision) {
  target_device = device;
  target_precision = precision;
}

/* Input shapes per case (case_check_load_input_shapes): case name -> "NAME:D1xD2x... ...". */
#define MAX_SHAPED_CASES 64
static struct {
  char name[128];
  char spec[512];
} shaped_cases[MAX_SHAPED_CASES];
static int n_shaped_cases;

int case_check_load_input_shapes(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "run_cases: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[700];
  int bad = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    if (!tab || n_shaped_cases == MAX_SHAPED_CASES || (size_t)(tab - line) >= 128 ||
        strlen(tab + 1) >= 512) {
      fprintf(stderr, "run_cases: %s: bad line '%s' (case<TAB>NAME:D1xD2x... ...)\n", path, line);
      bad = 1;
      continue;
    }
    *tab = '\0';
    /* lengths checked above */
    memcpy(shaped_cases[n_shaped_cases].name, line, strlen(line) + 1);
    memcpy(shaped_cases[n_shaped_cases].spec, tab + 1, strlen(tab + 1) + 1);
    n_shaped_cases++;
  }
  fclose(f);
  return bad ? -1 : 0;
}

static const char *input_shapes_for(const char *dir) {
  const char *name = strrchr(dir, '/');
  name = name && name[1] ? name + 1 : dir;
  for (int i = 0; i < n_shaped_cases; i++)
    if (strcmp(shaped_cases[i].name, name) == 0) return shaped_cases[i].spec;
  return NULL;
}

/* Options from an input-shapes line: every "NAME:D1xD2x..." set as the input's full shape, the
 * first one's D1 the max batch. -1 with the reason in r. */
static int options_from_shapes(const char *spec, krt_build_options **out, case_result *r) {
  char buf[512], msg[MESSAGE_SIZE];
  krt_status *s = krt_build_options_create(out);
  snprintf(buf, sizeof buf, "%s", spec);
  int first = 1;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); !s && tok;
       tok = strtok_r(NULL, " ", &save)) {
    char *colon = strrchr(tok, ':');
    int64_t dims[KRT_MAX_RANK];
    int rank = 0;
    for (char *p = colon ? colon + 1 : NULL; p && *p && rank < KRT_MAX_RANK; rank++) {
      dims[rank] = strtoll(p, &p, 10);
      if (*p == 'x') p++;
    }
    if (!colon || rank == 0) {
      set_result(r, RESULT_FAIL, "bad input shape '%s' (NAME:D1xD2x...)", tok);
      return -1;
    }
    *colon = '\0';
    if (first) s = krt_build_options_set_max_batch(*out, dims[0]);
    first = 0;
    if (!s) s = krt_build_options_set_input_shape(*out, tok, rank, dims);
  }
  if (!s) s = krt_build_options_set_device(*out, target_device);
  if (!s) s = krt_build_options_set_precision(*out, target_precision);
  if (s) {
    set_result(r, RESULT_FAIL, "input shapes: %s", take_message(s, msg, sizeof msg));
    return -1;
  }
  return 0;
}

/* ||got - expected||_2 / ||expected||_2 (0/0 counts as 0, x/0 as infinity). */
static double normalised_error(krt_dtype got_type, const void *got, krt_dtype exp_type,
                               const void *expected, int64_t n) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double e = element_as_double(exp_type, expected, i);
    double d = element_as_double(got_type, got, i) - e;
    diff += d * d;
    norm += e * e;
  }
  if (diff != diff) return INFINITY; /* NaN */
  if (norm == 0.0) return diff == 0.0 ? 0.0 : INFINITY;
  return sqrt(diff / norm);
}

/* max|got - expected| / max|expected| (0/0 counts as 0, x/0 as infinity, NaN as infinity). */
static double max_normalised_error(krt_dtype got_type, const void *got, krt_dtype exp_type,
                                   const void *expected, int64_t n) {
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double e = element_as_double(exp_type, expected, i);
    double d = fabs(element_as_double(got_type, got, i) - e);
    if (!(d <= diff)) diff = d; /* a NaN difference sticks */
    if (fabs(e) > scale) scale = fabs(e);
  }
  if (diff != diff) return INFINITY;
  if (scale == 0.0) return diff == 0.0 ? 0.0 : INFINITY;
  return diff / scale;
}

typedef struct case_data {
  const char *dir;
  cJSON *json;
  char model_path[PATH_SIZE];
  int n_inputs, n_outputs;
  const char *input_names[MAX_TENSORS]; /* point into json */
  const char *output_names[MAX_TENSORS];
  npy_array inputs[MAX_TENSORS];
  npy_array expected[MAX_TENSORS];
  double rtol, atol;
  double max_normalised; /* > 0: compare by max-normalised error only (case_check.h) */
  const cJSON *labels;   /* "expected_labels" or NULL */
  int64_t batch;         /* of the inputs; 0 when there are none */
  int refusal_ok;        /* "refusal_ok": true: KRT_ERR_UNSUPPORTED is an answer, not a failure */
  const char *expected_refusal; /* "expected_refusal": krt must refuse with this in its message */
} case_data;

static void free_case(case_data *c) {
  for (int i = 0; i < c->n_inputs; i++) npy_free(&c->inputs[i]);
  for (int j = 0; j < c->n_outputs; j++) npy_free(&c->expected[j]);
  cJSON_Delete(c->json);
}

/* Reads the {"name", "file"} entries of one array of case.json and their npy files. */
static int load_tensor_list(case_data *c, const char *key, const char **names, npy_array *arrays,
                            int *count, case_result *r) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(c->json, key);
  if (!cJSON_IsArray(list)) {
    set_result(r, RESULT_FAIL, "case.json: \"%s\" is missing or not a list", key);
    return -1;
  }
  int n = cJSON_GetArraySize(list);
  if (n > MAX_TENSORS) {
    set_result(r, RESULT_FAIL, "case.json: %d %s, at most %d supported", n, key, MAX_TENSORS);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const cJSON *entry = cJSON_GetArrayItem(list, i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(entry, "file");
    if (!cJSON_IsString(name) || !cJSON_IsString(file)) {
      set_result(r, RESULT_FAIL, "case.json: %s[%d] needs string \"name\" and \"file\"", key, i);
      return -1;
    }
    char path[PATH_SIZE], err[512];
    if (!join_path(path, c->dir, file->valuestring)) {
      set_result(r, RESULT_FAIL, "case.json: %s[%d]: path too long", key, i);
      return -1;
    }
    if (npy_read(path, &arrays[i], err, sizeof err)) {
      set_result(r, RESULT_FAIL, "%s[%d] (%s): %s", key, i, name->valuestring, err);
      return -1;
    }
    names[i] = name->valuestring;
    (*count)++;
  }
  return 0;
}

static double number_or(const cJSON *json, const char *key, double fallback) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);
  return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

static int load_case(const char *dir, case_data *c, case_result *r) {
  c->dir = dir;
  char path[PATH_SIZE];
  if (!join_path(path, dir, "case.json")) {
    set_result(r, RESULT_FAIL, "path too long");
    return -1;
  }
  char *text = read_text_file(path);
  if (!text) {
    set_result(r, RESULT_FAIL, "cannot read case.json: %s", strerror(errno));
    return -1;
  }
  c->json = cJSON_Parse(text);
  free(text);
  if (!cJSON_IsObject(c->json)) {
    set_result(r, RESULT_FAIL, "case.json is not a JSON object");
    return -1;
  }
  static const char *const model_files[] = {"model.keras", "model.h5", "model.pb", "model.onnx",
                                            "model.uff"};
  c->model_path[0] = '\0';
  for (size_t i = 0; i < sizeof model_files / sizeof *model_files; i++) {
    if (join_path(path, dir, model_files[i]) && is_file(path)) {
      snprintf(c->model_path, sizeof c->model_path, "%s", path);
      break;
    }
  }
  /* A SavedModel is a directory: saved_model/saved_model.pb. */
  if (!c->model_path[0] && join_path(path, dir, "saved_model/saved_model.pb") && is_file(path) &&
      join_path(path, dir, "saved_model"))
    snprintf(c->model_path, sizeof c->model_path, "%s", path);
  if (!c->model_path[0]) {
    set_result(r, RESULT_FAIL, "no model.keras, model.h5, model.pb, model.onnx, model.uff or saved_model/ in the case folder");
    return -1;
  }
  if (load_tensor_list(c, "inputs", c->input_names, c->inputs, &c->n_inputs, r) ||
      load_tensor_list(c, "outputs", c->output_names, c->expected, &c->n_outputs, r))
    return -1;
  c->rtol = number_or(c->json, "rtol", 1e-4);
  c->atol = number_or(c->json, "atol", 1e-5);
  c->max_normalised = number_or(c->json, "max_normalised_error", 0.0);
  if (target_precision == KRT_PRECISION_TF32 && c->max_normalised > 0)
    c->max_normalised =
        number_or(c->json, "max_normalised_error_tf32", CASE_TF32_MAX_NORMALISED);
  if (target_precision == KRT_PRECISION_FP16 && c->max_normalised > 0)
    c->max_normalised =
        number_or(c->json, "max_normalised_error_fp16", CASE_FP16_MAX_NORMALISED);
  c->labels = cJSON_GetObjectItemCaseSensitive(c->json, "expected_labels");
  c->refusal_ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->json, "refusal_ok"));
  const cJSON *refusal = cJSON_GetObjectItemCaseSensitive(c->json, "expected_refusal");
  if (refusal && !cJSON_IsString(refusal)) {
    set_result(r, RESULT_FAIL, "case.json: \"expected_refusal\" is not a string");
    return -1;
  }
  c->expected_refusal = refusal ? refusal->valuestring : NULL;
  if (c->labels && !cJSON_IsArray(c->labels)) {
    set_result(r, RESULT_FAIL, "case.json: \"expected_labels\" is not a list");
    return -1;
  }
  r->has_reference = c->n_outputs > 0 || c->labels != NULL;
  /* ONNX graphs take weight-like inputs of their own first sizes (a Gemm's B): which inputs are
   * batched is the engine's to say, and the run checks the bound shapes. The max batch is then
   * the largest first size. */
  const cJSON *format = cJSON_GetObjectItemCaseSensitive(c->json, "format");
  int onnx = cJSON_IsString(format) && strcmp(format->valuestring, "onnx") == 0;
  for (int i = 0; i < c->n_inputs; i++) {
    int64_t b = c->inputs[i].rank > 0 ? c->inputs[i].dims[0] : 1;
    if (onnx) {
      if (b > c->batch) c->batch = b;
      continue;
    }
    /* Inputs of graphs with fixed shapes (TensorFlow placeholders of shape [2, 3] and [3]) are
     * not batched and need not agree; the first one's axis 0 is the batch the engine is built
     * for, and a batched model whose inputs disagree fails when it runs. */
    if (i == 0) c->batch = b;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Running a case through the public API
 * ------------------------------------------------------------------------------------------- */

typedef struct case_run {
  krt_model *model;
  krt_build_options *options;
  krt_engine *engine;
  krt_context *context;
  void *zeros[MAX_TENSORS]; /* smoke cases without inputs run on zeros */
  char notes[512];          /* appended to the PASS line: name fallbacks and the like */
} case_run;

static void free_run(case_run *run) {
  krt_context_release(run->context);
  krt_engine_release(run->engine);
  krt_build_options_release(run->options);
  krt_model_release(run->model);
  for (int i = 0; i < MAX_TENSORS; i++) free(run->zeros[i]);
}

/* Index of the model input the case's input i feeds: by name, else by position. */
static int match_model_input(const case_data *c, case_run *run, int i, size_t *index,
                             case_result *r) {
  size_t n = krt_model_input_count(run->model);
  for (size_t k = 0; k < n; k++) {
    krt_tensor_info info;
    krt_status *s = krt_model_input_info(run->model, k, &info);
    if (s) {
      char buf[MESSAGE_SIZE];
      set_result(r, RESULT_FAIL, "model input %zu: %s", k, take_message(s, buf, sizeof buf));
      return -1;
    }
    if (info.name && strcmp(info.name, c->input_names[i]) == 0) {
      *index = k;
      return 0;
    }
  }
  if (n == (size_t)c->n_inputs) {
    if (!strstr(run->notes, "inputs by position"))
      append(run->notes, sizeof run->notes, "; inputs by position");
    *index = (size_t)i;
    return 0;
  }
  set_result(r, RESULT_FAIL, "the model has no input named '%s' (and %zu inputs, not %d)",
             c->input_names[i], n, c->n_inputs);
  return -1;
}

/* Options: the inputs' batch as max batch, and the full shape of every input whose declared
 * shape leaves a non-batch dimension unknown (variable-length sequences). */
static int make_options(const case_data *c, case_run *run, case_result *r) {
  char buf[MESSAGE_SIZE];
  krt_status *s = krt_build_options_create(&run->options);
  if (!s && c->batch > 0) s = krt_build_options_set_max_batch(run->options, c->batch);
  if (!s) s = krt_build_options_set_device(run->options, target_device);
  if (!s) s = krt_build_options_set_precision(run->options, target_precision);
  if (s) {
    set_result(r, RESULT_FAIL, "build options: %s", take_message(s, buf, sizeof buf));
    return -1;
  }
  for (int i = 0; i < c->n_inputs; i++) {
    size_t k;
    if (match_model_input(c, run, i, &k, r)) return -1;
    krt_tensor_info info;
    if ((s = krt_model_input_info(run->model, k, &info))) {
      set_result(r, RESULT_FAIL, "model input %zu: %s", k, take_message(s, buf, sizeof buf));
      return -1;
    }
    int unknown = 0;
    for (int d = 0; d < info.rank; d++) unknown |= d != info.batch_axis && info.dims[d] < 0;
    if (!unknown || c->inputs[i].rank == 0) continue;
    s = krt_build_options_set_input_shape(run->options, info.name, c->inputs[i].rank,
                                          c->inputs[i].dims);
    if (s) {
      set_result(r, RESULT_FAIL, "input '%s' shape: %s", info.name,
                 take_message(s, buf, sizeof buf));
      return -1;
    }
  }
  return 0;
}

/* What a user does when a graph moves or reduces its batch axis (a TensorFlow graph's Transpose
 * of axis 0): build again with every input's shape given as the case's inputs have it, so the
 * importer may fix the first sizes (an engine for exactly those shapes). 1 when that built. */
static int retry_with_input_shapes(const case_data *c, case_run *run) {
  if (c->n_inputs == 0) return 0;
  char spec[512] = "";
  for (int i = 0; i < c->n_inputs; i++) {
    if (c->inputs[i].rank == 0 || !c->input_names[i]) return 0;
    size_t used = strlen(spec);
    snprintf(spec + used, sizeof spec - used, "%s%s:", i ? " " : "", c->input_names[i]);
    for (int d = 0; d < c->inputs[i].rank; d++) {
      used = strlen(spec);
      snprintf(spec + used, sizeof spec - used, "%s%lld", d ? "x" : "",
               (long long)c->inputs[i].dims[d]);
    }
  }
  if (strlen(spec) >= sizeof spec - 1) return 0;
  case_result ignored;
  memset(&ignored, 0, sizeof ignored);
  krt_build_options *options = NULL;
  if (options_from_shapes(spec, &options, &ignored)) return 0;
  krt_engine *engine = NULL;
  krt_status *s = krt_engine_build(c->model_path, options, &engine);
  if (s) {
    krt_status_release(s);
    krt_build_options_release(options);
    return 0;
  }
  krt_build_options_release(run->options);
  run->options = options;
  run->engine = engine;
  append(run->notes, sizeof run->notes, "; built with the inputs' shapes given");
  return 1;
}

/* Builds, serialises and reloads the engine. Returns 1 when the build was refused (the status
 * is returned in *refusal for the caller to judge), 0 on success, -1 on a failure. */
static int build_engine(const case_data *c, case_run *run, krt_status **refusal, case_result *r) {
  char buf[MESSAGE_SIZE];
  const char *shapes = input_shapes_for(c->dir);
  krt_status *s = NULL;
  if (shapes && c->n_inputs == 0) {
    /* a model that cannot be imported without its input shapes (UFF): built from the file */
    if (options_from_shapes(shapes, &run->options, r)) return -1;
    s = krt_engine_build(c->model_path, run->options, &run->engine);
  } else {
    s = krt_model_import(c->model_path, &run->model);
    if (!s && make_options(c, run, r)) return -1;
    if (!s) s = krt_engine_build_from_model(run->model, run->options, &run->engine);
    if (s && (krt_status_code(s) == KRT_ERR_UNSUPPORTED || krt_status_code(s) == KRT_ERR_SHAPE) &&
        retry_with_input_shapes(c, run)) {
      krt_status_release(s);
      s = NULL;
    }
  }
  if (s) {
    *refusal = s;
    return 1;
  }
  void *bytes = NULL;
  size_t size = 0;
  if ((s = krt_engine_serialize(run->engine, &bytes, &size))) {
    set_result(r, RESULT_FAIL, "engine_serialize: %s", take_message(s, buf, sizeof buf));
    return -1;
  }
  krt_engine *loaded = NULL;
  s = krt_engine_load_memory(bytes, size, &loaded);
  krt_free(bytes);
  if (s) {
    set_result(r, RESULT_FAIL, "engine_load_memory of the serialised engine (%zu bytes): %s", size,
               take_message(s, buf, sizeof buf));
    return -1;
  }
  krt_engine_release(run->engine);
  run->engine = loaded;
  if ((s = krt_context_create(run->engine, &run->context))) {
    set_result(r, RESULT_FAIL, "context_create: %s", take_message(s, buf, sizeof buf));
    return -1;
  }
  return 0;
}

static int bind_case_inputs(const case_data *c, case_run *run, case_result *r) {
  char buf[MESSAGE_SIZE];
  size_t n = krt_engine_input_count(run->engine);
  for (int i = 0; i < c->n_inputs; i++) {
    const npy_array *a = &c->inputs[i];
    size_t index = (size_t)i;
    krt_status *s = krt_engine_find_input(run->engine, c->input_names[i], &index);
    if (s && n == (size_t)c->n_inputs) {
      krt_status_release(s);
      s = NULL;
      index = (size_t)i;
      if (!strstr(run->notes, "inputs by position"))
        append(run->notes, sizeof run->notes, "; inputs by position");
    }
    if (!s)
      s = krt_context_set_input(run->context, index, a->dtype, a->dims, a->rank, a->data, a->bytes);
    if (s) {
      set_result(r, RESULT_FAIL, "input '%s': %s", c->input_names[i],
                 take_message(s, buf, sizeof buf));
      return -1;
    }
  }
  return 0;
}

/* Smoke cases without inputs: zeros of batch 1 for every input whose shape is fully known. */
static int bind_zero_inputs(case_run *run, case_result *r) {
  char buf[MESSAGE_SIZE];
  size_t n = krt_engine_input_count(run->engine);
  if (n > MAX_TENSORS) return 0;
  for (size_t k = 0; k < n; k++) {
    krt_tensor_info info;
    krt_status *s = krt_engine_input_info(run->engine, k, &info);
    if (s) {
      set_result(r, RESULT_FAIL, "engine input %zu: %s", k, take_message(s, buf, sizeof buf));
      return -1;
    }
    int64_t dims[KRT_MAX_RANK];
    for (int d = 0; d < info.rank; d++) {
      dims[d] = d == info.batch_axis ? 1 : info.dims[d];
      if (dims[d] < 0) return 0; /* unknown: not runnable without data */
    }
    int64_t count = element_count(info.rank, dims);
    /* Zeros in the input's own dtype (an integer input takes integer data). */
    size_t esize = krt_dtype_size(info.dtype);
    size_t bytes = (size_t)count * esize;
    run->zeros[k] = calloc(count > 0 ? (size_t)count : 1, esize);
    if (!run->zeros[k]) {
      set_result(r, RESULT_FAIL, "out of memory for zero inputs");
      return -1;
    }
    s = krt_context_set_input(run->context, k, info.dtype, dims, info.rank, run->zeros[k], bytes);
    if (s) {
      set_result(r, RESULT_FAIL, "zero input '%s': %s", info.name,
                 take_message(s, buf, sizeof buf));
      return -1;
    }
  }
  return 1;
}

/* The engine output that case output j names: by name, else by position. */
static int find_case_output(const case_data *c, case_run *run, int j, size_t *index,
                            case_result *r) {
  char buf[MESSAGE_SIZE];
  krt_status *s = krt_engine_find_output(run->engine, c->output_names[j], index);
  if (!s) return 0;
  if (krt_engine_output_count(run->engine) == (size_t)c->n_outputs) {
    krt_status_release(s);
    *index = (size_t)j;
    if (!strstr(run->notes, "outputs by position"))
      append(run->notes, sizeof run->notes, "; outputs by position");
    return 0;
  }
  set_result(r, RESULT_FAIL, "output '%s': %s", c->output_names[j],
             take_message(s, buf, sizeof buf));
  return -1;
}

static int check_outputs(const case_data *c, case_run *run, case_result *r) {
  char buf[MESSAGE_SIZE], got_dims[256], exp_dims[256];
  double max_error = 0.0, max_normalised = 0.0;
  for (int j = 0; j < c->n_outputs; j++) {
    size_t index;
    if (find_case_output(c, run, j, &index, r)) return -1;
    krt_tensor_view view;
    krt_status *s = krt_context_get_output(run->context, index, &view);
    if (s) {
      set_result(r, RESULT_FAIL, "get output '%s': %s", c->output_names[j],
                 take_message(s, buf, sizeof buf));
      return -1;
    }
    const npy_array *e = &c->expected[j];
    format_dims(got_dims, sizeof got_dims, view.rank, view.dims);
    format_dims(exp_dims, sizeof exp_dims, e->rank, e->dims);
    if (strcmp(got_dims, exp_dims) != 0) {
      set_result(r, RESULT_FAIL, "output '%s': shape %s, expected %s", c->output_names[j], got_dims,
                 exp_dims);
      return -1;
    }
    int64_t n = element_count(e->rank, e->dims);
    if (c->max_normalised > 0) {
      double err = max_normalised_error(view.dtype, view.data, e->dtype, e->data, n);
      if (!(err <= c->max_normalised)) {
        set_result(r, RESULT_FAIL, "output '%s' %s: max normalised error %.3g > %g",
                   c->output_names[j], exp_dims, err, c->max_normalised);
        return -1;
      }
      if (err > max_normalised) max_normalised = err;
      continue;
    }
    int fp16 = target_precision == KRT_PRECISION_FP16;
    int reduced = fp16 || target_precision == KRT_PRECISION_TF32;
    double loose = fp16 ? CASE_FP16_TOLERANCE : CASE_TF32_TOLERANCE;
    double rtol = reduced ? loose : c->rtol, atol = reduced ? loose : c->atol;
    if (reduced) {
      double bound = fp16 ? CASE_FP16_NORM_TOLERANCE : CASE_TF32_NORM_TOLERANCE;
      double norm = normalised_error(view.dtype, view.data, e->dtype, e->data, n);
      if (!(norm <= bound)) {
        set_result(r, RESULT_FAIL, "output '%s' %s: normalised error %.3g > %g (%s)",
                   c->output_names[j], exp_dims, norm, bound, fp16 ? "fp16" : "tf32");
        return -1;
      }
    }
    comparison cmp = compare_values(view.dtype, view.data, e->dtype, e->data, n, rtol, atol);
    if (cmp.mismatches) {
      char what[MESSAGE_SIZE];
      snprintf(what, sizeof what, "output '%s' %s", c->output_names[j], exp_dims);
      r->message[0] = '\0';
      describe_mismatch(r->message, sizeof r->message, what, &cmp, n);
      append(r->message, sizeof r->message, " [rtol %g, atol %g]", rtol, atol);
      r->kind = RESULT_FAIL;
      return -1;
    }
    if (cmp.max_abs_error > max_error) max_error = cmp.max_abs_error;
  }
  if (c->n_outputs && c->max_normalised > 0)
    set_result(r, RESULT_PASS, "%d output%s, max normalised error %.3g (limit %g)", c->n_outputs,
               c->n_outputs == 1 ? "" : "s", max_normalised, c->max_normalised);
  else if (c->n_outputs)
    set_result(r, RESULT_PASS, "%d output%s, max abs error %.3g", c->n_outputs,
               c->n_outputs == 1 ? "" : "s", max_error);
  return 0;
}

/* expected_labels: the argmax of each row of output 0 (first output of the engine). */
static int check_labels(const case_data *c, case_run *run, case_result *r) {
  char buf[MESSAGE_SIZE];
  krt_tensor_view view;
  krt_status *s = krt_context_get_output(run->context, 0, &view);
  if (s) {
    set_result(r, RESULT_FAIL, "get output 0: %s", take_message(s, buf, sizeof buf));
    return -1;
  }
  int rows = cJSON_GetArraySize(c->labels);
  if (view.rank < 1 || view.dims[0] != rows) {
    set_result(r, RESULT_FAIL, "output 0 has %lld rows, %d labels",
               view.rank ? (long long)view.dims[0] : 0LL, rows);
    return -1;
  }
  int64_t width = element_count(view.rank - 1, view.dims + 1);
  for (int row = 0; row < rows; row++) {
    int64_t best = 0;
    for (int64_t k = 1; k < width; k++)
      if (element_as_double(view.dtype, view.data, row * width + k) >
          element_as_double(view.dtype, view.data, row * width + best))
        best = k;
    const cJSON *label = cJSON_GetArrayItem(c->labels, row);
    if (!cJSON_IsNumber(label) || (int64_t)label->valuedouble != best) {
      set_result(r, RESULT_FAIL, "row %d: argmax %lld, expected label %g", row, (long long)best,
                 cJSON_IsNumber(label) ? label->valuedouble : NAN);
      return -1;
    }
  }
  if (c->n_outputs == 0) set_result(r, RESULT_PASS, "argmax matches %d labels", rows);
  return 0;
}

/* Smoke cases: the outputs exist and their batch is the one fed. */
static int check_plausible_outputs(case_run *run, int64_t batch, case_result *r) {
  char buf[MESSAGE_SIZE], dims[256];
  size_t n = krt_engine_output_count(run->engine);
  set_result(r, RESULT_PASS, "built and ran; outputs");
  for (size_t k = 0; k < n; k++) {
    krt_tensor_view view;
    krt_status *s = krt_context_get_output(run->context, k, &view);
    if (s) {
      set_result(r, RESULT_FAIL, "get output %zu: %s", k, take_message(s, buf, sizeof buf));
      return -1;
    }
    format_dims(dims, sizeof dims, view.rank, view.dims);
    if (view.rank < 1 || view.dims[0] != batch || krt_view_element_count(&view) <= 0) {
      set_result(r, RESULT_FAIL, "output '%s' has shape %s for a batch of %lld", view.name, dims,
                 (long long)batch);
      return -1;
    }
    append(r->message, sizeof r->message, " %s %s", view.name, dims);
  }
  return 0;
}

void case_check(const char *dir, case_result *r) {
  case_data c;
  case_run run;
  memset(&c, 0, sizeof c);
  memset(&run, 0, sizeof run);
  char buf[MESSAGE_SIZE];
  r->kind = RESULT_FAIL;
  r->has_reference = 0;
  r->message[0] = '\0';
  if (load_case(dir, &c, r)) goto done;

  krt_status *refusal = NULL;
  int built = build_engine(&c, &run, &refusal, r);
  if (built < 0) goto done;
  if (c.expected_refusal) {
    /* A model krt must refuse (user code, training-mode calls): KRT_ERR_UNSUPPORTED with the
     * expected words, nothing else; building it at all is the failure. */
    if (built == 0) {
      set_result(r, RESULT_FAIL, "expected a refusal containing \"%s\", but the model built",
                 c.expected_refusal);
      goto done;
    }
    krt_code code = krt_status_code(refusal);
    take_message(refusal, buf, sizeof buf);
    if (code == KRT_ERR_UNSUPPORTED && strstr(buf, c.expected_refusal))
      set_result(r, RESULT_PASS, "refused as expected: %s", buf);
    else
      set_result(r, RESULT_FAIL, "expected a refusal (unsupported) containing \"%s\", got: %s",
                 c.expected_refusal, buf);
    goto done;
  }
  if (built > 0) {
    /* A smoke case may be refused, but not by an internal error: that is a bug in krt. A case
     * marked refusal_ok may be refused as unsupported, never otherwise (a valid file is no
     * KRT_ERR_BAD_FILE). */
    krt_code code = krt_status_code(refusal);
    take_message(refusal, buf, sizeof buf);
    if (c.refusal_ok && code == KRT_ERR_UNSUPPORTED)
      set_result(r, RESULT_REFUSED, "%s", buf);
    else if (r->has_reference || code == KRT_ERR_INTERNAL)
      set_result(r, RESULT_FAIL, "%s", buf);
    else
      set_result(r, RESULT_PASS, "rejected cleanly: %s", buf);
    goto done;
  }

  int runnable = 1;
  if (c.n_inputs) {
    if (bind_case_inputs(&c, &run, r)) goto done;
  } else {
    runnable = bind_zero_inputs(&run, r);
    if (runnable < 0) goto done;
  }
  if (!runnable) {
    set_result(r, RESULT_PASS, "built (not run: no inputs given and some dimension unknown)");
    goto done;
  }
  krt_status *s = krt_context_run(run.context);
  if (s) {
    set_result(r, RESULT_FAIL, "run: %s", take_message(s, buf, sizeof buf));
    goto done;
  }
  if (check_outputs(&c, &run, r)) goto done;
  if (c.labels && check_labels(&c, &run, r)) goto done;
  if (!r->has_reference && check_plausible_outputs(&run, c.n_inputs ? c.batch : 1, r)) goto done;
  if (!c.n_inputs) append(r->message, sizeof r->message, " (on zeros)");
  append(r->message, sizeof r->message, "%s", run.notes);

done:
  free_run(&run);
  free_case(&c);
}
