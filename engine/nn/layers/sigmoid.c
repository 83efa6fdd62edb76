/* sigmoid: 1 / (1 + exp(-x)) (torch.nn.Sigmoid). Element-wise, any shape.
 * dy/dx = y (1 - y). */
#include <math.h>

#include "nn/layer.h"

RP_ELTWISE_LAYER(sigmoid, 1.0f / (1.0f + expf(-x)), d * y * (1.0f - y), NULL, 0, "{}")
RP_COMPONENT(RP_COMP_LAYER, "sigmoid", "1 / (1 + exp(-x)) (torch.nn.Sigmoid).", sigmoid_ops)
