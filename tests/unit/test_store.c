/*
 * The LMDB store: open and format checks, commits with head chunks and sealing, reopen, ordering,
 * selection with Prometheus matcher semantics, time ranges, labels, retention, map growth and
 * write faults, the appender on a real registry, and a reader process beside a writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/registry.h"
#include "store/chunk.h"
#include "store/store.h"
#include "store/store_int.h"

/* ---- helpers ---- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct fixture {
	char dir[200];
	char path[256];    /* the store directory inside dir */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	size_t len;

	snprintf(f->dir, sizeof(f->dir) - 7, "%s/dw-store-test-", tmp && *tmp ? tmp : "/tmp");
	/* mkdtemp's template: six X characters, written out by count. */
	len = strlen(f->dir);
	memset(f->dir + len, 'X', 6);
	f->dir[len + 6] = '\0';
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/data", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store *open_store(const char *path, bool ro, size_t map, int64_t retention)
{
	struct store_options opt = { .path = path, .read_only = ro, .initial_map_size = map,
				     .retention_ms = retention };
	struct store *st = NULL;
	char err[256];
	int rc = store_open(&opt, &st, err, sizeof(err));

	if (rc)
		fprintf(stderr, "store_open: %d %s\n", rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(st);
	return st;
}

/* Add one sample: labels as name, value pairs after the metric name, NULL-terminated. */
static int add(struct store_batch *b, const char *metric, int64_t t, double v, ...)
{
	struct label l[16];
	size_t n = 0;
	va_list ap;

	l[n].name = "__name__";
	l[n++].value = metric;
	va_start(ap, v);
	for (;;) {
		const char *name = va_arg(ap, const char *);

		if (!name)
			break;
		l[n].name = name;
		l[n++].value = va_arg(ap, const char *);
	}
	va_end(ap);
	return store_batch_add(b, l, n, METRIC_GAUGE, t, v);
}

static double stale_nan(void)
{
	uint64_t bits = MODEL_STALE_NAN_BITS;
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static uint64_t bits_of(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

struct samples {
	int64_t t[20000];
	double v[20000];
	size_t n;
};

static int collect(void *ctx, int64_t t, double v)
{
	struct samples *s = ctx;

	if (s->n >= 20000)
		return -E2BIG;
	s->t[s->n] = t;
	s->v[s->n] = v;
	s->n++;
	return 0;
}

/* Select with one matcher set and return the set (asserting success). */
static struct store_series_set *sel(struct store_reader *r, const struct matcher *m, size_t nm,
				    int64_t from, int64_t to)
{
	struct store_series_set *set = NULL;
	char err[256];
	int rc = store_select(r, m, nm, from, to, &set, err, sizeof(err));

	if (rc)
		fprintf(stderr, "store_select: %d %s\n", rc, err);
	assert_int_equal(rc, 0);
	return set;
}

/* The label set of series i formatted as {a="b",c="d"} (with __name__ as a label). */
static const char *fmt_series(const struct store_series_set *set, size_t i)
{
	static char out[512];
	size_t n, o = 0;
	const struct label *l = store_series_set_labels(set, i, &n);

	o += (size_t)snprintf(out + o, sizeof(out) - o, "{");
	for (size_t j = 0; j < n; j++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s=\"%s\"", j ? "," : "",
				      l[j].name, l[j].value);
	snprintf(out + o, sizeof(out) - o, "}");
	return out;
}

/* Series of 'metric' by id: the id of the only series matching __name__=metric plus labels. */
static uint64_t series_id(struct store *st, const char *metric, const char *lname,
			  const char *lvalue)
{
	struct store_reader *r;
	struct matcher m[2] = { { "__name__", MATCH_EQ, metric }, { lname, MATCH_EQ, lvalue } };
	struct store_series_set *set;
	uint64_t id;

	assert_int_equal(store_reader_begin(st, &r), 0);
	set = sel(r, m, lname ? 2 : 1, INT64_MIN, INT64_MAX);
	assert_int_equal(store_series_set_len(set), 1);
	id = store_series_set_id(set, 0);
	store_series_set_free(set);
	store_reader_end(r);
	return id;
}

static void read_all(struct store *st, uint64_t id, int64_t from, int64_t to, struct samples *s)
{
	struct store_reader *r;

	s->n = 0;
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_read_samples(r, id, from, to, collect, s), 0);
	store_reader_end(r);
}

/* Count the chunk records of series 'id' with raw LMDB (read-only, beside the open store). */
static size_t count_chunks(const char *path, uint64_t id)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, d;
	size_t n = 0;
	int rc;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "chunks", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		assert_int_equal(k.mv_size, 16);
		assert_true(d.mv_size <= STORE_SEAL_BYTES);
		if (store_get_be64(k.mv_data) == id)
			n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

/* ---- open and format ---- */

static void test_open_create_reopen(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = { .path = f->path, .read_only = true };
	struct store *st;
	struct store_batch *b;
	struct store_reader *r;
	struct buf out;
	char err[256];
	int rc;

	/* A reader never creates anything. */
	rc = store_open(&opt, &st, err, sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_null(st);
	assert_non_null(strstr(err, f->path));

	st = open_store(f->path, false, 0, 0);
	b = store_batch_new();
	/* The last record for a key wins within a batch. */
	assert_int_equal(store_batch_put_meta(b, "offset/laravel.log", "99", 2), 0);
	assert_int_equal(store_batch_put_meta(b, "offset/laravel.log", "1234", 4), 0);
	assert_int_equal(add(b, "up", 1000, 1, NULL), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	assert_int_equal(store_batch_len(b), 0);
	store_close(st);

	st = open_store(f->path, false, 0, 0);
	assert_int_equal(store_reader_begin(st, &r), 0);
	buf_init(&out, 0);
	assert_int_equal(store_reader_get_meta(r, "offset/laravel.log", &out), 0);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "1234", 4);
	assert_int_equal(store_reader_get_meta(r, "offset/other", &out), -ENOENT);
	store_reader_end(r);
	store_close(st);

	/* Read-only beside nothing else. */
	st = open_store(f->path, true, 0, 0);
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_reader_get_meta(r, "offset/laravel.log", &out), 0);
	assert_memory_equal(out.data, "1234", 4);
	store_reader_end(r);
	buf_release(&out);
	store_batch_free(b);
	store_close(st);
	store_close(NULL);
}

static void raw_put(const char *path, const char *db, const char *key, const void *val,
		    size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)key }, d = { len, (void *)val };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	mkdir(path, 0750);
	assert_int_equal(mdb_env_open(env, path, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void expect_refused(const char *path, bool ro, const char *needle)
{
	struct store_options opt = { .path = path, .read_only = ro };
	struct store *st;
	char err[256];

	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), STORE_E_FORMAT);
	assert_null(st);
	if (!strstr(err, needle))
		fprintf(stderr, "message: %s\n", err);
	assert_non_null(strstr(err, needle));
	assert_non_null(strstr(err, path));
}

static void test_format_refusal(void **state)
{
	struct fixture *f = *state;
	uint8_t rec[16] = "DWSTORE";
	char other[300];
	struct store *st;

	st = open_store(f->path, false, 0, 0);
	store_close(st);
	/* Version 2: newer than this build reads, for writers and readers alike. */
	rec[8] = 0;
	rec[9] = 0;
	rec[10] = 0;
	rec[11] = 2;
	raw_put(f->path, "meta", STORE_FORMAT_KEY, rec, sizeof(rec));
	expect_refused(f->path, false, "newer");
	expect_refused(f->path, true, "newer");
	/* Put version 1 back: accepted again. */
	rec[11] = 1;
	raw_put(f->path, "meta", STORE_FORMAT_KEY, rec, sizeof(rec));
	st = open_store(f->path, true, 0, 0);
	store_close(st);
	/* A foreign magic. */
	raw_put(f->path, "meta", STORE_FORMAT_KEY, "SOMEONE ELSE 1.0", 16);
	expect_refused(f->path, false, "foreign");

	/* Somebody else's LMDB environment: never written into. */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	raw_put(other, "accounts", "alice", "42", 2);
	expect_refused(other, false, "foreign");
	expect_refused(other, true, "not a deploywatch store");
}

/* What an agent leaves between mdb_env_open and its first commit: data.mdb with its meta pages
 * and nothing committed. Closed at once: one process opens an environment once (LMDB's rule). */
static void empty_env(const char *path)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	mkdir(path, 0750);
	assert_int_equal(mdb_env_open(env, path, 0, 0640), 0);
	mdb_env_close(env);
}

/* A reader opening a store the agent is creating: it waits for the first commit instead of
 * calling the store foreign (a `dump` run as `run` starts); an environment still empty after the
 * wait is "no store yet" (-ENOENT, as a missing store), not a format error. */
static void test_open_while_created(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = { .path = f->path, .read_only = true };
	struct store *st;
	char err[256];
	pid_t pid;
	int status;

	empty_env(f->path);
	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), -ENOENT);
	assert_null(st);
	assert_non_null(strstr(err, "no store yet"));
	assert_non_null(strstr(err, f->path));

	/* Another process (the agent) commits the store while the reader waits. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_options w = { .path = f->path };
		struct timespec ts = { 0, 200 * 1000000L };

		nanosleep(&ts, NULL);
		_exit(store_open(&w, &st, err, sizeof(err)) ? 1 : (store_close(st), 0));
	}
	st = open_store(f->path, true, 0, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(st);
}

static void test_invalid_labels(void **state)
{
	struct store_batch *b = store_batch_new();
	struct label nolabel[] = { { "job", "x" } };
	struct label dup[] = { { "__name__", "m" }, { "a", "1" }, { "a", "2" } };
	char longv[600];

	(void)state;
	assert_int_equal(store_batch_add(b, nolabel, 1, METRIC_GAUGE, 1, 1), -EINVAL);
	assert_int_equal(store_batch_add(b, dup, 3, METRIC_GAUGE, 1, 1), -EINVAL);
	assert_int_equal(add(b, "bad-name", 1, 1, NULL), -EINVAL);
	assert_int_equal(add(b, "m", 1, 1, "0bad", "x", NULL), -EINVAL);
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	assert_int_equal(add(b, "m", 1, 1, "v", longv, NULL), -EINVAL);
	assert_int_equal(store_batch_len(b), 0);
	assert_int_equal(add(b, "ns:m", 1, 1, "le", "+Inf", NULL), 0);
	assert_int_equal(store_batch_len(b), 1);
	char key[300];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(store_batch_put_meta(b, key, "x", 1), -EINVAL);
	assert_int_equal(store_batch_put_meta(b, "k", longv, 2000), -EINVAL);
	store_batch_free(b);
	store_batch_free(NULL);
}

/* ---- the on-disk layout of docs/store-format.md, byte for byte ---- */

struct rawrec {
	uint8_t k[64], v[64];
	size_t kl, vl;
};

