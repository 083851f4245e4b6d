/*
 * The /api/v1 handlers (query/api.h): parameters in, Prometheus's JSON envelope out. The engine
 * (promql.h) does the evaluating; this file checks parameters as Prometheus's web/api/v1 does,
 * takes a store snapshot per request, bounds concurrency and renders results.
 */
#include "query/api.h"
#include "query/api_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/err.h"
#include "core/model.h"
#include "core/timeparse.h"
#include "query/promql.h"

#define API_DEFAULT_MAX_POINTS 11000
#define API_DEFAULT_MAX_SAMPLES 5000000
#define API_DEFAULT_TIMEOUT_MS 30000
#define API_DEFAULT_MAX_CONCURRENT 4
#define API_MAX_MATCH 64 /* match[] parameters per request */
#define API_ERR_MAX 1024

/* Prometheus's "unbounded" API times (minTime / maxTime), in milliseconds. */
#define API_MIN_TIME_MS INT64_MIN
#define API_MAX_TIME_MS INT64_MAX

struct promql_api {
	struct promql_api_options opt;
	char *version;
	_Atomic(struct store *) store;

	pthread_mutex_t lock; /* protects active */
	pthread_cond_t slot_free;
	unsigned active;      /* queries evaluating now */
};

/* What a handler decided: an HTTP status and, for errors, Prometheus's type and a message. */
struct api_error {
	unsigned status;
	const char *type;
	char msg[API_ERR_MAX];
};

