/* Best-value tracking (best checkpoint) and early stopping.
 *
 * Semantics follow Keras' EarlyStopping / Lightning's: an epoch improves when
 * its value beats the best so far by more than min_delta (below for `min`,
 * above for `max`); after `patience` epochs in a row without improvement,
 * training stops. S4: patience 3 on the validation loss. */
#include <math.h>
#include <string.h>

#include "train.h"

static const struct {
    const char *name;
    int col;
    int maximize;
} monitors[] = {
    {"val_loss", H_VAL_LOSS, 0},
    {"val_acc", H_VAL_ACC, 1},
    {"train_loss", H_TRAIN_LOSS, 0},
    {"train_acc", H_TRAIN_ACC, 1},
    {"val_miou", H_VAL_MIOU, 1},
    {"val_dice", H_VAL_DICE, 1},
    {"train_miou", H_TRAIN_MIOU, 1},
    {"train_dice", H_TRAIN_DICE, 1},
};

int train_monitor_init(train_monitor *m, const char *name, const char *mode, double min_delta,
                       int64_t patience, rp_error *err) {
    memset(m, 0, sizeof *m);
    m->col = -1;
    for (size_t i = 0; i < RP_COUNT(monitors); i++)
        if (!strcmp(name, monitors[i].name)) {
            m->col = monitors[i].col;
            m->maximize = monitors[i].maximize;
        }
    if (m->col < 0)
        return rp_error_set(err, RP_ERR_INVALID,
                            "unknown monitor '%s' (expected val_loss, val_acc, val_miou, "
                            "val_dice, train_loss, train_acc, train_miou or train_dice)",
                            name);
    if (!strcmp(mode, "min"))
        m->maximize = 0;
    else if (!strcmp(mode, "max"))
        m->maximize = 1;
    else if (strcmp(mode, "auto"))
        return rp_error_set(err, RP_ERR_INVALID, "unknown mode '%s' (expected min, max or auto)",
                            mode);
    m->min_delta = min_delta < 0 ? -min_delta : min_delta;
    m->patience = patience;
    m->best = NAN;
    return RP_OK;
}

const char *train_monitor_name(const train_monitor *m) {
    for (size_t i = 0; i < RP_COUNT(monitors); i++)
        if (monitors[i].col == m->col) return monitors[i].name;
    return "?";
}

int train_monitor_update(train_monitor *m, const double *row) {
    double v = row[m->col];
    int improved;
    if (isnan(v))
        improved = 0;
    else if (isnan(m->best))
        improved = 1;
    else if (m->maximize)
        improved = v > m->best + m->min_delta;
    else
        improved = v < m->best - m->min_delta;
    if (improved) {
        m->best = v;
        m->best_epoch = (int64_t)row[H_EPOCH];
        m->bad = 0;
    } else {
        m->bad++;
    }
    return improved;
}

int train_monitor_should_stop(const train_monitor *m) {
    return m->patience > 0 && m->bad >= m->patience;
}
