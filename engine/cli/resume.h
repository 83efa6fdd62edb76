/* runpipe --resume RUNDIR [FILE] [--set ...]: what to run again (internal).
 *
 * A run folder stores its pipeline (pipeline.source.yaml) and overrides
 * (run.json, rundir.h). Resuming without FILE replays them; a FILE or --set
 * list that differs from the stored one is refused with a short diff unless
 * `force` (continuing with another pipeline would mix two experiments).
 */
#ifndef RP_CLI_RESUME_H
#define RP_CLI_RESUME_H

#include <stddef.h>

#include "runpipe/error.h"

typedef struct rp_resume {
    char *file;        /* pipeline file to load (owned) */
    char **sets;       /* effective --set list (owned, n_sets entries) */
    size_t n_sets;
    int has_seed;
    unsigned long long seed;
    int replayed;      /* the stored file / overrides are used */
    int changed;       /* a FILE or --set that differs was accepted (a matrix-only
                          change, or --force): store it with rp_resume_store */
} rp_resume;

/* Store r's file text and overrides in the run folder, so the next
 * --resume replays what this one ran. */
int rp_resume_store(const char *rundir, const rp_resume *r, rp_error *err);

/* Fill *out (caller releases with rp_resume_release). `file` may be NULL
 * (replay the stored pipeline); `sets` borrowed; n_sets == 0 replays the
 * stored overrides. RP_ERR_INVALID with the diff in err->msg when they differ
 * and !force (a file that differs only in its `matrix:` is accepted: the
 * new cells run); RP_ERR_IO when the folder cannot be resumed. */
int rp_resume_prepare(const char *rundir, const char *file, const char *const *sets,
                      size_t n_sets, int has_seed, unsigned long long seed, int force,
                      rp_resume *out, rp_error *err);
void rp_resume_release(rp_resume *r);

/* A short line diff of two texts ("- old" / "+ new" lines, at most `max`
 * of each, with line numbers). Transferred. */
char *rp_text_diff(const char *a, const char *b, int max);

#endif
