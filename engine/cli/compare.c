/* runpipe compare RUNDIR... — runs (or the cells of matrix runs) side by
 * side: one self-contained compare.html (overlaid learning curves, the final
 * metrics with differences to the first run, the parameters that differ
 * between their pipeline.resolved.yaml files) and the same tables as
 * Markdown on stdout (and in compare.md).
 *
 *   runpipe compare runs/q/20260101-120000 runs/q/20260102-090000
 *   runpipe compare runs/sweep/20260101-120000          (every cell)
 *   options: --out FILE.html (default compare.html), --md FILE.md
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "runpipe/runpipe.h"

#define MAX_RUNS 64

typedef struct cmp_run {
    char *dir;            /* owned */
    char *label;          /* owned: shortest unique suffix of dir */
    cJSON *metrics;       /* owned: the run's metrics.json ({stage: {scalars, tables}}) */
    rp_node *pipeline;    /* owned, may be NULL */
} cmp_run;

typedef struct kv {
    char *key, *val;      /* owned */
} kv;

typedef struct kvlist {
    kv *v;
    size_t n, cap;
} kvlist;

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPAL (sizeof palette / sizeof *palette)

static int is_file(const char *dir, const char *name) {
    char p[2600];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A run folder (metrics.json) is one run; a matrix root, its cells. */
static int add_dir(cmp_run *runs, size_t *n, const char *dir) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    char d[2048];
    snprintf(d, sizeof d, "%.*s", (int)l, dir);
    if (is_file(d, "metrics.json")) {
        if (*n >= MAX_RUNS) return -2;
        runs[(*n)++].dir = strdup(d);
        return 1;
    }
    DIR *dd = opendir(d);
    if (!dd) return 0;
    char *names[MAX_RUNS * 4];
    size_t nn = 0;
    for (struct dirent *e; (e = readdir(dd)) && nn < RP_COUNT(names);) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "shared")) continue;
        char sub[2400];
        snprintf(sub, sizeof sub, "%s/%s", d, e->d_name);
        if (is_file(sub, "metrics.json") && is_file(sub, "pipeline.resolved.yaml"))
            names[nn++] = strdup(e->d_name);
    }
    closedir(dd);
    qsort(names, nn, sizeof *names, cmp_str);
    int found = 0;
    for (size_t i = 0; i < nn; i++) {
        if (*n < MAX_RUNS) {
            char sub[2400];
            snprintf(sub, sizeof sub, "%s/%s", d, names[i]);
            runs[(*n)++].dir = strdup(sub);
            found++;
        } else {
            found = -2;
        }
        free(names[i]);
    }
    return found;
}

/* Labels: the last path component, or as many as make the labels unique. */
static void make_labels(cmp_run *runs, size_t n) {
    for (int parts = 1; parts <= 8; parts++) {
        for (size_t i = 0; i < n; i++) {
            const char *d = runs[i].dir, *p = d + strlen(d);
            for (int k = 0; k < parts && p > d; k++) {
                p--;
                while (p > d && p[-1] != '/') p--;
                if (k + 1 < parts && p > d) p--;
            }
            free(runs[i].label);
            runs[i].label = strdup(p);
        }
        int uniq = 1;
        for (size_t i = 0; i < n && uniq; i++)
            for (size_t j = 0; j < i && uniq; j++)
                if (!strcmp(runs[i].label, runs[j].label)) uniq = 0;
        if (uniq) return;
    }
}

static int load_run(cmp_run *r) {
    char path[2200], *text = NULL;
    size_t len = 0;
    rp_error e;
    rp_error_clear(&e);
    snprintf(path, sizeof path, "%s/metrics.json", r->dir);
    if (rp_read_file(path, &text, &len, &e) != RP_OK) {
        fprintf(stderr, "runpipe compare: %s\n", e.msg);
        return -1;
    }
    r->metrics = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(r->metrics)) {
        fprintf(stderr, "runpipe compare: '%s' is not a metrics.json of a run\n", path);
        return -1;
    }
    snprintf(path, sizeof path, "%s/pipeline.resolved.yaml", r->dir);
    if (rp_node_parse_file(path, &r->pipeline, &e) != RP_OK) r->pipeline = NULL;
    return 0;
}

