/* run_cases: runs folders of test cases through krt's public API and compares the outputs with
 * the references that real Keras (or the source framework) produced.
 *
 *   run_cases [--corpus] [--known-failures FILE] [--expect-refusals FILE] [--only SUBSTR]
 *             [--input-shapes FILE] [--no-fork] [--device cpu|cuda] [--fp16|--tf32] DIR
 *   run_cases --compare GOT.npy EXPECTED.npy [RTOL ATOL]
 *
 * A case is a folder laid out as ../shared/corpus/README.md describes:
 *   model.keras | model.h5 | model.pb | model.onnx | model.uff | saved_model/, inputs/<i>.npy, expected/<j>.npy and case.json
 *   {"inputs": [{"name", "file"}], "outputs": [{"name", "file"}], "rtol", "atol",
 *    "expected_labels"?: [argmax per batch row of output 0], "max_normalised_error"?,
 *    "max_normalised_error_tf32"?, "max_normalised_error_fp16"?}
 * Every subfolder of DIR holding a case.json is a case; with --corpus only the subfolders of
 * DIR/keras_h5, DIR/keras_v3, DIR/tf_pb, DIR/onnx and DIR/uff are (the kinds krt reads). A
 * missing DIR is skipped (exit 77). --input-shapes FILE gives the full input shapes of smoke
 * cases whose model has none (UFF Input nodes): "case_name<TAB>NAME:D1xD2x... NAME:..." per line
 * (tests/corpus_input_shapes.txt); such a case is built with them and run on zeros.
 *
 * Per case: import the model, build an engine for the inputs' batch, serialise it and load it
 * back from memory (so the engine format is exercised every time), bind the inputs by name (by
 * position when the names do not match and the counts agree), run, and check every expected
 * output: same shape, and |got - expected| <= atol + rtol * |expected| elementwise (NaN never
 * passes). Cases without outputs are smoke cases: they pass when the model builds (and runs on
 * the given inputs, or on zeros, with plausible shapes) or is rejected with a clean error (any
 * code but KRT_ERR_INTERNAL, which reports a bug in krt). A case with "max_normalised_error" E
 * (deep random-weight networks: tools/fixtures/make_applications.py) is instead checked by
 * max|got - expected| / max|expected| <= E over each whole output, and its PASS and FAIL lines
 * give that measured error.
 *
 * --device cuda builds every engine for the GPU (a CUDA backend that cannot load skips the whole
 * run: exit 77); --fp16 builds them in half precision and replaces each case's tolerances: every
 * output must have a normalised error ||got - expected|| / ||expected|| <= 1e-2 and be allclose
 * with rtol = atol = 5e-2. --tf32 builds them in TF32 (float32, convolutions and matrix products
 * on TF32 tensor cores), with normalised error <= 2e-3 and allclose rtol = atol = 1e-2.
 * Max-normalised cases keep their own kind of check under both flags, with the limits 5e-3 (TF32)
 * and 3e-2 (FP16) unless case.json sets "max_normalised_error_tf32" / "max_normalised_error_fp16".
 *
 * Each case runs in a child process (unless --no-fork, for debuggers and valgrind), so a crash
 * or a hang in krt fails that case instead of ending the run.
 *
 * Prints one line per case (PASS, FAIL, SKIP, XFAIL, XPASS) and ends with
 * "N passed, N failed, N skipped" (known failures count as skipped). Exit status 0 iff nothing
 * failed; a known failure that passes (XPASS) is a failure, so the list stays honest.
 * Known-failures file: one "case_name<TAB>reason" per line, '#' starts a comment.
 *
 * Cases whose case.json says "refusal_ok": true (the options walk, make_option_walk.py) pass
 * either by matching the references or by a clean refusal: import or build failing with
 * KRT_ERR_UNSUPPORTED, printed "REFUSED case: message". Any other error or a mismatch fails.
 * --expect-refusals FILE makes the refusals exact: one "case_name<TAB>gist" per line (the format
 * of the known failures), where gist must occur in krt's message. A refusal not listed fails
 * ("unexpected refusal"), so coverage cannot shrink silently; a listed case that now matches
 * fails ("now supported: remove it from the refusal list"), so the list cannot go stale; so does
 * a listed case refused for another reason, and, in a run without --only, a listed case that
 * is not in DIR.
 *
 * A case whose case.json gives "expected_refusal": "words" (user code and training-mode calls,
 * tools/fixtures/fixture_cases_custom.py) passes only when krt refuses it, import or build
 * failing with KRT_ERR_UNSUPPORTED and a message that contains the words; building it fails.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "case_check.h"
#include "case_util.h"
#include "krt.h"
#include "npy.h"

#define CASE_TIMEOUT_S 300 /* the largest corpus model builds and runs in seconds */

