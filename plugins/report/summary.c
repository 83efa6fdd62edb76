/* summary.html over the cells of a matrix run (report.h). Each cell's report
 * stage rewrites it from the cells finished so far plus its own inputs, so
 * the last cell leaves the summary of all of them (cells run in order). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "report.h"

#define SUM_MAX_COLS 12

typedef struct sum_cell {
    char *dir;            /* owned: directory name = cell label */
    char status[64];
    int self;             /* the cell running this report */
    int has_report;
    size_t n;
    char **names;         /* owned */
    double *vals;         /* owned */
} sum_cell;

static int add_scalar(sum_cell *c, const char *name, double v) {
    char **nn = realloc(c->names, (c->n + 1) * sizeof *nn);
    if (!nn) return 0;
    c->names = nn;
    double *nv = realloc(c->vals, (c->n + 1) * sizeof *nv);
    if (!nv) return 0;
    c->vals = nv;
    if (!(c->names[c->n] = strdup(name))) return 0;
    c->vals[c->n++] = v;
    return 1;
}

static int cell_get(const sum_cell *c, const char *name, double *v) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0) {
            *v = c->vals[i];
            return isfinite(*v);
        }
    return 0;
}

static int file_exists(const char *dir, const char *a, const char *b) {
    char p[2200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s/%s", dir, a, b);
    return stat(p, &sb) == 0;
}

/* The engine's per-cell metrics.json: {"stage": {"scalars": {...}}, ...}. */
static void load_cell(const char *root, sum_cell *c) {
    char p[2200];
    snprintf(p, sizeof p, "%s/%s/status", root, c->dir);
    FILE *f = fopen(p, "r");
    if (!f || !fgets(c->status, sizeof c->status, f)) snprintf(c->status, sizeof c->status, "running");
    if (f) fclose(f);
    c->status[strcspn(c->status, " \t\r\n")] = 0;
    snprintf(p, sizeof p, "%s/%s/metrics.json", root, c->dir);
    char *txt = NULL;
    size_t len;
    if (rp_read_file(p, &txt, &len, NULL) != RP_OK) return;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    for (cJSON *st = j ? j->child : NULL; st; st = st->next) {
        cJSON *sc = cJSON_GetObjectItemCaseSensitive(st, "scalars");
        for (cJSON *v = sc ? sc->child : NULL; v; v = v->next) {
            char key[512];
            snprintf(key, sizeof key, "%s.%s", st->string, v->string);
            if (!add_scalar(c, key, cJSON_IsNumber(v) ? v->valuedouble : NAN)) break;
        }
    }
    cJSON_Delete(j);
}

static int cmp_cell(const void *a, const void *b) {
    return strcmp(((const sum_cell *)a)->dir, ((const sum_cell *)b)->dir);
}

/* Columns: headline metrics in first-seen order (else the first scalars). */
static size_t pick_columns(const sum_cell *cells, size_t nc, const char **cols) {
    size_t n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++)
        for (size_t i = 0; i < nc; i++)
            for (size_t k = 0; k < cells[i].n && n < SUM_MAX_COLS; k++) {
                const char *nm = cells[i].names[k];
                const char *dot = strchr(nm, '.');
                if (pass == 0 && !rp_report_headline(dot ? dot + 1 : nm) &&
                    !rp_report_headline(nm))
                    continue;
                if (strstr(nm, ".baseline.")) continue;
                int seen = 0;
                for (size_t j = 0; j < n && !seen; j++) seen = strcmp(cols[j], nm) == 0;
                if (!seen) cols[n++] = nm;
            }
    return n;
}

