/* runpipe — a run spread over MPI ranks (internal; runpipe/comm.h).
 *
 * Two modes, chosen by rp_dist_begin when the job has K > 1 ranks:
 *  - cells: a matrix of several cells and no stage asking for
 *    `distributed: data_parallel`. Ranks take cells from a queue (a counter on
 *    rank 0: whoever finishes a cell takes the next), each cell writes its
 *    folder exactly as a one-process run, and rank 0 writes the aggregate and
 *    the run's manifest once every rank is through.
 *  - replicated: one cell (or data_parallel asked for). Every rank runs every
 *    stage, and stages get the communicator (rp_stage_comm) so `train` splits
 *    each batch over the ranks. Rank 0 writes the run folder; rank r > 0
 *    writes its copies into <run>/.rank-r/ (never read by rank 0).
 */
#ifndef RP_DIST_H
#define RP_DIST_H

#include <stddef.h>

#include "config/config.h"
#include "run/pipeline.h"
#include "runpipe/comm.h"

typedef struct rp_dist {
    const struct rp_comm *c; /* NULL: one process */
    char *root0;             /* rank 0's run directory (owned), after rp_dist_root */
    int cells;               /* cells over ranks */
    int replicated;          /* every rank runs every cell */
    size_t n_cells;
} rp_dist;

/* Initialise MPI when launched by mpirun/srun and pick the mode. */
int rp_dist_begin(rp_dist *d, const rp_config *cfg, rp_plan *const *plans, rp_error *err);
/* Nonzero for the rank that writes the run folder's top-level files. */
int rp_dist_primary(const rp_dist *d);
/* Agree on the run directory: rank 0's *root (NULL when it could not make
 * one) goes to every rank; in replicated mode ranks > 0 then use
 * <root>/.rank-r (made). *root transferred (replaced). */
int rp_dist_root(rp_dist *d, char **root, rp_error *err);
/* "log.txt", or "log.rank-r.txt" for ranks > 0 in cells mode. Static. */
const char *rp_dist_log_name(const rp_dist *d, char *buf, size_t n);
/* Cells loop: first cell index / the one after `ci` for this rank (>= n_cells
 * = no more). */
size_t rp_dist_first(rp_dist *d);
size_t rp_dist_next(rp_dist *d, size_t ci);
/* The communicator stages of a cell get (replicated mode), else NULL. */
const struct rp_comm *rp_dist_stage_comm(const rp_dist *d);
/* Wait for every rank (cells mode: before rank 0 aggregates); *count
 * becomes its sum over the ranks (cells skipped as done). */
void rp_dist_sync(rp_dist *d, size_t *count);
/* Replicated mode: every rank takes rank 0's *flag (a decision such as
 * "cell already done, skip it" must be the same everywhere). Returns it. */
int rp_dist_agree(const rp_dist *d, int *flag);
/* Cells mode, rank 0 after rp_dist_sync: the status of every cell another
 * rank ran, from its status file, into cell_status (strdup'ed) and the
 * counts; the first failure into *first_err. Returns 1 when any failed. */
int rp_dist_collect_cells(const char *root, const rp_config *cfg, char **cell_status,
                          size_t *n_done, size_t *n_failed, size_t *n_notrun, rp_error *first_err);
/* Rank 0's path of `rel` (NULL: the run directory) under its run directory,
 * or under `root` without MPI. Transferred. */
char *rp_dist_primary_path(const rp_dist *d, const char *root, const char *rel);
/* Replicated mode: this rank cannot run a cell the others run (its own
 * I/O error): log `e` and end the job, rather than leave the others
 * waiting for it in a reduction. Returns in the other modes. */
void rp_dist_fatal(const rp_dist *d, const rp_error *e);
/* After the run: MPI_Finalize. */
void rp_dist_end(rp_dist *d);

#endif
