/* Transform chains and transformed dataset views: lookup by name, per-
 * position Philox streams keyed (seed, stream, epoch, index), out_shape,
 * errors naming the transform and sample; loader over a view is identical
 * with any number of workers. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* test transforms (no parameters → no schema needed) */
static int t_create(const rp_node *params, void **state, rp_error *err) {
    (void)params, (void)err;
    *state = NULL;
    return RP_OK;
}
static void t_destroy(void *state) { (void)state; }

static int noise_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)state, (void)err;
    for (size_t i = 0; i < s->img.numel; i++) s->img.data[i] += rp_rng_uniformf(rng);
    return RP_OK;
}

static int crop2_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)state, (void)rng;
    int64_t C = s->img.shape[0], H = s->img.shape[1], W = s->img.shape[2];
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < 2; y++)
            for (int64_t x = 0; x < 2; x++) s->img.data[(c * 2 + y) * 2 + x] = s->img.data[(c * H + y) * W + x];
    int64_t shape[3] = {C, 2, 2};
    return rp_tensor_reshape_alloc(&s->img, 3, shape, err); /* shrinks in place */
}
static void crop2_shape(const void *state, int *c, int *h, int *w) {
    (void)state, (void)c;
    *h = *w = 2;
}

static int fail_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)state, (void)rng;
    if (s->index == 3) return rp_error_set(err, RP_ERR_NUMERIC, "cannot handle this one");
    return RP_OK;
}

static const struct rp_transform_ops tchain_noise = {.create = t_create, .apply = noise_apply, .destroy = t_destroy};
static const struct rp_transform_ops tchain_crop2 = {.create = t_create, .apply = crop2_apply, .destroy = t_destroy, .out_shape = crop2_shape};
static const struct rp_transform_ops tchain_fail = {.create = t_create, .apply = fail_apply, .destroy = t_destroy};
RP_TEST_COMPONENT(RP_COMP_TRANSFORM, "tchain_noise", "adds U[0,1) noise", tchain_noise)
RP_TEST_COMPONENT(RP_COMP_TRANSFORM, "tchain_crop2", "top-left 2x2", tchain_crop2)
RP_TEST_COMPONENT(RP_COMP_TRANSFORM, "tchain_fail", "fails on sample 3", tchain_fail)

static rp_transform_chain *chain_of(const char *yaml) {
    rp_error err;
    rp_node *n;
    RP_ASSERT_OK(rp_node_parse_string(yaml, "chain.yaml", &n, &err), &err);
    rp_transform_chain *c;
    RP_ASSERT_OK(rp_transform_chain_new(n, &c, &err), &err);
    rp_node_free(n);
    return c;
}

/* constant dataset: n samples [1, 4, 4] of value i / 100, label i % 3 */
static int const_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                     rp_error *err) {
    (void)ds, (void)draw;
    int st = rp_sample_resize(out, 1, 4, 4, err);
    if (st) return st;
    for (int k = 0; k < 16; k++) out->img.data[k] = (float)i / 100.0f;
    out->label = (int32_t)(i % 3);
    out->domain = (int32_t)(i % 2);
    return RP_OK;
}
static int32_t const_label(const rp_dataset *ds, uint64_t i) { (void)ds; return (int32_t)(i % 3); }
static const struct rp_dataset_ops const_ops = {const_get, const_label, NULL, NULL};

static rp_dataset *const_ds(uint64_t n) {
    const char *names[3] = {"a", "b", "c"};
    rp_dataset *ds = rp_dataset_new(&const_ops, NULL, "const", n, 3, names);
    ds->channels = 1, ds->height = ds->width = 4;
    return ds;
}

