/* Evaluate's metric code against scikit-learn (tests/golden/make_metrics.py):
 * classification_report incl. zero_division=0 and label selection, the
 * confusion matrix, top-k accuracy, segmentation IoU/Dice; AA/DAA; tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../harness.h"
#include "../../../plugins/evaluate/evaluate.h"

/* The metric components under test, linked from the plugin's objects. */
extern const struct rp_metric_ops ev_metric_balanced_accuracy;
extern const struct rp_metric_ops ev_metric_ece;

static cJSON *fx;

static int setup(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    rp_error err;
    rp_error_clear(&err);
    if (rp_read_file(rp_test_path(rp_test_src(), "tests/golden/data/metrics.json"), &text, &len,
                     &err) != RP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    fx = cJSON_Parse(text);
    free(text);
    return fx ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    cJSON_Delete(fx);
    return 0;
}

static int *ints(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    int *v = malloc(sizeof(int) * (size_t)*n);
    for (int i = 0; i < *n; i++) v[i] = cJSON_GetArrayItem(a, i)->valueint;
    return v;
}

static void near(double got, double want, const char *what) {
    if (!(fabs(got - want) <= 1e-12 + 1e-12 * fabs(want)))
        fail_msg("%s: got %.15g, scikit-learn %.15g", what, got, want);
}

static double item(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuedouble; }

static void test_classification_report(void **state) {
    (void)state;
    const cJSON *c = cJSON_GetObjectItem(fx, "classification");
    int C = cJSON_GetObjectItem(c, "classes")->valueint, n, n2;
    int *yt = ints(cJSON_GetObjectItem(c, "y_true"), &n);
    const cJSON *sc = cJSON_GetObjectItem(c, "scores");
    assert_int_equal(cJSON_GetArraySize(sc), n * C);
    float *scores = malloc(sizeof(float) * (size_t)(n * C));
    for (int i = 0; i < n * C; i++) scores[i] = (float)cJSON_GetArrayItem(sc, i)->valuedouble;
    int *yp = ints(cJSON_GetObjectItem(c, "y_pred"), &n2);
    assert_int_equal(n, n2);

    /* predictions = argmax of the scores, like sklearn's y_pred */
    int64_t *conf = calloc((size_t)(C * C), sizeof(int64_t));
    int64_t hits[4] = {0};
    for (int i = 0; i < n; i++) {
        int p = ev_argmax(scores + (size_t)i * C, C);
        assert_int_equal(p, yp[i]);
        conf[yt[i] * C + p]++;
        for (int k = 1; k <= 3; k++) hits[k] += ev_topk_hit(scores + (size_t)i * C, C, yt[i], k);
    }
    const cJSON *cm = cJSON_GetObjectItem(c, "confusion");
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++)
            assert_int_equal(conf[i * C + j],
                             cJSON_GetArrayItem(cJSON_GetArrayItem(cm, i), j)->valueint);
    const cJSON *tk = cJSON_GetObjectItem(c, "topk");
    for (int k = 1; k <= 3; k++) {
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        near((double)hits[k] / n, item(tk, key), "top-k accuracy");
    }

    ev_report r;
    rp_error err;
    RP_ASSERT_OK(ev_report_from_confusion(conf, C, &r, &err), &err);
    int nl;
    int *labels = ints(cJSON_GetObjectItem(c, "labels"), &nl);
    assert_int_equal(r.n, nl); /* class 6 is in neither y_true nor y_pred: left out */
    const cJSON *rep = cJSON_GetObjectItem(c, "report");
    for (int i = 0; i < nl; i++) {
        assert_int_equal(r.labels[i], labels[i]);
        char key[16];
        snprintf(key, sizeof key, "%d", labels[i]);
        const cJSON *row = cJSON_GetObjectItem(rep, key);
        near(r.precision[i], item(row, "precision"), "precision");
        near(r.recall[i], item(row, "recall"), "recall");
        near(r.f1[i], item(row, "f1-score"), "f1");
        assert_int_equal(r.support[i], (int64_t)item(row, "support"));
    }
    near(r.accuracy, cJSON_GetObjectItem(rep, "accuracy")->valuedouble, "accuracy");
    near(r.accuracy, item(c, "accuracy"), "accuracy");
    const char *avg[2] = {"macro avg", "weighted avg"};
    for (int a = 0; a < 2; a++) {
        const cJSON *row = cJSON_GetObjectItem(rep, avg[a]);
        const double *v = a ? r.weighted : r.macro;
        near(v[0], item(row, "precision"), avg[a]);
        near(v[1], item(row, "recall"), avg[a]);
        near(v[2], item(row, "f1-score"), avg[a]);
        assert_int_equal(r.total, (int64_t)item(row, "support"));
    }

    /* the report table as the report stage reads it */
    rp_metrics *m = rp_metrics_new();
    const char *names[7] = {"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt"};
    RP_ASSERT_OK(ev_report_table(m, "report.test", &r, names, &err), &err);
    RP_ASSERT_OK(ev_confusion_table(m, "confusion.test", conf, C, names, &err), &err);
    const rp_table *t = rp_metrics_table(m, "report.test");
    assert_non_null(t);
    assert_int_equal(t->rows, (size_t)nl + 3);
    assert_int_equal(t->cols, 4);
    assert_string_equal(t->row_names[5], "sandal");
    assert_string_equal(t->row_names[nl], "accuracy");
    assert_string_equal(t->row_names[nl + 2], "weighted avg");
    assert_string_equal(t->col_names[2], "f1-score");
    assert_true(isnan(t->values[nl * 4]));
    near(t->values[nl * 4 + 2], r.accuracy, "accuracy row");
    near(t->values[(nl + 1) * 4 + 2], r.macro[2], "macro f1 cell");
    const rp_table *ct = rp_metrics_table(m, "confusion.test");
    assert_int_equal(ct->rows, 7);
    assert_true(ct->values[0] == 69);

    /* CSV + Markdown files */
    const char *dir = rp_test_tmpdir();
    const char *csv = rp_test_path(dir, "report.csv");
    RP_ASSERT_OK(ev_write_table_csv(t, csv, &err), &err);
    char *text = NULL;
    size_t len;
    RP_ASSERT_OK(rp_read_file(csv, &text, &len, &err), &err);
    assert_non_null(strstr(text, "name,precision,recall,f1-score,support\n"));
    assert_non_null(strstr(text, "\naccuracy,,,0.49,300\n"));
    free(text);
    RP_ASSERT_OK(rp_metrics_set(m, "test.accuracy", r.accuracy, &err), &err);
    const char *md = rp_test_path(dir, "m.md");
    RP_ASSERT_OK(ev_write_markdown(m, "evaluate: ev|x", md, &err), &err);
    RP_ASSERT_OK(rp_read_file(md, &text, &len, &err), &err);
    assert_non_null(strstr(text, "# evaluate: ev\\|x\n"));
    assert_non_null(strstr(text, "| test.accuracy | 0.49 |"));
    assert_non_null(strstr(text, "| accuracy |  |  | 0.4900 | 300 |"));
    free(text);

    rp_metrics_free(m);
    ev_report_release(&r);
    free(labels);
    free(conf);
    free(scores);
    free(yt);
    free(yp);
}

