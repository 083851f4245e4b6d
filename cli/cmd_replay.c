/*
 * deploywatch replay FILE... --source NAME: backfill existing log files (plain or gzip) at their
 * log time, through the same reader, assembler and parser as the agent. Each file's content
 * record is committed with its samples, so a file counted once (by the agent or an earlier
 * replay) is not counted again.
 *
 * A file is counted whole or not at all (docs/README.md, "Replay"): the store takes a series'
 * samples only after its last one, so before anything is written every series' earliest sample
 * is checked against the store, and a file that conflicts is refused with nothing stored (exit
 * 65) rather than stored in part with its error catalog and content record disagreeing with its
 * samples. The commits are all-or-nothing, which keeps that true when the agent writes the store
 * between the check and the commit.
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

/*
 * A file is written in one transaction when its samples fit (24 bytes each in memory: about
 * 24 MiB), so it lands whole or not at all. A larger one is checked to its end first and then
 * written in transactions of this many samples.
 */
#define REPLAY_BATCH 1000000
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
		     "\n"
		     "A series only takes samples after its last stored one. A file whose samples\n"
		     "would land at or before what the store already holds for any of its series\n"
		     "(say yesterday's log, into a store the agent has written since this morning)\n"
		     "is refused whole: nothing stored, not marked as counted, exit 65. Replay into\n"
		     "the store before the agent first writes it, oldest file first, or into a\n"
		     "separate store (a configuration with another storage.path).\n"
		     "\n"
		     "Exit codes: 0 ok, 64 bad arguments, 65 refused (older than the stored samples),\n"
		     "66 a file cannot be read, 73 the store cannot be opened for writing, 74 a read\n"
		     "or write failed, 78 bad configuration or unknown source.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		     "  -s, --source NAME  the source whose format the files are in (required)\n"
		     "  -h, --help         show this help\n");
}

/* What the check found: the file's series that the store already holds at or after them. */
struct replay_check {
	struct store_reader *rd;
	uint64_t series;        /* store series the file writes */
	uint64_t conflicts;     /* of them, those refused */
	int64_t since_ms;       /* the earliest stored sample among the refused series */
	char example[256];      /* the refused series stored from the earliest time, its span */
	int64_t ex_first, ex_last;
	int err;
};

struct replay_ctx {
	struct store *st;
	struct store_batch *batch;
	struct tail_replay *r;
	struct store_catalog_buf *catalog; /* exceptions for the error catalog, committed with the
					    * samples of their entries */
	bool keep;              /* samples and exceptions are kept; false: the file is only checked */
	struct store_commit_stats total;
	struct store_commit_stats refused; /* the commit refused (another writer since the check) */
	uint64_t catalog_dropped;
	struct tail_replay_stats stored; /* the counts at the last commit (what is stored) */
	uint64_t stored_offset;
};

static void on_exception(void *ctx, const struct logged_exception *x)
{
	struct replay_ctx *c = ctx;

	if (c->keep && store_catalog_buf_add(c->catalog, x))
		c->catalog_dropped++;
}

