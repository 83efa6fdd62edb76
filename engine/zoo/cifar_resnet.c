/* CIFAR ResNets (He et al. 2016, "Deep Residual Learning", §4.2): a 3x3
 * conv with 16 filters, then 3 stages of n basic blocks with 16/32/64
 * filters (the first block of stages 2 and 3 has stride 2), global average
 * pooling and a linear layer; depth 6n+2 (20, 32, 44, 56, 110). Shortcuts
 * that change shape are option A (parameter-free: subsample + zero channels;
 * 0.27M/0.46M/0.66M/0.85M/1.7M params) or option B (1x1 conv + BN).
 * Names follow torchvision's ResNet (conv1, bn1, layerS.B.conv1, ...,
 * layerS.B.downsample.0/1, fc). Init as in the widely used akamaster
 * implementation: kaiming_normal_ (fan_in) for conv and linear weights. */
#include "zoo/resnet_util.h"

static int cifar_init(rp_model *m, uint64_t seed, rp_error *err) {
    (void)err;
    return rn_kaiming(m, seed, 0, 1);
}

static int cifar_resnet(const rp_node *opts, int n, rp_model **out, rp_error *err) {
    int classes = (int)rp_param_int(opts, "classes"), in_ch = (int)rp_param_int(opts, "in_channels");
    int size = (int)rp_param_int(opts, "size");
    int optb = strcmp(rp_param_str(opts, "shortcut"), "B") == 0;
    rp_model *m;
    if (rp_model_new(in_ch, size, size, &m, err)) return err->status;
    int st = rn_conv_bn(m, "conv1", "bn1", "relu", NULL, 16, 3, 1, 1, err);
    char prev[160] = "relu", p[64], a[160], b[160], c[160], d[160];
    int inpl = 16;
    for (int s = 0; !st && s < 3; s++) {
        int planes = 16 << s;
        for (int k = 0; !st && k < n; k++) {
            int stride = (s > 0 && k == 0) ? 2 : 1;
            snprintf(p, sizeof p, "layer%d.%d", s + 1, k);
            snprintf(a, sizeof a, "%s.conv1", p), snprintf(b, sizeof b, "%s.bn1", p), snprintf(c, sizeof c, "%s.relu1", p);
            st = rn_conv_bn(m, a, b, c, prev, planes, 3, stride, 1, err);
            snprintf(a, sizeof a, "%s.conv2", p), snprintf(b, sizeof b, "%s.bn2", p);
            if (!st) st = rn_conv_bn(m, a, b, NULL, c, planes, 3, 1, 1, err);
            char sc[160];
            snprintf(sc, sizeof sc, "%s", prev);
            if (!st && (stride != 1 || inpl != planes)) {
                const char *pi = prev;
                if (optb) {
                    snprintf(c, sizeof c, "%s.downsample.0", p), snprintf(d, sizeof d, "%s.downsample.1", p);
                    st = rn_conv_bn(m, c, d, NULL, prev, planes, 1, stride, 0, err);
                    snprintf(sc, sizeof sc, "%s", d);
                } else {
                    snprintf(sc, sizeof sc, "%s.shortcut", p);
                    st = rp_model_addf(m, sc, "shortcut_pad", &pi, 1, err, "{stride: %d, out: %d}", stride, planes);
                }
            }
            const char *ins[2] = {b, sc};
            snprintf(c, sizeof c, "%s.add", p);
            if (!st) st = rp_model_add(m, c, "add", NULL, ins, 2, err);
            snprintf(prev, sizeof prev, "%.60s.relu2", p);
            if (!st) st = rp_model_add(m, prev, "relu", NULL, NULL, 0, err);
            inpl = planes;
        }
    }
    if (!st) st = rp_model_add(m, "avgpool", "global_avgpool", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "fc", "linear", NULL, 0, err, "{out: %d}", classes);
    if (st) {
        rp_model_free(m);
        return st;
    }
    rp_model_set_init_hook(m, cifar_init);
    *out = m;
    return RP_OK;
}

#define CIFAR_RESNET(D)                                                                               \
    static int build_##D(const rp_node *opts, rp_model **out, rp_error *err) {                       \
        return cifar_resnet(opts, (D - 2) / 6, out, err);                                            \
    }                                                                                                 \
    static const struct rp_arch_ops resnet##D##_ops = {build_##D};                                    \
    RP_COMPONENT(RP_COMP_ARCH, "resnet" #D, "CIFAR ResNet-" #D " (He et al. 2016, 6n+2 layers)", resnet##D##_ops)

CIFAR_RESNET(20)
CIFAR_RESNET(32)
CIFAR_RESNET(44)
CIFAR_RESNET(56)
CIFAR_RESNET(110)
