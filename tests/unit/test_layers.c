/* Registry-driven gradient check of every registered layer (DESIGN §7 ★):
 * for each layer's example options and input shapes, compare the analytic
 * input and parameter gradients of f = sum(out * R) (R fixed random) with
 * central differences. BN runs in training mode, dropout with a fixed mask
 * (same seed and step for every evaluation). A new layer is covered by
 * registering it with example_opts / example_inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config/schema.h"
#include "host/registry.h"

#define EPS 1e-3
#define RTOL 1e-2
#define ATOL 2e-3

typedef struct gc {
    const struct rp_layer_ops *ops;
    rp_layer l;
    int n_in;
    rp_tensor *in[RP_MAX_LAYER_INPUTS];
    rp_tensor *din[RP_MAX_LAYER_INPUTS];
    rp_tensor *out, *r;
    rp_run_ctx ctx;
} gc;

static int parse_shapes(const char *s, rp_tensor **in, int *n_in) {
    *n_in = 0;
    while (*s) {
        while (*s == ';' || *s == ' ') s++;
        if (*s != '[') return -1;
        s++;
        int64_t shape[RP_MAX_DIMS];
        int nd = 0;
        while (*s && *s != ']') {
            char *e;
            shape[nd++] = strtoll(s, &e, 10);
            s = e;
            while (*s == ',' || *s == ' ') s++;
        }
        if (*s != ']') return -1;
        s++;
        if (rp_tensor_new(&in[*n_in], nd, shape, NULL)) return -1;
        (*n_in)++;
    }
    return 0;
}

static double f_eval(gc *g) {
    rp_error err;
    if (g->ops->forward(&g->l, &g->ctx, g->n_in, (const rp_tensor *const *)g->in, g->out, &err))
        fail_msg("%s forward failed: %s", g->l.name, err.msg);
    double s = 0;
    for (size_t i = 0; i < g->out->numel; i++) s += (double)g->out->data[i] * g->r->data[i];
    return s;
}

/* Returns the number of mismatching derivatives; prints the first few. */
static int check_values(gc *g, float *x, size_t n, const float *ana, const char *what) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + (float)EPS;
        double fp = f_eval(g);
        x[i] = keep - (float)EPS;
        double fm = f_eval(g);
        x[i] = keep;
        double num = (fp - fm) / (2 * EPS), a = ana[i];
        if (fabs(num - a) > ATOL + RTOL * fmax(fabs(num), fabs(a))) {
            if (bad < 3)
                printf("  %s: %s[%zu]: analytic %.6g numeric %.6g\n", g->l.name, what, i, a, num);
            bad++;
        }
    }
    return bad;
}

static void fill_distinct(rp_tensor *t, rp_rng *r) {
    /* distinct values 0.004 apart: no ties (max pool) and no kinks (ReLU at 0)
     * within +-EPS */
    size_t n = t->numel;
    uint32_t *perm = malloc(n * sizeof *perm);
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    rp_rng_shuffle(r, perm, (uint32_t)n);
    for (size_t i = 0; i < n; i++) t->data[i] = ((float)perm[i] - (float)n / 2 + 0.5f) * 0.004f;
    free(perm);
}

