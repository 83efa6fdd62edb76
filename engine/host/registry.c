/* Process-wide registries of stages, components and plugin files (registry.h).
 *
 * Built-in components declare themselves with RP_COMPONENT (plugin.h) like a
 * plugin's; one constructor registers the engine's own "rp_components"
 * section while librunpipe.so loads, before main().
 */
#include "host/registry.h"
#include "base/util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[RP_COMP_KIND_COUNT] = {
    "layer", "arch", "loss", "optimizer", "scheduler", "transform", "metric", "batch_hook",
};

typedef struct comp_entry {
    const struct rp_component *c;
    const char *plugin; /* "engine" for built-ins; else borrowed from plugin record */
    char *file;         /* owned copy, NULL for built-ins */
} comp_entry;

static struct {
    comp_entry *e;
    size_t n, cap;
} comps[RP_COMP_KIND_COUNT];

static struct {
    rp_stage_entry *e;
    size_t n, cap;
} stages;

static struct {
    rp_plugin_rec **p;
    size_t n, cap;
} plugins;

static struct {
    char **msg;
    size_t n, cap;
} builtin_problems;

/* Names defined by two plugins (or a plugin and the engine): the first one
 * registered stays; the pipeline must opt in to that (plugins.override). */
static struct {
    rp_conflict *e;
    size_t n, cap;
} conflicts;

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* ---- components ------------------------------------------------------------- */

const char *rp_component_kind_name(int kind) {
    if (kind < 0 || kind >= RP_COMP_KIND_COUNT) return "component";
    return kind_names[kind];
}

int rp_component_kind_parse(const char *s) {
    if (!s) return -1;
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++)
        if (strcmp(s, kind_names[k]) == 0) return k;
    return -1;
}

static comp_entry *comp_entry_find(int kind, const char *name) {
    if (kind < 0 || kind >= RP_COMP_KIND_COUNT || !name) return NULL;
    for (size_t i = 0; i < comps[kind].n; i++)
        if (strcmp(comps[kind].e[i].c->name, name) == 0) return &comps[kind].e[i];
    return NULL;
}

const struct rp_component *rp_component_find(int kind, const char *name) {
    comp_entry *e = comp_entry_find(kind, name);
    return e ? e->c : NULL;
}

size_t rp_component_count(int kind) {
    if (kind < 0 || kind >= RP_COMP_KIND_COUNT) return 0;
    return comps[kind].n;
}

const struct rp_component *rp_component_at(int kind, size_t i) {
    if (kind < 0 || kind >= RP_COMP_KIND_COUNT || i >= comps[kind].n) return NULL;
    return comps[kind].e[i].c;
}

const char *rp_component_origin(int kind, const char *name) {
    comp_entry *e = comp_entry_find(kind, name);
    return e ? e->plugin : NULL;
}

int rp_component_lookup(int kind, const char *name, const rp_node *where,
                        const struct rp_component **out, rp_error *err) {
    *out = NULL;
    const char *kn = rp_component_kind_name(kind);
    if (!name || !*name) return rp_error_at(err, where, RP_ERR_INVALID, "expected a %s name", kn);
    const struct rp_component *c = rp_component_find(kind, name);
    if (c) {
        *out = c;
        return RP_OK;
    }
    size_t n = rp_component_count(kind);
    const char **cands = n ? malloc(n * sizeof *cands) : NULL;
    for (size_t i = 0; cands && i < n; i++) cands[i] = comps[kind].e[i].c->name;
    const char *s = cands ? rp_suggest(name, cands, n) : NULL;
    if (s)
        rp_error_at(err, where, RP_ERR_NOTFOUND, "unknown %s '%s' (did you mean '%s'?)", kn, name,
                    s);
    else if (n == 0)
        rp_error_at(err, where, RP_ERR_NOTFOUND, "unknown %s '%s' (no %s is registered)", kn,
                    name, kn);
    else {
        /* List what exists when it is short enough to help. */
        char list[600] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof list - 64; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     cands[i]);
        rp_error_at(err, where, RP_ERR_NOTFOUND, "unknown %s '%s' (known: %s)", kn, name, list);
    }
    free(cands);
    return RP_ERR_NOTFOUND;
}

static int add_conflict(const char *what, const char *name, const char *kept,
                        const char *dropped, rp_error *err) {
    if (grow((void **)&conflicts.e, &conflicts.cap, conflicts.n + 1, sizeof *conflicts.e) != 0)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    rp_conflict *c = &conflicts.e[conflicts.n];
    c->what = rp_strdup(what);
    c->name = rp_strdup(name);
    c->kept = rp_strdup(kept);
    c->dropped = rp_strdup(dropped);
    if (!c->what || !c->name || !c->kept || !c->dropped) {
        free(c->what), free(c->name), free(c->kept), free(c->dropped);
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    }
    conflicts.n++;
    return RP_OK;
}

size_t rp_registry_conflict_count(void) { return conflicts.n; }
const rp_conflict *rp_registry_conflict_at(size_t i) {
    return i < conflicts.n ? &conflicts.e[i] : NULL;
}

