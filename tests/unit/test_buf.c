#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_append_and_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_printf(&b, "%d", 1234), 0);
	assert_string_equal(b.data, "hello1234");
	/* One more byte fits, two do not, and a refused append leaves the contents alone. */
	assert_int_equal(buf_puts(&b, "xy"), -E2BIG);
	assert_string_equal(b.data, "hello1234");
	assert_int_equal(buf_putc(&b, '!'), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_putc(&b, '!'), -E2BIG);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_release(&b);
}

static void test_detach(void **state)
{
	struct buf b;
	size_t len;
	char *s;

	(void)state;
	buf_init(&b, 0);
	s = buf_detach(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	buf_printf(&b, "%s-%s", "a", "b");
	s = buf_detach(&b, &len);
	assert_string_equal(s, "a-b");
	assert_int_equal(len, 3);
	assert_null(b.data);
	free(s);
}

/* buf_put_escaped and buf_escape: one row per case (input bytes, length, the escaped text, and
 * the text buf_escape gives in 12 bytes). */
static void test_escaped(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want, *want12;
	} cases[] = {
		{ "", 0, "", "" },
		{ "plain", 5, "plain", "plain" },
		{ "1\r", 2, "1\\x0d", "1\\x0d" },
		{ "a\x01" "b\x1b[31m", 8, "a\\x01b\\x1b[31m", "a\\x01b..." },
		{ "n\nt\tc\x7f", 6, "n\\x0at\\x09c\\x7f", "n\\x0at..." },
		{ "nul\0x", 5, "nul\\x00x", "nul\\x00x" },
		{ "q\"b\\s", 5, "q\"b\\s", "q\"b\\s" }, /* as written */
		{ "\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },
		{ "\xff\xfe", 2, "\\xff\\xfe", "\\xff\\xfe" },
		{ "\xc3", 1, "\\xc3", "\\xc3" },       /* a cut sequence */
		{ "\xc2\x9b" "1m", 4, "\\xc2\\x9b1m", "\\xc2\\x9b1m" }, /* C1 CSI */
		{ "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 12,
		  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
		  "\xe2\x82\xac\xe2\x82\xac..." },      /* never cut inside a character */
		{ "abcdefghijkl", 12, "abcdefghijkl", "abcdefgh..." },
		{ "abcdefghijk", 11, "abcdefghijk", "abcdefghijk" },
	};
	struct buf b;
	char out[12];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 0);
		buf_puts(&b, "<");
		assert_int_equal(buf_put_escaped(&b, cases[i].in, cases[i].len), 0);
		buf_puts(&b, ">");
		if (b.len != strlen(cases[i].want) + 2)
			fail_msg("case %zu: got %s", i, b.data);
		assert_memory_equal(b.data + 1, cases[i].want, b.len - 2);
		buf_release(&b);
		assert_string_equal(buf_escape(out, sizeof(out), cases[i].in, cases[i].len),
				    cases[i].want12);
	}
	/* at the cap nothing is appended */
	buf_init(&b, 6);
	buf_puts(&b, "ab");
	assert_int_equal(buf_put_escaped(&b, "\x01\x02", 2), -E2BIG);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	buf_release(&b);
}

static void test_json_string(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "\"\"" },
		{ "plain é", "\"plain é\"" },
		{ "q\"b\\s", "\"q\\\"b\\\\s\"" },
		{ "a\nb\tc\rd", "\"a\\nb\\tc\\rd\"" },
		{ "\x01\x1f", "\"\\u0001\\u001f\"" },
	};
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(buf_put_json_string(&b, cases[i].in), 0);
		assert_string_equal(b.data, cases[i].want);
		buf_release(&b);
	}
	buf_init(&b, 4);
	assert_int_equal(buf_put_json_string(&b, "abcdef"), -E2BIG);
	buf_release(&b);
}

