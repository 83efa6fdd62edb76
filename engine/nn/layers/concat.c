/* concat: concatenate inputs along the channel dimension (dim 1; U-Net skip
 * connections, torch.cat(dim=1)). All other dimensions must match. */
#include <string.h>

#include "nn/layer.h"

static int cat_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)opts;
    int64_t c = 0;
    for (int i = 0; i < n_in; i++) {
        int ok = in[i]->ndim == in[0]->ndim && in[i]->ndim >= 2;
        for (int d = 0; ok && d < in[0]->ndim; d++)
            if (d != 1 && in[i]->shape[d] != in[0]->shape[d]) ok = 0;
        if (!ok) {
            char a[128], b[128];
            return rp_error_set(err, RP_ERR_INVALID,
                                "layer '%s': cannot concatenate input %d of shape %s with input 0 of "
                                "shape %s along channels", l->name, i,
                                rp_shape_str(in[i]->ndim, in[i]->shape, a, sizeof a),
                                rp_shape_str(in[0]->ndim, in[0]->shape, b, sizeof b));
        }
        c += in[i]->shape[1];
    }
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    out_shape[1] = c;
    return RP_OK;
}

/* Floats per channel slab: product of dims after 1. */
static int64_t inner(const rp_tensor *t) {
    int64_t s = 1;
    for (int d = 2; d < t->ndim; d++) s *= t->shape[d];
    return s;
}

static int cat_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)ctx, (void)err, (void)l;
    int64_t n = out->shape[0], oc = out->shape[1], sp = inner(out), off = 0;
    for (int k = 0; k < n_in; k++) {
        int64_t ck = in[k]->shape[1];
        for (int64_t i = 0; i < n; i++)
            memcpy(out->data + (i * oc + off) * sp, in[k]->data + i * ck * sp,
                   (size_t)(ck * sp) * sizeof(float));
        off += ck;
    }
    return RP_OK;
}

static int cat_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)ctx, (void)err, (void)l;
    int64_t n = out->shape[0], oc = out->shape[1], sp = inner(out), off = 0;
    for (int k = 0; k < n_in; k++) {
        int64_t ck = in[k]->shape[1];
        if (din[k])
            for (int64_t i = 0; i < n; i++)
                memcpy(din[k]->data + i * ck * sp, dout->data + (i * oc + off) * sp,
                       (size_t)(ck * sp) * sizeof(float));
        off += ck;
    }
    return RP_OK;
}

static const struct rp_layer_ops concat_ops = {
    .create = cat_create,
    .forward = cat_forward,
    .backward = cat_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5];[2,2,4,5]",
    .min_inputs = 2,
    .max_inputs = RP_MAX_LAYER_INPUTS,
    .flags = RP_LAYER_OUT_UNUSED,
};
RP_COMPONENT(RP_COMP_LAYER, "concat", "concatenate inputs along channels (U-Net skips)", concat_ops)
