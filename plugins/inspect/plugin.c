/* The `inspect` plugin descriptor. */
#include "inspect.h"

static const struct rp_port ds_in[] = {{"data", RP_ART_DATASET, 0, "the dataset to inspect"}};
static const struct rp_port metrics_out[] = {
    {"metrics", RP_ART_METRICS, 0, "scalars (size, classes, mean.cK, std.cK) + tables"}};
static const struct rp_port metrics_in[] = {
    {"metrics", RP_ART_METRICS, RP_PORT_MULTI, "metrics to show (one or several)"}};

static const struct rp_stage_def stages[] = {
    {"inspect.dataset",
     "per-class counts and per-channel mean/std of a dataset (the numbers for normalize)", ds_in,
     1, metrics_out, 1, inspect_run_dataset, 0},
    {"inspect.metrics", "print metrics and merge them into one artifact (prefixed by source)",
     metrics_in, 1, metrics_out, 1, inspect_run_metrics, 0},
};

RP_PLUGIN("inspect", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
