/* YAML node tree (see include/runpipe/node.h).
 *
 * libyaml's document API parses the text; the document graph is then copied
 * into an rp_node tree. Aliases become deep copies (so every tree is a plain
 * tree and frees without sharing), `<<` merge keys are applied (explicit keys
 * win, then earlier merge sources win over later ones), duplicate keys are
 * errors. Scalar typing follows the YAML 1.2 core schema; quoted scalars are
 * always strings.
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

#include "runpipe/node.h"
#include "runpipe/strbuf.h"

/* Expanding aliases can blow a small file up exponentially ("billion laughs");
 * refuse documents that would grow beyond this many nodes. */
#define RP_NODE_MAX_NODES 2000000
#define RP_NODE_MAX_DEPTH 2000

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

/* Append a pair without checking for an existing key (both transferred). */
static int map_append(rp_node *map, rp_node *key, rp_node *value) {
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

static long map_index(const rp_node *map, const char *key) {
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
    long i = map_index(map, key);
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
    return map_append(map, k, value);
}

int rp_node_map_remove(rp_node *map, const char *key) {
    long i = map_index(map, key);
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

static int is_null_text(const char *s) {
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* 1 true, 0 false, -1 not a bool */
static int bool_text(const char *s) {
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return 0;
    return -1;
}

static int is_int_text(const char *s) {
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

static int is_float_text(const char *s) {
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
    if (is_int_text(s)) {
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
            errno = 0;
            unsigned long long v = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
            *out = (double)v;
            return 1;
        }
    }
    if (!is_float_text(s) && !is_int_text(s)) return 0;
    char *end;
    *out = strtod(s, &end);
    return *end == 0;
}

/* Integer value of an int scalar, or of a float with an integral value. */
static int parse_int_text(const char *s, int64_t *out) {
    if (is_int_text(s)) {
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
    if (is_float_text(s) && parse_double_text(s, &d) && isfinite(d) && d == floor(d) &&
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
    return n && (n->kind == RP_NODE_NULL || (plain_scalar(n) && is_null_text(n->str)));
}

int rp_node_is_bool(const rp_node *n) {
    return plain_scalar(n) && bool_text(n->str) >= 0;
}

int rp_node_is_int(const rp_node *n) {
    int64_t v;
    return plain_scalar(n) && parse_int_text(n->str, &v);
}

int rp_node_is_number(const rp_node *n) {
    return plain_scalar(n) && (is_int_text(n->str) || is_float_text(n->str));
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
    if (plain_scalar(n) && is_int_text(n->str))
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
        int b = bool_text(n->str);
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
    long i = map_index(map, key);
    return i < 0 ? NULL : map->items[i];
}

rp_node *rp_node_get_mut(rp_node *map, const char *key) {
    long i = map_index(map, key);
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

/* ---- parsing -------------------------------------------------------------------- */

struct conv {
    yaml_document_t *doc;
    const char *file; /* interned */
    unsigned char *busy; /* per document node: currently being converted (alias cycle) */
    size_t count;
    rp_error *err;
};

static void set_mark(rp_node *n, const struct conv *c, yaml_mark_t m) {
    n->file = c->file;
    n->line = (int)m.line + 1;
    n->col = (int)m.column + 1;
}

static int conv_err(struct conv *c, yaml_mark_t m, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int conv_err(struct conv *c, yaml_mark_t m, int status, const char *fmt, ...) {
    if (c->err && c->err->status != RP_OK) return c->err->status; /* keep the first */
    char msg[RP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_node at = {0};
    set_mark(&at, c, m);
    return rp_error_at(c->err, &at, status, "%s", msg);
}

static int convert(struct conv *c, int idx, int depth, rp_node **out);

static int is_merge_key(const yaml_node_t *k) {
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           k->data.scalar.length == 2 && !memcmp(k->data.scalar.value, "<<", 2);
}

/* Add the pairs of merge source `src` (a map) to `map` for keys not present yet. */
static int merge_from(struct conv *c, rp_node *map, rp_node *src, yaml_mark_t at) {
    if (src->kind != RP_NODE_MAP)
        return conv_err(c, at, RP_ERR_FORMAT,
                        "'<<' merge key expects a map or a list of maps");
    for (size_t i = 0; i < src->n; i++) {
        if (map_index(map, src->keys[i]->str) >= 0) continue;
        rp_node *k = src->keys[i], *v = src->items[i];
        src->keys[i] = src->items[i] = NULL;
        if (map_append(map, k, v) != RP_OK)
            return conv_err(c, at, RP_ERR_NOMEM, "out of memory");
    }
    return RP_OK;
}

static int convert_map(struct conv *c, yaml_node_t *yn, int depth, rp_node *map) {
    yaml_node_pair_t *p;
    /* the merge source (`<<`), applied after the explicit keys */
    int merge = 0;
    yaml_mark_t merge_mark = yn->start_mark;
    for (p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
        yaml_node_t *yk = yaml_document_get_node(c->doc, p->key);
        if (!yk) return conv_err(c, yn->start_mark, RP_ERR_FORMAT, "bad mapping key");
        if (is_merge_key(yk)) {
            if (merge)
                return conv_err(c, yk->start_mark, RP_ERR_FORMAT,
                                "duplicate key '<<' (use one merge key with a list of maps)");
            merge = p->value;
            merge_mark = yk->start_mark;
            continue;
        }
        if (yk->type != YAML_SCALAR_NODE)
            return conv_err(c, yk->start_mark, RP_ERR_FORMAT,
                            "mapping keys must be plain scalars, not %s",
                            yk->type == YAML_SEQUENCE_NODE ? "a list" : "a map");
        const char *ks = (const char *)yk->data.scalar.value;
        long prev = map_index(map, ks);
        if (prev >= 0) {
            char where[64];
            snprintf(where, sizeof where, "%d:%d", map->keys[prev]->line, map->keys[prev]->col);
            return conv_err(c, yk->start_mark, RP_ERR_FORMAT,
                            "duplicate key '%s' (first defined at %s)", ks, where);
        }
        rp_node *k = rp_node_new_scalar(ks), *v = NULL;
        if (!k) return conv_err(c, yk->start_mark, RP_ERR_NOMEM, "out of memory");
        k->quoted = yk->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        set_mark(k, c, yk->start_mark);
        int s = convert(c, p->value, depth + 1, &v);
        if (s != RP_OK) {
            rp_node_free(k);
            return s;
        }
        if (map_append(map, k, v) != RP_OK)
            return conv_err(c, yk->start_mark, RP_ERR_NOMEM, "out of memory");
    }
    if (merge) {
        rp_node *src = NULL;
        int s = convert(c, merge, depth + 1, &src);
        if (s != RP_OK) return s;
        if (src->kind == RP_NODE_SEQ) {
            /* earlier maps in the list win over later ones */
            for (size_t i = 0; i < src->n && s == RP_OK; i++)
                s = merge_from(c, map, src->items[i], merge_mark);
        } else {
            s = merge_from(c, map, src, merge_mark);
        }
        rp_node_free(src);
        if (s != RP_OK) return s;
    }
    return RP_OK;
}

static int convert(struct conv *c, int idx, int depth, rp_node **out) {
    *out = NULL;
    yaml_node_t *yn = yaml_document_get_node(c->doc, idx);
    if (!yn) return rp_error_set(c->err, RP_ERR_FORMAT, "%s: broken YAML document", c->file);
    if (depth > RP_NODE_MAX_DEPTH)
        return conv_err(c, yn->start_mark, RP_ERR_FORMAT, "nesting deeper than %d levels",
                        RP_NODE_MAX_DEPTH);
    if (++c->count > RP_NODE_MAX_NODES)
        return conv_err(c, yn->start_mark, RP_ERR_FORMAT,
                        "document too large after expanding aliases (more than %d nodes)",
                        RP_NODE_MAX_NODES);
    if (c->busy[idx])
        return conv_err(c, yn->start_mark, RP_ERR_FORMAT,
                        "recursive alias: this node contains itself");
    rp_node *n = NULL;
    int s = RP_OK;
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        const char *text = (const char *)yn->data.scalar.value;
        int plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (plain && is_null_text(text)) {
            n = rp_node_new_null();
        } else {
            n = rp_node_new_scalar(text);
            if (n) n->quoted = !plain;
        }
        if (!n) return conv_err(c, yn->start_mark, RP_ERR_NOMEM, "out of memory");
        set_mark(n, c, yn->start_mark);
        break;
    }
    case YAML_SEQUENCE_NODE: {
        n = rp_node_new_seq();
        if (!n) return conv_err(c, yn->start_mark, RP_ERR_NOMEM, "out of memory");
        set_mark(n, c, yn->start_mark);
        c->busy[idx] = 1;
        for (yaml_node_item_t *it = yn->data.sequence.items.start;
             it < yn->data.sequence.items.top && s == RP_OK; it++) {
            rp_node *child = NULL;
            s = convert(c, *it, depth + 1, &child);
            if (s == RP_OK && rp_node_seq_push(n, child) != RP_OK)
                s = conv_err(c, yn->start_mark, RP_ERR_NOMEM, "out of memory");
        }
        c->busy[idx] = 0;
        break;
    }
    case YAML_MAPPING_NODE:
        n = rp_node_new_map();
        if (!n) return conv_err(c, yn->start_mark, RP_ERR_NOMEM, "out of memory");
        set_mark(n, c, yn->start_mark);
        c->busy[idx] = 1;
        s = convert_map(c, yn, depth, n);
        c->busy[idx] = 0;
        break;
    default:
        return conv_err(c, yn->start_mark, RP_ERR_FORMAT, "empty YAML node");
    }
    if (s != RP_OK) {
        rp_node_free(n);
        return s;
    }
    *out = n;
    return RP_OK;
}

static int parser_error(yaml_parser_t *p, const char *file, const char *text, size_t len,
                        rp_error *err) {
    rp_node at = {0};
    at.file = file;
    yaml_mark_t m = p->problem_mark;
    /* the most common cause of "cannot start any token": a tab */
    const char *hint = m.index < len && text[m.index] == '\t'
                           ? " (a tab: YAML indents with spaces only)" : "";
    /* `{limit: ${vars.limit}}`: the braces of a reference end a flow map */
    if (!*hint && m.index < len) {
        size_t ls = m.index, le = m.index;
        while (ls > 0 && text[ls - 1] != '\n') ls--;
        while (le < len && text[le] != '\n') le++;
        for (size_t i = ls; i + 1 < le; i++)
            if (text[i] == '$' && text[i + 1] == '{' && (i == ls || (text[i - 1] != '"' &&
                                                                   text[i - 1] != '\''))) {
                hint = " (inside { } or [ ], quote a reference: limit: \"${vars.limit}\")";
                break;
            }
    }
    if (p->error == YAML_READER_ERROR) {
        at.line = 0;
        return rp_error_at(err, &at, RP_ERR_FORMAT, "invalid YAML: %s (at byte %zu)",
                           p->problem ? p->problem : "unreadable input", p->problem_offset);
    }
    at.line = (int)m.line + 1;
    at.col = (int)m.column + 1;
    if (p->context)
        return rp_error_at(err, &at, RP_ERR_FORMAT, "invalid YAML: %s %s (line %d)%s",
                           p->problem ? p->problem : "syntax error", p->context,
                           (int)p->context_mark.line + 1, hint);
    return rp_error_at(err, &at, RP_ERR_FORMAT, "invalid YAML: %s%s",
                       p->problem ? p->problem : "syntax error", hint);
}

static int parse_with(yaml_parser_t *p, const char *file, const char *text, size_t len,
                      rp_node **out, rp_error *err) {
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) return parser_error(p, file, text, len, err);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int s = RP_OK;
    if (!root) {
        /* empty stream: an empty document */
        rp_node *n = rp_node_new_null();
        if (!n) s = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        else {
            n->file = file;
            n->line = 1;
            n->col = 1;
            *out = n;
        }
        yaml_document_delete(&doc);
        return s;
    }
    size_t nn = (size_t)(doc.nodes.top - doc.nodes.start);
    struct conv c = {&doc, file, calloc(nn + 2, 1), 0, err};
    if (!c.busy) {
        yaml_document_delete(&doc);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    rp_error local;
    rp_error_clear(&local);
    c.err = &local;
    s = convert(&c, 1, 0, out);
    free(c.busy);
    if (s == RP_OK) {
        /* a second document is not allowed */
        yaml_document_t doc2;
        if (!yaml_parser_load(p, &doc2)) {
            s = parser_error(p, file, text, len, err);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
            if (r2) {
                rp_node at = {0};
                at.file = file;
                at.line = (int)r2->start_mark.line + 1;
                at.col = (int)r2->start_mark.column + 1;
                s = rp_error_at(err, &at, RP_ERR_FORMAT,
                                "expected a single YAML document, found a second one");
            }
            yaml_document_delete(&doc2);
        }
        if (s != RP_OK) {
            rp_node_free(*out);
            *out = NULL;
        }
    } else if (err) {
        *err = local;
    }
    yaml_document_delete(&doc);
    return s;
}

static int parse_text(const char *text, size_t len, const char *file, rp_node **out,
                      rp_error *err) {
    /* Plain YAML: `${...}` is ordinary scalar text, substituted after
     * parsing (config.c); nothing is rewritten before libyaml sees it. */
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int s = parse_with(&p, file, text, len, out, err);
    yaml_parser_delete(&p);
    return s;
}

int rp_node_parse_string(const char *text, const char *name, rp_node **out, rp_error *err) {
    *out = NULL;
    if (!text) return rp_error_set(err, RP_ERR_INVALID, "no YAML text given");
    return parse_text(text, strlen(text), rp_node_intern(name ? name : "<string>"), out, err);
}

int rp_node_parse_file(const char *path, rp_node **out, rp_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, RP_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rerr = 0;
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f)) {
            rerr = errno ? errno : EIO;
            break;
        }
        if (feof(f)) break;
        if (cap > ((size_t)1 << 30)) {
            rerr = EFBIG;
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) return rp_error_set(err, RP_ERR_NOMEM, "out of memory reading '%s'", path);
    if (rerr) {
        free(buf);
        return rp_error_set(err, RP_ERR_IO, "cannot read '%s': %s", path, strerror(rerr));
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        free(buf);
        return rp_error_set(err, RP_ERR_FORMAT, "'%s' is not a text file (contains NUL bytes)",
                            path);
    }
    int s = parse_text(buf, n, rp_node_intern(path), out, err);
    free(buf);
    return s;
}

/* ---- emitting -------------------------------------------------------------------- */

static void buf_indent(rp_strbuf *b, int indent) {
    for (int i = 0; i < indent; i++) rp_strbuf_add(b, " ", 1);
}

/* Would `s`, written plain, read back as the same string? */
static int plain_safe_string(const char *s) {
    size_t len = strlen(s);
    if (!len) return 0;
    if (is_null_text(s) || bool_text(s) >= 0 || is_int_text(s) || is_float_text(s)) return 0;
    /* YAML 1.1 booleans and other look-alikes: quote them for any reader */
    static const char *const risky[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
                                        "NO", "on", "On", "ON", "off", "Off", "OFF", "=",
                                        ".nan", ".inf", "<<"};
    for (size_t i = 0; i < sizeof risky / sizeof *risky; i++)
        if (!strcmp(s, risky[i])) return 0;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0])) return 0;
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1])) return 0;
    if (s[len - 1] == ':') return 0;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f) return 0;
        if (ch == ':' && p[1] == ' ') return 0;
        if (ch == ' ' && p[1] == '#') return 0;
    }
    /* looks numeric in other YAML dialects (1_000, 0b1, 1:20) */
    int numeric_like = isdigit((unsigned char)s[0]) || s[0] == '+' || s[0] == '.';
    if (numeric_like) {
        for (const char *p = s; *p; p++)
            if (!(isalnum((unsigned char)*p) || strchr("._:+-", *p))) return 1;
        return 0;
    }
    return 1;
}

