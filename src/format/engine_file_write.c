/* Writes a graph and its metadata as a .krt engine file (layout: engine_file.h). */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/status.h"
#include "format/engine_file.h"
#include "format/engine_file_layout.h"

static size_t align_up(size_t n) {
  return (n + KRT_ENGINE_ALIGNMENT - 1) / KRT_ENGINE_ALIGNMENT * KRT_ENGINE_ALIGNMENT;
}

/* zlib's crc32 takes a uInt length: feed it in pieces. */
uint32_t engine_crc32(const uint8_t *data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    uInt piece = size > (1u << 30) ? (1u << 30) : (uInt)size;
    crc = crc32(crc, data, piece);
    data += piece;
    size -= piece;
  }
  return (uint32_t)crc;
}

/* Element count of a constant (every dimension known), or -1 when unknown or too large. */
static int64_t constant_elements(const ir_value *v) {
  int64_t n = 1;
  for (int i = 0; i < v->rank; i++) {
    if (v->dims[i] < 0 || (v->dims[i] > 0 && n > INT64_MAX / 4 / v->dims[i])) return -1;
    n *= v->dims[i];
  }
  return n;
}

/* A fixed char array as a string; 0 when it holds no terminator. */
static int fixed_string_ok(const char *s, size_t cap) { return strnlen(s, cap) < cap; }

static void write_meta(byte_writer *w, const engine_meta *meta) {
  char version[32];
  if (meta->krt_version[0])
    snprintf(version, sizeof version, "%s", meta->krt_version);
  else
    snprintf(version, sizeof version, "%d.%d.%d", KRT_VERSION_MAJOR, KRT_VERSION_MINOR,
             KRT_VERSION_PATCH);
  bw_u32(w, (uint32_t)meta->device);
  bw_u32(w, (uint32_t)meta->precision);
  bw_i64(w, meta->max_batch);
  bw_string(w, meta->device_name);
  bw_string(w, version);
}

/* weight_offset[v]: where constant v's data starts in WEIGHTS, -1 for other values. */
static void write_graph(byte_writer *w, const ir_graph *g, const int64_t *weight_offset) {
  bw_u32(w, (uint32_t)g->n_values);
  bw_u32(w, (uint32_t)g->n_nodes);
  bw_u32(w, (uint32_t)g->n_layers);
  bw_u32(w, (uint32_t)g->n_inputs);
  bw_u32(w, (uint32_t)g->n_outputs);
  bw_string(w, g->source);
  for (int i = 0; i < g->n_values; i++) {
    const ir_value *v = &g->values[i];
    bw_string(w, v->name);
    bw_u32(w, (uint32_t)v->dtype);
    bw_u32(w, (uint32_t)v->rank);
    for (int d = 0; d < v->rank; d++) bw_i64(w, v->dims[d]);
    bw_u32(w, (uint32_t)v->batched);
    bw_u32(w, (uint32_t)v->layout);
    bw_i32(w, v->producer);
    bw_i64(w, weight_offset[i]);
    bw_u64(w, v->data ? (uint64_t)constant_elements(v) * sizeof(float) : 0);
    bw_u32(w, 0); /* properties: none defined yet */
  }
  for (int i = 0; i < g->n_layers; i++) {
    const ir_layer *l = &g->layers[i];
    bw_string(w, l->name);
    bw_string(w, l->class_name);
    bw_i32(w, l->output);
    bw_i64(w, l->param_count);
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    bw_u32(w, (uint32_t)n->op);
    bw_string(w, n->name);
    bw_i32(w, n->layer);
    bw_u32(w, (uint32_t)n->n_inputs);
    for (int k = 0; k < n->n_inputs; k++) bw_i32(w, n->inputs[k]);
    bw_u32(w, (uint32_t)n->n_outputs);
    for (int k = 0; k < n->n_outputs; k++) bw_i32(w, n->outputs[k]);
    engine_attrs_write(w, n->op, &n->attrs);
    bw_string(w, n->fused);
  }
  for (int i = 0; i < g->n_inputs; i++) bw_i32(w, g->inputs[i]);
  for (int i = 0; i < g->n_outputs; i++) {
    bw_i32(w, g->outputs[i]);
    bw_string(w, g->output_names[i]);
  }
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  uint8_t first;
  memcpy(&first, &one, 1);
  return first == 1;
}

