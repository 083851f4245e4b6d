/*
 * dw_store_bench: how fast the store appends and scans, and how many bytes its chunks take, on a
 * dataset written by dw_gen_dataset (OpenMetrics text with timestamps, each series' samples
 * contiguous and in time order), read with the import parser deploywatch import uses.
 *
 *   dw_store_bench append [--ticks N] DATASET DIR   the agent's pattern: one commit per timestamp
 *                                                   holding every series' sample at that time
 *   dw_store_bench load [--batch N] DATASET DIR     import's pattern: the file in order, N samples
 *                                                   per commit
 *   dw_store_bench scan DIR                         decode every sample of every series
 *   dw_store_bench payload DIR                      bytes of the chunk records (sealed + heads)
 *
 * DIR must not hold a store yet for append and load. Every figure goes to stdout as one line
 * "mode: key value key value ...", so scripts can pick them out with awk.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/registry.h"
#include "store/import.h"
#include "store/store.h"

#define BENCH_MAX_LABELS 32
#define BENCH_MAX_SERIES 100000
#define BENCH_DEFAULT_TICKS 2000
#define BENCH_DEFAULT_BATCH 100000

/* One series of the dataset: its labels (pointing into 'text') and, for append, its samples. */
struct bseries_in {
	char *text;                        /* owned: the label names and values, NUL-terminated */
	struct label labels[BENCH_MAX_LABELS];
	size_t nlabels;
	enum metric_type type;
	int64_t *ts;                       /* owned */
	double *vals;                      /* owned */
	size_t n, cap;
};

struct dataset {
	struct bseries_in *series;
	size_t nseries, cap;
	uint64_t samples;
};

struct timer {
	struct timespec wall, cpu;
};

static void timer_start(struct timer *t)
{
	clock_gettime(CLOCK_MONOTONIC, &t->wall);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t->cpu);
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

/* Seconds since timer_start: wall clock and this process's CPU time. */
static void timer_stop(const struct timer *t, double *wall, double *cpu)
{
	struct timespec w, c;

	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
	*wall = ts_diff(&t->wall, &w);
	*cpu = ts_diff(&t->cpu, &c);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: dw_store_bench append [--ticks N] DATASET DIR\n"
		     "       dw_store_bench load [--batch N] DATASET DIR\n"
		     "       dw_store_bench scan DIR\n"
		     "       dw_store_bench payload DIR\n");
}

static void series_free_all(struct dataset *d)
{
	for (size_t i = 0; i < d->nseries; i++) {
		free(d->series[i].text);
		free(d->series[i].ts);
		free(d->series[i].vals);
	}
	free(d->series);
}

struct reader {
	const char *path;
	struct dataset *d;
	size_t max_per_series;
	int (*fn)(void *ctx, const struct bseries_in *s, int64_t t, double v);
	void *ctx;
	unsigned long malformed;
};

static bool same_series(const struct bseries_in *s, const struct store_import_sample *x)
{
	if (s->nlabels != x->nlabels)
		return false;
	for (size_t i = 0; i < x->nlabels; i++)
		if (strcmp(s->labels[i].value, x->labels[i].value) ||
		    strcmp(s->labels[i].name, x->labels[i].name))
			return false;
	return true;
}

/* Start a series with a copy of the sample's labels. */
static int add_series(struct dataset *d, const struct store_import_sample *x)
{
	struct bseries_in *s;
	size_t len = 0;
	char *p;

	if (d->nseries == BENCH_MAX_SERIES || x->nlabels > BENCH_MAX_LABELS)
		return -E2BIG;
	if (d->nseries == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->series = xrealloc(d->series, d->cap * sizeof(*d->series));
	}
	s = &d->series[d->nseries++];
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < x->nlabels; i++)
		len += strlen(x->labels[i].name) + strlen(x->labels[i].value) + 2;
	p = s->text = xmalloc(len);
	for (size_t i = 0; i < x->nlabels; i++) {
		s->labels[i].name = strcpy(p, x->labels[i].name);
		p += strlen(p) + 1;
		s->labels[i].value = strcpy(p, x->labels[i].value);
		p += strlen(p) + 1;
	}
	s->nlabels = x->nlabels;
	s->type = x->type;
	return 0;
}

/* One sample from the project's own import parser; each series' samples are contiguous. */
static int read_sample(void *ctx, size_t line, const struct store_import_sample *x)
{
	struct reader *r = ctx;
	struct dataset *d = r->d;
	struct bseries_in *s = d->nseries ? &d->series[d->nseries - 1] : NULL;

	if (!s || !same_series(s, x)) {
		if (add_series(d, x)) {
			fprintf(stderr, "dw_store_bench: %s:%zu: more than %d series or %d labels\n",
				r->path, line, BENCH_MAX_SERIES, BENCH_MAX_LABELS);
			return -E2BIG;
		}
		s = &d->series[d->nseries - 1];
	}
	d->samples++;
	if (r->fn)
		return r->fn(r->ctx, s, x->t_ms, x->v);
	if (s->n < r->max_per_series) {
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 1024;
			s->ts = xrealloc(s->ts, s->cap * sizeof(*s->ts));
			s->vals = xrealloc(s->vals, s->cap * sizeof(*s->vals));
		}
		s->ts[s->n] = x->t_ms;
		s->vals[s->n++] = x->v;
	}
	return 0;
}

