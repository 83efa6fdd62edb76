/* The evaluate stage (and report on its output) in a real pipeline run:
 * two test sets (clean and upper_bar-occluded Fashion-MNIST), a loss input,
 * a baseline model for DAA, top-k; then the consistency of every number in
 * the metrics artifact (as report's metrics.json shows it), the files, and
 * errors for bad wiring. Uses Debian's dataset-fashion-mnist (make deps). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../../harness.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

/* Write p.yaml (top-level HEAD_KEYS, then STAGES) in a fresh directory and
 * run it into OUT; the exit code, output in log_text. */
static int run(const char *head_keys, const char *stages, const char *out, char *log_text,
               size_t n) {
    const char *dir = rp_test_tmpdir();
    char log[700], args[2000];
    snprintf(log, sizeof log, "%s/log", dir);
    const char *path = rp_test_write_pipeline(dir, "p.yaml", head_keys, stages);
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads 1", path, out);
    return rp_test_runpipe(args, log, log_text, n);
}

#define KEYS "name: evaltest\nseed: 5\n"

/* The first stages of every evaluate pipeline (after KEYS). */
static const char *HEAD =
    "  - id: fm\n    use: data.idx\n    with: {dir: " FMNIST ", limit: 300}\n"
    "  - id: occ\n    use: augment\n    in: {data: fm.test}\n    with: {transforms: [upper_bar]}\n"
    "  - id: net\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n"
    "  - id: base\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n"
    "  - id: crit\n    use: loss\n    with: {loss: {focal: {gamma: 2}}}\n";

static double scalar(const cJSON *sc, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(sc, k);
    if (!v) fail_msg("metric '%s' missing", k);
    return v->valuedouble;
}

