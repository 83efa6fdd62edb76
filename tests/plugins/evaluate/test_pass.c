/* ev_run_pass on in-memory datasets with models whose outputs are known
 * (flatten / identity: the logits are the image values), so the confusion
 * matrix, top-k counts, loss and ignored pixels can be recomputed here:
 * classification and segmentation paths, batching with a ragged last batch,
 * limit, and bad labels / mismatched models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness.h"
#include "../../../plugins/evaluate/evaluate.h"
#include "config/schema.h" /* engine-internal: rp_schema_dirs_init */

#define C 3
#define N 37
#define HW 4

/* Deterministic "logits" of sample i, class k, pixel q. */
static float val(uint64_t i, int k, int q) {
    uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(k * 40503u) ^ (uint32_t)(q * 977u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (float)(h % 1000) / 250.0f - 2.0f;
}
static int32_t label_of(uint64_t i) { return (int32_t)((i * 7) % C); }
static int32_t mask_of(uint64_t i, int q) {
    if ((i + (uint64_t)q) % 11 == 0) return 255; /* void */
    return (int32_t)((i + (uint64_t)q * 3) % C);
}

static int bad_label_at = -1;

static int get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
               rp_error *err) {
    (void)draw;
    int seg = ds->task == RP_TASK_SEGMENT;
    int64_t h = seg ? HW : 1, w = seg ? HW : 1;
    int rc = rp_sample_resize(out, C, h, w, err);
    if (rc != RP_OK) return rc;
    for (int k = 0; k < C; k++)
        for (int q = 0; q < h * w; q++) out->img.data[k * h * w + q] = val(i, k, q);
    out->label = (int)i == bad_label_at ? 9 : label_of(i);
    out->index = i;
    if (seg) {
        rc = rp_mask_resize(&out->mask, h, w, err);
        if (rc != RP_OK) return rc;
        for (int q = 0; q < h * w; q++) out->mask.data[q] = mask_of(i, q);
    }
    return RP_OK;
}
static int32_t lab(const rp_dataset *ds, uint64_t i) {
    (void)ds;
    return label_of(i);
}
static void destroy(rp_dataset *ds) { (void)ds; }
static const struct rp_dataset_ops ops = {get, lab, NULL, destroy};

static rp_dataset *make_ds(int seg) {
    static const char *const names[C] = {"a", "b", "c"};
    rp_dataset *ds = rp_dataset_new(&ops, NULL, seg ? "toy/seg" : "toy/cls", N, C, names);
    assert_non_null(ds);
    ds->channels = C;
    ds->height = ds->width = seg ? HW : 1;
    ds->task = seg ? RP_TASK_SEGMENT : RP_TASK_CLASSIFY;
    return ds;
}

static rp_model *make_model(int seg, int classes) {
    rp_error err;
    rp_model *m = NULL;
    rp_schema_dirs_init();
    RP_ASSERT_OK(rp_model_new(C, seg ? HW : 1, seg ? HW : 1, &m, &err), &err);
    if (seg) {
        RP_ASSERT_OK(rp_model_addf(m, "out", "identity", NULL, 0, &err, "{}"), &err);
    } else {
        RP_ASSERT_OK(rp_model_addf(m, "flat", "flatten", NULL, 0, &err, "{}"), &err);
        if (classes != C) {
            RP_ASSERT_OK(rp_model_addf(m, "fc", "linear", NULL, 0, &err, "{out: %d}", classes),
                         &err);
            RP_ASSERT_OK(rp_model_init_params(m, 1, &err), &err);
        }
    }
    return m;
}

static int argmax3(const float *v, int stride) {
    int b = 0;
    for (int k = 1; k < C; k++)
        if (v[k * stride] > v[b * stride]) b = k;
    return b;
}

static double ce(const float *v, int stride, int y) {
    double m = -INFINITY, z = 0;
    for (int k = 0; k < C; k++) m = fmax(m, v[k * stride]);
    for (int k = 0; k < C; k++) z += exp(v[k * stride] - m);
    return m + log(z) - v[y * stride];
}