/* run_cases --compare GOT EXPECTED [RTOL ATOL]: 0 equal within tolerance, 1 not, 2 unreadable. */
static int compare_files(int argc, char **argv) {
  if (argc != 2 && argc != 4) {
    fprintf(stderr, "usage: run_cases --compare GOT.npy EXPECTED.npy [RTOL ATOL]\n");
    return 2;
  }
  double rtol = 1e-4, atol = 1e-5;
  if (argc == 4) {
    char *end1, *end2;
    rtol = strtod(argv[2], &end1);
    atol = strtod(argv[3], &end2);
    if (*end1 || *end2 || !(rtol >= 0) || !(atol >= 0)) {
      fprintf(stderr, "run_cases --compare: bad tolerances '%s' '%s'\n", argv[2], argv[3]);
      return 2;
    }
  }
  npy_array got = {0}, expected = {0};
  char err[512];
  if (npy_read(argv[0], &got, err, sizeof err) || npy_read(argv[1], &expected, err, sizeof err)) {
    fprintf(stderr, "run_cases --compare: %s\n", err);
    npy_free(&got);
    npy_free(&expected);
    return 2;
  }
  int status = 0;
  char a[256], b[256], msg[MESSAGE_SIZE] = "";
  format_dims(a, sizeof a, got.rank, got.dims);
  format_dims(b, sizeof b, expected.rank, expected.dims);
  if (strcmp(a, b) != 0) {
    printf("MISMATCH: shape %s, expected %s\n", a, b);
    status = 1;
  } else {
    int64_t n = element_count(got.rank, got.dims);
    comparison c =
        compare_values(got.dtype, got.data, expected.dtype, expected.data, n, rtol, atol);
    if (c.mismatches) {
      describe_mismatch(msg, sizeof msg, "MISMATCH", &c, n);
      printf("%s\n", msg);
      status = 1;
    } else {
      printf("OK: %lld values, max abs error %.3g\n", (long long)n, c.max_abs_error);
    }
  }
  npy_free(&got);
  npy_free(&expected);
  return status;
}

static void set_failure(case_result *r, const char *fmt, ...) {
  r->kind = RESULT_FAIL;
  r->has_reference = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
}

