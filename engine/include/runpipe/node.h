/* runpipe — YAML node tree.
 *
 * libyaml parses a file into this tree; every node keeps its 1-based
 * file:line:col so any later error (schema, wiring, plugin) can point at it.
 * Stage parameters reach plugins as a validated node tree (defaults filled by
 * the schema) read through the typed accessors below.
 */
#ifndef RUNPIPE_NODE_H
#define RUNPIPE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rp_node_kind {
    RP_NODE_NULL = 0, /* `~`, `null`, empty value */
    RP_NODE_SCALAR,
    RP_NODE_SEQ,
    RP_NODE_MAP,
};

/* A node. Trees are owned by whoever parsed/built them and freed with
 * rp_node_free; all pointers inside are owned by the node. */
typedef struct rp_node {
    enum rp_node_kind kind;
    char *str;               /* SCALAR: the text (owned); NULL otherwise */
    int quoted;              /* SCALAR: written quoted → always a string */
    size_t n;                /* SEQ: items; MAP: pairs */
    struct rp_node **keys;   /* MAP: key nodes (scalars), n entries */
    struct rp_node **items;  /* SEQ: items; MAP: values; n entries */
    const char *file;        /* source file (interned, lives as long as the process) */
    int line, col;           /* 1-based; 0 when built in code */
} rp_node;

/* --- parsing ------------------------------------------------------------ */

/* Parse a YAML file into a tree (anchors, aliases and `<<` merge keys
 * resolved). `*out` is transferred to the caller. */
int rp_node_parse_file(const char *path, rp_node **out, rp_error *err);
/* Parse YAML text; `name` is used as the file name in locations. */
int rp_node_parse_string(const char *text, const char *name, rp_node **out, rp_error *err);
void rp_node_free(rp_node *n);
/* Deep copy (owned by caller). Returns NULL on allocation failure. */
rp_node *rp_node_clone(const rp_node *n);

/* --- building (for code that makes trees, e.g. defaults, --set) ---------- */
rp_node *rp_node_new_scalar(const char *text);
rp_node *rp_node_new_seq(void);
rp_node *rp_node_new_map(void);
/* Append; the child is transferred. Return RP_OK or RP_ERR_NOMEM. */
int rp_node_seq_push(rp_node *seq, rp_node *item);
int rp_node_map_set(rp_node *map, const char *key, rp_node *value); /* replaces */

/* --- reading -------------------------------------------------------------- */
/* Map lookup; NULL when absent or `map` is not a map. Borrowed. */
const rp_node *rp_node_get(const rp_node *map, const char *key);
/* Dotted path lookup: "with.transforms.0.p". Borrowed. */
const rp_node *rp_node_path(const rp_node *root, const char *path);
size_t rp_node_len(const rp_node *n);                    /* SEQ/MAP size, else 0 */
const rp_node *rp_node_at(const rp_node *seq, size_t i); /* borrowed */
const char *rp_node_key_at(const rp_node *map, size_t i);

/* Scalar conversions following YAML 1.2 core rules (true/false, ints incl.
 * 0x.., floats incl. 1e-4, .inf, .nan). Return RP_OK or an error located at
 * the node saying what was expected. */
int rp_node_as_int(const rp_node *n, int64_t *out, rp_error *err);
int rp_node_as_double(const rp_node *n, double *out, rp_error *err);
int rp_node_as_bool(const rp_node *n, int *out, rp_error *err);
/* The scalar text, or NULL for non-scalars. Borrowed. */
const char *rp_node_str(const rp_node *n);
/* Type tests used by the schema validator. */
int rp_node_is_int(const rp_node *n);
int rp_node_is_number(const rp_node *n);
int rp_node_is_bool(const rp_node *n);
int rp_node_is_null(const rp_node *n);

/* --- typed accessors on a validated map (params) ---------------------------
 * Defaults live only in the schemas, which fill every one before a stage or
 * component sees its params, so these just read. A key that is absent (the
 * schema neither requires it nor gives a default) is a bug in the schema or
 * the caller: the accessor returns 0 / NULL and remembers the key, and the
 * engine turns it into an internal error naming the stage and key once the
 * stage returns (rp_param_take_missing). A key whose value is `null` (an
 * optional parameter left unset, `default: null`) reads as 0 / NULL without
 * complaint; test it with rp_param_has. */
int64_t rp_param_int(const rp_node *map, const char *key);
double rp_param_double(const rp_node *map, const char *key);
int rp_param_bool(const rp_node *map, const char *key);
const char *rp_param_str(const rp_node *map, const char *key);
/* Nonzero when `key` is present with a non-null value. */
int rp_param_has(const rp_node *map, const char *key);
/* The first key an accessor found absent (on any thread) since the last call
 * (NULL if none), and forget it. Borrowed: the caller's key string. */
const char *rp_param_take_missing(void);
/* Fill up to `max` doubles from a sequence (or one scalar); returns count,
 * -1 when the node is neither. */
int rp_param_doubles(const rp_node *map, const char *key, double *out, int max);

/* Emit a tree as YAML text (block style, keys in order) into a malloc'd
 * string (transferred). Used for pipeline.resolved.yaml. */
int rp_node_to_yaml(const rp_node *n, char **out, rp_error *err);


/* --- additions -------------------------------------------------------------- */
/* A quoted (always-string) scalar, and an explicit null node. Owned by caller. */
rp_node *rp_node_new_string(const char *text);
rp_node *rp_node_new_null(void);
/* Intern a string for the process lifetime (file names in locations). */
const char *rp_node_intern(const char *s);
/* Set the location of `n` (not its children); file is interned. */
void rp_node_set_location(rp_node *n, const char *file, int line, int col);
/* Structural equality: same kinds, same map keys in the same order, scalars
 * equal as text and of the same resolved type (string vs typed). */
int rp_node_equal(const rp_node *a, const rp_node *b);
/* Nonzero for a scalar that is a string (quoted, or plain text that is not
 * null/bool/int/float under the YAML 1.2 core schema). */
int rp_node_is_string(const rp_node *n);
/* Mutable map lookup (borrowed); NULL when absent. */
rp_node *rp_node_get_mut(rp_node *map, const char *key);
/* Remove `key` from a map (freeing key and value); RP_OK or RP_ERR_NOTFOUND. */
int rp_node_map_remove(rp_node *map, const char *key);
/* Short description of a value for messages: 'text' for strings, the text for
 * numbers/bools, null, "a list", "a map". Writes into buf, returns buf. */
const char *rp_node_describe(const rp_node *n, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
