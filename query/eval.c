/*
 * The evaluator. Like Prometheus's rangeEval, every node is evaluated once over all steps of the
 * query (an instant query is a range query of one step): a vector is a set of series with one
 * value per step (PROMQL_ABSENT_BITS where there is none), so label work (grouping, matching,
 * dropping __name__) happens once per series, and values are computed in tight loops by index.
 *
 * Selectors load each series' samples for the whole query in one call to the source (whole
 * chunks, into a scratch arena released as soon as the node is evaluated) and walk them with a
 * moving index per step: no per-sample allocation, no search per step.
 *
 * Errors longjmp to the top (promql_eval_*), which frees everything with the result's arena.
 *
 *   1. state, limits and errors      4. selectors and range arguments
 *   2. series collector (outset)     5. calls to FUNC_ELEM / FUNC_RANGE functions
 *   3. label helpers                 6. nodes, results and the entry points
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "query/promql_int.h"

/* ---- 1. state, limits and errors ---- */

double promql_absent(void)
{
	return bits_double(PROMQL_ABSENT_BITS);
}

void promql_ev_fail(struct promql_ev *ev, int code, const char *fmt, ...)
{
	va_list ap;

	ev->code = code;
	if (ev->errlen) {
		va_start(ap, fmt);
		vsnprintf(ev->err, ev->errlen, fmt, ap);
		va_end(ap);
	}
	longjmp(ev->jb, 1);
}

/* Read the clock once 1024 units of work have passed since the last reading: cheap in the inner
 * loops, still prompt. */
void promql_ev_work(struct promql_ev *ev, uint64_t units)
{
	ev->poll += units;
	if (ev->poll < ev->next_check)
		return;
	ev->next_check = ev->poll + 1024;
	if (ev->lim.deadline_ns && clock_mono_ns() > ev->lim.deadline_ns)
		promql_ev_fail(ev, PROMQL_E_TIMEOUT, "query timed out in expression evaluation");
	if (ev->lim.cancelled && ev->lim.cancelled(ev->lim.cancel_ctx))
		promql_ev_fail(ev, PROMQL_E_CANCELED, "query was canceled in expression evaluation");
}

void promql_ev_poll(struct promql_ev *ev)
{
	promql_ev_work(ev, 1);
}

static void too_many_samples(struct promql_ev *ev)
{
	promql_ev_fail(ev, PROMQL_E_TOO_MANY_SAMPLES,
		       "query processing would load too many samples into memory in query "
		       "execution");
}

void promql_ev_hold(struct promql_ev *ev, uint64_t n)
{
	ev->samples += n;
	if (ev->samples > ev->peak)
		ev->peak = ev->samples;
	if (ev->samples > ev->lim.max_samples)
		too_many_samples(ev);
	promql_ev_work(ev, n);
}

/* Steps a long loop runs between two looks at the deadline (a subquery at 1 s over weeks has
 * millions of steps, each loop over them tens of milliseconds on its own). */
#define EV_WORK_BLOCK 65536

/* Fill the current steps of 'v' with 'x', looking at the deadline as it goes. */
static void ev_fill(struct promql_ev *ev, double *v, double x)
{
	for (size_t k0 = 0; k0 < ev->nsteps; k0 += EV_WORK_BLOCK) {
		size_t k1 = ev->nsteps - k0 < EV_WORK_BLOCK ? ev->nsteps : k0 + EV_WORK_BLOCK;

		for (size_t k = k0; k < k1; k++)
			v[k] = x;
		promql_ev_work(ev, k1 - k0);
	}
}

double *promql_ev_values(struct promql_ev *ev)
{
	double *v = promql_arena_array(ev->a, ev->nsteps, sizeof(double));

	promql_ev_hold(ev, ev->nsteps);
	ev_fill(ev, v, promql_absent());
	return v;
}

/* ---- 2. the series collector ---- */

/* Grow an array in the arena (the old copy stays until the query ends: growth doubles, so at
 * most as much again). Everything lives in the arena so that an error's longjmp leaks nothing. */
static void *arena_grow(struct promql_ev *ev, void *old, size_t n_old, size_t n_new, size_t size)
{
	void *p = promql_arena_array(ev->a, n_new, size);

	if (n_old)
		memcpy(p, old, n_old * size);
	return p;
}

void promql_outset_init(struct promql_outset *o)
{
	memset(o, 0, sizeof(*o));
}

void promql_outset_release(struct promql_outset *o)
{
	memset(o, 0, sizeof(*o));
}

void promql_outset_finish(struct promql_ev *ev, struct promql_outset *o, struct promql_value *out)
{
	out->type = PROMQL_TYPE_VECTOR;
	out->vs = promql_arena_array(ev->a, o->n ? o->n : 1, sizeof(*out->vs));
	if (o->n)
		memcpy(out->vs, o->s, o->n * sizeof(*o->s));
	out->nvs = o->n;
	promql_outset_release(o);
}

static void outset_rehash(struct promql_ev *ev, struct promql_outset *o)
{
	size_t cap = o->tcap ? o->tcap * 2 : 64;

	o->table = promql_arena_array(ev->a, cap, sizeof(*o->table));
	for (size_t i = 0; i < cap; i++)
		o->table[i] = -1;
	o->tcap = cap;
	for (size_t i = 0; i < o->n; i++) {
		size_t h = (size_t)o->hash[i] & (cap - 1);

		while (o->table[h] >= 0)
			h = (h + 1) & (cap - 1);
		o->table[h] = (int32_t)i;
	}
}

