/* Internal API of the evaluate plugin: metric computations (pure functions
 * on confusion matrices / scores, tested against scikit-learn) and table
 * output. */
#ifndef RP_EVALUATE_H
#define RP_EVALUATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runpipe/runpipe.h"

/* ---- classification (metrics_cls.c) ------------------------------------------
 * scikit-learn's classification_report(y_true, y_pred, zero_division=0): the
 * report covers the labels present in y_true or y_pred (sorted); precision
 * TP/(TP+FP), recall TP/(TP+FN), F1 2PR/(P+R), each 0 when its denominator is
 * 0; macro = plain mean over those labels, weighted = mean weighted by
 * support; accuracy = trace/total. conf is [C, C], rows = true class,
 * columns = predicted class (sklearn's confusion_matrix). */
typedef struct ev_report {
    int n;                /* labels in the report */
    int *labels;          /* owned: class ids, ascending */
    double *precision, *recall, *f1; /* owned, n each */
    int64_t *support;     /* owned, n */
    int64_t total;
    double accuracy;
    double macro[3];      /* precision, recall, f1 */
    double weighted[3];
} ev_report;

int ev_report_from_confusion(const int64_t *conf, int c, ev_report *r, rp_error *err);
void ev_report_release(ev_report *r);

/* Index of the largest score (first one on ties, like torch.argmax). */
int ev_argmax(const float *scores, int c);
/* 1 when class y is among the k highest scores: fewer than k classes score
 * higher (ties counted against y only for lower class ids). */
int ev_topk_hit(const float *scores, int c, int y, int k);

/* The "report.<set>" table: rows = labels (by class name), "accuracy",
 * "macro avg", "weighted avg"; columns precision, recall, f1-score, support
 * (the accuracy row has only f1-score = accuracy and support = total, as
 * sklearn prints it). */
int ev_report_table(rp_metrics *m, const char *name, const ev_report *r,
                    const char *const *class_names, rp_error *err);
/* The "confusion.<set>" table ([C, C], class names on both axes). */
int ev_confusion_table(rp_metrics *m, const char *name, const int64_t *conf, int c,
                       const char *const *class_names, rp_error *err);

/* ---- segmentation (metrics_seg.c) --------------------------------------------
 * From a pixel confusion matrix: pixel accuracy, per-class IoU
 * TP/(TP+FP+FN) and Dice 2TP/(2TP+FP+FN) (0 when the class is absent from
 * both), and their means over the classes present in truth or prediction
 * (sklearn's jaccard_score / f1_score with average='macro'). */
typedef struct ev_seg {
    int c;
    double pixel_accuracy;
    double *iou, *dice;   /* owned, c each */
    int64_t *support;     /* owned, true pixels per class */
    int *present;         /* owned, 1 when in truth or prediction */
    double mean_iou, mean_dice;
    int64_t total;
} ev_seg;

int ev_seg_from_confusion(const int64_t *conf, int c, ev_seg *s, rp_error *err);
void ev_seg_release(ev_seg *s);
int ev_seg_table(rp_metrics *m, const char *name, const ev_seg *s,
                 const char *const *class_names, rp_error *err);

/* ---- S0's average accuracy (aa.c) -------------------------------------------- */
/* AA = mean accuracy over the listed sets; DAA = AA(model) - AA(baseline) in
 * percentage points. */
double ev_aa(const double *acc, size_t n);
double ev_daa(double aa_model, double aa_baseline);

/* ---- output (tables.c) ---------------------------------------------------------- */
/* CSV (header "name,<cols>", one row per table row, empty cell for NaN) and
 * Markdown. Written atomically. */
int ev_write_table_csv(const rp_table *t, const char *path, rp_error *err);
void ev_table_markdown(FILE *f, const rp_table *t);
/* Markdown table of every scalar + every table of `m` into path (atomic). */
int ev_write_markdown(const rp_metrics *m, const char *title, const char *path, rp_error *err);
/* Format a number for tables: integers without decimals, else 4 decimals. */
void ev_fmt(char *buf, size_t n, double v);

/* ---- metric components (metric_*.c, rows.c) ---------------------------------------- */
/* Logits [N, C] or [N, C, H, W] seen as rows of C scores (one per sample or
 * pixel), like the loss plugin does. */
