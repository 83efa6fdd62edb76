/* runpipe train plugin — internal interface between the stage's files:
 *   plugin.c      descriptor (ports)
 *   stage.c       params → train_cfg, the stage's run function
 *   loop.c        train_fit: epochs, steps, validation, hooks, resume
 *   checkpoint.c  per-epoch checkpoint (weights, optimizer, scheduler, RNG
 *                 position, early stopping, history) and its restore
 *   monitor.c     best-value tracking and early stopping
 *   history.c     the per-epoch history table, history.csv, the epoch line
 * Tests (tests/plugins/train/) call train_fit directly.
 */
#ifndef RP_PLUGIN_TRAIN_H
#define RP_PLUGIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/runpipe.h"
#include "runpipe/comm.h"

/* ---- history ---------------------------------------------------------------- */

/* Columns. For a segmentation task (masks) acc is the pixel accuracy and
 * the mean IoU and Dice columns follow (NaN and not written otherwise). */
enum {
    H_EPOCH = 0, H_TRAIN_LOSS, H_TRAIN_ACC, H_VAL_LOSS, H_VAL_ACC, H_LR, H_SECONDS,
    H_TRAIN_MIOU, H_TRAIN_DICE, H_VAL_MIOU, H_VAL_DICE,
    H_NCOLS
};
#define H_NCOLS_CLASSIFY H_TRAIN_MIOU
extern const char *const train_hist_cols[H_NCOLS];

typedef struct train_hist {
    size_t rows, cap;
    double *v;            /* owned, rows * H_NCOLS */
    int seg;              /* segmentation: history.csv has the IoU / Dice columns */
} train_hist;
/* Columns written to history.csv and the metrics table. */
int train_hist_ncols(const train_hist *h);

/* Per-class pixel counts of one pass (segmentation): for class k,
 * v[3k] = true positives, v[3k+1] = predicted, v[3k+2] = target pixels. */
typedef struct train_seg {
    int c;
    double *v;            /* owned, 3 * c; NULL until the first batch */
} train_seg;
/* Accumulate argmax(y) [N, C, H, W] against target [N, H, W] (< 0 ignored). */
int train_seg_add(train_seg *s, const rp_tensor *y, const int32_t *target, rp_error *err);
/* Mean over the classes present in prediction or target (as evaluate's
 * metrics_seg.c): IoU = TP / (TP + FP + FN), Dice = 2TP / (2TP + FP + FN).
 * NaN when nothing was counted. */
void train_seg_means(const train_seg *s, double *miou, double *dice);
void train_seg_clear(train_seg *s);
void train_seg_release(train_seg *s);

int train_hist_append(train_hist *h, const double *row, rp_error *err);
void train_hist_release(train_hist *h);
/* history.csv (header + one line per epoch), atomic. */
int train_hist_write_csv(const train_hist *h, const char *path, rp_error *err);
/* Exact text form for checkpoints ("%.17g", one row per line) and back. */
int train_hist_to_text(const train_hist *h, char **out, rp_error *err); /* *out transferred */
int train_hist_from_text(train_hist *h, const char *text, rp_error *err);

/* ---- per-step curve (steps.c) ------------------------------------------------ */

enum { S_STEP = 0, S_EPOCH, S_LOSS, S_LR, S_NCOLS };
#define TRAIN_STEPS_MAX 2000
extern const char *const train_steps_cols[S_NCOLS];

typedef struct train_steps {
    size_t rows, cap;
    double *v;            /* owned, rows * S_NCOLS: step (1-based, the bucket's
                             last), epoch (fractional), mean loss, lr */
    int64_t stride;       /* steps per point */
    int64_t pend_n, pend_step;  /* the unfinished bucket */
    double pend_epoch, pend_loss, pend_samples, pend_lr;
} train_steps;

/* Bucket size for a run of total_steps optimizer steps. */
void train_steps_init(train_steps *s, int64_t total_steps);
/* One optimizer step: its mean loss over `samples`, the lr it used. */
int train_steps_add(train_steps *s, int64_t step, double epoch, double loss, double samples,
                    double lr, rp_error *err);
