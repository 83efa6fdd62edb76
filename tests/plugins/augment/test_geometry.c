/* Geometric transforms: flips, pad, random/center crop, random resized crop,
 * resize, rotate — geometry read back from a ramp image, masks follow. */
#include "aug_test.h"

static void test_hflip_vflip(void **state) {
    (void)state;
    rp_sample s, ref;
    rp_sample_init(&s);
    rp_sample_init(&ref);
    rp_error err;
    sample_ramp(&s, 3, 5, 7, 1);
    sample_ramp(&ref, 3, 5, 7, 1);
    tfx h = tf_make(&tf_hflip, "hflip", "{p: 1}");
    RP_ASSERT_OK(tf_apply(&h, &s, 0, &err), &err);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++) assert_float_equal(px(&s, c, y, x), px(&ref, c, y, 6 - x), 0);
    assert_int_equal(s.mask.data[0], 6);
    RP_ASSERT_OK(tf_apply(&h, &s, 1, &err), &err); /* twice = identity */
    assert_memory_equal(s.img.data, ref.img.data, ref.img.numel * sizeof(float));
    assert_memory_equal(s.mask.data, ref.mask.data, 35 * sizeof(int32_t));
    tf_free(&h);
    tfx v = tf_make(&tf_vflip, "vflip", "{p: 1}");
    RP_ASSERT_OK(tf_apply(&v, &s, 0, &err), &err);
    assert_float_equal(px(&s, 2, 0, 3), px(&ref, 2, 4, 3), 0);
    assert_int_equal(s.mask.data[0], 400);
    tf_free(&v);
    /* default p = 0.5: about half of 4000 draws flip */
    tfx d = tf_make(&tf_hflip, "hflip", NULL);
    int flips = 0;
    for (int k = 0; k < 4000; k++) {
        sample_ramp(&s, 1, 2, 3, 0);
        RP_ASSERT_OK(tf_apply(&d, &s, (uint64_t)k, &err), &err);
        flips += px(&s, 0, 0, 0) != 0.0f;
    }
    assert_true(flips > 1850 && flips < 2150);
    tf_free(&d);
    rp_sample_release(&s);
    rp_sample_release(&ref);
}

static void test_pad_geometry_and_mask(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    sample_ramp(&s, 1, 4, 4, 1);
    tfx p = tf_make(&tf_pad, "pad", "{padding: [1, 2], fill: 0.25, mask_fill: 9}");
    RP_ASSERT_OK(tf_apply(&p, &s, 0, &err), &err);
    assert_int_equal(s.img.shape[1], 8);
    assert_int_equal(s.img.shape[2], 6);
    assert_float_equal(px(&s, 0, 0, 0), 0.25f, 0);
    assert_float_equal(px(&s, 0, 2, 1), 0.0f, 0); /* original (0, 0) */
    assert_int_equal(s.mask.h, 8);
    assert_int_equal(s.mask.data[0], 9);
    assert_int_equal(s.mask.data[2 * 6 + 2], 1);
    tf_free(&p);
    int c = 1, h = 4, w = 4;
    tfx q = tf_make(&tf_pad, "pad", "{padding: 3}");
    tf_pad.out_shape(q.state, &c, &h, &w);
    assert_int_equal(h, 10);
    tf_free(&q);
    /* reflect larger than the image: a clear error */
    sample_ramp(&s, 1, 4, 4, 0);
    tfx r = tf_make(&tf_pad, "pad", "{padding: 4, padding_mode: reflect}");
    assert_int_equal(tf_apply(&r, &s, 0, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "reflect"));
    tf_free(&r);
    rp_sample_release(&s);
}

