/* krt: the command line. Uses only the public API (krt.h) and the .npy helper.
 *
 *   krt inspect MODEL_OR_ENGINE [--input NAME:D1xD2x...]...
 *   krt build MODEL -o ENGINE [--output NAME]... [--input NAME:D1xD2x...]... [--batch N]
 *             [--device cpu|cuda] [--fp16|--tf32] [--timing-cache FILE]
 *   krt run ENGINE_OR_MODEL --input [NAME=]FILE.npy... [--out DIR]
 *   krt bench ENGINE [--batch N] [--iterations N] [--duration S] [--warmup MS] [--json FILE]
 *             [--profile]                                   (tools/krt_bench.c)
 *   krt compare MODEL [--device cpu|cuda] [--fp16|--tf32] [--input [NAME=]FILE.npy]...
 *               [--reference DIR] [--batch N] [--seed S] [--tolerance T | --rtol R --atol A]
 *                                                           (tools/krt_compare.c)
 *   krt dump MODEL
 *   krt version                    version, build options, CUDA/cuDNN found at run time
 *
 * Exit status 0 on success; on any error one line "krt: <reason>" on stderr and status 1
 * (2 for a command line that cannot be understood). krt compare: 1 means the outputs disagree,
 * 2 any error. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "krt.h"
#include "krt_bench.h"
#include "krt_compare.h"
#include "cli_errors.h"
#include "npy.h"

#define EXIT_USAGE 2

static const char *usage_text =
    "usage: krt COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  inspect MODEL_OR_ENGINE [--input NAME:D1xD2x...]...\n"
    "      a model's layers, shapes, parameters and possible outputs; or an engine's nodes,\n"
    "      memory and weights\n"
    "  build MODEL -o ENGINE [--output NAME]... [--input NAME:D1xD2x...]... [--batch N]\n"
    "        [--device cpu|cuda] [--fp16|--tf32] [--timing-cache FILE]\n"
    "      builds an engine from a Keras model (.keras or .h5) and saves it\n"
    "  run ENGINE_OR_MODEL --input [NAME=]FILE.npy... [--out DIR]\n"
    "      runs an engine (or a model, built in memory) on .npy inputs\n"
    "  bench ENGINE [--batch N] [--iterations N] [--duration S] [--warmup MS] [--json FILE]\n"
    "        [--profile]\n"
    "      times an engine on random inputs: latency percentiles, throughput, per-node times\n"
    "  compare MODEL [--device cpu|cuda] [--fp16|--tf32] [--input [NAME=]FILE.npy]...\n"
    "          [--reference DIR] [--batch N] [--seed S] [--tolerance T | --rtol R --atol A]\n"
    "      runs every intermediate tensor of an engine against the CPU engine (or Keras's\n"
    "      layer outputs) and names the first layer beyond tolerance\n"
    "  dump MODEL\n"
    "      prints the imported graph, one line per node\n"
    "  version\n"
    "      prints the krt version, how it was built and the CUDA and cuDNN versions found here\n"
    "\n"
    "krt COMMAND --help describes a command.\n";

static const char *inspect_help =
    "usage: krt inspect MODEL_OR_ENGINE [--input NAME:D1xD2x...]...\n"
    "\n"
    "For a model (.keras, .h5): its layers in order (index, name, class, output shape with N for\n"
    "the batch and ? for a dimension still unknown, parameters), its inputs and outputs, and the\n"
    "layers that can serve as outputs (krt build --output NAME).\n"
    "For an engine (.krt): device, precision, max batch, the GPU it was tuned on, inputs and\n"
    "outputs, the nodes in execution order with the layers fused into them (and for CUDA engines\n"
    "the implementation chosen and its time), activation memory and weights. A CUDA engine is\n"
    "loaded to be inspected, so it needs the GPU; a warning says when this GPU is not the one\n"
    "it was tuned on.\n"
    "\n"
    "  --input NAME:D1xD2x...  the full shape of a model input (batch first), to see the shapes\n"
    "                          of models with unknown dimensions\n";

static const char *build_help =
    "usage: krt build MODEL -o ENGINE [options]\n"
    "\n"
    "  -o, --output-file ENGINE  where to write the engine (.krt)\n"
    "  --output NAME             make this layer (or graph node, NAME:k for its output k) an\n"
    "                            output (repeat for several; default: the\n"
    "                            model's outputs); krt inspect MODEL lists the candidates\n"
    "  --input NAME:D1xD2x...    the full shape of an input, batch first (fixes unknown\n"
    "                            dimensions; its batch becomes the max batch unless --batch)\n"
    "  --batch N                 the largest batch the engine accepts (default 1)\n"
    "  --signature NAME          a SavedModel directory's signature to build (default\n"
    "                            serving_default)\n"
    "  --device cpu|cuda         where the engine runs (default cpu)\n"
    "  --fp16                    compute in half precision (cuda only)\n"
    "  --tf32                    float32, but convolutions and matrix products may use TF32\n"
    "                            tensor cores (cuda only; relative errors of 1e-4 to 1e-3, as\n"
    "                            PyTorch's cuDNN convolutions and TensorRT's TF32 flag)\n"
    "  --timing-cache FILE       cuda: reuse the timings of earlier builds on this GPU from FILE\n"
    "                            and add this build's (created if missing)\n"
    "\n"
    "A cuda build times the candidate implementations of every convolution and matrix product on\n"
    "this GPU (a progress bar is drawn when stderr is a terminal); the engine records the GPU.\n";

static const char *run_help =
    "usage: krt run ENGINE_OR_MODEL --input [NAME=]FILE.npy... [--out DIR]\n"
    "\n"
    "  --input NAME=FILE.npy  the data for input NAME (float32, float64, float16, int32, int64 or\n"
    "                         uint8; C order); FILE.npy alone when there is one input\n"
    "  --out DIR              write every output to DIR/<output>.npy (float32); DIR is created\n"
    "\n"
    "A model is built in memory first, for the batch of the inputs given.\n"
    "Without --out the first values of each output are printed.\n";

static const char *dump_help =
    "usage: krt dump MODEL\n\nPrints the graph imported from a Keras model, one line per node.\n";

static const char *version_help =
    "usage: krt version\n"
    "\n"
    "Prints the krt version; how this krt was built: the git commit, build type, whether the CUDA\n"
    "module was built, sanitizers and debug hooks; and what the CUDA backend finds here: the CUDA\n"
    "runtime, driver, cuDNN and cuBLASLt versions and the GPUs, or why it is not available.\n";

/* ---- errors ------------------------------------------------------------------------------- */

