/* End to end through the real binary and the real plugins: data.idx (the
 * Fashion-MNIST files of Debian's dataset-fashion-mnist) → inspect.dataset,
 * then the run directory is inspected, and the numbers are recomputed here
 * from the IDX files with zlib. Also: the other commands, exit codes, a
 * failing stage, --resume of a finished run. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"

#define IDX_DIR "/usr/share/datasets/fashion-mnist"
#define N 300

static char out_buf[1 << 18]; /* `schema --json` is over 64 KiB */

/* Run the binary with `args`; stdout+stderr in out_buf; the exit code. */
static int rp(const char *args) { return rp_test_runpipe(args, NULL, out_buf, sizeof out_buf); }

static cJSON *json_file(const char *path) {
    char *t = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(path, &t, NULL, &err), &err);
    cJSON *j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    return j;
}

static double scalar(cJSON *metrics, const char *stage, const char *name) {
    cJSON *v = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(metrics, stage), "scalars"), name);
    if (!v) fail_msg("metrics.json has no %s.%s", stage, name);
    return v->valuedouble;
}

static const char *pipeline(const char *dir) {
    static char path[1024];
    snprintf(path, sizeof path, "%s",
             rp_test_write_pipeline(dir, "p.yaml", "name: e2e\nseed: 11\nvars: {n: 300}\n",
                                    "  - id: fm\n"
                                    "    use: data.idx\n"
                                    "    with: {dir: " IDX_DIR ", limit: \"${vars.n}\"}\n"
                                    "  - id: look\n"
                                    "    use: inspect.dataset\n"
                                    "    in: {data: fm.train}\n"));
    return path;
}

static void test_run_and_inspect(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = pipeline(t);
    char args[4096], run[900];
    snprintf(run, sizeof run, "%s/run", t);
    snprintf(args, sizeof args, "check '%s'", p);
    assert_int_equal(rp(args), 0);
    assert_non_null(strstr(out_buf, "ok (2 stages, 1 cell checked)"));
    snprintf(args, sizeof args, "plan '%s'", p);
    assert_int_equal(rp(args), 0);
    assert_non_null(strstr(out_buf, "<- fm.train"));
    assert_non_null(strstr(out_buf, "limit: 300"));
    snprintf(args, sizeof args, "'%s' --out '%s' --threads 1", p, run);
    int rc = rp(args);
    if (rc != 0) fail_msg("run failed (%d): %s", rc, out_buf);
    assert_non_null(strstr(out_buf, "[2/2] look (inspect.dataset)"));

    /* run directory */
    const char *files[] = {"pipeline.resolved.yaml", "manifest.json", "metrics.json", "log.txt",
                           "status"};
    for (size_t i = 0; i < 5; i++) assert_true(rp_path_exists(rp_test_path(run, files[i])));
    char *y = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(rp_test_path(run, "pipeline.resolved.yaml"), &y, NULL, &err), &err);
    assert_non_null(strstr(y, "limit: 300"));  /* variable substituted */
    assert_non_null(strstr(y, "samples: 0"));  /* default filled */
    assert_non_null(strstr(y, "stats: true"));
    free(y);
    cJSON *m = json_file(rp_test_path(run, "manifest.json"));
    assert_int_equal(cJSON_GetObjectItem(m, "exit_status")->valueint, 0);
    assert_true(cJSON_GetObjectItem(m, "seed")->valuedouble == 11);
    assert_true(cJSON_GetObjectItem(m, "threads")->valuedouble == 1);
    int saw = 0;
    cJSON *pl;
    cJSON_ArrayForEach(pl, cJSON_GetObjectItem(m, "plugins")) {
        const char *name = cJSON_GetObjectItem(pl, "name")->valuestring;
        if (!strcmp(name, "datasets") || !strcmp(name, "inspect")) {
            saw++;
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pl, "loaded")));
            assert_int_equal(strlen(cJSON_GetObjectItem(pl, "sha256")->valuestring), 64);
        }
    }
    assert_int_equal(saw, 2);
    cJSON *st = cJSON_GetObjectItem(m, "stages");
    assert_int_equal(cJSON_GetArraySize(st), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(st, 1), "status")->valuestring,
                        "done");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(st, 1), "notes"),
                                    "samples")->valuedouble == N);
    cJSON_Delete(m);

    /* the numbers, recomputed from the IDX files */
    gzFile gi = gzopen(IDX_DIR "/train-images-idx3-ubyte.gz", "rb");
    gzFile gl = gzopen(IDX_DIR "/train-labels-idx1-ubyte.gz", "rb");
    assert_non_null(gi);
    assert_non_null(gl);
    unsigned char head[16], *px = malloc((size_t)N * 784), lab[N];
    assert_int_equal(gzread(gi, head, 16), 16);
    assert_int_equal(gzread(gi, px, N * 784), N * 784);
    assert_int_equal(gzread(gl, head, 8), 8);
    assert_int_equal(gzread(gl, lab, N), N);
    gzclose(gi);
    gzclose(gl);
    double sum = 0, sq = 0;
    int counts[10] = {0};
    for (size_t i = 0; i < (size_t)N * 784; i++) {
        double v = px[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    for (int i = 0; i < N; i++) counts[lab[i]]++;
    free(px);
    double mean = sum / (N * 784.0), sd = sqrt(sq / (N * 784.0) - mean * mean);
    cJSON *mj = json_file(rp_test_path(run, "metrics.json"));
    assert_true(scalar(mj, "look", "samples") == N);
    assert_true(scalar(mj, "look", "classes") == 10);
    assert_true(scalar(mj, "look", "channels") == 1);
    if (fabs(scalar(mj, "look", "mean.c0") - mean) > 1e-6 ||
        fabs(scalar(mj, "look", "std.c0") - sd) > 1e-6)
        fail_msg("mean/std %g/%g, expected %g/%g", scalar(mj, "look", "mean.c0"),
                 scalar(mj, "look", "std.c0"), mean, sd);
    cJSON *cc = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(mj, "look"), "tables"), "class_counts");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(cc, "rows"), 0)->valuestring,
                        "T-shirt/top");
    for (int c = 0; c < 10; c++)
        assert_int_equal(
            (int)cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cc, "values"), c), 0)
                ->valuedouble,
            counts[c]);
    cJSON_Delete(mj);

    /* --resume of a finished run: nothing runs again */
    snprintf(args, sizeof args, "'%s' --resume '%s'", p, run);
    assert_int_equal(rp(args), 0);
    assert_non_null(strstr(out_buf, "already done, skipped"));
    assert_null(strstr(out_buf, "[1/2]"));
}

