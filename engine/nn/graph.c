/* Models: a DAG of named layer nodes (DESIGN §7).
 *
 * Nodes run in insertion order (inputs must already exist, so insertion order
 * is a topological order). Each node owns its output tensor, re-shaped per
 * batch with a grow-only buffer. Output gradients live in a pool: a node's
 * gradient buffer is taken when its first consumer writes it and returned as
 * soon as the node's own backward has run (unless retained), so at most the
 * gradients of the "frontier" exist at once, as in PyTorch. The pool hands
 * out buffers in the same order every step, so after the first batch of a
 * given size a training step allocates nothing. Backward runs in reverse
 * order; a node whose output feeds several consumers (residual fan-out)
 * receives the sum of their gradients. Gradients flow only where needed: a
 * node's output gradient is computed only if the node or something upstream
 * has a trainable parameter (or the node's gradient is retained), so frozen
 * prefixes and the first layer's input gradient cost nothing.
 *
 * Forward activations are kept only where backward reads them (a node that
 * wants a gradient, and its inputs), plus retained nodes and the model
 * output. The rest (the frozen prefix; everything but the output in eval
 * mode) live in a second pool whose buffers are reference-counted over the
 * DAG and reused as soon as their last consumer has run, as PyTorch frees
 * tensors autograd does not save. A backward after an eval forward re-runs
 * that forward keeping activations first (bit-identical: eval is
 * deterministic).
 *
 * Feature-gradient pass (Grad-CAM, nn/gradcam.c): rp_model_feature_forward
 * marks a node `stop`; then "wants" means "on a path from stop to the
 * output" instead of "trainable upstream", so the forward keeps exactly what
 * a backward from the output down to stop reads (unfused, in the model's
 * mode), and rp_model_feature_backward runs only those layers, with
 * rp_run_ctx.input_grad_only set so no parameter gradient is touched, and
 * stops at stop's output gradient. The mark is cleared by the next
 * rp_model_forward / rp_model_backward.
 *
 * Eval-mode fusion: a lean eval forward folds chains into one pass of the
 * chain's first layer (its forward_ep): head -> [per-channel affine [->
 * two-input sum]] -> [relu], e.g. conv2d -> batchnorm2d -> relu (BN eval =
 * x*scale + shift with running stats), conv2d -> batchnorm2d -> add(shortcut)
 * -> relu (the shortcut as the epilogue's residual) or add -> relu. The
 * graph decides by layer capabilities (rp_layer_ops.forward_ep with
 * RP_LAYER_EP_* flags, channel_affine, RP_LAYER_SUM, RP_LAYER_RELU), never
 * by layer names. Every node of a chain except the last must have one
 * consumer, not be retained and not be the model output; the affine node
 * must come right after the head, the sum right after it with its other
 * input before the head, and a relu is folded only where the unfused
 * forward runs it in place. The result is written where the unfused chain
 * leaves its last output (the affine or sum node's buffer, taken at the same
 * point with the same pool choices; the relu is a view of it), so the
 * activation pool evolves as unfused (one exception, where that buffer is
 * the head's own input: see forward_run). rp_model_node_output returns NULL
 * for the nodes whose outputs never existed (the head; the affine node
 * before a folded sum). The plan is remade at each forward (one pass over the nodes).
 * Training forwards are never fused, and a backward after a fused forward
 * re-runs the forward unfused first (the fused one never wrote the head
 * outputs that backward reads). Off with rp_model_set_fusion(m, 0) or
 * RP_NO_FUSE=1.
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "base/util.h"
#include "nn/layer.h"

#include "nn/graph_impl.h"

/* A pooled gradient buffer shaped `shape`: the free one that fits best
 * (smallest big enough, else the largest, grown). Returns the slot or -1. */
static int grad_acquire(rp_model *m, int nd, const int64_t *shape, rp_error *err) {
    size_t need = 1;
    for (int d = 0; d < nd; d++) need *= (size_t)shape[d];
    int best = -1;
    for (size_t i = 0; i < m->ngpool; i++) {
        if (m->gbusy[i]) continue;
        size_t c = m->gpool[i]->cap;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        size_t bc = m->gpool[best]->cap;
        if ((c >= need && (bc < need || c < bc)) || (c < need && bc < need && c > bc)) best = (int)i;
    }
    if (best < 0) {
        rp_tensor **np = realloc(m->gpool, (m->ngpool + 1) * sizeof *np);
        if (np) m->gpool = np;
        int *nb = np ? realloc(m->gbusy, (m->ngpool + 1) * sizeof *nb) : NULL;
        if (nb) m->gbusy = nb;
        rp_tensor *t = nb ? calloc(1, sizeof *t) : NULL;
        if (!t) {
            rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            return -1;
        }
        m->gpool[m->ngpool] = t;
        m->gbusy[m->ngpool] = 0;
        best = (int)m->ngpool++;
    }
    if (rp_tensor_reshape_alloc(m->gpool[best], nd, shape, err)) return -1;
    m->gbusy[best] = 1;
    return best;
}

static void grad_release(rp_model *m, gnode *g) {
    if (g->gslot >= 0) m->gbusy[g->gslot] = 0;
    g->gslot = -1;
}

/* Activation pool: outputs no backward will read (frozen prefix) live here
 * only until their last consumer has run. The choice depends on this
 * forward's requests only (not on capacities), so every step with the same
 * shapes picks the same slots and, after the first, grows nothing. */
