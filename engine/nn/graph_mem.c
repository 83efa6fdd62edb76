/* The model's buffer pools (see graph.c for when buffers are taken and
 * returned): output gradients and transient activations. Both pick buffers
 * by this forward's requests only, so every step with the same shapes reuses
 * the same slots and, after the first, allocates nothing. */
#include <stdlib.h>

#include "nn/graph_impl.h"

/* A pooled gradient buffer shaped `shape`: the free one that fits best
 * (smallest big enough, else the largest, grown). Returns the slot or -1. */
int graph_grad_acquire(rp_model *m, int nd, const int64_t *shape, rp_error *err) {
    size_t need = 1;
    for (int d = 0; d < nd; d++)
        need *= (size_t)shape[d];
    int best = -1;
    for (size_t i = 0; i < m->ngpool; i++) {
        if (m->gbusy[i]) continue;
        size_t c = m->gpool[i]->cap;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        size_t bc = m->gpool[best]->cap;
        if ((c >= need && (bc < need || c < bc)) || (c < need && bc < need && c > bc))
            best = (int)i;
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

/* g's hold on its gradient buffer (gbusy counts the nodes sharing one). */
void graph_grad_release(rp_model *m, gnode *g) {
    if (g->gslot >= 0 && m->gbusy[g->gslot] > 0) m->gbusy[g->gslot]--;
    g->gslot = -1;
}

/* Activation pool: outputs no backward will read (frozen prefix) live here
 * only until their last consumer has run. The choice depends on this
 * forward's requests only (not on capacities), so every step with the same
 * shapes picks the same slots and, after the first, grows nothing. */
int graph_act_acquire(rp_model *m, size_t need, int refs, rp_error *err) {
    int best = -1;
    for (size_t i = 0; i < m->napool; i++) {
        if (m->aref[i]) continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        size_t c = m->asize[i], bc = m->asize[best];
        if ((c >= need && (bc < need || c < bc)) || (c < need && bc < need && c > bc))
            best = (int)i;
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

void graph_act_put(rp_model *m, int slot) {
    if (slot >= 0 && m->aref[slot] > 0) m->aref[slot]--;
}
