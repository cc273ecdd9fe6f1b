/* cudart_loader.c: see cudart_loader.h. The sonames are tried newest first: the CUDA 13 runtime
 * matches the toolkit the CUDA backend is built with, 12 runs on older drivers, and the bare name
 * covers a development install that has only the unversioned link. */
#include "cudart_loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static const char *const cudart_names[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so"};

/* dlsym returns void*; converting that to a function pointer is what POSIX guarantees works, but
 * ISO C does not define the cast, so copy the bytes (as -Wpedantic wants). */
static int find(void *library, const char *name, void *fn_ptr, size_t fn_size, char *why,
                size_t why_size) {
  void *p = dlsym(library, name);
  if (!p) {
    const char *e = dlerror();
    snprintf(why, why_size, "%s", e ? e : name);
    return -1;
  }
  memcpy(fn_ptr, &p, fn_size);
  return 0;
}

int cudart_load(cudart_api *rt, char *why, size_t why_size) {
  memset(rt, 0, sizeof *rt);
  if (why_size) why[0] = '\0';
  const size_t n_names = sizeof cudart_names / sizeof cudart_names[0];
  for (size_t i = 0; i < n_names && !rt->library; i++) {
    rt->library = dlopen(cudart_names[i], RTLD_NOW | RTLD_LOCAL);
    if (!rt->library) {
      const char *e = dlerror();
      /* Keep the first failure: it names the soname we wanted most. */
      if (i == 0) snprintf(why, why_size, "%s", e ? e : cudart_names[i]);
    }
  }
  if (!rt->library) return -1;
  if (find(rt->library, "cudaMalloc", &rt->malloc_device, sizeof rt->malloc_device, why,
           why_size) ||
      find(rt->library, "cudaFree", &rt->free_device, sizeof rt->free_device, why, why_size) ||
      find(rt->library, "cudaMemcpy", &rt->copy, sizeof rt->copy, why, why_size) ||
      find(rt->library, "cudaGetErrorString", &rt->error_string, sizeof rt->error_string, why,
           why_size) ||
      find(rt->library, "cudaStreamCreate", &rt->stream_create, sizeof rt->stream_create, why,
           why_size) ||
      find(rt->library, "cudaStreamSynchronize", &rt->stream_synchronize,
           sizeof rt->stream_synchronize, why, why_size) ||
      find(rt->library, "cudaStreamDestroy", &rt->stream_destroy, sizeof rt->stream_destroy, why,
           why_size) ||
      find(rt->library, "cudaMemcpyAsync", &rt->copy_async, sizeof rt->copy_async, why, why_size) ||
      find(rt->library, "cudaMemGetInfo", &rt->mem_get_info, sizeof rt->mem_get_info, why,
           why_size)) {
    cudart_unload(rt);
    return -1;
  }
  return 0;
}

const char *cudart_error_text(const cudart_api *rt, int error) {
  const char *text = rt->error_string ? rt->error_string(error) : NULL;
  return text ? text : "unknown CUDA error";
}

void cudart_unload(cudart_api *rt) {
  if (rt->library) dlclose(rt->library);
  memset(rt, 0, sizeof *rt);
}
