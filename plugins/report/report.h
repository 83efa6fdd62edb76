/* Internal API of the report plugin: HTML escaping and base64 on rp_strbuf,
 * inline SVG charts, PNG data URIs, and the writers of report.html,
 * report.md and metrics.json. Everything here is independent of the stage
 * context so tests can call it directly. */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/runpipe.h"

/* ---- text helpers on rp_strbuf (text.c) --------------------------------------- */
/* Append `s` (borrowed; NULL appends nothing) HTML-escaped (& < > " ' ) — safe
 * in text and attribute values. */
void rp_put_html(rp_strbuf *b, const char *s);
/* Append base64 of data (borrowed; RFC 4648, with padding). */
void rp_put_base64(rp_strbuf *b, const unsigned char *data, size_t n);
/* A number for tables: integers without decimals, else 4 decimals; "" for NaN. */
void rp_put_num(rp_strbuf *b, double v);

/* ---- SVG charts (svg.c) ---------------------------------------------------------- */
typedef struct rp_series {
    const char *name;     /* legend text */
    const char *color;    /* CSS colour */
    const double *x, *y;  /* n points; NaN y = gap */
    size_t n;
    int dashed;
    int faint;            /* thin, translucent, no dots, not in the legend (raw
                             per-step values behind their smoothed line) */
} rp_series;

/* "Nice" axis ticks covering [lo, hi] (Heckbert's 1-2-5 steps): fills up to
 * max ticks, returns how many. */
int rp_nice_ticks(double lo, double hi, int target, double *ticks, int max);

/* A line chart with axes, ticks, grid, axis labels and a legend. */
void rp_svg_line_chart(rp_strbuf *b, const char *title, const char *xlabel, const char *ylabel,
                       const rp_series *s, size_t ns, int width, int height);
/* The same with a dashed vertical line at x = mark_x (NaN: none) labelled
 * mark_label (may be NULL), e.g. the best epoch. */
void rp_svg_line_chart_mark(rp_strbuf *b, const char *title, const char *xlabel,
                            const char *ylabel, const rp_series *s, size_t ns, int width,
                            int height, double mark_x, const char *mark_label);
/* A confusion-matrix heat map: rows = true class, columns = predicted,
 * class names on both axes, counts in cells, colour scale with legend. */
void rp_svg_heatmap(rp_strbuf *b, const char *title, const rp_table *t);
/* percent = 1: values are fractions (row-normalised), printed as % on a
 * fixed 0-100 % scale. */
void rp_svg_heatmap_fmt(rp_strbuf *b, const char *title, const rp_table *t, int percent);

/* ---- images (images.c) ------------------------------------------------------------ */
/* PNG of an [C, H, W] float image (C = 1 or 3; values in [0, 1], or min-max
 * scaled when outside), upscaled by an integer factor, as a data URI. */
int rp_png_data_uri(rp_strbuf *b, const rp_tensor *img, int scale, rp_error *err);
/* PNG of a class-id mask coloured with a fixed palette (ids outside [0, 255),
 * e.g. the usual 255 "void", are black). */
int rp_mask_data_uri(rp_strbuf *b, const int32_t *mask, int64_t h, int64_t w, int scale,
                     rp_error *err);
/* The same with the data set's own colours: class k < n_palette is
 * palette[k] (RGB, borrowed), others the fixed palette. */
int rp_mask_data_uri_pal(rp_strbuf *b, const int32_t *mask, int64_t h, int64_t w, int scale,
                         const unsigned char (*palette)[3], int n_palette, rp_error *err);
/* The colour of class id v in those masks (black for ignored / void ids). */
void rp_mask_colour(int32_t v, const unsigned char (*palette)[3], int n_palette,
                    unsigned char out[3]);
/* Class ids of "#RRGGBB" strings into out[n][3]; -1 and *bad = the index of
 * the first malformed one. */
int rp_parse_palette(const rp_node *list, unsigned char (*out)[3], int max, int *bad);

/* ---- the report (write.c) -------------------------------------------------------- */
typedef struct rp_report_input {
    const char *source;   /* "fit", "eval" (the producing stage/port) */
    const rp_metrics *m;  /* borrowed */
} rp_report_input;

