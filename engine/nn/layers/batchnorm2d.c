/* batchnorm2d: torch.nn.BatchNorm2d, and the kernels batchnorm1d shares.
 * Train: normalise with the batch mean and the biased variance; update
 * running_mean/var with momentum (running = (1 - m)*running + m*batch) using
 * the UNBIASED variance, and count num_batches_tracked. Eval: running stats.
 * Params weight [C] (1), bias [C] (0); buffers running_mean (0),
 * running_var (1), num_batches_tracked (0-D, 0). */
#include <math.h>
#include <stdlib.h>

#include "nn/layer.h"

typedef struct bn_state {
    double eps, momentum;
    int64_t c;
    rp_tensor mean;     /* [C] mean used in the last forward (batch or running) */
    rp_tensor invstd;   /* [C] 1/sqrt(var + eps) used in the last forward */
    rp_tensor scale;    /* [C] gamma * invstd of the last forward */
    rp_tensor shift;    /* [C] beta - mean * scale of the last forward */
    int train_fwd;      /* last forward used batch statistics */
    int relu;           /* ... and wrote max(0, y) (rp_run_ctx.relu_out) */
    int synced;         /* ... summed over the ranks (rp_model_set_stat_sync) */
    double count;       /* values per channel behind those statistics */
} bn_state;
/* Like PyTorch, backward recomputes xhat = (x - mean) * invstd from the input
 * instead of keeping a normalised copy of every activation. With a relu
 * folded in (relu_out), it recomputes y = x * scale + shift, the forward's
 * own float operations, for relu's mask y > 0: the same bits as the mask
 * relu's backward takes from its output, without reading it. */

int rp_bn_create(rp_layer *l, const rp_node *opts, int64_t c, rp_error *err) {
    bn_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    s->eps = rp_param_double(opts, "eps");
    s->momentum = rp_param_double(opts, "momentum");
    s->c = c;
    if (!(s->eps > 0))
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': eps must be > 0", l->name);
    if (!rp_layer_add_param(l, "weight", 1, &c, 0, err) || !rp_layer_add_param(l, "bias", 1, &c, 0, err) ||
        !rp_layer_add_param(l, "running_mean", 1, &c, 1, err) ||
        !rp_layer_add_param(l, "running_var", 1, &c, 1, err) ||
        !rp_layer_add_param(l, "num_batches_tracked", 0, NULL, 1, err))
        return err->status;
    l->params[0].no_decay = 1;
    l->params[1].no_decay = 1;
    int64_t one = c;
    if (rp_tensor_reshape_alloc(&s->invstd, 1, &one, err) || rp_tensor_reshape_alloc(&s->mean, 1, &one, err) ||
        rp_tensor_reshape_alloc(&s->scale, 1, &one, err) || rp_tensor_reshape_alloc(&s->shift, 1, &one, err))
        return err->status;
    return rp_bn_init(l, 0, err);
}

int rp_bn_init(rp_layer *l, uint64_t seed, rp_error *err) {
    (void)seed, (void)err;
    rp_tensor_fill(l->params[0].value, 1.0f);
    rp_tensor_zero(l->params[1].value);
    rp_tensor_zero(l->params[2].value);
    rp_tensor_fill(l->params[3].value, 1.0f);
    rp_tensor_zero(l->params[4].value);
    return RP_OK;
}

/* Eval mode: y = x * scale + shift per channel with the running statistics,
 * scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale
 * (torch.nn.BatchNorm2d eval); also what backward reads (mean, invstd). */
static void bn_eval_affine(rp_layer *l) {
    bn_state *s = l->state;
    const float *gamma = l->params[0].value->data, *beta = l->params[1].value->data;
    const float *rm = l->params[2].value->data, *rv = l->params[3].value->data;
    float *inv = s->invstd.data, *mu = s->mean.data, *sc = s->scale.data, *sh = s->shift.data;
    for (int64_t ch = 0; ch < s->c; ch++) {
        inv[ch] = (float)(1.0 / sqrt((double)rv[ch] + s->eps));
        mu[ch] = rm[ch];
        sc[ch] = inv[ch] * gamma[ch];
        sh[ch] = beta[ch] - mu[ch] * sc[ch];
    }
    s->train_fwd = 0;
}

