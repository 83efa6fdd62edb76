/* sgd: torch.optim.SGD (1.13, single-tensor path):
 *   d = g + weight_decay * p
 *   momentum: buf = d on the first step, else buf = momentum*buf + (1 - dampening)*d;
 *             d = nesterov ? d + momentum*buf : buf
 *   p -= lr * d */
#include <stdlib.h>

#include "layer.h"
#include "optim_impl.h"

typedef struct sgd_state {
    rp_optim_common c;
    double momentum, dampening;
    int nesterov;
    rp_pbufs b;
} sgd_state;

static const char *const sgd_names[] = {"momentum_buffer"};

static int sgd_create(const rp_node *params, rp_model *m, void **state, rp_error *err) {
    sgd_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    s->c.model = m;
    s->c.wd = rp_param_double(params, "weight_decay", 0);
    s->c.decay_nb = rp_param_bool(params, "decay_norm_and_bias", 1);
    s->momentum = rp_param_double(params, "momentum", 0);
    s->dampening = rp_param_double(params, "dampening", 0);
    s->nesterov = rp_param_bool(params, "nesterov", 0);
    if (s->nesterov && (s->momentum <= 0 || s->dampening != 0)) {
        free(s);
        return rp_error_at(err, params, RP_ERR_INVALID, "nesterov momentum requires a momentum > 0 and zero dampening");
    }
    if (rp_pbufs_init(&s->b, m, 1, sgd_names, err)) {
        free(s);
        return err->status;
    }
    *state = s;
    return RP_OK;
}

static int sgd_step(void *state, rp_model *m, double lr, rp_error *err) {
    sgd_state *s = state;
    if (m != s->c.model || rp_model_num_params(m) != s->b.n)
        return rp_error_set(err, RP_ERR_INTERNAL, "the model changed after the optimizer was created");
    for (size_t i = 0; i < s->b.n; i++) {
        rp_param *p = rp_model_param(m, i);
        if (!p->trainable || !p->grad) continue;
        float wd = (float)rp_optim_decay(p, s->c.wd, s->c.decay_nb), mom = (float)s->momentum;
        float damp1 = (float)(1.0 - s->dampening), nlr = (float)-lr;
        float *w = p->value->data;
        const float *g = p->grad->data;
        int64_t n = (int64_t)p->value->numel;
        if (mom != 0) {
            int first = s->b.buf[i] == NULL;
            rp_tensor *bt = rp_pbufs_get(&s->b, m, i, 0, err);
            if (!bt) return err->status;
            float *buf = bt->data;
            int nest = s->nesterov;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t k = 0; k < n; k++) {
                float d = wd != 0 ? g[k] + wd * w[k] : g[k];
                float bk = first ? d : buf[k] * mom + damp1 * d;
                buf[k] = bk;
                d = nest ? d + mom * bk : bk;
                w[k] = w[k] + nlr * d;
            }
        } else {
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t k = 0; k < n; k++) {
                float d = wd != 0 ? g[k] + wd * w[k] : g[k];
                w[k] = w[k] + nlr * d;
            }
        }
        s->b.step[i] += 1;
    }
    return RP_OK;
}

static int sgd_save(const void *state, rp_state *out, rp_error *err) {
    const sgd_state *s = state;
    return rp_pbufs_save(&s->b, s->c.model, out, err);
}

static int sgd_load(void *state, const rp_state *in, rp_error *err) {
    sgd_state *s = state;
    return rp_pbufs_load(&s->b, s->c.model, in, err);
}

static void sgd_destroy(void *state) {
    sgd_state *s = state;
    if (!s) return;
    rp_pbufs_release(&s->b);
    free(s);
}

static const struct rp_optimizer_ops sgd_ops = {sgd_create, sgd_step, sgd_save, sgd_load, sgd_destroy};
RP_REGISTER(RP_COMP_OPTIMIZER, "sgd", "stochastic gradient descent with momentum (torch.optim.SGD)", sgd_ops)
