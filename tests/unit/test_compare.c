/* runpipe compare: two hand-written run folders (metrics.json +
 * pipeline.resolved.yaml) and a matrix root with two cells; the Markdown on
 * stdout pins the metric table with differences and the differing
 * parameters, the HTML is one self-contained page with the curves; bad
 * arguments are usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void write_run(const char *dir, double lr, double acc, const char *extra) {
    char p[900], text[2000];
    mkdir(dir, 0777);
    snprintf(text, sizeof text,
             "{\"fit\": {\"scalars\": {\"val_acc\": %g, \"val_loss\": 0.5},"
             " \"tables\": {\"history\": {\"columns\": [\"epoch\", \"train_loss\", \"val_loss\","
             " \"train_acc\", \"val_acc\"], \"values\": [[1, 1.0, 0.9, 0.5, 0.6], [2, 0.7, 0.6,"
             " 0.7, %g]]}}},"
             " \"eval\": {\"scalars\": {\"test.accuracy\": %g%s}, \"tables\": {}}}",
             acc, acc, acc, extra);
    snprintf(p, sizeof p, "%s/metrics.json", dir);
    rp_test_write(p, text);
    snprintf(text, sizeof text,
             "runpipe: 1\nname: t\nseed: 1\nstages:\n  - id: fit\n    use: train\n"
             "    with: {epochs: 2, optimizer: {sgd: {lr: %g}}}\n  - id: eval\n    use: evaluate\n",
             lr);
    snprintf(p, sizeof p, "%s/pipeline.resolved.yaml", dir);
    rp_test_write(p, text);
}

static void test_two_runs(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char a[700], b[700], html[700], md[700], args[3000], log[700], out[20000];
    snprintf(a, sizeof a, "%s", rp_test_path(tmp, "runA"));
    snprintf(b, sizeof b, "%s", rp_test_path(tmp, "runB"));
    snprintf(html, sizeof html, "%s", rp_test_path(tmp, "c.html"));
    snprintf(md, sizeof md, "%s", rp_test_path(tmp, "c.md"));
    snprintf(log, sizeof log, "%s", rp_test_path(tmp, "log"));
    write_run(a, 0.1, 0.75, "");
    write_run(b, 0.05, 0.8, ", \"AA\": 0.7");
    snprintf(args, sizeof args, "compare '%s' '%s/' --out '%s' --md '%s'", a, b, html, md);
    int rc = rp_test_runpipe(args, log, out, sizeof out);
    if (rc != 0) fail_msg("exit %d:\n%s", rc, out);
    assert_non_null(strstr(out, "| metric | runA | runB | \xCE\x94 runB |\n|---|---:|---:|---:|\n"));
    assert_non_null(strstr(out, "| fit.val_acc | 0.7500 | 0.8000 | +0.0500 |\n"));
    assert_non_null(strstr(out, "| fit.val_loss | 0.5000 | 0.5000 | 0 |\n"));
    assert_non_null(strstr(out, "| eval.AA | \xE2\x80\x94 | 0.7000 |  |\n")); /* only in B */
    assert_non_null(strstr(out, "| stages.fit.with.optimizer.sgd.lr | 0.1 | 0.05 |\n"));
    assert_null(strstr(out, "stages.fit.with.epochs")); /* equal: not listed */
    char *h = NULL, *m = NULL;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(html, &h, &len, &err), &err);
    RP_ASSERT_OK(rp_read_file(md, &m, &len, &err), &err);
    assert_non_null(strstr(m, "| fit.val_acc | 0.7500 | 0.8000 | +0.0500 |"));
    assert_non_null(strstr(h, "<!DOCTYPE html>"));
    assert_non_null(strstr(h, ">fit: loss</text>"));
    assert_non_null(strstr(h, ">fit: accuracy</text>"));
    /* 2 runs x (train, validation) per chart */
    int lines = 0;
    for (const char *p = h; (p = strstr(p, "<polyline")); p++) lines++;
    assert_int_equal(lines, 8);
    assert_non_null(strstr(h, "<td class=\"d up\">+0.0500</td>")); /* higher accuracy: better */
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "src=\"http"));
    free(h);
    free(m);
}

static void test_matrix_cells(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char root[700], c1[800], c2[800], html[700], args[3000], log[700], out[20000];
    snprintf(root, sizeof root, "%s", rp_test_path(tmp, "sweep"));
    mkdir(root, 0777);
    snprintf(c1, sizeof c1, "%s/lr-0.1", root);
    snprintf(c2, sizeof c2, "%s/lr-0.05", root);
    write_run(c1, 0.1, 0.7, "");
    write_run(c2, 0.05, 0.9, "");
    snprintf(html, sizeof html, "%s", rp_test_path(tmp, "m.html"));
    snprintf(log, sizeof log, "%s", rp_test_path(tmp, "log"));
    snprintf(args, sizeof args, "compare '%s' --out '%s'", root, html);
    int rc = rp_test_runpipe(args, log, out, sizeof out);
    if (rc != 0) fail_msg("exit %d:\n%s", rc, out);
    /* cells in name order */
    assert_non_null(strstr(out, "| metric | lr-0.05 | lr-0.1 | \xCE\x94 lr-0.1 |"));
    assert_non_null(strstr(out, "| eval.test.accuracy | 0.9000 | 0.7000 | -0.2000 |"));
}

static void test_usage_errors(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char args[1500], log[700], out[4000], a[700];
    snprintf(log, sizeof log, "%s", rp_test_path(tmp, "log"));
    snprintf(a, sizeof a, "%s", rp_test_path(tmp, "only"));
    write_run(a, 0.1, 0.5, "");
    snprintf(args, sizeof args, "compare '%s'", a);
    assert_int_equal(rp_test_runpipe(args, log, out, sizeof out), 2);
    assert_non_null(strstr(out, "needs at least two runs"));
    snprintf(args, sizeof args, "compare '%s' '%s'", a, rp_test_path(tmp, "nope"));
    assert_int_equal(rp_test_runpipe(args, log, out, sizeof out), 2);
    assert_non_null(strstr(out, "is not a run folder (no metrics.json) and holds no cells"));
    snprintf(args, sizeof args, "compare '%s' '%s' --frobnicate", a, a);
    assert_int_equal(rp_test_runpipe(args, log, out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown option '--frobnicate'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_runs),
        cmocka_unit_test(test_matrix_cells),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
