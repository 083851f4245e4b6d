/*
 * deploywatch mark NAME [--at TIME] [--note TEXT]: write a deploy marker into the store (its own
 * short write transaction, safe while the agent runs); `mark --list` prints them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/timeparse.h"
#include "store/store.h"

static void mark_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch mark NAME [-c FILE] [--at T] [--note TEXT]\n"
		     "       deploywatch mark --list [-c FILE]\n"
		     "\n"
		     "Record that the deploy NAME happened at T (default: now), for `deploywatch judge`,\n"
		     "GET /api/v1/deploys and the metric deploywatch_deploy_timestamp_seconds{deploy}.\n"
		     "Marking a name again moves its marker. Run it from the deploy script right after\n"
		     "the application restarts; it works whether or not the agent is running.\n"
		     "\n"
		     "NAME is 1 to 128 bytes of UTF-8 (a release tag, a commit). T is RFC 3339 or Unix\n"
		     "seconds. The note (at most 1024 bytes) is shown by judge and the API.\n"
		     "\n"
		     "Exit codes: 0 ok, 64 bad arguments, 73 the store cannot be opened for writing,\n"
		     "74 write error, 78 bad configuration.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		     "      --at T         when the deploy happened (default: now)\n"
		     "      --note TEXT    a note\n"
		     "      --list         print the markers, oldest first\n"
		     "  -h, --help         show this help\n");
}

static void print_time(int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char b[32];

	gmtime_r(&s, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s", b);
}

int cmd_mark(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "at", required_argument, NULL, 'a' },
		{ "note", required_argument, NULL, 'n' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *name = NULL, *note = NULL;
	int64_t now = clock_now_ms(), at = now;
	struct store_options so = { 0 };
	struct config *cfg;
	struct store *st;
	bool list = false;
	char err[1024];
	int opt, rc, code;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'a':
			if (time_parse(optarg, &at))
				return cli_usage_error("mark", "--at: '%s' is not a time (RFC 3339 such "
						       "as 2026-11-27T17:20:00Z, or Unix seconds)",
						       optarg);
			break;
		case 'n':
			note = optarg;
			if (strlen(note) > STORE_DEPLOY_MAX_NOTE)
				return cli_usage_error("mark", "--note: at most %d bytes",
						       STORE_DEPLOY_MAX_NOTE);
			break;
		case 'l':
			list = true;
			break;
		case 'h':
			mark_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("mark", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("mark", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!list) {
		if (optind >= argc)
			return cli_usage_error("mark", "a deploy name is required");
		name = argv[optind++];
		if (!store_deploy_name_valid(name))
			return cli_usage_error("mark", "'%s' is not a deploy name: 1 to %d bytes of "
					       "UTF-8 without control characters",
					       name, STORE_DEPLOY_MAX_NAME);
	}
	if (optind < argc)
		return cli_usage_error("mark", "unexpected argument '%s'", argv[optind]);
	code = cli_load_config(path, &cfg);
	if (code)
		return code;
	so.path = cfg->storage.path;
	so.retention_ms = cfg->storage.retention;
	so.max_map_size = (size_t)cfg->storage.max_size;
	so.read_only = list;
	rc = store_open(&so, &st, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch mark: %s\n", err);
		config_free(cfg);
		return list ? EXIT_NOINPUT : EXIT_CANTCREAT;
	}
	if (list) {
		struct store_deploy *v;
		size_t n;

		rc = store_deploy_list(st, &v, &n);
		for (size_t i = 0; !rc && i < n; i++) {
			print_time(v[i].at_ms);
			printf("  %s%s%s\n", v[i].name, v[i].note[0] ? "  " : "", v[i].note);
		}
		if (!rc)
			free(v);
	} else {
		rc = store_deploy_put(st, name, at, now, note);
		if (!rc) {
			printf("marked %s at ", name);
			print_time(at);
			printf("\n");
		}
	}
	if (rc) {
		fprintf(stderr, "deploywatch mark: %s: %s\n", cfg->storage.path, err_str(rc));
		code = EXIT_IOERR;
	}
	store_close(st);
	config_free(cfg);
	return code;
}
