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
    st *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    s->b.base_lr = base_lr;
    s->b.last_epoch = -1;
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
    (void)e;
    int hits = 0;
    for (int i = 0; i < s->nm; i++) hits += s->m[i] == e;
    if (!hits) return lr;
    return lr * pow(s->gamma, hits);
}

static int s_save(const void *state, rp_state *out, rp_error *err) {
    return rp_sched_basic_save(&((const st *)state)->b, out, err);
}

static int s_load(void *state, const rp_state *in, rp_error *err) {
    return rp_sched_basic_load(&((st *)state)->b, in, err);
}

static void s_destroy(void *state) { free(state); }

static const struct rp_scheduler_ops multistep_ops = {s_create, s_step, 0, s_save, s_load, s_destroy};
RP_REGISTER(RP_COMP_SCHEDULER, "multistep", "multiply the LR by gamma at each milestone (torch MultiStepLR)", multistep_ops)
