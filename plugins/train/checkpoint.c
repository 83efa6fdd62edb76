/* The train stage's checkpoint: <stage dir>/checkpoint.safetensors, written
 * atomically after every epoch (and on SIGINT after the current step).
 *
 * Tensors:  model.<param>   every parameter and buffer (running stats)
 *           best.<param>    the best weights so far (only with restore_best)
 *           optim.<...>     optimizer state (rp_optimizer_save)
 *           sched.<...>     scheduler state (rp_scheduler_save)
 * Metadata: epochs done, global step and the step inside an unfinished epoch
 *           — our RNG is counter-based (DESIGN §8), so these ARE the RNG
 *           position: loader order, augmentation and dropout masks are pure
 *           functions of (seed, stage, epoch, index/step) — plus lr, the
 *           monitors (best value/epoch, epochs without improvement), the
 *           partial-epoch accumulators, the history and a fingerprint of the
 *           configuration. Doubles are written with %.17g (exact round trip).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

#define CKPT_FORMAT "runpipe.train/1"

int train_weights_to_st(rp_model *m, rp_st *st, const char *prefix, rp_error *err) {
    size_t n = rp_model_num_params(m);
    for (size_t i = 0; i < n; i++) {
        const rp_param *p = rp_model_param(m, i);
        char name[512];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        int rc = rp_st_add(st, name, p->value, err);
        if (rc) return rc;
    }
    return RP_OK;
}

int train_weights_from_st(rp_model *m, const rp_st *st, const char *prefix, const char *file,
                          rp_error *err) {
    size_t n = rp_model_num_params(m);
    for (size_t i = 0; i < n; i++) {
        rp_param *p = rp_model_param(m, i);
        char name[512];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const rp_tensor *t = rp_st_get(st, name);
        if (!t)
            return rp_error_set(err, RP_ERR_FORMAT,
                                "'%s': tensor '%s' is missing (was the checkpoint written for "
                                "another model?)",
                                file, name);
        if (!rp_tensor_same_shape(t, p->value)) {
            char a[96], b[96];
            return rp_error_set(err, RP_ERR_FORMAT, "'%s': tensor '%s' has shape %s, model has %s",
                                file, name, rp_shape_str(t->ndim, t->shape, a, sizeof a),
                                rp_shape_str(p->value->ndim, p->value->shape, b, sizeof b));
        }
        int rc = rp_tensor_copy(p->value, t, err);
        if (rc) return rc;
    }
    return RP_OK;
}

static int meta_d(rp_st *st, const char *key, double v, rp_error *err) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    return rp_st_set_meta(st, key, buf, err);
}

static int meta_i(rp_st *st, const char *key, int64_t v, rp_error *err) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return rp_st_set_meta(st, key, buf, err);
}

static int put_monitor(rp_st *st, const char *prefix, const train_monitor *m, rp_error *err) {
    char k[64];
    int rc;
    snprintf(k, sizeof k, "%s.best", prefix);
    if ((rc = meta_d(st, k, m->best, err))) return rc;
    snprintf(k, sizeof k, "%s.best_epoch", prefix);
    if ((rc = meta_i(st, k, m->best_epoch, err))) return rc;
    snprintf(k, sizeof k, "%s.bad", prefix);
    return meta_i(st, k, m->bad, err);
}

/* The partial epoch's pixel counts (segmentation) as text: "C v0 v1 ...". */
static int put_seg(rp_st *st, const train_seg *seg, rp_error *err) {
    size_t cap = 32 + (size_t)seg->c * 3 * 26, o = 0;
    char *t = malloc(cap);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (checkpoint)");
    o += (size_t)snprintf(t, cap, "%d", seg->c);
    for (int k = 0; k < seg->c * 3; k++) o += (size_t)snprintf(t + o, cap - o, " %.17g", seg->v[k]);
    int rc = rp_st_set_meta(st, "partial.seg", t, err);
    free(t);
    return rc;
}

