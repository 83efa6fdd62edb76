/* The `evaluate` stage: run a model (eval mode, no shuffling) over one or
 * more datasets and compute per set
 *   classification: loss, accuracy, error rate, top-k accuracy, per-class
 *     precision / recall / F1 / support with macro and weighted averages
 *     (scikit-learn's classification_report), confusion matrix;
 *   segmentation (dataset task RP_TASK_SEGMENT): loss, pixel accuracy,
 *     per-class and mean IoU and Dice, pixel confusion matrix;
 * then S0's AA (mean accuracy over the sets) and, with a `baseline` model,
 * DAA = AA(model) - AA(baseline) in %p. Output: a `metrics` artifact with
 * scalars "<set>.<metric>", "AA", "DAA" and tables "confusion.<set>",
 * "report.<set>" ("segmentation.<set>"), plus CSV and Markdown files in the
 * stage directory.
 *
 * Loss: the wired `loss` artifact, else plain softmax cross-entropy. Batch
 * losses are averaged weighted by the samples (pixels) of each batch, which is
 * the dataset mean for every loss that is a mean over samples (all but dice
 * and class-weighted cross-entropy, whose batch normaliser differs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

#define EV_NAME 96

/* Plain softmax cross-entropy of one row of scores (stride s between classes). */
static double row_ce(const float *x, int c, size_t s, int y) {
    double m = -INFINITY, z = 0;
    for (int k = 0; k < c; k++) m = fmax(m, (double)x[k * s]);
    for (int k = 0; k < c; k++) z += exp((double)x[k * s] - m);
    return m + log(z) - (double)x[(size_t)y * s];
}

static int check_output(const rp_tensor *y, const rp_dataset *ds, const rp_batch *b, int c,
                        int seg, rp_error *err) {
    char sh[96];
    rp_shape_str(y->ndim, y->shape, sh, sizeof sh);
    if (y->shape[0] != b->n)
        return rp_error_set(err, RP_ERR_INVALID, "model output %s for a batch of %lld samples", sh,
                            (long long)b->n);
    if (!seg && y->ndim != 2)
        return rp_error_set(err, RP_ERR_INVALID,
                            "'%s' is a classification set but the model outputs %s, not [N, C]",
                            ds->name, sh);
    if (seg && (y->ndim != 4 || y->shape[2] != b->x.shape[2] || y->shape[3] != b->x.shape[3]))
        return rp_error_set(err, RP_ERR_INVALID,
                            "'%s' is a segmentation set (masks %lldx%lld) but the model outputs "
                            "%s, not [N, C, %lld, %lld]",
                            ds->name, (long long)b->x.shape[2], (long long)b->x.shape[3], sh,
                            (long long)b->x.shape[2], (long long)b->x.shape[3]);
    if (y->shape[1] != c)
        return rp_error_set(err, RP_ERR_INVALID, "model outputs %lld classes but '%s' has %d",
                            (long long)y->shape[1], ds->name, c);
    if (seg && !b->masks)
        return rp_error_set(err, RP_ERR_INVALID, "'%s': segmentation batch without masks",
                            ds->name);
    return RP_OK;
}

