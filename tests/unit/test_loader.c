/* Loader: batches are a pure function of (seed, stream, epoch) whatever the
 * number of workers; shuffle, drop_last, limit, balanced sampling; errors
 * name the sample; no allocation growth in steady state; data-parallel
 * shards put together are the global batch. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A dataset of n samples [1, 4, 4]: pixel k of sample i = i + k/100 + noise
 * drawn from a stream keyed (index, epoch) — like an augmented view. */
typedef struct fake {
    uint64_t n;
    int odd_index;   /* sample with a different size, -1 none */
    int fail_index;  /* sample whose get fails, -1 none */
    int classes;
} fake;

static int fake_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                    rp_error *err) {
    const fake *f = ds->impl;
    if ((int)i == f->fail_index)
        return rp_error_set(err, RP_ERR_FORMAT, "fake.bin: record %llu: corrupt", (unsigned long long)i);
    int64_t w = (int)i == f->odd_index ? 5 : 4;
    int st = rp_sample_resize(out, 1, 4, w, err);
    if (st) return st;
    rp_rng r;
    rp_rng_init(&r, 99, 1, draw->epoch, i);
    for (int64_t k = 0; k < 4 * w; k++) out->img.data[k] = (float)i + k / 100.0f + rp_rng_uniformf(&r) * 1e-3f;
    out->label = (int32_t)(i % (uint64_t)f->classes);
    return RP_OK;
}

static int32_t fake_label(const rp_dataset *ds, uint64_t i) {
    const fake *f = ds->impl;
    return (int32_t)(i % (uint64_t)f->classes);
}

static void fake_destroy(rp_dataset *ds) { free(ds->impl); }

static const struct rp_dataset_ops fake_ops = {fake_get, fake_label, NULL, fake_destroy};

static rp_dataset *make_fake(uint64_t n, int odd, int fail, int classes) {
    fake *f = calloc(1, sizeof *f);
    f->n = n;
    f->odd_index = odd;
    f->fail_index = fail;
    f->classes = classes;
    rp_dataset *ds = rp_dataset_new(&fake_ops, f, "fake", n, classes, NULL);
    assert_non_null(ds);
    return ds;
}

/* All batches of an epoch, concatenated: x values, labels, indices. */
typedef struct run {
    float *x;
    int32_t *y;
    uint64_t *idx;
    size_t nx, ny;
    uint64_t batches;
} run;

static run run_epoch(const rp_dataset *ds, struct rp_loader_opts o, uint64_t epoch) {
    rp_error err;
    rp_loader *l;
    RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
    RP_ASSERT_OK(rp_loader_start(l, epoch, &err), &err);
    run r = {0};
    r.x = malloc(sizeof(float) * 16 * (ds->size + 1));
    r.y = malloc(sizeof(int32_t) * (ds->size + 1));
    r.idx = malloc(sizeof(uint64_t) * (ds->size + 1));
    rp_batch *b;
    for (;;) {
        RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
        if (!b) break;
        assert_int_equal(b->x.ndim, 4);
        assert_int_equal(b->x.shape[0], b->n);
        memcpy(r.x + r.nx, b->x.data, b->x.numel * sizeof(float));
        r.nx += b->x.numel;
        memcpy(r.y + r.ny, b->labels, (size_t)b->n * sizeof(int32_t));
        memcpy(r.idx + r.ny, b->indices, (size_t)b->n * sizeof(uint64_t));
        r.ny += (size_t)b->n;
        r.batches++;
    }
    assert_int_equal(r.batches, rp_loader_num_batches(l));
    rp_loader_free(l);
    return r;
}

static void free_run(run *r) {
    free(r->x);
    free(r->y);
    free(r->idx);
}

static struct rp_loader_opts opts(int bs, int shuffle, int workers) {
    struct rp_loader_opts o;
    memset(&o, 0, sizeof o);
    o.batch_size = bs;
    o.shuffle = shuffle;
    o.workers = workers;
    o.prefetch = 2;
    o.seed = 7;
    o.stream = rp_hash_str("fit") ^ rp_hash_str("loader");
    return o;
}