/* Gradient-check one layer; returns mismatches (fails the test on errors). */
static int gradcheck(const char *name, const struct rp_layer_ops *ops) {
    rp_error err;
    gc g;
    memset(&g, 0, sizeof g);
    g.ops = ops;
    rp_node *raw = NULL, *opts = NULL;
    RP_ASSERT_OK(rp_node_parse_string(ops->example_opts, "<example_opts>", &raw, &err), &err);
    if (rp_component_find(RP_COMP_LAYER, name))
        RP_ASSERT_OK(rp_component_params(RP_COMP_LAYER, name, raw, &opts, &err), &err);
    else
        opts = rp_node_clone(raw);
    assert_int_equal(parse_shapes(ops->example_inputs, g.in, &g.n_in), 0);
    assert_true(g.n_in >= ops->min_inputs && g.n_in <= ops->max_inputs);
    g.l.ops = ops;
    g.l.name = strdup(name);
    int64_t oshape[RP_MAX_DIMS];
    int ond = 0;
    RP_ASSERT_OK(ops->create(&g.l, opts, g.n_in, (const rp_tensor *const *)g.in, oshape, &ond, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&g.out, ond, oshape, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&g.r, ond, oshape, &err), &err);
    rp_rng rng;
    rp_rng_init(&rng, 42, rp_hash_str(name), 0, 0);
    for (int i = 0; i < g.n_in; i++) {
        fill_distinct(g.in[i], &rng);
        RP_ASSERT_OK(rp_tensor_new(&g.din[i], g.in[i]->ndim, g.in[i]->shape, &err), &err);
    }
    for (size_t i = 0; i < g.r->numel; i++) g.r->data[i] = (float)rp_rng_range(&rng, -1, 1);
    if (ops->init) RP_ASSERT_OK(ops->init(&g.l, 7, &err), &err);
    for (size_t p = 0; p < g.l.n_params; p++)
        if (!g.l.params[p].is_buffer)
            for (size_t i = 0; i < g.l.params[p].value->numel; i++)
                g.l.params[p].value->data[i] = (float)rp_rng_range(&rng, -1, 1);
    g.ctx.training = 1;
    g.ctx.seed = 5;
    g.ctx.step = 3;
    g.ctx.need_input_grad = 1;
    f_eval(&g);
    for (size_t p = 0; p < g.l.n_params; p++)
        if (g.l.params[p].grad) rp_tensor_zero(g.l.params[p].grad);
    /* poison input grads: backward must overwrite them */
    for (int i = 0; i < g.n_in; i++) rp_tensor_fill(g.din[i], 1e3f);
    RP_ASSERT_OK(ops->backward(&g.l, &g.ctx, g.n_in, (const rp_tensor *const *)g.in, g.out, g.r, g.din, &err),
                 &err);
    int bad = 0;
    char what[64];
    for (int i = 0; i < g.n_in; i++) {
        snprintf(what, sizeof what, "input%d", i);
        bad += check_values(&g, g.in[i]->data, g.in[i]->numel, g.din[i]->data, what);
    }
    for (size_t p = 0; p < g.l.n_params; p++) {
        rp_param *pp = &g.l.params[p];
        if (pp->is_buffer) continue;
        /* copy the analytic grad: evaluating forward again must not touch it */
        rp_tensor *ana = rp_tensor_clone(pp->grad);
        bad += check_values(&g, pp->value->data, pp->value->numel, ana->data, pp->name);
        rp_tensor_free(ana);
    }
    /* accumulation: a second backward adds the same parameter gradient again */
    for (size_t p = 0; p < g.l.n_params; p++) {
        rp_param *pp = &g.l.params[p];
        if (pp->is_buffer) continue;
        f_eval(&g);
        rp_tensor *once = rp_tensor_clone(pp->grad);
        RP_ASSERT_OK(ops->backward(&g.l, &g.ctx, g.n_in, (const rp_tensor *const *)g.in, g.out, g.r, g.din, &err),
                     &err);
        for (size_t i = 0; i < once->numel; i++) once->data[i] *= 2;
        rp_test_close(pp->grad->data, once->data, once->numel, 1e-5, 1e-6, "accumulated grad");
        rp_tensor_free(once);
        break;
    }
    rp_layer_release(&g.l);
    for (int i = 0; i < g.n_in; i++) {
        rp_tensor_free(g.in[i]);
        rp_tensor_free(g.din[i]);
    }
    rp_tensor_free(g.out);
    rp_tensor_free(g.r);
    rp_node_free(raw);
    rp_node_free(opts);
    return bad;
}

static void test_every_layer(void **state) {
    (void)state;
    size_t n = rp_component_count(RP_COMP_LAYER), checked = 0;
    int total_bad = 0;
    assert_true(n >= 19);
    for (size_t i = 0; i < n; i++) {
        const struct rp_component *c = rp_component_at(RP_COMP_LAYER, i);
        const struct rp_layer_ops *ops = c->impl;
        if (!ops->example_opts || !ops->example_inputs) {
            printf("  %s: no example (opted out)\n", c->name);
            continue;
        }
        int bad = gradcheck(c->name, ops);
        printf("  %-20s %s\n", c->name, bad ? "MISMATCH" : "ok");
        total_bad += bad;
        checked++;
    }
    assert_true(checked >= 19);
    assert_int_equal(total_bad, 0);
}

