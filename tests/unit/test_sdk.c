/* The installed SDK is enough to build a plugin: `make install` into a
 * temporary prefix, then compile the in-tree loss plugin (and a plugin
 * written by `runpipe new-plugin`, with its own make check) with nothing but
 * `pkg-config --cflags --libs runpipe` (+ -fopenmp, which this plugin uses;
 * no engine-internal header, no build
 * tree path) and check the result exports exactly its entry point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Under `make asan` the installed library is instrumented: the template's
 * test program must be too (the sanitizer runtime comes first). */
#ifdef __SANITIZE_ADDRESS__
#define TEMPLATE_CFLAGS "CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer'"
#else
#define TEMPLATE_CFLAGS ""
#endif

static int sh(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) print_error("command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* `make install` of this build into TMP/usr. */
static void install_into(const char *tmp) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && make -s --no-print-directory install BUILD='%s' PREFIX='%s/usr' "
             ">'%s/install.log' 2>&1",
             rp_test_abs_src(), rp_test_build(), tmp, tmp);
    assert_int_equal(sh(cmd), 0);
}

static void test_plugin_builds_against_installed_sdk(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char cmd[8192];
    install_into(tmp);
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
    /* pkg-config names where plugins and schemas go, relative to where the
       .pc file lies (a relocatable install) */
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' pkg-config --variable=schemadir runpipe | "
             "grep -q '^%s/usr/lib/pkgconfig/../../share/runpipe/schemas$'",
             tmp, tmp);
    assert_int_equal(sh(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "test -d \"$(PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' pkg-config "
             "--variable=plugindir runpipe)\"",
             tmp);
    assert_int_equal(sh(cmd), 0);

    /* `runpipe new-plugin` writes a plugin that builds and passes its own
       `make check` (cmocka test + a pipeline through the installed runpipe)
       with nothing but the installed SDK; the tree is moved first and the
       schema directory removed: the install is relocatable and the schemas
       travel inside the .so files */
    snprintf(cmd, sizeof cmd,
             "mv '%s/usr' '%s/moved' && rm -r '%s/moved/share/runpipe/schemas' && "
             "cd '%s' && '%s/moved/bin/runpipe' new-plugin sharpen sharpen >'%s/new.log' 2>&1 && "
             "cd sharpen && PKG_CONFIG_PATH='%s/moved/lib/pkgconfig' make -s " TEMPLATE_CFLAGS
             " >'%s/make.log' 2>&1 && PKG_CONFIG_PATH='%s/moved/lib/pkgconfig' make -s check "
             TEMPLATE_CFLAGS " >'%s/check.log' 2>&1",
             tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    if (sh(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/new.log' '%s/make.log' '%s/check.log' >&2", tmp, tmp,
                 tmp);
        (void)system(cmd);
        fail();
    }
    snprintf(cmd, sizeof cmd, "grep -q 'sharpen: all checks passed' '%s/check.log'", tmp);
    assert_int_equal(sh(cmd), 0);
    /* a second new-plugin into the same directory is refused */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s/moved/bin/runpipe' new-plugin sharpen sharpen 2>'%s/again.log'; "
             "test $? -eq 2 && grep -q \"'sharpen' already exists\" '%s/again.log'",
             tmp, tmp, tmp, tmp);
    assert_int_equal(sh(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "'%s/moved/bin/runpipe' new-plugin Bad-Name 2>'%s/bad.log'; test $? -eq 2 && "
             "grep -q \"'Bad-Name' is not a plugin name\" '%s/bad.log'",
             tmp, tmp, tmp);
    assert_int_equal(sh(cmd), 0);
}

/* make install DESTDIR=... puts the same tree under DESTDIR (packagers). */
static void test_install_destdir(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && make -s --no-print-directory install BUILD='%s' PREFIX=/opt/rp "
             "DESTDIR='%s/stage' >'%s/destdir.log' 2>&1 && "
             "test -x '%s/stage/opt/rp/bin/runpipe' && test -f '%s/stage/opt/rp/lib/librunpipe.so' "
             "&& test -f '%s/stage/opt/rp/lib/runpipe/plugins/train.so' && "
             "test -f '%s/stage/opt/rp/lib/pkgconfig/runpipe.pc' && "
             "test -f '%s/stage/opt/rp/share/runpipe/embed-schemas.sh' && "
             "! grep -q '%s' '%s/stage/opt/rp/lib/pkgconfig/runpipe.pc'",
             rp_test_abs_src(), rp_test_build(), tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    assert_int_equal(sh(cmd), 0);
}

/* The installed librunpipe.so exports the public SDK (version RUNPIPE_1)
 * and the runpipe program's drivers (RUNPIPE_PRIVATE), nothing else: a
 * plugin that reaches for an engine internal (here batch norm's kernel)
 * does not link. */
static void test_installed_library_exports_only_the_sdk(void **state) {
    (void)state;
    const char *tmp = rp_test_tmpdir();
    char cmd[8192];
    install_into(tmp);
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
        cmocka_unit_test(test_install_destdir),
    };
    return cmocka_run_group_tests_name("sdk", tests, NULL, NULL);
}
