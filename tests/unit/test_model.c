/*
 * core/model.c from tables (tests/fixtures/tables/model.txt): name rules, UTF-8, matcher
 * semantics, label order, hashing, the stale marker and metric types. What a table cannot say
 * (the regex length cap, the stale marker as produced) is checked below it.
 */
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
#include "core/model.h"
#include "table.h"

#define TABLE DW_FIXTURES "/tables/model.txt"

static struct table tab;

static int load(void **state)
{
	(void)state;
	table_load(&tab, TABLE);
	return 0;
}

static int unload(void **state)
{
	(void)state;
	table_free(&tab);
	return 0;
}

static bool yes(const struct table_row *r, size_t i)
{
	if (table_is(r, i, "yes") || table_is(r, i, "ok"))
		return true;
	if (table_is(r, i, "no") || table_is(r, i, "bad"))
		return false;
	fail_msg("line %u: word %zu must be yes/no or ok/bad", r->line, i);
	return false;
}

static int sign(int c)
{
	return (c > 0) - (c < 0);
}

static int want_sign(const struct table_row *r, size_t i)
{
	if (table_is(r, i, "<"))
		return -1;
	if (table_is(r, i, "="))
		return 0;
	if (table_is(r, i, ">"))
		return 1;
	fail_msg("line %u: word %zu must be <, = or >", r->line, i);
	return 0;
}

/* ---- names ---- */

static bool case_metric_name(const struct table_row *r, char *msg, size_t len)
{
	bool got = model_metric_name_valid(r->word[2], r->len[2]);

	snprintf(msg, len, "model_metric_name_valid(\"%s\") = %d", r->word[2], got);
	return got == yes(r, 1);
}

static bool case_label_name(const struct table_row *r, char *msg, size_t len)
{
	bool got = model_label_name_valid(r->word[2], r->len[2]);

	snprintf(msg, len, "model_label_name_valid(\"%s\") = %d", r->word[2], got);
	return got == yes(r, 1);
}

static bool case_reserved(const struct table_row *r, char *msg, size_t len)
{
	bool got = model_label_name_reserved(r->word[2]);

	snprintf(msg, len, "model_label_name_reserved(\"%s\") = %d", r->word[2], got);
	return got == yes(r, 1);
}

static void test_names(void **state)
{
	(void)state;
	table_run(&tab, "metric_name", case_metric_name);
	table_run(&tab, "label_name", case_label_name);
	table_run(&tab, "reserved", case_reserved);
}

/* ---- UTF-8 ---- */

static bool case_utf8(const struct table_row *r, char *msg, size_t len)
{
	bool got = model_utf8_valid(r->word[2], r->len[2]);

	snprintf(msg, len, "model_utf8_valid = %d", got);
	return got == yes(r, 1);
}

static bool case_decode(const struct table_row *r, char *msg, size_t len)
{
	long want = (long)table_i64(r, 2), got;
	size_t want_size = (size_t)table_u64(r, 3), size = 99;

	got = model_utf8_decode((const unsigned char *)r->word[1], r->len[1], &size);
	snprintf(msg, len, "decoded %#lx size %zu, want %#lx size %zu", (unsigned long)got, size,
		 (unsigned long)want, want_size);
	return got == want && size == want_size;
}

static void test_utf8(void **state)
{
	(void)state;
	table_run(&tab, "utf8", case_utf8);
	table_run(&tab, "decode", case_decode);
}

/* ---- matchers ---- */

static enum matcher_op op_of(const struct table_row *r, size_t i)
{
	static const enum matcher_op ops[] = { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE };

	for (size_t k = 0; k < 4; k++)
		if (table_is(r, i, model_matcher_op_str(ops[k])))
			return ops[k];
	fail_msg("line %u: %s is not a matcher operator", r->line, r->word[i]);
	return MATCH_EQ;
}

static struct model_matcher_prog *compile_row(const struct table_row *r, char *msg, size_t len)
{
	struct matcher m = { "job", op_of(r, 1), r->word[2] };
	struct model_matcher_prog *p;

	if (model_matcher_compile(&m, &p, msg, len) != 0)
		return NULL;
	return p;
}

static bool case_match(const struct table_row *r, char *msg, size_t len)
{
	struct model_matcher_prog *p = compile_row(r, msg, len);
	bool got;

	if (!p)
		return false;
	got = model_matcher_matches(p, r->word[3], r->len[3]);
	model_matcher_prog_free(p);
	snprintf(msg, len, "job%s\"%s\" on \"%s\" = %d", r->word[1], r->word[2], r->word[3], got);
	return got == yes(r, 4);
}

