/* Pipeline files: --set overrides, matrix expansion, ${...} substitution and
 * validation against schemas/pipeline.yaml (see config.h). */
#include "config/config.h"
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

/* Compact one-line rendering of a value (labels, messages). */
static void sb_inline(rp_strbuf *b, const rp_node *v) {
    if (!v || rp_node_is_null(v)) {
        rp_strbuf_puts(b, "null");
    } else if (v->kind == RP_NODE_SCALAR) {
        rp_strbuf_puts(b, v->str);
    } else if (v->kind == RP_NODE_SEQ) {
        rp_strbuf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) rp_strbuf_puts(b, ", ");
            sb_inline(b, v->items[i]);
        }
        rp_strbuf_puts(b, "]");
    } else {
        rp_strbuf_puts(b, "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) rp_strbuf_puts(b, ", ");
            rp_strbuf_puts(b, v->keys[i]->str);
            rp_strbuf_puts(b, ": ");
            sb_inline(b, v->items[i]);
        }
        rp_strbuf_puts(b, "}");
    }
}

/* ---- --set ----------------------------------------------------------------------- */

static void set_location_tree(rp_node *n, const char *file, int line, int col_offset) {
    if (!n) return;
    n->file = file;
    n->col = n->line == 1 ? n->col + col_offset : n->col;
    n->line = line;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == RP_NODE_MAP) set_location_tree(n->keys[i], file, line, col_offset);
        set_location_tree(n->items[i], file, line, col_offset);
    }
}

static void list_stage_ids(const rp_node *stages, rp_strbuf *b, const char **ids, size_t *n_ids) {
    *n_ids = 0;
    for (size_t i = 0; stages && i < stages->n; i++) {
        const char *id = rp_node_str(rp_node_get(stages->items[i], "id"));
        if (!id) continue;
        if (*n_ids) rp_strbuf_puts(b, ", ");
        rp_strbuf_puts(b, id);
        ids[(*n_ids)++] = id;
    }
}

/* Apply one "PATH=VALUE" (index `k` among the --set options) to `root`. */
/* --set on a name under vars or matrix that the file does not define: an
 * error (a typo would otherwise be silently ignored); `+vars.X=V` adds. */
static void set_unknown(const rp_node *map, const char *arg, const char *path, const char *seg,
                        rp_diag *d) {
    const char **keys = malloc((rp_node_len(map) + 1) * sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; keys && i < rp_node_len(map); i++) keys[n++] = map->keys[i]->str;
    const char *sug = keys ? rp_suggest(seg, keys, n) : NULL;
    rp_strbuf b = {0};
    for (size_t i = 0; i < n && b.n < 300; i++) {
        if (i) rp_strbuf_puts(&b, ", ");
        rp_strbuf_puts(&b, keys[i]);
    }
    char *list = rp_strbuf_take(&b);
    char what[16];
    snprintf(what, sizeof what, "%s", !strncmp(path, "matrix", 6) ? "matrix axis" : "variable");
    if (sug)
        rp_diag_addf(d, NULL, NULL, "--set '%s': no %s '%s' (did you mean '%s'?)", arg, what, seg,
                     sug);
    else
        rp_diag_addf(d, NULL, NULL, "--set '%s': no %s '%s' (%s%s; to add one, write --set +%s)",
                     arg, what, seg, n ? "defined: " : "none defined", n && list ? list : "",
                     arg);
    free(list);
    free(keys);
}

