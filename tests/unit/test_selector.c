/*
 * The series-selector parser: every valid form Prometheus 2.42 accepts, Go string escapes, and
 * each error with the exact message and 1-based position Prometheus gives (checked by hand
 * against `promtool check rules` on the same expressions).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "query/promql.h"

struct want {
	const char *name;
	enum matcher_op op;
	const char *value;
};

static void expect_ok(const char *in, const struct want *w, size_t nw)
{
	struct matcher *m;
	size_t n;
	char err[256];
	int rc = promql_parse_selector(in, &m, &n, err, sizeof(err));

	if (rc)
		fail_msg("%s: %s", in, err);
	assert_int_equal(n, nw);
	for (size_t i = 0; i < nw; i++) {
		assert_string_equal(m[i].name, w[i].name);
		assert_int_equal(m[i].op, w[i].op);
		assert_string_equal(m[i].value, w[i].value);
	}
	promql_matchers_free(m, n);
}

static void expect_err(const char *in, const char *msg)
{
	struct matcher *m = (struct matcher *)1;
	size_t n = 99;
	char err[256];

	assert_int_equal(promql_parse_selector(in, &m, &n, err, sizeof(err)), -EINVAL);
	assert_null(m);
	assert_int_equal(n, 0);
	if (strcmp(err, msg))
		fail_msg("%s:\n got  %s\n want %s", in, err, msg);
}

static void test_valid(void **state)
{
	(void)state;
	expect_ok("up", (struct want[]){ { "__name__", MATCH_EQ, "up" } }, 1);
	expect_ok("  node_cpu:rate5m  ", (struct want[]){ { "__name__", MATCH_EQ, "node_cpu:rate5m" } }, 1);
	expect_ok("_", (struct want[]){ { "__name__", MATCH_EQ, "_" } }, 1);
	expect_ok(":a:", (struct want[]){ { "__name__", MATCH_EQ, ":a:" } }, 1);
	expect_ok("metric{a=\"x\",b!=\"y\",c=~\"re.*\",d!~\"re\"}",
		  (struct want[]){ { "__name__", MATCH_EQ, "metric" },
				   { "a", MATCH_EQ, "x" },
				   { "b", MATCH_NEQ, "y" },
				   { "c", MATCH_RE, "re.*" },
				   { "d", MATCH_NRE, "re" } }, 5);
	expect_ok("{__name__=~\"node_.*\"}", (struct want[]){ { "__name__", MATCH_RE, "node_.*" } }, 1);
	expect_ok("foo{a=\"x\",}", (struct want[]){ { "__name__", MATCH_EQ, "foo" },
						   { "a", MATCH_EQ, "x" } }, 2);
	expect_ok("foo{}", (struct want[]){ { "__name__", MATCH_EQ, "foo" } }, 1);
	expect_ok(" foo \n{ a\t= \"x\" ,\n b =~ 'y' , } ",
		  (struct want[]){ { "__name__", MATCH_EQ, "foo" },
				   { "a", MATCH_EQ, "x" },
				   { "b", MATCH_RE, "y" } }, 3);
	/* Keywords are metric names in a selector; label names may be keywords. */
	expect_ok("sum{by=\"x\"}", (struct want[]){ { "__name__", MATCH_EQ, "sum" },
						   { "by", MATCH_EQ, "x" } }, 2);
	/* Without a metric name several __name__ matchers are fine. */
	expect_ok("{__name__=~\"a.*\",__name__!=\"ab\"}",
		  (struct want[]){ { "__name__", MATCH_RE, "a.*" }, { "__name__", MATCH_NEQ, "ab" } }, 2);
	/* One non-empty matcher is enough, beside empty-matching ones. */
	expect_ok("{a!=\"\",b=\"\"}", (struct want[]){ { "a", MATCH_NEQ, "" }, { "b", MATCH_EQ, "" } }, 2);
	expect_ok("{a!~\".*\"}", (struct want[]){ { "a", MATCH_NRE, ".*" } }, 1);
	expect_ok("up # a comment\n", (struct want[]){ { "__name__", MATCH_EQ, "up" } }, 1);
}

