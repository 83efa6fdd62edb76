/* Weights do not depend on the thread count, through the real binary: the
 * same pipeline (Fashion-MNIST subset, a CNN with batch norm, dropout and a
 * linear head, label-smoothed cross-entropy, Adam with weight decay) run with
 * --threads 1, 2, 3 and 4 (and 3 with OMP_DYNAMIC=true, OMP_SCHEDULE=guided)
 * ends with the same weights, byte for byte, and the same per-epoch history
 * (losses and accuracies: the metric sums). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../harness.h"

static const char *stages =
    "  - id: fmnist\n"
    "    use: data.idx\n"
    "    with: {limit: 320}\n"
    "  - id: net\n"
    "    use: model.build\n"
    "    with:\n"
    "      input: [1, 28, 28]\n"
    "      layers:\n"
    "        - {conv2d: {out: 16, kernel: 3, padding: 1}}\n"
    "        - {batchnorm2d: {}}\n"
    "        - {relu: {}}\n"
    "        - {maxpool2d: {kernel: 2}}\n"
    "        - {conv2d: {out: 32, kernel: 3, stride: 2}}\n"
    "        - {relu: {}}\n"
    "        - {flatten: {}}\n"
    "        - {dropout: {p: 0.25}}\n"
    "        - {linear: {out: 10}}\n"
    "  - id: loss\n"
    "    use: loss\n"
    "    with: {loss: {cross_entropy: {label_smoothing: 0.1}}}\n"
    "  - id: fit\n"
    "    use: train\n"
    "    in: {model: net, loss: loss, train: fmnist.train, val: fmnist.test}\n"
    "    with:\n"
    "      epochs: 2\n"
    "      batch_size: 40\n"
    "      optimizer: {adam: {lr: 0.002, weight_decay: 0.0001}}\n"
    "      val_limit: 100\n";

static char yaml_path[700];

static char *slurp(const char *path) {
    char *t = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_read_file(path, &t, NULL, &err), &err);
    return t;
}

/* history.csv without its last column (seconds). */
static char *history(const char *run_dir) {
    char *t = slurp(rp_test_path(run_dir, "fit/history.csv"));
    char *w = t;
    for (char *line = t; *line;) {
        char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
        char *comma = end;
        while (comma > line && *comma != ',')
            comma--;
        size_t keep = (size_t)(comma > line ? comma - line : end - line);
        memmove(w, line, keep);
        w += keep;
        if (nl) *w++ = '\n';
        line = nl ? nl + 1 : end;
    }
    *w = 0;
    return t;
}

/* One run at `threads` threads (env: extra environment, or NULL). */
static void run(int threads, const char *env, char *out, size_t size) {
    const char *dir = rp_test_tmpdir();
    char args[1600], log[700];
    snprintf(out, size, "%s/t%d%s", dir, threads, env ? "env" : "");
    snprintf(log, sizeof log, "%s.log", out);
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads %d", yaml_path, out, threads);
    int rc = rp_test_runpipe_env(env, args, log, NULL, 0);
    if (rc != 0) {
        rp_test_show_log(log, 20);
        fail_msg("run with %d threads: exit %d", threads, rc);
    }
}

static void test_threads_same_weights(void **state) {
    (void)state;
    char ref[700], other[700];
    run(1, NULL, ref, sizeof ref);
    char *hist = history(ref);
    assert_non_null(strstr(hist, "epoch,train_loss,train_acc,val_loss,val_acc,lr\n1,"));
    assert_non_null(strstr(hist, "\n2,"));
    /* 2, 3, 4 threads; then 3 with libgomp free to give fewer threads and
     * another default schedule */
    for (int t = 2; t <= 5; t++) {
        run(t < 5 ? t : 3, t < 5 ? NULL : "OMP_DYNAMIC=true OMP_SCHEDULE=guided", other,
            sizeof other);
        rp_test_same_weights_files(rp_test_path(ref, "fit/last.safetensors"),
                                 rp_test_path(other, "fit/last.safetensors"));
        char *h = history(other);
        assert_string_equal(hist, h);
        free(h);
    }
    free(hist);
}

int main(void) {
    if (!rp_test_have_runpipe_and_fmnist()) return 1;
    snprintf(yaml_path, sizeof yaml_path, "%s",
             rp_test_write_pipeline(rp_test_tmpdir(), "threads.yaml",
                                    "name: threads-check\nseed: 3\n", stages));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_same_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
