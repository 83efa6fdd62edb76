/* complement_flatten (S3): flatten the non-target class probabilities.
 * For sample i with target y, the softmax over the C-1 other classes
 *   p'_c = exp(x_c) / sum_{k != y} exp(x_k),   c != y,
 * is pulled towards the uniform 1/(C-1) by cross-entropy:
 *   L' = -(1/N) sum_i sum_{c != y_i} (1/(C-1)) log p'_c,   times `weight` (lambda).
 * Gradient: dL'_i/dx_c = p'_c - 1/(C-1) for c != y, 0 for c = y (then / N).
 * Rows whose target is ignore_index are left out of the sum and the mean. */
#include <math.h>
#include <stdlib.h>

#include "loss_common.h"

typedef struct cf_state {
    double scale;
    int64_t ignore_index;
} cf_state;

static int cf_create(const rp_node *params, void **state, rp_error *err) {
    cf_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "loss 'complement_flatten': out of memory");
    int rc = loss_param_finite(params, "weight", 1.0, &s->scale, err);
    s->ignore_index = rp_param_int(params, "ignore_index", -100);
    if (rc != RP_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

static int cf_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                      double *loss, rp_tensor *dlogits, rp_error *err) {
    const cf_state *s = state;
    loss_geom g;
    int rc = loss_geom_init(logits, dlogits, 2, "complement_flatten", &g, err);
    if (rc != RP_OK) return rc;
    int64_t used = 0;
    for (int64_t r = 0; r < g.rows; r++) {
        int ok = loss_target_ok(target[r], s->ignore_index, &g, r, "complement_flatten", err);
        if (ok < 0) return err ? err->status : RP_ERR_INVALID;
        used += ok;
    }
    if (dlogits) rp_tensor_zero(dlogits);
    *loss = 0;
    if (used == 0) return RP_OK;
    double *lp = malloc(sizeof(double) * (size_t)g.c);
    if (!lp) return rp_error_set(err, RP_ERR_NOMEM, "loss 'complement_flatten': out of memory");
    const double inv = s->scale / (double)used, u = 1.0 / (double)(g.c - 1);
    double total = 0;
    for (int64_t r = 0; r < g.rows; r++) {
        int32_t y = target[r];
        if (y == s->ignore_index) continue;
        /* log-softmax over the classes other than y */
        double m = -INFINITY;
        for (int64_t k = 0; k < g.c; k++) {
            if (k == y) continue;
            double v = logits->data[loss_at(&g, r, k)];
            if (v > m) m = v;
        }
        double z = 0;
        for (int64_t k = 0; k < g.c; k++)
            if (k != y) z += exp((double)logits->data[loss_at(&g, r, k)] - m);
        double lse = m + log(z), row = 0;
        for (int64_t k = 0; k < g.c; k++) {
            if (k == y) continue;
            lp[k] = (double)logits->data[loss_at(&g, r, k)] - lse;
            row -= u * lp[k];
        }
        total += row;
        if (dlogits)
            for (int64_t k = 0; k < g.c; k++)
                dlogits->data[loss_at(&g, r, k)] = k == y ? 0.0f : (float)(inv * (exp(lp[k]) - u));
    }
    free(lp);
    *loss = inv * total;
    return RP_OK;
}

static void cf_destroy(void *state) { free(state); }

const struct rp_loss_ops rp_loss_complement_flatten_ops = {cf_create, cf_forward, cf_destroy};
