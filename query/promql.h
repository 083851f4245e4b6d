#ifndef DW_QUERY_PROMQL_H
#define DW_QUERY_PROMQL_H

/*
 * PromQL, as Prometheus 2.42 reads and evaluates it (docs/promql.md lists what we support and
 * where we differ on purpose). Three parts, as Prometheus splits promql/parser from promql and
 * storage.Querier:
 *
 *   - parsing: promql_parse() turns text into an expression (struct promql_expr) and knows its
 *     result type; promql_parse_selector() reads a lone series selector (`dump --match`, the
 *     API's match[]);
 *   - the source (struct promql_source): where series and samples come from, as a table of
 *     functions, with one implementation over the store (promql_source_store_init()); anything
 *     else (a remote Prometheus) can implement the same three functions;
 *   - evaluation: promql_eval_instant() / promql_eval_range() with the limits passed in, giving a
 *     struct promql_result that owns all its memory (one arena per query, freed by
 *     promql_result_free()).
 *
 * Errors are the PROMQL_E_* codes of core/err.h (err_str() names them) with a one-line message in
 * the caller's 'err' buffer. Each code is one of Prometheus's API error types
 * (promql_error_type()), so the HTTP API answers with Prometheus's status:
 *   PROMQL_E_BAD_DATA          bad_data   400  parse errors ("1:10: parse error: ..."), bad
 *                                              arguments (step, too many points per series)
 *   PROMQL_E_EXECUTION         execution  422  errors while evaluating (e.g. many-to-many matching)
 *   PROMQL_E_TOO_MANY_SAMPLES  execution  422  the query would load more samples than allowed
 *   PROMQL_E_TIMEOUT           timeout    503  the deadline passed
 *   PROMQL_E_CANCELED          canceled   499  the caller's cancel check said stop
 *   PROMQL_E_SOURCE            internal   500  the source failed (store error, remote down)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/model.h"

struct store_reader;

/* ---- limits on untrusted input ---- */

/* Series selectors: total length and number of matchers (the metric name counts). */
#define PROMQL_MAX_SELECTOR_LEN 65536
#define PROMQL_MAX_MATCHERS 64
/* Whole expressions: length in bytes, and nesting depth (parentheses, function calls, operators,
 * subqueries; each link of a chain a + b + c counts one), which bounds the parser's and the
 * evaluator's recursion. Prometheus has no such limit (Go stacks grow); 1000 levels take up to
 * ~2 MiB of stack (measured: 995 nested calls need more than 1 MiB, less than 2), so a thread
 * that evaluates PromQL needs a stack of several MiB: the HTTP workers get HTTP_THREAD_STACK. */
#define PROMQL_MAX_QUERY_LEN 65536
#define PROMQL_MAX_DEPTH 1000

/* Defaults for struct promql_limits fields left 0. */
#define PROMQL_DEFAULT_MAX_SAMPLES 50000000ULL /* Prometheus's --query.max-samples */
#define PROMQL_DEFAULT_MAX_POINTS 11000        /* points per series in a range query (the API's) */
#define PROMQL_DEFAULT_LOOKBACK_MS 300000      /* --query.lookback-delta: 5 minutes */

/* ---- series selectors ---- */

/*
 * Parse a series selector: `metric`, `metric{a="x",b!="y",c=~"re",d!~"re"}`, `{__name__=~"x.*"}`,
 * with a trailing comma allowed inside the braces and whitespace anywhere between tokens. Label
 * values are Go strings: "..." and '...' with Go's escapes, `...` raw. Regexes are checked with
 * PCRE2 (anchored at both ends, UTF) as the store will run them. A metric name becomes a
 * __name__ equality matcher placed first; the other matchers follow in input order.
 *
 * On success returns 0 and *out is an array of *n matchers whose name and value strings it owns;
 * free it with promql_matchers_free(). On error returns -EINVAL, leaves *out NULL and *n 0, and
 * writes one line such as "1:14: parse error: unexpected end of input inside braces" into 'err'
 * (errlen bytes, may be 0). A selector whose matchers all match the empty string is refused
 * ("vector selector must contain at least one non-empty matcher"), as are label values holding a
 * NUL byte (a C string cannot carry it). Pure; any thread.
 */
int promql_parse_selector(const char *input, struct matcher **out, size_t *n, char *err,
			  size_t errlen);

