/* Schemas: loading, the cache and the search path (see schema.h);
 * validation with defaults is in schema_validate.c, description and JSON
 * Schema export in schema_export.c. Schemas are checked for unknown keywords
 * and malformed values when loaded so a typo in a schema file is reported
 * with its location, not ignored. */
#include "config/schema.h"
#include "base/util.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/schema_impl.h"
#include "host/paths.h"
#include "host/registry.h"
#include "runpipe/plugin.h"

struct rp_schema {
    char *name;
    rp_node *root;          /* owned */
    struct rp_schema *next; /* cache list */
};

/* ---- search path and cache --------------------------------------------------- */

static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;
static char **dirs;
static size_t n_dirs;
static size_t n_override; /* dirs[0..n_override) come before the embedded schemas */
static struct rp_schema *cache;

/* Schemas compiled into librunpipe or a plugin (RP_SCHEMA). */
typedef struct embedded {
    char *name, *text, *origin; /* owned copies: a plugin may be unloaded */
} embedded;
static embedded *emb;
static size_t n_emb, cap_emb;

static void drop_cached(const char *name) {
    for (struct rp_schema **pp = &cache; *pp;) {
        if (!strcmp((*pp)->name, name)) {
            struct rp_schema *d = *pp;
            *pp = d->next;
            rp_schema_free(d);
        } else {
            pp = &(*pp)->next;
        }
    }
}

int rp_schema_add_text(const char *name, const char *text, const char *origin, rp_error *err) {
    if (!name || !*name || strchr(name, '/') || !text)
        return rp_error_set(err, RP_ERR_PLUGIN, "embedded schema with a bad name '%s'",
                            name ? name : "(null)");
    pthread_mutex_lock(&schema_lock);
    for (size_t i = 0; i < n_emb; i++)
        if (!strcmp(emb[i].name, name)) {
            int same = !strcmp(emb[i].origin, origin);
            char other[600];
            snprintf(other, sizeof other, "%s", emb[i].origin);
            pthread_mutex_unlock(&schema_lock);
            if (same)
                return rp_error_set(err, RP_ERR_PLUGIN, "schema '%s' is embedded twice", name);
            return rp_error_set(err, RP_ERR_PLUGIN, "schema '%s' is also embedded in %s", name,
                                other);
        }
    if (n_emb == cap_emb) {
        size_t nc = cap_emb ? cap_emb * 2 : 64;
        embedded *ne = realloc(emb, nc * sizeof *ne);
        if (!ne) {
            pthread_mutex_unlock(&schema_lock);
            return rp_error_set(err, RP_ERR_NOMEM, "out of memory (schemas)");
        }
        emb = ne;
        cap_emb = nc;
    }
    embedded *e = &emb[n_emb];
    e->name = strdup(name);
    e->text = strdup(text);
    e->origin = strdup(origin ? origin : "?");
    if (!e->name || !e->text || !e->origin) {
        free(e->name), free(e->text), free(e->origin);
        pthread_mutex_unlock(&schema_lock);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory (schemas)");
    }
    n_emb++;
    drop_cached(name); /* a schema read from a fallback directory before */
    pthread_mutex_unlock(&schema_lock);
    return RP_OK;
}

void rp_schema_remove_origin(const char *origin) {
    pthread_mutex_lock(&schema_lock);
    size_t w = 0;
    for (size_t i = 0; i < n_emb; i++) {
        if (!strcmp(emb[i].origin, origin)) {
            drop_cached(emb[i].name);
            free(emb[i].name), free(emb[i].text), free(emb[i].origin);
        } else {
            emb[w++] = emb[i];
        }
    }
    n_emb = w;
    pthread_mutex_unlock(&schema_lock);
}

const char *rp_schema_embedded_origin(const char *name) {
    const char *o = NULL;
    pthread_mutex_lock(&schema_lock);
    for (size_t i = 0; i < n_emb && !o; i++)
        if (!strcmp(emb[i].name, name)) o = emb[i].origin;
    pthread_mutex_unlock(&schema_lock);
    return o;
}

void rp_schema_add_override_dir(const char *dir) {
    if (!dir || !*dir) return;
    rp_schema_add_dir(dir);
    pthread_mutex_lock(&schema_lock);
    /* move it in front of the ordinary directories */
    for (size_t i = n_override; i < n_dirs; i++)
        if (!strcmp(dirs[i], dir)) {
            char *d = dirs[i];
            memmove(&dirs[n_override + 1], &dirs[n_override], (i - n_override) * sizeof *dirs);
            dirs[n_override++] = d;
            break;
        }
    pthread_mutex_unlock(&schema_lock);
}

