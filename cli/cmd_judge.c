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
		"                         [--on-fail CMD] [--dry-run]\n"
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
		"Exit codes: 0 PASS, 1 FAIL, 2 INCONCLUSIVE, 64 bad arguments, 66 no store or no\n"
		"deploy marker, 74 read error, 78 bad configuration.\n"
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
	int64_t baseline, window, interval, at;
	bool have_at, wait, json, dry_run;
	const char *on_fail;
};

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
	cli_judge_options(cfg, d->at_ms, now, &o);
	if (a->baseline)
		o.baseline_ms = a->baseline;
	if (a->window) {
		o.window_ms = a->window;
		if (o.warmup_ms >= o.window_ms)
			o.warmup_ms = o.window_ms / 10;
	}
	rc = judge_run(d->name, checks, nchecks, &o, &be, st, out, err, sizeof(err));
	store_reader_end(rd);
	if (rc) {
		fprintf(stderr, "deploywatch judge: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
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
	struct store *st;
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
	code = cli_open_store_read("judge", cfg, &st);
	if (code)
		goto out_cfg;
	rc = store_deploy_find(st, a.deploy, a.have_at ? a.at : clock_now_ms(), &d);
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
out_cfg:
	free(own);
	config_free(cfg);
	return code;
}
