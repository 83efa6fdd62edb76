/* The evaluate plugin: the `evaluate` stage (stage_evaluate.c) with its
 * metric code (metrics_cls.c, metrics_seg.c, aa.c), table output (tables.c)
 * and the metric components balanced_accuracy and ece (metric_*.c). */
#include "evaluate.h"

static const struct rp_port inputs[] = {
    {"model", RP_ART_MODEL, 0, "the model to evaluate (run in eval mode)"},
    {"data", RP_ART_DATASET, RP_PORT_MULTI,
     "one or more datasets, e.g. the clean and the occluded test set"},
    {"loss", RP_ART_LOSS, RP_PORT_OPTIONAL, "loss to report (default: softmax cross-entropy)"},
    {"baseline", RP_ART_MODEL, RP_PORT_OPTIONAL,
     "second model for S0's DAA = AA(model) - AA(baseline), in %p"},
};
static const struct rp_port outputs[] = {
    {"metrics", RP_ART_METRICS, 0,
     "<set>.loss/accuracy/error_rate/topK_accuracy/macro_*/weighted_*, AA, DAA; tables "
     "confusion.<set>, report.<set> (segmentation.<set>)"},
};

static const struct rp_stage_def stages[] = {
    {"evaluate",
     "accuracy, top-k, per-class report, confusion matrix (pixel acc, IoU, Dice for "
     "segmentation), AA/DAA over datasets",
     inputs, RP_COUNT(inputs), outputs, RP_COUNT(outputs), rp_evaluate_stage_run,
     RP_STAGE_CACHEABLE},
};

static const struct rp_component components[] = {
    {RP_COMP_METRIC, "balanced_accuracy",
     "mean per-class recall over the classes present (sklearn balanced_accuracy_score)",
     &ev_metric_balanced_accuracy},
    {RP_COMP_METRIC, "ece", "expected / maximum calibration error of the softmax confidence",
     &ev_metric_ece},
};

RP_PLUGIN("evaluate", "1.0.0", stages, RP_COUNT(stages), components, RP_COUNT(components))
