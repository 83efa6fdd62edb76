/* summary.html of a matrix run (aggregate.h): the paper-shaped tables, a dot
 * plot with error bars (± sample std) per table, one row per group (its axis
 * values, n, mean ± std, links to its cells) and every cell. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/aggregate.h"
#include "runpipe/io.h"
#include "runpipe/runpipe.h"
#include "runpipe/strbuf.h"

static void esc(rp_strbuf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') rp_strbuf_puts(b, "&lt;");
        else if (*s == '>') rp_strbuf_puts(b, "&gt;");
        else if (*s == '&') rp_strbuf_puts(b, "&amp;");
        else if (*s == '"') rp_strbuf_puts(b, "&quot;");
        else rp_strbuf_add(b, s, 1);
    }
}

static const char *css =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}"
    "h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
    /* a table wider than the window (many metrics) scrolls on its own
       instead of widening the page; labels do not wrap */
    "table{border-collapse:collapse;margin:8px 0;display:block;overflow-x:auto;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}"
    "th{background:#f3f3f3}td.l,th.l{text-align:left}.muted{color:#777}"
    "a{color:#0645ad;text-decoration:none}";

static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

/* Dot plot: one band per row value, one coloured dot per column value, bars
 * from mean - std to mean + std. */
static void plot(rp_strbuf *b, const rp_agg_table *T) {
    size_t W = T->ncl + 1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t r = 0; r < T->nr; r++)
        for (size_t c = 0; c < T->ncl; c++) {
            double m = T->mean[r * W + c], s = T->sd[r * W + c];
            if (!isfinite(m)) continue;
            if (!isfinite(s)) s = 0;
            lo = fmin(lo, m - s);
            hi = fmax(hi, m + s);
        }
    if (!isfinite(lo)) return;
    double data_lo = lo;
    if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
    /* Ticks on a 1-2-5 step with the decimals the step needs: evenly spaced
     * %.3g labels of the raw range repeat ("100, 100, 100" around 100). */
    double raw = (hi - lo) / 4, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    lo = floor(lo / step - 0.25) * step;
    hi = ceil(hi / step + 0.25) * step;
    /* accuracies and error rates are never negative: no axis below 0 for them */
    if (data_lo >= 0 && lo < 0) lo = 0;
    int nt = (int)lround((hi - lo) / step), dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    const double left = 70, top = 20, band = 90, ph = 260;
    double width = left + band * (double)T->nr + 300;
    rp_strbuf_printf(b, "<svg width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                        "style=\"font:12px sans-serif\">\n", width, ph + 60);
    for (int k = 0; k <= nt; k++) {
        double v = lo + step * k, y = top + ph - ph * k / nt;
        rp_strbuf_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" "
                            "stroke=\"#ddd\"/><text x=\"%.0f\" y=\"%.1f\" "
                            "text-anchor=\"end\">%.*f</text>\n",
                         left, left + band * (double)T->nr, y, y, left - 6, y + 4, dec,
                         fabs(v) < step * 1e-6 ? 0.0 : v);
    }
    for (size_t r = 0; r < T->nr; r++) {
        double x0 = left + band * (double)r;
        rp_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">", x0 + band / 2,
                         top + ph + 18);
        esc(b, T->rlab[r]);
        rp_strbuf_puts(b, "</text>\n");
        for (size_t c = 0; c < T->ncl; c++) {
            double m = T->mean[r * W + c], s = T->sd[r * W + c];
            if (!isfinite(m)) continue;
            double x = x0 + band * (double)(c + 1) / (double)(T->ncl + 1);
            double y = top + ph * (hi - m) / (hi - lo);
            const char *col = palette[c % 8];
            if (isfinite(s) && s > 0) {
                double y1 = top + ph * (hi - (m + s)) / (hi - lo), y2 = top + ph * (hi - (m - s)) / (hi - lo);
                rp_strbuf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                                    "stroke=\"%s\" stroke-width=\"1.5\"/>"
                                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
                                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                                 x, x, y1, y2, col, x - 4, x + 4, y1, y1, col, x - 4, x + 4, y2, y2, col);
            }
            rp_strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", x, y, col);
            esc(b, T->rlab[r]);
            rp_strbuf_puts(b, " / ");
            esc(b, T->clab[c]);
            rp_strbuf_printf(b, ": %.4g ± %.3g (n=%zu)</title></circle>\n", m, isfinite(s) ? s : 0.0,
                             T->n[r * W + c]);
        }
    }
    for (size_t c = 0; c < T->ncl; c++) {
        double y = top + 14 + 18 * (double)c, x = left + band * (double)T->nr + 16;
        rp_strbuf_printf(b, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4\" fill=\"%s\"/>"
                            "<text x=\"%.0f\" y=\"%.0f\">", x, y - 4, palette[c % 8], x + 10, y);
        esc(b, T->clab[c]);
        rp_strbuf_puts(b, "</text>\n");
    }
    rp_strbuf_puts(b, "</svg>\n");
}

