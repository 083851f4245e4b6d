/* Time arguments: RFC 3339 and Unix seconds, as Prometheus's API reads them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/timeparse.h"

static int64_t ok(const char *s)
{
	int64_t ms = 0;

	if (time_parse(s, &ms))
		fail_msg("'%s' refused", s);
	return ms;
}

static void test_unix(void **state)
{
	(void)state;
	assert_int_equal(ok("1700000000"), 1700000000000LL);
	assert_int_equal(ok("1700000000.5"), 1700000000500LL);
	assert_int_equal(ok("1700000000.123"), 1700000000123LL);
	/* Prometheus rounds the fraction to the millisecond. */
	assert_int_equal(ok("1700000000.1235"), 1700000000124LL);
	assert_int_equal(ok("1700000000.1234"), 1700000000123LL);
	assert_int_equal(ok("1700000000.9996"), 1700000001000LL);
	assert_int_equal(ok("0"), 0);
	assert_int_equal(ok("-1.5"), -1500);
	assert_int_equal(ok("+12"), 12000);
	assert_int_equal(ok(".5"), 500);
	assert_int_equal(ok("5."), 5000);
	assert_int_equal(ok("1.7e9"), 1700000000000LL);
	assert_int_equal(ok("1e-3"), 1);
}

static void test_rfc3339(void **state)
{
	(void)state;
	assert_int_equal(ok("2023-11-14T22:13:20Z"), 1700000000000LL);
	assert_int_equal(ok("2026-11-27T17:20:00Z"), 1795800000000LL);
	assert_int_equal(ok("2023-11-14T22:13:20.5Z"), 1700000000500LL);
	/* Truncated, not rounded, below the millisecond (Prometheus's timestamp.FromTime). */
	assert_int_equal(ok("2023-11-14T22:13:20.123999999Z"), 1700000000123LL);
	assert_int_equal(ok("2023-11-14T23:13:20+01:00"), 1700000000000LL);
	assert_int_equal(ok("2023-11-14T17:43:20-04:30"), 1700000000000LL);
	assert_int_equal(ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(ok("1969-12-31T23:59:59Z"), -1000);
	assert_int_equal(ok("2024-02-29T00:00:00Z"), 1709164800000LL);
	assert_int_equal(ok("2000-02-29T00:00:00Z"), 951782400000LL);
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"", " ", "abc", "1700000000x", "1e", "inf", "1e999", "0x10", "1.2.3", "-", ".", "now", "5m",
		"2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-13-01T00:00:00Z",
		"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2023-11-31T00:00:00Z",
		"2023-11-14T24:00:00Z", "2023-11-14T22:60:00Z", "2023-11-14T22:13:60Z",
		"2023-11-14T22:13:20.Z", "2023-11-14T22:13:20.1234567891Z", "2023-11-14T22:13:20+0100",
		"2023-11-14T22:13:20+24:00", "2023-11-14T22:13:20Zjunk", "99999999999999999999",
	};
	int64_t ms = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (time_parse(bad[i], &ms) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(ms, 42);
	}
	assert_int_equal(time_parse(NULL, &ms), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
