/* Models: construction (layers, nodes, parameters) and introspection. The
 * executor is graph.c; buffer pools graph_mem.c; eval fusion graph_fuse.c. */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/graph.h"
#include "nn/layer.h"

#include "nn/graph_impl.h"

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
        return rp_error_set(
            err, RP_ERR_INVALID,
            "model input must be [N, C, H, W] with C, H, W >= 1, got [N, %d, %d, %d]", c, h, w);
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
    for (size_t i = 0; i < m->n; i++)
        node_release(&m->nodes[i]);
    free(m->nodes);
    free(m->params);
    free(m->arch_yaml);
    for (int i = 0; i < RP_MAX_LAYER_INPUTS; i++)
        rp_tensor_release(&m->scratch[i]);
    for (size_t i = 0; i < m->ngpool; i++)
        rp_tensor_free(m->gpool[i]);
    free(m->gpool);
    free(m->gbusy);
    for (size_t i = 0; i < m->napool; i++)
        rp_tensor_free(m->apool[i]);
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
    for (size_t i = 0; i < m->n; i++)
        n += m->nodes[i].layer.n_params;
    rp_param **p = realloc(m->params, (n ? n : 1) * sizeof *p);
    if (!p) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    m->params = p;
    m->n_params = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->nodes[i].layer.n_params; j++)
            p[m->n_params++] = &m->nodes[i].layer.params[j];
    return RP_OK;
}

void graph_drop_arch_cache(rp_model *m) {
    free(m->arch_yaml);
    m->arch_yaml = NULL;
}

static int bad_name(const char *name) {
    if (!name || !*name || strcmp(name, "input") == 0) return 1;
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || *p == '.' || *p == '-' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 1;
    return 0;
}

int rp_model_add(rp_model *m, const char *name, const char *type, const rp_node *opts,
                 const char *const *inputs, int n_inputs, rp_error *err) {
    if (bad_name(name))
        return rp_error_at(
            err, opts, RP_ERR_INVALID,
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
                                   "layer '%s': input '%s' is not an earlier layer (or 'input')",
                                   name, inputs[i]);
        }
    }
    if (n_in < ops->min_inputs || n_in > ops->max_inputs)
        return rp_error_at(err, opts, RP_ERR_INVALID, "layer '%s' (%s) takes %d..%d inputs, got %d",
                           name, type, ops->min_inputs, ops->max_inputs, n_in);
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
    g->tr_relu = g->tr_head = g->tr_tail = -1;
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
            shp[i].shape[0] = 1, shp[i].shape[1] = m->c, shp[i].shape[2] = m->h,
            shp[i].shape[3] = m->w;
        } else {
            const gnode *src = &m->nodes[in_idx[i]];
            shp[i].ndim = src->ndim;
            memcpy(shp[i].shape, src->shape, sizeof src->shape);
        }
        shp[i].numel = 1;
        for (int d = 0; d < shp[i].ndim; d++)
            shp[i].numel *= (size_t)shp[i].shape[d];
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

void rp_model_set_init_hook(rp_model *m, rp_model_init_fn fn) {
    m->init_hook = fn;
}

int rp_model_init_params(rp_model *m, uint64_t seed, rp_error *err) {
    for (size_t i = 0; i < m->n; i++) {
        rp_layer *l = &m->nodes[i].layer;
        if (l->ops->init && l->ops->init(l, seed, err)) return err->status;
    }
    if (m->init_hook) return m->init_hook(m, seed, err);
    return RP_OK;
}

/* ---- parameters -------------------------------------------------------------------- */

size_t rp_model_num_params(const rp_model *m) {
    return m->n_params;
}

rp_param *rp_model_param(rp_model *m, size_t i) {
    return i < m->n_params ? m->params[i] : NULL;
}

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
size_t rp_model_num_nodes(const rp_model *m) {
    return m->n;
}
const char *rp_model_node_name(const rp_model *m, size_t i) {
    return i < m->n ? m->nodes[i].name : NULL;
}
const char *rp_model_node_type(const rp_model *m, size_t i) {
    return i < m->n ? m->nodes[i].type : NULL;
}
rp_layer *rp_model_node_layer(rp_model *m, size_t i) {
    return i < m->n ? &m->nodes[i].layer : NULL;
}
