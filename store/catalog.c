/*
 * The error catalog: one record per exception fingerprint in the store's meta database, under
 * "catalog/<32 hex digits>", written by store_commit() in the same transaction as the samples
 * and the tailer's file offsets, so a crash can neither lose nor double an occurrence.
 *
 * Record (big-endian; docs/store-format.md):
 *   u8 version (1) | i64 first_seen_ms | i64 last_seen_ms | u64 count
 *   | u16 len + class | u16 len + message | u16 len + location
 *   | u32 sample length | u32 zlen + zlib(sample)
 * The sample is the first occurrence's entry, cut at STORE_CATALOG_MAX_SAMPLE, compressed once
 * when it is first seen and never rewritten: a later occurrence updates 24 bytes of counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "store/store_int.h"

#define CATALOG_PREFIX "catalog/"
#define CATALOG_PREFIX_LEN 8
#define CATALOG_VERSION 1
#define CATALOG_MAX_FIELD 1024 /* class, message, location: longer is cut */

struct pending {
	char fp[33];
	char *class_name, *message, *location;
	int64_t first, last;
	uint64_t count;
	unsigned char *z;      /* zlib of the sample */
	size_t zlen, raw_len;
};

struct store_catalog_buf {
	struct pending *v;
	size_t n, cap;
};

struct store_catalog_buf *store_catalog_buf_new(void)
{
	return xcalloc(1, sizeof(struct store_catalog_buf));
}

static void pending_release(struct pending *p)
{
	free(p->class_name);
	free(p->message);
	free(p->location);
	free(p->z);
}

void store_catalog_buf_clear(struct store_catalog_buf *cb)
{
	if (!cb)
		return;
	for (size_t i = 0; i < cb->n; i++)
		pending_release(&cb->v[i]);
	cb->n = 0;
}

void store_catalog_buf_free(struct store_catalog_buf *cb)
{
	if (!cb)
		return;
	store_catalog_buf_clear(cb);
	free(cb->v);
	free(cb);
}

size_t store_catalog_buf_len(const struct store_catalog_buf *cb)
{
	return cb ? cb->n : 0;
}

