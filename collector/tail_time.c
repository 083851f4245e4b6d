/*
 * Log time. A counter's stored samples say "the value at time t"; an event logged at 10:03:07
 * belongs to the first grid point at or after it (10:03:10 at 10 s resolution). The registry
 * only knows the value now, so each event also adds its contribution (a counter's delta; a
 * histogram's buckets, sum and count) to its series' grid point here. At a tick the value at
 * each waiting grid point is the series' base (its value at the previous tick) plus the
 * contributions up to that point: rising, never above the tick's own sample, so the store takes
 * them in order.
 */
#include "collector/tail_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"

/* Samples one series expands to at most: buckets and +Inf, _sum, _count. */
#define TT_MAX_VALS (REGISTRY_MAX_BUCKETS + 3)

enum tt_kind { TT_VALUE, TT_BUCKET, TT_SUM, TT_COUNT };

struct tt_point {
	int64_t t;
	double acc[];           /* per sample: the contributions of this grid point's events */
};

struct tt_series {
	struct series *s;
	enum metric_type type;
	size_t nvals;
	enum tt_kind kind[TT_MAX_VALS];
	double bound[TT_MAX_VALS];      /* TT_BUCKET: its upper bound */
	double base[TT_MAX_VALS];       /* values at the last emitted point or tick */
	/* A counter or histogram created by its first event: a zero sample is stored one grid
	 * step before that event's point (see zero_sample), so increase() sees the first rise. */
	bool zero_pending;
	int64_t zero_t;
	struct tt_point **points;       /* sorted by t */
	size_t npoints, cap;
	/* The earliest sample emitted (INT64_MAX: none yet) and its values: what replay checks
	 * against the store before it writes anything (tail_time_visit_first). */
	int64_t first_t;
	double first[TT_MAX_VALS];
};

struct tail_time {
	int64_t res;
	int64_t done;           /* grid points at or before this are committed: later events late */
	/* Replay: does the store hold a sample of 's' at or after t (tail_time_set_held)? */
	bool (*held)(void *ctx, struct series *s, int64_t t_ms);
	void *held_ctx;
	struct tt_series **all; /* open addressing by series pointer, NULL = empty */
	size_t nall, capall;
	size_t npending;
};

struct tail_time *tail_time_new(int64_t res_ms)
{
	struct tail_time *tt = xcalloc(1, sizeof(*tt));

	tt->res = res_ms > 0 ? res_ms : 1000;
	tt->done = INT64_MIN;
	return tt;
}

static void tts_clear(struct tt_series *ts)
{
	for (size_t i = 0; i < ts->npoints; i++)
		free(ts->points[i]);
	ts->npoints = 0;
}

void tail_time_free(struct tail_time *tt)
{
	if (!tt)
		return;
	for (size_t i = 0; i < tt->capall; i++) {
		if (tt->all[i]) {
			tts_clear(tt->all[i]);
			free(tt->all[i]->points);
			free(tt->all[i]);
		}
	}
	free(tt->all);
	free(tt);
}

void tail_time_set_held(struct tail_time *tt, bool (*held)(void *ctx, struct series *s,
							  int64_t t_ms), void *ctx)
{
	tt->held = held;
	tt->held_ctx = ctx;
}

void tail_time_set_floor(struct tail_time *tt, int64_t t_ms)
{
	if (t_ms > tt->done)
		tt->done = t_ms;
}

size_t tail_time_pending(const struct tail_time *tt)
{
	return tt->npending;
}

static size_t slot_of(const struct tail_time *tt, const struct series *s)
{
	uint64_t h = (uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h >> 20) & (tt->capall - 1);
}

static void table_grow(struct tail_time *tt)
{
	struct tt_series **old = tt->all;
	size_t oldcap = tt->capall;

	tt->capall = oldcap ? oldcap * 2 : 64;
	tt->all = xcalloc(tt->capall, sizeof(*tt->all));
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i]) {
			size_t j = slot_of(tt, old[i]->s);

			while (tt->all[j])
				j = (j + 1) & (tt->capall - 1);
			tt->all[j] = old[i];
		}
	}
	free(old);
}

/* A series' shape and current values, read through the registry's visitor. */
struct shape_ctx {
	struct tt_series *ts;
	double vals[TT_MAX_VALS];
	size_t n;
};

