/* Chooses the importer by what the file holds, not by its name: each importer in the table below
 * has a probe that looks at the file's first bytes (or, for formats that need it, seeks in the
 * file). Adding a format (.pb, .uff, .onnx, a SavedModel directory) is one row and its probe. */
#include "import/import.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"
#include "import/hdf5_isolate.h"

/* The first bytes of the file, and the file for probes that must look further. */
typedef struct probe_input {
  const unsigned char *head;
  size_t n;
  FILE *file;
  const char *path; /* for probes of directories (then head, n and file are empty) */
} probe_input;

typedef struct importer {
  const char *format;  /* what the file is, for messages */
  int (*probe)(const probe_input *in); /* 1: the file is of this format */
  krt_status *(*import)(const char *path, const import_options *options, ir_graph **out);
  /* 1: parsed through libhdf5 and libzip, which crash or loop on some corrupt files: in a child
   * process under limits (hdf5_isolate.c). */
  int isolate;
} importer;

/* A zip archive starts with a local file header: a .keras archive (Keras 3). */
static int probe_zip(const probe_input *in) {
  static const unsigned char zip_magic[4] = {'P', 'K', 3, 4};
  return in->n >= sizeof zip_magic && memcmp(in->head, zip_magic, sizeof zip_magic) == 0;
}

/* HDF5 looks for its superblock at 0, 512, 1024, 2048, ... (a user block may precede it). */
static int probe_hdf5(const probe_input *in) {
  static const unsigned char hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  unsigned char buf[8];
  for (long offset = 0; offset <= (1L << 30); offset = offset ? offset * 2 : 512) {
    if (fseek(in->file, offset, SEEK_SET) != 0) return 0;
    if (fread(buf, 1, sizeof buf, in->file) != sizeof buf) return 0;
    if (memcmp(buf, hdf5_magic, sizeof buf) == 0) return 1;
  }
  return 0;
}

/* A GraphDef has no magic number: its first field is a node (field 1, length-delimited: byte
 * 0x0a) whose first field is the node's name (0x0a again) or, in some writers, its op (0x12).
 * The decoder decides in the end; this only keeps other files away from it. */
static int probe_graphdef(const probe_input *in) {
  if (in->n < 4 || in->head[0] != 0x0a) return 0;
  size_t i = 1;
  unsigned shift = 0;
  uint64_t len = 0;
  while (i < in->n && i < 11) {
    len |= (uint64_t)(in->head[i] & 0x7f) << shift;
    shift += 7;
    if (!(in->head[i++] & 0x80)) break;
  }
  return len > 0 && i < in->n && (in->head[i] == 0x0a || in->head[i] == 0x12);
}

/* An ONNX ModelProto opens with field 1 (ir_version, a small varint) and then another of its
 * fields (producer, graph, opsets, ...). Neither zip nor HDF5 files start with byte 0x08. */
static int probe_onnx(const probe_input *in) {
  if (in->n < 3 || in->head[0] != 0x08 || in->head[1] < 1 || in->head[1] > 30) return 0;
  static const unsigned char next_tags[] = {0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72};
  return memchr(next_tags, in->head[2], sizeof next_tags) != NULL;
}

/* A UFF MetaGraph opens with field 1 (version) and field 2 (descriptor_core_version), small
 * varints, then its descriptors (field 3) or graphs (field 4): 08 v 10 v 1a|22. ONNX's second
 * field is never 2 (byte 0x10). */
static int probe_uff(const probe_input *in) {
  size_t i = 0;
  for (int field = 0; field < 2; field++) {
    if (i >= in->n || in->head[i++] != (field ? 0x10 : 0x08)) return 0;
    int bytes = 0;
    while (i < in->n && (in->head[i] & 0x80) && bytes < 4) i++, bytes++;
    if (i >= in->n || (in->head[i++] & 0x80)) return 0;
  }
  return i < in->n && (in->head[i] == 0x1a || in->head[i] == 0x22);
}

/* A SavedModel is a directory holding saved_model.pb (and variables/, read when needed). */
static int probe_savedmodel(const probe_input *in) {
  size_t len = strlen(in->path);
  char *pb = malloc(len + sizeof "/saved_model.pb");
  if (!pb) return 0;
  memcpy(pb, in->path, len);
  memcpy(pb + len, "/saved_model.pb", sizeof "/saved_model.pb");
  struct stat st;
  int found = stat(pb, &st) == 0 && S_ISREG(st.st_mode);
  free(pb);
  return found;
}