static void read_malformed(void *ctx, size_t line, const char *msg)
{
	struct reader *r = ctx;

	fprintf(stderr, "dw_store_bench: %s:%zu: %s\n", r->path, line, msg);
	r->malformed++;
}

/*
 * Read the dataset with the import parser. With 'max_per_series' > 0 the first that many samples
 * of every series are kept in memory (append); with 0 every sample is handed to 'fn' in file
 * order instead (load).
 */
static int read_dataset(const char *path, size_t max_per_series, struct dataset *d,
			int (*fn)(void *ctx, const struct bseries_in *s, int64_t t, double v),
			void *ctx)
{
	struct reader r = { path, d, max_per_series, fn, ctx, 0 };
	struct store_import_parser *p;
	static char data[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;
	int rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "dw_store_bench: %s: %s\n", path, strerror(errno));
		return rc;
	}
	p = store_import_parser_new(STORE_IMPORT_AUTO, read_sample, read_malformed, &r);
	while (!rc && (n = fread(data, 1, sizeof(data), f)) > 0)
		rc = store_import_parser_feed(p, data, n);
	if (!rc)
		rc = store_import_parser_finish(p);
	store_import_parser_free(p);
	fclose(f);
	return rc ? rc : r.malformed ? -EINVAL : 0;
}

static int open_store(const char *dir, bool read_only, struct store **st)
{
	const struct store_options opt = {
		.path = dir,
		.retention_ms = INT64_MAX / 4,
		.read_only = read_only,
	};
	char err[512];
	int rc = store_open(&opt, st, err, sizeof(err));

	if (rc)
		fprintf(stderr, "dw_store_bench: %s\n", err);
	return rc;
}

static int bench_append(const char *dataset, const char *dir, size_t ticks)
{
	struct dataset d = { 0 };
	struct store_batch *b;
	struct store *st;
	struct timer tm;
	uint64_t samples = 0, commits = 0;
	double wall, cpu;
	int rc;

	rc = read_dataset(dataset, ticks, &d, NULL, NULL);
	if (rc)
		goto out_free;
	rc = open_store(dir, false, &st);
	if (rc)
		goto out_free;
	b = store_batch_new();
	timer_start(&tm);
	for (size_t i = 0; i < ticks && !rc; i++) {
		for (size_t k = 0; k < d.nseries && !rc; k++) {
			const struct bseries_in *s = &d.series[k];

			if (i < s->n)
				rc = store_batch_add(b, s->labels, s->nlabels, s->type, s->ts[i],
						     s->vals[i]);
		}
		if (rc || !store_batch_len(b))
			break;
		samples += store_batch_len(b);
		rc = store_commit(st, b, NULL);
		commits++;
	}
	timer_stop(&tm, &wall, &cpu);
	if (rc)
		fprintf(stderr, "dw_store_bench: append: %s\n", err_str(rc));
	else
		printf("append: series %zu samples %" PRIu64 " commits %" PRIu64
		       " wall_s %.3f cpu_s %.3f samples_per_s %.0f samples_per_cpu_s %.0f"
		       " ms_per_commit %.3f\n",
		       d.nseries, samples, commits, wall, cpu, (double)samples / wall,
		       (double)samples / cpu, wall * 1000.0 / (double)commits);
	store_batch_free(b);
	store_close(st);
out_free:
	series_free_all(&d);
	return rc;
}

struct load_ctx {
	struct store *st;
	struct store_batch *b;
	size_t batch;
	uint64_t commits, written;
};

static int load_flush(struct load_ctx *c)
{
	struct store_commit_stats stats;
	int rc;

	if (!store_batch_len(c->b))
		return 0;
	rc = store_commit(c->st, c->b, &stats);
	if (rc) {
		fprintf(stderr, "dw_store_bench: load: %s\n", err_str(rc));
		return rc;
	}
	c->commits++;
	c->written += stats.samples_written;
	return 0;
}

static int load_sample(void *ctx, const struct bseries_in *s, int64_t t, double v)
{
	struct load_ctx *c = ctx;
	int rc = store_batch_add(c->b, s->labels, s->nlabels, s->type, t, v);

	if (rc)
		return rc;
	return store_batch_len(c->b) >= c->batch ? load_flush(c) : 0;
}

