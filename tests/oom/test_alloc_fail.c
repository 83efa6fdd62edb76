/* Allocation-failure injection in the style of SQLite's malloc tests: this
 * binary links the engine's objects statically with
 * -Wl,--wrap=malloc,calloc,realloc,free,posix_memalign,strdup,strndup, so
 * every allocation the engine makes goes through the wrappers below. For
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
#include <execinfo.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/config.h"
#include "config/diag.h"

/* ---- the wrappers ----------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long armed_count;  /* allocations seen while armed */
static long fail_at;      /* fail this one (1-based), 0 = never */
static int armed, injected;

/* live blocks: open addressing (pointer -> 1), tombstones on free */
#define SET_BITS 20
#define SET_N (1u << SET_BITS)
static void **set;
static long live;
#define TOMB ((void *)1)

static size_t slot_of(void *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> (64 - SET_BITS)); }

static void set_add(void *p) {
    if (!set) set = __real_calloc(SET_N, sizeof *set);
    for (size_t i = slot_of(p);; i = (i + 1) & (SET_N - 1))
        if (!set[i] || set[i] == TOMB) {
            set[i] = p;
            live++;
            return;
        }
}

static void set_del(void *p) {
    if (!set) return;
    for (size_t i = slot_of(p); set[i]; i = (i + 1) & (SET_N - 1))
        if (set[i] == p) {
            set[i] = TOMB;
            live--;
            return;
        }
    /* not ours (allocated inside a shared library): ignored */
}

/* 1 when this allocation must fail */
static int should_fail(void) {
    if (!armed) return 0;
    armed_count++;
    if (fail_at && armed_count == fail_at) {
        injected = 1;
        const char *t = getenv("RP_OOM_TRACE");
        if (t && atol(t) == fail_at) { /* where the failing allocation is made */
            void *bt[16];
            backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
        }
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) {
    pthread_mutex_lock(&lock);
    void *p = should_fail() ? NULL : __real_malloc(n);
    if (p) set_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_calloc(size_t k, size_t n) {
    pthread_mutex_lock(&lock);
    void *p = should_fail() ? NULL : __real_calloc(k, n);
    if (p) set_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_realloc(void *q, size_t n) {
    pthread_mutex_lock(&lock);
    void *p = should_fail() ? NULL : __real_realloc(q, n);
    if (p) {
        if (q) set_del(q);
        set_add(p);
    }
    pthread_mutex_unlock(&lock);
    return p;
}

void __wrap_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&lock);
    set_del(p);
    pthread_mutex_unlock(&lock);
    __real_free(p);
}

int __wrap_posix_memalign(void **out, size_t a, size_t n) {
    pthread_mutex_lock(&lock);
    int rc = should_fail() ? 12 /* ENOMEM */ : __real_posix_memalign(out, a, n);
    if (!rc) set_add(*out);
    pthread_mutex_unlock(&lock);
    return rc;
}

char *__wrap_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n) {
    size_t l = strnlen(s, n);
    char *p = __wrap_malloc(l + 1);
    if (p) {
        memcpy(p, s, l);
        p[l] = 0;
    }
    return p;
}

/* ---- the sweep -------------------------------------------------------------- */

/* An operation: returns its status, a digest of its result (on success)
 * and frees everything it made. */
typedef int (*op_fn)(char *msg, size_t n, uint64_t *digest);

static uint64_t mix(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

static uint64_t node_digest(uint64_t h, const rp_node *n) {
    if (!n) return mix(h, "~", 1);
    h = mix(h, &n->kind, sizeof n->kind);
    if (n->str) h = mix(h, n->str, strlen(n->str) + 1);
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
        h = mix(h, p->name, strlen(p->name) + 1);
        h = mix(h, p->value->shape, sizeof p->value->shape[0] * (size_t)p->value->ndim);
        h = mix(h, p->value->data, p->value->numel * sizeof(float));
    }
    return h;
}

static void sweep(const char *what, op_fn op) {
    char msg[2048];
    /* a first run fills what the engine keeps for the process (schemas read
     * once, registry, per-thread scratch): not a leak */
    uint64_t want = 0, got = 0;
    if (op(msg, sizeof msg, &want)) fail_msg("%s: fails without an injected failure: %s", what, msg);
    /* once more without failures: it must succeed and free all it made */
    pthread_mutex_lock(&lock);
    long base = live;
    armed = 1, armed_count = 0, fail_at = 0, injected = 0;
    pthread_mutex_unlock(&lock);
    msg[0] = 0;
    int rc = op(msg, sizeof msg, &got);
    armed = 0;
    if (rc) fail_msg("%s: fails without an injected failure: %s", what, msg);
    if (got != want) fail_msg("%s: two runs without failures differ", what);
    long total = armed_count;
    if (live != base) fail_msg("%s: %ld blocks leaked without a failure", what, live - base);
    long errors = 0, problems = 0, tolerated = 0;
    for (long n = 1;; n++) {
        pthread_mutex_lock(&lock);
        base = live;
        armed = 1, armed_count = 0, fail_at = n, injected = 0;
        pthread_mutex_unlock(&lock);
        msg[0] = 0;
        got = 0;
        rc = op(msg, sizeof msg, &got);
        pthread_mutex_lock(&lock);
        armed = 0;
        int inj = injected;
        long leaked = live - base;
        pthread_mutex_unlock(&lock);
        if (!inj) break; /* past the last allocation */
        const char *bad = leaked            ? "leaks"
                          : rc == 0 && got != want ? "succeeds with another result"
                          : rc != 0 && !msg[0]  ? "gives no message"
                                                : NULL;
        if (bad) {
            if (++problems <= 40)
                printf("%s: allocation %ld of %ld failing: %s (%ld blocks; status %d: %.200s)\n", what, n, total,
                       bad, leaked, rc, msg);
            continue;
        }
        if (rc) errors++;
        else tolerated++;
    }
    if (problems) fail_msg("%s: %ld of %ld allocation failures mishandled", what, problems, total);
    printf("%s: %ld allocations: each failing one gives an error (%ld) or the same result (%ld), no leak\n", what,
           total, errors, tolerated);
    assert_int_equal(errors + tolerated, total);
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
        *digest = mix(h, cfg->name, strlen(cfg->name));
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
    sweep("config load (pipelines/quickstart.yaml + --set)", op_config);
    sweep("config load (tests/fixtures/config/sweep.yaml: vars, matrix of 6 cells)", op_config_matrix);
}
static void test_build(void **state) {
    (void)state;
    if (getenv("RP_OOM_ONLY") && strcmp(getenv("RP_OOM_ONLY"), "build")) skip();
    sweep("model build (layers list)", op_layers);
    sweep("model build (mnist_cnn)", op_build_mnist);
    sweep("model build (resnet20)", op_build_resnet);
}
static void test_train_step(void **state) {
    (void)state;
    if (getenv("RP_OOM_ONLY") && strcmp(getenv("RP_OOM_ONLY"), "train")) skip();
    sweep("one training step (mnist_cnn, SGD)", op_train_step);
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
