/* Little-endian byte writer and bounds-checked byte reader for the engine file.
 *
 * Both are "sticky": after the first failure (out of memory while writing, reading past the end)
 * every further call does nothing, so a run of puts/gets is checked once at its end. Values are
 * assembled byte by byte, so the host's endianness and alignment never matter.
 */
#ifndef KRT_FORMAT_BYTES_H
#define KRT_FORMAT_BYTES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A string length that stands for NULL (optional strings such as a node's fused names). */
#define BYTES_NULL_STRING UINT32_MAX

typedef struct byte_writer {
  uint8_t *data;
  size_t size, cap;
  int failed; /* out of memory */
} byte_writer;

static inline int bw_reserve(byte_writer *w, size_t n) {
  if (w->failed) return 0;
  if (n > SIZE_MAX - w->size) return (w->failed = 1, 0);
  if (w->size + n <= w->cap) return 1;
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->size + n) cap = cap > SIZE_MAX / 2 ? w->size + n : cap * 2;
  uint8_t *p = realloc(w->data, cap);
  if (!p) return (w->failed = 1, 0);
  w->data = p;
  w->cap = cap;
  return 1;
}

static inline void bw_bytes(byte_writer *w, const void *src, size_t n) {
  if (!n || !bw_reserve(w, n)) return;
  memcpy(w->data + w->size, src, n);
  w->size += n;
}

static inline void bw_zeros(byte_writer *w, size_t n) {
  if (!n || !bw_reserve(w, n)) return;
  memset(w->data + w->size, 0, n);
  w->size += n;
}

/* Zero bytes up to the next multiple of `alignment`. */
static inline void bw_align(byte_writer *w, size_t alignment) {
  bw_zeros(w, (alignment - w->size % alignment) % alignment);
}

static inline void bw_u32(byte_writer *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  bw_bytes(w, b, 4);
}

static inline void bw_u64(byte_writer *w, uint64_t v) {
  bw_u32(w, (uint32_t)v);
  bw_u32(w, (uint32_t)(v >> 32));
}

static inline void bw_i32(byte_writer *w, int32_t v) { bw_u32(w, (uint32_t)v); }
static inline void bw_i64(byte_writer *w, int64_t v) { bw_u64(w, (uint64_t)v); }

static inline void bw_f32(byte_writer *w, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  bw_u32(w, bits);
}

/* u32 length (BYTES_NULL_STRING for NULL), then the bytes, no terminator. */
static inline void bw_string(byte_writer *w, const char *s) {
  if (!s) {
    bw_u32(w, BYTES_NULL_STRING);
    return;
  }
  size_t n = strlen(s);
  if (n >= BYTES_NULL_STRING) {
    w->failed = 1;
    return;
  }
  bw_u32(w, (uint32_t)n);
  bw_bytes(w, s, n);
}

/* Patches a u32 already written at `at`. */
static inline void bw_patch_u32(byte_writer *w, size_t at, uint32_t v) {
  if (w->failed || at > w->size || w->size - at < 4) return;
  for (int i = 0; i < 4; i++) w->data[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static inline void bw_patch_u64(byte_writer *w, size_t at, uint64_t v) {
  bw_patch_u32(w, at, (uint32_t)v);
  bw_patch_u32(w, at + 4, (uint32_t)(v >> 32));
}

typedef struct byte_reader {
  const uint8_t *data;
  size_t size, pos;
  int failed; /* read past the end */
} byte_reader;

static inline size_t br_remaining(const byte_reader *r) { return r->failed ? 0 : r->size - r->pos; }

/* A pointer to the next n bytes, or NULL (and failed) when fewer remain. */
static inline const uint8_t *br_take(byte_reader *r, size_t n) {
  if (r->failed || n > r->size - r->pos) {
    r->failed = 1;
    return NULL;
  }
  const uint8_t *p = r->data + r->pos;
  r->pos += n;
  return p;
}

static inline uint32_t br_u32(byte_reader *r) {
  const uint8_t *b = br_take(r, 4);
  if (!b) return 0;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t br_u64(byte_reader *r) {
  uint64_t lo = br_u32(r);
  uint64_t hi = br_u32(r);
  return lo | hi << 32;
}

static inline int32_t br_i32(byte_reader *r) {
  uint32_t u = br_u32(r);
  int32_t v;
  memcpy(&v, &u, 4); /* two's complement reinterpretation, without implementation-defined casts */
  return v;
}

static inline int64_t br_i64(byte_reader *r) {
  uint64_t u = br_u64(r);
  int64_t v;
  memcpy(&v, &u, 8);
  return v;
}

static inline float br_f32(byte_reader *r) {
  uint32_t bits = br_u32(r);
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

/* Reads a length-prefixed string into a new malloc'd, NUL-terminated copy. Returns 1 on success
 * (*out NULL for a NULL string); 0 when it runs past the end (r->failed), contains a NUL byte or
 * the copy cannot be allocated (*oom set). */
static inline int br_string(byte_reader *r, char **out, int *oom) {
  *out = NULL;
  uint32_t n = br_u32(r);
  if (r->failed) return 0;
  if (n == BYTES_NULL_STRING) return 1;
  const uint8_t *p = br_take(r, n);
  if (!p || memchr(p, 0, n)) return 0;
  char *s = malloc((size_t)n + 1);
  if (!s) return (*oom = 1, 0);
  memcpy(s, p, n);
  s[n] = '\0';
  *out = s;
  return 1;
}

#endif
