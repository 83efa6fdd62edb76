/* flatten: [N, d1, d2, ...] → [N, d1*d2*...] (torch.nn.Flatten). */
#include "nn/layer.h"

static int fl_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in, (void)opts, (void)l, (void)err;
    int64_t f = 1;
    for (int i = 1; i < in[0]->ndim; i++) f *= in[0]->shape[i];
    *out_ndim = 2;
    out_shape[0] = in[0]->shape[0], out_shape[1] = f;
    return RP_OK;
}

static const struct rp_layer_ops flatten_ops = {
    .create = fl_create,
    .forward = rp_layer_copy_forward,
    .backward = rp_layer_copy_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "flatten", "[N, ...] -> [N, features] (torch.nn.Flatten)", flatten_ops)
