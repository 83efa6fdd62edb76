/* IDX and CIFAR readers on the committed fixtures and on broken files:
 * wrong magic, count mismatch, truncated (raw and gzip), trailing bytes,
 * record size, label out of range — each a clear error naming the file and
 * the record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness.h"
#include "../../../plugins/datasets/stages.h"

static const char *fx(const char *rel) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 1024, "%s/%s", rp_test_src(), rel);
    return b;
}

static void copy_prefix(const char *src, const char *dst, long n) {
    char *data;
    size_t len;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(src, &data, &len, &err), &err);
    if (n < 0 || (size_t)n > len) n = (long)len;
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    free(data);
}

static void test_idx_good(void **state) {
    (void)state;
    memds m;
    rp_error err;
    RP_ASSERT_OK(idx_load(fx("datasets/fixtures/fashion-mnist/train-images-idx3-ubyte.gz"),
                          fx("datasets/fixtures/fashion-mnist/train-labels-idx1-ubyte.gz"), 0, 10,
                          &m, &err),
                 &err);
    assert_int_equal(m.n, 30);
    assert_int_equal(m.h, 28);
    assert_int_equal(m.c, 1);
    assert_int_equal(m.labels[13], 3);
    memds_release(&m);
    RP_ASSERT_OK(idx_load(fx("datasets/fixtures/mnist/train-images-idx3-ubyte"),
                          fx("datasets/fixtures/mnist/train-labels-idx1-ubyte"), 5, 10, &m, &err),
                 &err);
    assert_int_equal(m.n, 5); /* limit */
    /* the dataset view: [1, 28, 28] floats in [0, 1] */
    rp_dataset *ds;
    RP_ASSERT_OK(memds_dataset(&m, "mnist/train", 10, NULL, &ds, &err), &err);
    rp_sample s;
    rp_sample_init(&s);
    RP_ASSERT_OK(rp_dataset_get(ds, 4, NULL, &s, &err), &err);
    assert_int_equal(s.img.shape[0], 1);
    assert_int_equal(s.label, 4);
    float mx = 0;
    for (size_t i = 0; i < s.img.numel; i++) mx = s.img.data[i] > mx ? s.img.data[i] : mx;
    assert_true(mx > 0.5f && mx <= 1.0f);
    assert_int_equal(rp_dataset_get(ds, 5, NULL, &s, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "out of range"));
    rp_sample_release(&s);
    rp_dataset_free(ds);
}

static void expect_idx(const char *img, const char *lbl, const char *n1, const char *n2) {
    memds m;
    rp_error err;
    int st = idx_load(img, lbl, 0, 10, &m, &err);
    if (st == RP_OK) fail_msg("idx_load(%s) succeeded", img);
    if (!strstr(err.msg, n1) || (n2 && !strstr(err.msg, n2)))
        fail_msg("message lacks '%s'/'%s': %s", n1, n2 ? n2 : "", err.msg);
}

static void test_idx_bad(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *lbl = fx("datasets/fixtures/mnist/train-labels-idx1-ubyte");
    const char *img = fx("datasets/fixtures/mnist/train-images-idx3-ubyte");
    /* wrong magic (committed broken file) */
    expect_idx(fx("tests/fixtures/data/bad_magic-images-idx3-ubyte"), lbl, "bad_magic-images-idx3-ubyte",
               "magic 0x00000804");
    /* image file truncated mid-record: names the record */
    char p[700];
    snprintf(p, sizeof p, "%s/trunc-images", t);
    copy_prefix(img, p, 16 + 28 * 28 * 7 + 100);
    expect_idx(p, lbl, "trunc-images: header field 'number of images' says 20 images of 28x28", "(7 images)");
    /* trailing bytes */
    snprintf(p, sizeof p, "%s/long-images", t);
    copy_prefix(img, p, -1);
    FILE *f = fopen(p, "ab");
    fputs("xx", f);
    fclose(f);
    expect_idx(p, lbl, "long-images", "trailing bytes");
    /* counts differ: 10 test labels for 20 train images */
    expect_idx(img, fx("datasets/fixtures/mnist/t10k-labels-idx1-ubyte"), "has 20 images", "10 labels");
    /* label out of range */
    snprintf(p, sizeof p, "%s/big-labels", t);
    copy_prefix(lbl, p, -1);
    f = fopen(p, "r+b");
    fseek(f, 8 + 11, SEEK_SET);
    fputc(42, f);
    fclose(f);
    expect_idx(img, p, "record 11", "label 42 out of range");
    /* labels file passed as images */
    expect_idx(lbl, lbl, "not an IDX image file", NULL);
    /* truncated gzip stream */
    snprintf(p, sizeof p, "%s/cut-images.gz", t);
    copy_prefix(fx("datasets/fixtures/fashion-mnist/train-images-idx3-ubyte.gz"), p, 300);
    expect_idx(p, fx("datasets/fixtures/fashion-mnist/train-labels-idx1-ubyte.gz"), "cut-images.gz", "truncated");
    /* missing file */
    expect_idx("/nonexistent/x-images", lbl, "/nonexistent/x-images", "cannot open");
}

static void test_cifar(void **state) {
    (void)state;
    memds m;
    rp_error err;
    const char *files[2] = {fx("datasets/fixtures/cifar-10-batches-bin/data_batch_1.bin"),
                            fx("datasets/fixtures/cifar-10-batches-bin/data_batch_2.bin")};
    RP_ASSERT_OK(cifar_load(files, 2, 1, 0, 10, 0, &m, &err), &err);
    assert_int_equal(m.n, 4);
    assert_int_equal(m.c, 3);
    /* planar: first pixel bytes of record 0 are R at offset 1, G at 1025 */
    char *raw;
    size_t len;
    RP_ASSERT_OK(rp_read_file(files[0], &raw, &len, &err), &err);
    assert_int_equal((uint8_t)raw[0], m.labels[0]);
    assert_int_equal((uint8_t)raw[1025], m.pix[1024]);
    free(raw);
    memds_release(&m);
    /* CIFAR-100: coarse = byte 0, fine = byte 1 */
    const char *c100[1] = {fx("datasets/fixtures/cifar-100-binary/train.bin")};
    RP_ASSERT_OK(cifar_load(c100, 1, 2, 1, 100, 0, &m, &err), &err);
    int32_t fine0 = m.labels[0];
    memds_release(&m);
    RP_ASSERT_OK(cifar_load(c100, 1, 2, 0, 20, 0, &m, &err), &err);
    assert_int_equal(m.labels[0], fine0 / 5);
    memds_release(&m);
    /* size not a multiple of the record */
    const char *bad[1] = {fx("tests/fixtures/data/cifar_short.bin")};
    assert_int_equal(cifar_load(bad, 1, 1, 0, 10, 0, &m, &err), RP_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "cifar_short.bin"));
    assert_non_null(strstr(err.msg, "3173 bytes"));
    assert_non_null(strstr(err.msg, "3073-byte record"));
    /* CIFAR-100 file read as CIFAR-10: labels > 9 → record named */
    assert_int_equal(cifar_load(c100, 1, 1, 0, 10, 0, &m, &err), RP_ERR_FORMAT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_good),
        cmocka_unit_test(test_idx_bad),
        cmocka_unit_test(test_cifar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
