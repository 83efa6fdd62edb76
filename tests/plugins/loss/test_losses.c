/* Loss components against PyTorch golden values (tests/golden/make_losses.py),
 * central-difference gradient checks, and bad-input messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../harness.h"
#include "config/schema.h" /* engine-internal: rp_schema_dirs_init */
#include "../../../plugins/loss/loss_common.h"

const struct rp_plugin_desc *rp_plugin_entry(void);

static cJSON *golden;

/* Register this plugin's components the way the loader would. */
static void register_plugin(void) {
    static int done;
    if (done) return;
    done = 1;
    rp_schema_dirs_init(); /* schemas/loss.*.yaml validate and fill params */
    const struct rp_plugin_desc *d = rp_plugin_entry();
    for (size_t i = 0; i < d->n_components; i++)
        if (!rp_component_find(d->components[i]->kind, d->components[i]->name))
            rp_component_register(d->components[i], NULL);
}

static int setup(void **state) {
    (void)state;
    register_plugin();
    char *text = NULL;
    size_t len = 0;
    rp_error err;
    rp_error_clear(&err);
    const char *path = rp_test_path(rp_test_src(), "tests/golden/data/losses.json");
    if (rp_read_file(path, &text, &len, &err) != RP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    golden = cJSON_Parse(text);
    free(text);
    return golden ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    cJSON_Delete(golden);
    return 0;
}

typedef struct gcase {
    const char *name, *spec;
    int ndim;
    int64_t shape[4];
    rp_tensor *x;
    int32_t *t;
    double loss;
    float *grad;
    size_t numel, nt;
} gcase;

static void load_case(const cJSON *c, gcase *g) {
    memset(g, 0, sizeof *g);
    g->name = cJSON_GetObjectItem(c, "name")->valuestring;
    g->spec = cJSON_GetObjectItem(c, "spec")->valuestring;
    const cJSON *sh = cJSON_GetObjectItem(c, "shape");
    g->ndim = cJSON_GetArraySize(sh);
    for (int i = 0; i < g->ndim; i++) g->shape[i] = (int64_t)cJSON_GetArrayItem(sh, i)->valuedouble;
    rp_error err;
    RP_ASSERT_OK(rp_tensor_new(&g->x, g->ndim, g->shape, &err), &err);
    const cJSON *lg = cJSON_GetObjectItem(c, "logits"), *gr = cJSON_GetObjectItem(c, "grad");
    const cJSON *tg = cJSON_GetObjectItem(c, "target");
    g->numel = g->x->numel;
    assert_int_equal((size_t)cJSON_GetArraySize(lg), g->numel);
    assert_int_equal((size_t)cJSON_GetArraySize(gr), g->numel);
    g->grad = malloc(sizeof(float) * g->numel);
    for (size_t i = 0; i < g->numel; i++) {
        g->x->data[i] = (float)cJSON_GetArrayItem(lg, (int)i)->valuedouble;
        g->grad[i] = (float)cJSON_GetArrayItem(gr, (int)i)->valuedouble;
    }
    g->nt = (size_t)cJSON_GetArraySize(tg);
    g->t = malloc(sizeof(int32_t) * g->nt);
    for (size_t i = 0; i < g->nt; i++) g->t[i] = (int32_t)cJSON_GetArrayItem(tg, (int)i)->valueint;
    g->loss = cJSON_GetObjectItem(c, "loss")->valuedouble;
}

static void free_case(gcase *g) {
    rp_tensor_free(g->x);
    free(g->t);
    free(g->grad);
}

static rp_loss *make_loss(const char *spec_text) {
    rp_error err;
    rp_error_clear(&err);
    rp_node *spec = NULL;
    RP_ASSERT_OK(rp_node_parse_string(spec_text, "<spec>", &spec, &err), &err);
    rp_loss *l = NULL;
    RP_ASSERT_OK(rp_loss_new(spec, &l, &err), &err);
    rp_node_free(spec);
    return l;
}

/* Every case: loss and gradient within 1e-5 relative of PyTorch's. */
static void test_golden(void **state) {
    (void)state;
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(golden, "cases"));
    assert_true(n >= 20);
    for (int i = 0; i < n; i++) {
        gcase g;
        load_case(cJSON_GetArrayItem(cJSON_GetObjectItem(golden, "cases"), i), &g);
        rp_loss *l = make_loss(g.spec);
        rp_tensor *d = NULL;
        rp_error err;
        RP_ASSERT_OK(rp_tensor_new(&d, g.ndim, g.shape, &err), &err);
        rp_tensor_fill(d, 123.0f); /* must be overwritten, not accumulated */
        double v = 0;
        RP_ASSERT_OK(rp_loss_compute(l, g.x, g.t, &v, d, &err), &err);
        if (!(fabs(v - g.loss) <= 1e-5 * fabs(g.loss) + 1e-9))
            fail_msg("%s: loss %.10g, PyTorch %.10g", g.name, v, g.loss);
        char what[128];
        snprintf(what, sizeof what, "%s: dloss/dlogits", g.name);
        rp_test_close(d->data, g.grad, g.numel, 1e-5, 1e-8, what);
        /* without a gradient buffer: same loss */
        double v2 = 0;
        RP_ASSERT_OK(rp_loss_compute(l, g.x, g.t, &v2, NULL, &err), &err);
        assert_true(v2 == v);
        rp_tensor_free(d);
        rp_loss_free(l);
        free_case(&g);
    }
}

