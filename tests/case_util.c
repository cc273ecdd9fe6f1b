/* Helpers of the case runner: see case_util.h. */
#include "case_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void append(char *buf, size_t size, const char *fmt, ...) {
  size_t used = strlen(buf);
  if (used + 1 >= size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + used, size - used, fmt, ap);
  va_end(ap);
}

int join_path(char *out, const char *dir, const char *name) {
  int n = snprintf(out, PATH_SIZE, "%s/%s", dir, name);
  return n > 0 && n < PATH_SIZE;
}

int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL (errno set) on failure. */
char *read_text_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = NULL;
  size_t used = 0, cap = 0;
  for (;;) {
    if (cap - used < 4096) {
      size_t new_cap = cap ? cap * 2 : 8192;
      char *grown = realloc(text, new_cap);
      if (!grown) {
        free(text);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      text = grown;
      cap = new_cap;
    }
    size_t n = fread(text + used, 1, cap - used - 1, f);
    used += n;
    if (n == 0) break;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(text);
    errno = EIO;
    return NULL;
  }
  text[used] = '\0';
  return text;
}

/* The message of a krt status, released here; "" for NULL. Copied into buf. */
const char *take_message(krt_status *status, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s", krt_code_name(krt_status_code(status)), krt_status_message(status));
  krt_status_release(status);
  return buf;
}

double element_as_double(krt_dtype dtype, const void *data, int64_t i) {
  switch (dtype) {
    case KRT_FLOAT32: return ((const float *)data)[i];
    case KRT_FLOAT64: return ((const double *)data)[i];
    case KRT_INT32: return ((const int32_t *)data)[i];
    case KRT_INT64: return (double)((const int64_t *)data)[i];
    case KRT_UINT8: return ((const uint8_t *)data)[i];
    default: return NAN;
  }
}

int64_t element_count(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= dims[d];
  return n;
}

void format_dims(char *buf, size_t size, int rank, const int64_t *dims) {
  buf[0] = '\0';
  append(buf, size, "(");
  for (int d = 0; d < rank; d++) append(buf, size, "%s%lld", d ? ", " : "", (long long)dims[d]);
  append(buf, size, ")");
}

/* ---------------------------------------------------------------------------------------------
 * Comparison: |got - expected| <= atol + rtol * |expected|, NaN never passes.
 * ------------------------------------------------------------------------------------------- */

comparison compare_values(krt_dtype got_type, const void *got, krt_dtype exp_type,
                          const void *expected, int64_t count, double rtol, double atol) {
  comparison c = {0.0, 0, -1, 0.0, 0.0};
  double worst_excess = -1.0;
  for (int64_t i = 0; i < count; i++) {
    double g = element_as_double(got_type, got, i);
    double e = element_as_double(exp_type, expected, i);
    double err = fabs(g - e);
    double excess = err - (atol + rtol * fabs(e));
    int bad = !(excess <= 0.0); /* true for NaN as well */
    if (isnan(err)) err = INFINITY;
    if (err > c.max_abs_error) c.max_abs_error = err;
    if (bad) {
      c.mismatches++;
      if (isnan(excess)) excess = INFINITY;
      if (excess > worst_excess) {
        worst_excess = excess;
        c.worst_index = i;
        c.worst_got = g;
        c.worst_expected = e;
      }
    }
  }
  return c;
}

void describe_mismatch(char *buf, size_t size, const char *what, const comparison *c,
                       int64_t count) {
  append(buf, size,
         "%s: %lld of %lld values differ (max abs error %.3g; worst at flat index "
         "%lld: got %.7g, expected %.7g)",
         what, (long long)c->mismatches, (long long)count, c->max_abs_error,
         (long long)c->worst_index, c->worst_got, c->worst_expected);
}
