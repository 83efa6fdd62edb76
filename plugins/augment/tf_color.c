/* Colour transforms, torchvision's tensor definitions (functional_tensor):
 *  grayscale  — rgb_to_grayscale: 0.2989 R + 0.587 G + 0.114 B (ITU-R 601-2),
 *               to `channels` 1 or 3 (copies);
 *  to_gray3   — grey image stacked to 3 identical channels (S1's baseline);
 *               a colour input is first converted to luma;
 *  color_jitter — ColorJitter(brightness, contrast, saturation, hue): factors
 *               b ~ U[max(0, 1-B), 1+B] etc., hue ~ U[-H, H], applied in the
 *               random order torch.randperm(4) draws:
 *               brightness: clamp(b x), contrast: clamp(c x + (1-c) mean(gray)),
 *               saturation: clamp(s x + (1-s) gray), hue: RGB→HSV, h += f mod 1,
 *               HSV→RGB. Saturation and hue leave 1-channel images unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"

static inline float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* luma into dst [H*W] */
static void luma(const rp_sample *s, float *dst) {
    int64_t HW = s->img.shape[1] * s->img.shape[2];
    const float *r = s->img.data, *g = r + HW, *b = g + HW;
    if (s->img.shape[0] == 1) {
        memcpy(dst, r, (size_t)HW * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < HW; i++) dst[i] = AUG_LUMA_R * r[i] + AUG_LUMA_G * g[i] + AUG_LUMA_B * b[i];
}

static int check_c(const rp_sample *s, const char *what, rp_error *err) {
    int64_t C = s->img.shape[0];
    if (C != 1 && C != 3)
        return rp_error_set(err, RP_ERR_INVALID, "%s: expected 1 or 3 channels, got %lld", what,
                            (long long)C);
    return RP_OK;
}

/* ---- grayscale / to_gray3 --------------------------------------------------------- */

typedef struct gray_state {
    int channels;
} gray_state;

static int gray_create(const rp_node *params, void **state, rp_error *err) {
    gray_state *g = malloc(sizeof *g);
    if (!g) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    g->channels = (int)rp_param_int(params, "channels");
    if (g->channels != 1 && g->channels != 3) {
        free(g);
        return rp_error_at(err, rp_node_get(params, "channels"), RP_ERR_INVALID,
                           "grayscale: 'channels' must be 1 or 3");
    }
    *state = g;
    return RP_OK;
}

static int to_gray(rp_sample *s, int channels, rp_error *err) {
    int st = check_c(s, "grayscale", err);
    if (st) return st;
    int64_t H = s->img.shape[1], W = s->img.shape[2], HW = H * W;
    if (s->img.shape[0] == channels && channels == 1) return RP_OK;
    float *o = aug_begin(s, channels, H, W, err);
    if (!o) return err ? err->status : RP_ERR_NOMEM;
    luma(s, o);
    for (int c = 1; c < channels; c++) memcpy(o + c * HW, o, (size_t)HW * sizeof(float));
    aug_commit(s);
    return RP_OK;
}

static int gray_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)rng;
    return to_gray(s, ((const gray_state *)state)->channels, err);
}

static void gray_shape(const void *state, int *c, int *h, int *w) {
    (void)h, (void)w;
    *c = ((const gray_state *)state)->channels;
}

static int gray3_create(const rp_node *params, void **state, rp_error *err) {
    (void)params;
    gray_state *g = malloc(sizeof *g);
    if (!g) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    g->channels = 3;
    *state = g;
    return RP_OK;
}

const struct rp_transform_ops tf_grayscale = {.create = gray_create, .apply = gray_apply, .destroy = free, .out_shape = gray_shape};
const struct rp_transform_ops tf_to_gray3 = {.create = gray3_create, .apply = gray_apply, .destroy = free, .out_shape = gray_shape};

/* ---- color_jitter ------------------------------------------------------------------- */

typedef struct cj_state {
    double b[2], c[2], s[2], h[2];
    int has_b, has_c, has_s, has_h;
} cj_state;

static int cj_create(const rp_node *params, void **state, rp_error *err) {
    cj_state *j = calloc(1, sizeof *j);
    if (!j) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int st = aug_param_range(params, "brightness", 1, 0, &j->b[0], &j->b[1], err);
    if (!st) st = aug_param_range(params, "contrast", 1, 0, &j->c[0], &j->c[1], err);
    if (!st) st = aug_param_range(params, "saturation", 1, 0, &j->s[0], &j->s[1], err);
    if (!st) st = aug_param_range(params, "hue", 0, -0.5, &j->h[0], &j->h[1], err);
    if (!st && (j->h[0] < -0.5 || j->h[1] > 0.5))
        st = rp_error_at(err, rp_node_get(params, "hue"), RP_ERR_INVALID,
                         "color_jitter: 'hue' must lie in [-0.5, 0.5]");
    if (!st && (j->b[0] < 0 || j->c[0] < 0 || j->s[0] < 0))
        st = rp_error_at(err, params, RP_ERR_INVALID,
                         "color_jitter: brightness/contrast/saturation factors must be >= 0");
    if (st) {
        free(j);
        return st;
    }
    /* torchvision drops a parameter equal to its identity (1, 1) / (0, 0). */
    j->has_b = !(j->b[0] == 1 && j->b[1] == 1);
    j->has_c = !(j->c[0] == 1 && j->c[1] == 1);
    j->has_s = !(j->s[0] == 1 && j->s[1] == 1);
    j->has_h = !(j->h[0] == 0 && j->h[1] == 0);
    *state = j;
    return RP_OK;
}

