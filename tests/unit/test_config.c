/*
 * core/config.c and core/duration.c: the embedded default, a config with every key, every
 * error message (file, line, column, key path, expected form), unreadable files, size, node and
 * depth caps, durations, and truncated inputs that must never crash.
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
#include "core/config.h"

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

static int parse(const char *yaml, struct config **cfg, char *err, size_t errlen)
{
	return config_parse("t.yml", yaml, strlen(yaml), cfg, err, errlen);
}

static char *read_fixture(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *text;

	snprintf(path, sizeof(path), "%s/config/%s", DW_FIXTURES, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	text = xmalloc(1 << 16);
	*len = fread(text, 1, (1 << 16) - 1, f);
	text[*len] = '\0';
	fclose(f);
	return text;
}

/* The defaults config.h documents for everything but what the default file sets. */
static void assert_code_defaults(const struct config *cfg)
{
	assert_string_equal(cfg->storage.path, "./data");
	assert_int_equal(cfg->storage.retention, 30 * MS_D);
	assert_int_equal(cfg->storage.sample_interval, 10 * MS_S);
	assert_string_equal(cfg->web.listen_address, "127.0.0.1:9466");
	assert_null(cfg->web.tls_cert_file);
	assert_null(cfg->web.tls_key_file);
	assert_int_equal(cfg->web.nusers, 0);
	assert_int_equal(cfg->web.max_connections, 1024);
	assert_int_equal(cfg->web.max_requests, 40);
	assert_int_equal(cfg->web.read_timeout, 10 * MS_S);
	assert_int_equal(cfg->web.idle_timeout, 20 * MS_S);
	assert_int_equal(cfg->nrules, 0);
	assert_int_equal(cfg->system.nfilesystems, 1);
	assert_string_equal(cfg->system.filesystems[0], "/");
	assert_string_equal(cfg->system.proc_path, "/proc");
	assert_string_equal(cfg->system.sys_path, "/sys");
	assert_string_equal(cfg->system.rootfs_path, "/");
	assert_int_equal(cfg->judge.baseline, 30 * MS_M);
	assert_int_equal(cfg->judge.window, 30 * MS_M);
	assert_int_equal(cfg->judge.nchecks, 0);
	assert_int_equal(cfg->limits.max_series_per_metric, 2000);
	assert_string_equal(cfg->log_level, "info");
	assert_int_equal(cfg->query.max_points_per_series, 11000);
	assert_int_equal(cfg->query.max_samples, 5000000);
	assert_int_equal(cfg->query.timeout, 30 * 1000);
	assert_int_equal(cfg->query.max_request_size, 1 << 20);
	assert_int_equal(cfg->query.max_concurrent, 4);
}

