/* The UFF importer (src/import/uff.c): small UFF files built here with protobuf-c from the
 * declaration in src/import/proto/uff.proto, laid out as the real converter lays them out (the
 * corpus file csvance__graph shows the form: Const values in referenced_data, dim orders as
 * references, MarkOutput), run through the public API and compared with results computed here
 * from each op's definition by plain loops (integer-valued data and weights: every expected value
 * is exact). Then refusals (an unknown op, an unknown field, a func krt does not map, an input
 * without a shape) and the corpus file itself, against Keras's output for the same network with
 * the file's weights (tools/fixtures/make_uff_corpus_reference.py; skipped when ../shared/corpus
 * is absent).
 *
 * No file made by NVIDIA's converter other than the corpus one is available: its uff wheel is
 * only on NVIDIA's own package index. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import.h"
#include "npy.h"
#include "test.h"
#include "uff.pb-c.h"

/* ---- building a file ------------------------------------------------------------------------ */

/* Everything allocated for one file, freed at once. */
static void *pool[4096];
static int n_pool;

static void *take(size_t size) {
  void *p = calloc(1, size ? size : 1);
  if (!p || n_pool >= (int)(sizeof pool / sizeof *pool)) abort(); /* a test bug, not krt's */
  pool[n_pool++] = p;
  return p;
}
static void free_pool(void) {
  while (n_pool) free(pool[--n_pool]);
}

typedef struct builder {
  Krt__Uff__Node *nodes[64];
  size_t n_nodes;
  Krt__Uff__Field *refs[64];
  size_t n_refs;
} builder;

static Krt__Uff__Data *data_new(void) {
  Krt__Uff__Data *d = take(sizeof *d);
  krt__uff__data__init(d);
  return d;
}
static Krt__Uff__Data *data_s(const char *s) {
  Krt__Uff__Data *d = data_new();
  d->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_S;
  d->s = (char *)s;
  return d;
}
static Krt__Uff__Data *data_i(int64_t v) {
  Krt__Uff__Data *d = data_new();
  d->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_I;
  d->i = v;
  return d;
}
static Krt__Uff__ListInt64 *list(int n, const int64_t *v) {
  Krt__Uff__ListInt64 *l = take(sizeof *l);
  krt__uff__list_int64__init(l);
  l->n_val = (size_t)n;
  l->val = take((size_t)(n ? n : 1) * sizeof *l->val);
  if (n) memcpy(l->val, v, (size_t)n * sizeof *v); /* v may be NULL for an empty list */
  return l;
}
static Krt__Uff__Data *data_ints(int n, const int64_t *v) {
  Krt__Uff__Data *d = data_new();
  d->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_I_LIST;
  d->i_list = list(n, v);
  return d;
}
static Krt__Uff__Data *data_ref(const char *key) {
  Krt__Uff__Data *d = data_new();
  d->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_REF;
  d->ref = (char *)key;
  return d;
}
static Krt__Uff__Data *data_dtype(int64_t t) {
  Krt__Uff__Data *d = data_new();
  d->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_DTYPE;
  d->dtype = t;
  return d;
}

static Krt__Uff__Field *field_new(const char *key, Krt__Uff__Data *v) {
  Krt__Uff__Field *f = take(sizeof *f);
  krt__uff__field__init(f);
  f->key = (char *)key;
  f->value = v;
  return f;
}

static void add_ref(builder *b, const char *key, Krt__Uff__Data *v) {
  b->refs[b->n_refs++] = field_new(key, v);
}

/* A node; inputs NULL-terminated; fields as (key, data) pairs, NULL-terminated. */
static Krt__Uff__Node *node(builder *b, const char *id, const char *op, const char *const *inputs,
                            ...) {
  Krt__Uff__Node *n = take(sizeof *n);
  krt__uff__node__init(n);
  n->id = (char *)id;
  n->operation = (char *)op;
  while (inputs && inputs[n->n_inputs]) n->n_inputs++;
  n->inputs = take((n->n_inputs + 1) * sizeof *n->inputs);
  for (size_t i = 0; i < n->n_inputs; i++) n->inputs[i] = (char *)inputs[i];
  n->fields = take(16 * sizeof *n->fields);
  va_list ap;
  va_start(ap, inputs);
  for (const char *key; (key = va_arg(ap, const char *)) != NULL;)
    n->fields[n->n_fields++] = field_new(key, va_arg(ap, Krt__Uff__Data *));
  va_end(ap);
  b->nodes[b->n_nodes++] = n;
  return n;
}