static void test_stage_failure_exit_1(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = pipeline(t);
    char args[8192], run[900];
    snprintf(run, sizeof run, "%s/run", t);
    /* a folder that does not exist: found by the check, nothing runs */
    snprintf(args, sizeof args, "'%s' --set stages.fm.with.dir=/nonexistent/fm --out '%s'", p,
             run);
    assert_int_equal(rp(args), 2);
    assert_non_null(strstr(out_buf, "error: stage 'fm' (data.idx): 'dir': '/nonexistent/fm' does "
                                    "not exist"));
    /* a truncated file (its header is fine): the stage fails when it runs */
    char cmd[6000], bad[1000];
    snprintf(bad, sizeof bad, "%s/trunc", t);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s'/* '%s/' && f=$(ls '%s'/train-images*) && "
             "head -c 1000 \"$f\" > '%s/x' && mv '%s/x' \"$f\"",
             bad, IDX_DIR, bad, bad, bad, bad);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof args, "'%s' --set stages.fm.with.dir='%s' --out '%s'", p, bad, run);
    assert_int_equal(rp(args), 1);
    /* located at the stage, prefixed with it, the file named */
    assert_non_null(strstr(out_buf, "p.yaml:6:5: error: stage 'fm' (data.idx): "));
    assert_non_null(strstr(out_buf, "trunc/train-images"));
    cJSON *m = json_file(rp_test_path(run, "manifest.json"));
    assert_int_equal(cJSON_GetObjectItem(m, "exit_status")->valueint, 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "stages"), 1), "status")
            ->valuestring,
        "not run");
    cJSON_Delete(m);
}

/* SIGINT: the run stops at a step boundary, writes its manifest and status
 * as interrupted, and exits 1. The signal is sent as soon as the run
 * directory exists (the handler is installed before it is made); the whole
 * Fashion-MNIST training set takes far longer to load and inspect. */
