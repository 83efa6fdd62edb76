/* Per-sample outputs of `evaluate` for error analysis outside runpipe:
 * predictions.<set>.csv (top-k classes with softmax probabilities),
 * logits.<set>.safetensors (raw scores), and the most confidently
 * misclassified samples as report figures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evaluate.h"
#include "runpipe/image.h"

/* Softmax probability of class k of scores s [c] (max-shifted). */
static double softmax_at(const float *s, int c, int k) {
    double m = -INFINITY, z = 0;
    for (int j = 0; j < c; j++) m = fmax(m, (double)s[j]);
    for (int j = 0; j < c; j++) z += exp((double)s[j] - m);
    return exp((double)s[k] - m) / z;
}

int ev_keep_batch(ev_pass *p, const rp_tensor *y, const rp_batch *b, const ev_opts *o,
                  rp_error *err) {
    const int c = p->c;
    if (o->keep_logits) {
        size_t need = p->kept + (size_t)b->n;
        if (need > p->cap) {
            size_t cap = p->cap ? p->cap : 1024;
            while (cap < need) cap *= 2;
            float *l = realloc(p->logits, cap * (size_t)c * sizeof *l);
            if (l) p->logits = l;
            int32_t *t = l ? realloc(p->labels, cap * sizeof *t) : NULL;
            if (t) p->labels = t;
            uint64_t *ix = t ? realloc(p->index, cap * sizeof *ix) : NULL;
            if (!ix) return rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory (logits)");
            p->index = ix;
            p->cap = cap;
        }
        memcpy(p->logits + p->kept * (size_t)c, y->data, (size_t)b->n * (size_t)c * sizeof(float));
        memcpy(p->labels + p->kept, b->labels, (size_t)b->n * sizeof(int32_t));
        memcpy(p->index + p->kept, b->indices, (size_t)b->n * sizeof(uint64_t));
        p->kept = need;
    }
    int max = o->n_wrong < EV_MAX_WRONG ? o->n_wrong : EV_MAX_WRONG;
    for (int64_t i = 0; i < b->n && max > 0; i++) {
        const float *s = y->data + (size_t)i * (size_t)c;
        int pred = ev_argmax(s, c);
        if (pred == b->labels[i]) continue;
        double conf = softmax_at(s, c, pred);
        /* insert into the list sorted by confidence (descending; earlier
           samples first on ties, so the list does not depend on batching) */
        int at = p->n_wrong;
        while (at > 0 && p->wrong[at - 1].conf < conf) at--;
        if (at >= max) continue;
        int last = p->n_wrong < max ? p->n_wrong : max - 1;
        memmove(&p->wrong[at + 1], &p->wrong[at], (size_t)(last - at) * sizeof p->wrong[0]);
        p->wrong[at] = (ev_wrong){conf, b->indices[i], b->labels[i], (int32_t)pred};
        if (p->n_wrong < max) p->n_wrong++;
    }
    return RP_OK;
}

void ev_pass_release(ev_pass *p) {
    free(p->conf);
    free(p->logits);
    free(p->labels);
    free(p->index);
    p->conf = NULL;
    p->logits = NULL;
    p->labels = NULL;
    p->index = NULL;
    p->kept = p->cap = 0;
}

/* One CSV field, quoted when it needs to be (RFC 4180). */
static void put_field(FILE *f, const char *nm) {
    if (!strpbrk(nm, ",\"\n")) {
        fputs(nm, f);
        return;
    }
    fputc('"', f);
    for (const char *q = nm; *q; q++) {
        if (*q == '"') fputc('"', f);
        fputc(*q, f);
    }
    fputc('"', f);
}

static void put_class(FILE *f, const rp_dataset *ds, int k) {
    const char *nm = ds->class_names && k >= 0 && k < ds->num_classes ? ds->class_names[k] : NULL;
    if (nm)
        put_field(f, nm);
    else
        fprintf(f, "%d", k);
}

int ev_write_predictions(const char *path, const ev_pass *p, const rp_dataset *ds, int topk,
                         rp_error *err) {
    const int c = p->c;
    if (topk > c) topk = c;
    int *order = malloc((size_t)c * sizeof *order);
    double *prob = malloc((size_t)c * sizeof *prob);
    rp_afile af;
    int rc = (!order || !prob) ? rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory")
                               : rp_afile_open(&af, path, err);
    if (rc) {
        free(order);
        free(prob);
        return rc;
    }
    /* source: where the sample comes from (file, record) when the dataset
       knows it, for error analysis without the dataset's code */
    rp_dataset_where_fn where = rp_dataset_where_of(ds);
    fputs("index,source,true_id,true,pred_id,pred,correct", af.f);
    for (int j = 1; j <= topk; j++) fprintf(af.f, ",top%d,p%d", j, j);
    fputc('\n', af.f);
    for (size_t i = 0; i < p->kept; i++) {
        const float *s = p->logits + i * (size_t)c;
        double m = -INFINITY, z = 0;
        for (int k = 0; k < c; k++) m = fmax(m, (double)s[k]);
        for (int k = 0; k < c; k++) z += (prob[k] = exp((double)s[k] - m));
        for (int k = 0; k < c; k++) prob[k] /= z;
        /* top-k by partial selection; ties keep the lower class id first */
        for (int k = 0; k < c; k++) order[k] = k;
        for (int j = 0; j < topk; j++)
            for (int k = j + 1; k < c; k++)
                if (prob[order[k]] > prob[order[j]]) {
                    int t = order[j];
                    order[j] = order[k];
                    order[k] = t;
                }
        int pred = ev_argmax(s, c), t = p->labels[i];
        fprintf(af.f, "%llu,", (unsigned long long)p->index[i]);
        char src[512];
        if (where && where(ds, p->index[i], src, sizeof src)) put_field(af.f, src);
        fprintf(af.f, ",%d,", t);
        put_class(af.f, ds, t);
        fprintf(af.f, ",%d,", pred);
        put_class(af.f, ds, pred);
        fprintf(af.f, ",%d", pred == t);
        for (int j = 0; j < topk; j++) {
            fputc(',', af.f);
            put_class(af.f, ds, order[j]);
            fprintf(af.f, ",%.6f", prob[order[j]]);
        }
        fputc('\n', af.f);
    }
    free(order);
    free(prob);
    if (ferror(af.f)) {
        rp_afile_abort(&af);
        return rp_error_set(err, RP_ERR_IO, "writing '%s' failed", path);
    }
    return rp_afile_commit(&af, err);
}

