/* A small test harness: CHECK records a failure and goes on; main returns test_summary(). */
#ifndef KRT_TESTS_TEST_H
#define KRT_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "krt.h"

static int test_failures = 0;
static int test_checks = 0;

#define CHECK(cond)                                                         \
  do {                                                                      \
    test_checks++;                                                          \
    if (!(cond)) {                                                          \
      test_failures++;                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                       \
  } while (0)

/* Checks that a krt call succeeded; prints its message and releases it otherwise. */
#define CHECK_OK(call)                                                                      \
  do {                                                                                      \
    test_checks++;                                                                          \
    krt_status *check_s_ = (call);                                                          \
    if (check_s_) {                                                                         \
      test_failures++;                                                                      \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,                 \
              krt_status_message(check_s_));                                                \
      krt_status_release(check_s_);                                                         \
    }                                                                                       \
  } while (0)

/* Checks that a krt call failed with this code and that its message contains `needle`. */
#define CHECK_ERR(call, code, needle)                                                       \
  do {                                                                                      \
    test_checks++;                                                                          \
    krt_status *check_s_ = (call);                                                          \
    if (!check_s_ || krt_status_code(check_s_) != (code) ||                                 \
        !strstr(krt_status_message(check_s_), (needle))) {                                  \
      test_failures++;                                                                      \
      fprintf(stderr, "%s:%d: %s: expected %s containing \"%s\", got %s: %s\n", __FILE__,  \
              __LINE__, #call, krt_code_name(code), (needle),                               \
              check_s_ ? krt_code_name(krt_status_code(check_s_)) : "success",              \
              krt_status_message(check_s_));                                                \
    }                                                                                       \
    krt_status_release(check_s_);                                                           \
  } while (0)

#define CHECK_NEAR(a, b, tol) CHECK(fabs((double)(a) - (double)(b)) <= (tol))

static inline int test_summary(const char *name) {
  printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
  return test_failures ? 1 : 0;
}

#endif
