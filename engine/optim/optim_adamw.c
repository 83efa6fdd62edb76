/* adamw: torch.optim.AdamW (decoupled weight decay: p *= 1 - lr*wd before the
 * Adam update). Update in optim_adam_common.h. */
#include "optim/optim_adam_common.h"

static int adamw_create(const rp_node *params, rp_model *m, void **state, rp_error *err) {
    return adam_create_common(params, m, state, 1, err);
}

static const struct rp_optimizer_ops adamw_ops = {adamw_create, adam_step, rp_optim_save, rp_optim_load, rp_optim_destroy};
RP_COMPONENT(RP_COMP_OPTIMIZER, "adamw", "AdamW, decoupled weight decay (torch.optim.AdamW)", adamw_ops)
