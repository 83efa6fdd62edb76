/* Optimizers against torch.optim 1.13 (fixture core_optim.safetensors from
 * tests/golden/make_core.py): params w [3, 4] and b [3] (fc.weight, fc.bias)
 * with gradients g = a*p + c for 10 steps, every step compared; the state is
 * saved after step 5 (through a safetensors file) and restored into a new
 * optimizer that finishes the run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

static rp_st fx;

static const rp_tensor *need(const char *a, const char *b) {
    char key[256];
    snprintf(key, sizeof key, "optim.%s%s", a, b);
    const rp_tensor *t = rp_st_get(&fx, key);
    if (!t) fail_msg("fixture lacks '%s'", key);
    return t;
}

static rp_model *tiny(void) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(4, 1, 1, &m, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 3}"), &err);
    memcpy(rp_model_find_param(m, "fc.weight")->value->data, need("w0", "")->data, 12 * sizeof(float));
    memcpy(rp_model_find_param(m, "fc.bias")->value->data, need("b0", "")->data, 3 * sizeof(float));
    return m;
}

static void set_grads(rp_model *m) {
    rp_param *w = rp_model_find_param(m, "fc.weight"), *b = rp_model_find_param(m, "fc.bias");
    const float *aw = need("aw", "")->data, *cw = need("cw", "")->data, *ab = need("ab", "")->data,
                *cb = need("cb", "")->data;
    for (int i = 0; i < 12; i++) w->grad->data[i] = aw[i] * w->value->data[i] + cw[i];
    for (int i = 0; i < 3; i++) b->grad->data[i] = ab[i] * b->value->data[i] + cb[i];
}

static void check_step(rp_model *m, const char *name, int step) {
    char what[128];
    snprintf(what, sizeof what, "%s step %d weight", name, step + 1);
    rp_test_close(rp_model_find_param(m, "fc.weight")->value->data, need(name, ".w")->data + step * 12, 12, 1e-5,
                  1e-7, what);
    snprintf(what, sizeof what, "%s step %d bias", name, step + 1);
    rp_test_close(rp_model_find_param(m, "fc.bias")->value->data, need(name, ".b")->data + step * 3, 3, 1e-5, 1e-7,
                  what);
}

static void run_case(const char *name, const char *spec_text) {
    rp_error err;
    rp_node *spec;
    RP_ASSERT_OK(rp_node_parse_string(spec_text, name, &spec, &err), &err);
    rp_model *m = tiny();
    rp_optimizer *o;
    RP_ASSERT_OK(rp_optimizer_new(spec, m, &o, &err), &err);
    for (int s = 0; s < 5; s++) {
        set_grads(m);
        RP_ASSERT_OK(rp_optimizer_step(o, &err), &err);
        check_step(m, name, s);
    }
    /* save → file → new optimizer */
    rp_st st = {0};
    RP_ASSERT_OK(rp_optimizer_save(o, &st, &err), &err);
    rp_st file;
    rp_st_init(&file);
    RP_ASSERT_OK(rp_st_add_prefixed(&file, "optim.", &st, &err), &err);
    const char *path = rp_test_path(rp_test_tmpdir(), "opt.safetensors");
    RP_ASSERT_OK(rp_st_save(&file, path, &err), &err);
    rp_st_release(&file);
    rp_st_release(&st);
    rp_optimizer_free(o);
    RP_ASSERT_OK(rp_st_load(path, &file, &err), &err);
    RP_ASSERT_OK(rp_st_get_prefixed(&file, "optim.", &st, &err), &err);
    RP_ASSERT_OK(rp_optimizer_new(spec, m, &o, &err), &err);
    RP_ASSERT_OK(rp_optimizer_load(o, &st, &err), &err);
    for (int s = 5; s < 10; s++) {
        set_grads(m);
        RP_ASSERT_OK(rp_optimizer_step(o, &err), &err);
        check_step(m, name, s);
    }
    rp_st_release(&file);
    rp_st_release(&st);
    rp_optimizer_free(o);
    rp_model_free(m);
    rp_node_free(spec);
}

static void test_vs_torch(void **state) {
    (void)state;
    int n = 0;
    for (size_t i = 0; i < fx.n_meta; i++)
        if (!strncmp(fx.meta_keys[i], "optim.", 6)) {
            run_case(fx.meta_keys[i] + 6, fx.meta_vals[i]);
            n++;
        }
    assert_true(n >= 9);
}

static void test_frozen_and_errors(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = tiny();
    size_t c;
    RP_ASSERT_OK(rp_model_freeze(m, "fc.weight", &c, &err), &err);
    rp_node *spec;
    RP_ASSERT_OK(rp_node_parse_string("{adam: {lr: 0.1}}", "<t>", &spec, &err), &err);
    rp_optimizer *o;
    RP_ASSERT_OK(rp_optimizer_new(spec, m, &o, &err), &err);
    float w0 = rp_model_find_param(m, "fc.weight")->value->data[1], b0 = rp_model_find_param(m, "fc.bias")->value->data[1];
    set_grads(m);
    RP_ASSERT_OK(rp_optimizer_step(o, &err), &err);
    assert_true(rp_model_find_param(m, "fc.weight")->value->data[1] == w0);
    assert_true(rp_model_find_param(m, "fc.bias")->value->data[1] != b0);
    assert_true(rp_optimizer_lr(o) == 0.1);
    rp_optimizer_set_lr(o, 0.05);
    assert_true(rp_optimizer_lr(o) == 0.05 && rp_optimizer_base_lr(o) == 0.1);
    rp_st st = {0};
    assert_int_equal(rp_optimizer_load(o, &st, &err), RP_ERR_FORMAT);
    rp_optimizer_free(o);
    rp_node_free(spec);
    RP_ASSERT_OK(rp_node_parse_string("{adamm: {lr: 0.1}}", "<t>", &spec, &err), &err);
    assert_int_not_equal(rp_optimizer_new(spec, m, &o, &err), RP_OK);
    assert_non_null(strstr(err.msg, "adam"));
    rp_node_free(spec);
    RP_ASSERT_OK(rp_node_parse_string("{sgd: {lr: -1}}", "<t>", &spec, &err), &err);
    assert_int_not_equal(rp_optimizer_new(spec, m, &o, &err), RP_OK);
    rp_node_free(spec);
    RP_ASSERT_OK(rp_node_parse_string("{sgd: {lr: 0.1, nesterov: true}}", "<t>", &spec, &err), &err);
    assert_int_not_equal(rp_optimizer_new(spec, m, &o, &err), RP_OK);
    assert_non_null(strstr(err.msg, "nesterov"));
    rp_node_free(spec);
    rp_model_free(m);
}

static int setup(void **state) {
    (void)state;
    rp_error err;
    rp_schema_dirs_init();
    RP_ASSERT_OK(rp_st_load(rp_test_path(rp_test_src(), "tests/golden/data/core_optim.safetensors"), &fx, &err), &err);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rp_st_release(&fx);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_torch),
        cmocka_unit_test(test_frozen_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