static void test_evaluate_two_sets_baseline(void **state) {
    (void)state;
    struct stat sb;
    if (stat(FMNIST, &sb) != 0) fail_msg("%s missing: run `make deps`", FMNIST);
    char out[700], yaml[4000], log[20000];
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    snprintf(yaml, sizeof yaml,
             "%s  - id: ev\n    use: evaluate\n"
             "    in: {model: net, data: [fm.test, occ], loss: crit, baseline: base}\n"
             "    with: {top_k: [1, 3], limit: 250, batch_size: 64,\n"
             "           metrics: [balanced_accuracy, {ece: {bins: 10}}],\n"
             "           predictions: true, predictions_top_k: 2, logits: true, misclassified: 5}\n"
             "  - id: rep\n    use: report\n    in: {metrics: [ev], data: fm.test, model: net}\n"
             "    with: {samples: 12}\n",
             HEAD);
    int rc = run(KEYS, yaml, out, log, sizeof log);
    if (rc != 0) fail_msg("runpipe exited %d:\n%s", rc, log);
    assert_non_null(strstr(log, "test: acc"));
    assert_non_null(strstr(log, "DAA"));

    char *js = NULL;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "rep/metrics.json"), &js, &len, &err), &err);
    cJSON *root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "inputs"), 0);
    assert_string_equal(cJSON_GetObjectItem(ev, "source")->valuestring, "ev");
    const cJSON *sc = cJSON_GetObjectItem(ev, "scalars");
    const char *sets[2] = {"test", "occ"};
    double acc[2];
    for (int s = 0; s < 2; s++) {
        char k[64];
        snprintf(k, sizeof k, "%s.samples", sets[s]);
        assert_true(scalar(sc, k) == 250);
        snprintf(k, sizeof k, "%s.accuracy", sets[s]);
        acc[s] = scalar(sc, k);
        snprintf(k, sizeof k, "%s.top1_accuracy", sets[s]);
        assert_true(scalar(sc, k) == acc[s]);
        snprintf(k, sizeof k, "%s.top3_accuracy", sets[s]);
        assert_true(scalar(sc, k) >= acc[s]);
        snprintf(k, sizeof k, "%s.error_rate", sets[s]);
        assert_true(fabs(scalar(sc, k) - (1 - acc[s])) < 1e-12);
        snprintf(k, sizeof k, "%s.weighted_recall", sets[s]); /* = accuracy, always */
        assert_true(fabs(scalar(sc, k) - acc[s]) < 1e-12);
        snprintf(k, sizeof k, "%s.balanced_accuracy", sets[s]); /* metric components */
        assert_true(scalar(sc, k) >= 0 && scalar(sc, k) <= 1);
        snprintf(k, sizeof k, "%s.ece", sets[s]);
        assert_true(scalar(sc, k) >= 0 && scalar(sc, k) <= 1);
        snprintf(k, sizeof k, "%s.mce", sets[s]);
        assert_true(scalar(sc, k) >= 0 && scalar(sc, k) <= 1);
        snprintf(k, sizeof k, "%s.loss", sets[s]);
        assert_true(scalar(sc, k) > 0 && isfinite(scalar(sc, k)));
        /* the confusion matrix holds every sample once and its trace is the accuracy */
        snprintf(k, sizeof k, "confusion.%s", sets[s]);
        const cJSON *cm = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "tables"), k);
        assert_non_null(cm);
        const cJSON *vals = cJSON_GetObjectItem(cm, "values");
        assert_int_equal(cJSON_GetArraySize(vals), 10);
        assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(cm, "rows"), 0)->valuestring,
                            "T-shirt/top");
        double tot = 0, tr = 0;
        for (int i = 0; i < 10; i++)
            for (int j = 0; j < 10; j++) {
                double v = cJSON_GetArrayItem(cJSON_GetArrayItem(vals, i), j)->valuedouble;
                tot += v;
                if (i == j) tr += v;
            }
        assert_true(tot == 250);
        assert_true(fabs(tr / tot - acc[s]) < 1e-12);
        snprintf(k, sizeof k, "report.%s", sets[s]);
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "tables"), k));
    }
    double aa = scalar(sc, "AA"), baa = scalar(sc, "baseline.AA");
    assert_true(fabs(aa - (acc[0] + acc[1]) / 2) < 1e-12);
    assert_true(fabs(baa - (scalar(sc, "baseline.test.accuracy") +
                            scalar(sc, "baseline.occ.accuracy")) / 2) < 1e-12);
    assert_true(fabs(scalar(sc, "DAA") - 100 * (aa - baa)) < 1e-9);
    /* files of the stage, listed in the artifact */
    const cJSON *files = cJSON_GetObjectItem(ev, "files");
    assert_true(cJSON_GetArraySize(files) >= 5);
    for (int i = 0; i < cJSON_GetArraySize(files); i++)
        assert_int_equal(stat(rp_test_path(out, cJSON_GetArrayItem(files, i)->valuestring), &sb), 0);
    assert_int_equal(stat(rp_test_path(out, "ev/report.test.csv"), &sb), 0);
    assert_int_equal(stat(rp_test_path(out, "ev/metrics.md"), &sb), 0);
    cJSON_Delete(root);

    char *html = NULL;
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "report.html"), &html, &len, &err), &err);
    assert_non_null(strstr(html, "confusion matrix: occ"));
    assert_non_null(strstr(html, "Sample images"));
    assert_non_null(strstr(html, "name: evaltest"));
    /* 12 samples, each captioned with the model's prediction */
    const char *samp = strstr(html, "id=\"samples\""), *fig = strstr(html, "id=\"figures\"");
    assert_non_null(samp);
    assert_non_null(fig);
    int figs = 0, predicted = 0;
    for (const char *p = samp; (p = strstr(p, "<figure")) && p < fig; p++) figs++;
    for (const char *p = samp; (p = strstr(p, "<br>")) && p < fig; p++) predicted++;
    assert_int_equal(figs, 12);
    assert_int_equal(predicted, 12);
    /* the 5 most confident errors of each set, inlined as PNGs */
    assert_non_null(strstr(fig, "Most confidently misclassified"));
    int wrong = 0;
    for (const char *p = fig; (p = strstr(p, "<figure><img alt=\"\" src=\"data:image/png;base64,"));
         p++)
        wrong++;
    assert_int_equal(wrong, 10);
    assert_int_equal(stat(rp_test_path(out, "ev/misclassified/occ/05.png"), &sb), 0);
    free(html);

    /* predictions.<set>.csv: one row per sample, in order; its `correct`
       column gives the accuracy, its top-2 probabilities are sorted */
    char *csv = NULL;
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "ev/predictions.test.csv"), &csv, &len, &err),
                 &err);
    const char *hdr = "index,source,true_id,true,pred_id,pred,correct,top1,p1,top2,p2\n";
    assert_memory_equal(csv, hdr, strlen(hdr));
    int rows = 0, correct = 0;
    int pred_of[250];
    for (char *line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        unsigned long long idx;
        int t, pr, ok, used = 0;
        char src[200];
        assert_int_equal(
            sscanf(line, "%llu,%199[^,],%d,%*[^,],%d,%*[^,],%d,%n", &idx, src, &t, &pr, &ok, &used),
            5);
        assert_int_equal(idx, (unsigned long long)rows);
        /* the sample's file and record, from the dataset */
        char want[200];
        snprintf(want, sizeof want, "t10k-images-idx3-ubyte.gz: image %d", rows);
        if (!strstr(src, want)) fail_msg("source '%s', expected '%s'", src, want);
        assert_int_equal(ok, t == pr);
        double p1, p2;
        assert_int_equal(sscanf(line + used, "%*[^,],%lf,%*[^,],%lf", &p1, &p2), 2);
        assert_true(p1 >= p2 && p1 <= 1 && p2 >= 0);
        pred_of[rows < 250 ? rows : 249] = pr;
        correct += ok;
        rows++;
    }
    free(csv);
    assert_int_equal(rows, 250);
    assert_true(fabs(correct / 250.0 - acc[0]) < 1e-12);
    /* logits.<set>.safetensors: [250, 10], argmax = the predicted class */
    rp_st lg;
    rp_st_init(&lg);
    RP_ASSERT_OK(rp_st_load(rp_test_path(out, "ev/logits.test.safetensors"), &lg, &err), &err);
    const rp_tensor *l = rp_st_get(&lg, "logits");
    assert_non_null(l);
    assert_int_equal(l->ndim, 2);
    assert_int_equal(l->shape[0], 250);
    assert_int_equal(l->shape[1], 10);
    for (int i = 0; i < 250; i++) {
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (l->data[i * 10 + k] > l->data[i * 10 + best]) best = k;
        assert_int_equal(best, pred_of[i]);
    }
    assert_non_null(rp_st_get(&lg, "labels"));
    assert_string_equal(rp_st_meta(&lg, "set"), "test");
    rp_st_release(&lg);
}

