#ifndef DW_CLI_CLI_H
#define DW_CLI_CLI_H

/*
 * The command line: main.c dispatches `deploywatch COMMAND` to one cmd_*() per file. Exit codes
 * follow DESIGN.md: 0 ok, 1 failed verdict, 2 inconclusive, and sysexits for usage and runtime
 * errors.
 */

#include <stdbool.h>
#include <stdint.h>
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

/*
 * The commands, one per cmd_*.c file. 'argv' is the command line from the command's name on
 * (argv[0] is "run", "dump", ...), borrowed for the call. Each parses its options, prints its
 * own errors to stderr and returns one of the exit codes above. Main thread; cmd_run is the only
 * one that starts threads (the HTTP server's).
 */
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

/*
 * Build each source's parser exactly as the agent does (logp_check_source: the format, the zone
 * file, every rule's regex, named groups and metric family), all in one registry beside the host
 * sampler's and the verdict's families as run registers them, and throw them away, so
 * check-config and run refuse the same configurations (a metric name two parts want with
 * different shapes included). Prints each problem to stderr as
 * "deploywatch: FILE:LINE:COL: KEY: message" and returns EXIT_CONFIG when there is one, else 0.
 * Reads zone files; main thread.
 */
int cli_check_parsers(const struct config *cfg);
/* The same, each problem given to report(ctx, message) instead (a SIGHUP reload logs them). */
int cli_check_parsers_each(const struct config *cfg, void (*report)(void *ctx, const char *msg),
			   void *ctx);

/* Print "deploywatch COMMAND: MESSAGE\nTry 'deploywatch COMMAND --help'." to stderr; returns
 * EXIT_USAGE. For getopt errors and bad arguments. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct store;
/*
 * Open the store at cfg->storage.path read-only for 'command' (dump, errors, query, judge): never
 * created, never blocks the agent. Returns 0 and *out (close with store_close()), or prints
 * "deploywatch COMMAND: <cause>" and returns the exit code: EXIT_NOINPUT (no store there),
 * EXIT_DATAERR (a newer or foreign format), EXIT_IOERR (anything else).
 */
int cli_open_store_read(const char *command, const struct config *cfg, struct store **out);

/* ---- the deploy verdict in the agent and the judge command (cli/agent_judge.c) ---- */

struct judge_check;
struct judge_options;
struct cli_judge;
struct registry;
struct store;
struct http_request;
struct http_response;

/* The config's judge.checks as the judge reads them (strings borrowed from cfg, which must
 * outlive the array); free() the array. *n is 0 when the config has none. */
struct judge_check *cli_judge_checks(const struct config *cfg, size_t *n);
/* The judge's options from the config's judge: section for the marker and now. */
void cli_judge_options(const struct config *cfg, int64_t marker_ms, int64_t now_ms,
		       struct judge_options *o);
/* The agent's judge: registers deploywatch_deploy_timestamp_seconds and deploywatch_verdict in
 * 'reg' (borrowed for its life). Free with cli_judge_free() after the HTTP server. Collector
 * thread. */
struct cli_judge *cli_judge_new(struct registry *reg);
void cli_judge_free(struct cli_judge *j);
/* Use 'st' (borrowed; it stays open until after the HTTP server is freed). Collector thread. */
void cli_judge_set_store(struct cli_judge *j, struct store *st);
/* Take the judge: section of 'cfg' (copied: 'cfg' is borrowed for the call only) for the agent's
 * judgements and the requests' (GET /api/v1/judge?deploy=...). Call at start and after each
 * reload; a request still judging keeps the old copy until it ends. Collector thread. */
void cli_judge_configure(struct cli_judge *j, const struct config *cfg);
/* Each tick: export the markers; judge the latest deploy once a minute while its window is open
 * and once after it closes (logged). Collector thread; 'cfg' borrowed for the call. */
