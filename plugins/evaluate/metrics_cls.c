/* Classification metrics with scikit-learn's semantics (see evaluate.h;
 * sklearn.metrics.precision_recall_fscore_support and classification_report,
 * scikit-learn 1.2 docs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

static double safe_div(double a, double b) { return b > 0 ? a / b : 0.0; }

int ev_report_from_confusion(const int64_t *conf, int c, ev_report *r, rp_error *err) {
    memset(r, 0, sizeof *r);
    r->labels = calloc((size_t)c, sizeof *r->labels);
    r->precision = calloc((size_t)c, sizeof(double));
    r->recall = calloc((size_t)c, sizeof(double));
    r->f1 = calloc((size_t)c, sizeof(double));
    r->support = calloc((size_t)c, sizeof(int64_t));
    if (!r->labels || !r->precision || !r->recall || !r->f1 || !r->support) {
        ev_report_release(r);
        return rp_error_set(err, RP_ERR_NOMEM, "classification report: out of memory");
    }
    int64_t trace = 0;
    for (int k = 0; k < c; k++) {
        int64_t tp = conf[(size_t)k * c + k], row = 0, col = 0;
        for (int j = 0; j < c; j++) {
            row += conf[(size_t)k * c + j];
            col += conf[(size_t)j * c + k];
        }
        trace += tp;
        r->total += row;
        if (row == 0 && col == 0) continue; /* in neither y_true nor y_pred */
        int i = r->n++;
        r->labels[i] = k;
        r->support[i] = row;
        r->precision[i] = safe_div((double)tp, (double)col);
        r->recall[i] = safe_div((double)tp, (double)row);
        double pr = r->precision[i] + r->recall[i];
        r->f1[i] = pr > 0 ? 2 * r->precision[i] * r->recall[i] / pr : 0.0;
    }
    r->accuracy = safe_div((double)trace, (double)r->total);
    for (int i = 0; i < r->n; i++) {
        r->macro[0] += r->precision[i];
        r->macro[1] += r->recall[i];
        r->macro[2] += r->f1[i];
        r->weighted[0] += r->precision[i] * (double)r->support[i];
        r->weighted[1] += r->recall[i] * (double)r->support[i];
        r->weighted[2] += r->f1[i] * (double)r->support[i];
    }
    for (int j = 0; j < 3; j++) {
        r->macro[j] = safe_div(r->macro[j], r->n);
        r->weighted[j] = safe_div(r->weighted[j], (double)r->total);
    }
    return RP_OK;
}

void ev_report_release(ev_report *r) {
    free(r->labels);
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    memset(r, 0, sizeof *r);
}

int ev_argmax(const float *s, int c) {
    int best = 0;
    for (int k = 1; k < c; k++)
        if (s[k] > s[best]) best = k;
    return best;
}

int ev_topk_hit(const float *s, int c, int y, int k) {
    int above = 0;
    for (int j = 0; j < c; j++)
        if (s[j] > s[y] || (s[j] == s[y] && j < y)) above++;
    return above < k;
}

int ev_report_table(rp_metrics *m, const char *name, const ev_report *r,
                    const char *const *class_names, rp_error *err) {
    static const char *const cols[] = {"precision", "recall", "f1-score", "support"};
    size_t rows = (size_t)r->n + 3;
    const char **rn = calloc(rows, sizeof *rn);
    char(*idbuf)[24] = calloc((size_t)r->n + 1, sizeof *idbuf);
    if (!rn || !idbuf) {
        free(rn);
        free(idbuf);
        return rp_error_set(err, RP_ERR_NOMEM, "report table: out of memory");
    }
    for (int i = 0; i < r->n; i++) {
        if (class_names && class_names[r->labels[i]]) {
            rn[i] = class_names[r->labels[i]];
        } else {
            snprintf(idbuf[i], sizeof idbuf[i], "%d", r->labels[i]);
            rn[i] = idbuf[i];
        }
    }
    rn[r->n] = "accuracy";
    rn[r->n + 1] = "macro avg";
    rn[r->n + 2] = "weighted avg";
    rp_table *t = rp_metrics_add_table(m, name, rows, 4, cols, rn, err);
    free(rn);
    free(idbuf);
    if (!t) return err ? err->status : RP_ERR_NOMEM;
    for (int i = 0; i < r->n; i++) {
        double *v = t->values + (size_t)i * 4;
        v[0] = r->precision[i], v[1] = r->recall[i], v[2] = r->f1[i], v[3] = (double)r->support[i];
    }
    double *v = t->values + (size_t)r->n * 4;
    v[0] = NAN, v[1] = NAN, v[2] = r->accuracy, v[3] = (double)r->total;
    for (int j = 0; j < 3; j++) {
        v[4 + j] = r->macro[j];
        v[8 + j] = r->weighted[j];
    }
    v[7] = v[11] = (double)r->total;
    return RP_OK;
}

int ev_confusion_table(rp_metrics *m, const char *name, const int64_t *conf, int c,
                       const char *const *class_names, rp_error *err) {
    char(*ids)[24] = calloc((size_t)c, sizeof *ids);
    const char **names = calloc((size_t)c, sizeof *names);
    if (!ids || !names) {
        free(ids);
        free(names);
        return rp_error_set(err, RP_ERR_NOMEM, "confusion table: out of memory");
    }
    for (int k = 0; k < c; k++) {
        if (class_names && class_names[k]) {
            names[k] = class_names[k];
        } else {
            snprintf(ids[k], sizeof ids[k], "%d", k);
            names[k] = ids[k];
        }
    }
    rp_table *t = rp_metrics_add_table(m, name, (size_t)c, (size_t)c, names, names, err);
    free(ids);
    free(names);
    if (!t) return err ? err->status : RP_ERR_NOMEM;
    for (size_t i = 0; i < (size_t)c * (size_t)c; i++) t->values[i] = (double)conf[i];
    return RP_OK;
}