static int shape_sample(void *ctx, const struct metric_info *info, const struct sample_view *sv)
{
	struct shape_ctx *c = ctx;
	struct tt_series *ts = c->ts;
	size_t len = strlen(sv->name);

	if (c->n >= TT_MAX_VALS)
		return -E2BIG;
	if (info->type != METRIC_HISTOGRAM) {
		ts->kind[c->n] = TT_VALUE;
	} else if (len > 7 && !strcmp(sv->name + len - 7, "_bucket")) {
		ts->kind[c->n] = TT_BUCKET;
		ts->bound[c->n] = strtod(sv->label_values[sv->nlabels - 1], NULL);
	} else if (len > 4 && !strcmp(sv->name + len - 4, "_sum")) {
		ts->kind[c->n] = TT_SUM;
	} else {
		ts->kind[c->n] = TT_COUNT;
	}
	c->vals[c->n++] = sv->value;
	return 0;
}

static void current_values(struct tt_series *ts, double *vals)
{
	static const struct registry_visitor v = { .sample = shape_sample };
	struct shape_ctx c = { .ts = ts };

	series_visit(ts->s, &v, &c);
	memcpy(vals, c.vals, c.n * sizeof(double));
	ts->nvals = c.n;
}

/* One event's contribution to each sample of the series. */
static void contribution(const struct tt_series *ts, double x, double *out)
{
	for (size_t i = 0; i < ts->nvals; i++) {
		switch (ts->kind[i]) {
		case TT_VALUE:
			out[i] = x;
			break;
		case TT_BUCKET:
			out[i] = x <= ts->bound[i] ? 1 : 0;
			break;
		case TT_SUM:
			out[i] = x;
			break;
		case TT_COUNT:
			out[i] = 1;
			break;
		}
	}
}

static struct tt_series *tts_get(struct tail_time *tt, struct series *s, double x,
				 bool *created)
{
	struct tt_series *ts;
	double contrib[TT_MAX_VALS];
	size_t j;

	if (tt->capall && (tt->nall + 1) * 2 <= tt->capall) {
		j = slot_of(tt, s);
		while (tt->all[j] && tt->all[j]->s != s)
			j = (j + 1) & (tt->capall - 1);
		if (tt->all[j])
			return tt->all[j];
	} else {
		if (tt->capall) {
			j = slot_of(tt, s);
			while (tt->all[j] && tt->all[j]->s != s)
				j = (j + 1) & (tt->capall - 1);
			if (tt->all[j])
				return tt->all[j];
		}
		table_grow(tt);
	}
	*created = true;
	ts = xcalloc(1, sizeof(*ts));
	ts->s = s;
	ts->first_t = INT64_MAX;
	ts->type = metric_type_of(series_metric(s));
	current_values(ts, ts->base);
	/* The registry already holds this first event: the base is the value before it. */
	contribution(ts, x, contrib);
	for (size_t i = 0; i < ts->nvals; i++)
		ts->base[i] -= contrib[i];
	j = slot_of(tt, s);
	while (tt->all[j])
		j = (j + 1) & (tt->capall - 1);
	tt->all[j] = ts;
	tt->nall++;
	return ts;
}

/*
 * increase() and rate() take a series' first sample as their starting point, so a counter created
 * by an event at 1 would hide that event: the first exception of a class, the first 5xx after a
 * quiet start. Prometheus's advice is to initialise counters to zero; a log counter cannot be
 * known before its first event, so a zero is stored one grid step before the event's point, in
 * the same transaction: increase() over a range holding both sees the rise. Only for a counter
 * or histogram whose value before the event was zero (a brand-new series; a counter seeded from
 * the store after a restart continues instead).
 */
static void zero_sample(const struct tail_time *tt, struct tt_series *ts, int64_t g)
{
	if (ts->type != METRIC_COUNTER && ts->type != METRIC_HISTOGRAM)
		return;
	for (size_t i = 0; i < ts->nvals; i++)
		if (ts->base[i] != 0)
			return;
	/* A stored sample at or after the zero's time is the starting point already (a replayed
	 * histogram starting again at 0 after an earlier file): the zero would only be refused. */
	if (tt->held && tt->held(tt->held_ctx, ts->s, g - tt->res))
		return;
	ts->zero_pending = true;
	ts->zero_t = g - tt->res;
}

