/* The TensorFlow importer's helpers: attributes, static tensors and IR values, errors that name
 * the node and its op. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "import/tf_internal.h"

krt_status *tf_node_error(const tf_op_call *c, krt_code code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return krt_error(code, "%s: node '%s' (op %s): %s", c->t->file, c->name, c->op, msg);
}

const char *tf_dtype_name(int dtype) {
  static const char *const names[] = {"invalid", "float32", "float64", "int32",  "uint8",
                                      "int16",   "int8",    "string",  "complex64", "int64",
                                      "bool",    "qint8",   "quint8",  "qint32", "bfloat16",
                                      "qint16",  "quint16", "uint16",  "complex128", "float16",
                                      "resource", "variant", "uint32", "uint64"};
  if (dtype >= 0 && dtype < (int)(sizeof names / sizeof *names)) return names[dtype];
  if (dtype > 100 && dtype - 100 < (int)(sizeof names / sizeof *names)) return "a reference type";
  return "an unknown type";
}

const Krt__Tf__AttrValue *tf_attr(const tf_op_call *c, const char *key) {
  const Krt__Tf__NodeDef *d = c->node->def;
  for (size_t i = 0; i < d->n_attr; i++)
    if (d->attr[i]->key && strcmp(d->attr[i]->key, key) == 0) return d->attr[i]->value;
  return NULL;
}

static krt_status *attr_missing(const tf_op_call *c, const char *key, const char *what) {
  return tf_node_error(c, KRT_ERR_BAD_FILE, "attribute '%s' is missing or not %s", key, what);
}

krt_status *tf_attr_int(const tf_op_call *c, const char *key, int has_default, int64_t def,
                        int64_t *out) {
  const Krt__Tf__AttrValue *a = tf_attr(c, key);
  if (!a && has_default) {
    *out = def;
    return NULL;
  }
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_I) return attr_missing(c, key, "an int");
  *out = a->i;
  return NULL;
}

krt_status *tf_attr_float(const tf_op_call *c, const char *key, int has_default, float def,
                          float *out) {
  const Krt__Tf__AttrValue *a = tf_attr(c, key);
  if (!a && has_default) {
    *out = def;
    return NULL;
  }
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_F) return attr_missing(c, key, "a float");
  *out = a->f;
  return NULL;
}

krt_status *tf_attr_bool(const tf_op_call *c, const char *key, int has_default, int def, int *out) {
  const Krt__Tf__AttrValue *a = tf_attr(c, key);
  if (!a && has_default) {
    *out = def;
    return NULL;
  }
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_B) return attr_missing(c, key, "a bool");
  *out = a->b ? 1 : 0;
  return NULL;
}

krt_status *tf_attr_string(const tf_op_call *c, const char *key, const char *def, char *buf,
                           size_t size) {
  const Krt__Tf__AttrValue *a = tf_attr(c, key);
  if (!a && def) {
    snprintf(buf, size, "%s", def);
    return NULL;
  }
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_S || a->s.len >= size ||
      memchr(a->s.data, 0, a->s.len))
    return attr_missing(c, key, "a short string");
  memcpy(buf, a->s.data, a->s.len);
  buf[a->s.len] = '\0';
  return NULL;
}

krt_status *tf_attr_type(const tf_op_call *c, const char *key, int has_default, int def, int *out) {
  const Krt__Tf__AttrValue *a = tf_attr(c, key);
  if (!a && has_default) {
    *out = def;
    return NULL;
  }
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_TYPE) return attr_missing(c, key, "a type");
  *out = a->type;
  return NULL;
}

krt_status *tf_attr_ints(const tf_op_call *c, const char *key, int64_t *out, int max, int *n) {
  const Krt__Tf__AttrValue *a = tf_attr(c, key);
  if (!a || a->value_case != KRT__TF__ATTR_VALUE__VALUE_LIST)
    return attr_missing(c, key, "a list of ints");
  if (a->list->n_i > (size_t)max)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED, "attribute '%s' has %zu values (at most %d)", key,
                         a->list->n_i, max);
  for (size_t i = 0; i < a->list->n_i; i++) out[i] = a->list->i[i];
  *n = (int)a->list->n_i;
  return NULL;
}

krt_status *tf_require_float_type(const tf_op_call *c, const char *key) {
  int type;
  if (!tf_attr(c, key)) return NULL;
  KRT_TRY(tf_attr_type(c, key, 0, 0, &type));
  if (type != KRT__TF__DATA_TYPE__DT_FLOAT && type != KRT__TF__DATA_TYPE__DT_DOUBLE)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "attribute '%s' is %s; krt computes this op in float32 only (float32 or "
                         "float64 graphs)",
                         key, tf_dtype_name(type));
  return NULL;
}

/* ---- tensors ----------------------------------------------------------------------------- */