/* A float32 Const whose values sit in referenced_data as the converter writes them. */
static void const_node(builder *b, const char *id, int rank, const int64_t *dims, const float *v) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  char *key = take(strlen(id) + 16);
  sprintf(key, "weights_%s", id);
  Krt__Uff__Data *blob = data_new();
  blob->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_BLOB;
  blob->blob.len = (size_t)n * 4;
  blob->blob.data = take(blob->blob.len);
  memcpy(blob->blob.data, v, blob->blob.len); /* little-endian host, as the file is */
  add_ref(b, key, blob);
  node(b, id, "Const", NULL, "dtype", data_dtype(0x20020), "shape", data_ints(rank, dims),
       "values", data_ref(key), (const char *)NULL);
}

static void int_const_node(builder *b, const char *id, int n, const int32_t *v) {
  Krt__Uff__Data *blob = data_new();
  blob->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_BLOB;
  blob->blob.len = (size_t)n * 4;
  blob->blob.data = take(blob->blob.len);
  memcpy(blob->blob.data, v, blob->blob.len);
  int64_t dims[1] = {n};
  node(b, id, "Const", NULL, "dtype", data_dtype(0x10020), "shape", data_ints(1, dims), "values",
       blob, (const char *)NULL);
}

/* An inputs_orders reference named key: one order (codes, uff.proto) per input. */
#define SP 2, 2147483647
static void orders(builder *b, const char *key, int n_inputs, const int *len,
                   const int64_t codes[][4]) {
  Krt__Uff__ListDimOrders *l = take(sizeof *l);
  krt__uff__list_dim_orders__init(l);
  l->n_val = (size_t)n_inputs;
  l->val = take((size_t)n_inputs * sizeof *l->val);
  for (int i = 0; i < n_inputs; i++) {
    Krt__Uff__DimOrders *o = take(sizeof *o);
    krt__uff__dim_orders__init(o);
    Krt__Uff__DimOrder *e = take(sizeof *e);
    krt__uff__dim_order__init(e);
    e->key = -1;
    e->value = list(len[i], codes[i]);
    o->n_orders = 1;
    o->orders = take(sizeof *o->orders);
    o->orders[0] = e;
    l->val[i] = o;
  }
  Krt__Uff__Data *d = data_new();
  d->data_oneof_case = KRT__UFF__DATA__DATA_ONEOF_DIM_ORDERS_LIST;
  d->dim_orders_list = l;
  add_ref(b, key, d);
}

/* A scratch file in the build tree; with KRT_UFF_SEED_DIR set, the files are written there and
 * kept (tests/data/uff, the fuzz seeds of scripts/fuzz.sh, was made so). */
static const char *seed_dir(void) {
  const char *d = getenv("KRT_UFF_SEED_DIR");
  return d && d[0] ? d : NULL;
}
static const char *scratch_path(const char *name) {
  static char path[1024];
  const char *d = getenv("KRT_BUILD_DIR");
  if (seed_dir())
    snprintf(path, sizeof path, "%s/%s", seed_dir(), name);
  else
    snprintf(path, sizeof path, "%s/test_import_uff_%s", d && d[0] ? d : ".", name);
  return path;
}
static void remove_scratch(const char *path) {
  if (!seed_dir()) remove(path);
}

/* Writes the MetaGraph of b (versions 1, 1 and the tensorflow_extension descriptor, as the
 * corpus file has them) and frees the pool. */
