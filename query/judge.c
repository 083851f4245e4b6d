/*
 * The judge's decisions (docs/judge.md): every check evaluated over the baseline and the window,
 * held to its ceiling, its ratio to the baseline or the rate-ratio test; the exception
 * fingerprints first seen after the marker; and the verdict, which is never PASS without data.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "query/judge.h"
#include "store/store.h"

#define MINUTE_MS (60 * 1000LL)

/* Longest expression after $range is expanded; checks come from the config, capped there. */
#define JUDGE_MAX_EXPR 8192

/*
 * The deploy plan's alerts (Fase 3, "Alertas Configurar"): 5xx errors, response time over 2 s,
 * CPU over 80 %, memory over 85 %, database errors; Laravel entries at error level or above.
 */
static const struct judge_check default_checks[] = {
	{ "http_5xx_ratio", "sum(increase(http_requests_total{code=~\"5..\"}[$range]))",
	  "share of HTTP responses with a 5xx status (nginx access log)", JUDGE_KIND_COUNT,
	  JUDGE_SEV_CRITICAL, "sum(increase(http_requests_total[$range]))", NAN, 1.5, 5 },
	{ "http_5xx_count", "sum(increase(http_requests_total{code=~\"5..\"}[$range]))",
	  "5xx responses per second of the period", JUDGE_KIND_COUNT, JUDGE_SEV_WARNING, NULL, NAN,
	  1.5, 5 },
	{ "http_latency_p95",
	  "histogram_quantile(0.95, sum by (le) (increase(http_request_duration_seconds_bucket[$range])))",
	  "95th percentile of the response time, seconds (ceiling 2 s)", JUDGE_KIND_VALUE,
	  JUDGE_SEV_CRITICAL, NULL, 2, NAN, 0 },
	{ "cpu_usage", "1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[$range]))",
	  "share of CPU time not idle, all CPUs (ceiling 80 %)", JUDGE_KIND_VALUE, JUDGE_SEV_CRITICAL,
	  NULL, 0.8, NAN, 0 },
	{ "memory_usage",
	  "1 - avg_over_time(node_memory_MemAvailable_bytes[$range]) / "
	  "avg_over_time(node_memory_MemTotal_bytes[$range])",
	  "share of memory not available (ceiling 85 %)", JUDGE_KIND_VALUE, JUDGE_SEV_CRITICAL, NULL,
	  0.85, NAN, 0 },
	{ "database_errors",
	  "(sum(increase(mysql_error_log_entries_total{level=\"error\"}[$range])) or vector(0)) + "
	  "(sum(increase(laravel_exceptions_total{class=~\".*(QueryException|PDOException)\"}[$range]))"
	  " or vector(0))",
	  "MySQL error log errors and Laravel QueryException/PDOException", JUDGE_KIND_COUNT,
	  JUDGE_SEV_CRITICAL, NULL, NAN, 1.5, 5 },
	{ "laravel_errors",
	  "sum(increase(laravel_log_entries_total{level=~\"error|critical|alert|emergency\"}[$range]))",
	  "Laravel log entries at error level or above", JUDGE_KIND_COUNT, JUDGE_SEV_CRITICAL, NULL,
	  NAN, 1.5, 5 },
};

#define DEFAULT_TRAFFIC                                                                        \
	"sum(increase(http_requests_total[$range])) or sum(increase(laravel_log_entries_total[$range]))"

const struct judge_check *judge_default_checks(size_t *n)
{
	*n = sizeof(default_checks) / sizeof(default_checks[0]);
	return default_checks;
}

const char *judge_result_name(enum judge_result r)
{
	switch (r) {
	case JUDGE_PASS: return "PASS";
	case JUDGE_FAIL: return "FAIL";
	case JUDGE_INCONCLUSIVE: return "INCONCLUSIVE";
	case JUDGE_ERROR: return "ERROR";
	case JUDGE_WARN: return "WARN";
	case JUDGE_SKIP: return "SKIP";
	}
	return "?";
}

