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

#include "loop.h"

/* ---- helpers ---------------------------------------------------------------- */

static rp_tensor batch_view(const rp_batch *b) {
    rp_tensor v = b->x;
    v.owns = 0;
    size_t per = 1;
    for (int d = 1; d < v.ndim; d++)
        per *= (size_t)v.shape[d];
    v.shape[0] = b->n;
    v.numel = per * (size_t)b->n;
    return v;
}

/* Correct predictions and counted targets: argmax over classes of [N, C] or
 * per pixel of [N, C, H, W]; targets < 0 are ignored. */
static void count_correct(const rp_tensor *y, const int32_t *target, double *correct,
                          double *count) {
    int64_t n = y->shape[0], c = y->ndim > 1 ? y->shape[1] : 1, hw = 1;
    for (int d = 2; d < y->ndim; d++)
        hw *= y->shape[d];
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

static const int32_t *batch_target(const rp_batch *b) {
    return b->masks ? b->masks : b->labels;
}

static int copy_batch(rp_batch *dst, const rp_batch *src, rp_error *err) {
    int64_t c = src->x.shape[1], h = src->x.shape[2], w = src->x.shape[3];
    int rc = rp_batch_reserve(dst, src->n, c, h, w, src->masks != NULL, err);
    if (rc) return rc;
    size_t per = (size_t)(c * h * w);
    memcpy(dst->x.data, src->x.data, per * (size_t)src->n * sizeof(float));
    memcpy(dst->labels, src->labels, (size_t)src->n * sizeof(int32_t));
    if (src->masks) memcpy(dst->masks, src->masks, (size_t)(src->n * h * w) * sizeof(int32_t));
    memcpy(dst->indices, src->indices, (size_t)src->n * sizeof(uint64_t));
    dst->n = src->n;
    return RP_OK;
}

/* Forward + loss (+ dlogits when training) on one batch; pixel counts into
 * `seg` when the batch has masks. */
static int forward_loss(train_run *r, const rp_batch *b, int training, double *lv, double *correct,
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

static int save_checkpoint(train_run *r, rp_error *err) {
    if (!r->cfg->checkpoint) return RP_OK;
    if (r->dp && r->env->comm->rank != 0) return RP_OK; /* rank 0 writes it */
    return train_ckpt_save(r->ckpt_path, r->m, r->cfg->restore_best ? &r->best : NULL, r->opt,
                           r->sched, &r->s, &r->fp, err);
}

static int interrupted(train_run *r, const char *why, rp_error *err) {
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
    for (int d = 1; d < b->x.ndim; d++)
        per *= (size_t)b->x.shape[d];
    for (int d = 2; d < b->x.ndim; d++)
        hw *= (size_t)b->x.shape[d];
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
static void my_rows(const train_run *r, int sharded, const rp_loader *l, const rp_batch *bt,
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
static int dp_sum_seg(train_run *r, train_seg *local, train_seg *acc, double classes,
                      rp_error *err) {
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
    for (int k = 0; k < 3 * c && k < 3 * acc->c; k++)
        acc->v[k] += local->v[k];
    return RP_OK;
}

/* Forward + loss on this rank's shard, then the step's statistics summed
 * over the ranks before anything else: every rank sees the same global loss
 * (a NaN anywhere stops all), the same failure flag and the same interrupt,
 * so no rank waits in a reduction the others never start. *lv is the loss
 * of the global batch; accuracy counts go into the epoch's totals. */
static int dp_forward(train_run *r, const rp_batch *bt, double *lv, rp_error *err) {
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
    double v[8] = {hi > lo ? llv * (double)(hi - lo) : 0,
                   (double)(hi - lo),
                   correct,
                   count,
                   rc != RP_OK,
                   rp_interrupted(),
                   seg.c,
                   seg.v != NULL};
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

static int dp_backward(train_run *r, const rp_batch *bt, rp_error *err) {
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

static int train_epoch(train_run *r, int64_t epoch, rp_error *err) {
    const train_cfg *cfg = r->cfg;
    train_state *s = &r->s;
    int rc = rp_loader_start(r->tl, (uint64_t)epoch, err);
    if (rc) return rc;
    rp_model_set_training(r->m, 1);
    char label[64], suffix[96];
    snprintf(label, sizeof label, "epoch %lld/%lld", (long long)epoch + 1, (long long)cfg->epochs);
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
                rp_hook_ctx ctx = {r->m,
                                   r->loss,
                                   &r->hb,
                                   r->env->seed,
                                   (uint64_t)epoch,
                                   (uint64_t)s->global_step,
                                   (uint64_t)cfg->epochs,
                                   r->env->stage,
                                   r->hm};
                rc = r->hooks[k].ops->on_batch(r->hooks[k].state, &ctx, err);
                if (rc)
                    rp_error_prefix(err,
                                    "batch hook '%s' (epoch %lld, step %lld): ", r->hooks[k].name,
                                    (long long)epoch + 1, (long long)b + 1);
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
                          (long long)epoch + 1, r->train->name, (unsigned long long)r->train->size,
                          (long long)cfg->batch_size, cfg->drop_last ? "true" : "false");
    return rc;
}

static int validate(train_run *r, double *loss, double *acc, double *miou, double *dice,
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

static int remember_best(train_run *r, rp_error *err) {
    int rc = rp_model_save(r->m, r->best_path, err);
    if (rc || !r->cfg->restore_best) return rc;
    rp_st_release(&r->best);
    rp_st_init(&r->best);
    r->have_best = 1;
    return train_weights_to_st(r->m, &r->best, "", err);
}

static int end_epoch(train_run *r, int64_t epoch, double lr_epoch, rp_error *err) {
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
                           NAN,
                           NAN,
                           vmiou,
                           vdice};
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
                r->env->stage, (long long)epoch + 1, train_monitor_name(&s->es), s->es.min_delta,
                (long long)s->es.patience, s->es.best, (long long)s->es.best_epoch);
    return RP_OK;
}

/* ---- the loop ------------------------------------------------------------------------ */

/* SIGINT here, or (data-parallel) on any rank. */
static int any_interrupted(train_run *r) {
    double v = rp_interrupted();
    rp_error e;
    rp_error_clear(&e);
    if (r->dp && train_dp_sum(r->dp, &v, 1, &e) != RP_OK) rp_warn("%s", e.msg);
    return v > 0;
}

int train_fit(const train_cfg *cfg, const train_env *env, const rp_model *in, const rp_loss *loss,
              const rp_dataset *train, const rp_dataset *val, rp_model **out_model,
              rp_metrics **out_metrics, rp_error *err) {
    *out_model = NULL;
    *out_metrics = NULL;
    train_run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.env = env;
    r.loss = loss;
    r.train = train;
    r.val = val;
    int rc = train_run_setup(&r, in, err);
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
    if (!rc) rc = train_run_metrics(&r, out_metrics, err);
    if (!rc) {
        rp_model_set_training(r.m, 0);
        *out_model = r.m;
        r.m = NULL;
    }
    train_run_release(&r);
    return rc;
}
