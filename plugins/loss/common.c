/* Shared helpers of the loss plugin (see loss_common.h). */
#include <math.h>
#include <stdlib.h>

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

int64_t loss_nblocks(const loss_geom *g) {
    if (g->s > 1) return g->n;
    return (g->rows + LOSS_BLOCK_ROWS - 1) / LOSS_BLOCK_ROWS;
}

void loss_block_at(const loss_geom *g, int64_t b, loss_block *blk) {
    if (g->s > 1) {
        blk->off = (size_t)(b * g->c * g->s);
        blk->ks = g->s;
        blk->rs = 1;
        blk->r0 = b * g->s;
        blk->len = g->s;
    } else {
        blk->r0 = b * LOSS_BLOCK_ROWS;
        blk->len = g->rows - blk->r0 < LOSS_BLOCK_ROWS ? g->rows - blk->r0 : LOSS_BLOCK_ROWS;
        blk->off = (size_t)(blk->r0 * g->c);
        blk->ks = 1;
        blk->rs = g->c;
    }
}

LOSS_INLINE void lse_block(const float *x, const loss_geom *g, const loss_block *k, double *out,
                           float *m, float *e, double *sum, int64_t rs) {
    const float *xb = x + k->off;
    for (int64_t j = 0; j < k->len; j++) m[j] = xb[j * rs];
    for (int64_t c = 1; c < g->c; c++)
        for (int64_t j = 0; j < k->len; j++) {
            float v = xb[c * k->ks + j * rs];
            m[j] = v > m[j] ? v : m[j];
        }
    for (int64_t j = 0; j < k->len; j++) sum[j] = 0;
    /* exps in float into e (vectorised), summed in double */
    for (int64_t c = 0; c < g->c; c++) {
        for (int64_t j = 0; j < k->len; j++) e[j] = loss_expf(xb[c * k->ks + j * rs] - m[j]);
        for (int64_t j = 0; j < k->len; j++) sum[j] += e[j];
    }
    for (int64_t j = 0; j < k->len; j++) out[j] = (double)m[j] + log(sum[j]);
}

int loss_lse(const float *x, const loss_geom *g, double *lse) {
    const int64_t nb = loss_nblocks(g);
    int fail = 0;
#pragma omp parallel for schedule(static) if ((int64_t)g->rows * g->c > LOSS_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        loss_block k;
        loss_block_at(g, b, &k);
        double *sum = malloc(sizeof(double) * (size_t)k.len);
        float *m = malloc(sizeof(float) * 2 * (size_t)k.len);
        if (!sum || !m) {
            free(sum);
            free(m);
#pragma omp atomic write
            fail = 1;
            continue;
        }
        LOSS_CALL_RS(k, lse_block, x, g, &k, lse + k.r0, m, m + k.len, sum);
        free(sum);
        free(m);
    }
    return fail ? -1 : 0;
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

int loss_param_finite(const rp_node *params, const char *key, double *out, rp_error *err) {
    /* the schema filled the default; a missing key is recorded for the stage
       to report (rp_param_take_missing) */
    *out = rp_param_double(params, key);
    if (!isfinite(*out))
        return rp_error_at(err, rp_node_get(params, key), RP_ERR_INVALID,
                           "'%s': expected a finite number", key);
    return RP_OK;
}

int loss_begin(const rp_tensor *logits, rp_tensor *dlogits, const int32_t *target, int64_t min_c,
               int64_t ignore_index, const char *who, loss_geom *g, int64_t *used, double *loss,
               rp_error *err) {
    *used = 0;
    *loss = 0;
    int rc = loss_geom_init(logits, dlogits, min_c, who, g, err);
    if (rc != RP_OK) return rc;
    for (int64_t r = 0; r < g->rows; r++) {
        int ok = loss_target_ok(target[r], ignore_index, g, r, who, err);
        if (ok < 0) return err ? err->status : RP_ERR_INVALID;
        *used += ok;
    }
    if (*used == 0 && dlogits) rp_tensor_zero(dlogits);
    return RP_OK;
}
