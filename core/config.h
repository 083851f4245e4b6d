#ifndef DW_CORE_CONFIG_H
#define DW_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * deploywatch's configuration, read from YAML (libyaml). The key names are a contract with
 * operators (../shared/DESIGN.md, docs/config.md): keys may be added, never renamed.
 *
 * Parsing is strict: an unknown key, a wrong type or a bad value is an error that names the file,
 * line, column, the full key path and the expected form, e.g.
 *   /etc/deploywatch.yml:12:14: storage.retention: expected a duration such as 30s, 5m, 2h or 7d, got "thirty days"
 * A typo must never silently disable a check.
 */

/* Durations and times are milliseconds. */
typedef int64_t dw_millis;

/*
 * Where a value was read in config.file: the 1-based line and column of the value, the position
 * parse errors give. A key left out (its default applies) has the position of the mapping that
 * lacks it, as parse errors for a missing key do. Kept for the values checked only after parsing
 * (a source's zone file and pattern, a rule's pattern, groups and metric family: the collector's
 * logp_new), so those errors name the place too (config_source_error, config_rule_error).
 */
struct config_pos {
	unsigned long line, col;
};

enum source_format {
	SOURCE_LARAVEL,
	SOURCE_MYSQL_ERROR,
	SOURCE_MYSQL_SLOW,
	SOURCE_NGINX,
	SOURCE_REGEX,
};

struct config_source {
	char *name;               /* unique among sources; [a-zA-Z_][a-zA-Z0-9_-]* */
	char *path;               /* a path or glob */
	enum source_format format;
	char *timezone;           /* "UTC" or an IANA zone name; default "UTC" */
	char *app_root;           /* NULL when not set */
	char *regex;              /* format: regex only (required there, refused elsewhere) */
	struct {                  /* where each key's value was read; 'entry': the mapping */
		struct config_pos entry, name, path, format, timezone, app_root, regex;
	} at;
};

enum rule_type {
	RULE_COUNTER,             /* default: each matching entry adds 1 (or 'value') */
	RULE_HISTOGRAM,           /* each matching entry observes the 'value' group */
};

#define CONFIG_MAX_RULE_BUCKETS 32 /* REGISTRY_MAX_BUCKETS */

struct config_rule {
	char *name;               /* metric name, [a-zA-Z_:][a-zA-Z0-9_:]* */
	char *source;             /* must name a source */
	char *regex;              /* PCRE2 pattern; named groups become labels (compiled later) */
	char *help;               /* NULL when not set */
	enum rule_type type;      /* `type: counter | histogram`; default counter */
	char *value;              /* `value:` a named group holding the number to add or observe;
				   * required for histograms, NULL (count 1) for counters */
	double *buckets;          /* `buckets:` strictly increasing finite upper bounds; histograms
				   * only; NULL: the default 0.005 .. 10 (Prometheus's DefBuckets) */
	size_t nbuckets;
	struct {                  /* where each key's value was read; 'entry': the mapping */
		struct config_pos entry, name, source, regex, help, type, value, buckets;
	} at;
};

struct config_user {
	char *name;
	char *bcrypt_hash;        /* "$2a$", "$2b$" or "$2y$" hash, as in Prometheus's web config */
};

/* How a judge check reads its expression (docs/judge.md). */
enum config_check_kind {
	CONFIG_CHECK_ALERT = 0, /* the expression with its comparison fails when it returns series */
	CONFIG_CHECK_COUNT,     /* an event count ($range): rate-ratio test against the baseline */
	CONFIG_CHECK_VALUE,     /* a value ($range): ceiling max and/or max_ratio x baseline */
};

/* A judge check: by default (kind alert) a PromQL expression with its comparison, e.g.
 * 'rate(x[5m]) > 0.01', failing when the expression returns any series (as an alerting rule
 * fires); kinds count and value compare the window with the baseline. */
