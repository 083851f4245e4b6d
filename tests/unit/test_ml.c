/* Multiline assembly from tables: lines (with their read times) in, entries out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/logp_int.h"
#include "core/buf.h"

/*
 * One case: a format, caps, and a script of steps:
 *   "+T text"  push line 'text' read at time T (ms)
 *   "tT"       ml_tick at T
 *   "f"        ml_flush
 *   "oN"       ml_committable_offset() must be N
 * 'want' lists the entries emitted, in order, each as its text with lines joined by '|' and a
 * final "@END_OFFSET" (and "!" when cut), entries separated by " ; ".
 */
struct ml_case {
	const char *name;
	const char *format;
	size_t max_entry;
	int64_t idle_ms;
	const char *steps[16];
	const char *want;
};

static const struct ml_case cases[] = {
	{ "laravel: an entry ends at the next start", "laravel", 0, 1000,
	  { "+0 [2026-11-27 17:20:00] a.ERROR: x", "+0 #0 frame", "+0 \"}", "o0",
	    "+0 [2026-11-27 17:20:01] a.INFO: y", "o45", "f", "o77" },
	  "[2026-11-27 17:20:00] a.ERROR: x|#0 frame|\"}@45 ; [2026-11-27 17:20:01] a.INFO: y@77" },
	{ "idle timeout restarts with every line", "laravel", 0, 1000,
	  { "+0 [2026-11-27 17:20:00] a.ERROR: x", "+900 #0", "t1500", "o0", "+1800 #1",
	    "t2700", "o0", "t2800", "o39" },
	  "[2026-11-27 17:20:00] a.ERROR: x|#0|#1@39" },
	{ "continuation lines with nothing pending are an entry of their own", "laravel", 0, 1000,
	  { "+0 #0 orphan", "+0 #1 orphan", "+0 [2026-11-27 17:20:00] a.INFO: y", "f" },
	  "#0 orphan|#1 orphan@20 ; [2026-11-27 17:20:00] a.INFO: y@52" },
	{ "a line after an idle flush starts a new (orphan) entry", "laravel", 0, 100,
	  { "+0 [2026-11-27 17:20:00] a.INFO: y", "t100", "+150 late line", "f" },
	  "[2026-11-27 17:20:00] a.INFO: y@32 ; late line@42" },
	{ "the size cap cuts and flags, and later lines are dropped", "laravel", 40, 1000,
	  { "+0 [2026-11-27 17:20:00] a.ERROR: xyz", "+0 #0 a long frame line", "+0 #1 more",
	    "o0", "f", "o64" },
	  "[2026-11-27 17:20:00] a.ERROR: xyz|#0 a !@64" },
	{ "nginx: every line is an entry at once", "nginx", 0, 1000,
	  { "+0 line one", "o9", "+0 line two", "o18" },
	  "line one@9 ; line two@18" },
	{ "mysql-error: unprefixed lines belong to the entry before", "mysql-error", 0, 1000,
	  { "+0 2026-11-27 17:17:56 8 [Note] InnoDB: ", "+0 *** (1) TRANSACTION:", "+0 ",
	    "+0 2026-11-27T09:21:10Z UTC - mysqld got signal 6 ;",
	    "+0 2026-11-27T09:00:01.102938Z 0 [System] [MY-010116] [Server] x", "f" },
	  "2026-11-27 17:17:56 8 [Note] InnoDB: |*** (1) TRANSACTION:||2026-11-27T09:21:10Z UTC - "
	  "mysqld got signal 6 ;@109 ; 2026-11-27T09:00:01.102938Z 0 [System] [MY-010116] "
	  "[Server] x@171" },
	{ "mysql-slow: # User@Host opens an entry unless right after # Time", "mysql-slow", 0,
	  1000,
	  { "+0 # Time: 261127 17:17:55", "+0 # User@Host: a", "+0 select 1;",
	    "+0 # User@Host: b", "+0 select 2;", "f" },
	  "# Time: 261127 17:17:55|# User@Host: a|select 1;@49 ; # User@Host: b|select 2;@74" },
};