/* The checker itself must catch a wrong gradient: ReLU's forward with a
 * backward that forgets the mask. */
static int bad_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                        const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din, rp_error *err) {
    (void)l, (void)ctx, (void)n_in, (void)in, (void)out, (void)err;
    memcpy(din[0]->data, dout->data, dout->numel * sizeof(float));
    return RP_OK;
}

static void test_checker_catches_wrong_gradient(void **state) {
    (void)state;
    const struct rp_component *relu = rp_component_find(RP_COMP_LAYER, "relu");
    assert_non_null(relu);
    struct rp_layer_ops broken = *(const struct rp_layer_ops *)relu->impl;
    broken.backward = bad_backward;
    assert_true(gradcheck("relu", &broken) > 0);
}

/* A maxpool2d layer with options `opts` (YAML) created on an input of
 * `shape` (*x, allocated): its output shape in osh / ond; free with
 * rp_layer_release, rp_node_free(*raw), rp_node_free(*po), rp_tensor_free(*x). */
static void mp_make(const char *opts, const char *shape, rp_tensor **x, rp_layer *l, rp_node **raw,
                    rp_node **po, int64_t *osh, int *ond) {
    rp_error err;
    const struct rp_layer_ops *ops = rp_component_find(RP_COMP_LAYER, "maxpool2d")->impl;
    RP_ASSERT_OK(rp_node_parse_string(opts, "<opts>", raw, &err), &err);
    RP_ASSERT_OK(rp_component_params(RP_COMP_LAYER, "maxpool2d", *raw, po, &err), &err);
    int n_in = 0;
    assert_int_equal(parse_shapes(shape, x, &n_in), 0);
    *l = (rp_layer){.ops = ops, .name = strdup("pool")};
    RP_ASSERT_OK(ops->create(l, *po, 1, (const rp_tensor *const *)x, osh, ond, &err), &err);
}

/* maxpool2d: an eval forward computes values only; it must equal the
 * training forward bit for bit (ties and NaNs included), and a backward
 * after it (which recomputes the arg-max) the backward after a training one. */
static void test_maxpool_eval_path(void **state) {
    (void)state;
    static const struct {
        const char *opts, *shape;
    } cases[] = {
        {"{kernel: 3, stride: 2, padding: 1}", "[2,3,9,12]"},
        {"{kernel: 2}", "[2,2,8,6]"},
        {"{kernel: 3, stride: 1, padding: 1}", "[1,2,7,5]"},
        {"{kernel: 2, stride: 1, padding: 1}", "[1,2,4,4]"}, /* output larger than input */
        {"{kernel: [3, 2], stride: [2, 3]}", "[2,1,9,11]"},
    };
    const struct rp_layer_ops *ops = rp_component_find(RP_COMP_LAYER, "maxpool2d")->impl;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        rp_error err;
        rp_node *raw = NULL, *opts = NULL;
        rp_tensor *in[1], *din[2];
        rp_layer l;
        int64_t osh[RP_MAX_DIMS];
        int ond = 0;
        mp_make(cases[ci].opts, cases[ci].shape, in, &l, &raw, &opts, osh, &ond);
        rp_tensor *y[2], *dy;
        for (int k = 0; k < 2; k++) {
            RP_ASSERT_OK(rp_tensor_new(&y[k], ond, osh, &err), &err);
            RP_ASSERT_OK(rp_tensor_new(&din[k], in[0]->ndim, in[0]->shape, &err), &err);
        }
        RP_ASSERT_OK(rp_tensor_new(&dy, ond, osh, &err), &err);
        rp_rng rng;
        rp_rng_init(&rng, 9, ci, 0, 0);
        /* few levels (ties), some NaNs */
        for (size_t i = 0; i < in[0]->numel; i++) {
            in[0]->data[i] = (float)(rp_rng_u32(&rng) % 5) - 2.0f;
            if (rp_rng_u32(&rng) % 17 == 0) in[0]->data[i] = NAN;
        }
        for (size_t i = 0; i < dy->numel; i++) dy->data[i] = (float)rp_rng_range(&rng, -1, 1);
        for (int k = 0; k < 2; k++) { /* k = 0 training, 1 eval */
            rp_run_ctx ctx = {.training = k == 0, .need_input_grad = 1};
            RP_ASSERT_OK(ops->forward(&l, &ctx, 1, (const rp_tensor *const *)in, y[k], &err), &err);
            RP_ASSERT_OK(ops->backward(&l, &ctx, 1, (const rp_tensor *const *)in, y[k], dy, din + k,
                                       &err),
                         &err);
        }
        for (size_t i = 0; i < y[0]->numel; i++) {
            float a = y[0]->data[i], b = y[1]->data[i];
            if (!(a == b || (a != a && b != b)))
                fail_msg("%s: output %zu: training %g, eval %g", cases[ci].opts, i, (double)a, (double)b);
        }
        assert_memory_equal(din[0]->data, din[1]->data, din[0]->numel * sizeof(float));
        for (int k = 0; k < 2; k++) rp_tensor_free(y[k]), rp_tensor_free(din[k]);
        rp_tensor_free(dy), rp_tensor_free(in[0]);
        rp_layer_release(&l);
        rp_node_free(raw), rp_node_free(opts);
    }
}