static void conflicts_drop(const char *file) {
    size_t w = 0;
    for (size_t i = 0; i < conflicts.n; i++) {
        rp_conflict *c = &conflicts.e[i];
        if (!file || !strcmp(c->kept, file) || !strcmp(c->dropped, file)) {
            free(c->what), free(c->name), free(c->kept), free(c->dropped);
        } else {
            conflicts.e[w++] = *c;
        }
    }
    conflicts.n = w;
}

static int add_comp(const struct rp_component *c, const char *plugin, const char *file,
                    rp_error *err) {
    if (!c || !c->name || !*c->name)
        return rp_error_set(err, RP_ERR_PLUGIN, "component with no name");
    if (c->kind < 0 || c->kind >= RP_COMP_KIND_COUNT)
        return rp_error_set(err, RP_ERR_PLUGIN, "component '%s' has unknown kind %d", c->name,
                            c->kind);
    comp_entry *old = comp_entry_find(c->kind, c->name);
    if (old && file)
        return add_conflict(kind_names[c->kind], c->name, old->file ? old->file : "librunpipe.so",
                            file, err);
    if (old)
        return rp_error_set(err, RP_ERR_PLUGIN, "duplicate %s '%s': already built into the engine",
                            kind_names[c->kind], c->name);
    if (grow((void **)&comps[c->kind].e, &comps[c->kind].cap,
                            comps[c->kind].n + 1, sizeof(comp_entry)) != 0)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory registering '%s'", c->name);
    comp_entry *e = &comps[c->kind].e[comps[c->kind].n];
    e->c = c;
    e->plugin = plugin;
    e->file = rp_strdup(file);
    comps[c->kind].n++;
    return RP_OK;
}

void rp_registry_builtin_problem(const char *msg) {
    if (grow((void **)&builtin_problems.msg, &builtin_problems.cap, builtin_problems.n + 2,
             sizeof(char *)) == 0) {
        builtin_problems.msg[builtin_problems.n++] = rp_strdup(msg);
        builtin_problems.msg[builtin_problems.n] = NULL;
    }
}

static void add_builtin(const struct rp_component *c) {
    rp_error err;
    rp_error_clear(&err);
    if (add_comp(c, "engine", NULL, &err) != RP_OK) rp_registry_builtin_problem(err.msg);
}

int rp_component_register(const struct rp_component *c, rp_error *err) {
    return add_comp(c, "host", NULL, err);
}

RP__SECTION_BOUNDS

__attribute__((constructor)) static void register_builtins(void) {
    /* the built-in layers, archs, optimizers, schedulers (their schemas are
       registered by config/schema.c) */
    if (!__start_rp_components) return;
    for (const struct rp_component *const *c = __start_rp_components; c < __stop_rp_components; c++)
        add_builtin(*c);
}

size_t rp_registry_builtin_problems(const char *const **msgs) {
    *msgs = (const char *const *)builtin_problems.msg;
    return builtin_problems.n;
}

int rp_registry_add_component(const struct rp_component *c, const char *plugin, const char *file,
                              rp_error *err) {
    return add_comp(c, plugin, file, err);
}

/* ---- stages ----------------------------------------------------------------- */

const rp_stage_entry *rp_registry_stage(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < stages.n; i++)
        if (strcmp(stages.e[i].def->name, name) == 0) return &stages.e[i];
    return NULL;
}

size_t rp_registry_stage_count(void) { return stages.n; }

const rp_stage_entry *rp_registry_stage_at(size_t i) {
    return i < stages.n ? &stages.e[i] : NULL;
}

int rp_registry_add_stage(const struct rp_stage_def *def, const char *plugin, const char *file,
                          rp_error *err) {
    const rp_stage_entry *old = rp_registry_stage(def->name);
    if (old) return add_conflict("stage", def->name, old->file, file, err);
    if (grow((void **)&stages.e, &stages.cap, stages.n + 1, sizeof *stages.e) != 0)
        return rp_error_set(err, RP_ERR_NOMEM, "out of memory registering stage '%s'", def->name);
    rp_stage_entry *e = &stages.e[stages.n++];
    e->def = def;
    e->plugin = plugin;
    e->file = file;
    return RP_OK;
}

