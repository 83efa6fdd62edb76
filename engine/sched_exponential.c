/* exponential: torch.optim.lr_scheduler.ExponentialLR (lr *= gamma after epoch 0). */
#include "sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    double gamma;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    (void)epochs, (void)spe;
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    s->gamma = rp_param_double(params, "gamma", 0.95);
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    (void)metric;
    st *s = state;
    int64_t e = ++s->b.last_epoch;
    if (e == 0) return lr;
    return lr * s->gamma;
}

RP_SCHED_BASIC_OPS(exponential, s_create, s_step)
RP_REGISTER(RP_COMP_SCHEDULER, "exponential", "multiply the LR by gamma every epoch (torch ExponentialLR)", exponential_ops)
