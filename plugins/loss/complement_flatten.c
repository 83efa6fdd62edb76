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
    int rc = loss_param_finite(params, "weight", &s->scale, err);
    s->ignore_index = rp_param_int(params, "ignore_index");
    if (rc != RP_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

/* Per row of one block: z = logsumexp over the classes other than the
 * target (m, e: float scratch for the max and the exps). */
LOSS_INLINE void cf_lse_block(const loss_geom *g, const loss_block *b, const float *x,
                              const int32_t *t, float *m, float *e, double *z, int64_t rs) {
    for (int64_t j = 0; j < b->len; j++) m[j] = -INFINITY, z[j] = 0;
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const float *xk = x + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) {
            float v = xk[j * rs];
            m[j] = (t[j] != kk && v > m[j]) ? v : m[j];
        }
    }
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const float *xk = x + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) {
            float ev = loss_expf(xk[j * rs] - m[j]);
            e[j] = t[j] != kk ? ev : 0.0f;
        }
        for (int64_t j = 0; j < b->len; j++) z[j] += e[j]; /* double sums */
    }
    for (int64_t j = 0; j < b->len; j++) z[j] = (double)m[j] + log(z[j]);
}

/* d = inv (p'_k - 1/(C-1)) for k != y; 0 for k = y and on ignored rows. */
LOSS_INLINE void cf_grad_block(const loss_geom *g, const loss_block *b, const float *x, float *dx,
                               const int32_t *t, const double *z, int64_t ii, float inv, float u,
                               int64_t rs) {
    const int32_t ig = ii < INT32_MIN || ii > INT32_MAX ? INT32_MIN : (int32_t)ii;
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const float *xk = x + b->off + k * b->ks;
        float *dk = dx + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) {
            float p = loss_expd(xk[j * rs], z[j]);
            dk[j * rs] = (t[j] == ig || t[j] == kk) ? 0.0f : inv * (p - u);
        }
    }
}

static int cf_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                      double *loss, rp_tensor *dlogits, rp_error *err) {
    const cf_state *s = state;
    loss_geom g;
    int64_t used;
    int rc = loss_begin(logits, dlogits, target, 2, s->ignore_index, "complement_flatten", &g, &used, loss, err);
    if (rc != RP_OK || used == 0) return rc;
    const int64_t nb = loss_nblocks(&g);
    double *part = calloc((size_t)nb, sizeof(double));
    if (!part) return rp_error_set(err, RP_ERR_NOMEM, "loss 'complement_flatten': out of memory");
    const double inv = s->scale / (double)used;
    const float u = 1.0f / (float)(g.c - 1);
    const float *x = logits->data;
    float *dx = dlogits ? dlogits->data : NULL;
    const int64_t ii = s->ignore_index;
    int fail = 0;
#pragma omp parallel for schedule(static) if ((int64_t)g.rows * g.c > LOSS_PAR_MIN)
    for (int64_t bi = 0; bi < nb; bi++) {
        loss_block b;
        loss_block_at(&g, bi, &b);
        const int32_t *t = target + b.r0;
        /* per row: max and logsumexp over the classes other than the target */
        float *m = malloc(sizeof(float) * 2 * (size_t)b.len);
        double *z = malloc(sizeof(double) * (size_t)b.len);
        if (!m || !z) {
            free(m);
            free(z);
#pragma omp atomic write
            fail = 1;
            continue;
        }
        LOSS_CALL_RS(b, cf_lse_block, &g, &b, x, t, m, m + b.len, z);
        double total = 0;
        for (int64_t k = 0; k < g.c; k++)
            for (int64_t j = 0; j < b.len; j++)
                if (t[j] != ii && t[j] != k) total += (double)z[j] - x[loss_el(&b, k, j)];
        part[bi] = total / (double)(g.c - 1);
        if (dx) LOSS_CALL_RS(b, cf_grad_block, &g, &b, x, dx, t, z, ii, (float)inv, u);
        free(m);
        free(z);
    }
    double total = 0;
    for (int64_t bi = 0; bi < nb; bi++) total += part[bi];
    free(part);
    if (fail) return rp_error_set(err, RP_ERR_NOMEM, "loss 'complement_flatten': out of memory");
    *loss = inv * total;
    return RP_OK;
}

static void cf_destroy(void *state) { free(state); }

const struct rp_loss_ops rp_loss_complement_flatten_ops = {cf_create, cf_forward, cf_destroy};

RP_COMPONENT(RP_COMP_LOSS, "complement_flatten",
             "cross-entropy of the non-target softmax against uniform 1/(C-1) (weight = lambda)", rp_loss_complement_flatten_ops)
