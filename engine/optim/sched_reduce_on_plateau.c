/* reduce_on_plateau: torch.optim.lr_scheduler.ReduceLROnPlateau. After each
 * epoch the monitored value (validation loss by default) is compared with
 * the best so far (threshold_mode rel: better = below best*(1 - threshold)
 * for mode min, above best*(1 + threshold) for max); after more than
 * `patience` bad epochs the LR becomes max(lr*factor, min_lr) (if that
 * changes it by more than 1e-8) and `cooldown` epochs pass before counting
 * bad epochs again. A NaN metric counts as a bad epoch. */
#include <string.h>

#include "optim/sched_impl.h"

typedef struct st {
    rp_sched_basic b;
    int maxmode;
    double factor, threshold, min_lr, best;
    int64_t patience, cooldown, cooldown_counter, num_bad;
} st;

static int s_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe, void **state,
                    rp_error *err) {
    (void)epochs, (void)spe;
    st *s = rp_sched_basic_new(sizeof *s, base_lr, err);
    if (!s) return err->status;
    s->maxmode = strcmp(rp_param_str(params, "mode"), "max") == 0;
    s->factor = rp_param_double(params, "factor");
    s->threshold = rp_param_double(params, "threshold");
    s->min_lr = rp_param_double(params, "min_lr");
    s->patience = rp_param_int(params, "patience");
    s->cooldown = rp_param_int(params, "cooldown");
    s->best = s->maxmode ? -INFINITY : INFINITY;
    if (!(s->factor < 1.0)) {
        free(s);
        return rp_error_at(err, params, RP_ERR_INVALID, "factor must be < 1");
    }
    *state = s;
    return RP_OK;
}

static double s_step(void *state, double lr, double metric) {
    st *s = state;
    if (s->b.last_epoch < 0) { /* constructor: nothing to compare yet */
        s->b.last_epoch = 0;
        return lr;
    }
    s->b.last_epoch++;
    int better = !isnan(metric) &&
                 (s->maxmode ? metric > s->best * (s->threshold + 1.0) : metric < s->best * (1.0 - s->threshold));
    if (better) {
        s->best = metric;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad = 0;
    }
    if (s->num_bad > s->patience) {
        double nl = fmax(lr * s->factor, s->min_lr);
        if (lr - nl > 1e-8) lr = nl;
        s->cooldown_counter = s->cooldown;
        s->num_bad = 0;
    }
    return lr;
}

static int s_save(const void *state, rp_st *out, rp_error *err) {
    const st *s = state;
    if (rp_sched_basic_save(&s->b, out, err) || rp_st_put_scalar(out, "best", s->best, err) ||
        rp_st_put_scalar(out, "num_bad_epochs", (double)s->num_bad, err) ||
        rp_st_put_scalar(out, "cooldown_counter", (double)s->cooldown_counter, err))
        return err->status;
    return RP_OK;
}

static int s_load(void *state, const rp_st *in, rp_error *err) {
    st *s = state;
    double b;
    int64_t nb, cc;
    if (rp_sched_basic_load(&s->b, in, err)) return err->status;
    if (!rp_st_get_scalar(in, "best", &b))
        return rp_error_set(err, RP_ERR_FORMAT, "missing 'best'");
    if (rp_sched_state_count(in, "num_bad_epochs", 0, &nb, err) ||
        rp_sched_state_count(in, "cooldown_counter", 0, &cc, err))
        return err->status;
    s->best = b;
    s->num_bad = nb;
    s->cooldown_counter = cc;
    return RP_OK;
}

static const struct rp_scheduler_ops reduce_on_plateau_ops = {s_create, s_step, 0, s_save, s_load, rp_sched_basic_destroy};
RP_COMPONENT(RP_COMP_SCHEDULER, "reduce_on_plateau", "reduce the LR when a metric stops improving (torch ReduceLROnPlateau)",
            reduce_on_plateau_ops)
