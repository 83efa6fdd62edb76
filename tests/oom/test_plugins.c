/* Allocation-failure sweeps over the plugins (see sweep.h): small pipelines
 * go through the stage executor (plan -> check -> run) with the plugins of
 * $(BUILD)/tests/runpipe/plugins, whose allocations are wrapped like the
 * engine's. The dataset readers (data.idx, data.csv, data.folder,
 * data.cifar10; each read to the end by an evaluate stage), an augment
 * pipeline and evaluate are swept over the run; one full pipeline
 * (data.synthetic -> model.build -> loss -> train -> evaluate) over plan,
 * check and run. Every failing allocation must give an error with a
 * message (or the same result) and leave no block allocated.
 *
 * `make test` tries every allocation of the smaller sweeps and a sample of
 * the larger ones (RP_OOM_STRIDE=N overrides, RP_OOM_FULL=1 or `make
 * oom-full` tries all); RP_OOM_ONLY=<name> runs one sweep. */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "config/diag.h"
#include "host/registry.h"
#include "oom/sweep.h"
#include "run/pipeline.h"

static char T[900];    /* scratch */
static char RUN[1000]; /* T/run: each run's folder, removed after it */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static void rm_run(void) { nftw(RUN, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* metrics.json without wall times (keys "seconds", table columns "seconds"):
 * what a run must reproduce. Transferred; NULL when out of memory. */
static void drop_seconds(cJSON *j) {
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return;
    cJSON_DeleteItemFromObjectCaseSensitive(j, "seconds");
    cJSON *cols = cJSON_GetObjectItemCaseSensitive(j, "columns");
    cJSON *vals = cJSON_GetObjectItemCaseSensitive(j, "values");
    if (cJSON_IsArray(cols) && cJSON_IsArray(vals)) {
        int n = cJSON_GetArraySize(cols);
        for (int c = n - 1; c >= 0; c--) {
            const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(cols, c));
            if (!name || strcmp(name, "seconds")) continue;
            cJSON *row;
            cJSON_ArrayForEach(row, vals) if (cJSON_IsArray(row)) cJSON_DeleteItemFromArray(row, c);
        }
    }
    cJSON *k;
    cJSON_ArrayForEach(k, j) drop_seconds(k);
}

static uint64_t metrics_digest(uint64_t h, const char *json) {
    cJSON *j = cJSON_Parse(json);
    if (!j) return oom_mix(h, "?", 1);
    drop_seconds(j);
    char *t = cJSON_PrintUnformatted(j);
    if (getenv("RP_OOM_SHOW")) printf("  metrics: %s\n", t ? t : "-");
    h = t ? oom_mix(h, t, strlen(t)) : oom_mix(h, "?", 1);
    free(t);
    cJSON_Delete(j);
    return h;
}

/* The pipeline of the op being swept; `whole`: plan and check are swept
 * too, else only the run (they are the config sweep's business). */
static const char *cur_text;
static int cur_whole;

static int run_text(char *msg, size_t n, uint64_t *digest) {
    rp_error err;
    rp_error_clear(&err);
    rp_diag d;
    rp_diag_init(&d);
    rp_node *doc = NULL;
    rp_plan *p = NULL;
    if (!cur_whole) oom_hold(1);
    int rc = rp_node_parse_string(cur_text, "oom.yaml", &doc, &err);
    if (rc) snprintf(msg, n, "%s", err.msg);
    if (!rc && (rc = rp_plan_build(doc, &p, &d)) == RP_OK) rc = rp_plan_check(p, &d);
    if (!rc && rp_diag_count(&d)) rc = RP_ERR_INVALID;
    if (rc && d.n) snprintf(msg, n, "%s", d.e[0].msg[0] ? d.e[0].msg : "(empty diagnostic)");
    else if (rc && !msg[0]) snprintf(msg, n, "plan failed without a diagnostic (status %d)", rc);
    oom_hold(1);
    rm_run();
    mkdir(RUN, 0777);
    if (!cur_whole || !rc) oom_hold(0);
    rp_run_result res;
    memset(&res, 0, sizeof res);
    if (!rc) {
        struct rp_exec_opts o = {.rundir = RUN, .root = RUN, .seed = 7, .threads = 1};
        rc = rp_plan_run(p, &o, &res);
        if (rc) snprintf(msg, n, "%s", res.err.msg);
    }
    if (!rc) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < res.n; i++) {
            const rp_stage_result *s = &res.st[i];
            h = oom_mix(h, s->id, strlen(s->id) + 1);
            h = oom_mix(h, &s->ran, sizeof s->ran);
            for (size_t k = 0; k < s->n_notes; k++) {
                if (getenv("RP_OOM_SHOW")) printf("  %s.%s = %.17g\n", s->id, s->note_keys[k], s->note_vals[k]);
                h = oom_mix(h, s->note_keys[k], strlen(s->note_keys[k]) + 1);
                h = oom_mix(h, &s->note_vals[k], sizeof s->note_vals[k]);
            }
        }
        if (res.metrics_json) {
            oom_hold(1); /* (the test's own parsing) */
            h = metrics_digest(h, res.metrics_json);
            oom_hold(0);
        }
        *digest = h;
    }
    rp_run_result_release(&res);
    rp_plan_free(p);
    rp_diag_release(&d);
    rp_node_free(doc);
    oom_hold(1);
    rm_run();
    oom_hold(0);
    return rc;
}

