/* runpipe — process-wide registries (internal): stages, components, plugins.
 *
 * Components (plugin.h) are registered from the engine's own RP_COMPONENT
 * section and by plugins as they load; stages only by
 * plugins. Each entry remembers which plugin (file) provided it, so errors
 * about duplicates name both files and `runpipe stages` can show the origin.
 * The registry also keeps one record per plugin file that was tried,
 * including the broken ones, with their error.
 */
#ifndef RP_REGISTRY_H
#define RP_REGISTRY_H

#include <stddef.h>

#include "runpipe/error.h"
#include "runpipe/node.h"
#include "base/util.h"
#include "runpipe/plugin.h"
#include "host/paths.h"

/* One plugin file that the loader tried. Strings owned by the registry. */
typedef struct rp_plugin_rec {
    char *path;           /* as found on the search path */
    char *name;           /* descriptor name, or NULL when it never got that far */
    char *version;        /* descriptor version, or NULL */
    char hash[65];        /* SHA-256 of the file (hex), "" if unreadable */
    int ok;               /* loaded and registered */
    rp_error err;         /* why not (when !ok) */
    char **stage_names;   /* stages the descriptor declared (even when broken) */
    size_t n_stage_names;
    void *handle;         /* dlopen handle while loaded */
    unsigned abi;         /* the descriptor's abi_version, 0 when it never got that far */
} rp_plugin_rec;

/* A registered stage. */
typedef struct rp_stage_entry {
    const struct rp_stage_def *def; /* borrowed from the plugin (static) */
    const char *plugin;             /* plugin name (borrowed from its record) */
    const char *file;               /* plugin file path */
} rp_stage_entry;

/* ---- stages ---- */
/* Register a plugin's stage; fails (naming both files) if the name is taken. */
int rp_registry_add_stage(const struct rp_stage_def *def, const char *plugin, const char *file,
                          rp_error *err);
const rp_stage_entry *rp_registry_stage(const char *name); /* NULL when absent */
size_t rp_registry_stage_count(void);
const rp_stage_entry *rp_registry_stage_at(size_t i);
/* Find a stage for `use:` (located at `where`): unknown names get a "did you
 * mean", and a name declared by a plugin that failed to load gets that
 * plugin's error. */
int rp_registry_stage_lookup(const char *name, const rp_node *where, const rp_stage_entry **out,
                             rp_error *err);

/* ---- components ---- */
/* Register a plugin's component (`c` static in the plugin). */
int rp_registry_add_component(const struct rp_component *c, const char *plugin, const char *file,
                              rp_error *err);
/* Which plugin provides a component ("engine" for built-ins). */
const char *rp_component_origin(int kind, const char *name);
/* Parse "loss" → RP_COMP_LOSS; -1 when unknown. */
int rp_component_kind_parse(const char *s);
/* Problems found while registering built-ins (duplicate names, found
 * before main() where nothing can report). NULL-terminated list, borrowed. */
size_t rp_registry_builtin_problems(const char *const **msgs);

/* ---- names defined twice ---- */
/* A stage or component that a second plugin also defines: the first one
 * registered (RUNPIPE_PLUGIN_PATH comes first) is kept, the second one
 * skipped, and a pipeline that does not list the name under
 * `plugins: {override: [...]}` is refused with both files named. */
typedef struct rp_conflict {
    char *what;           /* "stage", "loss", "transform", ... */
    char *name;
    char *kept;           /* file of the definition in use ("librunpipe.so" for built-ins) */
    char *dropped;        /* file of the skipped one */
} rp_conflict;
size_t rp_registry_conflict_count(void);
const rp_conflict *rp_registry_conflict_at(size_t i);

/* ---- plugins ---- */
/* Add a record (transferred strings are copied); returns its index. */
rp_plugin_rec *rp_registry_new_plugin(const char *path);
size_t rp_registry_plugin_count(void);
rp_plugin_rec *rp_registry_plugin_at(size_t i);
/* Remove everything plugins registered and close them (built-ins stay); the
 * loader's rp_plugins_unload_all also drops their schemas. */
void rp_registry_unload_plugins(void);
/* Record a problem with a built-in component or schema (shown by
 * `runpipe plugins` and `runpipe stages`); the message is copied. */
void rp_registry_builtin_problem(const char *msg);
/* Undo the registrations of one plugin (by plugin file) after a failure. */
void rp_registry_remove_from(const char *file);

/* ---- the loader (plugin.c) ---- */
/* Load one plugin file. Always leaves a record (ok or with its error);
 * returns RP_OK or the error (naming the file). */
int rp_plugin_load_file(const char *path, rp_error *err);
/* Load every *.so of every plugin directory (first directory wins when two
 * hold the same file name), once per process. Returns the number of plugin
 * files that failed; their errors are in their records. */
size_t rp_plugins_load_all(void);
/* Unload every plugin: its schemas, stages and components go, built-ins stay. */
void rp_plugins_unload_all(void);

#endif
