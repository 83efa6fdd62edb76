/* sgd: torch.optim.SGD (1.13, single-tensor path):
 *   d = g + weight_decay * p
 *   momentum: buf = d on the first step, else buf = momentum*buf + (1 - dampening)*d;
 *             d = nesterov ? d + momentum*buf : buf
 *   p -= lr * d */
#include <stdlib.h>

#include "nn/layer.h"
#include "optim/optim_impl.h"

typedef struct sgd_state {
    rp_optim_common c;
    double momentum, dampening;
    int nesterov;
} sgd_state;

static const char *const sgd_names[] = {"momentum_buffer"};

static int sgd_create(const rp_node *params, rp_model *m, void **state, rp_error *err) {
    sgd_state *s = rp_optim_new(sizeof *s, params, m, 1, sgd_names, err);
    if (!s) return err->status;
    s->momentum = rp_param_double(params, "momentum");
    s->dampening = rp_param_double(params, "dampening");
    s->nesterov = rp_param_bool(params, "nesterov");
    if (s->nesterov && (s->momentum <= 0 || s->dampening != 0)) {
        rp_optim_destroy(s);
        return rp_error_at(err, params, RP_ERR_INVALID, "nesterov momentum requires a momentum > 0 and zero dampening");
    }
    *state = s;
    return RP_OK;
}

static int sgd_step(void *state, rp_model *m, double lr, rp_error *err) {
    sgd_state *s = state;
    if (rp_optim_check_model(&s->c, m, err)) return err->status;
    for (size_t i = 0; i < s->c.b.n; i++) {
        rp_param *p = rp_model_param(m, i);
        if (!p->trainable || !p->grad) continue;
        float wd = (float)rp_optim_decay(p, s->c.wd, s->c.decay_nb), mom = (float)s->momentum;
        float damp1 = (float)(1.0 - s->dampening), nlr = (float)-lr;
        float *w = p->value->data;
        const float *g = p->grad->data;
        int64_t n = (int64_t)p->value->numel;
        if (mom != 0) {
            int first = s->c.b.buf[i] == NULL;
            rp_tensor *bt = rp_pbufs_get(&s->c.b, m, i, 0, err);
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
        s->c.b.step[i] += 1;
    }
    return RP_OK;
}

static const struct rp_optimizer_ops sgd_ops = {sgd_create, sgd_step, rp_optim_save, rp_optim_load, rp_optim_destroy};
RP_COMPONENT(RP_COMP_OPTIMIZER, "sgd", "stochastic gradient descent with momentum (torch.optim.SGD)", sgd_ops)