static int add_sample(void *ctx, const struct label *labels, size_t n, enum metric_type type,
		      int64_t t_ms, double v)
{
	struct replay_ctx *c = ctx;

	/* A label set the store cannot hold is skipped; the parser's caps keep them rare. */
	if (c->keep)
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

/* tail_replay_set_held: does the store hold a sample of the series at or after t_ms? A failed
 * lookup says no: the zero is then kept, and a refusal of it is reported like any other. */
static bool held(void *ctx, const struct label *labels, size_t n, int64_t t_ms)
{
	struct store_reader *rd;
	int64_t first, last;
	bool yes;

	if (store_reader_begin(ctx, &rd))
		return false;
	yes = store_series_span(rd, labels, n, &first, &last) == 0 && last >= t_ms;
	store_reader_end(rd);
	return yes;
}

/* Commit the batch with the record of how far the file was counted (all or nothing). */
static int commit(struct replay_ctx *c)
{
	struct store_commit_stats stats;
	int err;

	err = tail_replay_records(c->r, put_record, c);
	if (!err)
		err = store_batch_take_catalog(c->batch, c->catalog);
	if (!err)
		err = store_commit(c->st, c->batch, &stats);
	if (err == STORE_E_OUT_OF_ORDER)
		c->refused = stats;
	if (err)
		return err;
	c->total.samples_written += stats.samples_written;
	c->total.series_created += stats.series_created;
	tail_replay_get_stats(c->r, &c->stored);
	return 0;
}

static void progress(const char *path, const char *what, uint64_t done, uint64_t size)
{
	int pct = size ? (int)(done * 100 / size) : 100;
	char bar[41];

	if (pct > 100)
		pct = 100;
	memset(bar, '#', (size_t)pct * 40 / 100);
	memset(bar + pct * 40 / 100, '.', 40 - (size_t)pct * 40 / 100);
	bar[40] = 0;
	fprintf(stderr, "\r%s [%s] %3d%% %s", path, bar, pct, what);
}

static void span(int64_t ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* name{a="b",...} for a message, cut to 'len'. */
static void series_text(const struct label *labels, size_t n, char *out, size_t len)
{
	size_t at = (size_t)snprintf(out, len, "%s", n ? labels[0].value : "");

	for (size_t i = 1; i < n && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%s=\"%s\"", i == 1 ? "{" : ",",
				       labels[i].name, labels[i].value);
	if (n > 1 && at < len)
		snprintf(out + at, len - at, "}");
}

/* One series' earliest sample against what the store holds of it. */
static int check_first(void *ctx, const struct label *labels, size_t n, enum metric_type type,
		       int64_t t_ms, double v)
{
	struct replay_check *k = ctx;
	int64_t first, last;
	int err;

	(void)type, (void)v;
	k->series++;
	err = store_series_span(k->rd, labels, n, &first, &last);
	if (err == -ENOENT || err == -EINVAL) /* new, or skipped as add_sample() skips it */
		return 0;
	if (err) {
		k->err = err;
		return err;
	}
	if (t_ms > last)
		return 0;
	k->conflicts++;
	if (first < k->since_ms) {
		k->since_ms = first;
		k->ex_first = first;
		k->ex_last = last;
		series_text(labels, n, k->example, sizeof(k->example));
	}
	return 0;
}

/* "1 entry", "2 entries". */
static const char *pl(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* The file's summary on stdout, in its units: entries, events, samples. */
static void summary(const char *path, const struct tail_replay_stats *rs, const char *outcome)
{
	char a[32], b[32];

	printf("%s: %llu %s (%llu unmatched, %llu long %s), %llu %s (%llu late)",
	       path, (unsigned long long)rs->entries, pl(rs->entries, "entry", "entries"),
	       (unsigned long long)rs->unmatched, (unsigned long long)rs->long_lines,
	       pl(rs->long_lines, "line", "lines"), (unsigned long long)rs->events,
	       pl(rs->events, "event", "events"), (unsigned long long)rs->late);
	if (rs->first_ms <= rs->last_ms) {
		span(rs->first_ms, a, sizeof(a));
		span(rs->last_ms, b, sizeof(b));
		printf(" from %s to %s", a, b);
	}
	if (rs->skipped)
		printf("; %llu bytes already counted were skipped", (unsigned long long)rs->skipped);
	printf(": %s\n", outcome);
}

/*
 * The registry the files are parsed into, one after the other, seeded from the store as the
 * agent's is (counters continue from their stored values), so consecutive files continue each
 * other's series (histograms too, which the store does not seed). After a file that was not
 * stored whole it is made again from the store (reg_fresh), so nothing refused is counted on.
 */
struct replay_reg {
	struct registry *reg;
	struct store_appender *seed;
};

static void reg_fresh(struct replay_reg *rr, const struct config *cfg, struct store *st)
{
	store_appender_free(rr->seed);
	registry_free(rr->reg);
	rr->reg = registry_new(cfg->limits.max_series_per_metric);
	rr->seed = store_appender_new(st, rr->reg, 1);
}

struct replay_file {
	const struct config *cfg;
	const char *source;
	struct store *st;
	const char *path;
	bool tty;
	off_t size;
	struct replay_reg *rr;
};

/*
 * One pass over the file into f->rr's registry. 'chunked': commit every REPLAY_BATCH samples;
 * otherwise keep everything for one commit at the end until it grows past REPLAY_BATCH, then
 * only check. Returns 0, EXIT_NOINPUT, EXIT_CONFIG, EXIT_IOERR (read error, message printed) or a
 * store error from an intermediate commit; the caller frees what it set in 'c' (pass_release).
 */
static int replay_pass(const struct replay_file *f, struct replay_ctx *c, bool chunked)
{
	char err[512];
	char *data;
	gzFile gz;
	int rc = 0, n;

	gz = gzopen(f->path, "rb");
	if (!gz) {
		fprintf(stderr, "deploywatch replay: cannot read %s: %s\n", f->path, strerror(errno));
		return EXIT_NOINPUT;
	}
	gzbuffer(gz, READ_SIZE);
	rc = tail_replay_new(f->cfg, f->source, f->rr->reg, f->cfg->storage.sample_interval,
			     clock_now_ms(), get_record, f->st, &c->r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch replay: %s\n", err);
		gzclose(gz);
		return EXIT_CONFIG;
	}
	c->batch = store_batch_new();
	store_batch_set_all_or_nothing(c->batch, true);
	c->catalog = store_catalog_buf_new();
	c->keep = true;
	tail_replay_set_exception(c->r, on_exception, c);
	tail_replay_set_held(c->r, held, f->st);
	data = xmalloc(READ_SIZE);
	while ((n = gzread(gz, data, (unsigned)READ_SIZE)) > 0) {
		tail_replay_feed(c->r, data, (size_t)n, add_sample, c);
		if (c->keep && (store_batch_len(c->batch) >= REPLAY_BATCH ||
				store_catalog_buf_len(c->catalog) >= STORE_CATALOG_MAX_PENDING / 2)) {
			if (chunked) {
				rc = tail_replay_flush(c->r, add_sample, c);
				if (!rc)
					rc = commit(c);
				if (rc)
					break;
			} else {
				/* Too big for one transaction: check it all, then write it in
				 * parts (replay_file). */
				c->keep = false;
				store_batch_free(c->batch);
				store_catalog_buf_free(c->catalog);
				c->batch = store_batch_new();
				store_batch_set_all_or_nothing(c->batch, true);
				c->catalog = store_catalog_buf_new();
				c->catalog_dropped = 0;
			}
		}
		if (f->tty)
			progress(f->path, chunked ? "writing" : c->keep ? "" : "checking",
				 (uint64_t)gzoffset(gz), (uint64_t)f->size);
	}
	if (f->tty)
		fprintf(stderr, "\n");
	if (n < 0 && !rc) {
		int zerr;
		const char *msg = gzerror(gz, &zerr);

		fprintf(stderr, "deploywatch replay: %s: %s\n", f->path,
			zerr == Z_ERRNO ? strerror(errno) : msg);
		rc = EXIT_IOERR;
	}
	if (!rc)
		rc = tail_replay_finish(c->r, add_sample, c);
	free(data);
	gzclose(gz);
	return rc;
}

static void pass_release(struct replay_ctx *c)
{
	store_batch_free(c->batch);
	store_catalog_buf_free(c->catalog);
	tail_replay_free(c->r);
	c->batch = NULL;
	c->catalog = NULL;
	c->r = NULL;
}

/* Says what was refused, why, and what to do, on stderr. */
static void refusal(const char *path, const struct tail_replay_stats *rs,
		    const struct replay_check *k)
{
	char a[32], b[32];

	span(k->ex_first, a, sizeof(a));
	span(k->ex_last, b, sizeof(b));
	fprintf(stderr,
		"deploywatch replay: %s: refused, nothing stored (all %llu %s of its %llu %s): "
		"%llu of the %llu series they write already %s samples at or after the file's, "
		"e.g. %s, stored from %s to %s\n",
		path, (unsigned long long)rs->events, pl(rs->events, "event", "events"),
		(unsigned long long)rs->entries, pl(rs->entries, "entry", "entries"),
		(unsigned long long)k->conflicts, (unsigned long long)k->series,
		pl(k->conflicts, "holds", "hold"), k->example, a, b);
	fprintf(stderr,
		"deploywatch replay: a series takes samples only after its last stored one, and "
		"this store has held these since %s (the agent, or an earlier replay or import, "
		"wrote them). To backfill %s, replay it into a separate store (a configuration "
		"with another storage.path), or into this one before the agent first runs, oldest "
		"file first. It is not marked as counted: a later replay counts it in full\n",
		a, path);
}

static int replay_file(const struct replay_file *f)
{
	struct replay_ctx c = { .st = f->st };
	struct replay_check k = { .since_ms = INT64_MAX };
	struct tail_replay_stats rs;
	char outcome[256];
	bool whole;
	int rc;

	rc = replay_pass(f, &c, false);
	if (rc == EXIT_NOINPUT || rc == EXIT_CONFIG) {
		pass_release(&c);
		return rc;
	}
	tail_replay_get_stats(c.r, &rs);
	if (rc) {
		summary(f->path, &rs, "not stored (read error)");
		pass_release(&c);
		return EXIT_IOERR;
	}
	/* Before anything is written: every series' first sample against the store. */
	rc = store_reader_begin(f->st, &k.rd);
	if (!rc) {
		rc = tail_replay_first_samples(c.r, check_first, &k);
		store_reader_end(k.rd);
	}
	if (rc) {
		fprintf(stderr, "deploywatch replay: %s: cannot read the store: %s\n", f->path,
			err_str(k.err ? k.err : rc));
		pass_release(&c);
		return EXIT_IOERR;
	}
	if (k.conflicts) {
		summary(f->path, &rs, "refused, nothing stored");
		refusal(f->path, &rs, &k);
		pass_release(&c);
		return EXIT_DATAERR;
	}
	whole = c.keep;
	if (whole) {
		rc = commit(&c);
	} else {
		/* Checked; now written in parts, from the start again, from the registry as it
		 * was before the file: the store's (histograms of an earlier file of this run
		 * start again at 0 here; docs/README.md, "Replay"). */
		pass_release(&c);
		reg_fresh(f->rr, f->cfg, f->st);
		c = (struct replay_ctx){ .st = f->st };
		rc = replay_pass(f, &c, true);
		if (rc == EXIT_NOINPUT || rc == EXIT_CONFIG) {
			pass_release(&c);
			return rc;
		}
		if (!rc)
			rc = commit(&c);
		tail_replay_get_stats(c.r, &rs);
	}
	if (rc == STORE_E_OUT_OF_ORDER) {
		/* Between the check and the commit another writer (the agent) stored samples of
		 * these series; the refused commit wrote nothing. */
		if (c.stored.entries) {
			char t[32];

			span(c.stored.last_ms, t, sizeof(t));
			snprintf(outcome, sizeof(outcome),
				 "stopped: the first %llu entries (%llu events, logged up to %s) "
				 "stored and recorded as counted, the rest refused",
				 (unsigned long long)c.stored.entries,
				 (unsigned long long)c.stored.events, t);
		} else
			snprintf(outcome, sizeof(outcome), "refused, nothing stored");
		summary(f->path, &rs, outcome);
		fprintf(stderr,
			"deploywatch replay: %s: %llu samples of %llu series refused: another writer "
			"(the agent?) stored samples of them at or after these while the replay ran; "
			"%s\n",
			f->path, (unsigned long long)c.refused.out_of_order,
			(unsigned long long)c.refused.series_out_of_order,
			c.stored.entries ? "what was stored before is recorded as counted up to "
					   "there, nothing after it"
					 : "nothing of the file was stored and it is not marked as "
					   "counted");
		pass_release(&c);
		return EXIT_DATAERR;
	}
	if (rc) {
		char why[256];

		if (rc == EXIT_IOERR) /* a read error in the second pass, already reported */
			snprintf(why, sizeof(why), "read error");
		else
			fprintf(stderr, "deploywatch replay: %s: cannot write to the store: %s\n",
				f->path, store_last_lmdb_error(f->st, rc, why, sizeof(why)));
		snprintf(outcome, sizeof(outcome), "%llu entries stored before the %s",
			 (unsigned long long)c.stored.entries,
			 rc == EXIT_IOERR ? "read error" : "failure");
		summary(f->path, &rs, c.stored.entries ? outcome : "not stored");
		pass_release(&c);
		return EXIT_IOERR;
	}
	snprintf(outcome, sizeof(outcome), "%llu %s stored (%llu new series)",
		 (unsigned long long)c.total.samples_written,
		 pl(c.total.samples_written, "sample", "samples"),
		 (unsigned long long)c.total.series_created);
	summary(f->path, &rs, outcome);
	if (c.catalog_dropped)
		printf("%s: %llu exceptions left out of the error catalog (too many distinct "
		       "fingerprints pending)\n", f->path, (unsigned long long)c.catalog_dropped);
	pass_release(&c);
	return EXIT_OK;
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
	struct replay_reg rr = { NULL, NULL };
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
	reg_fresh(&rr, cfg, st);
	for (int i = optind; i < argc; i++) {
		struct replay_file f = { .cfg = cfg, .source = source, .st = st, .path = argv[i],
					 .tty = isatty(STDERR_FILENO), .rr = &rr };
		struct stat sb;

		f.size = stat(argv[i], &sb) == 0 ? sb.st_size : 0;
		rc = replay_file(&f);
		if (rc && exit_code == EXIT_OK)
			exit_code = rc;
		if (rc == EXIT_CONFIG)
			break;
		/* Not stored whole: what the registry counted of it is not in the store. */
		if (rc != EXIT_OK && rc != EXIT_NOINPUT)
			reg_fresh(&rr, cfg, st);
	}
	store_appender_free(rr.seed);
	registry_free(rr.reg);
	store_close(st);
	config_free(cfg);
	return exit_code;
}
