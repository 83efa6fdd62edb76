/* model.build: zoo and layer-list models, deterministic init keyed by the
 * stage, head replacement, freezing, the gray adapter, pretrained weights
 * (strict and partial) and the errors of each option. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness.h"
#include "config/schema.h"
#include "host/registry.h"
#include "../../../plugins/model/model_stages.h"

static rp_node *yaml(const char *text) {
    rp_node *n = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_node_parse_string(text, "model.yaml", &n, &err), &err);
    return n;
}

/* model.build's params as a stage sees them: validated, defaults filled from
 * schemas/model.build.yaml (defaults live only there). Params the schema
 * rejects are passed raw, to test the build's own checks. */
static rp_node *stage_params(const char *text) {
    rp_node *raw = yaml(text), *v = NULL;
    const rp_schema *sch = NULL;
    rp_error err;
    rp_error_clear(&err);
    rp_schema_dirs_init();
    RP_ASSERT_OK(rp_schema_get("model.build", &sch, &err), &err);
    rp_diag d;
    rp_diag_init(&d);
    int st = rp_schema_validate(sch, raw, NULL, &v, &d);
    rp_diag_release(&d);
    if (st != RP_OK) {
        rp_node_free(v);
        return raw;
    }
    rp_node_free(raw);
    return v;
}

static rp_model *build(const char *params, uint64_t seed, const char *stage, const char *base) {
    rp_node *p = stage_params(params);
    rp_model *m = NULL;
    rp_error err;
    rp_error_clear(&err);
    const char *dirs[] = {base, NULL};
    RP_ASSERT_OK(model_build_from_params(p, seed, stage, base ? dirs : NULL, &m, &err), &err);
    rp_node_free(p);
    return m;
}

/* Expect failure; returns the message (static copy). */
static const char *build_fails(const char *params, const char *base, int *line) {
    static rp_error err;
    rp_error_clear(&err);
    rp_node *p = stage_params(params);
    rp_model *m = NULL;
    const char *dirs[] = {base, NULL};
    int rc = model_build_from_params(p, 1, "net", base ? dirs : NULL, &m, &err);
    rp_node_free(p);
    assert_int_not_equal(rc, RP_OK);
    assert_null(m);
    if (line) *line = err.line;
    return err.msg;
}

static int same_tensor(const rp_tensor *a, const rp_tensor *b) {
    return a->numel == b->numel && !memcmp(a->data, b->data, a->numel * sizeof(float));
}

static int same_weights(rp_model *a, rp_model *b) {
    if (rp_model_num_params(a) != rp_model_num_params(b)) return 0;
    for (size_t i = 0; i < rp_model_num_params(a); i++)
        if (!same_tensor(rp_model_param(a, i)->value, rp_model_param(b, i)->value)) return 0;
    return 1;
}

static const size_t MNIST10 = 32 * 9 + 32 + 64 * 32 * 9 + 64 + 7744 * 10 + 10;

static void test_arch_options_and_summary(void **state) {
    (void)state;
    rp_model *m = build("{arch: mnist_cnn, classes: 7}", 1, "net", NULL);
    assert_int_equal(rp_model_num_classes(m), 7);
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(h, 28);
    assert_int_equal(rp_model_count_weights(m, 0), MNIST10 - 7744 * 3 - 3);
    assert_int_equal(rp_model_count_weights(m, 1), rp_model_count_weights(m, 0));
    char line[256];
    model_summary(m, "net: mnist_cnn", line, sizeof line);
    assert_string_equal(line, "net: mnist_cnn: 73,031 params (73,031 trainable), input [1, 28, "
                              "28], 7 classes");
    rp_model_free(m);
    /* the validated form {name: {params}} works as well */
    m = build("{arch: {mnist_cnn: {classes: 4, in_channels: 1, size: 28}}}", 1, "net", NULL);
    assert_int_equal(rp_model_num_classes(m), 4);
    rp_model_free(m);
    char buf[32];
    assert_string_equal(model_fmt_count(1234567, buf, sizeof buf), "1,234,567");
    assert_string_equal(model_fmt_count(999, buf, sizeof buf), "999");
}

