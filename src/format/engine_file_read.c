/* Reads and checks a .krt engine file (layout: engine_file.h).
 *
 * Order of checks: magic, version, header, size, checksum, section table, META, GRAPH records
 * (each count against the bytes left before allocating, each field's range as it is read), then
 * the references between records (ids, topological order), then shapes re-inferred and compared
 * with the stored ones. Nothing read from the file is used before it is checked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "format/engine_file.h"
#include "format/engine_file_layout.h"

typedef struct engine_reader {
  const char *what;    /* names the source in messages */
  const uint8_t *file;
  size_t size;
  size_t offset[ENGINE_SECTION_COUNT + 1], length[ENGINE_SECTION_COUNT + 1]; /* by kind */
} engine_reader;

static krt_status *bad_file(const engine_reader *er, const char *fmt, ...) KRT_PRINTF(2, 3);
static krt_status *bad_file(const engine_reader *er, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return krt_error(KRT_ERR_BAD_FILE, "%s: %s", er->what, detail);
}

static uint32_t get_u32(const uint8_t *p) {
  byte_reader r = {p, 4, 0, 0};
  return br_u32(&r);
}

static uint64_t get_u64(const uint8_t *p) {
  byte_reader r = {p, 8, 0, 0};
  return br_u64(&r);
}

static krt_status *check_header(const engine_reader *er) {
  const uint8_t *f = er->file;
  const size_t magic_len = sizeof KRT_ENGINE_MAGIC; /* with its NUL */
  if (er->size < magic_len) {
    if (er->size > 0 && memcmp(f, KRT_ENGINE_MAGIC, er->size) == 0)
      return bad_file(er, "truncated: %zu bytes, shorter than the %d-byte header", er->size,
                      ENGINE_HEADER_SIZE);
    return bad_file(er, "not a krt engine file");
  }
  if (memcmp(f, KRT_ENGINE_MAGIC, magic_len) != 0) return bad_file(er, "not a krt engine file");
  if (er->size < ENGINE_OFF_VERSION + 4)
    return bad_file(er, "truncated: %zu bytes, shorter than the %d-byte header", er->size,
                    ENGINE_HEADER_SIZE);
  uint32_t version = get_u32(f + ENGINE_OFF_VERSION);
  if (version != KRT_ENGINE_FORMAT_VERSION)
    return krt_error(KRT_ERR_VERSION,
                     "%s: engine format version %u, this krt reads version %u; rebuild the engine",
                     er->what, version, KRT_ENGINE_FORMAT_VERSION);
  if (er->size < ENGINE_HEADER_SIZE) {
    if (er->size >= ENGINE_OFF_FILE_SIZE + 8)
      return bad_file(er, "truncated: header says %llu bytes, found %zu",
                      (unsigned long long)get_u64(f + ENGINE_OFF_FILE_SIZE), er->size);
    return bad_file(er, "truncated: %zu bytes, shorter than the %d-byte header", er->size,
                    ENGINE_HEADER_SIZE);
  }
  uint32_t header_size = get_u32(f + ENGINE_OFF_HEADER_SIZE);
  if (header_size != ENGINE_HEADER_SIZE)
    return bad_file(er, "header size %u, expected %d", header_size, ENGINE_HEADER_SIZE);
  uint64_t file_size = get_u64(f + ENGINE_OFF_FILE_SIZE);
  if (file_size > er->size)
    return bad_file(er, "truncated: header says %llu bytes, found %zu",
                    (unsigned long long)file_size, er->size);
  if (file_size < er->size)
    return bad_file(er, "header says %llu bytes, found %zu (extra bytes at the end)",
                    (unsigned long long)file_size, er->size);
  for (size_t i = ENGINE_OFF_RESERVED; i < ENGINE_HEADER_SIZE; i++)
    if (f[i] != 0) return bad_file(er, "reserved header byte %zu is not zero", i);
  uint32_t stored = get_u32(f + ENGINE_OFF_CRC);
  if (engine_crc32(f + ENGINE_HEADER_SIZE, er->size - ENGINE_HEADER_SIZE) != stored)
    return bad_file(er, "checksum mismatch (corrupted file)");
  return NULL;
}

