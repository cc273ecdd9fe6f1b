/* ONNX models (.onnx): a ModelProto (src/import/proto/onnx.proto) whose main graph becomes the
 * IR. Opsets 7 to 23 of the default domain; other domains are refused.
 *
 * The file is read whole and decoded by protobuf-c (NULL on corrupt data). Initializers become
 * known tensors (ox_known), decoded from raw_data, the typed fields or external data (a file
 * next to the model, offset and length checked against it). Graph inputs that are not
 * initializers become IR inputs: a symbolic or unknown first dimension is the batch; other unknown
 * dimensions come from the caller's input shapes. Nodes are converted in file order (ONNX graphs
 * are topologically sorted) by the tables of onnx_ops_*.c; every attribute a converter does not
 * list is refused by name. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/onnx_internal.h"

#define OX_MAX_ELEMENTS ((int64_t)1 << 31)
#define OX_MAX_FILE ((long)1 << 31) /* protobuf's own limit is 2 GiB */

/* ---- errors ------------------------------------------------------------------------------- */

krt_status *ox_error(const ox_ctx *c, krt_code code, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->node)
    return krt_error(code, "%s: node '%s' (%s): %s", c->file, c->label,
                     c->node->op_type ? c->node->op_type : "?", msg);
  return krt_error(code, "%s: %s", c->file, msg);
}

/* ---- the tensor table --------------------------------------------------------------------- */

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static int find_tensor(const ox_ctx *c, const char *name) {
  if (!c->n_slots) return -1;
  for (uint32_t h = name_hash(name) % (uint32_t)c->n_slots;; h = (h + 1) % (uint32_t)c->n_slots) {
    int t = c->slots[h];
    if (t < 0) return -1;
    if (strcmp(c->tensors[t].name, name) == 0) return t;
  }
}

static krt_status *rehash(ox_ctx *c, int n_slots) {
  int *slots = malloc((size_t)n_slots * sizeof *slots);
  if (!slots) return krt_error_oom("ONNX tensor table");
  for (int i = 0; i < n_slots; i++) slots[i] = -1;
  for (int t = 0; t < c->n_tensors; t++) {
    uint32_t h = name_hash(c->tensors[t].name) % (uint32_t)n_slots;
    while (slots[h] >= 0) h = (h + 1) % (uint32_t)n_slots;
    slots[h] = t;
  }
  free(c->slots);
  c->slots = slots;
  c->n_slots = n_slots;
  return NULL;
}

/* The tensor named `name`, made when absent. An existing one is an error (ONNX names each tensor
 * once: SSA). */
static krt_status *new_tensor(ox_ctx *c, const char *name, ox_tensor **out) {
  if (find_tensor(c, name) >= 0)
    return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s' is produced twice", name);
  if (c->n_tensors == c->cap_tensors) {
    int cap = c->cap_tensors ? c->cap_tensors * 2 : 64;
    ox_tensor *t = realloc(c->tensors, (size_t)cap * sizeof *t);
    if (!t) return krt_error_oom("ONNX tensor table");
    c->tensors = t;
    c->cap_tensors = cap;
  }
  if ((c->n_tensors + 1) * 2 > c->n_slots) KRT_TRY(rehash(c, c->n_slots ? c->n_slots * 2 : 128));
  ox_tensor *t = &c->tensors[c->n_tensors];
  memset(t, 0, sizeof *t);
  t->name = strdup(name);
  if (!t->name) return krt_error_oom("ONNX tensor name");
  t->value = t->value_cl = t->value_bm = -1;
  uint32_t h = name_hash(name) % (uint32_t)c->n_slots;
  while (c->slots[h] >= 0) h = (h + 1) % (uint32_t)c->n_slots;
  c->slots[h] = c->n_tensors++;
  *out = t;
  return NULL;
}

/* ---- known tensors ------------------------------------------------------------------------ */

static int is_float_type(int dtype) {
  return dtype == OX_FLOAT || dtype == OX_DOUBLE || dtype == OX_FLOAT16;
}

ox_known *ox_known_new(int dtype, int rank, const int64_t *dims) {
  if (rank < 0 || rank > KRT_MAX_RANK) return NULL;
  ox_known *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->dtype = dtype;
  k->rank = rank;
  k->count = 1;
  for (int i = 0; i < rank; i++) {
    k->dims[i] = dims[i];
    if (dims[i] < 0 || (dims[i] && k->count > OX_MAX_ELEMENTS / dims[i])) {
      free(k);
      return NULL;
    }
    k->count *= dims[i];
  }
  size_t n = (size_t)(k->count ? k->count : 1);
  if (is_float_type(dtype))
    k->f = calloc(n, sizeof *k->f);
  else
    k->i = calloc(n, sizeof *k->i);
  if (!k->f && !k->i) {
    free(k);
    return NULL;
  }
  return k;
}

void ox_known_free(ox_known *k) {
  if (!k) return;
  free(k->f);
  free(k->i);
  free(k);
}

krt_status *ox_known_floats(const ox_ctx *c, const ox_known *k, float **out) {
  float *f = malloc((size_t)(k->count ? k->count : 1) * sizeof *f);
  if (!f) return krt_error_oom("ONNX constant");
  for (int64_t j = 0; j < k->count; j++) {
    if (k->f) {
      f[j] = k->f[j];
    } else if (k->i[j] == OX_BATCH) {
      free(f);
      return ox_unsupported(c, "a shape holding the batch size is used as data; krt computes "
                               "shapes only at import");
    } else {
      f[j] = (float)k->i[j];
    }
  }
  *out = f;
  return NULL;
}

static float half_to_float(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  float v;
  if (exp == 0)
    v = ldexpf((float)mant, -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = ldexpf((float)(mant | 1024), exp - 25);
  return sign ? -v : v;
}

static int element_size(int dtype) {
  switch (dtype) {
    case OX_FLOAT: case OX_INT32: case OX_UINT32: return 4;
    case OX_DOUBLE: case OX_INT64: case OX_UINT64: return 8;
    case OX_FLOAT16: case OX_INT16: case OX_UINT16: return 2;
    case OX_INT8: case OX_UINT8: case OX_BOOL: return 1;
    default: return 0;
  }
}

static const char *dtype_name(int dtype) {
  static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
                                      "int32", "int64", "string", "bool", "float16", "double",
                                      "uint32", "uint64", "complex64", "complex128", "bfloat16"};
  return dtype >= 0 && dtype < (int)(sizeof names / sizeof *names) ? names[dtype] : "other";
}

