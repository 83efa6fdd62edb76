/* Eval-mode fusion in the model graph (engine/nn/graph.c): conv2d -> batchnorm2d
 * [-> add(shortcut)] [-> relu] and add [-> batchnorm2d] -> relu computed in
 * one pass of the first layer (rp_layer_ops.forward_ep) in eval forwards. Every check
 * compares a model against its clone with fusion off
 * (rp_model_set_fusion(m, 0)): eval outputs equal to 1e-5 relative on
 * ResNet-20 (options A and B) and ResNet-18 with random batch-norm running
 * statistics and affine parameters; retained nodes keep their unfused
 * values; training forwards and backward after an eval forward are
 * bit-identical; the activation pool holds the same bytes; RP_NO_FUSE=1
 * turns fusion off. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "harness.h"
#include "nn/layer.h"
#include "config/schema.h"
#include "host/registry.h"

static rp_model *build(const char *arch, const char *opts) {
    rp_error err;
    rp_node *o = NULL;
    if (opts) RP_ASSERT_OK(rp_node_parse_string(opts, "<opts>", &o, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_build(arch, o, &m, &err), &err);
    rp_node_free(o);
    return m;
}

static rp_model *clone_unfused(const rp_model *m) {
    rp_error err;
    rp_model *c;
    RP_ASSERT_OK(rp_model_clone(m, &c, &err), &err);
    rp_model_set_fusion(c, 0);
    return c;
}

static void fill_uniform(rp_tensor *t, rp_rng *r, double lo, double hi) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)rp_rng_range(r, lo, hi);
}

/* Non-trivial batch norms: gamma, beta, running mean and variance random, so
 * a wrong scale or shift (or one left out) shows in the output. */
static void randomize_bn(rp_model *m, uint64_t seed) {
    rp_rng r;
    rp_rng_init(&r, seed, 1, 2, 3);
    for (size_t i = 0; i < rp_model_num_nodes(m); i++) {
        if (strcmp(rp_model_node_type(m, i), "batchnorm2d") != 0) continue;
        rp_layer *l = rp_model_node_layer(m, i);
        fill_uniform(rp_layer_param(l, "weight")->value, &r, 0.5, 1.5);
        fill_uniform(rp_layer_param(l, "bias")->value, &r, -0.5, 0.5);
        fill_uniform(rp_layer_param(l, "running_mean")->value, &r, -0.3, 0.3);
        fill_uniform(rp_layer_param(l, "running_var")->value, &r, 0.5, 2.0);
    }
}

static rp_tensor *input(int64_t n, int64_t c, int64_t hw, uint64_t seed) {
    rp_error err;
    rp_tensor *x;
    RP_ASSERT_OK(rp_tensor_new4(&x, n, c, hw, hw, &err), &err);
    rp_rng r;
    rp_rng_init(&r, seed, 7, 8, 9);
    fill_uniform(x, &r, -1.0, 1.0);
    return x;
}

static double max_abs(const rp_tensor *t) {
    double a = 0;
    for (size_t i = 0; i < t->numel; i++) a = fmax(a, fabs(t->data[i]));
    return a;
}

/* Eval forward of a and its unfused clone b: same output to 1e-5 relative
 * (atol 1e-5 of the output's scale, for entries near zero). Returns the
 * number of chains a fused. */
static int eval_same(rp_model *a, rp_model *b, const rp_tensor *x, const char *what) {
    rp_error err;
    const rp_tensor *ya, *yb;
    rp_model_set_training(a, 0);
    rp_model_set_training(b, 0);
    RP_ASSERT_OK(rp_model_forward(a, x, &ya, &err), &err);
    int fused = rp_model_fused_chains(a);
    RP_ASSERT_OK(rp_model_forward(b, x, &yb, &err), &err);
    assert_int_equal(rp_model_fused_chains(b), 0);
    assert_int_equal(ya->numel, yb->numel);
    rp_test_close(ya->data, yb->data, ya->numel, 1e-5, 1e-5 * max_abs(yb), what);
    return fused;
}

