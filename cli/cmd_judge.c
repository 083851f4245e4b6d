/*
 * deploywatch judge: did the deploy work? PASS (0), FAIL (1) or INCONCLUSIVE (2), with every
 * check's query, values, limit and sample size (query/judge.h, docs/judge.md).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/timeparse.h"
#include "query/judge.h"
#include "store/store.h"

static void judge_usage(FILE *out)
{
	fprintf(out,
		"Usage: deploywatch judge [-c FILE] [--deploy NAME] [--baseline D] [--window D]\n"
		"                         [--at T] [--wait [--interval D]] [--json]\n"
		"                         [--on-fail CMD] [--dry-run] [--deploy-at T]\n"
		"                         [--prometheus URL [--prometheus-user U]\n"
		"                          [--prometheus-password-file F] [--prometheus-ca FILE]\n"
		"                          [--prometheus-insecure] [--prometheus-timeout D]\n"
		"                          [--selector MATCHERS]]\n"
		"\n"
		"Judge a deploy: its checks (the config's judge.checks, or the built-in ones of the\n"
		"deploy plan: 5xx ratio and count, p95 response time, CPU, memory, database errors,\n"
		"Laravel errors) over the baseline before the marker against the window after it,\n"
		"and the exception fingerprints first seen after the marker. Too little traffic or\n"
		"data gives INCONCLUSIVE, never PASS; a failed query is reported, never passed.\n"
		"docs/judge.md explains the statistics.\n"
		"\n"
		"The deploy is the marker NAME (deploywatch mark), default the latest one.\n"
		"--wait evaluates as the window unfolds (every --interval, default 30s) and stops\n"
		"early with FAIL when a critical check fails on two consecutive evaluations.\n"
		"--on-fail runs CMD once with /bin/sh when the verdict is FAIL, with DEPLOYWATCH_VERDICT,\n"
		"DEPLOYWATCH_DEPLOY, DEPLOYWATCH_SUMMARY and DEPLOYWATCH_FAILED in its environment;\n"
		"--dry-run prints the command instead of running it.\n"
		"\n"
		"Fleet mode: --prometheus URL (or judge.prometheus.url in the config) evaluates the\n"
		"checks through that Prometheus server's HTTP API, over every host it scrapes (or\n"
		"those --selector picks: its matchers are added to every selector of every check,\n"
		"e.g. --selector 'instance=~\"web-.*\"'); no local store is read. The deploy's\n"
		"time is --deploy-at, else the agents' exported\n"
		"deploywatch_deploy_timestamp_seconds{deploy} (the latest over instances). The\n"
		"password comes from --prometheus-password-file, else the environment variable\n"
		"DEPLOYWATCH_PROMETHEUS_PASSWORD, else judge.prometheus.password_file. New exception\n"
		"fingerprints live in each host's error catalog: fleet mode reports them as not\n"
		"checked (run judge on the host for them).\n"
		"\n"
		"Exit codes: 0 PASS, 1 FAIL, 2 INCONCLUSIVE, 64 bad arguments, 66 no store or no\n"
		"deploy marker, 74 read error (the Prometheus unreachable, refusing the credentials\n"
		"or not answering as Prometheus), 78 bad configuration.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		"      --deploy NAME  the deploy marker to judge (default: the latest)\n"
		"      --baseline D   before the marker (default judge.baseline, 30m)\n"
		"      --window D     after the marker (default judge.window, 30m)\n"
		"      --at T         judge as of T instead of now (RFC 3339 or Unix seconds)\n"
		"      --wait         evaluate until the window ends or a critical check fails twice\n"
		"      --interval D   between --wait evaluations (default 30s)\n"
		"      --json         print the full detail as JSON (as GET /api/v1/judge)\n"
		"      --on-fail CMD  run CMD once if the verdict is FAIL\n"
		"      --dry-run      never run the --on-fail command; say what would run\n"
		"      --deploy-at T  the deploy's time, instead of looking up its marker\n"
		"      --prometheus URL              judge through this Prometheus (fleet mode)\n"
		"      --prometheus-user U           basic auth user\n"
		"      --prometheus-password-file F  basic auth password, read from F\n"
		"      --prometheus-ca FILE          CA certificates (PEM) for an https URL\n"
		"      --prometheus-insecure         do not verify the server's certificate\n"
		"      --prometheus-timeout D        per request (default 30s)\n"
		"      --selector MATCHERS           judge only the series these match\n"
		"  -h, --help         show this help\n");
}

/* Run the rollback command once: /bin/sh -c CMD with the verdict in the environment. Nothing in
 * it comes from the network: CMD is the operator's own command line. */
