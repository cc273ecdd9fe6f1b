/* Model files are read in a child process (issue 12: a file can never take the caller down).
 *
 * Debian's libhdf5 1.10 crashes, loops forever or reads out of bounds on some corrupt files (found
 * by fuzzing: variable-length string attributes, H5Aexists, the global heap, the metadata
 * accumulator). So import_model forks, and the child runs the whole container importer (libzip,
 * libhdf5, the config walk) under setrlimit limits, while the parent only waits and then rebuilds
 * the graph from the child's reply. A crash, a limit or a garbled reply costs one KRT_ERR_BAD_FILE.
 *
 *   parent                                      child (fork, no exec)
 *   memfd + liveness pipe, fork() ------------> RLIMIT_CPU, RLIMIT_AS (not under ASan or
 *                                               TSan: their shadow memory is terabytes of
 *                                               address space),
 *                                               RLIMIT_FSIZE (the reply), RLIMIT_CORE 0, fault
 *                                               signals back to SIG_DFL, dies with the parent
 *                                               container(path) as in process; keras_import_graph
 *                                               sees options->tap and records into the memfd:
 *                                               META, one WEIGHTS per weight read, then END
 *   poll the pipe (HUP = exited), kill after    _exit() (no atexit handlers, no stdio flush of
 *   the wall-clock limit, waitpid; a child      the caller's buffers)
 *   stuck in a futex wait: kill, fork again
 *   mmap the memfd, check every record, walk
 *   the same config with a reader that hands
 *   back the recorded arrays (borrowed from the
 *   mapping: no copy) -> the same graph, byte for byte
 *
 * Why fork and not posix_spawn of a helper executable: the child needs the caller's import options
 * and nothing has to be installed or found beside libkrt (static linking keeps working). The cost:
 * after fork only the calling thread exists in the child. glibc's malloc and stdio are made safe
 * for that by glibc's own fork handlers, and libhdf5 has never been touched in the parent (krt
 * only calls it in children), but if another thread of the caller holds a lock the child needs
 * (in libhdf5, or in an allocator without fork handlers, as GCC 12's ASan runtime is) at the
 * moment of the fork, the child inherits it held and blocks on it forever. The parent sees that
 * (the child sits in one futex wait: wait_child) within about a second, kills it and forks again,
 * up to four times; half-updated state could still make a child fail, which costs a spurious
 * error, never a crash. KRT_HDF5_IN_PROCESS=1 reads in process, for debugging.
 *
 * Reply layout (native byte order; the child and parent are the same program):
 *   "KRTH5RP1"
 *   u32 tag, then per tag:
 *     META     i32 keras_major, str what ("model_config"), str config text, str backend
 *     WEIGHTS  u32 depth, i32 key[depth] (the position in the innermost model, then each
 *              enclosing model's position in its parent), u32 n, then n times: str name,
 *              u32 rank, i64 dims[rank], zeros up to a multiple of 64 bytes, float32 data
 *     END      i32 code (0: success), str message
 *   str: u32 length (0xffffffff: none), then the bytes, no terminator.
 */
#define _GNU_SOURCE /* memfd_create, pipe2 */
#include "import/hdf5_isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h> /* SYS_futex */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "import/hdf5_util.h"

/* ASan and TSan both reserve terabytes of address space for their shadow memory, so under
 * either the child gets no RLIMIT_AS (the other limits stay). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ISOLATE_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ISOLATE_UNDER_ASAN 1
#endif
#endif
#ifndef ISOLATE_UNDER_ASAN
#define ISOLATE_UNDER_ASAN 0
#endif

#define REPLY_MAGIC "KRTH5RP1"
#define NO_STRING 0xffffffffu
#define DATA_ALIGN 64
enum { TAG_META = 1, TAG_WEIGHTS = 2, TAG_END = 3 };

/* ---- limits -------------------------------------------------------------------------------- */

typedef struct isolate_limits {
  long long cpu_s;     /* RLIMIT_CPU soft limit (SIGXCPU; SIGKILL one second later) */
  long long memory_mb; /* RLIMIT_AS and RLIMIT_FSIZE (the reply holds at most the weights) */
  double wall_s;       /* the parent kills the child after this long */
  long long file_mb;   /* the file's size, rounded up: the defaults scale with it */
} isolate_limits;

