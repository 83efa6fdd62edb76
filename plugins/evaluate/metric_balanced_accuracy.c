/* Metric component `balanced_accuracy`: the mean of per-class recall over the
 * classes present in the targets (sklearn.metrics.balanced_accuracy_score,
 * scikit-learn 1.2 docs; classes with no true sample are left out). Written
 * as "<set>.balanced_accuracy". */
#include <stdlib.h>

#include "evaluate.h"

typedef struct ba_state {
    int c;
    int64_t *support, *hits; /* per class */
} ba_state;

static void ba_destroy(void *state) {
    ba_state *s = state;
    if (!s) return;
    free(s->support);
    free(s->hits);
    free(s);
}

static int ba_create(const rp_node *params, int c, void **state, rp_error *err) {
    (void)params;
    ba_state *s = calloc(1, sizeof *s);
    if (s) {
        s->c = c;
        s->support = calloc((size_t)c, sizeof(int64_t));
        s->hits = calloc((size_t)c, sizeof(int64_t));
    }
    if (!s || !s->support || !s->hits) {
        ba_destroy(s);
        return rp_error_set(err, RP_ERR_NOMEM, "metric 'balanced_accuracy': out of memory");
    }
    *state = s;
    return RP_OK;
}

static int ba_update(void *state, const rp_tensor *logits, const int32_t *target, rp_error *err) {
    ba_state *s = state;
    ev_rows g;
    int rc = ev_rows_init(logits, s->c, "balanced_accuracy", &g, err);
    if (rc != RP_OK) return rc;
    float *row = malloc(sizeof(float) * (size_t)s->c);
    if (!row) return rp_error_set(err, RP_ERR_NOMEM, "metric 'balanced_accuracy': out of memory");
    for (int64_t r = 0; r < g.rows; r++) {
        int32_t t = target[r];
        if (t < 0 || t >= s->c) continue;
        ev_rows_get(&g, logits, r, row);
        s->support[t]++;
        s->hits[t] += ev_argmax(row, s->c) == t;
    }
    free(row);
    return RP_OK;
}

static int ba_finish(void *state, const char *prefix, rp_metrics *m, rp_error *err) {
    ba_state *s = state;
    double sum = 0;
    int n = 0;
    for (int k = 0; k < s->c; k++)
        if (s->support[k] > 0) {
            sum += (double)s->hits[k] / (double)s->support[k];
            n++;
        }
    char key[256];
    snprintf(key, sizeof key, "%sbalanced_accuracy", prefix);
    return rp_metrics_set(m, key, n ? sum / n : 0.0, err);
}

const struct rp_metric_ops ev_metric_balanced_accuracy = {ba_create, ba_update, ba_finish,
                                                          ba_destroy};

RP_COMPONENT(RP_COMP_METRIC, "balanced_accuracy",
             "mean per-class recall over the classes present (sklearn balanced_accuracy_score)", ev_metric_balanced_accuracy)
