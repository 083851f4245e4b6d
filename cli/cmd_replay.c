/*
 * deploywatch replay FILE... --source NAME: backfill existing log files (plain or gzip) at their
 * log time, through the same reader, assembler and parser as the agent. Each file's content
 * record is committed with its samples, so a file counted once (by the agent or an earlier
 * replay) is not counted again.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli/cli.h"
#include "collector/tail.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/registry.h"
#include "store/store.h"

/* Samples per transaction: large enough to be fast, small enough to bound memory. */
#define REPLAY_BATCH 200000
#define READ_SIZE ((size_t)256 << 10)

static void replay_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch replay [-c FILE] --source NAME FILE...\n"
		     "\n"
		     "Backfill existing log files into the store at the time each entry was logged,\n"
		     "with source NAME's format, timezone, app root and rules: after replaying\n"
		     "yesterday's laravel.log, `dump` shows the counters rising at yesterday's times.\n"
		     "Files may be plain or gzip-compressed (.gz). A file the agent or an earlier\n"
		     "replay already counted is not counted again (what was counted is skipped).\n"
		     "Samples at or before a series' last stored sample are refused and reported.\n"
		     "\n"
		     "Exit codes: 0 ok, 64 bad arguments, 66 a file cannot be read, 73 the store cannot\n"
		     "be opened for writing, 74 a write failed, 78 bad configuration or unknown source.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		     "  -s, --source NAME  the source whose format the files are in (required)\n"
		     "  -h, --help         show this help\n");
}

struct replay_ctx {
	struct store *st;
	struct store_batch *batch;
	struct tail_replay *r;
	struct store_commit_stats total;
	int commit_err;
	struct store_catalog_buf *catalog; /* exceptions for the error catalog, committed with the
					    * samples of their entries */
	uint64_t catalog_dropped;
};

static void on_exception(void *ctx, const struct logged_exception *x)
{
	struct replay_ctx *c = ctx;

	if (store_catalog_buf_add(c->catalog, x))
		c->catalog_dropped++;
}

static int add_sample(void *ctx, const struct label *labels, size_t n, enum metric_type type,
		      int64_t t_ms, double v)
{
	struct replay_ctx *c = ctx;

	/* A label set the store cannot hold is skipped; the parser's caps keep them rare. */
	(void)store_batch_add(c->batch, labels, n, type, t_ms, v);
	return 0;
}

static int put_record(void *ctx, const char *key, const void *val, size_t len)
{
	struct replay_ctx *c = ctx;

	return store_batch_put_meta(c->batch, key, val, len);
}

static int get_record(void *ctx, const char *key, struct buf *out)
{
	struct store_reader *rd;
	int err = store_reader_begin(ctx, &rd);

	if (err)
		return err;
	err = store_reader_get_meta(rd, key, out);
	store_reader_end(rd);
	return err;
}

/* Commit the batch with the record of how far the file was counted. */
static int commit(struct replay_ctx *c)
{
	struct store_commit_stats stats;
	int err;

	err = tail_replay_records(c->r, put_record, c);
	if (!err)
		err = store_batch_take_catalog(c->batch, c->catalog);
	if (!err)
		err = store_commit(c->st, c->batch, &stats);
	if (err)
		return err;
	c->total.samples_written += stats.samples_written;
	c->total.out_of_order += stats.out_of_order;
	c->total.series_created += stats.series_created;
	return 0;
}

static void progress(const char *path, uint64_t done, uint64_t size)
{
	int pct = size ? (int)(done * 100 / size) : 100;
	char bar[41];

	if (pct > 100)
		pct = 100;
	memset(bar, '#', (size_t)pct * 40 / 100);
	memset(bar + pct * 40 / 100, '.', 40 - (size_t)pct * 40 / 100);
	bar[40] = 0;
	fprintf(stderr, "\r%s [%s] %3d%%", path, bar, pct);
}

