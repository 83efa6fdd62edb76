/* aggregate.csv / aggregate.md of a matrix run (aggregate.h, rundir.h).
 *
 *   aggregate: {over: [seed], metrics: [eval.*.error_rate],
 *               table: {rows: arch, cols: method, metric: eval.test.error_rate,
 *                       format: "{mean:.2f} ± {std:.2f}", scale: 100,
 *                       then: {mean_over: [method], as: Avg}}}
 *
 * Groups are the cells that differ only in the axes of `over`; every other
 * axis (map values included, labelled `resnet20(shortcut=A)`) tells groups
 * apart. A table lays the group means out as rows × cols (the paper's
 * layout); `then` adds a row or column of means of those means (S3's Avg).
 */
#include "run/aggregate.h"

#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/rundir.h"
#include "run/status.h"
#include "runpipe/io.h"
#include "runpipe/strbuf.h"

static void label_into(rp_strbuf *b, const rp_node *v, int top) {
    if (!v || v->kind == RP_NODE_NULL) {
        rp_strbuf_puts(b, "null");
    } else if (v->kind == RP_NODE_SCALAR) {
        rp_strbuf_puts(b, v->str ? v->str : "");
    } else if (v->kind == RP_NODE_SEQ) {
        rp_strbuf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) rp_strbuf_puts(b, ", ");
            label_into(b, v->items[i], 0);
        }
        rp_strbuf_puts(b, "]");
    } else if (v->n == 1 && v->items[0]->kind == RP_NODE_MAP) {
        /* a component {NAME: {params}}: NAME(k=v, ...) */
        rp_strbuf_puts(b, v->keys[0]->str);
        if (v->items[0]->n) {
            rp_strbuf_puts(b, "(");
            label_into(b, v->items[0], 0);
            rp_strbuf_puts(b, ")");
        }
    } else {
        if (!top) rp_strbuf_puts(b, v->n > 1 ? "" : "");
        for (size_t i = 0; i < v->n; i++) {
            if (i) rp_strbuf_puts(b, ", ");
            rp_strbuf_printf(b, "%s=", v->keys[i]->str);
            int nest = v->items[i]->kind == RP_NODE_MAP && v->items[i]->n != 1;
            if (nest) rp_strbuf_puts(b, "(");
            label_into(b, v->items[i], 0);
            if (nest) rp_strbuf_puts(b, ")");
        }
    }
}

char *rp_value_label(const rp_node *v) {
    rp_strbuf b = {0};
    const char *name = rp_matrix_value_name(v); /* {name: cutout, ...} is called cutout */
    if (name) {
        rp_strbuf_puts(&b, name);
        return rp_strbuf_take(&b);
    }
    label_into(&b, v, 1);
    if (!b.p) rp_strbuf_puts(&b, "");
    return rp_strbuf_take(&b);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void load_cell(const char *cdir, rp_agg_cell *c) {
    memset(c, 0, sizeof *c);
    if (!rp_status_read(cdir, c->status, sizeof c->status)) snprintf(c->status, 64, "not run");
    char *mp = join(cdir, "metrics.json");
    char *txt = NULL;
    if (mp && rp_read_file(mp, &txt, NULL, NULL) == RP_OK) {
        cJSON *j = cJSON_Parse(txt);
        for (cJSON *st = j ? j->child : NULL; st; st = st->next) {
            cJSON *sc = cJSON_GetObjectItemCaseSensitive(st, "scalars");
            for (cJSON *v = sc ? sc->child : NULL; v; v = v->next) {
                char **nn = realloc(c->names, (c->n + 1) * sizeof *nn);
                if (!nn) break;
                c->names = nn;
                double *nv = realloc(c->vals, (c->n + 1) * sizeof *nv);
                if (!nv) break;
                c->vals = nv;
                size_t l = strlen(st->string) + strlen(v->string) + 2;
                if (!(c->names[c->n] = malloc(l))) break;
                snprintf(c->names[c->n], l, "%s.%s", st->string, v->string);
                c->vals[c->n++] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
            }
        }
        cJSON_Delete(j);
    }
    free(txt);
    free(mp);
}

int rp_agg_value(const rp_agg *a, size_t cell, const char *col, double *v) {
    const rp_agg_cell *c = &a->cells[cell];
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], col)) {
            *v = c->vals[i];
            return isfinite(*v);
        }
    return 0;
}

