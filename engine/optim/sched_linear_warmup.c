/* linear_warmup: torch.optim.lr_scheduler.LinearLR, recursive form: epoch 0 lr = base*start_factor; then lr *= 1 + (end - start)/(total*start + (e-1)*(end - start)) up to total_iters
 * (epochs, batches or "P%" of them). */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    double sf, ef;
    int64_t total;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    (void)err;
    s->sf = rp_param_double(params, "start_factor");
    s->ef = rp_param_double(params, "end_factor");
    s->total = rp_sched_count(rp_node_get(params, "total_iters"), total, 1);
    return RP_OK;
}

static double s_lr(const st *s, int64_t e, double lr) {
    if (e == 0) return lr * s->sf;
    if (e > s->total) return lr;
    return lr * (1.0 + (s->ef - s->sf) / ((double)s->total * s->sf + (double)(e - 1) * (s->ef - s->sf)));
}

RP_SCHED_SIMPLE(linear_warmup, st, s_init, s_lr)
RP_COMPONENT(RP_COMP_SCHEDULER, "linear_warmup", "linear LR ramp from start_factor to end_factor over total_iters (torch LinearLR)", linear_warmup_ops)