static void test_random_crop_positions_uniform(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_random_crop, "random_crop", "{size: 32, padding: 4, mask_fill: -1}");
    int counts[9][9] = {{0}};
    const int N = 8100;
    for (int k = 0; k < N; k++) {
        sample_ramp(&s, 1, 32, 32, 1);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        assert_int_equal(s.img.shape[1], 32);
        assert_int_equal(s.img.shape[2], 32);
        /* output (16, 16) always comes from the image: original (oy, ox) =
         * (16 + i - 4, 16 + j - 4) for crop top-left (i, j) */
        int32_t m = s.mask.data[16 * 32 + 16];
        assert_true(m >= 0);
        int i = m / 100 - 16 + 4, j = m % 100 - 16 + 4;
        assert_true(i >= 0 && i < 9 && j >= 0 && j < 9);
        /* image moved with the mask; padding is 0 */
        assert_float_equal(px(&s, 0, 16, 16), (float)m / 10000.0f, 1e-7);
        if (i < 4) assert_float_equal(px(&s, 0, 0, 16), 0.0f, 0);
        counts[i][j]++;
    }
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) assert_true(counts[i][j] > 50 && counts[i][j] < 160);
    tf_free(&t);
    /* too large a crop: error naming both sizes */
    sample_ramp(&s, 1, 8, 8, 0);
    tfx big = tf_make(&tf_random_crop, "random_crop", "{size: 12}");
    assert_int_equal(tf_apply(&big, &s, 0, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "12x12"));
    tf_free(&big);
    tfx pin = tf_make(&tf_random_crop, "random_crop", "{size: 12, pad_if_needed: true}");
    RP_ASSERT_OK(tf_apply(&pin, &s, 0, &err), &err);
    assert_int_equal(s.img.shape[1], 12);
    tf_free(&pin);
    rp_sample_release(&s);
}

static void test_random_resized_crop(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    /* scale 1, ratio 1 on a square image: the whole image, resized */
    sample_ramp(&s, 3, 16, 16, 1);
    tfx id = tf_make(&tf_random_resized_crop, "random_resized_crop",
                     "{size: 16, scale: [1, 1], ratio: [1, 1]}");
    rp_sample ref;
    rp_sample_init(&ref);
    sample_ramp(&ref, 3, 16, 16, 1);
    RP_ASSERT_OK(tf_apply(&id, &s, 0, &err), &err);
    assert_memory_equal(s.img.data, ref.img.data, ref.img.numel * sizeof(float));
    tf_free(&id);
    /* defaults: output size always `size`, mask follows */
    tfx t = tf_make(&tf_random_resized_crop, "random_resized_crop", "{size: [24, 20]}");
    for (int k = 0; k < 200; k++) {
        sample_ramp(&s, 3, 40, 30, 1);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        assert_int_equal(s.img.shape[1], 24);
        assert_int_equal(s.img.shape[2], 20);
        assert_int_equal(s.mask.h, 24);
        assert_int_equal(s.mask.w, 20);
    }
    tf_free(&t);
    /* scale 1/4, square ratio on 64x64: exactly a 32x32 window (no
     * resampling) at a uniform position; mask identical window */
    tfx w = tf_make(&tf_random_resized_crop, "random_resized_crop",
                    "{size: 32, scale: [0.25, 0.25], ratio: [1, 1]}");
    int hist[33] = {0};
    for (int k = 0; k < 3300; k++) {
        sample_ramp(&s, 1, 64, 64, 1);
        RP_ASSERT_OK(tf_apply(&w, &s, (uint64_t)k, &err), &err);
        int32_t m0 = s.mask.data[0];
        int oy = m0 / 100, ox = m0 % 100;
        assert_true(oy >= 0 && oy <= 32 && ox >= 0 && ox <= 32);
        assert_int_equal(s.mask.data[31 * 32 + 31], (oy + 31) * 100 + ox + 31);
        assert_float_equal(px(&s, 0, 5, 7), (float)((oy + 5) * 100 + ox + 7) / 10000.0f, 1e-6);
        hist[ox]++;
    }
    for (int i = 0; i <= 32; i++) assert_true(hist[i] > 40 && hist[i] < 170);
    tf_free(&w);
    rp_sample_release(&s);
    rp_sample_release(&ref);
}