/* An integer from the environment in [1, max]; *value unchanged when the variable is unset. */
static krt_status *env_limit(const char *name, long long max, long long *value) {
  const char *text = getenv(name);
  if (!text || !text[0]) return NULL;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || *end || v < 1 || v > max)
    return krt_error(KRT_ERR_INVALID_ARGUMENT, "%s=%s: expected a whole number from 1 to %lld",
                     name, text, max);
  *value = v;
  return NULL;
}

/* Defaults scale with the file. Measured (README, "Untrusted model files") on Keras's ResNet152
 * at full size, a 243 MB .keras and its 243 MB tf_keras .h5, on a shared 2-core machine: krt
 * inspect takes at most 1.4 s of CPU (parent and reader together) and 2.2 s of wall time, krt
 * build 2.7 s of CPU and 4.1 s; in the ASan build 2.2 s and 4.4 s of CPU, 6.9 s of wall time at
 * most. The limits: 5 s of CPU plus 1 s per 16 MB of file (19 s for that file, 4x what the ASan
 * build needs with the parent's share counted, 7x the normal build), the wall clock twice that
 * plus 3 s (41 s). A small file that loops is stopped after 5 s of CPU, at most 13 s of wall time
 * on a machine too busy to give it the CPU; the old 30 s floor let every looping mutant of a
 * 10 kB fixture run for 30 s. */
#define LIMIT_CPU_BASE_S 5
#define LIMIT_MB_PER_CPU_S 16
static krt_status *read_limits(const char *path, isolate_limits *lim) {
  struct stat st;
  long long mb = stat(path, &st) == 0 ? (long long)((st.st_size + (1 << 20) - 1) >> 20) : 0;
  lim->file_mb = mb;
  lim->cpu_s = LIMIT_CPU_BASE_S + mb / LIMIT_MB_PER_CPU_S;
  lim->memory_mb = 1024 + 16 * mb;
  KRT_TRY(env_limit("KRT_HDF5_TIME_LIMIT_S", 1000000, &lim->cpu_s));
  KRT_TRY(env_limit("KRT_HDF5_MEMORY_LIMIT_MB", 1LL << 30, &lim->memory_mb));
  /* The child runs one thread, so CPU time trails wall time; the margin is for a busy machine. */
  lim->wall_s = 2.0 * (double)lim->cpu_s + 3.0;
  return NULL;
}

/* ---- child: writing the reply -------------------------------------------------------------- */

struct import_tap {
  int fd;
  int failed;      /* a write failed: the reply is incomplete, the parent will say so */
  uint64_t offset; /* bytes written so far, for the alignment of float data */
  size_t used;
  unsigned char buf[1 << 16];
};

static void write_all(import_tap *t, const unsigned char *p, size_t size) {
  while (size > 0 && !t->failed) {
    ssize_t n = write(t->fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      t->failed = 1;
      return;
    }
    p += n;
    size -= (size_t)n;
  }
}

static void tap_flush(import_tap *t) {
  write_all(t, t->buf, t->used);
  t->used = 0;
}

static void tap_put(import_tap *t, const void *data, size_t size) {
  t->offset += size;
  if (t->used + size > sizeof t->buf) tap_flush(t);
  if (size >= sizeof t->buf) {
    write_all(t, data, size); /* weights: straight from the importer's buffer */
    return;
  }
  memcpy(t->buf + t->used, data, size);
  t->used += size;
}

static void put_u32(import_tap *t, uint32_t v) {
  tap_put(t, &v, sizeof v);
}
static void put_i32(import_tap *t, int32_t v) {
  tap_put(t, &v, sizeof v);
}
static void put_i64(import_tap *t, int64_t v) {
  tap_put(t, &v, sizeof v);
}

static void put_bytes(import_tap *t, const char *s, size_t n) {
  if (!s) {
    put_u32(t, NO_STRING);
    return;
  }
  if (n >= NO_STRING) {
    t->failed = 1;
    return;
  }
  put_u32(t, (uint32_t)n);
  tap_put(t, s, n);
}

