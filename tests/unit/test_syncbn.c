/* Synchronised batch norm (rp_model_set_stat_sync) against one process.
 *
 * Two threads play two ranks: each holds a copy of the same model (conv ->
 * batchnorm2d -> tanh -> conv -> batchnorm2d -> pool -> linear) and half of
 * a batch of 8, split 3 + 5 (shards need not be equal: the last batch of an
 * epoch); their stat sync adds the two ranks' vectors through shared memory. Each rank's loss is the mean over its rows, as data-parallel
 * training has it. Then, against one model on the whole batch:
 *  - every rank's outputs equal the matching rows of the one-model output;
 *  - share x gradient (share = 3/8, 5/8), added over the ranks, equals the one-model gradient
 *    for every parameter (the convolution before the first batch norm gets
 *    its gradient through the synchronised backward);
 *  - both ranks' running statistics equal the one-model ones.
 * And without the sync the statistics are per half (outputs differ). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nn/graph.h"

#define N 8
#define C 2
#define HW 6
#define OUT 3

typedef struct shared_sum {
    pthread_barrier_t bar;
    double slot[2][64];
} shared_sum;

typedef struct rank_ctx {
    int rank;
    shared_sum *sh;
    rp_model *m;
    const rp_tensor *x;   /* the whole batch [N, C, HW, HW] */
    const float *w;       /* loss weights [N, OUT] */
    rp_stat_sync sync;
    int sync_on;
    float y[N * OUT];     /* this rank's outputs */
    int rc;
    rp_error err;
} rank_ctx;

static int thread_sum(void *ctx, double *v, size_t n, rp_error *err) {
    rank_ctx *r = ctx;
    if (n > 64) return rp_error_set(err, RP_ERR_INVALID, "test sum: %zu values", n);
    memcpy(r->sh->slot[r->rank], v, n * sizeof *v);
    pthread_barrier_wait(&r->sh->bar);
    for (size_t i = 0; i < n; i++) v[i] = r->sh->slot[0][i] + r->sh->slot[1][i];
    pthread_barrier_wait(&r->sh->bar); /* both read before the next call writes */
    return RP_OK;
}

static const char *g_act = "tanh"; /* the activation after the first batch norm */
static int g_fusion = 1;            /* the ranks' models fuse (fold relus) */

static rp_model *make_model(void) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(C, HW, HW, &m, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c1", "conv2d", NULL, 0, &err, "{out: 3, kernel: 3, padding: 1}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "bn1", "batchnorm2d", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "t1", g_act, NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c2", "conv2d", NULL, 0, &err, "{out: 4, kernel: 3}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "bn2", "batchnorm2d", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "pool", "avgpool2d", NULL, 0, &err, "{kernel: 2}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 3}"), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 7, &err), &err);
    rp_model_set_training(m, 1);
    return m;
}

/* forward + backward of loss = mean over the n rows of sum_k y[i,k] w[i,k] */
static int step(rp_model *m, const rp_tensor *x, const float *w, int64_t n, float *yout,
                rp_error *err) {
    const rp_tensor *y = NULL;
    rp_model_zero_grad(m);
    int rc = rp_model_forward(m, x, &y, err);
    if (rc) return rc;
    rp_tensor dy = {0};
    rc = rp_tensor_reshape_alloc(&dy, y->ndim, y->shape, err);
    if (rc) return rc;
    for (size_t i = 0; i < y->numel; i++) dy.data[i] = w[i] / (float)n;
    memcpy(yout, y->data, y->numel * sizeof(float));
    rc = rp_model_backward(m, &dy, err);
    rp_tensor_release(&dy);
    return rc;
}

/* rank 0: rows [0, 3), rank 1: rows [3, 8) */
#define LO(r) ((r) == 0 ? 0 : 3)
#define ROWS(r) ((r) == 0 ? 3 : 5)

static void *rank_main(void *arg) {
    rank_ctx *r = arg;
    rp_error_clear(&r->err);
    r->sync = (rp_stat_sync){thread_sum, r, (double)ROWS(r->rank) / N};
    if (r->sync_on) rp_model_set_stat_sync(r->m, &r->sync);
    rp_tensor xs = *r->x; /* this rank's rows: a view */
    size_t per = (size_t)(C * HW * HW);
    xs.owns = 0;
    xs.data = r->x->data + (size_t)LO(r->rank) * per;
    xs.shape[0] = ROWS(r->rank);
    xs.numel = per * (size_t)ROWS(r->rank);
    r->rc = step(r->m, &xs, r->w + LO(r->rank) * OUT, ROWS(r->rank), r->y, &r->err);
    rp_model_set_stat_sync(r->m, NULL);
    return NULL;
}

static void run_ranks(rp_model *one, const rp_tensor *x, const float *w, int sync_on,
                      rank_ctx rk[2]) {
    rp_error err;
    shared_sum sh;
    pthread_barrier_init(&sh.bar, NULL, 2);
    pthread_t th[2];
    for (int r = 0; r < 2; r++) {
        memset(&rk[r], 0, sizeof rk[r]);
        rk[r].rank = r;
        rk[r].sh = &sh;
        rk[r].x = x;
        rk[r].w = w;
        rk[r].sync_on = sync_on;
        RP_ASSERT_OK(rp_model_clone(one, &rk[r].m, &err), &err);
        rp_model_set_training(rk[r].m, 1);
        rp_model_set_fusion(rk[r].m, g_fusion);
    }
    for (int r = 0; r < 2; r++) assert_int_equal(pthread_create(&th[r], NULL, rank_main, &rk[r]), 0);
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&sh.bar);
    for (int r = 0; r < 2; r++)
        if (rk[r].rc) fail_msg("rank %d: %s", r, rk[r].err.msg);
}

