/* deploywatch import: backfill Prometheus text / OpenMetrics samples into the store. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "store/import.h"
#include "store/store.h"

/* Malformed lines printed before only counting the rest. */
#define IMPORT_MAX_REPORTED 100

struct import_report {
	const char *file;
	unsigned long long count;
};

static void import_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch import [-c FILE] [--format auto|text|openmetrics] FILE|-\n"
		     "\n"
		     "Backfill samples from a Prometheus text-format (0.0.4) or OpenMetrics (1.0.0) file\n"
		     "into the store at storage.path. Every sample needs a timestamp: integer milliseconds\n"
		     "in the text format, seconds (with a fraction) in OpenMetrics, as `promtool tsdb\n"
		     "create-blocks-from openmetrics` reads them. 'auto' (the default) picks OpenMetrics\n"
		     "when the input uses an OpenMetrics-only form (# UNIT, unknown/info/stateset/\n"
		     "gaugehistogram types, a counter TYPE without its samples' _total) or when the first\n"
		     "timestamp has a fraction or is below 1e11; the text format otherwise. FILE may be\n"
		     "gzip-compressed; '-' reads standard input. Safe beside a running agent.\n"
		     "\n"
		     "A malformed line is reported as FILE:LINE: what is wrong (the first %d, then a\n"
		     "count), skipped, and everything else is imported; the exit code is then 65.\n"
		     "Input that ends part-way is reported the same way: a last sample line without\n"
		     "its newline may be cut, so it is not imported, and OpenMetrics input (also when\n"
		     "detected) must end with '# EOF'. Escapes in label values: \\\\, \\\" and \\n; a\n"
		     "backslash before any other character is kept, as Prometheus does. Where this\n"
		     "differs from promtool, and why: docs/import.md.\n"
		     "Samples at or before their series' last stored timestamp are refused and counted.\n"
		     "Samples older than storage.retention are imported with a warning: the agent's\n"
		     "next retention step deletes them.\n"
		     "\n"
		     "Exit codes: 0 imported, 65 some lines were malformed, the input ended part-way\n"
		     "or the gzip stream is corrupt or cut short (what came before is imported),\n"
		     "66 FILE unreadable, 73 the store cannot be opened, 74 read or write error,\n"
		     "78 bad configuration.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE    configuration file (default: the embedded configuration)\n"
		     "  -f, --format FORMAT  auto (default), text or openmetrics\n"
		     "  -h, --help           show this help\n", IMPORT_MAX_REPORTED);
}

static void report_malformed(void *ctx, size_t line, const char *msg)
{
	struct import_report *r = ctx;

	if (r->count++ < IMPORT_MAX_REPORTED)
		fprintf(stderr, "%s:%zu: %s\n", r->file, line, msg);
}

static size_t lines_read(const struct store_import *imp)
{
	struct store_import_stats s;

	store_import_get_stats(imp, &s);
	return (size_t)s.lines;
}

/* "sample" or "samples" for a count of n. */
static const char *samples(uint64_t n)
{
	return n == 1 ? "sample" : "samples";
}

/* What was written, and what the store refused. */
static void print_imported(const struct store_import_stats *s, const char *file)
{
	fprintf(stderr, "imported %llu %s into %llu series from %s (%llu refused out of order)\n",
		(unsigned long long)s->samples_written, samples(s->samples_written),
		(unsigned long long)s->series, file, (unsigned long long)s->out_of_order);
	if (s->out_of_order)
		fprintf(stderr, "%llu %s refused as out of order in %llu series\n",
			(unsigned long long)s->out_of_order, samples(s->out_of_order),
			(unsigned long long)s->out_of_order_series);
}

static int exit_for(int err)
{
	if (err == -ENOSPC || err == -EFBIG || err == -EIO || err == -EROFS)
		return EXIT_IOERR;
	return EXIT_SOFTWARE;
}

