/* krt_compare.c: `krt compare MODEL`, the accuracy debugger (as Polygraphy's `run --validate
 * --mark all`): which layer is the first whose result the engine gets wrong?
 *
 * It builds the engine under test (the target: --device, --fp16/--tf32) with every tensor of
 * the optimised graph published as an output (krt_build_options_mark_all_outputs), and a
 * reference: the CPU FP32 engine built the same way, or the per-layer outputs real Keras wrote
 * into a directory (tools/keras_layer_outputs.py). Both run on the same inputs; then one line
 * per target tensor that the reference also has, in execution order.
 *
 * Tensors are matched by name, which is the Keras layer whose result they hold (krt.h says how
 * a fused node's output is named): the two engines fuse alike, and a Keras directory has every
 * layer, so a fused node's output (conv+bn+relu -> "relu") meets Keras's "relu". Target tensors
 * the reference lacks are counted and skipped.
 *
 * Errors: for a tensor t against its reference r (both float32, flattened),
 *   max abs error   max |t - r|
 *   normalised      max |t - r| / max |r|   (max |t - r| when r is all zeros)
 * Within tolerance: normalised <= T (default by precision: the project's accepted limits on
 * logits), or with --rtol/--atol every element |t - r| <= atol + rtol |r| (numpy.allclose).
 * A NaN where the reference has none is always beyond tolerance. */
#include "krt_compare.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_errors.h"
#include "krt.h"
#include "npy.h"

#define COMPARE_EXIT_DISAGREE 1
#define COMPARE_EXIT_ERROR 2

/* The variable of the break hook (src/backend/debug_hooks.h): it must reach the target only. */
#define BREAK_HOOK_ENV "KRT_DEBUG_BREAK_NODE"

static const char *compare_help =
    "usage: krt compare MODEL [options]\n"
    "\n"
    "Builds the engine under test and a reference with every intermediate tensor as an output,\n"
    "runs both on the same inputs and prints, per tensor in execution order, its name (the Keras\n"
    "layer whose result it holds), layer class, engine node and op, shape, max absolute error and\n"
    "normalised error (max|target-ref| / max|ref|). The first tensor beyond tolerance is marked\n"
    "\"<-- first beyond tolerance\". Engines are compared as built: fusions stay.\n"
    "\n"
    "  --device cpu|cuda        the target's device (default cpu)\n"
    "  --fp16 | --tf32          the target's precision (cuda only; default fp32)\n"
    "  --input NAME=FILE.npy    the data for input NAME (FILE.npy alone when there is one input);\n"
    "                           inputs not given are random uniform[-1,1] (--seed), or with\n"
    "                           --reference read from DIR/inputs/NAME.npy\n"
    "  --reference DIR          compare with the per-layer outputs real Keras saved in DIR\n"
    "                           (python3 tools/keras_layer_outputs.py MODEL DIR) instead of the\n"
    "                           CPU engine\n"
    "  --batch N                the batch of random inputs (default: the given inputs', else 1)\n"
    "  --seed S                 the seed of random inputs (default 0)\n"
    "  --tolerance T            normalised error allowed (default: fp32 1e-4, tf32 5e-3,\n"
    "                           fp16 3e-2)\n"
    "  --rtol R --atol A        instead: every element within atol + rtol*|ref| (either alone:\n"
    "                           the other is 0)\n"
    "\n"
    "Exit status 0 when the model's outputs agree within tolerance, 1 when one does not, 2 on a\n"
    "usage, build or run error. KRT_DEBUG_BREAK_NODE=NODE (a test hook, in builds with\n"
    "KRT_DEBUG_HOOKS) spoils that node of the target engine only.\n";

/* ---- options ------------------------------------------------------------------------------- */

typedef struct input_arg {
  const char *arg;  /* as given, for messages */
  char *name;       /* NULL: the only input */
  const char *file;
} input_arg;

typedef struct compare_options {
  const char *model;
  krt_device device;
  krt_precision precision;
  input_arg *inputs;
  int n_inputs;
  const char *reference_dir;
  int64_t batch;       /* 0: from the inputs given, else 1 */
  uint64_t seed;
  int elementwise;     /* 1: --rtol/--atol, else the normalised tolerance */
  double rtol, atol;
  double tolerance;    /* normalised; < 0: the precision's default */
} compare_options;