/* ---- key/value lists ---------------------------------------------------------- */

static int kv_add(kvlist *l, const char *k, const char *v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        kv *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n].key = strdup(k);
    l->v[l->n].val = strdup(v);
    if (!l->v[l->n].key || !l->v[l->n].val) return -1;
    l->n++;
    return 0;
}

static const char *kv_get(const kvlist *l, const char *k) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].key, k)) return l->v[i].val;
    return NULL;
}

static void kv_free(kvlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].key), free(l->v[i].val);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Flatten a pipeline to "path = value" lines; list items that are maps
 * with an `id` (stages) are addressed by it: stages.fit.with.epochs. */
static int flatten(const rp_node *n, const char *path, kvlist *out) {
    char p[1024];
    if (!n) return 0;
    if (n->kind == RP_NODE_MAP) {
        if (n->n == 0) return kv_add(out, path, "{}");
        for (size_t i = 0; i < n->n; i++) {
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", rp_node_key_at(n, i));
            if (flatten(n->items[i], p, out)) return -1;
        }
        return 0;
    }
    if (n->kind == RP_NODE_SEQ) {
        if (n->n == 0) return kv_add(out, path, "[]");
        for (size_t i = 0; i < n->n; i++) {
            const char *id = rp_node_str(rp_node_get(n->items[i], "id"));
            if (id) snprintf(p, sizeof p, "%s.%s", path, id);
            else snprintf(p, sizeof p, "%s[%zu]", path, i);
            if (flatten(n->items[i], p, out)) return -1;
        }
        return 0;
    }
    return kv_add(out, path, n->kind == RP_NODE_NULL ? "null" : n->str);
}

/* ---- output helpers --------------------------------------------------------------- */

static void html(rp_strbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': rp_strbuf_puts(b, "&amp;"); break;
        case '<': rp_strbuf_puts(b, "&lt;"); break;
        case '>': rp_strbuf_puts(b, "&gt;"); break;
        case '"': rp_strbuf_puts(b, "&quot;"); break;
        default: rp_strbuf_add(b, s, 1);
        }
    }
}

static void md(rp_strbuf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') rp_strbuf_puts(b, "\\|");
        else if (*s == '\n') rp_strbuf_puts(b, " ");
        else rp_strbuf_add(b, s, 1);
    }
}

static void num(rp_strbuf *b, double v) {
    if (isnan(v)) rp_strbuf_puts(b, "\xE2\x80\x94");
    else if (v == floor(v) && fabs(v) < 1e15) rp_strbuf_printf(b, "%.0f", v);
    else rp_strbuf_printf(b, "%.4f", v);
}

static void delta(rp_strbuf *b, double d) {
    if (isnan(d)) rp_strbuf_puts(b, "");
    else if (d == 0) rp_strbuf_puts(b, "0");
    else if (d == floor(d) && fabs(d) < 1e15) rp_strbuf_printf(b, "%+.0f", d);
    else rp_strbuf_printf(b, "%+.4f", d);
}

/* ---- metrics ---------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int lower_is_better(const char *key) {
    static const char *const suf[] = {"loss", "error_rate", "seconds", ".ece", ".mce"};
    for (size_t i = 0; i < RP_COUNT(suf); i++)
        if (ends_with(key, suf[i])) return 1;
    return 0;
}

typedef struct metric_rows {
    char **keys;          /* "stage.scalar", first-appearance order */
    size_t n;
    double *v;            /* [n][runs] */
} metric_rows;

