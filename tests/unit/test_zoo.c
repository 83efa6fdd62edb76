/* The zoo against PyTorch/torchvision (fixture tests/golden/data/core_zoo.safetensors
 * from tests/golden/make_core.py): exact parameter/buffer names, order and
 * shapes of ResNet-18/34/50 (torchvision) and CIFAR ResNet-20 (options A and
 * B), parameter counts of the CIFAR family (He et al.: 0.27M ... 1.7M), and
 * forward/backward of ResNet-20 and ResNet-18 with weights given by a
 * formula both sides compute, incl. loading a torchvision-style state dict
 * (num_batches_tracked as I64) from safetensors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

static rp_st zoo;

static int setup(void **state) {
    (void)state;
    rp_error err;
    rp_schema_dirs_init();
    rp_set_threads(2);
    RP_ASSERT_OK(rp_st_load(rp_test_path(rp_test_src(), "tests/golden/data/core_zoo.safetensors"), &zoo, &err), &err);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rp_st_release(&zoo);
    return 0;
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

/* "name:d0,d1;name:..." in state_dict order must equal the model's params. */
static void check_names(rp_model *m, const char *key) {
    const char *list = rp_st_meta(&zoo, key);
    assert_non_null(list);
    char *copy = strdup(list), *save = NULL;
    size_t i = 0;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save), i++) {
        char *colon = strchr(tok, ':');
        *colon = 0;
        rp_param *p = rp_model_param(m, i);
        if (!p) fail_msg("%s: model has only %zu tensors, torch has more (next: %s)", key, i, tok);
        if (strcmp(p->name, tok)) fail_msg("%s: tensor %zu is '%s' in the model, '%s' in torch", key, i, p->name, tok);
        char shp[128] = "";
        size_t o = 0;
        for (int d = 0; d < p->value->ndim; d++)
            o += (size_t)snprintf(shp + o, sizeof shp - o, "%s%lld", d ? "," : "", (long long)p->value->shape[d]);
        if (strcmp(shp, colon + 1)) fail_msg("%s: '%s' is [%s] in the model, [%s] in torch", key, tok, shp, colon + 1);
    }
    assert_int_equal(i, rp_model_num_params(m));
    free(copy);
}

static void test_names_and_counts(void **state) {
    (void)state;
    const char *tv[] = {"resnet18", "resnet34", "resnet50"};
    for (int i = 0; i < 3; i++) {
        rp_model *m = build(tv[i], NULL);
        char key[64];
        snprintf(key, sizeof key, "%s.names", tv[i]);
        check_names(m, key);
        snprintf(key, sizeof key, "%s.params", tv[i]);
        assert_int_equal(rp_model_count_weights(m, 0), strtoull(rp_st_meta(&zoo, key), NULL, 10));
        rp_model_free(m);
    }
    rp_model *a = build("resnet20", NULL), *b = build("resnet20", "{shortcut: B}");
    check_names(a, "resnet20A.names");
    check_names(b, "resnet20B.names");
    assert_int_equal(rp_model_count_weights(a, 0), strtoull(rp_st_meta(&zoo, "resnet20A.params"), NULL, 10));
    assert_int_equal(rp_model_count_weights(b, 0), strtoull(rp_st_meta(&zoo, "resnet20B.params"), NULL, 10));
    rp_model_free(a);
    rp_model_free(b);
    /* He et al. 2016 Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M */
    const int depth[] = {20, 32, 44, 56, 110};
    const double paper[] = {0.27e6, 0.46e6, 0.66e6, 0.85e6, 1.7e6};
    for (int i = 0; i < 5; i++) {
        char name[32], key[64];
        snprintf(name, sizeof name, "resnet%d", depth[i]);
        snprintf(key, sizeof key, "resnet%d.params", depth[i]);
        rp_model *m = build(name, NULL);
        size_t n = rp_model_count_weights(m, 0);
        if (i) assert_int_equal(n, strtoull(rp_st_meta(&zoo, key), NULL, 10));
        assert_true(fabs((double)n - paper[i]) < 0.01e6 * (i == 4 ? 5 : 1));
        rp_model_free(m);
    }
}

