/* Diagnostics: collect located errors and render them compiler-style
 * (see diag.h). */
#include "config/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/strbuf.h"

void rp_diag_init(rp_diag *d) {
    memset(d, 0, sizeof *d);
}

void rp_diag_release(rp_diag *d) {
    if (!d) return;
    free(d->e);
    memset(d, 0, sizeof *d);
}

size_t rp_diag_count(const rp_diag *d) {
    return d ? d->n + d->dropped : 0;
}

static int same_error(const rp_error *a, const rp_error *b) {
    return a->line == b->line && a->col == b->col && !strcmp(a->file, b->file) &&
           !strcmp(a->msg, b->msg);
}

void rp_diag_add(rp_diag *d, const rp_error *e) {
    if (!d || !e) return;
    for (size_t i = 0; i < d->n; i++)
        if (same_error(&d->e[i], e)) return;
    if (d->n >= RP_DIAG_CAP) {
        d->dropped++;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        if (cap > RP_DIAG_CAP) cap = RP_DIAG_CAP;
        rp_error *ne = realloc(d->e, cap * sizeof *ne);
        if (!ne) {
            d->dropped++;
            return;
        }
        d->e = ne;
        d->cap = cap;
    }
    d->e[d->n] = *e;
    if (d->e[d->n].status == RP_OK) d->e[d->n].status = RP_ERR_INVALID;
    d->n++;
}

int rp_diag_addf(rp_diag *d, const rp_node *at, const char *stage, const char *fmt, ...) {
    rp_error e;
    rp_error_clear(&e);
    va_list ap;
    va_start(ap, fmt);
    rp_error_vset(&e, RP_ERR_INVALID, fmt, ap);
    va_end(ap);
    if (at && at->file) {
        snprintf(e.file, sizeof e.file, "%s", at->file);
        e.line = at->line;
        e.col = at->col;
    }
    if (stage) snprintf(e.stage, sizeof e.stage, "%s", stage);
    rp_diag_add(d, &e);
    return RP_ERR_INVALID;
}

/* ---- rendering --------------------------------------------------------------- */

/* Source files read once per render. */
struct src {
    const char *file;
    char *text; /* NULL when unreadable */
};

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    while (p) {
        size_t k = fread(p + n, 1, cap - n - 1, f);
        n += k;
        if (n + 1 < cap) break;
        if (cap > ((size_t)64 << 20)) break; /* a config file is never this big */
        char *np = realloc(p, cap * 2);
        if (!np) {
            free(p);
            p = NULL;
            break;
        }
        p = np;
        cap *= 2;
    }
    fclose(f);
    if (p) p[n] = 0;
    return p;
}

/* Line `line` (1-based) of `text` as [*start, *len). 0 when absent. */
static int find_line(const char *text, int line, const char **start, size_t *len) {
    const char *p = text;
    for (int l = 1; l < line; l++) {
        p = strchr(p, '\n');
        if (!p) return 0;
        p++;
    }
    if (!*p && line > 1) return 0;
    size_t k = strcspn(p, "\n");
    if (k && p[k - 1] == '\r') k--;
    *start = p;
    *len = k;
    return 1;
}

/* Length of the token starting at column `col` of the line: a quoted scalar
 * up to its closing quote, else a plain scalar up to ": ", " #", the end of the
 * line, or (inside a flow collection) the next ',', ']' or '}'. */
static size_t token_len(const char *line, size_t len, size_t col0) {
    if (col0 >= len) return 1;
    const char *t = line + col0;
    size_t rest = len - col0;
    if (t[0] == ' ' || t[0] == '\t') return 1;
    if (t[0] == '"' || t[0] == '\'') {
        for (size_t i = 1; i < rest; i++) {
            if (t[0] == '"' && t[i] == '\\') {
                i++;
                continue;
            }
            if (t[i] == t[0]) {
                if (t[0] == '\'' && i + 1 < rest && t[i + 1] == '\'') {
                    i++;
                    continue;
                }
                return i + 1;
            }
        }
        return rest;
    }
    if (t[0] == '[' || t[0] == '{' || t[0] == '-' || t[0] == '&' || t[0] == '*' || t[0] == '|' ||
        t[0] == '>')
        if (rest == 1 || t[1] == ' ' || t[0] == '[' || t[0] == '{') return 1;
    int depth = 0;
    for (size_t i = 0; i < col0; i++) {
        if (line[i] == '[' || line[i] == '{') depth++;
        if ((line[i] == ']' || line[i] == '}') && depth > 0) depth--;
    }
    size_t i = 0;
    for (; i < rest; i++) {
        if (t[i] == ':' && (i + 1 == rest || t[i + 1] == ' ')) break;
        if (t[i] == '#' && i > 0 && (t[i - 1] == ' ' || t[i - 1] == '\t')) break;
        if (depth > 0 && (t[i] == ',' || t[i] == ']' || t[i] == '}')) break;
    }
    while (i > 1 && (t[i - 1] == ' ' || t[i - 1] == '\t')) i--;
    return i ? i : 1;
}

