#ifndef DW_QUERY_API_H
#define DW_QUERY_API_H

/*
 * The Prometheus HTTP API (/api/v1, as Prometheus 2.42's web/api/v1 answers it), apart from the
 * engine as Prometheus keeps it apart, and apart from any HTTP server: a request is a method, a
 * path and the decoded parameters (the URL's query string and a form body, as Go's
 * Request.Form); the answer is a status and a JSON body. cli/ adapts the agent's HTTP server to
 * it, so query/ never includes exporters/ (the dependency rule).
 *
 * Paths: /api/v1/query, /api/v1/query_range, /api/v1/series, /api/v1/labels,
 * /api/v1/label/<name>/values, /api/v1/metadata, /api/v1/status/buildinfo,
 * /api/v1/query_exemplars (always empty: the store keeps no exemplars). GET everywhere, form POST
 * where Prometheus takes it. The envelope is {"status","data"} or {"status":"error","errorType",
 * "error"}, with "warnings" when there are any; values are strings ("NaN", "+Inf", the shortest
 * text that reads back to the same double), times are Unix seconds.
 *
 * Errors (Prometheus's types and status codes): 400 bad_data (a parse error with its line:column,
 * a bad parameter, a range query over max_points_per_series), 422 execution (evaluation errors,
 * over max_samples), 503 timeout (past the query's time, also while waiting for a slot),
 * 503 unavailable (no store yet), 405 for a method the path does not take, 404 for an unknown
 * path.
 *
 * Queries read one LMDB snapshot each (store_reader): they never block the writer, and a
 * query sees one consistent state of the store. See docs/api.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "query/promql.h"
#include "store/store.h"

struct promql_api;

struct promql_api_options {
	uint64_t max_points_per_series; /* range queries: (end - start) / step at most this;
					 * 0: 11000 */
	uint64_t max_samples;       /* samples one query may hold; 0: 5000000 */
	int64_t timeout_ms;         /* per query, also bounding the wait for a slot; 0: 30 s */
	unsigned max_concurrent;    /* queries evaluated at once; 0: 4 */
	int64_t (*now_ms)(void);    /* wall clock, for a query without time= (clock_now_ms) */
	int64_t (*mono_ns)(void);   /* CLOCK_MONOTONIC nanoseconds, for deadlines (clock_mono_ns) */
	const char *version;        /* for status/buildinfo; copied */
};

/*
 * A new API over no store yet (promql_api_set_store() gives it one; until then queries answer
 * 503 unavailable). 'opt' is copied. Returns 0 and *out (free with promql_api_free()), or
 * -EINVAL with one line in 'err' (errlen bytes) when a clock is missing. Any thread.
 */
int promql_api_new(const struct promql_api_options *opt, struct promql_api **out, char *err,
		   size_t errlen);

/*
 * Serve from 'st' (borrowed: it must stay open until promql_api_free() or until it is replaced;
 * NULL: unavailable). Requests already running keep the store they started with, so the caller
 * must not close a replaced store while requests may run. Any thread; atomic.
 */
void promql_api_set_store(struct promql_api *api, struct store *st);

/* Free the API. No request may be running (free the HTTP server first). NULL is a no-op. Any
 * thread. */
void promql_api_free(struct promql_api *api);

/* One request parameter, decoded. Both strings are borrowed for the call. */
struct promql_api_param {
	const char *name;
	const char *value;
};

/* A request. Everything is borrowed for the call. */
struct promql_api_request {
	const char *method;                    /* "GET", "POST", ... */
	const char *path;                      /* decoded, without the query string */
	const struct promql_api_param *params; /* form body then URL parameters, in order */
	size_t nparams;
};

/* The answer. 'body' is the caller's (initialised; its max caps the answer). */
struct promql_api_response {
	unsigned status;    /* set by promql_api_handle() */
	struct buf *body;   /* JSON is appended; content type application/json */
	const char *allow;  /* with 405: the methods the path takes ("GET, POST"); static */
};

