/* dropout: torch.nn.Dropout (inverted: kept values scaled by 1/(1-p);
 * identity in eval). The mask comes from Philox keyed by (seed, layer name,
 * step) in fixed blocks of 4096 elements, so it does not depend on the thread
 * count and is reproduced exactly on resume. */
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"

#define BLOCK 4096

typedef struct do_state {
    double p;
    rp_tensor mask; /* scale per element: 0 or 1/(1-p) */
    int active;     /* last forward applied a mask */
} do_state;

static int do_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    do_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    s->p = rp_param_double(opts, "p");
    if (!(s->p >= 0 && s->p < 1))
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': p must be in [0, 1), got %g",
                           l->name, s->p);
    rp_layer_copy_shape(in[0], out_shape, out_ndim);
    return RP_OK;
}

static int do_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)n_in;
    do_state *s = l->state;
    int64_t n = (int64_t)in[0]->numel;
    s->active = ctx->training && s->p > 0;
    if (!s->active) {
        if (out->data != in[0]->data) memcpy(out->data, in[0]->data, (size_t)n * sizeof(float));
        return RP_OK;
    }
    if (rp_tensor_reshape_alloc(&s->mask, 1, &n, err)) return err->status;
    uint64_t key = rp_hash_str(l->name);
    float scale = (float)(1.0 / (1.0 - s->p));
    float keep = (float)(1.0 - s->p);
    int64_t nb = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        rp_rng r;
        rp_rng_init(&r, ctx->seed, key, ctx->step, (uint64_t)b);
        int64_t e = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
        for (int64_t i = b * BLOCK; i < e; i++) {
            float m = rp_rng_uniformf(&r) < keep ? scale : 0.0f;
            s->mask.data[i] = m;
            out->data[i] = in[0]->data[i] * m;
        }
    }
    return RP_OK;
}

static int do_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)ctx, (void)n_in, (void)err, (void)out;
    if (!din[0]) return RP_OK;
    do_state *s = l->state;
    int64_t n = (int64_t)in[0]->numel;
    if (!s->active) {
        if (din[0]->data != dout->data) memcpy(din[0]->data, dout->data, (size_t)n * sizeof(float));
        return RP_OK;
    }
#pragma omp parallel for simd schedule(static) if (n > RP_PAR_MIN)
    for (int64_t i = 0; i < n; i++) din[0]->data[i] = dout->data[i] * s->mask.data[i];
    return RP_OK;
}

static void do_destroy(rp_layer *l) {
    do_state *s = l->state;
    if (!s) return;
    rp_tensor_release(&s->mask);
    free(s);
    l->state = NULL;
}

static const struct rp_layer_ops dropout_ops = {
    .create = do_create,
    .forward = do_forward,
    .backward = do_backward,
    .destroy = do_destroy,
    .example_opts = "{p: 0.3}",
    .example_inputs = "[2,3,4,5]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED | RP_LAYER_INPLACE,
};
RP_COMPONENT(RP_COMP_LAYER, "dropout", "inverted dropout (torch.nn.Dropout); identity in eval", dropout_ops)
