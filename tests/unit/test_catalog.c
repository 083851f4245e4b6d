/* The error catalog: merging per fingerprint, exactly once with the batch, reading, the API. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "query/api.h"
#include "store/store.h"

static char dir[64];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static struct store *open_store_at(const char *path, bool ro)
{
	struct store_options opt = { .path = path, .retention_ms = 0, .read_only = ro };
	struct store *st;
	char err[256];

	if (store_open(&opt, &st, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	return st;
}

static struct store *open_store(bool ro)
{
	return open_store_at(dir, ro);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/dw-catalog-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* The catalog since 'since_ms' with no other bound. */
static int list(struct store *st, int64_t since_ms, bool new_only,
		int (*fn)(void *ctx, const struct store_catalog_entry *e), void *ctx)
{
	const struct store_catalog_filter f = { since_ms, INT64_MAX, new_only, 0 };

	return store_catalog_list(st, &f, fn, ctx);
}

#define FP_A "0123456789abcdef0123456789abcdef"
#define FP_B "fedcba9876543210fedcba9876543210"

static struct logged_exception exc(const char *fp, const char *entry, int64_t t)
{
	struct logged_exception e = {
		.fingerprint = fp, .class_name = "Illuminate\\Database\\QueryException",
		.message = "SQLSTATE[HY000] [N] Connection refused (SQL: select N)",
		.location = "app/Http/Controllers/OrderController.php:{main}", .previous = "",
		.entry = entry, .entry_len = strlen(entry), .t_ms = t,
	};
	return e;
}

struct rows {
	char text[4096];
	size_t n;
};

static int collect(void *ctx, const struct store_catalog_entry *e)
{
	struct rows *r = ctx;
	size_t l = strlen(r->text);

	snprintf(r->text + l, sizeof(r->text) - l, "%s %llu %lld %lld %s|%s|%s|%zu\n",
		 e->fingerprint, (unsigned long long)e->count, (long long)e->first_seen_ms,
		 (long long)e->last_seen_ms, e->class_name, e->message, e->location, e->sample_len);
	r->n++;
	return 0;
}

