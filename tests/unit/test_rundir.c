/* Run directories: fresh names, atomic files (no temporaries left), manifest
 * content, metrics.json, status files, matrix cells, --resume skipping done
 * cells and retrying failed ones, aggregate mean ± sample std. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "config/diag.h"
#include "harness.h"
#include "run/pipeline.h"
#include "host/registry.h"
#include "run/rundir.h"
#include "run/status.h"
#include "config/schema.h"

static char fixdir[1024], schemadir[1200];

/* Recursively count files whose name contains ".tmp." */
static int count_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".tmp.")) n++;
        if (rp_is_dir(p)) n += count_tmp(p);
    }
    closedir(d);
    return n;
}

static char *slurp(const char *path) {
    char *data = NULL;
    rp_error err;
    if (rp_read_file(path, &data, NULL, &err) != RP_OK) fail_msg("%s", err.msg);
    return data;
}

static cJSON *read_json(const char *path) {
    char *t = slurp(path);
    cJSON *j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    return j;
}

typedef struct loaded {
    rp_config *cfg;
    rp_plan **plans;
} loaded;

static loaded load(const char *text) {
    loaded l = {0};
    rp_diag d;
    rp_diag_init(&d);
    if (rp_config_load_string(text, "p.yaml", NULL, &l.cfg, &d) != RP_OK) {
        char *r = rp_diag_render(&d, 0);
        fail_msg("config: %s", r);
    }
    l.plans = calloc(l.cfg->n_cells, sizeof *l.plans);
    for (size_t i = 0; i < l.cfg->n_cells; i++) rp_plan_build(l.cfg->cells[i].doc, &l.plans[i], &d);
    if (rp_diag_count(&d)) {
        char *r = rp_diag_render(&d, 0);
        fail_msg("plan: %s", r);
    }
    rp_diag_release(&d);
    return l;
}

static void unload(loaded *l) {
    for (size_t i = 0; i < l->cfg->n_cells; i++) rp_plan_free(l->plans[i]);
    free(l->plans);
    rp_config_free(l->cfg);
}

static int run(loaded *l, const char *out, const char *resume, char **dir, rp_error *err) {
    char *argv[] = {"runpipe", "p.yaml", NULL};
    struct rp_run_opts o = {.out_dir = out, .resume_dir = resume, .threads = 1, .argc = 2,
                            .argv = argv, .no_cache = 1};
    return rp_run_all(l->cfg, l->plans, &o, dir, err);
}

static void test_rundir_make(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    rp_error err;
    char *a, *b, *c;
    const char *base = rp_test_path(t, "r");
    RP_ASSERT_OK(rp_rundir_make(base, "x", 0, &a, &err), &err);
    assert_string_equal(a, base);
    /* empty existing folder: used */
    RP_ASSERT_OK(rp_rundir_make(base, "x", 0, &b, &err), &err);
    assert_string_equal(b, base);
    free(b);
    rp_test_write(rp_test_path(a, "f"), "x");
    /* --out on a folder with files: an error naming --resume and --force-new */
    b = (char *)1;
    assert_int_equal(rp_rundir_make(base, "x", 0, &b, &err), RP_ERR_IO);
    assert_null(b);
    char want[1200];
    snprintf(want, sizeof want,
             "--out %s: the folder exists and is not empty (continue that run with 'runpipe "
             "--resume %s', or add --force-new for a fresh folder next to it)",
             base, base);
    assert_string_equal(err.msg, want);
    /* --force-new: the next free name */
    RP_ASSERT_OK(rp_rundir_make(base, "x", 1, &b, &err), &err);
    assert_non_null(strstr(b, "/r-2"));
    RP_ASSERT_OK(rp_rundir_make(base, "x", 1, &c, &err), &err);
    assert_non_null(strstr(c, "/r-3")); /* claimed even though r-2 is empty */
    assert_true(rp_is_dir(c));
    free(a);
    free(b);
    free(c);
}

