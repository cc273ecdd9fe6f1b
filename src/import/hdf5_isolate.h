/* Reading model files in a child process, so that a file which crashes, hangs or exhausts the
 * memory of libhdf5 (or libzip, or krt's own walker) costs the caller an error, not its process.
 * The design, its limits and the measurements are in hdf5_isolate.c and the README section
 * "Untrusted model files".
 */
#ifndef KRT_IMPORT_HDF5_ISOLATE_H
#define KRT_IMPORT_HDF5_ISOLATE_H

#include "import/import.h"
#include "import/keras_model.h"

/* A container importer: import_keras_h5 or import_keras_v3. */
typedef krt_status *(*import_container_fn)(const char *path, const import_options *options,
                                           ir_graph **out);

/* Runs `container` on `path` in a forked child under CPU-time and memory limits and rebuilds the
 * same graph here from the child's reply. A child killed by a signal, stopped by a limit or
 * answering garbage gives KRT_ERR_BAD_FILE naming the file and what happened; an ordinary import
 * error comes back unchanged (code and message). With KRT_HDF5_IN_PROCESS=1 in the environment
 * the container runs in this process (debugging). */
krt_status *hdf5_isolate_import(const char *path, const import_options *options,
                                import_container_fn container, ir_graph **out);

/* Child side, called by keras_import_graph when options->tap is set: records what the container
 * hands the walker (its config text, Keras version, backend, and every weight read) into the
 * reply, then builds the graph as usual so that import errors are found here too. */
krt_status *import_tap_graph(const keras_model_source *src, ir_graph **out);

#endif
