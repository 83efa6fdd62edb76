/* train stage: training on a tiny synthetic set, history, early stopping,
 * best-weights restore, kill-and-resume to bit-identical weights (at an epoch
 * boundary and mid-epoch), determinism, NaN detection, batch hooks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../harness.h"
#include "config/schema.h" /* engine-internal: rp_schema_dirs_init */
#include "../../../plugins/train/train.h"

/* The engine's SIGINT flag (log.c): lets a test interrupt at an exact step. */
void rp_interrupt_set(void);
void rp_interrupt_clear(void);

/* ---- fixture: 3 classes of 1x6x6 images --------------------------------------- */
/* Class k has a bright band on rows 2k, 2k+1; every pixel gets noise keyed by
 * (fixture seed, index), so the set is fixed and learnable. */
typedef struct fx {
    uint64_t key;
} fx;

static int fx_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                  rp_error *err) {
    (void)draw;
    const fx *f = ds->impl;
    int rc = rp_sample_resize(out, 1, 6, 6, err);
    if (rc) return rc;
    rp_rng r;
    rp_rng_init(&r, 99, f->key, 0, i);
    int k = (int)(i % 3);
    for (int p = 0; p < 36; p++) {
        int row = p / 6;
        out->img.data[p] = 0.8f * rp_rng_uniformf(&r) + ((row / 2 == k) ? 0.3f : 0.0f);
    }
    out->label = k;
    out->index = i;
    return RP_OK;
}
static int32_t fx_label(const rp_dataset *ds, uint64_t i) {
    (void)ds;
    return (int32_t)(i % 3);
}
static void fx_destroy(rp_dataset *ds) { free(ds->impl); }
static const struct rp_dataset_ops fx_ops = {fx_get, fx_label, NULL, fx_destroy};

static rp_dataset *make_set(uint64_t key, uint64_t n) {
    static const char *const names[] = {"top", "middle", "bottom"};
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->key = key;
    rp_dataset *ds = rp_dataset_new(&fx_ops, f, key == 1 ? "fixture/train" : "fixture/val", n, 3,
                                    names);
    assert_non_null(ds);
    ds->channels = 1;
    ds->height = 6;
    ds->width = 6;
    ds->task = RP_TASK_CLASSIFY;
    return ds;
}

/* ---- a softmax cross-entropy loss for the tests (NaN injection) ---------------- */
static int ce_calls, ce_nan_at; /* training calls so far; NaN on this call (0 = never) */

static int ce_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                      double *loss, rp_tensor *dl, rp_error *err) {
    (void)state;
    (void)err;
    int64_t n = logits->shape[0], c = logits->shape[1];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = logits->data + i * c;
        float mx = x[0];
        for (int64_t k = 1; k < c; k++) mx = x[k] > mx ? x[k] : mx;
        double z = 0;
        for (int64_t k = 0; k < c; k++) z += exp((double)(x[k] - mx));
        sum -= (double)(x[target[i]] - mx) - log(z);
        if (dl)
            for (int64_t k = 0; k < c; k++)
                dl->data[i * c + k] =
                    (float)((exp((double)(x[k] - mx)) / z - (k == target[i])) / (double)n);
    }
    *loss = sum / (double)n;
    if (dl && ++ce_calls == ce_nan_at) *loss = NAN;
    return RP_OK;
}
static const struct rp_loss_ops ce_ops = {NULL, ce_forward, NULL};
static rp_loss ce_loss = {&ce_ops, NULL, "test_ce"};

/* ---- a batch hook: records calls, may append flipped copies or interrupt ---------- */
static int hook_calls, hook_append, hook_interrupt_at = -1;
static int64_t hook_n_before, hook_n_after;
static uint64_t hook_epochs;

static int hk_create(const rp_node *p, void **st, rp_error *err) {
    (void)p;
    (void)err;
    *st = NULL;
    return RP_OK;
}
static int hk_on_batch(void *st, rp_hook_ctx *ctx, rp_error *err) {
    (void)st;
    rp_batch *b = ctx->batch;
    hook_calls++;
    hook_epochs = ctx->epochs;
    hook_n_before = b->n;
    if (hook_interrupt_at >= 0 && ctx->step == (uint64_t)hook_interrupt_at) rp_interrupt_set();
    if (hook_append) {
        int64_t n = b->n;
        int rc = rp_batch_reserve(b, 2 * n, 1, 6, 6, 0, err);
        if (rc) return rc;
        for (int64_t i = 0; i < n; i++) { /* horizontally flipped copy */
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 6; x++)
                    b->x.data[(n + i) * 36 + y * 6 + x] = b->x.data[i * 36 + y * 6 + (5 - x)];
            b->labels[n + i] = b->labels[i];
            b->indices[n + i] = b->indices[i];
        }
        b->n = 2 * n;
    }
    hook_n_after = b->n;
    return RP_OK;
}
static void hk_destroy(void *st) { (void)st; }
static const struct rp_batch_hook_ops hk_ops = {hk_create, hk_on_batch, hk_destroy};
RP_TEST_COMPONENT(RP_COMP_BATCH_HOOK, "test_hook", "test hook", hk_ops)

