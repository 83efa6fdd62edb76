/* runpipe — communication between the processes of one run (MPI ranks).
 *
 * The engine and the plugins never link MPI. Under `mpirun` / `srun`
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) the engine
 * dlopens <libdir>/runpipe/comm_mpi.so (engine/mpi/, built with mpicc), which
 * fills this table of operations. A plain `runpipe FILE` never loads it.
 *
 * A stage gets a communicator from rp_stage_comm: NULL when it runs alone
 * (one process, or one matrix cell per rank), otherwise every rank runs the
 * same stage on the same inputs and may split the work (train's
 * data-parallel mode). All operations are collective over the ranks of the
 * communicator unless said otherwise, and are called from one thread.
 */
#ifndef RUNPIPE_COMM_H
#define RUNPIPE_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_comm_req rp_comm_req; /* a started non-blocking reduction */

struct rp_comm {
    int rank, size;
    void *impl; /* the implementation's state (borrowed) */
    /* buf[0..n) := sum over ranks of buf[0..n), in place; the same bytes on
     * every rank. */
    int (*allreduce_sum_f32)(const struct rp_comm *c, float *buf, size_t n, rp_error *err);
    int (*allreduce_sum_f64)(const struct rp_comm *c, double *buf, size_t n, rp_error *err);
    /* Start the same reduction without waiting; buf must stay untouched until
     * wait returns. *req is transferred to wait. */
    int (*iallreduce_sum_f32)(const struct rp_comm *c, float *buf, size_t n, rp_comm_req **req,
                              rp_error *err);
    /* Let started reductions progress (MPI progresses them only inside MPI
     * calls); never blocks. Not collective. */
    void (*poll)(const struct rp_comm *c);
    int (*wait)(const struct rp_comm *c, rp_comm_req *req, rp_error *err);
    /* bytes of rank `root` to every rank */
    int (*bcast)(const struct rp_comm *c, void *buf, size_t bytes, int root, rp_error *err);
    int (*barrier)(const struct rp_comm *c, rp_error *err);
    /* Work queue: atomically take the next value of a counter held by rank 0
     * (0, 1, 2, ... across all ranks); not collective. */
    int (*next_ticket)(const struct rp_comm *c, int64_t *ticket, rp_error *err);
    /* End every rank of the job with `code` (a rank that cannot go on while
     * the others wait for it in a collective). */
    void (*abort)(const struct rp_comm *c, int code);
};

/* The ranks of the whole job, or NULL when runpipe was not started by an MPI
 * launcher (or the run has not started yet). Borrowed. */
const struct rp_comm *rp_comm_world(void);
/* The communicator a stage trains with (see above); NULL = alone. Borrowed. */
const struct rp_comm *rp_stage_comm(const rp_stage *st);

/* Started by an MPI launcher? (environment only: loads nothing) */
int rp_comm_launched(void);
/* Started as one of several tasks of `srun` that MPI cannot connect (no
 * PMIx / PMI variables: srun without --mpi=pmix on a cluster whose default
 * is none)? rp_comm_init then fails and says so. Environment only. */
int rp_comm_srun_without_pmi(void);
/* Load comm_mpi.so and initialise MPI (once; later calls return the same).
 * *out borrowed, NULL when not launched by MPI or run with one rank. */
int rp_comm_init(const struct rp_comm **out, rp_error *err);
/* MPI_Finalize (after the last collective). */
void rp_comm_finalize(void);

#ifdef __cplusplus
}
#endif
#endif
