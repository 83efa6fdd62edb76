/* The convert plugin: S0's conversion learning (stage_convert.c; units and
 * search in convert.h). */
#include "convert.h"

int cv_stage_run(rp_stage *st, rp_error *err);

static const struct rp_port inputs[] = {
    {"target", RP_ART_MODEL, 0, "the model to convert into (left unchanged; a copy is converted)"},
    {"donors", RP_ART_MODEL, RP_PORT_MULTI,
     "models of the same architecture giving parameters (e.g. trained on occluded images)"},
    {"select", RP_ART_DATASET, RP_PORT_MULTI,
     "the sets whose mean accuracy (AA) scores a candidate, e.g. a clean and an occluded "
     "validation split"},
};
static const struct rp_port outputs[] = {
    {"model", RP_ART_MODEL, 0, "the converted model"},
    {"metrics", RP_ART_METRICS, 0,
     "convert.target.score, convert.best.score, convert.delta (%p), convert.best.units; tables "
     "convert.best, convert.top; candidates.csv and a chart"},
};

static const struct rp_stage_def stages[] = {
    {"convert",
     "S0 conversion learning: search donor layers / rows / columns to transplant into a target "
     "model, scored by AA on select sets",
     inputs, RP_COUNT(inputs), outputs, RP_COUNT(outputs), cv_stage_run},
};

RP_PLUGIN("convert", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
