/* Conversion units of a model and donor compatibility (rule: convert.h). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

/* Node index owning parameter `p` ("<node>.<pname>", pname without dots). */
static int param_node(const rp_model *m, const rp_param *p) {
    const char *dot = strrchr(p->name, '.');
    if (!dot) return -1;
    size_t len = (size_t)(dot - p->name);
    for (size_t i = 0; i < rp_model_num_nodes(m); i++) {
        const char *nm = rp_model_node_name(m, i);
        if (strlen(nm) == len && !strncmp(nm, p->name, len)) return (int)i;
    }
    return -1;
}

int cv_units_find(const rp_model *m, cv_units *out, rp_error *err) {
    memset(out, 0, sizeof *out);
    size_t nn = rp_model_num_nodes(m);
    int *has = calloc(nn ? nn : 1, sizeof *has); /* 1 = parameters, 2 = also buffers */
    if (!has) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    rp_model *mm = (rp_model *)m; /* rp_model_param is not const; read only */
    for (size_t i = 0; i < rp_model_num_params(m); i++) {
        const rp_param *p = rp_model_param(mm, i);
        int k = param_node(m, p);
        if (k < 0) {
            free(has);
            return rp_error_set(err, RP_ERR_INTERNAL, "parameter '%s' belongs to no layer", p->name);
        }
        has[k] |= p->is_buffer ? 3 : 1;
    }
    out->u = calloc(nn ? nn : 1, sizeof *out->u);
    if (!out->u) {
        free(has);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nn; i++) {
        if (!has[i]) continue;
        if (has[i] == 3 && out->n && out->u[out->n - 1].n_nodes < CV_MAX_UNIT_NODES) {
            cv_unit *u = &out->u[out->n - 1]; /* a batch norm joins its layer */
            u->nodes[u->n_nodes++] = (int)i;
            u->end = (int)i;
            continue;
        }
        if (out->n == CV_MAX_UNITS) {
            free(has);
            cv_units_release(out);
            return rp_error_set(err, RP_ERR_INVALID,
                                "the model has more than %d parameterised layers (conversion "
                                "searches at most %d)",
                                CV_MAX_UNITS, CV_MAX_UNITS);
        }
        cv_unit *u = &out->u[out->n++];
        u->name = strdup(rp_model_node_name(m, i));
        if (!u->name) {
            free(has);
            cv_units_release(out);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        }
        u->main = u->start = u->end = (int)i;
        u->nodes[0] = (int)i;
        u->n_nodes = 1;
    }
    free(has);
    if (!out->n) return rp_error_set(err, RP_ERR_INVALID, "the model has no parameters to convert");
    return RP_OK;
}

void cv_units_release(cv_units *u) {
    for (size_t i = 0; u->u && i < u->n; i++) free(u->u[i].name);
    free(u->u);
    memset(u, 0, sizeof *u);
}

int cv_unit_of_node(const cv_units *u, int node) {
    for (size_t i = 0; i < u->n; i++)
        for (int k = 0; k < u->u[i].n_nodes; k++)
            if (u->u[i].nodes[k] == node) return (int)i;
    return -1;
}

int cv_pattern_match(const char *pat, const char *name) {
    if (strpbrk(pat, "*?[")) return fnmatch(pat, name, 0) == 0;
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '.') return strncmp(pat, name, n) == 0;
    if (strcmp(pat, name) == 0) return 1;
    return strncmp(pat, name, n) == 0 && name[n] == '.'; /* "layer1": everything under it */
}

/* ---- donor compatibility ------------------------------------------------------ */

typedef struct diffs {
    rp_strbuf b;
    int n;
} diffs;

static void diff_add(diffs *d, const char *fmt, const char *a, const char *b, const char *c) {
    if (d->n++ < 8) {
        rp_strbuf_puts(&d->b, "\n  ");
        rp_strbuf_printf(&d->b, fmt, a, b, c);
    }
}

static rp_param *find_param(const rp_model *m, const char *name) {
    return rp_model_find_param((rp_model *)m, name); /* read only */
}

int cv_check_donor(const rp_model *target, const rp_model *donor, const char *what,
                   rp_error *err) {
    int ct = rp_model_num_classes(target), cd = rp_model_num_classes(donor);
    if (ct != cd)
        return rp_error_set(err, RP_ERR_INVALID, "%s has %d classes, the target has %d", what, cd,
                            ct);
    diffs d = {{NULL, 0, 0, 0}, 0};
    size_t nt = rp_model_num_nodes(target), nd = rp_model_num_nodes(donor);
    for (size_t i = 0; i < nt || i < nd; i++) {
        const char *a = i < nt ? rp_model_node_name(target, i) : NULL;
        const char *b = i < nd ? rp_model_node_name(donor, i) : NULL;
        char sa[160], sb[160];
        snprintf(sa, sizeof sa, "%s (%s)", a ? a : "-", a ? rp_model_node_type(target, i) : "none");
        snprintf(sb, sizeof sb, "%s (%s)", b ? b : "-", b ? rp_model_node_type(donor, i) : "none");
        if (strcmp(sa, sb)) {
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", i);
            diff_add(&d, "layer %s: target %s, donor %s", idx, sa, sb);
        }
    }
    rp_model *t = (rp_model *)target, *dn = (rp_model *)donor; /* read only */
    for (size_t i = 0; i < rp_model_num_params(t); i++) {
        const rp_param *p = rp_model_param(t, i);
        const rp_param *q = find_param(donor, p->name);
        if (!q) {
            diff_add(&d, "parameter '%s': only in the target%s%s", p->name, "", "");
            continue;
        }
        if (!rp_tensor_same_shape(p->value, q->value)) {
            char a[96], b[96];
            rp_shape_str(p->value->ndim, p->value->shape, a, sizeof a);
            rp_shape_str(q->value->ndim, q->value->shape, b, sizeof b);
            diff_add(&d, "parameter '%s': target %s, donor %s", p->name, a, b);
        }
    }
    for (size_t i = 0; i < rp_model_num_params(dn); i++) {
        const rp_param *q = rp_model_param(dn, i);
        if (!find_param(target, q->name))
            diff_add(&d, "parameter '%s': only in the donor%s%s", q->name, "", "");
    }
    if (!d.n) return RP_OK;
    if (d.n > 8) rp_strbuf_printf(&d.b, "\n  ... and %d more", d.n - 8);
    int st = rp_error_set(err, RP_ERR_INVALID,
                          "%s does not match the target's architecture (%d difference%s):%s", what,
                          d.n, d.n == 1 ? "" : "s", d.b.p ? d.b.p : "");
    rp_strbuf_release(&d.b);
    return st;
}
