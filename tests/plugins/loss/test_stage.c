/* The `loss` stage in pipeline runs through the real binary: a good spec
 * runs, bad specs (unknown loss, bad term, out-of-range parameter) are
 * rejected by the check before anything runs (exit 2), located at the
 * offending node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness.h"

static int run(const char *with, char *log_text, size_t n) {
    const char *dir = rp_test_tmpdir();
    char log[700], args[2000], stages[2000];
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(stages, sizeof stages, "  - id: crit\n    use: loss\n    with: %s\n", with);
    const char *path = rp_test_write_pipeline(dir, "p.yaml", "name: losstest\n", stages);
    snprintf(args, sizeof args, "run '%s' --out '%s/run'", path, dir);
    return rp_test_runpipe(args, log, log_text, n);
}

static void expect(const char *with, int code, const char *needle) {
    char log[8000];
    int rc = run(with, log, sizeof log);
    if (rc != code) fail_msg("with %s: exit %d, expected %d:\n%s", with, rc, code, log);
    if (!strstr(log, needle)) fail_msg("with %s: output lacks '%s':\n%s", with, needle, log);
}

static void test_loss_stage(void **state) {
    (void)state;
    expect("{loss: {focal: {alpha: 1, gamma: 2}}}", 0, "loss: focal");
    expect("{loss: {sum: {terms: [{cross_entropy: {}}, {complement_flatten: {weight: 0.5}}]}}}", 0,
           "loss: sum");
    expect("{}", 0, "loss: cross_entropy"); /* the schema's default */
    expect("{loss: focl}", 2, "did you mean 'focal'");
    expect("{loss: {focal: {gamma: -1}}}", 2, "p.yaml:6:");
    expect("{loss: {cross_entropy: {label_smoothing: 2}}}", 2, "label_smoothing");
    expect("{loss: {sum: {terms: [{cross_entropy: {wieghts: [1]}}]}}}", 2, "wieghts");
    expect("{loss: {sum: {}}}", 2, "terms");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_loss_stage)};
    return cmocka_run_group_tests_name("loss_stage", tests, NULL, NULL);
}
