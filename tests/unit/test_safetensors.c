/* safetensors: round trip, dtypes, every kind of malformed file gives an error
 * naming the file (never a crash), model save/load, strict/partial weight
 * loading with a report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

static void write_raw(const char *path, const char *header, const void *data, size_t dlen) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = strlen(header);
    unsigned char l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (unsigned char)(n >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(header, 1, n, f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
}

static void test_roundtrip(void **state) {
    (void)state;
    rp_error err;
    rp_st st, back;
    rp_st_init(&st);
    rp_tensor *a, *b;
    RP_ASSERT_OK(rp_tensor_new2(&a, 2, 3, &err), &err);
    for (int i = 0; i < 6; i++) a->data[i] = (float)i * 0.5f - 1;
    RP_ASSERT_OK(rp_tensor_new(&b, 0, NULL, &err), &err);
    b->data[0] = 42;
    RP_ASSERT_OK(rp_st_add(&st, "w", a, &err), &err);
    RP_ASSERT_OK(rp_st_add(&st, "n", b, &err), &err);
    RP_ASSERT_OK(rp_st_set_meta(&st, "k", "v \"quoted\"\nline", &err), &err);
    const char *p = rp_test_path(rp_test_tmpdir(), "rt.safetensors");
    RP_ASSERT_OK(rp_st_save(&st, p, &err), &err);
    RP_ASSERT_OK(rp_st_load(p, &back, &err), &err);
    assert_int_equal(back.n, 2);
    const rp_tensor *w = rp_st_get(&back, "w");
    assert_non_null(w);
    assert_int_equal(w->ndim, 2);
    assert_memory_equal(w->data, a->data, 6 * sizeof(float));
    assert_int_equal(rp_st_get(&back, "n")->ndim, 0);
    assert_true(rp_st_get(&back, "n")->data[0] == 42);
    assert_string_equal(rp_st_meta(&back, "k"), "v \"quoted\"\nline");
    /* header is 8-byte aligned */
    FILE *f = fopen(p, "rb");
    unsigned char l8[8];
    assert_int_equal(fread(l8, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(l8[0] % 8, 0);
    rp_st_release(&st);
    rp_st_release(&back);
    rp_tensor_free(a);
    rp_tensor_free(b);
}

static void test_dtypes(void **state) {
    (void)state;
    rp_error err;
    const char *p = rp_test_path(rp_test_tmpdir(), "dt.safetensors");
    /* F16 1.0, -2.0; BF16 0.5; I64 7 (0-D); F64 0.25 */
    unsigned char data[2 * 2 + 2 + 8 + 8];
    uint16_t h[2] = {0x3c00, 0xc000}, bf = 0x3f00;
    int64_t i7 = 7;
    double q = 0.25;
    memcpy(data, h, 4);
    memcpy(data + 4, &bf, 2);
    memcpy(data + 6, &i7, 8);
    memcpy(data + 14, &q, 8);
    write_raw(p,
              "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]},"
              "\"num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[6,14]},"
              "\"d\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[14,22]}}",
              data, sizeof data);
    rp_st st;
    RP_ASSERT_OK(rp_st_load(p, &st, &err), &err);
    assert_true(rp_st_get(&st, "a")->data[0] == 1.0f);
    assert_true(rp_st_get(&st, "a")->data[1] == -2.0f);
    assert_true(rp_st_get(&st, "b")->data[0] == 0.5f);
    assert_true(rp_st_get(&st, "num_batches_tracked")->data[0] == 7.0f);
    assert_true(rp_st_get(&st, "d")->data[0] == 0.25f);
    rp_st_release(&st);
}

static void expect_bad(const char *name, const char *header, size_t dlen, const char *needle) {
    rp_error err;
    char data[64] = {0};
    const char *p = rp_test_path(rp_test_tmpdir(), name);
    write_raw(p, header, data, dlen);
    rp_st st;
    assert_int_equal(rp_st_load(p, &st, &err), RP_ERR_FORMAT);
    if (!strstr(err.msg, needle) || !strstr(err.msg, name))
        fail_msg("%s: message '%s' lacks '%s' or the file name", name, err.msg, needle);
    assert_int_equal(st.n, 0);
}

static void test_malformed(void **state) {
    (void)state;
    rp_error err;
    rp_st st;
    const char *p = rp_test_path(rp_test_tmpdir(), "short.safetensors");
    rp_test_write(p, "abc");
    assert_int_equal(rp_st_load(p, &st, &err), RP_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    /* header length beyond the file */
    p = rp_test_path(rp_test_tmpdir(), "big.safetensors");
    FILE *f = fopen(p, "wb");
    unsigned char l8[8] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};
    fwrite(l8, 1, 8, f);
    fwrite("{}", 1, 2, f);
    fclose(f);
    assert_int_equal(rp_st_load(p, &st, &err), RP_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "exceeds the file size"));
    expect_bad("json.safetensors", "{\"a\": [", 0, "not a JSON object");
    expect_bad("dtype.safetensors", "{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unsupported dtype 'Q8'");
    expect_bad("range.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside the data");
    expect_bad("shape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not match its shape");
    expect_bad("overlap.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "overlap");
    expect_bad("fields.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    expect_bad("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "invalid shape");
    expect_bad("meta.safetensors", "{\"__metadata__\":{\"x\":3}}", 0, "metadata 'x'");
    assert_int_equal(rp_st_load("/nonexistent/x.safetensors", &st, &err), RP_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.safetensors"));
}

static void test_model_save_load(void **state) {
    (void)state;
    rp_error err;
    rp_model *m, *back;
    RP_ASSERT_OK(rp_model_build("cifar_cnn", NULL, &m, &err), &err);
    RP_ASSERT_OK(rp_model_replace_head(m, 3, 0.2, 1, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 77, &err), &err);
    const char *p = rp_test_path(rp_test_tmpdir(), "model.safetensors");
    RP_ASSERT_OK(rp_model_save(m, p, &err), &err);
    RP_ASSERT_OK(rp_model_load(p, &back, &err), &err);
    assert_int_equal(rp_model_num_params(back), rp_model_num_params(m));
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        rp_param *a = rp_model_param(m, i), *b = rp_model_param(back, i);
        assert_string_equal(a->name, b->name);
        assert_memory_equal(a->value->data, b->value->data, a->value->numel * sizeof(float));
    }
    assert_int_equal(rp_model_num_classes(back), 3);
    /* strict load into another architecture lists the differences */
    rp_model *other;
    RP_ASSERT_OK(rp_model_build("cifar_cnn", NULL, &other, &err), &err);
    rp_load_report rep;
    assert_int_equal(rp_model_load_weights(other, p, 1, &rep, &err), RP_ERR_FORMAT);
    /* the dropout head is fc2.0 (dropout) + fc2.1 (linear), PyTorch's Sequential names */
    assert_non_null(strstr(err.msg, "missing:    fc2.weight [10, 512]"));
    assert_non_null(strstr(err.msg, "unexpected: fc2.1.weight [3, 512]"));
    float keep = rp_model_find_param(other, "fc2.weight")->value->data[0];
    RP_ASSERT_OK(rp_model_load_weights(other, p, 0, &rep, &err), &err);
    assert_int_equal(rep.missing, 2);
    assert_true(rep.loaded == rp_model_num_params(other) - 2);
    assert_non_null(strstr(rep.text, "fc2.bias"));
    assert_true(rp_model_find_param(other, "fc2.weight")->value->data[0] == keep);
    assert_memory_equal(rp_model_find_param(other, "conv1.weight")->value->data,
                        rp_model_find_param(m, "conv1.weight")->value->data, 32 * 27 * sizeof(float));
    rp_load_report_release(&rep);
    /* a plain state dict is not a model */
    rp_st st;
    rp_st_init(&st);
    RP_ASSERT_OK(rp_st_add(&st, "x", rp_model_param(m, 0)->value, &err), &err);
    const char *q = rp_test_path(rp_test_tmpdir(), "plain.safetensors");
    RP_ASSERT_OK(rp_st_save(&st, q, &err), &err);
    rp_st_release(&st);
    rp_model_free(back);
    assert_int_equal(rp_model_load(q, &back, &err) == RP_OK, 0);
    assert_null(back);
    assert_non_null(strstr(err.msg, "runpipe.arch"));
    /* an architecture text that cannot be rebuilt names the file */
    rp_st_init(&st);
    RP_ASSERT_OK(rp_st_set_meta(&st, "runpipe.arch", "{input: [3, 32, 32], nodes: [{name: a, type: nosuchlayer}]}", &err),
                 &err);
    const char *r = rp_test_path(rp_test_tmpdir(), "badarch.safetensors");
    RP_ASSERT_OK(rp_st_save(&st, r, &err), &err);
    rp_st_release(&st);
    assert_int_not_equal(rp_model_load(r, &back, &err), RP_OK);
    assert_non_null(strstr(err.msg, "badarch.safetensors"));
    assert_non_null(strstr(err.msg, "nosuchlayer"));
    rp_model_free(other);
    rp_model_free(m);
    rp_model_free(back);
}

/* Untrusted headers: a name given twice is an error (not "the last wins"),
 * and model.load's architecture metadata cannot make it allocate more than
 * the tensors present could fill. */
static void test_untrusted_header(void **state) {
    (void)state;
    rp_error err;
    rp_st st;
    float d[2] = {1, 2};
    const char *p = rp_test_path(rp_test_tmpdir(), "dup.safetensors");
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              d, sizeof d);
    assert_int_equal(rp_st_load(p, &st, &err), RP_ERR_FORMAT);
    char want[1200];
    snprintf(want, sizeof want, "'%s': not a valid safetensors file: tensor 'w' appears twice in the header", p);
    assert_string_equal(err.msg, want);

    /* a real model file whose metadata is edited to declare 640000 outputs */
    rp_node *layers = NULL;
    RP_ASSERT_OK(rp_node_parse_string("- {flatten: {}}\n- {linear: {out: 10}, name: fc}\n", "<t>", &layers, &err), &err);
    rp_model *m = NULL;
    RP_ASSERT_OK(rp_model_from_layers(layers, 1, 16, 32, &m, &err), &err);
    rp_node_free(layers);
    p = rp_test_path(rp_test_tmpdir(), "wide.safetensors");
    RP_ASSERT_OK(rp_model_save(m, p, &err), &err);
    rp_model_free(m);
    RP_ASSERT_OK(rp_st_load(p, &st, &err), &err);
    const char *arch = rp_st_meta(&st, "runpipe.arch");
    assert_non_null(arch);
    const char *ten = strstr(arch, "out: 10");
    assert_non_null(ten);
    char wide[8192];
    snprintf(wide, sizeof wide, "%.*sout: 640000%s", (int)(ten - arch), arch, ten + 7);
    RP_ASSERT_OK(rp_st_set_meta(&st, "runpipe.arch", wide, &err), &err);
    RP_ASSERT_OK(rp_st_save(&st, p, &err), &err);
    rp_st_release(&st);
    assert_int_equal(rp_model_load(p, &m, &err), RP_ERR_FORMAT);
    assert_null(m);
    snprintf(want, sizeof want,
             "'%s': the architecture in its 'runpipe.arch' metadata declares more weights than the file's "
             "tensors hold (5130 values): metadata and tensors disagree",
             p);
    assert_string_equal(err.msg, want);
}

int main(void) {
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_model_save_load),
        cmocka_unit_test(test_untrusted_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
