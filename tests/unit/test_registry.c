/* Registry: kinds, built-ins, lookup with "did you mean", duplicates naming
 * both files, component specs, stages of broken plugins. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "host/registry.h"

static void test_kind_names(void **state) {
    (void)state;
    assert_string_equal(rp_component_kind_name(RP_COMP_LOSS), "loss");
    assert_string_equal(rp_component_kind_name(RP_COMP_BATCH_HOOK), "batch_hook");
    assert_string_equal(rp_component_kind_name(99), "component");
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++)
        assert_int_equal(rp_component_kind_parse(rp_component_kind_name(k)), k);
    assert_int_equal(rp_component_kind_parse("losses"), -1);
}

static void test_builtins_registered(void **state) {
    (void)state;
    /* The engine's layers register from constructors before main. */
    assert_true(rp_component_count(RP_COMP_LAYER) > 0);
    const struct rp_component *c = rp_component_find(RP_COMP_LAYER, "conv2d");
    assert_non_null(c);
    assert_string_equal(c->name, "conv2d");
    assert_string_equal(rp_component_origin(RP_COMP_LAYER, "conv2d"), "engine");
    for (size_t i = 0; i < rp_component_count(RP_COMP_LAYER); i++)
        assert_non_null(rp_component_at(RP_COMP_LAYER, i));
    assert_null(rp_component_at(RP_COMP_LAYER, rp_component_count(RP_COMP_LAYER)));
    const char *const *probs;
    assert_int_equal(rp_registry_builtin_problems(&probs), 0);
}

static void test_lookup_did_you_mean(void **state) {
    (void)state;
    rp_node *n = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_node_parse_string("layer: conv2 \n", "t.yaml", &n, &err), &err);
    const struct rp_component *c = (void *)1;
    assert_int_equal(rp_component_lookup(RP_COMP_LAYER, "conv2", rp_node_get(n, "layer"), &c, &err),
                     RP_ERR_NOTFOUND);
    assert_null(c);
    assert_string_equal(err.msg, "unknown layer 'conv2' (did you mean 'conv2d'?)");
    assert_string_equal(err.file, "t.yaml");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 8);
    rp_error_clear(&err);
    assert_int_equal(rp_component_lookup(RP_COMP_BATCH_HOOK, "zzzzzzzz", NULL, &c, &err),
                     RP_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "unknown batch_hook 'zzzzzzzz'"));
    assert_int_equal(rp_component_lookup(RP_COMP_LAYER, "conv2d", NULL, &c, &err), RP_OK);
    assert_non_null(c);
    rp_node_free(n);
}

static const int impl_a = 1, impl_b = 2;
static const struct rp_component comp_a = {RP_COMP_LOSS, "fx_dup_loss", "a", &impl_a};
static const struct rp_component comp_b = {RP_COMP_LOSS, "fx_dup_loss", "b", &impl_b};
static const struct rp_component comp_conv = {RP_COMP_LAYER, "conv2d", "x", &impl_b};

/* A second definition of a name (from another plugin, or of a built-in)
 * keeps the first and is recorded as a conflict naming both files; the
 * pipeline check refuses it unless `plugins.override` lists it. */
static void test_duplicates_name_both(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_registry_add_component(&comp_a, "one", "/p/one.so", &err), &err);
    RP_ASSERT_OK(rp_registry_add_component(&comp_b, "two", "/p/two.so", &err), &err);
    assert_ptr_equal(rp_component_find(RP_COMP_LOSS, "fx_dup_loss"), &comp_a);
    RP_ASSERT_OK(rp_registry_add_component(&comp_conv, "two", "/p/two.so", &err), &err);
    assert_int_equal(rp_registry_conflict_count(), 2);
    const rp_conflict *c = rp_registry_conflict_at(0);
    assert_string_equal(c->what, "loss");
    assert_string_equal(c->name, "fx_dup_loss");
    assert_string_equal(c->kept, "/p/one.so");
    assert_string_equal(c->dropped, "/p/two.so");
    c = rp_registry_conflict_at(1);
    assert_string_equal(c->what, "layer");
    assert_string_equal(c->kept, "librunpipe.so");
    assert_ptr_not_equal(rp_component_find(RP_COMP_LAYER, "conv2d"), &comp_conv);
    /* removing a plugin forgets its conflicts */
    rp_registry_remove_from("/p/two.so");
    assert_int_equal(rp_registry_conflict_count(), 0);
    rp_registry_remove_from("/p/one.so");
    assert_null(rp_component_find(RP_COMP_LOSS, "fx_dup_loss"));
    assert_non_null(rp_component_find(RP_COMP_LAYER, "conv2d"));
}