static void test_sequential_order(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(10, -1, -1, 3);
    run r = run_epoch(ds, opts(4, 0, 0), 0);
    assert_int_equal(r.batches, 3);
    assert_int_equal(r.ny, 10);
    for (uint64_t i = 0; i < 10; i++) {
        assert_int_equal(r.idx[i], i);
        assert_int_equal(r.y[i], (int)(i % 3));
        assert_true(r.x[i * 16] >= (float)i && r.x[i * 16] < (float)i + 0.01f);
    }
    free_run(&r);
    rp_dataset_free(ds);
}

static void test_bit_identical_across_workers(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(203, -1, -1, 5);
    for (uint64_t epoch = 0; epoch < 2; epoch++) {
        run ref = run_epoch(ds, opts(16, 1, 0), epoch);
        for (int w = 1; w <= 4; w += 3) {
            for (int rep = 0; rep < 3; rep++) {
                run r = run_epoch(ds, opts(16, 1, w), epoch);
                assert_int_equal(r.ny, ref.ny);
                assert_memory_equal(r.idx, ref.idx, ref.ny * sizeof(uint64_t));
                assert_memory_equal(r.x, ref.x, ref.nx * sizeof(float));
                free_run(&r);
            }
        }
        free_run(&ref);
    }
    rp_dataset_free(ds);
}

