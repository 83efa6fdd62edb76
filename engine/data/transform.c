/* Transform chains and transformed dataset views (see include/runpipe/data.h).
 *
 * A chain is built from a list of component specs (`[hflip, {pad: {padding:
 * 4}}]`); each transform is looked up in the registry (RP_COMP_TRANSFORM) and
 * created from its params with the schema's defaults filled. Applying the
 * chain to sample i at epoch e gives transform k its own Philox stream keyed
 * (seed, stream ^ k, e, i): the draws do not depend on which thread runs the
 * sample, nor on what other transforms drew (DESIGN §8). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/data.h"
#include "runpipe/plugin.h"

typedef struct tf_entry {
    const struct rp_transform_ops *ops; /* borrowed (static) */
    void *state;                        /* owned */
    char name[64];
} tf_entry;

struct rp_transform_chain {
    size_t n;
    tf_entry *e;
};

/* Per-position stream salt: a 64-bit odd constant times (k + 1). */
static uint64_t position_salt(size_t k) { return 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1); }

void rp_transform_chain_free(rp_transform_chain *c) {
    if (!c) return;
    for (size_t k = 0; k < c->n; k++)
        if (c->e[k].ops && c->e[k].ops->destroy) c->e[k].ops->destroy(c->e[k].state);
    free(c->e);
    free(c);
}

int rp_transform_chain_new(const rp_node *list, rp_transform_chain **out, rp_error *err) {
    *out = NULL;
    rp_transform_chain *c = calloc(1, sizeof *c);
    if (!c) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    if (!list || list->kind == RP_NODE_NULL) {
        *out = c;
        return RP_OK;
    }
    size_t n = 1;
    if (list->kind == RP_NODE_SEQ) n = list->n;
    c->e = calloc(n ? n : 1, sizeof *c->e);
    if (!c->e) {
        free(c);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        const rp_node *spec = list->kind == RP_NODE_SEQ ? list->items[k] : list;
        const char *name = NULL;
        const rp_node *params = NULL;
        int st = rp_component_spec(spec, &name, &params, err);
        const struct rp_component *comp = NULL;
        if (!st) st = rp_component_lookup(RP_COMP_TRANSFORM, name, spec, &comp, err);
        rp_node *filled = NULL;
        if (!st) st = rp_component_params(RP_COMP_TRANSFORM, name, params, &filled, err);
        if (!st) {
            c->e[k].ops = comp->impl;
            snprintf(c->e[k].name, sizeof c->e[k].name, "%s", name);
            st = c->e[k].ops->create(filled ? filled : params, &c->e[k].state, err);
            if (st) {
                c->e[k].ops = NULL;
                if (err && !err->file[0]) {
                    char msg[RP_ERR_MSG_MAX];
                    memcpy(msg, err->msg, sizeof msg);
                    rp_error_at(err, spec, st, "%s", msg);
                }
                rp_error_prefix(err, "transform '%s': ", name);
            }
        }
        rp_node_free(filled);
        if (st) {
            c->n = k;
            rp_transform_chain_free(c);
            return st;
        }
        c->n = k + 1;
    }
    *out = c;
    return RP_OK;
}

size_t rp_transform_chain_len(const rp_transform_chain *c) { return c ? c->n : 0; }

const char *rp_transform_chain_name(const rp_transform_chain *c, size_t i) {
    return c && i < c->n ? c->e[i].name : NULL;
}

void rp_transform_chain_out_shape(const rp_transform_chain *c, int *ch, int *h, int *w) {
    for (size_t k = 0; c && k < c->n; k++)
        if (c->e[k].ops->out_shape) c->e[k].ops->out_shape(c->e[k].state, ch, h, w);
}

int rp_transform_chain_apply(const rp_transform_chain *c, rp_sample *s, uint64_t seed,
                             uint64_t stream, uint64_t epoch, rp_error *err) {
    if (s->img.ndim != 3)
        return rp_error_set(err, RP_ERR_INVALID, "sample %llu is not a [C, H, W] image",
                            (unsigned long long)s->index);
    if (s->mask.data && (s->mask.h != s->img.shape[1] || s->mask.w != s->img.shape[2]))
        return rp_error_set(err, RP_ERR_FORMAT, "sample %llu: mask is %lldx%lld but the image is %lldx%lld",
                            (unsigned long long)s->index, (long long)s->mask.h, (long long)s->mask.w,
                            (long long)s->img.shape[1], (long long)s->img.shape[2]);
    for (size_t k = 0; c && k < c->n; k++) {
        rp_rng rng;
        rp_rng_init(&rng, seed, stream ^ position_salt(k), epoch, s->index);
        int st = c->e[k].ops->apply(c->e[k].state, s, &rng, err);
        if (st) {
            rp_error_prefix(err, "transform %zu '%s' on sample %llu: ", k + 1, c->e[k].name,
                            (unsigned long long)s->index);
            return st;
        }
    }
    return RP_OK;
}

