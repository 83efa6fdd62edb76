/* Shared helpers for the cmocka test binaries (see harness.h). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_root[512];

const char *rp_test_src(void) {
    const char *s = getenv("RUNPIPE_SRC");
    return s && *s ? s : ".";
}

const char *rp_test_build(void) {
    const char *s = getenv("RUNPIPE_BUILD");
    return s && *s ? s : "build";
}

static void remove_tmp(void) {
    if (tmp_root[0] && !getenv("RP_TEST_KEEP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    }
}

const char *rp_test_tmpdir(void) {
    static int n;
    if (!tmp_root[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_root, sizeof tmp_root, "%s/rptest.XXXXXX", t && *t ? t : "/tmp");
        assert_non_null(mkdtemp(tmp_root));
        atexit(remove_tmp);
    }
    static char dirs[4][600];
    char *d = dirs[n % 4];
    snprintf(d, 600, "%s/%d", tmp_root, n++);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    assert_int_equal(system(cmd), 0);
    return d;
}

const char *rp_test_path(const char *dir, const char *name) {
    static char bufs[8][1024];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

void rp_test_write(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

void rp_test_close(const float *a, const float *b, size_t n, double rtol, double atol,
                   const char *what) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i])))
            fail_msg("%s: element %zu: got %.8g, expected %.8g (|diff| %.3g)", what, i,
                     (double)a[i], (double)b[i], d);
    }
}