/* Chains fused, twice in a row (the second forward reuses the pool):
 * ResNet-20 option A: 19 conv+bn (10 with relu; 7 blocks' conv2+bn2 with
 * their add+relu), the 2 blocks with a shortcut_pad after bn2 add+relu on
 * their own; option B: 21 conv+bn, every block's add+relu folded into its
 * conv2 (identity) or its projection conv (which follows bn2);
 * ResNet-18 at 64x64: 20 conv+bn, all 8 add+relu folded likewise. */
static void check_arch(const char *arch, const char *opts, int64_t n, int64_t hw, int chains) {
    rp_model *m = build(arch, opts);
    randomize_bn(m, 11);
    rp_model *u = clone_unfused(m);
    for (int rep = 0; rep < 2; rep++) {
        rp_tensor *x = input(n, 3, hw, 5 + (uint64_t)rep);
        assert_int_equal(eval_same(m, u, x, arch), chains);
        rp_tensor_free(x);
    }
    rp_model_free(m);
    rp_model_free(u);
}

static void test_resnet20_a(void **state) {
    (void)state;
    check_arch("resnet20", "{classes: 10, shortcut: A}", 4, 32, 19 + 2);
}

static void test_resnet20_b(void **state) {
    (void)state;
    check_arch("resnet20", "{classes: 10, shortcut: B}", 4, 32, 21);
}

static void test_resnet18_small(void **state) {
    (void)state;
    check_arch("resnet18", "{classes: 10, size: 64}", 2, 64, 20);
}

/* Retained nodes inside chains (Grad-CAM) are not folded away: their
 * outputs are the unfused values, the chains around them are cut there. */
static void test_retained_nodes(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = build("resnet20", "{classes: 10}");
    randomize_bn(m, 12);
    const char *keep[] = {"layer1.0.conv1", "layer2.1.bn2", "layer3.2.add", "layer3.2.relu2"};
    for (int i = 0; i < 4; i++) RP_ASSERT_OK(rp_model_retain_grad(m, keep[i], &err), &err);
    rp_model *u = clone_unfused(m); /* the clone retains the same nodes */
    rp_tensor *x = input(3, 3, 32, 21);
    /* conv1 retained: its bn1 -> relu1 is not folded (no forward_ep): -1;
     * layer2.1.bn2 retained: conv2+bn2 still fused (bn2 ends the chain),
     * its add -> relu a chain of its own: +1; layer3.2.add retained:
     * conv2+bn2+add fused, relu2 on its own */
    assert_int_equal(eval_same(m, u, x, "retained"), 21 - 1 + 1);
    for (int i = 0; i < 4; i++) {
        const rp_tensor *a = rp_model_node_output(m, keep[i]), *b = rp_model_node_output(u, keep[i]);
        assert_non_null(a);
        assert_non_null(b);
        rp_test_close(a->data, b->data, a->numel, 1e-5, 1e-5 * max_abs(b), keep[i]);
    }
    /* a folded-away chain head has no output of its own */
    assert_null(rp_model_node_output(m, "layer2.0.conv1"));
    rp_tensor_free(x);
    rp_model_free(m);
    rp_model_free(u);
}

/* Training forwards fold only relus into batch norms and adds (19 in
 * ResNet-20: the stem's and two per block): outputs and the updated running
 * statistics are bit-identical to the model with fusion off. */