static void put_str(import_tap *t, const char *s) {
  put_bytes(t, s, s ? strlen(s) : 0);
}

static void put_align(import_tap *t) {
  static const unsigned char zeros[DATA_ALIGN];
  size_t pad = (size_t)((DATA_ALIGN - t->offset % DATA_ALIGN) % DATA_ALIGN);
  tap_put(t, zeros, pad);
}

static size_t array_count(const keras_array *a) {
  size_t n = 1;
  for (int i = 0; i < a->rank; i++) n *= (size_t)a->dims[i];
  return n;
}

typedef struct tap_reader {
  import_tap *tap;
  keras_weight_reader inner; /* the container's own reader */
} tap_reader;

static krt_status *tap_read_weights(void *self, const keras_level *level, int position,
                                    keras_array **arrays, int *n) {
  tap_reader *r = self;
  import_tap *t = r->tap;
  KRT_TRY(r->inner.read(r->inner.self, level, position, arrays, n));
  uint32_t depth = 1;
  for (const keras_level *l = level; l->parent; l = l->parent) depth++;
  put_u32(t, TAG_WEIGHTS);
  put_u32(t, depth);
  put_i32(t, position);
  for (const keras_level *l = level; l->parent; l = l->parent) put_i32(t, l->position);
  put_u32(t, (uint32_t)*n);
  for (int i = 0; i < *n; i++) {
    const keras_array *a = &(*arrays)[i];
    put_str(t, a->name);
    put_u32(t, (uint32_t)a->rank);
    for (int d = 0; d < a->rank; d++) put_i64(t, a->dims[d]);
    put_align(t);
    tap_put(t, a->data, array_count(a) * sizeof(float));
  }
  if (t->failed)
    return krt_error(KRT_ERR_IO, "the reader process could not write its reply (%s)",
                     strerror(errno));
  return NULL;
}

krt_status *import_tap_graph(const keras_model_source *src, ir_graph **out) {
  import_tap *t = src->options->tap;
  if (!src->config_text)
    return krt_error(KRT_ERR_INTERNAL, "%s: the importer handed over no config text", src->file);
  put_u32(t, TAG_META);
  put_i32(t, src->keras_major);
  put_str(t, src->config_what);
  put_bytes(t, src->config_text, src->config_size);
  put_str(t, src->backend);
  import_options inner = *src->options;
  inner.tap = NULL;
  tap_reader reader = {t, src->weights};
  keras_model_source tapped = *src;
  tapped.options = &inner;
  tapped.weights.self = &reader;
  tapped.weights.read = tap_read_weights;
  return keras_import_graph(&tapped, out);
}

static void set_limit(int resource, rlim_t value, rlim_t hard) {
  struct rlimit r;
  if (getrlimit(resource, &r) != 0) return;
  /* Only ever lower: an unprivileged process cannot raise its hard limit. */
  if (r.rlim_max != RLIM_INFINITY && hard > r.rlim_max) hard = r.rlim_max;
  if (value > hard) value = hard;
  r.rlim_cur = value;
  r.rlim_max = hard;
  setrlimit(resource, &r);
}

/* The child's address space at fork: the caller's, which can be far above any data (the CUDA
 * driver reserves terabytes of virtual addresses once loaded; measured on an H100 machine, a
 * fixed RLIMIT_AS left libhdf5 unable to open a 33 MB weights file). 0 when unknown. */
static rlim_t address_space_now(void) {
  char buf[64];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long pages = strtoull(buf, NULL, 10);
  long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? (rlim_t)pages * (rlim_t)page : 0;
}

