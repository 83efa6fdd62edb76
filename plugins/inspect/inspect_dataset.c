/* inspect.dataset: per-class counts and per-channel mean/std/min/max of a
 * dataset — the numbers one puts in a `normalize` transform (mean/std over
 * every pixel of every inspected image, population std, as torchvision's
 * Normalize expects them). Segmentation datasets count mask pixels per class. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"

void inspect_stats_init(inspect_stats *s) {
    memset(s, 0, sizeof *s);
    for (int c = 0; c < 16; c++) {
        s->min[c] = INFINITY;
        s->max[c] = -INFINITY;
    }
}

int inspect_stats_add(inspect_stats *s, const rp_tensor *img, rp_error *err) {
    if (img->ndim != 3)
        return rp_error_set(err, RP_ERR_FORMAT, "expected a [C, H, W] image, got %d dimensions",
                            img->ndim);
    int c = (int)img->shape[0];
    if (c < 1 || c > 16)
        return rp_error_set(err, RP_ERR_FORMAT, "images with %d channels are not supported (1-16)",
                            c);
    if (s->channels && c != s->channels)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "images have different channel counts (%d, then %d)", s->channels, c);
    s->channels = c;
    size_t hw = (size_t)(img->shape[1] * img->shape[2]);
    for (int k = 0; k < c; k++) {
        const float *p = img->data + (size_t)k * hw; /* [H, W] plane of channel k */
        double sum = 0, sq = 0, mn = s->min[k], mx = s->max[k];
        for (size_t i = 0; i < hw; i++) {
            double v = p[i];
            if (!isfinite(v))
                return rp_error_set(err, RP_ERR_NUMERIC, "channel %d has a non-finite value", k);
            sum += v;
            sq += v * v;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        s->sum[k] += sum;
        s->sumsq[k] += sq;
        s->min[k] = mn;
        s->max[k] = mx;
        s->pixels[k] += hw;
    }
    return RP_OK;
}

void inspect_stats_result(const inspect_stats *s, int c, double *mean, double *std) {
    double n = (double)s->pixels[c];
    if (n <= 0) {
        *mean = *std = NAN;
        return;
    }
    double m = s->sum[c] / n;
    double var = s->sumsq[c] / n - m * m;
    *mean = m;
    *std = sqrt(var > 0 ? var : 0);
}

