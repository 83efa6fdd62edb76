/* Commands of the runpipe binary that live in their own file (engine/cli/),
 * dispatched from main.c's command table. Each takes main's argc/argv
 * (argv[1] is the command's name) and returns the exit code (0 ok, 1 failed,
 * 2 usage). */
#ifndef RP_CLI_H
#define RP_CLI_H

int rp_cli_compare(int argc, char **argv);    /* compare.c */

#endif
