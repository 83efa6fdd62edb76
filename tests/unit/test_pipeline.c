/* Plan, check and run: wiring errors with locations, type mismatches,
 * forward references, multi ports, fail-fast (★ nothing runs when the last
 * stage has an error — proved with a marker-writing fixture stage through
 * the real binary), stage failures located, SIGINT before a stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diag.h"
#include "harness.h"
#include "run/pipeline.h"
#include "host/registry.h"
#include "config/schema.h"

static char fixdir[1024], schemadir[1200], gooddir[800];

static rp_node *parse(const char *text) {
    rp_node *n = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_node_parse_string(text, "p.yaml", &n, &err), &err);
    return n;
}

/* Build a plan; return the diag (caller releases). */
static rp_plan *plan_of(rp_node *doc, rp_diag *d) {
    rp_diag_init(d);
    rp_plan *p = NULL;
    rp_plan_build(doc, &p, d);
    return p;
}

static const rp_error *find_err(const rp_diag *d, int line, int col) {
    for (size_t i = 0; i < d->n; i++)
        if (d->e[i].line == line && d->e[i].col == col) return &d->e[i];
    char all[4096] = "";
    size_t u = 0;
    for (size_t i = 0; i < d->n && u < sizeof all - 200; i++)
        u += (size_t)snprintf(all + u, sizeof all - u, "\n  %d:%d: %s", d->e[i].line,
                              d->e[i].col, d->e[i].msg);
    fail_msg("no error at %d:%d; errors:%s", line, col, all);
    return NULL;
}

static void test_good_plan(void **state) {
    (void)state;
    rp_node *doc = parse("stages:\n"
                         "  - id: a\n"
                         "    use: fx.source\n"
                         "    with: {value: 2}\n"
                         "  - id: b\n"
                         "    use: fx.source\n"
                         "  - id: s\n"
                         "    use: fx.sink\n"
                         "    in: {metrics: a, extra: [b.metrics, a], files: b.files}\n"
                         "  - id: t\n"
                         "    use: fx.sink\n"
                         "    in: {metrics: s.metrics, extra: b}\n");
    rp_diag d;
    rp_plan *p = plan_of(doc, &d);
    assert_int_equal(rp_diag_count(&d), 0);
    assert_int_equal(p->n, 4);
    const rp_plan_stage *s = &p->st[2];
    assert_string_equal(s->id, "s");
    assert_int_equal(s->inputs[0].n, 1);
    assert_int_equal(s->inputs[0].src[0].stage, 0);
    assert_string_equal(s->inputs[0].src[0].label, "a.metrics");
    assert_int_equal(s->inputs[1].n, 2);
    assert_string_equal(s->inputs[1].src[0].label, "b.metrics");
    assert_string_equal(s->inputs[1].src[1].label, "a.metrics");
    assert_int_equal(s->inputs[2].src[0].port, 1);
    assert_int_equal(p->st[3].inputs[1].n, 1); /* a scalar for a multi port */
    /* defaults filled from the schema */
    assert_string_equal(rp_param_str(s->params, "mode"), "sum");
    assert_true(rp_param_double(p->st[0].params, "value") == 2);
    assert_true(rp_param_double(p->st[1].params, "value") == 1);
    /* resolved document carries the filled params */
    rp_node *res = rp_plan_resolved_doc(p);
    assert_string_equal(rp_node_str(rp_node_path(res, "stages.2.with.mode")), "sum");
    rp_node_free(res);
    char *txt = rp_plan_describe(p);
    assert_non_null(strstr(txt, "extra"));
    assert_non_null(strstr(txt, "b.metrics, a.metrics"));
    free(txt);
    rp_plan_free(p);
    rp_diag_release(&d);
    rp_node_free(doc);
}

