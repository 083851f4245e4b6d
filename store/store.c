/*
 * The store's LMDB environment: open and the format check, transactions and map growth, and the
 * small helpers the whole module shares (big-endian keys, LMDB error mapping). Batches are in
 * store_batch.c, the commit and the writer's head chunks in store_commit.c, retention in
 * store_retention.c, readers in store_read.c, the appender in store_appender.c; the on-disk
 * layout is in docs/store-format.md.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"

/* ---- small helpers shared by the module ---- */

void store_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t store_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void store_chunk_key(uint8_t key[16], uint64_t id, int64_t t)
{
	store_put_be64(key, id);
	/* Flipping the sign bit makes unsigned big-endian order equal signed numeric order. */
	store_put_be64(key + 8, (uint64_t)t ^ ((uint64_t)1 << 63));
}

void store_chunk_key_parse(const uint8_t key[16], uint64_t *id, int64_t *t)
{
	*id = store_get_be64(key);
	*t = (int64_t)(store_get_be64(key + 8) ^ ((uint64_t)1 << 63));
}

int store_lmdb_err(struct store *st, int rc, const char *what)
{
	int err;

	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return STORE_E_FORMAT;
	default:
		if (rc > 0)
			return -rc;
		if (rc <= ERR_STORE_BASE && rc > ERR_STORE_BASE - ERR_RANGE)
			return rc;
		err = rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ? STORE_E_CORRUPT : STORE_E_LMDB;
		store_note_error(st, err, "%s: %s", what, mdb_strerror(rc));
		return err;
	}
}

void store_note_error(struct store *st, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->err_lock);
	st->last_err = err;
	va_start(ap, fmt);
	vsnprintf(st->last_detail, sizeof(st->last_detail), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&st->err_lock);
}

const char *store_last_lmdb_error(struct store *st, int err, char *buf, size_t len)
{
	if (!len)
		return buf;
	snprintf(buf, len, "%s", err_str(err));
	if (st && err) {
		size_t n = strlen(buf);

		pthread_mutex_lock(&st->err_lock);
		if (st->last_err == err && st->last_detail[0] && n + 4 < len)
			snprintf(buf + n, len - n, " (%s)", st->last_detail);
		pthread_mutex_unlock(&st->err_lock);
	}
	return buf;
}

/* ---- transactions and the map ---- */

/*
 * Take map_lock exclusively, waiting at most STORE_MAP_LOCK_WAIT_S for this process's readers to
 * end. A thread that holds a reader while it commits would otherwise wait for itself forever;
 * -EBUSY leaves its batch for the next try.
 */
#define STORE_MAP_LOCK_WAIT_S 10

static int map_lock_exclusive(struct store *st)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STORE_MAP_LOCK_WAIT_S;
	if (pthread_rwlock_timedwrlock(&st->map_lock, &deadline)) {
		store_note_error(st, -EBUSY, "this process's readers held the store for %d s while "
				 "the map had to be resized", STORE_MAP_LOCK_WAIT_S);
		return -EBUSY;
	}
	return 0;
}

static void refresh_map_size(struct store *st)
{
	MDB_envinfo info;

	if (!mdb_env_info(st->env, &info))
		st->map_size = info.me_mapsize;
}

int store_txn_begin(struct store *st, unsigned flags, MDB_txn **out)
{
	int rc;

	for (int tries = 0;; tries++) {
		pthread_rwlock_rdlock(&st->map_lock);
		rc = mdb_txn_begin(st->env, NULL, flags, out);
		if (!rc)
			return 0;
		pthread_rwlock_unlock(&st->map_lock);
		if (rc != MDB_MAP_RESIZED || tries >= 8)
			return store_lmdb_err(st, rc, "begin transaction");
		/* Another process grew the map: adopt its size (no transaction of ours is open). */
		rc = map_lock_exclusive(st);
		if (rc)
			return rc;
		rc = mdb_env_set_mapsize(st->env, 0);
		refresh_map_size(st);
		pthread_rwlock_unlock(&st->map_lock);
		if (rc)
			return store_lmdb_err(st, rc, "adopt grown map");
	}
}

int store_txn_end(struct store *st, MDB_txn *txn, bool commit)
{
	int rc = 0;

	if (commit)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&st->map_lock);
	return rc;
}