static int collect_metrics(const cmp_run *runs, size_t nr, metric_rows *m) {
    size_t cap = 0;
    memset(m, 0, sizeof *m);
    for (size_t r = 0; r < nr; r++)
        for (cJSON *st = runs[r].metrics->child; st; st = st->next) {
            cJSON *sc = cJSON_GetObjectItem(st, "scalars");
            for (cJSON *s = sc ? sc->child : NULL; s; s = s->next) {
                char key[512];
                snprintf(key, sizeof key, "%s.%s", st->string, s->string);
                size_t i = 0;
                while (i < m->n && strcmp(m->keys[i], key)) i++;
                if (i == m->n) {
                    if (m->n == cap) {
                        cap = cap ? cap * 2 : 64;
                        char **nk = realloc(m->keys, cap * sizeof *nk);
                        double *nv = realloc(m->v, cap * nr * sizeof *nv);
                        if (nk) m->keys = nk;
                        if (nv) m->v = nv;
                        if (!nk || !nv) return -1;
                    }
                    m->keys[m->n] = strdup(key);
                    for (size_t k = 0; k < nr; k++) m->v[m->n * nr + k] = NAN;
                    m->n++;
                }
                m->v[i * nr + r] = cJSON_IsNumber(s) ? s->valuedouble : NAN;
            }
        }
    return 0;
}

/* ---- curves ------------------------------------------------------------------------- */

typedef struct curve {
    const double *x, *y;
    size_t n;
    const char *color;
    int dashed;
} curve;

/* A small line chart (epochs on x) of several runs' curves. */
static void chart(rp_strbuf *b, const char *title, const char *ylabel, const curve *c, size_t nc) {
    const int W = 520, H = 320, L = 62, R = 14, T = 34, B = 44, pw = W - L - R, ph = H - T - B;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < nc; i++)
        for (size_t j = 0; j < c[i].n; j++) {
            if (!isfinite(c[i].x[j]) || !isfinite(c[i].y[j])) continue;
            x0 = fmin(x0, c[i].x[j]), x1 = fmax(x1, c[i].x[j]);
            y0 = fmin(y0, c[i].y[j]), y1 = fmax(y1, c[i].y[j]);
        }
    rp_strbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" "
                        "height=\"%d\" viewBox=\"0 0 %d %d\"><rect width=\"%d\" height=\"%d\" "
                        "fill=\"#fff\"/><text x=\"%d\" y=\"20\" text-anchor=\"middle\" "
                        "class=\"title\">",
                     W, H, W, H, W, H, W / 2);
    html(b, title);
    rp_strbuf_puts(b, "</text>\n");
    if (!isfinite(x0)) {
        rp_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no data</text></svg>\n",
                         W / 2, H / 2);
        return;
    }
    if (x1 - x0 < 1e-12) x0 -= 1, x1 += 1;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    rp_strbuf_printf(b, "<g stroke=\"#e8ebf0\">");
    for (int k = 0; k <= 4; k++) {
        double yv = y0 + (y1 - y0) * k / 4;
        rp_strbuf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", L, L + pw,
                         PY(yv), PY(yv));
    }
    rp_strbuf_puts(b, "</g>\n");
    for (int k = 0; k <= 4; k++) {
        double yv = y0 + (y1 - y0) * k / 4, xv = x0 + (x1 - x0) * k / 4;
        rp_strbuf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" "
                            "dominant-baseline=\"middle\">%.3g</text>",
                         L - 6, PY(yv), yv);
        rp_strbuf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>",
                         PX(xv), T + ph + 16, xv);
    }
    rp_strbuf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#666\"/>"
                        "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#666\"/>\n",
                     L, L + pw, T + ph, T + ph, L, L, T, T + ph);
    rp_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"label\">epoch"
                        "</text><text transform=\"translate(14,%d) rotate(-90)\" "
                        "text-anchor=\"middle\" class=\"label\">",
                     L + pw / 2, H - 8, T + ph / 2);
    html(b, ylabel);
    rp_strbuf_puts(b, "</text>\n");
    for (size_t i = 0; i < nc; i++) {
        int open = 0;
        for (size_t j = 0; j < c[i].n; j++) {
            int ok = isfinite(c[i].x[j]) && isfinite(c[i].y[j]);
            if (ok && !open) {
                rp_strbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                                    "points=\"",
                                 c[i].color, c[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
                open = 1;
            }
            if (ok) rp_strbuf_printf(b, "%.1f,%.1f ", PX(c[i].x[j]), PY(c[i].y[j]));
            if (!ok && open) {
                rp_strbuf_puts(b, "\"/>\n");
                open = 0;
            }
        }
        if (open) rp_strbuf_puts(b, "\"/>\n");
        for (size_t j = 0; j < c[i].n && c[i].n <= 60; j++)
            if (isfinite(c[i].x[j]) && isfinite(c[i].y[j]))
                rp_strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>",
                                 PX(c[i].x[j]), PY(c[i].y[j]), c[i].color);
    }
    rp_strbuf_puts(b, "</svg>\n");
