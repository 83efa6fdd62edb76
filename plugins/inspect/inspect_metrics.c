/* inspect.metrics: show one or several metrics artifacts and merge them into
 * one (scalar names prefixed by their source when `prefix`). */
#include <stdio.h>
#include <string.h>

#include "inspect.h"

int inspect_run_metrics(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    int prefix = rp_param_bool(p, "prefix");
    int show = rp_param_bool(p, "print");
    rp_metrics *out = rp_metrics_new();
    if (!out) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    size_t n = rp_stage_input_count(st, "metrics");
    for (size_t i = 0; i < n; i++) {
        const rp_metrics *m = rp_stage_input_at(st, "metrics", i);
        const char *src = rp_stage_input_source(st, "metrics", i);
        char id[256];
        snprintf(id, sizeof id, "%s", src ? src : "?");
        char *dot = strrchr(id, '.');
        if (dot) *dot = 0; /* "eval.metrics" → "eval" */
        for (size_t k = 0; k < m->n; k++) {
            char key[512];
            if (prefix)
                snprintf(key, sizeof key, "%s.%s", id, m->names[k]);
            else
                snprintf(key, sizeof key, "%s", m->names[k]);
            if (show) rp_info("  %-32s %.6g", key, m->values[k]);
            int s = rp_metrics_set(out, key, m->values[k], err);
            if (s != RP_OK) {
                rp_metrics_free(out);
                return s;
            }
        }
    }
    return rp_stage_output(st, "metrics", out, err);
}

/* ---- stage declaration ---- */
static const struct rp_port metrics_metrics_out[] = {
    {"metrics", RP_ART_METRICS, 0, "scalars (size, classes, mean.cK, std.cK) + tables"}};
static const struct rp_port metrics_metrics_in[] = {
    {"metrics", RP_ART_METRICS, RP_PORT_MULTI, "metrics to show (one or several)"}};
static const struct rp_stage_def metrics_stage = {"inspect.metrics", "print metrics and merge them into one artifact (prefixed by source)",
     metrics_metrics_in, 1, metrics_metrics_out, 1, inspect_run_metrics, 0, NULL};
RP_STAGE(metrics_stage)
