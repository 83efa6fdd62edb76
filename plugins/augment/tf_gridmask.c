/* gridmask — GridMask (Chen et al. 2020, reference GridMask class, mode 1):
 * with probability p, d ~ randint[d_min, d_max], kept band l = clamp(
 * int(d * ratio + 0.5), 1, d - 1), offsets (dy, dx) ~ randint[0, d); the
 * squares of side d - l of the grid are erased (fill), the bands of width l
 * kept. `rotate` r > 0 rotates the grid by an angle ~ U[0, r) degrees about
 * the image centre (the reference rotates the mask; default 0). */
#include <math.h>
#include <stdlib.h>

#include "augment.h"

typedef struct gm_state {
    int64_t d0, d1;
    double ratio, rotate, p;
    aug_fill fill;
} gm_state;

static int gm_create(const rp_node *params, void **state, rp_error *err) {
    gm_state *g = calloc(1, sizeof *g);
    if (!g) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    double d[2] = {96, 224};
    int n = rp_param_doubles(params, "d", d, 2);
    if (n == 1) d[1] = d[0];
    g->d0 = (int64_t)d[0];
    g->d1 = (int64_t)d[1];
    g->ratio = rp_param_double(params, "ratio");
    g->rotate = rp_param_double(params, "rotate");
    g->p = rp_param_double(params, "p");
    int st = RP_OK;
    if (g->d0 < 2 || g->d1 < g->d0)
        st = rp_error_at(err, rp_node_get(params, "d"), RP_ERR_INVALID,
                         "gridmask: 'd' must be [min, max] with 2 <= min <= max");
    if (!st) st = aug_parse_fill(params, "fill", 0, &g->fill, err);
    if (st) {
        free(g);
        return st;
    }
    *state = g;
    return RP_OK;
}

static int gm_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const gm_state *g = state;
    int st = aug_check_fill(&g->fill, s, "gridmask", err);
    if (st) return st;
    if (!aug_coin(rng, g->p)) return RP_OK;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    int64_t d = g->d0 + (int64_t)rp_rng_below(rng, (uint32_t)(g->d1 - g->d0 + 1));
    int64_t l = (int64_t)(d * g->ratio + 0.5);
    if (l < 1) l = 1;
    if (l > d - 1) l = d - 1;
    int64_t dy = (int64_t)rp_rng_below(rng, (uint32_t)d), dx = (int64_t)rp_rng_below(rng, (uint32_t)d);
    double ang = g->rotate > 0 ? rp_rng_range(rng, 0, g->rotate) * 3.14159265358979323846 / 180 : 0;
    double cs = cos(ang), sn = sin(ang), cy = H * 0.5, cx = W * 0.5;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double fx = x + 0.5 - cx, fy = y + 0.5 - cy;
            int64_t gx = (int64_t)floor(cs * fx - sn * fy + cx), gy = (int64_t)floor(sn * fx + cs * fy + cy);
            int64_t my = ((gy - dy) % d + d) % d, mx = ((gx - dx) % d + d) % d;
            if (my >= l && mx >= l)
                for (int64_t c = 0; c < C; c++)
                    s->img.data[(c * H + y) * W + x] = aug_fill_value(&g->fill, s, (int)c);
        }
    return RP_OK;
}

const struct rp_transform_ops tf_gridmask = {.create = gm_create, .apply = gm_apply, .destroy = free};

RP_COMPONENT(RP_COMP_TRANSFORM, "gridmask",
             "GridMask structured dropping (Chen et al.)", tf_gridmask)