static void rgb2hsv(float r, float g, float b, float *h, float *s, float *v) {
    float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
    int eqc = maxc == minc;
    float cr = maxc - minc;
    *s = cr / (eqc ? 1.0f : maxc);
    float crd = eqc ? 1.0f : cr;
    float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    float hr = (maxc == r) ? (bc - gc) : 0.0f;
    float hg = (maxc == g && maxc != r) ? (2.0f + rc - bc) : 0.0f;
    float hb = (maxc != g && maxc != r) ? (4.0f + gc - rc) : 0.0f;
    float hh = hr + hg + hb;
    float t = hh / 6.0f + 1.0f; /* fmod(t, 1) for t in [0, 2): exact */
    *h = t - floorf(t);
    *v = maxc;
}

static void hsv2rgb(float h, float s, float v, float *r, float *g, float *b) {
    float i = floorf(h * 6.0f);
    float f = h * 6.0f - i;
    int ii = ((int)i % 6 + 6) % 6;
    float p = clamp01(v * (1.0f - s));
    float q = clamp01(v * (1.0f - s * f));
    float t = clamp01(v * (1.0f - s * (1.0f - f)));
    switch (ii) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

/* torchvision F.adjust_* on a [C, HW] tensor in [0, 1] (in place). */
void aug_adjust_brightness(float *x, int64_t C, int64_t HW, float f) {
    for (int64_t i = 0; i < C * HW; i++) x[i] = clamp01(f * x[i]);
}

void aug_adjust_contrast(float *x, int64_t C, int64_t HW, float f) {
    double acc = 0;
    if (C == 3)
        for (int64_t i = 0; i < HW; i++)
            acc += AUG_LUMA_R * x[i] + AUG_LUMA_G * x[HW + i] + AUG_LUMA_B * x[2 * HW + i];
    else
        for (int64_t i = 0; i < HW; i++) acc += x[i];
    float mean = (float)(acc / (double)HW);
    for (int64_t i = 0; i < C * HW; i++) x[i] = clamp01(f * x[i] + (1.0f - f) * mean);
}

void aug_adjust_saturation(float *x, int64_t C, int64_t HW, float f, float *gray) {
    if (C != 3) return;
    for (int64_t i = 0; i < HW; i++)
        gray[i] = AUG_LUMA_R * x[i] + AUG_LUMA_G * x[HW + i] + AUG_LUMA_B * x[2 * HW + i];
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < HW; i++)
            x[c * HW + i] = clamp01(f * x[c * HW + i] + (1.0f - f) * gray[i]);
}

void aug_adjust_hue(float *x, int64_t C, int64_t HW, float f) {
    if (C != 3) return;
    for (int64_t i = 0; i < HW; i++) {
        float h, sv, v;
        rgb2hsv(x[i], x[HW + i], x[2 * HW + i], &h, &sv, &v);
        h += f; /* Python-style (h + f) mod 1 for h + f in (-1, 2): exact */
        h -= floorf(h);
        hsv2rgb(h, sv, v, &x[i], &x[HW + i], &x[2 * HW + i]);
    }
}

static int cj_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    const cj_state *j = state;
    int st = check_c(s, "color_jitter", err);
    if (st) return st;
    /* torchvision ColorJitter.get_params: randperm(4), then the factors */
    uint32_t order[4] = {0, 1, 2, 3};
    rp_rng_shuffle(rng, order, 4);
    double fb = j->has_b ? rp_rng_range(rng, j->b[0], j->b[1]) : 1;
    double fc = j->has_c ? rp_rng_range(rng, j->c[0], j->c[1]) : 1;
    double fs = j->has_s ? rp_rng_range(rng, j->s[0], j->s[1]) : 1;
    double fh = j->has_h ? rp_rng_range(rng, j->h[0], j->h[1]) : 0;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2], HW = H * W;
    float *x = s->img.data;
    /* workspace for the grey plane */
    float *gray = NULL;
    if (j->has_s && C == 3) {
        gray = aug_begin(s, 1, H, W, err);
        if (!gray) return err ? err->status : RP_ERR_NOMEM;
    }
    for (int k = 0; k < 4; k++) {
        switch (order[k]) {
        case 0:
            if (j->has_b) aug_adjust_brightness(x, C, HW, (float)fb);
            break;
        case 1:
            if (j->has_c) aug_adjust_contrast(x, C, HW, (float)fc);
            break;
        case 2:
            if (j->has_s) aug_adjust_saturation(x, C, HW, (float)fs, gray);
            break;
        case 3:
            if (j->has_h) aug_adjust_hue(x, C, HW, (float)fh);
            break;
        }
    }
    return RP_OK;
}

const struct rp_transform_ops tf_color_jitter = {.create = cj_create, .apply = cj_apply, .destroy = free};

RP_COMPONENT(RP_COMP_TRANSFORM, "color_jitter",
             "random brightness, contrast, saturation, hue", tf_color_jitter)

RP_COMPONENT(RP_COMP_TRANSFORM, "grayscale",
             "ITU-R 601-2 luma to 1 or 3 channels", tf_grayscale)

RP_COMPONENT(RP_COMP_TRANSFORM, "to_gray3",
             "grey image stacked into 3 channels", tf_to_gray3)
