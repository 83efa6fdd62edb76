/* Sweeps through the real binary and plugins, on data.synthetic (no files):
 * shared stages, the stage cache, foreach fan-in, matrix include/exclude and
 * --resume with new axis values, aggregate labels, metric selection errors,
 * paper-shaped tables with a second level (then: mean_over). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char out_buf[1 << 16];

static int rp(const char *args) { return rp_test_runpipe(args, NULL, out_buf, sizeof out_buf); }

static char *slurp(const char *path) {
    char *t = NULL;
    rp_error err;
    if (rp_read_file(path, &t, NULL, &err) != RP_OK) fail_msg("cannot read %s", path);
    return t;
}

static cJSON *json_file(const char *path) {
    char *t = slurp(path);
    cJSON *j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    return j;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* data.synthetic + one training: the matrix varies only the evaluation. */
#define DATA                                                                                       \
    "  - id: data\n"                                                                               \
    "    use: data.synthetic\n"                                                                    \
    "    with: {train_count: 48, test_count: 24, size: 16, channels: 1}\n"                         \
    "  - id: net\n"                                                                                \
    "    use: model.build\n"                                                                       \
    "    with: {layers: [flatten, {linear: {out: 6}}], input: [1, 16, 16]}\n"                      \
    "  - id: loss\n"                                                                               \
    "    use: loss\n"                                                                              \
    "    with: {loss: cross_entropy}\n"                                                            \
    "  - id: fit\n"                                                                                \
    "    use: train\n"                                                                             \
    "    in: {model: net, loss: loss, train: data.train}\n"                                        \
    "    with: {epochs: 2, batch_size: 16, optimizer: {sgd: {lr: 0.1}}}\n"

static void test_shared_target_trained_once(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = rp_test_write_pipeline(t, "shared.yaml",
                                           "name: shared\nmatrix: {bs: [8, 12]}\n"
                                           "aggregate: {over: [bs]}\n",
                                           DATA "  - id: eval\n"
                                                "    use: evaluate\n"
                                                "    in: {model: fit.model, data: data.test}\n"
                                                "    with: {names: [test], batch_size: \"${matrix.bs}\"}\n"
                                                "  - id: look\n"
                                                "    use: augment.preview\n"
                                                "    in: {data: data.train}\n"
                                                "    with: {count: 4}\n"
                                                "  - id: rep\n"
                                                "    use: report\n"
                                                "    in: {metrics: eval.metrics}\n");
    char args[2048];
    snprintf(args, sizeof args, "plan '%s'", p);
    assert_int_equal(rp(args), 0);
    assert_non_null(strstr(out_buf, "shared by 2 cells: runs once in shared/fit"));
    const char *out = rp_test_path(t, "shared-run");
    snprintf(args, sizeof args, "run '%s' --out '%s' --no-cache", p, out);
    if (rp(args) != 0) fail_msg("run failed:\n%s", out_buf);
    /* one training: its folder is under shared/, the cells have none */
    assert_int_equal(count(out_buf, "[4/7] fit (train)"), 2);
    assert_int_equal(count(out_buf, "fit (train): shared by 2 cells, already run"), 1);
    assert_int_equal(count(out_buf, "[01/02] train"), 1);
    char path[2048];
    snprintf(path, sizeof path, "%s/shared/fit/history.csv", out);
    assert_true(rp_path_exists(path));
    snprintf(path, sizeof path, "%s/bs-8/fit", out);
    assert_false(rp_path_exists(path));
    snprintf(path, sizeof path, "%s/bs-12/manifest.json", out);
    cJSON *m = json_file(path);
    cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "stages"), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "reused")), "shared");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "dir")), "shared/fit");
    cJSON_Delete(m);
    /* each cell's report shows the figure of the stage the cells share
       (its folder is shared/look, not the cell's) */
    snprintf(path, sizeof path, "%s/shared/look/figures.json", out);
    assert_true(rp_path_exists(path));
    char *html = slurp(rp_test_path(out, "bs-12/report.html"));
    assert_non_null(strstr(html, "Augmentation previews"));
    free(html);
    /* both cells evaluated the same weights (batch size does not change results) */
    char *md = slurp(rp_test_path(out, "aggregate.md"));
    assert_non_null(strstr(md, "± 0 |"));
    free(md);
    /* --resume with a new cell: the shared stage runs once more for it, in
       shared/fit, and finds its training finished there (zero epochs) */
    p = rp_test_write_pipeline(t, "shared.yaml",
                               "name: shared\nmatrix: {bs: [8, 12, 16]}\n"
                               "aggregate: {over: [bs]}\n",
                               DATA "  - id: eval\n"
                                    "    use: evaluate\n"
                                    "    in: {model: fit.model, data: data.test}\n"
                                    "    with: {names: [test], batch_size: \"${matrix.bs}\"}\n"
                                    "  - id: look\n"
                                    "    use: augment.preview\n"
                                    "    in: {data: data.train}\n"
                                    "    with: {count: 4}\n"
                                    "  - id: rep\n"
                                    "    use: report\n"
                                    "    in: {metrics: eval.metrics}\n");
    snprintf(args, sizeof args, "run '%s' --resume '%s' --no-cache", p, out);
    if (rp(args) != 0) fail_msg("resume failed:\n%s", out_buf);
    assert_non_null(strstr(out_buf, "3 cells done (2 skipped as already done)"));
    assert_int_equal(count(out_buf, "[4/7] fit (train)"), 1);
    assert_non_null(strstr(out_buf, "shared/fit/checkpoint.safetensors': 2 of 2 epochs done (finished)"));
    assert_int_equal(count(out_buf, "] train loss"), 0);
    md = slurp(rp_test_path(out, "aggregate.md"));
    assert_non_null(strstr(md, "| 3 |")); /* 3 cells in the one group, still ± 0 */
    assert_non_null(strstr(md, "± 0 |"));
    free(md);
}

