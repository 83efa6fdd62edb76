/* The report's image sections: the sample grid (with the model's predicted
 * class when it classifies) and predicted segmentation masks (report.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Box-average an image down so its longer side is at most `max` (display only). */
static rp_tensor *shrink(const rp_tensor *img, int max) {
    int64_t c = img->shape[0], h = img->shape[1], w = img->shape[2];
    int64_t f = ((h > w ? h : w) + max - 1) / max;
    if (f <= 1) return NULL;
    int64_t oh = h / f, ow = w / f;
    if (oh < 1 || ow < 1) return NULL;
    int64_t shape[3] = {c, oh, ow};
    rp_tensor *o = NULL;
    if (rp_tensor_new(&o, 3, shape, NULL) != RP_OK) return NULL;
    for (int64_t k = 0; k < c; k++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                double s = 0;
                for (int64_t dy = 0; dy < f; dy++)
                    for (int64_t dx = 0; dx < f; dx++)
                        s += img->data[(k * h + y * f + dy) * w + x * f + dx];
                o->data[(k * oh + y) * ow + x] = (float)(s / (double)(f * f));
            }
    return o;
}

static void class_name(rp_strbuf *b, const rp_dataset *ds, int32_t label, uint64_t idx) {
    if (label >= 0 && label < ds->num_classes && ds->class_names)
        rp_put_html(b, ds->class_names[label]);
    else if (label >= 0)
        rp_strbuf_printf(b, "class %d", (int)label);
    else
        rp_strbuf_printf(b, "#%llu", (unsigned long long)idx);
}

/* The model's class for one sample (an eval forward of [1, C, H, W]) and its
 * softmax probability. */
static int predict_one(rp_model *m, const rp_sample *s, int *pred, double *prob, rp_error *err) {
    rp_tensor x = s->img; /* [1, C, H, W] view of the sample */
    x.owns = 0;
    x.ndim = 4;
    x.shape[0] = 1;
    for (int d = 0; d < 3; d++)
        x.shape[d + 1] = s->img.shape[d];
    const rp_tensor *y = NULL; /* [1, K] */
    int rc = rp_model_forward(m, &x, &y, err);
    if (rc != RP_OK) return rc;
    if (y->ndim != 2 || y->shape[0] != 1) {
        char sh[96];
        return rp_error_set(err, RP_ERR_INVALID, "the model gives %s, not class scores [1, K]",
                            rp_shape_str(y->ndim, y->shape, sh, sizeof sh));
    }
    int64_t k = y->shape[1], best = 0;
    for (int64_t c = 1; c < k; c++)
        if (y->data[c] > y->data[best]) best = c;
    double z = 0;
    for (int64_t c = 0; c < k; c++)
        z += exp((double)y->data[c] - (double)y->data[best]);
    *pred = (int)best;
    *prob = 1.0 / z;
    return RP_OK;
}

/* The mask colours: a swatch and the class name per class id of the data set
 * (the palette of the report's `palette`, then the fixed one). */
static void mask_legend(rp_strbuf *b, const rp_report_opts *o) {
    const rp_dataset *ds = o->data;
    rp_strbuf_puts(b, "<p class=\"legend\">");
    for (int k = 0; k < ds->num_classes; k++) {
        unsigned char c[3];
        rp_mask_colour(k, o->palette, o->n_palette, c);
        rp_strbuf_printf(b, "<span><i style=\"background:#%02X%02X%02X\"></i>", c[0], c[1], c[2]);
        class_name(b, ds, k, 0);
        rp_strbuf_puts(b, "</span>");
    }
    rp_strbuf_puts(b, "</p>\n");
}