/* maxpool2d's training kernels (2x2 stride 2: 16 windows per vector; 3x3
 * stride 2, ResNet's stem pool) against the rule written out: outputs and
 * arg-max bit for bit, with ties, NaNs and -0.0 in the windows, with and
 * without a relu folded in, on maps whose width leaves a masked tail or an
 * uncovered column or row (odd sizes), and the backward's gradient (the
 * buffer starts filled with garbage; overlapping windows add in output
 * order). */
static void test_maxpool_reference(void **state) {
    (void)state;
    static const struct {
        const char *opts, *shape;
        int k, s, p;
    } cases[] = {
        {"{kernel: 2}", "[2,3,26,26]", 2, 2, 0},
        {"{kernel: 2}", "[1,2,27,41]", 2, 2, 0},
        {"{kernel: 2}", "[1,1,5,3]", 2, 2, 0},
        {"{kernel: 2}", "[1,2,2,34]", 2, 2, 0},
        {"{kernel: 2}", "[3,1,8,64]", 2, 2, 0},
        {"{kernel: 3, stride: 2, padding: 1}", "[2,2,112,112]", 3, 2, 1},
        {"{kernel: 3, stride: 2, padding: 1}", "[1,2,27,41]", 3, 2, 1},
        {"{kernel: 3, stride: 2, padding: 1}", "[1,1,5,3]", 3, 2, 1},
        {"{kernel: 3, stride: 2, padding: 1}", "[2,1,9,70]", 3, 2, 1},
        {"{kernel: 3, stride: 2}", "[1,2,11,36]", 3, 2, 0},
    };
    const struct rp_layer_ops *ops = rp_component_find(RP_COMP_LAYER, "maxpool2d")->impl;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int relu = 0; relu < 2; relu++) {
            const int k = cases[ci].k, st = cases[ci].s, pd = cases[ci].p;
            rp_error err;
            rp_node *raw = NULL, *opts = NULL;
            rp_tensor *in[1], *din, *y, *dy;
            rp_layer l;
            int64_t osh[RP_MAX_DIMS];
            int ond = 0;
            mp_make(cases[ci].opts, cases[ci].shape, in, &l, &raw, &opts, osh, &ond);
            RP_ASSERT_OK(rp_tensor_new(&y, ond, osh, &err), &err);
            RP_ASSERT_OK(rp_tensor_new(&dy, ond, osh, &err), &err);
            RP_ASSERT_OK(rp_tensor_new(&din, in[0]->ndim, in[0]->shape, &err), &err);
            rp_rng rng;
            rp_rng_init(&rng, 13, ci, (uint64_t)relu, 0);
            for (size_t i = 0; i < in[0]->numel; i++) {
                uint32_t r = rp_rng_u32(&rng) % 40;
                in[0]->data[i] = r == 0 ? NAN : r == 1 ? -0.0f : (float)(r % 6) - 3.0f;
            }
            for (size_t i = 0; i < dy->numel; i++)
                dy->data[i] = rp_rng_u32(&rng) % 9 == 0 ? -0.0f : (float)rp_rng_range(&rng, -1, 1);
            rp_tensor_fill(din, 7.0f);
            rp_run_ctx ctx = {.training = 1, .need_input_grad = 1, .relu_in = relu};
            const rp_tensor *const *cx = (const rp_tensor *const *)in;
            RP_ASSERT_OK(ops->forward(&l, &ctx, 1, cx, y, &err), &err);
            RP_ASSERT_OK(ops->backward(&l, &ctx, 1, cx, y, dy, &din, &err), &err);
            const int64_t nc = in[0]->shape[0] * in[0]->shape[1], h = in[0]->shape[2], w = in[0]->shape[3];
            const int64_t oh = osh[2], ow = osh[3];
            float *ref_dx = calloc((size_t)(h * w), sizeof(float));
            assert_non_null(ref_dx);
            for (int64_t p = 0; p < nc; p++) {
                const float *x = in[0]->data + p * h * w;
                memset(ref_dx, 0, sizeof(float) * (size_t)(h * w));
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++) {
                        /* first maximum in row-major window order (padding never
                         * chosen); NaN wins over numbers, the first NaN stays */
                        int64_t bi = -1;
                        float best = 0.0f;
                        for (int64_t yy = oy * st - pd; yy < oy * st - pd + k; yy++)
                            for (int64_t xx = ox * st - pd; xx < ox * st - pd + k; xx++) {
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                float v = x[yy * w + xx];
                                if (relu) v = v > 0.0f ? v : 0.0f;
                                if (bi < 0 || v > best || (v != v && best == best)) best = v, bi = yy * w + xx;
                            }
                        const int64_t o = p * oh * ow + oy * ow + ox;
                        if (memcmp(&best, &y->data[o], sizeof best))
                            fail_msg("%s %s relu %d: output %lld is %g, expected %g", cases[ci].opts,
                                     cases[ci].shape, relu, (long long)o, (double)y->data[o], (double)best);
                        const float d = dy->data[o];
                        ref_dx[bi] += relu ? (best > 0.0f ? d : 0.0f) : d;
                    }
                if (memcmp(ref_dx, din->data + p * h * w, sizeof(float) * (size_t)(h * w)))
                    fail_msg("%s %s relu %d: input gradient of plane %lld differs", cases[ci].opts,
                             cases[ci].shape, relu, (long long)p);
            }
            free(ref_dx);
            rp_tensor_free(y), rp_tensor_free(dy), rp_tensor_free(din), rp_tensor_free(in[0]);
            rp_layer_release(&l);
            rp_node_free(raw), rp_node_free(opts);
        }
}

