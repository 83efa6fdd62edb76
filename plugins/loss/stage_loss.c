/* The `loss` stage: configures one loss from its component spec,
 *   - id: crit
 *     use: loss
 *     with: {loss: {focal: {alpha: 1, gamma: 2}}}
 * and hands the `loss` artifact to the store (train and evaluate consume it).
 * Building it here means a bad parameter fails in this stage, before any
 * training starts. */
#include "loss_common.h"

int rp_loss_stage_run(rp_stage *st, rp_error *err) {
    const rp_node *params = rp_stage_params(st);
    const rp_node *spec = rp_node_get(params, "loss");
    if (!spec)
        return rp_error_at(err, rp_stage_node(st), RP_ERR_INVALID,
                           "stage 'loss': missing 'loss' (e.g. loss: {focal: {gamma: 2}})");
    rp_loss *l = NULL;
    int rc = rp_loss_new(spec, &l, err);
    if (rc != RP_OK) return rc;
    rp_info("loss: %s", l->name);
    return rp_stage_output(st, "loss", l, err);
}

/* ---- stage declaration ---- */
static const struct rp_port loss_loss_outputs[] = {
    {"loss", RP_ART_LOSS, 0, "the configured loss, for train and evaluate"},
};
static const struct rp_stage_def loss_stage = {"loss", "configure a training loss (cross_entropy, focal, complement_flatten, dice, sum, ...)",
     NULL, 0, loss_loss_outputs, RP_COUNT(loss_loss_outputs), rp_loss_stage_run, 0, NULL};
RP_STAGE(loss_stage)
