/* The `openimages` plugin: Open Images box crops (S4's data preparation). */
#include "oi.h"

static const struct rp_port crop_out[] = {
    {"train", RP_ART_DATASET, 0, "the training crops, as data.folder opens <out>/train"},
    {"val", RP_ART_DATASET, 0, "the validation crops, as data.folder opens <out>/val"},
    {"folder", RP_ART_FILES, 0, "the crop folder (train/, val/, manifest.csv)"},
};

static const struct rp_stage_def stages[] = {
    {"openimages.crop",
     "Open Images boxes -> size x size crops on a corner-median canvas, train/val image folders",
     NULL, 0, crop_out, 3, oi_run_crop},
};

RP_PLUGIN("openimages", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
