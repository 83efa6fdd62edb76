/* cosine: torch.optim.lr_scheduler.CosineAnnealingLR with its recursive formula: lr_e = (1 + cos(pi e/T)) / (1 + cos(pi (e-1)/T)) * (lr_{e-1} - eta_min) + eta_min (and the restart term at e - 1 - T = 0 mod 2T). T_max <= 1 is a fraction of the epochs (or batches with interval: batch). */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t tmax;
    double eta_min;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    (void)err;
    s->tmax = rp_sched_span(params, "T_max", total);
    s->eta_min = rp_param_double(params, "eta_min");
    return RP_OK;
}

static double s_lr(const st *s, int64_t e, double lr) {
    double T = (double)s->tmax, em = s->eta_min;
    if (e == 0) return lr;
    if ((e - 1 - s->tmax) % (2 * s->tmax) == 0)
        return lr + (s->b.base_lr - em) * (1 - cos(M_PI / T)) / 2;
    return (1 + cos(M_PI * (double)e / T)) / (1 + cos(M_PI * (double)(e - 1) / T)) * (lr - em) + em;
}

RP_SCHED_SIMPLE(cosine, st, s_init, s_lr)
RP_COMPONENT(RP_COMP_SCHEDULER, "cosine", "cosine annealing from the base LR to eta_min over T_max (torch CosineAnnealingLR)", cosine_ops)
