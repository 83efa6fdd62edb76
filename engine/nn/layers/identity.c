/* identity: output = input (torch.nn.Identity); a named tap point. */
#include "nn/layer.h"

static int id_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in, (void)opts, (void)l, (void)err;
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return RP_OK;
}

static const struct rp_layer_ops identity_ops = {
    .create = id_create,
    .forward = rp_layer_copy_forward,
    .backward = rp_layer_copy_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "identity", "output = input (torch.nn.Identity)", identity_ops)
