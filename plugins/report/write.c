/* The report documents: report.html (self-contained: inline CSS, SVG charts,
 * PNG data URIs), report.md and metrics.json (report.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "report.h"

const char *const rp_report_css =
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "color:#1d2330;background:#f4f6f9;margin:0}"
    "main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}"
    "header{background:#1d2b45;color:#fff;padding:22px 28px}"
    "header h1{margin:0 0 4px;font-size:24px;font-weight:600}"
    "header p{margin:0;color:#c5cee0;font-size:13px}"
    "nav{margin-top:10px}nav a{color:#9cc3ff;margin-right:14px;text-decoration:none;font-size:13px}"
    "section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:18px 22px;"
    "margin:18px 0}"
    "h2{font-size:18px;margin:0 0 12px;color:#1d2b45}h3{font-size:15px;margin:16px 0 8px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}"
    ".card{border:1px solid #dde2ea;border-radius:8px;padding:10px 16px;min-width:150px;"
    "background:#f9fbfd}"
    ".card .v{font-size:22px;font-weight:600;color:#1d2b45}.card .k{font-size:12px;color:#5b6577}"
    "table{border-collapse:collapse;font-size:13px;margin:4px 0}"
    "th,td{padding:4px 10px;border-bottom:1px solid #e6e9ef;text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child{text-align:left}"
    "thead th{background:#eef1f6;font-weight:600}"
    "tr.sep td{border-top:2px solid #c9d0db}"
    ".charts,.eval{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}"
    "svg text{font:12px system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}"
    "svg text:not([fill]){fill:#333}"
    "svg .title{font-size:14px;font-weight:600;fill:#1d2b45}svg .label{font-size:12px;fill:#555}"
    "svg .muted{fill:#999}"
    "svg .grid line{stroke:#e8ebf0}svg .axis line{stroke:#666}"
    "svg.chart,svg.heatmap{max-width:100%;height:auto}"
    ".grid-img{display:grid;grid-template-columns:repeat(auto-fill,minmax(96px,1fr));gap:10px}"
    "figure{margin:0;text-align:center;font-size:12px;color:#333}"
    "figure img{image-rendering:pixelated;width:100%;max-width:128px;border:1px solid #ccd;"
    "background:#000}"
    "figure.seg img{max-width:96px}"
    "figcaption{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
    "pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:12px;"
    "overflow:auto;font-size:12px;max-height:520px}"
    ".muted{color:#7a8496}details summary{cursor:pointer;color:#1d4f91}"
    "footer{color:#7a8496;font-size:12px;text-align:center}"
    "p.summary{max-width:560px;margin:4px 0 10px}"
    ".mblock{min-width:280px}table.sets td:first-child{white-space:normal}"
    "figcaption.wrong{color:#b3261e;font-weight:600}"
    ".grid-img figcaption{white-space:normal;line-height:1.25}"
    ".grid-img.fig{grid-template-columns:repeat(auto-fill,minmax(110px,1fr))}"
    ".onefig img,.onefig svg{max-width:100%;height:auto;image-rendering:auto;background:#fff;"
    "border:0}.onefig figure{text-align:left}"
    ".figgroup{margin:0 0 14px}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:0 0 10px}"
    ".legend i{display:inline-block;width:12px;height:12px;border:1px solid #889;"
    "margin-right:4px;vertical-align:-2px}"
    ".grid-pred{display:flex;flex-wrap:wrap;gap:14px 22px}"
    ".trio{display:flex;gap:4px;font-size:11px;color:#5b6577}"
    "figure.pred img{width:112px;max-width:112px}";

/* ---- helpers ---------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int col_index(const rp_table *t, const char *name) {
    for (size_t j = 0; j < t->cols; j++)
        if (t->col_names[j] && strcmp(t->col_names[j], name) == 0) return (int)j;
    return -1;
}

static void html_table(rp_strbuf *b, const rp_table *t, int sep_summary) {
    rp_strbuf_puts(b, "<table><thead><tr>");
    if (t->row_names) rp_strbuf_puts(b, "<th></th>");
    for (size_t j = 0; j < t->cols; j++) {
        rp_strbuf_puts(b, "<th>");
        rp_put_html(b, t->col_names[j]);
        rp_strbuf_puts(b, "</th>");
    }
    rp_strbuf_puts(b, "</tr></thead><tbody>\n");
    for (size_t i = 0; i < t->rows; i++) {
        int sep = sep_summary && t->row_names && strcmp(t->row_names[i], "accuracy") == 0;
        rp_strbuf_puts(b, sep ? "<tr class=\"sep\">" : "<tr>");
        if (t->row_names) {
            rp_strbuf_puts(b, "<td>");
            rp_put_html(b, t->row_names[i]);
            rp_strbuf_puts(b, "</td>");
        }
        for (size_t j = 0; j < t->cols; j++) {
            rp_strbuf_puts(b, "<td>");
            rp_put_num(b, t->values[i * t->cols + j]);
            rp_strbuf_puts(b, "</td>");
        }
        rp_strbuf_puts(b, "</tr>\n");
    }
    rp_strbuf_puts(b, "</tbody></table>\n");
}

/* "Headline" scalars for the cards at the top. */
int rp_report_headline(const char *name) {
    return ends_with(name, ".accuracy") || strcmp(name, "AA") == 0 || strcmp(name, "DAA") == 0 ||
           strcmp(name, "val_acc") == 0 || ends_with(name, ".mean_dice") ||
           ends_with(name, ".mean_iou");
}

