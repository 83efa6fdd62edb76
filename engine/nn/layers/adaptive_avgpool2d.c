/* adaptive_avgpool2d: torch.nn.AdaptiveAvgPool2d(output_size). Output cell i
 * averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)) (same for columns);
 * the kernels are avgpool2d's (rp_avgpool_forward / _backward). */
#include "nn/layer.h"

static const rp_pool_window adaptive = {.adaptive = 1};

static int aap_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    int64_t o[2];
    if (rp_opt_pair(l, opts, "output_size", o, err)) return err->status;
    *out_ndim = 4;
    out_shape[0] = in[0]->shape[0], out_shape[1] = in[0]->shape[1];
    out_shape[2] = o[0], out_shape[3] = o[1];
    return RP_OK;
}

static int aap_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    rp_avgpool_forward(&adaptive, in[0], out);
    return RP_OK;
}

static int aap_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l, (void)in, (void)out;
    if (din[0]) rp_avgpool_backward(&adaptive, dout, din[0]);
    return RP_OK;
}

static const struct rp_layer_ops adaptive_avgpool2d_ops = {
    .create = aap_create,
    .forward = aap_forward,
    .backward = aap_backward,
    .example_opts = "{output_size: [2, 3]}",
    .example_inputs = "[2,3,5,7]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "adaptive_avgpool2d", "adaptive average pooling to a fixed size (torch.nn.AdaptiveAvgPool2d)",
            adaptive_avgpool2d_ops)
