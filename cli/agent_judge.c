/*
 * The agent's side of the deploy verdict: the markers as deploywatch_deploy_timestamp_seconds
 * {deploy}, the latest deploy judged once a minute while its window is open (and once after it
 * closes) as deploywatch_verdict{deploy,check}, and the HTTP routes /api/v1/deploys (GET, POST)
 * and /api/v1/judge (GET: the last judgement's JSON, or one made for the request's deploy,
 * baseline, window and at); and deploys marked automatically when a watched path changes.
 *
 * Threads: agent_judge_tick runs on the collector thread (it owns the registry and evaluates);
 * the HTTP handlers read the store (markers; a judgement asked for with parameters) and copy the
 * cached JSON under a mutex; what a request's judgement needs of the configuration is a
 * reference-counted copy (struct judge_conf), so no request ever reads the configuration a
 * reload may free. The watched paths (judge.watch_paths) are looked at on the collector thread,
 * in the tick, and their markers written there.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/timeparse.h"
#include "exporters/exporters.h"
#include "query/api.h"
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
	const struct judge_check *checks; /* 'own', or the built-in table */
	struct judge_check *own;      /* copies of the config's checks (strings owned), or NULL */
	size_t nchecks;
	struct judge_options opt;     /* marker and now left 0; traffic owned */
	uint64_t max_samples;
	int64_t timeout_ms;
	size_t max_points;
};

/* A watched path (judge.watch_paths): what it showed at the last tick. Collector thread only. */
struct watch {
	char *path;
	bool known;                   /* read once: the state at start is no deploy */
	char sig[PATH_MAX + 128];     /* what changes when the path changes (see watch_read) */
	char name[STORE_DEPLOY_MAX_NAME + 1]; /* the deploy it names; "" when none */
	bool bad_logged;
};

struct cli_judge {
	struct registry *reg;
	struct watch *watch;          /* judge.watch_paths, collector thread only */
	size_t nwatch;
	int64_t last_tick_ms;
	struct judge_conf *conf;      /* swapped by the collector under lock; readers take a ref */
	struct metric *deploy_ts, *verdict;
	struct store *store;          /* set once by the collector, closed after the server */
	pthread_mutex_t lock;         /* guards json, conf and conf->refs */
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

static void watch_configure(struct cli_judge *j, const struct config *cfg);

static void conf_free(struct judge_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->own && i < c->nchecks; i++) {
		free((char *)c->own[i].name);
		free((char *)c->own[i].expr);
		free((char *)c->own[i].description);
		free((char *)c->own[i].exposure);
	}
	free(c->own);
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
		c->own = cli_judge_checks(cfg, &c->nchecks);
		for (size_t i = 0; i < c->nchecks; i++) {
			c->own[i].name = xstrdup(c->own[i].name);
			c->own[i].expr = xstrdup(c->own[i].expr);
			c->own[i].description = strdup_or_null(c->own[i].description);
			c->own[i].exposure = strdup_or_null(c->own[i].exposure);
		}
		c->checks = c->own;
	} else {
		c->checks = judge_default_checks(&c->nchecks);
	}
	cli_judge_options(cfg, 0, 0, &c->opt);
	c->opt.traffic = strdup_or_null(c->opt.traffic);
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
	watch_configure(j, cfg);
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
	for (size_t k = 0; k < j->nwatch; k++)
		free(j->watch[k].path);
	free(j->watch);
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

/* ---- automatic markers: judge.watch_paths ---- */

/* The last path component of 's' (trailing slashes ignored) into 'out'. */
static void last_component(const char *s, char *out, size_t outlen)
{
	size_t end = strlen(s), start;

	while (end > 1 && s[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '/')
		start--;
	if (end - start >= outlen)
		end = start + outlen - 1;
	memcpy(out, s + start, end - start);
	out[end - start] = '\0';
}

/* 'a' then 'b' into out; false when that does not fit. */
static bool join(char *out, size_t outlen, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la + lb >= outlen)
		return false;
	memcpy(out, a, la);
	memcpy(out + la, b, lb + 1);
	return true;
}

/* 's' cut to fit 'out'. */
static void copy_cut(char *out, size_t outlen, const char *s)
{
	size_t n = strnlen(s, outlen - 1);

	memcpy(out, s, n);
	out[n] = '\0';
}