static int act_acquire(rp_model *m, size_t need, int refs, rp_error *err) {
    int best = -1;
    for (size_t i = 0; i < m->napool; i++) {
        if (m->aref[i]) continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        size_t c = m->asize[i], bc = m->asize[best];
        if ((c >= need && (bc < need || c < bc)) || (c < need && bc < need && c > bc)) best = (int)i;
    }
    if (best < 0) {
        size_t k = m->napool + 1;
        rp_tensor **np = realloc(m->apool, k * sizeof *np);
        if (np) m->apool = np;
        size_t *ns = np ? realloc(m->asize, k * sizeof *ns) : NULL;
        if (ns) m->asize = ns;
        int *nr = ns ? realloc(m->aref, k * sizeof *nr) : NULL;
        if (nr) m->aref = nr;
        rp_tensor *t = nr ? calloc(1, sizeof *t) : NULL;
        if (!t) {
            rp_error_set(err, RP_ERR_NOMEM, "out of memory");
            return -1;
        }
        m->apool[m->napool] = t;
        m->asize[m->napool] = 0;
        m->aref[m->napool] = 0;
        best = (int)m->napool++;
    }
    int64_t shp[1] = {(int64_t)need};
    if (rp_tensor_reshape_alloc(m->apool[best], 1, shp, err)) return -1;
    if (m->asize[best] < need) m->asize[best] = need;
    m->aref[best] = refs;
    return best;
}

static void act_put(rp_model *m, int slot) {
    if (slot >= 0 && m->aref[slot] > 0) m->aref[slot]--;
}

/* ---- layers --------------------------------------------------------------- */

rp_param *rp_layer_add_param(rp_layer *l, const char *pname, int ndim, const int64_t *shape,
                             int is_buffer, rp_error *err) {
    rp_param *np = realloc(l->params, (l->n_params + 1) * sizeof *np);
    if (!np) {
        rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->params = np;
    rp_param *p = &np[l->n_params];
    memset(p, 0, sizeof *p);
    size_t len = strlen(l->name) + strlen(pname) + 2;
    p->name = malloc(len);
    if (!p->name) {
        rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(p->name, len, "%s.%s", l->name, pname);
    if (rp_tensor_new(&p->value, ndim, shape, err) ||
        (!is_buffer && rp_tensor_new(&p->grad, ndim, shape, err))) {
        rp_tensor_free(p->value);
        free(p->name);
        return NULL;
    }
    p->is_buffer = is_buffer;
    p->trainable = !is_buffer;
    p->no_decay = !is_buffer && ndim <= 1; /* biases and norm scales */
    l->n_params++;
    return p;
}

void rp_layer_release(rp_layer *l) {
    if (!l) return;
    if (l->ops && l->ops->destroy) l->ops->destroy(l);
    for (size_t i = 0; i < l->n_params; i++) {
        free(l->params[i].name);
        rp_tensor_free(l->params[i].value);
        rp_tensor_free(l->params[i].grad);
    }
    free(l->params);
    free(l->name);
    l->params = NULL;
    l->n_params = 0;
    l->name = NULL;
    l->state = NULL;
}

/* ---- construction ------------------------------------------------------------ */

int rp_model_new(int c, int h, int w, rp_model **out, rp_error *err) {
    *out = NULL;
    if (c < 1 || h < 1 || w < 1)
        return rp_error_set(err, RP_ERR_INVALID, "model input must be [N, C, H, W] with C, H, W >= 1, got [N, %d, %d, %d]",
                            c, h, w);
    rp_model *m = calloc(1, sizeof *m);
    if (!m) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    m->c = c, m->h = h, m->w = w;
    m->output = -1;
    m->training = 1;
    m->stop = -1;
    *out = m;
    return RP_OK;
}

static void node_release(gnode *g) {
    rp_layer_release(&g->layer);
    free(g->name);
    free(g->type);
    rp_node_free(g->opts);
    rp_tensor_release(&g->out);
}

void rp_model_free(rp_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) node_release(&m->nodes[i]);
    free(m->nodes);
    free(m->params);
    free(m->arch_yaml);
    for (int i = 0; i < RP_MAX_LAYER_INPUTS; i++) rp_tensor_release(&m->scratch[i]);
    for (size_t i = 0; i < m->ngpool; i++) rp_tensor_free(m->gpool[i]);
    free(m->gpool);
    free(m->gbusy);
    for (size_t i = 0; i < m->napool; i++) rp_tensor_free(m->apool[i]);
    free(m->apool);
    free(m->asize);
    free(m->aref);
    free(m);
}

int graph_find_node(const rp_model *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->nodes[i].name, name) == 0) return (int)i;
    return -1;
}

int graph_rebuild_params(rp_model *m, rp_error *err) {
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++) n += m->nodes[i].layer.n_params;
    rp_param **p = realloc(m->params, (n ? n : 1) * sizeof *p);
    if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    m->params = p;
    m->n_params = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->nodes[i].layer.n_params; j++) p[m->n_params++] = &m->nodes[i].layer.params[j];
    return RP_OK;
}

void graph_drop_arch_cache(rp_model *m) {
    free(m->arch_yaml);
    m->arch_yaml = NULL;
}

static int bad_name(const char *name) {
    if (!name || !*name || strcmp(name, "input") == 0) return 1;
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || *p == '.' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return 1;
    return 0;
}