/* Element j of little-endian raw bytes of `dtype` into k. */
static void store_raw(ox_known *k, int dtype, const uint8_t *p, int64_t j) {
  uint64_t u = 0;
  int size = element_size(dtype);
  for (int b = size - 1; b >= 0; b--) u = (u << 8) | p[(size_t)j * (size_t)size + (size_t)b];
  switch (dtype) {
    case OX_FLOAT: { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, 4); k->f[j] = f; break; }
    case OX_DOUBLE: { double d; memcpy(&d, &u, 8); k->f[j] = (float)d; break; }
    case OX_FLOAT16: k->f[j] = half_to_float((uint16_t)u); break;
    case OX_INT64: k->i[j] = (int64_t)u; break;
    case OX_UINT64: k->i[j] = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u; break;
    case OX_INT32: k->i[j] = (int32_t)(uint32_t)u; break;
    case OX_UINT32: k->i[j] = (int64_t)(uint32_t)u; break;
    case OX_INT16: k->i[j] = (int16_t)(uint16_t)u; break;
    case OX_UINT16: k->i[j] = (uint16_t)u; break;
    case OX_INT8: k->i[j] = (int8_t)(uint8_t)u; break;
    case OX_UINT8: k->i[j] = (uint8_t)u; break;
    case OX_BOOL: k->i[j] = u != 0; break;
    default: break;
  }
}

/* The directory of the model file, for external data ("" when it has none). */
static void model_dir(const char *file, char *buf, size_t size) {
  const char *slash = strrchr(file, '/');
  size_t n = slash ? (size_t)(slash - file + 1) : 0;
  if (n >= size) n = 0;
  memcpy(buf, file, n);
  buf[n] = '\0';
}

static krt_status *read_external(const ox_ctx *c, const KrtOnnx__TensorProto *t, const char *tname,
                                 int64_t bytes, uint8_t **out) {
  const char *location = NULL;
  int64_t offset = 0, length = -1;
  for (size_t e = 0; e < t->n_external_data; e++) {
    const KrtOnnx__StringStringEntryProto *kv = t->external_data[e];
    if (!kv->key || !kv->value) continue;
    char *end = NULL;
    if (strcmp(kv->key, "location") == 0) {
      location = kv->value;
    } else if (strcmp(kv->key, "offset") == 0 || strcmp(kv->key, "length") == 0) {
      errno = 0;
      long long v = strtoll(kv->value, &end, 10);
      if (errno || !end || *end || v < 0)
        return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s': external data %s '%s' is not a size",
                        tname, kv->key, kv->value);
      if (kv->key[0] == 'o') offset = v; else length = v;
    }
  }
  if (!location || !location[0])
    return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s' has external data without a location",
                    tname);
  /* Relative to the model's folder and inside it, as ONNX's checker requires. */
  if (location[0] == '/' || strstr(location, "..") || strchr(location, '\\'))
    return ox_error(c, KRT_ERR_BAD_FILE,
                    "tensor '%s': external data location '%s' must be a file name relative to "
                    "the model's folder, without '..'", tname, location);
  if (length >= 0 && length != bytes)
    return ox_error(c, KRT_ERR_BAD_FILE,
                    "tensor '%s': external data length %lld, but its dims and type need %lld "
                    "bytes", tname, (long long)length, (long long)bytes);
  char path[4096];
  model_dir(c->file, path, sizeof path);
  size_t used = strlen(path);
  if (used + strlen(location) + 1 > sizeof path)
    return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s': external data path too long", tname);
  strcat(path, location);
  FILE *f = fopen(path, "rb");
  if (!f)
    return ox_error(c, KRT_ERR_IO, "tensor '%s': cannot open external data file '%s' (%s)", tname,
                    path, strerror(errno));
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size < 0 || offset > size || bytes > size - offset) {
    fclose(f);
    return ox_error(c, KRT_ERR_BAD_FILE,
                    "tensor '%s': external data at offset %lld, %lld bytes, lies beyond the end "
                    "of '%s' (%ld bytes)", tname, (long long)offset, (long long)bytes, path, size);
  }
  uint8_t *buf = malloc((size_t)(bytes ? bytes : 1));
  if (!buf) {
    fclose(f);
    return krt_error_oom("ONNX external data");
  }
  int ok = fseek(f, (long)offset, SEEK_SET) == 0 && fread(buf, 1, (size_t)bytes, f) == (size_t)bytes;
  fclose(f);
  if (!ok) {
    free(buf);
    return ox_error(c, KRT_ERR_IO, "tensor '%s': cannot read external data from '%s'", tname, path);
  }
  *out = buf;
  return NULL;
}

