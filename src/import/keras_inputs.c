/* The graph inputs of a Keras model: shape and dtype from the InputLayer entry (or, for a
 * Sequential model without one, from its first layer), then the caller's input shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/keras_wiring.h"

/* "float32", or a Keras 3 DTypePolicy {"config": {"name": "float32"}}; NULL when absent. */
static const char *dtype_name(const cJSON *config) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(config, "dtype");
  if (!d || cJSON_IsNull(d)) d = cJSON_GetObjectItemCaseSensitive(config, "input_dtype");
  if (cJSON_IsString(d)) return d->valuestring;
  const cJSON *policy = cJSON_GetObjectItemCaseSensitive(d, "config");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(policy, "name");
  return cJSON_IsString(name) ? name->valuestring : NULL;
}

static krt_status *input_dtype(const char *file, const char *input, const cJSON *config,
                               krt_dtype *out) {
  static const struct {
    const char *name;
    krt_dtype dtype;
  } table[] = {{"float32", KRT_FLOAT32},
               {"float64", KRT_FLOAT64},
               {"float16", KRT_FLOAT16},
               {"int32", KRT_INT32},
               {"int64", KRT_INT64},
               {"uint8", KRT_UINT8},
               /* Narrow integers hold indices as well as int32 does. */
               {"int8", KRT_INT32},
               {"int16", KRT_INT32},
               {"uint16", KRT_INT32}};
  const char *name = dtype_name(config);
  if (!name) {
    *out = KRT_FLOAT32;
    return NULL;
  }
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strcmp(name, table[i].name) == 0) {
      *out = table[i].dtype;
      return NULL;
    }
  return krt_error(KRT_ERR_UNSUPPORTED, "%s: input '%s' has dtype '%s', which krt does not support",
                   file, input, name);
}

/* Reads a JSON list of dimensions (null = unknown) into dims[at..]. */
static krt_status *read_dims(const char *file, const char *input, const char *key,
                             const cJSON *list, int at, int *rank, int64_t *dims) {
  int n = cJSON_GetArraySize(list);
  if (at + n > KRT_MAX_RANK)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: input '%s' has rank %d (at most %d)", file, input,
                     at + n, KRT_MAX_RANK);
  const cJSON *d;
  int i = at;
  cJSON_ArrayForEach(d, list) {
    if (cJSON_IsNull(d))
      dims[i] = -1;
    else if (cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble < 9.0e15)
      dims[i] = (int64_t)d->valuedouble;
    else
      return krt_error(KRT_ERR_BAD_FILE, "%s: input '%s': %s holds something not a dimension", file,
                       input, key);
    i++;
  }
  *rank = i;
  return NULL;
}

static int is_recurrent(const char *cls) {
  return strcmp(cls, "LSTM") == 0 || strcmp(cls, "GRU") == 0 || strcmp(cls, "SimpleRNN") == 0;
}

/* The input shape, batch first: batch_shape / batch_input_shape as written; input_shape / shape
 * without the batch; Keras 1 input_dim (+ input_length for Embedding and recurrent layers). */
static krt_status *input_shape(const char *file, const char *input, const char *cls,
                               const cJSON *config, int *rank, int64_t *dims) {
  static const char *with_batch[] = {"batch_shape", "batch_input_shape"};
  static const char *without_batch[] = {"input_shape", "shape"};
  for (int k = 0; k < 2; k++) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(config, with_batch[k]);
    if (cJSON_IsArray(list)) {
      KRT_TRY(read_dims(file, input, with_batch[k], list, 0, rank, dims));
      if (*rank < 1)
        return krt_error(KRT_ERR_UNSUPPORTED, "%s: input '%s' has no batch dimension", file, input);
      dims[0] = -1;
      return NULL;
    }
  }
  dims[0] = -1;
  for (int k = 0; k < 2; k++) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(config, without_batch[k]);
    if (cJSON_IsArray(list)) return read_dims(file, input, without_batch[k], list, 1, rank, dims);
  }
  const cJSON *dim = cJSON_GetObjectItemCaseSensitive(config, "input_dim");
  const cJSON *length = cJSON_GetObjectItemCaseSensitive(config, "input_length");
  /* A double outside int64's range cannot be converted (undefined behaviour): check first. */
  if (cJSON_IsNumber(dim) && !(dim->valuedouble < 9.0e15))
    return krt_error(KRT_ERR_BAD_FILE, "%s: input '%s': input_dim %g is not a dimension", file,
                     input, dim->valuedouble);
  if (cJSON_IsNumber(length) && !(length->valuedouble >= 0 && length->valuedouble < 9.0e15))
    return krt_error(KRT_ERR_BAD_FILE, "%s: input '%s': input_length %g is not a dimension", file,
                     input, length->valuedouble);
  int64_t len = cJSON_IsNumber(length) ? (int64_t)length->valuedouble : -1;
  if (cJSON_IsNumber(dim) && dim->valuedouble >= 0) {
    if (strcmp(cls, "Embedding") == 0) {
      dims[1] = len; /* input_dim is the vocabulary; the input is a row of indices */
      *rank = 2;
    } else if (is_recurrent(cls)) {
      dims[1] = len;
      dims[2] = (int64_t)dim->valuedouble;
      *rank = 3;
    } else {
      dims[1] = (int64_t)dim->valuedouble;
      *rank = 2;
    }
    return NULL;
  }
  return krt_error(KRT_ERR_SHAPE,
                   "%s: input '%s': the model config gives no input shape (was the model built "
                   "before it was saved?)",
                   file, input);
}

