/* Conversion search internals on hand-built models:
 *   - units: a batch norm moves with the layer before it;
 *   - a teacher / target / donor triple where the best subset is known
 *     ({fc}: the target with the donor's fc is the teacher itself), the
 *     batch-norm rule visible in the scores, and the incremental (prefix
 *     reuse) scores equal to re-evaluating every candidate from scratch;
 *   - cumulative rows and columns, incremental vs from scratch: outputs
 *     within 1e-5 and identical correct counts, for the output layer
 *     (rank-1 logit updates), a hidden dense layer and conv filters with
 *     their batch norm;
 *   - donor mismatch messages (class count, shapes, layers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness.h"
#include "../../../plugins/convert/convert.h"
#include "config/schema.h" /* engine-internal: rp_schema_dirs_init */

static void fill(rp_tensor *t, uint64_t seed, double lo, double hi) {
    rp_rng r;
    rp_rng_init(&r, seed, 5, 6, 7);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)rp_rng_range(&r, lo, hi);
}

/* conv c1 (+ bn1) -> relu -> pool -> conv c2 -> relu -> flatten -> fc */
static rp_model *small_cnn(uint64_t seed) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(1, 8, 8, &m, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c1", "conv2d", NULL, 0, &err, "{out: 4, kernel: 3}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "bn1", "batchnorm2d", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "r1", "relu", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "p1", "maxpool2d", NULL, 0, &err, "{kernel: 2}"), &err);
    RP_ASSERT_OK(rp_model_addf(m, "c2", "conv2d", NULL, 0, &err, "{out: 6, kernel: 2}"), &err);
    RP_ASSERT_OK(rp_model_add(m, "r2", "relu", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 5}"), &err);
    RP_ASSERT_OK(rp_model_init_params(m, seed, &err), &err);
    /* running statistics away from the defaults, so batch norm matters */
    fill(rp_model_find_param(m, "bn1.running_mean")->value, seed + 1, -0.3, 0.3);
    fill(rp_model_find_param(m, "bn1.running_var")->value, seed + 2, 0.5, 2.0);
    return m;
}

static void copy_param(rp_model *dst, const rp_model *src, const char *name) {
    rp_param *d = rp_model_find_param(dst, name);
    const rp_param *s = rp_model_find_param((rp_model *)src, name);
    memcpy(d->value->data, s->value->data, d->value->numel * sizeof(float));
}

/* n random images labelled by the teacher's argmax. */
static void make_set(rp_model *teacher, const char *name, int64_t n, uint64_t seed, cv_set *s) {
    rp_error err;
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    int c, h, w;
    rp_model_input_shape(teacher, &c, &h, &w);
    RP_ASSERT_OK(rp_tensor_new4(&s->x, n, c, h, w, &err), &err);
    fill(s->x, seed, 0, 1);
    s->y = malloc((size_t)n * sizeof *s->y);
    s->n = n;
    const rp_tensor *y;
    rp_model_set_training(teacher, 0);
    RP_ASSERT_OK(rp_model_forward(teacher, s->x, &y, &err), &err);
    int k = (int)y->shape[1];
    for (int64_t i = 0; i < n; i++) s->y[i] = cv_argmax(y->data + i * k, k);
}

static long find_mask(const cv_round *r, uint64_t mask) {
    for (size_t i = 0; i < r->n_cands; i++)
        if (r->cands[i].mask == mask) return (long)i;
    return -1;
}

static void test_units_batchnorm_rule(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = small_cnn(3);
    cv_units u;
    RP_ASSERT_OK(cv_units_find(m, &u, &err), &err);
    assert_int_equal(u.n, 3);
    assert_string_equal(u.u[0].name, "c1");
    assert_int_equal(u.u[0].n_nodes, 2); /* c1 and bn1 */
    assert_string_equal(rp_model_node_name(m, (size_t)u.u[0].nodes[1]), "bn1");
    assert_string_equal(u.u[1].name, "c2");
    assert_string_equal(u.u[2].name, "fc");
    assert_int_equal(cv_unit_of_node(&u, 1), 0);
    assert_int_equal(cv_unit_of_node(&u, 2), -1); /* relu */
    assert_true(cv_pattern_match("c*", "c2"));
    assert_true(cv_pattern_match("layer1", "layer1.0.conv1"));
    assert_false(cv_pattern_match("c", "c1"));
    cv_units_release(&u);
    rp_model_free(m);
}

