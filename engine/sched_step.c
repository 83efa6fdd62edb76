/* step: torch.optim.lr_scheduler.StepLR (recursive form: lr *= gamma when last_epoch is a positive multiple of step_size). */
#include "sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int64_t step_size;
    double gamma;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    (void)epochs, (void)spe;
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    s->step_size = rp_param_int(params, "step_size", 30);
    s->gamma = rp_param_double(params, "gamma", 0.1);
    if (s->step_size < 1) {
        free(s);
        return rp_error_at(err, params, RP_ERR_INVALID, "step_size must be >= 1");
    }
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    (void)metric;
    st *s = state;
    int64_t e = ++s->b.last_epoch;
    if (e == 0 || e % s->step_size != 0) return lr;
    return lr * s->gamma;
}

RP_SCHED_BASIC_OPS(step, s_create, s_step)
RP_REGISTER(RP_COMP_SCHEDULER, "step", "multiply the LR by gamma every step_size epochs (torch StepLR)", step_ops)