/* ---- transformed view ---------------------------------------------------------- */

typedef struct view_impl {
    const rp_dataset *parent;   /* borrowed */
    rp_transform_chain *chain;  /* owned */
    uint64_t seed, stream;
} view_impl;

static int view_get(const rp_dataset *ds, uint64_t i, const rp_draw *draw, rp_sample *out,
                    rp_error *err) {
    const view_impl *v = ds->impl;
    int st = rp_dataset_get(v->parent, i, draw, out, err);
    if (st) return st;
    out->index = i;
    st = rp_transform_chain_apply(v->chain, out, v->seed, v->stream, draw ? draw->epoch : 0, err);
    if (st) rp_error_prefix(err, "%s: ", ds->name);
    return st;
}

static int32_t view_label(const rp_dataset *ds, uint64_t i) {
    const view_impl *v = ds->impl;
    return rp_dataset_label(v->parent, i);
}

static int32_t view_domain(const rp_dataset *ds, uint64_t i) {
    const view_impl *v = ds->impl;
    return rp_dataset_domain(v->parent, i);
}

static int view_where(const rp_dataset *ds, uint64_t i, char *buf, size_t n) {
    const view_impl *v = ds->impl;
    rp_dataset_where_fn fn = rp_dataset_where_of(v->parent);
    return fn ? fn(v->parent, i, buf, n) : 0;
}

static void view_destroy(rp_dataset *ds) {
    view_impl *v = ds->impl;
    if (v) rp_transform_chain_free(v->chain);
    free(v);
}

static const struct rp_dataset_ops view_ops = {view_get, view_label, view_domain, view_destroy};

int rp_dataset_transformed(const rp_dataset *parent, rp_transform_chain *chain, uint64_t seed,
                           uint64_t stream, const char *name, rp_dataset **out, rp_error *err) {
    *out = NULL;
    view_impl *v = calloc(1, sizeof *v);
    if (!v) {
        rp_transform_chain_free(chain);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    v->parent = parent;
    v->chain = chain;
    v->seed = seed;
    v->stream = stream;
    rp_dataset_ops_set_where(&view_ops, view_where);
    rp_dataset *ds = rp_dataset_new(&view_ops, v, name ? name : parent->name, parent->size, 0, NULL);
    if (!ds) {
        view_destroy(&(rp_dataset){.impl = v});
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    int st = rp_dataset_copy_meta(ds, parent, err);
    if (st) {
        rp_dataset_free(ds);
        return st;
    }
    rp_transform_chain_out_shape(chain, &ds->channels, &ds->height, &ds->width);
    *out = ds;
    return RP_OK;
}

/* ---- erasing box sampling ------------------------------------------------------ */

int rp_erasing_sample_box(rp_rng *rng, int64_t H, int64_t W, const double scale[2],
                          const double ratio[2], int log_ratio, int attempts, int64_t *top,
                          int64_t *left, int64_t *bh, int64_t *bw) {
    double area = (double)H * (double)W;
    double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
    for (int a = 0; a < attempts; a++) {
        double ea = area * rp_rng_range(rng, scale[0], scale[1]);
        double r = log_ratio ? exp(rp_rng_range(rng, lr0, lr1))
                             : rp_rng_range(rng, ratio[0], ratio[1]);
        int64_t h = (int64_t)nearbyint(sqrt(ea * r)); /* Python round(): half to even */
        int64_t w = (int64_t)nearbyint(sqrt(ea / r));
        if (!(h < H && w < W)) continue;
        *top = (int64_t)rp_rng_below(rng, (uint32_t)(H - h + 1));
        *left = (int64_t)rp_rng_below(rng, (uint32_t)(W - w + 1));
        *bh = h;
        *bw = w;
        return 1;
    }
    return 0;
}

int rp_cam_erasing_box(rp_rng *rng, int64_t H, int64_t W, const double scale[2],
                       const double ratio[2], int log_ratio, int attempts, int64_t py, int64_t px,
                       int64_t b_h, int64_t *top, int64_t *left, int64_t *bh, int64_t *bw) {
    int64_t t, l, h, w;
    if (!rp_erasing_sample_box(rng, H, W, scale, ratio, log_ratio, attempts, &t, &l, &h, &w))
        return 0;
    int64_t y = py + (int64_t)rp_rng_below(rng, (uint32_t)b_h + 1);
    int64_t x = px + (int64_t)rp_rng_below(rng, (uint32_t)b_h + 1);
    y = y < 0 ? 0 : y > H - 1 ? H - 1 : y;
    x = x < 0 ? 0 : x > W - 1 ? W - 1 : x;
    *top = y;
    *left = x;
    *bh = y + h > H ? H - y : h;
    *bw = x + w > W ? W - x : w;
    return 1;
}
