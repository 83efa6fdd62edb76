/* runpipe — schemas: loading, validation with defaults, description, JSON
 * Schema export (internal).
 *
 * Schemas are YAML files with JSON-Schema keywords: type (string, integer,
 * number, boolean, array, object, null, or a list), properties, required,
 * additionalProperties (false or a schema), enum, const, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength,
 * pattern (POSIX extended regex), items, minItems, maxItems, uniqueItems,
 * minProperties, maxProperties, default, description, title, examples,
 * $comment, oneOf, anyOf, x-* annotations, and
 * `x-component: KIND` (value is NAME, {NAME: {params}} or {NAME: null}, the
 * name registered under KIND, params validated by schemas/KIND.NAME.yaml).
 *
 * Error messages (the part after "error: "), located at the offending value
 * (at the key for unknown keys, at the map for missing required keys):
 *   CONTEXT'lrr': unknown parameter (did you mean 'lr'?)
 *   CONTEXT'lrr': unknown parameter (valid: a, b, c)
 *   CONTEXT'lr': expected a number, got 'fast'
 *   CONTEXT'epochs': expected an integer, got 2.5
 *   CONTEXT'p': 1.5 is above the maximum 1
 *   CONTEXT'mode': expected one of min, max; got 'mean'
 *   CONTEXTmissing required parameter 'dir'
 */
#ifndef RP_SCHEMA_H
#define RP_SCHEMA_H

#include <stddef.h>

#include "config/diag.h"
#include "runpipe/error.h"
#include "runpipe/node.h"

typedef struct rp_schema rp_schema;

/* Append a directory to the search path (copied). The runtime adds
 * RUNPIPE_SCHEMA_PATH entries, <libdir>/../share/runpipe/schemas and
 * RP_SRC_DIR "/schemas". Directories are searched in the order added. */
void rp_schema_add_dir(const char *dir);
/* Add the standard search directories (host/paths.h) once per process;
 * rp_schema_get does it itself, library users that list schemas call it. */
void rp_schema_dirs_init(void);
/* Forget every search directory (tests). */
void rp_schema_clear_dirs(void);
/* A directory searched before the embedded schemas (RUNPIPE_SCHEMA_PATH:
 * files there override what the engine and the plugins carry). */
void rp_schema_add_override_dir(const char *dir);
/* A schema compiled into the engine or a plugin (RP_SCHEMA), copied; found
 * after the override directories and before the ordinary ones. `origin`
 * names the file that carries it. The same name from another origin is
 * RP_ERR_DUPLICATE ("also embedded in ..."). */
int rp_schema_add_text(const char *name, const char *text, const char *origin, rp_error *err);
/* Forget the schemas embedded by `origin` (a plugin that failed or is
 * unloaded). */
void rp_schema_remove_origin(const char *origin);
/* Which file embeds the schema NAME, or NULL. Borrowed. */
const char *rp_schema_embedded_origin(const char *name);

/* Load (cached) <dir>/<name>.yaml: name = "pipeline", "train",
 * "transform.hflip" ... RP_ERR_NOTFOUND when no directory has it; a file that
 * is not a valid schema gives RP_ERR_FORMAT with its location. *out is
 * borrowed and lives until rp_schema_cache_clear(). */
int rp_schema_get(const char *name, const rp_schema **out, rp_error *err);
/* Build a schema from a tree (the tree is transferred; for tests and
 * generated schemas). Freed with rp_schema_free. */
int rp_schema_from_node(rp_node *root, const char *name, rp_schema **out, rp_error *err);
void rp_schema_free(rp_schema *s);
void rp_schema_cache_clear(void);
const rp_node *rp_schema_root(const rp_schema *s);
const char *rp_schema_name(const rp_schema *s);

/* Validate `value` (borrowed; NULL = absent = {}) and produce a normalised
 * copy (*out transferred) with every default filled and every x-component
 * reference normalised to {NAME: {params...defaults}}. Every error goes to
 * `d`, prefixed with `context` (e.g. "stage 'fit' (train): ", may be NULL) and
 * naming the key path ('lr', 'transforms[2].p'). Returns RP_OK or
 * RP_ERR_INVALID; on error *out is a best-effort tree or NULL. */
int rp_schema_validate(const rp_schema *s, const rp_node *value, const char *context,
                       rp_node **out, rp_diag *d);

/* Human description for `runpipe describe NAME`: one block per parameter with
 * type, default, range/enum and description. Transferred string. */
char *rp_schema_describe(const rp_schema *s);

/* JSON Schema (draft 2020-12) of a pipeline file: schemas/pipeline.yaml with
 * `stages[].with` checked per `use` for each of the given stage names
 * (borrowed), each stage's schema embedded under $defs. *out transferred. */
int rp_schema_export_json(const char *const *stage_names, size_t n, char **out, rp_error *err);


#endif
