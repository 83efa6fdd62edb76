/* The report stage in real runs: a two-cell matrix (train + evaluate +
 * report per cell) leaves report.html in every cell, the stage's
 * metrics.json, and summary.html over both cells at the matrix root.
 * Uses Debian's dataset-fashion-mnist (make deps). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../harness.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static void test_matrix_summary(void **state) {
    (void)state;
    struct stat sb;
    if (stat(FMNIST, &sb) != 0) fail_msg("%s missing: run `make deps`", FMNIST);
    char dir[700], path[800], log[800], out[800], args[2000];
    snprintf(dir, sizeof dir, "%s", rp_test_tmpdir());
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(path, sizeof path, "%s",
             rp_test_write_pipeline(
                 dir, "m.yaml", "name: sweep\nmatrix: {seed: [1, 2]}\naggregate: {over: [seed]}\n",
                 "  - id: fm\n    use: data.idx\n    with: {dir: " FMNIST ", limit: 200}\n"
                 "  - id: net\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n"
                 "  - id: crit\n    use: loss\n"
                 "  - id: fit\n    use: train\n"
                 "    in: {model: net, loss: crit, train: fm.train, val: fm.test}\n"
                 "    with: {epochs: 1, batch_size: 50}\n"
                 "  - id: ev\n    use: evaluate\n    in: {model: fit.model, data: fm.test}\n"
                 "  - id: rep\n    use: report\n    in: {metrics: [fit.metrics, ev], data: fm.test}\n"
                 "    with: {samples: 4}\n"));
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads 1", path, out);
    int rc = rp_test_runpipe(args, log, NULL, 0);
    char *text = NULL;
    size_t len;
    rp_error err;
    if (rc != 0) {
        RP_ASSERT_OK(rp_read_file(log, &text, &len, &err), &err);
        fail_msg("runpipe failed:\n%s", text);
    }
    char *html = NULL;
    char p[900];
    snprintf(p, sizeof p, "%s/summary.html", out);
    RP_ASSERT_OK(rp_read_file(p, &html, &len, &err), &err);
    assert_non_null(strstr(html, "sweep: 2 cells"));
    int links = 0;
    for (const char *q = html; (q = strstr(q, "/report.html\">")); q++) links++;
    /* the engine's page at the end of the run (the report stage's own
     * in-progress page is replaced): each cell linked from its group and
     * from the cell list, one group of 2 */
    assert_int_equal(links, 4);
    assert_non_null(strstr(html, "<th>ev.test.accuracy</th>"));
    assert_non_null(strstr(html, "<th>fit.val_acc</th>"));
    assert_non_null(strstr(html, "2 cells, 1 group<"));
    assert_non_null(strstr(html, "<th>n</th>"));
    free(html);
    /* every cell has its own report and the report stage's metrics.json */
    const char *sub[2] = {"seed-1", "seed-2"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s/report.html", out, sub[i]);
        if (stat(p, &sb) != 0) fail_msg("%s missing", p);
        snprintf(p, sizeof p, "%s/%s/rep/metrics.json", out, sub[i]);
        if (stat(p, &sb) != 0) fail_msg("%s missing", p);
        snprintf(p, sizeof p, "%s/%s/report.md", out, sub[i]);
        if (stat(p, &sb) != 0) fail_msg("%s missing", p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matrix_summary)};
    return cmocka_run_group_tests_name("report_stage", tests, NULL, NULL);
}