int cmd_import(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum store_import_format fmt = STORE_IMPORT_AUTO;
	struct import_report rep = { NULL, 0 };
	struct store_options so = { 0 };
	struct store_import_stats stats;
	struct store_import *imp;
	const char *path = NULL, *file;
	struct config *cfg;
	struct store *st;
	char err[1024], ret[32], data[1 << 16];
	struct stat sb;
	gzFile gz;
	int opt, rc, n = 0, zerr = Z_OK, code = EXIT_OK;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:f:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "auto"))
				fmt = STORE_IMPORT_AUTO;
			else if (!strcmp(optarg, "text"))
				fmt = STORE_IMPORT_TEXT;
			else if (!strcmp(optarg, "openmetrics"))
				fmt = STORE_IMPORT_OPENMETRICS;
			else
				return cli_usage_error("import", "unknown format '%s' (auto, text or "
						       "openmetrics)", optarg);
			break;
		case 'h':
			import_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("import", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("import", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("import", "no input file (use '-' for standard input)");
	if (optind + 1 < argc)
		return cli_usage_error("import", "unexpected argument '%s'", argv[optind + 1]);
	file = argv[optind];

	if (strcmp(file, "-") && stat(file, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "deploywatch import: cannot read %s: %s\n", file, strerror(EISDIR));
		return EXIT_NOINPUT;
	}
	/* gzread passes plain input through unchanged, so one path reads both. */
	gz = strcmp(file, "-") ? gzopen(file, "rb") : gzdopen(dup(STDIN_FILENO), "rb");
	if (!gz) {
		fprintf(stderr, "deploywatch import: cannot open %s: %s\n", file,
			errno ? strerror(errno) : "out of memory");
		return EXIT_NOINPUT;
	}
	rep.file = strcmp(file, "-") ? file : "<stdin>";
	rc = cli_load_config(path, &cfg);
	if (rc) {
		gzclose(gz);
		return rc;
	}
	so.path = cfg->storage.path;
	so.retention_ms = cfg->storage.retention;
	so.max_map_size = (size_t)cfg->storage.max_size;
	rc = store_open(&so, &st, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch import: %s\n", err);
		gzclose(gz);
		config_free(cfg);
		return EXIT_CANTCREAT;
	}
	imp = store_import_new(st, fmt, 0, report_malformed, &rep);
	store_import_set_now(imp, clock_now_ms());
	rc = 0;
	while ((n = gzread(gz, data, sizeof(data))) > 0) {
		rc = store_import_feed(imp, data, (size_t)n);
		if (rc)
			break;
	}
	/* zlib reports a gzip stream cut short (Z_BUF_ERROR) only through gzerror(). */
	if (!rc && n == 0)
		gzerror(gz, &zerr);
	if (!rc && (n < 0 || zerr == Z_BUF_ERROR)) {
		const char *msg = gzerror(gz, &zerr);

		if (zerr == Z_ERRNO && !lines_read(imp)) {
			fprintf(stderr, "deploywatch import: cannot read %s: %s\n", rep.file,
				strerror(errno));
			code = EXIT_NOINPUT;
		} else {
			/* Keep what was read: the complete lines are good, the cut one is dropped. */
			rc = store_import_flush(imp);
			if (zerr == Z_ERRNO)
				fprintf(stderr, "deploywatch import: %s: read error after line %zu: %s; "
						"the lines before it are imported\n", rep.file,
					lines_read(imp), strerror(errno));
			else /* zlib's message names the file */
				fprintf(stderr, "deploywatch import: %s after line %zu; the lines before "
						"it are imported\n", msg, lines_read(imp));
			code = zerr == Z_ERRNO ? EXIT_IOERR : EXIT_DATAERR;
		}
	}
	if (!rc && !code)
		rc = store_import_finish(imp);
	store_import_get_stats(imp, &stats);
	if (rc) {
		fprintf(stderr, "deploywatch import: %s: cannot write to the store %s: %s; samples "
				"committed before this stay imported\n", rep.file, cfg->storage.path,
			store_last_lmdb_error(st, rc, err, sizeof(err)));
		code = exit_for(rc);
	}
	if (rep.count > IMPORT_MAX_REPORTED)
		fprintf(stderr, "%s: %llu more malformed lines not shown\n", rep.file,
			rep.count - IMPORT_MAX_REPORTED);
	if (stats.malformed)
		fprintf(stderr, "%s: %llu malformed lines skipped\n", rep.file,
			(unsigned long long)stats.malformed);
	/* The end of the input is no skipped line: say what it means for what was imported. */
	if (stats.ending == STORE_IMPORT_END_NO_EOF)
		fprintf(stderr, "%s: input ended without # EOF (truncated?); every complete line was "
				"imported\n", rep.file);
	else if (stats.ending == STORE_IMPORT_END_CUT)
		fprintf(stderr, "%s: input ended inside its last line (truncated?); every complete "
				"line was imported, the cut one was not\n", rep.file);
	if (!rc && stats.samples && !stats.samples_written)
		fprintf(stderr, "nothing new in %s: %llu %s already stored (each at or before "
				"its series' last stored timestamp), in %llu series\n", rep.file,
			(unsigned long long)stats.out_of_order, samples(stats.out_of_order),
			(unsigned long long)stats.series);
	else
		print_imported(&stats, rep.file);
	if (stats.expired)
		fprintf(stderr, "%s: %llu %s older than the retention (%s) will be deleted by "
				"the next retention step; raise storage.retention to keep them\n",
			rep.file, (unsigned long long)stats.expired, samples(stats.expired),
			duration_format(cfg->storage.retention, ret, sizeof(ret)));
	if (!code && (stats.malformed || stats.ending != STORE_IMPORT_END_COMPLETE))
		code = EXIT_DATAERR;
	store_import_free(imp);
	store_close(st);
	config_free(cfg);
	gzclose(gz);
	return code;
}
