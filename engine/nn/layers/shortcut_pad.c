/* shortcut_pad: the parameter-free "option A" shortcut of He et al. 2016
 * §4.2 (CIFAR ResNets): subsample by `stride` (x[:, :, ::s, ::s]) and pad the
 * channels with zeros up to `out` — (out - in)/2 in front, the rest behind,
 * as F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes//4, planes//4)) does. */
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"

typedef struct sp_state {
    int64_t stride, out, front;
} sp_state;

static int sp_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    sp_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    s->stride = rp_param_int(opts, "stride");
    s->out = rp_param_int(opts, "out");
    int64_t c = in[0]->shape[1];
    if (s->stride < 1 || s->out < c)
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': needs stride >= 1 and out >= input channels (%lld)",
                           l->name, (long long)c);
    s->front = (s->out - c) / 2;
    *out_ndim = 4;
    out_shape[0] = in[0]->shape[0], out_shape[1] = s->out;
    out_shape[2] = (in[0]->shape[2] + s->stride - 1) / s->stride;
    out_shape[3] = (in[0]->shape[3] + s->stride - 1) / s->stride;
    return RP_OK;
}

static int sp_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err;
    sp_state *s = l->state;
    const rp_tensor *x = in[0];
    int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oc = out->shape[1], oh = out->shape[2], ow = out->shape[3];
    rp_tensor_zero(out);
#pragma omp parallel for schedule(static) if (n * c * oh * ow > RP_PAR_MIN)
    for (int64_t i = 0; i < n * c; i++) {
        int64_t b = i / c, ch = i % c;
        const float *xp = x->data + i * h * w;
        float *yp = out->data + (b * oc + ch + s->front) * oh * ow;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++) yp[y * ow + xx] = xp[y * s->stride * w + xx * s->stride];
    }
    return RP_OK;
}

static int sp_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)ctx, (void)n_in, (void)err;
    if (!din[0]) return RP_OK;
    sp_state *s = l->state;
    const rp_tensor *x = in[0];
    int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oc = out->shape[1], oh = out->shape[2], ow = out->shape[3];
    rp_tensor_zero(din[0]);
#pragma omp parallel for schedule(static) if (n * c * oh * ow > RP_PAR_MIN)
    for (int64_t i = 0; i < n * c; i++) {
        int64_t b = i / c, ch = i % c;
        float *dx = din[0]->data + i * h * w;
        const float *d = dout->data + (b * oc + ch + s->front) * oh * ow;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++) dx[y * s->stride * w + xx * s->stride] = d[y * ow + xx];
    }
    return RP_OK;
}

static const struct rp_layer_ops shortcut_pad_ops = {
    .create = sp_create,
    .forward = sp_forward,
    .backward = sp_backward,
    .destroy = rp_layer_free_state,
    .example_opts = "{stride: 2, out: 6}",
    .example_inputs = "[2,3,5,4]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "shortcut_pad", "option-A ResNet shortcut: subsample and zero-pad channels",
            shortcut_pad_ops)