static void apply_set(rp_node *root, const char *arg, size_t k, rp_diag *d) {
    /* `+PATH=VALUE` may add a name under vars / matrix that does not exist */
    int add = arg[0] == '+';
    const char *full = arg;
    if (add) arg++;
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        rp_diag_addf(d, NULL, NULL, "--set '%s': expected PATH=VALUE (e.g. vars.epochs=1)", arg);
        return;
    }
    rp_node *value = NULL;
    rp_error err;
    rp_error_clear(&err);
    if (rp_node_parse_string(eq + 1, "--set", &value, &err) != RP_OK) {
        rp_diag_addf(d, NULL, NULL, "--set '%s': invalid YAML value: %s", arg, err.msg);
        return;
    }
    const char *file = rp_node_intern("--set");
    set_location_tree(value, file, (int)k + 1, (int)(eq + 1 - arg));
    if (value->kind == RP_NODE_NULL && value->col == 0) value->col = (int)(eq + 1 - arg) + 1;

    size_t plen = (size_t)(eq - arg);
    char *path = malloc(plen + 1);
    if (!path) {
        rp_node_free(value);
        rp_diag_addf(d, NULL, NULL, "out of memory");
        return;
    }
    memcpy(path, arg, plen);
    path[plen] = 0;
    rp_node *cur = root;
    char *seg = path, *walked_end = path;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot) *dot = 0;
        int last = dot == NULL;
        if (!*seg) {
            rp_diag_addf(d, NULL, NULL, "--set '%s': empty path segment", arg);
            break;
        }
        if (cur->kind == RP_NODE_NULL) {
            /* `with:` left empty: becomes the map being set */
            cur->kind = RP_NODE_MAP;
        }
        if (cur->kind == RP_NODE_MAP) {
            rp_node *next = rp_node_get_mut(cur, seg);
            if (!next && !add && cur != root &&
                (!strncmp(path, "vars.", 5) || !strncmp(path, "matrix.", 7))) {
                set_unknown(cur, full, path, seg, d);
                break;
            }
            if (!next && !add && cur == root && (!strcmp(seg, "vars") || !strcmp(seg, "matrix"))) {
                rp_diag_addf(d, NULL, NULL,
                             "--set '%s': the pipeline has no '%s' (to add it, write --set +%s)",
                             full, seg, arg);
                break;
            }
            if (last) {
                rp_node *v = value;
                value = NULL;
                if (rp_node_map_set(cur, seg, v) != RP_OK)
                    rp_diag_addf(d, NULL, NULL, "out of memory");
                break;
            }
            if (!next) {
                rp_node *m = rp_node_new_map();
                if (!m || rp_node_map_set(cur, seg, m) != RP_OK) {
                    rp_diag_addf(d, NULL, NULL, "out of memory");
                    break;
                }
                m->file = file;
                m->line = (int)k + 1;
                m->col = (int)(seg - path) + 1;
                next = m;
            }
            cur = next;
        } else if (cur->kind == RP_NODE_SEQ) {
            int numeric = 1;
            for (const char *p = seg; *p; p++)
                if (!isdigit((unsigned char)*p)) numeric = 0;
            size_t idx = 0;
            int found = 0;
            if (numeric) {
                errno = 0;
                unsigned long long i = strtoull(seg, NULL, 10);
                if (!errno && i < cur->n) {
                    idx = (size_t)i;
                    found = 1;
                } else {
                    *walked_end = 0;
                    rp_diag_addf(d, NULL, NULL,
                                 "--set '%s': index %s is out of range ('%s' has %zu item%s)", arg,
                                 seg, seg == path ? "" : path, cur->n, cur->n == 1 ? "" : "s");
                    break;
                }
            } else {
                for (size_t i = 0; i < cur->n && !found; i++) {
                    const char *id = rp_node_str(rp_node_get(cur->items[i], "id"));
                    if (id && !strcmp(id, seg)) {
                        idx = i;
                        found = 1;
                    }
                }
                if (!found) {
                    rp_strbuf ids = {0};
                    const char **names = malloc((cur->n + 1) * sizeof *names);
                    size_t n_ids = 0;
                    if (names) list_stage_ids(cur, &ids, names, &n_ids);
                    const char *sug = names ? rp_suggest(seg, names, n_ids) : NULL;
                    char *list = rp_strbuf_take(&ids);
                    if (sug)
                        rp_diag_addf(d, NULL, NULL,
                                     "--set '%s': no stage with id '%s' (did you mean '%s'? stage "
                                     "ids: %s)",
                                     arg, seg, sug, list ? list : "");
                    else
                        rp_diag_addf(d, NULL, NULL, "--set '%s': no stage with id '%s' (stage ids: %s)",
                                     arg, seg, list && *list ? list : "none");
                    free(list);
                    free(names);
                    break;
                }
            }
            if (last) {
                rp_node_free(cur->items[idx]);
                cur->items[idx] = value;
                value = NULL;
                break;
            }
            cur = cur->items[idx];
        } else {
            rp_diag_addf(d, NULL, NULL, "--set '%s': '%.*s' is a value, not a map or a list", arg,
                         (int)(seg - path) - 1 > 0 ? (int)(seg - path) - 1 : 0, arg);
            break;
        }
        if (dot) *dot = '.';
        walked_end = dot;
        seg = dot + 1;
    }
    free(path);
    rp_node_free(value);
}