static void write_floats(byte_writer *w, const float *data, size_t count) {
  if (host_is_little_endian()) {
    bw_bytes(w, data, count * sizeof(float));
    return;
  }
  for (size_t i = 0; i < count; i++) bw_f32(w, data[i]);
}

/* Checks what the writer relies on and lays out WEIGHTS; *weights_size is its length. */
static krt_status *plan_weights(const ir_graph *g, int64_t *weight_offset, size_t *weights_size) {
  size_t at = 0;
  for (int i = 0; i < g->n_values; i++) {
    const ir_value *v = &g->values[i];
    weight_offset[i] = -1;
    if (!v->data) continue;
    int64_t n = constant_elements(v);
    if (n < 0 || v->rank > KRT_MAX_RANK)
      return krt_error(KRT_ERR_INTERNAL, "writing engine: constant '%s' has unknown dimensions",
                       v->name);
    at = align_up(at);
    size_t bytes = (size_t)n * sizeof(float);
    if (bytes > SIZE_MAX / 2 - at)
      return krt_error(KRT_ERR_OUT_OF_MEMORY, "writing engine: weights too large");
    weight_offset[i] = (int64_t)at;
    at += bytes;
  }
  *weights_size = at;
  return NULL;
}

static krt_status *check_writable(const ir_graph *g, const engine_meta *meta) {
  if (g->n_values < 0 || g->n_nodes < 0 || g->n_layers < 0 || g->n_inputs < 0 ||
      g->n_outputs < 0)
    return krt_error(KRT_ERR_INTERNAL, "writing engine: negative count in graph");
  for (int i = 0; i < g->n_values; i++)
    if (g->values[i].rank < 0 || g->values[i].rank > KRT_MAX_RANK)
      return krt_error(KRT_ERR_INTERNAL, "writing engine: value '%s' has rank %d",
                       g->values[i].name, g->values[i].rank);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->n_inputs < 0)
      return krt_error(KRT_ERR_INTERNAL, "writing engine: node '%s' has %d inputs", n->name,
                       n->n_inputs);
    /* Only the fields the op reads are written; another one set would be lost. */
    const char *stray = ir_node_stray_attr(n);
    if (stray)
      return krt_error(KRT_ERR_INTERNAL, "writing engine: node '%s' (%s) sets attribute '%s', "
                       "which %s does not read", n->name, ir_op_name(n->op), stray,
                       ir_op_name(n->op));
  }
  if (!fixed_string_ok(meta->device_name, sizeof meta->device_name) ||
      !fixed_string_ok(meta->krt_version, sizeof meta->krt_version))
    return krt_error(KRT_ERR_INTERNAL, "writing engine: unterminated device name or version");
  if (!engine_precision_name(meta->precision))
    return krt_error(KRT_ERR_INTERNAL, "writing engine: unknown precision %d",
                     (int)meta->precision);
  if (meta->tuning_size && !meta->tuning)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "writing engine: tuning size without data");
  return NULL;
}

