/*
 * Deploy markers: one meta record per deploy name, written in its own short write transaction
 * (LMDB serialises writers, so `deploywatch mark` beside the running agent only waits for the
 * agent's current commit). Layout in docs/store-format.md, `deploy/<name>`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "store/store.h"
#include "store/store_int.h"

#define DEPLOY_PREFIX "deploy/"
#define DEPLOY_PREFIX_LEN 7
#define DEPLOY_VERSION 1
/* version · at_ms · created_ms · note length */
#define DEPLOY_HEAD (1 + 8 + 8 + 2)

bool store_deploy_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > STORE_DEPLOY_MAX_NAME || !model_utf8_valid(name, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

static int decode(const MDB_val *k, const MDB_val *d, struct store_deploy *out)
{
	const uint8_t *p = d->mv_data;
	size_t nlen = k->mv_size - DEPLOY_PREFIX_LEN, notelen;

	if (d->mv_size < DEPLOY_HEAD || p[0] != DEPLOY_VERSION || nlen > STORE_DEPLOY_MAX_NAME)
		return STORE_E_CORRUPT;
	notelen = (size_t)p[17] << 8 | p[18];
	if (notelen > STORE_DEPLOY_MAX_NOTE || d->mv_size != DEPLOY_HEAD + notelen)
		return STORE_E_CORRUPT;
	memcpy(out->name, (const char *)k->mv_data + DEPLOY_PREFIX_LEN, nlen);
	out->name[nlen] = '\0';
	out->at_ms = (int64_t)store_get_be64(p + 1);
	out->created_ms = (int64_t)store_get_be64(p + 9);
	memcpy(out->note, p + DEPLOY_HEAD, notelen);
	out->note[notelen] = '\0';
	return 0;
}

int store_deploy_put(struct store *st, const char *name, int64_t at_ms, int64_t created_ms,
		     const char *note)
{
	uint8_t val[DEPLOY_HEAD + STORE_DEPLOY_MAX_NOTE];
	char key[DEPLOY_PREFIX_LEN + STORE_DEPLOY_MAX_NAME];
	size_t nlen, notelen = note ? strlen(note) : 0;
	MDB_val k, d;
	MDB_txn *txn;
	int rc, err;

	if (!store_deploy_name_valid(name) || notelen > STORE_DEPLOY_MAX_NOTE ||
	    (note && !model_utf8_valid(note, notelen)))
		return -EINVAL;
	if (st->read_only)
		return -EROFS;
	nlen = strlen(name);
	memcpy(key, DEPLOY_PREFIX, DEPLOY_PREFIX_LEN);
	memcpy(key + DEPLOY_PREFIX_LEN, name, nlen);
	val[0] = DEPLOY_VERSION;
	store_put_be64(val + 1, (uint64_t)at_ms);
	store_put_be64(val + 9, (uint64_t)created_ms);
	val[17] = (uint8_t)(notelen >> 8);
	val[18] = (uint8_t)notelen;
	if (notelen)
		memcpy(val + DEPLOY_HEAD, note, notelen);
	k.mv_size = DEPLOY_PREFIX_LEN + nlen;
	k.mv_data = key;
	d.mv_size = DEPLOY_HEAD + notelen;
	d.mv_data = val;
	err = store_txn_begin(st, 0, &txn);
	if (err)
		return err;
	rc = mdb_put(txn, st->meta, &k, &d, 0);
	if (rc) {
		store_txn_end(st, txn, false);
		return store_lmdb_err(st, rc, "write a deploy marker");
	}
	rc = store_txn_end(st, txn, true);
	return rc ? store_lmdb_err(st, rc, "commit a deploy marker") : 0;
}

static int deploy_cmp(const void *a, const void *b)
{
	const struct store_deploy *x = a, *y = b;

	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct deploy_list {
	struct store_deploy *v;
	size_t n, cap;
};

static int deploy_add(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct deploy_list *l = ctx;

	if (l->n == STORE_DEPLOY_MAX_LIST)
		return 1;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	/* a record that does not decode is left out, not fatal: markers are advisory */
	if (decode(k, d, &l->v[l->n]) == 0)
		l->n++;
	return 0;
}

int store_deploy_list(struct store *st, struct store_deploy **out, size_t *n)
{
	struct deploy_list l = { 0 };
	int err = store_meta_scan(st, DEPLOY_PREFIX, "read the deploy markers", deploy_add, &l);

	*out = NULL;
	*n = 0;
	if (err) {
		free(l.v);
		return err;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), deploy_cmp);
	*out = l.v;
	*n = l.n;
	return 0;
}

int store_deploy_find(struct store *st, const char *name, int64_t before_ms,
		      struct store_deploy *out)
{
	struct store_deploy *v;
	size_t n;
	int err = store_deploy_list(st, &v, &n);

	if (err)
		return err;
	err = -ENOENT;
	for (size_t i = n; i-- > 0;) {
		if (name ? strcmp(v[i].name, name) == 0 : v[i].at_ms <= before_ms) {
			*out = v[i];
			err = 0;
			break;
		}
	}
	free(v);
	return err;
}
