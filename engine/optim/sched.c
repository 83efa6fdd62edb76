/* LR schedulers: the generic part (optim.h). One file per scheduler
 * (sched_*.c); semantics of torch.optim.lr_scheduler 1.13. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optim/sched_impl.h"

struct rp_scheduler {
    const struct rp_scheduler_ops *ops;
    void *state;
    rp_optimizer *opt;
    int per_batch;
    char name[64];
};

int64_t rp_sched_total(const rp_node *params, int64_t epochs, int64_t spe) {
    const char *iv = rp_param_str(params, "interval");
    int64_t t = strcmp(iv, "batch") == 0 ? epochs * (spe > 0 ? spe : 1) : epochs;
    return t > 0 ? t : 1;
}

double rp_sched_point(const rp_node *v, int64_t total) {
    const char *s = rp_node_str(v);
    size_t n = s ? strlen(s) : 0;
    if (n && s[n - 1] == '%') return strtod(s, NULL) / 100.0 * (double)total;
    double d = 0;
    rp_node_as_double(v, &d, NULL);
    return d;
}

int64_t rp_sched_count(const rp_node *v, int64_t total, int64_t min) {
    int64_t n = (int64_t)llround(rp_sched_point(v, total));
    return n < min ? min : n;
}

void *rp_sched_basic_new(size_t size, double base_lr, rp_error *err) {
    rp_sched_basic *b = calloc(1, size);
    if (!b) {
        rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    b->base_lr = base_lr;
    b->last_epoch = -1;
    return b;
}

void rp_sched_basic_destroy(void *state) { free(state); }

int rp_sched_basic_save(const void *state, rp_st *out, rp_error *err) {
    const rp_sched_basic *b = state;
    if (rp_st_put_scalar(out, "last_epoch", (double)b->last_epoch, err)) return err->status;
    return rp_st_put_scalar(out, "base_lr", b->base_lr, err);
}

int rp_sched_state_count(const rp_st *in, const char *key, int64_t min, int64_t *out, rp_error *err) {
    double v;
    if (!rp_st_get_scalar(in, key, &v))
        return rp_error_set(err, RP_ERR_FORMAT, "scheduler state lacks '%s'", key);
    if (!(v >= (double)min && v <= 9007199254740992.0) || v != floor(v))
        return rp_error_set(err, RP_ERR_FORMAT, "scheduler state '%s' is %g; expected an integer >= %lld", key, v,
                            (long long)min);
    *out = (int64_t)v;
    return RP_OK;
}

int rp_sched_basic_load(void *state, const rp_st *in, rp_error *err) {
    rp_sched_basic *b = state;
    double bl;
    int64_t le;
    if (rp_sched_state_count(in, "last_epoch", -1, &le, err)) return err->status;
    if (!rp_st_get_scalar(in, "base_lr", &bl))
        return rp_error_set(err, RP_ERR_FORMAT, "scheduler state lacks 'base_lr'");
    if (!isfinite(bl) || bl < 0)
        return rp_error_set(err, RP_ERR_FORMAT, "scheduler state 'base_lr' is %g; expected a finite number >= 0", bl);
    b->last_epoch = le;
    b->base_lr = bl;
    return RP_OK;
}

int rp_scheduler_new(const rp_node *spec, rp_optimizer *o, int64_t epochs, int64_t steps_per_epoch,
                     rp_scheduler **out, rp_error *err) {
    *out = NULL;
    const char *name;
    const rp_node *params;
    if (rp_component_spec(spec, &name, &params, err)) return err->status;
    const struct rp_component *c;
    if (rp_component_lookup(RP_COMP_SCHEDULER, name, spec, &c, err)) return err->status;
    rp_node *v = NULL;
    if (rp_component_params(RP_COMP_SCHEDULER, name, params, &v, err)) {
        rp_node_free(v);
        rp_error_prefix(err, "scheduler '%s': ", name);
        return err->status;
    }
    rp_scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        rp_node_free(v);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    s->ops = c->impl;
    s->opt = o;
    /* epoch-only schedulers (reduce_on_plateau) have no `interval` */
    s->per_batch = s->ops->per_batch ||
                   (rp_param_has(v, "interval") && strcmp(rp_param_str(v, "interval"), "batch") == 0);
    snprintf(s->name, sizeof s->name, "%s", name);
    int st = s->ops->create(v, rp_optimizer_base_lr(o), epochs, steps_per_epoch, &s->state, err);
    rp_node_free(v);
    if (st) {
        rp_error_prefix(err, "scheduler '%s': ", name);
        free(s);
        return st;
    }
    /* PyTorch's constructor takes the first step (epoch 0). */
    rp_optimizer_set_lr(o, s->ops->step(s->state, rp_optimizer_base_lr(o), NAN));
    *out = s;
    return RP_OK;
}

void rp_scheduler_free(rp_scheduler *s) {
    if (!s) return;
    if (s->ops->destroy) s->ops->destroy(s->state);
    free(s);
}

int rp_scheduler_per_batch(const rp_scheduler *s) { return s->per_batch; }

void rp_scheduler_step(rp_scheduler *s, double metric) {
    rp_optimizer_set_lr(s->opt, s->ops->step(s->state, rp_optimizer_lr(s->opt), metric));
}

int rp_scheduler_save(const rp_scheduler *s, rp_st *out, rp_error *err) {
    return s->ops->save(s->state, out, err);
}

int rp_scheduler_load(rp_scheduler *s, const rp_st *in, rp_error *err) {
    int st = s->ops->load(s->state, in, err);
    if (st) rp_error_prefix(err, "scheduler '%s' state: ", s->name);
    return st;
}
