/* Helpers shared by the fusing passes (fold_batchnorm, fuse_residual, fuse_activation,
 * const_fold).
 *
 * Passes run before remove_dead, so nodes that an earlier pass bypassed still list their inputs.
 * Those leftovers must not count as readers, or a conv read by a bypassed Identity would look
 * shared: readers are counted over live nodes only (those some graph output depends on).
 */
#ifndef KRT_OPT_FUSION_UTIL_H
#define KRT_OPT_FUSION_UTIL_H

#include "ir/graph.h"

/* live[i] = 1 when some graph output depends on node i; malloc'd, g->n_nodes entries. */
krt_status *fusion_live_nodes(const ir_graph *g, char **live);

/* The one live node reading value v, when it reads v once and v is not a graph output; else -1. */
int fusion_single_reader(const ir_graph *g, const char *live, int v);

/* Whether inputs first..last of node n (those it has) are all constants. */
int fusion_inputs_constant(const ir_graph *g, const ir_node *n, int first, int last);

/* Appends the absorbed node's name, and the names already fused into it, to into->fused
 * ("bn1,add1,relu1"). Nodes are re-read through ids because adding to a list may move them. */
krt_status *fusion_record(ir_graph *g, int into, int absorbed);

/* Whether a and b have the same rank, batch flag and dims, every non-batch dim known. */
int fusion_same_known_shape(const ir_value *a, const ir_value *b);

/* Gives node n the inputs `inputs` (n_inputs of them; not pointing into n->inputs, which is
 * reallocated). */
krt_status *fusion_set_inputs(ir_node *n, const int *inputs, int n_inputs);

/* Moves node `from` to index `to` (to > from), shifting the nodes between down by one and fixing
 * producers and live[]. The caller makes sure no node in (from, to] reads from's output. */
void fusion_move_node_later(ir_graph *g, char *live, int from, int to);

#endif