/* ---- substitution ------------------------------------------------------------------ */

enum { VAR_TODO = 0, VAR_BUSY, VAR_DONE };

struct subst {
    rp_diag *d;
    rp_node *vars;          /* the cell's vars map (resolved in place), may be NULL */
    unsigned char *state;   /* per var */
    size_t *stack;          /* var indices being resolved */
    size_t depth;
    const rp_node *matrix;  /* map axis → value for this cell, or NULL */
    int in_matrix;          /* substituting the matrix section itself */
    size_t errors;
};

static void serr(struct subst *s, const rp_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void serr(struct subst *s, const rp_node *at, const char *fmt, ...) {
    char msg[RP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->errors++;
    rp_diag_addf(s->d, at, NULL, "%s", msg);
}

static void subst_node(struct subst *s, rp_node **slot);

static void resolve_var(struct subst *s, size_t i, const rp_node *at);

/* Unknown-variable error with a suggestion over every name that exists. */
static void unknown_var(struct subst *s, const rp_node *at, const char *expr) {
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
static rp_node *lookup(struct subst *s, const rp_node *at, const char *expr) {
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
        resolve_var(s, (size_t)idx, at);
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

static rp_node *subst_scalar(struct subst *s, const rp_node *n);

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
static char *ref_expr(struct subst *s, const rp_node *at, const char *t, size_t len) {
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
static rp_node *subst_scalar(struct subst *s, const rp_node *n) {
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
static void subst_key(struct subst *s, rp_node *map, size_t i) {
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

static void subst_node(struct subst *s, rp_node **slot) {
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
        subst_node(s, &n->items[i]);
    }
}

static void resolve_var(struct subst *s, size_t i, const rp_node *at) {
    (void)at;
    if (s->state[i] != VAR_TODO) return;
    s->state[i] = VAR_BUSY;
    s->stack[s->depth++] = i;
    subst_node(s, &s->vars->items[i]);
    s->depth--;
    s->state[i] = VAR_DONE;
}

static void subst_release(struct subst *s);

static int subst_init(struct subst *s, rp_diag *d, rp_node *vars, const rp_node *matrix) {
    memset(s, 0, sizeof *s);
    s->d = d;
    s->vars = vars && vars->kind == RP_NODE_MAP ? vars : NULL;
    s->matrix = matrix;
    size_t n = s->vars ? s->vars->n : 0;
    s->state = calloc(n + 1, 1);
    s->stack = calloc(n + 1, sizeof *s->stack);
    if (s->state && s->stack) return RP_OK;
    subst_release(s);
    return RP_ERR_NOMEM;
}

static void subst_release(struct subst *s) {
    free(s->state);
    free(s->stack);
}

/* ---- cells ------------------------------------------------------------------------------ */

/* Filesystem-safe text: letters, digits, '.', '+', '-' kept; the rest '_'. */
static void sb_safe(rp_strbuf *b, const char *s, size_t max) {
    size_t k = 0;
    for (const char *p = s; *p && k < max; p++, k++) {
        char c = *p;
        if (!(isalnum((unsigned char)c) || c == '.' || c == '+' || c == '-')) c = '_';
        if (k == 0 && c == '.') c = '_';
        rp_strbuf_add(b, &c, 1);
    }
    if (k == 0) rp_strbuf_puts(b, "_");
}

static int cmp_dirnames(const void *a, const void *b) {
    const rp_cell *x = *(rp_cell *const *)a, *y = *(rp_cell *const *)b;
    int c = strcmp(x->dirname, y->dirname);
    if (c) return c;
    return x < y ? -1 : x > y;
}

/* Make dirnames unique (values that sanitise to the same text). */
static void unique_dirnames(rp_cell *cells, size_t n) {
    if (n < 2) return;
    for (size_t i = 0; i < n; i++)
        if (!cells[i].dirname) return;
    rp_cell **ord = malloc(n * sizeof *ord);
    if (!ord) return;
    for (size_t i = 0; i < n; i++) ord[i] = &cells[i];
    qsort(ord, n, sizeof *ord, cmp_dirnames);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ord[i]->dirname, ord[i - 1]->dirname)) continue;
        /* duplicate: suffix with the cell number (1-based, stable) */
        char *old = ord[i]->dirname;
        size_t len = strlen(old) + 24;
        char *nd = malloc(len);
        if (!nd) continue;
        snprintf(nd, len, "%s_%zu", old, (size_t)(ord[i] - cells) + 1);
        free(old);
        ord[i]->dirname = nd;
    }
    free(ord);
}

void rp_config_free(rp_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_cells; i++) {
        free(c->cells[i].label);
        free(c->cells[i].dirname);
        rp_node_free(c->cells[i].values);
        rp_node_free(c->cells[i].doc);
    }
    free(c->cells);
    rp_node_free(c->root);
    free(c->path);
    free(c->name);
    free(c);
}

static char *default_name(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".yaml")) len -= 5;
    else if (len > 4 && !strcmp(base + len - 4, ".yml")) len -= 4;
    rp_strbuf b = {0};
    char *tmp = strndup(base, len);
    if (tmp) sb_safe(&b, tmp, 200);
    free(tmp);
    return rp_strbuf_take(&b);
}

