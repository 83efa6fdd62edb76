/* Counter-based RNG: known-answer test, stream independence, statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Philox4x32-10 known-answer vectors from the Random123 distribution
 * (kat_vectors: philox4x32 10 rounds). */
static void test_philox_kat(void **state) {
    (void)state;
    /* ctr = 0, key = 0 → 6627e8d5 e169c58d bc57ac4c 9b00dbd8 */
    rp_rng r;
    memset(&r, 0, sizeof r);
    r.pos = 4;
    uint32_t w[4];
    for (int i = 0; i < 4; i++) w[i] = rp_rng_u32(&r);
    assert_int_equal(w[0], 0x6627e8d5u);
    assert_int_equal(w[1], 0xe169c58du);
    assert_int_equal(w[2], 0xbc57ac4cu);
    assert_int_equal(w[3], 0x9b00dbd8u);
}

static void test_same_key_same_stream(void **state) {
    (void)state;
    rp_rng a, b;
    rp_rng_for(&a, 7, "fit", "shuffle", 3, 11);
    rp_rng_for(&b, 7, "fit", "shuffle", 3, 11);
    for (int i = 0; i < 1000; i++) assert_int_equal(rp_rng_u32(&a), rp_rng_u32(&b));
}

static void test_keys_differ(void **state) {
    (void)state;
    rp_rng base, e, s, i2, p;
    rp_rng_for(&base, 7, "fit", "shuffle", 3, 11);
    rp_rng_for(&e, 7, "fit", "shuffle", 4, 11);
    rp_rng_for(&s, 8, "fit", "shuffle", 3, 11);
    rp_rng_for(&i2, 7, "fit", "shuffle", 3, 12);
    rp_rng_for(&p, 7, "fit", "erase", 3, 11);
    uint32_t x = rp_rng_u32(&base);
    assert_int_not_equal(x, rp_rng_u32(&e));
    assert_int_not_equal(x, rp_rng_u32(&s));
    assert_int_not_equal(x, rp_rng_u32(&i2));
    assert_int_not_equal(x, rp_rng_u32(&p));
}

static void test_uniform_and_normal_moments(void **state) {
    (void)state;
    rp_rng r;
    rp_rng_init(&r, 1, 2, 3, 4);
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = rp_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        float f = rp_rng_uniformf(&r);
        assert_true(f >= 0 && f < 1);
        su += u, su2 += u * u;
        double g = rp_rng_normal(&r);
        sn += g, sn2 += g * g;
    }
    assert_true(fabs(su / n - 0.5) < 0.005);
    assert_true(fabs(su2 / n - 1.0 / 3) < 0.005);
    assert_true(fabs(sn / n) < 0.01);
    assert_true(fabs(sn2 / n - 1.0) < 0.02);
}

static void test_below_unbiased_and_shuffle(void **state) {
    (void)state;
    rp_rng r;
    rp_rng_init(&r, 9, 0, 0, 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[rp_rng_below(&r, 7)]++;
    for (int k = 0; k < 7; k++) assert_true(abs(counts[k] - 10000) < 400);
    uint32_t idx[100], seen[100] = {0};
    for (uint32_t i = 0; i < 100; i++) idx[i] = i;
    rp_rng_shuffle(&r, idx, 100);
    int moved = 0;
    for (uint32_t i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 80);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_kat),
        cmocka_unit_test(test_same_key_same_stream),
        cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_uniform_and_normal_moments),
        cmocka_unit_test(test_below_unbiased_and_shuffle),
    };
    return cmocka_run_group_tests_name("rng", tests, NULL, NULL);
}
