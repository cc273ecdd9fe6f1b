/* tools/npy.c: round trips, hand-written headers for every dtype and byte order, versions 2 and
 * 3, 0-d arrays, and files it must refuse (fortran order, truncated data, garbage, headers cut
 * short or malformed at their very end). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "test.h"

/* A scratch file in $TMPDIR, else the build directory ctest names, else the working directory. */
static char scratch_path[1024];

static const char *make_scratch(void) {
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = getenv("KRT_BUILD_DIR");
  if (!dir || !*dir) dir = ".";
  snprintf(scratch_path, sizeof scratch_path, "%s/krt_test_npy_XXXXXX", dir);
  int fd = mkstemp(scratch_path);
  if (fd < 0) return NULL;
  close(fd);
  return scratch_path;
}

static void write_bytes(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(data, 1, size, f) == size);
  fclose(f);
}

/* A .npy file of this version with this header dict (padded as numpy pads) and data. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t size) {
  size_t pre = major == 1 ? 10 : 12;
  size_t hlen = strlen(dict) + 1;
  hlen = (pre + hlen + 63) / 64 * 64 - pre;
  unsigned char *file = calloc(1, pre + hlen + size + 1);
  memcpy(file, "\x93NUMPY", 6);
  file[6] = (unsigned char)major;
  file[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) file[8 + i] = (unsigned char)(hlen >> (8 * i));
  memset(file + pre, ' ', hlen);
  memcpy(file + pre, dict, strlen(dict));
  file[pre + hlen - 1] = '\n';
  if (size) memcpy(file + pre + hlen, data, size);
  write_bytes(path, file, pre + hlen + size);
  free(file);
}

static void reverse_each(void *data, size_t count, size_t width) {
  unsigned char *p = data;
  for (size_t i = 0; i < count; i++, p += width)
    for (size_t a = 0, b = width - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

static int host_little(void) {
  uint16_t one = 1;
  unsigned char c;
  memcpy(&c, &one, 1);
  return c == 1;
}

/* Writes values (native order) as a little- or big-endian file and reads them back. */
static void check_dtype(const char *path, const char *descr, krt_dtype dtype, const void *values,
                        size_t count, size_t width) {
  char dict[256];
  snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr,
           count);
  unsigned char bytes[64];
  memcpy(bytes, values, count * width);
  int file_big = descr[0] == '>';
  if (width > 1 && file_big == host_little()) reverse_each(bytes, count, width);
  write_npy(path, 1, dict, bytes, count * width);
  npy_array a;
  char err[512];
  int rc = npy_read(path, &a, err, sizeof err);
  CHECK(rc == 0);
  if (rc) {
    fprintf(stderr, "  %s: %s\n", descr, err);
    return;
  }
  CHECK(a.dtype == dtype);
  CHECK(a.rank == 1 && a.dims[0] == (int64_t)count);
  CHECK(a.bytes == count * width);
  CHECK(memcmp(a.data, values, count * width) == 0);
  npy_free(&a);
}

static void test_round_trip(const char *path) {
  float values[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-20f, -7e30f};
  int64_t dims[2] = {2, 3};
  char err[512];
  CHECK(npy_write_f32(path, values, 2, dims, err, sizeof err) == 0);
  npy_array a;
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.dtype == KRT_FLOAT32 && a.rank == 2 && a.dims[0] == 2 && a.dims[1] == 3);
  CHECK(a.bytes == sizeof values && memcmp(a.data, values, sizeof values) == 0);
  npy_free(&a);

  /* The data starts at a multiple of 64 and the header ends with a newline. */
  FILE *f = fopen(path, "rb");
  unsigned char head[10];
  CHECK(f && fread(head, 1, 10, f) == 10);
  if (f) fclose(f);
  size_t hlen = (size_t)head[8] | (size_t)head[9] << 8;
  CHECK(head[6] == 1 && head[7] == 0);
  CHECK((10 + hlen) % 64 == 0);

  /* 0-d, 1-d and empty arrays. */
  float one = 42.0f;
  CHECK(npy_write_f32(path, &one, 0, NULL, err, sizeof err) == 0);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 0 && a.bytes == 4 && ((float *)a.data)[0] == 42.0f);
  npy_free(&a);
  int64_t five = 5;
  CHECK(npy_write_f32(path, values, 1, &five, err, sizeof err) == 0);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 1 && a.dims[0] == 5 && memcmp(a.data, values, 20) == 0);
  npy_free(&a);
  int64_t empty[2] = {0, 3};
  CHECK(npy_write_f32(path, NULL, 2, empty, err, sizeof err) == 0);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 2 && a.dims[0] == 0 && a.dims[1] == 3 && a.bytes == 0);
  npy_free(&a);
}