/* Stage ids: unique (schema checks the pattern). Same wording as the plan
 * check so identical errors collapse into one. */
static void check_stage_ids(const rp_node *doc, rp_diag *d) {
    const rp_node *stages = rp_node_get(doc, "stages");
    if (!stages || stages->kind != RP_NODE_SEQ) return;
    for (size_t i = 0; i < stages->n; i++) {
        const rp_node *idn = rp_node_get(stages->items[i], "id");
        const char *id = rp_node_str(idn);
        if (!id) continue;
        for (size_t j = 0; j < i; j++) {
            const rp_node *prev = rp_node_get(stages->items[j], "id");
            if (rp_node_str(prev) && !strcmp(prev->str, id)) {
                rp_diag_addf(d, idn, id, "duplicate stage id '%s' (first defined at line %d)", id,
                             prev->line);
                break;
            }
        }
    }
}

const char *rp_matrix_value_name(const rp_node *v) {
    if (!v || v->kind != RP_NODE_MAP) return NULL;
    const rp_node *n = rp_node_get(v, "name");
    return n && n->kind == RP_NODE_SCALAR && !rp_node_is_null(n) ? n->str : NULL;
}

static void check_aggregate(const rp_node *doc, const rp_node *matrix, rp_diag *d) {
    const rp_node *agg = rp_node_get(doc, "aggregate");
    if (!agg || agg->kind != RP_NODE_MAP) return;
    const rp_node *over = rp_node_get(agg, "over");
    if (!over || over->kind != RP_NODE_SEQ) return;
    if (!matrix || matrix->kind != RP_NODE_MAP || matrix->n == 0) {
        rp_diag_addf(d, agg, NULL, "'aggregate': there is no matrix to aggregate over");
        return;
    }
    const char **axes = malloc(matrix->n * sizeof *axes);
    if (!axes) return;
    for (size_t i = 0; i < matrix->n; i++) axes[i] = matrix->keys[i]->str;
    for (size_t i = 0; i < over->n; i++) {
        const char *a = rp_node_str(over->items[i]);
        if (!a || rp_node_get(matrix, a)) continue;
        const char *sug = rp_suggest(a, axes, matrix->n);
        if (sug)
            rp_diag_addf(d, over->items[i], NULL,
                         "'aggregate.over[%zu]': '%s' is not a matrix axis (did you mean '%s'?)", i,
                         a, sug);
        else {
            rp_strbuf b = {0};
            for (size_t k = 0; k < matrix->n; k++) {
                if (k) rp_strbuf_puts(&b, ", ");
                rp_strbuf_puts(&b, axes[k]);
            }
            char *list = rp_strbuf_take(&b);
            rp_diag_addf(d, over->items[i], NULL,
                         "'aggregate.over[%zu]': '%s' is not a matrix axis (axes: %s)", i, a,
                         list ? list : "");
            free(list);
        }
    }
    free(axes);
}