static int bn_channel_affine(rp_layer *l, const rp_run_ctx *ctx, const float **scale, const float **shift,
                             rp_error *err) {
    if (ctx->training)
        return rp_error_set(err, RP_ERR_INVALID,
                            "layer '%s': batch norm is a per-channel affine map only in eval mode", l->name);
    bn_eval_affine(l);
    bn_state *s = l->state;
    *scale = s->scale.data;
    *shift = s->shift.data;
    return RP_OK;
}

/* y = x * sc + sh (then max(0, .) when relu) over n rows of sp floats,
 * `stride` apart: one channel of [N, C, S]. relu's own expression
 * (x > 0 ? x : 0), so the bits equal the two layers'. */
static void bn_affine_rows(const float *x, float *y, int64_t n, int64_t stride, int64_t sp, float sc,
                           float sh, int relu) {
    for (int64_t i = 0; i < n; i++) rp_row_affine(x + i * stride, y + i * stride, sp, sc, sh, relu);
}

/* Synchronised batch norm, training forward: mean and biased variance over
 * the values of every rank (torch.nn.SyncBatchNorm), in two sums over the
 * ranks: the channel sums with the count, then the squared deviations from
 * the global mean (well conditioned; same values on every rank). */
/* Training forward of channel ch from its batch statistics: the mean and
 * the sum sq of squared deviations over m values. Normalises x into y and
 * moves the running statistics, the variance unbiased as in PyTorch's
 * BatchNorm2d (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html). */
static void bn_train_channel(rp_layer *l, const rp_tensor *x, rp_tensor *y, int64_t n, int64_t c,
                             int64_t sp, int64_t ch, double mean, double sq, double m, int relu) {
    bn_state *s = l->state;
    const float *gamma = l->params[0].value->data, *beta = l->params[1].value->data;
    float *rm = l->params[2].value->data, *rv = l->params[3].value->data;
    double var = sq / m, is = 1.0 / sqrt(var + s->eps);
    s->invstd.data[ch] = (float)is;
    s->mean.data[ch] = (float)mean;
    float sc = (float)(is * gamma[ch]), sh = (float)(beta[ch] - mean * is * gamma[ch]);
    s->scale.data[ch] = sc;
    s->shift.data[ch] = sh;
    bn_affine_rows(x->data + ch * sp, y->data + ch * sp, n, c * sp, sp, sc, sh, relu);
    double mo = s->momentum;
    rm[ch] = (float)((1.0 - mo) * rm[ch] + mo * mean);
    rv[ch] = (float)((1.0 - mo) * rv[ch] + mo * sq / (m - 1));
}

static int bn_forward_sync(rp_layer *l, const rp_stat_sync *sy, const rp_tensor *x, rp_tensor *y,
                           int64_t n, int64_t c, int64_t sp, rp_error *err) {
    bn_state *s = l->state;
    double *v = calloc((size_t)c + 1, sizeof *v), *mean = calloc((size_t)c, sizeof *mean);
    if (!v || !mean) {
        free(v);
        free(mean);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        double s1 = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x->data + (i * c + ch) * sp;
            float r1 = 0;
#pragma omp simd reduction(+ : r1)
            for (int64_t j = 0; j < sp; j++) r1 += xp[j];
            s1 += r1;
        }
        v[ch] = s1;
    }
    v[c] = (double)(n * sp);
    int rc = sy->sum(sy->ctx, v, (size_t)c + 1, err);
    double m = v[c];
    if (!rc && m < 2)
        rc = rp_error_set(err, RP_ERR_INVALID,
                          "layer '%s': batch norm in training needs more than one value per "
                          "channel over the ranks (%g)", l->name, m);
    if (rc) {
        free(v);
        free(mean);
        return rc;
    }
    for (int64_t ch = 0; ch < c; ch++) mean[ch] = v[ch] / m;
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        const float fm = (float)mean[ch];
        double s2 = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x->data + (i * c + ch) * sp;
            float r2 = 0;
