/* train stage: history table, history.csv, the epoch line, monitors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness.h"
#include "../../../plugins/train/train.h"

static void test_epoch_line_standard(void **state) {
    (void)state;
    double row[H_NCOLS] = {3, 0.2034, 0.8464, 0.0744, 0.9568, 1e-5, 12.5};
    char buf[256];
    train_epoch_line(buf, sizeof buf, TRAIN_LOG_STANDARD, 50, row, 1, 0, 812.4);
    assert_string_equal(
        buf, "[03/50] train loss 0.2034 acc 0.8464 | val loss 0.0744 acc 0.9568 | lr 1.0e-05 | "
             "812 img/s");
    train_epoch_line(buf, sizeof buf, TRAIN_LOG_STANDARD, 300, row, 0, 0, 99.6);
    assert_string_equal(buf, "[003/300] train loss 0.2034 acc 0.8464 | lr 1.0e-05 | 100 img/s");
}

static void test_epoch_line_bracket(void **state) {
    (void)state;
    double row[H_NCOLS] = {1, 0.2034, 0.8464, 0.0744, 0.9568, 1e-5, 1};
    char buf[256];
    train_epoch_line(buf, sizeof buf, TRAIN_LOG_BRACKET, 50, row, 1, 0, 0);
    assert_string_equal(buf,
                        "[01] train: [Loss: 0.2034, Acc: 0.8464] | val: [Loss: 0.0744, Acc: 0.9568]");
}

static void test_history_csv(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    train_hist h = {0};
    double r1[H_NCOLS] = {1, 0.5, 0.75, NAN, NAN, 0.001, 1.25};
    double r2[H_NCOLS] = {2, 0.25, 0.875, NAN, NAN, 0.0005, 1.5};
    RP_ASSERT_OK(train_hist_append(&h, r1, &err), &err);
    RP_ASSERT_OK(train_hist_append(&h, r2, &err), &err);
    const char *path = rp_test_path(rp_test_tmpdir(), "history.csv");
    RP_ASSERT_OK(train_hist_write_csv(&h, path, &err), &err);
    char *text = NULL;
    size_t len = 0;
    RP_ASSERT_OK(rp_read_file(path, &text, &len, &err), &err);
    assert_string_equal(text, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n"
                              "1,0.500000,0.750000,,,0.001,1.250\n"
                              "2,0.250000,0.875000,,,0.0005,1.500\n");
    free(text);
    train_hist_release(&h);
}

/* Segmentation: the epoch line and history.csv carry mean IoU and Dice. */
static void test_segmentation_columns(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    double row[H_NCOLS] = {2, 0.5, 0.875, 0.625, 0.8125, 0.01, 3, 0.5, 0.625, 0.25, 0.375};
    char buf[256];
    train_epoch_line(buf, sizeof buf, TRAIN_LOG_STANDARD, 10, row, 1, 1, 50);
    assert_string_equal(buf, "[02/10] train loss 0.5000 acc 0.8750 miou 0.5000 dice 0.6250 | val "
                             "loss 0.6250 acc 0.8125 miou 0.2500 dice 0.3750 | lr 1.0e-02 | 50 img/s");
    train_hist h = {0};
    h.seg = 1;
    RP_ASSERT_OK(train_hist_append(&h, row, &err), &err);
    const char *path = rp_test_path(rp_test_tmpdir(), "seg_history.csv");
    RP_ASSERT_OK(train_hist_write_csv(&h, path, &err), &err);
    char *text = NULL;
    size_t len = 0;
    RP_ASSERT_OK(rp_read_file(path, &text, &len, &err), &err);
    assert_string_equal(text, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,train_miou,"
                              "train_dice,val_miou,val_dice\n"
                              "2,0.500000,0.875000,0.625000,0.812500,0.01,3.000,0.500000,0.625000,"
                              "0.250000,0.375000\n");
    free(text);
    train_hist_release(&h);
}

/* Pixel counts -> mean IoU / Dice over the classes present, as evaluate's
 * metrics_seg.c; ignored pixels (< 0) do not count. */