static void cards(rp_strbuf *b, const rp_report_input *in, size_t n, const rp_node *pipeline) {
    int shown = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < in[i].m->n && shown < 10; k++) {
            const char *nm = in[i].m->names[k];
            if (!rp_report_headline(nm) || strncmp(nm, "baseline.", 9) == 0) continue;
            if (!shown++) rp_strbuf_puts(b, "<div class=\"cards\">\n");
            double v = in[i].m->values[k];
            rp_strbuf_puts(b, "<div class=\"card\"><div class=\"v\">");
            rp_report_put_metric(b, nm, v);
            rp_strbuf_puts(b, "</div><div class=\"k\">");
            rp_put_html(b, in[i].source);
            rp_strbuf_puts(b, " \xC2\xB7 ");
            /* train's validation accuracy by the set that validated it */
            const char *val = !strcmp(nm, "val_acc")
                                  ? rp_report_stage_input(pipeline, in[i].source, "val")
                                  : NULL;
            if (val) {
                rp_strbuf_puts(b, "validation accuracy on ");
                rp_put_html(b, val);
            } else if (strcmp(nm, "AA") == 0) {
                rp_strbuf_puts(b, "AA (mean accuracy over the sets)");
            } else {
                for (const char *c = nm; *c; c++) /* "clean.accuracy" → "clean accuracy" */
                    rp_strbuf_add(b, (*c == '.' || *c == '_') ? " " : c, 1);
            }
            rp_strbuf_puts(b, "</div></div>\n");
        }
    if (shown) rp_strbuf_puts(b, "</div>\n");
}

/* Exponential moving average with bias correction (TensorBoard's smoothing,
 * Adam's debiasing): s_t = w s_(t-1) + (1 - w) y_t, shown as s_t / (1 - w^t). */
static void smooth(const double *y, double *out, size_t n, double w) {
    double s = 0, wt = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            out[i] = NAN;
            continue;
        }
        s = w * s + (1 - w) * y[i];
        wt *= w;
        out[i] = s / (1 - wt);
    }
}

