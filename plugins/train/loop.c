/* train_fit: the training loop of the `train` stage.
 *
 * Per epoch: (re)start the loader for that epoch (order and augmentation are
 * pure functions of (seed, stage, epoch, index)), and per batch run the batch
 * hooks, set the dropout key (seed, global step), forward, loss, backward,
 * optimizer step (+ per-batch scheduler step). Then validate, append to the
 * history, update the best/early-stopping monitors, step the per-epoch
 * scheduler, rewrite history.csv and the checkpoint. Since every random draw
 * is keyed by counters stored in the checkpoint, a resumed run continues to
 * bit-identical weights (DESIGN §8, §9).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

typedef struct hook {
    const struct rp_batch_hook_ops *ops;
    void *state;
    const char *name;
} hook;

typedef struct run {
    const train_cfg *cfg;
    const train_env *env;
    rp_model *m;
    const rp_loss *loss;
    const rp_dataset *train, *val;
    rp_optimizer *opt;
    rp_scheduler *sched;
    rp_loader *tl, *vl;
    rp_tensor dlogits;
    rp_batch hb;           /* copy of the batch handed to hooks */
    rp_model *hm;          /* copy of env->hook_model (NULL when unwired) */
    hook *hooks;
    size_t n_hooks;
    train_state s;
    rp_st best;            /* best weights (restore_best) */
    int have_best;
    train_fingerprint fp;
    uint64_t dropout_seed;
    uint64_t steps_per_epoch;
    char ckpt_path[1100], hist_path[1100], best_path[1100], last_path[1100], steps_path[1100];
    train_dp *dp;          /* data-parallel over env->comm, or NULL */
    int dp_stop;           /* some rank was interrupted (agreed in the step) */
    int sharded;           /* the train loader reads only this rank's rows (dp, no batch hooks) */
    int val_sharded;       /* the val loader does (dp) */
} run;

/* ---- helpers ---------------------------------------------------------------- */

static rp_tensor batch_view(const rp_batch *b) {
    rp_tensor v = b->x;
    v.owns = 0;
    size_t per = 1;
    for (int d = 1; d < v.ndim; d++) per *= (size_t)v.shape[d];
    v.shape[0] = b->n;
    v.numel = per * (size_t)b->n;
    return v;
}

/* Correct predictions and counted targets: argmax over classes of [N, C] or
 * per pixel of [N, C, H, W]; targets < 0 are ignored. */
static void count_correct(const rp_tensor *y, const int32_t *target, double *correct,
                          double *count) {
    int64_t n = y->shape[0], c = y->ndim > 1 ? y->shape[1] : 1, hw = 1;
    for (int d = 2; d < y->ndim; d++) hw *= y->shape[d];
    double ok = 0, cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y->data + i * c * hw;
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
            ok += best == t;
            cnt += 1;
        }
    }
    *correct += ok;
    *count += cnt;
}

static const int32_t *batch_target(const rp_batch *b) { return b->masks ? b->masks : b->labels; }

static int copy_batch(rp_batch *dst, const rp_batch *src, rp_error *err) {
    int64_t c = src->x.shape[1], h = src->x.shape[2], w = src->x.shape[3];
    int rc = rp_batch_reserve(dst, src->n, c, h, w, src->masks != NULL, err);
    if (rc) return rc;
    size_t per = (size_t)(c * h * w);
    memcpy(dst->x.data, src->x.data, per * (size_t)src->n * sizeof(float));
    memcpy(dst->labels, src->labels, (size_t)src->n * sizeof(int32_t));
    if (src->masks)
        memcpy(dst->masks, src->masks, (size_t)(src->n * h * w) * sizeof(int32_t));
    memcpy(dst->indices, src->indices, (size_t)src->n * sizeof(uint64_t));
    dst->n = src->n;
    return RP_OK;
}

static int create_hooks(run *r, rp_error *err) {
    size_t n = rp_node_len(r->cfg->hooks);
    if (!n) return RP_OK;
    r->hooks = calloc(n, sizeof *r->hooks);
    if (!r->hooks) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const rp_node *spec = rp_node_at(r->cfg->hooks, i);
        const char *name = NULL;
        const rp_node *params = NULL;
        const struct rp_component *c = NULL;
        int rc = rp_component_spec(spec, &name, &params, err);
        if (!rc) rc = rp_component_lookup(RP_COMP_BATCH_HOOK, name, spec, &c, err);
        if (rc) return rc;
        hook *hk = &r->hooks[r->n_hooks];
        hk->ops = c->impl;
        hk->name = c->name;
        rc = hk->ops->create(params, &hk->state, err);
        if (rc) {
            rp_error_prefix(err, "batch hook '%s': ", name);
            return rc;
        }
        r->n_hooks++;
    }
    return RP_OK;
}

/* Forward + loss (+ dlogits when training) on one batch; pixel counts into
 * `seg` when the batch has masks. */