int rp_model_add(rp_model *m, const char *name, const char *type, const rp_node *opts,
                 const char *const *inputs, int n_inputs, rp_error *err) {
    if (bad_name(name))
        return rp_error_at(err, opts, RP_ERR_INVALID,
                           "layer name '%s' is not valid (letters, digits, '_', '.', '-'; not 'input')",
                           name ? name : "");
    if (graph_find_node(m, name) >= 0)
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer name '%s' is used twice", name);
    const struct rp_component *comp;
    if (rp_component_lookup(RP_COMP_LAYER, type, opts, &comp, err)) return err->status;
    const struct rp_layer_ops *ops = comp->impl;
    int in_idx[RP_MAX_LAYER_INPUTS];
    int n_in = n_inputs;
    if (!inputs || n_inputs == 0) {
        n_in = 1;
        in_idx[0] = m->n ? (int)m->n - 1 : -1;
    } else {
        if (n_inputs > RP_MAX_LAYER_INPUTS)
            return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s': at most %d inputs", name,
                               RP_MAX_LAYER_INPUTS);
        for (int i = 0; i < n_inputs; i++) {
            if (strcmp(inputs[i], "input") == 0) {
                in_idx[i] = -1;
                continue;
            }
            in_idx[i] = graph_find_node(m, inputs[i]);
            if (in_idx[i] < 0)
                return rp_error_at(err, opts, RP_ERR_INVALID,
                                   "layer '%s': input '%s' is not an earlier layer (or 'input')", name,
                                   inputs[i]);
        }
    }
    if (n_in < ops->min_inputs || n_in > ops->max_inputs)
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s' (%s) takes %d..%d inputs, got %d", name,
                           type, ops->min_inputs, ops->max_inputs, n_in);
    rp_node *vopts = NULL;
    if (rp_component_params(RP_COMP_LAYER, type, opts, &vopts, err)) {
        rp_node_free(vopts);
        rp_error_prefix(err, "layer '%s' (%s): ", name, type);
        return err->status;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        gnode *nn = realloc(m->nodes, nc * sizeof *nn);
        if (!nn) {
            rp_node_free(vopts);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        m->nodes = nn;
        m->cap = nc;
    }
    gnode *g = &m->nodes[m->n];
    memset(g, 0, sizeof *g);
    g->name = rp_strdup(name);
    g->type = rp_strdup(type);
    g->opts = vopts;
    g->n_in = n_in;
    g->gslot = -1;
    g->aslot = -1;
    g->fuse_in = g->fuse_aff = g->fuse_sum = g->fuse_relu = -1;
    memcpy(g->in, in_idx, sizeof(int) * (size_t)n_in);
    g->layer.ops = ops;
    g->layer.name = rp_strdup(name);
    if (!g->name || !g->type || !g->layer.name) {
        node_release(g);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    rp_tensor shp[RP_MAX_LAYER_INPUTS];
    const rp_tensor *sp[RP_MAX_LAYER_INPUTS];
    for (int i = 0; i < n_in; i++) {
        memset(&shp[i], 0, sizeof shp[i]);
        if (in_idx[i] < 0) {
            shp[i].ndim = 4;
            shp[i].shape[0] = 1, shp[i].shape[1] = m->c, shp[i].shape[2] = m->h, shp[i].shape[3] = m->w;
        } else {
            const gnode *src = &m->nodes[in_idx[i]];
            shp[i].ndim = src->ndim;
            memcpy(shp[i].shape, src->shape, sizeof src->shape);
        }
        shp[i].numel = 1;
        for (int d = 0; d < shp[i].ndim; d++) shp[i].numel *= (size_t)shp[i].shape[d];
        sp[i] = &shp[i];
    }
    /* parameters start at zero (BN: weight 1, running_var 1) until
     * rp_model_init_params; rp_model_build does that */
    int st = ops->create(&g->layer, vopts, n_in, sp, g->shape, &g->ndim, err);
    if (st != RP_OK) {
        rp_error_prefix(err, "layer '%s' (%s): ", name, type);
        node_release(g);
        return st;
    }
    m->n++;
    m->output = (int)m->n - 1;
    graph_drop_arch_cache(m);
    if (graph_rebuild_params(m, err)) return err->status;
    return RP_OK;
}

int rp_model_addf(rp_model *m, const char *name, const char *type, const char *const *inputs,
                  int n_inputs, rp_error *err, const char *opts_fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, opts_fmt);
    int len = vsnprintf(buf, sizeof buf, opts_fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof buf)
        return rp_error_set(err, RP_ERR_INVALID, "layer '%s': options text too long", name);
    rp_node *opts = NULL;
    if (rp_node_parse_string(buf, "<layer options>", &opts, err)) return err->status;
    int st = rp_model_add(m, name, type, opts, inputs, n_inputs, err);
    rp_node_free(opts);
    return st;
}

int rp_model_set_output(rp_model *m, const char *node, rp_error *err) {
    int i = graph_find_node(m, node);
    if (i < 0) return rp_error_set(err, RP_ERR_NOTFOUND, "model has no layer '%s'", node);
    m->output = i;
    graph_drop_arch_cache(m);
    return RP_OK;
}

void rp_model_set_init_hook(rp_model *m, rp_model_init_fn fn) { m->init_hook = fn; }

int rp_model_init_params(rp_model *m, uint64_t seed, rp_error *err) {
    for (size_t i = 0; i < m->n; i++) {
        rp_layer *l = &m->nodes[i].layer;
        if (l->ops->init && l->ops->init(l, seed, err)) return err->status;
    }
    if (m->init_hook) return m->init_hook(m, seed, err);
    return RP_OK;
}

/* ---- running -------------------------------------------------------------------- */

void rp_model_set_training(rp_model *m, int training) { m->training = training; }
int rp_model_is_training(const rp_model *m) { return m->training; }

