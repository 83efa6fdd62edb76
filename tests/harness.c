/* Shared helpers for the cmocka test binaries (see harness.h). */
#include "harness.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static void ensure_tmp_root(void) {
    if (!tmp_root[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_root, sizeof tmp_root, "%s/rptest.XXXXXX", t && *t ? t : "/tmp");
        assert_non_null(mkdtemp(tmp_root));
        atexit(remove_tmp);
    }
}

const char *rp_test_tmpdir(void) {
    static int n;
    ensure_tmp_root();
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

/* realpath of PATH into BUF, or PATH itself if it does not resolve. */
static const char *absolute(const char *path, char *buf, size_t size) {
    char r[PATH_MAX];
    snprintf(buf, size, "%s", realpath(path, r) ? r : path);
    return buf;
}

const char *rp_test_abs_src(void) {
    static char src[PATH_MAX];
    return src[0] ? src : absolute(rp_test_src(), src, sizeof src);
}

const char *rp_test_runpipe_bin(void) {
    static char bin[PATH_MAX + 16];
    if (!bin[0]) {
        char b[PATH_MAX];
        snprintf(bin, sizeof bin, "%s/bin/runpipe", absolute(rp_test_build(), b, sizeof b));
    }
    return bin;
}

const char *rp_test_plugin_dir(void) {
    static char dir[PATH_MAX + 32];
    if (!dir[0]) {
        char b[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/lib/runpipe/plugins",
                 absolute(rp_test_build(), b, sizeof b));
    }
    return dir;
}

/* Append TEXT with "%S" replaced by the absolute source root to the heap
 * string *S of length *N. */
static void append_expanded(char **s, size_t *n, const char *text) {
    const char *src = rp_test_abs_src();
    size_t ls = strlen(src), need = 0;
    for (const char *p = text; *p; p++) need += p[0] == '%' && p[1] == 'S' ? (p++, ls) : 1;
    char *t = realloc(*s, *n + need + 1);
    assert_non_null(t);
    for (const char *p = text; *p; p++) {
        if (p[0] == '%' && p[1] == 'S') {
            memcpy(t + *n, src, ls);
            *n += ls;
            p++;
        } else {
            t[(*n)++] = *p;
        }
    }
    t[*n] = 0;
    *s = t;
}

const char *rp_test_write_pipeline(const char *dir, const char *file, const char *head,
                                   const char *stages) {
    char *text = NULL;
    size_t n = 0;
    append_expanded(&text, &n, "runpipe: 1\n");
    append_expanded(&text, &n, head ? head : "");
    append_expanded(&text, &n, "stages:\n");
    append_expanded(&text, &n, stages);
    const char *path = rp_test_path(dir, file);
    rp_test_write(path, text);
    free(text);
    return path;
}

int rp_test_runpipe_env(const char *env, const char *args, const char *log_path, char *out,
                        size_t out_size) {
    char scratch[sizeof tmp_root + 32];
    if (!log_path) {
        ensure_tmp_root();
        snprintf(scratch, sizeof scratch, "%s/runpipe.log", tmp_root);
        log_path = scratch;
    }
    /* tests run without the stage cache unless they pass --cache DIR: a
     * test's second run must run its stages, and nothing lands in runs/ */
    const char *fmt = "RUNPIPE_CACHE=off RUNPIPE_PLUGIN_PATH='%s' %s '%s' %s > '%s' 2>&1";
    int len = snprintf(NULL, 0, fmt, rp_test_plugin_dir(), env ? env : "",
                       rp_test_runpipe_bin(), args, log_path);
    assert_true(len > 0);
    char *cmd = malloc((size_t)len + 1);
    assert_non_null(cmd);
    snprintf(cmd, (size_t)len + 1, fmt, rp_test_plugin_dir(), env ? env : "",
             rp_test_runpipe_bin(), args, log_path);
    int st = system(cmd);
    free(cmd);
    if (st == -1) fail_msg("could not start a shell for %s", rp_test_runpipe_bin());
    if (out && out_size) {
        FILE *f = fopen(log_path, "rb");
        size_t got = f ? fread(out, 1, out_size - 1, f) : 0;
        out[got] = 0;
        if (f) fclose(f);
    }
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int rp_test_runpipe(const char *args, const char *log_path, char *out, size_t out_size) {
    return rp_test_runpipe_env(NULL, args, log_path, out, out_size);
}

void rp_test_show_log(const char *log_path, int lines) {
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "tail -n %d '%s' >&2", lines, log_path);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
}

void rp_test_same_weights_files(const char *a, const char *b) {
    rp_st x, y;
    rp_st_init(&x);
    rp_st_init(&y);
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_st_load(a, &x, &err), &err);
    RP_ASSERT_OK(rp_st_load(b, &y, &err), &err);
    assert_int_equal(x.n, y.n);
    assert_true(x.n > 0);
    for (size_t i = 0; i < x.n; i++) {
        const rp_tensor *t = rp_st_get(&y, x.e[i].name);
        if (!t) fail_msg("%s: no tensor '%s'", b, x.e[i].name);
        assert_int_equal(t->numel, x.e[i].t->numel);
        size_t nd = 0;
        for (size_t e = 0; e < t->numel; e++)
            nd += memcmp(t->data + e, x.e[i].t->data + e, sizeof(float)) != 0;
        if (nd)
            fail_msg("tensor '%s': %zu of %zu values differ between %s and %s", x.e[i].name, nd,
                     t->numel, a, b);
    }
    rp_st_release(&x);
    rp_st_release(&y);
}

int rp_test_have_runpipe_and_fmnist(void) {
    struct stat sb;
    if (stat(rp_test_runpipe_bin(), &sb) != 0) {
        fprintf(stderr, "%s is not built\n", rp_test_runpipe_bin());
        return 0;
    }
    if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &sb) != 0) {
        fprintf(stderr, "Fashion-MNIST is missing: make deps installs dataset-fashion-mnist\n");
        return 0;
    }
    return 1;
}

static double formula(const char *name, size_t i) {
    unsigned k = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) k += *p;
    return sin(0.37 * (double)i + 0.11 * (double)(k % 97));
}

void rp_test_formula_fill(rp_model *m) {
    for (size_t j = 0; j < rp_model_num_params(m); j++) {
        rp_param *p = rp_model_param(m, j);
        size_t n = p->value->numel, len = strlen(p->name);
        for (size_t i = 0; i < n; i++) {
            double f = formula(p->name, i), v;
            if (len > 19 && !strcmp(p->name + len - 19, "num_batches_tracked")) v = 0;
            else if (len > 11 && !strcmp(p->name + len - 11, "running_var")) v = 1.0 + 0.25 * (1.0 + f);
            else if (p->value->ndim >= 2) v = f / sqrt((double)n / (double)p->value->shape[0]);
            else if (len > 7 && !strcmp(p->name + len - 7, ".weight")) v = 1.0 + 0.1 * f;
            else v = 0.1 * f;
            p->value->data[i] = (float)v;
        }
    }
}
