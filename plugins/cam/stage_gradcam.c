/* gradcam — Grad-CAM heat maps (rp_gradcam) of `count` samples evenly spaced
 * over a dataset: a PNG grid of [image | heat map | overlay + arg-max
 * marker] per sample, labelled "true / pred", and gradcam.csv with the
 * arg-max points; both are listed in the stage's metrics so that the report
 * shows them. Images outside [0, 1] (normalised) are min-max rescaled per
 * image for display only. Colour map: viridis (perceptually uniform; van der
 * Walt & Smith for matplotlib), evaluated with Matt Zucconi's CC0 degree-6
 * polynomial fit (within about 1/255 of matplotlib's table). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/image.h"
#include "runpipe/runpipe.h"

static void viridis(float t, uint8_t rgb[3]) {
    static const double c[7][3] = {
        {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
        {0.1050930431085774, 1.404613529898575, 1.384590162594685},
        {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
        {-4.634230498983486, -5.799100973351585, -19.33244095627987},
        {6.228269936347081, 14.17993336680509, 56.69055260068105},
        {4.776384997670288, -13.74514537774601, -65.35303263337234},
        {-5.435455855934631, 4.645852612178535, 26.3124352495832},
    };
    double x = t < 0 ? 0 : t > 1 ? 1 : t;
    for (int k = 0; k < 3; k++) {
        double v = c[6][k];
        for (int d = 5; d >= 0; d--) v = v * x + c[d][k];
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        rgb[k] = (uint8_t)(v * 255 + 0.5);
    }
}

static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, red[3] = {255, 40, 40};

static const char *class_name(const rp_dataset *ds, int32_t c, char *buf, size_t size) {
    if (c >= 0 && c < ds->num_classes && ds->class_names && ds->class_names[c])
        return ds->class_names[c];
    snprintf(buf, size, "%d", (int)c);
    return buf;
}

/* Sample k of the grid: its pixel (y, x) of tile `which` (0 image, 1 heat
 * map, 2 overlay) as RGB. img [C, H, W] rescaled by lo/hi; map [H, W] / mx. */
static void tile_pixel(const float *img, int64_t C, int64_t H, int64_t W, float lo, float hi,
                       const float *map, float mx, double alpha, int which, int64_t y, int64_t x,
                       uint8_t rgb[3]) {
    uint8_t im[3], hm[3];
    for (int c = 0; c < 3; c++) {
        float v = (img[((C >= 3 ? c : 0) * H + y) * W + x] - lo) / (hi - lo);
        im[c] = (uint8_t)((v < 0 ? 0 : v > 1 ? 1 : v) * 255 + 0.5f);
    }
    viridis(mx > 0 ? map[y * W + x] / mx : 0, hm);
    for (int c = 0; c < 3; c++)
        rgb[c] = which == 0   ? im[c]
                 : which == 1 ? hm[c]
                              : (uint8_t)((1 - alpha) * im[c] + alpha * hm[c] + 0.5);
}

