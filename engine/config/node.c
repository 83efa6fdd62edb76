/* YAML node tree (see include/runpipe/node.h): construction, scalar typing
 * (YAML 1.2 core schema; quoted scalars are always strings), reading,
 * parameters, equality. Parsing and emitting YAML text: node_yaml.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config/node_impl.h"
#include "runpipe/strbuf.h"


/* ---- interning ------------------------------------------------------------- */

struct intern_entry {
    struct intern_entry *next;
    char s[];
};
static struct intern_entry *intern_head;
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;

const char *rp_node_intern(const char *s) {
    if (!s) return NULL;
    pthread_mutex_lock(&intern_lock);
    for (struct intern_entry *e = intern_head; e; e = e->next)
        if (strcmp(e->s, s) == 0) {
            pthread_mutex_unlock(&intern_lock);
            return e->s;
        }
    size_t n = strlen(s);
    struct intern_entry *e = malloc(sizeof *e + n + 1);
    if (!e) {
        pthread_mutex_unlock(&intern_lock);
        return NULL;
    }
    memcpy(e->s, s, n + 1);
    e->next = intern_head;
    intern_head = e;
    pthread_mutex_unlock(&intern_lock);
    return e->s;
}

/* ---- construction ---------------------------------------------------------- */

static rp_node *node_alloc(enum rp_node_kind kind) {
    rp_node *n = calloc(1, sizeof *n);
    if (n) n->kind = kind;
    return n;
}

rp_node *rp_node_new_scalar(const char *text) {
    rp_node *n = node_alloc(RP_NODE_SCALAR);
    if (!n) return NULL;
    n->str = strdup(text ? text : "");
    if (!n->str) {
        free(n);
        return NULL;
    }
    return n;
}

rp_node *rp_node_new_string(const char *text) {
    rp_node *n = rp_node_new_scalar(text);
    if (n) n->quoted = 1;
    return n;
}

rp_node *rp_node_new_null(void) {
    return node_alloc(RP_NODE_NULL);
}

rp_node *rp_node_new_seq(void) {
    return node_alloc(RP_NODE_SEQ);
}

rp_node *rp_node_new_map(void) {
    return node_alloc(RP_NODE_MAP);
}

void rp_node_set_location(rp_node *n, const char *file, int line, int col) {
    if (!n) return;
    n->file = rp_node_intern(file);
    n->line = line;
    n->col = col;
}

void rp_node_free(rp_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys) rp_node_free(n->keys[i]);
        if (n->items) rp_node_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(n);
}

/* Arrays hold cap_for(n) entries (a power of two >= 4) once allocated. */
static size_t cap_for(size_t n) {
    size_t c = 4;
    while (c < n) c <<= 1;
    return c;
}

/* Grow the item (and key) arrays to hold one more entry. */
static int node_reserve(rp_node *n) {
    /* (a map whose keys array could not be grown with its items grows again) */
    if (n->items && (n->kind != RP_NODE_MAP || n->keys) && n->n < cap_for(n->n)) return RP_OK;
    size_t ncap = n->items ? cap_for(n->n) * 2 : 4;
    rp_node **it = realloc(n->items, ncap * sizeof *it);
    if (!it) return RP_ERR_NOMEM;
    n->items = it;
    if (n->kind == RP_NODE_MAP) {
        rp_node **k = realloc(n->keys, ncap * sizeof *k);
        if (!k) return RP_ERR_NOMEM;
        n->keys = k;
    }
    return RP_OK;
}

int rp_node_seq_push(rp_node *seq, rp_node *item) {
    if (!seq || seq->kind != RP_NODE_SEQ || !item) {
        rp_node_free(item);
        return RP_ERR_INVALID;
    }
    if (node_reserve(seq) != RP_OK) {
        rp_node_free(item);
        return RP_ERR_NOMEM;
    }
    seq->items[seq->n++] = item;
    return RP_OK;
}

int rp_node_map_append(rp_node *map, rp_node *key, rp_node *value) {
    if (node_reserve(map) != RP_OK) {
        rp_node_free(key);
        rp_node_free(value);
        return RP_ERR_NOMEM;
    }
    map->keys[map->n] = key;
    map->items[map->n] = value;
    map->n++;
    return RP_OK;
}

long rp_node_map_index(const rp_node *map, const char *key) {
    if (!map || map->kind != RP_NODE_MAP || !key) return -1;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        if (k && strcmp(k, key) == 0) return (long)i;
    }
    return -1;
}

