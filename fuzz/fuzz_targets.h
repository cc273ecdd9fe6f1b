/* The entry points the fuzz harnesses (fuzz/fuzz_*.c, libFuzzer) and their regression test
 * (tests/test_fuzz_regressions.c, no libFuzzer) both call, so that an input that once crashed a
 * harness is replayed through exactly the same code in every ordinary build.
 *
 * Each one reads untrusted bytes the way a user's program would, through the public API (or
 * tools/npy.c for .npy), and returns 0 whatever the bytes hold: a clean error is a pass. A bug
 * shows as a sanitizer report, a crash or a leak, never as a return value. */
#ifndef KRT_FUZZ_TARGETS_H
#define KRT_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

/* Once per process, before any input: reads .h5/.keras in this process (KRT_HDF5_IN_PROCESS=1),
 * so that a fault in krt's reader is seen where it happens, not as a dead child. */
void fuzz_setup(void);

/* A .krt engine file: krt_engine_load_memory, every query, then one run of a small engine. */
int fuzz_engine_file(const uint8_t *data, size_t size);

/* A .npy file: npy_read_memory. */
int fuzz_npy_file(const uint8_t *data, size_t size);

/* A legacy .h5 model file: written to a temporary file, krt_model_import, every query,
 * krt_engine_build_from_model and one run of a small engine. */
int fuzz_h5_file(const uint8_t *data, size_t size);

/* A TensorFlow GraphDef (.pb): as fuzz_h5_file (the import runs in process: protobuf-c). */
int fuzz_tfpb_file(const uint8_t *data, size_t size);
/* An ONNX model file (protobuf): written to a temporary file, then as fuzz_h5_file (the importer
 * is chosen by content, so the same path serves every format). */
int fuzz_onnx_file(const uint8_t *data, size_t size);
/* A TensorRT UFF file: as fuzz_h5_file, then built again with a shape for every Input node. */
int fuzz_uff_file(const uint8_t *data, size_t size);

/* A .keras archive. Bytes that start like a zip file are the archive itself. Anything else is
 * split at FUZZ_KERAS_SEPARATOR into config.json, metadata.json and model.weights.h5 (the rest),
 * which are zipped up before the import: a mutated config reaches krt's layer walk instead of
 * stopping at the archive's CRC check. Then as fuzz_h5_file. */
#define FUZZ_KERAS_SEPARATOR "\n--krt-fuzz-member--\n"
int fuzz_keras_file(const uint8_t *data, size_t size);

/* Turns a .keras archive into fuzz_keras_file's split form (for the seed corpus). Returns 0 on
 * success; on failure writes a reason into err. */
int fuzz_keras_split(const char *archive, const char *out_path, char *err, size_t err_size);

/* A TensorFlow SavedModel directory. The bytes are split at FUZZ_SAVEDMODEL_SEPARATOR into
 * saved_model.pb, variables/variables.index and variables/variables.data-00000-of-00001 (the
 * rest; a part left out is a missing file), written into a temporary directory, then as
 * fuzz_h5_file on that directory. */
#define FUZZ_SAVEDMODEL_SEPARATOR "\n--krt-fuzz-savedmodel-file--\n"
int fuzz_savedmodel_dir(const uint8_t *data, size_t size);

#endif