void cli_judge_tick(struct cli_judge *j, const struct config *cfg, int64_t now);
/* HTTP handlers (request threads; ctx is the cli_judge): GET/POST /api/v1/deploys and GET
 * /api/v1/judge: without parameters the agent's last judgement (404 before one); with deploy,
 * baseline, window or at, a judgement made for the request (as `judge --json`; 400 for a bad
 * parameter, 404 for an unknown deploy). */
int cli_judge_route_deploys(void *ctx, const struct http_request *req, struct http_response *resp);
int cli_judge_route_judge(void *ctx, const struct http_request *req, struct http_response *resp);

/* ---- fleet mode: the judge's checks through a Prometheus server (cli/judge_remote.c) ---- */

struct judge_backend;
struct cli_prom;

/* How to reach the Prometheus; strings borrowed for cli_prom_new()'s call only. */
struct cli_prom_options {
	const char *url;        /* http(s)://host:port[/prefix]; no user in it */
	const char *username;   /* basic auth; NULL: none */
	const char *password;   /* with username; NULL: empty */
	const char *ca_file;    /* PEM CA bundle for https; NULL: the system's */
	bool insecure;          /* no certificate or host name check */
	int64_t timeout_ms;     /* per request, also sent as the API's timeout; <= 0: 30 s */
	const char *selector;   /* matchers added to every selector (instance=~"web-.*"), with or
				 * without braces; NULL: the whole fleet */
};

/*
 * A client of the Prometheus HTTP API at o->url (libcurl, loaded with dlopen on the first call;
 * nothing is sent yet). Only http and https, no redirects followed, responses capped at 32 MiB.
 * Returns 0 and *out (free with cli_prom_free()), or -EINVAL with one line in 'err' for a URL
 * that is not http(s) or carries a user (a password in it would be printed in errors and visible
 * in ps) or a selector that does not parse, -ELIBACC when no usable libcurl can be loaded (the
 * message names the package: libcurl3-gnutls), -ENOMEM when libcurl cannot start. Main thread
 * (dlopen's table and curl_global_init are not thread-safe); one thread uses the client.
 */
int cli_prom_new(const struct cli_prom_options *o, struct cli_prom **out, char *err,
		 size_t errlen);
/* Free the client (the password is wiped first). NULL is a no-op. */
void cli_prom_free(struct cli_prom *p);
/* A judge backend evaluating through 'p' (borrowed while the backend is used): instant and range
 * queries by form POST, each expression first given the selector's matchers (promql_add_matchers),
 * folded as the local backend folds (judge_fold). A failure is the check's "query failed" text:
 * Prometheus's errorType and error with the HTTP status, or the transport's error. */
void cli_prom_backend(struct cli_prom *p, struct judge_backend *be);
/* Evaluate time() at 't_ms': is the API there and are the credentials right? Returns 0, or an
 * error with one line in 'err' (-EACCES: refused credentials; -ECONNREFUSED, -ETIMEDOUT, -EIO:
 * transport; -EPROTO: not a Prometheus API; a PROMQL_E_* code: an error the server reported). */
int cli_prom_probe(struct cli_prom *p, int64_t t_ms, char *err, size_t errlen);

/* A deploy marker found in the Prometheus. */
struct cli_prom_deploy {
	char name[129];   /* STORE_DEPLOY_MAX_NAME + 1 */
	int64_t at_ms;
};
/*
 * The deploy named 'name' (NULL: the latest at or before 't_ms') from the agents' exported
 * deploywatch_deploy_timestamp_seconds{deploy} evaluated at 't_ms' (on the selector's hosts),
 * the maximum over instances.
 * Returns 0 and *out, -ENOENT when no agent exports it (message in 'err'), or a query error as
 * cli_prom_probe's.
 */
int cli_prom_find_deploy(struct cli_prom *p, const char *name, int64_t t_ms,
			 struct cli_prom_deploy *out, char *err, size_t errlen);
/* Read a basic auth password from 'path' into 'out' (outlen bytes, NUL-terminated), one trailing
 * line end removed. Returns 0, -errno, -E2BIG (longer than outlen - 2) or -EINVAL (a NUL byte),
 * with one line in 'err'. */
int cli_prom_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