/* Runs in the forked child; never returns. The graph and everything else is left to _exit. */
static _Noreturn void child_run(int fd, const char *path, const import_options *options,
                                import_container_fn container, const isolate_limits *lim,
                                int attempt) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* The caller's handlers (a crash reporter, Python's faulthandler) must not run in the child. */
  static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGXCPU, SIGXFSZ, SIGPIPE};
  for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) signal(faults[i], SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  rlim_t bytes = (rlim_t)lim->memory_mb << 20;
  set_limit(RLIMIT_CPU, (rlim_t)lim->cpu_s, (rlim_t)lim->cpu_s + 1);
  set_limit(RLIMIT_FSIZE, bytes, bytes);
  set_limit(RLIMIT_CORE, 0, 0);
  /* Under qemu-user (the aarch64 tests of scripts/test-aarch64.sh) setrlimit(RLIMIT_AS) succeeds
   * but limits nothing: qemu keeps memory limits off its own allocations. The child then runs
   * without this limit there; the reply size (RLIMIT_FSIZE) and the CPU time still hold. */
  /* The limit is on what the reading adds to the address space it starts with. */
  rlim_t now = address_space_now();
  if (!ISOLATE_UNDER_ASAN && now <= RLIM_INFINITY - bytes)
    set_limit(RLIMIT_AS, now + bytes, now + bytes);

#ifdef KRT_DEBUG_HOOKS
  /* Test hook (tests/test_hostile_files.c): a reader that never finishes, spinning (the CPU
   * limit stops it) or asleep (only the parent's wall clock does). */
  const char *stall = getenv("KRT_DEBUG_READER_STALL");
  if (stall && strcmp(stall, "spin") == 0)
    for (volatile unsigned long spin = 0;; spin++) {
    }
  if (stall && strcmp(stall, "sleep") == 0)
    for (;;) pause();
  /* A lock inherited held from another thread (child_in_same_futex_wait): on every fork, or only
   * on the first. */
  if (stall && (strcmp(stall, "futex") == 0 || (strcmp(stall, "futex-once") == 0 && attempt == 1))) {
    static int never_woken;
    for (;;) syscall(SYS_futex, &never_woken, 0 /* FUTEX_WAIT */, 0, NULL, NULL, 0);
  }
#else
  (void)attempt;
#endif
  import_tap *t = malloc(sizeof *t);
  if (!t) _exit(3);
  t->fd = fd;
  t->failed = 0;
  t->offset = 0;
  t->used = 0;
  tap_put(t, REPLY_MAGIC, 8);
  import_options opts;
  memset(&opts, 0, sizeof opts);
  if (options) opts = *options;
  opts.tap = t;
  ir_graph *g = NULL;
  krt_status *s = container(path, &opts, &g);
  put_u32(t, TAG_END);
  put_i32(t, s ? (int32_t)krt_status_code(s) : 0);
  put_str(t, s ? krt_status_message(s) : NULL);
  tap_flush(t);
  _exit(t->failed ? 2 : 0);
}

/* ---- parent: waiting ------------------------------------------------------------------------ */

typedef enum { WAIT_EXITED, WAIT_KILLED_BY_TIMEOUT, WAIT_LOST, WAIT_DEADLOCKED } wait_result;

static double seconds_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t0->tv_sec) + 1e-9 * (double)(now.tv_nsec - t0->tv_nsec);
}

/* Whether the child is blocked in futex(): its system call as /proc/PID/syscall gives it (the
 * number, then the arguments; "running" or an error when it is not in one). The child has one
 * thread and shares no memory with anyone, so a futex wait there can never be woken: it is a
 * lock that another thread of the caller held at the moment of the fork (the child inherits the
 * lock, not the thread that would release it). Seen in CI: GCC 12's ASan allocator, whose
 * runtime takes no locks around fork, held by a thread of tests/test_hostile_files.c that was in
 * malloc; the same happens with any library whose locks have no fork handler. `last` keeps the
 * previous reading, so only the same wait seen twice counts (a FUTEX_WAKE passes in
 * microseconds). A kernel that hides the file (ptrace restrictions) just turns this off. */
static int child_in_same_futex_wait(pid_t pid, char *last, size_t size) {
#ifdef SYS_futex
  char path[64], now[256];
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, now, sizeof now - 1);
  close(fd);
  if (n <= 0) return 0;
  now[n] = 0;
  char *end = NULL;
  long number = strtol(now, &end, 10);
  int in_futex = end != now && number == SYS_futex;
  int same = in_futex && strcmp(now, last) == 0;
  snprintf(last, size, "%s", in_futex ? now : "");
  return same;
