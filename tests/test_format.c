/* The .krt engine file: a graph with every kind of record round-trips field by field; truncated,
 * corrupted, wrong-version and maliciously patched files fail cleanly (run under valgrind). */
#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"
#include "format/engine_file.h"
#include "format/engine_file_layout.h"
#include "ir/graph.h"
#include "test.h"

/* ---- the graph ------------------------------------------------------------------------------ */

static float *ramp(int64_t n, float scale) {
  float *p = malloc((size_t)n * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = scale * (float)(i + 1);
  return p;
}

static int add_const(ir_graph *g, const char *name, int rank, const int64_t *dims, float scale) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  int id = -1;
  CHECK_OK(ir_add_const(g, name, rank, dims, ramp(n, scale), &id));
  return id;
}

static ir_attrs plain_attrs(void) {
  ir_attrs a;
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  return a;
}

/* Every parameter of an activation away from its default (each op's other fields:
 * test_attrs_records). */
static void set_every_act_param(ir_attrs *a) {
  a->act.kind = IR_ACT_ELU;
  a->act.alpha = 0.7f;
  a->act.beta = -0.25f;
  a->act.max_value = 6.0f;
  a->act.threshold = 0.125f;
}

static char *copy_string(const char *s) {
  char *d = malloc(strlen(s) + 1);
  strcpy(d, s);
  return d;
}

/* x[-1,6] -> Dense(relu) -> Activation(every attr) --+
 * idx[-1,3] int32 -> Gather(table) -> Reshape[30] ----+-> Concat -> Softmax   outputs: probs, features
 * x -> Split(axis 1: 2, 4) -> [N,2] (read by nothing), [N,4]                  output: tail
 */
static ir_graph *build_graph(void) {
  ir_graph *g = ir_graph_create();
  g->source = copy_string("model.keras");
  int layer_dense, layer_emb, layer_cat, layer_out;
  CHECK_OK(ir_add_layer(g, "dense_1", "Dense", &layer_dense));
  CHECK_OK(ir_add_layer(g, "embedding", "Embedding", &layer_emb));
  CHECK_OK(ir_add_layer(g, "concatenate", "Concatenate", &layer_cat));
  CHECK_OK(ir_add_layer(g, "probs", "Softmax", &layer_out));
  g->layers[layer_dense].param_count = 70;
  g->layers[layer_emb].param_count = 200;

  int64_t xd[2] = {-1, 6}, id[2] = {-1, 3};
  int x, idx;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 2, xd, 1, IR_LAYOUT_PLAIN, &x));
  CHECK_OK(ir_add_input(g, "idx", KRT_INT32, 2, id, 1, IR_LAYOUT_PLAIN, &idx));
  int64_t wd[2] = {6, 10}, bd[1] = {10}, td[2] = {20, 10};
  int w = add_const(g, "dense_1/kernel", 2, wd, 0.5f);   /* 240 bytes: the next one is padded */
  int b = add_const(g, "dense_1/bias", 1, bd, -1.0f);    /* 40 bytes */
  int table = add_const(g, "embedding/embeddings", 2, td, 0.01f);

  ir_attrs a = plain_attrs();
  a.act.kind = IR_ACT_RELU;
  int in_dense[3] = {x, w, b}, dense, act, gather, reshape, cat, probs;
  CHECK_OK(ir_emit(g, IR_OP_DENSE, "dense_1", layer_dense, in_dense, 3, &a, &dense));
  g->layers[layer_dense].output = dense;

  a = plain_attrs();
  a.act.kind = IR_ACT_ELU;
  a.act.alpha = 0.7f;
  CHECK_OK(ir_emit(g, IR_OP_ACTIVATION, "dense_1/act", layer_dense, &dense, 1, &a, &act));
  set_every_act_param(&g->nodes[g->n_nodes - 1].attrs);

  int in_gather[2] = {idx, table};
  a = plain_attrs();
  CHECK_OK(ir_emit(g, IR_OP_GATHER, "embedding", layer_emb, in_gather, 2, &a, &gather));
  g->layers[layer_emb].output = gather;
  a = plain_attrs();
  a.shape_rank = 1;
  a.shape[0] = 30;
  CHECK_OK(ir_emit(g, IR_OP_RESHAPE, "flatten", -1, &gather, 1, &a, &reshape));

  int in_cat[2] = {act, reshape};
  a = plain_attrs();
  a.axis = 1;
  CHECK_OK(ir_emit(g, IR_OP_CONCAT, "concatenate", layer_cat, in_cat, 2, &a, &cat));
  g->nodes[g->n_nodes - 1].fused = copy_string("batch_norm_1,relu_2");
  g->layers[layer_cat].output = cat;

  a = plain_attrs();
  a.n_axes = 1;
  a.axes[0] = 1;
  CHECK_OK(ir_emit(g, IR_OP_SOFTMAX, "probs", layer_out, &cat, 1, &a, &probs));
  g->layers[layer_out].output = probs;
  CHECK_OK(ir_add_output(g, probs, "probs"));
  CHECK_OK(ir_add_output(g, dense, "features"));

  a = plain_attrs();
  a.axis = 1, a.sizes[0] = 2, a.sizes[1] = 4;
  int pieces[2];
  CHECK_OK(ir_emit_outputs(g, IR_OP_SPLIT, "split", -1, &x, 1, &a, 2, pieces));
  CHECK_OK(ir_add_output(g, pieces[1], "tail"));
  return g;
}

