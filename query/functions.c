/*
 * PromQL's functions: one const table (name, argument types, return type, implementation), as
 * Prometheus's promql/functions.go keeps FunctionCalls beside parser.Functions. Semantics are
 * Prometheus 2.42's; where Go's math differs from C's (Max/Min with NaN) we follow Go.
 *
 *   1. per-sample functions (FUNC_ELEM)      3. functions with their own evaluation
 *   2. range-vector functions (FUNC_RANGE)   4. the table
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "query/promql_int.h"

/* ---- 1. per-sample functions ---- */

/* Go's math.Max / math.Min: NaN wins, and +0 > -0. */
/* Go's math.Max and math.Min, which clamp* use: an infinity in the direction taken wins over
 * NaN (the special cases' order in Go's source), then NaN wins, then +0 over -0. */
static double go_max(double a, double b)
{
	if (a == INFINITY || b == INFINITY)
		return INFINITY;
	if (isnan(a) || isnan(b))
		return NAN;
	if (a == 0 && b == 0)
		return signbit(a) ? b : a;
	return a > b ? a : b;
}

static double go_min(double a, double b)
{
	if (a == -INFINITY || b == -INFINITY)
		return -INFINITY;
	if (isnan(a) || isnan(b))
		return NAN;
	if (a == 0 && b == 0)
		return signbit(a) ? a : b;
	return a < b ? a : b;
}

static double f_abs(double v, const double *a) { (void)a; return fabs(v); }
static double f_ceil(double v, const double *a) { (void)a; return ceil(v); }
static double f_floor(double v, const double *a) { (void)a; return floor(v); }
static double f_sqrt(double v, const double *a) { (void)a; return sqrt(v); }
static double f_exp(double v, const double *a) { (void)a; return exp(v); }
static double f_ln(double v, const double *a) { (void)a; return log(v); }
/* Go's math.Log2 and math.Log10, which are not C's: the last bit differs. */
static double f_log2(double v, const double *a)
{
	int e;
	double frac = frexp(v, &e);

	(void)a;
	if (frac == 0.5)
		return (double)(e - 1);
	if (isnan(v) || isinf(v) || v <= 0)
		return log2(v);
	return log(frac) * (1 / M_LN2) + (double)e;
}

static double f_log10(double v, const double *a)
{
	(void)a;
	return log(v) * (1 / M_LN10);
}
static double f_sin(double v, const double *a) { (void)a; return sin(v); }
static double f_cos(double v, const double *a) { (void)a; return cos(v); }
static double f_tan(double v, const double *a) { (void)a; return tan(v); }
static double f_asin(double v, const double *a) { (void)a; return asin(v); }
static double f_acos(double v, const double *a) { (void)a; return acos(v); }
static double f_atan(double v, const double *a) { (void)a; return atan(v); }
static double f_sinh(double v, const double *a) { (void)a; return sinh(v); }
static double f_cosh(double v, const double *a) { (void)a; return cosh(v); }
static double f_tanh(double v, const double *a) { (void)a; return tanh(v); }
static double f_asinh(double v, const double *a) { (void)a; return asinh(v); }
static double f_acosh(double v, const double *a) { (void)a; return acosh(v); }
static double f_atanh(double v, const double *a) { (void)a; return atanh(v); }
static double f_deg(double v, const double *a) { (void)a; return v * 180 / M_PI; }
static double f_rad(double v, const double *a) { (void)a; return v * M_PI / 180; }

static double f_sgn(double v, const double *a)
{
	(void)a;
	if (v < 0)
		return -1;
	if (v > 0)
		return 1;
	return v; /* 0, -0 and NaN stay */
}

static double f_clamp(double v, const double *a)
{
	/* clamp(v, min, max): nothing when max < min */
	if (a[1] < a[0])
		return promql_absent();
	return go_max(a[0], go_min(a[1], v));
}

static double f_clamp_min(double v, const double *a)
{
	return go_max(a[0], v);
}

static double f_clamp_max(double v, const double *a)
{
	return go_min(a[0], v);
}

/* round(v, to_nearest=1): ties go up, as Prometheus's floor(v / n + 0.5) * n. */
static double f_round(double v, const double *a)
{
	double inv = 1.0 / a[0];

	return floor(v * inv + 0.5) / inv;
}

static double f_round1(double v, const double *a)
{
	(void)a;
	return floor(v + 0.5);
}

/* The calendar functions read the value as Unix seconds, in UTC. */
static bool utc(double v, struct tm *tm)
{
	time_t t;

	if (isnan(v) || isinf(v) || v > 9.2e18 || v < -9.2e18)
		return false;
	t = (time_t)(int64_t)v;
	return gmtime_r(&t, tm) != NULL;
}

static double f_minute(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_min : NAN;
}

static double f_hour(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_hour : NAN;
}

static double f_day_of_week(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_wday : NAN;
}

static double f_day_of_month(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_mday : NAN;
}

static double f_day_of_year(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_yday + 1 : NAN;
}

static double f_month(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_mon + 1 : NAN;
}

static double f_year(double v, const double *a)
{
	struct tm tm;

	(void)a;
	return utc(v, &tm) ? tm.tm_year + 1900 : NAN;
}

static double f_days_in_month(double v, const double *a)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm;
	int y;

	(void)a;
	if (!utc(v, &tm))
		return NAN;
	y = tm.tm_year + 1900;
	if (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[tm.tm_mon];
}

