/* conv_transpose2d: torch.nn.ConvTranspose2d. Weight [C_in, C_out, KH, KW]
 * (PyTorch's layout), bias [C_out].
 * OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1.
 * The forward pass is the data-gradient of a conv2d whose input is our output
 * (geometry g: input [N, C_out, OH, OW], weight [C_in, C_out, KH, KW],
 * output [N, C_in, H, W]); the backward pass is that conv's forward. */
#include <stdlib.h>

#include "nn/conv/conv.h"
#include "nn/layer.h"

typedef struct convt_state {
    rp_conv_geom g;
    int bias;
} convt_state;

static int ct_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    convt_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    int64_t k[2], st[2], p[2], op[2], d[2];
    int64_t out = rp_param_int(opts, "out");
    if (out < 1) return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': 'out' must be >= 1", l->name);
    if (rp_opt_pair(l, opts, "kernel", k, err) || rp_opt_pair(l, opts, "stride", st, err) ||
        rp_opt_pair(l, opts, "padding", p, err) ||
        rp_opt_pair(l, opts, "output_padding", op, err) ||
        rp_opt_pair(l, opts, "dilation", d, err))
        return err->status;
    for (int i = 0; i < 2; i++)
        if (op[i] >= st[i] && op[i] >= d[i])
            return rp_error_at(err, opts, RP_ERR_INVALID,
                               "layer '%s': output_padding must be smaller than stride or dilation",
                               l->name);
    s->bias = rp_param_bool(opts, "bias");
    int64_t n = in[0]->shape[0], cin = in[0]->shape[1], h = in[0]->shape[2], w = in[0]->shape[3];
    int64_t oh = (h - 1) * st[0] - 2 * p[0] + d[0] * (k[0] - 1) + op[0] + 1;
    int64_t ow = (w - 1) * st[1] - 2 * p[1] + d[1] * (k[1] - 1) + op[1] + 1;
    if (oh < 1 || ow < 1)
        return rp_error_set(err, RP_ERR_INVALID, "layer '%s': output would be empty (%lldx%lld)",
                            l->name, (long long)oh, (long long)ow);
    rp_conv_geom *g = &s->g;
    g->n = n, g->c = out, g->h = oh, g->w = ow, g->k = cin, g->kh = k[0], g->kw = k[1];
    g->sh = st[0], g->sw = st[1], g->ph = p[0], g->pw = p[1], g->dh = d[0], g->dw = d[1];
    if (!rp_conv_geom_finish(g) || g->oh != h || g->ow != w)
        return rp_error_set(err, RP_ERR_INTERNAL, "layer '%s': inconsistent transposed geometry",
                            l->name);
    int64_t ws[4] = {cin, out, k[0], k[1]};
    if (!rp_layer_add_param(l, "weight", 4, ws, 0, err)) return err->status;
    if (s->bias && !rp_layer_add_param(l, "bias", 1, &out, 0, err)) return err->status;
    *out_ndim = 4;
    out_shape[0] = n, out_shape[1] = out, out_shape[2] = oh, out_shape[3] = ow;
    return RP_OK;
}

static int ct_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in;
    convt_state *s = l->state;
    float *ws = rp_conv_prepare(&s->g, in[0]->shape[0], err);
    if (!ws) return err->status;
    /* out [N, C_out, OH, OW] = conv-data-gradient of in [N, C_in, H, W] */
    rp_conv2d_backward_data(&s->g, in[0]->data, l->params[0].value->data, out->data, ws);
    if (s->bias) {
        const float *b = l->params[1].value->data;
        int64_t nc = s->g.n * s->g.c, hw = s->g.h * s->g.w, c = s->g.c;
#pragma omp parallel for schedule(static) if (nc * hw > RP_PAR_MIN)
        for (int64_t i = 0; i < nc; i++) {
            float bv = b[i % c], *o = out->data + i * hw;
            for (int64_t j = 0; j < hw; j++) o[j] += bv;
        }
    }
    return RP_OK;
}

static int ct_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)n_in, (void)out;
    convt_state *s = l->state;
    float *ws = rp_conv_prepare(&s->g, in[0]->shape[0], err);
    if (!ws) return err->status;
    rp_param *w = &l->params[0], *b = s->bias ? &l->params[1] : NULL;
    if (w->trainable && !ctx->input_grad_only)
        rp_conv2d_backward_weight(&s->g, dout->data, in[0]->data, w->grad->data, NULL, ws);
    if (b && !ctx->input_grad_only) {
        int64_t n = s->g.n, c = s->g.c, hw = s->g.h * s->g.w;
        float *db = b->grad->data;
        for (int64_t ch = 0; ch < c; ch++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) {
                const float *d = dout->data + (i * c + ch) * hw;
                for (int64_t j = 0; j < hw; j++) acc += d[j];
            }
            db[ch] += (float)acc;
        }
    }
    if (din[0]) rp_conv2d_forward(&s->g, dout->data, w->value->data, NULL, din[0]->data, ws);
    return RP_OK;
}

static int ct_init(rp_layer *l, uint64_t seed, rp_error *err) {
    /* torch computes fan_in from weight.size(1) * KH * KW = C_out * KH * KW. */
    convt_state *s = l->state;
    return rp_init_default_wb(l, s->g.c * s->g.kh * s->g.kw, seed, err);
}

static void ct_destroy(rp_layer *l) {
    convt_state *s = l->state;
    if (!s) return;
    free(s);
    l->state = NULL;
}

static const struct rp_layer_ops conv_transpose2d_ops = {
    .create = ct_create,
    .forward = ct_forward,
    .backward = ct_backward,
    .destroy = ct_destroy,
    .example_opts = "{out: 3, kernel: 3, stride: 2, padding: 1, output_padding: 1}",
    .example_inputs = "[2,4,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .init = ct_init,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "conv_transpose2d", "transposed 2-D convolution (torch.nn.ConvTranspose2d)",
            conv_transpose2d_ops)
