/* Tensors: alignment, grow-only reshape, views, copies, finiteness, softmax. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"

static void test_new_aligned_zeroed(void **state) {
    (void)state;
    rp_error err;
    rp_tensor *t = NULL;
    RP_ASSERT_OK(rp_tensor_new4(&t, 2, 3, 5, 7, &err), &err);
    assert_int_equal(t->numel, 210);
    assert_int_equal(t->ndim, 4);
    assert_int_equal((uintptr_t)t->data % RP_ALIGN, 0);
    for (size_t i = 0; i < t->numel; i++) assert_true(t->data[i] == 0.0f);
    rp_tensor_free(t);
}

static void test_bad_shape(void **state) {
    (void)state;
    rp_error err;
    rp_tensor *t = NULL;
    int64_t s[2] = {3, -1};
    assert_int_equal(rp_tensor_new(&t, 2, s, &err), RP_ERR_INVALID);
    assert_null(t);
    assert_non_null(strstr(err.msg, "[3, -1]"));
    int64_t big[2] = {INT64_MAX / 2, 8};
    assert_int_equal(rp_tensor_new(&t, 2, big, &err), RP_ERR_INVALID);
    assert_int_equal(rp_tensor_new(&t, 7, s, &err), RP_ERR_INVALID);
}

static void test_reshape_alloc_grows_only(void **state) {
    (void)state;
    rp_error err;
    rp_tensor t;
    memset(&t, 0, sizeof t);
    int64_t a[2] = {4, 100};
    RP_ASSERT_OK(rp_tensor_reshape_alloc(&t, 2, a, &err), &err);
    float *p = t.data;
    assert_int_equal(t.cap, 400);
    int64_t b[3] = {2, 10, 10};
    RP_ASSERT_OK(rp_tensor_reshape_alloc(&t, 3, b, &err), &err);
    assert_ptr_equal(t.data, p); /* smaller: no allocation */
    assert_int_equal(t.numel, 200);
    int64_t c[1] = {1000};
    RP_ASSERT_OK(rp_tensor_reshape_alloc(&t, 1, c, &err), &err);
    assert_true(t.cap >= 1000);
    assert_int_equal((uintptr_t)t.data % RP_ALIGN, 0);
    rp_tensor_release(&t);
    assert_null(t.data);
}

static void test_view_copy_clone(void **state) {
    (void)state;
    rp_error err;
    rp_tensor *t = NULL;
    RP_ASSERT_OK(rp_tensor_new2(&t, 3, 4, &err), &err);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)i;
    int64_t s[1] = {12};
    rp_tensor v = rp_tensor_view(t, 1, s);
    assert_ptr_equal(v.data, t->data);
    assert_int_equal(v.owns, 0);
    int64_t bad[1] = {11};
    rp_tensor v2 = rp_tensor_view(t, 1, bad);
    assert_null(v2.data);
    assert_int_equal(rp_tensor_view_shape(t, 1, bad, &err), RP_ERR_INVALID);
    rp_tensor *c = rp_tensor_clone(t);
    assert_non_null(c);
    assert_memory_equal(c->data, t->data, 12 * sizeof(float));
    assert_ptr_not_equal(c->data, t->data);
    rp_tensor *d = NULL;
    RP_ASSERT_OK(rp_tensor_new2(&d, 4, 3, &err), &err);
    assert_int_equal(rp_tensor_copy(d, t, &err), RP_ERR_INVALID);
    RP_ASSERT_OK(rp_tensor_view_shape(d, 2, t->shape, &err), &err);
    RP_ASSERT_OK(rp_tensor_copy(d, t, &err), &err);
    assert_true(d->data[11] == 11.0f);
    rp_tensor_fill(d, 2.5f);
    assert_true(d->data[5] == 2.5f);
    rp_tensor_zero(d);
    assert_true(d->data[5] == 0.0f);
    rp_tensor_free(c);
    rp_tensor_free(d);
    rp_tensor_free(t);
}

static void test_check_finite(void **state) {
    (void)state;
    rp_error err;
    rp_tensor *t = NULL;
    RP_ASSERT_OK(rp_tensor_new1(&t, 10, &err), &err);
    RP_ASSERT_OK(rp_tensor_check_finite(t, "x", &err), &err);
    t->data[7] = NAN;
    assert_int_equal(rp_tensor_check_finite(t, "logits", &err), RP_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "logits"));
    assert_non_null(strstr(err.msg, "index 7"));
    rp_tensor_free(t);
}

static void test_softmax_stable(void **state) {
    (void)state;
    float x[6] = {1000.0f, 1001.0f, 1002.0f, -3.0f, 0.0f, 2.0f};
    float y[6], l[6];
    rp_softmax_rows(x, y, 2, 3);
    rp_log_softmax_rows(x, l, 2, 3);
    for (int r = 0; r < 2; r++) {
        double m = -1e30, s = 0;
        for (int j = 0; j < 3; j++) m = fmax(m, x[r * 3 + j]);
        for (int j = 0; j < 3; j++) s += exp(x[r * 3 + j] - m);
        for (int j = 0; j < 3; j++) {
            double ref = exp(x[r * 3 + j] - m) / s;
            assert_true(fabs(y[r * 3 + j] - ref) < 1e-6);
            assert_true(fabs(l[r * 3 + j] - log(ref)) < 1e-5);
        }
    }
}

static void test_threads(void **state) {
    (void)state;
    rp_set_threads(1);
    assert_int_equal(rp_get_threads(), 1);
    rp_set_threads(2);
    assert_int_equal(rp_get_threads(), 2);
    rp_set_threads(0);
    assert_int_equal(rp_get_threads(), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_aligned_zeroed), cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_reshape_alloc_grows_only), cmocka_unit_test(test_view_copy_clone),
        cmocka_unit_test(test_check_finite), cmocka_unit_test(test_softmax_stable),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
