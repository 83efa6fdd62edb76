/* Grad-CAM (engine/nn/gradcam.c) against PyTorch's hook-based Grad-CAM
 * (tests/golden/make_gradcam.py -> tests/golden/data/gradcam.safetensors):
 * CIFAR ResNet-20 in eval mode with the formula weights both sides compute,
 * feature map layer3 (node layer3.2.relu2, the default), classes given and
 * predicted. Maps normalised by their maximum agree to 1e-4 and the arg-max
 * is the same pixel (where the reference has exact ties - the bilinear map
 * repeats clamped border values - any position holding the maximum). Also:
 * the pass leaves parameter gradients, batch-norm running statistics and the
 * mode flag untouched, and bad inputs give pinned messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"
#include "nn/graph.h"

static rp_st gold;

static int setup(void **state) {
    (void)state;
    rp_error err;
    rp_schema_dirs_init();
    rp_set_threads(2);
    RP_ASSERT_OK(rp_st_load(rp_test_path(rp_test_src(), "tests/golden/data/gradcam.safetensors"), &gold, &err),
                 &err);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rp_st_release(&gold);
    return 0;
}

static const rp_tensor *need(const char *k) {
    const rp_tensor *t = rp_st_get(&gold, k);
    if (!t) fail_msg("fixture lacks '%s'", k);
    return t;
}

static rp_model *resnet20(void) {
    rp_error err;
    rp_model *m;
    RP_ASSERT_OK(rp_model_build("resnet20", NULL, &m, &err), &err);
    rp_test_formula_fill(m);
    return m;
}

static void check_case(const char *name, int given) {
    rp_error err;
    rp_model *m = resnet20();
    rp_model_set_training(m, 0);
    const rp_tensor *x = need("x");
    char key[64];
    int32_t cls[6];
    const rp_tensor *lab = need("labels");
    for (int i = 0; i < 6; i++) cls[i] = (int32_t)lab->data[i];
    assert_string_equal(rp_model_last_conv(m), "layer3.2.relu2");
    rp_gradcam_out o = {0};
    RP_ASSERT_OK(rp_gradcam(m, x, NULL, given ? cls : NULL, 0, &o, &err), &err);
    snprintf(key, sizeof key, "%s.class", name);
    const rp_tensor *rc = need(key);
    for (int i = 0; i < 6; i++) assert_int_equal(o.cls[i], (int32_t)rc->data[i]);
    snprintf(key, sizeof key, "%s.map", name);
    const rp_tensor *ref = need(key);
    snprintf(key, sizeof key, "%s.argmax", name);
    const rp_tensor *ram = need(key);
    snprintf(key, sizeof key, "%s.argmax_gap", name);
    const rp_tensor *gap = need(key);
    assert_int_equal(o.maps.numel, ref->numel);
    const int64_t hw = 32 * 32;
    for (int i = 0; i < 6; i++) {
        const float *mp = o.maps.data + i * hw, *rp = ref->data + i * hw;
        float mx = 0;
        for (int64_t p = 0; p < hw; p++) mx = mp[p] > mx ? mp[p] : mx;
        assert_true(mx > 0);
        double worst = 0;
        for (int64_t p = 0; p < hw; p++) {
            double d = fabs(mp[p] / mx - rp[p]);
            worst = d > worst ? d : worst;
        }
        if (worst > 1e-4) fail_msg("%s sample %d: normalised map differs by %.3g", name, i, worst);
        int ry = (int)ram->data[2 * i], rx = (int)ram->data[2 * i + 1];
        int y = o.argmax[2 * i], xx = o.argmax[2 * i + 1];
        if (gap->data[i] > 1e-4f) {
            if (y != ry || xx != rx)
                fail_msg("%s sample %d: arg-max (%d, %d), PyTorch (%d, %d)", name, i, y, xx, ry, rx);
        } else if (rp[y * 32 + xx] < 1.0f - 1e-5f) {
            fail_msg("%s sample %d: arg-max (%d, %d) holds %.6f of the maximum", name, i, y, xx,
                     rp[y * 32 + xx]);
        }
    }
    rp_gradcam_out_release(&o);
    rp_model_free(m);
}

static void test_given_classes(void **state) {
    (void)state;
    check_case("true", 1);
}

static void test_predicted_classes(void **state) {
    (void)state;
    check_case("pred", 0);
}

/* No parameter gradient, no buffer and no mode change; a training-mode pass
 * (batch statistics) restores the running statistics it updated. */
