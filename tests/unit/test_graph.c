/* Model DAG: building, forward/backward through residual fan-out (checked
 * against central differences), gradient skipping, freezing, surgery,
 * cloning, architecture text round trip, and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nn/graph.h"
#include "config/schema.h"
#include "host/registry.h"

static void fill(rp_tensor *t, uint64_t seed) {
    rp_rng r;
    rp_rng_init(&r, seed, 1, 2, 3);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)rp_rng_range(&r, -1, 1);
}

static double loss_of(rp_model *m, const rp_tensor *x, const rp_tensor *w) {
    rp_error err;
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    double s = 0;
    for (size_t i = 0; i < y->numel; i++) s += (double)y->data[i] * w->data[i];
    return s;
}

/* A small residual DAG: conv → relu → (conv → bn → add with the relu) →
 * concat with the relu → pool → flatten → linear. */
static rp_model *small_dag_c(int channels) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(channels, 6, 6, &m, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c1", "conv2d", NULL, 0, &err, "{out: 3, kernel: 3, padding: 1}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "r1", "tanh", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c2", "conv2d", NULL, 0, &err, "{out: 3, kernel: 3, padding: 1}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "bn", "batchnorm2d", NULL, NULL, 0, &err), &err);
    const char *addin[2] = {"bn", "r1"};
    RP_ASSERT_OK(rp_model_add(m, "sum", "add", NULL, addin, 2, &err), &err);
    const char *catin[2] = {"sum", "r1"};
    RP_ASSERT_OK(rp_model_add(m, "cat", "concat", NULL, catin, 2, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "pool", "avgpool2d", NULL, 0, &err, "{kernel: 2}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 4}"), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 3, &err), &err);
    return m;
}

static rp_model *small_dag(void) {
    return small_dag_c(2);
}

static void test_dag_gradients(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = small_dag();
    rp_tensor *x, *w;
    RP_ASSERT_OK(rp_tensor_new4(&x, 3, 2, 6, 6, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&w, 3, 4, &err), &err);
    fill(x, 1);
    fill(w, 2);
    loss_of(m, x, w);
    rp_model_zero_grad(m);
    RP_ASSERT_OK(rp_model_backward(m, w, &err), &err);
    const char *names[] = {"c1.weight", "c1.bias", "c2.weight", "bn.weight", "bn.bias", "fc.weight"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        rp_param *p = rp_model_find_param(m, names[k]);
        assert_non_null(p);
        rp_tensor *ana = rp_tensor_clone(p->grad);
        for (size_t i = 0; i < p->value->numel; i += 3) {
            float keep = p->value->data[i];
            p->value->data[i] = keep + 1e-3f;
            double fp = loss_of(m, x, w);
            p->value->data[i] = keep - 1e-3f;
            double fm = loss_of(m, x, w);
            p->value->data[i] = keep;
            double num = (fp - fm) / 2e-3;
            if (fabs(num - ana->data[i]) > 3e-3 + 2e-2 * fabs(num))
                fail_msg("%s[%zu]: analytic %g numeric %g", names[k], i, ana->data[i], num);
        }
        rp_tensor_free(ana);
    }
    rp_tensor_free(x);
    rp_tensor_free(w);
    rp_model_free(m);
}

/* Sums hand every input the same gradient buffer (RP_LAYER_SUM). Two DAGs
 * where a shared buffer must not change under a node that still reads it:
 * (a) y feeds sum s1 and conv c, and c's input gradient arrives while z
 * (s1's other input) still holds the buffer: y gets a copy; (b) a relu folded
 * into s1 masks a buffer that q (s2's other input, run later) still holds:
 * s1 masks into a copy. Folded (fusion on) against unfolded, bit for bit,
 * and (a), which has no relu kink, against central differences. */