#else
  (void)pid, (void)last, (void)size;
  return 0;
#endif
}

/* Waits for the child: the pipe's write end lives only in the child, so POLLHUP means it exited
 * (or was killed). WAIT_LOST when someone else reaped it (the caller ignores SIGCHLD or waits for
 * any child): then only a complete reply tells that it finished. WAIT_DEADLOCKED when it sat in
 * the same futex wait for two readings a second apart (child_in_same_futex_wait): it is killed
 * and reaped, and the caller forks again. */
static wait_result wait_child(pid_t pid, int alive, double wall_s, int *status) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int hup = 0, killed = 0;
  char last_syscall[256] = "";
  double next_look = 0.5;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return killed ? WAIT_KILLED_BY_TIMEOUT : WAIT_EXITED;
    if (r < 0 && errno != EINTR) return WAIT_LOST;
    double elapsed = seconds_since(&t0);
    double left = wall_s - elapsed;
    if (!killed && !hup && elapsed >= next_look) {
      next_look = elapsed + 1.0;
      if (child_in_same_futex_wait(pid, last_syscall, sizeof last_syscall)) {
        kill(pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
        }
        return WAIT_DEADLOCKED;
      }
    }
    if (left <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = 1;
    }
    if (!hup && !killed) {
      struct pollfd p = {alive, POLLIN, 0};
      double wake = left < next_look - elapsed ? left : next_look - elapsed;
      int ms = wake > 0 ? (int)(wake * 1000.0) + 1 : 1;
      if (poll(&p, 1, ms) > 0 && (p.revents & (POLLHUP | POLLERR))) hup = 1;
    } else {
      /* Exited or killed, not yet a zombie: a few microseconds. */
      struct timespec pause = {0, 1000000};
      nanosleep(&pause, NULL);
    }
  }
}

/* NULL when the child exited normally; otherwise what happened, as the caller's error. */
static krt_status *child_outcome(const char *path, const isolate_limits *lim, wait_result how,
                                 int status) {
  const char *tail = "the file is corrupt or hostile";
  if (ISOLATE_UNDER_ASAN) tail = "the file is corrupt or hostile (ASan: no memory limit)";
  if (how == WAIT_LOST) return NULL; /* judged by its reply */
  if (how == WAIT_KILLED_BY_TIMEOUT)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: reading the file did not finish within the wall-clock limit of %.0f s "
                     "(2 x the CPU limit of %lld s + 3 s, for a file of %lld MB; "
                     "KRT_HDF5_TIME_LIMIT_S sets the CPU limit): the reader process was killed, %s",
                     path, lim->wall_s, lim->cpu_s, lim->file_mb, tail);
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 0) return NULL;
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: the reader process exited with status %d before it finished (a "
                     "sanitizer report or a failed write of its reply): %s",
                     path, WEXITSTATUS(status), tail);
  }
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (sig == SIGXCPU || sig == SIGKILL)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: reading the file used more than %lld s of CPU time, the limit for a "
                     "file of %lld MB (signal %d; KRT_HDF5_TIME_LIMIT_S sets it): libhdf5 or "
                     "libzip loops on it, %s",
                     path, lim->cpu_s, lim->file_mb, sig, tail);
  if (sig == SIGXFSZ)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: the weights read from the file passed the limit of %lld MB "
                     "(KRT_HDF5_MEMORY_LIMIT_MB): %s",
                     path, lim->memory_mb, tail);
  if (sig == SIGABRT)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: libhdf5 aborted (signal 6) while reading the file, as it does on a "
                     "failed internal check or allocation (memory limit %lld MB, "
                     "KRT_HDF5_MEMORY_LIMIT_MB): %s",
                     path, lim->memory_mb, tail);
  return krt_error(KRT_ERR_BAD_FILE,
                   "%s: libhdf5 or libzip crashed (signal %d, %s) while reading the file (in a "
                   "reader process limited to %lld MB, KRT_HDF5_MEMORY_LIMIT_MB): %s",
                   path, sig, strsignal(sig), lim->memory_mb, tail);
}

/* ---- parent: reading the reply -------------------------------------------------------------- */