int rp_registry_stage_lookup(const char *name, const rp_node *where, const rp_stage_entry **out,
                             rp_error *err) {
    *out = rp_registry_stage(name);
    if (*out) return RP_OK;
    /* A stage a broken plugin declared: report that plugin's error. */
    for (size_t i = 0; i < plugins.n; i++) {
        const rp_plugin_rec *p = plugins.p[i];
        if (p->ok) continue;
        for (size_t j = 0; j < p->n_stage_names; j++)
            if (p->stage_names[j] && strcmp(p->stage_names[j], name) == 0)
                return rp_error_at(err, where, RP_ERR_PLUGIN,
                                   "stage '%s' is provided by plugin %s, which failed to load: %s",
                                   name, p->path, p->err.msg);
    }
    size_t n = stages.n;
    const char **cands = malloc((n ? n : 1) * sizeof *cands);
    for (size_t i = 0; cands && i < n; i++) cands[i] = stages.e[i].def->name;
    const char *s = cands ? rp_suggest(name, cands, n) : NULL;
    char broken[512] = "";
    size_t nb = 0, used = 0;
    for (size_t i = 0; i < plugins.n; i++) {
        if (plugins.p[i]->ok) continue;
        const char *base = strrchr(plugins.p[i]->path, '/');
        base = base ? base + 1 : plugins.p[i]->path;
        if (used < sizeof broken - 64)
            used += (size_t)snprintf(broken + used, sizeof broken - used, "%s%s", nb ? ", " : "",
                                     base);
        nb++;
    }
    char tail[600] = "";
    if (nb && !s)
        snprintf(tail, sizeof tail, "; %zu plugin%s failed to load (%s): see 'runpipe stages'", nb,
                 nb > 1 ? "s" : "", broken);
    if (s)
        rp_error_at(err, where, RP_ERR_NOTFOUND, "unknown stage '%s' (did you mean '%s'?)%s", name,
                    s, tail);
    else if (n == 0)
        rp_error_at(err, where, RP_ERR_NOTFOUND,
                    "unknown stage '%s' (no plugin is loaded: set RUNPIPE_PLUGIN_PATH)%s", name,
                    tail);
    else
        rp_error_at(err, where, RP_ERR_NOTFOUND,
                    "unknown stage '%s' ('runpipe stages' lists them)%s", name, tail);
    free(cands);
    return RP_ERR_NOTFOUND;
}

/* ---- plugins ---------------------------------------------------------------- */

rp_plugin_rec *rp_registry_new_plugin(const char *path) {
    if (grow((void **)&plugins.p, &plugins.cap, plugins.n + 1, sizeof *plugins.p) != 0)
        return NULL;
    rp_plugin_rec *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->path = rp_strdup(path);
    if (!p->path) {
        free(p);
        return NULL;
    }
    plugins.p[plugins.n++] = p;
    return p;
}

size_t rp_registry_plugin_count(void) { return plugins.n; }

rp_plugin_rec *rp_registry_plugin_at(size_t i) { return i < plugins.n ? plugins.p[i] : NULL; }

void rp_registry_remove_from(const char *file) {
    if (!file) return;
    conflicts_drop(file);
    size_t w = 0;
    for (size_t i = 0; i < stages.n; i++)
        if (!(stages.e[i].file && strcmp(stages.e[i].file, file) == 0)) stages.e[w++] = stages.e[i];
    stages.n = w;
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++) {
        w = 0;
        for (size_t i = 0; i < comps[k].n; i++) {
            if (comps[k].e[i].file && strcmp(comps[k].e[i].file, file) == 0)
                free(comps[k].e[i].file);
            else
                comps[k].e[w++] = comps[k].e[i];
        }
        comps[k].n = w;
    }
}

void rp_registry_unload_plugins(void) {
    /* Entries first (they point into the plugins' static tables). */
    stages.n = 0;
    conflicts_drop(NULL);
    for (int k = 0; k < RP_COMP_KIND_COUNT; k++) {
        size_t w = 0;
        for (size_t i = 0; i < comps[k].n; i++) {
            if (comps[k].e[i].file)
                free(comps[k].e[i].file);
            else
                comps[k].e[w++] = comps[k].e[i];
        }
        comps[k].n = w;
    }
    for (size_t i = 0; i < plugins.n; i++) {
        rp_plugin_rec *p = plugins.p[i];
        if (p->handle) dlclose(p->handle);
        for (size_t j = 0; j < p->n_stage_names; j++) free(p->stage_names[j]);
        free(p->stage_names);
        free(p->path);
        free(p->name);
        free(p->version);
        free(p);
    }
    plugins.n = 0;
}

/* ---- component specs -------------------------------------------------------- */

int rp_component_spec(const rp_node *spec, const char **name, const rp_node **params,
                      rp_error *err) {
    *name = NULL;
    *params = NULL;
    if (!spec) return rp_error_set(err, RP_ERR_INVALID, "missing component");
    if (spec->kind == RP_NODE_SCALAR && spec->str && *spec->str) {
        *name = spec->str;
        return RP_OK;
    }
    if (spec->kind == RP_NODE_MAP && spec->n == 1 && spec->keys[0]->str) {
        *name = spec->keys[0]->str;
        const rp_node *v = spec->items[0];
        *params = (v && v->kind != RP_NODE_NULL) ? v : NULL;
        /* a list is the params of a component whose schema says `x-list`
         * (rp_component_params turns it into a map) */
        if (*params && (*params)->kind == RP_NODE_SCALAR)
            return rp_error_at(err, v, RP_ERR_INVALID,
                               "parameters of '%s': expected a map, got a scalar", *name);
        return RP_OK;
    }
    return rp_error_at(err, spec, RP_ERR_INVALID,
                       "expected a component: NAME or {NAME: {params}} (a map with one key)%s",
                       spec->kind == RP_NODE_MAP && spec->n != 1 ? ", got a map with several keys"
                                                                 : "");
}
