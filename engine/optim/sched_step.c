/* step: torch.optim.lr_scheduler.StepLR (recursive form: lr *= gamma when
 * last_epoch is a positive multiple of step_size; step_size may be "P%" of
 * the epochs, rounded, at least 1). */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t step_size;
    double gamma;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    s->step_size = rp_sched_count(rp_node_get(params, "step_size"), total, 1);
    s->gamma = rp_param_double(params, "gamma");
    if (s->step_size < 1) return rp_error_at(err, params, RP_ERR_INVALID, "step_size must be >= 1");
    return RP_OK;
}

static double s_lr(const st *s, int64_t e, double lr) {
    if (e == 0 || e % s->step_size != 0) return lr;
    return lr * s->gamma;
}

RP_SCHED_SIMPLE(step, st, s_init, s_lr)
RP_COMPONENT(RP_COMP_SCHEDULER, "step", "multiply the LR by gamma every step_size epochs (torch StepLR)", step_ops)
