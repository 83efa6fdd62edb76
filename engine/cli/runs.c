/* runpipe runs (runs.h): reads each run folder's status, run.json,
 * manifest.json and metrics.json; no server, no index file. */
#include "cli/runs.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "run/rundir.h"
#include "run/status.h"
#include "runpipe/io.h"
#include "runpipe/strbuf.h"

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static cJSON *read_json(const char *dir, const char *name) {
    char *p = join(dir, name), *t = NULL;
    cJSON *j = NULL;
    if (p && rp_read_file(p, &t, NULL, NULL) == RP_OK) j = cJSON_Parse(t);
    free(t);
    free(p);
    return j;
}

static int is_run_folder(const char *dir) {
    char *a = join(dir, RP_RUN_JSON), *b = join(dir, "manifest.json"), *c = join(dir, "status");
    int r = (a && rp_path_exists(a)) || (b && rp_path_exists(b)) || (c && rp_path_exists(c));
    free(a);
    free(b);
    free(c);
    return r;
}

static double parse_iso(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) return NAN;
    return (double)timegm(&tm);
}

/* The headline of a metrics.json: up to 3 scalars of the last stage that has
 * any ("evaluate.accuracy"). Adds name → value pairs to `out` (an object). */
static void headline(const cJSON *metrics, cJSON *names) {
    const cJSON *last = NULL, *st;
    cJSON_ArrayForEach(st, metrics) {
        const cJSON *sc = cJSON_GetObjectItem(st, "scalars");
        if (cJSON_GetArraySize(sc) > 0) last = st;
    }
    if (!last) return;
    const cJSON *v;
    int k = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(last, "scalars")) {
        if (k++ == 3) break;
        char key[300];
        snprintf(key, sizeof key, "%s.%s", last->string, v->string);
        cJSON_AddItemToArray(names, cJSON_CreateString(key));
    }
}

static double metric_value(const cJSON *metrics, const char *key) {
    const char *dot = strchr(key, '.');
    if (!dot) return NAN;
    char st[256];
    snprintf(st, sizeof st, "%.*s", (int)(dot - key), key);
    const cJSON *v =
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(metrics, st), "scalars"), dot + 1);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* One run folder as a JSON object. */
static cJSON *describe(const char *dir, const char *name) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "dir", dir);
    cJSON *rj = read_json(dir, RP_RUN_JSON), *man = read_json(dir, "manifest.json");
    const char *start = cJSON_GetStringValue(cJSON_GetObjectItem(rj, "start"));
    if (!start) start = cJSON_GetStringValue(cJSON_GetObjectItem(man, "start"));
    char state[64];
    rp_run_state(dir, state, sizeof state);
    cJSON_AddStringToObject(o, "start", start ? start : "");
    cJSON_AddStringToObject(o, "status", state);
    double secs = NAN;
    const cJSON *ms = cJSON_GetObjectItem(man, "seconds");
    if (strcmp(state, "running") && cJSON_IsNumber(ms))
        secs = ms->valuedouble;
    else if (!strcmp(state, "running") && start)
        secs = difftime(time(NULL), (time_t)parse_iso(start));
    else if (start) {
        /* killed (or stopped before its manifest): until its last log line */
        char *lp = join(dir, "log.txt");
        struct stat sb;
        if (lp && stat(lp, &sb) == 0) secs = difftime(sb.st_mtime, (time_t)parse_iso(start));
        free(lp);
    }
    if (isfinite(secs)) cJSON_AddNumberToObject(o, "seconds", secs);
    else cJSON_AddNullToObject(o, "seconds");
    /* cells: the folders with a status below this one (a matrix run), else
       the run itself */
    size_t total = 0, done = 0;
    const cJSON *jc = cJSON_GetObjectItem(rj, "cells");
    cJSON *names = cJSON_CreateArray();
    double *sum = NULL;
    size_t nsum = 0, ncells_metrics = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "shared")) continue;
        char *sub = join(dir, e->d_name);
        char *sp = sub ? join(sub, "status") : NULL;
        if (sp && rp_is_dir(sub) && rp_path_exists(sp)) {
            total++;
            char cs[64];
            if (!strcmp(rp_run_state(sub, cs, sizeof cs), "done")) {
                done++;
                cJSON *m = read_json(sub, "metrics.json");
                if (m && !cJSON_GetArraySize(names)) {
                    headline(m, names);
                    nsum = (size_t)cJSON_GetArraySize(names);
                    sum = calloc(nsum + 1, sizeof *sum);
                }
                int ok = m && sum;
                for (size_t k = 0; ok && k < nsum; k++)
                    sum[k] += metric_value(m, cJSON_GetArrayItem(names, (int)k)->valuestring);
                if (ok) ncells_metrics++;
                cJSON_Delete(m);
            }
        }
        free(sp);
        free(sub);
    }
    if (d) closedir(d);
    cJSON *metrics = cJSON_AddObjectToObject(o, "metrics");
    if (total == 0) {
        total = 1;
        done = !strcmp(state, "done");
        cJSON *m = read_json(dir, "metrics.json");
        if (m) {
            headline(m, names);
            for (int k = 0; k < cJSON_GetArraySize(names); k++) {
                const char *key = cJSON_GetArrayItem(names, k)->valuestring;
                double v = metric_value(m, key);
                if (isfinite(v)) cJSON_AddNumberToObject(metrics, key, v);
            }
        }
        cJSON_Delete(m);
    } else {
        for (size_t k = 0; k < nsum && ncells_metrics; k++) {
            double v = sum[k] / (double)ncells_metrics;
            if (isfinite(v))
                cJSON_AddNumberToObject(metrics, cJSON_GetArrayItem(names, (int)k)->valuestring,
                                        v);
        }
        if (ncells_metrics > 1) cJSON_AddNumberToObject(o, "metrics_mean_over", (double)ncells_metrics);
    }
    if (cJSON_IsNumber(jc) && jc->valuedouble > (double)total) total = (size_t)jc->valuedouble;
    cJSON_AddNumberToObject(o, "cells_done", (double)done);
    cJSON_AddNumberToObject(o, "cells", (double)total);
    free(sum);
    cJSON_Delete(names);
    cJSON_Delete(rj);
    cJSON_Delete(man);
    return o;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run folders under `dir`: itself, or children / grandchildren
 * (runs/<name>/<stamp>). Names relative to `dir`. */
