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
    int rc = loss_param_finite(params, "smooth", &s->smooth, err);
    if (rc == RP_OK) rc = loss_param_finite(params, "weight", &s->scale, err);
    s->ignore_index = rp_param_int(params, "ignore_index");
    if (rc != RP_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return RP_OK;
}

/* Per class of one block: sum of p over used rows (psum) and over the rows
 * of that class (inter), into part[k] / part[C + k]; p per row is computed
 * vectorised into pk, the sums in double in row order. */
LOSS_INLINE void dice_sum_block(const loss_geom *g, const loss_block *b, const float *x,
                                const int32_t *t, const double *l, int64_t ii, float *pk,
                                double *part, int64_t rs) {
    const int32_t ig = ii < INT32_MIN || ii > INT32_MAX ? INT32_MIN : (int32_t)ii;
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const float *xk = x + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) {
            float p = loss_expd(xk[j * rs], l[j]);
            pk[j] = t[j] == ig ? 0.0f : p;
        }
        double in = 0, ps = 0;
        for (int64_t j = 0; j < b->len; j++) {
            ps += pk[j];
            in += t[j] == kk ? pk[j] : 0.0f;
        }
        part[k] = in;
        part[g->c + k] = ps;
    }
}

/* Gradient of one block: with g_k = A_k [k = y] + B_k = dL/dp_k,
 * dL/dx_k = p_k (g_k - sum_c p_c g_c); 0 on ignored rows. In double: the
 * difference cancels. */
LOSS_INLINE void dice_grad_block(const loss_geom *g, const loss_block *b, const float *x,
                                 float *dx, const int32_t *t, const double *l, int64_t ii,
                                 const double *A, const double *B, double *dot, float *pk,
                                 int64_t rs) {
    const int32_t ig = ii < INT32_MIN || ii > INT32_MAX ? INT32_MIN : (int32_t)ii;
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const double ak = A[k], bk = B[k];
        const float *xk = x + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) pk[j] = loss_expd(xk[j * rs], l[j]);
        for (int64_t j = 0; j < b->len; j++) dot[j] += pk[j] * (bk + (t[j] == kk ? ak : 0.0));
    }
    for (int64_t k = 0; k < g->c; k++) {
        const int32_t kk = (int32_t)k;
        const double ak = A[k], bk = B[k];
        const float *xk = x + b->off + k * b->ks;
        float *dk = dx + b->off + k * b->ks;
        for (int64_t j = 0; j < b->len; j++) pk[j] = loss_expd(xk[j * rs], l[j]);
        for (int64_t j = 0; j < b->len; j++) {
            float d = (float)(pk[j] * (bk + (t[j] == kk ? ak : 0.0) - dot[j]));
            dk[j * rs] = t[j] == ig ? 0.0f : d;
        }
    }
}

static int dice_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                        double *loss, rp_tensor *dlogits, rp_error *err) {
    const dice_state *s = state;
    loss_geom g;
    int64_t used;
    int rc = loss_begin(logits, dlogits, target, 1, s->ignore_index, "dice", &g, &used, loss, err);
    if (rc != RP_OK || used == 0) return rc;
    const int64_t C = g.c, nb = loss_nblocks(&g);
    const int64_t ii = s->ignore_index;
    const float *x = logits->data;
    double *lse = malloc(sizeof(double) * (size_t)g.rows);
    double *part = calloc((size_t)(nb * 2 * C), sizeof(double)); /* per block: inter, psum */
    double *cls = calloc((size_t)(5 * C), sizeof(double));
    if (!lse || !part || !cls || loss_lse(x, &g, lse) != 0) {
        free(lse);
        free(part);
        free(cls);
        return rp_error_set(err, RP_ERR_NOMEM, "loss 'dice': out of memory");
    }
    double *inter = cls, *sum = cls + C, *dice = cls + 2 * C, *A = cls + 3 * C, *B = cls + 4 * C;
    int fail = 0;
#pragma omp parallel for schedule(static) if ((int64_t)g.rows * g.c > LOSS_PAR_MIN)
    for (int64_t bi = 0; bi < nb; bi++) {
        loss_block b;
        loss_block_at(&g, bi, &b);
        float *pk = malloc(sizeof(float) * (size_t)b.len);
        if (!pk) {
#pragma omp atomic write
            fail = 1;
            continue;
        }
        LOSS_CALL_RS(b, dice_sum_block, &g, &b, x, target + b.r0, lse + b.r0, ii, pk,
                     part + bi * 2 * C);
        free(pk);
    }
    if (fail) {
        free(lse);
        free(part);
        free(cls);
        return rp_error_set(err, RP_ERR_NOMEM, "loss 'dice': out of memory");
    }
    for (int64_t bi = 0; bi < nb; bi++) /* fixed order: independent of threads */
        for (int64_t k = 0; k < C; k++) {
            inter[k] += part[(bi * 2) * C + k];
            sum[k] += part[(bi * 2 + 1) * C + k];
        }
    for (int64_t r = 0; r < g.rows; r++)
        if (target[r] != ii) sum[target[r]] += 1.0;
    double mean = 0;
    for (int64_t k = 0; k < C; k++) {
        double den = sum[k] + s->smooth;
        dice[k] = den > 0 ? (2 * inter[k] + s->smooth) / den : 1.0;
        mean += dice[k];
        /* dL/dp_k = A_k [k = y] + B_k */
        A[k] = den > 0 ? -s->scale / (double)C * 2.0 / den : 0.0;
        B[k] = den > 0 ? s->scale / (double)C * dice[k] / den : 0.0;
    }
    mean /= (double)C;
    *loss = s->scale * (1 - mean);
    free(part);
    if (dlogits) {
        float *dx = dlogits->data;
#pragma omp parallel for schedule(static) if ((int64_t)g.rows * g.c > LOSS_PAR_MIN)
        for (int64_t bi = 0; bi < nb; bi++) {
            loss_block b;
            loss_block_at(&g, bi, &b);
            const int32_t *t = target + b.r0;
            const double *l = lse + b.r0;
            double *dot = calloc((size_t)b.len, sizeof(double)); /* sum_k p_k g_k */
            float *pk = malloc(sizeof(float) * (size_t)b.len);
            if (!dot || !pk) {
                free(dot);
                free(pk);
#pragma omp atomic write
                fail = 1;
                continue;
            }
            LOSS_CALL_RS(b, dice_grad_block, &g, &b, x, dx, t, l, ii, A, B, dot, pk);
            free(dot);
            free(pk);
        }
    }
    free(lse);
    free(cls);
    if (fail) return rp_error_set(err, RP_ERR_NOMEM, "loss 'dice': out of memory");
    return RP_OK;
}

static void dice_destroy(void *state) { free(state); }

const struct rp_loss_ops rp_loss_dice_ops = {dice_create, dice_forward, dice_destroy};

RP_COMPONENT(RP_COMP_LOSS, "dice",
             "soft multi-class Dice loss 1 - mean_c dice_c on softmax probabilities", rp_loss_dice_ops)
