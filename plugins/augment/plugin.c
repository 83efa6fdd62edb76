/* The `augment` plugin: transforms (one file each), the `augment` stage, and
 * the `augment.preview` / `augment.stats` stages for looking at them. */
#include "augment.h"

static const struct rp_port data_in[] = {{"data", RP_ART_DATASET, 0, "dataset to transform"}};
static const struct rp_port data_out[] = {{"data", RP_ART_DATASET, 0, "the transformed view"}};
static const struct rp_port files_out[] = {{"files", RP_ART_FILES, 0, "the written images"}};
static const struct rp_port metrics_out[] = {
    {"metrics", RP_ART_METRICS, 0, "mean/std of the erased-area ratio + files"}};
static const struct rp_port no_in[] = {{NULL, NULL, 0, NULL}};

static const struct rp_stage_def stages[] = {
    {"augment", "apply a chain of transforms to a dataset (a lazy view)", data_in, 1, data_out, 1,
     aug_run_augment, 0},
    {"augment.preview", "PNG grid of samples after the transforms, with labels", data_in, 1,
     files_out, 1, aug_run_preview, 0},
    {"augment.stats", "erased-area ratio distribution of an erasing transform (CSV + histogram)",
     no_in, 0, metrics_out, 1, aug_run_stats, RP_STAGE_CACHEABLE},
};

#define T(NAME, SUMMARY, OPS) {RP_COMP_TRANSFORM, NAME, SUMMARY, &OPS}
static const struct rp_component comps[] = {
    T("hflip", "random horizontal flip (p)", tf_hflip),
    T("vflip", "random vertical flip (p)", tf_vflip),
    T("rotate", "random rotation by an angle in a degree range", tf_rotate),
    T("pad", "pad the borders (constant, edge, reflect, symmetric)", tf_pad),
    T("random_crop", "random crop after optional padding (torchvision RandomCrop)", tf_random_crop),
    T("random_resized_crop", "random scale/aspect crop resized to a size", tf_random_resized_crop),
    T("resize", "resize (shorter side or exact size)", tf_resize),
    T("center_crop", "central crop", tf_center_crop),
    T("color_jitter", "random brightness, contrast, saturation, hue", tf_color_jitter),
    T("grayscale", "ITU-R 601-2 luma to 1 or 3 channels", tf_grayscale),
    T("normalize", "(x - mean) / std per channel, or a preset", tf_normalize),
    T("to_gray3", "grey image stacked into 3 channels", tf_to_gray3),
    T("random_erasing", "Random Erasing (Zhong et al.)", tf_random_erasing),
    T("cutout", "Cutout squares centred anywhere, clipped (DeVries & Taylor)", tf_cutout),
    T("hide_and_seek", "hide grid cells at random (Singh & Lee)", tf_hide_and_seek),
    T("gridmask", "GridMask structured dropping (Chen et al.)", tf_gridmask),
    T("cross_line", "S0 occlusion: a horizontal and a vertical line through the centre",
      tf_cross_line),
    T("upper_bar", "S0 occlusion: a bar over the top rows", tf_upper_bar),
    T("middle_box", "S0 occlusion: a box in the centre", tf_middle_box),
    T("bar_row", "S0 occlusion: a bar at row j", tf_bar_row),
};

RP_PLUGIN("augment", "1.0.0", stages, RP_COUNT(stages), comps, RP_COUNT(comps))
