/* Samples, datasets, subsets, and the image helpers (decode with stb,
 * resampling, conversions, PNG round trip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runpipe/image.h"

static int seq_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err) {
    (void)draw;
    int st = rp_sample_resize(out, 1, 1, 2, err);
    if (st) return st;
    out->img.data[0] = (float)i;
    out->img.data[1] = 0;
    out->label = i == 7 ? 5 : (int32_t)(i % 2); /* sample 7: label out of range */
    (void)ds;
    return RP_OK;
}
static int32_t seq_label(const rp_dataset *ds, uint64_t i) { (void)ds; return (int32_t)(i % 2); }
static int32_t seq_domain(const rp_dataset *ds, uint64_t i) { (void)ds; return (int32_t)(i % 3); }
static const struct rp_dataset_ops seq_ops = {seq_get, seq_label, seq_domain, NULL};

static void test_sample_buffers(void **state) {
    (void)state;
    rp_sample s;
    rp_sample_init(&s);
    assert_int_equal(s.label, -1);
    rp_error err;
    RP_ASSERT_OK(rp_sample_resize(&s, 3, 8, 8, &err), &err);
    float *p = s.img.data;
    RP_ASSERT_OK(rp_sample_resize(&s, 1, 4, 4, &err), &err);
    assert_ptr_equal(s.img.data, p); /* shrinking reuses the buffer */
    assert_int_equal(s.img.numel, 16);
    assert_int_not_equal(rp_sample_resize(&s, 0, 4, 4, &err), RP_OK);
    RP_ASSERT_OK(rp_mask_resize(&s.mask, 5, 6, &err), &err);
    assert_int_equal(s.mask.cap, 30);
    RP_ASSERT_OK(rp_mask_resize(&s.mask, 2, 2, &err), &err);
    assert_int_equal(s.mask.cap, 30);
    rp_sample_release(&s);
    assert_null(s.img.data);
    assert_null(s.mask.data);
}

static void test_dataset_meta_get_subset(void **state) {
    (void)state;
    rp_dataset *ds = rp_dataset_new(&seq_ops, NULL, "seq", 10, 2, NULL);
    assert_non_null(ds);
    assert_string_equal(ds->class_names[1], "1"); /* NULL names → ids */
    rp_error err;
    const char *names[2] = {"cat", "dog"}, *doms[3] = {"photo", "art", "sketch"};
    RP_ASSERT_OK(rp_dataset_set_classes(ds, 2, names, &err), &err);
    RP_ASSERT_OK(rp_dataset_set_domains(ds, 3, doms, &err), &err);
    rp_sample s;
    rp_sample_init(&s);
    RP_ASSERT_OK(rp_dataset_get(ds, 3, NULL, &s, &err), &err);
    assert_int_equal(s.index, 3);
    assert_int_equal(s.label, 1);
    assert_int_equal(rp_dataset_get(ds, 10, NULL, &s, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "seq: sample index 10 out of range (size 10)"));
    assert_int_equal(rp_dataset_get(ds, 7, NULL, &s, &err), RP_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "sample 7: label 5 out of range [0, 2)"));
    uint64_t idx[3] = {9, 2, 2};
    rp_dataset *sub;
    RP_ASSERT_OK(rp_dataset_subset(ds, idx, 3, "seq/sub", &sub, &err), &err);
    assert_int_equal(sub->size, 3);
    assert_string_equal(sub->domain_names[2], "sketch");
    assert_int_equal(rp_dataset_label(sub, 0), 1);
    assert_int_equal(rp_dataset_domain(sub, 1), 2);
    RP_ASSERT_OK(rp_dataset_get(sub, 0, NULL, &s, &err), &err);
    assert_float_equal(s.img.data[0], 9.0f, 0);
    assert_int_equal(s.index, 0);
    uint64_t bad[1] = {12};
    rp_dataset *sub2;
    assert_int_equal(rp_dataset_subset(ds, bad, 1, "x", &sub2, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "12"));
    rp_dataset_free(sub);
    rp_sample_release(&s);
    rp_dataset_free(ds);
}

