/* Schemas: validation with defaults and component params (see schema.h).
 * Loading, the cache and the schema well-formedness check are in schema.c.
 * The validator walks the schema's YAML tree directly. */
#include "config/schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/schema_impl.h"
#include "host/registry.h"
#include "runpipe/plugin.h"

/* ---- validation -------------------------------------------------------------------- */

struct vctx {
    rp_diag *d;
    const char *context;
    size_t errors; /* errors reported through this context */
    int depth;
};

static void verr(struct vctx *c, const rp_node *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void verr(struct vctx *c, const rp_node *at, const char *path, const char *fmt, ...) {
    char msg[RP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->errors++;
    if (path && *path)
        rp_diag_addf(c->d, at, NULL, "%s'%s': %s", c->context ? c->context : "", path, msg);
    else
        rp_diag_addf(c->d, at, NULL, "%s%s", c->context ? c->context : "", msg);
}

static void child_path(char *out, size_t size, const char *path, const char *key) {
    if (path && *path)
        snprintf(out, size, "%s.%s", path, key);
    else
        snprintf(out, size, "%s", key);
}

static void index_path(char *out, size_t size, const char *path, size_t i) {
    snprintf(out, size, "%s[%zu]", path && *path ? path : "", i);
}

static int type_matches(const char *t, const rp_node *v) {
    if (!strcmp(t, "string")) return rp_node_is_string(v);
    if (!strcmp(t, "integer")) return rp_node_is_int(v);
    if (!strcmp(t, "number")) return rp_node_is_number(v);
    if (!strcmp(t, "boolean")) return rp_node_is_bool(v);
    if (!strcmp(t, "null")) return rp_node_is_null(v);
    if (!strcmp(t, "array")) return v->kind == RP_NODE_SEQ;
    if (!strcmp(t, "object")) return v->kind == RP_NODE_MAP;
    return 0;
}

static const char *type_phrase(const char *t) {
    if (!strcmp(t, "string")) return "a string";
    if (!strcmp(t, "integer")) return "an integer";
    if (!strcmp(t, "number")) return "a number";
    if (!strcmp(t, "boolean")) return "true or false";
    if (!strcmp(t, "null")) return "null";
    if (!strcmp(t, "array")) return "a list";
    if (!strcmp(t, "object")) return "a map";
    return t;
}

/* Does `v` pass the schema's `type` (absent type: yes)? */
static int schema_type_ok(const rp_node *s, const rp_node *v) {
    const rp_node *t = rp_node_get(s, "type");
    if (!t) return 1;
    if (t->kind == RP_NODE_SEQ) {
        for (size_t i = 0; i < t->n; i++)
            if (type_matches(t->items[i]->str, v)) return 1;
        return 0;
    }
    return type_matches(t->str, v);
}

/* Does the schema's `type` (a name or a list of names) include `name`? */
static int type_has(const rp_node *s, const char *name) {
    const rp_node *t = rp_node_get(s, "type");
    if (t && t->kind == RP_NODE_SCALAR) return !strcmp(t->str, name);
    for (size_t i = 0; t && t->kind == RP_NODE_SEQ && i < t->n; i++)
        if (rp_node_str(t->items[i]) && !strcmp(t->items[i]->str, name)) return 1;
    return 0;
}

/* "a number or a string" */
static void type_list_phrase(const rp_node *t, char *buf, size_t size) {
    buf[0] = 0;
    size_t n = t->kind == RP_NODE_SEQ ? t->n : 1, u = 0;
    for (size_t i = 0; i < n && u < size; i++) {
        const char *ts = t->kind == RP_NODE_SEQ ? t->items[i]->str : t->str;
        u += (size_t)snprintf(buf + u, size - u, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "),
                              type_phrase(ts));
    }
}

/* Scalar equality for enum/const: numbers numerically, else same text and type. */
static int value_equal(const rp_node *a, const rp_node *b) {
    if (rp_node_is_number(a) && rp_node_is_number(b)) {
        double x, y;
        rp_node_as_double(a, &x, NULL);
        rp_node_as_double(b, &y, NULL);
        return x == y;
    }
    return rp_node_equal(a, b);
}

/* minItems/maxItems on a list, minProperties/maxProperties on a map. */
static void check_size(struct vctx *c, const rp_node *s, const rp_node *v, const char *path,
                       const char *min_key, const char *max_key, const char *one,
                       const char *many) {
    int64_t k;
    const rp_node *lim;
    if ((lim = rp_node_get(s, min_key)) && rp_node_as_int(lim, &k, NULL) == RP_OK &&
        (int64_t)v->n < k)
        verr(c, v, path, "expected at least %lld %s, got %zu", (long long)k, k == 1 ? one : many,
             v->n);
    if ((lim = rp_node_get(s, max_key)) && rp_node_as_int(lim, &k, NULL) == RP_OK &&
        (int64_t)v->n > k)
        verr(c, v, path, "expected at most %lld %s, got %zu", (long long)k, k == 1 ? one : many,
             v->n);
}

static rp_node *validate(struct vctx *c, const rp_node *s, const rp_node *v, const char *path);

static rp_node *with_location(rp_node *n, const rp_node *from) {
    if (n && from && !n->file) {
        n->file = from->file;
        n->line = from->line;
        n->col = from->col;
    }
    return n;
}

/* A component reference (x-component: KIND). */
/* `x-list: KEY` in a component's schema: a list written as its params is
 * the value of KEY ({sum: [a, b]} = {sum: {terms: [a, b]}}). Returns the
 * wrapping map (owned by the caller) or NULL when `params` is not such a
 * list (*oom set when allocation failed). */
static rp_node *list_as_params(const rp_schema *s, const rp_node *params, int *oom) {
    *oom = 0;
    const rp_node *xl = s ? rp_node_get(rp_schema_root(s), "x-list") : NULL;
    if (!params || params->kind != RP_NODE_SEQ || !xl || !rp_node_str(xl)) return NULL;
    rp_node *list = rp_node_clone(params), *map = rp_node_new_map();
    if (!list || !map || rp_node_map_set(map, xl->str, list) != RP_OK) {
        rp_node_free(map);
        rp_node_free(list);
        *oom = 1;
        return NULL;
    }
    return with_location(map, params);
}

static rp_node *validate_component(struct vctx *c, int kind, const rp_node *v, const char *path) {
    const char *kn = rp_component_kind_name(kind);
    char d[96];
    const rp_node *name_node = NULL, *params = NULL;
    if (v->kind == RP_NODE_SCALAR && rp_node_is_string(v)) {
        name_node = v;
    } else if (v->kind == RP_NODE_MAP && v->n == 1) {
        name_node = v->keys[0];
        params = v->items[0];
    } else if (v->kind == RP_NODE_MAP) {
        verr(c, v, path,
             "expected a %s: NAME or {NAME: {params}} (a map with one key), got a map "
             "with %zu keys",
             kn, v->n);
        return rp_node_clone(v);
    } else {
        verr(c, v, path, "expected a %s: NAME or {NAME: {params}}, got %s", kn,
             rp_node_describe(v, d, sizeof d));
        return rp_node_clone(v);
    }
    const char *name = name_node->str;
    const struct rp_component *comp = NULL;
    rp_error e;
    rp_error_clear(&e);
    if (rp_component_lookup(kind, name, name_node, &comp, &e) != RP_OK) {
        verr(c, name_node, path, "%s", e.msg);
        return rp_node_clone(v);
    }
    char cpath[512];
    child_path(cpath, sizeof cpath, path, name);
    char sname[300];
    snprintf(sname, sizeof sname, "%s.%s", kn, name);
    const rp_schema *cs = NULL;
    rp_node *norm_params = NULL;
    int st = rp_schema_get(sname, &cs, &e);
    if (params && rp_node_is_null(params)) params = NULL;
    int oom = 0;
    rp_node *wrapped = st == RP_OK ? list_as_params(cs, params, &oom) : NULL;
    if (oom) {
        verr(c, params, cpath, "out of memory");
        return rp_node_clone(v);
    }
    if (wrapped) params = wrapped;
    if (st == RP_OK) {
        if (params && params->kind != RP_NODE_MAP) {
            verr(c, params, cpath, "expected a map of %s parameters, got %s", kn,
                 rp_node_describe(params, d, sizeof d));
            rp_node_free(wrapped);
            return rp_node_clone(v);
        }
        rp_node *empty = NULL;
        if (!params) {
            empty = rp_node_new_map();
            if (!empty) {
                verr(c, name_node, cpath, "out of memory");
                rp_node_free(wrapped);
                return rp_node_clone(v);
            }
            with_location(empty, name_node);
        }
        c->depth++;
        norm_params =
            c->depth > 64 ? NULL : validate(c, rp_schema_root(cs), params ? params : empty, cpath);
        if (c->depth > 64) verr(c, name_node, path, "%s references nested too deeply", kn);
        c->depth--;
        rp_node_free(empty);
        rp_node_free(wrapped);
    } else if (st == RP_ERR_NOTFOUND) {
        if (params && !(params->kind == RP_NODE_MAP && params->n == 0)) {
            verr(c, params, path, "%s '%s' takes no parameters", kn, name);
            return rp_node_clone(v);
        }
        norm_params = rp_node_new_map();
        with_location(norm_params, params ? params : name_node);
    } else {
        /* a broken schema file: report it where it is */
        c->errors++;
        rp_diag_add(c->d, &e);
        return rp_node_clone(v);
    }
    rp_node *out = rp_node_new_map();
    if (!out || !norm_params) {
        rp_node_free(out);
        rp_node_free(norm_params);
        return rp_node_clone(v);
    }
    with_location(out, v);
    rp_node *key = rp_node_new_scalar(name);
    if (key) {
        key->file = name_node->file;
        key->line = name_node->line;
        key->col = name_node->col;
    }
    /* map_set would copy the value's location onto the key; set the pair directly */
    if (rp_node_map_set(out, name, norm_params) == RP_OK && key) {
        rp_node_free(out->keys[0]);
        out->keys[0] = key;
    } else {
        rp_node_free(key);
    }
    return out;
}

/* Score an alternative for "best match": type mismatch at the top is worst,
 * then a `const` property that disagrees, then the number of errors. */
static size_t alt_score(const rp_node *alt, const rp_node *v, size_t n_errors) {
    size_t score = n_errors;
    if (!schema_type_ok(alt, v)) score += 100000;
    const rp_node *props = rp_node_get(alt, "properties");
    if (v->kind == RP_NODE_MAP && props && props->kind == RP_NODE_MAP)
        for (size_t i = 0; i < props->n; i++) {
            const rp_node *cst = rp_node_get(props->items[i], "const");
            const rp_node *have = rp_node_get(v, props->keys[i]->str);
            if (cst && have && !value_equal(cst, have)) score += 1000;
        }
    return score;
}

static rp_node *validate_alternatives(struct vctx *c, const rp_node *s, const rp_node *v,
                                      const char *path, const char *kw) {
    const rp_node *alts = rp_node_get(s, kw);
    int one_of = !strcmp(kw, "oneOf");
    rp_node *chosen = NULL;
    size_t n_ok = 0, first_ok = 0, second_ok = 0;
    size_t best = 0, best_score = (size_t)-1;
    rp_diag best_d;
    rp_diag_init(&best_d);
    int all_type_mismatch = 1;
    for (size_t i = 0; i < alts->n; i++) {
        rp_diag tmp;
        rp_diag_init(&tmp);
        struct vctx sub = {&tmp, c->context, 0, c->depth};
        rp_node *r = validate(&sub, alts->items[i], v, path);
        if (sub.errors == 0) {
            if (n_ok == 0) {
                chosen = r;
                first_ok = i;
            } else {
                if (n_ok == 1) second_ok = i;
                rp_node_free(r);
            }
            n_ok++;
            rp_diag_release(&tmp);
            if (!one_of) break;
            continue;
        }
        rp_node_free(r);
        if (schema_type_ok(alts->items[i], v)) all_type_mismatch = 0;
        size_t sc = alt_score(alts->items[i], v, sub.errors);
        if (sc < best_score) {
            best_score = sc;
            best = i;
            rp_diag_release(&best_d);
            best_d = tmp;
        } else {
            rp_diag_release(&tmp);
        }
    }
    (void)best;
    if (n_ok == 1 || (n_ok > 1 && !one_of)) {
        rp_diag_release(&best_d);
        return chosen;
    }
    if (n_ok > 1) {
        verr(c, v, path,
             "matches more than one alternative (%zu and %zu) where exactly one is "
             "expected",
             first_ok + 1, second_ok + 1);
        rp_diag_release(&best_d);
        return chosen;
    }
    if (all_type_mismatch) {
        /* say which kinds of value would do */
        char types[256] = "", d[96];
        size_t u = 0;
        for (size_t i = 0; i < alts->n && u < sizeof types; i++) {
            const rp_node *t = rp_node_get(alts->items[i], "type");
            const rp_node *xc = rp_node_get(alts->items[i], "x-component");
            char one[128];
            if (t)
                type_list_phrase(t, one, sizeof one);
            else if (xc)
                snprintf(one, sizeof one, "a %s", xc->str);
            else
                continue;
            if (strstr(types, one)) continue;
            u += (size_t)snprintf(types + u, sizeof types - u, "%s%s", u ? " or " : "", one);
        }
        if (u) {
            verr(c, v, path, "expected %s, got %s", types, rp_node_describe(v, d, sizeof d));
            rp_diag_release(&best_d);
            return rp_node_clone(v);
        }
    }
    for (size_t i = 0; i < best_d.n; i++)
        rp_diag_add(c->d, &best_d.e[i]);
    size_t kept = best_d.n + best_d.dropped;
    c->errors += kept ? kept : 1;
    c->d->dropped += best_d.dropped;
    rp_diag_release(&best_d);
    return rp_node_clone(v);
}

static rp_node *validate_object(struct vctx *c, const rp_node *s, const rp_node *v,
                                const char *path) {
    const rp_node *props = rp_node_get(s, "properties");
    const rp_node *addl = rp_node_get(s, "additionalProperties");
    int closed = addl && rp_node_is_bool(addl) && !strcmp(addl->str, "false");
    const rp_node *addl_schema = addl && !rp_node_is_bool(addl) ? addl : NULL;
    rp_node *out = rp_node_new_map();
    if (!out) return NULL;
    with_location(out, v);
    char cp[512];
    /* present keys, in the order written */
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i]->str;
        child_path(cp, sizeof cp, path, k);
        const rp_node *ps = props ? rp_node_get(props, k) : NULL;
        rp_node *r = NULL;
        if (ps) {
            r = validate(c, ps, v->items[i], cp);
        } else if (closed) {
            size_t np = props ? props->n : 0;
            const char **names = malloc((np ? np : 1) * sizeof *names);
            for (size_t j = 0; names && j < np; j++)
                names[j] = props->keys[j]->str;
            const char *sug = names ? rp_suggest(k, names, np) : NULL;
            if (sug) {
                verr(c, v->keys[i], cp, "unknown parameter (did you mean '%s'?)", sug);
            } else if (np == 0) {
                verr(c, v->keys[i], cp, "unknown parameter (no parameters are accepted here)");
            } else {
                char list[700];
                size_t u = 0;
                list[0] = 0;
                for (size_t j = 0; j < np && u < sizeof list; j++)
                    u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", j ? ", " : "",
                                          names[j]);
                verr(c, v->keys[i], cp, "unknown parameter (valid: %s)", list);
            }
            free(names);
            continue;
        } else if (addl_schema) {
            r = validate(c, addl_schema, v->items[i], cp);
        } else {
            r = rp_node_clone(v->items[i]);
        }
        if (!r) continue;
        rp_node *key = rp_node_clone(v->keys[i]);
        if (!key) rp_node_free(r); /* (map_set frees it on failure) */
        if (!key || rp_node_map_set(out, k, r) != RP_OK) {
            rp_node_free(key);
            verr(c, v->keys[i], cp, "out of memory");
            continue;
        }
        rp_node_free(out->keys[out->n - 1]);
        out->keys[out->n - 1] = key;
    }
    /* required */
    const rp_node *req = rp_node_get(s, "required");
    for (size_t i = 0; req && i < req->n; i++) {
        const char *k = req->items[i]->str;
        if (!rp_node_get(v, k)) {
            if (path && *path)
                verr(c, v, path, "missing required parameter '%s'", k);
            else
                verr(c, v, NULL, "missing required parameter '%s'", k);
        }
    }
    /* defaults for absent keys (a default is validated too, which fills the
     * defaults nested in it and normalises component references) */
    for (size_t i = 0; props && i < props->n; i++) {
        const char *k = props->keys[i]->str;
        if (rp_node_get(v, k)) continue;
        const rp_node *def = rp_node_get(props->items[i], "default");
        if (!def) continue;
        child_path(cp, sizeof cp, path, k);
        rp_node *r = validate(c, props->items[i], def, cp);
        if (r && rp_node_map_set(out, k, r) != RP_OK) verr(c, v, cp, "out of memory");
    }
    return out;
}

