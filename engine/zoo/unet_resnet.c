/* unet_resnet: a U-Net decoder on a torchvision ImageNet ResNet encoder, the
 * common practical form of S1's "colour-pretrained segmentation network"
 * (segmentation_models_pytorch's Unet(encoder_name="resnet34"); the paper's
 * InceptionResNetV2 backbone is not provided).
 *
 * Encoder: resnet.c's trunk with torchvision's parameter names (conv1, bn1,
 * layer1.0.conv1, ...), so a torchvision state_dict loads into it with
 * `pretrained:` + `strict: false` (fc.* is reported as not used, the decoder
 * as initialised). Decoder as smp's UnetDecoder (no centre block): five
 * blocks, each nearest x2 up-sampling, concatenation [up, skip] with the
 * encoder feature map of the same stride (layer3, layer2, layer1, the stem's
 * relu; none for the last), then two (3x3 conv without bias + BN + ReLU)
 * with decoder_channels[i] outputs, named decoder.blocks.i.conv{1,2}.{0,1}
 * as smp's; head segmentation_head.0 = 3x3 conv to `classes` channels.
 * Output [N, classes, H, W] at the input size; H = W = size, a multiple of
 * 32. Init: torchvision's (kaiming_normal_, fan_out) for every convolution,
 * decoder and head included (smp draws those with kaiming_uniform_ /
 * xavier_uniform_). */
#include <string.h>

#include "zoo/resnet_util.h"

static int dec_conv(rp_model *m, const char *p, int k, const char *in, int out, rp_error *err) {
    char a[96], b[96], c[96];
    snprintf(a, sizeof a, "%s.conv%d.0", p, k), snprintf(b, sizeof b, "%s.conv%d.1", p, k);
    snprintf(c, sizeof c, "%s.conv%d.2", p, k);
    return rn_conv_bn(m, a, b, c, in, out, 3, 1, 1, err);
}

static int unet_resnet_build(const rp_node *opts, rp_model **out, rp_error *err) {
    int classes = (int)rp_param_int(opts, "classes"), in_ch = (int)rp_param_int(opts, "in_channels");
    int size = (int)rp_param_int(opts, "size");
    const char *enc = rp_param_str(opts, "encoder");
    double dch[5];
    const rp_node *dn = rp_node_get(opts, "decoder_channels");
    if (rp_param_doubles(opts, "decoder_channels", dch, 5) != 5)
        return rp_error_at(err, dn ? dn : opts, RP_ERR_INVALID, "unet_resnet: decoder_channels needs 5 numbers");
    if (size % 32)
        return rp_error_at(err, rp_node_get(opts, "size") ? rp_node_get(opts, "size") : opts, RP_ERR_INVALID,
                           "unet_resnet: size %d must be a multiple of 32 (the encoder's stride)", size);
    const int *blocks = strcmp(enc, "resnet18") ? rn_tv_blocks34 : rn_tv_blocks18;
    int bottleneck = strcmp(enc, "resnet50") == 0;
    rp_model *m;
    if (rp_model_new(in_ch, size, size, &m, err)) return err->status;
    char stages[5][160], prev[160], p[64], up[96], cat[96];
    int st = rn_tv_trunk(m, blocks, bottleneck, stages, err);
    snprintf(prev, sizeof prev, "%s", stages[4]);
    for (int i = 0; !st && i < 5; i++) {
        snprintf(p, sizeof p, "decoder.blocks.%d", i);
        snprintf(up, sizeof up, "%s.up", p), snprintf(cat, sizeof cat, "%s.cat", p);
        const char *pin = prev;
        st = rp_model_addf(m, up, "upsample", &pin, 1, err, "{scale: 2, mode: nearest}");
        const char *block_in = up;
        if (!st && i < 4) { /* skip: layer3, layer2, layer1, stem relu */
            const char *ins[2] = {up, stages[3 - i]};
            st = rp_model_add(m, cat, "concat", NULL, ins, 2, err);
            block_in = cat;
        }
        if (!st) st = dec_conv(m, p, 1, block_in, (int)dch[i], err);
        if (!st) st = dec_conv(m, p, 2, NULL, (int)dch[i], err);
        snprintf(prev, sizeof prev, "%s.conv2.2", p);
    }
    if (!st)
        st = rp_model_addf(m, "segmentation_head.0", "conv2d", NULL, 0, err, "{out: %d, kernel: 3, padding: 1}",
                           classes);
    if (st) {
        rp_model_free(m);
        return st;
    }
    rp_model_set_init_hook(m, rn_tv_init);
    *out = m;
    return RP_OK;
}

static const struct rp_arch_ops unet_resnet_ops = {unet_resnet_build};
RP_COMPONENT(RP_COMP_ARCH, "unet_resnet",
            "U-Net decoder on a torchvision ResNet-18/34/50 encoder (smp Unet layout; ImageNet weights load by name)",
            unet_resnet_ops)
