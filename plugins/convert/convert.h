/* Internal API of the convert plugin: S0's conversion learning (SEEDS.md S0,
 * "Conversion Learning"): transplant trained parameters of donor models
 * into a target model of the same architecture, scoring each candidate by
 * AA, the (weighted) mean accuracy over the `select` sets.
 *
 * Units (what moves together):
 *   - layers: every node with parameters is a unit named after the node
 *     ("conv1" moves conv1.weight and conv1.bias). A node holding buffers
 *     (batch norm: running_mean / running_var / num_batches_tracked, with
 *     its affine weight and bias) is not a unit of its own: it moves with the
 *     nearest parameterised node before it in model order (conv -> bn ->
 *     relu: the bn goes with the conv; ResNet's downsample.1 goes with
 *     downsample.0). A normalisation layer with no parameterised node before
 *     it is its own unit.
 *   - rows: output unit k of one layer: row k of a dense weight [out, in] or
 *     filter k of a convolution [O, I, kh, kw], its bias[k], and channel k of
 *     the unit's batch norm. Cumulative: candidate k moves rows 0..k-1.
 *   - columns: input feature j of a dense weight (W[:, j]); no bias, no
 *     batch norm. Cumulative like rows. Dense layers only.
 *
 * Speed. A candidate changes only the layers from its first changed unit
 * on. The select sets are processed batch by batch; in each batch the
 * activations of the unchanged prefix are computed once (a chain of model
 * slices of the base, rp_model_slice) and every candidate runs only its
 * changed suffix from there. Rows / columns of one layer are incremental:
 * the layer's output is computed once with the base's and once with the
 * donor's parameters (rows swap output channels), or updated by rank-1 terms
 * z += x[:, j] * (W_donor[:, j] - W_base[:, j]) (columns), and only the
 * layers after it run per candidate (none for the output layer: the
 * argmax is taken right there). */
#ifndef RP_CONVERT_H
#define RP_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "runpipe/runpipe.h"

#define CV_MAX_UNIT_NODES 4
#define CV_MAX_UNITS 64 /* layer subsets are bit masks */

/* ---- units (units.c) ---------------------------------------------------------- */
typedef struct cv_unit {
    char *name;                      /* owned: the parameterised node's name */
    int main;                        /* that node's index */
    int nodes[CV_MAX_UNIT_NODES];    /* main first, then its batch norm(s) */
    int n_nodes;
    int start, end;                  /* smallest / largest node index */
} cv_unit;

typedef struct cv_units {
    cv_unit *u;                      /* owned, n entries, in model order */
    size_t n;
} cv_units;

/* The units of `m` (borrowed) as described above. */
int cv_units_find(const rp_model *m, cv_units *out, rp_error *err);
void cv_units_release(cv_units *u);
/* Unit index of node `node` (-1 when the node belongs to none). */
int cv_unit_of_node(const cv_units *u, int node);
/* Name matching for `layers:` (as model.build's freeze): exact, "prefix."
 * or a bare prefix followed by '.', or a glob with * ? [. */
int cv_pattern_match(const char *pat, const char *name);

/* Error unless `donor` can give parameters to `target` (both borrowed):
 * same class count, same nodes (name and type, in order) and the same
 * parameter names and shapes. The message lists up to 8 differences;
 * `what` names the donor ("donor 2 ('d2.model')"). */
int cv_check_donor(const rp_model *target, const rp_model *donor, const char *what,
                   rp_error *err);

/* ---- select sets in memory (sets.c) --------------------------------------------- */
typedef struct cv_set {
    char *name;                      /* owned */
    rp_tensor *x;                    /* owned: [N, C, H, W] */
    int32_t *y;                      /* owned: [N] labels */
    int64_t n;
} cv_set;

/* Decode the first `limit` samples (0 = all) of ds (borrowed). */
int cv_set_load(const rp_dataset *ds, const char *name, uint64_t limit, cv_set *out,
                rp_error *err);
void cv_set_release(cv_set *s);

/* ---- search (search.c, rows.c) ------------------------------------------------- */
enum cv_kind { CV_LAYERS = 0, CV_ROWS, CV_COLUMNS };

typedef struct cv_cand {
    uint64_t mask;                   /* layers: bit i = units[i] of the round */
    int64_t k;                       /* rows / columns: the first k move */
    int64_t *correct;                /* owned: [n_sets] */
    double score;
} cv_cand;

