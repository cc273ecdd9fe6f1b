#include "cli_errors.h"

#include <stdarg.h>
#include <stdio.h>

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("krt: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int cli_failed(krt_status *s) {
  if (!s) return 0;
  fprintf(stderr, "krt: %s\n", krt_status_message(s));
  krt_status_release(s);
  return 1;
}
