/* openimages.crop — S4's data preparation: every box of the chosen Open
 * Images classes becomes a size x size JPEG (crop, aspect-keeping resize,
 * paste at a uniformly random position on a canvas of the corners' median
 * colour) in an image-folder layout <out>/<split>/<group>/<ImageID>_<n>.jpg,
 * handed on as the datasets data.folder makes of <out>/train and <out>/val.
 *
 * Order of work: groups vs the descriptions file (before any image is read),
 * the box CSV (streamed), image sizes from the JPEG headers (parallel),
 * filters (too small, cap per group), the split, then the crops (parallel
 * over source images: each photo is decoded once for all its boxes). Every
 * random draw is keyed by the box (ImageID, ordinal), so the files are the
 * same byte for byte whatever the thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oi.h"

enum { B_KEEP = 0, B_NO_IMAGE, B_TOO_SMALL, B_OVER_CAP };
enum { S_TRAIN = 0, S_VAL = 1 };
static const char *const split_names[2] = {"train", "val"};

typedef struct crop_opts {
    const char *images, *boxes, *descriptions, *out;
    int size, min_size, max_per_group, balance, corner, filter, quality, by_image, skip_bad;
    double val;
    uint32_t exclude;
    uint64_t seed;
    const char *stage;
    int threads;
} crop_opts;

typedef struct img_rec {
    uint64_t id;
    size_t first, count; /* boxes[first .. first+count) */
    int w, h;
    int ok;   /* header read */
    int todo; /* crops to write */
} img_rec;

typedef struct box_state {
    int state; /* B_* */
    int split;
    int left, top, bw, bh, rw, rh, px, py;
    int done_before; /* listed in the manifest with the same params, file present */
    char *row;       /* manifest row (owned) */
} box_state;

static void image_path(const crop_opts *o, uint64_t id, char *buf, size_t n) {
    char hex[17];
    oi_format_image_id(id, hex); /* validated 16 hex digits: no path tricks */
    snprintf(buf, n, "%s/%s.jpg", o->images, hex);
}

static void crop_rel(const oi_groups *g, const oi_box *b, const box_state *s, char *buf, size_t n) {
    char hex[17];
    oi_format_image_id(b->image_id, hex);
    snprintf(buf, n, "%s/%s/%s_%u.jpg", split_names[s->split], g->names[g->classes[b->cls].group],
             hex, b->n);
}

static char *make_row(const oi_groups *g, const oi_box *b, const box_state *s) {
    char file[512], hex[17], cls[300];
    crop_rel(g, b, s, file, sizeof file);
    oi_format_image_id(b->image_id, hex);
    /* display names may hold commas: quoted, quotes doubled (RFC 4180) */
    const char *nm = g->classes[b->cls].name;
    size_t k = 0;
    cls[k++] = '"';
    for (; *nm && k < sizeof cls - 3; nm++) {
        if (*nm == '"') cls[k++] = '"';
        cls[k++] = *nm;
    }
    cls[k++] = '"';
    cls[k] = 0;
    rp_strbuf r = {0};
    double scale = (double)s->rw / s->bw;
    rp_strbuf_printf(&r, "%s,%s,%u,%s,%s,%s,%s,%.6f,%.6f,%.6f,%.6f,%d,%d,%d,%d,%.6f,%d,%d", file,
                     hex, b->n, g->classes[b->cls].mid, cls, g->names[g->classes[b->cls].group],
                     split_names[s->split], b->x0, b->x1, b->y0, b->y1, s->left, s->top, s->bw,
                     s->bh, scale, s->px, s->py);
    return rp_strbuf_take(&r);
}

