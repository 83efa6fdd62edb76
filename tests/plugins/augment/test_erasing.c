/* Erasing transforms: statistics of the erased area against analytic
 * expectations; geometry of cutout / hide-and-seek / gridmask. */
#include "aug_test.h"

/* E[erased area fraction | a box was accepted] for Random Erasing on H x W,
 * by numerical integration over (area fraction, aspect) with the same
 * rounding and acceptance rule (independent of the implementation). */
static double re_expectation(int H, int W, double s0, double s1, double r0, double r1,
                             int log_ratio) {
    const int NS = 600, NR = 600;
    double acc = 0, wsum = 0;
    for (int a = 0; a < NS; a++) {
        double s = s0 + (s1 - s0) * (a + 0.5) / NS;
        for (int b = 0; b < NR; b++) {
            double u = (b + 0.5) / NR;
            double r = log_ratio ? exp(log(r0) + (log(r1) - log(r0)) * u) : r0 + (r1 - r0) * u;
            double area = s * H * W;
            long h = lrint(sqrt(area * r)), w = lrint(sqrt(area / r));
            if (!(h < H && w < W)) continue;
            acc += (double)(h * w) / (H * W);
            wsum += 1;
        }
    }
    return acc / wsum;
}

static double erased_fraction(const rp_sample *s) {
    return (double)count_eq(s, 0.0f) / (double)(s->img.shape[1] * s->img.shape[2]);
}

static void test_random_erasing_torchvision_stats(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_random_erasing, "random_erasing", "{p: 1}");
    const int N = 20000;
    double sum = 0, sum2 = 0;
    for (int k = 0; k < N; k++) {
        fill_const(&s, 3, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        double f = erased_fraction(&s);
        /* the box is a solid rectangle on every channel */
        assert_int_equal(count_eq(&s, 0.0f) * 3, (int64_t)(f * 1024 + 0.5) * 3);
        sum += f, sum2 += f * f;
    }
    double mean = sum / N, sd = sqrt(sum2 / N - mean * mean);
    double expect = re_expectation(32, 32, 0.02, 0.33, 0.3, 3.3, 1);
    assert_true(fabs(mean - expect) < 4 * sd / sqrt(N) + 1e-3);
    assert_true(mean > 0.15 && mean < 0.19);
    tf_free(&t);
    /* p = 0.5: about half the images untouched */
    tfx h = tf_make(&tf_random_erasing, "random_erasing", NULL);
    int touched = 0;
    for (int k = 0; k < 4000; k++) {
        fill_const(&s, 1, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&h, &s, (uint64_t)k, &err), &err);
        touched += count_eq(&s, 0.0f) > 0;
    }
    assert_true(touched > 1850 && touched < 2150);
    tf_free(&h);
    rp_sample_release(&s);
}

static void test_random_erasing_paper_form(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_random_erasing, "random_erasing", "{p: 1, s_l: 0.02, s_h: 0.4, r_1: 0.3}");
    const int N = 20000;
    double sum = 0, sum2 = 0, mx = 0;
    for (int k = 0; k < N; k++) {
        fill_const(&s, 1, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        double f = erased_fraction(&s);
        sum += f, sum2 += f * f;
        if (f > mx) mx = f;
    }
    double mean = sum / N, sd = sqrt(sum2 / N - mean * mean);
    double expect = re_expectation(32, 32, 0.02, 0.4, 0.3, 1 / 0.3, 0);
    assert_true(fabs(mean - expect) < 4 * sd / sqrt(N) + 1e-3);
    assert_true(mx < 0.45); /* s_h = 0.4 plus rounding */
    tf_free(&t);
    rp_sample_release(&s);
}

