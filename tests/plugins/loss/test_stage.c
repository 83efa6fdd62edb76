/* The `loss` stage in pipeline runs through the real binary: a good spec
 * runs, bad specs (unknown loss, bad term, out-of-range parameter) are
 * rejected by the check before anything runs (exit 2), located at the
 * offending node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../../harness.h"

static int run(const char *with, char *log_text, size_t n) {
    const char *dir = rp_test_tmpdir();
    char path[700], log[700], cmd[3000], yaml[2000], out[700];
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(yaml, sizeof yaml,
             "runpipe: 1\nname: losstest\nstages:\n  - id: crit\n    use: loss\n    with: %s\n",
             with);
    rp_test_write(path, yaml);
    snprintf(cmd, sizeof cmd,
             "RUNPIPE_PLUGIN_PATH='%s/lib/runpipe/plugins' '%s/bin/runpipe' run '%s' --out '%s' "
             "> '%s' 2>&1",
             rp_test_build(), rp_test_build(), path, out, log);
    int rc = system(cmd);
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(log_text, 1, n - 1, f) : 0;
    log_text[got] = 0;
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
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
