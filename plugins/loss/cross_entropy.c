/* cross_entropy: torch.nn.CrossEntropyLoss (PyTorch 1.13 docs) with class
 * weights, label smoothing, ignore_index and reduction='mean'.
 *
 * With log-probabilities l = log_softmax(x), weights w (all 1 when absent),
 * smoothing e, C classes, and the used (non-ignored) rows i with target y_i:
 *   nll    = sum_i w[y_i] * -l[i, y_i] / W,        W = sum_i w[y_i]
 *   smooth = sum_i sum_c w[c] * -l[i, c] / D,      D = W when weighted, else
 *                                                  the number of used rows
 *   loss   = (1 - e) * nll + e / C * smooth
 * which is ATen's cross_entropy_loss_label_smoothing. Its gradient wrt x:
 *   (1-e)/W * w[y] (p_c - [c = y]) + e/(C D) (p_c sum_k w_k - w_c).
 * When every row is ignored PyTorch returns NaN (0/0); runpipe returns loss
 * 0 with a zero gradient so a batch of unlabelled pixels does not abort
 * training. [N, C, H, W] logits take [N, H, W] targets (mean over pixels). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss_common.h"

typedef struct ce_state {
    const char *who;
    double scale;         /* `weight`: multiplies loss and gradient */
    double smoothing;     /* label_smoothing in [0, 1] */
    int64_t ignore_index;
    int64_t n_w;          /* class weights (0 = none) */
    double *w;            /* owned */
    int require_4d;
} ce_state;

