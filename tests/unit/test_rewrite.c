/*
 * query/rewrite.c from a table (tests/fixtures/tables/rewrite.txt): promql_add_matchers adds the
 * extra matchers to every vector selector and changes nothing else; bad input is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "query/promql.h"
#include "table.h"

#define TABLE DW_FIXTURES "/tables/rewrite.txt"

static bool case_add(const struct table_row *r, char *msg, size_t msglen)
{
	struct buf out;
	char err[256] = "";
	bool ok;
	int rc;

	buf_init(&out, 0);
	buf_puts(&out, "kept|"); /* it appends */
	rc = promql_add_matchers(r->word[1], r->word[2], &out, err, sizeof(err));
	ok = rc == 0 && strncmp(out.data, "kept|", 5) == 0 && strcmp(out.data + 5, r->word[3]) == 0;
	if (!ok)
		snprintf(msg, msglen, "rc %d (%s), got '%s'", rc, err, out.data ? out.data : "");
	buf_release(&out);
	return ok;
}

static bool case_bad(const struct table_row *r, char *msg, size_t msglen)
{
	struct buf out;
	char err[256] = "";
	int rc;

	buf_init(&out, 0);
	rc = promql_add_matchers(r->word[1], r->word[2], &out, err, sizeof(err));
	buf_release(&out);
	if (rc == PROMQL_E_BAD_DATA && strstr(err, r->word[3]))
		return true;
	snprintf(msg, msglen, "rc %d, error '%s'", rc, err);
	return false;
}

static void test_table(void **state)
{
	struct table tab;

	(void)state;
	table_load(&tab, TABLE);
	table_run(&tab, "add", case_add);
	table_run(&tab, "bad", case_bad);
	table_free(&tab);
}

/* A result over the buffer's cap is an error, not a cut expression. */
static void test_cap(void **state)
{
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, 16);
	assert_int_equal(promql_add_matchers("up + up + up", "job=\"a\"", &out, err, sizeof(err)),
			 PROMQL_E_BAD_DATA);
	assert_non_null(strstr(err, "over 16 bytes"));
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
