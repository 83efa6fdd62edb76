/* Plugin discovery and loading (DESIGN §5).
 *
 * Each plugin file is checked in isolation and registered all-or-nothing: a
 * broken plugin leaves a record with one error naming the file and never
 * prevents the others from loading. Checks, in order: dlopen, entry symbol,
 * ABI version, descriptor size, stage table (names, run functions, ports,
 * artifact types), a schema per stage, component table, and duplicates
 * against everything already registered.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/paths.h"
#include "host/registry.h"
#include "base/util.h"
#include "runpipe/io.h"
#include "config/schema.h"

/* ---- checking one descriptor ---------------------------------------------------- */

static int known_type(const char *t) {
    static const char *const types[] = {RP_ART_DATASET, RP_ART_MODEL, RP_ART_LOSS, RP_ART_METRICS,
                                        RP_ART_FILES};
    if (!t) return 0;
    for (size_t i = 0; i < RP_COUNT(types); i++)
        if (strcmp(t, types[i]) == 0) return 1;
    return 0;
}

static int check_ports(const struct rp_stage_def *s, const struct rp_port *p, size_t n,
                       const char *what, rp_error *err) {
    if (n && !p)
        return rp_error_set(err, RP_ERR_PLUGIN, "bad stage table: stage '%s' declares %zu %s ports "
                            "but the table is NULL", s->name, n, what);
    if (n > 64)
        return rp_error_set(err, RP_ERR_PLUGIN, "bad stage table: stage '%s' declares %zu %s ports",
                            s->name, n, what);
    for (size_t i = 0; i < n; i++) {
        if (!p[i].name || !*p[i].name)
            return rp_error_set(err, RP_ERR_PLUGIN, "bad stage table: stage '%s': %s port #%zu has "
                                "no name", s->name, what, i + 1);
        if (!known_type(p[i].type))
            return rp_error_set(err, RP_ERR_PLUGIN,
                                "bad stage table: stage '%s': %s '%s' has unknown artifact type "
                                "'%s' (known: dataset, model, loss, metrics, files)",
                                s->name, what, p[i].name, p[i].type ? p[i].type : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(p[j].name, p[i].name) == 0)
                return rp_error_set(err, RP_ERR_PLUGIN,
                                    "bad stage table: stage '%s': duplicate %s port '%s'", s->name,
                                    what, p[i].name);
    }
    return RP_OK;
}

