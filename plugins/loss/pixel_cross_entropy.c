/* pixel_cross_entropy: per-pixel cross-entropy for segmentation (S1):
 * logits [N, C, H, W], targets [N, H, W], mean over the non-ignored pixels —
 * torch.nn.CrossEntropyLoss on 4-D input. Class weights, label smoothing and
 * ignore_index as in cross_entropy.c, which holds the kernel. */
#include "loss_common.h"

static int pce_create(const rp_node *params, void **state, rp_error *err) {
    return loss_ce_create_named(params, "pixel_cross_entropy", state, err);
}

const struct rp_loss_ops rp_loss_pixel_cross_entropy_ops = {pce_create, loss_ce_forward,
                                                            loss_ce_destroy};

RP_COMPONENT(RP_COMP_LOSS, "pixel_cross_entropy",
             "per-pixel cross-entropy for [N, C, H, W] logits and [N, H, W] masks", rp_loss_pixel_cross_entropy_ops)
