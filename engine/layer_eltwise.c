/* Shared part of the element-wise activation layers (RP_ELTWISE_LAYER in
 * layer.h): output shape = input shape, and at most one float option kept
 * in l->state. */
#include <stdlib.h>

#include "layer.h"

int rp_eltwise_create(rp_layer *l, const rp_node *opts, const char *param, double pdef,
                      const rp_tensor *in, int64_t *out_shape, int *out_ndim, rp_error *err) {
    if (param) {
        float *s = malloc(sizeof *s);
        if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        *s = (float)rp_param_double(opts, param, pdef);
        l->state = s;
    }
    rp_layer_copy_shape(in, out_shape, out_ndim);
    return RP_OK;
}

float rp_eltwise_param(const rp_layer *l) { return l->state ? *(const float *)l->state : 0.0f; }

void rp_eltwise_destroy(rp_layer *l) {
    free(l->state);
    l->state = NULL;
}