static int wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

/* ---- formatting ----------------------------------------------------------------------------- */

static const char *precision_name(krt_precision precision) {
  switch (precision) {
    case KRT_PRECISION_FP32: return "fp32";
    case KRT_PRECISION_FP16: return "fp16";
    case KRT_PRECISION_TF32: return "tf32";
  }
  return "?";
}

/* "Nx28x28": N marks the batch axis, ? a dimension still unknown, "scalar" for rank 0. */
static void format_shape(const int64_t *dims, int rank, int batch_axis, char *buf, size_t size) {
  if (rank == 0) {
    snprintf(buf, size, "scalar");
    return;
  }
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < rank && used < size; i++) {
    const char *sep = i ? "x" : "";
    int w;
    if (i == batch_axis) w = snprintf(buf + used, size - used, "%sN", sep);
    else if (dims[i] < 0) w = snprintf(buf + used, size - used, "%s?", sep);
    else w = snprintf(buf + used, size - used, "%s%lld", sep, (long long)dims[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

/* Layer records carry no batch axis: a leading -1 is the batch, as in every Keras layer. */
static void format_layer_shape(const krt_layer_info *l, char *buf, size_t size) {
  if (l->rank == 0) snprintf(buf, size, "-");
  else format_shape(l->dims, l->rank, l->dims[0] < 0 ? 0 : -1, buf, size);
}

static void format_bytes(int64_t bytes, char *buf, size_t size) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    u++;
  }
  if (u == 0) snprintf(buf, size, "%lld B", (long long)bytes);
  else snprintf(buf, size, "%.1f %s", v, units[u]);
}

static void print_tensors(const char *title, const krt_tensor_info *infos, size_t n) {
  printf("%s:\n", title);
  int width = 4;
  for (size_t i = 0; i < n; i++)
    if ((int)strlen(infos[i].name) > width) width = (int)strlen(infos[i].name);
  for (size_t i = 0; i < n; i++) {
    char shape[256];
    format_shape(infos[i].dims, infos[i].rank, infos[i].batch_axis, shape, sizeof shape);
    printf("  %-*s  %-8s  %s\n", width, infos[i].name, krt_dtype_name(infos[i].dtype), shape);
  }
}

/* ---- argument parsing ---------------------------------------------------------------------- */

typedef struct shape_arg {
  const char *arg;  /* as given, for messages */
  char *name;
  int rank;
  int64_t dims[KRT_MAX_RANK];
} shape_arg;

/* "NAME:D1xD2x..." with positive integers. The name ends at the last ':'. */
static int parse_shape_arg(const char *arg, shape_arg *out) {
  const char *colon = strrchr(arg, ':');
  if (!colon || colon == arg || !colon[1])
    return cli_fail("bad --input '%s': expected NAME:D1xD2x... (e.g. input_1:1x28x28)", arg);
  out->arg = arg;
  out->rank = 0;
  const char *p = colon + 1;
  for (;;) {
    if (*p < '0' || *p > '9')
      return cli_fail("bad --input '%s': dimensions must be positive integers separated by 'x' "
                  "(e.g. %.*s:1x28x28)", arg, (int)(colon - arg), arg);
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return cli_fail("bad --input '%s': dimension too large", arg);
      v = v * 10 + (*p++ - '0');
    }
    if (v < 1) return cli_fail("bad --input '%s': dimension %d is 0", arg, out->rank);
    if (out->rank == KRT_MAX_RANK)
      return cli_fail("bad --input '%s': more than %d dimensions", arg, KRT_MAX_RANK);
    out->dims[out->rank++] = v;
    if (*p == '\0') break;
    if (*p != 'x' && *p != 'X')
      return cli_fail("bad --input '%s': unexpected '%c'; dimensions are separated by 'x' "
                  "(e.g. %.*s:1x28x28)", arg, *p, (int)(colon - arg), arg);
    p++;
  }
  size_t n = (size_t)(colon - arg);
  out->name = malloc(n + 1);
  if (!out->name) return cli_fail("out of memory");
  memcpy(out->name, arg, n);
  out->name[n] = '\0';
  return 0;
}

