#ifndef DW_QUERY_JUDGE_H
#define DW_QUERY_JUDGE_H
/*
 * The deploy verdict (docs/judge.md): checks evaluated over a baseline before a deploy marker and
 * a window after it, error counts compared with a Poisson rate-ratio test, values with ceilings,
 * and exception fingerprints first seen after the marker. Three parts, three files: the
 * statistics (judge_stats.c, pure), deciding (judge.c), rendering (judge_render.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "query/promql.h"

struct store;

/* ---- statistics (judge_stats.c): pure functions, any thread ---- */

/*
 * One-sided mid-p value of observing 'k' or more successes out of 'n' with success probability
 * 'p': P(X > k) + P(X = k) / 2 for X ~ Binomial(n, p). p outside [0, 1] or k > n gives NaN;
 * p = 0 gives 0.5 for k = 0 and 0 otherwise. Accurate to about 1e-12 for n up to 1e9.
 */
double judge_binom_midp_upper(uint64_t k, uint64_t n, double p);

/* Inputs of the rate test: event counts and their exposures (seconds or requests). */
struct judge_rate_in {
	double base_events, base_exposure;
	double win_events, win_exposure;
	double max_ratio;   /* a failure also needs window rate >= max_ratio x baseline; >= 1 */
	double alpha;       /* significance, e.g. 0.01 */
	double min_events;  /* window events below this never fail */
};

enum judge_rate_outcome {
	JUDGE_RATE_PASS,        /* not significantly above the baseline, or below max_ratio x it */
	JUDGE_RATE_FAIL,        /* significantly above, at least max_ratio x, min_events or more */
	JUDGE_RATE_LOW_VOLUME,  /* would be significant, but fewer than min_events events */
	JUDGE_RATE_NO_EXPOSURE, /* no window exposure (no traffic): nothing to judge */
};

struct judge_rate_out {
	enum judge_rate_outcome outcome;
	double p_value;     /* mid-p of the conditional binomial test; NaN when not computed */
	double ratio;       /* window rate / baseline rate; +Inf with a zero baseline rate */
};

/*
 * The Poisson rate-ratio test by conditioning on the total (Przyborowski-Wilenski): given
 * n = base + win events, win ~ Binomial(n, p0) with p0 = tw / (tb + tw) under H0 (equal rates);
 * the one-sided mid-p value below alpha, an observed ratio of at least max_ratio and at least
 * min_events window events fail. Counts are rounded to integers (increase() extrapolates).
 * Returns 0, or -EINVAL for negative, NaN or out-of-range input. Pure; any thread.
 */
int judge_rate_test(const struct judge_rate_in *in, struct judge_rate_out *out);

/* ---- backends: where the checks' PromQL is evaluated ---- */

/*
 * Evaluate the instant query 'expr' at 't_ms' and fold its series' values into *v (already NaN):
 * their sum with 'sum', else their maximum, NaN values skipped (judge_fold). *nseries: how many
 * series the result had (a scalar counts as one). Returns 0, or an error code with one line in
 * 'err'. Called on the judging thread.
 */
struct judge_backend {
	int (*instant)(void *ctx, const char *expr, int64_t t_ms, bool sum, double *v,
		       size_t *nseries, char *err, size_t errlen);
	/* The same folded at n steps start_ms, start_ms + step_ms, ... into v[0..n-1] (already
	 * NaN): one range query instead of n instant ones. */
	int (*range)(void *ctx, const char *expr, int64_t start_ms, int64_t step_ms, size_t n,
		     bool sum, double *v, char *err, size_t errlen);
	void *ctx;
};

/* The local backend's state: a source and the per-query limits (copied). */
struct judge_local {
	const struct promql_source *src; /* borrowed while the backend is used */
	struct promql_limits limits;
};

/* Fold 'x' into '*acc' as the backends do: NaN skipped, sum or maximum. Pure. */
void judge_fold(double *acc, double x, bool sum);

/*
 * A backend evaluating here over 'src' (e.g. promql_source_store_init's) with 'lim'; 'l' holds
 * its state and must outlive the backend's use. Pure set-up; the backend runs on one thread.
 */
void judge_backend_local(struct judge_backend *be, struct judge_local *l,
			 const struct promql_source *src, const struct promql_limits *lim);

/* ---- checks ---- */

enum judge_kind {
	JUDGE_KIND_ALERT, /* fails when the expression returns any series (an alerting rule) */
	JUDGE_KIND_COUNT, /* an event count: rate-ratio test against the baseline */
	JUDGE_KIND_VALUE, /* a value (latency quantile, CPU ratio): ceiling and/or ratio to baseline */
};

enum judge_severity { JUDGE_SEV_CRITICAL, JUDGE_SEV_WARNING };

/* A check as the judge runs it; strings borrowed from the config or the built-in table. In 'expr'
 * and 'exposure' the text $range stands for the period's length ("1800s"). */
