/* Shared helpers of the loss plugin (see loss_common.h). */
#include <math.h>

#include "loss_common.h"

int loss_geom_init(const rp_tensor *logits, const rp_tensor *dlogits, int64_t min_c,
                   const char *who, loss_geom *g, rp_error *err) {
    char b1[96], b2[96];
    if (!logits || !logits->data)
        return rp_error_set(err, RP_ERR_INVALID, "loss '%s': no logits", who);
    if (logits->ndim != 2 && logits->ndim != 4)
        return rp_error_set(err, RP_ERR_INVALID,
                            "loss '%s': logits must be [N, C] or [N, C, H, W], got %s", who,
                            rp_shape_str(logits->ndim, logits->shape, b1, sizeof b1));
    g->n = logits->shape[0];
    g->c = logits->shape[1];
    g->s = logits->ndim == 4 ? logits->shape[2] * logits->shape[3] : 1;
    g->rows = g->n * g->s;
    if (g->c < min_c)
        return rp_error_set(err, RP_ERR_INVALID, "loss '%s': needs at least %lld classes, logits %s",
                            who, (long long)min_c,
                            rp_shape_str(logits->ndim, logits->shape, b1, sizeof b1));
    if (dlogits && !rp_tensor_same_shape(logits, dlogits))
        return rp_error_set(err, RP_ERR_INVALID,
                            "loss '%s': gradient buffer %s does not match logits %s", who,
                            rp_shape_str(dlogits->ndim, dlogits->shape, b2, sizeof b2),
                            rp_shape_str(logits->ndim, logits->shape, b1, sizeof b1));
    return RP_OK;
}

void loss_row_log_softmax(const float *x, const loss_geom *g, int64_t r, double *out) {
    double m = -INFINITY;
    for (int64_t k = 0; k < g->c; k++) {
        double v = x[loss_at(g, r, k)];
        out[k] = v;
        if (v > m) m = v;
    }
    double s = 0;
    for (int64_t k = 0; k < g->c; k++) s += exp(out[k] - m);
    double lse = m + log(s);
    for (int64_t k = 0; k < g->c; k++) out[k] -= lse;
}

int loss_target_ok(int32_t t, int64_t ignore_index, const loss_geom *g, int64_t r, const char *who,
                   rp_error *err) {
    if (t == ignore_index) return 0;
    if (t >= 0 && t < g->c) return 1;
    if (g->s == 1)
        rp_error_set(err, RP_ERR_INVALID,
                     "loss '%s': target %d of sample %lld is not a class id in [0, %lld)", who,
                     (int)t, (long long)r, (long long)g->c);
    else
        rp_error_set(err, RP_ERR_INVALID,
                     "loss '%s': target %d of sample %lld at pixel %lld is not a class id in "
                     "[0, %lld) nor ignore_index %lld",
                     who, (int)t, (long long)(r / g->s), (long long)(r % g->s), (long long)g->c,
                     (long long)ignore_index);
    return -1;
}

int loss_param_finite(const rp_node *params, const char *key, double def, double *out,
                      rp_error *err) {
    const rp_node *n = rp_node_get(params, key);
    if (!n) {
        *out = def;
        return RP_OK;
    }
    if (rp_node_as_double(n, out, err) != RP_OK) return err ? err->status : RP_ERR_INVALID;
    if (!isfinite(*out))
        return rp_error_at(err, n, RP_ERR_INVALID, "'%s': expected a finite number", key);
    return RP_OK;
}