/* The embedded default (etc/deploywatch.yml) parses and says what docs/config.md says. */
static void test_default(void **state)
{
	static const char *const procs[] = { "php-fpm8.2", "mysqld", "mariadbd", "nginx" };
	struct config *cfg = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(config_load_default(&cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg->file, "<embedded default>");
	assert_code_defaults(cfg);

	assert_int_equal(cfg->nsources, 4);
	assert_string_equal(cfg->sources[0].name, "laravel");
	assert_string_equal(cfg->sources[0].path, "/var/www/*/storage/logs/laravel*.log");
	assert_int_equal(cfg->sources[0].format, SOURCE_LARAVEL);
	assert_string_equal(cfg->sources[1].name, "mysql");
	assert_string_equal(cfg->sources[1].path, "/var/log/mysql/error.log");
	assert_int_equal(cfg->sources[1].format, SOURCE_MYSQL_ERROR);
	assert_string_equal(cfg->sources[2].name, "mysql_slow");
	assert_string_equal(cfg->sources[2].path, "/var/log/mysql/mysql-slow.log");
	assert_int_equal(cfg->sources[2].format, SOURCE_MYSQL_SLOW);
	assert_string_equal(cfg->sources[3].name, "nginx");
	assert_string_equal(cfg->sources[3].path, "/var/log/nginx/access.log");
	assert_int_equal(cfg->sources[3].format, SOURCE_NGINX);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(cfg->sources[i].timezone, "UTC");
		assert_null(cfg->sources[i].app_root);
		assert_null(cfg->sources[i].regex);
	}
	assert_int_equal(cfg->system.ntcp_ports, 1);
	assert_int_equal(cfg->system.tcp_ports[0], 3306);
	assert_int_equal(cfg->system.nprocesses, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(cfg->system.processes[i], procs[i]);
	config_free(cfg);
}

/* The embedded text is etc/deploywatch.yml byte for byte: the shipped file cannot drift. */
static void test_default_is_etc_file(void **state)
{
	char path[512];
	char *text;
	size_t len;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/../../etc/deploywatch.yml", DW_FIXTURES);
	f = fopen(path, "rb");
	assert_non_null(f);
	text = xmalloc(1 << 16);
	len = fread(text, 1, (1 << 16) - 1, f);
	text[len] = '\0';
	fclose(f);
	assert_int_equal(len, strlen(config_embedded_default));
	assert_string_equal(text, config_embedded_default);
	free(text);
}

/* No document, only comments, or an empty document: every default, no sources. */
static void test_empty_is_defaults(void **state)
{
	static const char *const inputs[] = {
		"", "# nothing here\n\n", "---\n", "~\n", "---\n...\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct config *cfg = NULL;
		char err[256] = "";

		assert_int_equal(parse(inputs[i], &cfg, err, sizeof(err)), 0);
		assert_non_null(cfg);
		assert_string_equal(cfg->file, "t.yml");
		assert_code_defaults(cfg);
		assert_int_equal(cfg->nsources, 0);
		assert_int_equal(cfg->system.ntcp_ports, 0);
		assert_int_equal(cfg->system.nprocesses, 0);
		config_free(cfg);
	}
	/* Null sections are empty sections. */
	{
		struct config *cfg = NULL;
		char err[256] = "";

		static const char empty_sections[] =
			"storage:\nweb:\nsources:\nrules:\nsystem:\njudge:\nlimits:\n";

		assert_int_equal(parse(empty_sections, &cfg, err, sizeof(err)), 0);
		assert_code_defaults(cfg);
		config_free(cfg);
	}
}

/* tests/fixtures/config/full.yml sets every key; each lands in its field. */
static void test_full(void **state)
{
	char path[512], err[512] = "";
	struct config *cfg = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/config/full.yml", DW_FIXTURES);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg->file, path);

	assert_string_equal(cfg->storage.path, "/var/lib/deploywatch");
	assert_int_equal(cfg->storage.retention, 90 * MS_D);
	assert_int_equal(cfg->storage.sample_interval, 15 * MS_S);
	assert_true(cfg->storage.max_size == (uint64_t)20 << 30);

	assert_string_equal(cfg->web.listen_address, "[::1]:9500");
	assert_string_equal(cfg->web.tls_cert_file, "/etc/deploywatch/cert.pem");
	assert_string_equal(cfg->web.tls_key_file, "/etc/deploywatch/key.pem");
	assert_int_equal(cfg->web.nusers, 2);
	assert_string_equal(cfg->web.users[0].name, "alice");
	assert_string_equal(cfg->web.users[0].bcrypt_hash,
			    "$2y$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0");
	assert_string_equal(cfg->web.users[1].name, "bob");
	assert_string_equal(cfg->web.users[1].bcrypt_hash,
			    "$2b$12$0123456789./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno");
	assert_int_equal(cfg->web.max_connections, 256);
	assert_int_equal(cfg->web.max_requests, 8);
	assert_int_equal(cfg->web.read_timeout, 5 * MS_S);
	assert_int_equal(cfg->web.idle_timeout, 2 * MS_M);

	assert_int_equal(cfg->nsources, 5);
	assert_string_equal(cfg->sources[0].name, "laravel");
	assert_int_equal(cfg->sources[0].format, SOURCE_LARAVEL);
	assert_string_equal(cfg->sources[0].timezone, "Europe/Madrid");
	assert_string_equal(cfg->sources[0].app_root, "/var/www/cyh");
	assert_null(cfg->sources[0].regex);
	assert_int_equal(cfg->sources[1].format, SOURCE_MYSQL_ERROR);
	assert_string_equal(cfg->sources[1].timezone, "UTC");
	assert_null(cfg->sources[1].app_root);
	assert_string_equal(cfg->sources[2].path, "/var/log/mysql/mariadb-slow.log");
	assert_int_equal(cfg->sources[2].format, SOURCE_MYSQL_SLOW);
	assert_int_equal(cfg->sources[3].format, SOURCE_NGINX);
	assert_string_equal(cfg->sources[4].name, "queue-worker");
	assert_string_equal(cfg->sources[4].path, "/var/log/worker.log");
	assert_int_equal(cfg->sources[4].format, SOURCE_REGEX);
	assert_string_equal(cfg->sources[4].regex, "^(?<ts>\\S+) (?<level>\\w+) ");

	assert_int_equal(cfg->nrules, 2);
	assert_string_equal(cfg->rules[0].name, "payment_gateway_failures_total");
	assert_string_equal(cfg->rules[0].source, "laravel");
	assert_string_equal(cfg->rules[0].regex, "Payment gateway (?<gateway>\\w+) unreachable");
	assert_string_equal(cfg->rules[0].help, "Payment gateway connection failures.");
	assert_string_equal(cfg->rules[1].name, "worker_jobs_failed_total");
	assert_string_equal(cfg->rules[1].source, "queue-worker");
	assert_string_equal(cfg->rules[1].regex, "FAILED");
	assert_null(cfg->rules[1].help);

	assert_int_equal(cfg->system.nfilesystems, 2);
	assert_string_equal(cfg->system.filesystems[0], "/");
	assert_string_equal(cfg->system.filesystems[1], "/var/lib/mysql");
	assert_int_equal(cfg->system.ntcp_ports, 2);
	assert_int_equal(cfg->system.tcp_ports[0], 3306);
	assert_int_equal(cfg->system.tcp_ports[1], 6379);
	assert_int_equal(cfg->system.nprocesses, 2);
	assert_string_equal(cfg->system.processes[0], "php-fpm8.2");
	assert_string_equal(cfg->system.processes[1], "mariadbd");
	assert_string_equal(cfg->system.proc_path, "/host/proc");
	assert_string_equal(cfg->system.sys_path, "/host/sys");
	assert_string_equal(cfg->system.rootfs_path, "/host/root");

	assert_int_equal(cfg->judge.baseline, 1 * MS_H);
	assert_int_equal(cfg->judge.window, 15 * MS_M);
	assert_int_equal(cfg->judge.nchecks, 2);
	assert_string_equal(cfg->judge.checks[0].name, "error_rate");
	assert_string_equal(cfg->judge.checks[0].expr,
			    "sum(rate(laravel_log_entries_total{level=\"error\"}[5m])) > 0.1");
	assert_string_equal(cfg->judge.checks[0].description,
			    "Laravel errors above 0.1 per second");
	assert_string_equal(cfg->judge.checks[1].name, "http_5xx");
	assert_null(cfg->judge.checks[1].description);

	assert_int_equal(cfg->limits.max_series_per_metric, 500);
	assert_string_equal(cfg->log_level, "debug");
	assert_int_equal(cfg->query.max_points_per_series, 5000);
	assert_int_equal(cfg->query.max_samples, 1000000);
	assert_int_equal(cfg->query.timeout, 10 * 1000);
	assert_int_equal(cfg->query.max_request_size, 256 << 10);
	assert_int_equal(cfg->query.max_concurrent, 2);
	config_free(cfg);
}

static void test_tail_keys(void **state)
{
	static const char yaml[] = "tail:\n  max_line_size: 64KB\n  max_entry_size: 2MB\n"
				   "  idle_timeout: 250ms\n  check_interval: 2s\n  start_at: end\n";
	struct config *cfg;
	char err[512];

	(void)state;
	assert_int_equal(config_parse("t.yml", yaml, strlen(yaml), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->tail.max_line_size, 64 << 10);
	assert_int_equal(cfg->tail.max_entry_size, 2 << 20);
	assert_int_equal(cfg->tail.idle_timeout, 250);
	assert_int_equal(cfg->tail.check_interval, 2000);
	assert_true(cfg->tail.start_at_end);
	config_free(cfg);
	/* The defaults, as docs/config.md lists them. */
	assert_int_equal(config_parse("t.yml", "{}", 2, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->tail.max_line_size, 1 << 20);
	assert_int_equal(cfg->tail.max_entry_size, 1 << 20);
	assert_int_equal(cfg->tail.idle_timeout, 1000);
	assert_int_equal(cfg->tail.check_interval, 1000);
	assert_false(cfg->tail.start_at_end);
	config_free(cfg);
}

/* judge.prometheus: fleet mode's server, as docs/config.md lists the keys and defaults. */
static void test_judge_prometheus_keys(void **state)
{
	static const char yaml[] = "judge:\n  prometheus:\n    url: https://prom.internal:9090/\n"
				   "    username: deploy\n    password_file: /etc/dw/prom.pass\n"
				   "    ca_file: /etc/dw/ca.pem\n    insecure_skip_verify: true\n"
				   "    timeout: 5s\n    selector: 'job=\"web\"'\n";
	struct config *cfg;
	char err[512];

	(void)state;
	assert_int_equal(config_parse("t.yml", yaml, strlen(yaml), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->judge.prometheus.url, "https://prom.internal:9090/");
	assert_string_equal(cfg->judge.prometheus.username, "deploy");
	assert_string_equal(cfg->judge.prometheus.password_file, "/etc/dw/prom.pass");
	assert_string_equal(cfg->judge.prometheus.ca_file, "/etc/dw/ca.pem");
	assert_true(cfg->judge.prometheus.insecure_skip_verify);
	assert_int_equal(cfg->judge.prometheus.timeout, 5000);
	assert_string_equal(cfg->judge.prometheus.selector, "job=\"web\"");
	config_free(cfg);
	assert_int_equal(config_parse("t.yml", "{}", 2, &cfg, err, sizeof(err)), 0);
	assert_null(cfg->judge.prometheus.url);
	assert_null(cfg->judge.prometheus.username);
	assert_null(cfg->judge.prometheus.password_file);
	assert_null(cfg->judge.prometheus.ca_file);
	assert_false(cfg->judge.prometheus.insecure_skip_verify);
	assert_int_equal(cfg->judge.prometheus.timeout, 30000);
	assert_null(cfg->judge.prometheus.selector);
	config_free(cfg);
}

/* Ten and three copies of a two-byte UTF-8 character, for the value-shortening case. */
#define E3 "\xc3\xa9\xc3\xa9\xc3\xa9"
#define E10 E3 E3 E3 "\xc3\xa9"

struct error_case {
	const char *yaml;
	const char *want;
};

static const struct error_case error_cases[] = {
	/* unknown keys, at each level, list the valid ones */
	{ "storge:\n  path: x\n",
	  "t.yml:1:1: storge: expected one of the keys storage, web, sources, rules, system, "
	  "judge, "
	  "limits, tail, log_level, query, got \"storge\"" },
	{ "storage:\n  retnetion: 30d\n",
	  "t.yml:2:3: storage.retnetion: expected one of the keys path, retention, "
	  "sample_interval, max_size, "
	  "got \"retnetion\"" },
	{ "sources:\n  - name: a\n    path: /x\n    format: nginx\n    multiline: true\n",
	  "t.yml:5:5: sources[0].multiline: expected one of the keys name, path, format, timezone, "
	  "app_root, regex, got \"multiline\"" },
	{ "judge:\n  checks:\n    - name: a\n      expr: up == 0\n      for: 5m\n",
	  "t.yml:5:7: judge.checks[0].for: expected one of the keys name, expr, description, "
	  "kind, severity, exposure, max, max_ratio, min_events, got \"for\"" },
	{ "? [a]\n: b\n",
	  "t.yml:1:3: (top level): expected one of the keys storage, web, sources, rules, system, "
	  "judge, limits, tail, log_level, query, got a sequence as a key" },
	/* tail: */
	{ "tail:\n  max_line_size: 10\n",
	  "t.yml:2:18: tail.max_line_size: expected a size from 1KB to 256MB such as 1MB, got \"10\"" },
	{ "tail:\n  start_at: middle\n",
	  "t.yml:2:13: tail.start_at: expected beginning or end, got \"middle\"" },
	{ "tail:\n  check_interval: 1ms\n",
	  "t.yml:2:19: tail.check_interval: expected a duration of at least 100ms, got \"1ms\"" },
	/* judge: the verdict's keys */
	{ "judge:\n  checks:\n    - name: a\n      expr: x\n      kind: gauge\n",
	  "t.yml:5:13: judge.checks[0].kind: expected alert, count or value, got \"gauge\"" },
	{ "judge:\n  checks:\n    - name: a\n      expr: x\n      severity: high\n",
	  "t.yml:5:17: judge.checks[0].severity: expected critical or warning, got \"high\"" },
	{ "judge:\n  checks:\n    - name: a\n      expr: x\n      max_ratio: 0.5\n",
	  "t.yml:5:18: judge.checks[0].max_ratio: expected a ratio of at least 1 such as 1.5, "
	  "got \"0.5\"" },
	{ "judge:\n  alpha: 0.9\n",
	  "t.yml:2:10: judge.alpha: expected a significance level from 1e-9 to 0.5 such as 0.01, "
	  "got \"0.9\"" },
	{ "judge:\n  new_exceptions: maybe\n",
	  "t.yml:2:19: judge.new_exceptions: expected fail, warn or off, got \"maybe\"" },
	{ "judge:\n  prometheus:\n    url: ftp://x\n",
	  "t.yml:3:10: judge.prometheus.url: expected an http:// or https:// URL of a Prometheus "
	  "server, without a user, got \"ftp://x\"" },
	{ "judge:\n  prometheus:\n    url: https://me:pw@prom:9090\n",
	  "t.yml:3:10: judge.prometheus.url: expected an http:// or https:// URL of a Prometheus "
	  "server, without a user, got \"https://me:pw@prom:9090\"" },
	{ "judge:\n  prometheus:\n    insecure_skip_verify: yes\n",
	  "t.yml:3:27: judge.prometheus.insecure_skip_verify: expected true or false, got \"yes\"" },
	{ "judge:\n  prometheus:\n    timeout: 0s\n",
	  "t.yml:3:14: judge.prometheus.timeout: expected a duration of at least 1s, got \"0s\"" },
	/* no password in the configuration itself (often world-readable): password_file */
	{ "judge:\n  prometheus:\n    password: s3cret\n",
	  "t.yml:3:5: judge.prometheus.password: expected one of the keys url, username, "
	  "password_file, ca_file, insecure_skip_verify, timeout, selector, got \"password\"" },
	{ "judge:\n  new_exception_min_count: 0\n",
	  "t.yml:2:28: judge.new_exception_min_count: expected an integer 1 to 1000000, got \"0\"" },
	{ "judge:\n  watch_paths: [current]\n",
	  "t.yml:2:17: judge.watch_paths[0]: expected absolute paths, got \"current\"" },
	/* wrong types */
	{ "storage:\n  path: [a, b]\n",
	  "t.yml:2:9: storage.path: expected a directory path for the LMDB environment, "
	  "got a sequence" },
	{ "storage:\n  path:\n",
	  "t.yml:2:8: storage.path: expected a directory path for the LMDB environment, got null" },
	{ "storage:\n  path: \"\"\n",
	  "t.yml:2:9: storage.path: expected a directory path for the LMDB environment, "
	  "got an empty string" },
	{ "sources:\n  name: a\n",
	  "t.yml:2:3: sources: expected a list of sources (mappings with name, path and format), "
	  "got a mapping" },
	{ "storage: 5\n",
	  "t.yml:1:10: storage: expected a mapping with the keys path, retention, sample_interval, max_size, "
	  "got \"5\"" },
	{ "hello\n",
	  "t.yml:1:1: (top level): expected a mapping with the keys storage, web, sources, rules, "
	  "system, judge, limits, tail, log_level, query, got \"hello\"" },
	{ "sources:\n  - just a string\n",
	  "t.yml:2:5: sources[0]: expected a mapping with the keys name, path, format, timezone, "
	  "app_root, regex, got \"just a string\"" },
	{ "system:\n  tcp_ports: 3306\n",
	  "t.yml:2:14: system.tcp_ports: expected a list of TCP port numbers 1 to 65535, got "
	  "\"3306\"" },
	{ "system:\n  tcp_ports: [80, \"3306\"]\n",
	  "t.yml:2:19: system.tcp_ports[1]: expected a TCP port number 1 to 65535, got the quoted "
	  "string \"3306\" (write numbers without quotes)" },
	{ "system:\n  tcp_ports: [0]\n",
	  "t.yml:2:15: system.tcp_ports[0]: expected a TCP port number 1 to 65535, got \"0\"" },
	{ "system:\n  tcp_ports: [65536]\n",
	  "t.yml:2:15: system.tcp_ports[0]: expected a TCP port number 1 to 65535, got \"65536\"" },
	{ "system:\n  tcp_ports: [-1]\n",
	  "t.yml:2:15: system.tcp_ports[0]: expected a TCP port number 1 to 65535, got \"-1\"" },
	{ "limits:\n  max_series_per_metric: 0\n",
	  "t.yml:2:26: limits.max_series_per_metric: expected an integer 1 to 1000000, got \"0\"" },
	{ "limits:\n  max_series_per_metric: 1e3\n",
	  "t.yml:2:26: limits.max_series_per_metric: expected an integer 1 to 1000000, got "
	  "\"1e3\"" },
	{ "web:\n  max_connections: 0\n",
	  "t.yml:2:20: web.max_connections: expected an integer 1 to 65536, got \"0\"" },
	{ "web:\n  max_requests: 10001\n",
	  "t.yml:2:17: web.max_requests: expected an integer 1 to 10000, got \"10001\"" },
	{ "web:\n  read_timeout: 500ms\n",
	  "t.yml:2:17: web.read_timeout: expected a duration of at least 1s, got \"500ms\"" },
	{ "web:\n  idle_timeout: soon\n",
	  "t.yml:2:17: web.idle_timeout: expected a duration such as 30s, 5m, 2h or 7d, got "
	  "\"soon\"" },
	{ "query:\n  max_points_per_series: 0\n",
	  "t.yml:2:26: query.max_points_per_series: expected an integer 1 to 1000000, got \"0\"" },
	{ "query:\n  max_concurrent: 65\n",
	  "t.yml:2:19: query.max_concurrent: expected an integer 1 to 64, got \"65\"" },
	{ "query:\n  timeout: soon\n",
	  "t.yml:2:12: query.timeout: expected a duration such as 30s, 5m, 2h or 7d, got \"soon\"" },
	{ "query:\n  max_request_size: 1GB\n",
	  "t.yml:2:21: query.max_request_size: expected a size from 1KB to 64MB such as 1MB, "
	  "got \"1GB\"" },
	{ "query:\n  max_sample: 5\n",
	  "t.yml:2:3: query.max_sample: expected one of the keys max_points_per_series, "
	  "max_samples, timeout, max_request_size, max_concurrent, got \"max_sample\"" },
	{ "log_level: verbose\n",
	  "t.yml:1:12: log_level: expected one of debug, info, warn, error, got \"verbose\"" },
	/* durations */
	{ "storage:\n  path: x\n  retention: thirty days\n",
	  "t.yml:3:14: storage.retention: expected a duration such as 30s, 5m, 2h or 7d, "
	  "got \"thirty days\"" },
	{ "judge:\n  window: -5m\n",
	  "t.yml:2:11: judge.window: expected a duration such as 30s, 5m, 2h or 7d, got \"-5m\"" },
	{ "judge:\n  baseline: 30\n",
	  "t.yml:2:13: judge.baseline: expected a duration such as 30s, 5m, 2h or 7d, got \"30\"" },
	{ "storage:\n  sample_interval: 500ms\n",
	  "t.yml:2:20: storage.sample_interval: expected a duration of at least 1s, got "
	  "\"500ms\"" },
	{ "storage:\n  retention: 5s\n",
	  "t.yml:2:14: storage.retention: expected a duration no shorter than sample_interval "
	  "(10s), "
	  "got \"5s\"" },
	{ "storage:\n  sample_interval: 31d\n",
	  "t.yml:2:20: storage.sample_interval: expected a duration no longer than retention "
	  "(30d), "
	  "got \"31d\"" },
	/* sizes */
	{ "storage:\n  max_size: 10 GB\n",
	  "t.yml:2:13: storage.max_size: expected a size of at least 1MB such as 512MB or 10GB "
	  "(powers of two, as Prometheus's retention.size), or 0 for no limit, got \"10 GB\"" },
	{ "storage:\n  max_size: 512KB\n",
	  "t.yml:2:13: storage.max_size: expected a size of at least 1MB such as 512MB or 10GB "
	  "(powers of two, as Prometheus's retention.size), or 0 for no limit, got \"512KB\"" },
	/* sources */
	{ "sources:\n  - name: app\n    path: /x\n    format: apache\n",
	  "t.yml:4:13: sources[0].format: expected one of laravel, mysql-error, mysql-slow, nginx, "
	  "regex, got \"apache\"" },
	{ "sources:\n  - {name: a, path: /x, format: nginx}\n  - {name: a, path: /y, format: "
	  "laravel}\n",
	  "t.yml:3:12: sources[1].name: expected a name unique among sources, got \"a\" again "
	  "(first in sources[0])" },
	{ "sources:\n  - name: a\n    path: /x\n    format: regex\n",
	  "t.yml:2:5: sources[0].regex: expected a PCRE2 pattern, since format is regex, "
	  "got no \"regex\" key" },
	{ "sources:\n  - name: a\n    path: /x\n    format: nginx\n    regex: foo\n",
	  "t.yml:5:12: sources[0].regex: expected no regex for format nginx (only format regex "
	  "takes "
	  "one), got \"foo\"" },
	{ "sources:\n  - name: a\n    format: nginx\n",
	  "t.yml:2:5: sources[0].path: expected a file path or glob, got no \"path\" key" },
	{ "sources:\n  - path: /x\n    format: nginx\n",
	  "t.yml:2:5: sources[0].name: expected a name of letters, digits, '_' and '-' starting "
	  "with "
	  "a letter or '_', got no \"name\" key" },
	{ "sources:\n  - name: a\n    path: /x\n",
	  "t.yml:2:5: sources[0].format: expected one of laravel, mysql-error, mysql-slow, nginx, "
	  "regex, got no \"format\" key" },
	{ "sources:\n  - name: 9lives\n    path: /x\n    format: nginx\n",
	  "t.yml:2:11: sources[0].name: expected a name of letters, digits, '_' and '-' starting "
	  "with "
	  "a letter or '_', got \"9lives\"" },
	{ "sources:\n  - name: a\n    path: /x\n    format: nginx\n    timezone: ../etc/passwd\n",
	  "t.yml:5:15: sources[0].timezone: expected UTC or an IANA time zone name such as "
	  "Europe/Madrid, got \"../etc/passwd\"" },
	{ "sources:\n  - name: a\n    path: /x\n    format: laravel\n    app_root: www/app\n",
	  "t.yml:5:15: sources[0].app_root: expected an absolute directory path, got \"www/app\"" },
	{ "sources:\n  -\n",
	  "t.yml:2:4: sources[0]: expected a mapping with name, path and format, got null" },
	/* rules */
	{ "sources:\n  - {name: app, path: /x, format: laravel}\n"
	  "rules:\n  - {name: x_total, source: ap, regex: x}\n",
	  "t.yml:4:29: rules[0].source: expected the name of a source (app), got \"ap\"" },
	{ "rules:\n  - name: x_total\n    source: laravel\n    regex: x\n",
	  "t.yml:3:13: rules[0].source: expected the name of a source, got \"laravel\", and no "
	  "sources are configured" },
	{ "rules:\n  - name: bad-name\n    source: a\n    regex: x\n",
	  "t.yml:2:11: rules[0].name: expected a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*, "
	  "got \"bad-name\"" },
	{ "rules:\n  - name: x_total\n    source: a\n",
	  "t.yml:2:5: rules[0].regex: expected a PCRE2 pattern, got no \"regex\" key" },
	{ "rules:\n  - {name: h, source: a, regex: x, type: gauge}\n",
	  "t.yml:2:42: rules[0].type: expected one of counter, histogram, got \"gauge\"" },
	{ "rules:\n  - {name: h, source: a, regex: x, type: histogram}\n",
	  "t.yml:2:5: rules[0].value: expected the named group to observe, since type is histogram, got no \"value\" key" },
	{ "rules:\n  - {name: h, source: a, regex: x, buckets: [1, 2]}\n",
	  "t.yml:2:45: rules[0].buckets: expected no buckets for a counter (only type histogram takes them), got a list" },
	{ "rules:\n  - {name: h, source: a, regex: x, type: histogram, value: v, buckets: [1, 1]}\n",
	  "t.yml:2:76: rules[0].buckets[1]: expected a list of strictly increasing finite numbers such as [0.1, 0.5, 1], got \"1\"" },
	{ "rules:\n  - {name: h, source: a, regex: x, type: histogram, value: v, buckets: []}\n",
	  "t.yml:2:72: rules[0].buckets: expected a list of strictly increasing finite numbers such as [0.1, 0.5, 1] (1 to 32 of them), got 0" },
	{ "rules:\n  - {name: h, source: a, regex: x, type: histogram, value: v, buckets: [1, .inf]}\n",
	  "t.yml:2:76: rules[0].buckets[1]: expected a list of strictly increasing finite numbers such as [0.1, 0.5, 1], got \".inf\"" },
	{ "rules:\n  - {name: h, source: a, regex: x, type: histogram, value: v, buckets: [1, \"2\"]}\n",
	  "t.yml:2:76: rules[0].buckets[1]: expected a list of strictly increasing finite numbers such as [0.1, 0.5, 1], got \"2\"" },
	/* web */
	{ "web:\n  tls_cert_file: /a.pem\n",
	  "t.yml:2:3: web.tls_key_file: expected a private key file to go with tls_cert_file, "
	  "got none" },
	{ "web:\n  tls_cert_file: \"\"\n  tls_key_file: /k.pem\n",
	  "t.yml:2:3: web.tls_cert_file: expected a certificate file to go with tls_key_file, "
	  "got none" },
	{ "web:\n  listen_address: localhost\n",
	  "t.yml:2:19: web.listen_address: expected host:port, :port or [ipv6]:port, "
	  "got \"localhost\"" },
	{ "web:\n  listen_address: ::1:9466\n",
	  "t.yml:2:19: web.listen_address: expected host:port, :port or [ipv6]:port, "
	  "got \"::1:9466\"" },
	{ "web:\n  basic_auth_users:\n    alice: hunter2\n",
	  "t.yml:3:12: web.basic_auth_users.alice: expected a bcrypt hash ($2a$, $2b$ or $2y$, a "
	  "cost "
	  "04 to 31, '$' and 53 characters), got a 7-character value that is not one" },
	{ "web:\n  basic_auth_users:\n"
	  "    alice: $2x$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\n",
	  "t.yml:3:12: web.basic_auth_users.alice: expected a bcrypt hash ($2a$, $2b$ or $2y$, a "
	  "cost "
	  "04 to 31, '$' and 53 characters), got a 60-character value that is not one" },
	{ "web:\n  basic_auth_users: [alice]\n",
	  "t.yml:2:21: web.basic_auth_users: expected a mapping of user name to bcrypt hash, "
	  "got a sequence" },
	/* system, judge */
	{ "system:\n  processes: [php-fpm8.2-worker-pool]\n",
	  "t.yml:2:15: system.processes[0]: expected process names as in /proc/PID/comm (at most "
	  "15 "
	  "characters), got \"php-fpm8.2-worker-pool\"" },
	{ "system:\n  filesystems: [var]\n",
	  "t.yml:2:17: system.filesystems[0]: expected absolute mount points, got \"var\"" },
	{ "judge:\n  checks:\n    - name: a\n",
	  "t.yml:3:7: judge.checks[0].expr: expected a PromQL expression with its comparison, "
	  "got no \"expr\" key" },
	{ "judge:\n  checks:\n    - {name: a, expr: up == 0}\n    - {name: a, expr: up == 1}\n",
	  "t.yml:4:14: judge.checks[1].name: expected a name unique among checks, got \"a\" again "
	  "(first in judge.checks[0])" },
	/* duplicate keys */
	{ "storage:\n  path: x\n  path: y\n",
	  "t.yml:3:3: storage.path: expected each key once, got \"path\" again (first at line 2)" },
	{ "log_level: info\nlog_level: warn\n",
	  "t.yml:2:1: log_level: expected each key once, got \"log_level\" again (first at line "
	  "1)" },
	{ "web:\n  basic_auth_users:\n"
	  "    a: $2y$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\n"
	  "    a: $2y$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\n",
	  "t.yml:4:5: web.basic_auth_users.a: expected each user once, got \"a\" again" },
	/* malformed YAML, documents, aliases */
	{ "storage:\n  path: x\n retention: 5\n",
	  "t.yml:3:2: (top level): expected valid YAML, got \"did not find expected key\" while "
	  "parsing a block mapping at 1:1" },
	{ "storage: {path: x\nweb: {}\n",
	  "t.yml:2:4: storage: expected valid YAML, got \"did not find expected ',' or '}'\" "
	  "while parsing a flow mapping at 1:10" },
	{ "sources:\n  - name: \"unterminated\n",
	  "t.yml:3:1: sources[0].name: expected valid YAML, got \"found unexpected end of stream\" "
	  "while scanning a quoted scalar at 2:11" },
	{ "log_level: info\n---\nlog_level: debug\n",
	  "t.yml:2:1: (top level): expected a single YAML document, got a second one" },
	{ "storage: &s\n  path: x\nweb: *s\n",
	  "t.yml:3:6: web: expected a value written out, got an alias (*s): anchors and aliases "
	  "are "
	  "not supported" },
	/* billion laughs: refused at the first alias, long before any expansion */
	{ "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	  "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	  "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
	  "t.yml:2:8: b[0]: expected a value written out, got an alias (*a): anchors and aliases "
	  "are "
	  "not supported" },
	{ "log_level: \"\\xff\\x00\"\n",
	  "t.yml:1:12: log_level: expected one of debug, info, warn, error, got "
	  "\"\xc3\xbf\\x00\"" },
	/* control bytes in values and keys are escaped: they cannot move the terminal */
	{ "storage:\n  retention: \"3\\x1b[31md\\n\\x9b\"\n",
	  "t.yml:2:14: storage.retention: expected a duration such as 30s, 5m, 2h or 7d, got "
	  "\"3\\x1b[31md\\x0a\\xc2\\x9b\"" },
	{ "storage:\n  \"k\\x01\\ty\": 1\n",
	  "t.yml:2:3: storage.k\\x01\\x09y: expected one of the keys path, retention, "
	  "sample_interval, max_size, got \"k\\x01\\x09y\"" },
	/* long values are cut after 48 bytes, never inside a UTF-8 sequence */
	{ "log_level: a" E10 E10 E10 "\n",
	  "t.yml:1:12: log_level: expected one of debug, info, warn, error, got \"a"
	  E10 E10 E3 "...\"" },
	{ "storage:\n  path: \"a\\0b\"\n",
	  "t.yml:2:9: storage.path: expected a directory path for the LMDB environment, got text "
	  "with a NUL byte" },
};

/* Every error: exact text with file, line, column (1-based), key path, expected form. */
static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct config *cfg = (struct config *)&cfg;
		char err[512] = "";
		int rc = parse(error_cases[i].yaml, &cfg, err, sizeof(err));

		if (rc != -EINVAL || strcmp(err, error_cases[i].want) != 0)
			print_error("case %zu:\n%s\n", i, error_cases[i].yaml);
		assert_int_equal(rc, -EINVAL);
		assert_null(cfg);
		assert_string_equal(err, error_cases[i].want);
	}
}

/* Invalid UTF-8 is libyaml's reader error, placed by byte offset. */
static void test_invalid_utf8(void **state)
{
	static const char yaml[] = "log_level: info\nstorage:\n  path: ab\xff\n";
	struct config *cfg = NULL;
	char err[512];

	(void)state;
	assert_int_equal(config_parse("t.yml", yaml, sizeof(yaml) - 1, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, "t.yml:3:11: (top level): expected valid UTF-8 YAML text, got "
			    "\"invalid leading UTF-8 octet\"");
}

/* A file on disk names itself in the message. */
static void test_error_from_file(void **state)
{
	char path[512], want[768], err[512];
	struct config *cfg = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/config/bad-rule-source.yml", DW_FIXTURES);
	snprintf(want, sizeof(want), "%s:13:13: rules[0].source: expected the name of a source "
		 "(laravel, nginx), got \"larvel\"", path);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, want);
}

static void test_unreadable(void **state)
{
	char path[512], want[768], err[512];
	struct config *cfg = NULL;

	(void)state;
	/* A directory opens (even for root) but cannot be read. */
	snprintf(path, sizeof(path), "%s/config", DW_FIXTURES);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", path);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -EISDIR);
	assert_null(cfg);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/config/no-such-file.yml", DW_FIXTURES);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	assert_string_equal(err, want);
}

/* Size, node count and depth are capped before the schema is looked at. */
static void test_caps(void **state)
{
	size_t big = ((size_t)1 << 20) + 1;
	struct config *cfg = NULL;
	char err[512];
	char *text;

	(void)state;
	text = xmalloc(big + 1);
	memset(text, '#', big);
	text[big] = '\0';
	assert_int_equal(config_parse("t.yml", text, big, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yml:1:1: (top level): expected a file of at most 1048576 "
			    "bytes, got 1048577 bytes");
	/* Exactly the cap is fine (all comment: defaults). */
	assert_int_equal(config_parse("t.yml", text, big - 1, &cfg, err, sizeof(err)), 0);
	config_free(cfg);

	/* 150000 one-character items in a flow sequence: 300 KB, over the node cap. */
	text[0] = '[';
	for (size_t i = 0; i < 150000; i++) {
		text[1 + 2 * i] = 'a';
		text[2 + 2 * i] = ',';
	}
	text[300000] = ']';
	text[300001] = '\0';
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yml:1:200000: [99999]: expected at most 100000 YAML nodes, "
			    "got more");

	/* 257 entries in one list. */
	strcpy(text, "system:\n  filesystems: [");
	for (size_t i = 0; i < 256; i++)
		strcat(text, "/,");
	strcat(text, "/]\n");
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yml:2:16: system.filesystems: expected at most 256 entries, "
			    "got 257");

	memset(text, '[', 40);
	text[40] = '\0';
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yml:1:33: [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
			    "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: expected at most 32 "
			    "levels of nesting, got more");
	free(text);
}

/* A short or absent error buffer is never overrun. */
static void test_small_err_buffer(void **state)
{
	struct config *cfg = NULL;
	char err[16];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse("log_level: loud\n", &cfg, err, 10), -EINVAL);
	assert_string_equal(err, "t.yml:1:1");
	assert_int_equal(err[10], 'x');
	assert_int_equal(parse("log_level: loud\n", &cfg, NULL, 0), -EINVAL);
	assert_null(cfg);
}