static void test_random_erasing_values(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    /* per-channel value */
    tfx t = tf_make(&tf_random_erasing, "random_erasing", "{p: 1, value: [0.1, 0.2, 0.3]}");
    fill_const(&s, 3, 32, 32, 0.5f);
    RP_ASSERT_OK(tf_apply(&t, &s, 5, &err), &err);
    int64_t n1 = 0, n3 = 0;
    for (int i = 0; i < 1024; i++) n1 += s.img.data[i] == 0.1f, n3 += s.img.data[2048 + i] == 0.3f;
    assert_true(n1 > 0);
    assert_int_equal(n1, n3);
    /* wrong number of values for the image: clear error */
    fill_const(&s, 1, 32, 32, 0.5f);
    assert_int_equal(tf_apply(&t, &s, 5, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "3 fill values"));
    tf_free(&t);
    /* random: normal values, not constant */
    tfx r = tf_make(&tf_random_erasing, "random_erasing", "{p: 1, value: random}");
    fill_const(&s, 1, 32, 32, 0.5f);
    RP_ASSERT_OK(tf_apply(&r, &s, 9, &err), &err);
    int64_t changed = 0, neg = 0;
    for (int i = 0; i < 1024; i++) changed += s.img.data[i] != 0.5f, neg += s.img.data[i] < 0;
    assert_true(changed > 10 && neg > 0);
    tf_free(&r);
    const char *m = tf_make_fails(&tf_random_erasing, "random_erasing", "{value: median}");
    assert_non_null(strstr(m, "median"));
    rp_sample_release(&s);
}

/* E[clipped cutout area] / (H W): centre uniform, side L, clipped. */
static double cutout_expectation(int H, int W, int L) {
    double ey = 0, ex = 0;
    for (int y = 0; y < H; y++) {
        int a = y - L / 2 < 0 ? 0 : y - L / 2, b = y + L / 2 > H ? H : y + L / 2;
        ey += b - a;
    }
    for (int x = 0; x < W; x++) {
        int a = x - L / 2 < 0 ? 0 : x - L / 2, b = x + L / 2 > W ? W : x + L / 2;
        ex += b - a;
    }
    return (ey / H) * (ex / W) / (H * W);
}

static void test_cutout(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_cutout, "cutout", NULL); /* n_holes 1, length 16, p 1 */
    const int N = 20000;
    double sum = 0;
    int full = 0, partial = 0;
    for (int k = 0; k < N; k++) {
        fill_const(&s, 3, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        int64_t n = count_eq(&s, 0.0f);
        assert_true(n <= 256);
        full += n == 256;
        partial += n < 256;
        sum += (double)n / 1024;
    }
    double mean = sum / N, expect = cutout_expectation(32, 32, 16);
    assert_true(mean < 256.0 / 1024);                 /* centre anywhere → clipped */
    assert_true(fabs(mean - expect) < 0.004);
    assert_true(full > 0 && partial > N / 2);
    tf_free(&t);
    rp_sample_release(&s);
}

static void test_hide_and_seek(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_hide_and_seek, "hide_and_seek", "{p: 1}"); /* patch 8, hide 0.5 */
    double sum = 0;
    const int N = 4000;
    for (int k = 0; k < N; k++) {
        fill_const(&s, 1, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        /* every 8x8 cell is all hidden or all kept */
        for (int cy = 0; cy < 4; cy++)
            for (int cx = 0; cx < 4; cx++) {
                float v = px(&s, 0, cy * 8, cx * 8);
                for (int y = 0; y < 8; y++)
                    for (int x = 0; x < 8; x++) assert_float_equal(px(&s, 0, cy * 8 + y, cx * 8 + x), v, 0);
            }
        sum += (double)count_eq(&s, 0.0f) / 1024;
    }
    assert_true(fabs(sum / N - 0.5) < 0.02);
    tf_free(&t);
    /* grid_sizes with 0 → sometimes nothing hidden; partial cells at borders */
    tfx g = tf_make(&tf_hide_and_seek, "hide_and_seek", "{p: 1, grid_sizes: [0, 12], hide_prob: 1}");
    int none = 0, all = 0;
    for (int k = 0; k < 400; k++) {
        fill_const(&s, 1, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&g, &s, (uint64_t)k, &err), &err);
        int64_t n = count_eq(&s, 0.0f);
        none += n == 0;
        all += n == 1024;
    }
    assert_int_equal(none + all, 400);
    assert_true(none > 150 && all > 150);
    tf_free(&g);
    rp_sample_release(&s);
}

