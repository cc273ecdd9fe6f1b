/* keras_convert_layer on hand-written configs: option spellings of Keras 1/2/3, activation specs,
 * padding arithmetic, kernel layouts, and the error messages for what is not supported. Numbers
 * against real Keras are checked by the fixture cases (tests/fixtures); this covers config edge
 * cases that are awkward to produce with Keras itself. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "import/keras_internal.h"
#include "ir/graph.h"
#include "test.h"

typedef struct fixture {
  ir_graph *g;
  cJSON *config;
  keras_layer_ctx ctx;
  int inputs[4];
  keras_array weights[4];
  float *data[4];
} fixture;

/* A graph with one batched float input of shape [-1, dims...] and a layer of class cls. */
static void setup(fixture *f, const char *cls, const char *config_json, int rank, const int64_t *dims) {
  memset(f, 0, sizeof *f);
  f->g = ir_graph_create();
  int64_t d[KRT_MAX_RANK];
  d[0] = -1;
  for (int i = 0; i < rank - 1; i++) d[i + 1] = dims[i];
  krt_status *s = ir_add_input(f->g, "x", KRT_FLOAT32, rank, d, 1, IR_LAYOUT_PLAIN, &f->inputs[0]);
  krt_status_release(s);
  f->config = cJSON_Parse(config_json);
  int layer = 0;
  krt_status_release(ir_add_layer(f->g, "l1", cls, &layer));
  f->ctx.graph = f->g;
  f->ctx.file = "m.h5";
  f->ctx.layer_name = "l1";
  f->ctx.class_name = cls;
  f->ctx.config = f->config;
  f->ctx.keras_major = 3;
  f->ctx.layer_index = layer;
  f->ctx.n_inputs = 1;
  f->ctx.inputs = f->inputs;
  f->ctx.weights = f->weights;
}

/* Adds a weight filled with 0, 1, 2, ... */
static void add_weight(fixture *f, int rank, const int64_t *dims) {
  int i = f->ctx.n_weights++;
  int64_t n = 1;
  for (int k = 0; k < rank; k++) n *= dims[k];
  f->data[i] = malloc((size_t)n * sizeof(float));
  for (int64_t k = 0; k < n; k++) f->data[i][k] = (float)k;
  f->weights[i].name = "w";
  f->weights[i].data = f->data[i];
  f->weights[i].rank = rank;
  memcpy(f->weights[i].dims, dims, (size_t)rank * sizeof *dims);
}

static void teardown(fixture *f) {
  for (int i = 0; i < 4; i++) free(f->data[i]);
  cJSON_Delete(f->config);
  ir_graph_free(f->g);
}

static const ir_node *last_node(const fixture *f) { return &f->g->nodes[f->g->n_nodes - 1]; }

static const ir_node *find_node(const fixture *f, ir_op op) {
  for (int i = 0; i < f->g->n_nodes; i++)
    if (f->g->nodes[i].op == op) return &f->g->nodes[i];
  return NULL;
}

static void test_unknown_class(void) {
  fixture f;
  int64_t dims[1] = {4};
  setup(&f, "ConvLSTM2D", "{}", 2, dims);
  f.ctx.layer_name = "lstm_1";
  f.ctx.file = "model.h5";
  int out;
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "model.h5: layer 'lstm_1' (ConvLSTM2D): layer class ConvLSTM2D is not supported");
  teardown(&f);
  CHECK(keras_is_input_class("InputLayer") && !keras_is_input_class("Dense"));
  CHECK(keras_is_model_class("Sequential") && keras_is_model_class("Functional") &&
        keras_is_model_class("Model") && !keras_is_model_class("Dense"));
}

static void test_dense_activations(void) {
  static const struct {
    const char *activation;
    int major;
    ir_act_kind kind;
    float alpha;
  } cases[] = {
      {"\"relu\"", 3, IR_ACT_RELU, 0.0f},
      {"\"hard_sigmoid\"", 3, IR_ACT_HARD_SIGMOID, 1.0f / 6.0f},
      {"\"hard_sigmoid\"", 2, IR_ACT_HARD_SIGMOID, 0.2f},
      {"\"leaky_relu\"", 3, IR_ACT_RELU, 0.2f},
      {"{\"module\": \"keras.activations\", \"class_name\": \"function\", \"config\": \"gelu\"}", 3, IR_ACT_GELU, 0},
      {"{\"module\": \"keras.layers\", \"class_name\": \"LeakyReLU\", \"config\": {\"negative_slope\": 0.1}}", 3, IR_ACT_RELU, 0.1f},
      {"{\"class_name\": \"LeakyReLU\", \"config\": {}}", 2, IR_ACT_RELU, 0.3f},
      {"\"swish\"", 2, IR_ACT_SWISH, 0},
      {"null", 3, IR_ACT_NONE, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char json[512];
    snprintf(json, sizeof json, "{\"units\": 3, \"use_bias\": true, \"activation\": %s}",
             cases[i].activation);
    fixture f;
    int64_t in[1] = {4}, k[2] = {4, 3}, b[1] = {3};
    setup(&f, "Dense", json, 2, in);
    f.ctx.keras_major = cases[i].major;
    add_weight(&f, 2, k);
    add_weight(&f, 1, b);
    int out = -1;
    CHECK_OK(keras_convert_layer(&f.ctx, &out));
    const ir_node *n = find_node(&f, IR_OP_DENSE);
    CHECK(n && n->attrs.act.kind == cases[i].kind);
    if (n) CHECK_NEAR(n->attrs.act.alpha, cases[i].alpha, 1e-7);
    CHECK(out >= 0 && f.g->values[out].dims[1] == 3);
    teardown(&f);
  }
  /* softmax becomes its own node over the last axis */
  fixture f;
  int64_t in[2] = {5, 4}, k[2] = {4, 3};
  setup(&f, "Dense", "{\"units\": 3, \"use_bias\": false, \"activation\": \"softmax\"}", 3, in);
  add_weight(&f, 2, k);
  int out;
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(last_node(&f)->op == IR_OP_SOFTMAX && last_node(&f)->attrs.n_axes == 1 &&
        last_node(&f)->attrs.axes[0] == 2);
  teardown(&f);
  /* an unknown activation and a wrong kernel shape */
  setup(&f, "Dense", "{\"units\": 3, \"activation\": \"sparsemax\"}", 2, in);
  add_weight(&f, 2, k);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "m.h5: layer 'l1' (Dense): activation 'sparsemax' is not supported");
  teardown(&f);
  int64_t in1[1] = {5};
  setup(&f, "Dense", "{\"output_dim\": 3, \"bias\": false}", 2, in1);
  add_weight(&f, 2, k);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "(Dense): weight kernel");
  teardown(&f);
}

