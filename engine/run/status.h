/* runpipe — status files of run folders and matrix cells (internal).
 * A leaf of run/: the executor writes them, the aggregate, the rank
 * coordinator and `runpipe runs` read them. */
#ifndef RP_RUN_STATUS_H
#define RP_RUN_STATUS_H

#include <stddef.h>

#include "runpipe/error.h"

/* Status file of a cell directory: "running", "done", "failed: ...",
 * "interrupted: ...", then a line "pid N host H" (the writer; `runpipe runs`
 * shows a "running" run whose process is gone as killed). rp_status_read
 * copies the first line; 0 if absent. */
int rp_status_write(const char *dir, const char *status, const char *msg, rp_error *err);
int rp_status_read(const char *dir, char *buf, size_t n);
/* Status of one run folder: "running", "done", "failed", "interrupted",
 * "killed" (status says running but its process, on this host, is gone), or
 * "unknown". Writes into buf (size n), returns buf. `dir` borrowed. */
const char *rp_run_state(const char *dir, char *buf, size_t n);

#endif
