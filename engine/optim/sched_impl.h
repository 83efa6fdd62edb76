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
/* A schedule point or length (T_max, milestones, step_size, ...): a number
 * keeps PyTorch's meaning, a count of epochs (or of batches with
 * `interval: batch`), non-integers allowed where PyTorch allows them; a
 * string "P%" (the schema's pattern) is P percent of `total`, unrounded.
 * `v` borrowed, validated by the schema. */
double rp_sched_point(const rp_node *v, int64_t total);
/* The same for an option that PyTorch takes as an integer: rounded to the
 * nearest integer, at least `min`. */
int64_t rp_sched_count(const rp_node *v, int64_t total, int64_t min);

/* Every scheduler's state struct starts with this (simple schedulers keep
 * just it), so a state pointer is also a pointer to its rp_sched_basic. */
typedef struct rp_sched_basic {
    double base_lr;
    int64_t last_epoch;   /* -1 before the constructor's step */
} rp_sched_basic;

/* A zeroed state of `size` bytes (a struct starting with rp_sched_basic)
 * with base_lr set and last_epoch -1; owned by the caller (free with
 * rp_sched_basic_destroy). NULL with err set when out of memory. */
void *rp_sched_basic_new(size_t size, double base_lr, rp_error *err);
/* Save / load "last_epoch" and "base_lr"; state points to (a struct starting
 * with) rp_sched_basic, so these serve directly as rp_scheduler_ops.save /
 * .load for schedulers with no further state. */
int rp_sched_basic_save(const void *state, rp_st *out, rp_error *err);
int rp_sched_basic_load(void *state, const rp_st *in, rp_error *err);
/* A count from saved state: an integer in [min, 2^53] (a checkpoint is
 * untrusted input), else an error naming it. */
int rp_sched_state_count(const rp_st *in, const char *key, int64_t min, int64_t *out, rp_error *err);
void rp_sched_basic_destroy(void *state);

/* NAME_ops for a scheduler whose saved state is just rp_sched_basic and whose
 * LR depends on the epoch alone. STATE is its struct (starting with
 * rp_sched_basic b), read from the options by
 *   int INIT(STATE *s, const rp_node *params, int64_t total, rp_error *err)
 * (total = rp_sched_total: epochs, or batches with `interval: batch`), and
 *   double LR(const STATE *s, int64_t e, double lr)
 * gives the LR of epoch e (the new last_epoch, 0 at the constructor's step)
 * from the current one. */
#define RP_SCHED_SIMPLE(NAME, STATE, INIT, LR)                                                      \
    static int NAME##_create(const rp_node *params, double base_lr, int64_t epochs, int64_t spe,   \
                             void **state, rp_error *err) {                                        \
        STATE *s = rp_sched_basic_new(sizeof *s, base_lr, err);                                    \
        if (!s) return err->status;                                                                \
        if (INIT(s, params, rp_sched_total(params, epochs, spe), err)) {                           \
            rp_sched_basic_destroy(s);                                                             \
            return err->status;                                                                    \
        }                                                                                          \
        *state = s;                                                                                \
        return RP_OK;                                                                              \
    }                                                                                              \
    static double NAME##_step(void *state, double lr, double metric) {                             \
        (void)metric;                                                                              \
        STATE *s = state;                                                                          \
        return LR(s, ++s->b.last_epoch, lr);                                                       \
    }                                                                                              \
    static const struct rp_scheduler_ops NAME##_ops = {NAME##_create, NAME##_step, 0,              \
                                                       rp_sched_basic_save, rp_sched_basic_load,   \
                                                       rp_sched_basic_destroy};

#endif
