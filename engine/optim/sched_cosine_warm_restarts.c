/* cosine_warm_restarts: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts
 * (SGDR, Loshchilov & Hutter 2017): lr = eta_min + (base - eta_min) *
 * (1 + cos(pi * T_cur / T_i)) / 2; T_cur += 1 each step and when it reaches
 * T_i the cycle restarts with T_i *= T_mult. T_0 may be "P%" of the epochs
 * (rounded, at least 1). */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t t0, tmult, tcur, ti;
    double eta_min;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    s->t0 = rp_sched_count(rp_node_get(params, "T_0"), rp_sched_total(params, epochs, spe), 1);
    s->tmult = rp_param_int(params, "T_mult");
    s->eta_min = rp_param_double(params, "eta_min");
    s->ti = s->t0;
    s->tcur = -1;
    if (s->tmult < 1) {
        free(s);
        return rp_error_at(err, params, RP_ERR_INVALID, "T_mult must be >= 1");
    }
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    (void)lr, (void)metric;
    st *s = state;
    if (s->b.last_epoch < 0) { /* constructor step: epoch 0 */
        s->tcur = 0;
        s->ti = s->t0;
    } else {
        s->tcur += 1;
        if (s->tcur >= s->ti) {
            s->tcur -= s->ti;
            s->ti *= s->tmult;
        }
    }
    s->b.last_epoch++;
    return s->eta_min + (s->b.base_lr - s->eta_min) * (1 + cos(M_PI * (double)s->tcur / (double)s->ti)) / 2;
}

static int s_save(const void *state, rp_st *out, rp_error *err) {
    const st *s = state;
    if (rp_sched_basic_save(&s->b, out, err) || rp_st_put_scalar(out, "T_cur", (double)s->tcur, err) ||
        rp_st_put_scalar(out, "T_i", (double)s->ti, err))
        return err->status;
    return RP_OK;
}

static int s_load(void *state, const rp_st *in, rp_error *err) {
    st *s = state;
    int64_t tc, ti;
    if (rp_sched_basic_load(&s->b, in, err)) return err->status;
    if (rp_sched_state_count(in, "T_cur", 0, &tc, err) || rp_sched_state_count(in, "T_i", 1, &ti, err))
        return err->status;
    s->tcur = tc;
    s->ti = ti;
    return RP_OK;
}

static const struct rp_scheduler_ops cosine_warm_restarts_ops = {s_create, s_step, 0, s_save, s_load, rp_sched_basic_destroy};
RP_COMPONENT(RP_COMP_SCHEDULER, "cosine_warm_restarts", "cosine annealing with warm restarts (torch CosineAnnealingWarmRestarts)",
            cosine_warm_restarts_ops)