static void free_shape_args(shape_arg *args, int n) {
  for (int i = 0; i < n; i++) free(args[i].name);
  free(args);
}

/* The value of option argv[*i], advancing *i; fails when it is missing. */
static int option_value(int argc, char **argv, int *i, const char **value) {
  if (*i + 1 >= argc || argv[*i + 1][0] == '\0') return cli_fail("%s needs a value", argv[*i]);
  *value = argv[++*i];
  return 0;
}

static int parse_positive(const char *option, const char *text, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno == ERANGE)
    return cli_fail("%s '%s': out of range (expected a positive integer up to %lld)", option,
                    text, LLONG_MAX);
  if (errno || end == text || *end || v < 1)
    return cli_fail("%s '%s': expected a positive integer", option, text);
  *out = v;
  return 0;
}

/* Whether the file starts with the engine magic. *is_engine is set on success. */
static int detect_engine(const char *path, int *is_engine) {
  FILE *f = fopen(path, "rb");
  if (!f) return cli_fail("%s: cannot open: %s", path, strerror(errno));
  char magic[8] = {0};
  size_t n = fread(magic, 1, 7, f);
  fclose(f);
  *is_engine = n == 7 && memcmp(magic, "KRTENGN", 7) == 0;
  return 0;
}

/* ---- inspect ------------------------------------------------------------------------------- */

static void print_layer_table(size_t n, krt_status *(*get)(const void *, size_t, krt_layer_info *),
                              const void *object, const krt_engine *shaped) {
  int wname = 5, wclass = 5, wshape = 12;
  krt_layer_info l;
  char shape[256];
  for (size_t i = 0; i < n; i++) {
    if (get(object, i, &l)) continue;
    if ((int)strlen(l.name) > wname) wname = (int)strlen(l.name);
    if ((int)strlen(l.kind) > wclass) wclass = (int)strlen(l.kind);
  }
  printf("  %4s  %-*s  %-*s  %-*s  %s\n", "#", wname, "Layer", wclass, "Class", wshape,
         "Output shape", "Params");
  int64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    krt_status *s = get(object, i, &l);
    if (s) {
      krt_status_release(s);
      continue;
    }
    format_layer_shape(&l, shape, sizeof shape);
    /* With --input shapes the built engine knows the dimensions the model left open. */
    if (shaped) {
      size_t count = krt_engine_layer_count(shaped);
      for (size_t j = 0; j < count; j++) {
        krt_layer_info e;
        if (!krt_engine_layer(shaped, j, &e) && strcmp(e.name, l.name) == 0 && e.rank > 0)
          format_layer_shape(&e, shape, sizeof shape);
      }
    }
    printf("  %4zu  %-*s  %-*s  %-*s  %lld\n", i, wname, l.name, wclass, l.kind, wshape, shape,
           (long long)l.param_count);
    total += l.param_count;
  }
  printf("Total params: %lld\n", (long long)total);
}

static krt_status *model_layer_get(const void *m, size_t i, krt_layer_info *out) {
  return krt_model_layer(m, i, out);
}

static krt_status *engine_layer_get(const void *e, size_t i, krt_layer_info *out) {
  return krt_engine_layer(e, i, out);
}

/* Gathers a model's or engine's tensor infos and prints them. */
static int print_io(const char *title, size_t n, const void *object,
                    krt_status *(*get)(const void *, size_t, krt_tensor_info *)) {
  krt_tensor_info *infos = calloc(n ? n : 1, sizeof *infos);
  if (!infos) return cli_fail("out of memory");
  for (size_t i = 0; i < n; i++)
    if (cli_failed(get(object, i, &infos[i]))) {
      free(infos);
      return 1;
    }
  print_tensors(title, infos, n);
  free(infos);
  return 0;
}

static krt_status *model_input_get(const void *m, size_t i, krt_tensor_info *o) {
  return krt_model_input_info(m, i, o);
}
static krt_status *model_output_get(const void *m, size_t i, krt_tensor_info *o) {
  return krt_model_output_info(m, i, o);
}
static krt_status *engine_input_get(const void *e, size_t i, krt_tensor_info *o) {
  return krt_engine_input_info(e, i, o);
}
static krt_status *engine_output_get(const void *e, size_t i, krt_tensor_info *o) {
  return krt_engine_output_info(e, i, o);
}