static bool case_match_empty(const struct table_row *r, char *msg, size_t len)
{
	struct model_matcher_prog *p = compile_row(r, msg, len);
	bool got, direct;

	if (!p)
		return false;
	got = model_matcher_matches_empty(p);
	direct = model_matcher_matches(p, "", 0);
	model_matcher_prog_free(p);
	snprintf(msg, len, "job%s\"%s\": matches_empty %d, matches(\"\") %d", r->word[1],
		 r->word[2], got, direct);
	return got == yes(r, 3) && direct == got;
}

static bool case_compile_error(const struct table_row *r, char *msg, size_t len)
{
	struct matcher m = { "job", op_of(r, 1), r->word[2] };
	struct model_matcher_prog *p = (void *)1;
	char err[256] = "";
	int rc = model_matcher_compile(&m, &p, err, sizeof(err));

	if (rc == 0) {
		model_matcher_prog_free(p);
		snprintf(msg, len, "\"%s\" compiled", r->word[2]);
		return false;
	}
	snprintf(msg, len, "rc %d, out %p, message \"%s\", want \"%s\"", rc, (void *)p, err,
		 r->word[3]);
	return rc == -EINVAL && p == NULL && strcmp(err, r->word[3]) == 0;
}

static void test_matchers(void **state)
{
	(void)state;
	table_run(&tab, "match", case_match);
	table_run(&tab, "match_empty", case_match_empty);
	table_run(&tab, "compile_error", case_compile_error);
}

/* The length cap, an error with no room for a message, and the compiled matcher's copy. */
static void test_matcher_limits(void **state)
{
	char *re = malloc(MODEL_MAX_REGEX_LEN + 2);
	struct model_matcher_prog *p;
	struct matcher m = { "path", MATCH_RE, re };
	char err[128];

	(void)state;
	memset(re, 'a', MODEL_MAX_REGEX_LEN);
	re[MODEL_MAX_REGEX_LEN] = '\0';
	assert_int_equal(model_matcher_compile(&m, &p, err, sizeof(err)), 0);
	assert_true(model_matcher_matches(p, re, MODEL_MAX_REGEX_LEN));
	model_matcher_prog_free(p);
	strcpy(re + MODEL_MAX_REGEX_LEN, "a");
	assert_int_equal(model_matcher_compile(&m, &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	assert_string_equal(err, "regex for label path is longer than 4096 bytes");
	m.value = "(";
	assert_int_equal(model_matcher_compile(&m, &p, NULL, 0), -EINVAL);

	/* The prog owns its copy: the caller's strings may go away. */
	strcpy(re, "x.*");
	m.value = re;
	assert_int_equal(model_matcher_compile(&m, &p, err, sizeof(err)), 0);
	memset(re, 0, 4);
	assert_string_equal(model_matcher_prog_matcher(p)->value, "x.*");
	assert_string_equal(model_matcher_prog_matcher(p)->name, "path");
	assert_int_equal(model_matcher_prog_matcher(p)->op, MATCH_RE);
	assert_true(model_matcher_matches(p, "xyz", 3));
	model_matcher_prog_free(p);
	model_matcher_prog_free(NULL);
	free(re);
}

/* ---- labels ---- */

#define SET_MAX 16

/* "a=1,b=2" into labels pointing into 'buf' (a copy). Returns the count. */
static size_t parse_set(const char *text, char *buf, size_t buflen, struct label *out)
{
	size_t n = 0;
	char *save = NULL;

	snprintf(buf, buflen, "%s", text);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		assert_non_null(eq);
		assert_true(n < SET_MAX);
		*eq = '\0';
		out[n].name = t;
		out[n++].value = eq + 1;
	}
	return n;
}

static void format_set(const struct label *l, size_t n, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s=%s", i ? "," : "", l[i].name,
				      l[i].value);
}

static bool case_label_cmp(const struct table_row *r, char *msg, size_t len)
{
	struct label a = { r->word[1], "" }, b = { r->word[2], "" };
	int got = sign(model_label_cmp(&a, &b)), back = sign(model_label_cmp(&b, &a));

	snprintf(msg, len, "cmp = %d, reversed %d", got, back);
	return got == want_sign(r, 3) && back == -got;
}

static bool case_sort(const struct table_row *r, char *msg, size_t len)
{
	struct label l[SET_MAX];
	char buf[256], got[256];
	size_t n = parse_set(r->word[1], buf, sizeof(buf), l);

	model_labels_sort(l, n);
	format_set(l, n, got, sizeof(got));
	snprintf(msg, len, "sorted \"%s\", want \"%s\"", got, r->word[2]);
	return strcmp(got, r->word[2]) == 0;
}