static const char *section_name(uint32_t kind) {
  switch (kind) {
    case ENGINE_SECTION_META: return "META";
    case ENGINE_SECTION_GRAPH: return "GRAPH";
    case ENGINE_SECTION_WEIGHTS: return "WEIGHTS";
    case ENGINE_SECTION_TUNING: return "TUNING";
    default: return "?";
  }
}

/* Fills er->offset/length by kind: one of each kind, aligned, after the table, inside the file,
 * not overlapping. */
static krt_status *read_section_table(engine_reader *er) {
  const uint8_t *f = er->file;
  uint32_t n = get_u32(f + ENGINE_OFF_N_SECTIONS);
  uint64_t table = get_u64(f + ENGINE_OFF_TABLE);
  if (n != ENGINE_SECTION_COUNT)
    return bad_file(er, "%u sections, expected %d", n, ENGINE_SECTION_COUNT);
  if (table != ENGINE_HEADER_SIZE)
    return bad_file(er, "section table at byte %llu, expected %d", (unsigned long long)table,
                    ENGINE_HEADER_SIZE);
  const size_t table_end = ENGINE_HEADER_SIZE + ENGINE_SECTION_COUNT * ENGINE_SECTION_ENTRY_SIZE;
  if (er->size < table_end)
    return bad_file(er, "truncated: %zu bytes end inside the section table", er->size);
  int seen[ENGINE_SECTION_COUNT + 1] = {0};
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *e = f + ENGINE_HEADER_SIZE + i * ENGINE_SECTION_ENTRY_SIZE;
    uint32_t kind = get_u32(e), reserved = get_u32(e + 4);
    uint64_t offset = get_u64(e + 8), length = get_u64(e + 16);
    if (kind < ENGINE_SECTION_META || kind > ENGINE_SECTION_TUNING)
      return bad_file(er, "section %u has unknown kind %u", i, kind);
    if (seen[kind]++) return bad_file(er, "two %s sections", section_name(kind));
    if (reserved) return bad_file(er, "%s section entry: reserved field not zero", section_name(kind));
    if (offset % KRT_ENGINE_ALIGNMENT || offset < table_end || offset > er->size ||
        length > er->size - offset)
      return bad_file(er, "%s section (bytes %llu + %llu) lies outside the file's %zu bytes or "
                          "is misaligned",
                      section_name(kind), (unsigned long long)offset,
                      (unsigned long long)length, er->size);
    er->offset[kind] = (size_t)offset;
    er->length[kind] = (size_t)length;
  }
  for (uint32_t a = 1; a <= ENGINE_SECTION_COUNT; a++)
    for (uint32_t b = a + 1; b <= ENGINE_SECTION_COUNT; b++)
      if (er->offset[a] < er->offset[b] + er->length[b] &&
          er->offset[b] < er->offset[a] + er->length[a])
        return bad_file(er, "sections %s and %s overlap", section_name(a), section_name(b));
  return NULL;
}

static byte_reader section_reader(const engine_reader *er, int kind) {
  byte_reader r = {er->file + er->offset[kind], er->length[kind], 0, 0};
  return r;
}

/* A string into a fixed array (always terminated). */
static int read_fixed_string(byte_reader *r, char *dst, size_t cap) {
  uint32_t n = br_u32(r);
  if (r->failed || n >= cap) return 0;
  const uint8_t *p = br_take(r, n);
  if (!p || memchr(p, 0, n)) return 0;
  memcpy(dst, p, n);
  dst[n] = '\0';
  return 1;
}

const char *engine_precision_name(krt_precision precision) {
  switch (precision) {
    case KRT_PRECISION_FP32: return "FP32";
    case KRT_PRECISION_FP16: return "FP16";
    case KRT_PRECISION_TF32: return "TF32";
  }
  return NULL;
}