static void test_fmt_double(void **state)
{
	static const struct {
		double v;
		const char *text;
	} cases[] = {
		{ 0.0, "0" },
		{ 1.0, "1" },
		{ -2.5, "-2.5" },
		{ 0.1, "0.1" },
		{ 1e-9, "1e-09" },
		{ 25769803776.0, "25769803776" },
		{ 0.005, "0.005" },
		{ 123456.78, "123456.78" },
		{ 1e300, "1e+300" },
		{ -0.0, "-0" },
		{ -123.0, "-123" },
		{ 0.42, "0.42" },
		{ 1e17, "100000000000000000" },
		{ 9007199254740993.0 * 4, "36028797018963968" },
		{ 1.0 / 3.0, "0.3333333333333333" },
		{ 0.1 + 0.2, "0.30000000000000004" },
	};
	char out[FMT_DOUBLE_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(fmt_double(out, cases[i].v), cases[i].text);
		assert_int_equal(fmt_double_n(out, cases[i].v), strlen(cases[i].text));
	}
	assert_string_equal(fmt_double(out, INFINITY), "+Inf");
	assert_string_equal(fmt_double(out, -INFINITY), "-Inf");
	assert_string_equal(fmt_double(out, NAN), "NaN");
	/* Every formatted value reads back to the same double, and no shorter precision would. */
	srand(7);
	for (int i = 0; i < 20000; i++) {
		double v = (double)rand() / RAND_MAX * pow(10, (rand() % 40) - 20);
		char shorter[400];

		if (i % 4 == 0)
			v = round(v * 100) / 100; /* decimal-looking values like 0.42 */
		if (i % 4 == 1)
			v = round(v * 1e6) / 1e6;
		if (i % 4 == 2)
			v = (double)(rand() % 100000) / 1000.0 * (rand() % 2 ? 1 : -1);
		fmt_double(out, v);
		assert_true(strtod(out, NULL) == v);
		/* Exactly printf's text for the non-integers: the first of %.15g, %.16g, %.17g that
		 * reads back (the decimal fast path may not change a single character). */
		if (v != floor(v)) {
			for (int prec = 15; prec <= 17; prec++) {
				snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
				if (prec == 17 || strtod(shorter, NULL) == v)
					break;
			}
			assert_string_equal(out, shorter);
		}
		/* The first precision that round-trips gives the shortest text; ours is no longer. */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
			if (strtod(shorter, NULL) == v) {
				if (strlen(shorter) < strlen(out))
					fail_msg("%s is not the shortest form of %.17g: %s", out, v, shorter);
				break;
			}
		}
	}
}

/*
 * fmt_double's fast paths (short decimals, and 16 or 17 digits in long double) print exactly
 * what printf's shortest of "%.15g", "%.16g", "%.17g" prints: random bit patterns across
 * 1e-5 .. 1e16, values next to powers of ten and of two, and decimals of up to 15 digits.
 */
static void test_fmt_double_printf(void **state)
{
	char out[FMT_DOUBLE_MAX], want[64];
	uint64_t x = 88172645463325252ull;

	(void)state;
	for (int i = 0; i < 300000; i++) {
		double v;
		uint64_t bits;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i % 3 == 0) {
			/* any double from 1e-5 to 1e16: exponent 2^-17 .. 2^53 */
			bits = (x & 0x000fffffffffffffull) |
			       ((uint64_t)(1023 - 17 + (x >> 58) % 71) << 52);
			memcpy(&v, &bits, sizeof(v));
		} else if (i % 3 == 1) {
			/* one ulp or two around a power of ten or two, or a short decimal */
			double base = (x >> 40) % 2 ? pow(10, (int)((x >> 20) % 20) - 5)
						    : ldexp(1, (int)((x >> 20) % 70) - 17);

			v = nextafter(base, (x >> 30) % 2 ? 0 : INFINITY);
			if ((x >> 50) % 2)
				v = nextafter(v, (x >> 31) % 2 ? 0 : INFINITY);
		} else if ((x >> 45) % 2) {
			v = (double)(x % 100000000) / pow(10, (int)((x >> 40) % 12));
		} else {
			/* up to 15 digits, up to 19 of them after the point (the short path's
			 * whole reach), trailing zeros included */
			uint64_t m = x % 1000000000000000ull;

			if ((x >> 50) % 3 == 0)
				m -= m % 1000;
			v = (double)m / pow(10, (int)((x >> 40) % 20));
		}
		if ((x >> 63) & 1)
			v = -v;
		if (v == floor(v) && fabs(v) < 9007199254740992.0)
			continue; /* integers: the digit path */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(want, sizeof(want), "%.*g", prec, v);
			if (prec == 17 || strtod(want, NULL) == v)
				break;
		}
		if (fabs(v) < 1e21 && v == floor(v) && strchr(want, 'e'))
			snprintf(want, sizeof(want), "%.0f", v);
		if (fmt_double_n(out, v) != strlen(want) || strcmp(out, want))
			fail_msg("fmt_double(%a) = %s, printf %s", v, out, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_cap),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_fmt_double),
		cmocka_unit_test(test_fmt_double_printf),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
