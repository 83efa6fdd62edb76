/* The loss plugin: the `loss` stage and the loss components
 * (cross_entropy, pixel_cross_entropy, focal, complement_flatten, dice, sum),
 * one file each. */
#include "runpipe/runpipe.h"

RP_PLUGIN("loss", "1.0.0")
