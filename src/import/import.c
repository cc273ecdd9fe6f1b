/* Chooses the importer by what the file holds, not by its name. */
#include "import/import.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "import/hdf5_isolate.h"

static const unsigned char zip_magic[4] = {'P', 'K', 3, 4};
static const unsigned char hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* HDF5 looks for its superblock at 0, 512, 1024, 2048, ... (a user block may precede it). */
static int has_hdf5_signature(FILE *f) {
  unsigned char buf[8];
  for (long offset = 0; offset <= (1L << 30); offset = offset ? offset * 2 : 512) {
    if (fseek(f, offset, SEEK_SET) != 0) return 0;
    if (fread(buf, 1, sizeof buf, f) != sizeof buf) return 0;
    if (memcmp(buf, hdf5_magic, sizeof buf) == 0) return 1;
  }
  return 0;
}

krt_status *import_model(const char *path, const import_options *options, ir_graph **out) {
  if (!path || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "import_model: NULL argument");
  FILE *f = fopen(path, "rb");
  if (!f) return krt_error(KRT_ERR_IO, "%s: cannot open the file (%s)", path, strerror(errno));
  unsigned char head[4] = {0};
  size_t got = fread(head, 1, sizeof head, f);
  int is_zip = got == sizeof head && memcmp(head, zip_magic, sizeof head) == 0;
  int is_hdf5 = !is_zip && has_hdf5_signature(f);
  int read_error = ferror(f);
  fclose(f);
  if (read_error) return krt_error(KRT_ERR_IO, "%s: cannot read the file", path);
  /* Both containers read through libhdf5 (and libzip), which crash or loop on some corrupt files:
   * they run in a child process (hdf5_isolate.c). */
  if (is_zip) return hdf5_isolate_import(path, options, import_keras_v3, out);
  if (is_hdf5) return hdf5_isolate_import(path, options, import_keras_h5, out);
  return krt_error(KRT_ERR_BAD_FILE, "%s: not a Keras model (.keras zip or .h5)", path);
}