static void test_segmentation(void **state) {
    (void)state;
    const cJSON *s = cJSON_GetObjectItem(fx, "segmentation");
    int C = cJSON_GetObjectItem(s, "classes")->valueint, n, n2;
    int *yt = ints(cJSON_GetObjectItem(s, "y_true"), &n);
    int *yp = ints(cJSON_GetObjectItem(s, "y_pred"), &n2);
    int64_t *conf = calloc((size_t)(C * C), sizeof(int64_t));
    for (int i = 0; i < n; i++) conf[yt[i] * C + yp[i]]++;
    ev_seg g;
    rp_error err;
    RP_ASSERT_OK(ev_seg_from_confusion(conf, C, &g, &err), &err);
    const cJSON *iou = cJSON_GetObjectItem(s, "iou"), *dice = cJSON_GetObjectItem(s, "dice");
    for (int k = 0; k < C; k++) {
        near(g.iou[k], cJSON_GetArrayItem(iou, k)->valuedouble, "iou");
        near(g.dice[k], cJSON_GetArrayItem(dice, k)->valuedouble, "dice");
    }
    assert_int_equal(g.present[4], 0);
    assert_int_equal(g.present[3], 1);
    near(g.mean_iou, item(s, "mean_iou"), "mean iou");
    near(g.mean_dice, item(s, "mean_dice"), "mean dice");
    near(g.pixel_accuracy, item(s, "pixel_accuracy"), "pixel accuracy");
    rp_metrics *m = rp_metrics_new();
    RP_ASSERT_OK(ev_seg_table(m, "segmentation.val", &g, NULL, &err), &err);
    const rp_table *t = rp_metrics_table(m, "segmentation.val");
    assert_int_equal(t->rows, (size_t)C + 1);
    assert_string_equal(t->row_names[0], "0");
    assert_string_equal(t->row_names[C], "mean");
    near(t->values[C * 3 + 1], g.mean_dice, "mean dice cell");
    rp_metrics_free(m);
    ev_seg_release(&g);
    free(conf);
    free(yt);
    free(yp);
}