static void collect(const char *dir, const char *rel, int depth, char ***v, size_t *n, size_t *cap) {
    if (is_run_folder(dir)) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            char **nv = realloc(*v, *cap * sizeof **v);
            if (!nv) return;
            *v = nv;
        }
        (*v)[(*n)++] = strdup(rel);
        return;
    }
    if (depth == 2) return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = join(dir, e->d_name);
        char *r = *rel ? join(rel, e->d_name) : strdup(e->d_name);
        if (sub && r && rp_is_dir(sub)) collect(sub, r, depth + 1, v, n, cap);
        free(sub);
        free(r);
    }
    if (d) closedir(d);
}

static void fmt_secs(double s, char *b, size_t n) {
    if (!isfinite(s)) snprintf(b, n, "-");
    else if (s < 60) snprintf(b, n, "%.0fs", s);
    else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(b, n, "%dh%02dm", (int)s / 3600, ((int)s / 60) % 60);
}

int rp_cli_runs(const char *dir, int json, FILE *out) {
    if (!rp_is_dir(dir)) {
        fprintf(stderr, "runpipe: runs: '%s' is not a folder (run folders are under runs/ by "
                        "default)\n", dir);
        return 2;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    collect(dir, "", 0, &names, &n, &cap);
    qsort(names, n, sizeof *names, cmp_str);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        char *full = *names[i] ? join(dir, names[i]) : strdup(dir);
        if (full) cJSON_AddItemToArray(arr, describe(full, *names[i] ? names[i] : dir));
        free(full);
        free(names[i]);
    }
    free(names);
    if (json) {
        char *t = cJSON_Print(arr);
        fprintf(out, "%s\n", t ? t : "[]");
        free(t);
    } else {
        int w = 4;
        const cJSON *r;
        cJSON_ArrayForEach(r, arr) {
            int l = (int)strlen(cJSON_GetObjectItem(r, "name")->valuestring);
            if (l > w) w = l;
        }
        fprintf(out, "%-*s  %-20s  %8s  %-11s  %7s  %s\n", w, "NAME", "START", "DURATION",
                "STATUS", "CELLS", "METRICS");
        cJSON_ArrayForEach(r, arr) {
            char dur[32], cells[48];
            const cJSON *s = cJSON_GetObjectItem(r, "seconds");
            fmt_secs(cJSON_IsNumber(s) ? s->valuedouble : NAN, dur, sizeof dur);
            snprintf(cells, sizeof cells, "%d/%d",
                     (int)cJSON_GetObjectItem(r, "cells_done")->valuedouble,
                     (int)cJSON_GetObjectItem(r, "cells")->valuedouble);
            rp_strbuf mb = {0};
            const cJSON *m;
            cJSON_ArrayForEach(m, cJSON_GetObjectItem(r, "metrics"))
                rp_strbuf_printf(&mb, "%s%s=%.4g", mb.n ? " " : "", m->string, m->valuedouble);
            const cJSON *mo = cJSON_GetObjectItem(r, "metrics_mean_over");
            if (mo) rp_strbuf_printf(&mb, " (mean of %d cells)", (int)mo->valuedouble);
            char *ms = rp_strbuf_take(&mb);
            fprintf(out, "%-*s  %-20s  %8s  %-11s  %7s  %s\n", w,
                    cJSON_GetObjectItem(r, "name")->valuestring,
                    cJSON_GetObjectItem(r, "start")->valuestring, dur,
                    cJSON_GetObjectItem(r, "status")->valuestring, cells, ms ? ms : "");
            free(ms);
        }
        if (!cJSON_GetArraySize(arr)) fprintf(out, "(no run folders under %s)\n", dir);
    }
    cJSON_Delete(arr);
    return 0;
}
