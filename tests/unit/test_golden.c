/* Golden tests against PyTorch 1.13: every layer case of
 * tests/golden/data/core_layers.safetensors (written by
 * tests/golden/make_core.py): forward output, input gradients, parameter
 * gradients of loss = sum(y * r) and buffers after the step (BN running
 * statistics), to 1e-4 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nn/layer.h"
#include "config/schema.h"
#include "host/registry.h"

#define RTOL 1e-4
#define ATOL 1e-5

static const rp_tensor *need(const rp_st *st, const char *fmt, const char *a, const char *b) {
    char key[256];
    snprintf(key, sizeof key, fmt, a, b);
    const rp_tensor *t = rp_st_get(st, key);
    if (!t) fail_msg("fixture lacks '%s'", key);
    return t;
}

static void run_case(const rp_st *st, const char *name, const char *spec) {
    rp_error err;
    rp_node *root;
    RP_ASSERT_OK(rp_node_parse_string(spec, name, &root, &err), &err);
    const char *type = rp_node_str(rp_node_get(root, "type"));
    int train = strcmp(rp_node_str(rp_node_get(root, "train")), "true") == 0;
    const struct rp_component *c = rp_component_find(RP_COMP_LAYER, type);
    assert_non_null(c);
    const struct rp_layer_ops *ops = c->impl;
    rp_node *opts;
    RP_ASSERT_OK(rp_component_params(RP_COMP_LAYER, type, rp_node_get(root, "opts"), &opts, &err), &err);
    const rp_tensor *in[RP_MAX_LAYER_INPUTS];
    rp_tensor *din[RP_MAX_LAYER_INPUTS];
    int n_in = 0;
    char key[256];
    for (;;) {
        snprintf(key, sizeof key, "%s.x%d", name, n_in);
        if (!rp_st_get(st, key)) break;
        in[n_in] = rp_st_get(st, key);
        RP_ASSERT_OK(rp_tensor_new(&din[n_in], in[n_in]->ndim, in[n_in]->shape, &err), &err);
        n_in++;
    }
    assert_true(n_in >= 1);
    rp_layer l;
    memset(&l, 0, sizeof l);
    l.ops = ops;
    l.name = strdup(name);
    int64_t os[RP_MAX_DIMS];
    int ond;
    RP_ASSERT_OK(ops->create(&l, opts, n_in, in, os, &ond, &err), &err);
    /* parameters and buffers from the fixture, by their torch names */
    size_t plen = strlen(name) + 1;
    for (size_t i = 0; i < l.n_params; i++) {
        const rp_tensor *t = need(st, "%s.p.%s", name, l.params[i].name + plen);
        assert_int_equal(t->numel, l.params[i].value->numel);
        memcpy(l.params[i].value->data, t->data, t->numel * sizeof(float));
        if (l.params[i].grad) rp_tensor_zero(l.params[i].grad);
    }
    const rp_tensor *yref = need(st, "%s.%s", name, "y"), *r = need(st, "%s.%s", name, "r");
    assert_int_equal(ond, yref->ndim);
    for (int d = 0; d < ond; d++) assert_int_equal(os[d], yref->shape[d]);
    rp_tensor *y;
    RP_ASSERT_OK(rp_tensor_new(&y, ond, os, &err), &err);
    rp_run_ctx ctx = {.training = train, .seed = 1, .need_input_grad = 1};
    RP_ASSERT_OK(ops->forward(&l, &ctx, n_in, in, y, &err), &err);
    snprintf(key, sizeof key, "%s: output", name);
    rp_test_close(y->data, yref->data, y->numel, RTOL, ATOL, key);
    RP_ASSERT_OK(ops->backward(&l, &ctx, n_in, in, y, r, din, &err), &err);
    for (int i = 0; i < n_in; i++) {
        char k2[16];
        snprintf(k2, sizeof k2, "dx%d", i);
        const rp_tensor *dref = need(st, "%s.%s", name, k2);
        snprintf(key, sizeof key, "%s: input %d gradient", name, i);
        rp_test_close(din[i]->data, dref->data, dref->numel, RTOL, ATOL, key);
    }
    for (size_t i = 0; i < l.n_params; i++) {
        const char *pn = l.params[i].name + plen;
        const rp_tensor *ref;
        if (l.params[i].grad) {
            ref = need(st, "%s.g.%s", name, pn);
            snprintf(key, sizeof key, "%s: grad of %s", name, pn);
            rp_test_close(l.params[i].grad->data, ref->data, ref->numel, RTOL, ATOL, key);
        } else {
            ref = need(st, "%s.after.%s", name, pn);
            snprintf(key, sizeof key, "%s: %s after the step", name, pn);
            rp_test_close(l.params[i].value->data, ref->data, ref->numel, RTOL, ATOL, key);
        }
    }
    rp_tensor_free(y);
    for (int i = 0; i < n_in; i++) rp_tensor_free(din[i]);
    rp_layer_release(&l);
    rp_node_free(opts);
    rp_node_free(root);
}

static void test_layers_vs_torch(void **state) {
    (void)state;
    rp_error err;
    rp_st st;
    const char *p = rp_test_path(rp_test_src(), "tests/golden/data/core_layers.safetensors");
    RP_ASSERT_OK(rp_st_load(p, &st, &err), &err);
    size_t cases = 0;
    for (size_t i = 0; i < st.n_meta; i++) {
        if (strncmp(st.meta_keys[i], "case.", 5)) continue;
        run_case(&st, st.meta_keys[i] + 5, st.meta_vals[i]);
        cases++;
    }
    assert_true(cases >= 20);
    rp_st_release(&st);
}

int main(void) {
    rp_set_threads(2);
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_vs_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