int rp_report_samples_html(rp_strbuf *b, const rp_report_opts *o, rp_error *err) {
    const rp_dataset *ds = o->data;
    int classify = o->model && ds->task == RP_TASK_CLASSIFY;
    if (classify) rp_model_set_training(o->model, 0);
    uint64_t n = (uint64_t)o->samples < ds->size ? (uint64_t)o->samples : ds->size;
    rp_sample s;
    rp_sample_init(&s);
    rp_draw draw = {0};
    int rc = RP_OK;
    rp_strbuf_puts(b, "<p class=\"muted\">");
    rp_put_html(b, ds->name);
    rp_strbuf_printf(b, ": %llu of %llu samples, evenly spaced%s.</p>\n",
                     (unsigned long long)n, (unsigned long long)ds->size,
                     classify ? "; true class, then the model's prediction (\xE2\x9C\x93 right, "
                                "\xE2\x86\x92 wrong) and its probability"
                              : "");
    if (ds->task == RP_TASK_SEGMENT) mask_legend(b, o);
    rp_strbuf_puts(b, "<div class=\"grid-img\">\n");
    for (uint64_t i = 0; i < n && rc == RP_OK; i++) {
        uint64_t idx = i * ds->size / n;
        rc = rp_dataset_get(ds, idx, &draw, &s, err);
        if (rc != RP_OK) {
            rp_error_prefix(err, "report: sample %llu of '%s': ", (unsigned long long)idx,
                            ds->name);
            break;
        }
        rp_tensor *small = shrink(&s.img, 128);
        const rp_tensor *img = small ? small : &s.img;
        int side = (int)(img->shape[1] > img->shape[2] ? img->shape[1] : img->shape[2]);
        int scale = side >= 96 ? 1 : (96 + side - 1) / side;
        if (scale > 4) scale = 4;
        rp_strbuf_puts(b, s.mask.data ? "<figure class=\"seg\"><img alt=\"sample\" src=\""
                                      : "<figure><img alt=\"sample\" src=\"");
        rc = rp_png_data_uri(b, img, scale, err);
        rp_strbuf_puts(b, "\">");
        if (rc == RP_OK && s.mask.data) {
            int mscale = scale;
            if (s.mask.h != s.img.shape[1]) mscale = 1;
            rp_strbuf_puts(b, "<img alt=\"mask\" src=\"");
            rc = rp_mask_data_uri_pal(b, s.mask.data, s.mask.h, s.mask.w, mscale, o->palette,
                                      o->n_palette, err);
            rp_strbuf_puts(b, "\">");
        }
        rp_tensor_free(small);
        /* with a model: its prediction and probability under the true label */
        int pred = -1;
        double prob = NAN;
        if (rc == RP_OK && classify) rc = predict_one(o->model, &s, &pred, &prob, err);
        if (rc != RP_OK) {
            rp_error_prefix(
                err, "report: predicting sample %llu of '%s': ", (unsigned long long)idx, ds->name);
            break;
        }
        rp_strbuf_puts(b, pred >= 0 && pred != s.label ? "<figcaption class=\"wrong\">"
                                                       : "<figcaption>");
        class_name(b, ds, s.label, idx);
        if (pred >= 0) {
            rp_strbuf_puts(b, pred == s.label ? "<br>\xE2\x9C\x93 " : "<br>\xE2\x86\x92 ");
            class_name(b, ds, pred, idx);
            rp_strbuf_printf(b, " %.0f%%", 100 * prob);
        }
        rp_strbuf_puts(b, "</figcaption></figure>\n");
    }
    rp_strbuf_puts(b, "</div>\n");
    rp_sample_release(&s);
    return rc;
}

/* Predicted masks (S1): for `o->predictions` evenly spaced samples of a
 * segmentation data set, the image, its true mask and the model's argmax
 * mask side by side, with the tile's pixel accuracy. */