/* Read every record of named database 'db' (at most 'max', keys and values cut at 64 bytes). */
static size_t raw_dump(const char *path, const char *db, struct rawrec *out, size_t max)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, d;
	size_t n = 0;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	while (n < max && mdb_cursor_get(cur, &k, &d, MDB_NEXT) == 0) {
		out[n].kl = k.mv_size;
		out[n].vl = d.mv_size;
		memcpy(out[n].k, k.mv_data, k.mv_size < 64 ? k.mv_size : 64);
		memcpy(out[n].v, d.mv_data, d.mv_size < 64 ? d.mv_size : 64);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void test_layout(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct rawrec rec[8];
	static const char canon[] = "__name__\0m\0a\0x";   /* + the final NUL of the literal */
	const uint8_t one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 }, two[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
	uint8_t key[16];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n, cnt;
	int64_t first, last;

	assert_int_equal(add(b, "m", -1, 1, "a", "x", NULL), 0);
	assert_int_equal(add(b, "m", 5, 2, "a", "x", "empty", "", NULL), 0);
	for (int i = 0; i < STORE_SEAL_SAMPLES; i++)
		assert_int_equal(add(b, "sealed", 1000 + i, 0, NULL), 0);
	assert_int_equal(store_batch_put_meta(b, "offset", "7", 1), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	store_close(st);

	/* meta: the format record, the next id, the caller's record under user/. */
	n = raw_dump(f->path, "meta", rec, 8);
	assert_int_equal(n, 3);
	assert_int_equal(rec[0].kl, 10);
	assert_memory_equal(rec[0].k, "sys/format", 10);
	assert_int_equal(rec[0].vl, 16);
	assert_memory_equal(rec[0].v, "DWSTORE\0\0\0\0\1\0\0\0\0", 16);
	assert_memory_equal(rec[1].k, "sys/next_id", 11);
	assert_int_equal(rec[1].vl, 8);
	assert_memory_equal(rec[1].v, "\0\0\0\0\0\0\0\3", 8);
	assert_memory_equal(rec[2].k, "user/offset", 11);
	assert_memory_equal(rec[2].v, "7", 1);

	/* series: BE id -> type byte + canonical labels (the empty label is not stored). */
	n = raw_dump(f->path, "series", rec, 8);
	assert_int_equal(n, 2);
	assert_memory_equal(rec[0].k, one, 8);
	assert_int_equal(rec[0].vl, 1 + sizeof(canon));
	assert_int_equal(rec[0].v[0], METRIC_GAUGE);
	assert_memory_equal(rec[0].v + 1, canon, sizeof(canon));

	/* series_by_key: BE FNV-1a 64 of the canonical bytes -> BE id. */
	for (size_t i = 0; i < sizeof(canon); i++) {
		h ^= (uint8_t)canon[i];
		h *= 0x100000001b3ULL;
	}
	be64(key, h);
	n = raw_dump(f->path, "series_by_key", rec, 8);
	assert_int_equal(n, 2);
	assert_true((rec[0].kl == 8 && !memcmp(rec[0].k, key, 8) && !memcmp(rec[0].v, one, 8)) ||
		    (rec[1].kl == 8 && !memcmp(rec[1].k, key, 8) && !memcmp(rec[1].v, one, 8)));

	/* postings: name \0 value -> BE id, in key order. */
	n = raw_dump(f->path, "postings", rec, 8);
	assert_int_equal(n, 3);
	assert_int_equal(rec[0].kl, 10);
	assert_memory_equal(rec[0].k, "__name__\0m", 10);
	assert_memory_equal(rec[0].v, one, 8);
	assert_memory_equal(rec[1].k, "__name__\0sealed", 15);
	assert_memory_equal(rec[1].v, two, 8);
	assert_int_equal(rec[2].kl, 3);
	assert_memory_equal(rec[2].k, "a\0x", 3);
	assert_memory_equal(rec[2].v, one, 8);

	/* heads: BE id -> the open chunk; chunks: BE id ‖ BE (t ^ 2^63) -> a sealed chunk. */
	n = raw_dump(f->path, "heads", rec, 8);
	assert_int_equal(n, 1);
	assert_memory_equal(rec[0].k, one, 8);
	n = raw_dump(f->path, "chunks", rec, 8);
	assert_int_equal(n, 1);
	assert_int_equal(rec[0].kl, 16);
	be64(key, 2);
	be64(key + 8, (uint64_t)1000 ^ ((uint64_t)1 << 63));
	assert_memory_equal(rec[0].k, key, 16);
	assert_int_equal(rec[0].vl <= 64, 1);
	assert_int_equal(chunk_peek(rec[0].v, rec[0].vl, &cnt, &first, &last), 0);
	assert_int_equal(cnt, STORE_SEAL_SAMPLES);
	assert_int_equal(first, 1000);
	assert_int_equal(last, 1000 + STORE_SEAL_SAMPLES - 1);
	store_batch_free(b);
}

/* ---- writing and reading back ---- */

static double value_at(int i)
{
	/* Mixed shapes: decimals, integers, and the special values every 50th sample. */
	switch (i % 50) {
	case 7:
		return INFINITY;
	case 8:
		return -INFINITY;
	case 9:
		return -0.0;
	case 10:
		return stale_nan();
	default:
		return (i % 3) ? i * 0.25 + 0.01 : (double)i;
	}
}

/* Scaling would quiet the stale marker's NaN: NaNs stay as they are. */
static double scaled(int i, double scale)
{
	double v = value_at(i);

	return isnan(v) ? v : v * scale;
}

static void check_series(struct store *st, uint64_t id, int n, int64_t step, double scale)
{
	static struct samples s;

	read_all(st, id, INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, (size_t)n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(s.t[i], 1000000 + (int64_t)i * step);
		assert_int_equal(bits_of(s.v[i]), bits_of(scaled(i, scale)));
	}
}

/* ---- store_read_windows: the samples inside a set of windows ---- */

#define WT(k) (1000000 + (int64_t)(k) * 10000) /* sample k of the windows series, 10 s apart */
#define WN 1000

/* The windows series: 1000 samples, stale markers on both sides of a chunk edge and inside. */
static double win_value(int k)
{
	if (k == STORE_SEAL_SAMPLES - 1 || k == STORE_SEAL_SAMPLES || k == 500)
		return stale_nan();
	return k % 3 ? (double)k : scaled(k, 1.000000123456789); /* decimal and XOR chunks */
}

/* Read 'nw' windows and compare with the samples filtered by hand, bit for bit. */
static void check_windows(struct store *st, uint64_t id, const int64_t *from, const int64_t *to,
			  size_t nw)
{
	struct store_reader *r;
	const int64_t *t;
	const double *v;
	size_t n, want = 0;

	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_read_windows(r, id, from, to, nw, WN, &t, &v, &n), 0);
	for (int k = 0; k < WN; k++) {
		bool in = false;

		for (size_t w = 0; w < nw && !in; w++)
			in = WT(k) >= from[w] && WT(k) <= to[w];
		if (!in)
			continue;
		if (want >= n || t[want] != WT(k) || bits_of(v[want]) != bits_of(win_value(k)))
			fail_msg("windows: sample %d (t %lld) missing or wrong at %zu of %zu", k,
				 (long long)WT(k), want, n);
		want++;
	}
	assert_int_equal(n, want);
	store_reader_end(r);
}

static void test_read_windows(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_reader *r;
	const int64_t *t;
	const double *v;
	size_t n;
	uint64_t id;
	/* Rows of up to 4 windows [from, to]; 0, 0 ends a row. In sample units via WT(). */
	static const struct {
		const char *what;
		int64_t w[8];
	} rows[] = {
		{ "everything", { INT64_MIN, INT64_MAX } },
		{ "one sample, both edges on it", { WT(5), WT(5) } },
		{ "a chunk edge inside the window", { WT(230), WT(250) } },
		{ "split at the chunk edge, stale markers at both edges",
		  { WT(235), WT(239), WT(240), WT(245) } },
		{ "a 5m lookback crossing into the previous chunk", { WT(240) - 300000, WT(240) } },
		{ "between two samples", { WT(3) + 1, WT(4) - 1 } },
		{ "1h steps, 5m windows: chunks in between skipped",
		  { WT(0) - 300000, WT(0), WT(360) - 300000, WT(360), WT(720) - 300000, WT(720),
		    WT(999) - 300000, WT(999) } },
		{ "before the first and past the last sample", { WT(-100), WT(2000) } },
		{ "only in the head", { WT(990), WT(995), WT(998), WT(999) } },
		{ "two windows in one chunk, the second further in",
		  { WT(10), WT(20), WT(30), WT(40) } },
		{ "a straddling chunk that reaches the next window", { WT(200), WT(250), WT(260),
								     WT(270) } },
		{ "edges just off the samples", { WT(100) + 1, WT(110) - 1, WT(479) + 1, WT(481) } },
	};
	uint64_t seed = 42;

	for (int k = 0; k < WN; k++) {
		assert_int_equal(add(b, "win", WT(k), win_value(k), NULL), 0);
		if (k % 100 == 99)
			assert_int_equal(store_commit(st, b, NULL), 0);
	}
	store_batch_free(b);
	id = series_id(st, "win", NULL, NULL);
	assert_true(count_chunks(f->path, id) >= 4);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t nw = 0;

		while (nw < 4 && (rows[i].w[2 * nw] || rows[i].w[2 * nw + 1]))
			nw++;
		print_message("windows: %s\n", rows[i].what);
		check_windows(st, id, rows[i].w, rows[i].w + 1, 0); /* no windows: nothing */
		{
			int64_t from[4], to[4];

			for (size_t w = 0; w < nw; w++) {
				from[w] = rows[i].w[2 * w];
				to[w] = rows[i].w[2 * w + 1];
			}
			check_windows(st, id, from, to, nw);
		}
	}
	/* Random window sets, ascending and disjoint, against the same filter by hand. */
	for (int round = 0; round < 300; round++) {
		int64_t from[8], to[8], at = WT(-20);
		size_t nw = 1 + (size_t)(seed >> 33) % 8;

		for (size_t w = 0; w < nw; w++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			from[w] = at + 1 + (int64_t)((seed >> 33) % 1500000);
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			to[w] = from[w] + (int64_t)((seed >> 33) % 3000000);
			at = to[w];
		}
		check_windows(st, id, from, to, nw);
	}

	assert_int_equal(store_reader_begin(st, &r), 0);
	{
		int64_t from[2] = { WT(10), WT(20) }, to[2] = { WT(20), WT(30) };
		int64_t all_from = INT64_MIN, all_to = INT64_MAX;

		/* Overlapping windows are the caller's mistake. */
		assert_int_equal(store_read_windows(r, id, from, to, 2, WN, &t, &v, &n), -EINVAL);
		/* The limit counts the samples inside the windows. */
		assert_int_equal(store_read_windows(r, id, &all_from, &all_to, 1, WN - 1, &t, &v,
						    &n), -E2BIG);
		assert_int_equal(store_read_windows(r, id, &all_from, &all_to, 1, WN, &t, &v, &n),
				 0);
		assert_int_equal(n, WN);
	}
	store_reader_end(r);
	store_close(st);
}

/*
 * Chunks that miss every window are never decoded: with the body of one sealed chunk in the
 * middle overwritten (its header intact), windows around it read fine; one inside it does not.
 */
