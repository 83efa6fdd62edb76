/* Growable text buffer (runpipe/strbuf.h). */
#include "runpipe/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `extra` more bytes plus the NUL; 0 (and `oom` set) when impossible. */
static int reserve(rp_strbuf *b, size_t extra) {
    if (b->oom) return 0;
    if (extra > (size_t)PTRDIFF_MAX - 1 - b->n) {
        b->oom = 1;
        return 0;
    }
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > (size_t)PTRDIFF_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void rp_strbuf_add(rp_strbuf *b, const char *s, size_t len) {
    if (!reserve(b, len)) return;
    if (len) memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

void rp_strbuf_puts(rp_strbuf *b, const char *s) {
    rp_strbuf_add(b, s ? s : "", s ? strlen(s) : 0);
}

void rp_strbuf_putc(rp_strbuf *b, char c) {
    rp_strbuf_add(b, &c, 1);
}

void rp_strbuf_vprintf(rp_strbuf *b, const char *fmt, va_list ap) {
    if (b->oom) return;
    va_list ap2;
    va_copy(ap2, ap);
    /* try in place first: most appends fit the spare room */
    size_t room = b->p ? b->cap - b->n : 0;
    int k = vsnprintf(room ? b->p + b->n : NULL, room, fmt, ap);
    if (k < 0) {
        if (b->p) b->p[b->n] = 0;
        b->oom = 1;
    } else if ((size_t)k < room) {
        b->n += (size_t)k;
    } else if (reserve(b, (size_t)k)) {
        vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap2);
        b->n += (size_t)k;
    } else if (b->p) {
        b->p[b->n] = 0; /* drop the truncated attempt */
    }
    va_end(ap2);
}

void rp_strbuf_printf(rp_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rp_strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *rp_strbuf_take(rp_strbuf *b) {
    char *p = b->p;
    if (b->oom) {
        free(p);
        p = NULL;
    } else if (!p) {
        p = calloc(1, 1);
    }
    memset(b, 0, sizeof *b);
    return p;
}

void rp_strbuf_release(rp_strbuf *b) {
    if (!b) return;
    free(b->p);
    memset(b, 0, sizeof *b);
}
