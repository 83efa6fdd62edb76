/* Streaming CSV reader over libcsv: the box CSV of Open Images is ~2 GB, so
 * records are handed to a callback one at a time and never kept. */
#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oi.h"

#define OI_CSV_MAX_FIELDS 64

typedef struct csv_ctx {
    oi_csv_row_fn fn;
    void *user;
    char *text; /* the current record's fields, NUL-separated */
    size_t len, cap;
    size_t off[OI_CSV_MAX_FIELDS];
    size_t nf; /* fields seen (may exceed OI_CSV_MAX_FIELDS) */
    uint64_t line;
    int status; /* first error (stops the callbacks) */
    rp_error *err;
} csv_ctx;

static void on_field(void *s, size_t len, void *data) {
    csv_ctx *c = data;
    if (c->status) return;
    if (c->nf < OI_CSV_MAX_FIELDS) {
        if (c->len + len + 1 > c->cap) {
            size_t cap = (c->len + len + 1) * 2;
            char *t = realloc(c->text, cap);
            if (!t) {
                c->status = rp_error_set(c->err, RP_ERR_NOMEM, "out of memory");
                return;
            }
            c->text = t;
            c->cap = cap;
        }
        c->off[c->nf] = c->len;
        if (len) memcpy(c->text + c->len, s, len);
        c->len += len;
        c->text[c->len++] = 0;
    }
    c->nf++;
}

static void on_row(int term, void *data) {
    (void)term;
    csv_ctx *c = data;
    if (c->status) return;
    c->line++;
    const char *f[OI_CSV_MAX_FIELDS];
    size_t n = c->nf < OI_CSV_MAX_FIELDS ? c->nf : OI_CSV_MAX_FIELDS;
    for (size_t i = 0; i < n; i++)
        f[i] = c->text + c->off[i];
    c->status = c->fn(c->user, f, c->nf, c->line, c->err);
    c->nf = 0;
    c->len = 0;
}

int oi_csv_stream(const char *path, oi_csv_row_fn fn, void *ctx, rp_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        fclose(f);
        return rp_error_set(err, RP_ERR_NOMEM, "csv_init failed");
    }
    csv_ctx c = {.fn = fn, .user = ctx, .err = err};
    size_t bufsz = 1 << 20, n;
    char *buf = malloc(bufsz);
    if (!buf) c.status = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    while (!c.status && (n = fread(buf, 1, bufsz, f)) > 0) {
        if (csv_parse(&p, buf, n, on_field, on_row, &c) != n && !c.status)
            c.status = rp_error_set(err, RP_ERR_FORMAT, "%s:%llu: malformed CSV: %s", path,
                                    (unsigned long long)c.line + 1, csv_strerror(csv_error(&p)));
    }
    if (!c.status && ferror(f)) c.status = rp_error_set(err, RP_ERR_IO, "%s: read error", path);
    if (!c.status) csv_fini(&p, on_field, on_row, &c);
    csv_free(&p);
    fclose(f);
    free(buf);
    free(c.text);
    return c.status;
}
