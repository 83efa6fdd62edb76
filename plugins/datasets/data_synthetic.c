/* data.synthetic — a procedural image set: one shape per image (circle,
 * square, triangle, cross, ring, star, diamond, hexagon) at a random
 * position, size, rotation and colour on a textured background, rendered in
 * one of several styles (the domains, PACS-like for S3):
 *   photo    — smooth lit background, shaded shape, sensor noise;
 *   cartoon  — flat colours, black outlines;
 *   sketch   — grey outline only on white;
 *   painting — brush-stroke texture over background and shape.
 * Sample i of a split gets style i % n_styles and class (i / n_styles) %
 * n_classes (balanced), and everything else from the Philox stream keyed
 * (seed, stage id, split, i): the set is a pure function of the seed, and is
 * rendered on demand (no memory). With `masks`, a segmentation target:
 * 0 = background, 1 + class inside the shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

#define PI 3.14159265358979323846

static const char *const all_shapes[] = {"circle", "square", "triangle", "cross",
                                         "ring",   "star",   "diamond",  "hexagon"};
static const char *const all_styles[] = {"photo", "cartoon", "sketch", "painting"};

typedef struct synth {
    int size, channels, masks;
    int n_cls, n_sty;
    int cls[8], sty[4];
    uint64_t seed, stream;
} synth;

/* Signed "inside" measure of shape k at local coords (u, v) (rotated,
 * scaled so the shape's radius is 1): > 0 inside. */
static double shape_f(int k, double u, double v) {
    double d = sqrt(u * u + v * v);
    switch (k) {
    case 0: return 1 - d;
    case 1: return 0.8 - fmax(fabs(u), fabs(v));
    case 2: { /* equilateral triangle, circumradius 1, inradius 0.5 */
        double m = 1e9;
        for (int e = 0; e < 3; e++) {
            double a = PI / 2 + e * 2 * PI / 3; /* outward edge normals */
            m = fmin(m, 0.5 - (u * cos(a) + v * sin(a)));
        }
        (void)d;
        return m;
    }
    case 3: return fmax(fmin(1 - fabs(u), 0.3 - fabs(v)), fmin(0.3 - fabs(u), 1 - fabs(v)));
    case 4: return fmin(1 - d, d - 0.55);
    case 5: { /* five-pointed star */
        double th = atan2(v, u);
        double r = 0.5 + 0.5 * pow(fabs(cos(2.5 * th)), 3);
        return r - d;
    }
    case 6: return 1 - (fabs(u) + fabs(v));
    default: { /* hexagon */
        double m = 1e9;
        for (int e = 0; e < 6; e++) {
            double a = e * PI / 3;
            m = fmin(m, 0.87 - (u * cos(a) + v * sin(a)));
        }
        return m;
    }
    }
}

static void hsv(double h, double s, double v, double rgb[3]) {
    double c = v * s, x = c * (1 - fabs(fmod(h * 6, 2) - 1)), m = v - c;
    double r = 0, g = 0, b = 0;
    int i = (int)(h * 6) % 6;
    switch (i) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
    }
    rgb[0] = r + m, rgb[1] = g + m, rgb[2] = b + m;
}

/* Value noise on a coarse grid (bilinear), values in [0, 1). */
typedef struct vnoise {
    float g[9][9];
} vnoise;

static void vnoise_init(vnoise *n, rp_rng *r) {
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) n->g[i][j] = rp_rng_uniformf(r);
}

static double vnoise_at(const vnoise *n, double x, double y) { /* x, y in [0, 1] */
    double fx = x * 7.999, fy = y * 7.999;
    int ix = (int)fx, iy = (int)fy;
    double ax = fx - ix, ay = fy - iy;
    return (1 - ay) * ((1 - ax) * n->g[iy][ix] + ax * n->g[iy][ix + 1]) +
           ay * ((1 - ax) * n->g[iy + 1][ix] + ax * n->g[iy + 1][ix + 1]);
}

