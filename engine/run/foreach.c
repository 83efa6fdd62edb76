/* foreach: one stage, many instances (fan-out), and ${each.NAME} (pipeline.h).
 *
 *   - id: donor
 *     use: train
 *     foreach: {row: {range: [0, 28]}}      # or {row: [0, 1, 2]}; several axes = product
 *     with: {epochs: 1}
 *     in: {model: net, train: "occl/row-${each.row}"}
 *
 * makes donor/row-0 ... donor/row-27, each with ${each.row} substituted in its
 * `with:` and `in:`. A later stage takes them all, in this order, with
 * `in: {models: donor[*].model}` (pipeline.c expands the [*]).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/pipeline.h"
#include "runpipe/strbuf.h"

#define RP_FOREACH_MAX 10000

/* {range: [a, b]} or [a, b, step] → the list a, a+step, ... (< b). */
static rp_node *range_list(const rp_node *r, const char *ctx, const char *axis, rp_diag *d) {
    const rp_node *lim = rp_node_get(r, "range");
    int64_t v[3] = {0, 0, 1};
    size_t n = rp_node_len(lim);
    if (!lim || lim->kind != RP_NODE_SEQ || n < 2 || n > 3 || r->n != 1) {
        rp_diag_addf(d, r, NULL, "%s'foreach.%s': expected a list of values or {range: [start, stop]} "
                     "(or [start, stop, step])", ctx, axis);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (rp_node_as_int(lim->items[i], &v[i], NULL) != RP_OK) {
            rp_diag_addf(d, lim->items[i], NULL, "%s'foreach.%s.range[%zu]': expected an integer",
                         ctx, axis, i);
            return NULL;
        }
    if (v[2] == 0 || (v[1] - v[0]) / v[2] <= 0 || (v[1] - v[0]) / v[2] > RP_FOREACH_MAX) {
        rp_diag_addf(d, lim, NULL,
                     "%s'foreach.%s.range': [%lld, %lld, step %lld] gives no values or more than %d",
                     ctx, axis, (long long)v[0], (long long)v[1], (long long)v[2], RP_FOREACH_MAX);
        return NULL;
    }
    rp_node *seq = rp_node_new_seq();
    for (int64_t x = v[0]; seq && (v[2] > 0 ? x < v[1] : x > v[1]); x += v[2]) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)x);
        rp_node *it = rp_node_new_scalar(b);
        if (!it) break;
        it->file = lim->file;
        it->line = lim->line;
        it->col = lim->col;
        rp_node_seq_push(seq, it);
    }
    return seq;
}

static void safe_text(rp_strbuf *b, const char *s) {
    for (size_t k = 0; s[k] && k < 40; k++) {
        char c = s[k];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '+' || c == '-')) c = '_';
        rp_strbuf_add(b, &c, 1);
    }
}

