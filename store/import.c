/*
 * The importer: feeds the import parser's samples (import_parse.c) to the store in batches,
 * counting the series and the samples the store refuses as out of order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/import.h"
#include "store/store_int.h"

/* What the importer knows of one series of the input. */
struct iseries {
	char *canon;
	size_t clen;
	uint64_t hash;
	int64_t max_ts;      /* latest timestamp of the series read so far */
	int64_t first_ts;    /* earliest timestamp in the current batch when 'fresh' */
	bool fresh;          /* first seen in the current batch: the store may already hold it */
	bool refused;        /* counted in out_of_order_series */
};

struct store_import {
	struct store *st;
	struct store_import_parser *parser;
	struct store_batch *batch;
	size_t batch_samples;
	void (*malformed)(void *ctx, size_t line, const char *msg);
	void *ctx;

	struct iseries *tab;  /* open hash, smask + 1 slots */
	size_t smask, nseries;
	size_t *fresh;        /* indexes into tab of the fresh series of the current batch */
	size_t nfresh, fresh_cap;
	struct buf canon;
	struct store_import_stats stats;
};

static void import_malformed(void *ctx, size_t line, const char *msg)
{
	struct store_import *imp = ctx;

	/* The end-of-input report is a line, but no malformed one (stats.ending says it). */
	if (store_import_parser_ending(imp->parser) == STORE_IMPORT_END_COMPLETE)
		imp->stats.malformed++;
	imp->malformed(imp->ctx, line, msg);
}

static void series_grow(struct store_import *imp)
{
	size_t oldn = imp->tab ? imp->smask + 1 : 0, newn = oldn ? oldn * 2 : 1024;
	struct iseries *old = imp->tab;

	imp->tab = xcalloc(newn, sizeof(*imp->tab));
	imp->smask = newn - 1;
	for (size_t i = 0; i < oldn; i++) {
		size_t j;

		if (!old[i].canon)
			continue;
		for (j = old[i].hash & imp->smask; imp->tab[j].canon; j = (j + 1) & imp->smask)
			;
		imp->tab[j] = old[i];
	}
	free(old);
	/* Slots moved: find the fresh ones again. */
	imp->nfresh = 0;
	for (size_t i = 0; i < newn; i++) {
		if (!imp->tab[i].canon || !imp->tab[i].fresh)
			continue;
		imp->fresh[imp->nfresh++] = i;
	}
}

/* The series for canonical bytes; NULL when the series cap is reached. */
static struct iseries *series_get(struct store_import *imp, const char *canon, size_t clen)
{
	uint64_t h = store_canon_hash(canon, clen);
	size_t i;

	for (i = h & imp->smask; imp->tab && imp->tab[i].canon; i = (i + 1) & imp->smask) {
		struct iseries *s = &imp->tab[i];

		if (s->hash == h && s->clen == clen && !memcmp(s->canon, canon, clen))
			return s;
	}
	if (imp->nseries >= STORE_IMPORT_MAX_SERIES)
		return NULL;
	if (imp->nfresh == imp->fresh_cap) {
		imp->fresh_cap = imp->fresh_cap ? imp->fresh_cap * 2 : 256;
		imp->fresh = xrealloc(imp->fresh, imp->fresh_cap * sizeof(*imp->fresh));
	}
	if (!imp->tab || (imp->nseries + 1) * 2 > imp->smask + 1) {
		series_grow(imp);
		for (i = h & imp->smask; imp->tab[i].canon; i = (i + 1) & imp->smask)
			;
	}
	imp->tab[i].canon = xmalloc(clen);
	memcpy(imp->tab[i].canon, canon, clen);
	imp->tab[i].clen = clen;
	imp->tab[i].hash = h;
	imp->tab[i].max_ts = INT64_MIN;
	imp->tab[i].first_ts = INT64_MAX;
	imp->tab[i].fresh = true;
	imp->fresh[imp->nfresh++] = i;
	imp->nseries++;
	imp->stats.series++;
	return &imp->tab[i];
}

static int stop_at_first(void *ctx, int64_t t, double v)
{
	(void)ctx;
	(void)t;
	(void)v;
	return 1;
}

/*
 * Before a commit: which series seen for the first time in this batch already hold a sample at
 * or after their first timestamp here? Those will have samples refused. (A series seen in an
 * earlier batch can only be refused for disorder within the input, which import_sample counts.)
 */
