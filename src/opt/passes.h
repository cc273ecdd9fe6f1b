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

/* Computes nodes whose inputs are all constants with the CPU reference kernels and replaces
 * their outputs by constants (const_fold.c). */
krt_status *opt_const_fold(ir_graph *g);

/* Folds a BatchNorm over the last axis into the Conv / ConvTranspose / Dense (grouped and
 * depthwise included) that produces its input, when that output has no other reader and no
 * activation or residual yet: new scaled weights and bias (fold_batchnorm.c). */
krt_status *opt_fold_batchnorm(ir_graph *g);

/* Fuses Binary ADD of a Conv / ConvTranspose / Dense output (its only reader, no activation, the
 * same shape as the sum) and another value r into that node: inputs [x, W, b, r],
 * attrs.residual = 1, the Add's activation (fuse_residual.c). */
krt_status *opt_fuse_residual(ir_graph *g);

/* Moves Activation nodes into the Conv / ConvTranspose / Dense / Binary ADD before them and drops
 * ReLUs that cannot change their input (fuse_activation.c). */
krt_status *opt_fuse_activation(ir_graph *g);

/* The fusing passes record what they absorbed on the surviving node: node->fused lists the
 * absorbed nodes' names, comma-separated ("bn1,add1,relu1"), shown by krt inspect ENGINE.
 * They leave the absorbed nodes in place for remove_dead. */

/* Removes nodes and constants that feed no output and compacts value and node ids (layer records
 * whose output is gone keep output = -1). */
krt_status *opt_remove_dead(ir_graph *g);

/* Folds zero padding (Pad) into the Conv or MAX Pool reading it, where that is exact
 * (fold_pad.c says when). */
krt_status *opt_fold_pad(ir_graph *g);

/* Appends every node output that is not yet a graph output to the graph's outputs, in node order,
 * named after the Keras layer whose result it holds (the last layer fused into its node), else
 * after its node; names are made unique with ":2", ":3"... Run after the default pipeline so the
 * graph keeps every fusion (publish_all.c). */
krt_status *opt_publish_all_values(ir_graph *g);

/* The default pipeline for every backend: remove_identity, cancel_transposes, const_fold,
 * fold_batchnorm, fuse_residual, fuse_activation, fold_pad, remove_dead. */
krt_status *opt_run_default(ir_graph *g);

#endif