static double fit_loss(const char *dir) {
    char path[2048];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    cJSON *j = json_file(path);
    cJSON *v = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fit"), "scalars"), "train_loss");
    if (!v) fail_msg("no fit.train_loss in %s", path);
    double x = v->valuedouble;
    cJSON_Delete(j);
    return x;
}

static void test_cache_reuses_training(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    char cache[1024];
    snprintf(cache, sizeof cache, "%s", rp_test_path(t, "cache"));
    char pipe[4096];
    for (int k = 0; k < 2; k++) {
        /* the second invocation only changes the evaluation's batch size */
        snprintf(pipe, sizeof pipe,
                 DATA "  - id: eval\n"
                      "    use: evaluate\n"
                      "    in: {model: fit.model, data: data.test}\n"
                      "    with: {names: [test], batch_size: %d}\n",
                 k ? 5 : 24);
        const char *p = rp_test_write_pipeline(t, "cache.yaml", "name: cached\n", pipe);
        char args[4096], out[1024];
        snprintf(out, sizeof out, "%s", rp_test_path(t, k ? "run2" : "run1"));
        snprintf(args, sizeof args, "run '%s' --out '%s' --cache '%s'", p, out, cache);
        if (rp(args) != 0) fail_msg("run %d failed:\n%s", k + 1, out_buf);
        if (k == 0) {
            assert_non_null(strstr(out_buf, "fit (train): cache miss"));
            assert_int_equal(count(out_buf, "train loss"), 2);
            continue;
        }
        /* zero training steps: a hit, no epoch line, the same numbers */
        assert_non_null(strstr(out_buf, "fit (train): cache hit"));
        assert_int_equal(count(out_buf, "train loss"), 0);
        assert_non_null(strstr(out_buf, "eval (evaluate): cache miss"));
        cJSON *m = json_file(rp_test_path(out, "manifest.json"));
        cJSON *fit = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "stages"), 3);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(fit, "cache")), "hit");
        cJSON_Delete(m);
        char a[2048], b[2048];
        snprintf(a, sizeof a, "%s/fit/last.safetensors", rp_test_path(t, "run1"));
        snprintf(b, sizeof b, "%s/fit/last.safetensors", out);
        char ha[65], hb[65];
        rp_error err;
        RP_ASSERT_OK(rp_sha256_file(a, ha, &err), &err);
        RP_ASSERT_OK(rp_sha256_file(b, hb, &err), &err);
        assert_string_equal(ha, hb);
        assert_true(fit_loss(rp_test_path(t, "run1")) == fit_loss(out));
        cJSON *j1 = json_file(rp_test_path(rp_test_path(t, "run1"), "metrics.json"));
        cJSON *j2 = json_file(rp_test_path(out, "metrics.json"));
        cJSON *e1 = cJSON_GetObjectItem(cJSON_GetObjectItem(j1, "eval"), "scalars");
        cJSON *e2 = cJSON_GetObjectItem(cJSON_GetObjectItem(j2, "eval"), "scalars");
        assert_true(cJSON_GetObjectItem(e1, "test.accuracy")->valuedouble ==
                    cJSON_GetObjectItem(e2, "test.accuracy")->valuedouble);
        cJSON_Delete(j1);
        cJSON_Delete(j2);
    }
    char args[2048];
    snprintf(args, sizeof args, "cache ls --cache '%s'", cache);
    assert_int_equal(rp(args), 0);
    if (!strstr(out_buf, "3 entries")) fail_msg("cache ls:\n%s", out_buf);
    snprintf(args, sizeof args, "cache gc --max-size 0 --cache '%s'", cache);
    assert_int_equal(rp(args), 0);
    assert_non_null(strstr(out_buf, "removed 3 entries"));
}