static void test_escapes(void **state)
{
	(void)state;
	expect_ok("{a=\"\\n\\t\\\\\\\"\\a\\b\\f\\r\\v\"}",
		  (struct want[]){ { "a", MATCH_EQ, "\n\t\\\"\a\b\f\r\v" } }, 1);
	expect_ok("{a='it\\'s'}", (struct want[]){ { "a", MATCH_EQ, "it's" } }, 1);
	expect_ok("{a='say \"hi\"'}", (struct want[]){ { "a", MATCH_EQ, "say \"hi\"" } }, 1);
	expect_ok("{a=\"\\x41\\101\\u00e9\\U0001F600\"}",
		  (struct want[]){ { "a", MATCH_EQ, "AA\xc3\xa9\xf0\x9f\x98\x80" } }, 1);
	/* \xNN and octal are bytes, not code points. */
	expect_ok("{a=\"\\xff\\377\"}", (struct want[]){ { "a", MATCH_EQ, "\xff\xff" } }, 1);
	/* Backticks: no escapes at all, newlines allowed. */
	expect_ok("{a=`x\\q\\n\ny`}", (struct want[]){ { "a", MATCH_EQ, "x\\q\\n\ny" } }, 1);
	expect_ok("{a=~\"\\\\d+\"}", (struct want[]){ { "a", MATCH_RE, "\\d+" } }, 1);
	expect_ok("{a=\"caf\xc3\xa9\"}", (struct want[]){ { "a", MATCH_EQ, "caf\xc3\xa9" } }, 1);
}

static void test_errors(void **state)
{
	(void)state;
	/* The messages and columns below are Prometheus 2.42's for the same input. */
	expect_err("foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces");
	expect_err("{", "1:2: parse error: unexpected end of input inside braces");
	expect_err("foo{a=", "1:7: parse error: unexpected end of input inside braces");
	expect_err("foo{a}", "1:6: parse error: unexpected \"}\" in label matching, expected label "
			     "matching operator");
	expect_err("foo{a=b}", "1:7: parse error: unexpected identifier \"b\" in label matching, "
			       "expected string");
	expect_err("foo{a==\"b\"}", "1:7: parse error: unexpected \"=\" in label matching, expected "
				   "string");
	expect_err("{}", "1:1: parse error: vector selector must contain at least one non-empty "
			 "matcher");
	expect_err("{a=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty "
			       "matcher");
	expect_err("{a=~\".*\"}", "1:1: parse error: vector selector must contain at least one "
				  "non-empty matcher");
	expect_err("{a!=\"x\"}", "1:1: parse error: vector selector must contain at least one "
				 "non-empty matcher");
	expect_err("foo{a=\"b\\q\"}", "1:7: parse error: unknown escape sequence U+0071 'q'");
	expect_err("foo{a='b\\\"'}", "1:7: parse error: unknown escape sequence U+0022 '\"'");
	expect_err("foo{a=\"\\'\"}", "1:7: parse error: unknown escape sequence U+0027 '''");
	expect_err("foo{a=\"\\400\"}", "1:7: parse error: escape sequence is an invalid Unicode code "
				      "point");
	expect_err("foo{a=\"\\ud800\"}", "1:7: parse error: escape sequence is an invalid Unicode "
					"code point");
	expect_err("foo{a=\"\\x4\"}", "1:7: parse error: illegal character U+0022 '\"' in escape "
				     "sequence");
	expect_err("foo{a=\"\\x", "1:7: parse error: escape sequence not terminated");
	expect_err("foo{a=\"x", "1:7: parse error: unterminated quoted string");
	expect_err("foo{a=\"x\ny\"}", "1:7: parse error: unterminated quoted string");
	expect_err("foo{a=`x", "1:7: parse error: unterminated raw string");
	expect_err("foo{a=\"\\x00\"}", "1:7: parse error: label value contains a NUL byte");
	expect_err("foo{__name__=\"bar\"}", "1:1: parse error: metric name must not be set twice: "
					   "\"foo\" or \"bar\"");
	expect_err("foo{__name__!=\"foo\"}", "1:1: parse error: metric name must not be set twice: "
					    "\"foo\" or \"foo\"");
	expect_err("foo}", "1:4: parse error: unexpected character: '}'");
	expect_err("foo{a:b=\"x\"}", "1:6: parse error: unexpected character inside braces: ':'");
	expect_err("foo{9=\"a\"}", "1:5: parse error: unexpected character inside braces: '9'");
	expect_err("foo{a~\"x\"}", "1:6: parse error: unexpected character inside braces: '~'");
	expect_err("foo{a!\"x\"}", "1:6: parse error: unexpected character after '!' inside braces: "
				  "'\"'");
	expect_err("foo{,}", "1:5: parse error: unexpected \",\" in label matching, expected "
			     "identifier or \"}\"");
	expect_err("foo{a=\"x\",,}", "1:11: parse error: unexpected \",\" in label matching, "
				    "expected identifier or \"}\"");
	expect_err("foo{\"a\"=\"b\"}", "1:5: parse error: unexpected string \"\\\"a\\\"\" in label "
				      "matching, expected identifier or \"}\"");
	expect_err("{a=\"b\" b=\"c\"}", "1:8: parse error: unexpected identifier \"b\" in label "
				       "matching, expected \",\" or \"}\"");
	expect_err("foo bar", "1:5: parse error: unexpected identifier \"bar\"");
	expect_err("foo{a=\"x\"}{b=\"y\"}", "1:11: parse error: unexpected \"{\"");
	expect_err("foo[5m]", "1:4: parse error: unexpected \"[\"");
	expect_err("inf{a=\"b\"}", "1:1: parse error: unexpected number \"inf\"");
	expect_err("1", "1:1: parse error: unexpected number \"1\"");
	expect_err("", "1:1: parse error: unexpected end of input");
	expect_err("   ", "1:4: parse error: unexpected end of input");
	expect_err("foo{a=~\"(\"}", "1:5: parse error: invalid regex for label a: missing closing "
				    "parenthesis at offset 1");
	/* Lines and columns across newlines. */
	expect_err("foo{\n  a=\"x\",\n  b}", "3:4: parse error: unexpected \"}\" in label matching, "
					    "expected label matching operator");
	expect_err("\n\n  {}", "3:3: parse error: vector selector must contain at least one "
			       "non-empty matcher");
}