static int inspect_model(const char *path, shape_arg *shapes, int n_shapes) {
  krt_model *model = NULL;
  krt_build_options *options = NULL;
  krt_engine *shaped = NULL;
  int rc = 1;
  krt_status *s = krt_model_import(path, &model);
  /* A model whose inputs have no shape in the file (UFF Input nodes, TensorFlow placeholders
   * without one) imports only with the shapes: then it is built from the file with them, and
   * the engine's source layers are listed. */
  int shapes_needed = s && n_shapes > 0 && krt_status_code(s) == KRT_ERR_SHAPE;
  if (shapes_needed) {
    krt_status_release(s);
    s = NULL;
  }
  if (cli_failed(s)) goto done;
  if (n_shapes > 0) {
    if (cli_failed(krt_build_options_create(&options))) goto done;
    for (int i = 0; i < n_shapes; i++)
      if (cli_failed(krt_build_options_set_input_shape(options, shapes[i].name, shapes[i].rank,
                                                   shapes[i].dims)))
        goto done;
    if (shapes_needed ? cli_failed(krt_engine_build(path, options, &shaped))
                      : cli_failed(krt_engine_build_from_model(model, options, &shaped)))
      goto done;
  }
  printf("Model: %s\n", path);
  size_t n = model ? krt_model_layer_count(model) : krt_engine_layer_count(shaped);
  if (model)
    print_layer_table(n, model_layer_get, model, shaped);
  else
    print_layer_table(n, engine_layer_get, shaped, NULL);
  printf("\n");
  if (shaped) {
    if (print_io("Inputs", krt_engine_input_count(shaped), shaped, engine_input_get) ||
        print_io("Outputs", krt_engine_output_count(shaped), shaped, engine_output_get))
      goto done;
  } else if (print_io("Inputs", krt_model_input_count(model), model, model_input_get) ||
             print_io("Outputs", krt_model_output_count(model), model, model_output_get)) {
    goto done;
  }
  printf("\nLayers that can serve as outputs (krt build --output NAME):\n");
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    krt_layer_info l;
    if (cli_failed(model ? krt_model_layer(model, i, &l) : krt_engine_layer(shaped, i, &l)))
      goto done;
    if (!l.can_be_output) continue;
    printf("  %s\n", l.name);
    any = 1;
  }
  if (!any) printf("  (none)\n");
  rc = 0;
done:
  krt_engine_release(shaped);
  krt_build_options_release(options);
  krt_model_release(model);
  return rc;
}

/* A CUDA engine tuned on another GPU runs with heuristic choices here: say so. */
static void warn_other_gpu(const krt_engine *engine) {
  const char *tuned = krt_engine_device_name(engine);
  const char *here = krt_engine_run_device_name(engine);
  if (tuned[0] && here[0] && strcmp(tuned, here) != 0)
    fprintf(stderr,
            "krt: warning: the engine was tuned on %s but runs on %s: its convolutions and matrix "
            "products use heuristic choices; rebuild it on this GPU for tuned ones\n",
            tuned, here);
}

static int inspect_engine(const char *path) {
  krt_engine *engine = NULL;
  if (cli_failed(krt_engine_load(path, &engine))) return 1;
  int rc = 1;
  printf("Engine: %s\n", path);
  printf("  device: %s   precision: %s   max batch: %lld\n",
         krt_engine_device(engine) == KRT_DEVICE_CUDA ? "cuda" : "cpu",
         precision_name(krt_engine_precision(engine)), (long long)krt_engine_max_batch(engine));
  if (krt_engine_device(engine) == KRT_DEVICE_CUDA) {
    const char *tuned = krt_engine_device_name(engine);
    printf("  tuned on: %s\n", tuned[0] ? tuned : "(no GPU recorded)");
    warn_other_gpu(engine);
  }
  printf("\n");
  if (print_io("Inputs", krt_engine_input_count(engine), engine, engine_input_get) ||
      print_io("Outputs", krt_engine_output_count(engine), engine, engine_output_get))
    goto done;

  size_t n = krt_engine_node_count(engine);
  int wname = 4, wop = 2;
  krt_layer_info node;
  for (size_t i = 0; i < n; i++) {
    if (cli_failed(krt_engine_node(engine, i, &node))) goto done;
    if ((int)strlen(node.name) > wname) wname = (int)strlen(node.name);
    if ((int)strlen(node.kind) > wop) wop = (int)strlen(node.kind);
  }
  printf("\nNodes (execution order):\n");
  printf("  %4s  %-*s  %-*s  %-14s  %s\n", "#", wname, "Node", wop, "Op", "Output shape", "Detail");
  for (size_t i = 0; i < n; i++) {
    char shape[256];
    if (cli_failed(krt_engine_node(engine, i, &node))) goto done;
    format_layer_shape(&node, shape, sizeof shape);
    if (node.detail[0])
      printf("  %4zu  %-*s  %-*s  %-14s  %s\n", i, wname, node.name, wop, node.kind, shape,
             node.detail);
    else
      printf("  %4zu  %-*s  %-*s  %s\n", i, wname, node.name, wop, node.kind, shape);
  }
  char human[64];
  int64_t activations = krt_engine_activation_bytes(engine);
  format_bytes(activations, human, sizeof human);
  printf("\nActivation memory per context (peak at max batch %lld): %lld bytes (%s)\n",
         (long long)krt_engine_max_batch(engine), (long long)activations, human);
  int64_t weights = krt_engine_weight_bytes(engine);
  format_bytes(weights, human, sizeof human);
  printf("Weights: %lld bytes (%s)\n\n", (long long)weights, human);
  printf("Source layers:\n");
  print_layer_table(krt_engine_layer_count(engine), engine_layer_get, engine, NULL);
  rc = 0;
done:
  krt_engine_release(engine);
  return rc;
}

