/* runpipe — the aggregate of a matrix run: every cell's final scalars, groups
 * (cells that differ only in the axes of `aggregate.over`), mean ± std per
 * group and paper-shaped tables (internal; aggregate.c, summary.c).
 */
#ifndef RP_AGGREGATE_H
#define RP_AGGREGATE_H

#include <stddef.h>

#include "config/config.h"
#include "runpipe/error.h"

typedef struct rp_agg_cell {
    char status[64];
    size_t n;
    char **names; /* owned "stage.metric" */
    double *vals;
} rp_agg_cell;

typedef struct rp_agg_table {
    const rp_node *node;    /* the `table:` entry (borrowed) */
    const char *rows, *cols; /* axes (cols may be NULL: one column) */
    const char *metric;     /* resolved column name (borrowed from the agg) */
    const char *format;     /* "{mean:.2f} ± {std:.2f}" */
    double scale;           /* values multiplied by it (100 for %) */
    const char *then_axis;  /* mean_over axis (rows or cols) or NULL */
    const char *then_as;    /* label of the added row/column */
    size_t nr, ncl;         /* row / column values (labels, owned) */
    char **rlab, **clab;
    double *mean, *sd;      /* [nr+1][ncl+1] incl. the `then` row/column; NaN = empty */
    size_t *n;
} rp_agg_table;

typedef struct rp_agg {
    const rp_config *cfg;
    size_t nc;
    rp_agg_cell *cells;
    size_t naxes;
    const char **axes;       /* borrowed from the first cell's values */
    char **lab;              /* [nc * naxes] readable value labels (owned) */
    int *over;               /* [naxes] 1 = averaged over */
    size_t ncol;
    const char **cols;       /* selected metric columns (borrowed from cells) */
    size_t ng;
    size_t *group;           /* [nc] group of each cell */
    size_t *rep;             /* [ng] a representative cell */
    size_t ntab;
    rp_agg_table *tabs;
} rp_agg;

/* Load every cell under rundir and resolve `aggregate:`. An entry of
 * `metrics` (glob) that matches nothing, or a bad table, is an error naming
 * what is available. */
int rp_agg_load(rp_agg *a, const char *rundir, const rp_config *cfg, rp_error *err);
void rp_agg_release(rp_agg *a);
const char *rp_agg_label(const rp_agg *a, size_t cell, size_t axis);
int rp_agg_value(const rp_agg *a, size_t cell, const char *col, double *v); /* 1 if finite */
/* mean, sample std, n of column `col` over the done cells of group g */
void rp_agg_stats(const rp_agg *a, size_t g, const char *col, double *mean, double *sd, size_t *n);
/* "{mean:.2f} ± {std:.2f}" applied; the std part dropped when std is NaN. */
void rp_agg_format(char *out, size_t n, const char *fmt, double mean, double sd, size_t cnt);

/* summary.html (summary.c) */
int rp_summary_write(const char *rundir, const rp_agg *a, rp_error *err);

#endif
