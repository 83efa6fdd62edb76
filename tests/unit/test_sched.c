/* LR schedulers against torch.optim.lr_scheduler 1.13 (fixture
 * sched.safetensors, tests/golden/make_sched.py): the learning rate of 30
 * epochs for every scheduler (ReduceLROnPlateau fed a fixed metric sequence),
 * with a save/restore in the middle; fractional schedule points ("80%") and
 * PyTorch's meaning of plain numbers (cosine T_max 1 and 2.5). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

static rp_st fx;

static void run_case(const char *name, const char *spec_text) {
    rp_error err;
    char key[128];
    snprintf(key, sizeof key, "sched.%s.lr", name);
    const rp_tensor *ref = rp_st_get(&fx, key);
    const rp_tensor *metric = rp_st_get(&fx, "sched.metric");
    assert_non_null(ref);
    assert_non_null(metric);
    /* F64 fixtures arrive as float: compare to float precision */
    rp_node *spec, *ospec;
    RP_ASSERT_OK(rp_node_parse_string(spec_text, name, &spec, &err), &err);
    RP_ASSERT_OK(rp_node_parse_string("{sgd: {lr: 0.1}}", "<o>", &ospec, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(2, 1, 1, &m, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: 1}"), &err);
    rp_optimizer *o;
    RP_ASSERT_OK(rp_optimizer_new(ospec, m, &o, &err), &err);
    rp_scheduler *s;
    RP_ASSERT_OK(rp_scheduler_new(spec, o, (int64_t)ref->numel, 1, &s, &err), &err);
    assert_false(rp_scheduler_per_batch(s));
    for (size_t e = 0; e < ref->numel; e++) {
        double lr = rp_optimizer_lr(o);
        if (fabs(lr - ref->data[e]) > 1e-6 * fabs(ref->data[e]) + 1e-12)
            fail_msg("%s epoch %zu: lr %.10g, torch %.10g", name, e, lr, (double)ref->data[e]);
        rp_scheduler_step(s, metric->data[e]);
        if (e == 12) { /* checkpoint and resume */
            rp_st st = {0};
            RP_ASSERT_OK(rp_scheduler_save(s, &st, &err), &err);
            double cur = rp_optimizer_lr(o);
            rp_scheduler_free(s);
            rp_optimizer_set_lr(o, 0.1);
            RP_ASSERT_OK(rp_scheduler_new(spec, o, (int64_t)ref->numel, 1, &s, &err), &err);
            RP_ASSERT_OK(rp_scheduler_load(s, &st, &err), &err);
            rp_optimizer_set_lr(o, cur); /* the optimizer state restores its lr */
            rp_st_release(&st);
        }
    }
    rp_scheduler_free(s);
    rp_optimizer_free(o);
    rp_model_free(m);
    rp_node_free(spec);
    rp_node_free(ospec);
}

static void test_vs_torch(void **state) {
    (void)state;
    int n = 0;
    for (size_t i = 0; i < fx.n_meta; i++)
        if (!strncmp(fx.meta_keys[i], "sched.", 6) && strcmp(fx.meta_keys[i], "sched.epochs")) {
            run_case(fx.meta_keys[i] + 6, fx.meta_vals[i]);
            n++;
        }
    assert_true(n >= 17);
}

static void test_per_batch_and_fraction(void **state) {
    (void)state;
    rp_error err;
    rp_node *spec, *ospec;
    RP_ASSERT_OK(rp_node_parse_string("{cosine: {T_max: '100%', interval: batch}}", "<s>", &spec, &err), &err);
    RP_ASSERT_OK(rp_node_parse_string("{adam: {lr: 0.01}}", "<o>", &ospec, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(2, 1, 1, &m, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    rp_optimizer *o;
    RP_ASSERT_OK(rp_optimizer_new(ospec, m, &o, &err), &err);
    rp_scheduler *s;
    RP_ASSERT_OK(rp_scheduler_new(spec, o, 3, 10, &s, &err), &err);
    assert_true(rp_scheduler_per_batch(s));
    for (int i = 0; i < 15; i++) rp_scheduler_step(s, NAN);
    /* T_max = all 30 batches: half-way the rate is half the base */
    assert_true(fabs(rp_optimizer_lr(o) - 0.005) < 1e-9);
    for (int i = 0; i < 15; i++) rp_scheduler_step(s, NAN);
    assert_true(fabs(rp_optimizer_lr(o)) < 1e-9);
    rp_scheduler_free(s);
    rp_node_free(spec);
    RP_ASSERT_OK(rp_node_parse_string("{multistep: {gamma: 0.5}}", "<s>", &spec, &err), &err);
    assert_int_not_equal(rp_scheduler_new(spec, o, 3, 10, &s, &err), RP_OK);
    assert_non_null(strstr(err.msg, "milestones"));
    rp_node_free(spec);
    rp_node_free(ospec);
    rp_optimizer_free(o);
    rp_model_free(m);
}

/* A bad schedule point names the option and what is expected. */
static void test_bad_points(void **state) {
    (void)state;
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"{cosine: {T_max: '80'}}", "'80' does not match the pattern"},
        {"{cosine: {T_max: 0}}", "0 must be greater than 0"},
        {"{multistep: {milestones: ['80 %']}}", "does not match the pattern"},
        {"{step: {step_size: 2.5}}", "step_size"},
        {"{cosine: {T_max: '0%'}}", "T_max must be > 0"},
    };
    rp_error err;
    rp_node *ospec;
    RP_ASSERT_OK(rp_node_parse_string("{sgd: {lr: 0.1}}", "<o>", &ospec, &err), &err);
    rp_model *m;
    RP_ASSERT_OK(rp_model_new(2, 1, 1, &m, &err), &err);
    RP_ASSERT_OK(rp_model_add(m, "flat", "flatten", NULL, NULL, 0, &err), &err);
    rp_optimizer *o;
    RP_ASSERT_OK(rp_optimizer_new(ospec, m, &o, &err), &err);
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        rp_node *spec;
        rp_scheduler *s = NULL;
        RP_ASSERT_OK(rp_node_parse_string(cases[i].spec, "bad.yaml", &spec, &err), &err);
        rp_error_clear(&err);
        assert_int_not_equal(rp_scheduler_new(spec, o, 30, 1, &s, &err), RP_OK);
        if (!strstr(err.msg, cases[i].msg)) fail_msg("%s: got '%s'", cases[i].spec, err.msg);
        assert_null(s);
        rp_node_free(spec);
    }
    rp_optimizer_free(o);
    rp_model_free(m);
    rp_node_free(ospec);
}

static int setup(void **state) {
    (void)state;
    rp_error err;
    rp_schema_dirs_init();
    RP_ASSERT_OK(rp_st_load(rp_test_path(rp_test_src(), "tests/golden/data/sched.safetensors"), &fx, &err), &err);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rp_st_release(&fx);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_torch),
        cmocka_unit_test(test_per_batch_and_fraction),
        cmocka_unit_test(test_bad_points),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
