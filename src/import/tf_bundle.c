/* TensorFlow's tensor bundle reader (tf_bundle.h gives the layout). The index file is read whole
 * and every entry is listed at open (a SavedModel's index is small: a few hundred bytes per
 * variable); data files are read one tensor at a time.
 *
 * Table layout (LevelDB's table format, as TensorFlow's table writer keeps it):
 *   [data block]* [metaindex block] [index block] [footer: 48 bytes]
 *   footer:  metaindex handle, index handle (each varint64 offset, varint64 size), zero padding
 *            to 40 bytes, then the magic 0xdb4775248b80fb57 as a little-endian uint64;
 *   block:   its contents, then a 5-byte trailer: the compression type (0: none) and the masked
 *            CRC-32C of the contents and the type byte (little-endian uint32);
 *   contents: entries (varint32 shared key bytes, varint32 unshared key bytes, varint32 value
 *            bytes, the unshared key bytes, the value), then uint32 restart offsets and their
 *            count (uint32), which a full scan does not need;
 *   index block: one entry per data block, its value that block's handle. */
#include "import/tf_bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "graphdef.pb-c.h"
#include "import/import.h"
#include "savedmodel.pb-c.h"

#define TABLE_MAGIC 0xdb4775248b80fb57ull
#define FOOTER_BYTES 48
#define BLOCK_TRAILER_BYTES 5
/* An index over this is refused (a SavedModel's has a few hundred bytes per variable). */
#define MAX_INDEX_BYTES ((long)1 << 30)
/* A tensor over this is refused (krt's static tensors hold at most 2^31 elements). */
#define MAX_TENSOR_BYTES ((int64_t)1 << 34)
#define MAX_SHARDS 100000

typedef struct bundle_entry {
  char *key;
  const uint8_t *value; /* into the index file's bytes */
  size_t value_size;
} bundle_entry;

struct tf_bundle {
  char *prefix;
  char *index_path;
  uint8_t *index; /* the whole index file */
  size_t index_size;
  bundle_entry *entries; /* in key order; entries[0] is the header (empty key) */
  size_t n_entries, cap_entries;
  int num_shards;
};

/* ---- CRC-32C -------------------------------------------------------------------------------- */

uint32_t tf_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n) {
  /* Reflected Castagnoli polynomial 0x1EDC6F41; the table is made per call (2 KiB of work), so
   * there is no shared state. */
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    table[i] = c;
  }
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t tf_crc32c(const uint8_t *data, size_t n) { return tf_crc32c_extend(0, data, n); }

uint32_t tf_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ---- little helpers ------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A varint of at most max_bits at p[*i..n); 0 when it is cut off or too long. */
static int read_varint(const uint8_t *p, size_t n, size_t *i, int max_bits, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < max_bits && *i < n; shift += 7) {
    uint8_t b = p[(*i)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (max_bits < 64 && (v >> max_bits)) return 0;
      *out = v;
      return 1;
    }
  }
  return 0;
}

static krt_status *bad_index(const tf_bundle *b, const char *what) {
  return krt_error(KRT_ERR_BAD_FILE, "%s: not a tensor bundle index: %s", b->index_path, what);
}

/* ---- the table ------------------------------------------------------------------------------ */

/* A block handle (offset, size) -> the block's contents, its trailer checked. */
static krt_status *read_block(const tf_bundle *b, const uint8_t *handle, size_t n,
                              const uint8_t **contents, size_t *size) {
  size_t i = 0;
  uint64_t offset, bytes;
  if (!read_varint(handle, n, &i, 64, &offset) || !read_varint(handle, n, &i, 64, &bytes))
    return bad_index(b, "a block handle is cut off");
  if (offset > b->index_size || bytes > b->index_size - offset ||
      BLOCK_TRAILER_BYTES > b->index_size - offset - bytes)
    return bad_index(b, "a block lies outside the file");
  const uint8_t *p = b->index + offset;
  uint8_t type = p[bytes];
  uint32_t stored = le32(p + bytes + 1);
  uint32_t crc = tf_crc32c_extend(tf_crc32c(p, (size_t)bytes), &type, 1);
  if (tf_crc32c_mask(crc) != stored)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: the block at offset %llu fails its CRC-32C check (the file is damaged)",
                     b->index_path, (unsigned long long)offset);
  if (type != 0)
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "%s: the block at offset %llu is compressed (type %d); krt reads uncompressed "
                     "tables only, as TensorFlow writes them",
                     b->index_path, (unsigned long long)offset, type);
  *contents = p;
  *size = (size_t)bytes;
  return NULL;
}

