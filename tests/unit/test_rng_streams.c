/* How runpipe's random streams are consumed, statistically: the quick start's
 * accuracy rests on them being as independent as PyTorch's global generator.
 *  - initial weights (engine/nn/init.c): each tensor of the MNIST CNN is
 *    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (Kolmogorov-Smirnov), uncorrelated with
 *    the model's other tensors and with the same tensor under other seeds;
 *  - batch order (engine/data/loader.c): per epoch a uniform permutation,
 *    unrelated to the identity, to other epochs and to other seeds (rank
 *    correlation, pairs of samples that share a batch again);
 *  - dropout masks (engine/nn/layers/dropout.c): rate p, kept values scaled by
 *    1/(1-p) as torch.nn.Dropout, identity in eval, and masks independent
 *    across steps, across the samples of a batch and across layers.
 * Thresholds are |z| < 5 (or the KS statistic's 0.1 % point): the draws are
 * fixed, so the test is deterministic; a correlated stream gives z in the
 * tens or hundreds (two epochs with the same order: z = 245). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

#define ZMAX 5.0

static double corr(const float *a, const float *b, size_t n) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (size_t i = 0; i < n; i++) {
        sa += a[i], sb += b[i];
        saa += (double)a[i] * a[i], sbb += (double)b[i] * b[i], sab += (double)a[i] * b[i];
    }
    double ca = saa - sa * sa / (double)n, cb = sbb - sb * sb / (double)n;
    return (sab - sa * sb / (double)n) / sqrt(ca * cb);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- initial weights ------------------------------------------------------------ */

#define SEEDS 10
static const char *const PNAMES[6] = {"conv1.weight", "conv1.bias", "conv2.weight",
                                      "conv2.bias",   "fc.weight",  "fc.bias"};
static const double FAN_IN[6] = {9, 9, 288, 288, 7744, 7744};

