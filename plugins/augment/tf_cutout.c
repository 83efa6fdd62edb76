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

/* One hole's clipped box. */
static void cutout_box(rp_rng *rng, int64_t H, int64_t W, int64_t length, int64_t *y0, int64_t *x0,
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
        cutout_box(rng, H, W, c->length, &y0, &x0, &y1, &x1);
        aug_fill_box(s, y0, x0, y1 - y0, x1 - x0, &c->fill, rng);
    }
    return RP_OK;
}

static void sort_i64(int64_t *v, int64_t n) { /* insertion sort: n is a few dozen */
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
}

/* Pixels covered by the union of n boxes b[k] = {y0, x0, y1, x1} (holes may
 * overlap): sweep the strips between distinct x edges, merging the y
 * intervals of the boxes spanning each strip. `xs` [2n] and `ys` [2n] are
 * workspaces. O(n^2 log n) for the few holes cutout uses. */
static int64_t union_area(const int64_t (*b)[4], int64_t n, int64_t *xs, int64_t *ys) {
    for (int64_t k = 0; k < n; k++) xs[2 * k] = b[k][1], xs[2 * k + 1] = b[k][3];
    sort_i64(xs, 2 * n);
    int64_t area = 0;
    for (int64_t e = 0; e + 1 < 2 * n; e++) {
        int64_t xa = xs[e], xb = xs[e + 1];
        if (xa == xb) continue;
        int64_t m = 0; /* y intervals as (start, end) pairs sorted by start */
        for (int64_t k = 0; k < n; k++)
            if (b[k][1] <= xa && b[k][3] >= xb && b[k][2] > b[k][0]) {
                int64_t j = m;
                for (; j > 0 && ys[2 * (j - 1)] > b[k][0]; j--)
                    ys[2 * j] = ys[2 * (j - 1)], ys[2 * j + 1] = ys[2 * (j - 1) + 1];
                ys[2 * j] = b[k][0], ys[2 * j + 1] = b[k][2];
                m++;
            }
        int64_t covered = 0, lo = 0, hi = -1;
        for (int64_t j = 0; j < m; j++) {
            if (ys[2 * j] > hi) {
                if (hi > lo) covered += hi - lo;
                lo = ys[2 * j], hi = ys[2 * j + 1];
            } else if (ys[2 * j + 1] > hi) {
                hi = ys[2 * j + 1];
            }
        }
        if (hi > lo) covered += hi - lo;
        area += covered * (xb - xa);
    }
    return area;
}

static int64_t cutout_erased_area(const void *state, int64_t H, int64_t W, rp_rng *rng,
                                  int *applied) {
    const cutout_state *c = state;
    *applied = aug_coin(rng, c->p);
    if (!*applied) return 0;
    enum { SMALL = 32 };
    int64_t sb[SMALL][4], sx[2 * SMALL], sy[2 * SMALL];
    int64_t(*b)[4] = sb, *xs = sx, *ys = sy;
    int64_t *heap = NULL;
    if (c->n_holes > SMALL) { /* rare: one allocation per draw */
        heap = malloc((size_t)c->n_holes * 8 * sizeof *heap);
        if (!heap) return -1;
        b = (int64_t(*)[4])heap, xs = heap + 4 * c->n_holes, ys = xs + 2 * c->n_holes;
    }
    for (int64_t k = 0; k < c->n_holes; k++)
        cutout_box(rng, H, W, c->length, &b[k][0], &b[k][1], &b[k][2], &b[k][3]);
    int64_t area = union_area((const int64_t(*)[4])b, c->n_holes, xs, ys);
    free(heap);
    return area;
}

const struct rp_transform_ops tf_cutout = {.create = cutout_create, .apply = cutout_apply, .destroy = free, .erased_area = cutout_erased_area};

RP_COMPONENT(RP_COMP_TRANSFORM, "cutout",
             "Cutout squares centred anywhere, clipped (DeVries & Taylor)", tf_cutout)
