/*
 * deploywatch query EXPR: PromQL on the store, read directly (the agent running or not), printed
 * as an aligned table, CSV, or the HTTP API's JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/timeparse.h"
#include "query/api.h"
#include "query/promql.h"
#include "store/store.h"

/* Points a default step aims at over the range, as Grafana and the Prometheus UI choose one. */
#define QUERY_DEFAULT_POINTS 250

enum output { OUT_TABLE, OUT_CSV, OUT_JSON };

static void query_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch query EXPR [-c FILE] [--at T | --since D | --from T [--to T]]\n"
		     "                         [--step D] [--json | --csv]\n"
		     "\n"
		     "Evaluate the PromQL expression EXPR on the store, as Prometheus 2.42 would (see\n"
		     "docs/api.md for the few documented differences). Reads the store read-only: it\n"
		     "works whether or not the agent is running, and never holds up its writes.\n"
		     "\n"
		     "An instant query by default (at --at, or now); with --since or --from a range query\n"
		     "evaluated at from, from + step, ... up to to. Times are RFC 3339 or Unix seconds,\n"
		     "durations 30s, 5m, 2h, 7d. The default step gives about 250 points, at least\n"
		     "storage.sample_interval. Limits are the query: section of the configuration.\n"
		     "\n"
		     "Output: an aligned table (series, time, value); --csv: one row per sample with\n"
		     "a column per label; --json: what /api/v1/query or /api/v1/query_range answers.\n"
		     "\n"
		     "Exit codes: 0 ok (also for an empty result), 64 bad arguments or a bad query (its\n"
		     "position is printed), 65 an error while evaluating (over max_samples ...),\n"
		     "66 no store at storage.path, 74 read error, 75 over query.timeout, 78 bad\n"
		     "configuration.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE  configuration file (default: the embedded configuration)\n"
		     "      --at T         instant query time (default: now)\n"
		     "      --since D      range query over the last D (--from now-D --to now)\n"
		     "      --from T       range query start\n"
		     "      --to T         range query end (default: now)\n"
		     "      --step D       range query resolution: a duration, or seconds (60)\n"
		     "      --json         print the API's JSON\n"
		     "      --csv          print CSV\n"
		     "  -h, --help         show this help\n");
}

/* ---- printing ---- */

/* `name{a="x", b="y"}` as PromQL prints a series. */
static void series_text(struct buf *b, const struct label *l, size_t n)
{
	const char *name = model_labels_get(l, n, MODEL_NAME_LABEL);
	bool any = false;

	buf_reset(b);
	if (name)
		buf_puts(b, name);
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		if (strcmp(l[i].name, MODEL_NAME_LABEL) == 0)
			continue;
		buf_printf(b, "%s%s=", any ? ", " : "", l[i].name);
		promql_quote(b, l[i].value, strlen(l[i].value));
		any = true;
	}
	buf_putc(b, '}');
}

static void time_text(char *out, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)s * 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		snprintf(out + n, len - n, ".%03dZ", frac);
	else
		snprintf(out + n, len - n, "Z");
}

/* A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static int cmp_names(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	bool xn = strcmp(x, MODEL_NAME_LABEL) == 0, yn = strcmp(y, MODEL_NAME_LABEL) == 0;

	if (xn != yn)
		return xn ? -1 : 1;
	return strcmp(x, y);
}

static void print_csv(const struct promql_result *r, FILE *out)
{
	const char **names = NULL;
	size_t nnames = 0, cap = 0;
	char num[FMT_DOUBLE_MAX];
	struct buf t;

	if (r->type == PROMQL_TYPE_SCALAR || r->type == PROMQL_TYPE_STRING) {
		fprintf(out, "timestamp,value\n");
		buf_init(&t, 0);
		promql_api_put_time(&t, r->type == PROMQL_TYPE_SCALAR ? r->scalar.t_ms
								       : r->string_t_ms);
		fprintf(out, "%s,", t.data);
		if (r->type == PROMQL_TYPE_SCALAR)
			fputs(fmt_double(num, r->scalar.v), out);
		else
			csv_field(out, r->string);
		fputc('\n', out);
		buf_release(&t);
		return;
	}
	/* One column per label name that any series has. */
	for (size_t i = 0; i < r->nseries; i++) {
		for (size_t j = 0; j < r->series[i].nlabels; j++) {
			const char *n = r->series[i].labels[j].name;
			size_t k;

			for (k = 0; k < nnames && strcmp(names[k], n) != 0; k++)
				;
			if (k < nnames)
				continue;
			if (nnames == cap) {
				cap = cap ? cap * 2 : 16;
				names = xrealloc(names, cap * sizeof(*names));
			}
			names[nnames++] = n;
		}
	}
	qsort(names, nnames, sizeof(*names), cmp_names);
	fputs("timestamp,value", out);
	for (size_t k = 0; k < nnames; k++) {
		fputc(',', out);
		csv_field(out, names[k]);
	}
	fputc('\n', out);
	buf_init(&t, 0);
	for (size_t i = 0; i < r->nseries; i++) {
		const struct promql_series *s = &r->series[i];

		for (size_t p = 0; p < s->npoints; p++) {
			buf_reset(&t);
			promql_api_put_time(&t, s->points[p].t_ms);
			fprintf(out, "%s,%s", t.data, fmt_double(num, s->points[p].v));
			for (size_t k = 0; k < nnames; k++) {
				const char *v = model_labels_get(s->labels, s->nlabels, names[k]);

				fputc(',', out);
				csv_field(out, v ? v : "");
			}
			fputc('\n', out);
		}
	}
	buf_release(&t);
	free(names);
}