void rp_schema_add_dir(const char *dir) {
    if (!dir || !*dir) return;
    pthread_mutex_lock(&schema_lock);
    for (size_t i = 0; i < n_dirs; i++)
        if (!strcmp(dirs[i], dir)) {
            pthread_mutex_unlock(&schema_lock);
            return;
        }
    char **nd = realloc(dirs, (n_dirs + 1) * sizeof *nd);
    if (nd) {
        dirs = nd;
        dirs[n_dirs] = strdup(dir);
        if (dirs[n_dirs]) n_dirs++;
    }
    pthread_mutex_unlock(&schema_lock);
}

static void dirs_init_once(void) {
    const char *const *over, *const *std;
    rp_schema_search_dirs(&over, &std);
    for (; *over; over++) rp_schema_add_override_dir(*over);
    for (; *std; std++) rp_schema_add_dir(*std);
}

void rp_schema_dirs_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, dirs_init_once);
}

RP__SECTION_BOUNDS

/* The schemas compiled into the engine (build/gen/engine_schemas.c): the
 * built-in layers, archs, optimizers, schedulers, and pipeline files. */
__attribute__((constructor)) static void register_embedded(void) {
    for (const struct rp_schema_text *const *t = __start_rp_schemas;
         t && t < __stop_rp_schemas; t++) {
        rp_error err;
        rp_error_clear(&err);
        if (rp_schema_add_text((*t)->name, (*t)->text, "librunpipe.so", &err) != RP_OK)
            rp_registry_builtin_problem(err.msg);
    }
}

void rp_schema_clear_dirs(void) {
    pthread_mutex_lock(&schema_lock);
    for (size_t i = 0; i < n_dirs; i++)
        free(dirs[i]);
    free(dirs);
    dirs = NULL;
    n_dirs = 0;
    n_override = 0;
    pthread_mutex_unlock(&schema_lock);
}

void rp_schema_free(rp_schema *s) {
    if (!s) return;
    rp_node_free(s->root);
    free(s->name);
    free(s);
}

/* Compiled `pattern`s, keyed by their text (regcomp is slow next to
 * everything else the validator does, and big matrices validate each pattern
 * once per cell). */
struct regex_entry {
    struct regex_entry *next;
    regex_t re;
    int ok;
    char pattern[];
};
static struct regex_entry *regexes;

