/* Block builders shared by the ResNet families (cifar_resnet.c, resnet.c,
 * unet_resnet.c). Internal. */
#ifndef RP_ENGINE_ARCH_RESNET_UTIL_H
#define RP_ENGINE_ARCH_RESNET_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/layer.h"

/* conv (no bias) + batchnorm [+ relu] named P.convK / P.bnK / P.reluK. */
static inline int rn_conv_bn(rp_model *m, const char *conv, const char *bn, const char *relu, const char *in,
                             int out, int k, int stride, int pad, rp_error *err) {
    const char *ins[1] = {in};
    int st = rp_model_addf(m, conv, "conv2d", in ? ins : NULL, in ? 1 : 0, err,
                           "{out: %d, kernel: %d, stride: %d, padding: %d, bias: false}", out, k, stride, pad);
    if (!st) st = rp_model_add(m, bn, "batchnorm2d", NULL, NULL, 0, err);
    if (!st && relu) st = rp_model_add(m, relu, "relu", NULL, NULL, 0, err);
    return st;
}

/* Re-initialise every conv2d weight ~ N(0, 2/fan) (kaiming_normal_, ReLU
 * gain) with fan = fan_out (torchvision) or fan_in (akamaster), and, when
 * `linear_too`, every linear weight with fan_in. */
static inline int rn_kaiming(rp_model *m, uint64_t seed, int fan_out, int linear_too) {
    for (size_t i = 0; i < rp_model_num_nodes(m); i++) {
        const char *type = rp_model_node_type(m, i);
        int conv = strcmp(type, "conv2d") == 0, lin = linear_too && strcmp(type, "linear") == 0;
        if (!conv && !lin) continue;
        rp_param *w = rp_layer_param(rp_model_node_layer(m, i), "weight");
        if (!w) continue;
        const int64_t *s = w->value->shape;
        int64_t rf = w->value->ndim == 4 ? s[2] * s[3] : 1;
        int64_t fan = (conv && fan_out) ? s[0] * rf : s[1] * rf;
        rp_init_normal(w->value, sqrt(2.0 / (double)fan), seed, w->name);
    }
    return RP_OK;
}

/* torchvision's ImageNet ResNet trunk (resnet.c): conv1 + bn1 + relu,
 * maxpool, layer1..layer4 with torchvision's names, from the model input.
 * blocks: rn_tv_blocks18 (BasicBlock) or rn_tv_blocks34 (BasicBlock for
 * ResNet-34, Bottleneck for ResNet-50). stages[0] = the node after conv1's
 * relu (stride 2), stages[1..4] = the last node of layer1..layer4 (strides
 * 4, 8, 16, 32). */
extern const int rn_tv_blocks18[4], rn_tv_blocks34[4];
int rn_tv_trunk(rp_model *m, const int *blocks, int bottleneck, char stages[5][160], rp_error *err);
/* torchvision's init: every conv2d kaiming_normal_(mode='fan_out', relu). */
int rn_tv_init(rp_model *m, uint64_t seed, rp_error *err);

#endif
