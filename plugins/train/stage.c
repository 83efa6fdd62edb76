/* Stage `train`: reads its validated params (schemas/train.yaml) and inputs,
 * runs train_fit (loop.c) and hands the trained clone and its metrics to the
 * store. */
#include <stdio.h>
#include <string.h>

#include "train.h"

static int present(const rp_node *n) { return n && n->kind != RP_NODE_NULL; }

static void copy_str(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

int train_cfg_parse(const rp_node *p, train_cfg *cfg, rp_error *err) {
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = rp_param_int(p, "epochs");
    cfg->batch_size = rp_param_int(p, "batch_size");
    cfg->optimizer = rp_node_get(p, "optimizer");
    cfg->scheduler = present(rp_node_get(p, "scheduler")) ? rp_node_get(p, "scheduler") : NULL;
    cfg->hooks = present(rp_node_get(p, "hooks")) ? rp_node_get(p, "hooks") : NULL;
    cfg->workers = (int)rp_param_int(p, "workers");
    cfg->prefetch = (int)rp_param_int(p, "prefetch");
    cfg->shuffle = rp_param_bool(p, "shuffle");
    cfg->drop_last = rp_param_bool(p, "drop_last");
    cfg->balanced = rp_param_bool(p, "balanced");
    cfg->limit = (uint64_t)rp_param_int(p, "limit");
    cfg->val_limit = (uint64_t)rp_param_int(p, "val_limit");
    copy_str(cfg->monitor, sizeof cfg->monitor, rp_param_str(p, "monitor"));
    copy_str(cfg->mode, sizeof cfg->mode, rp_param_str(p, "mode"));
    const rp_node *es = rp_node_get(p, "early_stopping");
    if (present(es) && es->kind == RP_NODE_MAP) {
        cfg->early_stopping = 1;
        /* unset: the same monitor (and mode) as the best checkpoint */
        copy_str(cfg->es_monitor, sizeof cfg->es_monitor,
                 rp_param_has(es, "monitor") ? rp_param_str(es, "monitor") : cfg->monitor);
        copy_str(cfg->es_mode, sizeof cfg->es_mode,
                 rp_param_has(es, "mode") ? rp_param_str(es, "mode") : cfg->mode);
        cfg->patience = rp_param_int(es, "patience");
        cfg->min_delta = rp_param_double(es, "min_delta");
    }
    cfg->restore_best = rp_param_bool(p, "restore_best");
    const char *log = rp_param_str(p, "log");
    cfg->log_format = !strcmp(log, "bracket") ? TRAIN_LOG_BRACKET : TRAIN_LOG_STANDARD;
    cfg->checkpoint = rp_param_bool(p, "checkpoint");
    cfg->stop_after_epoch = rp_param_int(p, "stop_after_epoch");
    cfg->data_parallel = strcmp(rp_param_str(p, "distributed"), "none") != 0;
    cfg->bucket_mb = rp_param_double(p, "bucket_mb");
    cfg->sync_bn = rp_param_bool(p, "sync_bn");
    cfg->winograd = rp_param_bool(p, "winograd");
    if (cfg->epochs < 1)
        return rp_error_at(err, rp_node_get(p, "epochs"), RP_ERR_INVALID,
                           "'epochs': expected >= 1");
    if (cfg->batch_size < 1)
        return rp_error_at(err, rp_node_get(p, "batch_size"), RP_ERR_INVALID,
                           "'batch_size': expected >= 1");
    if (!present(cfg->optimizer))
        return rp_error_at(err, p, RP_ERR_INVALID,
                           "missing 'optimizer' (e.g. {adam: {lr: 0.001}})");
    if (cfg->early_stopping && cfg->patience < 1)
        return rp_error_at(err, rp_node_get(es, "patience"), RP_ERR_INVALID,
                           "'early_stopping.patience': expected >= 1");
    return RP_OK;
}

int train_stage_run(rp_stage *st, rp_error *err) {
    train_cfg cfg;
    int rc = train_cfg_parse(rp_stage_params(st), &cfg, err);
    if (rc) return rc;
    const rp_model *model = rp_stage_input(st, "model");
    const rp_loss *loss = rp_stage_input(st, "loss");
    const rp_dataset *train = rp_stage_input(st, "train");
    const rp_dataset *val = rp_stage_input(st, "val");
    if (!model || !loss || !train)
        return rp_error_set(err, RP_ERR_INTERNAL, "inputs model, loss and train must be wired");
    const char *dir = NULL;
    rc = rp_stage_dir(st, &dir, err);
    if (rc) return rc;
    train_env env = {rp_stage_seed(st), rp_stage_id(st), dir, rp_stage_rundir(st),
                     rp_stage_resuming(st), rp_stage_input(st, "hook_model"),
                     rp_stage_comm(st)};
    rp_model *out = NULL;
    rp_metrics *metrics = NULL;
    rc = train_fit(&cfg, &env, model, loss, train, val, &out, &metrics, err);
    if (rc) return rc;
    double v;
    if (rp_metrics_get(metrics, "epochs_run", &v)) rp_stage_note(st, "epochs_run", v);
    if (rp_metrics_get(metrics, "best_epoch", &v)) rp_stage_note(st, "best_epoch", v);
    rc = rp_stage_output(st, "model", out, err);
    if (rc) {
        rp_metrics_free(metrics);
        return rc;
    }
    return rp_stage_output(st, "metrics", metrics, err);
}

/* ---- stage declaration ---- */
static const struct rp_port train_inputs[] = {
    {"model", RP_ART_MODEL, 0, "the model to train (left as is: the stage trains a copy)"},
    {"loss", RP_ART_LOSS, 0, "the training loss (from a `loss` stage)"},
    {"train", RP_ART_DATASET, 0, "training set"},
    {"val", RP_ART_DATASET, RP_PORT_OPTIONAL,
     "validation set, evaluated after every epoch (early stopping, best checkpoint)"},
    {"hook_model", RP_ART_MODEL, RP_PORT_OPTIONAL,
     "a fixed model the batch hooks may use (cam_erasing's `cam_model: input`: CAMs from a "
     "separately trained model); the hooks get a copy"},
};
static const struct rp_port train_outputs[] = {
    {"model", RP_ART_MODEL, 0, "the trained model (the best epoch's with restore_best)"},
    {"metrics", RP_ART_METRICS, 0,
     "history table (epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds), final "
     "scalars, files history.csv, best.safetensors, last.safetensors"},
};
static const struct rp_stage_def train_stage = {"train",
     "train a model: optimizer, scheduler, validation, early stopping, checkpoints, resume",
     train_inputs, RP_COUNT(train_inputs), train_outputs, RP_COUNT(train_outputs), train_stage_run, RP_STAGE_CACHEABLE, NULL};
RP_STAGE(train_stage)