/* The stride of `make test` for a sweep; RP_OOM_STRIDE overrides. */
static long stride_of(long dflt) {
    const char *s = getenv("RP_OOM_STRIDE");
    return s ? atol(s) : dflt;
}

static void sweep_text(const char *name, const char *what, const char *text, int whole, long stride) {
    const char *only = getenv("RP_OOM_ONLY");
    if (only && strcmp(only, name)) return;
    cur_text = text;
    cur_whole = whole;
    oom_sweep(what, run_text, stride_of(stride));
}

/* A linear model for data of shape CxHxW with K classes, and an evaluate
 * stage reading `data` to the end. */
#define EVAL(C, H, W, K, DATA)                                                                     \
    "  - {id: net, use: model.build, with: {layers: [flatten, {linear: {out: " #K "}}], "          \
    "input: [" #C ", " #H ", " #W "]}}\n"                                                          \
    "  - {id: ev, use: evaluate, in: {model: net, data: " DATA "}, with: {batch_size: 8}}\n"

static char text[8][4096];

static void test_datasets(void **state) {
    (void)state;
    const char *S = rp_test_abs_src();
    snprintf(text[0], sizeof text[0],
             "stages:\n"
             "  - {id: d, use: data.idx, with: {dir: '%s/datasets/fixtures/mnist', limit: 6}}\n" EVAL(
                 1, 28, 28, 10, "d.test"),
             S);
    sweep_text("idx", "data.idx (mnist fixture) -> evaluate", text[0], 0, 1);
    snprintf(text[1], sizeof text[1],
             "stages:\n"
             "  - {id: d, use: data.cifar10, with: {dir: '%s/datasets/fixtures/cifar-10-batches-bin', "
             "limit: 4}}\n" EVAL(3, 32, 32, 10, "d.test"),
             S);
    sweep_text("cifar", "data.cifar10 (fixture) -> evaluate", text[1], 0, 1);
    char csv[1200];
    snprintf(csv, sizeof csv, "%s/list.csv", T);
    /* a quoted field spanning two lines in a column the stage does not use */
    rp_test_write(csv, "path,label,domain,note\n"
                       "photo/dog/pic_014.jpg,dog,photo,x\n"
                       "photo/horse/pic_018.jpg,horse,photo,\"two\nlines\"\n"
                       "\"photo/dog/pic_014.jpg\",dog,sketch,y\n");
    snprintf(text[2], sizeof text[2],
             "stages:\n"
             "  - {id: d, use: data.csv, with: {file: '%s', root: '%s/datasets/fixtures/pacs', "
             "domain_column: domain, resize: exact, size: 12}}\n" EVAL(3, 12, 12, 2, "d"),
             csv, S);
    sweep_text("csv", "data.csv (3 JPEGs, domains) -> evaluate", text[2], 0, 1);
    snprintf(text[3], sizeof text[3],
             "stages:\n"
             "  - {id: d, use: data.folder, with: {root: '%s/datasets/fixtures/folder/val', "
             "resize: exact, size: 10}}\n" EVAL(3, 10, 10, 3, "d"),
             S);
    sweep_text("folder", "data.folder (fixture) -> evaluate", text[3], 0, 1);
}

