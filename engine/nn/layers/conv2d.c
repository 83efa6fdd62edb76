/* conv2d: torch.nn.Conv2d (cross-correlation, zero padding, dilation).
 * in_channels comes from the input shape. Weight [K, C, KH, KW], bias [K].
 * Kernels: engine/nn/conv/conv.c. */
#include <stdlib.h>

#include "nn/conv/conv.h"
#include "nn/layer.h"

typedef struct conv_state {
    rp_conv_geom g; /* n filled per batch */
    int bias;
} conv_state;

static int conv_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                       int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    conv_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    int64_t k[2], st[2], p[2], d[2];
    int64_t out = rp_param_int(opts, "out");
    if (out < 1)
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': 'out' must be >= 1", l->name);
    if (rp_opt_pair(l, opts, "kernel", k, err) || rp_opt_pair(l, opts, "stride", st, err) ||
        rp_opt_pair(l, opts, "padding", p, err) || rp_opt_pair(l, opts, "dilation", d, err))
        return err->status;
    s->bias = rp_param_bool(opts, "bias");
    rp_conv_geom *g = &s->g;
    g->n = in[0]->shape[0];
    g->c = in[0]->shape[1];
    g->h = in[0]->shape[2];
    g->w = in[0]->shape[3];
    g->k = out;
    g->kh = k[0], g->kw = k[1], g->sh = st[0], g->sw = st[1];
    g->ph = p[0], g->pw = p[1], g->dh = d[0], g->dw = d[1];
    if (!rp_conv_geom_finish(g)) {
        char b[128];
        return rp_error_set(
            err, RP_ERR_INVALID,
            "layer '%s': kernel %lldx%lld (dilation %lld) does not fit input %s with padding %lld",
            l->name, (long long)k[0], (long long)k[1], (long long)d[0],
            rp_shape_str(4, in[0]->shape, b, sizeof b), (long long)p[0]);
    }
    int64_t ws[4] = {out, g->c, k[0], k[1]};
    if (!rp_layer_add_param(l, "weight", 4, ws, 0, err)) return err->status;
    if (s->bias && !rp_layer_add_param(l, "bias", 1, &out, 0, err)) return err->status;
    *out_ndim = 4;
    out_shape[0] = g->n, out_shape[1] = out, out_shape[2] = g->oh, out_shape[3] = g->ow;
    return RP_OK;
}

static int conv_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        rp_tensor *out, rp_error *err) {
    (void)n_in;
    conv_state *s = l->state;
    float *ws = rp_conv_prepare(&s->g, in[0]->shape[0], err);
    if (!ws) return err->status;
    const rp_conv_epilogue cep = {.winograd = !ctx->training || ctx->winograd};
    rp_conv2d_forward_ep(&s->g, in[0]->data, l->params[0].value->data,
                         s->bias ? l->params[1].value->data : NULL, out->data, ws, &cep);
    return RP_OK;
}

/* Eval-mode fusion: the forward with a per-channel scale / shift, a residual
 * and ReLU applied to each output (act(scale[k] * (conv + b[k]) + shift[k] +
 * residual)). */
static int conv_forward_ep(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                           rp_tensor *out, const rp_layer_epilogue *ep, rp_error *err) {
    (void)n_in;
    conv_state *s = l->state;
    float *ws = rp_conv_prepare(&s->g, in[0]->shape[0], err);
    if (!ws) return err->status;
    const rp_conv_epilogue cep = {.scale = ep->scale,
                                  .shift = ep->shift,
                                  .residual = ep->residual,
                                  .relu = ep->relu,
                                  .winograd = !ctx->training || ctx->winograd};
    rp_conv2d_forward_ep(&s->g, in[0]->data, l->params[0].value->data,
                         s->bias ? l->params[1].value->data : NULL, out->data, ws, &cep);
    return RP_OK;
}

static int conv_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                         const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                         rp_error *err) {
    (void)n_in, (void)out;
    conv_state *s = l->state;
    float *ws = rp_conv_prepare(&s->g, in[0]->shape[0], err);
    if (!ws) return err->status;
    rp_param *w = &l->params[0], *b = s->bias ? &l->params[1] : NULL;
    if (!ctx->input_grad_only && (w->trainable || (b && b->trainable)))
        rp_conv2d_backward_weight_w(&s->g, in[0]->data, dout->data, w->grad->data,
                                    b ? b->grad->data : NULL, ws, ctx->winograd);
    if (din[0])
        rp_conv2d_backward_data_w(&s->g, dout->data, w->value->data, din[0]->data, ws,
                                  ctx->winograd);
    return RP_OK;
}

static int conv_init(rp_layer *l, uint64_t seed, rp_error *err) {
    conv_state *s = l->state;
    return rp_init_default_wb(l, s->g.c * s->g.kh * s->g.kw, seed, err);
}

static void conv_destroy(rp_layer *l) {
    conv_state *s = l->state;
    if (!s) return;
    free(s);
    l->state = NULL;
}

static const struct rp_layer_ops conv2d_ops = {
    .create = conv_create,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
    .example_opts = "{out: 4, kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [1, 2]}",
    .example_inputs = "[2,3,7,6]",
    .min_inputs = 1,
    .max_inputs = 1,
    .init = conv_init,
    .flags = RP_LAYER_OUT_UNUSED | RP_LAYER_EP_AFFINE | RP_LAYER_EP_RELU | RP_LAYER_EP_RESIDUAL,
    .forward_ep = conv_forward_ep,
};
RP_COMPONENT(RP_COMP_LAYER, "conv2d", "2-D convolution (torch.nn.Conv2d)", conv2d_ops)