/* Every prefix of a valid config either parses or fails with a message; none crashes. */
static void test_truncated_prefixes(void **state)
{
	size_t len, parsed = 0, failed = 0;
	char *text = read_fixture("full.yml", &len);

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		struct config *cfg = NULL;
		char err[512] = "";
		int rc = config_parse("t.yml", text, n, &cfg, err, sizeof(err));

		if (rc == 0) {
			assert_non_null(cfg);
			parsed++;
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_null(cfg);
			assert_memory_equal(err, "t.yml:", 6);
			failed++;
		}
		config_free(cfg);
	}
	/* The empty prefix and the whole file parse; a cut inside a quoted value cannot. */
	assert_true(parsed >= 2);
	assert_true(failed >= 1);
	{
		struct config *cfg = NULL;
		char err[512];

		assert_int_equal(config_parse("t.yml", text, len, &cfg, err, sizeof(err)), 0);
		assert_int_equal(cfg->nsources, 5);
		config_free(cfg);
	}
	free(text);
}

struct duration_case {
	const char *text;
	long long ms;
};

static void test_size_parse(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "1B", 1 },
		{ "512MB", (uint64_t)512 << 20 },
		{ "512MiB", (uint64_t)512 << 20 },
		{ "10GB", (uint64_t)10 << 30 },
		{ "3TB", (uint64_t)3 << 40 },
		{ "8192PB", (uint64_t)1 << 63 },
	};
	static const char *const bad[] = {
		"", "10", "10 GB", "GB", "-1GB", "1.5GB", "10gb", "10GBs", "8193PB", "99999999999999999999B",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 7;
		assert_int_equal(size_parse(good[i].s, &v), 0);
		assert_true(v == good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (size_parse(bad[i], &v) != -EINVAL)
			fail_msg("size_parse(\"%s\") accepted", bad[i]);
}

static void test_duration_parse(void **state)
{
	static const struct duration_case ok[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "250ms", 250 },
		{ "10s", 10 * MS_S },
		{ "5m", 5 * MS_M },
		{ "2h", 2 * MS_H },
		{ "7d", 7 * MS_D },
		{ "1w", 7 * MS_D },
		{ "1y", 365 * MS_D },
		{ "1h30m", 90 * MS_M },
		{ "1y2w3d4h5m6s7ms", 365 * MS_D + 17 * MS_D + 4 * MS_H + 5 * MS_M + 6 * MS_S + 7 },
		{ "90m", 90 * MS_M },
		{ "0010s", 10 * MS_S },
		{ "1m500ms", MS_M + 500 },
		{ "292y", 292 * 365 * MS_D },
		{ "9223372036854ms", 9223372036854LL },
	};
	static const char *const bad[] = {
		"", "5", "00", "-5m", "+5m", "5 m", " 5m", "5m ", "1.5h", "5M", "5mm", "1m1h",
		"1s1s", "1ms1s", "h", "5x", "1d1y", "1h30", "293y", "9223372036855ms",
		"99999999999999999999s", "106751992d",
	};
	dw_millis v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -1;
		if (duration_parse(ok[i].text, &v) != 0)
			print_error("duration %s\n", ok[i].text);
		assert_int_equal(duration_parse(ok[i].text, &v), 0);
		assert_int_equal(v, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (duration_parse(bad[i], &v) != -EINVAL)
			print_error("duration \"%s\" was accepted\n", bad[i]);
		assert_int_equal(duration_parse(bad[i], &v), -EINVAL);
		assert_int_equal(v, 12345);
	}
}

