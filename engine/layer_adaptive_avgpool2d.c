/* adaptive_avgpool2d: torch.nn.AdaptiveAvgPool2d(output_size). Output cell i
 * averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)) (same for columns). */
#include <stdlib.h>

#include "layer.h"

typedef struct aap_state {
    int64_t o[2];
} aap_state;

static int aap_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    aap_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    if (rp_opt_pair(l, opts, "output_size", 1, 1, s->o, err)) return err->status;
    *out_ndim = 4;
    out_shape[0] = in[0]->shape[0], out_shape[1] = in[0]->shape[1];
    out_shape[2] = s->o[0], out_shape[3] = s->o[1];
    return RP_OK;
}

#define START(i, in, out) (((i) * (in)) / (out))
#define END(i, in, out) ((((i) + 1) * (in) + (out) - 1) / (out))

static int aap_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = out->shape[2], ow = out->shape[3];
#pragma omp parallel for schedule(static) if (nc * h * w > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        const float *xp = x->data + i * h * w;
        float *yp = out->data + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0 = START(oy, h, oh), y1 = END(oy, h, oh);
                int64_t x0 = START(ox, w, ow), x1 = END(ox, w, ow);
                float acc = 0;
                for (int64_t yy = y0; yy < y1; yy++)
                    for (int64_t xx = x0; xx < x1; xx++) acc += xp[yy * w + xx];
                yp[oy * ow + ox] = acc / (float)((y1 - y0) * (x1 - x0));
            }
    }
    return RP_OK;
}

static int aap_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    if (!din[0]) return RP_OK;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = out->shape[2], ow = out->shape[3];
    rp_tensor_zero(din[0]);
#pragma omp parallel for schedule(static) if (nc * h * w > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        float *dx = din[0]->data + i * h * w;
        const float *d = dout->data + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0 = START(oy, h, oh), y1 = END(oy, h, oh);
                int64_t x0 = START(ox, w, ow), x1 = END(ox, w, ow);
                float g = d[oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int64_t yy = y0; yy < y1; yy++)
                    for (int64_t xx = x0; xx < x1; xx++) dx[yy * w + xx] += g;
            }
    }
    return RP_OK;
}

static void aap_destroy(rp_layer *l) {
    free(l->state);
    l->state = NULL;
}

static const struct rp_layer_ops adaptive_avgpool2d_ops = {
    .create = aap_create,
    .forward = aap_forward,
    .backward = aap_backward,
    .destroy = aap_destroy,
    .example_opts = "{output_size: [2, 3]}",
    .example_inputs = "[2,3,5,7]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_REGISTER(RP_COMP_LAYER, "adaptive_avgpool2d", "adaptive average pooling to a fixed size (torch.nn.AdaptiveAvgPool2d)",
            adaptive_avgpool2d_ops)
