/* One case of the case runner: reads its case.json and npy files, runs the model through krt's
 * public API and compares the outputs with the references. See run_cases.c for the rules. */
#ifndef KRT_TESTS_CASE_CHECK_H
#define KRT_TESTS_CASE_CHECK_H

#include "case_util.h"

/* RESULT_REFUSED: a case marked "refusal_ok" (the options walk) whose import or build krt refused
 * with KRT_ERR_UNSUPPORTED; the message is krt's. Any other refusal of a case with references is
 * a RESULT_FAIL. */
typedef enum result_kind { RESULT_PASS, RESULT_FAIL, RESULT_SKIP, RESULT_REFUSED } result_kind;

/* Plain data (no pointers): a child process hands it to the parent through a pipe. */
typedef struct case_result {
  result_kind kind;
  int has_reference; /* expected outputs or labels: counts in the pass rate */
  char message[MESSAGE_SIZE];
} case_result;

/* Runs the case in folder dir. Never fails itself: every problem becomes a FAIL result whose
 * message says what went wrong (a malformed case.json, a missing file, a krt error, a mismatch). */
void case_check(const char *dir, case_result *r);

/* Where the cases' engines are built (default: CPU, FP32). With FP16 every output is compared
 * by its normalised error ||got - expected|| / ||expected|| <= CASE_FP16_NORM_TOLERANCE and
 * elementwise with rtol = atol = CASE_FP16_TOLERANCE, in place of the case's own tolerances;
 * with TF32 likewise with the CASE_TF32_ bounds (TF32 keeps 10 mantissa bits as FP16 does, but
 * stores and accumulates in float32, and only convolutions and matrix products round). */
#define CASE_FP16_NORM_TOLERANCE 1e-2
#define CASE_FP16_TOLERANCE 5e-2
#define CASE_TF32_NORM_TOLERANCE 2e-3
#define CASE_TF32_TOLERANCE 1e-2
/* Cases with "max_normalised_error" in case.json (deep random-weight networks such as
 * keras.applications, whose small logits carry the rounding of every layer) are compared only by
 * max|got - expected| / max|expected| over each whole output, never elementwise. The case's value
 * is the float32 bound; under --tf32 and --fp16 these limits apply unless the case gives
 * "max_normalised_error_tf32" / "max_normalised_error_fp16" itself. */
#define CASE_TF32_MAX_NORMALISED 5e-3
#define CASE_FP16_MAX_NORMALISED 3e-2
void case_check_set_target(krt_device device, krt_precision precision);

/* Reads input shapes for cases that give no inputs and whose models cannot be imported without
 * them (UFF Input nodes carry no shape): one "case_name<TAB>NAME:D1xD2x... NAME:..." per line,
 * '#' a comment, full shapes batch first. Such a case is built with those shapes straight from
 * its file and run on zeros. Returns -1 (having printed why) on a bad file. */
int case_check_load_input_shapes(const char *path);

#endif