static void test_init_keyed_by_seed_and_stage(void **state) {
    (void)state;
    rp_model *a = build("{arch: mnist_cnn}", 1, "net", NULL);
    rp_model *b = build("{arch: mnist_cnn}", 1, "net", NULL);
    rp_model *c = build("{arch: mnist_cnn}", 1, "donor", NULL);
    rp_model *d = build("{arch: mnist_cnn}", 2, "net", NULL);
    assert_true(same_weights(a, b));
    assert_false(same_weights(a, c));
    assert_false(same_weights(a, d));
    /* PyTorch's default init: conv1 weights in +-1/sqrt(fan_in) = +-1/3, not all zero */
    const rp_param *w = rp_model_find_param(a, "conv1.weight");
    assert_non_null(w);
    float mx = 0;
    for (size_t i = 0; i < w->value->numel; i++) mx = fmaxf(mx, fabsf(w->value->data[i]));
    assert_true(mx > 0.2f && mx <= 1.0f / 3.0f + 1e-6f);
    rp_model_free(a);
    rp_model_free(b);
    rp_model_free(c);
    rp_model_free(d);
}

static void test_layers(void **state) {
    (void)state;
    rp_model *m = build("{layers: [{conv2d: {out: 4, kernel: 3}}, {relu: {}}, {flatten: {}}, "
                        "{linear: {out: 2}}], input: [1, 6, 6]}",
                        3, "net", NULL);
    assert_int_equal(rp_model_num_classes(m), 2);
    assert_int_equal(rp_model_count_weights(m, 0), 4 * 9 + 4 + 4 * 16 * 2 + 2);
    rp_model_free(m);
}

static void test_errors(void **state) {
    (void)state;
    int line = 0;
    assert_non_null(strstr(build_fails("{classes: 3}", NULL, NULL), "missing 'arch'"));
    assert_non_null(strstr(build_fails("{arch: mnist_cnn, layers: [{relu: {}}], input: [1, 2, 2]}",
                                       NULL, NULL),
                           "not both"));
    assert_non_null(strstr(build_fails("{layers: [{relu: {}}]}", NULL, NULL), "input: [C, H, W]"));
    assert_non_null(strstr(build_fails("{layers: [{relu: {}}], input: [1, 2, 2], classes: 3}",
                                       NULL, NULL),
                           "'classes' applies to 'arch'"));
    const char *msg = build_fails("{arch: mnist_cnn,\n freeze: [conv1, layer9]}", NULL, &line);
    assert_non_null(strstr(msg, "'layer9' matches no parameter"));
    assert_non_null(strstr(msg, "conv1.weight"));
    assert_int_equal(line, 2);
    assert_non_null(strstr(build_fails("{arch: mnist_cnn, pretrained: /nonexistent/x.safetensors}",
                                       NULL, NULL),
                           "/nonexistent/x.safetensors"));
    assert_non_null(strstr(build_fails("{arch: mnist_cnnn}", NULL, NULL), "mnist_cnn"));
}

static void test_head_and_freeze(void **state) {
    (void)state;
    rp_model *m = build("{arch: mnist_cnn, head: {classes: 3, dropout: 0.3}, freeze: [conv1, "
                        "'conv2.*']}",
                        1, "net", NULL);
    assert_int_equal(rp_model_num_classes(m), 3);
    assert_int_equal(rp_model_count_weights(m, 1), 7744 * 3 + 3);
    assert_false(rp_model_find_param(m, "conv1.weight")->trainable);
    assert_false(rp_model_find_param(m, "conv2.bias")->trainable);
    /* forward still works with the new head in train mode (dropout) and eval */
    rp_error err;
    rp_error_clear(&err);
    rp_tensor *x = NULL;
    RP_ASSERT_OK(rp_tensor_new4(&x, 2, 1, 28, 28, &err), &err);
    rp_tensor_fill(x, 0.5f);
    const rp_tensor *y = NULL;
    rp_model_set_training(m, 0);
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 3);
    rp_tensor_free(x);
    rp_model_free(m);
}