/* Seed value of a matrix cell's `seed` axis. */
static int cell_seed(const rp_node *v, uint64_t *out, rp_diag *d) {
    int64_t x;
    if (rp_node_as_int(v, &x, NULL) != RP_OK || x < 0) {
        char buf[96];
        return rp_diag_addf(d, v, NULL, "'matrix.seed': expected a non-negative integer, got %s",
                            rp_node_describe(v, buf, sizeof buf));
    }
    *out = (uint64_t)x;
    return RP_OK;
}

static int load_tree(rp_node *root, const char *path, const struct rp_config_opts *o,
                     int partial, rp_config **out, rp_diag *d) {
    size_t errors_before = rp_diag_count(d);
    rp_config *c = calloc(1, sizeof *c);
    if (!c) {
        rp_node_free(root);
        return rp_diag_addf(d, NULL, NULL, "out of memory");
    }
    c->root = root;
    c->path = strdup(path);
    if (!c->path) {
        rp_config_free(c);
        return rp_diag_addf(d, NULL, NULL, "out of memory");
    }
    if (root->kind != RP_NODE_MAP) {
        char buf[96];
        rp_diag_addf(d, root, NULL,
                     "expected a pipeline (a map with 'runpipe: 1' and 'stages'), got %s",
                     rp_node_describe(root, buf, sizeof buf));
        rp_config_free(c);
        return RP_ERR_INVALID;
    }
    /* format version */
    const rp_node *ver = rp_node_get(root, "runpipe");
    int64_t vnum;
    if (ver && rp_node_as_int(ver, &vnum, NULL) == RP_OK && vnum != 1)
        rp_diag_addf(d, ver, NULL,
                     "'runpipe': unsupported format version %s (this runpipe reads version 1)",
                     ver->str);
    /* --set on the raw tree */
    for (size_t i = 0; o && i < o->n_sets; i++) apply_set(root, o->sets[i], i, d);

    const rp_schema *ps = NULL;
    rp_error e;
    if (rp_schema_get("pipeline", &ps, &e) != RP_OK) {
        rp_diag_add(d, &e);
        rp_config_free(c);
        return RP_ERR_INVALID;
    }

    /* the matrix, substituted with vars only */
    rp_node *matrix = NULL, *cell_combos = NULL;
    const rp_node *raw_matrix = rp_node_get(root, "matrix");
    size_t n_cells = 1;
    int matrix_ok = 1;
    if (raw_matrix && !rp_node_is_null(raw_matrix)) {
        rp_node *tmp = rp_node_clone(root);
        struct subst s;
        if (!tmp || subst_init(&s, d, rp_node_get_mut(tmp, "vars"), NULL) != RP_OK) {
            rp_node_free(tmp);
            rp_config_free(c);
            return rp_diag_addf(d, NULL, NULL, "out of memory");
        }
        s.in_matrix = 1;
        for (size_t i = 0; i < tmp->n; i++)
            if (!strcmp(tmp->keys[i]->str, "matrix")) subst_node(&s, &tmp->items[i]);
        subst_release(&s);
        if (s.errors) matrix_ok = 0;
        matrix = rp_node_clone(rp_node_get(tmp, "matrix"));
        rp_node_free(tmp);
        if (!matrix) {
            rp_diag_addf(d, raw_matrix, NULL, "out of memory");
            matrix_ok = 0;
        } else if (matrix->kind != RP_NODE_MAP) {
            char buf[96];
            rp_diag_addf(d, matrix, NULL, "'matrix': expected a map of axis → list of values, got %s",
                         rp_node_describe(matrix, buf, sizeof buf));
            matrix_ok = 0;
        }
        rp_node *combos = NULL;
        if (matrix_ok && rp_matrix_combos(matrix, RP_CONFIG_MAX_CELLS, &combos, d) != RP_OK)
            matrix_ok = 0;
        if (matrix_ok && matrix->n == 0) {
            rp_node_free(matrix);
            matrix = NULL;
        } else if (matrix_ok) {
            n_cells = combos->n;
        }
        cell_combos = combos;
    }
    if (!matrix_ok) {
        rp_node_free(matrix);
        rp_node_free(cell_combos);
        rp_config_free(c);
        return RP_ERR_INVALID;
    }
    size_t n_axes = matrix ? matrix->n : 0;
    c->cells = calloc(n_cells, sizeof *c->cells);
    size_t *idx = calloc(n_axes + 1, sizeof *idx);
    if (!c->cells || !idx) {
        free(idx);
        rp_node_free(cell_combos);
        rp_node_free(matrix);
        rp_config_free(c);
        return rp_diag_addf(d, NULL, NULL, "out of memory");
    }
    c->n_cells = n_cells;
    for (size_t ci = 0; ci < n_cells; ci++) {
        rp_cell *cell = &c->cells[ci];
        /* axis indices: last axis fastest */
        const rp_node *combo = cell_combos && ci < cell_combos->n ? cell_combos->items[ci] : NULL;
        for (size_t a = 0; a < n_axes; a++) {
            /* the value's position in its axis (directory names of maps) */
            idx[a] = 0;
            const rp_node *v = rp_node_get(combo, matrix->keys[a]->str);
            for (size_t k = 0; v && k < matrix->items[a]->n; k++)
                if (matrix->items[a]->items[k] == v || rp_node_equal(matrix->items[a]->items[k], v))
                    idx[a] = k;
        }
        cell->values = rp_node_new_map();
        rp_strbuf label = {0}, dir = {0};
        for (size_t a = 0; a < n_axes && cell->values; a++) {
            const char *axis = matrix->keys[a]->str;
            const rp_node *v = rp_node_get(combo, axis);
            if (!v || rp_node_map_set(cell->values, axis, rp_node_clone(v)) != RP_OK) {
                rp_node_free(cell->values);
                cell->values = NULL; /* reported below */
                break;
            }
            if (a) {
                rp_strbuf_puts(&label, " ");
                rp_strbuf_puts(&dir, "_");
            }
            rp_strbuf_puts(&label, axis);
            rp_strbuf_puts(&label, "=");
            /* a map value with a scalar `name` is called by it (labels,
               folders, aggregate rows): {name: cutout, transforms: [...]} */
            const char *vname = rp_matrix_value_name(v);
            if (vname) rp_strbuf_puts(&label, vname);
            else sb_inline(&label, v);
            sb_safe(&dir, axis, 40);
            rp_strbuf_puts(&dir, "-");
            if (vname) {
                sb_safe(&dir, vname, 40);
            } else if (v->kind == RP_NODE_SCALAR) {
                sb_safe(&dir, v->str, 40);
            } else {
                char num[32];
                snprintf(num, sizeof num, "%zu", idx[a] + 1);
                rp_strbuf_puts(&dir, num);
            }
        }
        cell->label = rp_strbuf_take(&label);
        cell->dirname = rp_strbuf_take(&dir);
        if (!cell->values || !cell->label || !cell->dirname) {
            rp_diag_addf(d, NULL, NULL, "out of memory");
            break;
        }
        /* the document of this cell */
        rp_node *doc = rp_node_clone(root);
        if (!doc) {
            rp_diag_addf(d, NULL, NULL, "out of memory");
            break;
        }
        if (matrix && rp_node_map_set(doc, "matrix", rp_node_clone(matrix)) != RP_OK) {
            rp_node_free(doc);
            rp_diag_addf(d, NULL, NULL, "out of memory");
            break;
        }
        struct subst s;
        if (subst_init(&s, d, rp_node_get_mut(doc, "vars"), cell->values) != RP_OK) {
            rp_node_free(doc);
            rp_diag_addf(d, NULL, NULL, "out of memory");
            break;
        }
        for (size_t i = 0; s.vars && i < s.vars->n; i++) resolve_var(&s, i, NULL);
        for (size_t i = 0; i < doc->n; i++) {
            const char *k = doc->keys[i]->str;
            if (!strcmp(k, "vars") || !strcmp(k, "matrix")) continue;
            subst_node(&s, &doc->items[i]);
        }
        subst_release(&s);
        rp_node *valid = NULL;
        rp_schema_validate(ps, doc, "", &valid, d);
        rp_node_free(doc);
        cell->doc = valid;
        if (!valid) continue;
        check_stage_ids(valid, d);
        if (ci == 0) check_aggregate(valid, matrix, d);
        /* the effective seed, recorded in the document */
        uint64_t seed = (uint64_t)rp_param_int(valid, "seed");
        const rp_node *ms = rp_node_get(cell->values, "seed");
        if (o && o->has_seed)
            seed = o->seed;
        else if (ms)
            cell_seed(ms, &seed, d);
        cell->seed = seed;
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%" PRIu64, seed);
        rp_node *sn = rp_node_new_scalar(sbuf);
        const rp_node *old = rp_node_get(valid, "seed");
        if (sn && old) {
            sn->file = old->file;
            sn->line = old->line;
            sn->col = old->col;
        }
        if (!sn || rp_node_map_set(valid, "seed", sn) != RP_OK) rp_diag_addf(d, NULL, NULL, "out of memory");
        if (d->n >= RP_DIAG_CAP) break; /* enough to show; stop early on huge sweeps */
    }
    free(idx);
    rp_node_free(cell_combos);
    rp_node_free(matrix);
    unique_dirnames(c->cells, c->n_cells);
    const rp_node *top = c->n_cells && c->cells[0].doc ? c->cells[0].doc : root;
    const char *nm = rp_param_has(top, "name") ? rp_param_str(top, "name") : NULL;
    c->name = nm ? strdup(nm) : default_name(path);
    if (!c->name) rp_diag_addf(d, NULL, NULL, "out of memory");
    /* from the first cell's document: substituted and validated */
    c->aggregate = rp_node_get(c->n_cells && c->cells[0].doc ? c->cells[0].doc : root, "aggregate");
    if (rp_diag_count(d) != errors_before) {
        if (partial) {
            *out = c;
        } else {
            rp_config_free(c);
        }
        return RP_ERR_INVALID;
    }
    *out = c;
    return RP_OK;
}