static rp_node *validate_inner(struct vctx *c, const rp_node *s, const rp_node *v,
                               const char *path) {
    char d[96];
    if (!s || rp_node_is_bool(s)) {
        if (s && !strcmp(s->str, "false")) verr(c, v, path, "no value is allowed here");
        return rp_node_clone(v);
    }
    if (c->depth > 64) {
        verr(c, v, path, "nested too deeply");
        return rp_node_clone(v);
    }
    if (v->kind == RP_NODE_SCALAR && v->quoted == RP_NODE_UNRESOLVED) {
        c->errors++; /* a failed ${...}: reported already, the result stays invalid */
        return rp_node_clone(v);
    }
    /* type */
    const rp_node *t = rp_node_get(s, "type");
    if (t && !schema_type_ok(s, v)) {
        char tl[128];
        type_list_phrase(t, tl, sizeof tl);
        verr(c, v, path, "expected %s, got %s", tl, rp_node_describe(v, d, sizeof d));
        return rp_node_clone(v);
    }
    /* enum / const */
    const rp_node *en = rp_node_get(s, "enum");
    if (en) {
        int ok = 0;
        for (size_t i = 0; i < en->n && !ok; i++)
            ok = value_equal(en->items[i], v);
        if (!ok) {
            char list[700];
            size_t u = 0;
            list[0] = 0;
            for (size_t i = 0; i < en->n && u < sizeof list; i++) {
                const char *es = rp_node_is_null(en->items[i]) ? "null" : rp_node_str(en->items[i]);
                u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "",
                                      es ? es : "?");
            }
            verr(c, v, path, "expected one of %s; got %s", list, rp_node_describe(v, d, sizeof d));
            return rp_node_clone(v);
        }
    }
    const rp_node *cst = rp_node_get(s, "const");
    if (cst && !value_equal(cst, v)) {
        char want[96];
        verr(c, v, path, "expected %s, got %s", rp_node_describe(cst, want, sizeof want),
             rp_node_describe(v, d, sizeof d));
        return rp_node_clone(v);
    }
    /* numbers */
    if (rp_node_is_number(v)) {
        double x = 0, b = 0;
        rp_node_as_double(v, &x, NULL);
        const rp_node *lim;
        /* .inf / .nan only where the schema says so (x-nonfinite: true): in
           a learning rate or a ratio they only make NaN losses later */
        const rp_node *nf = rp_node_get(s, "x-nonfinite");
        if (!isfinite(x) && !(nf && rp_node_str(nf) && !strcmp(nf->str, "true"))) {
            verr(c, v, path, "expected a finite number, got %s", v->str);
            return rp_node_clone(v);
        }
        /* integers are stored as int32 unless the schema says x-int64: true
           (4294967296 would silently become 0) */
        const rp_node *i64 = rp_node_get(s, "x-int64");
        int64_t iv;
        if (rp_node_is_int(v) && type_has(s, "integer") &&
            !(i64 && rp_node_str(i64) && !strcmp(i64->str, "true"))) {
            if (rp_node_as_int(v, &iv, NULL) != RP_OK || iv < INT32_MIN || iv > INT32_MAX) {
                verr(c, v, path, "%s is out of range (at most %d in magnitude)", v->str, INT32_MAX);
                return rp_node_clone(v);
            }
        }
        if (isnan(x) &&
            (rp_node_get(s, "minimum") || rp_node_get(s, "maximum") ||
             rp_node_get(s, "exclusiveMinimum") || rp_node_get(s, "exclusiveMaximum"))) {
            verr(c, v, path, "expected a number between its bounds, got %s", v->str);
            return rp_node_clone(v);
        }
        if ((lim = rp_node_get(s, "minimum")) && rp_node_as_double(lim, &b, NULL) == RP_OK &&
            !(x >= b))
            verr(c, v, path, "%s is below the minimum %s", v->str, lim->str);
        if ((lim = rp_node_get(s, "maximum")) && rp_node_as_double(lim, &b, NULL) == RP_OK &&
            !(x <= b))
            verr(c, v, path, "%s is above the maximum %s", v->str, lim->str);
        if ((lim = rp_node_get(s, "exclusiveMinimum")) &&
            rp_node_as_double(lim, &b, NULL) == RP_OK && !(x > b))
            verr(c, v, path, "%s must be greater than %s", v->str, lim->str);
        if ((lim = rp_node_get(s, "exclusiveMaximum")) &&
            rp_node_as_double(lim, &b, NULL) == RP_OK && !(x < b))
            verr(c, v, path, "%s must be less than %s", v->str, lim->str);
        if ((lim = rp_node_get(s, "multipleOf")) && rp_node_as_double(lim, &b, NULL) == RP_OK &&
            b > 0) {
            double q = x / b;
            if (!(fabs(q - nearbyint(q)) <= 1e-9 * (fabs(q) > 1 ? fabs(q) : 1)))
                verr(c, v, path, "%s is not a multiple of %s", v->str, lim->str);
        }
    }
    /* strings */
    if (rp_node_is_string(v)) {
        int64_t k;
        size_t len = strlen(v->str);
        const rp_node *lim;
        if ((lim = rp_node_get(s, "minLength")) && rp_node_as_int(lim, &k, NULL) == RP_OK &&
            (int64_t)len < k) {
            if (k == 1)
                verr(c, v, path, "must not be empty");
            else
                verr(c, v, path, "expected at least %lld characters, got %s", (long long)k,
                     rp_node_describe(v, d, sizeof d));
        }
        if ((lim = rp_node_get(s, "maxLength")) && rp_node_as_int(lim, &k, NULL) == RP_OK &&
            (int64_t)len > k)
            verr(c, v, path, "expected at most %lld characters, got %zu", (long long)k, len);
        const rp_node *pat = rp_node_get(s, "pattern");
        if (pat && rp_node_str(pat) && schema_pattern_match(pat->str, v->str) == 0)
            verr(c, v, path, "%s does not match the pattern %s", rp_node_describe(v, d, sizeof d),
                 pat->str);
    }
    /* alternatives */
    if (rp_node_get(s, "oneOf")) return validate_alternatives(c, s, v, path, "oneOf");
    if (rp_node_get(s, "anyOf")) return validate_alternatives(c, s, v, path, "anyOf");
    const rp_node *xc = rp_node_get(s, "x-component");
    if (xc) return validate_component(c, rp_component_kind_parse(xc->str), v, path);
    /* arrays */
    if (v->kind == RP_NODE_SEQ) {
        check_size(c, s, v, path, "minItems", "maxItems", "item", "items");
        const rp_node *uniq = rp_node_get(s, "uniqueItems");
        if (uniq && rp_node_is_bool(uniq) && !strcmp(uniq->str, "true")) {
            int dup = 0;
            for (size_t i = 1; i < v->n && !dup; i++)
                for (size_t j = 0; j < i && !dup; j++)
                    if (value_equal(v->items[i], v->items[j])) {
                        char vd[96];
                        verr(c, v->items[i], path, "%s appears twice (items must be unique)",
                             rp_node_describe(v->items[i], vd, sizeof vd));
                        dup = 1;
                    }
        }
        const rp_node *items = rp_node_get(s, "items");
        if (!items) return rp_node_clone(v);
        rp_node *out = rp_node_new_seq();
        if (!out) return NULL;
        with_location(out, v);
        char ip[512];
        for (size_t i = 0; i < v->n; i++) {
            index_path(ip, sizeof ip, path, i);
            rp_node *r = validate(c, items, v->items[i], ip);
            if (r && rp_node_seq_push(out, r) != RP_OK) verr(c, v->items[i], ip, "out of memory");
        }
        return out;
    }
    /* objects */
    if (v->kind == RP_NODE_MAP) {
        check_size(c, s, v, path, "minProperties", "maxProperties", "entry", "entries");
    }
    if (v->kind == RP_NODE_MAP && (rp_node_get(s, "properties") || rp_node_get(s, "required") ||
                                   rp_node_get(s, "additionalProperties")))
        return validate_object(c, s, v, path);
    return rp_node_clone(v);
}

