/* Inline SVG charts for report.html: line charts (learning curves) and a
 * confusion-matrix heat map. All text is HTML-escaped. */
#include <math.h>
#include <string.h>

#include "report.h"

int rp_nice_ticks(double lo, double hi, int target, double *ticks, int max) {
    if (!isfinite(lo) || !isfinite(hi) || max < 2) return 0;
    if (hi < lo) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi - lo < 1e-12) {
        double pad = fabs(lo) > 1e-12 ? fabs(lo) * 0.1 : 0.5;
        lo -= pad;
        hi += pad;
    }
    double rough = (hi - lo) / (target > 1 ? target : 5);
    double mag = pow(10, floor(log10(rough)));
    double nrm = rough / mag;
    double step = (nrm < 1.5 ? 1 : nrm < 3 ? 2 : nrm < 7 ? 5 : 10) * mag;
    double t0 = floor(lo / step + 1e-9) * step, t1 = ceil(hi / step - 1e-9) * step;
    int n = 0;
    for (double t = t0; t <= t1 + step * 0.5 && n < max; t += step) {
        double v = round(t / step) * step; /* no 0.30000000000000004 */
        ticks[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    }
    return n;
}

static int tick_decimals(const double *t, int n) {
    if (n < 2) return 2;
    double step = fabs(t[1] - t[0]);
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

static int all_integers(const rp_series *s, size_t ns) {
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < s[i].n; j++)
            if (isfinite(s[i].x[j]) && s[i].x[j] != floor(s[i].x[j])) return 0;
    return 1;
}

/* A series in the legend: not faint, with at least one finite point. */
static int legend_item(const rp_series *s) {
    if (s->faint) return 0;
    for (size_t j = 0; j < s->n; j++)
        if (isfinite(s->x[j]) && isfinite(s->y[j])) return 1;
    return 0;
}

void rp_svg_line_chart(rp_strbuf *b, const char *title, const char *xlabel, const char *ylabel,
                       const rp_series *s, size_t ns, int width, int height) {
    rp_svg_line_chart_mark(b, title, xlabel, ylabel, s, ns, width, height, NAN, NULL);
}

void rp_svg_line_chart_mark(rp_strbuf *b, const char *title, const char *xlabel,
                            const char *ylabel, const rp_series *s, size_t ns, int width,
                            int height, double mark_x, const char *mark_label) {
    const int R = 16, T = 52, B = 50;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < s[i].n; j++) {
            if (!isfinite(s[i].x[j]) || !isfinite(s[i].y[j])) continue;
            xmin = fmin(xmin, s[i].x[j]), xmax = fmax(xmax, s[i].x[j]);
            ymin = fmin(ymin, s[i].y[j]), ymax = fmax(ymax, s[i].y[j]);
        }
    rp_strbuf_printf(b,
                     "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                     "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
                     width, height, width, height);
    rp_put_html(b, title);
    rp_strbuf_printf(b, "\">\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
                     width, height);
    rp_strbuf_printf(b, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" class=\"title\">",
                     width / 2);
    rp_put_html(b, title);
    rp_strbuf_puts(b, "</text>\n");
    if (!isfinite(xmin)) {
        rp_strbuf_printf(
            b,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"muted\">no data</text>"
            "</svg>\n",
            width / 2, height / 2);
        return;
    }
    double xt[32], yt[32];
    int ints = all_integers(s, ns);
    double xlo = xmin, xhi = xmax;
    if (xhi - xlo < 1e-12) xlo -= 1, xhi += 1;
    int nx = rp_nice_ticks(xlo, xhi, 8, xt, 32);
    if (ints && nx >= 2 && xt[1] - xt[0] < 1) { /* epochs: integer ticks only */
        nx = 0;
        for (double v = floor(xlo); v <= ceil(xhi) && nx < 32; v += 1) xt[nx++] = v;
    }
    if (ints) { /* integer data: axis tightly on the data, ticks inside */
        double a = floor(xlo), z = ceil(xhi);
        int m = 0;
        for (int i = 0; i < nx; i++)
            if (xt[i] >= a - 1e-9 && xt[i] <= z + 1e-9) xt[m++] = xt[i];
        nx = m;
        xlo = a, xhi = z;
    } else {
        xlo = xt[0], xhi = xt[nx - 1];
    }
    int ny = rp_nice_ticks(ymin, ymax, 6, yt, 32);
    if (ny < 2) { /* non-finite range: rp_nice_ticks gave no ticks */
        yt[0] = 0, yt[1] = 1;
        ny = 2;
    }
    double ylo = yt[0], yhi = yt[ny - 1];
    int xd = ints ? 0 : tick_decimals(xt, nx), yd = tick_decimals(yt, ny);
    /* room for the widest y tick label, then the rotated axis label */
    int maxc = 0;
    for (int i = 0; i < ny; i++) {
        char tmp[48];
        int l = snprintf(tmp, sizeof tmp, "%.*f", yd, yt[i]);
        if (l > maxc) maxc = l;
    }
    const int L = 34 + maxc * 7;
    const int pw = width - L - R, ph = height - T - B;
