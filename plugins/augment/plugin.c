/* The `augment` plugin: transforms (one file each), the `augment` stage, and
 * the `augment.preview` / `augment.stats` stages for looking at them. */
#include "runpipe/runpipe.h"

RP_PLUGIN("augment", "1.0.0")