static const char *write_file(builder *b, const char *name) {
  Krt__Uff__Descriptor desc = KRT__UFF__DESCRIPTOR__INIT;
  desc.id = "tensorflow_extension";
  desc.version = 1;
  Krt__Uff__Descriptor *descs[1] = {&desc};
  Krt__Uff__Graph graph = KRT__UFF__GRAPH__INIT;
  graph.id = "main";
  graph.n_nodes = b->n_nodes;
  graph.nodes = b->nodes;
  Krt__Uff__Graph *graphs[1] = {&graph};
  Krt__Uff__MetaGraph m = KRT__UFF__META_GRAPH__INIT;
  m.version = 1;
  m.descriptor_core_version = 1;
  m.n_descriptors = 1;
  m.descriptors = descs;
  m.n_graphs = 1;
  m.graphs = graphs;
  m.n_referenced_data = b->n_refs;
  m.referenced_data = b->refs;
  size_t size = krt__uff__meta_graph__get_packed_size(&m);
  uint8_t *buf = malloc(size);
  const char *path = scratch_path(name);
  FILE *f = fopen(path, "wb");
  CHECK(buf && f);
  if (buf && f) {
    krt__uff__meta_graph__pack(&m, buf);
    CHECK(fwrite(buf, 1, size, f) == size);
  }
  if (f) fclose(f);
  free(buf);
  free_pool();
  memset(b, 0, sizeof *b);
  return path;
}

/* ---- references from the ops' definitions ------------------------------------------------ */

/* y[N=1, Ho, Wo, Co] = sum x[h*s - pb + i*1, ...] * w[i, j, ci, co] over the group's channels. */
static void ref_conv(const float *x, int H, int W, int Ci, const float *w, int kh, int kw, int Co,
                     int groups, int s, int pbh, int peh, int pbw, int pew, float *y, int *Ho,
                     int *Wo) {
  *Ho = (H + pbh + peh - kh) / s + 1;
  *Wo = (W + pbw + pew - kw) / s + 1;
  int cig = Ci / groups, cog = Co / groups;
  for (int oh = 0; oh < *Ho; oh++)
    for (int ow = 0; ow < *Wo; ow++)
      for (int co = 0; co < Co; co++) {
        double acc = 0;
        int g = co / cog;
        for (int i = 0; i < kh; i++)
          for (int j = 0; j < kw; j++) {
            int ih = oh * s - pbh + i, iw = ow * s - pbw + j;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (int c = 0; c < cig; c++)
              acc += x[(ih * W + iw) * Ci + g * cig + c] * w[((i * kw + j) * cig + c) * Co + co];
          }
        y[(oh * *Wo + ow) * Co + co] = (float)acc;
      }
}

static float pattern(int i, int mod, int shift) { return (float)(i % mod - shift); }

static int run_model(const char *path, int n_shapes, const char *const *names, const int64_t (*dims)[4],
                     const int *ranks, const float *const *inputs, float *out, int64_t n_out) {
  krt_build_options *o = NULL;
  krt_engine *e = NULL;
  krt_context *ctx = NULL;
  int ok = 0;
  CHECK_OK(krt_build_options_create(&o));
  for (int i = 0; o && i < n_shapes; i++)
    CHECK_OK(krt_build_options_set_input_shape(o, names[i], ranks[i], dims[i]));
  krt_status *s = krt_engine_build(path, o, &e);
  if (s) {
    fprintf(stderr, "build %s: %s\n", path, krt_status_message(s));
    krt_status_release(s);
    CHECK(0);
  }
  if (e) CHECK_OK(krt_context_create(e, &ctx));
  for (int i = 0; ctx && i < n_shapes; i++) {
    int64_t n = 1;
    for (int d = 0; d < ranks[i]; d++) n *= dims[i][d];
    CHECK_OK(krt_context_set_input_by_name(ctx, names[i], KRT_FLOAT32, dims[i], ranks[i],
                                           inputs[i], (size_t)n * sizeof(float)));
  }
  if (ctx) {
    krt_status *r = krt_context_run(ctx);
    if (r) {
      fprintf(stderr, "run %s: %s\n", path, krt_status_message(r));
      krt_status_release(r);
      CHECK(0);
    } else {
      krt_tensor_view y;
      CHECK_OK(krt_context_get_output(ctx, 0, &y));
      CHECK(krt_view_element_count(&y) == n_out);
      if (krt_view_element_count(&y) == n_out) {
        memcpy(out, y.data, (size_t)n_out * sizeof(float));
        ok = 1;
      }
    }
  }
  krt_context_release(ctx);
  krt_engine_release(e);
  krt_build_options_release(o);
  return ok;
}

