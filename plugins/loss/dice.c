/* dice: soft multi-class Dice loss (Milletari et al., "V-Net", 3DV 2016,
 * eq. 1, without squares in the denominator) on softmax probabilities p and
 * one-hot targets y, summed over the whole batch (all samples and pixels):
 *   I_c = sum p_c y_c,   S_c = sum p_c + sum y_c,
 *   dice_c = (2 I_c + smooth) / (S_c + smooth),   loss = 1 - mean_c dice_c.
 * Gradient: dL/dp_c = -(1/C) (2 y_c - dice_c) / (S_c + smooth), then through
 * the softmax: dL/dx_j = p_j (g_j - sum_c p_c g_c). Ignored pixels
 * (target == ignore_index) count in neither sum. Accepts [N, C] (one "pixel"
 * per sample) and [N, C, H, W] with [N, H, W] targets. */
#include <math.h>
#include <stdlib.h>

#include "loss_common.h"

typedef struct dice_state {
    double smooth, scale;
    int64_t ignore_index;
} dice_state;

static int dice_create(const rp_node *params, void **state, rp_error *err) {
    dice_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "loss 'dice': out of memory");
    int rc = loss_param_finite(params, "smooth", 1.0, &s->smooth, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "weight", 1.0, &s->scale, err);
    if (rc == RP_OK && s->smooth < 0)
        rc = rp_error_at(err, rp_node_get(params, "smooth"), RP_ERR_INVALID,
                         "loss 'dice': smooth must be >= 0, got %g", s->smooth);
    s->ignore_index = rp_param_int(params, "ignore_index", -100);
    if (rc != RP_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

static int dice_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                        double *loss, rp_tensor *dlogits, rp_error *err) {
    const dice_state *s = state;
    loss_geom g;
    int rc = loss_geom_init(logits, dlogits, 1, "dice", &g, err);
    if (rc != RP_OK) return rc;
    int64_t used = 0;
    for (int64_t r = 0; r < g.rows; r++) {
        int ok = loss_target_ok(target[r], s->ignore_index, &g, r, "dice", err);
        if (ok < 0) return err ? err->status : RP_ERR_INVALID;
        used += ok;
    }
    if (dlogits) rp_tensor_zero(dlogits);
    *loss = 0;
    if (used == 0) return RP_OK;
    const int64_t C = g.c;
    double *buf = calloc((size_t)(5 * C), sizeof(double));
    if (!buf) return rp_error_set(err, RP_ERR_NOMEM, "loss 'dice': out of memory");
    double *inter = buf, *sum = buf + C, *dice = buf + 2 * C, *l = buf + 3 * C, *gp = buf + 4 * C;
    for (int64_t r = 0; r < g.rows; r++) {
        int32_t y = target[r];
        if (y == s->ignore_index) continue;
        loss_row_log_softmax(logits->data, &g, r, l);
        for (int64_t k = 0; k < C; k++) sum[k] += exp(l[k]);
        inter[y] += exp(l[y]);
        sum[y] += 1.0;
    }
    double mean = 0;
    for (int64_t k = 0; k < C; k++) {
        double den = sum[k] + s->smooth;
        dice[k] = den > 0 ? (2 * inter[k] + s->smooth) / den : 1.0;
        mean += dice[k];
    }
    mean /= (double)C;
    *loss = s->scale * (1 - mean);
    if (dlogits) {
        for (int64_t r = 0; r < g.rows; r++) {
            int32_t y = target[r];
            if (y == s->ignore_index) continue;
            loss_row_log_softmax(logits->data, &g, r, l);
            double dot = 0;
            for (int64_t k = 0; k < C; k++) {
                double den = sum[k] + s->smooth;
                gp[k] = den > 0 ? -s->scale / (double)C * ((k == y ? 2.0 : 0.0) - dice[k]) / den
                                : 0.0;
                dot += exp(l[k]) * gp[k];
            }
            for (int64_t k = 0; k < C; k++)
                dlogits->data[loss_at(&g, r, k)] = (float)(exp(l[k]) * (gp[k] - dot));
        }
    }
    free(buf);
    return RP_OK;
}

static void dice_destroy(void *state) { free(state); }

const struct rp_loss_ops rp_loss_dice_ops = {dice_create, dice_forward, dice_destroy};