/* ---- helpers -------------------------------------------------------------------------- */
static rp_node *yaml(const char *text) {
    rp_node *n = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_node_parse_string(text, "test.yaml", &n, &err), &err);
    return n;
}

/* A validated component spec {name: {params with defaults}}. */
static rp_node *spec(int kind, const char *name, const char *params) {
    rp_error err;
    rp_error_clear(&err);
    rp_node *p = yaml(params), *vp = NULL;
    RP_ASSERT_OK(rp_component_params(kind, name, p, &vp, &err), &err);
    rp_node_free(p);
    rp_node *m = rp_node_new_map();
    assert_int_equal(rp_node_map_set(m, name, vp), RP_OK);
    return m;
}

/* dropout: 0 an MLP, 1 with dropout, 2 a CNN whose second convolution
 * (32 -> 32 channels, 3x3, 6x6) Winograd computes where allowed */
static rp_model *make_model(int dropout) {
    rp_error err;
    rp_error_clear(&err);
    rp_node *layers = yaml(dropout == 2 ? "- {conv2d: {out: 32, kernel: 3, padding: 1}}\n"
                                          "- {relu: {}}\n"
                                          "- {conv2d: {out: 32, kernel: 3, padding: 1}}\n"
                                          "- {relu: {}}\n- {flatten: {}}\n- {linear: {out: 3}}\n"
                           : dropout ? "- {flatten: {}}\n- {linear: {out: 16}}\n- {relu: {}}\n"
                                       "- {dropout: {p: 0.2}}\n- {linear: {out: 3}}\n"
                                     : "- {flatten: {}}\n- {linear: {out: 16}}\n- {relu: {}}\n"
                                       "- {linear: {out: 3}}\n");
    rp_model *m = NULL;
    RP_ASSERT_OK(rp_model_from_layers(layers, 1, 6, 6, &m, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(m, 5, &err), &err);
    rp_node_free(layers);
    return m;
}

typedef struct setup {
    rp_node *opt, *sched, *hooks;
    train_cfg cfg;
    train_env env;
    rp_dataset *train, *val;
    rp_model *model;
} setup;

static void setup_init(setup *s, int dropout) {
    memset(s, 0, sizeof *s);
    s->opt = spec(RP_COMP_OPTIMIZER, "sgd", "{lr: 0.2, momentum: 0.9}");
    train_cfg *c = &s->cfg;
    c->epochs = 4;
    c->batch_size = 16;
    c->optimizer = s->opt;
    c->workers = 1;
    c->prefetch = 2;
    c->shuffle = 1;
    strcpy(c->monitor, "val_loss");
    strcpy(c->mode, "auto");
    c->checkpoint = 1;
    s->env.seed = 7;
    s->env.stage = "fit";
    s->env.dir = rp_test_tmpdir();
    s->env.rundir = NULL;
    s->train = make_set(1, 96);
    s->val = make_set(2, 30);
    s->model = make_model(dropout);
    ce_calls = 0;
    ce_nan_at = 0;
}

static void setup_free(setup *s) {
    rp_node_free(s->opt);
    rp_node_free(s->sched);
    rp_node_free(s->hooks);
    rp_model_free(s->model);
    rp_dataset_free(s->train);
    rp_dataset_free(s->val);
}

static int fit(setup *s, rp_model **out, rp_metrics **mt, rp_error *err) {
    return train_fit(&s->cfg, &s->env, s->model, &ce_loss, s->train, s->val, out, mt, err);
}

static void assert_same_weights(rp_model *a, rp_model *b, int expect_equal) {
    size_t n = rp_model_num_params(a);
    assert_int_equal(n, rp_model_num_params(b));
    int all_equal = 1;
    for (size_t i = 0; i < n; i++) {
        const rp_param *pa = rp_model_param(a, i), *pb = rp_model_param(b, i);
        assert_string_equal(pa->name, pb->name);
        assert_int_equal(pa->value->numel, pb->value->numel);
        if (memcmp(pa->value->data, pb->value->data, pa->value->numel * sizeof(float))) {
            all_equal = 0;
            if (expect_equal) fail_msg("parameter '%s' differs", pa->name);
        }
    }
    if (!expect_equal) assert_false(all_equal);
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_trains_and_reports(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 1);
    s.cfg.epochs = 6;
    rp_model *before = NULL, *out = NULL;
    rp_metrics *mt = NULL;
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_model_clone(s.model, &before, &err), &err);
    RP_ASSERT_OK(fit(&s, &out, &mt, &err), &err);
    assert_same_weights(before, s.model, 1); /* the input model is left as built */
    assert_same_weights(before, out, 0);

    const rp_table *h = rp_metrics_table(mt, "history");
    assert_non_null(h);
    assert_int_equal(h->rows, 6);
    assert_int_equal(h->cols, 7);
    for (int c = 0; c < 7; c++) assert_string_equal(h->col_names[c], train_hist_cols[c]);
    double first = h->values[H_TRAIN_LOSS], last = h->values[5 * 7 + H_TRAIN_LOSS];
    assert_true(last < 0.5 * first);
    assert_true(h->values[5 * 7 + H_VAL_ACC] > 0.9);
    assert_true(h->values[5 * 7 + H_EPOCH] == 6);
    assert_true(fabs(h->values[H_LR] - 0.2) < 1e-12);
    double v = 0;
    assert_true(rp_metrics_get(mt, "val_acc", &v) && v > 0.9);
    assert_true(rp_metrics_get(mt, "epochs_run", &v) && v == 6);
    assert_true(rp_metrics_get(mt, "train_loss", &v) && v == last);
    assert_true(rp_metrics_get(mt, "seconds", &v) && v > 0);
    assert_true(rp_metrics_get(mt, "best_epoch", &v) && v >= 1 && v <= 6);
    assert_int_equal(mt->n_files, 4);
    assert_non_null(strstr(mt->files[0], "history.csv"));
    assert_non_null(strstr(mt->files[1], "steps.csv"));
    assert_non_null(strstr(mt->files[2], "best.safetensors"));
    assert_non_null(strstr(mt->files[3], "last.safetensors"));
    /* the per-step curve: one point per optimizer step (a short run), epochs
       as fractions ending on whole epochs, and the steps of an epoch average
       to its train_loss (equal batches) */
    const rp_table *st = rp_metrics_table(mt, "steps");
    assert_non_null(st);
    assert_int_equal(st->cols, S_NCOLS);
    assert_true(st->rows >= 6 && st->rows % 6 == 0);
    size_t per = st->rows / 6;
    for (size_t r = 0; r < st->rows; r++) {
        assert_true(st->values[r * S_NCOLS + S_STEP] == (double)(r + 1));
        assert_true(fabs(st->values[r * S_NCOLS + S_LR] - 0.2) < 1e-12);
        assert_true(isfinite(st->values[r * S_NCOLS + S_LOSS]));
    }
    assert_true(st->values[(per - 1) * S_NCOLS + S_EPOCH] == 1.0);
    assert_true(st->values[(st->rows - 1) * S_NCOLS + S_EPOCH] == 6.0);
    assert_true(file_exists(rp_test_path(s.env.dir, "steps.csv")));
    assert_true(file_exists(rp_test_path(s.env.dir, "best.safetensors")));
    assert_true(file_exists(rp_test_path(s.env.dir, "last.safetensors")));
    assert_true(file_exists(rp_test_path(s.env.dir, "checkpoint.safetensors")));

    /* history.csv: header + 6 rows whose train_loss matches the table */
    char *text = NULL;
    size_t len = 0;
    RP_ASSERT_OK(rp_read_file(rp_test_path(s.env.dir, "history.csv"), &text, &len, &err), &err);
    assert_memory_equal(text, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n", 54);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 7);
    char *row6 = strstr(text, "\n6,");
    assert_non_null(row6);
    assert_true(fabs(strtod(row6 + 3, NULL) - last) < 1e-6);
    free(text);

    /* last.safetensors holds the output weights */
    rp_model *reloaded = NULL;
    RP_ASSERT_OK(rp_model_load(rp_test_path(s.env.dir, "last.safetensors"), &reloaded, &err),
                 &err);
    assert_same_weights(out, reloaded, 1);
    rp_model_free(reloaded);
    rp_model_free(before);
    rp_model_free(out);
    rp_metrics_free(mt);
    setup_free(&s);
}

/* Uninterrupted vs stopped after epoch k and resumed: byte-identical weights. */
static void resume_case(int stop_after, int interrupt_step) {
    setup a, b;
    rp_error err;
    rp_error_clear(&err);
    setup_init(&a, 1);
    setup_init(&b, 1);
    a.sched = spec(RP_COMP_SCHEDULER, "step", "{step_size: 2, gamma: 0.5}");
    b.sched = spec(RP_COMP_SCHEDULER, "step", "{step_size: 2, gamma: 0.5}");
    a.cfg.scheduler = a.sched;
    b.cfg.scheduler = b.sched;
    a.cfg.restore_best = b.cfg.restore_best = 1;
    a.cfg.early_stopping = b.cfg.early_stopping = 1;
    strcpy(a.cfg.es_monitor, "val_loss");
    strcpy(b.cfg.es_monitor, "val_loss");
    strcpy(a.cfg.es_mode, "auto");
    strcpy(b.cfg.es_mode, "auto");
    a.cfg.patience = b.cfg.patience = 10;
    a.cfg.epochs = b.cfg.epochs = 5;
    if (interrupt_step >= 0) { /* the hook interrupts (as SIGINT would) at that step */
        a.hooks = yaml("[test_hook]");
        b.hooks = yaml("[test_hook]");
        a.cfg.hooks = a.hooks;
        b.cfg.hooks = b.hooks;
    }
    hook_append = 0;
    hook_interrupt_at = -1;
    rp_model *ma = NULL, *mb = NULL;
    rp_metrics *ta = NULL, *tb = NULL;
    RP_ASSERT_OK(fit(&a, &ma, &ta, &err), &err);

    b.cfg.stop_after_epoch = stop_after;
    hook_interrupt_at = interrupt_step;
    int rc = fit(&b, &mb, &tb, &err);
    assert_int_equal(rc, RP_ERR_INTERRUPTED);
    assert_null(mb);
    assert_non_null(strstr(err.msg, "--resume"));
    rp_interrupt_clear();
    hook_interrupt_at = -1;
    b.cfg.stop_after_epoch = 0;
    b.env.resuming = 1;
    rp_error_clear(&err);
    RP_ASSERT_OK(fit(&b, &mb, &tb, &err), &err);
    assert_same_weights(ma, mb, 1);

    const rp_table *ha = rp_metrics_table(ta, "history"), *hb = rp_metrics_table(tb, "history");
    assert_int_equal(ha->rows, hb->rows);
    for (size_t r = 0; r < ha->rows; r++)
        for (int c = 0; c < H_SECONDS; c++) {
            double x = ha->values[r * 7 + c], y = hb->values[r * 7 + c];
            if (!(isnan(x) && isnan(y))) assert_memory_equal(&x, &y, sizeof x);
        }
    /* the per-step curve too, also when interrupted inside an epoch */
    const rp_table *sa = rp_metrics_table(ta, "steps"), *sb = rp_metrics_table(tb, "steps");
    assert_int_equal(sa->rows, sb->rows);
    assert_memory_equal(sa->values, sb->values, sa->rows * S_NCOLS * sizeof(double));
    /* resuming a finished run retrains nothing and gives the same result */
    rp_model *mc = NULL;
    rp_metrics *tc = NULL;
    RP_ASSERT_OK(fit(&b, &mc, &tc, &err), &err);
    assert_same_weights(ma, mc, 1);
    rp_model_free(mc);
    rp_metrics_free(tc);

    rp_model_free(ma);
    rp_model_free(mb);
    rp_metrics_free(ta);
    rp_metrics_free(tb);
    setup_free(&a);
    setup_free(&b);
}

static void test_resume_epoch_boundary(void **state) {
    (void)state;
    resume_case(2, -1);
}

static void test_resume_mid_epoch(void **state) {
    (void)state;
    resume_case(0, 9); /* 6 steps per epoch: interrupted after step 4 of epoch 2 */
}

/* Interrupted right after an epoch's last batch, before its end (validation,
 * the scheduler's epoch step, the history row): the checkpoint says all of
 * the epoch's batches are done, and the resumed run finishes that epoch. */
static void test_resume_after_last_batch(void **state) {
    (void)state;
    resume_case(0, 11); /* 6 steps per epoch: after step 6 of epoch 2 */
}

static void test_resume_config_mismatch(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 0);
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    s.cfg.stop_after_epoch = 1;
    assert_int_equal(fit(&s, &m, &mt, &err), RP_ERR_INTERRUPTED);
    s.cfg.stop_after_epoch = 0;
    s.cfg.batch_size = 32;
    s.env.resuming = 1;
    assert_int_equal(fit(&s, &m, &mt, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "batch_size"));
    assert_null(m);
    setup_free(&s);
}

