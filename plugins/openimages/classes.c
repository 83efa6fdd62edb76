/* class-descriptions-boxable.csv (no header: MID,DisplayName) and the
 * `groups:` map: every listed class, by display name or MID, resolved to its
 * MID and target group. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oi.h"

typedef struct desc_list {
    const char *path;
    size_t n, cap;
    char (*mid)[32];
    char (*name)[128];
} desc_list;

static int on_desc(void *ctx, const char *const *f, size_t n, uint64_t line, rp_error *err) {
    desc_list *d = ctx;
    if (n < 2)
        return rp_error_set(err, RP_ERR_FORMAT,
                            "%s:%llu: %zu field%s, expected 2 (MID,DisplayName)", d->path,
                            (unsigned long long)line, n, n == 1 ? "" : "s");
    if (strlen(f[0]) >= sizeof d->mid[0] || strlen(f[1]) >= sizeof d->name[0] || !f[0][0])
        return rp_error_set(err, RP_ERR_FORMAT, "%s:%llu: MID or display name empty or too long",
                            d->path, (unsigned long long)line);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        void *m = realloc(d->mid, cap * sizeof *d->mid);
        if (!m) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        d->mid = m;
        void *nm = realloc(d->name, cap * sizeof *d->name);
        if (!nm) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        d->name = nm;
        d->cap = cap;
    }
    snprintf(d->mid[d->n], sizeof d->mid[0], "%s", f[0]);
    snprintf(d->name[d->n], sizeof d->name[0], "%s", f[1]);
    d->n++;
    return RP_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Group names become folder names: letters, digits, '_', '-', '.', not
 * starting with '.' (no hidden folders, no "..", no '/'). */
static int group_name_ok(const char *s) {
    if (!s || !*s || *s == '.') return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
    return 1;
}

/* Did-you-mean over display names and MIDs, case-insensitively. */
static const char *suggest(const desc_list *d, const char *want) {
    size_t n = d->n * 2;
    char **low = calloc(n ? n : 1, sizeof *low);
    char key[160];
    snprintf(key, sizeof key, "%s", want);
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *best = NULL;
    for (size_t i = 0; low && i < n; i++) {
        const char *s = i < d->n ? d->name[i] : d->mid[i - d->n];
        low[i] = strdup(s);
        for (char *p = low[i]; p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    const char *hit = low ? rp_suggest(key, (const char *const *)low, n) : NULL;
    for (size_t i = 0; hit && i < n; i++)
        if (low[i] == hit) best = i < d->n ? d->name[i] : d->mid[i - d->n];
    for (size_t i = 0; low && i < n; i++)
        free(low[i]);
    free(low);
    return best;
}

void oi_groups_release(oi_groups *g) {
    for (int i = 0; i < g->n_groups; i++)
        free(g->names[i]);
    free(g->names);
    free(g->classes);
    memset(g, 0, sizeof *g);
}

int oi_groups_find(const oi_groups *g, const char *mid) {
    for (size_t i = 0; i < g->n_classes; i++)
        if (!strcmp(g->classes[i].mid, mid)) return (int)i;
    return -1;
}

int oi_groups_resolve(const rp_node *groups, const char *descriptions, oi_groups *out,
                      rp_error *err) {
    memset(out, 0, sizeof *out);
    desc_list d = {.path = descriptions};
    int st = oi_csv_stream(descriptions, on_desc, &d, err);
    if (!st && d.n == 0)
        st = rp_error_set(err, RP_ERR_FORMAT, "%s: no classes (expected lines MID,DisplayName)",
                          descriptions);
    size_t ng = rp_node_len(groups);
    if (!st && ng == 0) st = rp_error_at(err, groups, RP_ERR_INVALID, "'groups': no group given");
    if (!st) {
        out->names = calloc(ng, sizeof *out->names);
        if (!out->names) st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !st && i < ng; i++) {
        const char *gname = rp_node_key_at(groups, i);
        if (!group_name_ok(gname))
            st = rp_error_at(err, groups->keys[i], RP_ERR_INVALID,
                             "'groups': group name '%s' must be letters, digits, '_', '-' or '.' "
                             "(it becomes a folder name)",
                             gname ? gname : "");
        else if (!(out->names[i] = strdup(gname)))
            st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
        out->n_groups = (int)i + 1;
    }
    if (!st) qsort(out->names, ng, sizeof *out->names, cmp_str);
    size_t total = 0;
    for (size_t i = 0; !st && i < ng; i++)
        total += rp_node_len(groups->items[i]);
    if (!st && !(out->classes = calloc(total ? total : 1, sizeof *out->classes)))
        st = rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < ng; i++) {
        const char *gname = rp_node_key_at(groups, i);
        int gid = 0;
        while (strcmp(out->names[gid], gname))
            gid++;
        const rp_node *list = groups->items[i];
        if (rp_node_len(list) == 0) {
            st = rp_error_at(err, list, RP_ERR_INVALID, "'groups.%s': no classes listed", gname);
            break;
        }
        for (size_t j = 0; !st && j < rp_node_len(list); j++) {
            const rp_node *item = rp_node_at(list, j);
            const char *want = rp_node_str(item);
            size_t k = 0;
            while (k < d.n && strcmp(d.mid[k], want) && strcmp(d.name[k], want))
                k++;
            if (k == d.n) {
                const char *s = suggest(&d, want);
                if (s)
                    st = rp_error_at(err, item, RP_ERR_INVALID,
                                     "'groups.%s': unknown class '%s' (did you mean '%s'?) in %s",
                                     gname, want, s, descriptions);
                else
                    st = rp_error_at(err, item, RP_ERR_INVALID,
                                     "'groups.%s': unknown class '%s': not a display name or MID "
                                     "in %s",
                                     gname, want, descriptions);
                break;
            }
            int dup = oi_groups_find(out, d.mid[k]);
            if (dup >= 0) {
                st = rp_error_at(err, item, RP_ERR_INVALID,
                                 "'groups.%s': class '%s' (%s) is already in group '%s'", gname,
                                 want, d.mid[k], out->names[out->classes[dup].group]);
                break;
            }
            oi_class *c = &out->classes[out->n_classes++];
            snprintf(c->mid, sizeof c->mid, "%s", d.mid[k]);
            snprintf(c->name, sizeof c->name, "%s", d.name[k]);
            c->group = gid;
        }
    }
    free(d.mid);
    free(d.name);
    if (st) oi_groups_release(out);
    return st;
}
