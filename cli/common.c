#include "cli/cli.h"

#include "collector/logp.h"
#include "collector/system.h"
#include "collector/tail.h"
#include "core/registry.h"
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int cli_load_config(const char *path, struct config **out)
{
	char err[1024];
	int rc;

	rc = path ? config_load_file(path, out, err, sizeof(err))
		  : config_load_default(out, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch: %s\n", err);
		return EXIT_CONFIG;
	}
	return 0;
}

int cli_check_parsers_each(const struct config *cfg, void (*report)(void *ctx, const char *msg),
			   void *ctx)
{
	/* One registry for every source, holding what run registers before its parsers: the host
	 * sampler's families and the verdict's (the agent's own deploywatch_* names are closed to
	 * rules by config_parse). A rule or source that wants a name another one holds with a
	 * different shape is then refused here, as run's start-up would refuse it. */
	struct registry *reg = registry_new(cfg->limits.max_series_per_metric);
	struct cli_judge *judge = cli_judge_new(reg);
	struct system_sampler *sampler = NULL;
	int rc = 0;

	/* A sampler that cannot be made is reported by run on its own (exit 78); its families
	 * are then missing here, so only clashes among the sources are found. */
	if (system_sampler_new(cfg, reg, &sampler))
		sampler = NULL;
	for (size_t i = 0; i < cfg->nsources; i++) {
		char err[1024];

		if (logp_check_source(cfg, &cfg->sources[i], reg, err, sizeof(err))) {
			report(ctx, err);
			rc = EXIT_CONFIG;
		}
	}
	system_sampler_free(sampler);
	cli_judge_free(judge);
	registry_free(reg);
	return rc;
}

static void report_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "deploywatch: %s\n", msg);
}

int cli_check_parsers(const struct config *cfg)
{
	return cli_check_parsers_each(cfg, report_stderr, NULL);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "deploywatch %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'deploywatch %s --help'.\n", command);
	return EXIT_USAGE;
}

int cli_open_store_read(const char *command, const struct config *cfg, struct store **out)
{
	struct store_options so = { .path = cfg->storage.path, .read_only = true };
	char err[512];
	int rc = store_open(&so, out, err, sizeof(err));

	if (!rc)
		return 0;
	fprintf(stderr, "deploywatch %s: %s\n", command, err);
	return rc == -ENOENT ? EXIT_NOINPUT : rc == STORE_E_FORMAT ? EXIT_DATAERR : EXIT_IOERR;
}
