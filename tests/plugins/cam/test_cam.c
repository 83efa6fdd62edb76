/* cam plugin: the cam_erasing batch hook (warm-up, the 2B batch, the box at
 * the Grad-CAM arg-max with the documented corner convention and fill,
 * keyed randomness, bad inputs) and rp_cam_erasing_box itself. The gradcam
 * stage and augment.stats' cam variant run in the pipeline smoke tests
 * (s2-gradcam, s2-erased-area); the cam variant's areas are checked against
 * the gradcam stage's arg-max points in augment's test_stages.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h" /* engine-internal: rp_schema_dirs_init */

const struct rp_plugin_desc *rp_plugin_entry(void);

static void register_plugin(void) {
    static int done;
    if (done) return;
    done = 1;
    rp_schema_dirs_init();
    const struct rp_plugin_desc *d = rp_plugin_entry();
    for (size_t i = 0; i < d->n_components; i++)
        if (!rp_component_find(d->components[i]->kind, d->components[i]->name))
            rp_component_register(d->components[i], NULL);
}

typedef struct hk {
    const struct rp_batch_hook_ops *ops;
    void *state;
    rp_node *params;
} hk;

/* A hook from YAML params (validated and defaults filled by its schema). */
static int hook_new(const char *params, hk *h, rp_error *err) {
    register_plugin();
    const struct rp_component *c = rp_component_find(RP_COMP_BATCH_HOOK, "cam_erasing");
    assert_non_null(c);
    h->ops = c->impl;
    rp_node *raw = NULL;
    RP_ASSERT_OK(rp_node_parse_string(params, "<params>", &raw, err), err);
    int rc = rp_component_params(RP_COMP_BATCH_HOOK, "cam_erasing", raw, &h->params, err);
    rp_node_free(raw);
    if (rc) return rc;
    return h->ops->create(h->params, &h->state, err);
}

static void hook_free(hk *h) {
    if (h->state) h->ops->destroy(h->state);
    rp_node_free(h->params);
}

static rp_model *small_net(void) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_build("resnet20", NULL, &m, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 3, &err), &err);
    return m;
}

/* n images [3, 32, 32] of value 0.5 + small structure, labels k % 10. */
static void fill_batch(rp_batch *b, int64_t n) {
    rp_error err;
    RP_ASSERT_OK(rp_batch_reserve(b, n, 3, 32, 32, 0, &err), &err);
    for (int64_t i = 0; i < n * 3 * 32 * 32; i++) b->x.data[i] = 0.5f + 0.4f * (float)sin(0.37 * (double)i);
    for (int64_t i = 0; i < n; i++) {
        b->labels[i] = (int32_t)(i % 10);
        b->indices[i] = (uint64_t)(100 + i);
    }
    b->n = n;
}

static rp_hook_ctx ctx_for(rp_model *m, rp_batch *b, uint64_t epoch, uint64_t epochs) {
    rp_hook_ctx c = {m, NULL, b, 7, epoch, 0, epochs, "fit", NULL};
    return c;
}

static void test_warmup_and_double(void **state) {
    (void)state;
    rp_error err;
    hk h = {0};
    RP_ASSERT_OK(hook_new("{warmup: 0.5, b_h: 0, value: -3}", &h, &err), &err);
    rp_model *m = small_net();
    rp_batch b = {0};
    fill_batch(&b, 6);
    /* epoch 4 of 10: still warming up (erasing starts at epoch floor(0.5 * 10) = 5) */
    rp_hook_ctx c = ctx_for(m, &b, 4, 10);
    RP_ASSERT_OK(h.ops->on_batch(h.state, &c, &err), &err);
    assert_int_equal(b.n, 6);
    c.epoch = 5;
    RP_ASSERT_OK(h.ops->on_batch(h.state, &c, &err), &err);
    assert_int_equal(b.n, 12);
    /* the CAM of the same images, to check where the boxes went */
    rp_tensor xv = b.x;
    xv.owns = 0, xv.shape[0] = 6, xv.numel = 6 * 3 * 32 * 32;
    rp_gradcam_out o = {0};
    RP_ASSERT_OK(rp_gradcam(m, &xv, NULL, b.labels, 0, &o, &err), &err);
    const size_t per = 3 * 32 * 32;
    int copies_erased = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(b.labels[6 + i], b.labels[i]);
        assert_int_equal(b.indices[6 + i], b.indices[i]);
        const float *orig = b.x.data + per * (size_t)i, *cp = b.x.data + per * (size_t)(6 + i);
        int erased = 0, y0 = 99, x0 = 99;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int e = cp[y * 32 + x] == -3.0f;
                for (int ch = 0; ch < 3; ch++) {
                    float v = cp[(ch * 32 + y) * 32 + x];
                    if (e) assert_true(v == -3.0f);
                    else assert_true(v == orig[(ch * 32 + y) * 32 + x]);
                }
                if (e && !erased) y0 = y, x0 = x;
                erased += e;
            }
        /* b_h = 0: the box's top-left corner is the arg-max itself */
        copies_erased += erased > 0;
        if (erased) {
            assert_int_equal(y0, o.argmax[2 * i]);
            assert_int_equal(x0, o.argmax[2 * i + 1]);
        }
    }
    assert_true(copies_erased >= 4); /* p = 1; only a box that never fits is skipped */
    rp_gradcam_out_release(&o);
    /* the originals are untouched and the model's parameters got no gradient */
    for (size_t j = 0; j < rp_model_num_params(m); j++) {
        rp_param *p = rp_model_param(m, j);
        for (size_t i = 0; p->grad && i < p->grad->numel; i++) assert_true(p->grad->data[i] == 0.0f);
    }
    rp_batch_release(&b);
    rp_model_free(m);
    hook_free(&h);
}