static void test_duration_format(void **state)
{
	static const struct duration_case cases[] = {
		{ "0s", 0 },
		{ "1ms", 1 },
		{ "250ms", 250 },
		{ "1s", MS_S },
		{ "1s500ms", 1500 },
		{ "1m", MS_M },
		{ "1h30m", 90 * MS_M },
		{ "1d", MS_D },
		{ "30d", 30 * MS_D },    /* not a whole number of weeks: days */
		{ "2w", 14 * MS_D },
		{ "1y", 365 * MS_D },
		{ "366d", 366 * MS_D },  /* neither whole years nor whole weeks */
		{ "8d1h", 8 * MS_D + MS_H },
		{ "-5m", -5 * MS_M },
		{ "106751d23h47m16s854ms", 9223372036854LL },
	};
	char out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(duration_format(cases[i].ms, out, sizeof(out)), cases[i].text);
	/* The most negative value has no positive twin; it still fits and does not overflow. */
	assert_string_equal(duration_format(INT64_MIN, out, sizeof(out)),
			    "-106751991167d7h12m55s808ms");
	/* A short buffer is truncated, not overrun. */
	memset(out, 'x', sizeof(out));
	assert_string_equal(duration_format(90 * MS_M, out, 3), "1h");
	assert_int_equal(out[3], 'x');
}