/* Up to len-1 bytes of the file 'path', NUL-terminated; its first line only. -errno on error. */
static int read_line(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, out, len - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/*
 * A .git/HEAD: the commit it stands for, through the branch it names (a loose ref, else
 * packed-refs). *sig gets what changes with it (HEAD's text, the ref file's identity), *when the
 * latest modification time. 'name' is the commit's first 12 hex digits ("" when unresolved).
 */
static void read_git_head(const struct watch *w, char *sig, size_t siglen, char *name,
			  size_t namelen, int64_t *when)
{
	const char *head = w->path;
	char text[512], gitdir[PATH_MAX], refpath[PATH_MAX], sha[128] = "";
	const char *ref;
	struct stat st;
	size_t dirlen = strlen(head) - strlen("HEAD");

	name[0] = '\0';
	if (read_line(head, text, sizeof(text))) {
		snprintf(sig, siglen, "-");
		return;
	}
	memcpy(gitdir, head, dirlen);
	gitdir[dirlen] = '\0';
	if (strncmp(text, "ref: ", 5) != 0) {
		copy_cut(sha, sizeof(sha), text); /* detached: the commit itself */
		snprintf(sig, siglen, "G:%s", text);
	} else {
		ref = text + 5;
		/* a ref is a path under the git directory: nothing that climbs out of it */
		if (strncmp(ref, "refs/", 5) != 0 || strstr(ref, "..")) {
			snprintf(sig, siglen, "G:%s", text);
			return;
		}
		if (!join(refpath, sizeof(refpath), gitdir, ref)) {
			snprintf(sig, siglen, "G:%s", text);
			return;
		}
		if (lstat(refpath, &st) == 0 && S_ISREG(st.st_mode)) {
			if (mtime_ms(&st) > *when)
				*when = mtime_ms(&st);
			read_line(refpath, sha, sizeof(sha));
		} else {
			/* packed-refs: "<sha> <ref>" lines; scanned only when the file changed */
			FILE *f = join(refpath, sizeof(refpath), gitdir, "packed-refs")
					  ? fopen(refpath, "re") : NULL;
			char line[1024];
			size_t rl = strlen(ref);
			bool packed = f && fstat(fileno(f), &st) == 0;

			if (packed) {
				if (mtime_ms(&st) > *when)
					*when = mtime_ms(&st);
				snprintf(sig, siglen, "G:%s:P:%ju:%lld.%09ld:%lld", text,
					 (uintmax_t)st.st_ino, (long long)st.st_mtim.tv_sec,
					 st.st_mtim.tv_nsec, (long long)st.st_size);
			}
			if (packed && strcmp(sig, w->sig) == 0) {
				snprintf(name, namelen, "%s", w->name);
				fclose(f);
				return;
			}
			for (unsigned i = 0; packed && i < 1000000 && fgets(line, sizeof(line), f);
			     i++) {
				char *sp = strchr(line, ' ');

				if (sp && !strncmp(sp + 1, ref, rl) &&
				    (sp[1 + rl] == '\n' || sp[1 + rl] == '\0')) {
					*sp = '\0';
					copy_cut(sha, sizeof(sha), line);
					break;
				}
			}
			if (f)
				fclose(f);
			if (packed)
				goto out_name; /* sig: the packed-refs identity */
		}
		snprintf(sig, siglen, "G:%s:%s", text, sha);
	}
out_name:
	if (strspn(sha, "0123456789abcdef") >= 12 && namelen > 12) {
		memcpy(name, sha, 12);
		name[12] = '\0';
	}
}

/*
 * What the watched 'path' shows: a symlink its target (the deploy is the target's last
 * component: releases/20261127164000 -> "20261127164000"), a .git/HEAD the commit, another
 * file its first line (a REVISION file). *sig changes whenever that may have changed; *when is
 * the path's modification time. A missing path gives sig "-" and no name.
 */
static void watch_read(struct watch *w, char *sig, size_t siglen, char *name, size_t namelen,
		       int64_t *when)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t n;

	name[0] = '\0';
	*when = INT64_MIN;
	if (lstat(w->path, &st) < 0) {
		snprintf(sig, siglen, "-");
		return;
	}
	*when = mtime_ms(&st);
	if (S_ISLNK(st.st_mode)) {
		n = readlink(w->path, target, sizeof(target) - 1);
		if (n < 0) {
			snprintf(sig, siglen, "-");
			return;
		}
		target[n] = '\0';
		snprintf(sig, siglen, "L:%s", target);
		last_component(target, name, namelen);
	} else if (S_ISREG(st.st_mode)) {
		size_t len = strlen(w->path);

		if (len >= 5 && strcmp(w->path + len - 5, "/HEAD") == 0) {
			read_git_head(w, sig, siglen, name, namelen, when);
			return;
		}
		snprintf(sig, siglen, "F:%ju:%lld.%09ld:%lld", (uintmax_t)st.st_ino,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_size);
		if (strcmp(sig, w->sig) != 0 && read_line(w->path, name, namelen) == 0) {
			/* surrounding blanks are not part of a revision */
			size_t a = strspn(name, " \t"), b = strlen(name);

			while (b > a && (name[b - 1] == ' ' || name[b - 1] == '\t'))
				b--;
			memmove(name, name + a, b - a);
			name[b - a] = '\0';
		} else if (strcmp(sig, w->sig) == 0) {
			snprintf(name, namelen, "%s", w->name);
		}
	} else {
		snprintf(sig, siglen, "D:%ju", (uintmax_t)st.st_ino);
		if (!w->bad_logged)
			log_warn("judge", "judge.watch_paths: %s is neither a symlink nor a file: "
					  "its changes mark no deploy (logged once)", w->path);
		w->bad_logged = true;
	}
}

