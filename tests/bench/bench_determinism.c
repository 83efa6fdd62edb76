/* What thread-count independence costs, for `make bench`: training steps
 * (forward + softmax cross-entropy + backward + optimizer) with the
 * reductions in chunks fixed by the shapes (the default: the same weights on
 * any thread count) against the splits by thread count that preceded it
 * (rp_conv_force_thread_split: the weight gradient's batch in 4 groups per
 * thread, the linear layers' backward GEMMs in one row block per thread).
 * Both modes run in one process, alternating in ABBA order so that drift in
 * the machine's load falls on both; wall time and process CPU time.
 *
 *   bench_determinism [threads (OMP_NUM_THREADS, else 2)] [rounds (8)] [model ...]
 * One line per model:
 *   determinism MODEL batch N fixed IMG/S split IMG/S ratio R best R cpu C
 * fixed / split: median throughput of each mode; ratio = fixed / split of
 * the medians, best = of the fastest rounds (the least disturbed on a busy
 * machine), cpu = split / fixed of the smallest CPU times (1.00 = free). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/registry.h"
#include "nn/conv/conv.h"
#include "runpipe/runpipe.h"

typedef struct {
    const char *name, *arch, *opts,
        *optim; /* arch "layers": opts is a layer list over [c, hw, hw] */
    int batch, steps, c, hw;
} spec;

static const spec SPECS[] = {
    {"mnist_cnn", "mnist_cnn", "{classes: 10}", "{adam: {lr: 0.001}}", 128, 4, 0, 0},
    {"cifar_cnn", "cifar_cnn", "{classes: 10}", "{rmsprop: {lr: 0.0001}}", 128, 3, 0, 0},
    {"resnet20", "resnet20", "{classes: 10}",
     "{sgd: {lr: 0.1, momentum: 0.9, weight_decay: 0.0001}}", 128, 2, 0, 0},
    {"unet", "unet", "{size: 64, depth: 3, base: 16}", "{adam: {lr: 0.001}}", 16, 2, 0, 0},
    {"resnet18", "resnet18", "{classes: 1000}", "{adamw: {lr: 0.001, weight_decay: 0.01}}", 32, 1,
     0, 0},
    /* the MNIST CNN's head alone: its backward GEMMs are the linear change */
    {"mnist_fc", "layers", "[flatten, {linear: {out: 10}}]", "{adam: {lr: 0.001}}", 128, 40, 64,
     11},
};

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *name, const char *what, const rp_error *err) {
    printf("determinism %s unavailable: %s%s%s\n", name, what, err ? ": " : "",
           err ? err->msg : "");
    return 1;
}

/* `steps` training steps; dl is (re)used for d(loss)/d(output). */
static int steps_run(rp_model *m, rp_optimizer *o, const rp_tensor *x, const int32_t *t,
                     rp_tensor **dl, int steps, rp_error *err) {
    for (int s = 0; s < steps; s++) {
        const rp_tensor *y;
        rp_model_zero_grad(m);
        if (rp_model_forward(m, x, &y, err)) return 1;
        if (!*dl && rp_tensor_new(dl, y->ndim, y->shape, err)) return 1;
        if (y->ndim == 2) { /* softmax cross-entropy */
            const int64_t n = y->shape[0], k = y->shape[1];
            rp_softmax_rows(y->data, (*dl)->data, n, k);
            for (int64_t i = 0; i < n; i++) {
                (*dl)->data[i * k + t[i]] -= 1.0f;
                for (int64_t j = 0; j < k; j++)
                    (*dl)->data[i * k + j] /= (float)n;
            }
        } else { /* per-pixel outputs: squared error against +-1 */
            for (size_t i = 0; i < (*dl)->numel; i++)
                (*dl)->data[i] = (y->data[i] - (i % 3 ? 1.0f : -1.0f)) / (float)(*dl)->numel;
        }
        if (rp_model_backward(m, *dl, err) || rp_optimizer_step(o, err)) return 1;
    }
    return 0;
}