static engine_meta sample_meta(const void *tuning, size_t tuning_size) {
  engine_meta m;
  memset(&m, 0, sizeof m);
  m.device = KRT_DEVICE_CUDA;
  m.precision = KRT_PRECISION_FP16;
  m.max_batch = 7;
  snprintf(m.device_name, sizeof m.device_name, "NVIDIA H100 80GB HBM3");
  snprintf(m.krt_version, sizeof m.krt_version, "0.1.0");
  m.tuning = tuning;
  m.tuning_size = tuning_size;
  return m;
}

/* ---- comparing ------------------------------------------------------------------------------ */

static int same_string(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

static int same_float_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_same_attrs(const ir_attrs *a, const ir_attrs *b) {
  CHECK(a->act.kind == b->act.kind);
  CHECK(same_float_bits(a->act.alpha, b->act.alpha));
  CHECK(same_float_bits(a->act.beta, b->act.beta));
  CHECK(same_float_bits(a->act.max_value, b->act.max_value));
  CHECK(same_float_bits(a->act.threshold, b->act.threshold));
  CHECK(a->spatial == b->spatial);
  for (int i = 0; i < IR_MAX_SPATIAL; i++) {
    CHECK(a->kernel[i] == b->kernel[i]);
    CHECK(a->stride[i] == b->stride[i]);
    CHECK(a->dilation[i] == b->dilation[i]);
    CHECK(a->scale[i] == b->scale[i]);
  }
  CHECK(a->groups == b->groups);
  for (int i = 0; i < KRT_MAX_RANK; i++) {
    CHECK(a->pad_begin[i] == b->pad_begin[i]);
    CHECK(a->pad_end[i] == b->pad_end[i]);
    CHECK(a->begin[i] == b->begin[i]);
    CHECK(a->end[i] == b->end[i]);
    CHECK(a->axes[i] == b->axes[i]);
    CHECK(a->perm[i] == b->perm[i]);
    CHECK(a->shape[i] == b->shape[i]);
  }
  CHECK(a->axis == b->axis);
  CHECK(a->n_axes == b->n_axes);
  CHECK(a->keepdims == b->keepdims);
  CHECK(a->shape_rank == b->shape_rank);
  CHECK(same_float_bits(a->epsilon, b->epsilon));
  CHECK(a->rms_scaling == b->rms_scaling);
  CHECK(a->pool == b->pool);
  CHECK(a->reduce == b->reduce);
  CHECK(a->binary == b->binary);
  CHECK(a->resize == b->resize);
  CHECK(a->residual == b->residual);
}

/* b was read from file (size bytes) and must equal a in every field. */
static void check_same_graph(const ir_graph *a, const ir_graph *b, const uint8_t *file,
                             size_t size) {
  CHECK(same_string(a->source, b->source));
  CHECK(a->n_values == b->n_values);
  for (int i = 0; i < a->n_values && i < b->n_values; i++) {
    const ir_value *x = &a->values[i], *y = &b->values[i];
    CHECK(same_string(x->name, y->name));
    CHECK(x->dtype == y->dtype && x->rank == y->rank && x->batched == y->batched);
    CHECK(x->layout == y->layout && x->producer == y->producer);
    CHECK(x->producer_output == y->producer_output);
    CHECK(memcmp(x->dims, y->dims, (size_t)x->rank * sizeof *x->dims) == 0);
    CHECK(!x->data == !y->data);
    if (x->data && y->data) {
      const uint8_t *p = (const uint8_t *)y->data;
      CHECK(p >= file && p < file + size);
      CHECK((size_t)(p - file) % KRT_ENGINE_ALIGNMENT == 0);
      CHECK(y->owns_data == 0);
      int64_t n = ir_value_elements(x, 1);
      CHECK(memcmp(x->data, y->data, (size_t)n * sizeof(float)) == 0);
    }
  }
  CHECK(a->n_nodes == b->n_nodes);
  for (int i = 0; i < a->n_nodes && i < b->n_nodes; i++) {
    const ir_node *x = &a->nodes[i], *y = &b->nodes[i];
    CHECK(x->op == y->op && same_string(x->name, y->name) && x->layer == y->layer);
    CHECK(x->n_inputs == y->n_inputs && x->n_outputs == y->n_outputs);
    CHECK(memcmp(x->inputs, y->inputs, (size_t)x->n_inputs * sizeof(int)) == 0);
    CHECK(memcmp(x->outputs, y->outputs, (size_t)x->n_outputs * sizeof(int)) == 0);
    CHECK(same_string(x->fused, y->fused));
    check_same_attrs(&x->attrs, &y->attrs);
  }
  CHECK(a->n_layers == b->n_layers);
  for (int i = 0; i < a->n_layers && i < b->n_layers; i++) {
    const ir_layer *x = &a->layers[i], *y = &b->layers[i];
    CHECK(same_string(x->name, y->name) && same_string(x->class_name, y->class_name));
    CHECK(x->output == y->output && x->param_count == y->param_count);
  }
  CHECK(a->n_inputs == b->n_inputs);
  for (int i = 0; i < a->n_inputs && i < b->n_inputs; i++) CHECK(a->inputs[i] == b->inputs[i]);
  CHECK(a->n_outputs == b->n_outputs);
  for (int i = 0; i < a->n_outputs && i < b->n_outputs; i++) {
    CHECK(a->outputs[i] == b->outputs[i]);
    CHECK(same_string(a->output_names[i], b->output_names[i]));
  }
}

/* ---- file surgery --------------------------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *file, size_t size) {
  put_le(file + ENGINE_OFF_CRC, engine_crc32(file + ENGINE_HEADER_SIZE, size - ENGINE_HEADER_SIZE),
         4);
}

/* Start of the section of this kind (the writer's table order: META, GRAPH, WEIGHTS, TUNING). */
static size_t section_offset(const uint8_t *file, int kind) {
  const uint8_t *e = file + ENGINE_HEADER_SIZE + (size_t)(kind - 1) * ENGINE_SECTION_ENTRY_SIZE;
  CHECK(get_le(e, 4) == (uint64_t)kind);
  return (size_t)get_le(e + 8, 8);
}

static uint8_t *copy_bytes(const void *data, size_t size) {
  uint8_t *p = malloc(size ? size : 1);
  memcpy(p, data, size);
  return p;
}

/* Reads a copy (so valgrind sees any read past its end); returns the status. */
static krt_status *read_copy(const uint8_t *data, size_t size) {
  uint8_t *copy = copy_bytes(data, size);
  ir_graph *g = NULL;
  engine_meta m;
  krt_status *s = engine_file_read(copy, size, "model.krt", &g, &m);
  ir_graph_free(g);
  free(copy);
  return s;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (rng_state >> 8) % n;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Sets every field that op reads to a value in its range other than the default. */
static void fill_op_attrs(ir_op op, ir_attrs *a) {
  int n_fields;
  const ir_attr_field *fields = ir_attr_fields(&n_fields);
  memset(a, 0, sizeof *a);
  a->act = ir_act_none();
  for (int i = 0; i < n_fields; i++) {
    const ir_attr_field *f = &fields[i];
    if (!ir_field_belongs(f, op)) continue;
    uint8_t *p = (uint8_t *)a + f->offset;
    for (int k = 0; k < f->count; k++) {
      if (f->type == IR_ATTR_FLOAT32) {
        float v = 0.25f + (float)k;
        memcpy(p + 4 * k, &v, 4);
      } else {
        int64_t v = f->hi > f->lo ? f->lo + 1 + (k % (f->hi - f->lo)) : f->lo;
        if (f->type == IR_ATTR_INT32) {
          int32_t v32 = (int32_t)v;
          memcpy(p + 4 * k, &v32, 4);
        } else {
          memcpy(p + 8 * k, &v, 8);
        }
      }
    }
  }
}

/* Every op's attributes survive the key/value records; a record the op does not have, a missing
 * one, a wrong length and a value out of range are refused by name. */
static void test_attrs_records(void) {
  for (int op = 1; op < IR_OP_COUNT_PLUS_ONE; op++) {
    if (!ir_op_is_valid(op)) continue;
    ir_attrs a, back;
    fill_op_attrs((ir_op)op, &a);
    byte_writer w = {0};
    engine_attrs_write(&w, (ir_op)op, &a);
    CHECK(!w.failed);
    byte_reader r = {w.data, w.size, 0, 0};
    char why[256] = "";
    CHECK(engine_attrs_read(&r, (ir_op)op, &back, why, sizeof why));
    CHECK(!r.failed && r.pos == w.size);
    CHECK(memcmp(&a, &back, sizeof a) == 0);
    /* Read as another op: Identity reads nothing, so any record is unknown to it. */
    if (w.size > 4) {
      byte_reader r2 = {w.data, w.size, 0, 0};
      CHECK(!engine_attrs_read(&r2, IR_OP_IDENTITY, &back, why, sizeof why));
      CHECK(strstr(why, "is not one Identity has") != NULL);
      CHECK(strstr(why, "rebuild it") != NULL);
    }
    free(w.data);
  }
  /* Conv without its "groups" record: missing. */
  ir_attrs a, back;
  fill_op_attrs(IR_OP_CONV, &a);
  byte_writer w = {0};
  engine_attrs_write(&w, IR_OP_POOL, &a); /* Pool's records: no dilation, groups, act */
  byte_reader r = {w.data, w.size, 0, 0};
  char why[256] = "";
  CHECK(!engine_attrs_read(&r, IR_OP_CONV, &back, why, sizeof why));
  CHECK(strstr(why, "is not one Conv has") != NULL || strstr(why, "missing") != NULL);
  free(w.data);
  /* A keepdims of 2 is out of range. */
  memset(&a, 0, sizeof a);
  a.act = ir_act_none();
  a.n_axes = 1;
  a.keepdims = 2;
  w = (byte_writer){0};
  engine_attrs_write(&w, IR_OP_REDUCE, &a);
  r = (byte_reader){w.data, w.size, 0, 0};
  CHECK(!engine_attrs_read(&r, IR_OP_REDUCE, &back, why, sizeof why));
  CHECK(strstr(why, "'keepdims' out of range") != NULL);
  free(w.data);
  /* Truncated anywhere: never accepted, never read past the end. */
  fill_op_attrs(IR_OP_CONV, &a);
  w = (byte_writer){0};
  engine_attrs_write(&w, IR_OP_CONV, &a);
  for (size_t cut = 0; cut < w.size; cut++) {
    r = (byte_reader){w.data, cut, 0, 0};
    CHECK(!engine_attrs_read(&r, IR_OP_CONV, &back, why, sizeof why));
  }
  free(w.data);
}

/* No value property is defined yet: none reads as none, any record is refused by its key. */
static void test_value_props(void) {
  byte_writer w = {0};
  bw_u32(&w, 0);
  byte_reader r = {w.data, w.size, 0, 0};
  char why[256] = "";
  CHECK(engine_value_props_read(&r, why, sizeof why) && r.pos == 4);
  free(w.data);
  w = (byte_writer){0};
  bw_u32(&w, 1);
  bw_string(&w, "quant_scale");
  bw_u32(&w, 2);
  bw_u32(&w, 1);
  bw_f32(&w, 0.5f);
  r = (byte_reader){w.data, w.size, 0, 0};
  CHECK(!engine_value_props_read(&r, why, sizeof why));
  CHECK(strstr(why, "property 'quant_scale' is not one this krt knows") != NULL);
  for (size_t cut = 0; cut < 4; cut++) {
    r = (byte_reader){w.data, cut, 0, 0};
    CHECK(!engine_value_props_read(&r, why, sizeof why));
  }
  free(w.data);
}

/* A node that sets a field its op does not read is refused by shape inference. */
static void test_stray_attrs(void) {
  ir_node n;
  memset(&n, 0, sizeof n);
  n.op = IR_OP_SOFTMAX;
  n.attrs.act = ir_act_none();
  n.attrs.n_axes = 1;
  CHECK(ir_node_stray_attr(&n) == NULL);
  n.attrs.keepdims = 1;
  CHECK(ir_node_stray_attr(&n) && strcmp(ir_node_stray_attr(&n), "keepdims") == 0);
  n.attrs.keepdims = 0;
  n.attrs.act.kind = IR_ACT_RELU;
  CHECK(ir_node_stray_attr(&n) && strcmp(ir_node_stray_attr(&n), "act") == 0);
  n.op = IR_OP_BINARY;
  CHECK(ir_node_stray_attr(&n) && strcmp(ir_node_stray_attr(&n), "n_axes") == 0);
}

static void test_round_trip(const uint8_t *file, size_t size, const ir_graph *g,
                            const char *tuning, size_t tuning_size) {
  CHECK(memcmp(file, "KRTENGN", 8) == 0);
  CHECK(get_le(file + ENGINE_OFF_FILE_SIZE, 8) == size);
  for (int k = 1; k <= ENGINE_SECTION_COUNT; k++) CHECK(section_offset(file, k) % 64 == 0);
  ir_graph *back = NULL;
  engine_meta m;
  CHECK_OK(engine_file_read(file, size, "model.krt", &back, &m));
  if (!back) return;
  check_same_graph(g, back, file, size);
  CHECK(m.device == KRT_DEVICE_CUDA && m.precision == KRT_PRECISION_FP16 && m.max_batch == 7);
  CHECK(strcmp(m.device_name, "NVIDIA H100 80GB HBM3") == 0);
  CHECK(strcmp(m.krt_version, "0.1.0") == 0);
  CHECK(m.tuning_size == tuning_size);
  CHECK(tuning_size == 0 || memcmp(m.tuning, tuning, tuning_size) == 0);
  CHECK(m.tuning == NULL ||
        (const uint8_t *)m.tuning == file + section_offset(file, ENGINE_SECTION_TUNING));

  /* The read graph writes the same bytes again. */
  void *again = NULL;
  size_t again_size = 0;
  CHECK_OK(engine_file_write(back, &m, &again, &again_size));
  CHECK(again_size == size && again && memcmp(again, file, size) == 0);
  free(again);
  ir_graph_free(back);
}

static void test_minimal_graph(void) {
  ir_graph *g = ir_graph_create();
  int64_t d[2] = {-1, 4};
  int x, y;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 2, d, 1, IR_LAYOUT_PLAIN, &x));
  ir_attrs a = plain_attrs();
  CHECK_OK(ir_emit(g, IR_OP_IDENTITY, "y", -1, &x, 1, &a, &y));
  CHECK_OK(ir_add_output(g, y, "y"));
  engine_meta m;
  memset(&m, 0, sizeof m);
  m.max_batch = 1;
  void *file = NULL;
  size_t size = 0;
  CHECK_OK(engine_file_write(g, &m, &file, &size));
  ir_graph *back = NULL;
  engine_meta mb;
  CHECK_OK(engine_file_read(file, size, "mini.krt", &back, &mb));
  if (back) check_same_graph(g, back, file, size);
  CHECK(mb.device == KRT_DEVICE_CPU && mb.tuning == NULL && mb.tuning_size == 0);
  CHECK(mb.krt_version[0] != '\0'); /* the writer fills in its own version */
  CHECK(mb.device_name[0] == '\0');
  ir_graph_free(back);
  free(file);
  ir_graph_free(g);
}

