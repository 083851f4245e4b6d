/* deploywatch check-config: validate a configuration and print what it would watch. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "exporters/exporters.h"

static void check_config_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch check-config [-c FILE]\n"
		     "\n"
		     "Validate the configuration and print what would be watched: the log files each\n"
		     "source's glob matches now, the rules, the host metrics, the store and the listener.\n"
		     "Exits 0 when the configuration is valid, 78 (EX_CONFIG) with the file, line and key\n"
		     "of the first problem otherwise.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		     "  -h, --help         show this help\n");
}

/* The TLS pair must be one the agent can serve with: readable, PEM, and a key that matches. */
static int check_tls(const struct config *cfg)
{
	char err[512];

	if (!cfg->web.tls_cert_file || !cfg->web.tls_key_file)
		return 0;
	if (http_tls_validate(cfg->web.tls_cert_file, cfg->web.tls_key_file, err, sizeof(err))) {
		fprintf(stderr, "deploywatch: %s: web: %s\n", cfg->file, err);
		return -1;
	}
	return 0;
}

static void print_source(const struct config_source *src)
{
	glob_t g;
	int rc;

	printf("  %s (%s): %s\n", src->name, config_format_name(src->format), src->path);
	rc = glob(src->path, GLOB_NOSORT, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		printf("    no file matches yet; files that appear later are picked up at once\n");
	} else if (rc == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			int readable = access(g.gl_pathv[i], R_OK) == 0;

			printf("    %s%s\n", g.gl_pathv[i], readable ? "" : " (not readable by this user)");
		}
	} else {
		printf("    cannot expand the glob (error %d)\n", rc);
	}
	if (rc != GLOB_NOMATCH)
		globfree(&g);
}

static void print_config(const struct config *cfg)
{
	char d1[32], d2[32];
	struct stat st;

	printf("configuration: %s\n", cfg->file);
	printf("storage: %s (%s), retention %s, sample interval %s\n", cfg->storage.path,
	       stat(cfg->storage.path, &st) == 0 ? "exists" : "will be created",
	       duration_format(cfg->storage.retention, d1, sizeof(d1)),
	       duration_format(cfg->storage.sample_interval, d2, sizeof(d2)));
	printf("web: listening on %s%s%s\n", cfg->web.listen_address,
	       cfg->web.tls_cert_file ? ", HTTPS" : ", HTTP",
	       cfg->web.nusers ? ", basic auth" : "");
	printf("sources: %zu\n", cfg->nsources);
	for (size_t i = 0; i < cfg->nsources; i++)
		print_source(&cfg->sources[i]);
	printf("rules: %zu\n", cfg->nrules);
	for (size_t i = 0; i < cfg->nrules; i++)
		printf("  %s from %s: %s\n", cfg->rules[i].name, cfg->rules[i].source,
		       cfg->rules[i].regex);
	printf("system: procfs %s, sysfs %s, rootfs %s\n", cfg->system.proc_path,
	       cfg->system.sys_path, cfg->system.rootfs_path);
	printf("  filesystems:");
	for (size_t i = 0; i < cfg->system.nfilesystems; i++)
		printf(" %s", cfg->system.filesystems[i]);
	printf("\n  tcp ports:");
	for (size_t i = 0; i < cfg->system.ntcp_ports; i++)
		printf(" %u", cfg->system.tcp_ports[i]);
	printf("\n  processes:");
	for (size_t i = 0; i < cfg->system.nprocesses; i++)
		printf(" %s", cfg->system.processes[i]);
	printf("\njudge: baseline %s, window %s, %zu check(s)%s\n",
	       duration_format(cfg->judge.baseline, d1, sizeof(d1)),
	       duration_format(cfg->judge.window, d2, sizeof(d2)), cfg->judge.nchecks,
	       cfg->judge.nchecks ? "" : " (the built-in defaults apply)");
	printf("limits: %u series per metric\n", cfg->limits.max_series_per_metric);
}

int cmd_check_config(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct config *cfg;
	int opt, rc, bad = 0;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			check_config_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("check-config", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("check-config", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("check-config", "unexpected argument '%s'", argv[optind]);

	rc = cli_load_config(path, &cfg);
	if (rc)
		return rc;
	bad |= cli_check_parsers(cfg);
	bad |= check_tls(cfg);
	if (!bad)
		print_config(cfg);
	config_free(cfg);
	return bad ? EXIT_CONFIG : EXIT_OK;
}
