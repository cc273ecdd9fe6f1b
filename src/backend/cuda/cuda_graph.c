/* CUDA graphs: the node sequence of a run captured once per batch size and replayed.
 *
 * The first run at a batch runs eagerly; once it completed without error (finish_pending calls
 * cuda_graph_mark_validated), the next run at that batch captures the nodes on the context's
 * stream and replays the graph from then on. Only the compute part is captured: inputs and
 * outputs are copied into and out of fixed arena slots outside the graph, so callers may bind
 * other buffers between runs. A context keeps CUDA_GRAPH_SLOTS batch sizes, dropping the least
 * recently used. If a capture fails (a library call that cannot be captured), the context runs
 * eagerly from then on: slower, never wrong.
 */
#include <string.h>

#include "backend/cuda/cuda_backend_internal.h"

static cuda_graph_slot *find_slot(cuda_context *c, int64_t batch) {
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++)
    if (c->graphs[i].batch == batch) return &c->graphs[i];
  return NULL;
}

/* A free slot, or the least recently used one emptied. */
static cuda_graph_slot *take_slot(cuda_context *c, int64_t batch) {
  cuda_graph_slot *best = &c->graphs[0];
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) {
    cuda_graph_slot *s = &c->graphs[i];
    if (s->batch == 0) {
      best = s;
      break;
    }
    if (s->last_use < best->last_use) best = s;
  }
  if (best->exec) cudaGraphExecDestroy(best->exec);
  memset(best, 0, sizeof *best);
  best->batch = batch;
  return best;
}

void cuda_graph_mark_validated(cuda_context *c, int64_t batch) {
  cuda_graph_slot *s = find_slot(c, batch);
  if (!s) s = take_slot(c, batch);
  s->validated = 1;
  s->last_use = ++c->use_counter;
}

void cuda_graphs_release(cuda_context *c) {
  for (int i = 0; i < CUDA_GRAPH_SLOTS; i++) {
    if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
    memset(&c->graphs[i], 0, sizeof c->graphs[i]);
  }
}

/* Captures the nodes at this batch. Returns 0 with slot->exec set, or -1 when capture is not
 * possible here (the context then runs eagerly); *error is set only for a launcher's own error,
 * which is reported as the run's failure. */
static int capture(cuda_context *c, cuda_graph_slot *slot, krt_status **error) {
  *error = NULL;
  if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  krt_status *s = cuda_launch_nodes(c, slot->batch, 0);
  cudaGraph_t graph = NULL;
  cudaError_t end = cudaStreamEndCapture(c->stream, &graph);
  if (s || end != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    /* A launcher that failed during capture may have failed because of the capture; the run
     * is retried eagerly, which reports a real error properly. */
    krt_status_release(s);
    return -1;
  }
  cudaGraphExec_t exec = NULL;
  cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  slot->exec = exec;
  return 0;
}

krt_status *cuda_run_compute(cuda_context *c, int64_t batch, int *eager) {
  *eager = 1;
  cuda_graph_slot *slot = c->graphs_disabled ? NULL : find_slot(c, batch);
  if (slot && slot->validated) {
    slot->last_use = ++c->use_counter;
    if (!slot->exec) {
      krt_status *error = NULL;
      if (capture(c, slot, &error) != 0) {
        c->graphs_disabled = 1;
        cuda_graphs_release(c);
        krt_status_release(error);
        return cuda_launch_nodes(c, batch, 0);
      }
    }
    *eager = 0;
    return cuda_status(cudaGraphLaunch(slot->exec, c->stream), "cudaGraphLaunch", "run");
  }
  return cuda_launch_nodes(c, batch, 0);
}
