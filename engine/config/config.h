/* runpipe — pipeline files: variables, --set, matrix cells (internal).
 *
 * rp_config_load parses a pipeline file, applies --set overrides to the raw
 * tree, expands the matrix (cartesian product of its axes in file order, the
 * last axis varying fastest), substitutes ${vars.x} / ${matrix.x} / ${env.X}
 * in every cell and validates each cell's document against
 * schemas/pipeline.yaml (defaults filled). Stage `with:` maps are not
 * validated here: the runtime checks them against each stage's schema.
 * Every error of every cell is collected in the diag (cap 50).
 */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"
#include "runpipe/node.h"

/* The display name of a matrix value: a map's scalar `name` entry
 * ({name: cutout, transforms: [...]}), else NULL. Borrowed. */
const char *rp_matrix_value_name(const rp_node *v);

typedef struct rp_cell {
    char *label;     /* "arch=resnet20 seed=1" ("" without matrix), owned */
    char *dirname;   /* "arch-resnet20_seed-1" (filesystem-safe; "" without matrix), owned */
    rp_node *values; /* map axis → value (owned; empty map without matrix) */
    rp_node *doc;    /* whole pipeline document for this cell: substituted, --set applied,
                        validated against schemas/pipeline.yaml, defaults filled (owned) */
    uint64_t seed;   /* --seed, else matrix axis `seed`, else top-level seed */
} rp_cell;

typedef struct rp_config {
    char *path;              /* owned */
    rp_node *root;           /* raw parsed tree after --set (owned) */
    char *name;              /* pipeline name (owned) */
    size_t n_cells;
    rp_cell *cells;          /* owned */
    const rp_node *aggregate; /* {over: [...], metrics: [...]} or NULL; borrowed from the
                                 first cell's document (substituted, validated) */
} rp_config;

struct rp_config_opts {
    const char *const *sets; /* "PATH=VALUE" strings (borrowed) */
    size_t n_sets;
    int has_seed;            /* --seed given */
    uint64_t seed;
};

/* rp_node.quoted value of a scalar whose ${...} could not be substituted. */
#define RP_NODE_UNRESOLVED 2

/* Load and check `path` (borrowed); `o` may be NULL. On success *out is
 * transferred. On any error returns RP_ERR_INVALID (or RP_ERR_IO when the file
 * cannot be read) with every error in `d` and *out NULL (unless o->partial and
 * the file could be parsed: then *out is the best-effort config, transferred). */
int rp_config_load(const char *path, const struct rp_config_opts *o, rp_config **out, rp_diag *d);
/* Same for YAML text; `name` is the file name used in locations. */
int rp_config_load_string(const char *text, const char *name, const struct rp_config_opts *o,
                          rp_config **out, rp_diag *d);
/* Like rp_config_load, but on RP_ERR_INVALID still hand out the best-effort
 * config when the file could be parsed (every cell that could be expanded,
 * its doc possibly incomplete), so the caller can check the stages too and
 * print all errors at once. Scalars whose ${...} failed are marked
 * quoted == RP_NODE_UNRESOLVED and the schema validator skips them (their
 * error is already in the diag). *out transferred whenever set. */
int rp_config_load_partial(const char *path, const struct rp_config_opts *o, rp_config **out,
                           rp_diag *d);
void rp_config_free(rp_config *c);

/* The cells of a substituted `matrix` map (matrix.c): its `include` / `exclude`
 * entries are removed from `matrix`, *out is the list of axis → value maps
 * (cartesian product minus excluded, plus included; transferred). */
int rp_matrix_combos(rp_node *matrix, size_t max_cells, rp_node **out, rp_diag *d);

/* Largest accepted matrix (cells); bigger products are an error. */
#define RP_CONFIG_MAX_CELLS 100000

#endif