static void put_error(struct promql_api_response *resp, const struct api_error *e)
{
	buf_reset(resp->body);
	resp->status = e->status;
	/* The message is ours and short; a body too small even for it stays empty. */
	if (buf_printf(resp->body, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", e->type) ||
	    promql_api_put_string(resp->body, e->msg) || buf_putc(resp->body, '}'))
		buf_reset(resp->body);
}

static int set_error(struct api_error *e, unsigned status, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int set_error(struct api_error *e, unsigned status, const char *type, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->type = type;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The status Prometheus's API gives each error type. */
static unsigned error_status(const char *type)
{
	if (strcmp(type, "bad_data") == 0)
		return 400;
	if (strcmp(type, "execution") == 0)
		return 422;
	if (strcmp(type, "timeout") == 0 || strcmp(type, "unavailable") == 0)
		return 503;
	if (strcmp(type, "canceled") == 0)
		return 499;
	if (strcmp(type, "not_found") == 0)
		return 404;
	return 500;
}

static int engine_error(struct api_error *e, int code, const char *msg)
{
	const char *type = promql_error_type(code);

	return set_error(e, error_status(type), type, "%s", msg[0] ? msg : err_str(code));
}

/* ---------------------------------------------------------------------------------------- */
/* Parameters                                                                                 */

static const char *param(const struct promql_api_request *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

/* Prometheus's parseTime: Unix seconds (a fraction allowed) or RFC 3339. */
static int param_time(const struct promql_api_request *req, const char *name, int64_t dflt,
		      int64_t *out, struct api_error *e)
{
	const char *v = param(req, name);

	if (!v || !v[0]) {
		*out = dflt;
		return 0;
	}
	if (time_parse(v, out))
		return set_error(e, 400, "bad_data",
				 "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp",
				 name, v);
	return 0;
}

int promql_api_parse_duration(const char *v, int64_t *ms)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end != v && !*end && !errno) {
		double m = round(d * 1000.0);

		if (!isfinite(m) || m >= 9.2e18 || m <= -9.2e18)
			return -EINVAL;
		*ms = (int64_t)m;
		return 0;
	}
	return duration_parse(v, ms);
}

static int param_duration(const struct promql_api_request *req, const char *name, int64_t *out,
			  struct api_error *e)
{
	const char *v = param(req, name);

	if (!v || promql_api_parse_duration(v, out))
		return set_error(e, 400, "bad_data",
				 "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration",
				 name, v ? v : "");
	return 0;
}

/* The match[] selectors, parsed. */
struct match_set {
	struct matcher *m[API_MAX_MATCH];
	size_t nm[API_MAX_MATCH];
	size_t n;
};

static void match_set_release(struct match_set *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		promql_matchers_free(ms->m[i], ms->nm[i]);
	ms->n = 0;
}

static int param_matches(const struct promql_api_request *req, struct match_set *ms,
			 struct api_error *e)
{
	char err[512];

	ms->n = 0;
	for (size_t i = 0; i < req->nparams; i++) {
		if (strcmp(req->params[i].name, "match[]") != 0)
			continue;
		if (ms->n == API_MAX_MATCH) {
			match_set_release(ms);
			return set_error(e, 400, "bad_data", "more than %d match[] parameters",
					 API_MAX_MATCH);
		}
		if (promql_parse_selector(req->params[i].value, &ms->m[ms->n], &ms->nm[ms->n], err,
					  sizeof(err))) {
			match_set_release(ms);
			return set_error(e, 400, "bad_data", "invalid parameter \"match[]\": %s", err);
		}
		ms->n++;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Slots, snapshots                                                                           */

static struct timespec mono_timespec(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
}

/* Wait for a query slot until 'deadline_ns' (monotonic). */
static int slot_acquire(struct promql_api *api, int64_t deadline_ns, struct api_error *e)
{
	int rc = 0;

	pthread_mutex_lock(&api->lock);
	while (api->active >= api->opt.max_concurrent) {
		struct timespec ts = mono_timespec(deadline_ns);

		if (pthread_cond_timedwait(&api->slot_free, &api->lock, &ts) == ETIMEDOUT &&
		    api->active >= api->opt.max_concurrent) {
			rc = set_error(e, 503, "timeout", "query timed out in query queue");
			break;
		}
	}
	if (!rc)
		api->active++;
	pthread_mutex_unlock(&api->lock);
	return rc;
}

static void slot_release(struct promql_api *api)
{
	pthread_mutex_lock(&api->lock);
	api->active--;
	pthread_cond_signal(&api->slot_free);
	pthread_mutex_unlock(&api->lock);
}

/* A request's snapshot of the store and the engine's source over it. */
struct snapshot {
	struct store *st;
	struct store_reader *r;
	struct promql_source src;
};

static int snapshot_begin(struct promql_api *api, struct snapshot *s, struct api_error *e)
{
	int rc;

	s->st = atomic_load(&api->store);
	s->r = NULL;
	if (!s->st)
		return set_error(e, 503, "unavailable", "the store is not open yet");
	rc = store_reader_begin(s->st, &s->r);
	if (rc)
		return set_error(e, 500, "internal", "cannot read the store: %s", err_str(rc));
	promql_source_store_init(&s->src, s->r);
	return 0;
}

static void snapshot_end(struct snapshot *s)
{
	store_reader_end(s->r);
	s->r = NULL;
}

/* The query's deadline: the configured timeout, lowered by a timeout= parameter. */
static int query_deadline(struct promql_api *api, const struct promql_api_request *req,
			  int64_t *deadline_ns, struct api_error *e)
{
	int64_t timeout = api->opt.timeout_ms, t;

	if (param(req, "timeout")) {
		if (param_duration(req, "timeout", &t, e))
			return -1;
		/* Zero or negative: already expired, as Prometheus's context.WithTimeout makes it. */
		if (t < timeout)
			timeout = t;
	}
	*deadline_ns = api->opt.mono_ns() + timeout * 1000000;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Handlers                                                                                   */

typedef int (*api_handler)(struct promql_api *api, const struct promql_api_request *req,
			   struct promql_api_response *resp, struct api_error *e);

/* 'v' with a comma between groups of three digits ("11,000"), as Prometheus's fixed message
 * writes its limit. */
static const char *thousands(char *out, size_t len, uint64_t v)
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;

	for (int i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	return out;
}

/* Parse the query parameter. Prometheus 2.42 words a parse error 'invalid parameter "query":
 * ...' for /query (invalidParamError) and bare for /query_range: 'named' chooses. */
static int parse_query(const struct promql_api_request *req, struct promql_expr **expr,
		       struct api_error *e, bool named)
{
	const char *q = param(req, "query");
	char err[API_ERR_MAX - 64];

	if (promql_parse(q ? q : "", expr, err, sizeof(err)))
		return set_error(e, 400, "bad_data", "%s%s",
				 named ? "invalid parameter \"query\": " : "", err);
	return 0;
}

/* Evaluate under a slot and a snapshot; render into the body. */
static int run_query(struct promql_api *api, const struct promql_api_request *req,
		     struct promql_api_response *resp, struct api_error *e,
		     const struct promql_expr *expr, bool range, int64_t start, int64_t end,
		     int64_t step)
{
	struct promql_limits lim = {
		.max_samples = api->opt.max_samples,
		/* The API checks points per series itself, with Prometheus's message. */
		.max_points = (size_t)api->opt.max_points_per_series + 1,
	};
	struct promql_result *res = NULL;
	struct snapshot snap;
	char err[API_ERR_MAX - 64] = "";
	int rc;

	if (query_deadline(api, req, &lim.deadline_ns, e) ||
	    slot_acquire(api, lim.deadline_ns, e))
		return -1;
	/* Spent in the queue, or given none: the engine might finish a cheap query without ever
	 * looking at the deadline, and Prometheus answers this case with a timeout. */
	if (api->opt.mono_ns() >= lim.deadline_ns) {
		slot_release(api);
		return set_error(e, 503, "timeout", "query timed out in query execution");
	}
	if (snapshot_begin(api, &snap, e)) {
		slot_release(api);
		return -1;
	}
	rc = range ? promql_eval_range(expr, &snap.src, start, end, step, &lim, &res, err,
				       sizeof(err))
		   : promql_eval_instant(expr, &snap.src, start, &lim, &res, err, sizeof(err));
	snapshot_end(&snap);
	slot_release(api);
	if (rc)
		return engine_error(e, rc, err);
	rc = promql_api_put_result(resp->body, res);
	promql_result_free(res);
	if (rc)
		return set_error(e, 422, "execution", "the response is larger than %zu bytes",
				 resp->body->max ? resp->body->max : BUF_DEFAULT_MAX);
	return 0;
}

static int h_query(struct promql_api *api, const struct promql_api_request *req,
		   struct promql_api_response *resp, struct api_error *e)
{
	struct promql_expr *expr = NULL;
	int64_t t;
	int rc;

	if (param_time(req, "time", api->opt.now_ms(), &t, e) || parse_query(req, &expr, e, true))
		return -1;
	rc = run_query(api, req, resp, e, expr, false, t, t, 0);
	promql_expr_free(expr);
	return rc;
}

static int h_query_range(struct promql_api *api, const struct promql_api_request *req,
			 struct promql_api_response *resp, struct api_error *e)
{
	struct promql_expr *expr = NULL;
	int64_t start, end, step;
	int rc;

	if (param_time(req, "start", INT64_MIN, &start, e) || param_time(req, "end", INT64_MIN,
									 &end, e))
		return -1;
	/* Prometheus requires both: a missing one is an empty string that does not parse. */
	if (start == INT64_MIN || end == INT64_MIN)
		return set_error(e, 400, "bad_data",
				 "invalid parameter \"%s\": cannot parse \"\" to a valid timestamp",
				 start == INT64_MIN ? "start" : "end");
	if (end < start)
		return set_error(e, 400, "bad_data", "invalid parameter \"end\": end timestamp must "
				 "not be before start time");
	if (param_duration(req, "step", &step, e))
		return -1;
	if (step <= 0)
		return set_error(e, 400, "bad_data",
				 "invalid parameter \"step\": zero or negative query resolution step "
				 "widths are not accepted. Try a positive integer");
	/* Unsigned: end - start may not fit in int64 for far-apart times; end >= start here. */
	if (((uint64_t)end - (uint64_t)start) / (uint64_t)step > api->opt.max_points_per_series) {
		char n[32];

		return set_error(e, 400, "bad_data",
				 "exceeded maximum resolution of %s points per timeseries. "
				 "Try decreasing the query resolution (?step=XX)",
				 thousands(n, sizeof(n), api->opt.max_points_per_series));
	}
	if (parse_query(req, &expr, e, false))
		return -1;
	if (promql_expr_type(expr) != PROMQL_TYPE_SCALAR &&
	    promql_expr_type(expr) != PROMQL_TYPE_VECTOR) {
		rc = set_error(e, 400, "bad_data",
			       "invalid expression type \"%s\" for range query, must be Scalar or "
			       "instant Vector",
			       promql_expr_type(expr) == PROMQL_TYPE_MATRIX ? "range vector"
									     : "string");
		promql_expr_free(expr);
		return rc;
	}
	rc = run_query(api, req, resp, e, expr, true, start, end, step);
	promql_expr_free(expr);
	return rc;
}

/* A growable list of owned strings, sorted and made unique at the end. */
struct str_list {
	char **v;
	size_t n, cap, max;
	bool over;
};

static int str_list_add(void *ctx, const char *s)
{
	struct str_list *l = ctx;

	if (l->n == l->max) {
		l->over = true;
		return -E2BIG;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(s);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void str_list_finish(struct str_list *l)
{
	size_t k = 0;

	qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	for (size_t i = 0; i < l->n; i++) {
		if (k && strcmp(l->v[k - 1], l->v[i]) == 0)
			free(l->v[i]);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
}

static void str_list_release(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Shared by labels and label/<name>/values: one source walk per match[] (or one without). */
static int label_walk(struct promql_api *api, const struct promql_api_request *req,
		      struct promql_api_response *resp, struct api_error *e, const char *name)
{
	struct str_list list = { .max = api->opt.max_samples };
	struct match_set ms;
	struct snapshot snap;
	char err[512] = "";
	int64_t start, end;
	int rc = 0;

	if (param_time(req, "start", API_MIN_TIME_MS, &start, e) ||
	    param_time(req, "end", API_MAX_TIME_MS, &end, e) || param_matches(req, &ms, e))
		return -1;
	if (snapshot_begin(api, &snap, e)) {
		match_set_release(&ms);
		return -1;
	}
	for (size_t i = 0; !rc && i < (ms.n ? ms.n : 1); i++) {
		/* Without match[] the source may answer from its label index, which ignores time;
		 * with start or end given, walk the series in that range instead, as asked. */
		static const struct matcher any_name = { MODEL_NAME_LABEL, MATCH_RE, ".+" };
		bool bounded = start != API_MIN_TIME_MS || end != API_MAX_TIME_MS;
		const struct matcher *m = ms.n ? ms.m[i] : bounded ? &any_name : NULL;
		size_t nm = ms.n ? ms.nm[i] : bounded;

		rc = name ? snap.src.ops->label_values(snap.src.ctx, name, m, nm, start, end,
						       str_list_add, &list, err, sizeof(err))
			  : snap.src.ops->label_names(snap.src.ctx, m, nm, start, end,
						      str_list_add, &list, err, sizeof(err));
	}
	snapshot_end(&snap);
	match_set_release(&ms);
	if (list.over)
		rc = set_error(e, 422, "execution", "more than %zu label %s", list.max,
			       name ? "values" : "names");
	else if (rc)
		rc = set_error(e, rc == -EINVAL ? 400 : 500, rc == -EINVAL ? "bad_data" : "internal",
			       "%s", err[0] ? err : err_str(rc));
	if (!rc) {
		str_list_finish(&list);
		if (promql_api_put_string_list(resp->body, list.v, list.n))
			rc = set_error(e, 422, "execution", "the response is too large");
	}
	str_list_release(&list);
	return rc;
}

static int h_labels(struct promql_api *api, const struct promql_api_request *req,
		    struct promql_api_response *resp, struct api_error *e)
{
	return label_walk(api, req, resp, e, NULL);
}

static int h_label_values(struct promql_api *api, const struct promql_api_request *req,
			  struct promql_api_response *resp, struct api_error *e)
{
	const char *name = req->path + strlen("/api/v1/label/");
	const char *slash = strchr(name, '/');
	char label[256];

	if (!slash || strcmp(slash, "/values") != 0)
		return set_error(e, 404, "not_found", "unknown API path %s", req->path);
	if ((size_t)(slash - name) >= sizeof(label) ||
	    !model_label_name_valid(name, (size_t)(slash - name)))
		return set_error(e, 400, "bad_data", "invalid label name: \"%.*s\"",
				 (int)(slash - name < 200 ? slash - name : 200), name);
	memcpy(label, name, (size_t)(slash - name));
	label[slash - name] = '\0';
	return label_walk(api, req, resp, e, label);
}

/* /api/v1/series: the label sets, each once, sorted. */
struct label_set {
	struct label *l; /* owned copies */
	size_t n;
};

struct series_list {
	struct label_set *v;
	size_t n, cap, max;
	bool over;
};

static int series_collect(void *ctx, const struct promql_source_series *s)
{
	struct series_list *sl = ctx;
	struct label *copy;

	if (sl->n == sl->max) {
		sl->over = true;
		return -E2BIG;
	}
	if (sl->n == sl->cap) {
		sl->cap = sl->cap ? sl->cap * 2 : 64;
		sl->v = xrealloc(sl->v, sl->cap * sizeof(*sl->v));
	}
	copy = xcalloc(s->nlabels ? s->nlabels : 1, sizeof(*copy));
	for (size_t i = 0; i < s->nlabels; i++) {
		copy[i].name = xstrdup(s->labels[i].name);
		copy[i].value = xstrdup(s->labels[i].value);
	}
	sl->v[sl->n].l = copy;
	sl->v[sl->n].n = s->nlabels;
	sl->n++;
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	const struct label_set *x = a, *y = b;

	return model_labels_cmp(x->l, x->n, y->l, y->n);
}

static void series_free_one(struct label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)l[i].name);
		free((char *)l[i].value);
	}
	free(l);
}

static int h_series(struct promql_api *api, const struct promql_api_request *req,
		    struct promql_api_response *resp, struct api_error *e)
{
	struct series_list sl = { .max = api->opt.max_samples };
	struct match_set ms;
	struct snapshot snap;
	char err[512] = "";
	int64_t start, end;
	size_t k = 0;
	int rc = 0;

	if (param_time(req, "start", API_MIN_TIME_MS, &start, e) ||
	    param_time(req, "end", API_MAX_TIME_MS, &end, e) || param_matches(req, &ms, e))
		return -1;
	if (!ms.n)
		return set_error(e, 400, "bad_data", "no match[] parameter provided");
	if (snapshot_begin(api, &snap, e)) {
		match_set_release(&ms);
		return -1;
	}
	for (size_t i = 0; !rc && i < ms.n; i++)
		rc = snap.src.ops->select(snap.src.ctx, ms.m[i], ms.nm[i], start, end,
					  PROMQL_WANT_LABELS,
					  api->opt.max_samples, series_collect, &sl, err, sizeof(err));
	snapshot_end(&snap);
	match_set_release(&ms);
	if (sl.over)
		rc = set_error(e, 422, "execution", "more than %zu series match", sl.max);
	else if (rc)
		rc = set_error(e, rc == -EINVAL ? 400 : 500, rc == -EINVAL ? "bad_data" : "internal",
			       "%s", err[0] ? err : err_str(rc));
	if (!rc) {
		/* Sort by label set and drop the repeats several match[] select. */
		qsort(sl.v, sl.n, sizeof(*sl.v), cmp_series);
		for (size_t i = 0; i < sl.n; i++) {
			if (k && model_labels_cmp(sl.v[k - 1].l, sl.v[k - 1].n, sl.v[i].l,
						  sl.v[i].n) == 0)
				series_free_one(sl.v[i].l, sl.v[i].n);
			else
				sl.v[k++] = sl.v[i];
		}
		sl.n = k;
		rc = buf_puts(resp->body, "{\"status\":\"success\",\"data\":[");
		for (size_t i = 0; !rc && i < sl.n; i++) {
			rc = i ? buf_putc(resp->body, ',') : 0;
			rc = rc ? rc : promql_api_put_labels(resp->body, sl.v[i].l, sl.v[i].n);
		}
		rc = rc ? rc : buf_puts(resp->body, "]}");
		if (rc)
			rc = set_error(e, 422, "execution", "the response is too large");
	}
	for (size_t i = 0; i < sl.n; i++)
		series_free_one(sl.v[i].l, sl.v[i].n);
	free(sl.v);
	return rc;
}

/* The metric family a stored series belongs to: histogram and summary series carry suffixes
 * that their family's name does not (Prometheus's metadata is keyed by the family). */
static size_t family_name_len(const char *name, enum metric_type type)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	size_t len = strlen(name);

	if (type != METRIC_HISTOGRAM && type != METRIC_SUMMARY)
		return len;
	for (size_t i = type == METRIC_SUMMARY; i < 3; i++) {
		size_t sl = strlen(suffixes[i]);

		if (len > sl && strcmp(name + len - sl, suffixes[i]) == 0)
			return len - sl;
	}
	return len;
}

struct family {
	char *name;
	enum metric_type type;
};

static int cmp_family(const void *a, const void *b)
{
	return strcmp(((const struct family *)a)->name, ((const struct family *)b)->name);
}

static int h_metadata(struct promql_api *api, const struct promql_api_request *req,
		      struct promql_api_response *resp, struct api_error *e)
{
	const struct matcher all = { MODEL_NAME_LABEL, MATCH_RE, ".+" };
	const char *metric = param(req, "metric"), *limit_s = param(req, "limit");
	struct store_series_set *set = NULL;
	struct family *f = NULL;
	struct snapshot snap;
	size_t n = 0, k = 0, limit = SIZE_MAX;
	char err[512] = "";
	int rc;

	if (limit_s && limit_s[0]) {
		char *end;
		long long l = strtoll(limit_s, &end, 10);

		if (*end || end == limit_s)
			return set_error(e, 400, "bad_data", "limit must be a number");
		if (l >= 0)
			limit = (size_t)l;
	}
	if (snapshot_begin(api, &snap, e))
		return -1;
	rc = store_select(snap.r, &all, 1, INT64_MIN, INT64_MAX, &set, err, sizeof(err));
	if (!rc) {
		n = store_series_set_len(set);
		f = xcalloc(n ? n : 1, sizeof(*f));
		for (size_t i = 0; i < n; i++) {
			size_t nl;
			const struct label *l = store_series_set_labels(set, i, &nl);
			const char *name = model_labels_get(l, nl, MODEL_NAME_LABEL);
			enum metric_type type = store_series_set_type(set, i);

			f[i].type = type;
			f[i].name = xstrndup(name, family_name_len(name, type));
		}
		store_series_set_free(set);
	}
	snapshot_end(&snap);
	if (rc) {
		free(f);
		return set_error(e, 500, "internal", "%s", err[0] ? err : err_str(rc));
	}
	qsort(f, n, sizeof(*f), cmp_family);
	rc = buf_puts(resp->body, "{\"status\":\"success\",\"data\":{");
	for (size_t i = 0; i < n; i++) {
		bool repeat = i && strcmp(f[i - 1].name, f[i].name) == 0;

		if (rc || repeat || (metric && metric[0] && strcmp(metric, f[i].name) != 0) ||
		    k >= limit)
			continue;
		rc = k++ ? buf_putc(resp->body, ',') : 0;
		rc = rc ? rc : promql_api_put_string(resp->body, f[i].name);
		/* Prometheus names an untyped family "unknown" (textparse.MetricTypeUnknown). */
		rc = rc ? rc : buf_printf(resp->body,
					  ":[{\"type\":\"%s\",\"help\":\"\",\"unit\":\"\"}]",
					  f[i].type == METRIC_UNTYPED ? "unknown"
								      : model_metric_type_name(f[i].type));
	}
	rc = rc ? rc : buf_puts(resp->body, "}}");
	for (size_t i = 0; i < n; i++)
		free(f[i].name);
	free(f);
	if (rc)
		return set_error(e, 422, "execution", "the response is too large");
	return 0;
}

static int h_buildinfo(struct promql_api *api, const struct promql_api_request *req,
		       struct promql_api_response *resp, struct api_error *e)
{
	int rc;

	(void)req;
	rc = buf_puts(resp->body, "{\"status\":\"success\",\"data\":{\"version\":");
	rc = rc ? rc : promql_api_put_string(resp->body, api->version);
	rc = rc ? rc : buf_puts(resp->body, ",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\","
					    "\"buildDate\":\"\",\"goVersion\":\"\"}}");
	return rc ? set_error(e, 500, "internal", "the response is too large") : 0;
}

/* No exemplars are stored; the parameters are still checked as Prometheus checks them. */
static int h_exemplars(struct promql_api *api, const struct promql_api_request *req,
		       struct promql_api_response *resp, struct api_error *e)
{
	struct promql_expr *expr = NULL;
	int64_t start, end;

	(void)api;
	if (param_time(req, "start", API_MIN_TIME_MS, &start, e) ||
	    param_time(req, "end", API_MAX_TIME_MS, &end, e))
		return -1;
	if (end < start)
		return set_error(e, 400, "bad_data",
				 "end timestamp must not be before start timestamp");
	if (parse_query(req, &expr, e, false))
		return -1;
	promql_expr_free(expr);
	if (buf_puts(resp->body, "{\"status\":\"success\",\"data\":[]}"))
		return set_error(e, 500, "internal", "the response is too large");
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Routing                                                                                    */

static const struct {
	const char *path;
	bool prefix;
	bool post;          /* form POST taken too */
	api_handler fn;
} routes[] = {
	{ "/api/v1/query", false, true, h_query },
	{ "/api/v1/query_range", false, true, h_query_range },
	{ "/api/v1/series", false, true, h_series },
	{ "/api/v1/labels", false, true, h_labels },
	{ "/api/v1/label/", true, false, h_label_values },
	{ "/api/v1/metadata", false, false, h_metadata },
	{ "/api/v1/status/buildinfo", false, false, h_buildinfo },
	{ "/api/v1/query_exemplars", false, true, h_exemplars },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const char *promql_api_route(size_t i, bool *prefix)
{
	if (i >= NROUTES)
		return NULL;
	*prefix = routes[i].prefix;
	return routes[i].path;
}

int promql_api_handle(struct promql_api *api, const struct promql_api_request *req,
		      struct promql_api_response *resp)
{
	struct api_error e = { 0 };
	size_t i;

	resp->status = 200;
	resp->allow = NULL;
	for (i = 0; i < NROUTES; i++) {
		size_t len = strlen(routes[i].path);

		if (routes[i].prefix ? strncmp(req->path, routes[i].path, len) == 0
				     : strcmp(req->path, routes[i].path) == 0)
			break;
	}
	if (i == NROUTES) {
		set_error(&e, 404, "not_found", "unknown API path %s", req->path);
		put_error(resp, &e);
		return 0;
	}
	if (strcmp(req->method, "GET") != 0 &&
	    !(routes[i].post && strcmp(req->method, "POST") == 0)) {
		resp->allow = routes[i].post ? "GET, POST" : "GET";
		set_error(&e, 405, "bad_data", "method %s not allowed", req->method);
		put_error(resp, &e);
		return 0;
	}
	if (routes[i].fn(api, req, resp, &e))
		put_error(resp, &e);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Lifecycle                                                                                  */

int promql_api_new(const struct promql_api_options *opt, struct promql_api **out, char *err,
		   size_t errlen)
{
	pthread_condattr_t ca;
	struct promql_api *api;

	if (!opt->now_ms || !opt->mono_ns) {
		snprintf(err, errlen, "query API: now_ms and mono_ns are required");
		return -EINVAL;
	}
	api = xcalloc(1, sizeof(*api));
	api->opt = *opt;
	if (!api->opt.max_points_per_series)
		api->opt.max_points_per_series = API_DEFAULT_MAX_POINTS;
	if (!api->opt.max_samples)
		api->opt.max_samples = API_DEFAULT_MAX_SAMPLES;
	if (api->opt.timeout_ms <= 0)
		api->opt.timeout_ms = API_DEFAULT_TIMEOUT_MS;
	if (!api->opt.max_concurrent)
		api->opt.max_concurrent = API_DEFAULT_MAX_CONCURRENT;
	api->version = xstrdup(opt->version ? opt->version : "");
	api->opt.version = api->version;
	atomic_init(&api->store, NULL);
	pthread_mutex_init(&api->lock, NULL);
	/* Deadlines are monotonic: a wall-clock step must not stretch or cut a wait. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&api->slot_free, &ca);
	pthread_condattr_destroy(&ca);
	*out = api;
	return 0;
}

void promql_api_set_store(struct promql_api *api, struct store *st)
{
	atomic_store(&api->store, st);
}

void promql_api_free(struct promql_api *api)
{
	if (!api)
		return;
	pthread_mutex_destroy(&api->lock);
	pthread_cond_destroy(&api->slot_free);
	free(api->version);
	free(api);
}
