/* Deterministic transform kernels against torchvision (values from
 * tests/fixtures/data/gen_transform_golden.py, PyTorch 1.13). */
#include <stdio.h>

#include "aug_test.h"
#include "runpipe/image.h"

static char *golden_text;

static const float *golden(const char *name, size_t *n) {
    static float buf[8][4096];
    static int slot;
    if (!golden_text) {
        rp_error err;
        size_t len;
        RP_ASSERT_OK(rp_read_file(rp_test_path(rp_test_src(), "tests/fixtures/data/transform_golden.txt"),
                                  &golden_text, &len, &err),
                     &err);
    }
    size_t nl = strlen(name);
    for (const char *p = golden_text; p && *p;) {
        if (!strncmp(p, name, nl) && p[nl] == ' ') {
            char *e;
            long cnt = strtol(p + nl + 1, &e, 10);
            float *o = buf[slot++ % 8];
            assert_true(cnt > 0 && cnt <= 4096);
            for (long i = 0; i < cnt; i++) o[i] = strtof(e, &e);
            *n = (size_t)cnt;
            return o;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    fail_msg("golden array '%s' missing", name);
    return NULL;
}

static void load_input(rp_sample *s) {
    size_t n;
    const float *x = golden("input", &n);
    assert_int_equal(n, 90);
    rp_error err;
    RP_ASSERT_OK(rp_sample_resize(s, 3, 5, 6, &err), &err);
    memcpy(s->img.data, x, n * sizeof(float));
}

static void check(const rp_sample *s, const char *name, double atol) {
    size_t n;
    const float *g = golden(name, &n);
    assert_int_equal(s->img.numel, n);
    rp_test_close(s->img.data, g, n, 0, atol, name);
}

static void test_color_adjust(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    float gray[30];
    load_input(&s);
    aug_adjust_brightness(s.img.data, 3, 30, 1.3f);
    check(&s, "brightness_1.3", 1e-6);
    load_input(&s);
    aug_adjust_contrast(s.img.data, 3, 30, 0.6f);
    check(&s, "contrast_0.6", 1e-6);
    load_input(&s);
    aug_adjust_saturation(s.img.data, 3, 30, 1.7f, gray);
    check(&s, "saturation_1.7", 1e-6);
    load_input(&s);
    aug_adjust_hue(s.img.data, 3, 30, 0.23f);
    check(&s, "hue_0.23", 2e-6);
    load_input(&s);
    aug_adjust_hue(s.img.data, 3, 30, -0.4f);
    check(&s, "hue_-0.4", 2e-6);
    rp_sample_release(&s);
}

static void test_grayscale_normalize(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    load_input(&s);
    tfx g = tf_make(&tf_grayscale, "grayscale", "{channels: 1}");
    RP_ASSERT_OK(tf_apply(&g, &s, 0, &err), &err);
    check(&s, "gray1", 1e-6);
    tf_free(&g);
    load_input(&s);
    tfx n = tf_make(&tf_normalize, "normalize", "{preset: imagenet}");
    RP_ASSERT_OK(tf_apply(&n, &s, 0, &err), &err);
    check(&s, "normalize_imagenet", 1e-6);
    tf_free(&n);
    rp_sample_release(&s);
}

static void test_pad_modes(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    const char *modes[3] = {"reflect", "symmetric", "edge"};
    for (int m = 0; m < 3; m++) {
        char yaml[128], name[64];
        snprintf(yaml, sizeof yaml, "{padding: [2, 1, 3, 2], padding_mode: %s}", modes[m]);
        snprintf(name, sizeof name, "pad_%s_2_1_3_2", modes[m]);
        load_input(&s);
        tfx t = tf_make(&tf_pad, "pad", yaml);
        RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
        assert_int_equal(s.img.shape[1], 5 + 1 + 2);
        assert_int_equal(s.img.shape[2], 6 + 2 + 3);
        check(&s, name, 0);
        tf_free(&t);
    }
    load_input(&s);
    tfx t = tf_make(&tf_pad, "pad", "{padding: 1, fill: 0.5}");
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    check(&s, "pad_constant_1_0.5", 0);
    tf_free(&t);
    rp_sample_release(&s);
}

static void test_resize_kernels(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    struct {
        const char *yaml, *name;
        int h, w;
    } cases[] = {
        {"{size: [3, 4]}", "resize_3x4_bilinear", 3, 4},
        {"{size: [8, 9]}", "resize_8x9_bilinear", 8, 9},
        {"{size: [3, 4], interpolation: nearest}", "resize_3x4_nearest", 3, 4},
        {"{size: [7, 4], interpolation: nearest}", "resize_7x4_nearest", 7, 4},
        {"{size: [2, 3], interpolation: area}", "resize_2x3_area", 2, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        load_input(&s);
        tfx t = tf_make(&tf_resize, "resize", cases[k].yaml);
        RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
        assert_int_equal(s.img.shape[1], cases[k].h);
        assert_int_equal(s.img.shape[2], cases[k].w);
        check(&s, cases[k].name, 2e-6);
        tf_free(&t);
    }
    rp_sample_release(&s);
}

static void test_center_crop(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    load_input(&s);
    tfx t = tf_make(&tf_center_crop, "center_crop", "{size: [3, 4]}");
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    check(&s, "center_crop_3x4", 0);
    tf_free(&t);
    load_input(&s);
    t = tf_make(&tf_center_crop, "center_crop", "{size: [8, 7]}");
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    check(&s, "center_crop_8x7", 0);
    tf_free(&t);
    rp_sample_release(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_color_adjust),     cmocka_unit_test(test_grayscale_normalize),
        cmocka_unit_test(test_pad_modes),        cmocka_unit_test(test_resize_kernels),
        cmocka_unit_test(test_center_crop),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    free(golden_text);
    return r;
}