bool tail_time_note(struct tail_time *tt, struct series *s, int64_t t_ms, double x)
{
	bool created = false;
	struct tt_series *ts = tts_get(tt, s, x, &created);
	double contrib[TT_MAX_VALS];
	bool late;
	int64_t g;
	size_t i;

	/* The first grid point at or after t (floor division that also holds for t < 0). */
	g = t_ms / tt->res * tt->res;
	if (g < t_ms)
		g += tt->res;
	/* Late: its grid point is written. It counts at the first point not written yet (the
	 * agent's next tick; replay's next emitted point), never dropped. */
	late = g <= tt->done;
	if (late) {
		g = tt->done - tt->done % tt->res + tt->res;
		while (g <= tt->done)
			g += tt->res;
	}
	if (created)
		zero_sample(tt, ts, g);
	i = ts->npoints;
	while (i > 0 && ts->points[i - 1]->t > g)
		i--;
	if (i == 0 || ts->points[i - 1]->t != g) {
		struct tt_point *p = xcalloc(1, sizeof(*p) + ts->nvals * sizeof(double));

		p->t = g;
		if (ts->npoints == ts->cap) {
			ts->cap = ts->cap ? ts->cap * 2 : 4;
			ts->points = xrealloc(ts->points, ts->cap * sizeof(*ts->points));
		}
		memmove(ts->points + i + 1, ts->points + i, (ts->npoints - i) * sizeof(*ts->points));
		ts->points[i] = p;
		ts->npoints++;
		tt->npending++;
		i++;
	}
	contribution(ts, x, contrib);
	for (size_t k = 0; k < ts->nvals; k++)
		ts->points[i - 1]->acc[k] += contrib[k];
	return late;
}

/* Emitting one grid point: the registry's labels with our values. */
struct emit_ctx {
	const double *vals;
	size_t i;
	int64_t t;
	enum metric_type type;
	tail_sample_fn fn;
	void *ctx;
};

size_t tail_sample_labels(const struct sample_view *sv, struct label *out)
{
	size_t n = 0;

	out[n].name = "__name__";
	out[n++].value = sv->name;
	for (size_t k = 0; k < sv->nlabels && n < REGISTRY_MAX_LABELS + 2; k++) {
		out[n].name = sv->label_names[k];
		out[n++].value = sv->label_values[k];
	}
	return n;
}

static int emit_sample(void *ctx, const struct metric_info *info, const struct sample_view *sv)
{
	struct emit_ctx *e = ctx;
	struct label labels[REGISTRY_MAX_LABELS + 2];
	size_t n = tail_sample_labels(sv, labels);

	(void)info;
	return e->fn(e->ctx, labels, n, e->type, e->t, e->vals[e->i++]);
}

/* Series 'ts' is emitted at 't' with 'vals': keep the first such sample. Emission is in time
 * order per series (the zero first), so the first one is the earliest. */
static void note_first(struct tt_series *ts, int64_t t, const double *vals)
{
	if (ts->first_t != INT64_MAX)
		return;
	ts->first_t = t;
	memcpy(ts->first, vals, ts->nvals * sizeof(double));
}

/* The pending zero of a new series (zero_sample), before its first point; never at or after
 * 'limit', where the tick's own sample (or a later point) goes. */
static int emit_zero(struct tt_series *ts, int64_t limit, int64_t res, tail_sample_fn fn,
		     void *ctx)
{
	static const struct registry_visitor v = { .sample = emit_sample };
	static const double zeros[TT_MAX_VALS];
	struct emit_ctx e = { .vals = zeros, .t = ts->zero_t, .type = ts->type, .fn = fn,
			      .ctx = ctx };

	ts->zero_pending = false;
	if (e.t >= limit)
		e.t = limit - res; /* an event stamped after the tick: still zero before it */
	note_first(ts, e.t, zeros);
	return series_visit(ts->s, &v, &e);
}