static krt_status *read_meta(const engine_reader *er, engine_meta *meta) {
  byte_reader r = section_reader(er, ENGINE_SECTION_META);
  memset(meta, 0, sizeof *meta);
  uint32_t device = br_u32(&r), precision = br_u32(&r);
  int64_t max_batch = br_i64(&r);
  if (r.failed) return bad_file(er, "META section is too short");
  if (device > KRT_DEVICE_CUDA) return bad_file(er, "META: unknown device %u", device);
  if (precision > KRT_PRECISION_TF32) return bad_file(er, "META: unknown precision %u", precision);
  if (max_batch < 1) return bad_file(er, "META: max batch %lld", (long long)max_batch);
  if (!read_fixed_string(&r, meta->device_name, sizeof meta->device_name))
    return bad_file(er, "META: bad device name");
  if (!read_fixed_string(&r, meta->krt_version, sizeof meta->krt_version))
    return bad_file(er, "META: bad krt version");
  if (br_remaining(&r)) return bad_file(er, "META: %zu unexpected bytes at its end", br_remaining(&r));
  meta->device = (krt_device)device;
  meta->precision = (krt_precision)precision;
  meta->max_batch = max_batch;
  meta->tuning = er->length[ENGINE_SECTION_TUNING] ? er->file + er->offset[ENGINE_SECTION_TUNING]
                                                   : NULL;
  meta->tuning_size = er->length[ENGINE_SECTION_TUNING];
  return NULL;
}

/* ---- GRAPH records ---------------------------------------------------------------------------- */

/* The stored shape of a node output, kept to compare with what inference computes. */
typedef struct stored_shape {
  krt_dtype dtype;
  int rank, batched;
  ir_layout layout;
  int64_t dims[KRT_MAX_RANK];
} stored_shape;

#define GRAPH_FAIL(...)                 \
  do {                                  \
    s = bad_file(er, "GRAPH: " __VA_ARGS__); \
    goto fail;                          \
  } while (0)

