/* Allocation-failure injection in the style of SQLite's malloc tests: this
 * binary links the engine's objects statically with
 * -Wl,--wrap=malloc,calloc,realloc,free,posix_memalign,strdup,strndup, so
 * every allocation the engine makes goes through the wrappers of sweep.c. For
 * each operation (loading a pipeline's config, building models, one training
 * step) the sweep runs it with the N-th allocation failing, for N = 1, 2, ...
 * until a run injects nothing, and checks every time that
 *   - the operation reports an error, or succeeds with exactly the result
 *     of the run without failures (an allocation whose failure does not
 *     matter, e.g. a tentative diagnostic that is discarded anyway) -
 *     never a different result from a swallowed failure, never a crash, and
 *   - every block the engine allocated during the run was freed (the
 *     wrappers keep the set of live blocks: no leak on any error path).
 * Under `make asan` the same sweep also runs under ASan/LSan/UBSan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/config.h"
#include "config/diag.h"
#include "oom/sweep.h"

static uint64_t node_digest(uint64_t h, const rp_node *n) {
    if (!n) return oom_mix(h, "~", 1);
    h = oom_mix(h, &n->kind, sizeof n->kind);
    if (n->str) h = oom_mix(h, n->str, strlen(n->str) + 1);
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys) h = node_digest(h, n->keys[i]);
        h = node_digest(h, n->items[i]);
    }
    return h;
}

static uint64_t model_digest(rp_model *m) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(m, i);
        h = oom_mix(h, p->name, strlen(p->name) + 1);
        h = oom_mix(h, p->value->shape, sizeof p->value->shape[0] * (size_t)p->value->ndim);
        h = oom_mix(h, p->value->data, p->value->numel * sizeof(float));
    }
    return h;
}


/* ---- operations ------------------------------------------------------------- */

static char *pipeline_text, *sweep_text;

static int load_config(const char *text, char *msg, size_t n, uint64_t *digest) {
    struct rp_config_opts o;
    memset(&o, 0, sizeof o);
    const char *sets[1] = {"vars.epochs=2"};
    o.sets = sets;
    o.n_sets = 1;
    rp_diag d;
    rp_diag_init(&d);
    rp_config *cfg = NULL;
    int rc = rp_config_load_string(text, "sweep.yaml", &o, &cfg, &d);
    if (rc) {
        char *r = rp_diag_render(&d, 0);
        snprintf(msg, n, "%s", r ? r : "(no diagnostic)");
        if (!r) snprintf(msg, n, "status %d, diagnostics could not be rendered", rc);
        free(r);
    }
    if (!rc) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < cfg->n_cells; i++) h = node_digest(h, cfg->cells[i].doc);
        *digest = oom_mix(h, cfg->name, strlen(cfg->name));
    }
    rp_config_free(cfg);
    rp_diag_release(&d);
    return rc;
}

static int op_config(char *msg, size_t n, uint64_t *d) { return load_config(pipeline_text, msg, n, d); }
static int op_config_matrix(char *msg, size_t n, uint64_t *d) { return load_config(sweep_text, msg, n, d); }

static int build(const char *arch, const char *opts, char *msg, size_t n, rp_model **out, uint64_t *digest) {
    rp_error err;
    rp_error_clear(&err);
    rp_node *o = NULL;
    int rc = opts ? rp_node_parse_string(opts, "<opts>", &o, &err) : 0;
    rp_model *m = NULL;
    if (!rc) rc = rp_model_build(arch, o, &m, &err);
    if (!rc) rc = rp_model_init_params(m, 3, &err);
    rp_node_free(o);
    if (rc) {
        snprintf(msg, n, "%s", err.msg);
        rp_model_free(m);
        m = NULL;
    }
    if (m && digest) *digest = model_digest(m);
    if (out) *out = m;
    else rp_model_free(m);
    return rc;
}

static int op_build_mnist(char *msg, size_t n, uint64_t *d) { return build("mnist_cnn", NULL, msg, n, NULL, d); }
static int op_build_resnet(char *msg, size_t n, uint64_t *d) {
    return build("resnet20", "{classes: 10}", msg, n, NULL, d);
}