static void test_chain_build_and_names(void **state) {
    (void)state;
    rp_transform_chain *c = chain_of("[tchain_noise, {tchain_crop2: {}}]");
    assert_int_equal(rp_transform_chain_len(c), 2);
    assert_string_equal(rp_transform_chain_name(c, 1), "tchain_crop2");
    int ch = 1, h = 4, w = 4;
    rp_transform_chain_out_shape(c, &ch, &h, &w);
    assert_int_equal(h, 2);
    rp_transform_chain_free(c);
    /* empty / null chain */
    c = chain_of("[]");
    assert_int_equal(rp_transform_chain_len(c), 0);
    rp_transform_chain_free(c);
    /* unknown name: suggestion, located */
    rp_error err;
    rp_node *n;
    RP_ASSERT_OK(rp_node_parse_string("[tchain_nosie]", "chain.yaml", &n, &err), &err);
    assert_int_not_equal(rp_transform_chain_new(n, &c, &err), RP_OK);
    assert_non_null(strstr(err.msg, "tchain_noise"));
    assert_string_equal(err.file, "chain.yaml");
    rp_node_free(n);
    /* params for a parameterless transform are rejected */
    RP_ASSERT_OK(rp_node_parse_string("[{tchain_noise: {p: 1}}]", "chain.yaml", &n, &err), &err);
    assert_int_not_equal(rp_transform_chain_new(n, &c, &err), RP_OK);
    assert_non_null(strstr(err.msg, "no parameters"));
    rp_node_free(n);
}

static void test_streams_keyed(void **state) {
    (void)state;
    rp_transform_chain *c = chain_of("[tchain_noise]");
    rp_transform_chain *c2 = chain_of("[tchain_noise, tchain_noise]");
    rp_sample a, b;
    rp_sample_init(&a);
    rp_sample_init(&b);
    rp_error err;
    float r[6][16];
    struct {
        uint64_t seed, stream, epoch, index;
    } keys[6] = {{1, 2, 0, 5}, {1, 2, 0, 5}, {1, 2, 1, 5}, {1, 2, 0, 6}, {9, 2, 0, 5}, {1, 3, 0, 5}};
    for (int k = 0; k < 6; k++) {
        RP_ASSERT_OK(rp_sample_resize(&a, 1, 4, 4, &err), &err);
        memset(a.img.data, 0, 16 * sizeof(float));
        a.index = keys[k].index;
        RP_ASSERT_OK(rp_transform_chain_apply(c, &a, keys[k].seed, keys[k].stream, keys[k].epoch, &err), &err);
        memcpy(r[k], a.img.data, sizeof r[k]);
    }
    assert_memory_equal(r[0], r[1], sizeof r[0]);
    for (int k = 2; k < 6; k++) assert_memory_not_equal(r[0], r[k], sizeof r[0]);
    /* position 0 draws the same whatever follows; position 1 differs */
    RP_ASSERT_OK(rp_sample_resize(&b, 1, 4, 4, &err), &err);
    memset(b.img.data, 0, 16 * sizeof(float));
    b.index = 5;
    RP_ASSERT_OK(rp_transform_chain_apply(c2, &b, 1, 2, 0, &err), &err);
    int same = 1;
    for (int k = 0; k < 16; k++) same &= b.img.data[k] == 2 * r[0][k];
    assert_false(same);
    for (int k = 0; k < 16; k++) assert_true(b.img.data[k] > r[0][k] - 1e-6f);
    rp_sample_release(&a);
    rp_sample_release(&b);
    rp_transform_chain_free(c);
    rp_transform_chain_free(c2);
}