static void test_truncations(const uint8_t *file, size_t size) {
  int failures = 0;
  for (size_t n = 0; n < size; n++) {
    krt_status *s = read_copy(file, n);
    if (!s || krt_status_code(s) != KRT_ERR_BAD_FILE) failures++;
    krt_status_release(s);
  }
  CHECK(failures == 0);
  CHECK_ERR(read_copy(file, 0), KRT_ERR_BAD_FILE, "model.krt: not a krt engine file");
  CHECK_ERR(read_copy(file, 5), KRT_ERR_BAD_FILE, "model.krt: truncated");
  char want[96];
  snprintf(want, sizeof want, "model.krt: truncated: header says %zu bytes, found %zu", size,
           size - 10);
  CHECK_ERR(read_copy(file, size - 10), KRT_ERR_BAD_FILE, want);
  snprintf(want, sizeof want, "header says %zu bytes, found 40", size);
  CHECK_ERR(read_copy(file, 40), KRT_ERR_BAD_FILE, want);
}

static void test_random_flips(const uint8_t *file, size_t size) {
  uint8_t *copy = copy_bytes(file, size);
  int accepted = 0;
  for (int t = 0; t < 2000; t++) {
    size_t at = rnd((uint32_t)size);
    uint8_t flip = (uint8_t)(1 + rnd(255));
    copy[at] ^= flip;
    ir_graph *g = NULL;
    engine_meta m;
    krt_status *s = engine_file_read(copy, size, "model.krt", &g, &m);
    if (!s) accepted++;
    if (s && at >= ENGINE_HEADER_SIZE && !strstr(krt_status_message(s), "checksum mismatch"))
      accepted++;
    krt_status_release(s);
    ir_graph_free(g);
    copy[at] ^= flip;
  }
  CHECK(accepted == 0);
  CHECK(memcmp(copy, file, size) == 0);
  copy[size - 1] ^= 0x40;
  CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "model.krt: checksum mismatch (corrupted file)");
  free(copy);
}

