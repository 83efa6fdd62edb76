/* Model benchmark for `make bench`: training (forward + softmax cross-entropy
 * + backward + optimizer step) and inference throughput in images/second on
 * synthetic data, and the process' peak RSS.
 *
 *   bench_models MODEL [threads]
 *   bench_models peak [threads]
 * MODEL: mnist_cnn | cifar_cnn | resnet20 | resnet18 | resnet18_frozen
 * Prints one line:
 *   model MODEL train IMG/S infer IMG/S rss_mb MB train_gflop F infer_gflop F
 *         peak_gflops P train_share S infer_share S
 * or "model MODEL unavailable: REASON" when the architecture or optimizer is
 * not registered. Each figure is the median of several timed runs after
 * warm-up steps. tests/bench/torch_ref.py --models prints the first part of
 * the line (up to rss_mb) for the identical PyTorch model.
 * train_gflop / infer_gflop: analytic GFLOP per image of the convolution and
 * linear layers (2 * MACs): the forward, plus in training the weight gradient
 * of each trainable weight and the input gradient of each layer whose input
 * needs one (none for the first layer, none below frozen layers), as the
 * backward computes them. peak_gflops: the machine's FMA peak measured with
 * `threads` threads (RP_BENCH_PEAK=P takes P instead, so run.sh measures it
 * once); the shares are img/s * GFLOP/img over it. "peak" prints only
 * "peak_gflops P". Training uses Winograd convolutions where the train stage
 * does (its default; RP_BENCH_WINOGRAD=0 for the direct form only). */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
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

/* RP_BENCH_CPUTIME=1: img/s over the process' CPU time instead of wall time
 * (with 1 thread, a work figure that a loaded machine disturbs less; the
 * FMA peak stays wall time) */
static clockid_t clk = CLOCK_MONOTONIC;

static double now_clk(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void) {
    return now_clk(clk);
}

static double now_wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* FMA peak: every thread runs independent register-only FMA chains (zmm
 * with AVX-512, else ymm), enough of them to cover the FMA latency on two
 * ports; flops = 2 * lanes per FMA. Best of 5 runs of ~0.04 s
 * after a warm-up run. */
#define PEAK_CHAINS 12
static double fma_peak_gflops(int threads) {
#if defined(__AVX512F__)
    typedef __m512 vec;
#define VFMA _mm512_fmadd_ps
#define VSET _mm512_set1_ps
#define VADD _mm512_add_ps
#define VSUM(v) _mm512_reduce_add_ps(v)
    const int lanes = 16;
#elif defined(__FMA__)
    typedef __m256 vec;
#define VFMA _mm256_fmadd_ps
#define VSET _mm256_set1_ps
#define VADD _mm256_add_ps
#define VSUM(v) (v)[0]
    const int lanes = 8;
#else
    (void)threads;
    return 0.0;
#endif
#if defined(__AVX512F__) || defined(__FMA__)
    const long iters = 10000000;
    double best = 0.0;
    volatile float sink = 0.0f;
    for (int run = -1; run < 5; run++) { /* run -1: warm-up (thread start) */
        double t0 = now_wall();
#pragma omp parallel num_threads(threads)
        {
            /* named variables, not an array: the asm barrier keeps them in
             * registers and stops the compiler from folding the chains */
            const vec a = VSET(0.999999f), b = VSET(1e-7f);
            const float t = (float)omp_get_thread_num();
            vec c0 = VSET(t), c1 = VSET(t + 1), c2 = VSET(t + 2), c3 = VSET(t + 3);
            vec c4 = VSET(t + 4), c5 = VSET(t + 5), c6 = VSET(t + 6), c7 = VSET(t + 7);
            vec c8 = VSET(t + 8), c9 = VSET(t + 9), c10 = VSET(t + 10), c11 = VSET(t + 11);
            for (long it = 0; it < iters; it++) {
                c0 = VFMA(c0, a, b), c1 = VFMA(c1, a, b), c2 = VFMA(c2, a, b);
                c3 = VFMA(c3, a, b), c4 = VFMA(c4, a, b), c5 = VFMA(c5, a, b);
                c6 = VFMA(c6, a, b), c7 = VFMA(c7, a, b), c8 = VFMA(c8, a, b);
                c9 = VFMA(c9, a, b), c10 = VFMA(c10, a, b), c11 = VFMA(c11, a, b);
                __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5),
                                 "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
            }
            vec s = VADD(VADD(VADD(c0, c1), VADD(c2, c3)), VADD(VADD(c4, c5), VADD(c6, c7)));
            s = VADD(s, VADD(VADD(c8, c9), VADD(c10, c11)));
#pragma omp critical
            sink += VSUM(s);
        }
        double dt = now_wall() - t0;
        if (run < 0) continue;
        double gf = 2.0 * lanes * PEAK_CHAINS * (double)iters * threads / dt * 1e-9;
        if (gf > best) best = gf;
    }
    (void)sink;
    return best;
#endif
}

static int has_trainable(rp_model *m, const char *node) {
    size_t len = strlen(node);
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(m, i);
        if (p->trainable && !strncmp(p->name, node, len) && p->name[len] == '.') return 1;
    }
    return 0;
}

/* Per-image output elements of the conv2d / linear nodes (0 for the
 * others), from a training forward of one image run before any freezing
 * (frozen nodes keep no output to read the shape from). */