#undef PX
#undef PY
}

/* One column of a history table of run r (NULL when absent). *n rows. */
static double *hist_col(const cJSON *hist, const char *col, size_t *n) {
    const cJSON *cols = cJSON_GetObjectItem(hist, "columns"), *vals = cJSON_GetObjectItem(hist, "values");
    int ci = -1, k = 0;
    for (const cJSON *c = cols ? cols->child : NULL; c; c = c->next, k++)
        if (cJSON_IsString(c) && !strcmp(c->valuestring, col)) ci = k;
    *n = 0;
    if (ci < 0 || !cJSON_IsArray(vals)) return NULL;
    size_t rows = (size_t)cJSON_GetArraySize(vals);
    double *v = malloc((rows ? rows : 1) * sizeof *v);
    if (!v) return NULL;
    size_t i = 0;
    for (const cJSON *row = vals->child; row; row = row->next, i++) {
        const cJSON *c = cJSON_GetArrayItem(row, ci);
        v[i] = cJSON_IsNumber(c) ? c->valuedouble : NAN;
    }
    *n = rows;
    return v;
}

static void curves(rp_strbuf *b, const cmp_run *runs, size_t nr) {
    /* stages with a history table, in the first run's order (then others') */
    const char *stages[64];
    size_t ns = 0;
    for (size_t r = 0; r < nr; r++)
        for (cJSON *st = runs[r].metrics->child; st && ns < 64; st = st->next) {
            if (!cJSON_GetObjectItem(cJSON_GetObjectItem(st, "tables"), "history")) continue;
            size_t i = 0;
            while (i < ns && strcmp(stages[i], st->string)) i++;
            if (i == ns) stages[ns++] = st->string;
        }
    if (!ns) return;
    rp_strbuf_puts(b, "<section><h2>Learning curves</h2>\n<p class=\"muted\">solid: validation, "
                      "dashed: training; one colour per run (legend above).</p>\n");
    static const char *const what[2][3] = {{"loss", "train_loss", "val_loss"},
                                           {"accuracy", "train_acc", "val_acc"}};
    for (size_t s = 0; s < ns; s++) {
        rp_strbuf_puts(b, "<div class=\"charts\">\n");
        for (int w = 0; w < 2; w++) {
            curve c[2 * MAX_RUNS];
            double *own[4 * MAX_RUNS];
            size_t nc = 0, no = 0;
            for (size_t r = 0; r < nr; r++) {
                const cJSON *h = cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(runs[r].metrics, stages[s]), "tables"),
                    "history");
                if (!h) continue;
                size_t n0, n1, n2;
                double *x = hist_col(h, "epoch", &n0), *tr = hist_col(h, what[w][1], &n1),
                       *va = hist_col(h, what[w][2], &n2);
                own[no++] = x, own[no++] = tr, own[no++] = va;
                if (!x) continue;
                if (tr) c[nc++] = (curve){x, tr, n0 < n1 ? n0 : n1, palette[r % NPAL], 1};
                if (va) c[nc++] = (curve){x, va, n0 < n2 ? n0 : n2, palette[r % NPAL], 0};
            }
            char title[300];
            snprintf(title, sizeof title, "%s: %s", stages[s], what[w][0]);
            chart(b, title, what[w][0], c, nc);
            for (size_t k = 0; k < no; k++) free(own[k]);
        }
        rp_strbuf_puts(b, "</div>\n");
    }
    rp_strbuf_puts(b, "</section>\n");
}

/* ---- the documents -------------------------------------------------------------------- */

