/* Adam and AdamW share their update (torch.optim 1.13 single-tensor path):
 *   t += 1; m = b1*m + (1 - b1)*g; v = b2*v + (1 - b2)*g*g
 *   [amsgrad: vmax = max(vmax, v), use vmax]
 *   denom = sqrt(v) / sqrt(1 - b2^t) + eps; p -= lr / (1 - b1^t) * m / denom
 * Adam adds weight_decay*p to g first (L2); AdamW multiplies p by
 * (1 - lr*weight_decay) first (decoupled). */
#ifndef RP_ENGINE_OPTIM_ADAM_COMMON_H
#define RP_ENGINE_OPTIM_ADAM_COMMON_H

#include <math.h>
#include <stdlib.h>

#include "nn/layer.h"
#include "optim/optim_impl.h"

typedef struct adam_state {
    rp_optim_common c;
    double b1, b2, eps;
    int amsgrad, decoupled;
} adam_state;

static const char *const adam_names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

static int adam_create_common(const rp_node *params, rp_model *m, void **state, int decoupled,
                              rp_error *err) {
    adam_state *s = rp_optim_new(sizeof *s, params, m, 3, adam_names, err);
    if (!s) return err->status;
    double betas[2] = {0.9, 0.999};
    rp_param_doubles(params, "betas", betas, 2);
    s->b1 = betas[0], s->b2 = betas[1];
    s->eps = rp_param_double(params, "eps");
    s->amsgrad = rp_param_bool(params, "amsgrad");
    s->decoupled = decoupled;
    if (!(s->b1 >= 0 && s->b1 < 1 && s->b2 >= 0 && s->b2 < 1)) {
        rp_optim_destroy(s);
        return rp_error_at(err, rp_node_get(params, "betas"), RP_ERR_INVALID, "betas must be in [0, 1)");
    }
    *state = s;
    return RP_OK;
}

/* One element's moments (the gradient plus the L2 term when l2 != 0):
 * updates *m and *v, returns the new m. */
static inline float adam_moments(float g, float w, float l2, float b1, float omb1, float b2,
                                 float omb2, float *m, float *v) {
    const float gk = l2 != 0 ? g + l2 * w : g;
    const float mk = *m * b1 + omb1 * gk;
    *v = *v * b2 + omb2 * (gk * gk);
    *m = mk;
    return mk;
}

static int adam_step(void *state, rp_model *m, double lr, rp_error *err) {
    adam_state *s = state;
    if (rp_optim_check_model(&s->c, m, err)) return err->status;
    for (size_t i = 0; i < s->c.b.n; i++) {
        rp_param *p = rp_model_param(m, i);
        if (!p->trainable || !p->grad) continue;
        rp_tensor *mt = rp_pbufs_get(&s->c.b, m, i, 0, err), *vt = rp_pbufs_get(&s->c.b, m, i, 1, err);
        rp_tensor *xt = s->amsgrad ? rp_pbufs_get(&s->c.b, m, i, 2, err) : NULL;
        if (!mt || !vt || (s->amsgrad && !xt)) return err->status;
        double t = (s->c.b.step[i] += 1);
        double wd = rp_optim_decay(p, s->c.wd, s->c.decay_nb);
        double bc1 = 1.0 - pow(s->b1, t), bc2 = 1.0 - pow(s->b2, t);
        float step_size = (float)(lr / bc1), bc2s = (float)sqrt(bc2), eps = (float)s->eps;
        float b1 = (float)s->b1, b2 = (float)s->b2, omb1 = (float)(1 - s->b1), omb2 = (float)(1 - s->b2);
        float l2 = s->decoupled ? 0.0f : (float)wd;
        float *w = p->value->data, *mv = mt->data, *vv = vt->data, *xv = xt ? xt->data : NULL;
        const float *g = p->grad->data;
        int64_t n = (int64_t)p->value->numel;
        if (s->decoupled && wd != 0) {
            float f = (float)(1.0 - lr * wd);
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t k = 0; k < n; k++) w[k] *= f;
        }
        /* element-wise, each branch its own loop so it vectorises (the same
         * IEEE operations in the same order: the same bits as one at a time) */
        if (xv) {
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t k = 0; k < n; k++) {
                const float mk = adam_moments(g[k], w[k], l2, b1, omb1, b2, omb2, &mv[k], &vv[k]);
                const float xk = vv[k] > xv[k] ? vv[k] : xv[k];
                xv[k] = xk;
                w[k] = w[k] - step_size * (mk / (sqrtf(xk) / bc2s + eps));
            }
        } else {
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t k = 0; k < n; k++) {
                const float mk = adam_moments(g[k], w[k], l2, b1, omb1, b2, omb2, &mv[k], &vv[k]);
                w[k] = w[k] - step_size * (mk / (sqrtf(vv[k]) / bc2s + eps));
            }
        }
    }
    return RP_OK;
}

#endif
