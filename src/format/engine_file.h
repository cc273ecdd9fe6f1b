/* The .krt engine file: a built, optimised graph with its weights, ready to load and run.
 *
 * Layout (all integers little-endian; offsets from the start of the file; u32/i32/u64/i64 fixed
 * width; f32 = the IEEE-754 bits as a u32; str = u32 byte length then the bytes, no terminator,
 * no NUL inside; length 0xFFFFFFFF stands for an absent (NULL) string):
 *
 *   header (64 bytes)
 *     magic        8 bytes   "KRTENGN\0"
 *     version      u32       KRT_ENGINE_FORMAT_VERSION; a reader refuses any other
 *     header_size  u32       64
 *     file_size    u64       total bytes, checked against the bytes actually present
 *     crc32        u32       zlib CRC-32 of every byte after the header (bytes 64 .. file_size)
 *     n_sections   u32       4
 *     table_offset u64       64: the section table follows the header
 *     reserved     24 bytes  zero (checked, since the CRC does not cover the header)
 *   section table: n_sections x {u32 kind, u32 reserved (0), u64 offset, u64 size}, one section of
 *   each kind in the order META (1), GRAPH (2), WEIGHTS (3), TUNING (4); sizes are exact (padding
 *   between sections is zero and not counted)
 *   sections, each starting at a multiple of 64:
 *     META     u32 device, u32 precision (krt_precision: 0 FP32, 1 FP16, 2 TF32), i64 max_batch,
 *              str device_name (the device tuned on, "" for the CPU; < 128 bytes),
 *              str krt_version (the krt that wrote it; < 32 bytes)
 *     GRAPH    u32 n_values, n_nodes, n_layers, n_inputs, n_outputs; str source (nullable); then
 *              values:  str name, u32 dtype, u32 rank, i64 dims[rank], u32 batched, u32 layout,
 *                       i32 producer (node index or -1), i64 data_offset (constants: byte offset
 *                       of the data inside WEIGHTS, a multiple of 64; -1 for other values),
 *                       u64 data_bytes (constants: 4 x product of dims; else 0),
 *                       properties (u32 n_records, then records as a node's attributes: none
 *                       is defined in version 2, so n_records is 0)
 *              layers:  str name, str class_name, i32 output (value id or -1), i64 param_count
 *              nodes:   u32 op (ops.def id), str name, i32 layer (or -1), u32 n_inputs,
 *                       i32 inputs[n_inputs] (value ids), u32 n_outputs (within the op's
 *                       range, ops.def: 1 for most, 1..64 for Split), i32 outputs[n_outputs]
 *                       (value ids, in the op's output order; a value's producer_output is its
 *                       place here), attributes
 *                       (u32 n_records, then {str key, u32 type, u32 count, values} for each
 *                       field the op reads: engine_file_attrs.c), str fused (nullable)
 *              inputs:  i32 value id each
 *              outputs: i32 value id, str published name
 *     WEIGHTS  every constant's float32 data, each at a multiple of 64 so the file can be
 *              memory-mapped and the constants used in place
 *     TUNING   per-device data a backend chose at build time (opaque to the format; may be empty)
 *
 * Every count, offset and size read from a file is checked against the file's bounds before use
 * (a count against the bytes its records need at least, before anything is allocated); enum
 * values, ids, and node order (each node reads only graph inputs, constants and earlier nodes'
 * outputs) are checked; shapes are re-inferred and must equal the stored ones. A truncated,
 * corrupted or wrong-version file gives KRT_ERR_BAD_FILE / KRT_ERR_VERSION with a message saying
 * what was wrong and where. Adding or changing any field means a new format version.
 */
#ifndef KRT_FORMAT_ENGINE_FILE_H
#define KRT_FORMAT_ENGINE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

#define KRT_ENGINE_MAGIC "KRTENGN"
#define KRT_ENGINE_FORMAT_VERSION 2u
#define KRT_ENGINE_ALIGNMENT 64

typedef struct engine_meta {
  krt_device device;
  krt_precision precision;
  int64_t max_batch;
  char device_name[128];  /* the GPU tuned on ("" for the CPU) */
  char krt_version[32];   /* the krt that wrote the file */
  const void *tuning;     /* backend tuning blob: write: borrowed; read: points into the buffer */
  size_t tuning_size;
} engine_meta;

/* "FP32", "FP16", "TF32" (static storage); NULL for a value the format does not know, which a
 * reader refuses. */
const char *engine_precision_name(krt_precision precision);

/* Serialises g and meta into one malloc'd buffer (*data, freed with free()). An empty
 * meta->krt_version is written as this krt's version. */
krt_status *engine_file_write(const ir_graph *g, const engine_meta *meta, void **data,
                              size_t *size);

/* Parses and checks a serialised engine. The graph's constants point into `data` (owns_data = 0),
 * so data must outlive the graph, as must meta->tuning. data must be at least 4-byte aligned
 * (malloc'd or mmap'd; KRT_ERR_INVALID_ARGUMENT otherwise) so the constants are read in place.
 * `what` names the source in messages (a path, or "memory"). Shapes are re-inferred and checked
 * after reading. */
krt_status *engine_file_read(const void *data, size_t size, const char *what, ir_graph **graph,
                             engine_meta *meta);

#endif
