/* runpipe — counter-based random numbers (DESIGN §8).
 *
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11). A stream is keyed by (root seed, stage, epoch, sample, purpose):
 * the same key gives the same numbers whatever thread draws them and in
 * whatever order, so results do not depend on scheduling or prefetching.
 */
#ifndef RUNPIPE_RNG_H
#define RUNPIPE_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_rng {
    uint32_t key[2];
    uint32_t ctr[4];     /* ctr[0..1] = position; ctr[2..3] = stream id */
    uint32_t buf[4];
    int pos;             /* next unused word in buf (4 = empty) */
    int has_spare;
    float spare;         /* cached second normal from Box-Muller */
} rp_rng;

/* 64-bit FNV-1a of a string: turns stage ids / purposes into key parts. */
uint64_t rp_hash_str(const char *s);

/* Stream keyed by root seed and three 64-bit coordinates. Convention:
 * a = rp_hash_str(stage id) ^ rp_hash_str(purpose), b = epoch, c = sample index. */
void rp_rng_init(rp_rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
/* Convenience for the convention above. */
void rp_rng_for(rp_rng *r, uint64_t seed, const char *stage, const char *purpose,
                uint64_t epoch, uint64_t index);

uint32_t rp_rng_u32(rp_rng *r);
uint64_t rp_rng_u64(rp_rng *r);
/* Uniform in [0, 1) with 24 random bits (float) or 53 (double). */
float rp_rng_uniformf(rp_rng *r);
double rp_rng_uniform(rp_rng *r);
/* Uniform in [lo, hi). */
double rp_rng_range(rp_rng *r, double lo, double hi);
/* Unbiased integer in [0, n) (Lemire's method); n > 0. */
uint32_t rp_rng_below(rp_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float rp_rng_normal(rp_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void rp_rng_shuffle(rp_rng *r, uint32_t *idx, uint32_t n);

/* Position for checkpoints: a stream is fully described by key + ctr + pos. */

#ifdef __cplusplus
}
#endif
#endif
