/* cosine: torch.optim.lr_scheduler.CosineAnnealingLR with its recursive
 * formula: lr_e = (1 + cos(pi e/T)) / (1 + cos(pi (e-1)/T)) * (lr_{e-1} -
 * eta_min) + eta_min, and the restart term when (e - 1 - T) mod 2T == 0
 * (Python's float modulo, so a non-integer T such as 2.5 never takes it, as
 * in PyTorch). T = T_max in epochs (or batches), or "P%" of them. */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    double tmax;
    double eta_min;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    s->tmax = rp_sched_point(rp_node_get(params, "T_max"), total);
    s->eta_min = rp_param_double(params, "eta_min");
    if (!(s->tmax > 0))
        return rp_error_at(err, rp_node_get(params, "T_max"), RP_ERR_INVALID,
                           "T_max must be > 0 (it is %g epochs or batches here)", s->tmax);
    return RP_OK;
}

/* Python's float %: the result takes the divisor's sign. */
static double py_mod(double a, double m) {
    double r = fmod(a, m);
    if (r != 0 && ((r < 0) != (m < 0))) r += m;
    return r;
}

static double s_lr(const st *s, int64_t e, double lr) {
    double T = s->tmax, em = s->eta_min;
    if (e == 0) return lr;
    if (py_mod((double)e - 1 - T, 2 * T) == 0)
        return lr + (s->b.base_lr - em) * (1 - cos(M_PI / T)) / 2;
    return (1 + cos(M_PI * (double)e / T)) / (1 + cos(M_PI * (double)(e - 1) / T)) * (lr - em) + em;
}

RP_SCHED_SIMPLE(cosine, st, s_init, s_lr)
RP_COMPONENT(RP_COMP_SCHEDULER, "cosine", "cosine annealing from the base LR to eta_min over T_max (torch CosineAnnealingLR)", cosine_ops)
