/* --resume without repeating the command line (resume.h). */
#include "cli/resume.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/rundir.h"
#include "runpipe/io.h"
#include "runpipe/node.h"
#include "runpipe/strbuf.h"

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Lines of `t` (pointers into a copy; *copy owned by the caller). */
static size_t split_lines(const char *t, char **copy, char ***lines) {
    *copy = strdup(t ? t : "");
    size_t n = 0, cap = 16;
    *lines = malloc(cap * sizeof **lines);
    if (!*copy || !*lines) return 0;
    char *p = *copy;
    while (*p) {
        if (n == cap) {
            char **nl = realloc(*lines, (cap *= 2) * sizeof **lines);
            if (!nl) return n;
            *lines = nl;
        }
        (*lines)[n++] = p;
        char *e = strchr(p, '\n');
        if (!e) break;
        *e = 0;
        p = e + 1;
    }
    return n;
}

char *rp_text_diff(const char *a, const char *b, int max) {
    char *ca, *cb, **la, **lb;
    size_t na = split_lines(a, &ca, &la), nb = split_lines(b, &cb, &lb);
    /* common head and tail; what is between differs */
    size_t h = 0;
    while (h < na && h < nb && !strcmp(la[h], lb[h])) h++;
    size_t t = 0;
    while (t < na - h && t < nb - h && !strcmp(la[na - 1 - t], lb[nb - 1 - t])) t++;
    rp_strbuf s = {0};
    int k = 0;
    for (size_t i = h; i < na - t; i++, k++) {
        if (k == max) {
            rp_strbuf_printf(&s, "  ... (%zu more)\n", na - t - i);
            break;
        }
        rp_strbuf_printf(&s, "  line %zu: - %s\n", i + 1, la[i]);
    }
    k = 0;
    for (size_t i = h; i < nb - t; i++, k++) {
        if (k == max) {
            rp_strbuf_printf(&s, "  ... (%zu more)\n", nb - t - i);
            break;
        }
        rp_strbuf_printf(&s, "  line %zu: + %s\n", i + 1, lb[i]);
    }
    free(ca);
    free(cb);
    free(la);
    free(lb);
    return rp_strbuf_take(&s);
}

void rp_resume_release(rp_resume *r) {
    if (!r) return;
    free(r->file);
    for (size_t i = 0; i < r->n_sets; i++) free(r->sets[i]);
    free(r->sets);
    memset(r, 0, sizeof *r);
}

/* Do two pipeline texts differ only in their `matrix:` (axes or values
 * added: resuming runs just the new cells)? */
static int only_matrix_differs(const char *a, const char *b) {
    rp_node *x = NULL, *y = NULL;
    int same = rp_node_parse_string(a, "a", &x, NULL) == RP_OK &&
               rp_node_parse_string(b, "b", &y, NULL) == RP_OK && x->kind == RP_NODE_MAP &&
               y->kind == RP_NODE_MAP;
    if (same) {
        rp_node_map_remove(x, "matrix");
        rp_node_map_remove(y, "matrix");
        same = rp_node_equal(x, y);
    }
    rp_node_free(x);
    rp_node_free(y);
    return same;
}

int rp_resume_store(const char *rundir, const rp_resume *r, rp_error *err) {
    char *rj = join(rundir, RP_RUN_JSON), *src = join(rundir, RP_RUN_SOURCE);
    char *json = NULL, *text = NULL;
    size_t len = 0;
    int st = rj && src ? RP_OK : RP_ERR_NOMEM;
    if (!st) st = rp_read_file(r->file, &text, &len, err);
    cJSON *j = NULL;
    if (!st && rp_read_file(rj, &json, NULL, NULL) == RP_OK) j = cJSON_Parse(json);
    if (!st && !j) j = cJSON_CreateObject();
    if (!st) {
        cJSON_DeleteItemFromObject(j, "pipeline");
        cJSON_AddStringToObject(j, "pipeline", r->file);
        cJSON_DeleteItemFromObject(j, "sets");
        cJSON *a = cJSON_AddArrayToObject(j, "sets");
        for (size_t i = 0; i < r->n_sets; i++) cJSON_AddItemToArray(a, cJSON_CreateString(r->sets[i]));
        cJSON_DeleteItemFromObject(j, "seed");
        if (r->has_seed) {
            char b[32];
            snprintf(b, sizeof b, "%llu", r->seed);
            cJSON_AddStringToObject(j, "seed", b);
        } else {
            cJSON_AddNullToObject(j, "seed");
        }
        char *t = cJSON_Print(j);
        st = t ? rp_write_atomic(rj, t, strlen(t), err) : RP_ERR_NOMEM;
        free(t);
    }
    if (!st) st = rp_write_atomic(src, text, len, err);
    if (st == RP_ERR_NOMEM) rp_error_set(err, st, "out of memory");
    cJSON_Delete(j);
    free(json);
    free(text);
    free(rj);
    free(src);
    return st;
}

static int sets_from(rp_resume *out, const char *const *sets, size_t n) {
    out->sets = calloc(n + 1, sizeof *out->sets);
    if (!out->sets) return RP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(out->sets[out->n_sets++] = strdup(sets[i]))) return RP_ERR_NOMEM;
    return RP_OK;
}