static void test_gridmask(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    tfx t = tf_make(&tf_gridmask, "gridmask", "{d: [8, 8], ratio: 0.5, p: 1}");
    for (int k = 0; k < 50; k++) {
        fill_const(&s, 3, 32, 32, 0.5f);
        RP_ASSERT_OK(tf_apply(&t, &s, (uint64_t)k, &err), &err);
        /* squares of side d - l = 4 every 8 pixels: exactly a quarter */
        assert_int_equal(count_eq(&s, 0.0f), 256);
    }
    tf_free(&t);
    tfx r = tf_make(&tf_gridmask, "gridmask", "{d: [8, 12], ratio: 0.5, p: 1, rotate: 45}");
    fill_const(&s, 1, 64, 64, 0.5f);
    RP_ASSERT_OK(tf_apply(&r, &s, 3, &err), &err);
    double f = (double)count_eq(&s, 0.0f) / 4096;
    assert_true(f > 0.15 && f < 0.35);
    tf_free(&r);
    rp_sample_release(&s);
}

static void test_box_sampler_never_exceeds(void **state) {
    (void)state;
    rp_rng rng;
    rp_rng_init(&rng, 1, 2, 3, 4);
    double scale[2] = {0.02, 0.33}, ratio[2] = {0.3, 3.3};
    for (int k = 0; k < 100000; k++) {
        int64_t t, l, h, w;
        if (!rp_erasing_sample_box(&rng, 28, 28, scale, ratio, 1, 10, &t, &l, &h, &w)) continue;
        assert_true(h < 28 && w < 28 && t >= 0 && l >= 0 && t + h <= 28 && l + w <= 28);
    }
    /* a box that can never fit: no erase (torchvision returns the image) */
    double big[2] = {0.99, 0.99};
    int64_t t, l, h, w;
    assert_int_equal(rp_erasing_sample_box(&rng, 4, 4, big, ratio, 1, 10, &t, &l, &h, &w), 0);
}

/* The area samplers augment.stats uses (ops->erased_area) report, draw for
 * draw, exactly the pixels `apply` erases with the same stream: overlapping
 * cutout holes, partial hide-and-seek cells, boxes that do not fit. */
static void test_erased_area_matches_apply(void **state) {
    (void)state;
    static const struct {
        const struct rp_transform_ops *ops;
        const char *name, *yaml;
    } cases[] = {
        {&tf_random_erasing, "random_erasing", "{p: 0.5}"},
        {&tf_random_erasing, "random_erasing", "{p: 1, scale: [0.5, 0.9], ratio: [0.1, 10]}"},
        {&tf_cutout, "cutout", "{n_holes: 1, length: 12}"},
        {&tf_cutout, "cutout", "{n_holes: 7, length: 9, p: 0.7}"},
        {&tf_cutout, "cutout", "{n_holes: 40, length: 5}"},
        {&tf_hide_and_seek, "hide_and_seek", "{patch_size: 7, hide_prob: 0.5, p: 0.5}"},
        {&tf_hide_and_seek, "hide_and_seek", "{grid_sizes: [0, 8, 11], hide_prob: 0.3, p: 1}"},
    };
    rp_sample s;
    rp_sample_init(&s);
    rp_error err;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tfx t = tf_make(cases[c].ops, cases[c].name, cases[c].yaml);
        assert_non_null(t.ops->erased_area);
        int64_t seen_applied = 0, seen_skipped = 0;
        for (uint64_t d = 0; d < 300; d++) {
            fill_const(&s, 1, 30, 26, 0.5f);
            RP_ASSERT_OK(tf_apply(&t, &s, d, &err), &err);
            rp_rng rng;
            rp_rng_init(&rng, 1234, 77, 0, d); /* tf_apply's stream */
            int applied = -1;
            int64_t area = t.ops->erased_area(t.state, 30, 26, &rng, &applied);
            assert_int_equal(area, count_eq(&s, 0.0f));
            if (!applied) assert_int_equal(area, 0);
            seen_applied += applied == 1, seen_skipped += applied == 0;
        }
        assert_true(seen_applied > 0);
        tf_free(&t);
    }
    rp_sample_release(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_erasing_torchvision_stats),
        cmocka_unit_test(test_random_erasing_paper_form),
        cmocka_unit_test(test_random_erasing_values),
        cmocka_unit_test(test_cutout),
        cmocka_unit_test(test_hide_and_seek),
        cmocka_unit_test(test_gridmask),
        cmocka_unit_test(test_box_sampler_never_exceeds),
        cmocka_unit_test(test_erased_area_matches_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