static void print_table(const struct promql_result *r, FILE *out)
{
	char num[FMT_DOUBLE_MAX], when[48];
	size_t width = strlen("SERIES");
	struct buf b;

	if (r->type == PROMQL_TYPE_SCALAR) {
		time_text(when, sizeof(when), r->scalar.t_ms);
		fprintf(out, "%-24s  %s\n%-24s  %s\n", "TIME", "VALUE", when,
			fmt_double(num, r->scalar.v));
		return;
	}
	if (r->type == PROMQL_TYPE_STRING) {
		fprintf(out, "%s\n", r->string);
		return;
	}
	buf_init(&b, 0);
	for (size_t i = 0; i < r->nseries; i++) {
		series_text(&b, r->series[i].labels, r->series[i].nlabels);
		if (b.len > width)
			width = b.len;
	}
	fprintf(out, "%-*s  %-24s  %s\n", (int)width, "SERIES", "TIME", "VALUE");
	for (size_t i = 0; i < r->nseries; i++) {
		const struct promql_series *s = &r->series[i];

		series_text(&b, s->labels, s->nlabels);
		for (size_t p = 0; p < s->npoints; p++) {
			time_text(when, sizeof(when), s->points[p].t_ms);
			fprintf(out, "%-*s  %-24s  %s\n", (int)width, p ? "" : b.data, when,
				fmt_double(num, s->points[p].v));
		}
	}
	buf_release(&b);
}

/* ---- the command ---- */

static int exit_for(int code)
{
	const char *type = promql_error_type(code);

	if (strcmp(type, "bad_data") == 0)
		return EXIT_USAGE;
	if (strcmp(type, "execution") == 0)
		return EXIT_DATAERR;
	if (strcmp(type, "timeout") == 0)
		return EXIT_TEMPFAIL;
	return EXIT_IOERR;
}

