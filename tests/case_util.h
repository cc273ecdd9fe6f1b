/* Helpers of the case runner (run_cases.c, case_check.c): bounded string building, files, and
 * the elementwise comparison every case uses. Test code, not part of the library. */
#ifndef KRT_TESTS_CASE_UTIL_H
#define KRT_TESTS_CASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "krt.h"

#define PATH_SIZE 4096
#define MESSAGE_SIZE 2048

/* Appends printf-style text to a fixed buffer, truncating (never overflowing). */
void append(char *buf, size_t size, const char *fmt, ...);
/* out = dir/name in a PATH_SIZE buffer; 0 when it does not fit. */
int join_path(char *out, const char *dir, const char *name);
int is_file(const char *path);
int is_dir(const char *path);
/* A whole file, NUL-terminated, malloc'd; NULL (errno set) on failure. */
char *read_text_file(const char *path);
/* "code name: message" of a krt status into buf; releases the status. */
const char *take_message(krt_status *status, char *buf, size_t size);

double element_as_double(krt_dtype dtype, const void *data, int64_t i);
int64_t element_count(int rank, const int64_t *dims);
/* "(2, 3, 4)" */
void format_dims(char *buf, size_t size, int rank, const int64_t *dims);

/* |got - expected| <= atol + rtol * |expected| for each element; NaN never passes. */
typedef struct comparison {
  double max_abs_error;
  int64_t mismatches;
  int64_t worst_index; /* the element furthest outside its tolerance, -1 when all pass */
  double worst_got, worst_expected;
} comparison;

comparison compare_values(krt_dtype got_type, const void *got, krt_dtype exp_type,
                          const void *expected, int64_t count, double rtol, double atol);
/* Appends "WHAT: n of m values differ (max abs error ...; worst at ...)" to buf. */
void describe_mismatch(char *buf, size_t size, const char *what, const comparison *c,
                       int64_t count);

#endif
