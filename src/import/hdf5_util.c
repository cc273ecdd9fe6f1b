#define _GNU_SOURCE /* memmem */
#include "import/hdf5_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* Attribute and dataset sizes beyond this are a corrupt file, not a model we could hold. */
#define H5U_MAX_BYTES ((size_t)1 << 34)

static char *copy_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

void h5u_quiet_begin(h5u_quiet *saved) {
  saved->func = NULL;
  saved->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5u_quiet_end(const h5u_quiet *saved) {
  H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

int h5u_has_attr(hid_t obj, const char *name) {
  return H5Aexists(obj, name) > 0;
}

int h5u_is_group(hid_t loc, const char *path) {
  /* H5Lexists checks one link at a time, so walk the path prefix by prefix. */
  size_t n = strlen(path);
  char *p = copy_n(path, n);
  if (!p) return 0;
  int ok = 1;
  for (size_t i = 0; i <= n && ok; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (i > 0 && H5Lexists(loc, p, H5P_DEFAULT) <= 0) ok = 0;
    p[i] = c;
  }
  if (ok) {
    H5O_info_t info;
    ok = H5Oget_info_by_name(loc, path, &info, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_GROUP;
  }
  free(p);
  return ok;
}

void h5u_free_strings(char **strings, int n) {
  if (!strings) return;
  for (int i = 0; i < n; i++) free(strings[i]);
  free(strings);
}

void keras_arrays_free(keras_array *arrays, int n) {
  if (!arrays) return;
  for (int i = 0; i < n; i++) {
    free(arrays[i].name);
    if (!arrays[i].borrowed) free(arrays[i].data);
  }
  free(arrays);
}

/* ---- global heap collections ------------------------------------------------------------
 *
 * A variable-length string attribute stores, per string, a reference into a global heap
 * collection ("GCOL", version 1, 3 reserved bytes, the collection's size in `length` bytes, then
 * objects: u16 index, u16 reference count, 4 reserved bytes, `length`-byte size, the data padded
 * to 8 bytes; index 0 is the free space and its size covers its own header). libhdf5 1.10.8
 * parses a collection by stepping from object to object and never checks that a step moves
 * forward: a free-space object of size 0 (or a size that wraps the step to 0) makes H5Aread loop
 * forever (found by mutating fixtures: 78 of 20,000 mutants ran into the reader's time limit,
 * every one of them on such a collection). So before any string is read, every collection the
 * file could point to (any "GCOL" signature at any byte) is walked here the same way, and one
 * that does not end exactly at its declared size refuses the file. A collection that libhdf5
 * cannot load at all (wrong version, shorter than its header, past the end of the file) is left
 * to libhdf5, which fails on it cleanly. */

static uint64_t decode_le(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

krt_status *h5u_check_global_heaps(const unsigned char *image, size_t size, size_t length_size) {
  if (length_size != 2 && length_size != 4 && length_size != 8)
    return krt_error(KRT_ERR_BAD_FILE, "the file declares %zu-byte lengths", length_size);
  const size_t header = 8 + length_size;     /* signature, version, reserved, size */
  const size_t obj_header = 8 + length_size; /* index, references, reserved, size */
  const unsigned char *at = image, *end = image + size;
  /* Real collections do not overlap, so their walks take at most size / obj_header steps in all;
   * signatures planted inside one another could make the scan quadratic. */
  uint64_t steps_left = size / 8 + 65536;
  while ((size_t)(end - at) >= header) {
    at = memmem(at, (size_t)(end - at), "GCOL", 4);
    if (!at) break;
    size_t start = (size_t)(at - image);
    at++;
    if (size - start < header || image[start + 4] != 1) continue;
    uint64_t total = decode_le(image + start + 8, length_size);
    if (total < header || total > size - start) continue;
    const unsigned char *heap = image + start;
    uint64_t p = header;
    while (p < total) {
      if (total - p < obj_header) break; /* libhdf5 takes a tail this small as free space */
      if (steps_left-- == 0)
        return krt_error(KRT_ERR_BAD_FILE,
                         "the file's global heap collections overlap (more objects than its %zu "
                         "bytes can hold): the file is corrupt or hostile",
                         size);
      uint64_t index = decode_le(heap + p, 2);
      uint64_t object = decode_le(heap + p + 8, length_size);
      /* The free space's size covers its header; another object's does not and is padded. */
      uint64_t step = index == 0       ? object
                      : object > total ? UINT64_MAX
                                       : obj_header + (object + 7) / 8 * 8;
      if (step == 0 || step > total - p)
        return krt_error(KRT_ERR_BAD_FILE,
                         "the global heap collection at byte %zu is corrupt: its object at byte "
                         "%llu (index %llu, size %llu) %s: the file is corrupt or hostile",
                         start, (unsigned long long)(start + p), (unsigned long long)index,
                         (unsigned long long)object,
                         step == 0 ? "has size 0, on which libhdf5 1.10 loops forever"
                                   : "runs past the collection's end, where libhdf5 1.10 reads "
                                     "out of bounds");
      p += step;
    }
  }
  return NULL;
}

krt_status *h5u_check_file_global_heaps(hid_t file, const unsigned char *image, size_t size) {
  hid_t fcpl = H5Fget_create_plist(file);
  size_t addr_size = 0, length_size = 0;
  herr_t r = fcpl >= 0 ? H5Pget_sizes(fcpl, &addr_size, &length_size) : -1;
  if (fcpl >= 0) H5Pclose(fcpl);
  if (r < 0) return krt_error(KRT_ERR_BAD_FILE, "the file's superblock cannot be read");
  return h5u_check_global_heaps(image, size, length_size);
}

static void reclaim_vlen(hid_t mem_type, hid_t space, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(mem_type, space, H5P_DEFAULT, buf);
#else
  H5Dvlen_reclaim(mem_type, space, H5P_DEFAULT, buf);
#endif
}

/* Reads every element of an open string attribute into a new array of strings. A numeric
 * attribute with no elements (Keras's empty weight_names) gives 0 strings. */
static krt_status *read_strings(hid_t attr, const char *name, char ***out, int *count) {
  krt_status *s = NULL;
  char **result = NULL;
  int n = 0;
  hid_t type = H5Aget_type(attr);
  hid_t space = H5Aget_space(attr);
  hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (type < 0 || space < 0 || points < 0) {
    s = krt_error(KRT_ERR_BAD_FILE, "attribute '%s' cannot be read", name);
    goto done;
  }
  if (H5Tget_class(type) != H5T_STRING) {
    if (points != 0) s = krt_error(KRT_ERR_BAD_FILE, "attribute '%s' is not a string", name);
    goto done;
  }
  if (points == 0) goto done;
  if ((size_t)points > H5U_MAX_BYTES / sizeof(char *)) {
    s = krt_error(KRT_ERR_BAD_FILE, "attribute '%s' has %lld strings", name, (long long)points);
    goto done;
  }
  result = calloc((size_t)points, sizeof *result);
  if (!result) {
    s = krt_error_oom("attribute");
    goto done;
  }
  if (H5Tis_variable_str(type) > 0) {
    char **raw = calloc((size_t)points, sizeof *raw);
    hid_t mem = H5Tcopy(H5T_C_S1);
    if (!raw || mem < 0) {
      free(raw);
      if (mem >= 0) H5Tclose(mem);
      s = krt_error_oom("attribute");
      goto done;
    }
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(type));
    if (H5Aread(attr, mem, raw) < 0) {
      s = krt_error(KRT_ERR_BAD_FILE, "attribute '%s' cannot be read", name);
    } else {
      for (n = 0; n < (int)points; n++) {
        const char *v = raw[n] ? raw[n] : "";
        if (!(result[n] = copy_n(v, strlen(v)))) {
          s = krt_error_oom("attribute");
          break;
        }
      }
      reclaim_vlen(mem, space, raw);
    }
    H5Tclose(mem);
    free(raw);
  } else {
    size_t size = H5Tget_size(type);
    if (size == 0 || size > H5U_MAX_BYTES / (size_t)points) {
      s = krt_error(KRT_ERR_BAD_FILE, "attribute '%s' has a bad string size", name);
      goto done;
    }
    char *raw = malloc(size * (size_t)points);
    if (!raw) {
      s = krt_error_oom("attribute");
      goto done;
    }
    if (H5Aread(attr, type, raw) < 0) {
      s = krt_error(KRT_ERR_BAD_FILE, "attribute '%s' cannot be read", name);
    } else {
      for (n = 0; n < (int)points; n++) {
        const char *v = raw + (size_t)n * size;
        size_t len = 0;
        while (len < size && v[len]) len++;
        /* Space-padded fixed strings (H5T_STR_SPACEPAD) carry trailing blanks. */
        if (H5Tget_strpad(type) == H5T_STR_SPACEPAD)
          while (len > 0 && v[len - 1] == ' ') len--;
        if (!(result[n] = copy_n(v, len))) {
          s = krt_error_oom("attribute");
          break;
        }
      }
    }
    free(raw);
  }
done:
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (s) {
    h5u_free_strings(result, n);
    return s;
  }
  *out = result;
  *count = result ? n : 0;
  return NULL;
}

static krt_status *read_attr_strings(hid_t obj, const char *name, char ***out, int *n) {
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  if (attr < 0) return krt_error(KRT_ERR_BAD_FILE, "attribute '%s' cannot be opened", name);
  krt_status *s = read_strings(attr, name, out, n);
  H5Aclose(attr);
  return s;
}

krt_status *h5u_read_string_attr(hid_t obj, const char *name, char **out) {
  if (!h5u_has_attr(obj, name))
    return krt_error(KRT_ERR_NOT_FOUND, "attribute '%s' is missing", name);
  char **strings = NULL;
  int n = 0;
  KRT_TRY(read_attr_strings(obj, name, &strings, &n));
  if (n < 1) {
    h5u_free_strings(strings, n);
    return krt_error(KRT_ERR_BAD_FILE, "attribute '%s' is empty", name);
  }
  *out = strings[0];
  strings[0] = NULL;
  h5u_free_strings(strings, n);
  return NULL;
}

/* Appends src[0..n) to *list (of *count), taking the strings. */
static krt_status *append_strings(char ***list, int *count, char **src, int n) {
  if (n == 0) {
    free(src);
    return NULL;
  }
  char **grown = realloc(*list, (size_t)(*count + n) * sizeof *grown);
  if (!grown) {
    h5u_free_strings(src, n);
    return krt_error_oom("attribute");
  }
  memcpy(grown + *count, src, (size_t)n * sizeof *src);
  free(src);
  *list = grown;
  *count += n;
  return NULL;
}

krt_status *h5u_read_string_list_attr(hid_t obj, const char *name, char ***out, int *n) {
  if (h5u_has_attr(obj, name)) return read_attr_strings(obj, name, out, n);
  /* Keras's save_attributes_to_hdf5_group splits long lists into name0, name1, ... */
  size_t len = strlen(name) + 24;
  char *chunk_name = malloc(len);
  if (!chunk_name) return krt_error_oom("attribute");
  char **all = NULL;
  int count = 0, chunk = 0;
  krt_status *s = NULL;
  for (;; chunk++) {
    snprintf(chunk_name, len, "%s%d", name, chunk);
    if (!h5u_has_attr(obj, chunk_name)) break;
    char **part = NULL;
    int m = 0;
    s = read_attr_strings(obj, chunk_name, &part, &m);
    if (!s) s = append_strings(&all, &count, part, m);
    if (s) break;
  }
  free(chunk_name);
  if (!s && chunk == 0) s = krt_error(KRT_ERR_NOT_FOUND, "attribute '%s' is missing", name);
  if (s) {
    h5u_free_strings(all, count);
    return s;
  }
  *out = all;
  *n = count;
  return NULL;
}

/* A dataset's declared shape is only a claim: before allocating for it, check that the file
 * holds that much of it. Without filters its storage must be the whole array (a corrupt shape of
 * 7 GB over a few bytes would otherwise be allocated, then read as fill values); with filters
 * (deflate and the like), at most a ratio no real compressor reaches (deflate's bound is about
 * 1032:1). */
#define H5U_MAX_FILTER_RATIO 1100u

static krt_status *check_stored_size(hid_t d, hid_t type, const char *path, size_t count) {
  size_t element = H5Tget_size(type);
  hsize_t stored = H5Dget_storage_size(d);
  hid_t dcpl = H5Dget_create_plist(d);
  int filters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
  if (dcpl >= 0) H5Pclose(dcpl);
  if (element == 0 || filters < 0)
    return krt_error(KRT_ERR_BAD_FILE, "weight '%s' cannot be read (bad type or layout)", path);
  if (count == 0) return NULL;
  /* count * element fits: count <= H5U_MAX_BYTES / 4 and element is a few bytes */
  uint64_t need = (uint64_t)count * element;
  uint64_t room = filters == 0 ? (uint64_t)stored : (uint64_t)stored * H5U_MAX_FILTER_RATIO;
  if (need > room)
    return krt_error(KRT_ERR_BAD_FILE,
                     "weight '%s' declares %zu elements (%llu bytes) but the file stores %llu "
                     "bytes of it%s: truncated or corrupt file",
                     path, count, (unsigned long long)need, (unsigned long long)stored,
                     filters ? " compressed" : "");
  return NULL;
}

krt_status *h5u_read_float_dataset(hid_t loc, const char *path, keras_array *out) {
  memset(out, 0, sizeof *out);
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0) return krt_error(KRT_ERR_BAD_FILE, "weight '%s' is missing or not a dataset", path);
  krt_status *s = NULL;
  float *data = NULL;
  hid_t type = H5Dget_type(d);
  hid_t space = H5Dget_space(d);
  hsize_t dims[H5S_MAX_RANK];
  int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
  if (rank < 0 || type < 0) {
    s = krt_error(KRT_ERR_BAD_FILE, "weight '%s' cannot be read", path);
  } else if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    s = krt_error(KRT_ERR_UNSUPPORTED, "weight '%s' is not numeric (HDF5 type class %d)", path,
                  (int)cls);
  } else if (rank > KRT_MAX_RANK) {
    s = krt_error(KRT_ERR_UNSUPPORTED, "weight '%s' has rank %d (at most %d)", path, rank,
                  KRT_MAX_RANK);
  } else if (H5Sget_simple_extent_type(space) == H5S_NULL) {
    s = krt_error(KRT_ERR_BAD_FILE, "weight '%s' holds no data space", path);
  } else {
    H5Sget_simple_extent_dims(space, dims, NULL);
    size_t count = 1;
    for (int i = 0; i < rank && !s; i++) {
      if (dims[i] != 0 && count > H5U_MAX_BYTES / sizeof(float) / dims[i])
        s = krt_error(KRT_ERR_BAD_FILE, "weight '%s' is too large", path);
      count *= (size_t)dims[i];
      out->dims[i] = (int64_t)dims[i];
    }
    if (!s) s = check_stored_size(d, type, path, count);
    if (!s) {
      data = malloc((count ? count : 1) * sizeof *data);
      if (!data)
        s = krt_error_oom("weights");
      else if (count && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        s = krt_error(KRT_ERR_BAD_FILE, "weight '%s' cannot be read (truncated or corrupt file?)",
                      path);
    }
  }
  if (!s && !(out->name = copy_n(path, strlen(path)))) s = krt_error_oom("weights");
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Dclose(d);
  if (s) {
    free(data);
    free(out->name);
    memset(out, 0, sizeof *out);
    return s;
  }
  out->data = data;
  out->rank = rank;
  return NULL;
}

typedef struct child_list {
  char **names;
  int n, cap;
  int failed;
} child_list;

static herr_t collect_child(hid_t group, const char *name, const H5L_info_t *info, void *user) {
  (void)group;
  (void)info;
  child_list *list = user;
  if (list->n == list->cap) {
    int cap = list->cap ? list->cap * 2 : 16;
    char **grown = realloc(list->names, (size_t)cap * sizeof *grown);
    if (!grown) {
      list->failed = 1;
      return -1;
    }
    list->names = grown;
    list->cap = cap;
  }
  if (!(list->names[list->n] = copy_n(name, strlen(name)))) {
    list->failed = 1;
    return -1;
  }
  list->n++;
  return 0;
}

krt_status *h5u_list_children(hid_t group, char ***names, int *n) {
  child_list list = {NULL, 0, 0, 0};
  hsize_t index = 0;
  herr_t r = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_child, &list);
  if (r < 0 || list.failed) {
    h5u_free_strings(list.names, list.n);
    return list.failed ? krt_error_oom("group listing")
                       : krt_error(KRT_ERR_BAD_FILE, "a group cannot be listed");
  }
  *names = list.names;
  *n = list.n;
  return NULL;
}