static void test_dtypes(const char *path) {
  float f4[3] = {1.5f, -2.0f, 3e9f};
  double f8[3] = {1.5, -2.0, 1e300};
  int32_t i4[3] = {1, -2, 300000};
  int64_t i8[3] = {1, -2, (int64_t)1 << 40};
  uint8_t u1[3] = {0, 7, 255};
  uint16_t f2[3] = {0x3c00, 0xc000, 0x7bff}; /* 1, -2, 65504 */
  for (int big = 0; big <= 1; big++) {
    char d[8];
    snprintf(d, sizeof d, "%cf4", big ? '>' : '<');
    check_dtype(path, d, KRT_FLOAT32, f4, 3, 4);
    snprintf(d, sizeof d, "%cf8", big ? '>' : '<');
    check_dtype(path, d, KRT_FLOAT64, f8, 3, 8);
    snprintf(d, sizeof d, "%ci4", big ? '>' : '<');
    check_dtype(path, d, KRT_INT32, i4, 3, 4);
    snprintf(d, sizeof d, "%ci8", big ? '>' : '<');
    check_dtype(path, d, KRT_INT64, i8, 3, 8);
    snprintf(d, sizeof d, "%cf2", big ? '>' : '<');
    check_dtype(path, d, KRT_FLOAT16, f2, 3, 2);
  }
  check_dtype(path, "|u1", KRT_UINT8, u1, 3, 1);
  check_dtype(path, "<u1", KRT_UINT8, u1, 3, 1);
}

static void test_versions_and_shapes(const char *path) {
  npy_array a;
  char err[512];
  float v[6] = {1, 2, 3, 4, 5, 6};
  /* Versions 2.0 and 3.0: a 4-byte header length. Keys in another order, no trailing comma. */
  write_npy(path, 2, "{'shape': (3, 2), 'fortran_order': False, 'descr': '<f4'}", v, sizeof v);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 2 && a.dims[0] == 3 && a.dims[1] == 2 && memcmp(a.data, v, sizeof v) == 0);
  npy_free(&a);
  write_npy(path, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", v, sizeof v);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 1 && a.dims[0] == 6);
  npy_free(&a);
  /* 0-d: shape (). Python 2 longs: (2L, 3L). */
  double d = 2.75;
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &d, sizeof d);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 0 && a.dtype == KRT_FLOAT64 && ((double *)a.data)[0] == 2.75);
  npy_free(&a);
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", v, sizeof v);
  CHECK(npy_read(path, &a, err, sizeof err) == 0);
  CHECK(a.rank == 2 && a.dims[0] == 2 && a.dims[1] == 3);
  npy_free(&a);
}

/* npy_read must fail with a message naming the file and containing `needle`. */
static void check_refused(const char *path, const char *needle) {
  npy_array a;
  memset(&a, 0, sizeof a);
  char err[512] = "";
  int rc = npy_read(path, &a, err, sizeof err);
  CHECK(rc != 0);
  CHECK(strstr(err, path) != NULL);
  CHECK(strstr(err, needle) != NULL);
  if (rc == 0 || !strstr(err, needle)) fprintf(stderr, "  expected \"%s\", got \"%s\"\n", needle, err);
  if (rc == 0) npy_free(&a);
}

