/* cutout — DeVries & Taylor 2017 (reference code uutils/cutout.py): n_holes
 * squares of side `length`, each centred at a uniform pixel (y, x) anywhere
 * in the image and clipped at the borders: rows [clip(y - length/2),
 * clip(y + length/2)), likewise columns — so the erased area varies and its
 * mean is below length^2. Applied with probability p (default 1). */
#include <stdlib.h>

#include "augment.h"

typedef struct cutout_state {
    int64_t n_holes, length;
    double p;
    aug_fill fill;
} cutout_state;

static int cutout_create(const rp_node *params, void **state, rp_error *err) {
    cutout_state *c = calloc(1, sizeof *c);
    if (!c) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    c->n_holes = rp_param_int(params, "n_holes");
    c->length = rp_param_int(params, "length");
    c->p = rp_param_double(params, "p");
    int st = aug_parse_fill(params, "fill", 1, &c->fill, err);
    if (st) {
        free(c);
        return st;
    }
    *state = c;
    return RP_OK;
}

/* One hole's clipped box (shared with augment.stats). */
void aug_cutout_box(rp_rng *rng, int64_t H, int64_t W, int64_t length, int64_t *y0, int64_t *x0,
                    int64_t *y1, int64_t *x1);
void aug_cutout_box(rp_rng *rng, int64_t H, int64_t W, int64_t length, int64_t *y0, int64_t *x0,
                    int64_t *y1, int64_t *x1) {
    int64_t y = (int64_t)rp_rng_below(rng, (uint32_t)H);
    int64_t x = (int64_t)rp_rng_below(rng, (uint32_t)W);
    int64_t a = y - length / 2, b = y + length / 2, c = x - length / 2, d = x + length / 2;
    *y0 = a < 0 ? 0 : a > H ? H : a;
    *y1 = b < 0 ? 0 : b > H ? H : b;
    *x0 = c < 0 ? 0 : c > W ? W : c;
    *x1 = d < 0 ? 0 : d > W ? W : d;
}

static int cutout_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const cutout_state *c = state;
    int st = aug_check_fill(&c->fill, s, "cutout", err);
    if (st) return st;
    if (!aug_coin(rng, c->p)) return RP_OK;
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    for (int64_t k = 0; k < c->n_holes; k++) {
        int64_t y0, x0, y1, x1;
        aug_cutout_box(rng, H, W, c->length, &y0, &x0, &y1, &x1);
        aug_fill_box(s, y0, x0, y1 - y0, x1 - x0, &c->fill, rng);
    }
    return RP_OK;
}

const struct rp_transform_ops tf_cutout = {cutout_create, cutout_apply, free, NULL};

RP_COMPONENT(RP_COMP_TRANSFORM, "cutout",
             "Cutout squares centred anywhere, clipped (DeVries & Taylor)", tf_cutout)
