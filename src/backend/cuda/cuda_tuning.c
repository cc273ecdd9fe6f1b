/* The tuning table: which implementation each library-backed node uses on which GPU, its
 * serialisation (the engine's TUNING section and the timing cache file) and the node keys.
 *
 * Every entry is keyed by (context, node key). The context names the GPU and the library
 * versions the choice was measured with, "NVIDIA H100 80GB HBM3|cudnn 91900|cublasLt 130000", so
 * a cuDNN engine index or a serialised cuBLASLt algorithm is only ever trusted by the same GPU
 * and libraries that produced it. Entries of other contexts are kept (an engine tuned on several
 * GPUs keeps them all) but never found.
 *
 * Serialised form, little-endian:
 *   magic "KRTTUNE1" (8 bytes), u32 format version (1), u32 n_entries, then n_entries x
 *   { str context, str key, i32 kind, i64 id, u32 n_knobs, u8 knobs[64], f64 ms }
 *   where str = u32 length + that many bytes (no terminator), each length < 4096.
 * Every length and count is checked against the bytes left before anything is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_prepare.h"
#include "core/status.h"

#define TUNING_MAGIC "KRTTUNE1"
#define TUNING_VERSION 1u
#define TUNING_MAX_STR 4096u
/* Bytes an entry takes at least (two empty strings): lengths, kind, id, n_knobs, knobs, ms. */
#define TUNING_MIN_ENTRY (4u + 4u + 4u + 8u + 4u + 64u + 8u)

typedef struct tuning_entry {
  char *context;
  char *key;
  cuda_choice choice;
} tuning_entry;

struct cuda_tuning {
  char *context; /* this process's GPU and library versions */
  tuning_entry *entries;
  size_t n, cap;
};

static char *copy_string(const char *s, size_t len) {
  char *c = malloc(len + 1);
  if (!c) return NULL;
  memcpy(c, s, len);
  c[len] = '\0';
  return c;
}

krt_status *cuda_tuning_create(const char *device_name, cuda_tuning **out) {
  *out = NULL;
  char context[512];
  snprintf(context, sizeof context, "%s|cudnn %zu|cublasLt %zu", device_name ? device_name : "",
           cudnnGetVersion(), cublasLtGetVersion());
  cuda_tuning *t = calloc(1, sizeof *t);
  if (!t || !(t->context = copy_string(context, strlen(context)))) {
    free(t);
    return krt_error_oom("the CUDA tuning table");
  }
  *out = t;
  return NULL;
}

void cuda_tuning_free(cuda_tuning *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) {
    free(t->entries[i].context);
    free(t->entries[i].key);
  }
  free(t->entries);
  free(t->context);
  free(t);
}

static tuning_entry *find_entry(const cuda_tuning *t, const char *context, const char *key) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->entries[i].key, key) && !strcmp(t->entries[i].context, context))
      return &t->entries[i];
  return NULL;
}

const cuda_choice *cuda_tuning_find(const cuda_tuning *t, const char *key) {
  if (!t || !key) return NULL;
  tuning_entry *e = find_entry(t, t->context, key);
  return e ? &e->choice : NULL;
}

/* Adds or replaces the entry (context, key); `replace` 0 keeps an existing one. */
static krt_status *put_entry(cuda_tuning *t, const char *context, size_t context_len,
                             const char *key, size_t key_len, const cuda_choice *choice,
                             int replace) {
  char *c = copy_string(context, context_len), *k = copy_string(key, key_len);
  if (!c || !k) {
    free(c);
    free(k);
    return krt_error_oom("a CUDA tuning entry");
  }
  tuning_entry *e = find_entry(t, c, k);
  if (e) {
    if (replace) e->choice = *choice;
    free(c);
    free(k);
    return NULL;
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 32;
    tuning_entry *grown = realloc(t->entries, cap * sizeof *grown);
    if (!grown) {
      free(c);
      free(k);
      return krt_error_oom("the CUDA tuning table");
    }
    t->entries = grown;
    t->cap = cap;
  }
  t->entries[t->n].context = c;
  t->entries[t->n].key = k;
  t->entries[t->n].choice = *choice;
  t->n++;
  return NULL;
}