/*
 * Append 'len' bytes of 's' to 'out' as a Go double-quoted string (strconv.Quote): how PromQL and
 * `promtool tsdb dump` print label values. Returns 0 or -E2BIG at out's cap. Any thread.
 */
int promql_quote(struct buf *out, const char *s, size_t len);

/*
 * Append to 'out' the expression 'expr' with the matchers 'extra' (a selector's inside, e.g.
 * `instance=~"web-.*",job="app"`) added to every vector selector, as a label-enforcing proxy in
 * front of Prometheus does: `rate(x[5m])` becomes `rate(x{extra}[5m])`, `x{a="b"}` becomes
 * `x{extra,a="b"}`. Only the selectors change; the rest of the text is copied as written, and the
 * result is parsed again before it is returned. Returns 0, or PROMQL_E_BAD_DATA with one line in
 * 'err' when 'expr' or 'extra' does not parse or the result is over out's cap (then 'out' may hold
 * part of it). Pure; any thread. (query/rewrite.c; judge --prometheus --selector.)
 */
int promql_add_matchers(const char *expr, const char *extra, struct buf *out, char *err,
			size_t errlen);

/* Free what promql_parse_selector() returned: the n matchers and their strings. NULL is a no-op. */
void promql_matchers_free(struct matcher *m, size_t n);

/* ---- expressions ---- */

/*
 * The type of a PromQL value (Prometheus's parser.ValueType). An instant query's result has the
 * expression's type; a range query's result is always a matrix.
 */
enum promql_type {
	PROMQL_TYPE_NONE = 0,
	PROMQL_TYPE_SCALAR,
	PROMQL_TYPE_VECTOR, /* an instant vector */
	PROMQL_TYPE_MATRIX, /* a range vector */
	PROMQL_TYPE_STRING,
};

/* The API's resultType names: "scalar", "vector", "matrix", "string" ("none" for NONE).
 * Static string; any thread. */
const char *promql_type_name(enum promql_type t);

/* A parsed expression: immutable after promql_parse(), so one expression may be evaluated by
 * several threads at once. */
struct promql_expr;

/*
 * Parse a PromQL expression (at most PROMQL_MAX_QUERY_LEN bytes, nesting at most
 * PROMQL_MAX_DEPTH), checking types as Prometheus's parser does (function argument types, binary
 * operator operand types, `bool` only on comparisons, ...). Regexes are compiled here, so a bad
 * regex is a parse error. `@ start()` / `@ end()` are resolved at evaluation.
 *
 * On success returns 0 and *out (free with promql_expr_free()). On error returns
 * PROMQL_E_BAD_DATA, leaves *out NULL and writes one line with Prometheus's text and the 1-based
 * line:column of the offending token into 'err' (errlen bytes, may be 0), e.g.
 *   1:10: parse error: unexpected <op:*>
 *   1:6: parse error: expected type range vector in call to function "rate", got instant vector
 * Pure; any thread.
 */
int promql_parse(const char *input, struct promql_expr **out, char *err, size_t errlen);

/* The expression's result type: "1+1" is PROMQL_TYPE_SCALAR, "up[5m]" PROMQL_TYPE_MATRIX. */
enum promql_type promql_expr_type(const struct promql_expr *e);

/* Free a parsed expression. NULL is a no-op. No evaluation of it may be running. */
void promql_expr_free(struct promql_expr *e);

/* ---- the source: where series and samples come from (Prometheus's storage.Querier) ---- */

/*
 * One series handed from a source to the engine. Everything is borrowed only for the duration of
 * the callback that receives it; the engine copies what it keeps.
 */
struct promql_source_series {
	const struct label *labels; /* sorted by model_label_cmp (__name__ first), no empty values */
	size_t nlabels;
	const int64_t *t_ms;        /* sample timestamps, strictly increasing; NULL when nsamples 0 */
	const double *v;            /* sample values; stale markers included as stored */
	size_t nsamples;
};

/*
 * A source's functions. Each returns 0, the non-zero return of the engine's callback (which stops
 * the walk and must be passed back unchanged), or an error: -EINVAL for bad matchers (a message in
 * 'err'), anything else for a failure of the source itself (the engine reports it as
 * PROMQL_E_SOURCE with the message in 'err' when one was written, else err_str(code)).
 * Matchers have Prometheus's semantics (model_matcher_compile()); at least one of them does not
 * match the empty string (the engine and the API refuse selectors without one).
 * Time bounds are milliseconds, inclusive at both ends; INT64_MIN / INT64_MAX mean unbounded.
 * The engine calls a source from one thread at a time, one query per source.
 */