static int read_opts(rp_stage *st, crop_opts *o, rp_error *err) {
    const rp_node *p = rp_stage_params(st);
    memset(o, 0, sizeof *o);
    o->images = rp_param_str(p, "images");
    o->boxes = rp_param_str(p, "boxes");
    o->descriptions = rp_param_str(p, "classes");
    o->size = (int)rp_param_int(p, "size");
    o->min_size = (int)rp_param_int(p, "min_size");
    o->max_per_group = (int)rp_param_int(p, "max_per_group");
    o->balance = rp_param_bool(p, "balance");
    o->corner = (int)rp_param_int(p, "corner");
    o->quality = (int)rp_param_int(p, "quality");
    o->val = rp_param_double(p, "val");
    const char *f = rp_param_str(p, "filter");
    o->filter = !strcmp(f, "bilinear") ? OI_FILTER_BILINEAR
                : !strcmp(f, "area")   ? OI_FILTER_AREA
                                       : OI_FILTER_AUTO;
    o->by_image = !strcmp(rp_param_str(p, "split_by"), "image");
    o->skip_bad = !strcmp(rp_param_str(p, "on_error"), "skip");
    const rp_node *ex = rp_node_get(p, "exclude");
    for (size_t i = 0; i < rp_node_len(ex); i++)
        o->exclude |= (uint32_t)oi_flag_of(rp_node_str(rp_node_at(ex, i)));
    o->seed = rp_stage_seed(st);
    o->stage = rp_stage_id(st);
    o->threads = rp_stage_threads(st);
    if (o->threads < 1) o->threads = 1;
    /* optional, no default: the stage's own folder in the run directory */
    o->out = rp_param_has(p, "out") ? rp_param_str(p, "out") : NULL;
    if (!o->out || !*o->out) return rp_stage_dir(st, &o->out, err);
    return rp_mkdirs(o->out, err);
}

/* The text that must match for a re-run to reuse earlier crops. */
static char *params_text(rp_stage *st, const crop_opts *o, rp_error *err) {
    char *y = NULL;
    int s = rp_node_to_yaml(rp_stage_params(st), &y, err);
    if (s) return NULL;
    rp_strbuf b = {0};
    rp_strbuf_printf(&b, "# openimages.crop: stage %s, seed %llu\n%s", o->stage,
                     (unsigned long long)o->seed, y);
    free(y);
    char *t = rp_strbuf_take(&b);
    if (!t) rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    return t;
}

/* Pass 1: image sizes from the headers, in parallel. The first failure in
 * image order is reported (deterministic whatever the threads). */
static int probe_images(const crop_opts *o, const oi_box_list *bl, img_rec *im, size_t ni,
                        uint64_t *missing, rp_error *err) {
    size_t fail_at = ni;
    rp_error first;
    rp_error_clear(&first);
#pragma omp parallel for schedule(dynamic, 8) num_threads(o->threads)
    for (size_t i = 0; i < ni; i++) {
        char path[4096];
        image_path(o, im[i].id, path, sizeof path);
        rp_error e;
        rp_error_clear(&e);
        if (oi_image_size(path, &im[i].w, &im[i].h, &e) == RP_OK) {
            im[i].ok = 1;
            continue;
        }
        rp_error_prefix(&e, "box %s:%llu: ", o->boxes, (unsigned long long)bl->b[im[i].first].line);
#pragma omp critical(oi_probe_fail)
        if (i < fail_at) {
            fail_at = i;
            first = e;
        }
    }
    if (fail_at < ni && !o->skip_bad) {
        *err = first; /* the lowest failing image: same message whatever the threads */
        return first.status ? first.status : RP_ERR_IO;
    }
    *missing = 0;
    for (size_t i = 0; i < ni; i++)
        if (!im[i].ok) {
            (*missing)++;
            char path[4096];
            image_path(o, im[i].id, path, sizeof path);
            if (*missing <= 5)
                rp_warn("%s: missing or unreadable, its %zu box%s skipped (on_error: skip)", path,
                        im[i].count, im[i].count == 1 ? "" : "es");
        }
    return RP_OK;
}

/* Keep at most `cap` boxes of each group (a seeded choice). */
static void apply_caps(const crop_opts *o, const oi_groups *g, const oi_box_list *bl, box_state *bs,
                       uint64_t *over) {
    int ng = g->n_groups;
    uint64_t *cnt = calloc((size_t)ng, sizeof *cnt);
    if (!cnt) return;
    for (size_t i = 0; i < bl->n; i++)
        if (bs[i].state == B_KEEP) cnt[g->classes[bl->b[i].cls].group]++;
    uint64_t cap = o->max_per_group > 0 ? (uint64_t)o->max_per_group : UINT64_MAX;
    if (o->balance)
        for (int k = 0; k < ng; k++)
            if (cnt[k] < cap) cap = cnt[k];
    for (int k = 0; k < ng && cap != UINT64_MAX; k++) {
        if (cnt[k] <= cap) continue;
        uint32_t *idx = malloc(cnt[k] * sizeof *idx);
        if (!idx) break;
        uint32_t m = 0;
        for (size_t i = 0; i < bl->n; i++)
            if (bs[i].state == B_KEEP && g->classes[bl->b[i].cls].group == k)
                idx[m++] = (uint32_t)i;
        rp_rng r;
        rp_rng_for(&r, o->seed, o->stage, "select", (uint64_t)k, 0);
        rp_rng_shuffle(&r, idx, m);
        for (uint32_t j = (uint32_t)cap; j < m; j++) {
            bs[idx[j]].state = B_OVER_CAP;
            (*over)++;
        }
        free(idx);
    }
    free(cnt);
}

