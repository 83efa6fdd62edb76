/* The engine's side of runpipe/comm.h: detect an MPI launcher from the
 * environment and load the MPI implementation (comm_mpi.so, engine/mpi/)
 * only then, so a plain `runpipe FILE` neither links nor loads libmpi and
 * starts as fast as before.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/registry.h"
#include "runpipe/comm.h"
#include "runpipe/log.h"

/* comm_mpi.so's one entry point */
typedef int (*rp_comm_mpi_open_fn)(const struct rp_comm **out, rp_error *err);
typedef void (*rp_comm_mpi_close_fn)(void);

static const struct rp_comm *g_world;
static void *g_lib;
static int g_tried;

static long env_long(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *end ? -1 : x;
}

int rp_comm_launched(void) {
    /* Open MPI's mpirun, then PMI / PMIx (Slurm's srun, MPICH's hydra) */
    return env_long("OMPI_COMM_WORLD_SIZE") > 0 || env_long("PMI_SIZE") > 0 ||
           env_long("PMIX_RANK") >= 0;
}

int rp_comm_srun_without_pmi(void) {
    /* srun sets SLURM_STEP_NUM_TASKS for a job step; a batch script has
     * SLURM_PROCID and SLURM_NTASKS but no step, and runs one process. K
     * tasks that MPI cannot connect would each start alone, K copies of
     * the run writing one folder. */
    return !rp_comm_launched() && env_long("SLURM_STEP_NUM_TASKS") > 1 &&
           env_long("SLURM_PROCID") >= 0;
}

const struct rp_comm *rp_comm_world(void) { return g_world; }

int rp_comm_init(const struct rp_comm **out, rp_error *err) {
    *out = g_world;
    if (g_tried) return RP_OK;
    g_tried = 1;
    if (rp_comm_srun_without_pmi())
        return rp_error_set(err, RP_ERR_INVALID,
                            "started by srun as task %ld of %ld, but without an MPI interface "
                            "(no PMIX_RANK or PMI_SIZE in the environment): run `srun "
                            "--mpi=pmix ...` (or --mpi=pmi2; `srun --mpi=list` shows what the "
                            "cluster offers)",
                            env_long("SLURM_PROCID"), env_long("SLURM_STEP_NUM_TASKS"));
    if (!rp_comm_launched()) return RP_OK;
    char path[4200];
    const char *over = getenv("RUNPIPE_COMM_MPI");
    if (over && *over)
        snprintf(path, sizeof path, "%s", over);
    else
        snprintf(path, sizeof path, "%s/runpipe/comm_mpi.so", rp_engine_moddir());
    /* RTLD_GLOBAL: Open MPI dlopens its own components, which need libmpi's
     * symbols */
    g_lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!g_lib)
        return rp_error_set(err, RP_ERR_IO,
                            "started by an MPI launcher, but the MPI support '%s' cannot be "
                            "loaded: %s (build it with `make` where `mpicc` is installed: "
                            "`make deps` installs Open MPI)",
                            path, dlerror());
    rp_comm_mpi_open_fn open_fn = (rp_comm_mpi_open_fn)dlsym(g_lib, "rp_comm_mpi_open");
    if (!open_fn)
        return rp_error_set(err, RP_ERR_IO, "'%s' has no rp_comm_mpi_open", path);
    const struct rp_comm *c = NULL;
    int rc = open_fn(&c, err);
    if (rc) return rc;
    if (c && c->size > 1) g_world = c;
    *out = g_world;
    return RP_OK;
}

void rp_comm_finalize(void) {
    if (!g_lib) return;
    rp_comm_mpi_close_fn close_fn = (rp_comm_mpi_close_fn)dlsym(g_lib, "rp_comm_mpi_close");
    if (close_fn) close_fn();
    g_world = NULL;
    /* libmpi stays loaded: its atexit handlers may still run */
}