/* Every checkpoint field is checked against the run before resuming: a
 * corrupted or hostile value is an error naming the file and the field. */
static void test_checkpoint_fields_validated(void **state) {
    (void)state;
    static const struct {
        const char *key, *value, *expected;
    } cases[] = {
        {"epochs_done", "-1000000", "is -1000000; expected 0..4 (the run's epochs)"},
        {"epochs_done", "99", "is 99; expected 0..4 (the run's epochs)"},
        {"batch_in_epoch", "1000000000",
         "is 1000000000; expected 0..6 (batches in an epoch of 96 samples, batch_size 16)"},
        {"batch_in_epoch", "-1", "is -1; expected 0..6 (batches in an epoch of 96 samples, batch_size 16)"},
        {"global_step", "-5", "is -5; expected 0..6 (epochs_done x batches per epoch + batch_in_epoch)"},
        {"global_step", "9999999", "is 9999999; expected 0..6 (epochs_done x batches per epoch + batch_in_epoch)"},
        {"done", "7", "is 7; expected 0 or 1"},
        {"stopped_early", "-1", "is -1; expected 0 or 1"},
        {"lr", "nan", "is nan; expected a finite learning rate >= 0"},
        {"lr", "-0.5", "is -0.5; expected a finite learning rate >= 0"},
        {"monitor.best_epoch", "50", "is 50; expected 0..1 (epochs done)"},
        {"early_stopping.bad", "-3", "is -3; expected 0..1 (epochs done)"},
        {"partial.samples", "1e9", "is 1e9; expected at most the samples of one epoch"},
        {"partial.loss", "inf", "is inf; expected a finite number"},
    };
    setup s;
    setup_init(&s, 0);
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    s.cfg.stop_after_epoch = 1;
    assert_int_equal(fit(&s, &m, &mt, &err), RP_ERR_INTERRUPTED);
    rp_interrupt_clear();
    s.cfg.stop_after_epoch = 0;
    s.env.resuming = 1;
    char path[1024], keep[1100];
    snprintf(path, sizeof path, "%s", rp_test_path(s.env.dir, "checkpoint.safetensors"));
    snprintf(keep, sizeof keep, "%s.good", path);
    char *good = NULL;
    size_t glen = 0;
    RP_ASSERT_OK(rp_read_file(path, &good, &glen, &err), &err);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rp_st st;
        RP_ASSERT_OK(rp_write_atomic(path, good, glen, &err), &err);
        RP_ASSERT_OK(rp_st_load(path, &st, &err), &err);
        RP_ASSERT_OK(rp_st_set_meta(&st, cases[i].key, cases[i].value, &err), &err);
        RP_ASSERT_OK(rp_st_save(&st, path, &err), &err);
        rp_st_release(&st);
        rp_error_clear(&err);
        assert_int_equal(fit(&s, &m, &mt, &err), RP_ERR_FORMAT);
        assert_null(m);
        char want[2048];
        snprintf(want, sizeof want, "'%s': checkpoint metadata '%s' %s", path, cases[i].key,
                 cases[i].expected);
        if (!strstr(err.msg, want)) fail_msg("case %zu:\n  expected: %s\n  got:      %s", i, want, err.msg);
    }
    /* the untouched checkpoint still resumes */
    RP_ASSERT_OK(rp_write_atomic(path, good, glen, &err), &err);
    RP_ASSERT_OK(fit(&s, &m, &mt, &err), &err);
    rp_model_free(m);
    rp_metrics_free(mt);
    free(good);
    setup_free(&s);
}

