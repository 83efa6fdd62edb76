/* runpipe — growable text buffer.
 *
 * A byte string that grows by doubling, for building messages, YAML, HTML and
 * other text piece by piece. Start from a zeroed value (`rp_strbuf b = {0};`),
 * append, then take the text (rp_strbuf_take) or release it.
 *
 * Appends never fail loudly: the first failed allocation sets `oom`, frees
 * nothing, and turns every later append into a no-op, so callers check once
 * at the end (rp_strbuf_take returns NULL then). Once anything was appended
 * (even ""), `p` is non-NULL and NUL-terminated at p[n]; binary data may be
 * appended with rp_strbuf_add (the NUL after it is still written).
 */
#ifndef RUNPIPE_STRBUF_H
#define RUNPIPE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_strbuf {
    char *p;       /* owned; NULL until the first append, NUL-terminated otherwise */
    size_t n, cap; /* bytes used (without the NUL) / allocated */
    int oom;       /* an append failed: the text is incomplete */
} rp_strbuf;

/* Append `len` bytes of `s` (borrowed; may contain NULs). */
void rp_strbuf_add(rp_strbuf *b, const char *s, size_t len);
/* Append the string `s` (borrowed; NULL appends nothing, like ""). */
void rp_strbuf_puts(rp_strbuf *b, const char *s);
/* Append one byte. */
void rp_strbuf_putc(rp_strbuf *b, char c);
/* Append printf-formatted text (any length). A formatting error (vsnprintf < 0)
 * also sets `oom`, since the text is then incomplete. */
void rp_strbuf_printf(rp_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_strbuf_vprintf(rp_strbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The text, transferred to the caller (free it): an allocated "" when nothing
 * was appended; NULL when `oom` was set (the partial text is freed) or the
 * empty string cannot be allocated. Always resets *b to {0}. */
char *rp_strbuf_take(rp_strbuf *b);
/* Free the text and reset *b to {0}. b may be NULL. */
void rp_strbuf_release(rp_strbuf *b);

#ifdef __cplusplus
}
#endif

#endif
