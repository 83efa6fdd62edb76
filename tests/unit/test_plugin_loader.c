/* Plugin loader: one test per failure mode, each with a small deliberately
 * broken plugin from tests/fixtures/plugins/ (built into
 * <build>/tests/plugins/ by `make test`), plus discovery order and
 * "a broken plugin never blocks the others". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diag.h"
#include "harness.h"
#include "run/pipeline.h"
#include "host/registry.h"
#include "config/schema.h"

static char fixdir[1024];

static const char *fx(const char *name) {
    static char buf[4][1200];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 1200, "%s/%s.so", fixdir, name);
    return b;
}

static int teardown(void **state) {
    (void)state;
    rp_plugins_unload_all();
    return 0;
}

/* Load `name`, expect failure, and compare the message after the path. */
static void expect_fail(const char *name, const char *expected_tail) {
    rp_error err;
    rp_error_clear(&err);
    const char *path = fx(name);
    assert_int_equal(rp_plugin_load_file(path, &err), RP_ERR_PLUGIN);
    char want[2048];
    snprintf(want, sizeof want, "plugin %s: %s", path, expected_tail);
    assert_string_equal(err.msg, want);
    /* the record keeps the same error and the plugin is closed */
    const rp_plugin_rec *r = rp_registry_plugin_at(rp_registry_plugin_count() - 1);
    assert_false(r->ok);
    assert_null(r->handle);
    assert_string_equal(r->err.msg, want);
}

static void test_good_plugin(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_plugin_load_file(fx("fx_good"), &err), &err);
    const rp_plugin_rec *r = rp_registry_plugin_at(0);
    assert_true(r->ok);
    assert_string_equal(r->name, "fixture");
    assert_string_equal(r->version, "2.3.4");
    char hex[65];
    RP_ASSERT_OK(rp_sha256_file(fx("fx_good"), hex, &err), &err);
    assert_string_equal(r->hash, hex);
    const rp_stage_entry *e = rp_registry_stage("fx.source");
    assert_non_null(e);
    assert_string_equal(e->plugin, "fixture");
    assert_int_equal(e->def->n_outputs, 2);
    assert_non_null(rp_registry_stage("fx.sink"));
    assert_non_null(rp_component_find(RP_COMP_METRIC, "fx_metric"));
    assert_string_equal(rp_component_origin(RP_COMP_METRIC, "fx_metric"), "fixture");
}

static void test_cannot_open_garbage(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    const char *p = rp_test_path(t, "junk.so");
    rp_test_write(p, "this is not an ELF file\n");
    rp_error err;
    assert_int_equal(rp_plugin_load_file(p, &err), RP_ERR_PLUGIN);
    char want[1200];
    snprintf(want, sizeof want, "plugin %s: cannot open: ", p);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_non_null(strstr(err.msg, "junk.so")); /* dlerror names it too */
}

static void test_cannot_open_undefined_symbol(void **state) {
    (void)state;
    rp_error err;
    assert_int_equal(rp_plugin_load_file(fx("bad_undef"), &err), RP_ERR_PLUGIN);
    assert_non_null(strstr(err.msg, "cannot open: "));
    assert_non_null(strstr(err.msg, "undefined symbol: fx_symbol_that_does_not_exist"));
    assert_null(rp_registry_stage("fx.undef"));
}

static void test_missing_file(void **state) {
    (void)state;
    rp_error err;
    assert_int_equal(rp_plugin_load_file("/nonexistent/dir/p.so", &err), RP_ERR_PLUGIN);
    assert_non_null(strstr(err.msg, "plugin /nonexistent/dir/p.so: cannot open: "));
}

static void test_no_entry(void **state) {
    (void)state;
    expect_fail("bad_noentry",
                "no entry symbol 'rp_plugin_entry' (define it with RP_PLUGIN(...) from plugin.h)");
}

static void test_abi_mismatch(void **state) {
    (void)state;
    char tail[256];
    snprintf(tail, sizeof tail,
             "ABI version mismatch: expected %u, got %u (rebuild the plugin against this runpipe)",
             RP_ABI_VERSION, RP_ABI_VERSION + 98);
    expect_fail("bad_abi", tail);
    assert_null(rp_registry_stage("fx.abi"));
}

