/* Bad pipeline fixtures: every tests/fixtures/bad/NAME.yaml starts with
 *   # expect: LINE:COL: MESSAGE
 * (optionally followed by `# set: PATH=VALUE` lines, applied like --set) and
 * must fail the full check (config + every stage of every cell, with the
 * real plugins) with exactly that FIRST rendered error. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/diag.h"
#include "harness.h"
#include "run/pipeline.h"
#include "host/registry.h"

static int cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "FILE:L:C: error: MSG" → "L:C: MSG" */
static void first_error(const char *render, char *out, size_t n) {
    char tmp[8300];
    const char *nl = strchr(render, '\n');
    size_t len = nl ? (size_t)(nl - render) : strlen(render);
    char line[4096];
    if (len >= sizeof line) len = sizeof line - 1;
    memcpy(line, render, len);
    line[len] = 0;
    char *e = strstr(line, ": error: ");
    if (!e) {
        snprintf(out, n, "%s", line);
        return;
    }
    *e = 0;
    char *c2 = strrchr(line, ':');
    char *c1 = NULL;
    if (c2) {
        *c2 = 0;
        c1 = strrchr(line, ':');
        *c2 = ':';
    }
    snprintf(tmp, sizeof tmp, "%s: %s", c1 ? c1 + 1 : line, e + 9);
    snprintf(out, n, "%.4000s", tmp);
}

static int check_one(const char *path, char *got, size_t n, char *want, size_t wn) {
    char *text = NULL;
    rp_error err;
    if (rp_read_file(path, &text, NULL, &err) != RP_OK) fail_msg("%s", err.msg);
    if (strncmp(text, "# expect: ", 10) != 0) fail_msg("%s: first line must be '# expect: ...'", path);
    char *nl = strchr(text, '\n');
    snprintf(want, wn, "%.*s", (int)(nl - text - 10), text + 10);
    const char *sets[8];
    size_t n_sets = 0;
    for (char *l = nl + 1; l && !strncmp(l, "# set: ", 7) && n_sets < 8;) {
        char *e = strchr(l, '\n');
        if (e) *e = 0;
        sets[n_sets++] = l + 7;
        l = e ? e + 1 : NULL;
    }
    struct rp_config_opts o = {.sets = sets, .n_sets = n_sets};
    rp_diag d;
    rp_diag_init(&d);
    rp_config *cfg = NULL;
    if (rp_config_load(path, &o, &cfg, &d) == RP_OK) {
        for (size_t i = 0; i < cfg->n_cells; i++) {
            rp_plan *p = NULL;
            rp_plan_build(cfg->cells[i].doc, &p, &d);
            rp_plan_free(p);
        }
        rp_config_free(cfg);
    }
    int nerr = (int)rp_diag_count(&d);
    char *r = rp_diag_render(&d, 0);
    first_error(r, got, n);
    free(r);
    rp_diag_release(&d);
    free(text);
    return nerr;
}

static char fixture_dir[1024];

/* One cmocka test per fixture file; *state is its file name. */
static void test_fixture(void **state) {
    const char *name = *state;
    char path[1600], got[4096], want[4096];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    int nerr = check_one(path, got, sizeof got, want, sizeof want);
    if (nerr == 0) fail_msg("%s: no error at all (expected %s)", name, want);
    if (strcmp(got, want) != 0) fail_msg("%s:\n  expected: %s\n  got:      %s", name, want, got);
}

int main(void) {
    rp_log_set_level(RP_LOG_ERROR);
    rp_plugins_load_all(); /* the real plugins of this build */
    snprintf(fixture_dir, sizeof fixture_dir, "%s/tests/fixtures/bad", rp_test_src());
    DIR *dp = opendir(fixture_dir);
    if (!dp) {
        fprintf(stderr, "cannot open %s\n", fixture_dir);
        return 1;
    }
    static char *names[512];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && nn < 512) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) names[nn++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, nn, sizeof *names, cmp);
    if (nn < 30) {
        fprintf(stderr, "only %zu bad fixtures in %s (at least 30 expected)\n", nn, fixture_dir);
        return 1;
    }
    struct CMUnitTest *tests = calloc(nn, sizeof *tests);
    for (size_t i = 0; i < nn; i++) {
        tests[i].name = names[i];
        tests[i].test_func = test_fixture;
        tests[i].initial_state = names[i];
    }
    int rc = _cmocka_run_group_tests("bad_fixtures", tests, nn, NULL, NULL);
    free(tests);
    for (size_t i = 0; i < nn; i++) free(names[i]);
    rp_plugins_unload_all();
    return rc;
}
