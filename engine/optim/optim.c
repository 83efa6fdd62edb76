/* Optimizers: the generic part (optim.h). Each algorithm lives in its own
 * file (optim_sgd.c, optim_adam.c, optim_adamw.c, optim_rmsprop.c) and follows
 * the torch.optim 1.13 single-tensor implementation step for step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

struct rp_optimizer {
    const struct rp_optimizer_ops *ops;
    void *state;
    rp_model *model;
    double lr, base_lr;
    char name[64];
};

int rp_optimizer_new(const rp_node *spec, rp_model *m, rp_optimizer **out, rp_error *err) {
    *out = NULL;
    const char *name;
    const rp_node *params;
    if (rp_component_spec(spec, &name, &params, err)) return err->status;
    const struct rp_component *c;
    if (rp_component_lookup(RP_COMP_OPTIMIZER, name, spec, &c, err)) return err->status;
    rp_node *v = NULL;
    if (rp_component_params(RP_COMP_OPTIMIZER, name, params, &v, err)) {
        rp_node_free(v);
        rp_error_prefix(err, "optimizer '%s': ", name);
        return err->status;
    }
    rp_optimizer *o = calloc(1, sizeof *o);
    if (!o) {
        rp_node_free(v);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    o->ops = c->impl;
    o->model = m;
    o->lr = o->base_lr = rp_param_double(v, "lr");
    snprintf(o->name, sizeof o->name, "%s", name);
    int st = o->ops->create(v, m, &o->state, err);
    rp_node_free(v);
    if (st) {
        rp_error_prefix(err, "optimizer '%s': ", name);
        free(o);
        return st;
    }
    *out = o;
    return RP_OK;
}

void rp_optimizer_free(rp_optimizer *o) {
    if (!o) return;
    if (o->ops->destroy) o->ops->destroy(o->state);
    free(o);
}

int rp_optimizer_step(rp_optimizer *o, rp_error *err) {
    int st = o->ops->step(o->state, o->model, o->lr, err);
    if (st) rp_error_prefix(err, "optimizer '%s': ", o->name);
    return st;
}

double rp_optimizer_lr(const rp_optimizer *o) { return o->lr; }
void rp_optimizer_set_lr(rp_optimizer *o, double lr) { o->lr = lr; }
double rp_optimizer_base_lr(const rp_optimizer *o) { return o->base_lr; }

int rp_optimizer_save(const rp_optimizer *o, rp_st *out, rp_error *err) {
    if (rp_st_put_scalar(out, "lr", o->lr, err)) return err->status;
    return o->ops->save(o->state, out, err);
}

int rp_optimizer_load(rp_optimizer *o, const rp_st *in, rp_error *err) {
    double lr;
    if (!rp_st_get_scalar(in, "lr", &lr))
        return rp_error_set(err, RP_ERR_FORMAT, "optimizer state has no 'lr'");
    if (!isfinite(lr) || lr < 0)
        return rp_error_set(err, RP_ERR_FORMAT, "optimizer state 'lr' is %g; expected a finite number >= 0", lr);
    int st = o->ops->load(o->state, in, err);
    if (st) {
        rp_error_prefix(err, "optimizer '%s' state: ", o->name);
        return st;
    }
    o->lr = lr;
    return RP_OK;
}

/* ---- shared helpers (optim_impl.h) ------------------------------------------ */

