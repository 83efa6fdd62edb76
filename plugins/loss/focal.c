/* focal: multi-class focal loss (Lin et al., "Focal Loss for Dense Object
 * Detection", ICCV 2017, eq. 5) on softmax probabilities, as S4 uses it:
 *   FL_i = -alpha (1 - p_t)^gamma log p_t,   p_t = softmax(x_i)[y_i],
 * mean over the non-ignored rows (samples, or pixels for [N, C, H, W]).
 * Gradient wrt x_c, with l_t = log p_t and q = 1 - p_t:
 *   dFL/dx_c = -alpha ([c = y] - p_c) (q^gamma - gamma q^(gamma-1) p_t l_t)
 * (the second term is 0 when q = 0). gamma = 0, alpha = 1 is cross-entropy. */
#include <math.h>
#include <stdlib.h>

#include "loss_common.h"

typedef struct focal_state {
    double alpha, gamma, scale;
    int64_t ignore_index;
} focal_state;

static int focal_create(const rp_node *params, void **state, rp_error *err) {
    focal_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "loss 'focal': out of memory");
    int rc = loss_param_finite(params, "alpha", &s->alpha, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "gamma", &s->gamma, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "weight", &s->scale, err);
    s->ignore_index = rp_param_int(params, "ignore_index");
    if (rc != RP_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

/* q^gamma, exact repeated products for small integer gamma (S4: 2). */
static double powq(double q, double gamma) {
    if (gamma == floor(gamma) && gamma >= 0 && gamma <= 8) {
        double r = 1;
        for (int i = 0; i < (int)gamma; i++) r *= q;
        return r;
    }
    return pow(q, gamma);
}

/* dFL/dx_k = f ([k = y] - p_k) for one block (f = 0 on ignored rows). */
LOSS_INLINE void focal_grad_block(const loss_geom *g, const loss_block *b, const float *x,
                                  float *dx, const int32_t *t, const double *l, const float *f,
                                  int64_t rs) {
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const float *xk = x + b->off + k * b->ks;
        float *dk = dx + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) {
            float p = loss_expd(xk[j * rs], l[j]);
            dk[j * rs] = f[j] * ((t[j] == kk ? 1.0f : 0.0f) - p);
        }
    }
}

static int focal_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                         double *loss, rp_tensor *dlogits, rp_error *err) {
    const focal_state *s = state;
    loss_geom g;
    int64_t used;
    int rc = loss_begin(logits, dlogits, target, 1, s->ignore_index, "focal", &g, &used, loss, err);
    if (rc != RP_OK || used == 0) return rc;
    const int64_t nb = loss_nblocks(&g);
    double *lse = malloc(sizeof(double) * (size_t)g.rows);
    double *part = calloc((size_t)nb, sizeof(double));
    if (!lse || !part || loss_lse(logits->data, &g, lse) != 0) {
        free(lse);
        free(part);
        return rp_error_set(err, RP_ERR_NOMEM, "loss 'focal': out of memory");
    }
    const double inv = s->scale / (double)used;
    const float *x = logits->data;
    float *dx = dlogits ? dlogits->data : NULL;
    const int64_t ii = s->ignore_index;
    int fail = 0;
#pragma omp parallel for schedule(static) if ((int64_t)g.rows * g.c > LOSS_PAR_MIN)
    for (int64_t bi = 0; bi < nb; bi++) {
        loss_block b;
        loss_block_at(&g, bi, &b);
        const int32_t *t = target + b.r0;
        const double *l = lse + b.r0;
        float *f = malloc(sizeof(float) * (size_t)b.len); /* row factor, 0 when ignored */
        if (!f) {
#pragma omp atomic write
            fail = 1;
            continue;
        }
        double total = 0;
        for (int64_t j = 0; j < b.len; j++) {
            f[j] = 0;
            if (t[j] == ii) continue;
            double lt = (double)x[loss_el(&b, t[j], j)] - l[j];
            if (lt > 0) lt = 0; /* rounding: log p <= 0 */
            double pt = exp(lt), q = -expm1(lt); /* 1 - p_t without cancellation */
            double qg = s->gamma == 0 ? 1.0 : powq(q, s->gamma);
            total += -s->alpha * qg * lt;
            double dq = (s->gamma == 0 || q <= 0) ? 0.0 : s->gamma * powq(q, s->gamma - 1);
            f[j] = (float)(inv * -s->alpha * (qg - dq * pt * lt));
        }
        part[bi] = total;
        if (dx) LOSS_CALL_RS(b, focal_grad_block, &g, &b, x, dx, t, l, f);
        free(f);
    }
    double total = 0;
    for (int64_t bi = 0; bi < nb; bi++) total += part[bi];
    free(lse);
    free(part);
    if (fail) return rp_error_set(err, RP_ERR_NOMEM, "loss 'focal': out of memory");
    *loss = inv * total;
    return RP_OK;
}

static void focal_destroy(void *state) { free(state); }

const struct rp_loss_ops rp_loss_focal_ops = {focal_create, focal_forward, focal_destroy};

RP_COMPONENT(RP_COMP_LOSS, "focal",
             "focal loss -alpha (1 - p_t)^gamma log p_t, mean", rp_loss_focal_ops)