/* ---- 2. range-vector functions ---- */

/* rate, increase, delta: Prometheus 2.42's extrapolatedRate. */
static bool extrapolated(const struct promql_window *w, double *out, bool counter, bool rate)
{
	double result, last = 0, to_start, to_end, sampled, avg, threshold, interval;
	size_t n = w->n;

	if (n < 2)
		return false;
	result = w->v[n - 1] - w->v[0];
	if (counter && w->resets_known) {
		/* The same additions in the same order as the walk below, so the same bits: the
		 * walk's first step adds 0 at most (v[0] < 0 after "last" = 0), which changes no
		 * result here (v[n - 1] - v[0] with v[0] != 0 is never -0). */
		for (size_t i = 0; i < w->nresets; i++)
			result += w->reset_prev[i];
	} else if (counter) {
		for (size_t i = 0; i < n; i++) {
			if (w->v[i] < last)
				result += last;
			last = w->v[i];
		}
	}
	to_start = (double)(w->t[0] - w->range_start) / 1000;
	to_end = (double)(w->range_end - w->t[n - 1]) / 1000;
	sampled = (double)(w->t[n - 1] - w->t[0]) / 1000;
	avg = sampled / (double)(n - 1);
	if (counter && result > 0 && w->v[0] >= 0) {
		/* A counter cannot go below zero: do not extrapolate past where it would be 0. */
		double to_zero = sampled * (w->v[0] / result);

		if (to_zero < to_start)
			to_start = to_zero;
	}
	threshold = avg * 1.1;
	interval = sampled;
	interval += to_start < threshold ? to_start : avg / 2;
	interval += to_end < threshold ? to_end : avg / 2;
	/* one factor, in Prometheus's order of operations, for the same last bit */
	{
		double factor = interval / sampled;

		if (rate)
			factor /= (double)w->range_ms / 1000;
		result *= factor;
	}
	*out = result;
	return true;
}

static bool r_rate(const struct promql_window *w, double *out)
{
	return extrapolated(w, out, true, true);
}

static bool r_increase(const struct promql_window *w, double *out)
{
	return extrapolated(w, out, true, false);
}

static bool r_delta(const struct promql_window *w, double *out)
{
	return extrapolated(w, out, false, false);
}

/* irate, idelta: the last two samples. */
static bool instant_value(const struct promql_window *w, double *out, bool rate)
{
	double last, prev, result, interval;

	if (w->n < 2)
		return false;
	last = w->v[w->n - 1];
	prev = w->v[w->n - 2];
	result = last - prev;
	if (rate && last < prev)
		result = last; /* a counter reset */
	interval = (double)(w->t[w->n - 1] - w->t[w->n - 2]);
	if (interval == 0)
		return false;
	if (rate)
		result /= interval / 1000;
	*out = result;
	return true;
}

static bool r_irate(const struct promql_window *w, double *out)
{
	return instant_value(w, out, true);
}

static bool r_idelta(const struct promql_window *w, double *out)
{
	return instant_value(w, out, false);
}

/* Least squares over (seconds since intercept_t, value). */
static void linear_regression(const struct promql_window *w, int64_t intercept_t, double *slope,
			      double *intercept)
{
	double n = 0, sx = 0, sy = 0, sxy = 0, sx2 = 0, cov, var;
	bool const_y = true;

	for (size_t i = 0; i < w->n; i++) {
		double x = (double)(w->t[i] - intercept_t) / 1000;

		if (i > 0 && w->v[i] != w->v[0])
			const_y = false;
		n += 1;
		sx += x;
		sy += w->v[i];
		sxy += x * w->v[i];
		sx2 += x * x;
	}
	if (const_y) {
		if (isinf(w->v[0])) {
			*slope = *intercept = NAN;
			return;
		}
		*slope = 0;
		*intercept = w->v[0];
		return;
	}
	cov = sxy - sx * sy / n;
	var = sx2 - sx * sx / n;
	*slope = cov / var;
	*intercept = sy / n - *slope * sx / n;
}

static bool r_deriv(const struct promql_window *w, double *out)
{
	double slope, intercept;

	if (w->n < 2)
		return false;
	linear_regression(w, w->t[0], &slope, &intercept);
	*out = slope;
	return true;
}

static bool r_predict_linear(const struct promql_window *w, double *out)
{
	double slope, intercept;

	if (w->n < 2)
		return false;
	linear_regression(w, w->ts, &slope, &intercept);
	*out = slope * w->sargs[0] + intercept;
	return true;
}

static bool r_resets(const struct promql_window *w, double *out)
{
	double n = 0;

	if (w->resets_known) {
		*out = (double)w->nresets;
		return true;
	}
	for (size_t i = 1; i < w->n; i++)
		if (w->v[i] < w->v[i - 1])
			n++;
	*out = n;
	return true;
}

static bool r_changes(const struct promql_window *w, double *out)
{
	double n = 0;

	for (size_t i = 1; i < w->n; i++) {
		double a = w->v[i - 1], b = w->v[i];

		if (a != b && !(isnan(a) && isnan(b)))
			n++;
	}
	*out = n;
	return true;
}

static bool r_avg(const struct promql_window *w, double *out)
{
	double mean = 0, count = 0;

	for (size_t i = 0; i < w->n; i++) {
		double v = w->v[i];

		count++;
		if (isinf(mean)) {
			if (isinf(v) && (mean > 0) == (v > 0))
				continue;
			if (!isinf(v) && !isnan(v))
				continue;
		}
		/* the incremental mean avoids overflowing a sum of huge values */
		mean += v / count - mean / count;
	}
	*out = mean;
	return true;
}

