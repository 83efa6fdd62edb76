/* model.build / model.save / model.load as stages: a small pipeline run
 * through the real binary (build/bin/runpipe with the built plugins). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../harness.h"
#include "config/schema.h" /* engine-internal: rp_schema_dirs_init */

static int run(const char *yaml_path, const char *out, const char *log) {
    char args[2000];
    snprintf(args, sizeof args, "run '%s' --out '%s'", yaml_path, out);
    return rp_test_runpipe(args, log, NULL, 0);
}

static char *slurp(const char *path) {
    char *text = NULL;
    size_t len = 0;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(path, &text, &len, &err), &err);
    return text;
}

static void test_build_save_load_roundtrip(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char out[700], path[700], log[700];
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(path, sizeof path, "%s",
             rp_test_write_pipeline(
                 dir, "io.yaml", "name: model-io\nseed: 3\n",
                 "  - id: net\n"
                 "    use: model.build\n"
                 "    with: {arch: mnist_cnn, classes: 4, freeze: [conv1]}\n"
                 "  - id: save\n"
                 "    use: model.save\n"
                 "    in: {model: net}\n"
                 "  - id: save2\n"
                 "    use: model.save\n"
                 "    in: {model: net}\n"
                 "    with: {path: sub/dir/m.safetensors}\n"
                 "  - id: load\n"
                 "    use: model.load\n"
                 "    with: {path: save/model.safetensors}\n" /* found in the run folder */
                 "  - id: again\n"
                 "    use: model.build\n"
                 "    with: {arch: mnist_cnn, pretrained: save2/sub/dir/m.safetensors, "
                 "strict: false}\n"));
    int rc = run(path, out, log);
    char *text = slurp(log);
    if (rc != 0) fail_msg("runpipe exited %d:\n%s", rc, text);
    assert_non_null(strstr(text, "net: mnist_cnn: 49,796 params (49,476 trainable)"));
    assert_non_null(strstr(text, "load: loaded '")); /* resolved in the run folder: */
    assert_non_null(strstr(text, "run/save/model.safetensors'"));
    assert_non_null(strstr(text, "2 skipped")); /* fc.weight and fc.bias: 4 vs 10 classes */
    free(text);

    rp_error err;
    rp_error_clear(&err);
    rp_model *a = NULL, *b = NULL;
    RP_ASSERT_OK(rp_model_load(rp_test_path(out, "save/model.safetensors"), &a, &err), &err);
    RP_ASSERT_OK(rp_model_load(rp_test_path(out, "save2/sub/dir/m.safetensors"), &b, &err), &err);
    assert_int_equal(rp_model_num_classes(a), 4);
    assert_int_equal(rp_model_num_params(a), rp_model_num_params(b));
    for (size_t i = 0; i < rp_model_num_params(a); i++) {
        const rp_tensor *x = rp_model_param(a, i)->value, *y = rp_model_param(b, i)->value;
        assert_int_equal(x->numel, y->numel);
        assert_memory_equal(x->data, y->data, x->numel * sizeof(float));
    }
    rp_model_free(a);
    rp_model_free(b);
}

static void test_freeze_error_located(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char out[700], path[700], log[700];
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(path, sizeof path, "%s",
             rp_test_write_pipeline(dir, "bad.yaml", "name: bad-freeze\n",
                                    "  - id: net\n"
                                    "    use: model.build\n"
                                    "    with:\n"
                                    "      arch: mnist_cnn\n"
                                    "      freeze: [conv1, layer4]\n"));
    int rc = run(path, out, log);
    char *text = slurp(log);
    if (rc != 1) fail_msg("expected exit 1, got %d:\n%s", rc, text);
    assert_non_null(strstr(text, "bad.yaml:8:"));
    assert_non_null(strstr(text, "'layer4' matches no parameter"));
    free(text);
}

/* A torch.save .pth as model.build's `pretrained` and as model.load with
 * `arch`; without `arch` model.load says what is missing. */
static void test_pth_build_and_load(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char out[700], path[700], log[700];
    snprintf(out, sizeof out, "%s/run-pth", dir);
    snprintf(log, sizeof log, "%s/log-pth", dir);
    snprintf(path, sizeof path, "%s",
             rp_test_write_pipeline(
                 dir, "pth.yaml", "name: model-pth\nseed: 3\n",
                 "  - id: net\n"
                 "    use: model.build\n"
                 "    with:\n"
                 "      arch: {resnet20: {shortcut: B}}\n"
                 "      pretrained: '%S/tests/golden/data/pth/resnet20b.pth'\n"
                 "      head: {classes: 3, dropout: 0.3}\n"
                 "      freeze: [conv1, bn1, layer1, layer2]\n"
                 "      freeze_bn: true\n"
                 "  - id: tuned\n"
                 "    use: model.load\n"
                 "    with: {path: '%S/tests/golden/data/pth/resnet20b.pth', arch: {resnet20: {shortcut: B}}}\n"));
    int rc = run(path, out, log);
    char *text = slurp(log);
    if (rc != 0) fail_msg("runpipe exited %d:\n%s", rc, text);
    if (!strstr(text, "resnet20b.pth' (strict): 128 loaded, 0 skipped, 0 reinitialised")) fail_msg("%s", text);
    assert_non_null(strstr(text, "net: resnet20: "));
    assert_non_null(strstr(text, "tuned: loaded '"));
    free(text);
    snprintf(out, sizeof out, "%s/run-pth2", dir);
    snprintf(path, sizeof path, "%s",
             rp_test_write_pipeline(dir, "pth2.yaml", "name: model-pth2\n",
                                    "  - id: tuned\n"
                                    "    use: model.load\n"
                                    "    with: {path: '%S/tests/golden/data/pth/resnet20b.pth'}\n"));
    rc = run(path, out, log);
    text = slurp(log);
    if (rc != 1) fail_msg("expected exit 1, got %d:\n%s", rc, text);
    assert_non_null(strstr(text, "plain state dict, not a runpipe model: name its architecture "
                                 "(model.load's 'arch'"));
    free(text);
}

int main(void) {
    rp_schema_dirs_init(); /* rp_model_load rebuilds layers with their schemas */
    struct stat sb;
    if (stat(rp_test_runpipe_bin(), &sb) != 0) {
        fprintf(stderr, "build/bin/runpipe is not built\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_save_load_roundtrip),
        cmocka_unit_test(test_freeze_error_located),
        cmocka_unit_test(test_pth_build_and_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
