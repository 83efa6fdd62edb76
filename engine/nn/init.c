/* PyTorch default initialisations and shared layer helpers.
 * References: torch.nn.Conv2d/Linear.reset_parameters (kaiming_uniform_ with
 * a = sqrt(5), i.e. bound = 1/sqrt(fan_in); bias bound 1/sqrt(fan_in)),
 * torch.nn.init. Random streams are keyed by (seed, tensor name) so the
 * result does not depend on the order layers are initialised in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"

#define INIT_PURPOSE 0x696e6974ull /* "init" */

/* Streams are split in fixed blocks (stream c = kind * 2^32 + block) so large
 * tensors fill in parallel with the same values for any thread count. */
#define INIT_BLOCK 65536

void rp_init_uniform(rp_tensor *t, double bound, uint64_t seed, const char *name) {
    uint64_t key = rp_hash_str(name);
    int64_t n = (int64_t)t->numel, nb = (n + INIT_BLOCK - 1) / INIT_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        rp_rng r;
        rp_rng_init(&r, seed, key, INIT_PURPOSE, (uint64_t)b);
        int64_t e = (b + 1) * INIT_BLOCK < n ? (b + 1) * INIT_BLOCK : n;
        for (int64_t i = b * INIT_BLOCK; i < e; i++) t->data[i] = (float)rp_rng_range(&r, -bound, bound);
    }
}

void rp_init_normal(rp_tensor *t, double std, uint64_t seed, const char *name) {
    uint64_t key = rp_hash_str(name);
    int64_t n = (int64_t)t->numel, nb = (n + INIT_BLOCK - 1) / INIT_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        rp_rng r;
        rp_rng_init(&r, seed, key, INIT_PURPOSE, (1ull << 32) + (uint64_t)b);
        int64_t e = (b + 1) * INIT_BLOCK < n ? (b + 1) * INIT_BLOCK : n;
        for (int64_t i = b * INIT_BLOCK; i < e; i++) t->data[i] = (float)(std * rp_rng_normal(&r));
    }
}

rp_param *rp_layer_param(rp_layer *l, const char *pname) {
    size_t ln = strlen(l->name);
    for (size_t i = 0; i < l->n_params; i++) {
        const char *n = l->params[i].name;
        if (strncmp(n, l->name, ln) == 0 && n[ln] == '.' && strcmp(n + ln + 1, pname) == 0)
            return &l->params[i];
    }
    return NULL;
}

int rp_init_default_wb(rp_layer *l, int64_t fan_in, uint64_t seed, rp_error *err) {
    (void)err;
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    rp_param *w = rp_layer_param(l, "weight"), *b = rp_layer_param(l, "bias");
    if (w) rp_init_uniform(w->value, bound, seed, w->name);
    if (b) rp_init_uniform(b->value, bound, seed, b->name);
    return RP_OK;
}

int rp_opt_pair(const rp_layer *l, const rp_node *opts, const char *key, int64_t out[2],
                rp_error *err) {
    /* validated against schemas/layer.<type>.yaml: present (default filled),
       an integer or two, within the schema's minimum */
    const rp_node *v = rp_node_get(opts, key);
    if (v && v->kind == RP_NODE_SCALAR && rp_node_as_int(v, &out[0], NULL) == RP_OK) {
        out[1] = out[0];
        return RP_OK;
    }
    if (v && v->kind == RP_NODE_SEQ && v->n == 2 &&
        rp_node_as_int(v->items[0], &out[0], NULL) == RP_OK &&
        rp_node_as_int(v->items[1], &out[1], NULL) == RP_OK)
        return RP_OK;
    return rp_error_at(err, v ? v : opts, RP_ERR_INTERNAL,
                       "layer '%s': option '%s' is %s after schema validation (expected an "
                       "integer or a list of two)",
                       l->name, key, v ? "malformed" : "missing");
}

int rp_layer_need_ndim(const rp_layer *l, int i, const rp_tensor *in, int ndim, rp_error *err) {
    if (in->ndim == ndim) return RP_OK;
    char b[128];
    return rp_error_set(err, RP_ERR_INVALID, "layer '%s': input %d has shape %s, expected %d-D%s",
                        l->name, i, rp_shape_str(in->ndim, in->shape, b, sizeof b), ndim,
                        ndim == 4 ? " [N, C, H, W]" : ndim == 2 ? " [N, features] (add a flatten)" : "");
}

void rp_layer_copy_shape(const rp_tensor *in, int64_t *out_shape, int *out_ndim) {
    *out_ndim = in->ndim;
    for (int i = 0; i < in->ndim; i++) out_shape[i] = in->shape[i];
}

void rp_layer_free_state(rp_layer *l) {
    free(l->state);
    l->state = NULL;
}