#define PX(v) (L + ((v) - xlo) / (xhi - xlo) * pw)
#define PY(v) (T + ph - ((v) - ylo) / (yhi - ylo) * ph)
    /* grid + ticks */
    rp_strbuf_puts(b, "<g class=\"grid\">\n");
    for (int i = 0; i < ny; i++)
        rp_strbuf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>\n", L, L + pw,
                         PY(yt[i]), PY(yt[i]));
    for (int i = 0; i < nx; i++)
        rp_strbuf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>\n", PX(xt[i]),
                         PX(xt[i]), T, T + ph);
    rp_strbuf_puts(b, "</g>\n<g class=\"axis\">\n");
    rp_strbuf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n", L, L + pw, T + ph,
                     T + ph);
    rp_strbuf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n", L, L, T, T + ph);
    for (int i = 0; i < ny; i++)
        rp_strbuf_printf(
            b,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%d\" y=\"%.1f\" "
            "text-anchor=\"end\" dominant-baseline=\"middle\">%.*f</text>\n",
            L - 5, L, PY(yt[i]), PY(yt[i]), L - 8, PY(yt[i]), yd, yt[i]);
    for (int i = 0; i < nx; i++)
        rp_strbuf_printf(
            b,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/><text x=\"%.1f\" y=\"%d\" "
            "text-anchor=\"middle\">%.*f</text>\n",
            PX(xt[i]), PX(xt[i]), T + ph, T + ph + 5, PX(xt[i]), T + ph + 18, xd, xt[i]);
    rp_strbuf_puts(b, "</g>\n");
    rp_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"label\">",
                     L + pw / 2, height - 10);
    rp_put_html(b, xlabel);
    rp_strbuf_printf(
        b,
        "</text>\n<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\" "
        "class=\"label\">",
        T + ph / 2);
    rp_put_html(b, ylabel);
    rp_strbuf_puts(b, "</text>\n");
    /* the marked x (best epoch): a dashed vertical line with its label */
    if (isfinite(mark_x) && mark_x >= xlo && mark_x <= xhi) {
        rp_strbuf_printf(b,
                         "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#d62728\" "
                         "stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n",
                         PX(mark_x), PX(mark_x), T, T + ph);
        if (mark_label) {
            int right = PX(mark_x) > L + pw - 90;
            rp_strbuf_printf(b,
                             "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" fill=\"#d62728\" "
                             "style=\"font-size:11px\">",
                             PX(mark_x) + (right ? -4 : 4), T + 12, right ? "end" : "start");
            rp_put_html(b, mark_label);
            rp_strbuf_puts(b, "</text>\n");
        }
    }
    /* series */
    for (size_t i = 0; i < ns; i++) {
        int open = 0;
        for (size_t j = 0; j < s[i].n; j++) {
            int ok = isfinite(s[i].x[j]) && isfinite(s[i].y[j]);
            if (ok && !open) {
                rp_strbuf_printf(
                    b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s points=\"",
                    s[i].color, s[i].faint ? "1" : "2",
                    s[i].dashed ? " stroke-dasharray=\"6 4\"" : "",
                    s[i].faint ? " stroke-opacity=\"0.3\"" : "");
                open = 1;
            }
            if (ok) rp_strbuf_printf(b, "%.1f,%.1f ", PX(s[i].x[j]), PY(s[i].y[j]));
            if (!ok && open) {
                rp_strbuf_puts(b, "\"/>\n");
                open = 0;
            }
        }
        if (open) rp_strbuf_puts(b, "\"/>\n");
        /* dots mark the measured points of short series (per-epoch values);
           dense per-step series are lines only */
        int per_epoch = 1; /* integer x: measured per epoch */
        for (size_t j = 0; j < s[i].n; j++)
            if (isfinite(s[i].x[j]) && s[i].x[j] != floor(s[i].x[j])) per_epoch = 0;
        for (size_t j = 0; j < s[i].n && s[i].n <= 60 && per_epoch && !s[i].faint; j++)
            if (isfinite(s[i].x[j]) && isfinite(s[i].y[j]))
                rp_strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                                 PX(s[i].x[j]), PY(s[i].y[j]), s[i].color);
    }
    /* legend: one row between the title and the plot, never over the data;
     * series without a single finite point are left out */
    /* It starts over the plot's left edge; a row longer than the plot is moved
     * left, then packed tighter, so that it ends inside the chart (about 7 px
     * per character of the 12 px font). */
    int gap = 22, used = 0;
    for (size_t i = 0; i < ns; i++)
        if (legend_item(&s[i])) used += 28 + (int)strlen(s[i].name) * 7 + gap;
    used -= gap;
    int lx = L;
    if (lx + used > width - R) lx = width - R - used;
    if (lx < 8) {
        int items = 0;
        for (size_t i = 0; i < ns; i++) items += legend_item(&s[i]);
        int shrink = items > 1 ? (8 - lx + items - 2) / (items - 1) : 0;
        gap = gap - shrink < 6 ? 6 : gap - shrink;
        lx = 8;
    }
    rp_strbuf_puts(b, "<g class=\"legend\">\n");
    for (size_t i = 0; i < ns; i++) {
        if (!legend_item(&s[i])) continue;
        int yy = 38;
        rp_strbuf_printf(b,
                         "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                         "stroke-width=\"2.5\"%s/><circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>"
                         "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">",
                         lx, lx + 22, yy, yy, s[i].color,
                         s[i].dashed ? " stroke-dasharray=\"6 4\"" : "", lx + 11, yy, s[i].color,
                         lx + 28, yy);
        rp_put_html(b, s[i].name);
        rp_strbuf_puts(b, "</text>\n");
        lx += 28 + (int)strlen(s[i].name) * 7 + gap;
    }
    rp_strbuf_puts(b, "</g>\n");
    rp_strbuf_puts(b, "</svg>\n");