static double default_tolerance(krt_precision p) {
  switch (p) {
    case KRT_PRECISION_FP16: return 3e-2;
    case KRT_PRECISION_TF32: return 5e-3;
    case KRT_PRECISION_FP32: break;
  }
  return 1e-4;
}

static const char *precision_label(krt_precision p) {
  return p == KRT_PRECISION_FP16 ? "fp16" : p == KRT_PRECISION_TF32 ? "tf32" : "fp32";
}

static int option_value(int argc, char **argv, int *i, const char **value) {
  if (*i + 1 >= argc || argv[*i + 1][0] == '\0') return cli_fail("%s needs a value", argv[*i]);
  *value = argv[++*i];
  return 0;
}

static int parse_tolerance(const char *option, const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !(v >= 0) || isinf(v))
    return cli_fail("%s '%s': expected a number >= 0", option, text);
  *out = v;
  return 0;
}

static int parse_integer(const char *option, const char *text, int64_t min, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno == ERANGE)
    return cli_fail("%s '%s': out of range (expected an integer from %lld to %lld)", option,
                    text, (long long)min, LLONG_MAX);
  if (errno || end == text || *end || v < min)
    return cli_fail("%s '%s': expected an integer >= %lld", option, text, (long long)min);
  *out = v;
  return 0;
}

static int parse_input_arg(const char *value, input_arg *in) {
  in->arg = value;
  const char *eq = strchr(value, '=');
  in->file = eq ? eq + 1 : value;
  if (!eq) return 0;
  if (eq == value || !eq[1])
    return cli_fail("bad --input '%s': expected NAME=FILE.npy or FILE.npy", value);
  size_t n = (size_t)(eq - value);
  if (!(in->name = malloc(n + 1))) return cli_fail("out of memory");
  memcpy(in->name, value, n);
  in->name[n] = '\0';
  return 0;
}

static int parse_options(int argc, char **argv, compare_options *o) {
  memset(o, 0, sizeof *o);
  o->tolerance = -1;
  o->device = KRT_DEVICE_CPU;
  const char *precision_flag = NULL, *value = NULL;
  int have_tolerance = 0;
  if (!(o->inputs = calloc((size_t)argc + 1, sizeof *o->inputs))) return cli_fail("out of memory");
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int64_t n = 0; /* set by parse_integer on success; gcc -O3 cannot tell */
    if (strcmp(a, "--device") == 0) {
      if (option_value(argc, argv, &i, &value)) return 1;
      if (strcmp(value, "cpu") == 0) o->device = KRT_DEVICE_CPU;
      else if (strcmp(value, "cuda") == 0) o->device = KRT_DEVICE_CUDA;
      else return cli_fail("--device '%s': expected cpu or cuda", value);
    } else if (strcmp(a, "--fp16") == 0 || strcmp(a, "--tf32") == 0) {
      if (precision_flag && strcmp(precision_flag, a) != 0)
        return cli_fail("compare: %s and %s exclude each other", precision_flag, a);
      precision_flag = a;
      o->precision = strcmp(a, "--fp16") == 0 ? KRT_PRECISION_FP16 : KRT_PRECISION_TF32;
    } else if (strcmp(a, "--input") == 0) {
      if (option_value(argc, argv, &i, &value) || parse_input_arg(value, &o->inputs[o->n_inputs]))
        return 1;
      o->n_inputs++;
    } else if (strcmp(a, "--reference") == 0) {
      if (option_value(argc, argv, &i, &o->reference_dir)) return 1;
    } else if (strcmp(a, "--batch") == 0) {
      if (option_value(argc, argv, &i, &value) || parse_integer(a, value, 1, &o->batch)) return 1;
    } else if (strcmp(a, "--seed") == 0) {
      if (option_value(argc, argv, &i, &value) || parse_integer(a, value, 0, &n)) return 1;
      o->seed = (uint64_t)n;
    } else if (strcmp(a, "--tolerance") == 0) {
      if (option_value(argc, argv, &i, &value) || parse_tolerance(a, value, &o->tolerance))
        return 1;
      have_tolerance = 1;
    } else if (strcmp(a, "--rtol") == 0 || strcmp(a, "--atol") == 0) {
      if (option_value(argc, argv, &i, &value) ||
          parse_tolerance(a, value, strcmp(a, "--rtol") == 0 ? &o->rtol : &o->atol))
        return 1;
      o->elementwise = 1;
    } else if (a[0] == '-' && a[1]) {
      return cli_fail("compare: unknown option '%s' (krt compare --help)", a);
    } else if (o->model) {
      return cli_fail("compare: one model at a time ('%s' and '%s')", o->model, a);
    } else {
      o->model = a;
    }
  }
  if (!o->model) return cli_fail("compare: no model given (krt compare MODEL)");
  if (have_tolerance && o->elementwise)
    return cli_fail("compare: --tolerance (normalised) and --rtol/--atol (per element) exclude "
                    "each other");
  if (o->tolerance < 0) o->tolerance = default_tolerance(o->precision);
  return 0;
}