int rp_report_predictions_html(rp_strbuf *b, const rp_report_opts *o, rp_error *err) {
    const rp_dataset *ds = o->data;
    uint64_t n = (uint64_t)o->predictions < ds->size ? (uint64_t)o->predictions : ds->size;
    rp_sample s;
    rp_sample_init(&s);
    rp_draw draw = {0};
    int32_t *pred = NULL;
    int rc = RP_OK;
    rp_strbuf_puts(b, "<p class=\"muted\">");
    rp_put_html(b, ds->name);
    rp_strbuf_printf(b,
                     ": %llu samples, evenly spaced; image, true mask, predicted mask "
                     "(argmax per pixel).</p>\n",
                     (unsigned long long)n);
    mask_legend(b, o);
    rp_strbuf_puts(b, "<div class=\"grid-pred\">\n");
    rp_model_set_training(o->model, 0);
    for (uint64_t i = 0; i < n && rc == RP_OK; i++) {
        uint64_t idx = i * ds->size / n;
        rc = rp_dataset_get(ds, idx, &draw, &s, err);
        if (rc == RP_OK && !s.mask.data)
            rc = rp_error_set(err, RP_ERR_INVALID, "sample %llu has no mask",
                              (unsigned long long)idx);
        if (rc != RP_OK) {
            rp_error_prefix(err, "report: predictions on '%s': ", ds->name);
            break;
        }
        rp_tensor x = s.img; /* [1, C, H, W] view of the sample */
        x.owns = 0;
        x.ndim = 4;
        x.shape[0] = 1;
        for (int d = 0; d < 3; d++)
            x.shape[d + 1] = s.img.shape[d];
        const rp_tensor *y = NULL; /* [1, K, H, W] */
        rc = rp_model_forward(o->model, &x, &y, err);
        if (rc == RP_OK && (y->ndim != 4 || y->shape[2] != s.mask.h || y->shape[3] != s.mask.w)) {
            char sh[96];
            rc = rp_error_set(err, RP_ERR_INVALID,
                              "the model gives %s, not per-pixel scores [1, classes, %lld, %lld]",
                              rp_shape_str(y->ndim, y->shape, sh, sizeof sh), (long long)s.mask.h,
                              (long long)s.mask.w);
        }
        if (rc != RP_OK) {
            rp_error_prefix(err,
                            "report: predictions on sample %llu of '%s': ", (unsigned long long)idx,
                            ds->name);
            break;
        }
        int64_t k = y->shape[1], hw = s.mask.h * s.mask.w, ok = 0, counted = 0;
        int32_t *np = realloc(pred, (size_t)hw * sizeof *pred);
        if (!np) {
            rc = rp_error_set(err, RP_ERR_NOMEM, "report: out of memory");
            break;
        }
        pred = np;
        for (int64_t p = 0; p < hw; p++) {
            int64_t best = 0;
            for (int64_t c = 1; c < k; c++)
                if (y->data[c * hw + p] > y->data[best * hw + p]) best = c;
            pred[p] = (int32_t)best;
            if (s.mask.data[p] >= 0 && s.mask.data[p] != 255) {
                counted++;
                ok += best == s.mask.data[p];
            }
        }
        int side = (int)(s.mask.h > s.mask.w ? s.mask.h : s.mask.w);
        int scale = side >= 96 ? 1 : (96 + side - 1) / side;
        if (scale > 4) scale = 4;
        rp_tensor *small = side > 128 ? shrink(&s.img, 128) : NULL;
        /* one row per tile: image | true mask | predicted mask, each labelled */
        rp_strbuf_puts(b, "<figure class=\"pred\"><div class=\"trio\"><div><img alt=\"image\" "
                          "src=\"");
        rc = rp_png_data_uri(b, small ? small : &s.img, small ? 1 : scale, err);
        rp_tensor_free(small);
        rp_strbuf_puts(b, "\"><br>image</div><div><img alt=\"true mask\" src=\"");
        if (rc == RP_OK)
            rc = rp_mask_data_uri_pal(b, s.mask.data, s.mask.h, s.mask.w, scale, o->palette,
                                      o->n_palette, err);
        rp_strbuf_puts(b, "\"><br>true mask</div><div><img alt=\"predicted mask\" src=\"");
        if (rc == RP_OK)
            rc = rp_mask_data_uri_pal(b, pred, s.mask.h, s.mask.w, scale, o->palette, o->n_palette,
                                      err);
        rp_strbuf_printf(b, "\"><br>predicted</div></div><figcaption>#%llu: pixel accuracy "
                            "%.3f</figcaption></figure>\n",
                         (unsigned long long)idx, counted ? (double)ok / (double)counted : 0.0);
    }
    rp_strbuf_puts(b, "</div>\n");
    free(pred);
    rp_sample_release(&s);
    return rc;
}