void rp_model_set_step(rp_model *m, uint64_t seed, uint64_t step) {
    m->seed = seed;
    m->step = step;
}

void rp_model_set_fusion(rp_model *m, int enabled) { m->no_fuse = !enabled; }

/* RP_NO_FUSE set to anything but "" or "0" turns fusion off everywhere. */
static int fusion_env_off(void) {
    const char *e = getenv("RP_NO_FUSE");
    return e && *e && strcmp(e, "0") != 0;
}

static int same_shape_nodes(const gnode *a, const gnode *b) {
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0;
}

/* The fusion plan of this forward (consumers counted): for each node with a
 * forward_ep, follow its single-consumer chain while the next node is
 *   - an affine layer reading only the head, right after it in node order,
 *   - then possibly a two-input sum (add) right after the affine node whose
 *     other input comes before the head (the residual term),
 *   - or a relu the unfused forward would run in place on its input,
 * and the head's epilogue accepts it. Affine and sum nodes come in node
 * order so that their buffers are taken exactly when they would be unfused;
 * a relu is a view anyway. So fused and unfused forwards use the same
 * buffers. */
static void plan_fusion(rp_model *m, int enabled) {
    for (size_t k = 0; k < m->n; k++) {
        gnode *g = &m->nodes[k];
        g->fuse_in = g->fuse_aff = g->fuse_sum = g->fuse_relu = -1;
        g->hidden = g->buf_ready = g->released = 0;
    }
    if (!enabled) return;
    for (int k = 0; k <= m->output; k++) {
        gnode *h = &m->nodes[k];
        if (!h->layer.ops->forward_ep || h->fuse_in >= 0) continue;
        const unsigned caps = h->layer.ops->flags;
        int cur = k;
        for (;;) {
            gnode *c = &m->nodes[cur];
            if (c->consumers != 1 || c->retain || cur == m->output) break;
            const int nxi = c->consumer;
            gnode *nx = &m->nodes[nxi];
            if (!same_shape_nodes(nx, c)) break;
            const struct rp_layer_ops *ops = nx->layer.ops;
            const int other = nx->n_in == 2 ? nx->in[nx->in[0] == cur ? 1 : 0] : cur;
            if (nx->n_in == 1 && ops->channel_affine && (caps & RP_LAYER_EP_AFFINE) && cur == k && nxi == k + 1 &&
                c->ndim >= 2)
                h->fuse_aff = nxi;
            else if (nx->n_in == 2 && (ops->flags & RP_LAYER_SUM) && (caps & RP_LAYER_EP_RESIDUAL) &&
                     h->fuse_aff == cur && nxi == k + 2 && other != cur && other < k)
                h->fuse_sum = nxi;
            else if (nx->n_in == 1 && (ops->flags & RP_LAYER_RELU) && (ops->flags & RP_LAYER_INPLACE) &&
                     (c->layer.ops->flags & RP_LAYER_OUT_UNUSED) && (caps & RP_LAYER_EP_RELU) &&
                     h->fuse_relu < 0 && c->consumer != m->output)
                h->fuse_relu = nxi;
            else
                break;
            nx->fuse_in = k;
            cur = c->consumer;
        }
    }
}

static int node_shape(const gnode *g, int64_t n, int64_t *shape) {
    memcpy(shape, g->shape, sizeof g->shape);
    shape[0] = n;
    return g->ndim;
}

static void gather_inputs(rp_model *m, const gnode *g, const rp_tensor *x, const rp_tensor **in) {
    for (int i = 0; i < g->n_in; i++) in[i] = g->in[i] < 0 ? x : &m->nodes[g->in[i]].out;
}

static int has_trainable(const gnode *g) {
    for (size_t i = 0; i < g->layer.n_params; i++)
        if (g->layer.params[i].trainable) return 1;
    return 0;
}

/* wants: the node's output gradient is needed (it or something upstream has
 * a trainable parameter, or its gradient is retained). Backward runs only the
 * layers that want, and reads only their inputs and outputs. */
static void mark_wants(rp_model *m) {
    for (int k = 0; k <= m->output; k++) {
        gnode *g = &m->nodes[k];
        /* a feature-gradient pass wants only the nodes from stop on */
        g->wants = m->stop >= 0 ? k == m->stop : has_trainable(g) || g->retain;
        for (int i = 0; !g->wants && i < g->n_in; i++)
            if (g->in[i] >= 0 && m->nodes[g->in[i]].wants) g->wants = 1;
    }
}

/* End a feature-gradient pass (restore the stop node's retain flag). */
static void feature_end(rp_model *m) {
    if (m->stop < 0) return;
    m->nodes[m->stop].retain = m->stop_retain;
    m->stop = -1;
}

/* An output outlives the forward when it is retained, it is the model
 * output, or (unless `lean`) backward may read it (the node or one of its
 * consumers wants a gradient). The others (the frozen prefix; everything in
 * a lean eval forward) go to the activation pool. */
static void mark_keep(rp_model *m, int lean) {
    mark_wants(m);
    for (int k = 0; k <= m->output; k++) m->nodes[k].bwkeep = m->nodes[k].wants;
    for (int k = 0; k <= m->output; k++) {
        const gnode *g = &m->nodes[k];
        if (!g->wants || k == m->stop) continue; /* (stop's backward never runs) */
        for (int i = 0; i < g->n_in; i++)
            if (g->in[i] >= 0) m->nodes[g->in[i]].bwkeep = 1;
    }
    for (int k = 0; k <= m->output; k++) {
        gnode *g = &m->nodes[k];
        g->keep = g->retain || k == m->output || (!lean && g->bwkeep);
    }
}

