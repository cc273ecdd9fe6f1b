#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct krt_status {
  krt_code code;
  int is_static;
  char message[];
};

/* Returned when a status itself cannot be allocated. */
static struct {
  krt_code code;
  int is_static;
  char message[64];
} oom_status = {KRT_ERR_OUT_OF_MEMORY, 1, "out of memory"};

krt_status *krt_error_oom(const char *what) {
  (void)what;
  return (krt_status *)&oom_status;
}

static krt_status *status_vformat(krt_code code, const char *prefix, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  size_t plen = prefix ? strlen(prefix) : 0;
  krt_status *s = malloc(sizeof *s + plen + (size_t)n + 1);
  if (!s) return krt_error_oom(NULL);
  s->code = code;
  s->is_static = 0;
  vsnprintf(s->message, (size_t)n + 1, fmt, ap);
  if (prefix) {
    memmove(s->message + plen, s->message, (size_t)n + 1);
    memcpy(s->message, prefix, plen);
  }
  return s;
}

krt_status *krt_error(krt_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  krt_status *s = status_vformat(code, NULL, fmt, ap);
  va_end(ap);
  return s;
}

krt_status *krt_error_wrap(krt_status *status, const char *fmt, ...) {
  if (!status) return NULL;
  if (status->is_static) return status;
  va_list ap;
  va_start(ap, fmt);
  krt_status *s = status_vformat(status->code, NULL, fmt, ap);
  va_end(ap);
  if (s->is_static) return status;
  size_t a = strlen(s->message), b = strlen(status->message);
  krt_status *joined = malloc(sizeof *joined + a + b + 1);
  if (!joined) {
    free(s);
    return status;
  }
  joined->code = status->code;
  joined->is_static = 0;
  memcpy(joined->message, s->message, a);
  memcpy(joined->message + a, status->message, b + 1);
  free(s);
  free(status);
  return joined;
}

krt_code krt_status_code(const krt_status *status) { return status ? status->code : KRT_OK; }

const char *krt_status_message(const krt_status *status) { return status ? status->message : ""; }

void krt_status_release(krt_status *status) {
  if (status && !status->is_static) free(status);
}

const char *krt_code_name(krt_code code) {
  switch (code) {
    case KRT_OK: return "ok";
    case KRT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case KRT_ERR_NOT_FOUND: return "not found";
    case KRT_ERR_IO: return "i/o error";
    case KRT_ERR_BAD_FILE: return "bad file";
    case KRT_ERR_VERSION: return "version mismatch";
    case KRT_ERR_UNSUPPORTED: return "unsupported";
    case KRT_ERR_SHAPE: return "shape error";
    case KRT_ERR_OUT_OF_MEMORY: return "out of memory";
    case KRT_ERR_DEVICE: return "device error";
    case KRT_ERR_INTERNAL: return "internal error";
  }
  return "unknown error";
}

void krt_free(void *ptr) { free(ptr); }