static void free_options(compare_options *o) {
  for (int i = 0; i < o->n_inputs; i++) free(o->inputs[i].name);
  free(o->inputs);
}

/* ---- inputs -------------------------------------------------------------------------------- */

/* dir/<name>.npy with every character outside [A-Za-z0-9_.-] replaced by '_', as
 * tools/keras_layer_outputs.py names its files. malloc'd. */
static char *npy_path(const char *dir, const char *name) {
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

static int read_npy(const char *path, npy_array *out) {
  char err[512];
  if (npy_read(path, out, err, sizeof err)) return cli_fail("%s", err);
  return 0;
}

/* splitmix64: a seeded stream that is the same on every machine. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Random data of the input's shape at `batch`: uniform[-1,1] floats; integer inputs (indices)
 * get 0 or 1, valid for any table. */
static int make_random_input(const krt_tensor_info *t, int64_t batch, uint64_t *state,
                             npy_array *out) {
  memset(out, 0, sizeof *out);
  int64_t count = 1;
  out->rank = t->rank;
  for (int d = 0; d < t->rank; d++) {
    int64_t v = d == t->batch_axis ? batch : t->dims[d];
    if (v < 0)
      return cli_fail("input '%s' has unknown dimension %d: give its data (--input %s=FILE.npy)",
                      t->name, d, t->name);
    out->dims[d] = v;
    count *= v;
  }
  int integer = t->dtype == KRT_INT32 || t->dtype == KRT_INT64 || t->dtype == KRT_UINT8;
  out->dtype = KRT_FLOAT32;
  out->bytes = (size_t)count * sizeof(float);
  float *p = malloc(out->bytes ? out->bytes : 1);
  if (!p) return cli_fail("out of memory");
  for (int64_t i = 0; i < count; i++) {
    double u = (double)(next_random(state) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
    p[i] = integer ? (float)(u < 0.5 ? 0 : 1) : (float)(2.0 * u - 1.0);
  }
  out->data = p;
  return 0;
}

/* Fills arrays[i] for every model input: the --input files, else DIR/inputs/<name>.npy with a
 * reference directory, else random data. *batch is set from the options or the data. */
static int gather_inputs(const compare_options *o, const krt_model *model, npy_array *arrays,
                         int *loaded, int64_t *batch, int *random_count) {
  size_t count = krt_model_input_count(model);
  *random_count = 0;
  for (int i = 0; i < o->n_inputs; i++) {
    const input_arg *in = &o->inputs[i];
    size_t index = 0;
    if (!in->name) {
      if (count != 1)
        return cli_fail("--input %s: the model has %zu inputs; name it: --input NAME=%s", in->arg,
                        count, in->file);
    } else {
      krt_tensor_info t;
      for (index = 0; index < count; index++) {
        if (cli_failed(krt_model_input_info(model, index, &t))) return 1;
        if (strcmp(t.name, in->name) == 0) break;
      }
      if (index == count) return cli_fail("--input %s: the model has no input '%s'", in->arg, in->name);
    }
    if (loaded[index]) return cli_fail("--input %s: that input is given twice", in->arg);
    if (read_npy(in->file, &arrays[index])) return 1;
    loaded[index] = 1;
  }
  for (size_t i = 0; i < count && o->reference_dir; i++) {
    krt_tensor_info t;
    if (loaded[i]) continue;
    if (cli_failed(krt_model_input_info(model, i, &t))) return 1;
    char *dir = malloc(strlen(o->reference_dir) + 8);
    if (!dir) return cli_fail("out of memory");
    sprintf(dir, "%s/inputs", o->reference_dir);
    char *path = npy_path(dir, t.name);
    free(dir);
    if (!path) return cli_fail("out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
      cli_fail("--reference %s: no %s for input '%s' (give --input %s=FILE.npy, the data the "
               "reference was computed from)", o->reference_dir, path, t.name, t.name);
      free(path);
      return 1;
    }
    fclose(f);
    int bad = read_npy(path, &arrays[i]);
    free(path);
    if (bad) return 1;
    loaded[i] = 1;
  }
  *batch = o->batch;
  for (size_t i = 0; i < count && !*batch; i++) {
    krt_tensor_info t;
    if (!loaded[i]) continue;
    if (cli_failed(krt_model_input_info(model, i, &t))) return 1;
    if (t.batch_axis == 0 && arrays[i].rank > 0) *batch = arrays[i].dims[0];
  }
  if (*batch < 1) *batch = 1;
  uint64_t state = o->seed;
  for (size_t i = 0; i < count; i++) {
    krt_tensor_info t;
    if (loaded[i]) continue;
    if (cli_failed(krt_model_input_info(model, i, &t)) ||
        make_random_input(&t, *batch, &state, &arrays[i]))
      return 1;
    loaded[i] = 1;
    (*random_count)++;
  }
  return 0;
}

/* ---- engines --------------------------------------------------------------------------------- */

/* Options for an engine of every tensor at this batch; dimensions the model leaves open are
 * fixed from the data's shapes. */
static int build_engine(const krt_model *model, krt_device device, krt_precision precision,
                        int64_t batch, const npy_array *arrays, krt_engine **out) {
  krt_build_options *options = NULL;
  int rc = 1;
  if (cli_failed(krt_build_options_create(&options)) ||
      cli_failed(krt_build_options_set_device(options, device)) ||
      cli_failed(krt_build_options_set_precision(options, precision)) ||
      cli_failed(krt_build_options_set_max_batch(options, batch)) ||
      cli_failed(krt_build_options_mark_all_outputs(options, 1)))
    goto done;
  for (size_t i = 0; i < krt_model_input_count(model); i++) {
    krt_tensor_info t;
    if (cli_failed(krt_model_input_info(model, i, &t))) goto done;
    int open = 0;
    for (int d = 0; d < t.rank; d++) open |= d != t.batch_axis && t.dims[d] < 0;
    if (open && arrays[i].rank == t.rank &&
        cli_failed(krt_build_options_set_input_shape(options, t.name, arrays[i].rank,
                                                     arrays[i].dims)))
      goto done;
  }
  if (cli_failed(krt_engine_build_from_model(model, options, out))) goto done;
  rc = 0;
done:
  krt_build_options_release(options);
  return rc;
}

static int run_engine(const krt_engine *engine, const npy_array *arrays, krt_context **out) {
  krt_context *ctx = NULL;
  if (cli_failed(krt_context_create(engine, &ctx))) return 1;
  for (size_t i = 0; i < krt_engine_input_count(engine); i++) {
    const npy_array *a = &arrays[i];
    if (cli_failed(krt_context_set_input(ctx, i, a->dtype, a->dims, a->rank, a->data, a->bytes))) {
      krt_context_release(ctx);
      return 1;
    }
  }
  if (cli_failed(krt_context_run(ctx))) {
    krt_context_release(ctx);
    return 1;
  }
  *out = ctx;
  return 0;
}

/* ---- references -------------------------------------------------------------------------- */

/* A reference tensor, float32. */
typedef struct ref_tensor {
  int rank;
  int64_t dims[KRT_MAX_RANK];
  int64_t count;
  const float *data;
  float *own;  /* converted or loaded data, freed by the caller */
} ref_tensor;

/* DIR/index.json of tools/keras_layer_outputs.py: one flat JSON object, layer name -> file name
 * (relative to DIR). */
typedef struct ref_index {
  char **names;
  char **files;
  int n;
} ref_index;

static void free_index(ref_index *x) {
  for (int i = 0; i < x->n; i++) {
    free(x->names[i]);
    free(x->files[i]);
  }
  free(x->names);
  free(x->files);
}

static const char *skip_space(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  return p;
}

/* A JSON string at p (after its opening quote) into a malloc'd UTF-8 string; *end after the
 * closing quote. NULL when malformed. */
static char *json_string(const char *p, const char **end) {
  size_t cap = strlen(p) + 1, n = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  while (*p && *p != '"') {
    unsigned c = (unsigned char)*p++;
    if (c == '\\') {
      c = (unsigned char)*p++;
      if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
      else if (c == 'r') c = '\r';
      else if (c == 'b') c = '\b';
      else if (c == 'f') c = '\f';
      else if (c == 'u') {
        unsigned code = 0;
        for (int k = 0; k < 4; k++) {
          char h = *p++;
          code <<= 4;
          if (h >= '0' && h <= '9') code |= (unsigned)(h - '0');
          else if (h >= 'a' && h <= 'f') code |= (unsigned)(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') code |= (unsigned)(h - 'A' + 10);
          else {
            free(s);
            return NULL;
          }
        }
        /* Basic plane only (layer names); a \u escape takes 6 bytes, its UTF-8 at most 3. */
        if (code < 0x80) {
          s[n++] = (char)code;
        } else if (code < 0x800) {
          s[n++] = (char)(0xC0 | (code >> 6));
          s[n++] = (char)(0x80 | (code & 0x3F));
        } else {
          s[n++] = (char)(0xE0 | (code >> 12));
          s[n++] = (char)(0x80 | ((code >> 6) & 0x3F));
          s[n++] = (char)(0x80 | (code & 0x3F));
        }
        continue;
      } else if (c != '"' && c != '\\' && c != '/') {
        free(s);
        return NULL;
      }
    }
    s[n++] = (char)c;
  }
  if (*p != '"') {
    free(s);
    return NULL;
  }
  s[n] = '\0';
  *end = p + 1;
  return s;
}

static int read_index(const char *dir, ref_index *x) {
  memset(x, 0, sizeof *x);
  size_t len = strlen(dir) + 16;
  char *path = malloc(len);
  if (!path) return cli_fail("out of memory");
  snprintf(path, len, "%s/index.json", dir);
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_fail("--reference %s: cannot open %s: %s (make it with python3 "
             "tools/keras_layer_outputs.py MODEL %s)", dir, path, strerror(errno), dir);
    free(path);
    return 1;
  }
  char *text = NULL;
  size_t size = 0, cap = 0;
  for (;;) {
    if (size + 4096 + 1 > cap) {
      cap = (size + 4096 + 1) * 2;
      char *grown = realloc(text, cap);
      if (!grown) break;
      text = grown;
    }
    size_t got = fread(text + size, 1, 4096, f);
    size += got;
    if (got < 4096) break;
  }
  fclose(f);
  int rc = 1;
  if (!text) {
    cli_fail("out of memory");
    goto done;
  }
  text[size] = '\0';
  const char *p = skip_space(text);
  if (*p++ != '{') goto malformed;
  p = skip_space(p);
  while (*p == '"') {
    const char *end;
    char *name = json_string(p + 1, &end), *file = NULL;
    if (!name) goto malformed;
    p = skip_space(end);
    if (*p == ':') p = skip_space(p + 1);
    if (*p == '"') file = json_string(p + 1, &end);
    char **names = realloc(x->names, (size_t)(x->n + 1) * sizeof *names);
    if (names) x->names = names;
    char **files = realloc(x->files, (size_t)(x->n + 1) * sizeof *files);
    if (files) x->files = files;
    if (!file || !names || !files) {
      free(name);
      free(file);
      goto malformed;
    }
    x->names[x->n] = name;
    x->files[x->n++] = file;
    p = skip_space(end);
    if (*p == ',') p = skip_space(p + 1);
  }
  if (*p != '}') goto malformed;
  rc = 0;
  goto done;
malformed:
  cli_fail("--reference %s: %s is not a JSON object of layer name -> file name", dir, path);
done:
  free(text);
  free(path);
  return rc;
}

/* A reference's data as float32 (npy files of Keras may be float64). */
static int npy_as_float32(npy_array *a, ref_tensor *r) {
  r->rank = a->rank;
  memcpy(r->dims, a->dims, sizeof r->dims);
  r->count = 1;
  for (int d = 0; d < a->rank; d++) r->count *= a->dims[d];
  if (a->dtype == KRT_FLOAT32) {
    r->own = a->data; /* taken over from the array */
    a->data = NULL;
  } else {
    r->own = malloc((size_t)(r->count ? r->count : 1) * sizeof(float));
    if (!r->own) return cli_fail("out of memory");
    for (int64_t i = 0; i < r->count; i++) {
      switch (a->dtype) {
        case KRT_FLOAT64: r->own[i] = (float)((const double *)a->data)[i]; break;
        case KRT_INT32: r->own[i] = (float)((const int32_t *)a->data)[i]; break;
        case KRT_INT64: r->own[i] = (float)((const int64_t *)a->data)[i]; break;
        case KRT_UINT8: r->own[i] = (float)((const uint8_t *)a->data)[i]; break;
        default: free(r->own); r->own = NULL; return cli_fail("reference of dtype %s", krt_dtype_name(a->dtype));
      }
    }
  }
  r->data = r->own;
  return 0;
}

typedef struct reference {
  const char *dir;          /* a Keras directory, or NULL for the CPU engine */
  ref_index index;
  const krt_engine *engine; /* the CPU engine and its context after the run */
  const krt_context *ctx;
} reference;

/* The reference tensor called `name`: *found = 0 when the reference has none. */
static int find_reference(const reference *ref, const char *name, ref_tensor *out, int *found) {
  memset(out, 0, sizeof *out);
  *found = 0;
  if (!ref->dir) {
    size_t index;
    krt_status *s = krt_engine_find_output(ref->engine, name, &index);
    if (s) {
      krt_status_release(s);
      return 0;
    }
    krt_tensor_view v;
    if (cli_failed(krt_context_get_output(ref->ctx, index, &v))) return 1;
    out->rank = v.rank;
    memcpy(out->dims, v.dims, sizeof out->dims);
    out->count = krt_view_element_count(&v);
    out->data = v.data;
    *found = 1;
    return 0;
  }
  for (int i = 0; i < ref->index.n; i++) {
    if (strcmp(ref->index.names[i], name) != 0) continue;
    size_t len = strlen(ref->dir) + strlen(ref->index.files[i]) + 2;
    char *path = malloc(len);
    if (!path) return cli_fail("out of memory");
    snprintf(path, len, "%s/%s", ref->dir, ref->index.files[i]);
    npy_array a;
    int bad = read_npy(path, &a);
    free(path);
    if (bad) return 1;
    bad = npy_as_float32(&a, out);
    npy_free(&a);
    if (bad) return 1;
    *found = 1;
    return 0;
  }
  return 0;
}

/* ---- comparing ------------------------------------------------------------------------------- */

typedef struct row {
  size_t output;        /* index among the target's outputs */
  size_t node;          /* the target node computing it, or SIZE_MAX */
  const char *name;
  const char *layer_class;
  const char *node_name, *op;
  char shape[96];
  char note[128];       /* why it could not be compared, or "" */
  double max_abs, normalised;
  int beyond;
  int final;            /* one of the model's outputs */
} row;

static void format_dims(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  if (rank == 0) snprintf(buf, size, "scalar");
  for (int d = 0; d < rank && used < size; d++) {
    int w = snprintf(buf + used, size - used, "%s%lld", d ? "x" : "", (long long)dims[d]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

/* Errors of t against r (count elements each) and whether they are beyond tolerance. */
static void measure(const compare_options *o, const float *t, const float *r, int64_t count,
                    row *out) {
  double max_abs = 0, max_ref = 0;
  int nan = 0, elementwise_beyond = 0;
  for (int64_t i = 0; i < count; i++) {
    double ref = r[i], got = t[i];
    if (isnan(ref)) {
      nan |= !isnan(got); /* both NaN: agreed */
      continue;
    }
    double d = fabs(got - ref);
    if (isnan(d) || isinf(d)) nan = 1;
    else if (d > max_abs) max_abs = d;
    if (fabs(ref) > max_ref) max_ref = fabs(ref);
    if (o->elementwise && !(d <= o->atol + o->rtol * fabs(ref))) elementwise_beyond = 1;
  }
  out->max_abs = nan ? NAN : max_abs;
  out->normalised = nan ? NAN : max_ref > 0 ? max_abs / max_ref : max_abs;
  out->beyond = o->elementwise ? elementwise_beyond || nan : !(out->normalised <= o->tolerance);
}

static int by_node(const void *a, const void *b) {
  const row *x = a, *y = b;
  if (x->node != y->node) return x->node < y->node ? -1 : 1;
  return x->output < y->output ? -1 : x->output > y->output;
}

/* The class of the Keras layer called `name` in the engine's source model, or "-". */
static const char *layer_class(const krt_engine *e, const char *name) {
  for (size_t i = 0; i < krt_engine_layer_count(e); i++) {
    krt_layer_info l;
    krt_status *s = krt_engine_layer(e, i, &l);
    if (s) {
      krt_status_release(s);
      continue;
    }
    if (strcmp(l.name, name) == 0) return l.kind;
  }
  return "-";
}

/* One row per target output the reference has; *skipped counts the others. */
static int compare_tensors(const compare_options *o, const krt_engine *target,
                           const krt_context *ctx, const reference *ref, size_t n_final,
                           row *rows, size_t *n_rows, size_t *skipped) {
  *n_rows = 0;
  *skipped = 0;
  for (size_t i = 0; i < krt_engine_output_count(target); i++) {
    krt_tensor_view v;
    if (cli_failed(krt_context_get_output(ctx, i, &v))) return 1;
    ref_tensor r;
    int found;
    if (find_reference(ref, v.name, &r, &found)) return 1;
    if (!found) {
      if (i < n_final)
        return cli_fail("the reference has no tensor for the model's output '%s'%s", v.name,
                        ref->dir ? " (was the directory made from this model?)" : "");
      (*skipped)++;
      continue;
    }
    row *w = &rows[(*n_rows)++];
    memset(w, 0, sizeof *w);
    w->output = i;
    w->name = v.name;
    w->final = i < n_final;
    w->node = SIZE_MAX;
    w->node_name = w->op = "-";
    size_t node;
    krt_status *s = krt_engine_output_node(target, i, &node);
    if (s) {
      krt_status_release(s);
    } else {
      krt_layer_info info;
      if (cli_failed(krt_engine_node(target, node, &info))) {
        free(r.own);
        return 1;
      }
      w->node = node;
      w->node_name = info.name;
      w->op = info.kind;
    }
    w->layer_class = layer_class(target, v.name);
    format_dims(v.dims, v.rank, w->shape, sizeof w->shape);
    if (r.count != krt_view_element_count(&v)) {
      char dims[96];
      format_dims(r.dims, r.rank, dims, sizeof dims);
      snprintf(w->note, sizeof w->note, "shape differs: reference %s", dims);
      w->max_abs = w->normalised = NAN;
      w->beyond = 1;
    } else {
      measure(o, v.data, r.data, r.count, w);
    }
    free(r.own);
  }
  qsort(rows, *n_rows, sizeof *rows, by_node);
  return 0;
}

static void print_rows(const row *rows, size_t n) {
  int wname = 6, wclass = 5, wnode = 9, wshape = 5;
  char node[512];
  for (size_t i = 0; i < n; i++) {
    const row *r = &rows[i];
    snprintf(node, sizeof node, "%s (%s)", r->node_name, r->op);
    if ((int)strlen(r->name) > wname) wname = (int)strlen(r->name);
    if ((int)strlen(r->layer_class) > wclass) wclass = (int)strlen(r->layer_class);
    if ((int)strlen(node) > wnode) wnode = (int)strlen(node);
    if ((int)strlen(r->shape) > wshape) wshape = (int)strlen(r->shape);
  }
  printf("  %4s  %-*s  %-*s  %-*s  %-*s  %11s  %11s\n", "#", wname, "tensor", wclass, "class",
         wnode, "node (op)", wshape, "shape", "max abs err", "normalised");
  int marked = 0;
  for (size_t i = 0; i < n; i++) {
    const row *r = &rows[i];
    snprintf(node, sizeof node, "%s (%s)", r->node_name, r->op);
    printf("  %4zu  %-*s  %-*s  %-*s  %-*s", i, wname, r->name, wclass, r->layer_class, wnode,
           node, wshape, r->shape);
    if (r->note[0]) printf("  %s", r->note);
    else printf("  %11.3e  %11.3e", r->max_abs, r->normalised);
    if (r->beyond) printf(marked ? "  <-- beyond" : "  <-- first beyond tolerance");
    marked |= r->beyond;
    printf("\n");
  }
}

/* ---- the command --------------------------------------------------------------------------- */

static int run_compare(const compare_options *o) {
  krt_model *model = NULL;
  krt_engine *target = NULL, *cpu = NULL;
  krt_context *target_ctx = NULL, *cpu_ctx = NULL;
  npy_array *arrays = NULL;
  int *loaded = NULL;
  row *rows = NULL;
  reference ref;
  memset(&ref, 0, sizeof ref);
  int rc = COMPARE_EXIT_ERROR;
  size_t n_in = 0;

  if (cli_failed(krt_model_import(o->model, &model))) goto done;
  n_in = krt_model_input_count(model);
  arrays = calloc(n_in ? n_in : 1, sizeof *arrays);
  loaded = calloc(n_in ? n_in : 1, sizeof *loaded);
  if (!arrays || !loaded) {
    cli_fail("out of memory");
    goto done;
  }
  int64_t batch = 1;
  int random_count = 0;
  if (gather_inputs(o, model, arrays, loaded, &batch, &random_count)) goto done;

  /* The target first, while KRT_DEBUG_BREAK_NODE (if set) is in the environment: the hook is
   * read when a context is created. Then it is taken away for the reference. */
  if (build_engine(model, o->device, o->precision, batch, arrays, &target)) goto done;
  if (run_engine(target, arrays, &target_ctx)) goto done;
  if (getenv(BREAK_HOOK_ENV)) unsetenv(BREAK_HOOK_ENV);

  if (o->reference_dir) {
    ref.dir = o->reference_dir;
    if (read_index(o->reference_dir, &ref.index)) goto done;
  } else {
    if (build_engine(model, KRT_DEVICE_CPU, KRT_PRECISION_FP32, batch, arrays, &cpu)) goto done;
    if (run_engine(cpu, arrays, &cpu_ctx)) goto done;
    ref.engine = cpu;
    ref.ctx = cpu_ctx;
  }

  size_t n_outputs = krt_engine_output_count(target), n_rows = 0, skipped = 0;
  size_t n_final = krt_model_output_count(model);
  if (!(rows = calloc(n_outputs ? n_outputs : 1, sizeof *rows))) {
    cli_fail("out of memory");
    goto done;
  }
  if (compare_tensors(o, target, target_ctx, &ref, n_final, rows, &n_rows, &skipped)) goto done;

  printf("krt compare %s\n", o->model);
  printf("  target:    %s %s engine\n", o->device == KRT_DEVICE_CUDA ? "cuda" : "cpu",
         precision_label(o->precision));
  if (o->reference_dir) printf("  reference: Keras layer outputs in %s\n", o->reference_dir);
  else printf("  reference: cpu fp32 engine\n");
  printf("  inputs:    batch %lld, ", (long long)batch);
  if (random_count) printf("%d random uniform[-1,1] (seed %llu)%s", random_count,
                           (unsigned long long)o->seed, random_count < (int)n_in ? ", others from files" : "");
  else printf("from files");
  printf("\n");
  if (o->elementwise) printf("  tolerance: |target - ref| <= %g + %g |ref| per element\n\n", o->atol, o->rtol);
  else printf("  tolerance: normalised error <= %g\n\n", o->tolerance);
  print_rows(rows, n_rows);

  int finals_beyond = 0;
  double worst = 0;
  for (size_t i = 0; i < n_rows; i++) {
    if (!rows[i].final) continue;
    finals_beyond += rows[i].beyond;
    if (!(rows[i].normalised <= worst)) worst = rows[i].normalised;
  }
  printf("\n%zu tensor%s compared", n_rows, n_rows == 1 ? "" : "s");
  if (skipped) printf("; %zu target tensor%s without a reference counterpart skipped", skipped,
                      skipped == 1 ? "" : "s");
  printf("\n");
  if (finals_beyond)
    printf("model outputs: %d of %zu beyond tolerance\n", finals_beyond, n_final);
  else
    printf("model outputs: within tolerance (worst normalised error %.3e)\n", worst);
  rc = finals_beyond ? COMPARE_EXIT_DISAGREE : 0;
done:
  free(rows);
  free_index(&ref.index);
  krt_context_release(cpu_ctx);
  krt_engine_release(cpu);
  krt_context_release(target_ctx);
  krt_engine_release(target);
  for (size_t i = 0; arrays && i < n_in; i++)
    if (loaded[i]) npy_free(&arrays[i]);
  free(arrays);
  free(loaded);
  krt_model_release(model);
  return rc;
}

int krt_cmd_compare(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(compare_help, stdout);
      return 0;
    }
  compare_options o;
  int rc = parse_options(argc, argv, &o) ? COMPARE_EXIT_ERROR : run_compare(&o);
  free_options(&o);
  return rc;
}
