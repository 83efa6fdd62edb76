/* Shared helpers of the loss plugin: layout of [N, C] / [N, C, H, W] logits
 * as "rows" (one row = one sample or one pixel, C class scores with a stride),
 * a double-precision log-softmax of one row, target checking. */
#ifndef RP_LOSS_COMMON_H
#define RP_LOSS_COMMON_H

#include <stddef.h>
#include <stdint.h>

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

/* Log-softmax of row r (double): out[k] = x_k - logsumexp(x). out: c doubles. */
void loss_row_log_softmax(const float *x, const loss_geom *g, int64_t r, double *out);

/* A target is valid when in [0, C) or equal to ignore_index; returns 1 for a
 * used target, 0 for an ignored one, -1 (err filled) for an invalid one. */
int loss_target_ok(int32_t t, int64_t ignore_index, const loss_geom *g, int64_t r, const char *who,
                   rp_error *err);

/* Read a finite parameter; error located at the node if it is not finite. */
int loss_param_finite(const rp_node *params, const char *key, double def, double *out,
                      rp_error *err);

/* Cross-entropy shared by `cross_entropy` and `pixel_cross_entropy`
 * (cross_entropy.c). `who` names the component in messages. */
int loss_ce_create_named(const rp_node *params, const char *who, void **state, rp_error *err);
int loss_ce_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                    double *loss, rp_tensor *dlogits, rp_error *err);
void loss_ce_destroy(void *state);

/* The stage and the components (each in its own file). */
extern const struct rp_loss_ops rp_loss_cross_entropy_ops;
extern const struct rp_loss_ops rp_loss_pixel_cross_entropy_ops;
extern const struct rp_loss_ops rp_loss_focal_ops;
extern const struct rp_loss_ops rp_loss_complement_flatten_ops;
extern const struct rp_loss_ops rp_loss_dice_ops;
extern const struct rp_loss_ops rp_loss_sum_ops;
int rp_loss_stage_run(rp_stage *st, rp_error *err);

#endif
