/* Stages shared by the cells of a matrix run (pipeline.h).
 *
 * A stage whose content key (cache.c: stage, resolved params, plugin hash,
 * seed, input keys) is the same in several cells does not depend on what
 * differs between them: it runs once, in <run>/shared/<axes it depends on>/,
 * and every cell borrows its artifacts from this registry.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/pipeline.h"
#include "run/rundir.h"
#include "runpipe/strbuf.h"

typedef struct shared_item {
    char key[65];
    size_t n;
    const char **types; /* static strings */
    void **arts;        /* owned */
} shared_item;

struct rp_shared {
    shared_item *it;
    size_t n, cap;
};

rp_shared *rp_shared_new(void) { return calloc(1, sizeof(rp_shared)); }

void rp_shared_free(rp_shared *sh) {
    if (!sh) return;
    for (size_t i = sh->n; i-- > 0;) {
        for (size_t k = sh->it[i].n; k-- > 0;)
            rp_artifact_destroy(sh->it[i].types[k], sh->it[i].arts[k]);
        free(sh->it[i].types);
        free(sh->it[i].arts);
    }
    free(sh->it);
    free(sh);
}

int rp_shared_get(const rp_shared *sh, const char *key, size_t nports, void **arts) {
    for (size_t i = 0; sh && i < sh->n; i++)
        if (!strcmp(sh->it[i].key, key)) {
            for (size_t k = 0; k < nports; k++) arts[k] = k < sh->it[i].n ? sh->it[i].arts[k] : NULL;
            return 1;
        }
    return 0;
}

int rp_shared_put(rp_shared *sh, const char *key, size_t nports, const char *const *types,
                  void **arts, rp_error *err) {
    if (sh->n == sh->cap) {
        size_t nc = sh->cap ? sh->cap * 2 : 8;
        shared_item *ni = realloc(sh->it, nc * sizeof *ni);
        if (!ni) goto oom;
        sh->it = ni;
        sh->cap = nc;
    }
    shared_item *it = &sh->it[sh->n];
    memset(it, 0, sizeof *it);
    snprintf(it->key, sizeof it->key, "%s", key);
    it->types = calloc(nports ? nports : 1, sizeof *it->types);
    it->arts = calloc(nports ? nports : 1, sizeof *it->arts);
    if (!it->types || !it->arts) {
        free(it->types);
        free(it->arts);
        goto oom;
    }
    it->n = nports;
    for (size_t k = 0; k < nports; k++) {
        it->types[k] = types[k];
        it->arts[k] = arts[k];
    }
    sh->n++;
    return RP_OK;
oom:
    for (size_t k = 0; k < nports; k++) rp_artifact_destroy(types[k], arts[k]);
    return rp_error_set(err, RP_ERR_NOMEM, "out of memory keeping a shared stage's outputs");
}

/* ---- which stages are shared ------------------------------------------------------- */

static void safe(rp_strbuf *b, const char *s) {
    for (size_t k = 0; s[k] && k < 60; k++) {
        char c = s[k];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '+' || c == '-')) c = '_';
        rp_strbuf_add(b, &c, 1);
    }
}

static int same_value(const rp_node *a, const rp_node *b) {
    char *x = rp_value_label(a), *y = rp_value_label(b);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static int find_key(const rp_plan *p, const char *key) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->st[i].key, key)) return (int)i;
    return -1;
}

void rp_plans_share(const rp_config *cfg, rp_plan *const *plans) {
    size_t nc = cfg->n_cells;
    for (size_t c = 0; c < nc; c++)
        if (plans[c]) rp_plan_keys(plans[c], cfg->cells[c].seed);
    if (nc < 2) return;
    char *with = calloc(nc, 1);
    if (!with) return;
    for (size_t c = 0; c < nc; c++) {
        rp_plan *p = plans[c];
        for (size_t i = 0; p && i < p->n; i++) {
            rp_plan_stage *s = &p->st[i];
            if (!s->key[0] || s->shared_dir) continue;
            size_t cnt = 0;
            for (size_t o = 0; o < nc; o++) {
                with[o] = plans[o] && find_key(plans[o], s->key) >= 0;
                cnt += with[o];
            }
            if (cnt < 2) continue;
            /* the folder names the axes whose value is the same in every
             * cell that shares the stage (what it depends on) */
            rp_strbuf b = {0};
            rp_strbuf_puts(&b, "shared/");
            const rp_node *vals = cfg->cells[c].values;
            size_t parts = 0;
            for (size_t a = 0; a < rp_node_len(vals); a++) {
                int constant = 1;
                for (size_t o = 0; o < nc && constant; o++)
                    if (with[o])
                        constant = same_value(vals->items[a],
                                              rp_node_get(cfg->cells[o].values,
                                                          rp_node_key_at(vals, a)));
                if (!constant) continue;
                if (parts++) rp_strbuf_puts(&b, "_");
                safe(&b, rp_node_key_at(vals, a));
                rp_strbuf_puts(&b, "-");
                char *lab = rp_value_label(vals->items[a]);
                safe(&b, lab ? lab : "");
                free(lab);
            }
            if (parts) rp_strbuf_puts(&b, "/");
            char *dir = rp_strbuf_take(&b);
            /* the same id with another key in the same folder: add the key */
            for (size_t o = 0; dir && o < nc; o++)
                for (size_t j = 0; plans[o] && j < plans[o]->n; j++) {
                    const rp_plan_stage *t = &plans[o]->st[j];
                    if (t->shared_dir && strcmp(t->key, s->key) && !strcmp(t->id, s->id) &&
                        !strcmp(t->shared_dir, dir)) {
                        size_t l = strlen(dir) + 16;
                        char *d2 = malloc(l);
                        if (d2) snprintf(d2, l, "%s%.8s/", dir, s->key);
                        free(dir);
                        dir = d2;
                        o = nc;
                        break;
                    }
                }
            for (size_t o = 0; dir && o < nc; o++) {
                if (!with[o]) continue;
                int j = find_key(plans[o], s->key);
                rp_plan_stage *t = &plans[o]->st[j];
                t->shared_by = cnt;
                free(t->shared_dir);
                t->shared_dir = strdup(dir);
            }
            free(dir);
        }
    }
    free(with);
}