static int get_seg(const rp_st *st, const char *path, train_seg *seg, rp_error *err) {
    const char *t = rp_st_meta(st, "partial.seg");
    train_seg_release(seg);
    if (!t) return RP_OK; /* classification, or no batch yet */
    char *end;
    long c = strtol(t, &end, 10);
    if (end == t || c < 1 || c > 100000)
        return rp_error_set(err, RP_ERR_FORMAT, "'%s': bad 'partial.seg' in the checkpoint", path);
    seg->v = calloc((size_t)c * 3, sizeof *seg->v);
    if (!seg->v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory (checkpoint)");
    seg->c = (int)c;
    for (long k = 0; k < c * 3; k++) {
        const char *s = end;
        seg->v[k] = strtod(s, &end);
        if (end == s)
            return rp_error_set(err, RP_ERR_FORMAT, "'%s': 'partial.seg' has %ld of %ld values",
                                path, k, c * 3);
    }
    return RP_OK;
}

int train_ckpt_save(const char *path, rp_model *m, const rp_st *best, const rp_optimizer *opt,
                    const rp_scheduler *sched, const train_state *s,
                    const train_fingerprint *fp, rp_error *err) {
    rp_st st;
    rp_st_init(&st);
    rp_st os = {0}, ss = {0};
    char *hist = NULL;
    int rc = train_weights_to_st(m, &st, "model.", err);
    for (size_t i = 0; !rc && best && i < best->n; i++) {
        char name[512];
        snprintf(name, sizeof name, "best.%s", best->e[i].name);
        rc = rp_st_add(&st, name, best->e[i].t, err);
    }
    if (!rc) rc = rp_optimizer_save(opt, &os, err);
    if (!rc) rc = rp_st_add_prefixed(&st, "optim.", &os, err);
    if (!rc && sched) rc = rp_scheduler_save(sched, &ss, err);
    if (!rc && sched) rc = rp_st_add_prefixed(&st, "sched.", &ss, err);
    if (!rc) rc = rp_st_set_meta(&st, "runpipe.checkpoint", CKPT_FORMAT, err);
    if (!rc) rc = meta_i(&st, "epochs_done", s->epochs_done, err);
    if (!rc) rc = meta_i(&st, "global_step", s->global_step, err);
    if (!rc) rc = meta_i(&st, "batch_in_epoch", s->batch_in_epoch, err);
    if (!rc) rc = meta_i(&st, "done", s->done, err);
    if (!rc) rc = meta_i(&st, "stopped_early", s->stopped_early, err);
    if (!rc) rc = meta_d(&st, "lr", s->lr, err);
    if (!rc) rc = put_monitor(&st, "monitor", &s->best, err);
    if (!rc) rc = put_monitor(&st, "early_stopping", &s->es, err);
    if (!rc) rc = meta_d(&st, "partial.loss", s->acc_loss, err);
    if (!rc) rc = meta_d(&st, "partial.correct", s->acc_correct, err);
    if (!rc) rc = meta_d(&st, "partial.count", s->acc_count, err);
    if (!rc) rc = meta_d(&st, "partial.samples", s->acc_samples, err);
    if (!rc) rc = meta_d(&st, "partial.seconds", s->acc_seconds, err);
    if (!rc) rc = meta_d(&st, "partial.lr", s->acc_lr, err);
    if (!rc && s->acc_seg.v) rc = put_seg(&st, &s->acc_seg, err);
    if (!rc) rc = meta_i(&st, "cfg.epochs", fp->epochs, err);
    if (!rc) rc = meta_i(&st, "cfg.batch_size", fp->batch_size, err);
    if (!rc) rc = meta_i(&st, "cfg.seed", (int64_t)fp->seed, err);
    if (!rc) rc = meta_i(&st, "cfg.train_size", (int64_t)fp->train_size, err);
    if (!rc) rc = meta_i(&st, "cfg.limit", (int64_t)fp->limit, err);
    if (!rc) rc = meta_i(&st, "cfg.n_params", (int64_t)fp->n_params, err);
    if (!rc) rc = train_hist_to_text(&s->hist, &hist, err);
    if (!rc) rc = rp_st_set_meta(&st, "history", hist, err);
    char *steps = NULL;
    if (!rc) rc = train_steps_to_text(&s->steps, &steps, err);
    if (!rc) rc = rp_st_set_meta(&st, "steps", steps, err);
    free(steps);
    if (!rc) rc = rp_st_save(&st, path, err);
    free(hist);
    rp_st_release(&os);
    rp_st_release(&ss);
    rp_st_release(&st);
    return rc;
}

static int get_d(const rp_st *st, const char *path, const char *key, double *v, rp_error *err) {
    const char *s = rp_st_meta(st, key);
    char *end = NULL;
    if (s) *v = strtod(s, &end);
    if (!s || end == s || *end)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "'%s': checkpoint metadata '%s' is missing or not a number", path, key);
    return RP_OK;
}