typedef struct ev_rows {
    int64_t c, s, rows;   /* classes, class stride (H*W or 1), rows */
} ev_rows;
int ev_rows_init(const rp_tensor *logits, int c, const char *who, ev_rows *g, rp_error *err);
/* Copy the C scores of row r into out. */
void ev_rows_get(const ev_rows *g, const rp_tensor *logits, int64_t r, float *out);


/* A configured metric component for one set. */
typedef struct ev_extra {
    const char *name;     /* borrowed from the registry */
    const struct rp_metric_ops *ops;
    rp_node *params;      /* owned: validated */
    void *state;          /* owned while a pass runs */
} ev_extra;

/* ---- one pass of a model over a dataset (stage_evaluate.c) ------------------------ */
#define EV_MAX_K 8

typedef struct ev_opts {
    int batch_size;
    int nk;
    int k[EV_MAX_K];      /* top-k accuracies to count */
    uint64_t limit;       /* samples (0 = all) */
    uint64_t seed, stream;
    int workers;
    ev_extra *extra;      /* borrowed: metric components to update, may be NULL */
    size_t n_extra;
    int keep_logits;      /* classification: keep every sample's scores (predictions CSV,
                             logits file) */
    int n_wrong;          /* classification: remember the n_wrong most confident errors */
} ev_opts;

#define EV_MAX_WRONG 64
/* One misclassified sample. */
typedef struct ev_wrong {
    double conf;          /* softmax probability of the predicted class */
    uint64_t index;
    int32_t truth, pred;
} ev_wrong;

/* What one pass accumulates. */
typedef struct ev_pass {
    int c, seg;           /* classes; segmentation set */
    int64_t *conf;        /* owned: [c, c] (pixels for segmentation) */
    double loss_sum, loss_n; /* mean loss = loss_sum / loss_n */
    int64_t hits[EV_MAX_K];
    int64_t samples, ignored; /* samples seen; mask pixels outside [0, c) */
    float *logits;        /* owned (keep_logits): [kept, c] in dataset order */
    int32_t *labels;      /* owned (keep_logits): [kept] */
    uint64_t *index;      /* owned (keep_logits): [kept] sample indices */
    size_t kept, cap;
    ev_wrong wrong[EV_MAX_WRONG]; /* most confident errors, most confident first */
    int n_wrong;
} ev_pass;

/* ---- per-sample outputs (predictions.c) ------------------------------------------ */
/* Keep one batch's scores y [n, c] (keep_logits) and update the list of the
 * most confident errors (n_wrong). */
int ev_keep_batch(ev_pass *p, const rp_tensor *y, const rp_batch *b, const ev_opts *o,
                  rp_error *err);
/* Free what ev_keep_batch kept (and p->conf). */
void ev_pass_release(ev_pass *p);
/* predictions.<set>.csv: index, true and predicted class (id and name),
 * correct, then the top-k classes with their softmax probabilities. */
int ev_write_predictions(const char *path, const ev_pass *p, const rp_dataset *ds, int topk,
                         rp_error *err);
/* logits.<set>.safetensors: "logits" [N, C] float32, "labels" [N] and
 * "index" [N] (float32, exact below 2^24), metadata "classes" (names,
 * newline-separated) and "set". */
int ev_write_logits(const char *path, const ev_pass *p, const rp_dataset *ds, const char *set,
                    rp_error *err);
/* The errors as PNGs <dir>/misclassified/<set>/<rank>.png, each listed as a
 * report figure. */
int ev_write_misclassified(rp_stage *st, const ev_pass *p, const rp_dataset *ds, const char *set,
                           rp_error *err);

/* Run `m` (eval mode, in order) over `ds` and accumulate. `loss` (may be
 * NULL = softmax cross-entropy) gives the loss. The metric components of
 * o->extra get fresh states (created for this set's classes) and every
 * batch; on success the caller finishes them, releases them
 * (ev_extra_release) and frees p->conf. Messages name the dataset and
 * sample. */
int ev_run_pass(rp_model *m, const rp_dataset *ds, const rp_loss *loss, const ev_opts *o,
                const char *label, ev_pass *p, rp_error *err);

/* Destroy the metric states (and, with params_too, the validated params). */
void ev_extra_release(ev_extra *x, size_t n, int params_too);

/* The stage (stage_evaluate.c). */
int rp_evaluate_stage_run(rp_stage *st, rp_error *err);

#endif