static void test_read_windows_skip(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_reader *r;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, d;
	uint8_t key[16], body[STORE_SEAL_BYTES];
	int64_t first = 0, last = 0, kt;
	size_t seen = 0, hl = 1;
	uint64_t id, kid;
	const int64_t *t;
	const double *v;
	size_t n;
	int rc;

	for (int i = 0; i < WN; i++) {
		assert_int_equal(add(b, "win", WT(i), win_value(i), NULL), 0);
		if (i % 100 == 99)
			assert_int_equal(store_commit(st, b, NULL), 0);
	}
	store_batch_free(b);
	id = series_id(st, "win", NULL, NULL);
	store_close(st);

	/* The third sealed chunk: keep the header (version, n, first, span), garble the rest. */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, f->path, MDB_NOTLS, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "chunks", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		store_chunk_key_parse(k.mv_data, &kid, &kt);
		if (kid == id && seen++ == 2)
			break;
	}
	assert_int_equal(rc, 0);
	memcpy(key, k.mv_data, 16);
	assert_true(d.mv_size <= sizeof(body));
	memcpy(body, d.mv_data, d.mv_size);
	assert_int_equal(chunk_peek(body, d.mv_size, NULL, &first, &last), 0);
	for (int field = 0; field < 3; field++) /* the three uvarints after the version */
		while (body[hl++] & 0x80)
			;
	memset(body + hl, 0xff, d.mv_size - hl); /* 0xff is no time mode */
	d.mv_data = body;
	k.mv_size = 16;
	k.mv_data = key;
	mdb_cursor_close(cur);
	assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	st = open_store(f->path, false, 0, 0);
	{
		/* windows before, between (ending right before its first sample) and after it */
		int64_t from[3] = { WT(10), first - 300000, last + 1 };
		int64_t to[3] = { WT(20), first - 1, WT(999) };

		check_windows(st, id, from, to, 3);
	}
	assert_int_equal(store_reader_begin(st, &r), 0);
	{
		int64_t from[2] = { WT(10), last }, to[2] = { WT(20), last };

		assert_int_equal(store_read_windows(r, id, from, to, 2, WN, &t, &v, &n),
				 STORE_E_CORRUPT);
	}
	store_reader_end(r);
	store_close(st);
}

/* ---- store_read_windows_batch: several series at once, decoded on the helper threads ---- */

#define PAR_SERIES 6
/* Samples per series: large ones past the parallel threshold, small, empty in the windows. */
static const int par_len[PAR_SERIES] = { 40000, 5, 30, 20000, 30000, 1000 };

/* Series s's value k: decimals, XOR-only noise, stale markers inside and at chunk edges. */
static double par_value(int s, int k)
{
	if (k % 997 == 0 || k == STORE_SEAL_SAMPLES * 3)
		return stale_nan();
	switch (s % 3) {
	case 0: return (double)(k / 7) + 0.25 * (k % 4);
	case 1: return scaled(k, 1.000000123456789);
	default: return (double)(k * s);
	}
}

static void par_write(struct store *st, const char *metric)
{
	struct store_batch *b = store_batch_new();

	for (int s = 0; s < PAR_SERIES; s++) {
		char lv[8];

		snprintf(lv, sizeof(lv), "%d", s);
		/* series 2's samples all lie before the windows read below */
		for (int k = 0; k < par_len[s]; k++) {
			int64_t t = s == 2 ? WT(k) - 100000000 : WT(k);

			assert_int_equal(add(b, metric, t, par_value(s, k), "s", lv, NULL), 0);
			if (k % 5000 == 4999)
				assert_int_equal(store_commit(st, b, NULL), 0);
		}
		assert_int_equal(store_commit(st, b, NULL), 0);
	}
	store_batch_free(b);
}

/* One window set read series by series with store_read_windows(): copies of the answers. */
struct par_answer {
	int64_t *t[PAR_SERIES];
	double *v[PAR_SERIES];
	size_t n[PAR_SERIES];
};

static void par_read_serial(struct store *st, const uint64_t *ids, const int64_t *from,
			    const int64_t *to, size_t nw, struct par_answer *a)
{
	struct store_reader *r;

	assert_int_equal(store_reader_begin(st, &r), 0);
	for (int s = 0; s < PAR_SERIES; s++) {
		const int64_t *t;
		const double *v;

		assert_int_equal(store_read_windows(r, ids[s], from, to, nw, UINT64_MAX, &t, &v,
						    &a->n[s]), 0);
		a->t[s] = malloc((a->n[s] + 1) * sizeof(int64_t));
		a->v[s] = malloc((a->n[s] + 1) * sizeof(double));
		if (a->n[s]) {
			memcpy(a->t[s], t, a->n[s] * sizeof(int64_t));
			memcpy(a->v[s], v, a->n[s] * sizeof(double));
		}
	}
	store_reader_end(r);
}

/* Does a value read with 'presence' stand for 'want': the stale marker exactly where it is
 * one, any other value 0.0 or the stored one. */
static bool par_presence_ok(double got, double want)
{
	if (bits_of(want) == MODEL_STALE_NAN_BITS || bits_of(got) == MODEL_STALE_NAN_BITS)
		return bits_of(got) == bits_of(want);
	return bits_of(got) == bits_of(0.0) || bits_of(got) == bits_of(want);
}

/* The batch read of the same windows gives the same samples, bit for bit (with 'presence':
 * the same times and stale markers). */
static void par_check_batch(struct store *st, const uint64_t *ids, const int64_t *from,
			    const int64_t *to, size_t nw, const struct par_answer *a,
			    bool presence)
{
	struct store_reader *r;
	size_t ns[PAR_SERIES], i = 0;

	assert_int_equal(store_reader_begin(st, &r), 0);
	while (i < PAR_SERIES) {
		const int64_t *t;
		const double *v;
		size_t done, off = 0;

		assert_int_equal(store_read_windows_batch(r, ids + i, PAR_SERIES - i, from, to, nw,
							  UINT64_MAX, presence, &done, &t, &v,
							  ns + i), 0);
		assert_true(done >= 1 && done <= PAR_SERIES - i);
		for (size_t s = i; s < i + done; s++) {
			assert_int_equal(ns[s], a->n[s]);
			for (size_t k = 0; k < ns[s]; k++)
				if (t[off + k] != a->t[s][k] ||
				    (presence ? !par_presence_ok(v[off + k], a->v[s][k])
					      : bits_of(v[off + k]) != bits_of(a->v[s][k])))
					fail_msg("batch: series %zu sample %zu differs", s, k);
			off += ns[s];
		}
		i += done;
	}
	store_reader_end(r);
}

/* par_check_batch() without cmocka (which is not thread-safe): true when the answers match. */
static bool par_batch_matches(struct store *st, const uint64_t *ids, const int64_t *from,
			      const int64_t *to, size_t nw, const struct par_answer *a,
			      bool presence)
{
	struct store_reader *r;
	size_t ns[PAR_SERIES], i = 0;
	bool ok = store_reader_begin(st, &r) == 0;

	while (ok && i < PAR_SERIES) {
		const int64_t *t;
		const double *v;
		size_t done, off = 0;

		ok = store_read_windows_batch(r, ids + i, PAR_SERIES - i, from, to, nw, UINT64_MAX,
					      presence, &done, &t, &v, ns + i) == 0 && done >= 1;
		for (size_t s = i; ok && s < i + done; s++) {
			ok = ns[s] == a->n[s];
			for (size_t k = 0; ok && k < ns[s]; k++)
				ok = t[off + k] == a->t[s][k] &&
				     (presence ? par_presence_ok(v[off + k], a->v[s][k])
					       : bits_of(v[off + k]) == bits_of(a->v[s][k]));
			off += ns[s];
		}
		i += ok ? done : 0;
	}
	store_reader_end(r);
	return ok;
}

/* Two queries at once share the helpers: each thread reads and checks its own batches. */
struct par_thread {
	struct store *st;
	const uint64_t *ids;
	const int64_t *from, *to;
	size_t nw;
	const struct par_answer *a;
	int bad;
};

static void *par_thread_main(void *arg)
{
	struct par_thread *pt = arg;

	for (int round = 0; round < 20; round++)
		if (!par_batch_matches(pt->st, pt->ids, pt->from, pt->to, pt->nw, pt->a, false))
			pt->bad++;
	return NULL;
}

static void test_read_windows_parallel(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = { .path = f->path, .decode_helpers = -1 };
	struct store *st;
	struct store_reader *r;
	uint64_t ids[PAR_SERIES];
	char err[256];
	/* window sets: everything; one long window with straddling edges; 1h steps of 5m */
	int64_t from1[1] = { INT64_MIN }, to1[1] = { INT64_MAX };
	int64_t from2[1] = { WT(123) + 1 }, to2[1] = { WT(39000) - 1 };
	int64_t from3[12], to3[12];
	struct {
		const int64_t *from, *to;
		size_t nw;
		struct par_answer a;
	} sets[3] = { { .from = from1, .to = to1, .nw = 1 }, { .from = from2, .to = to2, .nw = 1 },
		      { .from = from3, .to = to3, .nw = 12 } };

	for (int w = 0; w < 12; w++) {
		to3[w] = WT(360 * (w + 1));
		from3[w] = to3[w] - 300000;
	}
	/* Serial: a store without helpers, read series by series. */
	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), 0);
	par_write(st, "par");
	for (int s = 0; s < PAR_SERIES; s++) {
		char lv[8];

		snprintf(lv, sizeof(lv), "%d", s);
		ids[s] = series_id(st, "par", "s", lv);
	}
	for (int i = 0; i < 3; i++)
		par_read_serial(st, ids, sets[i].from, sets[i].to, sets[i].nw, &sets[i].a);
	assert_null(st->pool);
	store_close(st);

	/* Parallel: two helpers, batches of series. The same answers, and the pool did start. */
	opt.decode_helpers = 2;
	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), 0);
	for (int round = 0; round < 4; round++)
		for (int i = 0; i < 3; i++)
			par_check_batch(st, ids, sets[i].from, sets[i].to, sets[i].nw, &sets[i].a,
					round % 2);
	assert_non_null(st->pool);
	{
		pthread_t th[3];
		struct par_thread pt[3];

		for (int i = 0; i < 3; i++) {
			pt[i] = (struct par_thread){ st, ids, sets[i].from, sets[i].to, sets[i].nw,
						     &sets[i].a, 0 };
			assert_int_equal(pthread_create(&th[i], NULL, par_thread_main, &pt[i]), 0);
		}
		for (int i = 0; i < 3; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(pt[i].bad, 0);
		}
	}
	/* store_read_windows() of one large series takes the parallel path too. */
	{
		struct par_answer b = { 0 };

		par_read_serial(st, ids, from1, to1, 1, &b);
		for (int s = 0; s < PAR_SERIES; s++) {
			assert_int_equal(b.n[s], sets[0].a.n[s]);
			assert_memory_equal(b.t[s], sets[0].a.t[s], b.n[s] * sizeof(int64_t));
			assert_memory_equal(b.v[s], sets[0].a.v[s], b.n[s] * sizeof(double));
			free(b.t[s]);
			free(b.v[s]);
		}
	}
	/* The limit holds per series in a batch; a bad window set is refused. */
	assert_int_equal(store_reader_begin(st, &r), 0);
	{
		const int64_t *t;
		const double *v;
		size_t ns[PAR_SERIES], done = 9;
		int64_t bad_from[2] = { 10, 5 }, bad_to[2] = { 20, 30 };

		assert_int_equal(store_read_windows_batch(r, ids, PAR_SERIES, from1, to1, 1,
							  (uint64_t)par_len[0] - 1, false, &done, &t,
							  &v, ns), -E2BIG);
		assert_int_equal(store_read_windows_batch(r, ids + 1, PAR_SERIES - 1, from1, to1,
							  1, (uint64_t)par_len[0] - 1, false, &done,
							  &t, &v, ns), 0);
		assert_int_equal(store_read_windows_batch(r, ids, PAR_SERIES, bad_from, bad_to, 2,
							  UINT64_MAX, false, &done, &t, &v, ns), -EINVAL);
		assert_int_equal(store_read_windows_batch(r, ids, 0, from1, to1, 1, UINT64_MAX,
							  false, &done, &t, &v, ns), 0);
		assert_int_equal(done, 0);
	}
	store_reader_end(r);
	store_close(st);
	for (int i = 0; i < 3; i++)
		for (int s = 0; s < PAR_SERIES; s++) {
			free(sets[i].a.t[s]);
			free(sets[i].a.v[s]);
		}
}

