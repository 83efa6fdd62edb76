/* datasets plugin — image-file datasets (see imglist.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "runpipe/image.h"
#include "imglist.h"

int imglist_add(imglist *l, const char *path, int32_t label, int32_t domain, const char *where,
                rp_error *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        imglist_entry *e = realloc(l->e, cap * sizeof *e);
        if (!e) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        l->e = e;
        l->cap = cap;
    }
    imglist_entry *x = &l->e[l->n];
    x->path = strdup(path);
    if (!x->path) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    x->label = label;
    x->domain = domain;
    snprintf(x->where, sizeof x->where, "%s", where ? where : path);
    l->n++;
    return RP_OK;
}

void imglist_release(imglist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->e[i].path);
    free(l->e);
    memset(l, 0, sizeof *l);
}

void imglist_opts_from(const rp_node *p, int threads, imglist_opts *o) {
    o->channels = (int)rp_param_int(p, "channels");
    o->resize = rp_param_str(p, "resize");
    o->size = (int)rp_param_int(p, "size");
    o->cache_mb = rp_param_double(p, "cache_mb");
    o->skip_bad = !strcmp(rp_param_str(p, "on_error"), "skip");
    o->threads = threads > 0 ? threads : 1;
}

typedef struct imgds {
    imglist l;
    imglist_opts o;
    int cached;
    uint8_t **pix;   /* [n] HWC uint8 after resize (cached) */
    int *w, *h;      /* [n] sizes after resize */
} imgds;

/* Decode + resize one file into *out (HWC, transferred). */
static int load_one(const imgds *d, size_t i, uint8_t **out, int *ow, int *oh, rp_error *err) {
    const imglist_entry *e = &d->l.e[i];
    uint8_t *px;
    int w, h, c;
    int st = rp_image_load(e->path, d->o.channels, &px, &w, &h, &c, err);
    if (st) {
        if (strcmp(e->where, e->path)) rp_error_prefix(err, "%s: ", e->where);
        return st;
    }
    int tw, th;
    rp_image_policy_size(d->o.resize, d->o.size, w, h, &tw, &th);
    if (tw != w || th != h) {
        uint8_t *q = malloc((size_t)tw * th * c);
        if (!q) {
            free(px);
            return rp_error_set(err, RP_ERR_NOMEM, "%s: out of memory", e->path);
        }
        rp_image_resize_u8(px, w, h, c, q, tw, th, RP_INTERP_BILINEAR);
        free(px);
        px = q;
    }
    *out = px;
    *ow = tw;
    *oh = th;
    return RP_OK;
}

static int imgds_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                     rp_error *err) {
    (void)draw;
    const imgds *d = ds->impl;
    uint8_t *px;
    int w, h, st;
    if (d->cached) {
        px = d->pix[i];
        w = d->w[i];
        h = d->h[i];
    } else {
        st = load_one(d, i, &px, &w, &h, err);
        if (st) return st;
    }
    st = rp_sample_resize(out, d->o.channels, h, w, err);
    if (!st) rp_image_u8_to_f32(px, w, h, d->o.channels, out->img.data);
    if (!d->cached) free(px);
    out->label = d->l.e[i].label;
    out->domain = d->l.e[i].domain;
    return st;
}

static int32_t imgds_label(const rp_dataset *ds, uint64_t i) {
    return ((const imgds *)ds->impl)->l.e[i].label;
}

static int32_t imgds_domain(const rp_dataset *ds, uint64_t i) {
    return ((const imgds *)ds->impl)->l.e[i].domain;
}

static int imgds_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n) {
    const imglist_entry *e = &((const imgds *)ds->impl)->l.e[i];
    if (strcmp(e->where, e->path))
        snprintf(buf, n, "%s, image '%s'", e->where, e->path);
    else
        snprintf(buf, n, "image '%s'", e->path);
    return 1;
}

static void imgds_free(imgds *d) {
    if (!d) return;
    for (size_t i = 0; d->pix && i < d->l.n; i++) free(d->pix[i]);
    free(d->pix);
    free(d->w);
    free(d->h);
    imglist_release(&d->l);
    free(d);
}

static void imgds_destroy(rp_dataset *ds) { imgds_free(ds->impl); }

static const struct rp_dataset_ops imgds_ops = {imgds_get, imgds_label, imgds_domain,
                                                imgds_destroy};