typedef struct cursor {
  const unsigned char *p, *end;
  int bad; /* read past the end or a value out of range */
} cursor;

static const unsigned char *take(cursor *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = 1;
    return NULL;
  }
  const unsigned char *at = c->p;
  c->p += n;
  return at;
}

static uint32_t get_u32(cursor *c) {
  uint32_t v = 0;
  const unsigned char *at = take(c, sizeof v);
  if (at) memcpy(&v, at, sizeof v);
  return v;
}

static int32_t get_i32(cursor *c) {
  int32_t v = 0;
  const unsigned char *at = take(c, sizeof v);
  if (at) memcpy(&v, at, sizeof v);
  return v;
}

static int64_t get_i64(cursor *c) {
  int64_t v = 0;
  const unsigned char *at = take(c, sizeof v);
  if (at) memcpy(&v, at, sizeof v);
  return v;
}

/* A string's bytes (not terminated) and length; NULL for none (or a bad reply). */
static const char *get_str(cursor *c, size_t *len) {
  uint32_t n = get_u32(c);
  *len = 0;
  if (c->bad || n == NO_STRING) return NULL;
  const unsigned char *at = take(c, n);
  if (at) *len = n;
  return (const char *)at;
}

static char *dup_str(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Reads one array of a WEIGHTS record; out->data points into the mapping (out->borrowed). With
 * out == NULL it only checks. */
static void get_array(cursor *c, const unsigned char *base, keras_array *out) {
  size_t name_len = 0;
  const char *name = get_str(c, &name_len);
  uint32_t rank = get_u32(c);
  if (!name || rank > KRT_MAX_RANK) c->bad = 1;
  if (c->bad) return;
  int64_t dims[KRT_MAX_RANK];
  size_t count = 1;
  for (uint32_t d = 0; d < rank; d++) {
    dims[d] = get_i64(c);
    if (dims[d] < 0 || (dims[d] > 0 && count > SIZE_MAX / sizeof(float) / (uint64_t)dims[d]))
      c->bad = 1;
    else
      count *= (size_t)dims[d];
  }
  size_t offset = (size_t)(c->p - base);
  take(c, (DATA_ALIGN - offset % DATA_ALIGN) % DATA_ALIGN);
  const unsigned char *data = c->bad ? NULL : take(c, count * sizeof(float));
  if (!data || !out) return;
  if (!(out->name = dup_str(name, name_len))) {
    c->bad = 1;
    return;
  }
  /* The mapping is private and writable: a converter that wrote into its weights would get a
   * copy of the page, never touch the child's data. */
  out->data = (float *)(uintptr_t)data;
  out->borrowed = 1;
  out->rank = (int)rank;
  memcpy(out->dims, dims, rank * sizeof *dims);
}

typedef struct replay {
  const char *path;
  const unsigned char *base;
  size_t size;
  size_t *calls; /* offsets of the WEIGHTS records' bodies, in order */
  int n_calls, next;
} replay;

static krt_status *mismatch(const replay *r) {
  return krt_error(KRT_ERR_INTERNAL,
                   "%s: the weights read in the reader process do not match the model walk "
                   "(weight read %d of %d)",
                   r->path, r->next + 1, r->n_calls);
}

static krt_status *replay_read_weights(void *self, const keras_level *level, int position,
                                       keras_array **arrays, int *n) {
  replay *r = self;
  *arrays = NULL;
  *n = 0;
  if (r->next >= r->n_calls) return mismatch(r);
  cursor c = {r->base + r->calls[r->next], r->base + r->size, 0};
  uint32_t depth = get_u32(&c);
  int same = get_i32(&c) == position;
  uint32_t d = 1;
  for (const keras_level *l = level; l->parent && same; l = l->parent, d++)
    same = d < depth && get_i32(&c) == l->position;
  if (!same || d != depth) return mismatch(r);
  uint32_t count = get_u32(&c);
  keras_array *result = count ? calloc(count, sizeof *result) : NULL;
  if (count && !result) return krt_error_oom("weights");
  uint32_t got = 0;
  for (; got < count && !c.bad; got++) get_array(&c, r->base, &result[got]);
  if (c.bad) {
    keras_arrays_free(result, (int)got);
    return krt_error_oom("weight names"); /* the record was checked: only a name can fail */
  }
  r->next++;
  *arrays = result;
  *n = (int)count;
  return NULL;
}

/* Checks the whole reply before anything trusts it, and rebuilds the graph from it. */
static krt_status *replay_reply(const char *path, const import_options *options,
                                const isolate_limits *lim, int fd, ir_graph **out) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 8)
    return krt_error(KRT_ERR_BAD_FILE,
                     "%s: the reader process ended without a reply (killed from outside?): the "
                     "file is corrupt or hostile",
                     path);
  size_t size = (size_t)st.st_size;
  void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    return krt_error(KRT_ERR_OUT_OF_MEMORY, "%s: the reader's reply (%zu bytes) cannot be mapped",
                     path, size);
  replay r = {path, map, size, NULL, 0, 0};
  cursor c = {r.base, r.base + size, 0};
  const unsigned char *magic = take(&c, 8);
  int have_meta = 0, ended = 0, cap = 0;
  int32_t major = 0, end_code = 0;
  const char *what = NULL, *text = NULL, *backend = NULL, *message = NULL;
  size_t what_len = 0, text_len = 0, backend_len = 0, message_len = 0;
  krt_status *s = NULL;
  if (!magic || memcmp(magic, REPLY_MAGIC, 8) != 0) c.bad = 1;
  while (!c.bad && !ended && c.p < c.end) {
    uint32_t tag = get_u32(&c);
    if (tag == TAG_META && !have_meta) {
      major = get_i32(&c);
      what = get_str(&c, &what_len);
      text = get_str(&c, &text_len);
      backend = get_str(&c, &backend_len);
      have_meta = 1;
      if (!what || !text) c.bad = 1;
    } else if (tag == TAG_WEIGHTS && have_meta) {
      if (r.n_calls == cap) {
        cap = cap ? cap * 2 : 256;
        size_t *grown = realloc(r.calls, (size_t)cap * sizeof *grown);
        if (!grown) {
          s = krt_error_oom("reader reply");
          break;
        }
        r.calls = grown;
      }
      r.calls[r.n_calls++] = (size_t)(c.p - r.base);
      uint32_t depth = get_u32(&c);
      take(&c, (size_t)depth * sizeof(int32_t));
      uint32_t count = get_u32(&c);
      for (uint32_t i = 0; i < count && !c.bad; i++) get_array(&c, r.base, NULL);
      if (depth == 0 || r.n_calls == INT32_MAX) c.bad = 1;
    } else if (tag == TAG_END) {
      end_code = get_i32(&c);
      message = get_str(&c, &message_len);
      ended = 1;
    } else {
      c.bad = 1;
    }
  }
  if (!s && (c.bad || !ended || c.p != c.end || (end_code == 0 && !have_meta) ||
             (end_code != 0 && !message)))
    s = krt_error(KRT_ERR_BAD_FILE,
                  "%s: the reader process sent a malformed reply (%s at byte %zu of %zu): the "
                  "file is corrupt or hostile",
                  path, ended ? "trailing data" : "cut short or garbled", (size_t)(c.p - r.base),
                  size);
  if (!s && end_code != 0) {
    /* The import failed in the child as it would have here: same code, same message. A
     * memory-limit hit shows as an allocation failure and says which limit. */
    if (end_code == KRT_ERR_OUT_OF_MEMORY)
      s = krt_error(KRT_ERR_BAD_FILE,
                    "%s: reading the file ran out of memory in the reader process (limit %lld MB, "
                    "KRT_HDF5_MEMORY_LIMIT_MB): %.*s",
                    path, lim->memory_mb, (int)message_len, message);
    else if (end_code < KRT_ERR_INVALID_ARGUMENT || end_code > KRT_ERR_INTERNAL)
      s = krt_error(KRT_ERR_BAD_FILE, "%s: the reader process sent an unknown error code %d", path,
                    (int)end_code);
    else
      s = krt_error((krt_code)end_code, "%.*s", (int)message_len, message);
  }
  cJSON *model = NULL;
  char *what_z = NULL, *backend_z = NULL;
  if (!s && !(what_z = dup_str(what, what_len))) s = krt_error_oom("reader reply");
  if (!s && backend && !(backend_z = dup_str(backend, backend_len)))
    s = krt_error_oom("reader reply");
  if (!s) s = keras_parse_json(path, what_z, text, text_len, &model);
  if (!s) {
    keras_model_source src;
    memset(&src, 0, sizeof src);
    src.file = path;
    src.model = model;
    src.config_what = what_z;
    src.config_text = text;
    src.config_size = text_len;
    src.keras_major = major;
    src.backend = backend_z;
    src.options = options;
    src.weights.self = &r;
    src.weights.read = replay_read_weights;
    s = keras_import_graph(&src, out);
    if (!s && r.next != r.n_calls) {
      s = mismatch(&r);
      ir_graph_free(*out);
      *out = NULL;
    }
  }
  cJSON_Delete(model);
  free(what_z);
  free(backend_z);
  free(r.calls);
  munmap(map, size);
  return s;
}