static void test_train_unaffected(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = build("resnet20", "{classes: 10, shortcut: B}");
    randomize_bn(m, 13);
    rp_model *u = clone_unfused(m);
    rp_tensor *x = input(4, 3, 32, 22);
    for (int step = 0; step < 3; step++) {
        int train = step != 1;
        rp_model_set_training(m, train);
        rp_model_set_training(u, train);
        const rp_tensor *ya, *yb;
        RP_ASSERT_OK(rp_model_forward(m, x, &ya, &err), &err);
        assert_int_equal(rp_model_fused_chains(m), train ? 19 : 21);
        RP_ASSERT_OK(rp_model_forward(u, x, &yb, &err), &err);
        if (train) assert_memory_equal(ya->data, yb->data, ya->numel * sizeof(float));
        else rp_test_close(ya->data, yb->data, ya->numel, 1e-5, 1e-5 * max_abs(yb), "eval");
    }
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(m, i), *q = rp_model_param(u, i);
        assert_string_equal(p->name, q->name);
        if (memcmp(p->value->data, q->value->data, p->value->numel * sizeof(float)))
            fail_msg("%s differs after training forwards", p->name);
    }
    rp_tensor_free(x);
    rp_model_free(m);
    rp_model_free(u);
}

/* Training steps with relus folded into their producers (forward and
 * backward) against the unfused clone, bit for bit: outputs, every parameter
 * gradient, updated running statistics, and a retained relu's gradient
 * (that relu is not folded: 18 of 19). ResNet-20 with both shortcut options
 * and ResNet-18; a model whose first batch norm is frozen (eval statistics in
 * training, freeze_bn) folds its relu too; the MNIST CNN folds its first
 * relu into the max pooling after it. */
static void train_steps_same_c(rp_model *m, rp_model *u, int64_t n, int64_t ch, int64_t hw,
                               int64_t classes, int folds, const char *what) {
    rp_error err;
    rp_tensor *dy;
    RP_ASSERT_OK(rp_tensor_new2(&dy, n, classes, &err), &err);
    rp_rng r;
    rp_rng_init(&r, 6, 6, 6, 6);
    fill_uniform(dy, &r, -1, 1);
    rp_model_set_training(m, 1);
    rp_model_set_training(u, 1);
    for (int step = 0; step < 2; step++) {
        rp_tensor *x = input(n, ch, hw, 40 + (uint64_t)step);
        const rp_tensor *ya, *yb;
        rp_model_zero_grad(m);
        rp_model_zero_grad(u);
        RP_ASSERT_OK(rp_model_forward(m, x, &ya, &err), &err);
        assert_int_equal(rp_model_fused_chains(m), folds);
        RP_ASSERT_OK(rp_model_forward(u, x, &yb, &err), &err);
        assert_int_equal(rp_model_fused_chains(u), 0);
        if (memcmp(ya->data, yb->data, ya->numel * sizeof(float)))
            fail_msg("%s: training output differs with relus folded", what);
        RP_ASSERT_OK(rp_model_backward(m, dy, &err), &err);
        RP_ASSERT_OK(rp_model_backward(u, dy, &err), &err);
        for (size_t i = 0; i < rp_model_num_params(m); i++) {
            const rp_param *p = rp_model_param(m, i), *q = rp_model_param(u, i);
            if (memcmp(p->value->data, q->value->data, p->value->numel * sizeof(float)))
                fail_msg("%s: %s differs with relus folded", what, p->name);
            if (p->grad && memcmp(p->grad->data, q->grad->data, p->grad->numel * sizeof(float)))
                fail_msg("%s: gradient of %s differs with relus folded", what, p->name);
        }
        rp_tensor_free(x);
    }
    rp_tensor_free(dy);
}

static void train_steps_same(rp_model *m, rp_model *u, int64_t n, int64_t hw, int64_t classes,
                             int folds, const char *what) {
    train_steps_same_c(m, u, n, 3, hw, classes, folds, what);
}

