#ifndef DW_CLI_CLI_H
#define DW_CLI_CLI_H

/*
 * The command line: main.c dispatches `deploywatch COMMAND` to one cmd_*() per file. Exit codes
 * follow DESIGN.md: 0 ok, 1 failed verdict, 2 inconclusive, and sysexits for usage and runtime
 * errors.
 */

#include <stdbool.h>
#include <stdio.h>

#include "core/config.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 64,       /* EX_USAGE: bad command line */
	EXIT_DATAERR = 65,     /* EX_DATAERR: bad input data */
	EXIT_NOINPUT = 66,     /* EX_NOINPUT: an input file is missing or unreadable */
	EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE: a service could not start (port in use) */
	EXIT_SOFTWARE = 70,    /* EX_SOFTWARE: internal error */
	EXIT_CANTCREAT = 73,   /* EX_CANTCREAT: cannot create the store */
	EXIT_IOERR = 74,       /* EX_IOERR */
	EXIT_TEMPFAIL = 75,    /* EX_TEMPFAIL: try again (a query over its time limit) */
	EXIT_CONFIG = 78,      /* EX_CONFIG: the configuration is wrong */
};

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

int cmd_run(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_errors(int argc, char **argv);
int cmd_mark(int argc, char **argv);
int cmd_judge(int argc, char **argv);

/*
 * Load the configuration named by -c (path NULL: the embedded default). Prints the error to stderr
 * prefixed with "deploywatch: " and returns EXIT_CONFIG on failure, 0 on success.
 */
int cli_load_config(const char *path, struct config **out);

/* Print "deploywatch COMMAND: MESSAGE\nTry 'deploywatch COMMAND --help'." to stderr; returns
 * EXIT_USAGE. For getopt errors and bad arguments. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