static void test_gray_adapter(void **state) {
    (void)state;
    rp_model *m = build("{arch: mnist_cnn, in_channels: 3, gray_adapter: true}", 1, "net", NULL);
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(c, 1);
    /* two 3x3 convs 1->3->3 with bias in front of the 3-channel model */
    assert_int_equal(rp_model_count_weights(m, 0),
                     (3 * 9 + 3) + (3 * 3 * 9 + 3) + 32 * 27 + 32 + 64 * 32 * 9 + 64 + 77450);
    rp_error err;
    rp_error_clear(&err);
    rp_tensor *x = NULL;
    RP_ASSERT_OK(rp_tensor_new4(&x, 1, 1, 28, 28, &err), &err);
    const rp_tensor *y = NULL;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(y->shape[1], 10);
    rp_tensor_free(x);
    rp_model_free(m);
    /* a 1-channel arch is built with 3 channels behind the adapter (not 1 -> 3 -> 1) */
    m = build("{arch: mnist_cnn, gray_adapter: true}", 1, "net", NULL);
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(rp_model_find_param(m, "adapter.1.weight")->value->shape[0], 3);
    assert_int_equal(rp_model_find_param(m, "conv1.weight")->value->shape[1], 3);
    rp_model_free(m);
    int line = 0;
    const char *msg = build_fails("{arch: mnist_cnn,\n in_channels: 1,\n gray_adapter: true}",
                                  NULL, &line);
    assert_non_null(strstr(msg, "in_channels must be 3 (or left out), got 1"));
    assert_int_equal(line, 2);
    msg = build_fails("{layers: [flatten, {linear: {out: 2}}],\n input: [1, 4, 4], gray_adapter: true}",
                      NULL, &line);
    assert_non_null(strstr(msg, "'input' must be [3, H, W]"));
    assert_int_equal(line, 2);
}

/* The adapter itself (model_prepend_gray_adapter): 1 -> 3 -> 3 in front,
 * the model's weights kept, initialised from the seed alone; a model that
 * does not take 3 channels, or already has an adapter, is refused unchanged. */
