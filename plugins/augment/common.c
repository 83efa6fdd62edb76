/* augment plugin — helpers shared by the transforms (see augment.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "runpipe/image.h"

int aug_check_mask(const rp_sample *s, rp_error *err) {
    if (s->mask.data && (s->mask.h != s->img.shape[1] || s->mask.w != s->img.shape[2]))
        return rp_error_set(err, RP_ERR_FORMAT, "mask is %lldx%lld but the image is %lldx%lld",
                            (long long)s->mask.h, (long long)s->mask.w,
                            (long long)s->img.shape[1], (long long)s->img.shape[2]);
    return RP_OK;
}

/* ---- scratch ------------------------------------------------------------------- */

float *aug_begin(rp_sample *s, int64_t c, int64_t h, int64_t w, rp_error *err) {
    int64_t shape[3] = {c, h, w};
    if (c <= 0 || h <= 0 || w <= 0) {
        rp_error_set(err, RP_ERR_INVALID, "empty output image [%lld, %lld, %lld]", (long long)c,
                     (long long)h, (long long)w);
        return NULL;
    }
    s->work.owns = 1;
    if (rp_tensor_reshape_alloc(&s->work, 3, shape, err)) return NULL;
    return s->work.data;
}

void aug_commit(rp_sample *s) {
    rp_tensor t = s->img;
    s->img = s->work;
    s->work = t;
}

int32_t *aug_begin_mask(rp_sample *s, int64_t h, int64_t w, rp_error *err) {
    if (rp_mask_resize(&s->work_mask, h, w, err)) return NULL;
    return s->work_mask.data;
}

void aug_commit_mask(rp_sample *s) {
    rp_mask m = s->mask;
    s->mask = s->work_mask;
    s->work_mask = m;
}

/* ---- pad / crop / resize --------------------------------------------------------- */

int aug_pad_mode(const char *s) {
    if (!s || !strcmp(s, "constant")) return AUG_PAD_CONSTANT;
    if (!strcmp(s, "edge")) return AUG_PAD_EDGE;
    if (!strcmp(s, "reflect")) return AUG_PAD_REFLECT;
    if (!strcmp(s, "symmetric")) return AUG_PAD_SYMMETRIC;
    return -1;
}

/* Source index for padded coordinate i in [-before, n + after), or -1 for
 * constant. reflect: no edge repeat (d c b | a b c d | c b a); symmetric:
 * edge repeated (b a | a b c d | d c). Loops for pads larger than n. */
static int64_t pad_src(int64_t i, int64_t n, int mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case AUG_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case AUG_PAD_REFLECT: {
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1);
        int64_t k = i % period;
        if (k < 0) k += period;
        return k < n ? k : period - k;
    }
    case AUG_PAD_SYMMETRIC: {
        int64_t period = 2 * n;
        int64_t k = i % period;
        if (k < 0) k += period;
        return k < n ? k : period - 1 - k;
    }
    default: return -1;
    }
}

int aug_pad(rp_sample *s, int64_t l, int64_t t, int64_t r, int64_t b, int mode,
            const aug_fill *fill, int32_t mask_fill, rp_error *err) {
    if (aug_check_mask(s, err)) return RP_ERR_FORMAT;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    if (l < 0 || t < 0 || r < 0 || b < 0)
        return rp_error_set(err, RP_ERR_INVALID, "negative padding");
    if (mode == AUG_PAD_REFLECT && (l >= W || r >= W || t >= H || b >= H))
        return rp_error_set(err, RP_ERR_INVALID,
                            "reflect padding (%lld, %lld, %lld, %lld) must be smaller than the "
                            "image (%lldx%lld), as in torchvision",
                            (long long)l, (long long)t, (long long)r, (long long)b, (long long)H,
                            (long long)W);
    int64_t OH = H + t + b, OW = W + l + r;
    if (fill) {
        int st = aug_check_fill(fill, s, "pad", err);
        if (st) return st;
    }
    float *o = aug_begin(s, C, OH, OW, err);
    if (!o) return err ? err->status : RP_ERR_NOMEM;
    for (int64_t c = 0; c < C; c++) {
        const float *p = s->img.data + (size_t)c * H * W;
        float fv = fill ? aug_fill_value(fill, s, (int)c) : 0.0f;
        float *q = o + (size_t)c * OH * OW;
        for (int64_t y = 0; y < OH; y++) {
            int64_t sy = pad_src(y - t, H, mode);
            for (int64_t x = 0; x < OW; x++) {
                int64_t sx = pad_src(x - l, W, mode);
                q[y * OW + x] = (sy < 0 || sx < 0) ? fv : p[sy * W + sx];
            }
        }
    }
    if (s->mask.data) {
        int32_t *m = aug_begin_mask(s, OH, OW, err);
        if (!m) return err ? err->status : RP_ERR_NOMEM;
        for (int64_t y = 0; y < OH; y++) {
            int64_t sy = pad_src(y - t, H, mode);
            for (int64_t x = 0; x < OW; x++) {
                int64_t sx = pad_src(x - l, W, mode);
                m[y * OW + x] = (sy < 0 || sx < 0) ? mask_fill : s->mask.data[sy * W + sx];
            }
        }
        aug_commit_mask(s);
    }
    aug_commit(s);
    return RP_OK;
}