static rp_tensor *formula_tensor(int nd, const int64_t *shape, double a) {
    rp_tensor *t;
    rp_error err;
    RP_ASSERT_OK(rp_tensor_new(&t, nd, shape, &err), &err);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)sin(a * (double)i);
    return t;
}

static const rp_tensor *need(const char *k) {
    const rp_tensor *t = rp_st_get(&zoo, k);
    if (!t) fail_msg("fixture lacks '%s'", k);
    return t;
}

/* x = sin(a * i) with `a` chosen by make_core.py (metadata "<input>.input")
 * so that no ReLU input or max-pool tie is within rounding of its kink. */
static void compare_run(rp_model *m, const char *prefix, const char *input, int64_t n, int64_t hw, int train,
                        int grads, const char *const *full, double gtol) {
    rp_error err;
    char key[256];
    int64_t xs[4] = {n, 3, hw, hw};
    snprintf(key, sizeof key, "%s.input", input);
    const char *freq = rp_st_meta(&zoo, key);
    if (!freq) fail_msg("fixture lacks metadata '%s'", key);
    rp_tensor *x = formula_tensor(4, xs, strtod(freq, NULL));
    rp_model_set_training(m, train);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    snprintf(key, sizeof key, "%s.logits", prefix);
    const rp_tensor *ref = need(key);
    assert_int_equal(ref->numel, y->numel);
    /* references are float64; 1e-4 relative to the largest logit (BN over
     * small batches amplifies float32 rounding: torch's own float32 result
     * is ~4e-5 away from float64 on resnet20B) */
    double mx = 0;
    for (size_t e = 0; e < ref->numel; e++) mx = fmax(mx, fabs(ref->data[e]));
    rp_test_close(y->data, ref->data, y->numel, 1e-4, 1e-4 * mx, key);
    if (grads) {
        rp_tensor *r = formula_tensor(y->ndim, y->shape, 0.3);
        rp_model_zero_grad(m);
        RP_ASSERT_OK(rp_model_backward(m, r, &err), &err);
        snprintf(key, sizeof key, "%s.grad_norm", prefix);
        const rp_tensor *norms = need(key);
        snprintf(key, sizeof key, "%s.grad_sum", prefix);
        const rp_tensor *sums = need(key);
        size_t k = 0;
        for (size_t j = 0; j < rp_model_num_params(m); j++) {
            rp_param *p = rp_model_param(m, j);
            if (p->is_buffer) continue;
            double s = 0, q = 0;
            for (size_t i = 0; i < p->grad->numel; i++) {
                s += p->grad->data[i];
                q += (double)p->grad->data[i] * p->grad->data[i];
            }
            q = sqrt(q);
            if (fabs(q - norms->data[k]) > gtol * fabs(norms->data[k]) + 1e-6)
                fail_msg("%s: |grad %s| = %g, torch %g", prefix, p->name, q, (double)norms->data[k]);
            if (fabs(s - sums->data[k]) > gtol * (fabs(sums->data[k]) + norms->data[k]) + 1e-6)
                fail_msg("%s: sum(grad %s) = %g, torch %g", prefix, p->name, s, (double)sums->data[k]);
            k++;
        }
        assert_int_equal(k, norms->numel);
        for (int i = 0; full[i]; i++) {
            snprintf(key, sizeof key, "%s.grad.%s", prefix, full[i]);
            const rp_tensor *g = need(key);
            rp_param *p = rp_model_find_param(m, full[i]);
            /* entries are sums over the batch and positions with cancellation:
             * their float32 error is absolute, about 1e-4 of the largest entry */
            double mx = 0;
            for (size_t e = 0; e < g->numel; e++) mx = fmax(mx, fabs(g->data[e]));
            rp_test_close(p->grad->data, g->data, g->numel, gtol, gtol * mx, key);
        }
        rp_tensor_free(r);
    }
    if (train) {
        for (size_t j = 0; j < rp_model_num_params(m); j++) {
            rp_param *p = rp_model_param(m, j);
            size_t len = strlen(p->name);
            if (!p->is_buffer || (len > 19 && !strcmp(p->name + len - 19, "num_batches_tracked"))) continue;
            snprintf(key, sizeof key, "%s.after.%s", prefix, p->name);
            rp_test_close(p->value->data, need(key)->data, p->value->numel, 1e-4, 1e-5, key);
        }
    }
    rp_tensor_free(x);
}