static void test_classification_pass(void **state) {
    (void)state;
    rp_dataset *ds = make_ds(0);
    rp_model *m = make_model(0, C);
    ev_opts o = {0};
    o.batch_size = 8; /* 37 = 4*8 + 5 */
    o.nk = 2;
    o.k[0] = 1, o.k[1] = 2;
    ev_pass p;
    rp_error err;
    RP_ASSERT_OK(ev_run_pass(m, ds, NULL, &o, "t", &p, &err), &err);
    int64_t conf[C * C] = {0}, hits2 = 0;
    double loss = 0;
    for (uint64_t i = 0; i < N; i++) {
        float v[C];
        for (int k = 0; k < C; k++) v[k] = val(i, k, 0);
        int y = label_of(i), pr = argmax3(v, 1);
        conf[y * C + pr]++;
        int above = 0;
        for (int k = 0; k < C; k++) above += v[k] > v[y] || (v[k] == v[y] && k < y);
        hits2 += above < 2;
        loss += ce(v, 1, y);
    }
    for (int i = 0; i < C * C; i++) assert_int_equal(p.conf[i], conf[i]);
    assert_int_equal(p.samples, N);
    assert_int_equal(p.hits[0], conf[0] + conf[4] + conf[8]);
    assert_int_equal(p.hits[1], hits2);
    assert_true(fabs(p.loss_sum / p.loss_n - loss / N) < 1e-6);
    free(p.conf);

    /* limit: only the first 10 samples */
    o.limit = 10;
    RP_ASSERT_OK(ev_run_pass(m, ds, NULL, &o, "t", &p, &err), &err);
    assert_int_equal(p.samples, 10);
    free(p.conf);
    o.limit = 0;

    /* a label outside the classes: an error naming the set, sample and label
     * (the loader's check, or ours behind it) */
    bad_label_at = 20;
    assert_int_not_equal(ev_run_pass(m, ds, NULL, &o, "t", &p, &err), RP_OK);
    assert_non_null(strstr(err.msg, "toy/cls"));
    assert_non_null(strstr(err.msg, "sample 20"));
    assert_non_null(strstr(err.msg, "label 9"));
    bad_label_at = -1;
    rp_model_free(m);

    /* a model with the wrong number of outputs */
    m = make_model(0, 5);
    assert_int_equal(ev_run_pass(m, ds, NULL, &o, "t", &p, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "model outputs 5 classes but 'toy/cls' has 3"));
    rp_model_free(m);
    rp_dataset_free(ds);
}

static void test_segmentation_pass(void **state) {
    (void)state;
    rp_dataset *ds = make_ds(1);
    rp_model *m = make_model(1, C);
    ev_opts o = {0};
    o.batch_size = 5;
    ev_pass p;
    rp_error err;
    RP_ASSERT_OK(ev_run_pass(m, ds, NULL, &o, "s", &p, &err), &err);
    assert_int_equal(p.seg, 1);
    int64_t conf[C * C] = {0}, ignored = 0, valid = 0;
    double loss = 0;
    for (uint64_t i = 0; i < N; i++)
        for (int q = 0; q < HW * HW; q++) {
            int y = mask_of(i, q);
            float v[C];
            for (int k = 0; k < C; k++) v[k] = val(i, k, q);
            if (y == 255) {
                ignored++;
                continue;
            }
            conf[y * C + argmax3(v, 1)]++;
            loss += ce(v, 1, y);
            valid++;
        }
    assert_true(ignored > 0);
    for (int i = 0; i < C * C; i++) assert_int_equal(p.conf[i], conf[i]);
    assert_int_equal(p.ignored, ignored);
    assert_true(fabs(p.loss_sum / p.loss_n - loss / (double)valid) < 1e-6);
    ev_seg s;
    RP_ASSERT_OK(ev_seg_from_confusion(p.conf, C, &s, &err), &err);
    assert_int_equal(s.total, valid);
    ev_seg_release(&s);
    free(p.conf);
    rp_model_free(m);

    rp_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification_pass),
        cmocka_unit_test(test_segmentation_pass),
    };
    return cmocka_run_group_tests_name("evaluate_pass", tests, NULL, NULL);
}