static void table_html(rp_strbuf *b, const rp_agg_table *T) {
    rp_strbuf_puts(b, "<h2>");
    esc(b, T->metric);
    if (T->scale != 1) rp_strbuf_printf(b, " (× %g)", T->scale);
    rp_strbuf_puts(b, T->cols ? ": " : " by ");
    esc(b, T->rows ? T->rows : "");
    if (T->cols) { /* a table without cols is one column */
        rp_strbuf_puts(b, " × ");
        esc(b, T->cols);
    }
    rp_strbuf_puts(b, "</h2>\n<table><tr><th class=\"l\">");
    esc(b, T->rows ? T->rows : "");
    rp_strbuf_puts(b, "</th>");
    int then_cols = T->then_axis && T->cols && !strcmp(T->then_axis, T->cols);
    int then_rows = T->then_axis && !then_cols;
    for (size_t c = 0; c < T->ncl; c++) {
        rp_strbuf_puts(b, "<th>");
        esc(b, T->clab[c]);
        rp_strbuf_puts(b, "</th>");
    }
    if (then_cols) rp_strbuf_puts(b, "<th>"), esc(b, T->then_as), rp_strbuf_puts(b, "</th>");
    rp_strbuf_puts(b, "</tr>\n");
    size_t W = T->ncl + 1;
    for (size_t r = 0; r < T->nr + (size_t)then_rows; r++) {
        rp_strbuf_puts(b, "<tr><th class=\"l\">");
        esc(b, r < T->nr ? T->rlab[r] : T->then_as);
        rp_strbuf_puts(b, "</th>");
        for (size_t c = 0; c < T->ncl + (size_t)then_cols; c++) {
            char txt[128];
            size_t k = r * W + c;
            if (!isfinite(T->mean[k])) snprintf(txt, sizeof txt, "–");
            else rp_agg_format(txt, sizeof txt, T->format, T->mean[k], T->sd[k], T->n[k]);
            rp_strbuf_printf(b, "<td title=\"n=%zu\">", T->n[k]);
            esc(b, txt);
            rp_strbuf_puts(b, "</td>");
        }
        rp_strbuf_puts(b, "</tr>\n");
    }
    rp_strbuf_puts(b, "</table>\n");
    plot(b, T);
}

static void cell_link(rp_strbuf *b, const char *rundir, const rp_cell *c, const char *text) {
    char p[2300];
    snprintf(p, sizeof p, "%s/%s/report.html", rundir, c->dirname);
    const char *target = rp_path_exists(p) ? "/report.html" : "/";
    rp_strbuf_puts(b, "<a href=\"");
    esc(b, c->dirname);
    rp_strbuf_puts(b, target);
    rp_strbuf_puts(b, "\">");
    esc(b, text);
    rp_strbuf_puts(b, "</a>");
}