static void test_foreach_fan_in(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = rp_test_write_pipeline(
        t, "fe.yaml", "name: fe\n",
        DATA "  - id: ev\n"
             "    use: evaluate\n"
             "    foreach: {bs: [4, 6, 8]}\n"
             "    in: {model: fit.model, data: data.test}\n"
             "    with: {names: [\"t${each.bs}\"], batch_size: \"${each.bs}\"}\n"
             "  - id: all\n"
             "    use: inspect.metrics\n"
             "    in: {metrics: \"ev[*].metrics\"}\n");
    const char *out = rp_test_path(t, "fe-run");
    char args[2048];
    snprintf(args, sizeof args, "run '%s' --out '%s'", p, out);
    if (rp(args) != 0) fail_msg("run failed:\n%s", out_buf);
    char path[2048];
    snprintf(path, sizeof path, "%s/ev/bs-6", out);
    assert_true(rp_is_dir(path));
    cJSON *j = json_file(rp_test_path(out, "metrics.json"));
    cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "all"), "scalars");
    /* list order = instance order; ${each.bs} reached the params */
    const char *want[3] = {"ev/bs-4.t4.accuracy", "ev/bs-6.t6.accuracy", "ev/bs-8.t8.accuracy"};
    size_t k = 0;
    for (cJSON *v = sc ? sc->child : NULL; v; v = v->next)
        if (k < 3 && !strcmp(v->string, want[k])) k++;
    assert_int_equal(k, 3);
    cJSON_Delete(j);
    /* a single-model port given all instances, an unknown ${each.x} */
    p = rp_test_write_pipeline(t, "fe-bad.yaml", "name: febad\n",
                               DATA "  - id: ev\n"
                                    "    use: evaluate\n"
                                    "    foreach: {bs: {range: [4, 6]}}\n"
                                    "    in: {model: fit.model, data: data.test}\n"
                                    "    with: {batch_size: \"${each.bz}\"}\n"
                                    "  - id: ev2\n"
                                    "    use: evaluate\n"
                                    "    in: {model: ev.metrics, data: data.test}\n");
    snprintf(args, sizeof args, "check '%s'", p);
    assert_int_equal(rp(args), 2);
    assert_non_null(strstr(out_buf, "fe-bad.yaml:21:24: error: stage 'ev/bs-4' (evaluate): "
                                    "unknown '${each.bz}' (foreach names: bs)"));
    assert_non_null(strstr(out_buf, "fe-bad.yaml:24:17: error: stage 'ev2' (evaluate): input "
                                    "'model': 'ev' has 2 instances (foreach): write 'ev[*].metrics'"));
}