static void test_conv_padding(void) {
  fixture f;
  int64_t in[3] = {7, 7, 2}, k[4] = {3, 3, 2, 4}, b[1] = {4};
  setup(&f, "Conv2D",
        "{\"filters\": 4, \"kernel_size\": [3, 3], \"strides\": [2, 2], \"padding\": \"same\", "
        "\"data_format\": \"channels_last\", \"dilation_rate\": [1, 1], \"groups\": 1, "
        "\"activation\": \"relu\", \"use_bias\": true}",
        4, in);
  add_weight(&f, 4, k);
  add_weight(&f, 1, b);
  int out;
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  const ir_node *n = find_node(&f, IR_OP_CONV);
  /* in 7, s 2: out 4, total = 3*2 + 3 - 7 = 2 -> 1, 1 */
  CHECK(n && n->attrs.pad_begin[0] == 1 && n->attrs.pad_end[0] == 1 && n->attrs.act.kind == IR_ACT_RELU);
  CHECK(f.g->values[out].dims[1] == 4 && f.g->values[out].dims[3] == 4);
  teardown(&f);

  /* channels_first: transposes around a channels-last conv */
  int64_t in_cf[3] = {2, 8, 8};
  setup(&f, "Conv2D",
        "{\"filters\": 4, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"SAME\", "
        "\"data_format\": \"channels_first\", \"use_bias\": true}",
        4, in_cf);
  add_weight(&f, 4, k);
  add_weight(&f, 1, b);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  n = find_node(&f, IR_OP_CONV);
  /* in 8, s 2: total = 3*2 + 3 - 8 = 1 -> 0, 1 */
  CHECK(n && n->attrs.pad_begin[0] == 0 && n->attrs.pad_end[0] == 1);
  CHECK(f.g->nodes[0].op == IR_OP_TRANSPOSE && last_node(&f)->op == IR_OP_TRANSPOSE);
  CHECK(f.g->values[out].dims[1] == 4 && f.g->values[out].dims[2] == 4 &&
        f.g->values[out].layout == IR_LAYOUT_CHANNELS_FIRST);
  teardown(&f);

  /* causal Conv1D with dilation 2 */
  int64_t in1[2] = {10, 2}, k1[3] = {3, 2, 4};
  setup(&f, "Conv1D",
        "{\"filters\": 4, \"kernel_size\": [3], \"strides\": [1], \"padding\": \"causal\", "
        "\"dilation_rate\": [2], \"use_bias\": false}",
        3, in1);
  add_weight(&f, 3, k1);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  n = find_node(&f, IR_OP_CONV);
  CHECK(n && n->attrs.pad_begin[0] == 4 && n->attrs.pad_end[0] == 0);
  CHECK(f.g->values[out].dims[1] == 10);
  teardown(&f);

  /* 'full' is Keras 1 only */
  setup(&f, "Conv2D", "{\"filters\": 4, \"kernel_size\": 3, \"padding\": \"full\"}", 4, in);
  add_weight(&f, 4, k);
  add_weight(&f, 1, b);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "m.h5: layer 'l1' (Conv2D): option padding='full' is not supported");
  teardown(&f);
}

/* Keras 1 Convolution2D, dim_ordering 'th', no backend recorded: kernel (Cout, Cin, rows, cols)
 * becomes (rows, cols, Cin, Cout), flipped spatially (Theano's true convolution). */