static int cmd_inspect(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(inspect_help, stdout);
    return 0;
  }
  const char *path = NULL;
  shape_arg *shapes = calloc((size_t)argc + 1, sizeof *shapes);
  int n_shapes = 0, rc = 1;
  if (!shapes) return cli_fail("out of memory");
  for (int i = 0; i < argc; i++) {
    const char *value = NULL;
    if (strcmp(argv[i], "--input") == 0) {
      if (option_value(argc, argv, &i, &value) || parse_shape_arg(value, &shapes[n_shapes])) goto done;
      n_shapes++;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      cli_fail("inspect: unknown option '%s' (krt inspect --help)", argv[i]);
      goto done;
    } else if (path) {
      cli_fail("inspect: one file at a time ('%s' and '%s')", path, argv[i]);
      goto done;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    cli_fail("inspect: no file given (krt inspect MODEL_OR_ENGINE)");
    goto done;
  }
  int is_engine;
  if (detect_engine(path, &is_engine)) goto done;
  if (is_engine && n_shapes) {
    cli_fail("inspect: --input applies to models; the shapes of engine '%s' are fixed", path);
    goto done;
  }
  rc = is_engine ? inspect_engine(path) : inspect_model(path, shapes, n_shapes);
done:
  free_shape_args(shapes, n_shapes);
  return rc;
}

/* ---- build --------------------------------------------------------------------------------- */

static void summarise_tensors(const krt_engine *e, int outputs, char *buf, size_t size) {
  size_t n = outputs ? krt_engine_output_count(e) : krt_engine_input_count(e);
  size_t used = (size_t)snprintf(buf, size, "%zu %s%s (", n, outputs ? "output" : "input",
                                 n == 1 ? "" : "s");
  for (size_t i = 0; i < n && used < size; i++) {
    krt_tensor_info t;
    krt_status *s = outputs ? krt_engine_output_info(e, i, &t) : krt_engine_input_info(e, i, &t);
    if (s) {
      krt_status_release(s);
      continue;
    }
    char shape[128];
    format_shape(t.dims, t.rank, t.batch_axis, shape, sizeof shape);
    used += (size_t)snprintf(buf + used, size - used, "%s%s %s", i ? ", " : "", t.name, shape);
  }
  if (used < size) snprintf(buf + used, size - used, ")");
}

/* Draws "tuning [#####.....]  12/40  conv2d_3" on stderr, redrawn in place. */
static void draw_progress(void *user, int done, int total, const char *what) {
  (void)user;
  enum { WIDTH = 30 };
  int filled = total > 0 ? (int)((long long)done * WIDTH / total) : WIDTH;
  char bar[WIDTH + 1];
  for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
  bar[WIDTH] = '\0';
  fprintf(stderr, "\rtuning [%s] %4d/%-4d %-40.40s", bar, done, total, what ? what : "");
  if (done >= total) fputc('\n', stderr);
  fflush(stderr);
}

