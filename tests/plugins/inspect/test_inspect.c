/* inspect plugin: the statistics against hand-computed values, and the
 * inspect.dataset stage run on a tiny in-test dataset (classification and
 * segmentation) through the engine's plan/run. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/diag.h"
#include "../../harness.h"
#include "../../../plugins/inspect/inspect.h"
#include "run/pipeline.h"
#include "host/registry.h"
#include "config/schema.h"

static void test_stats_math(void **state) {
    (void)state;
    inspect_stats s;
    inspect_stats_init(&s);
    rp_tensor *a = NULL, *b = NULL;
    rp_error err;
    int64_t shape[3] = {2, 1, 2};
    RP_ASSERT_OK(rp_tensor_new(&a, 3, shape, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&b, 3, shape, &err), &err);
    /* channel 0: 0, 1 | 1, 2 ; channel 1: 0.5 x4 */
    float av[] = {0, 1, 0.5f, 0.5f}, bv[] = {1, 2, 0.5f, 0.5f};
    memcpy(a->data, av, sizeof av);
    memcpy(b->data, bv, sizeof bv);
    RP_ASSERT_OK(inspect_stats_add(&s, a, &err), &err);
    RP_ASSERT_OK(inspect_stats_add(&s, b, &err), &err);
    double m, sd;
    inspect_stats_result(&s, 0, &m, &sd);
    assert_true(fabs(m - 1.0) < 1e-12);
    assert_true(fabs(sd - sqrt(0.5)) < 1e-12); /* population: mean of (1,0,0,1) */
    inspect_stats_result(&s, 1, &m, &sd);
    assert_true(fabs(m - 0.5) < 1e-12 && sd < 1e-7);
    assert_true(s.min[0] == 0 && s.max[0] == 2);
    /* a 1-channel image after 2-channel ones: error */
    int64_t s1[3] = {1, 1, 2};
    rp_tensor *c = NULL;
    RP_ASSERT_OK(rp_tensor_new(&c, 3, s1, &err), &err);
    assert_int_equal(inspect_stats_add(&s, c, &err), RP_ERR_FORMAT);
    assert_string_equal(err.msg, "images have different channel counts (2, then 1)");
    inspect_stats s2;
    inspect_stats_init(&s2);
    c->data[1] = NAN;
    assert_int_equal(inspect_stats_add(&s2, c, &err), RP_ERR_NUMERIC);
    rp_tensor_free(a);
    rp_tensor_free(b);
    rp_tensor_free(c);
}

/* A 4-sample dataset: sample i is a 1x2x2 image filled with i/4, label
 * i % 2 (0, 1, 0, 1) except sample 3 labelled 1; segmentation variant:
 * mask pixels = i % 3. */
static int tiny_seg;

static int tiny_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                    rp_error *err) {
    (void)ds;
    (void)draw;
    int s = rp_sample_resize(out, 1, 2, 2, err);
    if (s != RP_OK) return s;
    for (int k = 0; k < 4; k++) out->img.data[k] = (float)i / 4.0f;
    out->label = tiny_seg ? -1 : (int32_t)(i % 2);
    out->index = i;
    if (tiny_seg) {
        if ((s = rp_mask_resize(&out->mask, 2, 2, err)) != RP_OK) return s;
        for (int k = 0; k < 4; k++) out->mask.data[k] = (int32_t)(i % 3);
    }
    return RP_OK;
}
static int32_t tiny_label(const rp_dataset *ds, uint64_t i) {
    (void)ds;
    return tiny_seg ? -1 : (int32_t)(i % 2);
}
static void tiny_destroy(rp_dataset *ds) { (void)ds; }
static const struct rp_dataset_ops tiny_ops = {tiny_get, tiny_label, NULL, tiny_destroy};

static int tiny_run(rp_stage *st, rp_error *err) {
    const char *names[] = {"even", "odd", "third"};
    rp_dataset *ds = rp_dataset_new(&tiny_ops, NULL, "tiny", 4, tiny_seg ? 3 : 2, names);
    if (!ds) return rp_error_set(err, RP_ERR_NOMEM, "oom");
    ds->channels = 1;
    ds->height = ds->width = 2;
    ds->task = tiny_seg ? RP_TASK_SEGMENT : RP_TASK_CLASSIFY;
    return rp_stage_output(st, "data", ds, err);
}
static const struct rp_port tiny_out[] = {{"data", RP_ART_DATASET, 0, NULL}};
static const struct rp_stage_def tiny_def = {"fx.tiny", "tiny", NULL, 0, tiny_out, 1, tiny_run, 0, NULL};

