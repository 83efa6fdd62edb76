/* The `cam` plugin: Grad-CAM overlays (stage_gradcam.c) and CAM-guided
 * erasing as a batch hook of `train` (hook_cam_erasing.c), S2. */
#include "runpipe/runpipe.h"

RP_PLUGIN("cam", "1.0.0")