#undef PX
#undef PY
}

/* Matplotlib's "Blues" colour map, sampled at 5 stops. */
static void blues(double t, int *r, int *g, int *bl) {
    static const int stops[5][3] = {
        {247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double p = t * 4;
    int i = (int)p;
    if (i >= 4) i = 3;
    double f = p - i;
    *r = (int)lround(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]));
    *g = (int)lround(stops[i][1] + f * (stops[i + 1][1] - stops[i][1]));
    *bl = (int)lround(stops[i][2] + f * (stops[i + 1][2] - stops[i][2]));
}

/* Class name cut to `max` characters (UTF-8 aware) with an ellipsis. */
static void short_name(rp_strbuf *b, const char *s, size_t max) {
    size_t chars = 0;
    const char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (chars == max) break;
            chars++;
        }
    }
    char tmp[512];
    size_t n = (size_t)(p - s) < sizeof tmp - 1 ? (size_t)(p - s) : sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    rp_put_html(b, tmp);
    if (*p) rp_strbuf_puts(b, "\xE2\x80\xA6");
}

void rp_svg_heatmap(rp_strbuf *b, const char *title, const rp_table *t) {
    rp_svg_heatmap_fmt(b, title, t, 0);
}

/* percent: values are fractions in [0, 1], shown as whole percentages on a
 * fixed 0-100 % colour scale (the row-normalised confusion matrix). */