static void test_determinism(void **state) {
    (void)state;
    setup a, b, c;
    rp_error err;
    rp_error_clear(&err);
    setup_init(&a, 1);
    setup_init(&b, 1);
    setup_init(&c, 1);
    c.env.seed = 8;
    a.cfg.epochs = b.cfg.epochs = c.cfg.epochs = 2;
    rp_model *ma = NULL, *mb = NULL, *mc = NULL;
    rp_metrics *ta = NULL, *tb = NULL, *tc = NULL;
    RP_ASSERT_OK(fit(&a, &ma, &ta, &err), &err);
    RP_ASSERT_OK(fit(&b, &mb, &tb, &err), &err);
    RP_ASSERT_OK(fit(&c, &mc, &tc, &err), &err);
    assert_same_weights(ma, mb, 1);
    assert_same_weights(ma, mc, 0); /* another seed: another order and dropout */
    rp_model_free(ma);
    rp_model_free(mb);
    rp_model_free(mc);
    rp_metrics_free(ta);
    rp_metrics_free(tb);
    rp_metrics_free(tc);
    setup_free(&a);
    setup_free(&b);
    setup_free(&c);
}

/* `winograd`: the CNN trained with it re-runs to the same bits, and (with the
 * AVX-512 kernels) to other bits than without it, so the option reaches the
 * convolutions; both learn. */
