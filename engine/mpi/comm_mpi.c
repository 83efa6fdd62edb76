/* comm_mpi.so: runpipe/comm.h on MPI (built with mpicc when it is present;
 * dlopened by engine/host/comm.c only under an MPI launcher).
 *
 * Work queue: a 64-bit counter in an MPI window on rank 0, taken with
 * MPI_Fetch_and_op (passive target), so rank 0 hands out cells without a
 * coordinator thread and keeps working on cells itself.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runpipe/comm.h"

#define RP_EXPORT __attribute__((visibility("default")))

struct rp_comm_req {
    MPI_Request r;
};

typedef struct mpi_state {
    MPI_Win win;
    int64_t *counter; /* window memory (one int64 on rank 0) */
    int win_open;
    int we_init;      /* we called MPI_Init (so we finalize) */
} mpi_state;

static mpi_state g_st;
static struct rp_comm g_comm;

static int fail(rp_error *err, int code, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return rp_error_set(err, RP_ERR_IO, "MPI: %s failed: %s", what, msg);
}

/* MPI's count is an int: long buffers go in pieces. */
#define CHUNK ((size_t)1 << 30)

static int allreduce_f32(const struct rp_comm *c, float *buf, size_t n, rp_error *err) {
    (void)c;
    for (size_t o = 0; o < n; o += CHUNK) {
        int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Allreduce");
    }
    return RP_OK;
}

static int allreduce_f64(const struct rp_comm *c, double *buf, size_t n, rp_error *err) {
    (void)c;
    for (size_t o = 0; o < n; o += CHUNK) {
        int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Allreduce");
    }
    return RP_OK;
}

static int iallreduce_f32(const struct rp_comm *c, float *buf, size_t n, rp_comm_req **req,
                          rp_error *err) {
    (void)c;
    *req = NULL;
    if (n > (size_t)INT32_MAX)
        return rp_error_set(err, RP_ERR_INVALID, "MPI: a gradient bucket of %zu floats is too large",
                            n);
    rp_comm_req *q = malloc(sizeof *q);
    if (!q) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q->r);
    if (rc != MPI_SUCCESS) {
        free(q);
        return fail(err, rc, "MPI_Iallreduce");
    }
    *req = q;
    return RP_OK;
}

static void poll_progress(const struct rp_comm *c) {
    (void)c;
    int flag = 0;
    /* any MPI call drives the progress engine; Iprobe is the cheapest */
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
}

static int wait_req(const struct rp_comm *c, rp_comm_req *req, rp_error *err) {
    (void)c;
    if (!req) return RP_OK;
    int rc = MPI_Wait(&req->r, MPI_STATUS_IGNORE);
    free(req);
    return rc == MPI_SUCCESS ? RP_OK : fail(err, rc, "MPI_Wait");
}

static int bcast(const struct rp_comm *c, void *buf, size_t bytes, int root, rp_error *err) {
    (void)c;
    for (size_t o = 0; o < bytes; o += CHUNK) {
        int k = (int)(bytes - o < CHUNK ? bytes - o : CHUNK);
        int rc = MPI_Bcast((char *)buf + o, k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Bcast");
    }
    return RP_OK;
}

/* A rank that finished its cells may wait here for hours: poll every
 * millisecond instead of MPI_Barrier's busy loop, which would take a core
 * from the ranks still working. */
static int barrier(const struct rp_comm *c, rp_error *err) {
    (void)c;
    MPI_Request r;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &r);
    if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Ibarrier");
    for (int done = 0; !done;) {
        rc = MPI_Test(&r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Test (barrier)");
        if (!done) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return RP_OK;
}

static int next_ticket(const struct rp_comm *c, int64_t *ticket, rp_error *err) {
    (void)c;
    const int64_t one = 1;
    int rc = MPI_Fetch_and_op(&one, ticket, MPI_INT64_T, 0, 0, MPI_SUM, g_st.win);
    if (rc == MPI_SUCCESS) rc = MPI_Win_flush(0, g_st.win);
    return rc == MPI_SUCCESS ? RP_OK : fail(err, rc, "MPI_Fetch_and_op (work queue)");
}

static void do_abort(const struct rp_comm *c, int code) {
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
}

RP_EXPORT int rp_comm_mpi_open(const struct rp_comm **out, rp_error *err);
RP_EXPORT void rp_comm_mpi_close(void);

int rp_comm_mpi_open(const struct rp_comm **out, rp_error *err) {
    *out = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Init_thread");
        g_st.we_init = 1;
    }
    /* errors come back as codes (turned into rp_error), not as an abort */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Aint wsize = rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    int rc = MPI_Win_allocate(wsize, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &g_st.counter,
                              &g_st.win);
    if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Win_allocate (work queue)");
    if (rank == 0) *g_st.counter = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_lock_all(0, g_st.win);
    g_st.win_open = 1;
    g_comm = (struct rp_comm){rank, size, &g_st, allreduce_f32, allreduce_f64, iallreduce_f32,
                              poll_progress, wait_req, bcast, barrier, next_ticket, do_abort};
    *out = &g_comm;
    return RP_OK;
}

void rp_comm_mpi_close(void) {
    if (g_st.win_open) {
        MPI_Win_unlock_all(g_st.win);
        MPI_Win_free(&g_st.win);
        g_st.win_open = 0;
    }
    int fin = 0;
    MPI_Finalized(&fin);
    if (g_st.we_init && !fin) MPI_Finalize();
}