static void test_keras1_theano_kernel(void) {
  fixture f;
  int64_t in[3] = {2, 5, 5}, k[4] = {3, 2, 2, 3}, b[1] = {3};
  setup(&f, "Convolution2D",
        "{\"nb_filter\": 3, \"nb_row\": 2, \"nb_col\": 3, \"border_mode\": \"valid\", "
        "\"subsample\": [1, 1], \"dim_ordering\": \"th\", \"bias\": true, \"activation\": \"linear\"}",
        4, in);
  f.ctx.keras_major = 1;
  add_weight(&f, 4, k);
  add_weight(&f, 1, b);
  int out;
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  const ir_node *n = find_node(&f, IR_OP_CONV);
  CHECK(n != NULL);
  if (n) {
    const ir_value *w = &f.g->values[n->inputs[1]];
    CHECK(w->rank == 4 && w->dims[0] == 2 && w->dims[1] == 3 && w->dims[2] == 2 && w->dims[3] == 3);
    /* IR w[r][c][i][o] = file[o][i][1-r][2-c]; file value = ((o*2 + i)*2 + r)*3 + c */
    int r = 0, c = 1, i = 1, o = 2;
    float want = (float)(((o * 2 + i) * 2 + (1 - r)) * 3 + (2 - c));
    CHECK(w->data[((r * 3 + c) * 2 + i) * 3 + o] == want);
  }
  CHECK(f.g->values[out].dims[1] == 3 && f.g->values[out].dims[2] == 4 && f.g->values[out].dims[3] == 3);
  teardown(&f);
}

/* Conv2DTranspose pads: same s2 k3 -> out = 2*in, F = 2*(in-1) + 3; pb = 0, pe = 1 - 0 ... */
static void test_conv_transpose(void) {
  static const struct {
    const char *opts;
    int64_t pb, pe, out;
  } cases[] = {
      {"\"padding\": \"same\", \"strides\": 2", 0, 1, 10},                            /* total 1 */
      {"\"padding\": \"valid\", \"strides\": 2", 0, 0, 11},                           /* 4*2+3 */
      {"\"padding\": \"valid\", \"strides\": 4", 0, -1, 20},                          /* 4*4+4 */
      {"\"padding\": \"same\", \"strides\": 2, \"output_padding\": 0", 1, 1, 9},     /* 8+1+0 */
      {"\"padding\": \"valid\", \"strides\": 3, \"output_padding\": 2", 0, -2, 17},  /* 12+3+2 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char json[256];
    snprintf(json, sizeof json, "{\"filters\": 2, \"kernel_size\": 3, %s, \"use_bias\": false}",
             cases[i].opts);
    fixture f;
    int64_t in[3] = {5, 5, 4}, k[4] = {3, 3, 2, 4};
    setup(&f, "Conv2DTranspose", json, 4, in);
    add_weight(&f, 4, k);
    int out;
    CHECK_OK(keras_convert_layer(&f.ctx, &out));
    const ir_node *n = find_node(&f, IR_OP_CONV_TRANSPOSE);
    CHECK(n && n->attrs.pad_begin[0] == cases[i].pb && n->attrs.pad_end[0] == cases[i].pe);
    CHECK(f.g->values[out].dims[1] == cases[i].out);
    teardown(&f);
  }
}

static void test_misc_layers(void) {
  fixture f;
  int out;
  int64_t in[3] = {4, 6, 3};
  /* ZeroPadding2D, Keras 1 four-tuple */
  setup(&f, "ZeroPadding2D", "{\"padding\": [1, 2, 3, 4], \"dim_ordering\": \"tf\"}", 4, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 7 && f.g->values[out].dims[2] == 13);
  teardown(&f);
  /* Cropping2D channels_first */
  setup(&f, "Cropping2D", "{\"cropping\": [[1, 0], [1, 1]], \"data_format\": \"channels_first\"}", 4, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 4 && f.g->values[out].dims[2] == 5 && f.g->values[out].dims[3] == 1);
  teardown(&f);
  /* Permute and Reshape */
  setup(&f, "Permute", "{\"dims\": [3, 1, 2]}", 4, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 3 && f.g->values[out].dims[2] == 4 && f.g->values[out].dims[3] == 6);
  teardown(&f);
  setup(&f, "Reshape", "{\"target_shape\": [-1, 8]}", 4, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].rank == 3 && f.g->values[out].dims[1] == 9);
  teardown(&f);
  /* Dropout is the identity; BatchNormalization Keras 1 mode 2 is not supported */
  setup(&f, "Dropout", "{\"p\": 0.5}", 4, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(out == f.inputs[0] && f.g->n_nodes == 0);
  teardown(&f);
  setup(&f, "BatchNormalization", "{\"mode\": 2, \"axis\": -1}", 4, in);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "(BatchNormalization): option mode=2");
  teardown(&f);
  /* BatchNormalization without gamma/beta gets constants */
  int64_t c[1] = {3};
  setup(&f, "BatchNormalization", "{\"axis\": [3], \"center\": false, \"scale\": false, \"epsilon\": 0.01}", 4, in);
  add_weight(&f, 1, c);
  add_weight(&f, 1, c);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(last_node(&f)->op == IR_OP_BATCHNORM && last_node(&f)->attrs.axis == 3 &&
        last_node(&f)->n_inputs == 5);
  teardown(&f);
  /* Average of three inputs: two adds and a division */
  setup(&f, "Average", "{}", 4, in);
  f.inputs[1] = f.inputs[2] = f.inputs[0];
  f.ctx.n_inputs = 3;
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->n_nodes == 3 && last_node(&f)->attrs.binary == IR_BINARY_DIV &&
        strcmp(last_node(&f)->name, "l1") == 0);
  teardown(&f);
  /* quantized policies are refused */
  setup(&f, "Dense", "{\"units\": 2, \"dtype\": {\"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"int8_from_float32\"}}}", 4, in);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "int8_from_float32");
  teardown(&f);
}

/* 3-D layers: the amount spellings of ZeroPadding3D/Cropping3D (int, triple, pairs; Keras 1 dicts
 * are 1-D/2-D only), Cropping3D's default, UpSampling3D's nearest-only resize, Conv3D's kernel
 * checks and the Theano flip over three axes. */
