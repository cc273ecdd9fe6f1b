/* libFuzzer harness: TensorFlow SavedModel directories (saved_model.pb and its tensor bundle, in
 * FUZZ_SAVEDMODEL_SEPARATOR's split form; krt_model_import, in process). The work is in
 * fuzz_targets.c. */
#include "fuzz_targets.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_setup();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_savedmodel_dir(data, size);
}
