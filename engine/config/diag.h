/* runpipe — diagnostics: collect many located errors, render them
 * compiler-style (internal).
 *
 *   pipelines/x.yaml:14:11: error: stage 'fit' (train): 'lr': expected a number, got 'fast'
 *      14 |       lr: fast
 *         |           ^~~~
 */
#ifndef RP_DIAG_H
#define RP_DIAG_H

#include <stddef.h>

#include "runpipe/error.h"
#include "runpipe/node.h"

#define RP_DIAG_CAP 50

/* Up to RP_DIAG_CAP errors; the rest are only counted in `dropped`. */
typedef struct rp_diag {
    size_t n, cap;
    rp_error *e; /* owned */
    size_t dropped;
} rp_diag;

void rp_diag_init(rp_diag *d);
void rp_diag_release(rp_diag *d);
/* Copy `e` (borrowed) into the list. An identical error (same location and
 * message, e.g. from two matrix cells) is recorded once. */
void rp_diag_add(rp_diag *d, const rp_error *e);
/* Add a printf-style error located at `at` (borrowed, may be NULL) with the
 * stage id `stage` (may be NULL). Returns RP_ERR_INVALID. */
int rp_diag_addf(rp_diag *d, const rp_node *at, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Total errors seen (kept + dropped). */
size_t rp_diag_count(const rp_diag *d);
/* Render every error sorted by file/line/col (stable), each with the source
 * line and a caret (~ under the rest of the token), then "N errors" ("1 error").
 * ANSI colour only when `color` != 0. Transferred malloc'd string. */
char *rp_diag_render(const rp_diag *d, int color);

#endif