static void test_3d_layers(void) {
  fixture f;
  int out;
  int64_t in[4] = {2, 3, 4, 5}; /* [N, D, H, W, C] */
  setup(&f, "ZeroPadding3D", "{\"padding\": [1, 2, 0]}", 5, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 4 && f.g->values[out].dims[2] == 7 &&
        f.g->values[out].dims[3] == 4 && f.g->values[out].dims[4] == 5);
  teardown(&f);
  setup(&f, "ZeroPadding3D",
        "{\"padding\": [[1, 0], [0, 2], [2, 1]], \"data_format\": \"channels_first\"}", 5, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 2 && f.g->values[out].dims[2] == 4 &&
        f.g->values[out].dims[3] == 6 && f.g->values[out].dims[4] == 8);
  teardown(&f);
  setup(&f, "ZeroPadding3D", "{\"padding\": {\"top_pad\": 1}}", 5, in);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "(ZeroPadding3D): option padding");
  teardown(&f);
  setup(&f, "ZeroPadding3D", "{\"padding\": [1, 2]}", 5, in);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "option padding has 2 entries");
  teardown(&f);
  int64_t vol[4] = {5, 6, 7, 3};
  setup(&f, "Cropping3D", "{}", 5, vol); /* Keras's default: 1 on every side */
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 3 && f.g->values[out].dims[2] == 4 &&
        f.g->values[out].dims[3] == 5 && f.g->values[out].dims[4] == 3);
  teardown(&f);
  setup(&f, "Cropping3D", "{\"cropping\": [1, 0, 2]}", 5, vol);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].dims[1] == 3 && f.g->values[out].dims[2] == 6 &&
        f.g->values[out].dims[3] == 3);
  teardown(&f);
  setup(&f, "Cropping3D", "{\"cropping\": [[0, 0], [3, 3], [0, 0]]}", 5, vol);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_SHAPE, "leaves nothing of 6");
  teardown(&f);
  setup(&f, "UpSampling3D", "{\"size\": [2, 1, 3]}", 5, in);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(last_node(&f)->op == IR_OP_RESIZE && last_node(&f)->attrs.spatial == 3 &&
        last_node(&f)->attrs.scale[2] == 3);
  CHECK(f.g->values[out].dims[1] == 4 && f.g->values[out].dims[2] == 3 &&
        f.g->values[out].dims[3] == 12);
  teardown(&f);
  setup(&f, "UpSampling3D", "{\"size\": 2, \"interpolation\": \"bilinear\"}", 5, in);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "interpolation='bilinear'");
  teardown(&f);
  /* Conv3D: a kernel whose window does not match kernel_size is a bad file */
  int64_t bad[5] = {2, 2, 3, 5, 1};
  setup(&f, "Conv3D", "{\"filters\": 1, \"kernel_size\": 2, \"use_bias\": false}", 5, in);
  add_weight(&f, 5, bad);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "weight kernel");
  teardown(&f);
  /* Theano: every spatial axis flipped, which reverses the order of the 8 taps of a 2x2x2 kernel
   * with one input and one output channel (file values 0..7). */
  int64_t one[4] = {3, 3, 3, 1}, k[5] = {2, 2, 2, 1, 1};
  setup(&f, "Conv3D", "{\"filters\": 1, \"kernel_size\": [2, 2, 2], \"use_bias\": false}", 5, one);
  f.ctx.keras_major = 2;
  f.ctx.backend = "theano";
  add_weight(&f, 5, k);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  const ir_node *n = find_node(&f, IR_OP_CONV);
  CHECK(n != NULL && n->attrs.spatial == 3);
  if (n) {
    const ir_value *w = &f.g->values[n->inputs[1]];
    CHECK(w->rank == 5);
    for (int t = 0; t < 8; t++) CHECK(w->data[t] == (float)(7 - t));
  }
  teardown(&f);
}

/* User code is refused whatever its class name; keras.applications' own layers only from their
 * modules; call keywords that change the result are refused. */