/* Layers with RP_LAYER_TRAIN_RELU (batch norm, add): forward and backward
 * with rp_run_ctx.relu_out equal the layer followed by relu bit for bit
 * (output, input gradients, parameter gradients, running statistics), in
 * training and then in eval mode; a second backward of the folded layer
 * given the already masked gradient (the graph's fallback) changes nothing. */
static void run_relu_pair(const char *name, const struct rp_layer_ops *ops, const char *shapes) {
    const struct rp_layer_ops *relu = rp_component_find(RP_COMP_LAYER, "relu")->impl;
    rp_error err;
    rp_node *raw = NULL, *opts = NULL;
    RP_ASSERT_OK(rp_node_parse_string(ops->example_opts, "<example_opts>", &raw, &err), &err);
    RP_ASSERT_OK(rp_component_params(RP_COMP_LAYER, name, raw, &opts, &err), &err);
    rp_tensor *in[RP_MAX_LAYER_INPUTS], *din[2][RP_MAX_LAYER_INPUTS], *y[2], *yr, *dy, *dm;
    int n_in = 0;
    assert_int_equal(parse_shapes(shapes, in, &n_in), 0);
    rp_layer l[2] = {{.ops = ops, .name = strdup(name)}, {.ops = ops, .name = strdup(name)}};
    rp_layer rl = {.ops = relu, .name = "relu"};
    int64_t osh[RP_MAX_DIMS];
    int ond = 0;
    rp_rng rng;
    rp_rng_init(&rng, 11, rp_hash_str(name), 0, 0);
    for (int i = 0; i < n_in; i++)
        for (size_t e = 0; e < in[i]->numel; e++) in[i]->data[e] = (float)rp_rng_range(&rng, -1, 1);
    for (int k = 0; k < 2; k++) {
        RP_ASSERT_OK(ops->create(&l[k], opts, n_in, (const rp_tensor *const *)in, osh, &ond, &err), &err);
        if (ops->init) RP_ASSERT_OK(ops->init(&l[k], 7, &err), &err);
        RP_ASSERT_OK(rp_tensor_new(&y[k], ond, osh, &err), &err);
        for (int i = 0; i < n_in; i++)
            RP_ASSERT_OK(rp_tensor_new(&din[k][i], in[i]->ndim, in[i]->shape, &err), &err);
    }
    for (size_t p = 0; p < l[0].n_params; p++)
        if (!l[0].params[p].is_buffer)
            for (size_t e = 0; e < l[0].params[p].value->numel; e++)
                l[0].params[p].value->data[e] = l[1].params[p].value->data[e] =
                    (float)rp_rng_range(&rng, -1, 1);
    RP_ASSERT_OK(rp_tensor_new(&yr, ond, osh, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&dy, ond, osh, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&dm, ond, osh, &err), &err);
    for (size_t e = 0; e < dy->numel; e++) dy->data[e] = (float)rp_rng_range(&rng, -1, 1);
    for (int mode = 0; mode < 2; mode++) { /* training, then eval */
        rp_run_ctx plain = {.training = mode == 0, .need_input_grad = 1}, folded = plain;
        folded.relu_out = 1;
        const rp_tensor *const *cin = (const rp_tensor *const *)in;
        /* the two layers */
        RP_ASSERT_OK(ops->forward(&l[0], &plain, n_in, cin, y[0], &err), &err);
        RP_ASSERT_OK(relu->forward(&rl, &plain, 1, (const rp_tensor *const *)&y[0], yr, &err), &err);
        RP_ASSERT_OK(relu->backward(&rl, &plain, 1, (const rp_tensor *const *)&y[0], yr, dy, &dm, &err),
                     &err);
        RP_ASSERT_OK(ops->backward(&l[0], &plain, n_in, cin, y[0], dm, din[0], &err), &err);
        /* folded */
        RP_ASSERT_OK(ops->forward(&l[1], &folded, n_in, cin, y[1], &err), &err);
        RP_ASSERT_OK(ops->backward(&l[1], &folded, n_in, cin, y[1], dy, din[1], &err), &err);
        const char *mname = mode ? "eval" : "training";
        if (memcmp(yr->data, y[1]->data, yr->numel * sizeof(float)))
            fail_msg("%s (%s): folded relu output differs", name, mname);
        for (int i = 0; i < n_in; i++)
            if (memcmp(din[0][i]->data, din[1][i]->data, din[0][i]->numel * sizeof(float)))
                fail_msg("%s (%s): input %d gradient differs", name, mname, i);
        for (size_t p = 0; p < l[0].n_params; p++) {
            const rp_param *a = &l[0].params[p], *b = &l[1].params[p];
            if (memcmp(a->value->data, b->value->data, a->value->numel * sizeof(float)) ||
                (a->grad && memcmp(a->grad->data, b->grad->data, a->grad->numel * sizeof(float))))
                fail_msg("%s (%s): %s differs", name, mname, a->name);
        }
        /* the masked gradient given to the folded backward: the same again */
        for (int i = 0; i < n_in; i++) rp_tensor_fill(din[0][i], 1e3f);
        RP_ASSERT_OK(ops->backward(&l[1], &folded, n_in, cin, y[1], dm, din[0], &err), &err);
        for (int i = 0; i < n_in; i++)
            if (memcmp(din[0][i]->data, din[1][i]->data, din[0][i]->numel * sizeof(float)))
                fail_msg("%s (%s): masking twice changes input %d's gradient", name, mname, i);
        /* (the repeated backward accumulated the parameter gradients again) */
        for (int k = 0; k < 2; k++)
            for (size_t p = 0; p < l[k].n_params; p++)
                if (l[k].params[p].grad) rp_tensor_zero(l[k].params[p].grad);
    }
    for (int k = 0; k < 2; k++) {
        rp_layer_release(&l[k]);
        rp_tensor_free(y[k]);
        for (int i = 0; i < n_in; i++) rp_tensor_free(din[k][i]);
    }
    for (int i = 0; i < n_in; i++) rp_tensor_free(in[i]);
    rp_tensor_free(yr), rp_tensor_free(dy), rp_tensor_free(dm);
    rp_node_free(raw), rp_node_free(opts);
}

