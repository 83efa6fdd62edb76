/* runpipe — where the engine looks for plugins and schemas (internal).
 *
 * A leaf: it knows the file system and the environment, nothing of the
 * schema module or the plugin loader, so both can use it (config/schema.c
 * for the schema directories, host/plugin.c for the plugin directories)
 * without depending on each other.
 */
#ifndef RP_HOST_PATHS_H
#define RP_HOST_PATHS_H

/* Directory holding librunpipe.so (found with dladdr), or "" if unknown. */
const char *rp_engine_libdir(void);
/* Directory holding runpipe/ (plugins/, comm_mpi.so): <libdir>, or for the
 * unit tests' library in <build>/lib/test, <build>/lib (the same build's
 * modules); "" if unknown. */
const char *rp_engine_moddir(void);
/* Plugin search path: RUNPIPE_PLUGIN_PATH (colon-separated), then
 * <moddir>/runpipe/plugins; only existing
 * directories, duplicates removed. Borrowed, NULL-terminated. */
const char *const *rp_plugin_dirs(void);
/* Schema search path in two parts. `override`: RUNPIPE_SCHEMA_PATH, whose
 * files win over the schemas compiled into the engine; `standard`:
 * <libdir>/../share/runpipe/schemas, then the source tree's schemas/ (only
 * from a library built in the source tree). Both borrowed, NULL-terminated,
 * existing directories only, computed once. */
void rp_schema_search_dirs(const char *const **override, const char *const **standard);

#endif