static krt_status *read_value(const engine_reader *er, byte_reader *r, ir_graph *g, int i,
                              int n_nodes) {
  krt_status *s = NULL;
  ir_value *v = &g->values[i];
  int oom = 0;
  if (!br_string(r, &v->name, &oom) || !v->name) {
    if (oom) return krt_error_oom("engine value name");
    GRAPH_FAIL("value %d: bad name", i);
  }
  g->n_values = i + 1; /* from here on ir_graph_free releases the name */
  uint32_t dtype = br_u32(r), rank = br_u32(r);
  if (r->failed) GRAPH_FAIL("section ends inside value '%s'", v->name);
  if (dtype < KRT_FLOAT32 || dtype > KRT_UINT8)
    GRAPH_FAIL("value '%s': unknown dtype %u", v->name, dtype);
  if (rank > KRT_MAX_RANK)
    GRAPH_FAIL("value '%s': rank %u is above %d", v->name, rank, KRT_MAX_RANK);
  v->dtype = (krt_dtype)dtype;
  v->rank = (int)rank;
  for (int d = 0; d < v->rank; d++) v->dims[d] = br_i64(r);
  uint32_t batched = br_u32(r), layout = br_u32(r);
  int32_t producer = br_i32(r);
  int64_t data_offset = br_i64(r);
  uint64_t data_bytes = br_u64(r);
  char bad_property[256] = "";
  int props_ok = engine_value_props_read(r, bad_property, sizeof bad_property);
  if (r->failed) GRAPH_FAIL("section ends inside value '%s'", v->name);
  if (!props_ok) GRAPH_FAIL("value '%s': %s", v->name, bad_property);
  if (r->failed) GRAPH_FAIL("section ends inside value '%s'", v->name);
  for (int d = 0; d < v->rank; d++)
    if (v->dims[d] < -1 || v->dims[d] > ENGINE_MAX_DIM)
      GRAPH_FAIL("value '%s': dimension %d is %lld", v->name, d, (long long)v->dims[d]);
  if (batched > 1) GRAPH_FAIL("value '%s': batched flag %u", v->name, batched);
  if (layout > IR_LAYOUT_CHANNELS_FIRST) GRAPH_FAIL("value '%s': unknown layout %u", v->name, layout);
  if (producer < -1 || producer >= n_nodes)
    GRAPH_FAIL("value '%s': producer %d is not a node", v->name, (int)producer);
  v->batched = (int)batched;
  v->layout = (ir_layout)layout;
  v->producer = producer;
  v->producer_output = -1; /* set from the node's output list (check_references) */
  if (data_offset < 0) {
    if (data_offset != -1 || data_bytes != 0)
      GRAPH_FAIL("value '%s': weight offset %lld without a constant", v->name,
                 (long long)data_offset);
    return NULL;
  }
  /* A constant: every dimension known, data inside WEIGHTS at a multiple of 64. */
  size_t weights = er->length[ENGINE_SECTION_WEIGHTS];
  uint64_t elements = 1;
  for (int d = 0; d < v->rank; d++) {
    if (v->dims[d] < 0) GRAPH_FAIL("constant '%s': dimension %d unknown", v->name, d);
    if (v->dims[d] > 0 && elements > weights / (uint64_t)v->dims[d])
      GRAPH_FAIL("constant '%s' is larger than the WEIGHTS section", v->name);
    elements *= (uint64_t)v->dims[d];
  }
  if (producer != -1) GRAPH_FAIL("constant '%s' has a producer", v->name);
  if (data_bytes != elements * sizeof(float))
    GRAPH_FAIL("constant '%s': %llu bytes for %llu float32 values", v->name,
               (unsigned long long)data_bytes, (unsigned long long)elements);
  if ((uint64_t)data_offset % KRT_ENGINE_ALIGNMENT || (uint64_t)data_offset > weights ||
      data_bytes > weights - (uint64_t)data_offset)
    GRAPH_FAIL("constant '%s': data (byte %lld + %llu) misaligned or outside WEIGHTS (%zu bytes)",
               v->name, (long long)data_offset, (unsigned long long)data_bytes, weights);
  /* The file offset is a multiple of 64 and the buffer is 4-byte aligned (checked by the
   * caller), so the floats are aligned. The graph borrows them. */
  const uint8_t *p = er->file + er->offset[ENGINE_SECTION_WEIGHTS] + (size_t)data_offset;
  v->data = (float *)(uintptr_t)p;
  v->owns_data = 0;
  return NULL;
fail:
  return s;
}

static krt_status *read_layer(const engine_reader *er, byte_reader *r, ir_graph *g, int i) {
  krt_status *s = NULL;
  ir_layer *l = &g->layers[i];
  int oom = 0, ok = br_string(r, &l->name, &oom);
  ok = ok && br_string(r, &l->class_name, &oom);
  g->n_layers = i + 1;
  if (oom) return krt_error_oom("engine layer");
  if (!ok || !l->name || !l->class_name) GRAPH_FAIL("layer %d: bad name or class", i);
  l->output = br_i32(r);
  l->param_count = br_i64(r);
  if (r->failed) GRAPH_FAIL("section ends inside layer '%s'", l->name);
  if (l->output < -1 || l->output >= g->n_values)
    GRAPH_FAIL("layer '%s': output %d is not a value", l->name, l->output);
  if (l->param_count < 0) GRAPH_FAIL("layer '%s': %lld parameters", l->name, (long long)l->param_count);
  return NULL;
fail:
  return s;
}

