/* The plugin kit: schemas travel inside the .so files (every stage and
 * component of the build gets exactly its schemas/ file, and
 * RUNPIPE_SCHEMA_PATH still overrides), `runpipe plugins` lists every plugin
 * file with its status, a failed load is reported at the top of `check`, and
 * a name two plugins define is refused unless the pipeline opts in with
 * `plugins: {override: [...]}`. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diag.h"
#include "config/schema.h"
#include "harness.h"
#include "host/registry.h"

static char *slurp(const char *path) {
    char *t = NULL;
    size_t n = 0;
    rp_error e;
    if (rp_read_file(path, &t, &n, &e) != RP_OK) return NULL;
    return t;
}

/* Every schema file in schemas/ is carried by exactly the shared object that defines
 * its stage or component (librunpipe for the built-ins and pipeline.yaml),
 * with the file's text. */
static void test_schemas_embedded_where_defined(void **state) {
    (void)state;
    setenv("RUNPIPE_PLUGIN_PATH", rp_test_plugin_dir(), 1);
    assert_int_equal(rp_plugins_load_all(), 0);
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/schemas", rp_test_abs_src());
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(l - 5), e->d_name);
        const char *origin = rp_schema_embedded_origin(name);
        if (!origin) fail_msg("schemas/%s is not embedded in any shared object", e->d_name);
        /* who defines it */
        const char *want = NULL;
        const rp_stage_entry *st = rp_registry_stage(name);
        if (st) want = st->file;
        const char *dot = strchr(name, '.');
        if (!want && dot) {
            char kind[64];
            snprintf(kind, sizeof kind, "%.*s", (int)(dot - name), name);
            int k = rp_component_kind_parse(kind);
            const char *plugin = k >= 0 ? rp_component_origin(k, dot + 1) : NULL;
            if (plugin && !strcmp(plugin, "engine")) want = "librunpipe.so";
            for (size_t i = 0; plugin && !want && i < rp_registry_plugin_count(); i++)
                if (rp_registry_plugin_at(i)->name &&
                    !strcmp(rp_registry_plugin_at(i)->name, plugin))
                    want = rp_registry_plugin_at(i)->path;
        }
        if (!want && !strcmp(name, "pipeline")) want = "librunpipe.so";
        if (!want) fail_msg("schemas/%s: no stage or component of that name", e->d_name);
        if (strcmp(origin, want))
            fail_msg("schemas/%s is embedded in %s, but %s defines it", e->d_name, origin, want);
        n++;
    }
    closedir(d);
    assert_true(n >= 90);
    /* the text is the file's: the parsed embedded schema equals the file */
    const rp_schema *s = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_schema_get("train", &s, &err), &err);
    rp_node *file = NULL;
    snprintf(dir, sizeof dir, "%s/schemas/train.yaml", rp_test_abs_src());
    RP_ASSERT_OK(rp_node_parse_file(dir, &file, &err), &err);
    assert_true(rp_node_equal(rp_schema_root(s), file));
    assert_non_null(strstr(rp_schema_root(s)->file, "train.yaml (embedded in "));
    rp_node_free(file);
    rp_plugins_unload_all();
}

/* A schema file on RUNPIPE_SCHEMA_PATH replaces the embedded one. */
static void test_schema_path_overrides(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char sch[1024], env[2200], log[1100], out[20000];
    snprintf(sch, sizeof sch, "%s/schemas", tmp);
    snprintf(env, sizeof env, "mkdir -p '%s'", sch);
    assert_int_equal(system(env), 0);
    rp_test_write(rp_test_path(sch, "loss.focal.yaml"),
                  "description: my focal\ntype: object\nproperties:\n"
                  "  gamma: {type: number, default: 7, description: mine}\n"
                  "additionalProperties: false\n");
    snprintf(log, sizeof log, "%s/log", tmp);
    snprintf(env, sizeof env, "RUNPIPE_SCHEMA_PATH='%s'", sch);
    assert_int_equal(rp_test_runpipe_env(env, "describe loss.focal", log, out, sizeof out), 0);
    assert_non_null(strstr(out, "default 7"));
    assert_null(strstr(out, "\n  alpha "));
    assert_int_equal(rp_test_runpipe("describe loss.focal", log, out, sizeof out), 0);
    assert_non_null(strstr(out, "\n  alpha "));
}

/* `runpipe plugins`: a line per file with status, name, version, ABI and
 * what it provides or why it failed (gst-inspect's overview). */
