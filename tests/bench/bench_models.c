/* Model benchmark for `make bench`: training (forward + softmax cross-entropy
 * + backward + optimizer step) and inference throughput in images/second on
 * synthetic data, and the process' peak RSS.
 *
 *   bench_models MODEL [threads]
 * MODEL: mnist_cnn | cifar_cnn | resnet20 | resnet18 | resnet18_frozen
 * Prints one line:
 *   model MODEL train IMG/S infer IMG/S rss_mb MB
 * or "model MODEL unavailable: REASON" when the architecture or optimizer is
 * not registered. Each figure is the median of several timed runs after
 * warm-up steps. tests/bench/torch_ref.py --models prints the same line for
 * the identical PyTorch model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "host/registry.h"
#include "runpipe/runpipe.h"

/* Optimizers may be absent from an older library: resolve weakly. */
#pragma weak rp_optimizer_new
#pragma weak rp_optimizer_step
#pragma weak rp_optimizer_free

typedef struct {
    const char *name, *arch, *opts, *optim;
    int batch, c, hw;
    const char *freeze[5]; /* parameter-name prefixes frozen (torchvision names) */
    int steps, runs;       /* steps per timed run, timed runs */
} model_spec;

/* Keep in sync with MODELS in torch_ref.py. */
static const model_spec SPECS[] = {
    {"mnist_cnn", "mnist_cnn", "{classes: 10}", "{adam: {lr: 0.001}}", 128, 1, 28, {0}, 4, 3},
    {"cifar_cnn", "cifar_cnn", "{classes: 10}", "{rmsprop: {lr: 0.0001}}", 128, 3, 32, {0}, 3, 3},
    {"resnet20",
     "resnet20",
     "{classes: 10}",
     "{sgd: {lr: 0.1, momentum: 0.9, weight_decay: 0.0001}}",
     128,
     3,
     32,
     {0},
     2,
     3},
    {"resnet18",
     "resnet18",
     "{classes: 1000}",
     "{adamw: {lr: 0.001, weight_decay: 0.01}}",
     32,
     3,
     224,
     {0},
     1,
     3},
    {"resnet18_frozen",
     "resnet18",
     "{classes: 1000}",
     "{adamw: {lr: 0.001, weight_decay: 0.01}}",
     32,
     3,
     224,
     {"conv1.", "bn1.", "layer1.", "layer2.", "layer3."},
     1,
     3},
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int unavailable(const char *name, const char *why, const rp_error *err) {
    printf("model %s unavailable: %s%s%s\n", name, why, err ? ": " : "", err ? err->msg : "");
    return 0;
}

/* mean softmax cross-entropy over [N, K] logits; dlogits = (softmax - onehot)/N */
static double cross_entropy(const rp_tensor *logits, const int32_t *target, rp_tensor *dlogits) {
    int64_t n = logits->shape[0], k = (int64_t)(logits->numel / (size_t)n);
    rp_softmax_rows(logits->data, dlogits->data, n, k);
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float *d = dlogits->data + i * k;
        loss -= log((double)d[target[i]] + 1e-30);
        d[target[i]] -= 1.0f;
        for (int64_t j = 0; j < k; j++)
            d[j] /= (float)n;
    }
    return loss / (double)n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_models MODEL [threads]\n");
        return 2;
    }
    const model_spec *s = NULL;
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        if (!strcmp(SPECS[i].name, argv[1])) s = &SPECS[i];
    if (!s) {
        fprintf(stderr, "bench_models: unknown model '%s'\n", argv[1]);
        return 2;
    }
    rp_set_threads(argc > 2 ? atoi(argv[2]) : 2);
    rp_plugins_load_all(); /* schemas, and components living in plugins */
    rp_error err = {0};
    rp_node *opts = NULL, *ospec = NULL;
    rp_model *m = NULL;
    rp_optimizer *opt = NULL;
    if (rp_node_parse_string(s->opts, "bench", &opts, &err) ||
        rp_node_parse_string(s->optim, "bench", &ospec, &err))
        return unavailable(s->name, "bad spec", &err);
    if (rp_model_build(s->arch, opts, &m, &err)) return unavailable(s->name, "model", &err);
    for (int i = 0; i < 5 && s->freeze[i]; i++) {
        size_t cnt = 0;
        if (rp_model_freeze(m, s->freeze[i], &cnt, &err))
            return unavailable(s->name, "freeze", &err);
    }
    if (!rp_optimizer_new) return unavailable(s->name, "no optimizers in librunpipe", NULL);
    if (rp_optimizer_new(ospec, m, &opt, &err)) return unavailable(s->name, "optimizer", &err);

    rp_tensor *x = NULL, *dl = NULL;
    if (rp_tensor_new4(&x, s->batch, s->c, s->hw, s->hw, &err))
        return unavailable(s->name, "input", &err);
    rp_rng rng;
    rp_rng_init(&rng, 1, 2, 3, 4);
    for (size_t i = 0; i < x->numel; i++)
        x->data[i] = (float)rp_rng_normal(&rng);
    int32_t *target = malloc(sizeof(int32_t) * (size_t)s->batch);
    if (!target) return unavailable(s->name, "out of memory", NULL);
    int classes = rp_model_num_classes(m);
    for (int i = 0; i < s->batch; i++)
        target[i] = (int32_t)(rp_rng_u32(&rng) % (uint32_t)classes);

    double train[16], infer[16];
    /* training: warm-up then timed runs */
    rp_model_set_training(m, 1);
    /* RP_BENCH_INFER_ONLY=1 skips the training runs (for profiling inference) */
    const char *io = getenv("RP_BENCH_INFER_ONLY");
    for (int run = io && *io == '1' ? s->runs : -1; run < s->runs; run++) {
        double t0 = now();
        int steps = run < 0 ? 1 : s->steps;
        for (int it = 0; it < steps; it++) {
            const rp_tensor *y;
            rp_model_zero_grad(m);
            if (rp_model_forward(m, x, &y, &err)) return unavailable(s->name, "forward", &err);
            if (!dl && rp_tensor_new(&dl, y->ndim, y->shape, &err))
                return unavailable(s->name, "logits", &err);
            double loss = cross_entropy(y, target, dl);
            if (!isfinite(loss)) return unavailable(s->name, "non-finite loss", NULL);
            if (rp_model_backward(m, dl, &err)) return unavailable(s->name, "backward", &err);
            if (rp_optimizer_step(opt, &err)) return unavailable(s->name, "step", &err);
        }
        if (run >= 0) train[run] = (double)(steps * s->batch) / (now() - t0);
    }
    /* inference */
    rp_model_set_training(m, 0);
    /* RP_BENCH_INFER_STEPS=K times more inference steps per run (profiling) */
    const char *ks = getenv("RP_BENCH_INFER_STEPS");
    int kmul = ks && atoi(ks) > 0 ? atoi(ks) : 1;
    for (int run = -1; run < s->runs; run++) {
        double t0 = now();
        int steps = run < 0 ? 1 : 2 * s->steps * kmul;
        for (int it = 0; it < steps; it++) {
            const rp_tensor *y;
            if (rp_model_forward(m, x, &y, &err)) return unavailable(s->name, "forward", &err);
        }
        if (run >= 0) infer[run] = (double)(steps * s->batch) / (now() - t0);
    }
    if (io && *io == '1')
        for (int r = 0; r < s->runs; r++) train[r] = 0.0;
    qsort(train, (size_t)s->runs, sizeof(double), cmpd);
    qsort(infer, (size_t)s->runs, sizeof(double), cmpd);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("model %s train %.1f infer %.1f rss_mb %.1f\n", s->name, train[s->runs / 2],
           infer[s->runs / 2], (double)ru.ru_maxrss / 1024.0);
    rp_tensor_free(x);
    rp_tensor_free(dl);
    free(target);
    rp_optimizer_free(opt);
    rp_model_free(m);
    rp_node_free(opts);
    rp_node_free(ospec);
    return 0;
}