static void test_sigint(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    char yaml[900], run[900];
    const char *bin = rp_test_runpipe_bin();
    snprintf(run, sizeof run, "%s/run", t);
    snprintf(yaml, sizeof yaml, "%s",
             rp_test_write_pipeline(t, "big.yaml", "name: big\n",
                                    "  - id: fm\n"
                                    "    use: data.idx\n"
                                    "    with: {dir: " IDX_DIR "}\n"
                                    "  - id: look\n"
                                    "    use: inspect.dataset\n"
                                    "    in: {data: fm.train}\n"
                                    "  - id: again\n"
                                    "    use: inspect.dataset\n"
                                    "    in: {data: fm.train}\n"));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(99);
        execl(bin, bin, "--quiet", "--out", run, yaml, (char *)NULL);
        _exit(98);
    }
    for (int i = 0; i < 2000 && !rp_path_exists(run); i++) usleep(1000);
    assert_true(rp_path_exists(run));
    kill(pid, SIGINT);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    cJSON *m = json_file(rp_test_path(run, "manifest.json"));
    assert_string_equal(cJSON_GetObjectItem(m, "status")->valuestring, "interrupted");
    assert_int_equal(cJSON_GetObjectItem(m, "exit_status")->valueint, 1);
    /* the last stage never started */
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "stages"), 2), "status")
            ->valuestring,
        "not run");
    cJSON_Delete(m);
    char *s = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_read_file(rp_test_path(run, "status"), &s, NULL, &err), &err);
    assert_memory_equal(s, "interrupted: ", 13);
    free(s);
    assert_true(rp_path_exists(rp_test_path(run, "log.txt")));
}

/* A variable error and a stage's parameter error in one file: `check`
 * reports both, each at its node (the front end keeps checking the stages
 * of a file whose variables failed). */
static void test_config_and_stage_errors_together(void **state) {
    (void)state;
    const char *p = rp_test_write_pipeline(rp_test_tmpdir(), "two.yaml", "name: two\nvars: {n: 30}\n",
                                           "  - id: fm\n"
                                           "    use: data.idx\n"
                                           "    with: {dir: " IDX_DIR ", limit: \"${vars.nn}\"}\n"
                                           "  - id: look\n"
                                           "    use: inspect.dataset\n"
                                           "    in: {data: fm.train}\n"
                                           "    with: {samplez: 3}\n");
    char args[1200];
    snprintf(args, sizeof args, "check '%s'", p);
    assert_int_equal(rp(args), 2);
    assert_non_null(strstr(out_buf, "two.yaml:7:59: error: unknown variable 'vars.nn'"));
    assert_non_null(strstr(out_buf, "two.yaml:11:12: error: stage 'look' (inspect.dataset): 'samplez': unknown parameter"));
    assert_non_null(strstr(out_buf, "samplez"));
    assert_non_null(strstr(out_buf, "2 errors"));
}

static void test_commands_and_usage(void **state) {
    (void)state;
    assert_int_equal(rp("--version"), 0);
    assert_string_equal(out_buf, "runpipe " RUNPIPE_VERSION "\n");
    assert_int_equal(rp("--help"), 0);
    assert_non_null(strstr(out_buf, "--resume DIR"));
    assert_int_equal(rp("stages"), 0);
    assert_non_null(strstr(out_buf, "inspect.dataset"));
    assert_non_null(strstr(out_buf, "layer.conv2d"));
    assert_int_equal(rp("describe inspect.dataset"), 0);
    assert_non_null(strstr(out_buf, "samples"));
    assert_non_null(strstr(out_buf, "data         dataset"));
    assert_int_equal(rp("describe inspect.datset"), 2);
    assert_non_null(strstr(out_buf, "did you mean 'inspect.dataset'?"));
    assert_int_equal(rp("schema --json"), 0);
    cJSON *j = cJSON_Parse(out_buf);
    assert_non_null(j);
    cJSON_Delete(j);
    assert_int_equal(rp(""), 2);
    assert_int_equal(rp("chek x.yaml"), 2);
    assert_non_null(strstr(out_buf, "did you mean 'check'?"));
    assert_int_equal(rp("run /nonexistent.yaml"), 2);
    assert_int_equal(rp("--threads zero x.yaml"), 2);
    assert_int_equal(rp("--bogus"), 2);
    assert_int_equal(rp("check"), 2);
    assert_int_equal(rp("schema"), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_inspect),
        cmocka_unit_test(test_stage_failure_exit_1),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_commands_and_usage),
        cmocka_unit_test(test_config_and_stage_errors_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