/* format(parse(x)) and parse(format(v)) agree over a spread of values. */
static void test_duration_round_trip(void **state)
{
	static const char *const texts[] = { "0s", "1ms", "59s999ms", "1h30m", "1d12h", "2w", "1y",
					     "3y", "13d23h59m59s999ms", "1w" };
	char out[32];
	dw_millis v, w;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(duration_parse(texts[i], &v), 0);
		assert_string_equal(duration_format(v, out, sizeof(out)), texts[i]);
	}
	for (v = 0; v < 9223372036854LL / 3; v = v * 3 + 7) {
		assert_int_equal(duration_parse(duration_format(v, out, sizeof(out)), &w), 0);
		assert_int_equal(w, v);
	}
}

static void test_format_names(void **state)
{
	(void)state;
	assert_string_equal(config_format_name(SOURCE_LARAVEL), "laravel");
	assert_string_equal(config_format_name(SOURCE_MYSQL_ERROR), "mysql-error");
	assert_string_equal(config_format_name(SOURCE_MYSQL_SLOW), "mysql-slow");
	assert_string_equal(config_format_name(SOURCE_NGINX), "nginx");
	assert_string_equal(config_format_name(SOURCE_REGEX), "regex");
	config_free(NULL);
}

/*
 * Values checked after parsing (by the collector's logp_new) keep where they were read, and
 * their errors come out as parse errors do: "FILE:LINE:COL: KEY: message". Positions counted by
 * hand in the text below; a key left out points at its entry's mapping, as a missing key does.
 */