static int bench_load(const char *dataset, const char *dir, size_t batch)
{
	struct load_ctx c = { .batch = batch };
	struct dataset d = { 0 };
	struct timer tm;
	double wall, cpu;
	int rc;

	rc = open_store(dir, false, &c.st);
	if (rc)
		return rc;
	c.b = store_batch_new();
	timer_start(&tm);
	rc = read_dataset(dataset, 0, &d, load_sample, &c);
	if (!rc)
		rc = load_flush(&c);
	timer_stop(&tm, &wall, &cpu);
	if (!rc)
		printf("load: series %zu samples %" PRIu64 " written %" PRIu64 " commits %" PRIu64
		       " wall_s %.3f cpu_s %.3f samples_per_s %.0f\n",
		       d.nseries, d.samples, c.written, c.commits, wall, cpu,
		       (double)d.samples / wall);
	store_batch_free(c.b);
	store_close(c.st);
	series_free_all(&d);
	return rc;
}

struct scan_ctx {
	uint64_t samples;
	double sum;     /* so the decoded values are used */
};

static int scan_sample(void *ctx, int64_t t_ms, double v)
{
	struct scan_ctx *c = ctx;

	(void)t_ms;
	c->samples++;
	c->sum += v;
	return 0;
}

static int bench_scan(const char *dir)
{
	const struct matcher all = { "__name__", MATCH_RE, ".+" };
	struct store_series_set *set;
	struct store_reader *r;
	struct scan_ctx c = { 0 };
	struct store *st;
	struct timer tm;
	double wall, cpu;
	char err[256];
	size_t n = 0;
	int rc;

	rc = open_store(dir, true, &st);
	if (rc)
		return rc;
	timer_start(&tm);
	rc = store_reader_begin(st, &r);
	if (rc)
		goto out_close;
	rc = store_select(r, &all, 1, INT64_MIN, INT64_MAX, &set, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dw_store_bench: scan: %s\n", err);
		goto out_end;
	}
	n = store_series_set_len(set);
	for (size_t i = 0; i < n && !rc; i++)
		rc = store_read_samples(r, store_series_set_id(set, i), INT64_MIN, INT64_MAX,
					scan_sample, &c);
	store_series_set_free(set);
out_end:
	store_reader_end(r);
	timer_stop(&tm, &wall, &cpu);
	if (rc)
		fprintf(stderr, "dw_store_bench: scan: %s\n", err_str(rc));
	else
		printf("scan: series %zu samples %" PRIu64 " wall_s %.3f cpu_s %.3f"
		       " samples_per_s %.0f checksum %g\n",
		       n, c.samples, wall, cpu, (double)c.samples / wall, c.sum);
out_close:
	store_close(st);
	return rc;
}

/* Sum the sizes of every record of one named database. */
static int db_bytes(MDB_txn *txn, const char *name, uint64_t *bytes, uint64_t *records)
{
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_dbi dbi;
	int rc;

	rc = mdb_dbi_open(txn, name, 0, &dbi);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		*bytes += v.mv_size;
		(*records)++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The chunk payload alone, read with LMDB directly (read-only) beside the store's own code. */
static int bench_payload(const char *dir)
{
	uint64_t chunk_bytes = 0, chunks = 0, head_bytes = 0, heads = 0;
	MDB_env *env;
	MDB_txn *txn;
	int rc;

	rc = mdb_env_create(&env);
	if (rc)
		goto out;
	mdb_env_set_maxdbs(env, 16);
	rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0644);
	if (rc)
		goto out_env;
	rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc)
		goto out_env;
	rc = db_bytes(txn, "chunks", &chunk_bytes, &chunks);
	if (!rc)
		rc = db_bytes(txn, "heads", &head_bytes, &heads);
	mdb_txn_abort(txn);
	if (!rc)
		printf("payload: chunks %" PRIu64 " chunk_bytes %" PRIu64 " heads %" PRIu64
		       " head_bytes %" PRIu64 " bytes %" PRIu64 "\n",
		       chunks, chunk_bytes, heads, head_bytes, chunk_bytes + head_bytes);
out_env:
	mdb_env_close(env);
out:
	if (rc)
		fprintf(stderr, "dw_store_bench: payload: %s: %s\n", dir, mdb_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "ticks", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t ticks = BENCH_DEFAULT_TICKS, batch = BENCH_DEFAULT_BATCH;
	const char *mode;
	int opt, rc;

	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	mode = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			ticks = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (!strcmp(mode, "append") && argc - optind == 2 && ticks > 0)
		rc = bench_append(argv[optind], argv[optind + 1], ticks);
	else if (!strcmp(mode, "load") && argc - optind == 2 && batch > 0)
		rc = bench_load(argv[optind], argv[optind + 1], batch);
	else if (!strcmp(mode, "scan") && argc - optind == 1)
		rc = bench_scan(argv[optind]);
	else if (!strcmp(mode, "payload") && argc - optind == 1)
		rc = bench_payload(argv[optind]);
	else {
		usage(stderr);
		return 64;
	}
	return rc ? 1 : 0;
}