struct promql_vseries *promql_outset_get(struct promql_ev *ev, struct promql_outset *o,
					 const struct label *labels, size_t n)
{
	uint64_t hash = model_labels_hash(labels, n);
	size_t h;
	struct promql_vseries *s;

	if ((o->n + 1) * 2 > o->tcap)
		outset_rehash(ev, o);
	h = (size_t)hash & (o->tcap - 1);
	while (o->table[h] >= 0) {
		s = &o->s[o->table[h]];
		if (o->hash[o->table[h]] == hash &&
		    !model_labels_cmp(s->labels, s->nlabels, labels, n))
			return s;
		h = (h + 1) & (o->tcap - 1);
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;

		o->s = arena_grow(ev, o->s, o->n, cap, sizeof(*o->s));
		o->hash = arena_grow(ev, o->hash, o->n, cap, sizeof(*o->hash));
		o->cap = cap;
	}
	if (o->n >= INT32_MAX)
		too_many_samples(ev);
	s = &o->s[o->n];
	s->labels = promql_arena_array(ev->a, n ? n : 1, sizeof(*labels));
	for (size_t i = 0; i < n; i++)
		s->labels[i] = labels[i];
	s->nlabels = n;
	s->v = promql_ev_values(ev);
	o->hash[o->n] = hash;
	o->table[h] = (int32_t)o->n;
	o->n++;
	return s;
}

void promql_outset_put(struct promql_ev *ev, struct promql_vseries *s, size_t k, double v,
		       const char *dupmsg)
{
	if (!promql_is_absent(s->v[k]))
		promql_ev_fail(ev, PROMQL_E_EXECUTION, "%s",
			       dupmsg ? dupmsg : "vector cannot contain metrics with the same labelset");
	/* A computed NaN never has the absent payload, but a loaded one might: make it plain. */
	s->v[k] = promql_is_absent(v) ? NAN : v;
}

/* Move the collected series into a value (the arrays are copied into the arena). */
static void outset_to_value(struct promql_ev *ev, struct promql_outset *o, struct promql_value *out)
{
	out->type = PROMQL_TYPE_VECTOR;
	out->nvs = o->n;
	out->vs = promql_arena_array(ev->a, o->n ? o->n : 1, sizeof(*out->vs));
	if (o->n)
		memcpy(out->vs, o->s, o->n * sizeof(*o->s));
	promql_outset_release(o);
}

void promql_lsmap_init(struct promql_lsmap *m)
{
	memset(m, 0, sizeof(*m));
}

void promql_lsmap_release(struct promql_lsmap *m)
{
	memset(m, 0, sizeof(*m));
}

size_t promql_lsmap_get(struct promql_ev *ev, struct promql_lsmap *m, const struct label *l,
			size_t n)
{
	uint64_t hash = model_labels_hash(l, n);
	size_t h;

	if ((m->n + 1) * 2 > m->tcap) {
		size_t cap = m->tcap ? m->tcap * 2 : 64;

		m->table = promql_arena_array(ev->a, cap, sizeof(*m->table));
		for (size_t i = 0; i < cap; i++)
			m->table[i] = -1;
		m->tcap = cap;
		for (size_t i = 0; i < m->n; i++) {
			h = (size_t)m->hash[i] & (cap - 1);
			while (m->table[h] >= 0)
				h = (h + 1) & (cap - 1);
			m->table[h] = (int32_t)i;
		}
	}
	h = (size_t)hash & (m->tcap - 1);
	while (m->table[h] >= 0) {
		size_t i = (size_t)m->table[h];

		if (m->hash[i] == hash && !model_labels_cmp(m->l[i], m->nl[i], l, n))
			return i;
		h = (h + 1) & (m->tcap - 1);
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;

		m->l = arena_grow(ev, m->l, m->n, cap, sizeof(*m->l));
		m->nl = arena_grow(ev, m->nl, m->n, cap, sizeof(*m->nl));
		m->hash = arena_grow(ev, m->hash, m->n, cap, sizeof(*m->hash));
		m->cap = cap;
	}
	if (m->n >= INT32_MAX)
		too_many_samples(ev);
	m->l[m->n] = l;
	m->nl[m->n] = n;
	m->hash[m->n] = hash;
	m->table[h] = (int32_t)m->n;
	return m->n++;
}

/* ---- 3. label helpers ---- */

const char *promql_labels_str(struct promql_ev *ev, const struct label *l, size_t n)
{
	struct buf b;
	char *s;

	buf_init(&b, 1 << 20);
	buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s%s=", i ? ", " : "", l[i].name);
		promql_quote(&b, l[i].value, strlen(l[i].value));
	}
	buf_putc(&b, '}');
	s = promql_arena_strndup(ev->a, b.data, b.len);
	buf_release(&b);
	return s;
}

struct label *promql_labels_drop_name(struct promql_ev *ev, const struct label *l, size_t n,
				      size_t *out_n)
{
	return promql_labels_filter(ev, l, n, NULL, 0, false, true, out_n);
}