static rp_model *shared_sum_dag(int variant, int fusion) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(2, 6, 6, &m, &err), &err);
    const char *c3 = "{out: 3, kernel: 3, padding: 1}";
    RP_ASSERT_OK(rp_model_addf(m, "a", "conv2d", NULL, 0, &err, c3), &err);
    const char *from_a[1] = {"a"};
    RP_ASSERT_OK(rp_model_addf(m, "y", "conv2d", from_a, 1, &err, c3), &err);
    RP_ASSERT_OK(rp_model_addf(m, "z", "conv2d", from_a, 1, &err, c3), &err);
    if (variant == 0) {
        const char *from_y[1] = {"y"}, *s1in[2] = {"y", "z"}, *s2in[2] = {"s1", "c"};
        RP_ASSERT_OK(rp_model_addf(m, "c", "conv2d", from_y, 1, &err, c3), &err);
        RP_ASSERT_OK(rp_model_add(m, "s1", "add", NULL, s1in, 2, &err), &err);
        RP_ASSERT_OK(rp_model_add(m, "s2", "add", NULL, s2in, 2, &err), &err);
    } else {
        const char *s1in[2] = {"y", "z"}, *s2in[2] = {"r", "q"};
        RP_ASSERT_OK(rp_model_addf(m, "q", "conv2d", from_a, 1, &err, c3), &err);
        RP_ASSERT_OK(rp_model_add(m, "s1", "add", NULL, s1in, 2, &err), &err);
        RP_ASSERT_OK(rp_model_add(m, "r", "relu", NULL, NULL, 0, &err), &err);
        RP_ASSERT_OK(rp_model_add(m, "s2", "add", NULL, s2in, 2, &err), &err);
    }
    RP_ASSERT_OK(rp_model_add(m, "t", "tanh", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 4}"), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 5, &err), &err);
    rp_model_set_fusion(m, fusion);
    return m;
}

static void test_sum_shared_gradients(void **state) {
    (void)state;
    rp_error err;
    const char *names[] = {"a.weight", "y.weight", "z.weight", "fc.weight", "c.weight", "q.weight"};
    for (int variant = 0; variant < 2; variant++) {
        rp_model *m[2] = {shared_sum_dag(variant, 1), shared_sum_dag(variant, 0)};
        rp_tensor *x, *w;
        RP_ASSERT_OK(rp_tensor_new4(&x, 3, 2, 6, 6, &err), &err);
        RP_ASSERT_OK(rp_tensor_new2(&w, 3, 4, &err), &err);
        fill(x, 7);
        fill(w, 8);
        for (int k = 0; k < 2; k++) {
            loss_of(m[k], x, w);
            rp_model_zero_grad(m[k]);
            RP_ASSERT_OK(rp_model_backward(m[k], w, &err), &err);
        }
        for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
            rp_param *p = rp_model_find_param(m[0], names[k]), *pu = rp_model_find_param(m[1], names[k]);
            if (!p) continue; /* (c in variant 0, q in variant 1) */
            assert_memory_equal(p->grad->data, pu->grad->data, p->grad->numel * sizeof(float));
            for (size_t i = 0; variant == 0 && i < p->value->numel; i += 2) {
                float keep = p->value->data[i];
                p->value->data[i] = keep + 1e-3f;
                double fp = loss_of(m[0], x, w);
                p->value->data[i] = keep - 1e-3f;
                double fm = loss_of(m[0], x, w);
                p->value->data[i] = keep;
                double num = (fp - fm) / 2e-3;
                if (fabs(num - p->grad->data[i]) > 3e-3 + 2e-2 * fabs(num))
                    fail_msg("variant %d %s[%zu]: analytic %g numeric %g", variant, names[k], i,
                             p->grad->data[i], num);
            }
        }
        rp_tensor_free(x), rp_tensor_free(w);
        rp_model_free(m[0]), rp_model_free(m[1]);
    }
}