/* ---- store_read_scan_*: a selection batch by batch, the next batch decoded ahead ---- */

#define SCAN_SERIES 40

/* Samples of series s: from none in the windows (s % 9 == 4: all before them) to 5,000, so
 * chunk edges, window edges and batch edges fall everywhere. */
static int scan_len(int s)
{
	return s % 13 == 5 ? 1 : 100 + (s * 733) % 5000;
}

static void scan_write(struct store *st, uint64_t *ids)
{
	struct store_batch *b = store_batch_new();

	for (int s = 0; s < SCAN_SERIES; s++) {
		char lv[8];

		snprintf(lv, sizeof(lv), "%d", s);
		for (int k = 0; k < scan_len(s); k++) {
			int64_t t = s % 9 == 4 ? WT(k) - 100000000 : WT(k);

			assert_int_equal(add(b, "scan", t, par_value(s, k), "s", lv, NULL), 0);
		}
		assert_int_equal(store_commit(st, b, NULL), 0);
	}
	store_batch_free(b);
	for (int s = 0; s < SCAN_SERIES; s++) {
		char lv[8];

		snprintf(lv, sizeof(lv), "%d", s);
		ids[s] = series_id(st, "scan", "s", lv);
	}
}

/* What a loop of store_read_windows_batch() gives: each batch's first series, and the error
 * that ends it (0: none), with the samples of every series read. */
struct scan_ref {
	size_t nbatch, first[SCAN_SERIES + 1];
	int err;
	size_t n[SCAN_SERIES];
	int64_t *t[SCAN_SERIES];
	double *v[SCAN_SERIES];
};

static void scan_ref_read(struct store *st, const uint64_t *ids, const int64_t *from,
			  const int64_t *to, size_t nw, uint64_t max, struct scan_ref *ref)
{
	struct store_reader *r;
	size_t i = 0;

	memset(ref, 0, sizeof(*ref));
	assert_int_equal(store_reader_begin(st, &r), 0);
	while (i < SCAN_SERIES) {
		const int64_t *t;
		const double *v;
		size_t done, off = 0;

		ref->first[ref->nbatch] = i;
		ref->err = store_read_windows_batch(r, ids + i, SCAN_SERIES - i, from, to, nw, max,
						    false, &done, &t, &v, ref->n + i);
		if (ref->err)
			break;
		ref->nbatch++;
		for (size_t s = i; s < i + done; s++) {
			ref->t[s] = malloc((ref->n[s] + 1) * sizeof(int64_t));
			ref->v[s] = malloc((ref->n[s] + 1) * sizeof(double));
			memcpy(ref->t[s], t + off, ref->n[s] * sizeof(int64_t));
			memcpy(ref->v[s], v + off, ref->n[s] * sizeof(double));
			off += ref->n[s];
		}
		i += done;
	}
	store_reader_end(r);
}

static void scan_ref_free(struct scan_ref *ref)
{
	for (int s = 0; s < SCAN_SERIES; s++) {
		free(ref->t[s]);
		free(ref->v[s]);
	}
}

/*
 * Scan the same windows and compare with 'ref': the same batches, samples bit for bit (with
 * 'presence', the same times and stale markers), the same error at the same batch. Stops after
 * 'stop' batches (then leaves the read-ahead to store_read_scan_end(), or to store_reader_end()
 * when 'end_reader'). No cmocka inside (threads): false and a message on a mismatch.
 */
static bool scan_matches(struct store *st, const uint64_t *ids, const int64_t *from,
			 const int64_t *to, size_t nw, uint64_t max, const struct scan_ref *ref,
			 bool presence, size_t stop, bool end_reader)
{
	struct store_reader *r;
	size_t ns[SCAN_SERIES], nb = 0, first, count;
	bool ok = store_reader_begin(st, &r) == 0;
	int e = 0;

	if (ok)
		ok = store_read_scan_begin(r, ids, SCAN_SERIES, from, to, nw, max, presence,
					   ns) == 0;
	while (ok && nb < stop) {
		const int64_t *t;
		const double *v;
		size_t off = 0;

		e = store_read_scan_next(r, &first, &count, &t, &v);
		if (e || !count)
			break;
		ok = nb < ref->nbatch && first == ref->first[nb] &&
		     first + count == (nb + 1 < ref->nbatch || ref->err ? ref->first[nb + 1]
									: SCAN_SERIES);
		for (size_t s = first; ok && s < first + count; s++) {
			ok = ns[s] == ref->n[s];
			for (size_t k = 0; ok && k < ns[s]; k++)
				ok = t[off + k] == ref->t[s][k] &&
				     (presence ? par_presence_ok(v[off + k], ref->v[s][k])
					       : bits_of(v[off + k]) == bits_of(ref->v[s][k]));
			off += ns[s];
		}
		if (!ok)
			fprintf(stderr, "scan: batch %zu (series %zu, %zu) differs\n", nb, first,
				count);
		nb++;
	}
	if (ok && nb < stop) {
		/* ran to the end: every batch, then the reference's error or the end */
		ok = nb == ref->nbatch && e == ref->err;
		if (!ok)
			fprintf(stderr, "scan: %zu batches, error %d; want %zu, %d\n", nb, e,
				ref->nbatch, ref->err);
	}
	if (!end_reader)
		store_read_scan_end(r);
	store_reader_end(r);
	return ok;
}

struct scan_thread {
	struct store *st;
	const uint64_t *ids;
	const int64_t *from, *to;
	size_t nw;
	const struct scan_ref *ref;
	int bad;
};

static void *scan_thread_main(void *arg)
{
	struct scan_thread *sc = arg;

	for (int round = 0; round < 10; round++)
		if (!scan_matches(sc->st, sc->ids, sc->from, sc->to, sc->nw, UINT64_MAX, sc->ref,
				  round % 2, SIZE_MAX, round % 3 == 0))
			sc->bad++;
	return NULL;
}

static void test_read_scan(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = { .path = f->path, .decode_helpers = -1 };
	struct store *st;
	uint64_t ids[SCAN_SERIES];
	char err[256];
	/* window sets: everything; one window cutting chunks at both ends; 5m every 1h */
	int64_t from1[1] = { INT64_MIN }, to1[1] = { INT64_MAX };
	int64_t from2[1] = { WT(123) + 1 }, to2[1] = { WT(3900) - 1 };
	int64_t from3[14], to3[14];
	struct {
		const int64_t *from, *to;
		size_t nw;
		struct scan_ref ref;
	} sets[3] = { { .from = from1, .to = to1, .nw = 1 }, { .from = from2, .to = to2, .nw = 1 },
		      { .from = from3, .to = to3, .nw = 14 } };
	struct scan_ref big;

	for (int w = 0; w < 14; w++) {
		to3[w] = WT(360 * (w + 1)) + 5000;
		from3[w] = to3[w] - 300000;
	}
	/* The reference: a store without helpers, store_read_windows_batch() batch by batch. */
	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), 0);
	scan_write(st, ids);
	store_test_set_read_batch(st, 3000, 500);
	for (int i = 0; i < 3; i++)
		scan_ref_read(st, ids, sets[i].from, sets[i].to, sets[i].nw, UINT64_MAX,
			      &sets[i].ref);
	/* the series past 4,000 samples fail the limit: the first one's batch ends the read */
	scan_ref_read(st, ids, from1, to1, 1, 4000, &big);
	assert_int_equal(big.err, -E2BIG);
	assert_true(big.nbatch >= 2);
	assert_true(sets[0].ref.nbatch >= 10);
	assert_int_equal(sets[0].ref.err, 0);
	/* The same scans without helpers (and so without reading ahead). */
	for (int i = 0; i < 3; i++)
		assert_true(scan_matches(st, ids, sets[i].from, sets[i].to, sets[i].nw, UINT64_MAX,
					 &sets[i].ref, false, SIZE_MAX, false));
	assert_null(st->pool);
	store_close(st);

	/* Two helpers, the same batch sizes: the same batches, samples and errors. */
	opt.decode_helpers = 2;
	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), 0);
	store_test_set_read_batch(st, 3000, 500);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 3; i++)
			assert_true(scan_matches(st, ids, sets[i].from, sets[i].to, sets[i].nw,
						 UINT64_MAX, &sets[i].ref, round, SIZE_MAX,
						 false));
	assert_non_null(st->pool);
	assert_true(scan_matches(st, ids, from1, to1, 1, 4000, &big, false, SIZE_MAX, false));
	/* A caller that stops early, with the next batch still being decoded: ending the scan
	 * or the reader waits for it, and the next scan starts afresh. */
	for (size_t stop = 0; stop < 4; stop++)
		assert_true(scan_matches(st, ids, from1, to1, 1, UINT64_MAX, &sets[0].ref, false,
					 stop, stop % 2));
	assert_true(scan_matches(st, ids, from2, to2, 1, UINT64_MAX, &sets[1].ref, false,
				 SIZE_MAX, false));
	/* Three scans at once share the helpers. */
	{
		pthread_t th[3];
		struct scan_thread sc[3];

		for (int i = 0; i < 3; i++) {
			sc[i] = (struct scan_thread){ st, ids, sets[i].from, sets[i].to, sets[i].nw,
						      &sets[i].ref, 0 };
			assert_int_equal(pthread_create(&th[i], NULL, scan_thread_main, &sc[i]), 0);
		}
		for (int i = 0; i < 3; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(sc[i].bad, 0);
		}
	}
	/* Without a scan, or with bad windows. */
	{
		struct store_reader *r;
		const int64_t *t;
		const double *v;
		size_t first, count, ns[SCAN_SERIES];
		int64_t bad_from[2] = { 10, 5 }, bad_to[2] = { 20, 30 };

		assert_int_equal(store_reader_begin(st, &r), 0);
		assert_int_equal(store_read_scan_next(r, &first, &count, &t, &v), -EINVAL);
		assert_int_equal(store_read_scan_begin(r, ids, SCAN_SERIES, bad_from, bad_to, 2,
						       UINT64_MAX, false, ns), -EINVAL);
		assert_int_equal(store_read_scan_next(r, &first, &count, &t, &v), -EINVAL);
		/* a scan of nothing ends at once */
		assert_int_equal(store_read_scan_begin(r, ids, 0, from1, to1, 1, UINT64_MAX, false,
						       ns), 0);
		assert_int_equal(store_read_scan_next(r, &first, &count, &t, &v), 0);
		assert_int_equal(count, 0);
		store_read_scan_end(r);
		store_read_scan_end(r);
		store_reader_end(r);
	}
	store_close(st);
	for (int i = 0; i < 3; i++)
		scan_ref_free(&sets[i].ref);
	scan_ref_free(&big);
}