/* Every registered loss component has at least one golden case, so a new
 * loss cannot ship without a PyTorch comparison and a gradient check. */
static void test_every_loss_has_golden(void **state) {
    (void)state;
    const cJSON *cases = cJSON_GetObjectItem(golden, "cases");
    size_t nc = rp_component_count(RP_COMP_LOSS);
    assert_true(nc >= 6);
    for (size_t k = 0; k < nc; k++) {
        const char *name = rp_component_at(RP_COMP_LOSS, k)->name;
        int found = 0;
        for (int i = 0; i < cJSON_GetArraySize(cases) && !found; i++) {
            const char *spec = cJSON_GetObjectItem(cJSON_GetArrayItem(cases, i), "spec")->valuestring;
            size_t ln = strlen(name);
            found = (strncmp(spec, name, ln) == 0 && spec[ln] == 0) ||
                    (spec[0] == '{' && strncmp(spec + 1, name, ln) == 0 && spec[1 + ln] == ':');
        }
        if (!found) fail_msg("loss '%s' has no case in tests/golden/data/losses.json", name);
    }
}

/* Central differences on every golden case: dL/dx_j ~ (L(x+h e_j) - L(x-h e_j)) / 2h,
 * with the perturbation actually representable in float. */
static void test_gradcheck(void **state) {
    (void)state;
    const cJSON *cases = cJSON_GetObjectItem(golden, "cases");
    for (int i = 0; i < cJSON_GetArraySize(cases); i++) {
        gcase g;
        load_case(cJSON_GetArrayItem(cases, i), &g);
        rp_loss *l = make_loss(g.spec);
        rp_tensor *d = NULL;
        rp_error err;
        RP_ASSERT_OK(rp_tensor_new(&d, g.ndim, g.shape, &err), &err);
        double v;
        RP_ASSERT_OK(rp_loss_compute(l, g.x, g.t, &v, d, &err), &err);
        double gmax = 0;
        for (size_t j = 0; j < g.numel; j++) gmax = fmax(gmax, fabs(d->data[j]));
        for (size_t j = 0; j < g.numel; j++) {
            float x0 = g.x->data[j];
            float xp = x0 + 1e-2f, xm = x0 - 1e-2f;
            double lp, lm;
            g.x->data[j] = xp;
            RP_ASSERT_OK(rp_loss_compute(l, g.x, g.t, &lp, NULL, &err), &err);
            g.x->data[j] = xm;
            RP_ASSERT_OK(rp_loss_compute(l, g.x, g.t, &lm, NULL, &err), &err);
            g.x->data[j] = x0;
            double num = (lp - lm) / ((double)xp - (double)xm);
            if (fabs(num - d->data[j]) > 1e-3 * gmax + 1e-4 * fabs(num))
                fail_msg("%s: element %zu: analytic %.8g, numeric %.8g", g.name, j,
                         (double)d->data[j], num);
        }
        rp_tensor_free(d);
        rp_loss_free(l);
        free_case(&g);
    }
}