static void test_resnet20_vs_torch(void **state) {
    (void)state;
    const char *full[] = {"conv1.weight", "fc.weight", "fc.bias", "layer1.0.bn1.weight", "layer3.0.conv1.weight", NULL};
    const char *opt[2] = {NULL, "{shortcut: B}"}, *pre[2] = {"resnet20A", "resnet20B"};
    const char *pre_eval[2] = {"resnet20A_eval", "resnet20B_eval"};
    const char *opt16[2] = {"{size: 16}", "{size: 16, shortcut: B}"};
    (void)opt;
    for (int v = 0; v < 2; v++) {
        rp_model *m = build("resnet20", opt16[v]);
        rp_test_formula_fill(m);
        /* option A to 1e-4; option B's projection BNs over small maps amplify
         * float32 rounding (torch's own float32 logits are 6e-5 from float64),
         * so its gradients get 2e-3 */
        compare_run(m, pre[v], pre[v], 4, 16, 1, 1, full, v ? 2e-3 : 1e-4);
        /* eval uses the running statistics the training step left, as in torch */
        compare_run(m, pre_eval[v], pre[v], 4, 16, 0, 0, full, 1e-4);
        rp_model_free(m);
    }
}

/* Write the formula weights as torch would save a state dict: F32 tensors
 * and I64 num_batches_tracked, by hand. */
