/* pad — torchvision Pad: padding = n (all sides), [lr, tb] or [l, t, r, b];
 * padding_mode constant (with fill) | edge | reflect | symmetric. */
#include <stdlib.h>

#include "augment.h"

typedef struct pad_state {
    int64_t l, t, r, b;
    int mode;
    aug_fill fill;
    int32_t mask_fill;
} pad_state;

/* Shared with random_crop: parse a torchvision padding spec. */
int aug_parse_padding(const rp_node *n, int64_t pad[4], rp_error *err);
int aug_parse_padding(const rp_node *n, int64_t pad[4], rp_error *err) {
    pad[0] = pad[1] = pad[2] = pad[3] = 0;
    if (!n || n->kind == RP_NODE_NULL) return RP_OK;
    int64_t v[4];
    size_t k;
    if (n->kind == RP_NODE_SEQ) {
        k = n->n;
        if (k != 1 && k != 2 && k != 4)
            return rp_error_at(err, n, RP_ERR_INVALID,
                               "'padding': expected n, [left/right, top/bottom] or [left, top, "
                               "right, bottom]");
        for (size_t i = 0; i < k; i++) {
            int st = rp_node_as_int(n->items[i], &v[i], err);
            if (st) return st;
        }
    } else {
        k = 1;
        int st = rp_node_as_int(n, &v[0], err);
        if (st) return st;
    }
    for (size_t i = 0; i < k; i++)
        if (v[i] < 0) return rp_error_at(err, n, RP_ERR_INVALID, "'padding': must be >= 0");
    if (k == 1) pad[0] = pad[1] = pad[2] = pad[3] = v[0];
    else if (k == 2) pad[0] = pad[2] = v[0], pad[1] = pad[3] = v[1];
    else pad[0] = v[0], pad[1] = v[1], pad[2] = v[2], pad[3] = v[3];
    return RP_OK;
}

static int pad_create(const rp_node *params, void **state, rp_error *err) {
    pad_state *p = calloc(1, sizeof *p);
    if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    int64_t v[4];
    int st = aug_parse_padding(rp_node_get(params, "padding"), v, err);
    if (!st) st = aug_parse_fill(params, "fill", 0, &p->fill, err);
    p->mode = aug_pad_mode(rp_param_str(params, "padding_mode"));
    if (!st && p->mode < 0)
        st = rp_error_at(err, rp_node_get(params, "padding_mode"), RP_ERR_INVALID,
                         "'padding_mode': expected constant, edge, reflect or symmetric");
    if (st) {
        free(p);
        return st;
    }
    p->l = v[0], p->t = v[1], p->r = v[2], p->b = v[3];
    p->mask_fill = (int32_t)rp_param_int(params, "mask_fill");
    *state = p;
    return RP_OK;
}

static int pad_apply(const void *state, rp_sample *s, rp_rng *rng, rp_error *err) {
    (void)rng;
    const pad_state *p = state;
    return aug_pad(s, p->l, p->t, p->r, p->b, p->mode, &p->fill, p->mask_fill, err);
}

static void pad_shape(const void *state, int *c, int *h, int *w) {
    (void)c;
    const pad_state *p = state;
    if (*h) *h += (int)(p->t + p->b);
    if (*w) *w += (int)(p->l + p->r);
}

const struct rp_transform_ops tf_pad = {.create = pad_create, .apply = pad_apply, .destroy = free, .out_shape = pad_shape};

RP_COMPONENT(RP_COMP_TRANSFORM, "pad",
             "pad the borders (constant, edge, reflect, symmetric)", tf_pad)