/* A TensorProto (initializer, Constant value) as a known tensor. */
static krt_status *decode_tensor(const ox_ctx *c, const KrtOnnx__TensorProto *t, ox_known **out) {
  const char *tname = t->name && t->name[0] ? t->name : "(unnamed)";
  int dtype = t->has_data_type ? t->data_type : 0;
  int size = element_size(dtype);
  if (!size)
    return ox_unsupported(c, "tensor '%s' has data type %s (%d), which krt does not read", tname,
                          dtype_name(dtype), dtype);
  if (t->n_dims > KRT_MAX_RANK)
    return ox_unsupported(c, "tensor '%s' has rank %zu (at most %d)", tname, t->n_dims,
                          KRT_MAX_RANK);
  for (size_t d = 0; d < t->n_dims; d++)
    if (t->dims[d] < 0 || t->dims[d] > OX_MAX_ELEMENTS)
      return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s' has dimension %zu of size %lld", tname, d,
                      (long long)t->dims[d]);
  /* The element count the dims declare, checked against the data the file holds before any
   * allocation: a few bytes of file must not make krt allocate gigabytes (fuzz finding). */
  int64_t n = 1;
  for (size_t d = 0; d < t->n_dims; d++) {
    if (t->dims[d] && n > OX_MAX_ELEMENTS / t->dims[d])
      return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s' is too large", tname);
    n *= t->dims[d];
  }
  uint8_t *raw = NULL; /* external data, read (and its size checked) before the allocation */
  int external = t->has_data_location && t->data_location == 1;
  if (external) {
    KRT_TRY(read_external(c, t, tname, n * size, &raw));
  } else if (t->has_raw_data) {
    if ((int64_t)t->raw_data.len != n * size)
      return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s': raw_data holds %zu bytes, its dims and "
                      "type need %lld", tname, t->raw_data.len, (long long)(n * size));
  } else {
    size_t have;
    switch (dtype) {
      case OX_FLOAT: have = t->n_float_data; break;
      case OX_DOUBLE: have = t->n_double_data; break;
      case OX_INT64: have = t->n_int64_data; break;
      case OX_UINT32: case OX_UINT64: have = t->n_uint64_data; break;
      default: have = t->n_int32_data; break;
    }
    if ((int64_t)have != n)
      return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s' holds %zu values, its dims say %lld",
                      tname, have, (long long)n);
  }
  ox_known *k = ox_known_new(dtype, (int)t->n_dims, t->dims);
  if (!k) {
    free(raw);
    return ox_error(c, KRT_ERR_BAD_FILE, "tensor '%s' is too large (or out of memory)", tname);
  }
  if (external) {
    for (int64_t j = 0; j < n; j++) store_raw(k, dtype, raw, j);
    free(raw);
  } else if (t->has_raw_data) {
    for (int64_t j = 0; j < n; j++) store_raw(k, dtype, t->raw_data.data, j);
  } else {
    for (int64_t j = 0; j < n; j++) {
      switch (dtype) {
        case OX_FLOAT: k->f[j] = t->float_data[j]; break;
        case OX_DOUBLE: k->f[j] = (float)t->double_data[j]; break;
        case OX_FLOAT16: k->f[j] = half_to_float((uint16_t)t->int32_data[j]); break;
        case OX_INT64: k->i[j] = t->int64_data[j]; break;
        case OX_UINT32: case OX_UINT64:
          k->i[j] = t->uint64_data[j] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t->uint64_data[j];
          break;
        case OX_BOOL: k->i[j] = t->int32_data[j] != 0; break;
        default: k->i[j] = t->int32_data[j]; break;
      }
    }
  }
  *out = k;
  return NULL;
}

/* ---- the node's inputs and outputs -------------------------------------------------------- */

int ox_n_inputs(const ox_ctx *c) {
  int n = (int)c->node->n_input;
  while (n > 0 && (!c->node->input[n - 1] || !c->node->input[n - 1][0])) n--;
  return n;
}

int ox_has_input(const ox_ctx *c, int i) {
  return i >= 0 && i < (int)c->node->n_input && c->node->input[i] && c->node->input[i][0];
}

int ox_n_outputs(const ox_ctx *c) {
  int n = (int)c->node->n_output;
  while (n > 0 && (!c->node->output[n - 1] || !c->node->output[n - 1][0])) n--;
  return n;
}

ox_tensor *ox_in(const ox_ctx *c, int i) {
  if (!ox_has_input(c, i)) return NULL;
  int t = find_tensor(c, c->node->input[i]);
  return t < 0 ? NULL : &c->tensors[t];
}

const ox_known *ox_in_known(const ox_ctx *c, int i) {
  ox_tensor *t = ox_in(c, i);
  return t ? t->known : NULL;
}

void ox_perm_to_cl(int rank, int *perm) {
  perm[0] = 0;
  for (int i = 1; i < rank - 1; i++) perm[i] = i + 1;
  perm[rank - 1] = 1;
}

void ox_perm_from_cl(int rank, int *perm) {
  perm[0] = 0;
  perm[1] = rank - 1;
  for (int i = 2; i < rank; i++) perm[i] = i - 1;
}

/* A known tensor as an IR constant (made once). */
static krt_status *known_value(ox_ctx *c, ox_tensor *t) {
  float *data = NULL;
  KRT_TRY(ox_known_floats(c, t->known, &data));
  if (t->known->i)
    for (int64_t j = 0; j < t->known->count; j++)
      if (fabsf(data[j]) > 16777216.0f) {
        free(data);
        return ox_unsupported(c, "integer tensor '%s' holds %lld, beyond float32's exact "
                                 "integers; krt computes in float32", t->name,
                              (long long)t->known->i[j]);
      }
  krt_status *s = ir_add_const(c->g, t->name, t->known->rank, t->known->dims, data, &t->value);
  return s ? krt_error_wrap(s, "%s: ", c->file) : NULL;
}

/* A view read by a converter that does not know views. */
static krt_status *refuse_view(const ox_ctx *c, const ox_tensor *t) {
  int rank = c->g->values[t->value_bm].rank, batch_axis = 0;
  for (int k = 0; k < rank; k++)
    if (t->perm_bm[k] == 0) batch_axis = k;
  return ox_unsupported(c, "input '%s' has the batch on axis %d (time-major, as recurrent ops "
                        "write it); krt keeps the batch on axis 0 and cannot move it here",
                        t->name, batch_axis);
}

krt_status *ox_value(ox_ctx *c, int i, int *id) {
  ox_tensor *t = ox_in(c, i);
  if (!t) return ox_error(c, KRT_ERR_INTERNAL, "input %d is absent", i);
  if (t->value < 0 && t->value_cl < 0 && t->value_bm >= 0) return refuse_view(c, t);
  if (t->value < 0 && t->known) KRT_TRY(known_value(c, t));
  if (t->value < 0) {
    if (t->value_cl < 0) return ox_error(c, KRT_ERR_INTERNAL, "input '%s' has no value", t->name);
    int perm[KRT_MAX_RANK] = {0}, rank = ox_ir(c, t->value_cl)->rank;
    ox_perm_from_cl(rank, perm);
    ir_attrs a = ox_attrs();
    memcpy(a.perm, perm, sizeof perm);
    char part[64];
    snprintf(part, sizeof part, "%d_to_onnx_order", i);
    KRT_TRY(ox_emit(c, IR_OP_TRANSPOSE, part, &t->value_cl, 1, &a, &t->value));
    c->g->values[t->value].layout = IR_LAYOUT_CHANNELS_FIRST;
  }
  *id = t->value;
  return NULL;
}

