/* Shared part of the element-wise layers: activations (RP_ELTWISE_LAYER in
 * layer.h; output shape = input shape, at most one float option kept in
 * l->state) and the pass-through copy of identity / flatten. */
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"

int rp_eltwise_create(rp_layer *l, const rp_node *opts, const char *param,
                      const rp_tensor *in, int64_t *out_shape, int *out_ndim, rp_error *err) {
    if (param) {
        float *s = malloc(sizeof *s);
        if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        *s = (float)rp_param_double(opts, param);
        l->state = s;
    }
    rp_layer_copy_shape(in, out_shape, out_ndim);
    return RP_OK;
}

float rp_eltwise_param(const rp_layer *l) { return l->state ? *(const float *)l->state : 0.0f; }

int rp_layer_copy_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                          rp_tensor *out, rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l;
    memcpy(out->data, in[0]->data, in[0]->numel * sizeof(float));
    return RP_OK;
}

int rp_layer_copy_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                           const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                           rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)l, (void)out;
    if (din[0]) memcpy(din[0]->data, dout->data, in[0]->numel * sizeof(float));
    return RP_OK;
}

void rp_row_affine(const float *x, float *y, int64_t n, float sc, float sh, int relu) {
    if (relu) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float v = x[j] * sc + sh;
            y[j] = v > 0.0f ? v : 0.0f;
        }
    } else {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) y[j] = x[j] * sc + sh;
    }
}