static int forward_loss(run *r, const rp_batch *b, int training, double *lv, double *correct,
                        double *count, train_seg *seg, rp_error *err) {
    rp_tensor x = batch_view(b);
    const rp_tensor *y = NULL;
    int rc = rp_model_forward(r->m, &x, &y, err);
    if (rc) return rc;
    if (training) {
        rc = rp_tensor_reshape_alloc(&r->dlogits, y->ndim, y->shape, err);
        if (rc) return rc;
    }
    const int32_t *target = batch_target(b);
    rc = rp_loss_compute(r->loss, y, target, lv, training ? &r->dlogits : NULL, err);
    if (rc) return rc;
    count_correct(y, target, correct, count);
    if (b->masks && seg) return train_seg_add(seg, y, target, err);
    return RP_OK;
}

static int save_checkpoint(run *r, rp_error *err) {
    if (!r->cfg->checkpoint) return RP_OK;
    if (r->dp && r->env->comm->rank != 0) return RP_OK; /* rank 0 writes it */
    return train_ckpt_save(r->ckpt_path, r->m, r->cfg->restore_best ? &r->best : NULL, r->opt,
                           r->sched, &r->s, &r->fp, err);
}

static int interrupted(run *r, const char *why, rp_error *err) {
    int rc = save_checkpoint(r, err);
    if (rc) return rc;
    return rp_error_set(err, RP_ERR_INTERRUPTED,
                        "%s: stopped in epoch %lld after step %lld; checkpoint written to '%s' — "
                        "continue with: runpipe --resume RUNDIR",
                        why, (long long)r->s.epochs_done + (r->s.batch_in_epoch ? 1 : 0),
                        (long long)r->s.global_step, r->ckpt_path);
}

/* ---- data-parallel step ----------------------------------------------------------- */

/* Rows [lo, hi) of b (a view: no copy). */
static rp_batch batch_rows(const rp_batch *b, int64_t lo, int64_t hi) {
    rp_batch v = *b;
    size_t per = 1, hw = 1;
    for (int d = 1; d < b->x.ndim; d++) per *= (size_t)b->x.shape[d];
    for (int d = 2; d < b->x.ndim; d++) hw *= (size_t)b->x.shape[d];
    v.x.owns = 0;
    v.x.data = b->x.data + (size_t)lo * per;
    v.labels = b->labels + lo;
    v.masks = b->masks ? b->masks + (size_t)lo * hw : NULL;
    v.indices = b->indices + lo;
    v.n = hi - lo;
    v.capacity = v.n;
    return v;
}

/* This rank's rows of a global batch of n: a contiguous slice of the
 * epoch's sample order, so the K shards together are the one-process batch. */
static void shard_range(const struct rp_comm *c, int64_t n, int64_t *lo, int64_t *hi) {
    *lo = n * c->rank / c->size;
    *hi = n * (c->rank + 1) / c->size;
}

/* This rank's rows [lo, hi) of bt, which came from loader l, and *gn the
 * rows of the global batch: a sharded loader gave this rank's rows only
 * (the same rows shard_range picks from the whole batch). */
static void my_rows(const run *r, int sharded, const rp_loader *l, const rp_batch *bt,
                    int64_t *lo, int64_t *hi, int64_t *gn) {
    if (sharded) {
        *lo = 0;
        *hi = bt->n;
        *gn = rp_loader_global_rows(l);
        return;
    }
    shard_range(r->env->comm, bt->n, lo, hi);
    *gn = bt->n;
}