int tf_rank(const tf_op_call *c, const tf_tensor *x) {
  return x->value >= 0 ? c->t->g->values[x->value].rank : x->rank;
}

const int64_t *tf_dims(const tf_op_call *c, const tf_tensor *x) {
  return x->value >= 0 ? c->t->g->values[x->value].dims : x->dims;
}

int tf_batched(const tf_op_call *c, const tf_tensor *x) {
  return x->value >= 0 && c->t->g->values[x->value].batched;
}

int64_t tf_elements(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) return -1;
    if (dims[i] && n > TF_MAX_ELEMENTS / dims[i]) return -1;
    n *= dims[i];
  }
  return n;
}

krt_status *tf_value(tf_op_call *c, tf_tensor *x, int *value) {
  if (x->value >= 0) {
    *value = x->value;
    return NULL;
  }
  if (!x->is_static) return tf_node_error(c, KRT_ERR_INTERNAL, "an input has neither value nor data");
  int64_t n = tf_elements(x->rank, x->dims);
  if (n < 0) return tf_node_error(c, KRT_ERR_INTERNAL, "a static input has no known size");
  float *data = malloc((size_t)(n ? n : 1) * sizeof *data);
  if (!data) return krt_error_oom("constant");
  for (int64_t i = 0; i < n; i++) {
    if (!x->is_int) {
      data[i] = x->floats[i];
      continue;
    }
    if (x->ints[i] == TF_BATCH_DIM) {
      free(data);
      return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                           "an input is computed from the batch size (a Shape of a batched "
                           "tensor); krt uses it only as a shape");
    }
    data[i] = (float)x->ints[i];
  }
  /* Named after the node that made it; the tensor's owner is found through the node. */
  char name[1024];
  int k = (int)(x - c->node->outputs);
  const char *owner = c->name;
  if (k < 0 || k >= c->node->n_outputs) {
    k = 0;
    owner = "const";
    for (size_t i = 0; i < c->t->n_nodes; i++) {
      tf_node *m = &c->t->nodes[i];
      if (m->outputs && x >= m->outputs && x < m->outputs + m->n_outputs) {
        owner = m->def->name;
        k = (int)(x - m->outputs);
        break;
      }
    }
  }
  if (k)
    snprintf(name, sizeof name, "%s:%d", owner, k);
  else
    snprintf(name, sizeof name, "%s", owner);
  if (ir_find_value(c->t->g, name) >= 0) snprintf(name + strlen(name), sizeof name - strlen(name), "/const");
  KRT_TRY(ir_add_const(c->t->g, name, x->rank, x->dims, data, &x->value));
  *value = x->value;
  return NULL;
}

krt_status *tf_static_ints(const tf_op_call *c, int i, const int64_t **data, int64_t *n) {
  if (i >= c->n_inputs)
    return tf_node_error(c, KRT_ERR_BAD_FILE, "has %d inputs, not %d", c->n_inputs, i + 1);
  const tf_tensor *x = c->inputs[i];
  if (!x->is_static || !x->is_int)
    return tf_node_error(c, KRT_ERR_UNSUPPORTED,
                         "input %d must be integers known while importing (a constant or shape "
                         "arithmetic on static shapes)",
                         i);
  *data = x->ints;
  *n = tf_elements(x->rank, x->dims);
  return NULL;
}