static void curves(rp_strbuf *b, const char *source, const rp_table *h, const rp_metrics *m,
                   const rp_node *pipeline) {
    int ce = col_index(h, "epoch");
    if (ce < 0 || h->rows == 0) return;
    enum { NC = 9 };
    double *x = malloc(sizeof(double) * h->rows * (NC + 1));
    if (!x) {
        b->oom = 1;
        return;
    }
    double *cols[NC];
    /* segmentation histories also have mean IoU and Dice per epoch */
    const char *names[NC] = {"train_loss", "val_loss",   "train_acc", "val_acc", "lr",
                             "train_miou", "train_dice", "val_miou",  "val_dice"};
    for (int k = 0; k < NC; k++)
        cols[k] = x + h->rows * (size_t)(k + 1);
    int idx[NC];
    for (int k = 0; k < NC; k++) {
        idx[k] = col_index(h, names[k]);
        for (size_t i = 0; i < h->rows; i++)
            cols[k][i] = idx[k] >= 0 ? h->values[i * h->cols + (size_t)idx[k]] : NAN;
    }
    for (size_t i = 0; i < h->rows; i++)
        x[i] = h->values[i * h->cols + (size_t)ce];
    /* per-step loss and lr (train's "steps" table): epochs as fractions */
    const rp_table *st = rp_metrics_table(m, "steps");
    int se = st ? col_index(st, "epoch") : -1, sl = st ? col_index(st, "loss") : -1,
        sr = st ? col_index(st, "lr") : -1;
    size_t ns = (st && se >= 0 && sl >= 0) ? st->rows : 0;
    double *sx = ns ? malloc(sizeof(double) * ns * 4) : NULL;
    if (ns && !sx) {
        free(x);
        b->oom = 1;
        return;
    }
    double *sy = sx + ns, *ss = sx + 2 * ns, *slr = sx + 3 * ns;
    for (size_t i = 0; i < ns; i++) {
        sx[i] = st->values[i * st->cols + (size_t)se];
        sy[i] = st->values[i * st->cols + (size_t)sl];
        slr[i] = sr >= 0 ? st->values[i * st->cols + (size_t)sr] : NAN;
    }
    /* heavier smoothing for longer curves: ~ a window of n/30 points */
    double w = ns > 30 ? 1.0 - 30.0 / (double)ns : 0.0;
    if (w > 0.98) w = 0.98;
    if (ns) smooth(sy, ss, ns, w);
    /* the best epoch (train's monitor) */
    double best = NAN;
    char mark[96] = "";
    for (size_t k = 0; k < m->n; k++)
        if (!strcmp(m->names[k], "best_epoch") && m->values[k] > 0) best = m->values[k];
    if (isfinite(best)) {
        const char *mon = rp_node_str(
            rp_node_get(rp_node_get(rp_report_stage_node(pipeline, source), "with"), "monitor"));
        snprintf(mark, sizeof mark, "best epoch %.0f%s%s%s", best, mon ? " (" : "", mon ? mon : "",
                 mon ? ")" : "");
    }
    char title[256];
    rp_strbuf_puts(b, "<div class=\"charts\">\n");
    rp_series loss[4] = {
        {"train (per step)", "#1f77b4", sx, sy, ns, 0, 1},
        {ns ? "train (smoothed)" : "train", "#1f77b4", ns ? sx : x, ns ? ss : cols[0],
         ns ? ns : (idx[0] >= 0 ? h->rows : 0), 0, 0},
        {"train (epoch mean)", "#1f77b4", x, cols[0], ns && idx[0] >= 0 ? h->rows : 0, 1, 0},
        {"validation", "#ff7f0e", x, cols[1], idx[1] >= 0 ? h->rows : 0, 0, 0}};
    snprintf(title, sizeof title, "%s: loss", source);
    rp_svg_line_chart_mark(b, title, "epoch", "loss", loss, 4, 540, 340, best, mark);
    rp_series acc[2] = {{"train", "#1f77b4", x, cols[2], idx[2] >= 0 ? h->rows : 0, 0, 0},
                        {"validation", "#ff7f0e", x, cols[3], idx[3] >= 0 ? h->rows : 0, 0, 0}};
    int seg = idx[5] >= 0;
    snprintf(title, sizeof title, seg ? "%s: pixel accuracy" : "%s: accuracy", source);
    /* per-epoch-only curves of a 1-epoch run would be lone dots: the values
       are in the metrics table above */
    if (h->rows > 1)
        rp_svg_line_chart_mark(b, title, "epoch", "accuracy", acc, 2, 540, 340, best, mark);
    if (seg && h->rows > 1) {
        rp_series ov[4] = {
            {"train IoU", "#1f77b4", x, cols[5], h->rows, 1, 0},
            {"train Dice", "#1f77b4", x, cols[6], h->rows, 0, 0},
            {"validation IoU", "#ff7f0e", x, cols[7], idx[7] >= 0 ? h->rows : 0, 1, 0},
            {"validation Dice", "#ff7f0e", x, cols[8], idx[8] >= 0 ? h->rows : 0, 0, 0}};
        snprintf(title, sizeof title, "%s: mean IoU and Dice", source);
        rp_svg_line_chart_mark(b, title, "epoch", "mean over classes", ov, 4, 540, 340, best, mark);
    }
    /* the learning rate: per step when recorded (warm-up, per-batch
       schedules), else per epoch; a constant lr is a line too */
    rp_series lr[1] = {{"learning rate", "#2ca02c", ns && sr >= 0 ? sx : x,
                        ns && sr >= 0 ? slr : cols[4],
                        ns && sr >= 0 ? ns : (idx[4] >= 0 ? h->rows : 0), 0, 0}};
    if (lr[0].n) {
        snprintf(title, sizeof title, "%s: learning rate", source);
        rp_svg_line_chart_mark(b, title, "epoch", "lr", lr, 1, 540, 260, best, NULL);
    }
    rp_strbuf_puts(b, "</div>\n");
    if (h->rows == 1)
        rp_strbuf_puts(b, "<p class=\"muted\">One epoch: accuracy (and the other per-epoch "
                          "values) are in the metrics table; the loss above is per step.</p>\n");
    free(sx);
    free(x);
}