static void test_user_code(void) {
  fixture f;
  int out;
  int64_t in[1] = {4};
  const char *dense = "{\"units\": 2}";
  setup(&f, "Dense", dense, 2, in);
  add_weight(&f, 2, (int64_t[]){4, 2});
  add_weight(&f, 1, (int64_t[]){2});
  f.ctx.module = "keras.layers";
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  teardown(&f);
  setup(&f, "Dense", dense, 2, in);
  f.ctx.module = "my_package.layers";
  f.ctx.registered_name = "Dense";
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "layer class Dense is user code, not a Keras built-in (module my_package.layers, "
            "registered name 'Dense')");
  teardown(&f);
  setup(&f, "Dense", dense, 2, in);
  f.ctx.module = "keras.layers"; /* a registered name wins over the module when Keras loads */
  f.ctx.registered_name = "MyPackage>Dense";
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "custom class registered as 'MyPackage>Dense'");
  teardown(&f);
  setup(&f, "Lambda", "{\"function\": {}}", 2, in);
  f.ctx.module = "keras.layers";
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "(Lambda): a Lambda layer holds Python code");
  teardown(&f);
  /* LayerScale: from keras.applications' module or an HDF5 file; nowhere else */
  const char *scale = "{\"init_values\": 1e-6, \"projection_dim\": 4}";
  for (int k = 0; k < 3; k++) {
    setup(&f, "LayerScale", scale, 2, in);
    add_weight(&f, 1, in);
    f.ctx.module = k == 0 ? "keras.src.applications.convnext" : k == 1 ? NULL : "my_models";
    f.ctx.registered_name = k == 1 ? NULL : "LayerScale";
    if (k < 2) {
      CHECK_OK(keras_convert_layer(&f.ctx, &out));
      CHECK(last_node(&f)->op == IR_OP_BINARY && last_node(&f)->attrs.binary == IR_BINARY_MUL);
    } else {
      CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "(module my_models");
    }
    teardown(&f);
  }
  setup(&f, "LayerScale", "{\"projection_dim\": 4, \"axis\": 1}", 2, in);
  add_weight(&f, 1, in);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "(LayerScale): option axis is not supported");
  teardown(&f);
  setup(&f, "CustomScaleLayer", "{\"scale\": 0.5}", 2, in);
  f.inputs[1] = f.inputs[0];
  f.ctx.n_inputs = 2;
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->n_nodes == 2 && last_node(&f)->attrs.binary == IR_BINARY_ADD);
  teardown(&f);
  /* call keywords, Keras 3 and Keras 2 spellings */
  static const struct {
    const char *call, *needle; /* needle NULL: accepted */
  } calls[] = {
      {"{\"args\": [{\"class_name\": \"__keras_tensor__\"}], \"kwargs\": {\"training\": false, "
       "\"mask\": null}}", NULL},
      {"{\"args\": [], \"kwargs\": {\"inputs\": {\"class_name\": \"__keras_tensor__\"}}}", NULL},
      {"{\"args\": [], \"kwargs\": {\"training\": true}}", "the call passes training=True"},
      {"{\"args\": [], \"kwargs\": {\"mask\": {\"class_name\": \"__keras_tensor__\"}}}",
       "the call passes a mask"},
      {"{\"args\": [], \"kwargs\": {\"rate\": 0.9}}", "keyword argument rate=0.9 of the call"},
      {"{\"args\": [true], \"kwargs\": {}}", "positional argument 0 of the call is not a tensor"},
      {"[[\"dense\", 0, 0, {\"training\": false}]]", NULL},
      {"[[\"dense\", 0, 0, {\"y\": [\"other\", 0, 0]}]]", NULL},
      {"[[\"dense\", 0, 0, {\"training\": true}]]", "the call passes training=True"},
      {"[[\"dense\", 0, 0, {\"training\": 1}]]", "keyword argument training=1"},
  };
  for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
    setup(&f, "Dropout", "{\"rate\": 0.5}", 2, in);
    cJSON *call = cJSON_Parse(calls[i].call);
    CHECK(call != NULL);
    f.ctx.call = call;
    if (calls[i].needle)
      CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, calls[i].needle);
    else
      CHECK_OK(keras_convert_layer(&f.ctx, &out));
    cJSON_Delete(call);
    teardown(&f);
  }
}

/* Random augmentation is the identity at inference; the training=True that Keras 3 records for
 * it (its call's default) is what Keras 3's predict() overrides, tf_keras's is not. */
static void test_augmentation(void) {
  fixture f;
  const int64_t in[3] = {6, 6, 3};
  static const struct {
    int keras_major;
    const char *call, *needle; /* needle NULL: accepted, the identity */
  } cases[] = {
      {3, "{\"args\": [{\"class_name\": \"__keras_tensor__\"}], \"kwargs\": {\"training\": true}}",
       NULL},
      {3, "{\"args\": [], \"kwargs\": {\"training\": false}}", NULL},
      {2, "[[\"input\", 0, 0, {}]]", NULL},
      {2, "[[\"input\", 0, 0, {\"training\": true}]]", "makes Keras 2 apply the random augmentation"},
      {3, "{\"args\": [], \"kwargs\": {\"mask\": {\"class_name\": \"__keras_tensor__\"}}}",
       "the call passes a mask"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    setup(&f, "RandomFlip", "{\"mode\": \"horizontal\", \"seed\": 3}", 4, in);
    f.ctx.keras_major = cases[i].keras_major;
    cJSON *call = cJSON_Parse(cases[i].call);
    CHECK(call != NULL);
    f.ctx.call = call;
    int out = -1;
    if (cases[i].needle) {
      CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, cases[i].needle);
    } else {
      CHECK_OK(keras_convert_layer(&f.ctx, &out));
      CHECK(out == f.inputs[0] && f.g->n_nodes == 0);
    }
    cJSON_Delete(call);
    teardown(&f);
  }
  /* RandomCrop is not the identity at inference (tf_keras center-crops): not mapped. */
  setup(&f, "RandomCrop", "{\"height\": 4, \"width\": 4}", 4, in);
  int out = -1;
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "layer class RandomCrop is not supported");
  teardown(&f);
}

/* Recurrent layers: the CuDNN bias layouts, Keras 2's GRU default, and the refusals. Numbers
 * against Keras are the rnn_* fixtures; these are the spellings Keras 3 cannot write. */
static const float *const_data(const fixture *f, int value) { return f->g->values[value].data; }