static int accumulate(ev_pass *p, const rp_tensor *y, const rp_batch *b, const rp_loss *loss,
                      const ev_opts *o, const rp_dataset *ds, rp_error *err) {
    const int c = p->c;
    if (!p->seg) {
        for (int64_t i = 0; i < b->n; i++) {
            int t = b->labels[i];
            if (t < 0 || t >= c)
                return rp_error_set(err, RP_ERR_INVALID,
                                    "'%s': sample %llu has label %d, expected a class id in "
                                    "[0, %d)",
                                    ds->name, (unsigned long long)b->indices[i], t, c);
            const float *s = y->data + (size_t)i * c;
            int pred = ev_argmax(s, c);
            p->conf[(size_t)t * c + pred]++;
            for (int j = 0; j < o->nk; j++) p->hits[j] += ev_topk_hit(s, c, t, o->k[j]);
            if (!loss) {
                p->loss_sum += row_ce(s, c, 1, t);
                p->loss_n += 1;
            }
        }
        p->samples += b->n;
        if (o->keep_logits || o->n_wrong) {
            int rc = ev_keep_batch(p, y, b, o, err);
            if (rc != RP_OK) return rc;
        }
        for (size_t e = 0; e < o->n_extra; e++) {
            int rc = o->extra[e].ops->update(o->extra[e].state, y, b->labels, err);
            if (rc != RP_OK) return rc;
        }
        if (loss) {
            double v;
            int rc = rp_loss_compute(loss, y, b->labels, &v, NULL, err);
            if (rc != RP_OK) return rc;
            p->loss_sum += v * (double)b->n;
            p->loss_n += (double)b->n;
        }
        return RP_OK;
    }
    const size_t hw = (size_t)(y->shape[2] * y->shape[3]);
    int64_t valid = 0;
    for (int64_t i = 0; i < b->n; i++) {
        const float *img = y->data + (size_t)i * c * hw;
        const int32_t *mk = b->masks + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++) {
            int t = mk[q];
            if (t < 0 || t >= c) { /* "void" pixels (e.g. 255) are not scored */
                p->ignored++;
                continue;
            }
            int best = 0;
            for (int k = 1; k < c; k++)
                if (img[k * hw + q] > img[best * hw + q]) best = k;
            p->conf[(size_t)t * c + best]++;
            valid++;
            if (!loss) p->loss_sum += row_ce(img + q, c, hw, t);
        }
    }
    p->samples += b->n;
    for (size_t e = 0; e < o->n_extra; e++) {
        int rc = o->extra[e].ops->update(o->extra[e].state, y, b->masks, err);
        if (rc != RP_OK) return rc;
    }
    if (!loss) {
        p->loss_n += (double)valid;
    } else if (valid > 0) {
        double v;
        int rc = rp_loss_compute(loss, y, b->masks, &v, NULL, err);
        if (rc != RP_OK) return rc;
        p->loss_sum += v * (double)valid;
        p->loss_n += (double)valid;
    }
    return RP_OK;
}

int ev_run_pass(rp_model *m, const rp_dataset *ds, const rp_loss *loss, const ev_opts *o,
                    const char *label, ev_pass *p, rp_error *err) {
    memset(p, 0, sizeof *p);
    p->seg = ds->task == RP_TASK_SEGMENT;
    p->c = ds->num_classes > 0 ? ds->num_classes : rp_model_num_classes(m);
    if (p->c <= 0)
        return rp_error_set(err, RP_ERR_INVALID, "'%s': number of classes unknown", ds->name);
    p->conf = calloc((size_t)p->c * (size_t)p->c, sizeof(int64_t));
    if (!p->conf) return rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory");
    for (size_t e = 0; e < o->n_extra; e++) {
        ev_extra *x = &o->extra[e];
        if (x->state && x->ops->destroy) x->ops->destroy(x->state);
        x->state = NULL;
        int rc = x->ops->create(x->params, p->c, &x->state, err);
        if (rc != RP_OK) {
            ev_extra_release(o->extra, o->n_extra, 0);
            free(p->conf);
            p->conf = NULL;
            return rc;
        }
    }
    struct rp_loader_opts lo = {0};
    lo.batch_size = o->batch_size;
    lo.shuffle = 0;
    lo.drop_last = 0;
    lo.workers = o->workers;
    lo.prefetch = 2;
    lo.seed = o->seed;
    lo.stream = o->stream;
    lo.limit = o->limit;
    rp_loader *ld = NULL;
    int rc = rp_loader_new(ds, &lo, &ld, err);
    if (rc == RP_OK) rc = rp_loader_start(ld, 0, err);
    if (rc != RP_OK) {
        rp_loader_free(ld);
        ev_extra_release(o->extra, o->n_extra, 0);
        ev_pass_release(p);
        return rc;
    }
    rp_model_set_training(m, 0);
    rp_progress *pg = rp_progress_begin(label, rp_loader_num_batches(ld), "batch");
    for (;;) {
        if (rp_interrupted()) {
            rc = rp_error_set(err, RP_ERR_INTERRUPTED, "interrupted while evaluating '%s'",
                              ds->name);
            break;
        }
        rp_batch *b = NULL;
        rc = rp_loader_next(ld, &b, err);
        if (rc != RP_OK || !b) break;
        int64_t shape[4] = {b->n, b->x.shape[1], b->x.shape[2], b->x.shape[3]};
        rp_tensor x = rp_tensor_view(&b->x, 4, shape); /* [n, C, H, W] */
        const rp_tensor *y = NULL;
        rc = rp_model_forward(m, &x, &y, err);
        if (rc == RP_OK) rc = check_output(y, ds, b, p->c, p->seg, err);
        if (rc == RP_OK) rc = accumulate(p, y, b, loss, o, ds, err);
        if (rc != RP_OK) break;
        rp_progress_items(pg, (uint64_t)b->n, "img");
        rp_progress_step(pg, 1, NULL);
    }
    rp_progress_end(pg);
    rp_loader_free(ld);
    if (rc == RP_OK && p->samples == 0)
        rc = rp_error_set(err, RP_ERR_INVALID, "'%s' has no samples to evaluate", ds->name);
    if (rc != RP_OK) {
        ev_extra_release(o->extra, o->n_extra, 0);
        ev_pass_release(p);
    }
    return rc;
}