static void test_mnist_cnn(void **state) {
    (void)state;
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_build("mnist_cnn", NULL, &m, &err), &err);
    /* 32*1*9+32 + 64*32*9+64 + 10*7744+10 */
    assert_int_equal(rp_model_count_weights(m, 0), 320 + 18496 + 77450);
    assert_int_equal(rp_model_num_classes(m), 10);
    assert_string_equal(rp_model_last_conv(m), "relu2");
    assert_non_null(rp_model_find_param(m, "conv1.weight"));
    assert_non_null(rp_model_find_param(m, "fc.bias"));
    rp_tensor *x, *d;
    RP_ASSERT_OK(rp_tensor_new4(&x, 4, 1, 28, 28, &err), &err);
    fill(x, 9);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 4);
    assert_int_equal(y->shape[1], 10);
    RP_ASSERT_OK(rp_tensor_new2(&d, 4, 10, &err), &err);
    fill(d, 3);
    rp_model_zero_grad(m);
    RP_ASSERT_OK(rp_model_retain_grad(m, "relu2", &err), &err);
    RP_ASSERT_OK(rp_model_backward(m, d, &err), &err);
    const rp_tensor *g = rp_model_node_grad(m, "relu2");
    assert_non_null(g);
    assert_int_equal(g->shape[1], 64);
    double s = 0;
    rp_param *p = rp_model_find_param(m, "conv1.weight");
    for (size_t i = 0; i < p->grad->numel; i++) s += fabs(p->grad->data[i]);
    assert_true(s > 0);
    /* the same shapes again: buffers reused */
    const float *before = rp_model_node_output(m, "conv1")->data;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_ptr_equal(before, rp_model_node_output(m, "conv1")->data);
    /* a wrong input shape is a clear error */
    rp_tensor *bad;
    RP_ASSERT_OK(rp_tensor_new4(&bad, 2, 3, 28, 28, &err), &err);
    assert_int_equal(rp_model_forward(m, bad, &y, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "expected [N, 1, 28, 28]"));
    rp_tensor_free(bad);
    rp_tensor_free(x);
    rp_tensor_free(d);
    rp_model_free(m);
}

