/* Internal side of krt_status: how library code makes and extends errors. */
#ifndef KRT_CORE_STATUS_H
#define KRT_CORE_STATUS_H

#include <stdarg.h>

#include "krt.h"

#if defined(__GNUC__)
#define KRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KRT_PRINTF(a, b)
#endif

/* A new status with a printf-style message. Never returns NULL: when even the status cannot be
 * allocated, a static out-of-memory status is returned (its release is a no-op). */
krt_status *krt_error(krt_code code, const char *fmt, ...) KRT_PRINTF(2, 3);

/* Prefixes context to an existing error ("model.h5: layer 'conv1': " + old message) and returns
 * it. NULL in, NULL out, so it can wrap any call: return krt_error_wrap(f(), "...", ...). */
krt_status *krt_error_wrap(krt_status *status, const char *fmt, ...) KRT_PRINTF(2, 3);

/* The shared out-of-memory status, for places that must not allocate. */
krt_status *krt_error_oom(const char *what);

/* Propagate a failure to the caller. */
#define KRT_TRY(expr)                \
  do {                               \
    krt_status *krt_try_s_ = (expr); \
    if (krt_try_s_) return krt_try_s_; \
  } while (0)

#endif