void ev_extra_release(ev_extra *x, size_t n, int params_too) {
    for (size_t i = 0; x && i < n; i++) {
        if (x[i].state && x[i].ops->destroy) x[i].ops->destroy(x[i].state);
        x[i].state = NULL;
        if (params_too) {
            rp_node_free(x[i].params);
            x[i].params = NULL;
        }
    }
}

/* The `metrics:` list: look up, validate and keep each metric component. */
static int parse_extra(const rp_node *params, ev_extra **out, size_t *n, rp_error *err) {
    *out = NULL;
    *n = 0;
    const rp_node *list = rp_node_get(params, "metrics");
    size_t len = list && list->kind == RP_NODE_SEQ ? rp_node_len(list) : 0;
    if (!len) return RP_OK;
    ev_extra *x = calloc(len, sizeof *x);
    if (!x) return rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory");
    int rc = RP_OK;
    size_t i = 0;
    for (; i < len && rc == RP_OK; i++) {
        const rp_node *spec = rp_node_at(list, i);
        const char *name = NULL;
        const rp_node *mp = NULL;
        const struct rp_component *c = NULL;
        rc = rp_component_spec(spec, &name, &mp, err);
        if (rc == RP_OK) rc = rp_component_lookup(RP_COMP_METRIC, name, spec, &c, err);
        if (rc == RP_OK) rc = rp_component_params(RP_COMP_METRIC, name, mp, &x[i].params, err);
        if (rc == RP_OK) {
            x[i].name = c->name;
            x[i].ops = c->impl;
        }
    }
    if (rc != RP_OK) {
        ev_extra_release(x, len, 1);
        free(x);
        return rc;
    }
    *out = x;
    *n = len;
    return RP_OK;
}

static int setf(rp_metrics *m, rp_error *err, double v, const char *fmt, const char *set,
                const char *what) {
    char key[256];
    snprintf(key, sizeof key, fmt, set, what);
    return rp_metrics_set(m, key, v, err);
}

/* Scalars and tables of one pass; *acc = accuracy (pixel accuracy for
 * segmentation) for AA. */
