/* Models: a DAG of named layer nodes (DESIGN §7); this file is the executor
 * (construction: graph_build.c, buffer pools: graph_mem.c, the fusion
 * planner: graph_fuse.c).
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
 * A backward after a fused eval forward re-runs the forward unfused first
 * (the fused one never wrote the head outputs that backward reads).
 *
 * Training forwards fold only relus (graph_fuse.c): a relu running in place
 * on the output of a layer with RP_LAYER_TRAIN_RELU (batch norm, add) is
 * applied by that layer's forward (rp_run_ctx.relu_out), and in backward
 * the relu hands its gradient on unmasked to the layer, which masks it while
 * reading it anyway; otherwise a relu whose one consumer has
 * RP_LAYER_RELU_IN (max pooling) is applied by that consumer as it reads
 * its input (rp_run_ctx.relu_in), and the relu's output is hidden. Every
 * output, gradient and statistic is bit-identical
 * to the unfolded graph; retained nodes and feature-gradient passes are
 * left alone.
 *
 * Both kinds are off with rp_model_set_fusion(m, 0) or RP_NO_FUSE=1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/graph.h"
#include "nn/layer.h"

#include "nn/graph_impl.h"

/* ---- running -------------------------------------------------------------------- */

void rp_model_set_training(rp_model *m, int training) {
    m->training = training;
}
int rp_model_is_training(const rp_model *m) {
    return m->training;
}

void rp_model_set_step(rp_model *m, uint64_t seed, uint64_t step) {
    m->seed = seed;
    m->step = step;
}

void rp_model_set_fusion(rp_model *m, int enabled) {
    m->no_fuse = !enabled;
}

void rp_model_set_winograd(rp_model *m, int on) {
    m->winograd = on != 0;
}

static int node_shape(const gnode *g, int64_t n, int64_t *shape) {
    memcpy(shape, g->shape, sizeof g->shape);
    shape[0] = n;
    return g->ndim;
}