static krt_status *read_node(const engine_reader *er, byte_reader *r, ir_graph *g, int i) {
  krt_status *s = NULL;
  ir_node *n = &g->nodes[i];
  int oom = 0;
  uint32_t op = br_u32(r);
  if (!br_string(r, &n->name, &oom) || !n->name) {
    if (oom) return krt_error_oom("engine node name");
    GRAPH_FAIL("node %d: bad name", i);
  }
  g->n_nodes = i + 1;
  if (!ir_op_is_valid((int)op)) GRAPH_FAIL("node '%s': unknown op %u", n->name, op);
  n->op = (ir_op)op;
  n->layer = br_i32(r);
  uint32_t n_inputs = br_u32(r);
  if (r->failed) GRAPH_FAIL("section ends inside node '%s'", n->name);
  if (n->layer < -1 || n->layer >= g->n_layers)
    GRAPH_FAIL("node '%s': layer %d does not exist", n->name, n->layer);
  if (n_inputs == 0) GRAPH_FAIL("node '%s' has no inputs", n->name); /* every op reads x */
  if (n_inputs > br_remaining(r) / 4)
    GRAPH_FAIL("node '%s': %u inputs do not fit in the section", n->name, n_inputs);
  n->inputs = malloc((size_t)(n_inputs ? n_inputs : 1) * sizeof *n->inputs);
  if (!n->inputs) return krt_error_oom("engine node inputs");
  n->n_inputs = (int)n_inputs;
  for (int k = 0; k < n->n_inputs; k++) n->inputs[k] = br_i32(r);
  uint32_t n_outputs = br_u32(r);
  if (r->failed) GRAPH_FAIL("section ends inside node '%s'", n->name);
  int lo = ir_op_min_outputs(n->op), hi = ir_op_max_outputs(n->op);
  if (n_outputs < (uint32_t)lo || n_outputs > (uint32_t)hi) {
    char range[48];
    if (lo == hi) snprintf(range, sizeof range, "%d", lo);
    else snprintf(range, sizeof range, "%d to %d", lo, hi);
    GRAPH_FAIL("node '%s' (%s) has %u outputs; %s has %s in this krt (an engine from another "
               "krt version: rebuild it from the model)",
               n->name, ir_op_name(n->op), n_outputs, ir_op_name(n->op), range);
  }
  if (n_outputs > br_remaining(r) / 4)
    GRAPH_FAIL("node '%s': %u outputs do not fit in the section", n->name, n_outputs);
  n->outputs = malloc((size_t)n_outputs * sizeof *n->outputs);
  if (!n->outputs) return krt_error_oom("engine node outputs");
  n->n_outputs = (int)n_outputs;
  for (int k = 0; k < n->n_outputs; k++) n->outputs[k] = br_i32(r);
  char bad_attr[256] = "";
  int attrs_ok = engine_attrs_read(r, n->op, &n->attrs, bad_attr, sizeof bad_attr);
  if (r->failed) GRAPH_FAIL("section ends inside node '%s'", n->name);
  if (!attrs_ok) GRAPH_FAIL("node '%s' (%s): %s", n->name, ir_op_name(n->op), bad_attr);
  if (!br_string(r, &n->fused, &oom)) {
    if (oom) return krt_error_oom("engine node");
    GRAPH_FAIL("node '%s': bad list of fused layers", n->name);
  }
  return NULL;
fail:
  return s;
}

/* Cross-references: every id names a record, nodes come after what they read, each value has
 * at most one producer and it agrees with the node's outputs. Sets each produced value's
 * producer_output. */
