/* keras_seed ARCHIVE.keras OUT: writes the archive in fuzz_keras_file's split form (config.json,
 * metadata.json, model.weights.h5 between separators), for the .keras harness's seed corpus. */
#include <stdio.h>

#include "fuzz_targets.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: keras_seed ARCHIVE.keras OUT\n");
    return 2;
  }
  char err[512];
  if (fuzz_keras_split(argv[1], argv[2], err, sizeof err)) {
    fprintf(stderr, "keras_seed: %s\n", err);
    return 1;
  }
  return 0;
}