static bool in_names(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

struct label *promql_labels_filter(struct promql_ev *ev, const struct label *l, size_t n,
				   const char *const *names, size_t nnames, bool keep, bool drop_name,
				   size_t *out_n)
{
	struct label *r = promql_arena_array(ev->a, n ? n : 1, sizeof(*r));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (drop_name && !strcmp(l[i].name, MODEL_NAME_LABEL))
			continue;
		if (in_names(l[i].name, names, nnames) != keep)
			continue;
		r[k++] = l[i];
	}
	*out_n = k;
	return r;
}

struct label *promql_labels_set(struct promql_ev *ev, const struct label *l, size_t n,
				const char *name, const char *value, size_t *out_n)
{
	struct label *r = promql_arena_array(ev->a, n + 1, sizeof(*r));
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].name, name))
			r[k++] = l[i];
	if (value && *value) {
		r[k].name = name;
		r[k].value = value;
		k++;
		model_labels_sort(r, k);
	}
	*out_n = k;
	return r;
}

/* ---- 4. selectors and range arguments ---- */

/* The end of the selection window at each step: the step time, or the @ time, minus offset. */
static int64_t *window_ends(struct promql_ev *ev, const struct promql_node *sel)
{
	int64_t *te = promql_arena_array(ev->a, ev->nsteps, sizeof(*te));

	for (size_t k = 0; k < ev->nsteps; k++) {
		int64_t base;

		switch (sel->at) {
		case AT_TIME: base = sel->at_ms; break;
		case AT_START: base = ev->q_start; break;
		case AT_END: base = ev->q_end; break;
		default: base = promql_ev_ts(ev, k); break;
		}
		te[k] = base - sel->offset_ms;
	}
	return te;
}

/*
 * Selectors stream: the source hands over one series at a time (its samples borrowed for the
 * call), and the node's per-series work runs right there, so a query holds one series' samples
 * at a time and copies none. The work may fail (a collision, the deadline): inside the
 * callback a failure is caught, the source is told to stop, and it is raised again once the
 * source has returned and released what it holds.
 */
struct visit {
	struct promql_ev *ev;
	bool drop_stale;
	promql_series_fn fn;
	void *ctx;
	int64_t *t;    /* scratch for a series that needs filtering, in the arena */
	double *v;
	size_t cap;
};

static int visit_series(void *vctx, const struct promql_source_series *s)
{
	struct visit *vi = vctx;
	struct promql_ev *ev = vi->ev;
	struct promql_rseries r;
	jmp_buf saved;
	bool filter = false;

	memcpy(saved, ev->jb, sizeof(jmp_buf));
	if (setjmp(ev->jb)) {
		memcpy(ev->jb, saved, sizeof(jmp_buf));
		return ev->code;
	}
	promql_ev_hold(ev, s->nsamples);
	ev->loaded += s->nsamples;
	r.labels = promql_arena_array(ev->a, s->nlabels ? s->nlabels : 1, sizeof(*r.labels));
	for (size_t i = 0; i < s->nlabels; i++) {
		r.labels[i].name = promql_arena_strdup(ev->a, s->labels[i].name);
		r.labels[i].value = promql_arena_strdup(ev->a, s->labels[i].value);
	}
	r.nlabels = s->nlabels;
	r.t = (int64_t *)s->t_ms;
	r.v = (double *)s->v;
	r.n = s->nsamples;
	/* Stale markers leave range windows; a stored NaN that happens to carry our "absent"
	 * payload becomes a plain NaN. Both are rare: copy only then. */
	for (size_t i = 0; i < s->nsamples && !filter; i++)
		filter = isnan(s->v[i]) && (promql_is_absent(s->v[i]) ||
					    (vi->drop_stale && model_is_stale(s->v[i])));
	if (filter) {
		size_t k = 0;

		if (vi->cap < s->nsamples) {
			vi->cap = s->nsamples;
			vi->t = promql_arena_array(ev->a, vi->cap, sizeof(*vi->t));
			vi->v = promql_arena_array(ev->a, vi->cap, sizeof(*vi->v));
		}
		for (size_t i = 0; i < s->nsamples; i++) {
			if (vi->drop_stale && model_is_stale(s->v[i]))
				continue;
			vi->t[k] = s->t_ms[i];
			vi->v[k] = promql_is_absent(s->v[i]) ? NAN : s->v[i];
			k++;
		}
		r.t = vi->t;
		r.v = vi->v;
		r.n = k;
	}
	vi->fn(ev, vi->ctx, &r);
	promql_ev_poll(ev);
	ev->samples -= s->nsamples;
	memcpy(ev->jb, saved, sizeof(jmp_buf));
	return 0;
}

/*
 * The windows [te[k] - width, te[k]] of the steps, overlapping ones merged, into wf/wt (nsteps
 * entries each, in the arena). Returns their number, or 0 when the window ends are not in
 * ascending order (the caller then reads the whole span).
 */
static size_t step_windows(struct promql_ev *ev, const int64_t *te, int64_t width,
			   int64_t **wf_out, int64_t **wt_out)
{
	int64_t *wf = promql_arena_array(ev->a, ev->nsteps, sizeof(*wf));
	int64_t *wt = promql_arena_array(ev->a, ev->nsteps, sizeof(*wt));
	size_t n = 0;

	for (size_t k = 0; k < ev->nsteps; k++) {
		if (k && te[k] < te[k - 1])
			return 0;
		if (n && te[k] - width <= wt[n - 1] + 1) {
			wt[n - 1] = te[k];
			continue;
		}
		wf[n] = te[k] - width;
		wt[n] = te[k];
		n++;
	}
	*wf_out = wf;
	*wt_out = wt;
	return n;
}

