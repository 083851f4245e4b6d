/*
 * deploywatch run: the agent. The main thread is the collector: it owns the registry (the only
 * writer) and runs one event loop over three sources — inotify (the tailer: log lines become
 * events at once), the sampling tick (the host sampler, then one store transaction holding the
 * tick's samples, the log events' samples at their log time and every file's offset), and
 * signals (signalfd: SIGHUP reloads, SIGTERM/SIGINT shut down). libmicrohttpd's threads serve
 * /metrics and only read.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "collector/system.h"
#include "collector/tail.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/version.h"
#include "exporters/exporters.h"
#include "query/api.h"
#include "store/store.h"

/* Samples kept in memory while the store cannot be written: 24 bytes each, so 24 MiB, about six
 * hours at 500 series every 10 s. Counters keep counting beyond that; only resolution is lost. */
#define PENDING_SAMPLES_MAX ((size_t)1 << 20)
/* Old chunks deleted per tick: small steps so retention never stalls an append. */
#define RETENTION_CHUNKS_PER_TICK 64
/* A file written continuously is read at most this often: a line after a quiet spell is read at
 * once (latency), a steady stream is read in batches (one wake-up per batch, not per line: the
 * wake-up, not the parsing, is what a line costs). */
#define TAIL_COALESCE_MS 4
/* How often to try again to open a store that could not be opened. */
#define STORE_RETRY_MS 60000

struct agent {
	struct config *cfg;
	struct config *tail_cfg;        /* the configuration the tailer was built from (borrowed by
					 * it: sources, rules and tail: take effect at a restart) */
	struct tail *tail;              /* NULL when inotify could not start */
	const char *config_path;        /* NULL: the embedded default */
	struct registry *reg;
	struct system_sampler *sampler;
	struct http_server *http;
	struct promql_api *api;         /* /api/v1 on the HTTP server; lives as long as the agent */
	struct cli_judge *judge;        /* deploy markers and verdicts (cli/agent_judge.c) */
	struct store *store;            /* NULL while it cannot be opened */
	struct store_appender *appender;
	int64_t store_retry_at_ms;
	int store_error;                /* the last append error, 0 while appends succeed */
	int64_t tick_ms;                /* the tick being appended, for the hooks */
	int append_rc;
	/* Exceptions the tailer saw since the last commit: the error catalog's next records,
	 * committed with the samples and offsets of their entries (exactly once). */
	struct store_catalog_buf *catalog;
	bool catalog_full_logged;

	/* The agent's own health. */
	struct series *ticks;
	struct series *tick_cpu;
	struct series *sample_duration;
	struct series *resident_memory;
	struct series *cpu_seconds;
	struct series *open_fds;
	struct series *reload_ok;
	struct series *reload_time;
	struct series *catalog_dropped;
};

static void run_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch run [-c FILE]\n"
		     "\n"
		     "Run the agent: follow the configured log files (counting their entries at the\n"
		     "time they were logged, each line exactly once across rotations and restarts),\n"
		     "sample the host, keep time series in the store, serve the live values on\n"
		     "/metrics and the store through Prometheus's HTTP API (/api/v1/query, ...,\n"
		     "/api/v1/errors, /api/v1/deploys, /api/v1/judge; docs/api.md). Without -c it\n"
		     "runs the embedded default configuration\n"
		     "(store in ./data, listening on 127.0.0.1:9466; see 'deploywatch check-config').\n"
		     "\n"
		     "Signals: SIGHUP reloads the configuration (a bad file keeps the running one and\n"
		     "logs why); SIGTERM and SIGINT shut down cleanly.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		     "  -h, --help         show this help\n");
}

/* Each HTTP connection (web.max_connections, 1024 by default) and each followed file holds a
 * descriptor; the usual soft limit of 1024 would cap them below that. Raise it to the hard
 * limit, as Go's runtime does at start since 1.19. */
static void raise_nofile_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("agent", "cannot raise the open-file limit to %llu: %s",
			 (unsigned long long)rl.rlim_max, err_str(-errno));
}

/* The HTTP server's route to the query API (query/ knows no HTTP server: it takes a method, a
 * path and parameters, and gives a status and JSON). Request thread. */
