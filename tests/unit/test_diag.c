/* Diagnostics: located errors, rendering with source line, caret and tildes,
 * sorting, de-duplication, the cap of 50 and the dropped count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "config/diag.h"

static const char *write_fixture(void) {
    const char *dir = rp_test_tmpdir();
    const char *p = rp_test_path(dir, "x.yaml");
    rp_test_write(p, "runpipe: 1\n"
                     "stages:\n"
                     "  - id: fit\n"
                     "    use: train\n"
                     "    with:\n"
                     "      lr: fast\n"
                     "      opt: {name: 'ad am', beta: 9}  # comment\n"
                     "\tx: tab\n");
    static char path[600];
    snprintf(path, sizeof path, "%s", p);
    return path;
}

static void test_render_caret(void **state) {
    (void)state;
    const char *path = write_fixture();
    rp_node *root = NULL;
    rp_error err;
    /* the tab line is invalid YAML; parse only the valid part through a copy */
    rp_node at = {0};
    at.file = rp_node_intern(path);
    at.line = 6;
    at.col = 11;
    rp_diag d;
    rp_diag_init(&d);
    assert_int_equal(rp_diag_addf(&d, &at, "fit", "stage 'fit' (train): 'lr': expected a number, "
                                                  "got '%s'",
                                  "fast"),
                     RP_ERR_INVALID);
    assert_string_equal(d.e[0].stage, "fit");
    assert_string_equal(d.e[0].msg, "stage 'fit' (train): 'lr': expected a number, got 'fast'");
    char *r = rp_diag_render(&d, 0);
    char want[2048];
    snprintf(want, sizeof want,
             "%s:6:11: error: stage 'fit' (train): 'lr': expected a number, got 'fast'\n"
             "    6 |       lr: fast\n"
             "      |           ^~~~\n"
             "1 error\n",
             path);
    assert_string_equal(r, want);
    free(r);
    rp_diag_release(&d);

    /* quoted scalars, flow maps, keys and trailing comments */
    rp_diag_init(&d);
    at.line = 7;
    at.col = 19; /* 'ad am' */
    rp_diag_addf(&d, &at, NULL, "quoted");
    at.col = 34; /* 9 inside the flow map */
    rp_diag_addf(&d, &at, NULL, "flow");
    at.col = 7; /* key opt */
    rp_diag_addf(&d, &at, NULL, "key");
    r = rp_diag_render(&d, 0);
    assert_non_null(strstr(r, ":7:7: error: key\n    7 |       opt: {name: 'ad am', beta: 9}  # "
                              "comment\n      |       ^~~\n"));
    assert_non_null(strstr(r, ":7:19: error: quoted\n"));
    assert_non_null(strstr(r, "      | " "                  " "^~~~~~~\n"));
    assert_non_null(strstr(r, ":7:34: error: flow\n"));
    assert_non_null(strstr(r, "      | " "                                 " "^\n3 errors\n"));
    /* sorted by column: key (7) before quoted (20) before flow (35) */
    assert_true(strstr(r, "error: key") < strstr(r, "error: quoted"));
    assert_true(strstr(r, "error: quoted") < strstr(r, "error: flow"));
    free(r);
    rp_diag_release(&d);

    /* tabs in the source line are kept in the caret line so columns align */
    rp_diag_init(&d);
    at.line = 8;
    at.col = 5;
    rp_diag_addf(&d, &at, NULL, "tab");
    r = rp_diag_render(&d, 0);
    assert_non_null(strstr(r, "    8 | \tx: tab\n      | \t   ^~~\n"));
    free(r);
    /* colour only on request */
    r = rp_diag_render(&d, 1);
    assert_non_null(strstr(r, "\033[1;31merror:"));
    free(r);
    r = rp_diag_render(&d, 0);
    assert_null(strchr(r, '\033'));
    free(r);
    rp_diag_release(&d);
    (void)root;
    (void)err;
}

static void test_sort_dedupe_and_unlocated(void **state) {
    (void)state;
    rp_diag d;
    rp_diag_init(&d);
    rp_node a = {0}, b = {0};
    a.file = rp_node_intern("b.yaml");
    a.line = 3;
    a.col = 1;
    b.file = rp_node_intern("a.yaml");
    b.line = 9;
    b.col = 2;
    rp_diag_addf(&d, &a, NULL, "second file");
    rp_diag_addf(&d, NULL, NULL, "no location");
    rp_diag_addf(&d, &b, NULL, "first file");
    rp_diag_addf(&d, &b, NULL, "first file"); /* identical: kept once */
    a.line = 1;
    rp_diag_addf(&d, &a, NULL, "second file, earlier line");
    assert_int_equal(d.n, 4);
    assert_int_equal(rp_diag_count(&d), 4);
    char *r = rp_diag_render(&d, 0);
    /* files that cannot be read print no source line */
    assert_string_equal(r, "a.yaml:9:2: error: first file\n"
                           "b.yaml:1:1: error: second file, earlier line\n"
                           "b.yaml:3:1: error: second file\n"
                           "error: no location\n"
                           "4 errors\n");
    free(r);
    rp_error e;
    rp_error_clear(&e);
    rp_error_set(&e, RP_ERR_IO, "cannot open 'x'");
    snprintf(e.file, sizeof e.file, "x.yaml");
    rp_diag_add(&d, &e);
    assert_int_equal(d.e[4].status, RP_ERR_IO);
    r = rp_diag_render(&d, 0);
    assert_non_null(strstr(r, "x.yaml: error: cannot open 'x'\n"));
    free(r);
    rp_diag_release(&d);
    /* values from --set are located by argument number and column (no source line) */
    rp_diag_init(&d);
    rp_node s = {0};
    s.file = rp_node_intern("--set");
    s.line = 2;
    s.col = 20;
    rp_diag_addf(&d, &s, NULL, "'lr': expected a number, got 'fast'");
    r = rp_diag_render(&d, 0);
    assert_string_equal(r, "--set:2:20: error: 'lr': expected a number, got 'fast'\n"
                           "1 error\n");
    free(r);
    rp_diag_release(&d);
    rp_diag_init(&d);
    r = rp_diag_render(&d, 0);
    assert_string_equal(r, "0 errors\n");
    free(r);
}

static void test_cap(void **state) {
    (void)state;
    rp_diag d;
    rp_diag_init(&d);
    rp_node at = {0};
    at.file = rp_node_intern("cap.yaml");
    for (int i = 0; i < 73; i++) {
        at.line = 73 - i;
        at.col = 1;
        rp_diag_addf(&d, &at, NULL, "error number %d", i);
    }
    assert_int_equal(d.n, RP_DIAG_CAP);
    assert_int_equal(d.dropped, 23);
    assert_int_equal(rp_diag_count(&d), 73);
    char *r = rp_diag_render(&d, 0);
    assert_non_null(strstr(r, "\n73 errors (23 not shown)\n"));
    assert_non_null(strstr(r, "cap.yaml:24:1: error: error number 49\n"));
    assert_null(strstr(r, "error number 50\n"));
    /* sorted: line 24 (the lowest kept) comes first */
    assert_true(strncmp(r, "cap.yaml:24:1:", 14) == 0);
    free(r);
    rp_diag_release(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_caret),
        cmocka_unit_test(test_sort_dedupe_and_unlocated),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