/* Same (seed, stage, epoch, index) -> the same copies; another epoch differs. */
static void test_keyed_randomness(void **state) {
    (void)state;
    rp_error err;
    hk h = {0};
    RP_ASSERT_OK(hook_new("{warmup: 0, b_h: 3, value: random}", &h, &err), &err);
    rp_model *m = small_net();
    rp_batch a = {0}, b = {0}, c = {0};
    fill_batch(&a, 8), fill_batch(&b, 8), fill_batch(&c, 8);
    rp_hook_ctx ca = ctx_for(m, &a, 2, 4), cb = ctx_for(m, &b, 2, 4), cc = ctx_for(m, &c, 3, 4);
    RP_ASSERT_OK(h.ops->on_batch(h.state, &ca, &err), &err);
    RP_ASSERT_OK(h.ops->on_batch(h.state, &cb, &err), &err);
    RP_ASSERT_OK(h.ops->on_batch(h.state, &cc, &err), &err);
    assert_int_equal(a.n, 16);
    assert_memory_equal(a.x.data, b.x.data, 16 * 3 * 32 * 32 * sizeof(float));
    assert_true(memcmp(a.x.data, c.x.data, 16 * 3 * 32 * 32 * sizeof(float)) != 0);
    rp_batch_release(&a), rp_batch_release(&b), rp_batch_release(&c);
    rp_model_free(m);
    hook_free(&h);
}

/* The corner convention: p_n = p_m + d_e, d_e in {0..b_h}^2, clamped; the box
 * clipped; every offset is reached. */
static void test_box_convention(void **state) {
    (void)state;
    const double scale[2] = {0.02, 0.4}, ratio[2] = {0.3, 1 / 0.3};
    int seen[3][3] = {{0}};
    for (uint64_t k = 0; k < 2000; k++) {
        rp_rng r;
        rp_rng_for(&r, 1, "t", "box", 0, k);
        int64_t t, l, h, w;
        if (!rp_cam_erasing_box(&r, 32, 32, scale, ratio, 0, 10, 10, 12, 2, &t, &l, &h, &w)) continue;
        assert_true(t >= 10 && t <= 12 && l >= 12 && l <= 14);
        assert_true(t + h <= 32 && l + w <= 32 && h >= 1 && w >= 1);
        seen[t - 10][l - 12]++;
        /* at the bottom-right corner the corner is clamped into the image */
        rp_rng_for(&r, 1, "t", "box", 0, k);
        assert_int_equal(rp_cam_erasing_box(&r, 32, 32, scale, ratio, 0, 10, 31, 31, 2, &t, &l, &h, &w), 1);
        assert_true(t == 31 && l == 31 && h == 1 && w == 1);
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) assert_true(seen[i][j] > 100);
}

static void test_bad_input(void **state) {
    (void)state;
    rp_error err;
    hk h = {0};
    RP_ASSERT_OK(hook_new("{warmup: 0, cam_model: input}", &h, &err), &err);
    rp_model *m = small_net();
    rp_batch b = {0};
    fill_batch(&b, 2);
    rp_hook_ctx c = ctx_for(m, &b, 0, 1);
    assert_int_equal(h.ops->on_batch(h.state, &c, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "cam_erasing: 'cam_model: input' needs the train stage's `hook_model` "
                                 "input wired (in: {hook_model: STAGE.model})");
    assert_int_equal(err.line, 1);
    hook_free(&h);
    memset(&h, 0, sizeof h);
    assert_int_equal(hook_new("{s_l: 0.5, s_h: 0.1}", &h, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "cam_erasing: s_l (0.5) must not exceed s_h (0.1)");
    hook_free(&h);
    memset(&h, 0, sizeof h);
    RP_ASSERT_OK(hook_new("{warmup: 0, layer: nothere}", &h, &err), &err);
    c = ctx_for(m, &b, 0, 1);
    assert_int_equal(h.ops->on_batch(h.state, &c, &err), RP_ERR_NOTFOUND);
    assert_string_equal(err.msg, "Grad-CAM on layer 'nothere': model has no layer 'nothere'");
    hook_free(&h);
    rp_batch_release(&b);
    rp_model_free(m);
}

int main(void) {
    rp_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warmup_and_double),
        cmocka_unit_test(test_keyed_randomness),
        cmocka_unit_test(test_box_convention),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
