/* The report plugin: the `report` stage (stage_report.c) writing
 * report.html (write.c, svg.c, images.c), report.md, metrics.json and, in a
 * matrix run, summary.html over the cells (summary.c). */
#include "runpipe/runpipe.h"

RP_PLUGIN("report", "1.0.0")