static void test_shuffle_is_permutation_and_varies_by_epoch(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(100, -1, -1, 4);
    run a = run_epoch(ds, opts(32, 1, 2), 0), b = run_epoch(ds, opts(32, 1, 2), 1);
    int seen[100] = {0};
    for (size_t i = 0; i < 100; i++) seen[a.idx[i]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_memory_not_equal(a.idx, b.idx, 100 * sizeof(uint64_t));
    size_t fixed = 0;
    for (size_t i = 0; i < 100; i++) fixed += a.idx[i] == i;
    assert_true(fixed < 20); /* a real shuffle, not identity */
    free_run(&a);
    free_run(&b);
    rp_dataset_free(ds);
}

static void test_drop_last_and_limit(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(50, -1, -1, 2);
    struct rp_loader_opts o = opts(8, 0, 1);
    o.drop_last = 1;
    run r = run_epoch(ds, o, 0);
    assert_int_equal(r.batches, 6);
    assert_int_equal(r.ny, 48);
    free_run(&r);
    o.drop_last = 0;
    o.limit = 20;
    r = run_epoch(ds, o, 0);
    assert_int_equal(r.batches, 3);
    assert_int_equal(r.ny, 20);
    free_run(&r);
    rp_dataset_free(ds);
}

static void test_balanced_sampling(void **state) {
    (void)state;
    /* labels i % 10 < 1 → class 0 is 10%; use a skewed labelled set */
    rp_dataset *ds = make_fake(1000, -1, -1, 2); /* 500 / 500 */
    struct rp_loader_opts o = opts(100, 0, 2);
    o.balanced = 1;
    run r = run_epoch(ds, o, 3);
    int c0 = 0;
    for (size_t i = 0; i < r.ny; i++) c0 += r.y[i] == 0;
    assert_true(c0 > 430 && c0 < 570);
    /* with replacement: some index repeats */
    int *seen = calloc(1000, sizeof *seen), rep = 0;
    for (size_t i = 0; i < r.ny; i++) rep |= seen[r.idx[i]]++ > 0;
    assert_true(rep);
    free(seen);
    free_run(&r);
    rp_dataset_free(ds);
}

static void test_mismatched_sizes_error(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(12, 6, -1, 2);
    for (int w = 0; w <= 5; w++) {
        /* w >= 3: the dataset declares its geometry (rows written in place) */
        if (w == 3) ds->channels = 1, ds->height = 4, ds->width = 4;
        rp_error err;
        rp_loader *l;
        struct rp_loader_opts o = opts(4, 0, w);
        RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
        RP_ASSERT_OK(rp_loader_start(l, 0, &err), &err);
        rp_batch *b;
        RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
        int st = rp_loader_next(l, &b, &err);
        assert_int_not_equal(st, RP_OK);
        assert_non_null(strstr(err.msg, "sample 6"));
        if (w >= 3) assert_non_null(strstr(err.msg, "declared"));
        assert_non_null(strstr(err.msg, "[1, 4, 5]"));
        assert_non_null(strstr(err.msg, "[1, 4, 4]"));
        rp_loader_free(l);
    }
    rp_dataset_free(ds);
}

static void test_fixed_geometry_identical_to_assembled(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(77, -1, -1, 3);
    run a = run_epoch(ds, opts(8, 1, 0), 2);
    ds->channels = 1, ds->height = 4, ds->width = 4;
    for (int w = 0; w <= 3; w++) {
        run b = run_epoch(ds, opts(8, 1, w), 2);
        assert_int_equal(a.ny, b.ny);
        assert_memory_equal(a.x, b.x, a.nx * sizeof(float));
        assert_memory_equal(a.y, b.y, a.ny * sizeof(int32_t));
        free_run(&b);
    }
    free_run(&a);
    rp_dataset_free(ds);
}

/* Data-parallel shards: K loaders set to ranks 0..K-1, stepped together,
 * give per batch rows that, put together in rank order, are the unsharded
 * batch bit for bit (pixels, labels, indices), and say its global row count;
 * with batches shorter than K some shards are empty. Over workers, fixed
 * geometry and assembled rows, shuffled and class-balanced orders, epochs. */
static void check_shards(const rp_dataset *ds, struct rp_loader_opts o, int K, uint64_t epoch) {
    rp_error err;
    rp_loader *g, *sh[8];
    RP_ASSERT_OK(rp_loader_new(ds, &o, &g, &err), &err);
    RP_ASSERT_OK(rp_loader_start(g, epoch, &err), &err);
    for (int k = 0; k < K; k++) {
        struct rp_loader_opts ok = o;
        ok.workers = (o.workers + k) % 3; /* the reader's threads do not matter */
        RP_ASSERT_OK(rp_loader_new(ds, &ok, &sh[k], &err), &err);
        RP_ASSERT_OK(rp_loader_set_shard(sh[k], k, K, &err), &err);
        RP_ASSERT_OK(rp_loader_start(sh[k], epoch, &err), &err);
    }
    uint64_t batches = 0;
    int empty = 0;
    for (;;) {
        rp_batch *b;
        RP_ASSERT_OK(rp_loader_next(g, &b, &err), &err);
        int64_t row = 0;
        size_t per = b ? (size_t)b->x.numel / (size_t)(b->n ? b->n : 1) : 0;
        for (int k = 0; k < K; k++) {
            rp_batch *p;
            RP_ASSERT_OK(rp_loader_next(sh[k], &p, &err), &err);
            if (!b) {
                assert_null(p);
                continue;
            }
            assert_non_null(p);
            assert_int_equal(rp_loader_global_rows(sh[k]), b->n);
            /* rank k's rows are [n*k/K, n*(k+1)/K) */
            assert_int_equal(p->n, b->n * (k + 1) / K - b->n * k / K);
            assert_int_equal(row, b->n * k / K);
            empty += p->n == 0;
            if (p->n) {
                assert_memory_equal(p->x.data, b->x.data + (size_t)row * per,
                                    (size_t)p->n * per * sizeof(float));
                assert_memory_equal(p->labels, b->labels + row, (size_t)p->n * sizeof(int32_t));
                assert_memory_equal(p->indices, b->indices + row, (size_t)p->n * sizeof(uint64_t));
            }
            row += p->n;
        }
        if (!b) break;
        assert_int_equal(row, b->n);
        batches++;
    }
    assert_int_equal(batches, rp_loader_num_batches(g));
    /* 77 samples in batches of 8: the last has 5 rows, fewer than 7 ranks */
    if (K > 5 && !o.drop_last) assert_true(empty > 0);
    for (int k = 0; k < K; k++) {
        assert_int_equal(rp_loader_num_batches(sh[k]), batches);
        rp_loader_free(sh[k]);
    }
    rp_loader_free(g);
}

static void test_shards_union_is_global_batch(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(77, -1, -1, 3);
    for (int fixed = 0; fixed <= 1; fixed++) {
        if (fixed) ds->channels = 1, ds->height = 4, ds->width = 4;
        for (int K = 1; K <= 7; K += 2)
            for (int w = 0; w <= 2; w += 2) {
                struct rp_loader_opts o = opts(8, 1, w);
                check_shards(ds, o, K, 0);
                check_shards(ds, o, K, 3);
                o.balanced = 1;
                check_shards(ds, o, K, 1);
                o.balanced = 0;
                o.drop_last = 1;
                o.limit = 50;
                check_shards(ds, o, K, 2);
            }
    }
    rp_dataset_free(ds);
}

static void test_bad_shard(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(10, -1, -1, 2);
    struct rp_loader_opts o = opts(4, 0, 1);
    rp_error err;
    rp_loader *l;
    RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
    assert_int_equal(rp_loader_set_shard(l, 2, 2, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "loader: shard 2 of 2 ranks is invalid (need 0 <= rank < ranks)");
    assert_int_equal(rp_loader_set_shard(l, 0, 0, &err), RP_ERR_INVALID);
    RP_ASSERT_OK(rp_loader_start(l, 0, &err), &err);
    assert_int_equal(rp_loader_set_shard(l, 1, 2, &err), RP_ERR_INTERNAL);
    assert_string_equal(err.msg,
                        "loader: set_shard() after start() (the shard is fixed for the run)");
    rp_loader_free(l);
    rp_dataset_free(ds);
}

static void test_sample_error_propagates(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(40, -1, 17, 2);
    for (int w = 0; w <= 3; w += 3) {
        rp_error err;
        rp_loader *l;
        struct rp_loader_opts o = opts(8, 0, w);
        RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
        RP_ASSERT_OK(rp_loader_start(l, 0, &err), &err);
        rp_batch *b;
        int st = RP_OK, k = 0;
        for (; k < 10; k++) {
            st = rp_loader_next(l, &b, &err);
            if (st || !b) break;
        }
        assert_int_equal(st, RP_ERR_FORMAT);
        assert_int_equal(k, 2); /* batch 2 holds index 17 */
        assert_non_null(strstr(err.msg, "record 17"));
        /* restart works after an error */
        RP_ASSERT_OK(rp_loader_start(l, 1, &err), &err);
        RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
        assert_non_null(b);
        rp_loader_free(l);
    }
    rp_dataset_free(ds);
}

static void test_restart_mid_epoch_and_steady_buffers(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(64, -1, -1, 2);
    rp_error err;
    rp_loader *l;
    struct rp_loader_opts o = opts(8, 1, 2);
    RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
    float *seen[8] = {0};
    for (uint64_t e = 0; e < 4; e++) {
        RP_ASSERT_OK(rp_loader_start(l, e, &err), &err);
        rp_batch *b;
        int k = 0;
        while (1) {
            RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
            if (!b) break;
            if (e >= 1) {
                /* buffers do not move once allocated */
                int found = 0;
                for (int q = 0; q < 8; q++) found |= seen[q] == b->x.data;
                if (!found) {
                    for (int q = 0; q < 8; q++)
                        if (!seen[q]) {
                            seen[q] = b->x.data;
                            break;
                        }
                }
                if (e >= 2) assert_true(found);
            }
            if (e == 0 && ++k == 3) break; /* abandon epoch 0 midway */
        }
    }
    rp_loader_free(l);
    rp_dataset_free(ds);
}

/* segmentation: masks travel with their images, in both loader paths */
static int seg_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err) {
    (void)ds, (void)draw;
    int st = rp_sample_resize(out, 1, 3, 2, err);
    if (!st) st = rp_mask_resize(&out->mask, 3, 2, err);
    if (st) return st;
    for (int k = 0; k < 6; k++) {
        out->img.data[k] = (float)i;
        out->mask.data[k] = (int32_t)(i * 10 + (uint64_t)k);
    }
    return RP_OK;
}
static const struct rp_dataset_ops seg_ops = {seg_get, NULL, NULL, NULL};

static void test_masks_in_batches(void **state) {
    (void)state;
    rp_dataset *ds = rp_dataset_new(&seg_ops, NULL, "seg", 9, 4, NULL);
    ds->task = RP_TASK_SEGMENT;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) ds->channels = 1, ds->height = 3, ds->width = 2;
        for (int w = 0; w <= 2; w += 2) {
            rp_error err;
            rp_loader *l;
            struct rp_loader_opts o = opts(4, 1, w);
            RP_ASSERT_OK(rp_loader_new(ds, &o, &l, &err), &err);
            RP_ASSERT_OK(rp_loader_start(l, 0, &err), &err);
            rp_batch *b;
            int seen = 0;
            for (;;) {
                RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
                if (!b) break;
                assert_non_null(b->masks);
                for (int64_t j = 0; j < b->n; j++) {
                    uint64_t i = b->indices[j];
                    assert_float_equal(b->x.data[j * 6], (float)i, 0);
                    for (int k = 0; k < 6; k++) assert_int_equal(b->masks[j * 6 + k], (int32_t)(i * 10 + (uint64_t)k));
                    seen++;
                }
            }
            assert_int_equal(seen, 9);
            rp_loader_free(l);
        }
    }
    rp_dataset_free(ds);
}