/* Each tick: a watched path that now names another deploy marks it, at the path's change time
 * when that falls since the last tick and is not in the future (else now, the tick's grid time).
 * A change made after the grid time but before a late tick read the path keeps its own time: the
 * grid time would put the marker before the change. */
static void watch_tick(struct cli_judge *j, int64_t now)
{
	int64_t wall = clock_now_ms();

	for (size_t i = 0; i < j->nwatch; i++) {
		struct watch *w = &j->watch[i];
		char sig[sizeof(w->sig)], name[sizeof(w->name)], note[STORE_DEPLOY_MAX_NOTE + 1];
		int64_t when, at;
		int rc;

		watch_read(w, sig, sizeof(sig), name, sizeof(name), &when);
		if (w->known && strcmp(sig, w->sig) == 0)
			continue;
		snprintf(w->sig, sizeof(w->sig), "%s", sig);
		if (!w->known)
			log_info("judge", "watching %s for deploys; it shows %s now", w->path,
				 name[0] ? name : "none");
		if (!w->known || !name[0] || strcmp(name, w->name) == 0) {
			/* the state at start, a vanished path or the same deploy: no new marker */
			w->known = true;
			if (name[0])
				snprintf(w->name, sizeof(w->name), "%s", name);
			continue;
		}
		snprintf(w->name, sizeof(w->name), "%s", name);
		if (!store_deploy_name_valid(name)) {
			log_warn("judge", "judge.watch_paths: %s changed, but '%s' is not a deploy name "
					  "(1 to %d bytes of UTF-8 without control characters): not marked",
				 w->path, name, STORE_DEPLOY_MAX_NAME);
			continue;
		}
		at = when > j->last_tick_ms && when <= (wall > now ? wall : now) ? when : now;
		snprintf(note, sizeof(note), "automatic: %.900s changed", w->path);
		rc = store_deploy_put(j->store, name, at, now, note);
		if (rc)
			log_warn("judge", "judge.watch_paths: %s changed to %s, but the marker cannot be "
					  "written: %s", w->path, name, err_str(rc));
		else
			log_info("judge", "deploy %s marked: %s changed", name, w->path);
	}
	j->last_tick_ms = now;
}

/* The watch list from the configuration; paths watched before keep what they last showed. */
static void watch_configure(struct cli_judge *j, const struct config *cfg)
{
	struct watch *v = xcalloc(cfg->judge.nwatch_paths ? cfg->judge.nwatch_paths : 1, sizeof(*v));

	for (size_t i = 0; i < cfg->judge.nwatch_paths; i++) {
		v[i].path = xstrdup(cfg->judge.watch_paths[i]);
		for (size_t k = 0; k < j->nwatch; k++) {
			if (j->watch[k].path && strcmp(j->watch[k].path, v[i].path) == 0) {
				free(v[i].path);
				v[i] = j->watch[k];
				j->watch[k].path = NULL;
				break;
			}
		}
	}
	for (size_t k = 0; k < j->nwatch; k++)
		free(j->watch[k].path);
	free(j->watch);
	j->watch = v;
	j->nwatch = cfg->judge.nwatch_paths;
}

void cli_judge_tick(struct cli_judge *j, const struct config *cfg, int64_t now)
{
	struct store_deploy *v = NULL, *latest = NULL;
	size_t n = 0;

	if (!j->store || !j->conf)
		return;
	watch_tick(j, now);
	if (store_deploy_list(j->store, &v, &n))
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
		status = promql_api_deploys(j->store, http_request_method(req), names, values, n,
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
