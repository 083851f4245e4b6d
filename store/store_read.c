/*
 * Reading the store: read transactions, caller records, series selection through the postings,
 * samples, label names and values. Every value LMDB returns lives only until the transaction
 * ends, so everything handed out is decoded or copied inside it.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/chunk.h"

/*
 * The arrays one batch of store_read_windows*() lands in, reused from call to call (and from
 * query to query: see store_reader_end()).
 */
struct wbuf {
	int64_t *wt;            /* the samples, wcap of room */
	double *wv;
	size_t wcap;
	/* the chunks inside a window, decoded once the walk is over (on several threads when
	 * they are many) */
	struct store_decode_item *items;
	size_t nitems, icap;
	/* a scan's batch: its series, samples, and the job decoding its items */
	size_t first, count, total;
	struct store_pool_job job;
};

/*
 * A store_read_scan_begin() .. store_read_scan_end() in progress: the caller's arrays
 * (borrowed until the end), the next series to walk, and the batch read ahead.
 */
struct read_scan {
	bool active;
	const uint64_t *ids;
	size_t nids;
	const int64_t *from, *to;
	size_t nwin;
	uint64_t max;
	bool presence;
	size_t *n_out;
	size_t next;            /* the first series not walked yet */
	unsigned cur;           /* the buffer of the batch handed out last */
	/* The batch after it, in buf[cur ^ 1]: walked and handed to the decode pool before the
	 * caller got the current one, so the helpers decode it while the caller works. */
	bool ahead;
	int ahead_err;          /* its walk failed: the next call returns this */
};

struct store_reader {
	struct store *st;
	MDB_txn *txn;
	int64_t *ts;            /* decode scratch: CHUNK_MAX_SAMPLES entries, allocated lazily */
	double *vals;
	struct wbuf buf[2];     /* [1] only for a scan's read-ahead */
	struct wbuf *w;         /* the one being filled */
	struct read_scan scan;
};

int store_reader_begin(struct store *st, struct store_reader **out)
{
	struct store_reader *r = NULL;
	MDB_txn *txn;
	int err;

	*out = NULL;
	err = store_txn_begin(st, MDB_RDONLY, &txn);
	if (err)
		return err;
	pthread_mutex_lock(&st->pool_lock);
	if (st->nspare_readers)
		r = st->spare_readers[--st->nspare_readers];
	pthread_mutex_unlock(&st->pool_lock);
	if (!r)
		r = xcalloc(1, sizeof(*r));
	r->st = st;
	r->txn = txn;
	r->w = &r->buf[0];
	r->w->nitems = 0;
	*out = r;
	return 0;
}

static void reader_free(struct store_reader *r)
{
	free(r->ts);
	free(r->vals);
	for (int i = 0; i < 2; i++) {
		free(r->buf[i].wt);
		free(r->buf[i].wv);
		free(r->buf[i].items);
	}
	free(r);
}

void store_reader_end(struct store_reader *r)
{
	struct store *st;

	if (!r)
		return;
	st = r->st;
	/* The helpers may still be decoding the batch read ahead out of the transaction's pages. */
	store_read_scan_end(r);
	store_txn_end(st, r->txn, false);
	r->txn = NULL;
	/*
	 * Keep the reader and its arrays for the next query (a few, not too large): fresh pages
	 * cost a page fault each, and a 7-day read's megabytes faulted in again at every query
	 * cost more than decoding them (measured on a virtual machine: twice the query's time).
	 */
	if (r->buf[0].wcap <= STORE_SPARE_READER_SAMPLES &&
	    r->buf[1].wcap <= STORE_SPARE_READER_SAMPLES) {
		pthread_mutex_lock(&st->pool_lock);
		if (st->nspare_readers < STORE_SPARE_READERS) {
			st->spare_readers[st->nspare_readers++] = r;
			r = NULL;
		}
		pthread_mutex_unlock(&st->pool_lock);
	}
	if (r)
		reader_free(r);
}

void store_spare_readers_free(struct store *st)
{
	while (st->nspare_readers)
		reader_free(st->spare_readers[--st->nspare_readers]);
}

int store_reader_get_meta(struct store_reader *r, const char *key, struct buf *out)
{
	char k[sizeof(STORE_USER_PREFIX) + STORE_MAX_META_KEY];
	MDB_val mk, d;
	size_t kl = strlen(key);
	int rc;

	if (!kl || kl > STORE_MAX_META_KEY)
		return -EINVAL;
	mk.mv_size = (size_t)snprintf(k, sizeof(k), "%s%s", STORE_USER_PREFIX, key);
	mk.mv_data = k;
	rc = mdb_get(r->txn, r->st->meta, &mk, &d);
	if (rc)
		return store_lmdb_err(r->st, rc, "read record");
	buf_reset(out);
	return buf_append(out, d.mv_data, d.mv_size);
}

struct meta_visit {
	int (*fn)(void *ctx, const char *key, const void *val, size_t len);
	void *ctx;
};

static int meta_visit(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct meta_visit *v = ctx;
	char key[sizeof(STORE_USER_PREFIX) + STORE_MAX_META_KEY];
	size_t plen = sizeof(STORE_USER_PREFIX) - 1, kl = k->mv_size - plen;

	if (kl >= sizeof(key))
		return 0;
	memcpy(key, (const char *)k->mv_data + plen, kl);
	key[kl] = '\0';
	return v->fn(v->ctx, key, d->mv_data, d->mv_size);
}