static void test_recurrent(void) {
  fixture f;
  int64_t seq[2] = {4, 3}; /* x [N, 4 steps, 3 features] */
  int out;
  /* CuDNNLSTM: bias [8H] = cuDNN's input and recurrent biases, added */
  setup(&f, "CuDNNLSTM", "{\"units\": 2, \"return_sequences\": false}", 3, seq);
  f.ctx.keras_major = 2;
  add_weight(&f, 2, (int64_t[]){3, 8});
  add_weight(&f, 2, (int64_t[]){2, 8});
  add_weight(&f, 1, (int64_t[]){16});
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  const ir_node *n = find_node(&f, IR_OP_RECURRENT);
  CHECK(n && n->attrs.rnn_cell == IR_RNN_LSTM && n->attrs.rnn_act.kind == IR_ACT_TANH &&
        n->attrs.rnn_gate_act.kind == IR_ACT_SIGMOID);
  if (n) {
    const float *b = const_data(&f, n->inputs[3]);
    CHECK(f.g->values[n->inputs[3]].dims[0] == 8 && b[0] == 8.0f && b[7] == 22.0f);
  }
  teardown(&f);
  /* CuDNNGRU: reset after the product, bias [6H] kept as input then recurrent bias */
  setup(&f, "CuDNNGRU", "{\"units\": 2}", 3, seq);
  f.ctx.keras_major = 2;
  add_weight(&f, 2, (int64_t[]){3, 6});
  add_weight(&f, 2, (int64_t[]){2, 6});
  add_weight(&f, 1, (int64_t[]){12});
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  n = find_node(&f, IR_OP_RECURRENT);
  CHECK(n && n->attrs.rnn_cell == IR_RNN_GRU_RESET_AFTER &&
        f.g->values[n->inputs[3]].dims[0] == 12);
  teardown(&f);
  /* Keras 2 GRU without reset_after: Keras 2's default, reset before the product */
  setup(&f, "GRU", "{\"units\": 2, \"recurrent_activation\": \"hard_sigmoid\"}", 3, seq);
  f.ctx.keras_major = 2;
  add_weight(&f, 2, (int64_t[]){3, 6});
  add_weight(&f, 2, (int64_t[]){2, 6});
  add_weight(&f, 1, (int64_t[]){6});
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  n = find_node(&f, IR_OP_RECURRENT);
  CHECK(n && n->attrs.rnn_cell == IR_RNN_GRU && n->attrs.rnn_gate_act.kind == IR_ACT_HARD_SIGMOID &&
        fabsf(n->attrs.rnn_gate_act.alpha - 0.2f) < 1e-7f);
  teardown(&f);
  /* return_state: one node whose outputs are y, h_T and c_T, in Keras's order */
  setup(&f, "CuDNNLSTM", "{\"units\": 2, \"return_sequences\": true, \"return_state\": true}", 3,
        seq);
  f.ctx.keras_major = 2;
  add_weight(&f, 2, (int64_t[]){3, 8});
  add_weight(&f, 2, (int64_t[]){2, 8});
  add_weight(&f, 1, (int64_t[]){16});
  int outs[KERAS_MAX_OP_OUTPUTS], n_outs = 0;
  CHECK_OK(keras_convert_layer_outputs(&f.ctx, outs, &n_outs));
  n = find_node(&f, IR_OP_RECURRENT);
  CHECK(n && n_outs == 3 && n->n_outputs == 3);
  for (int k = 0; n && k < n_outs && k < 3; k++) CHECK(outs[k] == n->outputs[k]);
  CHECK(n_outs == 3 && f.g->values[outs[0]].rank == 3 && f.g->values[outs[1]].rank == 2 &&
        f.g->values[outs[2]].rank == 2 && f.g->values[outs[2]].dims[1] == 2);
  teardown(&f);
  /* refusals, each naming the option */
  static const struct {
    const char *config;
    krt_code code;
    const char *message;
  } refused[] = {
      {"{\"units\": 2, \"time_major\": true}", KRT_ERR_UNSUPPORTED, "option time_major=True"},
      {"{\"units\": 2, \"stateful\": true}", KRT_ERR_UNSUPPORTED, "option stateful=True"},
      {"{\"units\": 2, \"peepholes\": 1}", KRT_ERR_UNSUPPORTED, "option peepholes is not supported"},
      {"{\"units\": 2, \"activation\": \"softmax\", \"recurrent_activation\": \"sigmoid\"}",
       KRT_ERR_UNSUPPORTED, "option activation=softmax"},
      {"{\"units\": 2}", KRT_ERR_BAD_FILE, "option recurrent_activation is not written"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    setup(&f, "LSTM", refused[i].config, 3, seq);
    f.ctx.keras_major = 2;
    CHECK_ERR(keras_convert_layer(&f.ctx, &out), refused[i].code, refused[i].message);
    teardown(&f);
  }
}

/* Masks: a recurrent layer takes the call's mask as its Recurrent node's last input; Masking
 * and mask_zero only where the file records masks (Keras 3); a wrong mask is refused. */
static void test_masks(void) {
  fixture f;
  int64_t seq[2] = {4, 3}; /* x [N, 4 steps, 3 features] */
  int out;
  setup(&f, "GRU", "{\"units\": 2, \"zero_output_for_mask\": true}", 3, seq);
  krt_status_release(ir_add_input(f.g, "m", KRT_FLOAT32, 2, (int64_t[]){-1, 4}, 1,
                                  IR_LAYOUT_PLAIN, &f.inputs[1]));
  f.ctx.has_mask = 1, f.ctx.mask = f.inputs[1];
  add_weight(&f, 2, (int64_t[]){3, 6});
  add_weight(&f, 2, (int64_t[]){2, 6});
  add_weight(&f, 2, (int64_t[]){2, 6});
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  const ir_node *n = find_node(&f, IR_OP_RECURRENT);
  CHECK(n && n->attrs.rnn_masked && n->attrs.rnn_zero_masked_output && n->n_inputs == 5 &&
        n->inputs[4] == f.inputs[1]);
  teardown(&f);
  /* a mask of other steps than the sequence's */
  setup(&f, "SimpleRNN", "{\"units\": 2}", 3, seq);
  krt_status_release(ir_add_input(f.g, "m", KRT_FLOAT32, 2, (int64_t[]){-1, 5}, 1,
                                  IR_LAYOUT_PLAIN, &f.inputs[1]));
  f.ctx.has_mask = 1, f.ctx.mask = f.inputs[1];
  add_weight(&f, 2, (int64_t[]){3, 2});
  add_weight(&f, 2, (int64_t[]){2, 2});
  add_weight(&f, 1, (int64_t[]){2});
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "expected [batch, 4 steps]");
  teardown(&f);
  /* Masking: x * max(x != v) over the features; refused in Keras 2 files and for an infinite
   * mask_value (x * 0 would not give Keras's 0 there) */
  setup(&f, "Masking", "{\"mask_value\": 0.5}", 3, seq);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->n_nodes == 3 && last_node(&f)->op == IR_OP_BINARY &&
        last_node(&f)->attrs.binary == IR_BINARY_MUL && f.g->values[out].rank == 3);
  teardown(&f);
  setup(&f, "Masking", "{\"mask_value\": 0.5}", 3, seq);
  f.ctx.keras_major = 2;
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "records no mask");
  teardown(&f);
  setup(&f, "Masking", "{\"mask_value\": 1e39}", 3, seq);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "option mask_value");
  teardown(&f);
  /* a mask kwarg for a layer that does not apply masks stays refused */
  setup(&f, "Dense", "{\"units\": 2}", 3, seq);
  cJSON *call = cJSON_Parse("{\"args\": [], \"kwargs\": {\"mask\": {\"class_name\": "
                            "\"__keras_tensor__\", \"config\": {\"keras_history\": "
                            "[\"m\", 0, 0]}}}}");
  f.ctx.call = call;
  add_weight(&f, 2, (int64_t[]){3, 2});
  add_weight(&f, 1, (int64_t[]){2});
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "the call passes a mask");
  cJSON_Delete(call);
  teardown(&f);
}