/* Calls visit(b, key, key_len, value, value_len) for each entry of a block, in order. */
typedef krt_status *(*entry_fn)(tf_bundle *b, const uint8_t *key, size_t key_len,
                                const uint8_t *value, size_t value_len);

static krt_status *scan_block(tf_bundle *b, const uint8_t *p, size_t n, entry_fn visit) {
  if (n < 4) return bad_index(b, "a block is shorter than its restart count");
  uint32_t restarts = le32(p + n - 4);
  if (restarts > (n - 4) / 4) return bad_index(b, "a block's restart count is too large");
  size_t end = n - 4 - 4 * (size_t)restarts;
  uint8_t *key = NULL;
  size_t key_len = 0, key_cap = 0, i = 0;
  krt_status *s = NULL;
  while (i < end && !s) {
    uint64_t shared, unshared, value_len;
    if (!read_varint(p, end, &i, 32, &shared) || !read_varint(p, end, &i, 32, &unshared) ||
        !read_varint(p, end, &i, 32, &value_len)) {
      s = bad_index(b, "an entry header is cut off");
      break;
    }
    if (shared > key_len || unshared > end - i || value_len > end - i - unshared) {
      s = bad_index(b, "an entry runs past its block");
      break;
    }
    size_t len = (size_t)(shared + unshared);
    if (len > key_cap) {
      uint8_t *grown = realloc(key, len * 2);
      if (!grown) {
        s = krt_error_oom("tensor bundle index");
        break;
      }
      key = grown;
      key_cap = len * 2;
    }
    if (unshared) memcpy(key + shared, p + i, (size_t)unshared); /* key is NULL while empty */
    key_len = len;
    i += (size_t)unshared;
    s = visit(b, key ? key : (const uint8_t *)"", key_len, p + i, (size_t)value_len);
    i += (size_t)value_len;
  }
  free(key);
  return s;
}

static krt_status *add_entry(tf_bundle *b, const uint8_t *key, size_t key_len,
                             const uint8_t *value, size_t value_len) {
  if (memchr(key, 0, key_len)) return bad_index(b, "a key holds a NUL byte");
  if (b->n_entries) {
    const char *prev = b->entries[b->n_entries - 1].key;
    size_t prev_len = strlen(prev);
    int c = memcmp(prev, key, prev_len < key_len ? prev_len : key_len);
    if (c > 0 || (c == 0 && prev_len >= key_len))
      return bad_index(b, "the keys are not in increasing order");
  }
  if (b->n_entries == b->cap_entries) {
    size_t cap = b->cap_entries ? b->cap_entries * 2 : 64;
    bundle_entry *grown = realloc(b->entries, cap * sizeof *grown);
    if (!grown) return krt_error_oom("tensor bundle index");
    b->entries = grown;
    b->cap_entries = cap;
  }
  char *copy = malloc(key_len + 1);
  if (!copy) return krt_error_oom("tensor bundle index");
  memcpy(copy, key, key_len);
  copy[key_len] = '\0';
  b->entries[b->n_entries++] = (bundle_entry){copy, value, value_len};
  return NULL;
}

static krt_status *visit_data_block(tf_bundle *b, const uint8_t *key, size_t key_len,
                                    const uint8_t *value, size_t value_len) {
  (void)key;
  (void)key_len;
  const uint8_t *contents;
  size_t size;
  KRT_TRY(read_block(b, value, value_len, &contents, &size));
  return scan_block(b, contents, size, add_entry);
}