int store_scan_meta(struct store *st, const char *prefix,
		    int (*fn)(void *ctx, const char *key, const void *val, size_t len), void *ctx)
{
	char full[sizeof(STORE_USER_PREFIX) + STORE_MAX_META_KEY];
	struct meta_visit v = { fn, ctx };

	if (strlen(prefix) > STORE_MAX_META_KEY)
		return -EINVAL;
	snprintf(full, sizeof(full), "%s%s", STORE_USER_PREFIX, prefix);
	return store_meta_scan(st, full, "read records", meta_visit, &v);
}

/* ---- id sets: sorted arrays of series ids ---- */

struct idset {
	uint64_t *v;
	size_t n, cap;
};

static void idset_push(struct idset *s, uint64_t id)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = id;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and remove duplicates (a union of several postings lists). */
static void idset_normalize(struct idset *s)
{
	size_t j = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), u64_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i] != s->v[j])
			s->v[++j] = s->v[i];
	s->n = j + 1;
}

/* a = a ∩ b (keep) or a = a \ b (!keep); both sorted. */
static void idset_merge(struct idset *a, const struct idset *b, bool keep)
{
	size_t i = 0, j = 0, o = 0;

	while (i < a->n) {
		while (j < b->n && b->v[j] < a->v[i])
			j++;
		bool in_b = j < b->n && b->v[j] == a->v[i];

		if (in_b == keep)
			a->v[o++] = a->v[i];
		i++;
	}
	a->n = o;
}

/* Append the postings of key 'name\0value' (klen bytes) to s. */
static int postings_read(struct store_reader *r, MDB_cursor *cur, const char *key, size_t klen,
			 struct idset *s)
{
	MDB_val k = { klen, (void *)key }, d;
	int rc = mdb_cursor_get(cur, &k, &d, MDB_SET);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_lmdb_err(r->st, rc, "read postings");
	(void)r;
	/* DUPFIXED: whole pages of 8-byte ids at a time. */
	rc = mdb_cursor_get(cur, &k, &d, MDB_GET_MULTIPLE);
	while (rc == 0) {
		if (d.mv_size % 8)
			return STORE_E_CORRUPT;
		for (size_t i = 0; i < d.mv_size; i += 8)
			idset_push(s, store_get_be64((const uint8_t *)d.mv_data + i));
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_MULTIPLE);
	}
	return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(r->st, rc, "read postings");
}

/*
 * Call fn for each value of label 'name' present in the postings (sorted), with the cursor on
 * that key. A non-zero return stops.
 */
static int postings_each_value(struct store *st, MDB_cursor *cur, const char *name,
			       int (*fn)(void *ctx, const char *value, size_t vlen), void *ctx)
{
	size_t nl = strlen(name);
	char prefix[STORE_MAX_NAME_LEN + 1];
	MDB_val k, d;
	int rc, err;

	if (nl > STORE_MAX_NAME_LEN)
		return 0;
	memcpy(prefix, name, nl);
	prefix[nl] = '\0';
	k.mv_size = nl + 1;
	k.mv_data = prefix;
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1))
			break;
		err = fn(ctx, (const char *)k.mv_data + nl + 1, k.mv_size - nl - 1);
		if (err)
			return err;
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_NODUP);
	}
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_err(st, rc, "read postings");
}

struct collect_ctx {
	struct store_reader *r;
	MDB_cursor *pcur;       /* postings cursor: each_value stands on the value's key */
	MDB_cursor *vcur;       /* a second cursor to read the ids of one value */
	struct model_matcher_prog *c;
	bool want;              /* collect values the matcher accepts (true) or rejects */
	struct idset *out;
	const char *name;
};

static int collect_value(void *ctx, const char *value, size_t vlen)
{
	struct collect_ctx *cc = ctx;
	char key[STORE_MAX_POSTING_KEY + 1];
	size_t nl = strlen(cc->name);

	if (model_matcher_matches(cc->c, value, vlen) != cc->want)
		return 0;
	if (nl + 1 + vlen > STORE_MAX_POSTING_KEY)
		return STORE_E_CORRUPT;
	memcpy(key, cc->name, nl + 1);
	memcpy(key + nl + 1, value, vlen);
	return postings_read(cc->r, cc->vcur, key, nl + 1 + vlen, cc->out);
}

/*
 * The ids of series whose value of the matcher's label the matcher accepts (want) or rejects
 * (!want), among series that have the label. Equality takes one postings list directly.
 */
static int matcher_ids(struct store_reader *r, MDB_cursor *pcur, MDB_cursor *vcur,
		       struct model_matcher_prog *c, bool want, struct idset *out)
{
	const struct matcher *m = model_matcher_prog_matcher(c);
	size_t nl = strlen(m->name), vl = strlen(m->value);

	if (nl + 1 + vl <= STORE_MAX_POSTING_KEY && vl &&
	    ((m->op == MATCH_EQ && want) || (m->op == MATCH_NEQ && !want))) {
		char key[STORE_MAX_POSTING_KEY + 1];
		int err;

		memcpy(key, m->name, nl + 1);
		memcpy(key + nl + 1, m->value, vl);
		err = postings_read(r, vcur, key, nl + 1 + vl, out);
		if (!err)
			idset_normalize(out);
		return err;
	}
	struct collect_ctx cc = { r, pcur, vcur, c, want, out, m->name };
	int err = postings_each_value(r->st, pcur, m->name, collect_value, &cc);

	if (!err)
		idset_normalize(out);
	return err;
}

/* ---- series sets ---- */