/* ---- the cases ------------------------------------------------------------------------------- */

/* NHWC, as a Keras model converts: Conv (same padding) + Binary add bias + relu6, a depthwise
 * Conv (number_groups, the TensorFlow kernel [kh, kw, C, 1]), max Pool, Concat on C, Flatten,
 * FullyConnected (NC, CK) + bias, MarkOutput. */
static void test_channels_last(void) {
  builder b;
  memset(&b, 0, sizeof b);
  enum { H = 3, W = 3, CI = 2, CO = 3 };
  float w[2 * 2 * CI * CO], bias[CO] = {1, -1, 2}, dw[2 * 2 * CO], fcw[24 * 2], fcb[2] = {3, -4};
  for (int i = 0; i < 2 * 2 * CI * CO; i++) w[i] = pattern(i, 5, 2);
  for (int i = 0; i < 2 * 2 * CO; i++) dw[i] = pattern(i, 3, 1);
  for (int i = 0; i < 24 * 2; i++) fcw[i] = pattern(i, 4, 2);
  int64_t wd[4] = {2, 2, CI, CO}, bd[1] = {CO}, dwd[4] = {2, 2, CO, 1}, fd[2] = {24, 2},
          fbd[1] = {2}, ones[2] = {1, 1}, win[2] = {2, 2};
  const int64_t conv_codes[2][4] = {{0, SP, 1}, {SP, 1, 0}}, fc_codes[2][4] = {{0, 1}, {1, 0}};
  orders(&b, "orders_N+C_+CK", 2, (const int[]){4, 4}, conv_codes);
  orders(&b, "orders_NC_CK", 2, (const int[]){2, 2}, fc_codes);
  node(&b, "x", "Input", NULL, "dtype", data_dtype(0x20020), "shape", data_ints(0, NULL),
       (const char *)NULL);
  const_node(&b, "conv/kernel", 4, wd, w);
  node(&b, "conv", "Conv", (const char *[]){"x", "conv/kernel", NULL}, "inputs_orders",
       data_ref("orders_N+C_+CK"), "strides", data_ints(2, ones), "implicit_padding",
       data_s("same"), (const char *)NULL);
  const_node(&b, "conv/bias", 1, bd, bias);
  node(&b, "conv/BiasAdd", "Binary", (const char *[]){"conv", "conv/bias", NULL}, "func",
       data_s("add"), (const char *)NULL);
  node(&b, "act", "Activation", (const char *[]){"conv/BiasAdd", NULL}, "func", data_s("relu6"),
       (const char *)NULL);
  const_node(&b, "dw/kernel", 4, dwd, dw);
  node(&b, "dw", "Conv", (const char *[]){"act", "dw/kernel", NULL}, "number_groups", data_i(CO),
       "inputs_orders", data_ref("orders_N+C_+CK"), "strides", data_ints(2, ones),
       (const char *)NULL);
  node(&b, "pool", "Pool", (const char *[]){"act", NULL}, "func", data_s("max"), "kernel",
       data_ints(2, win), "strides", data_ints(2, ones), "inputs_orders",
       data_ref("orders_N+C_+CK"), (const char *)NULL);
  node(&b, "cat", "Concat", (const char *[]){"dw", "pool", NULL}, "axis", data_i(3),
       (const char *)NULL);
  node(&b, "flat", "Flatten", (const char *[]){"cat", NULL}, (const char *)NULL);
  const_node(&b, "fc/kernel", 2, fd, fcw);
  node(&b, "fc", "FullyConnected", (const char *[]){"flat", "fc/kernel", NULL}, "inputs_orders",
       data_ref("orders_NC_CK"), (const char *)NULL);
  const_node(&b, "fc/bias", 1, fbd, fcb);
  node(&b, "fc/BiasAdd", "Binary", (const char *[]){"fc", "fc/bias", NULL}, "func", data_s("add"),
       (const char *)NULL);
  node(&b, "MarkOutput_0", "MarkOutput", (const char *[]){"fc/BiasAdd", NULL}, (const char *)NULL);
  /* the reference, from the definitions (before write_file frees nothing of these arrays) */
  float x[H * W * CI];
  for (int i = 0; i < H * W * CI; i++) x[i] = pattern(i, 7, 3);
  float c1[H * W * CO];
  int ho, wo;
  ref_conv(x, H, W, CI, w, 2, 2, CO, 1, 1, 0, 1, 0, 1, c1, &ho, &wo); /* SAME: pad 0 before, 1 after */
  CHECK(ho == 3 && wo == 3);
  for (int i = 0; i < H * W * CO; i++) {
    float v = c1[i] + bias[i % CO];
    c1[i] = v < 0 ? 0 : v > 6 ? 6 : v;
  }
  float d[2 * 2 * CO];
  ref_conv(c1, 3, 3, CO, dw, 2, 2, CO, CO, 1, 0, 0, 0, 0, d, &ho, &wo);
  CHECK(ho == 2 && wo == 2);
  float cat[2 * 2 * 2 * CO];
  for (int p = 0; p < 4; p++)
    for (int c = 0; c < CO; c++) {
      int oh = p / 2, ow = p % 2;
      float m = -1e30f;
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
          float v = c1[((oh + i) * 3 + ow + j) * CO + c];
          m = v > m ? v : m;
        }
      cat[p * 2 * CO + c] = d[p * CO + c];
      cat[p * 2 * CO + CO + c] = m;
    }
  float expected[2];
  for (int k = 0; k < 2; k++) {
    double acc = fcb[k];
    for (int i = 0; i < 24; i++) acc += cat[i] * fcw[i * 2 + k];
    expected[k] = (float)acc;
  }
  const char *path = write_file(&b, "nhwc.uff");
  float got[2] = {0, 0};
  const int64_t shape[1][4] = {{1, H, W, CI}};
  const float *in[1] = {x};
  if (run_model(path, 1, (const char *[]){"x"}, shape, (const int[]){4}, in, got, 2)) {
    for (int k = 0; k < 2; k++) {
      if (got[k] != expected[k]) fprintf(stderr, "nhwc: output %d: %g, expected %g\n", k, got[k], expected[k]);
      CHECK(got[k] == expected[k]);
    }
  }
  /* the file's Input has no shape: without one given, the import says how to give it */
  ir_graph *g = NULL;
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_SHAPE, "--input x:");
  ir_graph_free(g);
  remove_scratch(path);
}

