/* The engine's call graph has no cycles between files: from the built
 * objects' symbols (nm), file A depends on file B when A uses a symbol B
 * defines. Every strongly connected component of more than one file is a
 * failure naming its files, except the convolution's portable part and its
 * AVX-512 kernels (one module in two files: conv.c asks the kernels for their
 * workspace, the kernels use conv.c's geometry). Keeps the layering the
 * README's "Layout" describes (base < config/host < data/nn < optim/zoo < run). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"

#define MAX_OBJ 256
#define MAX_SYM 8192

typedef struct obj {
    char path[512];
    char *und[MAX_SYM / 4]; /* undefined symbols (owned) */
    size_t n_und;
} obj;

static obj objs[MAX_OBJ];
static size_t n_objs;
static char *def_name[MAX_SYM]; /* defined symbol -> objs index */
static int def_obj[MAX_SYM];
static size_t n_defs;

static void collect(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st)) continue;
        size_t l = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            collect(p);
        else if (l > 2 && !strcmp(e->d_name + l - 2, ".o")) {
            assert_true(n_objs < MAX_OBJ);
            snprintf(objs[n_objs++].path, sizeof objs[0].path, "%s", p);
        }
    }
    closedir(d);
}

static void read_symbols(size_t i) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "nm '%.600s'", objs[i].path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char a[512], b[512], c[512];
        int n = sscanf(line, "%511s %511s %511s", a, b, c);
        if (n == 2 && !strcmp(a, "U") && objs[i].n_und < MAX_SYM / 4) {
            objs[i].und[objs[i].n_und++] = strdup(b);
        } else if (n == 3 && strlen(b) == 1 && strchr("TDRBVW", b[0]) && n_defs < MAX_SYM) {
            def_name[n_defs] = strdup(c);
            def_obj[n_defs++] = (int)i;
        }
    }
    assert_int_equal(pclose(f), 0);
}

static int defined_by(const char *sym) {
    for (size_t i = 0; i < n_defs; i++)
        if (!strcmp(def_name[i], sym)) return def_obj[i];
    return -1;
}

/* Tarjan's strongly connected components over adj. */
static unsigned char adj[MAX_OBJ][MAX_OBJ];
static int idx[MAX_OBJ], low[MAX_OBJ], on[MAX_OBJ], stk[MAX_OBJ], sp, counter;
static char problems[4096];

static const char *short_name(const char *p) {
    const char *s = strstr(p, "/obj/engine/");
    return s ? s + 12 : p;
}

static void strong(int v) {
    idx[v] = low[v] = ++counter;
    stk[sp++] = v;
    on[v] = 1;
    for (size_t w = 0; w < n_objs; w++) {
        if (!adj[v][w]) continue;
        if (!idx[w]) {
            strong((int)w);
            if (low[w] < low[v]) low[v] = low[w];
        } else if (on[w] && idx[w] < low[v]) {
            low[v] = idx[w];
        }
    }
    if (low[v] != idx[v]) return;
    int comp[MAX_OBJ], n = 0, w;
    do {
        w = stk[--sp];
        on[w] = 0;
        comp[n++] = w;
    } while (w != v);
    if (n == 1) return;
    int conv = n == 2;
    for (int i = 0; i < n; i++)
        conv &= strstr(objs[comp[i]].path, "/nn/conv/conv") != NULL;
    if (conv) return;
    size_t l = strlen(problems);
    snprintf(problems + l, sizeof problems - l, "\n  files that call each other:");
    for (int i = 0; i < n; i++) {
        l = strlen(problems);
        snprintf(problems + l, sizeof problems - l, " %s", short_name(objs[comp[i]].path));
    }
}

static void test_no_cycles(void **state) {
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/obj/engine", rp_test_build());
    collect(dir);
    assert_true(n_objs > 50); /* the whole engine, not an empty folder */
    for (size_t i = 0; i < n_objs; i++)
        read_symbols(i);
    for (size_t i = 0; i < n_objs; i++)
        for (size_t u = 0; u < objs[i].n_und; u++) {
            int j = defined_by(objs[i].und[u]);
            if (j >= 0 && (size_t)j != i) adj[i][j] = 1;
        }
    for (size_t v = 0; v < n_objs; v++)
        if (!idx[v]) strong((int)v);
    if (problems[0]) fail_msg("the engine's call graph has cycles:%s", problems);
    /* the check itself finds a dependency it must find */
    int schema = -1, paths = -1;
    for (size_t i = 0; i < n_objs; i++) {
        if (strstr(objs[i].path, "/config/schema.o")) schema = (int)i;
        if (strstr(objs[i].path, "/host/paths.o")) paths = (int)i;
    }
    assert_true(schema >= 0 && paths >= 0);
    assert_true(adj[schema][paths]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_cycles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