static int node_numel(rp_model *m, int c, int hw, double *numel, rp_error *err) {
    rp_tensor *x = NULL;
    if (rp_tensor_new4(&x, 1, c, hw, hw, err)) return -1;
    memset(x->data, 0, x->numel * sizeof(float));
    const rp_tensor *y;
    rp_model_set_training(m, 1);
    int rc = rp_model_forward(m, x, &y, err);
    for (size_t i = 0; !rc && i < rp_model_num_nodes(m); i++) {
        const char *type = rp_model_node_type(m, i);
        numel[i] = 0.0;
        if (strcmp(type, "conv2d") && strcmp(type, "linear")) continue;
        const rp_tensor *o = rp_model_node_output(m, rp_model_node_name(m, i));
        if (!o) rc = -1;
        else numel[i] = (double)o->numel;
    }
    rp_tensor_free(x);
    return rc ? -1 : 0;
}

/* Analytic GFLOP per image (see the header): a conv2d or linear node with
 * weight [K, ...] and `numel` output elements per image does
 * 2 * numel * (weight numel / K) flops per pass; the backward computes the
 * input gradient where an input needs one (it or a node before it has
 * trainable parameters, as rp_model_backward decides) and the weight
 * gradient where the weight is trainable. */
static int model_gflop(rp_model *m, const double *numel, double *train, double *infer) {
    size_t nn = rp_model_num_nodes(m);
    char *wants = calloc(nn ? nn : 1, 1);
    if (!wants) return -1;
    double ft = 0.0, fi = 0.0;
    for (size_t i = 0; i < nn; i++) {
        const char *name = rp_model_node_name(m, i);
        int in[RP_MAX_LAYER_INPUTS];
        int nin = rp_model_node_inputs(m, i, in, RP_MAX_LAYER_INPUTS);
        int dx = 0; /* an input that needs a gradient */
        for (int j = 0; j < nin; j++)
            if (in[j] >= 0 && wants[in[j]]) dx = 1;
        wants[i] = (char)(dx || has_trainable(m, name));
        if (numel[i] <= 0.0) continue;
        char pn[256];
        snprintf(pn, sizeof pn, "%s.weight", name);
        const rp_param *w = rp_model_find_param(m, pn);
        if (!w) {
            free(wants);
            return -1;
        }
        double f = 2.0 * numel[i] * (double)w->value->numel / (double)w->value->shape[0];
        fi += f;
        ft += f * (1 + (w->trainable ? 1 : 0) + dx);
    }
    free(wants);
    *train = ft * 1e-9;
    *infer = fi * 1e-9;
    return 0;
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
        fprintf(stderr, "usage: bench_models MODEL|peak [threads]\n");
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (!strcmp(argv[1], "peak")) {
        printf("peak_gflops %.1f\n", fma_peak_gflops(threads));
        return 0;
    }
    const model_spec *s = NULL;
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        if (!strcmp(SPECS[i].name, argv[1])) s = &SPECS[i];
    if (!s) {
        fprintf(stderr, "bench_models: unknown model '%s'\n", argv[1]);
        return 2;
    }
    rp_set_threads(threads);
    const char *ct = getenv("RP_BENCH_CPUTIME");
    if (ct && *ct == '1') clk = CLOCK_PROCESS_CPUTIME_ID;
    rp_plugins_load_all(); /* schemas, and components living in plugins */
    rp_error err = {0};
    rp_node *opts = NULL, *ospec = NULL;
    rp_model *m = NULL;
    rp_optimizer *opt = NULL;
    if (rp_node_parse_string(s->opts, "bench", &opts, &err) ||
        rp_node_parse_string(s->optim, "bench", &ospec, &err))
        return unavailable(s->name, "bad spec", &err);
    if (rp_model_build(s->arch, opts, &m, &err)) return unavailable(s->name, "model", &err);
    /* as the train stage trains (its `winograd` default); RP_BENCH_WINOGRAD=0:
     * the direct convolutions only */
    const char *wg = getenv("RP_BENCH_WINOGRAD");
    rp_model_set_winograd(m, !(wg && !strcmp(wg, "0")));
    double *numel = calloc(rp_model_num_nodes(m) + 1, sizeof(double));
    if (!numel) return unavailable(s->name, "out of memory", NULL);
    const int have_gf = node_numel(m, s->c, s->hw, numel, &err) == 0;
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

    double train[16], infer[16], gf_train = 0.0, gf_infer = 0.0;
    if (have_gf && model_gflop(m, numel, &gf_train, &gf_infer)) gf_train = gf_infer = 0.0;
    free(numel);
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
    /* RP_BENCH_INFER_STEPS=K times more inference steps per run (profiling);
     * RP_BENCH_TRAIN_ONLY=1 skips the inference runs (for profiling training) */
    const char *ks = getenv("RP_BENCH_INFER_STEPS"), *to = getenv("RP_BENCH_TRAIN_ONLY");
    int kmul = ks && atoi(ks) > 0 ? atoi(ks) : 1;
    for (int run = to && *to == '1' ? s->runs : -1; run < s->runs; run++) {
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
    printf("model %s train %.1f infer %.1f rss_mb %.1f", s->name, train[s->runs / 2],
           infer[s->runs / 2], (double)ru.ru_maxrss / 1024.0);
    if (gf_train > 0.0) {
        const char *pe = getenv("RP_BENCH_PEAK");
        double peak = pe && atof(pe) > 0 ? atof(pe) : fma_peak_gflops(threads);
        printf(" train_gflop %.4f infer_gflop %.4f peak_gflops %.1f train_share %.3f infer_share "
               "%.3f",
               gf_train, gf_infer, peak, train[s->runs / 2] * gf_train / peak,
               infer[s->runs / 2] * gf_infer / peak);
    }
    printf("\n");
    rp_tensor_free(x);
    rp_tensor_free(dl);
    free(target);
    rp_optimizer_free(opt);
    rp_model_free(m);
    rp_node_free(opts);
    rp_node_free(ospec);
    return 0;
}