int store_meta_scan(struct store *st, const char *prefix, const char *what,
		    int (*fn)(void *ctx, const MDB_val *k, const MDB_val *d), void *ctx)
{
	size_t plen = strlen(prefix);
	MDB_val k = { plen, (void *)prefix }, d;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc, err = store_txn_begin(st, MDB_RDONLY, &txn);

	if (err)
		return err;
	rc = mdb_cursor_open(txn, st->meta, &cur);
	if (rc) {
		store_txn_end(st, txn, false);
		return store_lmdb_err(st, rc, what);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && err == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (k.mv_size <= plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		err = fn(ctx, &k, &d);
	}
	mdb_cursor_close(cur);
	store_txn_end(st, txn, false);
	if (err)
		return err > 0 ? 0 : err;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_err(st, rc, what);
}

/* Double the map (up to max_map_size) after MDB_MAP_FULL. Returns 0, -ENOSPC or -EBUSY. */
int store_grow(struct store *st)
{
	size_t next;
	int rc;

	rc = map_lock_exclusive(st);
	if (rc)
		return rc;
	if (st->map_size >= st->max_map_size) {
		pthread_rwlock_unlock(&st->map_lock);
		store_note_error(st, -ENOSPC, "the map is full at %zu bytes and may not grow further "
				 "(storage.max_size)", st->max_map_size);
		return -ENOSPC;
	}
	next = st->map_size > st->max_map_size / 2 ? st->max_map_size : st->map_size * 2;
	rc = mdb_env_set_mapsize(st->env, next);
	refresh_map_size(st);
	pthread_rwlock_unlock(&st->map_lock);
	if (rc) {
		store_note_error(st, -ENOSPC, "cannot grow the map to %zu bytes: %s", next,
				 mdb_strerror(rc));
		return -ENOSPC;
	}
	log_info("store", "store %s: map grown to %zu bytes", st->path, next);
	return 0;
}

void store_test_set_read_batch(struct store *st, size_t batch_samples, size_t parallel_min)
{
	st->read_batch_samples = batch_samples;
	st->parallel_min_samples = parallel_min;
}

void store_test_set_max_map_size(struct store *st, size_t max)
{
	st->max_map_size = max ? max : SIZE_MAX;
}

size_t store_test_map_size(const struct store *st)
{
	return st->map_size;
}
/* ---- open and close ---- */

static int format_check(struct store *st, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = { strlen(STORE_FORMAT_KEY), (void *)STORE_FORMAT_KEY }, d;
	uint32_t version;
	int rc = mdb_get(txn, st->meta, &k, &d);

	if (rc == MDB_NOTFOUND) {
		snprintf(err, errlen, "%s: not a deploywatch store (no format record)", st->path);
		return STORE_E_FORMAT;
	}
	if (rc) {
		snprintf(err, errlen, "%s: cannot read the format record: %s", st->path,
			 mdb_strerror(rc));
		return store_lmdb_err(st, rc, "read format record");
	}
	if (d.mv_size < 16 || memcmp(d.mv_data, STORE_FORMAT_MAGIC, 8)) {
		snprintf(err, errlen, "%s: not a deploywatch store (foreign format record)",
			 st->path);
		return STORE_E_FORMAT;
	}
	version = (uint32_t)(store_get_be64((const uint8_t *)d.mv_data + 8) >> 32);
	if (version > STORE_FORMAT_VERSION || version == 0) {
		snprintf(err, errlen,
			 "%s: store format version %u is newer than this deploywatch reads (%u); "
			 "upgrade deploywatch",
			 st->path, version, STORE_FORMAT_VERSION);
		return STORE_E_FORMAT;
	}
	return 0;
}

static const char *const db_names[] = { "meta", "series", "series_by_key", "postings", "chunks",
					"heads" };
#define STORE_NDBS (sizeof(db_names) / sizeof(db_names[0]))

static int open_dbs(struct store *st, MDB_txn *txn, unsigned create)
{
	MDB_dbi *dbis[STORE_NDBS] = { &st->meta, &st->series, &st->series_by_key, &st->postings,
				      &st->chunks, &st->heads };
	unsigned flags[STORE_NDBS] = { 0, 0, MDB_DUPSORT | MDB_DUPFIXED,
				       MDB_DUPSORT | MDB_DUPFIXED, 0, 0 };

	for (size_t i = 0; i < STORE_NDBS; i++) {
		int rc = mdb_dbi_open(txn, db_names[i], flags[i] | create, dbis[i]);

		if (rc)
			return rc;
	}
	return 0;
}

/* Is the main database empty but for our named databases? Then the store is new. */
static int env_is_fresh(MDB_txn *txn, bool *fresh)
{
	MDB_dbi main;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc = mdb_dbi_open(txn, NULL, 0, &main);

	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, main, &cur);
	if (rc)
		return rc;
	*fresh = true;
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		bool ours = false;

		for (size_t i = 0; i < STORE_NDBS; i++)
			if (k.mv_size == strlen(db_names[i]) && !memcmp(k.mv_data, db_names[i],
									k.mv_size))
				ours = true;
		if (!ours)
			*fresh = false;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int open_rw(struct store *st, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_val k = { strlen(STORE_FORMAT_KEY), (void *)STORE_FORMAT_KEY }, d;
	bool fresh = false;
	int rc, e;

	e = store_txn_begin(st, 0, &txn);
	if (e) {
		snprintf(err, errlen, "%s: cannot begin a write transaction: %s", st->path,
			 err_str(e));
		return e;
	}
	rc = mdb_dbi_open(txn, "meta", 0, &st->meta);
	if (rc == MDB_NOTFOUND) {
		rc = env_is_fresh(txn, &fresh);
		if (!rc && !fresh) {
			store_txn_end(st, txn, false);
			snprintf(err, errlen,
				 "%s: not a deploywatch store (foreign LMDB databases)", st->path);
			return STORE_E_FORMAT;
		}
	}
	if (!rc)
		rc = open_dbs(st, txn, MDB_CREATE);
	/* A name of ours exists with other flags: somebody else's database. */
	if (rc == MDB_INCOMPATIBLE) {
		store_txn_end(st, txn, false);
		snprintf(err, errlen, "%s: not a deploywatch store (incompatible LMDB database)",
			 st->path);
		return STORE_E_FORMAT;
	}
	if (rc)
		goto out_lmdb;
	if (fresh) {
		uint8_t rec[16] = { 0 };

		memcpy(rec, STORE_FORMAT_MAGIC, 8);
		store_put_be64(rec + 8, (uint64_t)STORE_FORMAT_VERSION << 32);
		d.mv_size = sizeof(rec);
		d.mv_data = rec;
		rc = mdb_put(txn, st->meta, &k, &d, 0);
		if (rc)
			goto out_lmdb;
	} else {
		e = format_check(st, txn, err, errlen);
		if (e) {
			store_txn_end(st, txn, false);
			return e;
		}
	}
	rc = store_txn_end(st, txn, true);
	if (rc) {
		snprintf(err, errlen, "%s: cannot commit: %s", st->path, mdb_strerror(rc));
		return store_lmdb_err(st, rc, "create store");
	}
	return 0;

out_lmdb:
	store_txn_end(st, txn, false);
	snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
	return store_lmdb_err(st, rc, "open databases");
}

/* Does the main database hold no key at all? An LMDB environment nothing was committed to. */
static bool env_is_empty(MDB_txn *txn)
{
	MDB_dbi main;
	MDB_cursor *cur;
	MDB_val k, d;
	bool empty = false;

	if (mdb_dbi_open(txn, NULL, 0, &main) || mdb_cursor_open(txn, main, &cur))
		return false;
	empty = mdb_cursor_get(cur, &k, &d, MDB_FIRST) == MDB_NOTFOUND;
	mdb_cursor_close(cur);
	return empty;
}

/* How long a reader waits for an agent that has created the environment to commit the store's
 * databases: open_rw's first transaction follows mdb_env_open at once. */
#define STORE_CREATE_WAIT_MS 2000
#define STORE_CREATE_POLL_MS 20

static int open_ro(struct store *st, char *err, size_t errlen)
{
	MDB_txn *txn;
	int rc, e, waited = 0;

again:
	e = store_txn_begin(st, MDB_RDONLY, &txn);
	if (e) {
		snprintf(err, errlen, "%s: cannot begin a read transaction: %s", st->path,
			 err_str(e));
		return e;
	}
	rc = open_dbs(st, txn, 0);
	if (rc == MDB_NOTFOUND && env_is_empty(txn)) {
		/* An agent starting up has made data.mdb but not yet committed its databases (a
		 * `dump` run just after `run` began): wait for that commit rather than call the
		 * store foreign. Still empty after the wait: no store yet, like a missing one. */
		store_txn_end(st, txn, false);
		if (waited < STORE_CREATE_WAIT_MS) {
			struct timespec ts = { 0, STORE_CREATE_POLL_MS * 1000000L };

			nanosleep(&ts, NULL);
			waited += STORE_CREATE_POLL_MS;
			goto again;
		}
		snprintf(err, errlen, "%s: no store yet (an empty LMDB environment: an agent is "
			 "creating it, or stopped before its first commit)", st->path);
		return -ENOENT;
	}
	if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
		store_txn_end(st, txn, false);
		snprintf(err, errlen, "%s: not a deploywatch store (no store databases)", st->path);
		return STORE_E_FORMAT;
	}
	if (rc) {
		store_txn_end(st, txn, false);
		snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
		return store_lmdb_err(st, rc, "open databases");
	}
	e = format_check(st, txn, err, errlen);
	/* Committing a read transaction keeps the database handles it opened. */
	rc = store_txn_end(st, txn, e == 0);
	if (e)
		return e;
	if (rc) {
		snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
		return store_lmdb_err(st, rc, "open databases");
	}
	return 0;
}

