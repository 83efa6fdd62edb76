/* candidates.csv and the two SVG charts (score vs k; ranked layer subsets). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

int cv_write_csv(const char *path, const cv_units *u, const cv_round *rounds, size_t n_rounds,
                 const cv_set *sets, size_t n_sets, rp_error *err) {
    rp_strbuf b = {0};
    rp_strbuf_puts(&b, "round,donor,candidate,units,size");
    for (size_t s = 0; s < n_sets; s++) rp_strbuf_printf(&b, ",acc.%s", sets[s].name);
    rp_strbuf_puts(&b, ",score,delta_pp\n");
    for (size_t ri = 0; ri < n_rounds; ri++) {
        const cv_round *r = &rounds[ri];
        /* the base and the donor itself first (candidate -1 / -2) */
        for (int which = 0; which < 2; which++) {
            const int64_t *c = which ? r->donor_correct : r->base_correct;
            rp_strbuf_printf(&b, "%zu,%s,%d,%s,%s", ri + 1, r->donor_name, which ? -2 : -1,
                             which ? "(donor: full swap)" : "(base)", which ? "all" : "0");
            for (size_t s = 0; s < n_sets; s++)
                rp_strbuf_printf(&b, ",%.6f", (double)c[s] / (double)sets[s].n);
            double sc = which ? r->donor_score : r->base_score;
            rp_strbuf_printf(&b, ",%.6f,%.4f\n", sc, 100.0 * (sc - r->base_score));
        }
        for (size_t i = 0; i < r->n_cands; i++) {
            const cv_cand *c = &r->cands[i];
            char lab[2048];
            cv_cand_label(u, r, c, lab, sizeof lab);
            rp_strbuf_printf(&b, "%zu,%s,%zu,%s,%lld", ri + 1, r->donor_name, i, lab,
                             (long long)cv_cand_size(r, c));
            for (size_t s = 0; s < n_sets; s++)
                rp_strbuf_printf(&b, ",%.6f", (double)c->correct[s] / (double)sets[s].n);
            rp_strbuf_printf(&b, ",%.6f,%.4f\n", c->score, 100.0 * (c->score - r->base_score));
        }
    }
    char *text = rp_strbuf_take(&b);
    if (!text) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int rc = rp_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

/* ---- SVG ------------------------------------------------------------------------ */

static void svg_text(rp_strbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') rp_strbuf_puts(b, "&lt;");
        else if (*s == '>') rp_strbuf_puts(b, "&gt;");
        else if (*s == '&') rp_strbuf_puts(b, "&amp;");
        else rp_strbuf_putc(b, *s);
    }
}

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const cv_round *r = ctx;
    const cv_cand *x = &r->cands[*(const size_t *)a], *y = &r->cands[*(const size_t *)b];
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int cv_write_svg(const char *path, const cv_units *u, const cv_round *r, size_t top,
                 rp_error *err) {
    rp_strbuf b = {0};
    char title[512];
    if (r->kind != CV_LAYERS) {
        /* score vs k, with the base's score dashed */
        const int W = 640, H = 360, L = 60, R = 20, T = 36, B = 48;
        double lo = r->base_score, hi = r->base_score;
        for (size_t i = 0; i < r->n_cands; i++) {
            lo = fmin(lo, r->cands[i].score);
            hi = fmax(hi, r->cands[i].score);
        }
        lo = fmin(lo, r->donor_score), hi = fmax(hi, r->donor_score);
        if (hi - lo < 1e-3) lo -= 5e-4, hi += 5e-4;
        double xr = (double)(r->n_rows > 1 ? r->n_rows : 1);
#define SX(k) (L + (double)(k) / xr * (W - L - R))
#define SY(v) (T + (hi - (v)) / (hi - lo) * (H - T - B))
        snprintf(title, sizeof title, "%s: score (AA over the select sets) vs first k %s from %s",
                 u->u[r->units[0]].name, r->kind == CV_ROWS ? "rows" : "columns", r->donor_name);
        rp_strbuf_printf(&b,
                         "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" "
                         "height=\"%d\" viewBox=\"0 0 %d %d\">\n<text x=\"%d\" y=\"20\" "
                         "class=\"title\">",
                         W, H, W, H, L);
        svg_text(&b, title);
        rp_strbuf_puts(&b, "</text>\n");
        rp_strbuf_printf(&b, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                             "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
                         L, H - B, W - R, H - B, L, T, L, H - B);
        for (int t = 0; t <= 4; t++) {
            double v = lo + (hi - lo) * t / 4;
            rp_strbuf_printf(&b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4f</text>\n",
                             L - 4, SY(v) + 4, v);
            double k = xr * t / 4;
            rp_strbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n",
                             SX(k), H - B + 16, k);
        }
        rp_strbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"label\">k "
                             "(first k %s moved)</text>\n",
                         (L + W - R) / 2, H - 8, r->kind == CV_ROWS ? "rows" : "columns");
        rp_strbuf_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#999\" "
                             "stroke-dasharray=\"5,4\"/><text x=\"%d\" y=\"%.1f\" "
                             "class=\"muted\">base %.4f</text>\n",
                         L, SY(r->base_score), W - R, SY(r->base_score), L + 4,
                         SY(r->base_score) - 4, r->base_score);
        rp_strbuf_puts(&b, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
        for (size_t i = 0; i < r->n_cands; i++)
            rp_strbuf_printf(&b, "%.1f,%.1f ", SX(r->cands[i].k), SY(r->cands[i].score));
        rp_strbuf_puts(&b, "\"/>\n");
        if (r->best >= 0)
            rp_strbuf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d62728\"/>"
                                 "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\">best k=%lld</text>\n",
                             SX(r->cands[r->best].k), SY(r->cands[r->best].score),
                             SX(r->cands[r->best].k) + 6, SY(r->cands[r->best].score) - 6,
                             (long long)r->cands[r->best].k);
