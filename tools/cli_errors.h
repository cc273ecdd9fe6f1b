/* How every krt subcommand reports an error: one line "krt: <reason>" on stderr, exit status 1. */
#ifndef KRT_TOOLS_CLI_ERRORS_H
#define KRT_TOOLS_CLI_ERRORS_H

#include "krt.h"

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Prints "krt: " + the formatted reason; returns 1 (the exit status). */
int cli_fail(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints a failed call's message and releases it; returns 1 for a failure, 0 for success (NULL). */
int cli_failed(krt_status *s);

#endif
