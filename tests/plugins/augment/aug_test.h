/* Helpers for the augment plugin tests: build a transform from YAML params
 * through its schema (defaults filled, as the engine does), make samples. */
#ifndef AUG_TEST_H
#define AUG_TEST_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../../plugins/augment/augment.h"
#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

/* The transforms under test, linked from the plugin's objects. */
extern const struct rp_transform_ops tf_hflip, tf_vflip, tf_rotate, tf_pad, tf_random_crop,
    tf_random_resized_crop, tf_resize, tf_center_crop, tf_color_jitter, tf_grayscale,
    tf_normalize, tf_to_gray3, tf_random_erasing, tf_cutout, tf_hide_and_seek, tf_gridmask,
    tf_cross_line, tf_upper_bar, tf_middle_box, tf_bar_row;

typedef struct tfx {
    const struct rp_transform_ops *ops;
    void *state;
} tfx;

static inline void aug_test_init(void) {
    static int done;
    if (!done) rp_schema_dirs_init();
    done = 1;
}

/* Create transform `name` with params YAML text (e.g. "{p: 1}"); asserts. */
static inline tfx tf_make(const struct rp_transform_ops *ops, const char *name, const char *yaml) {
    aug_test_init();
    rp_error err;
    rp_node *n = NULL, *filled = NULL;
    RP_ASSERT_OK(rp_node_parse_string(yaml ? yaml : "{}", name, &n, &err), &err);
    RP_ASSERT_OK(rp_component_params(RP_COMP_TRANSFORM, name, n, &filled, &err), &err);
    tfx t = {ops, NULL};
    RP_ASSERT_OK(ops->create(filled, &t.state, &err), &err);
    rp_node_free(n);
    rp_node_free(filled);
    return t;
}

/* Expect create (or schema validation) to fail; returns the message. */
static inline const char *tf_make_fails(const struct rp_transform_ops *ops, const char *name,
                                        const char *yaml) {
    aug_test_init();
    static rp_error err;
    rp_node *n = NULL, *filled = NULL;
    RP_ASSERT_OK(rp_node_parse_string(yaml, name, &n, &err), &err);
    int st = rp_component_params(RP_COMP_TRANSFORM, name, n, &filled, &err);
    void *state = NULL;
    if (!st) st = ops->create(filled, &state, &err);
    assert_int_not_equal(st, RP_OK);
    rp_node_free(n);
    rp_node_free(filled);
    return err.msg;
}

static inline void tf_free(tfx *t) {
    t->ops->destroy(t->state);
    t->state = NULL;
}

static inline int tf_apply(const tfx *t, rp_sample *s, uint64_t draw, rp_error *err) {
    rp_rng rng;
    rp_rng_init(&rng, 1234, 77, 0, draw);
    return t->ops->apply(t->state, s, &rng, err);
}

/* Sample [c, h, w] with pixel (c, y, x) = (c*1000 + y*100 + x) / 10000 — every
 * value distinct, so geometry can be read back. */
static inline void sample_ramp(rp_sample *s, int64_t c, int64_t h, int64_t w, int with_mask) {
    rp_error err;
    RP_ASSERT_OK(rp_sample_resize(s, c, h, w, &err), &err);
    for (int64_t k = 0; k < c; k++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                s->img.data[(k * h + y) * w + x] = (float)(k * 1000 + y * 100 + x) / 10000.0f;
    if (!with_mask) {
        free(s->mask.data);
        memset(&s->mask, 0, sizeof s->mask);
    } else {
        RP_ASSERT_OK(rp_mask_resize(&s->mask, h, w, &err), &err);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) s->mask.data[y * w + x] = (int32_t)(y * 100 + x);
    }
}

static inline float px(const rp_sample *s, int64_t c, int64_t y, int64_t x) {
    return s->img.data[(c * s->img.shape[1] + y) * s->img.shape[2] + x];
}

/* Number of pixels (over channel 0) equal to v. */
static inline int64_t count_eq(const rp_sample *s, float v) {
    int64_t n = 0, hw = s->img.shape[1] * s->img.shape[2];
    for (int64_t i = 0; i < hw; i++) n += s->img.data[i] == v;
    return n;
}

static inline void fill_const(rp_sample *s, int64_t c, int64_t h, int64_t w, float v) {
    rp_error err;
    RP_ASSERT_OK(rp_sample_resize(s, c, h, w, &err), &err);
    for (size_t i = 0; i < s->img.numel; i++) s->img.data[i] = v;
}

#endif