static void emit_quoted(rp_strbuf *b, const char *s) {
    rp_strbuf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        char esc[8];
        switch (ch) {
        case '"': rp_strbuf_puts(b, "\\\""); break;
        case '\\': rp_strbuf_puts(b, "\\\\"); break;
        case '\n': rp_strbuf_puts(b, "\\n"); break;
        case '\t': rp_strbuf_puts(b, "\\t"); break;
        case '\r': rp_strbuf_puts(b, "\\r"); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02x", ch);
                rp_strbuf_puts(b, esc);
            } else {
                rp_strbuf_add(b, p, 1);
            }
        }
    }
    rp_strbuf_add(b, "\"", 1);
}

static void emit_scalar(rp_strbuf *b, const rp_node *n) {
    if (rp_node_is_null(n)) {
        rp_strbuf_puts(b, "null");
        return;
    }
    if (!rp_node_is_string(n)) {
        rp_strbuf_puts(b, n->str); /* a typed plain scalar: number or bool */
        return;
    }
    if (plain_safe_string(n->str))
        rp_strbuf_puts(b, n->str);
    else
        emit_quoted(b, n->str);
}

static void emit_key(rp_strbuf *b, const rp_node *k) {
    const char *s = k->str ? k->str : "null";
    if (plain_safe_string(s) || (!k->quoted && (is_int_text(s) || bool_text(s) >= 0)))
        rp_strbuf_puts(b, s);
    else
        emit_quoted(b, s);
}

