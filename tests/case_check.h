/* One case of the case runner: reads its case.json and npy files, runs the model through krt's
 * public API and compares the outputs with the references. See run_cases.c for the rules. */
#ifndef KRT_TESTS_CASE_CHECK_H
#define KRT_TESTS_CASE_CHECK_H

#include "case_util.h"

typedef enum result_kind { RESULT_PASS, RESULT_FAIL, RESULT_SKIP } result_kind;

/* Plain data (no pointers): a child process hands it to the parent through a pipe. */
typedef struct case_result {
  result_kind kind;
  int has_reference; /* expected outputs or labels: counts in the pass rate */
  char message[MESSAGE_SIZE];
} case_result;

/* Runs the case in folder dir. Never fails itself: every problem becomes a FAIL result whose
 * message says what went wrong (a malformed case.json, a missing file, a krt error, a mismatch). */
void case_check(const char *dir, case_result *r);

#endif
