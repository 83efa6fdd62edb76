/* Copies of models and model surgery: clone, slice, a new classification
 * head, another model's layers in front. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/graph_impl.h"

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
    rp_node *t = graph_arch_tree(m);
    if (!t) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    rp_model *c;
    int st = rp_model_from_arch(t, &c, err);
    rp_node_free(t);
    if (st) return st;
    copy_params(c, m, 1);
    for (size_t i = 0; i < m->n; i++)
        c->nodes[i].retain = m->nodes[i].retain;
    c->training = m->training;
    c->freeze_bn = m->freeze_bn;
    c->winograd = m->winograd;
    c->no_fuse = m->no_fuse;
    c->seed = m->seed;
    c->step = m->step;
    c->init_hook = m->init_hook;
    *out = c;
    return RP_OK;
}

int rp_model_output_node(const rp_model *m) {
    return m->output;
}

int rp_model_node_inputs(const rp_model *m, size_t i, int *in, int max) {
    if (i >= m->n) return 0;
    const gnode *g = &m->nodes[i];
    for (int k = 0; k < g->n_in && k < max; k++)
        in[k] = g->in[k];
    return g->n_in;
}

int rp_model_slice(const rp_model *m, size_t first, size_t last, rp_model **out, rp_error *err) {
    *out = NULL;
    if (last >= m->n || first > last)
        return rp_error_set(err, RP_ERR_INVALID, "model slice %zu..%zu: the model has nodes 0..%zu",
                            first, last, m->n ? m->n - 1 : 0);
    /* the one tensor entering the range from outside (-1 = model input) */
    int cut = -2;
    for (size_t k = first; k <= last; k++) {
        const gnode *g = &m->nodes[k];
        for (int i = 0; i < g->n_in; i++) {
            int j = g->in[i];
            if (j >= (int)first) continue;
            if (cut != -2 && cut != j)
                return rp_error_set(
                    err, RP_ERR_INVALID,
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
            return rp_error_set(
                err, RP_ERR_INVALID,
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
        for (int i = 0; i < g->n_in; i++)
            ins[i] = g->in[i] < (int)first ? src : m->nodes[g->in[i]].name;
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
    if (classes < 1)
        return rp_error_set(err, RP_ERR_INVALID, "replace head: classes must be >= 1, got %d",
                            classes);
    if (!(dropout >= 0 && dropout < 1))
        return rp_error_set(err, RP_ERR_INVALID, "replace head: dropout must be in [0, 1), got %g",
                            dropout);
    int head = -1;
    for (int k = m->output; k >= 0; k--)
        if (strcmp(m->nodes[k].type, "linear") == 0) {
            head = k;
            break;
        }
    if (head < 0)
        return rp_error_set(err, RP_ERR_INVALID, "replace head: the model has no linear layer");
    /* With dropout the head becomes what PyTorch users write,
     * `model.fc = nn.Sequential(nn.Dropout(p), nn.Linear(in, classes))`: nodes
     * "<head>.0" (dropout) and "<head>.1" (linear), so the parameters are
     * fc.1.weight / fc.1.bias and state dicts load both ways strictly.
     * Without dropout the linear keeps the head's name. */
    const char *hname = m->nodes[head].name;
    char dname[300], lname[300];
    snprintf(dname, sizeof dname, "%s.0", hname);
    snprintf(lname, sizeof lname, dropout > 0 ? "%s.1" : "%s", hname);
    rp_node *t = graph_arch_tree(m);
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
            st = rp_model_add(n, rp_node_str(rp_node_get(e, "name")),
                              rp_node_str(rp_node_get(e, "type")), rp_node_get(e, "opts"), in_names,
                              n_in, err);
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
    for (size_t i = 0; i < hl->n_params; i++)
        hl->params[i].name[0] = '\0';
    copy_params(n, m, 1);
    rp_layer *nl = rp_model_layer(n, lname);
    if (nl && nl->ops->init && (st = nl->ops->init(nl, seed, err))) {
        rp_model_free(n);
        return st;
    }
    n->training = m->training;
    n->freeze_bn = m->freeze_bn;
    n->winograd = m->winograd;
    n->no_fuse = m->no_fuse;
    n->init_hook = m->init_hook;
    model_swap_in(m, n);
    return RP_OK;
}

/* A new model = front's nodes, then m's with "input" read as front's
 * output; params copied from both (the names are disjoint). */
int rp_model_prepend(rp_model *m, const rp_model *front, rp_error *err) {
    if (front->output < 0)
        return rp_error_set(err, RP_ERR_INVALID, "prepend: the front model has no layers");
    const gnode *fo = &front->nodes[front->output]; /* [1, C, H, W] at build time */
    if (fo->ndim != 4 || fo->shape[1] != m->c || fo->shape[2] != m->h || fo->shape[3] != m->w) {
        char sh[96];
        return rp_error_set(err, RP_ERR_INVALID,
                            "prepend: the front model gives %s per sample, the model takes "
                            "[%d, %d, %d]",
                            fo->ndim == 4 ? rp_shape_str(3, fo->shape + 1, sh, sizeof sh)
                                          : rp_shape_str(fo->ndim, fo->shape, sh, sizeof sh),
                            m->c, m->h, m->w);
    }
    for (size_t k = 0; k < front->n; k++)
        if (graph_find_node(m, front->nodes[k].name) >= 0)
            return rp_error_set(err, RP_ERR_INVALID, "prepend: both models have a layer named '%s'",
                                front->nodes[k].name);
    rp_node *ft = graph_arch_tree(front), *t = graph_arch_tree(m);
    rp_model *n = NULL;
    int st = ft && t ? rp_model_new(front->c, front->h, front->w, &n, err)
                     : rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    const rp_node *fnodes = ft ? rp_node_get(ft, "nodes") : NULL;
    const rp_node *nodes = t ? rp_node_get(t, "nodes") : NULL;
    for (size_t i = 0; st == RP_OK && i < fnodes->n; i++)
        st = add_from_entry(n, fnodes->items[i], NULL, err);
    for (size_t i = 0; st == RP_OK && i < nodes->n; i++)
        st = add_from_entry(n, nodes->items[i], fo->name, err);
    const char *o = st == RP_OK ? rp_node_str(rp_node_get(t, "output")) : NULL;
    if (st == RP_OK && o) st = rp_model_set_output(n, o, err);
    rp_node_free(ft);
    rp_node_free(t);
    if (st) {
        rp_model_free(n);
        rp_error_prefix(err, "prepend: ");
        return st;
    }
    copy_params(n, front, 1);
    copy_params(n, m, 1);
    n->training = m->training;
    n->freeze_bn = m->freeze_bn;
    n->winograd = m->winograd;
    n->no_fuse = m->no_fuse;
    n->init_hook = m->init_hook;
    model_swap_in(m, n);
    return RP_OK;
}
