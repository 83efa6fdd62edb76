/* The augment stages through the real binary: `augment` over a dataset,
 * `augment.preview` writes a labelled PNG grid, `augment.stats` writes the
 * erased-area histogram (CSV + PNG) with mean/std matching the analytic
 * values; bad transform specs stop the check (exit 2) at their line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "../../harness.h"

static char dir[700];

static int run(const char *stages, const char *tag, char *log_text, size_t n) {
    if (!dir[0]) snprintf(dir, sizeof dir, "%s", rp_test_tmpdir());
    char file[64], log[800], args[2000], body[8000];
    snprintf(file, sizeof file, "%s.yaml", tag);
    snprintf(log, sizeof log, "%s/%s.log", dir, tag);
    snprintf(body, sizeof body,
             "  - {id: fm, use: data.idx, with: {dir: '%%S/datasets/fixtures/fashion-mnist'}}\n%s",
             stages);
    const char *path = rp_test_write_pipeline(dir, file, "name: augtest\nseed: 3\n", body);
    snprintf(args, sizeof args, "run '%s' --out '%s/run_%s'", path, dir, tag);
    return rp_test_runpipe(args, log, log_text, n);
}

static void test_preview(void **state) {
    (void)state;
    char log[8000];
    int rc = run("  - {id: occ, use: augment, in: {data: fm.test}, with: {transforms: [upper_bar, "
                 "{hflip: {p: 1}}]}}\n"
                 "  - {id: look, use: augment.preview, in: {data: occ}, with: {count: 6, columns: 3, "
                 "scale: 2}}\n",
                 "prev", log, sizeof log);
    if (rc) fail_msg("exit %d:\n%s", rc, log);
    char png[900];
    snprintf(png, sizeof png, "%s/run_prev/look/preview.png", dir);
    int w, h, c;
    unsigned char *px = stbi_load(png, &w, &h, &c, 3);
    assert_non_null(px);
    /* 3 columns of (28*2 + 8) px + 4 margin; 2 rows of (28*2 + 8 + 12) + 4 */
    assert_int_equal(w, 3 * 64 + 4);
    assert_int_equal(h, 2 * 76 + 4);
    /* the upper bar: tile 0's top rows are black (fill 0) */
    for (int x = 4; x < 4 + 56; x++) assert_int_equal(px[((4 + 3) * w + x) * 3], 0);
    stbi_image_free(px);
}

static void check_stats(const char *spec, const char *tag, double mean_lo, double mean_hi) {
    char log[8000], st[1200];
    snprintf(st, sizeof st,
             "  - {id: st, use: augment.stats, with: {transform: %s, draws: 200000, bins: 20}}\n",
             spec);
    int rc = run(st, tag, log, sizeof log);
    if (rc) fail_msg("exit %d:\n%s", rc, log);
    const char *m = strstr(log, "erased area mean ");
    assert_non_null(m);
    double mean = atof(m + strlen("erased area mean "));
    if (mean < mean_lo || mean > mean_hi) fail_msg("%s: mean %g not in [%g, %g]", spec, mean, mean_lo, mean_hi);
    char csv[900];
    snprintf(csv, sizeof csv, "%s/run_%s/st/erased_area.csv", dir, tag);
    char *text;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(csv, &text, &len, &err), &err);
    assert_non_null(strstr(text, "bin_lo,bin_hi,count,fraction\n"));
    int lines = 0;
    double total = 0;
    for (char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        lines++;
        const char *f = p + 1;
        for (int k = 0; k < 3 && f; k++) f = strchr(f, ',') + 1;
        total += atof(f);
    }
    assert_int_equal(lines, 20);
    assert_true(total > 0.999 && total < 1.001);
    free(text);
    snprintf(csv, sizeof csv, "%s/run_%s/st/erased_area.png", dir, tag);
    int w, h, c;
    assert_int_equal(stbi_info(csv, &w, &h, &c), 1);
}

