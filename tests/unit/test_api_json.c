/*
 * The query API's JSON pieces (query/api_json.c) from tables: strings as Go's encoding/json
 * writes them, times as Prometheus's API writes them, whole results in every result type.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/model.h"
#include "query/api.h"
#include "query/api_int.h"

static const struct { const char *in, *want; } string_cases[] = {
	{ "", "\"\"" },
	{ "plain text", "\"plain text\"" },
	{ "q\"b\\s", "\"q\\\"b\\\\s\"" },
	{ "nl\ncr\rtab\t", "\"nl\\ncr\\rtab\\t\"" },
	{ "\x01\x1f", "\"\\u0001\\u001f\"" },
	{ "<a href=x>&</a>", "\"\\u003ca href=x\\u003e\\u0026\\u003c/a\\u003e\"" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
	{ "ls\xe2\x80\xa8ps\xe2\x80\xa9", "\"ls\\u2028ps\\u2029\"" },
	{ "bad\xff", "\"bad\\ufffd\"" },
	{ "cut\xe2\x82", "\"cut\\ufffd\\ufffd\"" },
	{ "over\xc0\xaf", "\"over\\ufffd\\ufffd\"" },
	{ "sur\xed\xa0\x80", "\"sur\\ufffd\\ufffd\\ufffd\"" },
	{ "\x7f", "\"\x7f\"" },
};

static void test_strings(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(string_cases) / sizeof(string_cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(promql_api_put_string(&b, string_cases[i].in), 0);
		assert_string_equal(b.data, string_cases[i].want);
	}
	buf_release(&b);
}

static const struct { int64_t ms; const char *want; } time_cases[] = {
	{ 0, "0" },
	{ 1700000000000, "1700000000" },
	{ 1700000000500, "1700000000.500" }, /* Prometheus keeps the zeros */
	{ 1700000000120, "1700000000.120" },
	{ 1700000000001, "1700000000.001" },
	{ -1, "-0.001" },
	{ -1500, "-1.500" },
	{ -2000, "-2" },
	{ INT64_MAX, "9223372036854775.807" },
	{ INT64_MIN, "-9223372036854775.808" },
};

static void test_times(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(promql_api_put_time(&b, time_cases[i].ms), 0);
		assert_string_equal(b.data, time_cases[i].want);
	}
	buf_release(&b);
}

static void test_results(void **state)
{
	const struct label l1[] = { { "__name__", "up" }, { "job", "a\"b" } };
	const struct promql_point p1[] = { { 1700000000000, 1 }, { 1700000015000, NAN },
					   { 1700000030000, INFINITY }, { 1700000045000, -0.1 } };
	const struct promql_series s[] = { { l1, 2, p1, 4 }, { NULL, 0, p1 + 2, 1 } };
	const char *const warn[] = { "w<1>" };
	struct promql_result r = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	r.type = PROMQL_TYPE_SCALAR;
	r.scalar = (struct promql_point){ 1700000000000, 2 };
	assert_int_equal(promql_api_put_result(&b, &r), 0);
	assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
				    "\"result\":[1700000000,\"2\"]}}");

	buf_reset(&b);
	r.type = PROMQL_TYPE_STRING;
	r.string = "x\ny";
	r.string_t_ms = 1700000000250;
	assert_int_equal(promql_api_put_result(&b, &r), 0);
	assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"resultType\":\"string\","
				    "\"result\":[1700000000.250,\"x\\ny\"]}}");

	buf_reset(&b);
	r.type = PROMQL_TYPE_VECTOR;
	r.series = s;
	r.nseries = 2;
	assert_int_equal(promql_api_put_result(&b, &r), 0);
	assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
				    "\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":\"a\\\"b\"},"
				    "\"value\":[1700000000,\"1\"]},{\"metric\":{},"
				    "\"value\":[1700000030,\"+Inf\"]}]}}");

	buf_reset(&b);
	r.type = PROMQL_TYPE_MATRIX;
	r.nseries = 1;
	r.warnings = warn;
	r.nwarnings = 1;
	assert_int_equal(promql_api_put_result(&b, &r), 0);
	assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
				    "\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":\"a\\\"b\"},"
				    "\"values\":[[1700000000,\"1\"],[1700000015,\"NaN\"],"
				    "[1700000030,\"+Inf\"],[1700000045,\"-0.1\"]]}]},"
				    "\"warnings\":[\"w\\u003c1\\u003e\"]}");

	buf_reset(&b);
	r.type = PROMQL_TYPE_MATRIX;
	r.nseries = 0;
	r.nwarnings = 0;
	assert_int_equal(promql_api_put_result(&b, &r), 0);
	assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
				    "\"result\":[]}}");
	buf_release(&b);

	/* A cap too small: -E2BIG, never a crash or an overrun. */
	buf_init(&b, 40);
	r.nseries = 1;
	assert_int_not_equal(promql_api_put_result(&b, &r), 0);
	assert_true(b.len <= 40);
	buf_release(&b);
}

/*
 * A matrix of several series formats each step's time once for all of them (a cache keyed by
 * the grid guessed from the points): points on the grid, between its steps, before and past
 * it, at negative and fractional times, and a series whose first gap is wider than the step,
 * must read exactly as each point formatted on its own.
 */
static void test_matrix_times(void **state)
{
	static const int64_t t0 = -1500;
	struct promql_point pts[4][64];
	struct promql_series s[4] = { 0 };
	const struct label l[4][1] = { { { "i", "0" } }, { { "i", "1" } }, { { "i", "2" } },
				       { { "i", "3" } } };
	struct promql_result r = { 0 };
	struct buf got, want;

	(void)state;
	for (int i = 0; i < 4; i++) {
		size_t n = 0;

		for (int k = 0; k < 64; k++) {
			int64_t t = t0 + (int64_t)k * 250;

			if (i == 1 && k % 3 == 0)
				continue;                   /* gaps, the first one too */
			if (i == 2 && k % 5 == 1)
				t += 7;                     /* off the grid */
			if (i == 3 && k == 63)
				t += 1000000;               /* far past the last slot */
			pts[i][n].t_ms = t;
			pts[i][n].v = (double)k / 3 - 5 + i;
			n++;
		}
		s[i].labels = l[i];
		s[i].nlabels = 1;
		s[i].points = pts[i];
		s[i].npoints = n;
	}
	r.type = PROMQL_TYPE_MATRIX;
	r.series = s;
	r.nseries = 4;
	buf_init(&got, 0);
	buf_init(&want, 0);
	assert_int_equal(promql_api_put_result(&got, &r), 0);
	buf_puts(&want, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
	for (int i = 0; i < 4; i++) {
		buf_printf(&want, "%s{\"metric\":{\"i\":\"%d\"},\"values\":[", i ? "," : "", i);
		for (size_t j = 0; j < s[i].npoints; j++) {
			char num[FMT_DOUBLE_MAX];

			buf_puts(&want, j ? ",[" : "[");
			promql_api_put_time(&want, s[i].points[j].t_ms);
			buf_printf(&want, ",\"%s\"]", fmt_double(num, s[i].points[j].v));
		}
		buf_puts(&want, "]}");
	}
	buf_puts(&want, "]}}");
	assert_string_equal(got.data, want.data);
	assert_non_null(strstr(got.data, "[-1.500,\"-5\"]"));
	assert_non_null(strstr(got.data, "[-1.243,"));
	buf_release(&got);
	buf_release(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_matrix_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
