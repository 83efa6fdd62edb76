/* cifar_cnn — SEEDS.md S0's CIFAR-10 model, the Keras `cifar10_cnn` example:
 * Conv2D(32, 3x3, padding 'same') ReLU, Conv2D(32, 3x3, 'valid') ReLU,
 * MaxPool 2, Dropout .25, Conv2D(64, 'same') ReLU, Conv2D(64, 'valid') ReLU,
 * MaxPool 2, Dropout .25, Flatten, Dense 512, ReLU, Dropout .5,
 * Dense(classes) (softmax in the loss). As in that example, the first conv of
 * each pair pads ('same'), the second does not: 32 → 32 → 30 → 15 → 15 → 13
 * → 6, so 64*6*6 = 2304 features. */
#include "nn/layer.h"

static int cifar_build(const rp_node *opts, rp_model **out, rp_error *err) {
    int classes = (int)rp_param_int(opts, "classes");
    int in_ch = (int)rp_param_int(opts, "in_channels");
    int size = (int)rp_param_int(opts, "size");
    rp_model *m;
    if (rp_model_new(in_ch, size, size, &m, err)) return err->status;
    int st = rp_model_addf(m, "conv1", "conv2d", NULL, 0, err, "{out: 32, kernel: 3, padding: 1}");
    if (!st) st = rp_model_add(m, "relu1", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "conv2", "conv2d", NULL, 0, err, "{out: 32, kernel: 3}");
    if (!st) st = rp_model_add(m, "relu2", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "pool1", "maxpool2d", NULL, 0, err, "{kernel: 2}");
    if (!st) st = rp_model_addf(m, "drop1", "dropout", NULL, 0, err, "{p: 0.25}");
    if (!st) st = rp_model_addf(m, "conv3", "conv2d", NULL, 0, err, "{out: 64, kernel: 3, padding: 1}");
    if (!st) st = rp_model_add(m, "relu3", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "conv4", "conv2d", NULL, 0, err, "{out: 64, kernel: 3}");
    if (!st) st = rp_model_add(m, "relu4", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "pool2", "maxpool2d", NULL, 0, err, "{kernel: 2}");
    if (!st) st = rp_model_addf(m, "drop2", "dropout", NULL, 0, err, "{p: 0.25}");
    if (!st) st = rp_model_add(m, "flatten", "flatten", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "fc1", "linear", NULL, 0, err, "{out: 512}");
    if (!st) st = rp_model_add(m, "relu5", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "drop3", "dropout", NULL, 0, err, "{p: 0.5}");
    if (!st) st = rp_model_addf(m, "fc2", "linear", NULL, 0, err, "{out: %d}", classes);
    if (st) {
        rp_model_free(m);
        return st;
    }
    *out = m;
    return RP_OK;
}

static const struct rp_arch_ops cifar_cnn_ops = {cifar_build};
RP_COMPONENT(RP_COMP_ARCH, "cifar_cnn", "S0 CIFAR-10 CNN (Keras cifar10_cnn example)", cifar_cnn_ops)
