/* runpipe — pipeline plan, check, run; the artifact store and the stage
 * context (internal).
 *
 * A plan is one matrix cell's document turned into stages in order, each
 * with its registered definition, validated params (defaults filled) and
 * wired inputs. rp_plan_build collects every error into a diag; nothing runs
 * until every cell's plan is clean (DESIGN §3 ★).
 */
#ifndef RP_PIPELINE_H
#define RP_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"
#include "host/registry.h"
#include "runpipe/plugin.h"

/* ---- plan ---------------------------------------------------------------------- */

typedef struct rp_plan_src {
    size_t stage;       /* index of the producing stage (earlier) */
    size_t port;        /* index into its def->outputs */
    char *label;        /* "cifar.test" (owned) */
    const rp_node *node; /* the reference in the file (borrowed) */
} rp_plan_src;

typedef struct rp_plan_input {
    size_t n;           /* 0 = unwired (optional port) */
    rp_plan_src *src;   /* owned */
} rp_plan_input;

typedef struct rp_plan_stage {
    char *id, *use;                 /* owned */
    const rp_node *node;            /* the stage's map in the document (borrowed) */
    const rp_stage_entry *entry;    /* NULL when the stage is unknown (plan has errors) */
    rp_node *params;                /* validated `with:` (owned), NULL on errors */
    rp_plan_input *inputs;          /* entry->def->n_inputs entries (owned) */
} rp_plan_stage;

typedef struct rp_plan {
    const rp_node *doc; /* the cell's document (borrowed from the config) */
    size_t n;
    rp_plan_stage *st;  /* owned */
} rp_plan;

/* Build and check the plan of one document (a config cell's doc, borrowed:
 * must outlive the plan). Every error goes to `d`. Returns RP_OK or
 * RP_ERR_INVALID; *out is set either way (free it with rp_plan_free). */
int rp_plan_build(const rp_node *doc, rp_plan **out, rp_diag *d);
void rp_plan_free(rp_plan *p);
/* The document with every stage's `with:` replaced by its validated params
 * (for pipeline.resolved.yaml). Transferred. */
rp_node *rp_plan_resolved_doc(const rp_plan *p);
/* Human-readable plan (stages, wiring, params) for `runpipe plan`.
 * Transferred. */
char *rp_plan_describe(const rp_plan *p);

/* ---- run ----------------------------------------------------------------------- */

typedef struct rp_stage_result {
    char id[128], use[128];
    const char *plugin;  /* borrowed from the registry */
    int ran;             /* 0 = not reached */
    int status;          /* RP_OK or the stage's error status */
    double seconds;      /* wall time */
    size_t n_notes;
    char **note_keys;    /* owned */
    double *note_vals;   /* owned */
} rp_stage_result;

typedef struct rp_run_result {
    int status;          /* RP_OK, or the failing stage's status */
    rp_error err;        /* located, prefixed "stage 'x' (use): " */
    size_t n;
    rp_stage_result *st; /* owned, one per plan stage */
    char *metrics_json;  /* owned: every metrics artifact keyed by stage id */
    size_t n_metrics;    /* metrics artifacts produced */
} rp_run_result;

struct rp_exec_opts {
    const char *rundir;  /* this cell's directory (exists) */
    uint64_t seed;
    int threads;
    int resuming;
};

/* Run every stage in order; artifacts live in a store destroyed before
 * returning (after metrics.json text was taken). Returns res->status. */
int rp_plan_run(const rp_plan *p, const struct rp_exec_opts *o, rp_run_result *res);
void rp_run_result_release(rp_run_result *r);

/* ---- the store (store.c) ---------------------------------------------------------- */

typedef struct rp_store rp_store;
rp_store *rp_store_new(void);
/* Destroys every artifact, newest first. */
void rp_store_free(rp_store *s);
/* Take ownership of `art` (also on failure, when it is destroyed). */
int rp_store_put(rp_store *s, size_t stage, size_t port, const char *type, void *art,
                 rp_error *err);
void *rp_store_get(const rp_store *s, size_t stage, size_t port);
/* Destroy an artifact by its type name ("dataset", "model", ...). */
void rp_artifact_destroy(const char *type, void *art);
/* metrics.json text of every metrics artifact ({"stage": {"scalars": ...,
 * "tables": ..., "files": [...]}}); transferred. */
char *rp_store_metrics_json(const rp_store *s, const rp_plan *p, size_t *count);

/* The run-time context handed to a stage (plugin.h's opaque rp_stage). */
struct rp_stage {
    const rp_plan *plan;
    size_t idx;
    const rp_plan_stage *ps;
    rp_store *store;
    const struct rp_exec_opts *opts;
    char *dir;                /* <rundir>/<id>, made on first rp_stage_dir */
    rp_stage_result *res;
    void **capture;           /* rp_stage_call: outputs land here (one slot per
                                 output port) instead of in the store */
};

#endif