static cJSON *run_inspect(const char *with) {
    char text[900];
    snprintf(text, sizeof text,
             "stages:\n  - id: src\n    use: fx.tiny\n  - id: look\n    use: inspect.dataset\n"
             "    in: {data: src}\n    with: %s\n"
             "  - id: show\n    use: inspect.metrics\n    in: {metrics: [look, look.metrics]}\n"
             "    with: {print: false}\n",
             with);
    rp_node *doc = NULL;
    rp_error err;
    RP_ASSERT_OK(rp_node_parse_string(text, "t.yaml", &doc, &err), &err);
    rp_diag d;
    rp_diag_init(&d);
    rp_plan *p = NULL;
    rp_plan_build(doc, &p, &d);
    if (rp_diag_count(&d)) fail_msg("%s", rp_diag_render(&d, 0));
    struct rp_exec_opts o = {.rundir = rp_test_tmpdir(), .seed = 1, .threads = 1};
    rp_run_result r;
    if (rp_plan_run(p, &o, &r) != RP_OK) fail_msg("%s", r.err.msg);
    cJSON *j = cJSON_Parse(r.metrics_json);
    rp_run_result_release(&r);
    rp_plan_free(p);
    rp_diag_release(&d);
    rp_node_free(doc);
    return cJSON_GetObjectItem(j, "look") ? j : NULL;
}

static double sc(cJSON *j, const char *name) {
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "look"), "scalars"),
                                   name);
    if (!v) fail_msg("no scalar %s", name);
    return v->valuedouble;
}

static double cell(cJSON *j, const char *table, int r, int c) {
    cJSON *t = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "look"), "tables"), table);
    return cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "values"), r), c)
        ->valuedouble;
}

static void test_stage_classification(void **state) {
    (void)state;
    tiny_seg = 0;
    cJSON *j = run_inspect("{}");
    assert_non_null(j);
    assert_true(sc(j, "size") == 4 && sc(j, "samples") == 4 && sc(j, "classes") == 2);
    /* values 0, .25, .5, .75 (4 pixels each): mean .375, population std sqrt(.078125) */
    assert_true(fabs(sc(j, "mean.c0") - 0.375) < 1e-9);
    assert_true(fabs(sc(j, "std.c0") - sqrt(0.078125)) < 1e-7);
    assert_true(cell(j, "class_counts", 0, 0) == 2 && cell(j, "class_counts", 1, 0) == 2);
    assert_true(cell(j, "class_counts", 1, 1) == 0.5);
    assert_true(cell(j, "channel_stats", 0, 3) == 0.75); /* max */
    assert_true(sc(j, "imbalance") == 1);
    /* inspect.metrics merged its inputs, prefixed by the source stage */
    cJSON *show = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "show"), "scalars");
    assert_true(cJSON_GetObjectItem(show, "look.mean.c0")->valuedouble ==
                sc(j, "mean.c0"));
    assert_true(cJSON_GetObjectItem(show, "look.samples")->valuedouble == 4);
    cJSON_Delete(j);
    /* first 3 samples, labels only */
    j = run_inspect("{samples: 3, stats: false}");
    assert_true(sc(j, "samples") == 3);
    assert_true(cell(j, "class_counts", 0, 0) == 2 && cell(j, "class_counts", 1, 0) == 1);
    assert_true(sc(j, "imbalance") == 2);
    assert_null(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "look"), "scalars"), "mean.c0"));
    cJSON_Delete(j);
}

static void test_stage_segmentation_counts_pixels(void **state) {
    (void)state;
    tiny_seg = 1;
    cJSON *j = run_inspect("{}");
    /* masks: 0,1,2,0 → class pixels 8, 4, 4 */
    assert_true(cell(j, "class_counts", 0, 0) == 8);
    assert_true(cell(j, "class_counts", 1, 0) == 4);
    assert_true(cell(j, "class_counts", 2, 0) == 4);
    cJSON_Delete(j);
    tiny_seg = 0;
}

const struct rp_plugin_desc *rp_plugin_entry(void);

int main(void) {
    rp_log_set_level(RP_LOG_WARN);
    rp_schema_dirs_init();
    char sd[1200];
    snprintf(sd, sizeof sd, "%s/tests/fixtures/plugins/schemas", rp_test_src());
    rp_schema_add_dir(sd);
    rp_error err;
    const struct rp_plugin_desc *d = rp_plugin_entry();
    for (size_t i = 0; i < d->n_stages; i++)
        if (rp_registry_add_stage(d->stages[i], "inspect", "linked", &err) != RP_OK) return 1;
    if (rp_registry_add_stage(&tiny_def, "test", "test", &err) != RP_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_math),
        cmocka_unit_test(test_stage_classification),
        cmocka_unit_test(test_stage_segmentation_counts_pixels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