/* Seeded split, val fraction `o->val`: by source image (crops of one photo
 * never straddle splits) or per group by box. */
static int assign_split(const crop_opts *o, const oi_groups *g, const oi_box_list *bl,
                        box_state *bs, const img_rec *im, size_t ni, rp_error *err) {
    if (o->by_image) {
        uint32_t *idx = malloc((ni ? ni : 1) * sizeof *idx);
        if (!idx) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        uint32_t m = 0;
        for (size_t i = 0; i < ni; i++) {
            int any = 0;
            for (size_t j = im[i].first; j < im[i].first + im[i].count; j++)
                any |= bs[j].state == B_KEEP;
            if (any) idx[m++] = (uint32_t)i;
        }
        rp_rng r;
        rp_rng_for(&r, o->seed, o->stage, "split", 0, 0);
        rp_rng_shuffle(&r, idx, m);
        uint32_t nval = (uint32_t)(o->val * m + 0.5);
        for (uint32_t k = 0; k < m; k++) {
            const img_rec *x = &im[idx[k]];
            for (size_t j = x->first; j < x->first + x->count; j++)
                bs[j].split = k < nval ? S_VAL : S_TRAIN;
        }
        free(idx);
        return RP_OK;
    }
    uint32_t *idx = malloc((bl->n ? bl->n : 1) * sizeof *idx);
    if (!idx) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < g->n_groups; k++) {
        uint32_t m = 0;
        for (size_t i = 0; i < bl->n; i++)
            if (bs[i].state == B_KEEP && g->classes[bl->b[i].cls].group == k)
                idx[m++] = (uint32_t)i;
        rp_rng r;
        rp_rng_for(&r, o->seed, o->stage, "split", (uint64_t)k + 1, 0);
        rp_rng_shuffle(&r, idx, m);
        uint32_t nval = (uint32_t)(o->val * m + 0.5);
        for (uint32_t j = 0; j < m; j++)
            bs[idx[j]].split = j < nval ? S_VAL : S_TRAIN;
    }
    free(idx);
    return RP_OK;
}

typedef struct work {
    const crop_opts *o;
    const oi_groups *g;
    const oi_box_list *bl;
    box_state *bs;
    img_rec *im;
    FILE *journal;
    rp_progress *bar;
    double t0;
    uint64_t crops_done;
} work;

/* All crops of image i: decode once, render and write each box. */
static int crop_image(work *w, size_t i, uint8_t *canvas, oi_render_buf *rb, rp_error *err) {
    const crop_opts *o = w->o;
    img_rec *x = &w->im[i];
    char path[4096];
    image_path(o, x->id, path, sizeof path);
    uint8_t *px;
    int iw, ih;
    int st = oi_image_decode(path, &px, &iw, &ih, err);
    if (st && o->skip_bad && st != RP_ERR_NOMEM) {
        /* damaged after a good header: its boxes are dropped and counted */
        rp_warn("%s (on_error: skip)", err->msg);
        rp_error_clear(err);
        x->ok = 0;
        for (size_t j = x->first; j < x->first + x->count; j++)
            w->bs[j].state = B_NO_IMAGE;
        return RP_OK;
    }
    if (st) return st;
    if (iw != x->w || ih != x->h) {
        free(px);
        return rp_error_set(err, RP_ERR_FORMAT, "%s: header says %dx%d, decoded %dx%d", path, x->w,
                            x->h, iw, ih);
    }
    for (size_t j = x->first; j < x->first + x->count && !st; j++) {
        box_state *s = &w->bs[j];
        if (s->state != B_KEEP || s->done_before) continue;
        uint8_t bg[3];
        oi_corner_median(px, iw, s->left, s->top, s->bw, s->bh, o->corner, bg);
        st = oi_render(px, iw, s->left, s->top, s->bw, s->bh, s->rw, s->rh, o->filter, bg, o->size,
                       s->px, s->py, canvas, rb, err);
        char rel[600], file[4700];
        crop_rel(w->g, &w->bl->b[j], s, rel, sizeof rel);
        snprintf(file, sizeof file, "%s/%s", o->out, rel);
        if (!st) st = oi_jpeg_write(file, canvas, o->size, o->size, o->quality, err);
        if (!st) {
#pragma omp critical(oi_journal)
            {
                fprintf(w->journal, "%s\n", s->row);
                w->crops_done++;
            }
        }
    }
    free(px);
    return st;
}

