/* rmsprop: torch.optim.RMSprop (1.13 single-tensor path):
 *   g += weight_decay*p; sq = alpha*sq + (1 - alpha)*g*g
 *   centered: ga = alpha*ga + (1 - alpha)*g; avg = sqrt(sq - ga*ga) + eps
 *   else avg = sqrt(sq) + eps
 *   momentum > 0: buf = momentum*buf + g/avg; p -= lr*buf   else p -= lr*g/avg */
#include <math.h>
#include <stdlib.h>

#include "nn/layer.h"
#include "optim/optim_impl.h"

typedef struct rms_state {
    rp_optim_common c;
    double alpha, eps, momentum;
    int centered;
} rms_state;

static const char *const rms_names[] = {"square_avg", "grad_avg", "momentum_buffer"};

static int rms_create(const rp_node *params, rp_model *m, void **state, rp_error *err) {
    rms_state *s = rp_optim_new(sizeof *s, params, m, 3, rms_names, err);
    if (!s) return err->status;
    s->alpha = rp_param_double(params, "alpha");
    s->eps = rp_param_double(params, "eps");
    s->momentum = rp_param_double(params, "momentum");
    s->centered = rp_param_bool(params, "centered");
    *state = s;
    return RP_OK;
}

static int rms_step(void *state, rp_model *m, double lr, rp_error *err) {
    rms_state *s = state;
    if (rp_optim_check_model(&s->c, m, err)) return err->status;
    for (size_t i = 0; i < s->c.b.n; i++) {
        rp_param *p = rp_model_param(m, i);
        if (!p->trainable || !p->grad) continue;
        rp_tensor *sq = rp_pbufs_get(&s->c.b, m, i, 0, err);
        rp_tensor *ga = s->centered ? rp_pbufs_get(&s->c.b, m, i, 1, err) : NULL;
        rp_tensor *mb = s->momentum > 0 ? rp_pbufs_get(&s->c.b, m, i, 2, err) : NULL;
        if (!sq || (s->centered && !ga) || (s->momentum > 0 && !mb)) return err->status;
        s->c.b.step[i] += 1;
        float wd = (float)rp_optim_decay(p, s->c.wd, s->c.decay_nb), a = (float)s->alpha;
        float oma = (float)(1 - s->alpha), eps = (float)s->eps, mom = (float)s->momentum, nlr = (float)-lr;
        float *w = p->value->data, *sv = sq->data, *gv = ga ? ga->data : NULL, *bv = mb ? mb->data : NULL;
        const float *g = p->grad->data;
        int64_t n = (int64_t)p->value->numel;
#pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
        for (int64_t k = 0; k < n; k++) {
            float gk = wd != 0 ? g[k] + wd * w[k] : g[k];
            float sk = sv[k] * a + oma * (gk * gk);
            sv[k] = sk;
            float avg;
            if (gv) {
                float gak = gv[k] * a + oma * gk;
                gv[k] = gak;
                avg = sqrtf(sk + -1.0f * (gak * gak)) + eps;
            } else {
                avg = sqrtf(sk) + eps;
            }
            if (bv) {
                bv[k] = bv[k] * mom + gk / avg;
                w[k] = w[k] + nlr * bv[k];
            } else {
                w[k] = w[k] + nlr * (gk / avg);
            }
        }
    }
    return RP_OK;
}

static const struct rp_optimizer_ops rmsprop_ops = {rms_create, rms_step, rp_optim_save, rp_optim_load, rp_optim_destroy};
RP_COMPONENT(RP_COMP_OPTIMIZER, "rmsprop", "RMSprop (torch.optim.RMSprop)", rmsprop_ops)
