/* The train stage's per-epoch history: the table, history.csv (rewritten
 * atomically after every epoch), its exact text form for checkpoints, and the
 * one-line-per-epoch log (DESIGN §11). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

const char *const train_hist_cols[H_NCOLS] = {
    "epoch",   "train_loss", "train_acc",  "val_loss", "val_acc",  "lr",
    "seconds", "train_miou", "train_dice", "val_miou", "val_dice"};

int train_hist_ncols(const train_hist *h) { return h->seg ? H_NCOLS : H_NCOLS_CLASSIFY; }

int train_seg_add(train_seg *s, const rp_tensor *y, const int32_t *target, rp_error *err) {
    int64_t n = y->shape[0], c = y->ndim > 1 ? y->shape[1] : 1, hw = 1;
    for (int d = 2; d < y->ndim; d++) hw *= y->shape[d];
    if (!s->v) {
        s->v = calloc((size_t)c * 3, sizeof *s->v);
        if (!s->v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (segmentation metrics)");
        s->c = (int)c;
    }
    if (c != s->c)
        return rp_error_set(err, RP_ERR_INVALID,
                            "segmentation metrics: the model gives %lld classes, earlier %d",
                            (long long)c, s->c);
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y->data + i * c * hw; /* [C, H*W] */
        for (int64_t p = 0; p < hw; p++) {
            int32_t t = target[i * hw + p];
            if (t < 0) continue;
            int64_t best = 0;
            float bv = yi[p];
            for (int64_t k = 1; k < c; k++)
                if (yi[k * hw + p] > bv) {
                    bv = yi[k * hw + p];
                    best = k;
                }
            s->v[best * 3 + 1] += 1;
            if (t < c) s->v[(int64_t)t * 3 + 2] += 1;
            if (best == t) s->v[best * 3] += 1;
        }
    }
    return RP_OK;
}

void train_seg_means(const train_seg *s, double *miou, double *dice) {
    double si = 0, sd = 0;
    int present = 0;
    for (int k = 0; s->v && k < s->c; k++) {
        double tp = s->v[3 * k], fp = s->v[3 * k + 1] - tp, fn = s->v[3 * k + 2] - tp;
        if (tp + fp + fn <= 0) continue;
        present++;
        si += tp / (tp + fp + fn);
        sd += 2 * tp / (2 * tp + fp + fn);
    }
    *miou = present ? si / present : NAN;
    *dice = present ? sd / present : NAN;
}

void train_seg_clear(train_seg *s) {
    if (s->v) memset(s->v, 0, (size_t)s->c * 3 * sizeof *s->v);
}

void train_seg_release(train_seg *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

int train_hist_append(train_hist *h, const double *row, rp_error *err) {
    if (h->rows == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        double *v = realloc(h->v, cap * H_NCOLS * sizeof *v);
        if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (history)");
        h->v = v;
        h->cap = cap;
    }
    memcpy(h->v + h->rows * H_NCOLS, row, H_NCOLS * sizeof *row);
    h->rows++;
    return RP_OK;
}

void train_hist_release(train_hist *h) {
    free(h->v);
    memset(h, 0, sizeof *h);
}

/* CSV cell: empty for NaN (no validation set), integers without decimals. */
static void csv_cell(FILE *f, int col, double v) {
    if (isnan(v)) return;
    if (col == H_EPOCH)
        fprintf(f, "%lld", (long long)v);
    else if (col == H_LR)
        fprintf(f, "%.6g", v);
    else if (col == H_SECONDS)
        fprintf(f, "%.3f", v);
    else
        fprintf(f, "%.6f", v);
}

int train_hist_write_csv(const train_hist *h, const char *path, rp_error *err) {
    rp_afile af;
    int rc = rp_afile_open(&af, path, err);
    if (rc) return rc;
    int nc = train_hist_ncols(h);
    for (int c = 0; c < nc; c++) fprintf(af.f, "%s%s", c ? "," : "", train_hist_cols[c]);
    fputc('\n', af.f);
    for (size_t r = 0; r < h->rows; r++) {
        for (int c = 0; c < nc; c++) {
            if (c) fputc(',', af.f);
            csv_cell(af.f, c, h->v[r * H_NCOLS + c]);
        }
        fputc('\n', af.f);
    }
    if (ferror(af.f)) {
        rp_afile_abort(&af);
        return rp_error_set(err, RP_ERR_IO, "writing '%s' failed", path);
    }
    return rp_afile_commit(&af, err);
}

int train_hist_to_text(const train_hist *h, char **out, rp_error *err) {
    size_t cap = 64 + h->rows * H_NCOLS * 26, o = 0;
    char *s = malloc(cap);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (history)");
    s[0] = '\0';
    for (size_t r = 0; r < h->rows; r++) {
        for (int c = 0; c < H_NCOLS; c++)
            o += (size_t)snprintf(s + o, cap - o, "%s%.17g", c ? " " : "", h->v[r * H_NCOLS + c]);
        o += (size_t)snprintf(s + o, cap - o, "\n");
    }
    *out = s;
    return RP_OK;
}

int train_hist_from_text(train_hist *h, const char *text, rp_error *err) {
    const char *s = text;
    while (*s) {
        double row[H_NCOLS];
        for (int c = 0; c < H_NCOLS; c++) {
            char *end;
            row[c] = strtod(s, &end);
            if (end == s)
                return rp_error_set(err, RP_ERR_FORMAT,
                                    "checkpoint history: row %zu has %d values, expected %d",
                                    h->rows + 1, c, H_NCOLS);
            s = end;
        }
        int rc = train_hist_append(h, row, err);
        if (rc) return rc;
        while (*s == ' ' || *s == '\n') s++;
    }
    return RP_OK;
}

void train_epoch_line(char *buf, size_t size, int format, int64_t epochs, const double *row,
                      int has_val, int seg, double img_per_s) {
    int width = 2;
    for (int64_t e = epochs; e >= 100; e /= 10) width++;
    long long ep = (long long)row[H_EPOCH];
    size_t o;
    if (format == TRAIN_LOG_BRACKET) {
        o = (size_t)snprintf(buf, size, "[%0*lld] train: [Loss: %.4f, Acc: %.4f]", width, ep,
                             row[H_TRAIN_LOSS], row[H_TRAIN_ACC]);
        if (has_val && o < size)
            snprintf(buf + o, size - o, " | val: [Loss: %.4f, Acc: %.4f]", row[H_VAL_LOSS],
                     row[H_VAL_ACC]);
        return;
    }
    o = (size_t)snprintf(buf, size, "[%0*lld/%0*lld] train loss %.4f acc %.4f", width, ep, width,
                         (long long)epochs, row[H_TRAIN_LOSS], row[H_TRAIN_ACC]);
    if (seg && o < size)
        o += (size_t)snprintf(buf + o, size - o, " miou %.4f dice %.4f", row[H_TRAIN_MIOU],
                              row[H_TRAIN_DICE]);
    if (has_val && o < size)
        o += (size_t)snprintf(buf + o, size - o, " | val loss %.4f acc %.4f", row[H_VAL_LOSS],
                              row[H_VAL_ACC]);
    if (has_val && seg && o < size)
        o += (size_t)snprintf(buf + o, size - o, " miou %.4f dice %.4f", row[H_VAL_MIOU],
                              row[H_VAL_DICE]);
    if (o < size)
        snprintf(buf + o, size - o, " | lr %.1e | %.0f img/s", row[H_LR], img_per_s);
}