static krt_status *ensure_outputs(tf_op_call *c, int k) {
  tf_node *n = c->node;
  if (k < n->n_outputs) return NULL;
  if (k > 1024) return tf_node_error(c, KRT_ERR_UNSUPPORTED, "more than 1024 outputs");
  tf_tensor *o = realloc(n->outputs, (size_t)(k + 1) * sizeof *o);
  if (!o) return krt_error_oom("node outputs");
  for (int i = n->n_outputs; i <= k; i++) o[i] = (tf_tensor){.value = -1};
  n->outputs = o;
  n->n_outputs = k + 1;
  return NULL;
}

krt_status *tf_set_output_value(tf_op_call *c, int k, int value) {
  KRT_TRY(ensure_outputs(c, k));
  c->node->outputs[k].value = value;
  return NULL;
}

static krt_status *set_static(tf_op_call *c, int k, int rank, const int64_t *dims, int64_t *ints,
                              float *floats) {
  krt_status *s = rank > KRT_MAX_RANK || rank < 0
                      ? tf_node_error(c, KRT_ERR_UNSUPPORTED, "a result of rank %d (at most %d)",
                                      rank, KRT_MAX_RANK)
                      : ensure_outputs(c, k);
  if (s) {
    free(ints);
    free(floats);
    return s;
  }
  tf_tensor *o = &c->node->outputs[k];
  o->is_static = 1;
  o->is_int = ints != NULL;
  o->ints = ints;
  o->floats = floats;
  o->rank = rank;
  if (rank) memcpy(o->dims, dims, (size_t)rank * sizeof *dims);
  return NULL;
}

krt_status *tf_set_output_ints(tf_op_call *c, int k, int rank, const int64_t *dims, int64_t *data) {
  return set_static(c, k, rank, dims, data, NULL);
}

krt_status *tf_set_output_floats(tf_op_call *c, int k, int rank, const int64_t *dims,
                                 float *data) {
  return set_static(c, k, rank, dims, NULL, data);
}

krt_status *tf_emit(tf_op_call *c, ir_op op, const char *suffix, const int *inputs, int n_inputs,
                    const ir_attrs *attrs, int *out) {
  return import_emit_node(c->t->g, c->name, suffix, op, inputs, n_inputs, attrs, out, c->t->file,
                          "TensorFlow", c->op);
}

krt_status *tf_transpose(tf_op_call *c, int x, const int *perm, const char *suffix, int *out) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  int rank = c->t->g->values[x].rank;
  for (int i = 0; i < rank; i++) a.perm[i] = perm[i];
  return tf_emit(c, IR_OP_TRANSPOSE, suffix, &x, 1, &a, out);
}

krt_status *tf_to_channels_last(tf_op_call *c, int x, int *out) {
  int rank = c->t->g->values[x].rank, perm[KRT_MAX_RANK];
  perm[0] = 0;
  for (int i = 1; i < rank - 1; i++) perm[i] = i + 1;
  perm[rank - 1] = 1;
  KRT_TRY(tf_transpose(c, x, perm, "/to_nhwc", out));
  c->t->g->values[*out].layout = IR_LAYOUT_CHANNELS_LAST;
  return NULL;
}

krt_status *tf_to_channels_first(tf_op_call *c, int x, int *out) {
  int rank = c->t->g->values[x].rank, perm[KRT_MAX_RANK];
  perm[0] = 0;
  perm[1] = rank - 1;
  for (int i = 2; i < rank; i++) perm[i] = i - 1;
  KRT_TRY(tf_transpose(c, x, perm, "/to_nchw", out));
  c->t->g->values[*out].layout = IR_LAYOUT_CHANNELS_FIRST;
  return NULL;
}

krt_status *tf_const(tf_op_call *c, const char *suffix, int rank, const int64_t *dims,
                     const float *data, int *out) {
  char name[1024];
  snprintf(name, sizeof name, "%s%s", c->name, suffix);
  for (int i = 2; ir_find_value(c->t->g, name) >= 0 && i < 1000; i++)
    snprintf(name, sizeof name, "%s%s_%d", c->name, suffix, i);
  return ir_add_const_copy(c->t->g, name, rank, dims, data, out);
}