#define ACT_PINNED (1 << 30) /* slot kept until the next forward */

/* lean: eval forward, keeps only what consumers need (see rp_model_backward) */
static int forward_run(rp_model *m, const rp_tensor *x, int training, int lean, rp_error *err);

int rp_model_forward(rp_model *m, const rp_tensor *x, const rp_tensor **y, rp_error *err) {
    feature_end(m);
    if (m->output < 0) return rp_error_set(err, RP_ERR_INVALID, "model has no layers");
    if (x->ndim != 4 || x->shape[1] != m->c || x->shape[2] != m->h || x->shape[3] != m->w || x->shape[0] < 1) {
        char b[128];
        return rp_error_set(err, RP_ERR_INVALID, "model input has shape %s, expected [N, %d, %d, %d]",
                            rp_shape_str(x->ndim, x->shape, b, sizeof b), m->c, m->h, m->w);
    }
    if (forward_run(m, x, m->training, !m->training, err)) return err->status;
    *y = &m->nodes[m->output].out;
    return RP_OK;
}

int rp_model_feature_forward(rp_model *m, const rp_tensor *x, const char *node, const rp_tensor **y,
                             rp_error *err) {
    feature_end(m);
    int k = graph_find_node(m, node);
    if (k < 0) return rp_error_set(err, RP_ERR_NOTFOUND, "model has no layer '%s'", node);
    if (k >= m->output)
        return rp_error_set(err, RP_ERR_INVALID,
                            "layer '%s' is not before the model output: no gradient flows to it", node);
    if (x->ndim != 4 || x->shape[1] != m->c || x->shape[2] != m->h || x->shape[3] != m->w || x->shape[0] < 1) {
        char b[128];
        return rp_error_set(err, RP_ERR_INVALID, "model input has shape %s, expected [N, %d, %d, %d]",
                            rp_shape_str(x->ndim, x->shape, b, sizeof b), m->c, m->h, m->w);
    }
    m->stop = k;
    m->stop_retain = m->nodes[k].retain;
    m->nodes[k].retain = 1; /* its output and gradient outlive the pass */
    /* not lean: keeps what the feature backward reads, never fused */
    if (forward_run(m, x, m->training, 0, err)) {
        feature_end(m);
        return err->status;
    }
    *y = &m->nodes[m->output].out;
    return RP_OK;
}

/* Shape node k's output buffer for this forward: a view in place of its
 * input, a pooled activation, or its own buffer. */
static int node_buffer(rp_model *m, int k, int64_t n, int lean, rp_error *err) {
    gnode *g = &m->nodes[k];
    int64_t shape[RP_MAX_DIMS];
    int nd = node_shape(g, n, shape);
    size_t need = 1;
    for (int d = 0; d < nd; d++) need *= (size_t)shape[d];
    /* in place on the single-consumer output of a layer whose backward
     * does not read it (ReLU after conv/BN/add, as PyTorch's inplace) */
    gnode *src = g->n_in == 1 && g->in[0] >= 0 ? &m->nodes[g->in[0]] : NULL;
    if (src && (g->layer.ops->flags & RP_LAYER_INPLACE) && (src->layer.ops->flags & RP_LAYER_OUT_UNUSED) &&
        src->consumers == 1 && !src->retain && k != m->output && g->in[0] != m->output) {
        if (g->out.owns) rp_tensor_release(&g->out);
        g->out = rp_tensor_view(&src->out, nd, shape);
        g->aslot = src->aslot;
        if (g->aslot >= 0) m->aref[g->aslot] = g->keep ? ACT_PINNED : m->aref[g->aslot] + g->consumers + 1;
    } else if (!g->keep && !((lean || m->stop >= 0) && g->out.owns && g->out.cap >= need)) {
        /* (a lean forward or a feature-gradient pass writes into the buffer
           a training forward left: handing it to the pool would make the
           next training step allocate it again) */
        if ((g->aslot = act_acquire(m, need, g->consumers + 1, err)) < 0) return err->status;
        if (g->out.owns) rp_tensor_release(&g->out);
        g->out = rp_tensor_view(m->apool[g->aslot], nd, shape);
    } else {
        if (!g->out.owns) memset(&g->out, 0, sizeof g->out);
        g->aslot = -1;
        if (rp_tensor_reshape_alloc(&g->out, nd, shape, err)) return err->status;
    }
    return RP_OK;
}

/* The node's own hold on its buffer, then one read per input edge. */
static void node_release_reads(rp_model *m, gnode *g) {
    if (g->aslot >= 0 && g->bwkeep && !g->keep) m->recompute = 1;
    act_put(m, g->aslot);
    for (int i = 0; i < g->n_in; i++)
        if (g->in[i] >= 0) act_put(m, m->nodes[g->in[i]].aslot);
}

/* A layer with running statistics (buffers) whose learnable parameters are
 * all frozen: batch norm under freeze_bn. */
static int frozen_stats_layer(const rp_layer *l) {
    int buffers = 0, learnable = 0;
    for (size_t i = 0; i < l->n_params; i++) {
        if (l->params[i].is_buffer)
            buffers++;
        else if (l->params[i].trainable)
            return 0;
        else
            learnable++;
    }
    return buffers > 0 && learnable > 0;
}

/* The context node g runs with: with freeze_bn, frozen batch-norm layers
 * stay in eval mode in training passes (running statistics used, not
 * updated), the fine-tuning habit of calling .eval() on frozen BN modules. */