static void test_train_relu_folding(void **state) {
    (void)state;
    rp_error err;
    static const struct {
        const char *arch, *opts;
        int64_t n, hw;
        int folds;
    } cases[] = {
        {"resnet20", "{classes: 10}", 4, 32, 19},
        {"resnet20", "{classes: 10, shortcut: B}", 4, 32, 19},
        {"resnet18", "{classes: 10, size: 64}", 2, 64, 17},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rp_model *m = build(cases[i].arch, cases[i].opts);
        randomize_bn(m, 16);
        rp_model *u = clone_unfused(m);
        train_steps_same(m, u, cases[i].n, cases[i].hw, 10, cases[i].folds, cases[i].arch);
        rp_model_free(m);
        rp_model_free(u);
    }
    /* a retained relu keeps its own backward and its gradient */
    rp_model *m = build("resnet20", "{classes: 10}");
    randomize_bn(m, 17);
    RP_ASSERT_OK(rp_model_retain_grad(m, "layer2.1.relu1", &err), &err);
    rp_model *u = clone_unfused(m);
    train_steps_same(m, u, 3, 32, 10, 18, "retained relu");
    const rp_tensor *ga = rp_model_node_grad(m, "layer2.1.relu1"), *gb = rp_model_node_grad(u, "layer2.1.relu1");
    assert_non_null(ga);
    assert_memory_equal(ga->data, gb->data, ga->numel * sizeof(float));
    rp_model_free(m);
    rp_model_free(u);
    /* frozen batch norms (eval statistics inside a training step) */
    m = build("resnet20", "{classes: 10}");
    randomize_bn(m, 18);
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        rp_param *p = rp_model_param(m, i);
        if (strstr(p->name, "bn")) p->trainable = 0;
    }
    rp_model_set_freeze_bn(m, 1);
    u = clone_unfused(m);
    rp_model_set_freeze_bn(u, 1);
    train_steps_same(m, u, 3, 32, 10, 19, "frozen batch norms");
    rp_model_free(m);
    rp_model_free(u);
    /* the MNIST CNN: relu1 folded into pool1 (read through relu), relu2
     * (before flatten) not folded; the folded relu's output never exists */
    m = build("mnist_cnn", "{classes: 10}");
    u = clone_unfused(m);
    train_steps_same_c(m, u, 5, 1, 28, 10, 1, "mnist_cnn");
    assert_null(rp_model_node_output(m, "relu1"));
    assert_non_null(rp_model_node_output(u, "relu1"));
    assert_non_null(rp_model_node_output(m, "relu2"));
    rp_model_free(m);
    rp_model_free(u);
}

/* A backward after a fused eval forward re-runs the forward unfused: the
 * gradients (parameters and a retained node's) are bit-identical. */
static void test_eval_backward(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = build("resnet20", "{classes: 10}");
    randomize_bn(m, 14);
    RP_ASSERT_OK(rp_model_retain_grad(m, "layer3.2.relu2", &err), &err);
    rp_model *u = clone_unfused(m);
    rp_tensor *x = input(3, 3, 32, 23), *dy;
    RP_ASSERT_OK(rp_tensor_new2(&dy, 3, 10, &err), &err);
    rp_rng r;
    rp_rng_init(&r, 4, 4, 4, 4);
    fill_uniform(dy, &r, -1, 1);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(eval_same(m, u, x, "eval"), 21);
        rp_model_zero_grad(m);
        rp_model_zero_grad(u);
        RP_ASSERT_OK(rp_model_backward(m, dy, &err), &err);
        RP_ASSERT_OK(rp_model_backward(u, dy, &err), &err);
        for (size_t i = 0; i < rp_model_num_params(m); i++) {
            const rp_param *p = rp_model_param(m, i), *q = rp_model_param(u, i);
            if (!p->grad) continue;
            if (memcmp(p->grad->data, q->grad->data, p->grad->numel * sizeof(float)))
                fail_msg("gradient of %s differs after a fused eval forward", p->name);
        }
        const rp_tensor *ga = rp_model_node_grad(m, "layer3.2.relu2"), *gb = rp_model_node_grad(u, "layer3.2.relu2");
        assert_non_null(ga);
        assert_memory_equal(ga->data, gb->data, ga->numel * sizeof(float));
        /* after the re-run every node output is its own again */
        const rp_tensor *a = rp_model_node_output(m, "layer3.2.relu2"), *b = rp_model_node_output(u, "layer3.2.relu2");
        assert_memory_equal(a->data, b->data, a->numel * sizeof(float));
    }
    rp_tensor_free(x);
    rp_tensor_free(dy);
    rp_model_free(m);
    rp_model_free(u);
}

