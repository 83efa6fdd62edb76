/* The `train` plugin: one stage, `train` (stage.c, loop.c, checkpoint.c,
 * monitor.c, history.c). */
#include "train.h"

static const struct rp_port inputs[] = {
    {"model", RP_ART_MODEL, 0, "the model to train (left as is: the stage trains a copy)"},
    {"loss", RP_ART_LOSS, 0, "the training loss (from a `loss` stage)"},
    {"train", RP_ART_DATASET, 0, "training set"},
    {"val", RP_ART_DATASET, RP_PORT_OPTIONAL,
     "validation set, evaluated after every epoch (early stopping, best checkpoint)"},
};
static const struct rp_port outputs[] = {
    {"model", RP_ART_MODEL, 0, "the trained model (the best epoch's with restore_best)"},
    {"metrics", RP_ART_METRICS, 0,
     "history table (epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds), final "
     "scalars, files history.csv, best.safetensors, last.safetensors"},
};

static const struct rp_stage_def stages[] = {
    {"train",
     "train a model: optimizer, scheduler, validation, early stopping, checkpoints, resume",
     inputs, RP_COUNT(inputs), outputs, RP_COUNT(outputs), train_stage_run, RP_STAGE_CACHEABLE},
};

RP_PLUGIN("train", "1.0.0", stages, RP_COUNT(stages), NULL, 0)
