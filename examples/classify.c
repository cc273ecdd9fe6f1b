/* classify: build an engine from a Keras file and run one batch through it, with nothing but the
 * public API. The program of the example in include/krt.h, made complete:
 *
 *   classify MODEL [INPUT.npy [EXPECTED.npy]]
 *
 * Without INPUT.npy the model's first input gets a batch of 2 zero samples (every dimension of
 * that input must be known). With it (as numpy.save writes it: float32, float64, int32, int64 or
 * uint8), the array's shape and dtype are passed as they are and the engine is built for its
 * batch. Prints each output's name, shape,
 * first values and, per sample, the index of the largest value (the class for a classifier).
 * With EXPECTED.npy (float32, what Keras predicted for INPUT.npy) the first output is checked
 * against it, each value within 1e-5 + 1e-4 * |expected|: exit status 1 when one is not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krt.h>

/* An array read from a .npy file. */
typedef struct array {
  krt_dtype dtype;
  int rank;
  int64_t dims[KRT_MAX_RANK];
  void *data;
  size_t bytes;
} array;

/* A small .npy reader for what this example needs: little-endian data in C order (the krt
 * command line's tools/npy.c also reads big-endian files). Returns 0 on success. */
static int read_npy(const char *path, array *out) {
  static const struct {
    const char *descr;
    krt_dtype dtype;
  } types[] = {{"'<f4'", KRT_FLOAT32}, {"'<f8'", KRT_FLOAT64}, {"'<i4'", KRT_INT32},
               {"'<i8'", KRT_INT64},   {"'|u1'", KRT_UINT8}};
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "classify: %s: cannot open\n", path);
    return 1;
  }
  unsigned char pre[12];
  char header[4096];
  int rc = 1;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) goto bad;
  size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  if (pre[6] >= 2) { /* versions 2 and 3 have a 4-byte header length */
    if (fread(pre + 10, 1, 2, f) != 2) goto bad;
    hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  }
  if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen) goto bad;
  header[hlen] = '\0';
  out->dtype = KRT_DTYPE_INVALID;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strstr(header, types[i].descr)) out->dtype = types[i].dtype;
  if (out->dtype == KRT_DTYPE_INVALID || !strstr(header, "'fortran_order': False")) {
    fprintf(stderr, "classify: %s: expected a little-endian float32, float64, int32, int64 or "
            "uint8 array in C order\n", path);
    goto done;
  }
  const char *p = strstr(header, "'shape':");
  p = p ? strchr(p, '(') : NULL;
  if (!p) goto bad;
  out->rank = 0;
  size_t count = 1;
  for (p++; *p && *p != ')';) {
    char *end;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || out->rank == KRT_MAX_RANK) goto bad;
    out->dims[out->rank++] = d;
    count *= (size_t)d;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  out->bytes = count * krt_dtype_size(out->dtype);
  out->data = malloc(out->bytes ? out->bytes : 1);
  if (!out->data || fread(out->data, 1, out->bytes, f) != out->bytes) goto bad;
  rc = 0;
  goto done;
bad:
  fprintf(stderr, "classify: %s: not a readable .npy file\n", path);
done:
  if (rc) {
    free(out->data);
    out->data = NULL;
  }
  fclose(f);
  return rc;
}

static int check(krt_status *s) {
  if (!s) return 0;
  fprintf(stderr, "classify: %s\n", krt_status_message(s));
  krt_status_release(s);
  return 1;
}

/* Shape, first values and per-sample argmax of one output. */
static void print_output(const krt_tensor_view *y) {
  printf("%s: [", y->name);
  for (int i = 0; i < y->rank; i++) printf("%s%lld", i ? ", " : "", (long long)y->dims[i]);
  int64_t n = krt_view_element_count(y);
  const float *p = y->data;
  printf("]\n  first values:");
  for (int64_t i = 0; i < n && i < 6; i++) printf(" %g", p[i]);
  printf("\n");
  if (y->rank < 1 || y->dims[0] < 1) return;
  int64_t per_sample = n / y->dims[0];
  for (int64_t b = 0; b < y->dims[0] && per_sample > 0; b++) {
    const float *row = p + b * per_sample;
    int64_t best = 0;
    for (int64_t i = 1; i < per_sample; i++)
      if (row[i] > row[best]) best = i;
    printf("  sample %lld: class %lld (%g)\n", (long long)b, (long long)best, row[best]);
  }
}