static void test_plugins_command(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char env[3000], log[1100], out[30000], cmd[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/p' && cp '%s/tests/plugins/bad_abi.so' '%s/p/'", tmp,
             rp_test_build(), tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(log, sizeof log, "%s/log", tmp);
    snprintf(env, sizeof env, "RUNPIPE_PLUGIN_PATH='%s/p:%s'", tmp, rp_test_plugin_dir());
    assert_int_equal(rp_test_runpipe_env(env, "plugins", log, out, sizeof out), 1);
    char want[2200];
    snprintf(want, sizeof want,
             "FAILED  ?          ?       ABI %u %s/p/bad_abi.so: ABI version mismatch: expected "
             "%u, got %u (rebuild the plugin against this runpipe)\n",
             RP_ABI_VERSION + 98, tmp, RP_ABI_VERSION, RP_ABI_VERSION + 98);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "ok      train      1.0.0   ABI %-3u ", RP_ABI_VERSION);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "/train.so: 1 stage (train)\n"));
    assert_non_null(strstr(out, "/loss.so: 1 stage (loss), 6 losses\n"));
    assert_non_null(strstr(out, "12 plugin files, 11 loaded, 1 failed\n"));
    /* the failed load comes first in `check`'s output */
    const char *pipe = rp_test_write_pipeline(
        tmp, "p.yaml", "name: k\n",
        "  - {id: s, use: data.synthetic, with: {train_count: 4, test_count: 4, size: 8}}\n");
    snprintf(cmd, sizeof cmd, "check '%s'", pipe);
    assert_int_equal(rp_test_runpipe_env(env, cmd, log, out, sizeof out), 0);
    snprintf(want, sizeof want, "runpipe: warning: plugin %s/p/bad_abi.so: ABI version mismatch",
             tmp);
    assert_memory_equal(out, want, strlen(want));
}

/* A copy of train.so earlier on the plugin path defines `train` again:
 * refused at the stage's `use:` naming both files, unless the pipeline opts
 * in; an override of a name nobody defines twice is refused too. */
static void test_duplicate_definitions(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char env[3000], log[1100], out[20000], cmd[3000], want[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/mine' && cp '%s/train.so' '%s/mine/mytrain.so'", tmp,
             rp_test_plugin_dir(), tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(log, sizeof log, "%s/log", tmp);
    snprintf(env, sizeof env, "RUNPIPE_PLUGIN_PATH='%s/mine:%s'", tmp, rp_test_plugin_dir());
    const char *stages =
        "  - {id: s, use: data.synthetic, with: {train_count: 4, test_count: 4, size: 8}}\n"
        "  - {id: net, use: model.build, with: {arch: mnist_cnn, classes: 6, in_channels: 3,"
        " size: 8}}\n"
        "  - {id: crit, use: loss, with: {loss: cross_entropy}}\n"
        "  - id: fit\n"
        "    use: train\n"
        "    in: {model: net, loss: crit, train: s.train}\n";
    const char *pipe = rp_test_write_pipeline(tmp, "dup.yaml", "name: dup\n", stages);
    snprintf(cmd, sizeof cmd, "check '%s'", pipe);
    assert_int_equal(rp_test_runpipe_env(env, cmd, log, out, sizeof out), 2);
    snprintf(want, sizeof want,
             "dup.yaml:8:10: error: stage 'train' is defined by two plugins: %s/mine/mytrain.so "
             "and %s/train.so; remove one from the plugin path, or use the first with "
             "`plugins: {override: [train]}`",
             tmp, rp_test_plugin_dir());
    if (!strstr(out, want)) fail_msg("expected\n%s\ngot\n%s", want, out);
    pipe = rp_test_write_pipeline(tmp, "ok.yaml", "name: dup\nplugins: {override: [train]}\n",
                                  stages);
    snprintf(cmd, sizeof cmd, "check '%s'", pipe);
    if (rp_test_runpipe_env(env, cmd, log, out, sizeof out) != 0) fail_msg("%s", out);
    pipe = rp_test_write_pipeline(tmp, "typo.yaml", "name: dup\nplugins: {override: [trian]}\n",
                                  stages);
    snprintf(cmd, sizeof cmd, "check '%s'", pipe);
    assert_int_equal(rp_test_runpipe(cmd, log, out, sizeof out), 2);
    assert_non_null(strstr(out, "typo.yaml:3:22: error: plugins.override: 'trian' is not defined "
                                "by two plugins (nothing to override)"));
    char *t = slurp(log);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemas_embedded_where_defined),
        cmocka_unit_test(test_schema_path_overrides),
        cmocka_unit_test(test_plugins_command),
        cmocka_unit_test(test_duplicate_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
