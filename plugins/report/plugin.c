/* The report plugin: the `report` stage (stage_report.c) writing
 * report.html (write.c, svg.c, images.c), report.md, metrics.json and, in a
 * matrix run, summary.html over the cells (summary.c). */
#include "report.h"

static const struct rp_port inputs[] = {
    {"metrics", RP_ART_METRICS, RP_PORT_MULTI,
     "metrics to include: train's history (learning curves), evaluate's tables, ..."},
    {"data", RP_ART_DATASET, RP_PORT_OPTIONAL, "dataset to show sample images from"},
};

static const struct rp_stage_def stages[] = {
    {"report",
     "write report.html (learning curves, confusion matrices, classification reports, sample "
     "images, pipeline) and report.md into the run folder, metrics.json into the stage folder, "
     "summary.html over the cells of a matrix",
     inputs, RP_COUNT(inputs), NULL, 0, rp_report_stage_run, 0},
};

RP_PLUGIN("report", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