static int cmp_loc(const rp_error *a, const rp_error *b) {
    /* errors without a file come last */
    int af = a->file[0] != 0, bf = b->file[0] != 0;
    if (af != bf) return bf - af;
    int c = strcmp(a->file, b->file);
    if (c) return c;
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return 0;
}

char *rp_diag_render(const rp_diag *d, int color) {
    rp_strbuf o = {0};
    size_t n = d ? d->n : 0;
    const char *bold = color ? "\033[1m" : "", *red = color ? "\033[1;31m" : "",
               *green = color ? "\033[1;32m" : "", *blue = color ? "\033[1;34m" : "",
               *reset = color ? "\033[0m" : "";
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    struct src *srcs = calloc(n ? n : 1, sizeof *srcs);
    size_t n_srcs = 0;
    if (!ord || !srcs) {
        free(ord);
        free(srcs);
        return strdup("out of memory while rendering errors\n");
    }
    /* stable insertion sort (at most RP_DIAG_CAP entries) */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && cmp_loc(&d->e[ord[j - 1]], &d->e[i]) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    for (size_t k = 0; k < n; k++) {
        const rp_error *e = &d->e[ord[k]];
        if (e->file[0] && e->line > 0)
            rp_strbuf_printf(&o, "%s%s:%d:%d:%s ", bold, e->file, e->line, e->col, reset);
        else if (e->file[0])
            rp_strbuf_printf(&o, "%s%s:%s ", bold, e->file, reset);
        rp_strbuf_printf(&o, "%serror:%s %s%s%s\n", red, reset, bold, e->msg, reset);
        if (!e->file[0] || e->line <= 0) continue;
        struct src *s = NULL;
        for (size_t i = 0; i < n_srcs; i++)
            if (!strcmp(srcs[i].file, e->file)) s = &srcs[i];
        if (!s) {
            s = &srcs[n_srcs++];
            s->file = e->file;
            /* "--set" locates values given on the command line (line = which
             * --set, col = offset in it): there is no file to quote */
            s->text = strcmp(e->file, "--set") ? read_text(e->file) : NULL;
        }
        const char *line;
        size_t len;
        if (!s->text || !find_line(s->text, e->line, &line, &len)) continue;
        rp_strbuf_printf(&o, "%s%5d |%s %.*s\n", blue, e->line, reset, (int)len, line);
        if (e->col <= 0) continue;
        size_t col0 = (size_t)e->col - 1;
        rp_strbuf_printf(&o, "%s      |%s ", blue, reset);
        for (size_t i = 0; i < col0 && i < len; i++)
            rp_strbuf_putc(&o, line[i] == '\t' ? '\t' : ' ');
        size_t tl = token_len(line, len, col0);
        rp_strbuf_printf(&o, "%s^", green);
        for (size_t i = 1; i < tl; i++) rp_strbuf_putc(&o, '~');
        rp_strbuf_printf(&o, "%s\n", reset);
    }
    size_t total = n + (d ? d->dropped : 0);
    if (d && d->dropped)
        rp_strbuf_printf(&o, "%zu error%s (%zu not shown)\n", total, total == 1 ? "" : "s",
                         d->dropped);
    else
        rp_strbuf_printf(&o, "%zu error%s\n", total, total == 1 ? "" : "s");
    for (size_t i = 0; i < n_srcs; i++) free(srcs[i].text);
    free(srcs);
    free(ord);
    char *text = rp_strbuf_take(&o);
    return text ? text : strdup("out of memory while rendering errors\n");
}