static void test_append_readback(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_commit_stats stats;
	static struct samples s;
	uint64_t ida, idb;
	int i;

	/* 1000 samples over 143 commits: the head is re-encoded each time and sealed on the way. */
	for (i = 0; i < 1000; i++) {
		int64_t t = 1000000 + (int64_t)i * 10000;

		assert_int_equal(add(b, "cpu", t, value_at(i), "mode", "user", NULL), 0);
		/* Random-looking doubles so the size limit, not the sample cap, seals chunks. */
		assert_int_equal(add(b, "noise", t, scaled(i, 1.000000123456789), NULL), 0);
		if (i % 7 == 6) {
			assert_int_equal(store_commit(st, b, &stats), 0);
			assert_int_equal(stats.samples_written, 14);
			assert_int_equal(stats.out_of_order, 0);
			assert_int_equal(stats.series_created, i == 6 ? 2 : 0);
		}
	}
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.samples_written, 2 * (1000 % 7));
	ida = series_id(st, "cpu", "mode", "user");
	idb = series_id(st, "noise", NULL, NULL);
	assert_int_not_equal(ida, idb);
	check_series(st, ida, 1000, 10000, 1);
	check_series(st, idb, 1000, 10000, 1.000000123456789);
	/* Sealed chunks: at least 1000 / 240 of them besides the head; all within the size cap. */
	assert_true(count_chunks(f->path, ida) >= 4);
	assert_true(count_chunks(f->path, idb) >= 4);

	/* Partial reads start inside a chunk and stop inside another. */
	read_all(st, ida, 1000000 + 245 * 10000, 1000000 + 500 * 10000, &s);
	assert_int_equal(s.n, 256);
	assert_int_equal(s.t[0], 1000000 + 245 * 10000);
	assert_int_equal(s.t[255], 1000000 + 500 * 10000);
	read_all(st, ida, 1000000 + 245 * 10000 + 1, 1000000 + 245 * 10000 + 9999, &s);
	assert_int_equal(s.n, 0);
	store_close(st);

	/* Reopen mid-chunk: the head is decoded back and appends continue in the same chunk. */
	st = open_store(f->path, false, 0, 0);
	size_t before = count_chunks(f->path, ida);

	for (; i < 1010; i++) {
		int64_t t = 1000000 + (int64_t)i * 10000;

		assert_int_equal(add(b, "cpu", t, value_at(i), "mode", "user", NULL), 0);
		assert_int_equal(add(b, "noise", t, scaled(i, 1.000000123456789), NULL), 0);
		assert_int_equal(store_commit(st, b, &stats), 0);
		assert_int_equal(stats.series_created, 0);
		assert_int_equal(stats.samples_written, 2);
	}
	assert_int_equal(count_chunks(f->path, ida), before);
	check_series(st, ida, 1010, 10000, 1);
	check_series(st, idb, 1010, 10000, 1.000000123456789);
	store_close(st);

	/* And a reader of the same directory sees the same. */
	st = open_store(f->path, true, 0, 0);
	check_series(st, ida, 1010, 10000, 1);
	store_batch_free(b);
	store_close(st);
}