krt_status *import_emit_node(ir_graph *g, const char *node, const char *suffix, ir_op op,
                             const int *inputs, int n_inputs, const ir_attrs *attrs, int *out,
                             const char *file, const char *format, const char *op_name) {
  char name[1024];
  snprintf(name, sizeof name, "%s%s", node, suffix);
  ir_attrs none;
  if (!attrs) {
    memset(&none, 0, sizeof none);
    attrs = &none;
  }
  krt_status *s = ir_emit(g, op, name, -1, inputs, n_inputs, attrs, out);
  if (s) return krt_error_wrap(s, "%s: %s op %s: ", file, format, op_name);
  return NULL;
}

krt_status *import_read_file(const char *path, long max_bytes, const char *too_big, uint8_t **data,
                             size_t *size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return krt_error(KRT_ERR_IO, "%s: cannot open the file (%s)", path, strerror(errno));
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return krt_error(KRT_ERR_IO, "%s: cannot read the file", path);
  }
  if (n > max_bytes) {
    fclose(f);
    return krt_error(KRT_ERR_BAD_FILE, "%s: %ld bytes, %s", path, n, too_big);
  }
  uint8_t *buf = malloc(n ? (size_t)n : 1);
  if (!buf) {
    fclose(f);
    return krt_error_oom("reading a model file");
  }
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  if (got != (size_t)n) {
    free(buf);
    return krt_error(KRT_ERR_IO, "%s: cannot read the file", path);
  }
  *data = buf;
  *size = (size_t)n;
  return NULL;
}

static const importer importers[] = {
    {".keras archive (Keras 3)", probe_zip, import_keras_v3, 1},
    {"legacy Keras .h5 (Keras 1, 2, tf.keras, Keras 3)", probe_hdf5, import_keras_h5, 1},
    {"TensorFlow frozen graph (GraphDef .pb)", probe_graphdef, import_tf_graphdef, 0},
    /* protobuf-c returns NULL on corrupt data and every size is checked: no child process */
    {"ONNX model (.onnx, opsets 7 to 23)", probe_onnx, import_onnx, 0},
    {"TensorRT UFF (.uff)", probe_uff, import_uff, 0},
};
#define N_IMPORTERS (sizeof importers / sizeof importers[0])

/* Formats that are a directory: probed by path (head, n and file are empty). */
static const importer directory_importers[] = {
    {"TensorFlow SavedModel (a directory with saved_model.pb)", probe_savedmodel,
     import_tf_savedmodel, 0},
};
#define N_DIRECTORY_IMPORTERS (sizeof directory_importers / sizeof directory_importers[0])

krt_status *import_model(const char *path, const import_options *options, ir_graph **out) {
  if (!path || !out) return krt_error(KRT_ERR_INVALID_ARGUMENT, "import_model: NULL argument");
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    probe_input dir = {NULL, 0, NULL, path};
    for (size_t i = 0; i < N_DIRECTORY_IMPORTERS; i++)
      if (directory_importers[i].probe(&dir))
        return directory_importers[i].import(path, options, out);
    return krt_error(KRT_ERR_BAD_FILE, "%s: a directory, but no SavedModel (it has no "
                     "saved_model.pb)", path);
  }
  FILE *f = fopen(path, "rb");
  if (!f) return krt_error(KRT_ERR_IO, "%s: cannot open the file (%s)", path, strerror(errno));
  unsigned char head[512];
  probe_input in = {head, fread(head, 1, sizeof head, f), f, path};
  const importer *chosen = NULL;
  for (size_t i = 0; i < N_IMPORTERS && !chosen && !ferror(f); i++)
    if (importers[i].probe(&in)) chosen = &importers[i];
  int read_error = ferror(f);
  fclose(f);
  if (read_error) return krt_error(KRT_ERR_IO, "%s: cannot read the file", path);
  if (!chosen) {
    char known[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_IMPORTERS && used < sizeof known; i++)
      used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? "; " : "",
                               importers[i].format);
    return krt_error(KRT_ERR_BAD_FILE, "%s: not a Keras model or other format krt reads (%s)",
                     path, known);
  }
  if (chosen->isolate) return hdf5_isolate_import(path, options, chosen->import, out);
  return chosen->import(path, options, out);
}