int rp_config_load_string(const char *text, const char *name, const struct rp_config_opts *o,
                          rp_config **out, rp_diag *d) {
    *out = NULL;
    rp_node *root = NULL;
    rp_error e;
    rp_error_clear(&e);
    if (rp_node_parse_string(text, name, &root, &e) != RP_OK) {
        rp_diag_add(d, &e);
        return RP_ERR_INVALID;
    }
    return load_tree(root, name ? name : "<string>", o, 0, out, d);
}

static int load_file(const char *path, const struct rp_config_opts *o, int partial,
                     rp_config **out, rp_diag *d) {
    *out = NULL;
    rp_node *root = NULL;
    rp_error e;
    rp_error_clear(&e);
    int st = rp_node_parse_file(path, &root, &e);
    if (st != RP_OK) {
        rp_diag_add(d, &e);
        return st == RP_ERR_IO ? RP_ERR_IO : RP_ERR_INVALID;
    }
    return load_tree(root, path, o, partial, out, d);
}

int rp_config_load(const char *path, const struct rp_config_opts *o, rp_config **out,
                   rp_diag *d) {
    return load_file(path, o, 0, out, d);
}

int rp_config_load_partial(const char *path, const struct rp_config_opts *o, rp_config **out,
                           rp_diag *d) {
    return load_file(path, o, 1, out, d);
}