/*
 * Stream the series of selector 'sel' through fn, each with its samples in the windows
 * [te[k] - width, te[k]] of the steps. When the steps lie further apart than the width (a 5m
 * rate at a 1h step) and the source can, only the windows are read; else the whole span.
 */
static void each_series(struct promql_ev *ev, const struct promql_node *sel, const int64_t *te,
			int64_t width, bool drop_stale, enum promql_want want, promql_series_fn fn,
			void *ctx)
{
	struct visit vi = { .ev = ev, .drop_stale = drop_stale, .fn = fn, .ctx = ctx };
	char msg[256] = "";
	int64_t lo = te[0], hi = te[0], *wf = NULL, *wt = NULL;
	size_t nwin = 0;
	int rc;

	for (size_t k = 1; k < ev->nsteps; k++) {
		lo = te[k] < lo ? te[k] : lo;
		hi = te[k] > hi ? te[k] : hi;
	}
	promql_ev_poll(ev);
	if (ev->src->ops->select_windows && ev->nsteps > 1)
		nwin = step_windows(ev, te, width, &wf, &wt);
	if (nwin > 1)
		rc = ev->src->ops->select_windows(ev->src->ctx, sel->matchers, sel->nmatchers, wf,
						  wt, nwin, want, ev->lim.max_samples,
						  visit_series, &vi, msg, sizeof(msg));
	else
		rc = ev->src->ops->select(ev->src->ctx, sel->matchers, sel->nmatchers, lo - width,
					  hi, want, ev->lim.max_samples, visit_series, &vi, msg,
					  sizeof(msg));
	if (!rc)
		return;
	if (ev->code && rc == ev->code)
		longjmp(ev->jb, 1); /* the failure caught in visit_series, with its message */
	if (rc == PROMQL_E_TOO_MANY_SAMPLES)
		too_many_samples(ev);
	if (rc == -EINVAL)
		promql_ev_fail(ev, PROMQL_E_BAD_DATA, "%s", msg[0] ? msg : err_str(rc));
	promql_ev_fail(ev, PROMQL_E_SOURCE, "%s", msg[0] ? msg : err_str(rc));
}

struct sel_ctx {
	const int64_t *te;
	bool timestamps;
	struct promql_value *out;
	size_t cap;
};

/*
 * An instant vector selector, per series: at each step, the newest sample at or before the
 * window end and no older than the lookback (both ends included, as in Prometheus 2.x), unless
 * it is a stale marker.
 */
static void select_series(struct promql_ev *ev, void *vctx, const struct promql_rseries *r)
{
	struct sel_ctx *c = vctx;
	double *v = NULL;
	size_t j = 0;

	for (size_t k = 0; k < ev->nsteps; k++) {
		size_t idx;

		/* te only grows with k (or stays, with @), so j only moves forward */
		while (j < r->n && r->t[j] <= c->te[k])
			j++;
		if (j == 0)
			continue;
		idx = j - 1;
		if (r->t[idx] < c->te[k] - ev->lim.lookback_ms || model_is_stale(r->v[idx]))
			continue;
		if (!v)
			v = promql_ev_values(ev);
		v[k] = c->timestamps ? (double)r->t[idx] / 1000.0 : r->v[idx];
	}
	if (!v)
		return;
	if (c->out->nvs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct promql_vseries *nv = promql_arena_array(ev->a, cap, sizeof(*nv));

		if (c->out->nvs)
			memcpy(nv, c->out->vs, c->out->nvs * sizeof(*nv));
		c->out->vs = nv;
		c->cap = cap;
	}
	c->out->vs[c->out->nvs].labels = r->labels;
	c->out->vs[c->out->nvs].nlabels = r->nlabels;
	c->out->vs[c->out->nvs].v = v;
	c->out->nvs++;
}

/* With 'timestamps' the values are the samples' times in seconds (timestamp()). */
void promql_eval_selector(struct promql_ev *ev, const struct promql_node *sel, bool timestamps,
			  struct promql_value *out)
{
	struct sel_ctx c = { .timestamps = timestamps, .out = out };

	c.te = window_ends(ev, sel);
	out->type = PROMQL_TYPE_VECTOR;
	out->vs = NULL;
	out->nvs = 0;
	each_series(ev, sel, c.te, ev->lim.lookback_ms, false, PROMQL_WANT_SAMPLES, select_series,
		    &c);
}

/* Convert a vector evaluated over the current steps into raw series (a subquery's points). */
static void vector_to_raw(struct promql_ev *ev, const struct promql_value *v,
			  struct promql_value *out)
{
	size_t n = 0;

	out->type = PROMQL_TYPE_MATRIX;
	out->rs = promql_arena_array(ev->a, v->nvs ? v->nvs : 1, sizeof(*out->rs));
	for (size_t i = 0; i < v->nvs; i++) {
		size_t cnt = 0, j = 0;
		struct promql_rseries *r = &out->rs[n];

		for (size_t k = 0; k < ev->nsteps; k++) {
			cnt += !promql_is_absent(v->vs[i].v[k]);
			if (!(k & (EV_WORK_BLOCK - 1)))
				promql_ev_work(ev, EV_WORK_BLOCK);
		}
		if (!cnt)
			continue;
		r->labels = v->vs[i].labels;
		r->nlabels = v->vs[i].nlabels;
		r->t = promql_arena_array(ev->a, cnt, sizeof(*r->t));
		r->v = promql_arena_array(ev->a, cnt, sizeof(*r->v));
		for (size_t k = 0; k < ev->nsteps; k++) {
			if (!(k & (EV_WORK_BLOCK - 1)))
				promql_ev_work(ev, EV_WORK_BLOCK);
			if (promql_is_absent(v->vs[i].v[k]))
				continue;
			r->t[j] = promql_ev_ts(ev, k);
			r->v[j] = v->vs[i].v[k];
			j++;
		}
		r->n = cnt;
		n++;
	}
	out->nrs = n;
}

