/* Plugin and schema search paths (see paths.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/paths.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "runpipe/io.h"

#ifndef RP_SRC_DIR
#define RP_SRC_DIR "."
#endif

const char *rp_engine_libdir(void) {
    static char dir[PATH_MAX];
    static int done;
    if (done) return dir;
    done = 1;
    Dl_info info;
    if (dladdr((const void *)&rp_engine_libdir, &info) && info.dli_fname) {
        char real[PATH_MAX];
        if (realpath(info.dli_fname, real)) {
            char *slash = strrchr(real, '/');
            if (slash) *slash = 0;
            snprintf(dir, sizeof dir, "%s", real);
        }
    }
    return dir;
}

/* ---- search paths ------------------------------------------------------------ */

/* 1 when this librunpipe.so is the one built in the source tree (any
 * build directory below RP_SRC_DIR): only then are the source tree's schemas and
 * plugins fallbacks. An installed library never looks there (relocatable). */
static int in_build_tree(void) {
    const char *lib = rp_engine_libdir();
    char src[PATH_MAX];
    if (!*lib || !realpath(RP_SRC_DIR, src)) return 0;
    size_t n = strlen(src);
    return !strncmp(lib, src, n) && lib[n] == '/' && !strncmp(lib + n + 1, "build", 5);
}

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static void strlist_add_dir(strlist *l, const char *dir) {
    if (!dir || !*dir || !rp_is_dir(dir)) return;
    char real[PATH_MAX];
    if (!realpath(dir, real)) return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], real) == 0) return;
    if (l->n + 2 > l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n] = rp_strdup(real);
    if (l->v[l->n]) l->n++;
    l->v[l->n] = NULL;
}

static void strlist_add_pathvar(strlist *l, const char *var) {
    const char *s = getenv(var);
    if (!s) return;
    char *copy = rp_strdup(s);
    if (!copy) return;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
        strlist_add_dir(l, tok);
    free(copy);
}

/* <libdir>/rel, when librunpipe.so's directory is known. */
static void strlist_add_libdir(strlist *l, const char *rel) {
    const char *lib = rp_engine_libdir();
    if (!*lib) return;
    char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", lib, rel);
    strlist_add_dir(l, buf);
}

const char *rp_engine_moddir(void) {
    static char dir[PATH_MAX + 8];
    static int done;
    if (done) return dir;
    done = 1;
    const char *lib = rp_engine_libdir(), *base = strrchr(lib, '/');
    /* the unit tests' library, <build>/lib/test, uses the modules of its own
       build (build-asan's tests the ASan plugins) */
    if (in_build_tree() && base && !strcmp(base, "/test"))
        snprintf(dir, sizeof dir, "%.*s", (int)(base - lib), lib);
    else
        snprintf(dir, sizeof dir, "%s", lib);
    return dir;
}

const char *const *rp_plugin_dirs(void) {
    static strlist dirs;
    static int done;
    if (!done) {
        done = 1;
        strlist_add_pathvar(&dirs, "RUNPIPE_PLUGIN_PATH");
        if (*rp_engine_moddir()) {
            char buf[PATH_MAX + 64];
            snprintf(buf, sizeof buf, "%s/runpipe/plugins", rp_engine_moddir());
            strlist_add_dir(&dirs, buf);
        }
    }
    static const char *const empty[] = {NULL};
    return dirs.v ? (const char *const *)dirs.v : empty;
}

static strlist schema_over, schema_std;

static void schema_dirs_init(void) {
    strlist_add_pathvar(&schema_over, "RUNPIPE_SCHEMA_PATH");
    strlist_add_libdir(&schema_std, "../share/runpipe/schemas");
    if (in_build_tree()) strlist_add_dir(&schema_std, RP_SRC_DIR "/schemas");
}

void rp_schema_search_dirs(const char *const **override, const char *const **standard) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, schema_dirs_init);
    static const char *const empty[] = {NULL};
    *override = schema_over.v ? (const char *const *)schema_over.v : empty;
    *standard = schema_std.v ? (const char *const *)schema_std.v : empty;
}