static const rp_run_ctx *node_ctx(const rp_model *m, const gnode *g, const rp_run_ctx *ctx, rp_run_ctx *local) {
    if (!ctx->training || !m->freeze_bn || !frozen_stats_layer(&g->layer)) return ctx;
    *local = *ctx;
    local->training = 0;
    return local;
}

void rp_model_set_freeze_bn(rp_model *m, int on) { m->freeze_bn = on != 0; }

static int forward_run(rp_model *m, const rp_tensor *x, int training, int lean, rp_error *err) {
    rp_run_ctx ctx = {training, m->seed, m->step, 1, 0}, nctx;
    rp_bn_sync_cur = m->stat_sync;
    int64_t n = x->shape[0];
    /* keep the header: callers pass views that end with their scope */
    if (x != &m->xview) m->xview = rp_tensor_view(x, x->ndim, x->shape);
    m->last_x = &m->xview;
    for (int k = 0; k <= m->output; k++) m->nodes[k].consumers = 0;
    for (int k = 0; k <= m->output; k++)
        for (int i = 0; i < m->nodes[k].n_in; i++) {
            int j = m->nodes[k].in[i];
            if (j < 0) continue;
            m->nodes[j].consumers++;
            m->nodes[j].consumer = k;
        }
    mark_keep(m, lean);
    plan_fusion(m, lean && !m->no_fuse && !fusion_env_off());
    m->recompute = 0;
    m->fused = 0;
    for (size_t i = 0; i < m->napool; i++) m->aref[i] = 0, m->asize[i] = 0;
    for (int k = 0; k <= m->output; k++) {
        gnode *g = &m->nodes[k];
        /* (a chain head already shaped its affine node's buffer) */
        if (!g->buf_ready && node_buffer(m, k, n, lean, err)) return err->status;
        g->buf_ready = 0;
        g->grad_ready = 0;
        const rp_tensor *in[RP_MAX_LAYER_INPUTS];
        gather_inputs(m, g, x, in);
        if (g->fuse_in >= 0) { /* computed by its chain head */
            if (!g->released) node_release_reads(m, g);
            g->released = 0;
            continue;
        }
        if (g->fuse_aff < 0 && g->fuse_relu < 0) {
            if (g->layer.ops->forward(&g->layer, node_ctx(m, g, &ctx, &nctx), g->n_in, in, &g->out, err)) {
                rp_error_prefix(err, "layer '%s' (%s) forward: ", g->name, g->type);
                return err->status;
            }
            node_release_reads(m, g);
            continue;
        }
        /* a chain head: the result goes where the last node of the chain
         * keeps it, with the buffer choices of the unfused layers. A relu is
         * in place (plan_fusion); an affine node and a sum after it (next in
         * order) have their own buffers, taken here after the holds of the
         * nodes before them are released, as they would be unfused. */
        rp_layer_epilogue ep = {.relu = g->fuse_relu >= 0};
        rp_tensor *dst = &g->out;
        if (g->fuse_aff >= 0) {
            gnode *a = &m->nodes[g->fuse_aff], *d = a, *spare = g;
            node_release_reads(m, g);
            if (node_buffer(m, g->fuse_aff, n, lean, err)) return err->status;
            a->buf_ready = 1;
            if (g->fuse_sum >= 0) {
                gnode *sn = &m->nodes[g->fuse_sum];
                node_release_reads(m, a);
                a->released = 1;
                if (node_buffer(m, g->fuse_sum, n, lean, err)) return err->status;
                sn->buf_ready = 1;
                const rp_tensor *sin[RP_MAX_LAYER_INPUTS];
                gather_inputs(m, sn, x, sin);
                ep.residual = sin[sn->in[0] == g->fuse_aff ? 1 : 0]->data;
                a->hidden = 1;
                d = sn, spare = a;
            }
            /* d's buffer may be one the head's inputs just released (a
             * convolution cannot run in place): then the result goes to the
             * buffer of `spare` (the node before d, never written), which
             * becomes d's: by view when spare owns it (it lives until the next
             * forward), by exchanging the two pool tensors when their
             * capacities are equal (the pool then evolves exactly as
             * unfused), else by handing spare's slot to d and freeing the one
             * d took (the pool may then place later outputs differently) */
            int alias = 0;
            for (int i = 0; i < g->n_in; i++)
                if (d->aslot >= 0 && g->in[i] >= 0 && m->nodes[g->in[i]].aslot == d->aslot) alias = 1;
            if (alias && spare->aslot < 0) {
                d->out = rp_tensor_view(&spare->out, d->out.ndim, d->out.shape);
            } else if (alias && m->apool[spare->aslot]->cap == m->apool[d->aslot]->cap) {
                rp_tensor *t = m->apool[spare->aslot];
                m->apool[spare->aslot] = m->apool[d->aslot];
                m->apool[d->aslot] = t;
                d->out = rp_tensor_view(t, d->out.ndim, d->out.shape);
                spare->out = rp_tensor_view(m->apool[spare->aslot], spare->out.ndim, spare->out.shape);
            } else if (alias) {
                /* spare's slot: its remaining holds, plus d's */
                m->aref[spare->aslot] += m->aref[d->aslot];
                m->aref[d->aslot] = 0;
                d->aslot = spare->aslot;
                d->out = rp_tensor_view(&spare->out, d->out.ndim, d->out.shape);
            }
            dst = &d->out;
            if (a->layer.ops->channel_affine(&a->layer, &ctx, &ep.scale, &ep.shift, err)) {
                rp_error_prefix(err, "layer '%s' (%s) forward: ", a->name, a->type);
                return err->status;
            }
        }
        if (g->layer.ops->forward_ep(&g->layer, &ctx, g->n_in, in, dst, &ep, err)) {
            rp_error_prefix(err, "layer '%s' (%s) forward: ", g->name, g->type);
            return err->status;
        }
        g->hidden = 1;
        m->fused++;
        if (g->fuse_aff < 0) node_release_reads(m, g);
    }
    /* a backward must not see fused outputs: it re-runs the forward unfused */
    if (m->fused) m->recompute = 1;
    for (size_t k = (size_t)m->output + 1; k < m->n; k++) m->nodes[k].grad_ready = 0;
    return RP_OK;
}