static void test_wiring_errors(void **state) {
    (void)state;
    rp_node *doc = parse("stages:\n"                                          /* 1 */
                         "  - id: a\n"                                        /* 2 */
                         "    use: fx.source\n"                               /* 3 */
                         "  - id: s\n"                                        /* 4 */
                         "    use: fx.sink\n"                                 /* 5 */
                         "    in: {metrcs: a, extra: [nope, later]}\n"        /* 6 */
                         "  - id: u\n"                                        /* 7 */
                         "    use: fx.sink\n"                                 /* 8 */
                         "    in: {metrics: a.metric, files: a.metrics}\n"    /* 9 */
                         "  - id: later\n"                                    /* 10 */
                         "    use: fx.sink\n"                                 /* 11 */
                         "    in: {metrics: [a, a], extra: later}\n"          /* 12 */
                         "  - id: a\n"                                        /* 13 */
                         "    use: fx.sorce\n"                                /* 14 */
                         "  - id: v\n"                                        /* 15 */
                         "    use: fx.sink\n"                                 /* 16 */
                         "    in: {metrics: u, extra: [s, a.files]}\n"       /* 17 */
                         "    with: {mode: max}\n");                          /* 18 */
    rp_diag d;
    rp_plan *p = plan_of(doc, &d);
    assert_string_equal(find_err(&d, 6, 10)->msg,
                        "stage 's' (fx.sink): unknown input 'metrcs' (did you mean 'metrics'?)");
    assert_string_equal(find_err(&d, 6, 10)->stage, "s");
    assert_string_equal(find_err(&d, 6, 29)->msg,
                        "stage 's' (fx.sink): input 'extra': unknown stage id 'nope'");
    assert_string_equal(find_err(&d, 6, 35)->msg,
                        "stage 's' (fx.sink): input 'extra': stage 'later' comes later in the "
                        "pipeline (inputs must come from earlier stages)");
    /* 'metrcs' was taken for 'metrics': not also reported as missing */
    for (size_t i = 0; i < d.n; i++) assert_null(strstr(d.e[i].msg, "missing required"));
    assert_string_equal(find_err(&d, 9, 19)->msg,
                        "stage 'u' (fx.sink): input 'metrics': stage 'a' (fx.source) has no "
                        "output 'metric' (did you mean 'metrics'?)");
    assert_string_equal(find_err(&d, 9, 36)->msg,
                        "stage 'u' (fx.sink): input 'files' expects a files, but 'a.metrics' is "
                        "a metrics");
    assert_string_equal(find_err(&d, 12, 19)->msg,
                        "stage 'later' (fx.sink): input 'metrics' takes one metrics, got a list");
    assert_string_equal(find_err(&d, 12, 34)->msg,
                        "stage 'later' (fx.sink): input 'extra': a stage cannot use its own "
                        "output");
    assert_string_equal(find_err(&d, 13, 9)->msg,
                        "duplicate stage id 'a' (first defined at line 2)");
    assert_string_equal(find_err(&d, 14, 10)->msg,
                        "stage 'a': unknown stage 'fx.sorce' (did you mean 'fx.source'?)");
    assert_string_equal(find_err(&d, 17, 33)->msg,
                        "stage 'v' (fx.sink): input 'extra' expects a metrics, but 'a.files' is "
                        "a files");
    assert_non_null(strstr(find_err(&d, 18, 18)->msg, "stage 'v' (fx.sink): 'mode': "));
    assert_int_equal(rp_diag_count(&d), 11);
    rp_plan_free(p);
    rp_diag_release(&d);
    rp_node_free(doc);
}

static void test_missing_required_without_in(void **state) {
    (void)state;
    rp_node *doc = parse("stages:\n"
                         "  - id: s\n"
                         "    use: fx.sink\n");
    rp_diag d;
    rp_plan *p = plan_of(doc, &d);
    assert_int_equal(rp_diag_count(&d), 1);
    assert_int_equal(d.e[0].line, 2);
    assert_int_equal(d.e[0].col, 5);
    assert_string_equal(d.e[0].msg, "stage 's' (fx.sink): missing required input 'metrics' (a "
                                    "metrics)");
    rp_plan_free(p);
    rp_diag_release(&d);
    rp_node_free(doc);
}

/* Run a checked plan into a temp dir. */
static void run_plan(const char *text, rp_run_result *r, const char **dir_out) {
    rp_node *doc = parse(text);
    rp_diag d;
    rp_plan *p = plan_of(doc, &d);
    assert_int_equal(rp_diag_count(&d), 0);
    const char *dir = rp_test_tmpdir();
    struct rp_exec_opts o = {.rundir = dir, .seed = 99, .threads = 1};
    rp_plan_run(p, &o, r);
    if (dir_out) *dir_out = dir;
    rp_plan_free(p);
    rp_diag_release(&d);
    rp_node_free(doc);
}

static void test_run_ok(void **state) {
    (void)state;
    rp_run_result r;
    const char *dir;
    run_plan("stages:\n"
             "  - id: a\n"
             "    use: fx.source\n"
             "    with: {value: 2.5}\n"
             "  - id: s\n"
             "    use: fx.sink\n"
             "    in: {metrics: a, extra: [a, a]}\n",
             &r, &dir);
    assert_int_equal(r.status, RP_OK);
    assert_int_equal(r.n, 2);
    assert_true(r.st[0].ran && r.st[1].ran);
    assert_true(r.st[0].seconds >= 0);
    assert_int_equal(r.st[0].n_notes, 1);
    assert_string_equal(r.st[0].note_keys[0], "answer");
    assert_true(r.st[0].note_vals[0] == 42);
    assert_string_equal(r.st[0].plugin, "fixture");
    assert_int_equal(r.n_metrics, 2);
    assert_non_null(strstr(r.metrics_json, "\"sum\":\t7.5"));
    assert_non_null(strstr(r.metrics_json, "\"seed\":\t99"));
    assert_non_null(strstr(r.metrics_json, "\"tab\""));
    assert_true(rp_is_dir(rp_test_path(dir, "a"))); /* rp_stage_dir made <rundir>/<id> */
    rp_run_result_release(&r);
}