static void test_evaluate_errors(void **state) {
    (void)state;
    char out[700], yaml[4000], log[20000];
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    /* a 4-class model on a 10-class set */
    snprintf(yaml, sizeof yaml,
             "%s  - id: small\n    use: model.build\n    with: {arch: mnist_cnn, classes: 4}\n"
             "  - id: ev\n    use: evaluate\n    in: {model: small, data: fm.test}\n"
             "    with: {limit: 10}\n",
             HEAD);
    /* found by the check, before anything runs */
    assert_int_equal(run(KEYS, yaml, out, log, sizeof log), 2);
    if (!strstr(log, "stage 'ev' (evaluate): model 'small.model' has 4 classes ("))
        fail_msg("unexpected message:\n%s", log);
    if (!strstr(log, "but 'fm.test' has 10 ("))
        fail_msg("unexpected message:\n%s", log);
    /* names must match the number of sets */
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    snprintf(yaml, sizeof yaml,
             "%s  - id: ev\n    use: evaluate\n    in: {model: net, data: [fm.test, occ]}\n"
             "    with: {names: [clean], limit: 10}\n",
             HEAD);
    assert_int_equal(run(KEYS, yaml, out, log, sizeof log), 1);
    if (!strstr(log, "'names' has 1 entries but 2 datasets are wired to 'data'"))
        fail_msg("unexpected message:\n%s", log);
    /* an unknown metric component is caught before anything runs */
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    snprintf(yaml, sizeof yaml,
             "%s  - id: ev\n    use: evaluate\n    in: {model: net, data: fm.test}\n"
             "    with: {metrics: [balanced_acuracy]}\n",
             HEAD);
    assert_int_equal(run(KEYS, yaml, out, log, sizeof log), 2);
    if (!strstr(log, "balanced_accuracy")) fail_msg("unexpected message:\n%s", log);
    /* schema: a typo in a parameter is caught before anything runs */
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    snprintf(yaml, sizeof yaml,
             "%s  - id: ev\n    use: evaluate\n    in: {model: net, data: fm.test}\n"
             "    with: {top_kk: [1]}\n",
             HEAD);
    assert_int_equal(run(KEYS, yaml, out, log, sizeof log), 2);
    if (!strstr(log, "top_k")) fail_msg("unexpected message:\n%s", log);
}

