/* The evaluate plugin: the `evaluate` stage (stage_evaluate.c) with its
 * metric code (metrics_cls.c, metrics_seg.c, aa.c), table output (tables.c)
 * and the metric components balanced_accuracy and ece (metric_*.c). */
#include "runpipe/runpipe.h"

RP_PLUGIN("evaluate", "1.0.0")
