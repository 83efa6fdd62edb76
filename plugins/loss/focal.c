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
    int rc = loss_param_finite(params, "alpha", 1.0, &s->alpha, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "gamma", 2.0, &s->gamma, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "weight", 1.0, &s->scale, err);
    if (rc == RP_OK && s->gamma < 0)
        rc = rp_error_at(err, rp_node_get(params, "gamma"), RP_ERR_INVALID,
                         "loss 'focal': gamma must be >= 0, got %g", s->gamma);
    s->ignore_index = rp_param_int(params, "ignore_index", -100);
    if (rc != RP_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

static int focal_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                         double *loss, rp_tensor *dlogits, rp_error *err) {
    const focal_state *s = state;
    loss_geom g;
    int rc = loss_geom_init(logits, dlogits, 1, "focal", &g, err);
    if (rc != RP_OK) return rc;
    int64_t used = 0;
    for (int64_t r = 0; r < g.rows; r++) {
        int ok = loss_target_ok(target[r], s->ignore_index, &g, r, "focal", err);
        if (ok < 0) return err ? err->status : RP_ERR_INVALID;
        used += ok;
    }
    if (dlogits) rp_tensor_zero(dlogits);
    *loss = 0;
    if (used == 0) return RP_OK;
    double *l = malloc(sizeof(double) * (size_t)g.c);
    if (!l) return rp_error_set(err, RP_ERR_NOMEM, "loss 'focal': out of memory");
    const double inv = s->scale / (double)used;
    double total = 0;
    for (int64_t r = 0; r < g.rows; r++) {
        int32_t y = target[r];
        if (y == s->ignore_index) continue;
        loss_row_log_softmax(logits->data, &g, r, l);
        double lt = l[y], pt = exp(lt);
        double q = -expm1(lt); /* 1 - p_t without cancellation */
        double qg = s->gamma == 0 ? 1.0 : pow(q, s->gamma);
        total += -s->alpha * qg * lt;
        if (dlogits) {
            double dq = (s->gamma == 0 || q <= 0) ? 0.0 : s->gamma * pow(q, s->gamma - 1);
            double f = -s->alpha * (qg - dq * pt * lt);
            for (int64_t k = 0; k < g.c; k++) {
                double ind = k == y ? 1.0 : 0.0;
                dlogits->data[loss_at(&g, r, k)] = (float)(inv * f * (ind - exp(l[k])));
            }
        }
    }
    free(l);
    *loss = inv * total;
    return RP_OK;
}

static void focal_destroy(void *state) { free(state); }

const struct rp_loss_ops rp_loss_focal_ops = {focal_create, focal_forward, focal_destroy};
