/* runpipe — losses, metrics components, batch hooks. */
#ifndef RUNPIPE_LOSS_H
#define RUNPIPE_LOSS_H

#include <stdint.h>

#include "artifact.h"
#include "data.h"
#include "error.h"
#include "nn.h"
#include "node.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rp_loss_ops {
    int (*create)(const rp_node *params, void **state, rp_error *err);
    /* logits [N, C] (classification) or [N, C, H, W] (per-pixel); target [N]
     * or [N, H, W] class ids. Writes the mean loss into *loss and, when
     * dlogits != NULL, overwrites it with d(loss)/d(logits) (same shape). */
    int (*forward)(const void *state, const rp_tensor *logits, const int32_t *target,
                   double *loss, rp_tensor *dlogits, rp_error *err);
    void (*destroy)(void *state);
};

/* The `loss` artifact: one configured loss (possibly a weighted sum). */
typedef struct rp_loss {
    const struct rp_loss_ops *ops;
    void *state;
    char *name;           /* owned, "focal" or "sum" */
} rp_loss;

/* Build from a component spec `{focal: {alpha: 1, gamma: 2}}`. Transferred. */
int rp_loss_new(const rp_node *spec, rp_loss **out, rp_error *err);
void rp_loss_free(rp_loss *l);
int rp_loss_compute(const rp_loss *l, const rp_tensor *logits, const int32_t *target,
                    double *loss, rp_tensor *dlogits, rp_error *err);

/* Numerically stable row softmax / log-softmax over the last axis of
 * [rows, C] (for [N,C,H,W] callers pass the channel stride). */
void rp_softmax_rows(const float *x, float *y, int64_t rows, int64_t c);
void rp_log_softmax_rows(const float *x, float *y, int64_t rows, int64_t c);

/* ---- metric components (RP_COMP_METRIC) ------------------------------------------
 * Extra evaluation metrics asked for by name (evaluate's `metrics:` list,
 * e.g. `[balanced_accuracy, {ece: {bins: 15}}]`). A metric accumulates over
 * the batches of one dataset, then writes its scalars. */
struct rp_metric_ops {
    /* params: validated schemas/metric.<name>.yaml; num_classes of the set. */
    int (*create)(const rp_node *params, int num_classes, void **state, rp_error *err);
    /* One batch: logits [N, C] or [N, C, H, W], target [N] or [N, H, W]
     * (borrowed; target ids outside [0, C) are to be skipped). */
    int (*update)(void *state, const rp_tensor *logits, const int32_t *target, rp_error *err);
    /* Write the results as scalars "<prefix><metric>" (prefix e.g. "test.")
     * into m. */
    int (*finish)(void *state, const char *prefix, rp_metrics *m, rp_error *err);
    void (*destroy)(void *state);
};

/* ---- batch hooks (e.g. S2's CAM erasing) -------------------------------------- */

typedef struct rp_hook_ctx {
    rp_model *model;      /* borrowed; a hook may run forward/backward on it */
    const rp_loss *loss;  /* borrowed */
    rp_batch *batch;      /* the batch about to be trained on; a hook may
                             append samples with rp_batch_reserve */
    uint64_t seed;
    uint64_t epoch, step; /* 0-based */
    uint64_t epochs;      /* total */
    const char *stage;    /* stage id (for rng keys) */
    rp_model *aux_model;  /* borrowed, NULL when unwired: the train stage's
                             `hook_model` input (a copy), e.g. the fixed CAM
                             source of cam_erasing's `cam_model: input` */
} rp_hook_ctx;

struct rp_batch_hook_ops {
    int (*create)(const rp_node *params, void **state, rp_error *err);
    /* Called before each training step, in training mode; the caller sets
     * the mode, step and gradients of ctx->model again afterwards. Draw
     * randomness only from streams keyed by (seed, stage, epoch, sample
     * index) so that runs are reproducible and resumable. */
    int (*on_batch)(void *state, rp_hook_ctx *ctx, rp_error *err);
    void (*destroy)(void *state);
};

#ifdef __cplusplus
}
#endif
#endif
