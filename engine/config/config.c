/* Pipeline files: --set overrides, matrix expansion, ${...} substitution (in
 * config_subst.c) and validation against schemas/pipeline.yaml (see
 * config.h). */
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
#include "config/subst.h"

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
        struct rp_subst s;
        if (!tmp || rp_subst_init(&s, d, rp_node_get_mut(tmp, "vars"), NULL) != RP_OK) {
            rp_node_free(tmp);
            rp_config_free(c);
            return rp_diag_addf(d, NULL, NULL, "out of memory");
        }
        s.in_matrix = 1;
        for (size_t i = 0; i < tmp->n; i++)
            if (!strcmp(tmp->keys[i]->str, "matrix")) rp_subst_node(&s, &tmp->items[i]);
        rp_subst_release(&s);
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
        struct rp_subst s;
        if (rp_subst_init(&s, d, rp_node_get_mut(doc, "vars"), cell->values) != RP_OK) {
            rp_node_free(doc);
            rp_diag_addf(d, NULL, NULL, "out of memory");
            break;
        }
        for (size_t i = 0; s.vars && i < s.vars->n; i++) rp_subst_resolve_var(&s, i, NULL);
        for (size_t i = 0; i < doc->n; i++) {
            const char *k = doc->keys[i]->str;
            if (!strcmp(k, "vars") || !strcmp(k, "matrix")) continue;
            rp_subst_node(&s, &doc->items[i]);
        }
        rp_subst_release(&s);
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
