/* avgpool2d: torch.nn.AvgPool2d (kernel, stride = kernel by default, zero
 * padding, ceil_mode false). count_include_pad true divides by KH*KW; false
 * divides by the number of input pixels in the window. The pooling kernels
 * (rp_avgpool_forward / _backward) also serve adaptive_avgpool2d. */
#include <stdlib.h>

#include "nn/layer.h"

static int ap_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    rp_pool_window *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    if (rp_opt_pair(l, opts, "kernel", s->k, err) || rp_opt_pair(l, opts, "stride", s->s, err) ||
        rp_opt_pair(l, opts, "padding", s->p, err))
        return err->status;
    if (s->s[0] == 0) s->s[0] = s->k[0];
    if (s->s[1] == 0) s->s[1] = s->k[1];
    s->include_pad = rp_param_bool(opts, "count_include_pad");
    if (2 * s->p[0] > s->k[0] || 2 * s->p[1] > s->k[1])
        return rp_error_at(err, opts, RP_ERR_INVALID,
                           "layer '%s': padding must be at most half the kernel size", l->name);
    if (in[0]->shape[2] + 2 * s->p[0] < s->k[0] || in[0]->shape[3] + 2 * s->p[1] < s->k[1])
        return rp_error_set(err, RP_ERR_INVALID, "layer '%s': pooling window larger than the input",
                            l->name);
    *out_ndim = 4;
    out_shape[0] = in[0]->shape[0], out_shape[1] = in[0]->shape[1];
    out_shape[2] = (in[0]->shape[2] + 2 * s->p[0] - s->k[0]) / s->s[0] + 1;
    out_shape[3] = (in[0]->shape[3] + 2 * s->p[1] - s->k[1]) / s->s[1] + 1;
    return RP_OK;
}

/* Window [y0, y1) x [x0, x1) of output cell (oy, ox) and its divisor. */
static void window(const rp_pool_window *s, int64_t oy, int64_t ox, int64_t h, int64_t w, int64_t oh,
                   int64_t ow, int64_t *y0, int64_t *y1, int64_t *x0, int64_t *x1, float *div) {
    if (s->adaptive) {
        *y0 = (oy * h) / oh, *y1 = ((oy + 1) * h + oh - 1) / oh;
        *x0 = (ox * w) / ow, *x1 = ((ox + 1) * w + ow - 1) / ow;
        *div = (float)((*y1 - *y0) * (*x1 - *x0));
        return;
    }
    int64_t a = oy * s->s[0] - s->p[0], b = ox * s->s[1] - s->p[1];
    int64_t ae = a + s->k[0], be = b + s->k[1];
    *y0 = a < 0 ? 0 : a, *x0 = b < 0 ? 0 : b;
    *y1 = ae > h ? h : ae, *x1 = be > w ? w : be;
    *div = s->include_pad ? (float)(s->k[0] * s->k[1]) : (float)((*y1 - *y0) * (*x1 - *x0));
}

void rp_avgpool_forward(const rp_pool_window *s, const rp_tensor *x, rp_tensor *out) {
    int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = out->shape[2], ow = out->shape[3];
#pragma omp parallel for schedule(static) if (nc * h * w > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        const float *xp = x->data + i * h * w;
        float *yp = out->data + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0, y1, x0, x1;
                float div;
                window(s, oy, ox, h, w, oh, ow, &y0, &y1, &x0, &x1, &div);
                float acc = 0;
                for (int64_t yy = y0; yy < y1; yy++)
                    for (int64_t xx = x0; xx < x1; xx++) acc += xp[yy * w + xx];
                yp[oy * ow + ox] = acc / div;
            }
    }
}

void rp_avgpool_backward(const rp_pool_window *s, const rp_tensor *dout, rp_tensor *din) {
    int64_t nc = din->shape[0] * din->shape[1], h = din->shape[2], w = din->shape[3];
    int64_t oh = dout->shape[2], ow = dout->shape[3];
    rp_tensor_zero(din);
#pragma omp parallel for schedule(static) if (nc * h * w > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        float *dx = din->data + i * h * w;
        const float *d = dout->data + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0, y1, x0, x1;
                float div;
                window(s, oy, ox, h, w, oh, ow, &y0, &y1, &x0, &x1, &div);
                float g = d[oy * ow + ox] / div;
                for (int64_t yy = y0; yy < y1; yy++)
                    for (int64_t xx = x0; xx < x1; xx++) dx[yy * w + xx] += g;
            }
    }
}

static int ap_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err;
    rp_avgpool_forward(l->state, in[0], out);
    return RP_OK;
}

static int ap_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)in, (void)out;
    if (din[0]) rp_avgpool_backward(l->state, dout, din[0]);
    return RP_OK;
}

static const struct rp_layer_ops avgpool2d_ops = {
    .create = ap_create,
    .forward = ap_forward,
    .backward = ap_backward,
    .destroy = rp_layer_free_state,
    .example_opts = "{kernel: 3, stride: 2, padding: 1, count_include_pad: false}",
    .example_inputs = "[2,3,7,6]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "avgpool2d", "2-D average pooling (torch.nn.AvgPool2d)", avgpool2d_ops)