static int render(const synth *s, uint64_t split, uint64_t i, rp_sample *out, rp_error *err) {
    int S = s->size, C = s->channels;
    int st = rp_sample_resize(out, C, S, S, err);
    if (st) return st;
    int style = s->sty[i % (uint64_t)s->n_sty];
    int ci = (int)((i / (uint64_t)s->n_sty) % (uint64_t)s->n_cls);
    int shape = s->cls[ci];
    rp_rng r;
    rp_rng_init(&r, s->seed, s->stream, split, i);
    double rad = S * rp_rng_range(&r, 0.18, 0.36);
    double cx = rp_rng_range(&r, rad, S - rad), cy = rp_rng_range(&r, rad, S - rad);
    double rot = rp_rng_range(&r, 0, 2 * PI), cr = cos(rot), sr = sin(rot);
    double fg[3], bg[3], bg2[3];
    hsv(rp_rng_uniform(&r), rp_rng_range(&r, 0.6, 1.0), rp_rng_range(&r, 0.55, 1.0), fg);
    hsv(rp_rng_uniform(&r), rp_rng_range(&r, 0.1, 0.5), rp_rng_range(&r, 0.4, 0.95), bg);
    hsv(rp_rng_uniform(&r), rp_rng_range(&r, 0.1, 0.5), rp_rng_range(&r, 0.4, 0.95), bg2);
    vnoise tex, strokes;
    vnoise_init(&tex, &r);
    vnoise_init(&strokes, &r);
    double sdir = rp_rng_range(&r, 0, PI), sfreq = rp_rng_range(&r, 0.6, 1.4);
    double light = rp_rng_range(&r, 0, 2 * PI);
    if (s->masks) {
        st = rp_mask_resize(&out->mask, S, S, err);
        if (st) return st;
    }
    float *img = out->img.data;
    const double ow = 1.2 / rad; /* outline half-width in shape units */
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double px = x + 0.5 - cx, py = y + 0.5 - cy;
            double u = (px * cr + py * sr) / rad, v = (-px * sr + py * cr) / rad;
            double f = shape_f(shape, u, v);
            /* coverage by 2x2 supersampling for soft edges */
            double cov = 0;
            for (int k = 0; k < 4; k++) {
                double qx = px + ((k & 1) ? 0.25 : -0.25), qy = py + ((k >> 1) ? 0.25 : -0.25);
                double qu = (qx * cr + qy * sr) / rad, qv = (-qx * sr + qy * cr) / rad;
                cov += shape_f(shape, qu, qv) > 0 ? 0.25 : 0;
            }
            double t = vnoise_at(&tex, (double)x / S, (double)y / S);
            double rgb[3];
            int edge = fabs(f) < ow;
            double stroke = 0.5 + 0.5 * sin((x * cos(sdir) + y * sin(sdir)) * sfreq * 2 * PI / 4.0 +
                                            6 * vnoise_at(&strokes, (double)x / S, (double)y / S));
            for (int c = 0; c < 3; c++) {
                double b, g;
                switch (style) {
                case 0: /* photo */
                    b = bg[c] * (0.75 + 0.5 * t) + (bg2[c] - bg[c]) * ((double)y / S) * 0.5;
                    g = fg[c] * (0.65 + 0.35 * (0.5 + 0.5 * (u * cos(light) + v * sin(light))));
                    rgb[c] = b * (1 - cov) + g * cov + 0.04 * rp_rng_normal(&r);
                    break;
                case 1: /* cartoon */
                    b = bg[c];
                    g = fg[c];
                    rgb[c] = cov > 0.5 ? g : b;
                    if (edge) rgb[c] = 0.05;
                    break;
                case 2: /* sketch */
                    rgb[c] = edge ? 0.25 + 0.15 * t : 1.0;
                    break;
                default: /* painting */
                    b = bg[c] * (0.7 + 0.45 * stroke) + 0.15 * (t - 0.5);
                    g = fg[c] * (0.7 + 0.45 * stroke);
                    rgb[c] = b * (1 - cov) + g * cov;
                    break;
                }
                rgb[c] = rgb[c] < 0 ? 0 : rgb[c] > 1 ? 1 : rgb[c];
            }
            if (C == 1) {
                img[y * S + x] = (float)(0.2989 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
            } else {
                for (int c = 0; c < 3; c++) {
                    /* quantise like an 8-bit image file */
                    img[(c * S + y) * S + x] = (float)(floor(rgb[c] * 255 + 0.5) / 255.0);
                }
            }
            if (C == 1) img[y * S + x] = (float)(floor(img[y * S + x] * 255 + 0.5) / 255.0);
            if (s->masks) out->mask.data[y * S + x] = f > 0 ? 1 + ci : 0;
        }
    out->label = s->masks ? 1 + ci : ci; /* masks: ids include background */
    out->domain = (int32_t)(i % (uint64_t)s->n_sty);
    return RP_OK;
}

