/* The train stage's checkpoint (plugins/train/checkpoint.c): the input is
 * checkpoint.safetensors, restored into a small model (6x6 grey ->
 * linear 4 -> relu -> linear 3) with SGD + momentum and a step scheduler,
 * for a run of 4 epochs of 20 samples in batches of 8. `--gen DIR` writes a
 * real checkpoint of that run as the seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../plugins/train/train.h"
#include "../fuzz.h"

static rp_model *model;
static rp_optimizer *opt;
static rp_scheduler *sched;
static const train_fingerprint fp = {4, 8, 7, 20, 0, 0};

static rp_node *component(int kind, const char *name, const char *params) {
    rp_error err;
    rp_node *p = NULL, *vp = NULL;
    if (rp_node_parse_string(params, "<fuzz>", &p, &err) ||
        rp_component_params(kind, name, p, &vp, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    rp_node_free(p);
    rp_node *m = rp_node_new_map();
    rp_node_map_set(m, name, vp);
    return m;
}

static void setup(void) {
    if (model) return;
    rp_error err;
    rp_node *layers = NULL;
    if (rp_node_parse_string("[{flatten: {}}, {linear: {out: 4}}, {relu: {}}, {linear: {out: 3}}]",
                             "<fuzz>", &layers, &err) ||
        rp_model_from_layers(layers, 1, 6, 6, &model, &err) ||
        rp_model_init_params(model, 5, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    rp_node_free(layers);
    rp_node *o = component(RP_COMP_OPTIMIZER, "sgd", "{lr: 0.1, momentum: 0.9}");
    rp_node *s = component(RP_COMP_SCHEDULER, "step", "{step_size: 2, gamma: 0.5}");
    if (rp_optimizer_new(o, model, &opt, &err) || rp_scheduler_new(s, opt, 4, 3, &sched, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    rp_node_free(o);
    rp_node_free(s);
}

int fuzz_one(const uint8_t *data, size_t n, char *msg, size_t msz) {
    setup();
    const char *p = fuzz_path("checkpoint.safetensors");
    fuzz_write(p, data, n);
    train_state s;
    memset(&s, 0, sizeof s);
    rp_st best;
    rp_st_init(&best);
    train_fingerprint f = fp;
    f.n_params = rp_model_num_params(model);
    rp_error err;
    int rc = train_ckpt_load(p, model, &best, opt, sched, &s, &f, &err);
    if (rc) snprintf(msg, msz, "%s", err.msg);
    rp_st_release(&best);
    train_hist_release(&s.hist);
    train_seg_release(&s.acc_seg);
    return rc;
}

int fuzz_gen_seeds(const char *dir) {
    setup();
    train_state s;
    memset(&s, 0, sizeof s);
    s.epochs_done = 1;
    s.global_step = 4;
    s.batch_in_epoch = 1;
    s.lr = 0.1;
    s.best.best = 0.5;
    s.best.best_epoch = 1;
    s.es.best = NAN;
    s.acc_loss = 1.25;
    s.acc_samples = 8;
    s.acc_count = 8;
    s.acc_correct = 3;
    s.acc_lr = 0.1;
    train_fingerprint f = fp;
    f.n_params = rp_model_num_params(model);
    rp_st best;
    rp_st_init(&best);
    rp_error err;
    int rc = train_weights_to_st(model, &best, "", &err);
    char path[1024];
    snprintf(path, sizeof path, "%s/seed.safetensors", dir);
    if (!rc) rc = train_ckpt_save(path, model, &best, opt, sched, &s, &f, &err);
    rp_st_release(&best);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}
