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
 * Reshape's output shares its input's bytes, so breaking one breaks both. */
#ifndef KRT_BACKEND_DEBUG_HOOKS_H
#define KRT_BACKEND_DEBUG_HOOKS_H

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ir/graph.h"

#define DEBUG_BREAK_ENV "KRT_DEBUG_BREAK_NODE"
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

#endif