/* ---- the entry point ------------------------------------------------------------------------ */

/* One fork of the reader: a fresh reply file and liveness pipe, the child, the wait. On success
 * *reply is the reply file (the caller closes it); WAIT_DEADLOCKED comes back as *deadlocked. */
static krt_status *run_reader_once(const char *path, const import_options *options,
                                   import_container_fn container, const isolate_limits *lim,
                                   int attempt, int *reply_out, int *deadlocked) {
  *reply_out = -1;
  *deadlocked = 0;
  int reply = memfd_create("krt-hdf5-reply", MFD_CLOEXEC);
  if (reply < 0)
    return krt_error(KRT_ERR_IO, "%s: cannot create the reader's reply file (%s)", path,
                     strerror(errno));
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) != 0) {
    int e = errno;
    close(reply);
    return krt_error(KRT_ERR_IO, "%s: cannot create a pipe for the reader process (%s)", path,
                     strerror(e));
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(alive[0]);
    child_run(reply, path, options, container, lim, attempt);
  }
  int fork_errno = errno;
  close(alive[1]);
  krt_status *s = NULL;
  if (pid < 0) {
    s = krt_error(KRT_ERR_OUT_OF_MEMORY, "%s: cannot start the reader process (fork: %s)", path,
                  strerror(fork_errno));
  } else {
    int status = 0;
    wait_result how = wait_child(pid, alive[0], lim->wall_s, &status);
    if (how == WAIT_DEADLOCKED)
      *deadlocked = 1;
    else
      s = child_outcome(path, lim, how, status);
  }
  close(alive[0]);
  if (s || *deadlocked)
    close(reply);
  else
    *reply_out = reply;
  return s;
}