/* Close the unfinished bucket (end of an epoch). */
int train_steps_flush(train_steps *s, rp_error *err);
void train_steps_release(train_steps *s);
int train_steps_write_csv(const train_steps *s, const char *path, rp_error *err);
/* Exact text form for checkpoints (the unfinished bucket first) and back. */
int train_steps_to_text(const train_steps *s, char **out, rp_error *err); /* *out transferred */
int train_steps_from_text(train_steps *s, const char *text, rp_error *err);

enum train_log_format { TRAIN_LOG_STANDARD = 0, TRAIN_LOG_BRACKET = 1 };
/* The epoch line, e.g.
 * "[03/50] train loss 0.2034 acc 0.8464 | val loss 0.0744 acc 0.9568 | lr 1.0e-05 | 812 img/s"
 * (bracket: S4's "[03] train: [Loss: 0.2034, Acc: 0.8464] | val: [Loss: ..., Acc: ...]");
 * seg adds "miou M dice D" after each acc of the standard line. */
void train_epoch_line(char *buf, size_t size, int format, int64_t epochs, const double *row,
                      int has_val, int seg, double img_per_s);

/* ---- monitor / early stopping ----------------------------------------------- */

typedef struct train_monitor {
    int col;              /* H_* column watched */
    int maximize;         /* 1: larger is better */
    double min_delta;     /* improvement must exceed this */
    int64_t patience;     /* early stopping: epochs without improvement (0 = off) */
    double best;          /* NaN until the first epoch */
    int64_t best_epoch;   /* 1-based, 0 = none */
    int64_t bad;          /* epochs since the last improvement */
} train_monitor;

/* name "val_loss" | "val_acc" | "val_miou" | "val_dice" | "train_loss" |
 * "train_acc" | "train_miou" | "train_dice"; mode "min" | "max" | "auto"
 * (max for accuracies, IoU and Dice). Returns RP_ERR_INVALID for others. */
int train_monitor_init(train_monitor *m, const char *name, const char *mode, double min_delta,
                       int64_t patience, rp_error *err);
/* Feed one epoch's history row; returns 1 when it improved on the best. */
int train_monitor_update(train_monitor *m, const double *row);
int train_monitor_should_stop(const train_monitor *m);
const char *train_monitor_name(const train_monitor *m);

/* ---- configuration ---------------------------------------------------------- */

typedef struct train_cfg {
    int64_t epochs;
    int64_t batch_size;
    const rp_node *optimizer;   /* component spec (borrowed) */
    const rp_node *scheduler;   /* component spec or NULL */
    const rp_node *hooks;       /* list of batch_hook specs or NULL */
    int workers, prefetch;
    int shuffle, drop_last, balanced;
    uint64_t limit, val_limit;  /* samples per epoch, 0 = all */
    char monitor[32], mode[8];  /* best checkpoint */
    int early_stopping;         /* enabled */
    char es_monitor[32], es_mode[8];
    int64_t patience;
    double min_delta;
    int restore_best;
    int log_format;             /* enum train_log_format */
    int checkpoint;             /* write checkpoint.safetensors every epoch */
    int64_t stop_after_epoch;   /* testing: act as if interrupted after this epoch */
    int data_parallel;          /* distributed: auto/data_parallel (1) or none (0) */
    double bucket_mb;           /* gradient bucket size (data-parallel) */
    int sync_bn;                /* synchronised batch norm (data-parallel) */
    int winograd;               /* Winograd convolutions in training passes */
} train_cfg;

/* Read validated params (schemas/train.yaml). `p` borrowed; cfg borrows nodes
 * from it. */
int train_cfg_parse(const rp_node *p, train_cfg *cfg, rp_error *err);

/* Where the stage runs. */
typedef struct train_env {
    uint64_t seed;        /* the run's root seed */
    const char *stage;    /* stage id */
    const char *dir;      /* this stage's folder (checkpoints, history.csv) */
    const char *rundir;   /* run directory (files are registered relative to it); may be NULL */
    int resuming;         /* continue from dir/checkpoint.safetensors if present */
    const rp_model *hook_model; /* `hook_model` input (borrowed) or NULL; the
                                   hooks get a copy as rp_hook_ctx.aux_model */
    const struct rp_comm *comm; /* ranks training this model together
                                   (rp_stage_comm), or NULL: alone */
} train_env;

