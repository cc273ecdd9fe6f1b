/* .npy files (NumPy's array format, version 1.0-3.0): read and write, for the CLI and the tests.
 * Reads float32, float64, int32, int64 and uint8 (little- or big-endian, C order); writes
 * float32. Not part of the library's public API. */
#ifndef KRT_TOOLS_NPY_H
#define KRT_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "krt.h"

typedef struct npy_array {
  krt_dtype dtype;   /* as stored (converted to native byte order) */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  void *data;        /* malloc'd; free with npy_free */
  size_t bytes;
} npy_array;

/* On failure returns non-zero and writes a one-line reason (naming the file) into err. */
int npy_read(const char *path, npy_array *out, char *err, size_t err_size);
/* The same from bytes in memory (not copied; the caller keeps them); name stands for the file in
 * error messages. The fuzz harness and its regression test read through this. */
int npy_read_memory(const void *data, size_t size, const char *name, npy_array *out, char *err,
                    size_t err_size);
int npy_write_f32(const char *path, const float *data, int rank, const int64_t *dims, char *err,
                  size_t err_size);
void npy_free(npy_array *array);

#endif