static const char *css =
    "*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
    "Helvetica,Arial,sans-serif;color:#1d2330;background:#f4f6f9;margin:0}"
    "main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}"
    "header{background:#1d2b45;color:#fff;padding:22px 28px}header h1{margin:0 0 4px;"
    "font-size:24px;font-weight:600}header p{margin:0;color:#c5cee0;font-size:13px}"
    "section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:18px 22px;"
    "margin:18px 0;overflow-x:auto}h2{font-size:18px;margin:0 0 12px;color:#1d2b45}"
    "table{border-collapse:collapse;font-size:13px}th,td{padding:4px 10px;border-bottom:1px "
    "solid #e6e9ef;text-align:right;white-space:nowrap}th:first-child,td:first-child"
    "{text-align:left}thead th{background:#eef1f6}td.d{color:#555}td.up{color:#1a7f37}"
    "td.down{color:#b3261e}tr.same td{color:#8a93a3}td.p{text-align:left;white-space:normal;"
    "font-family:ui-monospace,monospace;font-size:12px}"
    ".charts{display:flex;flex-wrap:wrap;gap:18px}svg.chart{max-width:100%;height:auto}"
    "svg text{font:11px system-ui,sans-serif;fill:#333}svg .title{font-size:13px;"
    "font-weight:600;fill:#1d2b45}.legend span{display:inline-block;margin-right:16px}"
    ".legend i{display:inline-block;width:22px;height:3px;vertical-align:middle;margin-right:6px}"
    ".muted{color:#7a8496}";

