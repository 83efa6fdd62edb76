/* multistep: torch.optim.lr_scheduler.MultiStepLR (lr *= gamma^k when last_epoch is a milestone listed k times). */
#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t m[64];
    int nm;
    double gamma;
} st;

static int s_init(st *s, const rp_node *params, int64_t total, rp_error *err) {
    (void)total, (void)err;
    double ms[64];
    int n = rp_param_doubles(params, "milestones", ms, 64);
    s->nm = n < 0 ? 0 : n;
    for (int i = 0; i < s->nm; i++) s->m[i] = (int64_t)ms[i];
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