static rp_model *small_model(int channels) {
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    RP_ASSERT_OK(rp_model_new(channels, 6, 6, &m, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c1", "conv2d", NULL, 0, &err, "{out: 4, kernel: 3, padding: 1}"),
                 &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 7}"), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 3, &err), &err);
    return m;
}

static void test_gray_adapter_surgery(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = small_model(3);
    float c1 = rp_model_find_param(m, "c1.weight")->value->data[5];
    RP_ASSERT_OK(model_prepend_gray_adapter(m, 5, &err), &err);
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_string_equal(rp_model_node_name(m, 0), "adapter.0");
    assert_string_equal(rp_model_node_name(m, 1), "adapter.1");
    assert_int_equal(rp_model_find_param(m, "adapter.0.weight")->value->shape[1], 1);
    assert_int_equal(rp_model_find_param(m, "adapter.1.weight")->value->shape[0], 3);
    assert_true(rp_model_find_param(m, "c1.weight")->value->data[5] == c1);
    rp_tensor *x;
    RP_ASSERT_OK(rp_tensor_new4(&x, 2, 1, 6, 6, &err), &err);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, x, &y, &err), &err);
    assert_int_equal(y->shape[1], 7);
    rp_tensor_free(x);
    /* the same seed gives the same adapter on another model */
    rp_model *m2 = small_model(3);
    RP_ASSERT_OK(model_prepend_gray_adapter(m2, 5, &err), &err);
    const rp_tensor *a = rp_model_find_param(m, "adapter.1.weight")->value,
                    *b = rp_model_find_param(m2, "adapter.1.weight")->value;
    assert_memory_equal(a->data, b->data, a->numel * sizeof(float));
    rp_model_free(m2);
    /* a second adapter */
    rp_error_clear(&err);
    assert_int_equal(model_prepend_gray_adapter(m, 5, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "gray adapter: the model already has one");
    rp_model_free(m);
    /* the adapter is 1 -> 3 -> 3: a model that does not take 3 channels is refused */
    m = small_model(2);
    rp_error_clear(&err);
    assert_int_equal(model_prepend_gray_adapter(m, 5, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "gray adapter: it goes in front of a 3-channel network "
                                 "(1 -> 3 -> 3), but this model takes 2 channels");
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(c, 2);
    assert_int_equal(rp_model_num_nodes(m), 3);
    rp_model_free(m);
}

/* `size` goes to the architecture like classes / in_channels. */
static void test_size(void **state) {
    (void)state;
    rp_model *m = build("{arch: unet, size: 32, classes: 3}", 1, "net", NULL);
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(h, 32);
    assert_int_equal(w, 32);
    rp_model_free(m);
    m = build("{arch: mnist_cnn, size: 32}", 1, "net", NULL);
    rp_model_input_shape(m, &c, &h, &w);
    assert_int_equal(h, 32);
    rp_model_free(m);
    int line = 0;
    const char *msg = build_fails("{arch: unet,\n size: 36}", NULL, &line);
    assert_non_null(strstr(msg, "size 36 must be divisible by 2^depth = 8"));
    msg = build_fails("{arch: mnist_cnn,\n size: 0}", NULL, &line);
    assert_non_null(strstr(msg, "size"));
    assert_int_equal(line, 2);
    msg = build_fails("{layers: [flatten], input: [1, 4, 4],\n size: 8}", NULL, &line);
    assert_non_null(strstr(msg, "'size' applies to 'arch'"));
}

static void test_pretrained_strict_and_partial(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    rp_error err;
    rp_error_clear(&err);
    rp_model *a = build("{arch: mnist_cnn}", 11, "donor", NULL);
    RP_ASSERT_OK(rp_model_save(a, rp_test_path(dir, "a.safetensors"), &err), &err);

    /* strict, found relative to the pipeline's folder (base_dir) */
    rp_model *b = build("{arch: mnist_cnn, pretrained: a.safetensors, strict: true}", 2, "net",
                        dir);
    assert_true(same_weights(a, b));

    /* another head: strict fails naming the mismatch, partial keeps the init of fc */
    int line = 0;
    const char *msg = build_fails("{arch: mnist_cnn, classes: 5, pretrained: a.safetensors}", dir,
                                  &line);
    assert_non_null(strstr(msg, "fc.weight"));
    rp_model *c = build("{arch: mnist_cnn, classes: 5, pretrained: a.safetensors, strict: false}",
                        2, "net", dir);
    rp_model *c0 = build("{arch: mnist_cnn, classes: 5}", 2, "net", NULL);
    assert_true(same_tensor(rp_model_find_param(c, "conv2.weight")->value,
                            rp_model_find_param(a, "conv2.weight")->value));
    assert_true(same_tensor(rp_model_find_param(c, "fc.weight")->value,
                            rp_model_find_param(c0, "fc.weight")->value));

    /* S4's order: pretrained (as built) first, then the new head */
    rp_model *d = build("{arch: mnist_cnn, pretrained: a.safetensors, head: {classes: 3}}", 2,
                        "net", dir);
    assert_int_equal(rp_model_num_classes(d), 3);
    assert_true(same_tensor(rp_model_find_param(d, "conv1.weight")->value,
                            rp_model_find_param(a, "conv1.weight")->value));
    rp_model_free(a);
    rp_model_free(b);
    rp_model_free(c);
    rp_model_free(c0);
    rp_model_free(d);
}

/* S1: a torchvision ResNet-18 state dict written by torch.save
 * (tests/golden/make_resnet_pth.py, every tensor a formula of its state_dict
 * index k) loads into the encoder of unet_resnet with `pretrained:` +
 * `strict: false`, behind the grey adapter as in pipelines/s1-gray-adapter.yaml;
 * the log reports what was loaded, what the file had in excess (fc) and what
 * kept its initialisation (the decoder). */
static void test_pretrained_torchvision_into_unet_resnet(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    char pth[1024], params[1400];
    snprintf(pth, sizeof pth, "%s/tests/golden/data/pth/resnet18_torchvision.pth", rp_test_src());
    const char *log = rp_test_path(rp_test_tmpdir(), "pretrained.log");
    snprintf(params, sizeof params,
             "{arch: {unet_resnet: {encoder: resnet18}}, classes: 6, size: 64, gray_adapter: true,"
             " pretrained: '%s', strict: false}",
             pth);
    RP_ASSERT_OK(rp_log_open_file(log, 0, &err), &err);
    rp_model *m = build(params, 3, "net", NULL);
    RP_ASSERT_OK(rp_log_close_file(&err), &err);
    rp_model *init = build("{arch: {unet_resnet: {encoder: resnet18}}, classes: 6, size: 64, "
                           "gray_adapter: true}",
                           3, "net", NULL);
    /* encoder: torchvision's tensors in torchvision's order (k), after the adapter */
    size_t np = rp_model_num_params(m), k = 0, encoder = 0;
    for (size_t j = 0; j < np; j++) {
        const rp_param *p = rp_model_param(m, j);
        if (!strncmp(p->name, "adapter.", 8) || !strncmp(p->name, "decoder.", 8) ||
            !strncmp(p->name, "segmentation_head.", 18)) {
            /* new parameters: the initialisation of the same build without weights */
            if (!same_tensor(p->value, rp_model_find_param(init, p->name)->value))
                fail_msg("%s: not its initialisation", p->name);
            continue;
        }
        size_t n = strlen(p->name);
        int counter = n > 20 && !strcmp(p->name + n - 20, ".num_batches_tracked");
        for (size_t i = 0; i < p->value->numel; i++) {
            float want = counter ? (float)k : (float)(0.001 * (double)(k + 1) + 0.0001 * (double)(i % 4));
            if (p->value->data[i] != want)
                fail_msg("%s[%zu] = %.9g, torchvision tensor %zu gives %.9g", p->name, i,
                         (double)p->value->data[i], k, (double)want);
        }
        k++;
        encoder++;
    }
    assert_int_equal(encoder, 120); /* torchvision's 122 tensors but fc.weight, fc.bias */
    assert_int_equal(rp_model_find_param(m, "conv1.weight")->value->shape[1], 3);
    assert_int_equal(rp_model_find_param(m, "adapter.0.weight")->value->shape[1], 1);
    /* the report of what was loaded, in the log */
    char *text = NULL;
    size_t len = 0;
    RP_ASSERT_OK(rp_read_file(log, &text, &len, &err), &err);
    char want[1400];
    snprintf(want, sizeof want, "net: pretrained '%s' (partial): 120 loaded, 2 skipped, 62 reinitialised",
             pth);
    if (!strstr(text, want)) fail_msg("log lacks \"%s\":\n%s", want, text);
    snprintf(want, sizeof want, "  '%s': 120 of 182 tensors loaded, 62 missing, 2 unexpected\n",
             pth);
    if (!strstr(text, want)) fail_msg("log lacks \"%s\":\n%s", want, text);
    assert_non_null(strstr(text, "  unexpected: fc.weight [1000, 512]"));
    assert_non_null(strstr(text, "  unexpected: fc.bias [1000]"));
    assert_non_null(strstr(text, "  missing:    decoder.blocks.0.conv1.0.weight [256, 768, 3, 3]"));
    assert_non_null(strstr(text, "  missing:    segmentation_head.0.bias [6]"));
    assert_null(strstr(text, "missing:    layer")); /* every encoder tensor found */
    free(text);
    rp_model_free(init);
    rp_model_free(m);
    /* strict: the same file is refused, naming the differences */
    snprintf(params, sizeof params, "{arch: {unet_resnet: {encoder: resnet18}}, classes: 6,\n size: 64, pretrained: '%s'}",
             pth);
    const char *msg = build_fails(params, NULL, NULL);
    assert_non_null(strstr(msg, "weights do not match the model (strict): "));
    assert_non_null(strstr(msg, "120 of 182 tensors loaded, 62 missing, 2 unexpected"));
    /* S3's net: the whole file strictly into resnet18, then a 7-class head */
    snprintf(params, sizeof params, "{arch: resnet18, size: 64, pretrained: '%s', head: {classes: 7}}", pth);
    m = build(params, 3, "net", NULL);
    assert_int_equal(rp_model_num_classes(m), 7);
    const rp_param *w = rp_model_find_param(m, "layer4.1.bn2.running_var");
    assert_non_null(w); /* tensor 118 of torchvision's state dict */
    assert_true(w->value->data[5] == (float)(0.001 * 119 + 0.0001 * 1));
    assert_int_equal(rp_model_find_param(m, "fc.weight")->value->shape[0], 7);
    rp_model_free(m);
}

int main(void) {
    rp_schema_dirs_init(); /* schemas/ validate and fill component params */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_options_and_summary),
        cmocka_unit_test(test_init_keyed_by_seed_and_stage),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_head_and_freeze),
        cmocka_unit_test(test_gray_adapter),
        cmocka_unit_test(test_gray_adapter_surgery),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_pretrained_strict_and_partial),
        cmocka_unit_test(test_pretrained_torchvision_into_unet_resnet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