static int check_desc(const struct rp_plugin_desc *d, rp_plugin_rec *rec, rp_error *err) {
    if (!d) return rp_error_set(err, RP_ERR_PLUGIN, "%s() returned NULL", RP_PLUGIN_ENTRY_SYMBOL);
    if (d->abi_version != RP_ABI_VERSION)
        return rp_error_set(err, RP_ERR_PLUGIN,
                            "ABI version mismatch: expected %u, got %u (rebuild the plugin "
                            "against this runpipe)",
                            RP_ABI_VERSION, d->abi_version);
    if (d->struct_size < sizeof(struct rp_plugin_desc))
        return rp_error_set(err, RP_ERR_PLUGIN,
                            "descriptor too small: struct_size is %u bytes, expected at least %zu",
                            d->struct_size, sizeof(struct rp_plugin_desc));
    if (!d->name || !*d->name)
        return rp_error_set(err, RP_ERR_PLUGIN, "bad descriptor: the plugin has no name");
    rec->name = rp_strdup(d->name);
    rec->version = rp_strdup(d->version ? d->version : "");
    if (d->n_stages && !d->stages)
        return rp_error_set(err, RP_ERR_PLUGIN,
                            "bad stage table: %zu stages declared but the table is NULL",
                            d->n_stages);
    if (d->n_stages > 4096)
        return rp_error_set(err, RP_ERR_PLUGIN, "bad stage table: %zu stages declared",
                            d->n_stages);
    /* Remember the names first, so a pipeline using one of them can be told
     * why it is unavailable. */
    rec->stage_names = calloc(d->n_stages ? d->n_stages : 1, sizeof(char *));
    if (!rec->stage_names) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < d->n_stages; i++)
        if (d->stages[i] && d->stages[i]->name)
            rec->stage_names[rec->n_stage_names++] = rp_strdup(d->stages[i]->name);
    for (size_t i = 0; i < d->n_stages; i++) {
        const struct rp_stage_def *s = d->stages[i];
        if (!s || !s->name || !*s->name)
            return rp_error_set(err, RP_ERR_PLUGIN, "bad stage table: stage #%zu has no name",
                                i + 1);
        if (!s->run)
            return rp_error_set(err, RP_ERR_PLUGIN,
                                "bad stage table: stage '%s' has no run function", s->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->stages[j]->name, s->name) == 0)
                return rp_error_set(err, RP_ERR_PLUGIN,
                                    "bad stage table: stage '%s' is listed twice", s->name);
        int st = check_ports(s, s->inputs, s->n_inputs, "input", err);
        if (st == RP_OK) st = check_ports(s, s->outputs, s->n_outputs, "output", err);
        if (st != RP_OK) return st;
    }
    /* the schemas the plugin carries, before its stages are checked */
    if (d->n_schemas && !d->schemas)
        return rp_error_set(err, RP_ERR_PLUGIN,
                            "bad schema table: %zu schemas declared but the table is NULL",
                            d->n_schemas);
    for (size_t i = 0; i < d->n_schemas; i++) {
        const struct rp_schema_text *t = d->schemas[i];
        if (!t || !t->name || !t->text)
            return rp_error_set(err, RP_ERR_PLUGIN, "bad schema table: schema #%zu is empty",
                                i + 1);
        /* a schema another plugin already carries goes with a name defined
           twice: the first definition and its schema stay (a conflict) */
        const char *other = rp_schema_embedded_origin(t->name);
        if (other && strcmp(other, rec->path) != 0) continue;
        int st = rp_schema_add_text(t->name, t->text, rec->path, err);
        if (st != RP_OK) return st;
    }
    for (size_t i = 0; i < d->n_stages; i++) {
        const rp_schema *sch = NULL;
        rp_error e2;
        rp_error_clear(&e2);
        int st = rp_schema_get(d->stages[i]->name, &sch, &e2);
        if (st == RP_ERR_NOTFOUND)
            return rp_error_set(err, RP_ERR_PLUGIN,
                                "missing schema for stage '%s': no %s.yaml in the schema "
                                "directories (RUNPIPE_SCHEMA_PATH)",
                                d->stages[i]->name, d->stages[i]->name);
        if (st != RP_OK)
            return rp_error_set(err, RP_ERR_PLUGIN, "schema for stage '%s': %s%s%d%s %s",
                                d->stages[i]->name, e2.file, e2.file[0] ? ":" : "", e2.line,
                                e2.file[0] ? ":" : "", e2.msg);
    }
    if (d->n_components && !d->components)
        return rp_error_set(err, RP_ERR_PLUGIN,
                            "bad component table: %zu components declared but the table is NULL",
                            d->n_components);
    for (size_t i = 0; i < d->n_components; i++) {
        const struct rp_component *c = d->components[i];
        if (!c || !c->name || !*c->name)
            return rp_error_set(err, RP_ERR_PLUGIN, "bad component table: component #%zu has no "
                                "name", i + 1);
        if (c->kind < 0 || c->kind >= RP_COMP_KIND_COUNT)
            return rp_error_set(err, RP_ERR_PLUGIN,
                                "bad component table: component '%s' has unknown kind %d", c->name,
                                c->kind);
        if (!c->impl)
            return rp_error_set(err, RP_ERR_PLUGIN,
                                "bad component table: %s '%s' has no implementation",
                                rp_component_kind_name(c->kind), c->name);
        for (size_t j = 0; j < i; j++)
            if (d->components[j]->kind == c->kind && strcmp(d->components[j]->name, c->name) == 0)
                return rp_error_set(err, RP_ERR_PLUGIN, "duplicate %s '%s' within the plugin",
                                    rp_component_kind_name(c->kind), c->name);
    }
    return RP_OK;
}

