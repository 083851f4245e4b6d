/*
 * The store's LMDB environment: open and format check, batches, the commit with head chunks and
 * map growth, retention. Readers are in store_read.c, the appender in store_appender.c; the
 * on-disk layout is in docs/store-format.md.
 */
#include "store/store_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "store/chunk.h"

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

uint64_t store_canon_hash(const char *canon, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)canon[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int store_lmdb_err(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		log_error("store", "LMDB %s: %s", what, mdb_strerror(rc));
		return STORE_E_CORRUPT;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return STORE_E_FORMAT;
	default:
		if (rc > 0)
			return -rc;
		log_error("store", "LMDB %s: %s", what, mdb_strerror(rc));
		return STORE_E_LMDB;
	}
}

/* ---- labels ---- */

static bool valid_label_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static bool valid_metric_name(const char *s)
{
	if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* __name__ sorts first, then plain byte order. */
static int label_cmp(const struct label *a, const struct label *b)
{
	bool an = strcmp(a->name, "__name__") == 0, bn = strcmp(b->name, "__name__") == 0;

	if (an != bn)
		return an ? -1 : 1;
	return strcmp(a->name, b->name);
}

int store_canon_labels(const struct label *labels, size_t n, struct buf *out)
{
	struct label sorted[STORE_MAX_LABELS];
	size_t m = 0;
	bool have_name = false;

	if (n > STORE_MAX_LABELS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t nl, vl;

		if (!labels[i].name || !labels[i].value)
			return -EINVAL;
		nl = strlen(labels[i].name);
		vl = strlen(labels[i].value);
		if (nl > STORE_MAX_NAME_LEN || nl + 1 + vl > STORE_MAX_POSTING_KEY ||
		    !valid_label_name(labels[i].name))
			return -EINVAL;
		if (strcmp(labels[i].name, "__name__") == 0) {
			if (!valid_metric_name(labels[i].value))
				return -EINVAL;
			have_name = true;
		}
		if (!vl)
			continue;
		/* Insertion sort: at most STORE_MAX_LABELS entries. */
		size_t j = m++;
		while (j > 0 && label_cmp(&sorted[j - 1], &labels[i]) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = labels[i];
	}
	if (!have_name)
		return -EINVAL;
	for (size_t i = 1; i < m; i++)
		if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
			return -EINVAL;
	for (size_t i = 0; i < m; i++) {
		if (buf_append(out, sorted[i].name, strlen(sorted[i].name) + 1) ||
		    buf_append(out, sorted[i].value, strlen(sorted[i].value) + 1))
			return -EINVAL;
	}
	return 0;
}

int store_canon_split(const char *canon, size_t len, struct label *out, size_t max)
{
	size_t n = 0, i = 0;

	if (!len || canon[len - 1] != '\0')
		return STORE_E_CORRUPT;
	while (i < len) {
		const char *name = canon + i;
		const char *value;

		i += strlen(name) + 1;
		if (i >= len || n >= max)
			return STORE_E_CORRUPT;
		value = canon + i;
		i += strlen(value) + 1;
		out[n].name = name;
		out[n].value = value;
		n++;
	}
	return (int)n;
}

/* ---- batches ---- */

struct store_batch *store_batch_new(void)
{
	struct store_batch *b = xcalloc(1, sizeof(*b));

	buf_init(&b->scratch, STORE_MAX_CANON_LEN);
	return b;
}

static void batch_clear(struct store_batch *b)
{
	for (size_t i = 0; i < b->nseries; i++)
		free(b->series[i].canon);
	for (size_t i = 0; i < b->nmeta; i++) {
		free(b->meta[i].key);
		free(b->meta[i].val);
	}
	b->nseries = 0;
	b->nsamples = 0;
	b->nmeta = 0;
	store_catalog_buf_clear(b->catalog);
	if (b->tab)
		memset(b->tab, 0, (b->tmask + 1) * sizeof(*b->tab));
}

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	batch_clear(b);
	free(b->series);
	free(b->tab);
	free(b->samples);
	free(b->meta);
	store_catalog_buf_free(b->catalog);
	buf_release(&b->scratch);
	free(b);
}

size_t store_batch_len(const struct store_batch *b)
{
	return b->nsamples;
}

static void batch_rehash(struct store_batch *b, size_t nbuckets)
{
	free(b->tab);
	b->tab = xcalloc(nbuckets, sizeof(*b->tab));
	b->tmask = nbuckets - 1;
	for (size_t i = 0; i < b->nseries; i++) {
		size_t h = b->series[i].hash & b->tmask;

		b->series[i].next = b->tab[h];
		b->tab[h] = (uint32_t)(i + 1);
	}
}

int store_batch_add_canon(struct store_batch *b, const char *canon, size_t clen,
			  enum metric_type type, int64_t t_ms, double v)
{
	uint64_t h = store_canon_hash(canon, clen);
	uint32_t idx = 0;

	if (b->nsamples >= STORE_MAX_BATCH_SAMPLES)
		return -E2BIG;
	if (b->tab) {
		for (uint32_t k = b->tab[h & b->tmask]; k; k = b->series[k - 1].next) {
			struct bseries *s = &b->series[k - 1];

			if (s->hash == h && s->clen == clen && !memcmp(s->canon, canon, clen)) {
				idx = k;
				break;
			}
		}
	}
	if (!idx) {
		struct bseries *s;

		if (b->nseries == b->series_cap) {
			b->series_cap = b->series_cap ? b->series_cap * 2 : 64;
			b->series = xrealloc(b->series, b->series_cap * sizeof(*b->series));
		}
		s = &b->series[b->nseries++];
		s->canon = xmalloc(clen);
		memcpy(s->canon, canon, clen);
		s->clen = clen;
		s->hash = h;
		s->type = type;
		s->count = 0;
		idx = (uint32_t)b->nseries;
		if (!b->tab || b->nseries > b->tmask + 1) {
			batch_rehash(b, b->tab ? (b->tmask + 1) * 2 : 64);
		} else {
			s->next = b->tab[h & b->tmask];
			b->tab[h & b->tmask] = idx;
		}
	}
	if (b->nsamples == b->samples_cap) {
		b->samples_cap = b->samples_cap ? b->samples_cap * 2 : 256;
		b->samples = xrealloc(b->samples, b->samples_cap * sizeof(*b->samples));
	}
	b->samples[b->nsamples].sidx = idx - 1;
	b->samples[b->nsamples].t = t_ms;
	b->samples[b->nsamples].v = v;
	b->nsamples++;
	return 0;
}

int store_batch_add(struct store_batch *b, const struct label *labels, size_t n,
		    enum metric_type type, int64_t t_ms, double v)
{
	int err;

	buf_reset(&b->scratch);
	err = store_canon_labels(labels, n, &b->scratch);
	if (err)
		return err;
	return store_batch_add_canon(b, b->scratch.data, b->scratch.len, type, t_ms, v);
}

void store_batch_drop_oldest(struct store_batch *b, size_t k)
{
	if (k >= b->nsamples) {
		b->nsamples = 0;
		return;
	}
	memmove(b->samples, b->samples + k, (b->nsamples - k) * sizeof(*b->samples));
	b->nsamples -= k;
}

int store_batch_put_meta(struct store_batch *b, const char *key, const void *val, size_t len)
{
	size_t kl = strlen(key);
	struct bmeta *m = NULL;

	if (!kl || kl > STORE_MAX_META_KEY || len > STORE_MAX_META_VAL)
		return -EINVAL;
	/* The last record for a key wins: a retried batch carries the newest offsets. */
	for (size_t i = 0; i < b->nmeta; i++)
		if (!strcmp(b->meta[i].key, key))
			m = &b->meta[i];
	if (!m) {
		if (b->nmeta == b->meta_cap) {
			b->meta_cap = b->meta_cap ? b->meta_cap * 2 : 8;
			b->meta = xrealloc(b->meta, b->meta_cap * sizeof(*b->meta));
		}
		m = &b->meta[b->nmeta++];
		m->key = xstrdup(key);
	} else {
		free(m->val);
	}
	m->val = xmalloc(len);
	if (len)
		memcpy(m->val, val, len);
	m->len = len;
	return 0;
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
		log_error("store", "store %s: readers held the store for %ds while the map had to "
				   "be resized; the write is retried later",
			  st->path, STORE_MAP_LOCK_WAIT_S);
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
			return store_lmdb_err(rc, "begin transaction");
		/* Another process grew the map: adopt its size (no transaction of ours is open). */
		rc = map_lock_exclusive(st);
		if (rc)
			return rc;
		rc = mdb_env_set_mapsize(st->env, 0);
		refresh_map_size(st);
		pthread_rwlock_unlock(&st->map_lock);
		if (rc)
			return store_lmdb_err(rc, "adopt grown map");
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

/* Double the map (up to max_map_size) after MDB_MAP_FULL. Returns 0, -ENOSPC or -EBUSY. */
static int store_grow(struct store *st)
{
	size_t next;
	int rc;

	rc = map_lock_exclusive(st);
	if (rc)
		return rc;
	if (st->map_size >= st->max_map_size) {
		pthread_rwlock_unlock(&st->map_lock);
		/* Once per episode: the caller retries every tick. */
		if (!st->map_full_logged)
			log_error("store", "store %s: map is full at %zu bytes and may not grow "
					   "further; writes fail until space is freed",
				  st->path, st->max_map_size);
		st->map_full_logged = true;
		return -ENOSPC;
	}
	next = st->map_size > st->max_map_size / 2 ? st->max_map_size : st->map_size * 2;
	rc = mdb_env_set_mapsize(st->env, next);
	refresh_map_size(st);
	pthread_rwlock_unlock(&st->map_lock);
	if (rc) {
		log_error("store", "store %s: cannot grow the map to %zu bytes: %s", st->path, next,
			  mdb_strerror(rc));
		return -ENOSPC;
	}
	log_info("store", "store %s: map grown to %zu bytes", st->path, next);
	return 0;
}

void store_test_set_max_map_size(struct store *st, size_t max)
{
	st->max_map_size = max ? max : SIZE_MAX;
}

size_t store_test_map_size(const struct store *st)
{
	return st->map_size;
}

/* ---- the writer's series cache ---- */

static void wseries_free(struct wseries *w)
{
	free((char *)w->node.canon);
	free(w->ts);
	free(w->vals);
	free(w);
}

static bool wseries_drop_all(struct canon_node *n, void *ctx)
{
	(void)ctx;
	wseries_free(container_of(n, struct wseries, node));
	return true;
}

static void wcache_clear(struct store *st)
{
	canon_table_remove_if(&st->wcache, wseries_drop_all, NULL);
}

static struct wseries *wcache_find(struct store *st, const char *canon, size_t clen, uint64_t h)
{
	struct canon_node *n = canon_table_find(&st->wcache, canon, clen, h);

	return n ? container_of(n, struct wseries, node) : NULL;
}

struct id_list {
	const uint64_t *ids;    /* sorted */
	size_t n;
};

/* Drop (and free) a cached series whose id is in the sorted list. */
static bool wseries_drop_listed(struct canon_node *node, void *ctx)
{
	const struct id_list *l = ctx;
	struct wseries *w = container_of(node, struct wseries, node);
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (l->ids[mid] < w->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < l->n && l->ids[lo] == w->id) {
		wseries_free(w);
		return true;
	}
	return false;
}

/* Forget the cached series whose id is in the sorted array 'ids'. */
static void wcache_drop_ids(struct store *st, const uint64_t *ids, size_t n)
{
	struct id_list l = { ids, n };

	canon_table_remove_if(&st->wcache, wseries_drop_listed, &l);
}

static void head_reserve(struct wseries *w, size_t n)
{
	if (n <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 16;

	while (cap < n)
		cap *= 2;
	w->ts = xrealloc(w->ts, cap * sizeof(*w->ts));
	w->vals = xrealloc(w->vals, cap * sizeof(*w->vals));
	w->cap = cap;
}

/* ---- reading the last chunk of a series ---- */

/* Position 'cur' on the last chunk of 'id'. Returns 0, MDB_NOTFOUND or an LMDB error. */
static int cursor_last_chunk(MDB_cursor *cur, uint64_t id, MDB_val *k, MDB_val *v)
{
	uint8_t key[16];
	uint64_t kid;
	int64_t kt;
	int rc;

	store_chunk_key(key, id, INT64_MAX);
	k->mv_data = key;
	k->mv_size = sizeof(key);
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0) {
		/* The key for (id, INT64_MAX) itself would be the last chunk. */
		if (k->mv_size == 16 && !memcmp(k->mv_data, key, 16))
			return 0;
		rc = mdb_cursor_get(cur, k, v, MDB_PREV);
	} else if (rc == MDB_NOTFOUND) {
		rc = mdb_cursor_get(cur, k, v, MDB_LAST);
	}
	if (rc)
		return rc;
	if (k->mv_size != 16)
		return MDB_CORRUPTED;
	store_chunk_key_parse(k->mv_data, &kid, &kt);
	return kid == id ? 0 : MDB_NOTFOUND;
}

static int head_get(struct store *st, MDB_txn *txn, uint64_t id, MDB_val *d)
{
	uint8_t key[8];
	MDB_val k = { 8, key };

	store_put_be64(key, id);
	return mdb_get(txn, st->heads, &k, d);
}

int store_last_sample(struct store *st, MDB_txn *txn, uint64_t id, int64_t *t, double *v)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	size_t n;
	int64_t *ts = NULL;
	double *vals = NULL;
	int rc, err;

	/* The open head holds the newest samples; without one, the last sealed chunk does. */
	rc = head_get(st, txn, id, &d);
	if (rc == MDB_NOTFOUND) {
		rc = mdb_cursor_open(txn, st->chunks, &cur);
		if (!rc)
			rc = cursor_last_chunk(cur, id, &k, &d);
	}
	if (rc) {
		err = store_lmdb_err(rc, "find last chunk");
		goto out;
	}
	if (chunk_peek(d.mv_data, d.mv_size, &n, NULL, NULL) || !n) {
		err = STORE_E_CORRUPT;
		goto out;
	}
	ts = xmalloc(n * sizeof(*ts));
	vals = xmalloc(n * sizeof(*vals));
	if (chunk_decode(d.mv_data, d.mv_size, ts, vals, n, &n) || !n) {
		err = STORE_E_CORRUPT;
		goto out;
	}
	*t = ts[n - 1];
	*v = vals[n - 1];
	err = 0;
out:
	free(ts);
	free(vals);
	if (cur)
		mdb_cursor_close(cur);
	return err;
}

/* Load an existing series' head into w, or its last timestamp from its last sealed chunk. */
static int wseries_load(struct store *st, MDB_txn *txn, MDB_cursor *cur, struct wseries *w)
{
	MDB_val k, d;
	size_t n;
	int64_t last;
	int rc;

	rc = head_get(st, txn, w->id, &d);
	if (rc == 0) {
		if (chunk_peek(d.mv_data, d.mv_size, &n, NULL, &last) || !n ||
		    n > STORE_SEAL_SAMPLES)
			goto out_corrupt;
		head_reserve(w, n);
		if (chunk_decode(d.mv_data, d.mv_size, w->ts, w->vals, w->cap, &w->n)) {
			w->n = 0;
			goto out_corrupt;
		}
		w->last_ts = last;
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	rc = cursor_last_chunk(cur, w->id, &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (chunk_peek(d.mv_data, d.mv_size, NULL, NULL, &last))
		goto out_corrupt;
	w->last_ts = last;
	return 0;

out_corrupt:
	log_error("store", "store %s: series %llu has a malformed last chunk", st->path,
		  (unsigned long long)w->id);
	return MDB_CORRUPTED;
}

/* ---- the commit ---- */

struct commit_ctx {
	struct store *st;
	MDB_txn *txn;
	MDB_cursor *chunk_cur;
	uint64_t next_id;
	bool next_id_dirty;
	struct store_commit_stats stats;
};

static int meta_get_u64(struct store *st, MDB_txn *txn, const char *key, uint64_t *out)
{
	MDB_val k = { strlen(key), (void *)key }, d;
	int rc = mdb_get(txn, st->meta, &k, &d);

	if (rc)
		return rc;
	if (d.mv_size != 8)
		return MDB_CORRUPTED;
	*out = store_get_be64(d.mv_data);
	return 0;
}

/* Find the series of 'canon' in the index, or create it. Returns an LMDB code. */
static int series_lookup_or_create(struct commit_ctx *c, const struct bseries *bs,
				   struct wseries *w)
{
	struct store *st = c->st;
	uint8_t hkey[8], idbuf[8];
	MDB_val k = { 8, hkey }, d;
	MDB_cursor *cur;
	int rc;

	store_put_be64(hkey, bs->hash);
	rc = mdb_cursor_open(c->txn, st->series_by_key, &cur);
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET);
	while (rc == 0) {
		MDB_val sk, sd;

		if (d.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		sk.mv_size = 8;
		sk.mv_data = d.mv_data;
		rc = mdb_get(c->txn, st->series, &sk, &sd);
		if (rc)
			break;
		if (sd.mv_size == bs->clen + 1 && !memcmp((uint8_t *)sd.mv_data + 1, bs->canon,
							  bs->clen)) {
			w->id = store_get_be64(d.mv_data);
			mdb_cursor_close(cur);
			return 0;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_DUP);
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;

	/* A new series: the record, the key index and one posting per label. */
	uint8_t *rec = xmalloc(bs->clen + 1);
	struct label labels[STORE_MAX_LABELS];
	int nl;

	w->id = c->next_id++;
	c->next_id_dirty = true;
	store_put_be64(idbuf, w->id);
	rec[0] = (uint8_t)bs->type;
	memcpy(rec + 1, bs->canon, bs->clen);
	k.mv_size = 8;
	k.mv_data = idbuf;
	d.mv_size = bs->clen + 1;
	d.mv_data = rec;
	rc = mdb_put(c->txn, st->series, &k, &d, MDB_NOOVERWRITE);
	free(rec);
	if (rc)
		return rc;
	k.mv_data = hkey;
	d.mv_size = 8;
	d.mv_data = idbuf;
	rc = mdb_put(c->txn, st->series_by_key, &k, &d, 0);
	if (rc)
		return rc;
	nl = store_canon_split(bs->canon, bs->clen, labels, STORE_MAX_LABELS);
	if (nl < 0)
		return MDB_CORRUPTED;
	for (int i = 0; i < nl; i++) {
		/* The posting key is "name\0value", as laid out in the canonical bytes. */
		k.mv_data = (void *)labels[i].name;
		k.mv_size = strlen(labels[i].name) + 1 + strlen(labels[i].value);
		rc = mdb_put(c->txn, st->postings, &k, &d, 0);
		if (rc)
			return rc;
	}
	c->stats.series_created++;
	return 0;
}

/* Encode the first k head samples into st->enc. Returns 0 or a negative chunk error. */
static int head_encode(struct store *st, const struct wseries *w, size_t k)
{
	buf_reset(&st->enc);
	return chunk_encode(w->ts, w->vals, k, &st->enc);
}

static int put_chunk(struct commit_ctx *c, uint64_t id, int64_t first)
{
	uint8_t key[16];
	MDB_val k = { 16, key }, d = { c->st->enc.len, c->st->enc.data };

	store_chunk_key(key, id, first);
	return mdb_put(c->txn, c->st->chunks, &k, &d, 0);
}

static int put_head(struct commit_ctx *c, uint64_t id)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, d = { c->st->enc.len, c->st->enc.data };

	store_put_be64(key, id);
	return mdb_put(c->txn, c->st->heads, &k, &d, 0);
}

static int del_head(struct commit_ctx *c, uint64_t id)
{
	uint8_t key[8];
	MDB_val k = { 8, key };
	int rc;

	store_put_be64(key, id);
	rc = mdb_del(c->txn, c->st->heads, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Write the head. A head that would encode to more than STORE_SEAL_BYTES is split: the longest
 * prefix that fits is sealed into 'chunks' and the rest stays the head. With 'seal' (the head
 * reached STORE_SEAL_SAMPLES) a head that fits is sealed whole and its head record removed;
 * otherwise the caller writes the head again after its last sample.
 * Returns an LMDB code, or MDB_CORRUPTED if the codec refuses the samples.
 */
static int head_write(struct commit_ctx *c, struct wseries *w, bool seal)
{
	struct store *st = c->st;
	int rc;

	while (w->n) {
		if (head_encode(st, w, w->n))
			return MDB_CORRUPTED;
		if (st->enc.len <= STORE_SEAL_BYTES) {
			if (!seal)
				return put_head(c, w->id);
			rc = put_chunk(c, w->id, w->ts[0]);
			if (rc)
				return rc;
			w->n = 0;
			return del_head(c, w->id);
		}
		/* Binary search the longest prefix that fits; one sample always does. */
		size_t lo = 1, hi = w->n - 1;

		while (lo < hi) {
			size_t mid = lo + (hi - lo + 1) / 2;

			if (head_encode(st, w, mid))
				return MDB_CORRUPTED;
			if (st->enc.len <= STORE_SEAL_BYTES)
				lo = mid;
			else
				hi = mid - 1;
		}
		if (head_encode(st, w, lo))
			return MDB_CORRUPTED;
		rc = put_chunk(c, w->id, w->ts[0]);
		if (rc)
			return rc;
		memmove(w->ts, w->ts + lo, (w->n - lo) * sizeof(*w->ts));
		memmove(w->vals, w->vals + lo, (w->n - lo) * sizeof(*w->vals));
		w->n -= lo;
		if (seal)
			return 0;
	}
	return 0;
}

static int commit_series(struct commit_ctx *c, const struct store_batch *b, uint32_t sidx,
			 const uint32_t *samples, size_t ns)
{
	struct store *st = c->st;
	const struct bseries *bs = &b->series[sidx];
	struct wseries *w = wcache_find(st, bs->canon, bs->clen, bs->hash);
	bool touched = false;
	int rc;

	if (!w) {
		w = xcalloc(1, sizeof(*w));
		char *canon = xmalloc(bs->clen);

		memcpy(canon, bs->canon, bs->clen);
		w->node.hash = bs->hash;
		w->node.canon = canon;
		w->node.clen = bs->clen;
		w->last_ts = INT64_MIN;
		canon_table_insert(&st->wcache, &w->node);
		rc = series_lookup_or_create(c, bs, w);
		if (!rc)
			rc = wseries_load(st, c->txn, c->chunk_cur, w);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < ns; i++) {
		const struct bsample *s = &b->samples[samples[i]];

		if (s->t <= w->last_ts) {
			c->stats.out_of_order++;
			continue;
		}
		head_reserve(w, w->n + 1);
		w->ts[w->n] = s->t;
		w->vals[w->n] = s->v;
		w->n++;
		w->last_ts = s->t;
		c->stats.samples_written++;
		touched = true;
		if (w->n >= STORE_SEAL_SAMPLES) {
			rc = head_write(c, w, true);
			if (rc)
				return rc;
		}
	}
	if (touched)
		return head_write(c, w, false);
	return 0;
}

/*
 * One attempt at writing the batch. Returns 0, STORE_RETRY_GROW after MDB_MAP_FULL (the
 * transaction was aborted: grow the map and try again) or a negative store error.
 */
#define STORE_RETRY_GROW 1

static int commit_once(struct store *st, const struct store_batch *b, const uint32_t *order,
		       const size_t *start, struct store_commit_stats *stats)
{
	struct commit_ctx c = { .st = st };
	uint8_t idbuf[8];
	MDB_val k, d;
	size_t tid;
	int rc, err;

	err = store_txn_begin(st, 0, &c.txn);
	if (err)
		return err;
	tid = mdb_txn_id(c.txn);
	/* Someone else wrote since our last commit: our heads may be stale. */
	if (tid != st->expect_txnid || st->wcache.n > STORE_WCACHE_MAX)
		wcache_clear(st);
	rc = meta_get_u64(st, c.txn, STORE_NEXT_ID_KEY, &c.next_id);
	if (rc == MDB_NOTFOUND) {
		c.next_id = 1;
		rc = 0;
	}
	if (!rc)
		rc = mdb_cursor_open(c.txn, st->chunks, &c.chunk_cur);
	for (size_t s = 0; !rc && s < b->nseries; s++)
		if (start[s + 1] > start[s])
			rc = commit_series(&c, b, (uint32_t)s, order + start[s],
					   start[s + 1] - start[s]);
	for (size_t i = 0; !rc && i < b->nmeta; i++) {
		char key[sizeof(STORE_USER_PREFIX) + STORE_MAX_META_KEY];
		int kl = snprintf(key, sizeof(key), "%s%s", STORE_USER_PREFIX, b->meta[i].key);

		k.mv_size = (size_t)kl;
		k.mv_data = key;
		d.mv_size = b->meta[i].len;
		d.mv_data = b->meta[i].val;
		rc = mdb_put(c.txn, st->meta, &k, &d, 0);
	}
	if (!rc)
		rc = store_catalog_write(st, c.txn, b->catalog);
	if (!rc && c.next_id_dirty) {
		store_put_be64(idbuf, c.next_id);
		k.mv_size = strlen(STORE_NEXT_ID_KEY);
		k.mv_data = (void *)STORE_NEXT_ID_KEY;
		d.mv_size = 8;
		d.mv_data = idbuf;
		rc = mdb_put(c.txn, st->meta, &k, &d, 0);
	}
	if (c.chunk_cur)
		mdb_cursor_close(c.chunk_cur);
	if (!rc)
		rc = store_txn_end(st, c.txn, true);
	else
		store_txn_end(st, c.txn, false);
	if (rc) {
		/* The heads in memory ran ahead of what is on disk: reload them next time. */
		wcache_clear(st);
		if (rc == MDB_MAP_FULL)
			return STORE_RETRY_GROW;
		return store_lmdb_err(rc, "commit");
	}
	st->expect_txnid = tid + 1;
	st->map_full_logged = false;
	if (stats)
		*stats = c.stats;
	return 0;
}

int store_commit(struct store *st, struct store_batch *b, struct store_commit_stats *stats)
{
	uint32_t *order;
	size_t *start, *pos;
	int err;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (st->read_only)
		return -EROFS;
	if (!b->nsamples && !b->nmeta && !store_catalog_buf_len(b->catalog))
		return 0;

	/* Group the samples by series, keeping their order within a series (counting sort). */
	for (size_t i = 0; i < b->nseries; i++)
		b->series[i].count = 0;
	for (size_t i = 0; i < b->nsamples; i++)
		b->series[b->samples[i].sidx].count++;
	start = xmalloc((b->nseries + 1) * sizeof(*start));
	pos = xmalloc((b->nseries + 1) * sizeof(*pos));
	start[0] = 0;
	for (size_t i = 0; i < b->nseries; i++)
		start[i + 1] = start[i] + b->series[i].count;
	memcpy(pos, start, (b->nseries + 1) * sizeof(*pos));
	order = xmalloc((b->nsamples ? b->nsamples : 1) * sizeof(*order));
	for (size_t i = 0; i < b->nsamples; i++)
		order[pos[b->samples[i].sidx]++] = (uint32_t)i;
	free(pos);

	for (;;) {
		err = commit_once(st, b, order, start, stats);
		if (err != STORE_RETRY_GROW)
			break;
		err = store_grow(st);
		if (err)
			break;
	}
	free(order);
	free(start);
	if (err)
		return err;
	batch_clear(b);
	return 0;
}

/* ---- retention ---- */

static int delete_series(struct store *st, MDB_txn *txn, uint64_t id)
{
	uint8_t idbuf[8], hkey[8];
	MDB_val k = { 8, idbuf }, d, pd;
	struct label labels[STORE_MAX_LABELS];
	const char *canon;
	size_t clen;
	int nl, rc;

	store_put_be64(idbuf, id);
	rc = mdb_get(txn, st->series, &k, &d);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (d.mv_size < 2)
		return MDB_CORRUPTED;
	canon = (const char *)d.mv_data + 1;
	clen = d.mv_size - 1;
	/* mdb_del below may move the record: work on a copy. */
	char *copy = xmalloc(clen);

	memcpy(copy, canon, clen);
	nl = store_canon_split(copy, clen, labels, STORE_MAX_LABELS);
	rc = nl < 0 ? MDB_CORRUPTED : 0;
	pd.mv_size = 8;
	pd.mv_data = idbuf;
	for (int i = 0; !rc && i < nl; i++) {
		MDB_val pk = { strlen(labels[i].name) + 1 + strlen(labels[i].value),
			       (void *)labels[i].name };

		rc = mdb_del(txn, st->postings, &pk, &pd);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (!rc) {
		MDB_val hk = { 8, hkey };

		store_put_be64(hkey, store_canon_hash(copy, clen));
		rc = mdb_del(txn, st->series_by_key, &hk, &pd);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	free(copy);
	if (!rc)
		rc = mdb_del(txn, st->series, &k, NULL);
	return rc;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void ids_add(uint64_t **ids, size_t *nids, size_t *cap, uint64_t id)
{
	if (*nids && (*ids)[*nids - 1] == id)
		return;
	if (*nids == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*ids = xrealloc(*ids, *cap * sizeof(**ids));
	}
	(*ids)[(*nids)++] = id;
}

static bool has_head(struct store *st, MDB_txn *txn, uint64_t id)
{
	MDB_val d;

	return head_get(st, txn, id, &d) == 0;
}

/*
 * Pass 1: sealed chunks, each series from its oldest, skipping to the next series at the first
 * chunk kept. A series left with no chunk and no head is deleted. Returns an LMDB code.
 */
static int retention_chunks(struct store *st, MDB_txn *txn, int64_t cutoff, size_t max,
			    size_t *n, uint64_t **ids, size_t *nids, size_t *idcap)
{
	MDB_cursor *cur;
	MDB_val k, d;
	int rc = mdb_cursor_open(txn, st->chunks, &cur);

	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0 && *n < max) {
		uint64_t id, nid = 0;
		int64_t first, last, nt;
		uint8_t key[16];

		if (k.mv_size != 16) {
			rc = MDB_CORRUPTED;
			break;
		}
		store_chunk_key_parse(k.mv_data, &id, &first);
		if (chunk_peek(d.mv_data, d.mv_size, NULL, NULL, &last)) {
			log_warn("store", "store %s: series %llu has a malformed chunk; "
					  "skipping it", st->path, (unsigned long long)id);
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
			continue;
		}
		if (last >= cutoff) {
			/* Newer chunks of this series are newer still: on to the next series. */
			if (id == UINT64_MAX)
				break;
			store_chunk_key(key, id + 1, INT64_MIN);
			k.mv_size = 16;
			k.mv_data = key;
			rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
			continue;
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
		(*n)++;
		ids_add(ids, nids, idcap, id);
		/* Seek again rather than trust the cursor's state after a delete. */
		store_chunk_key(key, id, first);
		k.mv_size = 16;
		k.mv_data = key;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == 16)
			store_chunk_key_parse(k.mv_data, &nid, &nt);
		if ((rc == MDB_NOTFOUND || (rc == 0 && nid != id)) && !has_head(st, txn, id)) {
			int drc = delete_series(st, txn, id);

			if (drc) {
				rc = drc;
				break;
			}
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Pass 2: heads older than the cutoff; their series have no chunk left after pass 1. */
static int retention_heads(struct store *st, MDB_txn *txn, int64_t cutoff, size_t max,
			   size_t *n, uint64_t **ids, size_t *nids, size_t *idcap)
{
	MDB_cursor *cur, *ccur;
	MDB_val k, d;
	int rc = mdb_cursor_open(txn, st->heads, &cur);

	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, st->chunks, &ccur);
	if (rc) {
		mdb_cursor_close(cur);
		return rc;
	}
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0 && *n < max) {
		uint8_t key[16];
		uint64_t id, cid;
		int64_t last, ct;
		MDB_val ck = { 16, key }, cd;
		int crc;

		if (k.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		id = store_get_be64(k.mv_data);
		if (chunk_peek(d.mv_data, d.mv_size, NULL, NULL, &last) || last >= cutoff) {
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
			continue;
		}
		/* Older sealed chunks still there (pass 1 ran out of budget): next time. */
		store_chunk_key(key, id, INT64_MIN);
		crc = mdb_cursor_get(ccur, &ck, &cd, MDB_SET_RANGE);
		if (crc == 0 && ck.mv_size == 16) {
			store_chunk_key_parse(ck.mv_data, &cid, &ct);
			if (cid == id) {
				rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
				continue;
			}
		} else if (crc && crc != MDB_NOTFOUND) {
			rc = crc;
			break;
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
		(*n)++;
		ids_add(ids, nids, idcap, id);
		rc = delete_series(st, txn, id);
		if (rc)
			break;
		store_put_be64(key, id);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	}
	mdb_cursor_close(ccur);
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One attempt; *deleted and the touched ids are filled only on success. */
static int retention_once(struct store *st, int64_t cutoff, size_t max_chunks, size_t *deleted,
			  uint64_t **ids, size_t *nids)
{
	MDB_txn *txn;
	size_t n = 0, idcap = 0, tid;
	int rc, err;

	*nids = 0;
	err = store_txn_begin(st, 0, &txn);
	if (err)
		return err;
	rc = retention_chunks(st, txn, cutoff, max_chunks, &n, ids, nids, &idcap);
	if (!rc && n < max_chunks)
		rc = retention_heads(st, txn, cutoff, max_chunks, &n, ids, nids, &idcap);
	if (rc) {
		store_txn_end(st, txn, false);
		goto out_err;
	}
	if (!n) {
		store_txn_end(st, txn, false);
		*deleted = 0;
		return 0;
	}
	tid = mdb_txn_id(txn);
	rc = store_txn_end(st, txn, true);
	if (rc)
		goto out_err;
	if (st->expect_txnid == tid)
		st->expect_txnid = tid + 1;
	*deleted = n;
	return 0;

out_err:
	if (rc == MDB_MAP_FULL)
		return STORE_RETRY_GROW;
	return store_lmdb_err(rc, "retention");
}

int store_retention_step(struct store *st, int64_t now_ms, size_t max_chunks)
{
	uint64_t *ids = NULL;
	size_t nids = 0, deleted = 0;
	int64_t cutoff;
	int rc, dead = 0;

	if (st->read_only)
		return -EROFS;
	mdb_reader_check(st->env, &dead);
	if (dead)
		log_info("store", "store %s: cleared %d stale reader slots", st->path, dead);
	if (st->retention_ms <= 0 || !max_chunks)
		return 0;
	cutoff = now_ms < INT64_MIN + st->retention_ms ? INT64_MIN : now_ms - st->retention_ms;
	for (;;) {
		rc = retention_once(st, cutoff, max_chunks, &deleted, &ids, &nids);
		if (rc != STORE_RETRY_GROW)
			break;
		rc = store_grow(st);
		if (rc) {
			free(ids);
			return rc;
		}
	}
	if (rc) {
		free(ids);
		/* A write we do not know the outcome of: reload heads from disk next time. */
		wcache_clear(st);
		return rc;
	}
	if (nids) {
		qsort(ids, nids, sizeof(*ids), id_cmp);
		wcache_drop_ids(st, ids, nids);
	}
	free(ids);
	return deleted > INT_MAX ? INT_MAX : (int)deleted;
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
		return store_lmdb_err(rc, "read format record");
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
		return store_lmdb_err(rc, "create store");
	}
	return 0;

out_lmdb:
	store_txn_end(st, txn, false);
	snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
	return store_lmdb_err(rc, "open databases");
}

static int open_ro(struct store *st, char *err, size_t errlen)
{
	MDB_txn *txn;
	int rc, e;

	e = store_txn_begin(st, MDB_RDONLY, &txn);
	if (e) {
		snprintf(err, errlen, "%s: cannot begin a read transaction: %s", st->path,
			 err_str(e));
		return e;
	}
	rc = open_dbs(st, txn, 0);
	if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
		store_txn_end(st, txn, false);
		snprintf(err, errlen, "%s: not a deploywatch store (no store databases)", st->path);
		return STORE_E_FORMAT;
	}
	if (rc) {
		store_txn_end(st, txn, false);
		snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
		return store_lmdb_err(rc, "open databases");
	}
	e = format_check(st, txn, err, errlen);
	/* Committing a read transaction keeps the database handles it opened. */
	rc = store_txn_end(st, txn, e == 0);
	if (e)
		return e;
	if (rc) {
		snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
		return store_lmdb_err(rc, "open databases");
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
		e = store_lmdb_err(rc, "create environment");
		snprintf(err, errlen, "%s: cannot create the LMDB environment: %s", st->path,
			 mdb_strerror(rc));
		goto out_free;
	}
	if (st->read_only)
		flags |= MDB_RDONLY;
	rc = mdb_env_open(st->env, st->path, flags, 0640);
	if (rc) {
		e = rc > 0 ? -rc : store_lmdb_err(rc, "open environment");
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
	wcache_clear(st);
	canon_table_release(&st->wcache);
	if (st->env)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->map_lock);
	buf_release(&st->enc);
	free(st->path);
	free(st);
}