/* Flips with the checksum recomputed: only the reader's own checks stand between the bytes and
 * the graph. Either result is fine; crashing, leaking or reading out of bounds is not. */
static void test_flips_past_checksum(const uint8_t *file, size_t size) {
  uint8_t *copy = copy_bytes(file, size);
  int rejected = 0;
  size_t weights = section_offset(file, ENGINE_SECTION_WEIGHTS);
  for (int t = 0; t < 2000; t++) {
    size_t at = ENGINE_HEADER_SIZE + rnd((uint32_t)(weights - ENGINE_HEADER_SIZE));
    uint8_t old = copy[at];
    copy[at] = t % 3 == 0 ? 0xff : (uint8_t)(old ^ (1u << rnd(8)));
    fix_crc(copy, size);
    krt_status *s = read_copy(copy, size);
    rejected += s != NULL;
    krt_status_release(s);
    copy[at] = old;
  }
  printf("flips past the checksum: %d of 2000 rejected\n", rejected);
  CHECK(rejected > 200); /* ids, counts, enums, lengths, shapes all matter */
  free(copy);
}

static void test_patched_files(const uint8_t *file, size_t size) {
  uint8_t *copy = copy_bytes(file, size);

  memcpy(copy, "PK\3\4", 4);
  CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "model.krt: not a krt engine file");
  memcpy(copy, file, size);

  put_le(copy + ENGINE_OFF_VERSION, 7, 4);
  fix_crc(copy, size);
  CHECK_ERR(read_copy(copy, size), KRT_ERR_VERSION,
            "model.krt: engine format version 7, this krt reads version 2; rebuild the engine");
  memcpy(copy, file, size);
  /* Version 1 stored the whole attribute struct raw; its engines are rebuilt, not guessed at. */
  put_le(copy + ENGINE_OFF_VERSION, 1, 4);
  fix_crc(copy, size);
  CHECK_ERR(read_copy(copy, size), KRT_ERR_VERSION,
            "model.krt: engine format version 1, this krt reads version 2; rebuild the engine");
  memcpy(copy, file, size);

  /* n_nodes is the second count of GRAPH: 2^31 - 1 nodes must not be allocated. */
  size_t graph = section_offset(file, ENGINE_SECTION_GRAPH);
  put_le(copy + graph + 4, 0x7fffffff, 4);
  fix_crc(copy, size);
  CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "cannot fit");
  put_le(copy + graph + 4, 0xffffffff, 4);
  fix_crc(copy, size);
  CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "cannot fit");
  memcpy(copy, file, size);

  /* The Softmax node's record: u32 op, u32 5, "probs", i32 layer, u32 n_inputs, i32 input. */
  uint8_t pattern[13];
  put_le(pattern, IR_OP_SOFTMAX, 4);
  put_le(pattern + 4, 5, 4);
  memcpy(pattern + 8, "probs", 5);
  size_t at = 0;
  for (size_t i = graph; i + sizeof pattern <= size; i++)
    if (memcmp(copy + i, pattern, sizeof pattern) == 0) at = i;
  CHECK(at > 0);
  if (at) {
    uint8_t *input = copy + at + sizeof pattern + 8;
    int64_t was = (int64_t)get_le(input, 4);
    CHECK(was > 0 && was < 20);
    put_le(input, 1000, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "node 'probs': input 0 refers to value 1000");
    put_le(input, (uint64_t)-5, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "refers to value -5");
    /* Its own output: read before it is computed. */
    put_le(input, (uint64_t)(was + 1), 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "before it is computed");
    memcpy(copy, file, size);
  }

  /* The Split node's record: u32 op, u32 5, "split", i32 layer, u32 1, i32 x, u32 2, i32 s0,
   * i32 s1. Output counts outside the op's 1..64 and outputs that are not the node's values are
   * refused by name. */
  put_le(pattern, IR_OP_SPLIT, 4);
  memcpy(pattern + 8, "split", 5);
  at = 0;
  for (size_t i = graph; i + sizeof pattern <= size; i++)
    if (memcmp(copy + i, pattern, sizeof pattern) == 0) at = i;
  CHECK(at > 0);
  if (at) {
    uint8_t *count = copy + at + sizeof pattern + 12, *first = count + 4, *second = count + 8;
    CHECK(get_le(count, 4) == 2);
    int64_t s0 = (int64_t)get_le(first, 4), s1 = (int64_t)get_le(second, 4);
    CHECK(s1 == s0 + 1);
    put_le(count, 65, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE,
              "node 'split' (Split) has 65 outputs; Split has 1 to 64 in this krt");
    put_le(count, 0, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "has 0 outputs");
    memcpy(copy, file, size);
    put_le(second, (uint64_t)s0, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE,
              "lists value 'split:0' as two of its outputs");
    memcpy(copy, file, size);
    put_le(second, 1000, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE,
              "node 'split': output 1 refers to value 1000");
    memcpy(copy, file, size);
    /* output 1 names x, a graph input: the value record does not name the node */
    put_le(second, 0, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "disagree on its producer");
    memcpy(copy, file, size);
  }
  /* Softmax, an op of one output, with two is an engine from another krt. */
  put_le(pattern, IR_OP_SOFTMAX, 4);
  memcpy(pattern + 8, "probs", 5);
  at = 0;
  for (size_t i = graph; i + sizeof pattern <= size; i++)
    if (memcmp(copy + i, pattern, sizeof pattern) == 0) at = i;
  if (at) {
    uint8_t *count = copy + at + sizeof pattern + 12;
    CHECK(get_le(count, 4) == 1);
    put_le(count, 2, 4);
    fix_crc(copy, size);
    CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE,
              "node 'probs' (Softmax) has 2 outputs; Softmax has 1 in this krt");
    memcpy(copy, file, size);
  }

  /* Appended bytes are refused too. */
  uint8_t *longer = malloc(size + 64);
  memcpy(longer, file, size);
  memset(longer + size, 0, 64);
  CHECK_ERR(read_copy(longer, size + 64), KRT_ERR_BAD_FILE, "extra bytes");
  free(longer);

  /* A buffer that floats cannot be read from in place. */
  uint8_t *odd = malloc(size + 1);
  memcpy(odd + 1, file, size);
  ir_graph *g = NULL;
  engine_meta m;
  CHECK_ERR(engine_file_read(odd + 1, size, "model.krt", &g, &m), KRT_ERR_INVALID_ARGUMENT,
            "aligned");
  free(odd);
  free(copy);
}