static int get_i(const rp_st *st, const char *path, const char *key, int64_t *v, rp_error *err) {
    const char *s = rp_st_meta(st, key);
    char *end = NULL;
    if (s) *v = (int64_t)strtoll(s, &end, 10);
    if (!s || end == s || *end)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "'%s': checkpoint metadata '%s' is missing or not an integer", path,
                            key);
    return RP_OK;
}

static int get_monitor(const rp_st *st, const char *path, const char *prefix, train_monitor *m,
                       rp_error *err) {
    char k[64];
    int rc;
    snprintf(k, sizeof k, "%s.best", prefix);
    if ((rc = get_d(st, path, k, &m->best, err))) return rc;
    snprintf(k, sizeof k, "%s.best_epoch", prefix);
    if ((rc = get_i(st, path, k, &m->best_epoch, err))) return rc;
    snprintf(k, sizeof k, "%s.bad", prefix);
    return get_i(st, path, k, &m->bad, err);
}

static int check_fp(const rp_st *st, const char *path, const char *key, int64_t want,
                    rp_error *err) {
    int64_t v = 0;
    int rc = get_i(st, path, key, &v, err);
    if (rc) return rc;
    if (v != want)
        return rp_error_set(err, RP_ERR_INVALID,
                            "'%s' was written with %s = %lld but this run has %lld: a resumed "
                            "run must use the same pipeline, seed and data",
                            path, key + 4, (long long)v, (long long)want);
    return RP_OK;
}

static int bad_field(rp_error *err, const char *path, const char *key, const char *val,
                     const char *expected) {
    return rp_error_set(err, RP_ERR_FORMAT, "'%s': checkpoint metadata '%s' is %s; expected %s",
                        path, key, val ? val : "missing", expected);
}

/* Every field in its range, against the run's configuration: a checkpoint is
 * a file like any other (epochs_done = -1000000 must not resume into a
 * million epochs, nor a huge batch_in_epoch blame the data). */
