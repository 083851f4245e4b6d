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

#include "query/judge.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_table),
		cmocka_unit_test(test_rate_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
