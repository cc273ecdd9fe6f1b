/* Private details of the .krt layout shared by the writer, the reader and their tests. The
 * specification is the comment in engine_file.h; these are its numbers. */
#ifndef KRT_FORMAT_ENGINE_FILE_LAYOUT_H
#define KRT_FORMAT_ENGINE_FILE_LAYOUT_H

#include "format/bytes.h"
#include "ir/graph.h"

/* Header fields: byte offsets from the start of the file. */
#define ENGINE_HEADER_SIZE 64
#define ENGINE_OFF_MAGIC 0
#define ENGINE_OFF_VERSION 8
#define ENGINE_OFF_HEADER_SIZE 12
#define ENGINE_OFF_FILE_SIZE 16
#define ENGINE_OFF_CRC 24
#define ENGINE_OFF_N_SECTIONS 28
#define ENGINE_OFF_TABLE 32
#define ENGINE_OFF_RESERVED 40

/* Section table entries: u32 kind, u32 reserved (0), u64 offset, u64 size. Version 1 and 2 files hold
 * exactly one section of each kind, in this order. */
#define ENGINE_SECTION_ENTRY_SIZE 24
enum engine_section_kind {
  ENGINE_SECTION_META = 1,
  ENGINE_SECTION_GRAPH = 2,
  ENGINE_SECTION_WEIGHTS = 3,
  ENGINE_SECTION_TUNING = 4
};
#define ENGINE_SECTION_COUNT 4

/* Fewest bytes each GRAPH record can take (all strings empty, no node inputs), so a count read
 * from a file can be checked against the bytes left before anything is allocated. */
#define ENGINE_VALUE_MIN_BYTES 44
#define ENGINE_LAYER_MIN_BYTES 20
#define ENGINE_NODE_MIN_BYTES 32 /* one output, no attribute records */
#define ENGINE_OUTPUT_MIN_BYTES 8

/* Dimensions above this are refused on reading: no real tensor has them, and it keeps every
 * later product of a few dimensions far from int64 overflow. */
#define ENGINE_MAX_DIM ((int64_t)1 << 40)

/* zlib CRC-32 of size bytes (any size). */
uint32_t engine_crc32(const uint8_t *data, size_t size);

/* The attributes of a node of op `op`: the key/value records of engine_file_attrs.c. */
void engine_attrs_write(byte_writer *w, ir_op op, const ir_attrs *a);
/* Reads what engine_attrs_write wrote into *a (fields the op does not read are zero, its
 * activation NONE). Returns 1, or 0 with a description in why (empty when the section ended:
 * r->failed is set then). */
int engine_attrs_read(byte_reader *r, ir_op op, ir_attrs *a, char *why, size_t why_size);
/* A value's properties, in the same records: none is defined yet (quantisation parameters and
 * dimension ranges will be), so any record is refused by its key. Returns 1 for none. */
int engine_value_props_read(byte_reader *r, char *why, size_t why_size);

#endif
