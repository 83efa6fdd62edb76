/* Small shared helpers (util.h). */
#include "base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *rp_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

size_t rp_edit_distance(const char *a, const char *b, size_t cap) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 256 || lb > 256) return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap) return cap + 1;
    /* three rolling rows: i-2 (for transpositions), i-1, i */
    size_t r2[257], r1[257], r0[257];
    for (size_t j = 0; j <= lb; j++) r1[j] = j;
    for (size_t i = 1; i <= la; i++) {
        r0[0] = i;
        size_t rowmin = r0[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t v = r1[j - 1] + (a[i - 1] != b[j - 1]);
            if (r1[j] + 1 < v) v = r1[j] + 1;
            if (r0[j - 1] + 1 < v) v = r0[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && r2[j - 2] + 1 < v)
                v = r2[j - 2] + 1;
            r0[j] = v;
            if (v < rowmin) rowmin = v;
        }
        /* a transposition can lower the next row by at most one below this */
        if (rowmin > cap + 1) return cap + 1;
        memcpy(r2, r1, (lb + 1) * sizeof *r2);
        memcpy(r1, r0, (lb + 1) * sizeof *r1);
    }
    return r1[lb] > cap ? cap + 1 : r1[lb];
}

const char *rp_suggest(const char *name, const char *const *cands, size_t n) {
    if (!name) return NULL;
    size_t len = strlen(name);
    size_t cap = len / 3 > 2 ? len / 3 : 2;
    if (cap >= len) cap = len ? len - 1 : 0;
    const char *best = NULL;
    size_t bd = cap + 1;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i]) continue;
        size_t d = rp_edit_distance(name, cands[i], cap);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}

float rp_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal */
            float f = ldexpf((float)man, -24);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
