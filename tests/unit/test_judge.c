/*
 * The judge: its statistics from the table tests/judge/stats.test (format in the file's
 * header), and whole judgements over a real store in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api.h"
#include "query/judge.h"
#include "store/store.h"

static bool close_enough(double got, double want)
{
	if (isnan(want))
		return isnan(got);
	if (want == 0)
		return fabs(got) < 1e-12;
	return fabs(got - want) <= 1e-9 * fabs(want);
}

static const char *const outcomes[] = { "pass", "fail", "low_volume", "no_exposure" };

static void test_stats_table(void **state)
{
	char line[512];
	unsigned lineno = 0, ncases = 0, nbad = 0;
	FILE *f = fopen(DW_JUDGE_TESTS "/stats.test", "r");

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long k, n;
		double p, want, got;
		struct judge_rate_in in;
		struct judge_rate_out out;
		char outcome[32];

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "midp %llu %llu %lf %lf", &k, &n, &p, &want) == 4) {
			got = judge_binom_midp_upper(k, n, p);
			if (!close_enough(got, want)) {
				printf("stats.test:%u: midp %llu %llu %g: got %.17g want %.17g\n",
				       lineno, k, n, p, got, want);
				nbad++;
			}
		} else if (sscanf(line, "rate %lf %lf %lf %lf %lf %lf %lf %31s", &in.base_events,
				  &in.base_exposure, &in.win_events, &in.win_exposure, &in.max_ratio,
				  &in.alpha, &in.min_events, outcome) == 8) {
			assert_int_equal(judge_rate_test(&in, &out), 0);
			if (strcmp(outcomes[out.outcome], outcome) != 0) {
				printf("stats.test:%u: got %s (p=%g ratio=%g) want %s\n", lineno,
				       outcomes[out.outcome], out.p_value, out.ratio, outcome);
				nbad++;
			}
		} else {
			fail_msg("stats.test:%u: cannot read: %s", lineno, line);
		}
		ncases++;
	}
	fclose(f);
	assert_true(ncases >= 20);
	assert_int_equal(nbad, 0);
}

static void test_rate_bad_input(void **state)
{
	struct judge_rate_in in = { 1, 10, 1, 10, 1.5, 0.01, 5 };
	struct judge_rate_out out;

	(void)state;
	in.win_events = -1;
	assert_int_equal(judge_rate_test(&in, &out), -EINVAL);
	in.win_events = NAN;
	assert_int_equal(judge_rate_test(&in, &out), -EINVAL);
	in.win_events = 1;
	in.max_ratio = 0.5;
	assert_int_equal(judge_rate_test(&in, &out), -EINVAL);
	in.max_ratio = 1.5;
	in.alpha = 0;
	assert_int_equal(judge_rate_test(&in, &out), -EINVAL);
}


/*
 * A fake backend: each expression (after $range expansion) maps to a value, or fails. The judge's
 * decisions are tested against it without any store.
 */
struct fake_row {
	const char *prefix; /* matched against the start of the expanded expression */
	double base, win;   /* at the marker and at the window's end; NaN: no series */
	bool fail;
};

struct fake {
	const struct fake_row *rows;
	size_t n;
	int64_t marker_ms;
};

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, bool sum, double *v,
			size_t *nseries, char *err, size_t errlen)
{
	const struct fake *f = ctx;

	(void)sum;
	for (size_t i = 0; i < f->n; i++) {
		if (strncmp(expr, f->rows[i].prefix, strlen(f->rows[i].prefix)) != 0)
			continue;
		if (f->rows[i].fail) {
			snprintf(err, errlen, "boom");
			return -EIO;
		}
		*v = t_ms <= f->marker_ms ? f->rows[i].base : f->rows[i].win;
		*nseries = isnan(*v) ? 0 : 1;
		return 0;
	}
	*nseries = 0;
	return 0;
}

static int fake_range(void *ctx, const char *expr, int64_t start_ms, int64_t step_ms, size_t n,
		      bool sum, double *v, char *err, size_t errlen)
{
	(void)ctx; (void)expr; (void)start_ms; (void)step_ms; (void)sum; (void)err; (void)errlen;
	for (size_t i = 0; i < n; i++)
		v[i] = (double)i; /* a ramp: the sparkline goes from its lowest block to its highest */
	return 0;
}