static void gather_inputs(rp_model *m, const gnode *g, const rp_tensor *x, const rp_tensor **in) {
    for (int i = 0; i < g->n_in; i++)
        in[i] = g->in[i] < 0 ? x : &m->nodes[g->in[i]].out;
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
    for (int k = 0; k <= m->output; k++)
        m->nodes[k].bwkeep = m->nodes[k].wants;
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
    if (x->ndim != 4 || x->shape[1] != m->c || x->shape[2] != m->h || x->shape[3] != m->w ||
        x->shape[0] < 1) {
        char b[128];
        return rp_error_set(err, RP_ERR_INVALID,
                            "model input has shape %s, expected [N, %d, %d, %d]",
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
                            "layer '%s' is not before the model output: no gradient flows to it",
                            node);
    if (x->ndim != 4 || x->shape[1] != m->c || x->shape[2] != m->h || x->shape[3] != m->w ||
        x->shape[0] < 1) {
        char b[128];
        return rp_error_set(err, RP_ERR_INVALID,
                            "model input has shape %s, expected [N, %d, %d, %d]",
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
    for (int d = 0; d < nd; d++)
        need *= (size_t)shape[d];
    /* in place on the single-consumer output of a layer whose backward
     * does not read it (ReLU after conv/BN/add, as PyTorch's inplace) */
    if (graph_in_place(m, k)) {
        gnode *src = &m->nodes[g->in[0]];
        if (g->out.owns) rp_tensor_release(&g->out);
        g->out = rp_tensor_view(&src->out, nd, shape);
        g->aslot = src->aslot;
        if (g->aslot >= 0)
            m->aref[g->aslot] = g->keep ? ACT_PINNED : m->aref[g->aslot] + g->consumers + 1;
    } else if (!g->keep && !((lean || m->stop >= 0) && g->out.owns && g->out.cap >= need)) {
        /* (a lean forward or a feature-gradient pass writes into the buffer
           a training forward left: handing it to the pool would make the
           next training step allocate it again) */
        if ((g->aslot = graph_act_acquire(m, need, g->consumers + 1, err)) < 0) return err->status;
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
    graph_act_put(m, g->aslot);
    for (int i = 0; i < g->n_in; i++)
        if (g->in[i] >= 0) graph_act_put(m, m->nodes[g->in[i]].aslot);
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
static const rp_run_ctx *node_ctx(const rp_model *m, const gnode *g, const rp_run_ctx *ctx,
                                  rp_run_ctx *local) {
    if (!ctx->training || !m->freeze_bn || !frozen_stats_layer(&g->layer)) return ctx;
    *local = *ctx;
    local->training = 0;
    return local;
}

/* ctx for node g's forward or backward: with relu_out set when g applies
 * the relu folded into it (graph_plan_train_relu) */
static const rp_run_ctx *relu_ctx(const gnode *g, const rp_run_ctx *ctx, rp_run_ctx *local) {
    if (g->tr_relu < 0 && !g->tr_in) return ctx;
    *local = *ctx;
    local->relu_out = g->tr_relu >= 0;
    local->relu_in = g->tr_in;
    return local;
}

void rp_model_set_freeze_bn(rp_model *m, int on) {
    m->freeze_bn = on != 0;
}

static int forward_run(rp_model *m, const rp_tensor *x, int training, int lean, rp_error *err) {
    rp_run_ctx ctx = {.training = training,
                      .seed = m->seed,
                      .step = m->step,
                      .need_input_grad = 1,
                      .winograd = m->winograd},
               nctx, rctx;
    rp_bn_sync_cur = m->stat_sync;
    int64_t n = x->shape[0];
    /* keep the header: callers pass views that end with their scope */
    if (x != &m->xview) m->xview = rp_tensor_view(x, x->ndim, x->shape);
    m->last_x = &m->xview;
    for (int k = 0; k <= m->output; k++)
        m->nodes[k].consumers = 0;
    for (int k = 0; k <= m->output; k++)
        for (int i = 0; i < m->nodes[k].n_in; i++) {
            int j = m->nodes[k].in[i];
            if (j < 0) continue;
            m->nodes[j].consumers++;
            m->nodes[j].consumer = k;
        }
    mark_keep(m, lean);
    const int fuse = !m->no_fuse && !graph_fusion_env_off();
    graph_plan_fusion(m, lean && fuse);
    graph_plan_train_relu(m, !lean && training && m->stop < 0 && fuse);
    m->recompute = 0;
    m->fused = m->folded = 0;
    for (size_t i = 0; i < m->napool; i++)
        m->aref[i] = 0, m->asize[i] = 0;
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
        if (g->tr_head >= 0 || g->tr_tail >= 0) { /* a relu its producer or consumer applies */
            node_release_reads(m, g);
            m->folded++;
            continue;
        }
        if (g->fuse_aff < 0 && g->fuse_relu < 0) {
            if (g->layer.ops->forward(&g->layer, relu_ctx(g, node_ctx(m, g, &ctx, &nctx), &rctx),
                                      g->n_in, in, &g->out, err)) {
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
                if (d->aslot >= 0 && g->in[i] >= 0 && m->nodes[g->in[i]].aslot == d->aslot)
                    alias = 1;
            if (alias && spare->aslot < 0) {
                d->out = rp_tensor_view(&spare->out, d->out.ndim, d->out.shape);
            } else if (alias && m->apool[spare->aslot]->cap == m->apool[d->aslot]->cap) {
                rp_tensor *t = m->apool[spare->aslot];
                m->apool[spare->aslot] = m->apool[d->aslot];
                m->apool[d->aslot] = t;
                d->out = rp_tensor_view(t, d->out.ndim, d->out.shape);
                spare->out =
                    rp_tensor_view(m->apool[spare->aslot], spare->out.ndim, spare->out.shape);
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
    for (size_t k = (size_t)m->output + 1; k < m->n; k++)
        m->nodes[k].grad_ready = 0;
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

/* src's gradient += s (src's gradient ready). A buffer src shares with
 * another node (a sum's inputs, below) is not changed under it: src gets
 * its own, old + s (the same operation, so the same bits). */
/* A gradient slot shaped as node g's output for a batch of n, for g to
 * write while the slot it shares stays as it is; -1 with err set. */
static int grad_fresh_slot(rp_model *m, const gnode *g, int64_t n, rp_error *err) {
    int64_t shape[RP_MAX_DIMS];
    const int nd = node_shape(g, n, shape);
    return graph_grad_acquire(m, nd, shape, err);
}

static int grad_accumulate(rp_model *m, gnode *src, const float *s, int64_t n, rp_error *err) {
    const int old = src->gslot;
    const float *a = m->gpool[old]->data;
    float *d = m->gpool[old]->data;
    if (m->gbusy[old] > 1) {
        const int ns = grad_fresh_slot(m, src, n, err);
        if (ns < 0) return err->status;
        m->gbusy[old]--;
        src->gslot = ns;
        d = m->gpool[ns]->data;
    }
    const int64_t cnt = (int64_t)GRAD(m, src)->numel;
#pragma omp parallel for simd schedule(static) if (cnt > RP_PAR_MIN)
    for (int64_t e = 0; e < cnt; e++)
        d[e] = a[e] + s[e];
    return RP_OK;
}

/* The backward of a sum (RP_LAYER_SUM; with a relu folded in, its mask
 * applied once, in place by the layer's own backward): every input's
 * gradient is that one tensor, so the inputs share g's buffer instead of
 * each receiving a copy (a residual block's add wrote two). */
static int sum_backward(rp_model *m, gnode *g, const rp_run_ctx *c, int64_t n, rp_error *err) {
    if (c->relu_out) {
        /* in place, unless another node shares the buffer */
        const int old = g->gslot;
        const int ns = m->gbusy[old] > 1 ? grad_fresh_slot(m, g, n, err) : old;
        if (ns < 0) return err->status;
        rp_tensor *din[RP_MAX_LAYER_INPUTS] = {m->gpool[ns]};
        const rp_tensor *in[RP_MAX_LAYER_INPUTS];
        gather_inputs(m, g, m->last_x, in);
        if (g->layer.ops->backward(&g->layer, c, 1, in, &g->out, m->gpool[old], din, err)) {
            rp_error_prefix(err, "layer '%s' (%s) backward: ", g->name, g->type);
            return err->status;
        }
        if (ns != old) {
            m->gbusy[old]--;
            g->gslot = ns;
        }
    }
    for (int i = 0; i < g->n_in; i++) {
        const int j = g->in[i];
        if (j < 0 || !m->nodes[j].wants) continue;
        gnode *src = &m->nodes[j];
        if (!src->grad_ready) {
            src->gslot = g->gslot;
            m->gbusy[g->gslot]++;
            src->grad_ready = 1;
        } else if (grad_accumulate(m, src, GRAD(m, g)->data, n, err)) {
            return err->status;
        }
    }
    graph_grad_release(m, g);
    return RP_OK;
}

static int backward_run(rp_model *m, const rp_tensor *dy, rp_error *err) {
    if (m->output < 0) return rp_error_set(err, RP_ERR_INVALID, "model has no layers");
    gnode *og = &m->nodes[m->output];
    if (!og->out.data || !m->last_x || !rp_tensor_same_shape(&og->out, dy)) {
        char a[128], b[128];
        return rp_error_set(err, RP_ERR_INVALID,
                            "backward: gradient shape %s does not match the last output %s",
                            rp_shape_str(dy->ndim, dy->shape, a, sizeof a),
                            rp_shape_str(og->out.ndim, og->out.shape, b, sizeof b));
    }
    /* an eval forward kept no activations: run it again keeping what
     * backward reads (eval forward is deterministic, so bit-identical) */
    if (m->recompute && forward_run(m, m->last_x, 0, 0, err)) return err->status;
    /* which node outputs need a gradient */
    for (size_t i = 0; i < m->ngpool; i++)
        m->gbusy[i] = 0;
    for (size_t k = 0; k < m->n; k++) {
        m->nodes[k].gslot = -1;
        m->nodes[k].grad_ready = 0;
    }
    mark_wants(m);
    if (!og->wants) return RP_OK; /* nothing trainable, nothing retained */
    if ((og->gslot = graph_grad_acquire(m, dy->ndim, dy->shape, err)) < 0) return err->status;
    memcpy(GRAD(m, og)->data, dy->data, dy->numel * sizeof(float));
    og->grad_ready = 1;
    rp_run_ctx ctx = {.training = m->training,
                      .seed = m->seed,
                      .step = m->step,
                      .need_input_grad = 1,
                      .input_grad_only = m->stop >= 0,
                      .winograd = m->winograd};
    rp_bn_sync_cur = m->stat_sync;
    int64_t n = dy->shape[0];
    for (int k = m->output; k > m->stop; k--) { /* (stop = -1: every node) */
        gnode *g = &m->nodes[k];
        if (!g->grad_ready) continue;
        if (!g->wants) {
            if (!g->retain) graph_grad_release(m, g);
            continue;
        }
        const int tr_src = g->tr_head >= 0 || g->tr_tail >= 0 ? g->in[0] : -1;
        if (tr_src >= 0 && m->nodes[tr_src].wants && !m->nodes[tr_src].grad_ready) {
            /* a folded relu hands its gradient on as it is: its producer's
             * backward applies the mask, or its consumer's already did
             * (where that cannot be, this relu runs: masking a second time
             * changes nothing) */
            gnode *p = &m->nodes[tr_src];
            p->gslot = g->gslot;
            p->grad_ready = 1;
            g->gslot = -1;
            g->grad_ready = 0;
            continue;
        }
        if ((g->layer.ops->flags & RP_LAYER_SUM) && !g->retain) {
            rp_run_ctx nctx, rctx;
            if (sum_backward(m, g, relu_ctx(g, node_ctx(m, g, &ctx, &nctx), &rctx), n, err))
                return err->status;
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
                if ((src->gslot = graph_grad_acquire(m, nd, shape, err)) < 0) return err->status;
                din[i] = GRAD(m, src);
                direct[i] = 1;
            } else {
                if (rp_tensor_reshape_alloc(&m->scratch[i], nd, shape, err)) return err->status;
                din[i] = &m->scratch[i];
            }
            any = 1;
        }
        if (!any && (m->stop >= 0 || !has_trainable(g))) {
            if (!g->retain) graph_grad_release(m, g);
            continue;
        }
        ctx.need_input_grad = any;
        const rp_tensor *in[RP_MAX_LAYER_INPUTS];
        gather_inputs(m, g, m->last_x, in);
        rp_run_ctx nctx, rctx;
        if (g->layer.ops->backward(&g->layer, relu_ctx(g, node_ctx(m, g, &ctx, &nctx), &rctx),
                                   g->n_in, in, &g->out, GRAD(m, g), din, err)) {
            rp_error_prefix(err, "layer '%s' (%s) backward: ", g->name, g->type);
            return err->status;
        }
        for (int i = 0; i < g->n_in; i++) {
            if (!din[i]) continue;
            gnode *src = &m->nodes[g->in[i]];
            if (direct[i])
                src->grad_ready = 1;
            else if (grad_accumulate(m, src, din[i]->data, n, err))
                return err->status;
        }
        if (!g->retain) graph_grad_release(m, g);
        /* this node's parameter gradients are final for this backward:
         * data-parallel training starts reducing them while the rest runs */
        if (m->grad_ready && m->stop < 0 && g->layer.n_params)
            m->grad_ready(m->grad_ready_ctx, g->layer.params, g->layer.n_params);
    }
    return RP_OK;
}

_Thread_local const rp_stat_sync *rp_bn_sync_cur;

void rp_model_set_stat_sync(rp_model *m, const rp_stat_sync *s) {
    m->stat_sync = s;
}

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
    if (i < 0 || !m->nodes[i].out.data || m->nodes[i].hidden ||
        (m->nodes[i].aslot >= 0 && !m->nodes[i].keep))
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

int rp_model_fused_chains(const rp_model *m) {
    return m->fused + m->folded;
}

size_t rp_model_activation_bytes(const rp_model *m) {
    size_t b = 0;
    for (size_t k = 0; k < m->n; k++)
        if (m->nodes[k].out.owns) b += m->nodes[k].out.cap * sizeof(float);
    for (size_t i = 0; i < m->napool; i++)
        b += m->apool[i]->cap * sizeof(float);
    return b;
}