/* A Dense with a fused residual, y = x @ W + b + x: the flag and the fourth input round-trip, and
 * a flag other than 0/1 is refused on reading. */
static void test_residual_round_trip(void) {
  ir_graph *g = ir_graph_create();
  int64_t xd[2] = {-1, 4}, wd[2] = {4, 4}, bd[1] = {4};
  int x, y;
  CHECK_OK(ir_add_input(g, "x", KRT_FLOAT32, 2, xd, 1, IR_LAYOUT_PLAIN, &x));
  int w = add_const(g, "d/kernel", 2, wd, 0.5f), b = add_const(g, "d/bias", 1, bd, -1.0f);
  ir_attrs a = plain_attrs();
  a.residual = 1;
  a.act.kind = IR_ACT_RELU;
  int in[4] = {x, w, b, x};
  CHECK_OK(ir_emit(g, IR_OP_DENSE, "d", -1, in, 4, &a, &y));
  g->nodes[0].fused = copy_string("add,relu");
  CHECK_OK(ir_add_output(g, y, "y"));
  engine_meta m;
  memset(&m, 0, sizeof m);
  m.max_batch = 2;
  void *file = NULL;
  size_t size = 0;
  CHECK_OK(engine_file_write(g, &m, &file, &size));
  ir_graph *back = NULL;
  engine_meta mb;
  CHECK_OK(engine_file_read(file, size, "residual.krt", &back, &mb));
  if (back) {
    check_same_graph(g, back, file, size);
    CHECK(back->nodes[0].attrs.residual == 1 && back->nodes[0].n_inputs == 4);
  }
  ir_graph_free(back);
  free(file);
  file = NULL;
  g->nodes[0].attrs.residual = 2;
  CHECK_OK(engine_file_write(g, &m, &file, &size));
  CHECK_ERR(read_copy(file, size), KRT_ERR_BAD_FILE, "residual");
  free(file);
  ir_graph_free(g);
}