/* The default subquery step when none is given: Prometheus's global evaluation_interval (1m). */
#define SUBQUERY_DEFAULT_STEP_MS 60000

static const struct promql_node *unparen(const struct promql_node *n)
{
	while (n->kind == NODE_PAREN)
		n = n->expr;
	return n;
}

void promql_range_arg_each(struct promql_ev *ev, const struct promql_node *n, bool presence,
			   int64_t **te_out, int64_t *range_ms, promql_series_fn fn, void *ctx)
{
	int64_t *te, lo, hi;

	n = unparen(n);
	te = window_ends(ev, n->kind == NODE_MATRIX_SEL ? n->expr : n);
	lo = hi = te[0];
	for (size_t k = 1; k < ev->nsteps; k++) {
		lo = te[k] < lo ? te[k] : lo;
		hi = te[k] > hi ? te[k] : hi;
	}
	*te_out = te;
	*range_ms = n->range_ms;
	if (n->kind == NODE_MATRIX_SEL) {
		each_series(ev, n->expr, te, n->range_ms, true,
			    presence ? PROMQL_WANT_PRESENCE : PROMQL_WANT_SAMPLES, fn, ctx);
		return;
	}
	/* A subquery: evaluate the inner expression at the multiples of its step in
	 * [lo - range, hi], once for all outer steps, as Prometheus does. */
	{
		int64_t step = n->step_ms ? n->step_ms : SUBQUERY_DEFAULT_STEP_MS;
		int64_t start = lo - n->range_ms, s0;
		int64_t save_start = ev->start, save_end = ev->end, save_interval = ev->interval;
		size_t save_nsteps = ev->nsteps;
		struct promql_value inner, raw;
		uint64_t nsteps;

		/* first multiple of step at or after start (floor division for negatives) */
		s0 = start / step * step;
		if (s0 < start)
			s0 += step;
		if (s0 > hi)
			return;
		nsteps = (uint64_t)((hi - s0) / step) + 1;
		if (nsteps > ev->lim.max_samples)
			too_many_samples(ev);
		ev->start = s0;
		ev->end = hi;
		ev->interval = step;
		ev->nsteps = (size_t)nsteps;
		promql_ev_eval(ev, n->expr, &inner);
		vector_to_raw(ev, &inner, &raw);
		ev->start = save_start;
		ev->end = save_end;
		ev->interval = save_interval;
		ev->nsteps = save_nsteps;
		for (size_t i = 0; i < raw.nrs; i++) {
			fn(ev, ctx, &raw.rs[i]);
			promql_ev_work(ev, raw.rs[i].n);
		}
	}
}

/* ---- 5. calls ---- */

/* Scalar arguments, evaluated before any range argument is loaded. */
static double **scalar_args(struct promql_ev *ev, const struct promql_node *n)
{
	double **sa = promql_arena_zalloc(ev->a, (n->nargs + 1) * sizeof(*sa));

	for (size_t i = 0; i < n->nargs; i++) {
		struct promql_value v;

		if (n->args[i]->type != PROMQL_TYPE_SCALAR)
			continue;
		promql_ev_eval(ev, n->args[i], &v);
		sa[i] = v.scalar;
	}
	return sa;
}

static void eval_elem(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	const struct promql_func *f = n->func;
	double **sa = scalar_args(ev, n);
	double sargs[PROMQL_FUNC_MAX_ARGS] = { 0 };
	struct promql_value in;
	struct promql_outset o;
	size_t vi = 0;

	for (; vi < n->nargs && n->args[vi]->type != PROMQL_TYPE_VECTOR; vi++)
		;
	if (vi < n->nargs) {
		promql_ev_eval(ev, n->args[vi], &in);
	} else {
		/* The time functions without an argument read vector(time()). */
		in.type = PROMQL_TYPE_VECTOR;
		in.vs = promql_arena_zalloc(ev->a, sizeof(*in.vs));
		in.vs->v = promql_arena_array(ev->a, ev->nsteps, sizeof(double));
		for (size_t k = 0; k < ev->nsteps; k++)
			in.vs->v[k] = (double)promql_ev_ts(ev, k) / 1000.0;
		in.nvs = 1;
	}
	promql_outset_init(&o);
	for (size_t i = 0; i < in.nvs; i++) {
		struct promql_vseries *s = NULL;

		for (size_t k = 0; k < ev->nsteps; k++) {
			double r;
			size_t j = 0;

			if (promql_is_absent(in.vs[i].v[k]))
				continue;
			for (size_t a = 0; a < n->nargs && j < PROMQL_FUNC_MAX_ARGS; a++)
				if (a != vi)
					sargs[j++] = sa[a] ? sa[a][k] : 0;
			r = f->elem(in.vs[i].v[k], sargs);
			if (promql_is_absent(r))
				continue;
			if (!s) {
				size_t nl;
				struct label *l = promql_labels_drop_name(ev, in.vs[i].labels,
									  in.vs[i].nlabels, &nl);

				s = promql_outset_get(ev, &o, l, nl);
			}
			promql_outset_put(ev, s, k, r, NULL);
		}
		promql_ev_poll(ev);
	}
	outset_to_value(ev, &o, out);
}