void rp_svg_heatmap_fmt(rp_strbuf *b, const char *title, const rp_table *t, int percent) {
    static int ids;
    int id = ++ids;
    size_t c = t->rows < t->cols ? t->rows : t->cols;
    if (c == 0) return;
    /* two matrices (counts, row-normalised) side by side in a 1,240 px page */
    int cell = (int)(330 / c);
    cell = cell > 44 ? 44 : cell < 12 ? 12 : cell;
    size_t maxlen = 0;
    for (size_t i = 0; i < c; i++) {
        size_t l = t->row_names ? strlen(t->row_names[i]) : 3;
        if (l > maxlen) maxlen = l;
    }
    if (maxlen > 18) maxlen = 18;
    int left = 34 + (int)(maxlen * 6.5), top = 46 + (int)(maxlen * 5.2);
    int gw = cell * (int)c;
    int width = left + gw + 76, height = top + gw + 16;
    double vmax = 0;
    for (size_t i = 0; i < c * t->cols; i++)
        if (isfinite(t->values[i]) && t->values[i] > vmax) vmax = t->values[i];
    if (percent) vmax = 1;
    int fs = cell >= 40 ? 13 : cell >= 28 ? 11 : 9;
    rp_strbuf_printf(b,
                     "<svg class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                     "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
                     width, height, width, height);
    rp_put_html(b, title);
    rp_strbuf_printf(b, "\">\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", width, height);
    rp_strbuf_printf(b, "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" class=\"title\">",
                     left + gw / 2);
    rp_put_html(b, title);
    rp_strbuf_puts(b, "</text>\n");
    rp_strbuf_printf(
        b, "<text x=\"%d\" y=\"38\" text-anchor=\"middle\" class=\"label\">predicted</text>\n",
        left + gw / 2);
    rp_strbuf_printf(b,
                     "<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\" "
                     "class=\"label\">true</text>\n",
                     top + gw / 2);
    for (size_t i = 0; i < c; i++) {
        char num[24];
        snprintf(num, sizeof num, "%zu", i);
        const char *nm = t->row_names ? t->row_names[i] : num;
        rp_strbuf_printf(
            b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" dominant-baseline=\"middle\">",
            left - 6, top + (int)i * cell + cell / 2);
        short_name(b, nm, 18);
        rp_strbuf_puts(b, "<title>");
        rp_put_html(b, nm);
        rp_strbuf_puts(b, "</title></text>\n");
        const char *cn = t->col_names ? t->col_names[i] : num;
        int x = left + (int)i * cell + cell / 2;
        rp_strbuf_printf(b,
                         "<text transform=\"translate(%d,%d) rotate(-45)\" text-anchor=\"start\">",
                         x - 3, top - 6);
        short_name(b, cn, 18);
        rp_strbuf_puts(b, "<title>");
        rp_put_html(b, cn);
        rp_strbuf_puts(b, "</title></text>\n");
    }
    for (size_t i = 0; i < c; i++)
        for (size_t j = 0; j < c; j++) {
            double v = t->values[i * t->cols + j];
            double f = vmax > 0 && isfinite(v) ? v / vmax : 0;
            int r, g, bl;
            blues(f, &r, &g, &bl);
            int x = left + (int)j * cell, y = top + (int)i * cell;
            rp_strbuf_printf(b,
                             "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                             "fill=\"rgb(%d,%d,%d)\" stroke=\"#fff\" stroke-width=\"1\"><title>",
                             x, y, cell, cell, r, g, bl);
            rp_put_html(b, t->row_names ? t->row_names[i] : "");
            rp_strbuf_puts(b, " \xE2\x86\x92 ");
            rp_put_html(b, t->col_names ? t->col_names[j] : "");
            rp_strbuf_puts(b, ": ");
            rp_put_num(b, v);
            rp_strbuf_puts(b, "</title></rect>\n");
            if (cell >= 18 && isfinite(v)) {
                rp_strbuf_printf(
                    b,
                    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                    "dominant-baseline=\"central\" fill=\"%s\" style=\"font-size:%dpx\">",
                    x + cell / 2, y + cell / 2, f > 0.55 ? "#fff" : "#222", fs);
                if (percent) rp_strbuf_printf(b, "%.0f", 100 * v);
                else rp_put_num(b, v);
                rp_strbuf_puts(b, "</text>\n");
            }
        }
    /* colour scale */
    int sx = left + gw + 16, sy = top, sh = gw;
    rp_strbuf_printf(b, "<defs><linearGradient id=\"hm%d\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">",
                     id);
    for (int k = 0; k <= 4; k++) {
        int r, g, bl;
        blues(k / 4.0, &r, &g, &bl);
        rp_strbuf_printf(b, "<stop offset=\"%d%%\" stop-color=\"rgb(%d,%d,%d)\"/>", k * 25, r, g,
                         bl);
    }
    rp_strbuf_printf(b,
                     "</linearGradient></defs>\n<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"%d\" "
                     "fill=\"url(#hm%d)\" stroke=\"#999\"/>\n",
                     sx, sy, sh, id);
    rp_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">", sx + 18, sy + 4);
    if (percent) rp_strbuf_puts(b, "100 %");
    else rp_put_num(b, vmax);
    rp_strbuf_printf(b, "</text>\n<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">0</text>\n",
                     sx + 18, sy + sh - 4);
    rp_strbuf_puts(b, "</svg>\n");
}
