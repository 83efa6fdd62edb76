/* The `datasets` plugin: dataset stages (one file each). */
#include "runpipe/runpipe.h"

RP_PLUGIN("datasets", "1.0.0")
