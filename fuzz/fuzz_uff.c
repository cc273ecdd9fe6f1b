/* libFuzzer harness: TensorRT UFF files (protobuf-c decoding, every op converter; built again
 * with a shape for every Input node).
 * The work is in fuzz_targets.c. */
#include "fuzz_targets.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_setup();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_uff_file(data, size); }
