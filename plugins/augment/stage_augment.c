/* augment — a dataset view whose samples pass through a transform chain;
 * the chain's randomness is keyed by (root seed, this stage's id, epoch,
 * sample index), so every epoch re-draws and every run repeats. */
#include <stdio.h>

#include "augment.h"

int aug_run_augment(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    const rp_dataset *in = rp_stage_input(st, "data");
    rp_transform_chain *chain;
    int rc = rp_transform_chain_new(rp_node_get(p, "transforms"), &chain, err);
    if (rc) return rc;
    char name[128];
    snprintf(name, sizeof name, "%.80s+%.40s", in->name, rp_stage_id(st));
    rp_dataset *out;
    rc = rp_dataset_transformed(in, chain, rp_stage_seed(st), rp_hash_str(rp_stage_id(st)), name,
                                &out, err);
    if (rc) return rc;
    rp_stage_note(st, "transforms", (double)rp_transform_chain_len(chain));
    return rp_stage_output(st, "data", out, err);
}

/* ---- stage declaration ---- */
static const struct rp_port augment_data_in[] = {{"data", RP_ART_DATASET, 0, "dataset to transform"}};
static const struct rp_port augment_data_out[] = {{"data", RP_ART_DATASET, 0, "the transformed view"}};
static const struct rp_stage_def augment_stage = {"augment", "apply a chain of transforms to a dataset (a lazy view)", augment_data_in, 1, augment_data_out, 1,
     aug_run_augment};
RP_STAGE(augment_stage)
