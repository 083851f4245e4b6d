#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/registry.h"

/* Collects every sample as one line "name{a=x,b=y} value", and every family as "# name type n". */
static int collect_family(void *ctx, const struct metric_info *info)
{
	buf_printf(ctx, "# %s %d %zu\n", info->name, (int)info->type, info->nseries);
	return 0;
}

static int collect_sample(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	char v[FMT_DOUBLE_MAX];

	(void)info;
	buf_printf(ctx, "%s{", s->name);
	for (size_t i = 0; i < s->nlabels; i++)
		buf_printf(ctx, "%s%s=%s", i ? "," : "", s->label_names[i], s->label_values[i]);
	buf_printf(ctx, "} %s\n", fmt_double(v, s->value));
	return 0;
}

static const struct registry_visitor collector = { collect_family, collect_sample };

static char *dump(struct registry *reg)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(registry_visit(reg, &collector, &b), 0);
	return buf_detach(&b, NULL);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected to find '%s' in:\n%s", needle, hay);
}

static void test_counter_gauge(void **state)
{
	static const char *const labels[] = { "level", NULL };
	struct registry *reg = registry_new(0);
	struct metric *c, *g;
	struct series *s;
	char *out;

	(void)state;
	c = registry_counter(reg, "laravel_log_entries_total", "Entries.", labels);
	assert_non_null(c);
	g = registry_gauge(reg, "node_load1", "Load.", NULL);
	assert_non_null(g);
	s = metric_series(c, (const char *[]){ "error" });
	series_add(s, 1);
	series_add(s, 2);
	series_add(s, -5); /* counters never go down */
	assert_true(series_value(s) == 3.0);
	/* The same label values find the same series. */
	assert_ptr_equal(metric_series(c, (const char *[]){ "error" }), s);
	series_set(metric_series(g, NULL), 0.42);
	out = dump(reg);
	assert_contains(out, "# laravel_log_entries_total 0 1\n");
	assert_contains(out, "laravel_log_entries_total{level=error} 3\n");
	assert_contains(out, "node_load1{} 0.42\n");
	assert_contains(out, "deploywatch_series{metric=laravel_log_entries_total} 1\n");
	free(out);
	registry_free(reg);
}

static void test_register_conflicts(void **state)
{
	static const char *const a[] = { "a", NULL };
	static const char *const b[] = { "b", NULL };
	static const char *const dup[] = { "a", "a", NULL };
	static const char *const reserved[] = { "__name__", NULL };
	static const char *const le[] = { "le", NULL };
	static const double bounds[] = { 0.1, 1 };
	static const double unsorted[] = { 1, 0.1 };
	struct registry *reg = registry_new(0);
	struct metric *m;

	(void)state;
	m = registry_counter(reg, "x_total", "X.", a);
	assert_ptr_equal(registry_counter(reg, "x_total", "X.", a), m);
	assert_null(registry_counter(reg, "x_total", "X.", b));
	assert_null(registry_gauge(reg, "x_total", "X.", a));
	assert_null(registry_counter(reg, "bad-name", "", NULL));
	assert_null(registry_counter(reg, "9lives", "", NULL));
	assert_null(registry_counter(reg, "y", "", dup));
	assert_null(registry_counter(reg, "y", "", reserved));
	/* Every "__" name is reserved, not only __name__; one leading '_' is an ordinary name. */
	assert_null(registry_counter(reg, "y", "", (const char *const[]){ "__meta_x", NULL }));
	assert_non_null(registry_counter(reg, "y", "", (const char *const[]){ "_x", NULL }));
	/* ':' belongs to metric names (recording rules), never to label names. */
	assert_non_null(registry_gauge(reg, "job:up:sum", "", NULL));
	assert_null(registry_gauge(reg, "z", "", (const char *const[]){ "a:b", NULL }));
	assert_null(registry_gauge(reg, "", "", NULL));
	assert_null(registry_histogram(reg, "h", "", le, bounds, 2));
	assert_null(registry_histogram(reg, "h", "", NULL, unsorted, 2));
	assert_non_null(registry_histogram(reg, "h", "", NULL, bounds, 2));
	registry_free(reg);
}