static void span(int64_t ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int replay_file(const struct config *cfg, const char *source, struct registry *reg,
		       struct store *st, const char *path)
{
	struct replay_ctx c = { .st = st };
	struct tail_replay_stats rs;
	struct stat sb;
	char err[512], a[32], b[32];
	bool tty = isatty(STDERR_FILENO);
	char *data;
	gzFile gz;
	int rc, n;

	gz = gzopen(path, "rb");
	if (!gz || stat(path, &sb) < 0) {
		fprintf(stderr, "deploywatch replay: cannot read %s: %s\n", path, strerror(errno));
		if (gz)
			gzclose(gz);
		return EXIT_NOINPUT;
	}
	gzbuffer(gz, READ_SIZE);
	rc = tail_replay_new(cfg, source, reg, cfg->storage.sample_interval, clock_now_ms(),
			     get_record, st, &c.r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch replay: %s\n", err);
		gzclose(gz);
		return EXIT_CONFIG;
	}
	c.batch = store_batch_new();
	c.catalog = store_catalog_buf_new();
	tail_replay_set_exception(c.r, on_exception, &c);
	data = xmalloc(READ_SIZE);
	while ((n = gzread(gz, data, (unsigned)READ_SIZE)) > 0) {
		tail_replay_feed(c.r, data, (size_t)n, add_sample, &c);
		if (store_batch_len(c.batch) >= REPLAY_BATCH ||
		    store_catalog_buf_len(c.catalog) >= STORE_CATALOG_MAX_PENDING / 2) {
			rc = commit(&c);
			if (rc)
				break;
		}
		if (tty)
			progress(path, (uint64_t)gzoffset(gz), (uint64_t)sb.st_size);
	}
	if (n < 0) {
		int zerr;
		const char *msg = gzerror(gz, &zerr);

		fprintf(stderr, "%sdeploywatch replay: %s: %s; stored what was read before it\n",
			tty ? "\n" : "", path, zerr == Z_ERRNO ? strerror(errno) : msg);
		rc = rc ? rc : -EIO;
	}
	if (!rc) {
		tail_replay_finish(c.r, add_sample, &c);
		rc = commit(&c);
	}
	if (tty)
		fprintf(stderr, "\n");
	tail_replay_get_stats(c.r, &rs);
	if (rc && rc != -EIO) {
		fprintf(stderr, "deploywatch replay: cannot write to the store: %s\n", err_str(rc));
	} else {
		printf("%s: %llu entries, %llu events (%llu late, %llu refused as older than the "
		       "stored samples), %llu unmatched, %llu long lines",
		       path, (unsigned long long)rs.entries, (unsigned long long)rs.events,
		       (unsigned long long)rs.late, (unsigned long long)c.total.out_of_order,
		       (unsigned long long)rs.unmatched, (unsigned long long)rs.long_lines);
		if (rs.first_ms <= rs.last_ms) {
			span(rs.first_ms, a, sizeof(a));
			span(rs.last_ms, b, sizeof(b));
			printf(", from %s to %s", a, b);
		}
		if (rs.skipped)
			printf("; %llu bytes already counted were skipped",
			       (unsigned long long)rs.skipped);
		if (c.catalog_dropped)
			printf("; %llu exceptions left out of the error catalog (too many distinct "
			       "fingerprints pending)", (unsigned long long)c.catalog_dropped);
		printf("\n");
	}
	free(data);
	store_batch_free(c.batch);
	store_catalog_buf_free(c.catalog);
	tail_replay_free(c.r);
	gzclose(gz);
	return rc == -EIO ? EXIT_IOERR : rc ? EXIT_IOERR : EXIT_OK;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "source", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *source = NULL;
	struct store_appender *seed;
	struct registry *reg;
	struct config *cfg;
	struct store *st;
	char err[1024];
	int opt, rc, exit_code = EXIT_OK;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:s:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'h':
			replay_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("replay", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("replay", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!source)
		return cli_usage_error("replay", "--source NAME is required");
	if (optind >= argc)
		return cli_usage_error("replay", "no file to replay");
	rc = cli_load_config(config_path, &cfg);
	if (rc)
		return rc;
	{
		const struct store_options so = { .path = cfg->storage.path,
						  .retention_ms = cfg->storage.retention,
						  .max_map_size = (size_t)cfg->storage.max_size };

		rc = store_open(&so, &st, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "deploywatch replay: %s\n", err);
		config_free(cfg);
		return EXIT_CANTCREAT;
	}
	reg = registry_new(cfg->limits.max_series_per_metric);
	/* Counters continue from their stored values, as in the agent. */
	seed = store_appender_new(st, reg, 1);
	for (int i = optind; i < argc; i++) {
		rc = replay_file(cfg, source, reg, st, argv[i]);
		if (rc && exit_code == EXIT_OK)
			exit_code = rc;
		if (rc == EXIT_CONFIG)
			break;
	}
	store_appender_free(seed);
	registry_free(reg);
	store_close(st);
	config_free(cfg);
	return exit_code;
}