static void test_stats(void **state) {
    (void)state;
    /* paper form: E[area] ≈ (0.02 + 0.4) / 2 with rounding on 32x32 */
    check_stats("{random_erasing: {s_l: 0.02, s_h: 0.4, r_1: 0.3}}", "re", 0.195, 0.215);
    /* cutout 16 on 32x32, centre anywhere: E = (E[clipped side] / 32)^2 ≈ 0.1904 */
    check_stats("cutout", "co", 0.185, 0.196);
    /* hide-and-seek 8x8 cells on 32x32, hide 0.5, over applied draws: 0.5 */
    check_stats("hide_and_seek", "hs", 0.49, 0.51);
    /* any other transform: measured on a constant image (gridmask d 8, ratio .5 → 1/4) */
    check_stats("{gridmask: {d: [8, 8], ratio: 0.5, p: 1}}", "gm", 0.2499, 0.2501);
}

/* The CAM variant with a given model: a square box of half the image (s_l =
 * s_h = 0.5, r_1 = 1: 20 x 20 on 28 x 28, side round(sqrt(392))) with its
 * top-left corner on the Grad-CAM arg-max (b_h = 0) is clipped to
 * min(20, H - row) x min(20, W - col), so over whole passes of the fixture's
 * 10 test images the mean erased area is the mean of that over the arg-max
 * points the gradcam stage finds for the same model, images and class. */
static void test_stats_cam(void **state) {
    (void)state;
    char log[20000];
    int rc = run("  - {id: net, use: model.build, with: {arch: mnist_cnn, classes: 10}}\n"
                 "  - {id: cam, use: gradcam, in: {model: net, data: fm.test},"
                 " with: {count: 10, target: label}}\n"
                 "  - {id: st, use: augment.stats, in: {model: net, data: fm.test},"
                 " with: {hook: {cam_erasing: {s_l: 0.5, s_h: 0.5, r_1: 1, b_h: 0}}, images: 10,"
                 " draws: 10000, bins: 20}}\n"
                 "  - {id: bad, use: augment.stats, with: {hook: {cam_erasing: {}}, draws: 10}}\n",
                 "cam", log, sizeof log);
    /* the last stage has no model: the run stops there, after the others */
    assert_int_equal(rc, 1);
    assert_non_null(strstr(log, "cam.yaml:9:48: error: stage 'bad' (augment.stats): augment.stats: "
                                "hook cam_erasing needs the inputs model and data"));
    const char *m = strstr(log, "erased area mean ");
    if (!m) fail_msg("no mean in:\n%s", log);
    double mean = atof(m + strlen("erased area mean "));
    char csv[900];
    snprintf(csv, sizeof csv, "%s/run_cam/cam/gradcam.csv", dir);
    char *text;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(csv, &text, &len, &err), &err);
    double want = 0;
    int seen = 0;
    for (char *q = strchr(text, '\n'); q && q[1]; q = strchr(q + 1, '\n')) {
        int idx, label, pred, cls, row, col;
        if (sscanf(q + 1, "%d,%d,%d,%d,%d,%d", &idx, &label, &pred, &cls, &row, &col) != 6)
            fail_msg("gradcam.csv line: %.40s", q + 1);
        assert_int_equal(cls, label);
        assert_true(idx >= 0 && idx < 10);
        seen |= 1 << idx;
        want += fmin(20, 28 - row) * fmin(20, 28 - col) / (28.0 * 28.0) / 10.0;
    }
    free(text);
    assert_int_equal(seen, 0x3ff);
    if (fabs(mean - want) > 6e-5) fail_msg("cam erased area mean %.5f, from the arg-max points %.5f", mean, want);
}

static void test_bad_specs(void **state) {
    (void)state;
    char log[8000];
    int rc = run("  - {id: a, use: augment, in: {data: fm.test}, with: {transforms: [hflp]}}\n", "bad1",
                 log, sizeof log);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(log, "did you mean 'hflip'"));
    assert_non_null(strstr(log, "bad1.yaml:6:"));
    rc = run("  - {id: a, use: augment, in: {data: fm.test}, with: {transforms: [{random_crop: "
             "{padding: 4}}]}}\n",
             "bad2", log, sizeof log);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(log, "size"));
    /* valid spec, wrong at run time: normalize with 3 means on grey images */
    rc = run("  - {id: a, use: augment, in: {data: fm.test}, with: {transforms: [{normalize: "
             "{preset: imagenet}}]}}\n"
             "  - {id: look, use: augment.preview, in: {data: a}, with: {count: 2}}\n",
             "bad3", log, sizeof log);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(log, "normalize has 3 channels of mean/std but the image has 1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_cam),
        cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