struct sentry {
	uint64_t id;
	enum metric_type type;
	struct label *labels;   /* owned, one allocation with the strings after the array */
	size_t n;
};

struct store_series_set {
	struct sentry *v;
	size_t n;
};

size_t store_series_set_len(const struct store_series_set *s)
{
	return s->n;
}

const struct label *store_series_set_labels(const struct store_series_set *s, size_t i, size_t *n)
{
	*n = s->v[i].n;
	return s->v[i].labels;
}

uint64_t store_series_set_id(const struct store_series_set *s, size_t i)
{
	return s->v[i].id;
}

enum metric_type store_series_set_type(const struct store_series_set *s, size_t i)
{
	return s->v[i].type;
}

void store_series_set_free(struct store_series_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].labels);
	free(s->v);
	free(s);
}

/* Copy series 'id' into e. Returns 0, -ENOENT or an error. */
static int series_read(struct store_reader *r, uint64_t id, struct sentry *e)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, d;
	struct label tmp[STORE_MAX_LABELS];
	const char *canon;
	size_t clen;
	char *strings;
	int n, rc;

	store_put_be64(key, id);
	rc = mdb_get(r->txn, r->st->series, &k, &d);
	if (rc)
		return store_lmdb_err(r->st, rc, "read series");
	if (d.mv_size < 2)
		return STORE_E_CORRUPT;
	canon = (const char *)d.mv_data + 1;
	clen = d.mv_size - 1;
	n = store_canon_split(canon, clen, tmp, STORE_MAX_LABELS);
	if (n < 0)
		return n;
	e->id = id;
	e->type = ((const uint8_t *)d.mv_data)[0];
	if (e->type > METRIC_UNTYPED)
		return STORE_E_CORRUPT;
	e->n = (size_t)n;
	e->labels = xmalloc((size_t)n * sizeof(struct label) + clen);
	strings = (char *)(e->labels + n);
	memcpy(strings, canon, clen);
	for (int i = 0; i < n; i++) {
		e->labels[i].name = strings + (tmp[i].name - canon);
		e->labels[i].value = strings + (tmp[i].value - canon);
	}
	return 0;
}

static int sentry_cmp(const void *a, const void *b)
{
	const struct sentry *x = a, *y = b;

	for (size_t i = 0; i < x->n && i < y->n; i++) {
		int c = strcmp(x->labels[i].name, y->labels[i].name);

		if (c)
			return c;
		c = strcmp(x->labels[i].value, y->labels[i].value);
		if (c)
			return c;
	}
	return x->n < y->n ? -1 : x->n > y->n;
}

static void reader_scratch(struct store_reader *r)
{
	if (!r->ts) {
		r->ts = xmalloc(CHUNK_MAX_SAMPLES * sizeof(*r->ts));
		r->vals = xmalloc(CHUNK_MAX_SAMPLES * sizeof(*r->vals));
	}
}