static void test_mean_std(void **state) {
    (void)state;
    double x[] = {1, 2, 3, 4}, m, s;
    rp_mean_std(x, 4, &m, &s);
    assert_true(fabs(m - 2.5) < 1e-12);
    assert_true(fabs(s - sqrt(5.0 / 3.0)) < 1e-12); /* sample std (n-1) */
    rp_mean_std(x, 1, &m, &s);
    assert_true(m == 1 && isnan(s));
}

static void test_single_run_files(void **state) {
    (void)state;
    loaded l = load("runpipe: 1\n"
                    "name: one\n"
                    "seed: 5\n"
                    "stages:\n"
                    "  - id: a\n"
                    "    use: fx.source\n"
                    "    with: {value: 3}\n"
                    "  - id: s\n"
                    "    use: fx.sink\n"
                    "    in: {metrics: a}\n");
    const char *out = rp_test_path(rp_test_tmpdir(), "run");
    char *dir = NULL;
    rp_error err;
    assert_int_equal(run(&l, out, NULL, &dir, &err), 0);
    assert_string_equal(dir, out);
    assert_int_equal(count_tmp(dir), 0);
    /* resolved pipeline: defaults filled */
    char *y = slurp(rp_test_path(dir, "pipeline.resolved.yaml"));
    assert_non_null(strstr(y, "mode: sum"));
    assert_non_null(strstr(y, "marker:"));
    free(y);
    char *st = slurp(rp_test_path(dir, "status"));
    /* a finished run's status is just the state (the process, pid and
       host, is named only while it runs) */
    assert_string_equal(st, "done\n");
    free(st);
    char *log = slurp(rp_test_path(dir, "log.txt"));
    assert_non_null(strstr(log, "INFO  [1/2] a (fx.source)"));
    assert_non_null(strstr(log, "DEBUG a (fx.source) done in"));
    free(log);
    cJSON *m = read_json(rp_test_path(dir, "manifest.json"));
    assert_string_equal(cJSON_GetObjectItem(m, "runpipe")->valuestring, RUNPIPE_VERSION);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "command"), 1)->valuestring,
                        "p.yaml");
    assert_true(cJSON_GetObjectItem(m, "seed")->valuedouble == 5);
    assert_true(cJSON_GetObjectItem(m, "threads")->valuedouble == 1);
    assert_int_equal(cJSON_GetObjectItem(m, "exit_status")->valueint, 0);
    assert_string_equal(cJSON_GetObjectItem(m, "status")->valuestring, "done");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "error")));
    const char *start = cJSON_GetObjectItem(m, "start")->valuestring;
    assert_int_equal(strlen(start), 20); /* 2026-01-02T03:04:05Z */
    assert_true(start[4] == '-' && start[10] == 'T' && start[19] == 'Z');
    assert_non_null(cJSON_GetObjectItem(m, "end")->valuestring);
    assert_true(strlen(cJSON_GetObjectItem(m, "host")->valuestring) > 0);
    cJSON *pl = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "plugins"), 0);
    assert_string_equal(cJSON_GetObjectItem(pl, "name")->valuestring, "fixture");
    assert_string_equal(cJSON_GetObjectItem(pl, "version")->valuestring, "2.3.4");
    char hex[65];
    RP_ASSERT_OK(rp_sha256_file(cJSON_GetObjectItem(pl, "path")->valuestring, hex, &err), &err);
    assert_string_equal(cJSON_GetObjectItem(pl, "sha256")->valuestring, hex);
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "stages"), 0);
    assert_string_equal(cJSON_GetObjectItem(s0, "id")->valuestring, "a");
    assert_string_equal(cJSON_GetObjectItem(s0, "status")->valuestring, "done");
    assert_true(cJSON_GetObjectItem(s0, "seconds")->valuedouble >= 0);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "notes"), "answer")->valuedouble == 42);
    cJSON_Delete(m);
    cJSON *mj = read_json(rp_test_path(dir, "metrics.json"));
    cJSON *sums = cJSON_GetObjectItem(cJSON_GetObjectItem(mj, "s"), "scalars");
    assert_true(cJSON_GetObjectItem(sums, "sum")->valuedouble == 3);
    cJSON *tab = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(mj, "a"), "tables"),
                                     "tab");
    assert_true(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(tab, "values"), 0), 1)
                    ->valuedouble == 2.5);
    cJSON_Delete(mj);
    free(dir);
    unload(&l);
}

