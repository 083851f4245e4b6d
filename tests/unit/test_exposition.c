/*
 * Exposition formats: golden texts for the Prometheus text format and OpenMetrics (escaping,
 * NaN/±Inf, cumulative histogram buckets, UTF-8), content negotiation, and promtool's verdict
 * on a registry shaped like node_exporter's.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/registry.h"
#include "exporters/exporters.h"

/* The families every test registry holds, in registration order. */
static struct registry *sample_registry(void)
{
	static const char *const path_method[] = { "path", "method", NULL };
	static const char *const mode[] = { "mode", NULL };
	static const double bounds[] = { 0.1, 1, 2.5 };
	struct registry *reg = registry_new(0);
	struct metric *m;

	m = registry_counter(reg, "app_requests_total",
			     "Requests, with a \\ backslash\nand a newline and \"quotes\".",
			     path_method);
	assert_non_null(m);
	series_add(metric_series(m, (const char *const[]){ "C:\\temp", "GET" }), 3);
	series_add(metric_series(m, (const char *const[]){ "say \"hi\"", "POST" }), 1.5);
	series_add(metric_series(m, (const char *const[]){ "line1\nline2", "PUT" }), 1e21);
	series_add(metric_series(m, (const char *const[]){ "caf\xc3\xa9 \xe2\x98\x95", "GET" }), 7);

	m = registry_gauge(reg, "app_temperature_celsius", "Temperature.", mode);
	assert_non_null(m);
	series_set(metric_series(m, (const char *const[]){ "nan" }), NAN);
	series_set(metric_series(m, (const char *const[]){ "inf" }), INFINITY);
	series_set(metric_series(m, (const char *const[]){ "-inf" }), -INFINITY);
	series_set(metric_series(m, (const char *const[]){ "small" }), -0.000123);

	m = registry_histogram(reg, "app_latency_seconds", "Latency.", NULL, bounds, 3);
	assert_non_null(m);
	series_observe(metric_series(m, NULL), 0.05);
	series_observe(metric_series(m, NULL), 0.5);
	series_observe(metric_series(m, NULL), 0.75);
	series_observe(metric_series(m, NULL), 5);

	assert_non_null(registry_counter(reg, "app_idle_total", "Nothing yet.", NULL));
	assert_non_null(registry_gauge(reg, "app_up", "Up.", NULL));
	series_set(metric_series(registry_gauge(reg, "app_up", "Up.", NULL), NULL), 1);
	return reg;
}

/* The output up to the registry's own self-metrics, which test_registry covers. */
static char *own_part(struct buf *b)
{
	char *self = strstr(b->data, "# HELP deploywatch_series ");

	assert_non_null(self);
	return xstrndup(b->data, (size_t)(self - b->data));
}

static void test_text_golden(void **state)
{
	static const char expected[] =
		"# HELP app_requests_total Requests, with a \\\\ backslash\\nand a newline and \"quotes\".\n"
		"# TYPE app_requests_total counter\n"
		"app_requests_total{path=\"C:\\\\temp\",method=\"GET\"} 3\n"
		"app_requests_total{path=\"say \\\"hi\\\"\",method=\"POST\"} 1.5\n"
		"app_requests_total{path=\"line1\\nline2\",method=\"PUT\"} 1e+21\n"
		"app_requests_total{path=\"caf\xc3\xa9 \xe2\x98\x95\",method=\"GET\"} 7\n"
		"# HELP app_temperature_celsius Temperature.\n"
		"# TYPE app_temperature_celsius gauge\n"
		"app_temperature_celsius{mode=\"nan\"} NaN\n"
		"app_temperature_celsius{mode=\"inf\"} +Inf\n"
		"app_temperature_celsius{mode=\"-inf\"} -Inf\n"
		"app_temperature_celsius{mode=\"small\"} -0.000123\n"
		"# HELP app_latency_seconds Latency.\n"
		"# TYPE app_latency_seconds histogram\n"
		"app_latency_seconds_bucket{le=\"0.1\"} 1\n"
		"app_latency_seconds_bucket{le=\"1\"} 3\n"
		"app_latency_seconds_bucket{le=\"2.5\"} 3\n"
		"app_latency_seconds_bucket{le=\"+Inf\"} 4\n"
		"app_latency_seconds_sum 6.3\n"
		"app_latency_seconds_count 4\n"
		"# HELP app_idle_total Nothing yet.\n"
		"# TYPE app_idle_total counter\n"
		"# HELP app_up Up.\n"
		"# TYPE app_up gauge\n"
		"app_up 1\n";
	struct registry *reg = sample_registry();
	struct buf b;
	char *own;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(exposition_write(reg, EXPOSITION_TEXT, &b), 0);
	own = own_part(&b);
	assert_string_equal(own, expected);
	/* The self-metrics follow in the same format; no OpenMetrics trailer. */
	assert_non_null(strstr(b.data, "# TYPE deploywatch_series_overflow_total counter\n"));
	assert_null(strstr(b.data, "# EOF"));
	free(own);
	buf_release(&b);
	registry_free(reg);
}