static rp_model *mnist_cnn(uint64_t seed) {
    rp_error err;
    rp_node *spec, *opts;
    RP_ASSERT_OK(rp_node_parse_string("{classes: 10}", "<m>", &spec, &err), &err);
    RP_ASSERT_OK(rp_component_params(RP_COMP_ARCH, "mnist_cnn", spec, &opts, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_build("mnist_cnn", opts, &m, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(m, seed, &err), &err);
    rp_node_free(opts);
    rp_node_free(spec);
    return m;
}

static void test_init_uniform_and_independent(void **state) {
    (void)state;
    rp_model *m[SEEDS];
    for (int s = 0; s < SEEDS; s++) m[s] = mnist_cnn((uint64_t)s + 1);
    for (int k = 0; k < 6; k++) {
        const rp_tensor *t0 = rp_model_find_param(m[0], PNAMES[k])->value;
        size_t n = t0->numel, all = n * SEEDS;
        double bound = 1.0 / sqrt(FAN_IN[k]);
        /* KS against U(-bound, bound), pooled over the seeds */
        double *v = malloc(all * sizeof *v);
        assert_non_null(v);
        for (int s = 0; s < SEEDS; s++) {
            const rp_tensor *t = rp_model_find_param(m[s], PNAMES[k])->value;
            for (size_t i = 0; i < n; i++) {
                assert_true(fabs(t->data[i]) <= bound);
                v[s * n + i] = (t->data[i] / bound + 1) / 2;
            }
        }
        qsort(v, all, sizeof *v, cmp_double);
        double d = 0;
        for (size_t i = 0; i < all; i++) {
            double lo = v[i] - (double)i / (double)all, hi = (double)(i + 1) / (double)all - v[i];
            if (lo > d) d = lo;
            if (hi > d) d = hi;
        }
        free(v);
        if (d * sqrt((double)all) > 1.95) /* KS 0.1 % point */
            fail_msg("%s: not U(+-1/sqrt(%g)): KS D = %.4f over %zu values", PNAMES[k], FAN_IN[k], d, all);
        /* the same tensor under two seeds (consecutive seeds included) */
        if (n >= 32)
            for (int s = 0; s < SEEDS; s++)
                for (int u = s + 1; u < SEEDS; u++) {
                    double z = corr(rp_model_find_param(m[s], PNAMES[k])->value->data,
                                    rp_model_find_param(m[u], PNAMES[k])->value->data, n) * sqrt((double)n);
                    if (fabs(z) > ZMAX) fail_msg("%s: seeds %d and %d correlated (z = %.1f)", PNAMES[k], s + 1, u + 1, z);
                }
    }
    /* two tensors of one model, element by element (layers keyed by name) */
    for (int s = 0; s < SEEDS; s++)
        for (int a = 0; a < 6; a++)
            for (int b = a + 1; b < 6; b++) {
                const rp_tensor *x = rp_model_find_param(m[s], PNAMES[a])->value;
                const rp_tensor *y = rp_model_find_param(m[s], PNAMES[b])->value;
                size_t n = x->numel < y->numel ? x->numel : y->numel;
                if (n < 32) continue;
                double z = corr(x->data, y->data, n) * sqrt((double)n);
                if (fabs(z) > ZMAX) fail_msg("seed %d: %s and %s correlated (z = %.1f)", s + 1, PNAMES[a], PNAMES[b], z);
            }
    /* the first rows of fc.weight: the init stream is cut in blocks; block
     * 0 and block 1 must not repeat each other */
    const rp_tensor *fc = rp_model_find_param(m[0], "fc.weight")->value;
    double z = corr(fc->data, fc->data + 65536, fc->numel - 65536) * sqrt((double)(fc->numel - 65536));
    if (fabs(z) > ZMAX) fail_msg("fc.weight: init blocks 0 and 1 correlated (z = %.1f)", z);
    for (int s = 0; s < SEEDS; s++) rp_model_free(m[s]);
}

/* ---- batch order ---------------------------------------------------------------- */

#define NSAMP 60000
#define BS 128

static int idx_get(const rp_dataset *ds, uint64_t i, const rp_draw *d, rp_sample *out, rp_error *err) {
    (void)ds, (void)d;
    int st = rp_sample_resize(out, 1, 1, 1, err);
    if (st) return st;
    out->img.data[0] = (float)i;
    out->label = (int32_t)(i % 10);
    return RP_OK;
}
static int32_t idx_label(const rp_dataset *ds, uint64_t i) {
    (void)ds;
    return (int32_t)(i % 10);
}
static const struct rp_dataset_ops idx_ops = {idx_get, idx_label, NULL, NULL};

/* pos[i] = position of sample i in the epoch, as the train stage's loader gives it */
static void epoch_positions(rp_dataset *ds, uint64_t seed, uint64_t epoch, float *pos) {
    rp_error err;
    struct rp_loader_opts o = {0};
    o.batch_size = BS, o.shuffle = 1, o.workers = 1, o.prefetch = 2, o.seed = seed;
    o.stream = rp_hash_str("fit") ^ rp_hash_str("loader");
    rp_loader *l;
    RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
    RP_ASSERT_OK(rp_loader_start(l, epoch, &err), &err);
    for (size_t i = 0; i < NSAMP; i++) pos[i] = -1;
    rp_batch *b;
    size_t t = 0;
    while (1) {
        RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
        if (!b) break;
        for (int64_t r = 0; r < b->n; r++) {
            assert_true(b->indices[r] < NSAMP && pos[b->indices[r]] < 0);
            pos[b->indices[r]] = (float)t++;
        }
    }
    assert_int_equal(t, NSAMP); /* the last partial batch (96) is kept */
    rp_loader_free(l);
}

/* Pairs of samples in one batch of epoch a that meet in one batch of epoch b,
 * as a z score against independent uniform permutations. */
static double co_batch_z(const float *pa, const float *pb) {
    static int32_t byb[NSAMP];
    static uint32_t cnt[NSAMP / BS + 1];
    int nb = (NSAMP + BS - 1) / BS;
    for (size_t i = 0; i < NSAMP; i++) byb[(size_t)pb[i]] = (int32_t)i; /* sample at position */
    double pairs = 0;
    for (int k = 0; k < nb; k++) {
        memset(cnt, 0, sizeof cnt);
        for (int r = k * BS; r < (k + 1) * BS && r < NSAMP; r++) cnt[(int)pa[byb[r]] / BS]++;
        for (int j = 0; j < nb; j++) pairs += cnt[j] * (cnt[j] - 1.0) / 2;
    }
    double last = NSAMP % BS ? NSAMP % BS : BS;
    double total = (nb - 1) * BS * (BS - 1.0) / 2 + last * (last - 1) / 2;
    double p = total / (NSAMP * (NSAMP - 1.0) / 2); /* a pair shares a batch */
    double mean = total * p;
    return (pairs - mean) / sqrt(mean); /* Poisson-like count */
}

static void test_batch_order_uniform_and_independent(void **state) {
    (void)state;
    rp_dataset *ds = rp_dataset_new(&idx_ops, NULL, "idx", NSAMP, 10, NULL);
    assert_non_null(ds);
    enum { S = 4, E = 3 };
    float *pos[S][E];
    float *ident = malloc(NSAMP * sizeof *ident);
    assert_non_null(ident);
    for (size_t i = 0; i < NSAMP; i++) ident[i] = (float)i;
    for (int s = 0; s < S; s++)
        for (int e = 0; e < E; e++) {
            pos[s][e] = malloc(NSAMP * sizeof(float));
            assert_non_null(pos[s][e]);
            epoch_positions(ds, (uint64_t)s + 1, (uint64_t)e, pos[s][e]);
            double z = corr(pos[s][e], ident, NSAMP) * sqrt((double)NSAMP);
            if (fabs(z) > ZMAX) fail_msg("seed %d epoch %d: order correlated with the identity (z = %.1f)", s + 1, e, z);
        }
    for (int s = 0; s < S; s++)
        for (int e = 0; e < E; e++)
            for (int u = s; u < S; u++)
                for (int f = 0; f < E; f++) {
                    if (u == s && f <= e) continue;
                    double z = corr(pos[s][e], pos[u][f], NSAMP) * sqrt((double)NSAMP);
                    if (fabs(z) > ZMAX)
                        fail_msg("orders of seed %d epoch %d and seed %d epoch %d correlated (z = %.1f)",
                                 s + 1, e, u + 1, f, z);
                    z = co_batch_z(pos[s][e], pos[u][f]);
                    if (fabs(z) > ZMAX)
                        fail_msg("seed %d epoch %d and seed %d epoch %d: batch-mates meet again "
                                 "unusually often (z = %.1f)", s + 1, e, u + 1, f, z);
                }
    /* the statistic sees a repeated order */
    assert_true(co_batch_z(pos[0][0], pos[0][0]) > 100);
    for (int s = 0; s < S; s++)
        for (int e = 0; e < E; e++) free(pos[s][e]);
    free(ident);
    rp_dataset_free(ds);
}

/* ---- dropout -------------------------------------------------------------------- */

#define DN 64  /* batch */
#define DC 4
#define DHW 16 /* DC * DHW * DHW = 1024 values per sample */

static rp_model *dropout_model(const char *name, double p) {
    rp_error err;
    char spec[128];
    snprintf(spec, sizeof spec, "- {dropout: {p: %g}, name: %s}\n", p, name);
    rp_node *layers;
    RP_ASSERT_OK(rp_node_parse_string(spec, "<layers>", &layers, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_from_layers(layers, DC, DHW, DHW, &m, &err), &err);
    rp_node_free(layers);
    return m;
}

/* Mask of one training forward of ones: out[i] in {0, 1/(1-p)}. */
static void dropout_mask(rp_model *m, rp_tensor *ones, uint64_t seed, uint64_t step, float *mask) {
    rp_error err;
    rp_model_set_training(m, 1);
    rp_model_set_step(m, seed, step);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, ones, &y, &err), &err);
    memcpy(mask, y->data, y->numel * sizeof(float));
}

static double agree_z(const float *a, const float *b, size_t n, double p) {
    double same = 0;
    for (size_t i = 0; i < n; i++) same += (a[i] == 0) == (b[i] == 0);
    double q = p * p + (1 - p) * (1 - p); /* independent masks agree this often */
    return (same - n * q) / sqrt(n * q * (1 - q));
}

static void test_dropout_masks(void **state) {
    (void)state;
    rp_error err;
    const double p = 0.3;
    size_t n = (size_t)DN * DC * DHW * DHW, row = (size_t)DC * DHW * DHW;
    rp_tensor *ones;
    RP_ASSERT_OK(rp_tensor_new4(&ones, DN, DC, DHW, DHW, &err), &err);
    for (size_t i = 0; i < n; i++) ones->data[i] = 1.0f;
    rp_model *a = dropout_model("drop1", p), *b = dropout_model("drop2", p);
    float *m0 = malloc(n * sizeof *m0), *m1 = malloc(n * sizeof *m1), *mb = malloc(n * sizeof *mb);
    assert_non_null(m0), assert_non_null(m1), assert_non_null(mb);
    dropout_mask(a, ones, 7, 0, m0);
    /* rate and scale (torch.nn.Dropout: zero with probability p, else x / (1 - p)) */
    double zeros = 0;
    for (size_t i = 0; i < n; i++) {
        if (m0[i] == 0) zeros++;
        else assert_float_equal(m0[i], 1.0 / (1 - p), 1e-6);
    }
    double z = (zeros - n * p) / sqrt(n * p * (1 - p));
    if (fabs(z) > ZMAX) fail_msg("dropout rate %.4f, expected %.2f (z = %.1f)", zeros / (double)n, p, z);
    /* consecutive steps, samples of one batch, two layers, two seeds */
    dropout_mask(a, ones, 7, 1, m1);
    z = agree_z(m0, m1, n, p);
    if (fabs(z) > ZMAX) fail_msg("dropout masks of steps 0 and 1 agree too often (z = %.1f)", z);
    for (int r = 1; r < DN; r++) {
        z = agree_z(m0, m0 + r * row, row, p);
        if (fabs(z) > ZMAX) fail_msg("dropout masks of samples 0 and %d agree (z = %.1f)", r, z);
    }
    z = agree_z(m0, m0 + row / 2, n - row / 2, p); /* no repeat inside a sample's mask */
    if (fabs(z) > ZMAX) fail_msg("dropout mask repeats within a sample (z = %.1f)", z);
    dropout_mask(b, ones, 7, 0, mb);
    z = agree_z(m0, mb, n, p);
    if (fabs(z) > ZMAX) fail_msg("two dropout layers share a mask (z = %.1f)", z);
    dropout_mask(a, ones, 8, 0, mb);
    z = agree_z(m0, mb, n, p);
    if (fabs(z) > ZMAX) fail_msg("dropout masks of seeds 7 and 8 agree (z = %.1f)", z);
    /* the statistic sees a repeated mask; the same step gives the same mask */
    assert_true(agree_z(m0, m0, n, p) > 100);
    dropout_mask(a, ones, 7, 0, mb);
    assert_memory_equal(m0, mb, n * sizeof *m0);
    /* eval: identity */
    rp_model_set_training(a, 0);
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(a, ones, &y, &err), &err);
    for (size_t i = 0; i < n; i++) assert_float_equal(y->data[i], 1.0f, 0);
    free(m0), free(m1), free(mb);
    rp_model_free(a);
    rp_model_free(b);
    rp_tensor_free(ones);
}

int main(void) {
    rp_set_threads(2);
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_uniform_and_independent),
        cmocka_unit_test(test_batch_order_uniform_and_independent),
        cmocka_unit_test(test_dropout_masks),
    };
    return cmocka_run_group_tests_name("rng_streams", tests, NULL, NULL);
}