static int mark_refused_fresh(struct store_import *imp)
{
	struct store_reader *r;
	struct store_series_set *set;
	struct matcher all = { "__name__", MATCH_RE, ".+" };
	int64_t from = INT64_MAX;
	char err[128];
	int rc;

	for (size_t i = 0; i < imp->nfresh; i++)
		if (imp->tab[imp->fresh[i]].first_ts < from)
			from = imp->tab[imp->fresh[i]].first_ts;
	if (!imp->nfresh)
		return 0;
	rc = store_reader_begin(imp->st, &r);
	if (rc)
		return rc;
	rc = store_select(r, &all, 1, from, INT64_MAX, &set, err, sizeof(err));
	if (rc)
		goto out_end;
	for (size_t k = 0; k < store_series_set_len(set) && !rc; k++) {
		size_t n;
		const struct label *l = store_series_set_labels(set, k, &n);
		uint64_t h;

		buf_reset(&imp->canon);
		if (store_canon_labels(l, n, &imp->canon))
			continue;
		h = store_canon_hash(imp->canon.data, imp->canon.len);
		for (size_t i = h & imp->smask; imp->tab[i].canon; i = (i + 1) & imp->smask) {
			struct iseries *s = &imp->tab[i];

			if (s->hash != h || s->clen != imp->canon.len ||
			    memcmp(s->canon, imp->canon.data, s->clen))
				continue;
			if (s->fresh && !s->refused) {
				rc = store_read_samples(r, store_series_set_id(set, k), s->first_ts,
							INT64_MAX, stop_at_first, NULL);
				if (rc == 1) {
					s->refused = true;
					imp->stats.out_of_order_series++;
				}
				rc = rc == 1 ? 0 : rc;
			}
			break;
		}
	}
	store_series_set_free(set);
out_end:
	store_reader_end(r);
	return rc;
}

static int import_commit(struct store_import *imp)
{
	struct store_commit_stats cs;
	int rc;

	if (!store_batch_len(imp->batch))
		return 0;
	rc = mark_refused_fresh(imp);
	if (rc)
		return rc;
	rc = store_commit(imp->st, imp->batch, &cs);
	if (rc)
		return rc;
	imp->stats.samples_written += cs.samples_written;
	imp->stats.expired += cs.written_before_horizon;
	imp->stats.out_of_order += cs.out_of_order;
	for (size_t i = 0; i < imp->nfresh; i++)
		imp->tab[imp->fresh[i]].fresh = false;
	imp->nfresh = 0;
	return 0;
}

static int import_sample(void *ctx, size_t line, const struct store_import_sample *smp)
{
	struct store_import *imp = ctx;
	struct iseries *s;
	int rc;

	buf_reset(&imp->canon);
	if (store_canon_labels(smp->labels, smp->nlabels, &imp->canon)) {
		import_malformed(imp, line, "the store cannot hold this label set (at most 32 labels, "
					    "names up to 128 bytes, name and value up to 500 bytes)");
		return 0;
	}
	s = series_get(imp, imp->canon.data, imp->canon.len);
	if (!s) {
		import_malformed(imp, line, "too many distinct series in one import");
		return 0;
	}
	imp->stats.samples++;
	if (smp->t_ms <= s->max_ts) {
		if (!s->refused) {
			s->refused = true;
			imp->stats.out_of_order_series++;
		}
	} else {
		s->max_ts = smp->t_ms;
	}
	if (s->fresh && smp->t_ms < s->first_ts)
		s->first_ts = smp->t_ms;
	rc = store_batch_add_canon(imp->batch, imp->canon.data, imp->canon.len, smp->type,
				   smp->t_ms, smp->v);
	if (!rc && store_batch_len(imp->batch) >= imp->batch_samples)
		rc = import_commit(imp);
	return rc;
}

struct store_import *store_import_new(struct store *st, enum store_import_format fmt,
				      size_t batch_samples,
				      void (*malformed)(void *ctx, size_t line, const char *msg),
				      void *ctx)
{
	struct store_import *imp = xcalloc(1, sizeof(*imp));

	imp->st = st;
	imp->batch = store_batch_new();
	imp->batch_samples = batch_samples ? batch_samples : STORE_IMPORT_BATCH;
	if (imp->batch_samples > STORE_MAX_BATCH_SAMPLES)
		imp->batch_samples = STORE_MAX_BATCH_SAMPLES;
	imp->malformed = malformed;
	imp->ctx = ctx;
	imp->parser = store_import_parser_new(fmt, import_sample, import_malformed, imp);
	buf_init(&imp->canon, STORE_MAX_CANON_LEN);
	return imp;
}

void store_import_set_now(struct store_import *imp, int64_t now_ms)
{
	int64_t r = imp->st->retention_ms;

	if (r > 0)
		store_batch_set_horizon(imp->batch, now_ms < INT64_MIN + r ? INT64_MIN : now_ms - r);
}

int store_import_feed(struct store_import *imp, const void *data, size_t len)
{
	return store_import_parser_feed(imp->parser, data, len);
}

int store_import_flush(struct store_import *imp)
{
	return import_commit(imp);
}

int store_import_finish(struct store_import *imp)
{
	int rc = store_import_parser_finish(imp->parser);

	return rc ? rc : import_commit(imp);
}

void store_import_get_stats(const struct store_import *imp, struct store_import_stats *out)
{
	*out = imp->stats;
	out->lines = store_import_parser_lines(imp->parser);
	out->ending = store_import_parser_ending(imp->parser);
}

void store_import_free(struct store_import *imp)
{
	if (!imp)
		return;
	for (size_t i = 0; imp->tab && i <= imp->smask; i++)
		free(imp->tab[i].canon);
	free(imp->tab);
	free(imp->fresh);
	store_import_parser_free(imp->parser);
	store_batch_free(imp->batch);
	buf_release(&imp->canon);
	free(imp);
}
