/* Kill-and-resume through the real binary: a run stopped after epoch 1
 * (stop_after_epoch, and a real SIGINT) and continued with
 * `runpipe run FILE --resume DIR` ends with the same weights, byte for byte, as an
 * uninterrupted run. Tiny: 256 Fashion-MNIST images, a 4-channel CNN. The
 * same with S2's cam_erasing batch hook, stopped inside its erasing phase. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../harness.h"

/* The stages of the pipeline (name resume-check, seed 5). */
static const char *stages =
    "  - id: fmnist\n"
    "    use: data.idx\n"
    "    with: {limit: 256}\n"
    "  - id: net\n"
    "    use: model.build\n"
    "    with:\n"
    "      input: [1, 28, 28]\n"
    "      layers:\n"
    "        - {conv2d: {out: 4, kernel: 3}}\n"
    "        - {relu: {}}\n"
    "        - {maxpool2d: {kernel: 2}}\n"
    "        - {flatten: {}}\n"
    "        - {dropout: {p: 0.25}}\n"
    "        - {linear: {out: 10}}\n"
    "  - id: loss\n"
    "    use: loss\n"
    "  - id: fit\n"
    "    use: train\n"
    "    in: {model: net, loss: loss, train: fmnist.train, val: fmnist.test}\n"
    "    with:\n"
    "      epochs: 4\n"
    "      batch_size: 32\n"
    "      optimizer: {adam: {lr: 0.002}}\n"
    "      scheduler: {step: {step_size: 1, gamma: 0.7}}\n"
    "      val_limit: 64\n";

static char yaml_path[700];

static const char *bin(void) { return rp_test_runpipe_bin(); }

/* The uninterrupted run, done once and shared by the tests. */
static void reference_run(const char *dir, char *out, size_t size) {
    static char done[700];
    if (done[0]) {
        snprintf(out, size, "%s", done);
        return;
    }
    char args[1600], log[700];
    snprintf(out, size, "%s/full", dir);
    snprintf(log, sizeof log, "%s/full.log", dir);
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads 2", yaml_path, out);
    int rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc) {
        rp_test_show_log(log, 20);
        fail_msg("uninterrupted run: exit %d", rc);
    }
    snprintf(done, sizeof done, "%s", out);
}

static void test_stop_after_epoch_then_resume(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char full[700], part[700], log[700], args[1600];
    reference_run(dir, full, sizeof full);
    snprintf(part, sizeof part, "%s/part", dir);
    snprintf(log, sizeof log, "%s/part.log", dir);
    snprintf(args, sizeof args,
             "run '%s' --out '%s' --threads 2 --set stages.fit.with.stop_after_epoch=1",
             yaml_path, part);
    int rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc != 1) {
        rp_test_show_log(log, 20);
        fail_msg("stopped run: expected exit 1, got %d", rc);
    }
    char hist[800];
    snprintf(hist, sizeof hist, "%s/fit/history.csv", part);
    char *text = NULL;
    size_t len = 0;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(hist, &text, &len, &err), &err);
    assert_non_null(strstr(text, "\n1,"));
    assert_null(strstr(text, "\n2,")); /* stopped after epoch 1 */
    free(text);
    /* the same command with --resume: stop_after_epoch only acts when epoch 1 runs */
    snprintf(args, sizeof args,
             "run '%s' --resume '%s' --threads 2 --set stages.fit.with.stop_after_epoch=1",
             yaml_path, part);
    rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc != 0) {
        rp_test_show_log(log, 20);
        fail_msg("resumed run: exit %d", rc);
    }
    rp_test_same_weights_files(rp_test_path(full, "fit/last.safetensors"),
                             rp_test_path(part, "fit/last.safetensors"));
}

