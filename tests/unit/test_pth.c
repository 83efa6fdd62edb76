/* PyTorch checkpoints read without Python (engine/nn/pth.c). Fixtures in
 * tests/golden/data/pth/, written by tests/golden/make_pth.py with Debian's
 * python3-torch 1.13: a CIFAR ResNet-20 state_dict that must give PyTorch's
 * logits and equal its safetensors twin, strided/shared/typed tensors,
 * wrapped checkpoints, a PyTorch Dropout+Linear head, and files that must
 * be refused (code-executing pickles, legacy format, corrupt archives). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *fx(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/tests/golden/data/pth/%s", rp_test_src(), name);
    return buf[k];
}

static rp_model *build(const char *arch, const char *opts) {
    rp_error err;
    rp_node *o = NULL;
    if (opts) RP_ASSERT_OK(rp_node_parse_string(opts, "<opts>", &o, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_build(arch, o, &m, &err), &err);
    rp_node_free(o);
    return m;
}

/* Eval-mode logits of `m` on the fixture's input, compared with PyTorch's. */
static void check_logits(rp_model *m, const char *expected, double atol) {
    rp_error err;
    rp_st ex;
    RP_ASSERT_OK(rp_st_load(fx(expected), &ex, &err), &err);
    const rp_tensor *x = rp_st_get(&ex, "input"), *want = rp_st_get(&ex, "logits");
    assert_non_null(x);
    assert_non_null(want);
    rp_model_set_training(m, 0);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_true(rp_tensor_same_shape(y, want));
    rp_test_close(y->data, want->data, want->numel, 1e-4, atol, expected);
    rp_st_release(&ex);
}

static void test_resnet20_logits_match_torch(void **state) {
    (void)state;
    rp_error err;
    rp_model *a = build("resnet20", "{shortcut: B}"), *b = build("resnet20", "{shortcut: B}");
    rp_load_report rep;
    RP_ASSERT_OK(rp_model_load_weights(a, fx("resnet20b.pth"), 1, &rep, &err), &err);
    assert_int_equal(rep.loaded, rp_model_num_params(a));
    rp_load_report_release(&rep);
    RP_ASSERT_OK(rp_model_load_weights(b, fx("resnet20b.safetensors"), 1, &rep, &err), &err);
    rp_load_report_release(&rep);
    /* the same numbers as the safetensors twin, bit for bit */
    for (size_t i = 0; i < rp_model_num_params(a); i++) {
        rp_param *p = rp_model_param(a, i), *q = rp_model_param(b, i);
        assert_string_equal(p->name, q->name);
        assert_memory_equal(p->value->data, q->value->data, p->value->numel * sizeof(float));
    }
    assert_true(rp_model_find_param(a, "bn1.num_batches_tracked")->value->data[0] == 7.0f);
    check_logits(a, "resnet20b_expected.safetensors", 1e-4);
    rp_model_free(a);
    rp_model_free(b);
}

/* Views with strides and storage offsets, shared storages, dtypes converted
 * to float32, pickle protocols 2 and 4, stored and deflated entries. */
static void test_views_dtypes_protocols(void **state) {
    (void)state;
    rp_error err;
    rp_st twin;
    RP_ASSERT_OK(rp_st_load(fx("views.safetensors"), &twin, &err), &err);
    const char *files[] = {"views.pth", "views_p4.pth", "views_deflate.pth"};
    for (size_t f = 0; f < 3; f++) {
        rp_st st;
        RP_ASSERT_OK(rp_pth_load(fx(files[f]), &st, &err), &err);
        assert_int_equal(st.n, twin.n);
        for (size_t i = 0; i < twin.n; i++) {
            const rp_tensor *want = twin.e[i].t, *got = rp_st_get(&st, twin.e[i].name);
            if (!got) fail_msg("%s: tensor '%s' missing", files[f], twin.e[i].name);
            /* numpy stores a 0-d array as [1]; the loader matches [] and [1] */
            int scalars = got->numel == 1 && want->numel == 1;
            if (!scalars && !rp_tensor_same_shape(got, want)) fail_msg("%s: '%s' has another shape", files[f], twin.e[i].name);
            if (want->numel && memcmp(got->data, want->data, want->numel * sizeof(float)))
                fail_msg("%s: '%s' differs from torch's contiguous float32 values", files[f], twin.e[i].name);
        }
        rp_st_release(&st);
    }
    /* spot values: a transposed view, float16 max, an int64 scalar */
    rp_st st;
    RP_ASSERT_OK(rp_weights_load(fx("views.pth"), &st, &err), &err);
    const rp_tensor *t = rp_st_get(&st, "transposed");
    assert_int_equal(t->shape[0], 6);
    assert_true(t->data[1] == -3.0f + 6 * 0.5f);
    assert_true(rp_st_get(&st, "f16")->data[2] == 65504.0f);
    assert_true(rp_st_get(&st, "i64")->data[0] == 12345.0f);
    assert_int_equal(rp_st_get(&st, "i64")->ndim, 0);
    rp_st_release(&st);
    rp_st_release(&twin);
}

