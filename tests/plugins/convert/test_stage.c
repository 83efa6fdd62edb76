/* The convert stage through the real binary on the committed Fashion-MNIST
 * fixture: a run with its files and metrics, and every bad input with its
 * pinned message and location (untrained models: only the wiring and the
 * checks matter here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../../harness.h"

#define KEYS "name: cvtest\nseed: 2\n"

/* lines 3-14 of every pipeline (line 1 `runpipe: 1`, 2 `name`, 3 `seed`,
 * 4 `stages:`) */
static const char *HEAD =
    "  - id: fm\n    use: data.idx\n    with: {dir: \"%S/datasets/fixtures/fashion-mnist\"}\n"
    "  - id: occ\n    use: augment\n    in: {data: fm.test}\n    with: {transforms: [upper_bar]}\n"
    "  - id: t\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n"
    "  - id: d\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n";

static int run(const char *stages, const char *out, char *log_text, size_t n) {
    const char *dir = rp_test_tmpdir();
    char yaml[4000], log[700], args[2000];
    snprintf(yaml, sizeof yaml, "%s%s", HEAD, stages);
    snprintf(log, sizeof log, "%s/log", dir);
    const char *path = rp_test_write_pipeline(dir, "p.yaml", KEYS, yaml);
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads 1", path, out);
    return rp_test_runpipe(args, log, log_text, n);
}

static void expect_error(const char *stages, int code, const char *what) {
    char out[700], log[20000];
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "bad"));
    int rc = run(stages, out, log, sizeof log);
    if (rc != code || !strstr(log, what))
        fail_msg("exit %d (expected %d), expected\n  %s\nin:\n%s", rc, code, what, log);
}

/* The scalars of the report input produced by stage `id`. */
static const cJSON *scalars_of(const cJSON *root, const char *id) {
    const cJSON *in = cJSON_GetObjectItem(root, "inputs"), *e;
    cJSON_ArrayForEach(e, in) {
        const char *src = cJSON_GetObjectItem(e, "source")->valuestring;
        if (!strncmp(src, id, strlen(id)) && (!src[strlen(id)] || src[strlen(id)] == '.'))
            return cJSON_GetObjectItem(e, "scalars");
    }
    fail_msg("no report input from '%s'", id);
    return NULL;
}

static void test_convert_run(void **state) {
    (void)state;
    char out[700], log[20000];
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    int rc = run("  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d], select: [fm.test, occ]}\n"
                 "  - id: cols\n    use: convert\n"
                 "    in: {target: t, donors: [d], select: [fm.test, occ]}\n"
                 "    with: {unit: columns, layers: [fc], step: 1000, weights: [1, 3]}\n"
                 "  - id: rep\n    use: report\n    in: {metrics: [conv.metrics, cols.metrics]}\n",
                 out, log, sizeof log);
    if (rc != 0) fail_msg("runpipe exited %d:\n%s", rc, log);
    assert_non_null(strstr(log, "best of 6 candidates"));
    assert_non_null(strstr(log, "donor itself (full swap, not a candidate)"));
    char *csv = NULL, *js = NULL;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "conv/candidates.csv"), &csv, &len, &err), &err);
    assert_non_null(strstr(csv, "round,donor,candidate,units,size,acc.test,acc.occ,score,delta_pp\n"
                                "1,d.model,-1,(base),0,"));
    int lines = 0;
    for (char *c = csv; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 1 + 2 + 6);
    assert_non_null(strstr(csv, "\n1,d.model,5,conv2+fc,2,"));
    free(csv);
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "cols/candidates.csv"), &csv, &len, &err), &err);
    assert_non_null(strstr(csv, "\n1,d.model,7,fc.columns[0:7744],7744,")); /* 1000 .. 7000, 7744 */
    free(csv);
    struct stat sb;
    assert_int_equal(stat(rp_test_path(out, "conv/ranked.svg"), &sb), 0);
    assert_int_equal(stat(rp_test_path(out, "cols/score_vs_k.svg"), &sb), 0);
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "rep/metrics.json"), &js, &len, &err), &err);
    cJSON *root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    const cJSON *sc = scalars_of(root, "conv");
    double best = cJSON_GetObjectItem(sc, "convert.best.score")->valuedouble;
    double tgt = cJSON_GetObjectItem(sc, "convert.target.score")->valuedouble;
    double delta = cJSON_GetObjectItem(sc, "convert.delta")->valuedouble;
    assert_true(best >= tgt); /* keep_if_not_worse */
    assert_true(delta > 100 * (best - tgt) - 1e-9 && delta < 100 * (best - tgt) + 1e-9);
    assert_non_null(cJSON_GetObjectItem(sc, "convert.best.units"));
    assert_non_null(cJSON_GetObjectItem(sc, "convert.donor1.score"));
    double aa = 0.5 * (cJSON_GetObjectItem(sc, "convert.best.test.accuracy")->valuedouble +
                       cJSON_GetObjectItem(sc, "convert.best.occ.accuracy")->valuedouble);
    assert_true(aa > best - 1e-12 && aa < best + 1e-12);
    /* weights [1, 3] */
    sc = scalars_of(root, "cols");
    double w = (cJSON_GetObjectItem(sc, "convert.target.test.accuracy")->valuedouble +
                3 * cJSON_GetObjectItem(sc, "convert.target.occ.accuracy")->valuedouble) /
               4;
    double ts = cJSON_GetObjectItem(sc, "convert.target.score")->valuedouble;
    assert_true(w > ts - 1e-12 && w < ts + 1e-12);
    cJSON_Delete(root);
}