static void test_failed_run_manifest(void **state) {
    (void)state;
    loaded l = load("runpipe: 1\n"
                    "name: bad\n"
                    "stages:\n"
                    "  - id: a\n"
                    "    use: fx.source\n"
                    "  - id: s\n"
                    "    use: fx.sink\n"
                    "    in: {metrics: a}\n"
                    "    with: {fail: true}\n");
    const char *out = rp_test_path(rp_test_tmpdir(), "run");
    char *dir = NULL;
    rp_error err;
    assert_int_equal(run(&l, out, NULL, &dir, &err), 1);
    assert_string_equal(err.msg, "stage 's' (fx.sink): failing as asked");
    assert_int_equal(err.line, 6);
    char *st = slurp(rp_test_path(dir, "status"));
    assert_string_equal(st, "failed: p.yaml:6:5: stage 's' (fx.sink): failing as asked\n");
    free(st);
    cJSON *m = read_json(rp_test_path(dir, "manifest.json"));
    assert_int_equal(cJSON_GetObjectItem(m, "exit_status")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(m, "status")->valuestring, "failed");
    cJSON *e = cJSON_GetObjectItem(m, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "stage")->valuestring, "s");
    assert_int_equal(cJSON_GetObjectItem(e, "line")->valueint, 6);
    cJSON_Delete(m);
    /* the metrics the first stage produced are still recorded */
    cJSON *mj = read_json(rp_test_path(dir, "metrics.json"));
    assert_non_null(cJSON_GetObjectItem(mj, "a"));
    cJSON_Delete(mj);
    assert_int_equal(count_tmp(dir), 0);
    free(dir);
    unload(&l);
}

static int count_lines(const char *path) {
    if (!rp_path_exists(path)) return 0;
    char *t = slurp(path);
    int n = 0;
    for (char *c = t; *c; c++) n += *c == '\n';
    free(t);
    return n;
}

