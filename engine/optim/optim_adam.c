/* adam: torch.optim.Adam (L2 weight decay added to the gradient, optional
 * AMSGrad). Update in optim_adam_common.h. */
#include "optim/optim_adam_common.h"

static int adam_create(const rp_node *params, rp_model *m, void **state, rp_error *err) {
    return adam_create_common(params, m, state, 0, err);
}

static const struct rp_optimizer_ops adam_ops = {adam_create, adam_step, rp_optim_save, rp_optim_load, rp_optim_destroy};
RP_COMPONENT(RP_COMP_OPTIMIZER, "adam", "Adam (torch.optim.Adam)", adam_ops)