static int run_crops(work *w, size_t ni, uint64_t n_todo, rp_error *err) {
    const crop_opts *o = w->o;
    size_t fail_at = ni;
    rp_error first;
    rp_error_clear(&first);
    volatile int stop = 0;
    uint64_t todo_imgs = 0;
    for (size_t i = 0; i < ni; i++)
        todo_imgs += w->im[i].todo > 0;
    w->bar = rp_progress_begin("crop", todo_imgs, "img");
    w->t0 = rp_now();
#pragma omp parallel num_threads(o->threads)
    {
        uint8_t *canvas = malloc((size_t)o->size * o->size * 3);
        oi_render_buf rb = {0};
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < ni; i++) {
            if (!w->im[i].todo || stop) continue;
            rp_error e;
            rp_error_clear(&e);
            int s = canvas ? crop_image(w, i, canvas, &rb, &e)
                           : rp_error_set(&e, RP_ERR_NOMEM, "out of memory");
            if (!s && rp_interrupted())
                s = rp_error_set(&e, RP_ERR_INTERRUPTED,
                                 "interrupted: the crops written so far are kept (re-run or "
                                 "--resume continues)");
            if (s) {
#pragma omp critical(oi_crop_fail)
                if (i < fail_at) {
                    fail_at = i;
                    first = e;
                }
                stop = 1;
                continue;
            }
#pragma omp critical(oi_journal)
            {
                fflush(w->journal);
                char suf[96];
                double el = rp_now() - w->t0;
                snprintf(suf, sizeof suf, "%.0f crops/s, %llu/%llu crops",
                         el > 0 ? (double)w->crops_done / el : 0.0,
                         (unsigned long long)w->crops_done, (unsigned long long)n_todo);
                rp_progress_step(w->bar, 1, suf);
            }
        }
        oi_render_buf_release(&rb);
        free(canvas);
    }
    rp_progress_end(w->bar);
    if (fail_at < ni) {
        *err = first;
        return first.status ? first.status : RP_ERR_IO;
    }
    return RP_OK;
}

/* Hand <out>/<split> on exactly as data.folder opens it, groups in sorted
 * order (= class ids 0..n-1 in both splits). */
