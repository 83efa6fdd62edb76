/* add: element-wise sum of two or more inputs of the same shape (residual
 * connections). Backward hands dout to every input. */
#include <string.h>

#include "nn/layer.h"

static int add_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                      int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)opts;
    for (int i = 1; i < n_in; i++)
        if (!rp_tensor_same_shape(in[0], in[i])) {
            char a[128], b[128];
            return rp_error_set(err, RP_ERR_INVALID, "layer '%s': input %d has shape %s but input 0 has %s",
                                l->name, i, rp_shape_str(in[i]->ndim, in[i]->shape, a, sizeof a),
                                rp_shape_str(in[0]->ndim, in[0]->shape, b, sizeof b));
        }
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return RP_OK;
}

static int add_forward_ep(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                          rp_tensor *out, const rp_layer_epilogue *ep, rp_error *err);

static int add_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       rp_tensor *out, rp_error *err) {
    if (ctx->relu_out) { /* a relu folded into a training forward */
        const rp_layer_epilogue ep = {.relu = 1};
        return add_forward_ep(l, ctx, n_in, in, out, &ep, err);
    }
    (void)err, (void)l;
    int64_t n = (int64_t)out->numel;
    float *y = out->data;
    const float *a = in[0]->data, *b = in[1]->data;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    for (int k = 2; k < n_in; k++) {
        const float *c = in[k]->data;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] += c[i];
    }
    return RP_OK;
}

/* Eval-mode fusion (add -> relu at the end of a residual block, or add ->
 * batchnorm [-> relu]): the sum and the epilogue in one pass (flat, or over
 * rows [N*C, S] with a per-channel scale / shift), in the same order of
 * operations as add, then x * scale + shift (batch norm eval), then relu's
 * x > 0 ? x : 0, so results equal the separate layers. */
static int add_forward_ep(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                          rp_tensor *out, const rp_layer_epilogue *ep, rp_error *err) {
    (void)ctx;
    if (ep->residual) /* (not in its flags: the graph never asks) */
        return rp_error_set(err, RP_ERR_INVALID, "layer '%s': add takes no residual epilogue", l->name);
    const float *sc = ep->scale, *sh = ep->shift;
    const int relu = ep->relu;
    float *y = out->data;
    if (!sc && !sh) { /* add -> relu: flat passes, as add's own */
        const int64_t n = (int64_t)out->numel;
        const float *a = in[0]->data, *b = in[1]->data;
        if (n_in == 2 && relu) {
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t i = 0; i < n; i++) {
                float v = a[i] + b[i];
                y[i] = v > 0.0f ? v : 0.0f;
            }
            return RP_OK;
        }
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
        for (int k = 2; k < n_in; k++) {
            const float *e = in[k]->data;
            if (relu && k == n_in - 1) {
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
                for (int64_t i = 0; i < n; i++) {
                    float v = y[i] + e[i];
                    y[i] = v > 0.0f ? v : 0.0f;
                }
            } else {
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
                for (int64_t i = 0; i < n; i++) y[i] += e[i];
            }
        }
        return RP_OK;
    }
    const int64_t c = out->ndim >= 2 ? out->shape[1] : 1;
    const int64_t rows = out->shape[0] * c, sp = rows ? (int64_t)out->numel / rows : 0;
#pragma omp parallel for schedule(static) if ((int64_t)out->numel > RP_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t ch = r % c, o = r * sp;
        const float s = sc ? sc[ch] : 1.0f, t = sh ? sh[ch] : 0.0f;
        float *yr = y + o;
        const float *a = in[0]->data + o, *b = in[1]->data + o;
#pragma omp simd
        for (int64_t j = 0; j < sp; j++) yr[j] = a[j] + b[j];
        for (int k = 2; k < n_in; k++) {
            const float *e = in[k]->data + o;
#pragma omp simd
            for (int64_t j = 0; j < sp; j++) yr[j] += e[j];
        }
        rp_row_affine(yr, yr, sp, s, t, relu);
    }
    return RP_OK;
}

static int add_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                        rp_error *err) {
    (void)err, (void)l, (void)in;
    if (ctx->relu_out) { /* out = max(0, sum): relu's backward, y > 0 ? d : 0 */
        const int64_t n = (int64_t)out->numel;
        const float *y = out->data, *d = dout->data;
        if (n_in == 2 && din[0] && din[1]) { /* (a residual block: one pass) */
            float *o0 = din[0]->data, *o1 = din[1]->data;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t i = 0; i < n; i++) o0[i] = o1[i] = y[i] > 0.0f ? d[i] : 0.0f;
            return RP_OK;
        }
        for (int k = 0; k < n_in; k++) {
            if (!din[k]) continue;
            float *o = din[k]->data;
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
            for (int64_t i = 0; i < n; i++) o[i] = y[i] > 0.0f ? d[i] : 0.0f;
        }
        return RP_OK;
    }
    for (int k = 0; k < n_in; k++)
        if (din[k]) memcpy(din[k]->data, dout->data, out->numel * sizeof(float));
    return RP_OK;
}

static const struct rp_layer_ops add_ops = {
    .create = add_create,
    .forward = add_forward,
    .backward = add_backward,
    .example_opts = "{}",
    .example_inputs = "[2,3,4,5];[2,3,4,5];[2,3,4,5]",
    .min_inputs = 2,
    .max_inputs = RP_MAX_LAYER_INPUTS,
    .flags = RP_LAYER_OUT_UNUSED | RP_LAYER_EP_AFFINE | RP_LAYER_EP_RELU | RP_LAYER_SUM |
             RP_LAYER_TRAIN_RELU,
    .forward_ep = add_forward_ep,
};
RP_COMPONENT(RP_COMP_LAYER, "add", "element-wise sum of inputs (residual connection)", add_ops)