/* A layer with RP_LAYER_RELU_IN, training: forward and backward with
 * rp_run_ctx.relu_in on the values before the relu equal relu followed by
 * the layer bit for bit (output and the gradient wrt relu's input). Inputs
 * of few levels, negatives, zeros and NaNs (ties and NaN windows). */
static void relu_in_same(const char *name, const struct rp_layer_ops *ops, const char *opts_yaml,
                         const char *shapes) {
    const struct rp_layer_ops *relu = rp_component_find(RP_COMP_LAYER, "relu")->impl;
    rp_error err;
    rp_node *raw = NULL, *opts = NULL;
    RP_ASSERT_OK(rp_node_parse_string(opts_yaml, "<opts>", &raw, &err), &err);
    RP_ASSERT_OK(rp_component_params(RP_COMP_LAYER, name, raw, &opts, &err), &err);
    rp_tensor *in[RP_MAX_LAYER_INPUTS], *xr, *y[2], *dy, *dr, *din[2];
    int n_in = 0;
    assert_int_equal(parse_shapes(shapes, in, &n_in), 0);
    assert_int_equal(n_in, 1);
    rp_layer l[2] = {{.ops = ops, .name = strdup(name)}, {.ops = ops, .name = strdup(name)}};
    rp_layer rl = {.ops = relu, .name = "relu"};
    int64_t osh[RP_MAX_DIMS];
    int ond = 0;
    rp_rng rng;
    rp_rng_init(&rng, 12, rp_hash_str(shapes), 0, 0);
    for (size_t e = 0; e < in[0]->numel; e++) {
        in[0]->data[e] = (float)(rp_rng_u32(&rng) % 7) - 4.0f;
        if (rp_rng_u32(&rng) % 23 == 0) in[0]->data[e] = NAN;
    }
    for (int k = 0; k < 2; k++) {
        RP_ASSERT_OK(ops->create(&l[k], opts, 1, (const rp_tensor *const *)in, osh, &ond, &err), &err);
        RP_ASSERT_OK(rp_tensor_new(&y[k], ond, osh, &err), &err);
        RP_ASSERT_OK(rp_tensor_new(&din[k], in[0]->ndim, in[0]->shape, &err), &err);
    }
    RP_ASSERT_OK(rp_tensor_new(&xr, in[0]->ndim, in[0]->shape, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&dr, in[0]->ndim, in[0]->shape, &err), &err);
    RP_ASSERT_OK(rp_tensor_new(&dy, ond, osh, &err), &err);
    for (size_t e = 0; e < dy->numel; e++) dy->data[e] = (float)rp_rng_range(&rng, -1, 1);
    rp_run_ctx plain = {.training = 1, .need_input_grad = 1}, folded = plain;
    folded.relu_in = 1;
    const rp_tensor *const *cx = (const rp_tensor *const *)in, *const *cr = (const rp_tensor *const *)&xr;
    RP_ASSERT_OK(relu->forward(&rl, &plain, 1, cx, xr, &err), &err);
    RP_ASSERT_OK(ops->forward(&l[0], &plain, 1, cr, y[0], &err), &err);
    RP_ASSERT_OK(ops->backward(&l[0], &plain, 1, cr, y[0], dy, &dr, &err), &err);
    RP_ASSERT_OK(relu->backward(&rl, &plain, 1, cx, xr, dr, &din[0], &err), &err);
    RP_ASSERT_OK(ops->forward(&l[1], &folded, 1, cx, y[1], &err), &err);
    rp_tensor_fill(din[1], 1e3f);
    RP_ASSERT_OK(ops->backward(&l[1], &folded, 1, cx, y[1], dy, &din[1], &err), &err);
    if (memcmp(y[0]->data, y[1]->data, y[0]->numel * sizeof(float)))
        fail_msg("%s %s %s: output with the relu folded in differs", name, opts_yaml, shapes);
    if (memcmp(din[0]->data, din[1]->data, din[0]->numel * sizeof(float)))
        fail_msg("%s %s %s: input gradient with the relu folded in differs", name, opts_yaml, shapes);
    for (int k = 0; k < 2; k++) {
        rp_layer_release(&l[k]);
        rp_tensor_free(y[k]), rp_tensor_free(din[k]);
    }
    rp_tensor_free(in[0]), rp_tensor_free(xr), rp_tensor_free(dr), rp_tensor_free(dy);
    rp_node_free(raw), rp_node_free(opts);
}