/* Chains the graph must and must not fuse, by capability, on small layer
 * lists: conv with bias (added before the scale), add -> batchnorm -> relu,
 * a 3-input add -> relu, conv -> bn -> add -> relu with the shortcut first
 * or second, a shortcut computed after the bn (add not folded), a model
 * ending in batchnorm or in the folded add, a relu that is the output (not
 * in place unfused: not folded), a conv feeding two layers, a batchnorm not
 * right after its conv, a leaky_relu (not a relu). */
static void check_layers(const char *yaml, int chains) {
    rp_error err;
    rp_node *layers = NULL;
    RP_ASSERT_OK(rp_node_parse_string(yaml, "<layers>", &layers, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_from_layers(layers, 3, 8, 8, &m, &err), &err);
    rp_node_free(layers);
    RP_ASSERT_OK(rp_model_init_params(m, 3, &err), &err);
    randomize_bn(m, 15);
    rp_model *u = clone_unfused(m);
    rp_tensor *x = input(2, 3, 8, 24);
    for (int rep = 0; rep < 2; rep++) assert_int_equal(eval_same(m, u, x, yaml), chains);
    rp_tensor_free(x);
    rp_model_free(m);
    rp_model_free(u);
}

static void test_chain_rules(void **state) {
    (void)state;
    /* conv (bias) -> bn -> relu, conv -> relu, linear head */
    check_layers("[{conv2d: {out: 4, kernel: 3, padding: 1}, name: c1}, batchnorm2d, relu,"
                 " {conv2d: {out: 4, kernel: 3, padding: 1}}, relu, flatten, {linear: {out: 3}}]",
                 2);
    /* residual: add -> bn -> relu and a 3-input add -> relu */
    check_layers("[{conv2d: {out: 3, kernel: 3, padding: 1}, name: a}, {tanh: {}, name: t},"
                 " {add: {}, name: s, in: [a, input]}, {batchnorm2d: {}, name: sb}, {relu: {}, name: sr},"
                 " {add: {}, name: s3, in: [sr, t, input]}, {relu: {}, name: r3}, {global_avgpool: {}}]",
                 2);
    /* conv -> bn -> add(shortcut before the conv, either order) -> relu */
    check_layers("[{conv2d: {out: 3, kernel: 3, padding: 1}, name: c0}, {relu: {}, name: r0},"
                 " {conv2d: {out: 3, kernel: 3, padding: 1}, name: c1}, {batchnorm2d: {}, name: b1},"
                 " {add: {}, name: s1, in: [b1, r0]}, {relu: {}, name: q1},"
                 " {conv2d: {out: 3, kernel: 3, padding: 1}, name: c2}, {batchnorm2d: {}, name: b2},"
                 " {add: {}, name: s2, in: [q1, b2]}, {relu: {}, name: q2}, {global_avgpool: {}}]",
                 3);
    /* shortcut after the bn: conv+bn, then add -> relu; the model input as
     * the shortcut, the add as the model output */
    check_layers("[{conv2d: {out: 3, kernel: 3, padding: 1}, name: c1}, {batchnorm2d: {}, name: b1},"
                 " {conv2d: {out: 3, kernel: 1}, name: d, in: [input]}, {add: {}, name: s, in: [b1, d]},"
                 " relu, {conv2d: {out: 3, kernel: 3, padding: 1}}, batchnorm2d, {add: {}, in: [batchnorm2d_6, input]}]",
                 3);
    /* a strided conv's batch norm gets the (larger) slot the conv's input
     * left: the result goes to the conv's own slot instead */
    check_layers("[{conv2d: {out: 4, kernel: 3, padding: 1}}, {conv2d: {out: 4, kernel: 3, stride: 2, padding: 1}},"
                 " batchnorm2d, relu, {global_avgpool: {}}]",
                 1);
    /* the model ends in batchnorm: fused, the output holds the result */
    check_layers("[{conv2d: {out: 4, kernel: 3}}, batchnorm2d]", 1);
    /* a relu that is the model output runs on its own buffer: not folded */
    check_layers("[{conv2d: {out: 4, kernel: 3}}, relu]", 0);
    /* conv read by two layers; bn not right after its conv; leaky_relu */
    check_layers("[{conv2d: {out: 3, kernel: 3, padding: 1}, name: c}, {batchnorm2d: {}, name: b, in: [c]},"
                 " {add: {}, name: s, in: [b, c]}, {conv2d: {out: 3, kernel: 1}, name: d}, {tanh: {}, name: t, in: [s]},"
                 " {batchnorm2d: {}, name: db, in: [d]}, {leaky_relu: {}, name: l}, {add: {}, in: [l, t]}, {global_avgpool: {}}]",
                 0);
}

/* A chain head that still owns the buffer an earlier forward gave it (it
 * was the model output then) while its batch norm's buffer comes from the
 * pool, where it may be the slot the head's input just left. */
static void test_owned_head(void **state) {
    (void)state;
    rp_error err;
    rp_node *layers = NULL;
    RP_ASSERT_OK(rp_node_parse_string("[{conv2d: {out: 4, kernel: 3, padding: 1}, name: c0},"
                                      " {conv2d: {out: 4, kernel: 3, padding: 1}, name: c1},"
                                      " {batchnorm2d: {}, name: b1}, {relu: {}, name: r1},"
                                      " {global_avgpool: {}, name: gp}, {linear: {out: 3}, name: fc}]",
                                      "<layers>", &layers, &err),
                 &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_from_layers(layers, 3, 8, 8, &m, &err), &err);
    rp_node_free(layers);
    RP_ASSERT_OK(rp_model_init_params(m, 3, &err), &err);
    randomize_bn(m, 17);
    rp_model *u = clone_unfused(m);
    rp_tensor *x = input(2, 3, 8, 27);
    const rp_tensor *y;
    for (int i = 0; i < 2; i++) {
        rp_model *t = i ? u : m;
        RP_ASSERT_OK(rp_model_set_output(t, "c1", &err), &err);
        rp_model_set_training(t, 0);
        RP_ASSERT_OK(rp_model_forward(t, x, &y, &err), &err);
        RP_ASSERT_OK(rp_model_set_output(t, "fc", &err), &err);
    }
    for (int rep = 0; rep < 2; rep++) assert_int_equal(eval_same(m, u, x, "owned head"), 1);
    rp_tensor_free(x);
    rp_model_free(m);
    rp_model_free(u);
}

/* Random small DAGs of conv / batchnorm / relu / tanh / add nodes (4
 * channels, 8x8) with random wiring, retained nodes and frozen layers, run
 * eval, train (+ backward), eval, eval at another batch size: fused and
 * unfused always agree (outputs, gradients, retained nodes), whatever
 * buffers the pool hands out. */
static rp_model *random_dag(rp_rng *r, int *n_nodes) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(3, 8, 8, &m, &err), &err);
    char names[24][16];
    int n = 0;
    snprintf(names[n], sizeof names[n], "n%d", n);
    RP_ASSERT_OK(rp_model_addf(m, names[n], "conv2d", NULL, 0, &err, "{out: 4, kernel: 3, padding: 1}"), &err);
    n++;
    int total = 8 + (int)rp_rng_below(r, 14);
    while (n < total) {
        /* mostly the previous node (chains), sometimes any earlier one */
        int a = rp_rng_below(r, 3) ? n - 1 : (int)rp_rng_below(r, (uint32_t)n);
        int b = (int)rp_rng_below(r, (uint32_t)n);
        const char *in[2] = {names[a], names[b]};
        snprintf(names[n], sizeof names[n], "n%d", n);
        int st;
        switch (rp_rng_below(r, 6)) {
        case 0:
        case 1: {
            int k = rp_rng_below(r, 2) ? 3 : 1;
            st = rp_model_addf(m, names[n], "conv2d", in, 1, &err, "{out: 4, kernel: %d, padding: %d, bias: %s}", k,
                               k / 2, rp_rng_below(r, 2) ? "true" : "false");
            break;
        }
        case 2: st = rp_model_add(m, names[n], "batchnorm2d", NULL, in, 1, &err); break;
        case 3: st = rp_model_add(m, names[n], rp_rng_below(r, 4) ? "relu" : "tanh", NULL, in, 1, &err); break;
        default: /* (n0 alone: a relu instead) */
            if (a == b && a > 0) b = a - 1;
            in[1] = names[b];
            st = a == b ? rp_model_add(m, names[n], "relu", NULL, in, 1, &err)
                        : rp_model_add(m, names[n], "add", NULL, in, 2, &err);
            break;
        }
        RP_ASSERT_OK(st, &err);
        n++;
    }
    RP_ASSERT_OK(rp_model_add(m, "gap", "global_avgpool", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 3}"), &err);
    RP_ASSERT_OK(rp_model_init_params(m, rp_rng_u64(r), &err), &err);
    *n_nodes = n;
    return m;
}