/* Gradcheck is meaningful only if it can fail: a wrong gradient is caught. */
static void test_gradcheck_catches_error(void **state) {
    (void)state;
    rp_loss *l = make_loss("{focal: {gamma: 2}}");
    rp_tensor *x = NULL, *d = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_tensor_new2(&x, 1, 3, &err), &err);
    RP_ASSERT_OK(rp_tensor_new2(&d, 1, 3, &err), &err);
    x->data[0] = 0.3f, x->data[1] = -1.0f, x->data[2] = 2.0f;
    int32_t t = 1;
    double v, lp, lm;
    RP_ASSERT_OK(rp_loss_compute(l, x, &t, &v, d, &err), &err);
    x->data[0] += 1e-2f;
    RP_ASSERT_OK(rp_loss_compute(l, x, &t, &lp, NULL, &err), &err);
    x->data[0] -= 2e-2f;
    RP_ASSERT_OK(rp_loss_compute(l, x, &t, &lm, NULL, &err), &err);
    double num = (lp - lm) / 2e-2;
    /* the cross-entropy part alone (gamma term dropped) differs measurably */
    assert_true(fabs(num - d->data[0]) < 1e-4);
    assert_true(fabs(num - d->data[0] * 1.1) > 1e-3);
    rp_tensor_free(x);
    rp_tensor_free(d);
    rp_loss_free(l);
}

static void expect_fail(const char *spec, int ndim, const int64_t *shape, const int32_t *t,
                        int status, const char *needle) {
    rp_loss *l = make_loss(spec);
    rp_tensor *x = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_tensor_new(&x, ndim, shape, &err), &err);
    double v = 0;
    int rc = rp_loss_compute(l, x, t, &v, NULL, &err);
    if (rc != status) fail_msg("%s: expected status %d, got %d (%s)", spec, status, rc, err.msg);
    if (!strstr(err.msg, needle)) fail_msg("%s: message '%s' lacks '%s'", spec, err.msg, needle);
    rp_tensor_free(x);
    rp_loss_free(l);
}

static void test_bad_inputs(void **state) {
    (void)state;
    int64_t s2[2] = {3, 4};
    int32_t bad[3] = {0, 7, 1};
    expect_fail("cross_entropy", 2, s2, bad, RP_ERR_INVALID,
                "target 7 of sample 1 is not a class id in [0, 4)");
    expect_fail("focal", 2, s2, bad, RP_ERR_INVALID, "target 7 of sample 1");
    int32_t ok[3] = {0, 1, 2};
    expect_fail("{cross_entropy: {weights: [1, 2]}}", 2, s2, ok, RP_ERR_INVALID,
                "2 class weights given but the model outputs 4 classes");
    expect_fail("pixel_cross_entropy", 2, s2, ok, RP_ERR_INVALID,
                "expects per-pixel logits [N, C, H, W], got [3, 4]");
    int64_t s4[4] = {1, 3, 2, 2};
    int32_t px[4] = {0, 1, 9, 2};
    expect_fail("{pixel_cross_entropy: {ignore_index: 255}}", 4, s4, px, RP_ERR_INVALID,
                "target 9 of sample 0 at pixel 2 is not a class id in [0, 3) nor ignore_index 255");
    int64_t s1[2] = {3, 1};
    expect_fail("complement_flatten", 2, s1, ok, RP_ERR_INVALID, "needs at least 2 classes");
    int64_t s3[3] = {3, 4, 2};
    expect_fail("cross_entropy", 3, s3, ok, RP_ERR_INVALID, "[N, C] or [N, C, H, W], got [3, 4, 2]");

    /* NaN logits: a numeric error naming the loss */
    rp_loss *l = make_loss("cross_entropy");
    rp_tensor *x = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_tensor_new(&x, 2, s2, &err), &err);
    x->data[5] = NAN;
    double v;
    assert_int_equal(rp_loss_compute(l, x, ok, &v, NULL, &err), RP_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "loss 'cross_entropy' is NaN"));
    /* gradient buffer of the wrong shape */
    rp_tensor *d = NULL;
    RP_ASSERT_OK(rp_tensor_new2(&d, 3, 5, &err), &err);
    assert_int_equal(rp_loss_compute(l, x, ok, &v, d, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "gradient buffer [3, 5] does not match logits [3, 4]"));
    rp_tensor_free(d);
    rp_tensor_free(x);
    rp_loss_free(l);
}