/* What a source's select() hands over with each series. */
enum promql_want {
	PROMQL_WANT_LABELS = 0,   /* the labels only, nsamples 0 (for /api/v1/series) */
	PROMQL_WANT_SAMPLES = 1,  /* the samples with their values */
	/* The samples, but their values need only tell stale markers apart (count_over_time,
	 * present_over_time): a stale marker must come as stored, any other value may be 0. A
	 * source may hand the real values, as for PROMQL_WANT_SAMPLES; the store skips decoding
	 * them where its chunk format allows. */
	PROMQL_WANT_PRESENCE = 2,
};

struct promql_source_ops {
	/*
	 * Every series matching all 'nm' matchers that has samples in [from_ms, to_ms], each passed
	 * once to fn(), in any order. Unless 'want' is PROMQL_WANT_LABELS the series carries its
	 * samples in [from_ms, to_ms] in time order (whole decoded chunks, so the engine iterates
	 * by index); with it, nsamples is 0. 'max_samples' bounds the memory a source
	 * holds: a series with more samples than that in the range stops the call with
	 * PROMQL_E_TOO_MANY_SAMPLES. The engine works on each series inside fn and keeps no
	 * pointer to it, so a source needs to hold only one series at a time.
	 */
	int (*select)(void *ctx, const struct matcher *m, size_t nm, int64_t from_ms,
		      int64_t to_ms, enum promql_want want, uint64_t max_samples,
		      int (*fn)(void *sink, const struct promql_source_series *s), void *sink,
		      char *err, size_t errlen);
	/*
	 * Label names, each once, in byte order: of all series when nm is 0 (a source may then
	 * ignore the time bounds, as the store's label index does), else of the series matching the
	 * matchers with samples in [from_ms, to_ms]. The name is borrowed for the call.
	 */
	int (*label_names)(void *ctx, const struct matcher *m, size_t nm, int64_t from_ms,
			   int64_t to_ms, int (*fn)(void *sink, const char *name), void *sink,
			   char *err, size_t errlen);
	/* The values of label 'name', each once, in byte order, over the same choice of series as
	 * label_names. */
	int (*label_values)(void *ctx, const char *name, const struct matcher *m, size_t nm,
			    int64_t from_ms, int64_t to_ms,
			    int (*fn)(void *sink, const char *value), void *sink, char *err,
			    size_t errlen);
	/*
	 * Optional (NULL: the engine calls select() over the windows' span): select() with the
	 * samples of each series only inside 'nwin' windows [from_ms[i], to_ms[i]] (inclusive,
	 * ascending, disjoint: to_ms[i] < from_ms[i + 1]), in time order, so a query whose steps
	 * lie far apart reads its windows rather than the whole span. The series are those
	 * select() would pass for [from_ms[0], to_ms[nwin - 1]]; one with no sample in any
	 * window may be left out. 'max_samples' bounds the samples inside the windows; 'want'
	 * is PROMQL_WANT_SAMPLES or PROMQL_WANT_PRESENCE, as for select().
	 */
	int (*select_windows)(void *ctx, const struct matcher *m, size_t nm,
			      const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
			      enum promql_want want, uint64_t max_samples,
			      int (*fn)(void *sink, const struct promql_source_series *s),
			      void *sink, char *err, size_t errlen);
};

/* A source: its functions and their context. Plain data; the owner decides its lifetime. */
struct promql_source {
	const struct promql_source_ops *ops;
	void *ctx;
};

/*
 * The source over the local store: reads through 'r' (borrowed; it must stay open, and be used by
 * one thread, while the source is in use). Label names and values without matchers come from the
 * store's label index; with matchers from the matching series. Initialises 'src' in place;
 * nothing to free. Any thread.
 */
void promql_source_store_init(struct promql_source *src, struct store_reader *r);

/* ---- evaluation ---- */

/*
 * Limits for one evaluation. Zero fields take the PROMQL_DEFAULT_* values. All are enforced by the
 * engine while it works, not after.
 */
