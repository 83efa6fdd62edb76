/* normalize — torchvision Normalize: x = (x - mean[c]) / std[c]. Values or a
 * preset: imagenet (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225); cifar10
 * (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616) (the training set's
 * per-channel statistics); fashion_mnist 0.2860 / 0.3530; mnist 0.1307 /
 * 0.3081. One value broadcasts over the channels. */
#include <stdlib.h>
#include <string.h>

#include "augment.h"

typedef struct norm_state {
    int n;
    float mean[8], std[8];
} norm_state;

static int norm_create(const rp_node *params, void **state, rp_error *err) {
    norm_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    const char *preset = rp_param_str(params, "preset");
    double mean[8] = {0}, std[8] = {0};
    int nm, ns;
    if (!strcmp(preset, "imagenet")) {
        double m[3] = {0.485, 0.456, 0.406}, d[3] = {0.229, 0.224, 0.225};
        memcpy(mean, m, sizeof m), memcpy(std, d, sizeof d), nm = ns = 3;
    } else if (!strcmp(preset, "cifar10")) {
        double m[3] = {0.4914, 0.4822, 0.4465}, d[3] = {0.2470, 0.2435, 0.2616};
        memcpy(mean, m, sizeof m), memcpy(std, d, sizeof d), nm = ns = 3;
    } else if (!strcmp(preset, "fashion_mnist")) {
        mean[0] = 0.2860, std[0] = 0.3530, nm = ns = 1;
    } else if (!strcmp(preset, "mnist")) {
        mean[0] = 0.1307, std[0] = 0.3081, nm = ns = 1;
    } else if (!strcmp(preset, "none")) {
        nm = rp_param_doubles(params, "mean", mean, 8);
        ns = rp_param_doubles(params, "std", std, 8);
        if (nm <= 0 || ns <= 0) {
            free(s);
            return rp_error_at(err, params, RP_ERR_INVALID,
                               "normalize: give 'mean' and 'std' (numbers or per-channel lists) "
                               "or a 'preset' (imagenet, cifar10, fashion_mnist, mnist)");
        }
    } else {
        free(s);
        return rp_error_at(err, rp_node_get(params, "preset"), RP_ERR_INVALID,
                           "normalize: unknown preset '%s'", preset);
    }
    if (nm != ns && nm != 1 && ns != 1) {
        free(s);
        return rp_error_at(err, params, RP_ERR_INVALID,
                           "normalize: %d mean values but %d std values", nm, ns);
    }
    s->n = nm > ns ? nm : ns;
    for (int c = 0; c < s->n; c++) {
        double m = mean[nm == 1 ? 0 : c], d = std[ns == 1 ? 0 : c];
        if (!(d > 0)) {
            free(s);
            return rp_error_at(err, params, RP_ERR_INVALID, "normalize: std must be > 0, got %g", d);
        }
        s->mean[c] = (float)m;
        s->std[c] = (float)d;
    }
    *state = s;
    return RP_OK;
}

static int norm_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)rng;
    const norm_state *n = state;
    int64_t C = s->img.shape[0], HW = s->img.shape[1] * s->img.shape[2];
    if (n->n != 1 && n->n != C)
        return rp_error_set(err, RP_ERR_INVALID,
                            "normalize has %d channels of mean/std but the image has %lld "
                            "(add grayscale or to_gray3 before it, or fix the values)",
                            n->n, (long long)C);
    for (int64_t c = 0; c < C; c++) {
        float m = n->mean[n->n == 1 ? 0 : c], d = n->std[n->n == 1 ? 0 : c];
        float *p = s->img.data + c * HW;
        for (int64_t i = 0; i < HW; i++) p[i] = (p[i] - m) / d;
    }
    return RP_OK;
}

const struct rp_transform_ops tf_normalize = {.create = norm_create, .apply = norm_apply, .destroy = free};

RP_COMPONENT(RP_COMP_TRANSFORM, "normalize",
             "(x - mean) / std per channel, or a preset", tf_normalize)
