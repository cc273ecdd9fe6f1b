/* Memory planning: places every activation of a graph into one arena per context.
 *
 * Liveness: a value is live from the node that produces it (graph inputs: from the start) to the
 * last node that reads it (graph outputs: to the end). Values whose lifetimes do not overlap share
 * bytes; placement is best-fit over the free gaps, largest values first. Reshape and Identity
 * outputs alias their input (same offset; the input's lifetime is extended) so they cost nothing.
 * Sizes are taken at the engine's max batch; a smaller batch uses a prefix of each slot.
 */
#ifndef KRT_PLAN_PLAN_H
#define KRT_PLAN_PLAN_H

#include "ir/graph.h"

#define KRT_PLAN_ALIGNMENT 64

typedef struct krt_plan {
  int64_t max_batch;
  int64_t arena_bytes;  /* peak: the arena one context allocates */
  int n_values;
  int64_t *offset;      /* per value id: byte offset into the arena, -1 for constants and for
                         * values no node reads or writes */
  int64_t *bytes;       /* per value id: bytes reserved at max batch (0 when offset is -1) */
} krt_plan;

/* Plans g (every non-constant value's dims known but the batch). */
krt_status *plan_memory(const ir_graph *g, int64_t max_batch, krt_plan *out);
void plan_free(krt_plan *plan);

/* Whether op's output may share its first input's bytes (Reshape, Identity). */
int plan_op_aliases_input(ir_op op);

#endif
