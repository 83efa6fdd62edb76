/* Text helpers of the report on top of rp_strbuf: HTML escaping, base64 and
 * table numbers (report.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

void rp_put_html(rp_strbuf *b, const char *s) {
    if (!s) return;
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            rp_strbuf_add(b, run, (size_t)(s - run));
            rp_strbuf_puts(b, rep);
            run = s + 1;
        }
    }
    rp_strbuf_add(b, run, (size_t)(s - run));
}

void rp_put_base64(rp_strbuf *b, const unsigned char *d, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[1024]; /* encoded in chunks of whole quads */
    size_t k = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        q[k++] = tab[v >> 18], q[k++] = tab[(v >> 12) & 63], q[k++] = tab[(v >> 6) & 63],
        q[k++] = tab[v & 63];
        if (k == sizeof q) {
            rp_strbuf_add(b, q, k);
            k = 0;
        }
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        q[k++] = tab[v >> 18], q[k++] = tab[(v >> 12) & 63];
        q[k++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[k++] = '=';
    }
    rp_strbuf_add(b, q, k);
}

void rp_put_num(rp_strbuf *b, double v) {
    if (isnan(v)) return;
    if (v == floor(v) && fabs(v) < 1e15) rp_strbuf_printf(b, "%.0f", v);
    else if (fabs(v) >= 1e-3 || v == 0) rp_strbuf_printf(b, "%.4f", v);
    else rp_strbuf_printf(b, "%.3g", v);
}

int rp_parse_palette(const rp_node *list, unsigned char (*out)[3], int max, int *bad) {
    size_t n = rp_node_len(list);
    int k = 0;
    for (size_t i = 0; i < n && k < max; i++, k++) {
        const char *t = rp_node_str(rp_node_at(list, i));
        unsigned r, g, b;
        char end;
        if (!t || strlen(t) != 7 || sscanf(t, "#%2x%2x%2x%c", &r, &g, &b, &end) != 3) {
            *bad = (int)i;
            return -1;
        }
        out[k][0] = (unsigned char)r, out[k][1] = (unsigned char)g, out[k][2] = (unsigned char)b;
    }
    return k;
}