/* NCHW: Conv with 'NC+' input order and explicit padding [1, 1] and stride 2, Reshape by an int32
 * Const to [-1, 8], FullyConnected with weights 'KC' ([K, C], transposed while importing). */
static void test_channels_first(void) {
  builder b;
  memset(&b, 0, sizeof b);
  enum { CI = 1, H = 4, W = 4, CO = 2 };
  float w[3 * 3 * CI * CO], fcw[3 * 8]; /* fc: K = 3 rows of C = 8 */
  for (int i = 0; i < 3 * 3 * CI * CO; i++) w[i] = pattern(i, 3, 1);
  for (int i = 0; i < 3 * 8; i++) fcw[i] = pattern(i, 5, 2);
  int64_t wd[4] = {3, 3, CI, CO}, fd[2] = {3, 8}, two[2] = {2, 2}, pad[2] = {1, 1};
  const int64_t conv_codes[2][4] = {{0, 1, SP}, {SP, 1, 0}}, fc_codes[2][4] = {{0, 1}, {0, 1}};
  orders(&b, "orders_NC+_+CK", 2, (const int[]){4, 4}, conv_codes);
  orders(&b, "orders_NC_KC", 2, (const int[]){2, 2}, fc_codes);
  node(&b, "x", "Input", NULL, "dtype", data_dtype(0x20020), "shape",
       data_ints(4, (const int64_t[]){-1, CI, H, W}), (const char *)NULL);
  const_node(&b, "k", 4, wd, w);
  node(&b, "conv", "Conv", (const char *[]){"x", "k", NULL}, "inputs_orders",
       data_ref("orders_NC+_+CK"), "strides", data_ints(2, two), "padding", data_ints(2, pad),
       (const char *)NULL);
  int_const_node(&b, "shape", 2, (const int32_t[]){-1, 8});
  node(&b, "flat", "Reshape", (const char *[]){"conv", "shape", NULL}, (const char *)NULL);
  const_node(&b, "fcw", 2, fd, fcw);
  node(&b, "fc", "FullyConnected", (const char *[]){"flat", "fcw", NULL}, "inputs_orders",
       data_ref("orders_NC_KC"), (const char *)NULL);
  node(&b, "sm", "Identity", (const char *[]){"fc", NULL}, (const char *)NULL);
  node(&b, "MarkOutput_0", "MarkOutput", (const char *[]){"sm", NULL}, (const char *)NULL);
  float x[CI * H * W];
  for (int i = 0; i < CI * H * W; i++) x[i] = pattern(i, 5, 2);
  /* x is [1, C=1, 4, 4]: with one channel NCHW and NHWC hold the same bytes */
  float y[2 * 2 * CO];
  int ho, wo;
  ref_conv(x, H, W, CI, w, 3, 3, CO, 1, 2, 1, 1, 1, 1, y, &ho, &wo);
  CHECK(ho == 2 && wo == 2);
  /* the graph's conv output is NCHW [1, 2, 2, 2]; Reshape flattens it in that order */
  float flat[8];
  for (int c = 0; c < CO; c++)
    for (int p = 0; p < 4; p++) flat[c * 4 + p] = y[p * CO + c];
  float expected[3];
  for (int k = 0; k < 3; k++) {
    double acc = 0;
    for (int i = 0; i < 8; i++) acc += flat[i] * fcw[k * 8 + i];
    expected[k] = (float)acc;
  }
  const char *path = write_file(&b, "nchw.uff");
  float got[3] = {0, 0, 0};
  const int64_t shape[1][4] = {{1, CI, H, W}};
  const float *in[1] = {x};
  if (run_model(path, 1, (const char *[]){"x"}, shape, (const int[]){4}, in, got, 3))
    for (int k = 0; k < 3; k++) {
      if (got[k] != expected[k]) fprintf(stderr, "nchw: output %d: %g, expected %g\n", k, got[k], expected[k]);
      CHECK(got[k] == expected[k]);
    }
  remove_scratch(path);
}

