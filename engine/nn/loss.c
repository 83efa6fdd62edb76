/* The `loss` artifact (loss.h): a configured loss component. Components are
 * found in the registry by name (plugins provide them), their params
 * validated against schemas/loss.<name>.yaml with defaults filled. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/loss.h"
#include "runpipe/plugin.h"

int rp_loss_new(const rp_node *spec, rp_loss **out, rp_error *err) {
    *out = NULL;
    const char *name = NULL;
    const rp_node *params = NULL;
    int rc = rp_component_spec(spec, &name, &params, err);
    if (rc != RP_OK) return rc;
    const struct rp_component *c = NULL;
    rc = rp_component_lookup(RP_COMP_LOSS, name, spec, &c, err);
    if (rc != RP_OK) return rc;
    const struct rp_loss_ops *ops = c->impl;
    if (!ops || !ops->create || !ops->forward)
        return rp_error_at(err, spec, RP_ERR_PLUGIN, "loss '%s': component has no operations",
                           name);
    rp_node *vp = NULL;
    rc = rp_component_params(RP_COMP_LOSS, name, params, &vp, err);
    if (rc != RP_OK) return rc;
    rp_loss *l = calloc(1, sizeof *l);
    if (!l || !(l->name = strdup(name))) {
        free(l);
        rp_node_free(vp);
        return rp_error_set(err, RP_ERR_NOMEM, "loss '%s': out of memory", name);
    }
    l->ops = ops;
    rc = ops->create(vp, &l->state, err);
    rp_node_free(vp);
    if (rc != RP_OK) {
        if (err && !err->file[0] && spec && spec->file) {
            /* locate the message at the spec when the component did not */
            snprintf(err->file, sizeof err->file, "%s", spec->file);
            err->line = spec->line;
            err->col = spec->col;
        }
        free(l->name);
        free(l);
        return rc;
    }
    *out = l;
    return RP_OK;
}

void rp_loss_free(rp_loss *l) {
    if (!l) return;
    if (l->ops && l->ops->destroy) l->ops->destroy(l->state);
    free(l->name);
    free(l);
}

int rp_loss_compute(const rp_loss *l, const rp_tensor *logits, const int32_t *target,
                    double *loss, rp_tensor *dlogits, rp_error *err) {
    if (!l || !logits || !target || !loss)
        return rp_error_set(err, RP_ERR_INVALID, "rp_loss_compute: NULL argument");
    int rc = l->ops->forward(l->state, logits, target, loss, dlogits, err);
    if (rc != RP_OK) return rc;
    if (!isfinite(*loss))
        return rp_error_set(err, RP_ERR_NUMERIC, "loss '%s' is %s", l->name,
                            isnan(*loss) ? "NaN" : "infinite");
    return RP_OK;
}
