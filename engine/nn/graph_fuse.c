/* The eval-mode fusion planner: which chains a lean eval forward folds into
 * one pass of the chain's first layer (the rules are in graph.c's header). */
#include <stdlib.h>
#include <string.h>

#include "nn/graph_impl.h"

/* RP_NO_FUSE set to anything but "" or "0" turns fusion off everywhere. */
int graph_fusion_env_off(void) {
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
void graph_plan_fusion(rp_model *m, int enabled) {
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
            if (nx->n_in == 1 && ops->channel_affine && (caps & RP_LAYER_EP_AFFINE) && cur == k &&
                nxi == k + 1 && c->ndim >= 2)
                h->fuse_aff = nxi;
            else if (nx->n_in == 2 && (ops->flags & RP_LAYER_SUM) &&
                     (caps & RP_LAYER_EP_RESIDUAL) && h->fuse_aff == cur && nxi == k + 2 &&
                     other != cur && other < k)
                h->fuse_sum = nxi;
            else if (nx->n_in == 1 && (ops->flags & RP_LAYER_RELU) &&
                     (ops->flags & RP_LAYER_INPLACE) &&
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

/* The training-forward plan: a relu the unfused forward runs in place on the
 * output of a layer that takes rp_run_ctx.relu_out (batch norm, add) is
 * folded into that layer: its forward writes max(0, y) into the shared
 * buffer (the bytes relu would leave there), and in backward the relu's
 * output gradient is handed on unmasked to the layer, whose backward applies
 * the mask while reading dout anyway. Saves relu's forward pass (read +
 * write) and backward pass (two reads + a write, and a gradient buffer).
 * Otherwise a relu whose one consumer takes rp_run_ctx.relu_in (max pooling)
 * is folded into that consumer: it reads the values before the relu through
 * max(0, .), and its input gradient, masked, goes on to the relu's producer
 * unchanged. Retained nodes are left alone (their gradients would differ). */
void graph_plan_train_relu(rp_model *m, int enabled) {
    for (size_t k = 0; k < m->n; k++) {
        gnode *g = &m->nodes[k];
        g->tr_relu = g->tr_head = g->tr_tail = -1;
        g->tr_in = 0;
    }
    if (!enabled) return;
    for (int k = 1; k <= m->output; k++) {
        gnode *r = &m->nodes[k];
        if (!(r->layer.ops->flags & RP_LAYER_RELU) || !graph_in_place(m, k) || r->retain) continue;
        gnode *p = &m->nodes[r->in[0]];
        if ((p->layer.ops->flags & RP_LAYER_TRAIN_RELU) && same_shape_nodes(p, r)) {
            p->tr_relu = k;
            r->tr_head = r->in[0];
            continue;
        }
        /* else into its one consumer (max pooling), which then reads the
         * relu's in-place buffer holding the values before it: the relu's
         * output is hidden (it never exists) */
        gnode *c = &m->nodes[r->consumer];
        if (r->consumers == 1 && k != m->output && c->n_in == 1 &&
            (c->layer.ops->flags & RP_LAYER_RELU_IN) && same_shape_nodes(p, r)) {
            r->tr_tail = r->consumer;
            c->tr_in = 1;
            r->hidden = 1;
        }
    }
}