int rp_resume_prepare(const char *rundir, const char *file, const char *const *sets,
                      size_t n_sets, int has_seed, unsigned long long seed, int force,
                      rp_resume *out, rp_error *err) {
    memset(out, 0, sizeof *out);
    if (!rp_is_dir(rundir))
        return rp_error_set(err, RP_ERR_IO, "--resume %s: no such run folder", rundir);
    char *rj = join(rundir, RP_RUN_JSON), *src = join(rundir, RP_RUN_SOURCE);
    char *json = NULL, *stored = NULL;
    int have = rj && rp_read_file(rj, &json, NULL, NULL) == RP_OK;
    cJSON *j = have ? cJSON_Parse(json) : NULL;
    int st = RP_OK;
    if (!j) {
        /* a folder without run.json (not a run folder, or an older one) */
        if (!file)
            st = rp_error_set(err, RP_ERR_IO,
                              "--resume %s: no %s in that folder, so the pipeline is not known "
                              "(give it: runpipe FILE --resume %s)",
                              rundir, RP_RUN_JSON, rundir);
        else {
            out->file = strdup(file);
            st = sets_from(out, sets, n_sets);
            out->has_seed = has_seed;
            out->seed = seed;
        }
        goto done;
    }
    if (rp_read_file(src, &stored, NULL, NULL) != RP_OK) {
        st = rp_error_set(err, RP_ERR_IO, "--resume %s: %s is missing", rundir, RP_RUN_SOURCE);
        goto done;
    }
    const cJSON *jsets = cJSON_GetObjectItem(j, "sets");
    size_t ns = (size_t)cJSON_GetArraySize(jsets);
    const char **ssets = calloc(ns + 1, sizeof *ssets);
    for (size_t i = 0; ssets && i < ns; i++)
        ssets[i] = cJSON_GetStringValue(cJSON_GetArrayItem(jsets, (int)i));
    const char *sseed = cJSON_GetStringValue(cJSON_GetObjectItem(j, "seed"));
    const char *spath = cJSON_GetStringValue(cJSON_GetObjectItem(j, "pipeline"));
    rp_strbuf diff = {0};
    if (file) {
        char *given = NULL;
        if (rp_read_file(file, &given, NULL, err) != RP_OK) {
            free(ssets);
            st = RP_ERR_IO;
            goto done;
        }
        if (strcmp(given, stored) && !only_matrix_differs(stored, given)) {
            char *d = rp_text_diff(stored, given, 4);
            rp_strbuf_printf(&diff, "%s differs from the pipeline the run started with:\n%s",
                             file, d ? d : "");
            free(d);
        }
        if (strcmp(given, stored)) out->changed = 1;
        free(given);
    }
    if (n_sets) {
        int same = n_sets == ns;
        for (size_t i = 0; same && i < ns; i++) same = ssets[i] && !strcmp(ssets[i], sets[i]);
        if (!same) out->changed = 1;
        if (!same) {
            rp_strbuf_puts(&diff, "the --set overrides differ from the stored ones:\n");
            for (size_t i = 0; i < ns; i++) rp_strbuf_printf(&diff, "  - --set %s\n", ssets[i]);
            for (size_t i = 0; i < n_sets; i++) rp_strbuf_printf(&diff, "  + --set %s\n", sets[i]);
        }
    }
    if (has_seed && (!sseed || strtoull(sseed, NULL, 10) != seed))
        rp_strbuf_printf(&diff, "--seed %llu differs from the stored %s\n", seed,
                         sseed ? sseed : "(none)");
    if (diff.n && !force) {
        char *d = rp_strbuf_take(&diff);
        st = rp_error_set(err, RP_ERR_INVALID,
                          "--resume %s: %s(resume with 'runpipe --resume %s' alone to replay the "
                          "stored pipeline, or add --force to continue with the new one)",
                          rundir, d ? d : "", rundir);
        free(d);
        free(ssets);
        goto done;
    }
    rp_strbuf_release(&diff);
    /* the file: as given; else the original if unchanged (its locations read
       better), else the stored copy */
    if (file)
        out->file = strdup(file);
    else {
        char *orig = NULL;
        if (spath && rp_read_file(spath, &orig, NULL, NULL) == RP_OK && !strcmp(orig, stored))
            out->file = strdup(spath);
        else
            out->file = strdup(src);
        free(orig);
        out->replayed = 1;
    }
    if (n_sets)
        st = sets_from(out, sets, n_sets);
    else {
        st = sets_from(out, ssets, ns);
        if (ns) out->replayed = 1;
    }
    out->has_seed = has_seed || sseed;
    out->seed = has_seed ? seed : sseed ? strtoull(sseed, NULL, 10) : 0;
    free(ssets);
    if (!out->file) st = RP_ERR_NOMEM;
done:
    if (st == RP_ERR_NOMEM) rp_error_set(err, st, "out of memory");
    if (st != RP_OK) rp_resume_release(out);
    cJSON_Delete(j);
    free(json);
    free(stored);
    free(rj);
    free(src);
    return st;
}