static bool r_count(const struct promql_window *w, double *out)
{
	*out = (double)w->n;
	return true;
}

static bool r_sum(const struct promql_window *w, double *out)
{
	double s = 0;

	for (size_t i = 0; i < w->n; i++)
		s += w->v[i];
	*out = s;
	return true;
}

/*
 * min_over_time and max_over_time as Prometheus 2.42 loops: m = v[0], then m = v[i] when
 * v[i] < m (or > m) or m is NaN. While m is NaN every value replaces it, so m is the first value
 * that is not NaN (all NaN: the last one); after that NaN never replaces m, and of equal values
 * (+0, -0) the first stays. Split so: skip the leading NaNs, then a loop without the NaN test,
 * whose "v[i] < m ? v[i] : m" the compiler turns into one MINSD/MAXSD per value (those
 * instructions keep m for a NaN v[i] and for equal values: the same results, bit for bit).
 */
static size_t first_number(const struct promql_window *w)
{
	size_t i = 0;

	while (i < w->n - 1 && isnan(w->v[i]))
		i++;
	return i;
}

static bool r_min(const struct promql_window *w, double *out)
{
	size_t i = first_number(w);
	double m = w->v[i];

	for (i++; i < w->n; i++)
		m = w->v[i] < m ? w->v[i] : m;
	*out = m;
	return true;
}

static bool r_max(const struct promql_window *w, double *out)
{
	size_t i = first_number(w);
	double m = w->v[i];

	for (i++; i < w->n; i++)
		m = w->v[i] > m ? w->v[i] : m;
	*out = m;
	return true;
}

static bool r_last(const struct promql_window *w, double *out)
{
	*out = w->v[w->n - 1];
	return true;
}

static bool r_present(const struct promql_window *w, double *out)
{
	(void)w;
	*out = 1;
	return true;
}

static double variance(const struct promql_window *w)
{
	double count = 0, mean = 0, aux = 0;

	for (size_t i = 0; i < w->n; i++) {
		double delta = w->v[i] - mean;

		count++;
		mean += delta / count;
		aux += delta * (w->v[i] - mean);
	}
	return aux / count;
}

static bool r_stddev(const struct promql_window *w, double *out)
{
	*out = sqrt(variance(w));
	return true;
}

static bool r_stdvar(const struct promql_window *w, double *out)
{
	*out = variance(w);
	return true;
}

/* Ascending with NaN first, as Go's sort.Float64s. */
static int float_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	if (isnan(x))
		return isnan(y) ? 0 : -1;
	if (isnan(y))
		return 1;
	return x < y ? -1 : x > y;
}

/* Prometheus's quantile(): linear interpolation between the closest ranks; sorts 'v'. */
double promql_quantile(double q, double *v, size_t n)
{
	double rank, weight;
	size_t lower, upper;

	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(v, n, sizeof(*v), float_cmp);
	rank = q * (double)(n - 1);
	lower = (size_t)fmax(0, floor(rank));
	upper = lower + 1 < n ? lower + 1 : n - 1;
	weight = rank - floor(rank);
	return v[lower] * (1 - weight) + v[upper] * weight;
}

static bool r_quantile(const struct promql_window *w, double *out)
{
	double stackbuf[256], *v = w->n <= 256 ? stackbuf : xmalloc(w->n * sizeof(*v));

	memcpy(v, w->v, w->n * sizeof(*v));
	*out = promql_quantile(w->sargs[0], v, w->n);
	if (v != stackbuf)
		free(v);
	return true;
}

/* ---- 3. functions with their own evaluation ---- */

static void scalar_value(struct promql_ev *ev, struct promql_value *out)
{
	out->type = PROMQL_TYPE_SCALAR;
	out->scalar = promql_arena_array(ev->a, ev->nsteps, sizeof(double));
}

static void s_time(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	(void)n;
	scalar_value(ev, out);
	for (size_t k = 0; k < ev->nsteps; k++)
		out->scalar[k] = (double)promql_ev_ts(ev, k) / 1000;
}

static void s_pi(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	(void)n;
	scalar_value(ev, out);
	for (size_t k = 0; k < ev->nsteps; k++)
		out->scalar[k] = M_PI;
}

static void s_vector(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value s;

	promql_ev_eval(ev, n->args[0], &s);
	out->type = PROMQL_TYPE_VECTOR;
	out->vs = promql_arena_zalloc(ev->a, sizeof(*out->vs));
	out->vs->v = s.scalar;
	out->nvs = 1;
}

/* scalar(v): the value of a single-element vector, else NaN. */
static void s_scalar(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value v;

	promql_ev_eval(ev, n->args[0], &v);
	scalar_value(ev, out);
	for (size_t k = 0; k < ev->nsteps; k++) {
		size_t cnt = 0;
		double x = NAN;

		for (size_t i = 0; i < v.nvs && cnt < 2; i++) {
			if (!promql_is_absent(v.vs[i].v[k])) {
				x = v.vs[i].v[k];
				cnt++;
			}
		}
		out->scalar[k] = cnt == 1 ? x : NAN;
	}
}

