/* train_fit's set-up (loaders, optimizer, scheduler, batch hooks, monitors,
 * data-parallel wiring, resuming from the checkpoint) and its results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

static int create_hooks(train_run *r, rp_error *err) {
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
        train_hook *hk = &r->hooks[r->n_hooks];
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

/* Data-parallel set-up: buckets and the hook; under --resume every rank
 * continues from rank 0's checkpoint (the others write none), whose path
 * rank 0 sends; rank 0's weights to all (identical already unless resumed). */
static int dp_setup(train_run *r, char *load_path, size_t n, int *exists, rp_error *err) {
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

static int resolve_monitor(train_run *r, train_monitor *m, const char *name, const char *mode,
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

static int rel_file(const train_run *r, rp_metrics *mt, const char *path, rp_error *err) {
    const char *rd = r->env->rundir;
    size_t n = rd ? strlen(rd) : 0;
    const char *rel = path;
    if (n && !strncmp(path, rd, n) && path[n] == '/') rel = path + n + 1;
    return rp_metrics_add_file(mt, rel, err);
}

int train_run_metrics(train_run *r, rp_metrics **out, rp_error *err) {
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
    for (size_t i = 0; i < s->hist.rows; i++)
        seconds += s->hist.v[i * H_NCOLS + H_SECONDS];
    rp_table *stt =
        rc ? NULL
           : rp_metrics_add_table(mt, "steps", s->steps.rows, S_NCOLS, train_steps_cols, NULL, err);
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

void train_run_release(train_run *r) {
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

int train_run_setup(train_run *r, const rp_model *in, rp_error *err) {
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
    rp_model_set_winograd(r->m, cfg->winograd);
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
    if (env->comm && cfg->data_parallel &&
        (rc = dp_setup(r, load_path, sizeof load_path, &exists, err)))
        return rc;
    if (exists) {
        rc = train_ckpt_load(load_path, r->m, cfg->restore_best ? &r->best : NULL, r->opt, r->sched,
                             &r->s, &r->fp, err);
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
