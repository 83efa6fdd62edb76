/* mnist_cnn — SEEDS.md S0's MNIST model (Keras MNIST-tutorial style):
 * Conv2D(32, 3x3) + ReLU, MaxPool 2, Conv2D(64, 3x3) + ReLU, Flatten,
 * Dense(classes). 'valid' padding as Keras' default; the softmax lives in the
 * loss. 28x28x1 → 26 → 13 → 11: 64*11*11 = 7744 features. */
#include "nn/layer.h"

static int mnist_build(const rp_node *opts, rp_model **out, rp_error *err) {
    int classes = (int)rp_param_int(opts, "classes");
    int in_ch = (int)rp_param_int(opts, "in_channels");
    int size = (int)rp_param_int(opts, "size");
    rp_model *m;
    if (rp_model_new(in_ch, size, size, &m, err)) return err->status;
    int st = rp_model_addf(m, "conv1", "conv2d", NULL, 0, err, "{out: 32, kernel: 3}");
    if (!st) st = rp_model_add(m, "relu1", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "pool1", "maxpool2d", NULL, 0, err, "{kernel: 2}");
    if (!st) st = rp_model_addf(m, "conv2", "conv2d", NULL, 0, err, "{out: 64, kernel: 3}");
    if (!st) st = rp_model_add(m, "relu2", "relu", NULL, NULL, 0, err);
    if (!st) st = rp_model_add(m, "flatten", "flatten", NULL, NULL, 0, err);
    if (!st) st = rp_model_addf(m, "fc", "linear", NULL, 0, err, "{out: %d}", classes);
    if (st) {
        rp_model_free(m);
        return st;
    }
    *out = m;
    return RP_OK;
}

static const struct rp_arch_ops mnist_cnn_ops = {mnist_build};
RP_COMPONENT(RP_COMP_ARCH, "mnist_cnn", "S0 MNIST CNN: conv32-pool-conv64-dense", mnist_cnn_ops)