static void test_bad_specs(void **state) {
    (void)state;
    const char *specs[][2] = {
        {"focl", "focal"},                                   /* did-you-mean from the registry */
        {"{cross_entropy: {label_smoothing: 1.5}}", "label_smoothing"},
        {"{focal: {gamma: -1}}", "gamma"},
        {"{sum: {terms: [{cross_entropy: {}}, {focl: {}}]}}", "focal"},
        {"{cross_entropy: {weights: [1, -2]}}", "weights"},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        rp_error err;
        rp_error_clear(&err);
        rp_node *spec = NULL;
        RP_ASSERT_OK(rp_node_parse_string(specs[i][0], "spec.yaml", &spec, &err), &err);
        rp_loss *l = NULL;
        int rc = rp_loss_new(spec, &l, &err);
        if (rc == RP_OK) fail_msg("'%s' was accepted", specs[i][0]);
        assert_null(l);
        if (!strstr(err.msg, specs[i][1]))
            fail_msg("'%s': message '%s' lacks '%s'", specs[i][0], err.msg, specs[i][1]);
        assert_string_equal(err.file, "spec.yaml");
        assert_true(err.line >= 1);
        rp_node_free(spec);
    }
}

/* All targets ignored: loss 0 and zero gradient (PyTorch gives NaN). */
static void test_all_ignored(void **state) {
    (void)state;
    const char *specs[] = {"{cross_entropy: {ignore_index: -1}}", "{focal: {ignore_index: -1}}",
                           "{complement_flatten: {ignore_index: -1}}", "{dice: {ignore_index: -1}}"};
    for (size_t i = 0; i < 4; i++) {
        rp_loss *l = make_loss(specs[i]);
        rp_tensor *x = NULL, *d = NULL;
        rp_error err;
        RP_ASSERT_OK(rp_tensor_new2(&x, 2, 3, &err), &err);
        RP_ASSERT_OK(rp_tensor_new2(&d, 2, 3, &err), &err);
        x->data[0] = 1;
        rp_tensor_fill(d, 5);
        int32_t t[2] = {-1, -1};
        double v = 1;
        RP_ASSERT_OK(rp_loss_compute(l, x, t, &v, d, &err), &err);
        assert_true(v == 0);
        for (int j = 0; j < 6; j++) assert_true(d->data[j] == 0);
        rp_tensor_free(x);
        rp_tensor_free(d);
        rp_loss_free(l);
    }
}

/* Huge logits: every loss stays finite, gradients finite; for the losses
 * built on a softmax over all classes each row of the gradient sums to 0
 * (softmax is shift-invariant). */
