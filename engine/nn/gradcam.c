/* Grad-CAM (Selvaraju et al., ICCV 2017) for any model and feature node, on a
 * whole batch: one forward keeping the path from the feature node to the
 * output, one backward from the logits down to that node without parameter
 * gradients (rp_model_feature_forward/backward in graph.c), then
 * w_k = mean_ij dS_c/dF^k_ij, M = ReLU(sum_k w_k F^k), a bilinear resize to
 * the input size (align_corners=False) and the arg-max. See runpipe/nn.h. */
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"

/* PyTorch's area_pixel_compute_source_index (align_corners=False, linear):
 * src = (dst + 0.5) * scale - 0.5, clamped below at 0; i0 = floor(src),
 * i1 = i0 + 1 unless at the last index; lambda = src - i0. */
static void bilinear_axis(int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *l1) {
    const double scale = (double)in / (double)out;
    for (int64_t d = 0; d < out; d++) {
        double s = ((double)d + 0.5) * scale - 0.5;
        if (s < 0) s = 0;
        int64_t a = (int64_t)s;
        if (a > in - 1) a = in - 1;
        i0[d] = a;
        i1[d] = a < in - 1 ? a + 1 : a;
        l1[d] = (float)(s - (double)a);
    }
}

int rp_resize_bilinear_planes(const float *src, int64_t n, int64_t h, int64_t w, float *dst,
                              int64_t H, int64_t W, rp_error *err) {
    int64_t *iy = malloc(sizeof *iy * (size_t)(2 * (H + W)));
    float *ly = malloc(sizeof *ly * (size_t)(H + W));
    if (!iy || !ly) {
        free(iy), free(ly);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    int64_t *iy1 = iy + H, *ix = iy + 2 * H, *ix1 = ix + W;
    float *lx = ly + H;
    bilinear_axis(h, H, iy, iy1, ly);
    bilinear_axis(w, W, ix, ix1, lx);
    for (int64_t p = 0; p < n; p++) {
        const float *s = src + p * h * w; /* [h, w] */
        float *d = dst + p * H * W;       /* [H, W] */
        for (int64_t y = 0; y < H; y++) {
            const float *r0 = s + iy[y] * w, *r1 = s + iy1[y] * w;
            const float b = ly[y], a = 1.0f - b;
            for (int64_t x = 0; x < W; x++) {
                const float c = lx[x], e = 1.0f - c;
                d[y * W + x] = a * (e * r0[ix[x]] + c * r0[ix1[x]]) + b * (e * r1[ix[x]] + c * r1[ix1[x]]);
            }
        }
    }
    free(iy);
    free(ly);
    return RP_OK;
}

void rp_gradcam_out_release(rp_gradcam_out *o) {
    rp_tensor_release(&o->maps);
    free(o->argmax);
    free(o->cls);
    free(o->pred);
    memset(o, 0, sizeof *o);
}

static int out_reserve(rp_gradcam_out *o, int64_t n, int64_t H, int64_t W, rp_error *err) {
    int64_t shape[3] = {n, H, W};
    if (rp_tensor_reshape_alloc(&o->maps, 3, shape, err)) return err->status;
    if (n <= o->cap) return RP_OK;
    int32_t *a = realloc(o->argmax, sizeof *a * (size_t)(2 * n));
    if (a) o->argmax = a;
    int32_t *c = a ? realloc(o->cls, sizeof *c * (size_t)n) : NULL;
    if (c) o->cls = c;
    int32_t *p = c ? realloc(o->pred, sizeof *p * (size_t)n) : NULL;
    if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    o->pred = p;
    o->cap = n;
    return RP_OK;
}

/* Buffers (running statistics) saved before a training-mode pass. */
static float *save_buffers(rp_model *m, rp_error *err) {
    size_t total = 0;
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(m, i);
        if (p->is_buffer) total += p->value->numel;
    }
    float *b = malloc(sizeof *b * (total ? total : 1));
    if (!b) {
        rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(m, i);
        if (!p->is_buffer) continue;
        memcpy(b + o, p->value->data, sizeof *b * p->value->numel);
        o += p->value->numel;
    }
    return b;
}

static void restore_buffers(rp_model *m, const float *b) {
    size_t o = 0;
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        rp_param *p = rp_model_param(m, i);
        if (!p->is_buffer) continue;
        memcpy(p->value->data, b + o, sizeof *b * p->value->numel);
        o += p->value->numel;
    }
}

