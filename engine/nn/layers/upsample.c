/* upsample: torch.nn.Upsample(scale_factor, mode) for integer scale factors.
 * nearest: src = floor(dst / s). bilinear (align_corners=False):
 * src = max(0, (dst + 0.5)/s - 0.5), i0 = floor(src), i1 = min(i0 + 1, in - 1),
 * weights (1 - frac, frac) — PyTorch's area_pixel_compute_source_index. */
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"

typedef struct up_state {
    int64_t s[2];
    int bilinear;
} up_state;

static int up_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    up_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    if (rp_opt_pair(l, opts, "scale", s->s, err)) return err->status;
    const char *mode = rp_param_str(opts, "mode");
    if (strcmp(mode, "nearest") == 0)
        s->bilinear = 0;
    else if (strcmp(mode, "bilinear") == 0)
        s->bilinear = 1;
    else
        return rp_error_at(err, opts, RP_ERR_INVALID,
                           "layer '%s': mode must be 'nearest' or 'bilinear', got '%s'", l->name, mode);
    *out_ndim = 4;
    out_shape[0] = in[0]->shape[0], out_shape[1] = in[0]->shape[1];
    out_shape[2] = in[0]->shape[2] * s->s[0], out_shape[3] = in[0]->shape[3] * s->s[1];
    return RP_OK;
}

/* Source index pair and weight of the second for output coordinate o. */
static void src_lin(int64_t o, int64_t scale, int64_t in, int64_t *i0, int64_t *i1, float *f) {
    float r = 1.0f / (float)scale;
    float src = ((float)o + 0.5f) * r - 0.5f;
    if (src < 0) src = 0;
    int64_t a = (int64_t)src;
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a < in - 1 ? a + 1 : a;
    *f = src - (float)a;
}

static int up_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err;
    up_state *s = l->state;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = out->shape[2], ow = out->shape[3];
#pragma omp parallel for schedule(static) if (nc * oh * ow > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        const float *xp = x->data + i * h * w;
        float *yp = out->data + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            if (!s->bilinear) {
                const float *row = xp + (oy / s->s[0]) * w;
                for (int64_t ox = 0; ox < ow; ox++) yp[oy * ow + ox] = row[ox / s->s[1]];
                continue;
            }
            int64_t y0, y1, x0, x1;
            float fy, fx;
            src_lin(oy, s->s[0], h, &y0, &y1, &fy);
            for (int64_t ox = 0; ox < ow; ox++) {
                src_lin(ox, s->s[1], w, &x0, &x1, &fx);
                yp[oy * ow + ox] = (1 - fy) * ((1 - fx) * xp[y0 * w + x0] + fx * xp[y0 * w + x1]) +
                                   fy * ((1 - fx) * xp[y1 * w + x0] + fx * xp[y1 * w + x1]);
            }
        }
    }
    return RP_OK;
}

static int up_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)ctx, (void)n_in, (void)err;
    if (!din[0]) return RP_OK;
    up_state *s = l->state;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = out->shape[2], ow = out->shape[3];
    rp_tensor_zero(din[0]);
#pragma omp parallel for schedule(static) if (nc * oh * ow > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        float *dx = din[0]->data + i * h * w;
        const float *d = dout->data + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            if (!s->bilinear) {
                float *row = dx + (oy / s->s[0]) * w;
                for (int64_t ox = 0; ox < ow; ox++) row[ox / s->s[1]] += d[oy * ow + ox];
                continue;
            }
            int64_t y0, y1, x0, x1;
            float fy, fx;
            src_lin(oy, s->s[0], h, &y0, &y1, &fy);
            for (int64_t ox = 0; ox < ow; ox++) {
                src_lin(ox, s->s[1], w, &x0, &x1, &fx);
                float g = d[oy * ow + ox];
                dx[y0 * w + x0] += (1 - fy) * (1 - fx) * g;
                dx[y0 * w + x1] += (1 - fy) * fx * g;
                dx[y1 * w + x0] += fy * (1 - fx) * g;
                dx[y1 * w + x1] += fy * fx * g;
            }
        }
    }
    return RP_OK;
}

static const struct rp_layer_ops upsample_ops = {
    .create = up_create,
    .forward = up_forward,
    .backward = up_backward,
    .destroy = rp_layer_free_state,
    .example_opts = "{scale: [2, 3], mode: bilinear}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "upsample", "nearest / bilinear up-sampling by an integer factor (torch.nn.Upsample)",
            upsample_ops)
