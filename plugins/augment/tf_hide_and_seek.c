/* hide_and_seek — Singh & Lee, ICCV 2017: split the image into a grid of
 * patch_size x patch_size cells (the last row/column may be partial) and
 * hide each cell independently with probability hide_prob; applied with
 * probability p. With `grid_sizes` (the reference code's list, e.g. [0, 16,
 * 32, 44, 56]) the patch size is drawn uniformly from the list per sample
 * (0 = no hiding). S2 uses patch_size 8, hide_prob 0.5, p 0.5 on CIFAR. */
#include <stdlib.h>

#include "augment.h"

typedef struct has_state {
    int64_t sizes[16];
    int n_sizes;
    double hide_prob, p;
    aug_fill fill;
} has_state;

static int has_create(const rp_node *params, void **state, rp_error *err) {
    has_state *h = calloc(1, sizeof *h);
    if (!h) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    double g[16];
    int n = rp_param_doubles(params, "grid_sizes", g, 16);
    if (n > 0) {
        for (int i = 0; i < n; i++) h->sizes[i] = (int64_t)g[i];
        h->n_sizes = n;
    } else {
        h->sizes[0] = rp_param_int(params, "patch_size");
        h->n_sizes = 1;
    }
    for (int i = 0; i < h->n_sizes; i++)
        if (h->sizes[i] < 0) {
            free(h);
            return rp_error_at(err, params, RP_ERR_INVALID, "hide_and_seek: sizes must be >= 0");
        }
    h->hide_prob = rp_param_double(params, "hide_prob");
    h->p = rp_param_double(params, "p");
    int st = aug_parse_fill(params, "fill", 1, &h->fill, err);
    if (st) {
        free(h);
        return st;
    }
    *state = h;
    return RP_OK;
}

/* Draw the hidden cells: calls hide(y, x, size, ctx) per hidden cell; returns
 * the patch size used (0 = none). */
static int64_t has_draw(rp_rng *rng, int64_t H, int64_t W, const int64_t *sizes, int n_sizes,
                     double hide_prob, double p,
                     void (*hide)(int64_t y, int64_t x, int64_t size, void *ctx), void *ctx) {
    if (!aug_coin(rng, p)) return 0;
    int64_t g = sizes[n_sizes > 1 ? rp_rng_below(rng, (uint32_t)n_sizes) : 0];
    if (g <= 0) return 0;
    for (int64_t y = 0; y < H; y += g)
        for (int64_t x = 0; x < W; x += g)
            if (rp_rng_uniform(rng) < hide_prob) hide(y, x, g, ctx);
    return g;
}

typedef struct has_ctx {
    rp_sample *s;
    const aug_fill *fill;
    rp_rng *rng;
} has_ctx;

static void hide_cell(int64_t y, int64_t x, int64_t size, void *ctx) {
    has_ctx *c = ctx;
    aug_fill_box(c->s, y, x, size, size, c->fill, c->rng);
}

static int has_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const has_state *h = state;
    int st = aug_check_fill(&h->fill, s, "hide_and_seek", err);
    if (st) return st;
    /* "mean" fill is the mean of the image before hiding, as in the paper */
    aug_fill f = h->fill;
    if (f.mode == AUG_FILL_MEAN) {
        int64_t C = s->img.shape[0];
        f.mode = AUG_FILL_CONST;
        f.n = (int)(C < 8 ? C : 8);
        for (int c = 0; c < f.n; c++) f.v[c] = aug_fill_value(&h->fill, s, c);
    }
    has_ctx ctx = {s, &f, rng};
    has_draw(rng, s->img.shape[1], s->img.shape[2], h->sizes, h->n_sizes, h->hide_prob, h->p,
                 hide_cell, &ctx);
    return RP_OK;
}

typedef struct has_area_acc {
    int64_t H, W, area;
} has_area_acc;

static void count_cell(int64_t y, int64_t x, int64_t g, void *ctx) {
    has_area_acc *a = ctx;
    a->area += (y + g > a->H ? a->H - y : g) * (x + g > a->W ? a->W - x : g);
}

static int64_t has_erased_area(const void *state, int64_t H, int64_t W, rp_rng *rng,
                               int *applied) {
    const has_state *h = state;
    rp_rng probe = *rng; /* has_draw flips the same coin first */
    *applied = aug_coin(&probe, h->p);
    has_area_acc a = {H, W, 0};
    has_draw(rng, H, W, h->sizes, h->n_sizes, h->hide_prob, h->p, count_cell, &a);
    return a.area;
}

const struct rp_transform_ops tf_hide_and_seek = {.create = has_create, .apply = has_apply, .destroy = free, .erased_area = has_erased_area};

RP_COMPONENT(RP_COMP_TRANSFORM, "hide_and_seek",
             "hide grid cells at random (Singh & Lee)", tf_hide_and_seek)
