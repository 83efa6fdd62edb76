/* relu: max(0, x) (torch.nn.ReLU). Element-wise, any shape. */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

static int act_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in, (void)err;
    (void)opts, (void)l;
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return RP_OK;
}

static int act_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;

    const float *xs = in[0]->data;
    float *ys = out->data;
    int64_t n = (int64_t)in[0]->numel;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float x = xs[i];
        ys[i] = x > 0.0f ? x : 0.0f;
    }
    return RP_OK;
}

static int act_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    if (!din[0]) return RP_OK;

    const float *xs = in[0]->data, *ys = out->data, *ds = dout->data;
    float *o = din[0]->data;
    int64_t n = (int64_t)in[0]->numel;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float x = xs[i], y = ys[i], d = ds[i];
        (void)x, (void)y;
        o[i] = y > 0.0f ? d : 0.0f; /* y, not x: may run in place */
    }
    return RP_OK;
}

static void act_destroy(rp_layer *l) {
    free(l->state);
    l->state = NULL;
}

static const struct rp_layer_ops relu_ops = {
    .create = act_create,
    .forward = act_forward,
    .backward = act_backward,
    .destroy = act_destroy,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_INPLACE,
};
RP_REGISTER(RP_COMP_LAYER, "relu", "max(0, x) (torch.nn.ReLU).", relu_ops)