int rp_node_map_set(rp_node *map, const char *key, rp_node *value) {
    if (!map || map->kind != RP_NODE_MAP || !key || !value) {
        rp_node_free(value);
        return RP_ERR_INVALID;
    }
    long i = rp_node_map_index(map, key);
    if (i >= 0) {
        rp_node_free(map->items[i]);
        map->items[i] = value;
        return RP_OK;
    }
    rp_node *k = rp_node_new_scalar(key);
    if (!k) {
        rp_node_free(value);
        return RP_ERR_NOMEM;
    }
    /* a code-built key takes the value's location so errors on it point somewhere */
    k->file = value->file;
    k->line = value->line;
    k->col = value->col;
    return rp_node_map_append(map, k, value);
}

int rp_node_map_remove(rp_node *map, const char *key) {
    long i = rp_node_map_index(map, key);
    if (i < 0) return RP_ERR_NOTFOUND;
    rp_node_free(map->keys[i]);
    rp_node_free(map->items[i]);
    memmove(map->keys + i, map->keys + i + 1, (map->n - (size_t)i - 1) * sizeof *map->keys);
    memmove(map->items + i, map->items + i + 1, (map->n - (size_t)i - 1) * sizeof *map->items);
    map->n--;
    return RP_OK;
}

rp_node *rp_node_clone(const rp_node *n) {
    if (!n) return NULL;
    rp_node *c = node_alloc(n->kind);
    if (!c) return NULL;
    c->quoted = n->quoted;
    c->file = n->file;
    c->line = n->line;
    c->col = n->col;
    if (n->str && !(c->str = strdup(n->str))) goto fail;
    if (n->n) {
        size_t cap = cap_for(n->n);
        c->items = calloc(cap, sizeof *c->items);
        if (!c->items) goto fail;
        if (n->kind == RP_NODE_MAP) {
            c->keys = calloc(cap, sizeof *c->keys);
            if (!c->keys) goto fail;
        }
        for (size_t i = 0; i < n->n; i++) {
            c->n = i + 1;
            c->items[i] = rp_node_clone(n->items[i]);
            if (!c->items[i]) goto fail;
            if (n->kind == RP_NODE_MAP) {
                c->keys[i] = rp_node_clone(n->keys[i]);
                if (!c->keys[i]) goto fail;
            }
        }
    }
    return c;
fail:
    rp_node_free(c);
    return NULL;
}

/* ---- scalar typing (YAML 1.2 core schema) ------------------------------------ */

