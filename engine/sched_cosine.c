/* cosine: torch.optim.lr_scheduler.CosineAnnealingLR with its recursive formula: lr_e = (1 + cos(pi e/T)) / (1 + cos(pi (e-1)/T)) * (lr_{e-1} - eta_min) + eta_min (and the restart term at e - 1 - T = 0 mod 2T). T_max <= 1 is a fraction of the epochs (or batches with interval: batch). */
#include "sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t tmax;
    double eta_min;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    (void)epochs, (void)spe;
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    s->tmax = rp_sched_span(params, "T_max", rp_sched_total(params, epochs, spe), 1.0);
    s->eta_min = rp_param_double(params, "eta_min", 0);
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    (void)metric;
    st *s = state;
    int64_t e = ++s->b.last_epoch;
    double T = (double)s->tmax, em = s->eta_min;
    if (e == 0) return lr;
    if ((e - 1 - s->tmax) % (2 * s->tmax) == 0)
        return lr + (s->b.base_lr - em) * (1 - cos(M_PI / T)) / 2;
    return (1 + cos(M_PI * (double)e / T)) / (1 + cos(M_PI * (double)(e - 1) / T)) * (lr - em) + em;
}

RP_SCHED_BASIC_OPS(cosine, s_create, s_step)
RP_REGISTER(RP_COMP_SCHEDULER, "cosine", "cosine annealing from the base LR to eta_min over T_max (torch CosineAnnealingLR)", cosine_ops)