const char *rp_agg_label(const rp_agg *a, size_t cell, size_t axis) {
    const char *s = a->lab[cell * a->naxes + axis];
    return s ? s : "?";
}

static int axis_index(const rp_agg *a, const char *name) {
    for (size_t i = 0; name && i < a->naxes; i++)
        if (!strcmp(a->axes[i], name)) return (int)i;
    return -1;
}

/* `eval.*.error_rate`, `test.accuracy` (any stage) or a full key. */
static int matches(const char *pat, const char *col) {
    if (!fnmatch(pat, col, 0)) return 1;
    const char *dot = strchr(col, '.');
    return dot && !fnmatch(pat, dot + 1, 0);
}

void rp_agg_stats(const rp_agg *a, size_t g, const char *col, double *mean, double *sd, size_t *n) {
    double *xs = malloc((a->nc ? a->nc : 1) * sizeof *xs);
    size_t k = 0;
    for (size_t i = 0; xs && i < a->nc; i++) {
        double v;
        if (a->group[i] == g && !strcmp(a->cells[i].status, "done") && rp_agg_value(a, i, col, &v))
            xs[k++] = v;
    }
    rp_mean_std(xs, k, mean, sd);
    *n = k;
    free(xs);
}

void rp_agg_format(char *out, size_t n, const char *fmt, double mean, double sd, size_t cnt) {
    rp_strbuf b = {0};
    int drop = !isfinite(sd);
    for (const char *p = fmt; *p;) {
        if (*p != '{') {
            rp_strbuf_add(&b, p, 1);
            p++;
            continue;
        }
        const char *end = strchr(p, '}');
        if (!end) {
            rp_strbuf_puts(&b, p);
            break;
        }
        char name[16] = "", spec[16] = "g";
        const char *colon = memchr(p, ':', (size_t)(end - p));
        size_t nl = (size_t)((colon ? colon : end) - p - 1);
        snprintf(name, sizeof name, "%.*s", (int)(nl < 15 ? nl : 15), p + 1);
        if (colon) snprintf(spec, sizeof spec, "%.*s", (int)(end - colon - 1), colon + 1);
        char f[24], v[64];
        snprintf(f, sizeof f, "%%%s", spec);
        if (!strchr("fegFEG", f[strlen(f) - 1])) snprintf(f, sizeof f, "%%g");
        if (!strcmp(name, "mean")) {
            snprintf(v, sizeof v, f, mean);
        } else if (!strcmp(name, "std")) {
            if (drop) break; /* "mean ± std" with one value or a mean of means: the mean */
            snprintf(v, sizeof v, f, sd);
        } else if (!strcmp(name, "n")) {
            snprintf(v, sizeof v, "%zu", cnt);
        } else {
            snprintf(v, sizeof v, "{%s}", name);
        }
        rp_strbuf_puts(&b, v);
        p = end + 1;
    }
    char *s = rp_strbuf_take(&b);
    snprintf(out, n, "%s", s ? s : "");
    /* trailing " ± " left by a dropped std */
    size_t l = strlen(out);
    while (l && (out[l - 1] == ' ' || (unsigned char)out[l - 1] == 0xB1 ||
                 (unsigned char)out[l - 1] == 0xC2 || out[l - 1] == '+' || out[l - 1] == '-'))
        out[--l] = 0;
    free(s);
}

static int list_has(char **v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return (int)i;
    return -1;
}

static int table_err(rp_error *err, const rp_node *at, const char *fmt, const char *a,
                     const char *b) {
    rp_error_at(err, at, RP_ERR_INVALID, fmt, a, b);
    return RP_ERR_INVALID;
}

