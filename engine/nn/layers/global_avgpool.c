/* global_avgpool: mean over H and W, [N, C, H, W] → [N, C]
 * (AdaptiveAvgPool2d(1) followed by flatten). */
#include "nn/layer.h"

static int gap_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in, (void)opts;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    *out_ndim = 2;
    out_shape[0] = in[0]->shape[0], out_shape[1] = in[0]->shape[1];
    return RP_OK;
}

static int gap_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
#pragma omp parallel for schedule(static) if (nc * hw > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        const float *xp = x->data + i * hw;
        float acc = 0;
        for (int64_t j = 0; j < hw; j++) acc += xp[j];
        out->data[i] = acc / (float)hw;
    }
    return RP_OK;
}

static int gap_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l, (void)out;
    if (!din[0]) return RP_OK;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
#pragma omp parallel for schedule(static) if (nc * hw > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        float g = dout->data[i] / (float)hw, *dx = din[0]->data + i * hw;
        for (int64_t j = 0; j < hw; j++) dx[j] = g;
    }
    return RP_OK;
}

static const struct rp_layer_ops global_avgpool_ops = {
    .create = gap_create,
    .forward = gap_forward,
    .backward = gap_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "global_avgpool", "mean over H and W: [N, C, H, W] -> [N, C]", global_avgpool_ops)
