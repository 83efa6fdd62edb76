/* Counter-based RNG: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11).
 * A stream = key (from the root seed) + counter words 2..3 (from the stream
 * coordinates); words 0..1 count blocks within the stream. */
#include <math.h>
#include <string.h>

#include "runpipe/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox10(const uint32_t key_in[2], const uint32_t ctr_in[4], uint32_t out[4]) {
    uint32_t k0 = key_in[0], k1 = key_in[1];
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* SplitMix64 finaliser: spreads structured coordinates over all bits. */
static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rp_hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

void rp_rng_init(rp_rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    memset(r, 0, sizeof *r);
    uint64_t k = mix64(seed);
    uint64_t s = mix64(mix64(a) ^ mix64(b + 0x632BE59BD9B4E019ull) ^ mix64(c * 0x8CB92BA72F3D8DD7ull + 1));
    r->key[0] = (uint32_t)k, r->key[1] = (uint32_t)(k >> 32);
    r->ctr[2] = (uint32_t)s, r->ctr[3] = (uint32_t)(s >> 32);
    r->pos = 4;
}

void rp_rng_for(rp_rng *r, uint64_t seed, const char *stage, const char *purpose, uint64_t epoch,
                uint64_t index) {
    rp_rng_init(r, seed, rp_hash_str(stage) ^ mix64(rp_hash_str(purpose)), epoch, index);
}

uint32_t rp_rng_u32(rp_rng *r) {
    if (r->pos >= 4) {
        philox10(r->key, r->ctr, r->buf);
        if (++r->ctr[0] == 0) r->ctr[1]++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t rp_rng_u64(rp_rng *r) {
    uint64_t hi = rp_rng_u32(r);
    return (hi << 32) | rp_rng_u32(r);
}

float rp_rng_uniformf(rp_rng *r) {
    return (float)(rp_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double rp_rng_uniform(rp_rng *r) {
    return (double)(rp_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double rp_rng_range(rp_rng *r, double lo, double hi) {
    return lo + (hi - lo) * rp_rng_uniform(r);
}

uint32_t rp_rng_below(rp_rng *r, uint32_t n) {
    /* Lemire, "Fast random integer generation in an interval", 2019. */
    uint64_t m = (uint64_t)rp_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)rp_rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float rp_rng_normal(rp_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = rp_rng_uniform(r), u2 = rp_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return (float)(rad * cos(th));
}

void rp_rng_shuffle(rp_rng *r, uint32_t *idx, uint32_t n) {
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rp_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
