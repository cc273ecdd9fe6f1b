#include "core/status.h"
#include "opt/passes.h"

krt_status *opt_run_default(ir_graph *g) {
  KRT_TRY(opt_remove_identity(g));
  KRT_TRY(opt_cancel_transposes(g));
  KRT_TRY(opt_remove_dead(g));
  return NULL;
}