static int record(rp_metrics *mt, const char *set, const ev_pass *p, const ev_opts *o,
                  const rp_dataset *ds, double *acc, rp_error *err) {
    const char *const *cn = (const char *const *)ds->class_names;
    char tname[256];
    double loss = p->loss_n > 0 ? p->loss_sum / p->loss_n : NAN;
    int rc = setf(mt, err, loss, "%s.%s", set, "loss");
    if (!p->seg) {
        ev_report r;
        if (rc == RP_OK) rc = ev_report_from_confusion(p->conf, p->c, &r, err);
        if (rc != RP_OK) return rc;
        *acc = r.accuracy;
        rc = setf(mt, err, r.accuracy, "%s.%s", set, "accuracy");
        if (!rc) rc = setf(mt, err, 1.0 - r.accuracy, "%s.%s", set, "error_rate");
        for (int j = 0; !rc && j < o->nk; j++) {
            if (o->k[j] >= p->c) continue; /* top-k of k >= classes is always 1 */
            char what[32];
            snprintf(what, sizeof what, "top%d_accuracy", o->k[j]);
            rc = setf(mt, err, (double)p->hits[j] / (double)p->samples, "%s.%s", set, what);
        }
        if (!rc) rc = setf(mt, err, r.macro[0], "%s.%s", set, "macro_precision");
        if (!rc) rc = setf(mt, err, r.macro[1], "%s.%s", set, "macro_recall");
        if (!rc) rc = setf(mt, err, r.macro[2], "%s.%s", set, "macro_f1");
        if (!rc) rc = setf(mt, err, r.weighted[0], "%s.%s", set, "weighted_precision");
        if (!rc) rc = setf(mt, err, r.weighted[1], "%s.%s", set, "weighted_recall");
        if (!rc) rc = setf(mt, err, r.weighted[2], "%s.%s", set, "weighted_f1");
        if (!rc) rc = setf(mt, err, (double)p->samples, "%s.%s", set, "samples");
        snprintf(tname, sizeof tname, "report.%s", set);
        if (!rc) rc = ev_report_table(mt, tname, &r, cn, err);
        ev_report_release(&r);
    } else {
        ev_seg s;
        if (rc == RP_OK) rc = ev_seg_from_confusion(p->conf, p->c, &s, err);
        if (rc != RP_OK) return rc;
        *acc = s.pixel_accuracy;
        rc = setf(mt, err, s.pixel_accuracy, "%s.%s", set, "pixel_accuracy");
        if (!rc) rc = setf(mt, err, s.pixel_accuracy, "%s.%s", set, "accuracy");
        if (!rc) rc = setf(mt, err, s.mean_iou, "%s.%s", set, "mean_iou");
        if (!rc) rc = setf(mt, err, s.mean_dice, "%s.%s", set, "mean_dice");
        if (!rc) rc = setf(mt, err, (double)p->samples, "%s.%s", set, "samples");
        if (!rc) rc = setf(mt, err, (double)s.total, "%s.%s", set, "pixels");
        if (!rc) rc = setf(mt, err, (double)p->ignored, "%s.%s", set, "ignored_pixels");
        snprintf(tname, sizeof tname, "segmentation.%s", set);
        if (!rc) rc = ev_seg_table(mt, tname, &s, cn, err);
        ev_seg_release(&s);
    }
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s.", set);
    for (size_t e = 0; !rc && e < o->n_extra; e++)
        if (o->extra[e].state) rc = o->extra[e].ops->finish(o->extra[e].state, prefix, mt, err);
    snprintf(tname, sizeof tname, "confusion.%s", set);
    if (!rc) rc = ev_confusion_table(mt, tname, p->conf, p->c, cn, err);
    return rc;
}

/* Set names: `names:` if given, else the producing output ("fmnist.test" →
 * "test", "occluded.data" → "occluded"); characters outside
 * [A-Za-z0-9_-] become '_'; duplicates get the stage id prefixed. */