struct collect {
	struct buf out;
};

static int collect(void *ctx, const struct ml_entry *e)
{
	struct buf *b = ctx;

	if (b->len)
		buf_puts(b, " ; ");
	for (size_t i = 0; i < e->len; i++)
		buf_putc(b, e->text[i] == '\n' ? '|' : e->text[i]);
	buf_printf(b, "%s@%llu", e->cut ? "!" : "", (unsigned long long)e->end_offset);
	return 0;
}

static void test_ml_cases(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ml_case *c = &cases[i];
		struct ml_options opt = { c->max_entry, c->idle_ms };
		struct ml *m = ml_new(logp_format_find(c->format), &opt);
		struct buf b;
		uint64_t off = 0;

		assert_non_null(logp_format_find(c->format));
		buf_init(&b, 0);
		for (size_t s = 0; s < 16 && c->steps[s]; s++) {
			const char *st = c->steps[s];

			if (st[0] == '+') {
				char *sp;
				long long t = strtoll(st + 1, &sp, 10);
				size_t len = strlen(sp + 1);

				off += len + 1;
				assert_int_equal(ml_push(m, sp + 1, len, off, t, collect, &b), 0);
			} else if (st[0] == 't') {
				assert_int_equal(ml_tick(m, strtoll(st + 1, NULL, 10), collect, &b),
						 0);
			} else if (st[0] == 'f') {
				assert_int_equal(ml_flush(m, collect, &b), 0);
			} else if (st[0] == 'o') {
				unsigned long long want = strtoull(st + 1, NULL, 10);

				if (ml_committable_offset(m) != want) {
					printf("%s: step %zu: committable offset %llu, expected "
					       "%llu\n", c->name, s,
					       (unsigned long long)ml_committable_offset(m), want);
					failures++;
				}
			}
		}
		if (strcmp(b.data ? b.data : "", c->want) != 0) {
			printf("%s:\n  got  %s\n  want %s\n", c->name, b.data ? b.data : "", c->want);
			failures++;
		}
		buf_release(&b);
		ml_free(m);
	}
	assert_int_equal(failures, 0);
}

/* An emit error leaves the pending entry intact and the line unconsumed. */
static int refuse(void *ctx, const struct ml_entry *e)
{
	(void)e;
	return ++*(int *)ctx == 1 ? -5 : 0;
}

static void test_ml_emit_error(void **state)
{
	struct ml_options opt = { 0, 1000 };
	struct ml *m = ml_new(logp_format_find("laravel"), &opt);
	const char *a = "[2026-11-27 17:20:00] a.INFO: one", *b = "[2026-11-27 17:20:01] a.INFO: two";
	int calls = 0;

	(void)state;
	assert_int_equal(ml_push(m, a, strlen(a), 34, 0, refuse, &calls), 0);
	assert_int_equal(ml_push(m, b, strlen(b), 68, 0, refuse, &calls), -5);
	assert_int_equal(ml_committable_offset(m), 0);
	assert_int_equal(ml_push(m, b, strlen(b), 68, 0, refuse, &calls), 0);
	assert_int_equal(calls, 2);
	assert_int_equal(ml_committable_offset(m), 34);
	assert_int_equal(ml_deadline(m), 1000);
	ml_free(m);
}

/* ml_set_offset: a resumed file whose first line was cut by the tailer still commits exactly. */
static void test_ml_set_offset(void **state)
{
	struct ml_options opt = { 0, 1000 };
	struct ml *m = ml_new(logp_format_find("laravel"), &opt);
	const char *a = "[2026-11-27 17:20:00] a.INFO: cut";

	(void)state;
	ml_set_offset(m, 5000);
	assert_int_equal(ml_committable_offset(m), 5000);
	assert_int_equal(ml_push(m, a, strlen(a), 9000, 0, NULL, NULL), 0);
	assert_int_equal(ml_committable_offset(m), 5000);
	assert_int_equal(ml_deadline(m), 1000);
	ml_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ml_cases),
		cmocka_unit_test(test_ml_emit_error),
		cmocka_unit_test(test_ml_set_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
