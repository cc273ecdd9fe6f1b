/* Chooses the backend for a device. The CPU reference backend is built in; the CUDA backend is a
 * plugin, libkrt_cuda.so, so that libkrt itself never links CUDA and runs where there is none.
 *
 * Where the plugin is looked for, first hit wins:
 *   1. the file named by the environment variable KRT_CUDA_BACKEND
 *   2. beside the file this code was loaded from (libkrt.so, or the executable when krt is linked
 *      statically), found with dladdr()
 *   3. beside the executable (/proc/self/exe), then in its ../lib
 *   4. the libdir `cmake --install` puts it in (CMAKE_INSTALL_FULL_LIBDIR at configure time), for
 *      programs elsewhere that link libkrt.a from an installed krt
 *   5. the dynamic loader's own search path (LD_LIBRARY_PATH, rpath, ld.so.cache)
 * The outcome, success or failure, is cached for the life of the process: loading is tried once.
 */
#define _GNU_SOURCE /* dladdr */
#include "backend/backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/status.h"
#include "krt_build_info.h" /* KRT_BUILD_INSTALL_LIBDIR (generated: cmake/build_info.cmake) */

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Why loading failed: every place tried and what the loader said. */
#define LOAD_LOG_SIZE 2048

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static const krt_backend *cuda_backend;
static krt_code cuda_error_code;
static char cuda_error[LOAD_LOG_SIZE];

static void log_append(char *log, const char *fmt, const char *a, const char *b) {
  size_t used = strlen(log);
  if (used + 1 >= LOAD_LOG_SIZE) return;
  if (snprintf(log + used, LOAD_LOG_SIZE - used, fmt, a, b) < 0) log[used] = '\0';
}

/* The directory part of path into dir ("" when it has none). */
static void dir_of(const char *path, char *dir, size_t size) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n >= size) n = 0;
  memcpy(dir, path, n);
  dir[n] = '\0';
}

/* dlopen()s path and calls its entry point. Returns 1 when the search should stop: found (the
 * backend is set) or found but unusable (the error is set); 0 to try the next place. */
static int try_module(const char *path, int must_exist, char *log) {
  if (!must_exist && strchr(path, '/') && access(path, F_OK) != 0) return 0;
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    log_append(log, "%s: %s; ", path, why ? why : "dlopen failed");
    /* A module that exists but cannot load (missing cuDNN, wrong architecture) is the answer. */
    return must_exist || strchr(path, '/') != NULL;
  }
  krt_backend_entry_fn entry = NULL;
  void *symbol = dlsym(handle, KRT_CUDA_ENTRY_SYMBOL);
  memcpy(&entry, &symbol, sizeof entry); /* object pointer -> function pointer, as POSIX allows */
  if (!entry) {
    log_append(log, "%s: no symbol %s; ", path, KRT_CUDA_ENTRY_SYMBOL);
    dlclose(handle);
    return 1;
  }
  krt_status *error = NULL;
  const krt_backend *backend = entry(KRT_BACKEND_ABI, &error);
  if (!backend) {
    log_append(log, "%s: %s; ", path, error ? krt_status_message(error) : "the entry point failed");
    krt_status_release(error);
    dlclose(handle);
    return 1;
  }
  /* Never dlclose()d: the backend's code and its CUDA state live as long as the process. */
  cuda_backend = backend;
  return 1;
}

static void load_cuda_backend(void) {
  char log[LOAD_LOG_SIZE] = "";
  char dir[PATH_MAX], path[PATH_MAX + 64];
  int done = 0;

  const char *env = getenv("KRT_CUDA_BACKEND");
  if (env && env[0]) done = try_module(env, 1, log);

  Dl_info info;
  void *self = (void *)(uintptr_t)&krt_backend_for_device;
  if (!done && dladdr(self, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
    dir_of(info.dli_fname, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, KRT_CUDA_MODULE_NAME);
    done = try_module(path, 0, log);
    if (!done) log_append(log, "%s: %s; ", path, "not found");
  }

  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (!done && n > 0) {
    exe[n] = '\0';
    dir_of(exe, dir, sizeof dir);
    static const char *const subdirs[] = {"", "/../lib"};
    for (size_t i = 0; i < 2 && !done; i++) {
      snprintf(path, sizeof path, "%s%s/%s", dir, subdirs[i], KRT_CUDA_MODULE_NAME);
      if (strstr(log, path)) continue; /* libkrt's own folder, already tried */
      done = try_module(path, 0, log);
      if (!done) log_append(log, "%s: %s; ", path, "not found");
    }
  }
  if (!done) {
    snprintf(path, sizeof path, "%s/%s", KRT_BUILD_INSTALL_LIBDIR, KRT_CUDA_MODULE_NAME);
    if (!strstr(log, path)) {
      done = try_module(path, 0, log);
      if (!done) log_append(log, "%s: %s; ", path, "not found");
    }
  }
  if (!done) done = try_module(KRT_CUDA_MODULE_NAME, 1, log);
  if (cuda_backend) return;

  size_t len = strlen(log);
  if (len >= 2) log[len - 2] = '\0'; /* the last "; " */
#ifdef KRT_CUDA_MODULE_BUILT
  const char *hint = "";
#else
  const char *hint = " (this krt was built without the CUDA module: configure with KRT_WITH_CUDA=ON)";
#endif
  cuda_error_code = KRT_ERR_DEVICE;
  /* The log can be as long as the message buffer: keep the head of the message, cut the log. */
  int head = snprintf(cuda_error, sizeof cuda_error, "the CUDA backend is not available%s: ", hint);
  if (head > 0 && (size_t)head < sizeof cuda_error) {
    size_t room = sizeof cuda_error - (size_t)head - 1;
    size_t n = strlen(log) < room ? strlen(log) : room;
    memcpy(cuda_error + head, log, n);
    cuda_error[(size_t)head + n] = '\0';
  }
}

krt_status *krt_backend_for_device(krt_device device, const krt_backend **out) {
  switch (device) {
    case KRT_DEVICE_CPU: *out = krt_backend_cpu(); return NULL;
    case KRT_DEVICE_CUDA:
      if (pthread_once(&cuda_once, load_cuda_backend) != 0)
        return krt_error(KRT_ERR_DEVICE, "the CUDA backend could not be initialised");
      if (!cuda_backend) return krt_error(cuda_error_code, "%s", cuda_error);
      *out = cuda_backend;
      return NULL;
  }
  return krt_error(KRT_ERR_INVALID_ARGUMENT, "unknown device %d", (int)device);
}
