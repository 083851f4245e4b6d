/*
 * The agent's side of the deploy verdict: the markers as deploywatch_deploy_timestamp_seconds
 * {deploy}, the latest deploy judged once a minute while its window is open (and once after it
 * closes) as deploywatch_verdict{deploy,check}, and the HTTP routes /api/v1/deploys (GET, POST)
 * and /api/v1/judge (GET: the last judgement's JSON).
 *
 * Threads: agent_judge_tick runs on the collector thread (it owns the registry and evaluates);
 * the HTTP handlers only read the store (markers) or copy the cached JSON under a mutex, so no
 * request ever reads the configuration a reload may free.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/timeparse.h"
#include "exporters/exporters.h"
#include "query/judge.h"
#include "store/store.h"

#define JUDGE_EVERY_MS (60 * 1000)

/*
 * What judging needs of the configuration, copied: a request thread judges with it while a
 * reload frees the configuration it came from. Reference-counted under cli_judge.lock; the
 * collector swaps in a new one on each (re)load.
 */
struct judge_conf {
	unsigned refs;
	struct judge_check *checks;   /* own copies of the config's checks, or the built-in table */
	size_t nchecks;
	bool own_checks;
	struct judge_options opt;     /* marker and now left 0; traffic owned */
	int64_t window_ms;
	uint64_t max_samples;
	int64_t timeout_ms;
	size_t max_points;
};

struct cli_judge {
	struct registry *reg;
	struct judge_conf *conf;      /* swapped by the collector under lock; readers take a ref */
	struct metric *deploy_ts, *verdict;
	struct store *store;          /* set once by the collector, closed after the server */
	pthread_mutex_t lock;         /* guards json */
	char *json;                   /* the last judgement; NULL before the first */
	char last_deploy[STORE_DEPLOY_MAX_NAME + 1];
	int64_t last_marker_ms, next_ms;
	bool final_done;              /* judged once after the window closed */
};

struct judge_check *cli_judge_checks(const struct config *cfg, size_t *n)
{
	struct judge_check *v;

	*n = cfg->judge.nchecks;
	v = xcalloc(*n ? *n : 1, sizeof(*v));
	for (size_t i = 0; i < *n; i++) {
		const struct config_check *c = &cfg->judge.checks[i];

		v[i].name = c->name;
		v[i].expr = c->expr;
		v[i].description = c->description;
		v[i].kind = c->kind == CONFIG_CHECK_COUNT   ? JUDGE_KIND_COUNT
			    : c->kind == CONFIG_CHECK_VALUE ? JUDGE_KIND_VALUE
							    : JUDGE_KIND_ALERT;
		v[i].severity = c->warning ? JUDGE_SEV_WARNING : JUDGE_SEV_CRITICAL;
		v[i].exposure = c->exposure;
		v[i].max = c->max;
		v[i].max_ratio = isnan(c->max_ratio) && c->kind == CONFIG_CHECK_COUNT ? 1.5
											: c->max_ratio;
		v[i].min_events = c->min_events;
	}
	return v;
}

void cli_judge_options(const struct config *cfg, int64_t marker_ms, int64_t now_ms,
		       struct judge_options *o)
{
	memset(o, 0, sizeof(*o));
	o->marker_ms = marker_ms;
	o->now_ms = now_ms;
	o->baseline_ms = cfg->judge.baseline;
	o->window_ms = cfg->judge.window;
	o->warmup_ms = cfg->judge.warmup;
	if (o->warmup_ms >= o->window_ms)
		o->warmup_ms = o->window_ms / 10; /* a short window keeps a proportionate warm-up */
	o->lookback_ms = cfg->judge.lookback;
	o->alpha = cfg->judge.alpha;
	o->min_traffic = cfg->judge.min_traffic;
	o->traffic = cfg->judge.traffic;
	o->new_exception_min_count = cfg->judge.new_exception_min_count;
	o->new_exceptions_warn = cfg->judge.new_exceptions == 1;
	o->new_exceptions_off = cfg->judge.new_exceptions == 2;
}

struct cli_judge *cli_judge_new(struct registry *reg)
{
	static const char *const deploy_labels[] = { "deploy", NULL };
	static const char *const verdict_labels[] = { "deploy", "check", NULL };
	struct cli_judge *j = xcalloc(1, sizeof(*j));