static int api_route(void *ctx, const struct http_request *req, struct http_response *resp)
{
	size_t n = http_request_nargs(req);
	struct promql_api_param *params = xcalloc(n ? n : 1, sizeof(*params));
	const struct promql_api_request areq = {
		.method = http_request_method(req),
		.path = http_request_path(req),
		.params = params,
		.nparams = n,
	};
	struct promql_api_response aresp = { .body = http_response_body(resp) };

	for (size_t i = 0; i < n; i++)
		http_request_arg_at(req, i, &params[i].name, &params[i].value);
	promql_api_handle(ctx, &areq, &aresp);
	free(params);
	http_response_status(resp, aresp.status);
	http_response_header(resp, "Content-Type", "application/json");
	if (aresp.allow)
		http_response_header(resp, "Allow", aresp.allow);
	return http_response_compress(resp, req);
}

/* GET /api/v1/errors: the error catalog (promql_api_errors). Request thread: the store pointer
 * is published once by the collector thread (open_store) and read atomically here. */
static int errors_route(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct agent *ag = ctx;
	struct store *st = __atomic_load_n(&ag->store, __ATOMIC_ACQUIRE);
	size_t n = http_request_nargs(req);
	const char **names, **values;
	int status;

	if (strcmp(http_request_method(req), "GET") && strcmp(http_request_method(req), "POST")) {
		http_response_method_not_allowed(resp, "GET, POST");
		return 0;
	}
	if (!st) {
		http_response_status(resp, 503);
		http_response_header(resp, "Content-Type", "application/json");
		return buf_puts(http_response_body(resp),
				"{\"status\":\"error\",\"errorType\":\"unavailable\","
				"\"error\":\"the store is not open yet\"}");
	}
	names = xcalloc(n ? n : 1, sizeof(*names));
	values = xcalloc(n ? n : 1, sizeof(*values));
	for (size_t i = 0; i < n; i++)
		http_request_arg_at(req, i, &names[i], &values[i]);
	status = promql_api_errors(st, names, values, n, clock_now_ms(), http_response_body(resp));
	free(names);
	free(values);
	http_response_status(resp, (unsigned)status);
	http_response_header(resp, "Content-Type", "application/json");
	return http_response_compress(resp, req);
}

static int start_http(struct agent *ag, const struct config *cfg, char *err, size_t errlen)
{
	const struct http_server_options opt = {
		.listen_address = cfg->web.listen_address,
		.tls_cert_file = cfg->web.tls_cert_file,
		.tls_key_file = cfg->web.tls_key_file,
		.users = cfg->web.users,
		.nusers = cfg->web.nusers,
		.max_connections = cfg->web.max_connections,
		.max_requests = cfg->web.max_requests,
		.read_timeout_ms = cfg->web.read_timeout,
		.idle_timeout_ms = cfg->web.idle_timeout,
		.registry = ag->reg,
		.mono_ns = clock_mono_ns,
		.max_body = cfg->query.max_request_size,
	};
	int rc = http_server_new(&opt, &ag->http, err, errlen);
	const char *colon = strrchr(cfg->web.listen_address, ':');
	int host_len = colon ? (int)(colon - cfg->web.listen_address) : 0;
	const char *path;
	bool prefix;

	for (size_t i = 0; rc == 0 && (path = promql_api_route(i, &prefix)); i++) {
		rc = http_server_route(ag->http, path, prefix, api_route, ag->api);
		if (rc) {
			snprintf(err, errlen, "route %s: %s", path, err_str(rc));
			http_server_free(ag->http);
			ag->http = NULL;
		}
	}
	if (rc == 0)
		rc = http_server_route(ag->http, "/api/v1/errors", false, errors_route, ag);
	if (rc == 0)
		rc = http_server_route(ag->http, "/api/v1/deploys", false, cli_judge_route_deploys,
				       ag->judge);
	if (rc == 0)
		rc = http_server_route(ag->http, "/api/v1/judge", false, cli_judge_route_judge,
				       ag->judge);
	if (rc && ag->http) {
		snprintf(err, errlen, "route /api/v1/errors, /api/v1/deploys or /api/v1/judge: %s",
			 err_str(rc));
		http_server_free(ag->http);
		ag->http = NULL;
	}

	/* The configured host with the port actually bound (the address may say port 0). */
	if (rc == 0)
		log_info("http", "listening on %s://%.*s:%d", cfg->web.tls_cert_file ? "https" : "http",
			 host_len, cfg->web.listen_address, http_server_port(ag->http));
	return rc;
}