/* foreach instances resume one by one: the second of two trainings stops
 * after its first epoch (exit 1); --resume finds the first one finished
 * (zero epochs) and continues the second from its own checkpoint to the
 * weights of an uninterrupted run, byte for byte. */
static void test_foreach_resume_per_instance(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = rp_test_write_pipeline(
        t, "fer.yaml", "name: fer\nseed: 2\n",
        "  - id: data\n"
        "    use: data.synthetic\n"
        "    with: {train_count: 16, test_count: 8, size: 8, channels: 1}\n"
        "  - id: net\n"
        "    use: model.build\n"
        "    with: {input: [1, 8, 8], layers: [{flatten: {}}, {linear: {out: 6}}]}\n"
        "  - {id: loss, use: loss}\n"
        "  - id: donor\n"
        "    use: train\n"
        "    foreach: {k: [0, 1]}\n"
        "    in: {model: net, loss: loss, train: data.train}\n"
        "    with: {epochs: 3, batch_size: 8, optimizer: {sgd: {lr: 0.1}},\n"
        "           stop_after_epoch: \"${each.k}\"}\n"
        "  - id: all\n"
        "    use: inspect.metrics\n"
        "    in: {metrics: \"donor[*].metrics\"}\n");
    char part[1024], full[1024], args[3000];
    snprintf(part, sizeof part, "%s", rp_test_path(t, "fer-part"));
    snprintf(full, sizeof full, "%s", rp_test_path(t, "fer-full"));
    snprintf(args, sizeof args, "run '%s' --out '%s' --no-cache", p, part);
    assert_int_equal(rp(args), 1);
    assert_non_null(strstr(out_buf, "stage 'donor/k-1' (train): stop_after_epoch: stopped in epoch 1"));
    snprintf(args, sizeof args, "run '%s' --resume '%s' --no-cache", p, part);
    if (rp(args) != 0) fail_msg("resume failed:\n%s", out_buf);
    assert_non_null(strstr(out_buf, "donor/k-0: resuming from"));
    assert_non_null(strstr(out_buf, "donor/k-0/checkpoint.safetensors': 3 of 3 epochs done (finished)"));
    assert_non_null(strstr(out_buf, "donor/k-1/checkpoint.safetensors': 1 of 3 epochs done\n"));
    assert_int_equal(count(out_buf, "[01/03] train"), 0);
    assert_int_equal(count(out_buf, "[02/03] train"), 1);
    snprintf(args, sizeof args, "run '%s' --out '%s' --no-cache --set stages.donor.with.stop_after_epoch=0",
             p, full);
    if (rp(args) != 0) fail_msg("full run failed:\n%s", out_buf);
    for (int k = 0; k < 2; k++) {
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%s/donor/k-%d/last.safetensors", full, k);
        snprintf(b, sizeof b, "%s/donor/k-%d/last.safetensors", part, k);
        rp_test_same_weights_files(a, b);
    }
}