static int cmd_build(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(build_help, stdout);
    return 0;
  }
  const char *model = NULL, *engine_path = NULL, *value;
  shape_arg *shapes = calloc((size_t)argc + 1, sizeof *shapes);
  int n_shapes = 0, rc = 1;
  krt_build_options *options = NULL;
  krt_engine *engine = NULL;
  const char *precision_flag = NULL; /* --fp16 or --tf32: one of them at most */
  if (!shapes) return cli_fail("out of memory");
  if (cli_failed(krt_build_options_create(&options))) goto done;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-o") == 0 || strcmp(a, "--output-file") == 0) {
      if (option_value(argc, argv, &i, &engine_path)) goto done;
    } else if (strcmp(a, "--output") == 0) {
      if (option_value(argc, argv, &i, &value) ||
          cli_failed(krt_build_options_add_output(options, value)))
        goto done;
    } else if (strcmp(a, "--input") == 0) {
      if (option_value(argc, argv, &i, &value) || parse_shape_arg(value, &shapes[n_shapes])) goto done;
      shape_arg *s = &shapes[n_shapes++];
      if (cli_failed(krt_build_options_set_input_shape(options, s->name, s->rank, s->dims))) goto done;
    } else if (strcmp(a, "--batch") == 0) {
      int64_t batch = 0;
      if (option_value(argc, argv, &i, &value) || parse_positive("--batch", value, &batch) ||
          cli_failed(krt_build_options_set_max_batch(options, batch)))
        goto done;
    } else if (strcmp(a, "--device") == 0) {
      if (option_value(argc, argv, &i, &value)) goto done;
      krt_device device;
      if (strcmp(value, "cpu") == 0) device = KRT_DEVICE_CPU;
      else if (strcmp(value, "cuda") == 0) device = KRT_DEVICE_CUDA;
      else {
        cli_fail("--device '%s': expected cpu or cuda", value);
        goto done;
      }
      if (cli_failed(krt_build_options_set_device(options, device))) goto done;
    } else if (strcmp(a, "--fp16") == 0 || strcmp(a, "--tf32") == 0) {
      if (precision_flag && strcmp(precision_flag, a) != 0) {
        cli_fail("build: %s and %s exclude each other (one precision per engine)", precision_flag,
                 a);
        goto done;
      }
      precision_flag = a;
      krt_precision p = strcmp(a, "--fp16") == 0 ? KRT_PRECISION_FP16 : KRT_PRECISION_TF32;
      if (cli_failed(krt_build_options_set_precision(options, p))) goto done;
    } else if (strcmp(a, "--timing-cache") == 0) {
      if (option_value(argc, argv, &i, &value) ||
          cli_failed(krt_build_options_set_timing_cache(options, value)))
        goto done;
    } else if (strcmp(a, "--signature") == 0) {
      if (option_value(argc, argv, &i, &value) ||
          cli_failed(krt_build_options_set_signature(options, value)))
        goto done;
    } else if (a[0] == '-' && a[1]) {
      cli_fail("build: unknown option '%s' (krt build --help)", a);
      goto done;
    } else if (model) {
      cli_fail("build: one model at a time ('%s' and '%s')", model, a);
      goto done;
    } else {
      model = a;
    }
  }
  if (!model) {
    cli_fail("build: no model given (krt build MODEL -o ENGINE)");
    goto done;
  }
  if (!engine_path) {
    cli_fail("build: no engine file given (-o ENGINE)");
    goto done;
  }
  if (isatty(STDERR_FILENO) && cli_failed(krt_build_options_set_progress(options, draw_progress, NULL)))
    goto done;
  if (cli_failed(krt_engine_build(model, options, &engine))) goto done;
  if (cli_failed(krt_engine_save(engine, engine_path))) goto done;

  char ins[1024], outs[1024], act[64], weights[64];
  summarise_tensors(engine, 0, ins, sizeof ins);
  summarise_tensors(engine, 1, outs, sizeof outs);
  format_bytes(krt_engine_activation_bytes(engine), act, sizeof act);
  format_bytes(krt_engine_weight_bytes(engine), weights, sizeof weights);
  size_t nodes = krt_engine_node_count(engine);
  printf("built %s: %s, %s, %zu node%s, %s activations per context (max batch %lld), %s weights\n",
         engine_path, ins, outs, nodes, nodes == 1 ? "" : "s", act,
         (long long)krt_engine_max_batch(engine), weights);
  if (krt_engine_device(engine) == KRT_DEVICE_CUDA)
    printf("tuned on %s (%s)\n", krt_engine_device_name(engine),
           precision_name(krt_engine_precision(engine)));
  rc = 0;
done:
  krt_engine_release(engine);
  krt_build_options_release(options);
  free_shape_args(shapes, n_shapes);
  return rc;
}

/* ---- run ----------------------------------------------------------------------------------- */

typedef struct run_input {
  const char *arg;
  char *name;        /* NULL: the only input */
  const char *file;
  npy_array array;
  int loaded;
  size_t index;      /* resolved input index */
} run_input;

/* Creates dir and its parents as needed (mkdir -p). */
static int make_dirs(const char *dir) {
  size_t n = strlen(dir);
  char *path = malloc(n + 1);
  if (!path) return cli_fail("out of memory");
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char c = path[i];
    path[i] = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
      int e = errno;
      free(path);
      return cli_fail("--out %s: cannot create directory: %s", dir, strerror(e));
    }
    path[i] = c;
  }
  free(path);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return cli_fail("--out %s: not a directory", dir);
  return 0;
}