/* teacher T; target = T with a corrupted fc; donor = T with corrupted bn1
 * running statistics (part of unit c1). Moving {fc} gives T (score 1). */
static void test_known_best_subset(void **state) {
    (void)state;
    rp_error err;
    rp_model *teacher = small_cnn(11), *target, *donor, *junk = small_cnn(99);
    RP_ASSERT_OK(rp_model_clone(teacher, &target, &err), &err);
    RP_ASSERT_OK(rp_model_clone(teacher, &donor, &err), &err);
    copy_param(target, junk, "fc.weight");
    copy_param(target, junk, "fc.bias");
    copy_param(donor, junk, "bn1.running_mean");
    copy_param(donor, junk, "bn1.running_var");
    cv_set sets[2];
    make_set(teacher, "a", 300, 1, &sets[0]);
    make_set(teacher, "b", 200, 2, &sets[1]);
    cv_units u;
    RP_ASSERT_OK(cv_units_find(target, &u, &err), &err);
    cv_round r[2];
    int64_t *correct[2];
    for (int pass = 0; pass < 2; pass++) {
        memset(&r[pass], 0, sizeof r[pass]);
        r[pass].kind = CV_LAYERS;
        r[pass].donor = donor;
        r[pass].donor_name = strdup("donor");
        r[pass].n_units = 3;
        for (int i = 0; i < 3; i++) r[pass].units[i] = i;
        uint64_t count;
        RP_ASSERT_OK(cv_round_enumerate(&r[pass], &u, target, 1, &count, &err), &err);
        assert_int_equal(count, 6); /* 3 + 3; the full swap is the donor */
        RP_ASSERT_OK(cv_round_enumerate(&r[pass], &u, target, 0, &count, &err), &err);
        assert_int_equal(r[pass].n_cands, 6);
        assert_true(r[pass].full_swap_excluded);
        cv_opts o = {NULL, 64, pass == 0, NULL, NULL};
        RP_ASSERT_OK(cv_round_search(target, &u, &r[pass], sets, 2, &o, &err), &err);
        correct[pass] = NULL;
    }
    (void)correct;
    const cv_round *f = &r[0];
    char lab[256];
    assert_true(f->best >= 0);
    assert_string_equal(cv_cand_label(&u, f, &f->cands[f->best], lab, sizeof lab), "fc");
    assert_true(fabs(f->cands[f->best].score - 1.0) < 1e-12);
    assert_true(f->base_score < 0.9);
    /* {c2, fc} is the teacher too (c2 is the same in both); {c1, fc} is not:
     * bn1 moved with c1 */
    long c2fc = find_mask(f, 6), c1fc = find_mask(f, 5);
    assert_true(fabs(f->cands[c2fc].score - 1.0) < 1e-12);
    assert_true(f->cands[c1fc].score < 1.0);
    /* incremental == from scratch, candidate by candidate */
    for (size_t i = 0; i < f->n_cands; i++)
        for (int s = 0; s < 2; s++)
            assert_int_equal(f->cands[i].correct[s], r[1].cands[i].correct[s]);
    assert_int_equal(f->best, r[1].best);
    /* applying the winner gives the teacher's parameters */
    rp_model *conv;
    RP_ASSERT_OK(rp_model_clone(target, &conv, &err), &err);
    RP_ASSERT_OK(cv_apply(conv, &u, f, &f->cands[f->best], &err), &err);
    for (size_t i = 0; i < rp_model_num_params(conv); i++) {
        const rp_param *p = rp_model_param(conv, i);
        const rp_param *q = rp_model_find_param(teacher, p->name);
        assert_memory_equal(p->value->data, q->value->data, p->value->numel * sizeof(float));
    }
    rp_model_free(conv);
    for (int pass = 0; pass < 2; pass++) cv_round_release(&r[pass]);
    for (int s = 0; s < 2; s++) cv_set_release(&sets[s]);
    cv_units_release(&u);
    rp_model_free(teacher);
    rp_model_free(target);
    rp_model_free(donor);
    rp_model_free(junk);
}

/* Outputs each candidate produced, per pass, gathered by the observer. */
typedef struct gather {
    float *buf;      /* [cands][sets][rows][classes] */
    int64_t rows, classes;
    size_t n_sets;
} gather;