/* Open the store and its appender; on failure log it and leave ag->store NULL for a retry. */
static void open_store(struct agent *ag, int64_t now_ms)
{
	const struct store_options opt = {
		.path = ag->cfg->storage.path,
		.retention_ms = ag->cfg->storage.retention,
		.max_map_size = (size_t)ag->cfg->storage.max_size,
	};
	char err[512];
	int rc;

	struct store *st;

	rc = store_open(&opt, &st, err, sizeof(err));
	if (rc) {
		ag->store_retry_at_ms = now_ms + STORE_RETRY_MS;
		log_error("store", "%s; counting in memory and retrying every %ds", err,
			  STORE_RETRY_MS / 1000);
		return;
	}
	__atomic_store_n(&ag->store, st, __ATOMIC_RELEASE);
	ag->appender = store_appender_new(ag->store, ag->reg, PENDING_SAMPLES_MAX);
	promql_api_set_store(ag->api, ag->store);
	cli_judge_set_store(ag->judge, ag->store);
	log_info("store", "storing samples in %s", ag->cfg->storage.path);
}

static void register_self_metrics(struct agent *ag)
{
	static const char *const version_labels[] = { "version", NULL };
	/* The agent's unlabelled self-metrics: where each series goes, its type, name and help. */
	const struct {
		struct series **slot;
		enum metric_type type;
		const char *name, *help;
	} self[] = {
		{ &ag->ticks, METRIC_COUNTER, "deploywatch_ticks_total", "Sampling ticks completed." },
		{ &ag->tick_cpu, METRIC_COUNTER, "deploywatch_tick_cpu_seconds_total",
		  "CPU time the collector thread spent in sampling ticks." },
		{ &ag->sample_duration, METRIC_GAUGE, "deploywatch_sample_duration_seconds",
		  "Wall-clock duration of the last host sampling pass." },
		{ &ag->resident_memory, METRIC_GAUGE, "process_resident_memory_bytes",
		  "Resident memory size in bytes." },
		{ &ag->cpu_seconds, METRIC_COUNTER, "process_cpu_seconds_total",
		  "Total user and system CPU time spent in seconds." },
		{ &ag->open_fds, METRIC_GAUGE, "process_open_fds", "Number of open file descriptors." },
		{ &ag->reload_ok, METRIC_GAUGE, "deploywatch_config_last_reload_successful",
		  "Whether the last configuration reload attempt was successful." },
		{ &ag->reload_time, METRIC_GAUGE,
		  "deploywatch_config_last_reload_success_timestamp_seconds",
		  "Timestamp of the last successful configuration reload." },
		{ &ag->catalog_dropped, METRIC_COUNTER, "deploywatch_catalog_dropped_total",
		  "Exceptions left out of the error catalog: more distinct fingerprints awaited one "
		  "commit than it holds (the store refusing writes for a long time)." },
	};
	struct registry *reg = ag->reg;
	struct metric *m;

	m = registry_gauge(reg, "deploywatch_build_info",
			   "A metric with a constant '1' value labeled by the version of deploywatch.",
			   version_labels);
	series_set(metric_series(m, (const char *[]){ DW_VERSION }), 1);
	for (size_t i = 0; i < sizeof(self) / sizeof(self[0]); i++) {
		m = self[i].type == METRIC_COUNTER ? registry_counter(reg, self[i].name, self[i].help, NULL)
						   : registry_gauge(reg, self[i].name, self[i].help, NULL);
		/* The registry is new and these names are the agent's own: a clash is a bug here. */
		assert(m);
		*self[i].slot = metric_series(m, NULL);
	}
}