static void test_wrapped_and_parameters(void **state) {
    (void)state;
    rp_error err;
    rp_st st;
    RP_ASSERT_OK(rp_pth_load(fx("wrapped.pth"), &st, &err), &err);
    assert_int_equal(st.n, 2);
    assert_string_equal(rp_st_meta(&st, "pth.entry"), "state_dict");
    assert_true(rp_st_get(&st, "b")->data[0] == 3.0f);
    rp_st_release(&st);
    RP_ASSERT_OK(rp_pth_load(fx("params.pth"), &st, &err), &err);
    assert_int_equal(st.n, 2);
    assert_true(rp_st_get(&st, "w")->data[2] == 1.0f);
    rp_st_release(&st);
}

/* PyTorch's `fc = nn.Sequential(nn.Dropout(0.3), nn.Linear(8, 3))` loads
 * strictly into model.build's dropout head, and what runpipe saves has
 * exactly PyTorch's names and shapes (what torch's strict load_state_dict
 * checks; tests/golden/make_pth.py --check-saved runs it in PyTorch). */
static void test_dropout_head_names_match_torch(void **state) {
    (void)state;
    rp_error err;
    rp_node *layers = NULL;
    RP_ASSERT_OK(rp_node_parse_string("[{conv2d: {out: 8, kernel: 3, padding: 1}, name: conv1},"
                                      " {batchnorm2d: {}, name: bn1}, relu, global_avgpool,"
                                      " {linear: {out: 10}, name: fc}]",
                                      "<layers>", &layers, &err),
                 &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_from_layers(layers, 3, 8, 8, &m, &err), &err);
    rp_node_free(layers);
    RP_ASSERT_OK(rp_model_init_params(m, 1, &err), &err);
    RP_ASSERT_OK(rp_model_replace_head(m, 3, 0.3, 2, &err), &err);
    rp_load_report rep;
    RP_ASSERT_OK(rp_model_load_weights(m, fx("head.pth"), 1, &rep, &err), &err);
    rp_load_report_release(&rep);
    check_logits(m, "head_expected.safetensors", 1e-5);
    const char *saved = rp_test_path(rp_test_tmpdir(), "head.safetensors");
    RP_ASSERT_OK(rp_model_save(m, saved, &err), &err);
    rp_st a, b;
    RP_ASSERT_OK(rp_st_load(saved, &a, &err), &err);
    RP_ASSERT_OK(rp_pth_load(fx("head.pth"), &b, &err), &err);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < b.n; i++) {
        const rp_tensor *t = rp_st_get(&a, b.e[i].name);
        if (!t) fail_msg("saved model lacks PyTorch's '%s'", b.e[i].name);
        assert_true(rp_tensor_same_shape(t, b.e[i].t));
    }
    assert_non_null(rp_st_get(&a, "fc.1.weight"));
    rp_st_release(&a);
    rp_st_release(&b);
    rp_model_free(m);
}

static void expect_refused(const char *path, const char *what) {
    rp_error err;
    rp_error_clear(&err);
    rp_st st;
    int rc = rp_weights_load(path, &st, &err);
    if (rc == RP_OK) fail_msg("'%s' was accepted", path);
    if (!strstr(err.msg, what)) fail_msg("'%s': message lacks \"%s\": %s", path, what, err.msg);
    if (!strstr(err.msg, path) || strcmp(err.file, path) != 0) fail_msg("'%s': message does not name the file: %s", path, err.msg);
    assert_int_equal(st.n, 0);
}