/* timestamp(v): a selector's own sample times; otherwise the evaluation time. */
static void s_timestamp(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value v;
	struct promql_outset o;

	if (n->args[0]->kind == NODE_VECTOR_SEL)
		promql_eval_selector(ev, n->args[0], true, &v);
	else {
		promql_ev_eval(ev, n->args[0], &v);
		for (size_t i = 0; i < v.nvs; i++)
			for (size_t k = 0; k < ev->nsteps; k++)
				if (!promql_is_absent(v.vs[i].v[k]))
					v.vs[i].v[k] = (double)promql_ev_ts(ev, k) / 1000;
	}
	promql_outset_init(&o);
	for (size_t i = 0; i < v.nvs; i++) {
		size_t nl;
		struct label *l = promql_labels_drop_name(ev, v.vs[i].labels, v.vs[i].nlabels, &nl);
		struct promql_vseries *s = promql_outset_get(ev, &o, l, nl);

		for (size_t k = 0; k < ev->nsteps; k++)
			if (!promql_is_absent(v.vs[i].v[k]))
				promql_outset_put(ev, s, k, v.vs[i].v[k], NULL);
	}
	promql_outset_finish(ev, &o, out);
}

struct label *promql_absent_labels(struct promql_ev *ev, const struct promql_node *n,
				   size_t *out_n)
{
	struct label *l;
	const char **has;
	size_t k = 0, nhas = 0;

	if (n->kind == NODE_MATRIX_SEL)
		n = n->expr;
	*out_n = 0;
	if (n->kind != NODE_VECTOR_SEL)
		return NULL;
	l = promql_arena_array(ev->a, n->nmatchers ? n->nmatchers : 1, sizeof(*l));
	has = promql_arena_array(ev->a, n->nmatchers ? n->nmatchers : 1, sizeof(*has));
	/* Prometheus's rule, applied in matcher order: the first equality matcher of a name sets
	 * the label; any later or other matcher of that name removes it again. */
	for (size_t i = 0; i < n->nmatchers; i++) {
		const struct matcher *m = &n->matchers[i];
		bool seen = false;
		size_t j;

		if (!strcmp(m->name, MODEL_NAME_LABEL))
			continue;
		for (j = 0; j < nhas; j++)
			if (!strcmp(has[j], m->name))
				seen = true;
		for (j = 0; j < k; j++)
			if (!strcmp(l[j].name, m->name))
				break;
		if (j < k) {
			memmove(&l[j], &l[j + 1], (k - j - 1) * sizeof(*l));
			k--;
		}
		if (m->op == MATCH_EQ && !seen) {
			has[nhas++] = m->name;
			if (m->value[0]) {
				l[k].name = m->name;
				l[k].value = m->value;
				k++;
			}
		}
	}
	model_labels_sort(l, k);
	*out_n = k;
	return l;
}

static void one_series(struct promql_ev *ev, struct promql_value *out, struct label *l, size_t nl)
{
	out->type = PROMQL_TYPE_VECTOR;
	out->vs = promql_arena_zalloc(ev->a, sizeof(*out->vs));
	out->vs->labels = l;
	out->vs->nlabels = nl;
	out->vs->v = promql_ev_values(ev);
	out->nvs = 1;
}

static void s_absent(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value v;
	size_t nl;
	struct label *l;
	bool any = false;

	promql_ev_eval(ev, n->args[0], &v);
	l = promql_absent_labels(ev, n->args[0], &nl);
	one_series(ev, out, l, nl);
	for (size_t k = 0; k < ev->nsteps; k++) {
		bool present = false;

		for (size_t i = 0; i < v.nvs && !present; i++)
			present = !promql_is_absent(v.vs[i].v[k]);
		if (!present) {
			out->vs->v[k] = 1;
			any = true;
		}
	}
	if (!any)
		out->nvs = 0;
}

struct aot_ctx {
	int64_t *te, range;
	bool *present;
};

static void aot_series(struct promql_ev *ev, void *vctx, const struct promql_rseries *r)
{
	struct aot_ctx *c = vctx;
	size_t lo = 0, hi = 0;

	for (size_t k = 0; k < ev->nsteps; k++) {
		while (hi < r->n && r->t[hi] <= c->te[k])
			hi++;
		while (lo < hi && r->t[lo] < c->te[k] - c->range)
			lo++;
		if (lo < hi)
			c->present[k] = true;
	}
}

static void s_absent_over_time(struct promql_ev *ev, const struct promql_node *n,
			       struct promql_value *out)
{
	struct aot_ctx c = { 0 };
	size_t nl;
	struct label *l;
	bool any = false;

	c.present = promql_arena_zalloc(ev->a, ev->nsteps);
	promql_range_arg_each(ev, n->args[0], true, &c.te, &c.range, aot_series, &c);
	l = promql_absent_labels(ev, n->args[0], &nl);
	one_series(ev, out, l, nl);
	for (size_t k = 0; k < ev->nsteps; k++) {
		if (!c.present[k]) {
			out->vs->v[k] = 1;
			any = true;
		}
	}
	if (!any)
		out->nvs = 0;
}

/* sort / sort_desc order an instant query's vector (in a range query the order is moot):
 * ascending or descending with NaN last, as Prometheus 2.42. */
static bool sorts_before(double u, double w, bool desc)
{
	if (isnan(u))
		return false;
	if (isnan(w))
		return true;
	return desc ? u > w : u < w;
}

