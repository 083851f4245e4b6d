/*
 * Retention: bounded steps that delete sealed chunks and heads older than now - retention, and
 * the series left without data, each step in its own short transaction.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

#include "core/log.h"
#include "store/chunk.h"

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

	return store_head_get(st, txn, id, &d) == 0;
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
	return store_lmdb_err(st, rc, "retention");
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
		store_wcache_clear(st);
		return rc;
	}
	if (nids) {
		qsort(ids, nids, sizeof(*ids), id_cmp);
		store_wcache_drop_ids(st, ids, nids);
	}
	free(ids);
	return deleted > INT_MAX ? INT_MAX : (int)deleted;
}