static void test_topk_ties_and_aa(void **state) {
    (void)state;
    float s[4] = {1, 3, 3, 0};
    assert_int_equal(ev_argmax(s, 4), 1);     /* first of the tied maxima */
    assert_int_equal(ev_topk_hit(s, 4, 1, 1), 1);
    assert_int_equal(ev_topk_hit(s, 4, 2, 1), 0);
    assert_int_equal(ev_topk_hit(s, 4, 2, 2), 1);
    assert_int_equal(ev_topk_hit(s, 4, 0, 2), 0);
    assert_int_equal(ev_topk_hit(s, 4, 3, 4), 1);
    double acc[2] = {0.9, 0.6};
    near(ev_aa(acc, 2), 0.75, "AA");
    near(ev_daa(0.75, 0.6709), 7.91, "DAA");
    near(ev_aa(acc, 0), 0, "AA of nothing");
}

/* A degenerate matrix: nothing right, an empty class. */
static void test_zero_division(void **state) {
    (void)state;
    int64_t conf[9] = {0, 5, 0, 3, 0, 0, 0, 0, 0};
    ev_report r;
    rp_error err;
    RP_ASSERT_OK(ev_report_from_confusion(conf, 3, &r, &err), &err);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(r.precision[i] == 0 && r.recall[i] == 0 && r.f1[i] == 0);
    }
    assert_true(r.accuracy == 0 && r.macro[2] == 0 && r.weighted[0] == 0);
    ev_report_release(&r);
    int64_t none[4] = {0};
    RP_ASSERT_OK(ev_report_from_confusion(none, 2, &r, &err), &err);
    assert_int_equal(r.n, 0);
    assert_true(r.accuracy == 0);
    ev_report_release(&r);
}

/* Run a metric component over `rows` rows of scores (in two batches). */
static double run_metric(const struct rp_metric_ops *ops, const char *params_yaml, int C,
                         const float *scores, const int *yt, int rows, const char *key,
                         const char *key2, double *v2) {
    rp_error err;
    rp_node *params = NULL;
    RP_ASSERT_OK(rp_node_parse_string(params_yaml, "<params>", &params, &err), &err);
    void *st = NULL;
    RP_ASSERT_OK(ops->create(params, C, &st, &err), &err);
    int half = rows / 2;
    for (int part = 0; part < 2; part++) {
        int lo = part ? half : 0, hi = part ? rows : half;
        rp_tensor *x = NULL;
        RP_ASSERT_OK(rp_tensor_new2(&x, hi - lo, C, &err), &err);
        memcpy(x->data, scores + (size_t)lo * C, sizeof(float) * (size_t)(hi - lo) * C);
        int32_t *t = malloc(sizeof(int32_t) * (size_t)(hi - lo));
        for (int i = lo; i < hi; i++) t[i - lo] = yt[i];
        RP_ASSERT_OK(ops->update(st, x, t, &err), &err);
        free(t);
        rp_tensor_free(x);
    }
    rp_metrics *m = rp_metrics_new();
    RP_ASSERT_OK(ops->finish(st, "test.", m, &err), &err);
    double v = NAN;
    assert_true(rp_metrics_get(m, key, &v));
    if (key2) assert_true(rp_metrics_get(m, key2, v2));
    rp_metrics_free(m);
    ops->destroy(st);
    rp_node_free(params);
    return v;
}