static const struct judge_check t_checks[] = {
	{ "errors", "E", NULL, JUDGE_KIND_COUNT, JUDGE_SEV_CRITICAL, NULL, NAN, 1.5, 5 },
	{ "latency", "L", NULL, JUDGE_KIND_VALUE, JUDGE_SEV_CRITICAL, NULL, 2, NAN, 0 },
	{ "cpu", "C", NULL, JUDGE_KIND_VALUE, JUDGE_SEV_WARNING, NULL, 0.8, NAN, 0 },
};

static enum judge_result judge_with(const struct fake_row *rows, size_t n, int64_t now_ms,
				    struct judge_report **out)
{
	struct fake f = { rows, n, 3600000 };
	struct judge_backend be = { fake_instant, fake_range, &f };
	struct judge_options o = { .marker_ms = 3600000, .now_ms = now_ms,
				   .traffic = "T", .new_exceptions_off = true };
	char err[128];

	assert_int_equal(judge_run("r1", t_checks, 3, &o, &be, NULL, out, err, sizeof(err)), 0);
	return (*out)->verdict;
}

#define DONE (3600000 + 1800000)

static void test_verdicts(void **state)
{
	struct judge_report *r;
	const struct fake_row pass[] = {
		{ "T", 1000, 1000, false }, { "E", 10, 11, false }, { "L", 0.3, 0.4, false },
		{ "C", 0.2, 0.3, false },
	};
	const struct fake_row fail[] = {
		{ "T", 1000, 1000, false }, { "E", 10, 60, false }, { "L", 0.3, 0.4, false },
		{ "C", 0.2, 0.3, false },
	};
	const struct fake_row slow[] = {
		{ "T", 1000, 1000, false }, { "E", 10, 10, false }, { "L", 0.3, 2.5, false },
		{ "C", 0.2, 0.95, false },
	};
	const struct fake_row idle[] = {
		{ "T", 1000, 3, false }, { "E", 10, 0, false }, { "L", 0.3, NAN, false },
		{ "C", 0.2, 0.3, false },
	};
	const struct fake_row broken[] = {
		{ "T", 1000, 1000, false }, { "E", 10, 10, true }, { "L", 0.3, 0.3, false },
		{ "C", NAN, NAN, false },
	};

	(void)state;
	assert_int_equal(judge_with(pass, 4, DONE, &r), JUDGE_PASS);
	judge_report_free(r);
	/* an open window never passes... */
	assert_int_equal(judge_with(pass, 4, DONE - 60000, &r), JUDGE_INCONCLUSIVE);
	assert_false(r->window_complete);
	judge_report_free(r);
	/* ...but fails */
	assert_int_equal(judge_with(fail, 4, DONE - 60000, &r), JUDGE_FAIL);
	assert_int_equal(r->checks[0].result, JUDGE_FAIL);
	assert_true(r->checks[0].p_value < 0.01);
	assert_non_null(strstr(r->summary, "errors"));
	judge_report_free(r);
	/* a critical ceiling fails; a warning one only warns */
	assert_int_equal(judge_with(slow, 4, DONE, &r), JUDGE_FAIL);
	assert_int_equal(r->checks[1].result, JUDGE_FAIL);
	assert_true(r->checks[1].threshold == 2);
	assert_int_equal(r->checks[2].result, JUDGE_WARN);
	assert_null(strstr(r->summary, "cpu"));
	judge_report_free(r);
	/* no traffic: INCONCLUSIVE, whatever passed; data gone after the marker too */
	assert_int_equal(judge_with(idle, 4, DONE, &r), JUDGE_INCONCLUSIVE);
	assert_non_null(strstr(r->summary, "traffic"));
	assert_int_equal(r->checks[1].result, JUDGE_INCONCLUSIVE);
	judge_report_free(r);
	/* a failed query is ERROR and never passes; no data on either side is SKIP */
	assert_int_equal(judge_with(broken, 4, DONE, &r), JUDGE_INCONCLUSIVE);
	assert_int_equal(r->checks[0].result, JUDGE_ERROR);
	assert_non_null(strstr(r->checks[0].reason, "boom"));
	assert_int_equal(r->checks[2].result, JUDGE_SKIP);
	judge_report_free(r);
	/* before the warm-up ends: nothing to judge */
	assert_int_equal(judge_with(pass, 4, 3600000 + 1000, &r), JUDGE_INCONCLUSIVE);
	judge_report_free(r);
}