int cmd_query(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "at", required_argument, NULL, 'a' },
		{ "since", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "step", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *expr_text = NULL;
	bool have_at = false, have_from = false, have_to = false, have_since = false;
	int64_t at = 0, from = 0, to = 0, since = 0, step = 0, now = clock_now_ms();
	uint64_t span;
	enum output output = OUT_TABLE;
	struct promql_result *res = NULL;
	struct promql_expr *expr = NULL;
	struct store_reader *r = NULL;
	struct promql_source src;
	struct promql_limits lim;
	struct config *cfg;
	struct store *st;
	char err[1024] = "";
	int opt, rc, code = EXIT_OK;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		int64_t *dst = NULL;

		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'a':
		case 'F':
		case 'T':
			dst = opt == 'a' ? &at : opt == 'F' ? &from : &to;
			if (time_parse(optarg, dst))
				return cli_usage_error("query", "--%s: '%s' is not a time (RFC 3339 "
						       "such as 2026-11-27T17:20:00Z, or Unix seconds)",
						       opt == 'a' ? "at" : opt == 'F' ? "from" : "to",
						       optarg);
			have_at |= opt == 'a';
			have_from |= opt == 'F';
			have_to |= opt == 'T';
			break;
		case 's':
			if (duration_parse(optarg, &since) || since <= 0)
				return cli_usage_error("query", "--since: '%s' is not a positive "
						       "duration (30s, 5m, 2h, 7d)", optarg);
			have_since = true;
			break;
		case 'S':
			/* what the API's step= takes (Prometheus's parseDuration): a duration,
			 * or a plain number of seconds, as promtool and Grafana send it */
			if (promql_api_parse_duration(optarg, &step) || step <= 0)
				return cli_usage_error("query", "--step: '%s' is not a positive "
						       "duration (30s, 5m, 2h) or number of "
						       "seconds (60, 0.5)", optarg);
			break;
		case 'j':
		case 'v':
			if (output != OUT_TABLE && output != (opt == 'j' ? OUT_JSON : OUT_CSV))
				return cli_usage_error("query", "--json and --csv exclude each other");
			output = opt == 'j' ? OUT_JSON : OUT_CSV;
			break;
		case 'h':
			query_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("query", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("query", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("query", "an expression is required");
	expr_text = argv[optind++];
	if (optind < argc)
		return cli_usage_error("query", "unexpected argument '%s' (quote the expression)",
				       argv[optind]);
	if (have_at && (have_since || have_from || have_to))
		return cli_usage_error("query", "--at is for instant queries; --since, --from and "
					       "--to for range queries");
	if (have_since && (have_from || have_to))
		return cli_usage_error("query", "--since and --from/--to exclude each other");
	if (have_to && !have_from)
		return cli_usage_error("query", "--to needs --from");
	if (step && !have_since && !have_from)
		return cli_usage_error("query", "--step is for range queries (--since or --from)");
	if (have_since) {
		from = now - since;
		to = now;
	} else if (have_from && !have_to) {
		to = now;
	}
	if ((have_since || have_from) && from > to)
		return cli_usage_error("query", "--from is after --to");
	if (!have_at)
		at = now;

	if (promql_parse(expr_text, &expr, err, sizeof(err)))
		return cli_usage_error("query", "%s", err);
	code = cli_load_config(path, &cfg);
	if (code)
		goto out_expr;
	/* Unsigned: to - from may not fit in int64 for far-apart times; to >= from here. */
	span = (uint64_t)to - (uint64_t)from;
	if ((have_since || have_from) && !step) {
		uint64_t s = span / QUERY_DEFAULT_POINTS + 1;

		s = (s + 999) / 1000 * 1000;
		step = s > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)s;
		if (step < cfg->storage.sample_interval)
			step = cfg->storage.sample_interval;
	}
	if ((have_since || have_from) && span / (uint64_t)step > cfg->query.max_points_per_series) {
		code = cli_usage_error("query", "exceeded maximum resolution of %llu points per "
					       "timeseries (query.max_points_per_series). Try a larger "
					       "--step",
				       (unsigned long long)cfg->query.max_points_per_series);
		goto out_cfg;
	}
	code = cli_open_store_read("query", cfg, &st);
	if (code)
		goto out_cfg;
	rc = store_reader_begin(st, &r);
	if (rc) {
		fprintf(stderr, "deploywatch query: %s: %s\n", cfg->storage.path, err_str(rc));
		code = EXIT_IOERR;
		goto out_close;
	}
	promql_source_store_init(&src, r);
	lim = (struct promql_limits){
		.max_samples = cfg->query.max_samples,
		.deadline_ns = clock_mono_ns() + cfg->query.timeout * 1000000,
		.max_points = (size_t)cfg->query.max_points_per_series + 1,
	};
	if (have_since || have_from)
		rc = promql_eval_range(expr, &src, from, to, step, &lim, &res, err, sizeof(err));
	else
		rc = promql_eval_instant(expr, &src, at, &lim, &res, err, sizeof(err));
	store_reader_end(r);
	if (rc) {
		fprintf(stderr, "deploywatch query: %s: %s\n", promql_error_type(rc),
			err[0] ? err : err_str(rc));
		code = exit_for(rc);
		goto out_close;
	}
	if (output == OUT_JSON) {
		struct buf b;

		buf_init(&b, (size_t)1 << 30);
		rc = promql_api_put_result(&b, res);
		if (rc) {
			fprintf(stderr, "deploywatch query: the answer is larger than 1 GiB\n");
			code = EXIT_DATAERR;
		} else {
			fwrite(b.data, 1, b.len, stdout);
			fputc('\n', stdout);
		}
		buf_release(&b);
	} else if (output == OUT_CSV) {
		print_csv(res, stdout);
	} else {
		print_table(res, stdout);
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "deploywatch query: write error: %s\n", strerror(errno));
		code = EXIT_IOERR;
	}
	promql_result_free(res);
out_close:
	store_close(st);
out_cfg:
	config_free(cfg);
out_expr:
	promql_expr_free(expr);
	return code;
}