/* ---- report.html ----------------------------------------------------------------- */

static int is_svg(const char *f) {
    size_t n = strlen(f);
    return n > 4 && !strcmp(f + n - 4, ".svg");
}

/* A stage's SVG file (relative to the run folder), pasted into the page;
 * a file that cannot be read or is not an <svg> document is only linked. */
static void inline_svg(rp_strbuf *b, const char *rundir, const char *rel) {
    char path[1200], *text = NULL;
    size_t len = 0;
    rp_error err;
    snprintf(path, sizeof path, "%s/%s", rundir, rel);
    rp_strbuf_puts(b, "<figure>");
    if (rp_read_file(path, &text, &len, &err) == RP_OK && !strncmp(text, "<svg", 4))
        rp_strbuf_add(b, text, len);
    rp_strbuf_puts(b, "<figcaption><a href=\"");
    rp_put_html(b, rel);
    rp_strbuf_puts(b, "\">");
    rp_put_html(b, rel);
    rp_strbuf_puts(b, "</a></figcaption></figure>\n");
    free(text);
}

/* Row-normalised copy of a confusion table: each row divided by its sum
 * (recall per true class); rows without samples stay 0. NULL on OOM. */
static rp_table *row_normalised(const rp_table *t) {
    rp_table *r = calloc(1, sizeof *r);
    size_t cells = t->rows * t->cols;
    double *v = calloc(cells ? cells : 1, sizeof *v);
    if (!r || !v) {
        free(r);
        free(v);
        return NULL;
    }
    *r = *t;
    r->values = v;
    for (size_t i = 0; i < t->rows; i++) {
        double sum = 0;
        for (size_t j = 0; j < t->cols; j++)
            if (isfinite(t->values[i * t->cols + j])) sum += t->values[i * t->cols + j];
        for (size_t j = 0; j < t->cols; j++)
            v[i * t->cols + j] = sum > 0 ? t->values[i * t->cols + j] / sum : 0;
    }
    return r;
}

static int rp_report_html_body(rp_strbuf *b, const rp_report_opts *o, const rp_report_input *in,
                               size_t n, const rp_node *pipeline, const rp_report_figs *figs,
                               rp_error *err);

int rp_report_html(rp_strbuf *b, const rp_report_opts *o, const rp_report_input *in, size_t n,
                   rp_error *err) {
    char path[1100];
    snprintf(path, sizeof path, "%s/pipeline.resolved.yaml", o->rundir);
    rp_node *pipeline = NULL;
    rp_error e;
    rp_error_clear(&e);
    if (rp_node_parse_file(path, &pipeline, &e) != RP_OK) pipeline = NULL;
    rp_report_figs figs;
    int rc = rp_report_figs_collect(&figs, o->rundir, o->stage, pipeline, err);
    if (rc == RP_OK) rc = rp_report_html_body(b, o, in, n, pipeline, &figs, err);
    rp_report_figs_release(&figs);
    rp_node_free(pipeline);
    return rc;
}