static void test_run_failure_located_and_stops(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    char text[2048];
    snprintf(text, sizeof text,
             "stages:\n"
             "  - id: a\n"
             "    use: fx.source\n"
             "    with: {fail: true}\n"
             "  - id: s\n"
             "    use: fx.sink\n"
             "    in: {metrics: a}\n"
             "    with: {marker: '%s/ran'}\n",
             t);
    rp_run_result r;
    run_plan(text, &r, NULL);
    assert_int_equal(r.status, RP_ERR_INVALID);
    assert_string_equal(r.err.msg, "stage 'a' (fx.source): failing as asked");
    assert_string_equal(r.err.file, "p.yaml");
    assert_int_equal(r.err.line, 2);
    assert_int_equal(r.err.col, 5);
    assert_string_equal(r.err.stage, "a");
    assert_true(r.st[0].ran);
    assert_false(r.st[1].ran);
    assert_false(rp_path_exists(rp_test_path(t, "ran")));
    rp_run_result_release(&r);
}

static void test_interrupted_before_stage(void **state) {
    (void)state;
    rp_interrupt_set();
    rp_run_result r;
    run_plan("stages:\n  - id: a\n    use: fx.source\n", &r, NULL);
    rp_interrupt_clear();
    assert_int_equal(r.status, RP_ERR_INTERRUPTED);
    assert_false(r.st[0].ran);
    assert_non_null(strstr(r.err.msg, "interrupted"));
    rp_run_result_release(&r);
}

/* ★ Fail-fast through the real binary: the first stage writes a marker; an
 * error in the LAST stage must stop everything before it runs (exit 2). The
 * same file without the error runs and writes the marker (exit 0). */
static int run_binary(const char *yaml, const char *outdir) {
    char env[2200], args[2200];
    snprintf(env, sizeof env, "RUNPIPE_PLUGIN_PATH='%s' RUNPIPE_SCHEMA_PATH='%s'", gooddir,
             schemadir);
    snprintf(args, sizeof args, "--quiet --out '%s' '%s'", outdir, yaml);
    return rp_test_runpipe_env(env, args, NULL, NULL, 0);
}

static void test_fail_fast_nothing_runs(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    char marker[800], text[2048];
    snprintf(marker, sizeof marker, "%s/marker", t);
    const char *tmpl = "  - id: first\n"
                       "    use: fx.source\n"
                       "    with: {marker: '%s'}\n"
                       "  - id: mid\n"
                       "    use: fx.sink\n"
                       "    in: {metrics: first}\n"
                       "  - id: last\n"
                       "    use: fx.sink\n"
                       "    in: {metrics: mid}\n"
                       "    with: {mode: %s}\n";
    snprintf(text, sizeof text, tmpl, marker, "median");
    rp_test_write_pipeline(t, "bad.yaml", "name: ff\n", text);
    assert_int_equal(run_binary(rp_test_path(t, "bad.yaml"), rp_test_path(t, "out1")), 2);
    assert_false(rp_path_exists(marker));
    assert_false(rp_path_exists(rp_test_path(t, "out1")));
    snprintf(text, sizeof text, tmpl, marker, "mean");
    rp_test_write_pipeline(t, "good.yaml", "name: ff\n", text);
    assert_int_equal(run_binary(rp_test_path(t, "good.yaml"), rp_test_path(t, "out2")), 0);
    assert_true(rp_path_exists(marker));
}

int main(void) {
    snprintf(fixdir, sizeof fixdir, "%s/tests/plugins", rp_test_build());
    char abs[1024];
    if (realpath(fixdir, abs)) snprintf(fixdir, sizeof fixdir, "%s", abs);
    snprintf(schemadir, sizeof schemadir, "%s/tests/fixtures/plugins/schemas", rp_test_src());
    if (realpath(schemadir, abs)) snprintf(schemadir, sizeof schemadir, "%s", abs);
    rp_schema_add_dir(schemadir);
    rp_error err;
    char p[1200];
    snprintf(p, sizeof p, "%s/fx_good.so", fixdir);
    if (rp_plugin_load_file(p, &err) != RP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* The binary gets a plugin directory holding only the good fixture (the
     * fixture directory also has plugins that clash with it on purpose). */
    snprintf(gooddir, sizeof gooddir, "%s", rp_test_tmpdir());
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/'", p, gooddir);
    if (system(cmd) != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plan),
        cmocka_unit_test(test_wiring_errors),
        cmocka_unit_test(test_missing_required_without_in),
        cmocka_unit_test(test_run_ok),
        cmocka_unit_test(test_run_failure_located_and_stops),
        cmocka_unit_test(test_interrupted_before_stage),
        cmocka_unit_test(test_fail_fast_nothing_runs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rp_plugins_unload_all();
    return rc;
}
