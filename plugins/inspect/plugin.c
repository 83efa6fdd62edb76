/* The `inspect` plugin descriptor. */
#include "runpipe/runpipe.h"

RP_PLUGIN("inspect", "1.0.0")