/* Matrix with aggregate over seed, one failing axis value, then --resume. */
static void test_matrix_resume_aggregate(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    char text[2048];
    snprintf(text, sizeof text,
             "runpipe: 1\n"
             "name: mx\n"
             "matrix: {value: [10, 20], flaky: [false, true], seed: [1, 2, 3]}\n"
             "aggregate: {over: [seed]}\n"
             "stages:\n"
             "  - id: a\n"
             "    use: fx.source\n"
             "    with: {value: \"${matrix.value}\", marker: '%s/m-${matrix.flaky}',\n"
             "           fail_unless_resuming: \"${matrix.flaky}\"}\n",
             t);
    loaded l = load(text);
    assert_int_equal(l.cfg->n_cells, 12);
    char *dir = NULL;
    rp_error err;
    const char *out = rp_test_path(t, "run");
    assert_int_equal(run(&l, out, NULL, &dir, &err), 1);
    assert_string_equal(err.msg, "stage 'a' (fx.source): failing as asked");
    assert_int_equal(count_lines(rp_test_path(t, "m-false")), 6);
    assert_int_equal(count_lines(rp_test_path(t, "m-true")), 6);
    char buf[256];
    size_t n_failed = 0;
    for (size_t i = 0; i < l.cfg->n_cells; i++) {
        char *cd = malloc(strlen(dir) + strlen(l.cfg->cells[i].dirname) + 2);
        sprintf(cd, "%s/%s", dir, l.cfg->cells[i].dirname);
        assert_true(rp_status_read(cd, buf, sizeof buf));
        const char *flaky = rp_node_str(rp_node_get(l.cfg->cells[i].values, "flaky"));
        if (!strcmp(flaky, "true")) {
            assert_memory_equal(buf, "failed: ", 8);
            n_failed++;
        } else {
            assert_string_equal(buf, "done");
        }
        free(cd);
    }
    assert_int_equal(n_failed, 6);
    assert_true(rp_path_exists(rp_test_path(dir, "aggregate.csv")));
    /* resume: done cells are skipped, failed ones run again (and pass) */
    char *dir2 = NULL;
    assert_int_equal(run(&l, NULL, dir, &dir2, &err), 0);
    assert_string_equal(dir2, dir);
    assert_int_equal(count_lines(rp_test_path(t, "m-false")), 6); /* not re-run */
    assert_int_equal(count_lines(rp_test_path(t, "m-true")), 12); /* re-run once each */
    assert_int_equal(count_tmp(dir), 0);
    cJSON *m = read_json(rp_test_path(dir, "manifest.json"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m, "cells")), 12);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "resumed")));
    cJSON_Delete(m);
    /* aggregate: 4 groups (value x flaky), a.seed over seeds 1,2,3 → mean 2,
     * sample std 1; a.value constant per group → std 0 */
    char *csv = slurp(rp_test_path(dir, "aggregate.csv"));
    assert_memory_equal(csv, "kind,cell,value,flaky,seed,status,a.value,a.seed\n", 48);
    int cells = 0, means = 0, stds = 0;
    for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "cell,", 5)) cells++;
        if (!strncmp(line, "mean,", 5)) {
            means++;
            assert_non_null(strstr(line, ",*,3 done,"));
            assert_true(!strcmp(line + strlen(line) - 5, ",10,2") ||
                        !strcmp(line + strlen(line) - 5, ",20,2"));
        }
        if (!strncmp(line, "std,", 4)) {
            stds++;
            assert_string_equal(line + strlen(line) - 4, ",0,1");
        }
    }
    assert_int_equal(cells, 12);
    assert_int_equal(means, 4);
    assert_int_equal(stds, 4);
    free(csv);
    char *md = slurp(rp_test_path(dir, "aggregate.md"));
    assert_non_null(strstr(md, "| 10 | false | 3 | 10 ± 0 | 2 ± 1 |"));
    assert_non_null(strstr(md, "| 20 | true | 3 | 20 ± 0 | 2 ± 1 |"));
    free(md);
    free(dir);
    free(dir2);
    unload(&l);
}

static void test_resume_missing_dir(void **state) {
    (void)state;
    loaded l = load("runpipe: 1\nstages:\n  - id: a\n    use: fx.source\n");
    char *dir = NULL;
    rp_error err;
    assert_int_equal(run(&l, NULL, "/nonexistent/run", &dir, &err), 1);
    assert_string_equal(err.msg, "--resume /nonexistent/run: no such run directory");
    unload(&l);
}

int main(void) {
    snprintf(fixdir, sizeof fixdir, "%s/tests/plugins", rp_test_build());
    snprintf(schemadir, sizeof schemadir, "%s/tests/fixtures/plugins/schemas", rp_test_src());
    rp_schema_dirs_init();
    rp_schema_add_dir(schemadir);
    rp_log_set_level(RP_LOG_WARN);
    rp_error err;
    char p[1200];
    snprintf(p, sizeof p, "%s/fx_good.so", fixdir);
    if (rp_plugin_load_file(p, &err) != RP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rundir_make),
        cmocka_unit_test(test_mean_std),
        cmocka_unit_test(test_single_run_files),
        cmocka_unit_test(test_failed_run_manifest),
        cmocka_unit_test(test_matrix_resume_aggregate),
        cmocka_unit_test(test_resume_missing_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rp_plugins_unload_all();
    return rc;
}
