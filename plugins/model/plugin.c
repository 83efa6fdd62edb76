/* The `model` plugin: model.build, model.load, model.save (one file each). */
#include "runpipe/runpipe.h"

RP_PLUGIN("model", "1.0.0")
