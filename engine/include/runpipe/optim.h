/* runpipe — optimizers and LR schedulers with PyTorch semantics
 * (torch.optim 1.13 docs: same update for the same hyper-parameters). */
#ifndef RUNPIPE_OPTIM_H
#define RUNPIPE_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "io.h"
#include "nn.h"
#include "node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_optimizer rp_optimizer;
typedef struct rp_scheduler rp_scheduler;

/* Optimizer and scheduler state is saved into, and restored from, a named
 * tensor set (rp_st, io.h) for exact checkpoints: tensors named like
 * "exp_avg.layer1.0.conv1.weight", scalars such as "step" with
 * rp_st_put_scalar. */

struct rp_optimizer_ops {
    /* params: validated schemas/optimizer.<name>.yaml (lr, weight_decay, ...) */
    int (*create)(const rp_node *params, rp_model *m, void **state, rp_error *err);
    int (*step)(void *state, rp_model *m, double lr, rp_error *err);
    int (*save)(const void *state, rp_st *out, rp_error *err);
    int (*load)(void *state, const rp_st *in, rp_error *err);
    void (*destroy)(void *state);
};

/* From a spec `{sgd: {lr: 0.1, momentum: 0.9}}`; `m` borrowed (must outlive). */
int rp_optimizer_new(const rp_node *spec, rp_model *m, rp_optimizer **out, rp_error *err);
void rp_optimizer_free(rp_optimizer *o);
int rp_optimizer_step(rp_optimizer *o, rp_error *err);   /* uses the current lr */
double rp_optimizer_lr(const rp_optimizer *o);
void rp_optimizer_set_lr(rp_optimizer *o, double lr);
double rp_optimizer_base_lr(const rp_optimizer *o);
int rp_optimizer_save(const rp_optimizer *o, rp_st *out, rp_error *err);
int rp_optimizer_load(rp_optimizer *o, const rp_st *in, rp_error *err);

struct rp_scheduler_ops {
    /* params: validated schemas/scheduler.<name>.yaml. `epochs` and
     * `steps_per_epoch` let specs say "half the epochs" (e.g. T_max: 0.5 as a
     * fraction when <= 1 and the schema allows it). */
    int (*create)(const rp_node *params, double base_lr, int64_t epochs, int64_t steps_per_epoch,
                  void **state, rp_error *err);
    /* Return the lr for the next epoch (per_batch: the next step). metric is
     * the monitored value for reduce-on-plateau (NaN otherwise). */
    double (*step)(void *state, double current_lr, double metric);
    int per_batch;        /* 1 = stepped every batch */
    int (*save)(const void *state, rp_st *out, rp_error *err);
    int (*load)(void *state, const rp_st *in, rp_error *err);
    void (*destroy)(void *state);
};

int rp_scheduler_new(const rp_node *spec, rp_optimizer *o, int64_t epochs,
                     int64_t steps_per_epoch, rp_scheduler **out, rp_error *err);
void rp_scheduler_free(rp_scheduler *s);
int rp_scheduler_per_batch(const rp_scheduler *s);
/* Advance one epoch (or one step for per-batch schedulers) and set the
 * optimizer's lr accordingly. */
void rp_scheduler_step(rp_scheduler *s, double metric);
int rp_scheduler_save(const rp_scheduler *s, rp_st *out, rp_error *err);
int rp_scheduler_load(rp_scheduler *s, const rp_st *in, rp_error *err);

#ifdef __cplusplus
}
#endif
#endif