int rp_foreach_expand(const rp_node *stage, const char *ctx, rp_node **values, char ***labels,
                      size_t *n, rp_diag *d) {
    *values = NULL;
    *labels = NULL;
    *n = 0;
    const rp_node *fe = rp_node_get(stage, "foreach");
    if (!fe || fe->kind == RP_NODE_NULL) return RP_OK;
    if (fe->kind != RP_NODE_MAP || fe->n == 0)
        return rp_diag_addf(d, fe, NULL, "%s'foreach': expected a map of name → list of values",
                            ctx);
    size_t na = fe->n, total = 1;
    rp_node **axes = calloc(na, sizeof *axes);
    if (!axes) return rp_diag_addf(d, fe, NULL, "out of memory");
    int ok = 1;
    for (size_t a = 0; a < na; a++) {
        const rp_node *v = fe->items[a];
        const char *name = rp_node_key_at(fe, a);
        if (v->kind == RP_NODE_SEQ && v->n > 0)
            axes[a] = rp_node_clone(v);
        else if (v->kind == RP_NODE_MAP)
            axes[a] = range_list(v, ctx, name, d);
        else
            rp_diag_addf(d, v, NULL,
                         "%s'foreach.%s': expected a non-empty list of values or {range: [start, "
                         "stop]}",
                         ctx, name);
        if (!axes[a]) {
            ok = 0;
            continue;
        }
        if (total > RP_FOREACH_MAX / axes[a]->n) {
            rp_diag_addf(d, fe, NULL, "%s'foreach': more than %d instances", ctx, RP_FOREACH_MAX);
            ok = 0;
        } else {
            total *= axes[a]->n;
        }
    }
    int rc = RP_OK;
    if (!ok) {
        rc = RP_ERR_INVALID;
        goto out;
    }
    rp_node *list = rp_node_new_seq();
    char **labs = calloc(total, sizeof *labs);
    if (!list || !labs) {
        rp_node_free(list);
        free(labs);
        rc = rp_diag_addf(d, fe, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        rp_node *m = rp_node_new_map();
        rp_strbuf lab = {0};
        size_t r = i, idx[16] = {0};
        for (size_t a = na; a-- > 0;) {
            if (a < 16) idx[a] = r % axes[a]->n;
            r /= axes[a]->n;
        }
        for (size_t a = 0; a < na && a < 16 && m; a++) {
            const rp_node *v = axes[a]->items[idx[a]];
            rp_node_map_set(m, rp_node_key_at(fe, a), rp_node_clone(v));
            if (a) rp_strbuf_puts(&lab, "_");
            safe_text(&lab, rp_node_key_at(fe, a));
            rp_strbuf_puts(&lab, "-");
            if (v->kind == RP_NODE_SCALAR && v->str && *v->str) {
                safe_text(&lab, v->str);
            } else {
                char b[24];
                snprintf(b, sizeof b, "%zu", idx[a] + 1);
                rp_strbuf_puts(&lab, b);
            }
        }
        labs[i] = rp_strbuf_take(&lab);
        if (m) rp_node_seq_push(list, m);
        for (size_t j = 0; j < i && labs[i]; j++)
            if (labs[j] && !strcmp(labs[i], labs[j])) {
                rp_diag_addf(d, fe, NULL, "%s'foreach': two instances are both named '%s'", ctx,
                             labs[i]);
                rc = RP_ERR_INVALID;
                break;
            }
    }
    if (na > 16) rc = rp_diag_addf(d, fe, NULL, "%s'foreach': more than 16 axes", ctx);
    if (rc != RP_OK || rp_node_len(list) != total) {
        for (size_t i = 0; i < total; i++) free(labs[i]);
        free(labs);
        rp_node_free(list);
        if (rc == RP_OK) rc = rp_diag_addf(d, fe, NULL, "out of memory");
        goto out;
    }
    *values = list;
    *labels = labs;
    *n = total;
out:
    for (size_t a = 0; a < na; a++) rp_node_free(axes[a]);
    free(axes);
    return rc;
}

/* ---- ${each.NAME} ------------------------------------------------------------------- */

static int subst(rp_node **slot, const rp_node *each, const char *ctx, rp_diag *d);

static const rp_node *each_value(const char *name, size_t len, const rp_node *each) {
    for (size_t i = 0; i < rp_node_len(each); i++) {
        const char *k = rp_node_key_at(each, i);
        if (strlen(k) == len && !strncmp(k, name, len)) return each->items[i];
    }
    return NULL;
}

static int unknown(const rp_node *at, const char *name, size_t len, const rp_node *each,
                   const char *ctx, rp_diag *d) {
    if (!each)
        return rp_diag_addf(d, at, NULL,
                            "%s'${each.%.*s}' is only available in a stage with 'foreach:'", ctx,
                            (int)len, name);
    rp_strbuf b = {0};
    for (size_t i = 0; i < rp_node_len(each); i++)
        rp_strbuf_printf(&b, "%s%s", i ? ", " : "", rp_node_key_at(each, i));
    int rc = rp_diag_addf(d, at, NULL, "%sunknown '${each.%.*s}' (foreach names: %s)", ctx,
                          (int)len, name, b.p ? b.p : "");
    rp_strbuf_release(&b);
    return rc;
}

static int subst_scalar(rp_node **slot, const rp_node *each, const char *ctx, rp_diag *d) {
    rp_node *n = *slot;
    const char *t = n->str;
    if (!t || !strstr(t, "${each.")) return RP_OK;
    size_t len = strlen(t);
    /* a scalar that is exactly one reference (quoted or not) becomes the value */
    if (!strncmp(t, "${each.", 7) && t[len - 1] == '}' &&
        !memchr(t + 7, '}', len - 8)) {
        const rp_node *v = each ? each_value(t + 7, len - 8, each) : NULL;
        if (!v) return unknown(n, t + 7, len - 8, each, ctx, d);
        rp_node *c = rp_node_clone(v);
        if (!c) return rp_diag_addf(d, n, NULL, "out of memory");
        c->file = n->file;
        c->line = n->line;
        c->col = n->col;
        rp_node_free(n);
        *slot = c;
        return RP_OK;
    }
    rp_strbuf b = {0};
    for (const char *p = t; *p;) {
        if (!strncmp(p, "${each.", 7)) {
            const char *end = strchr(p + 7, '}');
            const rp_node *v = end && each ? each_value(p + 7, (size_t)(end - p - 7), each) : NULL;
            if (!v || v->kind != RP_NODE_SCALAR) {
                rp_strbuf_release(&b);
                if (v)
                    return rp_diag_addf(d, n, NULL,
                                        "%s'${each.%.*s}' is a list or map and cannot be part of "
                                        "a string",
                                        ctx, (int)(end - p - 7), p + 7);
                return unknown(n, p + 7, end ? (size_t)(end - p - 7) : strlen(p + 7), each, ctx,
                               d);
            }
            rp_strbuf_puts(&b, v->str ? v->str : "");
            p = end + 1;
        } else {
            rp_strbuf_add(&b, p, 1);
            p++;
        }
    }
    char *txt = rp_strbuf_take(&b);
    if (!txt) return rp_diag_addf(d, n, NULL, "out of memory");
    free(n->str);
    n->str = txt;
    return RP_OK;
}

static int subst(rp_node **slot, const rp_node *each, const char *ctx, rp_diag *d) {
    rp_node *n = *slot;
    if (!n) return RP_OK;
    if (n->kind == RP_NODE_SCALAR) return subst_scalar(slot, each, ctx, d);
    int rc = RP_OK;
    for (size_t i = 0; i < n->n; i++)
        if (subst(&n->items[i], each, ctx, d) != RP_OK) rc = RP_ERR_INVALID;
    return rc;
}

rp_node *rp_each_subst(const rp_node *n, const rp_node *each, const char *ctx, rp_diag *d) {
    if (!n) return NULL;
    rp_node *c = rp_node_clone(n);
    if (!c) {
        rp_diag_addf(d, n, NULL, "out of memory");
        return NULL;
    }
    if (subst(&c, each, ctx, d) != RP_OK) {
        rp_node_free(c);
        return NULL;
    }
    return c;
}