struct promql_limits {
	/* Samples the query may hold at once, as Prometheus's --query.max-samples: those of the
	 * series being worked on (one at a time) plus the per-step values computed so far
	 * (docs/promql.md). Over it: PROMQL_E_TOO_MANY_SAMPLES "query processing would load too
	 * many samples into memory in query execution". */
	uint64_t max_samples;
	/* clock_mono_ns() value past which evaluation stops with PROMQL_E_TIMEOUT ("query timed out
	 * in expression evaluation"); 0: no deadline. Checked between steps and series. */
	int64_t deadline_ns;
	/* Range queries: the most points per series, (end - start) / step + 1. Over it:
	 * PROMQL_E_BAD_DATA "exceeded maximum resolution of 11,000 points per timeseries. Try
	 * decreasing the query resolution (?step=XX)", as Prometheus's API. */
	size_t max_points;
	/* How far back an instant selector looks for a sample. */
	int64_t lookback_ms;
	/* Polled as the deadline is; true stops evaluation with PROMQL_E_CANCELED. May be NULL.
	 * Called on the evaluating thread. */
	bool (*cancelled)(void *ctx);
	void *cancel_ctx;
};

/* One sample of a result: milliseconds and a float value (stale markers never appear). */
struct promql_point {
	int64_t t_ms;
	double v;
};

/* One series of a vector or matrix result. */
struct promql_series {
	const struct label *labels; /* sorted by model_label_cmp; __name__ kept only where
				     * Prometheus keeps it (selectors, some functions) */
	size_t nlabels;
	const struct promql_point *points; /* a vector: exactly one, at the evaluation time; a
					    * matrix: in time order */
	size_t npoints;
};

/*
 * The result of one evaluation. It owns everything it points to (one arena), freed at once by
 * promql_result_free(); nothing in it borrows from the source or the expression.
 */
struct promql_result {
	enum promql_type type;
	/* PROMQL_TYPE_SCALAR: the value at the evaluation time. */
	struct promql_point scalar;
	/* PROMQL_TYPE_STRING: the string and the evaluation time. */
	const char *string;
	int64_t string_t_ms;
	/* PROMQL_TYPE_VECTOR and PROMQL_TYPE_MATRIX. Vectors are in the order Prometheus returns
	 * them (sort(), sort_desc(), topk keep theirs; otherwise as evaluated); matrices sorted by
	 * label set, as Prometheus sorts them. */
	const struct promql_series *series;
	size_t nseries;
	/* Warnings for the API's "warnings" list (e.g. from a source). */
	const char *const *warnings;
	size_t nwarnings;
	/* Statistics: samples loaded from the source, and the most held at once. */
	uint64_t samples_loaded;
	uint64_t peak_samples;
	/* Private: the arena that holds the result itself. */
	void *arena_;
};

/*
 * Evaluate 'e' at t_ms (an instant query, Prometheus's /api/v1/query): the result has e's type —
 * a matrix for a range-vector expression such as `up[5m]`.
 * promql_eval_range() is the range query, evaluated at start_ms + k * step_ms for every k with that time <= end_ms, as
 * Prometheus does (no alignment). 'e' must be a scalar or an instant vector (else
 * PROMQL_E_BAD_DATA "invalid expression type \"range vector\" for range query, must be Scalar or
 * instant Vector"); step_ms > 0 and start_ms <= end_ms (else PROMQL_E_BAD_DATA). The result is
 * always a matrix.
 *
 * 'e' and 'src' are borrowed for the call; 'lim' may be NULL (all defaults). On success returns 0
 * and *out (free with promql_result_free()). On error returns a PROMQL_E_* code (see the top of
 * this header), *out is NULL and 'err' (errlen bytes, may be 0) holds one line of Prometheus's
 * text. The whole evaluation runs on the calling thread; one source per concurrent query.
 */
int promql_eval_instant(const struct promql_expr *e, const struct promql_source *src,
			int64_t t_ms, const struct promql_limits *lim, struct promql_result **out,
			char *err, size_t errlen);
/* The range query described above (Prometheus's /api/v1/query_range); same ownership, errors
 * and thread as promql_eval_instant(). */
int promql_eval_range(const struct promql_expr *e, const struct promql_source *src,
		      int64_t start_ms, int64_t end_ms, int64_t step_ms,
		      const struct promql_limits *lim, struct promql_result **out, char *err,
		      size_t errlen);

/* Free a result and everything it points to. NULL is a no-op. Any thread. */
void promql_result_free(struct promql_result *r);

/*
 * The Prometheus API error type of a code returned by this module: "bad_data", "execution",
 * "timeout", "canceled", "internal" (for PROMQL_E_SOURCE and any other code). Static string; any
 * thread.
 */
const char *promql_error_type(int code);

#endif
