/* The state of one train_fit call, shared by the loop (loop.c) and its
 * set-up and results (setup.c). Plugin-internal. */
#ifndef TRAIN_LOOP_H
#define TRAIN_LOOP_H

#include "train.h"

typedef struct train_hook {
    const struct rp_batch_hook_ops *ops;
    void *state;
    const char *name;
} train_hook;

typedef struct train_run {
    const train_cfg *cfg;
    const train_env *env;
    rp_model *m;
    const rp_loss *loss;
    const rp_dataset *train, *val;
    rp_optimizer *opt;
    rp_scheduler *sched;
    rp_loader *tl, *vl;
    rp_tensor dlogits;
    rp_batch hb;  /* copy of the batch handed to hooks */
    rp_model *hm; /* copy of env->hook_model (NULL when unwired) */
    train_hook *hooks;
    size_t n_hooks;
    train_state s;
    rp_st best; /* best weights (restore_best) */
    int have_best;
    train_fingerprint fp;
    uint64_t dropout_seed;
    uint64_t steps_per_epoch;
    char ckpt_path[1100], hist_path[1100], best_path[1100], last_path[1100], steps_path[1100];
    train_dp *dp;    /* data-parallel over env->comm, or NULL */
    int dp_stop;     /* some rank was interrupted (agreed in the step) */
    int sharded;     /* the train loader reads only this rank's rows (dp, no batch hooks) */
    int val_sharded; /* the val loader does (dp) */
} train_run;

/* Clone the model, open the loaders, optimizer, scheduler, hooks and
 * monitors, and (under --resume) load the checkpoint. On failure the caller
 * still calls train_run_release. */
int train_run_setup(train_run *r, const rp_model *in, rp_error *err);
/* The metrics of the finished run: history and steps tables, the picked
 * epoch's values, the files written. *out transferred. */
int train_run_metrics(train_run *r, rp_metrics **out, rp_error *err);
/* Free everything train_run_setup made (the model too, unless taken). */
void train_run_release(train_run *r);

#endif
