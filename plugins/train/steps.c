/* The train stage's per-step curve: the training loss (sample-weighted mean
 * over a bucket of consecutive optimizer steps) and the learning rate of the
 * bucket's last step. A run keeps at most TRAIN_STEPS_MAX points: the bucket
 * is ceil(total steps / TRAIN_STEPS_MAX) steps (1 for runs of up to that many
 * steps), and a bucket never spans two epochs, so an epoch's points end at
 * its last step. Written to steps.csv and the "steps" metrics table, kept in
 * the checkpoint (with the unfinished bucket) so a resumed run has the same
 * curve. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

const char *const train_steps_cols[S_NCOLS] = {"step", "epoch", "loss", "lr"};

void train_steps_init(train_steps *s, int64_t total_steps) {
    int64_t stride = (total_steps + TRAIN_STEPS_MAX - 1) / TRAIN_STEPS_MAX;
    s->stride = stride < 1 ? 1 : stride;
}

static int steps_push(train_steps *s, const double *row, rp_error *err) {
    if (s->rows == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *v = realloc(s->v, cap * S_NCOLS * sizeof *v);
        if (!v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (step history)");
        s->v = v;
        s->cap = cap;
    }
    memcpy(s->v + s->rows * S_NCOLS, row, S_NCOLS * sizeof *row);
    s->rows++;
    return RP_OK;
}

int train_steps_flush(train_steps *s, rp_error *err) {
    if (s->pend_n == 0) return RP_OK;
    double row[S_NCOLS] = {(double)s->pend_step, s->pend_epoch, s->pend_loss / s->pend_samples,
                           s->pend_lr};
    s->pend_loss = s->pend_samples = 0;
    s->pend_n = 0;
    return steps_push(s, row, err);
}

int train_steps_add(train_steps *s, int64_t step, double epoch, double loss, double samples,
                    double lr, rp_error *err) {
    s->pend_loss += loss * samples;
    s->pend_samples += samples;
    s->pend_n++;
    s->pend_step = step;
    s->pend_epoch = epoch;
    s->pend_lr = lr;
    return s->pend_n >= s->stride ? train_steps_flush(s, err) : RP_OK;
}

void train_steps_release(train_steps *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

int train_steps_write_csv(const train_steps *s, const char *path, rp_error *err) {
    rp_afile af;
    int rc = rp_afile_open(&af, path, err);
    if (rc) return rc;
    fputs("step,epoch,loss,lr\n", af.f);
    for (size_t r = 0; r < s->rows; r++) {
        const double *v = s->v + r * S_NCOLS;
        fprintf(af.f, "%lld,%.6f,%.6f,%.6g\n", (long long)v[0], v[1], v[2], v[3]);
    }
    if (ferror(af.f)) {
        rp_afile_abort(&af);
        return rp_error_set(err, RP_ERR_IO, "writing '%s' failed", path);
    }
    return rp_afile_commit(&af, err);
}

int train_steps_to_text(const train_steps *s, char **out, rp_error *err) {
    size_t cap = 160 + (s->rows + 1) * S_NCOLS * 26, o = 0;
    char *t = malloc(cap);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (step history)");
    /* first line: the unfinished bucket (n, step, epoch, loss sum, samples, lr) */
    o += (size_t)snprintf(t + o, cap - o, "%lld %lld %.17g %.17g %.17g %.17g\n",
                          (long long)s->pend_n, (long long)s->pend_step, s->pend_epoch,
                          s->pend_loss, s->pend_samples, s->pend_lr);
    for (size_t r = 0; r < s->rows; r++) {
        for (int c = 0; c < S_NCOLS; c++)
            o += (size_t)snprintf(t + o, cap - o, "%s%.17g", c ? " " : "", s->v[r * S_NCOLS + c]);
        o += (size_t)snprintf(t + o, cap - o, "\n");
    }
    *out = t;
    return RP_OK;
}

int train_steps_from_text(train_steps *s, const char *text, rp_error *err) {
    const char *p = text;
    double head[6];
    for (int c = 0; c < 6; c++) {
        char *end;
        head[c] = strtod(p, &end);
        if (end == p)
            return rp_error_set(err, RP_ERR_FORMAT, "checkpoint steps: the first line has %d "
                                "values, expected 6", c);
        p = end;
    }
    s->pend_n = (int64_t)head[0];
    s->pend_step = (int64_t)head[1];
    s->pend_epoch = head[2];
    s->pend_loss = head[3];
    s->pend_samples = head[4];
    s->pend_lr = head[5];
    s->rows = 0;
    while (*p == ' ' || *p == '\n') p++;
    while (*p) {
        double row[S_NCOLS];
        for (int c = 0; c < S_NCOLS; c++) {
            char *end;
            row[c] = strtod(p, &end);
            if (end == p)
                return rp_error_set(err, RP_ERR_FORMAT,
                                    "checkpoint steps: row %zu has %d values, expected %d",
                                    s->rows + 1, c, S_NCOLS);
            p = end;
        }
        int rc = steps_push(s, row, err);
        if (rc) return rc;
        while (*p == ' ' || *p == '\n') p++;
    }
    return RP_OK;
}
