/* ${...} substitution: variables, matrix values, environment, foreach
 * references, in values and keys (see subst.h). */
#include "config/subst.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/strbuf.h"
#include "config/schema.h"

/* ---- substitution ------------------------------------------------------------------ */




static void serr(struct rp_subst *s, const rp_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void serr(struct rp_subst *s, const rp_node *at, const char *fmt, ...) {
    char msg[RP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->errors++;
    rp_diag_addf(s->d, at, NULL, "%s", msg);
}



/* Unknown-variable error with a suggestion over every name that exists. */
static void unknown_var(struct rp_subst *s, const rp_node *at, const char *expr) {
    size_t nv = s->vars ? s->vars->n : 0, nm = s->matrix ? s->matrix->n : 0;
    char **cands = calloc(nv + nm + 1, sizeof *cands);
    size_t n = 0;
    /* for a nested path, offer the keys next to the missing one */
    const char *dot = strchr(expr, '.');
    for (size_t i = 0; cands && i < nv; i++) {
        char *c = malloc(strlen(s->vars->keys[i]->str) + 6);
        if (!c) continue;
        sprintf(c, "vars.%s", s->vars->keys[i]->str);
        cands[n++] = c;
    }
    for (size_t i = 0; cands && i < nm; i++) {
        char *c = malloc(strlen(s->matrix->keys[i]->str) + 8);
        if (!c) continue;
        sprintf(c, "matrix.%s", s->matrix->keys[i]->str);
        cands[n++] = c;
    }
    const char *sug = cands ? rp_suggest(expr, (const char *const *)cands, n) : NULL;
    /* nested: "vars.opt.lrr" → compare against "vars.opt.<key>" */
    char nested_sug[1100] = "";
    const char *last_dot = strrchr(expr, '.');
    if (dot && last_dot != dot && !strncmp(expr, "vars.", 5) && s->vars) {
        char parent[512];
        snprintf(parent, sizeof parent, "%.*s", (int)(last_dot - expr - 5), expr + 5);
        const rp_node *p = rp_node_path(s->vars, parent);
        if (p && p->kind == RP_NODE_MAP) {
            const char **keys = malloc((p->n + 1) * sizeof *keys);
            for (size_t i = 0; keys && i < p->n; i++) keys[i] = p->keys[i]->str;
            const char *k = keys ? rp_suggest(last_dot + 1, keys, p->n) : NULL;
            if (k) snprintf(nested_sug, sizeof nested_sug, "vars.%s.%s", parent, k);
            free(keys);
        }
    }
    if (nested_sug[0])
        serr(s, at, "unknown variable '%s' (did you mean '%s'?)", expr, nested_sug);
    else if (sug)
        serr(s, at, "unknown variable '%s' (did you mean '%s'?)", expr, sug);
    else if (strncmp(expr, "vars.", 5) && strncmp(expr, "matrix.", 7) && strncmp(expr, "env.", 4))
        serr(s, at,
             "unknown variable '%s' (use ${vars.NAME}, ${matrix.NAME} or ${env.NAME})", expr);
    else if (n == 0)
        serr(s, at, "unknown variable '%s' (no vars or matrix axes are defined)", expr);
    else {
        rp_strbuf b = {0};
        for (size_t i = 0; i < n && b.n < 400; i++) {
            if (i) rp_strbuf_puts(&b, ", ");
            rp_strbuf_puts(&b, cands[i]);
        }
        char *list = rp_strbuf_take(&b);
        serr(s, at, "unknown variable '%s' (known: %s)", expr, list ? list : "");
        free(list);
    }
    for (size_t i = 0; i < n; i++) free(cands[i]);
    free(cands);
}

/* Look up one expression; returns a new node (owned) or NULL after an error. */
static rp_node *lookup(struct rp_subst *s, const rp_node *at, const char *expr) {
    if (!*expr) {
        serr(s, at, "empty variable reference '${}'");
        return NULL;
    }
    if (!strncmp(expr, "env.", 4)) {
        /* ${env.NAME} or ${env.NAME:-default} (the default when NAME is unset
           or empty, as in sh) */
        const char *name = expr + 4, *dflt = strstr(name, ":-");
        size_t nlen = dflt ? (size_t)(dflt - name) : strlen(name);
        if (!nlen) {
            serr(s, at, "empty environment variable name in '${%s}'", expr);
            return NULL;
        }
        char *var = strndup(name, nlen);
        if (!var) {
            serr(s, at, "out of memory");
            return NULL;
        }
        const char *v = getenv(var);
        if ((!v || !*v) && dflt) v = dflt + 2;
        if (!v) {
            serr(s, at,
                 "environment variable '%s' is not set (export it, or give a default: "
                 "'${env.%s:-VALUE}')",
                 var, var);
            free(var);
            return NULL;
        }
        free(var);
        /* typed like a plain YAML scalar: ${env.N:-4} is the integer 4 */
        rp_node *n = rp_node_new_scalar(v);
        if (!n) serr(s, at, "out of memory");
        return n;
    }
    if (!strncmp(expr, "each.", 5)) {
        /* a foreach instance's value: substituted when the plan makes the
         * instances (run/foreach.c) */
        rp_strbuf b = {0};
        rp_strbuf_printf(&b, "${%s}", expr);
        char *t = rp_strbuf_take(&b);
        rp_node *n = t ? rp_node_new_scalar(t) : NULL;
        free(t);
        if (!n) serr(s, at, "out of memory");
        return n;
    }
    const rp_node *base = NULL;
    const char *rest = NULL;
    if (!strncmp(expr, "vars.", 5)) {
        const char *name = expr + 5;
        size_t len = strcspn(name, ".");
        long idx = -1;
        for (size_t i = 0; s->vars && i < s->vars->n; i++)
            if (strlen(s->vars->keys[i]->str) == len &&
                !strncmp(s->vars->keys[i]->str, name, len))
                idx = (long)i;
        if (idx < 0) {
            unknown_var(s, at, expr);
            return NULL;
        }
        if (s->state[idx] == VAR_BUSY) {
            rp_strbuf b = {0};
            size_t from = 0;
            for (size_t i = 0; i < s->depth; i++)
                if (s->stack[i] == (size_t)idx) from = i;
            for (size_t i = from; i < s->depth; i++) {
                rp_strbuf_puts(&b, "vars.");
                rp_strbuf_puts(&b, s->vars->keys[s->stack[i]]->str);
                rp_strbuf_puts(&b, " -> ");
            }
            rp_strbuf_puts(&b, "vars.");
            rp_strbuf_puts(&b, s->vars->keys[idx]->str);
            char *cycle = rp_strbuf_take(&b);
            serr(s, at, "variable cycle: %s", cycle ? cycle : "?");
            free(cycle);
            return NULL;
        }
        size_t before = s->errors;
        rp_subst_resolve_var(s, (size_t)idx, at);
        if (s->errors != before) return NULL; /* reported while resolving it */
        base = s->vars->items[idx];
        rest = name[len] == '.' ? name + len + 1 : "";
    } else if (!strncmp(expr, "matrix.", 7)) {
        if (s->in_matrix) {
            serr(s, at, "matrix values cannot refer to ${%s}", expr);
            return NULL;
        }
        const char *name = expr + 7;
        size_t len = strcspn(name, ".");
        for (size_t i = 0; s->matrix && i < s->matrix->n; i++)
            if (strlen(s->matrix->keys[i]->str) == len &&
                !strncmp(s->matrix->keys[i]->str, name, len))
                base = s->matrix->items[i];
        if (!base) {
            unknown_var(s, at, expr);
            return NULL;
        }
        rest = name[len] == '.' ? name + len + 1 : "";
    } else {
        unknown_var(s, at, expr);
        return NULL;
    }
    const rp_node *v = *rest ? rp_node_path(base, rest) : base;
    if (!v) {
        unknown_var(s, at, expr);
        return NULL;
    }
    rp_node *c = rp_node_clone(v);
    if (!c) serr(s, at, "out of memory");
    return c;
}

static rp_node *subst_scalar(struct rp_subst *s, const rp_node *n);

/* Offset of the '}' that closes the "${" at t[0] (references nested inside
 * it allowed), or -1 when it is not closed. */
static long ref_close(const char *t) {
    int depth = 0;
    for (long i = 0; t[i]; i++) {
        if (t[i] == '$' && t[i + 1] == '{') {
            depth++;
            i++;
        } else if (t[i] == '}' && --depth == 0) {
            return i;
        }
    }
    return -1;
}

/* The reference text t[0..len) with references nested in it replaced by
 * their text (${vars.front.${matrix.method}} → vars.front.adapter); owned,
 * NULL after an error (reported). */
static char *ref_expr(struct rp_subst *s, const rp_node *at, const char *t, size_t len) {
    char *expr = strndup(t, len);
    if (!expr) serr(s, at, "out of memory");
    if (!expr || !strstr(expr, "${")) return expr;
    rp_node *tmp = rp_node_new_scalar(expr);
    free(expr);
    if (!tmp) {
        serr(s, at, "out of memory");
        return NULL;
    }
    tmp->quoted = 1; /* interpolate as text */
    tmp->file = at->file;
    tmp->line = at->line;
    tmp->col = at->col;
    size_t before = s->errors;
    rp_node *r = subst_scalar(s, tmp);
    rp_node_free(tmp);
    expr = r && s->errors == before ? strdup(r->str) : NULL;
    if (!expr && s->errors == before) serr(s, at, "out of memory");
    rp_node_free(r);
    return expr;
}

/* Substitute inside one scalar; returns a replacement node or NULL when the
 * scalar stays as it is. */
static rp_node *subst_scalar(struct rp_subst *s, const rp_node *n) {
    const char *t = n->str;
    if (!strstr(t, "${")) return NULL;
    size_t len = strlen(t);
      /* the whole scalar is one reference, quoted or not ("${vars.x}" keeps
     * the type of vars.x: a number, a list, a map) */
    if (t[0] == '$' && t[1] == '{' && ref_close(t) == (long)len - 1) {
        char *expr = ref_expr(s, n, t + 2, len - 3);
        if (!expr) return NULL;
        rp_node *v = lookup(s, n, expr);
        free(expr);
        if (!v) return NULL;
        /* the reference site locates errors about the value */
        v->file = n->file;
        v->line = n->line;
        v->col = n->col;
        return v;
    }
    rp_strbuf b = {0};
    const char *p = t;
    size_t before = s->errors;
    while (*p) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            rp_strbuf_add(&b, "${", 2);
            p += 3;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            long close = ref_close(p);
            if (close < 0) {
                serr(s, n, "unterminated '${' in '%s' (missing '}')", t);
                break;
            }
            const char *end = p + close;
            char *expr = ref_expr(s, n, p + 2, (size_t)(end - p - 2));
            rp_node *v = expr ? lookup(s, n, expr) : NULL;
            if (v) {
                if (v->kind == RP_NODE_SEQ || v->kind == RP_NODE_MAP)
                    serr(s, n,
                         "'${%s}' is %s and cannot be part of a string '%s' (make the "
                         "reference the whole value: key: \"${%s}\")",
                         expr, v->kind == RP_NODE_SEQ ? "a list" : "a map", t, expr);
                else if (rp_node_is_null(v))
                    rp_strbuf_puts(&b, "null");
                else
                    rp_strbuf_puts(&b, v->str);
                rp_node_free(v);
            }
            free(expr);
            p = end + 1;
            continue;
        }
        rp_strbuf_add(&b, p, 1);
        p++;
    }
    char *text = rp_strbuf_take(&b);
    if (!text || s->errors != before) {
        if (s->errors == before) serr(s, n, "out of memory");
        free(text);
        return NULL;
    }
    rp_node *r = rp_node_new_scalar(text);
    free(text);
    if (!r) {
        serr(s, n, "out of memory");
        return NULL;
    }
    /* a plain scalar is typed by its final text ("1e-${vars.k}" → a number);
     * a quoted one stays a string */
    r->quoted = n->quoted;
    r->file = n->file;
    r->line = n->line;
    r->col = n->col;
    return r;
}