static int build_table(rp_agg *a, const rp_node *tn, rp_agg_table *t, rp_error *err) {
    memset(t, 0, sizeof *t);
    t->node = tn;
    t->rows = rp_node_str(rp_node_get(tn, "rows"));
    t->cols = rp_node_str(rp_node_get(tn, "cols"));
    const char *metric = rp_node_str(rp_node_get(tn, "metric"));
    t->format = rp_node_str(rp_node_get(tn, "format"));
    if (!t->format) t->format = "{mean:.2f} ± {std:.2f}";
    t->scale = 1;
    const rp_node *sc = rp_node_get(tn, "scale");
    if (sc) rp_node_as_double(sc, &t->scale, NULL);
    const char *names[2] = {t->rows, t->cols};
    const char *what[2] = {"rows", "cols"};
    for (int k = 0; k < 2; k++) {
        if (!names[k]) continue;
        int ai = axis_index(a, names[k]);
        if (ai < 0)
            return table_err(err, rp_node_get(tn, what[k]),
                             "'aggregate.table.%s': '%s' is not a matrix axis", what[k], names[k]);
        if (a->over[ai])
            return table_err(err, rp_node_get(tn, what[k]),
                             "'aggregate.table.%s': '%s' is averaged over (aggregate.over)",
                             what[k], names[k]);
    }
    for (size_t ai = 0; ai < a->naxes; ai++)
        if (!a->over[ai] && (!t->rows || strcmp(a->axes[ai], t->rows)) &&
            (!t->cols || strcmp(a->axes[ai], t->cols)))
            return table_err(err, tn,
                             "'aggregate.table': axis '%s' is neither rows, cols nor in "
                             "aggregate.over%s",
                             a->axes[ai], " (one table cell would mix its values)");
    for (size_t j = 0; metric && j < a->ncol; j++)
        if (matches(metric, a->cols[j])) {
            t->metric = a->cols[j];
            break;
        }
    if (!t->metric)
        return table_err(err, rp_node_get(tn, "metric"),
                         "'aggregate.table.metric': '%s' is not an aggregated metric%s",
                         metric ? metric : "", "");
    const rp_node *then = rp_node_get(tn, "then");
    if (then) {
        t->then_axis = rp_node_str(rp_node_at(rp_node_get(then, "mean_over"), 0));
        t->then_as = rp_node_str(rp_node_get(then, "as"));
        if (!t->then_as) t->then_as = "Avg";
        if (!t->then_axis || ((!t->rows || strcmp(t->then_axis, t->rows)) &&
                              (!t->cols || strcmp(t->then_axis, t->cols))))
            return table_err(err, rp_node_get(then, "mean_over"),
                             "'aggregate.table.then.mean_over': '%s' must be the table's rows or "
                             "cols axis%s",
                             t->then_axis ? t->then_axis : "", "");
    }
    /* row / column values in matrix order */
    t->rlab = calloc(a->nc + 1, sizeof *t->rlab);
    t->clab = calloc(a->nc + 1, sizeof *t->clab);
    if (!t->rlab || !t->clab) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int ri = axis_index(a, t->rows), ci = axis_index(a, t->cols);
    for (size_t i = 0; i < a->nc; i++) {
        const char *r = ri >= 0 ? rp_agg_label(a, i, (size_t)ri) : t->metric;
        const char *c = ci >= 0 ? rp_agg_label(a, i, (size_t)ci) : t->metric;
        if (list_has(t->rlab, t->nr, r) < 0) t->rlab[t->nr++] = strdup(r);
        if (list_has(t->clab, t->ncl, c) < 0) t->clab[t->ncl++] = strdup(c);
    }
    size_t W = t->ncl + 1, H = t->nr + 1;
    t->mean = malloc(W * H * sizeof *t->mean);
    t->sd = malloc(W * H * sizeof *t->sd);
    t->n = calloc(W * H, sizeof *t->n);
    if (!t->mean || !t->sd || !t->n) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < W * H; k++) t->mean[k] = t->sd[k] = NAN;
    for (size_t g = 0; g < a->ng; g++) {
        size_t i = a->rep[g];
        int r = list_has(t->rlab, t->nr, ri >= 0 ? rp_agg_label(a, i, (size_t)ri) : t->metric);
        int c = list_has(t->clab, t->ncl, ci >= 0 ? rp_agg_label(a, i, (size_t)ci) : t->metric);
        size_t k = (size_t)r * W + (size_t)c;
        rp_agg_stats(a, g, t->metric, &t->mean[k], &t->sd[k], &t->n[k]);
        t->mean[k] *= t->scale;
        t->sd[k] *= t->scale;
    }
    if (t->then_axis) {
        /* the mean of the group means along the axis (std of those means) */
        int along_cols = t->cols && !strcmp(t->then_axis, t->cols);
        size_t outer = along_cols ? t->nr : t->ncl, inner = along_cols ? t->ncl : t->nr;
        double *xs = malloc((inner ? inner : 1) * sizeof *xs);
        for (size_t o = 0; xs && o < outer; o++) {
            size_t m = 0;
            for (size_t q = 0; q < inner; q++) {
                double v = along_cols ? t->mean[o * W + q] : t->mean[q * W + o];
                if (isfinite(v)) xs[m++] = v;
            }
            size_t k = along_cols ? o * W + t->ncl : t->nr * W + o;
            double sd;
            rp_mean_std(xs, m, &t->mean[k], &sd);
            t->n[k] = m;
            /* std of means is not the paper's ± (over runs): left out */
        }
        free(xs);
    }
    return RP_OK;
}