static int backward_run(rp_model *m, const rp_tensor *dy, rp_error *err);

int rp_model_backward(rp_model *m, const rp_tensor *dy, rp_error *err) {
    feature_end(m);
    return backward_run(m, dy, err);
}

int rp_model_feature_backward(rp_model *m, const rp_tensor *dy, const rp_tensor **feat,
                              const rp_tensor **grad, rp_error *err) {
    if (m->stop < 0)
        return rp_error_set(err, RP_ERR_INVALID, "feature backward without a feature forward");
    if (backward_run(m, dy, err)) return err->status;
    gnode *g = &m->nodes[m->stop];
    if (!g->grad_ready || g->gslot < 0)
        return rp_error_set(err, RP_ERR_INTERNAL, "layer '%s' received no gradient", g->name);
    *feat = &g->out;
    *grad = GRAD(m, g);
    return RP_OK;
}

static int backward_run(rp_model *m, const rp_tensor *dy, rp_error *err) {
    if (m->output < 0) return rp_error_set(err, RP_ERR_INVALID, "model has no layers");
    gnode *og = &m->nodes[m->output];
    if (!og->out.data || !m->last_x || !rp_tensor_same_shape(&og->out, dy)) {
        char a[128], b[128];
        return rp_error_set(err, RP_ERR_INVALID, "backward: gradient shape %s does not match the last output %s",
                            rp_shape_str(dy->ndim, dy->shape, a, sizeof a),
                            rp_shape_str(og->out.ndim, og->out.shape, b, sizeof b));
    }
    /* an eval forward kept no activations: run it again keeping what
     * backward reads (eval forward is deterministic, so bit-identical) */
    if (m->recompute && forward_run(m, m->last_x, 0, 0, err)) return err->status;
    /* which node outputs need a gradient */
    for (size_t i = 0; i < m->ngpool; i++) m->gbusy[i] = 0;
    for (size_t k = 0; k < m->n; k++) {
        m->nodes[k].gslot = -1;
        m->nodes[k].grad_ready = 0;
    }
    mark_wants(m);
    if (!og->wants) return RP_OK; /* nothing trainable, nothing retained */
    if ((og->gslot = grad_acquire(m, dy->ndim, dy->shape, err)) < 0) return err->status;
    memcpy(GRAD(m, og)->data, dy->data, dy->numel * sizeof(float));
    og->grad_ready = 1;
    rp_run_ctx ctx = {m->training, m->seed, m->step, 1, m->stop >= 0};
    rp_bn_sync_cur = m->stat_sync;
    int64_t n = dy->shape[0];
    for (int k = m->output; k > m->stop; k--) { /* (stop = -1: every node) */
        gnode *g = &m->nodes[k];
        if (!g->grad_ready) continue;
        if (!g->wants) {
            if (!g->retain) grad_release(m, g);
            continue;
        }
        rp_tensor *din[RP_MAX_LAYER_INPUTS];
        int direct[RP_MAX_LAYER_INPUTS];
        int any = 0;
        for (int i = 0; i < g->n_in; i++) {
            din[i] = NULL;
            direct[i] = 0;
            int j = g->in[i];
            if (j < 0 || !m->nodes[j].wants) continue;
            gnode *src = &m->nodes[j];
            int64_t shape[RP_MAX_DIMS];
            int nd = node_shape(src, n, shape);
            int dup = 0;
            for (int q = 0; q < i; q++)
                if (g->in[q] == j && direct[q]) dup = 1;
            if (!src->grad_ready && !dup) {
                if ((src->gslot = grad_acquire(m, nd, shape, err)) < 0) return err->status;
                din[i] = GRAD(m, src);
                direct[i] = 1;
            } else {
                if (rp_tensor_reshape_alloc(&m->scratch[i], nd, shape, err)) return err->status;
                din[i] = &m->scratch[i];
            }
            any = 1;
        }
        if (!any && (m->stop >= 0 || !has_trainable(g))) {
            if (!g->retain) grad_release(m, g);
            continue;
        }
        ctx.need_input_grad = any;
        const rp_tensor *in[RP_MAX_LAYER_INPUTS];
        gather_inputs(m, g, m->last_x, in);
        rp_run_ctx nctx;
        if (g->layer.ops->backward(&g->layer, node_ctx(m, g, &ctx, &nctx), g->n_in, in, &g->out, GRAD(m, g), din,
                                   err)) {
            rp_error_prefix(err, "layer '%s' (%s) backward: ", g->name, g->type);
            return err->status;
        }
        for (int i = 0; i < g->n_in; i++) {
            if (!din[i]) continue;
            gnode *src = &m->nodes[g->in[i]];
            if (direct[i]) {
                src->grad_ready = 1;
            } else {
                float *d = GRAD(m, src)->data;
                const float *s = din[i]->data;
                int64_t cnt = (int64_t)GRAD(m, src)->numel;
#pragma omp parallel for simd schedule(static) if (cnt > RP_PAR_MIN)
                for (int64_t e = 0; e < cnt; e++) d[e] += s[e];
            }
        }
        if (!g->retain) grad_release(m, g);
        /* this node's parameter gradients are final for this backward:
         * data-parallel training starts reducing them while the rest runs */
        if (m->grad_ready && m->stop < 0 && g->layer.n_params)
            m->grad_ready(m->grad_ready_ctx, g->layer.params, g->layer.n_params);
    }
    return RP_OK;
}

