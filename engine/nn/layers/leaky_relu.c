/* leaky_relu: x for x > 0, negative_slope * x otherwise (torch.nn.LeakyReLU).
 * Element-wise, any shape; `a` is negative_slope. */
#include "nn/layer.h"

RP_ELTWISE_LAYER(leaky_relu, x > 0.0f ? x : x * a, x > 0.0f ? d : d * a, "negative_slope", 0,
                 "{negative_slope: 0.2}")
RP_COMPONENT(RP_COMP_LAYER, "leaky_relu", "x for x > 0, negative_slope * x otherwise (torch.nn.LeakyReLU).",
            leaky_relu_ops)