#undef SX
#undef SY
        rp_strbuf_puts(&b, "</svg>\n");
    } else {
        /* ranked horizontal bars of the best `top` subsets */
        size_t n = r->n_cands < top ? r->n_cands : top;
        size_t *idx = malloc((r->n_cands + 1) * sizeof *idx);
        if (!idx) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < r->n_cands; i++) idx[i] = i;
        qsort_r(idx, r->n_cands, sizeof *idx, cmp_desc, (void *)r);
        const int W = 720, L = 230, R = 70, T = 36, row = 20;
        const int H = T + (int)(n + 2) * row + 30;
        double lo = fmin(r->base_score, r->donor_score), hi = fmax(r->base_score, r->donor_score);
        for (size_t i = 0; i < n; i++) {
            lo = fmin(lo, r->cands[idx[i]].score);
            hi = fmax(hi, r->cands[idx[i]].score);
        }
        lo -= (hi - lo) * 0.1 + 1e-3;
        snprintf(title, sizeof title, "best layer subsets from %s (score = AA over the select sets)",
                 r->donor_name);
        rp_strbuf_printf(&b,
                         "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" "
                         "height=\"%d\" viewBox=\"0 0 %d %d\">\n<text x=\"10\" y=\"20\" "
                         "class=\"title\">",
                         W, H, W, H);
        svg_text(&b, title);
        rp_strbuf_puts(&b, "</text>\n");
#define BX(v) (L + ((v)-lo) / (hi - lo) * (W - L - R))
        for (size_t q = 0; q < n + 2; q++) {
            const char *lab;
            char buf[2048];
            double v;
            const char *col = "#1f77b4";
            if (q < n) {
                v = r->cands[idx[q]].score;
                lab = cv_cand_label(u, r, &r->cands[idx[q]], buf, sizeof buf);
                if ((long)idx[q] == r->best) col = "#d62728";
            } else if (q == n) {
                v = r->base_score, lab = "(base)", col = "#7f7f7f";
            } else {
                v = r->donor_score, lab = "(donor itself)", col = "#bcbd22";
            }
            int y = T + (int)q * row;
            rp_strbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", L - 6, y + 14);
            svg_text(&b, lab);
            rp_strbuf_printf(&b, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                                 "fill=\"%s\"/><text x=\"%.1f\" y=\"%d\">%.4f</text>\n",
                             L, y + 3, BX(v) - L, row - 6, col, BX(v) + 4, y + 14, v);
        }
        rp_strbuf_printf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\" "
                             "stroke-dasharray=\"5,4\"/>\n",
                         BX(r->base_score), T, BX(r->base_score), T + (int)(n + 2) * row);
#undef BX
        rp_strbuf_puts(&b, "</svg>\n");
        free(idx);
    }
    char *text = rp_strbuf_take(&b);
    if (!text) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int rc = rp_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

int cv_write_rounds_svg(const char *path, const cv_round *rounds, size_t n, const double *final,
                        rp_error *err) {
    rp_strbuf b = {0};
    const int W = 640, H = 360, L = 60, R = 20, T = 36, B = 48;
    double lo = rounds[0].base_score, hi = lo;
    for (size_t i = 0; i < n; i++) lo = fmin(lo, final[i]), hi = fmax(hi, final[i]);
    if (hi - lo < 1e-3) lo -= 5e-4, hi += 5e-4;
    const double xr = (double)n;
#define SX(k) (L + (double)(k) / xr * (W - L - R))
#define SY(v) (T + (hi - (v)) / (hi - lo) * (H - T - B))
    rp_strbuf_printf(&b,
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" "
                     "height=\"%d\" viewBox=\"0 0 %d %d\">\n<text x=\"%d\" y=\"20\" "
                     "class=\"title\">score after each donor's round (%zu donors, AA over the "
                     "select sets)</text>\n",
                     W, H, W, H, L, n);
    rp_strbuf_printf(&b, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                         "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
                     L, H - B, W - R, H - B, L, T, L, H - B);
    for (int t = 0; t <= 4; t++) {
        double v = lo + (hi - lo) * t / 4;
        rp_strbuf_printf(&b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4f</text>\n", L - 4,
                         SY(v) + 4, v);
        rp_strbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n",
                         SX(xr * t / 4), H - B + 16, xr * t / 4);
    }
    rp_strbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"label\">"
                         "donors converted</text>\n",
                     (L + W - R) / 2, H - 8);
    const double t0 = rounds[0].base_score;
    rp_strbuf_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#999\" "
                         "stroke-dasharray=\"5,4\"/><text x=\"%d\" y=\"%.1f\" "
                         "class=\"muted\">target %.4f</text>\n",
                     L, SY(t0), W - R, SY(t0), L + 4, SY(t0) - 4, t0);
    rp_strbuf_printf(&b, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" "
                         "points=\"%.1f,%.1f ",
                     SX(0), SY(t0));
    for (size_t i = 0; i < n; i++) rp_strbuf_printf(&b, "%.1f,%.1f ", SX(i + 1), SY(final[i]));
    rp_strbuf_puts(&b, "\"/>\n</svg>\n");
#undef SX
#undef SY
    char *text = rp_strbuf_take(&b);
    if (!text) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int rc = rp_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}