/* Every validator hands back a value (a copy, even after reporting an
 * error): NULL without an error is an allocation that failed. */
static rp_node *validate(struct vctx *c, const rp_node *s, const rp_node *v, const char *path) {
    size_t before = c->errors;
    rp_node *r = validate_inner(c, s, v, path);
    if (!r && c->errors == before) verr(c, v, path, "out of memory");
    return r;
}

int rp_schema_validate(const rp_schema *s, const rp_node *value, const char *context, rp_node **out,
                       rp_diag *d) {
    *out = NULL;
    struct vctx c = {d, context, 0, 0};
    rp_node *empty = NULL;
    const rp_node *root = rp_schema_root(s);
    if (!value ||
        (value->kind == RP_NODE_NULL && schema_type_ok(root, &(rp_node){.kind = RP_NODE_MAP}))) {
        /* absent (or an empty `with:`) = {} */
        empty = rp_node_new_map();
        if (!empty) return rp_diag_addf(d, value, NULL, "%sout of memory", context ? context : "");
        if (value) with_location(empty, value);
        value = empty;
    }
    *out = validate(&c, root, value, "");
    rp_node_free(empty);
    return c.errors ? RP_ERR_INVALID : RP_OK;
}

/* ---- component params (plugin.h) ------------------------------------------------- */

