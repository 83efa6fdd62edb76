/* The report plugin: text helpers (escaping, base64, ticks), SVG charts, PNG
 * data URIs, and a whole report (html, md, json) from synthetic train and
 * evaluate metrics plus an in-memory dataset. RP_TEST_KEEP=1 keeps the
 * output (its path is printed) for a look in a browser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <stb_image.h>

#include "../../harness.h"
#include "../../../plugins/report/report.h"
#include "runpipe/image.h"

static void test_escape_and_base64(void **state) {
    (void)state;
    rp_strbuf b = {0};
    rp_put_html(&b, "<a href=\"x\">Tom & Jerry's</a>");
    assert_string_equal(b.p, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    rp_strbuf_release(&b);
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        rp_strbuf_puts(&b, "");
        rp_put_base64(&b, (const unsigned char *)in[i], strlen(in[i]));
        assert_string_equal(b.p ? b.p : "", out[i]);
        rp_strbuf_release(&b);
    }
    rp_put_num(&b, 3);
    rp_strbuf_puts(&b, " ");
    rp_put_num(&b, 0.12345);
    rp_strbuf_puts(&b, " ");
    rp_put_num(&b, NAN);
    rp_strbuf_puts(&b, "|");
    assert_string_equal(b.p, "3 0.1235 |");
    rp_strbuf_release(&b);
}

static void test_ticks(void **state) {
    (void)state;
    double t[32];
    int n = rp_nice_ticks(0.23, 0.91, 6, t, 32);
    assert_true(n >= 4 && n <= 9);
    assert_true(t[0] <= 0.23 && t[n - 1] >= 0.91);
    assert_true(fabs(t[1] - t[0] - 0.1) < 1e-12);
    assert_true(t[2] == 0.4); /* rounded, not 0.30000000000000004-style */
    n = rp_nice_ticks(5, 5, 6, t, 32); /* flat series: padded */
    assert_true(n >= 2 && t[0] < 5 && t[n - 1] > 5);
    assert_int_equal(rp_nice_ticks(NAN, 1, 6, t, 32), 0);
}

static void test_line_chart(void **state) {
    (void)state;
    double x[4] = {1, 2, 3, 4}, a[4] = {0.9, 0.5, 0.4, 0.35}, v[4] = {0.8, NAN, 0.45, 0.41};
    rp_series s[2] = {{"train <loss>", "#1f77b4", x, a, 4, 0, 0}, {"val", "#ff7f0e", x, v, 4, 1, 0}};
    rp_strbuf b = {0};
    rp_svg_line_chart(&b, "loss & more", "epoch", "loss", s, 2, 500, 300);
    assert_non_null(strstr(b.p, "<svg"));
    assert_non_null(strstr(b.p, "loss &amp; more"));
    assert_non_null(strstr(b.p, "train &lt;loss&gt;"));
    assert_null(strstr(b.p, "<loss>"));
    /* the NaN breaks the validation line into two polylines */
    int poly = 0;
    for (const char *p = b.p; (p = strstr(p, "<polyline")); p++) poly++;
    assert_int_equal(poly, 3);
    /* integer epochs: ticks 1..4, no "1.5" */
    assert_non_null(strstr(b.p, ">4</text>"));
    assert_null(strstr(b.p, ">1.5</text>"));
    rp_strbuf_release(&b);
    /* a series without data (no validation set) gets no legend entry */
    double none[4] = {NAN, NAN, NAN, NAN};
    rp_series s2[2] = {{"train", "#1f77b4", x, a, 4, 0, 0}, {"validation", "#ff7f0e", x, none, 4, 0, 0}};
    rp_svg_line_chart(&b, "loss", "epoch", "loss", s2, 2, 500, 300);
    assert_non_null(strstr(b.p, ">train</text>"));
    assert_null(strstr(b.p, "validation"));
    rp_strbuf_release(&b);
    rp_svg_line_chart(&b, "empty", "epoch", "loss", s, 0, 500, 300);
    assert_non_null(strstr(b.p, "no data"));
    rp_strbuf_release(&b);
    /* a legend longer than the plot (S1's IoU and Dice chart) ends inside the
     * chart: its last label ends left of the width at ~7 px per character */
    rp_series s4[4] = {{"train IoU", "#1f77b4", x, a, 4, 1, 0}, {"train Dice", "#1f77b4", x, a, 4, 0, 0},
                       {"validation IoU", "#ff7f0e", x, a, 4, 1, 0},
                       {"validation Dice", "#ff7f0e", x, a, 4, 0, 0}};
    for (int width = 540; width >= 520; width -= 10) { /* 540: the report's charts */
        rp_svg_line_chart(&b, "fit: mean IoU and Dice", "epoch", "mean over classes", s4, 4, width, 340);
        const char *leg = strstr(b.p, "<g class=\"legend\">");
        assert_non_null(leg);
        const char *last = strstr(leg, ">validation Dice</text>");
        assert_non_null(last);
        const char *tx = last;
        while (tx > leg && strncmp(tx, "<text x=\"", 9)) tx--;
        int lx = atoi(tx + 9);
        if (lx + 15 * 7 > width) fail_msg("width %d: the legend's last label ends at %d", width, lx + 15 * 7);
        assert_true(atoi(strstr(leg, "<line x1=\"") + 10) >= 8);
        rp_strbuf_release(&b);
    }
}