static void test_histogram(void **state)
{
	static const char *const labels[] = { "method", NULL };
	static const double bounds[] = { 0.1, 0.5, 2 };
	struct registry *reg = registry_new(0);
	struct metric *h = registry_histogram(reg, "http_request_duration_seconds", "Latency.", labels,
					      bounds, 3);
	struct series *s = metric_series(h, (const char *[]){ "GET" });
	char *out;

	(void)state;
	series_observe(s, 0.05);
	series_observe(s, 0.1); /* le is inclusive */
	series_observe(s, 0.3);
	series_observe(s, 3);
	out = dump(reg);
	assert_contains(out, "http_request_duration_seconds_bucket{method=GET,le=0.1} 2\n");
	assert_contains(out, "http_request_duration_seconds_bucket{method=GET,le=0.5} 3\n");
	assert_contains(out, "http_request_duration_seconds_bucket{method=GET,le=2} 3\n");
	assert_contains(out, "http_request_duration_seconds_bucket{method=GET,le=+Inf} 4\n");
	assert_contains(out, "http_request_duration_seconds_sum{method=GET} 3.45\n");
	assert_contains(out, "http_request_duration_seconds_count{method=GET} 4\n");
	free(out);
	registry_free(reg);
}

static void test_overflow(void **state)
{
	static const char *const labels[] = { "class", NULL };
	struct registry *reg = registry_new(3);
	struct metric *m = registry_counter(reg, "laravel_exceptions_total", "", labels);
	char name[32];
	char *out;

	(void)state;
	for (int i = 0; i < 10; i++) {
		const char *v[1] = { name };

		snprintf(name, sizeof(name), "E%d", i);
		series_add(metric_series(m, v), 1);
	}
	out = dump(reg);
	assert_contains(out, "laravel_exceptions_total{class=E2} 1\n");
	assert_contains(out, "laravel_exceptions_total{class=__overflow__} 7\n");
	assert_contains(out, "deploywatch_series_overflow_total{metric=laravel_exceptions_total} 7\n");
	assert_contains(out, "deploywatch_series{metric=laravel_exceptions_total} 4\n");
	assert_null(strstr(out, "class=E3"));
	free(out);
	registry_free(reg);
}

