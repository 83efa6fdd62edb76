/* Gradient allreduce cost for `make bench`: for ResNet-20 (10 classes) and
 * ResNet-18 (1000 classes), the trainable parameter count of the model as
 * built, then the time of one in-place sum over the ranks of that many
 * floats through runpipe/comm.h (comm_mpi.so: MPI_Allreduce), in buckets of
 * 1 MiB as train's data-parallel mode sends them and as one message; median
 * of 7 after 2 warm-ups. The numbers behind the README's estimate of
 * data-parallel efficiency on N nodes (what one step must move).
 *
 * Started without an MPI launcher it runs itself under
 * `mpirun --allow-run-as-root --oversubscribe -n 2` (skipped without mpirun). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/registry.h"
#include "runpipe/comm.h"
#include "runpipe/runpipe.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t trainable_floats(const char *arch, const char *opts) {
    rp_error err;
    rp_error_clear(&err);
    rp_node *o = NULL;
    rp_model *m = NULL;
    if (rp_node_parse_string(opts, "bench", &o, &err) || rp_model_build(arch, o, &m, &err)) {
        fprintf(stderr, "bench_allreduce: %s: %s\n", arch, err.msg);
        rp_node_free(o);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        rp_param *p = rp_model_param(m, i);
        if (p->trainable && p->grad) n += p->grad->numel;
    }
    rp_model_free(m);
    rp_node_free(o);
    return n;
}

/* seconds of one reduction of n floats in pieces of `bucket` floats */
static double time_sum(const struct rp_comm *c, float *buf, size_t n, size_t bucket) {
    double t[9];
    rp_error err;
    rp_error_clear(&err);
    for (int r = 0; r < 9; r++) {
        c->barrier(c, &err);
        double t0 = rp_now();
        for (size_t o = 0; o < n; o += bucket)
            c->allreduce_sum_f32(c, buf + o, n - o < bucket ? n - o : bucket, &err);
        t[r] = rp_now() - t0;
        /* the slowest rank decides */
        double v = t[r];
        c->allreduce_sum_f64(c, &v, 1, &err);
        t[r] = v / c->size;
    }
    qsort(t + 2, 7, sizeof *t, cmp_d);
    return t[2 + 3];
}

int main(int argc, char **argv) {
    (void)argc;
    if (!rp_comm_launched()) {
        if (system("command -v mpirun >/dev/null 2>&1") != 0) {
            printf("bench_allreduce: skipped (no mpirun; make deps installs Open MPI)\n");
            return 0;
        }
        execlp("mpirun", "mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", argv[0],
               (char *)NULL);
        perror("bench_allreduce: mpirun");
        return 1;
    }
    const struct rp_comm *c = NULL;
    rp_error err;
    rp_error_clear(&err);
    if (rp_comm_init(&c, &err) != RP_OK || !c) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg[0] ? err.msg : "one rank only");
        return 1;
    }
    rp_plugins_load_all();
    static const char *const models[][2] = {{"resnet20", "{classes: 10}"},
                                            {"resnet18", "{classes: 1000}"}};
    if (c->rank == 0)
        printf("\n== gradient allreduce over %d ranks (comm_mpi.so; median of 7)\n"
               "%-9s %12s %10s | %14s %14s | %12s\n",
               c->size, "model", "floats", "MB", "1 MiB buckets", "one message", "GB/s (bus)");
    for (size_t k = 0; k < 2; k++) {
        size_t n = trainable_floats(models[k][0], models[k][1]);
        if (!n) return 1;
        float *buf = calloc(n, sizeof *buf);
        if (!buf) return 1;
        for (size_t i = 0; i < n; i++) buf[i] = 1e-3f * (float)(i % 97);
        double tb = time_sum(c, buf, n, (1u << 20) / sizeof(float));
        double t1 = time_sum(c, buf, n, n);
        /* ring allreduce moves 2 (K-1)/K of the data per rank */
        double bus = 2.0 * (c->size - 1) / c->size * (double)n * 4 / tb / 1e9;
        if (c->rank == 0)
            printf("%-9s %12zu %10.2f | %11.2f ms %11.2f ms | %12.2f\n", models[k][0], n,
                   (double)n * 4 / 1e6, tb * 1e3, t1 * 1e3, bus);
        free(buf);
    }
    rp_comm_finalize();
    return 0;
}
