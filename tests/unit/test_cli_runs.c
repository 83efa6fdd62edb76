/* The command line around run folders: concurrent runs never share a folder,
 * --out on a used folder is an error (--force-new picks a fresh one),
 * --resume RUNDIR without FILE replays the stored pipeline and --set (and
 * refuses a different one with a diff unless --force), log.txt is streamed,
 * `runpipe runs` tells killed runs from running ones, unknown options and
 * --set names get a did-you-mean, `runpipe help`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"
#include "run/rundir.h"
#include "run/status.h"
#include "runpipe/io.h"
#include "runpipe/log.h"

static const char tiny[] = "runpipe: 1\n"
                           "name: tiny\n"
                           "vars: {n: 8}\n"
                           "stages:\n"
                           "  - id: d\n"
                           "    use: data.synthetic\n"
                           "    with: {train_count: \"${vars.n}\", test_count: 4, size: 8}\n";

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char *b = calloc(1, 1 << 20);
    assert_non_null(b);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

static const char *write_tiny(const char *dir) {
    const char *p = rp_test_path(dir, "p.yaml");
    rp_test_write(p, tiny);
    return p;
}

static void test_concurrent_default_folders(void **state) {
    (void)state;
    enum { N = 8 };
    const char *dir = rp_test_tmpdir();
    write_tiny(dir);
    char old[4096];
    assert_non_null(getcwd(old, sizeof old));
    /* resolved (and cached) against the source root before the chdir */
    (void)rp_test_runpipe_bin();
    (void)rp_test_plugin_dir();
    assert_int_equal(chdir(dir), 0);
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            char log[64];
            snprintf(log, sizeof log, "out-%d.log", i);
            _exit(rp_test_runpipe("p.yaml --quiet", log, NULL, 0));
        }
    }
    int failed = 0;
    for (int i = 0; i < N; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    /* every run in its own folder: N folders, each with one run.json whose
       status is done */
    char out[8192];
    assert_int_equal(rp_test_runpipe("runs runs --json", "runs.log", out, sizeof out), 0);
    assert_int_equal(chdir(old), 0);
    assert_int_equal(failed, 0);
    int folders = 0, done = 0;
    for (const char *p = out; (p = strstr(p, "\"name\":")); p++) folders++;
    for (const char *p = out; (p = strstr(p, "\"status\":\t\"done\"")); p++) done++;
    if (folders != N || done != N) fail_msg("%d folders, %d done:\n%s", folders, done, out);
}

static void test_out_taken(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char args[2048], out[4096];
    const char *p = write_tiny(dir);
    const char *o = rp_test_path(dir, "o");
    snprintf(args, sizeof args, "'%s' --quiet --out '%s'", p, o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    /* again: an error, nothing written elsewhere */
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 1);
    char want[2048];
    snprintf(want, sizeof want,
             "--out %s: the folder exists and is not empty (continue that run with 'runpipe "
             "--resume %s', or add --force-new for a fresh folder next to it)",
             o, o);
    if (!strstr(out, want)) fail_msg("got: %s", out);
    assert_false(rp_path_exists(rp_test_path(dir, "o-2")));
    snprintf(args, sizeof args, "'%s' --quiet --out '%s' --force-new", p, o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    assert_true(rp_path_exists(rp_test_path(rp_test_path(dir, "o-2"), "status")));
}

static void test_resume_without_file(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    char args[2048], out[8192];
    const char *p = write_tiny(dir);
    char o[1024];
    snprintf(o, sizeof o, "%s", rp_test_path(dir, "run"));
    snprintf(args, sizeof args, "'%s' --out '%s' --set vars.n=6", p, o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    /* the status file says done; mark it failed so the resume runs it again */
    char st[1100];
    snprintf(st, sizeof st, "%s/status", o);
    rp_test_write(st, "failed: test\n");
    snprintf(args, sizeof args, "--resume '%s'", o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    if (!strstr(out, "and 1 stored --set")) fail_msg("%s", out);
    char *y = slurp(rp_test_path(o, "pipeline.resolved.yaml"));
    assert_non_null(strstr(y, "train_count: 6")); /* the stored --set, replayed */
    free(y);
    /* log.txt: appended, both runs in it */
    char *log = slurp(rp_test_path(o, "log.txt"));
    const char *first = strstr(log, "run directory: ");
    assert_non_null(first);
    assert_non_null(strstr(first + 1, "(resuming)"));
    free(log);

    /* another --set or another file: refused with a diff; --force continues */
    snprintf(args, sizeof args, "--resume '%s' --set vars.n=7", o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 2);
    if (!strstr(out, "the --set overrides differ from the stored ones:\n  - --set vars.n=6\n  + "
                     "--set vars.n=7\n"))
        fail_msg("%s", out);
    rp_test_write(p, "runpipe: 1\nname: tiny\nvars: {n: 8}\nstages:\n  - id: d\n"
                     "    use: data.synthetic\n"
                     "    with: {train_count: \"${vars.n}\", test_count: 5, size: 8}\n");
    snprintf(args, sizeof args, "'%s' --resume '%s'", p, o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 2);
    if (!strstr(out, "differs from the pipeline the run started with:\n  line 7: -     with: "
                     "{train_count: \"${vars.n}\", test_count: 4, size: 8}\n  line 7: +     "
                     "with: {train_count: \"${vars.n}\", test_count: 5, size: 8}\n"))
        fail_msg("%s", out);
    rp_test_write(st, "failed: test\n");
    snprintf(args, sizeof args, "'%s' --resume '%s' --force --set vars.n=6", p, o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    y = slurp(rp_test_path(o, "pipeline.resolved.yaml"));
    assert_non_null(strstr(y, "test_count: 5"));
    free(y);
    /* what --force ran is what the next --resume replays */
    rp_test_write(st, "failed: test\n");
    snprintf(args, sizeof args, "--resume '%s'", o);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    y = slurp(rp_test_path(o, "pipeline.resolved.yaml"));
    assert_non_null(strstr(y, "test_count: 5"));
    free(y);
    /* a folder that is not a run folder */
    snprintf(args, sizeof args, "--resume '%s'", dir);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "no run.json in that folder"));
}

static void test_runs_killed(void **state) {
    (void)state;
    const char *dir = rp_test_tmpdir();
    /* a pid that is surely gone: a child that has been reaped */
    pid_t k = fork();
    if (k == 0) _exit(0);
    waitpid(k, NULL, 0);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        char sub[1100];
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        mkdir(sub, 0777);
        char st[600];
        if (i == 0) snprintf(st, sizeof st, "running\npid %ld host %s\n", (long)k, host);
        else if (i == 1) snprintf(st, sizeof st, "running\npid %ld host %s\n", (long)getpid(), host);
        else snprintf(st, sizeof st, "interrupted: Ctrl-C\npid 1 host %s\n", host);
        rp_test_write(rp_test_path(sub, "status"), st);
    }
    char buf[32];
    assert_string_equal(rp_run_state(rp_test_path(dir, "a"), buf, sizeof buf), "killed");
    assert_string_equal(rp_run_state(rp_test_path(dir, "b"), buf, sizeof buf), "running");
    assert_string_equal(rp_run_state(rp_test_path(dir, "c"), buf, sizeof buf), "interrupted");
    char args[1200], out[4096];
    snprintf(args, sizeof args, "runs '%s'", dir);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "NAME  START"));
    const char *a = strstr(out, "\na ");
    assert_non_null(a);
    assert_non_null(strstr(a, "killed"));
}