static void test_freeze_skips_gradients(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = small_dag();
    size_t n = 0;
    RP_ASSERT_OK(rp_model_freeze(m, "c1", &n, &err), &err);
    assert_int_equal(n, 2);
    RP_ASSERT_OK(rp_model_freeze(m, "c2.*", &n, &err), &err);
    assert_int_equal(n, 2);
    RP_ASSERT_OK(rp_model_freeze(m, "bn.weight", &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(rp_model_freeze(m, "layer9", &n, &err), RP_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "layer9"));
    assert_false(rp_model_find_param(m, "c1.weight")->trainable);
    assert_true(rp_model_find_param(m, "bn.bias")->trainable);
    assert_int_equal(rp_model_count_weights(m, 1), rp_model_count_weights(m, 0) - (2 * 3 * 9 + 3) - (3 * 3 * 9 + 3) - 3);
    rp_tensor *x, *w;
    RP_ASSERT_OK(rp_tensor_new4(&x, 2, 2, 6, 6, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&w, 2, 4, &err), &err);
    fill(x, 1);
    fill(w, 2);
    RP_ASSERT_OK(rp_model_retain_grad(m, "bn", &err), &err);
    loss_of(m, x, w);
    rp_model_zero_grad(m);
    RP_ASSERT_OK(rp_model_backward(m, w, &err), &err);
    /* gradients of nodes not retained are handed back to the pool */
    assert_null(rp_model_node_grad(m, "sum"));
    rp_param *p = rp_model_find_param(m, "c1.weight");
    for (size_t i = 0; i < p->grad->numel; i++) assert_true(p->grad->data[i] == 0.0f);
    /* a retained node inside the frozen prefix still gets its gradient */
    RP_ASSERT_OK(rp_model_retain_grad(m, "r1", &err), &err);
    loss_of(m, x, w);
    RP_ASSERT_OK(rp_model_backward(m, w, &err), &err);
    assert_non_null(rp_model_node_grad(m, "r1"));
    assert_null(rp_model_node_grad(m, "c1"));
    assert_non_null(rp_model_node_grad(m, "bn"));
    rp_tensor_free(x);
    rp_tensor_free(w);
    rp_model_free(m);
}

static void test_clone_arch_roundtrip(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = small_dag(), *c;
    rp_model_find_param(m, "fc.weight")->trainable = 0;
    RP_ASSERT_OK(rp_model_clone(m, &c, &err), &err);
    assert_int_equal(rp_model_num_params(c), rp_model_num_params(m));
    assert_false(rp_model_find_param(c, "fc.weight")->trainable);
    rp_tensor *x, *w;
    RP_ASSERT_OK(rp_tensor_new4(&x, 2, 2, 6, 6, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&w, 2, 4, &err), &err);
    fill(x, 1);
    fill(w, 2);
    double a = loss_of(m, x, w), b = loss_of(c, x, w);
    assert_true(a == b);
    /* the text describes the model well enough to rebuild it */
    const char *yaml = rp_model_arch_yaml(m);
    assert_non_null(yaml);
    assert_non_null(strstr(yaml, "concat"));
    rp_node *t;
    RP_ASSERT_OK(rp_node_parse_string(yaml, "<arch>", &t, &err), &err);
    rp_model *r;
    extern int rp_model_from_arch(const rp_node *arch, rp_model **out, rp_error *err);
    RP_ASSERT_OK(rp_model_from_arch(t, &r, &err), &err);
    assert_int_equal(rp_model_count_weights(r, 0), rp_model_count_weights(m, 0));
    rp_node_free(t);
    rp_model_free(r);
    rp_tensor_free(x);
    rp_tensor_free(w);
    rp_model_free(c);
    rp_model_free(m);
}

static void test_surgery(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = small_dag_c(3);
    float c1 = rp_model_find_param(m, "c1.weight")->value->data[5];
    RP_ASSERT_OK(rp_model_replace_head(m, 7, 0.3, 11, &err), &err);
    assert_int_equal(rp_model_num_classes(m), 7);
    assert_true(rp_model_find_param(m, "c1.weight")->value->data[5] == c1);
    /* nn.Sequential(nn.Dropout(0.3), nn.Linear(..., 7)) names */
    assert_null(rp_model_find_param(m, "fc.weight"));
    assert_int_equal(rp_model_find_param(m, "fc.1.weight")->value->shape[0], 7);
    assert_non_null(rp_model_find_param(m, "fc.1.bias"));
    assert_non_null(strstr(rp_model_arch_yaml(m), "fc.0"));
    rp_model_free(m);
}

/* rp_model_prepend: another model's layers in front, with their weights and
 * the model's own weights kept; a front whose output is not the model's
 * input shape, or that reuses a layer name, is refused and nothing changes. */
static void test_prepend(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = small_dag_c(3);
    float c1 = rp_model_find_param(m, "c1.weight")->value->data[5];
    rp_model *f;
    RP_ASSERT_OK(rp_model_new(1, 6, 6, &f, &err), &err);
    const char *f0 = "front.0";
    RP_ASSERT_OK(
        rp_model_addf(f, "front.0", "conv2d", NULL, 0, &err, "{out: 2, kernel: 3, padding: 1}"),
        &err);
    RP_ASSERT_OK(rp_model_addf(f, "front.1", "conv2d", &f0, 1, &err, "{out: 3, kernel: 1}"), &err);
    RP_ASSERT_OK(rp_model_init_params(f, 5, &err), &err);
    rp_param *fw = rp_model_find_param(f, "front.1.weight");
    fw->trainable = 0;
    float f1 = fw->value->data[2];
    RP_ASSERT_OK(rp_model_prepend(m, f, &err), &err);
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(rp_model_num_nodes(m), 11);
    assert_string_equal(rp_model_node_name(m, 0), "front.0");
    assert_int_equal(rp_model_find_param(m, "front.0.weight")->value->shape[1], 1);
    assert_true(rp_model_find_param(m, "front.1.weight")->value->data[2] == f1);
    assert_false(rp_model_find_param(m, "front.1.weight")->trainable);
    assert_true(rp_model_find_param(m, "c1.weight")->value->data[5] == c1);
    assert_int_equal(rp_model_num_classes(m), 4);
    /* c1 now reads front.1 (the old model input) */
    const char *arch = rp_model_arch_yaml(m);
    assert_non_null(arch);
    assert_non_null(strstr(arch, "front.1"));
    rp_tensor *x;
    RP_ASSERT_OK(rp_tensor_new4(&x, 2, 1, 6, 6, &err), &err);
    fill(x, 3);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 4);
    /* front's weights copied: changing f afterwards changes nothing in m */
    fw->value->data[2] += 1.0f;
    assert_true(rp_model_find_param(m, "front.1.weight")->value->data[2] == f1);
    rp_tensor_free(x);
    /* a layer name in both models */
    rp_model *two = small_dag_c(3);
    rp_model *dup;
    RP_ASSERT_OK(rp_model_new(3, 6, 6, &dup, &err), &err);
    RP_ASSERT_OK(rp_model_add(dup, "c1", "identity", NULL, NULL, 0, &err), &err);
    rp_error_clear(&err);
    assert_int_equal(rp_model_prepend(two, dup, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "prepend: both models have a layer named 'c1'");
    rp_model_input_shape(two, &c, &h, &w);
    assert_int_equal(c, 3);
    assert_int_equal(rp_model_num_nodes(two), 9);
    rp_model_free(dup);
    rp_model_free(two);
    /* a model that takes 2 channels does not fit behind a 3-channel front */
    rp_model *m2 = small_dag();
    rp_error_clear(&err);
    assert_int_equal(rp_model_prepend(m2, f, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "prepend: the front model gives [3, 6, 6] per sample, the model "
                                 "takes [2, 6, 6]");
    rp_model *empty;
    RP_ASSERT_OK(rp_model_new(1, 6, 6, &empty, &err), &err);
    rp_error_clear(&err);
    assert_int_equal(rp_model_prepend(m2, empty, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "prepend: the front model has no layers");
    rp_model_input_shape(m2, &c, &h, &w);
    assert_int_equal(c, 2);
    rp_model_free(empty);
    rp_model_free(m2);
    rp_model_free(f);
    rp_model_free(m);
}

static void test_from_layers_and_errors(void **state) {
    (void)state;
    rp_error err;
    rp_node *t;
    RP_ASSERT_OK(rp_node_parse_string("- {conv2d: {out: 4, kernel: 3}, name: c1}\n"
                                      "- relu\n"
                                      "- {conv2d: {out: 4, kernel: 3, padding: 1}, name: c2}\n"
                                      "- {add: null, in: [c2, relu_1], name: res}\n"
                                      "- global_avgpool\n"
                                      "- {linear: {out: 3}}\n",
                                      "<layers>", &t, &err),
                 &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_from_layers(t, 3, 8, 8, &m, &err), &err);
    assert_int_equal(rp_model_num_classes(m), 3);
    rp_node_free(t);
    /* errors */
    assert_int_equal(rp_model_addf(m, "c1", "relu", NULL, 0, &err, "{}"), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "used twice"));
    const char *missing = "nope";
    assert_int_equal(rp_model_add(m, "x1", "relu", NULL, &missing, 1, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_int_not_equal(rp_model_addf(m, "x2", "conv2dd", NULL, 0, &err, "{out: 2, kernel: 1}"), RP_OK);
    assert_non_null(strstr(err.msg, "conv2d"));
    const char *c1 = "c1";
    assert_int_not_equal(rp_model_addf(m, "x3", "linear", &c1, 1, &err, "{out: 2}"), RP_OK);
    assert_non_null(strstr(err.msg, "flatten"));
    assert_int_not_equal(rp_model_addf(m, "x4", "conv2d", &c1, 1, &err, "{out: 2, kernel: 9}"), RP_OK);
    assert_non_null(strstr(err.msg, "x4"));
    assert_int_not_equal(rp_model_addf(m, "x5", "conv2d", &c1, 1, &err, "{out: 2, kernel: 3, strid: 2}"), RP_OK);
    rp_model_free(m);
}

/* Same results with the frozen prefix's outputs recycled through the
 * activation pool (residual fan-out included), training and eval, over
 * several steps, and fewer activation bytes held. */
static void check_same(rp_model *a, rp_model *b, const rp_tensor *x, const rp_tensor *w, int train) {
    rp_error err;
    const rp_tensor *ya, *yb;
    rp_model_set_training(a, train);
    rp_model_set_training(b, train);
    RP_ASSERT_OK(rp_model_forward(a, x, &ya, &err), &err);
    RP_ASSERT_OK(rp_model_forward(b, x, &yb, &err), &err);
    assert_int_equal(ya->numel, yb->numel);
    assert_memory_equal(ya->data, yb->data, ya->numel * sizeof(float));
    rp_model_zero_grad(a);
    rp_model_zero_grad(b);
    RP_ASSERT_OK(rp_model_backward(a, w, &err), &err);
    RP_ASSERT_OK(rp_model_backward(b, w, &err), &err);
    const char *names[] = {"fc.weight", "fc.bias"};
    for (int i = 0; i < 2; i++) {
        const rp_tensor *ga = rp_model_find_param(a, names[i])->grad, *gb = rp_model_find_param(b, names[i])->grad;
        assert_memory_equal(ga->data, gb->data, ga->numel * sizeof(float));
    }
}

static void test_frozen_prefix_released(void **state) {
    (void)state;
    rp_error err;
    rp_model *full = small_dag(), *frozen = small_dag();
    const char *pats[] = {"c1", "c2", "bn"};
    for (int i = 0; i < 3; i++) RP_ASSERT_OK(rp_model_freeze(frozen, pats[i], NULL, &err), &err);
    rp_tensor *x, *w;
    RP_ASSERT_OK(rp_tensor_new4(&x, 5, 2, 6, 6, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&w, 5, 4, &err), &err);
    for (int step = 0; step < 3; step++) {
        fill(x, 10 + (uint64_t)step);
        fill(w, 20 + (uint64_t)step);
        check_same(full, frozen, x, w, step != 1);
    }
    /* the prefix's outputs are gone; the trainable layer's input stays */
    assert_non_null(rp_model_node_output(full, "r1"));
    assert_null(rp_model_node_output(frozen, "r1"));
    assert_null(rp_model_node_output(frozen, "sum"));
    assert_non_null(rp_model_node_output(frozen, "flat"));
    assert_non_null(rp_model_node_output(frozen, "fc"));
    size_t bf = rp_model_activation_bytes(full), bz = rp_model_activation_bytes(frozen);
    /* frozen: the pool peaks while cat runs (r1 and sum 3x6x6 each still
     * read, cat 6x6x6 written), plus the kept flat (6x3x3) and fc (4) */
    assert_true(bz < bf);
    assert_true(bz <= (size_t)5 * (12 * 36 + 6 * 9 + 4) * sizeof(float));
    /* a retained node of the prefix stays readable */
    RP_ASSERT_OK(rp_model_retain_grad(frozen, "r1", &err), &err);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(frozen, x, &y, &err), &err);
    const rp_tensor *r1a = rp_model_node_output(full, "r1"), *r1b = rp_model_node_output(frozen, "r1");
    assert_non_null(r1b);
    assert_memory_equal(r1a->data, r1b->data, r1a->numel * sizeof(float));
    check_same(full, frozen, x, w, 1);
    rp_tensor_free(x);
    rp_tensor_free(w);
    rp_model_free(full);
    rp_model_free(frozen);
}

/* Eval forward keeps only what consumers still need; a backward after it
 * re-runs the forward keeping activations, with bit-identical results. */
static void test_eval_forward_lean(void **state) {
    (void)state;
    rp_error err;
    rp_model *lean = small_dag(), *kept = small_dag();
    const char *all[] = {"c1", "r1", "c2", "bn", "sum", "cat", "pool", "flat", "fc"};
    for (int i = 0; i < 9; i++) RP_ASSERT_OK(rp_model_retain_grad(kept, all[i], &err), &err);
    rp_model_set_training(lean, 0);
    rp_model_set_training(kept, 0);
    rp_tensor *x, *w;
    RP_ASSERT_OK(rp_tensor_new4(&x, 4, 2, 6, 6, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&w, 4, 4, &err), &err);
    fill(x, 31);
    fill(w, 32);
    const rp_tensor *ya, *yb;
    RP_ASSERT_OK(rp_model_forward(lean, x, &ya, &err), &err);
    RP_ASSERT_OK(rp_model_forward(kept, x, &yb, &err), &err);
    assert_memory_equal(ya->data, yb->data, ya->numel * sizeof(float));
    assert_null(rp_model_node_output(lean, "r1"));
    assert_null(rp_model_node_output(lean, "flat"));
    assert_non_null(rp_model_node_output(lean, "fc"));
    assert_true(rp_model_activation_bytes(lean) < rp_model_activation_bytes(kept));
    rp_model_zero_grad(lean);
    rp_model_zero_grad(kept);
    RP_ASSERT_OK(rp_model_backward(lean, w, &err), &err);
    RP_ASSERT_OK(rp_model_backward(kept, w, &err), &err);
    assert_memory_equal(ya->data, yb->data, ya->numel * sizeof(float));
    const char *names[] = {"c1.weight", "c2.weight", "bn.weight", "fc.weight"};
    for (int i = 0; i < 4; i++) {
        const rp_tensor *ga = rp_model_find_param(lean, names[i])->grad, *gb = rp_model_find_param(kept, names[i])->grad;
        assert_memory_equal(ga->data, gb->data, ga->numel * sizeof(float));
    }
    rp_tensor_free(x);
    rp_tensor_free(w);
    rp_model_free(lean);
    rp_model_free(kept);
}

/* rp_model_slice: prefix and suffix slices compose to the whole model, at a
 * 4-D cut and at a 2-D cut (before the dense layer, through slice.flatten);
 * a cut inside a residual block is refused naming both tensors. */
static void run_eval(rp_model *m, const rp_tensor *x, rp_tensor **copy) {
    rp_error err;
    const rp_tensor *y;
    rp_model_set_training(m, 0);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(copy, y->ndim, y->shape, &err), &err);
    memcpy((*copy)->data, y->data, y->numel * sizeof(float));
}

static void test_slice(void **state) {
    (void)state;
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_build("mnist_cnn", NULL, &m, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 7, &err), &err);
    rp_tensor *x;
    RP_ASSERT_OK(rp_tensor_new4(&x, 3, 1, 28, 28, &err), &err);
    fill(x, 11);
    rp_tensor *full;
    run_eval(m, x, &full);
    size_t n = rp_model_num_nodes(m);
    assert_int_equal(rp_model_output_node(m), (int)n - 1);
    for (size_t cut = 1; cut < n; cut++) {
        rp_model *pre, *suf;
        RP_ASSERT_OK(rp_model_slice(m, 0, cut - 1, &pre, &err), &err);
        RP_ASSERT_OK(rp_model_slice(m, cut, n - 1, &suf, &err), &err);
        rp_tensor *a, *b;
        run_eval(pre, x, &a);
        int c, h, w;
        rp_model_input_shape(suf, &c, &h, &w);
        assert_int_equal((size_t)3 * c * h * w, a->numel);
        int64_t sh[4] = {3, c, h, w};
        rp_tensor av = rp_tensor_view(a, 4, sh);
        run_eval(suf, &av, &b);
        rp_test_close(b->data, full->data, full->numel, 1e-5, 1e-5, rp_model_node_name(m, cut));
        if (strcmp(rp_model_node_name(m, cut), "fc") == 0) {
            assert_string_equal(rp_model_node_name(suf, 0), "slice.flatten");
            assert_int_equal(c, 7744);
        }
        rp_tensor_free(a);
        rp_tensor_free(b);
        rp_model_free(pre);
        rp_model_free(suf);
    }
    rp_model *bad;
    assert_int_not_equal(rp_model_slice(m, 3, 2, &bad, &err), RP_OK);
    assert_null(bad);
    rp_tensor_free(full);
    rp_tensor_free(x);
    rp_model_free(m);
    /* small_dag: c1 r1 c2 bn sum(bn, r1) ...: a cut before c2 leaves r1 read twice
     * (fine: one tensor); a cut before bn reads c2 and r1 */
    m = small_dag();
    RP_ASSERT_OK(rp_model_slice(m, 2, rp_model_num_nodes(m) - 1, &bad, &err), &err);
    rp_model_free(bad);
    assert_int_equal(rp_model_slice(m, 3, rp_model_num_nodes(m) - 1, &bad, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "cannot cut the model before 'bn': the layers from there on read both 'c2' and 'r1'");
    rp_model_free(m);
}

/* freeze_bn: a batch norm whose weight and bias are frozen keeps its running
 * statistics and normalises with them in training passes (PyTorch users'
 * bn.eval() after model.train()); without freeze_bn, or when its weights
 * train, it updates them as plain model.train() does. */
static void test_freeze_bn(void **state) {
    (void)state;
    rp_error err;
    rp_tensor *x, *w;
    RP_ASSERT_OK(rp_tensor_new4(&x, 3, 2, 6, 6, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&w, 3, 4, &err), &err);
    fill(x, 1);
    fill(w, 2);
    for (int mode = 0; mode < 4; mode++) {
        /* 0: freeze_bn + frozen bn, 1: its clone, 2: freeze_bn + trainable bn, 3: no freeze_bn */
        rp_model *m = small_dag(), *run = m;
        rp_param *rv = rp_model_find_param(m, "bn.running_var");
        for (size_t i = 0; i < rv->value->numel; i++) rv->value->data[i] = 0.5f + 0.25f * (float)i;
        size_t count = 0;
        const char *pats[3] = {"c1", "c2", "bn"};
        for (int k = 0; k < (mode == 2 ? 2 : 3); k++) RP_ASSERT_OK(rp_model_freeze(m, pats[k], &count, &err), &err);
        rp_model_set_freeze_bn(m, mode != 3);
        if (mode == 1) RP_ASSERT_OK(rp_model_clone(m, &run, &err), &err);
        rv = rp_model_find_param(run, "bn.running_var");
        float before[3];
        memcpy(before, rv->value->data, sizeof before);
        rp_model_set_training(run, 0);
        const rp_tensor *y;
        RP_ASSERT_OK(rp_model_forward(run, x, &y, &err), &err);
        float eval_y[12];
        memcpy(eval_y, y->data, sizeof eval_y);
        rp_model_set_training(run, 1);
        RP_ASSERT_OK(rp_model_forward(run, x, &y, &err), &err);
        int kept = memcmp(before, rv->value->data, sizeof before) == 0;
        float tracked = rp_model_find_param(run, "bn.num_batches_tracked")->value->data[0];
        if (mode <= 1) {
            assert_true(kept);
            assert_true(tracked == 0.0f);
            rp_test_close(y->data, eval_y, 12, 1e-5, 1e-6, "training forward with frozen bn in eval mode");
            rp_model_zero_grad(run);
            RP_ASSERT_OK(rp_model_backward(run, w, &err), &err);
            assert_true(rp_model_find_param(run, "fc.weight")->grad->data[0] != 0.0f);
        } else {
            assert_false(kept);
            assert_true(tracked == 1.0f);
        }
        if (run != m) rp_model_free(run);
        rp_model_free(m);
    }
    rp_tensor_free(x);
    rp_tensor_free(w);
}

int main(void) {
    rp_set_threads(2);
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dag_gradients),
        cmocka_unit_test(test_sum_shared_gradients),
        cmocka_unit_test(test_mnist_cnn),
        cmocka_unit_test(test_freeze_skips_gradients),
        cmocka_unit_test(test_clone_arch_roundtrip),
        cmocka_unit_test(test_surgery),
        cmocka_unit_test(test_prepend),
        cmocka_unit_test(test_from_layers_and_errors),
        cmocka_unit_test(test_frozen_prefix_released),
        cmocka_unit_test(test_eval_forward_lean),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_freeze_bn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