static int rp_report_html_body(rp_strbuf *b, const rp_report_opts *o, const rp_report_input *in,
                               size_t n, const rp_node *pipeline, const rp_report_figs *figs,
                               rp_error *err) {
    int has_hist = 0, has_eval = 0, has_other = 0, has_files = 0, has_svg = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t f = 0; f < in[i].m->n_files; f++)
            has_svg |= is_svg(in[i].m->files[f]) &&
                       !rp_report_figs_has(figs, o->rundir, in[i].m->files[f]);
        for (size_t t = 0; t < in[i].m->n_tables; t++) {
            const char *tn = in[i].m->tables[t].name;
            if (strcmp(tn, "history") == 0)
                has_hist = 1;
            else if (!strncmp(tn, "confusion.", 10) || !strncmp(tn, "report.", 7) ||
                     !strncmp(tn, "segmentation.", 13))
                has_eval = 1;
            else
                has_other = 1;
        }
        if (in[i].m->n_files) has_files = 1;
    }
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tmv));
    rp_strbuf_puts(
        b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    rp_put_html(b, o->title);
    rp_strbuf_puts(b, " \xE2\x80\x94 runpipe report</title>\n<style>");
    rp_strbuf_puts(b, rp_report_css);
    rp_strbuf_puts(b, "</style>\n</head>\n<body>\n<header><h1>");
    rp_put_html(b, o->title);
    rp_strbuf_puts(b, "</h1><p>runpipe " RUNPIPE_VERSION " \xC2\xB7 ");
    rp_put_html(b, o->rundir);
    rp_strbuf_puts(b, " \xC2\xB7 ");
    rp_put_html(b, when);
    rp_strbuf_puts(b, "</p>\n<nav><a href=\"#metrics\">metrics</a>");
    if (has_hist) rp_strbuf_puts(b, "<a href=\"#curves\">learning curves</a>");
    if (has_eval) rp_strbuf_puts(b, "<a href=\"#evaluation\">evaluation</a>");
    if (o->data) rp_strbuf_puts(b, "<a href=\"#samples\">samples</a>");
    if (figs->n) rp_strbuf_puts(b, "<a href=\"#figures\">figures</a>");
    if (has_svg) rp_strbuf_puts(b, "<a href=\"#charts\">charts</a>");
    if (has_other) rp_strbuf_puts(b, "<a href=\"#tables\">tables</a>");
    if (has_files) rp_strbuf_puts(b, "<a href=\"#files\">files</a>");
    rp_strbuf_puts(b, "<a href=\"#pipeline\">pipeline</a></nav></header>\n<main>\n");

    /* final metrics */
    rp_strbuf_puts(b, "<section id=\"metrics\"><h2>Final metrics</h2>\n");
    cards(b, in, n, pipeline);
    if (n == 0) rp_strbuf_puts(b, "<p class=\"muted\">no metrics were wired to this report</p>\n");
    rp_report_metric_tables(b, in, n, pipeline);
    rp_strbuf_puts(b, "</section>\n");

    if (has_hist) {
        rp_strbuf_puts(b, "<section id=\"curves\"><h2>Learning curves</h2>\n");
        for (size_t i = 0; i < n; i++) {
            const rp_table *h = rp_metrics_table(in[i].m, "history");
            if (h) curves(b, in[i].source, h, in[i].m, pipeline);
        }
        rp_strbuf_puts(b, "</section>\n");
    }

    if (has_eval) {
        rp_strbuf_puts(b, "<section id=\"evaluation\"><h2>Evaluation</h2>\n");
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < in[i].m->n_tables; t++) {
                const rp_table *ct = &in[i].m->tables[t];
                if (strncmp(ct->name, "confusion.", 10) != 0) continue;
                const char *set = ct->name + 10;
                char tn[300], title[400];
                rp_strbuf_puts(b, "<h3>");
                rp_put_html(b, in[i].source);
                rp_strbuf_puts(b, " \xC2\xB7 ");
                rp_put_html(b, set);
                rp_strbuf_puts(b, "</h3>\n<div class=\"eval\">\n<div>");
                snprintf(title, sizeof title, "confusion matrix: %s (counts)", set);
                rp_svg_heatmap(b, title, ct);
                rp_strbuf_puts(b, "</div>\n<div>");
                rp_table *nt = row_normalised(ct);
                if (!nt) return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory");
                snprintf(title, sizeof title, "%s: recall per class (%% of each row)", set);
                rp_svg_heatmap_fmt(b, title, nt, 1);
                free(nt->values);
                free(nt);
                rp_strbuf_puts(b, "</div>\n");
                snprintf(tn, sizeof tn, "report.%s", set);
                const rp_table *rt = rp_metrics_table(in[i].m, tn);
                snprintf(tn, sizeof tn, "segmentation.%s", set);
                const rp_table *st = rp_metrics_table(in[i].m, tn);
                if (rt) {
                    rp_strbuf_puts(b, "<div><h3>classification report</h3>\n");
                    html_table(b, rt, 1);
                    rp_strbuf_puts(b, "</div>\n");
                }
                if (st) {
                    rp_strbuf_puts(b, "<div><h3>per-class IoU and Dice</h3>\n");
                    html_table(b, st, 0);
                    rp_strbuf_puts(b, "</div>\n");
                }
                rp_strbuf_puts(b, "</div>\n");
            }
        rp_strbuf_puts(b, "</section>\n");
    }

    if (o->data) {
        rp_strbuf_puts(b, "<section id=\"samples\"><h2>Sample images</h2>\n");
        int rc = rp_report_samples_html(b, o, err);
        if (rc != RP_OK) return rc;
        rp_strbuf_puts(b, "</section>\n");
    }

    if (o->data && o->model && o->predictions > 0 && o->data->task == RP_TASK_SEGMENT) {
        rp_strbuf_puts(b, "<section id=\"predictions\"><h2>Predicted masks</h2>\n");
        int rc = rp_report_predictions_html(b, o, err);
        if (rc != RP_OK) return rc;
        rp_strbuf_puts(b, "</section>\n");
    }

    /* pictures the stages contributed (rp_stage_figure) */
    if (figs->n) {
        rp_strbuf_puts(b, "<section id=\"figures\"><h2>Figures</h2>\n");
        rp_report_figs_html(b, figs);
        rp_strbuf_puts(b, "</section>\n");
    }

    /* other SVG charts the stages wrote and listed in their metrics, inlined */
    if (has_svg) {
        rp_strbuf_puts(b, "<section id=\"charts\"><h2>Charts</h2>\n");
        for (size_t i = 0; i < n; i++)
            for (size_t f = 0; f < in[i].m->n_files; f++)
                if (is_svg(in[i].m->files[f]) &&
                    !rp_report_figs_has(figs, o->rundir, in[i].m->files[f]))
                    inline_svg(b, o->rundir, in[i].m->files[f]);
        rp_strbuf_puts(b, "</section>\n");
    }

    if (has_other || has_hist) {
        rp_strbuf_puts(b, "<section id=\"tables\"><h2>Tables</h2>\n");
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < in[i].m->n_tables; t++) {
                const rp_table *ot = &in[i].m->tables[t];
                const char *tn = ot->name;
                if (!strncmp(tn, "confusion.", 10) || !strncmp(tn, "report.", 7) ||
                    !strncmp(tn, "segmentation.", 13))
                    continue;
                rp_strbuf_puts(b, "<details");
                rp_strbuf_puts(b, ot->rows <= 20 ? " open" : "");
                rp_strbuf_puts(b, "><summary>");
                rp_put_html(b, in[i].source);
                rp_strbuf_puts(b, " \xC2\xB7 ");
                rp_put_html(b, tn);
                rp_strbuf_printf(b, " (%zu rows)</summary>\n", ot->rows);
                html_table(b, ot, 0);
                rp_strbuf_puts(b, "</details>\n");
            }
        rp_strbuf_puts(b, "</section>\n");
    }

    if (has_files) {
        rp_strbuf_puts(b, "<section id=\"files\"><h2>Files</h2><ul>\n");
        for (size_t i = 0; i < n; i++)
            for (size_t f = 0; f < in[i].m->n_files; f++) {
                rp_strbuf_puts(b, "<li><a href=\"");
                rp_put_html(b, in[i].m->files[f]);
                rp_strbuf_puts(b, "\">");
                rp_put_html(b, in[i].m->files[f]);
                rp_strbuf_puts(b, "</a> <span class=\"muted\">(");
                rp_put_html(b, in[i].source);
                rp_strbuf_puts(b, ")</span>");
                /* figures a stage wrote (Grad-CAM grids, histograms) are shown */
                size_t len = strlen(in[i].m->files[f]);
                if (len > 4 && !strcmp(in[i].m->files[f] + len - 4, ".png") &&
                    !rp_report_figs_has(figs, o->rundir, in[i].m->files[f])) {
                    rp_strbuf_puts(b, "<br><img style=\"max-width:100%\" src=\"");
                    rp_put_html(b, in[i].m->files[f]);
                    rp_strbuf_puts(b, "\">");
                }
                rp_strbuf_puts(b, "</li>\n");
            }
        rp_strbuf_puts(b, "</ul></section>\n");
    }

    rp_strbuf_puts(b, "<section id=\"pipeline\"><h2>Pipeline</h2>\n");
    char path[1100], *yaml = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/pipeline.resolved.yaml", o->rundir);
    rp_error e2;
    rp_error_clear(&e2);
    if (rp_read_file(path, &yaml, &len, &e2) == RP_OK) {
        rp_strbuf_puts(b, "<p class=\"muted\">pipeline.resolved.yaml: every default filled, every "
                          "variable substituted.</p>\n<pre>");
        rp_put_html(b, yaml);
        rp_strbuf_puts(b, "</pre>\n");
        free(yaml);
    } else {
        rp_strbuf_puts(b, "<p class=\"muted\">pipeline.resolved.yaml was not found in the run "
                          "directory.</p>\n");
    }
    rp_strbuf_puts(b, "</section>\n<footer>generated by runpipe " RUNPIPE_VERSION
                      "</footer>\n</main>\n</body>\n</html>\n");
    return b->oom ? rp_error_set(err, RP_ERR_NOMEM, "report: out of memory") : RP_OK;
}