static int run_nothing(rp_stage *st, rp_error *err) {
    (void)st;
    (void)err;
    return RP_OK;
}
static const struct rp_stage_def sdef = {"fx.reg", "x", NULL, 0, NULL, 0, run_nothing, 0, NULL};

static void test_stages_and_broken(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_registry_add_stage(&sdef, "p1", "/p/p1.so", &err), &err);
    RP_ASSERT_OK(rp_registry_add_stage(&sdef, "p2", "/p/p2.so", &err), &err);
    assert_int_equal(rp_registry_conflict_count(), 1);
    assert_string_equal(rp_registry_conflict_at(0)->dropped, "/p/p2.so");
    const rp_stage_entry *e = NULL;
    RP_ASSERT_OK(rp_registry_stage_lookup("fx.reg", NULL, &e, &err), &err);
    assert_string_equal(e->plugin, "p1");
    assert_int_equal(rp_registry_stage_lookup("fx.rge", NULL, &e, &err), RP_ERR_NOTFOUND);
    assert_string_equal(err.msg, "unknown stage 'fx.rge' (did you mean 'fx.reg'?)");
    /* A broken plugin that declared fx.gone: its error is reported. */
    rp_plugin_rec *r = rp_registry_new_plugin("/p/broken.so");
    assert_non_null(r);
    r->stage_names = calloc(1, sizeof(char *));
    r->stage_names[0] = strdup("fx.gone");
    r->n_stage_names = 1;
    snprintf(r->err.msg, sizeof r->err.msg, "plugin /p/broken.so: ABI version mismatch");
    assert_int_equal(rp_registry_stage_lookup("fx.gone", NULL, &e, &err), RP_ERR_PLUGIN);
    assert_string_equal(err.msg, "stage 'fx.gone' is provided by plugin /p/broken.so, which failed "
                                 "to load: plugin /p/broken.so: ABI version mismatch");
    assert_int_equal(rp_registry_stage_lookup("qqqqqqqqqq", NULL, &e, &err), RP_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "1 plugin failed to load (broken.so)"));
    rp_plugins_unload_all();
    assert_int_equal(rp_registry_stage_count(), 0);
    assert_int_equal(rp_registry_plugin_count(), 0);
    assert_non_null(rp_component_find(RP_COMP_LAYER, "conv2d")); /* built-ins stay */
}

static void test_component_spec(void **state) {
    (void)state;
    rp_node *n = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_node_parse_string("a: focal\n"
                                      "b: {focal: {gamma: 2}}\n"
                                      "c: {focal: }\n"
                                      "d: [x]\n"
                                      "e: {x: 1, y: 2}\n"
                                      "f: {x: 3}\n",
                                      "s.yaml", &n, &err),
                 &err);
    const char *name;
    const rp_node *params;
    RP_ASSERT_OK(rp_component_spec(rp_node_get(n, "a"), &name, &params, &err), &err);
    assert_string_equal(name, "focal");
    assert_null(params);
    RP_ASSERT_OK(rp_component_spec(rp_node_get(n, "b"), &name, &params, &err), &err);
    assert_string_equal(name, "focal");
    assert_int_equal(rp_param_int(params, "gamma"), 2);
    RP_ASSERT_OK(rp_component_spec(rp_node_get(n, "c"), &name, &params, &err), &err);
    assert_null(params);
    assert_int_equal(rp_component_spec(rp_node_get(n, "d"), &name, &params, &err), RP_ERR_INVALID);
    assert_int_equal(err.line, 4);
    assert_int_equal(rp_component_spec(rp_node_get(n, "e"), &name, &params, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "several keys"));
    assert_int_equal(rp_component_spec(rp_node_get(n, "f"), &name, &params, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "parameters of 'x': expected a map, got a scalar");
    rp_node_free(n);
}

static void test_suggest(void **state) {
    (void)state;
    assert_int_equal(rp_edit_distance("kitten", "sitting", 10), 3);
    assert_int_equal(rp_edit_distance("", "abc", 10), 3);
    assert_int_equal(rp_edit_distance("abcdef", "zzzzzz", 2), 3); /* capped */
    const char *c[] = {"train", "test", "val"};
    assert_string_equal(rp_suggest("trian", c, 3), "train");
    assert_string_equal(rp_suggest("tst", c, 3), "test");
    assert_null(rp_suggest("model", c, 3));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),         cmocka_unit_test(test_builtins_registered),
        cmocka_unit_test(test_lookup_did_you_mean), cmocka_unit_test(test_duplicates_name_both),
        cmocka_unit_test(test_stages_and_broken),  cmocka_unit_test(test_component_spec),
        cmocka_unit_test(test_suggest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
