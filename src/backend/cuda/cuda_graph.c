/* CUDA graphs: the node sequence of a run captured once per batch size and set of bound device
 * pointers, and replayed.
 *
 * The first run at a batch runs eagerly; once it completed without error (finish_pending calls
 * cuda_graph_mark_validated), the next run at that batch captures the nodes on the context's
 * stream and replays the graph from then on. Device buffers the caller binds are read and written
 * in place by the nodes (zero-copy, cuda_context.c), so their pointers are baked into the graph:
 * a graph is keyed by (batch, c->keys), the bound pointer of each graph input and output. A run
 * with pointers not seen before captures again: into a free slot, else over the least recently
 * used one. When that one is of the same batch the new capture is applied to its executable with
 * cudaGraphExecUpdate (cheaper than instantiating; falls back to instantiating when the update is
 * refused). A batch keeps at most CUDA_GRAPHS_PER_BATCH pointer sets, so callers rotating through
 * many buffers update a few executables instead of filling the cache. If a capture fails (a
 * library call that cannot be captured), the context runs eagerly from then on: slower, never
 * wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend_internal.h"

#define CUDA_GRAPHS_PER_BATCH 4

static size_t key_bytes(const cuda_context *c) { return (size_t)c->n_keys * sizeof(void *); }

krt_status *cuda_graphs_init(cuda_context *c) {
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) {
    c->graphs[i].keys = calloc((size_t)(c->n_keys ? c->n_keys : 1), sizeof(void *));
    if (!c->graphs[i].keys) return krt_error_oom("CUDA graph keys");
  }
  return NULL;
}

void cuda_graphs_release(cuda_context *c) {
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) {
    if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
    free(c->graphs[i].keys);
    memset(&c->graphs[i], 0, sizeof c->graphs[i]);
  }
}

/* ---- validated batch sizes ------------------------------------------------------------------ */

static int validated_index(const cuda_context *c, int64_t batch) {
  for (int i = 0; i < CUDA_VALIDATED_SLOTS; i++)
    if (c->validated[i] == batch) return i;
  return -1;
}

void cuda_graph_mark_validated(cuda_context *c, int64_t batch) {
  int at = validated_index(c, batch);
  if (at < 0) { /* a free entry, or forget the least recently used batch (it runs eagerly once) */
    at = 0;
    for (int i = 0; i < CUDA_VALIDATED_SLOTS; i++) {
      if (c->validated[i] == 0) {
        at = i;
        break;
      }
      if (c->validated_use[i] < c->validated_use[at]) at = i;
    }
    c->validated[at] = batch;
  }
  c->validated_use[at] = ++c->use_counter;
}

/* ---- the graph cache ------------------------------------------------------------------------ */

static cuda_graph_slot *find_graph(cuda_context *c, int64_t batch) {
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) {
    cuda_graph_slot *s = &c->graphs[i];
    if (s->batch == batch && s->exec && memcmp(s->keys, c->keys, key_bytes(c)) == 0) return s;
  }
  return NULL;
}

/* Where a new graph of this batch goes: the batch's least recently used slot when it has
 * CUDA_GRAPHS_PER_BATCH already, else a free slot, else the least recently used one. */
static cuda_graph_slot *victim_slot(cuda_context *c, int64_t batch) {
  cuda_graph_slot *same = NULL, *any = NULL;
  int n_same = 0;
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) {
    cuda_graph_slot *s = &c->graphs[i];
    if (s->batch == batch && s->exec) {
      n_same++;
      if (!same || s->last_use < same->last_use) same = s;
    }
    if (!any || (any->batch != 0 && (s->batch == 0 || s->last_use < any->last_use))) any = s;
  }
  return n_same >= CUDA_GRAPHS_PER_BATCH ? same : any;
}

/* Captures the nodes at this batch with the current bindings into `slot`, updating its
 * executable when it holds one of the same batch. Returns 0 on success, or -1 when capture is
 * not possible here (the context then runs eagerly; a launcher's error is reported by that
 * eager run, since it may have failed only because of the capture). */
static int capture(cuda_context *c, cuda_graph_slot *slot, int64_t batch) {
  if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  krt_status *s = cuda_launch_nodes(c, batch, 0);
  cudaGraph_t graph = NULL;
  cudaError_t end = cudaStreamEndCapture(c->stream, &graph);
  if (s || end != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    krt_status_release(s);
    return -1;
  }
  c->counters.captures++;
  if (slot->exec && slot->batch == batch) {
    cudaGraphExecUpdateResultInfo info;
    if (cudaGraphExecUpdate(slot->exec, graph, &info) == cudaSuccess) {
      cudaGraphDestroy(graph);
      c->counters.graph_updates++;
      memcpy(slot->keys, c->keys, key_bytes(c));
      return 0;
    }
    (void)cudaGetLastError();
  }
  if (slot->exec) cudaGraphExecDestroy(slot->exec);
  slot->exec = NULL;
  slot->batch = 0;
  cudaGraphExec_t exec = NULL;
  cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  slot->exec = exec;
  slot->batch = batch;
  memcpy(slot->keys, c->keys, key_bytes(c));
  return 0;
}

krt_status *cuda_run_compute(cuda_context *c, int64_t batch, int *eager) {
  *eager = 1;
  int at = c->graphs_disabled ? -1 : validated_index(c, batch);
  if (at < 0) {
    c->counters.eager_runs++;
    return cuda_launch_nodes(c, batch, 0);
  }
  c->validated_use[at] = ++c->use_counter;
  cuda_graph_slot *slot = find_graph(c, batch);
  if (slot) {
    c->counters.replays++;
  } else {
    slot = victim_slot(c, batch);
    if (capture(c, slot, batch) != 0) {
      c->graphs_disabled = 1;
      for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) { /* keys stay allocated; executables go */
        if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
        c->graphs[i].exec = NULL;
        c->graphs[i].batch = 0;
      }
      c->counters.eager_runs++;
      return cuda_launch_nodes(c, batch, 0);
    }
  }
  slot->last_use = ++c->use_counter;
  *eager = 0;
  return cuda_status(cudaGraphLaunch(slot->exec, c->stream), "cudaGraphLaunch", "run");
}