#pragma omp simd reduction(+ : r2)
            for (int64_t j = 0; j < sp; j++) {
                float d = xp[j] - fm;
                r2 += d * d;
            }
            s2 += r2;
        }
        v[ch] = s2;
    }
    rc = sy->sum(sy->ctx, v, (size_t)c, err);
    if (!rc) {
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
        for (int64_t ch = 0; ch < c; ch++) {
            bn_train_channel(l, x, y, n, c, sp, ch, mean[ch], v[ch], m, s->relu);
        }
        l->params[4].value->data[0] += 1.0f;
        s->train_fwd = 1;
        s->synced = 1;
        s->count = m;
    }
    free(v);
    free(mean);
    return rc;
}

/* relu's backward on the recomputed output: d where x * sc + sh > 0 */
static inline float bn_relu_grad(float d, float x, float sc, float sh) {
    float v = x * sc + sh;
    return v > 0.0f ? d : 0.0f;
}

/* Channel ch's sums over the batch and space: sum dy and sum dy * x_hat,
 * x_hat = (x - mean) * inv_std, in float per image and double across images
 * (the same order for the local and the synchronised backward). x, dy
 * [N, C, SP]. relu: dy is the gradient of max(0, x * sc + sh), masked here. */
static void bn_dy_sums(const float *dy, const float *x, int64_t n, int64_t c, int64_t sp,
                       int64_t ch, float fm, float fi, int relu, float sc, float sh,
                       double *sdy_out, double *sdyh_out) {
    double sdy = 0, sdyh = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *d = dy + (i * c + ch) * sp, *xp = x + (i * c + ch) * sp;
        float r1 = 0, r2 = 0;
        if (relu) {
#pragma omp simd reduction(+ : r1, r2)
            for (int64_t j = 0; j < sp; j++) {
                float dm = bn_relu_grad(d[j], xp[j], sc, sh);
                r1 += dm;
                r2 += dm * (xp[j] - fm);
            }
        } else {
#pragma omp simd reduction(+ : r1, r2)
            for (int64_t j = 0; j < sp; j++) {
                r1 += d[j];
                r2 += d[j] * (xp[j] - fm);
            }
        }
        sdy += r1;
        sdyh += (double)r2 * fi;
    }
    *sdy_out = sdy;
    *sdyh_out = sdyh;
}

/* dx of channel ch: k * dy + (x * q + r) (xterm: training statistics) or
 * k * dy (eval statistics), dy masked by relu's backward first when relu. */
static void bn_dx_channel(const float *dy, const float *x, float *dx, int64_t n, int64_t c,
                          int64_t sp, int64_t ch, float k, float q, float r, int xterm, int relu,
                          float sc, float sh) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t o0 = (i * c + ch) * sp;
        const float *d = dy + o0, *xp = x + o0;
        float *o = dx + o0;
        if (xterm && relu) {
#pragma omp simd
            for (int64_t j = 0; j < sp; j++) o[j] = k * bn_relu_grad(d[j], xp[j], sc, sh) + (xp[j] * q + r);
        } else if (xterm) {
#pragma omp simd
            for (int64_t j = 0; j < sp; j++) o[j] = k * d[j] + (xp[j] * q + r);
        } else if (relu) {
#pragma omp simd
            for (int64_t j = 0; j < sp; j++) o[j] = k * bn_relu_grad(d[j], xp[j], sc, sh);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < sp; j++) o[j] = k * d[j];
        }
    }
}

