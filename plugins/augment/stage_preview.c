/* augment.preview — a PNG grid of `count` samples (evenly spaced over the
 * dataset) as they come out of its transform chain at `epoch`, each tile
 * labelled with its class name (or index) and dataset index. Values outside
 * [0, 1] (after normalize) are min-max rescaled per image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "runpipe/image.h"

static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};

/* Palette for segmentation masks drawn next to the image. */
static void mask_colour(int32_t id, uint8_t rgb[3]) {
    uint32_t h = (uint32_t)id * 2654435761u;
    rgb[0] = (uint8_t)(h >> 24), rgb[1] = (uint8_t)(h >> 16), rgb[2] = (uint8_t)(h >> 8);
    if (id == 0) rgb[0] = rgb[1] = rgb[2] = 0;
}

int aug_run_preview(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    const rp_dataset *ds = rp_stage_input(st, "data");
    int count = (int)rp_param_int(p, "count"), cols = (int)rp_param_int(p, "columns");
    int scale = (int)rp_param_int(p, "scale");
    uint64_t epoch = (uint64_t)rp_param_int(p, "epoch");
    const char *file = rp_param_str(p, "file");
    if (ds->size == 0) return rp_error_set(err, RP_ERR_INVALID, "%s is empty", ds->name);
    if ((uint64_t)count > ds->size) count = (int)ds->size;
    if (cols > count) cols = count;
    if (cols < 1) cols = 1;
    int rows = (count + cols - 1) / cols;
    rp_sample s;
    rp_sample_init(&s);
    rp_draw draw = {epoch};
    /* first pass: tile size = largest sample (scaled) */
    int tw = 0, th = 0, masks = 0, st0 = RP_OK;
    for (int k = 0; k < count && !st0; k++) {
        st0 = rp_dataset_get(ds, (uint64_t)k * ds->size / (uint64_t)count, &draw, &s, err);
        if (st0) break;
        if (s.img.shape[2] > tw) tw = (int)s.img.shape[2];
        if (s.img.shape[1] > th) th = (int)s.img.shape[1];
        masks |= s.mask.data != NULL;
    }
    if (st0) {
        rp_sample_release(&s);
        return st0;
    }
    if (scale <= 0) scale = tw < 64 ? (64 + tw - 1) / tw : 1;
    int cw = tw * scale * (masks ? 2 : 1) + 8, chh = th * scale + 8 + 12;
    rp_canvas cv;
    if (rp_canvas_init(&cv, cols * cw + 4, rows * chh + 4, 40)) {
        rp_sample_release(&s);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory for the preview");
    }
    int st1 = RP_OK;
    for (int k = 0; k < count; k++) {
        uint64_t idx = (uint64_t)k * ds->size / (uint64_t)count;
        st1 = rp_dataset_get(ds, idx, &draw, &s, err);
        if (st1) break;
        int64_t C = s.img.shape[0], H = s.img.shape[1], W = s.img.shape[2];
        float lo = 0, hi = 1, mn = INFINITY, mx = -INFINITY;
        for (size_t i = 0; i < s.img.numel; i++) {
            if (s.img.data[i] < mn) mn = s.img.data[i];
            if (s.img.data[i] > mx) mx = s.img.data[i];
        }
        if (mn < -1e-4f || mx > 1 + 1e-4f) lo = mn, hi = mx > mn ? mx : mn + 1;
        int x0 = 4 + (k % cols) * cw, y0 = 4 + (k / cols) * chh;
        for (int64_t y = 0; y < H * scale; y++)
            for (int64_t x = 0; x < W * scale; x++) {
                uint8_t rgb[3];
                for (int c = 0; c < 3; c++) {
                    int64_t cc = C >= 3 ? c : 0;
                    float v = (s.img.data[(cc * H + y / scale) * W + x / scale] - lo) / (hi - lo);
                    v = v < 0 ? 0 : v > 1 ? 1 : v;
                    rgb[c] = (uint8_t)(v * 255 + 0.5f);
                }
                rp_canvas_rect(&cv, x0 + (int)x, y0 + (int)y, 1, 1, rgb);
                if (s.mask.data && y / scale < s.mask.h && x / scale < s.mask.w) {
                    mask_colour(s.mask.data[(y / scale) * s.mask.w + x / scale], rgb);
                    rp_canvas_rect(&cv, x0 + (int)(W * scale + x), y0 + (int)y, 1, 1, rgb);
                }
            }
        char label[160];
        const char *cn = s.label >= 0 && s.label < ds->num_classes && ds->class_names
                             ? ds->class_names[s.label]
                             : NULL;
        if (cn) snprintf(label, sizeof label, "%.40s #%llu", cn, (unsigned long long)idx);
        else if (s.label >= 0) snprintf(label, sizeof label, "%d #%llu", s.label, (unsigned long long)idx);
        else snprintf(label, sizeof label, "#%llu", (unsigned long long)idx);
        int ty = y0 + th * scale + 3;
        rp_canvas_rect(&cv, x0, ty - 1, cw - 8, 11, black);
        rp_canvas_text(&cv, x0 + 1, ty, 1, label, white);
    }
    rp_sample_release(&s);
    const char *dir;
    if (!st1) st1 = rp_stage_dir(st, &dir, err);
    char path[2048];
    if (!st1) {
        snprintf(path, sizeof path, "%s/%s", dir, file);
        st1 = rp_image_write_png(path, cv.px, cv.w, cv.h, 3, err);
    }
    if (!st1) st1 = rp_stage_figure(st, "Augmentation previews", ds->name, file, NULL, err);
    rp_canvas_free(&cv);
    if (st1) return st1;
    rp_info("augment.preview: %d samples of %s → %s", count, ds->name, path);
    rp_files *f = rp_files_new(dir);
    if (!f) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return rp_stage_output(st, "files", f, err);
}

/* ---- stage declaration ---- */
static const struct rp_port preview_data_in[] = {{"data", RP_ART_DATASET, 0, "dataset to transform"}};
static const struct rp_port preview_files_out[] = {{"files", RP_ART_FILES, 0, "the written images"}};
static const struct rp_stage_def preview_stage = {"augment.preview", "PNG grid of samples after the transforms, with labels", preview_data_in, 1,
     preview_files_out, 1, aug_run_preview, 0, NULL};
RP_STAGE(preview_stage)
