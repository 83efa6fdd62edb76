/* Commands of the runpipe binary that live in their own file (engine/cli/),
 * dispatched from main.c's command table. Each takes main's argc/argv
 * (argv[1] is the command's name) and returns the exit code (0 ok, 1 failed,
 * 2 usage). */
#ifndef RP_CLI_H
#define RP_CLI_H

#include "config/diag.h"
#include "runpipe/node.h"

int rp_cli_compare(int argc, char **argv);    /* compare.c */
int rp_cli_plugins(int argc, char **argv);    /* plugins.c */
int rp_cli_new_plugin(int argc, char **argv); /* new_plugin.c */

/* plugins.c, for check / plan / run: failed plugin loads as warnings on
 * stderr; names defined by two plugins and not listed under the pipeline's
 * `plugins: {override: [...]}` (doc = a cell's resolved document) as errors
 * in d. Returns the number of errors added. */
void rp_cli_report_broken(void);
int rp_cli_check_conflicts(const rp_node *doc, rp_diag *d);

#endif