static krt_status *read_header(tf_bundle *b) {
  if (b->n_entries == 0 || b->entries[0].key[0] != '\0')
    return bad_index(b, "it has no header entry (the empty key)");
  Krt__Tf__BundleHeaderProto *h =
      krt__tf__bundle_header_proto__unpack(NULL, b->entries[0].value_size, b->entries[0].value);
  if (!h) return bad_index(b, "the header does not decode");
  int shards = h->num_shards, endianness = h->endianness;
  krt__tf__bundle_header_proto__free_unpacked(h, NULL);
  if (endianness != 0)
    return krt_error(KRT_ERR_UNSUPPORTED,
                     "%s: the bundle is big-endian; krt reads little-endian bundles only",
                     b->index_path);
  if (shards < 1 || shards > MAX_SHARDS)
    return krt_error(KRT_ERR_BAD_FILE, "%s: the bundle header says %d data shards", b->index_path,
                     shards);
  b->num_shards = shards;
  return NULL;
}

krt_status *tf_bundle_open(const char *prefix, tf_bundle **out) {
  if (!prefix || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "tf_bundle_open: NULL argument");
  *out = NULL;
  tf_bundle *b = calloc(1, sizeof *b);
  if (!b) return krt_error_oom("tensor bundle");
  size_t len = strlen(prefix);
  b->prefix = strdup(prefix);
  b->index_path = malloc(len + sizeof ".index");
  if (!b->prefix || !b->index_path) {
    tf_bundle_close(b);
    return krt_error_oom("tensor bundle");
  }
  memcpy(b->index_path, prefix, len);
  memcpy(b->index_path + len, ".index", sizeof ".index");
  krt_status *s = import_read_file(b->index_path, MAX_INDEX_BYTES, "larger than krt reads for an "
                                   "index", &b->index, &b->index_size);
  if (!s && b->index_size < FOOTER_BYTES) s = bad_index(b, "shorter than its footer");
  if (!s) {
    const uint8_t *footer = b->index + b->index_size - FOOTER_BYTES;
    uint64_t magic = le32(footer + 40) | (uint64_t)le32(footer + 44) << 32;
    if (magic != TABLE_MAGIC) s = bad_index(b, "the table magic number is missing");
    /* Skip the metaindex handle (TensorFlow writes an empty metaindex); the index handle
     * follows it. */
    size_t i = 0;
    uint64_t skip;
    if (!s && !(read_varint(footer, 40, &i, 64, &skip) && read_varint(footer, 40, &i, 64, &skip)))
      s = bad_index(b, "the footer's metaindex handle is cut off");
    const uint8_t *contents = NULL;
    size_t size = 0;
    if (!s) s = read_block(b, footer + i, 40 - i, &contents, &size);
    if (!s) s = scan_block(b, contents, size, visit_data_block);
  }
  if (!s) s = read_header(b);
  if (s) {
    tf_bundle_close(b);
    return s;
  }
  *out = b;
  return NULL;
}

void tf_bundle_close(tf_bundle *b) {
  if (!b) return;
  for (size_t i = 0; i < b->n_entries; i++) free(b->entries[i].key);
  free(b->entries);
  free(b->index);
  free(b->index_path);
  free(b->prefix);
  free(b);
}

size_t tf_bundle_count(const tf_bundle *b) { return b && b->n_entries ? b->n_entries - 1 : 0; }

const char *tf_bundle_key(const tf_bundle *b, size_t i) {
  return b && i + 1 < b->n_entries ? b->entries[i + 1].key : NULL;
}

/* ---- tensors -------------------------------------------------------------------------------- */