/* A child that deadlocked at start (a lock inherited from another thread: see
 * child_in_same_futex_wait) is forked again; by then that thread has long released the lock. */
#define READER_FORK_ATTEMPTS 4

krt_status *hdf5_isolate_import(const char *path, const import_options *options,
                                import_container_fn container, ir_graph **out) {
  const char *in_process = getenv("KRT_HDF5_IN_PROCESS");
  if (in_process && strcmp(in_process, "1") == 0) return container(path, options, out);
  isolate_limits lim;
  KRT_TRY(read_limits(path, &lim));
  for (int attempt = 1; attempt <= READER_FORK_ATTEMPTS; attempt++) {
    int reply = -1, deadlocked = 0;
    KRT_TRY(run_reader_once(path, options, container, &lim, attempt, &reply, &deadlocked));
    if (deadlocked) continue;
    krt_status *s = replay_reply(path, options, &lim, reply, out);
    close(reply);
    return s;
  }
  return krt_error(KRT_ERR_IO,
                   "%s: the reader process hung waiting for a lock %d times in a row: a lock "
                   "that another thread of this program held when krt forked the reader (a "
                   "library without fork handlers; GCC 12's AddressSanitizer runtime is one). "
                   "Retry, or set KRT_HDF5_IN_PROCESS=1 to read without a reader process",
                   path, READER_FORK_ATTEMPTS);
}
