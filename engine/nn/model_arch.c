/* rp_model <-> its architecture text (the runpipe.arch metadata of a model
 * file), and building models from architecture names and layer lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph_impl.h"
#include "base/util.h"

/* ---- architecture text ------------------------------------------------------------------ */

static rp_node *int_node(int64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return rp_node_new_scalar(b);
}

/* {input: [C, H, W], output: NAME, nodes: [{name, type, in: [...], opts: {...}}]} */
rp_node *graph_arch_tree(const rp_model *m) {
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
                     !rp_node_map_set(e, "type", rp_node_new_string(g->type));
        /* (map_set takes ins even when it fails; ins is not yet e's when
         * name or type failed) */
        if (ok) ok = !rp_node_map_set(e, "in", ins);
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
    rp_node *t = graph_arch_tree(m);
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

int rp_model_build_graph(const char *arch, const rp_node *opts, rp_model **out, rp_error *err) {
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
    return RP_OK;
}

int rp_model_build(const char *arch, const rp_node *opts, rp_model **out, rp_error *err) {
    int st = rp_model_build_graph(arch, opts, out, err);
    if (st == RP_OK && (st = rp_model_init_params(*out, 0, err)) != RP_OK) {
        rp_model_free(*out);
        *out = NULL;
    }
    return st;
}