static void test_side_effects(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = resnet20();
    rp_model_zero_grad(m);
    rp_model_set_training(m, 1);
    size_t np = rp_model_num_params(m);
    float **before = calloc(np, sizeof *before);
    for (size_t j = 0; j < np; j++) {
        rp_param *p = rp_model_param(m, j);
        before[j] = malloc(p->value->numel * sizeof(float));
        memcpy(before[j], p->value->data, p->value->numel * sizeof(float));
    }
    rp_gradcam_out o = {0};
    for (int training = 0; training < 2; training++) {
        RP_ASSERT_OK(rp_gradcam(m, need("x"), "layer2.2.relu2", NULL, training, &o, &err), &err);
        assert_int_equal(rp_model_is_training(m), 1);
        for (size_t j = 0; j < np; j++) {
            rp_param *p = rp_model_param(m, j);
            if (memcmp(before[j], p->value->data, p->value->numel * sizeof(float)))
                fail_msg("'%s' changed by a Grad-CAM pass (training %d)", p->name, training);
            if (!p->grad) continue;
            for (size_t i = 0; i < p->grad->numel; i++)
                if (p->grad->data[i] != 0.0f) fail_msg("'%s' got a gradient", p->name);
        }
        /* layer2 maps are 16 x 16, resized to 32 x 32 */
        assert_int_equal(o.maps.shape[1], 32);
    }
    /* a normal training step after the pass still works and fills gradients */
    const rp_tensor *y;
    RP_ASSERT_OK(rp_model_forward(m, need("x"), &y, &err), &err);
    rp_tensor *dy;
    RP_ASSERT_OK(rp_tensor_new(&dy, y->ndim, y->shape, &err), &err);
    rp_tensor_fill(dy, 0.1f);
    RP_ASSERT_OK(rp_model_backward(m, dy, &err), &err);
    assert_true(rp_model_find_param(m, "conv1.weight")->grad->data[0] != 0.0f);
    assert_null(rp_model_node_grad(m, "layer2.2.relu2")); /* the pass's retain ended */
    rp_tensor_free(dy);
    for (size_t j = 0; j < np; j++) free(before[j]);
    free(before);
    rp_gradcam_out_release(&o);
    rp_model_free(m);
}

/* align_corners=False on a 2x2 -> 4x4 plane: F.interpolate gives
 * [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, ...], [3, 3.25, 3.75, 4]]. */
static void test_bilinear(void **state) {
    (void)state;
    rp_error err;
    const float src[4] = {1, 2, 3, 4};
    float dst[16];
    RP_ASSERT_OK(rp_resize_bilinear_planes(src, 1, 2, 2, dst, 4, 4, &err), &err);
    const float want[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f,
                            2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
    for (int i = 0; i < 16; i++) assert_float_equal(dst[i], want[i], 1e-6);
}

static void test_bad_input(void **state) {
    (void)state;
    rp_error err;
    rp_model *m = resnet20();
    rp_gradcam_out o = {0};
    assert_int_equal(rp_gradcam(m, need("x"), "layer9", NULL, 0, &o, &err), RP_ERR_NOTFOUND);
    assert_string_equal(err.msg, "Grad-CAM on layer 'layer9': model has no layer 'layer9'");
    assert_int_equal(rp_gradcam(m, need("x"), "fc", NULL, 0, &o, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "Grad-CAM on layer 'fc': layer 'fc' is not before the model output: "
                                 "no gradient flows to it");
    assert_int_equal(rp_gradcam(m, need("x"), "avgpool", NULL, 0, &o, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "Grad-CAM on layer 'avgpool': Grad-CAM: layer 'avgpool' has output "
                                 "[6, 64], expected a feature map [N, C, H, W]");
    int32_t cls[6] = {0, 1, 2, 3, 4, 10};
    assert_int_equal(rp_gradcam(m, need("x"), NULL, cls, 0, &o, &err), RP_ERR_INVALID);
    assert_string_equal(err.msg, "Grad-CAM on layer 'layer3.2.relu2': Grad-CAM: class 10 of sample 5 "
                                 "is outside [0, 10)");
    rp_gradcam_out_release(&o);
    rp_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_given_classes),   cmocka_unit_test(test_predicted_classes),
        cmocka_unit_test(test_side_effects),    cmocka_unit_test(test_bilinear),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
