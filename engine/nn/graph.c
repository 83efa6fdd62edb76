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

typedef struct gnode {
    char *name;
    char *type;
    rp_node *opts;                  /* validated options (defaults filled), owned */
    int n_in;
    int in[RP_MAX_LAYER_INPUTS];    /* node index, -1 = model input */
    rp_layer layer;
    int ndim;                       /* output shape at build time (N = 1) */
    int64_t shape[RP_MAX_DIMS];
    rp_tensor out;
    int gslot;                      /* gradient buffer in the pool, -1 = none */
    int retain;
    int grad_ready;                 /* gslot holds this backward's gradient */
    int wants;                      /* scratch: gradient of the output needed */
    int consumers;                  /* scratch: nodes reading this output */
    int consumer;                   /* scratch: the reader when consumers == 1 */
    int fuse_in;                    /* scratch: computed by chain head fuse_in's
                                       forward_ep (-1 = runs its own forward) */
    int fuse_aff, fuse_sum, fuse_relu; /* scratch, chain head: the affine /
                                       add / relu node folded into it (-1 =
                                       none) */
    int hidden;                     /* scratch: output never written (folded
                                       into the chain's last node) */
    int buf_ready;                  /* scratch: output buffer already shaped */
    int released;                   /* scratch: holds already released */
    int keep;                       /* scratch: output must outlive the forward */
    int bwkeep;                     /* scratch: backward may read the output */
    int aslot;                      /* activation pool slot holding `out`, -1 = own */
} gnode;

struct rp_model {
    int c, h, w;
    gnode *nodes;
    size_t n, cap;
    int output;                     /* node index, -1 when empty */
    rp_param **params;
    size_t n_params;
    int training;
    int freeze_bn;                  /* rp_model_set_freeze_bn */
    uint64_t seed, step;
    rp_model_init_fn init_hook;
    rp_tensor xview;                /* header of the last forward's input (its
                                       data borrowed: must stay valid until
                                       backward; the caller's struct need not) */
    const rp_tensor *last_x;        /* &xview once a forward ran */
    char *arch_yaml;                /* cache */
    rp_tensor scratch[RP_MAX_LAYER_INPUTS];
    rp_tensor **gpool;              /* gradient buffers (each owned) */
    int *gbusy;
    size_t ngpool;
    rp_tensor **apool;              /* transient activation buffers (each owned) */
    size_t *asize;                  /* scratch: largest request this forward */
    int *aref;                      /* pending reads of the slot (0 = free) */
    size_t napool;
    int recompute;                  /* the last forward (eval) dropped outputs
                                       backward reads, or was fused: backward
                                       re-runs it */
    int no_fuse;                    /* eval-mode fusion disabled */
    rp_grad_ready_fn grad_ready;    /* rp_model_set_grad_ready (not cloned) */
    void *grad_ready_ctx;
    const rp_stat_sync *stat_sync;  /* rp_model_set_stat_sync (not cloned) */
    int stop;                       /* feature-gradient pass: node whose
                                       output gradient it ends at (-1 = none) */
    int stop_retain;                /* that node's own retain flag */
    int fused;                      /* chains the last forward fused */
};

#define GRAD(m, g) ((m)->gpool[(g)->gslot])

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

static int find_node(const rp_model *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->nodes[i].name, name) == 0) return (int)i;
    return -1;
}

