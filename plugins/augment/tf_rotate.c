/* rotate — torchvision RandomRotation(degrees, interpolation=NEAREST,
 * expand=False, center=None, fill=0): angle ~ U(degrees) (a number d means
 * [-d, d]), counter-clockwise about the image centre, same output size; each
 * output pixel centre is mapped back by the inverse rotation and takes the
 * nearest source pixel (bilinear optional); outside → fill (mask: mask_fill). */
#include <math.h>
#include <stdlib.h>

#include "augment.h"

typedef struct rot_state {
    double lo, hi;
    aug_fill fill;
    int bilinear;
    int32_t mask_fill;
} rot_state;

static int rot_create(const rp_node *params, void **state, rp_error *err) {
    rot_state *r = calloc(1, sizeof *r);
    if (!r) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int st = aug_param_range(params, "degrees", 0.0, -1e9, &r->lo, &r->hi, err);
    if (!st) st = aug_parse_fill(params, "fill", 0, &r->fill, err);
    const char *ip = rp_param_str(params, "interpolation");
    r->bilinear = ip && ip[0] == 'b';
    r->mask_fill = (int32_t)rp_param_int(params, "mask_fill");
    if (st) {
        free(r);
        return st;
    }
    *state = r;
    return RP_OK;
}

static int rot_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const rot_state *r = state;
    int st = aug_check_fill(&r->fill, s, "rotate", err);
    if (!st) st = aug_check_mask(s, err);
    if (st) return st;
    double deg = rp_rng_range(rng, r->lo, r->hi);
    if (deg == 0) return RP_OK;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    double th = deg * 3.14159265358979323846 / 180.0, cs = cos(th), sn = sin(th);
    double cx = W * 0.5, cy = H * 0.5;
    float *o = aug_begin(s, C, H, W, err);
    if (!o) return err ? err->status : RP_ERR_NOMEM;
    int32_t *m = NULL;
    if (s->mask.data) {
        m = aug_begin_mask(s, H, W, err);
        if (!m) return err ? err->status : RP_ERR_NOMEM;
    }
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double ox = x + 0.5 - cx, oy = y + 0.5 - cy;
            /* inverse of a counter-clockwise rotation in y-down coordinates */
            double sx = cs * ox - sn * oy + cx, sy = sn * ox + cs * oy + cy;
            int64_t ix = (int64_t)floor(sx), iy = (int64_t)floor(sy);
            int inside = ix >= 0 && ix < W && iy >= 0 && iy < H;
            for (int64_t c = 0; c < C; c++) {
                const float *p = s->img.data + c * H * W;
                float v;
                if (r->bilinear) {
                    double fx = sx - 0.5, fy = sy - 0.5;
                    int64_t x0 = (int64_t)floor(fx), y0 = (int64_t)floor(fy);
                    double ax = fx - x0, ay = fy - y0, acc = 0;
                    float fv = aug_fill_value(&r->fill, s, (int)c);
                    for (int k = 0; k < 4; k++) {
                        int64_t xx = x0 + (k & 1), yy = y0 + (k >> 1);
                        double wgt = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                        float pv = (xx >= 0 && xx < W && yy >= 0 && yy < H) ? p[yy * W + xx] : fv;
                        acc += wgt * pv;
                    }
                    v = (float)acc;
                } else {
                    v = inside ? p[iy * W + ix] : aug_fill_value(&r->fill, s, (int)c);
                }
                o[(c * H + y) * W + x] = v;
            }
            if (m) m[y * W + x] = inside ? s->mask.data[iy * s->mask.w + ix] : r->mask_fill;
        }
    if (m) aug_commit_mask(s);
    aug_commit(s);
    return RP_OK;
}

const struct rp_transform_ops tf_rotate = {.create = rot_create, .apply = rot_apply, .destroy = free};

RP_COMPONENT(RP_COMP_TRANSFORM, "rotate",
             "random rotation by an angle in a degree range", tf_rotate)
