/* Stage `model.load`: a model back into the pipeline. A runpipe safetensors
 * file carries its architecture (header metadata); a plain state dict (a
 * torch.save .pth such as a model fine-tuned in PyTorch, or a safetensors
 * file without runpipe's metadata) needs `arch` (+ `classes`, `head`): the
 * model is built as model.build would and the file is loaded strictly.
 * Params: schemas/model.load.yaml. */
#include <stdio.h>

#include "model_stages.h"

static int present(const rp_node *n) { return n && n->kind != RP_NODE_NULL; }

/* model.build's params for the architecture part of model.load's. */
static int build_plain(const rp_node *p, const char *path, rp_stage *st, rp_model **out, rp_error *err) {
    *out = NULL;
    rp_node *bp = rp_node_new_map();
    if (!bp) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    static const char *const keys[] = {"arch", "classes", "head"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const rp_node *v = rp_node_get(p, keys[i]);
        if (!present(v)) continue;
        rp_node *c = rp_node_clone(v);
        if (!c || rp_node_map_set(bp, keys[i], c) != RP_OK) {
            rp_node_free(bp);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
    }
    /* what model.load never does (fixed here, not user defaults): no
     * pretrained file of its own, no grayscale adapter, nothing frozen */
    rp_node *fixed = NULL;
    if (rp_node_parse_string("{strict: true, gray_adapter: false, freeze: [], freeze_bn: false}", "<model.load>",
                             &fixed, err) != RP_OK) {
        rp_node_free(bp);
        return err->status;
    }
    for (size_t i = 0; i < fixed->n; i++) {
        rp_node *val = rp_node_clone(fixed->items[i]);
        if (!val || rp_node_map_set(bp, rp_node_str(fixed->keys[i]), val) != RP_OK) {
            rp_node_free(fixed);
            rp_node_free(bp);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
    }
    rp_node_free(fixed);
    rp_model *m = NULL;
    int rc = model_build_from_params(bp, rp_stage_seed(st), rp_stage_id(st), NULL, &m, err);
    rp_node_free(bp);
    if (rc) return rc;
    rp_load_report rep;
    rc = rp_model_load_weights(m, path, 1, &rep, err);
    rp_load_report_release(&rep);
    if (rc) {
        rp_model_free(m);
        return rc;
    }
    *out = m;
    return RP_OK;
}

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
    int plain = present(rp_node_get(p, "arch"));
    if (!plain && (present(rp_node_get(p, "classes")) || present(rp_node_get(p, "head"))))
        return rp_error_at(err, p, RP_ERR_INVALID,
                           "'classes' and 'head' describe the architecture of a plain state dict: "
                           "give 'arch' too");
    int rc = plain ? build_plain(p, path, st, &m, err) : rp_model_load(path, &m, err);
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
static const struct rp_stage_def load_stage = {"model.load",
                                               "a model from a runpipe safetensors file, or a plain "
                                               "state dict (.pth) with its architecture",
                                               NULL, 0, load_load_out, RP_COUNT(load_load_out), model_load_run, 0, NULL};
RP_STAGE(load_stage)