static void write_torch_style(rp_model *m, const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t cap = 1 << 20, hl = 0, off = 0;
    char *h = malloc(cap);
    hl += (size_t)snprintf(h + hl, cap - hl, "{");
    for (size_t j = 0; j < rp_model_num_params(m); j++) {
        rp_param *p = rp_model_param(m, j);
        int i64 = strstr(p->name, "num_batches_tracked") != NULL;
        size_t bytes = p->value->numel * (i64 ? 8 : 4);
        hl += (size_t)snprintf(h + hl, cap - hl, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", j ? "," : "", p->name,
                               i64 ? "I64" : "F32");
        for (int d = 0; d < p->value->ndim; d++)
            hl += (size_t)snprintf(h + hl, cap - hl, "%s%lld", d ? "," : "", (long long)p->value->shape[d]);
        hl += (size_t)snprintf(h + hl, cap - hl, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(h + hl, cap - hl, "}");
    uint64_t n = hl;
    fwrite(&n, 8, 1, f);
    fwrite(h, 1, hl, f);
    for (size_t j = 0; j < rp_model_num_params(m); j++) {
        rp_param *p = rp_model_param(m, j);
        if (strstr(p->name, "num_batches_tracked")) {
            int64_t v = 12345;
            fwrite(&v, 8, 1, f);
        } else {
            fwrite(p->value->data, 4, p->value->numel, f);
        }
    }
    fclose(f);
    free(h);
}

static void test_resnet18_torchvision(void **state) {
    (void)state;
    rp_error err;
    rp_model *src = build("resnet18", "{size: 32}"), *m = build("resnet18", "{size: 32}");
    rp_test_formula_fill(src);
    const char *path = rp_test_path(rp_test_tmpdir(), "resnet18_tv.safetensors");
    write_torch_style(src, path);
    rp_load_report rep;
    RP_ASSERT_OK(rp_model_load_weights(m, path, 1, &rep, &err), &err);
    assert_int_equal(rep.loaded, rp_model_num_params(m));
    rp_load_report_release(&rep);
    assert_true(rp_model_find_param(m, "layer2.0.bn1.num_batches_tracked")->value->data[0] == 12345.0f);
    const char *full[] = {"conv1.weight", "fc.bias", "layer4.1.bn2.weight", NULL};
    compare_run(m, "resnet18_eval", "resnet18_eval", 2, 32, 0, 1, full, 1e-4);
    rp_model_free(src);
    rp_model_free(m);
}

static void test_unet_and_cnns(void **state) {
    (void)state;
    rp_error err;
    rp_model *u = build("unet", "{classes: 6, in_channels: 1, size: 32, depth: 2, base: 8}");
    rp_tensor *x;
    RP_ASSERT_OK(rp_tensor_new4(&x, 2, 1, 32, 32, &err), &err);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(u, x, &y, &err), &err);
    assert_int_equal(y->shape[1], 6);
    assert_int_equal(y->shape[2], 32);
    assert_int_equal(y->shape[3], 32);
    assert_non_null(rp_model_find_param(u, "up0.weight"));
    rp_tensor *d = rp_tensor_clone(y);
    RP_ASSERT_OK(rp_model_backward(u, d, &err), &err);
    rp_tensor_free(d);
    rp_tensor_free(x);
    rp_model_free(u);
    rp_node *o;
    RP_ASSERT_OK(rp_node_parse_string("{size: 30, depth: 2}", "<o>", &o, &err), &err);
    assert_int_not_equal(rp_model_build("unet", o, &u, &err), RP_OK);
    assert_non_null(strstr(err.msg, "divisible"));
    rp_node_free(o);
    rp_model *c = build("cifar_cnn", NULL);
    /* Keras cifar10_cnn: 896 + 9248 + 18496 + 36928 + 1180160 + 5130 */
    assert_int_equal(rp_model_count_weights(c, 0), 1250858);
    rp_model_free(c);
}

/* rp_model_build_graph: the same graph as rp_model_build, its weights not
 * drawn (zeros); rp_model_init_params then gives rp_model_build's weights. */
static void test_build_graph_without_init(void **state) {
    (void)state;
    rp_error err;
    rp_model *g = NULL, *m = build("resnet20", NULL);
    RP_ASSERT_OK(rp_model_build_graph("resnet20", NULL, &g, &err), &err);
    assert_int_equal(rp_model_num_params(g), rp_model_num_params(m));
    assert_int_equal(rp_model_count_weights(g, 0), rp_model_count_weights(m, 0));
    const rp_tensor *w = rp_model_find_param(g, "conv1.weight")->value;
    for (size_t i = 0; i < w->numel; i++) assert_true(w->data[i] == 0.0f);
    RP_ASSERT_OK(rp_model_init_params(g, 0, &err), &err);
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_tensor *a = rp_model_param(m, i)->value, *b = rp_model_param(g, i)->value;
        assert_int_equal(a->numel, b->numel);
        assert_memory_equal(a->data, b->data, a->numel * sizeof(float));
    }
    rp_model_free(g);
    rp_model_free(m);
    assert_int_not_equal(rp_model_build_graph("resnet21", NULL, &g, &err), RP_OK);
    assert_null(g);
    assert_non_null(strstr(err.msg, "resnet20")); /* did you mean */
}

/* unet_resnet (engine/zoo/unet_resnet.c) against a PyTorch reference of
 * smp's Unet(resnet18) layout (tests/golden/make_unet_resnet.py): names and
 * shapes in state_dict order, parameter count, and the eval output with
 * formula weights; then ImageNet-style weights of the zoo's resnet18 load
 * into its encoder with strict: false and fc reported as skipped. */