static int ckpt_validate(const rp_st *st, const char *path, const train_state *s,
                         const train_fingerprint *fp, int64_t done, int64_t early, rp_error *err) {
    char exp[160];
    uint64_t n = fp->limit && fp->limit < fp->train_size ? fp->limit : fp->train_size;
    int64_t bs = fp->batch_size > 0 ? fp->batch_size : 1;
    int64_t bpe = (int64_t)((n + (uint64_t)bs - 1) / (uint64_t)bs); /* at most, without drop_last */
    snprintf(exp, sizeof exp, "0..%lld (the run's epochs)", (long long)fp->epochs);
    if (s->epochs_done < 0 || s->epochs_done > fp->epochs)
        return bad_field(err, path, "epochs_done", rp_st_meta(st, "epochs_done"), exp);
    /* (batch_in_epoch == bpe: interrupted after the epoch's last batch, before
     * its end; the resumed run skips the batches and finishes the epoch) */
    snprintf(exp, sizeof exp, "0..%lld (batches in an epoch of %llu samples, batch_size %lld)",
             (long long)bpe, (unsigned long long)n, (long long)bs);
    if (s->batch_in_epoch < 0 || s->batch_in_epoch > bpe ||
        (s->batch_in_epoch && s->epochs_done >= fp->epochs))
        return bad_field(err, path, "batch_in_epoch", rp_st_meta(st, "batch_in_epoch"), exp);
    int64_t max_step = s->epochs_done * bpe + s->batch_in_epoch;
    snprintf(exp, sizeof exp, "0..%lld (epochs_done x batches per epoch + batch_in_epoch)",
             (long long)max_step);
    if (s->global_step < 0 || s->global_step > max_step)
        return bad_field(err, path, "global_step", rp_st_meta(st, "global_step"), exp);
    if (done != 0 && done != 1) return bad_field(err, path, "done", rp_st_meta(st, "done"), "0 or 1");
    if (early != 0 && early != 1)
        return bad_field(err, path, "stopped_early", rp_st_meta(st, "stopped_early"), "0 or 1");
    if (!done && !early && s->epochs_done >= fp->epochs)
        return bad_field(err, path, "done", rp_st_meta(st, "done"),
                         "1 once epochs_done reaches the run's epochs");
    if (!isfinite(s->lr) || s->lr < 0)
        return bad_field(err, path, "lr", rp_st_meta(st, "lr"), "a finite learning rate >= 0");
    const struct {
        const char *key;
        const train_monitor *m;
    } mons[2] = {{"monitor", &s->best}, {"early_stopping", &s->es}};
    for (int i = 0; i < 2; i++) {
        char k[64];
        snprintf(exp, sizeof exp, "0..%lld (epochs done)", (long long)s->epochs_done);
        snprintf(k, sizeof k, "%s.best_epoch", mons[i].key);
        if (mons[i].m->best_epoch < 0 || mons[i].m->best_epoch > s->epochs_done)
            return bad_field(err, path, k, rp_st_meta(st, k), exp);
        snprintf(k, sizeof k, "%s.bad", mons[i].key);
        if (mons[i].m->bad < 0 || mons[i].m->bad > s->epochs_done)
            return bad_field(err, path, k, rp_st_meta(st, k), exp);
        snprintf(k, sizeof k, "%s.best", mons[i].key);
        if (isinf(mons[i].m->best)) return bad_field(err, path, k, rp_st_meta(st, k), "a finite number (or nan: none yet)");
    }
    static const char *const parts[] = {"partial.loss",    "partial.correct", "partial.count",
                                        "partial.samples", "partial.seconds", "partial.lr"};
    const double pv[] = {s->acc_loss,    s->acc_correct, s->acc_count,
                         s->acc_samples, s->acc_seconds, s->acc_lr};
    for (int i = 0; i < 6; i++)
        if (!isfinite(pv[i]) || (i > 0 && pv[i] < 0))
            return bad_field(err, path, parts[i], rp_st_meta(st, parts[i]),
                             i ? "a finite number >= 0" : "a finite number");
    if (s->acc_samples > (double)n)
        return bad_field(err, path, "partial.samples", rp_st_meta(st, "partial.samples"),
                         "at most the samples of one epoch");
    return RP_OK;
}

