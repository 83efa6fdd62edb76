/* multistep: torch.optim.lr_scheduler.MultiStepLR (lr *= gamma^k when last_epoch is a milestone listed k times). */
#include "sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t m[64];
    int nm;
    double gamma;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    (void)epochs, (void)spe;
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    double ms[64];
    int n = rp_param_doubles(params, "milestones", ms, 64);
    s->nm = n < 0 ? 0 : n;
    for (int i = 0; i < s->nm; i++) s->m[i] = (int64_t)ms[i];
    s->gamma = rp_param_double(params, "gamma", 0.1);
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    (void)metric;
    st *s = state;
    int64_t e = ++s->b.last_epoch;
    int hits = 0;
    for (int i = 0; i < s->nm; i++) hits += s->m[i] == e;
    if (!hits) return lr;
    return lr * pow(s->gamma, hits);
}

RP_SCHED_BASIC_OPS(multistep, s_create, s_step)
RP_REGISTER(RP_COMP_SCHEDULER, "multistep", "multiply the LR by gamma at each milestone (torch MultiStepLR)", multistep_ops)