void rp_agg_release(rp_agg *a) {
    for (size_t i = 0; i < a->nc; i++) {
        for (size_t k = 0; a->cells && k < a->cells[i].n; k++) free(a->cells[i].names[k]);
        if (a->cells) free(a->cells[i].names), free(a->cells[i].vals);
        for (size_t x = 0; a->lab && x < a->naxes; x++) free(a->lab[i * a->naxes + x]);
    }
    for (size_t t = 0; t < a->ntab; t++) {
        rp_agg_table *T = &a->tabs[t];
        for (size_t i = 0; i < T->nr; i++) free(T->rlab[i]);
        for (size_t i = 0; i < T->ncl; i++) free(T->clab[i]);
        free(T->rlab), free(T->clab), free(T->mean), free(T->sd), free(T->n);
    }
    free(a->tabs);
    free(a->cells);
    free(a->lab);
    free(a->axes);
    free(a->over);
    free(a->cols);
    free(a->group);
    free(a->rep);
    memset(a, 0, sizeof *a);
}

int rp_agg_load(rp_agg *a, const char *rundir, const rp_config *cfg, rp_error *err) {
    memset(a, 0, sizeof *a);
    a->cfg = cfg;
    a->nc = cfg->n_cells;
    size_t nc = a->nc ? a->nc : 1;
    const rp_node *vals0 = a->nc ? cfg->cells[0].values : NULL;
    a->naxes = rp_node_len(vals0);
    a->cells = calloc(nc, sizeof *a->cells);
    a->lab = calloc(nc * (a->naxes + 1), sizeof *a->lab);
    a->axes = calloc(a->naxes + 1, sizeof *a->axes);
    a->over = calloc(a->naxes + 1, sizeof *a->over);
    a->group = calloc(nc, sizeof *a->group);
    a->rep = calloc(nc, sizeof *a->rep);
    if (!a->cells || !a->lab || !a->axes || !a->over || !a->group || !a->rep)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    const rp_node *over = rp_node_get(cfg->aggregate, "over");
    for (size_t x = 0; x < a->naxes; x++) {
        a->axes[x] = rp_node_key_at(vals0, x);
        for (size_t k = 0; k < rp_node_len(over); k++)
            if (rp_node_str(rp_node_at(over, k)) && !strcmp(rp_node_str(rp_node_at(over, k)), a->axes[x]))
                a->over[x] = 1;
    }
    for (size_t i = 0; i < a->nc; i++) {
        char *cd = join(rundir, cfg->cells[i].dirname);
        if (cd) load_cell(cd, &a->cells[i]);
        free(cd);
        for (size_t x = 0; x < a->naxes; x++)
            a->lab[i * a->naxes + x] = rp_value_label(rp_node_get(cfg->cells[i].values, a->axes[x]));
    }
    /* metric columns: every key in first-seen order, or those `metrics` names
     * in its order (a glob's matches in first-seen order), as the paper's table */
    const rp_node *sel = rp_node_get(cfg->aggregate, "metrics");
    size_t navail = 0;
    const char **avail = NULL;
    for (size_t i = 0; i < a->nc; i++)
        for (size_t k = 0; k < a->cells[i].n; k++) {
            int seen = 0;
            for (size_t j = 0; j < navail && !seen; j++) seen = !strcmp(avail[j], a->cells[i].names[k]);
            if (seen) continue;
            const char **na = realloc(avail, (navail + 1) * sizeof *na);
            if (!na) break;
            avail = na;
            avail[navail++] = a->cells[i].names[k];
        }
    a->cols = calloc(navail + 1, sizeof *a->cols);
    int rc = a->cols ? RP_OK : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t j = 0; rc == RP_OK && j < navail && rp_node_len(sel) == 0; j++)
        a->cols[a->ncol++] = avail[j];
    for (size_t k = 0; rc == RP_OK && k < rp_node_len(sel); k++)
        for (size_t j = 0; j < navail; j++) {
            int dup = !matches(rp_node_str(rp_node_at(sel, k)), avail[j]);
            for (size_t c = 0; c < a->ncol && !dup; c++) dup = a->cols[c] == avail[j];
            if (!dup) a->cols[a->ncol++] = avail[j];
        }
    /* a selection entry that matches nothing is a typo: say what exists */
    for (size_t k = 0; rc == RP_OK && navail && k < rp_node_len(sel); k++) {
        const char *pat = rp_node_str(rp_node_at(sel, k));
        int any = 0;
        for (size_t j = 0; j < navail && !any; j++) any = matches(pat, avail[j]);
        if (any) continue;
        rp_strbuf b = {0};
        for (size_t j = 0; j < navail; j++) rp_strbuf_printf(&b, "%s%s", j ? ", " : "", avail[j]);
        rp_error_at(err, rp_node_at(sel, k), RP_ERR_INVALID,
                    "'aggregate.metrics[%zu]': '%s' matches no metric (available: %s)", k, pat,
                    b.p ? b.p : "");
        rp_strbuf_release(&b);
        rc = RP_ERR_INVALID;
    }
    free(avail);
    /* groups: cells equal in every axis not averaged over */
    for (size_t i = 0; rc == RP_OK && i < a->nc; i++) {
        size_t g;
        for (g = 0; g < a->ng; g++) {
            int same = 1;
            for (size_t x = 0; x < a->naxes && same; x++)
                same = a->over[x] || !strcmp(rp_agg_label(a, i, x), rp_agg_label(a, a->rep[g], x));
            if (same) break;
        }
        if (g == a->ng) a->rep[a->ng++] = i;
        a->group[i] = g;
    }
    const rp_node *tab = rp_node_get(cfg->aggregate, "table");
    size_t nt = tab ? (tab->kind == RP_NODE_SEQ ? tab->n : 1) : 0;
    if (rc == RP_OK && nt && navail) {
        a->tabs = calloc(nt, sizeof *a->tabs);
        if (!a->tabs) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        for (size_t t = 0; t < nt && rc == RP_OK; t++) {
            rc = build_table(a, tab->kind == RP_NODE_SEQ ? tab->items[t] : tab, &a->tabs[t], err);
            a->ntab++;
        }
    }
    return rc;
}

void rp_mean_std(const double *x, size_t n, double *mean, double *std) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m = n ? m / (double)n : NAN;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = n >= 2 ? sqrt(ss / (double)(n - 1)) : NAN;
}