static void test_bad_options(void **state) {
    (void)state;
    rp_dataset *ds = make_fake(4, -1, -1, 2);
    rp_error err;
    rp_loader *l;
    struct rp_loader_opts o = opts(0, 0, 0);
    assert_int_equal(rp_loader_new(ds, &o, &l, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "batch_size"));
    rp_dataset_free(ds);
}

static void test_batch_reserve_keeps_rows(void **state) {
    (void)state;
    rp_batch b;
    memset(&b, 0, sizeof b);
    rp_error err;
    RP_ASSERT_OK(rp_batch_reserve(&b, 2, 1, 2, 2, 0, &err), &err);
    for (int i = 0; i < 8; i++) b.x.data[i] = (float)i;
    b.labels[0] = 3, b.labels[1] = 4;
    b.n = 2;
    RP_ASSERT_OK(rp_batch_reserve(&b, 4, 1, 2, 2, 0, &err), &err);
    assert_true(b.capacity >= 4);
    for (int i = 0; i < 8; i++) assert_float_equal(b.x.data[i], (float)i, 0);
    assert_int_equal(b.labels[1], 4);
    assert_int_equal(b.x.shape[0], 4);
    assert_int_not_equal(rp_batch_reserve(&b, 4, 3, 2, 2, 0, &err), RP_OK);
    rp_batch_release(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_order),
        cmocka_unit_test(test_bit_identical_across_workers),
        cmocka_unit_test(test_shuffle_is_permutation_and_varies_by_epoch),
        cmocka_unit_test(test_drop_last_and_limit),
        cmocka_unit_test(test_balanced_sampling),
        cmocka_unit_test(test_mismatched_sizes_error),
        cmocka_unit_test(test_fixed_geometry_identical_to_assembled),
        cmocka_unit_test(test_sample_error_propagates),
        cmocka_unit_test(test_restart_mid_epoch_and_steady_buffers),
        cmocka_unit_test(test_masks_in_batches),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_batch_reserve_keeps_rows),
        cmocka_unit_test(test_shards_union_is_global_batch),
        cmocka_unit_test(test_bad_shard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