static void write_page(rp_strbuf *b, const char *title, const char *root, sum_cell *cells,
                       size_t nc) {
    const char *cols[SUM_MAX_COLS];
    size_t ncol = pick_columns(cells, nc, cols);
    rp_strbuf_puts(
        b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    rp_put_html(b, title);
    rp_strbuf_puts(b, " \xE2\x80\x94 summary</title>\n<style>");
    rp_strbuf_puts(b, rp_report_css);
    rp_strbuf_puts(b, "</style>\n</head>\n<body>\n<header><h1>");
    rp_put_html(b, title);
    rp_strbuf_printf(b, ": %zu cells</h1><p>", nc);
    rp_put_html(b, root);
    rp_strbuf_puts(b,
                   "</p></header>\n<main>\n<section><h2>Cells</h2>\n<table><thead><tr><th>cell</th>"
                   "<th style=\"text-align:left\">status</th>");
    for (size_t j = 0; j < ncol; j++) {
        rp_strbuf_puts(b, "<th>");
        rp_put_html(b, cols[j]);
        rp_strbuf_puts(b, "</th>");
    }
    rp_strbuf_puts(b, "</tr></thead><tbody>\n");
    for (size_t i = 0; i < nc; i++) {
        rp_strbuf_puts(b, "<tr><td>");
        if (cells[i].has_report) {
            rp_strbuf_puts(b, "<a href=\"");
            rp_put_html(b, cells[i].dir);
            rp_strbuf_puts(b, "/report.html\">");
            rp_put_html(b, cells[i].dir);
            rp_strbuf_puts(b, "</a>");
        } else {
            rp_put_html(b, cells[i].dir);
        }
        rp_strbuf_puts(b, "</td><td style=\"text-align:left\">");
        rp_put_html(b, cells[i].self ? "done (this report)" : cells[i].status);
        rp_strbuf_puts(b, "</td>");
        for (size_t j = 0; j < ncol; j++) {
            double v;
            rp_strbuf_puts(b, "<td>");
            if (cell_get(&cells[i], cols[j], &v)) rp_put_num(b, v);
            rp_strbuf_puts(b, "</td>");
        }
        rp_strbuf_puts(b, "</tr>\n");
    }
    /* mean, sample std (n-1), n over the cells that have the metric */
    const char *rows[3] = {"mean", "std", "n"};
    for (int r = 0; r < 3; r++) {
        rp_strbuf_printf(b, "<tr%s><td>%s</td><td></td>", r == 0 ? " class=\"sep\"" : "", rows[r]);
        for (size_t j = 0; j < ncol; j++) {
            double s = 0, s2 = 0, v;
            size_t k = 0;
            for (size_t i = 0; i < nc; i++)
                if (cell_get(&cells[i], cols[j], &v)) s += v, k++;
            double mean = k ? s / (double)k : NAN;
            for (size_t i = 0; i < nc; i++)
                if (cell_get(&cells[i], cols[j], &v)) s2 += (v - mean) * (v - mean);
            double sd = k > 1 ? sqrt(s2 / (double)(k - 1)) : NAN;
            rp_strbuf_puts(b, "<td>");
            if (r == 0) rp_put_num(b, mean);
            else if (r == 1) rp_put_num(b, sd);
            else rp_strbuf_printf(b, "%zu", k);
            rp_strbuf_puts(b, "</td>");
        }
        rp_strbuf_puts(b, "</tr>\n");
    }
    rp_strbuf_puts(b, "</tbody></table>\n<p class=\"muted\">Cells run in order; each cell's report "
                      "rewrites this page, so cells still to run show no numbers yet. The engine's "
                      "aggregate.md has the mean \xC2\xB1 std grouped by the matrix axes.</p>\n"
                      "</section>\n<footer>generated by runpipe " RUNPIPE_VERSION
                      "</footer>\n</main>\n</body>\n</html>\n");
}

int rp_report_matrix_summary(const rp_report_opts *o, const rp_report_input *in, size_t n,
                             int *written, rp_error *err) {
    *written = 0;
    char path[1100];
    snprintf(path, sizeof path, "%s/pipeline.resolved.yaml", o->rundir);
    rp_node *doc = NULL;
    rp_error e;
    rp_error_clear(&e);
    if (rp_node_parse_file(path, &doc, &e) != RP_OK) return RP_OK; /* not a pipeline run */
    int is_matrix = rp_node_get(doc, "matrix") != NULL;
    const char *nm = rp_node_str(rp_node_get(doc, "name"));
    char title[256];
    snprintf(title, sizeof title, "%s", nm ? nm : (o->title ? o->title : "runpipe"));
    rp_node_free(doc);
    if (!is_matrix) return RP_OK;

    /* <root>/<cell>: split the run directory (trailing slashes dropped) */
    char root[1024];
    snprintf(root, sizeof root, "%s", o->rundir);
    size_t l = strlen(root);
    while (l > 1 && root[l - 1] == '/') root[--l] = 0;
    char *slash = strrchr(root, '/');
    if (!slash) return RP_OK;
    char self[256];
    snprintf(self, sizeof self, "%s", slash + 1);
    if (slash == root) slash[1] = 0;
    else *slash = 0;

    DIR *d = opendir(root);
    if (!d) return rp_error_set(err, RP_ERR_IO, "summary: cannot list '%s'", root);
    sum_cell *cells = NULL;
    size_t nc = 0;
    int rc = RP_OK;
    struct dirent *de;
    while ((de = readdir(d)) && rc == RP_OK) {
        if (de->d_name[0] == '.') continue;
        if (!file_exists(root, de->d_name, "pipeline.resolved.yaml")) continue;
        sum_cell *nc2 = realloc(cells, (nc + 1) * sizeof *nc2);
        if (!nc2) {
            rc = rp_error_set(err, RP_ERR_NOMEM, "summary: out of memory");
            break;
        }
        cells = nc2;
        memset(&cells[nc], 0, sizeof cells[nc]);
        cells[nc].dir = strdup(de->d_name);
        if (!cells[nc].dir) rc = rp_error_set(err, RP_ERR_NOMEM, "summary: out of memory");
        nc++;
    }
    closedir(d);
    if (rc == RP_OK) {
        qsort(cells, nc, sizeof *cells, cmp_cell);
        for (size_t i = 0; i < nc; i++) {
            sum_cell *c = &cells[i];
            c->self = strcmp(c->dir, self) == 0;
            c->has_report = c->self || file_exists(root, c->dir, "report.html");
            if (!c->self) {
                load_cell(root, c);
                continue;
            }
            for (size_t k = 0; k < n; k++)
                for (size_t j = 0; j < in[k].m->n; j++) {
                    char key[512];
                    snprintf(key, sizeof key, "%s.%s", in[k].source, in[k].m->names[j]);
                    add_scalar(c, key, in[k].m->values[j]);
                }
        }
        rp_strbuf b = {0};
        write_page(&b, title, root, cells, nc);
        snprintf(path, sizeof path, "%s/summary.html", root);
        rc = b.oom ? rp_error_set(err, RP_ERR_NOMEM, "summary: out of memory")
                   : rp_write_atomic(path, b.p, b.n, err);
        rp_strbuf_release(&b);
        if (rc == RP_OK) *written = 1;
    }
    for (size_t i = 0; i < nc; i++) {
        for (size_t k = 0; k < cells[i].n; k++) free(cells[i].names[k]);
        free(cells[i].names);
        free(cells[i].vals);
        free(cells[i].dir);
    }
    free(cells);
    return rc;
}
