/* runpipe runs [DIR] [--json]: the run folders under DIR (default runs/),
 * one line each: name, start, duration, status, cells done/total and the
 * headline metrics (internal). */
#ifndef RP_CLI_RUNS_H
#define RP_CLI_RUNS_H

#include <stdio.h>

/* Print the table (or a JSON array with `json`) to `out`; returns the exit
 * code (0, or 2 when `dir` is not a folder). */
int rp_cli_runs(const char *dir, int json, FILE *out);

#endif
