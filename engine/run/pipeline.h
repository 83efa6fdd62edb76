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
    char *id, *use;                 /* owned; a foreach instance's id is "donor/row-3" */
    const rp_node *node;            /* the stage's map in the document (borrowed) */
    const rp_stage_entry *entry;    /* NULL when the stage is unknown (plan has errors) */
    rp_node *params;                /* validated `with:` (owned), NULL on errors */
    rp_plan_input *inputs;          /* entry->def->n_inputs entries (owned) */
    /* foreach instances (foreach.c): the file's id ("donor"), the instance
     * label ("row-3"), its values ({row: 3}) and its `in:` with ${each.*}
     * substituted; all NULL for a plain stage. Owned. */
    char *group, *inst;
    rp_node *each;
    rp_node *in_node;
    /* Filled by rp_plans_share (shared.c) before running or planning: */
    char key[65];                   /* content key (cache.c), "" if not computed */
    size_t shared_by;               /* cells with the same key (0/1 = not shared) */
    char *shared_dir;               /* "shared/<axes>/": run folder of a shared stage (owned) */
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
/* Checks over the whole plan before anything runs (check.c; rp_plan_build
 * calls it when the plan has no other error): input paths exist or are made
 * by an earlier stage (`x-path: in` / `out` in the schemas; a relative path
 * found only next to the pipeline file is rewritten to that path), the
 * stages' `check` callbacks, and a model input against its dataset inputs
 * (classes, channels, size). Errors go to `d`. */
int rp_plan_check(rp_plan *p, rp_diag *d);
void rp_plan_free(rp_plan *p);
/* The document with every stage's `with:` replaced by its validated params
 * (for pipeline.resolved.yaml). Transferred. */
rp_node *rp_plan_resolved_doc(const rp_plan *p);
/* Human-readable plan (stages, wiring, params) for `runpipe plan`.
 * Transferred. */
char *rp_plan_describe(const rp_plan *p);

/* ---- run ----------------------------------------------------------------------- */

typedef struct rp_stage_result {
    char id[192], use[128];
    const char *reuse;   /* static: NULL (ran), "cache hit", "shared" */
    int cache;           /* 0 not cacheable/off, 1 miss (stored), 2 hit */
    char key[65];        /* content key ("" if none) */
    char dir[256];       /* folder relative to the run root when not the cell's own */
    const char *plugin;  /* borrowed from the registry */
    int ran;             /* 0 = not reached */
    int status;          /* RP_OK or the stage's error status */
    double seconds;      /* wall time */
    size_t n_notes;
    char **note_keys;    /* owned */
    double *note_vals;   /* owned */
    int notes_lost;      /* a note could not be stored (out of memory): the stage fails */
} rp_stage_result;

typedef struct rp_run_result {
    int status;          /* RP_OK, or the failing stage's status */
    rp_error err;        /* located, prefixed "stage 'x' (use): " */
    size_t n;
    rp_stage_result *st; /* owned, one per plan stage */
    char *metrics_json;  /* owned: every metrics artifact keyed by stage id */
    size_t n_metrics;    /* metrics artifacts produced */
} rp_run_result;

typedef struct rp_cache rp_cache;   /* cache.c */
typedef struct rp_shared rp_shared; /* shared.c */

struct rp_exec_opts {
    const char *rundir;  /* this cell's directory (exists) */
    uint64_t seed;
    int threads;
    int resuming;
    const char *root;    /* the run directory (shared stages' folders are under it) */
    rp_shared *shared;   /* artifacts of stages shared by several cells, or NULL */
    rp_cache *cache;     /* the stage cache, or NULL (--no-cache) */
    const struct rp_comm *comm; /* ranks running this cell together (rp_stage_comm), or NULL */
    /* With comm: rank 0's cell directory and run directory (this rank's own
     * rundir/root may be a private copy); foreach instances run by any rank
     * write there (foreach_dist.c). NULL = rundir / root. */
    const char *primary_rundir, *primary_root;
};