static void grads_same(rp_model *a, rp_model *b) {
    for (size_t i = 0; i < rp_model_num_params(a); i++) {
        const rp_param *p = rp_model_param(a, i), *q = rp_model_param(b, i);
        if (p->grad && memcmp(p->grad->data, q->grad->data, p->grad->numel * sizeof(float)))
            fail_msg("gradient of %s differs", p->name);
    }
}

static void test_random_graphs(void **state) {
    (void)state;
    rp_error err;
    rp_rng r;
    rp_rng_init(&r, 2024, 0, 0, 0);
    int fused = 0;
    for (int trial = 0; trial < 40; trial++) {
        int nn;
        rp_model *m = random_dag(&r, &nn);
        randomize_bn(m, (uint64_t)trial);
        char nm[16];
        if (rp_rng_below(&r, 2)) {
            snprintf(nm, sizeof nm, "n%u", rp_rng_below(&r, (uint32_t)nn));
            RP_ASSERT_OK(rp_model_retain_grad(m, nm, &err), &err);
        }
        if (rp_rng_below(&r, 2)) {
            snprintf(nm, sizeof nm, "n%u", rp_rng_below(&r, (uint32_t)nn));
            rp_model_freeze(m, nm, NULL, &err); /* (a relu or add has no parameter: no match) */
        }
        rp_model *u = clone_unfused(m);
        rp_tensor *x = input(3, 3, 8, (uint64_t)trial), *x2 = input(2, 3, 8, 100 + (uint64_t)trial), *dy;
        RP_ASSERT_OK(rp_tensor_new2(&dy, 3, 3, &err), &err);
        fill_uniform(dy, &r, -1, 1);
        char what[32];
        snprintf(what, sizeof what, "random graph %d", trial);
        fused += eval_same(m, u, x, what);
        const rp_tensor *ya, *yb;
        for (int i = 0; i < 2; i++) {
            rp_model *t = i ? u : m;
            rp_model_set_training(t, 1);
            RP_ASSERT_OK(rp_model_forward(t, x, i ? &yb : &ya, &err), &err);
            rp_model_zero_grad(t);
            RP_ASSERT_OK(rp_model_backward(t, dy, &err), &err);
        }
        assert_memory_equal(ya->data, yb->data, ya->numel * sizeof(float));
        grads_same(m, u);
        fused += eval_same(m, u, x, what);
        rp_model_zero_grad(m);
        rp_model_zero_grad(u);
        RP_ASSERT_OK(rp_model_backward(m, dy, &err), &err);
        RP_ASSERT_OK(rp_model_backward(u, dy, &err), &err);
        grads_same(m, u);
        fused += eval_same(m, u, x2, what);
        for (int k = 0; k < nn; k++) {
            snprintf(nm, sizeof nm, "n%d", k);
            const rp_tensor *oa = rp_model_node_output(m, nm), *ob = rp_model_node_output(u, nm);
            if (oa && ob) rp_test_close(oa->data, ob->data, oa->numel, 1e-5, 1e-5 * max_abs(ob), nm);
        }
        rp_tensor_free(x);
        rp_tensor_free(x2);
        rp_tensor_free(dy);
        rp_model_free(m);
        rp_model_free(u);
    }
    assert_true(fused > 40);
}