krt_status *ox_value_cl(ox_ctx *c, int i, int *id) {
  ox_tensor *t = ox_in(c, i);
  if (!t) return ox_error(c, KRT_ERR_INTERNAL, "input %d is absent", i);
  if (t->value_cl < 0) {
    int x;
    KRT_TRY(ox_value(c, i, &x));
    int rank = ox_ir(c, x)->rank;
    if (rank < 3)
      return ox_unsupported(c, "input '%s' has rank %d; the op needs [N, C, spatial...]", t->name,
                            rank);
    int perm[KRT_MAX_RANK] = {0};
    ox_perm_to_cl(rank, perm);
    ir_attrs a = ox_attrs();
    memcpy(a.perm, perm, sizeof perm);
    char part[64];
    snprintf(part, sizeof part, "%d_to_channels_last", i);
    KRT_TRY(ox_emit(c, IR_OP_TRANSPOSE, part, &x, 1, &a, &t->value_cl));
    c->g->values[t->value_cl].layout = IR_LAYOUT_CHANNELS_LAST;
  }
  *id = t->value_cl;
  return NULL;
}

int ox_in_is_cl_only(const ox_ctx *c, int i) {
  ox_tensor *t = ox_in(c, i);
  return t && t->value_cl >= 0 && t->value < 0 && !t->known;
}

krt_status *ox_in_shape(ox_ctx *c, int i, int *rank, int64_t *dims, int *batched) {
  ox_tensor *t = ox_in(c, i);
  if (!t) return ox_error(c, KRT_ERR_INTERNAL, "input %d is absent", i);
  if (t->value < 0 && t->value_cl < 0 && !t->known && t->value_bm >= 0) return refuse_view(c, t);
  if (t->known) {
    *rank = t->known->rank;
    memcpy(dims, t->known->dims, sizeof t->known->dims);
    *batched = 0;
    return NULL;
  }
  if (t->value >= 0) {
    const ir_value *v = ox_ir(c, t->value);
    *rank = v->rank;
    memcpy(dims, v->dims, sizeof v->dims);
    *batched = v->batched;
    return NULL;
  }
  const ir_value *v = ox_ir(c, t->value_cl);
  int perm[KRT_MAX_RANK];
  ox_perm_from_cl(v->rank, perm);
  *rank = v->rank;
  for (int k = 0; k < v->rank; k++) dims[k] = v->dims[perm[k]];
  *batched = v->batched;
  return NULL;
}

static krt_status *output_tensor(ox_ctx *c, int k, ox_tensor **out) {
  if (k >= (int)c->node->n_output || !c->node->output[k] || !c->node->output[k][0])
    return ox_error(c, KRT_ERR_INTERNAL, "output %d is absent", k);
  return new_tensor(c, c->node->output[k], out);
}

int ox_in_view(const ox_ctx *c, int i, int *perm) {
  ox_tensor *t = ox_in(c, i);
  if (!t || t->value >= 0 || t->value_cl >= 0 || t->known || t->value_bm < 0) return -1;
  if (perm) memcpy(perm, t->perm_bm, sizeof t->perm_bm);
  return t->value_bm;
}

void ox_view_shape(const ox_ctx *c, int i, int *rank, int64_t *dims) {
  const ox_tensor *t = ox_in(c, i);
  const ir_value *v = &c->g->values[t->value_bm];
  *rank = v->rank;
  for (int k = 0; k < v->rank; k++) dims[k] = t->perm_bm[k] == 0 ? -1 : v->dims[t->perm_bm[k]];
}

krt_status *ox_set_output_view(ox_ctx *c, int k, int id, const int *perm) {
  const ir_value *v = ox_ir(c, id);
  int identity = 1;
  for (int j = 0; j < v->rank; j++) identity &= perm[j] == j;
  if (identity) return ox_set_output(c, k, id, 0);
  if (!v->batched || perm[0] == 0) {
    ir_attrs a = ox_attrs();
    memcpy(a.perm, perm, (size_t)v->rank * sizeof *perm);
    int y;
    char part[32];
    snprintf(part, sizeof part, k ? "%d_to_onnx_order" : "to_onnx_order", k);
    KRT_TRY(ox_emit(c, IR_OP_TRANSPOSE, part, &id, 1, &a, &y));
    return ox_set_output(c, k, y, 0);
  }
  ox_tensor *t;
  KRT_TRY(output_tensor(c, k, &t));
  t->value_bm = id;
  memset(t->perm_bm, 0, sizeof t->perm_bm);
  memcpy(t->perm_bm, perm, (size_t)v->rank * sizeof *perm);
  return NULL;
}

krt_status *ox_set_output(ox_ctx *c, int k, int id, int channels_last) {
  ox_tensor *t;
  KRT_TRY(output_tensor(c, k, &t));
  if (channels_last)
    t->value_cl = id;
  else
    t->value = id;
  if (k == 0 && c->layer >= 0 && !channels_last) c->g->layers[c->layer].output = id;
  return NULL;
}

krt_status *ox_set_known(ox_ctx *c, int k, ox_known *known) {
  ox_tensor *t;
  krt_status *s = output_tensor(c, k, &t);
  if (s) {
    ox_known_free(known);
    return s;
  }
  t->known = known;
  return NULL;
}

int ox_output_used(const ox_ctx *c, int k) {
  if (k < 0 || k >= (int)c->node->n_output || !c->node->output[k] || !c->node->output[k][0])
    return 0;
  const char *name = c->node->output[k];
  const KrtOnnx__GraphProto *g = c->graph;
  if (!g) return 1;
  for (size_t n = c->node_index + 1; n < g->n_node; n++)
    for (size_t i = 0; i < g->node[n]->n_input; i++)
      if (g->node[n]->input[i] && strcmp(g->node[n]->input[i], name) == 0) return 1;
  for (size_t i = 0; i < g->n_output; i++)
    if (g->output[i]->name && strcmp(g->output[i]->name, name) == 0) return 1;
  return 0;
}

krt_status *ox_set_unused_output(ox_ctx *c, int k) {
  if (ox_output_used(c, k))
    return ox_error(c, KRT_ERR_INTERNAL, "output %d ('%s') is read", k, c->node->output[k]);
  ox_tensor *t;
  return output_tensor(c, k, &t); /* value, value_cl -1, nothing known */
}

krt_status *ox_require_inputs(const ox_ctx *c, int min, int max) {
  int n = ox_n_inputs(c);
  if (n < min || n > max)
    return ox_error(c, KRT_ERR_BAD_FILE, "has %d inputs; the op takes %d to %d", n, min, max);
  for (int i = 0; i < n; i++)
    if (ox_has_input(c, i) && !ox_in(c, i))
      return ox_error(c, KRT_ERR_BAD_FILE, "input '%s' is not produced by an earlier node",
                      c->node->input[i]);
  return NULL;
}

