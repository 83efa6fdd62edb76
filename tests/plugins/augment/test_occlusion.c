/* S0 occlusions and the colour/normalisation transforms. */
#include "aug_test.h"

static int64_t zeros_in_rows(const rp_sample *s, int y0, int y1) {
    int64_t n = 0, W = s->img.shape[2];
    for (int y = y0; y < y1; y++)
        for (int64_t x = 0; x < W; x++) n += px(s, 0, y, x) == 0.0f;
    return n;
}

static void test_upper_bar(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_upper_bar, "upper_bar", NULL);
    fill_const(&s, 1, 28, 28, 0.5f);
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    assert_int_equal(zeros_in_rows(&s, 0, 7), 7 * 28); /* round(28 / 4) = 7 rows */
    assert_int_equal(count_eq(&s, 0.0f), 7 * 28);
    fill_const(&s, 3, 32, 32, 0.5f);
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    assert_int_equal(count_eq(&s, 0.0f), 8 * 32);
    tf_free(&t);
    tfx r = tf_make(&tf_upper_bar, "upper_bar", "{rows: 3, fill: 1}");
    fill_const(&s, 1, 28, 28, 0.5f);
    RP_ASSERT_OK(tf_apply(&r, &s, 0, &err), &err);
    assert_int_equal(count_eq(&s, 1.0f), 3 * 28);
    tf_free(&r);
    rp_sample_release(&s);
}

static void test_cross_line_middle_box_bar_row(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx c = tf_make(&tf_cross_line, "cross_line", NULL);
    fill_const(&s, 1, 28, 28, 0.5f);
    RP_ASSERT_OK(tf_apply(&c, &s, 0, &err), &err);
    assert_int_equal(count_eq(&s, 0.0f), 2 * 28 + 2 * 28 - 4);
    assert_float_equal(px(&s, 0, 13, 0), 0, 0);
    assert_float_equal(px(&s, 0, 14, 27), 0, 0);
    assert_float_equal(px(&s, 0, 0, 13), 0, 0);
    assert_float_equal(px(&s, 0, 12, 12), 0.5f, 0);
    tf_free(&c);
    tfx m = tf_make(&tf_middle_box, "middle_box", NULL);
    fill_const(&s, 1, 28, 28, 0.5f);
    RP_ASSERT_OK(tf_apply(&m, &s, 0, &err), &err);
    assert_int_equal(count_eq(&s, 0.0f), 14 * 14);
    assert_float_equal(px(&s, 0, 7, 7), 0, 0);
    assert_float_equal(px(&s, 0, 20, 20), 0, 0);
    assert_float_equal(px(&s, 0, 6, 7), 0.5f, 0);
    assert_float_equal(px(&s, 0, 21, 21), 0.5f, 0);
    tf_free(&m);
    tfx b = tf_make(&tf_bar_row, "bar_row", "{row: 5, fill: [0.1, 0.2, 0.3]}");
    fill_const(&s, 3, 28, 28, 0.5f);
    RP_ASSERT_OK(tf_apply(&b, &s, 0, &err), &err);
    assert_float_equal(px(&s, 0, 5, 3), 0.1f, 0);
    assert_float_equal(px(&s, 2, 5, 3), 0.3f, 0);
    assert_float_equal(px(&s, 0, 4, 3), 0.5f, 0);
    assert_float_equal(px(&s, 0, 6, 3), 0.5f, 0);
    tf_free(&b);
    tfx o = tf_make(&tf_bar_row, "bar_row", "{row: 30}");
    assert_int_equal(tf_apply(&o, &s, 0, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "row 30"));
    tf_free(&o);
    rp_sample_release(&s);
}

static void test_normalize(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_normalize, "normalize", "{preset: fashion_mnist}");
    fill_const(&s, 1, 2, 2, 0.5f);
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    assert_float_equal(s.img.data[3], (0.5f - 0.2860f) / 0.3530f, 1e-6);
    fill_const(&s, 3, 2, 2, 0.5f);
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err); /* one value broadcasts */
    tf_free(&t);
    tfx n = tf_make(&tf_normalize, "normalize", "{mean: [0.5, 0.4], std: [0.25, 0.5]}");
    fill_const(&s, 2, 1, 1, 0.5f);
    RP_ASSERT_OK(tf_apply(&n, &s, 0, &err), &err);
    assert_float_equal(s.img.data[0], 0.0f, 0);
    assert_float_equal(s.img.data[1], 0.2f, 1e-6);
    fill_const(&s, 3, 1, 1, 0.5f);
    assert_int_equal(tf_apply(&n, &s, 0, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "has 3"));
    tf_free(&n);
    const char *m = tf_make_fails(&tf_normalize, "normalize", "{}");
    assert_non_null(strstr(m, "preset"));
    rp_sample_release(&s);
}

