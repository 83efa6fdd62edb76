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

/* Check time: classes are the input's; the image geometry is what the
 * transform chain makes of the input's (a resize or crop fixes it). */
static int aug_check_augment(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    rp_transform_chain *chain;
    int rc = rp_transform_chain_new(rp_node_get(p, "transforms"), &chain, err);
    if (rc) return rc;
    int64_t v;
    const rp_node *at = NULL, *in_at = NULL;
    if (rp_check_input_fact(ck, "data", 0, RP_FACT_CLASSES, &v, &at))
        rp_check_declare(ck, "data", RP_FACT_CLASSES, v, at);
    int c = 0, h = 0, w = 0;
    if (rp_check_input_fact(ck, "data", 0, RP_FACT_CHANNELS, &v, &in_at)) c = (int)v;
    if (rp_check_input_fact(ck, "data", 0, RP_FACT_HEIGHT, &v, &in_at)) h = (int)v;
    if (rp_check_input_fact(ck, "data", 0, RP_FACT_WIDTH, &v, NULL)) w = (int)v;
    int c0 = c, h0 = h, w0 = w;
    rp_transform_chain_out_shape(chain, &c, &h, &w);
    rp_transform_chain_free(chain);
    /* unchanged: still where the input said; changed: the transforms */
    const rp_node *tat = rp_node_get(p, "transforms");
    if (c > 0) rp_check_declare(ck, "data", RP_FACT_CHANNELS, c, c == c0 ? in_at : tat);
    if (h > 0 && w > 0) {
        const rp_node *gat = h == h0 && w == w0 ? in_at : tat;
        rp_check_declare(ck, "data", RP_FACT_HEIGHT, h, gat);
        rp_check_declare(ck, "data", RP_FACT_WIDTH, w, gat);
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port augment_data_in[] = {{"data", RP_ART_DATASET, 0, "dataset to transform"}};
static const struct rp_port augment_data_out[] = {{"data", RP_ART_DATASET, 0, "the transformed view"}};
static const struct rp_stage_def augment_stage = {"augment", "apply a chain of transforms to a dataset (a lazy view)", augment_data_in, 1, augment_data_out, 1,
     aug_run_augment, 0, aug_check_augment};
RP_STAGE(augment_stage)