static int set_names(rp_stage *st, const rp_node *params, size_t n, char (*names)[EV_NAME],
                     rp_error *err) {
    const rp_node *given = rp_node_get(params, "names");
    if (given && !rp_node_is_null(given) && rp_node_len(given) != n)
        return rp_error_at(err, given, RP_ERR_INVALID,
                           "'names' has %zu entries but %zu datasets are wired to 'data'",
                           rp_node_len(given), n);
    for (size_t i = 0; i < n; i++) {
        const char *src = rp_stage_input_source(st, "data", i);
        const char *s = NULL;
        if (given && !rp_node_is_null(given)) s = rp_node_str(rp_node_at(given, i));
        if (s) {
            snprintf(names[i], EV_NAME, "%s", s);
        } else {
            /* "fm.test" → "test"; a stage's generic port ("occ.data") → "occ" */
            static const char *const generic[] = {"data", "dataset", "out", "output", "train"};
            const char *dot = src ? strrchr(src, '.') : NULL;
            int use_id = !dot;
            for (size_t g = 0; dot && g < sizeof generic / sizeof *generic; g++)
                if (strcmp(dot + 1, generic[g]) == 0) use_id = 1;
            if (!src) snprintf(names[i], EV_NAME, "data%zu", i + 1);
            else if (!dot) snprintf(names[i], EV_NAME, "%s", src);
            else if (use_id) snprintf(names[i], EV_NAME, "%.*s", (int)(dot - src), src);
            else snprintf(names[i], EV_NAME, "%s", dot + 1);
        }
        for (char *q = names[i]; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                  *q == '_' || *q == '-'))
                *q = '_';
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                if (given && !rp_node_is_null(given))
                    return rp_error_at(err, rp_node_at(given, i), RP_ERR_INVALID,
                                       "'names': '%s' is used twice", names[i]);
                const char *src = rp_stage_input_source(st, "data", i);
                snprintf(names[i], EV_NAME, "%s", src ? src : "data");
                for (char *q = names[i]; *q; q++)
                    if (*q == '.') *q = '_';
            }
    return RP_OK;
}

static int write_files(rp_stage *st, rp_metrics *mt, rp_error *err) {
    const char *dir = NULL;
    int rc = rp_stage_dir(st, &dir, err);
    if (rc != RP_OK) return rc;
    char path[1024], rel[512];
    const char *id = rp_stage_id(st);
    size_t nt = mt->n_tables; /* files added below do not change tables */
    for (size_t i = 0; i < nt && rc == RP_OK; i++) {
        snprintf(path, sizeof path, "%s/%s.csv", dir, mt->tables[i].name);
        rc = ev_write_table_csv(&mt->tables[i], path, err);
        snprintf(rel, sizeof rel, "%s/%s.csv", id, mt->tables[i].name);
        if (rc == RP_OK) rc = rp_metrics_add_file(mt, rel, err);
    }
    if (rc == RP_OK) {
        snprintf(path, sizeof path, "%s/metrics.md", dir);
        char title[256];
        snprintf(title, sizeof title, "evaluate: %s", id);
        rc = ev_write_markdown(mt, title, path, err);
        snprintf(rel, sizeof rel, "%s/metrics.md", id);
        if (rc == RP_OK) rc = rp_metrics_add_file(mt, rel, err);
    }
    return rc;
}

/* predictions.<set>.csv, logits.<set>.safetensors (when asked for) and the
 * most confidently misclassified samples (report figures) of one set. */
static int per_sample_files(rp_stage *st, const rp_node *params, rp_metrics *mt,
                            const ev_pass *p, const rp_dataset *ds, const char *set,
                            rp_error *err) {
    const char *dir = NULL;
    int rc = rp_stage_dir(st, &dir, err);
    char path[1400], rel[600];
    if (rc == RP_OK && rp_param_bool(params, "predictions")) {
        snprintf(path, sizeof path, "%s/predictions.%s.csv", dir, set);
        rc = ev_write_predictions(path, p, ds, (int)rp_param_int(params, "predictions_top_k"),
                                  err);
        snprintf(rel, sizeof rel, "%s/predictions.%s.csv", rp_stage_id(st), set);
        if (rc == RP_OK) rc = rp_metrics_add_file(mt, rel, err);
    }
    if (rc == RP_OK && rp_param_bool(params, "logits")) {
        snprintf(path, sizeof path, "%s/logits.%s.safetensors", dir, set);
        rc = ev_write_logits(path, p, ds, set, err);
        snprintf(rel, sizeof rel, "%s/logits.%s.safetensors", rp_stage_id(st), set);
        if (rc == RP_OK) rc = rp_metrics_add_file(mt, rel, err);
    }
    if (rc == RP_OK) rc = ev_write_misclassified(st, p, ds, set, err);
    return rc;
}