static krt_status *check_references(const engine_reader *er, ir_graph *g) {
  krt_status *s = NULL;
  char *is_input = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
  if (!is_input) return krt_error_oom("engine check");
  for (int i = 0; i < g->n_inputs; i++) {
    int v = g->inputs[i];
    if (v < 0 || v >= g->n_values) GRAPH_FAIL("input %d refers to value %d", i, v);
    if (is_input[v]) GRAPH_FAIL("value '%s' is listed twice as an input", g->values[v].name);
    if (g->values[v].producer != -1 || g->values[v].data)
      GRAPH_FAIL("input '%s' is a constant or a node output", g->values[v].name);
    is_input[v] = 1;
  }
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] < 0 || g->outputs[i] >= g->n_values)
      GRAPH_FAIL("output '%s' refers to value %d", g->output_names[i], g->outputs[i]);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v < 0 || v >= g->n_values)
        GRAPH_FAIL("node '%s': input %d refers to value %d", n->name, k, v);
      int p = g->values[v].producer;
      if (!g->values[v].data && !is_input[v] && (p < 0 || p >= i))
        GRAPH_FAIL("node '%s' reads '%s' before it is computed", n->name, g->values[v].name);
    }
    for (int k = 0; k < n->n_outputs; k++) {
      int v = n->outputs[k];
      if (v < 0 || v >= g->n_values)
        GRAPH_FAIL("node '%s': output %d refers to value %d", n->name, k, v);
      if (g->values[v].producer != i)
        GRAPH_FAIL("node '%s' and value '%s' disagree on its producer", n->name,
                   g->values[v].name);
      if (g->values[v].producer_output >= 0)
        GRAPH_FAIL("node '%s' lists value '%s' as two of its outputs", n->name, g->values[v].name);
      /* The value record stores its producer node; which output it is follows from the node. */
      g->values[v].producer_output = k;
    }
  }
  for (int v = 0; v < g->n_values; v++) {
    int p = g->values[v].producer;
    if (p >= 0 && g->values[v].producer_output < 0)
      GRAPH_FAIL("value '%s' claims node '%s', which writes other values", g->values[v].name,
                 g->nodes[p].name);
  }
fail:
  free(is_input);
  return s;
}

/* Re-infers every node output and compares it with the stored shape (per value: a node may
 * have several outputs). */
static krt_status *check_shapes(const engine_reader *er, ir_graph *g) {
  stored_shape *stored = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *stored);
  if (!stored) return krt_error_oom("engine check");
  for (int i = 0; i < g->n_values; i++) {
    const ir_value *v = &g->values[i];
    stored_shape *st = &stored[i];
    st->dtype = v->dtype;
    st->rank = v->rank;
    st->batched = v->batched;
    st->layout = v->layout;
    memcpy(st->dims, v->dims, sizeof st->dims);
  }
  krt_status *s = ir_infer_all(g);
  if (s && krt_status_code(s) != KRT_ERR_OUT_OF_MEMORY) {
    krt_status *b = bad_file(er, "stored graph fails shape inference: %s", krt_status_message(s));
    krt_status_release(s);
    free(stored);
    return b;
  }
  if (s) {
    free(stored);
    return s;
  }
  for (int i = 0; i < g->n_values && !s; i++) {
    ir_value *v = &g->values[i];
    if (v->producer < 0) continue;
    const stored_shape *st = &stored[i];
    /* The layout is a label importers may refine after inference (a channels_last layer can
     * follow a channels_first one), so the stored label wins; shapes must agree exactly. */
    v->layout = st->layout;
    if (v->dtype != st->dtype || v->rank != st->rank || v->batched != st->batched ||
        memcmp(v->dims, st->dims, (size_t)st->rank * sizeof *st->dims) != 0) {
      char want[160], got[160];
      ir_format_dims(st->dims, st->rank, want, sizeof want);
      ir_format_dims(v->dims, v->rank, got, sizeof got);
      const ir_node *n = &g->nodes[v->producer];
      char which[300] = "";
      if (n->n_outputs > 1)
        snprintf(which, sizeof which, " output %d '%s'", v->producer_output, v->name);
      s = bad_file(er, "node '%s'%s: stored shape %s (%s) but its inputs give %s (%s)", n->name,
                   which, want, krt_dtype_name(st->dtype), got, krt_dtype_name(v->dtype));
    }
  }
  free(stored);
  return s;
}