/* Runs one case in a child process so that a crash or a hang fails only that case. */
static void run_case_isolated(const char *dir, case_result *r) {
  int fds[2];
  fflush(stdout);
  if (pipe(fds) != 0) {
    set_failure(r, "pipe: %s", strerror(errno));
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    set_failure(r, "fork: %s", strerror(errno));
    return;
  }
  if (pid == 0) {
    close(fds[0]);
    alarm(CASE_TIMEOUT_S);
    case_result child;
    case_check(dir, &child);
    const char *p = (const char *)&child;
    size_t left = sizeof child;
    while (left) {
      ssize_t n = write(fds[1], p, left);
      if (n <= 0) _exit(3);
      p += n;
      left -= (size_t)n;
    }
    _exit(0);
  }
  close(fds[1]);
  size_t got = 0;
  char *p = (char *)r;
  while (got < sizeof *r) {
    ssize_t n = read(fds[0], p + got, sizeof *r - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got == sizeof *r) return;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    set_failure(r, "timed out after %d s", CASE_TIMEOUT_S);
  else if (WIFSIGNALED(status))
    set_failure(r, "crashed with signal %d (%s): a bug in krt", WTERMSIG(status),
                strsignal(WTERMSIG(status)));
  else
    set_failure(r, "the case process exited with status %d without a result",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---------------------------------------------------------------------------------------------
 * Known failures, case discovery, main
 * ------------------------------------------------------------------------------------------- */

typedef struct known_failure {
  char *name;
  char *reason;
  int xfailed; /* reported as XFAIL in this run */
} known_failure;

typedef struct known_list {
  known_failure *items;
  int count;
} known_list;

static void free_known(known_list *k) {
  for (int i = 0; i < k->count; i++) {
    free(k->items[i].name);
    free(k->items[i].reason);
  }
  free(k->items);
}

static char *copy_string(const char *s, size_t len) {
  char *out = malloc(len + 1);
  if (out) {
    memcpy(out, s, len);
    out[len] = '\0';
  }
  return out;
}

static int load_known(const char *path, known_list *k) {
  char *text = read_text_file(path);
  if (!text) {
    fprintf(stderr, "run_cases: cannot read known failures %s: %s\n", path, strerror(errno));
    return -1;
  }
  int line_no = 0, status = 0;
  for (char *line = text; line && *line && !status;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    line_no++;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[--len] = '\0';
    if (len && line[0] != '#') {
      char *tab = strchr(line, '\t');
      if (!tab || tab == line) {
        fprintf(stderr, "run_cases: %s:%d: expected \"case_name<TAB>reason\"\n", path, line_no);
        status = -1;
        break;
      }
      known_failure *grown = realloc(k->items, (size_t)(k->count + 1) * sizeof *grown);
      if (!grown) {
        status = -1;
        break;
      }
      k->items = grown;
      known_failure *item = &k->items[k->count];
      item->name = copy_string(line, (size_t)(tab - line));
      item->reason = copy_string(tab + 1, strlen(tab + 1));
      item->xfailed = 0;
      k->count++;
      if (!item->name || !item->reason) status = -1;
    }
    line = next;
  }
  free(text);
  return status;
}

static known_failure *find_known(known_list *k, const char *name) {
  for (int i = 0; i < k->count; i++)
    if (strcmp(k->items[i].name, name) == 0) return &k->items[i];
  return NULL;
}

typedef struct case_list {
  char **paths; /* folder of each case */
  int count;
} case_list;

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every subfolder of dir that holds a case.json, in name order. */
static int scan_cases(const char *dir, case_list *list) {
  DIR *d = opendir(dir);
  if (!d) return 0; /* a corpus kind that is absent is simply empty */
  char **found = NULL;
  int n = 0, status = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[PATH_SIZE], json[PATH_SIZE];
    if (e->d_name[0] == '.' || !join_path(path, dir, e->d_name) || !is_dir(path) ||
        !join_path(json, path, "case.json") || !is_file(json))
      continue;
    char **grown = realloc(found, (size_t)(n + 1) * sizeof *grown);
    char *copy = copy_string(path, strlen(path));
    if (!grown || !copy) {
      free(copy);
      if (grown) found = grown;
      status = -1;
      break;
    }
    found = grown;
    found[n++] = copy;
  }
  closedir(d);
  if (n) qsort(found, (size_t)n, sizeof *found, compare_strings);
  char **paths = realloc(list->paths, (size_t)(list->count + n + 1) * sizeof *paths);
  if (!paths) {
    for (int i = 0; i < n; i++) free(found[i]);
    free(found);
    return -1;
  }
  list->paths = paths;
  for (int i = 0; i < n; i++) list->paths[list->count++] = found[i];
  free(found);
  return status;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Whether the CUDA backend cannot load here (no module, driver or GPU): then nothing can run.
 * Probed in a child process: CUDA, once initialised, does not survive fork(), and every case runs
 * in a forked child. */
static int cuda_unavailable(void) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    krt_build_options *o = NULL;
    krt_status *s = krt_build_options_create(&o);
    if (!s) s = krt_build_options_set_device(o, KRT_DEVICE_CUDA);
    /* A build of nothing fails on the device (KRT_ERR_DEVICE: unavailable) or on the path. */
    krt_engine *e = NULL;
    if (!s) s = krt_engine_build("", o, &e);
    krt_engine_release(e);
    krt_build_options_release(o);
    int unavailable = krt_status_code(s) == KRT_ERR_DEVICE;
    if (unavailable) printf("run_cases: skipping: %s\n", krt_status_message(s));
    fflush(stdout);
    _exit(unavailable ? 77 : 0);
  }
  int status = 0;
  if (pid < 0) return 0; /* cannot tell: let the cases report it */
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 77;
}

static void usage(void) {
  fprintf(
      stderr,
      "usage: run_cases [--corpus] [--known-failures FILE] [--expect-refusals FILE]\n"
      "                 [--only SUBSTR] [--input-shapes FILE] [--no-fork] [--device cpu|cuda]\n"
      "                 [--fp16|--tf32] DIR\n"
      "       run_cases --compare GOT.npy EXPECTED.npy [RTOL ATOL]\n"
      "  --input-shapes FILE  \"case<TAB>NAME:D1xD2x... ...\" lines: full input shapes for smoke\n"
      "                 cases whose model has none (UFF)\n"
      "  --expect-refusals FILE  \"case<TAB>gist\" lines: exactly the refusal_ok cases that krt\n"
      "                 refuses (KRT_ERR_UNSUPPORTED, gist in the message); anything else fails\n"
      "  --device cuda  build the engines for the GPU (exit 77 when the CUDA backend cannot load)\n"
      "  --fp16         half precision; each output must then have a normalised error\n"
      "                 ||got-exp||/||exp|| <= %g and be allclose with rtol = atol = %g\n"
      "                 (the case's own rtol/atol are for float32)\n"
      "  --tf32         TF32 tensor cores for convolutions and matrix products (cuda); each\n"
      "                 output must then have a normalised error <= %g and be allclose with\n"
      "                 rtol = atol = %g\n"
      "  cases with \"max_normalised_error\" are checked by max|got-exp|/max|exp| alone;\n"
      "  the bound is the case's in FP32, %g with --tf32 and %g with --fp16\n",
      CASE_FP16_NORM_TOLERANCE, CASE_FP16_TOLERANCE, CASE_TF32_NORM_TOLERANCE, CASE_TF32_TOLERANCE,
      CASE_TF32_MAX_NORMALISED, CASE_FP16_MAX_NORMALISED);
}

typedef struct tally {
  int passed, failed, skipped, refused;
  int with_reference, with_reference_passed;
} tally;

/* refusals: NULL without --expect-refusals (then every clean refusal of a refusal_ok case is
 * accepted). An entry's xfailed marks it seen in this run. */
static void report(const char *name, const case_result *r, known_list *known,
                   known_list *refusals, tally *t) {
  known_failure *k = find_known(known, name);
  known_failure *expected = refusals ? find_known(refusals, name) : NULL;
  if (expected) expected->xfailed = 1;
  if (r->has_reference) t->with_reference++;
  if (r->kind == RESULT_PASS && r->has_reference) t->with_reference_passed++;
  if (r->kind == RESULT_REFUSED && refusals && !expected) {
    printf("FAIL %s: unexpected refusal (not in the refusal list): %s\n", name, r->message);
    t->failed++;
  } else if (r->kind == RESULT_REFUSED && expected && !strstr(r->message, expected->reason)) {
    printf("FAIL %s: refused for another reason than the list's \"%s\": %s\n", name,
           expected->reason, r->message);
    t->failed++;
  } else if (r->kind == RESULT_REFUSED) {
    printf("REFUSED %s: %s\n", name, r->message);
    t->refused++;
  } else if (r->kind == RESULT_PASS && expected) {
    printf("FAIL %s: now supported: remove it from the refusal list (%s)\n", name, r->message);
    t->failed++;
  } else if (r->kind == RESULT_SKIP) {
    printf("SKIP %s: %s\n", name, r->message);
    t->skipped++;
  } else if (r->kind == RESULT_PASS && k) {
    printf("XPASS %s: remove it from the known failures (%s)\n", name, r->message);
    t->failed++;
  } else if (r->kind == RESULT_PASS) {
    printf("PASS %s%s%s\n", name, r->message[0] ? ": " : "", r->message);
    t->passed++;
  } else if (k) {
    printf("XFAIL %s: %s (known: %s)\n", name, r->message, k->reason);
    k->xfailed = 1;
    t->skipped++;
  } else {
    printf("FAIL %s: %s\n", name, r->message);
    t->failed++;
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--compare") == 0) return compare_files(argc - 2, argv + 2);
  int corpus = 0, fork_cases = 1;
  krt_device device = KRT_DEVICE_CPU;
  krt_precision precision = KRT_PRECISION_FP32;
  const char *known_path = NULL, *refusals_path = NULL, *only = NULL, *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--corpus") == 0) {
      corpus = 1;
    } else if (strcmp(argv[i], "--no-fork") == 0) {
      fork_cases = 0;
    } else if (strcmp(argv[i], "--known-failures") == 0 && i + 1 < argc) {
      known_path = argv[++i];
    } else if (strcmp(argv[i], "--expect-refusals") == 0 && i + 1 < argc) {
      refusals_path = argv[++i];
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--input-shapes") == 0 && i + 1 < argc) {
      if (case_check_load_input_shapes(argv[++i])) return 2;
    } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      const char *d = argv[++i];
      if (strcmp(d, "cpu") == 0) device = KRT_DEVICE_CPU;
      else if (strcmp(d, "cuda") == 0) device = KRT_DEVICE_CUDA;
      else {
        usage();
        return 2;
      }
    } else if (strcmp(argv[i], "--fp16") == 0 || strcmp(argv[i], "--tf32") == 0) {
      krt_precision p = argv[i][2] == 'f' ? KRT_PRECISION_FP16 : KRT_PRECISION_TF32;
      if (precision != KRT_PRECISION_FP32 && precision != p) {
        fprintf(stderr, "run_cases: --fp16 and --tf32 exclude each other\n");
        return 2;
      }
      precision = p;
    } else if (argv[i][0] != '-' && !dir) {
      dir = argv[i];
    } else {
      usage();
      return 2;
    }
  }
  if (!dir) {
    usage();
    return 2;
  }
  if (!is_dir(dir)) {
    printf("run_cases: %s not found; skipping\n", dir);
    return 77;
  }

  case_check_set_target(device, precision);
  if (device == KRT_DEVICE_CUDA && cuda_unavailable()) return 77;

  known_list known = {NULL, 0};
  known_list refusals = {NULL, 0};
  if ((known_path && load_known(known_path, &known)) ||
      (refusals_path && load_known(refusals_path, &refusals))) {
    free_known(&known);
    free_known(&refusals);
    return 2;
  }
  case_list cases = {NULL, 0};
  int scan_failed = 0;
  if (corpus) {
    static const char *const kinds[] = {"keras_h5", "keras_v3", "tf_pb", "onnx", "uff"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
      char path[PATH_SIZE];
      if (join_path(path, dir, kinds[i])) scan_failed |= scan_cases(path, &cases);
    }
  } else {
    scan_failed = scan_cases(dir, &cases);
  }
  if (scan_failed) fprintf(stderr, "run_cases: out of memory while listing %s\n", dir);

  tally t = {0, 0, 0, 0, 0, 0};
  int considered = 0;
  for (int i = 0; i < cases.count; i++) {
    const char *name = base_name(cases.paths[i]);
    if (only && !strstr(name, only)) continue;
    considered++;
    case_result r;
    if (fork_cases)
      run_case_isolated(cases.paths[i], &r);
    else
      case_check(cases.paths[i], &r);
    report(name, &r, &known, refusals_path ? &refusals : NULL, &t);
  }
  /* A listed refusal whose case is gone: the list must say what this run refuses. */
  for (int i = 0; refusals_path && !only && i < refusals.count; i++) {
    if (refusals.items[i].xfailed) continue;
    printf("FAIL %s: in the refusal list %s but not a case in %s\n", refusals.items[i].name,
           refusals_path, dir);
    t.failed++;
  }

  int exit_code = t.failed || scan_failed ? 1 : 0;
  if (!considered) {
    printf("run_cases: no cases in %s%s%s; skipping\n", dir, only ? " matching " : "",
           only ? only : "");
    exit_code = scan_failed ? 1 : 77;
  } else {
    if (t.with_reference)
      printf("cases with reference outputs: %d of %d pass (%.1f%%)\n", t.with_reference_passed,
             t.with_reference, 100.0 * t.with_reference_passed / t.with_reference);
    int xfails = 0;
    for (int i = 0; i < known.count; i++) xfails += known.items[i].xfailed;
    if (xfails) {
      printf("known failures (%d):", xfails);
      for (int i = 0; i < known.count; i++)
        if (known.items[i].xfailed) printf(" %s", known.items[i].name);
      printf("\n");
    }
    if (t.refused)
      printf("%d passed, %d failed, %d skipped, %d refused (unsupported, accepted)\n", t.passed,
             t.failed, t.skipped, t.refused);
    else
      printf("%d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
  }
  for (int i = 0; i < cases.count; i++) free(cases.paths[i]);
  free(cases.paths);
  free_known(&known);
  free_known(&refusals);
  return exit_code;
}