static void do_sort(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out,
		    bool desc)
{
	size_t m = 0;

	promql_ev_eval(ev, n->args[0], out);
	if (ev->nsteps != 1)
		return;
	for (size_t i = 0; i < out->nvs; i++)
		if (!promql_is_absent(out->vs[i].v[0]))
			out->vs[m++] = out->vs[i];
	out->nvs = m;
	/* stable (ties keep their input order); merge sort for large vectors */
	if (m > 1) {
		struct promql_vseries *tmp = promql_arena_array(ev->a, m, sizeof(*tmp));

		for (size_t width = 1; width < m; width *= 2) {
			for (size_t lo = 0; lo < m; lo += 2 * width) {
				size_t mid = lo + width < m ? lo + width : m;
				size_t hi = lo + 2 * width < m ? lo + 2 * width : m;
				size_t i = lo, j = mid, k = lo;

				while (i < mid && j < hi)
					tmp[k++] = sorts_before(out->vs[j].v[0], out->vs[i].v[0],
								desc) ? out->vs[j++] : out->vs[i++];
				while (i < mid)
					tmp[k++] = out->vs[i++];
				while (j < hi)
					tmp[k++] = out->vs[j++];
			}
			memcpy(out->vs, tmp, m * sizeof(*tmp));
		}
	}
}

static void s_sort(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	do_sort(ev, n, out, false);
}

static void s_sort_desc(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	do_sort(ev, n, out, true);
}

/* Re-label every series of 'in' with fn's labels, merging through an outset. */
static void relabel(struct promql_ev *ev, const struct promql_value *in, struct label **labels,
		    size_t *nlabels, struct promql_value *out)
{
	struct promql_outset o;

	promql_outset_init(&o);
	for (size_t i = 0; i < in->nvs; i++) {
		struct promql_vseries *s = promql_outset_get(ev, &o, labels[i], nlabels[i]);

		for (size_t k = 0; k < ev->nsteps; k++)
			if (!promql_is_absent(in->vs[i].v[k]))
				promql_outset_put(ev, s, k, in->vs[i].v[k], NULL);
	}
	promql_outset_finish(ev, &o, out);
}

static const char *arg_str(struct promql_ev *ev, const struct promql_node *n)
{
	struct promql_value v;

	promql_ev_eval(ev, n, &v);
	return v.str;
}