/* log.txt holds each line as soon as it is logged (a kill -9 keeps it) */
static void test_log_streamed(void **state) {
    (void)state;
    const char *p = rp_test_path(rp_test_tmpdir(), "log.txt");
    rp_error e;
    RP_ASSERT_OK(rp_log_open_file(p, 0, &e), &e);
    enum rp_log_level lv = rp_log_get_level();
    rp_log_set_level(RP_LOG_ERROR);
    rp_info("first line");
    char *t = slurp(p);
    assert_non_null(strstr(t, "first line\n"));
    free(t);
    RP_ASSERT_OK(rp_log_close_file(&e), &e);
    RP_ASSERT_OK(rp_log_open_file(p, 1, &e), &e);
    rp_info("second line");
    t = slurp(p);
    assert_non_null(strstr(t, "first line\n"));
    assert_non_null(strstr(t, "second line\n"));
    free(t);
    RP_ASSERT_OK(rp_log_close_file(&e), &e);
    rp_log_set_level(lv);
}

static void test_usage(void **state) {
    (void)state;
    char out[8192], args[1200];
    assert_int_equal(rp_test_runpipe("--sed vars.n=1 x.yaml", NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "runpipe: unknown option '--sed' (did you mean '--set'?)"));
    assert_int_equal(rp_test_runpipe("help", NULL, out, sizeof out), 0);
    char help[8192];
    assert_int_equal(rp_test_runpipe("--help", NULL, help, sizeof help), 0);
    assert_string_equal(out, help);
    const char *p = write_tiny(rp_test_tmpdir());
    snprintf(args, sizeof args, "check '%s' --set vars.nn=1", p);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "--set 'vars.nn=1': no variable 'nn' (did you mean 'n'?)"));
    snprintf(args, sizeof args, "check '%s' --set +vars.nn=1", p);
    assert_int_equal(rp_test_runpipe(args, NULL, out, sizeof out), 0);
    /* an unambiguous short name */
    assert_int_equal(rp_test_runpipe("describe focal", NULL, out, sizeof out), 0);
    assert_int_equal(strncmp(out, "loss.focal — ", 14), 0);
    assert_int_equal(rp_test_runpipe("describe idx", NULL, out, sizeof out), 0);
    assert_int_equal(strncmp(out, "data.idx — ", 11), 0);
    static char big[1 << 16];
    assert_int_equal(rp_test_runpipe("stages --json", NULL, big, sizeof big), 0);
    assert_int_equal(big[0], '[');
    assert_non_null(strstr(big, "\"name\":\t\"loss.focal\",\n\t\t\"kind\":\t\"loss\""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_default_folders),
        cmocka_unit_test(test_out_taken),
        cmocka_unit_test(test_resume_without_file),
        cmocka_unit_test(test_runs_killed),
        cmocka_unit_test(test_log_streamed),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
