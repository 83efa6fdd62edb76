/* runpipe internal — small helpers every subsystem uses: NULL-safe string
 * copies and the one "did you mean" rule behind every suggestion. */
#ifndef RP_BASE_UTIL_H
#define RP_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/error.h"

/* strdup that passes NULL through (and returns NULL when out of memory).
 * Transferred. */
char *rp_strdup(const char *s);

/* Optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions, so "trian" is 1 from "train"), or cap + 1 when it exceeds
 * `cap`. */
size_t rp_edit_distance(const char *a, const char *b, size_t cap);

/* rp_suggest, the "did you mean" rule, is public (plugins suggest too):
 * runpipe/error.h. */

/* IEEE 754 binary16 -> float32, exact (subnormals, inf, NaN kept): the
 * weight readers convert float16 tensors with it. */
float rp_half_to_float(uint16_t h);

/* Cap what rp_alloc hands out on this thread until rp_alloc_budget_end,
 * which says whether an allocation was refused: building a model that a
 * file's metadata describes must not allocate gigabytes its tensors cannot
 * fill. */
void rp_alloc_budget_begin(size_t bytes);
int rp_alloc_budget_end(void);

#endif