/* Go's Regexp.Expand for label_replace: $1, ${1}, $name, ${name}, $$. */
static void expand(struct buf *b, const char *tmpl, const char *subject, PCRE2_SIZE *ov, int rc,
		   const pcre2_code *re)
{
	for (const char *p = tmpl; *p;) {
		const char *name;
		size_t len;
		bool braced = false;
		int group = -1;

		if (*p != '$') {
			buf_putc(b, *p++);
			continue;
		}
		p++;
		if (*p == '$') {
			buf_putc(b, '$');
			p++;
			continue;
		}
		if (*p == '{') {
			braced = true;
			p++;
		}
		name = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		len = (size_t)(p - name);
		if (!len || (braced && *p != '}')) {
			/* not a valid reference: Go copies the '$' literally */
			buf_putc(b, '$');
			p = braced ? name - 1 : name;
			continue;
		}
		if (braced)
			p++;
		{
			bool numeric = true;

			for (size_t i = 0; i < len; i++)
				if (name[i] < '0' || name[i] > '9')
					numeric = false;
			if (numeric) {
				group = 0;
				for (size_t i = 0; i < len && group < 100000; i++)
					group = group * 10 + (name[i] - '0');
			} else {
				char tmp[256];

				if (len < sizeof(tmp)) {
					memcpy(tmp, name, len);
					tmp[len] = '\0';
					group = pcre2_substring_number_from_name(re, (PCRE2_SPTR)tmp);
				}
			}
		}
		if (group >= 0 && group < rc && ov[2 * group] != PCRE2_UNSET)
			buf_append(b, subject + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
	}
}

#define SHOWN_MAX 512 /* bytes of an argument's escaped text in a message */

/* A string argument for a message: a query may hold control bytes, the message may reach a
 * terminal (`deploywatch query`), so they are shown as \xNN (buf_escape). */
static const char *shown(char out[SHOWN_MAX], const char *s)
{
	return buf_escape(out, SHOWN_MAX, s, strlen(s));
}

static void s_label_replace(struct promql_ev *ev, const struct promql_node *n,
			    struct promql_value *out)
{
	struct promql_value in;
	const char *dst = arg_str(ev, n->args[1]), *repl = arg_str(ev, n->args[2]);
	const char *src = arg_str(ev, n->args[3]), *regex = arg_str(ev, n->args[4]);
	struct label **labels;
	size_t *nlabels;
	pcre2_code *re;
	pcre2_match_data *md;
	int code;
	PCRE2_SIZE off;
	char msg[160], q[SHOWN_MAX];
	struct buf b;

	/* Evaluate first: nothing below may longjmp while PCRE2 memory is held. */
	promql_ev_eval(ev, n->args[0], &in);
	re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
			   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
			   &code, &off, NULL);
	if (!re) {
		pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
		promql_ev_fail(ev, PROMQL_E_EXECUTION,
			       "invalid regular expression in label_replace(): %s", shown(q, regex));
	}
	if (!model_label_name_valid(dst, strlen(dst))) {
		pcre2_code_free(re);
		promql_ev_fail(ev, PROMQL_E_EXECUTION,
			       "invalid destination label name in label_replace(): %s", shown(q, dst));
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	labels = promql_arena_array(ev->a, in.nvs ? in.nvs : 1, sizeof(*labels));
	nlabels = promql_arena_array(ev->a, in.nvs ? in.nvs : 1, sizeof(*nlabels));
	buf_init(&b, 0);
	for (size_t i = 0; i < in.nvs; i++) {
		const char *sv = model_labels_get(in.vs[i].labels, in.vs[i].nlabels, src);
		int rc;

		if (!sv)
			sv = "";
		labels[i] = in.vs[i].labels;
		nlabels[i] = in.vs[i].nlabels;
		rc = pcre2_match(re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, md, NULL);
		if (rc < 0)
			continue;
		buf_reset(&b);
		expand(&b, repl, sv, pcre2_get_ovector_pointer(md), rc, re);
		labels[i] = promql_labels_set(ev, in.vs[i].labels, in.vs[i].nlabels, dst,
					      promql_arena_strndup(ev->a, b.data ? b.data : "",
								   b.len),
					      &nlabels[i]);
	}
	buf_release(&b);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	relabel(ev, &in, labels, nlabels, out);
}

static void s_label_join(struct promql_ev *ev, const struct promql_node *n,
			 struct promql_value *out)
{
	struct promql_value in;
	const char *dst = arg_str(ev, n->args[1]), *sep = arg_str(ev, n->args[2]);
	const char **srcs = promql_arena_array(ev->a, n->nargs, sizeof(*srcs));
	struct label **labels;
	size_t *nlabels, nsrc = 0;
	char q[SHOWN_MAX];
	struct buf b;

	for (size_t i = 3; i < n->nargs; i++) {
		srcs[nsrc] = arg_str(ev, n->args[i]);
		if (!model_label_name_valid(srcs[nsrc], strlen(srcs[nsrc])))
			promql_ev_fail(ev, PROMQL_E_EXECUTION,
				       "invalid source label name in label_join(): %s",
				       shown(q, srcs[nsrc]));
		nsrc++;
	}
	if (!model_label_name_valid(dst, strlen(dst)))
		promql_ev_fail(ev, PROMQL_E_EXECUTION,
			       "invalid destination label name in label_join(): %s", shown(q, dst));
	promql_ev_eval(ev, n->args[0], &in);
	labels = promql_arena_array(ev->a, in.nvs ? in.nvs : 1, sizeof(*labels));
	nlabels = promql_arena_array(ev->a, in.nvs ? in.nvs : 1, sizeof(*nlabels));
	buf_init(&b, 0);
	for (size_t i = 0; i < in.nvs; i++) {
		buf_reset(&b);
		buf_puts(&b, "");
		for (size_t j = 0; j < nsrc; j++) {
			const char *v = model_labels_get(in.vs[i].labels, in.vs[i].nlabels, srcs[j]);

			if (j)
				buf_puts(&b, sep);
			buf_puts(&b, v ? v : "");
		}
		labels[i] = promql_labels_set(ev, in.vs[i].labels, in.vs[i].nlabels, dst,
					      promql_arena_strndup(ev->a, b.data, b.len),
					      &nlabels[i]);
	}
	buf_release(&b);
	relabel(ev, &in, labels, nlabels, out);
}

/* ---- histogram_quantile ---- */

struct bucket {
	double upper;
	double count;
};

static int bucket_cmp(const void *a, const void *b)
{
	double x = ((const struct bucket *)a)->upper, y = ((const struct bucket *)b)->upper;

	return x < y ? -1 : x > y;
}

/* Prometheus 2.42's bucketQuantile over classic buckets. */
static double bucket_quantile(double q, struct bucket *b, size_t n)
{
	double rank, start = 0, end, count, max = -INFINITY;
	size_t m = 0, lo, hi;

	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(b, n, sizeof(*b), bucket_cmp);
	if (n == 0 || !(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
		return NAN;
	/* coalesce buckets with the same bound */
	for (size_t i = 0; i < n; i++) {
		if (m && b[m - 1].upper == b[i].upper)
			b[m - 1].count += b[i].count;
		else
			b[m++] = b[i];
	}
	n = m;
	/* counts must not decrease (series scraped at slightly different times) */
	for (size_t i = 0; i < n; i++) {
		if (b[i].count > max)
			max = b[i].count;
		else if (b[i].count < max)
			b[i].count = max;
	}
	if (n < 2)
		return NAN;
	if (b[n - 1].count == 0)
		return NAN;
	rank = q * b[n - 1].count;
	/* the first bucket among the first n-1 whose count >= rank (sort.Search) */
	lo = 0;
	hi = n - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (b[mid].count >= rank)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == n - 1)
		return b[n - 2].upper;
	if (lo == 0 && b[0].upper <= 0)
		return b[0].upper;
	end = b[lo].upper;
	count = b[lo].count;
	if (lo > 0) {
		start = b[lo - 1].upper;
		count -= b[lo - 1].count;
		rank -= b[lo - 1].count;
	}
	return start + (end - start) * (rank / count);
}

static void s_histogram_quantile(struct promql_ev *ev, const struct promql_node *n,
				 struct promql_value *out)
{
	struct promql_value q, in;
	struct promql_outset groups, o;
	size_t *group, *gsize;
	double *le;
	struct bucket *bk;
	size_t maxg = 0;
	const char *const le_name[] = { "le" };

	promql_ev_eval(ev, n->args[0], &q);
	promql_ev_eval(ev, n->args[1], &in);
	promql_outset_init(&groups);
	promql_outset_init(&o);
	group = promql_arena_array(ev->a, in.nvs ? in.nvs : 1, sizeof(*group));
	le = promql_arena_array(ev->a, in.nvs ? in.nvs : 1, sizeof(*le));
	/* Group once by the labels without le and __name__; a series without a readable le is
	 * ignored. The outset here only maps label sets to group numbers. */
	for (size_t i = 0; i < in.nvs; i++) {
		const char *l = model_labels_get(in.vs[i].labels, in.vs[i].nlabels, "le");
		size_t nl;
		struct label *gl;
		struct promql_vseries *g;

		group[i] = (size_t)-1;
		if (!l || !promql_parse_number(l, strlen(l), &le[i]))
			continue;
		gl = promql_labels_filter(ev, in.vs[i].labels, in.vs[i].nlabels, le_name, 1, false,
					  true, &nl);
		g = promql_outset_get(ev, &groups, gl, nl);
		group[i] = (size_t)(g - groups.s);
	}
	gsize = promql_arena_zalloc(ev->a, (groups.n + 1) * sizeof(*gsize));
	for (size_t i = 0; i < in.nvs; i++)
		if (group[i] != (size_t)-1 && ++gsize[group[i]] > maxg)
			maxg = gsize[group[i]];
	bk = promql_arena_array(ev->a, (groups.n ? groups.n : 1) * (maxg ? maxg : 1), sizeof(*bk));
	{
		struct promql_vseries **slot = promql_arena_zalloc(ev->a,
								   (groups.n + 1) * sizeof(*slot));

		for (size_t k = 0; k < ev->nsteps; k++) {
			for (size_t g = 0; g < groups.n; g++)
				gsize[g] = 0;
			for (size_t i = 0; i < in.nvs; i++) {
				size_t g = group[i];

				if (g == (size_t)-1 || promql_is_absent(in.vs[i].v[k]))
					continue;
				bk[g * maxg + gsize[g]].upper = le[i];
				bk[g * maxg + gsize[g]].count = in.vs[i].v[k];
				gsize[g]++;
			}
			for (size_t g = 0; g < groups.n; g++) {
				if (!gsize[g])
					continue;
				if (!slot[g])
					slot[g] = promql_outset_get(ev, &o, groups.s[g].labels,
								    groups.s[g].nlabels);
				promql_outset_put(ev, slot[g], k,
						  bucket_quantile(q.scalar[k], bk + g * maxg,
								  gsize[g]),
						  NULL);
			}
			promql_ev_poll(ev);
		}
	}
	promql_outset_release(&groups);
	promql_outset_finish(ev, &o, out);
}

/* ---- 4. the table ---- */

#define V PROMQL_TYPE_VECTOR
#define M PROMQL_TYPE_MATRIX
#define S PROMQL_TYPE_SCALAR
#define STR PROMQL_TYPE_STRING

#define ELEM(n, fn) { n, { V }, 1, 1, false, V, FUNC_ELEM, fn, NULL, NULL, false, false, false }
#define ELEM_OPT(n, fn) { n, { V }, 1, 0, false, V, FUNC_ELEM, fn, NULL, NULL, false, false, false }
#define RANGE(n, fn) { n, { M }, 1, 1, false, V, FUNC_RANGE, NULL, fn, NULL, false, false, false }
/* A range function of the number of samples only: the source may leave the values undecoded. */
#define RANGE_COUNT(n, fn) \
	{ n, { M }, 1, 1, false, V, FUNC_RANGE, NULL, fn, NULL, false, true, false }
/* A range function that reads the counter resets of its window (rate, increase, resets): the
 * caller finds them once per series and hands each window its share (promql_window.resets). */
#define RANGE_RESETS(n, fn) \
	{ n, { M }, 1, 1, false, V, FUNC_RANGE, NULL, fn, NULL, false, false, true }

static const struct promql_func funcs[] = {
	ELEM("abs", f_abs),
	{ "absent", { V }, 1, 1, false, V, FUNC_SPECIAL, NULL, NULL, s_absent,
	  false, false, false },
	{ "absent_over_time", { M }, 1, 1, false, V, FUNC_SPECIAL, NULL, NULL, s_absent_over_time,
	  false, false, false },
	ELEM("acos", f_acos),
	ELEM("acosh", f_acosh),
	ELEM("asin", f_asin),
	ELEM("asinh", f_asinh),
	ELEM("atan", f_atan),
	ELEM("atanh", f_atanh),
	RANGE("avg_over_time", r_avg),
	ELEM("ceil", f_ceil),
	RANGE("changes", r_changes),
	{ "clamp", { V, S, S }, 3, 3, false, V, FUNC_ELEM, f_clamp, NULL, NULL,
	  false, false, false },
	{ "clamp_max", { V, S }, 2, 2, false, V, FUNC_ELEM, f_clamp_max, NULL, NULL,
	  false, false, false },
	{ "clamp_min", { V, S }, 2, 2, false, V, FUNC_ELEM, f_clamp_min, NULL, NULL,
	  false, false, false },
	ELEM("cos", f_cos),
	ELEM("cosh", f_cosh),
	RANGE_COUNT("count_over_time", r_count),
	ELEM_OPT("day_of_month", f_day_of_month),
	ELEM_OPT("day_of_week", f_day_of_week),
	ELEM_OPT("day_of_year", f_day_of_year),
	ELEM_OPT("days_in_month", f_days_in_month),
	ELEM("deg", f_deg),
	RANGE("delta", r_delta),
	RANGE("deriv", r_deriv),
	ELEM("exp", f_exp),
	ELEM("floor", f_floor),
	{ "histogram_quantile", { S, V }, 2, 2, false, V, FUNC_SPECIAL, NULL, NULL,
	  s_histogram_quantile, false, false, false },
	ELEM_OPT("hour", f_hour),
	RANGE("idelta", r_idelta),
	RANGE_RESETS("increase", r_increase),
	RANGE("irate", r_irate),
	{ "label_join", { V, STR, STR, STR }, 4, 3, true, V, FUNC_SPECIAL, NULL, NULL,
	  s_label_join, false, false, false },
	{ "label_replace", { V, STR, STR, STR, STR }, 5, 5, false, V, FUNC_SPECIAL, NULL, NULL,
	  s_label_replace, false, false, false },
	{ "last_over_time", { M }, 1, 1, false, V, FUNC_RANGE, NULL, r_last, NULL,
	  true, false, false },
	ELEM("ln", f_ln),
	ELEM("log10", f_log10),
	ELEM("log2", f_log2),
	RANGE("max_over_time", r_max),
	RANGE("min_over_time", r_min),
	ELEM_OPT("minute", f_minute),
	ELEM_OPT("month", f_month),
	{ "pi", { V }, 0, 0, false, S, FUNC_SPECIAL, NULL, NULL, s_pi, false, false, false },
	{ "predict_linear", { M, S }, 2, 2, false, V, FUNC_RANGE, NULL, r_predict_linear, NULL,
	  false, false, false },
	RANGE_COUNT("present_over_time", r_present),
	{ "quantile_over_time", { S, M }, 2, 2, false, V, FUNC_RANGE, NULL, r_quantile, NULL,
	  false, false, false },
	ELEM("rad", f_rad),
	RANGE_RESETS("rate", r_rate),
	RANGE_RESETS("resets", r_resets),
	{ "round", { V, S }, 2, 1, false, V, FUNC_ELEM, f_round, NULL, NULL, false, false, false },
	{ "scalar", { V }, 1, 1, false, S, FUNC_SPECIAL, NULL, NULL, s_scalar,
	  false, false, false },
	ELEM("sgn", f_sgn),
	ELEM("sin", f_sin),
	ELEM("sinh", f_sinh),
	{ "sort", { V }, 1, 1, false, V, FUNC_SPECIAL, NULL, NULL, s_sort, false, false, false },
	{ "sort_desc", { V }, 1, 1, false, V, FUNC_SPECIAL, NULL, NULL, s_sort_desc,
	  false, false, false },
	ELEM("sqrt", f_sqrt),
	RANGE("stddev_over_time", r_stddev),
	RANGE("stdvar_over_time", r_stdvar),
	RANGE("sum_over_time", r_sum),
	ELEM("tan", f_tan),
	ELEM("tanh", f_tanh),
	{ "time", { V }, 0, 0, false, S, FUNC_SPECIAL, NULL, NULL, s_time, false, false, false },
	{ "timestamp", { V }, 1, 1, false, V, FUNC_SPECIAL, NULL, NULL, s_timestamp, false, false,
	  false },
	{ "vector", { S }, 1, 1, false, V, FUNC_SPECIAL, NULL, NULL, s_vector,
	  false, false, false },
	ELEM_OPT("year", f_year),
};

/* round() without its second argument rounds to 1. */
static const struct promql_func round1 = {
	"round", { V, S }, 2, 1, false, V, FUNC_ELEM, f_round1, NULL, NULL, false, false, false
};

const struct promql_func *promql_func_lookup(const char *s, size_t len)
{
	size_t lo = 0, hi = sizeof(funcs) / sizeof(funcs[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(funcs[mid].name, s, len);

		if (!c && funcs[mid].name[len])
			c = 1;
		if (!c)
			return &funcs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct promql_func *promql_func_round1(void)
{
	return &round1;
}

void promql_format_float_f(char *out, size_t outlen, double v)
{
	char e[40], digits[24];
	int prec, exp10, nd = 0, pos = 0;
	char *p;

	if (isnan(v)) {
		snprintf(out, outlen, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* the shortest %e that reads back as v: Go's shortest formatting */
	for (prec = 0; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", prec, v);
	p = e;
	if (*p == '-')
		out[pos++] = *p++;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	exp10 = atoi(p + 1);
	/* trailing zeros of the mantissa carry no information */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (v == 0) {
		snprintf(out + pos, outlen - (size_t)pos, "0");
		return;
	}
	/* digits d0.d1d2... × 10^exp10 in positional form */
	if (exp10 < 0) {
		pos += snprintf(out + pos, outlen - (size_t)pos, "0.");
		for (int i = 0; i < -exp10 - 1 && (size_t)pos + 1 < outlen; i++)
			out[pos++] = '0';
		for (int i = 0; i < nd && (size_t)pos + 1 < outlen; i++)
			out[pos++] = digits[i];
	} else {
		for (int i = 0; i <= exp10 || i < nd; i++) {
			if (i == exp10 + 1 && (size_t)pos + 1 < outlen)
				out[pos++] = '.';
			if ((size_t)pos + 1 < outlen)
				out[pos++] = i < nd ? digits[i] : '0';
		}
	}
	out[pos] = '\0';
}