typedef struct synth_view {
    const synth *s; /* shared, owned by the first view's impl ref-count below */
    uint64_t split;
    int *refs;
} synth_view;

static int sv_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                  rp_error *err) {
    (void)draw;
    const synth_view *v = ds->impl;
    return render(v->s, v->split, i, out, err);
}

static int32_t sv_label(const rp_dataset *ds, uint64_t i) {
    const synth_view *v = ds->impl;
    return (int32_t)((i / (uint64_t)v->s->n_sty) % (uint64_t)v->s->n_cls) + (v->s->masks ? 1 : 0);
}

static int32_t sv_domain(const rp_dataset *ds, uint64_t i) {
    const synth_view *v = ds->impl;
    return (int32_t)(i % (uint64_t)v->s->n_sty);
}

static void sv_destroy(rp_dataset *ds) {
    synth_view *v = ds->impl;
    if (!v) return;
    if (--*v->refs == 0) {
        free((void *)v->s);
        free(v->refs);
    }
    free(v);
}

static const struct rp_dataset_ops sv_ops = {sv_get, sv_label, sv_domain, sv_destroy};

static int pick(const rp_node *p, const char *key, const char *const *all, int n_all, int *out,
                int max, rp_error *err) {
    const rp_node *l = rp_node_get(p, key);
    int n = 0;
    for (size_t i = 0; l && i < rp_node_len(l); i++) {
        const char *s = rp_node_str(rp_node_at(l, i));
        int f = -1;
        for (int k = 0; s && k < n_all; k++)
            if (!strcmp(all[k], s)) f = k;
        if (f < 0) {
            char list[256] = "";
            size_t u = 0;
            for (int k = 0; k < n_all; k++)
                u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", k ? ", " : "", all[k]);
            return rp_error_at(err, rp_node_at(l, i), RP_ERR_INVALID, "'%s': unknown '%s' (valid: %s)",
                               key, s ? s : "?", list);
        }
        if (n == max) break;
        out[n++] = f;
    }
    return n;
}

