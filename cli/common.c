#include "cli/cli.h"

#include "collector/logp.h"
#include "collector/tail.h"
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
	int rc = 0;

	for (size_t i = 0; i < cfg->nsources; i++) {
		char err[1024];

		if (logp_check_source(cfg, &cfg->sources[i], err, sizeof(err))) {
			report(ctx, err);
			rc = EXIT_CONFIG;
		}
	}
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