int loss_ce_create_named(const rp_node *params, const char *who, void **state, rp_error *err) {
    ce_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "loss '%s': out of memory", who);
    s->who = who;
    s->require_4d = strcmp(who, "pixel_cross_entropy") == 0;
    int rc = loss_param_finite(params, "weight", &s->scale, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "label_smoothing", &s->smoothing, err);
    s->ignore_index = rp_param_int(params, "ignore_index");
    const rp_node *wn = rp_node_get(params, "weights");
    /* (the schema checks that it is a non-empty list of numbers >= 0) */
    if (rc == RP_OK && wn && !rp_node_is_null(wn)) {
        s->n_w = (int64_t)rp_node_len(wn);
        s->w = malloc(sizeof(double) * (size_t)s->n_w);
        if (!s->w) rc = rp_error_set(err, RP_ERR_NOMEM, "loss '%s': out of memory", who);
        for (int64_t k = 0; rc == RP_OK && k < s->n_w; k++) {
            const rp_node *it = rp_node_at(wn, (size_t)k);
            rc = rp_node_as_double(it, &s->w[k], err);
            if (rc == RP_OK && !isfinite(s->w[k]))
                rc = rp_error_at(err, it, RP_ERR_INVALID,
                                 "loss '%s': weights[%lld] must be finite, got %g", who,
                                 (long long)k, s->w[k]);
        }
    }
    if (rc != RP_OK) {
        loss_ce_destroy(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

static int ce_create(const rp_node *params, void **state, rp_error *err) {
    return loss_ce_create_named(params, "cross_entropy", state, err);
}

void loss_ce_destroy(void *state) {
    ce_state *s = state;
    if (!s) return;
    free(s->w);
    free(s);
}

/* Gradient of one block: d = a w_y (p - [k = y]) + used (bw p - bsm w_k)
 * (bw = bsm = 0 without smoothing; w_y = used = 0 on ignored rows). */
LOSS_INLINE void ce_grad_block(const ce_state *s, const loss_geom *g, const loss_block *b,
                               const float *x, float *dx, const int32_t *t, const double *l,
                               const float *wy, const float *v, float a, float bw, float bsm,
                               int64_t rs) {
    for (int64_t k = 0; k < g->c; k++) {
        const float wk = s->w ? (float)s->w[k] : 1.0f;
        const int32_t kk = (int32_t)k;
        const float *xk = x + b->off + k * b->ks;
        float *dk = dx + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) {
            float p = loss_expd(xk[j * rs], l[j]);
            dk[j * rs] = a * wy[j] * (p - (t[j] == kk ? 1.0f : 0.0f)) + v[j] * (bw * p - bsm * wk);
        }
    }
}

int loss_ce_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                    double *loss, rp_tensor *dlogits, rp_error *err) {
    const ce_state *s = state;
    loss_geom g;
    int rc = loss_geom_init(logits, dlogits, 1, s->who, &g, err);
    if (rc != RP_OK) return rc;
    if (s->require_4d && logits->ndim != 4) {
        char b[96];
        return rp_error_set(err, RP_ERR_INVALID,
                            "loss '%s': expects per-pixel logits [N, C, H, W], got %s (use "
                            "cross_entropy for [N, C])",
                            s->who, rp_shape_str(logits->ndim, logits->shape, b, sizeof b));
    }
    if (s->n_w && s->n_w != g.c)
        return rp_error_set(err, RP_ERR_INVALID,
                            "loss '%s': %lld class weights given but the model outputs %lld "
                            "classes",
                            s->who, (long long)s->n_w, (long long)g.c);
    /* pass 1 (serial, targets only): validity and the normaliser */
    double W = 0, used = 0;
    for (int64_t r = 0; r < g.rows; r++) {
        int ok = loss_target_ok(target[r], s->ignore_index, &g, r, s->who, err);
        if (ok < 0) return err ? err->status : RP_ERR_INVALID;
        if (ok) {
            W += s->w ? s->w[target[r]] : 1.0;
            used += 1;
        }
    }
    double D = s->w ? W : used;
    *loss = 0;
    if (used == 0 || W == 0) { /* nothing to learn from (PyTorch: NaN) */
        if (dlogits) rp_tensor_zero(dlogits);
        return RP_OK;
    }
    const int64_t nb = loss_nblocks(&g);
    double *lse = malloc(sizeof(double) * (size_t)g.rows);
    double *part = calloc((size_t)nb * 2, sizeof(double));
    if (!lse || !part || loss_lse(logits->data, &g, lse) != 0) {
        free(lse);
        free(part);
        return rp_error_set(err, RP_ERR_NOMEM, "loss '%s': out of memory", s->who);
    }
    double wsum_all = 0; /* sum_k w_k */
    for (int64_t k = 0; k < g.c; k++) wsum_all += s->w ? s->w[k] : 1.0;
    const double e = s->smoothing, C = (double)g.c;
    const float a = (float)(s->scale * (1 - e) / W), bsm = (float)(s->scale * e / (C * D));
    const float bw = (float)(s->scale * e / (C * D) * wsum_all); /* 0 without smoothing */
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
        /* per row: w[y] (0 when ignored) and 1/0 for used */
        float *wy = malloc(sizeof(float) * 2 * (size_t)b.len);
        if (!wy) {
#pragma omp atomic write
            fail = 1;
            continue;
        }
        float *v = wy + b.len;
        double nll = 0, smooth = 0;
        for (int64_t j = 0; j < b.len; j++) {
            int used_row = t[j] != ii;
            v[j] = used_row ? 1.0f : 0.0f;
            wy[j] = used_row ? (s->w ? (float)s->w[t[j]] : 1.0f) : 0.0f;
            if (used_row) nll += (double)wy[j] * ((double)l[j] - x[loss_el(&b, t[j], j)]);
        }
        if (e > 0)
            for (int64_t k = 0; k < g.c; k++) {
                double acc = 0;
                for (int64_t j = 0; j < b.len; j++)
                    acc += v[j] * ((double)l[j] - x[loss_el(&b, k, j)]);
                smooth += (s->w ? s->w[k] : 1.0) * acc;
            }
        part[2 * bi] = nll;
        part[2 * bi + 1] = smooth;
        if (dx) LOSS_CALL_RS(b, ce_grad_block, s, &g, &b, x, dx, t, l, wy, v, a, bw, bsm);
        free(wy);
    }
    if (fail) {
        free(lse);
        free(part);
        return rp_error_set(err, RP_ERR_NOMEM, "loss '%s': out of memory", s->who);
    }
    double nll = 0, smooth = 0;
    for (int64_t bi = 0; bi < nb; bi++) nll += part[2 * bi], smooth += part[2 * bi + 1];
    free(lse);
    free(part);
    *loss = s->scale * ((1 - e) * nll / W + (e > 0 ? e / C * smooth / D : 0.0));
    return RP_OK;
}

const struct rp_loss_ops rp_loss_cross_entropy_ops = {ce_create, loss_ce_forward, loss_ce_destroy};

RP_COMPONENT(RP_COMP_LOSS, "cross_entropy",
             "softmax cross-entropy with class weights, label smoothing, ignore_index (torch semantics)", rp_loss_cross_entropy_ops)