static void test_large_batch_one_series(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_commit_stats stats;
	uint64_t id;

	/* An import-sized batch: 5000 samples of one series in a single commit. */
	for (int i = 0; i < 5000; i++)
		assert_int_equal(add(b, "imp", 1000000 + (int64_t)i * 10000, value_at(i), NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.samples_written, 5000);
	id = series_id(st, "imp", NULL, NULL);
	check_series(st, id, 5000, 10000, 1);
	assert_true(count_chunks(f->path, id) >= 5000 / STORE_SEAL_SAMPLES);
	store_batch_free(b);
	store_close(st);
}

static void test_out_of_order(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_commit_stats stats;
	static struct samples s;

	assert_int_equal(add(b, "a", 100, 1, NULL), 0);
	assert_int_equal(add(b, "a", 200, 2, NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.samples_written, 2);

	/* Before and at the last timestamp: refused; the other series commits. */
	assert_int_equal(add(b, "a", 150, 9, NULL), 0);
	assert_int_equal(add(b, "b", 50, 5, NULL), 0);
	assert_int_equal(add(b, "a", 200, 9, NULL), 0);
	assert_int_equal(add(b, "a", 300, 3, NULL), 0);
	assert_int_equal(add(b, "a", 250, 9, NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.samples_written, 2);
	assert_int_equal(stats.out_of_order, 3);
	assert_int_equal(stats.series_created, 1);

	read_all(st, series_id(st, "a", NULL, NULL), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.t[0], 100);
	assert_int_equal(s.t[1], 200);
	assert_int_equal(s.t[2], 300);
	assert_true(s.v[2] == 3);
	read_all(st, series_id(st, "b", NULL, NULL), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	store_close(st);

	/* The last timestamp survives a reopen, also for a series whose head was sealed. */
	st = open_store(f->path, false, 0, 0);
	assert_int_equal(add(b, "a", 300, 9, NULL), 0);
	assert_int_equal(add(b, "b", 49, 9, NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.out_of_order, 2);
	assert_int_equal(stats.samples_written, 0);
	/* Negative timestamps sort before positive ones. */
	assert_int_equal(add(b, "neg", -5000, 1, NULL), 0);
	assert_int_equal(add(b, "neg", -10, 2, NULL), 0);
	assert_int_equal(add(b, "neg", 10, 3, NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	read_all(st, series_id(st, "neg", NULL, NULL), -10, 10, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.t[0], -10);
	store_batch_free(b);
	store_close(st);
}

/* A replay's batch: one refused sample and nothing of it is written, records and catalog too. */
static void test_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_commit_stats stats;
	struct store_reader *r;
	struct buf out;
	struct label l[2] = { { "__name__", "a" }, { "job", "x" } };
	int64_t first, last;
	static struct samples s;

	buf_init(&out, 1024);
	/* More samples than a head holds, so the span reaches into a sealed chunk. */
	for (int i = 1; i <= 300; i++)
		assert_int_equal(add(b, "a", 1000 * i, i, "job", "x", NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_series_span(r, l, 2, &first, &last), 0);
	assert_int_equal(first, 1000);
	assert_int_equal(last, 300000);
	l[1].value = "y";
	assert_int_equal(store_series_span(r, l, 2, &first, &last), -ENOENT);
	l[1].value = "x";
	store_reader_end(r);

	store_batch_set_all_or_nothing(b, true);
	assert_int_equal(add(b, "new", 10, 1, NULL), 0);     /* would be taken alone */
	assert_int_equal(add(b, "a", 300000, 9, "job", "x", NULL), 0); /* at the last: refused */
	assert_int_equal(add(b, "a", 400000, 9, "job", "x", NULL), 0);
	assert_int_equal(store_batch_put_meta(b, "counted/x", "1", 1), 0);
	assert_int_equal(store_commit(st, b, &stats), STORE_E_OUT_OF_ORDER);
	assert_int_equal(stats.out_of_order, 1);
	assert_int_equal(stats.series_out_of_order, 1);
	assert_int_equal(stats.samples_written, 0);
	assert_int_equal(store_batch_len(b), 3); /* left as it was */
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_reader_get_meta(r, "counted/x", &out), -ENOENT);
	assert_int_equal(store_series_span(r, l, 2, &first, &last), 0);
	assert_int_equal(last, 300000);
	l[0].value = "new";
	assert_int_equal(store_series_span(r, l, 1, &first, &last), -ENOENT);
	store_reader_end(r);

	/* The writer's cached heads were dropped with the refusal: a clean batch goes on. */
	store_batch_free(b);
	b = store_batch_new();
	store_batch_set_all_or_nothing(b, true);
	assert_int_equal(add(b, "a", 300001, 7, "job", "x", NULL), 0);
	assert_int_equal(store_batch_put_meta(b, "counted/x", "2", 1), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.samples_written, 1);
	read_all(st, series_id(st, "a", "job", "x"), 299000, INT64_MAX, &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.t[2], 300001);
	assert_true(s.v[2] == 7);
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_reader_get_meta(r, "counted/x", &out), 0);
	store_reader_end(r);
	buf_release(&out);
	store_batch_free(b);
	store_close(st);
}

/* ---- selection ---- */

static void populate_matchers(struct store *st)
{
	struct store_batch *b = store_batch_new();

	assert_int_equal(add(b, "m", 1000, 1, "job", "a", "inst", "1", NULL), 0);
	assert_int_equal(add(b, "m", 1000, 2, "job", "b", NULL), 0);
	assert_int_equal(add(b, "m", 1000, 3, "job", "a", "inst", "2", NULL), 0);
	assert_int_equal(add(b, "n", 1000, 4, "job", "a", NULL), 0);
	assert_int_equal(add(b, "m", 1000, 5, "job", "ab", "inst", "", NULL), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	store_batch_free(b);
}

/* Run a selector and compare the formatted series, in order, with 'want' ("" separated by |). */
static void expect_select(struct store_reader *r, const struct matcher *m, size_t nm,
			  const char *want)
{
	struct store_series_set *set = sel(r, m, nm, INT64_MIN, INT64_MAX);
	char got[1024] = "";

	for (size_t i = 0; i < store_series_set_len(set); i++) {
		if (i)
			strcat(got, "|");
		strcat(got, fmt_series(set, i));
	}
	if (strcmp(got, want))
		fprintf(stderr, "got  %s\nwant %s\n", got, want);
	assert_string_equal(got, want);
	store_series_set_free(set);
}

#define M(n, o, v) { n, o, v }

static void test_matchers(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_reader *r;
	struct store_series_set *set;
	char err[256];

	populate_matchers(st);
	assert_int_equal(store_reader_begin(st, &r), 0);
	{
		struct matcher m[] = { M("__name__", MATCH_EQ, "m") };

		expect_select(r, m, 1, "{__name__=\"m\",inst=\"1\",job=\"a\"}|"
				       "{__name__=\"m\",inst=\"2\",job=\"a\"}|"
				       "{__name__=\"m\",job=\"ab\"}|{__name__=\"m\",job=\"b\"}");
	}
	{
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("job", MATCH_EQ, "a") };

		expect_select(r, m, 2, "{__name__=\"m\",inst=\"1\",job=\"a\"}|"
				       "{__name__=\"m\",inst=\"2\",job=\"a\"}");
	}
	{
		/* != also keeps series without the label; regexes are anchored ("a" not "ab"). */
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("job", MATCH_NEQ, "a") };

		expect_select(r, m, 2, "{__name__=\"m\",job=\"ab\"}|{__name__=\"m\",job=\"b\"}");
	}
	{
		struct matcher m[] = { M("job", MATCH_RE, "a") };

		expect_select(r, m, 1, "{__name__=\"m\",inst=\"1\",job=\"a\"}|"
				       "{__name__=\"m\",inst=\"2\",job=\"a\"}|"
				       "{__name__=\"n\",job=\"a\"}");
	}
	{
		struct matcher m[] = { M("__name__", MATCH_RE, "m|n"), M("job", MATCH_NRE, "a.*") };

		expect_select(r, m, 2, "{__name__=\"m\",job=\"b\"}");
	}
	{
		/* inst="" selects the series without inst. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("inst", MATCH_EQ, "") };

		expect_select(r, m, 2, "{__name__=\"m\",job=\"ab\"}|{__name__=\"m\",job=\"b\"}");
	}
	{
		/* inst!="" requires it. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("inst", MATCH_NEQ, "") };

		expect_select(r, m, 2, "{__name__=\"m\",inst=\"1\",job=\"a\"}|"
				       "{__name__=\"m\",inst=\"2\",job=\"a\"}");
	}
	{
		/* A regex that matches "" also takes series without the label. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("inst", MATCH_RE, "1|") };

		expect_select(r, m, 2, "{__name__=\"m\",inst=\"1\",job=\"a\"}|"
				       "{__name__=\"m\",job=\"ab\"}|{__name__=\"m\",job=\"b\"}");
	}
	{
		/* !~ a regex that matches "": series without the label are excluded. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("inst", MATCH_NRE, "2|") };

		expect_select(r, m, 2, "{__name__=\"m\",inst=\"1\",job=\"a\"}");
	}
	{
		/* A label no series has. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("zone", MATCH_EQ, "x") };

		expect_select(r, m, 2, "");
	}
	{
		struct matcher m[] = { M("__name__", MATCH_EQ, "m"), M("zone", MATCH_NEQ, "x") };

		expect_select(r, m, 2, "{__name__=\"m\",inst=\"1\",job=\"a\"}|"
				       "{__name__=\"m\",inst=\"2\",job=\"a\"}|"
				       "{__name__=\"m\",job=\"ab\"}|{__name__=\"m\",job=\"b\"}");
	}
	{
		/* The newline must not slip through $-style anchoring. */
		struct matcher m[] = { M("job", MATCH_RE, "a\\n?"), M("__name__", MATCH_EQ, "n") };

		expect_select(r, m, 2, "{__name__=\"n\",job=\"a\"}");
	}
	{
		/* Only empty-matching matchers: refused, as Prometheus does. */
		struct matcher m[] = { M("job", MATCH_NEQ, "a"), M("inst", MATCH_RE, ".*") };

		assert_int_equal(store_select(r, m, 2, INT64_MIN, INT64_MAX, &set, err,
					      sizeof(err)), -EINVAL);
		assert_null(set);
		assert_non_null(strstr(err, "empty"));
	}
	{
		struct matcher m[] = { M("job", MATCH_RE, "a(") };

		assert_int_equal(store_select(r, m, 1, INT64_MIN, INT64_MAX, &set, err,
					      sizeof(err)), -EINVAL);
		assert_null(set);
		assert_non_null(strstr(err, "invalid regex for label job"));
	}
	{
		/* Types and ids come along. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "n") };

		set = sel(r, m, 1, INT64_MIN, INT64_MAX);
		assert_int_equal(store_series_set_len(set), 1);
		assert_int_equal(store_series_set_type(set, 0), METRIC_GAUGE);
		assert_true(store_series_set_id(set, 0) >= 1);
		store_series_set_free(set);
	}
	store_reader_end(r);
	store_close(st);
}

static void test_time_range(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_reader *r;
	struct matcher m[] = { M("__name__", MATCH_RE, "early|late|both") };

	for (int i = 0; i <= 300; i++) {
		assert_int_equal(add(b, "early", 100000 + i * 1000, i, NULL), 0);
		assert_int_equal(add(b, "late", 900000 + i * 1000, i, NULL), 0);
		assert_int_equal(add(b, "both", 100000 + i * 1000, i, NULL), 0);
	}
	for (int i = 0; i <= 300; i++)
		assert_int_equal(add(b, "both", 900000 + i * 1000, i, NULL), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	assert_int_equal(store_reader_begin(st, &r), 0);
	struct {
		int64_t from, to;
		const char *want;
	} cases[] = {
		{ INT64_MIN, INT64_MAX,
		  "{__name__=\"both\"}|{__name__=\"early\"}|{__name__=\"late\"}" },
		{ 0, 99999, "" },
		{ 0, 100000, "{__name__=\"both\"}|{__name__=\"early\"}" },
		/* Inside the first chunk of "early" (it starts before 'from'). */
		{ 250500, 250600, "" },
		{ 250000, 250000, "{__name__=\"both\"}|{__name__=\"early\"}" },
		{ 400000, 400000, "{__name__=\"both\"}|{__name__=\"early\"}" },
		{ 400001, 899999, "" },
		{ 500000, 950000, "{__name__=\"both\"}|{__name__=\"late\"}" },
		{ 1200000, INT64_MAX, "{__name__=\"both\"}|{__name__=\"late\"}" },
		{ 1200001, INT64_MAX, "" },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct store_series_set *set = sel(r, m, 1, cases[c].from, cases[c].to);
		char got[512] = "";

		for (size_t i = 0; i < store_series_set_len(set); i++) {
			if (i)
				strcat(got, "|");
			strcat(got, fmt_series(set, i));
		}
		if (strcmp(got, cases[c].want))
			fprintf(stderr, "case %zu: got %s want %s\n", c, got, cases[c].want);
		assert_string_equal(got, cases[c].want);
		store_series_set_free(set);
	}
	store_reader_end(r);
	store_batch_free(b);
	store_close(st);
}

struct strlist {
	char s[32][64];
	size_t n;
};

static int collect_str(void *ctx, const char *v)
{
	struct strlist *l = ctx;

	if (l->n >= 32)
		return -E2BIG;
	snprintf(l->s[l->n++], 64, "%s", v);
	return 0;
}

static const char *joined(const struct strlist *l)
{
	static char out[1024];

	out[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, l->s[i]);
	}
	return out;
}

static void test_label_names_values(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_reader *r;
	struct strlist l;

	populate_matchers(st);
	assert_int_equal(store_reader_begin(st, &r), 0);
	l.n = 0;
	assert_int_equal(store_label_names(r, collect_str, &l), 0);
	assert_string_equal(joined(&l), "__name__,inst,job");
	l.n = 0;
	assert_int_equal(store_label_values(r, "job", collect_str, &l), 0);
	assert_string_equal(joined(&l), "a,ab,b");
	l.n = 0;
	assert_int_equal(store_label_values(r, "__name__", collect_str, &l), 0);
	assert_string_equal(joined(&l), "m,n");
	l.n = 0;
	assert_int_equal(store_label_values(r, "nope", collect_str, &l), 0);
	assert_int_equal(l.n, 0);
	store_reader_end(r);
	store_close(st);
}

/* ---- retention ---- */

static void test_retention(void **state)
{
	struct fixture *f = *state;
	const int64_t day = 86400000;
	struct store *st = open_store(f->path, false, 0, 7 * day);
	struct store_batch *b = store_batch_new();
	struct store_reader *r;
	struct strlist l;
	static struct samples s;
	uint64_t mixed;
	size_t mixed_chunks;
	int n, total = 0;

	/* "gone": only old data. "mixed": old and new. "fresh": only new. One sample a minute. */
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(add(b, "gone", (int64_t)i * 60000, i, "k", "g", NULL), 0);
		assert_int_equal(add(b, "mixed", (int64_t)i * 60000, i, NULL), 0);
	}
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(add(b, "mixed", 10 * day + (int64_t)i * 60000, i, NULL), 0);
		assert_int_equal(add(b, "fresh", 10 * day + (int64_t)i * 60000, i, NULL), 0);
	}
	assert_int_equal(store_commit(st, b, NULL), 0);
	mixed = series_id(st, "mixed", NULL, NULL);
	mixed_chunks = count_chunks(f->path, mixed);
	assert_int_equal(mixed_chunks, 8);

	/* now = 15 days: everything before day 8 goes, in steps of at most 3 chunks. */
	while ((n = store_retention_step(st, 15 * day, 3)) > 0) {
		assert_true(n <= 3);
		total += n;
	}
	assert_int_equal(n, 0);
	/*
	 * 1000 samples make 4 sealed chunks of 240 and a head of 40. "gone" loses all 5; "mixed"
	 * loses 4: its head went on with the new samples, was sealed with samples of day 10 and
	 * stays.
	 */
	assert_int_equal(total, 9);
	assert_int_equal(count_chunks(f->path, mixed), mixed_chunks - 4);

	read_all(st, mixed, INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1040);
	assert_int_equal(s.t[0], 960 * 60000);
	assert_int_equal(s.t[40], 10 * day);
	assert_int_equal(store_reader_begin(st, &r), 0);
	{
		struct matcher m[] = { M("__name__", MATCH_EQ, "gone") };
		struct store_series_set *set = sel(r, m, 1, INT64_MIN, INT64_MAX);

		assert_int_equal(store_series_set_len(set), 0);
		store_series_set_free(set);
	}
	l.n = 0;
	assert_int_equal(store_label_values(r, "__name__", collect_str, &l), 0);
	assert_string_equal(joined(&l), "fresh,mixed");
	l.n = 0;
	assert_int_equal(store_label_names(r, collect_str, &l), 0);
	assert_string_equal(joined(&l), "__name__");
	store_reader_end(r);

	/* Appends continue after retention; a series that was deleted comes back with a new id. */
	assert_int_equal(add(b, "mixed", 11 * day, 1, NULL), 0);
	assert_int_equal(add(b, "gone", 11 * day, 1, "k", "g", NULL), 0);
	struct store_commit_stats stats;

	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.series_created, 1);
	assert_int_equal(stats.samples_written, 2);
	read_all(st, mixed, INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1041);
	read_all(st, series_id(st, "gone", "k", "g"), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);

	/* The head chunk itself may expire: the series goes, and the writer forgets its head. */
	n = store_retention_step(st, 100 * day, 1000);
	/* mixed: 4 sealed and a head, gone: a head, fresh: 4 sealed and a head. */
	assert_int_equal(n, 11);
	assert_int_equal(store_retention_step(st, 100 * day, 1000), 0);
	assert_int_equal(add(b, "mixed", 101 * day, 7, NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.series_created, 1);
	read_all(st, series_id(st, "mixed", NULL, NULL), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.t[0], 101 * day);
	store_batch_free(b);
	store_close(st);
}

/* ---- faults and the map ---- */

static void test_meta_atomic_and_map_full(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 256 << 10, 0);
	struct store_batch *b = store_batch_new();
	struct store_reader *r;
	struct buf out;
	char name[32];
	int i, rc = 0;

	buf_init(&out, 0);
	store_test_set_max_map_size(st, 256 << 10);
	/* Fill the map with distinct series until a commit no longer fits. */
	for (i = 0; i < 100000 && !rc; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(add(b, "fill", 1000, i, "n", name, NULL), 0);
		if (i % 50 == 49) {
			assert_int_equal(store_batch_put_meta(b, "pos", name, strlen(name) + 1), 0);
			rc = store_commit(st, b, NULL);
		}
	}
	assert_int_equal(rc, -ENOSPC);
	assert_string_equal(err_str(rc), strerror(ENOSPC));
	/* The store did not log the cause; it kept it for the caller's one log line. */
	{
		char why[256], want[256];

		snprintf(want, sizeof(want), "%s (the map is full at %d bytes and may not grow "
			 "further (storage.max_size))", strerror(ENOSPC), 256 << 10);
		assert_string_equal(store_last_lmdb_error(st, rc, why, sizeof(why)), want);
		/* Another code gets no cause that belongs to this one. */
		assert_string_equal(store_last_lmdb_error(st, STORE_E_LMDB, why, sizeof(why)),
				    err_str(STORE_E_LMDB));
		assert_string_equal(store_last_lmdb_error(NULL, rc, why, sizeof(why)),
				    strerror(ENOSPC));
	}
	/* Nothing of the failed batch is visible: neither its samples nor its record. */
	assert_int_equal(store_batch_len(b), 50);
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_reader_get_meta(r, "pos", &out), 0);
	char last_committed[32];

	snprintf(last_committed, sizeof(last_committed), "s%d", i - 51);
	assert_string_equal(out.data, last_committed);
	{
		struct matcher m[] = { M("n", MATCH_EQ, name) };
		struct store_series_set *set = sel(r, m, 1, INT64_MIN, INT64_MAX);

		assert_int_equal(store_series_set_len(set), 0);
		store_series_set_free(set);
	}
	store_reader_end(r);
	/* Still usable and still refusing. */
	assert_int_equal(store_commit(st, b, NULL), -ENOSPC);
	assert_int_equal(store_batch_len(b), 50);

	/* Lift the limit: the same batch commits, record and samples together. */
	store_test_set_max_map_size(st, 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	assert_true(store_test_map_size(st) > (256 << 10));
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_reader_get_meta(r, "pos", &out), 0);
	assert_string_equal(out.data, name);
	{
		struct matcher m[] = { M("n", MATCH_EQ, name) };
		struct store_series_set *set = sel(r, m, 1, INT64_MIN, INT64_MAX);

		assert_int_equal(store_series_set_len(set), 1);
		store_series_set_free(set);
	}
	store_reader_end(r);
	buf_release(&out);
	store_batch_free(b);
	store_close(st);
}