static void test_winograd_option(void **state) {
    (void)state;
    setup s[3];
    rp_error err;
    rp_error_clear(&err);
    rp_model *m[3] = {NULL, NULL, NULL};
    rp_metrics *t[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        setup_init(&s[i], 2);
        s[i].cfg.epochs = 2;
        s[i].cfg.winograd = i < 2;
        RP_ASSERT_OK(fit(&s[i], &m[i], &t[i], &err), &err);
    }
    assert_same_weights(m[0], m[1], 1);
#if defined(__AVX512F__) /* (the portable build has no Winograd kernels) */
    assert_same_weights(m[0], m[2], 0);
#endif
    for (int i = 0; i < 3; i++) {
        double acc = 0;
        assert_true(rp_metrics_get(t[i], "val_acc", &acc));
        if (!(acc > 0.5)) fail_msg("winograd %d: val_acc %g", s[i].cfg.winograd, acc);
        rp_model_free(m[i]);
        rp_metrics_free(t[i]);
        setup_free(&s[i]);
    }
}

static void test_early_stopping(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 0);
    s.cfg.epochs = 10;
    s.cfg.early_stopping = 1;
    strcpy(s.cfg.es_monitor, "val_loss");
    strcpy(s.cfg.es_mode, "min");
    s.cfg.patience = 2;
    s.cfg.min_delta = 1e9; /* nothing counts as an improvement after epoch 1 */
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    RP_ASSERT_OK(fit(&s, &m, &mt, &err), &err);
    double v = 0;
    assert_true(rp_metrics_get(mt, "epochs_run", &v) && v == 3);
    assert_true(rp_metrics_get(mt, "stopped_early", &v) && v == 1);
    assert_int_equal(rp_metrics_table(mt, "history")->rows, 3);
    rp_model_free(m);
    rp_metrics_free(mt);
    setup_free(&s);
}

