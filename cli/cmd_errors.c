/* deploywatch errors: the error catalog (exception fingerprints) as a table. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "query/api.h"
#include "store/store.h"

static void errors_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch errors [-c FILE] [--since D | --deploy NAME] [--new]\n"
		     "                          [--json] [--sample FINGERPRINT]\n"
		     "\n"
		     "List the exceptions the agent fingerprinted: the class, the normalised message,\n"
		     "the top in-app location, how often it was logged and when it was first and last\n"
		     "seen. Reads the store directly, whether or not the agent runs.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE     configuration file (default: the embedded configuration)\n"
		     "      --since D         fingerprints last seen within D before now (default 24h)\n"
		     "      --new             only fingerprints first seen within that window\n"
		     "      --deploy NAME     fingerprints first seen at or after the deploy marker NAME\n"
		     "                        (written by `deploywatch mark`): what the deploy brought\n"
		     "      --json            the /api/v1/errors JSON instead of the table\n"
		     "      --sample FP       print the sample entry kept for fingerprint FP\n"
		     "  -h, --help            show this help\n"
		     "\n"
		     "COUNT is every occurrence since the fingerprint was first seen. Exit codes: 0 ok,\n"
		     "64 bad arguments, 66 no store, no such deploy marker or fingerprint, 74 a read\n"
		     "error, 78 bad configuration.\n");
}

static void fmt_time(char out[32], int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_row(void *ctx, const struct store_catalog_entry *e)
{
	char first[32], last[32];

	(*(size_t *)ctx)++;
	fmt_time(first, e->first_seen_ms);
	fmt_time(last, e->last_seen_ms);
	printf("%-32s %8llu  %s  %s  %s\n", e->fingerprint, (unsigned long long)e->count, first,
	       last, e->class_name);
	printf("%34s%s\n", "", e->message);
	if (e->location[0])
		printf("%34sat %s\n", "", e->location);
	return 0;
}

int cmd_errors(int argc, char **argv)
{
	enum { OPT_SINCE = 256, OPT_NEW, OPT_DEPLOY, OPT_JSON, OPT_SAMPLE };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "new", no_argument, NULL, OPT_NEW },
		{ "deploy", required_argument, NULL, OPT_DEPLOY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *sample = NULL, *deploy = NULL;
	dw_millis since = 24 * 3600 * 1000LL;
	bool new_only = false, json = false, have_since = false;
	struct store_deploy d;
	struct config *cfg;
	struct store *st;
	char err[1024];
	int opt, rc, code = EXIT_OK;
	int64_t now = clock_now_ms();

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case OPT_SINCE:
			if (duration_parse(optarg, &since) || since <= 0)
				return cli_usage_error("errors", "--since: '%s' is not a duration such "
						       "as 30m, 2h or 7d", optarg);
			have_since = true;
			break;
		case OPT_NEW:
			new_only = true;
			break;
		case OPT_DEPLOY:
			deploy = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_SAMPLE:
			sample = optarg;
			break;
		case 'h':
			errors_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("errors", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("errors", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("errors", "unexpected argument '%s'", argv[optind]);
	if (deploy && !store_deploy_name_valid(deploy))
		return cli_usage_error("errors", "--deploy: '%s' is not a deploy name", deploy);
	if (deploy && have_since)
		return cli_usage_error("errors", "--since and --deploy both say where the window "
				       "starts: give one");

	rc = cli_load_config(path, &cfg);
	if (rc)
		return rc;
	rc = cli_open_store_read("errors", cfg, &st);
	if (rc) {
		config_free(cfg);
		return rc;
	}
	if (deploy) {
		rc = store_deploy_find(st, deploy, INT64_MAX, &d);
		if (rc == -ENOENT) {
			fprintf(stderr, "deploywatch errors: no deploy marker %s in %s (deploywatch "
					"mark -c FILE %s writes one)\n", deploy, cfg->storage.path, deploy);
			code = EXIT_NOINPUT;
			goto out;
		} else if (rc) {
			fprintf(stderr, "deploywatch errors: %s: %s\n", cfg->storage.path,
				err_str(rc));
			code = EXIT_IOERR;
			goto out;
		}
		/* What the deploy brought: first seen at or after its marker. */
		since = now > d.at_ms ? now - d.at_ms : 0;
		new_only = true;
	}
	if (sample) {
		struct buf b;

		buf_init(&b, 0);
		rc = store_catalog_sample(st, sample, &b);
		if (rc == -EINVAL) {
			code = cli_usage_error("errors", "--sample: '%s' is not a fingerprint (32 hex "
					       "digits)", sample);
		} else if (rc == -ENOENT) {
			fprintf(stderr, "deploywatch errors: no fingerprint %s in %s\n", sample,
				cfg->storage.path);
			code = EXIT_NOINPUT;
		} else if (rc) {
			fprintf(stderr, "deploywatch errors: %s: %s\n", cfg->storage.path,
				err_str(rc));
			code = EXIT_IOERR;
		} else {
			fwrite(b.data, 1, b.len, stdout);
			putchar('\n');
		}
		buf_release(&b);
	} else if (json) {
		char start[32];
		const char *names[] = { "start", "new" }, *values[2];
		struct buf b;
		int status;

		snprintf(start, sizeof(start), "%.3f", (double)(now - since) / 1000);
		values[0] = start;
		values[1] = new_only ? "true" : "false";
		buf_init(&b, 0);
		status = promql_api_errors(st, names, values, 2, now, &b);
		fwrite(b.data, 1, b.len, stdout);
		putchar('\n');
		if (status != 200)
			code = EXIT_IOERR;
		buf_release(&b);
	} else {
		const struct store_catalog_filter f = {
			.since_ms = now - since, .until_ms = INT64_MAX, .new_only = new_only,
		};
		size_t n = 0;

		printf("%-32s %8s  %-20s  %-20s  %s\n", "FINGERPRINT", "COUNT", "FIRST SEEN",
		       "LAST SEEN", "CLASS / MESSAGE / LOCATION");
		rc = store_catalog_list(st, &f, print_row, &n);
		if (rc) {
			fprintf(stderr, "deploywatch errors: %s: %s\n", cfg->storage.path,
				err_str(rc));
			code = EXIT_IOERR;
		} else if (n == 0 && deploy) {
			printf("(no exceptions first seen since deploy %s)\n", deploy);
		} else if (n == 0) {
			printf("(no exceptions %s in the last %s)\n",
			       new_only ? "first seen" : "seen", duration_format(since, err, 32));
		}
	}
out:
	store_close(st);
	config_free(cfg);
	return code;
}