static void test_augment_evaluate(void **state) {
    (void)state;
    snprintf(text[4], sizeof text[4],
             "stages:\n"
             "  - {id: d, use: data.synthetic, with: {train_count: 4, test_count: 4, size: 12}}\n"
             "  - id: aug\n"
             "    use: augment\n"
             "    in: {data: d.test}\n"
             "    with:\n"
             "      transforms: [hflip, {random_crop: {size: 10, padding: 2}}, {rotate: {degrees: 15}},\n"
             "                   {random_erasing: {p: 1.0}}, cutout, {normalize: {mean: [0.5], std: "
             "[0.25]}}]\n" EVAL(3, 10, 10, 6, "aug"));
    sweep_text("augment", "augment (6 transforms on data.synthetic) -> evaluate", text[4], 0, 1);
    snprintf(text[5], sizeof text[5],
             "stages:\n"
             "  - {id: d, use: data.synthetic, with: {train_count: 4, test_count: 6, size: 8, "
             "channels: 1}}\n"
             "  - {id: net, use: model.build, with: {layers: [flatten, {linear: {out: 6}}], input: [1, "
             "8, 8]}}\n"
             "  - {id: loss, use: loss, with: {loss: cross_entropy}}\n"
             "  - id: ev\n"
             "    use: evaluate\n"
             "    in: {model: net, data: [d.test, d.train], loss: loss}\n"
             "    with: {names: [a, b], aa: true, batch_size: 4, predictions: true, top_k: [1, 2]}\n");
    sweep_text("evaluate", "evaluate (two sets, loss, AA, predictions, top-2)", text[5], 0, 1);
}

static void test_full_pipeline(void **state) {
    (void)state;
    snprintf(text[6], sizeof text[6],
             "stages:\n"
             "  - {id: d, use: data.synthetic, with: {train_count: 8, test_count: 4, size: 8, "
             "channels: 1}}\n"
             "  - {id: net, use: model.build, with: {layers: [flatten, {linear: {out: 6}}], input: [1, "
             "8, 8]}}\n"
             "  - {id: loss, use: loss, with: {loss: cross_entropy}}\n"
             "  - id: fit\n"
             "    use: train\n"
             "    in: {model: net, loss: loss, train: d.train}\n"
             "    with: {epochs: 1, batch_size: 4, optimizer: {sgd: {lr: 0.1}}}\n"
             "  - {id: ev, use: evaluate, in: {model: fit.model, data: d.test}}\n");
    /* several thousand allocations, each failure a full plan -> check ->
     * run: `make test` tries a sample */
    sweep_text("pipeline", "plan -> check -> run (data.synthetic, model.build, loss, train, evaluate)",
               text[6], 1, 7);
}

int main(void) {
    rp_log_set_level(RP_LOG_ERROR);
    snprintf(T, sizeof T, "%s", rp_test_tmpdir());
    snprintf(RUN, sizeof RUN, "%s/run", T);
    /* this binary's directory's runpipe/plugins: the wrapped builds */
    if (rp_plugins_load_all()) {
        fprintf(stderr, "oom_plugins: a plugin failed to load\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datasets),
        cmocka_unit_test(test_augment_evaluate),
        cmocka_unit_test(test_full_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
