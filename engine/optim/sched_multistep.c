/* multistep: torch.optim.lr_scheduler.MultiStepLR (lr *= gamma^k when
 * last_epoch is a milestone listed k times). A milestone is an epoch (or
 * batch) number or "P%" of them, rounded to the nearest. */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t m[64];
    int nm;
    double gamma;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    const rp_node *ms = rp_node_get(params, "milestones");
    size_t n = rp_node_len(ms);
    if (n > RP_COUNT(s->m))
        return rp_error_at(err, ms, RP_ERR_INVALID, "at most %zu milestones", RP_COUNT(s->m));
    s->nm = (int)n;
    /* "80%" of 30 epochs is milestone 24, as PyTorch's MultiStepLR(o, [24]) */
    for (size_t i = 0; i < n; i++) s->m[i] = rp_sched_count(rp_node_at(ms, i), total, 0);
    s->gamma = rp_param_double(params, "gamma");
    return RP_OK;
}

static double s_lr(const st *s, int64_t e, double lr) {
    int hits = 0;
    for (int i = 0; i < s->nm; i++) hits += s->m[i] == e;
    if (!hits) return lr;
    return lr * pow(s->gamma, hits);
}

RP_SCHED_SIMPLE(multistep, st, s_init, s_lr)
RP_COMPONENT(RP_COMP_SCHEDULER, "multistep", "multiply the LR by gamma at each milestone (torch MultiStepLR)", multistep_ops)
