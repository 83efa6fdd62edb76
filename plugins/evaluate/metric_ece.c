/* Metric component `ece`: expected calibration error (Guo et al., "On
 * Calibration of Modern Neural Networks", ICML 2017, eq. 3). Confidence =
 * the largest softmax probability; samples (pixels) fall into `bins`
 * equal-width bins (lo, hi] of confidence; ECE = sum_b |B_b|/n |acc(B_b) -
 * conf(B_b)|, MCE = max_b |acc(B_b) - conf(B_b)|. Written as "<set>.ece" and
 * "<set>.mce". */
#include <math.h>
#include <stdlib.h>

#include "evaluate.h"

typedef struct ece_state {
    int c, bins;
    int64_t *count, *correct;
    double *conf_sum;
} ece_state;

static void ece_destroy(void *state) {
    ece_state *s = state;
    if (!s) return;
    free(s->count);
    free(s->correct);
    free(s->conf_sum);
    free(s);
}

static int ece_create(const rp_node *params, int c, void **state, rp_error *err) {
    int64_t bins = rp_param_int(params, "bins");
    if (bins < 1 || bins > 1000)
        return rp_error_at(err, rp_node_get(params, "bins"), RP_ERR_INVALID,
                           "metric 'ece': bins must be in [1, 1000], got %lld", (long long)bins);
    ece_state *s = calloc(1, sizeof *s);
    if (s) {
        s->c = c;
        s->bins = (int)bins;
        s->count = calloc((size_t)bins, sizeof(int64_t));
        s->correct = calloc((size_t)bins, sizeof(int64_t));
        s->conf_sum = calloc((size_t)bins, sizeof(double));
    }
    if (!s || !s->count || !s->correct || !s->conf_sum) {
        ece_destroy(s);
        return rp_error_set(err, RP_ERR_NOMEM, "metric 'ece': out of memory");
    }
    *state = s;
    return RP_OK;
}

static int ece_update(void *state, const rp_tensor *logits, const int32_t *target, rp_error *err) {
    ece_state *s = state;
    ev_rows g;
    int rc = ev_rows_init(logits, s->c, "ece", &g, err);
    if (rc != RP_OK) return rc;
    float *row = malloc(sizeof(float) * (size_t)s->c);
    if (!row) return rp_error_set(err, RP_ERR_NOMEM, "metric 'ece': out of memory");
    for (int64_t r = 0; r < g.rows; r++) {
        int32_t t = target[r];
        if (t < 0 || t >= s->c) continue;
        ev_rows_get(&g, logits, r, row);
        int pred = ev_argmax(row, s->c);
        double z = 0;
        for (int k = 0; k < s->c; k++) z += exp((double)row[k] - (double)row[pred]);
        double conf = 1.0 / z; /* max softmax probability */
        int b = (int)ceil(conf * s->bins) - 1; /* bin (b/M, (b+1)/M] */
        if (b < 0) b = 0;
        if (b >= s->bins) b = s->bins - 1;
        s->count[b]++;
        s->correct[b] += pred == t;
        s->conf_sum[b] += conf;
    }
    free(row);
    return RP_OK;
}

static int ece_finish(void *state, const char *prefix, rp_metrics *m, rp_error *err) {
    ece_state *s = state;
    int64_t n = 0;
    for (int b = 0; b < s->bins; b++) n += s->count[b];
    double ece = 0, mce = 0;
    for (int b = 0; b < s->bins; b++) {
        if (!s->count[b]) continue;
        double gap = fabs((double)s->correct[b] / (double)s->count[b] -
                          s->conf_sum[b] / (double)s->count[b]);
        ece += (double)s->count[b] / (double)n * gap;
        if (gap > mce) mce = gap;
    }
    char key[256];
    snprintf(key, sizeof key, "%sece", prefix);
    int rc = rp_metrics_set(m, key, ece, err);
    snprintf(key, sizeof key, "%smce", prefix);
    if (rc == RP_OK) rc = rp_metrics_set(m, key, mce, err);
    return rc;
}

const struct rp_metric_ops ev_metric_ece = {ece_create, ece_update, ece_finish, ece_destroy};

RP_COMPONENT(RP_COMP_METRIC, "ece",
             "expected / maximum calibration error of the softmax confidence", ev_metric_ece)