static void test_render(void **state)
{
	struct judge_report *r;
	const struct fake_row fail[] = {
		{ "T", 1000, 1000, false }, { "E", 10, 60, false }, { "L", 0.3, 0.4, false },
		{ "C", NAN, NAN, false },
	};
	struct buf b;

	(void)state;
	judge_with(fail, 4, DONE, &r);
	buf_init(&b, 1 << 20);
	judge_render_table(r, true, &b);
	buf_putc(&b, '\0');
	assert_true(strncmp(b.data, "FAIL  deploy r1: roll back: errors", 34) == 0);
	assert_non_null(strstr(b.data, "\u2581\u2581"));
	assert_non_null(strstr(b.data, "|"));
	assert_non_null(strstr(b.data, "\u2588"));
	buf_reset(&b);
	judge_render_json(r, &b);
	buf_putc(&b, '\0');
	assert_non_null(strstr(b.data, "\"verdict\":\"FAIL\",\"exit_code\":1,\"deploy\":\"r1\""));
	assert_non_null(strstr(b.data, "\"name\":\"cpu\",\"result\":\"SKIP\""));
	assert_non_null(strstr(b.data, "\"baseline\":10,\"window\":60,"));
	buf_release(&b);
	judge_report_free(r);
}

static void test_deploys(void **state)
{
	char dir[] = "/tmp/dw-test-deploys.XXXXXX", err[256];
	struct store_options so = { 0 };
	struct store_deploy d, *v;
	struct store *st;
	struct buf b;
	size_t n;
	const char *names[] = { "name", "at", "note" };
	const char *values[] = { "api-1", "1700000000.5", "from \"curl\"" };
	const char *bad[] = { "" };

	(void)state;
	assert_non_null(mkdtemp(dir));
	so.path = dir;
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), 0);
	assert_int_equal(store_deploy_find(st, NULL, 1, &d), -ENOENT);
	assert_int_equal(store_deploy_put(st, "v2", 2000, 5000, "second"), 0);
	assert_int_equal(store_deploy_put(st, "v1", 1000, 5000, NULL), 0);
	assert_int_equal(store_deploy_put(st, "", 1000, 5000, NULL), -EINVAL);
	assert_int_equal(store_deploy_put(st, "a\nb", 1000, 5000, NULL), -EINVAL);
	assert_int_equal(store_deploy_put(st, "\xff", 1000, 5000, NULL), -EINVAL);
	assert_int_equal(store_deploy_list(st, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "v1");
	assert_string_equal(v[1].note, "second");
	free(v);
	assert_int_equal(store_deploy_find(st, NULL, 1500, &d), 0);
	assert_string_equal(d.name, "v1");
	assert_int_equal(store_deploy_find(st, NULL, 9999, &d), 0);
	assert_string_equal(d.name, "v2");
	/* marking a name again moves it */
	assert_int_equal(store_deploy_put(st, "v1", 3000, 6000, "again"), 0);
	assert_int_equal(store_deploy_find(st, "v1", 0, &d), 0);
	assert_int_equal(d.at_ms, 3000);
	assert_string_equal(d.note, "again");

	buf_init(&b, 1 << 20);
	assert_int_equal(promql_api_deploys(st, "POST", names, values, 3, 7000, &b), 200);
	buf_putc(&b, '\0');
	assert_non_null(strstr(b.data, "\"name\":\"api-1\",\"at\":1700000000.500,"));
	assert_non_null(strstr(b.data, "\"note\":\"from \\\"curl\\\"\""));
	buf_reset(&b);
	assert_int_equal(promql_api_deploys(st, "POST", names, bad, 1, 7000, &b), 400);
	buf_reset(&b);
	assert_int_equal(promql_api_deploys(st, "DELETE", NULL, NULL, 0, 7000, &b), 405);
	buf_reset(&b);
	assert_int_equal(promql_api_deploys(st, "GET", NULL, NULL, 0, 7000, &b), 200);
	buf_putc(&b, '\0');
	assert_non_null(strstr(b.data, "\"name\":\"v2\""));
	assert_non_null(strstr(b.data, "\"name\":\"api-1\""));
	buf_release(&b);
	store_close(st);

	/* read-only stores refuse writes */
	so.read_only = true;
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), 0);
	assert_int_equal(store_deploy_put(st, "v3", 1, 1, NULL), -EROFS);
	store_close(st);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_table),
		cmocka_unit_test(test_rate_bad_input),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_deploys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