static void test_refusals(const char *path) {
  float v[6] = {1, 2, 3, 4, 5, 6};
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v, sizeof v);
  check_refused(path, "fortran order not supported");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, 20);
  check_refused(path, "truncated");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, 0);
  check_refused(path, "truncated");
  write_npy(path, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", v, 6);
  check_refused(path, "'<i2' is not supported");
  write_npy(path, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", v, 4);
  check_refused(path, "descr");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
            v, 4);
  check_refused(path, "more dimensions");
  write_npy(path, 1, "{'descr': '<f4', 'shape': (1,), }", v, 4);
  check_refused(path, "fortran_order");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (x,), }", v, 4);
  check_refused(path, "shape");
  write_npy(path, 1, "not a dict", v, 4);
  check_refused(path, "dictionary");
  write_npy(path, 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", v, 4);
  check_refused(path, "version 4.0");
  write_bytes(path, "garbage, not numpy at all", 25);
  check_refused(path, "not a .npy file");
  write_bytes(path, "", 0);
  check_refused(path, "not a .npy file");
  /* A header length pointing past the end of the file. */
  unsigned char cut[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f, '{', '}'};
  write_bytes(path, cut, sizeof cut);
  check_refused(path, "truncated .npy header");

  char missing[1100];
  snprintf(missing, sizeof missing, "%s.does-not-exist", path);
  check_refused(missing, "cannot open");

  char err[512];
  int64_t bad = -1;
  CHECK(npy_write_f32(path, v, 1, &bad, err, sizeof err) != 0 && strstr(err, path));
}

/* A version 1.0 file whose header is exactly `header` (no padding, no '\n'), followed by data
 * that must never show up in an error message: a malformed header is quoted only up to its end. */
static void check_header_refused(const char *path, const char *header, const char *needle) {
  static const char data[] = "LEAKEDxDATAxBEYONDxTHExHEADER";
  size_t hlen = strlen(header), size = 10 + hlen + sizeof data - 1;
  unsigned char *file = malloc(size);
  CHECK(file != NULL);
  if (!file) return;
  memcpy(file, "\x93NUMPY\x01\x00", 8);
  file[8] = (unsigned char)(hlen & 0xff);
  file[9] = (unsigned char)(hlen >> 8);
  memcpy(file + 10, header, hlen);
  memcpy(file + 10 + hlen, data, sizeof data - 1);
  write_bytes(path, file, size);
  free(file);

  npy_array a;
  memset(&a, 0, sizeof a);
  char err[512] = "";
  int rc = npy_read(path, &a, err, sizeof err);
  CHECK(rc != 0);
  CHECK(strstr(err, needle) != NULL);
  CHECK(strstr(err, "LEAKED") == NULL);
  if (rc == 0 || !strstr(err, needle) || strstr(err, "LEAKED"))
    fprintf(stderr, "  header \"%s\": expected \"%s\" and nothing past the header, got \"%s\"\n",
            header, needle, err);
  if (rc == 0) npy_free(&a);
}

/* Headers cut short or malformed at their very end (issue 12: the message read past them). */
static void test_malformed_headers(const char *path) {
  check_header_refused(path, "{", "ends before its closing '}'");
  check_header_refused(path, "{'descr': '<f4'", "ends before its closing '}'");
  check_header_refused(path, "{'descr': '<f4',", "ends before its closing '}'");
  check_header_refused(path, "{'descr", "near \"'descr\"");
  check_header_refused(path, "{'descr': '<f4', 'fortran_order'", "near \"'fortran_order'\"");
  check_header_refused(path, "{'descr': '<f4' 'x'", "near \"'x'\"");
  check_header_refused(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,", "shape");
}

/* Sizes are known before anything is allocated: a device that never ends (/dev/zero) or a
 * directory is refused at once instead of read until memory runs out. */
static void test_not_regular_files(void) {
  check_refused("/dev/zero", "not a regular file");
  check_refused("/tmp", "not a regular file");
}

int main(void) {
  const char *path = make_scratch();
  if (!path) {
    fprintf(stderr, "test_npy: cannot create a scratch file\n");
    return 1;
  }
  test_round_trip(path);
  test_dtypes(path);
  test_versions_and_shapes(path);
  test_refusals(path);
  test_malformed_headers(path);
  test_not_regular_files();
  unlink(path);
  return test_summary("test_npy");
}