static void test_map_growth(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 128 << 10, 0);
	struct store_batch *b = store_batch_new();
	size_t initial = store_test_map_size(st);
	char name[32];

	assert_int_equal(initial, 128 << 10);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(add(b, "grow", 1000, i, "n", name, NULL), 0);
		if (i % 1000 == 999)
			assert_int_equal(store_commit(st, b, NULL), 0);
	}
	assert_true(store_test_map_size(st) >= 4 * initial);
	store_close(st);

	/* Reopened with a smaller setting, the environment keeps its grown size. */
	st = open_store(f->path, false, 128 << 10, 0);
	assert_true(store_test_map_size(st) >= 4 * initial);
	static struct samples s;

	read_all(st, series_id(st, "grow", "n", "s19999"), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	assert_true(s.v[0] == 19999);
	store_batch_free(b);
	store_close(st);
}

/* storage.max_size: the map never grows past store_options.max_map_size; a commit that would need
 * more fails with -ENOSPC and leaves the batch for a retry, and the data already committed is
 * intact. Reopened without a limit, the same batch commits. */
static void test_max_map_size_option(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = { .path = f->path, .max_map_size = 1 << 20 };
	struct store_batch *b = store_batch_new();
	struct store *st = NULL;
	static struct samples s;
	char err[256], name[32];
	int rc = 0, i, committed = -1;

	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), 0);
	for (i = 0; i < 200000 && rc == 0; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(add(b, "capped", 1000, i, "n", name, NULL), 0);
		if (i % 500 == 499) {
			rc = store_commit(st, b, NULL);
			if (rc == 0)
				committed = i;
		}
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(committed > 0);
	assert_true(store_batch_len(b) == 500);
	assert_true(store_test_map_size(st) <= (size_t)1 << 20);
	read_all(st, series_id(st, "capped", "n", "s0"), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	store_close(st);

	opt.max_map_size = 0;
	assert_int_equal(store_open(&opt, &st, err, sizeof(err)), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	snprintf(name, sizeof(name), "s%d", i - 1);
	read_all(st, series_id(st, "capped", "n", name), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	assert_true(s.v[0] == i - 1);
	store_batch_free(b);
	store_close(st);
}

static void test_write_error_keeps_batch(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct rlimit old, lim;
	struct stat sb;
	char data[300], name[32];
	static struct samples s;
	int rc = 0, i;

	assert_int_equal(add(b, "w0", 1, 1, NULL), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	snprintf(data, sizeof(data), "%s/data.mdb", f->path);
	assert_int_equal(stat(data, &sb), 0);

	/* A file size limit makes LMDB's page writes fail, as a full disk would (also as root). */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (i = 0; i < 5000 && !rc; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(add(b, "w", 2 + i, i, "n", name, NULL), 0);
		if (i % 100 == 99)
			rc = store_commit(st, b, NULL);
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(store_batch_len(b), 100);

	/* The limit is gone: the same batch goes in, and the store has lost nothing. */
	assert_int_equal(store_commit(st, b, NULL), 0);
	assert_int_equal(store_batch_len(b), 0);
	read_all(st, series_id(st, "w", "n", name), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.t[0], 2 + i - 1);
	read_all(st, series_id(st, "w0", NULL, NULL), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 1);
	store_batch_free(b);
	store_close(st);
}

static void test_read_only_commit(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store *ro;
	struct store_batch *b = store_batch_new();

	store_close(st);
	ro = open_store(f->path, true, 0, 0);
	assert_int_equal(add(b, "x", 1, 1, NULL), 0);
	assert_int_equal(store_batch_put_meta(b, "k", "v", 1), 0);
	assert_int_equal(store_commit(ro, b, NULL), -EROFS);
	assert_int_equal(store_batch_len(b), 1);
	assert_int_equal(store_retention_step(ro, 0, 10), -EROFS);
	store_close(ro);
	st = open_store(f->path, false, 0, 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	assert_int_equal(store_batch_len(b), 0);
	store_batch_free(b);
	store_close(st);
}

/* ---- the appender ---- */

static int extra_offsets(void *ctx, struct store_batch *b)
{
	int *calls = ctx;
	char v[16];

	(*calls)++;
	snprintf(v, sizeof(v), "%d", *calls);
	return store_batch_put_meta(b, "offset", v, strlen(v));
}

/* The value of a self-metric or any series, read from the store at its last sample. */
static double last_value(struct store *st, const struct matcher *m, size_t nm, int64_t *t)
{
	struct store_reader *r;
	struct store_series_set *set;
	static struct samples s;

	assert_int_equal(store_reader_begin(st, &r), 0);
	set = sel(r, m, nm, INT64_MIN, INT64_MAX);
	assert_int_equal(store_series_set_len(set), 1);
	s.n = 0;
	assert_int_equal(store_read_samples(r, store_series_set_id(set, 0), INT64_MIN, INT64_MAX,
					    collect, &s), 0);
	store_series_set_free(set);
	store_reader_end(r);
	assert_true(s.n > 0);
	if (t)
		*t = s.t[s.n - 1];
	return s.v[s.n - 1];
}

static void test_appender(void **state)
{
	struct fixture *f = *state;
	static const char *const lvl[] = { "level", NULL };
	static const char *const mnt[] = { "mountpoint", NULL };
	static const double bounds[] = { 0.1, 1 };
	struct store *st = open_store(f->path, false, 0, 0);
	struct registry *reg = registry_new(0);
	struct store_appender *a;
	struct metric *logs, *fs, *lat;
	int calls = 0;
	int64_t t;

	logs = registry_counter(reg, "laravel_log_entries_total", "Entries.", lvl);
	fs = registry_gauge(reg, "node_filesystem_avail_bytes", "Free.", mnt);
	lat = registry_histogram(reg, "http_request_duration_seconds", "Latency.", NULL, bounds, 2);
	assert_non_null(logs);
	assert_non_null(fs);
	assert_non_null(lat);
	a = store_appender_new(st, reg, 1000);
	assert_non_null(a);

	series_add(metric_series(logs, (const char *const[]){ "error" }), 3);
	series_set(metric_series(fs, (const char *const[]){ "/" }), 100);
	series_set(metric_series(fs, (const char *const[]){ "/var" }), 200);
	series_observe(metric_series(lat, NULL), 0.05);
	series_observe(metric_series(lat, NULL), 0.5);
	assert_int_equal(store_appender_tick(a, 10000, extra_offsets, &calls), 0);
	assert_int_equal(calls, 1);

	/* /var disappears: its series gets a stale marker at the next tick, the others values. */
	metric_sweep(fs);
	series_set(metric_series(fs, (const char *const[]){ "/" }), 90);
	metric_sweep(fs);
	series_add(metric_series(logs, (const char *const[]){ "error" }), 2);
	assert_int_equal(store_appender_tick(a, 20000, extra_offsets, &calls), 0);

	{
		struct matcher m[] = { M("__name__", MATCH_EQ, "laravel_log_entries_total"),
				       M("level", MATCH_EQ, "error") };

		assert_true(last_value(st, m, 2, &t) == 5);
		assert_int_equal(t, 20000);
	}
	{
		struct matcher m[] = { M("mountpoint", MATCH_EQ, "/var") };

		assert_int_equal(bits_of(last_value(st, m, 1, &t)), MODEL_STALE_NAN_BITS);
		assert_int_equal(t, 20000);
	}
	{
		struct matcher m[] = { M("mountpoint", MATCH_EQ, "/") };

		assert_true(last_value(st, m, 1, &t) == 90);
	}
	{
		/* The histogram: cumulative buckets with le, sum and count, typed histogram. */
		struct matcher m[] = {
			M("__name__", MATCH_EQ, "http_request_duration_seconds_bucket"),
			M("le", MATCH_EQ, "1"),
		};

		assert_true(last_value(st, m, 2, NULL) == 2);
		m[1].value = "0.1";
		assert_true(last_value(st, m, 2, NULL) == 1);
		m[1].value = "+Inf";
		assert_true(last_value(st, m, 2, NULL) == 2);
		m[0].value = "http_request_duration_seconds_sum";
		assert_true(last_value(st, m, 1, NULL) == 0.55);

		struct store_reader *r;
		struct store_series_set *set;

		assert_int_equal(store_reader_begin(st, &r), 0);
		set = sel(r, m, 1, INT64_MIN, INT64_MAX);
		assert_int_equal(store_series_set_type(set, 0), METRIC_HISTOGRAM);
		store_series_set_free(set);
		store_reader_end(r);
	}
	{
		/* Self-metrics: the commit of tick 1 shows in tick 2's snapshot. */
		struct matcher m[] = { M("__name__", MATCH_EQ, "deploywatch_store_commits_total") };

		assert_true(last_value(st, m, 1, NULL) == 1);
		m[0].value = "deploywatch_store_samples_appended_total";
		assert_true(last_value(st, m, 1, NULL) > 8);
	}
	{
		struct store_reader *r;
		struct buf out;

		buf_init(&out, 0);
		assert_int_equal(store_reader_begin(st, &r), 0);
		assert_int_equal(store_reader_get_meta(r, "offset", &out), 0);
		assert_string_equal(out.data, "2");
		store_reader_end(r);
		buf_release(&out);
	}
	store_appender_free(a);
	registry_free(reg);
	store_close(st);

	/* Restart: counters continue from the stored values; gauges do not. */
	st = open_store(f->path, false, 0, 0);
	reg = registry_new(0);
	a = store_appender_new(st, reg, 1000);
	logs = registry_counter(reg, "laravel_log_entries_total", "Entries.", lvl);
	fs = registry_gauge(reg, "node_filesystem_avail_bytes", "Free.", mnt);
	assert_true(series_value(metric_series(logs, (const char *const[]){ "error" })) == 5);
	assert_true(series_value(metric_series(fs, (const char *const[]){ "/" })) == 0);
	series_add(metric_series(logs, (const char *const[]){ "error" }), 1);
	assert_int_equal(store_appender_tick(a, 30000, NULL, NULL), 0);
	{
		struct matcher m[] = { M("__name__", MATCH_EQ, "laravel_log_entries_total") };

		assert_true(last_value(st, m, 1, &t) == 6);
		assert_int_equal(t, 30000);
		m[0].value = "deploywatch_store_commits_total";
		/*
		 * Stored before the restart: 1 (tick 2's snapshot, taken before its own commit).
		 * Seeded with it, tick 3's snapshot shows 1 again: no reset, one commit unrecorded.
		 */
		assert_true(last_value(st, m, 1, NULL) == 1);
	}
	store_appender_free(a);
	registry_free(reg);
	store_close(st);
}

static double reg_value(struct registry *reg, const char *name, const char *reason)
{
	static const char *const rl[] = { "reason", NULL };
	struct metric *m;

	if (reason) {
		m = registry_counter(reg, name, "Store commits that failed, by reason; samples "
						"stay pending.", rl);
		assert_non_null(m);
		return series_value(metric_series(m, (const char *const[]){ reason }));
	}
	m = strstr(name, "pending") ? registry_gauge(reg, name, "Samples waiting for a successful "
								"commit.", NULL)
				    : registry_counter(reg, name, "Pending samples dropped at the "
								  "pending limit.", NULL);
	assert_non_null(m);
	return series_value(metric_series(m, NULL));
}

static void test_appender_pending(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 128 << 10, 0);
	struct registry *reg = registry_new(0);
	struct store_appender *a;
	struct metric *g;
	static struct samples s;
	char name[200];
	int tick;

	g = registry_gauge(reg, "g", "A gauge.", (const char *const[]){ "i", NULL });
	for (int i = 0; i < 1500; i++) {
		/* Long values so that 1500 new series cannot fit in the small map. */
		snprintf(name, sizeof(name), "%0150d", i);
		series_set(metric_series(g, (const char *const[]){ name }), i);
	}
	a = store_appender_new(st, reg, 5000);
	store_test_set_max_map_size(st, 128 << 10);
	for (tick = 1; tick <= 4; tick++)
		assert_int_equal(store_appender_tick(a, tick * 10000, NULL, NULL), -ENOSPC);
	assert_true(reg_value(reg, "deploywatch_store_commit_errors_total", "no_space") == 4);
	assert_true(reg_value(reg, "deploywatch_store_pending_samples", NULL) == 5000);
	double dropped = reg_value(reg, "deploywatch_store_dropped_samples_total", NULL);

	/* 4 ticks of 1500 gauges and a few self-metrics, less the 5000 kept. */
	assert_true(dropped > 1000 && dropped < 1500);

	/* Room again: everything still pending is written, oldest first. */
	store_test_set_max_map_size(st, 0);
	assert_int_equal(store_appender_tick(a, 50000, NULL, NULL), 0);
	assert_true(reg_value(reg, "deploywatch_store_pending_samples", NULL) == 0);

	snprintf(name, sizeof(name), "%0150d", 0);
	read_all(st, series_id(st, "g", "i", name), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.t[0], 20000);
	snprintf(name, sizeof(name), "%0150d", 1499);
	read_all(st, series_id(st, "g", "i", name), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.t[0], 10000);
	assert_int_equal(s.t[4], 50000);
	assert_true(s.v[4] == 1499);
	store_appender_free(a);
	registry_free(reg);
	store_close(st);
}

/* ---- a reader process beside the writer ---- */

/* Wait until fd is readable, at most 'ms' milliseconds. */
static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* One read transaction: pa and pb were always written in the same batches. Returns the count
 * of samples seen, or -1 for an inconsistency or error. */
static long child_read_once(struct store *st)
{
	static struct samples sa, sb;
	struct store_reader *r;
	struct store_series_set *set;
	struct matcher m[] = { M("__name__", MATCH_RE, "pa|pb") };
	char err[256];
	long n = 0;

	if (store_reader_begin(st, &r))
		return -1;
	if (store_select(r, m, 1, INT64_MIN, INT64_MAX, &set, err, sizeof(err))) {
		store_reader_end(r);
		return -1;
	}
	if (store_series_set_len(set) == 2) {
		sa.n = sb.n = 0;
		if (store_read_samples(r, store_series_set_id(set, 0), INT64_MIN, INT64_MAX,
				       collect, &sa) ||
		    store_read_samples(r, store_series_set_id(set, 1), INT64_MIN, INT64_MAX,
				       collect, &sb) ||
		    sa.n != sb.n)
			n = -1;
		for (size_t i = 0; n >= 0 && i < sa.n; i++)
			if (sa.t[i] != (int64_t)i + 1 || sa.v[i] != (double)i)
				n = -1;
		if (n >= 0)
			n = (long)sa.n;
	}
	store_series_set_free(set);
	store_reader_end(r);
	return n;
}

/*
 * The child opens the store read-only with the writer's small map, says so, and reads while the
 * parent commits and grows the map. When told the writer is done, one more read must see all of
 * it, through a map this process had to adopt (MDB_MAP_RESIZED).
 */
static int child_reader(const char *path, int ready_w, int done_r)
{
	struct store_options opt = { .path = path, .read_only = true };
	struct store *st = NULL;
	char err[256], c;
	size_t initial;
	long n;

	if (store_open(&opt, &st, err, sizeof(err)))
		return 10;
	initial = store_test_map_size(st);
	if (write(ready_w, "r", 1) != 1)
		return 11;
	while (!wait_readable(done_r, 0))
		if (child_read_once(st) < 0)
			return 12;
	if (read(done_r, &c, 1) != 1)
		return 13;
	n = child_read_once(st);
	if (n != 3000)
		return 14;
	if (store_test_map_size(st) <= initial)
		return 15;
	store_close(st);
	return 0;
}

static void test_concurrent_reader(void **state)
{
	struct fixture *f = *state;
	/* A small map, so the writer grows it while the reader has it mapped. */
	struct store *st = open_store(f->path, false, 128 << 10, 0);
	struct store_batch *b = store_batch_new();
	size_t initial = store_test_map_size(st);
	int ready[2], done[2];
	char name[32], c;
	pid_t pid;
	int status = -1;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_reader(f->path, ready[1], done[0]));
	assert_true(wait_readable(ready[0], 30000));
	assert_int_equal(read(ready[0], &c, 1), 1);
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(add(b, "pa", i + 1, i, NULL), 0);
		assert_int_equal(add(b, "pb", i + 1, i, NULL), 0);
		/* Padding series make the map grow. */
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(add(b, "pad", i + 1, i, "n", name, NULL), 0);
		if (i % 10 == 9)
			assert_int_equal(store_commit(st, b, NULL), 0);
	}
	assert_true(store_test_map_size(st) > initial);
	assert_int_equal(write(done[1], "d", 1), 1);
	/* Wait with a deadline: a hung child is killed and fails the test. */
	for (int waited = 0; waited < 60000; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		status = -1;
		poll(NULL, 0, 10);
	}
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("reader process did not finish");
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	store_batch_free(b);
	store_close(st);
}

/*
 * Another process (a CLI import) appends to a series whose head this writer holds in memory:
 * the writer must notice and reload the head, or its next commit would overwrite the other
 * process's samples with its stale copy.
 */
static void test_other_writer(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f->path, false, 0, 0);
	struct store_batch *b = store_batch_new();
	struct store_commit_stats stats;
	static struct samples s;
	pid_t pid;
	int status;

	for (int i = 1; i <= 10; i++)
		assert_int_equal(add(b, "shared", i, i, NULL), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_options opt = { .path = f->path };
		struct store *other;
		struct store_batch *ob = store_batch_new();
		char err[256];
		int rc = store_open(&opt, &other, err, sizeof(err));

		for (int i = 11; !rc && i <= 20; i++)
			rc = add(ob, "shared", i, i, NULL);
		if (!rc)
			rc = store_commit(other, ob, NULL);
		_exit(rc ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* 15 is now out of order; 21 continues after the other process's 20. */
	assert_int_equal(add(b, "shared", 15, 0, NULL), 0);
	assert_int_equal(add(b, "shared", 21, 21, NULL), 0);
	assert_int_equal(store_commit(st, b, &stats), 0);
	assert_int_equal(stats.out_of_order, 1);
	assert_int_equal(stats.samples_written, 1);
	read_all(st, series_id(st, "shared", NULL, NULL), INT64_MIN, INT64_MAX, &s);
	assert_int_equal(s.n, 21);
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(s.t[i], (int64_t)i + 1);
		assert_true(s.v[i] == (double)(i + 1));
	}
	store_batch_free(b);
	store_close(st);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(err_str(0), "success");
	assert_non_null(strstr(err_str(STORE_E_FORMAT), "format"));
	assert_non_null(strstr(err_str(STORE_E_CORRUPT), "corrupt"));
	assert_non_null(strstr(err_str(STORE_E_OUT_OF_ORDER), "out of order"));
	assert_non_null(strstr(err_str(STORE_E_LMDB), "LMDB"));
	assert_string_equal(err_str(-ENOSPC), "No space left on device");
	assert_string_equal(err_str(12345), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_create_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_refusal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_while_created, setup, teardown),
		cmocka_unit_test(test_invalid_labels),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_readback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_windows_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_windows_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_batch_one_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_matchers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_names_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_atomic_and_map_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_map_size_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_keeps_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_appender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_appender_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_writer, setup, teardown),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
