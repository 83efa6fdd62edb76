/* random_resized_crop — torchvision RandomResizedCrop(size, scale=(0.08, 1),
 * ratio=(3/4, 4/3)): up to 10 attempts of target area = H*W*U(scale) and
 * aspect = exp(U(log ratio)), w = round(sqrt(area*aspect)), h =
 * round(sqrt(area/aspect)), accepted when 0 < w <= W and 0 < h <= H with
 * top-left uniform; otherwise the fallback central crop (aspect clamped to
 * the ratio range). The crop is resized to `size` (bilinear). */
#include <math.h>
#include <stdlib.h>

#include "augment.h"
#include "runpipe/image.h"

typedef struct rrc_state {
    int64_t h, w;
    double scale[2], ratio[2];
    int interp;
} rrc_state;

static int rrc_create(const rp_node *params, void **state, rp_error *err) {
    rrc_state *r = calloc(1, sizeof *r);
    if (!r) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int st = RP_OK;
    if (!aug_param_size(params, "size", &r->h, &r->w) || r->h <= 0 || r->w <= 0)
        st = rp_error_at(err, params, RP_ERR_INVALID,
                         "random_resized_crop: 'size' must be a positive integer or [h, w]");
    r->scale[0] = 0.08, r->scale[1] = 1.0;
    r->ratio[0] = 3.0 / 4.0, r->ratio[1] = 4.0 / 3.0;
    if (!st && rp_param_doubles(params, "scale", r->scale, 2) == 1) r->scale[1] = r->scale[0];
    if (!st && rp_param_doubles(params, "ratio", r->ratio, 2) == 1) r->ratio[1] = r->ratio[0];
    if (!st && (r->scale[0] > r->scale[1] || r->ratio[0] > r->ratio[1] || r->scale[0] <= 0 ||
                r->ratio[0] <= 0))
        st = rp_error_at(err, params, RP_ERR_INVALID,
                         "random_resized_crop: 'scale' and 'ratio' must be positive [min, max]");
    r->interp = aug_interp(rp_param_str(params, "interpolation"));
    if (!st && r->interp < 0)
        st = rp_error_at(err, rp_node_get(params, "interpolation"), RP_ERR_INVALID,
                         "'interpolation': expected bilinear, nearest or area");
    if (st) {
        free(r);
        return st;
    }
    *state = r;
    return RP_OK;
}

/* torchvision RandomResizedCrop.get_params. */
void aug_rrc_params(rp_rng *rng, int64_t H, int64_t W, const double scale[2],
                    const double ratio[2], int64_t *top, int64_t *left, int64_t *h, int64_t *w);
void aug_rrc_params(rp_rng *rng, int64_t H, int64_t W, const double scale[2],
                    const double ratio[2], int64_t *top, int64_t *left, int64_t *h, int64_t *w) {
    double area = (double)H * (double)W;
    double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
    for (int a = 0; a < 10; a++) {
        double ta = area * rp_rng_range(rng, scale[0], scale[1]);
        double ar = exp(rp_rng_range(rng, lr0, lr1));
        int64_t cw = (int64_t)nearbyint(sqrt(ta * ar));
        int64_t ch = (int64_t)nearbyint(sqrt(ta / ar));
        if (0 < cw && cw <= W && 0 < ch && ch <= H) {
            *top = (int64_t)rp_rng_below(rng, (uint32_t)(H - ch + 1));
            *left = (int64_t)rp_rng_below(rng, (uint32_t)(W - cw + 1));
            *h = ch;
            *w = cw;
            return;
        }
    }
    double in_ratio = (double)W / (double)H;
    int64_t cw, ch;
    if (in_ratio < ratio[0]) {
        cw = W;
        ch = (int64_t)nearbyint((double)cw / ratio[0]);
    } else if (in_ratio > ratio[1]) {
        ch = H;
        cw = (int64_t)nearbyint((double)ch * ratio[1]);
    } else {
        cw = W;
        ch = H;
    }
    *top = (H - ch) / 2;
    *left = (W - cw) / 2;
    *h = ch;
    *w = cw;
}

static int rrc_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const rrc_state *r = state;
    int64_t top, left, h, w;
    aug_rrc_params(rng, s->img.shape[1], s->img.shape[2], r->scale, r->ratio, &top, &left, &h, &w);
    int st = aug_crop(s, top, left, h, w, NULL, 0, err);
    if (!st) st = aug_resize(s, r->h, r->w, r->interp, err);
    return st;
}

static void rrc_shape(const void *state, int *c, int *h, int *w) {
    (void)c;
    const rrc_state *r = state;
    *h = (int)r->h;
    *w = (int)r->w;
}

const struct rp_transform_ops tf_random_resized_crop = {.create = rrc_create, .apply = rrc_apply, .destroy = free, .out_shape = rrc_shape};

RP_COMPONENT(RP_COMP_TRANSFORM, "random_resized_crop",
             "random scale/aspect crop resized to a size", tf_random_resized_crop)