static void test_relu_in_layers(void **state) {
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < rp_component_count(RP_COMP_LAYER); i++) {
        const struct rp_component *c = rp_component_at(RP_COMP_LAYER, i);
        const struct rp_layer_ops *ops = c->impl;
        if (!(ops->flags & RP_LAYER_RELU_IN)) continue;
        relu_in_same(c->name, ops, ops->example_opts, ops->example_inputs);
        checked++;
    }
    assert_true(checked >= 1); /* maxpool2d */
    /* max pooling's other kernels: 2x2 stride 2, 3x3 inside the input, general */
    const struct rp_layer_ops *mp = rp_component_find(RP_COMP_LAYER, "maxpool2d")->impl;
    relu_in_same("maxpool2d", mp, "{kernel: 2}", "[2,3,8,12]");
    relu_in_same("maxpool2d", mp, "{kernel: 2}", "[1,2,7,9]");
    relu_in_same("maxpool2d", mp, "{kernel: 3, stride: 1, padding: 1}", "[1,2,7,5]");
    relu_in_same("maxpool2d", mp, "{kernel: [3, 2], stride: [2, 3]}", "[2,1,9,11]");
    relu_in_same("maxpool2d", mp, "{kernel: 2, stride: 1, padding: 1}", "[1,2,4,4]");
}