static void test_catalog_exactly_once(void **state)
{
	struct store *st = open_store(false), *ro;
	struct store_catalog_buf *cb = store_catalog_buf_new();
	struct store_batch *b = store_batch_new();
	struct label l[] = { { "__name__", "laravel_exceptions_total" } };
	struct logged_exception e;
	struct rows r = { "", 0 };
	struct buf sample;
	char big[3000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* three occurrences of A (the second is the earliest: its entry is the sample), one of B */
	e = exc(FP_A, "second entry", 2000);
	assert_int_equal(store_catalog_buf_add(cb, &e), 0);
	e = exc(FP_A, "first entry", 1000);
	assert_int_equal(store_catalog_buf_add(cb, &e), 0);
	e = exc(FP_A, "third entry", 3000);
	assert_int_equal(store_catalog_buf_add(cb, &e), 0);
	e = exc(FP_B, big, 1500);
	assert_int_equal(store_catalog_buf_add(cb, &e), 0);
	e = exc("not-a-fingerprint", "x", 1);
	assert_int_equal(store_catalog_buf_add(cb, &e), -EINVAL);
	assert_int_equal(store_catalog_buf_len(cb), 2);

	/* into the batch, with a sample: a read-only store refuses the commit and the batch keeps
	 * both the sample and the catalog records for the next attempt */
	assert_int_equal(store_batch_add(b, l, 1, METRIC_COUNTER, 3000, 4), 0);
	assert_int_equal(store_batch_take_catalog(b, cb), 0);
	assert_int_equal(store_catalog_buf_len(cb), 0);
	{
		/* another store, read-only (one LMDB environment is opened once per process) */
		char other[128];

		snprintf(other, sizeof(other), "%s/other", dir);
		store_close(open_store_at(other, false));
		ro = open_store_at(other, true);
		assert_int_equal(store_commit(ro, b, NULL), -EROFS);
		store_close(ro);
	}
	assert_int_equal(store_batch_len(b), 1);
	assert_int_equal(store_commit(st, b, NULL), 0);
	assert_int_equal(store_batch_len(b), 0);
	/* committing the emptied batch again writes nothing more */
	assert_int_equal(store_commit(st, b, NULL), 0);

	assert_int_equal(list(st, 0, false, collect, &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.text,
		FP_A " 3 1000 3000 Illuminate\\Database\\QueryException|SQLSTATE[HY000] [N] "
		"Connection refused (SQL: select N)|app/Http/Controllers/OrderController.php:{main}|11\n"
		FP_B " 1 1500 1500 Illuminate\\Database\\QueryException|SQLSTATE[HY000] [N] "
		"Connection refused (SQL: select N)|app/Http/Controllers/OrderController.php:{main}|2999\n");

	/* a later commit adds to the stored record; the first sample stays */
	e = exc(FP_A, "fourth entry", 5000);
	assert_int_equal(store_catalog_buf_add(cb, &e), 0);
	assert_int_equal(store_batch_take_catalog(b, cb), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	r.text[0] = '\0';
	r.n = 0;
	assert_int_equal(list(st, 2000, false, collect, &r), 0);
	assert_int_equal(r.n, 1); /* B was last seen at 1500 */
	assert_non_null(strstr(r.text, FP_A " 4 1000 5000 "));
	r.n = 0;
	assert_int_equal(list(st, 1200, true, collect, &r), 0);
	assert_int_equal(r.n, 1); /* new since 1200: only B (A was first seen at 1000) */
	/* first seen at or before 1200: only A; a limit keeps the most recently seen */
	{
		struct store_catalog_filter f = { .since_ms = 0, .until_ms = 1200 };

		r.text[0] = '\0';
		r.n = 0;
		assert_int_equal(store_catalog_list(st, &f, collect, &r), 0);
		assert_int_equal(r.n, 1);
		assert_non_null(strstr(r.text, FP_A " 4 1000 5000 "));
		f.until_ms = INT64_MAX;
		f.limit = 1;
		r.text[0] = '\0';
		r.n = 0;
		assert_int_equal(store_catalog_list(st, &f, collect, &r), 0);
		assert_int_equal(r.n, 1);
		assert_non_null(strstr(r.text, FP_A " 4 1000 5000 ")); /* last seen 5000 > 1500 */
	}

	buf_init(&sample, 0);
	assert_int_equal(store_catalog_sample(st, FP_A, &sample), 0);
	assert_string_equal(sample.data, "first entry");
	assert_int_equal(store_catalog_sample(st, FP_B, &sample), 0);
	assert_int_equal(sample.len, 2999);
	assert_int_equal(store_catalog_sample(st, "00000000000000000000000000000000", &sample),
			 -ENOENT);
	assert_int_equal(store_catalog_sample(st, "zz", &sample), -EINVAL);
	buf_release(&sample);

	store_batch_free(b);
	store_catalog_buf_free(cb);
	store_close(st);
}

static void test_catalog_api(void **state)
{
	struct store *st = open_store(false);
	struct store_catalog_buf *cb = store_catalog_buf_new();
	struct store_batch *b = store_batch_new();
	struct logged_exception e = exc(FP_A, "entry \"quoted\"\n#0 {main}", 1795800000000);
	const char *n1[] = { "start", "end" }, *v1[] = { "2026-11-27T17:00:00Z", "1795803600" };
	const char *n2[] = { "start" }, *v2[] = { "yesterday" };
	const char *n3[] = { "limit" }, *v3[] = { "0" };
	struct buf json;

	(void)state;
	assert_int_equal(store_catalog_buf_add(cb, &e), 0);
	assert_int_equal(store_batch_take_catalog(b, cb), 0);
	assert_int_equal(store_commit(st, b, NULL), 0);
	buf_init(&json, 0);
	assert_int_equal(promql_api_errors(st, n1, v1, 2, 1795803600000, &json), 200);
	assert_string_equal(json.data,
		"{\"status\":\"success\",\"data\":[{\"fingerprint\":\"" FP_A "\","
		"\"class\":\"Illuminate\\\\Database\\\\QueryException\","
		"\"message\":\"SQLSTATE[HY000] [N] Connection refused (SQL: select N)\","
		"\"location\":\"app/Http/Controllers/OrderController.php:{main}\","
		"\"first_seen\":\"2026-11-27T17:20:00.000Z\",\"last_seen\":\"2026-11-27T17:20:00.000Z\","
		"\"count\":1}]}");
	/* default window: the hour before now, which here ends before the exception */
	assert_int_equal(promql_api_errors(st, NULL, NULL, 0, 1795790000000, &json), 200);
	assert_string_equal(json.data, "{\"status\":\"success\",\"data\":[]}");
	assert_int_equal(promql_api_errors(st, n2, v2, 1, 1795803600000, &json), 400);
	assert_non_null(strstr(json.data, "\"errorType\":\"bad_data\""));
	assert_int_equal(promql_api_errors(st, n3, v3, 1, 1795803600000, &json), 400);
	buf_release(&json);
	store_batch_free(b);
	store_catalog_buf_free(cb);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_catalog_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_api, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