static void test_sweep(void **state)
{
	static const char *const labels[] = { "device", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m = registry_gauge(reg, "node_network_up", "", labels);
	char *out;

	(void)state;
	series_set(metric_series(m, (const char *[]){ "eth0" }), 1);
	series_set(metric_series(m, (const char *[]){ "veth1" }), 1);
	assert_int_equal(metric_sweep(m), 0);
	/* Next pass: veth1 is gone. */
	series_set(metric_series(m, (const char *[]){ "eth0" }), 1);
	assert_int_equal(metric_sweep(m), 1);
	out = dump(reg);
	assert_contains(out, "node_network_up{device=eth0} 1\n");
	assert_null(strstr(out, "veth1"));
	free(out);
	/* A swept series comes back from zero. */
	assert_true(series_value(metric_series(m, (const char *[]){ "veth1" })) == 0.0);
	registry_free(reg);
}

static void test_seed(void **state)
{
	static const char *const labels[] = { "level", "channel", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m;
	struct series *s;

	(void)state;
	/* Seeded before the family exists, with labels in another order. */
	assert_int_equal(registry_seed_counter(reg, "laravel_log_entries_total", 2,
					       (const char *[]){ "channel", "level" },
					       (const char *[]){ "production", "error" }, 41),
			 0);
	m = registry_counter(reg, "laravel_log_entries_total", "", labels);
	s = metric_series(m, (const char *[]){ "error", "production" });
	assert_true(series_value(s) == 41.0);
	series_add(s, 1);
	assert_true(series_value(s) == 42.0);
	/* Other label sets start at zero. */
	assert_true(series_value(metric_series(m, (const char *[]){ "info", "production" })) == 0.0);

	/* Seeding an existing untouched series starts it at once. */
	s = metric_series(m, (const char *[]){ "debug", "production" });
	assert_int_equal(registry_seed_counter(reg, "laravel_log_entries_total", 2,
					       (const char *[]){ "level", "channel" },
					       (const char *[]){ "debug", "production" }, 7),
			 0);
	assert_true(series_value(s) == 7.0);
	registry_free(reg);
}

/* metric_create_seeded makes the seeded series of a family at once, at their values; other
 * families' seeds, other label names, zero values and the overflow's seed are left alone. */
static void test_create_seeded(void **state)
{
	static const char *const labels[] = { "level", "channel", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m, *bare;
	char *text;

	(void)state;
	registry_seed_counter(reg, "laravel_log_entries_total", 2,
			      (const char *[]){ "channel", "level" },
			      (const char *[]){ "production", "error" }, 41);
	registry_seed_counter(reg, "laravel_log_entries_total", 2,
			      (const char *[]){ "level", "channel" },
			      (const char *[]){ "info", "lo=cal" }, 3);
	registry_seed_counter(reg, "laravel_log_entries_total", 2,
			      (const char *[]){ "level", "channel" },
			      (const char *[]){ "debug", "production" }, 0);
	registry_seed_counter(reg, "laravel_log_entries_total", 2,
			      (const char *[]){ "level", "channel" },
			      (const char *[]){ REGISTRY_OVERFLOW_VALUE, REGISTRY_OVERFLOW_VALUE }, 5);
	registry_seed_counter(reg, "laravel_log_entries_total", 1, (const char *[]){ "level" },
			      (const char *[]){ "error" }, 9);
	registry_seed_counter(reg, "laravel_log_entries_total_other", 2,
			      (const char *[]){ "level", "channel" },
			      (const char *[]){ "error", "production" }, 8);
	registry_seed_counter(reg, "mysql_slow_queries_total", 0, NULL, NULL, 12);
	m = registry_counter(reg, "laravel_log_entries_total", "", labels);
	assert_int_equal(metric_create_seeded(m), 2);
	text = dump(reg);
	assert_contains(text, "laravel_log_entries_total{level=error,channel=production} 41\n");
	assert_contains(text, "laravel_log_entries_total{level=info,channel=lo=cal} 3\n");
	assert_null(strstr(text, "debug"));
	assert_null(strstr(text, REGISTRY_OVERFLOW_VALUE));
	free(text);
	/* Taken once: a second call makes nothing new, the series keep their values. */
	assert_int_equal(metric_create_seeded(m), 0);
	assert_true(series_value(metric_series(m, (const char *[]){ "error", "production" })) == 41.0);
	bare = registry_counter(reg, "mysql_slow_queries_total", "", NULL);
	assert_int_equal(metric_create_seeded(bare), 1);
	assert_true(series_value(metric_series(bare, NULL)) == 12.0);
	registry_free(reg);
}

/* A reader thread visits continuously while the writer creates, sets and sweeps series; every
 * value it sees must be one the writer wrote (no torn doubles), and nothing may crash. */
struct race {
	struct registry *reg;
	atomic_int stop;
	atomic_long visits;
	atomic_long bad;
};

static int race_sample(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	struct race *r = ctx;

	(void)info;
	if (strcmp(s->name, "race_gauge") == 0) {
		/* The writer only ever stores k + k/1e6 for integer k. */
		double k = floor(s->value);

		if (fabs(s->value - (k + k / 1e6)) > 1e-9)
			r->bad++;
	}
	return 0;
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	const struct registry_visitor v = { NULL, race_sample };

	while (!atomic_load(&r->stop)) {
		registry_visit(r->reg, &v, r);
		r->visits++;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	static const char *const labels[] = { "id", NULL };
	struct race r = { .reg = registry_new(0) };
	struct metric *m = registry_gauge(r.reg, "race_gauge", "", labels);
	pthread_t t[2];
	char id[16];

	(void)state;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race_reader, &r);
	/* Write until the readers have overlapped with plenty of writes, however the threads are
	 * scheduled on a loaded machine. */
	for (int k = 0; k < 20000 || atomic_load(&r.visits) < 200; k++) {
		const char *v[1] = { id };

		snprintf(id, sizeof(id), "%d", k % 50);
		series_set(metric_series(m, v), (k % 100000) + (k % 100000) / 1e6);
		if (k % 1000 == 999)
			metric_sweep(m);
	}
	atomic_store(&r.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.bad, 0);
	assert_true(r.visits >= 200);
	registry_free(r.reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge),
		cmocka_unit_test(test_register_conflicts),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_create_seeded),
		cmocka_unit_test(test_concurrent_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