static void observe(void *ctx, size_t cand, size_t set, int64_t row0, const rp_tensor *out) {
    gather *g = ctx;
    float *dst = g->buf + ((cand * g->n_sets + set) * (size_t)g->rows + (size_t)row0) * (size_t)g->classes;
    memcpy(dst, out->data, out->numel * sizeof(float));
}

static void sweep_case(rp_model *target, rp_model *donor, const char *layer, int kind,
                       int64_t step, int64_t expect_rows) {
    rp_error err;
    cv_set sets[2];
    make_set(donor, "a", 150, 21, &sets[0]);
    make_set(target, "b", 130, 22, &sets[1]);
    cv_units u;
    RP_ASSERT_OK(cv_units_find(target, &u, &err), &err);
    int unit = -1;
    for (size_t i = 0; i < u.n; i++)
        if (!strcmp(u.u[i].name, layer)) unit = (int)i;
    assert_true(unit >= 0);
    cv_round r[3];
    gather g[2];
    for (int pass = 0; pass < 3; pass++) {
        memset(&r[pass], 0, sizeof r[pass]);
        r[pass].kind = kind;
        r[pass].donor = donor;
        r[pass].donor_name = strdup("donor");
        r[pass].units[0] = unit;
        r[pass].n_units = 1;
        r[pass].step = step;
        uint64_t count;
        RP_ASSERT_OK(cv_round_enumerate(&r[pass], &u, target, 0, &count, &err), &err);
        assert_int_equal(r[pass].n_rows, expect_rows);
        assert_int_equal(r[pass].cands[r[pass].n_cands - 1].k, expect_rows);
        /* pass 0: incremental, observed; 1: from scratch, observed; 2: incremental, fast path */
        cv_opts o = {NULL, 48, pass != 1, NULL, NULL};
        if (pass < 2) {
            g[pass].rows = 150;
            g[pass].classes = rp_model_num_classes(target);
            g[pass].n_sets = 2;
            g[pass].buf = calloc(r[pass].n_cands * 2 * 150 * (size_t)g[pass].classes, sizeof(float));
            o.observe = observe;
            o.observe_ctx = &g[pass];
        }
        RP_ASSERT_OK(cv_round_search(target, &u, &r[pass], sets, 2, &o, &err), &err);
    }
    size_t n = r[0].n_cands * 2 * 150 * (size_t)g[0].classes;
    rp_test_close(g[0].buf, g[1].buf, n, 1e-5, 1e-5, layer);
    for (size_t i = 0; i < r[0].n_cands; i++)
        for (int s = 0; s < 2; s++) {
            assert_int_equal(r[0].cands[i].correct[s], r[1].cands[i].correct[s]);
            assert_int_equal(r[2].cands[i].correct[s], r[1].cands[i].correct[s]);
        }
    /* the last candidate moves every row / column: for rows of the only
     * changed layer that equals applying it; check against cv_apply */
    rp_model *m;
    RP_ASSERT_OK(rp_model_clone(target, &m, &err), &err);
    const cv_cand *last = &r[0].cands[r[0].n_cands - 1];
    RP_ASSERT_OK(cv_apply(m, &u, &r[0], last, &err), &err);
    int64_t c2[2];
    RP_ASSERT_OK(cv_count_correct(m, sets, 2, 64, c2, NULL, NULL, 0, &err), &err);
    assert_int_equal(c2[0], last->correct[0]);
    assert_int_equal(c2[1], last->correct[1]);
    rp_model_free(m);
    for (int pass = 0; pass < 3; pass++) cv_round_release(&r[pass]);
    free(g[0].buf);
    free(g[1].buf);
    for (int s = 0; s < 2; s++) cv_set_release(&sets[s]);
    cv_units_release(&u);
}

