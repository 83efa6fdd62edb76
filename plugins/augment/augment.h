/* augment plugin — internal: transform ops tables, stage runs, helpers shared
 * by the transforms (fill values, scratch buffers, crop/pad/resize). */
#ifndef RP_AUGMENT_H
#define RP_AUGMENT_H

#include "runpipe/runpipe.h"

/* stages */
int aug_run_augment(rp_stage *st, rp_error *err);
int aug_run_preview(rp_stage *st, rp_error *err);
int aug_run_stats(rp_stage *st, rp_error *err);

/* ---- fill values -------------------------------------------------------------
 * `fill`/`value` params: a number, a per-channel list, or (where allowed)
 * "mean" (per-channel mean of the image), "random" (standard normal per
 * pixel, torchvision's value='random'), "uniform" (U[0,1) per pixel). */
typedef rp_fill aug_fill;
enum { AUG_FILL_CONST = RP_FILL_CONST, AUG_FILL_MEAN = RP_FILL_MEAN, AUG_FILL_RANDOM = RP_FILL_RANDOM,
       AUG_FILL_UNIFORM = RP_FILL_UNIFORM };
static inline int aug_parse_fill(const rp_node *params, const char *key, int allow_modes,
                                 aug_fill *f, rp_error *err) {
    return rp_fill_parse(params, key, allow_modes, f, err);
}
/* Per-channel constant for channel ch (CONST mode) or the channel mean. */
static inline float aug_fill_value(const aug_fill *f, const rp_sample *s, int ch) {
    return rp_fill_value(f, &s->img, ch);
}
/* Check a CONST fill has 1 or C values. */
static inline int aug_check_fill(const aug_fill *f, const rp_sample *s, const char *what,
                                 rp_error *err) {
    return rp_fill_check(f, s->img.shape[0], what, err);
}
/* Fill rows [top, top+h) x cols [left, left+w) (clipped) of every channel. */
static inline void aug_fill_box(rp_sample *s, int64_t top, int64_t left, int64_t h, int64_t w,
                                const aug_fill *f, rp_rng *rng) {
    rp_fill_box(&s->img, top, left, h, w, f, rng);
}

/* ---- geometry helpers ---------------------------------------------------------- */
/* Error when a mask is present but not the image's size. */
int aug_check_mask(const rp_sample *s, rp_error *err);
/* Scratch image of [c, h, w] in s->work; aug_commit swaps it into s->img. */
float *aug_begin(rp_sample *s, int64_t c, int64_t h, int64_t w, rp_error *err);
void aug_commit(rp_sample *s);
int32_t *aug_begin_mask(rp_sample *s, int64_t h, int64_t w, rp_error *err);
void aug_commit_mask(rp_sample *s);

enum { AUG_PAD_CONSTANT = 0, AUG_PAD_EDGE, AUG_PAD_REFLECT, AUG_PAD_SYMMETRIC };
int aug_pad_mode(const char *s);
/* Pad left/top/right/bottom (torchvision F.pad semantics). Mask padded with
 * the same mode, constant → mask_fill. */
int aug_pad(rp_sample *s, int64_t l, int64_t t, int64_t r, int64_t b, int mode,
            const aug_fill *fill, int32_t mask_fill, rp_error *err);
/* Crop [top, top+h) x [left, left+w); parts outside the image get `fill`
 * (0 when NULL) and mask_fill. */
int aug_crop(rp_sample *s, int64_t top, int64_t left, int64_t h, int64_t w,
             const aug_fill *fill, int32_t mask_fill, rp_error *err);
/* Resize to [h, w] (interp: image.h RP_INTERP_*); masks nearest. */
int aug_resize(rp_sample *s, int64_t h, int64_t w, int interp, rp_error *err);
int aug_interp(const char *s);

/* ---- params -------------------------------------------------------------------- */
/* `size`: an integer n (→ n x n, or shorter side for resize) or [h, w].
 * Returns count read (1 or 2), 0 absent. */
int aug_param_size(const rp_node *p, const char *key, int64_t *h, int64_t *w);
/* A range [lo, hi] from a list, or from one number x as [c - x, c + x]
 * clamped below at `floor_` (torchvision ColorJitter/RandomRotation rule). */
int aug_param_range(const rp_node *p, const char *key, double center, double floor_,
                    double *lo, double *hi, rp_error *err);

/* torchvision F.adjust_* on [C, HW] in place (colour jitter's parts);
 * saturation needs a [HW] workspace; saturation and hue skip C != 3. */
void aug_adjust_brightness(float *x, int64_t C, int64_t HW, float f);
void aug_adjust_contrast(float *x, int64_t C, int64_t HW, float f);
void aug_adjust_saturation(float *x, int64_t C, int64_t HW, float f, float *gray);
void aug_adjust_hue(float *x, int64_t C, int64_t HW, float f);

/* Draw helpers matching torchvision's: torch.rand(1) < p. */
static inline int aug_coin(rp_rng *rng, double p) { return p >= 1.0 || rp_rng_uniform(rng) < p; }

/* ITU-R 601-2 luma (torchvision rgb_to_grayscale). */
#define AUG_LUMA_R 0.2989f
#define AUG_LUMA_G 0.587f
#define AUG_LUMA_B 0.114f

#endif
