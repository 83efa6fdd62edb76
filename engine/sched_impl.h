/* Internal helpers shared by the scheduler files (sched_*.c). Every
 * scheduler follows torch.optim.lr_scheduler (1.13) including its recursive
 * ("chainable") forms, so the LR sequence matches PyTorch's to rounding.
 * Like PyTorch's constructors, rp_scheduler_new performs the first step
 * (last_epoch -1 → 0) right away. */
#ifndef RP_ENGINE_SCHED_IMPL_H
#define RP_ENGINE_SCHED_IMPL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "runpipe/runpipe.h"

/* Units the scheduler counts: epochs, or batches with `interval: batch`. */
int64_t rp_sched_total(const rp_node *params, int64_t epochs, int64_t steps_per_epoch);
/* A length option that may be a fraction of the total (value <= 1 means
 * round(value * total), at least 1) or a count. */
int64_t rp_sched_span(const rp_node *params, const char *key, int64_t total, double def);

/* Simple schedulers keep just these. */
typedef struct rp_sched_basic {
    double base_lr;
    int64_t last_epoch;   /* -1 before the constructor's step */
} rp_sched_basic;

int rp_sched_basic_save(const rp_sched_basic *b, rp_state *out, rp_error *err);
int rp_sched_basic_load(rp_sched_basic *b, const rp_state *in, rp_error *err);

#endif
