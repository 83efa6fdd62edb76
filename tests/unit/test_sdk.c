/* The installed SDK is enough to build a plugin: `make install` into a
 * temporary prefix, then compile the in-tree loss plugin with nothing but
 * `pkg-config --cflags --libs runpipe` (+ -fopenmp, which this plugin uses;
 * no engine-internal header, no build
 * tree path) and check the result exports exactly its entry point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int sh(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) print_error("command failed (%d): %s\n", rc, cmd);
    return rc;
}

static void test_plugin_builds_against_installed_sdk(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && make -s --no-print-directory install BUILD='%s' PREFIX='%s/usr' "
             ">'%s/install.log' 2>&1",
             rp_test_abs_src(), rp_test_build(), tmp, tmp);
    assert_int_equal(sh(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' sh -c 'cc -std=c11 -Wall -Wextra "
             "-Werror -fopenmp -fPIC -shared -fvisibility=hidden plugins/loss/*.c "
             "$(pkg-config --cflags --libs runpipe) -lm -o %s/loss.so' >'%s/cc.log' 2>&1",
             rp_test_abs_src(), tmp, tmp, tmp);
    if (sh(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/cc.log' >&2", tmp);
        (void)system(cmd);
        fail();
    }
    /* the only dynamic symbol the plugin defines is its entry */
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/loss.so' | awk '$2 ~ /[TDBR]/ {print $3}' | "
             "grep -v '^_' > '%s/syms.txt'",
             tmp, tmp);
    assert_int_equal(sh(cmd), 0);
    char syms[4096] = {0};
    FILE *f = fopen(rp_test_path(tmp, "syms.txt"), "r");
    assert_non_null(f);
    size_t n = fread(syms, 1, sizeof syms - 1, f);
    fclose(f);
    syms[n] = 0;
    assert_string_equal(syms, "rp_plugin_entry\n");
    /* pkg-config names where plugins and schemas go */
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' pkg-config --variable=schemadir runpipe | "
             "grep -q '/usr/share/runpipe/schemas$'",
             tmp);
    assert_int_equal(sh(cmd), 0);
}

/* The installed librunpipe.so exports the public SDK (version RUNPIPE_1)
 * and the runpipe program's drivers (RUNPIPE_PRIVATE), nothing else: a
 * plugin that reaches for an engine internal (here batch norm's kernel)
 * does not link. Runs after the install of the previous test. */
static void test_installed_library_exports_only_the_sdk(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && make -s --no-print-directory install BUILD='%s' PREFIX='%s/usr' "
             ">'%s/install.log' 2>&1",
             rp_test_abs_src(), rp_test_build(), tmp, tmp);
    assert_int_equal(sh(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/usr/lib/librunpipe.so' | grep -q ' rp_tensor_new@@RUNPIPE_1$'",
             tmp);
    assert_int_equal(sh(cmd), 0);
    /* every exported symbol carries one of the two versions */
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/usr/lib/librunpipe.so' | awk '$2 != \"A\"' | "
             "grep -v '@@RUNPIPE_1$' | grep -v '@@RUNPIPE_PRIVATE$' | grep -q .",
             tmp);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/usr/lib/librunpipe.so' | grep -q ' rp_bn_forward'", tmp);
    assert_int_not_equal(system(cmd), 0);
    FILE *f = fopen(rp_test_path(tmp, "internal.c"), "w");
    assert_non_null(f);
    fputs("void rp_bn_forward(void);\nvoid use(void) { rp_bn_forward(); }\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' sh -c 'cc -fPIC -shared "
             "-Wl,-z,defs internal.c $(pkg-config --cflags --libs runpipe) -o internal.so' "
             ">'%s/internal.log' 2>&1",
             tmp, tmp, tmp);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q 'undefined reference to .rp_bn_forward' '%s/internal.log'",
             tmp);
    assert_int_equal(sh(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_builds_against_installed_sdk),
        cmocka_unit_test(test_installed_library_exports_only_the_sdk),
    };
    return cmocka_run_group_tests_name("sdk", tests, NULL, NULL);
}