krt_status *ox_require_one_output(const ox_ctx *c) {
  for (size_t k = 1; k < c->node->n_output; k++)
    if (c->node->output[k] && c->node->output[k][0])
      return ox_unsupported(c, "output %zu ('%s') is used; krt computes only the first output", k,
                            c->node->output[k]);
  if (ox_n_outputs(c) < 1) return ox_error(c, KRT_ERR_BAD_FILE, "has no output");
  return NULL;
}

/* ---- attributes --------------------------------------------------------------------------- */

const KrtOnnx__AttributeProto *ox_attr(const ox_ctx *c, const char *name) {
  for (size_t a = 0; a < c->node->n_attribute; a++)
    if (c->node->attribute[a]->name && strcmp(c->node->attribute[a]->name, name) == 0)
      return c->node->attribute[a];
  return NULL;
}

static int attr_type(const KrtOnnx__AttributeProto *a) {
  if (a->has_type) return a->type;
  /* IR version 1 files may leave the type out: infer it from the field set. */
  if (a->n_ints) return 7;
  if (a->n_floats) return 6;
  if (a->n_strings) return 8;
  if (a->t) return 4;
  if (a->has_s) return 3;
  if (a->has_f) return 1;
  return 2;
}

krt_status *ox_attr_int(const ox_ctx *c, const char *name, int64_t def, int64_t *out) {
  const KrtOnnx__AttributeProto *a = ox_attr(c, name);
  if (!a) {
    *out = def;
    return NULL;
  }
  if (attr_type(a) != 2) return ox_error(c, KRT_ERR_BAD_FILE, "attribute '%s' is not an int", name);
  *out = a->i;
  return NULL;
}

krt_status *ox_attr_float(const ox_ctx *c, const char *name, float def, float *out) {
  const KrtOnnx__AttributeProto *a = ox_attr(c, name);
  if (!a) {
    *out = def;
    return NULL;
  }
  if (attr_type(a) == 2) { /* a few exporters write integral floats as ints */
    *out = (float)a->i;
    return NULL;
  }
  if (attr_type(a) != 1)
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute '%s' is not a float", name);
  *out = a->f;
  return NULL;
}

krt_status *ox_attr_string(const ox_ctx *c, const char *name, const char *def, char *buf,
                           size_t size) {
  const KrtOnnx__AttributeProto *a = ox_attr(c, name);
  if (!a) {
    snprintf(buf, size, "%s", def);
    return NULL;
  }
  if (attr_type(a) != 3)
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute '%s' is not a string", name);
  size_t n = a->s.len < size - 1 ? a->s.len : size - 1;
  if (n) memcpy(buf, a->s.data, n);
  buf[n] = '\0';
  if (memchr(buf, '\0', n))
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute '%s' holds a NUL byte", name);
  return NULL;
}

krt_status *ox_attr_ints(const ox_ctx *c, const char *name, int max, int64_t *out, int *n) {
  const KrtOnnx__AttributeProto *a = ox_attr(c, name);
  *n = -1;
  if (!a) return NULL;
  if (attr_type(a) != 7)
    return ox_error(c, KRT_ERR_BAD_FILE, "attribute '%s' is not a list of ints", name);
  if (a->n_ints > (size_t)max)
    return ox_unsupported(c, "attribute '%s' has %zu values (at most %d)", name, a->n_ints, max);
  for (size_t k = 0; k < a->n_ints; k++) out[k] = a->ints[k];
  *n = (int)a->n_ints;
  return NULL;
}

krt_status *ox_known_ints(ox_ctx *c, int i, int max, int64_t *out, int *n) {
  const ox_known *k = ox_in_known(c, i);
  if (!k)
    return ox_unsupported(c, "input %d ('%s') must be known when the model is built (an "
                             "initializer, a Constant or a static shape computation)",
                          i, ox_has_input(c, i) ? c->node->input[i] : "");
  if (!k->i)
    return ox_error(c, KRT_ERR_BAD_FILE, "input %d ('%s') must be an integer tensor", i,
                    c->node->input[i]);
  if (k->rank > 1 || k->count > max)
    return ox_unsupported(c, "input %d ('%s') must be a list of at most %d integers", i,
                          c->node->input[i], max);
  for (int64_t j = 0; j < k->count; j++) out[j] = k->i[j];
  *n = (int)k->count;
  return NULL;
}

krt_status *ox_ints_attr_or_input(ox_ctx *c, const char *attr, int input, int64_t input_since,
                                  int max, int64_t *out, int *n) {
  if (c->opset < input_since) return ox_attr_ints(c, attr, max, out, n);
  if (ox_attr(c, attr))
    return ox_unsupported(c, "attribute '%s' belongs to opsets before %lld; this model has opset "
                             "%lld", attr, (long long)input_since, (long long)c->opset);
  *n = -1;
  if (!ox_has_input(c, input)) return NULL;
  return ox_known_ints(c, input, max, out, n);
}

krt_status *ox_known_scalar(ox_ctx *c, int i, float def, float *out) {
  if (!ox_has_input(c, i)) {
    *out = def;
    return NULL;
  }
  const ox_known *k = ox_in_known(c, i);
  if (!k)
    return ox_unsupported(c, "input %d ('%s') must be a constant", i, c->node->input[i]);
  if (k->count != 1)
    return ox_error(c, KRT_ERR_BAD_FILE, "input %d ('%s') must hold one value", i,
                    c->node->input[i]);
  *out = k->f ? k->f[0] : (float)k->i[0];
  return NULL;
}

/* ---- emitting ----------------------------------------------------------------------------- */

ir_attrs ox_attrs(void) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

const ir_value *ox_ir(const ox_ctx *c, int id) { return &c->g->values[id]; }

krt_status *ox_emit_outputs(ox_ctx *c, ir_op op, const char *part, const int *inputs, int n,
                            const ir_attrs *attrs, int n_outputs, int *outs) {
  char name[512];
  if (part && part[0])
    snprintf(name, sizeof name, "%s/%s", c->label, part);
  else
    snprintf(name, sizeof name, "%s", c->label);
  krt_status *s = ir_emit_outputs(c->g, op, name, c->layer, inputs, n, attrs, n_outputs, outs);
  if (s) return krt_error_wrap(s, "%s: node '%s' (%s): ", c->file, c->label, c->node->op_type);
  return NULL;
}

