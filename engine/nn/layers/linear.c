/* linear: torch.nn.Linear, y = x W^T + b. in_features from the input
 * [N, F]; weight [out, F], bias [out]. Forward through the convolution
 * kernels, backward GEMMs through cblas_sgemm. */
#include <cblas.h>
#include <stdlib.h>

#include "nn/conv/conv.h"
#include "nn/layer.h"

typedef struct lin_state {
    int64_t in, out;
    int bias;
} lin_state;

static int lin_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 2, err)) return err->status;
    lin_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    s->in = in[0]->shape[1];
    s->out = rp_param_int(opts, "out");
    s->bias = rp_param_bool(opts, "bias");
    if (s->out < 1) return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': 'out' must be >= 1", l->name);
    int64_t ws[2] = {s->out, s->in};
    if (!rp_layer_add_param(l, "weight", 2, ws, 0, err)) return err->status;
    if (s->bias && !rp_layer_add_param(l, "bias", 1, &s->out, 0, err)) return err->status;
    *out_ndim = 2;
    out_shape[0] = in[0]->shape[0], out_shape[1] = s->out;
    return RP_OK;
}

/* Forward as a 1x1 convolution over [N, in, 1, 1] (engine/nn/conv/conv.c, OpenMP
 * threads): OpenBLAS's worker threads would otherwise spin after each call
 * and take the cores from the convolutions that follow. */
static int lin_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in;
    lin_state *s = l->state;
    rp_conv_geom g = {.n = 1, .c = s->in, .h = 1, .w = 1, .k = s->out, .kh = 1,
                      .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1};
    rp_conv_geom_finish(&g);
    float *ws = rp_conv_prepare(&g, in[0]->shape[0], err);
    if (!ws) return err->status;
    /* y[N, out] = x[N, in] . W[out, in]^T + b */
    rp_conv2d_forward(&g, in[0]->data, l->params[0].value->data,
                      s->bias ? l->params[1].value->data : NULL, out->data, ws);
    return RP_OK;
}

/* rp_conv_force_thread_split: one row block per thread (results depend on
 * the thread count unless OpenBLAS computes each row the same whatever M). */
static void sgemm_rows(int ta, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                       const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    const int64_t t = m >= 2 * rp_get_threads() ? rp_get_threads() : 1;
#pragma omp parallel for schedule(static) num_threads((int)t) if (t > 1)
    for (int64_t i = 0; i < t; i++) {
        const int64_t r0 = m * i / t, r1 = m * (i + 1) / t;
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)(r1 - r0),
                    (int)n, (int)k, 1.0f, ta ? a + r0 : a + r0 * lda, (int)lda, b, (int)ldb, beta,
                    c + r0 * ldc, (int)ldc);
    }
}

static void sgemm_blocks(int ta, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (rp_conv_thread_split())
        sgemm_rows(ta, m, n, k, a, lda, b, ldb, beta, c, ldc);
    else
        rp_sgemm_cols(ta, 0, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

static int lin_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)n_in, (void)err, (void)out;
    lin_state *s = l->state;
    int64_t n = in[0]->shape[0];
    rp_param *w = &l->params[0];
    if (w->trainable && !ctx->input_grad_only) /* dW[out, in] += dy[N, out]^T . x[N, in] */
        sgemm_blocks(1, s->out, s->in, n, dout->data, s->out, in[0]->data, s->in, 1.0f,
                     w->grad->data, s->in);
    if (s->bias && !ctx->input_grad_only) {
        float *db = l->params[1].grad->data;
        for (int64_t j = 0; j < s->out; j++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) acc += dout->data[i * s->out + j];
            db[j] += (float)acc;
        }
    }
    if (din[0]) /* dx[N, in] = dy[N, out] . W[out, in] */
        sgemm_blocks(0, n, s->in, s->out, dout->data, s->out, w->value->data, s->in, 0.0f,
                     din[0]->data, s->in);
    return RP_OK;
}

static int lin_init(rp_layer *l, uint64_t seed, rp_error *err) {
    lin_state *s = l->state;
    return rp_init_default_wb(l, s->in, seed, err);
}

static const struct rp_layer_ops linear_ops = {
    .create = lin_create,
    .forward = lin_forward,
    .backward = lin_backward,
    .destroy = rp_layer_free_state,
    .example_opts = "{out: 5}",
    .example_inputs = "[3,7]",
    .min_inputs = 1,
    .max_inputs = 1,
    .init = lin_init,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "linear", "fully connected layer (torch.nn.Linear)", linear_ops)