/* Whether output y holds the values of `expected` (same count), each within atol + rtol * |e|.
 * Returns 0 when it does; otherwise prints the first value that is not and returns 1. */
static int check_expected(const krt_tensor_view *y, const array *expected, const char *path) {
  int64_t n = krt_view_element_count(y);
  if (expected->dtype != KRT_FLOAT32 || (size_t)n * sizeof(float) != expected->bytes) {
    fprintf(stderr, "classify: %s: expected %lld float32 values, like output '%s'\n", path,
            (long long)n, y->name);
    return 1;
  }
  const double rtol = 1e-4, atol = 1e-5;
  const float *got = y->data, *want = expected->data;
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double err = got[i] > want[i] ? (double)got[i] - want[i] : (double)want[i] - got[i];
    double limit = atol + rtol * (want[i] < 0 ? -(double)want[i] : (double)want[i]);
    if (!(err <= limit)) { /* NaN fails too */
      fprintf(stderr, "classify: output '%s' value %lld is %g, %s has %g\n", y->name, (long long)i,
              got[i], path, want[i]);
      return 1;
    }
    if (err > worst) worst = err;
  }
  printf("%s: matches %s (max abs error %g)\n", y->name, path, worst);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: classify MODEL.keras|MODEL.h5|ENGINE.krt [INPUT.npy [EXPECTED.npy]]\n");
    return 2;
  }
  const char *model_path = argv[1];
  array input, expected;
  memset(&input, 0, sizeof input);
  memset(&expected, 0, sizeof expected);
  if (argc >= 3 && read_npy(argv[2], &input)) return 1;
  if (argc == 4 && read_npy(argv[3], &expected)) {
    free(input.data);
    return 1;
  }

  krt_build_options *options = NULL;
  krt_engine *engine = NULL;
  krt_context *ctx = NULL;
  float *zeros = NULL;
  int rc = 1;

  /* An engine file (krt build) is loaded as it is; a Keras model is built here, for the batch we
   * will run. */
  int64_t batch = input.data && input.rank > 0 ? input.dims[0] : 2;
  size_t len = strlen(model_path);
  if (len > 4 && strcmp(model_path + len - 4, ".krt") == 0) {
    if (check(krt_engine_load(model_path, &engine))) goto done;
    if (!input.data && krt_engine_max_batch(engine) < batch) batch = krt_engine_max_batch(engine);
  } else {
    if (check(krt_build_options_create(&options))) goto done;
    if (check(krt_build_options_set_max_batch(options, batch))) goto done;
    if (check(krt_engine_build(model_path, options, &engine))) goto done;
  }
  if (check(krt_context_create(engine, &ctx))) goto done;

  if (input.data) {
    /* Passed in its own dtype: the library converts to what the model computes in. */
    if (check(krt_context_set_input(ctx, 0, input.dtype, input.dims, input.rank, input.data,
                                    input.bytes)))
      goto done;
  } else {
    krt_tensor_info x;
    if (check(krt_engine_input_info(engine, 0, &x))) goto done;
    int64_t dims[KRT_MAX_RANK], count = 1;
    for (int i = 0; i < x.rank; i++) {
      dims[i] = i == x.batch_axis ? batch : x.dims[i];
      count *= dims[i];
    }
    zeros = calloc((size_t)(count > 0 ? count : 1), sizeof *zeros);
    if (!zeros) {
      fprintf(stderr, "classify: out of memory\n");
      goto done;
    }
    if (check(krt_context_set_input(ctx, 0, KRT_FLOAT32, dims, x.rank, zeros,
                                    (size_t)count * sizeof *zeros)))
      goto done;
  }
  if (krt_engine_input_count(engine) > 1)
    fprintf(stderr, "classify: the model has %zu inputs; this example feeds only the first\n",
            krt_engine_input_count(engine));
  if (check(krt_context_run(ctx))) goto done;

  for (size_t i = 0; i < krt_engine_output_count(engine); i++) {
    krt_tensor_view y; /* points into the context; valid until the next run or release */
    if (check(krt_context_get_output(ctx, i, &y))) goto done;
    print_output(&y);
    if (i == 0 && expected.data && check_expected(&y, &expected, argv[3])) goto done;
  }
  rc = 0;
done:
  krt_context_release(ctx);
  krt_engine_release(engine);
  krt_build_options_release(options);
  free(zeros);
  free(input.data);
  free(expected.data);
  return rc;
}
