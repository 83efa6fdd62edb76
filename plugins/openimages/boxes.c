/* The Open Images box CSV (ImageID,Source,LabelName,Confidence,XMin,XMax,
 * YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside[,...]):
 * columns are found by the header's names, the file is streamed, and only
 * the rows of the chosen classes are validated and kept. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oi.h"

static const char *const flag_cols[5] = {"IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction",
                                         "IsInside"};

int oi_flag_of(const char *column) {
    for (int i = 0; i < 5; i++)
        if (!strcmp(column, flag_cols[i])) return 1 << i;
    return 0;
}

int oi_parse_image_id(const char *s, uint64_t *id) {
    uint64_t v = 0;
    int i = 0;
    for (; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 1; /* also catches a short string (NUL) and upper case */
        v = v << 4 | (uint64_t)d;
    }
    if (s[16]) return 1;
    *id = v;
    return 0;
}

void oi_format_image_id(uint64_t id, char buf[17]) {
    snprintf(buf, 17, "%016llx", (unsigned long long)id);
}

enum { C_ID, C_LABEL, C_XMIN, C_XMAX, C_YMIN, C_YMAX, C_NREQ };
static const char *const req_cols[C_NREQ] = {"ImageID", "LabelName", "XMin",
                                             "XMax",    "YMin",      "YMax"};

typedef struct box_ctx {
    const char *path;
    const oi_groups *g;
    uint32_t exclude;
    int skip_bad;
    size_t n_header;
    int col[C_NREQ];
    int flag_col[5];
    oi_box_list *out;
} box_ctx;

static int bad_row(box_ctx *c, rp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_row(box_ctx *c, rp_error *err, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!c->skip_bad) return rp_error_set(err, RP_ERR_FORMAT, "%s", msg);
    c->out->bad_rows++;
    if (c->out->bad_rows <= 5)
        rp_warn("%s (on_error: skip)", msg);
    else
        rp_debug("%s (on_error: skip)", msg);
    return RP_OK;
}

static int coord(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end && isfinite(*v) && *v >= 0 && *v <= 1;
}

static int on_box(void *ctx, const char *const *f, size_t n, uint64_t line, rp_error *err) {
    box_ctx *c = ctx;
    if (line == 1) {
        c->n_header = n;
        for (int k = 0; k < C_NREQ; k++) {
            c->col[k] = -1;
            for (size_t i = 0; i < n && i < 64; i++)
                if (!strcmp(f[i], req_cols[k])) c->col[k] = (int)i;
            if (c->col[k] < 0)
                return rp_error_set(err, RP_ERR_FORMAT,
                                    "%s:1: no column '%s' in the header (expected the Open Images "
                                    "box CSV: ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,"
                                    "YMax,IsOccluded,...)",
                                    c->path, req_cols[k]);
        }
        for (int k = 0; k < 5; k++) {
            c->flag_col[k] = -1;
            for (size_t i = 0; i < n && i < 64; i++)
                if (!strcmp(f[i], flag_cols[k])) c->flag_col[k] = (int)i;
            if (c->flag_col[k] < 0 && (c->exclude & (1u << k)))
                return rp_error_set(err, RP_ERR_FORMAT, "%s:1: no column '%s' for 'exclude'",
                                    c->path, flag_cols[k]);
        }
        return RP_OK;
    }
    oi_box_list *o = c->out;
    o->rows++;
    if (n < c->n_header)
        return bad_row(c, err, "%s:%llu: %zu field%s, expected %zu as in the header", c->path,
                       (unsigned long long)line, n, n == 1 ? "" : "s", c->n_header);
    int cls = oi_groups_find(c->g, f[c->col[C_LABEL]]);
    if (cls < 0) return RP_OK;
    oi_box b = {.cls = cls, .line = line};
    const char *id = f[c->col[C_ID]];
    if (oi_parse_image_id(id, &b.image_id))
        return bad_row(c, err, "%s:%llu: ImageID '%.40s' is not 16 lower-case hex digits", c->path,
                       (unsigned long long)line, id);
    double *v[4] = {&b.x0, &b.x1, &b.y0, &b.y1};
    for (int k = 0; k < 4; k++) {
        const char *s = f[c->col[C_XMIN + k]];
        if (!coord(s, v[k]))
            return bad_row(c, err, "%s:%llu: %s '%.40s' is not a number in [0, 1]", c->path,
                           (unsigned long long)line, req_cols[C_XMIN + k], s);
    }
    if (b.x0 >= b.x1)
        return bad_row(c, err, "%s:%llu: XMin %s >= XMax %s", c->path, (unsigned long long)line,
                       f[c->col[C_XMIN]], f[c->col[C_XMAX]]);
    if (b.y0 >= b.y1)
        return bad_row(c, err, "%s:%llu: YMin %s >= YMax %s", c->path, (unsigned long long)line,
                       f[c->col[C_YMIN]], f[c->col[C_YMAX]]);
    for (int k = 0; k < 5; k++)
        if (c->flag_col[k] >= 0 && !strcmp(f[c->flag_col[k]], "1")) b.flags |= 1u << k;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        oi_box *nb = realloc(o->b, cap * sizeof *nb);
        if (!nb) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        o->b = nb;
        o->cap = cap;
    }
    o->b[o->n++] = b;
    return RP_OK;
}

static int cmp_box(const void *a, const void *b) {
    const oi_box *x = a, *y = b;
    if (x->image_id != y->image_id) return x->image_id < y->image_id ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

void oi_boxes_release(oi_box_list *l) {
    free(l->b);
    memset(l, 0, sizeof *l);
}

int oi_boxes_read(const char *path, const oi_groups *g, uint32_t exclude, int skip_bad,
                  oi_box_list *out, rp_error *err) {
    memset(out, 0, sizeof *out);
    box_ctx c = {.path = path, .g = g, .exclude = exclude, .skip_bad = skip_bad, .out = out};
    int st = oi_csv_stream(path, on_box, &c, err);
    if (!st && c.n_header == 0)
        st = rp_error_set(err, RP_ERR_FORMAT, "%s: empty file (expected a header line)", path);
    if (st) {
        oi_boxes_release(out);
        return st;
    }
    /* Ordinals by (ImageID, CSV line) over every valid box of a chosen class,
     * before `exclude`, so a crop's file name does not depend on the filters. */
    if (out->n) qsort(out->b, out->n, sizeof *out->b, cmp_box);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        out->b[i].n = (i && out->b[i].image_id == out->b[i - 1].image_id) ? out->b[i - 1].n + 1 : 0;
        if (out->b[i].flags & exclude)
            out->excluded++;
        else
            out->b[k++] = out->b[i];
    }
    out->n = k;
    return RP_OK;
}