static void inputs(rp_tensor *x, float *w) {
    rp_error err;
    int64_t shape[4] = {N, C, HW, HW};
    RP_ASSERT_OK(rp_tensor_reshape_alloc(x, 4, shape, &err), &err);
    rp_rng g;
    rp_rng_init(&g, 5, 1, 2, 3);
    /* channel offsets that differ between the halves: per-half statistics
     * are far from the whole batch's */
    for (size_t i = 0; i < x->numel; i++)
        x->data[i] = (float)rp_rng_range(&g, -1, 1) + (i >= x->numel / 2 ? 1.5f : 0.0f);
    for (int i = 0; i < N * OUT; i++) w[i] = (float)rp_rng_range(&g, -1, 1);
}

static void test_sync_matches_one_batch(void **state) {
    (void)state;
    rp_error err;
    rp_tensor x = {0};
    float w[N * OUT], y1[N * OUT];
    inputs(&x, w);
    rp_model *one = make_model();
    rp_model *ref = NULL;
    RP_ASSERT_OK(rp_model_clone(one, &ref, &err), &err);
    rp_model_set_training(ref, 1);
    RP_ASSERT_OK(step(ref, &x, w, N, y1, &err), &err);
    rank_ctx rk[2];
    run_ranks(one, &x, w, 1, rk);
    for (int r = 0; r < 2; r++)
        rp_test_close(rk[r].y, y1 + LO(r) * OUT, (size_t)ROWS(r) * OUT, 1e-4, 1e-5, "outputs");
    size_t np = rp_model_num_params(ref);
    for (size_t i = 0; i < np; i++) {
        rp_param *p = rp_model_param(ref, i);
        rp_param *a = rp_model_param(rk[0].m, i), *b = rp_model_param(rk[1].m, i);
        if (p->grad) {
            float *sum = malloc(p->grad->numel * sizeof *sum);
            assert_non_null(sum);
            for (size_t k = 0; k < p->grad->numel; k++)
                sum[k] = (float)ROWS(0) / N * a->grad->data[k] +
                         (float)ROWS(1) / N * b->grad->data[k];
            rp_test_close(sum, p->grad->data, p->grad->numel, 1e-3, 1e-5, p->name);
            free(sum);
        } else if (strstr(p->name, "running_")) {
            rp_test_close(a->value->data, p->value->data, p->value->numel, 1e-5, 1e-6, p->name);
            rp_test_close(b->value->data, p->value->data, p->value->numel, 1e-5, 1e-6, p->name);
        }
    }
    for (int r = 0; r < 2; r++) rp_model_free(rk[r].m);
    /* per-rank statistics (no sync): the halves' outputs are not the batch's */
    run_ranks(one, &x, w, 0, rk);
    double dmax = 0;
    for (int k = 0; k < ROWS(0) * OUT; k++)
        dmax = fmax(dmax, fabs(rk[0].y[k] - y1[k]));
    assert_true(dmax > 1e-2);
    for (int r = 0; r < 2; r++) rp_model_free(rk[r].m);
    rp_model_free(ref);
    rp_model_free(one);
    rp_tensor_release(&x);
}

/* With relu after the first batch norm, folded into it (forward and the
 * synchronised backward): the ranks' outputs, gradients and running
 * statistics are bit-identical to the ranks' without folding, and match the
 * one-model batch as above. */
static void test_sync_relu_folded(void **state) {
    g_act = "relu";
    test_sync_matches_one_batch(state);
    rp_tensor x = {0};
    float w[N * OUT];
    inputs(&x, w);
    rp_model *one = make_model();
    rank_ctx a[2], b[2];
    run_ranks(one, &x, w, 1, a);
    for (int r = 0; r < 2; r++) assert_int_equal(rp_model_fused_chains(a[r].m), 1);
    g_fusion = 0;
    run_ranks(one, &x, w, 1, b);
    g_fusion = 1;
    g_act = "tanh";
    for (int r = 0; r < 2; r++) {
        assert_int_equal(rp_model_fused_chains(b[r].m), 0);
        assert_memory_equal(a[r].y, b[r].y, sizeof a[r].y);
        for (size_t i = 0; i < rp_model_num_params(one); i++) {
            const rp_param *p = rp_model_param(a[r].m, i), *q = rp_model_param(b[r].m, i);
            if (memcmp(p->value->data, q->value->data, p->value->numel * sizeof(float)) ||
                (p->grad && memcmp(p->grad->data, q->grad->data, p->grad->numel * sizeof(float))))
                fail_msg("rank %d: %s differs with the relu folded", r, p->name);
        }
        rp_model_free(a[r].m);
        rp_model_free(b[r].m);
    }
    rp_model_free(one);
    rp_tensor_release(&x);
}

int main(void) {
    rp_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_matches_one_batch),
        cmocka_unit_test(test_sync_relu_folded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