static void test_matrix_include_exclude_resume(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *stages = "  - id: data\n"
                         "    use: data.synthetic\n"
                         "    with: {train_count: 8, test_count: \"${matrix.n}\", size: 8}\n";
    const char *p = rp_test_write_pipeline(
        t, "ie.yaml",
        "name: ie\nmatrix:\n  n: [4, 8]\n  c: [1, 3]\n  exclude: [{n: 8, c: 3}]\n"
        "  include: [{n: 16, c: 1}]\n",
        stages);
    const char *out = rp_test_path(t, "ie-run");
    char args[2048];
    snprintf(args, sizeof args, "run '%s' --out '%s'", p, out);
    if (rp(args) != 0) fail_msg("run failed:\n%s", out_buf);
    assert_non_null(strstr(out_buf, "4 cells done"));
    char path[2048];
    snprintf(path, sizeof path, "%s/n-8_c-3", out);
    assert_false(rp_path_exists(path));
    snprintf(path, sizeof path, "%s/n-16_c-1/status", out);
    assert_true(rp_path_exists(path));
    /* a new axis value: --resume runs only its cells */
    p = rp_test_write_pipeline(t, "ie.yaml",
                               "name: ie\nmatrix:\n  n: [4, 8, 12]\n  c: [1, 3]\n"
                               "  exclude: [{n: 8, c: 3}]\n  include: [{n: 16, c: 1}]\n",
                               stages);
    snprintf(args, sizeof args, "run '%s' --resume '%s'", p, out);
    if (rp(args) != 0) fail_msg("resume failed:\n%s", out_buf);
    assert_non_null(strstr(out_buf, "6 cells done (4 skipped as already done)"));
    snprintf(args, sizeof args, "check '%s' --set 'matrix.exclude=[{m: 1}]'", p);
    assert_int_equal(rp(args), 2);
    assert_non_null(strstr(out_buf, "'matrix.exclude[0]': 'm' is not a matrix axis (axes: n, c)"));
}

/* The dot plot's y tick labels (text-anchor="end") read as strictly
 * increasing numbers from the bottom up: no repeated or unordered labels. */
__attribute__((noinline)) static void assert_ticks_increase(const char *html) {
    const char *svg = strstr(html, "<svg");
    assert_non_null(svg);
    const char *end = strstr(svg, "</svg>");
    double v[32];
    int n = 0;
    for (const char *q = svg; (q = strstr(q, "text-anchor=\"end\">")) && q < end && n < 32; q++)
        v[n++] = strtod(q + strlen("text-anchor=\"end\">"), NULL);
    if (n < 3) fail_msg("%d y ticks in the plot", n);
    for (int k = 1; k < n; k++)
        if (!(v[k] > v[k - 1])) fail_msg("tick %d (%g) not above tick %d (%g)", k, v[k], k - 1, v[k - 1]);
}

/* Untrained models, evaluated: aggregates without training. */
static const char *agg_pipeline(const char *t, const char *file, const char *aggregate) {
    char head[1024];
    snprintf(head, sizeof head,
             "name: agg\nmatrix:\n"
             "  arch: [{resnet20: {shortcut: A}}, {resnet20: {shortcut: B}}]\n"
             "  domain: [4, 8]\n  seed: [1, 2]\n%s",
             aggregate);
    return rp_test_write_pipeline(t, file, head,
                                  "  - id: data\n"
                                  "    use: data.synthetic\n"
                                  "    with: {train_count: 8, test_count: 8, size: 32, channels: 3}\n"
                                  "  - id: net\n"
                                  "    use: model.build\n"
                                  "    with: {arch: \"${matrix.arch}\", classes: 6}\n"
                                  "  - id: eval\n"
                                  "    use: evaluate\n"
                                  "    in: {model: net, data: data.test}\n"
                                  "    with: {names: [test], limit: \"${matrix.domain}\"}\n");
}

