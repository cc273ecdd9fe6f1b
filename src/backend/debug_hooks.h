/* Test hooks that deliberately break an engine, so tests can show that `krt compare` finds the
 * node that went wrong. Compiled in only with KRT_DEBUG_HOOKS (the CMake option of that name,
 * on by default; a release build may turn it off). Header-only: the CPU backend (in libkrt) and
 * the CUDA backend (its own module) both read it.
 *
 *   KRT_DEBUG_BREAK_NODE=<node name>   every context created while it is set adds
 *                                      DEBUG_BREAK_OFFSET to that node's output after the node
 *                                      runs (all elements, at the run's batch). The name is an
 *                                      engine node's (krt inspect ENGINE lists them); a name that
 *                                      matches no node fails context creation.
 *
 * The variable is read when a context is created, not at each run, so a program can create a
 * broken context and a sound one side by side (krt compare breaks only its target's). A
 * Reshape's output shares its input's bytes, so breaking one breaks both.
 *
 *   KRT_DEBUG_FAIL_CUDA_MALLOC=<N>     the N-th device allocation made through the CUDA
 *                                      backend's allocator (cuda_alloc_device: the engine's
 *                                      weights at build or load, a context's arena, workspace,
 *                                      staging and flags) fails as cudaMalloc does when the device
 *                                      is full: KRT_ERR_OUT_OF_MEMORY. Counted from 1 since the
 *                                      variable last changed (set, unset or given another value),
 *                                      so a test can walk N = 1, 2, ... over one build or context
 *                                      creation. Only that one allocation fails. Read at each
 *                                      allocation; not meant for several threads at once.
 *                                      tests/test_cuda_backend.c checks the clean-up with it. */
#ifndef KRT_BACKEND_DEBUG_HOOKS_H
#define KRT_BACKEND_DEBUG_HOOKS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"

#define DEBUG_BREAK_ENV "KRT_DEBUG_BREAK_NODE"
#define DEBUG_FAIL_CUDA_MALLOC_ENV "KRT_DEBUG_FAIL_CUDA_MALLOC"
#define DEBUG_BREAK_OFFSET 1000.0f

/* The index of the node KRT_DEBUG_BREAK_NODE names in g, or -1 when it is unset (or the hooks
 * are compiled out). KRT_ERR_INVALID_ARGUMENT when it names no node of g. */
static inline krt_status *debug_break_node(const ir_graph *g, int *node) {
  *node = -1;
#ifdef KRT_DEBUG_HOOKS
  const char *name = getenv(DEBUG_BREAK_ENV);
  if (!name || !name[0]) return NULL;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0) {
      *node = i;
      return NULL;
    }
  return krt_error(KRT_ERR_INVALID_ARGUMENT,
                   "%s=%s: the engine has no node of that name (krt inspect ENGINE lists them)",
                   DEBUG_BREAK_ENV, name);
#else
  (void)g;
  return NULL;
#endif
}

/* 1 when this device allocation is the one KRT_DEBUG_FAIL_CUDA_MALLOC asks to fail (the count
 * restarts whenever the variable's text changes); always 0 without the hooks. */
static inline int debug_fail_cuda_malloc(void) {
#ifdef KRT_DEBUG_HOOKS
  static char last[32];
  static long long count;
  const char *text = getenv(DEBUG_FAIL_CUDA_MALLOC_ENV);
  if (!text) text = "";
  if (strncmp(text, last, sizeof last - 1) != 0) {
    snprintf(last, sizeof last, "%s", text);
    count = 0;
  }
  if (!text[0]) return 0;
  long long n = strtoll(text, NULL, 10);
  return n > 0 && ++count == n;
#else
  return 0;
#endif
}

#endif
