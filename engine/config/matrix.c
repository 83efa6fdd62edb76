/* Matrix combinations: the cartesian product of the axes (last fastest), minus
 * `exclude:` entries, plus `include:` entries (config.h).
 *
 *   matrix:
 *     arch: [resnet20, resnet32]
 *     method: [re, cutout]
 *     exclude: [{arch: resnet32, method: cutout}]   # partial: every match removed
 *     include: [{arch: resnet44, method: re}]       # complete: one more cell
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "runpipe/strbuf.h"

static int same(const rp_node *a, const rp_node *b) {
    char *x = NULL, *y = NULL;
    int r = rp_node_to_yaml(a, &x, NULL) == RP_OK && rp_node_to_yaml(b, &y, NULL) == RP_OK &&
            !strcmp(x, y);
    free(x);
    free(y);
    return r;
}

static void axes_list(const rp_node *m, rp_strbuf *b) {
    for (size_t i = 0; i < m->n; i++) rp_strbuf_printf(b, "%s%s", i ? ", " : "", m->keys[i]->str);
}

/* Every key of entry `e` must be an axis; `complete`: and every axis a key. */
static int check_entry(const rp_node *m, const rp_node *e, const char *what, size_t k, int complete,
                       rp_diag *d) {
    char buf[96];
    if (!e || e->kind != RP_NODE_MAP || e->n == 0)
        return rp_diag_addf(d, e, NULL, "'matrix.%s[%zu]': expected a map of axis → value, got %s",
                            what, k, rp_node_describe(e, buf, sizeof buf));
    int rc = RP_OK;
    for (size_t i = 0; i < e->n; i++)
        if (!rp_node_get(m, e->keys[i]->str)) {
            rp_strbuf b = {0};
            axes_list(m, &b);
            rc = rp_diag_addf(d, e->keys[i], NULL, "'matrix.%s[%zu]': '%s' is not a matrix axis (axes: %s)",
                              what, k, e->keys[i]->str, b.p ? b.p : "");
            rp_strbuf_release(&b);
        }
    for (size_t i = 0; complete && i < m->n; i++)
        if (!rp_node_get(e, m->keys[i]->str))
            rc = rp_diag_addf(d, e, NULL,
                              "'matrix.include[%zu]': missing axis '%s' (an included cell names "
                              "a value for every axis)",
                              k, m->keys[i]->str);
    return rc;
}

int rp_matrix_combos(rp_node *matrix, size_t max_cells, rp_node **out, rp_diag *d) {
    *out = NULL;
    rp_node *inc = rp_node_clone(rp_node_get(matrix, "include"));
    rp_node *exc = rp_node_clone(rp_node_get(matrix, "exclude"));
    if ((!inc && rp_node_get(matrix, "include")) || (!exc && rp_node_get(matrix, "exclude"))) {
        rp_node_free(inc);
        rp_node_free(exc);
        return rp_diag_addf(d, matrix, NULL, "out of memory");
    }
    rp_node_map_remove(matrix, "include");
    rp_node_map_remove(matrix, "exclude");
    int rc = RP_OK;
    size_t total = 1;
    for (size_t a = 0; a < matrix->n; a++) {
        const rp_node *ax = matrix->items[a];
        if (ax->kind != RP_NODE_SEQ || ax->n == 0) {
            char buf[96];
            rc = rp_diag_addf(d, ax, NULL, "'matrix.%s': expected a non-empty list of values, got %s",
                              matrix->keys[a]->str,
                              ax->kind == RP_NODE_SEQ ? "an empty list" : rp_node_describe(ax, buf, sizeof buf));
            continue;
        }
        if (total > max_cells / ax->n) {
            rc = rp_diag_addf(d, matrix, NULL, "'matrix': more than %zu cells", max_cells);
            break;
        }
        total *= ax->n;
    }
    const rp_node *lists[2] = {exc, inc};
    const char *what[2] = {"exclude", "include"};
    for (int w = 0; w < 2; w++) {
        if (!lists[w]) continue;
        if (lists[w]->kind != RP_NODE_SEQ) {
            rc = rp_diag_addf(d, lists[w], NULL, "'matrix.%s': expected a list of maps", what[w]);
            continue;
        }
        for (size_t k = 0; k < lists[w]->n; k++)
            if (check_entry(matrix, lists[w]->items[k], what[w], k, w == 1, d) != RP_OK) rc = RP_ERR_INVALID;
    }
    rp_node *list = rc == RP_OK ? rp_node_new_seq() : NULL;
    if (rc == RP_OK && !list) rc = rp_diag_addf(d, matrix, NULL, "out of memory");
    int oom = 0; /* a cell short of an axis must not pass silently */
    for (size_t ci = 0; rc == RP_OK && !oom && matrix->n && ci < total; ci++) {
        rp_node *m = rp_node_new_map();
        size_t r = ci;
        size_t *idx = calloc(matrix->n, sizeof *idx);
        if (!idx) oom = 1;
        for (size_t a = matrix->n; idx && a-- > 0;) {
            idx[a] = r % matrix->items[a]->n;
            r /= matrix->items[a]->n;
        }
        for (size_t a = 0; m && idx && a < matrix->n; a++)
            if (rp_node_map_set(m, matrix->keys[a]->str, rp_node_clone(matrix->items[a]->items[idx[a]])) != RP_OK)
                oom = 1;
        free(idx);
        int drop = 0;
        for (size_t k = 0; exc && m && k < exc->n && !drop; k++) {
            const rp_node *e = exc->items[k];
            int all = 1;
            for (size_t i = 0; i < e->n && all; i++) all = same(rp_node_get(m, e->keys[i]->str), e->items[i]);
            drop = all;
        }
        if (!m) rc = rp_diag_addf(d, matrix, NULL, "out of memory");
        else if (drop || oom) rp_node_free(m);
        else if (rp_node_seq_push(list, m) != RP_OK) oom = 1;
    }
    for (size_t k = 0; rc == RP_OK && !oom && inc && k < inc->n; k++) {
        /* in axis order, skipped when the product already has it */
        rp_node *m = rp_node_new_map();
        if (!m) oom = 1;
        for (size_t a = 0; m && a < matrix->n; a++)
            if (rp_node_map_set(m, matrix->keys[a]->str,
                                rp_node_clone(rp_node_get(inc->items[k], matrix->keys[a]->str))) != RP_OK)
                oom = 1;
        int dup = 0;
        for (size_t i = 0; m && i < list->n && !dup; i++) dup = same(list->items[i], m);
        if (dup || !m || oom) rp_node_free(m);
        else if (rp_node_seq_push(list, m) != RP_OK) oom = 1;
    }
    if (rc == RP_OK && oom) rc = rp_diag_addf(d, matrix, NULL, "out of memory");
    if (rc == RP_OK && list->n == 0 && matrix->n)
        rc = rp_diag_addf(d, exc ? exc : matrix, NULL, "'matrix': every combination is excluded");
    rp_node_free(inc);
    rp_node_free(exc);
    if (rc != RP_OK) {
        rp_node_free(list);
        return rc;
    }
    *out = list;
    return RP_OK;
}