/* Segmentation end to end: synthetic shapes with masks, a small U-Net,
 * per-pixel cross-entropy + Dice, evaluate (pixel accuracy, IoU, Dice, ECE)
 * and the report's image + mask samples. */
static void test_evaluate_segmentation(void **state) {
    (void)state;
    char out[700], yaml[4000], log[20000];
    snprintf(out, sizeof out, "%s", rp_test_path(rp_test_tmpdir(), "run"));
    snprintf(yaml, sizeof yaml,
             "  - id: shapes\n    use: data.synthetic\n"
             "    with: {train_count: 32, test_count: 24, size: 32, masks: true,\n"
             "           classes: [circle, square, triangle]}\n"
             "  - id: net\n    use: model.build\n"
             "    with: {arch: {unet: {size: 32, depth: 2, base: 4}}, classes: 4}\n"
             "  - id: crit\n    use: loss\n"
             "    with: {loss: {sum: {terms: [pixel_cross_entropy, {dice: {weight: 0.5}}]}}}\n"
             "  - id: fit\n    use: train\n"
             "    in: {model: net, loss: crit, train: shapes.train}\n"
             "    with: {epochs: 1, batch_size: 16}\n"
             "  - id: ev\n    use: evaluate\n    in: {model: fit.model, data: shapes.test, loss: crit}\n"
             "    with: {metrics: [ece], batch_size: 10}\n"
             "  - id: rep\n    use: report\n    in: {metrics: [ev], data: shapes.test}\n"
             "    with: {samples: 3}\n");
    int rc = run("name: segtest\nseed: 3\n", yaml, out, log, sizeof log);
    if (rc != 0) fail_msg("runpipe exited %d:\n%s", rc, log);
    assert_non_null(strstr(log, "test: pixel acc"));
    char *js = NULL;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "rep/metrics.json"), &js, &len, &err), &err);
    cJSON *root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "inputs"), 0);
    const cJSON *sc = cJSON_GetObjectItem(ev, "scalars");
    double pa = scalar(sc, "test.pixel_accuracy");
    assert_true(pa >= 0 && pa <= 1);
    assert_true(scalar(sc, "test.accuracy") == pa);
    assert_true(scalar(sc, "test.pixels") == 24 * 32 * 32);
    assert_true(scalar(sc, "test.ignored_pixels") == 0);
    assert_true(scalar(sc, "test.mean_iou") >= 0 && scalar(sc, "test.mean_iou") <= 1);
    assert_true(scalar(sc, "test.mean_dice") >= scalar(sc, "test.mean_iou")); /* Dice >= IoU */
    assert_true(scalar(sc, "test.ece") >= 0);
    assert_true(isfinite(scalar(sc, "test.loss")));
    const cJSON *tabs = cJSON_GetObjectItem(ev, "tables");
    const cJSON *cm = cJSON_GetObjectItem(tabs, "confusion.test");
    assert_non_null(cm);
    const cJSON *vals = cJSON_GetObjectItem(cm, "values");
    double tot = 0, tr = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double v = cJSON_GetArrayItem(cJSON_GetArrayItem(vals, i), j)->valuedouble;
            tot += v;
            tr += i == j ? v : 0;
        }
    assert_true(tot == 24 * 32 * 32);
    assert_true(fabs(tr / tot - pa) < 1e-12);
    assert_non_null(cJSON_GetObjectItem(tabs, "segmentation.test"));
    cJSON_Delete(root);
    char *html = NULL;
    RP_ASSERT_OK(rp_read_file(rp_test_path(out, "report.html"), &html, &len, &err), &err);
    assert_non_null(strstr(html, "per-class IoU and Dice"));
    int masks = 0;
    for (const char *q = html; (q = strstr(q, "<img alt=\"mask\"")); q++) masks++;
    assert_int_equal(masks, 3);
    free(html);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_two_sets_baseline),
        cmocka_unit_test(test_evaluate_errors),
        cmocka_unit_test(test_evaluate_segmentation),
    };
    return cmocka_run_group_tests_name("evaluate_stage", tests, NULL, NULL);
}