/* ---- an in-memory dataset --------------------------------------------------- */
static int toy_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err) {
    (void)draw;
    int rc = rp_sample_resize(out, 1, 28, 28, err);
    if (rc != RP_OK) return rc;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            out->img.data[y * 28 + x] = ((x / 4 + y / 4 + (int)i) % 3) * 0.5f;
    out->label = (int32_t)(i % (uint64_t)ds->num_classes);
    out->index = i;
    return RP_OK;
}
static int32_t toy_label(const rp_dataset *ds, uint64_t i) {
    return (int32_t)(i % (uint64_t)ds->num_classes);
}
static void toy_destroy(rp_dataset *ds) { (void)ds; }
static const struct rp_dataset_ops toy_ops = {toy_get, toy_label, NULL, toy_destroy};

static const char *const CLASSES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                        "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                        "Bag",         "<script>alert(1)</script>"};

static rp_metrics *train_metrics(void) {
    rp_error err;
    rp_metrics *m = rp_metrics_new();
    const char *cols[7] = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                           "seconds"};
    rp_table *h = rp_metrics_add_table(m, "history", 0, 7, cols, NULL, &err);
    assert_non_null(h);
    for (int e = 1; e <= 6; e++) {
        double row[7] = {e, 0.9 / e + 0.2, 0.70 + 0.03 * e, 0.8 / e + 0.27, 0.72 + 0.025 * e,
                         1e-3 * pow(0.5, e / 3), 11.5};
        RP_ASSERT_OK(rp_table_append_row(h, NULL, row, &err), &err);
    }
    RP_ASSERT_OK(rp_metrics_set(m, "train_loss", 0.35, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "val_acc", 0.87, &err), &err);
    RP_ASSERT_OK(rp_metrics_add_file(m, "fit/history.csv", &err), &err);
    return m;
}

