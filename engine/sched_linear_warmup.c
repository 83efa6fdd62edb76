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
    st *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    s->b.base_lr = base_lr;
    s->b.last_epoch = -1;
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
    (void)e;
    if (e == 0) return lr * s->sf;
    if (e > s->total) return lr;
    return lr * (1.0 + (s->ef - s->sf) / ((double)s->total * s->sf + (double)(e - 1) * (s->ef - s->sf)));
}

static int s_save(const void *state, rp_state *out, rp_error *err) {
    return rp_sched_basic_save(&((const st *)state)->b, out, err);
}

static int s_load(void *state, const rp_state *in, rp_error *err) {
    return rp_sched_basic_load(&((st *)state)->b, in, err);
}

static void s_destroy(void *state) { free(state); }

static const struct rp_scheduler_ops linear_warmup_ops = {s_create, s_step, 0, s_save, s_load, s_destroy};
RP_REGISTER(RP_COMP_SCHEDULER, "linear_warmup", "linear LR ramp from start_factor to end_factor over total_iters (torch LinearLR)", linear_warmup_ops)
