/* Smoke runs of every file in pipelines/ through the real binary.
 *
 * Convention (documented at the top of every pipeline file): a comment line
 *   # smoke: --set vars.epochs=1 --set vars.limit=512
 * gives the arguments that shrink the pipeline to a few seconds, and
 *   # expect: fit/history.csv report/report.html
 * the files (relative to the run folder) a smoke run must leave. For each
 * file this test runs `runpipe check FILE` and then
 * `runpipe run FILE --out DIR <smoke args>` with RUNPIPE_PLUGIN_PATH pointing
 * at the build, and asserts exit status 0 and the expected files (plus the
 * run folder's pipeline.resolved.yaml — aggregate.csv for a matrix run —,
 * manifest.json and log.txt). A pipeline
 * without a `# smoke:` line fails: every pipeline must be smoke-testable,
 * and so does one with a ${...} inside a {...} flow mapping (plain YAML).
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../harness.h"

#define MAX_PIPELINES 128

typedef struct pipe_case {
    char path[512];
    char smoke[1024];
    char expect[1024];
    int has_smoke;
    int matrix;          /* top-level `matrix:`: one folder per cell */
} pipe_case;

static pipe_case cases[MAX_PIPELINES];

/* Value of the first "# key:" comment line, trimmed. */
static int header_line(const char *path, const char *key, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[2048], tag[64];
    snprintf(tag, sizeof tag, "# %s:", key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, tag, strlen(tag))) continue;
        const char *v = line + strlen(tag);
        while (*v == ' ') v++;
        snprintf(out, size, "%s", v);
        size_t n = strlen(out);
        while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) out[--n] = 0;
        found = 1;
    }
    fclose(f);
    return found;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Every pipeline is plain YAML for any stock parser: a `${...}` reference
 * stands in block style (`limit: ${vars.limit}`), never inside a `{...}`
 * flow mapping, where `{` and `}` would be read as YAML syntax. Returns the
 * line of the first offence, 0 when there is none. Comments are skipped;
 * flow mappings may span lines. */
static int flow_map_reference_line(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[2048];
    int depth = 0, ln = 0, bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        ln++;
        char quote = 0;
        for (const char *q = line; *q && !bad; q++) {
            if (quote) {
                if (*q == quote) quote = 0;
                else if (q[0] == '$' && q[1] == '{' && depth > 0) bad = ln;
                continue;
            }
            if (*q == '#' && (q == line || q[-1] == ' ' || q[-1] == '\t')) break;
            if (*q == '"' || *q == '\'') quote = *q;
            else if (q[0] == '$' && q[1] == '{') {
                if (depth > 0) bad = ln;
                int k = 0; /* skip the reference, nested ones included */
                for (q++; *q; q++) {
                    if (*q == '{') k++;
                    else if (*q == '}' && --k == 0) break;
                }
                if (!*q) break;
            } else if (*q == '{') depth++;
            else if (*q == '}' && depth > 0) depth--;
        }
    }
    fclose(f);
    return bad;
}

static void test_pipeline(void **state) {
    const pipe_case *c = *state;
    int bad = flow_map_reference_line(c->path);
    if (bad)
        fail_msg("%s:%d: a ${...} reference inside a {...} flow mapping; write that mapping in "
                 "block style (key: ${vars.x} on its own line)",
                 c->path, bad);
    const char *bin = rp_test_runpipe_bin();
    if (!exists(bin)) fail_msg("%s is not built", bin);
    if (!c->has_smoke)
        fail_msg("%s has no '# smoke: ARGS' line (see tests/unit/test_pipelines.c)", c->path);
    const char *tmp = rp_test_tmpdir();
    char log[700], out[700], args[4096];
    snprintf(log, sizeof log, "%s/check.log", tmp);
    snprintf(args, sizeof args, "check '%s' %s", c->path, c->smoke);
    int rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc != 0) {
        rp_test_show_log(log, 25);
        fail_msg("runpipe check %s: exit %d", c->path, rc);
    }
    snprintf(out, sizeof out, "%s/run", tmp);
    snprintf(log, sizeof log, "%s/run.log", tmp);
    snprintf(args, sizeof args, "run '%s' --out '%s' --threads 2 %s", c->path, out, c->smoke);
    rc = rp_test_runpipe(args, log, NULL, 0);
    if (rc != 0) {
        rp_test_show_log(log, 25);
        fail_msg("smoke run of %s: exit %d ('%s' %s)", c->path, rc, bin, args);
    }
    char files[1200];
    /* a matrix run keeps pipeline.resolved.yaml in each cell's folder (the
     * `# expect:` line names cell files) and aggregate.csv at the root */
    int matrix = exists(rp_test_path(out, "aggregate.csv"));
    snprintf(files, sizeof files, "%s manifest.json log.txt %s",
             matrix ? "aggregate.csv" : "pipeline.resolved.yaml", c->expect);
    for (char *tok = strtok(files, " \t"); tok; tok = strtok(NULL, " \t")) {
        const char *p = rp_test_path(out, tok);
        if (!exists(p)) {
            rp_test_show_log(log, 25);
            fail_msg("smoke run of %s: expected '%s' in the run folder", c->path, tok);
        }
    }
}

int main(void) {
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/pipelines/*.yaml", rp_test_src());
    glob_t g;
    memset(&g, 0, sizeof g);
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "no pipelines match %s\n", pattern);
        return 1;
    }
    size_t n = g.gl_pathc < MAX_PIPELINES ? g.gl_pathc : MAX_PIPELINES;
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char (*names)[600] = calloc(n, sizeof *names);
    if (!tests || !names) return 1;
    for (size_t i = 0; i < n; i++) {
        pipe_case *c = &cases[i];
        snprintf(c->path, sizeof c->path, "%s", g.gl_pathv[i]);
        c->has_smoke = header_line(c->path, "smoke", c->smoke, sizeof c->smoke);
        header_line(c->path, "expect", c->expect, sizeof c->expect);
        FILE *f = fopen(c->path, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "matrix:", 7)) c->matrix = 1;
        if (f) fclose(f);
        const char *base = strrchr(c->path, '/');
        snprintf(names[i], sizeof names[i], "pipeline %.200s", base ? base + 1 : c->path);
        tests[i].name = names[i];
        tests[i].test_func = test_pipeline;
        tests[i].initial_state = c;
    }
    globfree(&g);
    int rc = _cmocka_run_group_tests("pipelines", tests, n, NULL, NULL);
    free(tests);
    free(names);
    return rc;
}