/* Synchronised batch norm, backward: the parameter gradients from this
 * rank's values (the data-parallel reduction adds the ranks up), dx from the
 * sums of dy and dy * xhat over all ranks. This rank's dy is its loss's
 * (1/n_r scale): the sums are brought to the global batch's scale with
 * `share` before adding and back after. */
static int bn_backward_sync(rp_layer *l, const rp_stat_sync *sy, const rp_tensor *x,
                            const rp_tensor *dy, rp_tensor *dx, int64_t n, int64_t c, int64_t sp,
                            rp_error *err) {
    bn_state *s = l->state;
    const float *gamma = l->params[0].value->data;
    float *dg = l->params[0].grad->data, *dbeta = l->params[1].grad->data;
    const float *inv = s->invstd.data, *mu = s->mean.data;
    double *v = calloc(2 * (size_t)c, sizeof *v);
    if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        double sdy = 0, sdyh = 0;
        const float fm = mu[ch], fi = inv[ch];
        bn_dy_sums(dy->data, x->data, n, c, sp, ch, fm, fi, s->relu, s->scale.data[ch],
                   s->shift.data[ch], &sdy, &sdyh);
        dg[ch] += (float)sdyh;
        dbeta[ch] += (float)sdy;
        v[ch] = sdy * sy->share;
        v[c + ch] = sdyh * sy->share;
    }
    int rc = dx ? sy->sum(sy->ctx, v, 2 * (size_t)c, err) : RP_OK;
    if (!rc && dx) {
        const double ms = s->count * sy->share;
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
        for (int64_t ch = 0; ch < c; ch++) {
            const float fm = mu[ch], fi = inv[ch];
            float k = gamma[ch] * fi;
            float a = (float)(v[ch] / ms), b = (float)(v[c + ch] / ms);
            float q = -k * b * fi, r = -k * a + k * b * fi * fm;
            bn_dx_channel(dy->data, x->data, dx->data, n, c, sp, ch, k, q, r, 1, s->relu,
                          s->scale.data[ch], s->shift.data[ch]);
        }
    }
    free(v);
    return rc;
}

int rp_bn_forward(rp_layer *l, const rp_run_ctx *ctx, const rp_tensor *x, rp_tensor *y, int64_t n,
                  int64_t c, int64_t sp, rp_error *err) {
    bn_state *s = l->state;
    s->relu = ctx->relu_out;
    if (ctx->training && rp_bn_sync_cur) return bn_forward_sync(l, rp_bn_sync_cur, x, y, n, c, sp, err);
    s->train_fwd = ctx->training;
    s->synced = 0;
    if (ctx->training) {
        int64_t m = n * sp;
        if (m < 2)
            return rp_error_set(err, RP_ERR_INVALID,
                                "layer '%s': batch norm in training needs more than one value per "
                                "channel (batch of %lld x %lld)", l->name, (long long)n, (long long)sp);
/* One pass over the input for the statistics, shifted by the channel's
 * first value K (var = E[(x-K)^2] - E[x-K]^2 is then well conditioned since
 * K is a sample, |mean - K| ~ std): rows of S floats summed in float
 * (vectorised), rows accumulated in double. */
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
        for (int64_t ch = 0; ch < c; ch++) {
            const float kk = x->data[ch * sp];
            double s1 = 0, s2 = 0;
            for (int64_t i = 0; i < n; i++) {
                const float *xp = x->data + (i * c + ch) * sp;
                float r1 = 0, r2 = 0;
#pragma omp simd reduction(+ : r1, r2)
                for (int64_t j = 0; j < sp; j++) {
                    float d = xp[j] - kk;
                    r1 += d;
                    r2 += d * d;
                }
                s1 += r1;
                s2 += r2;
            }
            double dm = s1 / (double)m, mean = (double)kk + dm;
            double sq = s2 - s1 * dm; /* sum of squared deviations */
            if (sq < 0) sq = 0;
            bn_train_channel(l, x, y, n, c, sp, ch, mean, sq, (double)m, s->relu);
        }
        l->params[4].value->data[0] += 1.0f;
    } else {
        bn_eval_affine(l);
        const float *scv = s->scale.data, *shv = s->shift.data;
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
        for (int64_t ic = 0; ic < n * c; ic++)
            bn_affine_rows(x->data + ic * sp, y->data + ic * sp, 1, sp, sp, scv[ic % c], shv[ic % c],
                           s->relu);
    }
    return RP_OK;
}