static int is_compound(const rp_node *n) {
    return n && (n->kind == RP_NODE_SEQ || n->kind == RP_NODE_MAP) && n->n > 0;
}

static void emit_node(rp_strbuf *b, const rp_node *n, int indent);

static void emit_inline(rp_strbuf *b, const rp_node *n) {
    if (n->kind == RP_NODE_SEQ) rp_strbuf_puts(b, "[]");
    else if (n->kind == RP_NODE_MAP) rp_strbuf_puts(b, "{}");
    else emit_scalar(b, n);
}

/* Emit a map's pairs, the first one on the current line (already indented). */
static void emit_map_body(rp_strbuf *b, const rp_node *n, int indent) {
    for (size_t i = 0; i < n->n; i++) {
        if (i) buf_indent(b, indent);
        emit_key(b, n->keys[i]);
        const rp_node *v = n->items[i];
        if (is_compound(v)) {
            rp_strbuf_puts(b, ":\n");
            if (v->kind == RP_NODE_SEQ) {
                emit_node(b, v, indent); /* "key:\n- a" is valid, but indent for clarity */
            } else {
                emit_node(b, v, indent + 2);
            }
        } else {
            rp_strbuf_puts(b, ": ");
            emit_inline(b, v);
            rp_strbuf_puts(b, "\n");
        }
    }
}

static void emit_node(rp_strbuf *b, const rp_node *n, int indent) {
    if (!is_compound(n)) {
        buf_indent(b, indent);
        emit_inline(b, n);
        rp_strbuf_puts(b, "\n");
        return;
    }
    if (n->kind == RP_NODE_MAP) {
        buf_indent(b, indent);
        emit_map_body(b, n, indent);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *v = n->items[i];
        buf_indent(b, indent);
        rp_strbuf_puts(b, "- ");
        if (!is_compound(v)) {
            emit_inline(b, v);
            rp_strbuf_puts(b, "\n");
        } else if (v->kind == RP_NODE_MAP) {
            emit_map_body(b, v, indent + 2);
        } else {
            rp_strbuf_puts(b, "\n");
            emit_node(b, v, indent + 2);
        }
    }
}

int rp_node_to_yaml(const rp_node *n, char **out, rp_error *err) {
    *out = NULL;
    rp_strbuf b = {0};
    if (!n) rp_strbuf_puts(&b, "null\n");
    else emit_node(&b, n, 0);
    *out = rp_strbuf_take(&b);
    if (!*out) return rp_error_set(err, RP_ERR_NOMEM, "out of memory while writing YAML");
    return RP_OK;
}