int inspect_run_dataset(rp_stage *st, rp_error *err) {
    const rp_dataset *ds = rp_stage_input(st, "data");
    const rp_node *p = rp_stage_params(st);
    int64_t want = rp_param_int(p, "samples");
    int stats = rp_param_bool(p, "stats");
    uint64_t n = (want <= 0 || (uint64_t)want > ds->size) ? ds->size : (uint64_t)want;
    int nc = ds->num_classes > 0 ? ds->num_classes : 0;
    uint64_t *counts = calloc((size_t)nc + 1, sizeof *counts); /* last: out-of-range/unlabelled */
    if (!counts) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int segment = ds->task == RP_TASK_SEGMENT;
    int decode = stats || segment || !ds->ops->label;
    inspect_stats acc;
    inspect_stats_init(&acc);
    rp_sample smp;
    rp_sample_init(&smp);
    rp_draw draw = {0};
    rp_progress *bar = rp_progress_begin(rp_stage_id(st), n, "img");
    int s = RP_OK;
    uint64_t seen = 0;
    int64_t h_min = INT64_MAX, h_max = 0, w_min = INT64_MAX, w_max = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (rp_interrupted()) {
            s = rp_error_set(err, RP_ERR_INTERRUPTED, "interrupted after %llu of %llu samples",
                             (unsigned long long)seen, (unsigned long long)n);
            break;
        }
        int32_t label = -1;
        if (decode) {
            s = rp_dataset_get(ds, i, &draw, &smp, err);
            if (s != RP_OK) {
                rp_error_prefix(err, "%s: sample %llu: ", ds->name, (unsigned long long)i);
                break;
            }
            if (stats && (s = inspect_stats_add(&acc, &smp.img, err)) != RP_OK) {
                rp_error_prefix(err, "%s: sample %llu: ", ds->name, (unsigned long long)i);
                break;
            }
            if (smp.img.ndim == 3) {
                int64_t h = smp.img.shape[1], w = smp.img.shape[2];
                if (h < h_min) h_min = h;
                if (h > h_max) h_max = h;
                if (w < w_min) w_min = w;
                if (w > w_max) w_max = w;
            }
            label = smp.label;
            if (segment && smp.mask.data) {
                size_t hw = (size_t)(smp.mask.h * smp.mask.w);
                for (size_t k = 0; k < hw; k++) {
                    int32_t m = smp.mask.data[k];
                    counts[(m >= 0 && m < nc) ? m : nc]++;
                }
            }
        } else {
            label = ds->ops->label(ds, i);
        }
        if (!segment) counts[(label >= 0 && label < nc) ? label : nc]++;
        seen++;
        rp_progress_step(bar, 1, NULL);
    }
    rp_progress_end(bar);
    rp_sample_release(&smp);
    /* Write what we have, also when interrupted. */
    rp_metrics *m = rp_metrics_new();
    if (!m) {
        free(counts);
        return s != RP_OK ? s : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    rp_error e2;
    rp_error_clear(&e2);
    int s2 = RP_OK;
    s2 |= rp_metrics_set(m, "size", (double)ds->size, &e2);
    s2 |= rp_metrics_set(m, "samples", (double)seen, &e2);
    s2 |= rp_metrics_set(m, "classes", (double)nc, &e2);
    if (stats && acc.channels) {
        s2 |= rp_metrics_set(m, "channels", acc.channels, &e2);
        s2 |= rp_metrics_set(m, "height.min", (double)h_min, &e2);
        s2 |= rp_metrics_set(m, "height.max", (double)h_max, &e2);
        s2 |= rp_metrics_set(m, "width.min", (double)w_min, &e2);
        s2 |= rp_metrics_set(m, "width.max", (double)w_max, &e2);
        const char *cols[] = {"mean", "std", "min", "max"};
        char rn[16][16];
        const char *rows[16];
        for (int c = 0; c < acc.channels; c++) {
            snprintf(rn[c], sizeof rn[c], "c%d", c);
            rows[c] = rn[c];
        }
        rp_table *t = rp_metrics_add_table(m, "channel_stats", (size_t)acc.channels, 4, cols, rows,
                                           &e2);
        if (!t) s2 = RP_ERR_NOMEM;
        for (int c = 0; c < acc.channels; c++) {
            double mean, sd;
            inspect_stats_result(&acc, c, &mean, &sd);
            char key[32];
            snprintf(key, sizeof key, "mean.c%d", c);
            s2 |= rp_metrics_set(m, key, mean, &e2);
            snprintf(key, sizeof key, "std.c%d", c);
            s2 |= rp_metrics_set(m, key, sd, &e2);
            if (t) {
                double *row = t->values + (size_t)c * 4;
                row[0] = mean;
                row[1] = sd;
                row[2] = acc.min[c];
                row[3] = acc.max[c];
            }
        }
    }
    /* class_counts: one row per class (+ "other" for labels outside 0..classes-1). */
    {
        size_t nrows = (size_t)nc + (counts[nc] ? 1 : 0);
        const char **rows = calloc(nrows ? nrows : 1, sizeof *rows);
        char other[] = "(unlabelled/other)";
        char **tmp = calloc(nrows ? nrows : 1, sizeof *tmp);
        uint64_t total = 0;
        for (int c = 0; c <= nc; c++) total += counts[c];
        if (!rows || !tmp) {
            s2 = RP_ERR_NOMEM;
        } else {
            for (int c = 0; c < nc; c++) {
                if (ds->class_names && ds->class_names[c]) {
                    rows[c] = ds->class_names[c];
                } else {
                    tmp[c] = malloc(16);
                    if (tmp[c]) snprintf(tmp[c], 16, "%d", c);
                    rows[c] = tmp[c] ? tmp[c] : "?";
                }
            }
            if (counts[nc]) rows[nc] = other;
            const char *cols[] = {segment ? "pixels" : "count", "fraction"};
            rp_table *t = rp_metrics_add_table(m, "class_counts", nrows, 2, cols, rows, &e2);
            if (!t) s2 = RP_ERR_NOMEM;
            uint64_t cmin = UINT64_MAX, cmax = 0;
            for (size_t r = 0; t && r < nrows; r++) {
                t->values[r * 2] = (double)counts[r];
                t->values[r * 2 + 1] = total ? (double)counts[r] / (double)total : NAN;
            }
            for (int c = 0; c < nc; c++) {
                if (counts[c] < cmin) cmin = counts[c];
                if (counts[c] > cmax) cmax = counts[c];
            }
            if (nc > 0)
                s2 |= rp_metrics_set(m, "imbalance", cmin ? (double)cmax / (double)cmin : INFINITY,
                                     &e2);
            for (int c = 0; c < nc; c++) free(tmp[c]);
        }
        free(rows);
        free(tmp);
    }
    free(counts);
    if (s2 != RP_OK) {
        rp_metrics_free(m);
        return s != RP_OK ? s : rp_error_set(err, RP_ERR_NOMEM, "out of memory building metrics");
    }
    /* One summary line. */
    char line[512];
    int off = snprintf(line, sizeof line, "%s: %llu samples, %d classes", ds->name,
                       (unsigned long long)seen, nc);
    if (stats && acc.channels) {
        off += snprintf(line + off, sizeof line - (size_t)off, ", mean [");
        for (int c = 0; c < acc.channels && off < 400; c++) {
            double mean, sd;
            inspect_stats_result(&acc, c, &mean, &sd);
            off += snprintf(line + off, sizeof line - (size_t)off, "%s%.4f", c ? ", " : "", mean);
        }
        off += snprintf(line + off, sizeof line - (size_t)off, "] std [");
        for (int c = 0; c < acc.channels && off < 480; c++) {
            double mean, sd;
            inspect_stats_result(&acc, c, &mean, &sd);
            off += snprintf(line + off, sizeof line - (size_t)off, "%s%.4f", c ? ", " : "", sd);
        }
        snprintf(line + off, sizeof line - (size_t)off, "]");
    }
    rp_info("%s", line);
    rp_stage_note(st, "samples", (double)seen);
    int so = rp_stage_output(st, "metrics", m, s == RP_OK ? err : &e2);
    return s != RP_OK ? s : so;
}

/* ---- stage declaration ---- */
static const struct rp_port dataset_ds_in[] = {{"data", RP_ART_DATASET, 0, "the dataset to inspect"}};
static const struct rp_port dataset_metrics_out[] = {
    {"metrics", RP_ART_METRICS, 0, "scalars (size, classes, mean.cK, std.cK) + tables"}};
static const struct rp_stage_def dataset_stage = {"inspect.dataset",
     "per-class counts and per-channel mean/std of a dataset (the numbers for normalize)", dataset_ds_in,
     1, dataset_metrics_out, 1, inspect_run_dataset, 0, NULL};
RP_STAGE(dataset_stage)