krt_status *ox_emit(ox_ctx *c, ir_op op, const char *part, const int *inputs, int n,
                    const ir_attrs *attrs, int *out) {
  return ox_emit_outputs(c, op, part, inputs, n, attrs, 1, out);
}

krt_status *ox_const(ox_ctx *c, const char *part, int rank, const int64_t *dims, const float *data,
                     int *id) {
  char name[512];
  snprintf(name, sizeof name, "%s/%s", c->label, part);
  krt_status *s = ir_add_const_copy(c->g, name, rank, dims, data, id);
  return s ? krt_error_wrap(s, "%s: node '%s': ", c->file, c->label) : NULL;
}

krt_status *ox_const_scalar(ox_ctx *c, const char *part, float v, int *id) {
  int64_t no_dims[1] = {1}; /* rank 0: never read, but never NULL either */
  return ox_const(c, part, 0, no_dims, &v, id);
}

krt_status *ox_activation(ox_ctx *c, int x, ir_act_kind kind, float alpha, float beta,
                          float max_value, const char *part, int *out) {
  ir_attrs a = ox_attrs();
  a.act.kind = kind;
  a.act.alpha = alpha;
  a.act.beta = beta;
  a.act.max_value = max_value;
  return ox_emit(c, IR_OP_ACTIVATION, part, &x, 1, &a, out);
}

krt_status *ox_binary(ox_ctx *c, ir_binary_kind kind, int a, int b, const char *part, int *out) {
  ir_attrs at = ox_attrs();
  at.binary = kind;
  int in[2] = {a, b};
  return ox_emit(c, IR_OP_BINARY, part, in, 2, &at, out);
}

krt_status *ox_reshape(ox_ctx *c, int x, int rank, const int64_t *dims, const char *part,
                       int *out) {
  const ir_value *v = ox_ir(c, x);
  if (rank < 1 || v->rank < 1)
    return ox_unsupported(c, "a reshape to or from a scalar of '%s'", v->name);
  if (!v->batched && dims[0] != v->dims[0])
    return ox_unsupported(c, "the reshape changes axis 0 (%lld -> %lld), which krt's Reshape "
                             "keeps", (long long)v->dims[0], (long long)dims[0]);
  int same = rank == v->rank;
  for (int k = 1; same && k < rank; k++) same = dims[k] == v->dims[k];
  if (same) {
    *out = x;
    return NULL;
  }
  ir_attrs a = ox_attrs();
  a.shape_rank = rank - 1;
  for (int k = 1; k < rank; k++) a.shape[k - 1] = dims[k];
  return ox_emit(c, IR_OP_RESHAPE, part, &x, 1, &a, out);
}

krt_status *ox_axis(const ox_ctx *c, int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= (rank ? rank : 1))
    return ox_error(c, KRT_ERR_BAD_FILE, "axis %lld is outside a rank-%d tensor", (long long)axis,
                    rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return NULL;
}

/* ---- the graph ---------------------------------------------------------------------------- */

static const ox_op_entry *find_op(const char *op_type) {
  const ox_op_entry *tables[] = {ox_ops_nn, ox_ops_math, ox_ops_shape, ox_ops_rnn};
  for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
    for (const ox_op_entry *e = tables[t]; e->op_type; e++)
      if (strcmp(e->op_type, op_type) == 0) return e;
  return NULL;
}

static krt_status *check_attrs(const ox_ctx *c, const ox_op_entry *e) {
  for (size_t a = 0; a < c->node->n_attribute; a++) {
    const KrtOnnx__AttributeProto *at = c->node->attribute[a];
    const char *name = at->name ? at->name : "";
    if (at->ref_attr_name && at->ref_attr_name[0])
      return ox_unsupported(c, "attribute '%s' refers to a function attribute", name);
    int known = 0;
    for (const char *const *k = e->attrs; k && *k && !known; k++) known = strcmp(*k, name) == 0;
    if (!known)
      return ox_unsupported(c, "attribute '%s' is not supported (krt reads %s%s)", name,
                            e->attrs && e->attrs[0] ? "only the attributes of the ONNX spec it "
                                                      "implements"
                                                    : "no attributes",
                            "");
  }
  return NULL;
}

static krt_status *convert_node(ox_ctx *c, const KrtOnnx__NodeProto *node) {
  c->node = node;
  const char *op = node->op_type ? node->op_type : "";
  c->label = node->name && node->name[0] ? node->name
             : node->n_output && node->output[0] && node->output[0][0] ? node->output[0]
                                                                     : op;
  if (node->domain && node->domain[0] && strcmp(node->domain, "ai.onnx") != 0)
    return ox_unsupported(c, "op %s of domain '%s': krt reads only the default ONNX domain", op,
                          node->domain);
  const ox_op_entry *e = find_op(op);
  if (!e) return ox_unsupported(c, "op type %s is not supported", op);
  KRT_TRY(check_attrs(c, e));
  for (size_t i = 0; i < node->n_input; i++)
    if (node->input[i] && node->input[i][0] && find_tensor(c, node->input[i]) < 0)
      return ox_error(c, KRT_ERR_BAD_FILE, "input '%s' is not produced by an earlier node",
                      node->input[i]);
  krt_status *s = ir_add_layer(c->g, c->label, op, &c->layer);
  if (s) return krt_error_wrap(s, "%s: ", c->file);
  /* Params: the elements of the constant inputs the node reads (weights, statistics). */
  for (int i = 0; i < ox_n_inputs(c); i++) {
    const ox_known *k = ox_in_known(c, i);
    if (k && k->f) c->g->layers[c->layer].param_count += k->count;
  }
  KRT_TRY(e->convert(c, e->variant));
  for (int k = 0; k < ox_n_outputs(c); k++)
    if (node->output[k] && node->output[k][0] && find_tensor(c, node->output[k]) < 0)
      return ox_unsupported(c, "output %d ('%s') is not computed by krt", k, node->output[k]);
  c->node = NULL;
  return NULL;
}