static void test_extreme_logits(void **state) {
    (void)state;
    const char *specs[] = {"cross_entropy", "{cross_entropy: {label_smoothing: 0.1}}",
                           "{focal: {gamma: 0.5}}", "{focal: {gamma: 2}}", "complement_flatten",
                           "dice"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        rp_loss *l = make_loss(specs[i]);
        rp_tensor *x = NULL, *d = NULL;
        rp_error err;
        RP_ASSERT_OK(rp_tensor_new2(&x, 4, 3, &err), &err);
        RP_ASSERT_OK(rp_tensor_new2(&d, 4, 3, &err), &err);
        const float v[12] = {1e4f, -1e4f, 0, -3e4f, 3e4f, 1, 0, 0, 0, 88.7f, -88.7f, 1e-30f};
        memcpy(x->data, v, sizeof v);
        int32_t t[4] = {0, 0, 2, 1}; /* a confident hit, a confident miss, ties, ... */
        double loss;
        RP_ASSERT_OK(rp_loss_compute(l, x, t, &loss, d, &err), &err);
        if (!isfinite(loss)) fail_msg("%s: loss %g", specs[i], loss);
        for (int r = 0; r < 4; r++) {
            double sum = 0;
            for (int k = 0; k < 3; k++) {
                if (!isfinite(d->data[r * 3 + k])) fail_msg("%s: gradient not finite", specs[i]);
                sum += d->data[r * 3 + k];
            }
            if (fabs(sum) > 1e-6) fail_msg("%s: row %d of the gradient sums to %g", specs[i], r, sum);
        }
        rp_tensor_free(x);
        rp_tensor_free(d);
        rp_loss_free(l);
    }
}

/* Same loss and gradient bit for bit whatever the number of threads
 * (DESIGN §8): blocks are fixed and partial sums are added in block order. */
static void test_thread_independence(void **state) {
    (void)state;
    const char *specs[] = {"{pixel_cross_entropy: {label_smoothing: 0.1, ignore_index: 255}}",
                           "{focal: {gamma: 2}}", "complement_flatten", "dice",
                           "{sum: {terms: [pixel_cross_entropy, {dice: {weight: 0.5}}]}}"};
    int64_t shape[4] = {4, 5, 48, 40}; /* above the parallel threshold */
    rp_error err;
    rp_tensor *x = NULL;
    RP_ASSERT_OK(rp_tensor_new(&x, 4, shape, &err), &err);
    int32_t *t = malloc(sizeof(int32_t) * 4 * 48 * 40);
    rp_rng r;
    rp_rng_init(&r, 3, 1, 2, 3);
    for (size_t i = 0; i < x->numel; i++) x->data[i] = 3.0f * rp_rng_normal(&r);
    for (int i = 0; i < 4 * 48 * 40; i++) t[i] = i % 17 == 0 ? 255 : (int32_t)rp_rng_below(&r, 5);
    int saved = rp_get_threads();
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        rp_loss *l = make_loss(specs[i]);
        rp_tensor *d1 = NULL, *d3 = NULL;
        RP_ASSERT_OK(rp_tensor_new(&d1, 4, shape, &err), &err);
        RP_ASSERT_OK(rp_tensor_new(&d3, 4, shape, &err), &err);
        int32_t *tt = t;
        int32_t *t2 = NULL;
        if (strstr(specs[i], "255") == NULL) { /* no ignore_index: map 255 to a class */
            t2 = malloc(sizeof(int32_t) * 4 * 48 * 40);
            for (int j = 0; j < 4 * 48 * 40; j++) t2[j] = t[j] == 255 ? 1 : t[j];
            tt = t2;
        }
        double v1, v3;
        rp_set_threads(1);
        RP_ASSERT_OK(rp_loss_compute(l, x, tt, &v1, d1, &err), &err);
        rp_set_threads(3);
        RP_ASSERT_OK(rp_loss_compute(l, x, tt, &v3, d3, &err), &err);
        if (v1 != v3) fail_msg("%s: loss %.17g with 1 thread, %.17g with 3", specs[i], v1, v3);
        if (memcmp(d1->data, d3->data, sizeof(float) * d1->numel) != 0)
            fail_msg("%s: gradient differs between 1 and 3 threads", specs[i]);
        free(t2);
        rp_tensor_free(d1);
        rp_tensor_free(d3);
        rp_loss_free(l);
    }
    rp_set_threads(saved);
    free(t);
    rp_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_every_loss_has_golden),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_catches_error),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_all_ignored),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_thread_independence),
    };
    return cmocka_run_group_tests_name("loss", tests, setup, teardown);
}