	j->reg = reg;
	j->deploy_ts = registry_gauge(reg, "deploywatch_deploy_timestamp_seconds",
				      "Time of each deploy marker (deploywatch mark, POST "
				      "/api/v1/deploys), Unix seconds.",
				      deploy_labels);
	j->verdict = registry_gauge(reg, "deploywatch_verdict",
				    "The latest deploy's judgement per check and overall "
				    "(check=\"verdict\"): 1 pass, 0 fail, -1 inconclusive, "
				    "errored or not collected.",
				    verdict_labels);
	pthread_mutex_init(&j->lock, NULL);
	return j;
}

static void conf_free(struct judge_conf *c)
{
	if (!c)
		return;
	if (c->own_checks) {
		for (size_t i = 0; i < c->nchecks; i++) {
			free((char *)c->checks[i].name);
			free((char *)c->checks[i].expr);
			free((char *)c->checks[i].description);
			free((char *)c->checks[i].exposure);
		}
		free(c->checks);
	}
	free((char *)c->opt.traffic);
	free(c);
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void cli_judge_configure(struct cli_judge *j, const struct config *cfg)
{
	struct judge_conf *c = xcalloc(1, sizeof(*c)), *old;

	c->refs = 1;
	if (cfg->judge.nchecks) {
		c->checks = cli_judge_checks(cfg, &c->nchecks);
		c->own_checks = true;
		for (size_t i = 0; i < c->nchecks; i++) {
			c->checks[i].name = xstrdup(c->checks[i].name);
			c->checks[i].expr = xstrdup(c->checks[i].expr);
			c->checks[i].description = strdup_or_null(c->checks[i].description);
			c->checks[i].exposure = strdup_or_null(c->checks[i].exposure);
		}
	} else {
		c->checks = (struct judge_check *)judge_default_checks(&c->nchecks);
	}
	cli_judge_options(cfg, 0, 0, &c->opt);
	c->opt.traffic = strdup_or_null(c->opt.traffic);
	c->window_ms = cfg->judge.window;
	c->max_samples = cfg->query.max_samples;
	c->timeout_ms = cfg->query.timeout;
	c->max_points = (size_t)cfg->query.max_points_per_series + 1;
	pthread_mutex_lock(&j->lock);
	old = j->conf;
	j->conf = c;
	if (old && --old->refs)
		old = NULL; /* a request still judges with it: the last release frees it */
	pthread_mutex_unlock(&j->lock);
	conf_free(old);
}

static struct judge_conf *conf_get(struct cli_judge *j)
{
	struct judge_conf *c;

	pthread_mutex_lock(&j->lock);
	c = j->conf;
	if (c)
		c->refs++;
	pthread_mutex_unlock(&j->lock);
	return c;
}

static void conf_put(struct cli_judge *j, struct judge_conf *c)
{
	bool last;

	pthread_mutex_lock(&j->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (last)
		conf_free(c);
}

void cli_judge_free(struct cli_judge *j)
{
	if (!j)
		return;
	conf_free(j->conf);
	pthread_mutex_destroy(&j->lock);
	free(j->json);
	free(j);
}

void cli_judge_set_store(struct cli_judge *j, struct store *st)
{
	j->store = st;
}

static double verdict_value(enum judge_result r)
{
	return r == JUDGE_PASS ? 1 : r == JUDGE_FAIL ? 0 : -1;
}

/*
 * One judgement of deploy 'd' as of 'now' with 'c' (baseline_ms/window_ms: overrides, 0 for the
 * configuration's), on a fresh read transaction. Returns 0 and *out, or an error with one line
 * in 'err': -EINVAL for bad options, a store error. Any thread holding a reference to 'c'.
 */
static int judge_eval(struct store *st, const struct judge_conf *c, const struct store_deploy *d,
		      int64_t now, int64_t baseline_ms, int64_t window_ms, struct judge_report **out,
		      char *err, size_t errlen)
{
	struct store_reader *rd = NULL;
	struct promql_source src;
	struct promql_limits lim;
	struct judge_backend be;
	struct judge_local local;
	struct judge_options o = c->opt;
	int rc;

	rc = store_reader_begin(st, &rd);
	if (rc) {
		snprintf(err, errlen, "the store: %s", err_str(rc));
		return rc;
	}
	promql_source_store_init(&src, rd);
	lim = (struct promql_limits){
		.max_samples = c->max_samples,
		.deadline_ns = clock_mono_ns() + c->timeout_ms * 1000000,
		.max_points = c->max_points,
	};
	judge_backend_local(&be, &local, &src, &lim);
	o.marker_ms = d->at_ms;
	o.now_ms = now;
	if (baseline_ms)
		o.baseline_ms = baseline_ms;
	if (window_ms) {
		o.window_ms = window_ms;
		if (o.warmup_ms >= o.window_ms)
			o.warmup_ms = o.window_ms / 10;
	}
	rc = judge_run(d->name, c->checks, c->nchecks, &o, &be, st, out, err, errlen);
	store_reader_end(rd);
	return rc;
}

static void judge_latest(struct cli_judge *j, const struct store_deploy *d, int64_t now)
{
	struct judge_report *r = NULL;
	char err[256];
	struct buf b;

	if (judge_eval(j->store, j->conf, d, now, 0, 0, &r, err, sizeof(err))) {
		log_warn("judge", "cannot judge deploy %s: %s", d->name, err);
		return;
	}
	metric_sweep(j->verdict); /* the previous deploy's series go */
	for (size_t i = 0; i < r->nchecks; i++) {
		const char *lv[] = { d->name, r->checks[i].check->name };

		series_set(metric_series(j->verdict, lv), verdict_value(r->checks[i].result));
	}
	{
		const char *lv[] = { d->name, "verdict" };

		series_set(metric_series(j->verdict, lv), verdict_value(r->verdict));
	}
	buf_init(&b, (size_t)16 << 20);
	buf_puts(&b, "{\"status\":\"success\",\"data\":");
	judge_render_json(r, &b);
	buf_puts(&b, "}");
	pthread_mutex_lock(&j->lock);
	free(j->json);
	j->json = buf_detach(&b, NULL);
	pthread_mutex_unlock(&j->lock);
	buf_release(&b);
	if (r->verdict != JUDGE_PASS || r->window_complete)
		log_info("judge", "deploy %s: %s: %s", d->name, judge_result_name(r->verdict),
			 r->summary);
	judge_report_free(r);
}

void cli_judge_tick(struct cli_judge *j, const struct config *cfg, int64_t now)
{
	struct store_deploy *v = NULL, *latest = NULL;
	size_t n = 0;

	if (!j->store || !j->conf || store_deploy_list(j->store, &v, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *lv[] = { v[i].name };

		series_set(metric_series(j->deploy_ts, lv), (double)v[i].at_ms / 1000);
		if (v[i].at_ms <= now)
			latest = &v[i];
	}
	metric_sweep(j->deploy_ts);
	if (latest) {
		bool changed = strcmp(latest->name, j->last_deploy) != 0 ||
			       latest->at_ms != j->last_marker_ms;
		bool open = now < latest->at_ms + cfg->judge.window;

		if (changed) {
			snprintf(j->last_deploy, sizeof(j->last_deploy), "%s", latest->name);
			j->last_marker_ms = latest->at_ms;
			j->next_ms = 0;
			j->final_done = false;
		}
		if ((open && now >= j->next_ms) || (!open && !j->final_done)) {
			judge_latest(j, latest, now);
			j->next_ms = now + JUDGE_EVERY_MS;
			j->final_done = !open;
		}
	}
	free(v);
}

/* ---- HTTP ---- */

int cli_judge_route_deploys(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct cli_judge *j = ctx;
	size_t n = http_request_nargs(req);
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	const char **values = xcalloc(n ? n : 1, sizeof(*values));
	int status;

	for (size_t i = 0; i < n; i++)
		http_request_arg_at(req, i, &names[i], &values[i]);
	if (!j->store) {
		buf_puts(http_response_body(resp), "{\"status\":\"error\",\"errorType\":"
						    "\"unavailable\",\"error\":\"the store is not "
						    "open\"}");
		status = 503;
	} else {
		/* the marker's name and note come from the request, and are only ever stored and
		 * printed: nothing received over HTTP is executed */
		status = store_deploy_api(j->store, http_request_method(req), names, values, n,
					  clock_now_ms(), http_response_body(resp));
	}
	free(names);
	free(values);
	http_response_status(resp, status);
	http_response_header(resp, "Content-Type", "application/json");
	return http_response_compress(resp, req);
}

static void api_error(struct buf *body, const char *type, const char *msg)
{
	buf_puts(body, "{\"status\":\"error\",\"errorType\":");
	buf_put_json_string(body, type);
	buf_puts(body, ",\"error\":");
	buf_put_json_string(body, msg);
	buf_puts(body, "}");
}

/* A duration parameter: 0 when absent; -1 (with the message in body) when not a duration of at
 * least 1s. */
static int64_t duration_arg(const struct http_request *req, const char *name, struct buf *body)
{
	const char *v = http_request_arg(req, name);
	dw_millis ms;
	char msg[200];

	if (!v)
		return 0;
	if (duration_parse(v, &ms) || ms < 1000) {
		snprintf(msg, sizeof(msg), "%s: '%.64s' is not a duration of at least 1s (30s, 5m, 2h)",
			 name, v);
		api_error(body, "bad_data", msg);
		return -1;
	}
	return ms;
}

/* GET /api/v1/judge?deploy=NAME&baseline=D&window=D&at=T: judged now, on this thread. */
static unsigned judge_on_request(struct cli_judge *j, const struct http_request *req,
				 struct buf *body)
{
	const char *name = http_request_arg(req, "deploy"), *at_s = http_request_arg(req, "at");
	int64_t baseline = duration_arg(req, "baseline", body), window, now = clock_now_ms();
	struct judge_report *r = NULL;
	struct store_deploy d;
	struct judge_conf *c;
	char err[256];
	int rc;

	if (baseline < 0)
		return 400;
	window = duration_arg(req, "window", body);
	if (window < 0)
		return 400;
	if (at_s && time_parse(at_s, &now)) {
		api_error(body, "bad_data", "at: not a time (RFC 3339 or Unix seconds)");
		return 400;
	}
	if (name && !store_deploy_name_valid(name)) {
		api_error(body, "bad_data", "deploy: not a deploy name");
		return 400;
	}
	if (!j->store || !(c = conf_get(j))) {
		api_error(body, "unavailable", "the store is not open");
		return 503;
	}
	rc = store_deploy_find(j->store, name, now, &d);
	if (rc) {
		conf_put(j, c);
		if (rc != -ENOENT) {
			snprintf(err, sizeof(err), "the deploy markers: %s", err_str(rc));
			api_error(body, "internal", err);
			return 500;
		}
		snprintf(err, sizeof(err), name ? "no deploy marker named '%s'"
						: "no deploy marker yet%s",
			 name ? name : "");
		api_error(body, "not_found", err);
		return 404;
	}
	rc = judge_eval(j->store, c, &d, now, baseline, window, &r, err, sizeof(err));
	conf_put(j, c);
	if (rc) {
		api_error(body, rc == -EINVAL ? "bad_data" : "internal", err);
		return rc == -EINVAL ? 400 : 500;
	}
	buf_puts(body, "{\"status\":\"success\",\"data\":");
	judge_render_json(r, body);
	buf_puts(body, "}");
	judge_report_free(r);
	return 200;
}

int cli_judge_route_judge(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct cli_judge *j = ctx;
	struct buf *body = http_response_body(resp);
	unsigned status = 200;

	if (strcmp(http_request_method(req), "GET") != 0) {
		buf_puts(body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
			       "\"method not allowed: GET\"}");
		status = 405;
	} else if (http_request_arg(req, "deploy") || http_request_arg(req, "baseline") ||
		   http_request_arg(req, "window") || http_request_arg(req, "at")) {
		status = judge_on_request(j, req, body);
	} else {
		pthread_mutex_lock(&j->lock);
		if (j->json)
			buf_puts(body, j->json);
		pthread_mutex_unlock(&j->lock);
		if (!body->len) {
			buf_puts(body, "{\"status\":\"error\",\"errorType\":\"not_found\",\"error\":"
				       "\"no deploy judged yet: mark one with deploywatch mark or POST "
				       "/api/v1/deploys\"}");
			status = 404;
		}
	}
	http_response_status(resp, status);
	http_response_header(resp, "Content-Type", "application/json");
	return http_response_compress(resp, req);
}