int aug_crop(rp_sample *s, int64_t top, int64_t left, int64_t h, int64_t w,
             const aug_fill *fill, int32_t mask_fill, rp_error *err) {
    if (aug_check_mask(s, err)) return RP_ERR_FORMAT;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    if (top == 0 && left == 0 && h == H && w == W) return RP_OK;
    float *o = aug_begin(s, C, h, w, err);
    if (!o) return err ? err->status : RP_ERR_NOMEM;
    for (int64_t c = 0; c < C; c++) {
        const float *p = s->img.data + (size_t)c * H * W;
        float fv = fill ? aug_fill_value(fill, s, (int)c) : 0.0f;
        float *q = o + (size_t)c * h * w;
        for (int64_t y = 0; y < h; y++) {
            int64_t sy = top + y;
            if (sy < 0 || sy >= H) {
                for (int64_t x = 0; x < w; x++) q[y * w + x] = fv;
                continue;
            }
            if (left >= 0 && left + w <= W) {
                memcpy(q + y * w, p + sy * W + left, (size_t)w * sizeof(float));
                continue;
            }
            for (int64_t x = 0; x < w; x++) {
                int64_t sx = left + x;
                q[y * w + x] = (sx < 0 || sx >= W) ? fv : p[sy * W + sx];
            }
        }
    }
    if (s->mask.data) {
        int32_t *m = aug_begin_mask(s, h, w, err);
        if (!m) return err ? err->status : RP_ERR_NOMEM;
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                int64_t sy = top + y, sx = left + x;
                m[y * w + x] = (sy < 0 || sy >= H || sx < 0 || sx >= W)
                                   ? mask_fill
                                   : s->mask.data[sy * W + sx];
            }
        aug_commit_mask(s);
    }
    aug_commit(s);
    return RP_OK;
}

int aug_interp(const char *s) {
    if (!s || !strcmp(s, "bilinear")) return RP_INTERP_BILINEAR;
    if (!strcmp(s, "nearest")) return RP_INTERP_NEAREST;
    if (!strcmp(s, "area")) return RP_INTERP_AREA;
    return -1;
}

int aug_resize(rp_sample *s, int64_t h, int64_t w, int interp, rp_error *err) {
    if (aug_check_mask(s, err)) return RP_ERR_FORMAT;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    if (h == H && w == W) return RP_OK;
    float *o = aug_begin(s, C, h, w, err);
    if (!o) return err ? err->status : RP_ERR_NOMEM;
    rp_image_resize_f32(s->img.data, (int)W, (int)H, (int)C, o, (int)w, (int)h, interp);
    if (s->mask.data) {
        int32_t *m = aug_begin_mask(s, h, w, err);
        if (!m) return err ? err->status : RP_ERR_NOMEM;
        rp_image_resize_i32(s->mask.data, (int)W, (int)H, m, (int)w, (int)h);
        aug_commit_mask(s);
    }
    aug_commit(s);
    return RP_OK;
}

/* ---- params ------------------------------------------------------------------------- */

int aug_param_size(const rp_node *p, const char *key, int64_t *h, int64_t *w) {
    const rp_node *n = rp_node_get(p, key);
    if (!n || n->kind == RP_NODE_NULL) return 0;
    if (n->kind == RP_NODE_SEQ) {
        int64_t a = 0, b = 0;
        if (n->n < 1 || rp_node_as_int(n->items[0], &a, NULL)) return 0;
        b = a;
        if (n->n >= 2 && rp_node_as_int(n->items[1], &b, NULL)) return 0;
        *h = a;
        *w = b;
        return n->n >= 2 ? 2 : 1;
    }
    int64_t v;
    if (rp_node_as_int(n, &v, NULL)) return 0;
    *h = *w = v;
    return 1;
}

int aug_param_range(const rp_node *p, const char *key, double center, double floor_,
                    double *lo, double *hi, rp_error *err) {
    const rp_node *n = rp_node_get(p, key);
    *lo = *hi = center;
    if (!n || n->kind == RP_NODE_NULL) return RP_OK;
    if (n->kind == RP_NODE_SEQ) {
        if (n->n != 2) return rp_error_at(err, n, RP_ERR_INVALID, "'%s': expected [min, max]", key);
        int st = rp_node_as_double(n->items[0], lo, err);
        if (!st) st = rp_node_as_double(n->items[1], hi, err);
        if (st) return st;
        if (*lo > *hi)
            return rp_error_at(err, n, RP_ERR_INVALID, "'%s': min %g is above max %g", key, *lo, *hi);
        return RP_OK;
    }
    double v;
    int st = rp_node_as_double(n, &v, err);
    if (st) return st;
    if (v < 0) return rp_error_at(err, n, RP_ERR_INVALID, "'%s': a single value must be >= 0", key);
    *lo = center - v;
    *hi = center + v;
    if (*lo < floor_) *lo = floor_;
    return RP_OK;
}
