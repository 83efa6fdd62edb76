/* resize — torchvision Resize on tensors with antialias=False: size n scales
 * the shorter side to n (long side int(n * long / short)), [h, w] is exact.
 * interpolation bilinear (align_corners=False) | nearest | area. Masks use
 * nearest. */
#include <stdlib.h>

#include "augment.h"
#include "runpipe/image.h"

typedef struct resize_state {
    int64_t h, w;
    int exact, interp;
} resize_state;

static int resize_create(const rp_node *params, void **state, rp_error *err) {
    resize_state *r = calloc(1, sizeof *r);
    if (!r) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int k = aug_param_size(params, "size", &r->h, &r->w);
    r->interp = aug_interp(rp_param_str(params, "interpolation"));
    if (k == 0 || r->h <= 0 || r->w <= 0 || r->interp < 0) {
        free(r);
        return rp_error_at(err, params, RP_ERR_INVALID,
                           "resize: 'size' must be a positive integer (shorter side) or [height, "
                           "width], 'interpolation' one of bilinear, nearest, area");
    }
    r->exact = k == 2;
    *state = r;
    return RP_OK;
}

static int resize_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)rng;
    const resize_state *r = state;
    int64_t H = s->img.shape[1], W = s->img.shape[2], oh = r->h, ow = r->w;
    if (!r->exact) {
        if (W <= H) {
            ow = r->h;
            oh = r->h * H / W;
        } else {
            oh = r->h;
            ow = r->h * W / H;
        }
    }
    return aug_resize(s, oh, ow, r->interp, err);
}

static void resize_shape(const void *state, int *c, int *h, int *w) {
    (void)c;
    const resize_state *r = state;
    if (r->exact) {
        *h = (int)r->h;
        *w = (int)r->w;
    } else if (*h && *w) {
        int64_t H = *h, W = *w;
        if (W <= H) *w = (int)r->h, *h = (int)(r->h * H / W);
        else *h = (int)r->h, *w = (int)(r->h * W / H);
    } else {
        *h = *w = 0;
    }
}

const struct rp_transform_ops tf_resize = {.create = resize_create, .apply = resize_apply, .destroy = free, .out_shape = resize_shape};

RP_COMPONENT(RP_COMP_TRANSFORM, "resize",
             "resize (shorter side or exact size)", tf_resize)
