/* runpipe — error records.
 *
 * Every function that can fail returns an int status (RP_OK == 0) and takes an
 * error record as its last argument. Library code never prints or exits: it
 * fills the record and returns; the caller decides what to show.
 */
#ifndef RUNPIPE_ERROR_H
#define RUNPIPE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rp_status {
    RP_OK = 0,
    RP_ERR_INVALID = 1,   /* invalid argument / pipeline / parameter */
    RP_ERR_IO = 2,        /* cannot open, read or write a file */
    RP_ERR_FORMAT = 3,    /* file exists but its content is malformed */
    RP_ERR_NOMEM = 4,     /* allocation failed */
    RP_ERR_NUMERIC = 5,   /* NaN/Inf or other numerical failure */
    RP_ERR_INTERRUPTED = 6, /* SIGINT received; state written, stopping */
    RP_ERR_PLUGIN = 7,    /* plugin could not be loaded / is malformed */
    RP_ERR_NOTFOUND = 8,  /* name not in a registry, key not in a map */
    RP_ERR_INTERNAL = 9,  /* broken invariant: a bug in runpipe */
};

#define RP_ERR_MSG_MAX 1024
#define RP_ERR_PATH_MAX 512

/* One error. `file`/`line`/`col` locate the YAML node (1-based) or, for data
 * errors, the data file (line/col 0 when unknown). `stage` is the stage id the
 * error happened in ("" outside a stage). */
typedef struct rp_error {
    int status;
    char file[RP_ERR_PATH_MAX];
    int line;
    int col;
    char stage[128];
    char msg[RP_ERR_MSG_MAX];
} rp_error;

struct rp_node;

/* Reset to "no error". `err` may be NULL (all rp_error_* accept NULL). */
void rp_error_clear(rp_error *err);

/* Fill `err` (borrowed) with `status` and a printf-style message; returns
 * `status` so callers can `return rp_error_set(err, RP_ERR_IO, "...")`. */
int rp_error_set(rp_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rp_error_vset(rp_error *err, int status, const char *fmt, va_list ap);

/* Same, located at a YAML node (borrowed; may be NULL = no location). */
int rp_error_at(rp_error *err, const struct rp_node *node, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix the existing message with context ("reading 'x.idx': " ...). */
void rp_error_prefix(rp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "Did you mean": the candidate closest to `name` (borrowed, from `cands`)
 * by optimal-string-alignment distance, or NULL when none is within
 * max(2, len/3) edits (and fewer than len edits, so a short name is never
 * "corrected" into an unrelated one). Case-sensitive; NULL entries skipped. */
const char *rp_suggest(const char *name, const char *const *cands, size_t n);

/* Short name of a status ("io error", "invalid", ...). Static string. */
const char *rp_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
