/* The `report` stage: every wired metrics artifact (train's history, the
 * evaluate results, ...) and optionally a dataset for sample images become
 * report.html (self-contained), report.md and metrics.json in the run
 * directory. */
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
    for (size_t i = 0; i < n; i++) {
        in[i].m = rp_stage_input_at(st, "metrics", i);
        in[i].source = rp_stage_input_source(st, "metrics", i);
        if (!in[i].source) in[i].source = "metrics";
    }
    rp_report_opts o = {0};
    o.rundir = rp_stage_rundir(st);
    o.data = rp_stage_input(st, "data");
    o.samples = (int)rp_param_int(params, "samples", 24);
    o.seed = rp_stage_seed(st);
    char *pname = NULL;
    o.title = rp_param_str(params, "title", NULL);
    if (!o.title || !*o.title) o.title = pname = pipeline_name(o.rundir);
    if (!o.title) o.title = "runpipe report";
    int rc = rp_report_write(&o, in, n, err);
    if (rc == RP_OK) rp_info("report: %s/report.html", o.rundir);
    free(pname);
    free(in);
    return rc;
}