struct config_check {
	char *name;
	char *expr;
	char *description;        /* NULL when not set */
	enum config_check_kind kind; /* default alert */
	bool warning;             /* severity: warning (never fails the deploy); default critical */
	char *exposure;           /* count: the denominator's expression; NULL: seconds */
	double max;               /* ceiling; NaN when not set */
	double max_ratio;         /* limit relative to the baseline; NaN when not set (count: 1.5) */
	double min_events;        /* count: fewer window events never fail; default 5 */
};

struct config {
	char *file;               /* the file it was read from, or "<embedded default>" */

	struct {
		char *path;               /* LMDB environment directory; default "./data" */
		dw_millis retention;      /* default 30d */
		dw_millis sample_interval;/* default 10s; at least 1s */
		uint64_t max_size;        /* bytes the store may grow to; 0 (default): no limit */
	} storage;

	struct {
		char *listen_address;     /* host:port, [v6]:port; default "127.0.0.1:9466" */
		char *tls_cert_file;      /* NULL when not set; both or neither */
		char *tls_key_file;
		struct config_user *users;/* basic_auth_users; empty: no authentication */
		size_t nusers;
		unsigned max_connections; /* default 1024; when full, idle connections make room */
		unsigned max_requests;    /* in flight before 503; default 40 (node_exporter's) */
		dw_millis read_timeout;   /* a whole request must arrive within it; default 10s */
		dw_millis idle_timeout;   /* keep-alive connections idle longer are closed; 20s */
	} web;

	struct config_source *sources;
	size_t nsources;

	struct config_rule *rules;
	size_t nrules;

	struct {
		char **filesystems;       /* mount points; default ["/"] */
		size_t nfilesystems;
		uint16_t *tcp_ports;      /* local or remote ports whose established connections count */
		size_t ntcp_ports;
		char **processes;         /* process names (comm) to account CPU and memory for */
		size_t nprocesses;
		char *proc_path;          /* default "/proc" (node_exporter's --path.procfs) */
		char *sys_path;           /* default "/sys" (--path.sysfs) */
		char *rootfs_path;        /* default "/" (--path.rootfs): prefix for statvfs */
	} system;

	struct {
		dw_millis baseline;       /* default 30m */
		dw_millis window;         /* default 30m */
		struct config_check *checks; /* empty: the built-in defaults apply */
		size_t nchecks;
		dw_millis warmup;         /* left out of the window's start; default 1m */
		dw_millis lookback;       /* exceptions seen this long before are not new; default 7d */
		double alpha;             /* significance of the rate test; default 0.01 */
		double min_traffic;       /* window requests/entries needed; default 10 */
		char *traffic;            /* the traffic count's expression; NULL: the built-in */
		unsigned new_exceptions;  /* 0 fail (default), 1 warn, 2 off */
		unsigned new_exception_min_count; /* occurrences a new exception needs; default 3 */
		char **watch_paths;       /* absolute paths (a `current` symlink, a .git/HEAD) whose
					   * change marks a deploy (docs/judge.md); default none */
		size_t nwatch_paths;
		/* judge.prometheus: fleet mode, the checks evaluated by a Prometheus server's HTTP
		 * API (deploywatch judge --prometheus; docs/judge.md). Names as in Prometheus's own
		 * remote_read configuration (basic_auth, tls_config). */
		struct {
			char *url;            /* http(s)://host:port[/path]; NULL: judge locally */
			char *username;       /* basic auth; NULL: none */
			char *password_file;  /* basic auth password, read at use; NULL: none */
			char *ca_file;        /* CA bundle for https; NULL: the system's */
			bool insecure_skip_verify; /* no certificate or host name check */
			dw_millis timeout;    /* per request; default 30s */
			char *selector;       /* matchers added to every selector; NULL: all hosts */
		} prometheus;
	} judge;

	struct {
		unsigned max_series_per_metric; /* default 2000 */
	} limits;