static int run_gradcam(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    rp_model *model = rp_stage_input(st, "model");
    const rp_dataset *ds = rp_stage_input(st, "data");
    int count = (int)rp_param_int(p, "count"), cols = (int)rp_param_int(p, "columns");
    int scale = (int)rp_param_int(p, "scale");
    const char *layer = rp_param_str(p, "layer");
    int use_label = !strcmp(rp_param_str(p, "target"), "label");
    double alpha = rp_param_double(p, "alpha");
    const char *file = rp_param_str(p, "file");
    if (ds->size == 0) return rp_error_set(err, RP_ERR_INVALID, "dataset '%s' is empty", ds->name);
    if ((uint64_t)count > ds->size) count = (int)ds->size;
    if (cols > count) cols = count;
    int mc, mh, mw;
    rp_model_input_shape(model, &mc, &mh, &mw);
    /* the samples, batched: x [count, C, H, W] */
    rp_tensor *x = NULL;
    int32_t *labels = calloc((size_t)count, sizeof *labels);
    uint64_t *idx = calloc((size_t)count, sizeof *idx);
    rp_sample s;
    rp_sample_init(&s);
    int rc = labels && idx ? rp_tensor_new4(&x, count, mc, mh, mw, err)
                           : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    rp_draw draw = {0};
    for (int k = 0; !rc && k < count; k++) {
        idx[k] = (uint64_t)k * ds->size / (uint64_t)count;
        rc = rp_dataset_get(ds, idx[k], &draw, &s, err);
        if (rc) break;
        if (s.img.shape[0] != mc || s.img.shape[1] != mh || s.img.shape[2] != mw) {
            char a[64];
            rc = rp_error_set(err, RP_ERR_INVALID,
                              "gradcam: sample %llu of '%s' is %s but the model takes [%d, %d, %d]",
                              (unsigned long long)idx[k], ds->name,
                              rp_shape_str(s.img.ndim, s.img.shape, a, sizeof a), mc, mh, mw);
            break;
        }
        if (use_label && s.label < 0) {
            rc = rp_error_set(err, RP_ERR_INVALID,
                              "gradcam: sample %llu of '%s' has no label (use target: predicted)",
                              (unsigned long long)idx[k], ds->name);
            break;
        }
        memcpy(x->data + (size_t)k * s.img.numel, s.img.data, s.img.numel * sizeof(float));
        labels[k] = s.label;
    }
    rp_sample_release(&s);
    rp_gradcam_out o = {0};
    const int was = rp_model_is_training(model);
    if (!rc) rc = rp_gradcam(model, x, layer, use_label ? labels : NULL, 0, &o, err);
    rp_model_set_training(model, was);
    const char *dir = NULL;
    if (!rc) rc = rp_stage_dir(st, &dir, err);
    char path[2048];
    rp_afile af;
    /* CSV of the arg-max points */
    if (!rc) {
        snprintf(path, sizeof path, "%s/gradcam.csv", dir);
        rc = rp_afile_open(&af, path, err);
    }
    if (!rc) {
        fprintf(af.f, "index,label,pred,class,row,col\n");
        for (int k = 0; k < count; k++)
            fprintf(af.f, "%llu,%d,%d,%d,%d,%d\n", (unsigned long long)idx[k], (int)labels[k],
                    (int)o.pred[k], (int)o.cls[k], (int)o.argmax[2 * k], (int)o.argmax[2 * k + 1]);
        rc = rp_afile_commit(&af, err);
    }
    /* the grid */
    rp_canvas cv = {0};
    if (!rc) {
        if (scale <= 0) scale = mw < 96 ? (96 + mw - 1) / mw : 1;
        const int tw = mw * scale, th = mh * scale, gap = 4;
        const int cw = 3 * tw + 2 * gap + 10, chh = th + 8 + 14;
        const int rows = (count + cols - 1) / cols;
        if (rp_canvas_init(&cv, cols * cw + 6, rows * chh + 6, 40))
            rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory for the Grad-CAM grid");
        for (int k = 0; !rc && k < count; k++) {
            const float *img = x->data + (size_t)k * (size_t)(mc * mh * mw);
            const float *map = o.maps.data + (size_t)k * (size_t)(mh * mw);
            float lo = 0, hi = 1, mn = INFINITY, mxv = -INFINITY, mx = 0;
            for (int64_t i = 0; i < (int64_t)mc * mh * mw; i++) {
                mn = img[i] < mn ? img[i] : mn;
                mxv = img[i] > mxv ? img[i] : mxv;
            }
            if (mn < -1e-4f || mxv > 1 + 1e-4f) lo = mn, hi = mxv > mn ? mxv : mn + 1;
            for (int64_t i = 0; i < (int64_t)mh * mw; i++) mx = map[i] > mx ? map[i] : mx;
            const int x0 = 6 + (k % cols) * cw, y0 = 6 + (k / cols) * chh;
            for (int which = 0; which < 3; which++) {
                const int tx = x0 + which * (tw + gap);
                for (int64_t y = 0; y < th; y++)
                    for (int64_t xx = 0; xx < tw; xx++) {
                        uint8_t rgb[3];
                        tile_pixel(img, mc, mh, mw, lo, hi, map, mx, alpha, which, y / scale,
                                   xx / scale, rgb);
                        rp_canvas_rect(&cv, tx + (int)xx, y0 + (int)y, 1, 1, rgb);
                    }
            }
            /* arg-max marker on the overlay: a cross through the pixel's centre */
            const int ox = x0 + 2 * (tw + gap), cy = y0 + o.argmax[2 * k] * scale + scale / 2,
                      cx = ox + o.argmax[2 * k + 1] * scale + scale / 2, arm = scale * 2 + 2;
            rp_canvas_rect(&cv, cx - arm, cy - 1, 2 * arm + 1, 3, black);
            rp_canvas_rect(&cv, cx - 1, cy - arm, 3, 2 * arm + 1, black);
            rp_canvas_rect(&cv, cx - arm + 1, cy, 2 * arm - 1, 1, red);
            rp_canvas_rect(&cv, cx, cy - arm + 1, 1, 2 * arm - 1, red);
            char a[32], b[32], label[200];
            snprintf(label, sizeof label, "true %.24s / pred %.24s", class_name(ds, labels[k], a, sizeof a),
                     class_name(ds, o.pred[k], b, sizeof b));
            rp_canvas_text(&cv, x0 + 1, y0 + th + 4, 1, label, labels[k] == o.pred[k] ? white : red);
        }
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/%s", dir, file);
        rc = rp_image_write_png(path, cv.px, cv.w, cv.h, 3, err);
    }
    if (!rc)
        rc = rp_stage_figure(st, "Grad-CAM", NULL, file,
                             "image, heat map, overlay with the arg-max marked; true / predicted "
                             "class",
                             err);
    rp_canvas_free(&cv);
    int correct = 0;
    for (int k = 0; !rc && k < count; k++) correct += labels[k] == o.pred[k];
    rp_tensor_free(x);
    free(labels);
    free(idx);
    rp_gradcam_out_release(&o);
    if (rc) return rc;
    rp_metrics *m = rp_metrics_new();
    if (!m) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    char rel[1200];
    rc = rp_metrics_set(m, "gradcam.samples", count, err);
    if (!rc) rc = rp_metrics_set(m, "gradcam.correct", correct, err);
    snprintf(rel, sizeof rel, "%s/%s", rp_stage_id(st), file);
    if (!rc) rc = rp_metrics_add_file(m, rel, err);
    snprintf(rel, sizeof rel, "%s/gradcam.csv", rp_stage_id(st));
    if (!rc) rc = rp_metrics_add_file(m, rel, err);
    if (rc) {
        rp_metrics_free(m);
        return rc;
    }
    rp_info("gradcam: %d samples of %s (%d predicted correctly) -> %s", count, ds->name, correct,
            path);
    return rp_stage_output(st, "metrics", m, err);
}

static const struct rp_port gradcam_in[] = {
    {"model", RP_ART_MODEL, 0, "the classifier to explain"},
    {"data", RP_ART_DATASET, 0, "images (at the model's input size)"},
};
static const struct rp_port gradcam_out[] = {
    {"metrics", RP_ART_METRICS, 0, "files gradcam.png (grid) and gradcam.csv (arg-max points)"},
};
static const struct rp_stage_def gradcam_stage = {
    "gradcam", "Grad-CAM heat maps: PNG grid (image, heat map, overlay + arg-max) and CSV",
    gradcam_in, RP_COUNT(gradcam_in), gradcam_out, RP_COUNT(gradcam_out), run_gradcam, 0, NULL};
RP_STAGE(gradcam_stage)