static void test_sigint_then_resume(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char full[700], part[700], log[700], args[1600], ckpt[800];
    reference_run(dir, full, sizeof full);
    snprintf(part, sizeof part, "%s/part", dir);
    snprintf(log, sizeof log, "%s/part.log", dir);
    snprintf(ckpt, sizeof ckpt, "%s/fit/checkpoint.safetensors", part);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        if (!f || !freopen(log, "a", stderr)) _exit(127);
        execl(bin(), bin(), "run", yaml_path, "--out", part, "--threads", "2", (char *)NULL);
        _exit(127);
    }
    /* interrupt once the first epoch's checkpoint exists */
    struct stat sb;
    for (int i = 0; i < 6000 && stat(ckpt, &sb) != 0; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) fail_msg("run ended before the first epoch");
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGINT);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (code != 1) {
        rp_test_show_log(log, 20);
        fail_msg("interrupted run: expected exit 1, got %d", code);
    }
    char *text = NULL;
    size_t len = 0;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(log, &text, &len, &err), &err);
    if (!strstr(text, "checkpoint written")) fail_msg("interrupted run said:\n%s", text);
    /* an interruption, not a compiler-style error; the command that continues */
    char want[1200];
    snprintf(want, sizeof want, "runpipe: continue with: runpipe --resume %s\n", part);
    if (!strstr(text, want) || strstr(text, "error:") || !strstr(text, "runpipe: interrupted: "))
        fail_msg("interrupted run said:\n%s", text);
    free(text);
    snprintf(args, sizeof args, "run '%s' --resume '%s' --threads 2", yaml_path, part);
    int rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc != 0) {
        rp_test_show_log(log, 20);
        fail_msg("resumed run: exit %d", rc);
    }
    rp_test_same_weights_files(rp_test_path(full, "fit/last.safetensors"),
                             rp_test_path(part, "fit/last.safetensors"));
}

/* cam_erasing from epoch 2 (warmup 0.25 of 4): stopped after epoch 2, in the
 * erasing phase, and resumed, the weights equal an uninterrupted run with the
 * hook, which are not those of the plain run (the hook did act). */
static void test_cam_erasing_stop_then_resume(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    const char *hook = "--set 'stages.fit.with.hooks=[{cam_erasing: {warmup: 0.25}}]'";
    char plain[700], args[3200], log[700];
    reference_run(dir, plain, sizeof plain);
    const char *full = rp_test_path(dir, "cam-full"), *part = rp_test_path(dir, "cam-part");
    char fullc[800], partc[800];
    snprintf(fullc, sizeof fullc, "%s", full);
    snprintf(partc, sizeof partc, "%s", part);
    snprintf(log, sizeof log, "%s/cam.log", dir);
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads 2 %s", yaml_path, fullc, hook);
    int rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc) {
        rp_test_show_log(log, 20);
        fail_msg("uninterrupted run with cam_erasing: exit %d", rc);
    }
    snprintf(args, sizeof args,
             "run '%s' --out '%s' --threads 2 %s --set stages.fit.with.stop_after_epoch=2",
             yaml_path, partc, hook);
    rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc != 1) {
        rp_test_show_log(log, 20);
        fail_msg("stopped run with cam_erasing: expected exit 1, got %d", rc);
    }
    snprintf(args, sizeof args,
             "run '%s' --resume '%s' --threads 2 %s --set stages.fit.with.stop_after_epoch=2",
             yaml_path, partc, hook);
    rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc) {
        rp_test_show_log(log, 20);
        fail_msg("resumed run with cam_erasing: exit %d", rc);
    }
    rp_test_same_weights_files(rp_test_path(fullc, "fit/last.safetensors"),
                               rp_test_path(partc, "fit/last.safetensors"));
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(rp_test_path(plain, "fit/last.safetensors"), &a, &na, &err), &err);
    RP_ASSERT_OK(rp_read_file(rp_test_path(fullc, "fit/last.safetensors"), &b, &nb, &err), &err);
    if (na == nb && !memcmp(a, b, na)) fail_msg("cam_erasing left the weights as the plain run's");
    free(a);
    free(b);
}

int main(void) {
    if (!rp_test_have_runpipe_and_fmnist()) return 1;
    /* for the run started with fork/exec (rp_test_runpipe sets it itself) */
    setenv("RUNPIPE_PLUGIN_PATH", rp_test_plugin_dir(), 1);
    snprintf(yaml_path, sizeof yaml_path, "%s",
             rp_test_write_pipeline(rp_test_tmpdir(), "resume.yaml",
                                    "name: resume-check\nseed: 5\n", stages));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_after_epoch_then_resume),
        cmocka_unit_test(test_sigint_then_resume),
        cmocka_unit_test(test_cam_erasing_stop_then_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