/* The agent process's own resources, as client libraries export them. */
static void sample_self(struct agent *ag)
{
	struct rusage ru;
	struct dirent *de;
	long pages = 0;
	DIR *dir;
	FILE *f;
	int fds = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		series_set(ag->cpu_seconds, (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
						    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%*d %ld", &pages) == 1)
			series_set(ag->resident_memory, (double)pages * (double)sysconf(_SC_PAGESIZE));
		fclose(f);
	}
	dir = opendir("/proc/self/fd");
	if (dir) {
		while ((de = readdir(dir)))
			fds += de->d_name[0] != '.';
		closedir(dir);
		series_set(ag->open_fds, fds - 1); /* not counting the directory's own descriptor */
	}
}

/* ---- the tailer's part of a tick: samples at log time, then the files' offsets ---- */

static int batch_sample(void *ctx, const struct label *labels, size_t n, enum metric_type type,
			int64_t t_ms, double v)
{
	/* A label set the store refuses is counted by the tick's own sample of the same series. */
	(void)store_batch_add(ctx, labels, n, type, t_ms, v);
	return 0;
}

static int batch_put(void *ctx, const char *key, const void *val, size_t len)
{
	return store_batch_put_meta(ctx, key, val, len);
}

static int tick_before(void *ctx, struct store_batch *b)
{
	struct agent *ag = ctx;

	(void)b;
	return ag->tail ? tail_before_tick(ag->tail, ag->tick_ms, batch_sample, b) : 0;
}

static int tick_extra(void *ctx, struct store_batch *b)
{
	struct agent *ag = ctx;
	int err = store_batch_take_catalog(b, ag->catalog);

	if (!err && ag->tail)
		err = tail_records(ag->tail, ag->tick_ms, batch_put, b);
	return err;
}

/* An exception the tailer parsed: pending for the error catalog until the next commit. */
static void on_exception(void *ctx, const struct logged_exception *x)
{
	struct agent *ag = ctx;
	int err = store_catalog_buf_add(ag->catalog, x);

	if (err) {
		series_add(ag->catalog_dropped, 1);
		if (!ag->catalog_full_logged)
			log_warn("catalog", "an exception of class %s is left out of the error catalog: "
					    "%s (counted in deploywatch_catalog_dropped_total; logged once)",
				 x->class_name, err_str(err));
		ag->catalog_full_logged = true;
	}
}

static int drop_sample(void *ctx, const struct label *labels, size_t n, enum metric_type type,
		       int64_t t_ms, double v)
{
	(void)ctx, (void)labels, (void)n, (void)type, (void)t_ms, (void)v;
	return 0;
}

/* A committed record, read for the tailer at start-up. */
static int get_record(void *ctx, const char *key, struct buf *out)
{
	struct store_reader *r;
	int err = store_reader_begin(ctx, &r);

	if (err)
		return err;
	err = store_reader_get_meta(r, key, out);
	store_reader_end(r);
	return err;
}

static int scan_records(void *ctx, const char *prefix,
			int (*fn)(void *fctx, const char *key, const void *val, size_t len), void *fctx)
{
	return store_scan_meta(ctx, prefix, fn, fctx);
}

static void append_tick(struct agent *ag, int64_t t_ms)
{
	const struct store_tick_hooks hooks = { .before = tick_before, .extra = tick_extra,
						.ctx = ag };

	ag->tick_ms = t_ms;
	ag->append_rc = store_appender_tick_hooks(ag->appender, t_ms, &hooks);
}

/* One sampling pass; with 'append', also store it. */
static void tick(struct agent *ag, int64_t t_ms, bool append)
{
	int64_t cpu0 = clock_thread_cpu_ns(), mono0 = clock_mono_ns();
	char why[256];
	int rc;

	system_sample(ag->sampler);
	series_set(ag->sample_duration, (double)(clock_mono_ns() - mono0) / 1e9);
	if (ag->http)
		http_server_publish_stats(ag->http, ag->reg);
	sample_self(ag);
	series_add(ag->ticks, 1);

	if (append && !ag->store && t_ms >= ag->store_retry_at_ms)
		open_store(ag, t_ms);
	if (append && ag->appender) {
		append_tick(ag, t_ms);
		rc = ag->append_rc;
		/* Logged when the failure starts, changes or ends; the self-metrics count every tick. */
		if (rc && rc != ag->store_error)
			log_warn("store", "cannot write samples to %s: %s; keeping them in memory and "
					  "retrying every tick", ag->cfg->storage.path,
				 store_last_lmdb_error(ag->store, rc, why, sizeof(why)));
		else if (!rc && ag->store_error)
			log_info("store", "writing samples again; the samples kept in memory are stored");
		ag->store_error = rc;
		rc = store_retention_step(ag->store, t_ms, RETENTION_CHUNKS_PER_TICK);
		if (rc < 0)
			log_warn("store", "retention: %s",
				 store_last_lmdb_error(ag->store, rc, why, sizeof(why)));
	} else if (ag->tail && !ag->appender) {
		/* Nothing is stored: the values at earlier grid points have nowhere to go. */
		tail_before_tick(ag->tail, t_ms, drop_sample, NULL);
	}
	if (append)
		cli_judge_tick(ag->judge, ag->cfg, t_ms);
	series_add(ag->tick_cpu, (double)(clock_thread_cpu_ns() - cpu0) / 1e9);
	http_server_metrics_changed(ag->http);
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool web_changed(const struct config *a, const struct config *b)
{
	if (!same_string(a->web.listen_address, b->web.listen_address) ||
	    !same_string(a->web.tls_cert_file, b->web.tls_cert_file) ||
	    !same_string(a->web.tls_key_file, b->web.tls_key_file) || a->web.nusers != b->web.nusers ||
	    a->web.max_connections != b->web.max_connections ||
	    a->web.max_requests != b->web.max_requests ||
	    a->web.read_timeout != b->web.read_timeout || a->web.idle_timeout != b->web.idle_timeout)
		return true;
	for (size_t i = 0; i < a->web.nusers; i++)
		if (strcmp(a->web.users[i].name, b->web.users[i].name) != 0 ||
		    strcmp(a->web.users[i].bcrypt_hash, b->web.users[i].bcrypt_hash) != 0)
			return true;
	return false;
}

static bool sources_changed(const struct config *a, const struct config *b)
{
	if (a->nsources != b->nsources || a->nrules != b->nrules ||
	    memcmp(&a->tail, &b->tail, sizeof(a->tail)) != 0)
		return true;
	for (size_t i = 0; i < a->nsources; i++)
		if (strcmp(a->sources[i].name, b->sources[i].name) ||
		    strcmp(a->sources[i].path, b->sources[i].path) ||
		    a->sources[i].format != b->sources[i].format ||
		    !same_string(a->sources[i].timezone, b->sources[i].timezone) ||
		    !same_string(a->sources[i].app_root, b->sources[i].app_root) ||
		    !same_string(a->sources[i].regex, b->sources[i].regex))
			return true;
	for (size_t i = 0; i < a->nrules; i++)
		if (strcmp(a->rules[i].name, b->rules[i].name) ||
		    strcmp(a->rules[i].source, b->rules[i].source) ||
		    strcmp(a->rules[i].regex, b->rules[i].regex))
			return true;
	return false;
}

/* SIGHUP: read the file again; apply it, or keep the running configuration and say why.
 * A refusal sets deploywatch_config_last_reload_successful to 0, and drops /metrics' rendered
 * copy, before it is logged: whoever reads the log line and then scrapes (an operator, the
 * tests) must see the 0, not the cached 1. */
static void log_reload_failure(void *ctx, const char *msg)
{
	struct agent *ag = ctx;

	series_set(ag->reload_ok, 0);
	http_server_metrics_changed(ag->http);
	log_error("config", "reload failed, keeping the running configuration: %s", msg);
}

static void reload(struct agent *ag, int64_t now_ms)
{
	struct system_sampler *sampler;
	struct config *cfg;
	char err[1024];
	int rc;

	rc = ag->config_path ? config_load_file(ag->config_path, &cfg, err, sizeof(err))
			     : config_load_default(&cfg, err, sizeof(err));
	if (rc) {
		log_reload_failure(ag, err);
		return;
	}
	/* What run and check-config refuse after parsing (a zone file, a regex) is refused here
	 * too: accepted, it would only fail at the next restart. */
	if (cli_check_parsers_each(cfg, log_reload_failure, ag)) {
		config_free(cfg);
		return;
	}
	rc = system_sampler_new(cfg, ag->reg, &sampler);
	if (rc) {
		snprintf(err, sizeof(err), "host sampler: %s", strerror(-rc));
		log_reload_failure(ag, err);
		config_free(cfg);
		return;
	}
	if (web_changed(ag->cfg, cfg)) {
		struct http_server *old = ag->http;

		/* The new listener may want the same port: the old one has to let go first. */
		http_server_free(old);
		ag->http = NULL;
		if (start_http(ag, cfg, err, sizeof(err))) {
			log_reload_failure(ag, err);
			if (start_http(ag, ag->cfg, err, sizeof(err)))
				log_error("http", "cannot listen again on the previous address: %s", err);
			system_sampler_free(sampler);
			config_free(cfg);
			return;
		}
	}
	if (strcmp(cfg->storage.path, ag->cfg->storage.path) != 0)
		log_warn("config", "storage.path changed to %s: it takes effect at the next restart; "
				   "still writing to %s", cfg->storage.path, ag->cfg->storage.path);
	system_sampler_free(ag->sampler);
	ag->sampler = sampler;
	if (cfg->log_level) {
		enum log_level level;

		if (log_level_parse(cfg->log_level, &level) == 0)
			log_set_level(level);
	}
	/* Keep the store's settings with the store it was opened with. */
	free(cfg->storage.path);
	cfg->storage.path = xstrdup(ag->cfg->storage.path);
	/* Against what the tailer runs, not the last file loaded: a second SIGHUP of the same file
	 * still says the rules are not the running ones. */
	if (sources_changed(ag->tail_cfg ? ag->tail_cfg : ag->cfg, cfg))
		log_warn("config", "sources, rules or tail settings changed: they take effect at the "
				   "next restart; still following the running ones");
	if (ag->cfg != ag->tail_cfg)
		config_free(ag->cfg);
	ag->cfg = cfg;
	cli_judge_configure(ag->judge, cfg);
	series_set(ag->reload_ok, 1);
	series_set(ag->reload_time, (double)now_ms / 1000.0);
	http_server_metrics_changed(ag->http);
	log_info("config", "configuration reloaded from %s", cfg->file);
}

static void agent_release(struct agent *ag)
{
	/* The server first: no request may run while the API and the store go away. */
	http_server_free(ag->http);
	promql_api_free(ag->api);
	cli_judge_free(ag->judge);
	tail_free(ag->tail);
	store_appender_free(ag->appender);
	store_close(ag->store);
	system_sampler_free(ag->sampler);
	registry_free(ag->reg);
	store_catalog_buf_free(ag->catalog);
	if (ag->tail_cfg != ag->cfg)
		config_free(ag->tail_cfg);
	config_free(ag->cfg);
}

/* The tailer, positioned at the store's records (none when the store could not be opened). */
static void start_tail(struct agent *ag, int64_t now_ms)
{
	const struct tail_options opt = {
		.cfg = ag->cfg,
		.reg = ag->reg,
		.res_ms = ag->cfg->storage.sample_interval,
		.get = ag->store ? get_record : NULL,
		.scan = ag->store ? scan_records : NULL,
		.get_ctx = ag->store,
		.exception = on_exception,
		.exception_ctx = ag,
	};
	char err[1024];
	int rc;

	ag->tail_cfg = ag->cfg;
	rc = tail_new(&opt, now_ms, &ag->tail, err, sizeof(err));
	if (rc) {
		ag->tail = NULL;
		log_error("tail", "%s; log files are not followed", err);
	}
}

/* Whether inotify had events: a file is being written. */
static bool process_tail(struct agent *ag)
{
	bool events;

	if (!ag->tail)
		return false;
	events = tail_process(ag->tail, clock_now_ms());
	/* What was counted shows on the next scrape, not when the render cache expires. */
	http_server_metrics_changed(ag->http);
	return events;
}

/* How long start-up may spend reading what was written while the agent was down. */
#define CATCH_UP_MS 30000

/*
 * Before the first tick: read what the files gained while the agent was down, so those events
 * are stored at their log time (after the first tick they could only count as late).
 */
static void catch_up(struct agent *ag)
{
	int64_t until = clock_now_ms() + CATCH_UP_MS;

	if (!ag->tail)
		return;
	do
		tail_process(ag->tail, clock_now_ms());
	while (tail_deadline(ag->tail) <= clock_now_ms() && clock_now_ms() < until);
	/* The last entry of each file completes at its idle timeout: wait for it, so the first
	 * stored tick does not come before it and make it late. */
	if (tail_entries_deadline(ag->tail) - clock_now_ms() <= ag->cfg->tail.idle_timeout) {
		int64_t wait = tail_entries_deadline(ag->tail) - clock_now_ms();

		if (wait > 0)
			poll(NULL, 0, (int)wait);
		tail_process(ag->tail, clock_now_ms());
	}
}

int cmd_run(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent ag = { 0 };
	sigset_t signals;
	char err[1024];
	int opt, rc, sigfd, exit_code = EXIT_OK;
	bool running = true;
	int64_t interval, next_ms, tail_read_ms = INT64_MIN / 2;
	bool paused;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ag.config_path = optarg;
			break;
		case 'h':
			run_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);

	rc = cli_load_config(ag.config_path, &ag.cfg);
	if (rc)
		return rc;
	/* A parser that cannot be built (a zone without its file, a pattern PCRE2 refuses) is a
	 * configuration error as check-config reports it: refuse to start, rather than start
	 * and follow no log at all (tail_new fails as a whole). */
	rc = cli_check_parsers(ag.cfg);
	if (rc) {
		config_free(ag.cfg);
		return rc;
	}
	if (ag.cfg->log_level) {
		enum log_level level;

		if (log_level_parse(ag.cfg->log_level, &level) == 0)
			log_set_level(level);
	}

	/* Signals are taken synchronously by the main loop (signalfd); every thread started from
	 * here on inherits the blocked mask, so none of them is interrupted by one. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (ulimit -f) must fail a write with EFBIG, which the store reports and
	 * retries, rather than kill the agent. */
	signal(SIGXFSZ, SIG_IGN);
	raise_nofile_limit();
	sigfd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		fprintf(stderr, "deploywatch: signalfd: %s\n", strerror(errno));
		config_free(ag.cfg);
		return EXIT_SOFTWARE;
	}

	ag.reg = registry_new(ag.cfg->limits.max_series_per_metric);
	ag.catalog = store_catalog_buf_new();
	register_self_metrics(&ag);
	/* The configuration was loaded (and its parsers checked) above: like Prometheus after its
	 * first load, 1 and now, so an alert on "== 0" means a reload that was refused. */
	series_set(ag.reload_ok, 1);
	series_set(ag.reload_time, (double)clock_now_ms() / 1000.0);
	ag.judge = cli_judge_new(ag.reg);
	cli_judge_configure(ag.judge, ag.cfg);
	rc = system_sampler_new(ag.cfg, ag.reg, &ag.sampler);
	if (rc) {
		fprintf(stderr, "deploywatch: %s: host sampler: %s\n", ag.cfg->file, strerror(-rc));
		exit_code = EXIT_CONFIG;
		goto out;
	}
	{
		/* Limits are read once: a reload does not change them (docs/config.md). */
		const struct promql_api_options aopt = {
			.max_points_per_series = ag.cfg->query.max_points_per_series,
			.max_samples = ag.cfg->query.max_samples,
			.timeout_ms = ag.cfg->query.timeout,
			.max_concurrent = ag.cfg->query.max_concurrent,
			.now_ms = clock_now_ms,
			.mono_ns = clock_mono_ns,
			.version = DW_VERSION,
		};

		rc = promql_api_new(&aopt, &ag.api, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "deploywatch: %s\n", err);
			exit_code = EXIT_SOFTWARE;
			goto out;
		}
	}
	rc = start_http(&ag, ag.cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch: %s: %s\n", ag.cfg->file, err);
		/* A file the configuration names that cannot be used is a configuration error; a port
		 * someone else holds is the host's. */
		exit_code = (rc == -EADDRINUSE || rc == -EADDRNOTAVAIL || rc == -EACCES) ? EXIT_UNAVAILABLE
											   : EXIT_CONFIG;
		goto out;
	}
	open_store(&ag, clock_now_ms());

	/* Sample at once so /metrics is complete from the start, but store from the next grid
	 * point on: the previous run's shutdown sample may sit between the last grid point and
	 * now, and a sample at or before it would be refused as out of order. */
	interval = ag.cfg->storage.sample_interval;
	tick(&ag, clock_now_ms(), false);
	/* After the store: its stored counters are seeded before the tailer counts anything. */
	start_tail(&ag, clock_now_ms());
	log_info("agent", "deploywatch %s started with %s, sampling every %llds", DW_VERSION,
		 ag.cfg->file, (long long)(ag.cfg->storage.sample_interval / 1000));
	catch_up(&ag);
	next_ms = clock_now_ms();
	next_ms += interval - next_ms % interval;
	while (running) {
		int64_t now = clock_now_ms(), wake;
		struct pollfd pfd[2] = { { .fd = sigfd, .events = POLLIN },
					 { .fd = ag.tail ? tail_fd(ag.tail) : -1, .events = POLLIN } };
		struct signalfd_siginfo si;

		/* The wall clock stepped back (NTP): tick now instead of waiting for the old grid.
		 * The store refuses and counts samples older than what it holds. */
		if (next_ms - now > interval) {
			log_warn("agent", "the clock went back %llds; sampling resumes on the new time",
				 (long long)((next_ms - now - interval) / 1000));
			next_ms = now;
		}
		if (now >= next_ms) {
			/* Samples are stamped on the interval grid; a late tick skips, never bunches. A
			 * reloaded interval takes effect here, so the check above compares like with like.
			 * The tailer reads first, so the tick holds every line written before it. */
			int64_t t;

			interval = ag.cfg->storage.sample_interval;
			t = now - now % interval;
			process_tail(&ag);
			tick(&ag, t, true);
			next_ms = t + interval;
			/* No 'continue': a tick that took longer than the interval (a slow disk, a
			 * loaded host) must not keep the loop from signals. The poll below does not
			 * wait when the next tick is already due, but it does take a SIGTERM. */
			now = clock_now_ms();
		}
		wake = next_ms;
		if (ag.tail && tail_deadline(ag.tail) < wake)
			wake = tail_deadline(ag.tail);
		paused = ag.tail && now - tail_read_ms < TAIL_COALESCE_MS;
		if (paused) {
			/* Just read: let a steady writer's lines gather for a moment. */
			pfd[1].fd = -1;
			if (tail_read_ms + TAIL_COALESCE_MS < wake)
				wake = tail_read_ms + TAIL_COALESCE_MS;
		}
		rc = poll(pfd, 2, wake > now ? (int)(wake - now) : 0);
		if (rc < 0 && errno != EINTR) {
			log_error("agent", "poll: %s", strerror(errno));
			break;
		}
		now = clock_now_ms();
		if (ag.tail) {
			/* At the end of a pause the tailer drains inotify at once: no poll() first to
			 * ask whether there is anything (one syscall less per wake-up; an empty queue
			 * costs the same one read). Events: the writer goes on, pause again. */
			if (paused ? now - tail_read_ms >= TAIL_COALESCE_MS
				   : (pfd[1].revents & POLLIN) != 0) {
				if (process_tail(&ag))
					tail_read_ms = now;
			} else if (now >= tail_deadline(ag.tail)) {
				process_tail(&ag);
			}
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				log_info("config", "SIGHUP: reloading %s", ag.cfg->file);
				reload(&ag, clock_now_ms());
			} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				log_info("agent", "%s: shutting down",
					 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
				running = false;
			}
		}
	}
	/* A last tick so that what was counted since the previous one reaches the store, with
	 * every pending entry completed and every file's offset at what was read. */
	if (ag.tail)
		tail_shutdown(ag.tail, clock_now_ms());
	if (ag.appender) {
		append_tick(&ag, clock_now_ms());
		if (ag.append_rc == 0)
			log_info("store", "final samples written");
	}

out:
	agent_release(&ag);
	close(sigfd);
	return exit_code;
}