/* Fixes unknown dimensions from the caller's import options (see import.h). */
static krt_status *apply_options(kw_builder *b, const int *ids, int n) {
  const import_options *o = b->src->options;
  const char *file = b->src->file;
  for (int k = 0; o && k < o->n_input_shapes; k++) {
    const import_input_shape *want = &o->input_shapes[k];
    int found = -1;
    for (int i = 0; i < n && found < 0; i++)
      if (want->name && strcmp(b->g->values[ids[i]].name, want->name) == 0) found = i;
    if (found < 0) {
      char list[1024] = "";
      for (int i = 0; i < n; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "",
                 b->g->values[ids[i]].name);
      }
      return krt_error(KRT_ERR_NOT_FOUND,
                       "%s: an input shape is given for '%s', which is no input of the model "
                       "(inputs: %s)",
                       file, want->name ? want->name : "(null)", list);
    }
    ir_value *v = &b->g->values[ids[found]];
    if (want->rank != v->rank)
      return krt_error(KRT_ERR_SHAPE,
                       "%s: input '%s' has rank %d, but the input shape given has rank %d", file,
                       v->name, v->rank, want->rank);
    for (int a = 1; a < v->rank; a++) {
      if (want->dims[a] < 0) continue;
      if (v->dims[a] < 0)
        v->dims[a] = want->dims[a];
      else if (v->dims[a] != want->dims[a])
        return krt_error(KRT_ERR_SHAPE,
                         "%s: input '%s' axis %d: the model says %lld, the input shape given "
                         "says %lld",
                         file, v->name, a, (long long)v->dims[a], (long long)want->dims[a]);
    }
  }
  return NULL;
}

/* Adds one graph input from an entry's config and points its layer record at it. */
static krt_status *add_input(kw_builder *b, const char *name, const char *cls, const cJSON *config,
                             int record, int *id) {
  int rank = 0;
  int64_t dims[KRT_MAX_RANK];
  krt_dtype dtype = KRT_FLOAT32;
  KRT_TRY(input_shape(b->src->file, name, cls, config, &rank, dims));
  KRT_TRY(input_dtype(b->src->file, name, config, &dtype));
  krt_status *s = ir_add_input(b->g, name, dtype, rank, dims, 1, IR_LAYOUT_PLAIN, id);
  if (s) return krt_error_wrap(s, "%s: ", b->src->file);
  if (record >= 0) b->g->layers[record].output = *id;
  return NULL;
}

krt_status *kw_create_inputs(kw_builder *b, kw_model *top, int **ids, int *n) {
  int count = top->is_sequential ? 1 : top->n_in;
  int *result = malloc((size_t)(count ? count : 1) * sizeof *result);
  if (!result) return krt_error_oom("model inputs");
  krt_status *s = NULL;
  if (top->is_sequential) {
    const kw_layer *first = &top->layers[0];
    if (top->implicit_input)
      s = add_input(b, top->implicit_input, first->class_name, first->config, top->implicit_record,
                    &result[0]);
    else
      s = add_input(b, first->name, first->class_name, first->config, first->record, &result[0]);
  } else {
    for (int i = 0; i < count && !s; i++) {
      const kw_layer *l = &top->layers[top->in_refs[i].layer];
      s = add_input(b, l->name, l->class_name, l->config, l->record, &result[i]);
    }
  }
  if (!s) s = apply_options(b, result, count);
  if (s) {
    free(result);
    return s;
  }
  *ids = result;
  *n = count;
  return NULL;
}