static void test_train_relu_layers(void **state) {
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < rp_component_count(RP_COMP_LAYER); i++) {
        const struct rp_component *c = rp_component_at(RP_COMP_LAYER, i);
        const struct rp_layer_ops *ops = c->impl;
        if (!(ops->flags & RP_LAYER_TRAIN_RELU)) continue;
        assert_non_null(ops->example_opts);
        run_relu_pair(c->name, ops, ops->example_inputs);
        /* and with the first two example inputs (add's residual-block case) */
        const char *second = strchr(ops->example_inputs, ';');
        const char *third = second ? strchr(second + 1, ';') : NULL;
        if (third && ops->min_inputs <= 2) {
            char two[256];
            snprintf(two, sizeof two, "%.*s", (int)(third - ops->example_inputs), ops->example_inputs);
            run_relu_pair(c->name, ops, two);
        }
        checked++;
    }
    assert_true(checked >= 3); /* add, batchnorm1d, batchnorm2d */
}

int main(void) {
    rp_set_threads(2);
    rp_schema_dirs_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_layer),
        cmocka_unit_test(test_checker_catches_wrong_gradient),
        cmocka_unit_test(test_maxpool_eval_path),
        cmocka_unit_test(test_maxpool_reference),
        cmocka_unit_test(test_train_relu_layers),
        cmocka_unit_test(test_relu_in_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