/* A map key with ${...}: replaced by the text of its substitution (a key is
 * always text); a list or map value is an error, as is a duplicate key. */
static void subst_key(struct rp_subst *s, rp_node *map, size_t i) {
    rp_node *k = map->keys[i];
    if (!k || !k->str || !strstr(k->str, "${")) return;
    size_t before = s->errors;
    rp_node *r = subst_scalar(s, k);
    if (!r) return;
    if (s->errors != before) {
        rp_node_free(r);
        return;
    }
    if (r->kind != RP_NODE_SCALAR) {
        char buf[96];
        serr(s, k, "map key '%s' must be text, but it is %s", k->str,
             rp_node_describe(r, buf, sizeof buf));
        rp_node_free(r);
        return;
    }
    for (size_t j = 0; j < map->n; j++)
        if (j != i && map->keys[j]->str && !strcmp(map->keys[j]->str, r->str)) {
            serr(s, k, "map key '%s' becomes '%s', which is already a key (line %d)", k->str,
                 r->str, map->keys[j]->line);
            rp_node_free(r);
            return;
        }
    free(k->str);
    k->str = r->str;
    r->str = NULL;
    k->quoted = 1;
    rp_node_free(r);
}

void rp_subst_node(struct rp_subst *s, rp_node **slot) {
    rp_node *n = *slot;
    if (!n) return;
    if (n->kind == RP_NODE_SCALAR) {
        size_t before = s->errors;
        rp_node *r = subst_scalar(s, n);
        if (r) {
            rp_node_free(n);
            *slot = r;
        } else if (s->errors != before) {
            n->quoted = RP_NODE_UNRESOLVED; /* reported; validators skip it */
        }
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == RP_NODE_MAP) subst_key(s, n, i);
        rp_subst_node(s, &n->items[i]);
    }
}

void rp_subst_resolve_var(struct rp_subst *s, size_t i, const rp_node *at) {
    (void)at;
    if (s->state[i] != VAR_TODO) return;
    s->state[i] = VAR_BUSY;
    s->stack[s->depth++] = i;
    rp_subst_node(s, &s->vars->items[i]);
    s->depth--;
    s->state[i] = VAR_DONE;
}


int rp_subst_init(struct rp_subst *s, rp_diag *d, rp_node *vars, const rp_node *matrix) {
    memset(s, 0, sizeof *s);
    s->d = d;
    s->vars = vars && vars->kind == RP_NODE_MAP ? vars : NULL;
    s->matrix = matrix;
    size_t n = s->vars ? s->vars->n : 0;
    s->state = calloc(n + 1, 1);
    s->stack = calloc(n + 1, sizeof *s->stack);
    if (s->state && s->stack) return RP_OK;
    rp_subst_release(s);
    return RP_ERR_NOMEM;
}

void rp_subst_release(struct rp_subst *s) {
    free(s->state);
    free(s->stack);
}
