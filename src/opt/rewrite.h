/* Small rewriting helpers shared by the passes. */
#ifndef KRT_OPT_REWRITE_H
#define KRT_OPT_REWRITE_H

#include "ir/graph.h"

/* Every reader of value `from` (node inputs, graph outputs, layer records) reads `to` instead. */
void rewrite_replace_uses(ir_graph *g, int from, int to);

/* Number of nodes that read value v, plus one per graph output that is v. */
int rewrite_use_count(const ir_graph *g, int v);

#endif