struct range_ctx {
	const struct promql_node *n;
	double **sa;
	size_t mi;
	int64_t *te, range;
	struct promql_outset o;
	/* the counter resets of the current series (functions with promql_func.resets): the
	 * index i of each sample below its predecessor, and that predecessor's value; scratch
	 * kept across series, in the arena */
	size_t *reset_at;
	double *reset_prev;
	size_t reset_cap;
};

/* The counter resets of r into c->reset_at / c->reset_prev; returns their number. */
static size_t find_resets(struct promql_ev *ev, struct range_ctx *c,
			  const struct promql_rseries *r)
{
	size_t n = 0;

	for (size_t i = 1; i < r->n; i++) {
		if (!(r->v[i] < r->v[i - 1]))
			continue;
		if (n == c->reset_cap) {
			size_t cap = c->reset_cap ? c->reset_cap * 2 : 64;

			c->reset_at = arena_grow(ev, c->reset_at, n, cap, sizeof(size_t));
			c->reset_prev = arena_grow(ev, c->reset_prev, n, cap, sizeof(double));
			c->reset_cap = cap;
		}
		c->reset_at[n] = i;
		c->reset_prev[n] = r->v[i - 1];
		n++;
	}
	return n;
}

/*
 * One series of a range function: each step's window found by two moving indexes. Windows
 * overlap when the range exceeds the step (a 5m rate every 60s: each sample in five windows);
 * for rate, increase and resets the series' counter resets are found once, and two more moving
 * indexes give each window its own (those at i with lo < i < hi), so a window costs O(1) plus
 * its resets instead of a walk over its samples.
 */
static void range_series(struct promql_ev *ev, void *vctx, const struct promql_rseries *r)
{
	struct range_ctx *c = vctx;
	const struct promql_func *f = c->n->func;
	double sargs[PROMQL_FUNC_MAX_ARGS] = { 0 };
	struct promql_vseries *s = NULL;
	size_t lo = 0, hi = 0, nresets = 0, rlo = 0, rhi = 0;

	if (f->resets)
		nresets = find_resets(ev, c, r);
	for (size_t k = 0; k < ev->nsteps; k++) {
		struct promql_window w;
		double res;
		size_t j = 0;

		while (hi < r->n && r->t[hi] <= c->te[k])
			hi++;
		while (lo < hi && r->t[lo] < c->te[k] - c->range)
			lo++;
		if (lo >= hi)
			continue;
		/* lo and hi never move back (te grows with k or stays), nor do these */
		while (rhi < nresets && c->reset_at[rhi] < hi)
			rhi++;
		while (rlo < rhi && c->reset_at[rlo] <= lo)
			rlo++;
		w.resets_known = f->resets;
		w.reset_prev = rhi > rlo ? c->reset_prev + rlo : NULL;
		w.nresets = rhi - rlo;
		for (size_t a = 0; a < c->n->nargs && j < PROMQL_FUNC_MAX_ARGS; a++)
			if (a != c->mi)
				sargs[j++] = c->sa[a] ? c->sa[a][k] : 0;
		w.t = r->t + lo;
		w.v = r->v + lo;
		w.n = hi - lo;
		w.ts = promql_ev_ts(ev, k);
		w.range_start = c->te[k] - c->range;
		w.range_end = c->te[k];
		w.range_ms = c->range;
		w.sargs = sargs;
		if (!f->range(&w, &res))
			continue;
		if (!s) {
			size_t nl = r->nlabels;
			struct label *l = r->labels;

			if (!f->keep_name)
				l = promql_labels_drop_name(ev, r->labels, r->nlabels, &nl);
			s = promql_outset_get(ev, &c->o, l, nl);
		}
		promql_outset_put(ev, s, k, res, NULL);
	}
}

/* A range function that reads only how many samples a window holds, not their values. */
static bool f_presence(const struct promql_func *f)
{
	return f->presence;
}

static void eval_range_func(struct promql_ev *ev, const struct promql_node *n,
			    struct promql_value *out)
{
	struct range_ctx c = { .n = n };

	c.sa = scalar_args(ev, n);
	for (; c.mi < n->nargs && n->args[c.mi]->type != PROMQL_TYPE_MATRIX; c.mi++)
		;
	promql_outset_init(&c.o);
	promql_range_arg_each(ev, n->args[c.mi], f_presence(n->func), &c.te, &c.range,
			      range_series, &c);
	outset_to_value(ev, &c.o, out);
}

void promql_eval_call(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	switch (n->func->kind) {
	case FUNC_ELEM:
		eval_elem(ev, n, out);
		break;
	case FUNC_RANGE:
		eval_range_func(ev, n, out);
		break;
	case FUNC_SPECIAL:
		n->func->special(ev, n, out);
		break;
	}
}

/* ---- 6. nodes, results and the entry points ---- */