static int bench(const spec *s, int rounds) {
    rp_error err = {0};
    rp_node *opts = NULL, *ospec = NULL;
    rp_model *m = NULL;
    rp_optimizer *o = NULL;
    if (rp_node_parse_string(s->opts, "bench", &opts, &err) ||
        rp_node_parse_string(s->optim, "bench", &ospec, &err))
        return fail(s->name, "spec", &err);
    if (!strcmp(s->arch, "layers") ? rp_model_from_layers(opts, s->c, s->hw, s->hw, &m, &err)
                                   : rp_model_build(s->arch, opts, &m, &err))
        return fail(s->name, "model", &err);
    if (rp_model_init_params(m, 1, &err)) return fail(s->name, "init", &err);
    if (rp_optimizer_new(ospec, m, &o, &err)) return fail(s->name, "optimizer", &err);
    int c, h, w;
    rp_model_input_shape(m, &c, &h, &w);
    rp_tensor *x = NULL, *dl = NULL;
    if (rp_tensor_new4(&x, s->batch, c, h, w, &err)) return fail(s->name, "input", &err);
    rp_rng rng;
    rp_rng_init(&rng, 1, 2, 3, 4);
    for (size_t i = 0; i < x->numel; i++)
        x->data[i] = (float)rp_rng_normal(&rng);
    int32_t *t = malloc(sizeof(int32_t) * (size_t)s->batch);
    if (!t) return fail(s->name, "out of memory", NULL);
    for (int i = 0; i < s->batch; i++)
        t[i] = (int32_t)(rp_rng_u32(&rng) % 10u);
    double wall[2][64], cpu[2][64];
    if (rounds > 64) rounds = 64;
    /* warm-up: workspaces and optimizer state in both modes */
    for (int mode = 1; mode >= 0; mode--) {
        rp_conv_force_thread_split(mode);
        if (steps_run(m, o, x, t, &dl, 1, &err)) return fail(s->name, "step", &err);
    }
    const char *only = getenv("RP_BENCH_DET_MODE");
    const int one = only && !strcmp(only, "fixed") ? 0 : only && !strcmp(only, "split") ? 1 : -1;
    for (int r = 0; r < rounds; r++)
        for (int q = 0; q < 2; q++) {
            const int mode = one >= 0 ? one : (r + q) % 2; /* ABBA... */
            rp_conv_force_thread_split(mode);
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if (steps_run(m, o, x, t, &dl, s->steps, &err)) return fail(s->name, "step", &err);
            wall[mode][r] = clock_s(CLOCK_MONOTONIC) - w0;
            cpu[mode][r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
    rp_conv_force_thread_split(0);
    const double imgs = (double)s->steps * s->batch;
    if (one >= 0) { /* (each round ran the mode twice) */
        qsort(wall[one], (size_t)rounds, sizeof(double), cmpd);
        printf("determinism %-10s batch %3d %s %8.1f img/s\n", s->name, s->batch, only,
               imgs / wall[one][rounds / 2]);
        rounds = 0;
    }
    for (int mode = 0; mode < 2 && rounds; mode++) {
        qsort(wall[mode], (size_t)rounds, sizeof(double), cmpd);
        qsort(cpu[mode], (size_t)rounds, sizeof(double), cmpd);
    }
    if (rounds) {
        const double fixed = imgs / wall[0][rounds / 2], split = imgs / wall[1][rounds / 2];
        printf("determinism %-10s batch %3d fixed %8.1f split %8.1f img/s  ratio %.3f  best %.3f  "
               "cpu %.3f\n",
               s->name, s->batch, fixed, split, fixed / split, wall[1][0] / wall[0][0],
               cpu[1][0] / cpu[0][0]);
    }
    fflush(stdout);
    free(t);
    rp_tensor_free(x);
    rp_tensor_free(dl);
    rp_optimizer_free(o);
    rp_model_free(m);
    rp_node_free(opts);
    rp_node_free(ospec);
    return 0;
}

int main(int argc, char **argv) {
    /* (run without arguments by tests/bench/run.sh, which exports OMP_NUM_THREADS) */
    const char *env_t = getenv("OMP_NUM_THREADS");
    int threads = argc > 1 ? atoi(argv[1])
                  : env_t  ? atoi(env_t)
                           : 2,
        rounds = argc > 2 ? atoi(argv[2]) : 8;
    if (threads < 1) threads = 2;
    if (rounds < 1) rounds = 8;
    rp_set_threads(threads);
    rp_plugins_load_all();
    printf("(%d threads, %d rounds of each mode alternating; fixed = thread-count independent, "
           "split = by "
           "thread count)\n",
           threads, rounds);
    int rc = 0;
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++) {
        int want = argc <= 3;
        for (int a = 3; a < argc; a++)
            want |= !strcmp(argv[a], SPECS[i].name);
        if (want) rc |= bench(&SPECS[i], rounds);
    }
    return rc;
}
