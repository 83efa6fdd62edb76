/* relu: max(0, x) (torch.nn.ReLU). Element-wise, any shape. The gradient
 * reads y, not x: the layer may run in place. An eval forward may fold it
 * into the forward of the layer before it (RP_LAYER_RELU). */
#include "nn/layer.h"

RP_ELTWISE_LAYER(relu, x > 0.0f ? x : 0.0f, y > 0.0f ? d : 0.0f, NULL, RP_LAYER_INPLACE | RP_LAYER_RELU, "{}")
RP_COMPONENT(RP_COMP_LAYER, "relu", "max(0, x) (torch.nn.ReLU).", relu_ops)
