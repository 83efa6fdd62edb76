/* Segmentation metrics from a pixel confusion matrix (see evaluate.h).
 * IoU = |X∩Y| / |X∪Y| = TP / (TP + FP + FN) (Jaccard), Dice = 2|X∩Y| /
 * (|X| + |Y|) = 2TP / (2TP + FP + FN) (S1). */
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

int ev_seg_from_confusion(const int64_t *conf, int c, ev_seg *s, rp_error *err) {
    memset(s, 0, sizeof *s);
    s->c = c;
    s->iou = calloc((size_t)c, sizeof(double));
    s->dice = calloc((size_t)c, sizeof(double));
    s->support = calloc((size_t)c, sizeof(int64_t));
    s->present = calloc((size_t)c, sizeof(int));
    if (!s->iou || !s->dice || !s->support || !s->present) {
        ev_seg_release(s);
        return rp_error_set(err, RP_ERR_NOMEM, "segmentation metrics: out of memory");
    }
    int64_t trace = 0;
    int npresent = 0;
    for (int k = 0; k < c; k++) {
        int64_t tp = conf[(size_t)k * c + k], row = 0, col = 0;
        for (int j = 0; j < c; j++) {
            row += conf[(size_t)k * c + j];
            col += conf[(size_t)j * c + k];
        }
        trace += tp;
        s->total += row;
        s->support[k] = row;
        int64_t fp = col - tp, fn = row - tp;
        if (tp + fp + fn > 0) {
            s->present[k] = 1;
            npresent++;
            s->iou[k] = (double)tp / (double)(tp + fp + fn);
            s->dice[k] = 2.0 * (double)tp / (double)(2 * tp + fp + fn);
            s->mean_iou += s->iou[k];
            s->mean_dice += s->dice[k];
        }
    }
    if (npresent) {
        s->mean_iou /= npresent;
        s->mean_dice /= npresent;
    }
    s->pixel_accuracy = s->total ? (double)trace / (double)s->total : 0.0;
    return RP_OK;
}

void ev_seg_release(ev_seg *s) {
    free(s->iou);
    free(s->dice);
    free(s->support);
    free(s->present);
    memset(s, 0, sizeof *s);
}

int ev_seg_table(rp_metrics *m, const char *name, const ev_seg *s,
                 const char *const *class_names, rp_error *err) {
    static const char *const cols[] = {"iou", "dice", "support"};
    char(*ids)[24] = calloc((size_t)s->c + 1, sizeof *ids);
    const char **rn = calloc((size_t)s->c + 1, sizeof *rn);
    if (!ids || !rn) {
        free(ids);
        free(rn);
        return rp_error_set(err, RP_ERR_NOMEM, "segmentation table: out of memory");
    }
    for (int k = 0; k < s->c; k++) {
        if (class_names && class_names[k]) {
            rn[k] = class_names[k];
        } else {
            snprintf(ids[k], sizeof ids[k], "%d", k);
            rn[k] = ids[k];
        }
    }
    rn[s->c] = "mean";
    rp_table *t = rp_metrics_add_table(m, name, (size_t)s->c + 1, 3, cols, rn, err);
    free(ids);
    free(rn);
    if (!t) return err ? err->status : RP_ERR_NOMEM;
    for (int k = 0; k < s->c; k++) {
        t->values[k * 3] = s->iou[k];
        t->values[k * 3 + 1] = s->dice[k];
        t->values[k * 3 + 2] = (double)s->support[k];
    }
    t->values[s->c * 3] = s->mean_iou;
    t->values[s->c * 3 + 1] = s->mean_dice;
    t->values[s->c * 3 + 2] = (double)s->total;
    return RP_OK;
}