/* 1 match, 0 no match, -1 invalid pattern. */
int schema_pattern_match(const char *pattern, const char *text) {
    pthread_mutex_lock(&schema_lock);
    struct regex_entry *e = regexes;
    while (e && strcmp(e->pattern, pattern))
        e = e->next;
    if (!e) {
        size_t n = strlen(pattern);
        e = malloc(sizeof *e + n + 1);
        if (!e) {
            pthread_mutex_unlock(&schema_lock);
            return -1;
        }
        memcpy(e->pattern, pattern, n + 1);
        e->ok = regcomp(&e->re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
        e->next = regexes;
        regexes = e;
    }
    int r = e->ok ? regexec(&e->re, text, 0, NULL, 0) == 0 : -1;
    pthread_mutex_unlock(&schema_lock);
    return r;
}

void rp_schema_cache_clear(void) {
    pthread_mutex_lock(&schema_lock);
    while (regexes) {
        struct regex_entry *n = regexes->next;
        if (regexes->ok) regfree(&regexes->re);
        free(regexes);
        regexes = n;
    }
    while (cache) {
        struct rp_schema *n = cache->next;
        rp_schema_free(cache);
        cache = n;
    }
    pthread_mutex_unlock(&schema_lock);
}

const rp_node *rp_schema_root(const rp_schema *s) {
    return s ? s->root : NULL;
}

const char *rp_schema_name(const rp_schema *s) {
    return s ? s->name : NULL;
}

/* ---- schema well-formedness ---------------------------------------------------- */

static const char *const type_names[] = {"string", "integer", "number", "boolean",
                                         "array",  "object",  "null"};
#define N_TYPES (sizeof type_names / sizeof *type_names)

static const char *const keywords[] = {"type",
                                       "properties",
                                       "required",
                                       "additionalProperties",
                                       "enum",
                                       "const",
                                       "minimum",
                                       "maximum",
                                       "exclusiveMinimum",
                                       "exclusiveMaximum",
                                       "minLength",
                                       "maxLength",
                                       "pattern",
                                       "items",
                                       "minItems",
                                       "maxItems",
                                       "default",
                                       "description",
                                       "title",
                                       "examples",
                                       "oneOf",
                                       "anyOf",
                                       "x-component",
                                       "$comment",
                                       "multipleOf",
                                       "uniqueItems",
                                       "minProperties",
                                       "maxProperties",
                                       "x-nonfinite",
                                       "x-int64",
                                       "x-path"};
#define N_KEYWORDS (sizeof keywords / sizeof *keywords)

static int check_schema(const rp_node *s, rp_error *err);

static int check_number(const rp_node *s, const char *kw, rp_error *err) {
    const rp_node *v = rp_node_get(s, kw);
    if (v && !rp_node_is_number(v))
        return rp_error_at(err, v, RP_ERR_FORMAT, "schema: '%s' must be a number", kw);
    return RP_OK;
}

static int check_count(const rp_node *s, const char *kw, rp_error *err) {
    const rp_node *v = rp_node_get(s, kw);
    int64_t k;
    if (v && (rp_node_as_int(v, &k, NULL) != RP_OK || k < 0))
        return rp_error_at(err, v, RP_ERR_FORMAT, "schema: '%s' must be a non-negative integer",
                           kw);
    return RP_OK;
}

static int check_schema(const rp_node *s, rp_error *err) {
    if (!s) return RP_OK;
    if (rp_node_is_bool(s)) return RP_OK; /* true / false schemas */
    if (s->kind != RP_NODE_MAP)
        return rp_error_at(err, s, RP_ERR_FORMAT, "schema: expected a map of keywords");
    for (size_t i = 0; i < s->n; i++) {
        const char *k = s->keys[i]->str;
        int known = !strncmp(k, "x-", 2) && strcmp(k, "x-component") != 0;
        for (size_t j = 0; j < N_KEYWORDS && !known; j++)
            known = !strcmp(k, keywords[j]);
        if (!known)
            return rp_error_at(err, s->keys[i], RP_ERR_FORMAT, "schema: unknown keyword '%s'", k);
    }
    const rp_node *t = rp_node_get(s, "type");
    if (t) {
        size_t n = t->kind == RP_NODE_SEQ ? t->n : 1;
        for (size_t i = 0; i < n; i++) {
            const rp_node *ti = t->kind == RP_NODE_SEQ ? t->items[i] : t;
            const char *ts = rp_node_str(ti);
            int ok = 0;
            for (size_t j = 0; j < N_TYPES && ts && !ok; j++)
                ok = !strcmp(ts, type_names[j]);
            if (!ok)
                return rp_error_at(err, ti, RP_ERR_FORMAT,
                                   "schema: unknown type '%s' (string, integer, number, boolean, "
                                   "array, object or null)",
                                   ts ? ts : "?");
        }
    }
    const rp_node *p = rp_node_get(s, "properties");
    if (p) {
        if (p->kind != RP_NODE_MAP)
            return rp_error_at(err, p, RP_ERR_FORMAT, "schema: 'properties' must be a map");
        for (size_t i = 0; i < p->n; i++)
            if (check_schema(p->items[i], err) != RP_OK) return err ? err->status : RP_ERR_FORMAT;
    }
    const rp_node *r = rp_node_get(s, "required");
    if (r) {
        if (r->kind != RP_NODE_SEQ)
            return rp_error_at(err, r, RP_ERR_FORMAT, "schema: 'required' must be a list");
        for (size_t i = 0; i < r->n; i++)
            if (!rp_node_str(r->items[i]))
                return rp_error_at(err, r->items[i], RP_ERR_FORMAT,
                                   "schema: 'required' lists property names");
    }
    const rp_node *a = rp_node_get(s, "additionalProperties");
    if (a && !rp_node_is_bool(a) && check_schema(a, err) != RP_OK) return RP_ERR_FORMAT;
    const rp_node *it = rp_node_get(s, "items");
    if (it && check_schema(it, err) != RP_OK) return RP_ERR_FORMAT;
    const rp_node *e = rp_node_get(s, "enum");
    if (e && (e->kind != RP_NODE_SEQ || e->n == 0))
        return rp_error_at(err, e, RP_ERR_FORMAT, "schema: 'enum' must be a non-empty list");
    static const char *const alts[] = {"oneOf", "anyOf"};
    for (int k = 0; k < 2; k++) {
        const rp_node *o = rp_node_get(s, alts[k]);
        if (!o) continue;
        if (o->kind != RP_NODE_SEQ || o->n == 0)
            return rp_error_at(err, o, RP_ERR_FORMAT, "schema: '%s' must be a non-empty list",
                               alts[k]);
        for (size_t i = 0; i < o->n; i++)
            if (check_schema(o->items[i], err) != RP_OK) return RP_ERR_FORMAT;
    }
    static const char *const nums[] = {"minimum", "maximum", "exclusiveMinimum",
                                       "exclusiveMaximum"};
    for (int k = 0; k < 4; k++)
        if (check_number(s, nums[k], err) != RP_OK) return RP_ERR_FORMAT;
    const rp_node *mo = rp_node_get(s, "multipleOf");
    double mov;
    if (mo && (rp_node_as_double(mo, &mov, NULL) != RP_OK || !(mov > 0)))
        return rp_error_at(err, mo, RP_ERR_FORMAT, "schema: 'multipleOf' must be a number > 0");
    const rp_node *ui = rp_node_get(s, "uniqueItems");
    if (ui && !rp_node_is_bool(ui))
        return rp_error_at(err, ui, RP_ERR_FORMAT, "schema: 'uniqueItems' must be true or false");
    static const char *const counts[] = {"minLength", "maxLength",     "minItems",
                                         "maxItems",  "minProperties", "maxProperties"};
    for (int k = 0; k < 6; k++)
        if (check_count(s, counts[k], err) != RP_OK) return RP_ERR_FORMAT;
    const rp_node *pat = rp_node_get(s, "pattern");
    if (pat) {
        regex_t re;
        if (!rp_node_str(pat) || regcomp(&re, pat->str, REG_EXTENDED | REG_NOSUB) != 0)
            return rp_error_at(err, pat, RP_ERR_FORMAT,
                               "schema: 'pattern' is not a valid POSIX extended regex");
        regfree(&re);
    }
    const rp_node *xc = rp_node_get(s, "x-component");
    if (xc && rp_component_kind_parse(rp_node_str(xc)) < 0)
        return rp_error_at(err, xc, RP_ERR_FORMAT,
                           "schema: 'x-component' must be a component kind (layer, arch, loss, "
                           "optimizer, scheduler, transform, metric, batch_hook)");
    return RP_OK;
}

int rp_schema_from_node(rp_node *root, const char *name, rp_schema **out, rp_error *err) {
    *out = NULL;
    if (check_schema(root, err) != RP_OK) {
        rp_node_free(root);
        return RP_ERR_FORMAT;
    }
    rp_schema *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name ? name : "schema"))) {
        free(s);
        rp_node_free(root);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    s->root = root;
    *out = s;
    return RP_OK;
}