int rp_pbufs_init(rp_pbufs *b, rp_model *m, int nb, const char *const *names, rp_error *err) {
    memset(b, 0, sizeof *b);
    b->n = rp_model_num_params(m);
    b->nb = nb;
    b->names = names;
    b->buf = calloc(b->n * (size_t)nb + 1, sizeof *b->buf);
    b->step = calloc(b->n + 1, sizeof *b->step);
    if (!b->buf || !b->step) {
        rp_pbufs_release(b);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    return RP_OK;
}

void rp_pbufs_release(rp_pbufs *b) {
    if (b->buf)
        for (size_t i = 0; i < b->n * (size_t)b->nb; i++) rp_tensor_free(b->buf[i]);
    free(b->buf);
    free(b->step);
    b->buf = NULL;
    b->step = NULL;
}

rp_tensor *rp_pbufs_get(rp_pbufs *b, rp_model *m, size_t i, int k, rp_error *err) {
    rp_tensor **slot = &b->buf[i * (size_t)b->nb + (size_t)k];
    if (!*slot) {
        const rp_param *p = rp_model_param(m, i);
        if (rp_tensor_new(slot, p->value->ndim, p->value->shape, err)) return NULL;
    }
    return *slot;
}

int rp_pbufs_save(const rp_pbufs *b, rp_model *m, rp_st *out, rp_error *err) {
    char key[600];
    for (size_t i = 0; i < b->n; i++) {
        const rp_param *p = rp_model_param(m, i);
        for (int k = 0; k < b->nb; k++) {
            const rp_tensor *t = b->buf[i * (size_t)b->nb + (size_t)k];
            if (!t) continue;
            snprintf(key, sizeof key, "%s.%s", b->names[k], p->name);
            if (rp_st_add(out, key, t, err)) return err->status;
        }
        if (b->step[i] > 0) {
            snprintf(key, sizeof key, "step.%s", p->name);
            if (rp_st_put_scalar(out, key, b->step[i], err)) return err->status;
        }
    }
    return RP_OK;
}

int rp_pbufs_load(rp_pbufs *b, rp_model *m, const rp_st *in, rp_error *err) {
    char key[600];
    for (size_t i = 0; i < b->n; i++) {
        const rp_param *p = rp_model_param(m, i);
        for (int k = 0; k < b->nb; k++) {
            snprintf(key, sizeof key, "%s.%s", b->names[k], p->name);
            const rp_tensor *t = rp_st_get(in, key);
            rp_tensor **slot = &b->buf[i * (size_t)b->nb + (size_t)k];
            if (!t) {
                rp_tensor_free(*slot);
                *slot = NULL;
                continue;
            }
            if (!rp_tensor_same_shape(t, p->value)) {
                char a[128], c[128];
                return rp_error_set(err, RP_ERR_FORMAT, "'%s' has shape %s, parameter has %s", key,
                                    rp_shape_str(t->ndim, t->shape, a, sizeof a),
                                    rp_shape_str(p->value->ndim, p->value->shape, c, sizeof c));
            }
            if (!rp_pbufs_get(b, m, i, k, err)) return err->status;
            rp_tensor_copy(*slot, t, err);
        }
        snprintf(key, sizeof key, "step.%s", p->name);
        double s = 0;
        b->step[i] = rp_st_get_scalar(in, key, &s) ? s : 0;
        if (!(b->step[i] >= 0 && b->step[i] <= 9007199254740992.0) || b->step[i] != floor(b->step[i]))
            return rp_error_set(err, RP_ERR_FORMAT, "'%s' is %g; expected a step count >= 0", key, b->step[i]);
    }
    return RP_OK;
}

double rp_optim_decay(const rp_param *p, double wd, int decay_norm_and_bias) {
    if (!decay_norm_and_bias && p->no_decay) return 0.0;
    return wd;
}

void *rp_optim_new(size_t size, const rp_node *params, rp_model *m, int nb,
                   const char *const *names, rp_error *err) {
    rp_optim_common *c = calloc(1, size);
    if (!c) {
        rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->model = m;
    c->wd = rp_param_double(params, "weight_decay");
    c->decay_nb = rp_param_bool(params, "decay_norm_and_bias");
    if (rp_pbufs_init(&c->b, m, nb, names, err)) {
        free(c);
        return NULL;
    }
    return c;
}

int rp_optim_check_model(const rp_optim_common *c, const rp_model *m, rp_error *err) {
    if (m != c->model || rp_model_num_params(m) != c->b.n)
        return rp_error_set(err, RP_ERR_INTERNAL, "the model changed after the optimizer was created");
    return RP_OK;
}

int rp_optim_save(const void *state, rp_st *out, rp_error *err) {
    const rp_optim_common *c = state;
    return rp_pbufs_save(&c->b, c->model, out, err);
}

int rp_optim_load(void *state, const rp_st *in, rp_error *err) {
    rp_optim_common *c = state;
    return rp_pbufs_load(&c->b, c->model, in, err);
}

void rp_optim_destroy(void *state) {
    rp_optim_common *c = state;
    if (!c) return;
    rp_pbufs_release(&c->b);
    free(c);
}
