/* Shared helpers of the loss plugin: layout of [N, C] / [N, C, H, W] logits
 * as "rows" (one row = one sample or one pixel, C class scores with a stride),
 * a double-precision log-softmax of one row, target checking. */
#ifndef RP_LOSS_COMMON_H
#define RP_LOSS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <math.h>

#include "runpipe/runpipe.h"

/* Logits viewed as rows: [N, C] → rows = N, s = 1; [N, C, H, W] → rows =
 * N*H*W, s = H*W (the class stride). Element (row r, class k) is at
 * (r / s) * c * s + k * s + r % s. */
typedef struct loss_geom {
    int64_t n, c, s, rows;
} loss_geom;

static inline size_t loss_at(const loss_geom *g, int64_t r, int64_t k) {
    return (size_t)((r / g->s) * g->c * g->s + k * g->s + r % g->s);
}

/* Check logits are [N, C] or [N, C, H, W] (C >= min_c) and dlogits (may be
 * NULL) has the same shape. `who` names the loss in messages. */
int loss_geom_init(const rp_tensor *logits, const rp_tensor *dlogits, int64_t min_c,
                   const char *who, loss_geom *g, rp_error *err);


/* Blocks: the unit of parallel work and of the fixed-order reduction (so a
 * loss does not depend on the number of threads). For [N, C, H, W] one
 * block is one image (class planes of H*W contiguous pixels); for [N, C] a
 * block is LOSS_BLOCK_ROWS rows. Element (class k, row j of the block) is at
 * x[off + k * ks + j * rs]; the row's global index (targets, lse) is r0 + j. */
#define LOSS_BLOCK_ROWS 256
typedef struct loss_block {
    size_t off;           /* offset of the block's (0, 0) element */
    int64_t ks, rs;       /* class stride, row stride */
    int64_t r0, len;      /* first row, rows */
} loss_block;
int64_t loss_nblocks(const loss_geom *g);
void loss_block_at(const loss_geom *g, int64_t b, loss_block *blk);
static inline size_t loss_el(const loss_block *b, int64_t k, int64_t j) {
    return b->off + (size_t)(k * b->ks + j * b->rs);
}
/* exp(x) in float that the compiler can vectorize (Cephes expf: range
 * reduction by ln 2 in two parts, degree-6 polynomial; ~1 ulp over
 * [-87, 88]). Inputs below -87 give 2^-126 (a probability of ~1e-38), above
 * 88 are clamped. Used for softmax probabilities, where x <= 0. */
static inline float loss_expf(float x) {
    /* Selects and bit tricks only (no fmaxf / floorf / float-to-int
     * conversion), which GCC vectorizes without -ffast-math. Rounding to
     * the nearest integer by adding 1.5 * 2^23: the integer lands in the low
     * mantissa bits of t. */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f; /* round(x / ln 2) */
    uint32_t ni; /* unsigned: defined wrap-around even for NaN input */
    memcpy(&ni, &t, sizeof ni);
    ni -= 0x4B400000u; /* the bits of 12582912.0f */
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t e = (ni + 127u) << 23;
    float sc;
    memcpy(&sc, &e, sizeof sc);
    return p * sc;
}

/* logsumexp over the classes of every row into lse[rows] (max-shifted,
 * float exps summed in double; parallel over blocks). Kernels then take
 * p = loss_expf((float)(x - lse)) with the difference in double, so the
 * gradient is accurate to a few float ulps. 0 on success, -1 on ENOMEM. */
int loss_lse(const float *x, const loss_geom *g, double *lse);
/* exp(x - l) for a float logit and a double log-normaliser. */
static inline float loss_expd(float x, double l) { return loss_expf((float)((double)x - l)); }
/* Work (rows x classes) above which blocks run in parallel. */
#define LOSS_PAR_MIN 32768
/* Call a block kernel with its row stride as the literal 1 for [N, C, H, W]
 * blocks (contiguous pixels: the compiler vectorizes) or the variable stride
 * otherwise. The kernel takes the stride as its last argument and is
 * always_inline, so each call site gets its own specialised copy. */
#define LOSS_CALL_RS(blk, KERNEL, ...)                                                       \
    do {                                                                                     \
        if ((blk).rs == 1) KERNEL(__VA_ARGS__, 1);                                           \
        else KERNEL(__VA_ARGS__, (blk).rs);                                                  \
    } while (0)
#define LOSS_INLINE static inline __attribute__((always_inline))

/* A target is valid when in [0, C) or equal to ignore_index; returns 1 for a
 * used target, 0 for an ignored one, -1 (err filled) for an invalid one. */
int loss_target_ok(int32_t t, int64_t ignore_index, const loss_geom *g, int64_t r, const char *who,
                   rp_error *err);

/* The common start of a forward pass: check the logits/dlogits geometry
 * (at least min_c classes), validate every target and count the rows that are
 * not ignore_index into *used. When none is used the loss is 0 and dlogits
 * (may be NULL) is zeroed: callers return at once when *used == 0. */
int loss_begin(const rp_tensor *logits, rp_tensor *dlogits, const int32_t *target, int64_t min_c,
               int64_t ignore_index, const char *who, loss_geom *g, int64_t *used, double *loss,
               rp_error *err);

/* Read a parameter (schema-validated, default filled) that must be finite;
 * error located at the node if it is not. */
int loss_param_finite(const rp_node *params, const char *key, double *out, rp_error *err);

/* Cross-entropy shared by `cross_entropy` and `pixel_cross_entropy`
 * (cross_entropy.c). `who` names the component in messages. */
int loss_ce_create_named(const rp_node *params, const char *who, void **state, rp_error *err);
int loss_ce_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                    double *loss, rp_tensor *dlogits, rp_error *err);
void loss_ce_destroy(void *state);

/* The stage and the components (each in its own file). */
int rp_loss_stage_run(rp_stage *st, rp_error *err);

#endif
