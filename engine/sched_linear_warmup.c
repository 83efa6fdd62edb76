/* linear_warmup: torch.optim.lr_scheduler.LinearLR, recursive form: epoch 0 lr = base*start_factor; then lr *= 1 + (end - start)/(total*start + (e-1)*(end - start)) up to total_iters. */
#include "sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    double sf, ef;
    int64_t total;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    (void)epochs, (void)spe;
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    s->sf = rp_param_double(params, "start_factor", 1.0 / 3.0);
    s->ef = rp_param_double(params, "end_factor", 1.0);
    s->total = rp_param_int(params, "total_iters", 5);
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    (void)metric;
    st *s = state;
    int64_t e = ++s->b.last_epoch;
    if (e == 0) return lr * s->sf;
    if (e > s->total) return lr;
    return lr * (1.0 + (s->ef - s->sf) / ((double)s->total * s->sf + (double)(e - 1) * (s->ef - s->sf)));
}

RP_SCHED_BASIC_OPS(linear_warmup, s_create, s_step)
RP_REGISTER(RP_COMP_SCHEDULER, "linear_warmup", "linear LR ramp from start_factor to end_factor over total_iters (torch LinearLR)", linear_warmup_ops)