/* One search: one donor into the base model. */
typedef struct cv_round {
    int kind;                        /* enum cv_kind */
    const rp_model *donor;           /* borrowed */
    char *donor_name;                /* owned: "d.model" for logs and the table */
    int units[CV_MAX_UNITS];         /* unit indices (layers: convertible; rows/columns: one) */
    size_t n_units;
    int sizes[CV_MAX_UNITS];         /* layers: subset sizes r (empty = 1..n_units) */
    size_t n_sizes;
    int64_t step;                    /* rows / columns */
    int include_full_swap;           /* keep the subset that equals the donor itself */
    /* filled by cv_round_enumerate */
    cv_cand *cands;                  /* owned */
    size_t n_cands;
    int64_t n_rows;                  /* rows / columns: how many the layer has */
    int full_swap_excluded;          /* the donor itself was left out */
    /* filled by cv_round_search */
    int64_t *base_correct, *donor_correct; /* owned, [n_sets] */
    double base_score, donor_score;
    long best;                       /* index into cands, -1 = none */
    double seconds;                  /* scoring the candidates (not the base and donor) */
} cv_round;

/* Fill the candidate list; `total_units` is the model's unit count (a layer
 * subset covering all of them is the donor itself). Returns the count in
 * *count without allocating when count_only. */
int cv_round_enumerate(cv_round *r, const cv_units *u, const rp_model *base, int count_only,
                       uint64_t *count, rp_error *err);
void cv_round_release(cv_round *r);

/* Optional observer of the outputs each candidate produced (tests): called
 * per candidate, set and batch with the model's output rows [row0, row0+n). */
typedef void (*cv_output_fn)(void *ctx, size_t cand, size_t set, int64_t row0,
                             const rp_tensor *out);

typedef struct cv_opts {
    const double *weights;           /* [n_sets] or NULL = equal */
    int batch_size;
    int incremental;                 /* 0: each candidate re-evaluated from scratch */
    cv_output_fn observe;            /* may be NULL */
    void *observe_ctx;
} cv_opts;

/* Score every candidate of `r` (and the base and the donor itself) on the
 * sets; picks r->best (highest score; ties: fewer units / smaller k, then
 * enumeration order). base is borrowed and left unchanged. */
int cv_round_search(const rp_model *base, const cv_units *u, cv_round *r, const cv_set *sets,
                    size_t n_sets, const cv_opts *o, rp_error *err);
/* AA of a correct-count vector. */
double cv_score(const int64_t *correct, const cv_set *sets, size_t n_sets, const double *w);
/* Move candidate c's parameters from r->donor into m (a model of the same
 * architecture). */
int cv_apply(rp_model *m, const cv_units *u, const cv_round *r, const cv_cand *c, rp_error *err);
/* "conv2+fc" / "fc.rows[0:40]" (into buf). */
const char *cv_cand_label(const cv_units *u, const cv_round *r, const cv_cand *c, char *buf,
                          size_t size);
/* Number of units a candidate moves (layers) or k (rows / columns). */
int64_t cv_cand_size(const cv_round *r, const cv_cand *c);

/* Incremental paths (rows.c), called by cv_round_search. */
int cv_search_rows(const rp_model *base, const cv_units *u, cv_round *r, const cv_set *sets,
                   size_t n_sets, const cv_opts *o, rp_error *err);

/* Model helpers (search.c). Correct predictions of m on each set (eval
 * mode, argmax = first maximum). */
int cv_count_correct(rp_model *m, const cv_set *sets, size_t n_sets, int batch,
                     int64_t *correct, cv_output_fn observe, void *ctx, size_t cand,
                     rp_error *err);
/* The one node whose output the nodes [c, out] of m read from before c
 * (-1 = the model input); -2 when they read two different ones (then c is
 * not a place to cut the model into prefix and suffix). */
int cv_cut_source(const rp_model *m, int c, int out);
/* Activation a of n samples as a [n, c, h, w] view for model m's input;
 * *ok = 0 (and err set) when the sizes differ. */
rp_tensor cv_act_view(const rp_model *m, const rp_tensor *a, int64_t n, rp_error *err, int *ok);
/* Samples [i0, i0+n) of x [N, C, H, W] as a borrowed [n, C, H, W] view. */
rp_tensor cv_rows_view(const rp_tensor *x, int64_t i0, int64_t n);
/* Index of the first largest of c scores. */
int cv_argmax(const float *s, int c);

/* ---- outputs (outputs.c) ------------------------------------------------------ */
/* candidates.csv: round, donor, candidate, units, size, one accuracy column
 * per set, score, delta (%p vs the round's base). */
int cv_write_csv(const char *path, const cv_units *u, const cv_round *rounds, size_t n_rounds,
                 const cv_set *sets, size_t n_sets, rp_error *err);
/* score vs k (rows / columns) or the ranked bar chart of the best `top`
 * layer subsets, with the base's score as a dashed line (SVG). */
int cv_write_svg(const char *path, const cv_units *u, const cv_round *r, size_t top,
                 rp_error *err);

/* Several rounds: the score after each round (its kept candidate, or the
 * base) with the target's score dashed (SVG). `final` = score after round i. */
int cv_write_rounds_svg(const char *path, const cv_round *rounds, size_t n, const double *final,
                        rp_error *err);

#endif