static rp_metrics *eval_metrics(void) {
    rp_error err;
    rp_metrics *m = rp_metrics_new();
    rp_table *c = rp_metrics_add_table(m, "confusion.test", 10, 10, CLASSES, CLASSES, &err);
    assert_non_null(c);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            c->values[i * 10 + j] = i == j ? 800 + 17 * i : ((i * 7 + j * 3) % 11 == 0 ? 60 : (i + j) % 4);
    const char *rcols[4] = {"precision", "recall", "f1-score", "support"};
    const char *rrows[13];
    for (int i = 0; i < 10; i++) rrows[i] = CLASSES[i];
    rrows[10] = "accuracy", rrows[11] = "macro avg", rrows[12] = "weighted avg";
    rp_table *r = rp_metrics_add_table(m, "report.test", 13, 4, rcols, rrows, &err);
    assert_non_null(r);
    for (int i = 0; i < 13; i++) {
        r->values[i * 4] = i == 10 ? NAN : 0.85 + 0.01 * (i % 5);
        r->values[i * 4 + 1] = i == 10 ? NAN : 0.86;
        r->values[i * 4 + 2] = 0.855;
        r->values[i * 4 + 3] = i < 10 ? 1000 : 10000;
    }
    RP_ASSERT_OK(rp_metrics_set(m, "test.accuracy", 0.8812, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "test_upper_bar.accuracy", 0.7421, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "AA", 0.81165, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "DAA", 7.91, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(m, "test.loss", NAN, &err), &err);
    return m;
}

/* Decode the first data URI of `html` and load it as an image. */
static unsigned char *first_png(const char *html, int *w, int *h, int *c) {
    const char *p = strstr(html, "data:image/png;base64,");
    assert_non_null(p);
    p += strlen("data:image/png;base64,");
    const char *e = strchr(p, '"');
    size_t n = (size_t)(e - p);
    unsigned char *bin = malloc(n);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && p[i] != '='; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *q = strchr(tab, p[i]);
        assert_non_null(q);
        acc = acc << 6 | (uint32_t)(q - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bin[o++] = (unsigned char)(acc >> bits);
        }
    }
    unsigned char *px = stbi_load_from_memory(bin, (int)o, w, h, c, 0);
    free(bin);
    return px;
}

static void test_full_report(void **state) {
    (void)state;
    const char *dir = getenv("RP_TEST_KEEP") ? "/tmp/rp_report_demo" : rp_test_tmpdir();
    rp_error err;
    RP_ASSERT_OK(rp_mkdirs(dir, &err), &err);
    rp_test_write(rp_test_path(dir, "pipeline.resolved.yaml"),
                  "runpipe: 1\nname: quickstart\nseed: 7\nstages:\n  - id: fit\n    use: train\n"
                  "    with: {epochs: 3, note: \"<b>not bold</b>\"}\n");
    rp_metrics *tm = train_metrics(), *em = eval_metrics();
    rp_dataset *ds = rp_dataset_new(&toy_ops, NULL, "toy/test", 50, 10, CLASSES);
    assert_non_null(ds);
    ds->channels = 1, ds->height = 28, ds->width = 28;
    rp_report_input in[2] = {{"fit", tm}, {"eval", em}};
    rp_report_opts o = {0};
    o.title = "quickstart & friends";
    o.rundir = dir;
    o.data = ds;
    o.samples = 20;
    RP_ASSERT_OK(rp_report_write(&o, in, 2, &err), &err);
    if (getenv("RP_TEST_KEEP")) printf("report written to %s/report.html\n", dir);

    char *html = NULL, *md = NULL, *js = NULL;
    size_t len;
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "report.html"), &html, &len, &err), &err);
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "<title>quickstart &amp; friends"));
    assert_non_null(strstr(html, "id=\"curves\""));
    assert_non_null(strstr(html, "fit: loss"));
    assert_non_null(strstr(html, "fit: accuracy"));
    assert_non_null(strstr(html, "fit: learning rate")); /* lr varies */
    assert_non_null(strstr(html, "confusion matrix: test"));
    assert_non_null(strstr(html, "classification report"));
    assert_non_null(strstr(html, "weighted avg"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "<b>not bold</b>"));
    assert_non_null(strstr(html, "&lt;b&gt;not bold&lt;/b&gt;")); /* the pipeline, escaped */
    assert_non_null(strstr(html, "+7.91 %p"));
    assert_non_null(strstr(html, "href=\"fit/history.csv\""));
    int figs = 0;
    for (const char *p = html; (p = strstr(p, "<figure")); p++) figs++;
    assert_int_equal(figs, 20);
    int w, h, c;
    unsigned char *px = first_png(html, &w, &h, &c);
    assert_non_null(px);
    assert_int_equal(w, 28 * 4);
    assert_int_equal(h, 28 * 4);
    assert_int_equal(c, 1);
    /* sample 0, pixel (0,0): value 0 → black; (4,0) → 0.5 → 128 */
    assert_int_equal(px[0], 0);
    assert_int_equal(px[16], 128);
    stbi_image_free(px);

    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "report.md"), &md, &len, &err), &err);
    assert_non_null(strstr(md, "# quickstart & friends"));
    assert_non_null(strstr(md, "| eval | test.accuracy | 0.8812 |"));
    assert_non_null(strstr(md, "## eval: report.test"));

    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "metrics.json"), &js, &len, &err), &err);
    cJSON *j = cJSON_Parse(js);
    assert_non_null(j);
    const cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "inputs"), 1);
    assert_string_equal(cJSON_GetObjectItem(e1, "source")->valuestring, "eval");
    const cJSON *sc = cJSON_GetObjectItem(e1, "scalars");
    assert_true(fabs(cJSON_GetObjectItem(sc, "AA")->valuedouble - 0.81165) < 1e-12);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(sc, "test.loss")));
    const cJSON *ct = cJSON_GetObjectItem(cJSON_GetObjectItem(e1, "tables"), "confusion.test");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ct, "values")), 10);
    cJSON_Delete(j);
    free(html);
    free(md);
    free(js);
    rp_dataset_free(ds);
    rp_metrics_free(tm);
    rp_metrics_free(em);
}