/* The embedded schema NAME parsed into the cache: 1 (and *st) when there is
 * one. Caller holds schema_lock. */
static int embedded_get(const char *name, const rp_schema **out, rp_error *err, int *st) {
    const embedded *e = NULL;
    for (size_t k = 0; k < n_emb && !e; k++)
        if (!strcmp(emb[k].name, name)) e = &emb[k];
    if (!e) return 0;
    char where[900];
    snprintf(where, sizeof where, "%s.yaml (embedded in %s)", name, e->origin);
    rp_node *root = NULL;
    *st = rp_node_parse_string(e->text, where, &root, err);
    rp_schema *sc = NULL;
    if (*st == RP_OK) *st = rp_schema_from_node(root, name, &sc, err);
    if (*st == RP_OK) {
        sc->next = cache;
        cache = sc;
        *out = sc;
    }
    return 1;
}

int rp_schema_get(const char *name, const rp_schema **out, rp_error *err) {
    *out = NULL;
    if (!name || !*name || strchr(name, '/'))
        return rp_error_set(err, RP_ERR_NOTFOUND, "no schema named '%s'", name ? name : "");
    /* Library users that never load plugins (tests, embedders) still find the
     * standard schema directories. Idempotent. */
    rp_schema_dirs_init();
    pthread_mutex_lock(&schema_lock);
    for (struct rp_schema *s = cache; s; s = s->next)
        if (!strcmp(s->name, name)) {
            *out = s;
            pthread_mutex_unlock(&schema_lock);
            return RP_OK;
        }
    char path[1024];
    int found = 0, st_emb = RP_OK;
    /* RUNPIPE_SCHEMA_PATH, then the schemas compiled into the engine and the
       plugins, then the installed directory */
    for (size_t i = 0; i < n_dirs && !found; i++) {
        if (i == n_override && embedded_get(name, out, err, &st_emb)) {
            pthread_mutex_unlock(&schema_lock);
            return st_emb;
        }
        snprintf(path, sizeof path, "%s/%s.yaml", dirs[i], name);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            found = 1;
        }
    }
    if (!found && n_override >= n_dirs && embedded_get(name, out, err, &st_emb)) {
        pthread_mutex_unlock(&schema_lock);
        return st_emb;
    }
    if (!found) {
        char searched[600] = "";
        size_t u = 0;
        for (size_t i = 0; i < n_dirs && u < sizeof searched - 1; i++)
            u += (size_t)snprintf(searched + u, sizeof searched - u, "%s%s", i ? ":" : "", dirs[i]);
        pthread_mutex_unlock(&schema_lock);
        if (u >= sizeof searched) u = sizeof searched - 1;
        return rp_error_set(err, RP_ERR_NOTFOUND, "no schema file '%s.yaml' (searched %s)", name,
                            n_dirs ? searched : "no directories");
    }
    rp_node *root = NULL;
    int st = rp_node_parse_file(path, &root, err);
    rp_schema *s = NULL;
    if (st == RP_OK) st = rp_schema_from_node(root, name, &s, err);
    if (st == RP_OK) {
        s->next = cache;
        cache = s;
        *out = s;
    }
    pthread_mutex_unlock(&schema_lock);
    return st;
}