_Thread_local const rp_stat_sync *rp_bn_sync_cur;

void rp_model_set_stat_sync(rp_model *m, const rp_stat_sync *s) { m->stat_sync = s; }

void rp_model_set_grad_ready(rp_model *m, rp_grad_ready_fn fn, void *ctx) {
    m->grad_ready = fn;
    m->grad_ready_ctx = ctx;
}

void rp_model_zero_grad(rp_model *m) {
    for (size_t i = 0; i < m->n_params; i++)
        if (m->params[i]->grad) rp_tensor_zero(m->params[i]->grad);
}

int rp_model_retain_grad(rp_model *m, const char *node, rp_error *err) {
    int i = graph_find_node(m, node);
    if (i < 0) return rp_error_set(err, RP_ERR_NOTFOUND, "model has no layer '%s'", node);
    m->nodes[i].retain = 1;
    return RP_OK;
}

const rp_tensor *rp_model_node_output(const rp_model *m, const char *node) {
    int i = graph_find_node(m, node);
    if (i < 0 || !m->nodes[i].out.data || m->nodes[i].hidden || (m->nodes[i].aslot >= 0 && !m->nodes[i].keep))
        return NULL;
    return &m->nodes[i].out;
}

const rp_tensor *rp_model_node_grad(const rp_model *m, const char *node) {
    int i = graph_find_node(m, node);
    if (i < 0 || !m->nodes[i].grad_ready || m->nodes[i].gslot < 0) return NULL;
    return m->gpool[m->nodes[i].gslot];
}

const char *rp_model_last_conv(const rp_model *m) {
    for (int k = m->output; k >= 0; k--)
        if (m->nodes[k].ndim == 4 && m->nodes[k].shape[2] * m->nodes[k].shape[3] > 1)
            return m->nodes[k].name;
    return NULL;
}

int rp_model_fused_chains(const rp_model *m) { return m->fused; }

size_t rp_model_activation_bytes(const rp_model *m) {
    size_t b = 0;
    for (size_t k = 0; k < m->n; k++)
        if (m->nodes[k].out.owns) b += m->nodes[k].out.cap * sizeof(float);
    for (size_t i = 0; i < m->napool; i++) b += m->apool[i]->cap * sizeof(float);
    return b;
}

/* ---- parameters -------------------------------------------------------------------- */

size_t rp_model_num_params(const rp_model *m) { return m->n_params; }

rp_param *rp_model_param(rp_model *m, size_t i) { return i < m->n_params ? m->params[i] : NULL; }

rp_param *rp_model_find_param(rp_model *m, const char *name) {
    for (size_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i]->name, name) == 0) return m->params[i];
    return NULL;
}

size_t rp_model_count_weights(const rp_model *m, int trainable_only) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        const rp_param *p = m->params[i];
        if (p->is_buffer || (trainable_only && !p->trainable)) continue;
        n += p->value->numel;
    }
    return n;
}

void rp_model_input_shape(const rp_model *m, int *c, int *h, int *w) {
    if (c) *c = m->c;
    if (h) *h = m->h;
    if (w) *w = m->w;
}

int rp_model_num_classes(const rp_model *m) {
    if (m->output < 0) return 0;
    const gnode *g = &m->nodes[m->output];
    return g->ndim >= 2 ? (int)g->shape[1] : 0;
}

static int pattern_match(const char *pat, const char *name) {
    if (strpbrk(pat, "*?[")) return fnmatch(pat, name, 0) == 0;
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '.') return strncmp(pat, name, n) == 0;
    if (strcmp(pat, name) == 0) return 1;
    return strncmp(pat, name, n) == 0 && name[n] == '.'; /* "layer1" = everything under it */
}

int rp_model_freeze(rp_model *m, const char *pattern, size_t *count, rp_error *err) {
    size_t c = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        rp_param *p = m->params[i];
        if (p->is_buffer || !pattern_match(pattern, p->name)) continue;
        p->trainable = 0;
        c++;
    }
    if (count) *count = c;
    if (!c) {
        const char *hint = m->n_params ? m->params[0]->name : "(none)";
        return rp_error_set(err, RP_ERR_NOTFOUND,
                            "freeze: no parameter matches '%s' (names look like '%s'; use a prefix "
                            "such as 'layer1', 'layer1.' or a glob such as 'layer[12].*')",
                            pattern, hint);
    }
    return RP_OK;
}

/* ---- introspection for arch builders / io ------------------------------------------ */

rp_layer *rp_model_layer(rp_model *m, const char *node) {
    int i = graph_find_node(m, node);
    return i < 0 ? NULL : &m->nodes[i].layer;
}
size_t rp_model_num_nodes(const rp_model *m) { return m->n; }
const char *rp_model_node_name(const rp_model *m, size_t i) { return i < m->n ? m->nodes[i].name : NULL; }
const char *rp_model_node_type(const rp_model *m, size_t i) { return i < m->n ? m->nodes[i].type : NULL; }
rp_layer *rp_model_node_layer(rp_model *m, size_t i) { return i < m->n ? &m->nodes[i].layer : NULL; }