/* What a reader looks at first: evaluated sets side by side, train's best
 * epoch in words (naming the monitor from the resolved pipeline), the card
 * of validation accuracy named by the wired set, the per-step loss curve
 * with the best-epoch marker, the row-normalised confusion matrix, and the
 * figures stages listed in their figures.json (inlined). */
static void test_readable_report(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    rp_error err;
    rp_test_write(rp_test_path(dir, "pipeline.resolved.yaml"),
                  "runpipe: 1\nname: q\nseed: 7\nstages:\n  - id: fit\n    use: train\n"
                  "    in: {train: fm.train, val: fm.test}\n"
                  "    with: {epochs: 6, monitor: val_acc, restore_best: true,\n"
                  "           early_stopping: {patience: 2, monitor: val_acc}}\n"
                  "  - id: cam\n    use: gradcam\n");
    RP_ASSERT_OK(rp_mkdirs(rp_test_path(dir, "cam"), &err), &err);
    static const unsigned char px[4] = {0, 255, 128, 64};
    RP_ASSERT_OK(rp_image_write_png(rp_test_path(dir, "cam/grid.png"), px, 2, 2, 1, &err), &err);
    rp_test_write(rp_test_path(dir, "cam/figures.json"),
                  "{\"figures\": [{\"section\": \"Grad-CAM\", \"title\": \"\", "
                  "\"file\": \"grid.png\", \"caption\": \"heat <maps>\"}]}");
    rp_metrics *tm = train_metrics(), *em = eval_metrics();
    RP_ASSERT_OK(rp_metrics_set(tm, "best_epoch", 5, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(tm, "best_value", 0.845, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(tm, "epochs_run", 6, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(tm, "stopped_early", 1, &err), &err);
    const char *scols[4] = {"step", "epoch", "loss", "lr"};
    rp_table *st = rp_metrics_add_table(tm, "steps", 0, 4, scols, NULL, &err);
    assert_non_null(st);
    for (int k = 1; k <= 60; k++) {
        double row[4] = {k, k / 10.0, 1.0 / k + 0.2, 1e-3};
        RP_ASSERT_OK(rp_table_append_row(st, NULL, row, &err), &err);
    }
    RP_ASSERT_OK(rp_metrics_set(em, "test.samples", 10000, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(em, "occ.samples", 10000, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(em, "occ.accuracy", 0.7421, &err), &err);
    RP_ASSERT_OK(rp_metrics_set(em, "baseline.occ.accuracy", 0.5, &err), &err);
    rp_report_input in[2] = {{"fit", tm}, {"eval", em}};
    rp_report_opts o = {0};
    o.title = "q";
    o.rundir = dir;
    rp_strbuf b = {0};
    RP_ASSERT_OK(rp_report_html(&b, &o, in, 2, &err), &err);
    const char *h = b.p;
    /* sets side by side: one header row, values in percent */
    assert_non_null(strstr(h, "<th>metric</th><th>test</th><th>occ</th>"));
    assert_non_null(strstr(h, "<tr><td>accuracy</td><td>88.12 %</td><td>74.21 %</td></tr>"));
    assert_non_null(strstr(h, "<tr><td>baseline accuracy</td><td></td><td>50.00 %</td></tr>"));
    /* train in words */
    assert_non_null(strstr(h, "Trained 6 of 6 epochs; <b>stopped early</b>: val_acc did not "
                              "improve for 2 epochs"));
    assert_non_null(strstr(h, "Best epoch <b>5</b> by val_acc (84.50 %)"));
    assert_non_null(strstr(h, "validation accuracy on fm.test"));
    assert_null(strstr(h, ">stopped_early<"));
    /* curves: per step + smoothed, best-epoch marker */
    assert_non_null(strstr(h, ">train (smoothed)</text>"));
    assert_non_null(strstr(h, "best epoch 5 (val_acc)"));
    assert_non_null(strstr(h, "stroke-opacity=\"0.3\"")); /* the raw per-step line */
    /* recall per class beside the counts */
    assert_non_null(strstr(h, "test: recall per class (% of each row)"));
    assert_non_null(strstr(h, ">100 %</text>"));
    /* the stage's figure, inlined, its caption escaped */
    assert_non_null(strstr(h, "<h3>Grad-CAM</h3>"));
    assert_non_null(strstr(h, "heat &lt;maps&gt;"));
    assert_non_null(strstr(h, "<figure><img alt=\"\" src=\"data:image/png;base64,"));
    assert_null(strstr(h, "grid.png\""));
    rp_strbuf_release(&b);
    rp_metrics_free(tm);
    rp_metrics_free(em);
}

/* A class-id mask as a coloured PNG: palette colours, void pixels black,
 * nearest-neighbour upscaling. */
static void test_mask_png(void **state) {
    (void)state;
    int32_t mask[6] = {0, 1, 2, 255, 1, 0}; /* [2, 3] */
    rp_strbuf b = {0};
    rp_error err;
    rp_strbuf_puts(&b, "<img src=\"");
    RP_ASSERT_OK(rp_mask_data_uri(&b, mask, 2, 3, 2, &err), &err);
    rp_strbuf_puts(&b, "\">");
    int w, h, c;
    unsigned char *px = first_png(b.p, &w, &h, &c);
    assert_non_null(px);
    assert_int_equal(w, 6);
    assert_int_equal(h, 4);
    assert_int_equal(c, 3);
    const unsigned char *p00 = px, *p01 = px + 2 * 3, *p10 = px + (2 * 6) * 3;
    assert_true(p00[0] == 31 && p00[1] == 119 && p00[2] == 180);   /* class 0 */
    assert_true(p01[0] == 255 && p01[1] == 127 && p01[2] == 14);   /* class 1 */
    assert_true(p10[0] == 0 && p10[1] == 0 && p10[2] == 0);        /* void (255) */
    assert_true(memcmp(px + 3, p00, 3) == 0);                      /* upscaled */
    stbi_image_free(px);
    rp_strbuf_release(&b);
    /* a bad image shape is an error, not a crash */
    int64_t shape[3] = {2, 4, 4};
    rp_tensor *t = NULL;
    RP_ASSERT_OK(rp_tensor_new(&t, 3, shape, &err), &err);
    assert_int_equal(rp_png_data_uri(&b, t, 1, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "[2, 4, 4] is not [1 or 3, H, W]"));
    rp_strbuf_release(&b);
    rp_tensor_free(t);
}

/* Nothing wired but a bare metrics artifact; no pipeline file: still a page. */
static void test_minimal_report(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    rp_metrics *m = rp_metrics_new();
    rp_error err;
    RP_ASSERT_OK(rp_metrics_set(m, "x", 1.5, &err), &err);
    rp_report_input in[1] = {{"s", m}};
    rp_report_opts o = {0};
    o.title = "t";
    o.rundir = dir;
    RP_ASSERT_OK(rp_report_write(&o, in, 1, &err), &err);
    char *html = NULL;
    size_t len;
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "report.html"), &html, &len, &err), &err);
    assert_non_null(strstr(html, "pipeline.resolved.yaml was not found"));
    assert_null(strstr(html, "id=\"curves\""));
    assert_non_null(strstr(html, "</html>"));
    free(html);
    /* an unwritable run directory: a clear I/O error */
    o.rundir = "/nonexistent/dir";
    assert_int_not_equal(rp_report_write(&o, in, 1, &err), RP_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/report.html"));
    rp_metrics_free(m);
}

/* S1: image / true mask / predicted mask for a segmentation data set, in the
 * data set's palette. The toy tiles are -1 on the left half (class 0) and +1
 * on the right (class 2); a 1x1 convolution with weights (-1, 0, 1) gets
 * every pixel right. */
static int seg_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err) {
    (void)ds, (void)draw;
    int rc = rp_sample_resize(out, 1, 8, 8, err);
    if (rc == RP_OK) rc = rp_mask_resize(&out->mask, 8, 8, err);
    if (rc != RP_OK) return rc;
    for (int p = 0; p < 64; p++) {
        out->img.data[p] = p % 8 < 4 ? -1.0f : 1.0f;
        out->mask.data[p] = p % 8 < 4 ? 0 : 2;
    }
    out->label = -1;
    out->index = i;
    return RP_OK;
}
static const struct rp_dataset_ops seg_ops = {seg_get, NULL, NULL, toy_destroy};

static void test_predicted_masks(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    rp_error err;
    rp_error_clear(&err);
    static const char *const names[3] = {"a", "b", "c"};
    rp_dataset *ds = rp_dataset_new(&seg_ops, NULL, "tiles/val", 10, 3, names);
    assert_non_null(ds);
    ds->task = RP_TASK_SEGMENT;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(1, 8, 8, &m, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "head", "conv2d", NULL, 0, &err, "{out: 3, kernel: 1, bias: false}"),
                 &err);
    rp_param *w = rp_model_find_param(m, "head.weight"); /* [3, 1, 1, 1] */
    w->value->data[0] = -1, w->value->data[1] = 0, w->value->data[2] = 1;
    static const unsigned char pal[3][3] = {{0x3C, 0x10, 0x98}, {0x84, 0x29, 0xF6}, {0x6E, 0xC1, 0xE4}};
    rp_metrics *mt = rp_metrics_new();
    RP_ASSERT_OK(rp_metrics_set(mt, "x", 1, &err), &err);
    static const char *const hc[] = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                     "lr", "seconds", "train_miou", "train_dice", "val_miou",
                                     "val_dice"};
    rp_table *ht = rp_metrics_add_table(mt, "history", 2, 11, hc, NULL, &err);
    assert_non_null(ht);
    for (size_t i = 0; i < 22; i++) ht->values[i] = i < 11 ? 0.1 * (double)i : 0.05 * (double)i;
    ht->values[0] = 1, ht->values[11] = 2;
    rp_report_input in[1] = {{"fit", mt}};
    rp_report_opts o = {0};
    o.title = "seg";
    o.rundir = dir;
    o.data = ds;
    o.model = m;
    o.predictions = 3;
    o.samples = 2;
    o.palette = pal;
    o.n_palette = 3;
    RP_ASSERT_OK(rp_report_write(&o, in, 1, &err), &err);
    char *html = NULL;
    size_t len;
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "report.html"), &html, &len, &err), &err);
    const char *sec = strstr(html, "<section id=\"predictions\">");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "#0: pixel accuracy 1.000"));
    assert_non_null(strstr(html, "fit: mean IoU and Dice"));
    assert_non_null(strstr(html, "fit: pixel accuracy"));
    assert_non_null(strstr(sec, "#6: pixel accuracy 1.000"));
    int pw, ph, pc;
    unsigned char *px = first_png(strstr(sec, "alt=\"predicted mask\""), &pw, &ph, &pc);
    assert_non_null(px);
    assert_int_equal(pw, 8 * 4); /* small tiles are upscaled (x4 at most) */
    assert_true(memcmp(px, pal[0], 3) == 0);                /* left: class 0's colour */
    assert_true(memcmp(px + (pw - 1) * 3, pal[2], 3) == 0); /* right: class 2's colour */
    stbi_image_free(px);
    /* each tile is one row: image, true mask, predicted mask, labelled */
    assert_non_null(strstr(sec, "<br>image</div><div><img alt=\"true mask\""));
    assert_non_null(strstr(sec, "<br>true mask</div><div><img alt=\"predicted mask\""));
    /* a legend names each class's colour: the palette's, then the fixed one */
    assert_non_null(strstr(sec, "<p class=\"legend\"><span><i style=\"background:#3C1098\"></i>a</span>"
                                "<span><i style=\"background:#8429F6\"></i>b</span>"
                                "<span><i style=\"background:#6EC1E4\"></i>c</span></p>"));
    /* the sample images show their masks in the same palette, with the legend */
    const char *smp = strstr(html, "<section id=\"samples\">");
    assert_non_null(smp);
    assert_true(smp < sec);
    assert_non_null(strstr(smp, "<p class=\"legend\"><span><i style=\"background:#3C1098\"></i>a"));
    assert_non_null(strstr(smp, "alt=\"mask\""));
    px = first_png(strstr(smp, "alt=\"mask\""), &pw, &ph, &pc);
    assert_non_null(px);
    assert_true(memcmp(px, pal[0], 3) == 0);
    assert_true(memcmp(px + (pw - 1) * 3, pal[2], 3) == 0);
    stbi_image_free(px);
    free(html);
    /* with 2 palette colours, class 2 takes the fixed palette's third (#2CA02C) */
    o.n_palette = 2;
    RP_ASSERT_OK(rp_report_write(&o, in, 1, &err), &err);
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "report.html"), &html, &len, &err), &err);
    assert_non_null(strstr(html, "<span><i style=\"background:#2CA02C\"></i>c</span></p>"));
    free(html);
    o.n_palette = 3;
    /* a model that does not give per-pixel scores is an error naming the sample */
    rp_model *c;
    RP_ASSERT_OK(rp_model_new(1, 8, 8, &c, &err), &err);
    RP_ASSERT_OK(rp_model_add(c, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(c, "fc", "linear", NULL, 0, &err, "{out: 3}"), &err);
    o.model = c;
    assert_int_equal(rp_report_write(&o, in, 1, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "predictions on sample 0 of 'tiles/val': the model gives [1, 3]"));
    rp_model_free(c);
    rp_model_free(m);
    rp_metrics_free(mt);
    rp_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_and_base64),
        cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_line_chart),
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_readable_report),
        cmocka_unit_test(test_mask_png),
        cmocka_unit_test(test_minimal_report),
        cmocka_unit_test(test_predicted_masks),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