int rp_evaluate_stage_run(rp_stage *st, rp_error *err) {
    const rp_node *params = rp_stage_params(st);
    rp_model *model = rp_stage_input(st, "model");
    rp_model *baseline = rp_stage_input(st, "baseline");
    const rp_loss *loss = rp_stage_input(st, "loss");
    size_t n = rp_stage_input_count(st, "data");
    if (!model || n == 0)
        return rp_error_at(err, rp_stage_node(st), RP_ERR_INVALID,
                           "evaluate needs a 'model' and at least one dataset in 'data'");
    ev_opts o = {0};
    o.batch_size = (int)rp_param_int(params, "batch_size");
    o.limit = (uint64_t)rp_param_int(params, "limit");
    o.seed = rp_stage_seed(st);
    o.stream = rp_hash_str(rp_stage_id(st)) ^ rp_hash_str("loader");
    o.workers = rp_stage_threads(st) > 1 ? 1 : 0;
    const rp_node *kn = rp_node_get(params, "top_k");
    for (size_t j = 0; kn && j < rp_node_len(kn); j++) {
        int64_t k;
        int rc = rp_node_as_int(rp_node_at(kn, j), &k, err);
        if (rc != RP_OK) return rc;
        if (k < 1)
            return rp_error_at(err, rp_node_at(kn, j), RP_ERR_INVALID,
                               "'top_k': %lld is not a positive k", (long long)k);
        if (o.nk == EV_MAX_K)
            return rp_error_at(err, kn, RP_ERR_INVALID, "'top_k': at most %d values", EV_MAX_K);
        o.k[o.nk++] = (int)k;
    }
    int want_aa = rp_param_bool(params, "aa") || baseline;
    o.keep_logits = rp_param_bool(params, "predictions") || rp_param_bool(params, "logits");
    o.n_wrong = (int)rp_param_int(params, "misclassified");
    int prc = parse_extra(params, &o.extra, &o.n_extra, err);
    if (prc != RP_OK) return prc;

    char(*names)[EV_NAME] = calloc(n, sizeof *names);
    double *acc = calloc(n, sizeof *acc), *bacc = calloc(n, sizeof *bacc);
    rp_metrics *mt = rp_metrics_new();
    int rc = (!names || !acc || !bacc || !mt)
                 ? rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory")
                 : RP_OK;
    if (rc == RP_OK) rc = set_names(st, params, n, names, err);
    for (size_t i = 0; rc == RP_OK && i < n; i++) {
        const rp_dataset *ds = rp_stage_input_at(st, "data", i);
        char label[160];
        snprintf(label, sizeof label, "evaluate %s", names[i]);
        ev_pass p;
        rc = ev_run_pass(model, ds, loss, &o, label, &p, err);
        if (rc == RP_OK) {
            rc = record(mt, names[i], &p, &o, ds, &acc[i], err);
            ev_extra_release(o.extra, o.n_extra, 0);
            if (rc == RP_OK && !p.seg) rc = per_sample_files(st, params, mt, &p, ds, names[i], err);
            ev_pass_release(&p);
            if (rc == RP_OK) {
                char key[160];
                snprintf(key, sizeof key, "%s.accuracy", names[i]);
                rp_stage_note(st, key, acc[i]); /* manifest.json */
            }
            if (rc == RP_OK)
                rp_info("%s: %s %.4f | loss %.4f | %lld samples", names[i],
                        p.seg ? "pixel acc" : "acc", acc[i],
                        p.loss_n > 0 ? p.loss_sum / p.loss_n : NAN, (long long)p.samples);
        } else {
            rp_error_prefix(err, "evaluating '%s' (%s): ", names[i], ds->name);
        }
    }
    if (rc == RP_OK && want_aa) {
        double aa = ev_aa(acc, n);
        rc = rp_metrics_set(mt, "AA", aa, err);
        if (rc == RP_OK) {
            rp_stage_note(st, "AA", aa);
            rp_info("AA %.4f over %zu sets", aa, n);
        }
        if (rc == RP_OK && baseline) {
            ev_opts ob = o; /* the baseline gets accuracy only */
            ob.extra = NULL;
            ob.n_extra = 0;
            ob.keep_logits = 0;
            ob.n_wrong = 0;
            for (size_t i = 0; rc == RP_OK && i < n; i++) {
                const rp_dataset *ds = rp_stage_input_at(st, "data", i);
                char label[160];
                snprintf(label, sizeof label, "baseline %s", names[i]);
                ev_pass p;
                rc = ev_run_pass(baseline, ds, loss, &ob, label, &p, err);
                if (rc != RP_OK) {
                    rp_error_prefix(err, "evaluating the baseline on '%s': ", names[i]);
                    break;
                }
                rp_metrics *tmp = rp_metrics_new(); /* the baseline's full numbers: only
                                                       its accuracy is kept */
                if (!tmp) rc = rp_error_set(err, RP_ERR_NOMEM, "evaluate: out of memory");
                if (rc == RP_OK) rc = record(tmp, names[i], &p, &ob, ds, &bacc[i], err);
                ev_pass_release(&p);
                if (rc == RP_OK) rc = setf(mt, err, bacc[i], "baseline.%s.%s", names[i], "accuracy");
                rp_metrics_free(tmp);
            }
            double baa = ev_aa(bacc, n);
            if (rc == RP_OK) rc = rp_metrics_set(mt, "baseline.AA", baa, err);
            if (rc == RP_OK) rc = rp_metrics_set(mt, "DAA", ev_daa(aa, baa), err);
            if (rc == RP_OK) {
                rp_stage_note(st, "DAA", ev_daa(aa, baa));
                rp_info("baseline AA %.4f, DAA %+.2f %%p", baa, ev_daa(aa, baa));
            }
        }
    }
    if (rc == RP_OK) rc = write_files(st, mt, err);
    ev_extra_release(o.extra, o.n_extra, 1);
    free(o.extra);
    free(names);
    free(acc);
    free(bacc);
    if (rc != RP_OK) {
        rp_metrics_free(mt);
        return rc;
    }
    return rp_stage_output(st, "metrics", mt, err);
}