static void test_openmetrics_golden(void **state)
{
	static const char expected[] =
		"# HELP app_requests Requests, with a \\\\ backslash\\nand a newline and \\\"quotes\\\".\n"
		"# TYPE app_requests counter\n"
		"app_requests_total{path=\"C:\\\\temp\",method=\"GET\"} 3\n"
		"app_requests_total{path=\"say \\\"hi\\\"\",method=\"POST\"} 1.5\n"
		"app_requests_total{path=\"line1\\nline2\",method=\"PUT\"} 1e+21\n"
		"app_requests_total{path=\"caf\xc3\xa9 \xe2\x98\x95\",method=\"GET\"} 7\n"
		"# HELP app_temperature_celsius Temperature.\n"
		"# TYPE app_temperature_celsius gauge\n"
		"app_temperature_celsius{mode=\"nan\"} NaN\n"
		"app_temperature_celsius{mode=\"inf\"} +Inf\n"
		"app_temperature_celsius{mode=\"-inf\"} -Inf\n"
		"app_temperature_celsius{mode=\"small\"} -0.000123\n"
		"# HELP app_latency_seconds Latency.\n"
		"# TYPE app_latency_seconds histogram\n"
		"app_latency_seconds_bucket{le=\"0.1\"} 1\n"
		"app_latency_seconds_bucket{le=\"1.0\"} 3\n"
		"app_latency_seconds_bucket{le=\"2.5\"} 3\n"
		"app_latency_seconds_bucket{le=\"+Inf\"} 4\n"
		"app_latency_seconds_sum 6.3\n"
		"app_latency_seconds_count 4\n"
		"# HELP app_idle Nothing yet.\n"
		"# TYPE app_idle counter\n"
		"# HELP app_up Up.\n"
		"# TYPE app_up gauge\n"
		"app_up 1\n";
	struct registry *reg = sample_registry();
	struct buf b;
	char *own;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(exposition_write(reg, EXPOSITION_OPENMETRICS, &b), 0);
	own = own_part(&b);
	assert_string_equal(own, expected);
	assert_non_null(strstr(b.data, "# TYPE deploywatch_series_overflow counter\n"));
	assert_true(b.len > 6);
	assert_string_equal(b.data + b.len - 6, "# EOF\n");
	assert_null(strstr(b.data, "# EOF\n#"));
	free(own);
	buf_release(&b);
	registry_free(reg);
}

/* A counter named without "_total" still gets it on its OpenMetrics samples. */
static void test_openmetrics_counter_without_total(void **state)
{
	struct registry *reg = registry_new(0);
	struct metric *m = registry_counter(reg, "payment_gateway_failures", "Failures.", NULL);
	struct buf b;
	char *own;

	(void)state;
	series_add(metric_series(m, NULL), 2);
	buf_init(&b, 0);
	assert_int_equal(exposition_write(reg, EXPOSITION_OPENMETRICS, &b), 0);
	own = own_part(&b);
	assert_string_equal(own, "# HELP payment_gateway_failures Failures.\n"
				 "# TYPE payment_gateway_failures counter\n"
				 "payment_gateway_failures_total 2\n");
	free(own);
	buf_reset(&b);
	assert_int_equal(exposition_write(reg, EXPOSITION_TEXT, &b), 0);
	own = own_part(&b);
	assert_string_equal(own, "# HELP payment_gateway_failures Failures.\n"
				 "# TYPE payment_gateway_failures counter\n"
				 "payment_gateway_failures 2\n");
	free(own);
	buf_release(&b);
	registry_free(reg);
}

