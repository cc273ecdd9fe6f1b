/* Graph passes: each a function over the IR, testable alone (IR before -> IR after). They keep
 * node order topological and re-infer shapes where they change them. */
#ifndef KRT_OPT_PASSES_H
#define KRT_OPT_PASSES_H

#include "ir/graph.h"

/* Makes the named layers' outputs the graph's outputs, in this order (names are layer names as in
 * graph->layers). KRT_ERR_NOT_FOUND lists close names when one is unknown. */
krt_status *opt_set_outputs(ir_graph *g, const char *const *layer_names, int n);

/* Routes readers of Identity nodes to their inputs. */
krt_status *opt_remove_identity(ir_graph *g);

/* Removes Transpose pairs whose permutations cancel (the pairs importers put around
 * channels_first layers), and merges consecutive Transposes. */
krt_status *opt_cancel_transposes(ir_graph *g);

/* Removes nodes and constants that feed no output and compacts value and node ids (layer records
 * whose output is gone keep output = -1). */
krt_status *opt_remove_dead(ir_graph *g);

/* The default pipeline for every backend. */
krt_status *opt_run_default(ir_graph *g);

#endif
