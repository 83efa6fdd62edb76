/* Error records (see include/runpipe/error.h). */
#include <stdio.h>
#include <string.h>

#include "runpipe/error.h"
#include "runpipe/node.h"

void rp_error_clear(rp_error *err) {
    if (err) memset(err, 0, sizeof *err);
}

int rp_error_vset(rp_error *err, int status, const char *fmt, va_list ap) {
    if (!err) return status;
    err->status = status;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return status;
}

int rp_error_set(rp_error *err, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rp_error_vset(err, status, fmt, ap);
    va_end(ap);
    return status;
}

int rp_error_at(rp_error *err, const rp_node *node, int status, const char *fmt, ...) {
    if (!err) return status;
    va_list ap;
    va_start(ap, fmt);
    rp_error_vset(err, status, fmt, ap);
    va_end(ap);
    if (node && node->file) {
        snprintf(err->file, sizeof err->file, "%s", node->file);
        err->line = node->line;
        err->col = node->col;
    }
    return status;
}

void rp_error_prefix(rp_error *err, const char *fmt, ...) {
    if (!err) return;
    char head[RP_ERR_MSG_MAX], old[RP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t h = strlen(head);
    if (h >= sizeof err->msg) h = sizeof err->msg - 1;
    memcpy(err->msg, head, h);
    size_t rest = strnlen(old, sizeof old);
    if (rest > sizeof err->msg - 1 - h) rest = sizeof err->msg - 1 - h;
    memcpy(err->msg + h, old, rest);
    err->msg[h + rest] = 0;
}

const char *rp_status_name(int status) {
    switch (status) {
    case RP_OK: return "ok";
    case RP_ERR_INVALID: return "invalid";
    case RP_ERR_IO: return "i/o error";
    case RP_ERR_FORMAT: return "bad format";
    case RP_ERR_NOMEM: return "out of memory";
    case RP_ERR_NUMERIC: return "numerical error";
    case RP_ERR_INTERRUPTED: return "interrupted";
    case RP_ERR_PLUGIN: return "plugin error";
    case RP_ERR_NOTFOUND: return "not found";
    case RP_ERR_INTERNAL: return "internal error";
    }
    return "error";
}