static void test_rows_columns_incremental(void **state) {
    (void)state;
    rp_model *t = small_cnn(31), *d = small_cnn(32);
    sweep_case(t, d, "fc", CV_COLUMNS, 1, 24);  /* output layer: rank-1 logit updates */
    sweep_case(t, d, "fc", CV_COLUMNS, 7, 24);  /* step 7: 7, 14, 21, 24 */
    sweep_case(t, d, "fc", CV_ROWS, 1, 5);
    sweep_case(t, d, "c1", CV_ROWS, 1, 4);      /* filters with their bn1 channels */
    sweep_case(t, d, "c2", CV_ROWS, 2, 6);
    rp_model_free(t);
    rp_model_free(d);
    /* a hidden dense layer: the layers after it run per candidate */
    rp_error err;
    rp_model *a, *b;
    const char *mlp = "[flatten, {linear: {out: 12}, name: h}, relu, {linear: {out: 3}, name: o}]";
    rp_node *ln;
    RP_ASSERT_OK(rp_node_parse_string(mlp, "mlp", &ln, &err), &err);
    RP_ASSERT_OK(rp_model_from_layers(ln, 1, 4, 4, &a, &err), &err);
    RP_ASSERT_OK(rp_model_from_layers(ln, 1, 4, 4, &b, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(a, 1, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(b, 2, &err), &err);
    sweep_case(a, b, "h", CV_COLUMNS, 3, 16);
    sweep_case(a, b, "h", CV_ROWS, 1, 12);
    rp_node_free(ln);
    rp_model_free(a);
    rp_model_free(b);
}

static void test_columns_need_dense(void **state) {
    (void)state;
    rp_error err;
    rp_model *t = small_cnn(1);
    cv_units u;
    RP_ASSERT_OK(cv_units_find(t, &u, &err), &err);
    cv_round r;
    memset(&r, 0, sizeof r);
    r.kind = CV_COLUMNS;
    r.donor = t;
    r.units[0] = 0;
    r.n_units = 1;
    r.step = 1;
    uint64_t c;
    assert_int_equal(cv_round_enumerate(&r, &u, t, 1, &c, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "columns apply to a dense weight [out, in]; 'c1' has weight "
                                 "[4, 1, 3, 3] (use unit: rows for a convolution's filters)");
    cv_units_release(&u);
    rp_model_free(t);
}

static void test_donor_mismatch(void **state) {
    (void)state;
    rp_error err;
    rp_model *t, *d;
    RP_ASSERT_OK(rp_model_build("mnist_cnn", NULL, &t, &err), &err);
    rp_node *o5;
    RP_ASSERT_OK(rp_node_parse_string("{classes: 5}", "o", &o5, &err), &err);
    RP_ASSERT_OK(rp_model_build("mnist_cnn", o5, &d, &err), &err);
    RP_ASSERT_OK(cv_check_donor(t, t, "donor 1 ('a')", &err), &err);
    assert_int_equal(cv_check_donor(t, d, "donor 1 ('a')", &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "donor 1 ('a') has 5 classes, the target has 10");
    rp_model_free(d);
    rp_node_free(o5);
    /* same classes, other shapes and one layer more */
    rp_node *ln;
    RP_ASSERT_OK(rp_node_parse_string("[{conv2d: {out: 3, kernel: 3}, name: conv1}, flatten, "
                                      "{linear: {out: 10}, name: fc}]",
                                      "a", &ln, &err),
                 &err);
    rp_model *a, *b;
    RP_ASSERT_OK(rp_model_from_layers(ln, 1, 8, 8, &a, &err), &err);
    rp_node_free(ln);
    RP_ASSERT_OK(rp_node_parse_string("[{conv2d: {out: 4, kernel: 3}, name: conv1}, flatten, "
                                      "{linear: {out: 10}, name: fc}, {linear: {out: 10}, name: "
                                      "fc2}]",
                                      "b", &ln, &err),
                 &err);
    RP_ASSERT_OK(rp_model_from_layers(ln, 1, 8, 8, &b, &err), &err);
    rp_node_free(ln);
    assert_int_equal(cv_check_donor(a, b, "donor 2 ('x.model')", &err), RP_ERR_INVALID);
    assert_string_equal(err.msg,
                        "donor 2 ('x.model') does not match the target's architecture (6 "
                        "differences):\n"
                        "  layer 3: target - (none), donor fc2 (linear)\n"
                        "  parameter 'conv1.weight': target [3, 1, 3, 3], donor [4, 1, 3, 3]\n"
                        "  parameter 'conv1.bias': target [3], donor [4]\n"
                        "  parameter 'fc.weight': target [10, 108], donor [10, 144]\n"
                        "  parameter 'fc2.weight': only in the donor\n"
                        "  parameter 'fc2.bias': only in the donor");
    rp_model_free(a);
    rp_model_free(b);
    rp_model_free(t);
}

int main(void) {
    rp_set_threads(2);
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_batchnorm_rule),
        cmocka_unit_test(test_known_best_subset),
        cmocka_unit_test(test_rows_columns_incremental),
        cmocka_unit_test(test_columns_need_dense),
        cmocka_unit_test(test_donor_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