/* ---- stage declaration ---- */
static const struct rp_port evaluate_inputs[] = {
    {"model", RP_ART_MODEL, 0, "the model to evaluate (run in eval mode)"},
    {"data", RP_ART_DATASET, RP_PORT_MULTI,
     "one or more datasets, e.g. the clean and the occluded test set"},
    {"loss", RP_ART_LOSS, RP_PORT_OPTIONAL, "loss to report (default: softmax cross-entropy)"},
    {"baseline", RP_ART_MODEL, RP_PORT_OPTIONAL,
     "second model for S0's DAA = AA(model) - AA(baseline), in %p"},
};
static const struct rp_port evaluate_outputs[] = {
    {"metrics", RP_ART_METRICS, 0,
     "<set>.loss/accuracy/error_rate/topK_accuracy/macro_*/weighted_*, AA, DAA; tables "
     "confusion.<set>, report.<set> (segmentation.<set>)"},
};
static const struct rp_stage_def evaluate_stage = {"evaluate",
     "accuracy, top-k, per-class report, confusion matrix (pixel acc, IoU, Dice for "
     "segmentation), AA/DAA over datasets",
     evaluate_inputs, RP_COUNT(evaluate_inputs), evaluate_outputs, RP_COUNT(evaluate_outputs), rp_evaluate_stage_run, RP_STAGE_CACHEABLE, NULL};
RP_STAGE(evaluate_stage)