static void test_unet_resnet(void **state) {
    (void)state;
    rp_error err;
    rp_st fx;
    RP_ASSERT_OK(rp_st_load(rp_test_path(rp_test_src(), "tests/golden/data/unet_resnet.safetensors"), &fx, &err),
                 &err);
    rp_model *m = build("unet_resnet", "{encoder: resnet18, classes: 2, size: 64}");
    rp_st saved = zoo;
    zoo = fx; /* check_names reads the fixture's "names" */
    check_names(m, "names");
    zoo = saved;
    assert_int_equal(rp_model_count_weights(m, 0), strtoull(rp_st_meta(&fx, "params"), NULL, 10));
    for (size_t k = 0; k < rp_model_num_params(m); k++) {
        rp_param *p = rp_model_param(m, k);
        size_t n = strlen(p->name);
        if (n > 20 && !strcmp(p->name + n - 20, ".num_batches_tracked")) {
            rp_tensor_fill(p->value, 0.0f);
            continue;
        }
        char var[300];
        snprintf(var, sizeof var, "%.*s.running_var", (int)(n - 7), p->name);
        int bn_scale = (n > 7 && !strcmp(p->name + n - 7, ".weight") && rp_model_find_param(m, var)) ||
                       (n > 12 && !strcmp(p->name + n - 12, ".running_var"));
        for (size_t i = 0; i < p->value->numel; i++) {
            double v = sin(0.37 * (double)i + (double)k);
            p->value->data[i] = (float)(bn_scale ? 1 + 0.25 * v : 0.05 * v);
        }
    }
    rp_tensor *x;
    RP_ASSERT_OK(rp_tensor_new4(&x, 1, 3, 64, 64, &err), &err);
    for (size_t i = 0; i < x->numel; i++) x->data[i] = (float)sin(0.1 * (double)i);
    const rp_tensor *y;
    rp_model_set_training(m, 0);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    const rp_tensor *ref = rp_st_get(&fx, "y");
    assert_non_null(ref);
    assert_int_equal(y->numel, ref->numel);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < y->numel; i++) {
        maxref = fmax(maxref, fabs(ref->data[i]));
        maxdiff = fmax(maxdiff, fabs(y->data[i] - ref->data[i]));
    }
    if (!(maxdiff <= 1e-4 * maxref + 1e-6)) fail_msg("unet_resnet eval output: max |diff| %g (max |ref| %g)", maxdiff, maxref);
    rp_tensor_free(x);
    rp_st_release(&fx);

    /* ImageNet weights (here: a zoo resnet18 with 1000 classes) into the encoder */
    rp_model *r = build("resnet18", "{size: 64}");
    RP_ASSERT_OK(rp_model_init_params(r, 7, &err), &err);
    const char *path = rp_test_path(rp_test_tmpdir(), "resnet18_imagenet.safetensors");
    RP_ASSERT_OK(rp_model_save(r, path, &err), &err);
    rp_load_report rep;
    memset(&rep, 0, sizeof rep);
    RP_ASSERT_OK(rp_model_load_weights(m, path, 0, &rep, &err), &err);
    assert_int_equal(rep.loaded, rp_model_num_params(r) - 2); /* all but fc.weight, fc.bias */
    assert_int_equal(rep.skipped, 2);
    assert_non_null(strstr(rep.text, "fc.weight"));
    rp_load_report_release(&rep);
    rp_param *a = rp_model_find_param(m, "layer4.1.conv2.weight"), *b = rp_model_find_param(r, "layer4.1.conv2.weight");
    assert_memory_equal(a->value->data, b->value->data, a->value->numel * sizeof(float));
    memset(&rep, 0, sizeof rep);
    assert_int_not_equal(rp_model_load_weights(m, path, 1, &rep, &err), RP_OK); /* strict: decoder missing */
    rp_load_report_release(&rep);
    rp_model_free(r);
    rp_model_free(m);

    /* sizes the encoder cannot halve five times are refused */
    rp_node *o;
    RP_ASSERT_OK(rp_node_parse_string("{encoder: resnet50, size: 48}", "<o>", &o, &err), &err);
    assert_int_not_equal(rp_model_build("unet_resnet", o, &m, &err), RP_OK);
    assert_non_null(strstr(err.msg, "multiple of 32"));
    rp_node_free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_counts),
        cmocka_unit_test(test_resnet20_vs_torch),
        cmocka_unit_test(test_resnet18_torchvision),
        cmocka_unit_test(test_unet_and_cnns),
        cmocka_unit_test(test_unet_resnet),
        cmocka_unit_test(test_build_graph_without_init),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