struct judge_check {
	const char *name;
	const char *expr;
	const char *description;   /* may be NULL */
	enum judge_kind kind;
	enum judge_severity severity;
	const char *exposure;      /* COUNT: the denominator's expression; NULL: seconds */
	double max;                /* ceiling on the window value; NaN: none */
	double max_ratio;          /* window / baseline limit; NaN: none */
	double min_events;         /* COUNT: fewer window events never fail */
};

/* The built-in checks of the deploy plan, used when the config's judge.checks is empty: a static
 * table of *n entries (never freed). Pure; any thread. */
const struct judge_check *judge_default_checks(size_t *n);

enum judge_result {
	JUDGE_PASS = 0,
	JUDGE_FAIL = 1,
	JUDGE_INCONCLUSIVE = 2,
	JUDGE_ERROR = 3,  /* the query failed: reported, never counted as passed */
	JUDGE_WARN = 4,   /* a warning-severity check over its limit; the verdict does not fail */
	JUDGE_SKIP = 5,   /* a value check with no data before nor after the marker: not collected
			   * on this host (data that vanishes after the marker is INCONCLUSIVE) */
};

/* "PASS", "FAIL", "INCONCLUSIVE", "ERROR", "WARN", "SKIP". Static strings; pure. */
const char *judge_result_name(enum judge_result r);

/* A series of a check over baseline and window, for the sparkline (NaN: no point). */
#define JUDGE_SPARK_POINTS 24

struct judge_check_result {
	const struct judge_check *check;
	enum judge_result result;
	double base_value, win_value;       /* NaN: no data */
	double base_exposure, win_exposure; /* COUNT; NaN otherwise */
	double threshold;                   /* the limit the window value was held to; NaN: none */
	double p_value;                     /* COUNT; NaN otherwise */
	double spark[JUDGE_SPARK_POINTS];   /* first half baseline, second half window */
	char reason[256];
};

/* An exception fingerprint first seen after the marker. */
struct judge_new_exception {
	char *fingerprint, *class_name, *location, *message, *sample;
	uint64_t count;
	int64_t first_seen_ms;
};

struct judge_options {
	int64_t marker_ms;       /* the deploy */
	int64_t now_ms;          /* the one "now" of this judgement */
	int64_t baseline_ms;     /* before the marker; default 30m */
	int64_t window_ms;       /* after the marker; default 30m */
	int64_t warmup_ms;       /* first part of the window left out; default 1m */
	int64_t lookback_ms;     /* an exception seen within this before the marker is not new */
	double alpha;            /* default 0.01 */
	double min_traffic;      /* window requests/entries below it: INCONCLUSIVE; default 10 */
	const char *traffic;     /* expression of the traffic count; NULL: the built-in */
	uint64_t new_exception_min_count; /* default 3 */
	bool new_exceptions_warn;/* warn instead of failing */
	bool new_exceptions_off;
};

/* The whole judgement: per-check results, new exceptions, the verdict. Free with judge_free(). */
struct judge_report {
	const char *deploy;      /* borrowed from the caller */
	struct judge_options opt;
	enum judge_result verdict;
	char summary[512];       /* one line: why */
	double base_traffic, win_traffic;
	bool window_complete;
	struct judge_check_result *checks;
	size_t nchecks;
	struct judge_new_exception *new_exc;
	size_t nnew_exc;
	bool new_exc_checked;
	double elapsed_ms;
	double cpu_ms;           /* CPU time of the judging thread meanwhile (elapsed_ms counts
				  * waiting for a core too) */
};

/*
 * Judge the deploy named 'deploy' (borrowed for the report's life) with the checks 'checks'
 * (borrowed likewise) through the backend 'be'; 'st' (may be NULL: no catalog, e.g. a remote Prometheus) gives
 * the new exceptions. Returns 0 and *out, or -EINVAL for bad options (message in err). A failing
 * query is a check result (JUDGE_ERROR), not an error of this function. Calling thread only.
 */
int judge_run(const char *deploy, const struct judge_check *checks, size_t nchecks,
	      const struct judge_options *opt, const struct judge_backend *be, struct store *st,
	      struct judge_report **out, char *err, size_t errlen);
/* Free a report and its new exceptions. NULL is a no-op. Any thread. */
void judge_report_free(struct judge_report *r);

/* Fill defaults into the options left 0 (baseline 30m, window 30m, warm-up 1m, lookback 7d,
 * alpha 0.01, min_traffic 10, new_exception_min_count 3). Pure; any thread. */
void judge_options_defaults(struct judge_options *opt);

/* ---- rendering (judge_render.c) ---- */

/* The report as a table for people: the verdict line first, then one row per check, sparklines
 * (UTF-8 blocks) when 'spark'. Appends to 'out' (cut at its cap). 'r' borrowed; pure; any
 * thread. */
void judge_render_table(const struct judge_report *r, bool spark, struct buf *out);
/* The full detail as JSON (also GET /api/v1/judge's data): every number (NaN as null), the
 * expressions, the series, the new exceptions with their samples. Appends to 'out' (cut at its
 * cap). 'r' borrowed; pure; any thread. */
void judge_render_json(const struct judge_report *r, struct buf *out);

#endif
