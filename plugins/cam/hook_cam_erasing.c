/* cam_erasing — S2's CAM-guided erasing (seeds/002, section III.2) as a batch
 * hook of `train` (schemas/batch_hook.cam_erasing.yaml).
 *
 * Epochs before floor(warmup * epochs) train plainly. After that each batch
 * of B images x[0..B) gets B more rows: a copy of every image with one box
 * erased near the arg-max p_m of its Grad-CAM (rp_gradcam: one forward and
 * a backward from the logits to the feature map, no parameter gradients),
 * so a step sees 2B samples (the paper's 128 + 128). Box: rp_cam_erasing_box
 * (size as Random Erasing's paper form, top-left corner p_n = p_m + d_e,
 * d_e = (U{0..b_h}, U{0..b_h}) pixels of the input-sized map, clamped, the
 * box clipped). The paper writes d_e = (rand(0, b_h), rand(0, b_h)) and calls
 * p_n "one of the patch's corners"; we read rand as an inclusive integer
 * draw (b_h = 0 must be valid: the paper's table has it) and the corner as
 * the top-left one. Every draw of copy i comes from the stream keyed (seed,
 * stage, epoch, dataset index of sample i, "cam_erasing"), and the CAM is a
 * function of the weights, so a resumed run repeats the same copies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/runpipe.h"

typedef struct cam_hook {
    double warmup, p, scale[2], ratio[2];
    int attempts, use_input, use_label, train_mode;
    int64_t b_h;
    rp_fill value;
    char *layer;                /* NULL = last conv feature map */
    const rp_node *cam_model;   /* for errors */
    rp_gradcam_out out;
} cam_hook;

static void hook_destroy(void *state) {
    cam_hook *h = state;
    if (!h) return;
    rp_gradcam_out_release(&h->out);
    free(h->layer);
    free(h);
}

static int hook_create(const rp_node *params, void **state, rp_error *err) {
    cam_hook *h = calloc(1, sizeof *h);
    if (!h) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    h->warmup = rp_param_double(params, "warmup");
    h->p = rp_param_double(params, "p");
    h->scale[0] = rp_param_double(params, "s_l");
    h->scale[1] = rp_param_double(params, "s_h");
    double r1 = rp_param_double(params, "r_1");
    h->ratio[0] = r1, h->ratio[1] = 1.0 / r1;
    h->attempts = (int)rp_param_int(params, "attempts");
    h->b_h = rp_param_int(params, "b_h");
    h->cam_model = rp_node_get(params, "cam_model");
    h->use_input = !strcmp(rp_param_str(params, "cam_model"), "input");
    h->use_label = !strcmp(rp_param_str(params, "target"), "label");
    h->train_mode = !strcmp(rp_param_str(params, "mode"), "train");
    const char *layer = rp_param_str(params, "layer");
    int st = RP_OK;
    if (h->scale[0] > h->scale[1])
        st = rp_error_at(err, rp_node_get(params, "s_l"), RP_ERR_INVALID,
                         "cam_erasing: s_l (%g) must not exceed s_h (%g)", h->scale[0], h->scale[1]);
    if (!st && layer && !(h->layer = strdup(layer))) st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (!st) st = rp_fill_parse(params, "value", 1, &h->value, err);
    if (st) {
        hook_destroy(h);
        return st;
    }
    *state = h;
    return RP_OK;
}

static int hook_on_batch(void *state, rp_hook_ctx *ctx, rp_error *err) {
    cam_hook *h = state;
    if ((double)ctx->epoch < floor(h->warmup * (double)ctx->epochs)) return RP_OK;
    rp_batch *b = ctx->batch;
    if (b->masks)
        return rp_error_set(err, RP_ERR_INVALID,
                            "cam_erasing: needs a classification training set (this one has "
                            "segmentation masks)");
    rp_model *cam = h->use_input ? ctx->aux_model : ctx->model;
    if (!cam)
        return rp_error_at(err, h->cam_model, RP_ERR_INVALID,
                           "cam_erasing: 'cam_model: input' needs the train stage's `hook_model` "
                           "input wired (in: {hook_model: STAGE.model})");
    const int64_t n = b->n, C = b->x.shape[1], H = b->x.shape[2], W = b->x.shape[3];
    rp_tensor xv = b->x; /* [n, C, H, W] view of the filled rows */
    xv.owns = 0;
    xv.shape[0] = n;
    xv.numel = (size_t)(n * C * H * W);
    int st = rp_gradcam(cam, &xv, h->layer, h->use_label ? b->labels : NULL, h->train_mode, &h->out,
                        err);
    if (st) return st;
    if ((st = rp_batch_reserve(b, 2 * n, C, H, W, 0, err))) return st;
    const size_t per = (size_t)(C * H * W);
    memcpy(b->x.data + per * (size_t)n, b->x.data, per * (size_t)n * sizeof(float));
    memcpy(b->labels + n, b->labels, (size_t)n * sizeof *b->labels);
    memcpy(b->indices + n, b->indices, (size_t)n * sizeof *b->indices);
    if (h->value.mode == RP_FILL_CONST && (st = rp_fill_check(&h->value, C, "cam_erasing", err)))
        return st;
    for (int64_t i = 0; i < n; i++) {
        rp_rng rng;
        rp_rng_for(&rng, ctx->seed, ctx->stage, "cam_erasing", ctx->epoch, b->indices[i]);
        if (h->p < 1.0 && !(rp_rng_uniform(&rng) < h->p)) continue;
        int64_t top, left, bh, bw;
        if (!rp_cam_erasing_box(&rng, H, W, h->scale, h->ratio, 0, h->attempts, h->out.argmax[2 * i],
                                h->out.argmax[2 * i + 1], h->b_h, &top, &left, &bh, &bw))
            continue;
        rp_tensor img = {.data = b->x.data + per * (size_t)(n + i),
                         .ndim = 3,
                         .shape = {C, H, W},
                         .numel = per};
        rp_fill_box(&img, top, left, bh, bw, &h->value, &rng);
    }
    b->n = 2 * n;
    return RP_OK;
}

static const struct rp_batch_hook_ops cam_erasing_ops = {hook_create, hook_on_batch, hook_destroy};
RP_COMPONENT(RP_COMP_BATCH_HOOK, "cam_erasing",
             "S2: train each batch with a copy erased near its Grad-CAM arg-max, after a warm-up",
             cam_erasing_ops)