int rp_bn_backward(rp_layer *l, const rp_run_ctx *ctx, const rp_tensor *x, const rp_tensor *dy, rp_tensor *dx,
                   int64_t n, int64_t c, int64_t sp, rp_error *err) {
    (void)err;
    bn_state *s = l->state;
    if (s->synced && s->train_fwd && !ctx->input_grad_only && rp_bn_sync_cur)
        return bn_backward_sync(l, rp_bn_sync_cur, x, dy, dx, n, c, sp, err);
    const float *gamma = l->params[0].value->data;
    /* the batch sums feed dx only after a training forward */
    const int sums = !ctx->input_grad_only || s->train_fwd, pgrad = !ctx->input_grad_only;
    float *dg = l->params[0].grad->data, *dbeta = l->params[1].grad->data;
    const float *inv = s->invstd.data, *mu = s->mean.data;
    double m = (double)(n * sp);
#pragma omp parallel for schedule(static) if (n * c * sp > RP_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        double sdy = 0, sdyh = 0;
        const float fm = mu[ch], fi = inv[ch], sc = s->scale.data[ch], sh = s->shift.data[ch];
        if (sums) bn_dy_sums(dy->data, x->data, n, c, sp, ch, fm, fi, s->relu, sc, sh, &sdy, &sdyh);
        if (pgrad) {
            dg[ch] += (float)sdyh;
            dbeta[ch] += (float)sdy;
        }
        if (!dx) continue;
        float k = gamma[ch] * inv[ch];
        /* training statistics: dx = gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat))
         * = k*dy - k*a - k*b*fi*(x - fm) = k*dy + (x*q + r); eval: k*dy */
        float a = (float)(sdy / m), b = (float)(sdyh / m);
        float q = -k * b * fi, r = -k * a + k * b * fi * fm;
        bn_dx_channel(dy->data, x->data, dx->data, n, c, sp, ch, k, q, r, s->train_fwd, s->relu, sc, sh);
    }
    return RP_OK;
}

void rp_bn_destroy(rp_layer *l) {
    bn_state *s = l->state;
    if (!s) return;
    rp_tensor_release(&s->mean);
    rp_tensor_release(&s->invstd);
    rp_tensor_release(&s->scale);
    rp_tensor_release(&s->shift);
    free(s);
    l->state = NULL;
}

static int bn2_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return rp_bn_create(l, opts, in[0]->shape[1], err);
}

static int bn2_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)n_in;
    const rp_tensor *x = in[0];
    return rp_bn_forward(l, ctx, x, out, x->shape[0], x->shape[1], x->shape[2] * x->shape[3], err);
}

static int bn2_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)n_in, (void)out;
    const rp_tensor *x = in[0];
    return rp_bn_backward(l, ctx, x, dout, din[0], x->shape[0], x->shape[1], x->shape[2] * x->shape[3],
                          err);
}

static const struct rp_layer_ops batchnorm2d_ops = {
    .create = bn2_create,
    .forward = bn2_forward,
    .backward = bn2_backward,
    .destroy = rp_bn_destroy,
    .example_opts = "{}",
    .example_inputs = "[3,4,3,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .init = rp_bn_init,
    .flags = RP_LAYER_OUT_UNUSED | RP_LAYER_TRAIN_RELU,
    .channel_affine = bn_channel_affine,
};
RP_COMPONENT(RP_COMP_LAYER, "batchnorm2d", "batch normalisation over [N, C, H, W] (torch.nn.BatchNorm2d)",
            batchnorm2d_ops)