/* Run every stage in order; artifacts live in a store destroyed before
 * returning (after metrics.json text was taken). Returns res->status. */
int rp_plan_run(const rp_plan *p, const struct rp_exec_opts *o, rp_run_result *res);
void rp_run_result_release(rp_run_result *r);

/* ---- foreach instances over the ranks (foreach_dist.c) ------------------------------ */

typedef struct rp_store rp_store;
/* Runs stage i with its inputs in store (exec.c). */
typedef void (*rp_run_one_fn)(const rp_plan *p, size_t i, const struct rp_exec_opts *o,
                              rp_store *store, rp_run_result *res);
/* When stage i starts a run of >= 2 foreach instances that ranks can share
 * (o->comm; instances independent of each other, not shared between cells,
 * outputs models, metrics or files): the index after the last of them; else
 * i + 1. */
size_t rp_foreach_dist_end(const rp_plan *p, size_t i, const struct rp_exec_opts *o);
/* Run instances [i, end) over the ranks: each rank takes the next instance
 * from the queue, runs it alone into rank 0's folder and leaves its outputs
 * in <primary root>/.foreach/ (stage-cache format); then every rank takes
 * the instances others ran from there. A failure anywhere fails the cell on
 * every rank. */
void rp_foreach_dist_run(const rp_plan *p, size_t i, size_t end, const struct rp_exec_opts *o,
                         rp_store *store, rp_run_result *res, rp_run_one_fn run_one);

/* ---- the store (store.c) ---------------------------------------------------------- */

typedef struct rp_store rp_store;
rp_store *rp_store_new(void);
/* Destroys every artifact, newest first. */
void rp_store_free(rp_store *s);
/* Take ownership of `art` (also on failure, when it is destroyed). */
int rp_store_put(rp_store *s, size_t stage, size_t port, const char *type, void *art,
                 rp_error *err);
void *rp_store_get(const rp_store *s, size_t stage, size_t port);
/* Lend an artifact owned elsewhere (a shared stage's); never destroyed here. */
int rp_store_put_borrowed(rp_store *s, size_t stage, size_t port, const char *type, void *art,
                          rp_error *err);
/* Remove an owned artifact and hand it to the caller (NULL if absent). */
void *rp_store_take(rp_store *s, size_t stage, size_t port);
/* How a dataset output was made: a call of a loader stage (rp_stage_call)
 * with these params, so the stage cache can make it again from the restored
 * folder (cache.c). The strings and params are owned by whoever holds it. */
typedef struct rp_recipe {
    const void *art; /* the artifact the call returned (identity only) */
    char *use;       /* "data.folder" */
    char *port;      /* its output port, "data" */
    rp_node *params; /* the validated params of the call */
} rp_recipe;
void rp_recipe_release(rp_recipe *r);
/* The recipe of output (stage, port), or NULL (borrowed). */
const rp_recipe *rp_store_recipe(const rp_store *s, size_t stage, size_t port);
/* Free what a stage context allocated (its folder path, its calls' recipes). */
void rp_stage_ctx_release(rp_stage *st);
/* Destroy an artifact by its type name ("dataset", "model", ...). */
void rp_artifact_destroy(const char *type, void *art);
/* metrics.json text of every metrics artifact ({"stage": {"scalars": ...,
 * "tables": ..., "files": [...]}}); transferred. */
char *rp_store_metrics_json(const rp_store *s, const rp_plan *p, size_t *count);

/* The run-time context handed to a stage (plugin.h's opaque rp_stage). */
/* Nonzero when stage s of a cell runs in (or borrows from) the run's shared
 * folder <root>/<s->shared_dir><id> rather than the cell's own. */
int rp_plan_stage_shared(const rp_plan_stage *s, const struct rp_exec_opts *o);

struct rp_stage {
    const rp_plan *plan;
    size_t idx;
    const rp_plan_stage *ps;
    rp_store *store;
    const struct rp_exec_opts *opts;
    char *dir;                /* <rundir>/<id>, made on first rp_stage_dir */
    rp_stage_result *res;
    const char *rundir;       /* the cell's directory, or <root>/<shared_dir> */
    void **capture;           /* rp_stage_call: outputs land here (one slot per
                                 output port) instead of in the store */
    rp_recipe *recipes;       /* rp_stage_call results not yet handed on */
    size_t n_recipes;
};

