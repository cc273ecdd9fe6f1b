/* TensorFlow's tensor bundle: the variables of a SavedModel or TF2 checkpoint, as
 * variables/variables.index and variables/variables.data-SSSSS-of-NNNNN.
 *
 * The index is a LevelDB-format table (SSTable): data blocks of prefix-compressed key/value
 * entries, an index block pointing at them, and a 48-byte footer with the table magic. The entry
 * with the empty key holds a BundleHeaderProto (shard count, endianness); every other entry maps a
 * tensor's checkpoint key to a BundleEntryProto: dtype, shape, shard, offset and size in that
 * shard's data file, and the masked CRC-32C of the tensor's bytes. Numeric tensors are stored raw,
 * little-endian, row-major; a string tensor stores its element lengths, a checksum of them, and
 * the bytes (tf_bundle_read_string). Every offset, size and checksum is checked. */
#ifndef KRT_IMPORT_TF_BUNDLE_H
#define KRT_IMPORT_TF_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "ir/graph.h"

typedef struct tf_bundle tf_bundle;

/* One tensor read from the data files. */
typedef struct tf_bundle_tensor {
  int dtype; /* TensorFlow DataType (types.proto) */
  int rank;
  int64_t dims[KRT_MAX_RANK];
  uint8_t *data; /* malloc'd, size bytes; the caller frees it */
  size_t size;
} tf_bundle_tensor;

/* Opens the bundle whose files are prefix.index and prefix.data-*-of-* (prefix
 * ".../variables/variables"): reads and checks the whole index. The data files are opened by
 * tf_bundle_read. *out is closed with tf_bundle_close. */
krt_status *tf_bundle_open(const char *prefix, tf_bundle **out);
void tf_bundle_close(tf_bundle *b);

/* Number of tensors, and the key of tensor i (in key order), for messages and tests. */
size_t tf_bundle_count(const tf_bundle *b);
const char *tf_bundle_key(const tf_bundle *b, size_t i);

/* The tensor stored under key: KRT_ERR_NOT_FOUND when there is none; KRT_ERR_BAD_FILE when its
 * shard is missing or short, its size disagrees with its dtype and shape, or its CRC-32C does not
 * match; KRT_ERR_UNSUPPORTED for a partitioned (sliced) variable, a string tensor (use
 * tf_bundle_read_string) or a dtype of no fixed size. */
krt_status *tf_bundle_read(tf_bundle *b, const char *key, tf_bundle_tensor *out);

/* A scalar string tensor (the checkpoint's object graph): its bytes, malloc'd, into *data. */
krt_status *tf_bundle_read_string(tf_bundle *b, const char *key, uint8_t **data, size_t *size);

/* CRC-32C (Castagnoli) of data[0..n), and LevelDB's mask of a CRC (stored CRCs are masked so that
 * a CRC of data holding CRCs stays well distributed). Exposed for the tests. */
uint32_t tf_crc32c(const uint8_t *data, size_t n);
uint32_t tf_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n);
uint32_t tf_crc32c_mask(uint32_t crc);

#endif