/* Finds each input's index by name (or the only one) among n names from get_name. */
static int resolve_inputs(run_input *inputs, int n_inputs, size_t count,
                          const char *(*get_name)(const void *, size_t), const void *object) {
  for (int i = 0; i < n_inputs; i++) {
    run_input *in = &inputs[i];
    if (!in->name) {
      if (count != 1) {
        char names[512] = "";
        size_t used = 0;
        for (size_t j = 0; j < count && used < sizeof names; j++)
          used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "",
                                   get_name(object, j));
        return cli_fail("--input %s: there are %zu inputs (%s); name it: --input NAME=%s", in->arg,
                    count, names, in->file);
      }
      in->index = 0;
    } else {
      size_t j = 0;
      while (j < count && strcmp(get_name(object, j), in->name) != 0) j++;
      if (j == count) {
        char names[512] = "";
        size_t used = 0;
        for (size_t k = 0; k < count && used < sizeof names; k++)
          used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "",
                                   get_name(object, k));
        return cli_fail("--input %s: there is no input '%s'; the inputs are: %s", in->arg, in->name,
                    names);
      }
      in->index = j;
    }
    for (int k = 0; k < i; k++)
      if (inputs[k].index == in->index)
        return cli_fail("--input %s: input '%s' is given twice", in->arg, get_name(object, in->index));
  }
  for (size_t j = 0; j < count; j++) {
    int given = 0;
    for (int i = 0; i < n_inputs; i++) given |= inputs[i].index == j;
    if (!given)
      return cli_fail("input '%s' has no data: add --input %s=FILE.npy", get_name(object, j),
                  get_name(object, j));
  }
  return 0;
}

static const char *model_input_name(const void *m, size_t i) {
  krt_tensor_info t;
  krt_status *s = krt_model_input_info(m, i, &t);
  if (s) {
    krt_status_release(s);
    return "?";
  }
  return t.name;
}

static const char *engine_input_name(const void *e, size_t i) {
  krt_tensor_info t;
  krt_status *s = krt_engine_input_info(e, i, &t);
  if (s) {
    krt_status_release(s);
    return "?";
  }
  return t.name;
}

/* Builds a model in memory for the inputs' batch, fixing the dimensions it leaves open from the
 * arrays' shapes. */
static int build_for_inputs(const char *path, run_input *inputs, int n_inputs, krt_engine **out) {
  krt_model *model = NULL;
  krt_build_options *options = NULL;
  int rc = 1;
  if (cli_failed(krt_model_import(path, &model))) goto done;
  if (resolve_inputs(inputs, n_inputs, krt_model_input_count(model), model_input_name, model))
    goto done;
  if (cli_failed(krt_build_options_create(&options))) goto done;
  int64_t batch = 0;
  for (int i = 0; i < n_inputs; i++) {
    krt_tensor_info t;
    if (cli_failed(krt_model_input_info(model, inputs[i].index, &t))) goto done;
    const npy_array *a = &inputs[i].array;
    if (t.batch_axis != 0 || a->rank < 1) continue;
    if (!batch) batch = a->dims[0];
    int open = 0;
    for (int d = 1; d < t.rank; d++) open |= t.dims[d] < 0;
    /* Only open dimensions are fixed; a mismatch elsewhere is reported when the data is bound. */
    if (open && a->rank == t.rank && a->dims[0] > 0 &&
        cli_failed(krt_build_options_set_input_shape(options, t.name, a->rank, a->dims)))
      goto done;
  }
  if (batch > 0 && cli_failed(krt_build_options_set_max_batch(options, batch))) goto done;
  if (cli_failed(krt_engine_build_from_model(model, options, out))) goto done;
  rc = 0;
done:
  krt_build_options_release(options);
  krt_model_release(model);
  return rc;
}

static void print_values(const krt_tensor_view *v) {
  int64_t n = krt_view_element_count(v);
  const float *p = v->data;
  printf("  ");
  for (int64_t i = 0; i < n && i < 8; i++) printf("%s%.6g", i ? " " : "", p[i]);
  if (n > 8) printf(" ... (%lld values)", (long long)n);
  printf("\n");
}

/* DIR/<name>.npy with every character outside [A-Za-z0-9_.-] replaced by '_'. */
static char *output_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 8;
  char *path = malloc(n);
  if (!path) return NULL;
  size_t used = (size_t)snprintf(path, n, "%s/", dir);
  for (const char *c = name; *c; c++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '_' || *c == '.' || *c == '-';
    path[used++] = ok ? *c : '_';
  }
  snprintf(path + used, n - used, ".npy");
  return path;
}

static int run_engine(krt_engine *engine, run_input *inputs, int n_inputs, const char *out_dir) {
  krt_context *ctx = NULL;
  int rc = 1;
  if (cli_failed(krt_context_create(engine, &ctx))) goto done;
  for (int i = 0; i < n_inputs; i++) {
    const npy_array *a = &inputs[i].array;
    if (cli_failed(krt_context_set_input(ctx, inputs[i].index, a->dtype, a->dims, a->rank, a->data,
                                     a->bytes)))
      goto done;
  }
  if (cli_failed(krt_context_run(ctx))) goto done;
  if (out_dir && make_dirs(out_dir)) goto done;
  for (size_t i = 0; i < krt_engine_output_count(engine); i++) {
    krt_tensor_view v;
    if (cli_failed(krt_context_get_output(ctx, i, &v))) goto done;
    char shape[256];
    format_shape(v.dims, v.rank, -1, shape, sizeof shape);
    if (out_dir) {
      char *path = output_path(out_dir, v.name);
      char err[512];
      if (!path) {
        cli_fail("out of memory");
        goto done;
      }
      int bad = npy_write_f32(path, v.data, v.rank, v.dims, err, sizeof err);
      if (bad) cli_fail("%s", err);
      else printf("%s: %s -> %s\n", v.name, shape, path);
      free(path);
      if (bad) goto done;
    } else {
      printf("%s: %s\n", v.name, shape);
      print_values(&v);
    }
  }
  rc = 0;
done:
  krt_context_release(ctx);
  return rc;
}

