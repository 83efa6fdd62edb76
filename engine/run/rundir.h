/* runpipe — run directories: creation, manifest, metrics, matrix cells with
 * status files, --resume, aggregate tables (internal; DESIGN §9).
 *
 *   runs/<name>/<YYYYmmdd-HHMMSS>/      ("-2", "-3" if taken; or --out DIR)
 *     pipeline.resolved.yaml manifest.json metrics.json log.txt status
 *     run.json pipeline.source.yaml (what --resume RUNDIR replays)
 *   with a matrix, one <cell dirname>/ per cell holding the per-cell files
 *   and, at the top, log.txt, status, manifest.json, aggregate.csv, aggregate.md.
 * Every file is written to a temporary name and renamed, except log.txt,
 * which is appended to line by line as the run goes.
 */
#ifndef RP_RUNDIR_H
#define RP_RUNDIR_H

#include <stddef.h>

#include "config/config.h"
#include "run/pipeline.h"

struct rp_run_opts {
    const char *out_dir;    /* --out DIR, or NULL for runs/<name>/<stamp> */
    const char *resume_dir; /* --resume DIR, or NULL */
    int threads;            /* for the manifest and stages */
    int argc;               /* command line for the manifest */
    char *const *argv;
    const char *cache_dir;  /* --cache DIR, or NULL for rp_cache_default() */
    int no_cache;           /* --no-cache */
    int force_new;          /* --force-new: --out DIR taken → DIR-2, DIR-3 ... */
    const char *const *sets; /* the --set overrides as given (borrowed), stored in
                                run.json so --resume RUNDIR replays them */
    size_t n_sets;
    int has_seed;           /* --seed given (stored likewise) */
    unsigned long long seed;
};

/* Claim a fresh run folder, atomically (one mkdir; concurrent runs never
 * share one). Without `out`: runs/<name>/<stamp>, suffixed -2, -3 ... when
 * taken. With `out`: that folder if it is new or empty; an existing
 * non-empty one is an error naming --resume / --force-new, unless
 * `force_new`, which suffixes it. *path transferred. */
int rp_rundir_make(const char *out, const char *name, int force_new, char **path,
                   rp_error *err);

/* What a run folder stores to be resumed without its command line:
 * run.json {"pipeline": FILE as given, "cwd": ..., "sets": [...], "seed": N
 * or null} and pipeline.source.yaml (the file's text). */
#define RP_RUN_JSON "run.json"
#define RP_RUN_SOURCE "pipeline.source.yaml"

/* Run every cell of `cfg` with its checked plan (plans[i] for cells[i]; all
 * borrowed). Returns the exit code: 0 when every cell is done, 1 otherwise
 * (first failure in *first_err, located). *dir_out (transferred) is the run
 * directory, NULL if it could not be made. */
int rp_run_all(const rp_config *cfg, rp_plan *const *plans, const struct rp_run_opts *o,
               char **dir_out, rp_error *first_err);

/* aggregate.csv + aggregate.md of `cfg`'s cells under `rundir` (reads every
 * cell's metrics.json and status). */
int rp_aggregate_write(const char *rundir, const rp_config *cfg, rp_error *err);

/* Keys of every cell's stages (under its seed) and which stages several
 * cells share: st[i].key, shared_by, shared_dir (shared.c). */
void rp_plans_share(const rp_config *cfg, rp_plan *const *plans);
/* Readable label of a matrix value: scalars as written, `{resnet20: {shortcut: A}}`
 * → "resnet20(shortcut=A)", lists "[a, b]" (aggregate.c). Transferred. */
char *rp_value_label(const rp_node *v);

/* Mean and sample standard deviation (n-1; NaN when n < 2; aggregate.c). */
void rp_mean_std(const double *x, size_t n, double *mean, double *std);

#endif
