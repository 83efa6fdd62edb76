/* augment.stats — distribution of the erased-area ratio (erased pixels /
 * image pixels) of an erasing transform over many draws (S2's Figs. 10-12
 * use 2,500,000 on 32x32). A transform with an area sampler (the ops'
 * erased_area: random_erasing, cutout, hide_and_seek) is sampled with it (no
 * image is touched), so millions of draws take well under a second per
 * million; any other transform is measured by applying it to a constant
 * image and counting changed pixels. Draw d uses the stream keyed (seed,
 * stage id, 0, d / 4096), chunks summed in order: the result does not
 * depend on the thread count. Writes erased_area.csv (histogram) and
 * erased_area.png; metrics mean, std, applied_fraction, draws.
 * CAM-guided erasing (`hook: cam_erasing`, S2) needs a model and images: the
 * Grad-CAM arg-max of every image is computed once (rp_gradcam, batches of
 * 128, eval mode as the hook's `mode` says), then draw d erases the box
 * rp_cam_erasing_box places at image d mod n's arg-max, exactly as the hook
 * would for that image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "runpipe/image.h"

enum { K_AREA, K_CAM, K_GENERIC };

typedef struct stats_cfg {
    int kind;
    int64_t H, W;
    /* an erasing transform with its own area sampler (erased_area) */
    const struct rp_transform_ops *ops;
    void *tstate;
    /* any other transform, measured on a constant image */
    const rp_transform_chain *chain;
    /* cam_erasing: p, box size parameters, arg-max (row, col) of n_img images */
    double p, scale[2], ratio[2];
    int attempts;
    int64_t b_h, n_img;
    int32_t *argmax;
} stats_cfg;

/* One draw: ratio in [0, 1]; *applied = 0 when the transform's coin said no.
 * `smp` is a per-thread workspace. */
static int one_draw(const stats_cfg *c, rp_rng *rng, uint64_t d, rp_sample *smp,
                    double *ratio, int *applied, rp_error *err) {
    double HW = (double)c->H * (double)c->W;
    *applied = 1;
    *ratio = 0;
    switch (c->kind) {
    case K_AREA: {
        int64_t area = c->ops->erased_area(c->tstate, c->H, c->W, rng, applied);
        if (area < 0) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        *ratio = (double)area / HW;
        return RP_OK;
    }
    case K_CAM: {
        if (c->p < 1.0 && !(rp_rng_uniform(rng) < c->p)) {
            *applied = 0;
            return RP_OK;
        }
        const int32_t *am = c->argmax + 2 * (d % (uint64_t)c->n_img);
        int64_t t, l, h, w;
        if (rp_cam_erasing_box(rng, c->H, c->W, c->scale, c->ratio, 0, c->attempts, am[0], am[1],
                               c->b_h, &t, &l, &h, &w))
            *ratio = (double)(h * w) / HW;
        return RP_OK;
    }
    default: {
        const float sentinel = 0.318309886f;
        int st = rp_sample_resize(smp, 1, c->H, c->W, err);
        if (st) return st;
        for (size_t i = 0; i < smp->img.numel; i++) smp->img.data[i] = sentinel;
        smp->index = d;
        st = rp_transform_chain_apply(c->chain, smp, 0, 0, 0, err);
        if (st) return st;
        if (smp->img.shape[1] != c->H || smp->img.shape[2] != c->W)
            return rp_error_set(err, RP_ERR_INVALID,
                                "augment.stats: the transform changes the image size; it is not "
                                "an erasing transform");
        int64_t n = 0;
        for (size_t i = 0; i < smp->img.numel; i++) n += smp->img.data[i] != sentinel;
        *ratio = (double)n / HW;
        return RP_OK;
    }
    }
}

#define CHUNK 4096

static int stats_draw(rp_stage *st, stats_cfg *cfg, const char *name, rp_transform_chain *chain,
                      uint64_t draws, int bins, int only_applied, rp_error *err);