krt_status *cuda_tuning_put(cuda_tuning *t, const char *key, const cuda_choice *choice) {
  if (!t || !key || !choice)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "cuda_tuning_put: NULL argument");
  if (choice->kind < CUDA_IMPL_CUDNN_GRAPH || choice->kind > CUDA_IMPL_KRT_KERNEL)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "cuda_tuning_put: implementation kind %d",
                     choice->kind);
  if (strlen(key) >= TUNING_MAX_STR)
    return krt_error(KRT_ERR_INTERNAL, "tuning key of %zu bytes is too long", strlen(key));
  cuda_choice c = *choice;
  if (c.n_knobs < 0 || c.n_knobs > (int)sizeof c.knobs) c.n_knobs = 0;
  return put_entry(t, t->context, strlen(t->context), key, strlen(key), &c, 1);
}

/* ---- serialisation -------------------------------------------------------------------------- */

typedef struct writer {
  unsigned char *p;
  size_t len;
} writer;

static void put_bytes(writer *w, const void *src, size_t n) {
  if (w->p) memcpy(w->p + w->len, src, n);
  w->len += n;
}
static void put_u32(writer *w, uint32_t v) {
  unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 24)};
  put_bytes(w, b, 4);
}
static void put_u64(writer *w, uint64_t v) {
  put_u32(w, (uint32_t)v);
  put_u32(w, (uint32_t)(v >> 32));
}
static void put_str(writer *w, const char *s) {
  size_t n = strlen(s);
  put_u32(w, (uint32_t)n);
  put_bytes(w, s, n);
}

/* Two passes: the first (w->p NULL) measures, the second writes. */
static void write_table(const cuda_tuning *t, writer *w) {
  put_bytes(w, TUNING_MAGIC, 8);
  put_u32(w, TUNING_VERSION);
  put_u32(w, (uint32_t)t->n);
  for (size_t i = 0; i < t->n; i++) {
    const tuning_entry *e = &t->entries[i];
    uint64_t ms_bits;
    memcpy(&ms_bits, &e->choice.ms, 8);
    put_str(w, e->context);
    put_str(w, e->key);
    put_u32(w, (uint32_t)e->choice.kind);
    put_u64(w, (uint64_t)e->choice.id);
    put_u32(w, (uint32_t)e->choice.n_knobs);
    put_bytes(w, e->choice.knobs, sizeof e->choice.knobs);
    put_u64(w, ms_bits);
  }
}

krt_status *cuda_tuning_save(const cuda_tuning *t, void **data, size_t *size) {
  *data = NULL;
  *size = 0;
  if (!t) return krt_error(KRT_ERR_INVALID_ARGUMENT, "cuda_tuning_save: NULL table");
  writer w = {NULL, 0};
  write_table(t, &w);
  w.p = malloc(w.len);
  if (!w.p) return krt_error_oom("the serialised CUDA tuning table");
  w.len = 0;
  write_table(t, &w);
  *data = w.p;
  *size = w.len;
  return NULL;
}

typedef struct reader {
  const unsigned char *p;
  size_t left;
} reader;

static int get_u32(reader *r, uint32_t *v) {
  if (r->left < 4) return 0;
  *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
       (uint32_t)r->p[3] << 24;
  r->p += 4;
  r->left -= 4;
  return 1;
}
static int get_u64(reader *r, uint64_t *v) {
  uint32_t lo, hi;
  if (!get_u32(r, &lo) || !get_u32(r, &hi)) return 0;
  *v = (uint64_t)hi << 32 | lo;
  return 1;
}
static int get_str(reader *r, const char **s, size_t *len) {
  uint32_t n;
  if (!get_u32(r, &n) || n >= TUNING_MAX_STR || n > r->left) return 0;
  *s = (const char *)r->p;
  *len = n;
  r->p += n;
  r->left -= n;
  return memchr(*s, '\0', n) == NULL; /* keys are text */
}

