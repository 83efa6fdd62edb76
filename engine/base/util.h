/* runpipe internal — small helpers every subsystem uses: NULL-safe string
 * copies and the one "did you mean" rule behind every suggestion. */
#ifndef RP_BASE_UTIL_H
#define RP_BASE_UTIL_H

#include <stddef.h>

/* strdup that passes NULL through (and returns NULL when out of memory).
 * Transferred. */
char *rp_strdup(const char *s);

/* Optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions, so "trian" is 1 from "train"), or cap + 1 when it exceeds
 * `cap`. */
size_t rp_edit_distance(const char *a, const char *b, size_t cap);

/* The candidate closest to `name` (borrowed, from `cands`), or NULL when none
 * is within max(2, len/3) edits (and fewer than len edits, so a short name is
 * never "corrected" into an unrelated one). NULL entries are skipped. */
const char *rp_suggest(const char *name, const char *const *cands, size_t n);

#endif