static void test_resize_shorter_side(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    sample_ramp(&s, 1, 30, 50, 1);
    tfx t = tf_make(&tf_resize, "resize", "{size: 12}");
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    assert_int_equal(s.img.shape[1], 12);
    assert_int_equal(s.img.shape[2], 20); /* int(12 * 50 / 30) */
    assert_int_equal(s.mask.w, 20);
    int c = 1, h = 30, w = 50;
    tf_resize.out_shape(t.state, &c, &h, &w);
    assert_int_equal(h, 12);
    assert_int_equal(w, 20);
    tf_free(&t);
    rp_sample_release(&s);
}

static void test_center_crop_mask(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    sample_ramp(&s, 1, 7, 7, 1);
    tfx t = tf_make(&tf_center_crop, "center_crop", "{size: 3}");
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    assert_int_equal(s.mask.data[0], 202);
    assert_float_equal(px(&s, 0, 0, 0), 0.0202f, 1e-7);
    tf_free(&t);
    rp_sample_release(&s);
}

static void test_rotate(void **state) {
    (void)state;
    rp_sample s, ref;
    rp_sample_init(&s);
    rp_sample_init(&ref);
    rp_error err;
    sample_ramp(&s, 2, 6, 6, 1);
    sample_ramp(&ref, 2, 6, 6, 1);
    tfx t = tf_make(&tf_rotate, "rotate", "{degrees: [90, 90]}");
    RP_ASSERT_OK(tf_apply(&t, &s, 0, &err), &err);
    /* counter-clockwise: out[y][x] = in[x][W-1-y] */
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++) assert_float_equal(px(&s, c, y, x), px(&ref, c, x, 5 - y), 0);
    assert_int_equal(s.mask.data[0], 5);
    tf_free(&t);
    /* 45 degrees: corners come from outside → fill */
    sample_ramp(&s, 1, 20, 20, 0);
    tfx f = tf_make(&tf_rotate, "rotate", "{degrees: [45, 45], fill: 0.75}");
    RP_ASSERT_OK(tf_apply(&f, &s, 0, &err), &err);
    assert_float_equal(px(&s, 0, 0, 0), 0.75f, 0);
    assert_float_equal(px(&s, 0, 19, 19), 0.75f, 0);
    assert_true(px(&s, 0, 10, 10) != 0.75f);
    tf_free(&f);
    /* angles spread over the range: draws differ */
    tfx r = tf_make(&tf_rotate, "rotate", "{degrees: 30}");
    sample_ramp(&s, 1, 20, 20, 0);
    RP_ASSERT_OK(tf_apply(&r, &s, 1, &err), &err);
    sample_ramp(&ref, 1, 20, 20, 0);
    RP_ASSERT_OK(tf_apply(&r, &ref, 2, &err), &err);
    assert_memory_not_equal(s.img.data, ref.img.data, 400 * sizeof(float));
    tf_free(&r);
    rp_sample_release(&s);
    rp_sample_release(&ref);
}

static void test_schema_errors(void **state) {
    (void)state;
    const char *m = tf_make_fails(&tf_hflip, "hflip", "{pp: 1}");
    assert_non_null(strstr(m, "pp"));
    m = tf_make_fails(&tf_hflip, "hflip", "{p: 1.5}");
    assert_non_null(strstr(m, "1.5"));
    m = tf_make_fails(&tf_random_crop, "random_crop", "{padding: 4}");
    assert_non_null(strstr(m, "size"));
    m = tf_make_fails(&tf_pad, "pad", "{padding_mode: mirror}");
    assert_non_null(strstr(m, "mirror"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hflip_vflip),
        cmocka_unit_test(test_pad_geometry_and_mask),
        cmocka_unit_test(test_random_crop_positions_uniform),
        cmocka_unit_test(test_random_resized_crop),
        cmocka_unit_test(test_resize_shorter_side),
        cmocka_unit_test(test_center_crop_mask),
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_schema_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
