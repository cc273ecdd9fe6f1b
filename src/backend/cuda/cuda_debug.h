/* Counters of what a CUDA context's runs did, for tests (tests/test_cuda_backend.c) to check that
 * device-buffer runs are zero-copy and that CUDA graphs follow the bound pointers.
 *
 * The counters are the FIRST member of the context's state (cuda_context in
 * cuda_backend_internal.h), so a test holding a krt_context (src/api/api_internal.h:
 * backend_state) can read them with this header alone, without the CUDA headers. Only tests
 * read them; the library never does.
 */
#ifndef KRT_BACKEND_CUDA_DEBUG_H
#define KRT_BACKEND_CUDA_DEBUG_H

#include <stdint.h>

typedef struct cuda_run_counters {
  uint64_t device_copies;   /* same-dtype device-to-device copies of bound inputs and outputs */
  uint64_t conversions;     /* float32 <-> float16 conversions of inputs and outputs */
  uint64_t eager_runs;      /* computes launched node by node (first run at a batch, profiling) */
  uint64_t captures;        /* CUDA graphs captured (a new batch or a new set of bound pointers) */
  uint64_t graph_updates;   /* of those, applied to an existing executable (cudaGraphExecUpdate) */
  uint64_t replays;         /* computes that replayed a cached graph as it was */
} cuda_run_counters;

/* The counters of a CUDA context's backend state. */
static inline const cuda_run_counters *cuda_counters_of(const void *backend_state) {
  return (const cuda_run_counters *)backend_state;
}

#endif