static int write_docs(const cmp_run *runs, size_t nr, const metric_rows *m, const kvlist *pars,
                      size_t n_pars_keys, char *const *pkeys, rp_strbuf *h, rp_strbuf *d) {
    /* header + legend */
    rp_strbuf_printf(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                        "<title>runpipe compare</title><style>%s</style></head><body>\n"
                        "<header><h1>Comparison of %zu runs</h1><p>",
                     css, nr);
    for (size_t r = 0; r < nr; r++) {
        if (r) rp_strbuf_puts(h, " \xC2\xB7 ");
        html(h, runs[r].dir);
    }
    rp_strbuf_puts(h, "</p></header>\n<main>\n<section><h2>Runs</h2><div class=\"legend\">");
    for (size_t r = 0; r < nr; r++) {
        rp_strbuf_printf(h, "<span><i style=\"background:%s\"></i>", palette[r % NPAL]);
        html(h, runs[r].label);
        rp_strbuf_puts(h, "</span>");
    }
    rp_strbuf_puts(h, "</div></section>\n");
    rp_strbuf_printf(d, "# Comparison of %zu runs\n\n", nr);
    for (size_t r = 0; r < nr; r++) {
        rp_strbuf_puts(d, "- `");
        md(d, runs[r].label);
        rp_strbuf_puts(d, "`: ");
        md(d, runs[r].dir);
        rp_strbuf_puts(d, "\n");
    }
    curves(h, runs, nr);

    /* metrics with differences to the first run */
    rp_strbuf_puts(h, "<section><h2>Final metrics</h2><p class=\"muted\">\xCE\x94: difference to "
                      "the first run; rows where all runs agree are grey.</p>\n<table><thead><tr>"
                      "<th>metric</th>");
    rp_strbuf_puts(d, "\n## Final metrics\n\n| metric |");
    for (size_t r = 0; r < nr; r++) {
        rp_strbuf_puts(h, "<th>");
        html(h, runs[r].label);
        rp_strbuf_puts(h, "</th>");
        if (r) {
            rp_strbuf_puts(h, "<th>\xCE\x94</th>");
        }
        rp_strbuf_puts(d, " ");
        md(d, runs[r].label);
        rp_strbuf_puts(d, " |");
        if (r) {
            rp_strbuf_puts(d, " \xCE\x94 ");
            md(d, runs[r].label);
            rp_strbuf_puts(d, " |");
        }
    }
    rp_strbuf_puts(h, "</tr></thead><tbody>\n");
    rp_strbuf_puts(d, "\n|---|");
    for (size_t r = 0; r < nr; r++) rp_strbuf_puts(d, r ? "---:|---:|" : "---:|");
    rp_strbuf_puts(d, "\n");
    for (size_t i = 0; i < m->n; i++) {
        const double *v = m->v + i * nr;
        int same = 1;
        for (size_t r = 1; r < nr; r++)
            if (!(v[r] == v[0] || (isnan(v[r]) && isnan(v[0])))) same = 0;
        rp_strbuf_puts(h, same ? "<tr class=\"same\"><td>" : "<tr><td>");
        html(h, m->keys[i]);
        rp_strbuf_puts(h, "</td>");
        rp_strbuf_puts(d, "| ");
        md(d, m->keys[i]);
        rp_strbuf_puts(d, " |");
        for (size_t r = 0; r < nr; r++) {
            rp_strbuf_puts(h, "<td>");
            num(h, v[r]);
            rp_strbuf_puts(h, "</td>");
            rp_strbuf_puts(d, " ");
            num(d, v[r]);
            rp_strbuf_puts(d, " |");
            if (r) {
                double dd = v[r] - v[0];
                /* green = better: lower is better for losses, errors, time */
                double better = lower_is_better(m->keys[i]) ? -dd : dd;
                rp_strbuf_puts(h, isnan(dd) || dd == 0 ? "<td class=\"d\">"
                                  : better > 0        ? "<td class=\"d up\">"
                                                      : "<td class=\"d down\">");
                delta(h, dd);
                rp_strbuf_puts(h, "</td>");
                rp_strbuf_puts(d, " ");
                delta(d, dd);
                rp_strbuf_puts(d, " |");
            }
        }
        rp_strbuf_puts(h, "</tr>\n");
        rp_strbuf_puts(d, "\n");
    }
    rp_strbuf_puts(h, "</tbody></table></section>\n");

    /* parameters that differ */
    rp_strbuf_puts(h, "<section><h2>Parameters that differ</h2>\n");
    rp_strbuf_puts(d, "\n## Parameters that differ\n\n");
    if (n_pars_keys == 0) {
        rp_strbuf_puts(h, "<p class=\"muted\">none: the resolved pipelines are identical (the "
                          "runs differ only in what is not in the file, e.g. the code or the "
                          "data on disk).</p>\n");
        rp_strbuf_puts(d, "none\n");
    } else {
        rp_strbuf_puts(h, "<table><thead><tr><th>parameter</th>");
        rp_strbuf_puts(d, "| parameter |");
        for (size_t r = 0; r < nr; r++) {
            rp_strbuf_puts(h, "<th>");
            html(h, runs[r].label);
            rp_strbuf_puts(h, "</th>");
            rp_strbuf_puts(d, " ");
            md(d, runs[r].label);
            rp_strbuf_puts(d, " |");
        }
        rp_strbuf_puts(h, "</tr></thead><tbody>\n");
        rp_strbuf_puts(d, "\n|---|");
        for (size_t r = 0; r < nr; r++) rp_strbuf_puts(d, "---|");
        rp_strbuf_puts(d, "\n");
        for (size_t k = 0; k < n_pars_keys; k++) {
            rp_strbuf_puts(h, "<tr><td>");
            html(h, pkeys[k]);
            rp_strbuf_puts(h, "</td>");
            rp_strbuf_puts(d, "| ");
            md(d, pkeys[k]);
            rp_strbuf_puts(d, " |");
            for (size_t r = 0; r < nr; r++) {
                const char *v = kv_get(&pars[r], pkeys[k]);
                rp_strbuf_puts(h, "<td class=\"p\">");
                html(h, v ? v : "(absent)");
                rp_strbuf_puts(h, "</td>");
                rp_strbuf_puts(d, " ");
                md(d, v ? v : "(absent)");
                rp_strbuf_puts(d, " |");
            }
            rp_strbuf_puts(h, "</tr>\n");
            rp_strbuf_puts(d, "\n");
        }
        rp_strbuf_puts(h, "</tbody></table>\n");
    }
    rp_strbuf_puts(h, "</section>\n</main></body></html>\n");
    return h->oom || d->oom ? -1 : 0;
}

static int usage(const char *msg, const char *arg) {
    fprintf(stderr, "runpipe compare: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\nusage: runpipe compare RUNDIR... [--out FILE.html] [--md FILE.md]\n");
    return 2;
}

