/* Metrics and files artifacts. */
#include <math.h>
#include <string.h>

#include "harness.h"

static void test_scalars(void **state) {
    (void)state;
    rp_metrics *m = rp_metrics_new();
    assert_non_null(m);
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_metrics_set(m, "test.accuracy", 0.5, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "AA", 0.25, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "test.accuracy", 0.75, &err), &err); /* replaces */
    assert_int_equal(m->n, 2);
    double v = 0;
    assert_int_equal(rp_metrics_get(m, "test.accuracy", &v), 1);
    assert_true(v == 0.75);
    assert_int_equal(rp_metrics_get(m, "nope", &v), 0);
    assert_int_equal(rp_metrics_set(m, "", 1, &err), RP_ERR_INVALID);
    rp_metrics_free(m);
    rp_metrics_free(NULL);
}

static void test_tables(void **state) {
    (void)state;
    rp_metrics *m = rp_metrics_new();
    rp_error err;
    rp_error_clear(&err);
    const char *cols[] = {"pred0", "pred1"};
    const char *rows[] = {"cat", "dog"};
    rp_table *t = rp_metrics_add_table(m, "confusion", 2, 2, cols, rows, &err);
    assert_non_null(t);
    assert_true(t->values[3] == 0.0);
    t->values[1] = 3;
    assert_null(rp_metrics_add_table(m, "confusion", 1, 1, cols, NULL, &err));
    assert_non_null(strstr(err.msg, "already exists"));
    const rp_table *c = rp_metrics_table(m, "confusion");
    assert_ptr_equal(c, &m->tables[0]);
    assert_string_equal(c->row_names[1], "dog");
    assert_true(c->values[1] == 3);
    /* history-style growth without row names */
    const char *hc[] = {"epoch", "loss"};
    rp_table *h = rp_metrics_add_table(m, "history", 0, 2, hc, NULL, &err);
    assert_non_null(h);
    double r0[] = {1, 0.5}, r1[] = {2, 0.25};
    RP_ASSERT_OK(rp_table_append_row(h, NULL, r0, &err), &err);
    RP_ASSERT_OK(rp_table_append_row(h, NULL, r1, &err), &err);
    assert_int_equal(h->rows, 2);
    assert_null(h->row_names);
    assert_true(h->values[3] == 0.25);
    RP_ASSERT_OK(rp_table_append_row(h, "last", NULL, &err), &err); /* NaN row, named */
    assert_string_equal(h->row_names[0], "");
    assert_string_equal(h->row_names[2], "last");
    assert_true(isnan(h->values[5]));
    RP_ASSERT_OK(rp_metrics_add_file(m, "fit/history.csv", &err), &err);
    RP_ASSERT_OK(rp_metrics_add_file(m, "fit/history.csv", &err), &err);
    assert_int_equal(m->n_files, 1);
    rp_metrics_free(m);
}

static void test_files(void **state) {
    (void)state;
    rp_files *f = rp_files_new("runs/x/crops");
    assert_non_null(f);
    assert_string_equal(f->dir, "runs/x/crops");
    rp_files_free(f);
    assert_null(rp_files_new(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
