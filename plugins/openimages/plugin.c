/* The `openimages` plugin: Open Images box crops (S4's data preparation). */
#include "runpipe/runpipe.h"

RP_PLUGIN("openimages", "1.0.0")