static void test_restore_best(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 0);
    s.cfg.epochs = 5;
    s.cfg.restore_best = 1;
    strcpy(s.cfg.monitor, "val_loss");
    rp_node_free(s.opt); /* a large lr so the validation loss moves around */
    s.opt = spec(RP_COMP_OPTIMIZER, "sgd", "{lr: 1.5, momentum: 0.9}");
    s.cfg.optimizer = s.opt;
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL, *best = NULL;
    rp_metrics *mt = NULL;
    RP_ASSERT_OK(fit(&s, &m, &mt, &err), &err);
    const rp_table *h = rp_metrics_table(mt, "history");
    size_t arg = 0;
    for (size_t r = 1; r < h->rows; r++)
        if (h->values[r * 7 + H_VAL_LOSS] < h->values[arg * 7 + H_VAL_LOSS]) arg = r;
    double v = 0;
    assert_true(rp_metrics_get(mt, "best_epoch", &v) && v == (double)(arg + 1));
    assert_true(rp_metrics_get(mt, "val_loss", &v) && v == h->values[arg * 7 + H_VAL_LOSS]);
    RP_ASSERT_OK(rp_model_load(rp_test_path(s.env.dir, "best.safetensors"), &best, &err), &err);
    assert_same_weights(m, best, 1);
    rp_model_free(best);
    rp_model_free(m);
    rp_metrics_free(mt);
    setup_free(&s);
}

static void test_nan_detection(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 0);
    ce_nan_at = 8; /* 6 steps per epoch: epoch 2, step 2 */
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    assert_int_equal(fit(&s, &m, &mt, &err), RP_ERR_NUMERIC);
    if (!strstr(err.msg, "epoch 2, step 2 of 6")) fail_msg("message: %s", err.msg);
    assert_non_null(strstr(err.msg, "'test_ce'"));
    assert_non_null(strstr(err.msg, "NaN"));
    assert_null(m);
    assert_null(mt);
    setup_free(&s);
}

