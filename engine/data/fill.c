/* Erasing / padding fill values (see runpipe/data.h): shared by the augment
 * transforms and CAM-guided erasing. */
#include <string.h>

#include "runpipe/runpipe.h"

int rp_fill_parse(const rp_node *params, const char *key, int allow_modes, rp_fill *f,
                  rp_error *err) {
    memset(f, 0, sizeof *f);
    f->n = 1;
    const rp_node *n = rp_node_get(params, key);
    if (!n || n->kind == RP_NODE_NULL) return RP_OK;
    if (n->kind == RP_NODE_SEQ) {
        if (n->n == 0 || n->n > 8)
            return rp_error_at(err, n, RP_ERR_INVALID, "'%s': expected 1 to 8 per-channel values",
                               key);
        for (size_t i = 0; i < n->n; i++) {
            double v;
            int st = rp_node_as_double(n->items[i], &v, err);
            if (st) return st;
            f->v[i] = (float)v;
        }
        f->n = (int)n->n;
        return RP_OK;
    }
    if (rp_node_is_number(n)) {
        double v;
        int st = rp_node_as_double(n, &v, err);
        if (st) return st;
        f->v[0] = (float)v;
        return RP_OK;
    }
    const char *s = rp_node_str(n);
    if (allow_modes && s) {
        if (!strcmp(s, "mean")) f->mode = RP_FILL_MEAN;
        else if (!strcmp(s, "random")) f->mode = RP_FILL_RANDOM;
        else if (!strcmp(s, "uniform")) f->mode = RP_FILL_UNIFORM;
        else
            return rp_error_at(err, n, RP_ERR_INVALID,
                               "'%s': expected a number, a per-channel list, or one of mean, "
                               "random, uniform; got '%s'",
                               key, s);
        return RP_OK;
    }
    return rp_error_at(err, n, RP_ERR_INVALID, "'%s': expected a number or a per-channel list",
                       key);
}

int rp_fill_check(const rp_fill *f, int64_t channels, const char *what, rp_error *err) {
    if (f->mode == RP_FILL_CONST && f->n != 1 && f->n != channels)
        return rp_error_set(err, RP_ERR_INVALID, "%s: %d fill values for an image of %lld channels",
                            what, f->n, (long long)channels);
    return RP_OK;
}

float rp_fill_value(const rp_fill *f, const rp_tensor *img, int ch) {
    if (f->mode == RP_FILL_MEAN) {
        size_t hw = (size_t)img->shape[1] * (size_t)img->shape[2];
        const float *p = img->data + (size_t)ch * hw;
        double acc = 0;
        for (size_t i = 0; i < hw; i++) acc += p[i];
        return (float)(acc / (double)hw);
    }
    if (f->n == 1) return f->v[0];
    return ch < f->n ? f->v[ch] : f->v[0];
}

void rp_fill_box(rp_tensor *img, int64_t top, int64_t left, int64_t h, int64_t w, const rp_fill *f,
                 rp_rng *rng) {
    int64_t C = img->shape[0], H = img->shape[1], W = img->shape[2];
    int64_t y0 = top < 0 ? 0 : top, x0 = left < 0 ? 0 : left;
    int64_t y1 = top + h > H ? H : top + h, x1 = left + w > W ? W : left + w;
    if (y1 <= y0 || x1 <= x0) return;
    for (int64_t c = 0; c < C; c++) {
        float *p = img->data + (size_t)c * H * W;
        if (f->mode == RP_FILL_RANDOM || f->mode == RP_FILL_UNIFORM) {
            for (int64_t y = y0; y < y1; y++)
                for (int64_t x = x0; x < x1; x++)
                    p[y * W + x] = f->mode == RP_FILL_RANDOM ? rp_rng_normal(rng)
                                                              : rp_rng_uniformf(rng);
        } else {
            float v = rp_fill_value(f, img, (int)c);
            for (int64_t y = y0; y < y1; y++)
                for (int64_t x = x0; x < x1; x++) p[y * W + x] = v;
        }
    }
}