static void test_gray_and_gray3(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx g = tf_make(&tf_grayscale, "grayscale", "{channels: 3}");
    sample_ramp(&s, 3, 4, 4, 0);
    RP_ASSERT_OK(tf_apply(&g, &s, 0, &err), &err);
    assert_int_equal(s.img.shape[0], 3);
    assert_memory_equal(s.img.data, s.img.data + 16, 16 * sizeof(float));
    float want = 0.2989f * 0.0001f + 0.587f * 0.1001f + 0.114f * 0.2001f;
    assert_float_equal(px(&s, 0, 0, 1), want, 1e-6);
    tf_free(&g);
    tfx t3 = tf_make(&tf_to_gray3, "to_gray3", NULL);
    sample_ramp(&s, 1, 4, 4, 0);
    RP_ASSERT_OK(tf_apply(&t3, &s, 0, &err), &err);
    assert_int_equal(s.img.shape[0], 3);
    assert_memory_equal(s.img.data + 32, s.img.data, 16 * sizeof(float));
    int c = 1, h = 4, w = 4;
    tf_to_gray3.out_shape(t3.state, &c, &h, &w);
    assert_int_equal(c, 3);
    sample_ramp(&s, 2, 4, 4, 0);
    assert_int_equal(tf_apply(&t3, &s, 0, &err), RP_ERR_INVALID);
    tf_free(&t3);
    rp_sample_release(&s);
}

static void test_color_jitter(void **state) {
    (void)state;
    rp_sample s, t2;
    rp_sample_init(&s);
    rp_sample_init(&t2);
    rp_error err;
    /* fixed brightness factor: exactly clamp(1.5 x) */
    tfx b = tf_make(&tf_color_jitter, "color_jitter", "{brightness: [1.5, 1.5]}");
    sample_ramp(&s, 3, 4, 4, 0);
    RP_ASSERT_OK(tf_apply(&b, &s, 0, &err), &err);
    sample_ramp(&t2, 3, 4, 4, 0);
    for (size_t i = 0; i < 48; i++) {
        float v = 1.5f * t2.img.data[i];
        assert_float_equal(s.img.data[i], v > 1 ? 1 : v, 1e-7);
    }
    tf_free(&b);
    /* S4's jitter: same draw → same output, different draws differ, in [0, 1] */
    tfx j = tf_make(&tf_color_jitter, "color_jitter",
                    "{brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.1}");
    sample_ramp(&s, 3, 8, 8, 0);
    sample_ramp(&t2, 3, 8, 8, 0);
    RP_ASSERT_OK(tf_apply(&j, &s, 4, &err), &err);
    RP_ASSERT_OK(tf_apply(&j, &t2, 4, &err), &err);
    assert_memory_equal(s.img.data, t2.img.data, 192 * sizeof(float));
    sample_ramp(&t2, 3, 8, 8, 0);
    RP_ASSERT_OK(tf_apply(&j, &t2, 5, &err), &err);
    assert_memory_not_equal(s.img.data, t2.img.data, 192 * sizeof(float));
    for (int i = 0; i < 192; i++) assert_true(s.img.data[i] >= 0 && s.img.data[i] <= 1);
    /* 1-channel images: brightness/contrast only, no error */
    sample_ramp(&s, 1, 8, 8, 0);
    RP_ASSERT_OK(tf_apply(&j, &s, 4, &err), &err);
    tf_free(&j);
    const char *m = tf_make_fails(&tf_color_jitter, "color_jitter", "{hue: 0.7}");
    assert_non_null(strstr(m, "hue"));
    rp_sample_release(&s);
    rp_sample_release(&t2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upper_bar),      cmocka_unit_test(test_cross_line_middle_box_bar_row),
        cmocka_unit_test(test_normalize),      cmocka_unit_test(test_gray_and_gray3),
        cmocka_unit_test(test_color_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