/* A one-op graph x -> op(x) with one field, for the refusals. */
static const char *one_op_file(const char *op, const char *key, Krt__Uff__Data *value) {
  builder b;
  memset(&b, 0, sizeof b);
  node(&b, "x", "Input", NULL, "dtype", data_dtype(0x20020), "shape",
       data_ints(2, (const int64_t[]){-1, 4}), (const char *)NULL);
  node(&b, "y", op, (const char *[]){"x", NULL}, key, value, (const char *)NULL);
  node(&b, "MarkOutput_0", "MarkOutput", (const char *[]){"y", NULL}, (const char *)NULL);
  return write_file(&b, "one_op.uff");
}

static void test_refusals(void) {
  ir_graph *g = NULL;
  const char *path = one_op_file("LRN", "window_size", data_i(3));
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_UNSUPPORTED, "node 'y' (UFF op LRN)");
  path = one_op_file("Activation", "func", data_s("leaky_relu"));
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_UNSUPPORTED, "func 'leaky_relu'");
  path = one_op_file("Activation", "negative_slope", data_i(1));
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_UNSUPPORTED, "field 'negative_slope'");
  path = one_op_file("Unary", "func", data_s("cos"));
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_UNSUPPORTED, "func 'cos'");
  /* the converter's Softmax carries an axis and a data format, whose meaning was TensorRT's */
  path = one_op_file("Softmax", "axis", data_i(0));
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_UNSUPPORTED, "node 'y' (UFF op Softmax)");
  /* Unary funcs, run: abs, neg, square of [-2, -1, 0, 3] */
  static const struct {
    const char *func;
    float y[4];
  } unary[] = {{"abs", {2, 1, 0, 3}}, {"neg", {2, 1, 0, -3}}, {"square", {4, 1, 0, 9}}};
  for (size_t u = 0; u < sizeof unary / sizeof *unary; u++) {
    path = one_op_file("Unary", "func", data_s(unary[u].func));
    const float x[4] = {-2, -1, 0, 3};
    const float *in[1] = {x};
    const int64_t dims[1][4] = {{1, 4}};
    float got[4] = {0, 0, 0, 0};
    if (run_model(path, 1, (const char *[]){"x"}, dims, (const int[]){2}, in, got, 4))
      for (int i = 0; i < 4; i++) CHECK(got[i] == unary[u].y[i]);
  }
  path = one_op_file("Activation", "func", data_s("sigmoid"));
  CHECK_OK(import_model(path, NULL, &g)); /* and a good one builds */
  ir_graph_free(g);
  g = NULL;
  remove_scratch(path);
  /* a truncated file is no UFF */
  FILE *f = fopen(scratch_path("bad.uff"), "wb");
  if (f) {
    fwrite("\x08\x01\x10\x01\x22\x7f\x0a", 1, 7, f);
    fclose(f);
    CHECK_ERR(import_model(scratch_path("bad.uff"), NULL, &g), KRT_ERR_BAD_FILE, "UFF");
    remove_scratch(scratch_path("bad.uff"));
  }
}