/* Parses data into t (entries already in t win unless `replace`). */
static krt_status *parse_into(cuda_tuning *t, const void *data, size_t size, int replace) {
  reader r = {data, size};
  uint32_t version, n;
  if (size < 16 || memcmp(data, TUNING_MAGIC, 8))
    return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: bad magic or shorter than its header");
  r.p += 8;
  r.left -= 8;
  get_u32(&r, &version);
  get_u32(&r, &n);
  if (version != TUNING_VERSION)
    return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: version %u, expected %u", version,
                     TUNING_VERSION);
  if (n > r.left / TUNING_MIN_ENTRY)
    return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: %u entries cannot fit in %zu bytes", n,
                     r.left);
  for (uint32_t i = 0; i < n; i++) {
    const char *context, *key;
    size_t context_len, key_len;
    uint32_t kind, n_knobs;
    uint64_t id, ms_bits;
    cuda_choice c;
    memset(&c, 0, sizeof c);
    if (!get_str(&r, &context, &context_len) || !get_str(&r, &key, &key_len) ||
        !get_u32(&r, &kind) || !get_u64(&r, &id) || !get_u32(&r, &n_knobs) ||
        r.left < sizeof c.knobs)
      return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: entry %u is truncated or malformed",
                       i);
    memcpy(c.knobs, r.p, sizeof c.knobs);
    r.p += sizeof c.knobs;
    r.left -= sizeof c.knobs;
    if (!get_u64(&r, &ms_bits))
      return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: entry %u is truncated", i);
    if (kind < CUDA_IMPL_CUDNN_GRAPH || kind > CUDA_IMPL_KRT_KERNEL || n_knobs > sizeof c.knobs)
      return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: entry %u has kind %u, %u knobs", i,
                       kind, n_knobs);
    c.kind = (int)kind;
    c.id = (int64_t)id;
    c.n_knobs = (int)n_knobs;
    memcpy(&c.ms, &ms_bits, 8);
    KRT_TRY(put_entry(t, context, context_len, key, key_len, &c, replace));
  }
  if (r.left)
    return krt_error(KRT_ERR_BAD_FILE, "CUDA tuning data: %zu bytes after the last entry", r.left);
  return NULL;
}

krt_status *cuda_tuning_load(const void *data, size_t size, const char *device_name,
                             cuda_tuning **out) {
  *out = NULL;
  cuda_tuning *t;
  KRT_TRY(cuda_tuning_create(device_name, &t));
  if (size == 0) { /* an engine built without tuning: an empty table */
    *out = t;
    return NULL;
  }
  krt_status *s = data ? parse_into(t, data, size, 1)
                       : krt_error(KRT_ERR_INVALID_ARGUMENT, "cuda_tuning_load: NULL data");
  if (s) {
    cuda_tuning_free(t);
    return s;
  }
  *out = t;
  return NULL;
}

/* The cache is a convenience: a missing, unreadable or corrupt file merges nothing and is no
 * error (it is rewritten after tuning). Only running out of memory is reported. */
krt_status *cuda_tuning_merge_file(cuda_tuning *t, const char *path) {
  if (!t || !path) return NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  size_t size = 0, cap = 0;
  for (;;) {
    if (size == cap) {
      if (cap >= (64u << 20)) break; /* no sane cache is this large */
      size_t grown_cap = cap ? cap * 2 : 65536;
      unsigned char *grown = realloc(buf, grown_cap);
      if (!grown) {
        free(buf);
        fclose(f);
        return krt_error_oom("the timing cache file");
      }
      buf = grown;
      cap = grown_cap;
    }
    size_t got = fread(buf + size, 1, cap - size, f);
    size += got;
    if (got == 0) break;
  }
  int read_error = ferror(f);
  fclose(f);
  if (!read_error) {
    /* Parse into a scratch table first, so a file corrupt half-way merges nothing. */
    cuda_tuning *scratch;
    krt_status *s = cuda_tuning_create("", &scratch);
    if (s) {
      free(buf);
      return s;
    }
    s = parse_into(scratch, buf, size, 1);
    if (!s) {
      for (size_t i = 0; i < scratch->n && !s; i++) {
        const tuning_entry *e = &scratch->entries[i];
        s = put_entry(t, e->context, strlen(e->context), e->key, strlen(e->key), &e->choice, 0);
      }
    } else if (krt_status_code(s) == KRT_ERR_BAD_FILE) {
      krt_status_release(s);
      s = NULL;
    }
    cuda_tuning_free(scratch);
    free(buf);
    return s;
  }
  free(buf);
  return NULL;
}

/* Written to PATH.tmp and renamed, so a reader never sees half a file. */
krt_status *cuda_tuning_write_file(const cuda_tuning *t, const char *path) {
  if (!t || !path) return NULL;
  void *data;
  size_t size;
  KRT_TRY(cuda_tuning_save(t, &data, &size));
  size_t tmp_len = strlen(path) + 5;
  char *tmp = malloc(tmp_len);
  if (!tmp) {
    free(data);
    return krt_error_oom("the timing cache path");
  }
  snprintf(tmp, tmp_len, "%s.tmp", path);
  krt_status *s = NULL;
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    s = krt_error(KRT_ERR_IO, "timing cache '%s': cannot create '%s'", path, tmp);
  } else {
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
      remove(tmp);
      s = krt_error(KRT_ERR_IO, "timing cache '%s': cannot write it", path);
    }
  }
  free(tmp);
  free(data);
  return s;
}