static int folder_dataset(rp_stage *st, const char *out, const oi_groups *g, int split,
                          rp_error *err) {
    char root[4096];
    snprintf(root, sizeof root, "%s/%s", out, split_names[split]);
    rp_node *p = rp_node_new_map(), *cls = rp_node_new_seq();
    int s = (p && cls) ? RP_OK : RP_ERR_NOMEM;
    for (int k = 0; !s && k < g->n_groups; k++)
        s = rp_node_seq_push(cls, rp_node_new_string(g->names[k]));
    if (!s)
        s = rp_node_map_set(p, "classes", cls);
    else
        rp_node_free(cls);
    if (!s) s = rp_node_map_set(p, "root", rp_node_new_string(root));
    if (s) {
        rp_node_free(p);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    void *ds = NULL;
    s = rp_stage_call(st, "data.folder", p, "data", &ds, err);
    rp_node_free(p);
    if (s) return s;
    return rp_stage_output(st, split_names[split], ds, err);
}

static int cmp_row(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Manifest rows by their first column (the crop file). */
static int cmp_file(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    for (; *x == *y && *x && *x != ','; x++, y++) {
    }
    int cx = *x == ',' ? 0 : (unsigned char)*x, cy = *y == ',' ? 0 : (unsigned char)*y;
    return cx - cy;
}

static int write_manifest(const crop_opts *o, const box_state *bs, size_t n, rp_error *err) {
    char **rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (bs[i].state == B_KEEP) rows[m++] = bs[i].row;
    qsort(rows, m, sizeof *rows, cmp_row);
    rp_strbuf b = {0};
    rp_strbuf_printf(&b, "%s\n", OI_MANIFEST_HEADER);
    for (size_t i = 0; i < m; i++)
        rp_strbuf_printf(&b, "%s\n", rows[i]);
    free(rows);
    if (b.oom) {
        rp_strbuf_release(&b);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.csv", o->out);
    int s = rp_write_atomic(path, b.p, b.n, err);
    rp_strbuf_release(&b);
    return s;
}

static int crop_run(rp_stage *st, rp_error *err) {
    crop_opts o;
    int s = read_opts(st, &o, err);
    if (s) return s;
    /* 1. groups against the descriptions file, before any other work */
    oi_groups g;
    s = oi_groups_resolve(rp_node_get(rp_stage_params(st), "groups"), o.descriptions, &g, err);
    if (s) return s;
    oi_box_list bl;
    img_rec *im = NULL;
    box_state *bs = NULL;
    char *ptext = NULL;
    oi_manifest old = {0};
    FILE *journal = NULL;
    size_t ni = 0;
    double t0 = rp_now();
    /* 2. the boxes of the chosen classes */
    s = oi_boxes_read(o.boxes, &g, o.exclude, o.skip_bad, &bl, err);
    if (s) goto done;
    rp_info("%s: %llu rows, %zu boxes of %zu chosen classes (%llu excluded, %llu bad rows "
            "skipped) in %.1f s",
            o.boxes, (unsigned long long)bl.rows, bl.n, g.n_classes,
            (unsigned long long)bl.excluded, (unsigned long long)bl.bad_rows, rp_now() - t0);
    for (size_t i = 0; i < bl.n; i++)
        if (!i || bl.b[i].image_id != bl.b[i - 1].image_id) ni++;
    im = calloc(ni ? ni : 1, sizeof *im);
    bs = calloc(bl.n ? bl.n : 1, sizeof *bs);
    if (!im || !bs) {
        s = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0, k = 0; i < bl.n; i++) {
        if (i && bl.b[i].image_id != bl.b[i - 1].image_id) k++;
        if (!im[k].count) {
            im[k].id = bl.b[i].image_id;
            im[k].first = i;
        }
        im[k].count++;
    }
    /* 3. sizes, then filters */
    uint64_t missing = 0, too_small = 0, over = 0, missing_boxes = 0;
    s = probe_images(&o, &bl, im, ni, &missing, err);
    if (s) goto done;
    for (size_t i = 0; i < ni; i++)
        for (size_t j = im[i].first; j < im[i].first + im[i].count; j++) {
            box_state *b = &bs[j];
            if (!im[i].ok) {
                b->state = B_NO_IMAGE;
                missing_boxes++;
                continue;
            }
            oi_box_pixels(&bl.b[j], im[i].w, im[i].h, &b->left, &b->top, &b->bw, &b->bh);
            if (b->bw < o.min_size || b->bh < o.min_size || b->bw < 1 || b->bh < 1) {
                b->state = B_TOO_SMALL;
                too_small++;
            }
        }
    apply_caps(&o, &g, &bl, bs, &over);
    s = assign_split(&o, &g, &bl, bs, im, ni, err);
    if (s) goto done;
    /* 4. the plan: sizes, paste positions, manifest rows */
    uint64_t *cnt = calloc((size_t)g.n_groups * 2, sizeof *cnt);
    if (!cnt) {
        s = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < bl.n && !s; j++) {
        box_state *b = &bs[j];
        if (b->state != B_KEEP) continue;
        oi_fit_size(b->bw, b->bh, o.size, &b->rw, &b->rh);
        rp_rng r;
        rp_rng_for(&r, o.seed, o.stage, "paste", bl.b[j].n, bl.b[j].image_id);
        b->px = (int)rp_rng_below(&r, (uint32_t)(o.size - b->rw + 1));
        b->py = (int)rp_rng_below(&r, (uint32_t)(o.size - b->rh + 1));
        if (!(b->row = make_row(&g, &bl.b[j], b)))
            s = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        cnt[g.classes[bl.b[j].cls].group * 2 + b->split]++;
    }
    for (int k = 0; k < g.n_groups && !s; k++)
        for (int sp = 0; sp < 2 && !s; sp++)
            if (!cnt[k * 2 + sp])
                s = rp_error_at(err, rp_node_get(rp_stage_params(st), "groups"), RP_ERR_INVALID,
                                "group '%s' has no crops in split '%s' (%llu train, %llu val; "
                                "%llu too small, %llu without image, %llu over the cap): add "
                                "classes or images, lower min_size, or change val",
                                g.names[k], split_names[sp], (unsigned long long)cnt[k * 2],
                                (unsigned long long)cnt[k * 2 + 1], (unsigned long long)too_small,
                                (unsigned long long)missing_boxes, (unsigned long long)over);
    if (s) {
        free(cnt);
        goto done;
    }
    /* 5. resume: crops listed with the same params whose file exists */
    if (!(ptext = params_text(st, &o, err))) {
        s = err->status ? err->status : RP_ERR_NOMEM;
        free(cnt);
        goto done;
    }
    s = oi_manifest_load(o.out, ptext, &old, err);
    uint64_t reused = 0, n_todo = 0;
    for (size_t j = 0; j < bl.n && !s; j++) {
        box_state *b = &bs[j];
        if (b->state != B_KEEP) continue;
        if (old.same_params && oi_manifest_has(&old, b->row)) {
            char rel[600], file[4700];
            crop_rel(&g, &bl.b[j], b, rel, sizeof rel);
            snprintf(file, sizeof file, "%s/%s", o.out, rel);
            b->done_before = rp_path_exists(file);
        }
        if (b->done_before)
            reused++;
        else
            n_todo++;
    }
    /* files of an earlier manifest that this plan does not make: removed, so
     * the folder holds exactly the listed crops */
    uint64_t removed = 0;
    char **plan = s ? NULL : malloc((bl.n ? bl.n : 1) * sizeof *plan);
    size_t np = 0;
    if (!s && !plan) s = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t j = 0; !s && j < bl.n; j++)
        if (bs[j].state == B_KEEP) plan[np++] = bs[j].row;
    if (!s) qsort(plan, np, sizeof *plan, cmp_file);
    for (size_t i = 0; i < old.n && !s; i++) {
        char rel[600], file[4700];
        if (oi_manifest_file(old.rows[i], rel, sizeof rel)) continue;
        const char *key = old.rows[i];
        if (np && bsearch(&key, plan, np, sizeof *plan, cmp_file)) continue;
        snprintf(file, sizeof file, "%s/%s", o.out, rel);
        if (unlink(file) == 0) removed++;
    }
    free(plan);
    if (!s) {
        char p[4096];
        snprintf(p, sizeof p, "%s/manifest.params", o.out);
        s = rp_write_atomic(p, ptext, strlen(ptext), err);
    }
    for (int sp = 0; sp < 2 && !s; sp++)
        for (int k = 0; k < g.n_groups && !s; k++) {
            char d[4096];
            snprintf(d, sizeof d, "%s/%s/%s", o.out, split_names[sp], g.names[k]);
            s = rp_mkdirs(d, err);
        }
    if (s) {
        free(cnt);
        goto done;
    }
    for (size_t i = 0; i < ni; i++)
        for (size_t j = im[i].first; j < im[i].first + im[i].count; j++)
            im[i].todo += bs[j].state == B_KEEP && !bs[j].done_before;
    /* 6. the crops */
    char jp[4096];
    snprintf(jp, sizeof jp, "%s/manifest.csv.part", o.out);
    journal = fopen(jp, old.same_params ? "a" : "w");
    if (!journal) {
        s = rp_error_set(err, RP_ERR_IO, "%s: cannot write", jp);
        free(cnt);
        goto done;
    }
    work w = {&o, &g, &bl, bs, im, journal, NULL, 0, 0};
    double t1 = rp_now();
    s = run_crops(&w, ni, n_todo, err);
    double el = rp_now() - t1;
    fclose(journal);
    journal = NULL;
    /* photos found damaged while cropping (on_error: skip) */
    missing = missing_boxes = 0;
    for (size_t i = 0; i < ni; i++)
        if (!im[i].ok) {
            missing++;
            missing_boxes += im[i].count;
        }
    for (int k = 0; k < g.n_groups * 2; k++)
        cnt[k] = 0;
    for (size_t j = 0; j < bl.n; j++)
        if (bs[j].state == B_KEEP) cnt[g.classes[bl.b[j].cls].group * 2 + bs[j].split]++;
    if (!s) s = write_manifest(&o, bs, bl.n, err);
    if (!s) unlink(jp);
    if (s) {
        free(cnt);
        goto done;
    }
    /* 7. report */
    uint64_t kept = 0;
    for (int k = 0; k < g.n_groups; k++) {
        rp_info("  %-16s train %6llu  val %6llu", g.names[k], (unsigned long long)cnt[k * 2],
                (unsigned long long)cnt[k * 2 + 1]);
        for (int sp = 0; sp < 2; sp++) {
            char key[200];
            snprintf(key, sizeof key, "crops.%s.%s", split_names[sp], g.names[k]);
            rp_stage_note(st, key, (double)cnt[k * 2 + sp]);
            kept += cnt[k * 2 + sp];
        }
    }
    free(cnt);
    rp_info("%llu crops from %zu images (%llu written in %.1f s, %llu already there, %llu stale "
            "removed); skipped: %llu too small (min_size %d), %llu over the cap, %llu excluded, "
            "%llu boxes of %llu missing images, %llu bad CSV rows",
            (unsigned long long)kept, ni - (size_t)missing, (unsigned long long)w.crops_done, el,
            (unsigned long long)reused, (unsigned long long)removed, (unsigned long long)too_small,
            o.min_size, (unsigned long long)over, (unsigned long long)bl.excluded,
            (unsigned long long)missing_boxes, (unsigned long long)missing,
            (unsigned long long)bl.bad_rows);
    rp_stage_note(st, "crops", (double)kept);
    rp_stage_note(st, "crops_written", (double)w.crops_done);
    rp_stage_note(st, "crops_reused", (double)reused);
    rp_stage_note(st, "skipped_too_small", (double)too_small);
    rp_stage_note(st, "skipped_over_cap", (double)over);
    rp_stage_note(st, "skipped_excluded", (double)bl.excluded);
    rp_stage_note(st, "skipped_missing_image", (double)missing_boxes);
    rp_stage_note(st, "missing_images", (double)missing);
    rp_stage_note(st, "bad_rows", (double)bl.bad_rows);
    /* 8. outputs */
    s = folder_dataset(st, o.out, &g, S_TRAIN, err);
    if (!s) s = folder_dataset(st, o.out, &g, S_VAL, err);
    if (!s) {
        rp_files *f = rp_files_new(o.out);
        s = f ? rp_stage_output(st, "folder", f, err)
              : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
done:
    if (journal) fclose(journal);
    oi_manifest_release(&old);
    free(ptext);
    for (size_t j = 0; bs && j < bl.n; j++)
        free(bs[j].row);
    free(bs);
    free(im);
    oi_boxes_release(&bl);
    oi_groups_release(&g);
    return s;
}

/* Check time: the groups against the descriptions file (unknown names with
 * a suggestion, before anything runs, when the file is there already: an
 * earlier stage may write it), and what both datasets will be: one class per
 * group (sorted names = class ids), RGB, size x size. */
static int crop_check(rp_check *ck, rp_error *err) {
    const rp_node *p = rp_check_params(ck);
    const rp_node *groups = rp_node_get(p, "groups");
    const char *desc = rp_param_str(p, "classes");
    if (desc && rp_path_exists(desc)) {
        oi_groups g;
        int s = oi_groups_resolve(groups, desc, &g, err);
        if (s) return s;
        oi_groups_release(&g);
    }
    static const char *const ports[2] = {"train", "val"};
    for (int k = 0; k < 2; k++) {
        rp_check_declare(ck, ports[k], RP_FACT_CLASSES, (int64_t)rp_node_len(groups), groups);
        rp_check_declare(ck, ports[k], RP_FACT_CHANNELS, 3, rp_node_get(p, "size"));
        rp_check_declare(ck, ports[k], RP_FACT_HEIGHT, rp_param_int(p, "size"),
                         rp_node_get(p, "size"));
        rp_check_declare(ck, ports[k], RP_FACT_WIDTH, rp_param_int(p, "size"),
                         rp_node_get(p, "size"));
    }
    return RP_OK;
}

static const struct rp_port crop_out[] = {
    {"train", RP_ART_DATASET, 0, "the training crops, as data.folder opens <out>/train"},
    {"val", RP_ART_DATASET, 0, "the validation crops, as data.folder opens <out>/val"},
    {"folder", RP_ART_FILES, 0, "the crop folder (train/, val/, manifest.csv)"},
};
static const struct rp_stage_def crop_stage = {
    "openimages.crop",
    "Open Images boxes -> size x size crops on a corner-median canvas, train/val image folders",
    NULL,
    0,
    crop_out,
    RP_COUNT(crop_out),
    crop_run, RP_STAGE_CACHEABLE, crop_check};
RP_STAGE(crop_stage)
