/* exponential: torch.optim.lr_scheduler.ExponentialLR (lr *= gamma after epoch 0). */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    double gamma;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    (void)total, (void)err;
    s->gamma = rp_param_double(params, "gamma");
    return RP_OK;
}

static double s_lr(const st *s, int64_t e, double lr) {
    if (e == 0) return lr;
    return lr * s->gamma;
}

RP_SCHED_SIMPLE(exponential, st, s_init, s_lr)
RP_COMPONENT(RP_COMP_SCHEDULER, "exponential", "multiply the LR by gamma every epoch (torch ExponentialLR)", exponential_ops)