static void test_descriptor_too_small(void **state) {
    (void)state;
    char tail[256];
    snprintf(tail, sizeof tail,
             "descriptor too small: struct_size is 16 bytes, expected at least %zu",
             sizeof(struct rp_plugin_desc));
    expect_fail("bad_size", tail);
}

static void test_stage_without_name(void **state) {
    (void)state;
    expect_fail("bad_stagename", "bad stage table: stage #1 has no name");
}

static void test_stage_without_run(void **state) {
    (void)state;
    expect_fail("bad_norun", "bad stage table: stage 'fx.broken' has no run function");
    assert_null(rp_registry_stage("fx.broken"));
}

static void test_unknown_port_type(void **state) {
    (void)state;
    expect_fail("bad_porttype", "bad stage table: stage 'fx.porttype': input 'data' has unknown "
                                "artifact type 'tensor' (known: dataset, model, loss, metrics, "
                                "files)");
}

static void test_duplicate_port(void **state) {
    (void)state;
    expect_fail("bad_dupport", "bad stage table: stage 'fx.dupport': duplicate input port 'data'");
}

static void test_missing_schema(void **state) {
    (void)state;
    expect_fail("bad_noschema", "missing schema for stage 'fx.noschema': no fx.noschema.yaml in "
                                "the schema directories (RUNPIPE_SCHEMA_PATH)");
}

/* A stage or component another plugin already defines: the plugin loads,
 * the first definition stays, and the name is recorded as a conflict (both
 * files) for the pipeline check (plugins.override). */
static void test_duplicate_stage(void **state) {
    (void)state;
    rp_error err;
    RP_ASSERT_OK(rp_plugin_load_file(fx("fx_good"), &err), &err);
    RP_ASSERT_OK(rp_plugin_load_file(fx("bad_dupstage"), &err), &err);
    assert_string_equal(rp_registry_stage("fx.source")->plugin, "fixture");
    assert_int_equal(rp_registry_conflict_count(), 1);
    const rp_conflict *c = rp_registry_conflict_at(0);
    assert_string_equal(c->what, "stage");
    assert_string_equal(c->name, "fx.source");
    assert_string_equal(c->kept, fx("fx_good"));
    assert_string_equal(c->dropped, fx("bad_dupstage"));
}

static void test_duplicate_component(void **state) {
    (void)state;
    rp_error err;
    RP_ASSERT_OK(rp_plugin_load_file(fx("fx_good"), &err), &err);
    RP_ASSERT_OK(rp_plugin_load_file(fx("bad_dupcomp"), &err), &err);
    assert_string_equal(rp_component_origin(RP_COMP_METRIC, "fx_metric"), "fixture");
    assert_int_equal(rp_registry_conflict_count(), 1);
    const rp_conflict *c = rp_registry_conflict_at(0);
    assert_string_equal(c->what, "metric");
    assert_string_equal(c->kept, fx("fx_good"));
    assert_string_equal(c->dropped, fx("bad_dupcomp"));
    /* unloading forgets the conflicts */
    rp_plugins_unload_all();
    assert_int_equal(rp_registry_conflict_count(), 0);
}

/* A pipeline using a stage of a broken plugin gets that plugin's error at
 * the stage's `use:` node. */
static void test_broken_stage_reported_at_use(void **state) {
    (void)state;
    rp_error err;
    RP_ASSERT_OK(rp_plugin_load_file(fx("fx_good"), &err), &err);
    assert_int_equal(rp_plugin_load_file(fx("bad_norun"), &err), RP_ERR_PLUGIN);
    rp_node *doc = NULL;
    RP_ASSERT_OK(rp_node_parse_string("stages:\n"
                                      "  - id: a\n"
                                      "    use: fx.source\n"
                                      "  - id: b\n"
                                      "    use: fx.broken\n"
                                      "    in: {metrics: a}\n",
                                      "p.yaml", &doc, &err),
                 &err);
    rp_diag d;
    rp_diag_init(&d);
    rp_plan *plan = NULL;
    assert_int_equal(rp_plan_build(doc, &plan, &d), RP_ERR_INVALID);
    assert_int_equal(rp_diag_count(&d), 1);
    assert_int_equal(d.e[0].line, 5);
    assert_int_equal(d.e[0].col, 10);
    char want[2048];
    snprintf(want, sizeof want,
             "stage 'b': stage 'fx.broken' is provided by plugin %s, which failed to load: plugin "
             "%s: bad stage table: stage 'fx.broken' has no run function",
             fx("bad_norun"), fx("bad_norun"));
    assert_string_equal(d.e[0].msg, want);
    rp_plan_free(plan);
    rp_diag_release(&d);
    rp_node_free(doc);
}