/* Every precision round-trips through META; a value the format does not know is refused on
 * reading (patched file) and on writing. */
static void test_precisions(void) {
  ir_graph *g = build_graph();
  krt_precision all[3] = {KRT_PRECISION_FP32, KRT_PRECISION_FP16, KRT_PRECISION_TF32};
  for (int i = 0; i < 3; i++) {
    engine_meta meta = sample_meta(NULL, 0);
    meta.precision = all[i];
    void *file = NULL;
    size_t size = 0;
    CHECK_OK(engine_file_write(g, &meta, &file, &size));
    if (!file) continue;
    ir_graph *back = NULL;
    engine_meta m;
    CHECK_OK(engine_file_read(file, size, "model.krt", &back, &m));
    CHECK(back && m.precision == all[i]);
    ir_graph_free(back);
    if (all[i] == KRT_PRECISION_TF32) {
      /* META starts with u32 device, u32 precision. */
      uint8_t *copy = copy_bytes(file, size);
      put_le(copy + section_offset(file, ENGINE_SECTION_META) + 4, 3, 4);
      fix_crc(copy, size);
      CHECK_ERR(read_copy(copy, size), KRT_ERR_BAD_FILE, "META: unknown precision 3");
      free(copy);
    }
    free(file);
  }
  CHECK(strcmp(engine_precision_name(KRT_PRECISION_TF32), "TF32") == 0);
  CHECK(engine_precision_name((krt_precision)3) == NULL);
  engine_meta bad = sample_meta(NULL, 0);
  bad.precision = (krt_precision)3;
  void *file = NULL;
  size_t size = 0;
  CHECK_ERR(engine_file_write(g, &bad, &file, &size), KRT_ERR_INTERNAL, "unknown precision 3");
  CHECK(file == NULL);
  free(file);
  ir_graph_free(g);
}