	struct {
		uint64_t max_line_size;   /* bytes; longer lines are cut and counted; default 1MB */
		uint64_t max_entry_size;  /* bytes of one multi-line entry; default 1MB */
		dw_millis idle_timeout;   /* a pending entry with no new line is complete; default 1s */
		dw_millis check_interval; /* every file checked without an event; default 1s */
		bool start_at_end;        /* start_at: end — a file without a record is read from its
					   * end (default: beginning) */
	} tail;
	/* PromQL and the /api/v1 query API (query/api.h). */
	struct {
		uint64_t max_points_per_series; /* range queries; default 11000, as Prometheus's API */
		uint64_t max_samples;     /* samples one query may hold; default 5000000 (~80 MiB) */
		dw_millis timeout;        /* per query; default 30s; a timeout= parameter may lower it */
		size_t max_request_size;  /* HTTP request bodies (form POSTs); default 1MB */
		unsigned max_concurrent;  /* queries evaluated at once; default 4; others wait */
	} query;

	char *log_level;          /* "debug" | "info" | "warn" | "error"; default "info" */
};

/* The configuration compiled into the binary: what `deploywatch run` uses without -c. */
extern const char config_embedded_default[];

/*
 * Parse YAML 'text' of 'len' bytes; 'file' names it in errors. On success *out is a new config
 * (free with config_free) and 0 is returned. On failure returns -EINVAL (or -ENOMEM never: OOM
 * aborts) and writes one line, without a trailing newline, into 'err' (at most 'errlen' bytes):
 * "FILE:LINE:COL: KEY.PATH: what was expected, got what".
 */
int config_parse(const char *file, const char *text, size_t len, struct config **out,
		 char *err, size_t errlen);

/* Read and parse 'path'. An unreadable file is "PATH: cannot read: strerror". Returns as
 * config_parse, or a negative errno for I/O errors (with 'err' filled in). */
int config_load_file(const char *path, struct config **out, char *err, size_t errlen);

/* Parse config_embedded_default. Never fails for a released binary (a unit test proves it). */
int config_load_default(struct config **out, char *err, size_t errlen);

/*
 * An error in a value that is checked after parsing, worded as config_parse's own:
 * "FILE:LINE:COL: sources[I].KEY: message" with the position where that key's value was read
 * (struct config_pos). 'src' must be an element of cfg->sources and 'key' one of its YAML keys
 * (name, path, format, timezone, app_root, regex), or NULL for the source's mapping itself
 * ("sources[I]"). 'fmt' is the message after the key, e.g. "expected ..., got ...". Writes one
 * line without a newline into 'err' (errlen bytes, cut to fit; NULL or 0: nothing). Always
 * returns -EINVAL. Pure; any thread.
 */
int config_source_error(const struct config *cfg, const struct config_source *src,
			const char *key, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* The same for 'rule', an element of cfg->rules: "FILE:LINE:COL: rules[I].KEY: message"; 'key'
 * one of name, source, regex, help, type, value, buckets, or NULL for the rule's mapping. */
int config_rule_error(const struct config *cfg, const struct config_rule *rule, const char *key,
		      char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Free a config. NULL is a no-op. */
void config_free(struct config *cfg);

/* The name used in the YAML for a format ("laravel", "mysql-error", ...). */
const char *config_format_name(enum source_format f);

/*
 * Durations: "250ms", "10s", "5m", "2h", "7d", "1w", "1y" and combinations in decreasing order
 * ("1h30m"), as Prometheus's model.ParseDuration; "0" alone is zero. Returns 0 or -EINVAL.
 */
int duration_parse(const char *s, dw_millis *out);
/* Format as the shortest such string ("1h30m", "0s"); 'out' holds at least 32 bytes. */
char *duration_format(dw_millis d, char *out, size_t outlen);

/*
 * Byte sizes as Prometheus's --storage.tsdb.retention.size takes them: a whole number and a unit
 * B, KB, MB, GB, TB or PB, powers of two ("512MB" is 512 MiB; KiB..PiB are accepted too); "0"
 * alone is zero. Returns 0 or -EINVAL (bad form, or more than 2^63 bytes).
 */
int size_parse(const char *s, uint64_t *out);

#endif