static void eval_unary(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value in;
	struct promql_outset o;

	promql_ev_eval(ev, n->expr, &in);
	if (n->op == TOK_ADD) {
		*out = in;
		return;
	}
	if (in.type == PROMQL_TYPE_SCALAR) {
		out->type = PROMQL_TYPE_SCALAR;
		out->scalar = promql_arena_array(ev->a, ev->nsteps, sizeof(double));
		for (size_t k = 0; k < ev->nsteps; k++)
			out->scalar[k] = -in.scalar[k];
		return;
	}
	promql_outset_init(&o);
	for (size_t i = 0; i < in.nvs; i++) {
		size_t nl;
		struct label *l = promql_labels_drop_name(ev, in.vs[i].labels, in.vs[i].nlabels, &nl);
		struct promql_vseries *s = promql_outset_get(ev, &o, l, nl);

		for (size_t k = 0; k < ev->nsteps; k++)
			if (!promql_is_absent(in.vs[i].v[k]))
				promql_outset_put(ev, s, k, -in.vs[i].v[k], NULL);
	}
	outset_to_value(ev, &o, out);
}

void promql_ev_eval(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	memset(out, 0, sizeof(*out));
	promql_ev_poll(ev);
	switch (n->kind) {
	case NODE_NUMBER:
		out->type = PROMQL_TYPE_SCALAR;
		out->scalar = promql_arena_array(ev->a, ev->nsteps, sizeof(double));
		ev_fill(ev, out->scalar, n->num);
		return;
	case NODE_STRING:
		out->type = PROMQL_TYPE_STRING;
		out->str = n->str;
		return;
	case NODE_PAREN:
		promql_ev_eval(ev, n->expr, out);
		return;
	case NODE_VECTOR_SEL:
		promql_eval_selector(ev, n, false, out);
		return;
	case NODE_MATRIX_SEL:
	case NODE_SUBQUERY:
		/* Only reached for an instant query's top level (functions load their own). */
		promql_ev_fail(ev, PROMQL_E_EXECUTION, "range vector evaluated in an instant context");
	case NODE_UNARY:
		eval_unary(ev, n, out);
		return;
	case NODE_BINARY:
		promql_eval_binary(ev, n, out);
		return;
	case NODE_CALL:
		promql_eval_call(ev, n, out);
		return;
	case NODE_AGGR:
		promql_eval_aggr(ev, n, out);
		return;
	}
}

static void ev_init(struct promql_ev *ev, const struct promql_source *src,
		    const struct promql_limits *lim, struct promql_arena *a, char *err, size_t errlen)
{
	memset(ev, 0, sizeof(*ev));
	ev->src = src;
	ev->a = a;
	if (lim)
		ev->lim = *lim;
	if (!ev->lim.max_samples)
		ev->lim.max_samples = PROMQL_DEFAULT_MAX_SAMPLES;
	if (!ev->lim.max_points)
		ev->lim.max_points = PROMQL_DEFAULT_MAX_POINTS;
	if (!ev->lim.lookback_ms)
		ev->lim.lookback_ms = PROMQL_DEFAULT_LOOKBACK_MS;
	ev->err = err;
	ev->errlen = errlen;
	/* The first poll reads the clock: a query already past its deadline stops at once. */
	ev->poll = 0;
	ev->next_check = 0;
}