int rp_node_null_text(const char *s) {
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* 1 true, 0 false, -1 not a bool */
int rp_node_bool_text(const char *s) {
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return 0;
    return -1;
}

int rp_node_int_text(const char *s) {
    const char *p = s;
    if (p[0] == '0' && p[1] == 'x') {
        p += 2;
        if (!*p) return 0;
        for (; *p; p++)
            if (!isxdigit((unsigned char)*p)) return 0;
        return 1;
    }
    if (p[0] == '0' && p[1] == 'o') {
        p += 2;
        if (!*p) return 0;
        for (; *p; p++)
            if (*p < '0' || *p > '7') return 0;
        return 1;
    }
    if (*p == '-' || *p == '+') p++;
    if (!*p) return 0;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    return 1;
}

int rp_node_float_text(const char *s) {
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return 1;
    if (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) return 1;
    /* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    int digits = 0;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++, digits++;
        if (!digits) return 0;
    } else {
        while (isdigit((unsigned char)*p)) p++, digits++;
        if (!digits) return 0;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') p++;
        int ed = 0;
        while (isdigit((unsigned char)*p)) p++, ed++;
        if (!ed) return 0;
    }
    return *p == 0;
}

static int parse_double_text(const char *s, double *out) {
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *out = neg ? -INFINITY : INFINITY;
        return 1;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *out = NAN;
        return 1;
    }
    if (rp_node_int_text(s)) {
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
            errno = 0;
            unsigned long long v = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
            *out = (double)v;
            return 1;
        }
    }
    if (!rp_node_float_text(s) && !rp_node_int_text(s)) return 0;
    char *end;
    *out = strtod(s, &end);
    return *end == 0;
}

/* Integer value of an int scalar, or of a float with an integral value. */
static int parse_int_text(const char *s, int64_t *out) {
    if (rp_node_int_text(s)) {
        errno = 0;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
            unsigned long long v = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
            if (errno || v > (unsigned long long)INT64_MAX) return 0;
            *out = (int64_t)v;
            return 1;
        }
        long long v = strtoll(s, NULL, 10);
        if (errno) return 0;
        *out = v;
        return 1;
    }
    double d;
    if (rp_node_float_text(s) && parse_double_text(s, &d) && isfinite(d) && d == floor(d) &&
        d >= -9.2e18 && d <= 9.2e18) {
        *out = (int64_t)d;
        return 1;
    }
    return 0;
}

static int plain_scalar(const rp_node *n) {
    return n && n->kind == RP_NODE_SCALAR && !n->quoted && n->str;
}

int rp_node_is_null(const rp_node *n) {
    return n && (n->kind == RP_NODE_NULL || (plain_scalar(n) && rp_node_null_text(n->str)));
}

int rp_node_is_bool(const rp_node *n) {
    return plain_scalar(n) && rp_node_bool_text(n->str) >= 0;
}

int rp_node_is_int(const rp_node *n) {
    int64_t v;
    return plain_scalar(n) && parse_int_text(n->str, &v);
}

int rp_node_is_number(const rp_node *n) {
    return plain_scalar(n) && (rp_node_int_text(n->str) || rp_node_float_text(n->str));
}

int rp_node_is_string(const rp_node *n) {
    if (!n || n->kind != RP_NODE_SCALAR) return 0;
    if (n->quoted) return 1;
    return !rp_node_is_null(n) && !rp_node_is_bool(n) && !rp_node_is_number(n);
}

const char *rp_node_describe(const rp_node *n, char *buf, size_t size) {
    if (!size) return buf;
    if (!n || rp_node_is_null(n))
        snprintf(buf, size, "null");
    else if (n->kind == RP_NODE_SEQ)
        snprintf(buf, size, "a list");
    else if (n->kind == RP_NODE_MAP)
        snprintf(buf, size, "a map");
    else if (rp_node_is_string(n)) {
        if (strlen(n->str) > 60)
            snprintf(buf, size, "'%.57s...'", n->str);
        else
            snprintf(buf, size, "'%s'", n->str);
    } else
        snprintf(buf, size, "%s", n->str);
    return buf;
}

int rp_node_as_int(const rp_node *n, int64_t *out, rp_error *err) {
    char d[96];
    if (plain_scalar(n) && parse_int_text(n->str, out)) return RP_OK;
    if (plain_scalar(n) && rp_node_int_text(n->str))
        return rp_error_at(err, n, RP_ERR_INVALID, "integer %s is out of range", n->str);
    return rp_error_at(err, n, RP_ERR_INVALID, "expected an integer, got %s",
                       rp_node_describe(n, d, sizeof d));
}

int rp_node_as_double(const rp_node *n, double *out, rp_error *err) {
    char d[96];
    if (plain_scalar(n) && parse_double_text(n->str, out)) return RP_OK;
    return rp_error_at(err, n, RP_ERR_INVALID, "expected a number, got %s",
                       rp_node_describe(n, d, sizeof d));
}

int rp_node_as_bool(const rp_node *n, int *out, rp_error *err) {
    char d[96];
    if (plain_scalar(n)) {
        int b = rp_node_bool_text(n->str);
        if (b >= 0) {
            *out = b;
            return RP_OK;
        }
    }
    return rp_error_at(err, n, RP_ERR_INVALID, "expected true or false, got %s",
                       rp_node_describe(n, d, sizeof d));
}

const char *rp_node_str(const rp_node *n) {
    return n && n->kind == RP_NODE_SCALAR ? n->str : NULL;
}

/* ---- reading ------------------------------------------------------------------ */

const rp_node *rp_node_get(const rp_node *map, const char *key) {
    long i = rp_node_map_index(map, key);
    return i < 0 ? NULL : map->items[i];
}

rp_node *rp_node_get_mut(rp_node *map, const char *key) {
    long i = rp_node_map_index(map, key);
    return i < 0 ? NULL : map->items[i];
}

size_t rp_node_len(const rp_node *n) {
    return n && (n->kind == RP_NODE_SEQ || n->kind == RP_NODE_MAP) ? n->n : 0;
}

const rp_node *rp_node_at(const rp_node *seq, size_t i) {
    if (!seq || (seq->kind != RP_NODE_SEQ && seq->kind != RP_NODE_MAP) || i >= seq->n)
        return NULL;
    return seq->items[i];
}

const char *rp_node_key_at(const rp_node *map, size_t i) {
    if (!map || map->kind != RP_NODE_MAP || i >= map->n) return NULL;
    return map->keys[i]->str;
}

/* One path segment: sequences take an index, or (for a list of maps with an
 * `id`) the id; maps take the key. */
static const rp_node *path_step(const rp_node *cur, const char *seg) {
    if (!cur) return NULL;
    if (cur->kind == RP_NODE_MAP) return rp_node_get(cur, seg);
    if (cur->kind != RP_NODE_SEQ) return NULL;
    int numeric = *seg != 0;
    for (const char *p = seg; *p; p++)
        if (!isdigit((unsigned char)*p)) numeric = 0;
    if (numeric) {
        errno = 0;
        unsigned long long i = strtoull(seg, NULL, 10);
        if (errno || i >= cur->n) return NULL;
        return cur->items[i];
    }
    for (size_t i = 0; i < cur->n; i++) {
        const char *id = rp_node_str(rp_node_get(cur->items[i], "id"));
        if (id && !strcmp(id, seg)) return cur->items[i];
    }
    return NULL;
}

const rp_node *rp_node_path(const rp_node *root, const char *path) {
    if (!root || !path) return NULL;
    if (!*path) return root;
    /* a map key containing dots ("a.b") is found when the whole rest matches */
    const rp_node *whole = root->kind == RP_NODE_MAP ? rp_node_get(root, path) : NULL;
    if (whole) return whole;
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char seg[256];
    if (len >= sizeof seg) return NULL;
    memcpy(seg, path, len);
    seg[len] = 0;
    const rp_node *next = path_step(root, seg);
    if (!dot) return next;
    return rp_node_path(next, dot + 1);
}

/* ---- parameters ---------------------------------------------------------------- */

/* Process-wide, not per thread: components may read params on loader
 * threads, and the stage that owns them must still hear of it. */
static _Atomic(const char *) param_missing;

/* The value node of a parameter; NULL for null values and (remembered)
 * absent keys. */
static const rp_node *param_node(const rp_node *map, const char *key) {
    const rp_node *n = rp_node_get(map, key);
    if (!n) {
        const char *none = NULL;
        atomic_compare_exchange_strong(&param_missing, &none, key);
        return NULL;
    }
    return rp_node_is_null(n) ? NULL : n;
}

const char *rp_param_take_missing(void) {
    return atomic_exchange(&param_missing, NULL);
}

int rp_param_has(const rp_node *map, const char *key) {
    const rp_node *n = rp_node_get(map, key);
    return n && !rp_node_is_null(n);
}

int64_t rp_param_int(const rp_node *map, const char *key) {
    const rp_node *n = param_node(map, key);
    int64_t v;
    return n && rp_node_as_int(n, &v, NULL) == RP_OK ? v : 0;
}

double rp_param_double(const rp_node *map, const char *key) {
    const rp_node *n = param_node(map, key);
    double v;
    return n && rp_node_as_double(n, &v, NULL) == RP_OK ? v : 0.0;
}

int rp_param_bool(const rp_node *map, const char *key) {
    const rp_node *n = param_node(map, key);
    int v;
    return n && rp_node_as_bool(n, &v, NULL) == RP_OK ? v : 0;
}

const char *rp_param_str(const rp_node *map, const char *key) {
    const rp_node *n = param_node(map, key);
    return n && n->kind == RP_NODE_SCALAR ? n->str : NULL;
}

int rp_param_doubles(const rp_node *map, const char *key, double *out, int max) {
    const rp_node *n = rp_node_get(map, key);
    if (!n || rp_node_is_null(n)) return 0;
    if (n->kind == RP_NODE_SCALAR) {
        double v;
        if (rp_node_as_double(n, &v, NULL) != RP_OK) return -1;
        if (max > 0) out[0] = v;
        return 1;
    }
    if (n->kind != RP_NODE_SEQ) return -1;
    int k = 0;
    for (size_t i = 0; i < n->n; i++) {
        double v;
        if (rp_node_as_double(n->items[i], &v, NULL) != RP_OK) return -1;
        if (k < max) out[k] = v;
        k++;
    }
    return k < max ? k : max;
}

/* ---- equality ------------------------------------------------------------------ */

int rp_node_equal(const rp_node *a, const rp_node *b) {
    if (!a || !b) return a == b;
    if (rp_node_is_null(a) || rp_node_is_null(b)) return rp_node_is_null(a) && rp_node_is_null(b);
    if (a->kind != b->kind || a->n != b->n) return 0;
    if (a->kind == RP_NODE_SCALAR)
        return !strcmp(a->str, b->str) && rp_node_is_string(a) == rp_node_is_string(b);
    for (size_t i = 0; i < a->n; i++) {
        if (a->kind == RP_NODE_MAP && strcmp(a->keys[i]->str, b->keys[i]->str)) return 0;
        if (!rp_node_equal(a->items[i], b->items[i])) return 0;
    }
    return 1;
}