static int cmd_run(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(run_help, stdout);
    return 0;
  }
  const char *target = NULL, *out_dir = NULL, *value = NULL;
  run_input *inputs = calloc((size_t)argc + 1, sizeof *inputs);
  int n_inputs = 0, rc = 1;
  krt_engine *engine = NULL;
  if (!inputs) return cli_fail("out of memory");
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--input") == 0) {
      if (option_value(argc, argv, &i, &value)) goto done;
      run_input *in = &inputs[n_inputs++];
      in->arg = value;
      const char *eq = strchr(value, '=');
      in->file = eq ? eq + 1 : value;
      if (eq) {
        if (eq == value || !eq[1]) {
          cli_fail("bad --input '%s': expected NAME=FILE.npy or FILE.npy", value);
          goto done;
        }
        in->name = malloc((size_t)(eq - value) + 1);
        if (!in->name) {
          cli_fail("out of memory");
          goto done;
        }
        memcpy(in->name, value, (size_t)(eq - value));
        in->name[eq - value] = '\0';
      }
    } else if (strcmp(a, "--out") == 0) {
      if (option_value(argc, argv, &i, &out_dir)) goto done;
    } else if (a[0] == '-' && a[1]) {
      cli_fail("run: unknown option '%s' (krt run --help)", a);
      goto done;
    } else if (target) {
      cli_fail("run: one engine or model at a time ('%s' and '%s')", target, a);
      goto done;
    } else {
      target = a;
    }
  }
  if (!target) {
    cli_fail("run: no engine or model given (krt run ENGINE --input FILE.npy)");
    goto done;
  }
  for (int i = 0; i < n_inputs; i++) {
    char err[512];
    if (npy_read(inputs[i].file, &inputs[i].array, err, sizeof err)) {
      cli_fail("%s", err);
      goto done;
    }
    inputs[i].loaded = 1;
  }
  int is_engine;
  if (detect_engine(target, &is_engine)) goto done;
  if (is_engine) {
    if (cli_failed(krt_engine_load(target, &engine))) goto done;
    warn_other_gpu(engine);
    if (resolve_inputs(inputs, n_inputs, krt_engine_input_count(engine), engine_input_name, engine))
      goto done;
  } else if (build_for_inputs(target, inputs, n_inputs, &engine)) {
    goto done;
  }
  rc = run_engine(engine, inputs, n_inputs, out_dir);
done:
  krt_engine_release(engine);
  for (int i = 0; i < n_inputs; i++) {
    free(inputs[i].name);
    if (inputs[i].loaded) npy_free(&inputs[i].array);
  }
  free(inputs);
  return rc;
}

/* ---- dump, version, main ------------------------------------------------------------------- */

/* "krt 0.1.0", krt_build_info()'s lines, then the CUDA backend's: never fails for want of a GPU. */
static int cmd_version(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(version_help, stdout);
    return 0;
  }
  if (argc != 0) return cli_fail("version: takes no arguments");
  printf("krt %s\n", krt_version_string());
  fputs(krt_build_info(), stdout);
  char *cuda = NULL;
  krt_status *s = krt_device_info(KRT_DEVICE_CUDA, &cuda);
  if (s)
    printf("cuda at run time: not available: %s\n", krt_status_message(s));
  else
    printf("cuda at run time: %s\n", cuda);
  krt_status_release(s);
  krt_free(cuda);
  return 0;
}

static int cmd_dump(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(dump_help, stdout);
    return 0;
  }
  if (argc != 1) return cli_fail("dump: expected one model (krt dump MODEL)");
  krt_model *model = NULL;
  char *text = NULL;
  if (cli_failed(krt_model_import(argv[0], &model))) return 1;
  int rc = cli_failed(krt_model_dump(model, &text));
  if (!rc) fputs(text, stdout);
  krt_free(text);
  krt_model_release(model);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    cli_fail("no command given (krt --help lists them)");
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
    return cmd_version(argc - 2, argv + 2);
  if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 2, argv + 2);
  if (strcmp(cmd, "build") == 0) return cmd_build(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
  if (strcmp(cmd, "dump") == 0) return cmd_dump(argc - 2, argv + 2);
  if (strcmp(cmd, "bench") == 0) return krt_cmd_bench(argc - 2, argv + 2);
  if (strcmp(cmd, "compare") == 0) return krt_cmd_compare(argc - 2, argv + 2);
  cli_fail("unknown command '%s' (krt --help lists them)", cmd);
  return EXIT_USAGE;
}