static int op_layers(char *msg, size_t n, uint64_t *digest) {
    rp_error err;
    rp_node *l = NULL;
    rp_model *m = NULL;
    int rc = rp_node_parse_string("[{conv2d: {out: 4, kernel: 3, padding: 1}}, {batchnorm2d: {}}, {relu: {}},"
                                  " {maxpool2d: {kernel: 2}}, {flatten: {}}, {dropout: {p: 0.1}}, {linear: {out: 3}}]",
                                  "<layers>", &l, &err);
    if (!rc) rc = rp_model_from_layers(l, 1, 8, 8, &m, &err);
    if (!rc) rc = rp_model_init_params(m, 1, &err);
    if (rc) snprintf(msg, n, "%s", err.msg);
    else *digest = model_digest(m);
    rp_model_free(m);
    rp_node_free(l);
    return rc;
}

/* One SGD step with momentum on mnist_cnn: forward, d(loss)/d(logits) of a
 * squared error, backward, optimizer step. */
static int op_train_step(char *msg, size_t n, uint64_t *digest) {
    rp_error err;
    rp_error_clear(&err);
    rp_model *m = NULL;
    rp_tensor *x = NULL, *dy = NULL;
    rp_optimizer *opt = NULL;
    rp_node *spec = NULL, *p = NULL, *vp = NULL;
    int rc = build("mnist_cnn", NULL, msg, n, &m, NULL);
    if (rc) return rc;
    rc = rp_tensor_new4(&x, 2, 1, 28, 28, &err);
    for (size_t i = 0; !rc && i < x->numel; i++) x->data[i] = (float)((i * 37) % 101) / 101.0f;
    if (!rc) rc = rp_node_parse_string("{lr: 0.01, momentum: 0.9}", "<opt>", &p, &err);
    if (!rc) rc = rp_component_params(RP_COMP_OPTIMIZER, "sgd", p, &vp, &err);
    if (!rc) {
        spec = rp_node_new_map();
        if (!spec) rc = rp_error_set(&err, RP_ERR_NOMEM, "out of memory");
        else {
            rc = rp_node_map_set(spec, "sgd", vp); /* takes vp, even when it fails */
            vp = NULL;
            if (rc) rp_error_set(&err, rc, "out of memory");
        }
    }
    if (!rc) rc = rp_optimizer_new(spec, m, &opt, &err);
    if (!rc) rp_model_set_training(m, 1);
    const rp_tensor *y = NULL;
    if (!rc) rc = rp_model_forward(m, x, &y, &err);
    if (!rc) rc = rp_tensor_new(&dy, y->ndim, y->shape, &err);
    for (size_t i = 0; !rc && i < dy->numel; i++) dy->data[i] = y->data[i] - (i % 10 == 3);
    if (!rc) rp_model_zero_grad(m);
    if (!rc) rc = rp_model_backward(m, dy, &err);
    if (!rc) rc = rp_optimizer_step(opt, &err);
    if (rc) snprintf(msg, n, "%s", err.msg[0] ? err.msg : "(no message)");
    else *digest = model_digest(m);
    rp_optimizer_free(opt);
    rp_tensor_free(x);
    rp_tensor_free(dy);
    rp_node_free(spec);
    rp_node_free(p);
    rp_node_free(vp);
    rp_model_free(m);
    return rc;
}

static void test_config(void **state) {
    (void)state;
    if (getenv("RP_OOM_ONLY") && strcmp(getenv("RP_OOM_ONLY"), "config")) skip();
    oom_sweep("config load (pipelines/quickstart.yaml + --set)", op_config, 1);
    oom_sweep("config load (tests/fixtures/config/sweep.yaml: vars, matrix of 6 cells)", op_config_matrix, 1);
}
static void test_build(void **state) {
    (void)state;
    if (getenv("RP_OOM_ONLY") && strcmp(getenv("RP_OOM_ONLY"), "build")) skip();
    oom_sweep("model build (layers list)", op_layers, 1);
    oom_sweep("model build (mnist_cnn)", op_build_mnist, 1);
    oom_sweep("model build (resnet20)", op_build_resnet, 1);
}
static void test_train_step(void **state) {
    (void)state;
    if (getenv("RP_OOM_ONLY") && strcmp(getenv("RP_OOM_ONLY"), "train")) skip();
    oom_sweep("one training step (mnist_cnn, SGD)", op_train_step, 1);
}

/* RP_OOM_ONLY=config|build|train runs one sweep; RP_OOM_TRACE=N prints where
 * allocation N of each run fails (a backtrace). */
int main(void) {
    rp_log_set_level(RP_LOG_ERROR);
    rp_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s/pipelines/quickstart.yaml", rp_test_src());
    if (rp_read_file(path, &pipeline_text, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    snprintf(path, sizeof path, "%s/tests/fixtures/config/sweep.yaml", rp_test_src());
    if (rp_read_file(path, &sweep_text, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_train_step),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(pipeline_text);
    free(sweep_text);
    return rc;
}