/* ---- foreach (foreach.c) ------------------------------------------------------------ */

/* Instances of a stage map's `foreach:` ({row: [0, 1]} or {row: {range: [0, 28]}}; the
 * cartesian product of its axes, last fastest): *values is a list of maps axis →
 * value, *labels "row-3" (both transferred). A stage without foreach gives n = 0.
 * Errors (located) go to d. */
int rp_foreach_expand(const rp_node *stage, const char *ctx, rp_node **values, char ***labels,
                      size_t *n, rp_diag *d);
/* A copy of `n` with ${each.NAME} substituted from `each` (NULL: any ${each.*} is an
 * error, the stage has no foreach). Whole-scalar references keep the value's type.
 * Transferred; NULL after an error (in d). */
rp_node *rp_each_subst(const rp_node *n, const rp_node *each, const char *ctx, rp_diag *d);

/* ---- keys, sharing, cache (shared.c, cache.c) ---------------------------------------- */

/* Content key of every stage of `p` under `seed` (stage, resolved params, the
 * providing plugin's sha256, seed, input keys), into st[i].key. */
void rp_plan_keys(rp_plan *p, uint64_t seed);

/* Registry of the artifacts of shared stages (one per run, shared.c). */
rp_shared *rp_shared_new(void);
void rp_shared_free(rp_shared *sh); /* destroys every artifact, newest first */
/* 1 and arts[0..nports) (borrowed, NULL for an unset optional port) when the
 * stage with `key` already ran in this run; else 0. */
int rp_shared_get(const rp_shared *sh, const char *key, size_t nports, void **arts);
/* Take ownership of a finished shared stage's outputs (types static). */
int rp_shared_put(rp_shared *sh, const char *key, size_t nports, const char *const *types,
                  void **arts, rp_error *err);

/* The stage cache (cache.c). */
int rp_cache_open(const char *dir, rp_cache **out, rp_error *err); /* made if absent */
void rp_cache_close(rp_cache *c);
const char *rp_cache_dir(const rp_cache *c);
/* Cacheable: flagged RP_STAGE_CACHEABLE and every output a model, metrics,
 * files or dataset (a dataset is cached as the loader call that made it from
 * the stage's folder, and made again from the restored folder: `ctx` of
 * rp_cache_restore runs that call). */
int rp_stage_cacheable(const rp_plan_stage *ps);
/* Restore stage `idx`'s outputs into `store` and its folder into `stage_dir`
 * when the cache holds ps->key: *hit = 1. A damaged entry is a miss (warned). */
int rp_cache_restore(rp_cache *c, const rp_plan_stage *ps, size_t idx, rp_store *store,
                     const char *stage_dir, rp_stage *ctx, int *hit, rp_error *err);
/* Store stage `idx`'s outputs (from `store`) and its folder under ps->key. */
int rp_cache_save(rp_cache *c, const rp_plan_stage *ps, size_t idx, const rp_store *store,
                  const char *stage_dir, rp_error *err);

typedef struct rp_cache_entry {
    char key[65];
    char stage[192], use[128];
    double size;        /* bytes of its blobs */
    double last_used;   /* seconds since the epoch */
} rp_cache_entry;
/* Every entry, most recently used first (*out transferred). */
int rp_cache_list(const char *dir, rp_cache_entry **out, size_t *n, double *total_bytes,
                  rp_error *err);
/* Drop least recently used entries until the cache holds at most max_bytes,
 * then blobs no entry refers to. */
int rp_cache_gc(const char *dir, double max_bytes, size_t *removed, double *freed,
                rp_error *err);
/* Process-wide default for runs (--cache DIR / --no-cache): dir NULL = off. */
void rp_cache_set_default(const char *dir);
const char *rp_cache_default(void);

#endif
