/* A node's attributes in the engine file: typed key/value records of the ir_attrs fields its op
 * reads (ops.def, src/ir/attrs.c), as GGUF stores metadata.
 *
 *   u32 n_records, then per record:
 *     str key      the field's key ("kernel", "act_alpha")
 *     u32 type     1: integers, each an i64; 2: floats, each f32 (IEEE-754 bits)
 *     u32 count    elements (the field's length: 1, or IR_MAX_SPATIAL, or KRT_MAX_RANK)
 *     values
 *
 * A reader needs every field of the op, once, with its type and length, integers within the
 * field's range, and no other key: an unknown key is an attribute some other krt added, whose
 * meaning this one does not know, so the engine is refused rather than run without it.
 * Writer and reader sit side by side so the format visibly matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/engine_file_layout.h"

#define RECORD_INTS 1u
#define RECORD_FLOATS 2u

static uint32_t record_type(const ir_attr_field *f) {
  return f->type == IR_ATTR_FLOAT32 ? RECORD_FLOATS : RECORD_INTS;
}

void engine_attrs_write(byte_writer *w, ir_op op, const ir_attrs *a) {
  int n_fields;
  const ir_attr_field *fields = ir_attr_fields(&n_fields);
  const uint8_t *base = (const uint8_t *)a;
  uint32_t n_records = 0;
  for (int i = 0; i < n_fields; i++) n_records += ir_field_belongs(&fields[i], op) ? 1u : 0u;
  bw_u32(w, n_records);
  for (int i = 0; i < n_fields; i++) {
    const ir_attr_field *f = &fields[i];
    if (!ir_field_belongs(f, op)) continue;
    bw_string(w, f->key);
    bw_u32(w, record_type(f));
    bw_u32(w, (uint32_t)f->count);
    for (int k = 0; k < f->count; k++) {
      const uint8_t *p = base + f->offset;
      if (f->type == IR_ATTR_INT32) {
        int32_t v;
        memcpy(&v, p + 4 * (size_t)k, 4);
        bw_i64(w, v);
      } else if (f->type == IR_ATTR_INT64) {
        int64_t v;
        memcpy(&v, p + 8 * (size_t)k, 8);
        bw_i64(w, v);
      } else {
        float v;
        memcpy(&v, p + 4 * (size_t)k, 4);
        bw_f32(w, v);
      }
    }
  }
}

/* Reads one record's values into field f of a. Returns 0 when an integer is out of range. */
static int read_values(byte_reader *r, const ir_attr_field *f, ir_attrs *a) {
  uint8_t *p = (uint8_t *)a + f->offset;
  int in_range = 1;
  for (int k = 0; k < f->count; k++) {
    if (f->type == IR_ATTR_FLOAT32) {
      float v = br_f32(r);
      memcpy(p + 4 * (size_t)k, &v, 4);
      continue;
    }
    int64_t v = br_i64(r);
    if (!ir_attr_int_in_range(f, v)) {
      in_range = 0;
      v = 0;
    }
    if (f->type == IR_ATTR_INT32) {
      int32_t v32 = (int32_t)v;
      memcpy(p + 4 * (size_t)k, &v32, 4);
    } else {
      memcpy(p + 8 * (size_t)k, &v, 8);
    }
  }
  return in_range;
}

int engine_attrs_read(byte_reader *r, ir_op op, ir_attrs *a, char *why, size_t why_size) {
  int n_fields;
  const ir_attr_field *fields = ir_attr_fields(&n_fields);
  memset(a, 0, sizeof *a);
  a->act = ir_act_none();
  uint64_t seen = 0; /* bit i: fields[i] read */
  if (n_fields > 64) {
    snprintf(why, why_size, "krt bug: %d attribute fields, the reader tracks 64", n_fields);
    return 0;
  }
  uint32_t n_records = br_u32(r);
  if (r->failed) return 0;
  /* The smallest record (empty key, no values) takes 12 bytes. */
  if (n_records > (uint32_t)n_fields || n_records > br_remaining(r) / 12) {
    snprintf(why, why_size, "%u attribute records for at most %d fields", n_records, n_fields);
    return 0;
  }
  for (uint32_t i = 0; i < n_records; i++) {
    char *key = NULL;
    int oom = 0;
    if (!br_string(r, &key, &oom) || !key) {
      free(key);
      snprintf(why, why_size, "%s", oom ? "out of memory reading an attribute key"
                                        : "bad attribute key");
      return 0;
    }
    int found = -1;
    for (int k = 0; k < n_fields && found < 0; k++)
      if (ir_field_belongs(&fields[k], op) && strcmp(fields[k].key, key) == 0) found = k;
    if (found < 0) {
      snprintf(why, why_size,
               "attribute '%.64s' is not one %s has in this krt (an engine from another krt "
               "version: rebuild it from the model)",
               key, ir_op_name(op));
      free(key);
      return 0;
    }
    free(key);
    const ir_attr_field *f = &fields[found];
    uint32_t type = br_u32(r), count = br_u32(r);
    if (r->failed) return 0;
    if (seen & ((uint64_t)1 << found)) {
      snprintf(why, why_size, "attribute '%s' appears twice", f->key);
      return 0;
    }
    seen |= (uint64_t)1 << found;
    if (type != record_type(f) || count != (uint32_t)f->count) {
      snprintf(why, why_size, "attribute '%s' has type %u and %u values; expected type %u and %d",
               f->key, type, count, record_type(f), f->count);
      return 0;
    }
    if (!read_values(r, f, a)) {
      if (r->failed) return 0;
      snprintf(why, why_size, "attribute '%s' out of range", f->key);
      return 0;
    }
    if (r->failed) return 0;
  }
  for (int k = 0; k < n_fields; k++)
    if (ir_field_belongs(&fields[k], op) && !(seen & ((uint64_t)1 << k))) {
      snprintf(why, why_size, "attribute '%s' of %s is missing", fields[k].key, ir_op_name(op));
      return 0;
    }
  return 1;
}

int engine_value_props_read(byte_reader *r, char *why, size_t why_size) {
  uint32_t n_records = br_u32(r);
  if (r->failed || n_records == 0) return !r->failed;
  char *key = NULL;
  int oom = 0;
  if (!br_string(r, &key, &oom) || !key) {
    free(key);
    snprintf(why, why_size, "%u properties, the first with a bad key", n_records);
    return 0;
  }
  snprintf(why, why_size,
           "property '%.64s' is not one this krt knows (an engine from another krt version: "
           "rebuild it from the model)",
           key);
  free(key);
  return 0;
}
