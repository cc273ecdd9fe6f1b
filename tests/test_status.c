/* Status objects: codes, messages, wrapping, NULL handling. */
#include <stdlib.h>

#include "core/status.h"
#include "test.h"

int main(void) {
  CHECK(krt_status_code(NULL) == KRT_OK);
  CHECK(strcmp(krt_status_message(NULL), "") == 0);
  krt_status_release(NULL);

  krt_status *s = krt_error(KRT_ERR_SHAPE, "node '%s': %d", "conv1", 7);
  CHECK(krt_status_code(s) == KRT_ERR_SHAPE);
  CHECK(strcmp(krt_status_message(s), "node 'conv1': 7") == 0);
  s = krt_error_wrap(s, "%s: ", "model.h5");
  CHECK(krt_status_code(s) == KRT_ERR_SHAPE);
  CHECK(strcmp(krt_status_message(s), "model.h5: node 'conv1': 7") == 0);
  krt_status_release(s);
  CHECK(krt_error_wrap(NULL, "x") == NULL);

  /* The static out-of-memory status survives wrapping and release. */
  krt_status *oom = krt_error_oom("test");
  CHECK(krt_status_code(oom) == KRT_ERR_OUT_OF_MEMORY);
  CHECK(krt_error_wrap(oom, "prefix: ") == oom);
  krt_status_release(oom);
  CHECK(krt_status_code(krt_error_oom(NULL)) == KRT_ERR_OUT_OF_MEMORY);

  for (int c = KRT_OK; c <= KRT_ERR_INTERNAL; c++) CHECK(strlen(krt_code_name((krt_code)c)) > 0);
  CHECK(krt_dtype_size(KRT_FLOAT32) == 4 && krt_dtype_size(KRT_UINT8) == 1);
  CHECK(krt_dtype_size(KRT_DTYPE_INVALID) == 0);
  CHECK(strcmp(krt_dtype_name(KRT_INT64), "int64") == 0);
  return test_summary("test_status");
}