/* A stored shape that its inputs do not give is refused. */
static void test_shape_mismatch(void) {
  ir_graph *g = build_graph();
  engine_meta meta = sample_meta(NULL, 0);
  int probs = g->outputs[0];
  g->values[probs].dims[1] = 41;
  void *file = NULL;
  size_t size = 0;
  CHECK_OK(engine_file_write(g, &meta, &file, &size));
  CHECK_ERR(read_copy(file, size), KRT_ERR_BAD_FILE, "node 'probs': stored shape");
  free(file);
  ir_graph_free(g);
}

int main(void) {
  test_attrs_records();
  test_stray_attrs();
  test_value_props();
  ir_graph *g = build_graph();
  static const char tuning[] = "conv algo 7; gemm tile 128x64; workspace 4MB";
  engine_meta meta = sample_meta(tuning, sizeof tuning);
  void *file = NULL;
  size_t size = 0;
  CHECK_OK(engine_file_write(g, &meta, &file, &size));
  if (file) {
    test_round_trip(file, size, g, tuning, sizeof tuning);
    test_truncations(file, size);
    test_random_flips(file, size);
    test_flips_past_checksum(file, size);
    test_patched_files(file, size);
  }
  free(file);
  ir_graph_free(g);
  test_minimal_graph();
  test_shape_mismatch();
  test_residual_round_trip();
  test_precisions();
  return test_summary("test_format");
}