/* Invalid UTF-8 from a log line must not make the scrape unparseable. */
static void test_invalid_utf8_repaired(void **state)
{
	static const char *const cls[] = { "class", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m = registry_counter(reg, "laravel_exceptions_total", "Ex\xff.", cls);
	struct buf b;
	char *own;

	(void)state;
	/* a lone continuation byte, a truncated 3-byte sequence, an overlong '/', a surrogate */
	series_add(metric_series(m, (const char *const[]){ "A\x80" "B\xe2\x98" "C\xc0\xaf"
							    "D\xed\xa0\x80" "E" }), 1);
	buf_init(&b, 0);
	assert_int_equal(exposition_write(reg, EXPOSITION_TEXT, &b), 0);
	own = own_part(&b);
	assert_string_equal(own,
		"# HELP laravel_exceptions_total Ex\xef\xbf\xbd.\n"
		"# TYPE laravel_exceptions_total counter\n"
		"laravel_exceptions_total{class=\"A\xef\xbf\xbd" "B\xef\xbf\xbd\xef\xbf\xbd"
		"C\xef\xbf\xbd\xef\xbf\xbd" "D\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "E\"} 1\n");
	free(own);
	buf_release(&b);
	registry_free(reg);
}

/* A capped buffer is an error, never a crash. */
static void test_buffer_cap(void **state)
{
	struct registry *reg = sample_registry();
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(exposition_write(reg, EXPOSITION_TEXT, &b), -E2BIG);
	assert_true(b.len <= 100);
	buf_release(&b);
	registry_free(reg);
}

static void test_negotiate(void **state)
{
	(void)state;
	assert_int_equal(exposition_negotiate(NULL), EXPOSITION_TEXT);
	assert_int_equal(exposition_negotiate(""), EXPOSITION_TEXT);
	assert_int_equal(exposition_negotiate("*/*"), EXPOSITION_TEXT);
	assert_int_equal(exposition_negotiate("text/plain"), EXPOSITION_TEXT);
	/* What Prometheus 2.42 sends. */
	assert_int_equal(exposition_negotiate(
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
		EXPOSITION_OPENMETRICS);
	assert_int_equal(exposition_negotiate("application/openmetrics-text; version=0.0.1"),
			 EXPOSITION_OPENMETRICS);
	assert_int_equal(exposition_negotiate("application/openmetrics-text"),
			 EXPOSITION_OPENMETRICS);
	assert_int_equal(exposition_negotiate("Application/OpenMetrics-Text;Version=1.0.0"),
			 EXPOSITION_OPENMETRICS);
	/* An unknown version is not ours to answer. */
	assert_int_equal(exposition_negotiate("application/openmetrics-text;version=2.0.0"),
			 EXPOSITION_TEXT);
	/* Quality decides; q=0 refuses. */
	assert_int_equal(exposition_negotiate("application/openmetrics-text;q=0.4,text/plain;q=0.5"),
			 EXPOSITION_TEXT);
	assert_int_equal(exposition_negotiate("text/plain;q=0.5, application/openmetrics-text"),
			 EXPOSITION_OPENMETRICS);
	assert_int_equal(exposition_negotiate("application/openmetrics-text;q=0"), EXPOSITION_TEXT);
	/* Equal quality: the first listed wins. */
	assert_int_equal(exposition_negotiate("text/plain,application/openmetrics-text"),
			 EXPOSITION_TEXT);
	assert_int_equal(exposition_negotiate("application/openmetrics-text;q=bogus"),
			 EXPOSITION_TEXT);
	assert_string_equal(exposition_content_type(EXPOSITION_TEXT),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(exposition_content_type(EXPOSITION_OPENMETRICS),
			    "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

/* A registry with node_exporter's names and shapes plus our log metrics. */
static struct registry *node_like_registry(void)
{
	static const char *const cpu_mode[] = { "cpu", "mode", NULL };
	static const char *const fs[] = { "device", "fstype", "mountpoint", NULL };
	static const char *const dev[] = { "device", NULL };
	static const char *const level[] = { "level", NULL };
	static const char *const cls[] = { "class", NULL };
	static const char *const code_method[] = { "code", "method", NULL };
	static const char *const modes[] = { "idle", "iowait", "irq", "nice", "softirq", "steal",
					     "system", "user" };
	static const double bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	struct registry *reg = registry_new(0);
	struct metric *m;
	char cpu[8];

	m = registry_counter(reg, "node_cpu_seconds_total",
			     "Seconds the CPUs spent in each mode.", cpu_mode);
	for (int c = 0; c < 4; c++) {
		snprintf(cpu, sizeof(cpu), "%d", c);
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			series_set(metric_series(m, (const char *const[]){ cpu, modes[i] }),
				   12345.67 * (double)(i + 1));
	}
	m = registry_gauge(reg, "node_memory_MemAvailable_bytes",
			   "Memory information field MemAvailable_bytes.", NULL);
	series_set(metric_series(m, NULL), 8.123456e9);
	m = registry_gauge(reg, "node_memory_MemTotal_bytes",
			   "Memory information field MemTotal_bytes.", NULL);
	series_set(metric_series(m, NULL), 16.7e9);
	m = registry_gauge(reg, "node_load1", "1m load average.", NULL);
	series_set(metric_series(m, NULL), 0.42);
	m = registry_gauge(reg, "node_filesystem_avail_bytes",
			   "Filesystem space available to non-root users in bytes.", fs);
	series_set(metric_series(m, (const char *const[]){ "/dev/sda1", "ext4", "/" }), 5.5e10);
	m = registry_counter(reg, "node_network_receive_bytes_total",
			     "Network device statistic receive_bytes.", dev);
	series_set(metric_series(m, (const char *const[]){ "eth0" }), 1.23e12);
	m = registry_gauge(reg, "node_boot_time_seconds", "Node boot time, in unixtime.", NULL);
	series_set(metric_series(m, NULL), 1764000000);
	m = registry_counter(reg, "laravel_log_entries_total", "Log entries by level.", level);
	series_add(metric_series(m, (const char *const[]){ "error" }), 17);
	m = registry_counter(reg, "laravel_exceptions_total",
			     "Logged entries by outermost exception class.", cls);
	series_add(metric_series(m, (const char *const[]){ "Illuminate\\Database\\QueryException" }),
		   4);
	m = registry_histogram(reg, "http_request_duration_seconds",
			       "Request duration from the nginx access log.", code_method, bounds,
			       sizeof(bounds) / sizeof(bounds[0]));
	series_observe(metric_series(m, (const char *const[]){ "200", "GET" }), 0.2);
	series_observe(metric_series(m, (const char *const[]){ "500", "POST" }), NAN);
	registry_counter(reg, "mysql_slow_queries_total", "Slow queries logged.", NULL);
	m = registry_gauge(reg, "deploywatch_odd_values", "Special values.", dev);
	series_set(metric_series(m, (const char *const[]){ "nan" }), NAN);
	series_set(metric_series(m, (const char *const[]){ "inf" }), -INFINITY);
	return reg;
}

/* promtool must accept our text: nothing but the camelCase lint node_exporter's names earn. */
static void test_promtool_check_metrics(void **state)
{
	struct registry *reg = node_like_registry();
	char path[64] = "/tmp/dw-exposition-", cmd[256], line[512];
	const char *camel = " metric names should be written in 'snake_case' not 'camelCase'\n";
	size_t ncamel = 0, nother = 0;
	struct buf b;
	FILE *f, *p;
	int fd, status;

	(void)state;
	/* Fail, not skip: promtool is a declared dependency of the test suite. */
	assert_int_equal(system("command -v promtool >/dev/null 2>&1"), 0);

	buf_init(&b, 0);
	assert_int_equal(exposition_write(reg, EXPOSITION_TEXT, &b), 0);
	memset(path + strlen(path), 'X', 6); /* mkstemp's template */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
	assert_int_equal(fclose(f), 0);

	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		size_t n = strlen(line), m = strlen(camel);

		if (n > m && strcmp(line + n - m, camel) == 0 &&
		    strncmp(line, "node_memory_", 12) == 0) {
			ncamel++;
		} else {
			print_error("promtool: %s", line);
			nother++;
		}
	}
	status = pclose(p);
	unlink(path);
	assert_int_equal(nother, 0);
	assert_int_equal(ncamel, 2);
	/* promtool exits 3 for lint findings only; a parse error would be 1. */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	buf_release(&b);
	registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_golden),
		cmocka_unit_test(test_openmetrics_golden),
		cmocka_unit_test(test_openmetrics_counter_without_total),
		cmocka_unit_test(test_invalid_utf8_repaired),
		cmocka_unit_test(test_buffer_cap),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_promtool_check_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
