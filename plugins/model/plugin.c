/* The `model` plugin: model.build, model.load, model.save (one file each). */
#include "model_stages.h"

static const struct rp_port build_out[] = {
    {"model", RP_ART_MODEL, 0, "the built (and optionally pretrained, frozen) model"},
};
static const struct rp_port load_out[] = {
    {"model", RP_ART_MODEL, 0, "the loaded model"},
};
static const struct rp_port save_in[] = {
    {"model", RP_ART_MODEL, 0, "the model to write"},
};
static const struct rp_port save_out[] = {
    {"files", RP_ART_FILES, 0, "the folder the model file was written to"},
};

static const struct rp_stage_def stages[] = {
    {"model.build",
     "a model from the built-in zoo or a layer list; pretrained weights, head, gray adapter, "
     "freezing",
     NULL, 0, build_out, RP_COUNT(build_out), model_build_run, 0},
    {"model.load", "a model from a runpipe safetensors file", NULL, 0, load_out,
     RP_COUNT(load_out), model_load_run, 0},
    {"model.save", "write a model as safetensors (atomic)", save_in, RP_COUNT(save_in), save_out,
     RP_COUNT(save_out), model_save_run, 0},
};

RP_PLUGIN("model", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
