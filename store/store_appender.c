/*
 * The agent's appender: every tick, a snapshot of the registry becomes one batch, plus stale
 * markers for series that disappeared since the previous tick and the caller's records. A batch
 * that cannot be committed stays pending and rides along with the next tick.
 */
#include "store/store_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define STORE_DEFAULT_MAX_PENDING ((size_t)1 << 20)

/* A set of series (canonical label bytes) seen in one tick. */
/* One series seen in a tick: its label set and type, for stale markers on the next tick. */
struct tkey {
	struct canon_node node;         /* key: 'canon' below */
	enum metric_type type;
	char canon[];
};

struct store_appender {
	struct store *st;
	struct registry *reg;
	size_t max_pending;
	struct store_batch *batch;      /* pending: this tick's samples plus any not committed */
	struct canon_table prev, cur;   /* series (struct tkey) of the previous and this tick */
	struct buf canon;               /* scratch for one sample's canonical labels */
	int64_t now;                    /* the tick's timestamp, during the visit */
	uint64_t rejected_now;          /* samples refused during the visit */
	struct series *commits, *pending, *dropped, *appended, *out_of_order, *rejected;
	struct metric *errors;
};

static bool tkey_drop(struct canon_node *n, void *ctx)
{
	(void)ctx;
	free(container_of(n, struct tkey, node));
	return true;
}

static void keyset_clear(struct canon_table *ks)
{
	canon_table_remove_if(ks, tkey_drop, NULL);
}

static void keyset_release(struct canon_table *ks)
{
	keyset_clear(ks);
	canon_table_release(ks);
}

static void keyset_add(struct canon_table *ks, const char *canon, size_t clen, uint64_t h,
		       enum metric_type type)
{
	struct tkey *k;

	if (canon_table_find(ks, canon, clen, h))
		return;
	k = xmalloc(sizeof(*k) + clen);
	memcpy(k->canon, canon, clen);
	k->type = type;
	k->node.hash = h;
	k->node.canon = k->canon;
	k->node.clen = clen;
	canon_table_insert(ks, &k->node);
}

/* ---- seeding counters from the store ---- */