/* ---- node keys ------------------------------------------------------------------------------ */

static size_t append(char *key, size_t size, size_t at, const char *fmt, ...) KRT_PRINTF(4, 5);
static size_t append(char *key, size_t size, size_t at, const char *fmt, ...) {
  if (at >= size) return at;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(key + at, size - at, fmt, ap);
  va_end(ap);
  return n < 0 ? at : at + (size_t)n;
}

static size_t append_value(const ir_graph *g, int id, int64_t batch, char *key, size_t size,
                           size_t at) {
  const ir_value *v = &g->values[id];
  at = append(key, size, at, "[");
  for (int i = 0; i < v->rank; i++) {
    int64_t d = (i == 0 && v->batched) ? batch : v->dims[i];
    at = append(key, size, at, "%s%lld", i ? "x" : "", (long long)d);
  }
  return append(key, size, at, "]");
}

static size_t append_ints(const int *a, int n, char *key, size_t size, size_t at) {
  for (int i = 0; i < n; i++) at = append(key, size, at, "%s%d", i ? "x" : "", a[i]);
  return at;
}

/* "Conv x[32x56x56x64] w[3x3x64x64] b r0 k3x3 s1x1 d1x1 p1x1/1x1 g1 relu(0,0,inf,0) fp16".
 * Everything that changes which implementation is fastest or valid is in it (the precision:
 * fp32, fp16 or tf32, so an FP32 engine never takes a TF32 choice); the weights' values are
 * not. */
void cuda_node_key(const ir_graph *g, const ir_node *n, int64_t batch, krt_precision precision,
                   int64_t out_pitch, char *key, size_t size) {
  if (!size) return;
  key[0] = '\0';
  size_t at = append(key, size, 0, "%s x", ir_op_name(n->op));
  if (n->n_inputs > 0) at = append_value(g, n->inputs[0], batch, key, size, at);
  if (n->n_inputs > 1) {
    at = append(key, size, at, " w");
    at = append_value(g, n->inputs[1], batch, key, size, at);
  }
  at = append(key, size, at, " %s r%d", n->n_inputs > 2 ? "b" : "nob", n->attrs.residual);
  if (n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE) {
    int sp = n->attrs.spatial;
    at = append(key, size, at, " k");
    at = append_ints(n->attrs.kernel, sp, key, size, at);
    at = append(key, size, at, " s");
    at = append_ints(n->attrs.stride, sp, key, size, at);
    at = append(key, size, at, " d");
    at = append_ints(n->attrs.dilation, sp, key, size, at);
    at = append(key, size, at, " p");
    for (int i = 0; i < sp; i++)
      at = append(key, size, at, "%s%lld", i ? "x" : "", (long long)n->attrs.pad_begin[i]);
    at = append(key, size, at, "/");
    for (int i = 0; i < sp; i++)
      at = append(key, size, at, "%s%lld", i ? "x" : "", (long long)n->attrs.pad_end[i]);
    at = append(key, size, at, " g%d", n->attrs.groups);
  }
  const ir_activation *a = &n->attrs.act;
  at = append(key, size, at, " %s(%g,%g,%g,%g) %s", ir_act_name(a->kind), a->alpha, a->beta,
              a->max_value, a->threshold,
              precision == KRT_PRECISION_FP16   ? "fp16"
              : precision == KRT_PRECISION_TF32 ? "tf32"
                                                : "fp32");
  /* Writing into a Concat's output: other engines apply (or none does), other times. */
  if (out_pitch) at = append(key, size, at, " pitch%lld", (long long)out_pitch);
  (void)at;
}

int64_t cuda_output_pitch(const cuda_prepare_ctx *ctx, const ir_node *n) {
  const krt_plan *p = ctx->plan;
  if (!p || !p->view_of || n->n_outputs != 1 || n->outputs[0] < 0 || n->outputs[0] >= p->n_values)
    return 0;
  return p->view_of[n->outputs[0]] >= 0 ? p->view_pitch[n->outputs[0]] : 0;
}

void cuda_node_key_ctx(const cuda_prepare_ctx *ctx, const ir_node *n, int64_t batch, char *key,
                       size_t size) {
  cuda_node_key(ctx->graph, n, batch, ctx->precision, cuda_output_pitch(ctx, n), key, size);
}