/* Pixel counts of this rank's shard, summed over the ranks, into acc. */
static int dp_sum_seg(run *r, train_seg *local, train_seg *acc, double classes, rp_error *err) {
    int c = (int)classes;
    if (c <= 0) return RP_OK;
    if (!local->v) {
        local->v = calloc((size_t)c * 3, sizeof *local->v);
        if (!local->v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        local->c = c;
    }
    int rc = train_dp_sum(r->dp, local->v, (size_t)c * 3, err);
    if (rc) return rc;
    if (!acc->v) {
        acc->v = calloc((size_t)c * 3, sizeof *acc->v);
        if (!acc->v) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        acc->c = c;
    }
    for (int k = 0; k < 3 * c && k < 3 * acc->c; k++) acc->v[k] += local->v[k];
    return RP_OK;
}

/* Forward + loss on this rank's shard, then the step's statistics summed
 * over the ranks before anything else: every rank sees the same global loss
 * (a NaN anywhere stops all), the same failure flag and the same interrupt,
 * so no rank waits in a reduction the others never start. *lv is the loss
 * of the global batch; accuracy counts go into the epoch's totals. */
static int dp_forward(run *r, const rp_batch *bt, double *lv, rp_error *err) {
    const struct rp_comm *c = r->env->comm;
    train_state *s = &r->s;
    int64_t lo, hi, gn;
    my_rows(r, r->sharded, r->tl, bt, &lo, &hi, &gn);
    rp_batch sh = batch_rows(bt, lo, hi);
    if (r->cfg->sync_bn && gn < c->size) /* the same on every rank */
        return rp_error_set(err, RP_ERR_INVALID,
                            "sync_bn: a batch of %lld samples leaves a rank of the %d without any "
                            "(set drop_last: true, or a batch_size the ranks can share)",
                            (long long)gn, c->size);
    train_dp_set_share(r->dp, (double)(hi - lo) / (double)gn);
    double llv = 0, correct = 0, count = 0;
    train_seg seg = {0};
    int rc = hi > lo ? forward_loss(r, &sh, 1, &llv, &correct, &count, &seg, err) : RP_OK;
    double v[8] = {hi > lo ? llv * (double)(hi - lo) : 0, (double)(hi - lo), correct, count,
                   rc != RP_OK, rp_interrupted(), seg.c, seg.v != NULL};
    rp_error e2;
    rp_error_clear(&e2);
    int src = train_dp_sum(r->dp, v, 8, &e2);
    if (src) {
        train_seg_release(&seg);
        *err = e2;
        return src;
    }
    if (rc) {
        train_seg_release(&seg);
        return rc;
    }
    if (v[4] > 0) {
        train_seg_release(&seg);
        return rp_error_set(err, RP_ERR_IO,
                            "another rank failed in this step (its error is in its log)");
    }
    r->dp_stop = v[5] > 0;
    s->acc_correct += v[2];
    s->acc_count += v[3];
    if (v[7] > 0) rc = dp_sum_seg(r, &seg, &s->acc_seg, v[6] / v[7], err);
    train_seg_release(&seg);
    *lv = v[1] > 0 ? v[0] / v[1] : 0;
    if (!rc && hi == lo) rp_model_zero_grad(r->m);
    return rc;
}

static int dp_backward(run *r, const rp_batch *bt, rp_error *err) {
    const struct rp_comm *c = r->env->comm;
    int64_t lo, hi, gn;
    my_rows(r, r->sharded, r->tl, bt, &lo, &hi, &gn);
    train_dp_begin(r->dp, (double)(hi - lo) / (double)gn);
    int rc = hi > lo ? rp_model_backward(r->m, &r->dlogits, err) : RP_OK;
    if (rc) {
        /* the others are inside the reduction of this step: end the job
         * with this error rather than leave them waiting */
        rp_log(RP_LOG_ERROR, "rank %d: %s", c->rank, err->msg);
        c->abort(c, 1);
    }
    return train_dp_finish(r->dp, err);
}

/* ---- one epoch ------------------------------------------------------------------ */

static int train_epoch(run *r, int64_t epoch, rp_error *err) {
    const train_cfg *cfg = r->cfg;
    train_state *s = &r->s;
    int rc = rp_loader_start(r->tl, (uint64_t)epoch, err);
    if (rc) return rc;
    rp_model_set_training(r->m, 1);
    char label[64], suffix[96];
    snprintf(label, sizeof label, "epoch %lld/%lld", (long long)epoch + 1,
             (long long)cfg->epochs);
    rp_progress *pb = rp_progress_begin(label, r->steps_per_epoch, "batch");
    rp_progress_outer(pb, (uint64_t)epoch * r->steps_per_epoch,
                      (uint64_t)cfg->epochs * r->steps_per_epoch);
    int64_t skip = s->batch_in_epoch;
    double t0 = rp_now(), seconds0 = s->acc_seconds;
    for (int64_t b = 0;; b++) {
        rp_batch *batch = NULL;
        rc = rp_loader_next(r->tl, &batch, err);
        if (rc || !batch) break;
        if (b < skip) { /* done before the interruption: same batch, already trained */
            rp_progress_step(pb, 1, NULL);
            continue;
        }
        const rp_batch *bt = batch;
        /* samples in the step: the global batch's (a sharded loader gives
         * this rank's rows) */
        int64_t gn = r->sharded ? rp_loader_global_rows(r->tl) : batch->n;
        if (r->n_hooks) {
            rc = copy_batch(&r->hb, batch, err);
            if (rc) break;
            for (size_t k = 0; k < r->n_hooks && !rc; k++) {
                rp_hook_ctx ctx = {r->m,          r->loss,
                                   &r->hb,        r->env->seed,
                                   (uint64_t)epoch, (uint64_t)s->global_step,
                                   (uint64_t)cfg->epochs, r->env->stage,
                                   r->hm};
                rc = r->hooks[k].ops->on_batch(r->hooks[k].state, &ctx, err);
                if (rc) rp_error_prefix(err, "batch hook '%s' (epoch %lld, step %lld): ",
                                        r->hooks[k].name, (long long)epoch + 1, (long long)b + 1);
            }
            if (rc) break;
            bt = &r->hb;
            gn = bt->n;
            rp_model_set_training(r->m, 1);
        }
        rp_model_set_step(r->m, r->dropout_seed, (uint64_t)s->global_step);
        rp_model_zero_grad(r->m);
        double step_lr = rp_optimizer_lr(r->opt); /* the lr this step uses */
        double lv = 0;
        if (r->dp)
            rc = dp_forward(r, bt, &lv, err);
        else
            rc = forward_loss(r, bt, 1, &lv, &s->acc_correct, &s->acc_count, &s->acc_seg, err);
        if (rc == RP_ERR_NUMERIC) { /* the loss found NaN/Inf itself */
            rp_error_prefix(err, "epoch %lld, step %lld of %llu (global step %lld, lr %.3g): ",
                            (long long)epoch + 1, (long long)b + 1,
                            (unsigned long long)r->steps_per_epoch, (long long)s->global_step + 1,
                            rp_optimizer_lr(r->opt));
            break;
        }
        if (rc) {
            rp_error_prefix(err, "epoch %lld, step %lld: ", (long long)epoch + 1, (long long)b + 1);
            break;
        }
        if (!isfinite(lv)) {
            rc = rp_error_set(err, RP_ERR_NUMERIC,
                              "loss '%s' is %s at epoch %lld, step %lld of %llu (global step "
                              "%lld, lr %.3g): training diverged — lower the learning rate or "
                              "check the data",
                              r->loss->name ? r->loss->name : "?", isnan(lv) ? "NaN" : "Inf",
                              (long long)epoch + 1, (long long)b + 1,
                              (unsigned long long)r->steps_per_epoch, (long long)s->global_step + 1,
                              rp_optimizer_lr(r->opt));
            break;
        }
        rc = r->dp ? dp_backward(r, bt, err) : rp_model_backward(r->m, &r->dlogits, err);
        if (!rc) rc = rp_optimizer_step(r->opt, err);
        if (rc) {
            rp_error_prefix(err, "epoch %lld, step %lld: ", (long long)epoch + 1, (long long)b + 1);
            break;
        }
        if (r->sched && rp_scheduler_per_batch(r->sched)) rp_scheduler_step(r->sched, NAN);
        s->global_step++;
        s->batch_in_epoch = b + 1;
        s->acc_loss += lv * (double)gn;
        s->acc_samples += (double)gn;
        rc = train_steps_add(&s->steps, s->global_step,
                             (double)epoch + (double)(b + 1) / (double)r->steps_per_epoch, lv,
                             (double)gn, step_lr, err);
        if (rc) break;
        snprintf(suffix, sizeof suffix, "loss %.4f acc %.4f", s->acc_loss / s->acc_samples,
                 s->acc_count > 0 ? s->acc_correct / s->acc_count : 0.0);
        rp_progress_items(pb, (uint64_t)gn, "img");
        rp_progress_step(pb, 1, suffix);
        if (r->dp ? r->dp_stop : rp_interrupted()) {
            rp_progress_end(pb);
            s->acc_seconds = seconds0 + (rp_now() - t0);
            return interrupted(r, "interrupted (SIGINT)", err);
        }
    }
    rp_progress_end(pb);
    s->acc_seconds = seconds0 + (rp_now() - t0);
    if (!rc) rc = train_steps_flush(&s->steps, err);
    if (!rc && s->acc_samples == 0)
        rc = rp_error_set(err, RP_ERR_INVALID,
                          "epoch %lld: the training set '%s' gave no batch (%llu samples, "
                          "batch_size %lld, drop_last %s)",
                          (long long)epoch + 1, r->train->name,
                          (unsigned long long)r->train->size, (long long)cfg->batch_size,
                          cfg->drop_last ? "true" : "false");
    return rc;
}

static int validate(run *r, double *loss, double *acc, double *miou, double *dice,
                    rp_error *err) {
    *loss = *acc = *miou = *dice = NAN;
    if (!r->vl) return RP_OK;
    train_seg seg = {0};
    rp_model_set_training(r->m, 0);
    int rc = rp_loader_start(r->vl, 0, err); /* the same val set every epoch */
    double sum = 0, n = 0, correct = 0, count = 0;
    while (!rc) {
        rp_batch *b = NULL;
        rc = rp_loader_next(r->vl, &b, err);
        if (rc || !b) break;
        double lv = 0;
        rp_batch sh = *b;
        if (r->dp) { /* this rank's rows; the sums are added up below */
            int64_t lo, hi, gn;
            my_rows(r, r->val_sharded, r->vl, b, &lo, &hi, &gn);
            sh = batch_rows(b, lo, hi);
            if (hi == lo) continue;
        }
        rc = forward_loss(r, &sh, 0, &lv, &correct, &count, &seg, err);
        if (!rc && !isfinite(lv))
            rc = rp_error_set(err, RP_ERR_NUMERIC, "validation loss '%s' is %s on '%s'",
                              r->loss->name ? r->loss->name : "?", isnan(lv) ? "NaN" : "Inf",
                              r->val->name);
        sum += lv * (double)sh.n;
        n += (double)sh.n;
    }
    rp_model_set_training(r->m, 1);
    if (r->dp) {
        /* one reduction per validation on every rank, also after an error */
        double v[7] = {sum, n, correct, count, rc != RP_OK, seg.c, seg.v != NULL};
        rp_error e2;
        rp_error_clear(&e2);
        int src = train_dp_sum(r->dp, v, 7, &e2);
        if (!rc && src) {
            rc = src;
            *err = e2;
        }
        if (!rc && v[4] > 0)
            rc = rp_error_set(err, RP_ERR_IO,
                              "another rank failed while validating (its error is in its log)");
        sum = v[0], n = v[1], correct = v[2], count = v[3];
        if (!rc && v[6] > 0) {
            train_seg tot = {0};
            rc = dp_sum_seg(r, &seg, &tot, v[5] / v[6], err);
            train_seg_release(&seg);
            seg = tot;
        }
    }
    train_seg_means(&seg, miou, dice);
    train_seg_release(&seg);
    if (rc) return rc;
    if (n == 0)
        return rp_error_set(err, RP_ERR_INVALID, "the validation set '%s' is empty", r->val->name);
    *loss = sum / n;
    *acc = count > 0 ? correct / count : NAN;
    return RP_OK;
}

static int remember_best(run *r, rp_error *err) {
    int rc = rp_model_save(r->m, r->best_path, err);
    if (rc || !r->cfg->restore_best) return rc;
    rp_st_release(&r->best);
    rp_st_init(&r->best);
    r->have_best = 1;
    return train_weights_to_st(r->m, &r->best, "", err);
}

static int end_epoch(run *r, int64_t epoch, double lr_epoch, rp_error *err) {
    const train_cfg *cfg = r->cfg;
    train_state *s = &r->s;
    double t0 = rp_now();
    double vloss, vacc, vmiou, vdice, tmiou, tdice;
    /* batch-norm running statistics were updated from each rank's shard:
     * keep rank 0's everywhere, so validation, checkpoints and the output
     * are the same on every rank. The weights too: with 2 ranks every
     * rank's sum is a + b, bit for bit; with more, MPI may add in another
     * order on each rank (recursive doubling), and one broadcast per epoch
     * keeps the weights from drifting apart. */
    int rc = r->dp ? train_dp_bcast_state(r->dp, 1, err) : RP_OK;
    if (!rc) rc = validate(r, &vloss, &vacc, &vmiou, &vdice, err);
    if (rc) {
        rp_error_prefix(err, "epoch %lld: ", (long long)epoch + 1);
        return rc;
    }
    double train_seconds = s->acc_seconds, samples = s->acc_samples;
    double row[H_NCOLS] = {(double)(epoch + 1),
                           s->acc_loss / s->acc_samples,
                           s->acc_count > 0 ? s->acc_correct / s->acc_count : NAN,
                           vloss,
                           vacc,
                           lr_epoch,
                           train_seconds + (rp_now() - t0),
                           NAN, NAN, vmiou, vdice};
    train_seg_means(&s->acc_seg, &tmiou, &tdice);
    row[H_TRAIN_MIOU] = tmiou;
    row[H_TRAIN_DICE] = tdice;
    rc = train_hist_append(&s->hist, row, err);
    if (rc) return rc;
    if (train_monitor_update(&s->best, row)) {
        rc = remember_best(r, err);
        if (rc) return rc;
    }
    if (cfg->early_stopping) {
        train_monitor_update(&s->es, row);
        if (train_monitor_should_stop(&s->es)) s->stopped_early = 1;
    }
    if (r->sched && !rp_scheduler_per_batch(r->sched))
        rp_scheduler_step(r->sched, r->vl ? vloss : row[H_TRAIN_LOSS]);
    s->epochs_done = epoch + 1;
    s->batch_in_epoch = 0;
    s->acc_loss = s->acc_correct = s->acc_count = s->acc_samples = s->acc_seconds = 0;
    train_seg_clear(&s->acc_seg);
    s->lr = rp_optimizer_lr(r->opt);
    s->acc_lr = s->lr;
    s->done = s->epochs_done >= cfg->epochs || s->stopped_early;
    char line[256];
    train_epoch_line(line, sizeof line, cfg->log_format, cfg->epochs, row, r->vl != NULL,
                     s->hist.seg, train_seconds > 0 ? samples / train_seconds : 0.0);
    rp_info("%s", line);
    rc = train_hist_write_csv(&s->hist, r->hist_path, err);
    if (!rc) rc = train_steps_write_csv(&s->steps, r->steps_path, err);
    if (!rc) rc = save_checkpoint(r, err);
    if (rc) return rc;
    if (s->stopped_early)
        rp_info("%s: early stopping after epoch %lld: %s did not improve by more than %g for %lld "
                "epochs (best %.4f at epoch %lld)",
                r->env->stage, (long long)epoch + 1, train_monitor_name(&s->es),
                s->es.min_delta, (long long)s->es.patience, s->es.best,
                (long long)s->es.best_epoch);
    return RP_OK;
}

/* ---- set-up and results ------------------------------------------------------------ */

/* SIGINT here, or (data-parallel) on any rank. */
static int any_interrupted(run *r) {
    double v = rp_interrupted();
    rp_error e;
    rp_error_clear(&e);
    if (r->dp && train_dp_sum(r->dp, &v, 1, &e) != RP_OK) rp_warn("%s", e.msg);
    return v > 0;
}

/* Data-parallel set-up: buckets and the hook; under --resume every rank
 * continues from rank 0's checkpoint (the others write none), whose path
 * rank 0 sends; rank 0's weights to all (identical already unless resumed). */
static int dp_setup(run *r, char *load_path, size_t n, int *exists, rp_error *err) {
    const struct rp_comm *c = r->env->comm;
    int rc = train_dp_new(c, r->m, r->cfg->bucket_mb, &r->dp, err);
    if (rc) return rc;
    if (r->cfg->sync_bn) train_dp_sync_bn(r->dp);
    /* Each rank reads and augments only its rows of every batch. Batch
     * hooks work on the whole training batch (cam_erasing appends a copy of
     * every row), so with hooks every rank loads it and takes its rows after
     * them; validation has no hooks. */
    if (!r->n_hooks) {
        rc = rp_loader_set_shard(r->tl, c->rank, c->size, err);
        if (rc) return rc;
        r->sharded = 1;
    }
    if (r->vl) {
        rc = rp_loader_set_shard(r->vl, c->rank, c->size, err);
        if (rc) return rc;
        r->val_sharded = 1;
    }
    char buf[1100];
    snprintf(buf, sizeof buf, "%s", r->ckpt_path);
    int ex[1] = {*exists};
    rc = c->bcast(c, buf, sizeof buf, 0, err);
    if (!rc) rc = c->bcast(c, ex, sizeof ex, 0, err);
    if (rc) return rc;
    snprintf(load_path, n, "%s", buf);
    *exists = ex[0];
    if (c->rank == 0)
        rp_info("%s: data-parallel over %d ranks: %lld samples per step, about %lld per rank, "
                "batch-norm statistics %s, %s",
                r->env->stage, c->size, (long long)r->cfg->batch_size,
                (long long)(r->cfg->batch_size / c->size),
                r->cfg->sync_bn ? "over all ranks (sync_bn)" : "per rank",
                r->sharded ? "each rank loads its rows"
                           : "each rank loads the whole training batch (batch hooks need it)");
    return RP_OK;
}

static int resolve_monitor(run *r, train_monitor *m, const char *name, const char *mode,
                           double min_delta, int64_t patience, const char *what, rp_error *err) {
    char alt[40];
    if (!r->val && !strncmp(name, "val_", 4)) {
        snprintf(alt, sizeof alt, "train_%s", name + 4);
        rp_info("%s: no validation set: %s monitors %s instead of %s", r->env->stage, what, alt,
                name);
        name = alt;
    }
    int rc = train_monitor_init(m, name, mode, min_delta, patience, err);
    if (rc) rp_error_prefix(err, "%s: ", what);
    return rc;
}

static int rel_file(const run *r, rp_metrics *mt, const char *path, rp_error *err) {
    const char *rd = r->env->rundir;
    size_t n = rd ? strlen(rd) : 0;
    const char *rel = path;
    if (n && !strncmp(path, rd, n) && path[n] == '/') rel = path + n + 1;
    return rp_metrics_add_file(mt, rel, err);
}

static int make_metrics(run *r, rp_metrics **out, rp_error *err) {
    const train_state *s = &r->s;
    rp_metrics *mt = rp_metrics_new();
    if (!mt) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int rc = RP_OK;
    size_t nc = (size_t)train_hist_ncols(&s->hist);
    rp_table *t = rp_metrics_add_table(mt, "history", s->hist.rows, nc, train_hist_cols, NULL, err);
    if (!t) rc = err->status ? err->status : RP_ERR_NOMEM;
    for (size_t i = 0; !rc && i < s->hist.rows; i++)
        memcpy(t->values + i * nc, s->hist.v + i * H_NCOLS, nc * sizeof(double));
    size_t pick = s->hist.rows - 1;
    if (r->cfg->restore_best && s->best.best_epoch > 0) pick = (size_t)s->best.best_epoch - 1;
    const double *row = s->hist.v + pick * H_NCOLS;
    double seconds = 0;
    for (size_t i = 0; i < s->hist.rows; i++) seconds += s->hist.v[i * H_NCOLS + H_SECONDS];
    rp_table *stt = rc ? NULL
                       : rp_metrics_add_table(mt, "steps", s->steps.rows, S_NCOLS,
                                              train_steps_cols, NULL, err);
    if (!rc && !stt) rc = err->status ? err->status : RP_ERR_NOMEM;
    if (!rc && s->steps.rows)
        memcpy(stt->values, s->steps.v, s->steps.rows * S_NCOLS * sizeof(double));
    if (!rc) rc = rp_metrics_set(mt, "train_loss", row[H_TRAIN_LOSS], err);
    if (!rc) rc = rp_metrics_set(mt, "train_acc", row[H_TRAIN_ACC], err);
    if (!rc && r->vl) rc = rp_metrics_set(mt, "val_loss", row[H_VAL_LOSS], err);
    if (!rc && r->vl) rc = rp_metrics_set(mt, "val_acc", row[H_VAL_ACC], err);
    if (!rc && s->hist.seg) rc = rp_metrics_set(mt, "train_miou", row[H_TRAIN_MIOU], err);
    if (!rc && s->hist.seg) rc = rp_metrics_set(mt, "train_dice", row[H_TRAIN_DICE], err);
    if (!rc && s->hist.seg && r->vl) rc = rp_metrics_set(mt, "val_miou", row[H_VAL_MIOU], err);
    if (!rc && s->hist.seg && r->vl) rc = rp_metrics_set(mt, "val_dice", row[H_VAL_DICE], err);
    if (!rc) rc = rp_metrics_set(mt, "best_epoch", (double)s->best.best_epoch, err);
    if (!rc) rc = rp_metrics_set(mt, "best_value", s->best.best, err);
    if (!rc) rc = rp_metrics_set(mt, "epochs_run", (double)s->hist.rows, err);
    if (!rc) rc = rp_metrics_set(mt, "stopped_early", (double)s->stopped_early, err);
    if (!rc) rc = rp_metrics_set(mt, "seconds", seconds, err);
    if (!rc) rc = rel_file(r, mt, r->hist_path, err);
    if (!rc && s->steps.rows) rc = rel_file(r, mt, r->steps_path, err);
    if (!rc) rc = rel_file(r, mt, r->best_path, err);
    if (!rc) rc = rel_file(r, mt, r->last_path, err);
    if (rc) {
        rp_metrics_free(mt);
        return rc;
    }
    *out = mt;
    return RP_OK;
}

static void run_release(run *r) {
    train_dp_free(r->dp);
    rp_model_free(r->hm);
    for (size_t i = 0; i < r->n_hooks; i++)
        if (r->hooks[i].ops->destroy) r->hooks[i].ops->destroy(r->hooks[i].state);
    free(r->hooks);
    rp_scheduler_free(r->sched);
    rp_optimizer_free(r->opt);
    rp_loader_free(r->tl);
    rp_loader_free(r->vl);
    rp_tensor_release(&r->dlogits);
    rp_batch_release(&r->hb);
    rp_st_release(&r->best);
    train_hist_release(&r->s.hist);
    train_steps_release(&r->s.steps);
    train_seg_release(&r->s.acc_seg);
    rp_model_free(r->m);
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* A dataset whose geometry is known must match the model's input. */
static int check_geometry(const rp_model *m, const rp_dataset *ds, rp_error *err) {
    int c = 0, h = 0, w = 0;
    rp_model_input_shape(m, &c, &h, &w);
    if (!ds || !ds->channels || !ds->height || !ds->width || !c) return RP_OK;
    if (ds->channels == c && ds->height == h && ds->width == w) return RP_OK;
    return rp_error_set(err, RP_ERR_INVALID,
                        "the model takes [%d, %d, %d] images but '%s' gives [%d, %d, %d] (set "
                        "in_channels/size of the model, or resize/convert the data with an "
                        "augment stage)",
                        c, h, w, ds->name, ds->channels, ds->height, ds->width);
}

static int setup(run *r, const rp_model *in, rp_error *err) {
    const train_cfg *cfg = r->cfg;
    const train_env *env = r->env;
    int grc = check_geometry(in, r->train, err);
    if (!grc) grc = check_geometry(in, r->val, err);
    if (grc) return grc;
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/checkpoint.safetensors", env->dir);
    snprintf(r->hist_path, sizeof r->hist_path, "%s/history.csv", env->dir);
    snprintf(r->steps_path, sizeof r->steps_path, "%s/steps.csv", env->dir);
    snprintf(r->best_path, sizeof r->best_path, "%s/best.safetensors", env->dir);
    snprintf(r->last_path, sizeof r->last_path, "%s/last.safetensors", env->dir);
    rp_st_init(&r->best);
    int rc = rp_model_clone(in, &r->m, err);
    if (rc) return rc;
    struct rp_loader_opts lo = {0};
    lo.batch_size = (int)cfg->batch_size;
    lo.shuffle = cfg->shuffle;
    lo.drop_last = cfg->drop_last;
    lo.balanced = cfg->balanced;
    lo.workers = cfg->workers;
    lo.prefetch = cfg->prefetch < 1 ? 1 : cfg->prefetch;
    lo.seed = env->seed;
    lo.stream = rp_hash_str(env->stage) ^ rp_hash_str("loader");
    lo.limit = cfg->limit;
    rc = rp_loader_new(r->train, &lo, &r->tl, err);
    if (rc) return rc;
    r->steps_per_epoch = rp_loader_num_batches(r->tl);
    train_steps_init(&r->s.steps, cfg->epochs * (int64_t)r->steps_per_epoch);
    if (r->val) {
        struct rp_loader_opts vo = lo;
        vo.shuffle = 0;
        vo.drop_last = 0;
        vo.balanced = 0;
        vo.stream = rp_hash_str(env->stage) ^ rp_hash_str("val-loader");
        vo.limit = cfg->val_limit;
        rc = rp_loader_new(r->val, &vo, &r->vl, err);
        if (rc) return rc;
    }
    rc = rp_optimizer_new(cfg->optimizer, r->m, &r->opt, err);
    if (rc) return rc;
    if (cfg->scheduler) {
        rc = rp_scheduler_new(cfg->scheduler, r->opt, cfg->epochs, (int64_t)r->steps_per_epoch,
                              &r->sched, err);
        if (rc) return rc;
    }
    rc = create_hooks(r, err);
    if (rc) return rc;
    /* the hooks' fixed model: a copy, so running it never touches the
       store's artifact */
    if (env->hook_model && r->n_hooks && (rc = rp_model_clone(env->hook_model, &r->hm, err)))
        return rc;
    rc = resolve_monitor(r, &r->s.best, cfg->monitor, cfg->mode, 0.0, 0, "monitor", err);
    if (!rc && cfg->early_stopping)
        rc = resolve_monitor(r, &r->s.es, cfg->es_monitor, cfg->es_mode, cfg->min_delta,
                             cfg->patience, "early_stopping", err);
    if (rc) return rc;
    r->fp.epochs = cfg->epochs;
    r->fp.batch_size = cfg->batch_size;
    r->fp.seed = env->seed;
    r->fp.train_size = r->train->size;
    r->fp.limit = cfg->limit;
    r->fp.n_params = rp_model_num_params(r->m);
    rp_rng g;
    rp_rng_for(&g, env->seed, env->stage, "dropout", 0, 0);
    r->dropout_seed = rp_rng_u64(&g);
    r->s.lr = rp_optimizer_lr(r->opt);
    r->s.acc_lr = r->s.lr;
    char load_path[1100];
    snprintf(load_path, sizeof load_path, "%s", r->ckpt_path);
    int exists = env->resuming && file_exists(r->ckpt_path);
    if (env->comm && cfg->data_parallel && (rc = dp_setup(r, load_path, sizeof load_path,
                                                         &exists, err)))
        return rc;
    if (exists) {
        rc = train_ckpt_load(load_path, r->m, cfg->restore_best ? &r->best : NULL, r->opt,
                             r->sched, &r->s, &r->fp, err);
        if (rc && r->dp) {
            /* the other ranks are about to wait for this one in the first
             * reduction: end the job with the error instead */
            rp_log(RP_LOG_ERROR, "%s: rank %d: %s", env->stage, env->comm->rank, err->msg);
            env->comm->abort(env->comm, 1);
        }
        if (rc) return rc;
        r->have_best = r->best.n > 0;
        rp_optimizer_set_lr(r->opt, r->s.lr);
        rp_info("%s: resuming from '%s': %lld of %lld epochs done%s", env->stage, r->ckpt_path,
                (long long)r->s.epochs_done, (long long)cfg->epochs,
                r->s.done ? " (finished)" : "");
    }
    if (r->dp && (rc = train_dp_bcast_state(r->dp, 1, err))) return rc;
    r->s.hist.seg = r->train->task == RP_TASK_SEGMENT;
    return RP_OK;
}

int train_fit(const train_cfg *cfg, const train_env *env, const rp_model *in, const rp_loss *loss,
              const rp_dataset *train, const rp_dataset *val, rp_model **out_model,
              rp_metrics **out_metrics, rp_error *err) {
    *out_model = NULL;
    *out_metrics = NULL;
    run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.env = env;
    r.loss = loss;
    r.train = train;
    r.val = val;
    int rc = setup(&r, in, err);
    for (int64_t epoch = r.s.epochs_done; !rc && !r.s.done && epoch < cfg->epochs; epoch++) {
        double lr_epoch = r.s.batch_in_epoch ? r.s.acc_lr : rp_optimizer_lr(r.opt);
        r.s.acc_lr = lr_epoch;
        rc = train_epoch(&r, epoch, err);
        if (!rc) rc = end_epoch(&r, epoch, lr_epoch, err);
        if (!rc && !r.s.done && cfg->stop_after_epoch == epoch + 1)
            rc = interrupted(&r, "stop_after_epoch", err);
        else if (!rc && !r.s.done && any_interrupted(&r))
            rc = interrupted(&r, "interrupted (SIGINT)", err);
    }
    if (!rc && r.dp && env->comm->rank == 0) {
        size_t nb;
        double bytes, wait, comm;
        train_dp_stats(r.dp, &nb, &bytes, &wait, &comm);
        rp_info("%s: data-parallel: %zu gradient bucket%s, %.2f MB summed per step; per step "
                "%.1f ms from the first bucket's start to the end of the reduction, %.1f ms "
                "of it waiting after the backward",
                env->stage, nb, nb == 1 ? "" : "s", bytes / 1e6, comm * 1e3, wait * 1e3);
    }
    if (!rc) rc = rp_model_save(r.m, r.last_path, err);
    if (!rc && cfg->restore_best && r.have_best) {
        rc = train_weights_from_st(r.m, &r.best, "", "best weights", err);
        if (!rc)
            rp_info("%s: restored the best weights (epoch %lld, %s %.4f)", env->stage,
                    (long long)r.s.best.best_epoch, train_monitor_name(&r.s.best), r.s.best.best);
    }
    if (!rc) rc = make_metrics(&r, out_metrics, err);
    if (!rc) {
        rp_model_set_training(r.m, 0);
        *out_model = r.m;
        r.m = NULL;
    }
    run_release(&r);
    return rc;
}