static const bundle_entry *find_entry(const tf_bundle *b, const char *key) {
  size_t lo = 1, hi = b->n_entries; /* entries[0] is the header */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(b->entries[mid].key, key);
    if (c == 0) return &b->entries[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static int dtype_bytes(int dtype) {
  switch (dtype) {
    case KRT__TF__DATA_TYPE__DT_FLOAT: case KRT__TF__DATA_TYPE__DT_INT32:
    case KRT__TF__DATA_TYPE__DT_UINT32: return 4;
    case KRT__TF__DATA_TYPE__DT_DOUBLE: case KRT__TF__DATA_TYPE__DT_INT64:
    case KRT__TF__DATA_TYPE__DT_UINT64: return 8;
    case KRT__TF__DATA_TYPE__DT_HALF: case KRT__TF__DATA_TYPE__DT_BFLOAT16:
    case KRT__TF__DATA_TYPE__DT_INT16: case KRT__TF__DATA_TYPE__DT_UINT16: return 2;
    case KRT__TF__DATA_TYPE__DT_UINT8: case KRT__TF__DATA_TYPE__DT_INT8:
    case KRT__TF__DATA_TYPE__DT_BOOL: return 1;
    default: return 0;
  }
}

/* The entry of key decoded, with its shape checked; *entry freed by the caller. */
static krt_status *decode_entry(const tf_bundle *b, const char *key, Krt__Tf__BundleEntryProto **entry,
                                tf_bundle_tensor *t) {
  memset(t, 0, sizeof *t);
  const bundle_entry *e = find_entry(b, key);
  if (!e)
    return krt_error(KRT_ERR_NOT_FOUND, "%s: the bundle holds no tensor '%s'", b->index_path, key);
  Krt__Tf__BundleEntryProto *d = krt__tf__bundle_entry_proto__unpack(NULL, e->value_size, e->value);
  if (!d)
    return krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s': its entry does not decode", b->index_path,
                     key);
  krt_status *s = NULL;
  if (d->n_slices)
    s = krt_error(KRT_ERR_UNSUPPORTED,
                  "%s: tensor '%s' is a partitioned variable (stored in %zu slices); krt reads "
                  "whole tensors only",
                  b->index_path, key, d->n_slices);
  else if (d->shard_id < 0 || d->shard_id >= b->num_shards)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s' is in shard %d of a bundle of %d",
                  b->index_path, key, d->shard_id, b->num_shards);
  else if (d->offset < 0 || d->size < 0 || d->size > MAX_TENSOR_BYTES)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s' has offset %lld and size %lld",
                  b->index_path, key, (long long)d->offset, (long long)d->size);
  else if (d->shape && (d->shape->unknown_rank || d->shape->n_dim > KRT_MAX_RANK))
    s = krt_error(KRT_ERR_UNSUPPORTED, "%s: tensor '%s': its shape is of unknown rank or of "
                  "rank over %d", b->index_path, key, KRT_MAX_RANK);
  t->dtype = d->dtype;
  t->rank = d->shape ? (int)d->shape->n_dim : 0;
  for (int i = 0; !s && i < t->rank; i++) {
    t->dims[i] = d->shape->dim[i]->size;
    if (t->dims[i] < 0 || t->dims[i] > MAX_TENSOR_BYTES)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s': axis %d has size %lld", b->index_path,
                    key, i, (long long)t->dims[i]);
  }
  if (s) {
    krt__tf__bundle_entry_proto__free_unpacked(d, NULL);
    return s;
  }
  *entry = d;
  return NULL;
}

/* The entry's bytes from its shard, their size and CRC-32C not yet checked. */
static krt_status *read_shard(const tf_bundle *b, const char *key,
                              const Krt__Tf__BundleEntryProto *d, uint8_t **data) {
  *data = NULL;
  char *path = malloc(strlen(b->prefix) + 64);
  if (!path) return krt_error_oom("tensor bundle");
  sprintf(path, "%s.data-%05d-of-%05d", b->prefix, d->shard_id, b->num_shards);
  krt_status *s = NULL;
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f)
    s = krt_error(errno == ENOENT ? KRT_ERR_BAD_FILE : KRT_ERR_IO,
                  "%s: cannot open the data shard that holds tensor '%s' (%s)", path, key,
                  strerror(errno));
  else if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    s = krt_error(KRT_ERR_IO, "%s: cannot read the data shard", path);
  else if (d->offset > (int64_t)st.st_size || d->size > (int64_t)st.st_size - d->offset)
    s = krt_error(KRT_ERR_BAD_FILE,
                  "%s: tensor '%s' is at bytes %lld..%lld, but the shard has %lld bytes (it is "
                  "truncated)",
                  path, key, (long long)d->offset, (long long)(d->offset + d->size),
                  (long long)st.st_size);
  uint8_t *buf = NULL;
  if (!s) {
    buf = malloc(d->size ? (size_t)d->size : 1);
    if (!buf) s = krt_error_oom("tensor bundle data");
  }
  if (!s && (fseeko(f, (off_t)d->offset, SEEK_SET) != 0 ||
             fread(buf, 1, (size_t)d->size, f) != (size_t)d->size))
    s = krt_error(KRT_ERR_IO, "%s: cannot read tensor '%s'", path, key);
  if (f) fclose(f);
  free(path);
  if (s) {
    free(buf);
    return s;
  }
  *data = buf;
  return NULL;
}