/* Alternating train and eval forwards (a frozen prefix in the pool, as in
 * training with validation): the activation pool holds exactly the bytes it
 * holds without fusion. */
static void test_pool_bytes(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = build("resnet20", "{classes: 10}");
    randomize_bn(m, 16);
    RP_ASSERT_OK(rp_model_freeze(m, "layer1", NULL, &err), &err);
    RP_ASSERT_OK(rp_model_freeze(m, "conv1", NULL, &err), &err);
    rp_model *u = clone_unfused(m);
    rp_tensor *x = input(4, 3, 32, 25), *dy;
    RP_ASSERT_OK(rp_tensor_new2(&dy, 4, 10, &err), &err);
    rp_rng r;
    rp_rng_init(&r, 5, 5, 5, 5);
    fill_uniform(dy, &r, -1, 1);
    for (int step = 0; step < 4; step++) {
        int train = step % 2 == 0;
        rp_model_set_training(m, train);
        rp_model_set_training(u, train);
        const rp_tensor *ya, *yb;
        RP_ASSERT_OK(rp_model_forward(m, x, &ya, &err), &err);
        RP_ASSERT_OK(rp_model_forward(u, x, &yb, &err), &err);
        rp_test_close(ya->data, yb->data, ya->numel, 1e-5, 1e-5 * max_abs(yb), "pool");
        if (train) {
            RP_ASSERT_OK(rp_model_backward(m, dy, &err), &err);
            RP_ASSERT_OK(rp_model_backward(u, dy, &err), &err);
        }
        assert_int_equal(rp_model_activation_bytes(m), rp_model_activation_bytes(u));
    }
    rp_tensor_free(x);
    rp_tensor_free(dy);
    rp_model_free(m);
    rp_model_free(u);
}