int ev_write_logits(const char *path, const ev_pass *p, const rp_dataset *ds, const char *set,
                    rp_error *err) {
    rp_st st;
    rp_st_init(&st);
    rp_tensor *l = NULL, *lab = NULL, *ix = NULL;
    int64_t n = (int64_t)p->kept;
    int rc = rp_tensor_new2(&l, n, p->c, err);
    if (!rc) rc = rp_tensor_new1(&lab, n, err);
    if (!rc) rc = rp_tensor_new1(&ix, n, err);
    if (!rc) {
        memcpy(l->data, p->logits, (size_t)n * (size_t)p->c * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            lab->data[i] = (float)p->labels[i];
            ix->data[i] = (float)p->index[i];
        }
        rc = rp_st_add(&st, "logits", l, err);
    }
    if (!rc) rc = rp_st_add(&st, "labels", lab, err);
    if (!rc) rc = rp_st_add(&st, "index", ix, err);
    rp_strbuf names = {0};
    for (int k = 0; k < ds->num_classes && ds->class_names; k++)
        rp_strbuf_printf(&names, "%s%s", k ? "\n" : "", ds->class_names[k]);
    if (!rc) rc = rp_st_set_meta(&st, "classes", names.p ? names.p : "", err);
    if (!rc) rc = rp_st_set_meta(&st, "set", set, err);
    if (!rc) rc = rp_st_save(&st, path, err);
    rp_strbuf_release(&names);
    rp_tensor_free(l);
    rp_tensor_free(lab);
    rp_tensor_free(ix);
    rp_st_release(&st);
    return rc;
}

/* [C, H, W] float (in [0, 1], else min-max scaled) → interleaved u8. */
static void to_u8(const rp_tensor *img, uint8_t *out) {
    int64_t c = img->shape[0], hw = img->shape[1] * img->shape[2];
    float lo = 0, hi = 1;
    for (int64_t i = 0; i < c * hw; i++) {
        if (img->data[i] < lo) lo = img->data[i];
        if (img->data[i] > hi) hi = img->data[i];
    }
    for (int64_t p = 0; p < hw; p++)
        for (int64_t k = 0; k < c; k++) {
            double v = (img->data[k * hw + p] - lo) / (hi - lo) * 255.0 + 0.5;
            out[p * c + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

static const char *class_str(const rp_dataset *ds, int k, char *buf, size_t n) {
    if (ds->class_names && k >= 0 && k < ds->num_classes) return ds->class_names[k];
    snprintf(buf, n, "class %d", k);
    return buf;
}

int ev_write_misclassified(rp_stage *st, const ev_pass *p, const rp_dataset *ds, const char *set,
                           rp_error *err) {
    if (p->n_wrong == 0) return RP_OK;
    const char *dir = NULL;
    int rc = rp_stage_dir(st, &dir, err);
    if (rc) return rc;
    char path[1400], rel[400], cap[400], t1[32], t2[32];
    snprintf(path, sizeof path, "%s/misclassified", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/misclassified/%s", dir, set);
    mkdir(path, 0777);
    rp_sample s;
    rp_sample_init(&s);
    rp_draw draw = {0};
    uint8_t *px = NULL;
    for (int i = 0; i < p->n_wrong && !rc; i++) {
        const ev_wrong *w = &p->wrong[i];
        rc = rp_dataset_get(ds, w->index, &draw, &s, err);
        if (rc) break;
        int c = (int)s.img.shape[0], h = (int)s.img.shape[1], wd = (int)s.img.shape[2];
        if (c != 1 && c != 3) break; /* not a picture (e.g. feature vectors) */
        uint8_t *np = realloc(px, (size_t)c * (size_t)h * (size_t)wd);
        if (!np) {
            rc = rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory");
            break;
        }
        px = np;
        to_u8(&s.img, px);
        snprintf(rel, sizeof rel, "misclassified/%s/%02d.png", set, i + 1);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        rc = rp_image_write_png(path, px, wd, h, c, err);
        snprintf(cap, sizeof cap, "#%llu: %s \xE2\x86\x92 %s (%.0f%%)",
                 (unsigned long long)w->index, class_str(ds, w->truth, t1, sizeof t1),
                 class_str(ds, w->pred, t2, sizeof t2), 100 * w->conf);
        if (!rc)
            rc = rp_stage_figure(st, "Most confidently misclassified (true \xE2\x86\x92 predicted)",
                                 set, rel, cap, err);
    }
    free(px);
    rp_sample_release(&s);
    if (rc) rp_error_prefix(err, "misclassified samples of '%s': ", set);
    return rc;
}
