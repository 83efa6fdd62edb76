/* identity: output = input (torch.nn.Identity); a named tap point. */
#include <string.h>

#include "layer.h"

static int id_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in, (void)opts, (void)l, (void)err;
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return RP_OK;
}

static int id_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    memcpy(out->data, in[0]->data, in[0]->numel * sizeof(float));
    return RP_OK;
}

static int id_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l, (void)out;
    if (din[0]) memcpy(din[0]->data, dout->data, in[0]->numel * sizeof(float));
    return RP_OK;
}

static const struct rp_layer_ops identity_ops = {
    .create = id_create,
    .forward = id_forward,
    .backward = id_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_REGISTER(RP_COMP_LAYER, "identity", "output = input (torch.nn.Identity)", identity_ops)