static int rebuild_params(rp_model *m, rp_error *err) {
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

static void drop_arch_cache(rp_model *m) {
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
    if (find_node(m, name) >= 0)
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
            in_idx[i] = find_node(m, inputs[i]);
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
    drop_arch_cache(m);
    if (rebuild_params(m, err)) return err->status;
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
    int i = find_node(m, node);
    if (i < 0) return rp_error_set(err, RP_ERR_NOTFOUND, "model has no layer '%s'", node);
    m->output = i;
    drop_arch_cache(m);
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
    int k = find_node(m, node);
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
    int i = find_node(m, node);
    if (i < 0) return rp_error_set(err, RP_ERR_NOTFOUND, "model has no layer '%s'", node);
    m->nodes[i].retain = 1;
    return RP_OK;
}

const rp_tensor *rp_model_node_output(const rp_model *m, const char *node) {
    int i = find_node(m, node);
    if (i < 0 || !m->nodes[i].out.data || m->nodes[i].hidden || (m->nodes[i].aslot >= 0 && !m->nodes[i].keep))
        return NULL;
    return &m->nodes[i].out;
}

const rp_tensor *rp_model_node_grad(const rp_model *m, const char *node) {
    int i = find_node(m, node);
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
    int i = find_node(m, node);
    return i < 0 ? NULL : &m->nodes[i].layer;
}
size_t rp_model_num_nodes(const rp_model *m) { return m->n; }
const char *rp_model_node_name(const rp_model *m, size_t i) { return i < m->n ? m->nodes[i].name : NULL; }
const char *rp_model_node_type(const rp_model *m, size_t i) { return i < m->n ? m->nodes[i].type : NULL; }
rp_layer *rp_model_node_layer(rp_model *m, size_t i) { return i < m->n ? &m->nodes[i].layer : NULL; }

/* ---- architecture text ------------------------------------------------------------------ */

static rp_node *int_node(int64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return rp_node_new_scalar(b);
}

/* {input: [C, H, W], output: NAME, nodes: [{name, type, in: [...], opts: {...}}]} */
static rp_node *arch_tree(const rp_model *m) {
    rp_node *root = rp_node_new_map(), *inp = rp_node_new_seq(), *nodes = rp_node_new_seq();
    int ok = root && inp && nodes;
    if (ok) ok = !rp_node_seq_push(inp, int_node(m->c)) && !rp_node_seq_push(inp, int_node(m->h)) &&
                 !rp_node_seq_push(inp, int_node(m->w));
    if (ok) ok = !rp_node_map_set(root, "input", inp);
    else rp_node_free(inp);
    if (ok && m->output >= 0) ok = !rp_node_map_set(root, "output", rp_node_new_string(m->nodes[m->output].name));
    for (size_t i = 0; ok && i < m->n; i++) {
        const gnode *g = &m->nodes[i];
        rp_node *e = rp_node_new_map(), *ins = rp_node_new_seq();
        ok = e && ins;
        for (int k = 0; ok && k < g->n_in; k++)
            ok = !rp_node_seq_push(ins, rp_node_new_string(g->in[k] < 0 ? "input" : m->nodes[g->in[k]].name));
        if (ok) ok = !rp_node_map_set(e, "name", rp_node_new_string(g->name)) &&
                     !rp_node_map_set(e, "type", rp_node_new_string(g->type)) && !rp_node_map_set(e, "in", ins);
        else rp_node_free(ins);
        if (ok) ok = !rp_node_map_set(e, "opts", g->opts ? rp_node_clone(g->opts) : rp_node_new_map());
        if (ok) ok = !rp_node_seq_push(nodes, e);
        else rp_node_free(e);
    }
    if (ok) ok = !rp_node_map_set(root, "nodes", nodes);
    else rp_node_free(nodes);
    if (!ok) {
        rp_node_free(root);
        return NULL;
    }
    return root;
}

const char *rp_model_arch_yaml(const rp_model *m) {
    rp_model *mm = (rp_model *)m; /* cache only */
    if (mm->arch_yaml) return mm->arch_yaml;
    rp_node *t = arch_tree(m);
    if (!t) return NULL;
    rp_error err;
    char *s = NULL;
    if (rp_node_to_yaml(t, &s, &err)) s = NULL;
    rp_node_free(t);
    mm->arch_yaml = s;
    return s;
}

static int arch_err(const rp_node *at, rp_error *err, const char *what) {
    return rp_error_at(err, at, RP_ERR_FORMAT, "architecture description: %s", what);
}

int rp_model_from_arch(const rp_node *arch, rp_model **out, rp_error *err) {
    *out = NULL;
    const rp_node *inp = rp_node_get(arch, "input"), *nodes = rp_node_get(arch, "nodes");
    if (!inp || inp->kind != RP_NODE_SEQ || inp->n != 3)
        return arch_err(arch, err, "'input' must be [C, H, W]");
    if (!nodes || nodes->kind != RP_NODE_SEQ || nodes->n == 0)
        return arch_err(arch, err, "'nodes' must be a non-empty list");
    int64_t d[3];
    for (int i = 0; i < 3; i++)
        if (rp_node_as_int(inp->items[i], &d[i], err)) return err->status;
    rp_model *m;
    if (rp_model_new((int)d[0], (int)d[1], (int)d[2], &m, err)) return err->status;
    for (size_t i = 0; i < nodes->n; i++) {
        const rp_node *e = nodes->items[i];
        const char *name = rp_node_str(rp_node_get(e, "name")), *type = rp_node_str(rp_node_get(e, "type"));
        const rp_node *ins = rp_node_get(e, "in");
        if (!name || !type) {
            rp_model_free(m);
            return arch_err(e, err, "each node needs 'name' and 'type'");
        }
        const char *in_names[RP_MAX_LAYER_INPUTS];
        int n_in = 0;
        if (ins && ins->kind == RP_NODE_SEQ) {
            for (size_t k = 0; k < ins->n && n_in < RP_MAX_LAYER_INPUTS; k++) {
                in_names[n_in] = rp_node_str(ins->items[k]);
                if (!in_names[n_in]) {
                    rp_model_free(m);
                    return arch_err(ins, err, "'in' must be a list of layer names");
                }
                n_in++;
            }
        } else if (ins && rp_node_str(ins)) {
            in_names[n_in++] = rp_node_str(ins);
        }
        if (rp_model_add(m, name, type, rp_node_get(e, "opts"), n_in ? in_names : NULL, n_in, err)) {
            rp_model_free(m);
            return err->status;
        }
    }
    const char *o = rp_node_str(rp_node_get(arch, "output"));
    if (o && rp_model_set_output(m, o, err)) {
        rp_model_free(m);
        return err->status;
    }
    *out = m;
    return RP_OK;
}

int rp_model_from_layers(const rp_node *layers, int c, int h, int w, rp_model **out, rp_error *err) {
    *out = NULL;
    if (!layers || layers->kind != RP_NODE_SEQ || layers->n == 0)
        return rp_error_at(err, layers, RP_ERR_INVALID,
                           "layers: expected a list like `- {conv2d: {out: 32, kernel: 3}, name: c1}`");
    rp_model *m;
    if (rp_model_new(c, h, w, &m, err)) return err->status;
    for (size_t i = 0; i < layers->n; i++) {
        const rp_node *e = layers->items[i];
        const char *type = NULL, *name = NULL;
        const rp_node *opts = NULL, *ins = NULL;
        if (e->kind == RP_NODE_SCALAR) {
            type = e->str;
        } else if (e->kind == RP_NODE_MAP) {
            for (size_t k = 0; k < e->n; k++) {
                const char *key = e->keys[k]->str;
                if (strcmp(key, "name") == 0) name = rp_node_str(e->items[k]);
                else if (strcmp(key, "in") == 0) ins = e->items[k];
                else if (type) {
                    rp_model_free(m);
                    return rp_error_at(err, e->keys[k], RP_ERR_INVALID,
                                       "layers[%zu]: two layer types ('%s' and '%s') in one item", i, type, key);
                } else {
                    type = key;
                    opts = e->items[k];
                }
            }
        }
        if (!type) {
            rp_model_free(m);
            return rp_error_at(err, e, RP_ERR_INVALID, "layers[%zu]: expected `{TYPE: {options}, name: ..., in: [...]}`", i);
        }
        char auto_name[64];
        if (!name) {
            snprintf(auto_name, sizeof auto_name, "%s_%zu", type, i);
            name = auto_name;
        }
        const char *in_names[RP_MAX_LAYER_INPUTS];
        int n_in = 0;
        if (ins && ins->kind == RP_NODE_SEQ) {
            for (size_t k = 0; k < ins->n && n_in < RP_MAX_LAYER_INPUTS; k++)
                if ((in_names[n_in] = rp_node_str(ins->items[k]))) n_in++;
        } else if (ins && rp_node_str(ins)) {
            in_names[n_in++] = rp_node_str(ins);
        }
        if (opts && opts->kind == RP_NODE_NULL) opts = NULL;
        if (rp_model_add(m, name, type, opts, n_in ? in_names : NULL, n_in, err)) {
            rp_model_free(m);
            return err->status;
        }
    }
    *out = m;
    return RP_OK;
}

int rp_model_build(const char *arch, const rp_node *opts, rp_model **out, rp_error *err) {
    *out = NULL;
    const struct rp_component *comp;
    if (rp_component_lookup(RP_COMP_ARCH, arch, opts, &comp, err)) return err->status;
    const struct rp_arch_ops *ops = comp->impl;
    rp_node *v = NULL;
    if (rp_component_params(RP_COMP_ARCH, arch, opts, &v, err)) {
        rp_node_free(v);
        return err->status;
    }
    int st = ops->build(v, out, err);
    rp_node_free(v);
    if (st) {
        rp_model_free(*out);
        *out = NULL;
        rp_error_prefix(err, "architecture '%s': ", arch);
        return st;
    }
    return rp_model_init_params(*out, 0, err);
}

/* ---- copies and surgery ------------------------------------------------------------------ */

/* Copy values (and trainable flags) of same-named, same-shaped params. */
static void copy_params(rp_model *dst, const rp_model *src, int flags) {
    for (size_t i = 0; i < dst->n_params; i++) {
        rp_param *d = dst->params[i];
        for (size_t j = 0; j < src->n_params; j++) {
            const rp_param *s = src->params[j];
            if (strcmp(s->name, d->name) || !rp_tensor_same_shape(s->value, d->value)) continue;
            memcpy(d->value->data, s->value->data, s->value->numel * sizeof(float));
            if (flags) {
                d->trainable = s->trainable;
                d->no_decay = s->no_decay;
            }
            break;
        }
    }
}

/* Replace m's contents with n's (n is consumed). */
static void model_swap_in(rp_model *m, rp_model *n) {
    rp_model tmp = *m;
    *m = *n;
    *n = tmp;
    m->grad_ready = tmp.grad_ready; /* the hooks belong to the caller's model */
    m->grad_ready_ctx = tmp.grad_ready_ctx;
    m->stat_sync = tmp.stat_sync;
    rp_model_free(n);
}

int rp_model_clone(const rp_model *m, rp_model **out, rp_error *err) {
    *out = NULL;
    rp_node *t = arch_tree(m);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    rp_model *c;
    int st = rp_model_from_arch(t, &c, err);
    rp_node_free(t);
    if (st) return st;
    copy_params(c, m, 1);
    for (size_t i = 0; i < m->n; i++) c->nodes[i].retain = m->nodes[i].retain;
    c->training = m->training;
    c->freeze_bn = m->freeze_bn;
    c->no_fuse = m->no_fuse;
    c->seed = m->seed;
    c->step = m->step;
    c->init_hook = m->init_hook;
    *out = c;
    return RP_OK;
}

int rp_model_output_node(const rp_model *m) { return m->output; }

int rp_model_node_inputs(const rp_model *m, size_t i, int *in, int max) {
    if (i >= m->n) return 0;
    const gnode *g = &m->nodes[i];
    for (int k = 0; k < g->n_in && k < max; k++) in[k] = g->in[k];
    return g->n_in;
}

int rp_model_slice(const rp_model *m, size_t first, size_t last, rp_model **out, rp_error *err) {
    *out = NULL;
    if (last >= m->n || first > last)
        return rp_error_set(err, RP_ERR_INVALID, "model slice %zu..%zu: the model has nodes 0..%zu", first, last,
                            m->n ? m->n - 1 : 0);
    /* the one tensor entering the range from outside (-1 = model input) */
    int cut = -2;
    for (size_t k = first; k <= last; k++) {
        const gnode *g = &m->nodes[k];
        for (int i = 0; i < g->n_in; i++) {
            int j = g->in[i];
            if (j >= (int)first) continue;
            if (cut != -2 && cut != j)
                return rp_error_set(err, RP_ERR_INVALID,
                                    "cannot cut the model before '%s': the layers from there on read both '%s' "
                                    "and '%s'",
                                    m->nodes[first].name, cut < 0 ? "input" : m->nodes[cut].name,
                                    j < 0 ? "input" : m->nodes[j].name);
            cut = j;
        }
    }
    if (cut == -2) cut = (int)first - 1; /* (a range reading nothing: never built by the zoo) */
    int c = m->c, h = m->h, w = m->w, flat = 0;
    if (cut >= 0) {
        const gnode *s = &m->nodes[cut];
        if (s->ndim == 4) {
            c = (int)s->shape[1], h = (int)s->shape[2], w = (int)s->shape[3];
        } else if (s->ndim == 2) {
            c = (int)s->shape[1], h = 1, w = 1, flat = 1;
        } else {
            char b[96];
            return rp_error_set(err, RP_ERR_INVALID,
                                "cannot cut the model before '%s': '%s' outputs %s (a slice starts from "
                                "[N, C, H, W] or [N, F])",
                                m->nodes[first].name, s->name, rp_shape_str(s->ndim, s->shape, b, sizeof b));
        }
    }
    rp_model *sl;
    if (rp_model_new(c, h, w, &sl, err)) return err->status;
    const char *src = "input";
    if (flat) {
        src = "slice.flatten";
        if (rp_model_add(sl, src, "flatten", NULL, NULL, 0, err)) goto fail;
    }
    for (size_t k = first; k <= last; k++) {
        const gnode *g = &m->nodes[k];
        const char *ins[RP_MAX_LAYER_INPUTS];
        for (int i = 0; i < g->n_in; i++) ins[i] = g->in[i] < (int)first ? src : m->nodes[g->in[i]].name;
        if (rp_model_add(sl, g->name, g->type, g->opts, ins, g->n_in, err)) goto fail;
    }
    if (rp_model_set_output(sl, m->nodes[last].name, err)) goto fail;
    copy_params(sl, m, 1);
    sl->no_fuse = m->no_fuse;
    sl->training = m->training;
    sl->seed = m->seed;
    sl->step = m->step;
    *out = sl;
    return RP_OK;
fail:
    rp_error_prefix(err, "model slice from '%s': ", m->nodes[first].name);
    rp_model_free(sl);
    return err->status;
}

/* Append a node described by name/type/opts/inputs from a seq of strings. */
static int add_from_entry(rp_model *m, const rp_node *e, const char *rename_input, rp_error *err) {
    const rp_node *ins = rp_node_get(e, "in");
    const char *in_names[RP_MAX_LAYER_INPUTS];
    int n_in = 0;
    for (size_t k = 0; ins && k < ins->n && n_in < RP_MAX_LAYER_INPUTS; k++) {
        const char *s = rp_node_str(ins->items[k]);
        if (rename_input && strcmp(s, "input") == 0) s = rename_input;
        in_names[n_in++] = s;
    }
    return rp_model_add(m, rp_node_str(rp_node_get(e, "name")), rp_node_str(rp_node_get(e, "type")),
                        rp_node_get(e, "opts"), in_names, n_in, err);
}

int rp_model_replace_head(rp_model *m, int classes, double dropout, uint64_t seed, rp_error *err) {
    if (classes < 1) return rp_error_set(err, RP_ERR_INVALID, "replace head: classes must be >= 1, got %d", classes);
    if (!(dropout >= 0 && dropout < 1))
        return rp_error_set(err, RP_ERR_INVALID, "replace head: dropout must be in [0, 1), got %g", dropout);
    int head = -1;
    for (int k = m->output; k >= 0; k--)
        if (strcmp(m->nodes[k].type, "linear") == 0) {
            head = k;
            break;
        }
    if (head < 0) return rp_error_set(err, RP_ERR_INVALID, "replace head: the model has no linear layer");
    /* With dropout the head becomes what PyTorch users write,
     * `model.fc = nn.Sequential(nn.Dropout(p), nn.Linear(in, classes))`: nodes
     * "<head>.0" (dropout) and "<head>.1" (linear), so the parameters are
     * fc.1.weight / fc.1.bias and state dicts load both ways strictly.
     * Without dropout the linear keeps the head's name. */
    const char *hname = m->nodes[head].name;
    char dname[300], lname[300];
    snprintf(dname, sizeof dname, "%s.0", hname);
    snprintf(lname, sizeof lname, dropout > 0 ? "%s.1" : "%s", hname);
    rp_node *t = arch_tree(m);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    const rp_node *nodes = rp_node_get(t, "nodes");
    rp_model *n;
    int st = rp_model_new(m->c, m->h, m->w, &n, err);
    for (size_t i = 0; st == RP_OK && i < nodes->n; i++) {
        const rp_node *e = nodes->items[i];
        if ((int)i != head) {
            /* consumers of the old head read the new linear */
            const rp_node *ins = rp_node_get(e, "in");
            const char *in_names[RP_MAX_LAYER_INPUTS];
            int n_in = 0;
            for (size_t k = 0; ins && k < ins->n && n_in < RP_MAX_LAYER_INPUTS; k++) {
                const char *s = rp_node_str(ins->items[k]);
                in_names[n_in++] = strcmp(s, hname) == 0 ? lname : s;
            }
            st = rp_model_add(n, rp_node_str(rp_node_get(e, "name")), rp_node_str(rp_node_get(e, "type")),
                              rp_node_get(e, "opts"), in_names, n_in, err);
            continue;
        }
        const rp_node *ins = rp_node_get(e, "in");
        const char *src = rp_node_str(ins->items[0]);
        if (dropout > 0) {
            st = rp_model_addf(n, dname, "dropout", &src, 1, err, "{p: %.17g}", dropout);
            src = dname;
        }
        int bias = rp_param_bool(m->nodes[head].opts, "bias");
        if (st == RP_OK)
            st = rp_model_addf(n, lname, "linear", &src, 1, err, "{out: %d, bias: %s}", classes,
                               bias ? "true" : "false");
    }
    const char *o = rp_node_str(rp_node_get(t, "output"));
    if (st == RP_OK && o) st = rp_model_set_output(n, strcmp(o, hname) == 0 ? lname : o, err);
    rp_node_free(t);
    if (st) {
        rp_model_free(n);
        return st;
    }
    /* keep every old weight except the head's */
    rp_layer *hl = &m->nodes[head].layer;
    for (size_t i = 0; i < hl->n_params; i++) hl->params[i].name[0] = '\0';
    copy_params(n, m, 1);
    rp_layer *nl = rp_model_layer(n, lname);
    if (nl && nl->ops->init && (st = nl->ops->init(nl, seed, err))) {
        rp_model_free(n);
        return st;
    }
    n->training = m->training;
    n->freeze_bn = m->freeze_bn;
    n->no_fuse = m->no_fuse;
    n->init_hook = m->init_hook;
    model_swap_in(m, n);
    return RP_OK;
}

/* SEEDS S1: two learned 3x3 'same' convolutions (1 → 3 → 3) named adapter.0 /
 * adapter.1, in front of a 3-channel (colour) model; the model then takes
 * 1-channel input. */
int rp_model_prepend_gray_adapter(rp_model *m, uint64_t seed, rp_error *err) {
    if (find_node(m, "adapter.0") >= 0)
        return rp_error_set(err, RP_ERR_INVALID, "gray adapter: the model already has one");
    if (m->c != 3)
        return rp_error_set(err, RP_ERR_INVALID,
                            "gray adapter: it goes in front of a 3-channel network (1 -> 3 -> 3), "
                            "but this model takes %d channel%s",
                            m->c, m->c == 1 ? "" : "s");
    rp_node *t = arch_tree(m);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    const rp_node *nodes = rp_node_get(t, "nodes");
    rp_model *n;
    int st = rp_model_new(1, m->h, m->w, &n, err);
    const char *a0 = "adapter.0";
    if (st == RP_OK) st = rp_model_addf(n, "adapter.0", "conv2d", NULL, 0, err, "{out: 3, kernel: 3, padding: 1}");
    if (st == RP_OK) st = rp_model_addf(n, "adapter.1", "conv2d", &a0, 1, err, "{out: 3, kernel: 3, padding: 1}");
    for (size_t i = 0; st == RP_OK && i < nodes->n; i++) st = add_from_entry(n, nodes->items[i], "adapter.1", err);
    const char *o = rp_node_str(rp_node_get(t, "output"));
    if (st == RP_OK && o) st = rp_model_set_output(n, o, err);
    rp_node_free(t);
    if (st == RP_OK) {
        for (int k = 0; k < 2 && st == RP_OK; k++)
            if (n->nodes[k].layer.ops->init) st = n->nodes[k].layer.ops->init(&n->nodes[k].layer, seed, err);
    }
    if (st) {
        rp_model_free(n);
        rp_error_prefix(err, "gray adapter: ");
        return st;
    }
    copy_params(n, m, 1);
    n->training = m->training;
    n->freeze_bn = m->freeze_bn;
    n->no_fuse = m->no_fuse;
    n->init_hook = m->init_hook;
    model_swap_in(m, n);
    return RP_OK;
}
