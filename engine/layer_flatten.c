/* flatten: [N, d1, d2, ...] → [N, d1*d2*...] (torch.nn.Flatten). */
#include <string.h>

#include "layer.h"

static int fl_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in, (void)opts, (void)l, (void)err;
    int64_t f = 1;
    for (int i = 1; i < in[0]->ndim; i++) f *= in[0]->shape[i];
    *out_ndim = 2;
    out_shape[0] = in[0]->shape[0], out_shape[1] = f;
    return RP_OK;
}

static int fl_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    memcpy(out->data, in[0]->data, in[0]->numel * sizeof(float));
    return RP_OK;
}

static int fl_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l, (void)out;
    if (din[0]) memcpy(din[0]->data, dout->data, in[0]->numel * sizeof(float));
    return RP_OK;
}

static const struct rp_layer_ops flatten_ops = {
    .create = fl_create,
    .forward = fl_forward,
    .backward = fl_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_REGISTER(RP_COMP_LAYER, "flatten", "[N, ...] -> [N, features] (torch.nn.Flatten)", flatten_ops)
