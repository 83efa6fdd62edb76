/* The S0 occlusions (Conversion Learning): deterministic corruptions, usable
 * on test sets. Geometry for an H x W image:
 *   cross_line: rows [H/2 - width/2, +width) and cols [W/2 - width/2, +width)
 *               (default width 2: the two centre rows/columns);
 *   upper_bar:  rows [0, rows) with rows = round(fraction * H) unless `rows`
 *               > 0 (default fraction 1/4 → 7 of 28 rows, 8 of 32);
 *   middle_box: a round(H*fraction) x round(W*fraction) box centred at
 *               ((H - bh) / 2, (W - bw) / 2) (default 1/2: 14x14 of 28x28);
 *   bar_row:    rows [row, row + height) (the "single-row upper bar [j, :]"
 *               donors of S0).
 * The fill is a number or a per-channel list (default 0). Masks are not
 * changed (an occlusion hides pixels, it does not relabel them). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"

typedef struct occ_state {
    aug_fill fill;
    double fraction;
    int64_t width, rows, row, height;
} occ_state;

static int occ_create(const rp_node *params, void **state, rp_error *err) {
    occ_state *o = calloc(1, sizeof *o);
    if (!o) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int st = aug_parse_fill(params, "fill", 0, &o->fill, err);
    if (st) {
        free(o);
        return st;
    }
    /* The four occlusions share this state; each schema has its own keys. */
    if (rp_node_get(params, "fraction")) o->fraction = rp_param_double(params, "fraction");
    if (rp_node_get(params, "width")) o->width = rp_param_int(params, "width");
    if (rp_node_get(params, "rows")) o->rows = rp_param_int(params, "rows");
    if (rp_node_get(params, "row")) o->row = rp_param_int(params, "row");
    if (rp_node_get(params, "height")) o->height = rp_param_int(params, "height");
    *state = o;
    return RP_OK;
}

static int cross_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const occ_state *o = state;
    int st = aug_check_fill(&o->fill, s, "cross_line", err);
    if (st) return st;
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    aug_fill_box(s, H / 2 - o->width / 2, 0, o->width, W, &o->fill, rng);
    aug_fill_box(s, 0, W / 2 - o->width / 2, H, o->width, &o->fill, rng);
    return RP_OK;
}

static int upper_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const occ_state *o = state;
    int st = aug_check_fill(&o->fill, s, "upper_bar", err);
    if (st) return st;
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    int64_t rows = o->rows > 0 ? o->rows : (int64_t)llround(o->fraction * (double)H);
    aug_fill_box(s, 0, 0, rows, W, &o->fill, rng);
    return RP_OK;
}

static int middle_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const occ_state *o = state;
    int st = aug_check_fill(&o->fill, s, "middle_box", err);
    if (st) return st;
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    int64_t bh = (int64_t)llround(o->fraction * (double)H), bw = (int64_t)llround(o->fraction * (double)W);
    aug_fill_box(s, (H - bh) / 2, (W - bw) / 2, bh, bw, &o->fill, rng);
    return RP_OK;
}

static int bar_row_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const occ_state *o = state;
    int st = aug_check_fill(&o->fill, s, "bar_row", err);
    if (st) return st;
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    if (o->row >= H)
        return rp_error_set(err, RP_ERR_INVALID, "bar_row: row %lld is outside the %lld-row image",
                            (long long)o->row, (long long)H);
    aug_fill_box(s, o->row, 0, o->height, W, &o->fill, rng);
    return RP_OK;
}

const struct rp_transform_ops tf_cross_line = {.create = occ_create, .apply = cross_apply, .destroy = free};
const struct rp_transform_ops tf_upper_bar = {.create = occ_create, .apply = upper_apply, .destroy = free};
const struct rp_transform_ops tf_middle_box = {.create = occ_create, .apply = middle_apply, .destroy = free};
const struct rp_transform_ops tf_bar_row = {.create = occ_create, .apply = bar_row_apply, .destroy = free};

RP_COMPONENT(RP_COMP_TRANSFORM, "cross_line",
             "S0 occlusion: a horizontal and a vertical line through the centre", tf_cross_line)

RP_COMPONENT(RP_COMP_TRANSFORM, "upper_bar",
             "S0 occlusion: a bar over the top rows", tf_upper_bar)

RP_COMPONENT(RP_COMP_TRANSFORM, "middle_box",
             "S0 occlusion: a box in the centre", tf_middle_box)

RP_COMPONENT(RP_COMP_TRANSFORM, "bar_row",
             "S0 occlusion: a bar at row j", tf_bar_row)
