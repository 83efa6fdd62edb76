/* tanh: hyperbolic tangent (torch.nn.Tanh). Element-wise, any shape.
 * dy/dx = 1 - y^2. */
#include <math.h>

#include "nn/layer.h"

RP_ELTWISE_LAYER(tanh, tanhf(x), d * (1.0f - y * y), NULL, 0, "{}")
RP_COMPONENT(RP_COMP_LAYER, "tanh", "hyperbolic tangent (torch.nn.Tanh).", tanh_ops)