/* Discovery: RUNPIPE_PLUGIN_PATH first, first directory wins on equal file
 * names, broken files do not stop the good ones. */
static const char *path_dir1;

static void test_discovery(void **state) {
    (void)state;
    const char *const *dirs = rp_plugin_dirs();
    assert_non_null(dirs[0]);
    char real1[1024];
    assert_non_null(realpath(path_dir1, real1));
    assert_string_equal(dirs[0], real1);
    assert_non_null(dirs[1]);
    assert_non_null(strstr(rp_engine_libdir(), "/lib"));
    /* this test library (<build>/lib/test) finds the plugins of its own
       build, whatever the build directory is called */
    char own[1100], real_own[1024];
    snprintf(own, sizeof own, "%s/../runpipe/plugins", rp_engine_libdir());
    assert_non_null(realpath(own, real_own));
    int found = 0;
    for (size_t i = 0; dirs[i]; i++) found |= !strcmp(dirs[i], real_own);
    assert_true(found);
    rp_plugins_load_all();
    int saw_good = 0, saw_bad = 0;
    for (size_t i = 0; i < rp_registry_plugin_count(); i++) {
        const rp_plugin_rec *r = rp_registry_plugin_at(i);
        assert_null(strstr(r->path, "/d2/")); /* same file name in a later dir: skipped */
        if (strstr(r->path, "/d1/fx_good.so")) {
            saw_good = 1;
            assert_true(r->ok);
        }
        if (strstr(r->path, "/d1/bad_abi.so")) {
            saw_bad = 1;
            assert_false(r->ok);
            assert_non_null(strstr(r->err.msg, "ABI version mismatch"));
        }
    }
    assert_true(saw_good);
    assert_true(saw_bad);
    assert_non_null(rp_registry_stage("fx.source"));
}

int main(void) {
    snprintf(fixdir, sizeof fixdir, "%s/tests/plugins", rp_test_build());
    char abs[1024];
    if (realpath(fixdir, abs)) snprintf(fixdir, sizeof fixdir, "%s", abs);
    char sd[1200];
    snprintf(sd, sizeof sd, "%s/tests/fixtures/plugins/schemas", rp_test_src());
    rp_schema_add_dir(sd);
    /* Discovery set-up (before anything computes the search path): d1 holds
     * bad_abi.so and fx_good.so, d2 another fx_good.so that must be skipped. */
    const char *t = rp_test_tmpdir();
    static char d1[700], d2[700], pp[1500];
    snprintf(d1, sizeof d1, "%s/d1", t);
    snprintf(d2, sizeof d2, "%s/d2", t);
    char cmd[8000];
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s && cp %s/bad_abi.so %s/fx_good.so %s/ && cp "
             "%s/fx_good.so %s/", d1, d2, fixdir, fixdir, d1, fixdir, d2);
    if (system(cmd) != 0) return 1;
    snprintf(pp, sizeof pp, "%s:%s", d1, d2);
    setenv("RUNPIPE_PLUGIN_PATH", pp, 1);
    path_dir1 = d1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_good_plugin, teardown),
        cmocka_unit_test_teardown(test_cannot_open_garbage, teardown),
        cmocka_unit_test_teardown(test_cannot_open_undefined_symbol, teardown),
        cmocka_unit_test_teardown(test_missing_file, teardown),
        cmocka_unit_test_teardown(test_no_entry, teardown),
        cmocka_unit_test_teardown(test_abi_mismatch, teardown),
        cmocka_unit_test_teardown(test_descriptor_too_small, teardown),
        cmocka_unit_test_teardown(test_stage_without_name, teardown),
        cmocka_unit_test_teardown(test_stage_without_run, teardown),
        cmocka_unit_test_teardown(test_unknown_port_type, teardown),
        cmocka_unit_test_teardown(test_duplicate_port, teardown),
        cmocka_unit_test_teardown(test_missing_schema, teardown),
        cmocka_unit_test_teardown(test_duplicate_stage, teardown),
        cmocka_unit_test_teardown(test_duplicate_component, teardown),
        cmocka_unit_test_teardown(test_broken_stage_reported_at_use, teardown),
        cmocka_unit_test_teardown(test_discovery, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