/* Dims of a graph input from its ValueInfo: -1 for symbolic or unknown ones. */
static krt_status *input_dims(ox_ctx *c, const KrtOnnx__ValueInfoProto *vi, krt_dtype *dtype,
                              int *rank, int64_t *dims) {
  const char *name = vi->name;
  const KrtOnnx__TypeProto *tp = vi->type;
  if (!tp || tp->value_case != KRT_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return ox_unsupported(c, "graph input '%s' is not a tensor", name);
  const KrtOnnx__TypeProto__Tensor *tt = tp->tensor_type;
  switch (tt->elem_type) {
    case OX_FLOAT: *dtype = KRT_FLOAT32; break;
    case OX_DOUBLE: *dtype = KRT_FLOAT64; break;
    case OX_FLOAT16: *dtype = KRT_FLOAT16; break;
    case OX_INT32: *dtype = KRT_INT32; break;
    case OX_INT64: *dtype = KRT_INT64; break;
    case OX_UINT8: *dtype = KRT_UINT8; break;
    case OX_INT8: case OX_INT16: case OX_UINT16: *dtype = KRT_INT32; break;
    default:
      return ox_unsupported(c, "graph input '%s' has element type %s, which krt does not support",
                            name, dtype_name(tt->elem_type));
  }
  if (!tt->shape)
    return ox_unsupported(c, "graph input '%s' has no shape; krt needs at least its rank", name);
  if (tt->shape->n_dim > KRT_MAX_RANK)
    return ox_unsupported(c, "graph input '%s' has rank %zu (at most %d)", name, tt->shape->n_dim,
                          KRT_MAX_RANK);
  *rank = (int)tt->shape->n_dim;
  for (int k = 0; k < *rank; k++) {
    const KrtOnnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
    if (d->value_case == KRT_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (d->dim_value < 0 || d->dim_value > OX_MAX_ELEMENTS)
        return ox_error(c, KRT_ERR_BAD_FILE, "graph input '%s' axis %d has size %lld", name, k,
                        (long long)d->dim_value);
      dims[k] = d->dim_value;
    } else {
      dims[k] = -1;
    }
  }
  return NULL;
}

static krt_status *apply_input_shape(ox_ctx *c, const char *name, int rank, int64_t *dims) {
  const import_options *o = c->options;
  for (int k = 0; o && k < o->n_input_shapes; k++) {
    const import_input_shape *want = &o->input_shapes[k];
    if (!want->name || strcmp(want->name, name) != 0) continue;
    if (want->rank != rank)
      return krt_error(KRT_ERR_SHAPE, "%s: input '%s' has rank %d, but the input shape given has "
                       "rank %d", c->file, name, rank, want->rank);
    for (int a = 1; a < rank; a++) {
      if (want->dims[a] < 0) continue;
      if (dims[a] < 0)
        dims[a] = want->dims[a];
      else if (dims[a] != want->dims[a])
        return krt_error(KRT_ERR_SHAPE, "%s: input '%s' axis %d: the model says %lld, the input "
                         "shape given says %lld", c->file, name, a, (long long)dims[a],
                         (long long)want->dims[a]);
    }
  }
  return NULL;
}

static krt_status *check_option_names(ox_ctx *c, const KrtOnnx__GraphProto *graph) {
  const import_options *o = c->options;
  for (int k = 0; o && k < o->n_input_shapes; k++) {
    const char *want = o->input_shapes[k].name;
    int found = 0;
    for (int i = 0; i < c->g->n_inputs && !found; i++)
      found = want && strcmp(c->g->values[c->g->inputs[i]].name, want) == 0;
    if (!found) {
      char list[1024] = "";
      for (size_t i = 0; i < graph->n_input; i++) {
        size_t used = strlen(list);
        if (graph->input[i]->name && find_tensor(c, graph->input[i]->name) >= 0 &&
            c->tensors[find_tensor(c, graph->input[i]->name)].known)
          continue;
        snprintf(list + used, sizeof list - used, "%s'%s'", used ? ", " : "",
                 graph->input[i]->name ? graph->input[i]->name : "");
      }
      return krt_error(KRT_ERR_NOT_FOUND, "%s: an input shape is given for '%s', which is no "
                       "input of the model (inputs: %s)", c->file, want ? want : "(null)", list);
    }
  }
  return NULL;
}

static krt_status *add_inputs(ox_ctx *c, const KrtOnnx__GraphProto *graph) {
  for (size_t i = 0; i < graph->n_input; i++) {
    const KrtOnnx__ValueInfoProto *vi = graph->input[i];
    if (!vi->name || !vi->name[0])
      return ox_error(c, KRT_ERR_BAD_FILE, "graph input %zu has no name", i);
    if (find_tensor(c, vi->name) >= 0) continue; /* an initializer listed as an input */
    krt_dtype dtype = KRT_FLOAT32;
    int rank = 0;
    int64_t dims[KRT_MAX_RANK];
    KRT_TRY(input_dims(c, vi, &dtype, &rank, dims));
    KRT_TRY(apply_input_shape(c, vi->name, rank, dims));
    /* The first dimension is the batch, symbolic, unknown or fixed (as the Keras importers
     * treat batch_shape): a fixed one is the batch the exporter traced with. A rank-1 input
     * with a fixed size is a vector, not a batch. */
    int batched = (rank >= 2 && c->fixed_is_batch) || (rank >= 1 && dims[0] < 0);
    if (batched && dims[0] >= 0) {
      if (c->declared_batch >= 0 && c->declared_batch != dims[0])
        return ox_unsupported(c, "graph inputs have different fixed first sizes (%lld, %lld): "
                              "no batch", (long long)c->declared_batch, (long long)dims[0]);
      c->declared_batch = dims[0];
      dims[0] = -1;
    }
    ox_tensor *t;
    KRT_TRY(new_tensor(c, vi->name, &t));
    krt_status *s = ir_add_input(c->g, vi->name, dtype, rank, dims, batched, IR_LAYOUT_PLAIN,
                                 &t->value);
    if (s) return krt_error_wrap(s, "%s: ", c->file);
    int layer;
    s = ir_add_layer(c->g, vi->name, "Input", &layer);
    if (s) return krt_error_wrap(s, "%s: ", c->file);
    c->g->layers[layer].output = t->value;
  }
  return check_option_names(c, graph);
}

static krt_status *add_outputs(ox_ctx *c, const KrtOnnx__GraphProto *graph) {
  if (!graph->n_output) return ox_error(c, KRT_ERR_BAD_FILE, "the graph has no outputs");
  for (size_t i = 0; i < graph->n_output; i++) {
    const char *name = graph->output[i]->name ? graph->output[i]->name : "";
    int t = find_tensor(c, name);
    if (t < 0)
      return ox_error(c, KRT_ERR_BAD_FILE, "graph output '%s' is produced by no node", name);
    if (c->tensors[t].known)
      return ox_unsupported(c, "graph output '%s' is a constant; krt's outputs are computed", name);
    static const KrtOnnx__NodeProto none = KRT_ONNX__NODE_PROTO__INIT;
    char *in[1] = {(char *)name};
    KrtOnnx__NodeProto fake = none;
    fake.n_input = 1;
    fake.input = in;
    fake.op_type = (char *)"(graph output)";
    c->node = &fake;
    c->label = name;
    c->layer = -1;
    int id;
    krt_status *s = ox_value(c, 0, &id);
    c->node = NULL;
    if (s) return s;
    s = ir_add_output(c->g, id, name);
    if (s) return krt_error_wrap(s, "%s: ", c->file);
  }
  return NULL;
}

/* Layers whose output exists only channels-last get the ONNX-order value too, so --output can
 * cut there (unread Transposes are removed by remove_dead). */
static krt_status *publish_layers(ox_ctx *c, const KrtOnnx__GraphProto *graph) {
  int layer = 0;
  for (size_t n = 0; n < graph->n_node; n++) {
    const KrtOnnx__NodeProto *node = graph->node[n];
    (void)layer;
    if (!node->n_output || !node->output[0] || !node->output[0][0]) continue;
    int t = find_tensor(c, node->output[0]);
    /* a view (batch not on axis 0) has no ONNX-order value to cut at */
    if (t < 0 || c->tensors[t].known || c->tensors[t].value_bm >= 0) continue;
    const char *label = node->name && node->name[0] ? node->name : node->output[0];
    int l = ir_find_layer(c->g, label);
    if (l < 0) continue;
    if (c->tensors[t].value >= 0) {
      c->g->layers[l].output = c->tensors[t].value;
      continue;
    }
    char *in[1] = {node->output[0]};
    KrtOnnx__NodeProto fake = *node;
    fake.n_input = 1;
    fake.input = in;
    c->node = &fake;
    c->label = label;
    c->layer = l;
    int id;
    krt_status *s = ox_value(c, 0, &id);
    c->node = NULL;
    if (s) return s;
    c->g->layers[l].output = id;
  }
  return NULL;
}

static krt_status *import_graph(ox_ctx *c, const KrtOnnx__ModelProto *m) {
  int64_t opset = -1;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const KrtOnnx__OperatorSetIdProto *o = m->opset_import[i];
    if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0) opset = o->version;
  }
  if (opset < 0 && m->n_opset_import == 0 && m->ir_version < 3) opset = 1;
  if (opset < 7 || opset > 23)
    return krt_error(KRT_ERR_UNSUPPORTED, "%s: the model uses ONNX opset %lld; krt reads opsets "
                     "7 to 23", c->file, (long long)opset);
  c->opset = opset;
  const KrtOnnx__GraphProto *graph = m->graph;
  if (!graph) return krt_error(KRT_ERR_BAD_FILE, "%s: the model has no graph", c->file);
  for (size_t i = 0; i < graph->n_initializer; i++) {
    const KrtOnnx__TensorProto *t = graph->initializer[i];
    if (!t->name || !t->name[0])
      return krt_error(KRT_ERR_BAD_FILE, "%s: initializer %zu has no name", c->file, i);
    ox_known *k = NULL;
    KRT_TRY(decode_tensor(c, t, &k));
    ox_tensor *tensor;
    krt_status *s = new_tensor(c, t->name, &tensor);
    if (s) {
      ox_known_free(k);
      return s;
    }
    tensor->known = k;
  }
  KRT_TRY(add_inputs(c, graph));
  c->graph = graph;
  for (size_t n = 0; n < graph->n_node; n++) {
    c->node_index = n;
    KRT_TRY(convert_node(c, graph->node[n]));
  }
  KRT_TRY(add_outputs(c, graph));
  return publish_layers(c, graph);
}