int rp_plugin_load_file(const char *path, rp_error *err) {
    rp_plugin_rec *rec = rp_registry_new_plugin(path);
    if (!rec) return rp_error_set(err, RP_ERR_NOMEM, "plugin %s: out of memory", path);
    rp_error e;
    rp_error_clear(&e);
    rp_sha256_file(path, rec->hash, NULL);
    int st = RP_OK;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *de = dlerror();
        st = rp_error_set(&e, RP_ERR_PLUGIN, "cannot open: %s", de ? de : "unknown dlopen error");
        goto done;
    }
    rec->handle = h;
    dlerror();
    void *sym = dlsym(h, RP_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        st = rp_error_set(&e, RP_ERR_PLUGIN,
                          "no entry symbol '%s' (define it with RP_PLUGIN(...) from plugin.h)",
                          RP_PLUGIN_ENTRY_SYMBOL);
        goto done;
    }
    rp_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object → function pointer, as POSIX permits */
    const struct rp_plugin_desc *d = entry();
    if (d) rec->abi = d->abi_version;
    st = check_desc(d, rec, &e);
    if (st != RP_OK) goto done;
    for (size_t i = 0; i < d->n_stages && st == RP_OK; i++)
        st = rp_registry_add_stage(d->stages[i], rec->name, rec->path, &e);
    for (size_t i = 0; i < d->n_components && st == RP_OK; i++)
        st = rp_registry_add_component(d->components[i], rec->name, rec->path, &e);
    if (st != RP_OK) rp_registry_remove_from(rec->path);
done:
    if (st != RP_OK) rp_schema_remove_origin(rec->path);
    if (st != RP_OK) {
        if (rec->handle) {
            dlclose(rec->handle);
            rec->handle = NULL;
        }
        rp_error_prefix(&e, "plugin %s: ", path);
        e.status = st;
        rec->err = e;
        if (err) *err = e;
        return st;
    }
    rec->ok = 1;
    return RP_OK;
}

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t rp_plugins_load_all(void) {
    static int done;
    static size_t failures;
    if (done) return failures;
    done = 1;
    rp_schema_dirs_init();
    const char *const *dirs = rp_plugin_dirs();
    strlist seen = {0}; /* file names already loaded from an earlier directory */
    for (size_t di = 0; dirs[di]; di++) {
        DIR *dp = opendir(dirs[di]);
        if (!dp) continue;
        strlist files = {0};
        struct dirent *de;
        while ((de = readdir(dp))) {
            size_t l = strlen(de->d_name);
            if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0) continue;
            if (files.n + 2 > files.cap) {
                size_t nc = files.cap ? files.cap * 2 : 16;
                char **nv = realloc(files.v, nc * sizeof *nv);
                if (!nv) break;
                files.v = nv;
                files.cap = nc;
            }
            files.v[files.n] = rp_strdup(de->d_name);
            if (files.v[files.n]) files.n++;
        }
        closedir(dp);
        if (files.n) qsort(files.v, files.n, sizeof *files.v, cmp_str);
        for (size_t i = 0; i < files.n; i++) {
            int dup = 0;
            for (size_t j = 0; j < seen.n; j++)
                if (strcmp(seen.v[j], files.v[i]) == 0) dup = 1;
            if (!dup) {
                char path[PATH_MAX + 256];
                snprintf(path, sizeof path, "%s/%s", dirs[di], files.v[i]);
                if (rp_plugin_load_file(path, NULL) != RP_OK) failures++;
                if (seen.n + 2 > seen.cap) {
                    size_t nc = seen.cap ? seen.cap * 2 : 16;
                    char **nv = realloc(seen.v, nc * sizeof *nv);
                    if (nv) {
                        seen.v = nv;
                        seen.cap = nc;
                    }
                }
                if (seen.n + 1 < seen.cap) seen.v[seen.n++] = files.v[i];
                else free(files.v[i]);
            } else {
                free(files.v[i]);
            }
        }
        free(files.v);
    }
    for (size_t j = 0; j < seen.n; j++) free(seen.v[j]);
    free(seen.v);
    return failures;
}

void rp_plugins_unload_all(void) {
    for (size_t i = 0; i < rp_registry_plugin_count(); i++)
        rp_schema_remove_origin(rp_registry_plugin_at(i)->path);
    rp_registry_unload_plugins();
}