/* ---- report.md ---------------------------------------------------------------------- */

static void md_text(rp_strbuf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|')
            rp_strbuf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r')
            rp_strbuf_puts(b, " ");
        else
            rp_strbuf_add(b, s, 1);
    }
}

static void md_table(rp_strbuf *b, const rp_table *t) {
    rp_strbuf_puts(b, "|");
    if (t->row_names) rp_strbuf_puts(b, " |");
    for (size_t j = 0; j < t->cols; j++) {
        rp_strbuf_puts(b, " ");
        md_text(b, t->col_names[j]);
        rp_strbuf_puts(b, " |");
    }
    rp_strbuf_puts(b, "\n|");
    if (t->row_names) rp_strbuf_puts(b, "---|");
    for (size_t j = 0; j < t->cols; j++)
        rp_strbuf_puts(b, "---:|");
    rp_strbuf_puts(b, "\n");
    for (size_t i = 0; i < t->rows; i++) {
        rp_strbuf_puts(b, "|");
        if (t->row_names) {
            rp_strbuf_puts(b, " ");
            md_text(b, t->row_names[i]);
            rp_strbuf_puts(b, " |");
        }
        for (size_t j = 0; j < t->cols; j++) {
            rp_strbuf_puts(b, " ");
            rp_put_num(b, t->values[i * t->cols + j]);
            rp_strbuf_puts(b, " |");
        }
        rp_strbuf_puts(b, "\n");
    }
    rp_strbuf_puts(b, "\n");
}