static int count_ops(const fixture *f, ir_op op) {
  int n = 0;
  for (int i = 0; i < f->g->n_nodes; i++) n += f->g->nodes[i].op == op;
  return n;
}

/* The layers of keras_layers_compose.c: config errors and refusals, the epsilon rule of each
 * library, and TimeDistributed's two ways (whole sequence, step by step with shared weights). */
static void test_composed_layers(void) {
  fixture f;
  int out;
  int64_t img[3] = {4, 6, 6}, seq[2] = {3, 6}, vec[1] = {5}, c6[1] = {6};
  setup(&f, "GroupNormalization", "{\"groups\": 4}", 4, img);
  add_weight(&f, 1, c6);
  add_weight(&f, 1, c6);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "groups=4 does not divide the 6");
  teardown(&f);
  setup(&f, "GroupNormalization", "{\"groups\": 3, \"axis\": 0}", 4, img);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "axis=0");
  teardown(&f);
  setup(&f, "GroupNormalization", "{\"groups\": 3, \"center\": false}", 4, img);
  add_weight(&f, 1, c6);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(find_node(&f, IR_OP_LAYERNORM) && last_node(&f)->attrs.binary == IR_BINARY_MUL &&
        f.g->values[out].rank == 4 && f.g->values[out].dims[3] == 6);
  teardown(&f);
  /* UnitNormalization: Keras 3 bounds rsqrt(s) by 1e12, tf_keras bounds s by 1e-12 first */
  setup(&f, "UnitNormalization", "{\"axis\": [1, 2]}", 3, seq);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(find_node(&f, IR_OP_REDUCE)->attrs.n_axes == 2 &&
        f.g->nodes[f.g->n_nodes - 2].attrs.binary == IR_BINARY_MIN);
  teardown(&f);
  setup(&f, "UnitNormalization", "{}", 3, seq);
  f.ctx.keras_major = 2;
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->nodes[f.g->n_nodes - 2].op == IR_OP_ACTIVATION &&
        f.g->nodes[f.g->n_nodes - 3].attrs.binary == IR_BINARY_MAX);
  teardown(&f);
  setup(&f, "RMSNormalization", "{\"axis\": -1, \"epsilon\": 0.5}", 3, seq);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "expected 1 weight arrays");
  add_weight(&f, 1, vec);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "has 5 values, expected 6");
  teardown(&f);
  setup(&f, "RepeatVector", "{\"n\": 0}", 2, vec);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "n=0");
  teardown(&f);
  setup(&f, "RepeatVector", "{\"n\": 4}", 3, seq);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_SHAPE, "rank 2");
  teardown(&f);
  setup(&f, "RepeatVector", "{\"n\": 4}", 2, vec);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].rank == 3 && f.g->values[out].dims[1] == 4 &&
        f.g->values[out].dims[2] == 5);
  teardown(&f);
  /* image preprocessing */
  setup(&f, "CenterCrop", "{\"height\": 5, \"width\": 7}", 4, img);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "smaller than the crop 5x7");
  teardown(&f);
  setup(&f, "Resizing", "{\"height\": 3, \"width\": 6}", 4, img);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "whole-number factors");
  teardown(&f);
  setup(&f, "Resizing", "{\"height\": 8, \"width\": 12, \"interpolation\": \"lanczos3\"}", 4, img);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "interpolation='lanczos3'");
  teardown(&f);
  setup(&f, "Resizing", "{\"height\": 8, \"width\": 12, \"interpolation\": \"nearest\"}", 4, img);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(last_node(&f)->op == IR_OP_RESIZE && last_node(&f)->attrs.scale[0] == 2 &&
        last_node(&f)->attrs.scale[1] == 2);
  teardown(&f);
  /* bilinear down by 2 (even: the mean of two pixels, from offset 0) on height, same width */
  setup(&f, "Resizing", "{\"height\": 2, \"width\": 6}", 4, img);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->n_nodes == 1 && last_node(&f)->op == IR_OP_POOL &&
        last_node(&f)->attrs.kernel[0] == 2 && last_node(&f)->attrs.stride[0] == 2 &&
        last_node(&f)->attrs.kernel[1] == 1 && f.g->values[out].dims[1] == 2);
  teardown(&f);
  setup(&f, "Resizing", "{\"height\": 2, \"width\": 6, \"antialias\": true}", 4, img);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "antialias=True when downsampling");
  teardown(&f);
  /* categorical */
  setup(&f, "CategoryEncoding", "{\"output_mode\": \"count\"}", 2, vec);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "num_tokens is missing");
  teardown(&f);
  setup(&f, "CategoryEncoding", "{\"num_tokens\": 4, \"sparse\": true}", 2, vec);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "sparse=True");
  teardown(&f);
  setup(&f, "CategoryEncoding", "{\"num_tokens\": 4, \"output_mode\": \"count\"}", 2, vec);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(last_node(&f)->op == IR_OP_REDUCE && last_node(&f)->attrs.reduce == IR_REDUCE_SUM &&
        f.g->values[out].rank == 2 && f.g->values[out].dims[1] == 4);
  teardown(&f);
  setup(&f, "Discretization", "{\"bin_boundaries\": [0.0, 1.0, 0.5]}", 2, vec);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_BAD_FILE, "sorted");
  teardown(&f);
  setup(&f, "Discretization", "{\"bin_boundaries\": null, \"num_bins\": 4}", 2, vec);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "from adapt()");
  teardown(&f);
  setup(&f, "Discretization", "{\"bin_boundaries\": [-1, 2], \"output_mode\": \"one_hot\"}", 2,
        vec);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->values[out].rank == 3 && f.g->values[out].dims[2] == 3);
  teardown(&f);
  /* TimeDistributed */
  setup(&f, "TimeDistributed", "{\"layer\": {\"class_name\": \"ConvLSTM2D\", \"config\": {}}}", 3,
        seq);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED,
            "(TimeDistributed(ConvLSTM2D)): the inner layer: ");
  teardown(&f);
  setup(&f, "TimeDistributed", "{\"layer\": {\"class_name\": \"Lambda\", \"config\": {}}}", 3, seq);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "Lambda layer");
  teardown(&f);
  setup(&f, "TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"module\": \"mine\", "
        "\"registered_name\": \"Dense\", \"config\": {\"units\": 2}}}", 3, seq);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "user code");
  teardown(&f);
  int64_t unknown_steps[2] = {-1, 6};
  setup(&f, "TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 2}}}",
        3, unknown_steps);
  CHECK_ERR(keras_convert_layer(&f.ctx, &out), KRT_ERR_UNSUPPORTED, "no fixed size");
  teardown(&f);
  int64_t kernel[2] = {6, 2}, bias[1] = {2};
  setup(&f, "TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 2}}}",
        3, seq);
  add_weight(&f, 2, kernel);
  add_weight(&f, 1, bias);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  CHECK(f.g->n_nodes == 1 && last_node(&f)->op == IR_OP_DENSE && f.g->values[out].dims[1] == 3);
  teardown(&f);
  int64_t conv_kernel[3] = {2, 6, 4}, conv_bias[1] = {4}, steps[3] = {3, 5, 6};
  setup(&f, "TimeDistributed", "{\"layer\": {\"class_name\": \"Conv1D\", \"config\": "
        "{\"filters\": 4, \"kernel_size\": 2}}}", 4, steps);
  add_weight(&f, 3, conv_kernel);
  add_weight(&f, 1, conv_bias);
  CHECK_OK(keras_convert_layer(&f.ctx, &out));
  int consts = 0;
  for (int i = 0; i < f.g->n_values; i++) consts += f.g->values[i].data != NULL;
  CHECK(count_ops(&f, IR_OP_CONV) == 3 && consts == 2 && last_node(&f)->op == IR_OP_CONCAT &&
        f.g->values[out].rank == 4 && f.g->values[out].dims[1] == 3 &&
        f.g->values[out].dims[2] == 4 && f.g->values[out].dims[3] == 4);
  teardown(&f);
}

int main(void) {
  test_unknown_class();
  test_dense_activations();
  test_conv_padding();
  test_keras1_theano_kernel();
  test_conv_transpose();
  test_misc_layers();
  test_3d_layers();
  test_user_code();
  test_recurrent();
  test_augmentation();
  test_masks();
  test_composed_layers();
  return test_summary("test_keras_layers");
}