static int label_set_cmp(const void *a, const void *b)
{
	const struct promql_series *x = a, *y = b;

	return model_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* Copy the present points of a vector into series of a result; range queries sort them. */
static void vector_result(struct promql_ev *ev, const struct promql_value *v,
			  struct promql_result *r, bool sort)
{
	struct promql_series *s = promql_arena_array(ev->a, v->nvs ? v->nvs : 1, sizeof(*s));
	size_t n = 0;

	for (size_t i = 0; i < v->nvs; i++) {
		size_t cnt = 0, j = 0;
		struct promql_point *p;

		for (size_t k = 0; k < ev->nsteps; k++)
			cnt += !promql_is_absent(v->vs[i].v[k]);
		if (!cnt)
			continue;
		p = promql_arena_array(ev->a, cnt, sizeof(*p));
		for (size_t k = 0; k < ev->nsteps; k++) {
			if (promql_is_absent(v->vs[i].v[k]))
				continue;
			p[j].t_ms = promql_ev_ts(ev, k);
			p[j].v = v->vs[i].v[k];
			j++;
		}
		s[n].labels = v->vs[i].labels;
		s[n].nlabels = v->vs[i].nlabels;
		s[n].points = p;
		s[n].npoints = cnt;
		n++;
	}
	if (sort)
		qsort(s, n, sizeof(*s), label_set_cmp);
	r->series = s;
	r->nseries = n;
}

/* An instant query of a range vector: each series' samples in its window. */
struct matrix_ctx {
	int64_t *te, range;
	struct promql_series *s;
	size_t n, cap;
};

static void matrix_series(struct promql_ev *ev, void *vctx, const struct promql_rseries *r)
{
	struct matrix_ctx *c = vctx;
	struct promql_point *p;
	size_t lo = 0, hi;

	while (lo < r->n && r->t[lo] < c->te[0] - c->range)
		lo++;
	hi = lo;
	while (hi < r->n && r->t[hi] <= c->te[0])
		hi++;
	if (hi == lo)
		return;
	promql_ev_hold(ev, hi - lo);
	p = promql_arena_array(ev->a, hi - lo, sizeof(*p));
	for (size_t j = lo; j < hi; j++) {
		p[j - lo].t_ms = r->t[j];
		p[j - lo].v = r->v[j];
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct promql_series *ns = promql_arena_array(ev->a, cap, sizeof(*ns));

		if (c->n)
			memcpy(ns, c->s, c->n * sizeof(*ns));
		c->s = ns;
		c->cap = cap;
	}
	c->s[c->n].labels = r->labels;
	c->s[c->n].nlabels = r->nlabels;
	c->s[c->n].points = p;
	c->s[c->n].npoints = hi - lo;
	c->n++;
}

static void matrix_result(struct promql_ev *ev, const struct promql_node *root,
			  struct promql_result *r)
{
	struct matrix_ctx c = { 0 };

	promql_range_arg_each(ev, root, false, &c.te, &c.range, matrix_series, &c);
	r->series = c.s;
	r->nseries = c.n;
}

static int run(const struct promql_expr *e, const struct promql_source *src, int64_t start,
	       int64_t end, int64_t step, bool instant, const struct promql_limits *lim,
	       struct promql_result **out, char *err, size_t errlen)
{
	struct promql_arena a;
	struct promql_ev ev;
	struct promql_result *r;
	struct promql_value v;
	volatile int code = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	promql_arena_init(&a);
	ev_init(&ev, src, lim, &a, err, errlen);
	if (!instant) {
		uint64_t nsteps;

		if (step <= 0) {
			snprintf(err, errlen, "zero or negative query resolution step widths are not "
					      "accepted. Try a positive integer");
			return PROMQL_E_BAD_DATA;
		}
		if (end < start) {
			snprintf(err, errlen, "end timestamp must not be before start time");
			return PROMQL_E_BAD_DATA;
		}
		nsteps = (uint64_t)(end - start) / (uint64_t)step + 1;
		if (nsteps > ev.lim.max_points) {
			snprintf(err, errlen, "exceeded maximum resolution of 11,000 points per "
					      "timeseries. Try decreasing the query resolution "
					      "(?step=XX)");
			if (ev.lim.max_points != PROMQL_DEFAULT_MAX_POINTS)
				snprintf(err, errlen, "exceeded maximum resolution of %zu points per "
						      "timeseries. Try decreasing the query "
						      "resolution (?step=XX)", ev.lim.max_points);
			return PROMQL_E_BAD_DATA;
		}
		if (e->root->type != PROMQL_TYPE_SCALAR && e->root->type != PROMQL_TYPE_VECTOR) {
			snprintf(err, errlen, "invalid expression type \"%s\" for range query, must "
					      "be Scalar or instant Vector",
				 promql_type_doc(e->root->type));
			return PROMQL_E_BAD_DATA;
		}
		ev.nsteps = (size_t)nsteps;
	} else {
		ev.nsteps = 1;
		step = 1;
	}
	ev.start = ev.q_start = start;
	ev.end = ev.q_end = end;
	ev.interval = step;
	if (setjmp(ev.jb)) {
		code = ev.code;
		promql_arena_release(&a);
		return code;
	}
	r = promql_arena_zalloc(&a, sizeof(*r));
	if (instant && unparen(e->root)->type == PROMQL_TYPE_MATRIX) {
		r->type = PROMQL_TYPE_MATRIX;
		matrix_result(&ev, unparen(e->root), r);
	} else {
		promql_ev_eval(&ev, e->root, &v);
		switch (v.type) {
		case PROMQL_TYPE_SCALAR:
			if (instant) {
				r->type = PROMQL_TYPE_SCALAR;
				r->scalar.t_ms = start;
				r->scalar.v = v.scalar[0];
			} else {
				struct promql_value sv = { .type = PROMQL_TYPE_VECTOR, .nvs = 1 };

				sv.vs = promql_arena_zalloc(&a, sizeof(*sv.vs));
				sv.vs->v = v.scalar;
				r->type = PROMQL_TYPE_MATRIX;
				vector_result(&ev, &sv, r, true);
			}
			break;
		case PROMQL_TYPE_STRING:
			r->type = PROMQL_TYPE_STRING;
			r->string = v.str;
			r->string_t_ms = start;
			break;
		default:
			r->type = instant ? PROMQL_TYPE_VECTOR : PROMQL_TYPE_MATRIX;
			vector_result(&ev, &v, r, !instant);
			break;
		}
	}
	r->samples_loaded = ev.loaded;
	r->peak_samples = ev.peak;
	/* The result owns the arena it lives in: keep the arena's head beside it. */
	r->arena_ = xmalloc(sizeof(a));
	memcpy(r->arena_, &a, sizeof(a));
	*out = r;
	return 0;
}

int promql_eval_instant(const struct promql_expr *e, const struct promql_source *src,
			int64_t t_ms, const struct promql_limits *lim, struct promql_result **out,
			char *err, size_t errlen)
{
	return run(e, src, t_ms, t_ms, 0, true, lim, out, err, errlen);
}

int promql_eval_range(const struct promql_expr *e, const struct promql_source *src,
		      int64_t start_ms, int64_t end_ms, int64_t step_ms,
		      const struct promql_limits *lim, struct promql_result **out, char *err,
		      size_t errlen)
{
	return run(e, src, start_ms, end_ms, step_ms, false, lim, out, err, errlen);
}

void promql_result_free(struct promql_result *r)
{
	struct promql_arena *a;

	if (!r)
		return;
	a = r->arena_;
	promql_arena_release(a);
	free(a);
}
