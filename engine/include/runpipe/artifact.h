/* runpipe — artifact types that are plain data: metrics and files.
 * (dataset: data.h, model: nn.h, loss: loss.h.)
 *
 * Every artifact type has a destroy function known to the engine by type name;
 * the store frees artifacts in reverse creation order, so a derived artifact
 * (a dataset view, a cloned model) may borrow from an earlier one.
 */
#ifndef RUNPIPE_ARTIFACT_H
#define RUNPIPE_ARTIFACT_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A table of numbers with named columns and optionally named rows:
 * confusion matrix, classification report, per-epoch history. */
typedef struct rp_table {
    char *name;           /* owned: "confusion", "classification_report", "history" */
    size_t rows, cols;
    char **col_names;     /* owned, cols entries */
    char **row_names;     /* owned, rows entries, or NULL */
    double *values;       /* owned, rows*cols, row-major; NaN = empty cell */
} rp_table;

/* Named scalars + tables. Keys are dotted ("test.accuracy", "AA"). */
typedef struct rp_metrics {
    size_t n;
    char **names;         /* owned */
    double *values;       /* owned */
    size_t n_tables;
    rp_table *tables;     /* owned */
    size_t n_files;
    char **files;         /* owned: paths (relative to the run dir) of files
                             the stage wrote: history.csv, plots, models */
} rp_metrics;

rp_metrics *rp_metrics_new(void);                       /* NULL on ENOMEM */
void rp_metrics_free(rp_metrics *m);
int rp_metrics_set(rp_metrics *m, const char *name, double v, rp_error *err); /* replaces */
int rp_metrics_get(const rp_metrics *m, const char *name, double *v);        /* 1 if found */
/* Add a table (rows*cols zero-filled; names copied; row_names may be NULL).
 * Returns a borrowed pointer to fill, NULL + err on failure. */
rp_table *rp_metrics_add_table(rp_metrics *m, const char *name, size_t rows, size_t cols,
                               const char *const *col_names, const char *const *row_names,
                               rp_error *err);
const rp_table *rp_metrics_table(const rp_metrics *m, const char *name);
int rp_metrics_add_file(rp_metrics *m, const char *relpath, rp_error *err);
/* Grow a table by one row (values copied, row_name may be NULL). */
int rp_table_append_row(rp_table *t, const char *row_name, const double *values, rp_error *err);

/* `files` artifact: a directory the stage produced (e.g. prepared crops). */
typedef struct rp_files {
    char *dir;            /* owned, absolute or relative to cwd */
} rp_files;
rp_files *rp_files_new(const char *dir);
void rp_files_free(rp_files *f);

#ifdef __cplusplus
}
#endif
#endif