static void test_seg_means(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    rp_tensor *y;
    RP_ASSERT_OK(rp_tensor_new4(&y, 1, 3, 1, 4, &err), &err);
    /* argmax per pixel: 0, 1, 1, 0 (class 2 never predicted nor present) */
    const float v[12] = {5, 0, 0, 5, 0, 5, 5, 0, -1, -1, -1, -1};
    memcpy(y->data, v, sizeof v);
    const int32_t target[4] = {0, 1, 0, -1};
    train_seg s = {0};
    RP_ASSERT_OK(train_seg_add(&s, y, target, &err), &err);
    double miou, dice;
    train_seg_means(&s, &miou, &dice);
    /* class 0: tp 1, fp 0, fn 1 -> IoU 1/2, Dice 2/3; class 1: tp 1, fp 1, fn 0 -> 1/2, 2/3 */
    assert_true(fabs(miou - 0.5) < 1e-12);
    assert_true(fabs(dice - 2.0 / 3.0) < 1e-12);
    train_seg_clear(&s);
    train_seg_means(&s, &miou, &dice);
    assert_true(isnan(miou) && isnan(dice));
    rp_tensor *y2;
    RP_ASSERT_OK(rp_tensor_new4(&y2, 1, 2, 1, 4, &err), &err);
    assert_int_equal(train_seg_add(&s, y2, target, &err), RP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "the model gives 2 classes, earlier 3"));
    train_seg_release(&s);
    rp_tensor_free(y);
    rp_tensor_free(y2);
}

static void test_history_text_roundtrip(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    train_hist h = {0}, back = {0};
    for (int i = 0; i < 40; i++) { /* grows past the first allocation */
        double row[H_NCOLS] = {i + 1, 1.0 / 3.0 + i, 0.1 * i, NAN, 2.0 / 7.0, 1e-5 * i, 0.1};
        RP_ASSERT_OK(train_hist_append(&h, row, &err), &err);
    }
    char *text = NULL;
    RP_ASSERT_OK(train_hist_to_text(&h, &text, &err), &err);
    RP_ASSERT_OK(train_hist_from_text(&back, text, &err), &err);
    assert_int_equal(back.rows, h.rows);
    for (size_t i = 0; i < h.rows * H_NCOLS; i++) {
        if (isnan(h.v[i]))
            assert_true(isnan(back.v[i]));
        else
            assert_memory_equal(&h.v[i], &back.v[i], sizeof(double)); /* exact */
    }
    free(text);
    train_hist_release(&back);
    assert_int_not_equal(train_hist_from_text(&back, "1 2 3\n", &err), RP_OK);
    assert_non_null(strstr(err.msg, "expected 11"));
    train_hist_release(&back);
    train_hist_release(&h);
}

static void feed(train_monitor *m, int epoch, double val_loss) {
    double row[H_NCOLS] = {epoch, 1, 0.5, val_loss, 0.5, 0.1, 1};
    train_monitor_update(m, row);
}

static void test_monitor_early_stopping(void **state) {
    (void)state;
    rp_error err;
    rp_error_clear(&err);
    train_monitor m;
    RP_ASSERT_OK(train_monitor_init(&m, "val_loss", "auto", 0.01, 3, &err), &err);
    assert_false(m.maximize);
    feed(&m, 1, 1.0);
    feed(&m, 2, 0.8);  /* improves */
    feed(&m, 3, 0.795); /* within min_delta: not an improvement */
    assert_int_equal(m.bad, 1);
    feed(&m, 4, 0.9);
    assert_false(train_monitor_should_stop(&m));
    feed(&m, 5, 0.85);
    assert_true(train_monitor_should_stop(&m)); /* patience 3 reached after epoch 5 */
    assert_int_equal(m.best_epoch, 2);
    assert_true(m.best == 0.8);

    RP_ASSERT_OK(train_monitor_init(&m, "val_acc", "auto", 0, 0, &err), &err);
    assert_true(m.maximize);
    double r1[H_NCOLS] = {1, 1, 0.5, 1, 0.70, 0.1, 1};
    double r2[H_NCOLS] = {2, 1, 0.5, 1, 0.72, 0.1, 1};
    assert_true(train_monitor_update(&m, r1));
    assert_true(train_monitor_update(&m, r2));
    assert_false(train_monitor_should_stop(&m)); /* patience 0 = never */

    assert_int_not_equal(train_monitor_init(&m, "val_los", "auto", 0, 0, &err), RP_OK);
    assert_non_null(strstr(err.msg, "val_los"));
    assert_int_not_equal(train_monitor_init(&m, "val_loss", "up", 0, 0, &err), RP_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_line_standard),
        cmocka_unit_test(test_epoch_line_bracket),
        cmocka_unit_test(test_history_csv),
        cmocka_unit_test(test_history_text_roundtrip),
        cmocka_unit_test(test_segmentation_columns),
        cmocka_unit_test(test_seg_means),
        cmocka_unit_test(test_monitor_early_stopping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