static bool case_set_cmp(const struct table_row *r, char *msg, size_t len)
{
	struct label a[SET_MAX], b[SET_MAX];
	char abuf[256], bbuf[256];
	size_t na = parse_set(r->word[1], abuf, sizeof(abuf), a);
	size_t nb = parse_set(r->word[2], bbuf, sizeof(bbuf), b);
	int got = sign(model_labels_cmp(a, na, b, nb)), back = sign(model_labels_cmp(b, nb, a, na));

	snprintf(msg, len, "cmp = %d, reversed %d", got, back);
	return got == want_sign(r, 3) && back == -got;
}

static bool case_get(const struct table_row *r, char *msg, size_t len)
{
	struct label l[SET_MAX];
	char buf[256];
	size_t n = parse_set(r->word[1], buf, sizeof(buf), l);
	const char *got = model_labels_get(l, n, r->word[2]);

	snprintf(msg, len, "got %s", got ? got : "NULL");
	if (table_is(r, 3, "-"))
		return got == NULL;
	return got && strcmp(got, r->word[3]) == 0;
}

static void test_labels(void **state)
{
	(void)state;
	table_run(&tab, "label_cmp", case_label_cmp);
	table_run(&tab, "sort", case_sort);
	table_run(&tab, "set_cmp", case_set_cmp);
	table_run(&tab, "get", case_get);
}

/* ---- hashing ---- */

static bool case_fnv(const struct table_row *r, char *msg, size_t len)
{
	uint64_t want = table_u64(r, 2);
	uint64_t got = model_fnv1a(MODEL_FNV1A_INIT, r->word[1], r->len[1]);
	uint64_t pieces = MODEL_FNV1A_INIT;

	/* Fed one byte at a time, the hash is the same. */
	for (size_t i = 0; i < r->len[1]; i++)
		pieces = model_fnv1a(pieces, r->word[1] + i, 1);
	snprintf(msg, len, "%#llx (bytewise %#llx), want %#llx", (unsigned long long)got,
		 (unsigned long long)pieces, (unsigned long long)want);
	return got == want && pieces == want;
}

static bool case_labels_hash(const struct table_row *r, char *msg, size_t len)
{
	struct label l[SET_MAX];
	char buf[256];
	size_t n = parse_set(r->word[1], buf, sizeof(buf), l);
	uint64_t got = model_labels_hash(l, n), want = table_u64(r, 2);

	snprintf(msg, len, "%#llx, want %#llx", (unsigned long long)got, (unsigned long long)want);
	return got == want;
}

static bool case_hash_differs(const struct table_row *r, char *msg, size_t len)
{
	struct label a[SET_MAX], b[SET_MAX];
	char abuf[256], bbuf[256];
	size_t na = parse_set(r->word[1], abuf, sizeof(abuf), a);
	size_t nb = parse_set(r->word[2], bbuf, sizeof(bbuf), b);

	snprintf(msg, len, "both hash to %#llx", (unsigned long long)model_labels_hash(a, na));
	return model_labels_hash(a, na) != model_labels_hash(b, nb);
}

static void test_hashing(void **state)
{
	(void)state;
	table_run(&tab, "fnv", case_fnv);
	table_run(&tab, "labels_hash", case_labels_hash);
	table_run(&tab, "hash_differs", case_hash_differs);
}

/* ---- the stale marker and metric types ---- */

static bool case_stale(const struct table_row *r, char *msg, size_t len)
{
	double v = bits_double(table_u64(r, 1));
	bool got = model_is_stale(v);

	snprintf(msg, len, "model_is_stale = %d", got);
	return got == yes(r, 2);
}

static bool case_type(const struct table_row *r, char *msg, size_t len)
{
	const char *got = model_metric_type_name((enum metric_type)table_u64(r, 1));

	snprintf(msg, len, "\"%s\"", got);
	return strcmp(got, r->word[2]) == 0;
}

static void test_stale_and_types(void **state)
{
	volatile double zero = 0.0;

	(void)state;
	table_run(&tab, "stale", case_stale);
	table_run(&tab, "type", case_type);
	/* The marker as produced is a NaN with the marker's bits; NaNs computed at run time are
	 * ordinary NaNs, never the marker. */
	assert_true(isnan(model_stale_nan()));
	assert_true(model_is_stale(model_stale_nan()));
	assert_true(double_bits(model_stale_nan()) == MODEL_STALE_NAN_BITS);
	assert_false(model_is_stale(NAN));
	assert_false(model_is_stale(zero / zero));
	assert_false(model_is_stale(sqrt(-1.0 + zero)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_matchers),
		cmocka_unit_test(test_matcher_limits),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_hashing),
		cmocka_unit_test(test_stale_and_types),
	};

	return cmocka_run_group_tests(tests, load, unload);
}