void rp_report_markdown(rp_strbuf *b, const rp_report_opts *o, const rp_report_input *in,
                        size_t n) {
    rp_strbuf_puts(b, "# ");
    md_text(b, o->title);
    rp_strbuf_puts(b, "\n\nRun directory: `");
    md_text(b, o->rundir);
    rp_strbuf_puts(b, "`\n\n## Final metrics\n\n| source | metric | value |\n|---|---|---:|\n");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < in[i].m->n; k++) {
            rp_strbuf_puts(b, "| ");
            md_text(b, in[i].source);
            rp_strbuf_puts(b, " | ");
            md_text(b, in[i].m->names[k]);
            rp_strbuf_puts(b, " | ");
            rp_put_num(b, in[i].m->values[k]);
            rp_strbuf_puts(b, " |\n");
        }
    rp_strbuf_puts(b, "\n");
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < in[i].m->n_tables; t++) {
            rp_strbuf_puts(b, "## ");
            md_text(b, in[i].source);
            rp_strbuf_puts(b, ": ");
            md_text(b, in[i].m->tables[t].name);
            rp_strbuf_puts(b, "\n\n");
            md_table(b, &in[i].m->tables[t]);
        }
}

/* ---- metrics.json ----------------------------------------------------------------- */

static cJSON *num_or_null(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int rp_report_json(char **out, const rp_report_input *in, size_t n, rp_error *err) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "inputs");
    for (size_t i = 0; arr && i < n; i++) {
        const rp_metrics *m = in[i].m;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "source", in[i].source);
        cJSON *sc = cJSON_AddObjectToObject(o, "scalars");
        for (size_t k = 0; k < m->n; k++)
            cJSON_AddItemToObject(sc, m->names[k], num_or_null(m->values[k]));
        cJSON *tabs = cJSON_AddObjectToObject(o, "tables");
        for (size_t t = 0; t < m->n_tables; t++) {
            const rp_table *tb = &m->tables[t];
            cJSON *to = cJSON_CreateObject();
            cJSON_AddItemToObject(tabs, tb->name, to);
            cJSON *cols = cJSON_AddArrayToObject(to, "columns");
            for (size_t j = 0; j < tb->cols; j++)
                cJSON_AddItemToArray(cols, cJSON_CreateString(tb->col_names[j]));
            if (tb->row_names) {
                cJSON *rows = cJSON_AddArrayToObject(to, "rows");
                for (size_t r = 0; r < tb->rows; r++)
                    cJSON_AddItemToArray(rows, cJSON_CreateString(tb->row_names[r]));
            }
            cJSON *vals = cJSON_AddArrayToObject(to, "values");
            for (size_t r = 0; r < tb->rows; r++) {
                cJSON *row = cJSON_CreateArray();
                cJSON_AddItemToArray(vals, row);
                for (size_t j = 0; j < tb->cols; j++)
                    cJSON_AddItemToArray(row, num_or_null(tb->values[r * tb->cols + j]));
            }
        }
        cJSON *files = cJSON_AddArrayToObject(o, "files");
        for (size_t f = 0; f < m->n_files; f++)
            cJSON_AddItemToArray(files, cJSON_CreateString(m->files[f]));
    }
    char *txt = arr ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!txt) return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory (metrics.json)");
    *out = txt;
    return RP_OK;
}

/* ---- all three files ---------------------------------------------------------------- */

int rp_report_write(const rp_report_opts *o, const rp_report_input *in, size_t n, rp_error *err) {
    char path[1100];
    rp_strbuf b = {0};
    int rc = rp_report_html(&b, o, in, n, err);
    snprintf(path, sizeof path, "%s/report.html", o->rundir);
    if (rc == RP_OK) rc = rp_write_atomic(path, b.p, b.n, err);
    rp_strbuf_release(&b);
    if (rc != RP_OK) return rc;
    rp_report_markdown(&b, o, in, n);
    snprintf(path, sizeof path, "%s/report.md", o->rundir);
    rc = b.oom ? rp_error_set(err, RP_ERR_NOMEM, "report: out of memory")
               : rp_write_atomic(path, b.p, b.n, err);
    rp_strbuf_release(&b);
    if (rc != RP_OK) return rc;
    char *json = NULL;
    rc = rp_report_json(&json, in, n, err);
    snprintf(path, sizeof path, "%s/metrics.json", o->json_dir ? o->json_dir : o->rundir);
    if (rc == RP_OK) rc = rp_write_atomic(path, json, strlen(json), err);
    free(json);
    return rc;
}