static int seed_counters(struct store *st, struct registry *reg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	size_t seeded = 0;
	int rc, err;

	err = store_txn_begin(st, MDB_RDONLY, &txn);
	if (err)
		return err;
	rc = mdb_cursor_open(txn, st->series, &cur);
	if (rc) {
		store_txn_end(st, txn, false);
		return store_lmdb_err(rc, "open cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		struct label labels[STORE_MAX_LABELS];
		const char *names[STORE_MAX_LABELS], *values[STORE_MAX_LABELS];
		const char *metric = NULL;
		size_t m = 0;
		int64_t t;
		double v;
		int n;

		if (k.mv_size != 8 || d.mv_size < 2 ||
		    ((const uint8_t *)d.mv_data)[0] != METRIC_COUNTER)
			continue;
		if (store_last_sample(st, txn, store_get_be64(k.mv_data), &t, &v) || isnan(v))
			continue;
		n = store_canon_split((const char *)d.mv_data + 1, d.mv_size - 1, labels,
				      STORE_MAX_LABELS);
		for (int i = 0; i < n; i++) {
			if (!strcmp(labels[i].name, "__name__")) {
				metric = labels[i].value;
			} else {
				names[m] = labels[i].name;
				values[m] = labels[i].value;
				m++;
			}
		}
		if (!metric)
			continue;
		/* Too many labels for the registry: it could never have produced this series. */
		if (!registry_seed_counter(reg, metric, m, names, values, v))
			seeded++;
	}
	mdb_cursor_close(cur);
	store_txn_end(st, txn, false);
	if (rc != MDB_NOTFOUND)
		return store_lmdb_err(rc, "read series");
	log_debug("store", "store %s: seeded %zu counters from stored values", st->path, seeded);
	return 0;
}

/* ---- the appender ---- */

struct store_appender *store_appender_new(struct store *st, struct registry *reg,
					  size_t max_pending_samples)
{
	static const char *const reason[] = { "reason", NULL };
	struct store_appender *a = xcalloc(1, sizeof(*a));
	struct metric *m;
	int err;

	a->st = st;
	a->reg = reg;
	a->max_pending = max_pending_samples ? max_pending_samples : STORE_DEFAULT_MAX_PENDING;
	a->batch = store_batch_new();
	buf_init(&a->canon, STORE_MAX_CANON_LEN);

	/* Seed before registering our own counters so they continue too. */
	err = seed_counters(st, reg);
	if (err)
		log_warn("store", "store %s: cannot read stored counters (%s); counters start at 0",
			 st->path, err_str(err));

	m = registry_counter(reg, "deploywatch_store_commits_total",
			     "Store transactions committed by the appender.", NULL);
	a->commits = m ? metric_series(m, NULL) : NULL;
	a->errors = registry_counter(reg, "deploywatch_store_commit_errors_total",
				     "Store commits that failed, by reason; samples stay pending.",
				     reason);
	m = registry_gauge(reg, "deploywatch_store_pending_samples",
			   "Samples waiting for a successful commit.", NULL);
	a->pending = m ? metric_series(m, NULL) : NULL;
	m = registry_counter(reg, "deploywatch_store_dropped_samples_total",
			     "Pending samples dropped at the pending limit.", NULL);
	a->dropped = m ? metric_series(m, NULL) : NULL;
	m = registry_counter(reg, "deploywatch_store_samples_appended_total",
			     "Samples written to the store.", NULL);
	a->appended = m ? metric_series(m, NULL) : NULL;
	m = registry_counter(reg, "deploywatch_store_out_of_order_samples_total",
			     "Samples refused because their series already has a later sample.",
			     NULL);
	a->out_of_order = m ? metric_series(m, NULL) : NULL;
	m = registry_counter(reg, "deploywatch_store_rejected_samples_total",
			     "Samples whose label set the store cannot hold (invalid or too long).",
			     NULL);
	a->rejected = m ? metric_series(m, NULL) : NULL;
	if (!a->commits || !a->errors || !a->pending || !a->dropped || !a->appended ||
	    !a->out_of_order || !a->rejected)
		log_error("store", "cannot register the store's self-metrics: a metric of the "
				   "same name has another shape");
	return a;
}

void store_appender_free(struct store_appender *a)
{
	if (!a)
		return;
	store_batch_free(a->batch);
	keyset_release(&a->prev);
	keyset_release(&a->cur);
	buf_release(&a->canon);
	free(a);
}

/*
 * One registry sample into the batch. Refusals are only counted here: the visit holds the
 * registry's read lock, so the self-metric is updated after it.
 */
static int visit_sample(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	struct store_appender *a = ctx;
	struct label labels[REGISTRY_MAX_LABELS + 2];
	size_t n = 0;
	uint64_t h;

	if (s->nlabels > REGISTRY_MAX_LABELS + 1) {
		a->rejected_now++;
		return 0;
	}
	labels[n].name = "__name__";
	labels[n++].value = s->name;
	for (size_t i = 0; i < s->nlabels; i++) {
		labels[n].name = s->label_names[i];
		labels[n++].value = s->label_values[i];
	}
	buf_reset(&a->canon);
	if (store_canon_labels(labels, n, &a->canon)) {
		a->rejected_now++;
		return 0;
	}
	h = store_canon_hash(a->canon.data, a->canon.len);
	keyset_add(&a->cur, a->canon.data, a->canon.len, h, info->type);
	/* Only -E2BIG (the batch's hard cap) can fail here: the pending cap below is far lower. */
	if (store_batch_add_canon(a->batch, a->canon.data, a->canon.len, info->type, a->now,
				  s->value))
		a->rejected_now++;
	return 0;
}

static const char *error_reason(int err)
{
	switch (err) {
	case -ENOSPC:
	case -EDQUOT:
		return "no_space";
	case -EFBIG:
		return "file_too_large";
	case -EROFS:
	case -EACCES:
	case -EPERM:
		return "read_only";
	case -EIO:
		return "io";
	case -EBUSY:
		return "busy";
	case STORE_E_CORRUPT:
		return "corrupt";
	case STORE_E_FORMAT:
		return "format";
	default:
		return "other";
	}
}

static void count_error(struct store_appender *a, const char *reason)
{
	const char *values[] = { reason, NULL };

	if (a->errors)
		series_add(metric_series(a->errors, values), 1);
}

/* A series of the previous tick: if this tick did not see it, it ends with a stale marker. */
static void mark_stale(struct canon_node *n, void *ctx)
{
	struct store_appender *a = ctx;
	const struct tkey *k = container_of(n, struct tkey, node);
	uint64_t bits = MODEL_STALE_NAN_BITS;

	if (!canon_table_find(&a->cur, n->canon, n->clen, n->hash) &&
	    store_batch_add_canon(a->batch, n->canon, n->clen, k->type, a->now,
				  bits_double(bits)))
		a->rejected_now++;
}

int store_appender_tick(struct store_appender *a, int64_t now_ms,
			int (*extra)(void *ctx, struct store_batch *b), void *ctx)
{
	const struct store_tick_hooks hooks = { .extra = extra, .ctx = ctx };

	return store_appender_tick_hooks(a, now_ms, &hooks);
}

int store_appender_tick_hooks(struct store_appender *a, int64_t now_ms,
			      const struct store_tick_hooks *hooks)
{
	static const struct registry_visitor visitor = { .sample = visit_sample };
	struct store_commit_stats stats;
	struct canon_table swap;
	int err, before_err;

	a->now = now_ms;
	a->rejected_now = 0;
	keyset_clear(&a->cur);
	/* Samples at earlier times first: the store keeps batch order within a series and refuses
	 * one at or before the series' last. */
	before_err = hooks->before ? hooks->before(hooks->ctx, a->batch) : 0;
	registry_visit(a->reg, &visitor, a);

	/* Series of the previous tick that are gone end with a stale marker, as in Prometheus. */
	canon_table_visit(&a->prev, mark_stale, a);
	if (a->rejected_now && a->rejected)
		series_add(a->rejected, (double)a->rejected_now);
	swap = a->prev;
	a->prev = a->cur;
	a->cur = swap;

	err = before_err ? before_err : hooks->extra ? hooks->extra(hooks->ctx, a->batch) : 0;
	if (err) {
		count_error(a, "extra");
	} else {
		err = store_commit(a->st, a->batch, &stats);
		if (!err) {
			if (a->commits)
				series_add(a->commits, 1);
			if (a->appended)
				series_add(a->appended, (double)stats.samples_written);
			if (a->out_of_order)
				series_add(a->out_of_order, (double)stats.out_of_order);
		} else {
			count_error(a, error_reason(err));
		}
	}
	if (store_batch_len(a->batch) > a->max_pending) {
		size_t k = store_batch_len(a->batch) - a->max_pending;

		store_batch_drop_oldest(a->batch, k);
		if (a->dropped)
			series_add(a->dropped, (double)k);
	}
	if (a->pending)
		series_set(a->pending, (double)store_batch_len(a->batch));
	return err;
}
