/* batchnorm1d: torch.nn.BatchNorm1d over [N, C] or [N, C, L] (statistics per
 * channel over N and L). Kernels shared with batchnorm2d (layer.h). */
#include "nn/layer.h"

static int64_t spatial(const rp_tensor *x) { return x->ndim == 3 ? x->shape[2] : 1; }

static int bn1_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (in[0]->ndim != 2 && in[0]->ndim != 3) return rp_layer_need_ndim(l, 0, in[0], 2, err);
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return rp_bn_create(l, opts, in[0]->shape[1], err);
}

static int bn1_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)n_in;
    return rp_bn_forward(l, ctx, in[0], out, in[0]->shape[0], in[0]->shape[1], spatial(in[0]), err);
}

static int bn1_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)n_in, (void)out;
    return rp_bn_backward(l, ctx, in[0], dout, din[0], in[0]->shape[0], in[0]->shape[1], spatial(in[0]),
                          err);
}

static const struct rp_layer_ops batchnorm1d_ops = {
    .create = bn1_create,
    .forward = bn1_forward,
    .backward = bn1_backward,
    .destroy = rp_bn_destroy,
    .example_opts = "{momentum: 0.2}",
    .example_inputs = "[5,4]",
    .min_inputs = 1,
    .max_inputs = 1,
    .init = rp_bn_init,
    .flags = RP_LAYER_OUT_UNUSED | RP_LAYER_TRAIN_RELU,
};
RP_COMPONENT(RP_COMP_LAYER, "batchnorm1d", "batch normalisation over [N, C] or [N, C, L] (torch.nn.BatchNorm1d)",
            batchnorm1d_ops)