static void test_hook_appends_samples(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 0);
    s.cfg.epochs = 2;
    s.hooks = yaml("[test_hook]");
    s.cfg.hooks = s.hooks;
    hook_calls = 0;
    hook_append = 1;
    hook_interrupt_at = -1;
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    RP_ASSERT_OK(fit(&s, &m, &mt, &err), &err);
    hook_append = 0;
    assert_int_equal(hook_calls, 12); /* before every step */
    assert_int_equal(hook_epochs, 2);
    assert_int_equal(hook_n_after, 2 * hook_n_before);
    assert_int_equal(ce_calls, 12);
    double v;
    assert_true(rp_metrics_get(mt, "train_acc", &v) && v > 0.5);
    rp_model_free(m);
    rp_metrics_free(mt);
    setup_free(&s);
}

static void test_geometry_mismatch(void **state) {
    (void)state;
    setup s;
    setup_init(&s, 0);
    s.val->height = 7; /* claims 1x7x6 images: not what the model takes */
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    assert_int_equal(fit(&s, &m, &mt, &err), RP_ERR_INVALID);
    if (!strstr(err.msg, "takes [1, 6, 6] images but 'fixture/val' gives [1, 7, 6]"))
        fail_msg("message: %s", err.msg);
    s.val->height = 6;
    setup_free(&s);
}

/* ---- segmentation: masks as targets, per-pixel loss and accuracy ------------------ */
/* Pixel class = 1 where the image is bright. */
static int seg_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                   rp_error *err) {
    (void)ds;
    (void)draw;
    int rc = rp_sample_resize(out, 1, 6, 6, err);
    if (!rc) rc = rp_mask_resize(&out->mask, 6, 6, err);
    if (rc) return rc;
    rp_rng r;
    rp_rng_init(&r, 17, 3, 0, i);
    for (int p = 0; p < 36; p++) {
        int on = rp_rng_uniformf(&r) < 0.5f;
        out->img.data[p] = on ? 0.9f : 0.1f;
        out->mask.data[p] = on;
    }
    out->label = -1;
    out->index = i;
    return RP_OK;
}
static const struct rp_dataset_ops seg_ops = {seg_get, NULL, NULL, NULL};

/* Mean per-pixel softmax cross-entropy over [N, C, H, W]. */
static int pix_forward(const void *state, const rp_tensor *logits, const int32_t *target,
                       double *loss, rp_tensor *dl, rp_error *err) {
    (void)state;
    (void)err;
    int64_t n = logits->shape[0], c = logits->shape[1], hw = logits->shape[2] * logits->shape[3];
    double sum = 0, cnt = (double)(n * hw);
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++) {
            const float *x = logits->data + i * c * hw + p;
            double mx = x[0], z = 0;
            for (int64_t k = 1; k < c; k++) mx = x[k * hw] > mx ? x[k * hw] : mx;
            for (int64_t k = 0; k < c; k++) z += exp(x[k * hw] - mx);
            int32_t t = target[i * hw + p];
            sum -= x[t * hw] - mx - log(z);
            if (dl)
                for (int64_t k = 0; k < c; k++)
                    dl->data[i * c * hw + k * hw + p] =
                        (float)((exp(x[k * hw] - mx) / z - (k == t)) / cnt);
        }
    *loss = sum / cnt;
    return RP_OK;
}
static const struct rp_loss_ops pix_ops = {NULL, pix_forward, NULL};
static rp_loss pix_loss = {&pix_ops, NULL, "test_pixel_ce"};

/* One segmentation setup: 64 training and 16 validation 6x6 tiles, a 1x1
 * convolution, `dir` its own folder. */
static void seg_setup(setup *s, const char *dir) {
    setup_init(s, 0);
    rp_dataset_free(s->train);
    rp_dataset_free(s->val);
    s->train = rp_dataset_new(&seg_ops, NULL, "seg/train", 64, 2, NULL);
    s->val = rp_dataset_new(&seg_ops, NULL, "seg/val", 16, 2, NULL);
    assert_non_null(s->train);
    assert_non_null(s->val);
    s->train->task = s->val->task = RP_TASK_SEGMENT;
    rp_model_free(s->model);
    rp_error err;
    rp_error_clear(&err);
    rp_node *layers = yaml("- {conv2d: {out: 2, kernel: 1}}\n");
    RP_ASSERT_OK(rp_model_from_layers(layers, 1, 6, 6, &s->model, &err), &err);
    RP_ASSERT_OK(rp_model_init_params(s->model, 5, &err), &err);
    rp_node_free(layers);
    s->cfg.epochs = 5;
    strcpy(s->cfg.monitor, "val_dice");
    s->env.dir = dir;
}

