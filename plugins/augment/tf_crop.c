/* random_crop — torchvision RandomCrop(size, padding, pad_if_needed, fill,
 * padding_mode): pad, pad up to the size if asked, then top-left uniform:
 * i = randint(0, H - h + 1), j = randint(0, W - w + 1).
 * center_crop — torchvision CenterCrop: top = round((H - h) / 2), left =
 * round((W - w) / 2); a crop larger than the image is zero-padded. */
#include <math.h>
#include <stdlib.h>

#include "augment.h"

int aug_parse_padding(const rp_node *n, int64_t pad[4], rp_error *err);

typedef struct crop_state {
    int64_t h, w;
    int64_t pad[4];
    int pad_if_needed, mode;
    aug_fill fill;
    int32_t mask_fill;
} crop_state;

static int crop_create(const rp_node *params, void **state, rp_error *err) {
    crop_state *c = calloc(1, sizeof *c);
    if (!c) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int st = RP_OK;
    if (!aug_param_size(params, "size", &c->h, &c->w) || c->h <= 0 || c->w <= 0)
        st = rp_error_at(err, rp_node_get(params, "size") ? rp_node_get(params, "size") : params,
                         RP_ERR_INVALID, "'size': expected a positive integer or [height, width]");
    if (!st) st = aug_parse_padding(rp_node_get(params, "padding"), c->pad, err);
    if (!st) st = aug_parse_fill(params, "fill", 0, &c->fill, err);
    c->mode = aug_pad_mode(rp_param_str(params, "padding_mode"));
    if (!st && c->mode < 0)
        st = rp_error_at(err, rp_node_get(params, "padding_mode"), RP_ERR_INVALID,
                         "'padding_mode': expected constant, edge, reflect or symmetric");
    if (st) {
        free(c);
        return st;
    }
    c->pad_if_needed = rp_param_bool(params, "pad_if_needed");
    c->mask_fill = (int32_t)rp_param_int(params, "mask_fill");
    *state = c;
    return RP_OK;
}

static int random_crop_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const crop_state *c = state;
    int st;
    if (c->pad[0] || c->pad[1] || c->pad[2] || c->pad[3]) {
        st = aug_pad(s, c->pad[0], c->pad[1], c->pad[2], c->pad[3], c->mode, &c->fill,
                     c->mask_fill, err);
        if (st) return st;
    }
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    if (c->pad_if_needed && W < c->w) {
        st = aug_pad(s, c->w - W, 0, c->w - W, 0, c->mode, &c->fill, c->mask_fill, err);
        if (st) return st;
        W = s->img.shape[2];
    }
    if (c->pad_if_needed && H < c->h) {
        st = aug_pad(s, 0, c->h - H, 0, c->h - H, c->mode, &c->fill, c->mask_fill, err);
        if (st) return st;
        H = s->img.shape[1];
    }
    if (H < c->h || W < c->w)
        return rp_error_set(err, RP_ERR_INVALID,
                            "random_crop: crop size %lldx%lld is larger than the (padded) image "
                            "%lldx%lld",
                            (long long)c->h, (long long)c->w, (long long)H, (long long)W);
    int64_t i = (int64_t)rp_rng_below(rng, (uint32_t)(H - c->h + 1));
    int64_t j = (int64_t)rp_rng_below(rng, (uint32_t)(W - c->w + 1));
    return aug_crop(s, i, j, c->h, c->w, NULL, c->mask_fill, err);
}

static int center_crop_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)rng;
    const crop_state *c = state;
    int64_t H = s->img.shape[1], W = s->img.shape[2];
    /* Python round() is half-to-even (nearbyint in the default mode); a crop
     * larger than the image is first padded by (size - H) // 2 before. */
    int64_t top = H >= c->h ? (int64_t)nearbyint((double)(H - c->h) / 2.0) : -((c->h - H) / 2);
    int64_t left = W >= c->w ? (int64_t)nearbyint((double)(W - c->w) / 2.0) : -((c->w - W) / 2);
    return aug_crop(s, top, left, c->h, c->w, NULL, c->mask_fill, err);
}

static void crop_shape(const void *state, int *ch, int *h, int *w) {
    (void)ch;
    const crop_state *c = state;
    *h = (int)c->h;
    *w = (int)c->w;
}

const struct rp_transform_ops tf_random_crop = {.create = crop_create, .apply = random_crop_apply, .destroy = free, .out_shape = crop_shape};
const struct rp_transform_ops tf_center_crop = {.create = crop_create, .apply = center_crop_apply, .destroy = free, .out_shape = crop_shape};

RP_COMPONENT(RP_COMP_TRANSFORM, "random_crop",
             "random crop after optional padding (torchvision RandomCrop)", tf_random_crop)

RP_COMPONENT(RP_COMP_TRANSFORM, "center_crop",
             "central crop", tf_center_crop)