static int gradcam_pass(rp_model *m, const rp_tensor *x, const char *layer, const int32_t *cls,
                        rp_gradcam_out *out, rp_error *err) {
    const rp_tensor *y = NULL, *f = NULL, *g = NULL;
    if (rp_model_feature_forward(m, x, layer, &y, err)) return err->status;
    if (y->ndim != 2) {
        char b[64];
        return rp_error_set(err, RP_ERR_INVALID,
                            "Grad-CAM needs class scores [N, classes] as the model output, got %s",
                            rp_shape_str(y->ndim, y->shape, b, sizeof b));
    }
    const int64_t n = y->shape[0], k = y->shape[1];
    const int64_t H = x->shape[2], W = x->shape[3];
    if (out_reserve(out, n, H, W, err)) return err->status;
    rp_tensor *dy = NULL; /* [N, classes]: one-hot of the explained class */
    if (rp_tensor_new2(&dy, n, k, err)) return err->status;
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y->data + i * k;
        int32_t best = 0;
        for (int64_t c = 1; c < k; c++)
            if (yi[c] > yi[best]) best = (int32_t)c;
        out->pred[i] = best;
        int32_t c = cls ? cls[i] : best;
        if (c < 0 || c >= k) {
            rp_tensor_free(dy);
            return rp_error_set(err, RP_ERR_INVALID,
                                "Grad-CAM: class %d of sample %lld is outside [0, %lld)", (int)c,
                                (long long)i, (long long)k);
        }
        out->cls[i] = c;
        dy->data[i * k + c] = 1.0f;
    }
    int st = rp_model_feature_backward(m, dy, &f, &g, err);
    rp_tensor_free(dy);
    if (st) return st;
    if (f->ndim != 4) {
        char b[64];
        return rp_error_set(err, RP_ERR_INVALID,
                            "Grad-CAM: layer '%s' has output %s, expected a feature map "
                            "[N, C, H, W]",
                            layer, rp_shape_str(f->ndim, f->shape, b, sizeof b));
    }
    const int64_t K = f->shape[1], h = f->shape[2], w = f->shape[3], hw = h * w;
    double *wk = malloc(sizeof *wk * (size_t)(n * K)); /* [N, K] */
    float *cam = wk ? malloc(sizeof *cam * (size_t)(n * hw)) : NULL; /* [N, h, w] */
    if (!cam) {
        free(wk);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
#pragma omp parallel for schedule(static) if (n * K * hw > 65536)
    for (int64_t ic = 0; ic < n * K; ic++) { /* w_k = mean_ij dS_c/dF^k_ij */
        const float *gp = g->data + ic * hw;
        double a = 0;
        for (int64_t p = 0; p < hw; p++) a += gp[p];
        wk[ic] = a / (double)hw;
    }
#pragma omp parallel for schedule(static) if (n * K * hw > 65536)
    for (int64_t ip = 0; ip < n * hw; ip++) { /* M = ReLU(sum_k w_k F^k) */
        const int64_t i = ip / hw, p = ip % hw;
        const float *fp = f->data + i * K * hw + p;
        double a = 0;
        for (int64_t c = 0; c < K; c++) a += wk[i * K + c] * fp[c * hw];
        cam[ip] = a > 0 ? (float)a : 0.0f;
    }
    free(wk);
    st = rp_resize_bilinear_planes(cam, n, h, w, out->maps.data, H, W, err);
    free(cam);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        const float *mp = out->maps.data + i * H * W;
        int64_t best = 0;
        for (int64_t p = 1; p < H * W; p++)
            if (mp[p] > mp[best]) best = p;
        out->argmax[2 * i] = (int32_t)(best / W);
        out->argmax[2 * i + 1] = (int32_t)(best % W);
    }
    return RP_OK;
}

int rp_gradcam(rp_model *m, const rp_tensor *x, const char *layer, const int32_t *cls,
               int training, rp_gradcam_out *out, rp_error *err) {
    if (!layer && !(layer = rp_model_last_conv(m)))
        return rp_error_set(err, RP_ERR_INVALID,
                            "Grad-CAM: the model has no convolutional feature map (no 4-D layer "
                            "output with more than one position); name one with `layer:`");
    const int was = rp_model_is_training(m);
    float *saved = NULL;
    if (training && !(saved = save_buffers(m, err))) return err->status;
    rp_model_set_training(m, training);
    int st = gradcam_pass(m, x, layer, cls, out, err);
    rp_model_set_training(m, was);
    if (saved) restore_buffers(m, saved);
    free(saved);
    if (st) rp_error_prefix(err, "Grad-CAM on layer '%s': ", layer);
    return st;
}