krt_status *engine_file_write(const ir_graph *g, const engine_meta *meta, void **data,
                              size_t *size) {
  if (!g || !meta || !data || !size)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "engine_file_write: NULL argument");
  KRT_TRY(check_writable(g, meta));
  int64_t *weight_offset = malloc((size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof(int64_t));
  if (!weight_offset) return krt_error_oom("engine weights table");
  size_t weights_size = 0;
  krt_status *s = plan_weights(g, weight_offset, &weights_size);
  byte_writer meta_w = {0}, graph_w = {0}, file = {0};
  if (s) goto done;
  write_meta(&meta_w, meta);
  write_graph(&graph_w, g, weight_offset);
  if (meta_w.failed || graph_w.failed) {
    s = krt_error_oom("engine file");
    goto done;
  }

  /* header | table | META | GRAPH | WEIGHTS | TUNING, each section at a multiple of 64. */
  const size_t table_end = ENGINE_HEADER_SIZE + ENGINE_SECTION_COUNT * ENGINE_SECTION_ENTRY_SIZE;
  const uint32_t kinds[ENGINE_SECTION_COUNT] = {ENGINE_SECTION_META, ENGINE_SECTION_GRAPH,
                                                ENGINE_SECTION_WEIGHTS, ENGINE_SECTION_TUNING};
  const size_t lengths[ENGINE_SECTION_COUNT] = {meta_w.size, graph_w.size, weights_size,
                                                meta->tuning_size};
  size_t offsets[ENGINE_SECTION_COUNT], total = align_up(table_end);
  for (int k = 0; k < ENGINE_SECTION_COUNT; k++) {
    offsets[k] = total;
    if (lengths[k] > SIZE_MAX / 2 - total) {
      s = krt_error(KRT_ERR_OUT_OF_MEMORY, "writing engine: file too large");
      goto done;
    }
    total = k + 1 < ENGINE_SECTION_COUNT ? align_up(total + lengths[k]) : total + lengths[k];
  }
  if (!bw_reserve(&file, total)) {
    s = krt_error(KRT_ERR_OUT_OF_MEMORY, "writing engine: cannot allocate %zu bytes", total);
    goto done;
  }

  bw_bytes(&file, KRT_ENGINE_MAGIC, sizeof KRT_ENGINE_MAGIC); /* 7 letters and the NUL */
  bw_u32(&file, KRT_ENGINE_FORMAT_VERSION);
  bw_u32(&file, ENGINE_HEADER_SIZE);
  bw_u64(&file, total);
  bw_u32(&file, 0); /* crc32, patched below */
  bw_u32(&file, ENGINE_SECTION_COUNT);
  bw_u64(&file, ENGINE_HEADER_SIZE);
  bw_zeros(&file, ENGINE_HEADER_SIZE - ENGINE_OFF_RESERVED);
  for (int k = 0; k < ENGINE_SECTION_COUNT; k++) {
    bw_u32(&file, kinds[k]);
    bw_u32(&file, 0);
    bw_u64(&file, offsets[k]);
    bw_u64(&file, lengths[k]);
  }
  bw_align(&file, KRT_ENGINE_ALIGNMENT);
  bw_bytes(&file, meta_w.data, meta_w.size);
  bw_align(&file, KRT_ENGINE_ALIGNMENT);
  bw_bytes(&file, graph_w.data, graph_w.size);
  bw_align(&file, KRT_ENGINE_ALIGNMENT);
  for (int i = 0; i < g->n_values; i++) {
    if (weight_offset[i] < 0) continue;
    bw_zeros(&file, offsets[2] + (size_t)weight_offset[i] - file.size);
    write_floats(&file, g->values[i].data, (size_t)constant_elements(&g->values[i]));
  }
  bw_align(&file, KRT_ENGINE_ALIGNMENT);
  bw_bytes(&file, meta->tuning, meta->tuning_size);
  if (file.failed || file.size != total) {
    s = krt_error(KRT_ERR_INTERNAL, "writing engine: wrote %zu bytes, planned %zu", file.size,
                  total);
    goto done;
  }
  bw_patch_u32(&file, ENGINE_OFF_CRC,
               engine_crc32(file.data + ENGINE_HEADER_SIZE, total - ENGINE_HEADER_SIZE));
  *data = file.data;
  *size = file.size;
  file.data = NULL;
done:
  free(weight_offset);
  free(meta_w.data);
  free(graph_w.data);
  free(file.data);
  return s;
}