static bool fp_valid(const char *fp)
{
	size_t i;

	for (i = 0; fp[i]; i++)
		if (!((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f')))
			return false;
	return i == 32;
}

static struct pending *buf_find(struct store_catalog_buf *cb, const char *fp)
{
	/* Linear: a tick sees a handful of distinct fingerprints, rarely more than dozens. */
	for (size_t i = 0; i < cb->n; i++)
		if (memcmp(cb->v[i].fp, fp, 32) == 0)
			return &cb->v[i];
	return NULL;
}

static char *field_dup(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return xstrndup(s ? s : "", n > CATALOG_MAX_FIELD ? CATALOG_MAX_FIELD : n);
}

/* Fold 'src' (a later or concurrent occurrence) into 'dst'. */
static void pending_merge(struct pending *dst, struct pending *src)
{
	dst->count += src->count;
	if (src->last > dst->last)
		dst->last = src->last;
	if (src->first < dst->first) {
		/* the earlier occurrence's sample is the one kept */
		dst->first = src->first;
		free(dst->z);
		dst->z = src->z;
		dst->zlen = src->zlen;
		dst->raw_len = src->raw_len;
		src->z = NULL;
	}
}

int store_catalog_buf_add(struct store_catalog_buf *cb, const struct logged_exception *e)
{
	struct pending *p;
	size_t raw = e->entry_len < STORE_CATALOG_MAX_SAMPLE ? e->entry_len
							     : STORE_CATALOG_MAX_SAMPLE;
	uLongf zl;

	if (!e->fingerprint || !fp_valid(e->fingerprint))
		return -EINVAL;
	p = buf_find(cb, e->fingerprint);
	if (p) {
		struct pending one = { .first = e->t_ms, .last = e->t_ms, .count = 1 };

		if (e->t_ms < p->first) {
			zl = compressBound(raw);
			one.z = xmalloc(zl);
			if (compress2(one.z, &zl, (const Bytef *)e->entry, raw, 6) != Z_OK)
				abort(); /* only Z_MEM_ERROR or Z_BUF_ERROR: neither can happen */
			one.zlen = zl;
			one.raw_len = raw;
		}
		pending_merge(p, &one);
		free(one.z);
		return 0;
	}
	if (cb->n == STORE_CATALOG_MAX_PENDING)
		return -E2BIG;
	if (cb->n == cb->cap) {
		cb->cap = cb->cap ? cb->cap * 2 : 8;
		cb->v = xrealloc(cb->v, cb->cap * sizeof(*cb->v));
	}
	p = &cb->v[cb->n++];
	memset(p, 0, sizeof(*p));
	memcpy(p->fp, e->fingerprint, 33);
	p->class_name = field_dup(e->class_name);
	p->message = field_dup(e->message);
	p->location = field_dup(e->location);
	p->first = p->last = e->t_ms;
	p->count = 1;
	zl = compressBound(raw);
	p->z = xmalloc(zl);
	if (compress2(p->z, &zl, (const Bytef *)(e->entry ? e->entry : ""), raw, 6) != Z_OK)
		abort();
	p->zlen = zl;
	p->raw_len = raw;
	return 0;
}

int store_batch_take_catalog(struct store_batch *b, struct store_catalog_buf *cb)
{
	if (!cb || !cb->n)
		return 0;
	if (!b->catalog)
		b->catalog = store_catalog_buf_new();
	for (size_t i = 0; i < cb->n; i++) {
		struct pending *have = buf_find(b->catalog, cb->v[i].fp);

		if (have) {
			pending_merge(have, &cb->v[i]);
			pending_release(&cb->v[i]);
			continue;
		}
		if (b->catalog->n == b->catalog->cap) {
			b->catalog->cap = b->catalog->cap ? b->catalog->cap * 2 : 8;
			b->catalog->v = xrealloc(b->catalog->v,
						 b->catalog->cap * sizeof(*b->catalog->v));
		}
		b->catalog->v[b->catalog->n++] = cb->v[i]; /* ownership moves */
	}
	cb->n = 0;
	return 0;
}

/* ---- the record ---- */

struct rec {
	int64_t first, last;
	uint64_t count;
	const char *cls, *msg, *loc;
	size_t cls_len, msg_len, loc_len;
	uint32_t raw_len;
	const unsigned char *z;
	uint32_t zlen;
};

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int rec_decode(const unsigned char *d, size_t len, struct rec *r)
{
	size_t o = 25;
	const char **strs[3] = { &r->cls, &r->msg, &r->loc };
	size_t *lens[3] = { &r->cls_len, &r->msg_len, &r->loc_len };

	if (len < 25 || d[0] != CATALOG_VERSION)
		return STORE_E_CORRUPT;
	r->first = (int64_t)store_get_be64(d + 1);
	r->last = (int64_t)store_get_be64(d + 9);
	r->count = store_get_be64(d + 17);
	for (int i = 0; i < 3; i++) {
		if (len - o < 2 || len - o - 2 < get16(d + o))
			return STORE_E_CORRUPT;
		*lens[i] = get16(d + o);
		*strs[i] = (const char *)d + o + 2;
		o += 2 + *lens[i];
	}
	if (len - o < 8)
		return STORE_E_CORRUPT;
	r->raw_len = get32(d + o);
	r->zlen = get32(d + o + 4);
	if (len - o - 8 < r->zlen || r->raw_len > STORE_CATALOG_MAX_SAMPLE)
		return STORE_E_CORRUPT;
	r->z = d + o + 8;
	return 0;
}

static void put16(struct buf *b, size_t v)
{
	unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	buf_append(b, x, 2);
}

static void put32(struct buf *b, size_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	buf_append(b, x, 4);
}

static void put64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	store_put_be64(x, v);
	buf_append(b, x, 8);
}

static void rec_encode(struct buf *b, const struct rec *r)
{
	buf_reset(b);
	buf_putc(b, CATALOG_VERSION);
	put64(b, (uint64_t)r->first);
	put64(b, (uint64_t)r->last);
	put64(b, r->count);
	put16(b, r->cls_len);
	buf_append(b, r->cls, r->cls_len);
	put16(b, r->msg_len);
	buf_append(b, r->msg, r->msg_len);
	put16(b, r->loc_len);
	buf_append(b, r->loc, r->loc_len);
	put32(b, r->raw_len);
	put32(b, r->zlen);
	buf_append(b, r->z, r->zlen);
}

int store_catalog_write(struct store *st, MDB_txn *txn, const struct store_catalog_buf *cb)
{
	struct buf val;
	int rc = 0;

	if (!cb || !cb->n)
		return 0;
	buf_init(&val, 0);
	for (size_t i = 0; !rc && i < cb->n; i++) {
		const struct pending *p = &cb->v[i];
		char key[CATALOG_PREFIX_LEN + 33];
		MDB_val k = { CATALOG_PREFIX_LEN + 32, key }, d;
		struct rec r = {
			.first = p->first, .last = p->last, .count = p->count,
			.cls = p->class_name, .cls_len = strlen(p->class_name),
			.msg = p->message, .msg_len = strlen(p->message),
			.loc = p->location, .loc_len = strlen(p->location),
			.raw_len = (uint32_t)p->raw_len, .z = p->z, .zlen = (uint32_t)p->zlen,
		};

		memcpy(key, CATALOG_PREFIX, CATALOG_PREFIX_LEN);
		memcpy(key + CATALOG_PREFIX_LEN, p->fp, 33);
		rc = mdb_get(txn, st->meta, &k, &d);
		if (rc == 0) {
			struct rec old;

			/* a record that does not decode is replaced rather than blocking commits */
			if (rec_decode(d.mv_data, d.mv_size, &old) == 0) {
				r.count += old.count;
				if (old.last > r.last)
					r.last = old.last;
				if (old.first <= r.first) {
					r.first = old.first;
					r.raw_len = old.raw_len;
					r.z = old.z;
					r.zlen = old.zlen;
				}
				r.cls = old.cls, r.cls_len = old.cls_len;
				r.msg = old.msg, r.msg_len = old.msg_len;
				r.loc = old.loc, r.loc_len = old.loc_len;
			}
		} else if (rc != MDB_NOTFOUND) {
			break;
		}
		/* encode before the put: 'old' points into the page mdb_put may change */
		rec_encode(&val, &r);
		d.mv_size = val.len;
		d.mv_data = val.data;
		rc = mdb_put(txn, st->meta, &k, &d, 0);
	}
	buf_release(&val);
	return rc;
}

/* ---- reading ---- */

struct listed {
	struct store_catalog_entry e;
	char fp[33];
	char *strs; /* class \0 message \0 location \0 */
};

static int listed_cmp(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	if (x->e.last_seen_ms != y->e.last_seen_ms)
		return x->e.last_seen_ms > y->e.last_seen_ms ? -1 : 1;
	return strcmp(x->fp, y->fp);
}

struct catalog_listing {
	const struct store_catalog_filter *f;
	struct listed *v;
	size_t n, cap;
};

/* One catalog record into the listing, copied out of LMDB's pages, if the filter keeps it. */
static int catalog_add(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct catalog_listing *c = ctx;
	const struct store_catalog_filter *f = c->f;
	struct rec r;
	struct listed *l;
	size_t o;
	int err;

	if (k->mv_size != CATALOG_PREFIX_LEN + 32)
		return 1;
	err = rec_decode(d->mv_data, d->mv_size, &r);
	if (err)
		return err;
	if (r.last < f->since_ms || (f->new_only && r.first < f->since_ms) || r.first > f->until_ms)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	l = &c->v[c->n++];
	memcpy(l->fp, (const char *)k->mv_data + CATALOG_PREFIX_LEN, 32);
	l->fp[32] = '\0';
	/* copy out: LMDB's pages live only as long as the transaction */
	l->strs = xmalloc(r.cls_len + r.msg_len + r.loc_len + 3);
	memcpy(l->strs, r.cls, r.cls_len);
	l->strs[r.cls_len] = '\0';
	o = r.cls_len + 1;
	memcpy(l->strs + o, r.msg, r.msg_len);
	l->strs[o + r.msg_len] = '\0';
	o += r.msg_len + 1;
	memcpy(l->strs + o, r.loc, r.loc_len);
	l->strs[o + r.loc_len] = '\0';
	l->e.class_name = l->strs;
	l->e.message = l->strs + r.cls_len + 1;
	l->e.location = l->strs + o;
	l->e.first_seen_ms = r.first;
	l->e.last_seen_ms = r.last;
	l->e.count = r.count;
	l->e.sample_len = r.raw_len;
	return 0;
}

int store_catalog_list(struct store *st, const struct store_catalog_filter *f,
		       int (*fn)(void *ctx, const struct store_catalog_entry *e), void *ctx)
{
	struct catalog_listing c = { .f = f };
	int err = store_meta_scan(st, CATALOG_PREFIX, "read the error catalog", catalog_add, &c);
	struct listed *v = c.v;
	size_t n = c.n;

	if (!err && n > 1)
		qsort(v, n, sizeof(*v), listed_cmp);
	for (size_t i = 0; !err && i < n && (!f->limit || i < f->limit); i++) {
		v[i].e.fingerprint = v[i].fp;
		err = fn(ctx, &v[i].e);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].strs);
	free(v);
	return err;
}

int store_catalog_sample(struct store *st, const char *fingerprint, struct buf *out)
{
	char key[CATALOG_PREFIX_LEN + 33];
	MDB_val k = { CATALOG_PREFIX_LEN + 32, key }, d;
	MDB_txn *txn;
	struct rec r;
	int rc, err;

	if (!fp_valid(fingerprint))
		return -EINVAL;
	memcpy(key, CATALOG_PREFIX, CATALOG_PREFIX_LEN);
	memcpy(key + CATALOG_PREFIX_LEN, fingerprint, 33);
	err = store_txn_begin(st, MDB_RDONLY, &txn);
	if (err)
		return err;
	rc = mdb_get(txn, st->meta, &k, &d);
	if (rc == MDB_NOTFOUND)
		err = -ENOENT;
	else if (rc)
		err = store_lmdb_err(st, rc, "read the error catalog");
	else
		err = rec_decode(d.mv_data, d.mv_size, &r);
	if (!err) {
		uLongf rl = r.raw_len;

		/* raw_len is capped by rec_decode, so this allocation is bounded */
		char *tmp = xmalloc((size_t)rl + 1);

		buf_reset(out);
		if (uncompress((Bytef *)tmp, &rl, r.z, r.zlen) != Z_OK || rl != r.raw_len)
			err = STORE_E_CORRUPT;
		else
			err = buf_append(out, tmp, rl);
		free(tmp);
	}
	store_txn_end(st, txn, false);
	return err;
}