/* The corpus file (github.com/csvance/keras-tensorrt-jetson): imports with its two inputs given
 * as NHWC [1, 30, 40, 1], builds and runs; the output dense_1/BiasAdd. */
static void test_corpus(void) {
  const char *path = "../shared/corpus/uff/csvance__graph/model.uff";
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("corpus file absent: skipped\n");
    return;
  }
  fclose(f);
  ir_graph *g = NULL;
  CHECK_ERR(import_model(path, NULL, &g), KRT_ERR_SHAPE, "no shape in the file");
  import_input_shape shapes[2] = {{"input_1", 4, {1, 30, 40, 1}}, {"input_2", 4, {1, 30, 40, 1}}};
  import_options o;
  memset(&o, 0, sizeof o);
  o.n_input_shapes = 2;
  o.input_shapes = shapes;
  CHECK_OK(import_model(path, &o, &g));
  if (g) {
    CHECK(g->n_inputs == 2 && g->n_outputs == 1);
    CHECK(g->n_outputs == 1 && strcmp(g->output_names[0], "dense_1/BiasAdd") == 0);
    ir_graph_free(g);
  }
  /* Against Keras: the notebook's model with the file's weights, run by
   * tools/fixtures/make_uff_corpus_reference.py on input k element i = sin(0.37 i + 1.3 k). */
  npy_array expected;
  memset(&expected, 0, sizeof expected);
  char err[512];
  const char *ref = "tests/data/uff/csvance_graph.expected.npy";
  CHECK(npy_read(ref, &expected, err, sizeof err) == 0);
  if (expected.data && expected.dtype == KRT_FLOAT32 && expected.rank == 2 && expected.dims[0] == 2) {
    static float x[2][2 * 30 * 40];
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < 2 * 30 * 40; i++) x[k][i] = (float)sin(0.37 * i + 1.3 * k);
    const int64_t dims[2][4] = {{2, 30, 40, 1}, {2, 30, 40, 1}};
    const float *in[2] = {x[0], x[1]};
    float got[2] = {0, 0};
    if (run_model(path, 2, (const char *[]){"input_1", "input_2"}, dims, (const int[]){4, 4}, in,
                  got, 2))
      for (int b = 0; b < 2; b++) {
        float e = ((const float *)expected.data)[b];
        printf("corpus csvance__graph: batch %d: krt %.7g, Keras %.7g\n", b, got[b], e);
        CHECK(fabsf(got[b] - e) <= 1e-5f + 1e-4f * fabsf(e));
      }
  }
  npy_free(&expected);
}

int main(void) {
  test_channels_last();
  test_channels_first();
  test_refusals();
  test_corpus();
  return test_summary("test_import_uff");
}
