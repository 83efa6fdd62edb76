/* The loss plugin: the `loss` stage and the loss components
 * (cross_entropy, pixel_cross_entropy, focal, complement_flatten, dice, sum),
 * one file each. */
#include "loss_common.h"

static const struct rp_port loss_outputs[] = {
    {"loss", RP_ART_LOSS, 0, "the configured loss, for train and evaluate"},
};

static const struct rp_stage_def stages[] = {
    {"loss", "configure a training loss (cross_entropy, focal, complement_flatten, dice, sum, ...)",
     NULL, 0, loss_outputs, RP_COUNT(loss_outputs), rp_loss_stage_run, 0},
};

static const struct rp_component components[] = {
    {RP_COMP_LOSS, "cross_entropy",
     "softmax cross-entropy with class weights, label smoothing, ignore_index (torch semantics)",
     &rp_loss_cross_entropy_ops},
    {RP_COMP_LOSS, "pixel_cross_entropy",
     "per-pixel cross-entropy for [N, C, H, W] logits and [N, H, W] masks",
     &rp_loss_pixel_cross_entropy_ops},
    {RP_COMP_LOSS, "focal", "focal loss -alpha (1 - p_t)^gamma log p_t, mean",
     &rp_loss_focal_ops},
    {RP_COMP_LOSS, "complement_flatten",
     "cross-entropy of the non-target softmax against uniform 1/(C-1) (weight = lambda)",
     &rp_loss_complement_flatten_ops},
    {RP_COMP_LOSS, "dice", "soft multi-class Dice loss 1 - mean_c dice_c on softmax probabilities",
     &rp_loss_dice_ops},
    {RP_COMP_LOSS, "sum", "weighted sum of loss terms", &rp_loss_sum_ops},
};

RP_PLUGIN("loss", "1.0.0", stages, RP_COUNT(stages), components, RP_COUNT(components))