static void test_refused_files(void **state) {
    (void)state;
    expect_refused(fx("bad_evil.pth"), "refusing global 'posix.system'");
    expect_refused(fx("bad_module.pth"), "refusing global 'torch.nn.modules.linear.Linear'");
    expect_refused(fx("bad_module.pth"), "save model.state_dict() instead");
    expect_refused(fx("bad_set.pth"), "opcode 0x8f (EMPTY_SET) is not allowed in a weights file");
    expect_refused(fx("bad_set.pth"), "data.pkl at byte ");
    expect_refused(fx("bad_legacy.pth"), "a legacy (pre-1.6, non-zip) torch.save file; convert it once with "
                                         "python3 -c \"import torch; torch.save(torch.load('OLD.pth', "
                                         "map_location='cpu'), 'NEW.pth')\"");
    expect_refused(fx("bad_uint8.pth"), "tensor 'w' has dtype uint8, which runpipe does not load as weights");
    expect_refused(fx("bad_notdict.pth"), "entries: {epoch: int, weights: list}");
    expect_refused(fx("bad_numel.pth"), "storage '0' declares 1073741824 float32 elements (4294967296 bytes) but "
                                        "its entry 'one/data/0' holds 24 bytes");
    expect_refused(fx("bad_size.pth"), "reaches element 1048575 of storage '0', which has 6");
}

/* Corrupt archives made from a good file: errors, never crashes. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static const char *write_bytes(const char *name, const unsigned char *b, size_t n) {
    const char *p = rp_test_path(rp_test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    return p;
}

static size_t find_sig(const unsigned char *b, size_t n, unsigned sig, int last) {
    size_t at = (size_t)-1;
    for (size_t i = 0; i + 4 <= n; i++)
        if ((unsigned)(b[i] | b[i + 1] << 8 | b[i + 2] << 16 | (unsigned)b[i + 3] << 24) == sig) {
            at = i;
            if (!last) break;
        }
    assert_true(at != (size_t)-1);
    return at;
}

static void test_corrupt_archives(void **state) {
    (void)state;
    size_t n;
    unsigned char *good = slurp(fx("views.pth"), &n), *b = malloc(n);
    /* truncated: the directory at the end is gone */
    expect_refused(write_bytes("half.pth", good, n / 2), "no zip end-of-directory record (truncated file?)");
    expect_refused(write_bytes("empty.pth", good, 0), "not a PyTorch zip checkpoint");
    /* a directory entry pointing past the end of the file */
    memcpy(b, good, n);
    size_t cd = find_sig(b, n, 0x02014b50u, 0);
    b[cd + 42] = 0xff, b[cd + 43] = 0xff, b[cd + 44] = 0xff, b[cd + 45] = 0x7f;
    expect_refused(write_bytes("lho.pth", b, n), "bad local header offset 2147483647");
    /* the zip64 record's directory offset beyond the file */
    memcpy(b, good, n);
    size_t z64 = find_sig(b, n, 0x06064b50u, 1);
    b[z64 + 48 + 5] = 0x10;
    expect_refused(write_bytes("cdoff.pth", b, n), "lies outside the file");
    /* a flipped byte in a storage: CRC */
    memcpy(b, good, n);
    size_t lh = find_sig(b, n, 0x04034b50u, 0);
    size_t second = find_sig(b + lh + 4, n - lh - 4, 0x04034b50u, 0) + lh + 4;
    size_t data = second + 30 + (size_t)(b[second + 26] | b[second + 27] << 8) + (size_t)(b[second + 28] | b[second + 29] << 8);
    b[data] ^= 0x40;
    expect_refused(write_bytes("crc.pth", b, n), "CRC mismatch (corrupt file)");
    /* a huge size in the directory of a stored entry */
    memcpy(b, good, n);
    b[cd + 20] = 0xfe, b[cd + 21] = 0xff, b[cd + 22] = 0xff, b[cd + 23] = 0x7f;
    expect_refused(write_bytes("csize.pth", b, n), "run past the end of the file");
    /* random bytes with a .pth name */
    for (size_t i = 0; i < 256; i++) b[i] = (unsigned char)(i * 37 + 11);
    expect_refused(write_bytes("noise.pth", b, 256), "not a PyTorch zip checkpoint");
    free(b);
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet20_logits_match_torch),
        cmocka_unit_test(test_views_dtypes_protocols),
        cmocka_unit_test(test_wrapped_and_parameters),
        cmocka_unit_test(test_dropout_head_names_match_torch),
        cmocka_unit_test(test_refused_files),
        cmocka_unit_test(test_corrupt_archives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
