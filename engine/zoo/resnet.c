/* ImageNet ResNet-18/34/50 exactly as torchvision.models.resnet (v1.5: the
 * Bottleneck's stride is on its 3x3 conv2): conv1 7x7/2 + bn1 + relu,
 * maxpool 3/2, layer1..layer4 (64/128/256/512 planes; BasicBlock x [2,2,2,2]
 * or [3,4,6,3], Bottleneck x [3,4,6,3] with expansion 4), adaptive average
 * pool, fc. Every parameter and buffer has torchvision's name, so a
 * torchvision state_dict saved as safetensors loads unchanged. Init as
 * torchvision: kaiming_normal_(mode='fan_out', nonlinearity='relu') for
 * convolutions, BN weight 1 / bias 0, fc the default Linear init. */
#include "zoo/resnet_util.h"

int rn_tv_trunk(rp_model *m, const int *blocks, int bottleneck, char stages[5][160], rp_error *err) {
    int st = rn_conv_bn(m, "conv1", "bn1", "relu", NULL, 64, 7, 2, 3, err);
    snprintf(stages[0], 160, "relu");
    if (!st) st = rp_model_addf(m, "maxpool", "maxpool2d", NULL, 0, err, "{kernel: 3, stride: 2, padding: 1}");
    char prev[160] = "maxpool", p[64], a[160], b[160], c[160], d[160];
    int inpl = 64, exp = bottleneck ? 4 : 1;
    for (int s = 0; !st && s < 4; s++) {
        int planes = 64 << s;
        for (int k = 0; !st && k < blocks[s]; k++) {
            int stride = (s > 0 && k == 0) ? 2 : 1;
            snprintf(p, sizeof p, "layer%d.%d", s + 1, k);
            const char *last_bn;
            if (bottleneck) {
                snprintf(a, sizeof a, "%s.conv1", p), snprintf(b, sizeof b, "%s.bn1", p), snprintf(c, sizeof c, "%s.relu1", p);
                st = rn_conv_bn(m, a, b, c, prev, planes, 1, 1, 0, err);
                snprintf(a, sizeof a, "%s.conv2", p), snprintf(b, sizeof b, "%s.bn2", p), snprintf(d, sizeof d, "%s.relu2", p);
                if (!st) st = rn_conv_bn(m, a, b, d, c, planes, 3, stride, 1, err);
                snprintf(a, sizeof a, "%s.conv3", p), snprintf(b, sizeof b, "%s.bn3", p);
                if (!st) st = rn_conv_bn(m, a, b, NULL, d, planes * 4, 1, 1, 0, err);
            } else {
                snprintf(a, sizeof a, "%s.conv1", p), snprintf(b, sizeof b, "%s.bn1", p), snprintf(c, sizeof c, "%s.relu1", p);
                st = rn_conv_bn(m, a, b, c, prev, planes, 3, stride, 1, err);
                snprintf(a, sizeof a, "%s.conv2", p), snprintf(b, sizeof b, "%s.bn2", p);
                if (!st) st = rn_conv_bn(m, a, b, NULL, c, planes, 3, 1, 1, err);
            }
            last_bn = b;
            char sc[160];
            snprintf(sc, sizeof sc, "%s", prev);
            if (!st && (stride != 1 || inpl != planes * exp)) {
                snprintf(c, sizeof c, "%s.downsample.0", p), snprintf(d, sizeof d, "%s.downsample.1", p);
                st = rn_conv_bn(m, c, d, NULL, prev, planes * exp, 1, stride, 0, err);
                snprintf(sc, sizeof sc, "%s", d);
            }
            const char *ins[2] = {last_bn, sc};
            snprintf(c, sizeof c, "%s.add", p);
            if (!st) st = rp_model_add(m, c, "add", NULL, ins, 2, err);
            snprintf(prev, sizeof prev, "%.60s.relu", p);
            if (!st) st = rp_model_add(m, prev, "relu", NULL, NULL, 0, err);
            inpl = planes * exp;
        }
        snprintf(stages[s + 1], 160, "%s", prev);
    }
    return st;
}

int rn_tv_init(rp_model *m, uint64_t seed, rp_error *err) {
    (void)err;
    return rn_kaiming(m, seed, 1, 0);
}

static int tv_resnet(const rp_node *opts, const int *blocks, int bottleneck, rp_model **out, rp_error *err) {
    int classes = (int)rp_param_int(opts, "classes"), in_ch = (int)rp_param_int(opts, "in_channels");
    int size = (int)rp_param_int(opts, "size");
    rp_model *m;
    if (rp_model_new(in_ch, size, size, &m, err)) return err->status;
    char stages[5][160];
    int st = rn_tv_trunk(m, blocks, bottleneck, stages, err);
    if (!st) st = rp_model_add(m, "avgpool", "adaptive_avgpool2d", NULL, NULL, 0, err);
    if (!st) st = rp_model_add(m, "flatten", "flatten", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "fc", "linear", NULL, 0, err, "{out: %d}", classes);
    if (st) {
        rp_model_free(m);
        return st;
    }
    rp_model_set_init_hook(m, rn_tv_init);
    *out = m;
    return RP_OK;
}

const int rn_tv_blocks18[4] = {2, 2, 2, 2}, rn_tv_blocks34[4] = {3, 4, 6, 3};

static int build18(const rp_node *o, rp_model **out, rp_error *err) { return tv_resnet(o, rn_tv_blocks18, 0, out, err); }
static int build34(const rp_node *o, rp_model **out, rp_error *err) { return tv_resnet(o, rn_tv_blocks34, 0, out, err); }
static int build50(const rp_node *o, rp_model **out, rp_error *err) { return tv_resnet(o, rn_tv_blocks34, 1, out, err); }

static const struct rp_arch_ops resnet18_ops = {build18}, resnet34_ops = {build34}, resnet50_ops = {build50};
RP_COMPONENT(RP_COMP_ARCH, "resnet18", "ResNet-18, torchvision layout and names", resnet18_ops)
RP_COMPONENT(RP_COMP_ARCH, "resnet34", "ResNet-34, torchvision layout and names", resnet34_ops)
RP_COMPONENT(RP_COMP_ARCH, "resnet50", "ResNet-50 (v1.5 Bottleneck), torchvision layout and names", resnet50_ops)