static void test_bad_layers_pattern(void **state) {
    (void)state;
    expect_error("  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d], select: [fm.test]}\n"
                 "    with: {layers: [conv1, conv9]}\n",
                 2, /* runpipe check: the graphs model.build declares */
                 "p.yaml:21:28: error: stage 'conv' (convert): layers: 'conv9' matches no "
                 "parameterised layer (the model has: conv1, conv2, fc)");
}

static void test_empty_select(void **state) {
    (void)state;
    expect_error("  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d], select: []}\n",
                 2, "p.yaml:20:42: error: stage 'conv' (convert): input 'select': empty list");
}

static void test_donor_classes(void **state) {
    (void)state;
    expect_error("  - id: d5\n    use: model.build\n    with: {arch: mnist_cnn, classes: 5}\n"
                 "  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d, d5], select: [fm.test]}\n",
                 2, /* runpipe check: the graphs model.build declares */
                 "p.yaml:23:29: error: stage 'conv' (convert): donor 2 ('d5.model') has 5 classes, the "
                 "target has 10");
}

static void test_donor_shapes(void **state) {
    (void)state;
    expect_error("  - id: d16\n    use: model.build\n    with:\n      input: [1, 28, 28]\n"
                 "      layers: [{conv2d: {out: 32, kernel: 3}, name: conv1}, {relu: {}, name: relu1},\n"
                 "               {maxpool2d: {kernel: 2}, name: pool1}, {conv2d: {out: 16, kernel: 3}, name: conv2},\n"
                 "               {relu: {}, name: relu2}, {flatten: {}, name: flatten}, {linear: {out: 10}, name: fc}]\n"
                 "  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d16], select: [fm.test]}\n",
                 2, /* runpipe check: the graphs model.build declares */
                 "p.yaml:27:29: error: stage 'conv' (convert): donor 1 ('d16.model') does not match the "
                 "target's architecture (3 differences):\n"
                 "  parameter 'conv2.weight': target [64, 32, 3, 3], donor [16, 32, 3, 3]\n"
                 "  parameter 'conv2.bias': target [64], donor [16]\n"
                 "  parameter 'fc.weight': target [10, 7744], donor [10, 1936]");
}

static void test_select_classes(void **state) {
    (void)state;
    expect_error("  - id: t5\n    use: model.build\n    with: {arch: mnist_cnn, classes: 5}\n"
                 "  - id: conv\n    use: convert\n"
                 "    in: {target: t5, donors: [t5], select: [fm.test, occ]}\n",
                 2, /* found by the check, before anything runs */
                 "p.yaml:23:45: error: stage 'conv' (convert): model 't5.model' has 5 classes");
}

static void test_max_candidates(void **state) {
    (void)state;
    expect_error("  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d, d], select: [fm.test]}\n"
                 "    with: {max_candidates: 10}\n",
                 2, /* runpipe check: the graphs model.build declares */
                 "p.yaml:21:28: error: stage 'conv' (convert): the search has 12 candidates (6 + "
                 "6 over 2 donors), more than max_candidates = 10: narrow it with 'layers' (3 "
                 "convertible layers), 'r' (subset sizes) or 'step', or raise max_candidates");
}

