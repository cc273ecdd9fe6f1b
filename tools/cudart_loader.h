/* cudart_loader: the few CUDA runtime calls the CLI needs (device memory for `krt bench
 * --device-buffers`), loaded with dlopen at run time so that the krt executable never links
 * CUDA: it still starts, and every other command works, on machines without a CUDA toolkit.
 *
 * The runtime's functions return cudaError_t, an enum whose value 0 is cudaSuccess; they are
 * declared here with int, which has the same size and calling convention. */
#ifndef KRT_TOOLS_CUDART_LOADER_H
#define KRT_TOOLS_CUDART_LOADER_H

#include <stddef.h>

/* cudaMemcpyKind values (cuda_runtime_api.h, driver_types.h). */
enum { CUDART_HOST_TO_DEVICE = 1, CUDART_DEVICE_TO_HOST = 2 };

typedef struct cudart_api {
  void *library; /* the dlopen handle; NULL when not loaded */
  int (*malloc_device)(void **ptr, size_t bytes);           /* cudaMalloc */
  int (*free_device)(void *ptr);                            /* cudaFree */
  int (*copy)(void *dst, const void *src, size_t bytes, int kind); /* cudaMemcpy */
  const char *(*error_string)(int error);                   /* cudaGetErrorString */
  int (*stream_create)(void **stream);                      /* cudaStreamCreate */
  int (*stream_synchronize)(void *stream);                  /* cudaStreamSynchronize */
  int (*stream_destroy)(void *stream);                      /* cudaStreamDestroy */
  int (*copy_async)(void *dst, const void *src, size_t bytes, int kind,
                    void *stream); /* cudaMemcpyAsync */
  int (*mem_get_info)(size_t *free_bytes, size_t *total); /* cudaMemGetInfo */
} cudart_api;

/* Opens libcudart.so.13, else libcudart.so.12, else libcudart.so, and finds the functions above.
 * Returns 0, or -1 with *rt zeroed and a reason (the loader's dlerror text) in why. */
int cudart_load(cudart_api *rt, char *why, size_t why_size);

/* The runtime's text for an error code ("out of memory"), safe for any code. */
const char *cudart_error_text(const cudart_api *rt, int error);

/* Closes the library (if open) and zeroes *rt. Device memory must be freed before. */
void cudart_unload(cudart_api *rt);

#endif