static int stats_cam_prepare(rp_stage *st, const rp_node *p, const rp_node *hspec, uint64_t draws,
                             int bins, int only_applied, rp_error *err);

int aug_run_stats(rp_stage *st, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    stats_cfg c;
    memset(&c, 0, sizeof c);
    uint64_t draws = (uint64_t)rp_param_int(p, "draws");
    c.H = rp_param_int(p, "height");
    c.W = rp_param_int(p, "width");
    int bins = (int)rp_param_int(p, "bins");
    int only_applied = rp_param_bool(p, "only_applied");
    if (c.H <= 0 || c.W <= 0 || bins <= 0 || draws == 0)
        return rp_error_at(err, p, RP_ERR_INVALID,
                           "augment.stats: height, width, bins and draws must be positive");
    const rp_node *spec = rp_node_get(p, "transform"), *hspec = rp_node_get(p, "hook");
    int has_t = spec && !rp_node_is_null(spec), has_h = hspec && !rp_node_is_null(hspec);
    if (has_t == has_h)
        return rp_error_at(err, has_h ? hspec : p, RP_ERR_INVALID,
                           "augment.stats: give exactly one of 'transform' (an erasing "
                           "transform) and 'hook' (cam_erasing)");
    if (has_h) return stats_cam_prepare(st, p, hspec, draws, bins, only_applied, err);
    const char *name;
    const rp_node *tp;
    int rc = rp_component_spec(spec, &name, &tp, err);
    if (rc) return rc;
    rp_node *filled = NULL;
    rc = rp_component_params(RP_COMP_TRANSFORM, name, tp, &filled, err);
    if (rc) return rc;
    rp_transform_chain *chain = NULL;
    const struct rp_component *comp = rp_component_find(RP_COMP_TRANSFORM, name);
    const struct rp_transform_ops *ops = comp ? comp->impl : NULL;
    if (ops && ops->erased_area) {
        c.kind = K_AREA;
        c.ops = ops;
        rc = ops->create(filled, &c.tstate, err);
    } else {
        c.kind = K_GENERIC;
        rp_node *list = rp_node_new_seq();
        rp_node *one = rp_node_new_map();
        if (!list || !one || rp_node_map_set(one, name, rp_node_clone(filled)) ||
            rp_node_seq_push(list, one)) {
            rp_node_free(list);
            rp_node_free(filled);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        rc = rp_transform_chain_new(list, &chain, err);
        rp_node_free(list);
        c.chain = chain;
    }
    rp_node_free(filled);
    if (rc) return rc;
    return stats_draw(st, &c, name, chain, draws, bins, only_applied, err);
}


/* Draw, reduce, write the histogram and the metrics (takes `chain` and
 * cfg->tstate). */
static int stats_draw(rp_stage *st, stats_cfg *cfg, const char *name, rp_transform_chain *chain,
                      uint64_t draws, int bins, int only_applied, rp_error *err) {
    const stats_cfg c = *cfg;
    int rc = RP_OK;
    uint64_t nchunks = (draws + CHUNK - 1) / CHUNK;
    uint64_t *hist = calloc((size_t)nchunks * (size_t)bins, sizeof *hist);
    double *csum = calloc((size_t)nchunks * 3, sizeof *csum);
    if (!hist || !csum) {
        free(hist);
        free(csum);
        rp_transform_chain_free(chain);
        if (c.tstate) c.ops->destroy(c.tstate);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    uint64_t stream = rp_hash_str(rp_stage_id(st));
    uint64_t seed = rp_stage_seed(st);
    double t0 = rp_now();
    int failed = 0;
    rp_error ferr;
    rp_error_clear(&ferr);
#pragma omp parallel num_threads(rp_stage_threads(st) > 0 ? rp_stage_threads(st) : 1)
    {
        rp_sample smp;
        rp_sample_init(&smp);
        rp_error e;
        rp_error_clear(&e);
#pragma omp for schedule(dynamic, 4)
        for (uint64_t k = 0; k < nchunks; k++) {
            if (failed) continue;
            rp_rng rng;
            rp_rng_init(&rng, seed, stream, 0, k);
            uint64_t end = (k + 1) * CHUNK < draws ? (k + 1) * CHUNK : draws;
            double s1 = 0, s2 = 0, na = 0;
            for (uint64_t d = k * CHUNK; d < end; d++) {
                double r;
                int applied;
                if (one_draw(&c, &rng, d, &smp, &r, &applied, &e)) {
#pragma omp critical(aug_stats_err)
                    {
                        if (!failed) ferr = e;
                        failed = 1;
                    }
                    break;
                }
                if (only_applied && !applied) continue;
                int b = (int)(r * bins);
                if (b >= bins) b = bins - 1;
                hist[k * (uint64_t)bins + (uint64_t)b]++;
                s1 += r, s2 += r * r, na += 1;
            }
            csum[k * 3] = s1, csum[k * 3 + 1] = s2, csum[k * 3 + 2] = na;
        }
        rp_sample_release(&smp);
    }
    rp_transform_chain_free(chain);
    if (c.tstate) c.ops->destroy(c.tstate);
    if (failed) {
        free(hist);
        free(csum);
        if (err) *err = ferr;
        return ferr.status ? ferr.status : RP_ERR_INTERNAL;
    }
    /* reduce in chunk order (deterministic) */
    uint64_t *h = calloc((size_t)bins, sizeof *h);
    double s1 = 0, s2 = 0, na = 0;
    for (uint64_t k = 0; h && k < nchunks; k++) {
        for (int b = 0; b < bins; b++) h[b] += hist[k * (uint64_t)bins + (uint64_t)b];
        s1 += csum[k * 3], s2 += csum[k * 3 + 1], na += csum[k * 3 + 2];
    }
    free(hist);
    free(csum);
    if (!h) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    double mean = na > 0 ? s1 / na : 0, var = na > 1 ? (s2 - na * mean * mean) / (na - 1) : 0;
    double sd = sqrt(var > 0 ? var : 0);
    double secs = rp_now() - t0;

    const char *dir;
    rc = rp_stage_dir(st, &dir, err);
    char path[2048];
    rp_afile af;
    if (!rc) {
        snprintf(path, sizeof path, "%s/erased_area.csv", dir);
        rc = rp_afile_open(&af, path, err);
    }
    if (!rc) {
        fprintf(af.f, "bin_lo,bin_hi,count,fraction\n");
        for (int b = 0; b < bins; b++)
            fprintf(af.f, "%.6f,%.6f,%llu,%.8f\n", (double)b / bins, (double)(b + 1) / bins,
                    (unsigned long long)h[b], na > 0 ? (double)h[b] / na : 0.0);
        rc = rp_afile_commit(&af, err);
    }
    /* histogram image */
    if (!rc) {
        rp_canvas cv;
        const int PW = 640, PH = 360, L = 60, R = 20, T = 30, B = 40;
        if (rp_canvas_init(&cv, PW, PH, 255)) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        if (!rc) {
            const uint8_t axis[3] = {0, 0, 0}, bar[3] = {70, 110, 190}, grey[3] = {120, 120, 120};
            uint64_t hmax = 1;
            for (int b = 0; b < bins; b++) if (h[b] > hmax) hmax = h[b];
            int pw = PW - L - R, ph = PH - T - B;
            for (int b = 0; b < bins; b++) {
                int x0 = L + b * pw / bins, x1 = L + (b + 1) * pw / bins;
                int bh = (int)((double)h[b] / (double)hmax * ph + 0.5);
                rp_canvas_rect(&cv, x0, T + ph - bh, x1 - x0 > 1 ? x1 - x0 - 1 : 1, bh, bar);
            }
            rp_canvas_rect(&cv, L, T + ph, pw, 1, axis);
            rp_canvas_rect(&cv, L - 1, T, 1, ph, axis);
            char lab[128];
            for (int k = 0; k <= 5; k++) {
                int x = L + k * pw / 5;
                rp_canvas_rect(&cv, x, T + ph, 1, 5, axis);
                snprintf(lab, sizeof lab, "%.1f", k / 5.0);
                rp_canvas_text(&cv, x - 6, T + ph + 8, 1, lab, axis);
                int y = T + ph - k * ph / 5;
                snprintf(lab, sizeof lab, "%.3f", na > 0 ? (double)hmax / na * k / 5 : 0.0);
                rp_canvas_text(&cv, 4, y - 4, 1, lab, grey);
            }
            snprintf(lab, sizeof lab, "%s: erased area ratio, %llu draws, mean %.4f std %.4f", name,
                     (unsigned long long)na, mean, sd);
            rp_canvas_text(&cv, L, 8, 1, lab, axis);
            rp_canvas_text(&cv, L + pw / 2 - 40, PH - 14, 1, "erased area / image area", axis);
            snprintf(path, sizeof path, "%s/erased_area.png", dir);
            rc = rp_image_write_png(path, cv.px, cv.w, cv.h, 3, err);
            rp_canvas_free(&cv);
        }
    }
    free(h);
    if (rc) return rc;
    rp_metrics *m = rp_metrics_new();
    if (!m) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    char rel[512];
    rc = rp_metrics_set(m, "erased_area.mean", mean, err);
    if (!rc) rc = rp_metrics_set(m, "erased_area.std", sd, err);
    if (!rc) rc = rp_metrics_set(m, "applied_fraction", na / (double)draws, err);
    if (!rc) rc = rp_metrics_set(m, "draws", (double)draws, err);
    snprintf(rel, sizeof rel, "%s/erased_area.csv", rp_stage_id(st));
    if (!rc) rc = rp_metrics_add_file(m, rel, err);
    snprintf(rel, sizeof rel, "%s/erased_area.png", rp_stage_id(st));
    if (!rc) rc = rp_metrics_add_file(m, rel, err);
    if (rc) {
        rp_metrics_free(m);
        return rc;
    }
    rp_info("augment.stats: %s over %llu draws (%.2fs): erased area mean %.4f, std %.4f", name,
            (unsigned long long)draws, secs, mean, sd);
    return rp_stage_output(st, "metrics", m, err);
}

/* ---- stage declaration ---- */
static const struct rp_port stats_metrics_out[] = {
    {"metrics", RP_ART_METRICS, 0, "mean/std of the erased-area ratio + files"}};
static const struct rp_port stats_in[] = {
    {"model", RP_ART_MODEL, RP_PORT_OPTIONAL, "with hook cam_erasing: the model whose CAMs place the boxes"},
    {"data", RP_ART_DATASET, RP_PORT_OPTIONAL, "with hook cam_erasing: the images"},
};
static const struct rp_stage_def stats_stage = {"augment.stats", "erased-area ratio distribution of an erasing transform or of cam_erasing (CSV + histogram)",
     stats_in, RP_COUNT(stats_in), stats_metrics_out, 1, aug_run_stats,
     RP_STAGE_CACHEABLE, NULL};
RP_STAGE(stats_stage)

/* `hook: cam_erasing`: the box parameters from the hook's own (validated)
 * params, the arg-max of every image of `data` under `model`. */
static int stats_cam_prepare(rp_stage *st, const rp_node *p, const rp_node *hspec, uint64_t draws,
                             int bins, int only_applied, rp_error *err) {
    const char *name;
    const rp_node *hp;
    int rc = rp_component_spec(hspec, &name, &hp, err);
    if (rc) return rc;
    if (strcmp(name, "cam_erasing"))
        return rp_error_at(err, hspec, RP_ERR_INVALID,
                           "augment.stats: 'hook': only cam_erasing is measured, got '%s'", name);
    rp_model *model = rp_stage_input(st, "model");
    const rp_dataset *ds = rp_stage_input(st, "data");
    if (!model || !ds)
        return rp_error_at(err, hspec, RP_ERR_INVALID,
                           "augment.stats: hook cam_erasing needs the inputs model and data (its "
                           "boxes sit at each image's Grad-CAM arg-max)");
    if (ds->size == 0) return rp_error_set(err, RP_ERR_INVALID, "dataset '%s' is empty", ds->name);
    rp_node *hf = NULL;
    if ((rc = rp_component_params(RP_COMP_BATCH_HOOK, name, hp, &hf, err))) return rc;
    stats_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = K_CAM;
    c.p = rp_param_double(hf, "p");
    c.scale[0] = rp_param_double(hf, "s_l");
    c.scale[1] = rp_param_double(hf, "s_h");
    c.ratio[0] = rp_param_double(hf, "r_1");
    c.ratio[1] = 1.0 / c.ratio[0];
    c.attempts = (int)rp_param_int(hf, "attempts");
    c.b_h = rp_param_int(hf, "b_h");
    const char *layer = rp_param_str(hf, "layer");
    int use_label = !strcmp(rp_param_str(hf, "target"), "label");
    int train_mode = !strcmp(rp_param_str(hf, "mode"), "train");
    int64_t limit = rp_param_int(p, "images");
    int mc, mh, mw;
    rp_model_input_shape(model, &mc, &mh, &mw);
    c.H = mh, c.W = mw;
    c.n_img = limit > 0 && (uint64_t)limit < ds->size ? limit : (int64_t)ds->size;
    c.argmax = malloc(sizeof *c.argmax * (size_t)(2 * c.n_img));
    int32_t labels[128];
    rp_tensor *x = NULL;
    rp_sample s;
    rp_sample_init(&s);
    rp_gradcam_out o = {0};
    rp_draw draw = {0};
    if (!c.argmax) rc = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (!rc) rc = rp_tensor_new4(&x, 128, mc, mh, mw, err);
    const size_t per = (size_t)mc * (size_t)mh * (size_t)mw;
    for (int64_t b0 = 0; !rc && b0 < c.n_img; b0 += 128) {
        int64_t nb = c.n_img - b0 < 128 ? c.n_img - b0 : 128;
        for (int64_t k = 0; !rc && k < nb; k++) {
            rc = rp_dataset_get(ds, (uint64_t)(b0 + k), &draw, &s, err);
            if (!rc && s.img.numel != per)
                rc = rp_error_set(err, RP_ERR_INVALID,
                                  "augment.stats: image %lld of '%s' is not the model's input "
                                  "size [%d, %d, %d]",
                                  (long long)(b0 + k), ds->name, mc, mh, mw);
            if (!rc && use_label && s.label < 0)
                rc = rp_error_set(err, RP_ERR_INVALID,
                                  "augment.stats: image %lld of '%s' has no label (cam_erasing "
                                  "target: predicted)",
                                  (long long)(b0 + k), ds->name);
            if (rc) break;
            memcpy(x->data + (size_t)k * per, s.img.data, per * sizeof(float));
            labels[k] = s.label;
        }
        if (rc) break;
        rp_tensor xv = *x;
        xv.owns = 0;
        xv.shape[0] = nb;
        xv.numel = per * (size_t)nb;
        rc = rp_gradcam(model, &xv, layer, use_label ? labels : NULL, train_mode, &o, err);
        if (!rc) memcpy(c.argmax + 2 * b0, o.argmax, sizeof *o.argmax * (size_t)(2 * nb));
    }
    rp_sample_release(&s);
    rp_tensor_free(x);
    rp_gradcam_out_release(&o);
    rp_node_free(hf);
    if (!rc) rc = stats_draw(st, &c, name, NULL, draws, bins, only_applied, err);
    free(c.argmax);
    return rc;
}
