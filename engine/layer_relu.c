/* relu: max(0, x) (torch.nn.ReLU). Element-wise, any shape. The gradient
 * reads y, not x: the layer may run in place. */
#include "layer.h"

RP_ELTWISE_LAYER(relu, x > 0.0f ? x : 0.0f, y > 0.0f ? d : 0.0f, NULL, 0, RP_LAYER_INPLACE, "{}")
RP_REGISTER(RP_COMP_LAYER, "relu", "max(0, x) (torch.nn.ReLU).", relu_ops)