int rp_summary_write(const char *rundir, const rp_agg *a, rp_error *err) {
    rp_strbuf b = {0};
    const char *name = a->cfg->name ? a->cfg->name : "pipeline";
    rp_strbuf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    esc(&b, name);
    rp_strbuf_printf(&b, " — summary</title><style>%s</style></head><body>\n<h1>", css);
    esc(&b, name);
    rp_strbuf_printf(&b, ": %zu cell%s, %zu group%s</h1>\n", a->nc, a->nc == 1 ? "" : "s", a->ng,
                     a->ng == 1 ? "" : "s");
    for (size_t t = 0; t < a->ntab; t++) table_html(&b, &a->tabs[t]);
    /* groups */
    rp_strbuf_puts(&b, "<h2>Groups");
    const rp_node *over = rp_node_get(a->cfg->aggregate, "over");
    if (rp_node_len(over)) {
        rp_strbuf_puts(&b, " (mean ± sample std over");
        for (size_t k = 0; k < rp_node_len(over); k++)
            rp_strbuf_printf(&b, "%s %s", k ? "," : "", rp_node_str(rp_node_at(over, k)));
        rp_strbuf_puts(&b, ")");
    }
    rp_strbuf_puts(&b, "</h2>\n<table><tr>");
    for (size_t x = 0; x < a->naxes; x++)
        if (!a->over[x]) rp_strbuf_puts(&b, "<th class=\"l\">"), esc(&b, a->axes[x]), rp_strbuf_puts(&b, "</th>");
    rp_strbuf_puts(&b, "<th>n</th>");
    for (size_t j = 0; j < a->ncol; j++) rp_strbuf_puts(&b, "<th>"), esc(&b, a->cols[j]), rp_strbuf_puts(&b, "</th>");
    rp_strbuf_puts(&b, "<th class=\"l\">cells</th></tr>\n");
    for (size_t g = 0; g < a->ng; g++) {
        rp_strbuf_puts(&b, "<tr>");
        for (size_t x = 0; x < a->naxes; x++)
            if (!a->over[x])
                rp_strbuf_puts(&b, "<td class=\"l\">"), esc(&b, rp_agg_label(a, a->rep[g], x)),
                    rp_strbuf_puts(&b, "</td>");
        size_t ndone = 0;
        for (size_t i = 0; i < a->nc; i++) ndone += a->group[i] == g && !strcmp(a->cells[i].status, "done");
        rp_strbuf_printf(&b, "<td>%zu</td>", ndone);
        for (size_t j = 0; j < a->ncol; j++) {
            double m, s;
            size_t n;
            rp_agg_stats(a, g, a->cols[j], &m, &s, &n);
            if (n == 0) rp_strbuf_puts(&b, "<td>–</td>");
            else if (n == 1) rp_strbuf_printf(&b, "<td>%.4g</td>", m);
            else rp_strbuf_printf(&b, "<td>%.4g ± %.2g</td>", m, s);
        }
        rp_strbuf_puts(&b, "<td class=\"l\">");
        size_t k = 0;
        for (size_t i = 0; i < a->nc; i++) {
            if (a->group[i] != g) continue;
            if (k++) rp_strbuf_puts(&b, " · ");
            rp_strbuf_puts(&b, "");
            char lab[256] = "";
            size_t u = 0;
            for (size_t x = 0; x < a->naxes && u < sizeof lab - 40; x++)
                if (a->over[x])
                    u += (size_t)snprintf(lab + u, sizeof lab - u, "%s%s", u ? "," : "",
                                          rp_agg_label(a, i, x));
            cell_link(&b, rundir, &a->cfg->cells[i], u ? lab : a->cfg->cells[i].label);
        }
        rp_strbuf_puts(&b, "</td></tr>\n");
    }
    rp_strbuf_puts(&b, "</table>\n<h2>Cells</h2>\n<table><tr><th class=\"l\">cell</th><th class=\"l\">status</th>");
    for (size_t j = 0; j < a->ncol; j++) rp_strbuf_puts(&b, "<th>"), esc(&b, a->cols[j]), rp_strbuf_puts(&b, "</th>");
    rp_strbuf_puts(&b, "</tr>\n");
    for (size_t i = 0; i < a->nc; i++) {
        rp_strbuf_puts(&b, "<tr><td class=\"l\">");
        /* the same readable value labels as the groups and tables
         * (`random_erasing(p=0.5)`, not the value's YAML text) */
        char lab[512] = "";
        size_t u = 0;
        for (size_t x = 0; x < a->naxes && u < sizeof lab - 1; x++) {
            int w = snprintf(lab + u, sizeof lab - u, "%s%s=%s", u ? " " : "", a->axes[x],
                             rp_agg_label(a, i, x));
            if (w < 0) break;
            u += (size_t)w < sizeof lab - u ? (size_t)w : sizeof lab - u - 1;
        }
        cell_link(&b, rundir, &a->cfg->cells[i], u ? lab : a->cfg->cells[i].label);
        rp_strbuf_puts(&b, "</td><td class=\"l\">");
        esc(&b, a->cells[i].status);
        rp_strbuf_puts(&b, "</td>");
        for (size_t j = 0; j < a->ncol; j++) {
            double v;
            if (rp_agg_value(a, i, a->cols[j], &v)) rp_strbuf_printf(&b, "<td>%.4g</td>", v);
            else rp_strbuf_puts(&b, "<td>–</td>");
        }
        rp_strbuf_puts(&b, "</tr>\n");
    }
    rp_strbuf_puts(&b, "</table>\n<p class=\"muted\">generated by runpipe " RUNPIPE_VERSION
                       " at the end of the run; aggregate.md and aggregate.csv hold the same "
                       "numbers.</p>\n</body></html>\n");
    char path[2100];
    snprintf(path, sizeof path, "%s/summary.html", rundir);
    int rc = b.oom ? rp_error_set(err, RP_ERR_NOMEM, "summary: out of memory")
                   : rp_write_atomic(path, b.p, b.n, err);
    rp_strbuf_release(&b);
    return rc;
}
