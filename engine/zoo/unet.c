/* unet: a small U-Net (Ronneberger et al. 2015) for segmentation (SEEDS S1):
 * `depth` encoder levels of two (3x3 conv + BN + ReLU) with 2x2 max pooling
 * between them, a bottleneck, and `depth` decoder levels that up-sample with
 * a 2x2 stride-2 transposed convolution, concatenate the encoder features of
 * the same size (skip connection) and apply two (3x3 conv + BN + ReLU);
 * channels base * 2^level; a final 1x1 conv gives per-pixel class scores
 * [N, classes, H, W]. Padded convolutions keep sizes, so H and W must be
 * divisible by 2^depth. */
#include "nn/graph.h"
#include "nn/layer.h"

static int dconv(rp_model *m, const char *p, const char *in, int ch, rp_error *err) {
    char a[96], b[96], c[96];
    const char *ins[1] = {in};
    int st = RP_OK;
    for (int k = 1; !st && k <= 2; k++) {
        snprintf(a, sizeof a, "%s.conv%d", p, k), snprintf(b, sizeof b, "%s.bn%d", p, k), snprintf(c, sizeof c, "%s.relu%d", p, k);
        st = rp_model_addf(m, a, "conv2d", k == 1 ? ins : NULL, k == 1 ? 1 : 0, err,
                           "{out: %d, kernel: 3, padding: 1, bias: false}", ch);
        if (!st) st = rp_model_add(m, b, "batchnorm2d", NULL, NULL, 0, err);
        if (!st) st = rp_model_add(m, c, "relu", NULL, NULL, 0, err);
    }
    return st;
}

static int unet_build(const rp_node *opts, rp_model **out, rp_error *err) {
    int classes = (int)rp_param_int(opts, "classes"), in_ch = (int)rp_param_int(opts, "in_channels");
    int size = (int)rp_param_int(opts, "size"), depth = (int)rp_param_int(opts, "depth");
    int base = (int)rp_param_int(opts, "base");
    if (depth < 1 || depth > 6 || size % (1 << depth))
        return rp_error_at(err, opts, RP_ERR_INVALID, "unet: size %d must be divisible by 2^depth = %d", size,
                           1 << (depth < 0 ? 0 : depth > 6 ? 6 : depth));
    rp_model *m;
    if (rp_model_new(in_ch, size, size, &m, err)) return err->status;
    char p[64], prev[96], skip[8][96];
    int st = RP_OK;
    snprintf(prev, sizeof prev, "input");
    for (int l = 0; !st && l < depth; l++) {
        snprintf(p, sizeof p, "enc%d", l);
        st = dconv(m, p, prev, base << l, err);
        snprintf(skip[l], sizeof skip[l], "enc%d.relu2", l);
        snprintf(prev, sizeof prev, "pool%d", l);
        if (!st) st = rp_model_addf(m, prev, "maxpool2d", NULL, 0, err, "{kernel: 2}");
    }
    if (!st) st = dconv(m, "bottleneck", prev, base << depth, err);
    snprintf(prev, sizeof prev, "bottleneck.relu2");
    for (int l = depth - 1; !st && l >= 0; l--) {
        char up[64], cat[64];
        snprintf(up, sizeof up, "up%d", l), snprintf(cat, sizeof cat, "cat%d", l), snprintf(p, sizeof p, "dec%d", l);
        const char *pi = prev;
        st = rp_model_addf(m, up, "conv_transpose2d", &pi, 1, err, "{out: %d, kernel: 2, stride: 2}", base << l);
        const char *ins[2] = {up, skip[l]};
        if (!st) st = rp_model_add(m, cat, "concat", NULL, ins, 2, err);
        if (!st) st = dconv(m, p, cat, base << l, err);
        snprintf(prev, sizeof prev, "dec%d.relu2", l);
    }
    if (!st) st = rp_model_addf(m, "head", "conv2d", NULL, 0, err, "{out: %d, kernel: 1}", classes);
    if (st) {
        rp_model_free(m);
        return st;
    }
    *out = m;
    return RP_OK;
}

static const struct rp_arch_ops unet_ops = {unet_build};
RP_COMPONENT(RP_COMP_ARCH, "unet", "small U-Net for segmentation (concat skips, transposed-conv up-sampling)", unet_ops)
