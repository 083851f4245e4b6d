/*
 * The commit: the writer's cache of series and their open head chunks, finding or creating
 * series in the index, appending samples to heads and sealing them into chunks, all in one
 * LMDB transaction per batch (retried after growing the map).
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/chunk.h"

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

void store_wcache_clear(struct store *st)
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
void store_wcache_drop_ids(struct store *st, const uint64_t *ids, size_t n)
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

int store_head_get(struct store *st, MDB_txn *txn, uint64_t id, MDB_val *d)
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
	rc = store_head_get(st, txn, id, &d);
	if (rc == MDB_NOTFOUND) {
		rc = mdb_cursor_open(txn, st->chunks, &cur);
		if (!rc)
			rc = cursor_last_chunk(cur, id, &k, &d);
	}
	if (rc) {
		err = store_lmdb_err(st, rc, "find last chunk");
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

	rc = store_head_get(st, txn, w->id, &d);
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
	/* STORE_E_CORRUPT passes through store_lmdb_err() with this cause. */
	store_note_error(st, STORE_E_CORRUPT, "series %llu has a malformed last chunk",
			 (unsigned long long)w->id);
	return STORE_E_CORRUPT;
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

int store_series_find(struct store *st, MDB_txn *txn, const char *canon, size_t clen, uint64_t h,
		      uint64_t *id)
{
	uint8_t hkey[8];
	MDB_val k = { 8, hkey }, d;
	MDB_cursor *cur;
	int rc;

	store_put_be64(hkey, h);
	rc = mdb_cursor_open(txn, st->series_by_key, &cur);
	if (rc)
		return rc;
	/* Label sets whose hashes collide share the key: compare the series' canonical bytes. */
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET);
	while (rc == 0) {
		MDB_val sk, sd;

		if (d.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		sk.mv_size = 8;
		sk.mv_data = d.mv_data;
		rc = mdb_get(txn, st->series, &sk, &sd);
		if (rc)
			break;
		if (sd.mv_size == clen + 1 && !memcmp((uint8_t *)sd.mv_data + 1, canon, clen)) {
			*id = store_get_be64(d.mv_data);
			break;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_DUP);
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Find the series of 'canon' in the index, or create it. Returns an LMDB code. */
static int series_lookup_or_create(struct commit_ctx *c, const struct bseries *bs,
				   struct wseries *w)
{
	struct store *st = c->st;
	uint8_t hkey[8], idbuf[8];
	MDB_val k = { 8, hkey }, d;
	int rc;

	rc = store_series_find(st, c->txn, bs->canon, bs->clen, bs->hash, &w->id);
	if (rc != MDB_NOTFOUND)
		return rc;
	store_put_be64(hkey, bs->hash);

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
	bool touched = false, refused = false;
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
			if (!refused)
				c->stats.series_out_of_order++;
			refused = true;
			continue;
		}
		head_reserve(w, w->n + 1);
		w->ts[w->n] = s->t;
		w->vals[w->n] = s->v;
		w->n++;
		w->last_ts = s->t;
		c->stats.samples_written++;
		if (s->t < b->horizon_ms)
			c->stats.written_before_horizon++;
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
static int commit_once(struct store *st, const struct store_batch *b, const uint32_t *order,
		       const size_t *start, struct store_commit_stats *stats)
{
	struct commit_ctx c = { .st = st };
	uint8_t idbuf[8];
	MDB_val k, d;
	size_t tid;
	bool refused = false;
	int rc, err;

	err = store_txn_begin(st, 0, &c.txn);
	if (err)
		return err;
	tid = mdb_txn_id(c.txn);
	/* Someone else wrote since our last commit: our heads may be stale. */
	if (tid != st->expect_txnid || st->wcache.n > STORE_WCACHE_MAX)
		store_wcache_clear(st);
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
	/* Every series is looked at first, so the refusal says how much would have been refused. */
	if (!rc && b->all_or_nothing && c.stats.out_of_order)
		refused = true;
	for (size_t i = 0; !rc && !refused && i < b->nmeta; i++) {
		char key[sizeof(STORE_USER_PREFIX) + STORE_MAX_META_KEY];
		int kl = snprintf(key, sizeof(key), "%s%s", STORE_USER_PREFIX, b->meta[i].key);

		k.mv_size = (size_t)kl;
		k.mv_data = key;
		d.mv_size = b->meta[i].len;
		d.mv_data = b->meta[i].val;
		rc = mdb_put(c.txn, st->meta, &k, &d, 0);
	}
	if (!rc && !refused)
		rc = store_catalog_write(st, c.txn, b->catalog);
	if (!rc && !refused && c.next_id_dirty) {
		store_put_be64(idbuf, c.next_id);
		k.mv_size = strlen(STORE_NEXT_ID_KEY);
		k.mv_data = (void *)STORE_NEXT_ID_KEY;
		d.mv_size = 8;
		d.mv_data = idbuf;
		rc = mdb_put(c.txn, st->meta, &k, &d, 0);
	}
	if (c.chunk_cur)
		mdb_cursor_close(c.chunk_cur);
	if (refused) {
		/* Nothing of it is kept; the heads in memory took its samples: reload them. */
		store_txn_end(st, c.txn, false);
		store_wcache_clear(st);
		if (stats) {
			stats->out_of_order = c.stats.out_of_order;
			stats->series_out_of_order = c.stats.series_out_of_order;
		}
		return STORE_E_OUT_OF_ORDER;
	}
	if (!rc)
		rc = store_txn_end(st, c.txn, true);
	else
		store_txn_end(st, c.txn, false);
	if (rc) {
		/* The heads in memory ran ahead of what is on disk: reload them next time. */
		store_wcache_clear(st);
		if (rc == MDB_MAP_FULL)
			return STORE_RETRY_GROW;
		return store_lmdb_err(st, rc, "commit");
	}
	st->expect_txnid = tid + 1;
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
	store_batch_clear(b);
	return 0;
}