int train_ckpt_load(const char *path, rp_model *m, rp_st *best, rp_optimizer *opt,
                    rp_scheduler *sched, train_state *s, const train_fingerprint *fp,
                    rp_error *err) {
    rp_st st;
    rp_st_init(&st);
    rp_st os = {0}, ss = {0};
    int rc = rp_st_load(path, &st, err);
    if (rc) return rc;
    const char *fmt = rp_st_meta(&st, "runpipe.checkpoint");
    if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
        rc = rp_error_set(err, RP_ERR_FORMAT, "'%s' is not a train checkpoint (format '%s', "
                          "expected '%s')", path, fmt ? fmt : "none", CKPT_FORMAT);
        goto out;
    }
    if ((rc = check_fp(&st, path, "cfg.epochs", fp->epochs, err)) ||
        (rc = check_fp(&st, path, "cfg.batch_size", fp->batch_size, err)) ||
        (rc = check_fp(&st, path, "cfg.seed", (int64_t)fp->seed, err)) ||
        (rc = check_fp(&st, path, "cfg.train_size", (int64_t)fp->train_size, err)) ||
        (rc = check_fp(&st, path, "cfg.limit", (int64_t)fp->limit, err)) ||
        (rc = check_fp(&st, path, "cfg.n_params", (int64_t)fp->n_params, err)))
        goto out;
    if ((rc = train_weights_from_st(m, &st, "model.", path, err))) goto out;
    if (best) {
        for (size_t i = 0; i < st.n; i++) {
            if (strncmp(st.e[i].name, "best.", 5)) continue;
            if ((rc = rp_st_add(best, st.e[i].name + 5, st.e[i].t, err))) goto out;
        }
    }
    if ((rc = rp_st_get_prefixed(&st, "optim.", &os, err)) || (rc = rp_optimizer_load(opt, &os, err)) ||
        (sched && ((rc = rp_st_get_prefixed(&st, "sched.", &ss, err)) || (rc = rp_scheduler_load(sched, &ss, err))))) {
        rp_error_prefix(err, "'%s': ", path); /* the state's own messages do not know the file */
        goto out;
    }
    int64_t done = 0, early = 0;
    if ((rc = get_i(&st, path, "epochs_done", &s->epochs_done, err)) ||
        (rc = get_i(&st, path, "global_step", &s->global_step, err)) ||
        (rc = get_i(&st, path, "batch_in_epoch", &s->batch_in_epoch, err)) ||
        (rc = get_i(&st, path, "done", &done, err)) ||
        (rc = get_i(&st, path, "stopped_early", &early, err)) ||
        (rc = get_d(&st, path, "lr", &s->lr, err)) ||
        (rc = get_monitor(&st, path, "monitor", &s->best, err)) ||
        (rc = get_monitor(&st, path, "early_stopping", &s->es, err)) ||
        (rc = get_d(&st, path, "partial.loss", &s->acc_loss, err)) ||
        (rc = get_d(&st, path, "partial.correct", &s->acc_correct, err)) ||
        (rc = get_d(&st, path, "partial.count", &s->acc_count, err)) ||
        (rc = get_d(&st, path, "partial.samples", &s->acc_samples, err)) ||
        (rc = get_d(&st, path, "partial.seconds", &s->acc_seconds, err)) ||
        (rc = get_d(&st, path, "partial.lr", &s->acc_lr, err)) ||
        (rc = get_seg(&st, path, &s->acc_seg, err)))
        goto out;
    if ((rc = ckpt_validate(&st, path, s, fp, done, early, err))) goto out;
    s->done = (int)done;
    s->stopped_early = (int)early;
    const char *hist = rp_st_meta(&st, "history");
    if (!hist) {
        rc = rp_error_set(err, RP_ERR_FORMAT, "'%s': checkpoint has no history", path);
        goto out;
    }
    train_hist_release(&s->hist);
    rc = train_hist_from_text(&s->hist, hist, err);
    /* checkpoints written before the step curve existed have none */
    const char *steps = rp_st_meta(&st, "steps");
    if (!rc && steps) rc = train_steps_from_text(&s->steps, steps, err);
    if (rc) rp_error_prefix(err, "'%s': ", path);
out:
    rp_st_release(&os);
    rp_st_release(&ss);
    rp_st_release(&st);
    return rc;
}