/* Train a clone of `in` (borrowed, left untouched). On success *out_model and
 * *out_metrics are transferred to the caller. Returns RP_ERR_INTERRUPTED
 * (after writing a checkpoint) on SIGINT or stop_after_epoch. */
int train_fit(const train_cfg *cfg, const train_env *env, const rp_model *in, const rp_loss *loss,
              const rp_dataset *train, const rp_dataset *val, rp_model **out_model,
              rp_metrics **out_metrics, rp_error *err);

/* ---- checkpoint --------------------------------------------------------------- */

/* Everything besides weights/optimizer/scheduler needed to continue exactly. */
typedef struct train_state {
    int64_t epochs_done;     /* completed epochs */
    int64_t global_step;     /* optimizer steps so far (dropout/hook RNG position) */
    int64_t batch_in_epoch;  /* steps done in the unfinished epoch (interrupt) */
    int done;                /* training finished (all epochs or early stop) */
    int stopped_early;
    double lr;               /* optimizer lr to continue with */
    train_monitor best, es;  /* best-checkpoint and early-stopping trackers */
    double acc_loss, acc_correct, acc_count, acc_samples, acc_seconds; /* partial epoch */
    double acc_lr;           /* lr at the start of the unfinished epoch */
    train_seg acc_seg;       /* partial epoch's pixel counts (segmentation) */
    train_hist hist;
    train_steps steps;       /* per-step loss and lr */
} train_state;

/* Fingerprint of the configuration a checkpoint belongs to. */
typedef struct train_fingerprint {
    int64_t epochs, batch_size;
    uint64_t seed, train_size, limit;
    size_t n_params;
} train_fingerprint;

/* Write dir/checkpoint.safetensors atomically. `best` (may be NULL) = a copy
 * of the best weights, stored under "best." (restore_best). */
int train_ckpt_save(const char *path, rp_model *m, const rp_st *best, const rp_optimizer *opt,
                    const rp_scheduler *sched, const train_state *s,
                    const train_fingerprint *fp, rp_error *err);
/* Restore into m/opt/sched/s; `best` (may be NULL) receives the best weights
 * when the checkpoint has them. Errors when fp differs. */
int train_ckpt_load(const char *path, rp_model *m, rp_st *best, rp_optimizer *opt,
                    rp_scheduler *sched, train_state *s, const train_fingerprint *fp,
                    rp_error *err);

/* Copy all params + buffers of m into st (names as is) / back. */
int train_weights_to_st(rp_model *m, rp_st *st, const char *prefix, rp_error *err);
int train_weights_from_st(rp_model *m, const rp_st *st, const char *prefix, const char *file,
                          rp_error *err);

/* ---- data-parallel (dp.c) --------------------------------------------------------- */

typedef struct train_dp train_dp;
/* Buckets over m's trainable parameters and m's grad-ready hook (m borrowed,
 * must outlive *out). */
int train_dp_new(const struct rp_comm *c, rp_model *m, double bucket_mb, train_dp **out,
                 rp_error *err);
void train_dp_free(train_dp *dp);
/* Before the backward: `share` = this rank's samples / the global batch. */
void train_dp_begin(train_dp *dp, double share);
/* After the backward: every gradient is the sum over ranks of share x grad. */
int train_dp_finish(train_dp *dp, rp_error *err);
/* v[0..n) := sum over ranks (step statistics). */
int train_dp_sum(train_dp *dp, double *v, size_t n, rp_error *err);
/* Rank 0's buffers (running statistics), and parameters when params_too. */
int train_dp_bcast_state(train_dp *dp, int params_too, rp_error *err);
/* Synchronised batch norm on the model (rp_model_set_stat_sync). */
void train_dp_sync_bn(train_dp *dp);
/* This rank's share of the next step's global batch (synchronised BN). */
void train_dp_set_share(train_dp *dp, double share);
void train_dp_stats(const train_dp *dp, size_t *buckets, double *bytes_per_step,
                    double *wait_per_step, double *comm_per_step);

/* Stage run function. */
int train_stage_run(rp_stage *st, rp_error *err);

#endif