int rp_cli_compare(int argc, char **argv) {
    cmp_run runs[MAX_RUNS];
    memset(runs, 0, sizeof runs);
    size_t nr = 0;
    const char *out = "compare.html", *mdout = NULL;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: runpipe compare RUNDIR... [--out FILE.html] [--md FILE.md]\n"
                   "Compare runs (a run folder, or every cell of a matrix run folder): "
                   "overlaid learning\ncurves, final metrics with differences to the first run, "
                   "and the parameters that\ndiffer between their pipeline.resolved.yaml, as "
                   "one self-contained HTML page\n(default compare.html) and Markdown on stdout.\n");
            return 0;
        } else if (!strcmp(a, "--out") || !strcmp(a, "--md")) {
            if (i + 1 >= argc) return usage("option '%s' needs a value", a);
            if (!strcmp(a, "--out")) out = argv[++i];
            else mdout = argv[++i];
        } else if (a[0] == '-') {
            rc = usage("unknown option '%s'", a);
        } else {
            int f = add_dir(runs, &nr, a);
            if (f == -2) rc = usage("more than %s runs", "64");
            else if (f == 0)
                rc = usage("'%s' is not a run folder (no metrics.json) and holds no cells", a);
        }
    }
    if (!rc && nr < 2) rc = usage("%s", "needs at least two runs (or a matrix run with two cells)");
    for (size_t r = 0; r < nr && !rc; r++)
        if (load_run(&runs[r])) rc = 1;
    metric_rows m = {0};
    kvlist pars[MAX_RUNS];
    memset(pars, 0, sizeof pars);
    char **pkeys = NULL;
    size_t npk = 0;
    if (!rc) {
        make_labels(runs, nr);
        if (collect_metrics(runs, nr, &m)) rc = 1;
        for (size_t r = 0; r < nr && !rc; r++)
            if (runs[r].pipeline && flatten(runs[r].pipeline, "", &pars[r])) rc = 1;
        /* keys that differ, in first-appearance order */
        size_t cap = 0;
        for (size_t r = 0; r < nr && !rc; r++)
            for (size_t k = 0; k < pars[r].n && !rc; k++) {
                const char *key = pars[r].v[k].key;
                int seen = 0;
                for (size_t j = 0; j < npk && !seen; j++) seen = !strcmp(pkeys[j], key);
                if (seen) continue;
                const char *v0 = kv_get(&pars[0], key);
                int differs = 0;
                for (size_t q = 0; q < nr && !differs; q++) {
                    const char *vq = kv_get(&pars[q], key);
                    differs = (!v0) != (!vq) || (v0 && vq && strcmp(v0, vq));
                }
                if (!differs) continue;
                if (npk == cap) {
                    cap = cap ? cap * 2 : 32;
                    char **nk = realloc(pkeys, cap * sizeof *nk);
                    if (!nk) {
                        rc = 1;
                        break;
                    }
                    pkeys = nk;
                }
                pkeys[npk++] = (char *)key;
            }
    }
    if (!rc) {
        rp_strbuf h = {0}, d = {0};
        rp_error e;
        rp_error_clear(&e);
        if (write_docs(runs, nr, &m, pars, npk, pkeys, &h, &d)) {
            fprintf(stderr, "runpipe compare: out of memory\n");
            rc = 1;
        } else if (rp_write_atomic(out, h.p, h.n, &e) != RP_OK ||
                   (mdout && rp_write_atomic(mdout, d.p, d.n, &e) != RP_OK)) {
            fprintf(stderr, "runpipe compare: %s\n", e.msg);
            rc = 1;
        } else {
            fwrite(d.p, 1, d.n, stdout);
            fprintf(stderr, "compare: %s%s%s\n", out, mdout ? ", " : "", mdout ? mdout : "");
        }
        rp_strbuf_release(&h);
        rp_strbuf_release(&d);
    }
    for (size_t i = 0; i < m.n; i++) free(m.keys[i]);
    free(m.keys);
    free(m.v);
    free(pkeys);
    for (size_t r = 0; r < nr; r++) {
        kv_free(&pars[r]);
        free(runs[r].dir);
        free(runs[r].label);
        cJSON_Delete(runs[r].metrics);
        rp_node_free(runs[r].pipeline);
    }
    return rc;
}