int store_open(const struct store_options *opt, struct store **out, char *err, size_t errlen)
{
	struct store *st;
	unsigned flags = MDB_NOTLS;
	int rc, e, dead = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!opt->path || !*opt->path) {
		snprintf(err, errlen, "store: no path given");
		return -EINVAL;
	}
	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(opt->path);
	st->read_only = opt->read_only;
	st->retention_ms = opt->retention_ms;
	st->max_map_size = opt->max_map_size ? opt->max_map_size : SIZE_MAX;
	buf_init(&st->enc, (size_t)64 << 10);
	pthread_rwlock_init(&st->map_lock, NULL);
	pthread_mutex_init(&st->err_lock, NULL);
	pthread_mutex_init(&st->pool_lock, NULL);
	st->decode_helpers = opt->decode_helpers;
	st->read_batch_samples = STORE_READ_BATCH_SAMPLES;
	st->parallel_min_samples = STORE_PARALLEL_MIN_SAMPLES;

	if (!st->read_only && mkdir(st->path, 0750) && errno != EEXIST) {
		e = -errno;
		snprintf(err, errlen, "%s: cannot create the store directory: %s", st->path,
			 strerror(-e));
		goto out_free;
	}
	rc = mdb_env_create(&st->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(st->env, 8);
	if (!rc)
		rc = mdb_env_set_maxreaders(st->env, STORE_MAX_READERS);
	if (!rc && !st->read_only) {
		size_t initial = opt->initial_map_size ? opt->initial_map_size : STORE_DEFAULT_MAP_SIZE;

		rc = mdb_env_set_mapsize(st->env, initial < st->max_map_size ? initial : st->max_map_size);
	}
	if (rc) {
		e = store_lmdb_err(st, rc, "create environment");
		snprintf(err, errlen, "%s: cannot create the LMDB environment: %s", st->path,
			 mdb_strerror(rc));
		goto out_free;
	}
	if (st->read_only)
		flags |= MDB_RDONLY;
	rc = mdb_env_open(st->env, st->path, flags, 0640);
	if (rc) {
		e = rc > 0 ? -rc : store_lmdb_err(st, rc, "open environment");
		snprintf(err, errlen, "%s: cannot open the store: %s", st->path, mdb_strerror(rc));
		goto out_free;
	}
	refresh_map_size(st);
	mdb_reader_check(st->env, &dead);
	if (dead)
		log_info("store", "store %s: cleared %d stale reader slots", st->path, dead);
	e = st->read_only ? open_ro(st, err, errlen) : open_rw(st, err, errlen);
	if (e)
		goto out_free;
	*out = st;
	return 0;

out_free:
	store_close(st);
	return e;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_pool_stop(st);
	store_spare_readers_free(st);
	store_wcache_clear(st);
	canon_table_release(&st->wcache);
	if (st->env)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->map_lock);
	pthread_mutex_destroy(&st->err_lock);
	pthread_mutex_destroy(&st->pool_lock);
	buf_release(&st->enc);
	free(st->path);
	free(st);
}
