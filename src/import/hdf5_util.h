/* Small HDF5 helpers for the Keras importers: attributes that Keras wrote as fixed- or
 * variable-length strings (scalar or 1-d), numeric datasets read as float32, group listings.
 *
 * Every function returns a krt_status* (NULL = success) whose message names the object; callers
 * add the file and layer in front. None of them prints HDF5's error stack: wrap a whole import in
 * h5u_quiet_begin / h5u_quiet_end.
 */
#ifndef KRT_IMPORT_HDF5_UTIL_H
#define KRT_IMPORT_HDF5_UTIL_H

#include <hdf5.h>

#include "import/keras_internal.h"

/* Silences HDF5's automatic error printing for the duration of an import (restored by _end). */
typedef struct h5u_quiet {
  H5E_auto2_t func;
  void *data;
} h5u_quiet;
void h5u_quiet_begin(h5u_quiet *saved);
void h5u_quiet_end(const h5u_quiet *saved);

/* 1 when `obj` carries an attribute of that name. */
int h5u_has_attr(hid_t obj, const char *name);
/* 1 when `path` (relative to loc) names a group; 0 when absent or something else. */
int h5u_is_group(hid_t loc, const char *path);

/* A string attribute (scalar or one-element array, fixed or variable length). *out is malloc'd
 * and NUL-terminated; KRT_ERR_NOT_FOUND when the attribute is absent. */
krt_status *h5u_read_string_attr(hid_t obj, const char *name, char **out);

/* A 1-d string-array attribute such as weight_names. An empty attribute (Keras writes an empty
 * float array for a layer without weights) gives *n = 0. Keras splits attributes too big for an
 * HDF5 object header into name0, name1, ...: those are joined. A missing attribute gives
 * KRT_ERR_NOT_FOUND. *out (an array of *n malloc'd strings) is freed with h5u_free_strings. */
krt_status *h5u_read_string_list_attr(hid_t obj, const char *name, char ***out, int *n);
void h5u_free_strings(char **strings, int n);

/* Reads the numeric dataset at `path` (relative to loc) as float32, whatever its stored integer
 * or float type. out->name is set to a copy of `path`. Free with keras_arrays_free. */
krt_status *h5u_read_float_dataset(hid_t loc, const char *path, keras_array *out);

/* The names of the links directly under a group, in HDF5's name order. Free with
 * h5u_free_strings. */
krt_status *h5u_list_children(hid_t group, char ***names, int *n);

/* Refuses (KRT_ERR_BAD_FILE) an HDF5 file image holding a global heap collection that libhdf5
 * 1.10 would loop on or read past when it reads a variable-length string (hdf5_util.c says
 * how). `length_size` is the superblock's size of lengths (2, 4 or 8). Call it on the whole file
 * before reading any attribute. The second form takes the open file for that size. */
krt_status *h5u_check_global_heaps(const unsigned char *image, size_t size, size_t length_size);
krt_status *h5u_check_file_global_heaps(hid_t file, const unsigned char *image, size_t size);

/* Frees n arrays and their names and data, then the array itself. NULL-safe. */
void keras_arrays_free(keras_array *arrays, int n);

#endif
