/* Stage `model.save`: write a model as safetensors (architecture in the
 * header metadata, so `model.load` rebuilds it). Atomic: written to a
 * temporary name and renamed (DESIGN §9). Params: schemas/model.save.yaml.
 * A relative `path` is inside this stage's folder of the run directory. */
#include <stdio.h>
#include <string.h>

#include "model_stages.h"

int model_save_run(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    const rp_model *m = rp_stage_input(st, "model");
    if (!m) return rp_error_set(err, RP_ERR_INTERNAL, "input 'model' is not wired");
    const char *file = rp_param_str(p, "path");
    const char *sdir = NULL;
    int rc = rp_stage_dir(st, &sdir, err);
    if (rc) return rc;
    char path[1024];
    if (file[0] == '/')
        snprintf(path, sizeof path, "%s", file);
    else
        snprintf(path, sizeof path, "%s/%s", sdir, file);
    /* parent folders of the target */
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        rc = rp_mkdirs(parent, err);
        if (rc) return rc;
    } else {
        snprintf(parent, sizeof parent, "%s", slash ? "/" : ".");
    }
    rc = rp_model_save(m, path, err);
    if (rc) return rc;
    rp_info("%s: saved model to %s", rp_stage_id(st), path);
    rp_files *f = rp_files_new(parent);
    if (!f) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return rp_stage_output(st, "files", f, err);
}

/* ---- stage declaration ---- */
static const struct rp_port save_save_in[] = {
    {"model", RP_ART_MODEL, 0, "the model to write"},
};
static const struct rp_port save_save_out[] = {
    {"files", RP_ART_FILES, 0, "the folder the model file was written to"},
};
static const struct rp_stage_def save_stage = {"model.save", "write a model as safetensors (atomic)", save_save_in, RP_COUNT(save_save_in), save_save_out,
     RP_COUNT(save_save_out), model_save_run, 0, NULL};
RP_STAGE(save_stage)