/* The candidate count depends on the target's layers: model.build declares
 * its graph at check time and train passes it on, so `runpipe check` (and
 * the check before a run) reports a search larger than max_candidates
 * before anything trains; the narrowed search then runs. */
static void test_max_candidates_before_training(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    const char *path = rp_test_write_pipeline(
        dir, "p.yaml", KEYS "vars: {maxc: 5}\n",
        "  - id: fm\n    use: data.idx\n    with: {dir: \"%S/datasets/fixtures/fashion-mnist\"}\n"
        "  - id: net\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n"
        "  - id: loss\n    use: loss\n    with: {loss: cross_entropy}\n"
        "  - id: target\n    use: train\n    in: {model: net, loss: loss, train: fm.train}\n"
        "    with: {epochs: 1, batch_size: 8, optimizer: {adam: {lr: 0.001}}}\n"
        "  - id: donor\n    use: train\n    in: {model: net, loss: loss, train: fm.test}\n"
        "    with: {epochs: 1, batch_size: 8, optimizer: {adam: {lr: 0.001}}}\n"
        "  - id: conv\n    use: convert\n"
        "    in: {target: target.model, donors: [donor.model], select: [fm.test]}\n"
        "    with:\n      max_candidates: ${vars.maxc}\n");
    static char log_text[40000];
    char log[700], args[3000];
    const char *want = "p.yaml:27:23: error: stage 'conv' (convert): the search has 6 candidates "
                       "(6 over 1 donor), more than max_candidates = 5: narrow it with 'layers' (3 "
                       "convertible layers), 'r' (subset sizes) or 'step', or raise max_candidates";
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(args, sizeof args, "check '%s'", path);
    int rc = rp_test_runpipe(args, log, log_text, sizeof log_text);
    if (rc != 2 || !strstr(log_text, want))
        fail_msg("check: exit %d, expected 2 and\n  %s\nin:\n%s", rc, want, log_text);
    snprintf(args, sizeof args, "run '%s' --out '%s/a' --threads 1", path, dir);
    rc = rp_test_runpipe(args, log, log_text, sizeof log_text);
    if (rc != 2 || !strstr(log_text, want) || strstr(log_text, "epoch"))
        fail_msg("run: exit %d, expected 2 before any training:\n%s", rc, log_text);
    snprintf(args, sizeof args, "run '%s' --out '%s/b' --threads 1 --set vars.maxc=6", path, dir);
    rc = rp_test_runpipe(args, log, log_text, sizeof log_text);
    if (rc != 0 || !strstr(log_text, "best of 6 candidates"))
        fail_msg("exit %d:\n%s", rc, log_text);
}

/* A model loaded from a file has no graph at check time: the same count is
 * checked when the stage starts, before any candidate is evaluated. */
static void test_max_candidates_at_run(void **state) {
    (void)state;
    expect_error("  - id: save\n    use: model.save\n    in: {model: t}\n    with: {path: t.safetensors}\n"
                 "  - id: ld\n    use: model.load\n    with: {path: save/t.safetensors}\n"
                 "  - id: conv\n    use: convert\n"
                 "    in: {target: ld, donors: [d], select: [fm.test]}\n"
                 "    with: {max_candidates: 5}\n",
                 1,
                 "p.yaml:28:28: error: stage 'conv' (convert): the search has 6 candidates (6 "
                 "over 1 donor), more than max_candidates = 5");
}

static void test_columns_of_conv(void **state) {
    (void)state;
    expect_error("  - id: conv\n    use: convert\n"
                 "    in: {target: t, donors: [d], select: [fm.test]}\n"
                 "    with: {unit: columns, layers: [conv2]}\n",
                 2, /* runpipe check: the graphs model.build declares */
                 "p.yaml:21:35: error: stage 'conv' (convert): columns apply to a dense weight [out, in]; "
                 "'conv2' has weight [64, 32, 3, 3] (use unit: rows for a convolution's "
                 "filters)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_run),        cmocka_unit_test(test_bad_layers_pattern),
        cmocka_unit_test(test_empty_select),       cmocka_unit_test(test_donor_classes),
        cmocka_unit_test(test_donor_shapes),       cmocka_unit_test(test_select_classes),
        cmocka_unit_test(test_max_candidates),     cmocka_unit_test(test_columns_of_conv),
        cmocka_unit_test(test_max_candidates_before_training),
        cmocka_unit_test(test_max_candidates_at_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
