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
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "exporters/exporters.h"
#include "query/judge.h"
#include "store/store.h"

#define JUDGE_EVERY_MS (60 * 1000)

struct cli_judge {
	struct registry *reg;
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

void cli_judge_free(struct cli_judge *j)
{
	if (!j)
		return;
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

static void judge_latest(struct cli_judge *j, const struct config *cfg,
			 const struct store_deploy *d, int64_t now)
{
	struct store_reader *rd = NULL;
	struct promql_source src;
	struct promql_limits lim;
	struct judge_backend be;
	struct judge_local local;
	struct judge_options o;
	struct judge_report *r = NULL;
	struct judge_check *own = NULL;
	const struct judge_check *checks;
	size_t n;
	char err[256];
	struct buf b;
	int rc;

	if (store_reader_begin(j->store, &rd))
		return;
	promql_source_store_init(&src, rd);
	lim = (struct promql_limits){
		.max_samples = cfg->query.max_samples,
		.deadline_ns = clock_mono_ns() + cfg->query.timeout * 1000000,
		.max_points = (size_t)cfg->query.max_points_per_series + 1,
	};
	judge_backend_local(&be, &local, &src, &lim);
	if (cfg->judge.nchecks) {
		own = cli_judge_checks(cfg, &n);
		checks = own;
	} else {
		checks = judge_default_checks(&n);
	}
	cli_judge_options(cfg, d->at_ms, now, &o);
	rc = judge_run(d->name, checks, n, &o, &be, j->store, &r, err, sizeof(err));
	store_reader_end(rd);
	if (rc) {
		log_warn("judge", "cannot judge deploy %s: %s", d->name, err);
		free(own);
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
	free(own);
}

void cli_judge_tick(struct cli_judge *j, const struct config *cfg, int64_t now)
{
	struct store_deploy *v = NULL, *latest = NULL;
	size_t n = 0;

	if (!j->store || store_deploy_list(j->store, &v, &n))
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
			judge_latest(j, cfg, latest, now);
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

int cli_judge_route_judge(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct cli_judge *j = ctx;
	struct buf *body = http_response_body(resp);
	int status = 200;

	if (strcmp(http_request_method(req), "GET") != 0) {
		buf_puts(body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
			       "\"method not allowed: GET\"}");
		status = 405;
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