static void test_metric_components(void **state) {
    (void)state;
    const cJSON *c = cJSON_GetObjectItem(fx, "classification");
    int C = cJSON_GetObjectItem(c, "classes")->valueint, n;
    int *yt = ints(cJSON_GetObjectItem(c, "y_true"), &n);
    const cJSON *sc = cJSON_GetObjectItem(c, "scores");
    float *scores = malloc(sizeof(float) * (size_t)(n * C));
    for (int i = 0; i < n * C; i++) scores[i] = (float)cJSON_GetArrayItem(sc, i)->valuedouble;

    double ba = run_metric(&ev_metric_balanced_accuracy, "{}", C, scores, yt, n,
                           "test.balanced_accuracy", NULL, NULL);
    near(ba, item(c, "balanced_accuracy"), "balanced accuracy");
    const cJSON *ece = cJSON_GetObjectItem(c, "ece");
    for (int b = 10; b <= 15; b += 5) {
        char yaml[32], key[16];
        snprintf(yaml, sizeof yaml, "{bins: %d}", b);
        snprintf(key, sizeof key, "%d", b);
        double mce = NAN;
        double e = run_metric(&ev_metric_ece, yaml, C, scores, yt, n, "test.ece", "test.mce", &mce);
        const cJSON *want = cJSON_GetObjectItem(ece, key);
        if (fabs(e - item(want, "ece")) > 1e-9) fail_msg("ece %d bins: %.12g vs %.12g", b, e, item(want, "ece"));
        if (fabs(mce - item(want, "mce")) > 1e-9) fail_msg("mce %d bins: %.12g vs %.12g", b, mce, item(want, "mce"));
    }

    /* [N, C, H, W] layout: the same 30 rows as 2 images of 3x5 pixels */
    rp_error err;
    int64_t shape[4] = {2, C, 3, 5};
    rp_tensor *x = NULL;
    RP_ASSERT_OK(rp_tensor_new(&x, 4, shape, &err), &err);
    int32_t t4[30];
    for (int r = 0; r < 30; r++) {
        int img = r / 15, q = r % 15;
        for (int k = 0; k < C; k++) x->data[(img * C + k) * 15 + q] = scores[r * C + k];
        t4[r] = yt[r];
    }
    t4[7] = 255; /* a void pixel is skipped */
    int32_t t2[30];
    memcpy(t2, t4, sizeof t2);
    void *st = NULL;
    RP_ASSERT_OK(ev_metric_balanced_accuracy.create(NULL, C, &st, &err), &err);
    RP_ASSERT_OK(ev_metric_balanced_accuracy.update(st, x, t4, &err), &err);
    rp_metrics *m = rp_metrics_new();
    RP_ASSERT_OK(ev_metric_balanced_accuracy.finish(st, "", m, &err), &err);
    double v4;
    assert_true(rp_metrics_get(m, "balanced_accuracy", &v4));
    rp_metrics_free(m);
    ev_metric_balanced_accuracy.destroy(st);
    /* expected: per-class recall over the 29 used rows */
    int64_t sup[16] = {0}, hit[16] = {0};
    for (int r = 0; r < 30; r++) {
        if (t2[r] == 255) continue;
        sup[t2[r]]++;
        hit[t2[r]] += ev_argmax(scores + (size_t)r * C, C) == t2[r];
    }
    double s = 0;
    int k = 0;
    for (int j = 0; j < C; j++)
        if (sup[j]) s += (double)hit[j] / (double)sup[j], k++;
    near(v4, s / k, "balanced accuracy on [N, C, H, W]");
    /* wrong class count: an error, not a crash */
    rp_node *bins = NULL;
    RP_ASSERT_OK(rp_node_parse_string("{bins: 15}", "<params>", &bins, &err), &err);
    RP_ASSERT_OK(ev_metric_ece.create(bins, C + 1, &st, &err), &err);
    rp_node_free(bins);
    assert_int_equal(ev_metric_ece.update(st, x, t4, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "metric 'ece': 7 scores per row for 8 classes"));
    ev_metric_ece.destroy(st);
    rp_tensor_free(x);
    free(scores);
    free(yt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification_report),
        cmocka_unit_test(test_segmentation),
        cmocka_unit_test(test_topk_ties_and_aa),
        cmocka_unit_test(test_zero_division),
        cmocka_unit_test(test_metric_components),
    };
    return cmocka_run_group_tests_name("evaluate_metrics", tests, setup, teardown);
}