int rp_component_params(int kind, const char *name, const rp_node *params, rp_node **out,
                        rp_error *err) {
    *out = NULL;
    const char *kn = rp_component_kind_name(kind);
    char sname[300], ctx[300];
    snprintf(sname, sizeof sname, "%s.%s", kn, name ? name : "");
    snprintf(ctx, sizeof ctx, "%s '%s': ", kn, name ? name : "");
    const rp_schema *s = NULL;
    rp_error e;
    rp_error_clear(&e);
    int st = rp_schema_get(sname, &s, &e);
    if (st == RP_ERR_NOTFOUND) {
        if (params && !rp_node_is_null(params) && !(params->kind == RP_NODE_MAP && params->n == 0))
            return rp_error_at(err, params, RP_ERR_INVALID, "%s '%s' takes no parameters", kn,
                               name);
        *out = rp_node_new_map();
        if (!*out) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        if (params) with_location(*out, params);
        return RP_OK;
    }
    if (st != RP_OK) {
        if (err) *err = e;
        return st;
    }
    int oom = 0;
    rp_node *wrapped = list_as_params(s, params, &oom);
    if (oom) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    rp_diag d;
    rp_diag_init(&d);
    st = rp_schema_validate(s, wrapped ? wrapped : params, ctx, out, &d);
    rp_node_free(wrapped);
    if (st != RP_OK) {
        if (err && d.n)
            *err = d.e[0];
        else
            rp_error_set(err, st, "%sinvalid parameters", ctx);
        rp_node_free(*out);
        *out = NULL;
    }
    rp_diag_release(&d);
    return st;
}
