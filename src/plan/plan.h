/* Memory planning: places every activation of a graph into one arena per context.
 *
 * Liveness: a value is live from the node that produces it (graph inputs: from the start) to the
 * last node that reads it (graph outputs: to the end). Values whose lifetimes do not overlap share
 * bytes; placement is best-fit over the free gaps, largest values first. Reshape and Identity
 * outputs alias their input (same offset; the input's lifetime is extended) so they cost nothing.
 * Sizes are taken at the engine's max batch; a smaller batch uses a prefix of each slot.
 *
 * Concatenation written in place: for a Concat along the last axis, an input whose producer can
 * write its rows at a pitch (plan_options.writes_rows: the backend says which nodes can) gets no
 * slot of its own. It is a view into the Concat output's slot: row r of the input (its last
 * axis, Ci elements) starts at element r * pitch + at of the output, pitch being the output's
 * last dim and `at` the input's offset along it. The Concat then copies only the other inputs,
 * and the output's slot lives from the first producer's write. Only inputs the Concat alone reads
 * qualify (read once, not a graph input or output, not a constant, not produced by an aliasing
 * op or by another Concat), so nothing ever reads a view but that Concat.
 */
#ifndef KRT_PLAN_PLAN_H
#define KRT_PLAN_PLAN_H

#include "ir/graph.h"

#define KRT_PLAN_ALIGNMENT 64

/* 1 when `producer` can write its output (rows of its last axis) `pitch` elements apart,
 * starting `at` elements into each row of a larger buffer. */
typedef int (*plan_row_writer_fn)(const ir_graph *g, const ir_node *producer, int64_t at,
                                  int64_t pitch);

typedef struct plan_options {
  plan_row_writer_fn writes_rows; /* NULL: every Concat copies its inputs */
} plan_options;

typedef struct krt_plan {
  int64_t max_batch;
  int64_t arena_bytes;  /* peak: the arena one context allocates */
  int n_values;
  int64_t *offset;      /* per value id: byte offset into the arena, -1 for constants and for
                         * values no node reads or writes */
  int64_t *bytes;       /* per value id: bytes reserved at max batch (0 when offset is -1); a
                         * view has its Concat output's offset and bytes */
  int *view_of;         /* per value id: the Concat output it is written into, or -1 */
  int64_t *view_at;     /* per value id: its first element within each row of view_of */
  int64_t *view_pitch;  /* per value id: elements between its rows (view_of's last dim), or 0 */
  int n_views;
} krt_plan;

/* Plans g (every non-constant value's dims known but the batch). opts may be NULL. */
krt_status *plan_memory(const ir_graph *g, int64_t max_batch, const plan_options *opts,
                        krt_plan *out);
void plan_free(krt_plan *plan);

/* Whether op's output may share its first input's bytes (Reshape, Identity). */
int plan_op_aliases_input(ir_op op);

#endif