static void test_limits(void **state)
{
	struct buf b;
	struct matcher *m;
	size_t n;
	char err[256];

	(void)state;
	/* The metric name counts: x plus 63 matchers is the most, one more is refused. */
	buf_init(&b, 0);
	buf_puts(&b, "x{");
	for (int i = 0; i < PROMQL_MAX_MATCHERS - 1; i++)
		buf_printf(&b, "l%d=\"v\",", i);
	assert_int_equal(promql_parse_selector(b.data, &m, &n, err, sizeof(err)), -EINVAL);
	buf_putc(&b, '}');
	assert_int_equal(promql_parse_selector(b.data, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, PROMQL_MAX_MATCHERS);
	promql_matchers_free(m, n);
	b.data[--b.len] = '\0';
	buf_puts(&b, "z=\"v\"}");
	assert_int_equal(promql_parse_selector(b.data, &m, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "1:497: parse error: too many label matchers (at most 64)");
	buf_reset(&b);
	for (int i = 0; i <= PROMQL_MAX_SELECTOR_LEN; i++)
		buf_putc(&b, 'a');
	assert_int_equal(promql_parse_selector(b.data, &m, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "selector too long"));
	/* A zero-length error buffer is allowed. */
	assert_int_equal(promql_parse_selector("{", &m, &n, NULL, 0), -EINVAL);
	buf_release(&b);
}

static void test_quote(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(promql_quote(&b, "a\"b\\c\nd\te\x01\x7f" "caf\xc3\xa9\xff", 17), 0);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\te\\x01\\x7fcaf\xc3\xa9\\xff\"");
	buf_reset(&b);
	assert_int_equal(promql_quote(&b, "\xc2\x85", 2), 0);
	assert_string_equal(b.data, "\"\\u0085\"");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
