/* hflip / vflip — torchvision RandomHorizontalFlip / RandomVerticalFlip:
 * flip when torch.rand(1) < p (default 0.5). Masks flip with the image. */
#include <stdlib.h>

#include "augment.h"

typedef struct flip_state {
    double p;
} flip_state;

static int flip_create(const rp_node *params, void **state, rp_error *err) {
    flip_state *f = malloc(sizeof *f);
    if (!f) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    f->p = rp_param_double(params, "p");
    *state = f;
    return RP_OK;
}

static void flip_rows_f(float *p, int64_t n, int64_t rows, int64_t w) {
    (void)n;
    for (int64_t y = 0; y < rows; y++) {
        float *r = p + y * w;
        for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
            float t = r[a];
            r[a] = r[b];
            r[b] = t;
        }
    }
}

static void flip_rows_i(int32_t *p, int64_t rows, int64_t w) {
    for (int64_t y = 0; y < rows; y++) {
        int32_t *r = p + y * w;
        for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
            int32_t t = r[a];
            r[a] = r[b];
            r[b] = t;
        }
    }
}

static int hflip_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const flip_state *f = state;
    if (aug_check_mask(s, err)) return RP_ERR_FORMAT;
    if (!aug_coin(rng, f->p)) return RP_OK;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    flip_rows_f(s->img.data, C, C * H, W);
    if (s->mask.data) flip_rows_i(s->mask.data, s->mask.h, s->mask.w);
    return RP_OK;
}

static int vflip_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const flip_state *f = state;
    if (aug_check_mask(s, err)) return RP_ERR_FORMAT;
    if (!aug_coin(rng, f->p)) return RP_OK;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    for (int64_t c = 0; c < C; c++) {
        float *p = s->img.data + c * H * W;
        for (int64_t a = 0, b = H - 1; a < b; a++, b--)
            for (int64_t x = 0; x < W; x++) {
                float t = p[a * W + x];
                p[a * W + x] = p[b * W + x];
                p[b * W + x] = t;
            }
    }
    if (s->mask.data) {
        int32_t *m = s->mask.data;
        int64_t mh = s->mask.h, mw = s->mask.w;
        for (int64_t a = 0, b = mh - 1; a < b; a++, b--)
            for (int64_t x = 0; x < mw; x++) {
                int32_t t = m[a * mw + x];
                m[a * mw + x] = m[b * mw + x];
                m[b * mw + x] = t;
            }
    }
    return RP_OK;
}

const struct rp_transform_ops tf_hflip = {.create = flip_create, .apply = hflip_apply, .destroy = free};
const struct rp_transform_ops tf_vflip = {.create = flip_create, .apply = vflip_apply, .destroy = free};

RP_COMPONENT(RP_COMP_TRANSFORM, "hflip",
             "random horizontal flip (p)", tf_hflip)

RP_COMPONENT(RP_COMP_TRANSFORM, "vflip",
             "random vertical flip (p)", tf_vflip)