static void test_view(void **state) {
    (void)state;
    rp_dataset *base = const_ds(10);
    rp_dataset *v;
    rp_error err;
    RP_ASSERT_OK(rp_dataset_transformed(base, chain_of("[tchain_noise, tchain_crop2]"), 7,
                                        rp_hash_str("aug"), "const+aug", &v, &err),
                 &err);
    assert_int_equal(v->size, 10);
    assert_int_equal(v->height, 2);
    assert_int_equal(v->num_classes, 3);
    assert_string_equal(v->class_names[2], "c");
    assert_int_equal(rp_dataset_label(v, 4), 1);
    rp_sample s, t;
    rp_sample_init(&s);
    rp_sample_init(&t);
    rp_draw e0 = {0}, e1 = {1};
    RP_ASSERT_OK(rp_dataset_get(v, 4, &e0, &s, &err), &err);
    assert_int_equal(s.img.shape[1], 2);
    assert_int_equal(s.index, 4);
    assert_int_equal(s.label, 1);
    RP_ASSERT_OK(rp_dataset_get(v, 4, &e0, &t, &err), &err);
    assert_memory_equal(s.img.data, t.img.data, 4 * sizeof(float));
    RP_ASSERT_OK(rp_dataset_get(v, 4, &e1, &t, &err), &err);
    assert_memory_not_equal(s.img.data, t.img.data, 4 * sizeof(float));
    /* a subset of the view keeps the view's per-index draws */
    uint64_t idx[2] = {4, 9};
    rp_dataset *sub;
    RP_ASSERT_OK(rp_dataset_subset(v, idx, 2, "sub", &sub, &err), &err);
    RP_ASSERT_OK(rp_dataset_get(sub, 0, &e0, &t, &err), &err);
    assert_memory_equal(s.img.data, t.img.data, 4 * sizeof(float));
    assert_int_equal(t.index, 0);
    assert_int_equal(rp_dataset_label(sub, 1), 0);
    rp_dataset_free(sub);
    rp_sample_release(&s);
    rp_sample_release(&t);
    rp_dataset_free(v);
    rp_dataset_free(base);
}

static void test_view_error_names_transform(void **state) {
    (void)state;
    rp_dataset *base = const_ds(6);
    rp_dataset *v;
    rp_error err;
    RP_ASSERT_OK(rp_dataset_transformed(base, chain_of("[tchain_noise, tchain_fail]"), 1, 2, "v", &v, &err), &err);
    rp_sample s;
    rp_sample_init(&s);
    RP_ASSERT_OK(rp_dataset_get(v, 2, NULL, &s, &err), &err);
    assert_int_equal(rp_dataset_get(v, 3, NULL, &s, &err), RP_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "transform 2 'tchain_fail' on sample 3"));
    assert_non_null(strstr(err.msg, "cannot handle"));
    rp_sample_release(&s);
    /* the loader reports it, with workers too */
    struct rp_loader_opts o = {.batch_size = 2, .workers = 2, .prefetch = 1, .seed = 1};
    rp_loader *l;
    RP_ASSERT_OK(rp_loader_new(v, &o, &l, &err), &err);
    RP_ASSERT_OK(rp_loader_start(l, 0, &err), &err);
    rp_batch *b;
    RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
    assert_int_equal(rp_loader_next(l, &b, &err), RP_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "sample 3"));
    rp_loader_free(l);
    rp_dataset_free(v);
    rp_dataset_free(base);
}

static void test_loader_over_view_worker_invariant(void **state) {
    (void)state;
    rp_dataset *base = const_ds(37);
    rp_dataset *v;
    rp_error err;
    RP_ASSERT_OK(rp_dataset_transformed(base, chain_of("[tchain_noise]"), 3, 4, "v", &v, &err), &err);
    float *ref = NULL;
    for (int w = 0; w <= 3; w++) {
        struct rp_loader_opts o = {.batch_size = 5, .shuffle = 1, .workers = w, .prefetch = 2, .seed = 3, .stream = 8};
        rp_loader *l;
        RP_ASSERT_OK(rp_loader_new(v, &o, &l, &err), &err);
        float *got = calloc(37 * 16, sizeof(float));
        for (uint64_t e = 0; e < 2; e++) {
            RP_ASSERT_OK(rp_loader_start(l, e, &err), &err);
            size_t off = 0;
            rp_batch *b;
            for (;;) {
                RP_ASSERT_OK(rp_loader_next(l, &b, &err), &err);
                if (!b) break;
                memcpy(got + off, b->x.data, b->x.numel * sizeof(float));
                off += b->x.numel;
            }
            assert_int_equal(off, 37 * 16);
        }
        if (!ref) ref = got;
        else {
            assert_memory_equal(ref, got, 37 * 16 * sizeof(float));
            free(got);
        }
        rp_loader_free(l);
    }
    free(ref);
    rp_dataset_free(v);
    rp_dataset_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_build_and_names),
        cmocka_unit_test(test_streams_keyed),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_view_error_names_transform),
        cmocka_unit_test(test_loader_over_view_worker_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
