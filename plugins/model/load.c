/* Stage `model.load`: a model saved by runpipe (safetensors with the
 * architecture in the header metadata) back into the pipeline.
 * Params: schemas/model.load.yaml. */
#include <stdio.h>

#include "model_stages.h"

int model_load_run(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    const rp_node *pn = rp_node_get(p, "path");
    const char *file = rp_node_str(pn);
    if (!file || !file[0])
        return rp_error_at(err, pn ? pn : p, RP_ERR_INVALID, "'path': expected a file name");
    char store[2][1024], path[1024];
    const char *dirs[3];
    model_stage_dirs(st, store, dirs);
    model_resolve_path(file, dirs, path, sizeof path);
    rp_model *m = NULL;
    int rc = rp_model_load(path, &m, err);
    if (rc) return rc;
    char line[512], what[1100];
    snprintf(what, sizeof what, "%s: loaded '%s'", rp_stage_id(st), path);
    model_summary(m, what, line, sizeof line);
    rp_info("%s", line);
    rp_stage_note(st, "params_total", (double)rp_model_count_weights(m, 0));
    return rp_stage_output(st, "model", m, err);
}

/* ---- stage declaration ---- */
static const struct rp_port load_load_out[] = {
    {"model", RP_ART_MODEL, 0, "the loaded model"},
};
static const struct rp_stage_def load_stage = {"model.load", "a model from a runpipe safetensors file", NULL, 0, load_load_out,
     RP_COUNT(load_load_out), model_load_run};
RP_STAGE(load_stage)
