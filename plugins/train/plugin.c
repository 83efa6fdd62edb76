/* The `train` plugin: one stage, `train` (stage.c, loop.c, checkpoint.c,
 * monitor.c, history.c). */
#include "runpipe/runpipe.h"

RP_PLUGIN("train", "1.0.0")