typedef struct rp_report_opts {
    const char *title;
    const char *rundir;   /* where report.html and report.md go */
    const char *json_dir; /* where metrics.json goes (the stage's folder: the
                             run folder's metrics.json is the engine's) */
    const rp_dataset *data; /* borrowed, may be NULL: sample images */
    int samples;          /* how many sample images */
    rp_model *model;      /* borrowed, may be NULL: with a segmentation `data`,
                             image / true mask / predicted mask of `predictions`
                             samples (an eval forward; the model's own state
                             is otherwise unchanged) */
    int predictions;
    const unsigned char (*palette)[3]; /* mask colours by class id, borrowed */
    int n_palette;
    uint64_t seed;        /* (unused for sampling: evenly spaced indices) */
    const rp_stage *stage; /* borrowed, may be NULL: the report stage, to find
                             the folders of stages the matrix cells share */
} rp_report_opts;

/* Write report.html, report.md (rundir) and metrics.json (json_dir). */
int rp_report_write(const rp_report_opts *o, const rp_report_input *in, size_t n, rp_error *err);
/* The individual documents (into b). */
int rp_report_html(rp_strbuf *b, const rp_report_opts *o, const rp_report_input *in, size_t n,
                   rp_error *err);
void rp_report_markdown(rp_strbuf *b, const rp_report_opts *o, const rp_report_input *in, size_t n);
int rp_report_json(char **out, const rp_report_input *in, size_t n, rp_error *err);

/* The page style shared by report.html and summary.html. */
extern const char *const rp_report_css;
/* 1 for the scalars shown first (accuracies, AA, DAA, Dice/IoU means). */
int rp_report_headline(const char *name);

/* ---- readable final metrics (metric_tables.c) ------------------------------------ */
/* A value by its metric's kind: fractions (accuracy, F1, IoU, ...) as "89.31 %",
 * DAA as "+4.36 %p", others as rp_put_num; NaN as a dash. */
void rp_report_put_metric(rp_strbuf *b, const char *name, double v);
/* The stage `id` in the resolved pipeline (borrowed; NULL when absent) and
 * the source wired to its input `port` ("fmnist.test"), NULL when none. */
const rp_node *rp_report_stage_node(const rp_node *pipeline, const char *id);
const char *rp_report_stage_input(const rp_node *pipeline, const char *id, const char *port);
/* One block per input: evaluate's sets side by side (rows = metric), train's
 * best epoch / early stop in words, the other scalars as rows. `pipeline`
 * (the resolved pipeline, may be NULL) names monitors and wired sets. */
void rp_report_metric_tables(rp_strbuf *b, const rp_report_input *in, size_t n,
                             const rp_node *pipeline);

/* ---- stage figures (figures.c) ------------------------------------------------ */
typedef struct rp_report_fig {
    char *section, *title, *caption, *stage; /* owned */
    char *path;           /* owned: absolute or run-relative file path */
} rp_report_fig;
typedef struct rp_report_figs {
    rp_report_fig *v;     /* owned */
    size_t n, cap;
} rp_report_figs;
/* Read every stage's figures.json (pipeline order; foreach instances in name
 * order). */
int rp_report_figs_collect(rp_report_figs *fs, const char *rundir, const rp_stage *st,
                           const rp_node *pipeline,
                           rp_error *err);
void rp_report_figs_release(rp_report_figs *fs);
/* 1 when rundir/rel is one of the figures (shown there, not again as a file). */
int rp_report_figs_has(const rp_report_figs *fs, const char *rundir, const char *rel);
/* Sections with inlined pictures, grouped by section and title. */
void rp_report_figs_html(rp_strbuf *b, const rp_report_figs *fs);

/* ---- image sections (samples.c) ------------------------------------------------ */
/* The sample grid: o->samples evenly spaced images with their class (and the
 * model's prediction and probability when it classifies). */
int rp_report_samples_html(rp_strbuf *b, const rp_report_opts *o, rp_error *err);
/* Predicted masks: image, true mask and argmax mask for o->predictions
 * evenly spaced samples of a segmentation data set. */
int rp_report_predictions_html(rp_strbuf *b, const rp_report_opts *o, rp_error *err);

/* ---- matrix summary (summary.c) -------------------------------------------------- */
/* When opts->rundir is one cell of a matrix (its pipeline.resolved.yaml has a
 * `matrix:`), (re)write <matrix root>/summary.html: one row per cell (status,
 * headline metrics, link to its report.html) with mean, sample std and n.
 * Cells that already finished are read from their metrics.json; this cell
 * from `in`. The last cell to run leaves the complete summary. *written = 1
 * when a summary was written. */
int rp_report_matrix_summary(const rp_report_opts *o, const rp_report_input *in, size_t n,
                             int *written, rp_error *err);

int rp_report_stage_run(rp_stage *st, rp_error *err);

#endif