static void test_image_load_and_errors(void **state) {
    (void)state;
    char p[1024];
    uint8_t *px;
    int w, h, c;
    rp_error err;
    snprintf(p, sizeof p, "%s/datasets/fixtures/folder/train/circle/circle_0.png", rp_test_src());
    RP_ASSERT_OK(rp_image_load(p, 0, &px, &w, &h, &c, &err), &err);
    assert_int_equal(w, 20);
    assert_int_equal(h, 16);
    assert_int_equal(c, 3);
    free(px);
    RP_ASSERT_OK(rp_image_load(p, 1, &px, &w, &h, &c, &err), &err);
    assert_int_equal(c, 1);
    free(px);
    snprintf(p, sizeof p, "%s/tests/fixtures/data/corrupt.png", rp_test_src());
    assert_int_equal(rp_image_load(p, 3, &px, &w, &h, &c, &err), RP_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "corrupt.png: cannot decode image: "));
    snprintf(p, sizeof p, "%s/tests/fixtures/data/truncated.jpg", rp_test_src());
    assert_int_equal(rp_image_load(p, 3, &px, &w, &h, &c, &err), RP_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated.jpg"));
    assert_int_equal(rp_image_load("/nonexistent.png", 3, &px, &w, &h, &c, &err), RP_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent.png: cannot open image"));
}

static void test_png_roundtrip_and_conversions(void **state) {
    (void)state;
    uint8_t hwc[2 * 3 * 3];
    for (int i = 0; i < 18; i++) hwc[i] = (uint8_t)(i * 14);
    float chw[18];
    rp_image_u8_to_f32(hwc, 3, 2, 3, chw);
    assert_float_equal(chw[0], 0, 0);
    assert_float_equal(chw[6 + 0], 14 / 255.0f, 1e-7); /* G of pixel 0 */
    uint8_t back[18];
    rp_image_f32_to_u8(chw, 3, 2, 3, back);
    assert_memory_equal(back, hwc, 18);
    char path[700];
    snprintf(path, sizeof path, "%s/x.png", rp_test_tmpdir());
    rp_error err;
    RP_ASSERT_OK(rp_image_write_png(path, hwc, 3, 2, 3, &err), &err);
    uint8_t *px;
    int w, h, c;
    RP_ASSERT_OK(rp_image_load(path, 3, &px, &w, &h, &c, &err), &err);
    assert_memory_equal(px, hwc, 18);
    free(px);
}

static void test_resize_helpers(void **state) {
    (void)state;
    /* bilinear upsample 2 → 4 of [0, 1]: PyTorch gives 0, .25, .75, 1 */
    float src[2] = {0, 1}, dst[4];
    rp_image_resize_f32(src, 2, 1, 1, dst, 4, 1, RP_INTERP_BILINEAR);
    assert_float_equal(dst[0], 0.0f, 1e-7);
    assert_float_equal(dst[1], 0.25f, 1e-7);
    assert_float_equal(dst[2], 0.75f, 1e-7);
    assert_float_equal(dst[3], 1.0f, 1e-7);
    /* area 4 → 2 averages pairs */
    float a[4] = {1, 3, 5, 7}, b[2];
    rp_image_resize_f32(a, 4, 1, 1, b, 2, 1, RP_INTERP_AREA);
    assert_float_equal(b[0], 2, 0);
    assert_float_equal(b[1], 6, 0);
    /* uint8 path rounds */
    uint8_t u[2] = {0, 255}, v[4];
    rp_image_resize_u8(u, 2, 1, 1, v, 4, 1, RP_INTERP_BILINEAR);
    assert_int_equal(v[1], 64);
    assert_int_equal(v[2], 191);
    int32_t m[4] = {1, 2, 3, 4}, mo[16];
    rp_image_resize_i32(m, 2, 2, mo, 4, 4);
    assert_int_equal(mo[0], 1);
    assert_int_equal(mo[3], 2);
    assert_int_equal(mo[15], 4);
    int ow, oh;
    rp_image_policy_size("shorter", 224, 500, 375, &ow, &oh);
    assert_int_equal(oh, 224);
    assert_int_equal(ow, 298); /* int(224 * 500 / 375) */
    rp_image_policy_size("exact", 32, 500, 375, &ow, &oh);
    assert_int_equal(ow, 32);
    rp_image_policy_size("none", 32, 500, 375, &ow, &oh);
    assert_int_equal(ow, 500);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_buffers),
        cmocka_unit_test(test_dataset_meta_get_subset),
        cmocka_unit_test(test_image_load_and_errors),
        cmocka_unit_test(test_png_roundtrip_and_conversions),
        cmocka_unit_test(test_resize_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