/* RP_NO_FUSE=1 turns fusion off for every model; "0" or unset leaves it on. */
static void test_env_switch(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = build("resnet20", "{classes: 10}");
    rp_model_set_training(m, 0);
    rp_tensor *x = input(2, 3, 32, 26);
    const rp_tensor *y;
    setenv("RP_NO_FUSE", "1", 1);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(rp_model_fused_chains(m), 0);
    setenv("RP_NO_FUSE", "0", 1);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(rp_model_fused_chains(m), 21);
    unsetenv("RP_NO_FUSE");
    rp_model_set_fusion(m, 0);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(rp_model_fused_chains(m), 0);
    rp_model_set_fusion(m, 1);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(rp_model_fused_chains(m), 21);
    rp_tensor_free(x);
    rp_model_free(m);
}

int main(void) {
    unsetenv("RP_NO_FUSE");
    rp_set_threads(2);
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet20_a),       cmocka_unit_test(test_resnet20_b),
        cmocka_unit_test(test_resnet18_small),   cmocka_unit_test(test_retained_nodes),
        cmocka_unit_test(test_train_unaffected), cmocka_unit_test(test_eval_backward),
        cmocka_unit_test(test_chain_rules),      cmocka_unit_test(test_pool_bytes),
        cmocka_unit_test(test_env_switch),       cmocka_unit_test(test_owned_head),
        cmocka_unit_test(test_random_graphs),    cmocka_unit_test(test_train_relu_folding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