/*
 * Answer one request: sets resp->status and appends the JSON envelope to resp->body. Every
 * outcome, errors included, is an answer in Prometheus's shape, so this returns 0; an answer
 * larger than resp->body's max is replaced by a 422 execution error naming the size.
 * Called on any request thread, concurrently: at most max_concurrent queries evaluate at once,
 * the others wait for a slot within their timeout. Logs nothing: errors go to the client.
 */
int promql_api_handle(struct promql_api *api, const struct promql_api_request *req,
		      struct promql_api_response *resp);

/*
 * The paths the API answers, for the caller's router: i = 0, 1, ... until NULL. *prefix is true
 * for a path that stands for every path below it (/api/v1/label/). Static strings; pure.
 */
const char *promql_api_route(size_t i, bool *prefix);

/*
 * GET /api/v1/errors: the error catalog's fingerprints, apart from the API's request type so
 * `deploywatch errors --json` prints the same. 'names'/'values' are the n decoded parameters
 * (borrowed): start, end (RFC 3339 or Unix seconds, as the Prometheus API takes times; default
 * the hour before now_ms), new ("true" or "1": only fingerprints first seen in the range), limit
 * (1 to 100000, default 1000: the most recently seen); others are ignored, as Prometheus does.
 * Writes the envelope to 'json' (replacing its contents): {"status":"success","data":[...]} or
 * {"status":"error","errorType":"bad_data",...}; returns the HTTP status: 200, 400 for a bad
 * parameter, 500 for a store error. Reads 'st' in one read transaction. Any thread.
 */
int promql_api_errors(struct store *st, const char *const *names, const char *const *values,
		      size_t n, int64_t now_ms, struct buf *json);

/*
 * GET and POST /api/v1/deploys, transport-neutral: GET lists the markers; POST writes one from
 * the parameters name (required), at (RFC 3339 or Unix seconds; default now_ms) and note.
 * 'names'/'values' are the n decoded parameters, borrowed. Writes the Prometheus API envelope to
 * 'json' and returns the HTTP status: 200, 400 for a bad parameter, 405 for another method, 500
 * for a store error, 503 for a read-only store. Any thread (a POST takes the store's write lock
 * briefly: store_deploy_put).
 */
int promql_api_deploys(struct store *st, const char *method, const char *const *names,
		       const char *const *values, size_t n, int64_t now_ms, struct buf *json);

/*
 * Append the success envelope of a query result: {"status":"success","data":{"resultType":...,
 * "result":...}} with "warnings" when the result has any. 'r' is borrowed for the call. For
 * `deploywatch query --json`, which prints what the API would answer. Returns 0 or -E2BIG at
 * out's cap (out then holds a cut text). Pure; any thread.
 */
int promql_api_put_result(struct buf *out, const struct promql_result *r);

/*
 * Append 'ms' (Unix milliseconds) as the API writes times: seconds with up to three decimals and
 * no trailing zeros, as Go's strconv.FormatFloat(ms / 1000, 'f', -1, 64) ("1700000000",
 * "1700000000.5", "-0.001"). Returns 0 or -E2BIG at out's cap. Pure; any thread.
 */
int promql_api_put_time(struct buf *out, int64_t ms);

/*
 * Parse a duration parameter as Prometheus's API does (its parseDuration, for step= and
 * timeout=): a number of seconds ("60", "0.5", rounded to milliseconds) or a duration ("1m30s",
 * "5m"), into *ms. Returns 0, or -EINVAL for anything else (also for a number past the int64
 * range of milliseconds); the sign is the caller's to check. For `deploywatch query --step`,
 * which takes what the API takes. Pure; any thread.
 */
int promql_api_parse_duration(const char *v, int64_t *ms);

/*
 * Append 's' as a JSON string the way Go's encoding/json writes it: ", \ and control characters
 * escaped, <, >, & as \u003c \u003e \u0026, U+2028 and U+2029 escaped, and every byte that is
 * not valid UTF-8 as \ufffd. Returns 0 or -E2BIG at out's cap. Pure; any thread.
 */
int promql_api_put_string(struct buf *out, const char *s);

#endif
