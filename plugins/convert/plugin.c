/* The convert plugin: S0's conversion learning (the `convert` stage in
 * stage_convert.c; units and search in convert.h). */
#include "runpipe/runpipe.h"

RP_PLUGIN("convert", "1.0.0")
