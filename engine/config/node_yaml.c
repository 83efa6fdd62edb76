/* YAML text <-> rp_node trees (see include/runpipe/node.h).
 *
 * libyaml's document API parses the text; the document graph is then copied
 * into an rp_node tree. Aliases become deep copies (so every tree is a plain
 * tree and frees without sharing), `<<` merge keys are applied (explicit keys
 * win, then earlier merge sources win over later ones), duplicate keys are
 * errors.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config/node_impl.h"
#include "runpipe/strbuf.h"

/* Expanding aliases can blow a small file up exponentially ("billion laughs");
 * refuse documents that would grow beyond this many nodes. */
#define RP_NODE_MAX_NODES 2000000
#define RP_NODE_MAX_DEPTH 2000

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
        if (rp_node_map_index(map, src->keys[i]->str) >= 0) continue;
        rp_node *k = src->keys[i], *v = src->items[i];
        src->keys[i] = src->items[i] = NULL;
        if (rp_node_map_append(map, k, v) != RP_OK)
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
        long prev = rp_node_map_index(map, ks);
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
        if (rp_node_map_append(map, k, v) != RP_OK)
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
        if (plain && rp_node_null_text(text)) {
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
    if (rp_node_null_text(s) || rp_node_bool_text(s) >= 0 || rp_node_int_text(s) || rp_node_float_text(s)) return 0;
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
    if (plain_safe_string(s) || (!k->quoted && (rp_node_int_text(s) || rp_node_bool_text(s) >= 0)))
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