static void test_segmentation_masks(void **state) {
    (void)state;
    setup s;
    char dir[600];
    snprintf(dir, sizeof dir, "%s", rp_test_path(rp_test_tmpdir(), "seg"));
    rp_error err;
    rp_error_clear(&err);
    RP_ASSERT_OK(rp_mkdirs(dir, &err), &err);
    seg_setup(&s, dir);
    rp_model *m = NULL;
    rp_metrics *mt = NULL;
    RP_ASSERT_OK(train_fit(&s.cfg, &s.env, s.model, &pix_loss, s.train, s.val, &m, &mt, &err),
                 &err);
    const rp_table *h = rp_metrics_table(mt, "history");
    assert_int_equal(h->cols, H_NCOLS); /* + train/val mean IoU and Dice */
    assert_true(h->values[4 * H_NCOLS + H_TRAIN_LOSS] < h->values[H_TRAIN_LOSS]);
    assert_true(h->values[4 * H_NCOLS + H_TRAIN_DICE] > h->values[H_TRAIN_DICE]);
    double v = 0;
    assert_true(rp_metrics_get(mt, "val_acc", &v) && v > 0.99); /* pixel accuracy */
    assert_true(rp_metrics_get(mt, "val_dice", &v) && v > 0.99);
    assert_true(rp_metrics_get(mt, "val_miou", &v) && v > 0.98);
    assert_true(rp_metrics_get(mt, "best_value", &v) && v > 0.99); /* monitor val_dice */
    char *csv = NULL;
    size_t len = 0;
    RP_ASSERT_OK(rp_read_file(rp_test_path(dir, "history.csv"), &csv, &len, &err), &err);
    assert_non_null(strstr(csv, "seconds,train_miou,train_dice,val_miou,val_dice\n"));
    free(csv);

    /* interrupted in the middle of epoch 2 and resumed: the same history,
     * IoU and Dice included (the partial epoch's pixel counts are in the
     * checkpoint) */
    setup b;
    char dir_b[600];
    snprintf(dir_b, sizeof dir_b, "%s", rp_test_path(rp_test_tmpdir(), "seg_b"));
    RP_ASSERT_OK(rp_mkdirs(dir_b, &err), &err);
    seg_setup(&b, dir_b);
    b.hooks = yaml("[test_hook]");
    b.cfg.hooks = b.hooks;
    hook_append = 0;
    hook_interrupt_at = 6; /* 4 steps per epoch: step 3 of epoch 2 */
    rp_model *mb = NULL;
    rp_metrics *tb = NULL;
    assert_int_equal(train_fit(&b.cfg, &b.env, b.model, &pix_loss, b.train, b.val, &mb, &tb, &err),
                     RP_ERR_INTERRUPTED);
    rp_interrupt_clear();
    hook_interrupt_at = -1;
    b.env.resuming = 1;
    rp_error_clear(&err);
    RP_ASSERT_OK(train_fit(&b.cfg, &b.env, b.model, &pix_loss, b.train, b.val, &mb, &tb, &err),
                 &err);
    const rp_table *hb = rp_metrics_table(tb, "history");
    assert_int_equal(hb->rows, h->rows);
    for (size_t r = 0; r < h->rows; r++)
        for (int c = 0; c < H_NCOLS; c++)
            if (c != H_SECONDS && !(isnan(h->values[r * H_NCOLS + c]) &&
                                    isnan(hb->values[r * H_NCOLS + c])))
                assert_true(h->values[r * H_NCOLS + c] == hb->values[r * H_NCOLS + c]);
    rp_model_free(mb);
    rp_metrics_free(tb);
    setup_free(&b);
    rp_model_free(m);
    rp_metrics_free(mt);
    setup_free(&s);
}

int main(void) {
    rp_schema_dirs_init(); /* schemas/ validate and fill component params */
    rp_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trains_and_reports),
        cmocka_unit_test(test_resume_epoch_boundary),
        cmocka_unit_test(test_resume_mid_epoch),
        cmocka_unit_test(test_resume_after_last_batch),
        cmocka_unit_test(test_resume_config_mismatch),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_winograd_option),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_restore_best),
        cmocka_unit_test(test_nan_detection),
        cmocka_unit_test(test_hook_appends_samples),
        cmocka_unit_test(test_geometry_mismatch),
        cmocka_unit_test(test_segmentation_masks),
        cmocka_unit_test(test_checkpoint_fields_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
