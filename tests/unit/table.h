#ifndef DW_TESTS_TABLE_H
#define DW_TESTS_TABLE_H

/*
 * Tests of pure functions from tables: a small text format of our own, one case per line.
 *
 *   # a comment; blank lines are skipped
 *   kind word "a quoted \x00 word\n" word ...
 *
 * Words are separated by blanks. A word in double quotes may hold blanks and the escapes \\ \"
 * \n \r \t \xHH (any byte, NUL included); "" is the empty word. The first word names the kind of
 * case, and each test runs the rows of its kinds: a row that fails prints FILE:LINE and why, the
 * test fails after all rows ran, and a kind with no rows fails too (a test that cannot fail is
 * not a test).
 */

#include <stdbool.h>
#include <stddef.h>

#define TABLE_MAX_WORDS 24

struct table_row {
	unsigned line;
	size_t nword;
	char *word[TABLE_MAX_WORDS];  /* decoded, NUL-terminated (and may hold NULs) */
	size_t len[TABLE_MAX_WORDS];  /* decoded lengths */
};

struct table {
	char *path;
	struct table_row *rows;
	size_t nrows;
};

/* Read the table at 'path' (fails the running test on a syntax error or an unreadable file). */
void table_load(struct table *t, const char *path);
void table_free(struct table *t);

/* A case: true when it holds, else false with why in 'msg'. */
typedef bool table_case_fn(const struct table_row *r, char *msg, size_t msglen);

/* Run 'fn' on every row whose first word is 'kind'. Fails the test when a row fails or when no
 * row has that kind. Returns the number of rows run. */
size_t table_run(const struct table *t, const char *kind, table_case_fn *fn);

/* Helpers for case functions: a word as an unsigned / signed number (decimal or 0x hex),
 * failing the test on a malformed one. */
unsigned long long table_u64(const struct table_row *r, size_t i);
long long table_i64(const struct table_row *r, size_t i);
/* Is word i equal to 's'? */
bool table_is(const struct table_row *r, size_t i, const char *s);

#endif
