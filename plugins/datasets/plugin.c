/* The `datasets` plugin: dataset stages (one file each). */
#include "stages.h"

static const struct rp_port no_in[] = {{NULL, NULL, 0, NULL}};
static const struct rp_port train_test[] = {
    {"train", RP_ART_DATASET, 0, "training split"},
    {"test", RP_ART_DATASET, 0, "test split"},
};
static const struct rp_port one_in[] = {{"data", RP_ART_DATASET, 0, "input dataset"}};
static const struct rp_port multi_in[] = {
    {"data", RP_ART_DATASET, RP_PORT_MULTI, "datasets to concatenate, in order"}};
static const struct rp_port data_out[] = {{"data", RP_ART_DATASET, 0, "the dataset"}};
static const struct rp_port split_out[] = {
    {"train", RP_ART_DATASET, 0, "first part (ratios[0])"},
    {"val", RP_ART_DATASET, 0, "second part (ratios[1])"},
    {"test", RP_ART_DATASET, 0, "third part (ratios[2], may be empty)"},
};

static const struct rp_stage_def stages[] = {
    {"data.idx", "MNIST / Fashion-MNIST IDX files (raw or gzipped)", no_in, 0, train_test, 2,
     ds_run_idx, 0},
    {"data.cifar10", "CIFAR-10 binary batches", no_in, 0, train_test, 2, ds_run_cifar10, 0},
    {"data.cifar100", "CIFAR-100 binary files (fine or coarse labels)", no_in, 0, train_test, 2,
     ds_run_cifar100, 0},
    {"data.folder", "image folders root/<class>/<image> (jpg, png, bmp)", no_in, 0, data_out, 1,
     ds_run_folder, 0},
    {"data.csv", "a CSV of image paths + labels (+ domain, split)", no_in, 0, data_out, 1,
     ds_run_csv, 0},
    {"data.segmentation", "image + mask pairs (class-index or palette-coloured masks)", no_in, 0,
     data_out, 1, ds_run_segmentation, 0},
    {"data.synthetic", "procedural shapes in photo/cartoon/sketch/painting styles", no_in, 0,
     train_test, 2, ds_run_synthetic, 0},
    {"data.split", "seeded (optionally stratified) train/val/test split by ratios", one_in, 1,
     split_out, 3, ds_run_split, 0},
    {"data.concat", "concatenate datasets with the same classes", multi_in, 1, data_out, 1,
     ds_run_concat, 0},
    {"data.filter", "keep or drop samples by domain / label", one_in, 1, data_out, 1,
     ds_run_filter, 0},
};

RP_PLUGIN("datasets", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