int imglist_dataset(imglist *l, const imglist_opts *o, const char *name, int num_classes,
                    const char *const *class_names, rp_dataset **out, uint64_t *skipped,
                    rp_error *err) {
    *out = NULL;
    *skipped = 0;
    imgds *d = calloc(1, sizeof *d);
    if (!d) {
        imglist_release(l);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    d->l = *l;
    memset(l, 0, sizeof *l);
    d->o = *o;
    /* Headers: every file must exist and be an image we can decode. */
    int *ws = calloc(d->l.n + 1, sizeof *ws), *hs = calloc(d->l.n + 1, sizeof *hs);
    if (!ws || !hs) {
        free(ws);
        free(hs);
        imgds_free(d);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    double bytes = 0;
    size_t keep = 0;
    for (size_t i = 0; i < d->l.n; i++) {
        imglist_entry *e = &d->l.e[i];
        int w, h, c;
        const char *why = NULL;
        rp_error ie;
        if (rp_image_info(e->path, &w, &h, &c, &ie)) {
            /* the message without the leading "path: " */
            size_t pl = strlen(e->path);
            why = !strncmp(ie.msg, e->path, pl) && !strncmp(ie.msg + pl, ": ", 2) ? ie.msg + pl + 2 : ie.msg;
        }
        if (why) {
            if (o->skip_bad) {
                rp_warn("%s: skipping %s: %s", name, e->where, why);
                free(e->path);
                (*skipped)++;
                continue;
            }
            int st = strcmp(e->where, e->path)
                         ? rp_error_set(err, RP_ERR_FORMAT, "%s: image '%s': %s", e->where, e->path, why)
                         : rp_error_set(err, RP_ERR_FORMAT, "%s: cannot decode image: %s", e->path, why);
            free(ws);
            free(hs);
            for (size_t j = i; j < d->l.n; j++) free(d->l.e[j].path);
            d->l.n = keep;
            imgds_free(d);
            return st;
        }
        int tw, th;
        rp_image_policy_size(o->resize, o->size, w, h, &tw, &th);
        ws[keep] = tw;
        hs[keep] = th;
        bytes += (double)tw * th * o->channels;
        d->l.e[keep++] = *e;
    }
    d->l.n = keep;
    if (keep == 0) {
        free(ws);
        free(hs);
        imgds_free(d);
        return rp_error_set(err, RP_ERR_INVALID, "%s: no images", name);
    }
    d->w = ws;
    d->h = hs;
    int same = 1;
    for (size_t i = 1; i < keep; i++) same &= ws[i] == ws[0] && hs[i] == hs[0];
    if (bytes <= o->cache_mb * 1048576.0) {
        d->pix = calloc(keep, sizeof *d->pix);
        if (!d->pix) {
            imgds_free(d);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        int failed = 0;
        size_t fail_i = 0;
        rp_error ferr;
        rp_error_clear(&ferr);
        rp_progress *pg = rp_progress_begin(name, keep, "img");
#pragma omp parallel for schedule(dynamic, 16) num_threads(o->threads)
        for (size_t i = 0; i < keep; i++) {
            rp_error e; /* copied whole into ferr: its file and location too */
            rp_error_clear(&e);
            int w, h;
            if (load_one(d, i, &d->pix[i], &w, &h, &e)) {
#pragma omp critical(imglist_fail)
                if (!failed || i < fail_i) {
                    failed = 1;
                    fail_i = i;
                    ferr = e;
                }
            } else if (w != d->w[i] || h != d->h[i]) {
                free(d->pix[i]);
                d->pix[i] = NULL;
#pragma omp critical(imglist_fail)
                if (!failed || i < fail_i) {
                    failed = 1;
                    fail_i = i;
                    rp_error_set(&ferr, RP_ERR_FORMAT, "%s: header says %dx%d but decoded %dx%d",
                                 d->l.e[i].path, d->w[i], d->h[i], w, h);
                }
            }
            if ((i & 63) == 63) {
#pragma omp critical(imglist_progress)
                rp_progress_step(pg, 64, NULL);
            }
        }
        rp_progress_end(pg);
        if (failed && o->skip_bad) {
            /* header fine but body corrupt: drop those entries, in order */
            size_t k = 0;
            for (size_t i = 0; i < keep; i++) {
                if (!d->pix[i]) {
                    rp_warn("%s: skipping %s: cannot decode", name, d->l.e[i].where);
                    free(d->l.e[i].path);
                    (*skipped)++;
                    continue;
                }
                d->l.e[k] = d->l.e[i];
                d->pix[k] = d->pix[i];
                d->w[k] = d->w[i];
                d->h[k] = d->h[i];
                k++;
            }
            keep = d->l.n = k;
            failed = 0;
            if (keep == 0) {
                imgds_free(d);
                return rp_error_set(err, RP_ERR_INVALID, "%s: no decodable images", name);
            }
            same = 1;
            for (size_t i = 1; i < keep; i++) same &= d->w[i] == d->w[0] && d->h[i] == d->h[0];
        }
        if (failed) {
            /* the header was fine but the body is corrupt */
            imgds_free(d);
            if (err) *err = ferr;
            return ferr.status;
        }
        d->cached = 1;
    }
    rp_dataset_ops_set_where(&imgds_ops, imgds_where);
    rp_dataset *ds = rp_dataset_new(&imgds_ops, d, name, keep, num_classes, class_names);
    if (!ds) {
        imgds_free(d);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    ds->channels = o->channels;
    ds->height = same ? d->h[0] : 0;
    ds->width = same ? d->w[0] : 0;
    rp_info("%s: %zu images%s (%s)", name, keep, same ? "" : " of varying sizes",
            d->cached ? "decoded into memory" : "decoded on demand: above cache_mb");
    *out = ds;
    return RP_OK;
}