krt_status *tf_bundle_read(tf_bundle *b, const char *key, tf_bundle_tensor *out) {
  if (!b || !key || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "tf_bundle_read: NULL argument");
  Krt__Tf__BundleEntryProto *d = NULL;
  KRT_TRY(decode_entry(b, key, &d, out));
  krt_status *s = NULL;
  int bytes = dtype_bytes(d->dtype);
  int64_t count = 1;
  for (int i = 0; i < out->rank && count >= 0; i++)
    count = out->dims[i] && count > MAX_TENSOR_BYTES / out->dims[i] ? -1 : count * out->dims[i];
  if (!bytes)
    s = krt_error(KRT_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %d, which krt does not read "
                  "from a bundle", b->index_path, key, d->dtype);
  else if (count < 0 || count * bytes != d->size)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s' has %lld bytes, not what its dtype and shape "
                  "need", b->index_path, key, (long long)d->size);
  uint8_t *data = NULL;
  if (!s) s = read_shard(b, key, d, &data);
  if (!s && tf_crc32c_mask(tf_crc32c(data, (size_t)d->size)) != d->crc32c)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s' fails its CRC-32C check (the data file is "
                  "damaged)", b->index_path, key);
  if (!s) {
    out->data = data;
    out->size = (size_t)d->size;
  } else {
    free(data);
  }
  krt__tf__bundle_entry_proto__free_unpacked(d, NULL);
  return s;
}

/* A string tensor's bytes: for each element a varint64 length; then the masked CRC-32C of the
 * lengths, each as a little-endian uint32 (uint64 for lengths over 2^32 - 1, which krt refuses);
 * then the elements' bytes. The entry's CRC covers those uint32 lengths, the 4 checksum bytes and
 * the elements' bytes. */
krt_status *tf_bundle_read_string(tf_bundle *b, const char *key, uint8_t **data, size_t *size) {
  if (!b || !key || !data || !size)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "tf_bundle_read_string: NULL argument");
  *data = NULL;
  *size = 0;
  Krt__Tf__BundleEntryProto *d = NULL;
  tf_bundle_tensor t;
  KRT_TRY(decode_entry(b, key, &d, &t));
  krt_status *s = NULL;
  if (d->dtype != KRT__TF__DATA_TYPE__DT_STRING || t.rank != 0)
    s = krt_error(KRT_ERR_BAD_FILE, "%s: tensor '%s' is not a scalar string", b->index_path, key);
  uint8_t *raw = NULL;
  if (!s) s = read_shard(b, key, d, &raw);
  size_t i = 0, n = s ? 0 : (size_t)d->size;
  uint64_t len = 0;
  if (!s && (!read_varint(raw, n, &i, 64, &len) || len > UINT32_MAX || n - i < 4 ||
             len != n - i - 4))
    s = krt_error(KRT_ERR_BAD_FILE, "%s: string tensor '%s': its length is not its size",
                  b->index_path, key);
  if (!s) {
    uint8_t len4[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                       (uint8_t)(len >> 24)};
    uint32_t len_crc = tf_crc32c(len4, 4);
    uint32_t crc = tf_crc32c_extend(tf_crc32c_extend(len_crc, raw + i, 4), raw + i + 4, (size_t)len);
    if (tf_crc32c_mask(len_crc) != le32(raw + i) || tf_crc32c_mask(crc) != d->crc32c)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: string tensor '%s' fails its CRC-32C check (the data "
                    "file is damaged)", b->index_path, key);
  }
  if (!s) {
    memmove(raw, raw + i + 4, (size_t)len);
    *data = raw;
    *size = (size_t)len;
  } else {
    free(raw);
  }
  krt__tf__bundle_entry_proto__free_unpacked(d, NULL);
  return s;
}