static void test_aggregate_labels_tables(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = agg_pipeline(t, "agg.yaml",
                                 "aggregate:\n  over: [seed]\n  metrics: [\"eval.*.accuracy\"]\n"
                                 "  table: {rows: arch, cols: domain, metric: \"*.accuracy\",\n"
                                 "          format: \"{mean:.3f} ± {std:.3f} ({n})\",\n"
                                 "          then: {mean_over: [domain], as: Avg}}\n");
    const char *out = rp_test_path(t, "agg-run");
    char args[2048];
    snprintf(args, sizeof args, "run '%s' --out '%s'", p, out);
    if (rp(args) != 0) fail_msg("run failed:\n%s", out_buf);
    char *md = slurp(rp_test_path(out, "aggregate.md"));
    /* map values get readable labels and stay apart: 2 archs x 2 domains */
    assert_non_null(strstr(md, "| resnet20(shortcut=A) | 4 | 2 |"));
    assert_non_null(strstr(md, "| resnet20(shortcut=B) | 8 | 2 |"));
    assert_null(strstr(md, "| ? |"));
    assert_non_null(strstr(md, "| arch | 4 | 8 | Avg |"));
    free(md);
    /* the Avg column is the mean of the two domain means of its row */
    char *csv = slurp(rp_test_path(out, "aggregate.csv"));
    if (!strstr(csv, "mean_of_means,,resnet20(shortcut=A),Avg,*,2 means")) fail_msg("%s", csv);
    free(csv);
    char *html = slurp(rp_test_path(out, "summary.html"));
    assert_non_null(strstr(html, "<th>Avg</th>"));
    assert_non_null(strstr(html, "<svg"));
    assert_ticks_increase(html);
    /* the cell rows name map values as the groups do */
    assert_non_null(strstr(html, ">arch=resnet20(shortcut=A) domain=4 seed=1</a>"));
    assert_non_null(strstr(html, "href=\"arch-1_domain-4_seed-1/\""));
    free(html);
    /* a table with rows only: one column, titled "by arch" (not "arch × ");
       accuracies never get an axis below 0 */
    p = agg_pipeline(t, "agg-rows.yaml",
                     "aggregate:\n  over: [seed, domain]\n  metrics: [\"eval.*.accuracy\"]\n"
                     "  table: {rows: arch, metric: eval.test.accuracy, scale: 100}\n");
    out = rp_test_path(t, "agg-rows-run");
    snprintf(args, sizeof args, "run '%s' --out '%s'", p, out);
    if (rp(args) != 0) fail_msg("run failed:\n%s", out_buf);
    md = slurp(rp_test_path(out, "aggregate.md"));
    if (!strstr(md, "## eval.test.accuracy (× 100) by arch\n\n| arch | eval.test.accuracy |"))
        fail_msg("%s", md);
    assert_null(strstr(md, "×  "));
    free(md);
    html = slurp(rp_test_path(out, "summary.html"));
    assert_non_null(strstr(html, "<h2>eval.test.accuracy (× 100) by arch</h2>"));
    assert_null(strstr(html, "text-anchor=\"end\">-"));
    /* wide tables scroll on their own instead of widening the page */
    assert_non_null(strstr(html, "overflow-x:auto"));
    free(html);
    /* an entry that matches no metric names the available ones */
    p = agg_pipeline(t, "agg-bad.yaml",
                     "aggregate:\n  over: [seed]\n  metrics: [eval.test.dice]\n");
    snprintf(args, sizeof args, "run '%s' -q --out '%s'", p, rp_test_path(t, "agg-bad-run"));
    assert_int_equal(rp(args), 1);
    assert_non_null(strstr(out_buf, "agg-bad.yaml:9:13: error: 'aggregate.metrics[0]': 'eval.test.dice' "
                                    "matches no metric (available: eval.test.loss, eval.test.accuracy"));
    /* the columns follow `metrics` (S1: pixel accuracy, Dice, loss as the
     * paper's table), a metric named twice (here by a glob) once */
    p = agg_pipeline(t, "agg-order.yaml",
                     "aggregate:\n  over: [seed]\n  metrics: [eval.test.accuracy, eval.test.loss, \"*.accuracy\"]\n");
    out = rp_test_path(t, "agg-order-run");
    snprintf(args, sizeof args, "run '%s' -q --out '%s'", p, out);
    if (rp(args) != 0) fail_msg("run failed:\n%s", out_buf);
    md = slurp(rp_test_path(out, "aggregate.md"));
    if (!strstr(md, "| cell | eval.test.accuracy | eval.test.loss | status |\n"))
        fail_msg("columns not in the order of 'metrics':\n%s", md);
    if (!strstr(md, "| arch | domain | cells | eval.test.accuracy | eval.test.loss |\n"))
        fail_msg("group columns not in the order of 'metrics':\n%s", md);
    free(md);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_target_trained_once),
        cmocka_unit_test(test_cache_reuses_training),
        cmocka_unit_test(test_foreach_fan_in),
        cmocka_unit_test(test_foreach_resume_per_instance),
        cmocka_unit_test(test_matrix_include_exclude_resume),
        cmocka_unit_test(test_aggregate_labels_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