void judge_options_defaults(struct judge_options *opt)
{
	if (!opt->baseline_ms)
		opt->baseline_ms = 30 * MINUTE_MS;
	if (!opt->window_ms)
		opt->window_ms = 30 * MINUTE_MS;
	if (!opt->warmup_ms)
		opt->warmup_ms = MINUTE_MS;
	if (!opt->lookback_ms)
		opt->lookback_ms = 7 * 24 * 60 * MINUTE_MS;
	if (!(opt->alpha > 0))
		opt->alpha = 0.01;
	if (!(opt->min_traffic > 0))
		opt->min_traffic = 10;
	if (!opt->new_exception_min_count)
		opt->new_exception_min_count = 3;
}

/* ---- evaluation ---- */

/* 'tmpl' with every "$range" replaced by the duration in milliseconds ("1800000ms"). */
static int expand(const char *tmpl, int64_t range_ms, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *s = tmpl; *s;) {
		if (strncmp(s, "$range", 6) == 0) {
			int w = snprintf(out + o, outlen - o, "%lldms", (long long)range_ms);

			if (w < 0 || (size_t)w >= outlen - o)
				return -E2BIG;
			o += (size_t)w;
			s += 6;
		} else {
			if (o + 1 >= outlen)
				return -E2BIG;
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return 0;
}

/* The local backend: PromQL evaluated here over a source (the store). */
static int local_instant(void *ctx, const char *expr, int64_t t_ms, bool sum, double *v,
			 size_t *nseries, char *err, size_t errlen)
{
	const struct judge_local *l = ctx;
	struct promql_expr *e = NULL;
	struct promql_result *res = NULL;
	int rc;

	rc = promql_parse(expr, &e, err, errlen);
	if (rc)
		return rc;
	rc = promql_eval_instant(e, l->src, t_ms, &l->limits, &res, err, errlen);
	promql_expr_free(e);
	if (rc)
		return rc;
	if (res->type == PROMQL_TYPE_SCALAR) {
		*v = res->scalar.v;
		*nseries = 1;
	} else if (res->type == PROMQL_TYPE_VECTOR) {
		for (size_t i = 0; i < res->nseries; i++)
			judge_fold(v, res->series[i].points[0].v, sum);
		*nseries = res->nseries;
	} else {
		snprintf(err, errlen, "expected an instant vector or a scalar, got %s",
			 promql_type_name(res->type));
		rc = PROMQL_E_BAD_DATA;
	}
	promql_result_free(res);
	return rc;
}

static int local_range(void *ctx, const char *expr, int64_t start_ms, int64_t step_ms, size_t n,
		       bool sum, double *v, char *err, size_t errlen)
{
	const struct judge_local *l = ctx;
	struct promql_expr *e = NULL;
	struct promql_result *res = NULL;
	int rc;

	rc = promql_parse(expr, &e, err, errlen);
	if (rc)
		return rc;
	rc = promql_eval_range(e, l->src, start_ms, start_ms + (int64_t)(n - 1) * step_ms, step_ms,
			       &l->limits, &res, err, errlen);
	promql_expr_free(e);
	if (rc)
		return rc;
	if (res->type == PROMQL_TYPE_MATRIX) {
		for (size_t i = 0; i < res->nseries; i++) {
			const struct promql_series *se = &res->series[i];

			for (size_t k = 0; k < se->npoints; k++) {
				int64_t off = se->points[k].t_ms - start_ms;

				if (off >= 0 && off % step_ms == 0 && (size_t)(off / step_ms) < n)
					judge_fold(&v[off / step_ms], se->points[k].v, sum);
			}
		}
	}
	promql_result_free(res);
	return 0;
}

void judge_fold(double *acc, double x, bool sum)
{
	if (isnan(x))
		return;
	if (isnan(*acc))
		*acc = x;
	else if (sum)
		*acc += x;
	else if (x > *acc)
		*acc = x;
}

void judge_backend_local(struct judge_backend *be, struct judge_local *l,
			 const struct promql_source *src, const struct promql_limits *lim)
{
	l->src = src;
	l->limits = *lim;
	be->instant = local_instant;
	be->range = local_range;
	be->ctx = l;
}

/*
 * One judgement asks the same question more than once: the built-in 5xx checks share their
 * expression (ratio and count differ only in the exposure), so their baseline, window and
 * sparkline queries would run twice. The memo answers a repeated (expression, time, fold) from
 * the first answer, errors included; it lives for one judge_run.
 */
#define MEMO_MAX 64

struct memo_entry {
	char *expr;
	int64_t t_ms, step_ms;    /* range: start and step; instant: step 0 */
	size_t n;                 /* range: points; instant: 0 */
	bool sum;
	int rc;
	double v;                 /* instant */
	size_t nseries;           /* instant */
	double *vals;             /* range: n values */
	char err[200];
};

struct memo {
	const struct judge_backend *be;
	struct memo_entry e[MEMO_MAX];
	size_t len;
};

static struct memo_entry *memo_find(struct memo *m, const char *expr, int64_t t, int64_t step,
				    size_t n, bool sum)
{
	for (size_t i = 0; i < m->len; i++)
		if (m->e[i].t_ms == t && m->e[i].step_ms == step && m->e[i].n == n &&
		    m->e[i].sum == sum && strcmp(m->e[i].expr, expr) == 0)
			return &m->e[i];
	return NULL;
}

static int memo_instant(void *ctx, const char *expr, int64_t t_ms, bool sum, double *v,
			size_t *nseries, char *err, size_t errlen)
{
	struct memo *m = ctx;
	struct memo_entry *e = memo_find(m, expr, t_ms, 0, 0, sum);
	int rc;

	if (e) {
		*v = e->v;
		*nseries = e->nseries;
		if (e->rc)
			snprintf(err, errlen, "%s", e->err);
		return e->rc;
	}
	rc = m->be->instant(m->be->ctx, expr, t_ms, sum, v, nseries, err, errlen);
	if (m->len < MEMO_MAX) {
		e = &m->e[m->len++];
		memset(e, 0, sizeof(*e));
		e->expr = xstrdup(expr);
		e->t_ms = t_ms;
		e->sum = sum;
		e->rc = rc;
		e->v = *v;
		e->nseries = *nseries;
		if (rc)
			snprintf(e->err, sizeof(e->err), "%s", err);
	}
	return rc;
}

static int memo_range(void *ctx, const char *expr, int64_t start_ms, int64_t step_ms, size_t n,
		      bool sum, double *v, char *err, size_t errlen)
{
	struct memo *m = ctx;
	struct memo_entry *e = memo_find(m, expr, start_ms, step_ms, n, sum);
	int rc;

	if (e) {
		memcpy(v, e->vals, n * sizeof(*v));
		if (e->rc)
			snprintf(err, errlen, "%s", e->err);
		return e->rc;
	}
	rc = m->be->range(m->be->ctx, expr, start_ms, step_ms, n, sum, v, err, errlen);
	if (m->len < MEMO_MAX && step_ms > 0) {
		e = &m->e[m->len++];
		memset(e, 0, sizeof(*e));
		e->expr = xstrdup(expr);
		e->t_ms = start_ms;
		e->step_ms = step_ms;
		e->n = n;
		e->sum = sum;
		e->rc = rc;
		e->vals = xmalloc(n * sizeof(*v));
		memcpy(e->vals, v, n * sizeof(*v));
		if (rc)
			snprintf(e->err, sizeof(e->err), "%s", err);
	}
	return rc;
}

static void memo_release(struct memo *m)
{
	for (size_t i = 0; i < m->len; i++) {
		free(m->e[i].expr);
		free(m->e[i].vals);
	}
	m->len = 0;
}

enum fold { FOLD_SUM, FOLD_MAX };

/*
 * Evaluate 'tmpl' at 't_ms' with $range = range_ms and fold its series into one number. Returns
 * 0 with *v (NaN when the result is empty) and *nseries, or an error with its text in err.
 */
static int eval_one(const struct judge_backend *be, const char *tmpl, int64_t t_ms,
		    int64_t range_ms, enum fold fold, double *v, size_t *nseries, char *err,
		    size_t errlen)
{
	char expr[JUDGE_MAX_EXPR];

	*v = NAN;
	*nseries = 0;
	if (expand(tmpl, range_ms, expr, sizeof(expr))) {
		snprintf(err, errlen, "expression longer than %d bytes", JUDGE_MAX_EXPR);
		return -E2BIG;
	}
	return be->instant(be->ctx, expr, t_ms, fold == FOLD_SUM, v, nseries, err, errlen);
}

/* The check's series across baseline | window, JUDGE_SPARK_POINTS steps of the whole span. */
static void sparkline(const struct judge_report *r, const struct judge_check *c,
		      const struct judge_backend *be, double *spark)
{
	const struct judge_options *o = &r->opt;
	int64_t from = o->marker_ms - o->baseline_ms;
	int64_t step = (o->baseline_ms + o->window_ms) / JUDGE_SPARK_POINTS;
	char err[64], expr[JUDGE_MAX_EXPR];
	size_t n = 0;

	for (size_t i = 0; i < JUDGE_SPARK_POINTS; i++) {
		spark[i] = NAN;
		if (from + (int64_t)(i + 1) * step <= o->now_ms)
			n = i + 1;
	}
	if (step <= 0 || n == 0 || expand(c->expr, step, expr, sizeof(expr)))
		return;
	/* a failing query leaves the points NaN: the check's own result reports the error */
	if (be->range(be->ctx, expr, from + step, step, n, c->kind == JUDGE_KIND_COUNT, spark, err,
		      sizeof(err)))
		for (size_t i = 0; i < JUDGE_SPARK_POINTS; i++)
			spark[i] = NAN;
}

struct period {
	int64_t end_ms, range_ms;
};

/* 'tmpl' over the baseline and then the window (each with its own $range): *b and *w, with the
 * series counts in *nb and *nw. Stops at the first failure, whose message is in 'err'. */
static int eval_periods(const struct judge_backend *be, const char *tmpl, const struct period *pb,
			const struct period *pw, enum fold fold, double *b, double *w, size_t *nb,
			size_t *nw, char *err, size_t errlen)
{
	int rc = eval_one(be, tmpl, pb->end_ms, pb->range_ms, fold, b, nb, err, errlen);

	*w = NAN;
	*nw = 0;
	return rc ? rc : eval_one(be, tmpl, pw->end_ms, pw->range_ms, fold, w, nw, err, errlen);
}

static void judge_count(struct judge_report *r, struct judge_check_result *cr,
			const struct judge_backend *be, const struct period *pb,
			const struct period *pw)
{
	const struct judge_check *c = cr->check;
	struct judge_rate_in in;
	struct judge_rate_out out;
	char err[200];
	size_t n;
	int rc;

	rc = eval_periods(be, c->expr, pb, pw, FOLD_SUM, &cr->base_value, &cr->win_value, &n, &n,
			  err, sizeof(err));
	if (!rc && c->exposure) {
		rc = eval_periods(be, c->exposure, pb, pw, FOLD_SUM, &cr->base_exposure,
				  &cr->win_exposure, &n, &n, err, sizeof(err));
	} else if (!rc) {
		cr->base_exposure = (double)pb->range_ms / 1000;
		cr->win_exposure = (double)pw->range_ms / 1000;
	}
	if (rc) {
		cr->result = JUDGE_ERROR;
		snprintf(cr->reason, sizeof(cr->reason), "query failed: %s", err);
		return;
	}
	/* a counter with no series had no events: error counters appear with their first error */
	if (isnan(cr->base_value))
		cr->base_value = 0;
	if (isnan(cr->win_value))
		cr->win_value = 0;
	if (isnan(cr->base_exposure))
		cr->base_exposure = 0;
	if (isnan(cr->win_exposure))
		cr->win_exposure = 0;

	in.base_events = cr->base_value;
	in.base_exposure = cr->base_exposure;
	in.win_events = cr->win_value;
	in.win_exposure = cr->win_exposure;
	in.max_ratio = isnan(c->max_ratio) ? 1 : c->max_ratio;
	in.alpha = r->opt.alpha;
	in.min_events = c->min_events;
	if (judge_rate_test(&in, &out)) {
		cr->result = JUDGE_ERROR;
		snprintf(cr->reason, sizeof(cr->reason), "counts out of range (%g, %g)",
			 cr->base_value, cr->win_value);
		return;
	}
	cr->p_value = out.p_value;
	cr->threshold = in.max_ratio;
	switch (out.outcome) {
	case JUDGE_RATE_NO_EXPOSURE:
		cr->result = JUDGE_INCONCLUSIVE;
		snprintf(cr->reason, sizeof(cr->reason), "no %s in the window",
			 c->exposure ? "traffic" : "time");
		return;
	case JUDGE_RATE_FAIL:
		cr->result = JUDGE_FAIL;
		snprintf(cr->reason, sizeof(cr->reason),
			 "%.0f events vs %.0f before: rate x%.3g (limit x%.3g), p=%.2g < %.2g",
			 cr->win_value, cr->base_value, out.ratio, in.max_ratio, out.p_value,
			 in.alpha);
		break;
	case JUDGE_RATE_LOW_VOLUME:
		cr->result = JUDGE_PASS;
		snprintf(cr->reason, sizeof(cr->reason),
			 "%.0f events vs %.0f before: above the baseline but under the minimum of %.0f",
			 cr->win_value, cr->base_value, c->min_events);
		break;
	case JUDGE_RATE_PASS:
		cr->result = JUDGE_PASS;
		snprintf(cr->reason, sizeof(cr->reason),
			 "%.0f events vs %.0f before: not significantly higher (p=%.2g)", cr->win_value,
			 cr->base_value, out.p_value);
		break;
	}
	if (!isnan(c->max) && cr->result == JUDGE_PASS && cr->win_value > c->max) {
		cr->result = JUDGE_FAIL;
		cr->threshold = c->max;
		snprintf(cr->reason, sizeof(cr->reason), "%.0f events over the ceiling of %g",
			 cr->win_value, c->max);
	}
}

static void judge_value(struct judge_check_result *cr,
			const struct judge_backend *be, const struct period *pb,
			const struct period *pw)
{
	const struct judge_check *c = cr->check;
	char err[200];
	size_t n;
	int rc;

	rc = eval_periods(be, c->expr, pb, pw, FOLD_MAX, &cr->base_value, &cr->win_value, &n, &n,
			  err, sizeof(err));
	if (rc) {
		cr->result = JUDGE_ERROR;
		snprintf(cr->reason, sizeof(cr->reason), "query failed: %s", err);
		return;
	}
	if (isnan(cr->win_value) && isnan(cr->base_value)) {
		cr->result = JUDGE_SKIP;
		snprintf(cr->reason, sizeof(cr->reason),
			 "no data before nor after the marker: not collected here");
		return;
	}
	if (isnan(cr->win_value)) {
		cr->result = JUDGE_INCONCLUSIVE;
		snprintf(cr->reason, sizeof(cr->reason), "data before the marker, none in the window");
		return;
	}
	/* the tighter of the ceiling and max_ratio x baseline (when the baseline has a value) */
	cr->threshold = c->max;
	if (!isnan(c->max_ratio) && cr->base_value > 0) {
		double rel = c->max_ratio * cr->base_value;

		if (isnan(cr->threshold) || rel < cr->threshold)
			cr->threshold = rel;
	}
	if (!isnan(cr->threshold) && cr->win_value > cr->threshold) {
		cr->result = JUDGE_FAIL;
		snprintf(cr->reason, sizeof(cr->reason), "%g over the limit of %g (baseline %g)",
			 cr->win_value, cr->threshold, cr->base_value);
	} else {
		cr->result = JUDGE_PASS;
		if (isnan(cr->threshold))
			snprintf(cr->reason, sizeof(cr->reason), "no limit applies (baseline %g)",
				 cr->base_value);
		else
			snprintf(cr->reason, sizeof(cr->reason), "%g within the limit of %g",
				 cr->win_value, cr->threshold);
	}
}

static void judge_alert(struct judge_check_result *cr,
			const struct judge_backend *be, const struct period *pb,
			const struct period *pw)
{
	char err[200];
	size_t nb, nw;
	int rc;

	rc = eval_periods(be, cr->check->expr, pb, pw, FOLD_MAX, &cr->base_value, &cr->win_value,
			  &nb, &nw, err, sizeof(err));
	if (rc) {
		cr->result = JUDGE_ERROR;
		snprintf(cr->reason, sizeof(cr->reason), "query failed: %s", err);
		return;
	}
	if (nw) {
		cr->result = JUDGE_FAIL;
		snprintf(cr->reason, sizeof(cr->reason), "fires for %zu series (%zu before)", nw, nb);
	} else {
		cr->result = JUDGE_PASS;
		snprintf(cr->reason, sizeof(cr->reason), "does not fire (%zu series before)", nb);
	}
}

/* ---- new exceptions ---- */

struct exc_ctx {
	struct judge_report *r;
	size_t cap;
};

static int collect_exception(void *ctx, const struct store_catalog_entry *e)
{
	struct exc_ctx *x = ctx;
	struct judge_report *r = x->r;
	struct judge_new_exception *n;

	if (e->first_seen_ms < r->opt.marker_ms || e->count < r->opt.new_exception_min_count)
		return 0;
	if (r->nnew_exc == x->cap) {
		if (x->cap >= 1000)
			return 0; /* a thousand new fingerprints say enough */
		x->cap = x->cap ? 2 * x->cap : 8;
		r->new_exc = xrealloc(r->new_exc, x->cap * sizeof(*r->new_exc));
	}
	n = &r->new_exc[r->nnew_exc++];
	memset(n, 0, sizeof(*n));
	n->fingerprint = xstrdup(e->fingerprint);
	n->class_name = xstrdup(e->class_name);
	n->location = xstrdup(e->location);
	n->message = xstrdup(e->message);
	n->count = e->count;
	n->first_seen_ms = e->first_seen_ms;
	return 0;
}

static int new_exceptions(struct judge_report *r, struct store *st, char *err, size_t errlen)
{
	struct exc_ctx x = { r, 0 };
	const struct store_catalog_filter f = { r->opt.marker_ms, INT64_MAX, true, 0 };
	struct buf b;
	int rc;

	rc = store_catalog_list(st, &f, collect_exception, &x);
	if (rc) {
		snprintf(err, errlen, "the error catalog: %s", err_str(rc));
		return rc;
	}
	buf_init(&b, STORE_CATALOG_MAX_SAMPLE + 1);
	for (size_t i = 0; i < r->nnew_exc; i++) {
		if (store_catalog_sample(st, r->new_exc[i].fingerprint, &b) == 0) {
			buf_putc(&b, '\0');
			r->new_exc[i].sample = xstrdup(b.data);
		}
	}
	buf_release(&b);
	return 0;
}

/* ---- the verdict ---- */

int judge_run(const char *deploy, const struct judge_check *checks, size_t nchecks,
	      const struct judge_options *opt, const struct judge_backend *inner, struct store *st,
	      struct judge_report **out, char *err, size_t errlen)
{
	struct memo *m;
	struct judge_backend memo_be;
	const struct judge_backend *be = &memo_be;
	struct judge_report *r;
	struct period pb, pw;
	int64_t t0 = clock_mono_ns(), cpu0 = clock_thread_cpu_ns(), win_start, win_end;
	size_t nfail = 0, nincon = 0, nskip = 0;
	char qerr[200];
	size_t n;
	int rc;

	*out = NULL;
	m = xcalloc(1, sizeof(*m));
	m->be = inner;
	memo_be = (struct judge_backend){ .instant = memo_instant, .range = memo_range, .ctx = m };
	r = xcalloc(1, sizeof(*r));
	r->deploy = deploy;
	r->opt = *opt;
	judge_options_defaults(&r->opt);
	if (r->opt.warmup_ms >= r->opt.window_ms || r->opt.baseline_ms <= 0 ||
	    r->opt.window_ms <= 0) {
		snprintf(err, errlen, "the warm-up (%lld ms) must be shorter than the window (%lld ms)",
			 (long long)r->opt.warmup_ms, (long long)r->opt.window_ms);
		free(r);
		free(m);
		return -EINVAL;
	}
	win_start = r->opt.marker_ms + r->opt.warmup_ms;
	win_end = r->opt.marker_ms + r->opt.window_ms;
	r->window_complete = r->opt.now_ms >= win_end;
	if (!r->window_complete)
		win_end = r->opt.now_ms;
	pb.end_ms = r->opt.marker_ms;
	pb.range_ms = r->opt.baseline_ms;
	pw.end_ms = win_end;
	pw.range_ms = win_end - win_start;
	r->base_traffic = r->win_traffic = NAN;
	r->checks = xcalloc(nchecks ? nchecks : 1, sizeof(*r->checks));
	r->nchecks = nchecks;

	if (pw.range_ms <= 0) {
		r->verdict = JUDGE_INCONCLUSIVE;
		snprintf(r->summary, sizeof(r->summary),
			 "the window has not started: it opens %lld s after the marker (warm-up)",
			 (long long)(r->opt.warmup_ms / 1000));
		for (size_t i = 0; i < nchecks; i++) {
			r->checks[i].check = &checks[i];
			r->checks[i].result = JUDGE_INCONCLUSIVE;
			snprintf(r->checks[i].reason, sizeof(r->checks[i].reason), "window not started");
			r->checks[i].base_value = r->checks[i].win_value = NAN;
			r->checks[i].base_exposure = r->checks[i].win_exposure = NAN;
			r->checks[i].threshold = r->checks[i].p_value = NAN;
			for (size_t k = 0; k < JUDGE_SPARK_POINTS; k++)
				r->checks[i].spark[k] = NAN;
		}
		goto out;
	}

	const char *traffic = r->opt.traffic ? r->opt.traffic : DEFAULT_TRAFFIC;
	if (eval_periods(be, traffic, &pb, &pw, FOLD_SUM, &r->base_traffic, &r->win_traffic, &n, &n,
			 qerr, sizeof(qerr))) {
		r->base_traffic = r->win_traffic = NAN;
	}

	for (size_t i = 0; i < nchecks; i++) {
		struct judge_check_result *cr = &r->checks[i];

		cr->check = &checks[i];
		cr->base_value = cr->win_value = NAN;
		cr->base_exposure = cr->win_exposure = NAN;
		cr->threshold = cr->p_value = NAN;
		switch (checks[i].kind) {
		case JUDGE_KIND_COUNT: judge_count(r, cr, be, &pb, &pw); break;
		case JUDGE_KIND_VALUE: judge_value(cr, be, &pb, &pw); break;
		case JUDGE_KIND_ALERT: judge_alert(cr, be, &pb, &pw); break;
		}
		if (checks[i].kind != JUDGE_KIND_ALERT)
			sparkline(r, &checks[i], be, cr->spark);
		else
			for (size_t k = 0; k < JUDGE_SPARK_POINTS; k++)
				cr->spark[k] = NAN;
		if (cr->result == JUDGE_FAIL && checks[i].severity == JUDGE_SEV_WARNING)
			cr->result = JUDGE_WARN;
		if (cr->result == JUDGE_FAIL)
			nfail++;
		else if (cr->result == JUDGE_ERROR || cr->result == JUDGE_INCONCLUSIVE)
			nincon++;
		else if (cr->result == JUDGE_SKIP)
			nskip++;
	}

	if (st && !r->opt.new_exceptions_off) {
		rc = new_exceptions(r, st, qerr, sizeof(qerr));
		if (rc) {
			snprintf(r->summary, sizeof(r->summary), "%s", qerr);
			nincon++;
		} else {
			r->new_exc_checked = true;
		}
	}

	if (nfail || (r->nnew_exc && !r->opt.new_exceptions_warn)) {
		int w = 0;

		r->verdict = JUDGE_FAIL;
		w = snprintf(r->summary, sizeof(r->summary), "roll back:");
		for (size_t i = 0; i < nchecks && w < (int)sizeof(r->summary); i++)
			if (r->checks[i].result == JUDGE_FAIL)
				w += snprintf(r->summary + w, sizeof(r->summary) - (size_t)w, " %s",
					      checks[i].name);
		for (size_t i = 0; i < r->nnew_exc && !r->opt.new_exceptions_warn &&
				   w < (int)sizeof(r->summary); i++)
			w += snprintf(r->summary + w, sizeof(r->summary) - (size_t)w,
				      " new %s at %s", r->new_exc[i].class_name,
				      r->new_exc[i].location[0] ? r->new_exc[i].location : "?");
	} else if (!(r->win_traffic >= r->opt.min_traffic)) {
		r->verdict = JUDGE_INCONCLUSIVE;
		snprintf(r->summary, sizeof(r->summary),
			 "too little traffic: %.0f requests or log entries in the window, "
			 "%.0f needed to judge",
			 isnan(r->win_traffic) ? 0 : r->win_traffic, r->opt.min_traffic);
	} else if (nincon) {
		r->verdict = JUDGE_INCONCLUSIVE;
		if (!r->summary[0])
			snprintf(r->summary, sizeof(r->summary),
				 "%zu check(s) without data or with a failed query", nincon);
	} else if (!r->window_complete) {
		r->verdict = JUDGE_INCONCLUSIVE;
		snprintf(r->summary, sizeof(r->summary),
			 "nothing failed so far, but the window ends in %lld s",
			 (long long)((r->opt.marker_ms + r->opt.window_ms - r->opt.now_ms) / 1000));
	} else {
		r->verdict = JUDGE_PASS;
		snprintf(r->summary, sizeof(r->summary),
			 "%zu checks passed over %.0f requests or entries%s%s", nchecks - nskip,
			 r->win_traffic, nskip ? ", not collected here: " : "", "");
		for (size_t i = 0, w = strlen(r->summary); i < nchecks && w < sizeof(r->summary);
		     i++)
			if (r->checks[i].result == JUDGE_SKIP)
				w += (size_t)snprintf(r->summary + w, sizeof(r->summary) - w, "%s%s",
						      r->summary[w - 1] == ' ' ? "" : ", ",
						      checks[i].name);
	}
out:
	memo_release(m);
	free(m);
	r->elapsed_ms = (double)(clock_mono_ns() - t0) / 1e6;
	r->cpu_ms = (double)(clock_thread_cpu_ns() - cpu0) / 1e6;
	*out = r;
	return 0;
}

void judge_report_free(struct judge_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nnew_exc; i++) {
		free(r->new_exc[i].fingerprint);
		free(r->new_exc[i].class_name);
		free(r->new_exc[i].location);
		free(r->new_exc[i].message);
		free(r->new_exc[i].sample);
	}
	free(r->new_exc);
	free(r->checks);
	free(r);
}