/* Exposed for the importers' unit tests and the Constant converter. */
krt_status *ox_decode_tensor(const ox_ctx *c, const KrtOnnx__TensorProto *t, ox_known **out);
krt_status *ox_decode_tensor(const ox_ctx *c, const KrtOnnx__TensorProto *t, ox_known **out) {
  return decode_tensor(c, t, out);
}

krt_status *import_onnx(const char *path, const import_options *options, ir_graph **out) {
  uint8_t *data = NULL;
  size_t size = 0;
  KRT_TRY(import_read_file(path, OX_MAX_FILE, "over 2 GiB (ONNX's limit; larger models keep weights "
                           "as external data)", &data, &size));
  KrtOnnx__ModelProto *m = krt_onnx__model_proto__unpack(NULL, size, data);
  free(data);
  if (!m)
    return krt_error(KRT_ERR_BAD_FILE, "%s: not a valid ONNX model (the protobuf does not decode)",
                     path);
  /* First as exported with a fixed batch (pytorch's traced batch taken as the batch, so the
   * engine runs any batch); when that cannot be built (an op that mixes axis 0 with others, inputs
   * of different first sizes), again with every fixed dimension as written. */
  krt_status *s = NULL;
  ir_graph *g = NULL;
  for (int fixed_is_batch = 1; fixed_is_batch >= 0; fixed_is_batch--) {
    ox_ctx c;
    memset(&c, 0, sizeof c);
    c.file = path;
    c.options = options;
    c.layer = -1;
    c.declared_batch = -1;
    c.fixed_is_batch = fixed_is_batch;
    c.g = ir_graph_create();
    krt_status *attempt = c.g ? NULL : krt_error_oom("graph");
    if (!attempt) {
      c.g->source = strdup(path);
      if (!c.g->source) attempt = krt_error_oom("graph");
    }
    if (!attempt) attempt = import_graph(&c, m);
    int used_fixed = c.declared_batch >= 0;
    for (int t = 0; t < c.n_tensors; t++) {
      free(c.tensors[t].name);
      ox_known_free(c.tensors[t].known);
    }
    free(c.tensors);
    free(c.slots);
    if (!attempt) {
      g = c.g;
      krt_status_release(s);
      s = NULL;
      break;
    }
    ir_graph_free(c.g);
    krt_status_release(s);
    s = attempt;
    krt_code code = krt_status_code(attempt);
    if (!fixed_is_batch || !used_fixed || code == KRT_ERR_OUT_OF_MEMORY || code == KRT_ERR_IO)
      break;
  }
  krt_onnx__model_proto__free_unpacked(m, NULL);
  if (s) return s;
  *out = g;
  return NULL;
}