int store_series_span(struct store_reader *r, const struct label *labels, size_t n,
		      int64_t *first_ms, int64_t *last_ms)
{
	struct store *st = r->st;
	struct buf canon;
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	uint8_t key[16];
	uint64_t id, kid;
	int64_t kt, first = INT64_MAX, last = INT64_MIN, hfirst, hlast;
	size_t ns;
	int rc, err;

	buf_init(&canon, STORE_MAX_CANON_LEN);
	err = store_canon_labels(labels, n, &canon);
	if (err)
		goto out;
	rc = store_series_find(st, r->txn, canon.data, canon.len,
			       store_canon_hash(canon.data, canon.len), &id);
	if (rc == MDB_NOTFOUND) {
		err = -ENOENT;
		goto out;
	}
	if (rc) {
		err = store_lmdb_err(st, rc, "find series");
		goto out;
	}
	/* The oldest sealed chunk starts the span; the head (newer than every sealed chunk) or,
	 * without one, the newest sealed chunk ends it. */
	rc = mdb_cursor_open(r->txn, st->chunks, &cur);
	if (!rc) {
		store_chunk_key(key, id, INT64_MIN);
		k.mv_size = sizeof(key);
		k.mv_data = key;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		if (!rc && k.mv_size == 16) {
			store_chunk_key_parse(k.mv_data, &kid, &kt);
			if (kid == id)
				first = kt;
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (!rc && first != INT64_MAX) {
		uint8_t lkey[16];

		store_chunk_key(lkey, id, INT64_MAX);
		k.mv_size = sizeof(lkey);
		k.mv_data = lkey;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		/* The chunk just past the series' last one, unless (id, INT64_MAX) is itself one. */
		if (rc == MDB_NOTFOUND || (rc == 0 && (k.mv_size != 16 || memcmp(k.mv_data, lkey, 16))))
			rc = mdb_cursor_get(cur, &k, &d, rc == 0 ? MDB_PREV : MDB_LAST);
		if (!rc && (k.mv_size != 16 ||
			    chunk_peek(d.mv_data, d.mv_size, NULL, NULL, &last))) {
			err = STORE_E_CORRUPT;
			goto out;
		}
	}
	if (rc) {
		err = store_lmdb_err(st, rc, "read chunks");
		goto out;
	}
	rc = store_head_get(st, r->txn, id, &d);
	if (rc == 0) {
		if (chunk_peek(d.mv_data, d.mv_size, &ns, &hfirst, &hlast) || !ns) {
			err = STORE_E_CORRUPT;
			goto out;
		}
		if (hfirst < first)
			first = hfirst;
		last = hlast;
	} else if (rc != MDB_NOTFOUND) {
		err = store_lmdb_err(st, rc, "read head");
		goto out;
	}
	if (first == INT64_MAX) {
		err = -ENOENT;
		goto out;
	}
	*first_ms = first;
	*last_ms = last;
	err = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	buf_release(&canon);
	return err;
}

/*
 * Position 'cur' on the first chunk of 'id' that may hold samples at or after 'from': the chunk
 * starting at or before 'from' when it reaches 'from', else the next one. Returns 0 with k, d
 * set, MDB_NOTFOUND when the series has no such chunk, or an LMDB error.
 */
static int seek_chunk(MDB_cursor *cur, uint64_t id, int64_t from, MDB_val *k, MDB_val *d)
{
	uint8_t key[16];
	uint64_t kid;
	int64_t kt, last;
	int rc, prc;

	store_chunk_key(key, id, from);
	k->mv_size = 16;
	k->mv_data = key;
	rc = mdb_cursor_get(cur, k, d, MDB_SET_RANGE);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && k->mv_size == 16 && !memcmp(k->mv_data, key, 16))
		return 0;
	prc = mdb_cursor_get(cur, k, d, rc == 0 ? MDB_PREV : MDB_LAST);
	if (prc == 0 && k->mv_size == 16) {
		store_chunk_key_parse(k->mv_data, &kid, &kt);
		if (kid == id && !chunk_peek(d->mv_data, d->mv_size, NULL, NULL, &last) &&
		    last >= from)
			return 0;
	} else if (prc && prc != MDB_NOTFOUND) {
		return prc;
	}
	k->mv_size = 16;
	k->mv_data = key;
	rc = mdb_cursor_get(cur, k, d, MDB_SET_RANGE);
	if (rc)
		return rc;
	if (k->mv_size != 16)
		return MDB_CORRUPTED;
	store_chunk_key_parse(k->mv_data, &kid, &kt);
	return kid == id ? 0 : MDB_NOTFOUND;
}

/* Does the chunk in 'd' have a sample in [from, to]? Decodes only when it straddles an edge. */
static int chunk_in_range(struct store_reader *r, const MDB_val *d, int64_t from, int64_t to,
			  bool *yes)
{
	int64_t first, last;
	size_t n;

	if (chunk_peek(d->mv_data, d->mv_size, &n, &first, &last))
		return STORE_E_CORRUPT;
	if (first > to || last < from)
		return 0;
	if (first >= from && last <= to) {
		*yes = true;
		return 0;
	}
	reader_scratch(r);
	if (chunk_decode(d->mv_data, d->mv_size, r->ts, r->vals, CHUNK_MAX_SAMPLES, &n))
		return STORE_E_CORRUPT;
	for (size_t i = 0; i < n && r->ts[i] <= to; i++) {
		if (r->ts[i] >= from) {
			*yes = true;
			break;
		}
	}
	return 0;
}

/* Does series 'id' have a sample in [from, to]: in its sealed chunks or its head? */
static int series_in_range(struct store_reader *r, MDB_cursor *cur, uint64_t id, int64_t from,
			   int64_t to, bool *yes)
{
	MDB_val k, d;
	uint64_t kid;
	int64_t kt;
	int rc, e;

	*yes = false;
	rc = seek_chunk(cur, id, from, &k, &d);
	while (rc == 0) {
		if (k.mv_size != 16)
			return STORE_E_CORRUPT;
		store_chunk_key_parse(k.mv_data, &kid, &kt);
		if (kid != id || kt > to)
			break;
		e = chunk_in_range(r, &d, from, to, yes);
		if (e || *yes)
			return e;
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	if (rc && rc != MDB_NOTFOUND)
		return store_lmdb_err(r->st, rc, "read chunks");
	rc = store_head_get(r->st, r->txn, id, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_lmdb_err(r->st, rc, "read head");
	return chunk_in_range(r, &d, from, to, yes);
}

int store_select(struct store_reader *r, const struct matcher *m, size_t nm, int64_t from_ms,
		 int64_t to_ms, struct store_series_set **out, char *err, size_t errlen)
{
	struct model_matcher_prog **cm;
	struct idset ids = { 0 }, tmp = { 0 };
	MDB_cursor *pcur = NULL, *vcur = NULL, *ccur = NULL;
	struct store_series_set *set;
	bool have_positive = false;
	int rc, e = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!nm) {
		snprintf(err, errlen, "a selector needs at least one matcher");
		return -EINVAL;
	}
	cm = xcalloc(nm, sizeof(*cm));
	for (size_t i = 0; i < nm; i++) {
		e = model_matcher_compile(&m[i], &cm[i], err, errlen);
		if (e) {
			nm = i;
			goto out;
		}
		if (!model_matcher_matches_empty(cm[i]))
			have_positive = true;
	}
	if (!have_positive) {
		snprintf(err, errlen, "a selector must contain at least one matcher that does not "
				      "match the empty string");
		e = -EINVAL;
		goto out;
	}
	rc = mdb_cursor_open(r->txn, r->st->postings, &pcur);
	if (!rc)
		rc = mdb_cursor_open(r->txn, r->st->postings, &vcur);
	if (!rc)
		rc = mdb_cursor_open(r->txn, r->st->chunks, &ccur);
	if (rc) {
		e = store_lmdb_err(r->st, rc, "open cursor");
		goto out;
	}

	/*
	 * A series matches when every matcher accepts its value of the label ("" if absent).
	 * Matchers that reject "" require the label: intersect their accepted postings. Matchers
	 * that accept "" only exclude series whose present value they reject.
	 */
	bool first = true;

	for (size_t i = 0; i < nm && !e; i++) {
		if (model_matcher_matches_empty(cm[i]))
			continue;
		tmp.n = 0;
		e = matcher_ids(r, pcur, vcur, cm[i], true, &tmp);
		if (e)
			break;
		if (first) {
			struct idset swap = ids;

			ids = tmp;
			tmp = swap;
			first = false;
		} else {
			idset_merge(&ids, &tmp, true);
		}
	}
	for (size_t i = 0; i < nm && !e && ids.n; i++) {
		if (!model_matcher_matches_empty(cm[i]))
			continue;
		tmp.n = 0;
		e = matcher_ids(r, pcur, vcur, cm[i], false, &tmp);
		if (!e)
			idset_merge(&ids, &tmp, false);
	}
	if (e)
		goto out;

	set = xcalloc(1, sizeof(*set));
	set->v = xcalloc(ids.n ? ids.n : 1, sizeof(*set->v));
	for (size_t i = 0; i < ids.n; i++) {
		bool yes = true;

		if (from_ms != INT64_MIN || to_ms != INT64_MAX) {
			e = series_in_range(r, ccur, ids.v[i], from_ms, to_ms, &yes);
			if (e)
				break;
		}
		if (!yes)
			continue;
		e = series_read(r, ids.v[i], &set->v[set->n]);
		if (e == -ENOENT) {
			e = 0;
			continue;
		}
		if (e)
			break;
		set->n++;
	}
	if (e) {
		snprintf(err, errlen, "cannot read the series index: %s", err_str(e));
		store_series_set_free(set);
		goto out;
	}
	qsort(set->v, set->n, sizeof(*set->v), sentry_cmp);
	*out = set;
out:
	if (ccur)
		mdb_cursor_close(ccur);
	if (vcur)
		mdb_cursor_close(vcur);
	if (pcur)
		mdb_cursor_close(pcur);
	for (size_t i = 0; i < nm; i++)
		model_matcher_prog_free(cm[i]);
	free(cm);
	free(ids.v);
	free(tmp.v);
	return e;
}

/* Emit the samples of one chunk within [from, to]. Returns 0, fn's result or an error. */
static int emit_chunk(struct store_reader *r, uint64_t id, const MDB_val *d, int64_t from,
		      int64_t to, int (*fn)(void *ctx, int64_t t_ms, double v), void *ctx)
{
	size_t n;
	int e;

	if (chunk_decode(d->mv_data, d->mv_size, r->ts, r->vals, CHUNK_MAX_SAMPLES, &n)) {
		store_note_error(r->st, STORE_E_CORRUPT, "series %llu has a malformed chunk",
				 (unsigned long long)id);
		return STORE_E_CORRUPT;
	}
	for (size_t i = 0; i < n; i++) {
		if (r->ts[i] < from)
			continue;
		if (r->ts[i] > to)
			break;
		e = fn(ctx, r->ts[i], r->vals[i]);
		if (e)
			return e;
	}
	return 0;
}

int store_read_samples(struct store_reader *r, uint64_t id, int64_t from_ms, int64_t to_ms,
		       int (*fn)(void *ctx, int64_t t_ms, double v), void *ctx)
{
	MDB_val k, d;
	MDB_cursor *cur;
	uint64_t kid;
	int64_t kt, first, last;
	int rc, e = 0;

	if (from_ms > to_ms)
		return 0;
	reader_scratch(r);
	rc = mdb_cursor_open(r->txn, r->st->chunks, &cur);
	if (rc)
		return store_lmdb_err(r->st, rc, "open cursor");
	/* Sealed chunks first, then the head: the head's samples are all later. */
	rc = seek_chunk(cur, id, from_ms, &k, &d);
	while (rc == 0) {
		if (k.mv_size != 16) {
			e = STORE_E_CORRUPT;
			break;
		}
		store_chunk_key_parse(k.mv_data, &kid, &kt);
		if (kid != id || kt > to_ms)
			break;
		e = emit_chunk(r, id, &d, from_ms, to_ms, fn, ctx);
		if (e)
			break;
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (e)
		return e;
	if (rc && rc != MDB_NOTFOUND)
		return store_lmdb_err(r->st, rc, "read chunks");
	rc = store_head_get(r->st, r->txn, id, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_lmdb_err(r->st, rc, "read head");
	if (chunk_peek(d.mv_data, d.mv_size, NULL, &first, &last))
		return STORE_E_CORRUPT;
	if (first > to_ms || last < from_ms)
		return 0;
	return emit_chunk(r, id, &d, from_ms, to_ms, fn, ctx);
}

/* Room for 'more' samples after the first 'n' of the window arrays. */
static void windows_reserve(struct wbuf *w, size_t n, size_t more)
{
	size_t cap = w->wcap ? w->wcap : 1024;

	if (n + more <= w->wcap)
		return;
	while (cap < n + more)
		cap *= 2;
	w->wt = xrealloc(w->wt, cap * sizeof(*w->wt));
	w->wv = xrealloc(w->wv, cap * sizeof(*w->wv));
	w->wcap = cap;
}

/*
 * One store_read_windows() call: the samples gathered so far, and which chunk the scratch arrays
 * hold (a sealed chunk by its key time, or the head), decoded as far as 'to' (INT64_MAX: all).
 */
struct window_read {
	uint64_t id, max;
	size_t base;            /* where this series' samples start in the arrays */
	size_t n;               /* where the next sample goes */
	bool valid, head;
	int64_t kt, to;
	size_t sn;
	size_t deferred;        /* samples of the chunks in r->w->items */
	bool presence;          /* values only tell stale markers (store_read_windows_batch) */
};

/*
 * Append the samples of chunk 'd' inside [from, to] to the window arrays. A chunk inside the
 * window decodes straight into them; one that straddles an edge decodes into the scratch (no
 * further than 'to') and its slice is copied, and stays there for the next window, which may
 * need the same chunk. Returns 0, -E2BIG past the maximum, STORE_E_CORRUPT.
 */
static int window_chunk(struct store_reader *r, struct window_read *wr, const MDB_val *d,
			bool head, int64_t kt, int64_t from, int64_t to)
{
	size_t cnt, i, j;
	int64_t first, last, upto;

	if (chunk_peek(d->mv_data, d->mv_size, &cnt, &first, &last))
		goto corrupt;
	if (first > to || last < from)
		return 0;
	if (first >= from && last <= to) {
		struct wbuf *w = r->w;
		struct store_decode_item *it;

		if (wr->n - wr->base + cnt > wr->max)
			return -E2BIG;
		windows_reserve(w, wr->n, cnt);
		if (w->nitems == w->icap) {
			w->icap = w->icap ? w->icap * 2 : 256;
			w->items = xrealloc(w->items, w->icap * sizeof(*w->items));
		}
		it = &w->items[w->nitems++];
		*it = (struct store_decode_item){ .data = d->mv_data, .len = d->mv_size,
						  .n = cnt, .off = wr->n, .series = wr->id,
						  .presence = wr->presence };
		wr->n += cnt;
		wr->deferred += cnt;
		return 0;
	}
	upto = last <= to ? INT64_MAX : to;
	if (!wr->valid || wr->head != head || wr->kt != kt || wr->to < upto) {
		reader_scratch(r);
		wr->valid = false;
		if (chunk_decode_until(d->mv_data, d->mv_size, upto, r->ts, r->vals,
				       CHUNK_MAX_SAMPLES, &wr->sn))
			goto corrupt;
		wr->valid = true;
		wr->head = head;
		wr->kt = kt;
		wr->to = upto;
	}
	for (i = 0; i < wr->sn && r->ts[i] < from; i++)
		;
	for (j = i; j < wr->sn && r->ts[j] <= to; j++)
		;
	if (wr->n - wr->base + (j - i) > wr->max)
		return -E2BIG;
	if (j == i)
		return 0;
	windows_reserve(r->w, wr->n, j - i);
	memcpy(r->w->wt + wr->n, r->ts + i, (j - i) * sizeof(*r->ts));
	memcpy(r->w->wv + wr->n, r->vals + i, (j - i) * sizeof(*r->vals));
	wr->n += j - i;
	return 0;
corrupt:
	store_note_error(r->st, STORE_E_CORRUPT, "series %llu has a malformed chunk",
			 (unsigned long long)wr->id);
	return STORE_E_CORRUPT;
}

/*
 * Append the samples of series wr->id inside the windows to the reader's arrays from wr->n on:
 * straddling chunks now, the chunks inside a window as items for windows_decode(). Returns 0 or
 * an error as store_read_windows().
 */
static int windows_walk(struct store_reader *r, struct window_read *wr, const int64_t *from_ms,
			const int64_t *to_ms, size_t nwin)
{
	uint64_t id = wr->id;
	MDB_val k, d;
	MDB_cursor *cur;
	uint64_t kid;
	int64_t kt, first, last, prev_last = INT64_MIN;
	size_t w;
	bool positioned = false;
	int rc = 0, e = 0;

	rc = mdb_cursor_open(r->txn, r->st->chunks, &cur);
	if (rc)
		return store_lmdb_err(r->st, rc, "open cursor");
	/* Sealed chunks first, then the head: the head's samples are all later. */
	for (w = 0; w < nwin; w++) {
		/*
		 * Where the previous window stopped, the cursor sits on the first chunk past it.
		 * When the chunk before that one (the last the previous window read) ended before
		 * this window and the cursor's chunk reaches it, this window starts there;
		 * otherwise seek.
		 */
		if (positioned && prev_last < from_ms[w]) {
			if (chunk_peek(d.mv_data, d.mv_size, NULL, NULL, &last)) {
				e = STORE_E_CORRUPT;
				break;
			}
			positioned = last >= from_ms[w];
		} else {
			positioned = false;
		}
		if (!positioned)
			rc = seek_chunk(cur, id, from_ms[w], &k, &d);
		positioned = false;
		prev_last = INT64_MIN;
		while (rc == 0) {
			if (k.mv_size != 16) {
				e = STORE_E_CORRUPT;
				break;
			}
			store_chunk_key_parse(k.mv_data, &kid, &kt);
			if (kid != id) {
				rc = MDB_NOTFOUND;
				break;
			}
			if (kt > to_ms[w]) {
				positioned = true;
				break;
			}
			if (chunk_peek(d.mv_data, d.mv_size, NULL, NULL, &prev_last)) {
				e = STORE_E_CORRUPT;
				break;
			}
			e = window_chunk(r, wr, &d, false, kt, from_ms[w], to_ms[w]);
			if (e)
				break;
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		}
		if (!e && rc && rc != MDB_NOTFOUND)
			e = store_lmdb_err(r->st, rc, "read chunks");
		if (e)
			break;
		/* No sealed chunk past this window: done, unless the last one read reaches on
		 * into the next window. */
		if (rc == MDB_NOTFOUND && (w + 1 == nwin || prev_last < from_ms[w + 1]))
			break;
	}
	mdb_cursor_close(cur);
	if (e)
		return e;
	rc = store_head_get(r->st, r->txn, id, &d);
	if (rc && rc != MDB_NOTFOUND)
		return store_lmdb_err(r->st, rc, "read head");
	if (rc == 0) {
		if (chunk_peek(d.mv_data, d.mv_size, NULL, &first, &last))
			return STORE_E_CORRUPT;
		for (w = 0; w < nwin && to_ms[w] < first; w++)
			;
		for (; w < nwin && from_ms[w] <= last; w++) {
			e = window_chunk(r, wr, &d, true, 0, from_ms[w], to_ms[w]);
			if (e)
				return e;
		}
	}
	return 0;
}

/* Point the walk's items at their place in w's arrays, which have their final size now. */
static void items_bind(struct wbuf *w)
{
	for (size_t i = 0; i < w->nitems; i++) {
		w->items[i].t = w->wt + w->items[i].off;
		w->items[i].v = w->wv + w->items[i].off;
	}
}

/* Note which series had the chunk that did not decode (store_pool_wait() failed). */
static int items_failed(struct store_reader *r, const struct wbuf *w)
{
	for (size_t i = 0; i < w->nitems; i++) {
		if (w->items[i].failed) {
			store_note_error(r->st, STORE_E_CORRUPT, "series %llu has a malformed chunk",
					 (unsigned long long)w->items[i].series);
			break;
		}
	}
	return STORE_E_CORRUPT;
}

/* Decode the walk's items in w into their place (on several threads when they hold
 * 'nsamples' enough). */
static int windows_decode(struct store_reader *r, struct wbuf *w, size_t nsamples)
{
	items_bind(w);
	if (!store_pool_decode(r->st, w->items, w->nitems, nsamples))
		return 0;
	return items_failed(r, w);
}

static int windows_check(const int64_t *from_ms, const int64_t *to_ms, size_t nwin)
{
	for (size_t i = 0; i < nwin; i++)
		if (from_ms[i] > to_ms[i] || (i && from_ms[i] <= to_ms[i - 1]))
			return -EINVAL;
	return 0;
}

int store_read_windows(struct store_reader *r, uint64_t id, const int64_t *from_ms,
		       const int64_t *to_ms, size_t nwin, uint64_t max_samples,
		       const int64_t **t_out, const double **v_out, size_t *n_out)
{
	struct window_read wr = { .id = id, .max = max_samples };
	int e;

	*t_out = NULL;
	*v_out = NULL;
	*n_out = 0;
	if (windows_check(from_ms, to_ms, nwin))
		return -EINVAL;
	if (!nwin)
		return 0;
	store_read_scan_end(r);
	r->w = &r->buf[0];
	r->w->nitems = 0;
	e = windows_walk(r, &wr, from_ms, to_ms, nwin);
	if (!e)
		e = windows_decode(r, r->w, wr.deferred);
	if (e)
		return e;
	*t_out = wr.n ? r->w->wt : NULL;
	*v_out = wr.n ? r->w->wv : NULL;
	*n_out = wr.n;
	return 0;
}

/*
 * Walk series ids[0..nids) into r->w (emptied first) until it holds STORE_READ_BATCH_SAMPLES
 * samples or all are walked: *done series, n_out[i] samples each, *total in all, *deferred of
 * them in the items still to decode. Returns 0 or an error as store_read_windows().
 */
static int batch_walk(struct store_reader *r, const uint64_t *ids, size_t nids,
		      const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
		      uint64_t max_samples, bool presence, size_t *n_out, size_t *done,
		      size_t *total_out, size_t *deferred)
{
	size_t total = 0, i;
	int e;

	r->w->nitems = 0;
	*deferred = 0;
	for (i = 0; i < nids; i++) {
		struct window_read wr = { .id = ids[i], .max = max_samples, .base = total,
					  .n = total, .presence = presence };

		n_out[i] = 0;
		if (nwin) {
			e = windows_walk(r, &wr, from_ms, to_ms, nwin);
			if (e)
				return e;
		}
		n_out[i] = wr.n - total;
		total = wr.n;
		*deferred += wr.deferred;
		if (total >= r->st->read_batch_samples) {
			i++;
			break;
		}
	}
	*done = i;
	*total_out = total;
	/* Telling stale markers apart costs ~1 ns a sample: never worth a hand-off (measured:
	 * count_over_time 7d, 1.5 ms of CPU alone, 2.3 split over two threads). */
	if (presence)
		*deferred = 0;
	return 0;
}

int store_read_windows_batch(struct store_reader *r, const uint64_t *ids, size_t nids,
			     const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
			     uint64_t max_samples, bool presence, size_t *done,
			     const int64_t **t_out, const double **v_out, size_t *n_out)
{
	size_t total, deferred, walked;
	int e;

	*done = 0;
	*t_out = NULL;
	*v_out = NULL;
	if (windows_check(from_ms, to_ms, nwin))
		return -EINVAL;
	store_read_scan_end(r);
	r->w = &r->buf[0];
	e = batch_walk(r, ids, nids, from_ms, to_ms, nwin, max_samples, presence, n_out, &walked,
		       &total, &deferred);
	if (!e)
		e = windows_decode(r, r->w, deferred);
	if (e)
		return e;
	*done = walked;
	*t_out = total ? r->w->wt : NULL;
	*v_out = total ? r->w->wv : NULL;
	return 0;
}

int store_read_scan_begin(struct store_reader *r, const uint64_t *ids, size_t nids,
			  const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
			  uint64_t max_samples, bool presence, size_t *n_out)
{
	store_read_scan_end(r);
	if (windows_check(from_ms, to_ms, nwin))
		return -EINVAL;
	r->scan = (struct read_scan){ .active = true, .ids = ids, .nids = nids, .from = from_ms,
				      .to = to_ms, .nwin = nwin, .max = max_samples,
				      .presence = presence, .n_out = n_out };
	return 0;
}

/*
 * Walk the scan's next batch into 'b' and hand its chunks to the decode pool (without waiting:
 * store_pool_wait() on b->job collects it). Returns 0 or the walk's error (nothing handed).
 */
static int scan_walk(struct store_reader *r, struct wbuf *b)
{
	struct read_scan *s = &r->scan;
	size_t deferred;
	int e;

	r->w = b;
	b->first = s->next;
	e = batch_walk(r, s->ids + s->next, s->nids - s->next, s->from, s->to, s->nwin, s->max,
		       s->presence, s->n_out + s->next, &b->count, &b->total, &deferred);
	if (e)
		return e;
	s->next += b->count;
	items_bind(b);
	store_pool_submit(r->st, &b->job, b->items, b->nitems, deferred);
	return 0;
}

int store_read_scan_next(struct store_reader *r, size_t *first, size_t *count,
			 const int64_t **t_out, const double **v_out)
{
	struct read_scan *s = &r->scan;
	struct wbuf *b;
	int e;

	*first = s->next;
	*count = 0;
	*t_out = NULL;
	*v_out = NULL;
	if (!s->active)
		return -EINVAL;
	if (s->ahead) {
		/* The batch read ahead; the caller is done with the one before it. */
		s->ahead = false;
		if (s->ahead_err)
			return s->ahead_err;
		s->cur ^= 1;
	} else {
		if (s->next == s->nids)
			return 0;
		e = scan_walk(r, &r->buf[s->cur]);
		if (e)
			return e;
	}
	/*
	 * Read the batch after this one ahead before waiting for this one: the helpers go on to
	 * it as soon as they run out of this one's chunks, and decode it while the caller works.
	 * A failed walk is kept for the next call, so the caller sees the batches and the error
	 * in the order of a read without read-ahead. Not when no helper can take it (a presence
	 * read is never handed over; a store without helpers): reading ahead would only hold two
	 * batches in the cache instead of one.
	 */
	if (s->next < s->nids && !s->presence && store_pool_may_help(r->st)) {
		s->ahead = true;
		s->ahead_err = scan_walk(r, &r->buf[s->cur ^ 1]);
	}
	b = &r->buf[s->cur];
	if (store_pool_wait(&b->job))
		return items_failed(r, b);
	*first = b->first;
	*count = b->count;
	*t_out = b->total ? b->wt : NULL;
	*v_out = b->total ? b->wv : NULL;
	return 0;
}

void store_read_scan_end(struct store_reader *r)
{
	struct read_scan *s = &r->scan;

	if (s->ahead && !s->ahead_err) /* its result is not wanted any more */
		(void)store_pool_wait(&r->buf[s->cur ^ 1].job);
	s->ahead = false;
	s->active = false;
}

int store_label_names(struct store_reader *r, int (*fn)(void *ctx, const char *name), void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, d;
	char name[STORE_MAX_NAME_LEN + 2];
	int rc, e = 0;

	rc = mdb_cursor_open(r->txn, r->st->postings, &cur);
	if (rc)
		return store_lmdb_err(r->st, rc, "open cursor");
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0) {
		const char *nul = memchr(k.mv_data, '\0', k.mv_size);
		size_t nl = nul ? (size_t)(nul - (const char *)k.mv_data) : 0;

		if (!nul || nl > STORE_MAX_NAME_LEN) {
			e = STORE_E_CORRUPT;
			break;
		}
		memcpy(name, k.mv_data, nl);
		name[nl] = '\0';
		e = fn(ctx, name);
		if (e)
			break;
		/* Label names never contain \x01: "name\x01" sorts after every "name\0value". */
		name[nl] = '\x01';
		k.mv_size = nl + 1;
		k.mv_data = name;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	}
	if (!e && rc && rc != MDB_NOTFOUND)
		e = store_lmdb_err(r->st, rc, "read postings");
	mdb_cursor_close(cur);
	return e;
}

struct values_ctx {
	int (*fn)(void *ctx, const char *value);
	void *ctx;
	char buf[STORE_MAX_POSTING_KEY + 1];
};

static int value_cb(void *ctx, const char *value, size_t vlen)
{
	struct values_ctx *vc = ctx;

	if (vlen > STORE_MAX_POSTING_KEY)
		return STORE_E_CORRUPT;
	memcpy(vc->buf, value, vlen);
	vc->buf[vlen] = '\0';
	return vc->fn(vc->ctx, vc->buf);
}

int store_label_values(struct store_reader *r, const char *name,
		       int (*fn)(void *ctx, const char *value), void *ctx)
{
	MDB_cursor *cur;
	struct values_ctx vc;
	int rc, e;

	vc.fn = fn;
	vc.ctx = ctx;
	rc = mdb_cursor_open(r->txn, r->st->postings, &cur);
	if (rc)
		return store_lmdb_err(r->st, rc, "open cursor");
	e = postings_each_value(r->st, cur, name, value_cb, &vc);
	mdb_cursor_close(cur);
	return e;
}