static void test_errors_after_parsing(void **state)
{
	static const char yaml[] = "sources:\n"
				   "  - {name: a, path: /a.log, format: nginx}\n"
				   "  - name: b\n"
				   "    path: /b.log\n"
				   "    format: regex\n"
				   "    timezone: Europe/Atlantis\n"
				   "    regex: '(?<x>y'\n"
				   "rules:\n"
				   "  - name: r_total\n"
				   "    source: b\n"
				   "    regex: 'z('\n";
	struct config *cfg = NULL;
	char err[256];

	(void)state;
	assert_int_equal(parse(yaml, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->sources[1].at.entry.line, 3);
	assert_int_equal(cfg->sources[1].at.entry.col, 5);
	assert_int_equal(cfg->sources[1].at.timezone.line, 6);
	assert_int_equal(cfg->sources[1].at.timezone.col, 15);
	assert_int_equal(cfg->sources[1].at.regex.line, 7);
	assert_int_equal(cfg->sources[1].at.regex.col, 12);
	assert_int_equal(cfg->sources[0].at.format.line, 2);
	assert_int_equal(cfg->sources[0].at.format.col, 37);

	assert_int_equal(config_source_error(cfg, &cfg->sources[1], "timezone", err, sizeof(err),
					     "expected %s, got \"%s\"", "a zone",
					     cfg->sources[1].timezone),
			 -EINVAL);
	assert_string_equal(err, "t.yml:6:15: sources[1].timezone: expected a zone, got "
				 "\"Europe/Atlantis\"");
	/* the default zone of sources[0]: no value in the file, so its mapping */
	config_source_error(cfg, &cfg->sources[0], "timezone", err, sizeof(err), "m");
	assert_string_equal(err, "t.yml:2:5: sources[0].timezone: m");
	config_source_error(cfg, &cfg->sources[1], NULL, err, sizeof(err), "m");
	assert_string_equal(err, "t.yml:3:5: sources[1]: m");
	config_rule_error(cfg, &cfg->rules[0], "regex", err, sizeof(err), "bad %d", 1);
	assert_string_equal(err, "t.yml:11:12: rules[0].regex: bad 1");
	config_rule_error(cfg, &cfg->rules[0], "value", err, sizeof(err), "m");
	assert_string_equal(err, "t.yml:9:5: rules[0].value: m");
	/* cut to the buffer, as parse errors are */
	config_rule_error(cfg, &cfg->rules[0], "name", err, 12, "m");
	assert_string_equal(err, "t.yml:9:11:");
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_default_is_etc_file),
		cmocka_unit_test(test_empty_is_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_tail_keys),
		cmocka_unit_test(test_judge_prometheus_keys),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_error_from_file),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_duration_round_trip),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_errors_after_parsing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