int tail_time_emit(struct tail_time *tt, int64_t tick_ms, tail_sample_fn fn, void *ctx)
{
	static const struct registry_visitor v = { .sample = emit_sample };
	int err = 0;

	for (size_t j = 0; j < tt->capall; j++) {
		struct tt_series *ts = tt->all[j];
		double run[TT_MAX_VALS];

		if (!ts)
			continue;
		if (ts->zero_pending) {
			int64_t limit = ts->npoints && ts->points[0]->t < tick_ms ? ts->points[0]->t
										  : tick_ms;
			int zerr = emit_zero(ts, limit, tt->res, fn, ctx);

			if (!err)
				err = zerr;
		}
		memcpy(run, ts->base, sizeof(run));
		for (size_t k = 0; k < ts->npoints; k++) {
			struct emit_ctx e = { .vals = run, .t = ts->points[k]->t, .type = ts->type,
					      .fn = fn, .ctx = ctx };

			/* At or after the tick: the tick's own sample holds it. */
			if (ts->points[k]->t < tick_ms) {
				for (size_t i = 0; i < ts->nvals; i++)
					run[i] += ts->points[k]->acc[i];
				note_first(ts, ts->points[k]->t, run);
				if (!err)
					err = series_visit(ts->s, &v, &e);
			}
			free(ts->points[k]);
		}
		tt->npending -= ts->npoints;
		ts->npoints = 0;
		/* The base of the next tick is the tick's own sample, late events included. */
		current_values(ts, ts->base);
	}
	if (tick_ms > tt->done)
		tt->done = tick_ms;
	return err;
}

/* Replay: emit the grid points before 'bound' and keep the rest, which may still grow. */
int tail_time_emit_before(struct tail_time *tt, int64_t bound, tail_sample_fn fn, void *ctx)
{
	static const struct registry_visitor v = { .sample = emit_sample };
	int err = 0;

	for (size_t j = 0; j < tt->capall; j++) {
		struct tt_series *ts = tt->all[j];
		size_t used = 0;

		if (!ts)
			continue;
		if (ts->zero_pending && ts->npoints && ts->points[0]->t < bound) {
			int zerr = emit_zero(ts, ts->points[0]->t, tt->res, fn, ctx);

			if (!err)
				err = zerr;
		}
		for (; used < ts->npoints && ts->points[used]->t < bound; used++) {
			struct emit_ctx e = { .vals = ts->base, .t = ts->points[used]->t,
					      .type = ts->type, .fn = fn, .ctx = ctx };

			for (size_t k = 0; k < ts->nvals; k++)
				ts->base[k] += ts->points[used]->acc[k];
			note_first(ts, ts->points[used]->t, ts->base);
			if (!err)
				err = series_visit(ts->s, &v, &e);
			free(ts->points[used]);
		}
		memmove(ts->points, ts->points + used, (ts->npoints - used) * sizeof(*ts->points));
		ts->npoints -= used;
		tt->npending -= used;
	}
	if (bound != INT64_MAX && bound - tt->res > tt->done)
		tt->done = bound - tt->res;
	return err;
}

int tail_time_emit_all(struct tail_time *tt, tail_sample_fn fn, void *ctx)
{
	int64_t latest = INT64_MIN;

	for (size_t j = 0; j < tt->capall; j++)
		if (tt->all[j] && tt->all[j]->npoints)
			if (tt->all[j]->points[tt->all[j]->npoints - 1]->t > latest)
				latest = tt->all[j]->points[tt->all[j]->npoints - 1]->t;
	if (latest == INT64_MIN)
		return 0;
	/* Past the latest point: everything goes, and the floor becomes that point. */
	return tail_time_emit_before(tt, latest + tt->res, fn, ctx);
}

int tail_time_visit_first(struct tail_time *tt, tail_sample_fn fn, void *ctx)
{
	static const struct registry_visitor v = { .sample = emit_sample };

	for (size_t j = 0; j < tt->capall; j++) {
		struct tt_series *ts = tt->all[j];
		struct emit_ctx e;
		int err;

		if (!ts || ts->first_t == INT64_MAX)
			continue;
		e = (struct emit_ctx){ .vals = ts->first, .t = ts->first_t, .type = ts->type,
				       .fn = fn, .ctx = ctx };
		err = series_visit(ts->s, &v, &e);
		if (err)
			return err;
	}
	return 0;
}
