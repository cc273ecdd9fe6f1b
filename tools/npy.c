/* .npy reader and writer. The format (numpy.lib.format, versions 1.0 to 3.0):
 *   "\x93NUMPY", major, minor, header length (u16 LE for 1.x, u32 LE for 2.x/3.x), then an ASCII
 *   (3.x: UTF-8) Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *   padded with spaces and ended by '\n', then the raw array data. */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_STR_(x) #x
/* The largest .npy input read: 1 TB, far above any tensor krt runs; a bigger size is a corrupt
 * file system entry or a hostile file. */
#define NPY_MAX_FILE_BYTES ((uint64_t)1 << 40)
#define NPY_STR(x) NPY_STR_(x)

static void set_error(char *err, size_t size, const char *fmt, ...) {
  if (!err || !size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

static void swap_bytes(void *data, size_t count, size_t width) {
  unsigned char *p = data;
  for (size_t i = 0; i < count; i++, p += width)
    for (size_t a = 0, b = width - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

/* ---- header dict parsing ------------------------------------------------------------------ */

typedef struct header_parser {
  const char *p, *end;
} header_parser;

static void skip_space(header_parser *h) {
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int expect_char(header_parser *h, char c) {
  skip_space(h);
  if (h->p < h->end && *h->p == c) {
    h->p++;
    return 1;
  }
  return 0;
}

/* A quoted Python string ('...' or "...", no escapes needed for numpy's keys and descrs). */
static int parse_string(header_parser *h, char *out, size_t size) {
  skip_space(h);
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return 0;
  char quote = *h->p++;
  size_t n = 0;
  while (h->p < h->end && *h->p != quote) {
    if (n + 1 >= size) return 0;
    out[n++] = *h->p++;
  }
  if (h->p >= h->end) return 0;
  h->p++;
  out[n] = '\0';
  return 1;
}

static int parse_bool(header_parser *h, int *out) {
  skip_space(h);
  size_t left = (size_t)(h->end - h->p);
  if (left >= 4 && memcmp(h->p, "True", 4) == 0) {
    h->p += 4;
    *out = 1;
    return 1;
  }
  if (left >= 5 && memcmp(h->p, "False", 5) == 0) {
    h->p += 5;
    *out = 0;
    return 1;
  }
  return 0;
}

/* "()", "(5,)", "(2, 3)", "(2, 3,)"; Python 2 numpy may write longs as "3L". */
static int parse_shape(header_parser *h, int *rank, int64_t *dims, const char **why) {
  *why = "the shape is not a tuple of integers";
  if (!expect_char(h, '(')) return 0;
  *rank = 0;
  for (;;) {
    if (expect_char(h, ')')) return 1;
    skip_space(h);
    if (h->p >= h->end || *h->p < '0' || *h->p > '9') return 0;
    int64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
      if (v > (INT64_MAX - 9) / 10) {
        *why = "a dimension is too large";
        return 0;
      }
      v = v * 10 + (*h->p++ - '0');
    }
    if (h->p < h->end && (*h->p == 'L' || *h->p == 'l')) h->p++;
    if (*rank >= KRT_MAX_RANK) {
      *why = "the array has more dimensions than krt supports (" NPY_STR(KRT_MAX_RANK) ")";
      return 0;
    }
    dims[(*rank)++] = v;
    if (expect_char(h, ',')) continue;
    if (expect_char(h, ')')) return 1;
    return 0;
  }
}

/* '<f4' and friends -> dtype and whether the data is big-endian. */
static int parse_descr(const char *descr, krt_dtype *dtype, int *big_endian) {
  char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return 0;
  const char *t = descr + 1;
  if (strcmp(t, "f4") == 0) *dtype = KRT_FLOAT32;
  else if (strcmp(t, "f8") == 0) *dtype = KRT_FLOAT64;
  else if (strcmp(t, "f2") == 0) *dtype = KRT_FLOAT16;
  else if (strcmp(t, "i4") == 0) *dtype = KRT_INT32;
  else if (strcmp(t, "i8") == 0) *dtype = KRT_INT64;
  else if (strcmp(t, "u1") == 0) *dtype = KRT_UINT8;
  else return 0;
  if (order == '=') *big_endian = !host_is_little_endian();
  else *big_endian = order == '>';
  return 1;
}

/* How many bytes of the header from p to quote in an error: at most 20, and none past its end
 * (the header is not NUL-terminated; the data follows it). */
static int quote_length(const header_parser *h, const char *p) {
  size_t left = (size_t)(h->end - p);
  return (int)(left < 20 ? left : 20);
}

/* Parses the header dict into out (dtype, rank, dims) and the byte order. */
static int parse_header(const char *path, const char *text, size_t len, npy_array *out,
                        int *big_endian, char *err, size_t err_size) {
  header_parser h = {text, text + len};
  int have_descr = 0, have_order = 0, have_shape = 0;
  if (!expect_char(&h, '{')) {
    set_error(err, err_size, "%s: the .npy header is not a dictionary", path);
    return 1;
  }
  while (!expect_char(&h, '}')) {
    char key[32], descr[32];
    skip_space(&h);
    const char *key_start = h.p;
    if (!parse_string(&h, key, sizeof key) || !expect_char(&h, ':')) {
      if (key_start == h.end) {
        set_error(err, err_size, "%s: the .npy header ends before its closing '}'", path);
        return 1;
      }
      set_error(err, err_size, "%s: malformed .npy header near \"%.*s\"", path,
                quote_length(&h, key_start), key_start);
      return 1;
    }
    if (strcmp(key, "descr") == 0) {
      if (!parse_string(&h, descr, sizeof descr)) {
        set_error(err, err_size, "%s: 'descr' in the .npy header is not a simple dtype string "
                  "(structured arrays are not supported)", path);
        return 1;
      }
      if (!parse_descr(descr, &out->dtype, big_endian)) {
        set_error(err, err_size, "%s: dtype '%s' is not supported (float32, float64, float16, "
                  "int32, int64, uint8)", path, descr);
        return 1;
      }
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0) {
      int fortran;
      if (!parse_bool(&h, &fortran)) {
        set_error(err, err_size, "%s: 'fortran_order' in the .npy header is not True or False", path);
        return 1;
      }
      if (fortran) {
        set_error(err, err_size, "%s: fortran order not supported (save a C-ordered array, "
                  "e.g. np.ascontiguousarray)", path);
        return 1;
      }
      have_order = 1;
    } else if (strcmp(key, "shape") == 0) {
      const char *why;
      if (!parse_shape(&h, &out->rank, out->dims, &why)) {
        set_error(err, err_size, "%s: bad 'shape' in the .npy header: %s", path, why);
        return 1;
      }
      have_shape = 1;
    } else {
      set_error(err, err_size, "%s: unexpected key '%s' in the .npy header", path, key);
      return 1;
    }
    if (!expect_char(&h, ',')) {
      if (expect_char(&h, '}')) break;
      if (h.p == h.end) {
        set_error(err, err_size, "%s: the .npy header ends before its closing '}'", path);
        return 1;
      }
      set_error(err, err_size, "%s: malformed .npy header near \"%.*s\"", path,
                quote_length(&h, h.p), h.p);
      return 1;
    }
  }
  if (!have_descr || !have_order || !have_shape) {
    set_error(err, err_size, "%s: the .npy header lacks '%s'", path,
              !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return 1;
  }
  return 0;
}

/* ---- reading ------------------------------------------------------------------------------- */

/* Reads a regular file whole: its size is known before anything is allocated, so a device
 * (/dev/zero), a pipe that never ends or a directory is refused instead of read until memory runs
 * out. */
static int read_whole_file(const char *path, unsigned char **data, size_t *size, char *err,
                           size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_error(err, err_size, "%s: cannot open: %s", path, strerror(errno));
    return 1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    set_error(err, err_size, "%s: not a regular file (a .npy input must be a file of known size)",
              path);
    fclose(f);
    return 1;
  }
  if ((uint64_t)st.st_size > NPY_MAX_FILE_BYTES) {
    set_error(err, err_size, "%s: %lld bytes, more than the %llu-byte limit of a .npy input", path,
              (long long)st.st_size, (unsigned long long)NPY_MAX_FILE_BYTES);
    fclose(f);
    return 1;
  }
  size_t n = (size_t)st.st_size;
  unsigned char *buf = malloc(n ? n : 1);
  if (!buf) {
    fclose(f);
    set_error(err, err_size, "%s: out of memory reading the file (%zu bytes)", path, n);
    return 1;
  }
  size_t got = fread(buf, 1, n, f);
  int failed = ferror(f) || got != n;
  fclose(f);
  if (failed) {
    free(buf);
    set_error(err, err_size, "%s: cannot read: %s", path,
              got != n ? "the file shrank while it was read" : strerror(errno));
    return 1;
  }
  *data = buf;
  *size = n;
  return 0;
}

static int parse_npy(const char *path, const unsigned char *file, size_t size, npy_array *out,
                     char *err, size_t err_size) {
  if (size < 10 || memcmp(file, "\x93NUMPY", 6) != 0) {
    set_error(err, err_size, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    return 1;
  }
  int major = file[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = (size_t)file[8] | (size_t)file[9] << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      set_error(err, err_size, "%s: truncated .npy header", path);
      return 1;
    }
    header_len = (size_t)file[8] | (size_t)file[9] << 8 | (size_t)file[10] << 16 |
                 (size_t)file[11] << 24;
    header_start = 12;
  } else {
    set_error(err, err_size, "%s: .npy version %d.%d is not supported (1.0 to 3.0)", path, major,
              file[7]);
    return 1;
  }
  if (header_len > size - header_start) {
    set_error(err, err_size, "%s: truncated .npy header (%zu bytes announced, %zu present)", path,
              header_len, size - header_start);
    return 1;
  }
  int big_endian = 0;
  if (parse_header(path, (const char *)file + header_start, header_len, out, &big_endian, err,
                   err_size))
    return 1;

  size_t width = krt_dtype_size(out->dtype);
  uint64_t elements = 1;
  for (int i = 0; i < out->rank; i++) {
    uint64_t d = (uint64_t)out->dims[i];
    if (d && elements > UINT64_MAX / d / width) {
      set_error(err, err_size, "%s: the shape is too large", path);
      return 1;
    }
    elements *= d;
  }
  uint64_t need = elements * width;
  size_t data_start = header_start + header_len;
  size_t have = size - data_start;
  if (need != have) {
    set_error(err, err_size, "%s: %s: the shape needs %llu bytes of data, the file has %zu", path,
              need > have ? "truncated data" : "extra bytes after the data",
              (unsigned long long)need, have);
    return 1;
  }
  out->bytes = (size_t)need;
  out->data = malloc(out->bytes ? out->bytes : 1);
  if (!out->data) {
    set_error(err, err_size, "%s: out of memory for %zu bytes of data", path, out->bytes);
    return 1;
  }
  memcpy(out->data, file + data_start, out->bytes);
  if (width > 1 && big_endian == host_is_little_endian()) swap_bytes(out->data, (size_t)elements, width);
  return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t err_size) {
  if (!path || !out) {
    set_error(err, err_size, "npy_read: %s is NULL", path ? "out" : "path");
    return 1;
  }
  unsigned char *file = NULL;
  size_t size = 0;
  if (read_whole_file(path, &file, &size, err, err_size)) return 1;
  npy_array a;
  memset(&a, 0, sizeof a);
  int rc = parse_npy(path, file, size, &a, err, err_size);
  free(file);
  if (rc) {
    free(a.data);
    return 1;
  }
  *out = a;
  return 0;
}

int npy_read_memory(const void *data, size_t size, const char *name, npy_array *out, char *err,
                    size_t err_size) {
  if (!data || !name || !out) {
    set_error(err, err_size, "npy_read_memory: %s is NULL", !data ? "data" : !name ? "name" : "out");
    return 1;
  }
  npy_array a;
  memset(&a, 0, sizeof a);
  if (parse_npy(name, data, size, &a, err, err_size)) {
    free(a.data);
    return 1;
  }
  *out = a;
  return 0;
}

void npy_free(npy_array *array) {
  if (!array) return;
  free(array->data);
  array->data = NULL;
  array->bytes = 0;
}

/* ---- writing ------------------------------------------------------------------------------- */

int npy_write_f32(const char *path, const float *data, int rank, const int64_t *dims, char *err,
                  size_t err_size) {
  if (!path) {
    set_error(err, err_size, "npy_write_f32: path is NULL");
    return 1;
  }
  if (rank < 0 || rank > KRT_MAX_RANK || (rank > 0 && !dims)) {
    set_error(err, err_size, "%s: cannot write an array of rank %d", path, rank);
    return 1;
  }
  char shape[KRT_MAX_RANK * 24 + 8];
  size_t used = 0;
  uint64_t elements = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) {
      set_error(err, err_size, "%s: dimension %d is negative", path, i);
      return 1;
    }
    used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%lld", i ? ", " : "",
                             (long long)dims[i]);
    elements *= (uint64_t)dims[i];
  }
  if (rank == 1) used += (size_t)snprintf(shape + used, sizeof shape - used, ",");
  shape[used] = '\0';
  if (elements && !data) {
    set_error(err, err_size, "%s: data is NULL", path);
    return 1;
  }

  /* Header padded with spaces so the data starts at a multiple of 64 (numpy uses 64 too). */
  char header[512];
  int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                   shape);
  size_t total = 10 + (size_t)n + 1;
  size_t padded = (total + 63) / 64 * 64;
  size_t header_len = padded - 10;
  memset(header + n, ' ', header_len - 1 - (size_t)n);
  header[header_len - 1] = '\n';

  unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                (unsigned char)(header_len & 0xff), (unsigned char)(header_len >> 8)};
  FILE *f = fopen(path, "wb");
  if (!f) {
    set_error(err, err_size, "%s: cannot create: %s", path, strerror(errno));
    return 1;
  }
  int ok = fwrite(preamble, 1, 10, f) == 10 && fwrite(header, 1, header_len, f) == header_len;
  if (ok && elements == 0) {
    /* nothing to write (data may be NULL) */
  } else if (ok && host_is_little_endian()) {
    ok = fwrite(data, sizeof(float), (size_t)elements, f) == (size_t)elements;
  } else {
    /* Big-endian host: swap value by value into little-endian. */
    for (uint64_t i = 0; ok && i < elements; i++) {
      float v = data[i];
      swap_bytes(&v, 1, sizeof v);
      ok = fwrite(&v, sizeof v, 1, f) == 1;
    }
  }
  if (fclose(f) != 0) ok = 0;
  if (!ok) {
    set_error(err, err_size, "%s: cannot write: %s", path, strerror(errno));
    return 1;
  }
  return 0;
}
