/* The `report` stage: every wired metrics artifact (train's history, the
 * evaluate results, ...) and optionally a dataset for sample images become
 * report.html (self-contained) and report.md in the run directory, and
 * metrics.json (every input's scalars, tables and files) in the stage's own
 * folder, since the run folder's metrics.json is the engine's summary. */
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* The pipeline's `name:` from pipeline.resolved.yaml, for the title. */
static char *pipeline_name(const char *rundir) {
    char path[1100];
    snprintf(path, sizeof path, "%s/pipeline.resolved.yaml", rundir);
    rp_node *root = NULL;
    rp_error e;
    rp_error_clear(&e);
    if (rp_node_parse_file(path, &root, &e) != RP_OK) return NULL;
    const char *nm = rp_node_str(rp_node_get(root, "name"));
    char *r = nm ? strdup(nm) : NULL;
    rp_node_free(root);
    return r;
}

int rp_report_stage_run(rp_stage *st, rp_error *err) {
    const rp_node *params = rp_stage_params(st);
    size_t n = rp_stage_input_count(st, "metrics");
    rp_report_input *in = calloc(n ? n : 1, sizeof *in);
    if (!in) return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory");
    /* label each input by its stage: "fit.metrics" → "fit" */
    char(*labels)[128] = calloc(n ? n : 1, sizeof *labels);
    if (!labels) {
        free(in);
        return rp_error_set(err, RP_ERR_NOMEM, "report: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        in[i].m = rp_stage_input_at(st, "metrics", i);
        const char *src = rp_stage_input_source(st, "metrics", i);
        snprintf(labels[i], sizeof labels[i], "%s", src ? src : "metrics");
        size_t l = strlen(labels[i]);
        if (l > 8 && strcmp(labels[i] + l - 8, ".metrics") == 0) labels[i][l - 8] = 0;
        in[i].source = labels[i];
    }
    rp_report_opts o = {0};
    o.rundir = rp_stage_rundir(st);
    o.stage = st;
    const char *sdir = NULL;
    int rc = rp_stage_dir(st, &sdir, err);
    if (rc != RP_OK) {
        free(labels);
        free(in);
        return rc;
    }
    o.json_dir = sdir;
    o.data = rp_stage_input(st, "data");
    o.samples = (int)rp_param_int(params, "samples");
    o.model = rp_stage_input(st, "model");
    o.predictions = (int)rp_param_int(params, "predictions");
    const rp_node *pal = rp_node_get(params, "palette");
    unsigned char colours[256][3];
    int bad = -1;
    o.n_palette = rp_parse_palette(pal, colours, 256, &bad);
    o.palette = (const unsigned char(*)[3])colours;
    if (o.n_palette < 0) {
        free(labels);
        free(in);
        return rp_error_at(err, rp_node_at(pal, (size_t)bad), RP_ERR_INVALID,
                           "report: 'palette': expected \"#RRGGBB\"");
    }
    o.seed = rp_stage_seed(st);
    char *pname = NULL;
    o.title = rp_param_has(params, "title") ? rp_param_str(params, "title") : NULL;
    if (!o.title || !*o.title) o.title = pname = pipeline_name(o.rundir);
    if (!o.title) o.title = "runpipe report";
    rc = rp_report_write(&o, in, n, err);
    if (rc == RP_OK) rp_info("report: %s/report.html", o.rundir);
    int summary = 0;
    if (rc == RP_OK) rc = rp_report_matrix_summary(&o, in, n, &summary, err);
    if (rc == RP_OK && summary) rp_info("matrix summary: %s/../summary.html", o.rundir);
    free(pname);
    free(labels);
    free(in);
    return rc;
}

/* ---- stage declaration ---- */
static const struct rp_port report_inputs[] = {
    {"metrics", RP_ART_METRICS, RP_PORT_MULTI,
     "metrics to include: train's history (learning curves), evaluate's tables, ..."},
    {"data", RP_ART_DATASET, RP_PORT_OPTIONAL, "dataset to show sample images from"},
    {"model", RP_ART_MODEL, RP_PORT_OPTIONAL,
     "the trained model: each sample of a classification `data` is captioned with its "
     "prediction; for segmentation, predicted masks next to the true ones for `predictions` "
     "samples"},
};
static const struct rp_stage_def report_stage = {"report",
     "write report.html (learning curves, confusion matrices, classification reports, sample "
     "images, pipeline) and report.md into the run folder, metrics.json into the stage folder, "
     "summary.html over the cells of a matrix",
     report_inputs, RP_COUNT(report_inputs), NULL, 0, rp_report_stage_run, 0, NULL};
RP_STAGE(report_stage)