static krt_status *read_graph(const engine_reader *er, ir_graph **out) {
  byte_reader rd = section_reader(er, ENGINE_SECTION_GRAPH), *r = &rd;
  uint32_t nv = br_u32(r), nn = br_u32(r), nl = br_u32(r), ni = br_u32(r), no = br_u32(r);
  krt_status *s = NULL;
  ir_graph *g = NULL;
  if (r->failed) GRAPH_FAIL("section is too short");
  /* Every record takes a minimum number of bytes: refuse counts that cannot fit before
   * allocating for them (u32 counts: the products fit in u64). */
  uint64_t least = (uint64_t)nv * ENGINE_VALUE_MIN_BYTES + (uint64_t)nn * ENGINE_NODE_MIN_BYTES +
                   (uint64_t)nl * ENGINE_LAYER_MIN_BYTES + (uint64_t)ni * 4 +
                   (uint64_t)no * ENGINE_OUTPUT_MIN_BYTES;
  if (least > br_remaining(r))
    GRAPH_FAIL("%u values, %u nodes, %u layers, %u inputs, %u outputs cannot fit in %zu bytes",
               nv, nn, nl, ni, no, br_remaining(r));
  g = ir_graph_create();
  if (!g) return krt_error_oom("engine graph");
  g->values = calloc(nv ? nv : 1, sizeof *g->values);
  g->nodes = calloc(nn ? nn : 1, sizeof *g->nodes);
  g->layers = calloc(nl ? nl : 1, sizeof *g->layers);
  g->inputs = calloc(ni ? ni : 1, sizeof *g->inputs);
  g->outputs = calloc(no ? no : 1, sizeof *g->outputs);
  g->output_names = calloc(no ? no : 1, sizeof *g->output_names);
  if (!g->values || !g->nodes || !g->layers || !g->inputs || !g->outputs || !g->output_names) {
    s = krt_error_oom("engine graph");
    goto fail;
  }
  g->cap_values = (int)(nv ? nv : 1);
  g->cap_nodes = (int)(nn ? nn : 1);
  g->cap_layers = (int)(nl ? nl : 1);
  int oom = 0;
  if (!br_string(r, &g->source, &oom)) {
    if (oom) s = krt_error_oom("engine graph");
    else GRAPH_FAIL("bad source name");
    goto fail;
  }
  for (uint32_t i = 0; i < nv && !s; i++) s = read_value(er, r, g, (int)i, (int)nn);
  for (uint32_t i = 0; i < nl && !s; i++) s = read_layer(er, r, g, (int)i);
  for (uint32_t i = 0; i < nn && !s; i++) s = read_node(er, r, g, (int)i);
  if (s) goto fail;
  for (uint32_t i = 0; i < ni; i++) g->inputs[i] = br_i32(r);
  g->n_inputs = (int)ni;
  for (uint32_t i = 0; i < no; i++) {
    g->outputs[i] = br_i32(r);
    if (!br_string(r, &g->output_names[i], &oom) || !g->output_names[i]) {
      if (oom) s = krt_error_oom("engine outputs");
      else GRAPH_FAIL("output %u: bad name", i);
      goto fail;
    }
    g->n_outputs = (int)i + 1;
  }
  if (r->failed) GRAPH_FAIL("section ends inside the input and output lists");
  if (br_remaining(r)) GRAPH_FAIL("%zu unexpected bytes at the end", br_remaining(r));
  s = check_references(er, g);
  if (!s) s = check_shapes(er, g);
  if (s) goto fail;
  *out = g;
  return NULL;
fail:
  ir_graph_free(g);
  return s;
}

krt_status *engine_file_read(const void *data, size_t size, const char *what, ir_graph **graph,
                             engine_meta *meta) {
  if (!what) what = "engine";
  if (!data || !graph || !meta)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: engine_file_read: NULL argument", what);
  /* Constants are used in place as floats: the buffer must be at least float-aligned. */
  if ((uintptr_t)data % sizeof(float))
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s: engine buffer is not 4-byte aligned", what);
  engine_reader er = {what, data, size, {0}, {0}};
  KRT_TRY(check_header(&er));
  KRT_TRY(read_section_table(&er));
  engine_meta m;
  KRT_TRY(read_meta(&er, &m));
  ir_graph *g = NULL;
  KRT_TRY(read_graph(&er, &g));
  *graph = g;
  *meta = m;
  return NULL;
}