int ds_run_synthetic(rp_stage *stg, rp_error *err) {
    const rp_node *p = rp_stage_params(stg);
    synth *s = calloc(1, sizeof *s);
    int *refs = malloc(sizeof *refs);
    if (!s || !refs) {
        free(s);
        free(refs);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    *refs = 1;
    s->size = (int)rp_param_int(p, "size");
    s->channels = (int)rp_param_int(p, "channels");
    s->masks = rp_param_bool(p, "masks");
    s->seed = rp_stage_seed(stg);
    s->stream = rp_hash_str(rp_stage_id(stg)) ^ rp_hash_str("synthetic");
    int st = RP_OK;
    s->n_cls = pick(p, "classes", all_shapes, 8, s->cls, 8, err);
    if (s->n_cls < 0) st = RP_ERR_INVALID;
    if (!st) {
        s->n_sty = pick(p, "styles", all_styles, 4, s->sty, 4, err);
        if (s->n_sty < 0) st = RP_ERR_INVALID;
    }
    if (!st && s->n_cls < 1) {
        for (int k = 0; k < 6; k++) s->cls[k] = k;
        s->n_cls = 6;
    }
    if (!st && s->n_sty < 1) {
        s->sty[0] = 0;
        s->n_sty = 1;
    }
    if (!st && (s->size < 8 || (s->channels != 1 && s->channels != 3)))
        st = rp_error_at(err, p, RP_ERR_INVALID, "data.synthetic: size >= 8 and channels 1 or 3");
    if (st) {
        free(s);
        free(refs);
        return st;
    }
    const char *cn[9], *dn[4];
    int ncn = 0;
    if (s->masks) cn[ncn++] = "background";
    for (int k = 0; k < s->n_cls; k++) cn[ncn++] = all_shapes[s->cls[k]];
    for (int k = 0; k < s->n_sty; k++) dn[k] = all_styles[s->sty[k]];
    const char *ports[2] = {"train", "test"};
    uint64_t counts[2] = {(uint64_t)rp_param_int(p, "train_count"),
                          (uint64_t)rp_param_int(p, "test_count")};
    for (int k = 0; k < 2; k++) {
        synth_view *v = calloc(1, sizeof *v);
        if (!v) {
            /* refs counts the views made: 'train' (in the store) keeps s */
            if (k == 0) free(s), free(refs);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        v->s = s;
        v->split = (uint64_t)k;
        v->refs = refs;
        if (k) ++*refs;
        char name[128];
        snprintf(name, sizeof name, "synthetic/%s", ports[k]);
        /* label-wise: classification over shapes; masks: 1 + shape ids */
        rp_dataset *ds = rp_dataset_new(&sv_ops, v, name, counts[k], s->masks ? ncn : s->n_cls,
                                        cn);
        if (!ds) {
            sv_destroy(&(rp_dataset){.impl = v});
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        ds->channels = s->channels;
        ds->height = ds->width = s->size;
        if (s->masks) ds->task = RP_TASK_SEGMENT;
        st = rp_dataset_set_domains(ds, s->n_sty, dn, err);
        if (st) {
            rp_dataset_free(ds);
            return st;
        }
        st = rp_stage_output(stg, ports[k], ds, err);
        if (st) return st;
    }
    rp_info("synthetic: %llu + %llu images %dx%d, %d classes, %d styles", (unsigned long long)counts[0],
            (unsigned long long)counts[1], s->size, s->size, s->n_cls, s->n_sty);
    return RP_OK;
}

/* Check time: everything is in the params. */
static int ds_check_synthetic(rp_check *ck, rp_error *err) {
    (void)err;
    const rp_node *p = rp_check_params(ck);
    int64_t nc = (int64_t)rp_node_len(rp_node_get(p, "classes"));
    if (!nc) nc = 6;
    if (rp_param_bool(p, "masks")) nc++; /* pixel classes: background + the shapes */
    static const char *const ports[2] = {"train", "test"};
    for (int k = 0; k < 2; k++) {
        rp_check_declare(ck, ports[k], RP_FACT_CLASSES, nc, rp_node_get(p, "classes"));
        rp_check_declare(ck, ports[k], RP_FACT_CHANNELS, rp_param_int(p, "channels"),
                         rp_node_get(p, "channels"));
        rp_check_declare(ck, ports[k], RP_FACT_HEIGHT, rp_param_int(p, "size"),
                         rp_node_get(p, "size"));
        rp_check_declare(ck, ports[k], RP_FACT_WIDTH, rp_param_int(p, "size"),
                         rp_node_get(p, "size"));
    }
    return RP_OK;
}

/* ---- stage declaration ---- */
static const struct rp_port train_test_ports[] = {
    {"train", RP_ART_DATASET, 0, "training split"},
    {"test", RP_ART_DATASET, 0, "test split"},
};
static const struct rp_stage_def synthetic_stage = {
    "data.synthetic", "procedural shapes in photo/cartoon/sketch/painting styles",
    NULL, 0, train_test_ports, RP_COUNT(train_test_ports), ds_run_synthetic, 0, ds_check_synthetic};
RP_STAGE(synthetic_stage)