static int run_on_fail(const char *cmd, const struct judge_report *r)
{
	char failed[512] = "";
	size_t w = 0;
	pid_t pid;
	int status;

	for (size_t i = 0; i < r->nchecks && w < sizeof(failed); i++)
		if (r->checks[i].result == JUDGE_FAIL)
			w += (size_t)snprintf(failed + w, sizeof(failed) - w, "%s%s", w ? "," : "",
					      r->checks[i].check->name);
	for (size_t i = 0; i < r->nnew_exc && w < sizeof(failed); i++)
		w += (size_t)snprintf(failed + w, sizeof(failed) - w, "%snew_exception:%s",
				      w ? "," : "", r->new_exc[i].fingerprint);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "deploywatch judge: --on-fail: fork: %s\n", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		setenv("DEPLOYWATCH_VERDICT", judge_result_name(r->verdict), 1);
		setenv("DEPLOYWATCH_DEPLOY", r->deploy ? r->deploy : "", 1);
		setenv("DEPLOYWATCH_SUMMARY", r->summary, 1);
		setenv("DEPLOYWATCH_FAILED", failed, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		fprintf(stderr, "deploywatch judge: --on-fail command exited with %d\n",
			WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "deploywatch judge: --on-fail command killed by signal %d\n",
			WTERMSIG(status));
	return 0;
}

struct judge_args {
	const char *deploy;
	int64_t baseline, window, interval, at, deploy_at;
	bool have_at, have_deploy_at, wait, json, dry_run;
	const char *on_fail;
	/* fleet mode; each NULL/0 falls back to the config's judge.prometheus */
	const char *prom_url, *prom_user, *prom_password_file, *prom_ca, *selector;
	bool prom_insecure;
	int64_t prom_timeout;
};

/* The options for one judgement: the config's, then the command line's periods. */
static void judge_opts(const struct config *cfg, int64_t marker_ms, const struct judge_args *a,
		       int64_t now, struct judge_options *o)
{
	cli_judge_options(cfg, marker_ms, now, o);
	if (a->baseline)
		o->baseline_ms = a->baseline;
	if (a->window) {
		o->window_ms = a->window;
		if (o->warmup_ms >= o->window_ms)
			o->warmup_ms = o->window_ms / 10;
	}
}

/* One judgement on a fresh read transaction (so --wait sees what was written since). */
static int judge_once(struct store *st, const struct config *cfg, const struct judge_check *checks,
		      size_t nchecks, const struct store_deploy *d, const struct judge_args *a,
		      int64_t now, struct judge_report **out)
{
	struct store_reader *rd = NULL;
	struct promql_source src;
	struct promql_limits lim;
	struct judge_backend be;
	struct judge_local local;
	struct judge_options o;
	char err[256];
	int rc;

	rc = store_reader_begin(st, &rd);
	if (rc) {
		fprintf(stderr, "deploywatch judge: %s: %s\n", cfg->storage.path, err_str(rc));
		return EXIT_IOERR;
	}
	promql_source_store_init(&src, rd);
	lim = (struct promql_limits){
		.max_samples = cfg->query.max_samples,
		.deadline_ns = clock_mono_ns() + cfg->query.timeout * 1000000,
		.max_points = (size_t)cfg->query.max_points_per_series + 1,
	};
	judge_backend_local(&be, &local, &src, &lim);
	judge_opts(cfg, d->at_ms, a, now, &o);
	rc = judge_run(d->name, checks, nchecks, &o, &be, st, out, err, sizeof(err));
	store_reader_end(rd);
	if (rc) {
		fprintf(stderr, "deploywatch judge: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

/* One judgement through the Prometheus: no store, so no error catalog (judge_run is given none
 * and reports new exceptions as not checked). */
static int judge_once_remote(struct cli_prom *prom, const struct config *cfg,
			     const struct judge_check *checks, size_t nchecks,
			     const struct store_deploy *d, const struct judge_args *a, int64_t now,
			     struct judge_report **out)
{
	struct judge_backend be;
	struct judge_options o;
	char err[256];

	cli_prom_backend(prom, &be);
	judge_opts(cfg, d->at_ms, a, now, &o);
	if (judge_run(d->name, checks, nchecks, &o, &be, NULL, out, err, sizeof(err))) {
		fprintf(stderr, "deploywatch judge: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * Fleet mode's set-up: the client from the command line over the config's judge.prometheus, a
 * probe (reachable, credentials accepted), and the deploy's time. Returns 0 or the exit code
 * (the message printed): 64/78 bad options, 69 libcurl not installed, 74 the Prometheus failing,
 * 66 no such marker.
 */
static int remote_setup(const struct config *cfg, const struct judge_args *a, int64_t now,
			struct cli_prom **out, struct store_deploy *d)
{
	const struct config *c = cfg;
	struct cli_prom_options po = {
		.url = a->prom_url ? a->prom_url : c->judge.prometheus.url,
		.username = a->prom_user ? a->prom_user : c->judge.prometheus.username,
		.ca_file = a->prom_ca ? a->prom_ca : c->judge.prometheus.ca_file,
		.insecure = a->prom_insecure || c->judge.prometheus.insecure_skip_verify,
		.timeout_ms = a->prom_timeout ? a->prom_timeout : c->judge.prometheus.timeout,
		.selector = a->selector ? a->selector : c->judge.prometheus.selector,
	};
	const char *pwfile = a->prom_password_file, *env = getenv("DEPLOYWATCH_PROMETHEUS_PASSWORD");
	struct cli_prom_deploy found;
	char password[4096 + 2], err[512];
	int rc, code = 0;

	*out = NULL;
	password[0] = '\0';
	if (!pwfile && !env)
		pwfile = c->judge.prometheus.password_file;
	if (pwfile) {
		rc = cli_prom_read_password(pwfile, password, sizeof(password), err, sizeof(err));
		if (rc) {
			fprintf(stderr, "deploywatch judge: %s\n", err);
			return rc == -ENOENT || rc == -EACCES ? EXIT_NOINPUT : EXIT_CONFIG;
		}
		po.password = password;
	} else if (env) {
		po.password = env;
	}
	if (po.password && !po.username) {
		fprintf(stderr, "deploywatch judge: a Prometheus password without a user: give "
				"--prometheus-user (or judge.prometheus.username)\n");
		code = EXIT_USAGE;
		goto out;
	}
	rc = cli_prom_new(&po, out, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch judge: --prometheus: %s\n", err);
		code = rc == -ELIBACC ? EXIT_UNAVAILABLE : EXIT_USAGE; /* libcurl not installed */
		goto out;
	}
	rc = cli_prom_probe(*out, now, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch judge: --prometheus %s: %s\n", po.url, err);
		code = EXIT_IOERR;
		goto out;
	}
	memset(d, 0, sizeof(*d));
	if (a->have_deploy_at) {
		snprintf(d->name, sizeof(d->name), "%s", a->deploy ? a->deploy : "(unnamed)");
		d->at_ms = a->deploy_at;
		goto out;
	}
	rc = cli_prom_find_deploy(*out, a->deploy, now, &found, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "deploywatch judge: %s\n", err);
		code = rc == -ENOENT ? EXIT_NOINPUT : EXIT_IOERR;
		goto out;
	}
	snprintf(d->name, sizeof(d->name), "%s", found.name);
	d->at_ms = found.at_ms;
out:
	explicit_bzero(password, sizeof(password));
	if (code) {
		cli_prom_free(*out);
		*out = NULL;
	}
	return code;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cmd_judge(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "deploy", required_argument, NULL, 'd' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "window", required_argument, NULL, 'w' },
		{ "at", required_argument, NULL, 'a' },
		{ "wait", no_argument, NULL, 'W' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "on-fail", required_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "deploy-at", required_argument, NULL, 'D' },
		{ "prometheus", required_argument, NULL, 'P' },
		{ "prometheus-user", required_argument, NULL, 'U' },
		{ "prometheus-password-file", required_argument, NULL, 'F' },
		{ "prometheus-ca", required_argument, NULL, 'C' },
		{ "prometheus-insecure", no_argument, NULL, 'I' },
		{ "prometheus-timeout", required_argument, NULL, 'T' },
		{ "selector", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct judge_args a = { .interval = 30000 };
	const char *path = NULL;
	struct judge_report *r = NULL;
	struct judge_check *own = NULL;
	const struct judge_check *checks;
	struct store_deploy d;
	struct config *cfg;
	struct store *st = NULL;
	struct cli_prom *prom = NULL;
	size_t nchecks;
	int opt, rc, code, consecutive = 0;
	struct buf out;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		int64_t *dst = NULL;

		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			a.deploy = optarg;
			break;
		case 'b':
		case 'w':
		case 'i':
			dst = opt == 'b' ? &a.baseline : opt == 'w' ? &a.window : &a.interval;
			if (duration_parse(optarg, dst) || *dst < 1000)
				return cli_usage_error("judge", "--%s: '%s' is not a duration of at "
						       "least 1s (30s, 5m, 2h)",
						       opt == 'b' ? "baseline" : opt == 'w' ? "window"
											   : "interval",
						       optarg);
			break;
		case 'a':
			if (time_parse(optarg, &a.at))
				return cli_usage_error("judge", "--at: '%s' is not a time (RFC 3339 or "
						       "Unix seconds)", optarg);
			a.have_at = true;
			break;
		case 'W':
			a.wait = true;
			break;
		case 'j':
			a.json = true;
			break;
		case 'f':
			a.on_fail = optarg;
			break;
		case 'n':
			a.dry_run = true;
			break;
		case 'D':
			if (time_parse(optarg, &a.deploy_at))
				return cli_usage_error("judge", "--deploy-at: '%s' is not a time "
						       "(RFC 3339 or Unix seconds)", optarg);
			a.have_deploy_at = true;
			break;
		case 'P':
			a.prom_url = optarg;
			break;
		case 'U':
			a.prom_user = optarg;
			break;
		case 'F':
			a.prom_password_file = optarg;
			break;
		case 'C':
			a.prom_ca = optarg;
			break;
		case 'I':
			a.prom_insecure = true;
			break;
		case 'S':
			a.selector = optarg;
			break;
		case 'T':
			if (duration_parse(optarg, &a.prom_timeout) || a.prom_timeout < 1000)
				return cli_usage_error("judge", "--prometheus-timeout: '%s' is not a "
						       "duration of at least 1s", optarg);
			break;
		case 'h':
			judge_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("judge", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("judge", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("judge", "unexpected argument '%s'", argv[optind]);
	if (a.wait && a.have_at)
		return cli_usage_error("judge", "--wait follows the clock; --at judges a past time");
	code = cli_load_config(path, &cfg);
	if (code)
		return code;
	if (cfg->judge.nchecks) {
		own = cli_judge_checks(cfg, &nchecks);
		checks = own;
	} else {
		checks = judge_default_checks(&nchecks);
	}
	if (a.prom_url || cfg->judge.prometheus.url) {
		code = remote_setup(cfg, &a, a.have_at ? a.at : clock_now_ms(), &prom, &d);
		if (code)
			goto out_cfg;
	} else if ((a.prom_user || a.prom_password_file || a.prom_ca || a.prom_insecure ||
		    a.prom_timeout || a.selector)) {
		code = cli_usage_error("judge", "the --prometheus-* options and --selector need "
					       "--prometheus URL (or judge.prometheus.url)");
		goto out_cfg;
	} else {
		code = cli_open_store_read("judge", cfg, &st);
		if (code)
			goto out_cfg;
	}
	if (prom) {
		rc = 0;
	} else if (a.have_deploy_at) {
		memset(&d, 0, sizeof(d));
		snprintf(d.name, sizeof(d.name), "%s", a.deploy ? a.deploy : "(unnamed)");
		d.at_ms = a.deploy_at;
		rc = 0;
	} else {
		rc = store_deploy_find(st, a.deploy, a.have_at ? a.at : clock_now_ms(), &d);
	}
	if (rc) {
		if (rc == -ENOENT && a.deploy)
			fprintf(stderr, "deploywatch judge: no deploy marker named '%s' (deploywatch "
					"mark --list)\n", a.deploy);
		else if (rc == -ENOENT)
			fprintf(stderr, "deploywatch judge: no deploy marker yet: run deploywatch "
					"mark NAME when a deploy finishes\n");
		else
			fprintf(stderr, "deploywatch judge: %s: %s\n", cfg->storage.path,
				err_str(rc));
		code = rc == -ENOENT ? EXIT_NOINPUT : EXIT_IOERR;
		goto out_store;
	}

	for (;;) {
		int64_t now = a.have_at ? a.at : clock_now_ms();

		judge_report_free(r);
		r = NULL;
		if (prom)
			code = judge_once_remote(prom, cfg, checks, nchecks, &d, &a, now, &r);
		else
			code = judge_once(st, cfg, checks, nchecks, &d, &a, now, &r);
		if (code)
			goto out_store;
		if (!a.wait || r->window_complete)
			break;
		consecutive = r->verdict == JUDGE_FAIL ? consecutive + 1 : 0;
		fprintf(stderr, "deploywatch judge: %s so far: %s\n", judge_result_name(r->verdict),
			r->summary);
		if (consecutive >= 2)
			break;
		sleep_ms(a.interval);
	}

	buf_init(&out, (size_t)64 << 20);
	if (a.json)
		judge_render_json(r, &out);
	else
		judge_render_table(r, isatty(STDOUT_FILENO), &out);
	if (prom && !a.json && !r->opt.new_exceptions_off)
		buf_puts(&out, "\nnew exceptions: not checked in fleet mode (the error catalog is "
			       "on each host: run deploywatch judge or deploywatch errors --deploy "
			       "there)\n");
	fwrite(out.data, 1, out.len, stdout);
	buf_release(&out);
	code = r->verdict == JUDGE_PASS ? 0 : r->verdict == JUDGE_FAIL ? 1 : 2;
	if (r->verdict == JUDGE_FAIL && a.on_fail) {
		if (a.dry_run)
			fprintf(stderr, "deploywatch judge: --dry-run: would run: %s\n", a.on_fail);
		else
			run_on_fail(a.on_fail, r);
	}
	judge_report_free(r);
out_store:
	store_close(st);
	cli_prom_free(prom);
out_cfg:
	free(own);
	config_free(cfg);
	return code;
}
