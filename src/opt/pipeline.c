#include "core/status.h"
#include "opt/passes.h"

krt_status *opt_run_default(ir_graph *g) {
  KRT_TRY(opt_remove_identity(g));
  KRT_TRY(opt_cancel_transposes(g));
  KRT_TRY(opt_const_fold(g));
  /* BatchNorm first: conv -> BN -> add -> relu folds to conv -> add -> relu, then the add
   * fuses as the residual, then the relu as the activation of the residual node. */
  KRT_TRY(opt_fold_batchnorm(g));
  KRT_TRY(opt_fuse_residual(g));
  KRT_TRY(opt_fuse_activation(g));
  /* After fuse_activation, so a conv's fused ReLU shows that a max pool's padding is safe. */
  KRT_TRY(opt_fold_pad(g));
  KRT_TRY(opt_remove_dead(g));
  return NULL;
}
